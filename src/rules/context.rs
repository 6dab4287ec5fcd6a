//! What every rule reads: the snapshot checked, the day of the check, the parameters of every
//! ruleset, the current version of each unit × term, and the lookups the rules share (positions
//! resolved through one fast map, names in the form they are compared in). The engine
//! ([`super::engine`]) builds one [`Ctx`] per check and hands it to the per-plan rules
//! ([`super::plan_rules`], [`super::deadline`]) and the cross-plan ones ([`super::cross_rules`]),
//! which import this module and not the engine.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use foldhash::HashMap;
use unicode_normalization::{is_nfc_quick, IsNormalized};

use serde::{Deserialize, Serialize};

use super::params::{RuleParams, RulesFile};
use crate::domain::{text, Catalog, Fulfilment, Hierarchy, Level, Plan, PlanId, Position};

/// What the owner of a plan says it submitted (R22): the version and content hash it sent up.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SubmittedCopy {
    /// The plan version the owner submitted.
    pub id: PlanId,
    /// The content hash the owner computed for it (hex blake3).
    pub hash: String,
}

/// Everything a province holds that the rules look at. Borrowed, so that a store can hand over
/// what it has loaded without copying.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot<'a> {
    /// Every plan version the province holds, of its own units and of its whole subtree, in any
    /// status; the current version per unit × term is the one with the highest version.
    pub plans: &'a [Plan],
    /// The units of the province, to find levels and subtrees.
    pub hierarchy: &'a Hierarchy,
    /// Positions (grades, levels, kinds) and terms (age reference dates, pairs).
    pub catalog: &'a Catalog,
    /// What the owners of lower plans say they submitted (R22).
    pub submitted: &'a [SubmittedCopy],
    /// Planned entries already used (elected or appointed): from the next review on they no
    /// longer count against the R2 cap ([`Fulfilment::releases`]).
    pub fulfilled: &'a [Fulfilment],
}

/// What a check looks at, with the lookups the rules share.
pub(crate) struct Ctx<'a> {
    /// The snapshot checked.
    pub snap: &'a Snapshot<'a>,
    /// The day of the check.
    pub today: NaiveDate,
    /// Parameters of every ruleset.
    pub rules: &'a RulesFile,
    /// The current version of each unit × term, sorted by plan ID.
    pub current: Vec<&'a Plan>,
    /// The parameters in force today, for rules that are not about one plan's decision.
    pub now: &'a RuleParams,
    /// The catalogue's positions by code, behind a fast hasher: every entry looks its positions
    /// up, and the catalogue's own ordered map compares strings at each step.
    positions: HashMap<&'a str, &'a Position>,
}

impl<'a> Ctx<'a> {
    /// The context of a check of `snap` on `today`.
    pub(crate) fn new(snap: &'a Snapshot<'a>, today: NaiveDate, rules: &'a RulesFile) -> Self {
        let mut latest: HashMap<(&str, &str), &Plan> = HashMap::default();
        for plan in snap.plans {
            let key = (plan.id.unit.as_str(), plan.id.term.as_str());
            let slot = latest.entry(key).or_insert(plan);
            if plan.id.version > slot.id.version {
                *slot = plan;
            }
        }
        let mut current: Vec<&Plan> = latest.into_values().collect();
        current.sort_by(|a, b| a.id.cmp(&b.id));
        let positions = snap
            .catalog
            .positions
            .iter()
            .map(|(code, p)| (code.as_str(), p))
            .collect();
        Self {
            snap,
            today,
            rules,
            current,
            now: rules.params_for(today),
            positions,
        }
    }

    /// The date a plan is judged at: its decision's date (Vietnam time), else the day its unit
    /// adopted it, else the day of the check.
    pub fn decision_date(&self, plan: &Plan) -> NaiveDate {
        plan.decision
            .as_ref()
            .map(|d| local_date(d.decided_at))
            .or(plan.adopted_on)
            .unwrap_or(self.today)
    }

    /// The parameters of the ruleset in force at a plan's decision date.
    pub fn params(&self, plan: &Plan) -> &'a RuleParams {
        self.rules.params_for(self.decision_date(plan))
    }

    /// A position of the catalogue.
    pub fn position(&self, code: &str) -> Option<&'a Position> {
        self.positions.get(code).copied()
    }

    /// The level of a unit, if the hierarchy knows it.
    pub fn unit_level(&self, code: &str) -> Option<Level> {
        self.snap.hierarchy.get(code).map(|u| u.level)
    }
}

/// The calendar date of an instant in Vietnam (UTC+7), where every deadline is counted.
pub(crate) fn local_date(t: DateTime<Utc>) -> NaiveDate {
    match FixedOffset::east_opt(7 * 3600) {
        Some(vn) => t.with_timezone(&vn).date_naive(),
        None => t.date_naive(),
    }
}

/// A name in the form names are compared in ([`text::nfc`]), borrowing when it already is.
pub(crate) fn name_key(s: &str) -> Cow<'_, str> {
    let tidy_spaces = !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && !s.contains("  ")
        && !s.chars().any(|c| c.is_whitespace() && c != ' ');
    if tidy_spaces && is_nfc_quick(s.chars()) == IsNormalized::Yes {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(text::nfc(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_key_borrows_nfc_and_normalizes_nfd() {
        assert!(matches!(name_key("Nguyễn Văn A"), Cow::Borrowed(_)));
        let nfd: String =
            unicode_normalization::UnicodeNormalization::nfd("Nguyễn Văn A").collect();
        assert_eq!(name_key(&nfd), "Nguyễn Văn A");
        assert_eq!(name_key(" Nguyễn  Văn A"), "Nguyễn Văn A");
    }
}
