//! A deterministic synthetic province for the benchmarks: the real subtree of a province from a
//! units file, positions from the catalogue, realistic Vietnamese names, ages, genders,
//! ethnicities, ballot rounds whose votes pass R19, and a controlled share of deliberate rule
//! breaks. The same seed gives the same plans, byte for byte.
//!
//! Each unit gets one plan per term, sized by its level (a district's list is four times a
//! commune's, the province's ten times), so that the whole province reaches a target number of
//! entries. Plans come as the province holds them: a lower unit's plan approved by its
//! approving unit, the province's own plan adopted; every plan carries its content hash. Nothing
//! here does I/O: the benchmarks (`benches/quyhoach/`) load the plans into stores and nodes.
//!
//! It lives with the benchmarks, not in the library; the library's tests compile it too
//! (`src/lib.rs` includes it under `cfg(test)`), because `view`'s tests check on it.

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

use quyhoach::domain::{
    BallotRound, Body, Cadre, Catalog, Decision, Entry, EntrySource, Gender, Hierarchy, Level,
    Outcome, Plan, PlanId, PlanStatus, Position, PositionKind, Tally, Unit,
};

/// The latest day a synthetic plan's first ballot round is held. Plans for a term that starts
/// years ahead are voted in the current planning round (one round reviews the current pair of
/// terms and builds the next, `docs/rules.md`), so their votes, adoption and decisions lie in the
/// past, as the nodes that receive them require (a date in the future is refused).
const LATEST_FIRST_VOTE: NaiveDate = match NaiveDate::from_ymd_opt(2026, 5, 1) {
    Some(d) => d,
    None => panic!("a valid date"),
};

/// The benchmark sizes of the issue, in entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// About 25,000 entries: one province, one pair of terms.
    S,
    /// About 100,000 entries: one province, two pairs of terms.
    M,
    /// About 400,000 entries: one province, two pairs of terms, long lists (about a whole
    /// country's lists at once).
    L,
}

impl Size {
    /// The number of entries aimed at.
    pub fn target(self) -> usize {
        match self {
            Size::S => 25_000,
            Size::M => 100_000,
            Size::L => 400_000,
        }
    }

    /// The party terms planned; each brings its paired government term.
    pub fn party_terms(self) -> &'static [&'static str] {
        match self {
            Size::S => &["2025-2030"],
            Size::M | Size::L => &["2020-2025", "2025-2030"],
        }
    }

    /// The size's name: `S`, `M` or `L`.
    pub fn name(self) -> &'static str {
        match self {
            Size::S => "S",
            Size::M => "M",
            Size::L => "L",
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Code of the province whose subtree is used.
    pub province: String,
    /// Entries aimed at, over every plan.
    pub target_entries: usize,
    /// Party terms (nhiệm kỳ Đảng); each is planned together with its paired government term.
    pub party_terms: Vec<String>,
    /// Share of persons who carry one deliberate rule break (R1, R6 or R19).
    pub break_share: f64,
    /// The seed: the same spec gives the same plans.
    pub seed: u64,
    /// The serial of the first person made (national IDs are unique per serial below
    /// 1,000,000): two provinces generated apart give them distinct ranges, so that their
    /// lists share no one by chance (section 5's merger).
    pub first_person: u64,
}

impl Spec {
    /// The size for a province, with 2% deliberate breaks.
    pub fn sized(province: &str, size: Size, seed: u64) -> Self {
        Self {
            province: province.to_string(),
            target_entries: size.target(),
            party_terms: size.party_terms().iter().map(|t| t.to_string()).collect(),
            break_share: 0.02,
            seed,
            first_person: 0,
        }
    }
}

/// A generated province.
#[derive(Debug, Clone)]
pub struct Synthetic {
    /// Every plan, in unit order (depth first) then term order.
    pub plans: Vec<Plan>,
    /// Entries over every plan.
    pub entries: usize,
    /// Deliberate rule breaks put in (one per broken person, or per under-voted entry).
    pub breaks: usize,
}

