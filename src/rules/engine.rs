//! The rule engine: checks a consolidated snapshot of the plans a province holds against the rules
//! of `docs/rules.md` and returns a [`Report`] of findings. Pure: no I/O and no clock; the day of
//! the check is passed in. The province node calls [`check_incremental`] on every plan it receives
//! and [`check`] on demand (the check RPC and `quyhoach check`).
//!
//! Only the current version of each plan (the highest version per unit × term) is checked, and
//! only current versions take part in the cross-plan rules. The per-plan rules live in
//! [`super::plan_rules`], the cross-plan ones in [`super::cross_rules`] and the appraisal
//! deadline in [`super::deadline`], and what they share in [`super::context`]. A full check
//! builds one index of the current plans ([`super::index::Persons`]: every entry grouped by
//! person, in one pass) that R3, R5 and R21 read; an incremental check gathers only the
//! records of the arriving plan's persons and of those sharing a name and birth date with them
//! ([`super::index::gather`]), so a check is linear in the number of entries.

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use super::context::{Snapshot, SubmittedCopy};
use super::{
    context::Ctx,
    cross_rules, deadline,
    finding::{Finding, Report, RuleId, Severity},
    index::{self, Focus, NameKeys, Persons},
    params::{RulesFile, Ruleset},
    plan_rules::{self, PlanView},
    since_2025,
};
use crate::domain::{Hierarchy, Plan, PlanId};

/// Which findings a check reports. The default reports everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Only findings that involve a unit within this unit's subtree.
    pub unit: Option<String>,
    /// Only findings that involve this term.
    pub term: Option<String>,
    /// Only these rules; empty means all.
    pub rules: Vec<RuleId>,
    /// Only findings of this severity.
    pub severity: Option<Severity>,
}

impl Scope {
    /// Returns true if and only if `rule` is to be checked.
    pub fn wants_rule(&self, rule: RuleId) -> bool {
        self.rules.is_empty() || self.rules.contains(&rule)
    }

    /// Returns true if and only if `finding` falls within the scope.
    pub fn contains(&self, finding: &Finding, hierarchy: &Hierarchy) -> bool {
        self.wants_rule(finding.rule)
            && self.severity.is_none_or(|s| s == finding.severity)
            && self.term.as_ref().is_none_or(|t| finding.terms.contains(t))
            && self
                .unit
                .as_ref()
                .is_none_or(|root| finding.units.iter().any(|u| hierarchy.is_within(u, root)))
    }
}

/// The rules checked per person across plans, which an incremental check re-runs for the persons
/// of the plan that arrived.
pub const CROSS_PERSON_RULES: [RuleId; 3] = [RuleId::R3, RuleId::R5, RuleId::R21];

/// Checks the whole snapshot and reports the findings within `scope`, sorted by rule, unit and
/// person. Plans are judged by the ruleset in force at their decision date; rules about the
/// state of the province as a whole (R3, R5, R17, R21) use the parameters in force `today`.
pub fn check(
    snapshot: &Snapshot<'_>,
    scope: &Scope,
    today: NaiveDate,
    rules: &RulesFile,
) -> Report {
    let entries: usize = snapshot.plans.iter().map(|p| p.entries.len()).sum();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    check_on(
        snapshot,
        scope,
        today,
        rules,
        entries >= PARALLEL_FROM_ENTRIES && cores > 1,
    )
}

