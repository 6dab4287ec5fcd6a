//! R19, the vote threshold: a round is valid only if at least 2/3 of those convened attend, and
//! a nominee passes with more than 50% of the configured denominator (those convened by default).

use crate::domain::BallotRound;

use super::{Denominator, RuleParams};

/// Returns true if and only if enough members attended for the round to count (R19 quorum).
pub fn quorum_met(round: &BallotRound, params: &RuleParams) -> bool {
    u64::from(round.present) * u64::from(params.quorum_den)
        >= u64::from(round.convened) * u64::from(params.quorum_num)
}

/// The count that yes votes are compared with.
pub fn denominator(round: &BallotRound, params: &RuleParams) -> u32 {
    match params.vote_denominator {
        Denominator::Convened => round.convened,
        Denominator::Present => round.present,
        Denominator::ValidBallots => round.valid_ballots,
    }
}

/// Returns true if and only if `yes` is strictly more than half of the round's denominator.
pub fn passes(round: &BallotRound, yes: u32, params: &RuleParams) -> bool {
    u64::from(yes) * 2 > u64::from(denominator(round, params))
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::{Body, Tally};

    fn round(convened: u32, present: u32) -> BallotRound {
        BallotRound {
            body: Body::ExecutiveCommittee,
            date: NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
            convened,
            present,
            ballots_issued: present,
            valid_ballots: present.saturating_sub(1),
            tallies: vec![Tally {
                national_id: "001080000001".into(),
                position: "C.BT".into(),
                yes: 0,
            }],
        }
    }

    #[test]
    fn quorum_boundary_is_two_thirds_of_convened() {
        let p = RuleParams::default();
        assert!(quorum_met(&round(30, 20), &p), "exactly 2/3 attends");
        assert!(!quorum_met(&round(30, 19), &p), "one fewer than 2/3");
        assert!(quorum_met(&round(31, 21), &p), "20.67 needed, 21 present");
        assert!(!quorum_met(&round(31, 20), &p));
    }

    #[test]
    fn exactly_half_of_convened_fails_one_more_passes() {
        let p = RuleParams::default();
        let r = round(30, 28);
        assert!(!passes(&r, 15, &p), "exactly 50% of those convened fails");
        assert!(passes(&r, 16, &p));
        let odd = round(31, 28);
        assert!(!passes(&odd, 15, &p));
        assert!(passes(&odd, 16, &p));
    }

    #[test]
    fn denominator_is_configurable() {
        let r = round(30, 20); // 19 valid ballots
        let present = RuleParams {
            vote_denominator: Denominator::Present,
            ..RuleParams::default()
        };
        let valid = RuleParams {
            vote_denominator: Denominator::ValidBallots,
            ..RuleParams::default()
        };
        assert!(!passes(&r, 11, &RuleParams::default()));
        assert!(passes(&r, 11, &present));
        assert!(!passes(&r, 10, &present));
        assert!(passes(&r, 10, &valid));
        assert!(!passes(&r, 9, &valid));
    }
}
