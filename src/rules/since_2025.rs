//! The per-plan rules since 2025 (`docs/rules-377.md`): R24 (planning freeze windows,
//! Kết luận 128-KL/TW) and R25 (discipline in the merged term, Kết luận 150-KL/TW). Each takes
//! the engine's context and one plan and appends its findings; the windows and the merged units
//! are data of the rules file ([`super::params::RulesFile`]).

use chrono::NaiveDate;

use super::{
    context::Ctx,
    finding::{Finding, PersonRef, RuleId, Severity},
    plan_rules::{discipline_en, discipline_vi, finding, where_judged, PlanView},
};
use crate::domain::{Level, Plan};

/// The day a plan was adopted, as R24 judges it: its adoption, else the last ballot round.
fn adopted_on(plan: &Plan) -> Option<NaiveDate> {
    plan.adopted_on
        .or_else(|| plan.rounds.iter().map(|r| r.date).max())
}

/// R24: a plan adopted inside a freeze window of its unit or of a unit above it is an error; a
/// warning when the competent level exempted the unit in writing (the exemption is cited). The
/// window's first and last days are inside it.
pub(crate) fn r24(ctx: &Ctx<'_>, view: &PlanView<'_>, out: &mut Vec<Finding>) {
    let plan = view.plan;
    let Some(adopted) = adopted_on(plan) else {
        return;
    };
    let hierarchy = ctx.snap.hierarchy;
    let (at_vi, at_en) = where_judged(ctx, plan);
    for freeze in &ctx.rules.freezes {
        if adopted < freeze.from
            || adopted > freeze.to
            || !(plan.id.unit == freeze.unit || hierarchy.is_within(&plan.id.unit, &freeze.unit))
        {
            continue;
        }
        let exemption = freeze
            .exemptions
            .iter()
            .find(|e| plan.id.unit == e.unit || hierarchy.is_within(&plan.id.unit, &e.unit));
        let window = format!("{} – {}", freeze.from, freeze.to);
        let (severity, vi, en) = match exemption {
            None => (
                Severity::Error,
                format!(
                    "Danh sách được thông qua ngày {adopted}, trong thời gian tạm dừng quy hoạch của đơn vị {} ({window}: {}); không quy hoạch trong thời gian này, trừ khi cấp có thẩm quyền cho phép bằng văn bản {at_vi}",
                    freeze.unit, freeze.reason
                ),
                format!(
                    "The list was adopted on {adopted}, inside the planning freeze of unit {} ({window}: {}); no planning in this window unless the competent level exempts it in writing {at_en}",
                    freeze.unit, freeze.reason
                ),
            ),
            Some(e) => (
                Severity::Warning,
                format!(
                    "Danh sách được thông qua ngày {adopted}, trong thời gian tạm dừng quy hoạch của đơn vị {} ({window}: {}), theo văn bản cho phép: {} {at_vi}",
                    freeze.unit, freeze.reason, e.cited
                ),
                format!(
                    "The list was adopted on {adopted}, inside the planning freeze of unit {} ({window}: {}), under the written exemption: {} {at_en}",
                    freeze.unit, freeze.reason, e.cited
                ),
            ),
        };
        out.push(finding(
            RuleId::R24,
            severity,
            plan,
            None,
            Vec::new(),
            vi,
            en,
        ));
    }
}

/// The merged term, 2020–2025: the catalogue's term `2020-2025`, else 1 October 2020 to
/// 30 September 2025.
fn merged_term(ctx: &Ctx<'_>) -> (NaiveDate, NaiveDate) {
    ctx.snap.catalog.term("2020-2025").map_or_else(
        || {
            (
                NaiveDate::from_ymd_opt(2020, 10, 1).unwrap_or_default(),
                NaiveDate::from_ymd_opt(2025, 9, 30).unwrap_or_default(),
            )
        },
        |t| (t.start, t.end),
    )
}

