//! Units with a history: the structures of units one after another, each with the date it took
//! effect, joined by the reorganisations (sắp xếp đơn vị hành chính) that turned one into the
//! next. The shipped history is the three-level structure of `data/units-2024.csv` until
//! 30 June 2025 and the two-level one of `data/units-2025.csv` from 1 July 2025, joined by
//! `data/units-2024-to-2025.csv` (Nghị quyết 202/2025/QH15 and the Standing Committee's
//! resolutions on the communes; see `docs/reorganisation.md`). Units are resolved by code
//! only: old commune names repeat inside a province.
//!
//! [`UnitHistory`] is the data; [`Hierarchy`] is what a node knows: a history and the period
//! the node is in now. Every question a node asks of its units (is this unit within that
//! one, who is its parent, what is it called) goes through [`Hierarchy`], so that a plan of a
//! unit abolished by a reorganisation is found, scoped and named like any other: scope follows
//! today's structure mapped back through the reorganisations, and never widens beyond it.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, OnceLock,
    },
};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{
    unit::{Level, Structure, Unit},
    ParseError,
};

crate::domain::words::words! {
    /// How much of an old unit went into a new one.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Share ("share") {
        /// The old unit went wholly into the new one (its only row in the mapping).
        Whole = "whole",
        /// The old unit was divided, and the new one took a part (one row per part).
        Part = "part",
    }
}

/// One row of a reorganisation mapping: an old unit, a new unit, and how much went across.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The old unit's code, in the structure before.
    pub old: String,
    /// The new unit's code, in the structure after.
    pub new: String,
    /// Whole or part.
    pub share: Share,
}

/// Parses the CSV text of a mapping file (`old_code,new_code,share`).
///
/// # Errors
///
/// A [`ParseError`] (file `mapping`) for the first line that is not CSV, lacks a code, or has
/// a share other than `whole` or `part`.
pub fn parse_mappings(text: &str) -> Result<Vec<Mapping>, ParseError> {
    Ok(parse_mapping_lines(text)?
        .into_iter()
        .map(|(_, m)| m)
        .collect())
}

/// As [`parse_mappings`], each row with its line in the file (1-based; the header is line 1),
/// so that [`UnitHistory::then`] can name the line of a row it refuses.
///
/// # Errors
///
/// As [`parse_mappings`].
pub fn parse_mapping_lines(text: &str) -> Result<Vec<(u64, Mapping)>, ParseError> {
    let mut out = Vec::new();
    for record in super::csv_records("mapping", text) {
        let record = record?;
        let (old, new) = (record.cell(0).to_string(), record.cell(1).to_string());
        if old.is_empty() || new.is_empty() {
            return Err(record.bad("old_code and new_code are required"));
        }
        let share = record.cell(2).parse::<Share>().map_err(|e| record.bad(e))?;
        out.push((record.line, Mapping { old, new, share }));
    }
    Ok(out)
}

/// One structure and the day it took effect.
#[derive(Debug, Clone)]
pub struct Period {
    /// A short name for the Board: `2024`, `2025`.
    pub label: String,
    /// The first day it is in force; none for the first period (in force since always).
    pub from: Option<NaiveDate>,
    /// Its units.
    pub structure: Structure,
}

/// The structures of units in order of their dates, joined by the mappings between them.
#[derive(Debug, Clone)]
pub struct UnitHistory {
    periods: Vec<Period>,
    /// `steps[i]`: each old code of period `i` with an explicit mapping, to its new codes in
    /// period `i + 1`.
    steps: Vec<HashMap<String, Vec<(String, Share)>>>,
}

/// A problem of a mapping as a whole (line 0).
fn whole_file(problem: String) -> ParseError {
    ParseError {
        file: "mapping",
        line: 0,
        problem,
    }
}

