//! R23, appointment requires planning (Quy định 377-QĐ/TW, art. 34): a person proposed for
//! appointment to a post must be in an approved plan of the current term for that post or for an
//! equivalent or higher one. A pure function over the approved plans a node holds, called by the
//! `eligible` query; its answer turns into the R23 finding ([`Eligibility::finding`]).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::finding::{Finding, PersonRef, RuleId, Severity};
use crate::domain::{Catalog, Plan, PlanId, PlanStatus};

/// What R23 says about one proposed appointment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Eligibility {
    /// The person is in an approved plan for the post or an equivalent or higher one.
    Planned {
        /// The approved plan version that lists the person.
        plan: PlanId,
        /// The planned position that makes the appointment eligible.
        position: String,
    },
    /// The person is in no approved plan of the current term for the post or a post of the
    /// same kind and an equal or higher grade.
    NotPlanned,
    /// The unit has no approved plan of the current term (a unit founded by a merger): "the
    /// competent level decides" (QĐ 377, art. 34).
    NoApprovedPlan,
    /// The post is not in the catalogue, so nothing can be compared.
    UnknownPosition,
}

/// R23 for a proposal to appoint the person with national ID `person` to `position` in `unit`
/// on `date`. Reads the `Approved` plans of `plans` whose term (in `catalog`) has not ended on
/// `date`: the current term and any later one. A planned position counts if it is `position`
/// itself or one of the same kind whose grade is at least `position`'s.
pub fn eligibility(
    person: &str,
    position: &str,
    unit: &str,
    plans: &[Plan],
    catalog: &Catalog,
    date: NaiveDate,
) -> Eligibility {
    let Some(post) = catalog.position(position) else {
        return Eligibility::UnknownPosition;
    };
    let current = |p: &&Plan| {
        p.status == PlanStatus::Approved && catalog.term(&p.id.term).is_some_and(|t| t.end >= date)
    };
    let mut unit_has_plan = false;
    let mut best: Option<(&Plan, &str, u32)> = None;
    for plan in plans.iter().filter(current) {
        unit_has_plan |= plan.id.unit == unit;
        for e in plan.entries_of(person) {
            let fits = e.position == position
                || catalog
                    .position(&e.position)
                    .is_some_and(|p| p.kind == post.kind && p.grade >= post.grade);
            if !fits {
                continue;
            }
            let grade = catalog
                .position(&e.position)
                .map_or(post.grade, |p| p.grade);
            // The closest fit: the post itself, else the lowest grade that qualifies.
            let better = best.is_none_or(|(bp, bpos, bg)| {
                (e.position != position, grade, &plan.id) < (bpos != position, bg, &bp.id)
            });
            if better {
                best = Some((plan, &e.position, grade));
            }
        }
    }
    match best {
        Some((plan, pos, _)) => Eligibility::Planned {
            plan: plan.id.clone(),
            position: pos.to_string(),
        },
        None if !unit_has_plan => Eligibility::NoApprovedPlan,
        None => Eligibility::NotPlanned,
    }
}

