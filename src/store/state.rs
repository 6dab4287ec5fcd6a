//! The durable-state record: a small file beside the sled folder (`<data>.state`) that says how
//! far the store was known to be on disk: its audit sequence and audit head, its decision and
//! outbox sequences. It is written (to a temporary file, synced, renamed, the folder synced)
//! after flushes, at most every [`MIN_INTERVAL`], so it is never ahead of what is on disk.
//! sled treats a damaged log tail as the end of its log and opens silently on less data; the
//! record lives outside sled's files, so at start a store that is behind it is found out.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

/// The least time between two writes of the record (each costs two syncs).
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// How far a store was known to be durable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurableState {
    /// The last audit record's sequence number.
    pub audit_seq: u64,
    /// That record's digest.
    pub audit_head: String,
    /// The last decision sequence number handed out.
    pub decision_seq: u64,
    /// The last outbox sequence number handed out.
    pub outbox_seq: u64,
}

/// The record's path for the store in `data`: `<data>.state`, beside the folder.
pub fn path_for(data: &Path) -> PathBuf {
    let mut name = data.file_name().unwrap_or_default().to_os_string();
    name.push(".state");
    data.with_file_name(name)
}

/// Reads the record, if there is one.
///
/// # Errors
///
/// The file exists but cannot be read or parsed.
pub fn read(path: &Path) -> std::io::Result<Option<DurableState>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces the record atomically and durably.
///
/// # Errors
///
/// The file cannot be written, synced or renamed.
pub fn write(path: &Path, state: &DurableState) -> std::io::Result<()> {
    let tmp = path.with_extension("state.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// What the store lacks compared with the record, in words, or `None` if it is not behind.
/// `head_at` gives the digest of the store's audit record with a sequence number.
pub fn behind(
    held: &DurableState,
    record: &DurableState,
    head_at: impl Fn(u64) -> Option<String>,
) -> Option<String> {
    let mut missing = Vec::new();
    if held.audit_seq < record.audit_seq {
        missing.push(format!(
            "audit records {}..={} (it holds {})",
            held.audit_seq + 1,
            record.audit_seq,
            held.audit_seq
        ));
    } else if record.audit_seq > 0 && head_at(record.audit_seq) != Some(record.audit_head.clone()) {
        missing.push(format!(
            "audit record {} with digest {} (it holds another: a copy from elsewhere)",
            record.audit_seq, record.audit_head
        ));
    }
    if held.decision_seq < record.decision_seq {
        missing.push(format!(
            "decisions {}..={}",
            held.decision_seq + 1,
            record.decision_seq
        ));
    }
    if held.outbox_seq < record.outbox_seq {
        missing.push(format!(
            "outbox items {}..={}",
            held.outbox_seq + 1,
            record.outbox_seq
        ));
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(audit: u64, decision: u64, outbox: u64) -> DurableState {
        DurableState {
            audit_seq: audit,
            audit_head: format!("h{audit}"),
            decision_seq: decision,
            outbox_seq: outbox,
        }
    }

    #[test]
    fn a_store_at_or_ahead_of_its_record_is_not_behind() {
        let head = |seq: u64| Some(format!("h{seq}"));
        assert_eq!(behind(&state(10, 2, 3), &state(10, 2, 3), head), None);
        assert_eq!(behind(&state(12, 3, 3), &state(10, 2, 3), head), None);
        assert_eq!(
            behind(&state(0, 0, 0), &DurableState::default(), |_| None),
            None
        );
    }

    #[test]
    fn a_store_behind_its_record_names_what_it_lacks() {
        let head = |seq: u64| Some(format!("h{seq}"));
        let why = behind(&state(9, 2, 3), &state(10, 2, 3), head).unwrap();
        assert_eq!(why, "audit records 10..=10 (it holds 9)");
        let why = behind(&state(10, 1, 1), &state(10, 2, 3), head).unwrap();
        assert_eq!(why, "decisions 2..=2, outbox items 2..=3");
        // As long but another history: a copy of another store, or a rolled-back one that
        // went on writing.
        let why = behind(&state(10, 2, 3), &state(10, 2, 3), |_| Some("x".into())).unwrap();
        assert!(why.contains("another"), "{why}");
    }

    #[test]
    fn the_record_round_trips_and_sits_beside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("40");
        let path = path_for(&data);
        assert_eq!(path, dir.path().join("40.state"));
        assert_eq!(read(&path).unwrap(), None);
        write(&path, &state(5, 1, 2)).unwrap();
        assert_eq!(read(&path).unwrap(), Some(state(5, 1, 2)));
    }
}
