//! Rule parameters: caps, ratios, thresholds, the vote denominator, discipline time-bars, the
//! appraisal deadline and the retirement schedule. Defaults are those of `docs/rules.md`; a rules
//! file ([`RulesFile`], TOML) overrides them, one table per ruleset ([`Ruleset`]), and the ruleset
//! in force is chosen by a plan's decision date.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::retirement::{RetirementSchedule, Schedule};
use crate::domain::{DisciplineKind, Gender, Level, RetirementRegime};

/// Which count a nominee's yes votes are compared with (R19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Denominator {
    /// Members convened (the default of Directive 35-CT/TW).
    #[default]
    Convened,
    /// Members present.
    Present,
    /// Valid ballots.
    ValidBallots,
}

/// R14: how long each disciplinary measure bars planning into a higher post, in months.
/// Under QĐ 50 (with QĐ 80/2022) every bar runs from the date of the disciplinary decision.
/// Under QĐ 377 a reprimand or a warning bars until `relief_after_announcement` months after it
/// was announced, and only then if no complaint is pending and no new violation came in that
/// time (Quy định 69-QĐ/TW, art. 2(5)); the other measures keep their bars from the decision.
/// Expulsion (khai trừ) bars for ever and has no entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeBars {
    /// Months barred after a reprimand (khiển trách); 12 under QĐ 80/2022.
    pub reprimand: u32,
    /// Months barred after a warning (cảnh cáo); 30 under QĐ 80/2022.
    pub warning: u32,
    /// Months barred after removal from post (cách chức); 60 under QĐ 80/2022.
    pub removal_from_post: u32,
    /// Months barred after demotion (giáng chức), a form removed from 1 July 2025 by Decree
    /// 172/2025 and kept on earlier records; 24.
    pub demotion: u32,
    /// Months barred after salary-step reduction (hạ bậc lương), likewise; 12.
    pub salary_step_reduction: u32,
    /// QĐ 377: months after the announcement at which a reprimand or a warning stops barring,
    /// with no complaint pending and no new violation (Quy định 69-QĐ/TW); 12.
    pub relief_after_announcement: u32,
}

impl Default for TimeBars {
    fn default() -> Self {
        Self {
            reprimand: 12,
            warning: 30,
            removal_from_post: 60,
            demotion: 24,
            salary_step_reduction: 12,
            relief_after_announcement: 12,
        }
    }
}

impl TimeBars {
    /// The bar of one measure in months under QĐ 50; `None` for a measure that bars for ever
    /// (expulsion).
    pub fn months(&self, kind: DisciplineKind) -> Option<u32> {
        match kind {
            DisciplineKind::Reprimand => Some(self.reprimand),
            DisciplineKind::Warning => Some(self.warning),
            DisciplineKind::RemovalFromPost => Some(self.removal_from_post),
            DisciplineKind::Demotion => Some(self.demotion),
            DisciplineKind::SalaryStepReduction => Some(self.salary_step_reduction),
            DisciplineKind::Expulsion => None,
        }
    }
}

/// R18: the number of seats of a party committee (Ban Chấp hành) at each level of unit; a level
/// left out is not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommitteeSeats {
    /// Seats of a provincial party committee.
    pub province: Option<u32>,
    /// Seats of a district party committee.
    pub district: Option<u32>,
    /// Seats of a commune party committee.
    pub commune: Option<u32>,
}

impl CommitteeSeats {
    /// The seats configured for units of `level`.
    pub fn for_level(&self, level: Level) -> Option<u32> {
        match level {
            Level::Province => self.province,
            Level::District => self.district,
            Level::Commune => self.commune,
        }
    }
}

