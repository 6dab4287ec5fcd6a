//! What a check produces: findings (phát hiện), each naming a rule of `docs/rules.md`, a severity,
//! the units, person, positions and terms involved, and a message in Vietnamese and English that a
//! clerk can act on. Messages never carry a full national ID: only its last four digits.

use serde::{Deserialize, Serialize};

use super::params::Ruleset;
use crate::domain::{Cadre, Level, PlanId};

crate::domain::words::words! {
    /// The stable rule IDs of `docs/rules.md` (R23–R26: the rules since 2025, `docs/rules-377.md`).
    /// R9–R11 and R16 are reserved (not defined there); R13 and R15 are workflow rules with nothing
    /// to find.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    #[allow(missing_docs)]
    pub enum RuleId ("rule") {
        R1,
        R2,
        R3,
        R4,
        R5,
        R6,
        R7,
        R8,
        R9,
        R10,
        R11,
        R12,
        R13,
        R14,
        R15,
        R16,
        R17,
        R18,
        R19,
        R20,
        R21,
        R22,
        R23,
        R24,
        R25,
        R26,
    }
}

impl Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RuleId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How much a finding matters: errors block approval; warnings may be accepted with a written
/// justification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks approval (lỗi).
    Error,
    /// Shown, may be accepted with a justification (cảnh báo).
    Warning,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

/// A person a finding is about. The national ID is personal data: it is kept here so that the
/// finding can be matched, and never printed whole in a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PersonRef {
    /// Số CCCD.
    pub national_id: String,
    /// Full name as the first plan that lists the person records it.
    pub full_name: String,
}

impl PersonRef {
    /// The person of a cadre record.
    pub fn of(cadre: &Cadre) -> Self {
        Self {
            national_id: cadre.national_id.to_string(),
            full_name: cadre.full_name.to_string(),
        }
    }

    /// The name and masked ID as messages show them: `Nguyễn Văn A (CCCD …1234)`.
    pub fn label(&self) -> String {
        format!("{} (CCCD {})", self.full_name, mask_id(&self.national_id))
    }
}

pub use crate::domain::validate::mask_id;

/// One problem found by a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule broken.
    pub rule: RuleId,
    /// Error or warning.
    pub severity: Severity,
    /// Codes of the units involved, sorted; scope filters match any of them.
    pub units: Vec<String>,
    /// The person concerned, if the finding is about one.
    pub person: Option<PersonRef>,
    /// Further persons involved: for R21, the other IDs the same person appears under.
    pub other_persons: Vec<PersonRef>,
    /// Codes of the positions involved, sorted.
    pub positions: Vec<String>,
    /// Codes of the terms involved, sorted.
    pub terms: Vec<String>,
    /// What is wrong and what to do, in Vietnamese.
    pub message_vi: String,
    /// The same in English.
    pub message_en: String,
    /// The plan versions the finding concerns, sorted; a return can cite it against them.
    pub plans: Vec<PlanId>,
    /// The ruleset that judged it: for a rule about one plan, the one in force at that plan's
    /// decision date; for the rules about the province as a whole (R3, R5, R17, R21, R22), the
    /// one in force on the day of the check. Set by the engine (`None` only before it is;
    /// findings stored before this field existed read as `None`).
    #[serde(default)]
    pub ruleset: Option<Ruleset>,
    /// Set when the finding looks across a reorganisation of units (issue 22): it reads a plan
    /// made before the structure in force and a unit or plan of that structure (a new unit's
    /// entry drawn from an old unit's list, a new unit's sources standing in for its approved
    /// list). The day that structure took effect (`2025-07-01`). Set by the engine; findings
    /// stored before this field existed read as `None`.
    #[serde(default)]
    pub reorganised_on: Option<chrono::NaiveDate>,
}

impl Finding {
    /// A finding with its lists sorted and deduplicated.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        rule: RuleId,
        severity: Severity,
        units: Vec<String>,
        person: Option<PersonRef>,
        positions: Vec<String>,
        terms: Vec<String>,
        plans: Vec<PlanId>,
        message_vi: String,
        message_en: String,
    ) -> Self {
        fn tidy<T: Ord>(mut v: Vec<T>) -> Vec<T> {
            v.sort();
            v.dedup();
            v
        }
        Self {
            rule,
            severity,
            units: tidy(units),
            person,
            other_persons: Vec::new(),
            positions: tidy(positions),
            terms: tidy(terms),
            message_vi,
            message_en,
            plans: tidy(plans),
            ruleset: None,
            reorganised_on: None,
        }
    }

    /// The same finding, judged by `ruleset`.
    pub(crate) fn judged_by(mut self, ruleset: Ruleset) -> Self {
        self.ruleset = Some(ruleset);
        self
    }

    /// Every national ID the finding names.
    pub fn national_ids(&self) -> impl Iterator<Item = &str> {
        self.person
            .iter()
            .chain(&self.other_persons)
            .map(|p| p.national_id.as_str())
    }

    /// The key findings are sorted by: rule, first unit, person, then the rest.
    pub(crate) fn sort_key(&self) -> impl Ord + '_ {
        (
            self.rule,
            self.units.first(),
            self.person.as_ref().map(|p| &p.national_id),
            &self.positions,
            &self.terms,
            &self.plans,
            self.severity,
            &self.message_en,
        )
    }
}

/// The findings of one check, sorted by rule, unit and person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Every finding in scope, sorted.
    pub findings: Vec<Finding>,
}

impl Report {
    /// A report of `findings`, sorted so that equal inputs give equal reports.
    pub fn new(mut findings: Vec<Finding>) -> Self {
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        findings.dedup();
        Self { findings }
    }

    /// Returns true if and only if some finding is an error (so approval is blocked).
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The findings of one rule.
    pub fn of_rule(&self, rule: RuleId) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.rule == rule)
    }
}

/// The Vietnamese word for a level, as in "cấp huyện".
pub(crate) fn level_vi(level: Level) -> &'static str {
    match level {
        Level::Province => "tỉnh",
        Level::District => "huyện",
        Level::Commune => "xã",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_round_trip() {
        for r in RuleId::ALL {
            assert_eq!(r.as_str().parse::<RuleId>().unwrap(), r);
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        assert_eq!("r19".parse::<RuleId>().unwrap(), RuleId::R19);
        assert!("R27".parse::<RuleId>().is_err());
        assert_eq!("R26".parse::<RuleId>().unwrap(), RuleId::R26);
    }

    #[test]
    fn ids_are_masked() {
        assert_eq!(mask_id("001080001234"), "…1234");
        assert_eq!(mask_id("12"), "…12");
        let p = PersonRef {
            national_id: "001080001234".into(),
            full_name: "Nguyễn Văn A".into(),
        };
        assert_eq!(p.label(), "Nguyễn Văn A (CCCD …1234)");
    }
}
