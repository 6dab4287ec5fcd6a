//! The view: every current plan version a node holds, in memory, built from the store at start
//! and updated after each durable commit (never before), so that checks and queries read memory
//! instead of reloading and decoding plans from sled.
//!
//! It keeps two forms. The rules read whole plans: the current version of each unit × term and,
//! when it is older, the latest approved one (R5 compares against it). The consolidated list
//! reads compact rows: one per entry of a current, non-draft plan, naming the entry by its
//! index in that plan (no string is copied per entry), an interned name (its folded search form
//! and its collation key, computed once per distinct name), an interned position, and the
//! votes; kept in list order (Vietnamese name order, then unit, term and position) so that a
//! page is a binary search and a scan, and a cursor is the key of the last row given.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate};

use crate::{
    domain::{text, Catalog, EntrySource, Gender, Hierarchy, Level, Plan, PlanId, PlanStatus},
    rules::{RulesFile, SubmittedCopy},
    store::{self, Change, PlanHeader, Receipt, Store},
};

/// The search form of a name: lower case, no diacritics, đ as d (a search for "nguyen thi hoa"
/// finds Nguyễn Thị Hoà).
pub fn name_identity(name: &str) -> String {
    text::fold(name)
}

/// The key under which two records name one person (R21): the identity key of the name
/// ([`crate::domain::name::key`]), in one function so that the view and the rules agree.
fn person_key(name: &str) -> String {
    crate::domain::name::key(name)
}

/// Distinct strings stored once, named by a small index.
#[derive(Default)]
struct Interner {
    names: Vec<Box<str>>,
    index: HashMap<Box<str>, u32>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.into());
        self.index.insert(s.into(), i);
        i
    }

    fn get(&self, s: &str) -> Option<u32> {
        self.index.get(s).copied()
    }

    fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }
}

/// A distinct full name, with what searching and sorting need, computed once.
struct Name {
    /// The search form of the name ([`name_identity`]).
    folded: Box<str>,
    /// The collation key of the name ([`text::name_sort_key`]).
    sort_key: Box<[u8]>,
}

/// One line of the consolidated list, compact.
#[derive(Debug, Clone, Copy)]
struct Row {
    /// The entry's name.
    name: u32,
    slot: u32,
    /// The entry's index in its slot's current plan (cadre, position, source are read there).
    entry: u32,
    position: u32,
    /// Orders entries of one name without putting a national ID into a cursor.
    tiebreak: u64,
    /// Yes votes and their denominator (R19), when a round voted on the entry.
    votes: Option<(u32, u32)>,
}

/// One unit × term: its current version and what the rules need besides.
struct Slot {
    unit: u32,
    term: u32,
    /// Index of the current version in `plans`.
    current: usize,
    /// Index of the latest approved version in `plans`, when it is older than the current.
    approved: Option<usize>,
    /// What the owner last submitted, as the approving level attested it or this node's
    /// receipt (R22).
    attested: Option<SubmittedCopy>,
}

/// Where to resume a list: the key of the last row given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    sort_key: Vec<u8>,
    unit: String,
    term: String,
    position: String,
    tiebreak: u64,
}

impl Cursor {
    /// The token a client passes back.
    pub fn token(&self) -> String {
        let hex: String = self.sort_key.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{hex}~{}~{}~{}~{:016x}",
            self.unit, self.term, self.position, self.tiebreak
        )
    }

    /// Reads a token back; `None` when it is not one this node could have given.
    pub fn parse(token: &str) -> Option<Self> {
        let parts: Vec<&str> = token.split('~').collect();
        let [hex, unit, term, position, tiebreak] = parts.as_slice() else {
            return None;
        };
        if hex.len() % 2 != 0 || hex.len() > 4096 {
            return None;
        }
        let sort_key = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        Some(Self {
            sort_key,
            unit: unit.to_string(),
            term: term.to_string(),
            position: position.to_string(),
            tiebreak: u64::from_str_radix(tiebreak, 16).ok()?,
        })
    }
}

