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

use std::{
    fs::File,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Condvar, Mutex, MutexGuard,
    },
    thread::JoinHandle,
};

use serde::de::DeserializeOwned;
use sled::{transaction::TransactionError, IVec, Transactional, Tree};
use tokio::sync::watch;

use super::{
    codec, keys,
    staging::{self, Staged, Write},
    state::{self, DurableState},
    Change, Conflict, OutboxItem, PlanHeader, Receipt, Result, Store, StoreError,
};
use crate::{
    audit::AuditRecord,
    domain::{Decision, Plan, PlanId, PlanStatus},
};

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

/// What the flusher has made durable, as waiters see it.
#[derive(Debug, Clone, Default)]
struct Flushed {
    /// Every commit with a ticket up to this one, and not in `lost`, is on disk.
    ticket: u64,
    /// Ranges of tickets (first, last) whose flush failed: they are never acknowledged. The
    /// last range is open (`u64::MAX`) while the store is failed; it closes at the reopen.
    lost: Vec<(u64, u64)>,
    /// Why the last flush failed, and whether it was because the disk is full.
    error: Option<(String, bool)>,
}

impl Flushed {
    /// Returns true if and only if the commit with `ticket` can never become durable.
    fn is_lost(&self, ticket: u64) -> bool {
        self.lost.iter().any(|&(a, b)| a <= ticket && ticket <= b)
    }
}

/// The highest outbox and decision sequence numbers that are on disk, and those of commits
/// staged but not yet flushed. Readers of the outbox and the decision log see only what is at
/// or below the durable marks, so that nothing leaves the node before it is on disk and no
/// sequence number handed out can be lost (and reused) in a crash.
#[derive(Debug, Default)]
struct Marks {
    /// What is on disk: the outbox and decision sequence numbers up to which every item is
    /// durable, and the audit sequence and head (for the durable-state record).
    durable: DurableState,
    /// (ticket, state after that commit) for each commit not yet known to be durable, in
    /// ticket order.
    pending: std::collections::VecDeque<(u64, DurableState)>,
}

impl Marks {
    /// The marks of a store just opened: everything in it is on disk.
    fn of(trees: &[Tree]) -> Result<Self> {
        let meta = |key: &str| -> Result<u64> {
            trees[META]
                .get(key.as_bytes())?
                .map(|v| codec::decode_u64(TREE_NAMES[META], key.as_bytes(), &v))
                .transpose()
                .map(|v| v.unwrap_or(0))
        };
        let audit_head = match trees[AUDIT].last()? {
            Some((k, v)) => codec::decode::<AuditRecord>(TREE_NAMES[AUDIT], &k, &v)?.digest,
            None => String::new(),
        };
        Ok(Marks {
            durable: DurableState {
                audit_seq: meta(AUDIT_SEQ)?,
                audit_head,
                decision_seq: meta(DECISION_SEQ)?,
                outbox_seq: meta(OUTBOX_SEQ)?,
            },
            pending: Default::default(),
        })
    }

    /// Everything up to `ticket` is on disk: advance the durable marks.
    fn flushed(&mut self, ticket: u64) {
        while self.pending.front().is_some_and(|(t, _)| *t <= ticket) {
            if let Some((_, state)) = self.pending.pop_front() {
                self.durable = state;
            }
        }
    }
}

/// Shared between the store and its flusher thread.
struct FlushControl {
    /// Highest ticket some waiter asked to be made durable, and whether to stop.
    wanted: Mutex<(u64, bool)>,
    wake: Condvar,
    /// Durable and pending sequence marks, advanced by the flusher.
    marks: Mutex<Marks>,
    /// A test-only pause before every flush (`QUYHOACH_FLUSH_DELAY_MS`, see [`crate::fault`]).
    delay: Option<std::time::Duration>,
    /// Set by the flusher when a flush fails: sled's error is sticky, so the store refuses
    /// writes until it is reopened.
    failed: std::sync::atomic::AtomicBool,
    /// Set when a flush or a transaction failed because the disk is full.
    full: std::sync::atomic::AtomicBool,
    /// Where the durable-state record lives (`<data>.state`).
    state_path: PathBuf,
    /// False when the store's own counters could not be read at open (damage the reads
    /// report): the record is then neither checked nor overwritten.
    record: bool,
    /// Set at open when the store is behind its durable-state record: what it lacks. Writes
    /// are refused and the record is left as it is, as evidence.
    behind: Option<String>,
}

impl FlushControl {
    /// Writes the durable-state record from the durable marks, unless the store is behind it.
    fn write_state(&self) {
        if self.behind.is_some() || !self.record {
            return;
        }
        let Ok(state) = self.marks.lock().map(|m| m.durable.clone()) else {
            return;
        };
        if let Err(e) = state::write(&self.state_path, &state) {
            tracing::warn!(file = %self.state_path.display(), error = %e, "cannot write the durable-state record");
        }
    }
}

/// One opened sled database and its trees; replaced whole when the store is reopened after
/// a failed flush.
struct Engine {
    db: sled::Db,
    trees: Vec<Tree>,
    /// An exclusive lock on `quyhoach.lock` in the data folder, held while the store is open, so
    /// that the start-up repair (removing sled's partial snapshots) never touches a folder that
    /// another process has open.
    _folder_lock: File,
}

/// How long opening waits for the folder's previous holder to let go (a process that is still
/// exiting, or this process's previous handle whose sled threads are still closing) before it
/// reports that the store is in use.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Takes the folder's lock, waiting up to [`LOCK_WAIT`] for a holder that is closing.
fn lock_folder(path: &Path) -> Result<File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.join("quyhoach.lock"))?;
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Io(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    format!("the store in {} is open in another process", path.display()),
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::Io(e)),
        }
    }
}

/// Opens sled on `path`, waiting up to [`LOCK_WAIT`] while sled's own lock on its `db` file is
/// still held by threads of a handle that is closing (sled 0.34.7 releases it only when its
/// background threads end).
fn open_sled(path: &Path) -> Result<sled::Db> {
    let started = std::time::Instant::now();
    loop {
        let opened = sled::Config::new()
            .path(path)
            .cache_capacity(16 * 1024 * 1024)
            .flush_every_ms(Some(1000))
            .open();
        match opened {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && started.elapsed() < LOCK_WAIT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return Ok(other?),
        }
    }
}

/// The least free space (bytes) at which a failed store tries to reopen and write again.
const MIN_FREE: u64 = 1024 * 1024;

/// Opens sled on `path` with a small page cache, checks its format, and syncs what it created.
fn open_engine(path: &Path) -> Result<Engine> {
    let folder_lock = lock_folder(path)?;
    remove_partial_snapshots(path)?;
    let db = open_sled(path)?;
    let found = check_format(&db, path)?;
    let trees = TREE_NAMES
        .iter()
        .map(|name| db.open_tree(name))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if found == Some(2) {
        upgrade_2_to_3(&trees)?;
    }
    let format_key = codec::FORMAT_KEY.as_bytes();
    if trees[META].get(format_key)?.is_none() {
        trees[META].insert(format_key, codec::encode_u64(format_key, codec::FORMAT))?;
    }
    // Make the files sled created reachable after a power cut.
    db.flush()?;
    File::open(path.join("db"))?.sync_all()?;
    File::open(path)?.sync_all()?;
    Ok(Engine {
        db,
        trees,
        _folder_lock: folder_lock,
    })
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
}

