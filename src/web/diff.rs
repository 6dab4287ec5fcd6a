//! The difference between two versions of a plan: who was added, who was removed, who moved to
//! another position, and whose votes changed. Pure.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::{Entry, Plan};

/// One person's line in a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    /// Số CCCD.
    pub national_id: String,
    pub full_name: String,
    /// Positions in the older version (for a move or a removal), sorted.
    pub before: Vec<String>,
    /// Positions in the newer version (for a move or an addition), sorted.
    pub after: Vec<String>,
}

/// A change of votes for one person and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteChange {
    pub national_id: String,
    pub full_name: String,
    pub position: String,
    /// Yes votes of the last round that voted on the line, in each version.
    pub before: Option<u32>,
    pub after: Option<u32>,
}

/// What changed from one version of a plan to another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanDiff {
    /// Persons in the newer version only.
    pub added: Vec<DiffLine>,
    /// Persons in the older version only.
    pub removed: Vec<DiffLine>,
    /// Persons in both, planned for other positions.
    pub moved: Vec<DiffLine>,
    /// Lines in both whose yes votes differ.
    pub votes: Vec<VoteChange>,
}

fn by_person(plan: &Plan) -> BTreeMap<&str, (&Entry, BTreeSet<&str>)> {
    let mut out: BTreeMap<&str, (&Entry, BTreeSet<&str>)> = BTreeMap::new();
    for e in &plan.entries {
        out.entry(e.cadre.national_id.as_str())
            .or_insert_with(|| (e, BTreeSet::new()))
            .1
            .insert(e.position.as_str());
    }
    out
}

/// The difference from `older` to `newer`, persons in Vietnamese name order.
pub fn diff_plans(older: &Plan, newer: &Plan) -> PlanDiff {
    let a = by_person(older);
    let b = by_person(newer);
    let line = |e: &Entry, before: &BTreeSet<&str>, after: &BTreeSet<&str>| DiffLine {
        national_id: e.cadre.national_id.to_string(),
        full_name: e.cadre.full_name.to_string(),
        before: before.iter().map(|s| s.to_string()).collect(),
        after: after.iter().map(|s| s.to_string()).collect(),
    };
    let none = BTreeSet::new();
    let mut diff = PlanDiff::default();
    for (id, (e, positions)) in &b {
        match a.get(id) {
            None => diff.added.push(line(e, &none, positions)),
            Some((_, old)) if old != positions => diff.moved.push(line(e, old, positions)),
            Some(_) => {}
        }
    }
    for (id, (e, positions)) in &a {
        if !b.contains_key(id) {
            diff.removed.push(line(e, positions, &none));
        }
    }
    for e in &newer.entries {
        let id = &e.cadre.national_id;
        if !a
            .get(id.as_str())
            .is_some_and(|(_, p)| p.contains(e.position.as_str()))
        {
            continue;
        }
        let before = older.votes_for(id, &e.position).map(|(_, y)| y);
        let after = newer.votes_for(id, &e.position).map(|(_, y)| y);
        if before != after {
            diff.votes.push(VoteChange {
                national_id: id.to_string(),
                full_name: e.cadre.full_name.to_string(),
                position: e.position.to_string(),
                before,
                after,
            });
        }
    }
    let order =
        |x: &DiffLine, y: &DiffLine| crate::domain::text::compare_names(&x.full_name, &y.full_name);
    diff.added.sort_by(order);
    diff.removed.sort_by(order);
    diff.moved.sort_by(order);
    diff
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{Cadre, PlanId},
        rules::testkit,
    };

    /// An entry added by the authority: a man born 1 January 1980 holding no post in 412.
    fn entry(id: &str, name: &str, position: &str) -> Entry {
        let cadre = Cadre {
            birth_date: testkit::d(1980, 1, 1),
            current_positions: vec![],
            ..testkit::cadre(id, name)
        };
        testkit::entry(cadre, position)
    }

    fn plan(version: u32, entries: Vec<Entry>) -> Plan {
        let mut p = Plan::new_draft(
            PlanId {
                unit: "412".into(),
                term: "2025-2030".into(),
                version,
            },
            None,
        );
        p.entries = entries;
        p
    }

    #[test]
    fn a_diff_names_who_was_added_removed_and_moved() {
        let v1 = plan(
            1,
            vec![
                entry("001", "Nguyễn Văn An", "H.BT"),
                entry("002", "Trần Thị Bình", "H.PBT"),
                entry("003", "Lê Văn Cường", "H.CT"),
            ],
        );
        let v2 = plan(
            2,
            vec![
                entry("001", "Nguyễn Văn An", "H.BT"),
                entry("003", "Lê Văn Cường", "H.PCT"),
                entry("004", "Phạm Thị Dung", "H.PBT"),
            ],
        );
        let d = diff_plans(&v1, &v2);
        assert_eq!(d.added.len(), 1);
        assert_eq!(d.added[0].full_name, "Phạm Thị Dung");
        assert_eq!(d.removed.len(), 1);
        assert_eq!(d.removed[0].national_id, "002");
        assert_eq!(d.moved.len(), 1);
        assert_eq!(d.moved[0].before, vec!["H.CT"]);
        assert_eq!(d.moved[0].after, vec!["H.PCT"]);
        assert!(d.votes.is_empty());
        assert_eq!(
            diff_plans(&v1, &v1),
            PlanDiff::default(),
            "no change, no lines"
        );
    }
}
