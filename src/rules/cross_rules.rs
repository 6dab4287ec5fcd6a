//! The rules only the province can check, because they look across the lists of several units:
//! R3 (three positions per level, across units), R5 (lower lists are the basis of upper ones),
//! R21 (one person, one record) and R22 (the province's copy is what its owner submitted).
//!
//! R3, R5 and R21 read the check's shared index ([`Persons`]): every entry of the current plans
//! grouped by person, built once in one pass. A full check indexes everyone; an incremental one
//! indexes only the persons of the plan that arrived (and, for R21's "one person under two
//! IDs", the records that share a name and birth date with them: [`Focus`]). A rule builds
//! strings only for the findings it produces.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use foldhash::{HashMap, HashSet};

use super::{
    context::{name_key, Ctx},
    finding::{level_vi, mask_id, Finding, PersonRef, RuleId, Severity},
    index::{by_plan, Focus, Identity, NameKeys, Persons, Row},
};
use crate::domain::{Cadre, Gender, Level, Plan, PlanId, PlanStatus, PositionKind};

/// A person as cross-plan findings name them: the NFC name of their first record.
fn person(cadre: &Cadre) -> PersonRef {
    PersonRef {
        national_id: cadre.national_id.to_string(),
        full_name: name_key(&cadre.full_name).into_owned(),
    }
}

/// R3: one person is planned for at most `max_positions_per_level` positions of the same level in
/// one term, counted across every unit's current list (a position of two units counts twice).
pub(crate) fn r3(ctx: &Ctx<'_>, index: &Persons<'_>, out: &mut Vec<Finding>) {
    let cap = usize::try_from(ctx.now.max_positions_per_level).unwrap_or(usize::MAX);
    let mut groups: Vec<((&str, Level), Vec<Row>)> = Vec::new();
    for p in 0..index.len() {
        let rows = index.rows(p);
        // Distinct seats are at most the rows: a person listed no more than `cap` times passes.
        if rows.len() <= cap {
            continue;
        }
        // (term, level of the planned position) → the rows.
        groups.clear();
        for &row in rows {
            let Some(pos) = ctx.position(&index.entry(row).position) else {
                continue;
            };
            let key = (index.plan(row).id.term.as_str(), pos.level);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, list)) => list.push(row),
                None => groups.push((key, vec![row])),
            }
        }
        for ((term, level), list) in &groups {
            let seats: BTreeSet<(&str, &str)> = list
                .iter()
                .map(|&r| {
                    (
                        index.entry(r).position.as_str(),
                        index.plan(r).id.unit.as_str(),
                    )
                })
                .collect();
            if seats.len() <= cap {
                continue;
            }
            let who = person(index.cadre(list[0]));
            let listing = seats
                .iter()
                .map(|(pos, unit)| format!("{pos} ({unit})"))
                .collect::<Vec<_>>()
                .join(", ");
            let label = who.label();
            let n = seats.len();
            let level = *level;
            out.push(Finding::new(
                RuleId::R3,
                Severity::Error,
                seats.iter().map(|(_, u)| (*u).to_string()).collect(),
                Some(who),
                seats.iter().map(|(p, _)| (*p).to_string()).collect(),
                vec![term.to_string()],
                list.iter().map(|&r| index.plan(r).id.clone()).collect(),
                format!(
                    "{label} được quy hoạch vào {n} chức danh cấp {} nhiệm kỳ {term}: {listing}; tối đa {cap}",
                    level_vi(level)
                ),
                format!("{label} is planned for {n} {level}-level positions in term {term}: {listing}; at most {cap}"),
            ));
        }
    }
}