impl SledStore {
    /// Opens (or creates) a store in `path`, with a small page cache.
    ///
    /// # Errors
    ///
    /// [`StoreError::Format`] for a store written in another format (format 1, the JSON encoding
    /// of quyhoach before the compact one, or a newer one); otherwise sled's and the file
    /// system's errors.
    pub fn open(path: &Path) -> Result<Arc<Self>> {
        std::fs::create_dir_all(path)?;
        let engine = open_engine(path)?;
        let applied = Arc::new(AtomicU64::new(0));
        let state_path = state::path_for(path);
        let (marks, record) = match Marks::of(&engine.trees) {
            Ok(marks) => (marks, true),
            Err(e) => {
                tracing::error!(error = %e, "the store's counters cannot be read; the durable-state record is left alone");
                (Marks::default(), false)
            }
        };
        let behind = match (record, state::read(&state_path)?) {
            (true, Some(recorded)) => state::behind(&marks.durable, &recorded, |seq| {
                let key = seq.to_be_bytes();
                let v = engine.trees[AUDIT].get(key).ok()??;
                codec::decode::<AuditRecord>(TREE_NAMES[AUDIT], &key, &v)
                    .ok()
                    .map(|r| r.digest)
            })
            .map(|missing| {
                format!(
                    "the store in {} has lost data: it lacks {missing}, which {} records as \
                     durable. Writes are refused; reads go on. To recover, stop the node and keep \
                     a copy of both; then put back a newer copy of the store, or accept the loss \
                     by moving {} aside and starting again: the children push again what they \
                     hold receipts for and the parent's decisions come down again (README, \
                     Recovery)",
                    path.display(),
                    state_path.display(),
                    state_path.display()
                )
            }),
            _ => None,
        };
        if let Some(why) = &behind {
            tracing::error!(reason = %why, "store behind its durable-state record; writes refused");
        }
        let control = Arc::new(FlushControl {
            wanted: Mutex::new((0, false)),
            wake: Condvar::new(),
            marks: Mutex::new(marks),
            delay: crate::fault::flush_delay(),
            failed: Default::default(),
            full: Default::default(),
            state_path,
            record,
            behind,
        });
        control.write_state();
        let (tx, rx) = watch::channel(Flushed::default());
        let store = Self {
            engine: std::sync::RwLock::new(None),
            commit_lock: Mutex::new(()),
            staged: Mutex::new(Staged::new(TREE_NAMES.len())),
            apply_lock: Mutex::new(()),
            applied,
            applied_tx: watch::channel(0).0,
            transactions: AtomicU64::new(0),
            control,
            flushed: rx,
            flushed_tx: Arc::new(tx),
            flusher: Mutex::new(None),
            path: path.to_path_buf(),
            audit_key: std::sync::OnceLock::new(),
        };
        store.spawn_flusher(&engine, 0)?;
        *store.engine.write().map_err(|_| StoreError::FlusherGone)? = Some(Arc::new(engine));
        Ok(Arc::new(store))
    }

    /// Starts the flusher thread of `engine`, counting from ticket `done`.
    fn spawn_flusher(&self, engine: &Engine, done: u64) -> Result<()> {
        let flusher = {
            let (db, applied, control) = (
                engine.db.clone(),
                self.applied.clone(),
                self.control.clone(),
            );
            let (tx, data_file) = (self.flushed_tx.clone(), self.path.join("db"));
            std::thread::Builder::new()
                .name("sled-flusher".into())
                .spawn(move || flush_loop(db, data_file, applied, control, tx, done))?
        };
        *self.flusher.lock().map_err(|_| StoreError::FlusherGone)? = Some(flusher);
        Ok(())
    }

