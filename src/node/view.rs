//! The view: every current plan version a node holds, in memory, built from the store at start
//! and updated after each durable commit (never before), so that checks and queries read memory
//! instead of reloading and decoding plans from sled.
//!
//! It keeps two forms. The rules read whole plans: the current version of each unit × term and,
//! when it is older, the latest approved one (R5 compares against it). The consolidated list
//! reads compact rows: one per entry of a current, non-draft plan, naming the entry by its
//! index in that plan (no string is copied per entry), an interned name (its folded search form
//! and its collation key, computed once per distinct name), an interned position, and the
//! votes; kept per unit × term in list order (Vietnamese name order, then unit, term and
//! position), so that a page reads only the unit × terms within its filter, merged in order,
//! and a cursor is the key of the last row given. A name search is one substring search over
//! the distinct folded names laid end to end.
//!
//! The person index maps a national ID, a name (by its identity key) with a birth date, and a
//! unit worked in, to the unit × terms whose plans list them; it is updated whenever a plan
//! version replaces another, so that an incremental check reads only the related plans
//! ([`View::related`]) and a person's page reads only the plans that list them.

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
    /// The collation key of the name ([`text::name_sort_key`]).
    sort_key: Box<[u8]>,
    /// A hash of the name's identity key ([`person_key`]), for the person index.
    identity: u64,
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
    /// The consolidated list's rows of the current version, in list order (none for a draft).
    rows: Vec<Row>,
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

fn days(d: NaiveDate) -> i32 {
    d.num_days_from_ce()
}

/// FNV-1a over `bytes`, continuing from `h`: tiny, and stable across runs and builds.
fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// A short stable hash of a national ID, for ordering rows without naming the ID and as the
/// person index's key.
fn tiebreak(national_id: &str) -> u64 {
    fnv(FNV_START, national_id.as_bytes())
}

/// The person index's key for a name's identity key and a birth date.
fn person_hash(identity: u64, birth: NaiveDate) -> u64 {
    fnv(identity, &days(birth).to_le_bytes())
}

/// The slots that list one key: most keys are in one or two slots.
#[derive(Debug, Clone)]
enum SlotSet {
    One([u32; 1]),
    Two([u32; 2]),
    Many(Vec<u32>),
}

/// Keys (hashes of a national ID, a name and birth date, a unit) to the slots whose plans
/// list them. A hash collision only adds a slot to a look-up, and every caller reads the
/// slot's plans to confirm, so it costs time, never a wrong answer.
#[derive(Default)]
struct SlotIndex(HashMap<u64, SlotSet, foldhash::fast::RandomState>);

impl SlotIndex {
    fn insert(&mut self, key: u64, s: u32) {
        let set = self.0.entry(key).or_insert(SlotSet::Many(Vec::new()));
        *set = match std::mem::replace(set, SlotSet::Many(Vec::new())) {
            SlotSet::Many(v) if v.is_empty() => SlotSet::One([s]),
            SlotSet::One([a]) if a == s => SlotSet::One([a]),
            SlotSet::One([a]) => SlotSet::Two([a, s]),
            SlotSet::Two([a, b]) if a == s || b == s => SlotSet::Two([a, b]),
            SlotSet::Two([a, b]) => SlotSet::Many(vec![a, b, s]),
            SlotSet::Many(mut v) => {
                if !v.contains(&s) {
                    v.push(s);
                }
                SlotSet::Many(v)
            }
        };
    }

    fn remove(&mut self, key: u64, s: u32) {
        let Some(set) = self.0.get_mut(&key) else {
            return;
        };
        let next = match std::mem::replace(set, SlotSet::Many(Vec::new())) {
            SlotSet::One([a]) if a == s => None,
            SlotSet::Two([a, b]) if a == s => Some(SlotSet::One([b])),
            SlotSet::Two([a, b]) if b == s => Some(SlotSet::One([a])),
            SlotSet::Many(mut v) => {
                v.retain(|&x| x != s);
                Some(match v.as_slice() {
                    [] => return drop(self.0.remove(&key)),
                    [a] => SlotSet::One([*a]),
                    [a, b] => SlotSet::Two([*a, *b]),
                    _ => SlotSet::Many(v),
                })
            }
            other => Some(other),
        };
        match next {
            Some(n) => *set = n,
            None => drop(self.0.remove(&key)),
        }
    }

    fn get(&self, key: u64) -> &[u32] {
        match self.0.get(&key) {
            Some(SlotSet::One(a)) => a,
            Some(SlotSet::Two(a)) => a,
            Some(SlotSet::Many(v)) => v,
            None => &[],
        }
    }
}