/// The step from `old` to `new` by `rows` (each with its line, 0 when unknown): every old code
/// in `old`, every new code in `new`, a `whole` row its old unit's only one.
fn build_step(
    old: &Period,
    new: &Period,
    rows: Vec<(u64, Mapping)>,
) -> Result<HashMap<String, Vec<(String, Share)>>, ParseError> {
    let at = |line: u64, problem: String| ParseError {
        file: "mapping",
        line,
        problem,
    };
    let mut step: HashMap<String, Vec<(String, Share)>> = HashMap::new();
    for (line, m) in rows {
        if old.structure.get(&m.old).is_none() {
            return Err(at(
                line,
                format!("old unit {} is not in structure {}", m.old, old.label),
            ));
        }
        if new.structure.get(&m.new).is_none() {
            return Err(at(
                line,
                format!("new unit {} is not in structure {}", m.new, new.label),
            ));
        }
        let code = m.old.clone();
        let rows = step.entry(m.old).or_default();
        rows.push((m.new, m.share));
        if rows.len() > 1 && rows.iter().any(|(_, s)| *s == Share::Whole) {
            return Err(at(
                line,
                format!(
                    "old unit {code} went whole into one unit, yet has {} rows",
                    rows.len()
                ),
            ));
        }
    }
    Ok(step)
}

/// A deployment's own later reorganisation as data: what its TOML file and the two CSV files
/// it names say (`config::load_units_with`), and what the province's reference data carries
/// down to the nodes below, so that a node started without the files learns the structure
/// (docs/reorganisation.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaterReorganisation {
    /// The new structure's label (`2027`), not used before.
    pub label: String,
    /// The day it takes effect.
    pub on: NaiveDate,
    /// Its units file's text: `code,level,name,parent_code`, as `data/units-2025.csv`.
    pub units: String,
    /// Its mapping's text: `old_code,new_code,share`, as `data/units-2024-to-2025.csv`.
    pub mapping: String,
}

/// The largest units or mapping text one later reorganisation may carry, in bytes: the 2025
/// units file of the whole country is under 400 KB.
pub const MAX_REORGANISATION_TEXT: usize = 4 * 1024 * 1024;

/// Returns true if and only if both structures hold exactly the same units.
fn same_units(a: &Structure, b: &Structure) -> bool {
    a.len() == b.len() && a.units().all(|u| b.get(&u.code) == Some(u))
}

impl UnitHistory {
    /// This history followed by `r`, checked exactly as a reorganisation file given at start
    /// is: its units file and mapping parse, its label is new, not empty and not `builtin:…`,
    /// and [`UnitHistory::then`] holds (the date after the last structure's, every code of
    /// the mapping known on its side, a `whole` row its old unit's only one, no unit without
    /// a successor).
    ///
    /// # Errors
    ///
    /// A [`ParseError`] whose `file` is `units` or `mapping` (with the line at fault, or 0)
    /// naming the problem.
    pub fn join(self, r: &LaterReorganisation) -> Result<Self, ParseError> {
        for (file, text) in [("units", &r.units), ("mapping", &r.mapping)] {
            if text.len() > MAX_REORGANISATION_TEXT {
                return Err(ParseError {
                    file,
                    line: 0,
                    problem: format!(
                        "{} bytes, more than the {MAX_REORGANISATION_TEXT} a reorganisation's file may hold",
                        text.len()
                    ),
                });
            }
        }
        if r.label.trim() != r.label || r.label.starts_with("builtin:") {
            return Err(whole_file(format!(
                "label {:?} has spaces around it or starts with builtin:",
                r.label
            )));
        }
        let structure =
            Structure::parse(&r.units).map_err(|e| ParseError { file: "units", ..e })?;
        let rows = parse_mapping_lines(&r.mapping)?;
        self.then(
            Period {
                label: r.label.clone(),
                from: Some(r.on),
                structure,
            },
            rows,
        )
    }

    /// This history with the later reorganisations `later` a parent's reference data carries
    /// (oldest first): each one this history has already (by label) must be the same (its
    /// date and its units); the others are joined in order by [`UnitHistory::join`]. Answers
    /// `None` when nothing is added.
    ///
    /// # Errors
    ///
    /// The index of the reorganisation at fault and a sentence naming the file, the line and
    /// the problem.
    pub fn with_later(
        &self,
        later: &[LaterReorganisation],
    ) -> Result<Option<UnitHistory>, (usize, String)> {
        let mut grown: Option<UnitHistory> = None;
        for (i, r) in later.iter().enumerate() {
            let now = grown.as_ref().unwrap_or(self);
            if let Some(p) = now.period_named(&r.label).filter(|_| !r.label.is_empty()) {
                let held = &now.periods[p];
                let same = held.from == Some(r.on)
                    && Structure::parse(&r.units).is_ok_and(|s| same_units(&s, &held.structure));
                if !same {
                    return Err((
                        i,
                        format!(
                            "structure {} differs from the one of that label this node has \
                             (its date or its units)",
                            r.label
                        ),
                    ));
                }
                continue;
            }
            let joined = now
                .clone()
                .join(r)
                .map_err(|e| (i, format!("structure {}: {e}", r.label)))?;
            grown = Some(joined);
        }
        Ok(grown)
    }