/// Relative list length by level.
fn weight(level: Level) -> f64 {
    match level {
        Level::Commune => 1.0,
        Level::District => 4.0,
        Level::Province => 10.0,
    }
}

/// Generates the plans of a province's subtree as its province node would hold them.
pub fn generate(hierarchy: &Hierarchy, catalog: &Catalog, spec: &Spec) -> Synthetic {
    let units: Vec<&Unit> = hierarchy.subtree(&spec.province);
    let pairs: Vec<(String, String)> = spec
        .party_terms
        .iter()
        .map(|t| {
            let paired = catalog
                .term(t)
                .and_then(|term| term.pairs_with.clone())
                .unwrap_or_else(|| t.clone());
            (t.clone(), paired)
        })
        .collect();
    let plans_per_unit = pairs
        .iter()
        .map(|(p, g)| 1 + usize::from(p != g))
        .sum::<usize>();
    let total_weight: f64 = units.iter().map(|u| weight(u.level)).sum();
    let per_weight = spec.target_entries as f64 / (total_weight * plans_per_unit as f64);
    let mut maker = Maker::new(catalog, spec.seed, spec.break_share);
    maker.next_person = spec.first_person;
    let mut out = Synthetic {
        plans: Vec::new(),
        entries: 0,
        breaks: 0,
    };
    for unit in units {
        let n = (weight(unit.level) * per_weight).round().max(1.0) as usize;
        let approver = hierarchy.parent(&unit.code).map(|u| u.code.clone());
        for (party, government) in &pairs {
            let first = maker.plan(unit, party, n, None);
            let persons = first.committee_persons.clone();
            let mut made = vec![first];
            if government != party {
                made.push(maker.plan(unit, government, n, Some(&persons)));
            }
            for m in made {
                out.breaks += m.breaks;
                let plan = held_as(m.plan, approver.as_deref());
                out.entries += plan.entries.len();
                out.plans.push(plan);
            }
        }
    }
    out
}

/// Generates one plan of `entries` entries for each (unit, term), as submitted by the unit
/// itself (status submitted, version 1, no decision): what a child pushes to its approving node.
/// National IDs are unique across the batch.
pub fn submitted_plans(
    catalog: &Catalog,
    plans: &[(&Unit, &str)],
    entries: usize,
    seed: u64,
) -> Vec<Plan> {
    let mut maker = Maker::new(catalog, seed, 0.0);
    plans
        .iter()
        .map(|(unit, term)| {
            let mut plan = maker.plan(unit, term, entries, None).plan;
            plan.status = PlanStatus::Submitted;
            plan
        })
        .collect()
}

/// Gives a plan the status and decision it has at the province: approved by its approving unit
/// (the decision dated after adoption), or adopted for the province's own plan.
fn held_as(mut plan: Plan, approver: Option<&str>) -> Plan {
    let hash = plan.hash.clone().expect("generated plans are hashed");
    let adopted = plan.adopted_on.expect("generated plans are adopted");
    match approver {
        Some(approver) => {
            let decided_at = at_noon(adopted + Days::new(21));
            plan.status = PlanStatus::Approved;
            plan.received_at = Some(at_noon(adopted + Days::new(3)));
            plan.decision = Some(Decision {
                plan: plan.id.clone(),
                hash,
                outcome: Outcome::Approve,
                reasons: Vec::new(),
                decided_by: approver.to_string(),
                decided_at,
            });
        }
        None => plan.status = PlanStatus::Adopted,
    }
    plan
}

fn at_noon(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(3, 0, 0).expect("valid time"))
}

/// One generated plan and what went into it.
struct Made {
    plan: Plan,
    /// Persons with a committee entry, for the paired term's key posts (R5).
    committee_persons: Vec<Cadre>,
    breaks: usize,
}