    /// Seals every audit record written from now on with `key` (a second call is ignored).
    /// Logs how many records at the start of the trail carry no seal, when the last one has
    /// none: records written before the node had its key.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the last audit record or its seal cannot be read.
    pub fn set_audit_key(&self, key: crate::audit::AuditKey) -> Result<()> {
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
            .ok_or_else(|| StoreError::Reopening(self.path.display().to_string()))
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

    /// The error a write gets while the disk is full.
    fn full(&self, free: u64) -> StoreError {
        StoreError::Full {
            path: self.path.display().to_string(),
            free,
        }
    }

    /// After a failed flush: if there is space again, closes sled (its error is sticky) and
    /// opens it again on what is on disk, with a new flusher. Commits that were not flushed
    /// are gone (anything still staged is discarded); none of them was acknowledged. Called
    /// under the commit lock.
    fn recover(&self) -> Result<()> {
        let free = self.free_space().unwrap_or(u64::MAX);
        if free < MIN_FREE {
            return Err(self.full(free));
        }
        tracing::warn!(path = %self.path.display(), free, "reopening the store after a failed flush");
        let _apply = self
            .apply_lock
            .lock()
            .map_err(|_| StoreError::FlusherGone)?;
        {
            let mut staged = self.staged()?;
            let first = self.applied.load(Ordering::Acquire) + 1;
            staged.discard(first, "the store was reopened after a failed flush".into());
        }
        if let Some(handle) = self
            .flusher
            .lock()
            .map_err(|_| StoreError::FlusherGone)?
            .take()
        {
            let _ = handle.join();
        }
        let mut slot = self.engine.write().map_err(|_| StoreError::FlusherGone)?;
        drop(slot.take());
        // A reader that cloned the old engine a moment ago may still hold sled's file lock:
        // `open_engine` waits for it (`LOCK_WAIT`).
        let engine = open_engine(&self.path)?;
        // Every ticket handed out so far is either on disk or lost.
        let last = self.staged()?.last_ticket();
        self.applied.store(last, Ordering::Release);
        *self
            .control
            .marks
            .lock()
            .map_err(|_| StoreError::FlusherGone)? = Marks::of(&engine.trees)?;
        if let Ok(mut wanted) = self.control.wanted.lock() {
            wanted.0 = wanted.0.max(last);
        }
        self.flushed_tx.send_modify(|f| {
            if let Some(range) = f.lost.last_mut() {
                range.1 = last;
            }
            f.ticket = last;
            f.error = None;
        });
        self.control.failed.store(false, Ordering::Release);
        self.control.full.store(false, Ordering::Release);
        self.spawn_flusher(&engine, last)?;
        *slot = Some(Arc::new(engine));
        tracing::info!(path = %self.path.display(), "store reopened; writes resume");
        Ok(())
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

    fn staged(&self) -> Result<MutexGuard<'_, Staged>> {
        self.staged.lock().map_err(|_| StoreError::FlusherGone)
    }

    /// One raw value, staged or in sled.
    fn raw(&self, tree: usize, key: &[u8]) -> Result<Option<IVec>> {
        if let Some(staged) = self.staged()?.get(tree, key) {
            return Ok(staged);
        }
        Ok(self.engine()?.trees[tree].get(key)?)
    }

    /// Raw values of the keys that start with `prefix`, staged or in sled, in key order.
    fn raw_prefix(&self, tree: usize, prefix: &[u8]) -> Result<Vec<(IVec, IVec)>> {
        let staged = self.staged()?.from(tree, prefix, |k| k.starts_with(prefix));
        Ok(staging::merge(
            self.engine()?.trees[tree].scan_prefix(prefix),
            staged,
        )?)
    }

    /// Raw values of the keys in `lo..=hi`, staged or in sled, in key order.
    fn raw_range(&self, tree: usize, lo: &[u8], hi: &[u8]) -> Result<Vec<(IVec, IVec)>> {
        let staged = self.staged()?.from(tree, lo, |k| k <= hi);
        Ok(staging::merge(
            self.engine()?.trees[tree].range(lo..=hi),
            staged,
        )?)
    }

    /// The greatest key of an append-only tree with its value.
    fn raw_last(&self, tree: usize) -> Result<Option<(IVec, IVec)>> {
        let staged = self.staged()?.last(tree);
        let base = self.engine()?.trees[tree].last()?;
        Ok(match (staged, base) {
            (Some((k, Some(v))), Some((bk, _))) if k.as_slice() >= bk.as_ref() => {
                Some((k.into(), v))
            }
            (Some((k, Some(v))), None) => Some((k.into(), v)),
            (_, base) => base,
        })
    }

    fn get<T: DeserializeOwned>(&self, tree: usize, key: &[u8]) -> Result<Option<T>> {
        self.raw(tree, key)?
            .map(|v| codec::decode(TREE_NAMES[tree], key, &v))
            .transpose()
    }

    fn scan<T: DeserializeOwned>(&self, tree: usize, prefix: &[u8]) -> Result<Vec<T>> {
        self.raw_prefix(tree, prefix)?
            .iter()
            .map(|(k, v)| codec::decode(TREE_NAMES[tree], k, v))
            .collect()
    }

    /// Turns changes into plain writes (tree, key, value or delete), reading what must be
    /// replaced. Called under the commit lock.
    fn plan_writes(&self, changes: Vec<Change>) -> Result<(Vec<Write>, DurableState)> {
        let mut out: Vec<Write> = Vec::new();
        let mut outbox_seq = self.meta(OUTBOX_SEQ)?.unwrap_or(0);
        let mut decision_seq = self.meta(DECISION_SEQ)?.unwrap_or(0);
        let mut conflict_seq = self.meta(CONFLICT_SEQ)?.unwrap_or(0);
        let mut audit_seq = self.meta(AUDIT_SEQ)?.unwrap_or(0);
        let start_audit = audit_seq;
        let mut audit_prev: Option<String> = None;
        let (start_outbox, start_decision, start_conflict) =
            (outbox_seq, decision_seq, conflict_seq);
        let put = |out: &mut Vec<Write>, tree: usize, key: Vec<u8>, value: Vec<u8>| {
            out.push((tree, key, Some(IVec::from(value))))
        };
        for change in changes {
            match change {
                Change::PutPlan(plan) => {
                    let chunks = codec::encode_body(&plan);
                    // A shorter body than the one it replaces leaves no chunk behind.
                    for (key, _) in self.raw_prefix(BODIES, &keys::items_prefix(&plan.id))? {
                        if !chunks.iter().any(|(k, _)| k.as_slice() == key.as_ref()) {
                            out.push((BODIES, key.to_vec(), None));
                        }
                    }
                    for (key, value) in chunks {
                        put(&mut out, BODIES, key, value);
                    }
                    let key = keys::plan(&plan.id);
                    let value = codec::encode(&key, &PlanHeader::of(&plan));
                    put(&mut out, PLANS, key, value);
                }
                Change::PutHeader(h) => {
                    let key = keys::plan(&h.id);
                    let value = codec::encode(&key, &h);
                    put(&mut out, PLANS, key, value);
                }
                Change::Enqueue(item) => {
                    outbox_seq += 1;
                    let key = outbox_seq.to_be_bytes().to_vec();
                    let value = codec::encode(&key, &item);
                    put(&mut out, OUTBOX, key, value);
                }
                Change::Dequeue(seq) => out.push((OUTBOX, seq.to_be_bytes().to_vec(), None)),
                Change::PutReceipt(r) => {
                    let key = keys::plan(&r.plan);
                    let value = codec::encode(&key, &r);
                    put(&mut out, RECEIPTS, key, value);
                }
                Change::LogDecision(d) => {
                    decision_seq += 1;
                    let key = keys::decision(&d.plan.unit, decision_seq);
                    let value = codec::encode(&key, &d);
                    put(&mut out, DECISIONS, key, value);
                }
                Change::SetDocument(key, value) => {
                    let key = key.into_bytes();
                    let value = codec::encode_json(&key, &value);
                    put(&mut out, DOCUMENTS, key, value);
                }
                Change::Audit(event) => {
                    let prev = match audit_prev.take() {
                        Some(prev) => prev,
                        None => match self.raw_last(AUDIT)? {
                            Some((k, v)) => {
                                codec::decode::<AuditRecord>(TREE_NAMES[AUDIT], &k, &v)?.digest
                            }
                            None => String::new(),
                        },
                    };
                    audit_seq += 1;
                    let record = AuditRecord::seal(audit_seq, event, prev);
                    audit_prev = Some(record.digest.clone());
                    let key = audit_seq.to_be_bytes().to_vec();
                    if let Some(k) = self.audit_key.get() {
                        let seal = k.seal(audit_seq, &record.digest);
                        put(
                            &mut out,
                            AUDIT_SEALS,
                            key.clone(),
                            codec::encode(&key, &seal),
                        );
                    }
                    let value = codec::encode(&key, &record);
                    put(&mut out, AUDIT, key, value);
                }
                Change::DeleteDocument(key) => out.push((DOCUMENTS, key.into_bytes(), None)),
                Change::RecordConflict(c) => {
                    conflict_seq += 1;
                    let key = conflict_seq.to_be_bytes().to_vec();
                    let value = codec::encode(&key, &c);
                    put(&mut out, CONFLICTS, key, value);
                }
                Change::AtLeastDecisionSeq(seq) => decision_seq = decision_seq.max(seq),
                Change::SetMeta(key, value) => {
                    let key = key.into_bytes();
                    let value = codec::encode_u64(&key, value);
                    put(&mut out, META, key, value);
                }
            }
        }
        for (name, start, now) in [
            (OUTBOX_SEQ, start_outbox, outbox_seq),
            (AUDIT_SEQ, start_audit, audit_seq),
            (CONFLICT_SEQ, start_conflict, conflict_seq),
            (DECISION_SEQ, start_decision, decision_seq),
        ] {
            if now != start {
                let key = name.as_bytes().to_vec();
                let value = codec::encode_u64(&key, now);
                put(&mut out, META, key, value);
            }
        }
        let audit_head = match audit_prev {
            Some(head) => head,
            None => match self.raw_last(AUDIT)? {
                Some((k, v)) => codec::decode::<AuditRecord>(TREE_NAMES[AUDIT], &k, &v)?.digest,
                None => String::new(),
            },
        };
        let after = DurableState {
            audit_seq,
            audit_head,
            decision_seq,
            outbox_seq,
        };
        Ok((out, after))
    }

    /// Applies every staged commit to sled in one transaction, in ticket order. Call with the
    /// apply lock held. A failed transaction discards everything staged (later commits were
    /// computed on top of it); their waiters get the error.
    fn apply_staged(&self) -> Result<()> {
        let batches = self.staged()?.drain();
        let (Some((first, _)), Some((last, _))) = (batches.first(), batches.last()) else {
            return Ok(());
        };
        let (first, last) = (*first, *last);
        let engine = self.engine()?;
        let trees: Vec<&Tree> = engine.trees.iter().collect();
        let result = trees.as_slice().transaction(|tx| {
            for (_, writes) in &batches {
                for (tree, key, value) in writes {
                    match value {
                        Some(v) => tx[*tree].insert(key.as_slice(), v.clone())?,
                        None => tx[*tree].remove(key.as_slice())?,
                    };
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                self.transactions.fetch_add(1, Ordering::Relaxed);
                self.applied.store(last, Ordering::Release);
                self.staged()?.forget(last);
                Ok(())
            }
            Err(e) => {
                let e: TransactionError<()> = e;
                if let TransactionError::Storage(sled::Error::Io(io)) = &e {
                    if is_disk_full(io) {
                        self.control.full.store(true, Ordering::Release);
                        self.control.failed.store(true, Ordering::Release);
                    }
                }
                let reason = format!("{e:?}");
                tracing::error!(error = %reason, first, last, "staged commits discarded");
                // Nothing may be staged on top of the discarded commits meanwhile.
                let _commits = self
                    .commit_lock
                    .lock()
                    .map_err(|_| StoreError::FlusherGone)?;
                let mut staged = self.staged()?;
                staged.discard(first, reason.clone());
                self.applied.store(staged.last_ticket(), Ordering::Release);
                drop(staged);
                if let Ok(mut marks) = self.control.marks.lock() {
                    marks.pending.retain(|(t, _)| *t < first);
                }
                Err(StoreError::Transaction(reason))
            }
        }
    }

    /// Applies staged commits until `ticket` is applied; waits (without blocking the thread)
    /// while another caller applies.
    async fn applied_up_to(&self, ticket: u64) -> Result<()> {
        let mut done = self.applied_tx.subscribe();
        loop {
            done.borrow_and_update();
            if self.applied.load(Ordering::Acquire) >= ticket {
                return Ok(());
            }
            let applying = match self.apply_lock.try_lock() {
                Ok(guard) => {
                    let result = self.apply_staged();
                    drop(guard);
                    self.applied_tx
                        .send_replace(self.applied.load(Ordering::Acquire));
                    Some(result)
                }
                Err(std::sync::TryLockError::WouldBlock) => None,
                Err(std::sync::TryLockError::Poisoned(_)) => Some(Err(StoreError::FlusherGone)),
            };
            match applying {
                Some(result) => result?,
                // Woken when the current applier is done; then look again.
                None => {
                    let _ = done.changed().await;
                }
            }
        }
    }
}

/// Removes the `snap.<lsn>.generating` files that sled 0.34.7 leaves when it is interrupted
/// while writing a snapshot. Its reader takes the last snapshot file in name order, which is
/// such a leftover, and then refuses to open ("Read corrupted data"). The snapshot it was
/// writing is never needed: sled removes the previous snapshot only after the new one is
/// renamed into place, and the log still holds everything after the previous one.
fn remove_partial_snapshots(path: &Path) -> Result<()> {
    let mut removed = false;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
            tracing::warn!(
                file = %entry.path().display(),
                bytes,
                "removing a partial snapshot left by an interrupted start or stop"
            );
            std::fs::remove_file(entry.path())?;
            removed = true;
        }
    }
    if removed {
        File::open(path)?.sync_all()?;
    }
    Ok(())
}

/// Returns true if and only if `e` says the disk is full (ENOSPC, or EDQUOT for a quota).
fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        || e.to_string().contains("No space left on device")
}

