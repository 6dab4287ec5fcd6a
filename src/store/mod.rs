//! Storage behind a trait. The store owns keys, encoding and atomicity: a caller hands it a
//! list of [`Change`]s, the store applies them in one transaction and returns a ticket, and
//! [`Store::wait_durable`] resolves once that ticket is on disk. Nothing is acknowledged before
//! that. The only implementation is [`SledStore`]; tests open it on a temporary folder.

pub mod codec;
mod keys;
mod sled_store;
mod staging;
pub mod state;
pub mod trail;

use crate::domain::{Conflict, Decision, OutboxItem, Plan, PlanHeader, PlanId, Receipt};

pub use sled_store::SledStore;

/// Returns true if and only if `e` says the disk is full (ENOSPC, or EDQUOT for a quota).
pub(crate) fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        || e.to_string().contains("No space left on device")
}

impl StoreError {
    /// Returns true if and only if this failure is the disk being full: [`StoreError::Full`],
    /// or an I/O error of sled or of the store's own files that says so (one that reached the
    /// caller before the store marked itself failed). Such a refusal is the operator's to
    /// fix by freeing space, never an internal error (docs/full-disk.md).
    pub fn says_disk_full(&self) -> bool {
        match self {
            StoreError::Full { .. } => true,
            StoreError::Engine(sled::Error::Io(e)) | StoreError::Io(e) => is_disk_full(e),
            StoreError::Transaction(why) => why.contains("No space left on device"),
            _ => false,
        }
    }
}

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
    /// A flush or a transaction failed because the disk is full: writes are refused (and reads
    /// answer [`StoreError::Reopening`]) until space is freed and the store has reopened itself.
    #[error("the disk holding the data folder {path} is full ({free} bytes free): writes are refused until space is freed there; the store then reopens by itself")]
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
    /// A flush or a transaction failed (the disk is full, or another I/O error): the store
    /// serves nothing from the failed engine and is being reopened from disk in the
    /// background; reads and writes resume by themselves once it is.
    #[error("the store in {path} is being reopened from disk after a failed write ({why}); reads and writes resume by themselves once it is, try again")]
    Reopening {
        /// The data folder.
        path: String,
        /// What failed, naming a full disk and its free bytes when that is the cause.
        why: String,
    },
}

/// The storage layer's result, with [`StoreError`] as its error.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Document `key` of `store` read as a `T` (it is JSON); none when there is no such document.
///
/// # Errors
///
/// [`StoreError::Corrupt`] naming `key` if the document is not a `T`; the store's errors.
pub fn decoded_document<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<T>> {
    store
        .document(key)?
        .map(|v| decode(key.to_string(), v))
        .transpose()
}

/// Every document of `store` whose name starts with `prefix`, read as a `T`, in name order.
///
/// # Errors
///
/// [`StoreError::Corrupt`] naming the first document that is not a `T`; the store's errors.
pub fn decoded_documents<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    prefix: &str,
) -> Result<Vec<T>> {
    store
        .documents(prefix)?
        .into_iter()
        .map(|(key, v)| decode(key, v))
        .collect()
}

fn decode<T: serde::de::DeserializeOwned>(key: String, value: serde_json::Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| StoreError::Corrupt {
        key,
        reason: e.to_string(),
    })
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
    /// The keys the node sealed with before [`Store::audit_key`] (its earlier TLS keys, kept
    /// by `certs node --renew`): records of their time verify with them, none is sealed with.
    fn earlier_audit_keys(&self) -> &[crate::audit::AuditKey] {
        &[]
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
    /// Whether the commit of `ticket` was refused: its [`Store::wait_durable`] answers an
    /// error, and it is not (and never becomes) part of what the store holds. When it is, every
    /// commit before it is either durable or refused too, so whoever follows the commits in
    /// order (the node's view) skips it and goes on. A store that never refuses a commit
    /// after accepting it answers false.
    fn refused(&self, ticket: u64) -> bool {
        let _ = ticket;
        false
    }
}
