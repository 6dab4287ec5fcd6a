//! The records a node keeps about plan versions beside the plans themselves: the header that
//! listings read, the outbox item waiting for the parent, the parent's receipt, and a refused
//! conflicting push. Plain data; the store decides how they are kept.

use serde::{Deserialize, Serialize};

use super::{BallotRound, Decision, Entry, Plan, PlanId, PlanStatus};

/// A plan version without its entries and rounds: what listings need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanHeader {
    /// The plan's identity: unit, term and version.
    pub id: PlanId,
    /// The version this one revises, if any.
    pub base_version: Option<u32>,
    /// Its workflow status.
    pub status: PlanStatus,
    /// Its content hash, once adopted.
    pub hash: Option<String>,
    /// The day it was adopted, if it was.
    pub adopted_on: Option<chrono::NaiveDate>,
    /// When this node received it (approving and upper levels).
    pub received_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The approving level's decision on it, if any.
    pub decision: Option<Decision>,
    /// How many entries the version holds.
    pub entry_count: u32,
    /// How many ballot rounds it records.
    pub round_count: u32,
}

impl PlanHeader {
    /// The header of `plan`: its identity, status and counts, without entries or rounds.
    pub fn of(plan: &Plan) -> Self {
        Self {
            id: plan.id.clone(),
            base_version: plan.base_version,
            status: plan.status,
            hash: plan.hash.clone(),
            adopted_on: plan.adopted_on,
            received_at: plan.received_at,
            decision: plan.decision.clone(),
            entry_count: plan.entries.len() as u32,
            round_count: plan.rounds.len() as u32,
        }
    }

    /// Joins the header with its entries and rounds.
    pub fn into_plan(self, entries: Vec<Entry>, rounds: Vec<BallotRound>) -> Plan {
        Plan {
            id: self.id,
            base_version: self.base_version,
            status: self.status,
            entries,
            rounds,
            hash: self.hash,
            adopted_on: self.adopted_on,
            received_at: self.received_at,
            decision: self.decision,
        }
    }
}

/// A plan version a node must push to its parent (its own submission, or a lower plan it
/// approved), kept until the parent's receipt is durable here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// The version to push; its stored content is read at delivery time (it is immutable).
    pub plan: PlanId,
    /// When it was queued, for lag and stuck-link reports.
    pub queued_at: chrono::DateTime<chrono::Utc>,
    /// For a lower plan travelling upward: the decision it travels with, fixed when it was
    /// queued: its approval (the plan may be reopened here later; what went up was approved),
    /// or the return that withdrew that approval, which follows it in the queue.
    #[serde(default)]
    pub approval: Option<Decision>,
}

/// A push refused because the same (unit, term, version) is held with another hash. Kept on
/// both sides so that people can see and settle it; nothing is overwritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The plan version pushed.
    pub plan: PlanId,
    /// The hash held by the receiving node.
    pub held_hash: String,
    /// The hash the push carried.
    pub offered_hash: String,
    /// The unit that pushed.
    pub from: String,
    /// The unit that refused it.
    pub to: String,
    /// When the push was refused.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// What the parent said when it took a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The plan version the parent took.
    pub plan: PlanId,
    /// The hash the parent stored for it.
    pub hash: String,
    /// The unit of the node that took it.
    pub received_by: String,
    /// When the parent took it.
    pub received_at: chrono::DateTime<chrono::Utc>,
}

/// How a planned cadre came to hold the post (the entry's outcome, kết quả sử dụng quy hoạch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FulfilmentKind {
    /// Appointed by a decision (đã bố trí, bổ nhiệm).
    Appointed,
    /// Elected by the body (đã bầu).
    Elected,
}

impl FulfilmentKind {
    /// "đã bố trí" or "đã bầu".
    pub fn vi(self) -> &'static str {
        match self {
            Self::Appointed => "đã bố trí",
            Self::Elected => "đã bầu",
        }
    }

    /// "appointed" or "elected".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Appointed => "appointed",
            Self::Elected => "elected",
        }
    }
}

/// A planned entry that was used: the cadre was elected or appointed to the planned post or an
/// equivalent one (same kind and grade in the catalogue). Distinct from removal: the entry
/// stays in the approved version it fulfils, and from the next review on (any later version
/// of the same unit × term) it is no longer counted against the R2 cap (QĐ 377-QĐ/TW art. 34:
/// a plan is "used" by appointment). Kept beside the plans, one per (unit, term, person,
/// planned position); the version's hash does not change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfilment {
    /// The approved plan version whose entry is fulfilled.
    pub plan: PlanId,
    /// The person's national ID (số CCCD, 12 digits).
    pub national_id: String,
    /// The planned position of the entry (catalogue code).
    pub position: String,
    /// Elected or appointed.
    pub kind: FulfilmentKind,
    /// The post taken: the planned one or an equivalent (catalogue code).
    pub post: String,
    /// The number of the decision (số quyết định), e.g. `125/QĐ-UBND`.
    pub decision_number: String,
    /// The date of the decision (or of the election).
    pub decided_on: chrono::NaiveDate,
    /// Who recorded it, as the audit trail names them.
    pub recorded_by: String,
    /// When it was recorded (UTC).
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

impl Fulfilment {
    /// Returns true if and only if this fulfilment takes the entry of `national_id` for
    /// `position` in `plan` out of the R2 and R20 counts: the same unit, term, person and
    /// planned position, in a version later than the one fulfilled (the next review).
    pub fn releases(&self, plan: &PlanId, national_id: &str, position: &str) -> bool {
        self.plan.unit == plan.unit
            && self.plan.term == plan.term
            && self.plan.version < plan.version
            && self.national_id == national_id
            && self.position == position
    }
}