/// Every tunable number the rules use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleParams {
    /// R19: the count a nominee needs more than half of.
    pub vote_denominator: Denominator,
    /// R19: a round is valid only if present × `quorum_den` ≥ convened × `quorum_num`.
    pub quorum_num: u32,
    /// R19: see `quorum_num`.
    pub quorum_den: u32,
    /// R2 and R20: most cadres planned for one leadership position of one unit in one term.
    pub max_cadres_per_position: u32,
    /// R3: most positions of one level one person is planned for in one term, across all units.
    pub max_positions_per_level: u32,
    /// R6: months from the term's age reference date to retirement below which planning is an
    /// error (one full term).
    pub min_months_to_retirement: i64,
    /// R6: months below which planning draws a warning (two full terms preferred).
    pub preferred_months_to_retirement: i64,
    /// R8: smallest share of women in a list; `None` sets no target. Left out of a rules file
    /// it is the ruleset's own figure: 25 % under QĐ 50 (Hướng dẫn 16-HD/BTCTW), none under
    /// QĐ 377, which leaves the figure to the province.
    pub min_women_ratio: Option<f64>,
    /// R8: smallest share of young cadres in a list; `None` sets no target. Left out it is 15 %
    /// under QĐ 50 and none under QĐ 377.
    pub min_young_ratio: Option<f64>,
    /// R8: smallest share of science-and-technology cadres (QĐ 377); `None` (the default) sets
    /// no target. Counts the cadres whose record says so.
    pub min_science_technology_ratio: Option<f64>,
    /// R8: the three age bands of QĐ 377 as optional targets; `None` (the default) sets none.
    pub age_bands: Option<AgeBands>,
    /// R8: a cadre is young if younger than this many whole years on the term's age reference
    /// date (40 at province and district level; the engine applies it to communes too).
    pub young_age_under: u32,
    /// R8: smallest share of ethnic-minority cadres; `None` (the default) leaves it unchecked,
    /// since each province sets its own target.
    pub min_ethnic_minority_ratio: Option<f64>,
    /// R8: the ethnicity that is not a minority (compared after NFC, ignoring case).
    pub majority_ethnicity: String,
    /// R5: codes of the key posts (chức danh chủ chốt): holding one in a lower unit stands in for
    /// being in its list, and planning for one requires a place in the unit's committee list.
    pub key_posts: Vec<String>,
    /// R12: an entry of a plan is removed once the months from the day of the check to the
    /// cadre's retirement fall below this (0: once the cadre reaches retirement age; set 60 to
    /// remove a cadre as soon as a full five-year appointment is no longer possible).
    pub removal_min_months_left: i64,
    /// R14: the discipline time-bars.
    pub time_bars: TimeBars,
    /// R17: working days the approving level has from receipt.
    pub appraisal_working_days: u32,
    /// R17: public holidays (ISO dates as strings), not counted as working days; weekends never
    /// are.
    pub holidays: Vec<NaiveDate>,
    /// R18: largest planned committee as a multiple of its seats; `None` (the default) turns R18
    /// off, as the guidance's figure is unverified.
    pub committee_multiplier: Option<f64>,
    /// R18: seats of the party committee per level of unit.
    pub committee_seats: CommitteeSeats,
    /// R7: the statutory retirement schedule (Labour Code 2019, Decree 135/2020): the
    /// `general` regime.
    pub retirement: RetirementSchedule,
    /// R7: the retirement age in months of a woman allowed to retire at 60 (the `female_60`
    /// regime); 720.
    pub female_60_months: u32,
    /// R7: the People's Public Security schedule (the `police` regime), by gender; the province
    /// gives it, and a person under this regime without it draws an R7 error.
    pub retirement_police: Option<RetirementSchedule>,
    /// R7: the officers' schedule of the People's Army (the `military` regime); as
    /// `retirement_police`.
    pub retirement_military: Option<RetirementSchedule>,
}

/// R8 under QĐ 377: three age bands (ba độ tuổi), each with an optional smallest share. Ages are
/// whole years on the age reference date: band 1 is under `middle_from`, band 2 from
/// `middle_from` to under `senior_from`, band 3 from `senior_from`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeBands {
    /// The first age of the middle band, in whole years.
    pub middle_from: u32,
    /// The first age of the senior band, in whole years.
    pub senior_from: u32,
    /// Smallest share of the young band (under `middle_from`), if any.
    #[serde(default)]
    pub min_young: Option<f64>,
    /// Smallest share of the middle band, if any.
    #[serde(default)]
    pub min_middle: Option<f64>,
    /// Smallest share of the senior band (from `senior_from`), if any.
    #[serde(default)]
    pub min_senior: Option<f64>,
}

/// The key posts of every level of the shipped catalogue (secretary, standing deputy secretary,
/// chairs of the people's committee and council).
const KEY_POSTS: [&str; 12] = [
    "P.BT",
    "P.PBT.TT",
    "P.CT.UBND",
    "P.CT.HDND",
    "D.BT",
    "D.PBT.TT",
    "D.CT.UBND",
    "D.CT.HDND",
    "C.BT",
    "C.PBT.TT",
    "C.CT.UBND",
    "C.CT.HDND",
];

