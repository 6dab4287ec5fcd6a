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

use super::{keys, Change, Conflict, OutboxItem, PlanHeader, Receipt, Result, Store, StoreError};
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
    /// Every commit with a ticket up to this one is on disk.
    ticket: u64,
    /// Set when a flush failed: nothing after it can be acknowledged.
    error: Option<String>,
}

/// Shared between the store and its flusher thread.
struct FlushControl {
    /// Highest ticket some waiter asked to be made durable, and whether to stop.
    wanted: Mutex<(u64, bool)>,
    wake: Condvar,
}

/// A sled database with one tree per entity.
pub struct SledStore {
    db: sled::Db,
    trees: Vec<Tree>,
    /// Serializes commits so that keys and counters computed before a transaction hold in it.
    commit_lock: Mutex<()>,
    /// Ticket of the latest applied commit.
    applied: Arc<AtomicU64>,
    control: Arc<FlushControl>,
    flushed: watch::Receiver<Flushed>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
}

impl SledStore {
    /// Opens (or creates) a store in `path`, with a small page cache.
    pub fn open(path: &Path) -> Result<Arc<Self>> {
        std::fs::create_dir_all(path)?;
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

        let applied = Arc::new(AtomicU64::new(0));
        let control = Arc::new(FlushControl {
            wanted: Mutex::new((0, false)),
            wake: Condvar::new(),
        });
        let (tx, rx) = watch::channel(Flushed::default());
        let flusher = {
            let (db, applied, control) = (db.clone(), applied.clone(), control.clone());
            let data_file = path.join("db");
            std::thread::Builder::new()
                .name("sled-flusher".into())
                .spawn(move || flush_loop(db, data_file, applied, control, tx))?
        };
        Ok(Arc::new(Self {
            db,
            trees,
            commit_lock: Mutex::new(()),
            applied,
            control,
            flushed: rx,
            flusher: Mutex::new(Some(flusher)),
            path: path.to_path_buf(),
        }))
    }