/// What the consolidated list is filtered by, resolved against the view.
#[derive(Default)]
pub struct RowFilter<'a> {
    /// Root of the unit subtree.
    pub under: &'a str,
    /// Only plans for this term, if given.
    pub term: Option<&'a str>,
    /// Only rows for this position code, if given.
    pub position: Option<&'a str>,
    /// Only plans in this status, if given.
    pub status: Option<PlanStatus>,
    /// Folded name query: rows whose folded name contains it.
    pub name: Option<&'a str>,
    /// Only plans of units at this level, if given.
    pub level: Option<Level>,
    /// Only persons of this gender, if given.
    pub gender: Option<Gender>,
    /// Born on or before (age at least).
    pub born_by: Option<NaiveDate>,
    /// Born after (age at most).
    pub born_after: Option<NaiveDate>,
    /// Only rows whose person's national ID is here, or whose (plan, position) is here (a
    /// position-wide finding names no person; an empty position list means every position).
    pub flagged: Option<&'a Flagged>,
}

/// What the findings of one rule name.
#[derive(Debug, Default)]
pub struct Flagged {
    /// National ID numbers of the persons the findings name.
    pub persons: HashSet<String>,
    /// Plans and position codes the findings name (an empty list: every position of the plan).
    pub lines: Vec<(PlanId, Vec<String>)>,
}

/// One row as a caller sees it.
#[derive(Debug, Clone)]
pub struct RowOut<'v> {
    /// The plan version the row belongs to.
    pub id: &'v PlanId,
    /// That version's status.
    pub status: PlanStatus,
    /// Code of the planned position.
    pub position: &'v str,
    /// The person's full name.
    pub full_name: &'v str,
    /// The person's national ID number.
    pub national_id: &'v str,
    /// The person's date of birth.
    pub birth_date: NaiveDate,
    /// The person's gender.
    pub gender: Gender,
    /// Yes votes and their denominator (R19), when a round voted on the entry.
    pub votes: Option<(u32, u32)>,
    /// How the entry got into the list.
    pub source: EntrySource,
}

/// One page of the consolidated list.
pub struct Page<'v> {
    /// The rows of this page, in list order.
    pub rows: Vec<RowOut<'v>>,
    /// Where the next page starts; none on the last page.
    pub next: Option<Cursor>,
    /// Rows matching the filter over all pages.
    pub total: u64,
}

/// The plans a node holds, in memory.
#[derive(Default)]
pub struct View {
    /// The plans the rules read.
    plans: Vec<Plan>,
    slots: Vec<Slot>,
    slot_index: HashMap<(u32, u32), u32>,
    units: Interner,
    terms: Interner,
    positions: Interner,
    names: Vec<Name>,
    name_index: HashMap<Box<str>, u32>,
    /// While the view is being built, rows wait to be built and sorted once.
    deferred: bool,
    /// The consolidated list, in list order.
    rows: Vec<Row>,
}

fn days(d: NaiveDate) -> i32 {
    d.num_days_from_ce()
}