/// [`check`], on two threads if `parallel`: the per-plan and the cross-plan rules read the same
/// snapshot and share nothing else, so a large check runs them side by side; the findings come
/// out in the same order either way.
fn check_on(
    snapshot: &Snapshot<'_>,
    scope: &Scope,
    today: NaiveDate,
    rules: &RulesFile,
    parallel: bool,
) -> Report {
    let ctx = Ctx::new(snapshot, today, rules);
    let per_plan_rules = || {
        let mut out = Vec::new();
        for plan in &ctx.current {
            per_plan(&ctx, plan, scope, &mut out);
        }
        out
    };
    let cross_plan_rules = || {
        let mut out = Vec::new();
        if CROSS_PERSON_RULES.iter().any(|r| scope.wants_rule(*r)) {
            let index = Persons::build(&ctx.current, |_| true);
            let mut keys = NameKeys::default();
            cross(&ctx, &index, None, &mut keys, scope, &mut out);
        }
        if scope.wants_rule(RuleId::R22) {
            cross_rules::r22(&ctx, None, &mut out);
        }
        // Only in a full check: an incremental snapshot holds only the plans related to the
        // arriving one by person, not every province-level list this rule counts across.
        if scope.wants_rule(RuleId::R2) {
            cross_rules::r2_across_provinces(&ctx, &mut out);
        }
        out
    };
    let out = if parallel {
        std::thread::scope(|s| {
            let cross = s.spawn(cross_plan_rules);
            let mut out = per_plan_rules();
            match cross.join() {
                Ok(more) => out.extend(more),
                Err(panic) => std::panic::resume_unwind(panic),
            }
            out
        })
    } else {
        let mut out = per_plan_rules();
        out.extend(cross_plan_rules());
        out
    };
    finish(&ctx, out, scope)
}

/// R2 across the province-level lists of a merger of provinces alone
/// ([`cross_rules::r2_across_provinces`]), for a snapshot holding every province-level list
/// the node holds: what the live findings re-derive when one of those lists changes, since the
/// snapshot of [`check_incremental`] holds only the plans related to the change by person.
pub fn check_r2_across_provinces(
    snapshot: &Snapshot<'_>,
    today: NaiveDate,
    rules: &RulesFile,
) -> Report {
    let ctx = Ctx::new(snapshot, today, rules);
    let mut out = Vec::new();
    cross_rules::r2_across_provinces(&ctx, &mut out);
    finish(&ctx, out, &Scope::default())
}

/// The number of entries (of every version held) from which a full [`check`] runs the per-plan
/// and the cross-plan rules on two threads (below it, a thread costs more than it saves).
const PARALLEL_FROM_ENTRIES: usize = 10_000;

/// Re-checks only what the plan `changed` touches: the per-plan rules for it (if it is the
/// current version of its unit × term), its appraisal deadline and sync integrity, and the
/// cross-plan rules R3, R5 and R21 for the persons it lists (and those its earlier versions
/// listed, so that a removal clears or raises their findings). The result equals the findings of
/// a full [`check`] for which [`touches`] holds.
pub fn check_incremental(
    snapshot: &Snapshot<'_>,
    changed: &PlanId,
    scope: &Scope,
    today: NaiveDate,
    rules: &RulesFile,
) -> Report {
    check_incremental_with(snapshot, changed, &HashSet::new(), scope, today, rules)
}

/// [`check_incremental`] for a snapshot that no longer holds every earlier version of
/// `changed`: `also` names the persons those versions listed (an in-memory view keeps only the
/// current and the latest approved version), so that a removal still clears or raises their
/// findings.
pub fn check_incremental_with(
    snapshot: &Snapshot<'_>,
    changed: &PlanId,
    also: &HashSet<&str>,
    scope: &Scope,
    today: NaiveDate,
    rules: &RulesFile,
) -> Report {
    let ctx = Ctx::new(snapshot, today, rules);
    let mut persons = touched_persons(snapshot, changed);
    persons.extend(also.iter().copied());
    let mut out = Vec::new();
    if let Some(plan) = ctx.current.iter().find(|p| &p.id == changed) {
        per_plan(&ctx, plan, scope, &mut out);
    }
    if CROSS_PERSON_RULES.iter().any(|r| scope.wants_rule(*r)) {
        let wanted: foldhash::HashSet<&str> = persons.iter().copied().collect();
        let mut keys = NameKeys::default();
        let seed = snapshot
            .plans
            .iter()
            .filter(|p| p.id.unit == changed.unit && p.id.term == changed.term)
            .flat_map(|p| &p.entries)
            .map(|e| &e.cadre);
        let (index, focus) = index::gather(&ctx.current, &wanted, seed, &mut keys);
        cross(&ctx, &index, Some(&focus), &mut keys, scope, &mut out);
    }
    if scope.wants_rule(RuleId::R22) {
        cross_rules::r22(&ctx, Some(changed), &mut out);
    }
    out.retain(|f| touches(f, changed, &persons));
    finish(&ctx, out, scope)
}