/// Every distinct full name the view has seen, with what searching and sorting need, and the
/// folded forms laid end to end so that a name search is one substring search of one buffer.
#[derive(Default)]
struct Names {
    list: Vec<Name>,
    index: HashMap<Box<str>, u32>,
    /// Every folded name, each followed by a line feed (no folded name holds one).
    folded: String,
    /// Where each name's folded form starts in `folded`.
    starts: Vec<u32>,
}

impl Names {
    fn intern(&mut self, full_name: &str) -> u32 {
        if let Some(&n) = self.index.get(full_name) {
            return n;
        }
        let n = self.list.len() as u32;
        let folded = name_identity(full_name);
        self.starts.push(self.folded.len() as u32);
        self.folded.push_str(&folded.replace('\n', " "));
        self.folded.push('\n');
        self.list.push(Name {
            sort_key: text::name_sort_key(full_name).into(),
            identity: tiebreak(&person_key(full_name)),
        });
        self.index.insert(full_name.into(), n);
        n
    }

    /// Which names contain the folded query `q`.
    fn matching(&self, q: &str) -> Vec<bool> {
        let mut ok = vec![false; self.list.len()];
        if q.contains('\n') {
            return ok;
        }
        for at in memchr::memmem::find_iter(self.folded.as_bytes(), q.as_bytes()) {
            let n = self.starts.partition_point(|&s| s as usize <= at) - 1;
            ok[n] = true;
        }
        ok
    }
}

/// What an incremental check of one unit × term reads (see [`View::related`]): its own
/// versions whole, moved out of the view for the time of the check (no copy), and of every
/// other plan it involves a copy holding only the entries of the persons concerned. Dropping
/// it puts the moved versions back.
pub struct Related<'v> {
    view: &'v mut View,
    plans: Vec<Plan>,
    /// Where each moved version came from in the view (they are the first of `plans`).
    moved: Vec<usize>,
    persons: HashSet<String>,
}

impl Related<'_> {
    /// The plans the check reads.
    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    /// The persons whose cross-plan findings the change can alter besides those its own
    /// versions list: those its replaced version listed, those of upper lists who work in its
    /// unit (R5 compares them with its approved list), and those planned for key posts in its
    /// unit's other lists (R5 compares them with its committee list).
    pub fn persons(&self) -> &HashSet<String> {
        &self.persons
    }
}

impl Drop for Related<'_> {
    fn drop(&mut self) {
        for (i, &at) in self.moved.iter().enumerate() {
            std::mem::swap(&mut self.view.plans[at], &mut self.plans[i]);
        }
    }
}

