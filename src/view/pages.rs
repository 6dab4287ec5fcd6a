//! What the web pages read of the view for a whole province at once (issue 26): any page of the
//! consolidated list in name order without merging the rows before it, and the terms held
//! within a subtree.
//!
//! A page of a list filtered by plan only (subtree, term, status, level) is found by rank: the
//! rows of the unit × terms within the filter are each sorted already, so the first `offset`
//! rows of their merge are a prefix of each, and those prefixes are found by bisection, each
//! round narrowing every unit × term's range by the same pivot (the weighted median of the
//! ranges' middles, so that a round settles at least a quarter of the rows still open). The
//! page itself is then merged from there: `size` rows, whatever its number.

use std::cmp::Ordering;

use super::{
    list::{Page, Row, RowFilter, RowKey, RowOut},
    View,
};
use crate::domain::Hierarchy;

impl View {
    /// The unit × terms (as slots) whose current, non-draft plan the plan-level part of
    /// `filter` keeps: subtree, term, status and level.
    pub(super) fn slots_within(&self, hierarchy: &Hierarchy, filter: &RowFilter<'_>) -> Vec<usize> {
        let term = match filter.term {
            Some(t) => match self.terms.get(t) {
                Some(t) => Some(t),
                None => return Vec::new(),
            },
            None => None,
        };
        (0..self.slots.len())
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
            .collect()
    }

    /// How many rows the consolidated list holds under `filter`, when it keeps or drops whole
    /// plans only (no position, name, gender, age or finding); `None` otherwise.
    pub fn total_by_plans(&self, hierarchy: &Hierarchy, filter: &RowFilter<'_>) -> Option<usize> {
        by_plans_only(filter).then(|| {
            self.slots_within(hierarchy, filter)
                .iter()
                .map(|&s| self.slots[s].rows.len())
                .sum()
        })
    }

    /// Rows `offset..offset + size` of the consolidated list in name order (`size` 0: every row
    /// from `offset`), with the total, when `filter` keeps or drops whole plans only (no
    /// position, name, gender, age or finding); `None` otherwise, for [`View::page`] to answer.
    /// An offset past the end gives no rows. The cost is that of the page, not of the rows
    /// before it: about `slots × log(rows)` key comparisons to find where the page starts.
    pub fn page_at(
        &self,
        hierarchy: &Hierarchy,
        filter: &RowFilter<'_>,
        offset: usize,
        size: usize,
    ) -> Option<Page<'_>> {
        if !by_plans_only(filter) {
            return None;
        }
        let slots = self.slots_within(hierarchy, filter);
        let lists: Vec<&[Row]> = slots.iter().map(|&s| &self.slots[s].rows[..]).collect();
        let total: usize = lists.iter().map(|l| l.len()).sum();
        let starts = self.split_at_rank(&lists, offset.min(total));
        let wanted = if size == 0 {
            total.saturating_sub(offset)
        } else {
            size
        };
        let mut heap = std::collections::BinaryHeap::new();
        for (k, (&list, &start)) in lists.iter().zip(&starts).enumerate() {
            if let Some(r) = list.get(start) {
                heap.push(std::cmp::Reverse((self.key(r), k, start)));
            }
        }
        let mut chosen: Vec<&Row> = Vec::with_capacity(wanted.min(total));
        while chosen.len() < wanted {
            let Some(std::cmp::Reverse((_, k, i))) = heap.pop() else {
                break;
            };
            chosen.push(&lists[k][i]);
            if let Some(r) = lists[k].get(i + 1) {
                heap.push(std::cmp::Reverse((self.key(r), k, i + 1)));
            }
        }
        let rows = chosen.into_iter().map(|r| self.row_out(r)).collect();
        Some(Page {
            rows,
            next: None,
            total: total as u64,
        })
    }

    /// A row as a caller reads it (the pages by rank and by filter alike).
    pub(super) fn row_out(&self, r: &Row) -> RowOut<'_> {
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
    }

    /// How many rows of each sorted list come before rank `rank` of their merge: the prefix
    /// lengths, summing to `rank` (at most the rows there are). Rows are ordered by their key,
    /// then by list and place, so that equal keys still have one order.
    fn split_at_rank(&self, lists: &[&[Row]], rank: usize) -> Vec<usize> {
        // Every row below `lo` is among the first `rank`, none from `hi` on.
        let mut lo = vec![0usize; lists.len()];
        let mut hi: Vec<usize> = lists.iter().map(|l| l.len()).collect();
        let full = |k: usize, i: usize| (self.key(&lists[k][i]), k, i);
        let cmp = |a: &(RowKey<'_>, usize, usize), b: &(RowKey<'_>, usize, usize)| a.cmp(b);
        loop {
            let open: Vec<usize> = (0..lists.len()).filter(|&k| lo[k] < hi[k]).collect();
            if open.is_empty() {
                return lo;
            }
            // The pivot: the weighted median of the open ranges' middle rows.
            let mut middles: Vec<(usize, usize, usize)> = open
                .iter()
                .map(|&k| (k, lo[k] + (hi[k] - lo[k]) / 2, hi[k] - lo[k]))
                .collect();
            middles.sort_unstable_by(|a, b| cmp(&full(a.0, a.1), &full(b.0, b.1)));
            let weight: usize = middles.iter().map(|m| m.2).sum();
            let mut seen = 0;
            let &(pk, pi, _) = middles
                .iter()
                .find(|m| {
                    seen += m.2;
                    seen * 2 >= weight
                })
                .expect("an open range");
            let pivot = full(pk, pi);
            // Below the pivot, in each open range.
            let below: Vec<usize> = open
                .iter()
                .map(|&k| {
                    let (mut a, mut b) = (lo[k], hi[k]);
                    while a < b {
                        let m = a + (b - a) / 2;
                        if cmp(&full(k, m), &pivot) == Ordering::Less {
                            a = m + 1;
                        } else {
                            b = m;
                        }
                    }
                    a
                })
                .collect();
            let settled: usize = (0..lists.len())
                .map(|k| match open.iter().position(|&o| o == k) {
                    Some(n) => below[n],
                    None => lo[k],
                })
                .sum();
            if settled < rank {
                // The pivot and everything below it are among the first `rank`.
                for (n, &k) in open.iter().enumerate() {
                    lo[k] = below[n];
                }
                lo[pk] = pi + 1;
            } else {
                // The pivot and everything above it are not.
                for (n, &k) in open.iter().enumerate() {
                    hi[k] = below[n];
                }
            }
        }
    }

    /// The terms of the plans held within `under` (any status, drafts too), each once, in no
    /// particular order.
    pub fn terms_within(&self, hierarchy: &Hierarchy, under: &str) -> Vec<String> {
        let mut seen = vec![false; self.terms.names.len()];
        for slot in &self.slots {
            if !seen[slot.term as usize] && hierarchy.is_within(self.units.name(slot.unit), under) {
                seen[slot.term as usize] = true;
            }
        }
        seen.iter()
            .enumerate()
            .filter(|(_, &s)| s)
            .map(|(t, _)| self.terms.name(t as u32).to_string())
            .collect()
    }
}

