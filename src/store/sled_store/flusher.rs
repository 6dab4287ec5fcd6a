//! Group commit on the waiting task: the first [`SledStore::durable`] caller whose commit is
//! applied but not yet on disk takes the flush lock and makes durable, on its own thread, every
//! commit applied so far (sled's blocking `flush()`, then an `fsync` of the data file), and
//! tells every waiter how far that reached; a waiter that finds the lock taken waits for that
//! flush and looks again, so one flush serves every commit applied before it began. No thread
//! hand-off sits on a commit's path (a flusher thread cost two wake-ups a push: docs/
//! performance.md). Also here: the marks of what is durable, shared with the store, and the
//! durable-state record's pace.
//!
//! [`SledStore::durable`]: super::SledStore

use std::{
    collections::VecDeque,
    fs::File,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Condvar, Mutex,
    },
    time::{Duration, Instant},
};

use sled::Tree;
use tokio::sync::watch;

use super::{
    super::{
        codec,
        staging::Write,
        state::{self, DurableState},
        Result,
    },
    is_disk_full, SledStore, AUDIT, AUDIT_SEQ, DECISION_SEQ, META, OUTBOX_SEQ, TREE_NAMES,
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

/// When the durable-state record was last written, and whether a flush since then is not in
/// it yet.
struct StateClock {
    written: Instant,
    behind: bool,
}

/// Shared between the store, the tasks that flush it and its reopener thread.
pub(super) struct FlushControl {
    /// Held by whoever flushes: one flush at a time, and none while the engine is replaced.
    pub(super) flush_lock: Mutex<()>,
    /// The pace of the durable-state record (written at most every [`state::MIN_INTERVAL`];
    /// the reopener thread catches it up when the store goes idle with it behind).
    state_clock: Mutex<StateClock>,
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
    /// Moves on at every failure: a flush that began in an older generation acknowledges
    /// nothing (what it wrote is taken back at the reopen, as refused).
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
}

impl FlushControl {
    /// A control for a store just opened, with `marks`.
    pub(super) fn new(
        marks: Marks,
        state_path: PathBuf,
        record: bool,
        behind: Option<String>,
    ) -> Self {
        Self {
            flush_lock: Mutex::new(()),
            state_clock: Mutex::new(StateClock {
                written: Instant::now() - state::MIN_INTERVAL,
                behind: false,
            }),
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
        }
    }

    /// The failure path: from now on the store serves nothing from this engine. Marks it
    /// failed (reads and writes are refused), voids any flush under way, tells every waiter whose
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
        if !first {
            return;
        }
        if let Ok(mut slot) = self.why.lock() {
            *slot = why.clone();
        }
        tracing::error!(error = %why, full, "store failed; reads and writes are refused until it is reopened from disk");
        self.generation.fetch_add(1, Ordering::AcqRel);
        tx.send_modify(|f| {
            f.lost.push((f.ticket + 1, u64::MAX));
            f.error = Some((why, full));
        });
        drop(undo);
        drop(self.closing.lock());
        self.reopen_wake.notify_all();
    }

    /// Returns true if and only if the flush begun in `generation` may no longer acknowledge.
    fn stopped(&self, generation: u64) -> bool {
        self.generation.load(Ordering::Acquire) != generation
    }

    /// Writes the durable-state record from the durable marks, unless the store is behind it.
    pub(super) fn write_state(&self) {
        let Ok(mut clock) = self.state_clock.lock() else {
            return;
        };
        self.write_state_locked(&mut clock);
    }

    fn write_state_locked(&self, clock: &mut StateClock) {
        clock.written = Instant::now();
        clock.behind = false;
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

    /// After a flush: writes the durable-state record if the last write is
    /// [`state::MIN_INTERVAL`] old, else notes it behind and wakes the reopener thread, which
    /// writes it once the interval is over if no flush has by then.
    fn flushed_state(&self) {
        let Ok(mut clock) = self.state_clock.lock() else {
            return;
        };
        if clock.written.elapsed() >= state::MIN_INTERVAL {
            self.write_state_locked(&mut clock);
        } else if !clock.behind {
            clock.behind = true;
            drop(clock);
            // Taken so that the reopener, between its look at the clock and its wait, cannot
            // miss this.
            drop(self.closing.lock());
            self.reopen_wake.notify_all();
        }
    }

    /// How long until the durable-state record, behind the last flush, is due; `None` when it
    /// is not behind.
    pub(super) fn state_due(&self) -> Option<Duration> {
        let clock = self.state_clock.lock().ok()?;
        clock
            .behind
            .then(|| state::MIN_INTERVAL.saturating_sub(clock.written.elapsed()))
    }
}

impl SledStore {
    /// Makes every commit applied so far durable, on the calling thread: sled's `flush()`,
    /// then an `fsync` of the data file; then advances the durable marks and publishes the
    /// ticket reached (always publishes, so that waiters look again). Call with the flush lock
    /// held. A failed flush fails the store ([`FlushControl::fail`]).
    pub(super) fn flush_applied(&self) {
        let control = &self.control;
        let generation = control.generation.load(Ordering::Acquire);
        let target = self.applied.load(Ordering::Acquire);
        let nothing_new = self.flushed_tx.borrow().ticket >= target;
        let engine = match self.engine() {
            Ok(engine) if !nothing_new && !control.failed.load(Ordering::Acquire) => engine,
            // Failed (its waiters were told), or nothing to do: wake the waiters to look again.
            _ => {
                self.flushed_tx.send_modify(|_| {});
                return;
            }
        };
        if let Some(delay) = control.delay {
            std::thread::sleep(delay);
        }
        let result = match engine.db.flush() {
            Err(sled::Error::Io(e)) => Err(e),
            Err(e) => Err(std::io::Error::other(e.to_string())),
            Ok(_) => File::open(self.path.join("db")).and_then(|f| f.sync_data()),
        }
        .map_err(|e| (e.to_string(), is_disk_full(&e)));
        drop(engine);
        if let Err((e, full)) = result {
            control.fail(&self.flushed_tx, format!("a flush failed: {e}"), full);
            return;
        }
        {
            // Acknowledged under the undo lock, unless the store failed meanwhile: then what
            // this flush wrote is taken back at the reopen, as refused.
            let Ok(mut undo) = control.undo.lock() else {
                self.flushed_tx.send_modify(|_| {});
                return;
            };
            if control.stopped(generation) {
                drop(undo);
                self.flushed_tx.send_modify(|_| {});
                return;
            }
            undo.retain(|(t, _)| *t > target);
            // The marks first: a reader woken by the ticket must find them advanced.
            if let Ok(mut marks) = control.marks.lock() {
                marks.flushed(target);
            }
            self.flushed_tx
                .send_modify(|f| f.ticket = f.ticket.max(target));
        }
        control.flushed_state();
    }
}
