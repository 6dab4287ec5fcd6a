//! The flusher thread: one thread per open engine that makes staged-and-applied commits
//! durable (sled's blocking `flush()`, then an `fsync` of the data file) and tells waiters how
//! far that reached; and the marks of what is durable, shared with the store.

use std::{
    collections::VecDeque,
    fs::File,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Condvar, Mutex,
    },
};

use sled::Tree;
use tokio::sync::watch;

use super::{
    super::{
        codec,
        staging::Write,
        state::{self, DurableState},
        Result, StoreError,
    },
    is_disk_full, Engine, SledStore, AUDIT, AUDIT_SEQ, DECISION_SEQ, META, OUTBOX_SEQ, TREE_NAMES,
};
use crate::audit::AuditRecord;

/// What the flusher has made durable, as waiters see it.
#[derive(Debug, Clone, Default)]
pub(super) struct Flushed {
    /// Every commit with a ticket up to this one, and not in `lost`, is on disk.
    pub(super) ticket: u64,
    /// Ranges of tickets (first, last) whose flush failed: they are never acknowledged. The
    /// last range is open (`u64::MAX`) while the store is failed; it closes at the reopen.
    pub(super) lost: Vec<(u64, u64)>,
    /// Why the last flush failed, and whether it was because the disk is full.
    pub(super) error: Option<(String, bool)>,
}

impl Flushed {
    /// Returns true if and only if the commit with `ticket` can never become durable.
    pub(super) fn is_lost(&self, ticket: u64) -> bool {
        self.lost.iter().any(|&(a, b)| a <= ticket && ticket <= b)
    }
}

/// The highest outbox and decision sequence numbers that are on disk, and those of commits
/// staged but not yet flushed. Readers of the outbox and the decision log see only what is at
/// or below the durable marks, so that nothing leaves the node before it is on disk and no
/// sequence number handed out can be lost (and reused) in a crash.
#[derive(Debug, Default)]
pub(super) struct Marks {
    /// What is on disk: the outbox and decision sequence numbers up to which every item is
    /// durable, and the audit sequence and head (for the durable-state record).
    pub(super) durable: DurableState,
    /// (ticket, state after that commit) for each commit not yet known to be durable, in
    /// ticket order.
    pub(super) pending: std::collections::VecDeque<(u64, DurableState)>,
}

impl Marks {
    /// The marks of a store just opened: everything in it is on disk.
    pub(super) fn of(trees: &[Tree]) -> Result<Self> {
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
    pub(super) fn flushed(&mut self, ticket: u64) {
        while self.pending.front().is_some_and(|(t, _)| *t <= ticket) {
            if let Some((_, state)) = self.pending.pop_front() {
                self.durable = state;
            }
        }
    }
}

/// Shared between the store and its flusher thread.
pub(super) struct FlushControl {
    /// Highest ticket some waiter asked to be made durable, and whether to stop.
    pub(super) wanted: Mutex<(u64, bool)>,
    pub(super) wake: Condvar,
    /// Durable and pending sequence marks, advanced by the flusher.
    pub(super) marks: Mutex<Marks>,
    /// A test-only pause before every flush (`QUYHOACH_FLUSH_DELAY_MS`, see [`crate::fault`]).
    pub(super) delay: Option<std::time::Duration>,
    /// Set by [`FlushControl::fail`] when a flush, a transaction or a read of sled fails:
    /// sled's error is sticky and its memory may hold refused or half-applied commits, so the
    /// store serves nothing until the reopener has opened it again from disk.
    pub(super) failed: AtomicBool,
    /// Set when the failure was a full disk.
    pub(super) full: AtomicBool,
    /// Why the store failed, for the errors reads and writes get meanwhile.
    pub(super) why: Mutex<String>,
    /// Moves on at every failure and every reopen: a read that began in another epoch may have
    /// read the failed engine, and is not served.
    pub(super) epoch: AtomicU64,
    /// The generation of the flusher that may run: a flusher whose generation is older stops
    /// (the failure path moves it on, so a failed engine is never flushed again).
    pub(super) generation: AtomicU64,
    /// For each sled transaction applied and not yet known durable (its last ticket): the
    /// values its writes replaced, so that a reopen can take back from disk what sled wrote of
    /// commits that were refused (its periodic flush writes without asking).
    pub(super) undo: Mutex<VecDeque<(u64, Vec<Write>)>>,
    /// Whether the store is closing, with [`FlushControl::reopen_wake`]: wakes the reopener
    /// thread at a failure and at the close.
    pub(super) closing: Mutex<bool>,
    /// Signalled at a failure and at the close.
    pub(super) reopen_wake: Condvar,
    /// Where the durable-state record lives (`<data>.state`).
    pub(super) state_path: PathBuf,
    /// False when the store's own counters could not be read at open (damage the reads
    /// report): the record is then neither checked nor overwritten.
    pub(super) record: bool,
    /// Set at open when the store is behind its durable-state record: what it lacks. Writes
    /// are refused and the record is left as it is, as evidence.
    pub(super) behind: Option<String>,
    /// The take-back record (`<data>.takeback`, see [`super::takeback`]), if its room could be
    /// reserved at open: while the store is failed, [`FlushControl::undo`] is kept there too.
    pub(super) takeback: Option<PathBuf>,
}

impl FlushControl {
    /// A control for a store just opened, with `marks`.
    pub(super) fn new(
        marks: Marks,
        state_path: PathBuf,
        record: bool,
        behind: Option<String>,
        takeback: Option<PathBuf>,
    ) -> Self {
        Self {
            wanted: Mutex::new((0, false)),
            wake: Condvar::new(),
            marks: Mutex::new(marks),
            delay: crate::fault::flush_delay(),
            failed: AtomicBool::new(false),
            full: AtomicBool::new(false),
            why: Mutex::new(String::new()),
            epoch: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            undo: Mutex::new(VecDeque::new()),
            closing: Mutex::new(false),
            reopen_wake: Condvar::new(),
            state_path,
            record,
            behind,
            takeback,
        }
    }