/// R5, in two parts (warnings):
///
/// - A cadre in an upper list whose current unit lies below the list's unit should be in that
///   lower unit's approved list (for the same term or its pair) or hold a key post there. Checked
///   only when the lower unit has an approved list to compare with. Across a reorganisation
///   (issue 22) the rule follows the sources: for an upper list of the structure in force, a
///   unit created by the reorganisation that has no approved list of its own since then is
///   judged by the approved lists of the old units it absorbed (such a finding carries the
///   reorganisation's day; an older upper list names its units as they were then), and an
///   entry drawn from an old
///   unit's approved list (its provenance names a version the province holds approved, listing
///   that person at that place) counts as based on it.
/// - A cadre planned for a key leadership post should be in the same unit's committee list: the
///   committee entries of the unit's current plan for the party term (the plan's own term when
///   it is a party term, else its pair). Checked only when that plan is held.
pub(crate) fn r5(ctx: &Ctx<'_>, index: &Persons<'_>, out: &mut Vec<Finding>) {
    let key_posts: HashSet<&str> = ctx.now.key_posts.iter().map(String::as_str).collect();
    // The current plan of each unit × term, as its place in `ctx.current`.
    let held: HashMap<(&str, &str), u32> = ctx
        .current
        .iter()
        .zip(0u32..)
        .map(|(p, i)| ((p.id.unit.as_str(), p.id.term.as_str()), i))
        .collect();
    // The latest approved version of each unit × term.
    let mut approved: HashMap<(&str, &str), &Plan> = HashMap::default();
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
    // An approved list that is the current version is looked up in the index; the national
    // IDs of one that is not (a later version is pending) are gathered here.
    let current_place = |p: &Plan| {
        held.get(&(p.id.unit.as_str(), p.id.term.as_str()))
            .copied()
            .filter(|&i| std::ptr::eq(ctx.current[i as usize], p))
    };
    let older: HashMap<*const Plan, HashSet<&str>> = approved
        .values()
        .filter(|p| current_place(p).is_none())
        .map(|p| {
            let ids = p.entries.iter().map(|e| e.cadre.national_id.as_str());
            (std::ptr::from_ref::<Plan>(p), ids.collect())
        })
        .collect();
    // Each current plan's term pair and party term.
    let terms: Vec<(Option<&str>, Option<&str>)> = ctx
        .current
        .iter()
        .map(|plan| {
            let term = ctx.snap.catalog.term(&plan.id.term);
            let pair = term.and_then(|t| t.pairs_with.as_deref());
            let party_term = term.and_then(|t| {
                if t.kind == "party" {
                    Some(t.code.as_str())
                } else {
                    pair
                }
            });
            (pair, party_term)
        })
        .collect();
    let mut within: HashMap<(&str, &str), bool> = HashMap::default();
    let hierarchy = ctx.snap.hierarchy;
    let now = hierarchy.period();
    // The lower lists of a unit the reorganisation created: its own approved lists made since,
    // else those of its sources (with the day of the reorganisation to tag the finding).
    let since_now = hierarchy.history().periods().get(now).and_then(|p| p.from);
    // An upper plan of the structure in force: of a unit that is not abolished, adopted since
    // the structure took effect or not adopted. An older plan names its units as they were.
    let made_now = |plan: &Plan| {
        since_now.is_some_and(|since| {
            !hierarchy.is_former(&plan.id.unit) && plan.adopted_on.is_none_or(|d| d >= since)
        })
    };
    let lower_lists =
        |lower: &str, terms: &[&str], recent: bool| -> (Vec<&Plan>, Option<NaiveDate>) {
            let own = |code: &str, made_since: Option<NaiveDate>| -> Vec<&Plan> {
                terms
                    .iter()
                    .filter_map(|t| approved.get(&(code, *t)).copied())
                    .filter(|l| made_since.is_none_or(|d| l.adopted_on.is_none_or(|a| a >= d)))
                    .collect()
            };
            let Some(since) = hierarchy.new_since(lower).filter(|_| recent) else {
                return (own(lower, None), None);
            };
            let mine = own(lower, Some(since));
            if !mine.is_empty() {
                return (mine, None);
            }
            let sources: Vec<&Plan> = hierarchy
                .history()
                .absorbed_by(lower, now)
                .into_iter()
                .filter(|(p, _)| *p < now)
                .flat_map(|(_, u)| own(&u.code, None))
                .collect();
            (sources, Some(since))
        };
    // An entry drawn from an approved list: the version its provenance names is held
    // approved and lists the same person at that place.
    let drawn_from_approved = |e: &crate::domain::Entry| {
        e.origin.as_ref().is_some_and(|o| {
            ctx.snap.plans.iter().any(|l| {
                l.id == o.plan
                    && l.status == PlanStatus::Approved
                    && (o.position as usize)
                        .checked_sub(1)
                        .and_then(|i| l.entries.get(i))
                        .is_some_and(|src| src.cadre.national_id == e.cadre.national_id)
            })
        })
    };
    for p in 0..index.len() {
        let id = index.id(p);
        let rows = index.rows(p);
        let in_list = |l: &Plan| match current_place(l) {
            Some(i) => rows.iter().any(|r| r.plan == i),
            None => older
                .get(&std::ptr::from_ref(l))
                .is_some_and(|ids| ids.contains(id)),
        };
        for group in by_plan(rows) {
            let plan = index.plan(group[0]);
            let (pair, party_term) = terms[group[0].plan as usize];
            let unit = plan.id.unit.as_str();
            let c = index.cadre(group[0]);
            let lower = c.current_unit.as_str();
            let below = lower != unit
                && *within
                    .entry((lower, unit))
                    .or_insert_with(|| ctx.snap.hierarchy.is_within(lower, unit));
            if below
                && !c
                    .current_positions
                    .iter()
                    .any(|p| key_posts.contains(p.as_str()))
                && !group.iter().any(|&r| drawn_from_approved(index.entry(r)))
            {
                let wanted: Vec<&str> = [Some(plan.id.term.as_str()), pair]
                    .into_iter()
                    .flatten()
                    .collect();
                let (lists, across) = lower_lists(lower, &wanted, made_now(plan));
                if !lists.is_empty() && !lists.iter().any(|l| in_list(l)) {
                    let positions: Vec<String> = group
                        .iter()
                        .map(|&r| index.entry(r).position.to_string())
                        .collect();
                    let who = person(c);
                    let label = who.label();
                    let names = lists
                        .iter()
                        .map(|l| l.id.to_string())
                        .collect::<Vec<_>>()
                        .join(", ");
                    let mut finding = Finding::new(
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
                    );
                    if across.is_some() {
                        finding.message_vi.push_str(&format!(
                            " (đơn vị {lower} mới thành lập khi sắp xếp: so với danh sách đã phê duyệt của các đơn vị cũ hợp thành)"
                        ));
                        finding.message_en.push_str(&format!(
                            " ({lower} was created by the reorganisation: compared with the approved lists of the old units it absorbed)"
                        ));
                    }
                    finding.reorganised_on = across;
                    out.push(finding);
                }
            }
            let is_key = |r: &Row| {
                let code = index.entry(*r).position.as_str();
                key_posts.contains(code)
                    && ctx
                        .position(code)
                        .is_some_and(|p| p.kind == PositionKind::Leadership)
            };
            let Some(pt) = party_term.filter(|_| group.iter().any(is_key)) else {
                continue;
            };
            let Some(&committee) = held.get(&(unit, pt)) else {
                continue;
            };
            let in_committee = rows.iter().any(|&r| {
                r.plan == committee
                    && ctx
                        .position(&index.entry(r).position)
                        .is_some_and(|pos| pos.kind == PositionKind::Committee)
            });
            if in_committee {
                continue;
            }
            let key: Vec<String> = group
                .iter()
                .filter(|r| is_key(r))
                .map(|&r| index.entry(r).position.to_string())
                .collect();
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

/// One way a person is recorded: name key, birth date, and whether female.
type Variant = (u32, NaiveDate, bool);

/// The variant of a record.
fn variant<'a>(c: &'a Cadre, keys: &mut NameKeys<'a>) -> Variant {
    (
        keys.of(&c.full_name),
        c.birth_date,
        c.gender == Gender::Female,
    )
}

/// Person `p`'s distinct variants, each with its first record and the plans recording it (in
/// order, each once), when there is more than one; `None` when every record agrees.
fn variants<'a>(
    index: &Persons<'a>,
    p: usize,
    keys: &mut NameKeys<'a>,
) -> Option<Vec<(Variant, Row, Vec<u32>)>> {
    let rows = index.rows(p);
    let first = index.cadre(rows[0]);
    // Records written identically are one variant without keying their names.
    let same = |c: &Cadre| {
        c.full_name == first.full_name
            && c.birth_date == first.birth_date
            && c.gender == first.gender
    };
    if rows[1..].iter().all(|&r| same(index.cadre(r))) {
        return None;
    }
    let mut out: Vec<(Variant, Row, Vec<u32>)> = Vec::new();
    for &row in rows {
        let v = variant(index.cadre(row), keys);
        match out.iter_mut().find(|(w, _, _)| *w == v) {
            Some((_, _, plans)) => {
                if plans.last() != Some(&row.plan) {
                    plans.push(row.plan);
                }
            }
            None => out.push((v, row, vec![row.plan])),
        }
    }
    (out.len() > 1).then_some(out)
}

/// R2 across the province-level lists a merger of provinces brings together (issue 22,
/// "Merging provinces"): at a province holding the decided lists (approved, or adopted: a
/// province's own list has no approving level above it here) of more than one province-level
/// unit for one term, as a province formed by merging two or three old provinces does, the
/// cadres planned for each leadership post are counted across those lists, each person once by
/// national ID (as R21 identifies a person), not counting entries fulfilled before their
/// version. A count over `max_cadres_per_position` (of the ruleset in force at the latest
/// decision among the lists) is one error naming every list that plans the post; a post only
/// one list plans is left to the per-plan R2. The node tags such a finding as coming from the
/// merger with the old provinces' codes (`crate::node::merge::merger_tag`).
pub(crate) fn r2_across_provinces(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    // The latest decided version of each province-level unit × term.
    let mut decided: HashMap<(&str, &str), &Plan> = HashMap::default();
    for p in ctx.snap.plans.iter().filter(|p| {
        matches!(p.status, PlanStatus::Approved | PlanStatus::Adopted)
            && ctx.unit_level(&p.id.unit) == Some(Level::Province)
    }) {
        let slot = decided
            .entry((p.id.unit.as_str(), p.id.term.as_str()))
            .or_insert(p);
        if p.id.version > slot.id.version {
            *slot = p;
        }
    }
    if decided.len() < 2 {
        return;
    }
    // (term, post) → (the plans listing it, national ID → first record).
    type Listed<'a> = (
        BTreeSet<&'a PlanId>,
        std::collections::BTreeMap<&'a str, &'a Cadre>,
    );
    let mut posts: std::collections::BTreeMap<(&str, &str), Listed<'_>> = Default::default();
    for plan in decided.values() {
        for e in &plan.entries {
            let leadership = ctx
                .position(&e.position)
                .is_some_and(|p| p.kind == PositionKind::Leadership);
            let released = ctx
                .snap
                .fulfilled
                .iter()
                .any(|f| f.releases(&plan.id, &e.cadre.national_id, &e.position));
            if !leadership || released {
                continue;
            }
            let (plans, people) = posts
                .entry((plan.id.term.as_str(), e.position.as_str()))
                .or_default();
            plans.insert(&plan.id);
            people
                .entry(e.cadre.national_id.as_str())
                .or_insert(&e.cadre);
        }
    }
    for ((term, code), (plans, people)) in posts {
        let units: BTreeSet<&str> = plans.iter().map(|id| id.unit.as_str()).collect();
        if units.len() < 2 {
            continue;
        }
        let latest = plans
            .iter()
            .filter_map(|id| decided.get(&(id.unit.as_str(), id.term.as_str())))
            .map(|p| ctx.decision_date(p))
            .max()
            .unwrap_or(ctx.today);
        let cap = ctx.rules.params_for(latest).max_cadres_per_position;
        let count = u32::try_from(people.len()).unwrap_or(u32::MAX);
        if count <= cap {
            continue;
        }
        let Some(pos) = ctx.position(code) else {
            continue;
        };
        let names = people
            .values()
            .map(|c| person(c).label())
            .collect::<Vec<_>>()
            .join("; ");
        let lists = plans
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        out.push(Finding::new(
            RuleId::R2,
            Severity::Error,
            units.iter().map(|u| (*u).to_string()).collect(),
            None,
            vec![code.to_string()],
            vec![term.to_string()],
            plans.iter().map(|id| (*id).clone()).collect(),
            format!(
                "{count} cán bộ được quy hoạch vào {code} ({}) nhiệm kỳ {term} trong các danh sách cấp tỉnh {lists}: {names}; tối đa {cap}",
                pos.title_vi
            ),
            format!(
                "{count} cadres are planned for {code} ({}) in term {term} across the province-level lists {lists}: {names}; at most {cap}",
                pos.title_en
            ),
        ));
    }
}