/// Holds the random source and the catalogue, and numbers persons so that every national ID is
/// unique.
struct Maker<'a> {
    rng: StdRng,
    catalog: &'a Catalog,
    key_posts: Vec<String>,
    break_share: f64,
    next_person: u64,
}

/// Positions of one level, most senior first.
struct LevelPositions<'a> {
    key: Vec<&'a Position>,
    other: Vec<&'a Position>,
    standing: Option<&'a Position>,
    committee: Option<&'a Position>,
    all: Vec<&'a Position>,
}

impl<'a> Maker<'a> {
    fn new(catalog: &'a Catalog, seed: u64, break_share: f64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            catalog,
            key_posts: quyhoach::rules::RuleParams::default().key_posts,
            break_share,
            next_person: 0,
        }
    }

    fn positions(&self, level: Level) -> LevelPositions<'a> {
        let mut all: Vec<&Position> = self
            .catalog
            .positions
            .values()
            .filter(|p| p.level == level)
            .collect();
        all.sort_by(|a, b| b.grade.cmp(&a.grade).then_with(|| a.code.cmp(&b.code)));
        let committees: Vec<&Position> = all
            .iter()
            .copied()
            .filter(|p| p.kind == PositionKind::Committee)
            .collect();
        LevelPositions {
            key: all
                .iter()
                .copied()
                .filter(|p| self.key_posts.contains(&p.code))
                .collect(),
            other: all
                .iter()
                .copied()
                .filter(|p| p.kind == PositionKind::Leadership && !self.key_posts.contains(&p.code))
                .collect(),
            standing: committees.first().copied(),
            committee: committees.last().copied(),
            all,
        }
    }

    /// A plan of `n` entries for `unit` and `term`. With `pool`, key posts go to those persons
    /// (the committee members of the paired party term), as R5 expects.
    fn plan(&mut self, unit: &Unit, term: &str, n: usize, pool: Option<&[Cadre]>) -> Made {
        let term_info = self.catalog.term(term).cloned();
        let (start, reference) = term_info
            .as_ref()
            .map(|t| (t.start, t.age_reference_date))
            .unwrap_or_else(|| {
                let d = NaiveDate::from_ymd_opt(2025, 10, 1).expect("valid date");
                (d, d)
            });
        let lp = self.positions(unit.level);
        // Who is planned for what: persons with their positions, added whole until n is reached.
        let mut people: Vec<(Cadre, Vec<&Position>)> = Vec::new();
        let mut count = 0;
        let mut pool: Vec<Cadre> = pool.map(<[Cadre]>::to_vec).unwrap_or_default();
        pool.shuffle(&mut self.rng);
        let standing = lp.standing;
        let committee = lp.committee;
        for key in &lp.key {
            for _ in 0..self.rng.random_range(2..=3) {
                let mut wants = vec![*key];
                wants.extend(standing);
                if count + wants.len() > n {
                    break;
                }
                let cadre = match pool.pop() {
                    Some(c) => c,
                    None => self.person(unit, reference, &wants),
                };
                count += wants.len();
                people.push((cadre, wants));
            }
        }
        for pos in &lp.other {
            for _ in 0..self.rng.random_range(1..=3) {
                let mut wants = vec![*pos];
                if self.rng.random_bool(0.5) {
                    wants.extend(committee);
                }
                if count + wants.len() > n {
                    break;
                }
                let cadre = self.person(unit, reference, &wants);
                count += wants.len();
                people.push((cadre, wants));
            }
        }
        let fill: Vec<&Position> = match (standing, committee) {
            (Some(s), Some(c)) => vec![s, c, c, c, c, c],
            (Some(p), None) | (None, Some(p)) => vec![p],
            (None, None) => lp.all.clone(),
        };
        while count < n && !fill.is_empty() {
            let pos = fill[self.rng.random_range(0..fill.len())];
            let cadre = self.person(unit, reference, &[pos]);
            count += 1;
            people.push((cadre, vec![pos]));
        }

        // Deliberate breaks: R1 (holds a post at least as senior), R6 (too close to
        // retirement) or R19 (too few votes for one entry).
        let mut breaks = 0;
        let mut under_voted: Vec<(String, String)> = Vec::new();
        for (cadre, wants) in &mut people {
            if !self.rng.random_bool(self.break_share) {
                continue;
            }
            breaks += 1;
            match self.rng.random_range(0..3) {
                0 => cadre.current_positions = vec![wants[0].code.as_str().into()],
                1 => {
                    let months = if cadre.gender == Gender::Male {
                        744
                    } else {
                        720
                    };
                    let birth = reference - chrono::Months::new(months - 30);
                    cadre.birth_date = birth;
                    cadre.national_id =
                        national_id(cadre.gender, birth.year(), self.next_person).into();
                    self.next_person += 1;
                }
                _ => under_voted.push((cadre.national_id.to_string(), wants[0].code.clone())),
            }
        }

        let entries: Vec<Entry> = people
            .iter()
            .flat_map(|(cadre, wants)| {
                wants.iter().map(move |p| Entry {
                    cadre: cadre.clone(),
                    position: p.code.as_str().into(),
                    source: EntrySource::Voted,
                    origin: None,
                })
            })
            .collect();
        let committee_persons = people
            .iter()
            .filter(|(_, wants)| wants.iter().any(|p| p.kind == PositionKind::Committee))
            .map(|(c, _)| c.clone())
            .collect();

        // Two rounds: the key cadres' conference on the leadership posts, then the executive
        // committee on every entry (the last round to vote on an entry is the one R19 reads).
        let first_day =
            (start - Days::new(300 - self.rng.random_range(0..30))).min(LATEST_FIRST_VOTE);
        let second_day = first_day + Days::new(self.rng.random_range(7..21));
        let adopted = second_day + Days::new(self.rng.random_range(3..10));
        let leadership: Vec<&Entry> = entries
            .iter()
            .filter(|e| {
                self.catalog
                    .position(&e.position)
                    .is_some_and(|p| p.kind == PositionKind::Leadership)
            })
            .collect();
        let mut rounds = Vec::new();
        let (lo, hi) = conference_size(unit.level);
        if !leadership.is_empty() {
            let tallies: Vec<(String, String)> = leadership
                .iter()
                .map(|e| (e.cadre.national_id.to_string(), e.position.to_string()))
                .collect();
            rounds.push(self.round(Body::KeyCadresConference, first_day, (lo, hi), tallies, &[]));
        }
        let (lo, hi) = committee_size(unit.level);
        let tallies: Vec<(String, String)> = entries
            .iter()
            .map(|e| (e.cadre.national_id.to_string(), e.position.to_string()))
            .collect();
        rounds.push(self.round(
            Body::ExecutiveCommittee,
            second_day,
            (lo, hi),
            tallies,
            &under_voted,
        ));

        let mut plan = Plan::new_draft(
            PlanId {
                unit: unit.code.clone(),
                term: term.to_string(),
                version: 1,
            },
            None,
        );
        plan.entries = entries;
        plan.rounds = rounds;
        plan.sort_entries();
        plan.adopted_on = Some(adopted);
        plan.status = PlanStatus::Adopted;
        plan.hash = Some(plan.content_hash());
        Made {
            plan,
            committee_persons,
            breaks,
        }
    }

    /// A round of `body` with a tally for each (national ID, position); those in `under` get
    /// at most half of the convened members.
    fn round(
        &mut self,
        body: Body,
        date: NaiveDate,
        (lo, hi): (u32, u32),
        tallies: Vec<(String, String)>,
        under: &[(String, String)],
    ) -> BallotRound {
        let convened = self.rng.random_range(lo..=hi);
        let quorum = (convened * 2).div_ceil(3);
        let present = self
            .rng
            .random_range(quorum.max(convened - convened / 8)..=convened);
        let valid = present - self.rng.random_range(0..=present.min(2));
        let pass = convened / 2 + 1;
        let tallies = tallies
            .into_iter()
            .map(|(national_id, position)| {
                let fails = under
                    .iter()
                    .any(|(i, p)| *i == national_id && *p == position);
                let yes = if fails {
                    self.rng.random_range(convened / 4..=convened / 2)
                } else {
                    self.rng.random_range(pass.min(valid)..=valid)
                };
                Tally {
                    national_id: national_id.into(),
                    position: position.into(),
                    yes,
                }
            })
            .collect();
        BallotRound {
            body,
            date,
            convened,
            present,
            ballots_issued: present,
            valid_ballots: valid,
            tallies,
        }
    }

    /// A new person of `unit`, aged for the term and holding a post below those they are
    /// planned for (R1).
    fn person(&mut self, unit: &Unit, reference: NaiveDate, wants: &[&Position]) -> Cadre {
        let gender = if self.rng.random_bool(0.36) {
            Gender::Female
        } else {
            Gender::Male
        };
        // Young enough to have at least twelve years left at the term's reference date (R6).
        let oldest = if gender == Gender::Male { 48 } else { 44 };
        let age = self.rng.random_range(28..=oldest);
        let birth_date =
            reference - chrono::Months::new(age * 12) - Days::new(self.rng.random_range(0..365));
        let lowest = wants.iter().map(|p| p.grade).min().unwrap_or(0);
        let below: Vec<&Position> = self
            .catalog
            .positions
            .values()
            .filter(|p| {
                p.level == unit.level && p.kind == PositionKind::Leadership && p.grade < lowest
            })
            .collect();
        let current_positions = if below.is_empty() || self.rng.random_bool(0.2) {
            Vec::new()
        } else {
            vec![below[self.rng.random_range(0..below.len())].code.clone()]
        };
        let id = national_id(gender, birth_date.year(), self.next_person);
        self.next_person += 1;
        Cadre {
            national_id: id.into(),
            full_name: self.name(gender).into(),
            birth_date,
            gender,
            ethnicity: pick_weighted(&mut self.rng, ETHNICITIES).into(),
            current_positions: current_positions.into_iter().map(Into::into).collect(),
            current_unit: unit.code.as_str().into(),
            qualifications: self.qualifications().into_iter().map(Into::into).collect(),
            discipline: Vec::new(),
            appointment_proposed_on: None,
            retirement_regime: Default::default(),
            science_technology: false,
            ratings: Vec::new(),
        }
    }

    fn name(&mut self, gender: Gender) -> String {
        let family = pick_weighted(&mut self.rng, FAMILY);
        let (middles, givens) = match gender {
            Gender::Male => (MIDDLE_MALE, GIVEN_MALE),
            Gender::Female => (MIDDLE_FEMALE, GIVEN_FEMALE),
        };
        let middle = middles[self.rng.random_range(0..middles.len())];
        let given = givens[self.rng.random_range(0..givens.len())];
        if self.rng.random_bool(0.15) {
            let second = MIDDLE_EXTRA[self.rng.random_range(0..MIDDLE_EXTRA.len())];
            format!("{family} {middle} {second} {given}")
        } else {
            format!("{family} {middle} {given}")
        }
    }

    fn qualifications(&mut self) -> Vec<String> {
        let mut q = vec![DEGREES[self.rng.random_range(0..DEGREES.len())].to_string()];
        q.push(POLITICAL[self.rng.random_range(0..POLITICAL.len())].to_string());
        q
    }
}

