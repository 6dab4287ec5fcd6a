//! The index a check shares between its cross-plan rules (R3, R5, R21), built in one pass over
//! the current plans: national IDs numbered as dense `u32` person numbers behind a fast hasher,
//! and every entry grouped by person in one flat array (a counting sort, not a vector per
//! person). The rules read a person's entries as a slice of [`Row`]s; nothing here owns a
//! string.
//!
//! [`NameKeys`] numbers the identity keys of names ([`crate::domain::name::key`]), each distinct
//! spelling keyed once, so that rules compare names as numbers.

use std::rc::Rc;

use foldhash::HashMap;

use crate::domain::{name, Cadre, Entry, Plan};

/// One entry of a current plan: the plan (its place in the check's current plans) and the
/// entry's place in that plan's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    /// Index into the check's current plans.
    pub plan: u32,
    /// Index into that plan's entries.
    pub entry: u32,
}

/// The entries of the current plans grouped by person.
pub(crate) struct Persons<'a> {
    /// The plans the rows point into.
    plans: &'a [&'a Plan],
    /// Each person's national ID, by person number (numbered in the order first seen).
    ids: Vec<&'a str>,
    /// Person `p`'s rows are `rows[starts[p]..starts[p + 1]]`.
    starts: Vec<u32>,
    /// Every row, grouped by person; each person's in plan order, then entry order.
    rows: Vec<Row>,
}

impl<'a> Persons<'a> {
    /// Indexes the entries of `plans` for which `keep` holds.
    pub(crate) fn build(plans: &'a [&'a Plan], mut keep: impl FnMut(&'a Entry) -> bool) -> Self {
        let total: usize = plans.iter().map(|p| p.entries.len()).sum();
        let mut number: HashMap<&'a str, u32> =
            HashMap::with_capacity_and_hasher(total, Default::default());
        let mut ids: Vec<&'a str> = Vec::new();
        let mut counts: Vec<u32> = Vec::new();
        // Each kept entry's person and row, in scan order.
        let mut scanned: Vec<(u32, Row)> = Vec::with_capacity(total);
        for (pi, plan) in plans.iter().enumerate() {
            for (ei, e) in plan.entries.iter().enumerate() {
                if !keep(e) {
                    continue;
                }
                let id = e.cadre.national_id.as_str();
                let p = *number.entry(id).or_insert_with(|| {
                    ids.push(id);
                    counts.push(0);
                    index_u32(ids.len() - 1)
                });
                counts[p as usize] += 1;
                scanned.push((
                    p,
                    Row {
                        plan: index_u32(pi),
                        entry: index_u32(ei),
                    },
                ));
            }
        }
        drop(number);
        let mut starts = Vec::with_capacity(ids.len() + 1);
        let mut at = 0u32;
        starts.push(0);
        for c in &counts {
            at += c;
            starts.push(at);
        }
        // Reuse the counts as each person's next free slot.
        counts.copy_from_slice(&starts[..ids.len()]);
        let mut rows = vec![Row { plan: 0, entry: 0 }; scanned.len()];
        for (p, row) in scanned {
            let slot = &mut counts[p as usize];
            rows[*slot as usize] = row;
            *slot += 1;
        }
        Self {
            plans,
            ids,
            starts,
            rows,
        }
    }

    /// The number of persons.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The national ID of person `p`.
    pub(crate) fn id(&self, p: usize) -> &'a str {
        self.ids[p]
    }

    /// The rows of person `p`, in plan order, then entry order.
    pub(crate) fn rows(&self, p: usize) -> &[Row] {
        &self.rows[self.starts[p] as usize..self.starts[p + 1] as usize]
    }

    /// The plan of a row.
    pub(crate) fn plan(&self, row: Row) -> &'a Plan {
        self.plans[row.plan as usize]
    }

    /// The plan at `i` in the plans indexed.
    pub(crate) fn plan_at(&self, i: u32) -> &'a Plan {
        self.plans[i as usize]
    }

    /// The entry of a row.
    pub(crate) fn entry(&self, row: Row) -> &'a Entry {
        &self.plans[row.plan as usize].entries[row.entry as usize]
    }

    /// The cadre record of a row.
    pub(crate) fn cadre(&self, row: Row) -> &'a Cadre {
        &self.entry(row).cadre
    }
}

/// An index as a `u32`; the check's plans and entries number far fewer than 2³².
fn index_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// The rows of one person split by plan: each item is the person's rows in one plan.
pub(crate) fn by_plan(rows: &[Row]) -> impl Iterator<Item = &[Row]> {
    rows.chunk_by(|a, b| a.plan == b.plan)
}

/// Identity keys of names ([`name::key`]), numbered: two names have the same number if and only
/// if they have the same key. Each distinct spelling is keyed once.
#[derive(Default)]
pub(crate) struct NameKeys<'a> {
    /// Spelling → key number.
    by_spelling: HashMap<&'a str, u32>,
    /// Key → key number.
    by_key: HashMap<Rc<str>, u32>,
    /// Key number → key.
    keys: Vec<Rc<str>>,
}

impl<'a> NameKeys<'a> {
    /// The number of `spelling`'s identity key.
    pub(crate) fn of(&mut self, spelling: &'a str) -> u32 {
        if let Some(&n) = self.by_spelling.get(spelling) {
            return n;
        }
        let key: Rc<str> = name::key(spelling).into();
        let n = match self.by_key.get(&key) {
            Some(&n) => n,
            None => {
                let n = index_u32(self.keys.len());
                self.keys.push(key.clone());
                self.by_key.insert(key, n);
                n
            }
        };
        self.by_spelling.insert(spelling, n);
        n
    }

    /// The identity key numbered `n`.
    pub(crate) fn key(&self, n: u32) -> &str {
        &self.keys[n as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn rows_are_grouped_by_person_in_plan_then_entry_order() {
        let mut a = plan("412", "2025-2030", 1);
        let mut b = plan("414", "2025-2030", 1);
        a.entries.push(voted(&mut a.rounds, cadre(ID1, "A"), "D.BT"));
        a.entries.push(voted(&mut a.rounds, cadre(ID2, "B"), "D.BT"));
        a.entries.push(voted(&mut a.rounds, cadre(ID1, "A"), "D.HUV"));
        b.entries.push(voted(&mut b.rounds, cadre(ID1, "A"), "D.BT"));
        let plans = [&a, &b];
        let index = Persons::build(&plans, |_| true);
        assert_eq!(index.len(), 2);
        assert_eq!(index.id(0), ID1);
        let rows: Vec<(u32, u32)> = index.rows(0).iter().map(|r| (r.plan, r.entry)).collect();
        assert_eq!(rows, [(0, 0), (0, 2), (1, 0)]);
        assert_eq!(by_plan(index.rows(0)).count(), 2);
        assert_eq!(index.rows(1), [Row { plan: 0, entry: 1 }]);
        let only_b = Persons::build(&plans, |e| e.cadre.national_id == ID2);
        assert_eq!(only_b.len(), 1);
        assert_eq!(only_b.cadre(only_b.rows(0)[0]).full_name, "B");
    }

    #[test]
    fn name_keys_number_spellings_of_one_name_alike() {
        let mut keys = NameKeys::default();
        let a = keys.of("Nguyễn Thị Hoà");
        let b = keys.of("NGUYỄN THỊ HÒA");
        let c = keys.of("Nguyễn Thị Hóa");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(keys.key(a), name::key("Nguyễn Thị Hòa"));
    }
}
