//! Opening the store: the folder lock, the start-up repair, sled itself, the format check and
//! the durable-state record; and reopening it after a failed flush.

use std::{
    fs::File,
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use sled::{transaction::TransactionError, Transactional, Tree};
use tokio::sync::watch;

use super::{
    super::{
        codec, keys,
        staging::{Staged, Write},
        state, Result, StoreError,
    },
    flusher::{FlushControl, Flushed, Marks},
    takeback, Engine, SledStore, AUDIT, BODIES, FORMAT_1_TREE, META, PLANS, TREE_NAMES,
};
use crate::{audit::AuditRecord, domain::PlanHeader};

/// How long opening waits for the folder's previous holder to let go (a process that is still
/// exiting, or this process's previous handle whose sled threads are still closing) before it
/// reports that the store is in use.
pub(super) const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Takes the folder's lock, waiting up to [`LOCK_WAIT`] for a holder that is closing.
pub(super) fn lock_folder(path: &Path) -> Result<File> {
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
pub(super) fn open_sled(path: &Path) -> Result<sled::Db> {
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
pub(super) const MIN_FREE: u64 = 1024 * 1024;

/// Opens sled on `path` with a small page cache, checks its format, and syncs what it created.
pub(super) fn open_engine(path: &Path) -> Result<Engine> {
    let folder_lock = lock_folder(path)?;
    remove_unfinished_creation(path)?;
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
        let takeback_path = takeback::path_for(path);
        take_back_recorded(&engine, path, &takeback_path)?;
        let takeback_ready = match takeback::reserve(&takeback_path) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(file = %takeback_path.display(), error = %e, "no room reserved for the take-back record: a node killed while its store is failed may show refused writes after the restart");
                false
            }
        };
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
                     hold receipts for and the parent's decisions come down again \
                     (docs/sync-and-recovery.md, Recovery)",
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
        let control = Arc::new(FlushControl::new(
            marks,
            state_path,
            record,
            behind,
            takeback_ready.then_some(takeback_path),
        ));
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
            earlier_audit_keys: std::sync::OnceLock::new(),
        };
        store.spawn_flusher(&engine, 0)?;
        *store.engine.write().map_err(|_| StoreError::FlusherGone)? = Some(Arc::new(engine));
        let store = Arc::new(store);
        let (weak, control) = (Arc::downgrade(&store), store.control.clone());
        std::thread::Builder::new()
            .name("store-reopener".into())
            .spawn(move || reopener(weak, control))?;
        Ok(store)
    }

    /// After a failure ([`FlushControl::fail`]): if there is space again, drops the failed
    /// engine (sled's error is sticky and its memory may hold refused or half-applied
    /// commits), opens sled again on what is on disk, takes back whatever sled wrote there of
    /// commits that were never acknowledged, and starts a new flusher. Every commit not
    /// acknowledged before the failure is gone; none of them was acknowledged. Called only by
    /// the reopener thread.
    ///
    /// # Errors
    ///
    /// [`StoreError::Full`] while less than [`MIN_FREE`] bytes are free; otherwise whatever
    /// opening sled or writing the take-back fails with (the reopener tries again).
    pub(super) fn reopen(&self) -> Result<()> {
        let free = self.free_space().unwrap_or(u64::MAX);
        if free < MIN_FREE {
            return Err(self.full(free));
        }
        tracing::warn!(path = %self.path.display(), free, "reopening the store after a failure");
        // The apply lock first, as everywhere: then no commit is staged or applied meanwhile.
        let _apply = self
            .apply_lock
            .lock()
            .map_err(|_| StoreError::FlusherGone)?;
        let _commits = self
            .commit_lock
            .lock()
            .map_err(|_| StoreError::FlusherGone)?;
        // Every ticket handed out so far is either on disk or refused.
        let last = {
            let mut staged = self.staged()?;
            let first = self.applied.load(Ordering::Acquire) + 1;
            if first <= staged.last_ticket() {
                staged.discard(first, "the store failed before it was applied".into());
            }
            staged.last_ticket()
        };
        self.applied.store(last, Ordering::Release);
        self.applied_tx.send_replace(last);
        // The failure moved the flusher's generation on, so it has stopped or is stopping.
        let flusher = self
            .flusher
            .lock()
            .map_err(|_| StoreError::FlusherGone)?
            .take();
        if let Some(handle) = flusher {
            let _ = handle.join();
        }
        let mut slot = self.engine.write().map_err(|_| StoreError::FlusherGone)?;
        drop(slot.take());
        // A reader that cloned the old engine a moment ago may still hold sled's file lock:
        // `open_engine` waits for it (`LOCK_WAIT`).
        let engine = open_engine(&self.path)?;
        {
            let mut undo = self
                .control
                .undo
                .lock()
                .map_err(|_| StoreError::FlusherGone)?;
            take_back(&engine, undo.iter().flat_map(|(_, w)| w.iter()))?;
            File::open(self.path.join("db"))?.sync_all()?;
            // Taken back and on disk: the record is no longer needed (kept until then, so
            // that a kill in between takes back again at the next start).
            self.control.clear_takeback()?;
            undo.clear();
        }
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
        self.spawn_flusher(&engine, last)?;
        *slot = Some(Arc::new(engine));
        drop(slot);
        self.control.full.store(false, Ordering::Release);
        self.control.failed.store(false, Ordering::Release);
        self.control.epoch.fetch_add(1, Ordering::AcqRel);
        tracing::info!(path = %self.path.display(), "store reopened from disk; reads and writes resume");
        Ok(())
    }
}