/// A 12-digit national ID (số CCCD): birth-province code (040), a digit for century and
/// gender, the year of birth, and a serial that is unique per generated person.
fn national_id(gender: Gender, year: i32, serial: u64) -> String {
    let century = if year >= 2000 { 2 } else { 0 };
    let g = century + u32::from(gender == Gender::Female);
    // A bijection of the serial within 0..1_000_000, so that IDs look scattered.
    let scrambled = (serial % 1_000_000 * 7_919 + 104_729) % 1_000_000;
    format!("040{g}{:02}{scrambled:06}", year.rem_euclid(100))
}

/// Members convened to the key cadres' conference, by level.
fn conference_size(level: Level) -> (u32, u32) {
    match level {
        Level::Commune => (45, 90),
        Level::District => (150, 260),
        Level::Province => (300, 450),
    }
}

/// Members of the executive committee, by level.
fn committee_size(level: Level) -> (u32, u32) {
    match level {
        Level::Commune => (15, 27),
        Level::District => (33, 45),
        Level::Province => (49, 61),
    }
}

fn pick_weighted<'a>(rng: &mut StdRng, table: &[(&'a str, u32)]) -> &'a str {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (item, w) in table {
        if x < *w {
            return item;
        }
        x -= w;
    }
    table[0].0
}

