//! The rules only the province can check, because they look across the lists of several units:
//! R3 (three positions per level, across units), R5 (lower lists are the basis of upper ones),
//! R21 (one person, one record) and R22 (the province's copy is what its owner submitted).
//!
//! R3, R5 and R21 can run for a set of persons only (the persons of a plan that just arrived);
//! they index the current plans by national ID, so a full run is linear in the entries.

use std::{
    collections::{hash_map::Entry, BTreeMap, BTreeSet, HashMap, HashSet},
    rc::Rc,
};

use chrono::NaiveDate;

use super::{
    engine::{name_key, Ctx},
    finding::{level_vi, mask_id, Finding, PersonRef, RuleId, Severity},
};
use crate::domain::{self, Cadre, Gender, Plan, PlanId, PlanStatus, PositionKind};

/// Returns true if and only if `id` is one of `persons`, or no person filter is set.
fn wanted(persons: Option<&HashSet<&str>>, id: &str) -> bool {
    persons.is_none_or(|s| s.contains(id))
}

/// A person as cross-plan findings name them: the NFC name of their first record.
fn person(cadre: &Cadre) -> PersonRef {
    PersonRef {
        national_id: cadre.national_id.clone(),
        full_name: name_key(&cadre.full_name).into_owned(),
    }
}

/// R3: one person is planned for at most `max_positions_per_level` positions of the same level in
/// one term, counted across every unit's current list (a position of two units counts twice).
pub(crate) fn r3(ctx: &Ctx<'_>, persons: Option<&HashSet<&str>>, out: &mut Vec<Finding>) {
    let cap = usize::try_from(ctx.now.max_positions_per_level).unwrap_or(usize::MAX);
    // (national ID, term, level of the planned position) → the entries.
    type Key<'a> = (&'a str, &'a str, crate::domain::Level);
    let mut groups: HashMap<Key<'_>, Vec<(&Plan, &domain::Entry)>> = HashMap::new();
    for plan in &ctx.current {
        for e in &plan.entries {
            let id = e.cadre.national_id.as_str();
            if !wanted(persons, id) {
                continue;
            }
            let Some(pos) = ctx.position(&e.position) else {
                continue;
            };
            groups
                .entry((id, plan.id.term.as_str(), pos.level))
                .or_default()
                .push((plan, e));
        }
    }
    for ((_, term, level), list) in groups {
        let seats: BTreeSet<(&str, &str)> = list
            .iter()
            .map(|(p, e)| (e.position.as_str(), p.id.unit.as_str()))
            .collect();
        if seats.len() <= cap {
            continue;
        }
        let who = person(&list[0].1.cadre);
        let listing = seats
            .iter()
            .map(|(pos, unit)| format!("{pos} ({unit})"))
            .collect::<Vec<_>>()
            .join(", ");
        let label = who.label();
        let n = seats.len();
        out.push(Finding::new(
            RuleId::R3,
            Severity::Error,
            seats.iter().map(|(_, u)| (*u).to_string()).collect(),
            Some(who),
            seats.iter().map(|(p, _)| (*p).to_string()).collect(),
            vec![term.to_string()],
            list.iter().map(|(p, _)| p.id.clone()).collect(),
            format!(
                "{label} được quy hoạch vào {n} chức danh cấp {} nhiệm kỳ {term}: {listing}; tối đa {cap}",
                level_vi(level)
            ),
            format!("{label} is planned for {n} {level}-level positions in term {term}: {listing}; at most {cap}"),
        ));
    }
}