/// R21, in two parts:
///
/// - One national ID recorded with different full names (compared by their identity key,
///   [`crate::domain::name::key`]: two spellings of one name are one name), birth dates or
///   genders in the current plans: error.
/// - One person, the same name (by identity key) and birth date, under two or more national
///   IDs: warning. With a [`Focus`], only the identities of the indexed persons are grouped,
///   each from every record that has it.
pub(crate) fn r21<'a>(
    index: &Persons<'a>,
    focus: Option<&Focus<'a>>,
    keys: &mut NameKeys<'a>,
    out: &mut Vec<Finding>,
) {
    // Identity → the persons recorded with it: (0 for `index`, 1 for the focus's others;
    // person number). A second person moves the list to `several`.
    let mut identities: HashMap<Identity, ((u8, u32), u32)> =
        HashMap::with_capacity_and_hasher(index.len(), Default::default());
    let mut several: Vec<Vec<(u8, u32)>> = Vec::new();
    let mut record = |identity: Identity, who: (u8, u32)| {
        let slot = identities.entry(identity).or_insert((who, u32::MAX));
        if slot.0 == who {
            return;
        }
        if slot.1 == u32::MAX {
            slot.1 = u32::try_from(several.len()).unwrap_or(u32::MAX);
            several.push(vec![slot.0, who]);
        } else if let Some(list) = several.get_mut(slot.1 as usize) {
            if !list.contains(&who) {
                list.push(who);
            }
        }
    };
    for p in 0..index.len() {
        let who = (0, u32::try_from(p).unwrap_or(u32::MAX));
        let Some(vs) = variants(index, p, keys) else {
            let c = index.cadre(index.rows(p)[0]);
            record((keys.of(&c.full_name), c.birth_date), who);
            continue;
        };
        for ((name, birth, _), _, _) in &vs {
            record((*name, *birth), who);
        }
        different_details(index, p, vs, keys, out);
    }
    if let Some(focus) = focus {
        for p in 0..focus.others.len() {
            let who = (1, u32::try_from(p).unwrap_or(u32::MAX));
            for &row in focus.others.rows(p) {
                let c = focus.others.cadre(row);
                let identity = (keys.of(&c.full_name), c.birth_date);
                if focus.identities.contains(&identity) {
                    record(identity, who);
                }
            }
        }
    }
    let mut groups: Vec<(Identity, &Vec<(u8, u32)>)> = identities
        .iter()
        .filter(|(_, (_, more))| *more != u32::MAX)
        .filter_map(|(identity, (_, more))| Some((*identity, several.get(*more as usize)?)))
        .collect();
    groups.sort_unstable_by_key(|(identity, _)| *identity);
    for ((name, birth), members) in groups {
        let sources = [index, focus.map_or(index, |f| &f.others)];
        under_several_ids(sources, name, birth, members, keys, out);
    }
}