/// A plan version without its entries and rounds: what the rules read of a plan that lists
/// none of the persons a check is about (its existence, status and term).
fn header_of(plan: &Plan) -> Plan {
    Plan {
        id: plan.id.clone(),
        base_version: plan.base_version,
        status: plan.status,
        entries: Vec::new(),
        rounds: Vec::new(),
        hash: plan.hash.clone(),
        adopted_on: plan.adopted_on,
        received_at: plan.received_at,
        decision: plan.decision.clone(),
    }
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

    /// Adds (or removes) a slot's versions to (from) the person indexes.
    fn index_slot(&mut self, s: usize, add: bool) {
        let at: Vec<usize> = self.slot_plans(s).collect();
        for p in at {
            for (e, &name) in self.plans[p].entries.iter().zip(&self.names_of[p]) {
                let c = &e.cadre;
                let keys = [
                    (0, tiebreak(&c.national_id)),
                    (
                        1,
                        person_hash(self.names.list[name as usize].identity, c.birth_date),
                    ),
                    (2, tiebreak(&c.current_unit)),
                ];
                for (which, key) in keys {
                    let index = match which {
                        0 => &mut self.by_id,
                        1 => &mut self.by_person,
                        _ => &mut self.by_home,
                    };
                    if add {
                        index.insert(key, s as u32);
                    } else {
                        index.remove(key, s as u32);
                    }
                }
            }
        }
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
                .map(|e| e.cadre.national_id.clone())
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

    /// Rebuilds the rows of one slot from its current plan, in list order.
    fn rebuild_rows(&mut self, s: u32, rules: &RulesFile) {
        let mut fresh = self.rows_of(s, rules);
        fresh.sort_unstable_by(|a, b| self.cmp_rows(a, b));
        self.slots[s as usize].rows = fresh;
    }

    /// The rows of one slot's current plan, unsorted (none for a draft).
    fn rows_of(&mut self, s: u32, rules: &RulesFile) -> Vec<Row> {
        let cur = self.slots[s as usize].current;
        let plan = &self.plans[cur];
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
        let positions = &mut self.positions;
        plan.entries
            .iter()
            .zip(&self.names_of[cur])
            .enumerate()
            .map(|(i, (e, &name))| Row {
                name,
                slot: s,
                entry: i as u32,
                position: positions.intern(&e.position),
                tiebreak: tiebreak(&e.cadre.national_id),
                votes: votes
                    .get(&(e.cadre.national_id.as_str(), e.position.as_str()))
                    .copied(),
            })
            .collect()
    }

    fn key<'s>(&'s self, r: &Row) -> RowKey<'s> {
        let slot = &self.slots[r.slot as usize];
        (
            &self.names.list[r.name as usize].sort_key,
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

    /// What the owner of `id`'s unit × term last submitted (R22), unless it is `own`.
    pub fn submitted_for(&self, id: &PlanId, own: &str) -> Vec<SubmittedCopy> {
        self.slot_of(id)
            .filter(|_| id.unit != own)
            .and_then(|s| self.slots[s].attested.clone())
            .into_iter()
            .collect()
    }

    /// The plans an incremental check of `id` reads, found through the person indexes
    /// without walking the province: `id`'s own versions whole; and, holding only the entries
    /// of the persons concerned (those `id`'s versions list, those in `also`, and those of
    /// [`Related::persons`]) or of their names and birth dates (R21), every plan that lists
    /// one of them, and the versions without entries of every other plan of the units those
    /// plans belong to and those persons work in (R5 reads whether they exist and are
    /// approved). The cross-plan rules about those persons see in it everything they see in
    /// the whole view, so their findings are the same.
    pub fn related(
        &mut self,
        id: &PlanId,
        also: &HashSet<String>,
        rules: &RulesFile,
    ) -> Related<'_> {
        let Some(own) = self.slot_of(id) else {
            return Related {
                view: self,
                plans: Vec::new(),
                moved: Vec::new(),
                persons: also.clone(),
            };
        };
        let own_unit = self.slots[own].unit;
        let unit_name = self.units.name(own_unit);
        let mut persons: HashSet<String> = also.clone();
        // Upper lists naming someone who works in this unit (R5 compares them with its
        // approved list).
        for &s in self.by_home.get(tiebreak(unit_name)) {
            if self.slots[s as usize].unit == own_unit {
                continue;
            }
            for p in self.slot_plans(s as usize) {
                for e in &self.plans[p].entries {
                    if e.cadre.current_unit == unit_name {
                        persons.insert(e.cadre.national_id.clone());
                    }
                }
            }
        }
        // Key posts in this unit's other lists (R5 compares them with its committee list).
        let key_posts: HashSet<&str> = [&rules.qd50, &rules.qd377]
            .iter()
            .flat_map(|p| p.key_posts.iter().map(String::as_str))
            .collect();
        for (s, slot) in self.slots.iter().enumerate() {
            if slot.unit != own_unit || s == own {
                continue;
            }
            for p in self.slot_plans(s) {
                for e in &self.plans[p].entries {
                    if key_posts.contains(e.position.as_str()) {
                        persons.insert(e.cadre.national_id.clone());
                    }
                }
            }
        }
        let mut ids: HashSet<u64, foldhash::fast::RandomState> =
            persons.iter().map(|p| tiebreak(p)).collect();
        for p in self.slot_plans(own) {
            ids.extend(
                self.plans[p]
                    .entries
                    .iter()
                    .map(|e| tiebreak(&e.cadre.national_id)),
            );
        }
        // The slots listing the persons, then their names and birth dates and where they work.
        let mut listing = vec![false; self.slots.len()];
        for &id_hash in &ids {
            for &s in self.by_id.get(id_hash) {
                listing[s as usize] = true;
            }
        }
        listing[own] = true;
        let mut keys: HashSet<u64, foldhash::fast::RandomState> = HashSet::default();
        let mut units: HashSet<u32> = HashSet::new();
        for (s, _) in listing.iter().enumerate().filter(|(_, l)| **l) {
            units.insert(self.slots[s].unit);
            for p in self.slot_plans(s) {
                for (e, &name) in self.plans[p].entries.iter().zip(&self.names_of[p]) {
                    if ids.contains(&tiebreak(&e.cadre.national_id)) {
                        keys.insert(person_hash(
                            self.names.list[name as usize].identity,
                            e.cadre.birth_date,
                        ));
                        if let Some(u) = self.units.get(&e.cadre.current_unit) {
                            units.insert(u);
                        }
                    }
                }
            }
        }
        for &k in &keys {
            for &s in self.by_person.get(k) {
                listing[s as usize] = true;
            }
        }
        // Own versions first (moved), then the others.
        let moved: Vec<usize> = self.slot_plans(own).collect();
        let mut plans: Vec<Plan> = moved
            .iter()
            .map(|&p| std::mem::replace(&mut self.plans[p], Plan::new_draft(id.clone(), None)))
            .collect();
        for (s, slot) in self.slots.iter().enumerate() {
            if s == own || !(listing[s] || units.contains(&slot.unit)) {
                continue;
            }
            for p in std::iter::once(slot.current).chain(slot.approved) {
                let plan = &self.plans[p];
                let mut copy = header_of(plan);
                if listing[s] {
                    copy.entries = plan
                        .entries
                        .iter()
                        .zip(&self.names_of[p])
                        .filter(|(e, &name)| {
                            ids.contains(&tiebreak(&e.cadre.national_id))
                                || keys.contains(&person_hash(
                                    self.names.list[name as usize].identity,
                                    e.cadre.birth_date,
                                ))
                        })
                        .map(|(e, _)| e.clone())
                        .collect();
                }
                plans.push(copy);
            }
        }
        Related {
            view: self,
            plans,
            moved,
            persons,
        }
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

    /// The versions held in memory (the current one of each unit × term, and an older
    /// approved one) whose entries list `national_id`, read through the person index, with
    /// those entries.
    pub fn listing(&self, national_id: &str) -> Vec<(&Plan, Vec<&crate::domain::Entry>)> {
        let mut out = Vec::new();
        for &s in self.by_id.get(tiebreak(national_id)) {
            for p in self.slot_plans(s as usize) {
                let plan = &self.plans[p];
                let found: Vec<_> = plan
                    .entries
                    .iter()
                    .filter(|e| e.cadre.national_id == national_id)
                    .collect();
                if !found.is_empty() {
                    out.push((plan, found));
                }
            }
        }
        out.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        out
    }

    /// The national ID, among those the view's plans list, whose `mac` is `reference`: for
    /// links that carry an opaque reference instead of the ID.
    pub fn find_person(&self, reference: &str, mac: impl Fn(&str) -> String) -> Option<String> {
        let mut seen: HashSet<&str> = HashSet::new();
        self.plans
            .iter()
            .flat_map(|p| &p.entries)
            .map(|e| e.cadre.national_id.as_str())
            .filter(|id| seen.insert(id))
            .find(|id| mac(id) == reference)
            .map(str::to_string)
    }

    /// One page of the consolidated list: the rows after `after` that pass `filter`, at most
    /// `limit` of them (0: all), with the cursor of the next page and the total. Only the rows
    /// of the unit × terms within the filter are read; a name filter is resolved once against
    /// the distinct names.
    pub fn page(
        &self,
        hierarchy: &Hierarchy,
        filter: &RowFilter<'_>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Page<'_> {
        let empty = Page {
            rows: Vec::new(),
            next: None,
            total: 0,
        };
        // Resolve every filter to indexes once.
        let term = match filter.term {
            Some(t) => match self.terms.get(t) {
                Some(t) => Some(t),
                None => return empty,
            },
            None => None,
        };
        let in_scope: Vec<usize> = (0..self.slots.len())
            .filter(|&s| {
                let slot = &self.slots[s];
                let plan = &self.plans[slot.current];
                let unit = self.units.name(slot.unit);
                !slot.rows.is_empty()
                    && term.is_none_or(|t| t == slot.term)
                    && filter.status.is_none_or(|st| st == plan.status)
                    && hierarchy.is_within(unit, filter.under)
                    && filter
                        .level
                        .is_none_or(|l| hierarchy.get(unit).is_some_and(|u| u.level == l))
            })
            .collect();
        let position = match filter.position {
            Some(p) => match self.positions.get(p) {
                Some(i) => Some(i),
                None => return empty,
            },
            None => None,
        };
        let name_ok: Option<Vec<bool>> = filter.name.map(|q| self.names.matching(q));
        let born_by = filter.born_by.map(days);
        let born_after = filter.born_after.map(days);
        let keep = |r: &Row| -> bool {
            if position.is_some_and(|x| x != r.position)
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
        let ck = after.map(|c| {
            (
                c.sort_key.as_slice(),
                c.unit.as_str(),
                c.term.as_str(),
                c.position.as_str(),
                c.tiebreak,
            )
        });
        // Where each slot's rows after the cursor start.
        let starts: Vec<usize> = in_scope
            .iter()
            .map(|&s| match ck {
                Some(ck) => self.slots[s].rows.partition_point(|r| self.key(r) <= ck),
                None => 0,
            })
            .collect();
        // Count every match and keep those after the cursor, up to a bound: past it, the filter
        // is dense enough for a merge of the unit × terms' ordered rows to be cheap.
        let wanted = if limit == 0 { usize::MAX } else { limit + 1 };
        let cap = wanted.saturating_mul(64).max(65_536);
        let mut total = 0u64;
        let mut scanned = 0usize;
        let mut hits: Vec<&Row> = Vec::new();
        let mut dense = false;
        for (&s, &start) in in_scope.iter().zip(&starts) {
            let rows = &self.slots[s].rows;
            scanned += rows.len() - start;
            for (i, r) in rows.iter().enumerate() {
                if keep(r) {
                    total += 1;
                    if i >= start && !dense {
                        if hits.len() == cap {
                            dense = true;
                            hits = Vec::new();
                        } else {
                            hits.push(r);
                        }
                    }
                }
            }
        }
        // Otherwise merging walks about `wanted × scanned / hits` rows, and selecting the
        // first `wanted` of the hits reads each a few times: take the cheaper.
        let walk = wanted.saturating_mul(scanned) / hits.len().max(1);
        let merge = dense || (wanted < hits.len() && walk < hits.len() / 8);
        let mut chosen: Vec<&Row> = if merge {
            drop(hits);
            let mut heap = std::collections::BinaryHeap::new();
            for (k, (&s, &start)) in in_scope.iter().zip(&starts).enumerate() {
                if let Some(r) = self.slots[s].rows.get(start) {
                    heap.push(std::cmp::Reverse((self.key(r), k, start)));
                }
            }
            let mut out = Vec::new();
            while let Some(std::cmp::Reverse((_, k, i))) = heap.pop() {
                let rows = &self.slots[in_scope[k]].rows;
                if keep(&rows[i]) {
                    out.push(&rows[i]);
                    if out.len() == wanted {
                        break;
                    }
                }
                if let Some(r) = rows.get(i + 1) {
                    heap.push(std::cmp::Reverse((self.key(r), k, i + 1)));
                }
            }
            out
        } else {
            if wanted < hits.len() {
                hits.select_nth_unstable_by(wanted - 1, |a, b| self.cmp_rows(a, b));
                hits.truncate(wanted);
            }
            hits.sort_unstable_by(|a, b| self.cmp_rows(a, b));
            hits
        };
        let next = if chosen.len() > limit && limit > 0 {
            chosen.truncate(limit);
            chosen.last().map(|l| {
                let (sort_key, unit, term, position, tiebreak) = self.key(l);
                Cursor {
                    sort_key: sort_key.to_vec(),
                    unit: unit.into(),
                    term: term.into(),
                    position: position.into(),
                    tiebreak,
                }
            })
        } else {
            None
        };
        let rows = chosen
            .into_iter()
            .map(|r| {
                let plan = &self.plans[self.slots[r.slot as usize].current];
                let e = self.entry(r);
                RowOut {
                    id: &plan.id,
                    status: plan.status,
                    position: &e.position,
                    full_name: &e.cadre.full_name,
                    national_id: &e.cadre.national_id,
                    birth_date: e.cadre.birth_date,
                    gender: e.cadre.gender,
                    votes: r.votes,
                    source: e.source,
                }
            })
            .collect();
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

/// How rows are ordered: the name's collation key, then unit, term, position and the hash of
/// the national ID.
type RowKey<'s> = (&'s [u8], &'s str, &'s str, &'s str, u64);

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
        let all = view.plans().to_vec();
        let whole = Snapshot {
            plans: &all,
            hierarchy: &hierarchy,
            catalog: &catalog,
            submitted: &[],
        };
        let mut compared = 0;
        for plan in g.plans.iter().step_by(g.plans.len() / 12 + 1) {
            let also = HashSet::new();
            let want = rules::check_incremental(&whole, &plan.id, &Scope::default(), today, &rules);
            let related = view.related(&plan.id, &also, &rules);
            assert!(related.plans().len() < all.len() || all.len() < 3);
            let part = Snapshot {
                plans: related.plans(),
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