    /// A history of one structure, in force since always.
    pub fn single(label: &str, structure: Structure) -> Self {
        Self {
            periods: vec![Period {
                label: label.into(),
                from: None,
                structure,
            }],
            steps: Vec::new(),
        }
    }

    /// Joins `periods` (in order) by `mappings` (`mappings[i]` leads from period `i` to
    /// `i + 1`). An old unit without a row in the mapping continues as the unit of the same
    /// code and level in the next structure, if there is one; otherwise its territory is its
    /// units' (a district's successors are its communes' successors).
    ///
    /// # Errors
    ///
    /// A [`ParseError`] (file `mapping`, line 0) when there is not one mapping between each
    /// two periods, the dates do not increase, a row names a unit its structure lacks, a
    /// `whole` row is not its old unit's only row, or a unit would have no successor (its
    /// plans would be lost).
    pub fn new(periods: Vec<Period>, mappings: Vec<Vec<Mapping>>) -> Result<Self, ParseError> {
        let bad = whole_file;
        if periods.is_empty() || mappings.len() + 1 != periods.len() {
            return Err(bad(format!(
                "{} structures need {} mappings, not {}",
                periods.len(),
                periods.len().saturating_sub(1),
                mappings.len()
            )));
        }
        for pair in periods.windows(2) {
            match (pair[0].from, pair[1].from) {
                (_, None) => {
                    return Err(bad(format!(
                        "structure {} needs the date it took effect",
                        pair[1].label
                    )))
                }
                (Some(a), Some(b)) if b <= a => {
                    return Err(bad(format!(
                        "structure {} ({b}) does not come after {} ({a})",
                        pair[1].label, pair[0].label
                    )))
                }
                _ => {}
            }
        }
        let mut steps = Vec::with_capacity(mappings.len());
        for (i, rows) in mappings.into_iter().enumerate() {
            let rows = rows.into_iter().map(|m| (0, m)).collect();
            steps.push(build_step(&periods[i], &periods[i + 1], rows)?);
        }
        let history = Self { periods, steps };
        for i in 0..history.steps.len() {
            history.check_none_lost(i)?;
        }
        Ok(history)
    }

    /// This history followed by one more structure, `period`, which `rows` (each with its
    /// line in the mapping file, from [`parse_mapping_lines`]) lead to from the last one: a
    /// deployment's own later reorganisation. The same rules as [`UnitHistory::new`].
    ///
    /// # Errors
    ///
    /// A [`ParseError`] (file `mapping`) naming the line of the row at fault (an old code the
    /// last structure lacks, a new code `period` lacks, a `whole` row that is not its old
    /// unit's only one), or line 0 when `period` has no date, a date not after the last
    /// structure's, a label already used, or a unit of the last structure would have no
    /// successor.
    pub fn then(mut self, period: Period, rows: Vec<(u64, Mapping)>) -> Result<Self, ParseError> {
        let last = self.periods.last().expect("a history has a structure");
        let Some(from) = period.from else {
            return Err(whole_file(format!(
                "structure {} needs the date it takes effect",
                period.label
            )));
        };
        if let Some(before) = last.from.filter(|d| from <= *d) {
            return Err(whole_file(format!(
                "structure {} ({from}) does not come after {} ({before}): dates must \
                 increase strictly",
                period.label, last.label
            )));
        }
        if period.label.is_empty() || self.period_named(&period.label).is_some() {
            return Err(whole_file(format!(
                "structure label {:?} is empty or already used",
                period.label
            )));
        }
        let step = build_step(last, &period, rows)?;
        self.periods.push(period);
        self.steps.push(step);
        self.check_none_lost(self.steps.len() - 1)?;
        Ok(self)
    }