impl Default for RuleParams {
    fn default() -> Self {
        Self {
            vote_denominator: Denominator::Convened,
            quorum_num: 2,
            quorum_den: 3,
            max_cadres_per_position: 3,
            max_positions_per_level: 3,
            min_months_to_retirement: 60,
            preferred_months_to_retirement: 120,
            min_women_ratio: None,
            min_young_ratio: None,
            min_science_technology_ratio: None,
            age_bands: None,
            young_age_under: 40,
            min_ethnic_minority_ratio: None,
            majority_ethnicity: "Kinh".into(),
            key_posts: KEY_POSTS.iter().map(|s| (*s).to_string()).collect(),
            removal_min_months_left: 0,
            time_bars: TimeBars::default(),
            appraisal_working_days: 30,
            holidays: Vec::new(),
            committee_multiplier: None,
            committee_seats: CommitteeSeats::default(),
            retirement: RetirementSchedule::default(),
            female_60_months: 720,
            retirement_police: None,
            retirement_military: None,
        }
    }
}

impl RuleParams {
    /// The retirement schedule (R7) of a person of `gender` under `regime`.
    ///
    /// # Errors
    ///
    /// The name of the rules-file table the regime needs (`retirement_police`,
    /// `retirement_military`) when the province did not give it.
    pub fn schedule_for(
        &self,
        regime: RetirementRegime,
        gender: Gender,
    ) -> Result<Schedule, &'static str> {
        match regime {
            RetirementRegime::General => Ok(*self.retirement.for_gender(gender)),
            RetirementRegime::Female60 => Ok(Schedule::flat(self.female_60_months)),
            RetirementRegime::Police => self
                .retirement_police
                .map(|s| *s.for_gender(gender))
                .ok_or("retirement_police"),
            RetirementRegime::Military => self
                .retirement_military
                .map(|s| *s.for_gender(gender))
                .ok_or("retirement_military"),
        }
    }

    /// Checks that the numbers make sense together; the error names the field.
    ///
    /// # Errors
    ///
    /// The field and what is wrong with it, if a ratio is outside 0..1, a count is outside its
    /// range, a day count is zero, or the retirement schedule is invalid.
    pub fn validate(&self) -> Result<(), String> {
        // Every share that is set lies between 0 and 1.
        let ratios = |targets: &[(&str, Option<f64>)]| {
            for &(name, target) in targets {
                if let Some(v) = target.filter(|v| !(0.0..=1.0).contains(v)) {
                    return Err(format!("{name}: {v} is not a ratio between 0 and 1"));
                }
            }
            Ok(())
        };
        if self.quorum_den == 0 || self.quorum_num > self.quorum_den {
            return Err(format!(
                "quorum_num/quorum_den: {}/{} is not a fraction between 0 and 1",
                self.quorum_num, self.quorum_den
            ));
        }
        if u64::from(self.quorum_num) * 2 < u64::from(self.quorum_den) {
            return Err(format!(
                "quorum_num/quorum_den: {}/{} is below one half; no body decides with fewer present",
                self.quorum_num, self.quorum_den
            ));
        }
        if !(1..=100).contains(&self.max_cadres_per_position) {
            return Err("max_cadres_per_position: must be between 1 and 100".into());
        }
        if self.max_cadres_per_position == 0 {
            return Err("max_cadres_per_position: must be at least 1".into());
        }
        if self.max_positions_per_level == 0 || self.max_positions_per_level > 100 {
            return Err("max_positions_per_level: must be between 1 and 100".into());
        }
        if self.min_months_to_retirement > self.preferred_months_to_retirement {
            return Err(format!(
                "min_months_to_retirement: {} is more than preferred_months_to_retirement {}",
                self.min_months_to_retirement, self.preferred_months_to_retirement
            ));
        }
        ratios(&[
            ("min_women_ratio", self.min_women_ratio),
            ("min_young_ratio", self.min_young_ratio),
            ("min_ethnic_minority_ratio", self.min_ethnic_minority_ratio),
            (
                "min_science_technology_ratio",
                self.min_science_technology_ratio,
            ),
        ])?;
        if let Some(b) = &self.age_bands {
            let (middle, senior) = (b.middle_from, b.senior_from);
            if middle == 0 || middle >= senior || senior > 100 {
                return Err(format!(
                    "age_bands: middle_from {middle} and senior_from {senior} must be ages with 0 < middle_from < senior_from <= 100"
                ));
            }
            ratios(&[
                ("age_bands.min_young", b.min_young),
                ("age_bands.min_middle", b.min_middle),
                ("age_bands.min_senior", b.min_senior),
            ])?;
        }
        if self.female_60_months == 0 || self.female_60_months >= 1200 {
            return Err(format!(
                "female_60_months: {} is not an age in months below 100 years",
                self.female_60_months
            ));
        }
        for (name, s) in [
            ("retirement_police", &self.retirement_police),
            ("retirement_military", &self.retirement_military),
        ] {
            if let Some(s) = s {
                s.validate().map_err(|e| format!("{name}.{e}"))?;
            }
        }
        if self.appraisal_working_days == 0 {
            return Err("appraisal_working_days: must be at least 1".into());
        }
        if let Some(m) = self.committee_multiplier {
            if !(m.is_finite() && m > 0.0) {
                return Err(format!(
                    "committee_multiplier: {m} must be a positive number"
                ));
            }
        }
        self.retirement
            .validate()
            .map_err(|e| format!("retirement.{e}"))
    }
}