/// Family names (họ) with rough shares per thousand.
const FAMILY: &[(&str, u32)] = &[
    ("Nguyễn", 380),
    ("Trần", 110),
    ("Lê", 95),
    ("Phạm", 70),
    ("Hoàng", 50),
    ("Phan", 45),
    ("Vũ", 39),
    ("Võ", 35),
    ("Đặng", 21),
    ("Bùi", 20),
    ("Đỗ", 14),
    ("Hồ", 13),
    ("Ngô", 13),
    ("Dương", 10),
    ("Lý", 5),
    ("Đinh", 10),
    ("Đào", 8),
    ("Lương", 6),
    ("Trương", 6),
    ("Lô", 4),
    ("Vi", 3),
    ("Quang", 3),
];

const MIDDLE_MALE: &[&str] = &[
    "Văn", "Văn", "Văn", "Hữu", "Đức", "Minh", "Quang", "Công", "Xuân", "Thanh", "Đình", "Ngọc",
    "Trọng", "Bá", "Viết", "Quốc",
];
const MIDDLE_FEMALE: &[&str] = &[
    "Thị", "Thị", "Thị", "Thị", "Thu", "Ngọc", "Thanh", "Thùy", "Kim", "Hồng", "Mai", "Phương",
];
const MIDDLE_EXTRA: &[&str] = &["Anh", "Hoài", "Tuấn", "Bảo", "Khánh", "Diệu"];
const GIVEN_MALE: &[&str] = &[
    "An", "Anh", "Bình", "Cường", "Dũng", "Đạt", "Đức", "Giang", "Hải", "Hiếu", "Hòa", "Hùng",
    "Huy", "Khánh", "Kiên", "Lâm", "Long", "Lực", "Mạnh", "Nam", "Nghĩa", "Phong", "Phúc", "Quân",
    "Quý", "Sơn", "Tài", "Thắng", "Thành", "Thịnh", "Toàn", "Trung", "Tuấn", "Tùng", "Việt",
    "Vinh",
];
const GIVEN_FEMALE: &[&str] = &[
    "Anh", "Ánh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hiền", "Hoa", "Hồng", "Hương",
    "Lan", "Liên", "Linh", "Loan", "Mai", "Minh", "Nga", "Ngọc", "Nhung", "Oanh", "Phương",
    "Quỳnh", "Thảo", "Thủy", "Trang", "Tuyết", "Vân", "Yến",
];
/// Ethnicities (dân tộc) with rough shares per thousand for a province like Nghệ An.
const ETHNICITIES: &[(&str, u32)] = &[
    ("Kinh", 860),
    ("Thái", 70),
    ("Khơ Mú", 25),
    ("Mông", 20),
    ("Tày", 10),
    ("Mường", 10),
    ("Ơ Đu", 5),
];
const DEGREES: &[&str] = &[
    "Cử nhân Luật",
    "Cử nhân Kinh tế",
    "Kỹ sư Nông nghiệp",
    "Thạc sĩ Quản lý công",
    "Cử nhân Hành chính",
    "Thạc sĩ Kinh tế",
];
const POLITICAL: &[&str] = &["Trung cấp lý luận chính trị", "Cao cấp lý luận chính trị"];

