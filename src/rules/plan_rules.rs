//! The rules that look at one plan on its own: R1 (higher position), R2 (three per position),
//! R4 (open appointment case), R6 (age, with R7), R8 (structure), R12 (automatic removal), R14
//! (discipline time-bars), R18 (committee size), R19 (vote threshold) and R20 (more passers than
//! places). Each takes the engine's context and one plan and appends its findings; every finding
//! names that plan and only that plan.

use std::{
    cell::OnceCell,
    collections::{BTreeMap, BTreeSet},
};

use foldhash::HashMap;

use chrono::{Datelike, Months, NaiveDate};

use super::{
    ballot::{denominator, passes, quorum_met},
    context::{name_key, Ctx},
    finding::{level_vi, mask_id, Finding, PersonRef, RuleId, Severity},
    params::{Ruleset, TimeBars},
};
use crate::domain::{
    BallotRound, Cadre, Discipline, DisciplineKind, Entry, EntrySource, Gender, Plan, Position,
    PositionKind, RatingLevel,
};

/// A finding about one plan.
pub(crate) fn finding(
    rule: RuleId,
    severity: Severity,
    plan: &Plan,
    person: Option<PersonRef>,
    positions: Vec<String>,
    vi: String,
    en: String,
) -> Finding {
    Finding::new(
        rule,
        severity,
        vec![plan.id.unit.clone()],
        person,
        positions,
        vec![plan.id.term.clone()],
        vec![plan.id.clone()],
        vi,
        en,
    )
}

/// A finding about the person of `entries` (one person's entries in `plan`, as
/// [`PlanView::by_person`] gives them) that names all their positions: `message` writes the
/// Vietnamese and English sentences from the person's label and those positions, joined by ", ".
fn person_finding(
    rule: RuleId,
    severity: Severity,
    plan: &Plan,
    entries: &[&Entry],
    message: impl FnOnce(&str, &str) -> (String, String),
) -> Finding {
    let person = PersonRef::of(&entries[0].cadre);
    let positions: Vec<String> = entries.iter().map(|e| e.position.to_string()).collect();
    let (vi, en) = message(&person.label(), &positions.join(", "));
    finding(rule, severity, plan, Some(person), positions, vi, en)
}

/// "(đơn vị 412, nhiệm kỳ 2025-2030)" and its English twin.
fn where_(plan: &Plan) -> (String, String) {
    (
        format!("(đơn vị {}, nhiệm kỳ {})", plan.id.unit, plan.id.term),
        format!("(unit {}, term {})", plan.id.unit, plan.id.term),
    )
}

/// Like [`where_`], naming also the ruleset that judged the plan: "(đơn vị 412, nhiệm kỳ
/// 2025-2030; QĐ 377-QĐ/TW)".
pub(crate) fn where_judged(ctx: &Ctx<'_>, plan: &Plan) -> (String, String) {
    let rs = Ruleset::for_date(ctx.decision_date(plan)).citation();
    (
        format!("(đơn vị {}, nhiệm kỳ {}; {rs})", plan.id.unit, plan.id.term),
        format!("(unit {}, term {}; {rs})", plan.id.unit, plan.id.term),
    )
}

/// A plan with what several of its rules share, computed once per check of the plan: its
/// entries grouped by person and the last votes of its ballot rounds.
pub(crate) struct PlanView<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The entries in national-ID order (each person's in list order).
    sorted: Vec<&'a Entry>,
    /// Where each person's entries start in `sorted`, and `sorted.len()` last.
    starts: Vec<u32>,
    /// The last votes, computed on first use.
    votes: OnceCell<Votes<'a>>,
}

/// For each (national ID, position), the last round that voted on it and the yes votes.
type Votes<'a> = HashMap<(&'a str, &'a str), (&'a BallotRound, u32)>;

impl<'a> PlanView<'a> {
    /// The view of `plan`.
    pub(crate) fn new(plan: &'a Plan) -> Self {
        let mut sorted: Vec<&Entry> = plan.entries.iter().collect();
        sorted.sort_by(|a, b| a.cadre.national_id.cmp(&b.cadre.national_id));
        let mut starts: Vec<u32> = Vec::with_capacity(sorted.len() + 1);
        for (i, e) in sorted.iter().enumerate() {
            if i == 0 || sorted[i - 1].cadre.national_id != e.cadre.national_id {
                starts.push(u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
        starts.push(u32::try_from(sorted.len()).unwrap_or(u32::MAX));
        Self {
            plan,
            sorted,
            starts,
            votes: OnceCell::new(),
        }
    }

    /// The entries grouped by person, in national-ID order.
    pub(crate) fn by_person(&self) -> impl Iterator<Item = (&'a str, &[&'a Entry])> + '_ {
        self.starts.windows(2).map(|w| {
            let entries = &self.sorted[w[0] as usize..w[1] as usize];
            (entries[0].cadre.national_id.as_str(), entries)
        })
    }

    /// The distinct persons (first record of each).
    fn persons(&self) -> Vec<&'a Cadre> {
        self.by_person().map(|(_, es)| &es[0].cadre).collect()
    }

    /// For each (national ID, position), the last round that voted on it and the yes votes.
    fn last_votes(&self) -> &Votes<'a> {
        self.votes.get_or_init(|| {
            let mut out = Votes::default();
            for round in &self.plan.rounds {
                for t in &round.tallies {
                    out.insert(
                        (t.national_id.as_str(), t.position.as_str()),
                        (round, t.yes),
                    );
                }
            }
            out
        })
    }
}

/// R1: a cadre is planned only into a position of a higher grade than the highest they hold.
/// Leadership posts compare with every current position. A party-committee seat compares only
/// with the committee seats held now: planning a deputy secretary into the next standing
/// committee is planning for re-election (tái cử), not into a lower post, while planning a
/// standing-committee member back into the plain committee is.
pub(crate) fn r1(ctx: &Ctx<'_>, plan: &Plan, out: &mut Vec<Finding>) {
    let (at_vi, at_en) = where_(plan);
    for e in &plan.entries {
        let who = || PersonRef::of(&e.cadre).label();
        // Every R1 finding is an error about this entry's person.
        let error = |positions: Vec<String>, vi: String, en: String| {
            finding(
                RuleId::R1,
                Severity::Error,
                plan,
                Some(PersonRef::of(&e.cadre)),
                positions,
                vi,
                en,
            )
        };
        let Some(planned) = ctx.position(&e.position) else {
            let who = who();
            out.push(error(
                vec![e.position.to_string()],
                format!(
                    "{who}: chức danh quy hoạch {} không có trong danh mục chức danh nên không so sánh được; sửa mã chức danh {at_vi}",
                    e.position
                ),
                format!(
                    "{who}: planned position {} is not in the catalogue, so it cannot be compared; correct the position code {at_en}",
                    e.position
                ),
            ));
            continue;
        };
        let unknown: Vec<&str> = e
            .cadre
            .current_positions
            .iter()
            .filter(|c| ctx.position(c).is_none())
            .map(|c| c.as_str())
            .collect();
        if !unknown.is_empty() {
            let who = who();
            out.push(error(
                vec![e.position.to_string()],
                format!(
                    "{who}: chức danh hiện giữ {} không có trong danh mục nên không kiểm tra được việc quy hoạch vào {}; sửa mã chức danh {at_vi}",
                    unknown.join(", "),
                    e.position
                ),
                format!(
                    "{who}: current position {} is not in the catalogue, so planning into {} cannot be checked; correct the position code {at_en}",
                    unknown.join(", "),
                    e.position
                ),
            ));
            continue;
        }
        let comparable = |cur: &&Position| {
            planned.kind == PositionKind::Leadership || cur.kind == PositionKind::Committee
        };
        let highest = e
            .cadre
            .current_positions
            .iter()
            .filter_map(|c| ctx.position(c))
            .filter(comparable)
            .max_by(|a, b| a.grade.cmp(&b.grade).then_with(|| b.code.cmp(&a.code)));
        let too_low = |cur: &&Position| match planned.kind {
            PositionKind::Leadership => planned.grade <= cur.grade,
            PositionKind::Committee => planned.grade < cur.grade,
        };
        if let Some(cur) = highest.filter(too_low) {
            let who = who();
            out.push(error(
                vec![e.position.to_string(), cur.code.clone()],
                format!(
                    "{who} được quy hoạch vào {} ({}, bậc {}) không cao hơn chức danh hiện giữ cao nhất {} ({}, bậc {}); chỉ quy hoạch vào chức danh cao hơn {at_vi}",
                    planned.code, planned.title_vi, planned.grade, cur.code, cur.title_vi, cur.grade
                ),
                format!(
                    "{who} is planned for {} ({}, grade {}), which is not higher than the highest current position {} ({}, grade {}); plan only into a higher position {at_en}",
                    planned.code, planned.title_en, planned.grade, cur.code, cur.title_en, cur.grade
                ),
            ));
        }
    }
}

