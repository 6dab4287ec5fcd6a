//! The sled 0.34.7 implementation of [`Store`], with group commit.
//!
//! Durability. sled's `flush()` writes its log with `sync_file_range` on Linux, which survives a
//! killed process but not a power cut, and its own `sync_all` runs only in the background. So
//! one flusher thread calls the blocking `flush()` and then `fsync`s the data file itself, and
//! wakes every waiter whose commit came before that flush began: concurrent commits share one
//! flush. `flush_async` is never used (it deadlocks in 0.34.7 with many concurrent callers,
//! sled issue 1308). Values stay small (one key per entry and per round), far below the 128 KiB
//! at which sled would write an unsynced blob file.

use std::{
    fs::File,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Condvar, Mutex,
    },
    thread::JoinHandle,
};

use serde::{de::DeserializeOwned, Serialize};
use sled::{transaction::TransactionError, Transactional, Tree};
use tokio::sync::watch;

use super::{
    keys,
    state::{self, DurableState},
    Change, Conflict, OutboxItem, PlanHeader, Receipt, Result, Store, StoreError,
};
use crate::{
    audit::AuditRecord,
    domain::{BallotRound, Decision, Entry, Plan, PlanId},
};

const PLANS: usize = 0;
const ENTRIES: usize = 1;
const ROUNDS: usize = 2;
const OUTBOX: usize = 3;
const RECEIPTS: usize = 4;
const DECISIONS: usize = 5;
const META: usize = 6;
const DOCUMENTS: usize = 7;
const CONFLICTS: usize = 8;
const AUDIT: usize = 9;
const TREE_NAMES: [&str; 10] = [
    "plans",
    "entries",
    "rounds",
    "outbox",
    "receipts",
    "decisions",
    "meta",
    "documents",
    "conflicts",
    "audit",
];

/// One plain write: tree index, key, and the value (none to delete).
type Write = (usize, Vec<u8>, Option<Vec<u8>>);

const OUTBOX_SEQ: &str = "seq.outbox";
const DECISION_SEQ: &str = "seq.decision";
const CONFLICT_SEQ: &str = "seq.conflict";
const AUDIT_SEQ: &str = "seq.audit";

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
/// applied but not yet flushed. Readers of the outbox and the decision log see only what is at
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
            Ok(trees[META]
                .get(key.as_bytes())?
                .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
                .unwrap_or(0))
        };
        let audit_head = match trees[AUDIT].last()? {
            Some((k, v)) => decode::<AuditRecord>(&k, &v)?.digest,
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
    /// Where the durable-state record lives (`<data>.state`).
    state_path: PathBuf,
    /// Set at open when the store is behind its durable-state record: what it lacks. Writes
    /// are refused and the record is left as it is, as evidence.
    behind: Option<String>,
}