    /// Refuses step `i` if a unit of period `i` has no successor in period `i + 1`.
    fn check_none_lost(&self, i: usize) -> Result<(), ParseError> {
        let mut lost: Vec<&Unit> = self.periods[i]
            .structure
            .units()
            .filter(|u| self.successors(&u.code, i, i + 1).is_empty())
            .collect();
        lost.sort_by(|a, b| a.code.cmp(&b.code));
        match lost.first() {
            Some(u) => Err(whole_file(format!(
                "unit {} ({}) of structure {} has no successor in {} ({} such units): add \
                 it to the mapping",
                u.code,
                u.name,
                self.periods[i].label,
                self.periods[i + 1].label,
                lost.len()
            ))),
            None => Ok(()),
        }
    }

    /// The periods, oldest first.
    pub fn periods(&self) -> &[Period] {
        &self.periods
    }

    /// The index of the period in force on `date`.
    pub fn period_at(&self, date: NaiveDate) -> usize {
        self.periods
            .iter()
            .rposition(|p| p.from.is_none_or(|f| f <= date))
            .unwrap_or(0)
    }

    /// The structure in force on `date`.
    pub fn structure_at(&self, date: NaiveDate) -> &Structure {
        &self.periods[self.period_at(date)].structure
    }

    /// The unit of `code` as the structure in force on `date` has it (its name and place at
    /// that date), else as the latest earlier structure that had it.
    pub fn unit_at(&self, code: &str, date: NaiveDate) -> Option<(usize, &Unit)> {
        self.find(code, self.period_at(date))
    }

    /// The unit of `code` in period `upto`, else in the latest earlier period that has it.
    pub fn find(&self, code: &str, upto: usize) -> Option<(usize, &Unit)> {
        (0..=upto.min(self.periods.len().saturating_sub(1)))
            .rev()
            .find_map(|p| self.periods[p].structure.get(code).map(|u| (p, u)))
    }

    /// What the unit `code` of period `from` became in period `to` (`from <= to`): the codes
    /// of its successors there. Empty only for a code period `from` lacks.
    pub fn successors(&self, code: &str, from: usize, to: usize) -> BTreeSet<String> {
        self.trace(code, from, to, false)
    }

    /// The units of period `to` that absorbed the unit `code` of period `from`, wholly or in
    /// part, through the mappings alone: a unit whose territory went across only through its
    /// own units (a district) was dissolved, not absorbed, and has none.
    pub fn absorbed_into(&self, code: &str, from: usize, to: usize) -> BTreeSet<String> {
        self.trace(code, from, to, true)
    }

    /// The units of earlier periods that `code` of period `at` absorbed (wholly or in part),
    /// oldest period first, by code.
    pub fn absorbed_by(&self, code: &str, at: usize) -> Vec<(usize, &Unit)> {
        let mut out = Vec::new();
        for p in 0..at.min(self.periods.len()) {
            let mut here: Vec<&Unit> = self.periods[p]
                .structure
                .units()
                .filter(|u| self.absorbed_into(&u.code, p, at).contains(code))
                .collect();
            here.sort_by(|a, b| a.code.cmp(&b.code));
            out.extend(here.into_iter().map(|u| (p, u)));
        }
        out
    }

    /// Returns true if and only if the unit `code` of period `i` goes on unchanged into
    /// period `i + 1`: no row of the mapping names it, and the next structure has a unit of
    /// the same code and level (a province the reorganisation kept). Its plans stay its plans;
    /// any other unit's plans become sources of its successors.
    pub fn continues(&self, code: &str, i: usize) -> bool {
        let (Some(step), Some(old), Some(new)) = (
            self.steps.get(i),
            self.periods.get(i).and_then(|p| p.structure.get(code)),
            self.periods.get(i + 1).and_then(|p| p.structure.get(code)),
        ) else {
            return false;
        };
        !step.contains_key(code) && old.level == new.level
    }

    /// The index of the period labelled `label`.
    pub fn period_named(&self, label: &str) -> Option<usize> {
        self.periods.iter().position(|p| p.label == label)
    }

