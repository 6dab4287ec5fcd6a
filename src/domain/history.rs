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
        Arc,
    },
};

use chrono::NaiveDate;

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
    let mut out = Vec::new();
    for record in super::csv_records("mapping", text) {
        let record = record?;
        let (old, new) = (record.cell(0).to_string(), record.cell(1).to_string());
        if old.is_empty() || new.is_empty() {
            return Err(record.bad("old_code and new_code are required"));
        }
        let share = record.cell(2).parse::<Share>().map_err(|e| record.bad(e))?;
        out.push(Mapping { old, new, share });
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

impl UnitHistory {
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
        let bad = |problem: String| ParseError {
            file: "mapping",
            line: 0,
            problem,
        };
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
            let (old, new) = (&periods[i].structure, &periods[i + 1].structure);
            let mut step: HashMap<String, Vec<(String, Share)>> = HashMap::new();
            for m in rows {
                if old.get(&m.old).is_none() {
                    return Err(bad(format!(
                        "old unit {} is not in structure {}",
                        m.old, periods[i].label
                    )));
                }
                if new.get(&m.new).is_none() {
                    return Err(bad(format!(
                        "new unit {} is not in structure {}",
                        m.new,
                        periods[i + 1].label
                    )));
                }
                step.entry(m.old).or_default().push((m.new, m.share));
            }
            for (code, rows) in &step {
                if rows.len() > 1 && rows.iter().any(|(_, s)| *s == Share::Whole) {
                    return Err(bad(format!(
                        "old unit {code} went whole into one unit, yet has {} rows",
                        rows.len()
                    )));
                }
            }
            steps.push(step);
        }
        let history = Self { periods, steps };
        for i in 0..history.steps.len() {
            let mut lost: Vec<&Unit> = history.periods[i]
                .structure
                .units()
                .filter(|u| history.successors(&u.code, i, i + 1).is_empty())
                .collect();
            lost.sort_by(|a, b| a.code.cmp(&b.code));
            if let Some(u) = lost.first() {
                return Err(bad(format!(
                    "unit {} ({}) of structure {} has no successor in {} ({} such units): add \
                     it to the mapping",
                    u.code,
                    u.name,
                    history.periods[i].label,
                    history.periods[i + 1].label,
                    lost.len()
                )));
            }
        }
        Ok(history)
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
}

impl Clone for Hierarchy {
    fn clone(&self) -> Self {
        Self {
            history: self.history.clone(),
            current: AtomicUsize::new(self.period()),
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
        }
    }

    /// The history behind it.
    pub fn history(&self) -> &UnitHistory {
        &self.history
    }

    /// The index of the current period.
    pub fn period(&self) -> usize {
        self.current.load(Ordering::Acquire)
    }

    /// Moves to `period`. Returns true if and only if the history has that period.
    pub fn switch_to(&self, period: usize) -> bool {
        if period >= self.history.periods.len() {
            return false;
        }
        self.current.store(period, Ordering::Release);
        true
    }

    /// The current structure.
    pub fn current(&self) -> &Structure {
        &self.history.periods[self.period()].structure
    }

    /// The current period's label (`2024`, `2025`; empty for a hierarchy without history).
    pub fn label(&self) -> &str {
        &self.history.periods[self.period()].label
    }

    /// The unit with this code: of the current structure, else of the latest earlier one
    /// that has it (a unit since abolished).
    pub fn get(&self, code: &str) -> Option<&Unit> {
        self.history.find(code, self.period()).map(|(_, u)| u)
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
        match self.history.find(code, self.period()) {
            Some((p, _)) => self.history.periods[p].structure.children(code),
            None => &[],
        }
    }

    /// The parent of `code`: in the current structure, or for a unit since abolished the
    /// parent it had (which approved its plans).
    pub fn parent(&self, code: &str) -> Option<&Unit> {
        let (p, _) = self.history.find(code, self.period())?;
        self.history.periods[p].structure.parent(code)
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
            return match self.history.find(code, now) {
                Some((p, _)) => {
                    let s = self.history.successors(code, p, now);
                    !s.is_empty() && s.iter().all(|c| cur.is_within(c, root))
                }
                None => false,
            };
        }
        match self.history.find(root, now) {
            Some((p, _)) => self.history.periods[p].structure.is_within(code, root),
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
        match self.history.find(code, now) {
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
        match self.history.find(root, self.period()) {
            Some((p, _)) => self.history.periods[p].structure.subtree(root),
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
        match self.history.find(code, now) {
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
        let from = self.history.periods[now].from?;
        self.current().get(code)?;
        (!self.history.continues(code, now - 1)).then_some(from)
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
        match self.history.find(code, now - 1) {
            Some((_, before)) => before.parent != unit.parent,
            None => true,
        }
    }

    /// Returns true if and only if `date` lies before the current structure took effect (a
    /// plan adopted then was made in an earlier structure).
    pub fn is_before_current(&self, date: NaiveDate) -> bool {
        self.history.periods[self.period()]
            .from
            .is_some_and(|from| date < from)
    }

    /// The period a plan dated `date` belongs to on this node: the period in force on that
    /// date, but never one the node has not reached.
    pub fn period_at(&self, date: NaiveDate) -> usize {
        self.history.period_at(date).min(self.period())
    }

    /// The name of `code` for the Board, in the structure of `date` (today's when none): a
    /// current unit, or one that went on unchanged since (a province kept by the
    /// reorganisation), by its name; a unit since abolished or merged as "<name> (<its parent>,
    /// <its period>; now part of <its successors>)", the parent left out when it is a province.
    pub fn name_in_time(&self, code: &str, date: Option<NaiveDate>) -> Option<String> {
        let now = self.period();
        let at = date.map_or(now, |d| self.period_at(d));
        let (p, unit) = self.history.find(code, at)?;
        // A unit that went on unchanged through every reorganisation since (a province the
        // reorganisation kept) is named as it is now.
        if p == now {
            return Some(unit.name.clone());
        }
        if (p..now).all(|i| self.history.continues(code, i)) {
            return Some(self.current().get(code).unwrap_or(unit).name.clone());
        }
        let old = &self.history.periods[p];
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
