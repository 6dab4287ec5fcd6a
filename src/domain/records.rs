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
