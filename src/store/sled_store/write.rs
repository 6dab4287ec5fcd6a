//! Writing the store: a commit turns its changes into plain writes under the commit lock and
//! stages them; the first waiter applies every staged commit in one sled transaction and then
//! waits for the flusher.

use std::sync::atomic::Ordering;

use sled::{transaction::TransactionError, IVec, Transactional, Tree};

use super::{
    super::{
        codec, keys, staging::Write, state::DurableState, Change, PlanHeader, Result, Store,
        StoreError,
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

impl SledStore {
    /// Turns changes into plain writes (tree, key, value or delete), reading what must be
    /// replaced. Called under the commit lock.
    pub(super) fn plan_writes(&self, changes: Vec<Change>) -> Result<(Vec<Write>, DurableState)> {
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
                    out.push(record_write(
                        PLANS,
                        keys::plan(&plan.id),
                        &PlanHeader::of(&plan),
                    ));
                }
                Change::PutHeader(h) => out.push(record_write(PLANS, keys::plan(&h.id), &h)),
                Change::Enqueue(item) => {
                    out.push(record_write(OUTBOX, next_key(&mut outbox_seq), &item));
                }
                Change::Dequeue(seq) => out.push((OUTBOX, seq.to_be_bytes().to_vec(), None)),
                Change::PutReceipt(r) => out.push(record_write(RECEIPTS, keys::plan(&r.plan), &r)),
                Change::LogDecision(d) => {
                    decision_seq += 1;
                    let key = keys::decision(&d.plan.unit, decision_seq);
                    out.push(record_write(DECISIONS, key, &d));
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
                        out.push(record_write(AUDIT_SEALS, key.clone(), &seal));
                    }
                    out.push(record_write(AUDIT, key, &record));
                }
                Change::DeleteDocument(key) => out.push((DOCUMENTS, key.into_bytes(), None)),
                Change::RecordConflict(c) => {
                    out.push(record_write(CONFLICTS, next_key(&mut conflict_seq), &c));
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
            // The store failed while this transaction ran: its values join the record.
            if self.control.failed.load(Ordering::Acquire) {
                self.control.save_takeback(&undo);
            }
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
    pub(super) fn stage_commit(&self, changes: Vec<Change>) -> Result<u64> {
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

    /// [`Store::wait_durable`](super::super::Store::wait_durable): applies the staged commits
    /// up to `ticket` if nobody else is, then waits for the flusher to make them durable.
    pub(super) async fn durable(&self, ticket: u64) -> Result<()> {
        let applied = self.applied_up_to(ticket).await;
        if self.staged()?.failure(ticket).is_some() {
            return Err(self.refused());
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
        Err(StoreError::Transaction(format!(
            "commit {ticket} was not stored: {error}"
        )))
    }
}