/// The set of regulations a plan is judged by, chosen by its decision date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ruleset {
    /// Quy định 50-QĐ/TW (2021) with Hướng dẫn 16-HD/BTCTW (2022) and the time-bars of
    /// Quy định 80-QĐ/TW (2022): decisions before 8 October 2025.
    Qd50,
    /// Quy định 377-QĐ/TW (2025), which replaces QĐ 50 and QĐ 80: decisions from 8 October 2025.
    ///
    /// QĐ 377 relaxes R14: a reprimand or a warning stops barring 12 months after it was
    /// announced, with no complaint pending and no new violation in that time (see
    /// [`TimeBars`]); removal from post gets no relief and expulsion never expires. R8's
    /// figures are the province's own: none unless its rules file sets them.
    Qd377,
}

impl Ruleset {
    /// The day Quy định 377-QĐ/TW took effect.
    pub fn qd377_effective() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 10, 8).expect("valid constant")
    }

    /// The ruleset for a decision taken on `date`.
    pub fn for_date(date: NaiveDate) -> Self {
        if date < Self::qd377_effective() {
            Self::Qd50
        } else {
            Self::Qd377
        }
    }

    /// The regulations' short names as findings and pages cite them.
    pub fn citation(self) -> &'static str {
        match self {
            Self::Qd50 => "QĐ 50-QĐ/TW",
            Self::Qd377 => "QĐ 377-QĐ/TW",
        }
    }

    /// The table name in the rules file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qd50 => "qd50",
            Self::Qd377 => "qd377",
        }
    }
}

/// A rules file: one [`RuleParams`] table per ruleset, each defaulting to the figures of
/// `docs/rules.md`, and the province's planning freezes (R24) and merged units (R25), which no ruleset changes.
/// R8's women and young targets left out of a table take that ruleset's own figure (see
/// [`RuleParams::min_women_ratio`]).
///
/// ```toml
/// [qd50]
/// max_cadres_per_position = 3
///
/// [qd377]
/// min_women_ratio = 0.3
///
/// [[freezes]]
/// unit = "40"
/// from = "2025-03-07"
/// to = "2025-06-30"
/// reason = "Kết luận 128-KL/TW"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawRulesFile")]
pub struct RulesFile {
    /// Parameters for decisions before 8 October 2025.
    pub qd50: RuleParams,
    /// Parameters for decisions from 8 October 2025.
    pub qd377: RuleParams,
    /// R24: planning freeze windows.
    pub freezes: Vec<Freeze>,
    /// R25: codes of the units formed by the mergers of 2025. Empty (the default): every
    /// province and commune plan decided from 1 July to 31 December 2025 counts as one of a
    /// merged unit.
    pub merged_units: Vec<String>,
    /// Codes of the units the province marks as not planning (besides the special zones,
    /// đặc khu, which never are): never listed as missing a plan.
    pub not_planning: Vec<String>,
}