/// Writes back, in one transaction, the values that refused commits replaced (the earliest
/// replaced value of each key is the acknowledged one), and flushes. Returns how many keys it
/// wrote back.
fn take_back<'a>(engine: &Engine, writes: impl Iterator<Item = &'a Write>) -> Result<usize> {
    let mut before: std::collections::BTreeMap<(usize, &[u8]), &Option<sled::IVec>> =
        Default::default();
    for (tree, key, old) in writes {
        before.entry((*tree, key.as_slice())).or_insert(old);
    }
    if before.is_empty() {
        return Ok(0);
    }
    if let Some(((tree, _), _)) = before.iter().find(|((t, _), _)| *t >= engine.trees.len()) {
        return Err(StoreError::Transaction(format!(
            "a value to take back names tree {tree}, which the store does not have"
        )));
    }
    let trees: Vec<&Tree> = engine.trees.iter().collect();
    trees
        .as_slice()
        .transaction(|tx| {
            for ((tree, key), old) in &before {
                match old {
                    Some(v) => tx[*tree].insert(*key, v.clone())?,
                    None => tx[*tree].remove(*key)?,
                };
            }
            Ok(())
        })
        .map_err(|e: TransactionError<()>| StoreError::Transaction(format!("{e:?}")))?;
    engine.db.flush()?;
    tracing::warn!(
        keys = before.len(),
        "took back from disk what sled had written of refused commits"
    );
    Ok(before.len())
}

/// At open: takes back what the take-back record holds (a node killed while its store was
/// failed, before the reopen took it back), syncs, and clears the record.
///
/// # Errors
///
/// Writing back, syncing or clearing fails. A damaged record is logged and left as evidence,
/// not applied: it was being written when the process died, so what it lacks is unknown.
fn take_back_recorded(engine: &Engine, path: &Path, record: &Path) -> Result<()> {
    let writes = match takeback::load(record) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "the take-back record is damaged and is not applied");
            return Ok(());
        }
    };
    if writes.is_empty() {
        return Ok(());
    }
    let keys = take_back(engine, writes.iter())?;
    File::open(path.join("db"))?.sync_all()?;
    takeback::save(record, std::iter::empty())?;
    tracing::warn!(
        keys,
        file = %record.display(),
        "took back at start what a store failed before a kill held of refused commits"
    );
    Ok(())
}

