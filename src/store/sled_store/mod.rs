//! The sled 0.34.7 implementation of [`Store`], with group commit.
//!
//! Durability. sled's `flush()` writes its log with `sync_file_range` on Linux, which survives a
//! killed process but not a power cut, and its own `sync_all` runs only in the background. So
//! one flusher thread calls the blocking `flush()` and then `fsync`s the data file itself, and
//! wakes every waiter whose commit came before that flush began: concurrent commits share one
//! flush. `flush_async` is never used (it deadlocks in 0.34.7 with many concurrent callers,
//! sled issue 1308). Concurrent commits also share one sled transaction: a commit is staged in
//! memory (`staging.rs`, visible to reads at once) and the first waiter applies every staged
//! commit together.
//!
//! Layout (format 3, `codec.rs`; a format-2 store is upgraded when opened). A plan version is two values or more: its header in `plans`
//! and its entries and rounds as one compact record in `bodies`, cut into chunks of at most
//! 32 KiB, far below the 128 KiB at which sled would write an unsynced blob file. Every value
//! carries a CRC checked on every read, and a plan's content hash is checked when it is loaded.
//!
//! # Files
//!
//! `open.rs` opens the folder (lock, start-up repair, format check, durable-state record) and
//! reopens it after a failed flush; `flusher.rs` is the flusher thread and the durable marks it
//! advances; `write.rs` turns changes into writes, stages and applies them, and waits for the
//! flusher; `read.rs` reads through the staged commits into sled and implements [`Store`].

use std::{
    fs::File,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
};

use tokio::sync::watch;

use self::flusher::{FlushControl, Flushed};
use super::{is_disk_full, staging::Staged, Result, Store, StoreError};

mod flusher;
mod open;
mod read;
mod takeback;
#[cfg(test)]
mod tests;
mod write;

const PLANS: usize = 0;
const BODIES: usize = 1;
const OUTBOX: usize = 2;
const RECEIPTS: usize = 3;
const DECISIONS: usize = 4;
const META: usize = 5;
const DOCUMENTS: usize = 6;
const CONFLICTS: usize = 7;
const AUDIT: usize = 8;
/// The seal of each audit record, by record number (see [`crate::audit::AuditKey`]).
const AUDIT_SEALS: usize = 9;
const TREE_NAMES: [&str; 10] = [
    "plans",
    "bodies",
    "outbox",
    "receipts",
    "decisions",
    "meta",
    "documents",
    "conflicts",
    "audit",
    "audit_seals",
];
/// A tree that only stores of format 1 (JSON, one value per entry) have.
const FORMAT_1_TREE: &str = "entries";

const OUTBOX_SEQ: &str = "seq.outbox";
const DECISION_SEQ: &str = "seq.decision";
const CONFLICT_SEQ: &str = "seq.conflict";
const AUDIT_SEQ: &str = "seq.audit";

/// Staged bytes past which a commit applies the staged commits itself, so that commits nobody
/// waits for (a bulk load) do not pile up in memory.
const STAGED_LIMIT: usize = 8 * 1024 * 1024;

/// One opened sled database and its trees; replaced whole when the store is reopened after
/// a failed flush.
pub(super) struct Engine {
    pub(super) db: sled::Db,
    pub(super) trees: Vec<sled::Tree>,
    /// An exclusive lock on `quyhoach.lock` in the data folder, held while the store is open, so
    /// that the start-up repair (removing sled's partial snapshots) never touches a folder that
    /// another process has open.
    pub(super) _folder_lock: File,
}

/// A sled database with one tree per entity.
pub struct SledStore {
    /// The open database; `None` only while a reopen is failing.
    engine: std::sync::RwLock<Option<Arc<Engine>>>,
    /// Serializes commits so that keys and counters computed before staging hold when staged.
    commit_lock: Mutex<()>,
    /// Commits staged and not yet applied to sled.
    staged: Mutex<Staged>,
    /// Held by whoever applies staged commits to sled, so that they are applied in order.
    apply_lock: Mutex<()>,
    /// Ticket of the latest commit applied to sled (the flusher makes up to it durable).
    applied: Arc<AtomicU64>,
    /// Tells waiters that an applier finished (the ticket it reached).
    applied_tx: watch::Sender<u64>,
    /// How many sled transactions have applied commits.
    transactions: AtomicU64,
    control: Arc<FlushControl>,
    flushed: watch::Receiver<Flushed>,
    /// Publishes what is durable; shared with the flusher thread of each engine.
    flushed_tx: Arc<watch::Sender<Flushed>>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
    /// The key audit records are sealed with; set once, before the first commit, and never
    /// written into the store.
    audit_key: std::sync::OnceLock<crate::audit::AuditKey>,
    /// The keys the node sealed with before `audit_key` (renewed TLS keys), for verifying only.
    earlier_audit_keys: std::sync::OnceLock<Vec<crate::audit::AuditKey>>,
}

impl SledStore {
    /// Seals every audit record written from now on with `key` (a second call is ignored);
    /// `earlier` are the keys the node sealed with before (renewed TLS keys), which
    /// [`Store::earlier_audit_keys`] hands to whoever verifies the trail. Logs how many records at the start of the trail carry no seal, when the last one has
    /// none: records written before the node had its key.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the last audit record or its seal cannot be read.
    pub fn set_audit_key(
        &self,
        key: crate::audit::AuditKey,
        earlier: Vec<crate::audit::AuditKey>,
    ) -> Result<()> {
        if let Some((k, _)) = self.raw_last(AUDIT)? {
            if self.raw(AUDIT_SEALS, &k)?.is_none() {
                let seq = self.meta(AUDIT_SEQ)?.unwrap_or(0);
                tracing::warn!(
                    unsealed = seq,
                    "audit records up to this one carry no seal (written before the node had \
                     an audit key); verify them with --unsealed"
                );
            }
        }
        let _ = self.audit_key.set(key);
        let _ = self.earlier_audit_keys.set(earlier);
        Ok(())
    }

