//! Plans (danh sách quy hoạch) and what they hold: cadres (cán bộ), entries, ballot rounds
//! (vòng bỏ phiếu) and decisions (quyết định phê duyệt / trả lại). Also the canonical encoding
//! whose blake3 hash identifies a submitted version.
//!
//! An entry's strings (national ID, name, ethnicity, unit and position codes) are
//! [`CompactString`]s: one of up to 24 bytes is kept inline, in the 24 bytes a `String` takes,
//! instead of in a heap block of its own. A province node holds every current entry decoded
//! (the view, issue 26), and almost all of these are that short; the serde shape, and so the
//! stored encoding and the content hash, are a `String`'s.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
pub use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::{text, FieldError};

/// Identifies one version of one plan: unit × term × version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PlanId {
    /// Code of the unit whose plan it is.
    pub unit: String,
    /// The term (nhiệm kỳ) the plan is for, e.g. "2025-2030".
    pub term: String,
    /// The version number within the unit and term, from 1.
    pub version: u32,
}

impl fmt::Display for PlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/v{}", self.unit, self.term, self.version)
    }
}

/// A cadre's gender (giới tính), as recorded on the national ID card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    /// Nam.
    Male,
    /// Nữ.
    Female,
}

impl Gender {
    /// The English name, as stored and hashed: `male` or `female`.
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
        }
    }

    /// The Vietnamese name as it reads inside a sentence: `nam` or `nữ`.
    pub fn vi(self) -> &'static str {
        match self {
            Gender::Male => "nam",
            Gender::Female => "nữ",
        }
    }

    /// The Vietnamese name as a list's Giới tính column shows it: `Nam` or `Nữ`.
    pub fn vi_title(self) -> &'static str {
        match self {
            Gender::Male => "Nam",
            Gender::Female => "Nữ",
        }
    }
}

/// Discipline measures (hình thức kỷ luật). The first four in order of severity; demotion and
/// salary-step reduction came later to this list and sit after them (the order is the stored
/// one, not a ranking).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisciplineKind {
    /// Khiển trách.
    Reprimand,
    /// Cảnh cáo.
    Warning,
    /// Cách chức.
    RemovalFromPost,
    /// Khai trừ / buộc thôi việc.
    Expulsion,
    /// Giáng chức: removed for civil servants by Decree 172/2025/NĐ-CP from 1 July 2025.
    Demotion,
    /// Hạ bậc lương: removed by Decree 172/2025/NĐ-CP from 1 July 2025.
    SalaryStepReduction,
}

impl DisciplineKind {
    /// Every kind, in stored order.
    pub const ALL: [DisciplineKind; 6] = [
        Self::Reprimand,
        Self::Warning,
        Self::RemovalFromPost,
        Self::Expulsion,
        Self::Demotion,
        Self::SalaryStepReduction,
    ];

    /// The last day a record of this form may be dated, `None` while the form is in force:
    /// Decree 172/2025/NĐ-CP removed demotion and salary-step reduction from 1 July 2025.
    pub fn valid_until(self) -> Option<NaiveDate> {
        match self {
            Self::Demotion | Self::SalaryStepReduction => NaiveDate::from_ymd_opt(2025, 6, 30),
            _ => None,
        }
    }

    /// The English name, as stored and in files: e.g. `reprimand`, `salary_step_reduction`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reprimand => "reprimand",
            Self::Warning => "warning",
            Self::RemovalFromPost => "removal_from_post",
            Self::Expulsion => "expulsion",
            Self::Demotion => "demotion",
            Self::SalaryStepReduction => "salary_step_reduction",
        }
    }

    /// The Vietnamese name: e.g. `khiển trách`.
    pub fn vi(self) -> &'static str {
        match self {
            Self::Reprimand => "khiển trách",
            Self::Warning => "cảnh cáo",
            Self::RemovalFromPost => "cách chức",
            Self::Expulsion => "khai trừ",
            Self::Demotion => "giáng chức",
            Self::SalaryStepReduction => "hạ bậc lương",
        }
    }

    /// Reads a kind by its English or Vietnamese name (case and diacritics as written).
    pub fn parse(s: &str) -> Option<Self> {
        let t = super::text::nfc(s.trim()).to_lowercase();
        Self::ALL
            .into_iter()
            .find(|k| t == k.as_str() || t == k.vi() || t == k.as_str().replace('_', " "))
    }
}

/// One disciplinary decision in a cadre's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discipline {
    /// The measure taken.
    pub kind: DisciplineKind,
    /// Date of the disciplinary decision; QĐ 50/QĐ 80 time-bars (R14) run from it.
    pub decided_on: NaiveDate,
    /// Date the decision was announced (ngày công bố); QĐ 377's bar on a reprimand or warning
    /// runs 12 months from it (Quy định 69-QĐ/TW, art. 2(5)). `None`: not recorded.
    #[serde(default)]
    pub announced_on: Option<NaiveDate>,
    /// True if and only if the cadre has a complaint (khiếu nại) about the decision pending;
    /// QĐ 377's relief after 12 months needs none.
    #[serde(default)]
    pub complaint_pending: bool,
    /// Date of a later violation (vi phạm mới) that supersedes the relief, if any; QĐ 377's
    /// relief after 12 months needs none in that time.
    #[serde(default)]
    pub new_violation_on: Option<NaiveDate>,
}

