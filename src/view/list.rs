//! The consolidated list in the view. The view keeps two forms: the rules read whole plans (the
//! current version of each unit × term and, when it is older, the latest approved one, which R5
//! compares against); the consolidated list reads compact rows: one per entry of a current, non-draft plan, naming the entry by its
//! index in that plan (no string is copied per entry), an interned name (its folded search form
//! and its collation key, computed once per distinct name), an interned position, and the
//! votes; kept per unit × term in list order (Vietnamese name order, then unit, term and
//! position), so that a page reads only the unit × terms within its filter, merged in order,
//! and a cursor is the key of the last row given. A name search is one substring search over
//! the distinct folded names laid end to end.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use super::{
    persons::{days, name_identity, person_key, tiebreak},
    View,
};
use crate::{
    domain::{text, Catalog, EntrySource, Gender, Hierarchy, Level, PlanId, PlanStatus},
    rules::RulesFile,
};

/// A distinct full name, with what searching and sorting need, computed once.
pub(super) struct Name {
    /// The collation key of the name ([`text::name_sort_key`]).
    pub(super) sort_key: Box<[u8]>,
    /// A hash of the name's identity key ([`person_key`]), for the person index.
    pub(super) identity: u64,
}

/// One line of the consolidated list, compact.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row {
    /// The entry's name.
    pub(super) name: u32,
    pub(super) slot: u32,
    /// The entry's index in its slot's current plan (cadre, position, source are read there).
    pub(super) entry: u32,
    pub(super) position: u32,
    /// Orders entries of one name without putting a national ID into a cursor.
    pub(super) tiebreak: u64,
    /// Yes votes and their denominator (R19), when a round voted on the entry.
    pub(super) votes: Option<(u32, u32)>,
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

/// Every distinct full name the view has seen, with what searching and sorting need, and the
/// folded forms laid end to end so that a name search is one substring search of one buffer.
#[derive(Default)]
pub(super) struct Names {
    pub(super) list: Vec<Name>,
    pub(super) index: HashMap<Box<str>, u32>,
    /// Every folded name, each followed by a line feed (no folded name holds one).
    pub(super) folded: String,
    /// Where each name's folded form starts in `folded`.
    pub(super) starts: Vec<u32>,
}

impl Names {
    pub(super) fn intern(&mut self, full_name: &str) -> u32 {
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
    pub(super) fn matching(&self, q: &str) -> Vec<bool> {
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

/// How rows are ordered: the name's collation key, then unit, term, position and the hash of
/// the national ID.
pub(super) type RowKey<'s> = (&'s [u8], &'s str, &'s str, &'s str, u64);

impl View {
    /// Rebuilds the rows of one slot from its current plan, in list order.
    pub(super) fn rebuild_rows(&mut self, s: u32, rules: &RulesFile) {
        let mut fresh = self.rows_of(s, rules);
        fresh.sort_unstable_by(|a, b| self.cmp_rows(a, b));
        self.slots[s as usize].rows = fresh;
    }

    /// The rows of one slot's current plan, unsorted (none for a draft).
    pub(super) fn rows_of(&mut self, s: u32, rules: &RulesFile) -> Vec<Row> {
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

    pub(super) fn key<'s>(&'s self, r: &Row) -> RowKey<'s> {
        let slot = &self.slots[r.slot as usize];
        (
            &self.names.list[r.name as usize].sort_key,
            self.units.name(slot.unit),
            self.terms.name(slot.term),
            self.positions.name(r.position),
            r.tiebreak,
        )
    }

    pub(super) fn cmp_rows(&self, a: &Row, b: &Row) -> std::cmp::Ordering {
        self.key(a).cmp(&self.key(b))
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
        // Resolve every filter to indexes once; an unknown term leaves no slot in scope.
        let in_scope = self.slots_within(hierarchy, filter);
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
                    f.persons.contains(p.national_id.as_str())
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
        let rows = chosen.into_iter().map(|r| self.row_out(r)).collect();
        Page { rows, next, total }
    }

    /// The entry a row stands for.
    pub(super) fn entry(&self, r: &Row) -> &crate::domain::Entry {
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

#[cfg(test)]
mod tests {
    use super::*;

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