/// Returns true if and only if the entry of `national_id` for `position` was fulfilled (elected
/// or appointed) before this version of its plan: it no longer takes a place (R2, R20).
fn released(ctx: &Ctx<'_>, plan: &Plan, national_id: &str, position: &str) -> bool {
    ctx.snap
        .fulfilled
        .iter()
        .any(|f| f.releases(&plan.id, national_id, position))
}

/// R2: at most `max_cadres_per_position` cadres for one leadership position of a unit and term,
/// not counting entries fulfilled before this version (elected or appointed, see
/// [`crate::domain::Fulfilment`]). Committee seats are many per body and are bounded by R18 instead.
pub(crate) fn r2(ctx: &Ctx<'_>, plan: &Plan, out: &mut Vec<Finding>) {
    let cap = ctx.params(plan).max_cadres_per_position;
    let (at_vi, at_en) = where_(plan);
    // (position, national ID, first record) of the leadership entries, by position and ID.
    let mut listed: Vec<(&str, &str, &Cadre)> = plan
        .entries
        .iter()
        .filter(|e| {
            ctx.position(&e.position)
                .is_some_and(|p| p.kind == PositionKind::Leadership)
        })
        // An entry used (elected or appointed) before this review no longer takes a place.
        .filter(|e| !released(ctx, plan, &e.cadre.national_id, &e.position))
        .map(|e| (e.position.as_str(), e.cadre.national_id.as_str(), &e.cadre))
        .collect();
    listed.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    listed.dedup_by(|later, first| later.0 == first.0 && later.1 == first.1);
    for cadres in listed.chunk_by(|a, b| a.0 == b.0) {
        let code = cadres[0].0;
        let Some(pos) = ctx.position(code) else {
            continue;
        };
        let count = u32::try_from(cadres.len()).unwrap_or(u32::MAX);
        if count <= cap {
            continue;
        }
        let names: Vec<String> = cadres
            .iter()
            .map(|(_, _, c)| PersonRef::of(c).label())
            .collect();
        out.push(finding(
            RuleId::R2,
            Severity::Error,
            plan,
            None,
            vec![code.to_string()],
            format!(
                "{count} cán bộ được quy hoạch vào {code} ({}): {}; tối đa {cap} {at_vi}",
                pos.title_vi,
                names.join("; ")
            ),
            format!(
                "{count} cadres are planned for {code} ({}): {}; at most {cap} {at_en}",
                pos.title_en,
                names.join("; ")
            ),
        ));
    }
}

