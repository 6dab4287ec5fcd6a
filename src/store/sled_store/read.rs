//! Reading the store: every read looks at the staged commits first and sled second, decodes
//! with the CRC check, and shows the outbox and decision log only up to the durable marks.

use std::sync::MutexGuard;

use serde::de::DeserializeOwned;
use sled::IVec;

use super::{
    super::{
        codec, keys,
        staging::{self, Staged},
        Change, Conflict, OutboxItem, PlanHeader, Receipt, Result, Store, StoreError,
    },
    SledStore, AUDIT, AUDIT_SEALS, AUDIT_SEQ, BODIES, CONFLICTS, DECISIONS, DOCUMENTS, META,
    OUTBOX, PLANS, RECEIPTS, TREE_NAMES,
};
use crate::{
    audit::AuditRecord,
    domain::{Decision, Plan, PlanId, PlanStatus},
};

impl SledStore {
    pub(super) fn staged(&self) -> Result<MutexGuard<'_, Staged>> {
        self.staged.lock().map_err(|_| StoreError::FlusherGone)
    }

    /// One raw value, staged or in sled.
    pub(super) fn raw(&self, tree: usize, key: &[u8]) -> Result<Option<IVec>> {
        if let Some(staged) = self.staged()?.get(tree, key) {
            return Ok(staged);
        }
        Ok(self.engine()?.trees[tree].get(key)?)
    }

    /// Raw values of the keys that start with `prefix`, staged or in sled, in key order.
    pub(super) fn raw_prefix(&self, tree: usize, prefix: &[u8]) -> Result<Vec<(IVec, IVec)>> {
        let staged = self.staged()?.from(tree, prefix, |k| k.starts_with(prefix));
        Ok(staging::merge(
            self.engine()?.trees[tree].scan_prefix(prefix),
            staged,
        )?)
    }

    /// Raw values of the keys in `lo..=hi`, staged or in sled, in key order.
    pub(super) fn raw_range(&self, tree: usize, lo: &[u8], hi: &[u8]) -> Result<Vec<(IVec, IVec)>> {
        let staged = self.staged()?.from(tree, lo, |k| k <= hi);
        Ok(staging::merge(
            self.engine()?.trees[tree].range(lo..=hi),
            staged,
        )?)
    }

    /// The greatest key of an append-only tree with its value.
    pub(super) fn raw_last(&self, tree: usize) -> Result<Option<(IVec, IVec)>> {
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

    pub(super) fn get<T: DeserializeOwned>(&self, tree: usize, key: &[u8]) -> Result<Option<T>> {
        self.raw(tree, key)?
            .map(|v| codec::decode(TREE_NAMES[tree], key, &v))
            .transpose()
    }

    pub(super) fn scan<T: DeserializeOwned>(&self, tree: usize, prefix: &[u8]) -> Result<Vec<T>> {
        self.raw_prefix(tree, prefix)?
            .iter()
            .map(|(k, v)| codec::decode(TREE_NAMES[tree], k, v))
            .collect()
    }
}

impl Store for SledStore {
    fn plan(&self, id: &PlanId) -> Result<Option<Plan>> {
        self.guarded(|| {
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
        })
    }

    fn header(&self, id: &PlanId) -> Result<Option<PlanHeader>> {
        self.guarded(|| self.get(PLANS, &keys::plan(id)))
    }

    fn latest_version(&self, unit: &str, term: &str) -> Result<Option<u32>> {
        self.guarded(|| {
            let prefix = keys::plan_prefix(unit, term);
            match self.raw_prefix(PLANS, &prefix)?.last() {
                Some((key, _)) => Ok(keys::version_of(key, prefix.len())),
                None => Ok(None),
            }
        })
    }

    fn headers(&self) -> Result<Vec<PlanHeader>> {
        self.guarded(|| self.scan(PLANS, b""))
    }

    fn headers_where(&self, keep: &dyn Fn(&str, &str) -> bool) -> Result<Vec<PlanHeader>> {
        self.guarded(|| {
            let mut out = Vec::new();
            for (k, v) in self.raw_prefix(PLANS, b"")? {
                let mut parts = k.splitn(3, |b| *b == 0);
                let unit =
                    std::str::from_utf8(parts.next().unwrap_or_default()).unwrap_or_default();
                let term =
                    std::str::from_utf8(parts.next().unwrap_or_default()).unwrap_or_default();
                if keep(unit, term) {
                    out.push(codec::decode(TREE_NAMES[PLANS], &k, &v)?);
                }
            }
            Ok(out)
        })
    }

    fn outbox(&self) -> Result<Vec<(u64, OutboxItem)>> {
        self.guarded(|| {
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
        })
    }

    fn receipt(&self, id: &PlanId) -> Result<Option<Receipt>> {
        self.guarded(|| self.get(RECEIPTS, &keys::plan(id)))
    }

    fn decisions_for(&self, unit: &str, after: u64) -> Result<Vec<(u64, Decision)>> {
        self.guarded(|| {
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
        })
    }

    fn meta(&self, key: &str) -> Result<Option<u64>> {
        self.guarded(|| {
            self.raw(META, key.as_bytes())?
                .map(|v| codec::decode_u64(TREE_NAMES[META], key.as_bytes(), &v))
                .transpose()
        })
    }

    fn document(&self, key: &str) -> Result<Option<serde_json::Value>> {
        self.guarded(|| {
            self.raw(DOCUMENTS, key.as_bytes())?
                .map(|v| codec::decode_json(TREE_NAMES[DOCUMENTS], key.as_bytes(), &v))
                .transpose()
        })
    }

    fn documents(&self, prefix: &str) -> Result<Vec<(String, serde_json::Value)>> {
        self.guarded(|| {
            self.raw_prefix(DOCUMENTS, prefix.as_bytes())?
                .into_iter()
                .map(|(k, v)| {
                    Ok((
                        String::from_utf8_lossy(&k).into_owned(),
                        codec::decode_json(TREE_NAMES[DOCUMENTS], &k, &v)?,
                    ))
                })
                .collect()
        })
    }

    fn audit(&self) -> Result<(Vec<AuditRecord>, u64)> {
        self.guarded(|| Ok((self.scan(AUDIT, b"")?, self.meta(AUDIT_SEQ)?.unwrap_or(0))))
    }

    fn audit_seals(&self) -> Result<std::collections::BTreeMap<u64, String>> {
        self.guarded(|| {
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
        })
    }

    fn audit_key(&self) -> Option<&crate::audit::AuditKey> {
        self.audit_key.get()
    }

    fn earlier_audit_keys(&self) -> &[crate::audit::AuditKey] {
        self.earlier_audit_keys.get().map_or(&[], Vec::as_slice)
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
        self.guarded(|| self.scan(CONFLICTS, b""))
    }

    fn commit(&self, changes: Vec<Change>) -> Result<u64> {
        self.stage_commit(changes)
    }

    fn wait_durable(
        &self,
        ticket: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + '_>> {
        Box::pin(self.durable(ticket))
    }

    fn last_ticket(&self) -> u64 {
        self.staged().map(|s| s.last_ticket()).unwrap_or(0)
    }

    fn refused(&self, ticket: u64) -> bool {
        // Lost: applied, but the store failed before a flush covered it (the open range of
        // a store that is failed now covers every later ticket, all of which it refuses).
        // Discarded: staged on top of a failed transaction, never applied.
        self.flushed.borrow().is_lost(ticket)
            || self.staged().is_ok_and(|s| s.failure(ticket).is_some())
    }
}
