//! R17, the appraisal deadline (thời hạn thẩm định): the approving level has
//! `appraisal_working_days` working days from receipt; weekends and the configured holidays are
//! not working days. The day of receipt does not count; the last day of the period is still in
//! time. Also used by the completeness report to list overdue submissions.

use chrono::{Datelike, NaiveDate, Weekday};

use super::{
    context::{local_date, Ctx},
    finding::{Finding, RuleId, Severity},
};
use crate::domain::{Plan, PlanStatus};

/// Returns true if and only if `day` is neither a Saturday, a Sunday nor one of `holidays`.
pub fn is_working_day(day: NaiveDate, holidays: &[NaiveDate]) -> bool {
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(&day)
}

/// The `n`th working day after `start` (`start` itself not counted); `None` past the calendar's
/// end.
pub fn add_working_days(start: NaiveDate, n: u32, holidays: &[NaiveDate]) -> Option<NaiveDate> {
    let mut day = start;
    let mut left = n;
    while left > 0 {
        day = day.succ_opt()?;
        if is_working_day(day, holidays) {
            left -= 1;
        }
    }
    Some(day)
}

/// Working days after `from` up to and including `to` (0 when `to` ≤ `from`), counting at most
/// `limit`.
fn working_days_between(from: NaiveDate, to: NaiveDate, holidays: &[NaiveDate], limit: u32) -> u32 {
    let mut count = 0;
    let mut day = from;
    while day < to && count < limit {
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
        if is_working_day(day, holidays) {
            count += 1;
        }
    }
    count
}

/// R17: a plan still awaiting the approving level's decision (status received) whose deadline
/// has passed. Uses the parameters in force on the day of the check. Warning.
pub(crate) fn r17(ctx: &Ctx<'_>, plan: &Plan, out: &mut Vec<Finding>) {
    if plan.status != PlanStatus::Received {
        return;
    }
    let Some(received_at) = plan.received_at else {
        return;
    };
    let params = ctx.now;
    let received = local_date(received_at);
    let Some(deadline) =
        add_working_days(received, params.appraisal_working_days, &params.holidays)
    else {
        return;
    };
    if ctx.today <= deadline {
        return;
    }
    let late = working_days_between(deadline, ctx.today, &params.holidays, 100_000);
    let n = params.appraisal_working_days;
    out.push(Finding::new(
        RuleId::R17,
        Severity::Warning,
        vec![plan.id.unit.clone()],
        None,
        Vec::new(),
        vec![plan.id.term.clone()],
        vec![plan.id.clone()],
        format!(
            "Danh sách quy hoạch {} nhận ngày {received} đã quá hạn thẩm định {n} ngày làm việc (hạn cuối {deadline}, quá {late} ngày làm việc); cần thẩm định và quyết định",
            plan.id
        ),
        format!(
            "Plan {} received on {received} is past its {n}-working-day appraisal deadline (last day {deadline}, {late} working days late); appraise and decide",
            plan.id
        ),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{params::RulesFile, testkit::*};

    #[test]
    fn thirty_working_days_skip_weekends_and_holidays() {
        // Received Friday 2025-08-01; 30 working days → Friday 2025-09-12 without holidays.
        assert_eq!(
            add_working_days(d(2025, 8, 1), 30, &[]),
            Some(d(2025, 9, 12))
        );
        // With National Day (1 and 2 September) off → Tuesday 2025-09-16.
        let holidays = [d(2025, 9, 1), d(2025, 9, 2)];
        assert_eq!(
            add_working_days(d(2025, 8, 1), 30, &holidays),
            Some(d(2025, 9, 16))
        );
        assert!(!is_working_day(d(2025, 9, 6), &[]), "a Saturday");
        assert_eq!(add_working_days(NaiveDate::MAX, 1, &[]), None);
    }

    fn received(on: chrono::DateTime<chrono::Utc>) -> [Plan; 1] {
        let mut p = plan("412", "2025-2030", 1);
        p.received_at = Some(on);
        [p]
    }

    #[test]
    fn the_last_working_day_is_not_overdue() {
        let w = World::new();
        let plans = received(at(2025, 8, 1));
        let mut rules = RulesFile::default();
        rules.qd50.holidays = vec![d(2025, 9, 1), d(2025, 9, 2)];
        rules.qd377.holidays = rules.qd50.holidays.clone();
        let on = |day| w.rule_with(&plans, RuleId::R17, &rules, day);
        assert!(on(d(2025, 9, 16)).findings.is_empty(), "the last day");
        let r = on(d(2025, 9, 17));
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].severity, Severity::Warning);
        assert_contains(
            &r.findings[0].message_en,
            "last day 2025-09-16, 1 working days late",
        );
        // A weekend after the deadline adds no working days.
        assert!(on(d(2025, 9, 22)).findings[0]
            .message_en
            .contains("4 working days late"));
    }

    #[test]
    fn receipt_is_counted_in_vietnam_time() {
        let w = World::new();
        // 2025-07-31 20:00 UTC is 2025-08-01 03:00 in Vietnam.
        use chrono::TimeZone;
        let plans = received(chrono::Utc.with_ymd_and_hms(2025, 7, 31, 20, 0, 0).unwrap());
        assert!(w
            .rule_with(&plans, RuleId::R17, &RulesFile::default(), d(2025, 9, 12))
            .findings
            .is_empty());
        assert_eq!(
            w.rule_with(&plans, RuleId::R17, &RulesFile::default(), d(2025, 9, 15))
                .findings
                .len(),
            1
        );
    }

    #[test]
    fn only_plans_awaiting_a_decision_are_listed() {
        let w = World::new();
        let mut plans = received(at(2025, 1, 2));
        assert_eq!(w.rule(&plans, RuleId::R17).findings.len(), 1);
        plans[0].status = PlanStatus::Approved;
        assert!(w.rule(&plans, RuleId::R17).findings.is_empty());
        plans[0].status = PlanStatus::Received;
        plans[0].received_at = None;
        assert!(w.rule(&plans, RuleId::R17).findings.is_empty());
    }
}