    /// The folder the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn get<T: DeserializeOwned>(&self, tree: usize, key: &[u8]) -> Result<Option<T>> {
        self.trees[tree]
            .get(key)?
            .map(|v| decode(key, &v))
            .transpose()
    }

    fn scan<T: DeserializeOwned>(&self, tree: usize, prefix: &[u8]) -> Result<Vec<T>> {
        self.trees[tree]
            .scan_prefix(prefix)
            .map(|kv| {
                let (k, v) = kv?;
                decode(&k, &v)
            })
            .collect()
    }

    /// Turns changes into plain writes (tree, key, value or delete), reading what must be
    /// replaced. Called under the commit lock.
    fn plan_writes(&self, changes: Vec<Change>) -> Result<Vec<Write>> {
        let mut out = Vec::new();
        let mut outbox_seq = self.meta(OUTBOX_SEQ)?.unwrap_or(0);
        let mut decision_seq = self.meta(DECISION_SEQ)?.unwrap_or(0);
        let mut conflict_seq = self.meta(CONFLICT_SEQ)?.unwrap_or(0);
        let mut audit_seq = self.meta(AUDIT_SEQ)?.unwrap_or(0);
        let start_audit = audit_seq;
        let mut audit_prev = match self.trees[AUDIT].last()? {
            Some((k, v)) => decode::<AuditRecord>(&k, &v)?.digest,
            None => String::new(),
        };
        let (start_outbox, start_decision, start_conflict) =
            (outbox_seq, decision_seq, conflict_seq);
        let clear_items = |out: &mut Vec<_>, id: &PlanId| -> Result<()> {
            for tree in [ENTRIES, ROUNDS] {
                for key in self.trees[tree].scan_prefix(keys::items_prefix(id)).keys() {
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
        Ok(out)
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
        let _ = self.db.flush();
    }
}

/// The flusher thread: waits until some commit wants durability, notes the latest applied
/// ticket, flushes and syncs, then publishes that ticket.
fn flush_loop(
    db: sled::Db,
    data_file: PathBuf,
    applied: Arc<AtomicU64>,
    control: Arc<FlushControl>,
    tx: watch::Sender<Flushed>,
) {
    let mut done = 0u64;
    loop {
        {
            let mut wanted = match control.wanted.lock() {
                Ok(w) => w,
                Err(_) => return,
            };
            while wanted.0 <= done && !wanted.1 {
                wanted = match control.wake.wait(wanted) {
                    Ok(w) => w,
                    Err(_) => return,
                };
            }
            if wanted.1 && wanted.0 <= done {
                return;
            }
        }
        let target = applied.load(Ordering::Acquire);
        let result = db.flush().map_err(|e| e.to_string()).and_then(|_| {
            File::open(&data_file)
                .and_then(|f| f.sync_data())
                .map_err(|e| e.to_string())
        });
        match result {
            Ok(()) => {
                done = target;
                tx.send_modify(|f| f.ticket = target);
            }
            Err(e) => {
                tracing::error!(error = %e, "flush failed; no further acknowledgements");
                tx.send_modify(|f| f.error = Some(e));
                return;
            }
        }
    }
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
        match self.trees[PLANS].scan_prefix(&prefix).keys().next_back() {
            Some(key) => Ok(keys::version_of(&key?, prefix.len())),
            None => Ok(None),
        }
    }

    fn headers(&self) -> Result<Vec<PlanHeader>> {
        self.scan(PLANS, b"")
    }

    fn headers_where(&self, keep: &dyn Fn(&str, &str) -> bool) -> Result<Vec<PlanHeader>> {
        let mut out = Vec::new();
        for kv in self.trees[PLANS].iter() {
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
        self.trees[OUTBOX]
            .iter()
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
        let prefix_len = unit.len() + 1;
        self.trees[DECISIONS]
            .range(keys::decision(unit, start)..=keys::decision(unit, u64::MAX))
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
        Ok(self.trees[META].get(key.as_bytes())?.and_then(|v| {
            let bytes: [u8; 8] = v.as_ref().try_into().ok()?;
            Some(u64::from_be_bytes(bytes))
        }))
    }

    fn document(&self, key: &str) -> Result<Option<serde_json::Value>> {
        self.get(DOCUMENTS, key.as_bytes())
    }

    fn documents(&self, prefix: &str) -> Result<Vec<(String, serde_json::Value)>> {
        self.trees[DOCUMENTS]
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

    fn audit_head(&self) -> Result<Option<(u64, String)>> {
        match self.trees[AUDIT].last()? {
            Some((k, v)) => {
                let record = decode::<AuditRecord>(&k, &v)?;
                Ok(Some((record.seq, record.digest)))
            }
            None => Ok(None),
        }
    }

    fn conflicts(&self) -> Result<Vec<Conflict>> {
        self.scan(CONFLICTS, b"")
    }

    fn commit(&self, changes: Vec<Change>) -> Result<u64> {
        let _guard = self
            .commit_lock
            .lock()
            .map_err(|_| StoreError::FlusherGone)?;
        let writes = self.plan_writes(changes)?;
        let trees: Vec<&Tree> = self.trees.iter().collect();
        trees
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
            .map_err(|e: TransactionError<()>| StoreError::Transaction(format!("{e:?}")))?;
        Ok(self.applied.fetch_add(1, Ordering::AcqRel) + 1)
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
                .wait_for(|f| f.ticket >= ticket || f.error.is_some())
                .await
                .map_err(|_| StoreError::FlusherGone)?;
            match &state.error {
                Some(e) if state.ticket < ticket => {
                    Err(StoreError::Transaction(format!("flush failed: {e}")))
                }
                _ => Ok(()),
            }
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
        let store = SledStore::open(dir.path()).unwrap();
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
        let store = SledStore::open(dir.path()).unwrap();
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
            let store = SledStore::open(dir.path()).unwrap();
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
        let store = SledStore::open(dir.path()).unwrap();
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
        let store = SledStore::open(dir.path()).unwrap();
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
}