/// Returns true if and only if `plan` is one of a unit formed by the mergers of 2025, planned
/// in 2025: its unit is among the rules file's `merged_units` and it was decided in 2025, or,
/// when that list is empty, it is a province or commune plan decided from 1 July 2025 (the day
/// the two-level structure began) to 31 December 2025.
fn merged_in_2025(ctx: &Ctx<'_>, plan: &Plan) -> bool {
    let decided = ctx.decision_date(plan);
    let day = |m, d| NaiveDate::from_ymd_opt(2025, m, d).unwrap_or_default();
    if ctx.rules.merged_units.is_empty() {
        (day(7, 1)..=day(12, 31)).contains(&decided)
            && matches!(
                ctx.unit_level(&plan.id.unit),
                Some(Level::Province | Level::Commune)
            )
    } else {
        (day(1, 1)..=day(12, 31)).contains(&decided)
            && ctx.rules.merged_units.contains(&plan.id.unit)
    }
}

/// R25: a cadre disciplined at any time in the 2020–2025 term and planned into a higher post of
/// a merged unit in 2025 (Kết luận 150-KL/TW): a warning, whatever R14 says about the bar.
/// Disciplines decided after the plan's decision date are not yet known to it.
pub(crate) fn r25(ctx: &Ctx<'_>, view: &PlanView<'_>, out: &mut Vec<Finding>) {
    let plan = view.plan;
    if !merged_in_2025(ctx, plan) {
        return;
    }
    let (from, to) = merged_term(ctx);
    let decided = ctx.decision_date(plan);
    let (at_vi, at_en) = where_judged(ctx, plan);
    for (_, entries) in view.by_person() {
        let c = &entries[0].cadre;
        let hits: Vec<_> = c
            .discipline
            .iter()
            .filter(|d| d.decided_on >= from && d.decided_on <= to && d.decided_on <= decided)
            .collect();
        if hits.is_empty() {
            continue;
        }
        let who = PersonRef::of(c).label();
        let positions: Vec<String> = entries.iter().map(|e| e.position.to_string()).collect();
        let list_vi: Vec<String> = hits
            .iter()
            .map(|d| format!("{} ngày {}", discipline_vi(d.kind), d.decided_on))
            .collect();
        let list_en: Vec<String> = hits
            .iter()
            .map(|d| format!("{} on {}", discipline_en(d.kind), d.decided_on))
            .collect();
        out.push(finding(
            RuleId::R25,
            Severity::Warning,
            plan,
            Some(PersonRef::of(c)),
            positions.clone(),
            format!(
                "{who} bị kỷ luật trong nhiệm kỳ {from} – {to} ({}) mà được quy hoạch vào {} của đơn vị sau sắp xếp năm 2025; xem xét theo Kết luận 150-KL/TW {at_vi}",
                list_vi.join("; "),
                positions.join(", ")
            ),
            format!(
                "{who} was disciplined in the {from} – {to} term ({}) and is planned for {} of a unit merged in 2025; review under Kết luận 150-KL/TW {at_en}",
                list_en.join("; "),
                positions.join(", ")
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{Discipline, DisciplineKind},
        rules::{
            params::{Exemption, Freeze, RulesFile},
            testkit::*,
        },
    };

    fn freeze(unit: &str) -> RulesFile {
        let mut rules = RulesFile::default();
        rules.freezes.push(Freeze {
            unit: unit.into(),
            from: d(2025, 3, 7),
            to: d(2025, 6, 30),
            reason: "Kết luận 128-KL/TW".into(),
            exemptions: Vec::new(),
        });
        rules
    }

    fn adopted(unit: &str, on: NaiveDate) -> Plan {
        let mut p = plan(unit, "2025-2030", 1);
        p.adopted_on = Some(on);
        p.entries.push(voted(
            &mut p.rounds,
            cadre(ID1, "Nguyễn Văn A"),
            "C.CT.UBND",
        ));
        p
    }

    #[test]
    fn r24_window_days_are_frozen_and_the_days_around_are_not() {
        let w = World::new();
        let rules = freeze("40");
        for (on, frozen) in [
            (d(2025, 3, 6), false),
            (d(2025, 3, 7), true),
            (d(2025, 6, 30), true),
            (d(2025, 7, 1), false),
        ] {
            let r = w.rule_with(&[adopted("16681", on)], RuleId::R24, &rules, today());
            assert_eq!(
                r.findings.len(),
                usize::from(frozen),
                "adopted {on}: {r:#?}"
            );
            if frozen {
                assert_eq!(r.findings[0].severity, Severity::Error);
                assert!(r.findings[0].message_vi.contains("Kết luận 128-KL/TW"));
            }
        }
        // Another subtree is not frozen.
        let rules = freeze("414");
        let r = w.rule_with(
            &[adopted("16681", d(2025, 4, 1))],
            RuleId::R24,
            &rules,
            today(),
        );
        assert!(r.findings.is_empty());
    }

    #[test]
    fn r24_a_cited_exemption_makes_it_a_warning() {
        let w = World::new();
        let mut rules = freeze("40");
        rules.freezes[0].exemptions.push(Exemption {
            unit: "412".into(),
            cited: "Công văn 45-CV/TU ngày 2025-04-02".into(),
        });
        let r = w.rule_with(
            &[adopted("16681", d(2025, 4, 3))],
            RuleId::R24,
            &rules,
            today(),
        );
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].severity, Severity::Warning);
        assert!(r.findings[0].message_en.contains("Công văn 45-CV/TU"));
        let r = w.rule_with(
            &[adopted("16700", d(2025, 4, 3))],
            RuleId::R24,
            &rules,
            today(),
        );
        assert_eq!(
            r.findings[0].severity,
            Severity::Error,
            "414 is not exempted"
        );
    }

    fn disciplined_on(on: NaiveDate, adopted_on: NaiveDate) -> Plan {
        let mut p = adopted("16681", adopted_on);
        p.entries[0].cadre.discipline.push(Discipline {
            kind: DisciplineKind::Reprimand,
            decided_on: on,
            announced_on: None,
            complaint_pending: false,
            new_violation_on: None,
        });
        p
    }

    #[test]
    fn r25_discipline_inside_the_merged_term_warns_for_a_merged_unit_in_2025() {
        let w = World::new();
        let rules = RulesFile::default();
        let adopted_on = d(2025, 8, 20);
        let r = w.rule_with(
            &[disciplined_on(d(2020, 10, 1), adopted_on)],
            RuleId::R25,
            &rules,
            today(),
        );
        assert_eq!(r.findings.len(), 1, "{r:#?}");
        assert_eq!(r.findings[0].severity, Severity::Warning);
        let r = w.rule_with(
            &[disciplined_on(d(2020, 9, 30), adopted_on)],
            RuleId::R25,
            &rules,
            today(),
        );
        assert!(r.findings.is_empty(), "before the term");
        // Planned before the two-level structure began: not a merged unit's plan.
        let r = w.rule_with(
            &[disciplined_on(d(2024, 1, 5), d(2025, 6, 30))],
            RuleId::R25,
            &rules,
            today(),
        );
        assert!(r.findings.is_empty());
        // A district plan is never one of a merged unit by default.
        let mut p = disciplined_on(d(2024, 1, 5), adopted_on);
        p.id.unit = "412".into();
        assert!(w
            .rule_with(&[p.clone()], RuleId::R25, &rules, today())
            .findings
            .is_empty());
        // Unless the province lists it.
        let mut listed = RulesFile::default();
        listed.merged_units.push("412".into());
        assert_eq!(
            w.rule_with(&[p], RuleId::R25, &listed, today())
                .findings
                .len(),
            1
        );
    }
}
