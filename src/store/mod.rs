//! Storage behind a trait. The store owns keys, encoding and atomicity: a caller hands it a
//! list of [`Change`]s, the store applies them in one transaction and returns a ticket, and
//! [`Store::wait_durable`] resolves once that ticket is on disk. Nothing is acknowledged before
//! that. The only implementation is [`SledStore`]; tests open it on a temporary folder.

pub mod codec;
mod keys;
mod sled_store;
mod staging;
pub mod state;

use serde::{Deserialize, Serialize};

use crate::domain::{BallotRound, Decision, Entry, Plan, PlanId, PlanStatus};

pub use sled_store::SledStore;

/// Errors of the storage layer: all are failures, never expected outcomes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The sled engine failed.
    #[error("storage engine: {0}")]
    Engine(#[from] sled::Error),
    /// A sled transaction aborted or failed; the text says why.
    #[error("storage transaction: {0}")]
    Transaction(String),
    /// A stored record could not be decoded: the store is damaged or was written by another
    /// version.
    #[error("stored record {key} cannot be decoded: {reason}")]
    Corrupt {
        /// The key of the record that failed to decode.
        key: String,
        /// Why it failed.
        reason: String,
    },
    /// A file operation of the store (outside sled) failed.
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The group-commit flusher thread has stopped, so no write can be made durable.
    #[error("the flusher thread has stopped")]
    FlusherGone,
    /// The folder holds a store this version cannot read.
    #[error("the store in {} cannot be opened: {reason}", path.display())]
    Format {
        /// The folder holding the store.
        path: std::path::PathBuf,
        /// Why it cannot be opened.
        reason: String,
    },
    /// A flush failed because the disk is full: writes are refused, reads go on, and writes
    /// resume by themselves once there is space again.
    #[error("the disk holding the data folder {path} is full ({free} bytes free): writes are refused until space is freed there; reads go on")]
    Full {
        /// The data folder whose disk is full.
        path: String,
        /// Bytes free on that disk when the flush failed.
        free: u64,
    },
    /// The store holds less than its durable-state record says was on disk: it has lost data.
    /// Writes are refused until someone decides how to recover.
    #[error("{0}")]
    Behind(String),
    /// The store is being reopened after a failed flush and could not be opened yet.
    #[error("the store in {0} is being reopened after a failed flush; try again")]
    Reopening(String),
}

/// The storage layer's result, with [`StoreError`] as its error.
pub type Result<T> = std::result::Result<T, StoreError>;

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

/// One change in a transaction.
#[derive(Debug, Clone)]
pub enum Change {
    /// Writes a whole plan version: header, entries and rounds, replacing any it had.
    PutPlan(Plan),
    /// Rewrites only the header of an existing version (status, decision).
    PutHeader(PlanHeader),
    /// Appends to the outbox; the store assigns the sequence number.
    Enqueue(OutboxItem),
    /// Removes a delivered outbox item.
    Dequeue(u64),
    /// Records a receipt (given, at a parent; or held, at a child).
    PutReceipt(Receipt),
    /// Appends a decision to the log the deciding node's children pull from.
    LogDecision(Decision),
    /// Sets a named counter or cursor.
    SetMeta(String, u64),
    /// Sets a named small JSON document (reference data, findings, acceptances).
    SetDocument(String, serde_json::Value),
    /// Removes a named document.
    DeleteDocument(String),
    /// Records a refused conflicting push.
    RecordConflict(Conflict),
    /// Raises the decision sequence so that the next decision is numbered above this one
    /// (a parent restored from a backup, told by a child what it has already pulled).
    AtLeastDecisionSeq(u64),
    /// Appends to the audit trail; the store numbers and chains it.
    Audit(crate::audit::AuditEvent),
}

