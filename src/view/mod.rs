//! The view: every current plan version a node holds, in memory, built from the store at start
//! and updated after each durable commit (never before), so that checks and queries read memory
//! instead of reloading and decoding plans from sled.
//!
//! - [`list`](self::list): the consolidated list's compact rows, its filter, pages and cursors.
//! - [`persons`](self::persons): the person index, and what an incremental check reads
//!   ([`View::related`]).
//! - [`pages`](self::pages): what the pages read for a whole province: a page of the list by
//!   rank ([`View::page_at`]), the terms held in a subtree.

mod list;
mod pages;
mod persons;
mod size;

use std::collections::{HashMap, HashSet};

use crate::{
    domain::{Decision, Plan, PlanHeader, PlanId, PlanStatus, Receipt},
    rules::{RulesFile, SubmittedCopy},
    store::{self, Change, Store},
};

pub use list::{Cursor, Flagged, Page, RowFilter, RowOut};
use list::{Names, Row};
use persons::SlotIndex;
pub use persons::{name_identity, Related};
pub use size::HeapBytes;

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
    /// The consolidated list's rows of the current version, in list order (none for a draft).
    rows: Vec<Row>,
}

/// The plans a node holds, in memory.
#[derive(Default)]
pub struct View {
    /// The plans the rules read.
    plans: Vec<Plan>,
    /// For each plan of `plans`, the interned name of each of its entries.
    names_of: Vec<Vec<u32>>,
    slots: Vec<Slot>,
    slot_index: HashMap<(u32, u32), u32>,
    units: Interner,
    terms: Interner,
    positions: Interner,
    names: Names,
    /// The person index: the slots whose plans (current or approved) list a national ID.
    by_id: SlotIndex,
    /// The slots whose plans list a name (by its identity key) with a birth date (R21).
    by_person: SlotIndex,
    /// The slots whose plans list someone working in a unit (R5's upper lists).
    by_home: SlotIndex,
}

impl View {
    /// Builds the view from everything the store holds.
    ///
    /// # Errors
    ///
    /// When the store cannot be read or a stored plan cannot be decoded.
    pub fn build(store: &dyn Store, rules: &RulesFile, own: &str) -> store::Result<Self> {
        let mut view = View::default();
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

    /// The indexes in `plans` of a slot's versions: the current one, then the approved one.
    fn slot_plans(&self, s: usize) -> impl Iterator<Item = usize> {
        let slot = &self.slots[s];
        std::iter::once(slot.current).chain(slot.approved)
    }

    /// The interned names of a plan's entries.
    fn names_for(&mut self, plan: &Plan) -> Vec<u32> {
        plan.entries
            .iter()
            .map(|e| self.names.intern(&e.cadre.full_name))
            .collect()
    }

    /// Puts a plan version in; returns the national IDs of the version it replaced as current.
    fn put_plan(&mut self, plan: Plan, rules: &RulesFile) -> HashSet<String> {
        let unit = self.units.intern(&plan.id.unit);
        let term = self.terms.intern(&plan.id.term);
        let names = self.names_for(&plan);
        let Some(&s) = self.slot_index.get(&(unit, term)) else {
            let s = self.slots.len() as u32;
            self.plans.push(plan);
            self.names_of.push(names);
            self.slots.push(Slot {
                unit,
                term,
                current: self.plans.len() - 1,
                approved: None,
                attested: None,
                rows: Vec::new(),
            });
            self.slot_index.insert((unit, term), s);
            self.index_slot(s as usize, true);
            self.rebuild_rows(s, rules);
            return HashSet::new();
        };
        let s = s as usize;
        let cur = self.slots[s].current;
        let cur_version = self.plans[cur].id.version;
        if plan.id.version < cur_version {
            // An older version: only an approved one matters (R5).
            if plan.status == PlanStatus::Approved {
                let newer = self.slots[s]
                    .approved
                    .is_none_or(|a| self.plans[a].id.version <= plan.id.version);
                if newer {
                    self.index_slot(s, false);
                    self.set_approved(s, Some((plan, names)));
                    self.index_slot(s, true);
                }
            }
            return HashSet::new();
        }
        let old: HashSet<String> = if plan.id.version > cur_version {
            self.plans[cur]
                .entries
                .iter()
                .map(|e| e.cadre.national_id.to_string())
                .collect()
        } else {
            HashSet::new()
        };
        self.index_slot(s, false);
        let previous = std::mem::replace(&mut self.plans[cur], plan);
        let previous_names = std::mem::replace(&mut self.names_of[cur], names);
        if self.plans[cur].status == PlanStatus::Approved {
            self.set_approved(s, None);
        } else if previous.status == PlanStatus::Approved
            && previous.id.version < self.plans[cur].id.version
        {
            self.set_approved(s, Some((previous, previous_names)));
        }
        self.index_slot(s, true);
        self.rebuild_rows(s as u32, rules);
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
            self.index_slot(s, false);
            self.set_approved(s, None);
            self.index_slot(s, true);
        }
        // A draft is not in the consolidated list; an adopted plan is.
        let current = &self.plans[self.slots[s].current];
        if t == self.slots[s].current && was_draft != (current.status == PlanStatus::Draft) {
            self.rebuild_rows(s as u32, rules);
        }
    }

    /// Sets (or, with `None`, drops) the separately kept approved version of a slot.
    fn set_approved(&mut self, s: usize, plan: Option<(Plan, Vec<u32>)>) {
        match (self.slots[s].approved, plan) {
            (Some(a), Some((p, names))) => {
                self.plans[a] = p;
                self.names_of[a] = names;
            }
            (None, Some((p, names))) => {
                self.plans.push(p);
                self.names_of.push(names);
                self.slots[s].approved = Some(self.plans.len() - 1);
            }
            (Some(a), None) => {
                self.slots[s].approved = None;
                let last = self.plans.len() - 1;
                self.plans.swap_remove(a);
                self.names_of.swap_remove(a);
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

    /// What the owner of `id`'s unit × term last submitted (R22), unless it is `own`.
    pub fn submitted_for(&self, id: &PlanId, own: &str) -> Vec<SubmittedCopy> {
        self.slot_of(id)
            .filter(|_| id.unit != own)
            .and_then(|s| self.slots[s].attested.clone())
            .into_iter()
            .collect()
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
}

#[cfg(test)]
impl View {
    /// A view of the province `40` holding every version of `plans`, checked against `rules`:
    /// what the view's tests start from.
    pub(crate) fn of_plans(plans: &[Plan], rules: &RulesFile) -> View {
        let mut view = View::default();
        view.apply(
            plans.iter().cloned().map(ViewChange::Plan).collect(),
            rules,
            "40",
        );
        view
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
        // A plan or header written with a decision brings the decision too.
        let decided = |id: &PlanId, decision: &Option<Decision>| {
            decision.as_ref().map(|d| ViewChange::Decision {
                id: id.clone(),
                hash: d.hash.clone(),
                by: d.decided_by.clone(),
            })
        };
        let mut out = Vec::new();
        for c in changes {
            match c {
                Change::PutPlan(p) => {
                    out.push(ViewChange::Plan(p.clone()));
                    out.extend(decided(&p.id, &p.decision));
                }
                Change::PutHeader(h) => {
                    out.push(ViewChange::Header(h.clone()));
                    out.extend(decided(&h.id, &h.decision));
                }
                Change::PutReceipt(r) => out.push(ViewChange::Receipt(r.clone())),
                _ => {}
            }
        }
        out
    }
}