/// A short stable hash of a national ID, for ordering rows without naming the ID.
fn tiebreak(national_id: &str) -> u64 {
    // FNV-1a: tiny, and stable across runs and builds.
    national_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl View {
    /// Builds the view from everything the store holds.
    ///
    /// # Errors
    ///
    /// When the store cannot be read or a stored plan cannot be decoded.
    pub fn build(store: &dyn Store, rules: &RulesFile, own: &str) -> store::Result<Self> {
        let mut view = View {
            deferred: true,
            ..View::default()
        };
        let headers = store.headers()?;
        // Key order: the versions of one unit × term are consecutive, oldest first.
        let mut i = 0;
        while i < headers.len() {
            let mut j = i;
            while j < headers.len()
                && headers[j].id.unit == headers[i].id.unit
                && headers[j].id.term == headers[i].id.term
            {
                j += 1;
            }
            let group = &headers[i..j];
            let latest = &group[group.len() - 1];
            let approved = group
                .iter()
                .rev()
                .find(|h| h.status == PlanStatus::Approved)
                .filter(|h| h.id != latest.id);
            let mut attested = None;
            for h in group {
                if let Some(hash) = attestation(store, h, own)? {
                    attested = Some(SubmittedCopy {
                        id: h.id.clone(),
                        hash,
                    });
                }
            }
            if let Some(plan) = store.plan(&latest.id)? {
                view.put_plan(plan, rules);
            }
            if let Some(a) = approved {
                if let Some(plan) = store.plan(&a.id)? {
                    view.put_plan(plan, rules);
                }
            }
            if let Some(slot) = view.slot_of(&latest.id) {
                view.slots[slot].attested = attested;
            }
            i = j;
        }
        view.build_rows(rules);
        Ok(view)
    }

    /// Applies committed (and durable) changes; returns, for each unit × term they touched, the
    /// current version after them and the national IDs its replaced version listed.
    pub fn apply(
        &mut self,
        changes: Vec<ViewChange>,
        rules: &RulesFile,
        unit_code: &str,
    ) -> Vec<(PlanId, HashSet<String>)> {
        let mut touched: Vec<(PlanId, HashSet<String>)> = Vec::new();
        for change in changes {
            let (id, old) = match change {
                ViewChange::Plan(plan) => {
                    let id = plan.id.clone();
                    (id, self.put_plan(plan, rules))
                }
                ViewChange::Header(header) => {
                    let id = header.id.clone();
                    self.put_header(header, rules);
                    (id, HashSet::new())
                }
                ViewChange::Receipt(receipt) => {
                    let id = receipt.plan.clone();
                    self.attest(&id, receipt.hash);
                    (id, HashSet::new())
                }
                ViewChange::Decision { id, hash, by } => {
                    if by != unit_code {
                        self.attest(&id, hash);
                    }
                    (id, HashSet::new())
                }
            };
            let current = self
                .slot_of(&id)
                .map(|s| self.plans[self.slots[s].current].id.clone())
                .unwrap_or(id);
            match touched
                .iter_mut()
                .find(|(t, _)| t.unit == current.unit && t.term == current.term)
            {
                Some((t, persons)) => {
                    *t = current;
                    persons.extend(old);
                }
                None => touched.push((current, old)),
            }
        }
        touched
    }

    fn slot_of(&self, id: &PlanId) -> Option<usize> {
        let unit = self.units.get(&id.unit)?;
        let term = self.terms.get(&id.term)?;
        self.slot_index.get(&(unit, term)).map(|&s| s as usize)
    }

    fn attest(&mut self, id: &PlanId, hash: String) {
        if let Some(s) = self.slot_of(id) {
            let slot = &mut self.slots[s];
            if slot
                .attested
                .as_ref()
                .is_none_or(|a| a.id.version <= id.version)
            {
                slot.attested = Some(SubmittedCopy {
                    id: id.clone(),
                    hash,
                });
            }
        }
    }

    /// Puts a plan version in; returns the national IDs of the version it replaced as current.
    fn put_plan(&mut self, plan: Plan, rules: &RulesFile) -> HashSet<String> {
        let unit = self.units.intern(&plan.id.unit);
        let term = self.terms.intern(&plan.id.term);
        let Some(&s) = self.slot_index.get(&(unit, term)) else {
            let s = self.slots.len() as u32;
            self.plans.push(plan);
            self.slots.push(Slot {
                unit,
                term,
                current: self.plans.len() - 1,
                approved: None,
                attested: None,
            });
            self.slot_index.insert((unit, term), s);
            self.rebuild_rows(s, rules);
            return HashSet::new();
        };
        let cur = self.slots[s as usize].current;
        let cur_version = self.plans[cur].id.version;
        if plan.id.version < cur_version {
            // An older version: only an approved one matters (R5).
            if plan.status == PlanStatus::Approved {
                let newer = self.slots[s as usize]
                    .approved
                    .is_none_or(|a| self.plans[a].id.version <= plan.id.version);
                if newer {
                    self.set_approved(s as usize, Some(plan));
                }
            }
            return HashSet::new();
        }
        let old: HashSet<String> = if plan.id.version > cur_version {
            self.plans[cur]
                .entries
                .iter()
                .map(|e| e.cadre.national_id.clone())
                .collect()
        } else {
            HashSet::new()
        };
        let previous = std::mem::replace(&mut self.plans[cur], plan);
        if self.plans[cur].status == PlanStatus::Approved {
            self.set_approved(s as usize, None);
        } else if previous.status == PlanStatus::Approved
            && previous.id.version < self.plans[cur].id.version
        {
            self.set_approved(s as usize, Some(previous));
        }
        self.rebuild_rows(s, rules);
        old
    }

    fn put_header(&mut self, h: PlanHeader, rules: &RulesFile) {
        let Some(s) = self.slot_of(&h.id) else {
            return;
        };
        let slot = &self.slots[s];
        let target = if self.plans[slot.current].id == h.id {
            Some(slot.current)
        } else {
            slot.approved.filter(|&a| self.plans[a].id == h.id)
        };
        let Some(t) = target else {
            return;
        };
        let p = &mut self.plans[t];
        let was_draft = p.status == PlanStatus::Draft;
        p.base_version = h.base_version;
        p.status = h.status;
        p.hash = h.hash;
        p.adopted_on = h.adopted_on;
        p.received_at = h.received_at;
        p.decision = h.decision;
        if t == self.slots[s].current && self.plans[t].status == PlanStatus::Approved {
            self.set_approved(s, None);
        }
        // A draft is not in the consolidated list; an adopted plan is.
        let current = &self.plans[self.slots[s].current];
        if t == self.slots[s].current && was_draft != (current.status == PlanStatus::Draft) {
            self.rebuild_rows(s as u32, rules);
        }
    }

    /// Sets (or, with `None`, drops) the separately kept approved version of a slot.
    fn set_approved(&mut self, s: usize, plan: Option<Plan>) {
        match (self.slots[s].approved, plan) {
            (Some(a), Some(p)) => self.plans[a] = p,
            (None, Some(p)) => {
                self.plans.push(p);
                self.slots[s].approved = Some(self.plans.len() - 1);
            }
            (Some(a), None) => {
                self.slots[s].approved = None;
                let last = self.plans.len() - 1;
                self.plans.swap_remove(a);
                if a != last {
                    // The plan that moved into `a` was at `last`: point its slot at it.
                    let moved = &self.plans[a].id;
                    if let Some(m) = self.slot_of(&moved.clone()) {
                        let slot = &mut self.slots[m];
                        if slot.current == last {
                            slot.current = a;
                        } else if slot.approved == Some(last) {
                            slot.approved = Some(a);
                        }
                    }
                }
            }
            (None, None) => {}
        }
    }

    /// The rows of one slot, rebuilt from its current plan and merged into the list.
    fn rebuild_rows(&mut self, s: u32, rules: &RulesFile) {
        if self.deferred {
            return;
        }
        self.rows.retain(|r| r.slot != s);
        let mut fresh = self.rows_of(s, rules);
        fresh.sort_by(|a, b| self.cmp_rows(a, b));
        let old = std::mem::take(&mut self.rows);
        let mut merged = Vec::with_capacity(old.len() + fresh.len());
        let (mut i, mut j) = (0, 0);
        while i < old.len() && j < fresh.len() {
            if self.cmp_rows(&old[i], &fresh[j]).is_le() {
                merged.push(old[i]);
                i += 1;
            } else {
                merged.push(fresh[j]);
                j += 1;
            }
        }
        merged.extend_from_slice(&old[i..]);
        merged.extend_from_slice(&fresh[j..]);
        self.rows = merged;
    }

    /// The rows of one slot's current plan, unsorted (none for a draft).
    fn rows_of(&mut self, s: u32, rules: &RulesFile) -> Vec<Row> {
        let plan = &self.plans[self.slots[s as usize].current];
        if plan.status == PlanStatus::Draft {
            return Vec::new();
        }
        // The last round that voted on each (person, position), as `Plan::votes_for` finds it,
        // looked up once per plan rather than searched per entry.
        let mut votes: HashMap<(&str, &str), (u32, u32)> = HashMap::new();
        for round in &plan.rounds {
            let denominator =
                crate::rules::ballot::denominator(round, rules.params_for(round.date));
            for t in &round.tallies {
                votes.insert(
                    (t.national_id.as_str(), t.position.as_str()),
                    (t.yes, denominator),
                );
            }
        }
        let entries: Vec<_> = plan
            .entries
            .iter()
            .map(|e| {
                (
                    e.cadre.full_name.clone(),
                    e.position.clone(),
                    tiebreak(&e.cadre.national_id),
                    votes
                        .get(&(e.cadre.national_id.as_str(), e.position.as_str()))
                        .copied(),
                )
            })
            .collect();
        let mut fresh = Vec::with_capacity(entries.len());
        for (i, (full_name, position, tiebreak, votes)) in entries.into_iter().enumerate() {
            let name = self.intern_name(&full_name);
            let position = self.positions.intern(&position);
            fresh.push(Row {
                name,
                slot: s,
                entry: i as u32,
                position,
                tiebreak,
                votes,
            });
        }
        fresh
    }

    /// Builds every row at once and sorts them once (at start).
    fn build_rows(&mut self, rules: &RulesFile) {
        self.deferred = false;
        let mut rows = Vec::with_capacity(self.entries());
        for s in 0..self.slots.len() as u32 {
            rows.extend(self.rows_of(s, rules));
        }
        rows.sort_unstable_by(|a, b| self.cmp_rows(a, b));
        self.rows = rows;
    }

    fn intern_name(&mut self, full_name: &str) -> u32 {
        if let Some(&n) = self.name_index.get(full_name) {
            return n;
        }
        let n = self.names.len() as u32;
        self.names.push(Name {
            folded: name_identity(full_name).into(),
            sort_key: text::name_sort_key(full_name).into(),
        });
        self.name_index.insert(full_name.into(), n);
        n
    }

    fn key<'s>(&'s self, r: &Row) -> (&'s [u8], &'s str, &'s str, &'s str, u64) {
        let slot = &self.slots[r.slot as usize];
        (
            &self.names[r.name as usize].sort_key,
            self.units.name(slot.unit),
            self.terms.name(slot.term),
            self.positions.name(r.position),
            r.tiebreak,
        )
    }

    fn cmp_rows(&self, a: &Row, b: &Row) -> std::cmp::Ordering {
        self.key(a).cmp(&self.key(b))
    }

    /// Every plan the rules read: current versions and older approved ones.
    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    /// What the owners of lower plans last submitted (R22), for units other than `own`.
    pub fn submitted(&self, own: &str) -> Vec<SubmittedCopy> {
        let mut out: Vec<SubmittedCopy> = self
            .slots
            .iter()
            .filter(|s| self.units.name(s.unit) != own)
            .filter_map(|s| s.attested.clone())
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// The plans an incremental check of `id` reads, cloned: every plan (current or approved)
    /// that lists a person of `id`'s versions or of `also`, or an entry with the same name and
    /// birth date as one of them (R21), and every plan of the units those plans belong to or
    /// those persons work in (R5's committee and lower lists). The cross-plan rules about those
    /// persons see in it everything they see in the whole view, so their findings are the same;
    /// the rest of the province is not copied or walked by the rules.
    pub fn related(&self, id: &PlanId, also: &HashSet<String>) -> Vec<Plan> {
        let Some(own) = self.slot_of(id) else {
            return Vec::new();
        };
        let slot_plans = |s: &Slot| {
            std::iter::once(&self.plans[s.current]).chain(s.approved.map(|a| &self.plans[a]))
        };
        let mut persons: HashSet<&str> = also.iter().map(String::as_str).collect();
        for plan in slot_plans(&self.slots[own]) {
            persons.extend(plan.entries.iter().map(|e| e.cadre.national_id.as_str()));
        }
        let mut marked = vec![false; self.slots.len()];
        marked[own] = true;
        // Names by their identity key (as R21 compares them), looked up only for entries
        // born on a day one of the persons was born.
        let mut keys: HashSet<(String, NaiveDate)> = HashSet::new();
        let mut units: HashSet<&str> = HashSet::new();
        for (i, slot) in self.slots.iter().enumerate() {
            for plan in slot_plans(slot) {
                for e in &plan.entries {
                    if persons.contains(e.cadre.national_id.as_str()) {
                        marked[i] = true;
                        keys.insert((person_key(&e.cadre.full_name), e.cadre.birth_date));
                        units.insert(&e.cadre.current_unit);
                    }
                }
            }
        }
        let births: HashSet<NaiveDate> = keys.iter().map(|(_, b)| *b).collect();
        for (i, slot) in self.slots.iter().enumerate() {
            if marked[i] {
                continue;
            }
            marked[i] = slot_plans(slot).any(|plan| {
                plan.entries.iter().any(|e| {
                    births.contains(&e.cadre.birth_date)
                        && keys.contains(&(person_key(&e.cadre.full_name), e.cadre.birth_date))
                })
            });
        }
        for (i, slot) in self.slots.iter().enumerate() {
            if marked[i] {
                units.insert(self.units.name(slot.unit));
            }
        }
        let mut out = Vec::new();
        for slot in &self.slots {
            if units.contains(self.units.name(slot.unit)) {
                out.extend(slot_plans(slot).cloned());
            }
        }
        out
    }

    /// The current version of a unit × term.
    pub fn current(&self, unit: &str, term: &str) -> Option<&Plan> {
        let s = self
            .slot_index
            .get(&(self.units.get(unit)?, self.terms.get(term)?))?;
        Some(&self.plans[self.slots[*s as usize].current])
    }

    /// The current version of every unit × term.
    pub fn currents(&self) -> impl Iterator<Item = &Plan> {
        self.slots.iter().map(|s| &self.plans[s.current])
    }

    /// How many entries the current versions hold.
    pub fn entries(&self) -> usize {
        self.currents().map(|p| p.entries.len()).sum()
    }

    /// One page of the consolidated list: the rows after `after` that pass `filter`, at most
    /// `limit` of them (0: all), with the cursor of the next page and the total.
    pub fn page(
        &self,
        hierarchy: &Hierarchy,
        filter: &RowFilter<'_>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Page<'_> {
        // Resolve every filter to indexes once.
        let slot_ok: Vec<bool> = self
            .slots
            .iter()
            .map(|s| {
                let plan = &self.plans[s.current];
                let unit = self.units.name(s.unit);
                hierarchy.is_within(unit, filter.under)
                    && filter.term.is_none_or(|t| t == self.terms.name(s.term))
                    && filter.status.is_none_or(|st| st == plan.status)
                    && filter
                        .level
                        .is_none_or(|l| hierarchy.get(unit).is_some_and(|u| u.level == l))
            })
            .collect();
        let position = match filter.position {
            Some(p) => match self.positions.get(p) {
                Some(i) => Some(i),
                None => {
                    return Page {
                        rows: Vec::new(),
                        next: None,
                        total: 0,
                    }
                }
            },
            None => None,
        };
        let name_ok: Option<Vec<bool>> = filter
            .name
            .map(|q| self.names.iter().map(|n| n.folded.contains(q)).collect());
        let born_by = filter.born_by.map(days);
        let born_after = filter.born_after.map(days);
        let keep = |r: &Row| -> bool {
            if !slot_ok[r.slot as usize]
                || position.is_some_and(|x| x != r.position)
                || name_ok.as_ref().is_some_and(|ok| !ok[r.name as usize])
            {
                return false;
            }
            let p = &self.entry(r).cadre;
            let birth = days(p.birth_date);
            filter.gender.is_none_or(|g| g == p.gender)
                && born_by.is_none_or(|d| birth <= d)
                && born_after.is_none_or(|d| birth > d)
                && filter.flagged.is_none_or(|f| {
                    f.persons.contains(&p.national_id)
                        || f.lines.iter().any(|(id, positions)| {
                            let plan = &self.plans[self.slots[r.slot as usize].current];
                            *id == plan.id
                                && (positions.is_empty()
                                    || positions
                                        .iter()
                                        .any(|x| x == self.positions.name(r.position)))
                        })
                })
        };
        let start = match after {
            Some(c) => {
                let ck = (
                    c.sort_key.as_slice(),
                    c.unit.as_str(),
                    c.term.as_str(),
                    c.position.as_str(),
                    c.tiebreak,
                );
                self.rows.partition_point(|r| self.key(r) <= ck)
            }
            None => 0,
        };
        let total = self.rows.iter().filter(|r| keep(r)).count() as u64;
        let mut rows = Vec::new();
        let mut next = None;
        let mut last = None;
        for r in self.rows[start..].iter().filter(|r| keep(r)) {
            if limit > 0 && rows.len() == limit {
                next = last.map(|l: &Row| {
                    let (sort_key, unit, term, position, tiebreak) = self.key(l);
                    Cursor {
                        sort_key: sort_key.to_vec(),
                        unit: unit.into(),
                        term: term.into(),
                        position: position.into(),
                        tiebreak,
                    }
                });
                break;
            }
            let plan = &self.plans[self.slots[r.slot as usize].current];
            let e = self.entry(r);
            rows.push(RowOut {
                id: &plan.id,
                status: plan.status,
                position: &e.position,
                full_name: &e.cadre.full_name,
                national_id: &e.cadre.national_id,
                birth_date: e.cadre.birth_date,
                gender: e.cadre.gender,
                votes: r.votes,
                source: e.source,
            });
            last = Some(r);
        }
        Page { rows, next, total }
    }

    /// The entry a row stands for.
    fn entry(&self, r: &Row) -> &crate::domain::Entry {
        &self.plans[self.slots[r.slot as usize].current].entries[r.entry as usize]
    }

    /// Titles come from the catalogue; kept here so that callers need not know the view's
    /// interning.
    pub fn position_title<'c>(catalog: &'c Catalog, code: &str) -> &'c str {
        catalog
            .position(code)
            .map(|p| p.title_vi.as_str())
            .unwrap_or_default()
    }
}