    /// What the store lacks compared with its durable-state record, if it was found behind
    /// it at open (then every write is refused).
    pub fn behind(&self) -> Option<&str> {
        self.control.behind.as_deref()
    }

    /// The open database.
    fn engine(&self) -> Result<Arc<Engine>> {
        self.engine
            .read()
            .map_err(|_| StoreError::FlusherGone)?
            .clone()
            .ok_or_else(|| self.unavailable())
    }

    /// Free bytes on the file system that holds the store, if it can be asked.
    fn free_space(&self) -> Option<u64> {
        let c = std::ffi::CString::new(self.path.as_os_str().as_encoded_bytes()).ok()?;
        // SAFETY: statvfs(3) writes only into the zeroed struct we pass, and reads a valid
        // NUL-terminated path.
        unsafe {
            let mut st: libc::statvfs = std::mem::zeroed();
            (libc::statvfs(c.as_ptr(), &mut st) == 0)
                .then(|| st.f_bavail as u64 * st.f_frsize as u64)
        }
    }

    /// The error a write gets while the store is failed: [`StoreError::Full`] when the disk
    /// is full, else [`StoreError::Reopening`].
    fn refused(&self) -> StoreError {
        if self.control.full.load(Ordering::Acquire) {
            return self.full(self.free_space().unwrap_or(0));
        }
        self.unavailable()
    }

    /// The error a read gets while the store is failed: [`StoreError::Reopening`], naming a
    /// full disk and its free bytes when that is the cause.
    fn unavailable(&self) -> StoreError {
        let why = if self.control.full.load(Ordering::Acquire) {
            format!(
                "the disk holding it is full, {} bytes free: free space there",
                self.free_space().unwrap_or(0)
            )
        } else {
            self.control
                .why
                .lock()
                .map(|w| w.clone())
                .unwrap_or_default()
        };
        StoreError::Reopening {
            path: self.path.display().to_string(),
            why,
        }
    }

    /// Runs one read of the store, refusing it while the store is failed and when a failure
    /// or a reopen happened while it ran (it may have read the failed engine: a refused or
    /// half-applied commit). An I/O error of sled itself fails the store (sled finishes tree
    /// splits during reads, and its error is sticky).
    fn guarded<T>(&self, read: impl FnOnce() -> Result<T>) -> Result<T> {
        let epoch = self.control.epoch.load(Ordering::Acquire);
        if self.control.failed.load(Ordering::Acquire) {
            return Err(self.unavailable());
        }
        let result = read();
        if let Err(StoreError::Engine(sled::Error::Io(e))) = &result {
            let full = is_disk_full(e);
            self.control
                .fail(&self.flushed_tx, format!("a read failed: {e}"), full);
        }
        if self.control.failed.load(Ordering::Acquire)
            || self.control.epoch.load(Ordering::Acquire) != epoch
        {
            return Err(self.unavailable());
        }
        result
    }

    /// The error a write gets while the disk is full.
    fn full(&self, free: u64) -> StoreError {
        StoreError::Full {
            path: self.path.display().to_string(),
            free,
        }
    }

    /// The outbox and decision sequence numbers at or below which everything is durable.
    fn durable_marks(&self) -> Result<(u64, u64)> {
        let marks = self
            .control
            .marks
            .lock()
            .map_err(|_| StoreError::FlusherGone)?;
        Ok((marks.durable.outbox_seq, marks.durable.decision_seq))
    }

    /// The folder the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many sled transactions have applied commits so far: fewer than the commits when
    /// concurrent commits shared transactions.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        if let Ok(mut closing) = self.control.closing.lock() {
            *closing = true;
        }
        self.control.reopen_wake.notify_all();
        // A failed store closing: one last reopen takes back what sled wrote of refused
        // commits, if there is room; else the failed engine is dropped unflushed.
        if self.control.failed.load(Ordering::Acquire) {
            if let Err(e) = self.reopen() {
                tracing::error!(error = %e, "the failed store could not be reopened at close");
            }
        }
        if let Ok(_guard) = self.apply_lock.lock() {
            if let Err(e) = self.apply_staged() {
                tracing::error!(error = %e, "staged commits not applied at close");
            }
        }
        if let Ok(mut wanted) = self.control.wanted.lock() {
            wanted.1 = true;
        }
        self.control.wake.notify_all();
        if let Some(handle) = self.flusher.lock().ok().and_then(|mut h| h.take()) {
            let _ = handle.join();
        }
        if let Ok(engine) =
            self.engine()
                .and_then(|e| match self.control.failed.load(Ordering::Acquire) {
                    true => Err(self.unavailable()),
                    false => Ok(e),
                })
        {
            let synced = engine.db.flush().is_ok()
                && File::open(self.path.join("db"))
                    .and_then(|f| f.sync_data())
                    .is_ok();
            if synced && !self.control.failed.load(Ordering::Acquire) {
                let applied = self.applied.load(Ordering::Acquire);
                if let Ok(mut marks) = self.control.marks.lock() {
                    marks.flushed(applied);
                }
                self.control.write_state();
            }
        }
    }
}
