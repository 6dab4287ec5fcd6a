//! The planning rules of `docs/rules.md` (R1–R26), as pure functions over domain values. Rule IDs
//! are stable and appear in findings, errors and tests. Parameters are data ([`RuleParams`], read
//! from a [`RulesFile`]); the ruleset in force is chosen by decision date ([`Ruleset`]).
//!
//! The engine ([`engine::check`], [`engine::check_incremental`]) runs over a [`Snapshot`] of the
//! plans a province holds and returns a [`Report`] of [`Finding`]s. Nothing here does I/O or
//! reads the clock.

pub mod ballot;
mod context;
mod cross_rules;
pub mod deadline;
pub mod eligibility;
pub mod engine;
pub mod finding;
mod index;
pub mod params;
mod plan_rules;
pub mod retirement;
mod since_2025;
#[cfg(test)]
pub(crate) mod testkit;

pub use eligibility::{eligibility, Eligibility};
pub use engine::{
    check, check_incremental, check_incremental_with, check_r2_across_provinces, touched_persons,
    Scope, Snapshot, SubmittedCopy, CROSS_PERSON_RULES,
};
pub use finding::{Finding, PersonRef, Report, RuleId, Severity};
pub use params::{
    AgeBands, CommitteeSeats, Denominator, Exemption, Freeze, RuleParams, RulesFile, Ruleset,
    TimeBars,
};
pub use retirement::{months_until_retirement, retirement_month, RetirementSchedule, Schedule};