    fn trace(&self, code: &str, from: usize, to: usize, absorbed_only: bool) -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        if self
            .periods
            .get(from)
            .is_some_and(|p| p.structure.get(code).is_some())
        {
            set.insert(code.to_string());
        }
        for i in from..to.min(self.steps.len()) {
            let mut next = BTreeSet::new();
            for c in &set {
                self.step(i, c, absorbed_only, &mut next);
            }
            set = next;
        }
        set
    }

    /// The successors in period `i + 1` of `code` of period `i`.
    fn step(&self, i: usize, code: &str, absorbed_only: bool, out: &mut BTreeSet<String>) {
        if let Some(rows) = self.steps[i].get(code) {
            out.extend(rows.iter().map(|(n, _)| n.clone()));
            return;
        }
        let (old, new) = (&self.periods[i].structure, &self.periods[i + 1].structure);
        let Some(unit) = old.get(code) else { return };
        if new.get(code).is_some_and(|u| u.level == unit.level) {
            out.insert(code.to_string());
            return;
        }
        if absorbed_only {
            return;
        }
        for child in old.children(code) {
            self.step(i, child, false, out);
        }
    }
}

/// The units a node knows: a [`UnitHistory`] and the period the node is in now. Questions
/// about a unit of the current structure are answered by it; a unit only an earlier structure
/// has (abolished, or renamed under a code now used by another) is answered through the
/// reorganisations: it lies within a current unit if and only if all its successors do.
#[derive(Debug)]
pub struct Hierarchy {
    history: Arc<UnitHistory>,
    /// The index of the node's period in `history`; moves forward when the node applies a
    /// reorganisation. The structures themselves never change, so references into them stay
    /// valid.
    current: AtomicUsize,
    /// Longer histories learnt while the node runs (later reorganisations carried by the
    /// reference data, [`Hierarchy::extend`]), each set once and never changed or dropped, so
    /// that references into any of them stay valid: the last one set is the history. A node
    /// learns at most [`MAX_EXTENSIONS`] per run; it learns the rest when it restarts.
    later: [OnceLock<Arc<UnitHistory>>; MAX_EXTENSIONS],
}

/// How many times a running node's history may grow ([`Hierarchy::extend`]); a restart starts
/// afresh with the history stored in its reference data.
pub const MAX_EXTENSIONS: usize = 8;

impl Clone for Hierarchy {
    fn clone(&self) -> Self {
        Self {
            history: self.latest().clone(),
            current: AtomicUsize::new(self.period()),
            later: Default::default(),
        }
    }
}

impl Default for Hierarchy {
    fn default() -> Self {
        Self::single(Structure::default())
    }
}