/// R4: no planning while a proposal to appoint or nominate the same person is open: the
/// proposal is dated on or before the vote that put the entry there (the last round that voted on
/// it, or the plan's decision date for an entry without a vote).
pub(crate) fn r4(ctx: &Ctx<'_>, view: &PlanView<'_>, out: &mut Vec<Finding>) {
    let plan = view.plan;
    let votes = view.last_votes();
    let decided = ctx.decision_date(plan);
    let (at_vi, at_en) = where_(plan);
    for (id, entries) in view.by_person() {
        let cadre = &entries[0].cadre;
        let Some(proposed) = cadre.appointment_proposed_on else {
            continue;
        };
        let clashing: Vec<(String, NaiveDate)> = entries
            .iter()
            .map(|e| {
                let when = votes
                    .get(&(id, e.position.as_str()))
                    .map_or(decided, |(r, _)| r.date);
                (e.position.to_string(), when)
            })
            .filter(|(_, when)| proposed <= *when)
            .collect();
        if clashing.is_empty() {
            continue;
        }
        let who = PersonRef::of(cadre).label();
        let list = clashing
            .iter()
            .map(|(p, w)| format!("{p} ({w})"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(finding(
            RuleId::R4,
            Severity::Error,
            plan,
            Some(PersonRef::of(cadre)),
            clashing.into_iter().map(|(p, _)| p).collect(),
            format!(
                "{who} đang có đề nghị bổ nhiệm/giới thiệu ứng cử từ {proposed} nhưng vẫn được bỏ phiếu quy hoạch vào {list}; không quy hoạch đồng thời với đề nghị bổ nhiệm {at_vi}"
            ),
            format!(
                "{who} has an open appointment or nomination proposal since {proposed} but was voted into the plan for {list}; do not plan while an appointment is proposed {at_en}"
            ),
        ));
    }
}

/// R6 with R7: calendar months from the age reference month of the term and of the planned
/// position's level (Chỉ thị 45-CT/TW gives one per level) to the retirement month
/// ([`super::retirement::Schedule::calendar_months_to_retirement`]); fewer than `min_months_to_retirement` is an
/// error, fewer than `preferred_months_to_retirement` a warning. A plan whose term is not in
/// the catalogue is not checked; a position not in it (R1's finding) takes the level of the
/// plan's unit.
pub(crate) fn r6(ctx: &Ctx<'_>, view: &PlanView<'_>, out: &mut Vec<Finding>) {
    let plan = view.plan;
    let Some(term) = ctx.snap.catalog.term(&plan.id.term) else {
        return;
    };
    let params = ctx.params(plan);
    let unit_level = ctx.unit_level(&plan.id.unit);
    let (at_vi, at_en) = where_judged(ctx, plan);
    let ruleset = Ruleset::for_date(ctx.decision_date(plan));
    for (_, entries) in view.by_person() {
        let c = &entries[0].cadre;
        let schedule = match params.schedule_for(c.retirement_regime, c.gender) {
            Ok(s) => s,
            Err(table) => {
                missing_table(plan, c, entries, ruleset, table, out);
                continue;
            }
        };
        // The person's entries by the reference date of their positions' levels.
        let mut by_reference: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
        for e in entries {
            let level = ctx.position(&e.position).map(|p| p.level).or(unit_level);
            by_reference
                .entry(term.age_reference(level))
                .or_default()
                .push(e.position.to_string());
        }
        for (reference, positions) in by_reference {
            let months = schedule.calendar_months_to_retirement(c.birth_date, reference);
            let (severity, need) = if months < params.min_months_to_retirement {
                (Severity::Error, params.min_months_to_retirement)
            } else if months < params.preferred_months_to_retirement {
                (Severity::Warning, params.preferred_months_to_retirement)
            } else {
                continue;
            };
            let (ry, rm) = schedule.retirement_month(c.birth_date);
            let who = PersonRef::of(c).label();
            let (need_vi, need_en) = match severity {
                Severity::Error => ("cần ít nhất", "at least"),
                Severity::Warning => ("nên có từ", "preferably"),
            };
            let from = reference.format("%m/%Y");
            out.push(finding(
                RuleId::R6,
                severity,
                plan,
                Some(PersonRef::of(c)),
                positions.clone(),
                format!(
                    "{who} ({}, sinh {}) đến tuổi nghỉ hưu tháng {rm:02}/{ry}, chỉ còn {months} tháng công tác tính từ tháng {from}; {need_vi} {need} tháng để quy hoạch vào {} {at_vi}",
                    c.gender.vi(),
                    c.birth_date,
                    positions.join(", ")
                ),
                format!(
                    "{who} ({}, born {}) reaches retirement age in {ry}-{rm:02}, only {months} months after {from}; {need_en} {need} months are needed to be planned for {} {at_en}",
                    c.gender.as_str(),
                    c.birth_date,
                    positions.join(", ")
                ),
            ));
        }
    }
}

/// R7: a person whose retirement regime needs a table the province's rules file does not give:
/// an error, since neither R6 nor R12 can judge them.
fn missing_table(
    plan: &Plan,
    c: &Cadre,
    entries: &[&Entry],
    ruleset: Ruleset,
    table: &str,
    out: &mut Vec<Finding>,
) {
    let (at_vi, at_en) = where_(plan);
    let who = PersonRef::of(c).label();
    let regime = c.retirement_regime;
    let file_table = format!("[{}.{table}]", ruleset.as_str());
    out.push(finding(
        RuleId::R7,
        Severity::Error,
        plan,
        Some(PersonRef::of(c)),
        entries.iter().map(|e| e.position.to_string()).collect(),
        format!(
            "{who} theo chế độ nghỉ hưu {} ({}) nhưng tệp quy định của tỉnh không có bảng tuổi nghỉ hưu {file_table}; không tính được tuổi quy hoạch, bổ sung bảng này {at_vi}",
            regime.vi(),
            regime.as_str()
        ),
        format!(
            "{who} is under the {} retirement regime but the province's rules file has no {file_table} table; the planning age cannot be judged until it is added {at_en}",
            regime.as_str()
        ),
    ));
}

/// R8: the structure of a list (distinct persons) against the targets of the ruleset that
/// judges it: women, young cadres (younger than `young_age_under` whole years on the term's age
/// reference date, or on the day of the check when the term is unknown), ethnic minorities and
/// QĐ 377's three age bands, each only when its target is set (QĐ 50 sets women 25 % and young
/// 15 %; QĐ 377 sets none unless the province's rules file does). Warnings naming the ruleset.
pub(crate) fn r8(ctx: &Ctx<'_>, view: &PlanView<'_>, out: &mut Vec<Finding>) {
    let plan = view.plan;
    let people = view.persons();
    if people.is_empty() {
        return;
    }
    let params = ctx.params(plan);
    let level = ctx.unit_level(&plan.id.unit);
    let reference = ctx
        .snap
        .catalog
        .term(&plan.id.term)
        .map_or(ctx.today, |t| t.age_reference(level));
    let age = |c: &Cadre| reference.years_since(c.birth_date).unwrap_or(0);
    let total = people.len();
    let count = |pred: &dyn Fn(&Cadre) -> bool| people.iter().filter(|c| pred(c)).count();
    let majority = name_key(&params.majority_ethnicity).to_lowercase();
    let (at_vi, at_en) = where_judged(ctx, plan);
    let mut check = |count: usize, min: Option<f64>, what_vi: &str, what_en: &str| {
        let Some(min) = min else {
            return;
        };
        #[allow(clippy::cast_precision_loss)]
        let share = count as f64 / total as f64;
        if share < min {
            out.push(finding(
                RuleId::R8,
                Severity::Warning,
                plan,
                None,
                Vec::new(),
                format!(
                    "Tỷ lệ {what_vi} trong danh sách là {count}/{total} ({:.1}%), thấp hơn mục tiêu {:.0}% {at_vi}",
                    share * 100.0,
                    min * 100.0
                ),
                format!(
                    "The share of {what_en} in the list is {count}/{total} ({:.1}%), below the target of {:.0}% {at_en}",
                    share * 100.0,
                    min * 100.0
                ),
            ));
        }
    };
    check(
        count(&|c| c.gender == Gender::Female),
        params.min_women_ratio,
        "cán bộ nữ",
        "women",
    );
    let young = params.young_age_under;
    check(
        count(&|c| age(c) < young),
        params.min_young_ratio,
        &format!("cán bộ trẻ (dưới {young} tuổi)"),
        &format!("young cadres (under {young})"),
    );
    check(
        count(&|c| {
            c.ethnicity != params.majority_ethnicity
                && name_key(&c.ethnicity).to_lowercase() != majority
        }),
        params.min_ethnic_minority_ratio,
        "cán bộ người dân tộc thiểu số",
        "ethnic-minority cadres",
    );
    check(
        count(&|c| c.science_technology),
        params.min_science_technology_ratio,
        "cán bộ khoa học, công nghệ",
        "science-and-technology cadres",
    );
    if let Some(b) = params.age_bands {
        check(
            count(&|c| age(c) < b.middle_from),
            b.min_young,
            &format!("độ tuổi dưới {}", b.middle_from),
            &format!("the age band under {}", b.middle_from),
        );
        check(
            count(&|c| (b.middle_from..b.senior_from).contains(&age(c))),
            b.min_middle,
            &format!("độ tuổi từ {} đến dưới {}", b.middle_from, b.senior_from),
            &format!("the age band {} to under {}", b.middle_from, b.senior_from),
        );
        check(
            count(&|c| age(c) >= b.senior_from),
            b.min_senior,
            &format!("độ tuổi từ {} trở lên", b.senior_from),
            &format!("the age band {} and over", b.senior_from),
        );
    }
}

/// R12: entries that are automatically removed (đương nhiên ra khỏi quy hoạch): a cadre who is
/// now over age (fewer than `removal_min_months_left` months from the day of the check to
/// retirement, when R6 did not already reject them at the term's reference date), or who was
/// disciplined at reprimand or above after the plan's decision date (a discipline before it is
/// R14's). The political standard is not machine-checkable.
pub(crate) fn r12(ctx: &Ctx<'_>, view: &PlanView<'_>, out: &mut Vec<Finding>) {
    let plan = view.plan;
    let params = ctx.params(plan);
    let decided = ctx.decision_date(plan);
    let term = ctx.snap.catalog.term(&plan.id.term);
    let (at_vi, at_en) = where_(plan);
    for (_, entries) in view.by_person() {
        let c = &entries[0].cadre;
        let mut reasons_vi = Vec::new();
        let mut reasons_en = Vec::new();
        // A person whose regime's table is missing draws R7's error from R6 instead.
        if let Ok(schedule) = params.schedule_for(c.retirement_regime, c.gender) {
            let left = schedule.months_until_retirement(c.birth_date, ctx.today);
            let level = entries
                .iter()
                .find_map(|e| ctx.position(&e.position).map(|p| p.level))
                .or_else(|| ctx.unit_level(&plan.id.unit));
            let passed_r6 = term.is_none_or(|t| {
                schedule.calendar_months_to_retirement(c.birth_date, t.age_reference(level))
                    >= params.min_months_to_retirement
            });
            if passed_r6 && left < params.removal_min_months_left {
                let (ry, rm) = schedule.retirement_month(c.birth_date);
                reasons_vi.push(format!(
                    "quá tuổi quy hoạch (nghỉ hưu tháng {rm:02}/{ry}, còn {left} tháng tính từ {})",
                    ctx.today
                ));
                reasons_en.push(format!(
                    "over planning age (retires {ry}-{rm:02}, {left} months left on {})",
                    ctx.today
                ));
            }
        }
        for d in &c.discipline {
            if d.decided_on > decided && d.decided_on <= ctx.today {
                reasons_vi.push(format!("bị kỷ luật {} ngày {}", d.kind.vi(), d.decided_on));
                reasons_en.push(format!(
                    "disciplined ({}) on {}",
                    discipline_en(d.kind),
                    d.decided_on
                ));
            }
        }
        if reasons_vi.is_empty() {
            continue;
        }
        out.push(person_finding(RuleId::R12, Severity::Error, plan, entries, |who, positions| (
            format!(
                "{who} đương nhiên ra khỏi quy hoạch {positions}: {}; đưa ra khỏi danh sách, ghi rõ lý do {at_vi}",
                reasons_vi.join("; ")
            ),
            format!(
                "{who} is automatically removed from the plan for {positions}: {}; remove the entries with this reason {at_en}",
                reasons_en.join("; ")
            ),
        )));
    }
}

pub(crate) fn discipline_vi(k: DisciplineKind) -> &'static str {
    k.vi()
}

pub(crate) fn discipline_en(k: DisciplineKind) -> &'static str {
    match k {
        DisciplineKind::Reprimand => "reprimand",
        DisciplineKind::Warning => "warning",
        DisciplineKind::RemovalFromPost => "removal from post",
        DisciplineKind::Expulsion => "expulsion",
        DisciplineKind::Demotion => "demotion",
        DisciplineKind::SalaryStepReduction => "salary-step reduction",
    }
}

fn ruleset_name(r: Ruleset) -> &'static str {
    match r {
        Ruleset::Qd50 => "QĐ 50-QĐ/TW, QĐ 80-QĐ/TW",
        Ruleset::Qd377 => "QĐ 377-QĐ/TW",
    }
}

/// The last day a discipline bars planning, `None` when it bars for ever.
pub(crate) fn bar_last_day(decided_on: NaiveDate, months: Option<u32>) -> Option<NaiveDate> {
    decided_on
        .checked_add_months(Months::new(months?))?
        .pred_opt()
}

/// Why one discipline record still bars planning on a decision date: its last barred day
/// (`None`: for ever) and the reason in Vietnamese and English.
struct Bar {
    vi: String,
    en: String,
}

/// R14 for one record judged on `decided` by `ruleset`: `None` once the record no longer bars.
fn bar_of(d: &Discipline, decided: NaiveDate, ruleset: Ruleset, bars: &TimeBars) -> Option<Bar> {
    let (kind_vi, kind_en) = (discipline_vi(d.kind), discipline_en(d.kind));
    let relieved = ruleset == Ruleset::Qd377
        && matches!(d.kind, DisciplineKind::Reprimand | DisciplineKind::Warning);
    if relieved {
        // QĐ 377 with Quy định 69: 12 months from the announcement (the decision when none is
        // recorded), with no complaint pending and no new violation in that time.
        let (from, from_vi, from_en) = match d.announced_on {
            Some(a) => (a, "công bố", "announced"),
            None => (
                d.decided_on,
                "quyết định (chưa ghi ngày công bố)",
                "decided (no announcement recorded)",
            ),
        };
        let months = bars.relief_after_announcement;
        let last = bar_last_day(from, Some(months))?;
        if last >= decided {
            return Some(Bar {
                vi: format!("{kind_vi} {from_vi} ngày {from} (thời hạn {months} tháng, đến hết ngày {last})"),
                en: format!("{kind_en} {from_en} on {from} ({months}-month bar, last day {last})"),
            });
        }
        if d.complaint_pending {
            return Some(Bar {
                vi: format!("{kind_vi} công bố ngày {from}: đã quá {months} tháng nhưng đang có khiếu nại"),
                en: format!("{kind_en} announced on {from}: {months} months have passed but a complaint is pending"),
            });
        }
        if let Some(v) = d.new_violation_on.filter(|v| *v <= last) {
            return Some(Bar {
                vi: format!("{kind_vi} công bố ngày {from}: có vi phạm mới ngày {v} trong thời hạn {months} tháng"),
                en: format!("{kind_en} announced on {from}: a new violation on {v} within the {months} months"),
            });
        }
        return None;
    }
    match bars.months(d.kind) {
        Some(m) => {
            let last = bar_last_day(d.decided_on, Some(m))?;
            (last >= decided).then(|| Bar {
                vi: format!(
                    "{kind_vi} ngày {} (thời hạn {m} tháng, đến hết ngày {last})",
                    d.decided_on
                ),
                en: format!(
                    "{kind_en} on {} ({m}-month bar, last day {last})",
                    d.decided_on
                ),
            })
        }
        None => Some(Bar {
            vi: format!("{kind_vi} ngày {} (không thời hạn)", d.decided_on),
            en: format!("{kind_en} on {} (bars for ever)", d.decided_on),
        }),
    }
}