/// R21's error: one national ID with different details.
fn different_details<'a>(
    index: &Persons<'a>,
    p: usize,
    mut variants: Vec<(Variant, Row, Vec<u32>)>,
    keys: &NameKeys<'a>,
    out: &mut Vec<Finding>,
) {
    variants.sort_by(|a, b| {
        let ((ka, ba, fa), _, _) = a;
        let ((kb, bb, fb), _, _) = b;
        (keys.key(*ka), ba, fa).cmp(&(keys.key(*kb), bb, fb))
    });
    let id = index.id(p);
    let who = person(index.cadre(index.rows(p)[0]));
    let plan_of = |i: u32| index.plan_at(i);
    let list = |vi: bool| {
        variants
            .iter()
            .map(|((_, birth, female), first, plans)| {
                let name = name_key(&index.cadre(*first).full_name);
                let gender = if *female {
                    Gender::Female
                } else {
                    Gender::Male
                };
                let ids = plans
                    .iter()
                    .map(|&i| plan_of(i).id.to_string())
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
    let plans: Vec<&Plan> = variants
        .iter()
        .flat_map(|(_, _, p)| p)
        .map(|&i| plan_of(i))
        .collect();
    let masked = mask_id(id);
    out.push(r21_finding(
        Severity::Error,
        &plans,
        who,
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

/// An R21 finding about `who` that names the units, terms and IDs of the lists `plans`.
fn r21_finding(
    severity: Severity,
    plans: &[&Plan],
    who: PersonRef,
    message_vi: String,
    message_en: String,
) -> Finding {
    Finding::new(
        RuleId::R21,
        severity,
        plans.iter().map(|p| p.id.unit.clone()).collect(),
        Some(who),
        Vec::new(),
        plans.iter().map(|p| p.id.term.clone()).collect(),
        plans.iter().map(|p| p.id.clone()).collect(),
        message_vi,
        message_en,
    )
}

/// R21's warning: the persons `members` (of `sources`) share the identity (`name`, `birth`).
fn under_several_ids<'a>(
    sources: [&Persons<'a>; 2],
    name: u32,
    birth: NaiveDate,
    members: &[(u8, u32)],
    keys: &mut NameKeys<'a>,
    out: &mut Vec<Finding>,
) {
    // National ID → (first record with this identity, the plans holding one), by ID.
    let mut ids: Vec<(&str, &Cadre, Vec<&Plan>)> = Vec::with_capacity(members.len());
    for &(source, p) in members {
        let index = sources[usize::from(source)];
        let p = p as usize;
        let mut first: Option<&Cadre> = None;
        let mut plans: Vec<&Plan> = Vec::new();
        for &row in index.rows(p) {
            let c = index.cadre(row);
            if c.birth_date != birth || keys.of(&c.full_name) != name {
                continue;
            }
            first.get_or_insert(c);
            let plan = index.plan(row);
            if plans.last().is_none_or(|l| l.id != plan.id) {
                plans.push(plan);
            }
        }
        if let Some(first) = first {
            ids.push((index.id(p), first, plans));
        }
    }
    if ids.len() < 2 {
        return;
    }
    ids.sort_by(|a, b| a.0.cmp(b.0));
    let mut people = ids.iter().map(|(_, c, _)| person(c));
    let Some(main) = people.next() else {
        return;
    };
    let name = main.full_name.clone();
    let others: Vec<PersonRef> = people.collect();
    let plans: Vec<&Plan> = ids.iter().flat_map(|(_, _, p)| p).copied().collect();
    let listing = ids
        .iter()
        .map(|(id, _, plans)| {
            let ps = plans
                .iter()
                .map(|p| p.id.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            format!("CCCD {} ({ps})", mask_id(id))
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut f = r21_finding(
        Severity::Warning,
        &plans,
        main,
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
    use crate::{
        domain::{EntryOrigin, Hierarchy},
        rules::{
            engine::{check, Scope, Snapshot, SubmittedCopy},
            finding::Report,
            params::RulesFile,
            testkit::*,
        },
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

    /// The test province before (period 0) or after (period 1) a reorganisation on 1 July
    /// 2025 that makes communes 16681 and 16684 one commune 16681 directly under the province.
    fn reorganised(period: usize) -> World {
        use crate::domain::{history::Period, Mapping, Share, Structure, UnitHistory};
        let after = "code,level,name,parent_code\n40,province,Tỉnh Nghệ An,\n16681,commune,Phường Thành Vinh,40\n16700,commune,Xã Tây Hiếu,40\n";
        let row = |old: &str| Mapping {
            old: old.into(),
            new: "16681".into(),
            share: Share::Whole,
        };
        let history = UnitHistory::new(
            vec![
                Period {
                    label: "2024".into(),
                    from: None,
                    structure: Structure::parse(UNITS).unwrap(),
                },
                Period {
                    label: "2025".into(),
                    from: Some(d(2025, 7, 1)),
                    structure: Structure::parse(after).unwrap(),
                },
            ],
            vec![vec![row("16681"), row("16684")]],
        )
        .unwrap();
        World {
            hierarchy: Hierarchy::with_history(std::sync::Arc::new(history), period),
            catalog: crate::config::builtin_catalog().unwrap(),
        }
    }

    /// An approved list of `unit` adopted on 1 March 2025 (before the reorganisation) listing
    /// `cadres` as party-committee members.
    fn approved_before(unit: &str, cadres: &[Cadre]) -> Plan {
        let mut p = plan(unit, "2025-2030", 1);
        p.status = PlanStatus::Approved;
        p.adopted_on = Some(d(2025, 3, 1));
        for c in cadres {
            p.entries.push(voted(&mut p.rounds, c.clone(), "C.DUV"));
        }
        p
    }

    #[test]
    fn r5_follows_the_sources_of_a_unit_the_reorganisation_created() {
        let mut c = cadre(ID1, "Nguyễn Văn A");
        c.current_unit = "16681".into();
        c.current_positions = vec!["C.PCT.UBND".into()];
        let other = cadre(ID2, "Lê Văn B");
        // The province's list (adopted after 1 July) plans a cadre of the new commune 16681,
        // which has no approved list of its own yet.
        let province = |c: &Cadre| {
            let mut p = plan("40", "2025-2030", 1);
            p.entries.push(voted(&mut p.rounds, c.clone(), "P.UV.BTV"));
            p
        };
        let about = |r: &Report| -> Vec<Finding> {
            r.findings
                .iter()
                .filter(|f| f.units.contains(&"16681".to_string()))
                .cloned()
                .collect()
        };
        let after = reorganised(1);
        // Listed by one of its sources (old 16684): based on it.
        let plans = [
            province(&c),
            approved_before("16681", std::slice::from_ref(&other)),
            approved_before("16684", &[other.clone(), c.clone()]),
        ];
        assert!(about(&after.rule(&plans, RuleId::R5)).is_empty());
        // Listed by none of its sources: a warning, tagged to the reorganisation.
        let plans = [
            province(&c),
            approved_before("16681", std::slice::from_ref(&other)),
            approved_before("16684", std::slice::from_ref(&other)),
        ];
        let found = about(&after.rule(&plans, RuleId::R5));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].reorganised_on, Some(d(2025, 7, 1)));
        assert!(
            found[0]
                .message_en
                .contains("16681/2025-2030/v1, 16684/2025-2030/v1"),
            "{}",
            found[0].message_en
        );
        // The other side of the boundary: before the reorganisation the same lists are judged
        // as they were (old 16681's own list only), and nothing is tagged.
        let before = reorganised(0);
        let plans = [
            province(&c),
            approved_before("16681", std::slice::from_ref(&other)),
            approved_before("16684", &[other.clone(), c.clone()]),
        ];
        let found = about(&before.rule(&plans, RuleId::R5));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].reorganised_on, None);
    }

    #[test]
    fn r5_counts_an_entry_drawn_from_an_approved_source_as_based_on_it() {
        let w = reorganised(1);
        // A cadre of old commune 16684 (absorbed by the new 16681) is not in 16684's approved
        // list, but is in old 16681's, and the new commune's list drew them from there.
        let mut c = cadre(ID1, "Nguyễn Văn A");
        c.current_unit = "16684".into();
        let other = cadre(ID2, "Lê Văn B");
        let source = approved_before("16681", &[other.clone(), c.clone()]);
        let new_list = |origin: Option<EntryOrigin>| {
            let mut p = plan("16681", "2025-2030", 2);
            let mut e = voted(&mut p.rounds, c.clone(), "C.DUV");
            e.origin = origin.map(Box::new);
            p.entries.push(e);
            vec![
                p,
                source.clone(),
                approved_before("16684", std::slice::from_ref(&other)),
            ]
        };
        let origin = |version: u32, position: u32| EntryOrigin {
            plan: PlanId {
                unit: "16681".into(),
                term: "2025-2030".into(),
                version,
            },
            position,
        };
        assert!(w
            .rule(&new_list(Some(origin(1, 2))), RuleId::R5)
            .findings
            .is_empty());
        // Without provenance, or with one the province cannot verify (another place in the
        // list, a version it does not hold approved), the cadre's own unit's list decides.
        for bad in [
            None,
            Some(origin(1, 1)),
            Some(origin(1, 9)),
            Some(origin(3, 2)),
        ] {
            let r = w.rule(&new_list(bad.clone()), RuleId::R5);
            assert_eq!(r.findings.len(), 1, "{bad:?}: {r:#?}");
            assert_eq!(r.findings[0].units, ["16681", "16684"]);
        }
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

    // ---- R2 across the lists of merged provinces

    /// Two provinces' decided lists for one term and post: 40 lists `in_40`, 42 lists
    /// `in_42` (national IDs), everyone for P.CT.UBND; a hierarchy holding both provinces.
    fn merged_provinces(in_40: &[&str], in_42: &[&str]) -> (World, [Plan; 2]) {
        let world = World {
            hierarchy: Hierarchy::parse(&format!("{UNITS}42,province,Tỉnh Hà Tĩnh,\n")).unwrap(),
            ..World::new()
        };
        let list = |unit: &str, ids: &[&str], status: PlanStatus| {
            let mut p = plan(unit, "2025-2030", 1);
            p.status = status;
            for id in ids {
                let who = cadre(id, &format!("Người {id}"));
                p.entries.push(voted(&mut p.rounds, who, "P.CT.UBND"));
            }
            p
        };
        let plans = [
            list("40", in_40, PlanStatus::Approved),
            list("42", in_42, PlanStatus::Adopted),
        ];
        (world, plans)
    }

    #[test]
    fn r2_counts_a_post_across_merged_provinces_lists_at_the_limit_none_over_it_one() {
        // Three distinct people (ID2 listed by both counts once): at the limit.
        let (w, at_limit) = merged_provinces(&[ID1, ID2], &[ID2, "001080000003"]);
        let r = w.rule(&at_limit, RuleId::R2);
        assert!(r.findings.is_empty(), "{r:#?}");
        // Four: one finding naming both lists, tagged to the merger by the node.
        let (w, over) = merged_provinces(&[ID1, ID2], &[ID2, "001080000003", "001080000004"]);
        let r = w.rule(&over, RuleId::R2);
        assert_eq!(r.findings.len(), 1, "{r:#?}");
        let f = &r.findings[0];
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.units, ["40", "42"]);
        assert_eq!(f.positions, ["P.CT.UBND"]);
        assert_eq!(f.plans, [over[0].id.clone(), over[1].id.clone()]);
        assert_contains(&f.message_vi, "4 cán bộ được quy hoạch vào P.CT.UBND");
        assert_contains(&f.message_en, "40/2025-2030/v1, 42/2025-2030/v1");
        assert_contains(&f.message_en, "at most 3");
        assert_eq!(
            crate::node::merge::merger_tag(f, &|unit: &str| unit.to_string()),
            ["40", "42"]
        );
    }

    #[test]
    fn r2_across_provinces_ignores_undecided_lists_other_terms_and_one_province() {
        let four = ["001080000003", "001080000004"];
        // A draft of 42 is not a decided list.
        let (w, mut plans) = merged_provinces(&[ID1, ID2], &four);
        plans[1].status = PlanStatus::Draft;
        assert!(w.rule(&plans, RuleId::R2).findings.is_empty());
        // Another term.
        let (w, mut plans) = merged_provinces(&[ID1, ID2], &four);
        plans[1].id.term = "2030-2035".into();
        assert!(w.rule(&plans, RuleId::R2).findings.is_empty());
        // Two district lists are not provincial lists.
        let (w, mut plans) = merged_provinces(&[ID1, ID2], &four);
        plans[0].id.unit = "412".into();
        plans[1].id.unit = "414".into();
        for p in &mut plans {
            for e in &mut p.entries {
                e.position = "D.CT.UBND".into();
            }
        }
        assert!(w.rule(&plans, RuleId::R2).findings.is_empty());
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
            fulfilled: &[],
            ..w.snapshot(&plans)
        };
        let scope = Scope {
            rules: vec![RuleId::R22],
            ..Scope::default()
        };
        check(&snap, &scope, today(), &RulesFile::default())
    }

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