/// The storage a node needs.
pub trait Store: Send + Sync + 'static {
    /// One plan version, whole.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the engine fails, a stored record cannot be decoded
    /// ([`StoreError::Corrupt`]), or the store is being reopened after a failed flush.
    fn plan(&self, id: &PlanId) -> Result<Option<Plan>>;
    /// The header of one plan version.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the engine fails, a stored record cannot be decoded
    /// ([`StoreError::Corrupt`]), or the store is being reopened after a failed flush.
    fn header(&self, id: &PlanId) -> Result<Option<PlanHeader>>;
    /// The highest version stored for (unit, term).
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the engine fails, a stored record cannot be decoded
    /// ([`StoreError::Corrupt`]), or the store is being reopened after a failed flush.
    fn latest_version(&self, unit: &str, term: &str) -> Result<Option<u32>>;
    /// Every plan header, in key order (unit, term, version).
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the engine fails, a stored record cannot be decoded
    /// ([`StoreError::Corrupt`]), or the store is being reopened after a failed flush.
    fn headers(&self) -> Result<Vec<PlanHeader>>;
    /// The headers of the plans whose (unit, term) `keep` accepts, in key order; the others
    /// are not decoded.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the engine fails, a stored record cannot be decoded
    /// ([`StoreError::Corrupt`]), or the store is being reopened after a failed flush.
    fn headers_where(&self, keep: &dyn Fn(&str, &str) -> bool) -> Result<Vec<PlanHeader>>;
    /// The outbox, oldest first: only items whose commit is on disk, so that nothing is pushed
    /// that a crash could take back.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the engine fails, a stored record cannot be decoded
    /// ([`StoreError::Corrupt`]), or the store is being reopened after a failed flush.
    fn outbox(&self) -> Result<Vec<(u64, OutboxItem)>>;
    /// The parent's receipt for the push of `id`, if one is held.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the engine fails, a stored record cannot be decoded
    /// ([`StoreError::Corrupt`]), or the store is being reopened after a failed flush.
    fn receipt(&self, id: &PlanId) -> Result<Option<Receipt>>;
    /// Decisions logged for plans of `unit`, with sequence numbers above `after`: only those
    /// whose commit is on disk, so that a sequence number served is never reused after a crash.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the engine fails, a stored record cannot be decoded
    /// ([`StoreError::Corrupt`]), or the store is being reopened after a failed flush.
    fn decisions_for(&self, unit: &str, after: u64) -> Result<Vec<(u64, Decision)>>;
    /// A named counter kept in the store's metadata, if set.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the engine fails, a stored record cannot be decoded
    /// ([`StoreError::Corrupt`]), or the store is being reopened after a failed flush.
    fn meta(&self, key: &str) -> Result<Option<u64>>;
    /// A named JSON document.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the engine fails, a stored record cannot be decoded
    /// ([`StoreError::Corrupt`]), or the store is being reopened after a failed flush.
    fn document(&self, key: &str) -> Result<Option<serde_json::Value>>;
    /// Every document whose name starts with `prefix`, in name order.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the engine fails, a stored record cannot be decoded
    /// ([`StoreError::Corrupt`]), or the store is being reopened after a failed flush.
    fn documents(&self, prefix: &str) -> Result<Vec<(String, serde_json::Value)>>;
    /// The audit trail in stored order, and how many records the store says it wrote.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the engine fails, a stored record cannot be decoded
    /// ([`StoreError::Corrupt`]), or the store is being reopened after a failed flush.
    fn audit(&self) -> Result<(Vec<crate::audit::AuditRecord>, u64)>;
    /// The last durable audit record's sequence number and digest: what a child shows its
    /// parent (a record not yet on disk could be lost in a crash after the parent saw it).
    ///
    /// # Errors
    ///
    /// [`StoreError`] if reading the audit trail fails (see [`Store::audit`]).
    fn audit_head(&self) -> Result<Option<(u64, String)>> {
        Ok(self.audit()?.0.last().map(|r| (r.seq, r.digest.clone())))
    }
    /// The seals of the audit records, by record number: what the store's audit key made of
    /// each record's number and digest (none for records written without a key).
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the engine fails, a stored seal cannot be decoded
    /// ([`StoreError::Corrupt`]), or the store is being reopened after a failed flush.
    fn audit_seals(&self) -> Result<std::collections::BTreeMap<u64, String>> {
        Ok(Default::default())
    }
    /// The key with which the store seals the audit records it writes, if it was given one
    /// (it is never written into the store).
    fn audit_key(&self) -> Option<&crate::audit::AuditKey> {
        None
    }
    /// Every recorded conflict, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the engine fails, a stored record cannot be decoded
    /// ([`StoreError::Corrupt`]), or the store is being reopened after a failed flush.
    fn conflicts(&self) -> Result<Vec<Conflict>>;
    /// Applies every change atomically (all or nothing) and returns a ticket for
    /// [`Store::wait_durable`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Behind`] if the store has lost data, [`StoreError::Full`] while the disk is
    /// full, [`StoreError::Transaction`] if the transaction fails, or another [`StoreError`] if
    /// the engine or the flusher fails; nothing is applied then.
    fn commit(&self, changes: Vec<Change>) -> Result<u64>;
    /// Resolves once everything committed up to `ticket` is flushed and synced to disk.
    fn wait_durable(
        &self,
        ticket: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + '_>>;
    /// The ticket of the latest commit, for acknowledging reads of state that may not be
    /// durable yet (a duplicate push answered from memory).
    fn last_ticket(&self) -> u64;
}
