//! Rule parameters: caps, ratios, thresholds and the vote denominator. Defaults are those of
//! DOMAIN.md; a rules file overrides them.

use serde::{Deserialize, Serialize};

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
}

impl Default for RuleParams {
    fn default() -> Self {
        Self {
            vote_denominator: Denominator::Convened,
            quorum_num: 2,
            quorum_den: 3,
        }
    }
}