impl FlushControl {
    /// Writes the durable-state record from the durable marks, unless the store is behind it.
    fn write_state(&self) {
        if self.behind.is_some() {
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
}

/// The least free space (bytes) at which a failed store tries to reopen and write again.
const MIN_FREE: u64 = 1024 * 1024;

/// A sled database with one tree per entity.
pub struct SledStore {
    /// The open database; `None` only while a reopen is failing.
    engine: std::sync::RwLock<Option<Arc<Engine>>>,
    /// Serializes commits so that keys and counters computed before a transaction hold in it.
    commit_lock: Mutex<()>,
    /// Ticket of the latest applied commit.
    applied: Arc<AtomicU64>,
    control: Arc<FlushControl>,
    flushed: watch::Receiver<Flushed>,
    /// Publishes what is durable; shared with the flusher thread of each engine.
    flushed_tx: Arc<watch::Sender<Flushed>>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
}

/// Opens sled on `path` with a small page cache, and syncs what it created.
fn open_engine(path: &Path) -> Result<Engine> {
    remove_partial_snapshots(path)?;
    let db = sled::Config::new()
        .path(path)
        .cache_capacity(16 * 1024 * 1024)
        .flush_every_ms(Some(1000))
        .open()?;
    let trees = TREE_NAMES
        .iter()
        .map(|name| db.open_tree(name))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    // Make the files sled created reachable after a power cut.
    db.flush()?;
    File::open(path.join("db"))?.sync_all()?;
    File::open(path)?.sync_all()?;
    Ok(Engine { db, trees })
}

impl SledStore {
    /// Opens (or creates) a store in `path`, with a small page cache. Partial snapshot files
    /// that an interrupted sled left behind are removed first (and logged).
    ///
    /// # Errors
    ///
    /// The folder cannot be created or read, or sled cannot open the database in it.
    pub fn open(path: &Path) -> Result<Arc<Self>> {
        std::fs::create_dir_all(path)?;
        let engine = open_engine(path)?;
        let applied = Arc::new(AtomicU64::new(0));
        let marks = Marks::of(&engine.trees)?;
        let state_path = state::path_for(path);
        let behind = match state::read(&state_path)? {
            Some(record) => state::behind(&marks.durable, &record, |seq| {
                let v = engine.trees[AUDIT].get(seq.to_be_bytes()).ok()??;
                decode::<AuditRecord>(&seq.to_be_bytes(), &v)
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
            None => None,
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
            state_path,
            behind,
        });
        control.write_state();
        let (tx, rx) = watch::channel(Flushed::default());
        let store = Self {
            engine: std::sync::RwLock::new(None),
            commit_lock: Mutex::new(()),
            applied,
            control,
            flushed: rx,
            flushed_tx: Arc::new(tx),
            flusher: Mutex::new(None),
            path: path.to_path_buf(),
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
    /// are gone; none of them was acknowledged. Called under the commit lock.
    fn recover(&self) -> Result<()> {
        let free = self.free_space().unwrap_or(u64::MAX);
        if free < MIN_FREE {
            return Err(self.full(free));
        }
        tracing::warn!(path = %self.path.display(), free, "reopening the store after a failed flush");
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
        // A reader that cloned the old engine a moment ago may still hold sled's file lock.
        let mut attempt = 0;
        let engine = loop {
            match open_engine(&self.path) {
                Ok(e) => break e,
                Err(e) if attempt < 20 => {
                    tracing::debug!(error = %e, "store not reopened yet");
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        };
        let applied = self.applied.load(Ordering::Acquire);
        *self
            .control
            .marks
            .lock()
            .map_err(|_| StoreError::FlusherGone)? = Marks::of(&engine.trees)?;
        if let Ok(mut wanted) = self.control.wanted.lock() {
            wanted.0 = wanted.0.max(applied);
        }
        self.flushed_tx.send_modify(|f| {
            if let Some(last) = f.lost.last_mut() {
                last.1 = applied;
            }
            f.ticket = applied;
            f.error = None;
        });
        self.control.failed.store(false, Ordering::Release);
        self.spawn_flusher(&engine, applied)?;
        *slot = Some(Arc::new(engine));
        tracing::info!(path = %self.path.display(), "store reopened; writes resume");
        Ok(())
    }

    /// The folder the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn get<T: DeserializeOwned>(&self, tree: usize, key: &[u8]) -> Result<Option<T>> {
        self.engine()?.trees[tree]
            .get(key)?
            .map(|v| decode(key, &v))
            .transpose()
    }

    fn scan<T: DeserializeOwned>(&self, tree: usize, prefix: &[u8]) -> Result<Vec<T>> {
        self.engine()?.trees[tree]
            .scan_prefix(prefix)
            .map(|kv| {
                let (k, v) = kv?;
                decode(&k, &v)
            })
            .collect()
    }

    /// Turns changes into plain writes (tree, key, value or delete), reading what must be
    /// replaced. Called under the commit lock.
    fn plan_writes(&self, changes: Vec<Change>) -> Result<(Vec<Write>, DurableState)> {
        let mut out = Vec::new();
        let mut outbox_seq = self.meta(OUTBOX_SEQ)?.unwrap_or(0);
        let mut decision_seq = self.meta(DECISION_SEQ)?.unwrap_or(0);
        let mut conflict_seq = self.meta(CONFLICT_SEQ)?.unwrap_or(0);
        let mut audit_seq = self.meta(AUDIT_SEQ)?.unwrap_or(0);
        let start_audit = audit_seq;
        let mut audit_prev = match self.engine()?.trees[AUDIT].last()? {
            Some((k, v)) => decode::<AuditRecord>(&k, &v)?.digest,
            None => String::new(),
        };
        let (start_outbox, start_decision, start_conflict) =
            (outbox_seq, decision_seq, conflict_seq);
        let clear_items = |out: &mut Vec<_>, id: &PlanId| -> Result<()> {
            for tree in [ENTRIES, ROUNDS] {
                for key in self.engine()?.trees[tree]
                    .scan_prefix(keys::items_prefix(id))
                    .keys()
                {
                    out.push((tree, key?.to_vec(), None));
                }
            }
            Ok(())
        };
        for change in changes {
            match change {
                Change::PutPlan(plan) => {
                    clear_items(&mut out, &plan.id)?;
                    for (i, e) in plan.entries.iter().enumerate() {
                        out.push((ENTRIES, keys::item(&plan.id, i as u32), Some(encode(e))));
                    }
                    for (i, r) in plan.rounds.iter().enumerate() {
                        out.push((ROUNDS, keys::item(&plan.id, i as u32), Some(encode(r))));
                    }
                    out.push((
                        PLANS,
                        keys::plan(&plan.id),
                        Some(encode(&PlanHeader::of(&plan))),
                    ));
                }
                Change::PutHeader(h) => out.push((PLANS, keys::plan(&h.id), Some(encode(&h)))),
                Change::Enqueue(item) => {
                    outbox_seq += 1;
                    out.push((
                        OUTBOX,
                        outbox_seq.to_be_bytes().to_vec(),
                        Some(encode(&item)),
                    ));
                }
                Change::Dequeue(seq) => out.push((OUTBOX, seq.to_be_bytes().to_vec(), None)),
                Change::PutReceipt(r) => {
                    out.push((RECEIPTS, keys::plan(&r.plan), Some(encode(&r))))
                }
                Change::LogDecision(d) => {
                    decision_seq += 1;
                    out.push((
                        DECISIONS,
                        keys::decision(&d.plan.unit, decision_seq),
                        Some(encode(&d)),
                    ));
                }
                Change::SetDocument(key, value) => {
                    out.push((DOCUMENTS, key.into_bytes(), Some(encode(&value))))
                }
                Change::Audit(event) => {
                    audit_seq += 1;
                    let record =
                        AuditRecord::seal(audit_seq, event, std::mem::take(&mut audit_prev));
                    audit_prev = record.digest.clone();
                    out.push((
                        AUDIT,
                        audit_seq.to_be_bytes().to_vec(),
                        Some(encode(&record)),
                    ));
                }
                Change::DeleteDocument(key) => out.push((DOCUMENTS, key.into_bytes(), None)),
                Change::RecordConflict(c) => {
                    conflict_seq += 1;
                    out.push((
                        CONFLICTS,
                        conflict_seq.to_be_bytes().to_vec(),
                        Some(encode(&c)),
                    ));
                }
                Change::AtLeastDecisionSeq(seq) => decision_seq = decision_seq.max(seq),
                Change::SetMeta(key, value) => {
                    out.push((META, key.into_bytes(), Some(value.to_be_bytes().to_vec())))
                }
            }
        }
        if outbox_seq != start_outbox {
            out.push((
                META,
                OUTBOX_SEQ.into(),
                Some(outbox_seq.to_be_bytes().to_vec()),
            ));
        }
        if audit_seq != start_audit {
            out.push((
                META,
                AUDIT_SEQ.into(),
                Some(audit_seq.to_be_bytes().to_vec()),
            ));
        }
        if conflict_seq != start_conflict {
            out.push((
                META,
                CONFLICT_SEQ.into(),
                Some(conflict_seq.to_be_bytes().to_vec()),
            ));
        }
        if decision_seq != start_decision {
            out.push((
                META,
                DECISION_SEQ.into(),
                Some(decision_seq.to_be_bytes().to_vec()),
            ));
        }
        let after = DurableState {
            audit_seq,
            audit_head: audit_prev,
            decision_seq,
            outbox_seq,
        };
        Ok((out, after))
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
}

impl Drop for SledStore {
    fn drop(&mut self) {
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
                if let Ok(mut marks) = self.control.marks.lock() {
                    marks.flushed(u64::MAX);
                }
                self.control.write_state();
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

/// Returns true if and only if `e` says the disk is full (ENOSPC, or EDQUOT for a quota).
fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        || e.to_string().contains("No space left on device")
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("domain values always serialize")
}

fn decode<T: DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T> {
    serde_json::from_slice(value).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).replace('\0', "/"),
        reason: e.to_string(),
    })
}

impl Store for SledStore {
    fn plan(&self, id: &PlanId) -> Result<Option<Plan>> {
        let Some(header) = self.header(id)? else {
            return Ok(None);
        };
        let entries: Vec<Entry> = self.scan(ENTRIES, &keys::items_prefix(id))?;
        let rounds: Vec<BallotRound> = self.scan(ROUNDS, &keys::items_prefix(id))?;
        Ok(Some(header.into_plan(entries, rounds)))
    }

    fn header(&self, id: &PlanId) -> Result<Option<PlanHeader>> {
        self.get(PLANS, &keys::plan(id))
    }

    fn latest_version(&self, unit: &str, term: &str) -> Result<Option<u32>> {
        let prefix = keys::plan_prefix(unit, term);
        match self.engine()?.trees[PLANS]
            .scan_prefix(&prefix)
            .keys()
            .next_back()
        {
            Some(key) => Ok(keys::version_of(&key?, prefix.len())),
            None => Ok(None),
        }
    }

    fn headers(&self) -> Result<Vec<PlanHeader>> {
        self.scan(PLANS, b"")
    }

    fn headers_where(&self, keep: &dyn Fn(&str, &str) -> bool) -> Result<Vec<PlanHeader>> {
        let mut out = Vec::new();
        for kv in self.engine()?.trees[PLANS].iter() {
            let (k, v) = kv?;
            let mut parts = k.splitn(3, |b| *b == 0);
            let unit = std::str::from_utf8(parts.next().unwrap_or_default()).unwrap_or_default();
            let term = std::str::from_utf8(parts.next().unwrap_or_default()).unwrap_or_default();
            if keep(unit, term) {
                out.push(decode(&k, &v)?);
            }
        }
        Ok(out)
    }

    fn outbox(&self) -> Result<Vec<(u64, OutboxItem)>> {
        let (durable, _) = self.durable_marks()?;
        self.engine()?.trees[OUTBOX]
            .range(..=durable.to_be_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                let seq =
                    u64::from_be_bytes(k.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                        key: format!("outbox {k:?}"),
                        reason: "key is not 8 bytes".into(),
                    })?);
                Ok((seq, decode(&k, &v)?))
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
        self.engine()?.trees[DECISIONS]
            .range(keys::decision(unit, start)..=keys::decision(unit, durable))
            .map(|kv| {
                let (k, v) = kv?;
                let seq = k
                    .get(prefix_len..)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                Ok((seq, decode(&k, &v)?))
            })
            .collect()
    }

    fn meta(&self, key: &str) -> Result<Option<u64>> {
        Ok(self.engine()?.trees[META]
            .get(key.as_bytes())?
            .and_then(|v| {
                let bytes: [u8; 8] = v.as_ref().try_into().ok()?;
                Some(u64::from_be_bytes(bytes))
            }))
    }

    fn document(&self, key: &str) -> Result<Option<serde_json::Value>> {
        self.get(DOCUMENTS, key.as_bytes())
    }

    fn documents(&self, prefix: &str) -> Result<Vec<(String, serde_json::Value)>> {
        self.engine()?.trees[DOCUMENTS]
            .scan_prefix(prefix.as_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k).into_owned(), decode(&k, &v)?))
            })
            .collect()
    }