/// R5, in two parts (warnings):
///
/// - A cadre in an upper list whose current unit lies below the list's unit should be in that
///   lower unit's approved list (for the same term or its pair) or hold a key post there. Checked
///   only when the lower unit has an approved list to compare with.
/// - A cadre planned for a key leadership post should be in the same unit's committee list: the
///   committee entries of the unit's current plan for the party term (the plan's own term when
///   it is a party term, else its pair). Checked only when that plan is held.
pub(crate) fn r5(ctx: &Ctx<'_>, persons: Option<&HashSet<&str>>, out: &mut Vec<Finding>) {
    let key_posts: HashSet<&str> = ctx.now.key_posts.iter().map(String::as_str).collect();
    let mut approved: HashMap<(&str, &str), &Plan> = HashMap::new();
    for p in ctx
        .snap
        .plans
        .iter()
        .filter(|p| p.status == PlanStatus::Approved)
    {
        let slot = approved
            .entry((p.id.unit.as_str(), p.id.term.as_str()))
            .or_insert(p);
        if p.id.version > slot.id.version {
            *slot = p;
        }
    }
    let mut in_approved: HashSet<(&str, &str, &str)> = HashSet::new();
    for p in approved.values() {
        for e in p
            .entries
            .iter()
            .filter(|e| wanted(persons, &e.cadre.national_id))
        {
            in_approved.insert((&p.id.unit, &p.id.term, &e.cadre.national_id));
        }
    }
    let mut held: HashSet<(&str, &str)> = HashSet::new();
    let mut in_committee: HashSet<(&str, &str, &str)> = HashSet::new();
    for p in &ctx.current {
        held.insert((&p.id.unit, &p.id.term));
        for e in p
            .entries
            .iter()
            .filter(|e| wanted(persons, &e.cadre.national_id))
        {
            if ctx
                .position(&e.position)
                .is_some_and(|pos| pos.kind == PositionKind::Committee)
            {
                in_committee.insert((&p.id.unit, &p.id.term, &e.cadre.national_id));
            }
        }
    }
    for plan in &ctx.current {
        let unit = plan.id.unit.as_str();
        let term = ctx.snap.catalog.term(&plan.id.term);
        let pair = term.and_then(|t| t.pairs_with.as_deref());
        let party_term = term.and_then(|t| {
            if t.kind == "party" {
                Some(t.code.as_str())
            } else {
                pair
            }
        });
        let mut by_person: BTreeMap<&str, Vec<&domain::Entry>> = BTreeMap::new();
        for e in plan
            .entries
            .iter()
            .filter(|e| wanted(persons, &e.cadre.national_id))
        {
            by_person.entry(&e.cadre.national_id).or_default().push(e);
        }
        for (id, entries) in by_person {
            let c = &entries[0].cadre;
            let positions: Vec<String> = entries.iter().map(|e| e.position.clone()).collect();
            let lower = c.current_unit.as_str();
            if lower != unit
                && ctx.snap.hierarchy.is_within(lower, unit)
                && !c
                    .current_positions
                    .iter()
                    .any(|p| key_posts.contains(p.as_str()))
            {
                let lists: Vec<&Plan> = [Some(plan.id.term.as_str()), pair]
                    .into_iter()
                    .flatten()
                    .filter_map(|t| approved.get(&(lower, t)).copied())
                    .collect();
                if !lists.is_empty()
                    && !lists
                        .iter()
                        .any(|l| in_approved.contains(&(lower, &l.id.term, id)))
                {
                    let who = person(c);
                    let label = who.label();
                    let names = lists
                        .iter()
                        .map(|l| l.id.to_string())
                        .collect::<Vec<_>>()
                        .join(", ");
                    out.push(Finding::new(
                        RuleId::R5,
                        Severity::Warning,
                        vec![unit.to_string(), lower.to_string()],
                        Some(who),
                        positions.clone(),
                        lists.iter().map(|l| l.id.term.clone()).chain([plan.id.term.clone()]).collect(),
                        vec![plan.id.clone()],
                        format!(
                            "{label} được quy hoạch vào {} của đơn vị {unit} nhưng không có trong danh sách quy hoạch đã phê duyệt của đơn vị đang công tác {lower} ({names}) và không giữ chức danh chủ chốt ở đó; quy hoạch cấp dưới là cơ sở của quy hoạch cấp trên",
                            positions.join(", ")
                        ),
                        format!(
                            "{label} is planned for {} in unit {unit} but is not in the approved list of their own unit {lower} ({names}) and holds no key post there; lower-level plans are the basis of upper-level plans",
                            positions.join(", ")
                        ),
                    ));
                }
            }
            let key: Vec<String> = entries
                .iter()
                .filter(|e| {
                    key_posts.contains(e.position.as_str())
                        && ctx
                            .position(&e.position)
                            .is_some_and(|p| p.kind == PositionKind::Leadership)
                })
                .map(|e| e.position.clone())
                .collect();
            if let Some(pt) = party_term.filter(|_| !key.is_empty()) {
                if held.contains(&(unit, pt)) && !in_committee.contains(&(unit, pt, id)) {
                    let who = person(c);
                    let label = who.label();
                    out.push(Finding::new(
                        RuleId::R5,
                        Severity::Warning,
                        vec![unit.to_string()],
                        Some(who),
                        key.clone(),
                        vec![plan.id.term.clone(), pt.to_string()],
                        vec![plan.id.clone()],
                        format!(
                            "{label} được quy hoạch vào chức danh chủ chốt {} của đơn vị {unit} nhưng không có trong quy hoạch cấp ủy nhiệm kỳ {pt}; quy hoạch cấp ủy là cơ sở của quy hoạch lãnh đạo",
                            key.join(", ")
                        ),
                        format!(
                            "{label} is planned for the key post {} in unit {unit} but is not in the unit's party-committee plan for term {pt}; committee plans are the basis of leadership plans",
                            key.join(", ")
                        ),
                    ));
                }
            }
        }
    }
}

