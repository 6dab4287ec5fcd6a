//! The flusher thread: one thread per open engine that makes staged-and-applied commits
//! durable (sled's blocking `flush()`, then an `fsync` of the data file) and tells waiters how
//! far that reached; and the marks of what is durable, shared with the store.

use std::{
    fs::File,
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Condvar, Mutex,
    },
};

use sled::Tree;
use tokio::sync::watch;

use super::{
    super::{
        codec,
        state::{self, DurableState},
        Result, StoreError,
    },
    is_disk_full,
    open::Engine,
    SledStore, AUDIT, AUDIT_SEQ, DECISION_SEQ, META, OUTBOX_SEQ, TREE_NAMES,
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
    /// Set by the flusher when a flush fails: sled's error is sticky, so the store refuses
    /// writes until it is reopened.
    pub(super) failed: std::sync::atomic::AtomicBool,
    /// Set when a flush or a transaction failed because the disk is full.
    pub(super) full: std::sync::atomic::AtomicBool,
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
            std::thread::Builder::new()
                .name("sled-flusher".into())
                .spawn(move || flush_loop(db, data_file, applied, control, tx, done))?
        };
        *self.flusher.lock().map_err(|_| StoreError::FlusherGone)? = Some(flusher);
        Ok(())
    }
}

/// The flusher thread: waits until some commit wants durability, notes the latest applied
/// ticket, flushes and syncs, then publishes that ticket.
pub(super) fn flush_loop(
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
