//! The index a check shares between its cross-plan rules (R3, R5, R21), built in one pass over
//! the current plans: national IDs numbered as dense `u32` person numbers behind a fast hasher,
//! and every entry grouped by person in one flat array (a counting sort, not a vector per
//! person). The rules read a person's entries as a slice of [`Row`]s; nothing here owns a
//! string.
//!
//! [`NameKeys`] numbers the identity keys of names ([`crate::domain::name::key`]), each distinct
//! spelling keyed once, so that rules compare names as numbers.

use std::rc::Rc;

use chrono::{Datelike, NaiveDate};
use foldhash::{HashMap, HashSet};

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
        let mut rows = Vec::with_capacity(plans.iter().map(|p| p.entries.len()).sum());
        for (pi, plan) in plans.iter().enumerate() {
            for (ei, e) in plan.entries.iter().enumerate() {
                if keep(e) {
                    rows.push(Row {
                        plan: index_u32(pi),
                        entry: index_u32(ei),
                    });
                }
            }
        }
        Self::from_rows(plans, rows)
    }

    /// Indexes the entries `rows` of `plans`, given in plan order, then entry order.
    pub(crate) fn from_rows(plans: &'a [&'a Plan], scanned: Vec<Row>) -> Self {
        let mut number: HashMap<&'a str, u32> =
            HashMap::with_capacity_and_hasher(scanned.len(), Default::default());
        let mut ids: Vec<&'a str> = Vec::new();
        let mut counts: Vec<u32> = Vec::new();
        // Each row's person, in the order given.
        let mut person: Vec<u32> = Vec::with_capacity(scanned.len());
        for row in &scanned {
            let id = plans[row.plan as usize].entries[row.entry as usize]
                .cadre
                .national_id
                .as_str();
            let p = *number.entry(id).or_insert_with(|| {
                ids.push(id);
                counts.push(0);
                index_u32(ids.len() - 1)
            });
            counts[p as usize] += 1;
            person.push(p);
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
        for (p, row) in person.into_iter().zip(scanned) {
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

/// A name's identity key (numbered by [`NameKeys`]) and a birth date: what R21 takes to be one
/// person whatever national ID they are recorded under.
pub(crate) type Identity = (u32, NaiveDate);

/// The records R21's second part needs in an incremental check: the identities of the persons
/// checked, and the records of everyone else that share one of them.
pub(crate) struct Focus<'a> {
    /// The identities of the checked persons' records.
    pub identities: HashSet<Identity>,
    /// The other persons' records that have one of `identities`.
    pub others: Persons<'a>,
}

/// What an incremental check reads, gathered in one scan of the current `plans` (a second one
/// only when a checked person is recorded elsewhere under another name or birth date): the
/// records of the persons `wanted`, and the [`Focus`] of R21. `seed` are the records of the
/// plan that arrived (every version held), whose identities are known before the scan.
pub(crate) fn gather<'a>(
    plans: &'a [&'a Plan],
    wanted: &HashSet<&str>,
    seed: impl Iterator<Item = &'a Cadre>,
    keys: &mut NameKeys<'a>,
) -> (Persons<'a>, Focus<'a>) {
    let mut identities: HashSet<Identity> = HashSet::default();
    for c in seed {
        identities.insert((keys.of(&c.full_name), c.birth_date));
    }
    let mut checked: Vec<Row> = Vec::new();
    let mut others: Vec<Row> = Vec::new();
    let mut found: HashSet<Identity> = HashSet::default();
    let mut filter = Filter::new(&identities, keys);
    let bloom = Bloom::new(wanted.iter().copied());
    // Whether each entry of a plan may be a checked person's: computed for the whole plan in a
    // tight loop first, so that the processor fetches many IDs from memory at once.
    let mut may: Vec<bool> = Vec::new();
    for (pi, plan) in plans.iter().enumerate() {
        may.clear();
        may.extend(
            plan.entries
                .iter()
                .map(|e| bloom.may_hold(&e.cadre.national_id)),
        );
        for ((ei, e), &may) in plan.entries.iter().enumerate().zip(&may) {
            let c = &e.cadre;
            let row = Row {
                plan: index_u32(pi),
                entry: index_u32(ei),
            };
            if may && wanted.contains(c.national_id.as_str()) {
                checked.push(row);
                let identity = (keys.of(&c.full_name), c.birth_date);
                if !identities.contains(&identity) {
                    found.insert(identity);
                }
            } else if filter.may_have(c)
                && identities.contains(&(keys.of(&c.full_name), c.birth_date))
            {
                others.push(row);
            }
        }
    }
    if !found.is_empty() {
        // Identities met on the way: the records that share them.
        filter = Filter::new(&found, keys);
        for (pi, plan) in plans.iter().enumerate() {
            for (ei, e) in plan.entries.iter().enumerate() {
                let c = &e.cadre;
                if filter.may_have(c)
                    && !(bloom.may_hold(&c.national_id) && wanted.contains(c.national_id.as_str()))
                    && found.contains(&(keys.of(&c.full_name), c.birth_date))
                {
                    others.push(Row {
                        plan: index_u32(pi),
                        entry: index_u32(ei),
                    });
                }
            }
        }
        others.sort_unstable_by_key(|r| (r.plan, r.entry));
        identities.extend(found);
    }
    (
        Persons::from_rows(plans, checked),
        Focus {
            identities,
            others: Persons::from_rows(plans, others),
        },
    )
}