impl Default for RulesFile {
    fn default() -> Self {
        RawRulesFile::default().into()
    }
}

/// A rules file as written, before each ruleset's own R8 figures fill what it left out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawRulesFile {
    qd50: RuleParams,
    qd377: RuleParams,
    freezes: Vec<Freeze>,
    merged_units: Vec<String>,
    not_planning: Vec<String>,
}

impl From<RawRulesFile> for RulesFile {
    fn from(raw: RawRulesFile) -> Self {
        let RawRulesFile {
            mut qd50,
            qd377,
            freezes,
            merged_units,
            not_planning,
        } = raw;
        // QĐ 50's figures (Hướng dẫn 16-HD/BTCTW); 0 turns a target off.
        qd50.min_women_ratio.get_or_insert(0.25);
        qd50.min_young_ratio.get_or_insert(0.15);
        Self {
            qd50,
            qd377,
            freezes,
            merged_units,
            not_planning,
        }
    }
}

/// R24: a window in which planning is frozen in a unit and every unit below it (Kết luận
/// 128-KL/TW froze planning in bodies being reorganised from 7 March 2025), with the units the
/// competent level exempted in writing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    /// Code of the unit frozen, with its subtree.
    pub unit: String,
    /// First day of the freeze.
    pub from: NaiveDate,
    /// Last day of the freeze.
    pub to: NaiveDate,
    /// Why, citing the document (shown in the finding).
    pub reason: String,
    /// Units exempted in writing: their plans adopted inside the window draw a warning.
    #[serde(default)]
    pub exemptions: Vec<Exemption>,
}

/// An exemption from a freeze, cited in writing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exemption {
    /// The unit exempted (its subtree too).
    pub unit: String,
    /// The written document that exempts it, e.g. "Công văn 123-CV/TU ngày 2025-04-02".
    pub cited: String,
}