    /// Keeps `undo` in the take-back record, synced, so that a kill before the reopen still
    /// takes it back at the next start. Called with the undo lock held, once the store failed.
    pub(super) fn save_takeback(&self, undo: &VecDeque<(u64, Vec<Write>)>) {
        let Some(path) = &self.takeback else { return };
        if let Err(e) = super::takeback::save(path, undo.iter().flat_map(|(_, w)| w.iter())) {
            tracing::error!(file = %path.display(), error = %e, "the values to take back could not be recorded: a kill before the store reopens may show refused writes after the restart");
        }
    }

    /// Clears the take-back record once what it held is taken back and on disk.
    ///
    /// # Errors
    ///
    /// Writing or syncing the record fails.
    pub(super) fn clear_takeback(&self) -> std::io::Result<()> {
        match &self.takeback {
            Some(path) => super::takeback::save(path, std::iter::empty()),
            None => Ok(()),
        }
    }

    /// The failure path: from now on the store serves nothing from this engine. Marks it
    /// failed (reads and writes are refused), stops its flusher, tells every waiter whose
    /// commit was not flushed yet that it is lost (none of them was acknowledged), and wakes
    /// the reopener. A second failure before the reopen only keeps the first reason.
    pub(super) fn fail(&self, tx: &watch::Sender<Flushed>, why: String, full: bool) {
        // Held throughout: a flusher acknowledges a flush under this lock, so it either
        // acknowledged before the failure (and the lost range starts after it) or sees it.
        let undo = self.undo.lock();
        if full {
            self.full.store(true, Ordering::Release);
        }
        let first = !self.failed.swap(true, Ordering::AcqRel);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Ok(undo) = &undo {
            if first {
                self.save_takeback(undo);
            }
        }
        if !first {
            return;
        }
        if let Ok(mut slot) = self.why.lock() {
            *slot = why.clone();
        }
        tracing::error!(error = %why, full, "store failed; reads and writes are refused until it is reopened from disk");
        self.generation.fetch_add(1, Ordering::AcqRel);
        // Taking the lock orders the flusher's look at the generation with this notify.
        drop(self.wanted.lock());
        self.wake.notify_all();
        tx.send_modify(|f| {
            f.lost.push((f.ticket + 1, u64::MAX));
            f.error = Some((why, full));
        });
        drop(undo);
        drop(self.closing.lock());
        self.reopen_wake.notify_all();
    }

    /// Returns true if and only if the flusher of `generation` must stop.
    fn stopped(&self, generation: u64) -> bool {
        self.generation.load(Ordering::Acquire) != generation
    }

    /// Writes the durable-state record from the durable marks, unless the store is behind it.
    pub(super) fn write_state(&self) {
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

impl SledStore {
    /// Starts the flusher thread of `engine`, counting from ticket `done`.
    pub(super) fn spawn_flusher(&self, engine: &Engine, done: u64) -> Result<()> {
        let flusher = {
            let (db, applied, control) = (
                engine.db.clone(),
                self.applied.clone(),
                self.control.clone(),
            );
            let (tx, data_file) = (self.flushed_tx.clone(), self.path.join("db"));
            let generation = control.generation.load(Ordering::Acquire);
            std::thread::Builder::new()
                .name("sled-flusher".into())
                .spawn(move || flush_loop(db, data_file, applied, control, tx, done, generation))?
        };
        *self.flusher.lock().map_err(|_| StoreError::FlusherGone)? = Some(flusher);
        Ok(())
    }
}

/// The flusher thread of one engine (`generation`): waits until some commit wants
/// durability, notes the latest applied ticket, flushes and syncs, then publishes that ticket.
/// It stops when the store closes or fails (a failure anywhere moves the generation on).
pub(super) fn flush_loop(
    db: sled::Db,
    data_file: PathBuf,
    applied: Arc<AtomicU64>,
    control: Arc<FlushControl>,
    tx: Arc<watch::Sender<Flushed>>,
    mut done: u64,
    generation: u64,
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
            while wanted.0 <= done && !wanted.1 && !control.stopped(generation) {
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
            if (wanted.1 && wanted.0 <= done) || control.stopped(generation) {
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
                // Acknowledged under the undo lock, unless the store failed meanwhile: then
                // what this flush wrote is taken back at the reopen, as refused.
                let Ok(mut undo) = control.undo.lock() else {
                    return;
                };
                if control.stopped(generation) {
                    return;
                }
                done = target;
                undo.retain(|(t, _)| *t > target);
                // The marks first: a reader woken by the ticket must find them advanced.
                if let Ok(mut marks) = control.marks.lock() {
                    marks.flushed(target);
                }
                tx.send_modify(|f| f.ticket = target);
                drop(undo);
                if state_written.elapsed() >= state::MIN_INTERVAL {
                    control.write_state();
                    state_written = std::time::Instant::now();
                    state_behind = false;
                } else {
                    state_behind = true;
                }
            }
            Err((e, full)) => {
                control.fail(&tx, format!("a flush failed: {e}"), full);
                return;
            }
        }
    }
}