/// The national IDs of every version of `changed`'s unit × term held in the snapshot.
pub fn touched_persons<'a>(snapshot: &Snapshot<'a>, changed: &PlanId) -> HashSet<&'a str> {
    snapshot
        .plans
        .iter()
        .filter(|p| p.id.unit == changed.unit && p.id.term == changed.term)
        .flat_map(|p| &p.entries)
        .map(|e| e.cadre.national_id.as_str())
        .collect()
}

/// Returns true if and only if a finding is one that the arrival of `changed` can alter: it
/// concerns that plan version, or it is a cross-person rule (R3, R5, R21) naming one of
/// `persons`.
pub fn touches(finding: &Finding, changed: &PlanId, persons: &HashSet<&str>) -> bool {
    finding.plans.contains(changed)
        || (CROSS_PERSON_RULES.contains(&finding.rule)
            && finding.national_ids().any(|id| persons.contains(id)))
}

/// Runs the rules about one plan on its own.
fn per_plan(ctx: &Ctx<'_>, plan: &Plan, scope: &Scope, out: &mut Vec<Finding>) {
    type Rule = fn(&Ctx<'_>, &PlanView<'_>, &mut Vec<Finding>);
    const RULES: [(RuleId, Rule); 14] = [
        (RuleId::R1, |ctx, v, out| plan_rules::r1(ctx, v.plan, out)),
        (RuleId::R2, |ctx, v, out| plan_rules::r2(ctx, v.plan, out)),
        (RuleId::R4, plan_rules::r4),
        (RuleId::R6, plan_rules::r6),
        (RuleId::R8, plan_rules::r8),
        (RuleId::R12, plan_rules::r12),
        (RuleId::R14, plan_rules::r14),
        (RuleId::R17, |ctx, v, out| deadline::r17(ctx, v.plan, out)),
        (RuleId::R18, |ctx, v, out| plan_rules::r18(ctx, v.plan, out)),
        (RuleId::R19, plan_rules::r19),
        (RuleId::R20, plan_rules::r20),
        (RuleId::R24, since_2025::r24),
        (RuleId::R25, since_2025::r25),
        (RuleId::R26, plan_rules::r26),
    ];
    let view = PlanView::new(plan);
    for (id, rule) in RULES {
        if scope.wants_rule(id) {
            rule(ctx, &view, out);
        }
    }
}

/// Runs the cross-plan person rules over the persons of `index` (with R21's [`Focus`] in an
/// incremental check).
fn cross<'a>(
    ctx: &Ctx<'_>,
    index: &Persons<'a>,
    focus: Option<&Focus<'a>>,
    keys: &mut NameKeys<'a>,
    scope: &Scope,
    out: &mut Vec<Finding>,
) {
    if scope.wants_rule(RuleId::R3) {
        cross_rules::r3(ctx, index, out);
    }
    if scope.wants_rule(RuleId::R5) {
        cross_rules::r5(ctx, index, out);
    }
    if scope.wants_rule(RuleId::R21) {
        cross_rules::r21(index, focus, keys, out);
    }
}

/// The rules about the province as a whole rather than one plan: judged by the ruleset in force
/// on the day of the check.
const WHOLE_PROVINCE_RULES: [RuleId; 5] = [
    RuleId::R3,
    RuleId::R5,
    RuleId::R17,
    RuleId::R21,
    RuleId::R22,
];

/// The ruleset that judged `f`: that of its plan's decision date for a rule about one plan,
/// that of the day of the check for a rule about the province as a whole (or a finding whose
/// plan is not current).
fn ruleset_of(ctx: &Ctx<'_>, f: &Finding) -> Ruleset {
    if WHOLE_PROVINCE_RULES.contains(&f.rule) {
        return Ruleset::for_date(ctx.today);
    }
    f.plans
        .iter()
        .filter_map(|id| ctx.current.iter().find(|p| &p.id == id))
        .map(|p| Ruleset::for_date(ctx.decision_date(p)))
        .max()
        .unwrap_or_else(|| Ruleset::for_date(ctx.today))
}