/// These run with the library's tests (`cargo test --lib synth::`), which compile this file.
#[cfg(test)]
mod tests {
    use super::*;
    use quyhoach::config;

    // The benchmark's build sets `cfg(test)` but leaves the `#[test]` functions out.
    #[allow(dead_code)]
    fn reference() -> (Hierarchy, Catalog) {
        (
            config::load_units("builtin:2024").unwrap(),
            config::builtin_catalog().unwrap(),
        )
    }

    #[test]
    fn same_seed_same_province_other_seed_other_names() {
        let (h, c) = reference();
        let mut spec = Spec::sized("40", Size::S, 7);
        spec.target_entries = 5_000;
        let a = generate(&h, &c, &spec);
        let b = generate(&h, &c, &spec);
        assert_eq!(a.plans, b.plans);
        spec.seed = 8;
        let other = generate(&h, &c, &spec);
        assert_ne!(a.plans[0].entries, other.plans[0].entries);
    }

    #[test]
    fn sizes_are_hit_within_a_few_percent_with_valid_hashes() {
        let (h, c) = reference();
        for size in [Size::S, Size::M] {
            let g = generate(&h, &c, &Spec::sized("40", size, 1));
            let target = size.target() as f64;
            let off = (g.entries as f64 - target).abs() / target;
            assert!(off < 0.05, "{}: {} entries", size.name(), g.entries);
            assert_eq!(
                g.entries,
                g.plans.iter().map(|p| p.entries.len()).sum::<usize>()
            );
            for p in &g.plans {
                assert_eq!(p.hash.as_deref(), Some(p.content_hash().as_str()));
            }
        }
    }