impl Discipline {
    /// A record of `kind` decided on `decided_on`, with nothing else recorded.
    pub fn new(kind: DisciplineKind, decided_on: NaiveDate) -> Self {
        Self {
            kind,
            decided_on,
            announced_on: None,
            complaint_pending: false,
            new_violation_on: None,
        }
    }

    /// Checks a record against the calendar and the forms in force on its date.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] on the offending sub-field of `field` if a date is after `today`, the
    /// announcement or the later violation comes before the decision, or the form was removed
    /// before the decision's date (Decree 172/2025: demotion and salary-step reduction from
    /// 1 July 2025).
    pub fn validate(&self, field: &str, today: NaiveDate) -> Result<(), FieldError> {
        let f = |name: &str| format!("{field}.{name}");
        for (name, date) in [
            ("decided_on", Some(self.decided_on)),
            ("announced_on", self.announced_on),
            ("new_violation_on", self.new_violation_on),
        ] {
            if let Some(d) = date.filter(|d| *d > today) {
                return Err(FieldError::new(f(name), format!("{d} is in the future")));
            }
        }
        if let Some(until) = self.kind.valid_until() {
            if self.decided_on > until {
                return Err(FieldError::new(
                    f("kind"),
                    format!(
                        "{} ({}) is no longer a discipline form after {until} (Decree 172/2025/NĐ-CP); a record dated {} cannot use it",
                        self.kind.vi(),
                        self.kind.as_str(),
                        self.decided_on
                    ),
                ));
            }
        }
        for (name, date) in [
            ("announced_on", self.announced_on),
            ("new_violation_on", self.new_violation_on),
        ] {
            if let Some(d) = date.filter(|d| *d < self.decided_on) {
                return Err(FieldError::new(
                    f(name),
                    format!("{d} is before the decision of {}", self.decided_on),
                ));
            }
        }
        Ok(())
    }
}

/// Which retirement schedule applies to a person (R7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetirementRegime {
    /// The Labour Code 2019 and Decree 135/2020 schedule, by gender.
    #[default]
    General,
    /// A woman allowed to retire at 60 (the rules' `female_60_months`).
    Female60,
    /// The People's Public Security Law's ages: the province's `retirement_police` table.
    Police,
    /// The People's Army officers' ages: the province's `retirement_military` table.
    Military,
}

impl RetirementRegime {
    /// Every regime.
    pub const ALL: [RetirementRegime; 4] =
        [Self::General, Self::Female60, Self::Police, Self::Military];

    /// The English name, as stored and in files: `general`, `female_60`, `police`, `military`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::General => "general",
            Self::Female60 => "female_60",
            Self::Police => "police",
            Self::Military => "military",
        }
    }

    /// The Vietnamese name as a list's column shows it.
    pub fn vi(self) -> &'static str {
        match self {
            Self::General => "chung",
            Self::Female60 => "nữ 60",
            Self::Police => "công an",
            Self::Military => "quân đội",
        }
    }

    /// Reads a regime by its English or Vietnamese name; empty is `general`.
    pub fn parse(s: &str) -> Option<Self> {
        let t = super::text::nfc(s.trim()).to_lowercase();
        if t.is_empty() {
            return Some(Self::General);
        }
        Self::ALL
            .into_iter()
            .find(|r| t == r.as_str() || t == r.vi())
    }
}

/// A yearly rating of a cadre (xếp loại chất lượng hằng năm, Quy định 366-QĐ/TW).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RatingLevel {
    /// Hoàn thành xuất sắc nhiệm vụ.
    Excellent,
    /// Hoàn thành tốt nhiệm vụ.
    Good,
    /// Hoàn thành nhiệm vụ.
    Completed,
    /// Không hoàn thành nhiệm vụ (R26).
    NotCompleted,
}

impl RatingLevel {
    /// Every level, best first.
    pub const ALL: [RatingLevel; 4] = [
        Self::Excellent,
        Self::Good,
        Self::Completed,
        Self::NotCompleted,
    ];

    /// The English name, as stored and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Excellent => "excellent",
            Self::Good => "good",
            Self::Completed => "completed",
            Self::NotCompleted => "not_completed",
        }
    }

    /// The Vietnamese name.
    pub fn vi(self) -> &'static str {
        match self {
            Self::Excellent => "hoàn thành xuất sắc nhiệm vụ",
            Self::Good => "hoàn thành tốt nhiệm vụ",
            Self::Completed => "hoàn thành nhiệm vụ",
            Self::NotCompleted => "không hoàn thành nhiệm vụ",
        }
    }

    /// Reads a level by its English or Vietnamese name.
    pub fn parse(s: &str) -> Option<Self> {
        let t = super::text::nfc(s.trim()).to_lowercase();
        Self::ALL
            .into_iter()
            .find(|r| t == r.as_str() || t == r.vi())
    }
}

