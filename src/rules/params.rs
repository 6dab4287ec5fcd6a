//! Rule parameters: caps, ratios, thresholds, the vote denominator, discipline time-bars, the
//! appraisal deadline and the retirement schedule. Defaults are those of `docs/rules.md`; a rules
//! file ([`RulesFile`], TOML) overrides them, one table per ruleset ([`Ruleset`]), and the ruleset
//! in force is chosen by a plan's decision date.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::retirement::RetirementSchedule;
use crate::domain::{DisciplineKind, Level};

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

/// R14: how long each disciplinary measure bars planning into a higher post, in months from the
/// date of the disciplinary decision. Expulsion (khai trừ) bars for ever and has no entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeBars {
    /// Months barred after a reprimand (khiển trách); 12 under QĐ 80/2022.
    pub reprimand: u32,
    /// Months barred after a warning (cảnh cáo); 30 under QĐ 80/2022.
    pub warning: u32,
    /// Months barred after removal from post (cách chức); 60 under QĐ 80/2022.
    pub removal_from_post: u32,
}

impl Default for TimeBars {
    fn default() -> Self {
        Self {
            reprimand: 12,
            warning: 30,
            removal_from_post: 60,
        }
    }
}

impl TimeBars {
    /// The bar of one measure in months; `None` for a measure that bars for ever (expulsion).
    pub fn months(&self, kind: DisciplineKind) -> Option<u32> {
        match kind {
            DisciplineKind::Reprimand => Some(self.reprimand),
            DisciplineKind::Warning => Some(self.warning),
            DisciplineKind::RemovalFromPost => Some(self.removal_from_post),
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
    /// R8: smallest share of women in a list.
    pub min_women_ratio: f64,
    /// R8: smallest share of young cadres in a list.
    pub min_young_ratio: f64,
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
    /// R7: the statutory retirement schedule (Labour Code 2019, Decree 135/2020).
    pub retirement: RetirementSchedule,
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
            min_women_ratio: 0.25,
            min_young_ratio: 0.15,
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
        }
    }
}

impl RuleParams {
    /// Checks that the numbers make sense together; the error names the field.
    ///
    /// # Errors
    ///
    /// The field and what is wrong with it, if a ratio is outside 0..1, a count is outside its
    /// range, a day count is zero, or the retirement schedule is invalid.
    pub fn validate(&self) -> Result<(), String> {
        let ratio = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name}: {v} is not a ratio between 0 and 1"))
            }
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
        ratio("min_women_ratio", self.min_women_ratio)?;
        ratio("min_young_ratio", self.min_young_ratio)?;
        if let Some(r) = self.min_ethnic_minority_ratio {
            ratio("min_ethnic_minority_ratio", r)?;
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
    /// QĐ 377 relaxes R14: planning is allowed once a reprimand or a warning has expired, or when
    /// no disciplinary decision was issued. The engine reads this as follows. The engine sees only
    /// issued disciplinary decisions, so "no decision issued" never bars anything under either
    /// ruleset. A reprimand or warning bars only while its time-bar runs, its length being the
    /// `[qd377.time_bars]` figure of the rules file; removal from post bars for its own time-bar
    /// and expulsion for ever, as the relaxation does not name them. The shipped `[qd377]` table
    /// keeps the `docs/rules.md` figures (12, 30 and 60 months) until the province confirms QĐ
    /// 377's own, so the two rulesets differ only where the rules file makes them differ.
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

    /// The table name in the rules file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qd50 => "qd50",
            Self::Qd377 => "qd377",
        }
    }
}

/// A rules file: one [`RuleParams`] table per ruleset, each defaulting to the figures of
/// `docs/rules.md`.
///
/// ```toml
/// [qd50]
/// max_cadres_per_position = 3
///
/// [qd377.time_bars]
/// warning = 30
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesFile {
    /// Parameters for decisions before 8 October 2025.
    pub qd50: RuleParams,
    /// Parameters for decisions from 8 October 2025.
    pub qd377: RuleParams,
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
        for ruleset in [Ruleset::Qd50, Ruleset::Qd377] {
            file.params(ruleset)
                .validate()
                .map_err(|e| format!("rules file: {}.{e}", ruleset.as_str()))?;
        }
        Ok(file)
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

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

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
    fn time_bars_by_kind() {
        let t = TimeBars::default();
        assert_eq!(t.months(DisciplineKind::Reprimand), Some(12));
        assert_eq!(t.months(DisciplineKind::Warning), Some(30));
        assert_eq!(t.months(DisciplineKind::RemovalFromPost), Some(60));
        assert_eq!(t.months(DisciplineKind::Expulsion), None);
    }
}