/// Upgrades a format-2 store to format 3 (the 2025 attributes of cadres and discipline
/// records, with their defaults): every plan body is decoded in the old shape and written in the
/// new one, and the format mark changes in the same transaction, so that a crash leaves either
/// store whole.
fn upgrade_2_to_3(trees: &[Tree]) -> Result<()> {
    let mut removed: Vec<IVec> = Vec::new();
    let mut written: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for item in trees[PLANS].iter() {
        let (k, v) = item?;
        let header: PlanHeader = codec::decode(TREE_NAMES[PLANS], &k, &v)?;
        let chunks = trees[BODIES]
            .scan_prefix(keys::items_prefix(&header.id))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let body = codec::decode_body_v2(TREE_NAMES[BODIES], &k, chunks.iter().cloned())?;
        removed.extend(chunks.into_iter().map(|(key, _)| key));
        written.extend(codec::encode_body(
            &header.into_plan(body.entries, body.rounds),
        ));
    }
    let format_key = codec::FORMAT_KEY.as_bytes();
    let mark = codec::encode_u64(format_key, codec::FORMAT);
    (&trees[BODIES], &trees[META])
        .transaction(|(bodies, meta)| {
            for key in &removed {
                bodies.remove(key.as_ref())?;
            }
            for (key, value) in &written {
                bodies.insert(key.as_slice(), value.as_slice())?;
            }
            meta.insert(format_key, mark.as_slice())?;
            Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
        })
        .map_err(|e: TransactionError<()>| StoreError::Transaction(format!("upgrade: {e:?}")))?;
    tracing::info!(chunks = written.len(), "store upgraded from format 2 to 3");
    Ok(())
}

