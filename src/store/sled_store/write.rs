//! Writing the store: a commit turns its changes into plain writes under the commit lock and
//! stages them; the first waiter applies every staged commit in one sled transaction and then
//! flushes them, or waits for the flush under way.

use std::sync::atomic::Ordering;

use sled::{transaction::TransactionError, IVec, Transactional, Tree};

use super::{
    super::{
        codec, keys, staging::Write, state::DurableState, Ahead, Change, PlanHeader, Prepared,
        Result, Store, StoreError,
    },
    is_disk_full, SledStore, AUDIT, AUDIT_SEALS, AUDIT_SEQ, BODIES, CONFLICTS, CONFLICT_SEQ,
    DECISIONS, DECISION_SEQ, DOCUMENTS, META, OUTBOX, OUTBOX_SEQ, PLANS, RECEIPTS, STAGED_LIMIT,
    TREE_NAMES,
};
use crate::audit::AuditRecord;

/// The write of one record: `value` encoded (postcard in its envelope) under `key` in `tree`.
fn record_write<T: serde::Serialize + ?Sized>(tree: usize, key: Vec<u8>, value: &T) -> Write {
    let value = codec::encode(&key, value);
    (tree, key, Some(IVec::from(value)))
}

/// Moves a sequence on by one and gives its new number as a key (8 bytes, big-endian).
fn next_key(seq: &mut u64) -> Vec<u8> {
    *seq += 1;
    seq.to_be_bytes().to_vec()
}

/// The writes of `change` if they depend on nothing read at the commit: its keys are not
/// sequence numbers and it chains nothing.
fn ahead_of(change: &Change) -> Option<Ahead> {
    let writes = match change {
        Change::PutPlan(plan) => {
            let chunks = codec::encode_body(plan)
                .into_iter()
                .map(|(key, value)| (BODIES, key, Some(IVec::from(value))))
                .collect();
            let header = record_write(PLANS, keys::plan(&plan.id), &PlanHeader::of(plan));
            return Some(Ahead::Plan { chunks, header });
        }
        Change::PutHeader(h) => vec![record_write(PLANS, keys::plan(&h.id), h)],
        Change::PutReceipt(r) => vec![record_write(RECEIPTS, keys::plan(&r.plan), r)],
        Change::SetDocument(key, value) => {
            let key = key.clone().into_bytes();
            let value = codec::encode_json(&key, value);
            vec![(DOCUMENTS, key, Some(IVec::from(value)))]
        }
        Change::DeleteDocument(key) => vec![(DOCUMENTS, key.clone().into_bytes(), None)],
        Change::SetMeta(key, value) => {
            let key = key.clone().into_bytes();
            let value = codec::encode_u64(&key, *value);
            vec![(META, key, Some(IVec::from(value)))]
        }
        Change::Dequeue(seq) => vec![(OUTBOX, seq.to_be_bytes().to_vec(), None)],
        Change::Enqueue(_)
        | Change::LogDecision(_)
        | Change::RecordConflict(_)
        | Change::AtLeastDecisionSeq(_)
        | Change::Audit(_) => return None,
    };
    Some(Ahead::Writes(writes))
}

impl SledStore {
    /// [`Store::prepare`](super::super::Store::prepare): encodes every change whose writes
    /// need nothing read at the commit (above all, a plan's deflated body).
    pub(super) fn encode_ahead(&self, changes: Vec<Change>) -> Prepared {
        let ahead = changes.iter().map(ahead_of).collect();
        Prepared { changes, ahead }
    }