impl RulesFile {
    /// Parses and validates the TOML text of a rules file; the error names the table and field.
    ///
    /// # Errors
    ///
    /// The table, field and problem, if the text is not valid TOML of this shape or either
    /// ruleset's parameters fail [`RuleParams::validate`].
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: Self = toml::from_str(text).map_err(|e| format!("rules file: {e}"))?;
        file.validate().map_err(|e| format!("rules file: {e}"))?;
        Ok(file)
    }

    /// Checks both rulesets' parameters ([`RuleParams::validate`]) and the freeze windows, as
    /// for a local file and for one a parent sends down; the error names the table and field.
    ///
    /// # Errors
    ///
    /// The table, field and problem: a parameter out of its range, a freeze ending before it
    /// starts, without a unit or reason, or an exemption that cites nothing.
    pub fn validate(&self) -> Result<(), String> {
        for ruleset in [Ruleset::Qd50, Ruleset::Qd377] {
            self.params(ruleset)
                .validate()
                .map_err(|e| format!("{}.{e}", ruleset.as_str()))?;
        }
        for (i, f) in self.freezes.iter().enumerate() {
            if f.from > f.to {
                return Err(format!(
                    "freezes[{i}].to: {} is before from {}",
                    f.to, f.from
                ));
            }
            if f.unit.trim().is_empty() || f.reason.trim().is_empty() {
                return Err(format!("freezes[{i}]: unit and reason must not be empty"));
            }
            if let Some(e) = f.exemptions.iter().position(|e| e.cited.trim().is_empty()) {
                return Err(format!(
                    "freezes[{i}].exemptions[{e}].cited: must name the written exemption"
                ));
            }
        }
        Ok(())
    }

    /// The parameters of one ruleset.
    pub fn params(&self, ruleset: Ruleset) -> &RuleParams {
        match ruleset {
            Ruleset::Qd50 => &self.qd50,
            Ruleset::Qd377 => &self.qd377,
        }
    }

    /// The parameters in force for a decision taken on `date`.
    pub fn params_for(&self, date: NaiveDate) -> &RuleParams {
        self.params(Ruleset::for_date(date))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::rules::testkit::d;

    #[test]
    fn ruleset_changes_on_8_october_2025() {
        assert_eq!(Ruleset::for_date(d(2025, 10, 7)), Ruleset::Qd50);
        assert_eq!(Ruleset::for_date(d(2025, 10, 8)), Ruleset::Qd377);
        assert_eq!(Ruleset::for_date(d(2021, 12, 27)), Ruleset::Qd50);
    }

    #[test]
    fn empty_file_is_the_defaults_and_shipped_file_too() {
        assert_eq!(RulesFile::parse("").unwrap(), RulesFile::default());
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/rules.toml");
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(RulesFile::parse(&text).unwrap(), RulesFile::default());
    }

    #[test]
    fn tables_override_per_ruleset() {
        let text = r#"
            [qd50]
            max_cadres_per_position = 4
            holidays = ["2025-09-02"]
            committee_multiplier = 1.5
            [qd50.committee_seats]
            district = 45
            [qd377.time_bars]
            warning = 12
        "#;
        let f = RulesFile::parse(text).unwrap();
        assert_eq!(f.params_for(d(2025, 1, 1)).max_cadres_per_position, 4);
        assert_eq!(f.params_for(d(2025, 1, 1)).holidays, [d(2025, 9, 2)]);
        assert_eq!(f.qd50.committee_seats.for_level(Level::District), Some(45));
        assert_eq!(f.qd50.time_bars.warning, 30);
        assert_eq!(f.params_for(d(2026, 1, 1)).time_bars.warning, 12);
        assert_eq!(f.params_for(d(2026, 1, 1)).time_bars.reprimand, 12);
        assert_eq!(f.params_for(d(2026, 1, 1)).max_cadres_per_position, 3);
    }

    #[test]
    fn bad_files_name_the_field() {
        let e = RulesFile::parse("[qd50]\nmax_cadre_per_position = 4\n").unwrap_err();
        assert!(e.contains("max_cadre_per_position"), "{e}");
        let e = RulesFile::parse("[qd377]\nmin_women_ratio = 25.0\n").unwrap_err();
        assert!(e.contains("qd377.min_women_ratio"), "{e}");
        let e = RulesFile::parse("[qd50]\nquorum_den = 0\n").unwrap_err();
        assert!(e.contains("quorum"), "{e}");
        let e = RulesFile::parse("[qd50.retirement.men]\nfirst_year = 2021\n").unwrap_err();
        assert!(e.contains("missing field"), "{e}");
        let e = RulesFile::parse("[qd51]\n").unwrap_err();
        assert!(e.contains("qd51"), "{e}");
    }

    #[test]
    fn freezes_and_merged_units_parse_and_bad_ones_name_the_field() {
        let text = r#"
            merged_units = ["40"]
            [[freezes]]
            unit = "40"
            from = "2025-03-07"
            to = "2025-06-30"
            reason = "Kết luận 128-KL/TW"
            exemptions = [{ unit = "412", cited = "Công văn 45-CV/TU" }]
        "#;
        let f = RulesFile::parse(text).unwrap();
        assert_eq!(f.freezes[0].to, d(2025, 6, 30));
        assert_eq!(f.freezes[0].exemptions[0].unit, "412");
        assert_eq!(f.merged_units, ["40"]);
        let e = RulesFile::parse(&text.replace("2025-06-30", "2025-03-06")).unwrap_err();
        assert!(e.contains("freezes[0].to"), "{e}");
        let e = RulesFile::parse(&text.replace("Công văn 45-CV/TU", " ")).unwrap_err();
        assert!(e.contains("freezes[0].exemptions[0].cited"), "{e}");
        // The file survives the JSON the province sends down, R8's unset QĐ 377 targets too.
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<RulesFile>(&json).unwrap(), f);
        let e = RulesFile::parse("[qd377.age_bands]\nmiddle_from = 55\nsenior_from = 45\n")
            .unwrap_err();
        assert!(e.contains("qd377.age_bands"), "{e}");
    }

    #[test]
    fn time_bars_by_kind() {
        let t = TimeBars::default();
        assert_eq!(t.months(DisciplineKind::Reprimand), Some(12));
        assert_eq!(t.months(DisciplineKind::Warning), Some(30));
        assert_eq!(t.months(DisciplineKind::RemovalFromPost), Some(60));
        assert_eq!(t.months(DisciplineKind::Expulsion), None);
        assert_eq!(t.months(DisciplineKind::Demotion), Some(24));
        assert_eq!(t.months(DisciplineKind::SalaryStepReduction), Some(12));
        assert_eq!(t.relief_after_announcement, 12);
    }
}