/// Refuses a store of another format before anything is written to it; returns the format
/// found (`None` for a new store). Format 2 is accepted, to be upgraded.
fn check_format(db: &sled::Db, path: &Path) -> Result<Option<u64>> {
    let names = db.tree_names();
    let has = |name: &str| names.iter().any(|n| n.as_ref() == name.as_bytes());
    if has(FORMAT_1_TREE) {
        return Err(StoreError::Format {
            path: path.to_path_buf(),
            reason: "it was written by an earlier quyhoach in format 1 (JSON values, one per \
                     entry), which this version does not read; export its plans with that \
                     version (`quyhoach export`) or rebuild the node from its parent and children"
                .into(),
        });
    }
    if !has(TREE_NAMES[META]) {
        return Ok(None);
    }
    let meta = db.open_tree(TREE_NAMES[META])?;
    let key = codec::FORMAT_KEY.as_bytes();
    match meta.get(key)? {
        None => Ok(None),
        Some(v) => match codec::decode_u64(TREE_NAMES[META], key, &v)? {
            f @ (2 | codec::FORMAT) => Ok(Some(f)),
            other => Err(StoreError::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "it is in format {other}; this version reads format {}",
                    codec::FORMAT
                ),
            }),
        },
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
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
        if let Ok(engine) = self.engine() {
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

/// The flusher thread: waits until some commit wants durability, notes the latest applied
/// ticket, flushes and syncs, then publishes that ticket.
fn flush_loop(
    db: sled::Db,
    data_file: PathBuf,
    applied: Arc<AtomicU64>,
    control: Arc<FlushControl>,
    tx: Arc<watch::Sender<Flushed>>,
    mut done: u64,
) {
    let mut state_written = std::time::Instant::now() - state::MIN_INTERVAL;
    // A flush whose marks are not in the durable-state record yet.
    let mut state_behind = false;
    loop {
        {
            let mut wanted = match control.wanted.lock() {
                Ok(w) => w,
                Err(_) => return,
            };
            while wanted.0 <= done && !wanted.1 {
                if !state_behind {
                    wanted = match control.wake.wait(wanted) {
                        Ok(w) => w,
                        Err(_) => return,
                    };
                    continue;
                }
                // Idle with the record behind: bring it up to date once the interval is over.
                let wait = state::MIN_INTERVAL.saturating_sub(state_written.elapsed());
                let (w, timeout) = match control.wake.wait_timeout(wanted, wait) {
                    Ok(r) => r,
                    Err(_) => return,
                };
                wanted = w;
                if timeout.timed_out() {
                    control.write_state();
                    state_written = std::time::Instant::now();
                    state_behind = false;
                }
            }
            if wanted.1 && wanted.0 <= done {
                return;
            }
        }
        let target = applied.load(Ordering::Acquire);
        if let Some(delay) = control.delay {
            std::thread::sleep(delay);
        }
        let result = match db.flush() {
            Err(sled::Error::Io(e)) => Err(e),
            Err(e) => Err(std::io::Error::other(e.to_string())),
            Ok(_) => File::open(&data_file).and_then(|f| f.sync_data()),
        }
        .map_err(|e| (e.to_string(), is_disk_full(&e)));
        match result {
            Ok(()) => {
                done = target;
                // The marks first: a reader woken by the ticket must find them advanced.
                if let Ok(mut marks) = control.marks.lock() {
                    marks.flushed(target);
                }
                tx.send_modify(|f| f.ticket = target);
                if state_written.elapsed() >= state::MIN_INTERVAL {
                    control.write_state();
                    state_written = std::time::Instant::now();
                    state_behind = false;
                } else {
                    state_behind = true;
                }
            }
            Err((e, full)) => {
                tracing::error!(error = %e, full, "flush failed; writes are refused until the store is reopened");
                control.full.store(full, Ordering::Release);
                control.failed.store(true, Ordering::Release);
                tx.send_modify(|f| {
                    f.lost.push((done + 1, u64::MAX));
                    f.error = Some((e, full));
                });
                return;
            }
        }
    }
}

impl Store for SledStore {
    fn plan(&self, id: &PlanId) -> Result<Option<Plan>> {
        let Some(header) = self.header(id)? else {
            return Ok(None);
        };
        let key = keys::plan(id);
        let chunks = self.raw_prefix(BODIES, &keys::items_prefix(id))?;
        let body = codec::decode_body(TREE_NAMES[BODIES], &key, chunks)?;
        let corrupt = |reason: String| codec::corrupt(TREE_NAMES[BODIES], &key, reason);
        if body.entries.len() != header.entry_count as usize
            || body.rounds.len() != header.round_count as usize
        {
            return Err(corrupt(format!(
                "{} entries and {} rounds where the header says {} and {}",
                body.entries.len(),
                body.rounds.len(),
                header.entry_count,
                header.round_count
            )));
        }
        let plan = header.into_plan(body.entries, body.rounds);
        // A draft's hash is fixed only when it is adopted.
        if let (Some(stored), true) = (&plan.hash, plan.status != PlanStatus::Draft) {
            let actual = plan.content_hash();
            if *stored != actual {
                return Err(corrupt(format!(
                    "content hash {actual} is not the stored hash {stored}"
                )));
            }
        }
        Ok(Some(plan))
    }

    fn header(&self, id: &PlanId) -> Result<Option<PlanHeader>> {
        self.get(PLANS, &keys::plan(id))
    }

    fn latest_version(&self, unit: &str, term: &str) -> Result<Option<u32>> {
        let prefix = keys::plan_prefix(unit, term);
        match self.raw_prefix(PLANS, &prefix)?.last() {
            Some((key, _)) => Ok(keys::version_of(key, prefix.len())),
            None => Ok(None),
        }
    }

    fn headers(&self) -> Result<Vec<PlanHeader>> {
        self.scan(PLANS, b"")
    }

    fn headers_where(&self, keep: &dyn Fn(&str, &str) -> bool) -> Result<Vec<PlanHeader>> {
        let mut out = Vec::new();
        for (k, v) in self.raw_prefix(PLANS, b"")? {
            let mut parts = k.splitn(3, |b| *b == 0);
            let unit = std::str::from_utf8(parts.next().unwrap_or_default()).unwrap_or_default();
            let term = std::str::from_utf8(parts.next().unwrap_or_default()).unwrap_or_default();
            if keep(unit, term) {
                out.push(codec::decode(TREE_NAMES[PLANS], &k, &v)?);
            }
        }
        Ok(out)
    }

    fn outbox(&self) -> Result<Vec<(u64, OutboxItem)>> {
        let (durable, _) = self.durable_marks()?;
        self.raw_range(OUTBOX, &[], &durable.to_be_bytes())?
            .into_iter()
            .map(|(k, v)| {
                let seq = u64::from_be_bytes(k.as_ref().try_into().map_err(|_| {
                    codec::corrupt(TREE_NAMES[OUTBOX], &k, "key is not 8 bytes".into())
                })?);
                Ok((seq, codec::decode(TREE_NAMES[OUTBOX], &k, &v)?))
            })
            .collect()
    }

    fn receipt(&self, id: &PlanId) -> Result<Option<Receipt>> {
        self.get(RECEIPTS, &keys::plan(id))
    }

    fn decisions_for(&self, unit: &str, after: u64) -> Result<Vec<(u64, Decision)>> {
        let Some(start) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let (_, durable) = self.durable_marks()?;
        if start > durable {
            return Ok(Vec::new());
        }
        let prefix_len = unit.len() + 1;
        self.raw_range(
            DECISIONS,
            &keys::decision(unit, start),
            &keys::decision(unit, durable),
        )?
        .into_iter()
        .map(|(k, v)| {
            let seq = k
                .get(prefix_len..)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            Ok((seq, codec::decode(TREE_NAMES[DECISIONS], &k, &v)?))
        })
        .collect()
    }

    fn meta(&self, key: &str) -> Result<Option<u64>> {
        self.raw(META, key.as_bytes())?
            .map(|v| codec::decode_u64(TREE_NAMES[META], key.as_bytes(), &v))
            .transpose()
    }

    fn document(&self, key: &str) -> Result<Option<serde_json::Value>> {
        self.raw(DOCUMENTS, key.as_bytes())?
            .map(|v| codec::decode_json(TREE_NAMES[DOCUMENTS], key.as_bytes(), &v))
            .transpose()
    }

    fn documents(&self, prefix: &str) -> Result<Vec<(String, serde_json::Value)>> {
        self.raw_prefix(DOCUMENTS, prefix.as_bytes())?
            .into_iter()
            .map(|(k, v)| {
                Ok((
                    String::from_utf8_lossy(&k).into_owned(),
                    codec::decode_json(TREE_NAMES[DOCUMENTS], &k, &v)?,
                ))
            })
            .collect()
    }

    fn audit(&self) -> Result<(Vec<AuditRecord>, u64)> {
        Ok((self.scan(AUDIT, b"")?, self.meta(AUDIT_SEQ)?.unwrap_or(0)))
    }

    fn audit_seals(&self) -> Result<std::collections::BTreeMap<u64, String>> {
        self.raw_prefix(AUDIT_SEALS, b"")?
            .iter()
            .map(|(k, v)| {
                let seq = <[u8; 8]>::try_from(k.as_ref()).map_err(|_| {
                    codec::corrupt(TREE_NAMES[AUDIT_SEALS], k, "key is not 8 bytes".into())
                })?;
                Ok((
                    u64::from_be_bytes(seq),
                    codec::decode(TREE_NAMES[AUDIT_SEALS], k, v)?,
                ))
            })
            .collect()
    }

    fn audit_key(&self) -> Option<&crate::audit::AuditKey> {
        self.audit_key.get()
    }

    fn audit_head(&self) -> Result<Option<(u64, String)>> {
        // Only what is on disk: a head that the parent witnesses must survive a crash of this
        // node, or the parent would hold a record the node never kept against it.
        let marks = self
            .control
            .marks
            .lock()
            .map_err(|_| StoreError::FlusherGone)?;
        let durable = &marks.durable;
        Ok((durable.audit_seq > 0).then(|| (durable.audit_seq, durable.audit_head.clone())))
    }

    fn conflicts(&self) -> Result<Vec<Conflict>> {
        self.scan(CONFLICTS, b"")
    }

    fn commit(&self, changes: Vec<Change>) -> Result<u64> {
        let (ticket, pile) = {
            let _guard = self
                .commit_lock
                .lock()
                .map_err(|_| StoreError::FlusherGone)?;
            if let Some(why) = &self.control.behind {
                return Err(StoreError::Behind(why.clone()));
            }
            if self.control.failed.load(Ordering::Acquire) {
                self.recover()?;
            }
            let (writes, after) = self.plan_writes(changes)?;
            // The marks are registered as the commit is staged (visible to reads), so that no
            // reader takes its sequence numbers as durable before the flusher covers it.
            let mut marks = self
                .control
                .marks
                .lock()
                .map_err(|_| StoreError::FlusherGone)?;
            let mut staged = self.staged()?;
            let ticket = staged.stage(writes);
            marks.pending.push_back((ticket, after));
            (ticket, staged.bytes())
        };
        if pile > STAGED_LIMIT {
            let apply = self
                .apply_lock
                .lock()
                .map_err(|_| StoreError::FlusherGone)?;
            let result = self.apply_staged();
            drop(apply);
            // Waiters on the apply lock look again.
            self.applied_tx
                .send_replace(self.applied.load(Ordering::Acquire));
            result?;
        }
        Ok(ticket)
    }

    fn wait_durable(
        &self,
        ticket: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + '_>> {
        Box::pin(async move {
            let applied = self.applied_up_to(ticket).await;
            if let Some(why) = self.staged()?.failure(ticket).map(str::to_string) {
                if self.control.full.load(Ordering::Acquire) {
                    return Err(self.full(self.free_space().unwrap_or(0)));
                }
                return Err(StoreError::Transaction(format!(
                    "commit {ticket} was not stored: {why}"
                )));
            }
            applied?;
            {
                let mut wanted = self
                    .control
                    .wanted
                    .lock()
                    .map_err(|_| StoreError::FlusherGone)?;
                wanted.0 = wanted.0.max(ticket);
            }
            self.control.wake.notify_one();
            let mut rx = self.flushed.clone();
            let state = rx
                .wait_for(|f| f.is_lost(ticket) || f.ticket >= ticket)
                .await
                .map_err(|_| StoreError::FlusherGone)?;
            if !state.is_lost(ticket) {
                return Ok(());
            }
            let (error, full) = state.error.clone().unwrap_or_default();
            drop(state);
            if full {
                return Err(self.full(self.free_space().unwrap_or(0)));
            }
            Err(StoreError::Transaction(format!("flush failed: {error}")))
        })
    }

    fn last_ticket(&self) -> u64 {
        self.staged().map(|s| s.last_ticket()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::{Cadre, Entry, EntrySource, Gender};

    fn plan(unit: &str, version: u32, n: usize) -> Plan {
        let mut p = Plan::new_draft(
            PlanId {
                unit: unit.into(),
                term: "2025-2030".into(),
                version,
            },
            None,
        );
        p.entries = (0..n)
            .map(|i| Entry {
                cadre: Cadre {
                    national_id: format!("{:012}", i),
                    full_name: "Nguyễn Văn An".into(),
                    birth_date: NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
                    gender: Gender::Male,
                    ethnicity: "Kinh".into(),
                    current_positions: vec![],
                    current_unit: unit.into(),
                    qualifications: vec![],
                    discipline: vec![],
                    appointment_proposed_on: None,
                    retirement_regime: Default::default(),
                    science_technology: false,
                    ratings: Vec::new(),
                },
                position: "C.BT".into(),
                source: EntrySource::Voted,
            })
            .collect();
        p
    }

    #[tokio::test]
    async fn plans_round_trip_and_replace_their_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        let t = store
            .commit(vec![Change::PutPlan(plan("16681", 1, 5))])
            .unwrap();
        store.wait_durable(t).await.unwrap();
        let t = store
            .commit(vec![
                Change::PutPlan(plan("16681", 1, 2)),
                Change::PutPlan(plan("16681", 2, 1)),
            ])
            .unwrap();
        store.wait_durable(t).await.unwrap();
        let id = PlanId {
            unit: "16681".into(),
            term: "2025-2030".into(),
            version: 1,
        };
        assert_eq!(store.plan(&id).unwrap().unwrap().entries.len(), 2);
        assert_eq!(store.latest_version("16681", "2025-2030").unwrap(), Some(2));
        assert_eq!(store.latest_version("1668", "2025-2030").unwrap(), None);
        assert_eq!(store.headers().unwrap().len(), 2);
        let t = store
            .commit(vec![Change::PutPlan(plan("16690", 1, 1))])
            .unwrap();
        store.wait_durable(t).await.unwrap();
        let only = store
            .headers_where(&|unit, term| unit == "16681" && term == "2025-2030")
            .unwrap();
        let versions: Vec<u32> = only.iter().map(|h| h.id.version).collect();
        assert_eq!(versions, [1, 2]);
        assert!(store
            .headers_where(&|_, term| term == "2026-2031")
            .unwrap()
            .is_empty());
    }

    fn id(unit: &str, version: u32) -> PlanId {
        PlanId {
            unit: unit.into(),
            term: "2025-2030".into(),
            version,
        }
    }

    /// A plan as adopted: its hash is its content's. Its names are incompressible, so that
    /// its body takes several chunks.
    fn adopted(unit: &str, version: u32, n: usize) -> Plan {
        let mut p = plan(unit, version, n);
        for (i, e) in p.entries.iter_mut().enumerate() {
            e.cadre.full_name = blake3::hash(&i.to_be_bytes()).to_hex().to_string();
        }
        p.status = crate::domain::PlanStatus::Adopted;
        p.hash = Some(p.content_hash());
        p
    }

    fn event(action: &str) -> crate::audit::AuditEvent {
        crate::audit::AuditEvent {
            at: chrono::Utc::now(),
            actor: "test".into(),
            action: action.into(),
            plan: None,
            plan_hash: None,
            detail: String::new(),
        }
    }

    /// Writes a store with one value of each kind, then runs `damage` on its sled trees
    /// directly (the store closed), and reopens it.
    async fn damaged(damage: impl FnOnce(&sled::Db)) -> (tempfile::TempDir, Arc<SledStore>) {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(&dir.path().join("store")).unwrap();
            let t = store
                .commit(vec![
                    Change::PutPlan(adopted("412", 1, 3_000)),
                    Change::PutReceipt(Receipt {
                        plan: id("412", 1),
                        hash: "h".into(),
                        received_by: "40".into(),
                        received_at: chrono::Utc::now(),
                    }),
                    Change::SetDocument("reference".into(), serde_json::json!({"v": 3})),
                    Change::SetMeta("link.cursor".into(), 9),
                    Change::Audit(event("put_plan")),
                ])
                .unwrap();
            store.wait_durable(t).await.unwrap();
        }
        {
            let db = sled::open(dir.path().join("store")).unwrap();
            damage(&db);
            db.flush().unwrap();
        }
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        (dir, store)
    }

    /// Flips one byte of the value under `key` in `tree`.
    fn flip(db: &sled::Db, tree: &str, key: &[u8], at: usize) {
        let tree = db.open_tree(tree).unwrap();
        let mut v = tree.get(key).unwrap().expect("value to damage").to_vec();
        let at = at.min(v.len() - 1);
        v[at] ^= 0x01;
        tree.insert(key, v).unwrap();
    }

    fn assert_corrupt<T: std::fmt::Debug>(result: Result<T>, names: &str) {
        match result {
            Err(StoreError::Corrupt { key, reason }) => {
                assert!(
                    key.contains(names),
                    "{key:?} does not name {names:?} ({reason})"
                )
            }
            other => panic!("expected Corrupt naming {names}, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_flipped_byte_in_any_stored_value_is_found_and_named() {
        let plan_key = keys::plan(&id("412", 1));
        // The header: one byte in its payload.
        let (_d, store) = damaged(|db| flip(db, "plans", &plan_key, 20)).await;
        assert_corrupt(store.plan(&id("412", 1)), "plans 412/2025-2030/v1");
        assert_corrupt(store.headers(), "plans 412/2025-2030/v1");
        // The second chunk of the body (3,000 entries take several).
        let chunk = keys::item(&id("412", 1), 1);
        let (_d, store) = damaged(|db| flip(db, "bodies", &chunk, 10_000)).await;
        assert!(store.header(&id("412", 1)).unwrap().is_some());
        assert_corrupt(store.plan(&id("412", 1)), "bodies 412/2025-2030/v1 chunk 1");
        // A missing chunk.
        let (_d, store) = damaged(|db| {
            db.open_tree("bodies").unwrap().remove(&chunk).unwrap();
        })
        .await;
        assert_corrupt(store.plan(&id("412", 1)), "412/2025-2030/v1 chunk 2");
        // The receipt, a document, a counter, an audit record: the CRC byte itself.
        let (_d, store) = damaged(|db| flip(db, "receipts", &plan_key, 2)).await;
        assert_corrupt(store.receipt(&id("412", 1)), "receipts 412/2025-2030/v1");
        let (_d, store) = damaged(|db| flip(db, "documents", b"reference", 7)).await;
        assert_corrupt(store.document("reference"), "documents reference");
        let (_d, store) = damaged(|db| flip(db, "meta", b"link.cursor", 12)).await;
        assert_corrupt(store.meta("link.cursor"), "meta link.cursor");
        let (_d, store) = damaged(|db| flip(db, "audit", &1u64.to_be_bytes(), 40)).await;
        assert_corrupt(store.audit(), "audit #1");
        // A value moved under another key.
        let (_d, store) = damaged(|db| {
            let meta = db.open_tree("meta").unwrap();
            let v = meta.get("link.cursor").unwrap().unwrap();
            meta.insert("seq.audit", v).unwrap();
        })
        .await;
        assert_corrupt(store.audit(), "meta seq.audit");
        // And a commit on top of damage fails instead of building on it.
        assert_corrupt(
            store.commit(vec![Change::Audit(event("after"))]),
            "meta seq.audit",
        );
    }

    #[tokio::test]
    async fn a_format_2_store_is_upgraded_when_opened_and_reads_the_same_plans() {
        let before = adopted("412", 1, 3_000);
        let (dir, store) = damaged(|db| {
            // Turn the store back into what format 2 wrote: old-shape bodies, format mark 2.
            let bodies = db.open_tree("bodies").unwrap();
            for item in bodies.scan_prefix(keys::items_prefix(&before.id)) {
                bodies.remove(item.unwrap().0).unwrap();
            }
            for (k, v) in codec::format2::encode_body(&before) {
                bodies.insert(k, v).unwrap();
            }
            let key = codec::FORMAT_KEY.as_bytes();
            db.open_tree("meta")
                .unwrap()
                .insert(key, codec::encode_u64(key, 2))
                .unwrap();
        })
        .await;
        assert_eq!(
            store.plan(&id("412", 1)).unwrap().unwrap().entries,
            before.entries
        );
        drop(store);
        // The mark says 3 now, and the store opens again as format 3.
        let db = sled::open(dir.path().join("store")).unwrap();
        let key = codec::FORMAT_KEY.as_bytes();
        let mark = db.open_tree("meta").unwrap().get(key).unwrap().unwrap();
        assert_eq!(codec::decode_u64("meta", key, &mark).unwrap(), 3);
        drop(db);
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        assert_eq!(
            store.plan(&id("412", 1)).unwrap().unwrap().entries,
            before.entries
        );
    }

    #[tokio::test]
    async fn a_body_that_decodes_but_is_not_the_hashed_content_is_refused() {
        // Well-formed chunks of another plan's content under the right keys (what a bad
        // restore or a stray write could leave): every CRC holds, the content hash does not.
        let (_d, store) = damaged(|db| {
            let bodies = db.open_tree("bodies").unwrap();
            let mut other = adopted("412", 1, 3_000);
            other.entries[17].cadre.full_name = "Trần Văn Bình".into();
            for (k, v) in codec::encode_body(&other) {
                bodies.insert(k, v).unwrap();
            }
        })
        .await;
        match store.plan(&id("412", 1)) {
            Err(StoreError::Corrupt { key, reason }) => {
                assert!(key.contains("412/2025-2030/v1"), "{key}");
                assert!(reason.contains("content hash"), "{reason}");
            }
            other => panic!("expected a content hash mismatch, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_format_1_store_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path().join("store")).unwrap();
            for name in ["plans", "entries", "rounds", "meta"] {
                db.open_tree(name).unwrap();
            }
            db.open_tree("plans")
                .unwrap()
                .insert(keys::plan(&id("412", 1)), &b"{\"status\":\"draft\"}"[..])
                .unwrap();
            db.flush().unwrap();
        }
        let err = SledStore::open(&dir.path().join("store"))
            .err()
            .expect("refused");
        let message = err.to_string();
        assert!(matches!(err, StoreError::Format { .. }), "{message}");
        assert!(message.contains("format 1"), "{message}");
        assert!(message.contains("quyhoach export"), "{message}");
        // Nothing was written to it.
        let db = sled::open(dir.path().join("store")).unwrap();
        assert!(db.open_tree("meta").unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_commit_is_read_back_before_it_is_applied_and_after() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        let t1 = store
            .commit(vec![
                Change::PutPlan(plan("412", 1, 700)),
                Change::Enqueue(OutboxItem {
                    plan: id("412", 1),
                    queued_at: chrono::Utc::now(),
                    approval: None,
                }),
                Change::Audit(event("one")),
            ])
            .unwrap();
        // Staged, not applied: reads see it, and the next commit builds on it.
        assert_eq!(store.transactions(), 0);
        assert_eq!(
            store.plan(&id("412", 1)).unwrap().unwrap().entries.len(),
            700
        );
        let t2 = store
            .commit(vec![
                Change::PutPlan(plan("412", 1, 2)),
                Change::Dequeue(1),
                Change::Audit(event("two")),
            ])
            .unwrap();
        assert_eq!(store.plan(&id("412", 1)).unwrap().unwrap().entries.len(), 2);
        assert!(store.outbox().unwrap().is_empty());
        assert_eq!(store.latest_version("412", "2025-2030").unwrap(), Some(1));
        store.wait_durable(t2).await.unwrap();
        store.wait_durable(t1).await.unwrap();
        assert_eq!(store.transactions(), 1, "both commits in one transaction");
        assert_eq!(store.plan(&id("412", 1)).unwrap().unwrap().entries.len(), 2);
        let (records, head) = store.audit().unwrap();
        assert_eq!(head, 2);
        assert!(crate::audit::verify(&records, head).is_ok());
        // The shorter body left no chunk of the longer one behind.
        assert_eq!(
            store.engine().unwrap().trees[BODIES]
                .scan_prefix(keys::items_prefix(&id("412", 1)))
                .count(),
            1
        );
    }

    #[tokio::test]
    async fn concurrent_commits_share_flushes_and_all_become_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        let mut tasks = Vec::new();
        for i in 0..64u32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let t = store
                    .commit(vec![Change::PutPlan(plan(&format!("{i}"), 1, 3))])
                    .unwrap();
                store.wait_durable(t).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(store.headers().unwrap().len(), 64);
        // The commits are in sled, and fewer transactions carried them (how many fewer depends
        // on scheduling; with one it would be 64).
        assert!(store.transactions() <= 64);
        assert_eq!(
            store.engine().unwrap().trees[PLANS].len(),
            64,
            "every commit applied to sled, not only staged"
        );
    }

    #[tokio::test]
    async fn outbox_and_decision_sequences_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let id = PlanId {
            unit: "16681".into(),
            term: "2025-2030".into(),
            version: 1,
        };
        {
            let store = SledStore::open(&dir.path().join("store")).unwrap();
            let t = store
                .commit(vec![
                    Change::Enqueue(OutboxItem {
                        plan: id.clone(),
                        queued_at: chrono::Utc::now(),
                        approval: None,
                    }),
                    Change::Enqueue(OutboxItem {
                        plan: id.clone(),
                        queued_at: chrono::Utc::now(),
                        approval: None,
                    }),
                ])
                .unwrap();
            store.wait_durable(t).await.unwrap();
            let seqs: Vec<u64> = store
                .outbox()
                .unwrap()
                .into_iter()
                .map(|(s, _)| s)
                .collect();
            assert_eq!(seqs, [1, 2]);
            let t = store.commit(vec![Change::Dequeue(1)]).unwrap();
            store.wait_durable(t).await.unwrap();
        }
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        let t = store
            .commit(vec![Change::Enqueue(OutboxItem {
                plan: id,
                queued_at: chrono::Utc::now(),
                approval: None,
            })])
            .unwrap();
        store.wait_durable(t).await.unwrap();
        let seqs: Vec<u64> = store
            .outbox()
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(seqs, [2, 3]);
    }

    #[tokio::test]
    async fn a_large_province_never_reaches_sleds_unsynced_blob_files() {
        // 200 plans of 125 entries: 25,000 entries, the size of a whole province's lists.
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        for unit in 0..200 {
            let t = store
                .commit(vec![Change::PutPlan(plan(&format!("{unit:05}"), 1, 125))])
                .unwrap();
            store.wait_durable(t).await.unwrap();
        }
        // And one plan of 1,000 entries, which as a single value would be far over 128 KiB.
        let t = store
            .commit(vec![Change::PutPlan(plan("40", 1, 1_000))])
            .unwrap();
        store.wait_durable(t).await.unwrap();
        assert_eq!(store.headers().unwrap().len(), 201);
        let blobs = dir.path().join("blobs");
        let count = std::fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0);
        assert_eq!(
            count, 0,
            "sled wrote {count} blob files, which it never syncs"
        );
    }

    #[tokio::test]
    async fn the_outbox_and_decision_log_show_only_what_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        let id = PlanId {
            unit: "16681".into(),
            term: "2025-2030".into(),
            version: 1,
        };
        let decision = Decision {
            plan: id.clone(),
            hash: "h".into(),
            outcome: crate::domain::Outcome::Return,
            reasons: vec!["r".into()],
            decided_by: "412".into(),
            decided_at: chrono::Utc::now(),
        };
        let item = OutboxItem {
            plan: id.clone(),
            queued_at: chrono::Utc::now(),
            approval: None,
        };
        // The flusher runs only when someone waits, so this commit stays in memory.
        let t = store
            .commit(vec![
                Change::Enqueue(item.clone()),
                Change::LogDecision(decision.clone()),
            ])
            .unwrap();
        assert!(store.outbox().unwrap().is_empty(), "not durable yet");
        assert!(store.decisions_for("16681", 0).unwrap().is_empty());
        store.wait_durable(t).await.unwrap();
        assert_eq!(store.outbox().unwrap(), [(1, item.clone())]);
        assert_eq!(store.decisions_for("16681", 0).unwrap(), [(1, decision)]);
        // A second commit is hidden again until its own flush, the first stays visible.
        let t = store.commit(vec![Change::Enqueue(item.clone())]).unwrap();
        assert_eq!(store.outbox().unwrap().len(), 1);
        store.wait_durable(t).await.unwrap();
        assert_eq!(store.outbox().unwrap().len(), 2);
        assert!(store.decisions_for("16681", 1).unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_partial_snapshot_left_by_an_interrupted_start_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(&dir.path().join("store")).unwrap();
            let t = store
                .commit(vec![Change::PutPlan(plan("16681", 1, 3))])
                .unwrap();
            store.wait_durable(t).await.unwrap();
        }
        // What sled 0.34.7 leaves when killed while writing a snapshot: an empty file whose
        // name sorts after every real snapshot.
        let leftover = dir.path().join("store/snap.FFFFFFFFFFFFFFFF.generating");
        File::create(&leftover).unwrap();
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        assert!(!leftover.exists());
        assert_eq!(store.headers().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_folder_open_elsewhere_is_refused_and_its_snapshot_files_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("store");
        let open = SledStore::open(&data).unwrap();
        // A snapshot the open store could be writing at this moment.
        let writing = data.join("snap.FFFFFFFFFFFFFFFF.generating");
        File::create(&writing).unwrap();
        let second = SledStore::open(&data);
        let Err(e) = second else {
            panic!("a second handle opened a folder that is open")
        };
        assert!(e.to_string().contains("open in another process"), "{e}");
        assert!(writing.exists(), "the repair touched a folder that is open");
        drop(open);
        // Once the first handle is closed, the folder opens again (and is repaired).
        SledStore::open(&data).unwrap();
        assert!(!writing.exists());
    }

    #[tokio::test]
    async fn a_store_behind_its_durable_state_record_refuses_writes_and_keeps_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("store");
        let item = OutboxItem {
            plan: PlanId {
                unit: "16681".into(),
                term: "2025-2030".into(),
                version: 1,
            },
            queued_at: chrono::Utc::now(),
            approval: None,
        };
        let copy = dir.path().join("copy");
        {
            let store = SledStore::open(&data).unwrap();
            let t = store.commit(vec![Change::Enqueue(item.clone())]).unwrap();
            store.wait_durable(t).await.unwrap();
            // A copy of the store as it is now: the "old backup".
            drop(store);
            let status = std::process::Command::new("cp")
                .arg("-a")
                .arg(&data)
                .arg(&copy)
                .status()
                .unwrap();
            assert!(status.success());
            let store = SledStore::open(&data).unwrap();
            let t = store
                .commit(vec![Change::Enqueue(item.clone()), Change::Enqueue(item)])
                .unwrap();
            store.wait_durable(t).await.unwrap();
        }
        let record = state::read(&state::path_for(&data)).unwrap().unwrap();
        assert_eq!(record.outbox_seq, 3, "written at close");

        // The old copy put back in place of the store.
        std::fs::remove_dir_all(&data).unwrap();
        std::fs::rename(&copy, &data).unwrap();
        let store = SledStore::open(&data).unwrap();
        assert_eq!(store.outbox().unwrap().len(), 1, "reads go on");
        let err = store.commit(vec![]).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, StoreError::Behind(_)), "{message}");
        assert!(message.contains("outbox items 2..=3"), "{message}");
        assert!(message.contains(".state"), "{message}");
        drop(store);
        assert_eq!(
            state::read(&state::path_for(&data)).unwrap().unwrap(),
            record,
            "the record is kept as evidence"
        );
    }
}