    /// Turns changes into plain writes (tree, key, value or delete), reading what must be
    /// replaced; what was encoded ahead is taken as it is. Called under the commit lock.
    pub(super) fn plan_writes(&self, prepared: Prepared) -> Result<(Vec<Write>, DurableState)> {
        let Prepared { changes, ahead } = prepared;
        let mut out: Vec<Write> = Vec::with_capacity(changes.len() + 4);
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
        for (change, ahead) in changes.into_iter().zip(ahead) {
            let ahead = match ahead {
                Some(ahead) => ahead,
                None => match ahead_of(&change) {
                    Some(ahead) => ahead,
                    None => Ahead::Writes(Vec::new()),
                },
            };
            match (change, ahead) {
                (Change::PutPlan(plan), Ahead::Plan { chunks, header }) => {
                    // A shorter body than the one it replaces leaves no chunk behind.
                    for (key, _) in self.raw_prefix(BODIES, &keys::items_prefix(&plan.id))? {
                        if !chunks.iter().any(|(_, k, _)| k.as_slice() == key.as_ref()) {
                            out.push((BODIES, key.to_vec(), None));
                        }
                    }
                    out.extend(chunks);
                    out.push(header);
                }
                (
                    Change::PutPlan(_)
                    | Change::PutHeader(_)
                    | Change::PutReceipt(_)
                    | Change::SetDocument(..)
                    | Change::DeleteDocument(_)
                    | Change::SetMeta(..)
                    | Change::Dequeue(_),
                    Ahead::Writes(writes),
                ) => out.extend(writes),
                (Change::Enqueue(item), _) => {
                    out.push(record_write(OUTBOX, next_key(&mut outbox_seq), &item));
                }
                (Change::LogDecision(d), _) => {
                    decision_seq += 1;
                    let key = keys::decision(&d.plan.unit, decision_seq);
                    out.push(record_write(DECISIONS, key, &d));
                }
                (Change::Audit(event), _) => {
                    let prev = match audit_prev.take() {
                        Some(prev) => prev,
                        None => self.audit_head_staged()?,
                    };
                    audit_seq += 1;
                    let record = AuditRecord::seal(audit_seq, event, prev);
                    audit_prev = Some(record.digest.clone());
                    let key = audit_seq.to_be_bytes().to_vec();
                    if let Some(k) = self.audit_key.get() {
                        let seal = k.seal(audit_seq, &record.digest);
                        out.push(record_write(AUDIT_SEALS, key.clone(), &seal));
                    }
                    out.push(record_write(AUDIT, key, &record));
                }
                (Change::RecordConflict(c), _) => {
                    out.push(record_write(CONFLICTS, next_key(&mut conflict_seq), &c));
                }
                (Change::AtLeastDecisionSeq(seq), _) => decision_seq = decision_seq.max(seq),
                (
                    Change::PutHeader(_)
                    | Change::PutReceipt(_)
                    | Change::SetDocument(..)
                    | Change::DeleteDocument(_)
                    | Change::SetMeta(..)
                    | Change::Dequeue(_),
                    Ahead::Plan { .. },
                ) => unreachable!("only a plan is encoded ahead as a plan"),
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
            None => self.audit_head_staged()?,
        };
        let after = DurableState {
            audit_seq,
            audit_head,
            decision_seq,
            outbox_seq,
        };
        Ok((out, after))
    }

    /// The digest of the last audit record, staged or in sled (empty for none). Called under
    /// the commit lock.
    fn audit_head_staged(&self) -> Result<String> {
        Ok(match self.raw_last(AUDIT)? {
            Some((k, v)) => codec::decode::<AuditRecord>(TREE_NAMES[AUDIT], &k, &v)?.digest,
            None => String::new(),
        })
    }

    /// Applies every staged commit to sled in one transaction, in ticket order, keeping the
    /// values it replaces until a flush covers it (see [`FlushControl::undo`]). Call with the
    /// apply lock held. A failed transaction fails the store ([`FlushControl::fail`]): it may
    /// be half applied in sled's memory, so nothing is served from that engine again; the
    /// staged commits are discarded (later ones were computed on top of it) and their waiters
    /// get the error.
    ///
    /// [`FlushControl::undo`]: super::flusher::FlushControl::undo
    /// [`FlushControl::fail`]: super::flusher::FlushControl::fail
    pub(super) fn apply_staged(&self) -> Result<()> {
        if self.control.failed.load(Ordering::Acquire) {
            return Err(self.refused());
        }
        let batches = self.staged()?.drain();
        let (Some((first, _)), Some((last, _))) = (batches.first(), batches.last()) else {
            return Ok(());
        };
        let (first, last) = (*first, *last);
        let engine = self.engine()?;
        let trees: Vec<&Tree> = engine.trees.iter().collect();
        // What each write replaced, collected afresh at every attempt of the closure.
        let replaced = std::cell::RefCell::new(Vec::new());
        let result = trees.as_slice().transaction(|tx| {
            let mut replaced = replaced.borrow_mut();
            replaced.clear();
            for (_, writes) in &batches {
                for (tree, key, value) in writes {
                    let old = match value {
                        Some(v) => tx[*tree].insert(key.as_slice(), v.clone())?,
                        None => tx[*tree].remove(key.as_slice())?,
                    };
                    replaced.push((*tree, key.clone(), old));
                }
            }
            Ok(())
        });
        // Kept before the ticket counts as applied, so a flush that covers it finds it.
        if let Ok(mut undo) = self.control.undo.lock() {
            undo.push_back((last, replaced.into_inner()));
        }
        match result {
            Ok(()) => {
                self.transactions.fetch_add(1, Ordering::Relaxed);
                self.applied.store(last, Ordering::Release);
                self.staged()?.forget(last);
                Ok(())
            }
            Err(e) => {
                let e: TransactionError<()> = e;
                let full = matches!(&e, TransactionError::Storage(sled::Error::Io(io)) if is_disk_full(io));
                let reason = format!("a transaction failed: {e:?}");
                tracing::error!(error = %reason, first, last, "staged commits discarded");
                self.control.fail(&self.flushed_tx, reason.clone(), full);
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
                Err(self.refused())
            }
        }
    }

    /// Applies staged commits until `ticket` is applied; waits (without blocking the thread)
    /// while another caller applies.
    pub(super) async fn applied_up_to(&self, ticket: u64) -> Result<()> {
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

    /// [`Store::commit`](super::super::Store::commit): computes the writes under the commit
    /// lock, stages them, and applies the staged commits early when they pile up.
    pub(super) fn stage_commit(&self, prepared: Prepared) -> Result<u64> {
        let (ticket, pile) = {
            let _guard = self
                .commit_lock
                .lock()
                .map_err(|_| StoreError::FlusherGone)?;
            if let Some(why) = &self.control.behind {
                return Err(StoreError::Behind(why.clone()));
            }
            // A failed store is reopened in the background, never on a write's path.
            if self.control.failed.load(Ordering::Acquire) {
                return Err(self.refused());
            }
            let (writes, after) = self.plan_writes(prepared)?;
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

    /// [`Store::wait_durable`](super::super::Store::wait_durable): applies the staged commits
    /// up to `ticket` if nobody else is, then makes them durable on this task if no flush is
    /// under way ([`SledStore::flush_applied`]), or waits for the flush under way and looks
    /// again (group commit: one flush serves every commit applied before it began).
    pub(super) async fn durable(&self, ticket: u64) -> Result<()> {
        let applied = self.applied_up_to(ticket).await;
        if self.staged()?.failure(ticket).is_some() {
            return Err(self.refused());
        }
        applied?;
        let mut rx = self.flushed.clone();
        loop {
            {
                let state = rx.borrow_and_update();
                if state.is_lost(ticket) {
                    let (error, full) = state.error.clone().unwrap_or_default();
                    drop(state);
                    if full {
                        return Err(self.full(self.free_space().unwrap_or(0)));
                    }
                    return Err(StoreError::Transaction(format!(
                        "commit {ticket} was not stored: {error}"
                    )));
                }
                if state.ticket >= ticket {
                    return Ok(());
                }
            }
            let flushed_here = match self.control.flush_lock.try_lock() {
                Ok(guard) => {
                    self.flush_applied();
                    drop(guard);
                    // Wakes whoever found the lock taken after this flush published: they look
                    // again now that it is free.
                    self.flushed_tx.send_modify(|_| {});
                    true
                }
                Err(std::sync::TryLockError::WouldBlock) => false,
                Err(std::sync::TryLockError::Poisoned(_)) => return Err(StoreError::FlusherGone),
            };
            if !flushed_here {
                // Woken when the flush under way is published; then look again.
                rx.changed().await.map_err(|_| StoreError::FlusherGone)?;
            }
        }
    }
}