/// One yearly rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rating {
    /// The year rated.
    pub year: i32,
    /// The rating.
    pub level: RatingLevel,
}

/// A person as a plan records them. The national ID is personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cadre {
    /// Số CCCD: exactly 12 digits.
    pub national_id: CompactString,
    /// Full name, NFC, family name first.
    pub full_name: CompactString,
    /// Date of birth, as on the national ID card.
    pub birth_date: NaiveDate,
    /// Gender, as on the national ID card.
    pub gender: Gender,
    /// Dân tộc, e.g. "Kinh", "Thái".
    pub ethnicity: CompactString,
    /// Codes of the positions the person holds now (R1 compares against the highest).
    pub current_positions: Vec<CompactString>,
    /// The unit the person works in now.
    pub current_unit: CompactString,
    /// Qualifications (trình độ), free text.
    pub qualifications: Vec<CompactString>,
    /// Disciplinary history (R12, R14).
    pub discipline: Vec<Discipline>,
    /// Date of an open proposal to appoint or nominate this person, if any (R4).
    pub appointment_proposed_on: Option<NaiveDate>,
    /// The retirement schedule that applies (R7); `general` unless the record says otherwise.
    #[serde(default)]
    pub retirement_regime: RetirementRegime,
    /// True if and only if the person counts as a science-and-technology cadre (R8 under
    /// QĐ 377).
    #[serde(default)]
    pub science_technology: bool,
    /// Yearly ratings (R26), one per year.
    #[serde(default)]
    pub ratings: Vec<Rating>,
}

/// How an entry got into the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntrySource {
    /// Put there by this unit's ballot rounds.
    Voted,
    /// Added by the approving authority without a new vote (R15).
    AddedByAuthority,
}

/// Where an entry of a new unit's plan was drawn from: an entry of an approved plan of an old
/// unit that the reorganisation mapping says the new unit absorbed (`draft --from-sources`,
/// issue 22; `docs/reorganisation.md`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntryOrigin {
    /// The source plan version: the old unit, the term and the approved version.
    pub plan: PlanId,
    /// The entry's position in that version's list, from 1 (the order the version stores and
    /// `plan` prints).
    pub position: u32,
}

impl fmt::Display for EntryOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} #{}", self.plan, self.position)
    }
}

/// One line of a plan: a cadre planned for a position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The person planned.
    pub cadre: Cadre,
    /// Code of the planned position (chức danh quy hoạch).
    pub position: CompactString,
    /// How the entry got into the list.
    pub source: EntrySource,
    /// The approved entry of an old unit's plan it was drawn from, if any. Not part of the
    /// serde shape: the store keeps it as a trailer of the plan's body (`store::codec`), so
    /// that the encoding of every plan without provenance stays what it was. Boxed: almost no
    /// entry has one, and inline it added about 64 bytes to every entry the view holds
    /// (~21 MiB at the benchmark's L, 399,680 entries; issue 26); boxed it is 8.
    #[serde(skip)]
    pub origin: Option<Box<EntryOrigin>>,
}

impl Entry {
    /// The key that makes an entry unique within a plan.
    pub fn key(&self) -> (&str, &str) {
        (&self.position, &self.cadre.national_id)
    }
}

/// The body that votes in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// Hội nghị cán bộ chủ chốt.
    KeyCadresConference,
    /// Ban Chấp hành.
    ExecutiveCommittee,
    /// Ban Thường vụ.
    StandingCommittee,
}

/// Yes votes for one nominee for one position in a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// The nominee's national ID number.
    pub national_id: CompactString,
    /// Code of the position voted on.
    pub position: CompactString,
    /// How many valid ballots said yes.
    pub yes: u32,
}

/// A secret-ballot round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BallotRound {
    /// The body that voted.
    pub body: Body,
    /// The day of the vote.
    pub date: NaiveDate,
    /// Members convened (triệu tập).
    pub convened: u32,
    /// Members present.
    pub present: u32,
    /// Ballots issued.
    pub ballots_issued: u32,
    /// Valid ballots.
    pub valid_ballots: u32,
    /// Yes votes per nominee and position.
    pub tallies: Vec<Tally>,
}

/// Where a plan version stands, as the node that holds it sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// Being edited by its unit.
    Draft,
    /// Adopted by the unit's standing committee; frozen, hash fixed.
    Adopted,
    /// Handed to the approving level (queued or delivered).
    Submitted,
    /// Held by the approving level, awaiting its decision.
    Received,
    /// Approved by the approving level (phê duyệt).
    Approved,
    /// Returned by the approving level, with reasons, for revision.
    Returned,
}

