//! The person index maps a national ID, a name (by its identity key) with a birth date, and a
//! unit worked in, to the unit × terms whose plans list them; it is updated whenever a plan
//! version replaces another, so that an incremental check reads only the related plans
//! ([`View::related`]) and a person's page reads only the plans that list them.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate};

use super::View;
use crate::{
    domain::{text, Plan, PlanId},
    rules::RulesFile,
};

/// The search form of a name: lower case, no diacritics, đ as d (a search for "nguyen thi hoa"
/// finds Nguyễn Thị Hoà).
pub fn name_identity(name: &str) -> String {
    text::fold(name)
}

/// The key under which two records name one person (R21): the identity key of the name
/// ([`crate::domain::name::key`]), in one function so that the view and the rules agree.
pub(super) fn person_key(name: &str) -> String {
    crate::domain::name::key(name)
}

pub(super) fn days(d: NaiveDate) -> i32 {
    d.num_days_from_ce()
}

/// FNV-1a over `bytes`, continuing from `h`: tiny, and stable across runs and builds.
pub(super) fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

pub(super) const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// A short stable hash of a national ID, for ordering rows without naming the ID and as the
/// person index's key.
pub(super) fn tiebreak(national_id: &str) -> u64 {
    fnv(FNV_START, national_id.as_bytes())
}

/// The person index's key for a name's identity key and a birth date.
pub(super) fn person_hash(identity: u64, birth: NaiveDate) -> u64 {
    fnv(identity, &days(birth).to_le_bytes())
}

/// The slots that list one key: most keys are in one or two slots. The rare longer list is
/// boxed so that a set is 16 bytes (a `Vec` inline made it 24, and each bucket of the
/// indexes 33 bytes instead of 25).
#[derive(Debug, Clone)]
pub(super) enum SlotSet {
    One([u32; 1]),
    Two([u32; 2]),
    #[allow(clippy::box_collection)]
    Many(Box<Vec<u32>>),
}

/// Keys (hashes of a national ID, a name and birth date, a unit) to the slots whose plans
/// list them. A hash collision only adds a slot to a look-up, and every caller reads the
/// slot's plans to confirm, so it costs time, never a wrong answer.
#[derive(Default)]
pub(super) struct SlotIndex(pub(super) HashMap<u64, SlotSet, foldhash::fast::RandomState>);

impl SlotIndex {
    pub(super) fn insert(&mut self, key: u64, s: u32) {
        let set = match self.0.entry(key) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(SlotSet::One([s]));
                return;
            }
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        };
        match set {
            SlotSet::One([a]) => {
                if *a != s {
                    *set = SlotSet::Two([*a, s]);
                }
            }
            SlotSet::Two([a, b]) => {
                if *a != s && *b != s {
                    *set = SlotSet::Many(Box::new(vec![*a, *b, s]));
                }
            }
            SlotSet::Many(v) => {
                if !v.contains(&s) {
                    v.push(s);
                }
            }
        }
    }

    pub(super) fn remove(&mut self, key: u64, s: u32) {
        let Some(set) = self.0.get_mut(&key) else {
            return;
        };
        let next = match set {
            SlotSet::One([a]) if *a == s => None,
            SlotSet::Two([a, b]) if *a == s => Some(SlotSet::One([*b])),
            SlotSet::Two([a, b]) if *b == s => Some(SlotSet::One([*a])),
            SlotSet::Many(v) => {
                v.retain(|&x| x != s);
                match v.as_slice() {
                    [] => None,
                    [a] => Some(SlotSet::One([*a])),
                    [a, b] => Some(SlotSet::Two([*a, *b])),
                    _ => return,
                }
            }
            _ => return,
        };
        match next {
            Some(n) => *set = n,
            None => drop(self.0.remove(&key)),
        }
    }

    pub(super) fn get(&self, key: u64) -> &[u32] {
        match self.0.get(&key) {
            Some(SlotSet::One(a)) => a,
            Some(SlotSet::Two(a)) => a,
            Some(SlotSet::Many(v)) => v.as_slice(),
            None => &[],
        }
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

impl View {
    /// Adds (or removes) a slot's versions to (from) the person indexes.
    pub(super) fn index_slot(&mut self, s: usize, add: bool) {
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
                        persons.insert(e.cadre.national_id.to_string());
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
                        persons.insert(e.cadre.national_id.to_string());
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
                let mut copy = plan.header_only();
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

    /// The versions held in memory (the current one of each unit × term, and an older
    /// approved one) whose entries list `national_id`, read through the person index, with
    /// those entries.
    pub fn listing(&self, national_id: &str) -> Vec<(&Plan, Vec<&crate::domain::Entry>)> {
        let mut out = Vec::new();
        for &s in self.by_id.get(tiebreak(national_id)) {
            for p in self.slot_plans(s as usize) {
                let plan = &self.plans[p];
                let found: Vec<_> = plan.entries_of(national_id).collect();
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
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::NaiveDate;

    use super::*;
    use crate::rules::{self, RulesFile, Scope, Snapshot};

    /// A re-check over the related plans finds what a re-check over the whole view finds, for
    /// district and commune plans of a synthetic province with persons listed in several units.
    #[test]
    fn a_check_over_the_related_plans_equals_one_over_the_whole_view() {
        let (hierarchy, catalog, g) = crate::synthetic_province(7, 6_000);
        let rules = RulesFile::default();
        let mut view = View::of_plans(&g.plans, &rules);
        let today = NaiveDate::from_ymd_opt(2025, 11, 1).unwrap();
        let all = view.plans().to_vec();
        let whole = Snapshot {
            plans: &all,
            hierarchy: &hierarchy,
            catalog: &catalog,
            submitted: &[],
            fulfilled: &[],
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
}