/// The attested hash of a lower plan version: its approval by another unit, else the
/// receipt this node gave.
fn attestation(store: &dyn Store, h: &PlanHeader, own: &str) -> store::Result<Option<String>> {
    if h.id.unit == own {
        return Ok(None);
    }
    Ok(match &h.decision {
        Some(d) if d.decided_by != own => Some(d.hash.clone()),
        _ => store.receipt(&h.id)?.map(|r| r.hash),
    })
}

/// A committed change as the view takes it.
#[derive(Debug, Clone)]
pub enum ViewChange {
    /// A whole plan version was written.
    Plan(Plan),
    /// A plan header was written (a version held without its entries).
    Header(PlanHeader),
    /// The parent's receipt for a pushed version was stored: its hash is now attested.
    Receipt(Receipt),
    /// A decision recorded on a header (its attested hash, for R22).
    Decision {
        /// The plan version decided on.
        id: PlanId,
        /// The hash the decision attests.
        hash: String,
        /// The deciding unit (a decision made by this node attests nothing).
        by: String,
    },
}

impl ViewChange {
    /// The changes of a commit that the view follows.
    pub fn of(changes: &[Change]) -> Vec<ViewChange> {
        let mut out = Vec::new();
        for c in changes {
            match c {
                Change::PutPlan(p) => {
                    out.push(ViewChange::Plan(p.clone()));
                    if let Some(d) = &p.decision {
                        out.push(ViewChange::Decision {
                            id: p.id.clone(),
                            hash: d.hash.clone(),
                            by: d.decided_by.clone(),
                        });
                    }
                }
                Change::PutHeader(h) => {
                    out.push(ViewChange::Header(h.clone()));
                    if let Some(d) = &h.decision {
                        out.push(ViewChange::Decision {
                            id: h.id.clone(),
                            hash: d.hash.clone(),
                            by: d.decided_by.clone(),
                        });
                    }
                }
                Change::PutReceipt(r) => out.push(ViewChange::Receipt(r.clone())),
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::NaiveDate;

    use super::*;
    use crate::{
        config,
        rules::{self, Scope, Snapshot},
        synth::{generate, Size, Spec},
    };

    /// A re-check over the related plans finds what a re-check over the whole view finds, for
    /// district and commune plans of a synthetic province with persons listed in several units.
    #[test]
    fn a_check_over_the_related_plans_equals_one_over_the_whole_view() {
        let hierarchy = config::load_units("builtin:2024").unwrap();
        let catalog = config::builtin_catalog().unwrap();
        let mut spec = Spec::sized("40", Size::S, 7);
        spec.target_entries = 6_000;
        let g = generate(&hierarchy, &catalog, &spec);
        let rules = RulesFile::default();
        let mut view = View::default();
        view.apply(
            g.plans.iter().cloned().map(ViewChange::Plan).collect(),
            &rules,
            "40",
        );
        let today = NaiveDate::from_ymd_opt(2025, 11, 1).unwrap();
        let whole = Snapshot {
            plans: view.plans(),
            hierarchy: &hierarchy,
            catalog: &catalog,
            submitted: &[],
        };
        let mut compared = 0;
        for plan in g.plans.iter().step_by(g.plans.len() / 12 + 1) {
            let also = HashSet::new();
            let want = rules::check_incremental(&whole, &plan.id, &Scope::default(), today, &rules);
            let related = view.related(&plan.id, &also);
            assert!(related.len() < view.plans().len() || view.plans().len() < 3);
            let part = Snapshot {
                plans: &related,
                ..whole
            };
            let got = rules::check_incremental(&part, &plan.id, &Scope::default(), today, &rules);
            assert_eq!(got.findings, want.findings, "{}", plan.id);
            compared += want.findings.len();
        }
        assert!(compared > 0, "the sample found something to compare");
    }

    #[test]
    fn cursors_read_back_and_strangers_are_refused() {
        let c = Cursor {
            sort_key: vec![1, 2, 0, 255],
            unit: "412".into(),
            term: "2025-2030".into(),
            position: "D.BT".into(),
            tiebreak: 42,
        };
        assert_eq!(Cursor::parse(&c.token()), Some(c));
        for bad in ["", "2", "zz~412~t~p~1", "0102~412~t~p", "0102~412~t~p~x"] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }
}