/// The day of the reorganisation a finding looks across (issue 22), if it does: a rule set it
/// (R5 judging a new unit by its sources), or the finding cites both a plan made before the
/// structure in force (of a unit since abolished, or adopted before it took effect) and one
/// made in it (adopted since, or an unadopted draft of a unit the reorganisation created).
/// `None` on a node that never reorganised.
fn reorganised_on(ctx: &Ctx<'_>, f: &Finding) -> Option<NaiveDate> {
    if f.reorganised_on.is_some() {
        return f.reorganised_on;
    }
    let hierarchy = ctx.snap.hierarchy;
    let now = hierarchy.period();
    if now == 0 {
        return None;
    }
    let since = hierarchy.history().periods()[now].from?;
    let (mut before, mut after) = (false, false);
    for id in &f.plans {
        let Some(plan) = ctx.snap.plans.iter().find(|p| &p.id == id) else {
            continue;
        };
        match plan.adopted_on {
            _ if hierarchy.is_former(&id.unit) => before = true,
            Some(d) if d < since => before = true,
            Some(_) => after = true,
            None if hierarchy.new_since(&id.unit).is_some() => after = true,
            None => {}
        }
    }
    (before && after).then_some(since)
}

fn finish(ctx: &Ctx<'_>, out: Vec<Finding>, scope: &Scope) -> Report {
    let hierarchy = ctx.snap.hierarchy;
    let out = out
        .into_iter()
        .filter(|f| scope.contains(f, hierarchy))
        .map(|mut f| {
            let ruleset = ruleset_of(ctx, &f);
            f.reorganised_on = reorganised_on(ctx, &f);
            f.judged_by(ruleset)
        })
        .collect();
    Report::new(out)
}

#[cfg(test)]
mod tests {

    use proptest::prelude::*;

    use super::*;
    use crate::{
        domain::{Discipline, DisciplineKind, EntrySource, Gender, PlanStatus},
        rules::testkit::*,
    };

    /// The two-thread check finds exactly what the one-thread check finds, in the same order,
    /// over a synthetic province large enough to carry findings of many rules.
    #[test]
    fn a_check_on_two_threads_equals_one_on_one_thread() {
        let (hierarchy, catalog, g) = crate::synthetic_province(11, 12_000);
        let snapshot = Snapshot {
            plans: &g.plans,
            hierarchy: &hierarchy,
            catalog: &catalog,
            submitted: &[],
            fulfilled: &[],
        };
        let today = NaiveDate::from_ymd_opt(2025, 11, 1).unwrap();
        let rules = RulesFile::default();
        let one = check_on(&snapshot, &Scope::default(), today, &rules, false);
        let two = check_on(&snapshot, &Scope::default(), today, &rules, true);
        let rules_seen: HashSet<RuleId> = one.findings.iter().map(|f| f.rule).collect();
        assert!(
            rules_seen.len() >= 3,
            "too few rules to compare: {rules_seen:?}"
        );
        let ids = |r: &Report| -> Vec<(RuleId, String)> {
            r.findings
                .iter()
                .map(|f| (f.rule, f.message_en.clone()))
                .collect()
        };
        assert_eq!(ids(&one), ids(&two));
    }

    #[test]
    fn only_the_current_version_is_checked() {
        let w = World::new();
        let mut old = plan("412", "2025-2030", 1);
        old.entries.push(entry(cadre(ID1, "Nguyễn Văn A"), "P.BT")); // R1 fine
        old.entries[0].cadre.current_positions = vec!["P.BT".into()]; // but R1 broken in v1
        let mut new = plan("412", "2025-2030", 2);
        new.entries
            .push(voted(&mut new.rounds, cadre(ID1, "Nguyễn Văn A"), "D.BT"));
        let plans = [old, new];
        let r = w.check(&plans);
        assert_eq!(r.of_rule(RuleId::R1).count(), 0, "{r:#?}");
    }