impl PlanStatus {
    /// The English name, as stored and shown in listings: e.g. `draft`, `approved`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Adopted => "adopted",
            Self::Submitted => "submitted",
            Self::Received => "received",
            Self::Approved => "approved",
            Self::Returned => "returned",
        }
    }

    /// The Vietnamese name as the office's lists and the web page show it: e.g. `Dự thảo`,
    /// `Đã phê duyệt`.
    pub fn vi_title(self) -> &'static str {
        match self {
            Self::Draft => "Dự thảo",
            Self::Adopted => "Đã thông qua",
            Self::Submitted => "Đã gửi",
            Self::Received => "Chờ phê duyệt",
            Self::Approved => "Đã phê duyệt",
            Self::Returned => "Bị trả lại",
        }
    }
}

/// What an approving level decides on a plan version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Approve the version.
    Approve,
    /// Return it to its unit, with reasons.
    Return,
}

/// The approving level's decision on one plan version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The version decided on.
    pub plan: PlanId,
    /// The hash of the version decided on, so a decision can never apply to other content.
    pub hash: String,
    /// Approve or return.
    pub outcome: Outcome,
    /// Reasons (required for a return).
    pub reasons: Vec<String>,
    /// The approving unit.
    pub decided_by: String,
    /// When the decision was made.
    pub decided_at: DateTime<Utc>,
}

/// One version of a plan with everything it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The plan's identity: unit, term and version.
    pub id: PlanId,
    /// The version this one revises, if any.
    pub base_version: Option<u32>,
    /// Its workflow status on this node.
    pub status: PlanStatus,
    /// The cadres planned, one line per position and person.
    pub entries: Vec<Entry>,
    /// The ballot rounds that voted the list.
    pub rounds: Vec<BallotRound>,
    /// Content hash (hex blake3 of [`canonical_bytes`]); set when the plan is adopted.
    pub hash: Option<String>,
    /// The day the unit adopted it, once it has.
    pub adopted_on: Option<NaiveDate>,
    /// When this node received it (approving and upper levels).
    pub received_at: Option<DateTime<Utc>>,
    /// The decision on this version, once made.
    pub decision: Option<Decision>,
}

impl Plan {
    /// This version without its entries and rounds: what the rules read of a plan that lists
    /// none of the persons they are asked about (its existence, status, term and decision).
    pub fn header_only(&self) -> Plan {
        Plan {
            id: self.id.clone(),
            base_version: self.base_version,
            status: self.status,
            entries: Vec::new(),
            rounds: Vec::new(),
            hash: self.hash.clone(),
            adopted_on: self.adopted_on,
            received_at: self.received_at,
            decision: self.decision.clone(),
        }
    }

    /// A new, empty draft of `id`, revising `base_version` if given.
    pub fn new_draft(id: PlanId, base_version: Option<u32>) -> Self {
        Self {
            id,
            base_version,
            status: PlanStatus::Draft,
            entries: Vec::new(),
            rounds: Vec::new(),
            hash: None,
            adopted_on: None,
            received_at: None,
            decision: None,
        }
    }

    /// Computes the content hash of this version.
    pub fn content_hash(&self) -> String {
        blake3::hash(&canonical_bytes(self)).to_hex().to_string()
    }

    /// Puts entries in their canonical order (position, then national ID).
    pub fn sort_entries(&mut self) {
        self.entries.sort_by(|a, b| a.key().cmp(&b.key()));
    }

    /// The entries that list the person with `national_id` (one a position planned).
    pub fn entries_of<'p, 'n>(
        &'p self,
        national_id: &'n str,
    ) -> impl Iterator<Item = &'p Entry> + use<'p, 'n> {
        self.entries
            .iter()
            .filter(move |e| e.cadre.national_id == national_id)
    }

    /// The yes votes of the last round that voted on (person, position), with the round.
    pub fn votes_for(&self, national_id: &str, position: &str) -> Option<(&BallotRound, u32)> {
        self.rounds.iter().rev().find_map(|round| {
            round
                .tallies
                .iter()
                .find(|t| t.national_id == national_id && t.position == position)
                .map(|t| (round, t.yes))
        })
    }
}