    fn audit(&self) -> Result<(Vec<AuditRecord>, u64)> {
        Ok((self.scan(AUDIT, b"")?, self.meta(AUDIT_SEQ)?.unwrap_or(0)))
    }

    fn conflicts(&self) -> Result<Vec<Conflict>> {
        self.scan(CONFLICTS, b"")
    }

    fn commit(&self, changes: Vec<Change>) -> Result<u64> {
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
        let ticket = self.applied.load(Ordering::Acquire) + 1;
        {
            // Registered before the transaction is visible, so that no reader can see these
            // sequence numbers as durable before the flusher has covered this ticket.
            let mut marks = self
                .control
                .marks
                .lock()
                .map_err(|_| StoreError::FlusherGone)?;
            marks.pending.push_back((ticket, after));
        }
        let engine = self.engine()?;
        let trees: Vec<&Tree> = engine.trees.iter().collect();
        let result = trees
            .as_slice()
            .transaction(|tx| {
                for (tree, key, value) in &writes {
                    match value {
                        Some(v) => tx[*tree].insert(key.as_slice(), v.as_slice())?,
                        None => tx[*tree].remove(key.as_slice())?,
                    };
                }
                Ok(())
            })
            .map_err(|e: TransactionError<()>| match e {
                TransactionError::Storage(sled::Error::Io(e)) if is_disk_full(&e) => {
                    self.full(self.free_space().unwrap_or(0))
                }
                e => StoreError::Transaction(format!("{e:?}")),
            });
        if let Err(e) = result {
            // Nothing was written: forget the marks, the next commit reuses this ticket.
            if let Ok(mut marks) = self.control.marks.lock() {
                marks.pending.pop_back();
            }
            return Err(e);
        }
        self.applied.store(ticket, Ordering::Release);
        Ok(ticket)
    }

    fn wait_durable(
        &self,
        ticket: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + '_>> {
        Box::pin(async move {
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
        self.applied.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::{Cadre, EntrySource, Gender};

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
        let blobs = dir.path().join("store/blobs");
        let count = std::fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0);
        assert_eq!(
            count, 0,
            "sled wrote {count} blob files, which it never syncs"
        );
    }
}
