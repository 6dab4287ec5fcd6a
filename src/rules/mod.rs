//! The planning rules of DOMAIN.md (R1–R22), as pure functions over domain values. Rule IDs are
//! stable and appear in findings, errors and tests. Parameters are data ([`RuleParams`]).

pub mod ballot;
pub mod params;

pub use params::{Denominator, RuleParams};