impl Eligibility {
    /// The R23 finding (a warning the Board weighs) for an answer that is not
    /// [`Eligibility::Planned`]; `None` when the person is planned.
    pub fn finding(&self, person: &PersonRef, position: &str, unit: &str) -> Option<Finding> {
        let who = person.label();
        let (vi, en) = match self {
            Self::Planned { .. } => return None,
            Self::NotPlanned => (
                format!("{who} được đề nghị bổ nhiệm vào {position} (đơn vị {unit}) nhưng không có trong quy hoạch đã phê duyệt của nhiệm kỳ hiện tại cho chức danh này hoặc chức danh tương đương, cao hơn (QĐ 377-QĐ/TW, Điều 34)"),
                format!("{who} is proposed for appointment to {position} (unit {unit}) but is in no approved plan of the current term for this post or an equivalent or higher one (QĐ 377-QĐ/TW, art. 34)"),
            ),
            Self::NoApprovedPlan => (
                format!("{who} được đề nghị bổ nhiệm vào {position}; đơn vị {unit} chưa có quy hoạch được phê duyệt của nhiệm kỳ hiện tại: cấp có thẩm quyền xem xét, quyết định (QĐ 377-QĐ/TW, Điều 34)"),
                format!("{who} is proposed for appointment to {position}; unit {unit} has no approved plan of the current term: the competent level decides (QĐ 377-QĐ/TW, art. 34)"),
            ),
            Self::UnknownPosition => (
                format!("{who}: chức danh đề nghị bổ nhiệm {position} không có trong danh mục chức danh"),
                format!("{who}: the post proposed, {position}, is not in the catalogue"),
            ),
        };
        Some(
            Finding::new(
                RuleId::R23,
                Severity::Warning,
                vec![unit.to_string()],
                Some(person.clone()),
                vec![position.to_string()],
                Vec::new(),
                Vec::new(),
                vi,
                en,
            )
            .judged_by(super::params::Ruleset::Qd377),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    fn approved(unit: &str, term: &str, position: &str) -> Plan {
        let mut p = plan(unit, term, 1);
        p.status = PlanStatus::Approved;
        p.entries
            .push(voted(&mut p.rounds, cadre(ID1, "Nguyễn Văn A"), position));
        p
    }

    #[test]
    fn r23_planned_for_the_post_or_a_higher_one_of_its_kind() {
        let w = World::new();
        let on = d(2026, 1, 10);
        let plans = [approved("412", "2025-2030", "D.CT.UBND")];
        let e = eligibility(ID1, "D.CT.UBND", "412", &plans, &w.catalog, on);
        assert_eq!(
            e,
            Eligibility::Planned {
                plan: plans[0].id.clone(),
                position: "D.CT.UBND".into()
            }
        );
        // Planned for the chair, proposed for a deputy chair: a higher post of the same kind.
        assert!(matches!(
            eligibility(ID1, "D.PCT.UBND", "412", &plans, &w.catalog, on),
            Eligibility::Planned { .. }
        ));
        // Planned for a deputy chair, proposed for the secretary: a higher post.
        let plans = [approved("412", "2025-2030", "D.PCT.UBND")];
        let e = eligibility(ID1, "D.BT", "412", &plans, &w.catalog, on);
        assert_eq!(e, Eligibility::NotPlanned);
        let f = e
            .finding(&PersonRef::of(&cadre(ID1, "Nguyễn Văn A")), "D.BT", "412")
            .unwrap();
        assert_eq!((f.rule, f.severity), (RuleId::R23, Severity::Warning));
        assert!(!f.message_en.contains(ID1));
    }

    #[test]
    fn r23_only_approved_plans_of_a_term_not_ended() {
        let w = World::new();
        let mut received = approved("412", "2025-2030", "D.CT.UBND");
        received.status = PlanStatus::Received;
        let e = eligibility(
            ID1,
            "D.CT.UBND",
            "412",
            &[received],
            &w.catalog,
            d(2026, 1, 10),
        );
        assert_eq!(
            e,
            Eligibility::NoApprovedPlan,
            "a unit without an approved plan"
        );
        let old = approved("412", "2020-2025", "D.CT.UBND");
        // 2020-2025 ends on 2025-09-30: its last day still counts, the next does not.
        let on_last = eligibility(
            ID1,
            "D.CT.UBND",
            "412",
            std::slice::from_ref(&old),
            &w.catalog,
            d(2025, 9, 30),
        );
        assert!(matches!(on_last, Eligibility::Planned { .. }));
        let after = eligibility(ID1, "D.CT.UBND", "412", &[old], &w.catalog, d(2025, 10, 1));
        assert_eq!(after, Eligibility::NoApprovedPlan);
        assert_eq!(
            eligibility(ID1, "X.NONE", "412", &[], &w.catalog, d(2025, 10, 1)),
            Eligibility::UnknownPosition
        );
    }
}