/// R14: no planning during a discipline time-bar, judged on the plan's decision date (its
/// decision, else its adoption) by the ruleset in force on that date: under QĐ 50/QĐ 80 every
/// bar runs from the decision date; under QĐ 377 a reprimand or a warning runs 12 months from
/// its announcement and then needs no pending complaint and no new violation in that time
/// ([`TimeBars`]). The bar's last day is still barred; expulsion bars for ever.
pub(crate) fn r14(ctx: &Ctx<'_>, view: &PlanView<'_>, out: &mut Vec<Finding>) {
    let plan = view.plan;
    let decided = ctx.decision_date(plan);
    let ruleset = Ruleset::for_date(decided);
    let bars = ctx.rules.params(ruleset).time_bars;
    let (at_vi, at_en) = where_(plan);
    for (_, entries) in view.by_person() {
        let c = &entries[0].cadre;
        let hits: Vec<Bar> = c
            .discipline
            .iter()
            .filter(|d| d.decided_on <= decided)
            .filter_map(|d| bar_of(d, decided, ruleset, &bars))
            .collect();
        if hits.is_empty() {
            continue;
        }
        let hits_vi: Vec<&str> = hits.iter().map(|b| b.vi.as_str()).collect();
        let hits_en: Vec<&str> = hits.iter().map(|b| b.en.as_str()).collect();
        let rs = ruleset_name(ruleset);
        let (hits_vi, hits_en) = (hits_vi.join("; "), hits_en.join("; "));
        out.push(person_finding(RuleId::R14, Severity::Error, plan, entries, |who, positions| (
            format!(
                "{who} đang trong thời hạn không quy hoạch vào chức danh cao hơn do bị kỷ luật {hits_vi} vào ngày quyết định {decided} ({rs}); không quy hoạch vào {positions} {at_vi}"
            ),
            format!(
                "{who} is within a discipline time-bar on the decision date {decided}: {hits_en} ({rs}); do not plan into {positions} {at_en}"
            ),
        )));
    }
}

/// R26: an entry whose latest yearly rating (the last year rated up to the plan's decision
/// date) is "không hoàn thành nhiệm vụ" is still in the plan (Quy định 366-QĐ/TW): a warning.
/// Every version checked is the list as the annual review leaves it, so every version is
/// judged.
pub(crate) fn r26(ctx: &Ctx<'_>, view: &PlanView<'_>, out: &mut Vec<Finding>) {
    let plan = view.plan;
    let year = ctx.decision_date(plan).year();
    let (at_vi, at_en) = where_judged(ctx, plan);
    for (_, entries) in view.by_person() {
        let c = &entries[0].cadre;
        let Some(latest) = c
            .ratings
            .iter()
            .filter(|r| r.year <= year)
            .max_by_key(|r| r.year)
        else {
            continue;
        };
        if latest.level != RatingLevel::NotCompleted {
            continue;
        }
        let (level, year) = (latest.level.vi(), latest.year);
        out.push(person_finding(RuleId::R26, Severity::Warning, plan, entries, |who, positions| (
            format!(
                "{who} được xếp loại \"{level}\" năm {year} mà vẫn còn trong quy hoạch {positions}; xem xét đưa ra khỏi quy hoạch khi rà soát hằng năm {at_vi}"
            ),
            format!(
                "{who} was rated \"did not complete tasks\" for {year} and is still planned for {positions}; consider removal at the annual review {at_en}"
            ),
        )));
    }
}

/// R18 (off unless set): the planned party committee (distinct persons planned for a committee
/// seat of the plan's unit) may hold at most `committee_multiplier` × the seats of the unit's
/// level. Warning.
pub(crate) fn r18(ctx: &Ctx<'_>, plan: &Plan, out: &mut Vec<Finding>) {
    let params = ctx.params(plan);
    let Some(multiplier) = params.committee_multiplier else {
        return;
    };
    let Some(level) = ctx.unit_level(&plan.id.unit) else {
        return;
    };
    let Some(seats) = params.committee_seats.for_level(level) else {
        return;
    };
    let members: BTreeSet<&str> = plan
        .entries
        .iter()
        .filter(|e| {
            ctx.position(&e.position)
                .is_some_and(|p| p.kind == PositionKind::Committee)
        })
        .map(|e| e.cadre.national_id.as_str())
        .collect();
    let limit = multiplier * f64::from(seats);
    #[allow(clippy::cast_precision_loss)]
    let count = members.len() as f64;
    if count <= limit {
        return;
    }
    let (at_vi, at_en) = where_(plan);
    let lv = level_vi(level);
    out.push(finding(
        RuleId::R18,
        Severity::Warning,
        plan,
        None,
        Vec::new(),
        format!(
            "Quy hoạch cấp ủy {lv} có {} người, vượt {multiplier} × {seats} ủy viên = {limit:.1} {at_vi}",
            members.len()
        ),
        format!(
            "The planned {level} party committee has {} persons, more than {multiplier} × {seats} seats = {limit:.1} {at_en}",
            members.len()
        ),
    ));
}

/// R19: an entry put there by a vote needs the last round that voted on it to be valid (2/3 of
/// those convened present) and to give it more than half of the denominator. Entries added by
/// the approving authority (R15) need no vote.
pub(crate) fn r19(ctx: &Ctx<'_>, view: &PlanView<'_>, out: &mut Vec<Finding>) {
    let plan = view.plan;
    let params = ctx.params(plan);
    let votes = view.last_votes();
    let (at_vi, at_en) = where_(plan);
    for e in plan
        .entries
        .iter()
        .filter(|e| e.source == EntrySource::Voted)
    {
        let key = (e.cadre.national_id.as_str(), e.position.as_str());
        if let Some((round, yes)) = votes.get(&key) {
            if quorum_met(round, params) && passes(round, *yes, params) {
                continue;
            }
        }
        let who = PersonRef::of(&e.cadre).label();
        let (vi, en) = match votes.get(&key) {
            None => (
                format!("{who} có trong danh sách quy hoạch {} nhưng không có kết quả bỏ phiếu; bổ sung biên bản kiểm phiếu {at_vi}", e.position),
                format!("{who} is listed for {} but no ballot result records it; attach the vote count {at_en}", e.position),
            ),
            Some((round, _)) if !quorum_met(round, params) => {
                let (present, convened) = (round.present, round.convened);
                let (num, den) = (params.quorum_num, params.quorum_den);
                (
                    format!(
                        "{who}: vòng bỏ phiếu ngày {} cho {} không hợp lệ: có mặt {present}/{convened} người được triệu tập, cần ít nhất {num}/{den} {at_vi}",
                        round.date, e.position
                    ),
                    format!(
                        "{who}: the round of {} for {} is not valid: {present} of {convened} convened attended, at least {num}/{den} needed {at_en}",
                        round.date, e.position
                    ),
                )
            }
            Some((round, yes)) if !passes(round, *yes, params) => {
                let den = denominator(round, params);
                (
                    format!(
                        "{who} được {yes}/{den} phiếu đồng ý cho {} (vòng ngày {}), không quá 50%; chưa đủ điều kiện đưa vào quy hoạch {at_vi}",
                        e.position, round.date
                    ),
                    format!(
                        "{who} got {yes} of {den} yes votes for {} (round of {}), not more than 50%; not eligible for the plan {at_en}",
                        e.position, round.date
                    ),
                )
            }
            Some(_) => continue,
        };
        out.push(finding(
            RuleId::R19,
            Severity::Error,
            plan,
            Some(PersonRef::of(&e.cadre)),
            vec![e.position.to_string()],
            vi,
            en,
        ));
    }
}