/// The canonical encoding of a plan's content: a tagged, length-prefixed byte string over the
/// identity, the base version, the entries in canonical order and the rounds in recorded
/// order. Status, timestamps and decisions are not content.
pub fn canonical_bytes(plan: &Plan) -> Vec<u8> {
    struct W(Vec<u8>);
    impl W {
        fn s(&mut self, s: &str) {
            self.0.extend_from_slice(&(s.len() as u32).to_be_bytes());
            self.0.extend_from_slice(s.as_bytes());
        }
        fn n(&mut self, n: u64) {
            self.0.extend_from_slice(&n.to_be_bytes());
        }
        fn d(&mut self, d: Option<NaiveDate>) {
            match d.and_then(iso_date) {
                Some(text) => self.s(std::str::from_utf8(&text).unwrap_or_default()),
                None => self.s(&d.map(|d| d.to_string()).unwrap_or_default()),
            }
        }
    }
    let mut w = W(Vec::with_capacity(256 + plan.entries.len() * 160));
    w.s("quyhoach.plan.v1");
    w.s(&plan.id.unit);
    w.s(&plan.id.term);
    w.n(plan.id.version.into());
    w.n(plan.base_version.map_or(0, u64::from));
    let mut entries: Vec<&Entry> = plan.entries.iter().collect();
    entries.sort_by(|a, b| a.key().cmp(&b.key()));
    w.n(entries.len() as u64);
    for e in entries {
        let c = &e.cadre;
        w.s(&e.position);
        w.s(match e.source {
            EntrySource::Voted => "voted",
            EntrySource::AddedByAuthority => "added_by_authority",
        });
        w.s(&c.national_id);
        w.s(&c.full_name);
        w.d(Some(c.birth_date));
        w.s(c.gender.as_str());
        w.s(&c.ethnicity);
        w.n(c.current_positions.len() as u64);
        for p in &c.current_positions {
            w.s(p);
        }
        w.s(&c.current_unit);
        w.n(c.qualifications.len() as u64);
        for q in &c.qualifications {
            w.s(q);
        }
        w.n(c.discipline.len() as u64);
        for d in &c.discipline {
            w.n(d.kind as u64);
            w.d(Some(d.decided_on));
        }
        w.d(c.appointment_proposed_on);
    }
    w.n(plan.rounds.len() as u64);
    for r in &plan.rounds {
        w.n(r.body as u64);
        w.d(Some(r.date));
        for n in [r.convened, r.present, r.ballots_issued, r.valid_ballots] {
            w.n(n.into());
        }
        w.n(r.tallies.len() as u64);
        for t in &r.tallies {
            w.s(&t.national_id);
            w.s(&t.position);
            w.n(t.yes.into());
        }
    }
    // The attributes added in 2025 (R7 regimes, R8, R14 under QĐ 377, R26) follow as a trailer,
    // only when some entry has one, so that the hash of every earlier plan stays what it was.
    let extended = |c: &Cadre| {
        c.retirement_regime != RetirementRegime::General
            || c.science_technology
            || !c.ratings.is_empty()
            || c.discipline.iter().any(|d| {
                d.announced_on.is_some() || d.complaint_pending || d.new_violation_on.is_some()
            })
    };
    let mut entries: Vec<&Entry> = plan.entries.iter().collect();
    entries.sort_by(|a, b| a.key().cmp(&b.key()));
    if entries.iter().any(|e| extended(&e.cadre)) {
        let entries = entries.clone();
        w.s("quyhoach.plan.v2-attributes");
        for e in entries {
            let c = &e.cadre;
            w.s(c.retirement_regime.as_str());
            w.n(u64::from(c.science_technology));
            w.n(c.ratings.len() as u64);
            for r in &c.ratings {
                w.n(u64::from(r.year.unsigned_abs()));
                w.s(r.level.as_str());
            }
            w.n(c.discipline.len() as u64);
            for d in &c.discipline {
                w.d(d.announced_on);
                w.n(u64::from(d.complaint_pending));
                w.d(d.new_violation_on);
            }
        }
    }
    // Provenance (issue 22) follows as its own trailer, only when some entry was drawn from a
    // source, for the same reason: it is content (what was approved came from there).
    if entries.iter().any(|e| e.origin.is_some()) {
        w.s("quyhoach.plan.v3-origins");
        for e in entries {
            match &e.origin {
                Some(o) => {
                    w.n(1);
                    w.s(&o.plan.unit);
                    w.s(&o.plan.term);
                    w.n(o.plan.version.into());
                    w.n(o.position.into());
                }
                None => w.n(0),
            }
        }
    }
    w.0
}

/// A date as its `Display` writes it (`2025-07-01`) for the years 0 to 9999, without
/// allocating; `None` for other years.
fn iso_date(d: NaiveDate) -> Option<[u8; 10]> {
    let year = u32::try_from(d.year()).ok().filter(|y| *y <= 9999)?;
    let digit = |n: u32| b'0' + u8::try_from(n % 10).unwrap_or(0);
    let (m, day) = (d.month(), d.day());
    Some([
        digit(year / 1000),
        digit(year / 100),
        digit(year / 10),
        digit(year),
        b'-',
        digit(m / 10),
        digit(m),
        b'-',
        digit(day / 10),
        digit(day),
    ])
}

/// Longest accepted name, ethnicity or qualification, in characters.
pub const MAX_TEXT: usize = 200;

/// Checks a national ID number: exactly 12 ASCII digits.
///
/// # Errors
///
/// A [`FieldError`] on `field` unless `id` is exactly 12 ASCII digits.
pub fn validate_national_id(field: &str, id: &str) -> Result<(), FieldError> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "a national ID (số CCCD) is exactly 12 digits; got {} characters",
                id.chars().count()
            ),
        ))
    }
}