impl Hierarchy {
    /// Parses the CSV text of one units file into a hierarchy without history.
    ///
    /// # Errors
    ///
    /// As [`Structure::parse`].
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        Ok(Self::single(Structure::parse(text)?))
    }

    /// Builds a hierarchy without history from a list of units.
    ///
    /// # Errors
    ///
    /// As [`Structure::from_units`].
    pub fn from_units(list: Vec<Unit>) -> Result<Self, ParseError> {
        Ok(Self::single(Structure::from_units(list)?))
    }

    /// One structure, in force since always.
    pub fn single(structure: Structure) -> Self {
        Self::with_history(Arc::new(UnitHistory::single("", structure)), 0)
    }

    /// A history, the node being in period `current` (clamped to the last).
    pub fn with_history(history: Arc<UnitHistory>, current: usize) -> Self {
        let current = current.min(history.periods.len().saturating_sub(1));
        Self {
            history,
            current: AtomicUsize::new(current),
            later: Default::default(),
        }
    }

    /// The history behind it.
    pub fn history(&self) -> &UnitHistory {
        self.latest()
    }

    /// The longest history known: the last one [`Hierarchy::extend`] set, else the first.
    fn latest(&self) -> &Arc<UnitHistory> {
        self.later
            .iter()
            .rev()
            .find_map(OnceLock::get)
            .unwrap_or(&self.history)
    }

    /// Grows the history to `longer` (the history so far with later structures after it,
    /// as [`UnitHistory::with_later`] makes it), keeping the node's period. Returns false,
    /// changing nothing, when `longer` does not start with every structure of the history
    /// (by label and date) or adds none, or when this run has grown it [`MAX_EXTENSIONS`]
    /// times already (a restart learns it).
    pub fn extend(&self, longer: UnitHistory) -> bool {
        let now = self.history();
        let prefix = longer.periods.len() > now.periods.len()
            && now
                .periods
                .iter()
                .zip(&longer.periods)
                .all(|(a, b)| a.label == b.label && a.from == b.from);
        if !prefix {
            return false;
        }
        let longer = Arc::new(longer);
        match self.later.iter().find(|slot| slot.get().is_none()) {
            Some(slot) => slot.set(longer).is_ok(),
            None => false,
        }
    }

    /// The index of the current period.
    pub fn period(&self) -> usize {
        self.current.load(Ordering::Acquire)
    }

    /// Moves to `period`. Returns true if and only if the history has that period.
    pub fn switch_to(&self, period: usize) -> bool {
        if period >= self.history().periods.len() {
            return false;
        }
        self.current.store(period, Ordering::Release);
        true
    }

    /// The current structure.
    pub fn current(&self) -> &Structure {
        &self.history().periods[self.period()].structure
    }

    /// The current period's label (`2024`, `2025`; empty for a hierarchy without history).
    pub fn label(&self) -> &str {
        &self.history().periods[self.period()].label
    }

    /// The unit with this code: of the current structure, else of the latest earlier one
    /// that has it (a unit since abolished).
    pub fn get(&self, code: &str) -> Option<&Unit> {
        self.history().find(code, self.period()).map(|(_, u)| u)
    }

    /// Returns true if and only if `code` is a unit of an earlier structure only.
    pub fn is_former(&self, code: &str) -> bool {
        self.current().get(code).is_none() && self.get(code).is_some()
    }

    /// How many units the current structure holds.
    pub fn len(&self) -> usize {
        self.current().len()
    }

    /// Returns true if and only if the current structure holds no unit.
    pub fn is_empty(&self) -> bool {
        self.current().is_empty()
    }

    /// The units directly under `code` in the current structure (for a unit since
    /// abolished, in its own structure), sorted by code.
    pub fn children(&self, code: &str) -> &[String] {
        match self.history().find(code, self.period()) {
            Some((p, _)) => self.history().periods[p].structure.children(code),
            None => &[],
        }
    }

    /// The parent of `code`: in the current structure, or for a unit since abolished the
    /// parent it had (which approved its plans).
    pub fn parent(&self, code: &str) -> Option<&Unit> {
        let (p, _) = self.history().find(code, self.period())?;
        self.history().periods[p].structure.parent(code)
    }

    /// Returns true if and only if `code` is `root` or lies below it. A unit since abolished
    /// lies below a current `root` if and only if every one of its current successors does
    /// (the reorganisation never widens a scope); below an abolished `root` lie the units
    /// that did in `root`'s own structure.
    pub fn is_within(&self, code: &str, root: &str) -> bool {
        if code == root {
            return true;
        }
        let now = self.period();
        let cur = self.current();
        if cur.get(root).is_some() {
            if cur.get(code).is_some() {
                return cur.is_within(code, root);
            }
            return match self.history().find(code, now) {
                Some((p, _)) => {
                    let s = self.history().successors(code, p, now);
                    !s.is_empty() && s.iter().all(|c| cur.is_within(c, root))
                }
                None => false,
            };
        }
        match self.history().find(root, now) {
            Some((p, _)) => self.history().periods[p].structure.is_within(code, root),
            None => false,
        }
    }

    /// Returns true if and only if the officers of `root` may read the plans of `code`: it
    /// lies within `root` ([`Hierarchy::is_within`]), or it is a unit since abolished that a
    /// unit within `root` absorbed, wholly or in part (read only: the old commune's plan is a
    /// source of the new commune's). Nothing else: merging units gives no one else access (the
    /// DHIS2 bug of merged organisation units).
    pub fn reads(&self, code: &str, root: &str) -> bool {
        if self.is_within(code, root) {
            return true;
        }
        let now = self.period();
        let cur = self.current();
        if cur.get(code).is_some() || cur.get(root).is_none() {
            return false;
        }
        match self.history().find(code, now) {
            Some((p, _)) if p < now => self
                .history
                .absorbed_into(code, p, now)
                .iter()
                .any(|c| cur.is_within(c, root)),
            _ => false,
        }
    }

    /// `root` and every unit below it, in depth-first order, children sorted by code: in the
    /// current structure, or for a unit since abolished in its own.
    pub fn subtree(&self, root: &str) -> Vec<&Unit> {
        match self.history().find(root, self.period()) {
            Some((p, _)) => self.history().periods[p].structure.subtree(root),
            None => Vec::new(),
        }
    }

    /// The chain of ancestors of `code`, nearest first (see [`Hierarchy::parent`]).
    pub fn ancestors(&self, code: &str) -> Vec<&Unit> {
        let mut out: Vec<&Unit> = Vec::new();
        let mut cur = self.parent(code);
        while let Some(u) = cur {
            if out.iter().any(|o| o.code == u.code) {
                break;
            }
            out.push(u);
            cur = self.parent(&u.code);
        }
        out
    }

    /// The province a unit belongs to.
    pub fn province_of(&self, code: &str) -> Option<&Unit> {
        let unit = self.get(code)?;
        if unit.level == Level::Province {
            return Some(unit);
        }
        self.ancestors(code).into_iter().last()
    }

    /// The current successors of `code` (itself for a current unit), sorted by code.
    pub fn successors_now(&self, code: &str) -> Vec<&Unit> {
        let now = self.period();
        match self.history().find(code, now) {
            Some((p, _)) => self
                .history
                .successors(code, p, now)
                .iter()
                .filter_map(|c| self.current().get(c))
                .collect(),
            None => Vec::new(),
        }
    }

    /// The day `code` came into being, if a reorganisation created it: a unit of the current
    /// structure that does not go on unchanged from the one before (a new commune, even one
    /// keeping an old commune's code). It starts without an approved plan.
    pub fn new_since(&self, code: &str) -> Option<NaiveDate> {
        let now = self.period();
        let from = self.history().periods[now].from?;
        self.current().get(code)?;
        (!self.history().continues(code, now - 1)).then_some(from)
    }

    /// Returns true if and only if the current parent of `code` is not the one it had in the
    /// structure before (a commune whose district was abolished): the plans it submitted
    /// before went to another approving unit.
    pub fn approver_changed(&self, code: &str) -> bool {
        let now = self.period();
        if now == 0 {
            return false;
        }
        let Some(unit) = self.current().get(code) else {
            return false;
        };
        match self.history().find(code, now - 1) {
            Some((_, before)) => before.parent != unit.parent,
            None => true,
        }
    }

    /// Returns true if and only if `date` lies before the current structure took effect (a
    /// plan adopted then was made in an earlier structure).
    pub fn is_before_current(&self, date: NaiveDate) -> bool {
        self.history().periods[self.period()]
            .from
            .is_some_and(|from| date < from)
    }

    /// The period a plan dated `date` belongs to on this node: the period in force on that
    /// date, but never one the node has not reached.
    pub fn period_at(&self, date: NaiveDate) -> usize {
        self.history().period_at(date).min(self.period())
    }

    /// The name of `code` for the Board, in the structure of `date` (today's when none): a
    /// current unit, or one that went on unchanged since (a province kept by the
    /// reorganisation), by its name; a unit since abolished or merged as "<name> (<its parent>,
    /// <its period>; now part of <its successors>)", the parent left out when it is a province.
    pub fn name_in_time(&self, code: &str, date: Option<NaiveDate>) -> Option<String> {
        let now = self.period();
        let at = date.map_or(now, |d| self.period_at(d));
        let (p, unit) = self.history().find(code, at)?;
        // A unit that went on unchanged through every reorganisation since (a province the
        // reorganisation kept) is named as it is now.
        if p == now {
            return Some(unit.name.clone());
        }
        if (p..now).all(|i| self.history().continues(code, i)) {
            return Some(self.current().get(code).unwrap_or(unit).name.clone());
        }
        let old = &self.history().periods[p];
        let mut place: Vec<&str> = Vec::new();
        if let Some(parent) = old
            .structure
            .parent(code)
            .filter(|u| u.level != Level::Province)
        {
            place.push(&parent.name);
        }
        if !old.label.is_empty() {
            place.push(&old.label);
        }
        let names: Vec<&str> = self
            .history
            .successors(code, p, now)
            .iter()
            .filter_map(|c| self.current().get(c))
            .map(|u| u.name.as_str())
            .collect();
        let fate = match names.len() {
            0 => "abolished".to_string(),
            1..=3 => format!("now part of {}", names.join(", ")),
            n => format!("now divided among {n} units"),
        };
        Some(if place.is_empty() {
            format!("{} ({fate})", unit.name)
        } else {
            format!("{} ({}; {fate})", unit.name, place.join(", "))
        })
    }
}

#[cfg(test)]
mod tests;