    #[test]
    fn breaks_are_about_the_share_asked_for_and_the_rest_is_clean() {
        let (h, c) = reference();
        let mut spec = Spec::sized("40", Size::S, 3);
        spec.target_entries = 10_000;
        let g = generate(&h, &c, &spec);
        let rules = quyhoach::rules::RulesFile::default();
        let snapshot = quyhoach::rules::Snapshot {
            plans: &g.plans,
            hierarchy: &h,
            catalog: &c,
            submitted: &[],
            fulfilled: &[],
        };
        let today = NaiveDate::from_ymd_opt(2025, 11, 1).unwrap();
        let report = quyhoach::rules::check(&snapshot, &Default::default(), today, &rules);
        let errors = report
            .findings
            .iter()
            .filter(|f| f.severity == quyhoach::rules::Severity::Error)
            .count();
        assert!(g.breaks > 0, "some breaks are put in");
        // Every error comes from a deliberate break (a break of R1 or R6 in a person listed
        // for two positions is found twice).
        assert!(
            errors <= 3 * g.breaks,
            "{errors} errors for {} breaks",
            g.breaks
        );
        assert!(
            errors >= g.breaks / 2,
            "{errors} errors for {} breaks",
            g.breaks
        );
    }

    #[test]
    fn submitted_plans_have_the_size_asked_for() {
        let (h, c) = reference();
        let unit = h.get("16681").unwrap();
        let plans = submitted_plans(&c, &[(unit, "2025-2030"), (unit, "2026-2031")], 30, 5);
        let p = &plans[0];
        assert_eq!(p.entries.len(), 30);
        assert_ne!(
            p.entries[0].cadre.national_id,
            plans[1].entries[0].cadre.national_id
        );
        assert_eq!(p.status, PlanStatus::Submitted);
        assert_eq!(p.hash.as_deref(), Some(p.content_hash().as_str()));
    }
}