/// R20: when more nominees pass (R19) for a leadership position than `max_cadres_per_position`
/// (not counting entries fulfilled before this version),
/// the highest vote counts are kept; a tie at the cut-off is reported for a human decision.
/// Warning.
pub(crate) fn r20(ctx: &Ctx<'_>, view: &PlanView<'_>, out: &mut Vec<Finding>) {
    let plan = view.plan;
    let params = ctx.params(plan);
    let cap = usize::try_from(params.max_cadres_per_position).unwrap_or(usize::MAX);
    let names: HashMap<&str, &str> = plan
        .entries
        .iter()
        .map(|e| (e.cadre.national_id.as_str(), e.cadre.full_name.as_str()))
        .collect();
    let label = |id: &str| match names.get(id) {
        Some(n) => format!("{n} (CCCD {})", mask_id(id)),
        None => format!("CCCD {}", mask_id(id)),
    };
    let mut passers: BTreeMap<&str, Vec<(u32, &str)>> = BTreeMap::new();
    for (&(id, position), &(round, yes)) in view.last_votes() {
        if quorum_met(round, params)
            && passes(round, yes, params)
            && !released(ctx, plan, id, position)
        {
            passers.entry(position).or_default().push((yes, id));
        }
    }
    let (at_vi, at_en) = where_(plan);
    for (position, mut list) in passers {
        if list.len() <= cap
            || !ctx
                .position(position)
                .is_some_and(|p| p.kind == PositionKind::Leadership)
        {
            continue;
        }
        list.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        let ranked = list
            .iter()
            .map(|(yes, id)| format!("{} {yes}", label(id)))
            .collect::<Vec<_>>()
            .join(", ");
        let cut = list[cap.saturating_sub(1)].0;
        let tied: Vec<String> = list
            .iter()
            .filter(|(y, _)| *y == cut)
            .map(|(_, id)| label(id))
            .collect();
        let is_tie = cap > 0 && list[cap].0 == cut;
        let (tie_vi, tie_en) = if is_tie {
            (
                format!(" Hòa phiếu ở vị trí cuối ({cut} phiếu) giữa {}: cần cấp có thẩm quyền quyết định.", tied.join(", ")),
                format!(" A tie at the cut-off ({cut} votes) between {}: a human decision is needed.", tied.join(", ")),
            )
        } else {
            (String::new(), String::new())
        };
        out.push(finding(
            RuleId::R20,
            Severity::Warning,
            plan,
            None,
            vec![position.to_string()],
            format!(
                "{} người đạt trên 50% phiếu cho {position} nhưng chỉ có {cap} chỗ; giữ những người có số phiếu cao nhất: {ranked} {at_vi}.{tie_vi}",
                list.len()
            ),
            format!(
                "{} nominees passed for {position} but there are only {cap} places; keep the highest vote counts: {ranked} {at_en}.{tie_en}",
                list.len()
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{Decision, Discipline, Outcome, PlanId},
        rules::{params::RulesFile, testkit::*},
    };

    fn one(plan: Plan) -> [Plan; 1] {
        [plan]
    }

    // ---- R1

    #[test]
    fn r1_higher_passes_equal_fails() {
        let w = World::new();
        let mut p = plan("412", "2025-2030", 1);
        let mut c = cadre(ID1, "Nguyễn Văn A");
        c.current_positions = vec!["D.PCT.UBND".into()]; // grade 62
        p.entries.push(voted(&mut p.rounds, c.clone(), "D.CT.UBND")); // 70: higher
        assert_eq!(w.findings(p.clone(), RuleId::R1).len(), 0);
        c.current_positions = vec!["D.CT.HDND".into(), "C.BT".into()]; // highest 70
        p.entries[0].cadre = c;
        let r = w.findings(p, RuleId::R1);
        assert_eq!(r.len(), 1, "equal grade is not higher");
        let f = &r[0];
        assert_eq!(f.severity, Severity::Error);
        assert_contains(&f.message_vi, "D.CT.HDND");
        assert_contains(&f.message_en, "grade 70");
        assert!(!f.message_vi.contains(ID1));
    }

    #[test]
    fn r1_committee_seats_compare_with_committee_seats_only() {
        let w = World::new();
        let mut p = plan("412", "2025-2030", 1);
        let mut c = cadre(ID1, "Nguyễn Văn A");
        // A standing deputy secretary (71) planned for the next standing committee (65).
        c.current_positions = vec!["D.PBT.TT".into()];
        p.entries.push(voted(&mut p.rounds, c.clone(), "D.UV.BTV"));
        assert_eq!(w.findings(p.clone(), RuleId::R1).len(), 0);
        // Re-election into the same seat is allowed; a lower seat is not.
        c.current_positions = vec!["D.UV.BTV".into()];
        p.entries[0].cadre = c.clone();
        assert_eq!(w.findings(p.clone(), RuleId::R1).len(), 0);
        p.entries[0].position = "D.HUV".into();
        assert_eq!(w.findings(p, RuleId::R1).len(), 1);
    }

    #[test]
    fn r1_unknown_codes_are_reported() {
        let w = World::new();
        let mut p = one_planned("412", "D.NOPE", cadre(ID1, "Nguyễn Văn A"));
        let mut c = cadre(ID2, "Lê Văn B");
        c.current_positions = vec!["X.1".into()];
        p.entries.push(voted(&mut p.rounds, c, "D.BT"));
        assert_eq!(w.findings(p, RuleId::R1).len(), 2);
    }

    // ---- R2

    fn with_n_for(position: &str, n: usize) -> Plan {
        let mut p = plan("412", "2025-2030", 1);
        for i in 0..n {
            let c = cadre(&format!("00108500010{i}"), &format!("Trần Văn {i}"));
            p.entries.push(voted(&mut p.rounds, c, position));
        }
        p
    }

    #[test]
    fn r2_exactly_three_pass_four_fail() {
        let w = World::new();
        assert!(w
            .findings(with_n_for("D.CT.UBND", 3), RuleId::R2)
            .is_empty());
        let r = w.findings(with_n_for("D.CT.UBND", 4), RuleId::R2);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].positions, ["D.CT.UBND"]);
        assert!(r[0].message_vi.starts_with("4 cán bộ"));
        // Committee seats are not capped by R2.
        assert!(w.findings(with_n_for("D.HUV", 9), RuleId::R2).is_empty());
    }

    #[test]
    fn r2_and_r20_do_not_count_an_entry_fulfilled_before_the_review() {
        use crate::domain::{Fulfilment, FulfilmentKind};
        let w = World::new();
        let mut v2 = with_n_for("D.CT.UBND", 4);
        v2.id.version = 2;
        let fulfilled = |version: u32, id: &str| Fulfilment {
            plan: PlanId {
                version,
                ..v2.id.clone()
            },
            national_id: id.into(),
            position: "D.CT.UBND".into(),
            kind: FulfilmentKind::Appointed,
            post: "D.CT.UBND".into(),
            decision_number: "125/QĐ-UBND".into(),
            decided_on: d(2025, 6, 1),
            recorded_by: "40".into(),
            recorded_at: at(2025, 6, 2),
        };
        let plans = one(v2.clone());
        let run = |f: &[Fulfilment], rule: RuleId| {
            let snap = crate::rules::Snapshot {
                fulfilled: f,
                ..w.snapshot(&plans)
            };
            let scope = crate::rules::Scope {
                rules: vec![rule],
                ..crate::rules::Scope::default()
            };
            crate::rules::check(&snap, &scope, today(), &RulesFile::default()).findings
        };
        let first = v2.entries[0].cadre.national_id.clone();
        // Without it, or fulfilled on this very version (not yet reviewed), four count.
        assert_eq!(run(&[], RuleId::R2).len(), 1);
        assert_eq!(run(&[fulfilled(2, &first)], RuleId::R2).len(), 1);
        assert_eq!(run(&[], RuleId::R20).len(), 1);
        // Fulfilled on version 1: three remain.
        assert!(run(&[fulfilled(1, &first)], RuleId::R2).is_empty());
        assert!(run(&[fulfilled(1, &first)], RuleId::R20).is_empty());
        // Another person, or another position, releases nothing.
        assert_eq!(run(&[fulfilled(1, ID2)], RuleId::R2).len(), 1);
        let mut elsewhere = fulfilled(1, &first);
        elsewhere.position = "D.CT.HDND".into();
        assert_eq!(run(&[elsewhere], RuleId::R2).len(), 1);
    }

    #[test]
    fn r2_cap_is_configurable() {
        let w = World::new();
        let mut rules = RulesFile::default();
        rules.qd50.max_cadres_per_position = 4;
        let four = one(with_n_for("D.CT.UBND", 4));
        assert!(w
            .rule_with(&four, RuleId::R2, &rules, today())
            .findings
            .is_empty());
    }

    // ---- R4

    #[test]
    fn r4_proposal_on_vote_day_fails_after_passes() {
        let w = World::new();
        let mut p = plan("412", "2025-2030", 1);
        let mut c = cadre(ID1, "Nguyễn Văn A");
        c.appointment_proposed_on = Some(d(2025, 6, 21)); // the day after the vote
        p.entries.push(voted(&mut p.rounds, c, "D.CT.UBND"));
        assert!(w.findings(p.clone(), RuleId::R4).is_empty());
        p.entries[0].cadre.appointment_proposed_on = Some(d(2025, 6, 20)); // the vote day
        let r = w.findings(p.clone(), RuleId::R4);
        assert_eq!(r.len(), 1);
        assert!(r[0].message_en.contains("D.CT.UBND (2025-06-20)"));
        // An entry added by the authority is judged at the decision date.
        p.entries[0].source = EntrySource::AddedByAuthority;
        p.rounds.clear();
        p.entries[0].cadre.appointment_proposed_on = Some(d(2025, 7, 16));
        assert!(w.findings(p, RuleId::R4).is_empty());
    }

    // ---- R6

    /// A man whose retirement month is `(y, m)`, for `y` from 2028 (the 62-year cap): born 62
    /// years earlier.
    fn man_retiring(id: &str, y: i32, m: u32) -> Cadre {
        let mut c = cadre(id, "Phạm Văn Cả");
        c.birth_date = d(y - 62, m, 10);
        c
    }

    #[test]
    fn r6_boundary_at_sixty_months_from_reference() {
        // 2025-2030: age reference date 2025-07-01. Retiring June 2030 leaves exactly 60 months.
        let w = World::new();
        let mut p = plan("412", "2025-2030", 1);
        p.entries.push(voted(
            &mut p.rounds,
            man_retiring(ID1, 2030, 6),
            "D.CT.UBND",
        ));
        let r = w.findings(p.clone(), RuleId::R6);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].severity,
            Severity::Warning,
            "60 months: allowed, under 120"
        );
        assert_contains(&r[0].message_en, "only 60 months");
        p.entries[0].cadre = man_retiring(ID1, 2030, 5);
        let r = w.findings(p.clone(), RuleId::R6);
        assert_eq!(r[0].severity, Severity::Error, "59 months");
        p.entries[0].cadre = man_retiring(ID1, 2035, 6);
        assert!(w.findings(p.clone(), RuleId::R6).is_empty(), "120 months");
        p.entries[0].cadre = man_retiring(ID1, 2035, 5);
        assert_eq!(
            w.findings(p, RuleId::R6)[0].severity,
            Severity::Warning,
            "119 months"
        );
    }

    #[test]
    fn r6_women_use_their_schedule() {
        let w = World::new();
        let mut p = plan("412", "2025-2030", 1);
        let mut c = cadre(ID1, "Hồ Thị Dung");
        c.gender = Gender::Female;
        // Born June 1972: the age in force in 2030 is 58 years 4 months → October 2030.
        c.birth_date = d(1972, 6, 1);
        p.entries.push(voted(&mut p.rounds, c, "D.CT.UBND"));
        let r = w.findings(p, RuleId::R6);
        assert_eq!(r[0].severity, Severity::Warning);
        assert_contains(&r[0].message_vi, "10/2030");
    }

    fn born(gender: Gender, y: i32, m: u32) -> Cadre {
        let mut c = cadre(ID1, "Trần Văn Bình");
        c.gender = gender;
        c.birth_date = d(y, m, 15);
        c
    }

    fn r6_severity(w: &World, p: Plan) -> Option<Severity> {
        w.findings(p, RuleId::R6).first().map(|f| f.severity)
    }

    /// The R6 oracle of the rules since 2025: Chỉ thị 45's reference 09/2025 at province level, 07/2025 for
    /// communes, and the month count of its published cut-offs.
    #[test]
    fn r6_chi_thi_45_cut_offs_at_province_and_commune_level() {
        let w = World::new();
        let province = |c| one_planned("40", "P.PCT.UBND", c);
        let commune = |c| one_planned("16681", "C.CT.UBND", c);
        let (man, woman) = (Gender::Male, Gender::Female);
        for (plan, want) in [
            // 60 months: plannable.
            (province(born(man, 1968, 9)), Severity::Warning),
            (province(born(man, 1968, 8)), Severity::Error),
            (province(born(woman, 1972, 5)), Severity::Warning),
            (province(born(woman, 1972, 4)), Severity::Error),
            // The same man born 08/1968 is plannable for a commune post (reference 07/2025).
            (commune(born(man, 1968, 8)), Severity::Warning),
            // From 07/2025 a man retiring in 06/2030 has 59 months: an error; 07/2030, 60.
            (commune(born(man, 1968, 6)), Severity::Error),
            (commune(born(man, 1968, 7)), Severity::Warning),
        ] {
            let what = format!(
                "{}, born {}",
                plan.id.unit, plan.entries[0].cadre.birth_date
            );
            assert_eq!(r6_severity(&w, plan), Some(want), "{what}");
        }
        let r = w.findings(commune(born(man, 1968, 6)), RuleId::R6);
        assert_contains(&r[0].message_en, "only 59 months after 07/2025");
    }

    // ---- R8

    #[test]
    fn r8_targets_are_the_rulesets_qd377_sets_none_unless_the_province_does() {
        let w = World::new();
        let mut p = structured(4, 2, 20);
        let r = w.findings(p.clone(), RuleId::R8);
        assert_eq!(r.len(), 2);
        assert!(
            r.iter().all(|f| f.message_en.contains("QĐ 50-QĐ/TW")),
            "{r:#?}"
        );
        // The same list decided on 2025-10-09: QĐ 377, no figure.
        p.adopted_on = Some(d(2025, 10, 9));
        assert!(w.findings(p.clone(), RuleId::R8).is_empty());
        let mut rules = RulesFile::default();
        rules.qd377.min_women_ratio = Some(0.25);
        let r = w.findings_with(p.clone(), RuleId::R8, &rules);
        assert_eq!(r.len(), 1);
        assert!(r[0].message_vi.contains("QĐ 377-QĐ/TW"));
        assert!(r[0].message_vi.contains("4/20"));
        // A province's file that leaves the QĐ 50 table out still gets QĐ 50's figures.
        let parsed = RulesFile::parse("[qd377]\nmin_women_ratio = 0.2\n").unwrap();
        assert_eq!(parsed.qd50.min_women_ratio, Some(0.25));
        assert_eq!(parsed.qd377.min_young_ratio, None);
        let parsed = RulesFile::parse("[qd50]\nmax_cadres_per_position = 3\n").unwrap();
        assert_eq!(parsed.qd50.min_young_ratio, Some(0.15));
        assert_eq!(parsed.qd377.min_women_ratio, None);
    }

    #[test]
    fn r8_age_bands_of_qd377_at_the_boundary() {
        let w = World::new();
        // 20 people: 3 aged 39, 17 aged 40 on the district reference date 2025-06-01.
        let p = meeting_qd50_targets_under_qd377();
        let mut rules = RulesFile::default();
        rules.qd377.age_bands = Some(crate::rules::params::AgeBands {
            middle_from: 40,
            senior_from: 55,
            min_young: Some(0.15),
            min_middle: None,
            min_senior: None,
        });
        assert!(
            w.findings_with(p.clone(), RuleId::R8, &rules).is_empty(),
            "3/20 = 15%"
        );
        rules.qd377.age_bands.as_mut().unwrap().min_young = Some(0.16);
        let r = w.findings_with(p.clone(), RuleId::R8, &rules);
        assert_eq!(r.len(), 1);
        assert!(r[0].message_en.contains("age band under 40"));
        rules.qd377.age_bands.as_mut().unwrap().min_senior = Some(0.05);
        let r = w.findings_with(p, RuleId::R8, &rules);
        assert_eq!(r.len(), 2, "nobody is 55 or over");
    }

    /// A list that meets QĐ 50's targets (5 of 20 women, 3 of 20 young), decided on 2025-10-09
    /// and so judged by QĐ 377.
    fn meeting_qd50_targets_under_qd377() -> Plan {
        let mut p = structured(5, 3, 20);
        p.adopted_on = Some(d(2025, 10, 9));
        p
    }

    fn structured(women: usize, young: usize, total: usize) -> Plan {
        let mut p = plan("412", "2025-2030", 1);
        for i in 0..total {
            let mut c = cadre(&format!("0010850002{i:02}"), &format!("Võ Văn {i}"));
            if i < women {
                c.gender = Gender::Female;
            }
            if i >= total - young {
                c.birth_date = d(1985, 6, 2); // 39 on 2025-06-01 (district reference)
            } else {
                c.birth_date = d(1985, 6, 1); // 40 on 2025-06-01
            }
            p.entries.push(voted(&mut p.rounds, c, "D.HUV"));
        }
        p
    }

    #[test]
    fn r8_targets_met_at_the_boundary() {
        let w = World::new();
        // 5 of 20 women = 25%, 3 of 20 young = 15%.
        assert!(w.findings(structured(5, 3, 20), RuleId::R8).is_empty());
        let r = w.findings(structured(4, 2, 20), RuleId::R8);
        assert_eq!(r.len(), 2, "{r:#?}");
        assert!(r.iter().all(|f| f.severity == Severity::Warning));
        assert!(r.iter().any(|f| f.message_vi.contains("4/20")));
    }

    #[test]
    fn r8_ethnic_target_off_by_default() {
        let w = World::new();
        let p = structured(5, 3, 20);
        assert!(w.findings(p.clone(), RuleId::R8).is_empty());
        let mut rules = RulesFile::default();
        rules.qd50.min_ethnic_minority_ratio = Some(0.1);
        let r = w.findings_with(p.clone(), RuleId::R8, &rules);
        assert_eq!(r.len(), 1);
        let mut p2 = p;
        p2.entries[0].cadre.ethnicity = "Thái".into();
        p2.entries[1].cadre.ethnicity = "Mông".into();
        assert!(w.findings_with(p2, RuleId::R8, &rules).is_empty());
    }

    // ---- R12

    #[test]
    fn r12_discipline_after_the_decision_removes() {
        let w = World::new();
        let mut p = plan("412", "2025-2030", 1); // adopted 2025-07-15
        let mut c = cadre(ID1, "Nguyễn Văn A");
        c.discipline.push(Discipline {
            kind: DisciplineKind::Reprimand,
            decided_on: d(2025, 7, 15),
            announced_on: None,
            complaint_pending: false,
            new_violation_on: None,
        });
        p.entries.push(voted(&mut p.rounds, c, "D.CT.UBND"));
        assert!(
            w.findings(p.clone(), RuleId::R12).is_empty(),
            "on the decision day: R14's"
        );
        p.entries[0].cadre.discipline[0].decided_on = d(2025, 7, 16);
        let r = w.findings(p.clone(), RuleId::R12);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].severity, Severity::Error);
        assert!(r[0].message_vi.contains("khiển trách"));
        // A discipline after the day of the check is not yet known.
        p.entries[0].cadre.discipline[0].decided_on = today().succ_opt().unwrap();
        assert!(w.findings(p, RuleId::R12).is_empty());
    }

    #[test]
    fn r12_over_age_from_the_month_of_retirement() {
        let w = World::new();
        let mut p = plan("412", "2020-2025", 1); // reference 2020-10-01
                                                 // Born July 1964: 61 years 3 months in October 2025, 61 months after 2020-10-01, so R6
                                                 // accepted them.
        let born = |m: u32| {
            let mut c = cadre(ID1, "Phạm Văn Cả");
            c.birth_date = d(1964, m, 10);
            c
        };
        p.entries.push(voted(&mut p.rounds, born(7), "D.CT.UBND"));
        let r = w.findings(p.clone(), RuleId::R12);
        assert_eq!(r.len(), 1, "retired by 2025-11-03: {r:#?}");
        // Retiring in November 2025: serving until the end of the month.
        p.entries[0].cadre = born(8);
        assert!(w.findings(p.clone(), RuleId::R12).is_empty());
        // Retiring August 2025 (59 months): R6 already rejects them, R12 does not repeat it.
        p.entries[0].cadre = born(5);
        assert!(w.findings(p, RuleId::R12).is_empty());
    }

    // ---- R14

    fn disciplined(kind: DisciplineKind, on: NaiveDate, adopted: NaiveDate) -> Plan {
        let mut p = plan("412", "2025-2030", 1);
        p.adopted_on = Some(adopted);
        let mut c = cadre(ID1, "Nguyễn Văn A");
        c.discipline.push(Discipline {
            kind,
            decided_on: on,
            announced_on: None,
            complaint_pending: false,
            new_violation_on: None,
        });
        p.entries.push(voted(&mut p.rounds, c, "D.CT.UBND"));
        p
    }

    #[test]
    fn r14_last_day_of_the_bar_is_barred() {
        let w = World::new();
        // Reprimand on 2024-03-15: 12 months, last barred day 2025-03-14.
        let on = d(2024, 3, 15);
        let r = w.findings(
            disciplined(DisciplineKind::Reprimand, on, d(2025, 3, 14)),
            RuleId::R14,
        );
        assert_eq!(r.len(), 1);
        assert_contains(&r[0].message_vi, "đến hết ngày 2025-03-14");
        let r = w.findings(
            disciplined(DisciplineKind::Reprimand, on, d(2025, 3, 15)),
            RuleId::R14,
        );
        assert!(r.is_empty());
        // Warning: 30 months; removal from post: 60.
        let p = disciplined(DisciplineKind::Warning, d(2023, 1, 31), d(2025, 7, 30));
        assert_eq!(w.findings(p, RuleId::R14).len(), 1, "last day 2025-07-30");
        let p = disciplined(DisciplineKind::Warning, d(2023, 1, 31), d(2025, 7, 31));
        assert!(w.findings(p, RuleId::R14).is_empty());
        let p = disciplined(
            DisciplineKind::RemovalFromPost,
            d(2020, 7, 15),
            d(2025, 7, 14),
        );
        assert_eq!(w.findings(p, RuleId::R14).len(), 1);
        let p = disciplined(DisciplineKind::Expulsion, d(2000, 1, 1), d(2025, 7, 14));
        assert_eq!(w.findings(p, RuleId::R14).len(), 1, "for ever");
    }

    #[test]
    fn r14_uses_the_decision_and_its_ruleset() {
        let w = World::new();
        // A warning decided 2024-01-10: under QĐ 50 it bars 30 months, to 2026-07-09.
        let mut p = disciplined(DisciplineKind::Warning, d(2024, 1, 10), d(2025, 10, 7));
        let r = w.findings(p.clone(), RuleId::R14);
        assert_eq!(r.len(), 1);
        assert_contains(&r[0].message_vi, "QĐ 50");
        // Adopted on 2025-10-08 (QĐ 377): 12 months from the decision (no announcement
        // recorded) have run out.
        p.adopted_on = Some(d(2025, 10, 8));
        assert!(w.findings(p.clone(), RuleId::R14).is_empty());
        // Approved on 2025-10-07 (QĐ 50) though adopted later: the decision counts.
        p.decision = Some(Decision {
            plan: PlanId {
                unit: "412".into(),
                term: "2025-2030".into(),
                version: 1,
            },
            hash: String::new(),
            outcome: Outcome::Approve,
            reasons: vec![],
            decided_by: "40".into(),
            decided_at: at(2025, 10, 7),
        });
        assert_eq!(w.findings(p, RuleId::R14).len(), 1);
    }

    /// A warning decided 2024-09-01 and announced 2024-10-15, judged under QĐ 377.
    fn announced_warning(adopted: NaiveDate) -> Plan {
        let mut p = disciplined(DisciplineKind::Warning, d(2024, 9, 1), adopted);
        p.entries[0].cadre.discipline[0].announced_on = Some(d(2024, 10, 15));
        p
    }

    #[test]
    fn r14_qd377_counts_twelve_months_from_the_announcement() {
        let w = World::new();
        // 12 months from 2024-10-15: the last barred day is 2025-10-14.
        let r = w.findings(announced_warning(d(2025, 10, 14)), RuleId::R14);
        assert_eq!(r.len(), 1, "one day before the end");
        assert_contains(&r[0].message_en, "announced on 2024-10-15");
        assert!(r[0].message_en.contains("QĐ 377"));
        assert!(
            w.findings(announced_warning(d(2025, 10, 15)), RuleId::R14)
                .is_empty(),
            "the day after"
        );
        // A reprimand the same.
        let mut p = announced_warning(d(2025, 10, 15));
        p.entries[0].cadre.discipline[0].kind = DisciplineKind::Reprimand;
        assert!(w.findings(p, RuleId::R14).is_empty());
    }

    #[test]
    fn r14_qd377_relief_needs_no_complaint_and_no_new_violation() {
        let w = World::new();
        let mut p = announced_warning(d(2025, 11, 1));
        assert!(w.findings(p.clone(), RuleId::R14).is_empty());
        p.entries[0].cadre.discipline[0].complaint_pending = true;
        let r = w.findings(p.clone(), RuleId::R14);
        assert_eq!(r.len(), 1);
        assert!(r[0].message_en.contains("complaint is pending"));
        p.entries[0].cadre.discipline[0].complaint_pending = false;
        // A new violation on the last day of the 12 months bars; the day after does not.
        p.entries[0].cadre.discipline[0].new_violation_on = Some(d(2025, 10, 14));
        let r = w.findings(p.clone(), RuleId::R14);
        assert_eq!(r.len(), 1);
        assert!(r[0].message_en.contains("new violation on 2025-10-14"));
        p.entries[0].cadre.discipline[0].new_violation_on = Some(d(2025, 10, 15));
        assert!(w.findings(p, RuleId::R14).is_empty());
    }

    #[test]
    fn r14_qd377_gives_removal_from_post_no_relief() {
        let w = World::new();
        let mut p = disciplined(
            DisciplineKind::RemovalFromPost,
            d(2022, 1, 10),
            d(2025, 11, 1),
        );
        p.entries[0].cadre.discipline[0].announced_on = Some(d(2022, 1, 20));
        let r = w.findings(p, RuleId::R14);
        assert_eq!(
            r.len(),
            1,
            "60 months from the decision, not 12 from the announcement"
        );
    }

    #[test]
    fn r14_decree_172_forms_keep_their_bars_on_earlier_records() {
        let w = World::new();
        // Demotion decided 2025-06-30 (the last day the form existed): 24 months.
        let p = disciplined(DisciplineKind::Demotion, d(2025, 6, 30), d(2025, 11, 1));
        let r = w.findings(p, RuleId::R14);
        assert_eq!(r.len(), 1);
        assert!(r[0].message_vi.contains("giáng chức"));
        assert!(r[0].message_en.contains("last day 2027-06-29"));
        // Salary-step reduction decided 2024-06-30: 12 months, over by 2025-06-30.
        let p = disciplined(
            DisciplineKind::SalaryStepReduction,
            d(2024, 6, 30),
            d(2025, 6, 29),
        );
        assert_eq!(w.findings(p, RuleId::R14).len(), 1);
        let p = disciplined(
            DisciplineKind::SalaryStepReduction,
            d(2024, 6, 30),
            d(2025, 6, 30),
        );
        assert!(w.findings(p, RuleId::R14).is_empty());
    }

    // ---- R7 regimes

    #[test]
    fn r7_a_woman_under_the_60_regime_is_judged_at_60() {
        let w = World::new();
        // Born 04/1972: at the general age she retires 08/2030 (59 months from 09/2025 at
        // province level); at 60, in 04/2032.
        let mut c = born(Gender::Female, 1972, 4);
        let p = one_planned("40", "P.PCT.UBND", c.clone());
        assert_eq!(r6_severity(&w, p), Some(Severity::Error));
        c.retirement_regime = crate::domain::RetirementRegime::Female60;
        let r = w.findings(one_planned("40", "P.PCT.UBND", c), RuleId::R6);
        assert_eq!(r[0].severity, Severity::Warning, "{r:#?}");
        assert_contains(&r[0].message_vi, "04/2032");
    }

    #[test]
    fn r7_a_police_chief_without_the_provinces_table_is_an_error() {
        let w = World::new();
        let mut c = born(Gender::Male, 1980, 1);
        c.retirement_regime = crate::domain::RetirementRegime::Police;
        let p = one_planned("16681", "C.CT.UBND", c);
        let r = w.check(&one(p.clone()));
        let r7: Vec<_> = r.of_rule(RuleId::R7).collect();
        assert_eq!(r7.len(), 1, "{r:#?}");
        assert_eq!(r7[0].severity, Severity::Error);
        assert_contains(&r7[0].message_en, "[qd50.retirement_police]");
        assert_eq!(r.of_rule(RuleId::R6).count(), 0);
        // With the table (a flat 62 for men), R6 judges them by it.
        let mut rules = RulesFile::default();
        let police = crate::rules::RetirementSchedule {
            men: crate::rules::Schedule::flat(62 * 12),
            ..Default::default()
        };
        rules.qd50.retirement_police = Some(police);
        let r = w.rule_with(&one(p.clone()), RuleId::R7, &rules, today());
        assert!(r.findings.is_empty());
        // 62 × 12 from 01/1980 is 01/2042: far beyond 120 months from 07/2025.
        assert!(w.findings_with(p, RuleId::R6, &rules).is_empty());
    }

    // ---- R26

    #[test]
    fn r26_latest_rating_not_completed_warns() {
        use crate::domain::{Rating, RatingLevel};
        let w = World::new();
        let mut c = cadre(ID1, "Nguyễn Văn A");
        c.ratings = vec![
            Rating {
                year: 2023,
                level: RatingLevel::NotCompleted,
            },
            Rating {
                year: 2024,
                level: RatingLevel::Completed,
            },
        ];
        let mut p = one_planned("412", "D.CT.UBND", c);
        assert!(
            w.findings(p.clone(), RuleId::R26).is_empty(),
            "2024 is the latest"
        );
        p.entries[0].cadre.ratings[1].level = RatingLevel::NotCompleted;
        let r = w.findings(p.clone(), RuleId::R26);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].severity, Severity::Warning);
        assert!(r[0].message_vi.contains("không hoàn thành nhiệm vụ"));
        // A rating of a year after the decision is not yet known to it.
        p.entries[0].cadre.ratings[1].level = RatingLevel::Good;
        p.entries[0].cadre.ratings.push(Rating {
            year: 2026,
            level: RatingLevel::NotCompleted,
        });
        assert!(w.findings(p, RuleId::R26).is_empty());
    }

    // ---- R8 science and technology

    #[test]
    fn r8_science_and_technology_share_when_the_province_sets_it() {
        let w = World::new();
        let mut p = meeting_qd50_targets_under_qd377();
        let mut rules = RulesFile::default();
        rules.qd377.min_science_technology_ratio = Some(0.1);
        p.entries[0].cadre.science_technology = true;
        let r = w.findings_with(p.clone(), RuleId::R8, &rules);
        assert_eq!(r.len(), 1, "1/20 < 10%");
        assert!(r[0].message_en.contains("science-and-technology"));
        p.entries[1].cadre.science_technology = true;
        assert!(w.findings_with(p, RuleId::R8, &rules).is_empty());
    }

    // ---- R18

    #[test]
    fn r18_off_unless_set_then_bounded() {
        let w = World::new();
        let p = with_n_for("D.HUV", 6);
        assert!(w.findings(p.clone(), RuleId::R18).is_empty());
        let mut rules = RulesFile::default();
        rules.qd50.committee_multiplier = Some(1.5);
        rules.qd50.committee_seats.district = Some(4);
        assert!(
            w.findings_with(p, RuleId::R18, &rules).is_empty(),
            "6 = 1.5 × 4"
        );
        let r = w.findings_with(with_n_for("D.HUV", 7), RuleId::R18, &rules);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].severity, Severity::Warning);
    }

    // ---- R19

    fn tallied(convened: u32, present: u32, yes: u32) -> Plan {
        let mut p = plan("412", "2025-2030", 1);
        p.entries.push(voted_with(
            &mut p.rounds,
            cadre(ID1, "Nguyễn Văn A"),
            "D.CT.UBND",
            yes,
        ));
        p.rounds[0].convened = convened;
        p.rounds[0].present = present;
        p.rounds[0].ballots_issued = present;
        p.rounds[0].valid_ballots = present;
        p
    }

    #[test]
    fn r19_exactly_half_of_convened_fails() {
        let w = World::new();
        let f = w.boundary(RuleId::R19, tallied(30, 30, 16), tallied(30, 30, 15));
        assert_contains(&f.message_vi, "15/30");
    }

    #[test]
    fn r19_quorum_exactly_two_thirds_is_valid() {
        let w = World::new();
        let f = w.boundary(RuleId::R19, tallied(30, 20, 16), tallied(30, 19, 16));
        assert_contains(&f.message_en, "19 of 30");
    }

    #[test]
    fn r19_missing_tally_fails_unless_added_by_authority() {
        let w = World::new();
        let mut p = tallied(30, 30, 20);
        p.entries.push(Entry {
            cadre: cadre(ID2, "Lê Văn B"),
            position: "D.BT".into(),
            source: EntrySource::Voted,
            origin: None,
        });
        assert_eq!(w.findings(p.clone(), RuleId::R19).len(), 1);
        p.entries[1].source = EntrySource::AddedByAuthority;
        assert!(w.findings(p, RuleId::R19).is_empty());
    }

    #[test]
    fn r19_the_last_round_counts() {
        let w = World::new();
        let mut p = tallied(30, 30, 20);
        let mut later = p.rounds[0].clone();
        later.body = crate::domain::Body::StandingCommittee;
        later.tallies[0].yes = 10;
        p.rounds.push(later);
        assert_eq!(w.findings(p, RuleId::R19).len(), 1);
    }

    // ---- R20

    fn passers(votes: &[u32]) -> Plan {
        let mut p = plan("412", "2025-2030", 1);
        for (i, &yes) in votes.iter().enumerate() {
            let c = cadre(&format!("00108500030{i}"), &format!("Đặng Văn {i}"));
            p.entries
                .push(voted_with(&mut p.rounds, c, "D.CT.UBND", yes));
        }
        p
    }

    #[test]
    fn r20_three_passers_fine_four_warn_tie_reported() {
        let w = World::new();
        assert!(
            w.findings(passers(&[20, 19, 18, 10]), RuleId::R20)
                .is_empty(),
            "10 of 30 fails"
        );
        let r = w.findings(passers(&[20, 19, 18, 17]), RuleId::R20);
        assert_eq!(r.len(), 1);
        assert!(!r[0].message_en.contains("tie"));
        let r = w.findings(passers(&[20, 19, 18, 18]), RuleId::R20);
        assert_eq!(r.len(), 1);
        let m = &r[0].message_en;
        assert!(m.contains("A tie at the cut-off (18 votes)"), "{m}");
        assert!(m.contains("Đặng Văn 2") && m.contains("Đặng Văn 3"), "{m}");
    }
}