/// Normalizes and checks a free-text field that must not be empty.
///
/// # Errors
///
/// As [`clean_text_max`] with a limit of [`MAX_TEXT`] characters.
pub fn clean_text(field: &str, value: &str) -> Result<String, FieldError> {
    clean_text_max(field, value, MAX_TEXT)
}

/// Longest accepted reason or justification, in characters.
pub const MAX_PROSE: usize = 2_000;

/// Like [`clean_text`] with a limit of `max` characters (for reasons and justifications).
///
/// # Errors
///
/// A [`FieldError`] on `field` if the normalized text is empty, longer than `max`
/// characters, or contains control or bidirectional control characters.
pub fn clean_text_max(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    let v = text::nfc(value);
    text_within(field, &v, max)?;
    Ok(v)
}

/// Checks text as it stands, normalized or not: not empty, at most `max` characters, no
/// control or bidirectional control characters. A fresh write checks it once normalized
/// ([`clean_text_max`]); a stored value, which must already be, as it comes
/// (`validate::stored_text`).
///
/// # Errors
///
/// A [`FieldError`] naming `field` when any of these fails.
pub(super) fn text_within(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("longer than {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(field, "contains control characters"));
    }
    if value.chars().any(text::is_bidi_control) {
        return Err(FieldError::new(
            field,
            "contains bidirectional control characters",
        ));
    }
    Ok(())
}

impl Cadre {
    /// Normalizes names to NFC and checks every field that needs no reference data.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] on the offending sub-field of `field` if the national ID is not 12
    /// digits, the name, ethnicity or a qualification is empty, too long or holds control
    /// characters (or the name is not a valid name), the birth date gives an age outside
    /// 18..100 on `today`, or a disciplinary decision is dated after `today`.
    pub fn validate(mut self, field: &str, today: NaiveDate) -> Result<Self, FieldError> {
        validate_national_id(&format!("{field}.national_id"), &self.national_id)?;
        let name_field = format!("{field}.full_name");
        self.full_name = clean_text(
            &name_field,
            &super::name::display(&name_field, &self.full_name)?,
        )?
        .into();
        self.ethnicity = clean_text(&format!("{field}.ethnicity"), &self.ethnicity)?.into();
        let age_years = today.years_since(self.birth_date);
        if !matches!(age_years, Some(18..=100)) {
            return Err(FieldError::new(
                format!("{field}.birth_date"),
                format!(
                    "{} gives an age outside 18..100 on {today}",
                    self.birth_date
                ),
            ));
        }
        for (i, q) in self.qualifications.iter_mut().enumerate() {
            *q = clean_text(&format!("{field}.qualifications[{i}]"), q)?.into();
        }
        for (i, d) in self.discipline.iter().enumerate() {
            d.validate(&format!("{field}.discipline[{i}]"), today)?;
        }
        self.validate_regime_and_ratings(field, today)?;
        Ok(self)
    }

    /// Checks the retirement regime against the gender and the ratings against the calendar.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] on `field.retirement_regime` for the `female_60` regime on a man, or on
    /// `field.ratings[i]` for a year after `today`'s or rated twice.
    pub fn validate_regime_and_ratings(
        &self,
        field: &str,
        today: NaiveDate,
    ) -> Result<(), FieldError> {
        if self.retirement_regime == RetirementRegime::Female60 && self.gender != Gender::Female {
            return Err(FieldError::new(
                format!("{field}.retirement_regime"),
                "female_60 (nữ 60) is a regime for women only",
            ));
        }
        for (i, r) in self.ratings.iter().enumerate() {
            if r.year > today.year() || r.year < 1900 {
                return Err(FieldError::new(
                    format!("{field}.ratings[{i}].year"),
                    format!("{} is not a year rated by {today}", r.year),
                ));
            }
            if self.ratings[..i].iter().any(|o| o.year == r.year) {
                return Err(FieldError::new(
                    format!("{field}.ratings[{i}].year"),
                    format!("{} is rated twice", r.year),
                ));
            }
        }
        Ok(())
    }
}