    #[test]
    fn scope_filters_by_subtree_term_rule_and_severity() {
        let w = World::new();
        let mut a = plan("412", "2025-2030", 1);
        let mut b = plan("414", "2025-2030", 1);
        let mut young = cadre(ID1, "Nguyễn Văn A");
        young.current_positions = vec!["D.BT".into()];
        a.entries
            .push(voted(&mut a.rounds, young.clone(), "D.CT.UBND")); // R1 in 412
        young.national_id = ID2.into();
        b.entries.push(voted(&mut b.rounds, young, "D.CT.UBND")); // R1 in 414 (and R21 warning)
        let plans = [a, b];
        let snap = w.snapshot(&plans);
        let all = check(&snap, &Scope::default(), today(), &RulesFile::default());
        assert_eq!(all.of_rule(RuleId::R1).count(), 2);
        let scope = Scope {
            unit: Some("414".into()),
            rules: vec![RuleId::R1],
            ..Scope::default()
        };
        let r = check(&snap, &scope, today(), &RulesFile::default());
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].units, ["414"]);
        let scope = Scope {
            severity: Some(Severity::Warning),
            ..Scope::default()
        };
        let r = check(&snap, &scope, today(), &RulesFile::default());
        assert!(r.findings.iter().all(|f| f.severity == Severity::Warning));
        assert!(r.of_rule(RuleId::R21).count() == 1, "{r:#?}");
        let scope = Scope {
            term: Some("2026-2031".into()),
            ..Scope::default()
        };
        assert!(check(&snap, &scope, today(), &RulesFile::default())
            .findings
            .is_empty());
    }

    /// A province of `units` districts each with a list of `per_unit` entries, several persons
    /// appearing in two districts, some breaking rules.
    fn big_province(units: usize, per_unit: usize) -> (Vec<Plan>, Hierarchy) {
        let mut csv = String::from("code,level,name,parent_code\n40,province,Tỉnh,\n");
        let positions = [
            "D.BT",
            "D.CT.UBND",
            "D.PCT.UBND",
            "D.TB.TC",
            "D.HUV",
            "D.UV.BTV",
        ];
        let mut plans = Vec::new();
        for u in 0..units {
            let code = format!("{}", 500 + u);
            csv.push_str(&format!("{code},district,Huyện {u},40\n"));
            let mut p = plan(&code, "2025-2030", 1);
            for i in 0..per_unit {
                // Every tenth person is shared with the next district.
                let n = if i % 10 == 0 {
                    (u + 1) * per_unit + i
                } else {
                    u * per_unit + i
                };
                let mut c = cadre(&format!("{:012}", n), &format!("Nguyễn Văn {n}"));
                c.gender = if n % 3 == 0 {
                    Gender::Female
                } else {
                    Gender::Male
                };
                let k = u32::try_from(n).unwrap();
                c.birth_date = d(
                    1965 + i32::try_from(k % 25).unwrap(),
                    1 + k % 12,
                    1 + k % 28,
                );
                c.current_unit = code.as_str().into();
                if n % 97 == 0 {
                    c.discipline.push(Discipline {
                        kind: DisciplineKind::Warning,
                        decided_on: d(2024, 12, 1),
                        announced_on: None,
                        complaint_pending: false,
                        new_violation_on: None,
                    });
                }
                let e = voted(&mut p.rounds, c, positions[i % positions.len()]);
                p.entries.push(e);
            }
            p.status = if u % 2 == 0 {
                PlanStatus::Approved
            } else {
                PlanStatus::Received
            };
            p.received_at = Some(at(2025, 8, 1));
            plans.push(p);
        }
        (plans, Hierarchy::parse(&csv).unwrap())
    }

    /// A province of 25,000 entries checks in full and incrementally, and the incremental
    /// check of one plan finds a subset of what the full check finds. How fast is measured by
    /// the benchmark (`cargo bench --bench quyhoach`), never asserted here.
    #[test]
    fn twenty_five_thousand_entries_check_in_full_and_incrementally() {
        let (plans, hierarchy) = big_province(250, 100);
        let w = World::new();
        let snap = Snapshot {
            plans: &plans,
            hierarchy: &hierarchy,
            catalog: &w.catalog,
            submitted: &[],
            fulfilled: &[],
        };
        let r = check(&snap, &Scope::default(), today(), &RulesFile::default());
        assert!(!r.findings.is_empty());
        let inc = check_incremental(
            &snap,
            &plans[7].id,
            &Scope::default(),
            today(),
            &RulesFile::default(),
        );
        assert!(!inc.findings.is_empty());
        assert!(inc.findings.len() < r.findings.len());
        for f in &inc.findings {
            assert!(
                r.findings.contains(f),
                "{f:?} only in the incremental check"
            );
        }
    }

    #[test]
    fn incremental_equals_full_restricted_to_what_the_plan_touches() {
        let (mut plans, hierarchy) = big_province(6, 40);
        // A second version of one plan that drops a shared person and adds a duplicate.
        let mut v2 = plans[2].clone();
        v2.id.version = 2;
        v2.entries.remove(0);
        let mut dup = plans[3].entries[5].cadre.clone();
        dup.national_id = "999999999999".into();
        v2.entries.push(Entry {
            cadre: dup,
            position: "D.TP".into(),
            source: EntrySource::AddedByAuthority,
            origin: None,
        });
        plans.push(v2);
        let w = World::new();
        let submitted = [SubmittedCopy {
            id: plans[1].id.clone(),
            hash: "bad".into(),
        }];
        let snap = Snapshot {
            plans: &plans,
            hierarchy: &hierarchy,
            catalog: &w.catalog,
            submitted: &submitted,
            fulfilled: &[],
        };
        assert_incremental_matches(&snap);
    }

    /// The incremental check of 412 reaches a record that shares no national ID with 412's
    /// persons and no identity with 412's own records: it shares one with another record of
    /// one of them (found on the way), so R21's "one person under two IDs" must see it.
    #[test]
    fn incremental_finds_every_record_that_shares_an_identity() {
        let w = World::new();
        let a = one_planned("412", "D.BT", cadre(ID1, "Nguyễn Văn A"));
        let mut b = plan("414", "2025-2030", 1);
        let born = d(1970, 1, 1);
        let mut elsewhere = cadre(ID1, "Nguyễn Văn A");
        elsewhere.birth_date = born;
        b.entries
            .push(voted(&mut b.rounds, elsewhere, "D.PCT.UBND"));
        // The same person written in capitals under another ID, and another person born the
        // same day.
        let mut twin = cadre(ID2, "NGUYỄN VĂN A");
        twin.birth_date = born;
        b.entries.push(voted(&mut b.rounds, twin, "D.TB.TC"));
        let mut stranger = cadre("001080009999", "Nguyễn Văn B");
        stranger.birth_date = born;
        b.entries.push(voted(&mut b.rounds, stranger, "D.TB.TC"));
        let plans = [a, b];
        let snap = w.snapshot(&plans);
        let rules = RulesFile::default();
        let inc = check_incremental(&snap, &plans[0].id, &Scope::default(), today(), &rules);
        let r21: Vec<&Finding> = inc.of_rule(RuleId::R21).collect();
        assert_eq!(r21.len(), 2, "{r21:#?}");
        let warning = r21
            .iter()
            .find(|f| f.severity == Severity::Warning)
            .expect("one person under two IDs");
        assert_eq!(warning.national_ids().collect::<Vec<_>>(), [ID1, ID2]);
        assert_incremental_matches(&snap);
    }

    fn assert_incremental_matches(snap: &Snapshot<'_>) {
        let rules = RulesFile::default();
        let full = check(snap, &Scope::default(), today(), &rules);
        for plan in snap.plans {
            let persons = touched_persons(snap, &plan.id);
            let want: Vec<_> = full
                .findings
                .iter()
                .filter(|f| touches(f, &plan.id, &persons))
                .cloned()
                .collect();
            let got = check_incremental(snap, &plan.id, &Scope::default(), today(), &rules);
            assert_eq!(got.findings, want, "incremental check of {}", plan.id);
        }
    }

    use crate::domain::Entry;

    fn arb_snapshot() -> impl Strategy<Value = Vec<Plan>> {
        let ids = [
            "001080000001",
            "001080000002",
            "001080000003",
            "0010800000",
            "",
        ];
        let names = [
            "Nguyễn Văn A",
            "Nguye\u{302}\u{303}n Văn A",
            "Lê Thị B",
            " ",
        ];
        let positions = [
            "D.BT",
            "D.CT.UBND",
            "C.BT",
            "C.DUV",
            "P.TUV",
            "X.UNKNOWN",
            "D.HUV",
        ];
        let units = ["40", "412", "414", "16681", "99999"];
        let terms = ["2025-2030", "2026-2031", "1999-2000"];
        let entry = (
            0..ids.len(),
            0..names.len(),
            0..positions.len(),
            -40_000i32..40_000,
            any::<bool>(),
            proptest::option::of((0u8..4, -3000i32..3000)),
            proptest::option::of(-3000i32..3000),
            0..units.len(),
            any::<bool>(),
        )
            .prop_map(move |(i, n, p, birth, female, disc, appt, cu, added)| {
                let base = d(2000, 1, 1);
                let day = |k: i32| {
                    base.checked_add_signed(chrono::TimeDelta::days(k.into()))
                        .unwrap_or(base)
                };
                let mut c = cadre(ids[i], names[n]);
                c.birth_date = day(birth);
                c.gender = if female { Gender::Female } else { Gender::Male };
                c.current_unit = units[cu].into();
                c.current_positions = vec![positions[(p + 1) % positions.len()].into()];
                c.discipline = disc
                    .map(|(k, t)| {
                        let kind = [
                            DisciplineKind::Reprimand,
                            DisciplineKind::Warning,
                            DisciplineKind::RemovalFromPost,
                            DisciplineKind::Expulsion,
                        ][usize::from(k)];
                        vec![Discipline {
                            kind,
                            decided_on: day(t * 3),
                            announced_on: None,
                            complaint_pending: false,
                            new_violation_on: None,
                        }]
                    })
                    .unwrap_or_default();
                c.appointment_proposed_on = appt.map(|t| day(t * 3));
                Entry {
                    cadre: c,
                    position: positions[p].into(),
                    source: if added {
                        EntrySource::AddedByAuthority
                    } else {
                        EntrySource::Voted
                    },
                    origin: None,
                }
            });
        let round = (
            0u32..40,
            0u32..40,
            0u32..40,
            proptest::collection::vec((0..ids.len(), 0..positions.len(), 0u32..50), 0..6),
        )
            .prop_map(move |(convened, present, valid, tallies)| BallotRound {
                body: Body::ExecutiveCommittee,
                date: d(2025, 3, 1),
                convened,
                present,
                ballots_issued: present,
                valid_ballots: valid,
                tallies: tallies
                    .into_iter()
                    .map(|(i, p, yes)| Tally {
                        national_id: ids[i].into(),
                        position: positions[p].into(),
                        yes,
                    })
                    .collect(),
            });
        let plan = (
            0..units.len(),
            0..terms.len(),
            1u32..3,
            proptest::collection::vec(entry, 0..8),
            proptest::collection::vec(round, 0..3),
            0u8..3,
            proptest::option::of(-400i64..400),
        )
            .prop_map(move |(u, t, version, entries, rounds, status, received)| {
                let mut p = plan(units[u], terms[t], version);
                p.entries = entries;
                p.rounds = rounds;
                p.status = [
                    PlanStatus::Received,
                    PlanStatus::Approved,
                    PlanStatus::Returned,
                ][usize::from(status)];
                p.received_at = received.map(|h| at(2025, 8, 1) + chrono::TimeDelta::days(h));
                p.adopted_on = received.map(|_| d(2025, 7, 1));
                p
            });
        proptest::collection::vec(plan, 0..6)
    }

    use crate::domain::{BallotRound, Body, Tally};

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn full_check_never_panics_and_incremental_agrees(plans in arb_snapshot(), days in -5000i64..5000) {
            let w = World::new();
            let submitted: Vec<SubmittedCopy> = plans
                .iter()
                .take(2)
                .map(|p| SubmittedCopy { id: p.id.clone(), hash: p.content_hash() })
                .collect();
            let snap = Snapshot { plans: &plans, hierarchy: &w.hierarchy, catalog: &w.catalog, submitted: &submitted, fulfilled: &[] };
            let day = today() + chrono::TimeDelta::days(days);
            let mut rules = RulesFile::default();
            rules.qd50.committee_multiplier = Some(1.5);
            rules.qd50.committee_seats.district = Some(2);
            rules.qd50.min_ethnic_minority_ratio = Some(0.1);
            let r = check(&snap, &Scope::default(), day, &rules);
            for f in &r.findings {
                prop_assert!(!f.message_vi.is_empty() && !f.message_en.is_empty());
                for id in f.national_ids() {
                    if id.len() > 4 {
                        prop_assert!(!f.message_vi.contains(id) && !f.message_en.contains(id));
                    }
                }
            }
            assert_incremental_matches(&snap);
        }
    }
}