/// R21, in two parts:
///
/// - One national ID recorded with different full names (compared by their identity key,
///   [`domain::name::key`]: two spellings of one name are one name), birth dates or genders in
///   the current plans: error.
/// - One person, the same name (by identity key) and birth date, under two or more national
///   IDs: warning.
pub(crate) fn r21<'a>(ctx: &Ctx<'a>, persons: Option<&HashSet<&str>>, out: &mut Vec<Finding>) {
    // (name's identity key, birth date, is female): ordered so that messages list variants
    // stably.
    type Variant = (Rc<str>, NaiveDate, bool);
    let name_keys = domain::name::Keys::default();
    // A first pass finds the IDs with more than one variant without building anything per ID;
    // only those are gathered in detail.
    let variant = |c: &'a Cadre| -> Variant {
        (
            name_keys.of(&c.full_name),
            c.birth_date,
            c.gender == Gender::Female,
        )
    };
    let mut seen: HashMap<&str, (Variant, bool)> = HashMap::new();
    for plan in &ctx.current {
        for e in plan
            .entries
            .iter()
            .filter(|e| wanted(persons, &e.cadre.national_id))
        {
            let v = variant(&e.cadre);
            match seen.entry(&e.cadre.national_id) {
                Entry::Vacant(slot) => {
                    slot.insert((v, false));
                }
                Entry::Occupied(mut slot) => {
                    if slot.get().0 != v {
                        slot.get_mut().1 = true;
                    }
                }
            }
        }
    }
    let mut by_id: HashMap<&str, BTreeMap<Variant, (&Cadre, Vec<&Plan>)>> = HashMap::new();
    let mut first: HashMap<&str, &Cadre> = HashMap::new();
    for plan in &ctx.current {
        for e in &plan.entries {
            let c = &e.cadre;
            if !seen
                .get(c.national_id.as_str())
                .is_some_and(|(_, differs)| *differs)
            {
                continue;
            }
            first.entry(&c.national_id).or_insert(c);
            let (_, plans) = by_id
                .entry(&c.national_id)
                .or_default()
                .entry(variant(c))
                .or_insert((c, Vec::new()));
            if plans.last().is_none_or(|p| p.id != plan.id) {
                plans.push(plan);
            }
        }
    }
    for (id, variants) in &by_id {
        if variants.len() < 2 {
            continue;
        }
        let who = person(first[id]);
        let list = |vi: bool| {
            variants
                .iter()
                .map(|((_, birth, female), (c, plans))| {
                    let name = name_key(&c.full_name);
                    let gender = if *female {
                        Gender::Female
                    } else {
                        Gender::Male
                    };
                    let ids = plans
                        .iter()
                        .map(|p| p.id.to_string())
                        .collect::<Vec<_>>()
                        .join(", ");
                    if vi {
                        format!("{name}, sinh {birth}, {} ({ids})", gender.vi())
                    } else {
                        format!("{name}, born {birth}, {} ({ids})", gender.as_str())
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let plans: Vec<&Plan> = variants.values().flat_map(|(_, p)| p).copied().collect();
        let masked = mask_id(id);
        out.push(Finding::new(
            RuleId::R21,
            Severity::Error,
            plans.iter().map(|p| p.id.unit.clone()).collect(),
            Some(who),
            Vec::new(),
            plans.iter().map(|p| p.id.term.clone()).collect(),
            plans.iter().map(|p| p.id.clone()).collect(),
            format!(
                "Số CCCD {masked} được ghi với thông tin khác nhau giữa các danh sách: {}; đối chiếu hồ sơ và sửa cho thống nhất",
                list(true)
            ),
            format!(
                "National ID {masked} is recorded with different details across lists: {}; check the records and make them agree",
                list(false)
            ),
        ));
    }

    // One person under several IDs. With a person filter, only the (name, birth date) keys of
    // those persons' records are grouped, but each such group is gathered from every record.
    let keys: Option<HashSet<(&str, NaiveDate)>> = persons.map(|_| {
        seen.values()
            .map(|(v, _)| v)
            .chain(by_id.values().flat_map(|v| v.keys()))
            .map(|(name, birth, _)| (name.as_ref(), *birth))
            .collect()
    });
    let births: Option<HashSet<NaiveDate>> =
        keys.as_ref().map(|k| k.iter().map(|(_, b)| *b).collect());
    let in_focus = |c: &Cadre, name: &str| {
        births.as_ref().is_none_or(|b| b.contains(&c.birth_date))
            && keys
                .as_ref()
                .is_none_or(|k| k.contains(&(name, c.birth_date)))
    };
    // First pass: which (name key, birth date) pairs carry more than one ID.
    let mut ids_of: HashMap<(Rc<str>, NaiveDate), (&str, bool)> = HashMap::new();
    for plan in &ctx.current {
        for e in &plan.entries {
            let c = &e.cadre;
            if births.as_ref().is_some_and(|b| !b.contains(&c.birth_date)) {
                continue;
            }
            let name = name_keys.of(&c.full_name);
            if !in_focus(c, &name) {
                continue;
            }
            match ids_of.entry((name, c.birth_date)) {
                Entry::Vacant(slot) => {
                    slot.insert((&c.national_id, false));
                }
                Entry::Occupied(mut slot) => {
                    if slot.get().0 != c.national_id {
                        slot.get_mut().1 = true;
                    }
                }
            }
        }
    }
    ids_of.retain(|_, (_, several)| *several);
    // Second pass, for those keys only: national ID → (first record, plans holding it).
    type Ids<'a> = BTreeMap<&'a str, (&'a Cadre, Vec<&'a Plan>)>;
    let mut groups: HashMap<(Rc<str>, NaiveDate), Ids<'_>> = HashMap::new();
    if !ids_of.is_empty() {
        for plan in &ctx.current {
            for e in &plan.entries {
                let c = &e.cadre;
                let name = name_keys.of(&c.full_name);
                let key = (name, c.birth_date);
                if !ids_of.contains_key(&key) {
                    continue;
                }
                let (_, plans) = groups
                    .entry(key)
                    .or_default()
                    .entry(&c.national_id)
                    .or_insert((c, Vec::new()));
                if plans.last().is_none_or(|p| p.id != plan.id) {
                    plans.push(plan);
                }
            }
        }
    }
    for ((_, birth), ids) in groups {
        if ids.len() < 2 {
            continue;
        }
        let mut people = ids.values().map(|(c, _)| person(c));
        let Some(main) = people.next() else {
            continue;
        };
        let name = main.full_name.clone();
        let others: Vec<PersonRef> = people.collect();
        let plans: Vec<&Plan> = ids.values().flat_map(|(_, p)| p).copied().collect();
        let listing = ids
            .iter()
            .map(|(id, (_, plans))| {
                let ps = plans
                    .iter()
                    .map(|p| p.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("CCCD {} ({ps})", mask_id(id))
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut f = Finding::new(
            RuleId::R21,
            Severity::Warning,
            plans.iter().map(|p| p.id.unit.clone()).collect(),
            Some(main),
            Vec::new(),
            plans.iter().map(|p| p.id.term.clone()).collect(),
            plans.iter().map(|p| p.id.clone()).collect(),
            format!(
                "{name}, sinh {birth}, xuất hiện với {} số CCCD khác nhau: {listing}; kiểm tra có phải một người không và sửa số CCCD",
                ids.len()
            ),
            format!(
                "{name}, born {birth}, appears under {} different national IDs: {listing}; check whether this is one person and correct the ID",
                ids.len()
            ),
        );
        f.other_persons = others;
        out.push(f);
    }
}

/// The first 12 hex digits of a hash, enough for a clerk to compare.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// R22: for every copy an owner says it submitted, the province holds that version as its current
/// one for the unit × term, and its content hash (recomputed from the content) is the one the
/// owner submitted. With `only`, just the copies of that plan's unit × term.
pub(crate) fn r22(ctx: &Ctx<'_>, only: Option<&PlanId>, out: &mut Vec<Finding>) {
    let held: HashMap<(&str, &str), &Plan> = ctx
        .current
        .iter()
        .map(|p| ((p.id.unit.as_str(), p.id.term.as_str()), *p))
        .collect();
    for copy in ctx.snap.submitted {
        let id = &copy.id;
        if only.is_some_and(|o| o.unit != id.unit || o.term != id.term) {
            continue;
        }
        let finding = |plans: Vec<PlanId>, vi: String, en: String| {
            Finding::new(
                RuleId::R22,
                Severity::Error,
                vec![id.unit.clone()],
                None,
                Vec::new(),
                vec![id.term.clone()],
                plans,
                vi,
                en,
            )
        };
        match held.get(&(id.unit.as_str(), id.term.as_str())) {
            None => out.push(finding(
                vec![id.clone()],
                format!("Đơn vị {} đã gửi danh sách {id} nhưng tỉnh không có bản nào của danh sách này; yêu cầu gửi lại", id.unit),
                format!("Unit {} submitted plan {id} but the province holds no copy of it; ask for it to be sent again", id.unit),
            )),
            Some(p) if p.id.version != id.version => out.push(finding(
                vec![id.clone(), p.id.clone()],
                format!(
                    "Đơn vị {} đã gửi phiên bản {} nhưng tỉnh đang giữ phiên bản {} ({}); đồng bộ lại",
                    id.unit, id.version, p.id.version, p.id
                ),
                format!(
                    "Unit {} submitted version {} but the province holds version {} ({}); resynchronize",
                    id.unit, id.version, p.id.version, p.id
                ),
            )),
            Some(p) => {
                let actual = p.content_hash();
                if actual != copy.hash {
                    out.push(finding(
                        vec![p.id.clone()],
                        format!(
                            "Bản của tỉnh của danh sách {} có mã băm {} khác mã băm {} mà đơn vị đã gửi; nội dung không khớp, đồng bộ lại",
                            p.id,
                            short(&actual),
                            short(&copy.hash)
                        ),
                        format!(
                            "The province's copy of {} hashes to {}, not the {} its owner submitted; the content differs, resynchronize",
                            p.id,
                            short(&actual),
                            short(&copy.hash)
                        ),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use unicode_normalization::UnicodeNormalization;

    use super::*;
    use crate::rules::{
        engine::{check, Scope, Snapshot, SubmittedCopy},
        params::RulesFile,
        testkit::*,
    };

    // ---- R3

    fn two_districts(in_412: &[&str], in_414: &[&str], name_414: &str) -> [Plan; 2] {
        let mut a = plan("412", "2025-2030", 1);
        for pos in in_412 {
            a.entries
                .push(voted(&mut a.rounds, cadre(ID1, "Nguyễn Văn A"), pos));
        }
        let mut b = plan("414", "2025-2030", 1);
        for pos in in_414 {
            b.entries
                .push(voted(&mut b.rounds, cadre(ID1, name_414), pos));
        }
        [a, b]
    }

    #[test]
    fn r3_three_across_units_pass_four_fail() {
        let w = World::new();
        let ok = two_districts(&["D.BT", "D.CT.UBND"], &["D.PCT.UBND"], "Nguyễn Văn A");
        assert!(w.rule(&ok, RuleId::R3).findings.is_empty());
        let bad = two_districts(
            &["D.BT", "D.CT.UBND"],
            &["D.PCT.UBND", "D.TB.TC"],
            "Nguyễn Văn A",
        );
        let r = w.rule(&bad, RuleId::R3);
        assert_eq!(r.findings.len(), 1);
        let f = &r.findings[0];
        assert_eq!(
            f.message_vi,
            "Nguyễn Văn A (CCCD …1234) được quy hoạch vào 4 chức danh cấp huyện nhiệm kỳ 2025-2030: D.BT (412), D.CT.UBND (412), D.PCT.UBND (414), D.TB.TC (414); tối đa 3"
        );
        assert_eq!(f.units, ["412", "414"]);
        assert_eq!(f.plans.len(), 2);
        assert_eq!(f.severity, Severity::Error);
        assert!(f.message_en.contains("4 district-level positions"));
    }

    #[test]
    fn r3_counts_per_level_and_per_term() {
        let w = World::new();
        // Two district and two commune positions: two at each level.
        let plans = two_districts(
            &["D.BT", "C.BT"],
            &["D.PCT.UBND", "C.CT.UBND"],
            "Nguyễn Văn A",
        );
        assert!(w.rule(&plans, RuleId::R3).findings.is_empty());
        let mut plans = two_districts(
            &["D.BT", "D.CT.UBND"],
            &["D.PCT.UBND", "D.TB.TC"],
            "Nguyễn Văn A",
        );
        plans[1].id.term = "2026-2031".into();
        assert!(w.rule(&plans, RuleId::R3).findings.is_empty());
    }

    #[test]
    fn r3_and_r21_see_nfd_and_nfc_as_one_person() {
        let w = World::new();
        let nfd: String = "Nguyễn Văn A".nfd().collect();
        let plans = two_districts(&["D.BT", "D.CT.UBND"], &["D.PCT.UBND", "D.TB.TC"], &nfd);
        let r = w.check(&plans);
        assert_eq!(r.of_rule(RuleId::R3).count(), 1);
        assert_eq!(r.of_rule(RuleId::R21).count(), 0, "{r:#?}");
        let f = r.of_rule(RuleId::R3).next().unwrap();
        assert_eq!(f.person.as_ref().unwrap().full_name, "Nguyễn Văn A");
    }

    // ---- R5

    /// A district list with a commune cadre, and that commune's approved list.
    fn upper_and_lower(in_lower: bool) -> Vec<Plan> {
        let mut c = cadre(ID1, "Nguyễn Văn A");
        c.current_unit = "16681".into();
        c.current_positions = vec!["C.PCT.UBND".into()];
        let mut upper = plan("412", "2025-2030", 1);
        upper
            .entries
            .push(voted(&mut upper.rounds, c.clone(), "D.PCT.UBND"));
        let mut lower = plan("16681", "2025-2030", 1);
        lower.status = PlanStatus::Approved;
        let other = cadre(ID2, "Lê Văn B");
        lower
            .entries
            .push(voted(&mut lower.rounds, other, "C.CN.UBKT"));
        if in_lower {
            lower.entries.push(voted(&mut lower.rounds, c, "C.DUV"));
        }
        vec![upper, lower]
    }

    #[test]
    fn r5_upper_list_needs_the_lower_approved_list() {
        let w = World::new();
        assert!(w
            .rule(&upper_and_lower(true), RuleId::R5)
            .findings
            .is_empty());
        let r = w.rule(&upper_and_lower(false), RuleId::R5);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].severity, Severity::Warning);
        assert_eq!(r.findings[0].units, ["16681", "412"]);
        // Holding a key post in the commune stands in for the list.
        let mut plans = upper_and_lower(false);
        plans[0].entries[0].cadre.current_positions = vec!["C.CT.UBND".into()];
        assert!(w.rule(&plans, RuleId::R5).findings.is_empty());
        // No approved lower list: nothing to compare with.
        let mut plans = upper_and_lower(false);
        plans[1].status = PlanStatus::Received;
        assert!(w.rule(&plans, RuleId::R5).findings.is_empty());
    }

    #[test]
    fn r5_key_post_needs_the_committee_list() {
        let w = World::new();
        let mut party = plan("412", "2025-2030", 1);
        party
            .entries
            .push(voted(&mut party.rounds, cadre(ID1, "Nguyễn Văn A"), "D.BT"));
        let r = w.rule(std::slice::from_ref(&party), RuleId::R5);
        assert_eq!(r.findings.len(), 1, "{r:#?}");
        party.entries.push(voted(
            &mut party.rounds,
            cadre(ID1, "Nguyễn Văn A"),
            "D.HUV",
        ));
        assert!(w
            .rule(std::slice::from_ref(&party), RuleId::R5)
            .findings
            .is_empty());
        // A government-term plan looks at the paired party term's plan.
        let mut gov = plan("412", "2026-2031", 1);
        gov.entries
            .push(voted(&mut gov.rounds, cadre(ID2, "Lê Văn B"), "D.CT.UBND"));
        let r = w.rule(&[party.clone(), gov.clone()], RuleId::R5);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].terms, ["2025-2030", "2026-2031"]);
        // Without the party plan there is nothing to compare with.
        assert!(w.rule(&[gov], RuleId::R5).findings.is_empty());
    }

    // ---- R21

    #[test]
    fn r21_one_id_with_different_details_is_an_error() {
        let w = World::new();
        let mut plans = two_districts(&["D.BT"], &["D.PCT.UBND"], "Nguyễn Văn A");
        assert!(w.rule(&plans, RuleId::R21).findings.is_empty());
        plans[1].entries[0].cadre.birth_date = d(1985, 5, 18);
        let r = w.rule(&plans, RuleId::R21);
        assert_eq!(r.findings.len(), 1);
        let f = &r.findings[0];
        assert_eq!(f.severity, Severity::Error);
        assert!(
            f.message_vi.contains("…1234") && !f.message_vi.contains(ID1),
            "{}",
            f.message_vi
        );
        assert!(f.message_en.contains("born 1985-05-18"));
        plans[1].entries[0].cadre.birth_date = d(1985, 5, 17);
        plans[1].entries[0].cadre.gender = Gender::Female;
        assert_eq!(w.rule(&plans, RuleId::R21).findings.len(), 1);
        plans[1].entries[0].cadre.gender = Gender::Male;
        plans[1].entries[0].cadre.full_name = "Nguyễn Văn Á".into();
        assert_eq!(w.rule(&plans, RuleId::R21).findings.len(), 1);
    }

    #[test]
    fn r21_same_person_under_two_ids_is_a_warning() {
        let w = World::new();
        let mut plans = two_districts(&["D.BT"], &["D.PCT.UBND"], "Nguyễn Văn A");
        plans[1].entries[0].cadre.national_id = ID2.into();
        plans[1].rounds[0].tallies[0].national_id = ID2.into();
        let r = w.rule(&plans, RuleId::R21);
        assert_eq!(r.findings.len(), 1, "{r:#?}");
        let f = &r.findings[0];
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.person.as_ref().unwrap().national_id, ID1);
        assert_eq!(f.other_persons[0].national_id, ID2);
        assert!(f.message_en.contains("…1234") && f.message_en.contains("…5678"));
        // A different birth date: two people.
        plans[1].entries[0].cadre.birth_date = d(1985, 5, 18);
        assert!(w.rule(&plans, RuleId::R21).findings.is_empty());
    }

    #[test]
    fn r21_two_spellings_of_one_name_are_one_name() {
        let w = World::new();
        // Old and new tone placement, an invisible character, another case: one person.
        for other in [
            "Nguyễn Thị Hòa",
            "Nguyễn Thị\u{200B} Hoà",
            "NGUYỄN THỊ HOÀ",
            "Nguyễn \u{FEFF}Thị Hoà",
        ] {
            let mut plans = two_districts(&["D.BT"], &["D.PCT.UBND"], other);
            plans[0].entries[0].cadre.full_name = "Nguyễn Thị Hoà".into();
            let r = w.rule(&plans, RuleId::R21);
            assert!(r.findings.is_empty(), "{other:?}: {r:#?}");
            // Under two IDs, the two spellings are one person with the same birth date.
            plans[1].entries[0].cadre.national_id = ID2.into();
            plans[1].rounds[0].tallies[0].national_id = ID2.into();
            let r = w.rule(&plans, RuleId::R21);
            assert_eq!(r.findings.len(), 1, "{other:?}");
            assert_eq!(r.findings[0].severity, Severity::Warning);
        }
        // Another tone is another name.
        let mut plans = two_districts(&["D.BT"], &["D.PCT.UBND"], "Nguyễn Thị Hóa");
        plans[0].entries[0].cadre.full_name = "Nguyễn Thị Hoà".into();
        let r = w.rule(&plans, RuleId::R21);
        assert_eq!(r.findings.len(), 1);
        assert!(
            r.findings[0].message_vi.contains("Nguyễn Thị Hoà")
                && r.findings[0].message_vi.contains("Nguyễn Thị Hóa"),
            "the message shows the names as written: {}",
            r.findings[0].message_vi
        );
    }

    // ---- R22

    fn synced(copy_of: impl Fn(&Plan) -> SubmittedCopy) -> Report {
        let w = World::new();
        let mut p = plan("412", "2025-2030", 2);
        p.entries.push(voted(
            &mut p.rounds,
            cadre(ID1, "Nguyễn Văn A"),
            "D.CT.UBND",
        ));
        let submitted = [copy_of(&p)];
        let plans = [p];
        let snap = Snapshot {
            submitted: &submitted,
            ..w.snapshot(&plans)
        };
        let scope = Scope {
            rules: vec![RuleId::R22],
            ..Scope::default()
        };
        check(&snap, &scope, today(), &RulesFile::default())
    }

    use crate::rules::finding::Report;

    #[test]
    fn r22_copy_must_match_what_the_owner_submitted() {
        let same = synced(|p| SubmittedCopy {
            id: p.id.clone(),
            hash: p.content_hash(),
        });
        assert!(same.findings.is_empty());
        let r = synced(|p| SubmittedCopy {
            id: p.id.clone(),
            hash: "0".repeat(64),
        });
        assert_eq!(r.findings.len(), 1);
        assert!(r.findings[0].message_en.contains("000000000000"));
        let r = synced(|p| {
            let mut id = p.id.clone();
            id.version = 3;
            SubmittedCopy {
                id,
                hash: p.content_hash(),
            }
        });
        assert_eq!(r.findings.len(), 1);
        assert!(r.findings[0]
            .message_en
            .contains("submitted version 3 but the province holds version 2"));
        let r = synced(|p| {
            let mut id = p.id.clone();
            id.unit = "414".into();
            SubmittedCopy {
                id,
                hash: p.content_hash(),
            }
        });
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].units, ["414"]);
    }
}