impl BallotRound {
    /// Checks that the counts add up: present ≤ convened, issued ≤ present, valid ≤ issued, and
    /// every yes count ≤ valid ballots. The quorum (R19) is a rule, checked by the caller.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] on the offending count of `field` if nobody was convened, or a count
    /// exceeds the one it is bounded by.
    pub fn validate_counts(&self, field: &str) -> Result<(), FieldError> {
        let f = |name: &str| format!("{field}.{name}");
        if self.convened == 0 {
            return Err(FieldError::new(f("convened"), "must be at least 1"));
        }
        // Each count is bounded by the one before it: convened ≥ present ≥ issued ≥ valid.
        let chain = [
            (
                "present",
                self.present,
                "present",
                self.convened,
                "convened",
            ),
            (
                "ballots_issued",
                self.ballots_issued,
                "ballots issued",
                self.present,
                "present",
            ),
            (
                "valid_ballots",
                self.valid_ballots,
                "valid ballots",
                self.ballots_issued,
                "issued",
            ),
        ];
        for (name, count, what, bound, of) in chain {
            if count > bound {
                return Err(FieldError::new(
                    f(name),
                    format!("{count} {what} is more than the {bound} {of}"),
                ));
            }
        }
        if self.tallies.is_empty() {
            return Err(FieldError::new(
                f("tallies"),
                "a round records at least one nominee",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, t) in self.tallies.iter().enumerate() {
            validate_national_id(&format!("{field}.tallies[{i}].national_id"), &t.national_id)?;
            if t.yes > self.valid_ballots {
                return Err(FieldError::new(
                    format!("{field}.tallies[{i}].yes"),
                    format!(
                        "{} yes votes is more than the {} valid ballots",
                        t.yes, self.valid_ballots
                    ),
                ));
            }
            if !seen.insert((&t.national_id, &t.position)) {
                return Err(FieldError::new(
                    format!("{field}.tallies[{i}]"),
                    "the same nominee and position appear twice in one round",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash's bytes of a date are what `Display` writes, so hashes stay what they were.
    #[test]
    fn iso_dates_are_written_as_display_writes_them() {
        let mut day = NaiveDate::from_ymd_opt(0, 1, 1).unwrap();
        let last = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
        while day < last {
            let text = iso_date(day).unwrap();
            assert_eq!(std::str::from_utf8(&text).unwrap(), day.to_string());
            day += chrono::TimeDelta::days(997);
        }
        for d in [last, NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()] {
            assert_eq!(
                std::str::from_utf8(&iso_date(d).unwrap()).unwrap(),
                d.to_string()
            );
        }
        assert_eq!(iso_date(NaiveDate::from_ymd_opt(-1, 1, 1).unwrap()), None);
        assert_eq!(
            iso_date(NaiveDate::from_ymd_opt(10000, 1, 1).unwrap()),
            None
        );
    }

    pub(crate) fn cadre(id: &str, name: &str) -> Cadre {
        Cadre {
            national_id: id.into(),
            full_name: name.into(),
            birth_date: NaiveDate::from_ymd_opt(1980, 5, 17).unwrap(),
            gender: Gender::Female,
            ethnicity: "Kinh".into(),
            current_positions: vec!["C.PCT.UBND".into()],
            current_unit: "16681".into(),
            qualifications: vec![],
            discipline: vec![],
            appointment_proposed_on: None,
            retirement_regime: RetirementRegime::General,
            science_technology: false,
            ratings: vec![],
        }
    }

    fn plan_with(entries: Vec<Entry>) -> Plan {
        let mut p = Plan::new_draft(
            PlanId {
                unit: "16681".into(),
                term: "2025-2030".into(),
                version: 1,
            },
            None,
        );
        p.entries = entries;
        p
    }

    fn entry(id: &str, pos: &str) -> Entry {
        Entry {
            cadre: cadre(id, "Nguyễn Thị Hoa"),
            position: pos.into(),
            source: EntrySource::Voted,
            origin: None,
        }
    }

    #[test]
    fn hash_ignores_entry_order_and_status_but_not_content() {
        let a = plan_with(vec![
            entry("001080000001", "C.BT"),
            entry("001080000002", "C.BT"),
        ]);
        let mut b = plan_with(vec![
            entry("001080000002", "C.BT"),
            entry("001080000001", "C.BT"),
        ]);
        b.status = PlanStatus::Approved;
        assert_eq!(a.content_hash(), b.content_hash());
        b.entries[0].cadre.full_name = "Nguyễn Thị Hòa".into();
        assert_ne!(a.content_hash(), b.content_hash());
        let mut c = a.clone();
        c.id.version = 2;
        assert_ne!(a.content_hash(), c.content_hash());
    }

    #[test]
    fn decree_172_forms_are_refused_from_1_july_2025() {
        let today = NaiveDate::from_ymd_opt(2025, 11, 1).unwrap();
        let on = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        for kind in [
            DisciplineKind::Demotion,
            DisciplineKind::SalaryStepReduction,
        ] {
            assert!(Discipline::new(kind, on(2025, 6, 30))
                .validate("d", today)
                .is_ok());
            let e = Discipline::new(kind, on(2025, 7, 1))
                .validate("cadre.discipline[0]", today)
                .unwrap_err();
            assert_eq!(e.field, "cadre.discipline[0].kind");
            assert!(e.problem.contains("Decree 172/2025"), "{e}");
        }
        assert!(Discipline::new(DisciplineKind::Warning, on(2025, 7, 1))
            .validate("d", today)
            .is_ok());
        let mut d = Discipline::new(DisciplineKind::Warning, on(2025, 7, 1));
        d.announced_on = Some(on(2025, 6, 30));
        assert_eq!(d.validate("d", today).unwrap_err().field, "d.announced_on");
        d.announced_on = Some(on(2025, 11, 2));
        assert_eq!(d.validate("d", today).unwrap_err().field, "d.announced_on");
        // A cadre record: the same check, and female_60 only for women.
        let mut c = cadre("001080000001", "Nguyễn Thị Hoa");
        c.discipline
            .push(Discipline::new(DisciplineKind::Demotion, on(2025, 7, 1)));
        assert_eq!(
            c.clone().validate("entry.cadre", today).unwrap_err().field,
            "entry.cadre.discipline[0].kind"
        );
        c.discipline.clear();
        c.gender = Gender::Male;
        c.retirement_regime = RetirementRegime::Female60;
        assert_eq!(
            c.validate("entry.cadre", today).unwrap_err().field,
            "entry.cadre.retirement_regime"
        );
    }

    #[test]
    fn the_2025_attributes_leave_earlier_hashes_alone_and_change_hashes_when_set() {
        let a = plan_with(vec![entry("001080000001", "C.BT")]);
        // A plan without them is encoded as before (no trailer), so its hash is unchanged; one
        // with them is that encoding followed by the trailer.
        let tag = b"quyhoach.plan.v2-attributes";
        let old = canonical_bytes(&a);
        assert!(!old.windows(tag.len()).any(|w| w == tag));
        let mut b = a.clone();
        b.entries[0].cadre.science_technology = true;
        assert!(canonical_bytes(&b).starts_with(&old));
        assert_ne!(a.content_hash(), b.content_hash());
        let mut c = a.clone();
        c.entries[0].cadre.ratings.push(Rating {
            year: 2024,
            level: RatingLevel::Good,
        });
        assert_ne!(c.content_hash(), b.content_hash());
    }

    #[test]
    fn national_id_must_be_twelve_digits() {
        assert!(validate_national_id("id", "001080000001").is_ok());
        for bad in ["00108000000", "0010800000011", "00108000000a", ""] {
            let e = validate_national_id("entry.cadre.national_id", bad).unwrap_err();
            assert_eq!(e.field, "entry.cadre.national_id");
        }
    }

    #[test]
    fn cadre_validation_normalizes_and_names_fields() {
        let today = NaiveDate::from_ymd_opt(2025, 7, 1).unwrap();
        let mut c = cadre("001080000001", "  Nguye\u{0302}\u{0303}n  Thị Hoa ");
        c = c.validate("entry.cadre", today).unwrap();
        assert_eq!(c.full_name, "Nguyễn Thị Hoa");
        let mut empty = cadre("001080000001", " ");
        empty.full_name = "   ".into();
        assert_eq!(
            empty.validate("entry.cadre", today).unwrap_err().field,
            "entry.cadre.full_name"
        );
        // Invisible characters are dropped; a bidirectional override is refused.
        let hidden = cadre("001080000001", "Phạm Văn\u{200B} Hải\u{FEFF}");
        assert_eq!(
            hidden.validate("entry.cadre", today).unwrap().full_name,
            "Phạm Văn Hải"
        );
        let reversed = cadre("001080000001", "Lê Văn \u{202E}mát");
        let err = reversed.validate("entry.cadre", today).unwrap_err();
        assert_eq!(err.field, "entry.cadre.full_name");
        assert!(err.problem.contains("bidirectional override"), "{err}");
        let mut young = cadre("001080000001", "A B");
        young.birth_date = NaiveDate::from_ymd_opt(2010, 1, 1).unwrap();
        assert_eq!(
            young.validate("entry.cadre", today).unwrap_err().field,
            "entry.cadre.birth_date"
        );
    }

    #[test]
    fn ballot_counts_must_add_up() {
        let round = |convened, present, issued, valid, yes| BallotRound {
            body: Body::ExecutiveCommittee,
            date: NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
            convened,
            present,
            ballots_issued: issued,
            valid_ballots: valid,
            tallies: vec![Tally {
                national_id: "001080000001".into(),
                position: "C.BT".into(),
                yes,
            }],
        };
        assert!(round(30, 30, 30, 30, 30).validate_counts("round").is_ok());
        assert_eq!(
            round(30, 31, 30, 30, 1)
                .validate_counts("round")
                .unwrap_err()
                .field,
            "round.present"
        );
        assert_eq!(
            round(30, 29, 30, 29, 1)
                .validate_counts("round")
                .unwrap_err()
                .field,
            "round.ballots_issued"
        );
        assert_eq!(
            round(30, 29, 29, 30, 1)
                .validate_counts("round")
                .unwrap_err()
                .field,
            "round.valid_ballots"
        );
        assert_eq!(
            round(30, 29, 29, 28, 29)
                .validate_counts("round")
                .unwrap_err()
                .field,
            "round.tallies[0].yes"
        );
    }
}