/// Whether `filter` keeps or drops whole plans only: subtree, term, status, level.
fn by_plans_only(filter: &RowFilter<'_>) -> bool {
    filter.position.is_none()
        && filter.name.is_none()
        && filter.gender.is_none()
        && filter.born_by.is_none()
        && filter.born_after.is_none()
        && filter.flagged.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config,
        rules::RulesFile,
        synth::{generate, Size, Spec},
    };

    fn ids(page: &Page<'_>) -> Vec<(String, String, String)> {
        page.rows
            .iter()
            .map(|r| {
                (
                    r.id.to_string(),
                    r.position.to_string(),
                    r.national_id.to_string(),
                )
            })
            .collect()
    }

    /// Every page found by rank holds exactly the rows of the whole merged list at its place,
    /// for the whole province, one district and one term, with pages of several sizes, the
    /// last one short, and offsets past the end.
    #[test]
    fn a_page_by_rank_is_the_same_slice_of_the_merged_list() {
        let (hierarchy, _, g) = crate::synthetic_province(11, 4_000);
        let view = View::of_plans(&g.plans, &RulesFile::default());
        let district = g
            .plans
            .iter()
            .find_map(|p| {
                hierarchy
                    .get(&p.id.unit)
                    .filter(|u| u.level == crate::domain::Level::District)
                    .map(|u| u.code.clone())
            })
            .unwrap();
        let term = g.plans[0].id.term.clone();
        let mut compared = 0;
        for (under, term) in [
            ("40", None),
            (district.as_str(), None),
            ("40", Some(&*term)),
        ] {
            let filter = RowFilter {
                under,
                term: term.map(|t| t as &str),
                ..Default::default()
            };
            let whole = ids(&view.page(&hierarchy, &filter, None, 0));
            let total = view.total_by_plans(&hierarchy, &filter).unwrap();
            assert_eq!(total, whole.len());
            assert!(total > 100, "{under}: {total} rows");
            for size in [1, 7, 50] {
                for offset in (0..total + 3).step_by(total / 9 + 1).chain([total - 1]) {
                    let page = view.page_at(&hierarchy, &filter, offset, size).unwrap();
                    assert_eq!(page.total as usize, total);
                    let end = (offset + size).min(total);
                    let want = whole.get(offset.min(total)..end).unwrap_or_default();
                    assert_eq!(
                        ids(&page),
                        want,
                        "{under} {term:?} at {offset}, {size} a page"
                    );
                    compared += 1;
                }
            }
            // Size 0: everything from the offset.
            let rest = view.page_at(&hierarchy, &filter, total / 2, 0).unwrap();
            assert_eq!(ids(&rest), whole[total / 2..]);
        }
        assert!(compared > 60);
        // A filter on rows is not answered by rank.
        let by_position = RowFilter {
            under: "40",
            position: Some("C.BT"),
            ..Default::default()
        };
        assert!(view.page_at(&hierarchy, &by_position, 0, 10).is_none());
        assert!(view.total_by_plans(&hierarchy, &by_position).is_none());
    }

    #[test]
    fn the_terms_within_a_subtree_are_those_of_its_plans() {
        let hierarchy = config::load_units("builtin:2024").unwrap();
        let catalog = config::builtin_catalog().unwrap();
        let mut spec = Spec::sized("40", Size::M, 3);
        spec.target_entries = 3_000;
        let g = generate(&hierarchy, &catalog, &spec);
        let view = View::of_plans(&g.plans, &RulesFile::default());
        let mut held: Vec<String> = g.plans.iter().map(|p| p.id.term.clone()).collect();
        held.sort();
        held.dedup();
        let mut found = view.terms_within(&hierarchy, "40");
        found.sort();
        assert_eq!(found, held);
        assert!(view.terms_within(&hierarchy, "no-such-unit").is_empty());
    }
}