/// The reopener thread: sleeps until the store fails, then tries [`SledStore::reopen`] with a
/// growing pause (up to [`REOPEN_PAUSE_MAX`]) until it succeeds; ends when the store closes.
fn reopener(store: std::sync::Weak<SledStore>, control: Arc<FlushControl>) {
    let mut pause = REOPEN_PAUSE_MIN;
    loop {
        {
            let Ok(mut closing) = control.closing.lock() else {
                return;
            };
            while !*closing && !control.failed.load(Ordering::Acquire) {
                closing = match control.reopen_wake.wait(closing) {
                    Ok(c) => c,
                    Err(_) => return,
                };
            }
            if *closing {
                return;
            }
        }
        let Some(store) = store.upgrade() else {
            return;
        };
        match store.reopen() {
            Ok(()) => pause = REOPEN_PAUSE_MIN,
            Err(e) => {
                tracing::debug!(error = %e, ?pause, "the store cannot be reopened yet");
                drop(store);
                let Ok(closing) = control.closing.lock() else {
                    return;
                };
                if *closing {
                    return;
                }
                let _ = control.reopen_wake.wait_timeout(closing, pause);
                pause = (pause * 2).min(REOPEN_PAUSE_MAX);
            }
        }
    }
}

/// The first pause of the reopener after a failed attempt.
const REOPEN_PAUSE_MIN: std::time::Duration = std::time::Duration::from_millis(25);
/// The longest pause between two attempts: how long after space is freed the store may take to
/// answer again.
const REOPEN_PAUSE_MAX: std::time::Duration = std::time::Duration::from_millis(400);

/// Removes what a creation of the store that was cut short left: sled 0.34.7 writes its `conf`
/// file in two writes (the settings, then their checksum) before it creates `db`, so a node
/// killed in between leaves a `conf` that sled refuses to read ("Read corrupted data") at every
/// start after. Without `db` the store never held anything (every value sled keeps is in `db`
/// or in a blob that `db` names), so the partial `conf` is removed and sled writes it again.
pub(super) fn remove_unfinished_creation(path: &Path) -> Result<()> {
    let conf = path.join("conf");
    if path.join("db").exists() || !conf.exists() {
        return Ok(());
    }
    let bytes = conf.metadata().map(|m| m.len()).unwrap_or(0);
    tracing::warn!(
        file = %conf.display(),
        bytes,
        "removing the settings file of a store whose creation was cut short (no db file)"
    );
    std::fs::remove_file(&conf)?;
    File::open(path)?.sync_all()?;
    Ok(())
}

/// Removes the `snap.<lsn>.generating` files that sled 0.34.7 leaves when it is interrupted
/// while writing a snapshot. Its reader takes the last snapshot file in name order, which is
/// such a leftover, and then refuses to open ("Read corrupted data"). The snapshot it was
/// writing is never needed: sled removes the previous snapshot only after the new one is
/// renamed into place, and the log still holds everything after the previous one.
pub(super) fn remove_partial_snapshots(path: &Path) -> Result<()> {
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
/// Upgrades a format-2 store to format 3 (the 2025 attributes of cadres and discipline
/// records, with their defaults): every plan body is decoded in the old shape and written in the
/// new one, and the format mark changes in the same transaction, so that a crash leaves either
/// store whole.
fn upgrade_2_to_3(trees: &[Tree]) -> Result<()> {
    use sled::{
        transaction::{ConflictableTransactionError, TransactionError},
        IVec, Transactional,
    };
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
            Ok::<(), ConflictableTransactionError<()>>(())
        })
        .map_err(|e: TransactionError<()>| StoreError::Transaction(format!("upgrade: {e:?}")))?;
    tracing::info!(chunks = written.len(), "store upgraded from format 2 to 3");
    Ok(())
}

/// Refuses a store of another format before anything is written to it; returns the format
/// found (`None` for a new store). Format 2 is accepted, to be upgraded.
pub(super) fn check_format(db: &sled::Db, path: &Path) -> Result<Option<u64>> {
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