/// A set of national IDs as a bit per hash of their last eight bytes: most IDs it does not hold
/// are told apart by one load from a small table, without hashing the ID in full.
struct Bloom {
    /// 2¹⁶ bits.
    bits: Vec<u64>,
}

impl Bloom {
    fn new<'a>(ids: impl Iterator<Item = &'a str>) -> Self {
        let mut bits = vec![0u64; (1 << 16) / 64];
        for id in ids {
            let i = Self::slot(id);
            bits[i / 64] |= 1 << (i % 64);
        }
        Self { bits }
    }

    fn slot(id: &str) -> usize {
        let b = id.as_bytes();
        let tail = match b.len().checked_sub(8).and_then(|at| b.get(at..)) {
            Some(last) => last.try_into().map_or(0, u64::from_le_bytes),
            None => b.iter().fold(0, |x, &c| x << 8 | u64::from(c)),
        };
        let x = (tail ^ b.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        usize::try_from(x >> 48).unwrap_or(0)
    }

    /// Returns false only if `id` is not in the set.
    fn may_hold(&self, id: &str) -> bool {
        let i = Self::slot(id);
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }
}

/// A cheap test that a record may have one of a few identities, which spares keying the names
/// of the records that cannot: by birth date (a bit per day), then by the name's
/// [`name::fingerprint`].
struct Filter {
    /// The first day of `days`, counted from the common era.
    first: i32,
    /// A bit per day from `first`: some identity has that birth date.
    days: Vec<u64>,
    /// (birth date, fingerprint) of every identity whose key has a fingerprint.
    prints: HashSet<(NaiveDate, u64)>,
    /// The birth dates of the identities whose key has none: any name may have those.
    open: HashSet<NaiveDate>,
}

impl Filter {
    fn new(identities: &HashSet<Identity>, keys: &NameKeys<'_>) -> Self {
        let day = |d: &NaiveDate| d.num_days_from_ce();
        let first = identities.iter().map(|(_, b)| day(b)).min().unwrap_or(0);
        let last = identities.iter().map(|(_, b)| day(b)).max().unwrap_or(0);
        let span = usize::try_from(i64::from(last) - i64::from(first) + 1).unwrap_or(0);
        let mut days = vec![0u64; span.div_ceil(64)];
        let mut prints = HashSet::default();
        let mut open = HashSet::default();
        for (k, b) in identities {
            let i = usize::try_from(day(b) - first).unwrap_or(0);
            days[i / 64] |= 1 << (i % 64);
            match name::fingerprint(keys.key(*k)) {
                Some(f) => {
                    prints.insert((*b, f));
                }
                None => {
                    open.insert(*b);
                }
            }
        }
        Self {
            first,
            days,
            prints,
            open,
        }
    }

    /// Returns false only if `c` has none of the identities.
    fn may_have(&self, c: &Cadre) -> bool {
        let Some(i) = c
            .birth_date
            .num_days_from_ce()
            .checked_sub(self.first)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return false;
        };
        if self
            .days
            .get(i / 64)
            .is_none_or(|w| w & (1 << (i % 64)) == 0)
        {
            return false;
        }
        if !self.open.is_empty() && self.open.contains(&c.birth_date) {
            return true;
        }
        name::fingerprint(&c.full_name).is_none_or(|f| self.prints.contains(&(c.birth_date, f)))
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
        a.entries
            .push(voted(&mut a.rounds, cadre(ID1, "A"), "D.BT"));
        a.entries
            .push(voted(&mut a.rounds, cadre(ID2, "B"), "D.BT"));
        a.entries
            .push(voted(&mut a.rounds, cadre(ID1, "A"), "D.HUV"));
        b.entries
            .push(voted(&mut b.rounds, cadre(ID1, "A"), "D.BT"));
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
