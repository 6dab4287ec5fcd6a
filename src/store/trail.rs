//! A stopped node's audit trail read from a copy of its store, so that verifying it never
//! writes to (or creates) the store it judges. The trail itself, its chain and its seals are
//! [`crate::audit`]'s.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use super::{state, SledStore, Store, StoreError};
use crate::audit::AuditRecord;

/// What went wrong reading a stopped node's trail: failures, not findings (a broken chain is a
/// [`crate::audit::Broken`]).
#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    /// The folder holds no quyhoach store.
    #[error("{} is not a quyhoach store (no sled conf and db files there)", .0.display())]
    NotAStore(PathBuf),
    /// The store (or its durable-state record) could not be copied aside.
    #[error("copying {} aside to read it", .path.display())]
    Copy {
        /// What was being copied.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The copied store could not be opened or read.
    #[error("reading the store")]
    Store(#[from] StoreError),
    /// A running node holds the store open (sled locks its folder): stop the node first.
    #[error("the store in {} is open: a node (or another command) is running on it; stop it first, this works on stopped nodes only", .0.display())]
    InUse(PathBuf),
}

/// A stopped node's audit trail as its store holds it, read from a copy.
#[derive(Debug, Clone)]
pub struct StoredTrail {
    /// The records in stored order.
    pub records: Vec<AuditRecord>,
    /// How many records the store says it wrote.
    pub head: u64,
    /// The seals, by record number.
    pub seals: BTreeMap<u64, String>,
    /// What the store lacks compared with its durable-state record, if anything.
    pub behind: Option<String>,
    /// The trails of old province nodes that a merge brought in, each its own chain.
    pub imported: Vec<crate::audit::ImportedTrail>,
}

/// Every audit trail a merge of provinces brought into `store`, by origin.
///
/// # Errors
///
/// [`StoreError::Corrupt`] for a kept trail that cannot be decoded; the store's errors.
pub fn imported_trails(store: &dyn Store) -> Result<Vec<crate::audit::ImportedTrail>, StoreError> {
    super::decoded_documents(store, crate::audit::IMPORTED_TRAIL_PREFIX)
}

/// Reads the audit trail of the store in `path` without changing it: the store's files are
/// copied into a temporary folder and the copy is opened, so that verifying never writes to
/// (or creates) the store it judges. The durable-state record (`<store>.state`) is copied too;
/// [`StoredTrail::behind`] names `path` and its state record, never the copy.
///
/// # Errors
///
/// [`TrailError::NotAStore`] when `path` is not a quyhoach store (no sled `conf` and `db`
/// files); [`TrailError::Copy`] or [`TrailError::Store`] when it cannot be copied or read.
pub fn read_store_copy(path: &Path) -> Result<StoredTrail, TrailError> {
    if !(path.join("conf").is_file() && path.join("db").is_file()) {
        return Err(TrailError::NotAStore(path.to_path_buf()));
    }
    let (copy, store) = copy_and_open(path)?;
    let data = copy.path().join("store");
    let record = state::path_for(path);
    let (records, head) = store.audit()?;
    let seals = store.audit_seals()?;
    let imported = imported_trails(store.as_ref())?;
    // The store names its own folder and state record: those of the copy, which the operator
    // never gave; said with the paths the operator gave instead.
    let behind = store.behind().map(|why| {
        why.replace(
            &state::path_for(&data).display().to_string(),
            &record.display().to_string(),
        )
        .replace(&data.display().to_string(), &path.display().to_string())
    });
    drop(store);
    Ok(StoredTrail {
        records,
        head,
        seals,
        behind,
        imported,
    })
}

/// Opens a copy of the stopped node's store in `path` (its files and its durable-state record,
/// copied into a temporary folder, which the returned [`tempfile::TempDir`] holds): reading
/// it never writes to the store itself. The copy's folder is `<temp>/store`.
///
/// # Errors
///
/// [`TrailError::NotAStore`] when `path` holds no quyhoach store; [`TrailError::InUse`] when
/// a running node holds it open; [`TrailError::Copy`] or [`TrailError::Store`] when it
/// cannot be copied or opened.
pub fn open_copy(
    path: &Path,
) -> Result<(tempfile::TempDir, std::sync::Arc<SledStore>), TrailError> {
    ensure_stopped(path)?;
    copy_and_open(path)
}

/// [`open_copy`] without asking whether a node runs on the store.
fn copy_and_open(
    path: &Path,
) -> Result<(tempfile::TempDir, std::sync::Arc<SledStore>), TrailError> {
    let copy_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TrailError::Copy { path, source }
    };
    let copy = tempfile::tempdir().map_err(copy_error(path))?;
    let data = copy.path().join("store");
    copy_tree(path, &data).map_err(copy_error(path))?;
    let record = state::path_for(path);
    if record.is_file() {
        std::fs::copy(&record, state::path_for(&data)).map_err(copy_error(&record))?;
    }
    // Opening the copy logs what the store lacks, naming the copy: the finding is returned
    // by the caller (with the operator's paths) instead of logged.
    let store =
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::new(), || {
            SledStore::open(&data)
        })?;
    Ok((copy, store))
}

/// Checks that `path` holds a quyhoach store that no running process holds open: sled takes
/// an exclusive `flock` on the store's `db` file for as long as it is open, so the same lock
/// taken and released at once here says whether a node runs on it.
///
/// # Errors
///
/// [`TrailError::NotAStore`] when `path` holds no store (no sled `conf` and `db` files);
/// [`TrailError::InUse`] when the lock is held; [`TrailError::Copy`] when `db` cannot be
/// opened to try.
pub fn ensure_stopped(path: &Path) -> Result<(), TrailError> {
    if !(path.join("conf").is_file() && path.join("db").is_file()) {
        return Err(TrailError::NotAStore(path.to_path_buf()));
    }
    let db = path.join("db");
    let file = std::fs::File::open(&db).map_err(|source| TrailError::Copy {
        path: db.clone(),
        source,
    })?;
    use std::os::fd::AsRawFd;
    // SAFETY: flock(2) on a descriptor this function owns; no memory is shared.
    let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if !taken {
        return Err(TrailError::InUse(path.to_path_buf()));
    }
    // SAFETY: as above; closing the file would release it too.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
    Ok(())
}

/// Copies the regular files and folders under `from` into `to` (symbolic links are skipped).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
