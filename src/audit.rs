//! The audit trail (nhật ký): every state change of a node, who made it (by certificate
//! identity), what, when, and the plan version and hash it touched, appended in the same
//! transaction as the change. Records are hash-chained: each carries the digest of the one
//! before, so [`verify`] finds any record altered, removed or reordered, and says where.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::PlanId;

/// What happened, before it is sealed into the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The caller, as its certificate names it, or `system (<unit>)` for the node's own work.
    pub actor: String,
    /// A short verb: `create_draft`, `put_entry`, `submit`, `receive_push`, `decide`, …
    pub action: String,
    /// The plan version it concerns, if any.
    pub plan: Option<PlanId>,
    /// The plan version's content hash, where it has one.
    pub plan_hash: Option<String>,
    /// Anything else worth keeping (never a national ID).
    pub detail: String,
}

/// One sealed record of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// 1, 2, 3, … without gaps.
    pub seq: u64,
    /// The event sealed.
    pub event: AuditEvent,
    /// The digest of the record before (empty for the first).
    pub prev: String,
    /// blake3 over `seq`, the event and `prev`.
    pub digest: String,
}

impl AuditRecord {
    /// Seals `event` as record `seq` after a record whose digest is `prev`.
    pub fn seal(seq: u64, event: AuditEvent, prev: String) -> Self {
        let digest = digest(seq, &event, &prev);
        AuditRecord {
            seq,
            event,
            prev,
            digest,
        }
    }
}

fn digest(seq: u64, e: &AuditEvent, prev: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"quyhoach.audit.v1");
    h.update(&seq.to_be_bytes());
    let plan = e.plan.as_ref().map(|p| p.to_string()).unwrap_or_default();
    for part in [
        e.at.to_rfc3339().as_str(),
        &e.actor,
        &e.action,
        &plan,
        e.plan_hash.as_deref().unwrap_or(""),
        &e.detail,
        prev,
    ] {
        h.update(&(part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// Where the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The position (1-based) in the stored order where the problem shows.
    pub position: u64,
    /// What is wrong there.
    pub problem: String,
}

/// Checks a whole trail, in stored order, against the number of records the store says it
/// wrote (`head`). Returns the first break.
///
/// # Errors
///
/// The first [`Broken`] place: a record whose number is out of sequence, one that does not
/// follow its predecessor's digest, one whose digest does not match its content, or a trail
/// shorter or longer than `head`.
pub fn verify(records: &[AuditRecord], head: u64) -> Result<(), Broken> {
    let mut prev = String::new();
    for (i, r) in records.iter().enumerate() {
        let position = i as u64 + 1;
        let broken = |problem: String| Err(Broken { position, problem });
        if r.seq != position {
            return broken(format!(
                "record {position} carries number {}: a record was removed or the order changed",
                r.seq
            ));
        }
        if r.prev != prev {
            return broken(format!(
                "record {position} does not follow record {}: the chain is cut",
                position - 1
            ));
        }
        if digest(r.seq, &r.event, &r.prev) != r.digest {
            return broken(format!(
                "record {position} ({} by {}) was altered",
                r.event.action, r.event.actor
            ));
        }
        prev = r.digest.clone();
    }
    let n = records.len() as u64;
    if n != head {
        return Err(Broken {
            position: n + 1,
            problem: format!(
                "the store wrote {head} records but {n} remain: the last ones were removed"
            ),
        });
    }
    Ok(())
}

/// The request metadata in which a child's push carries its audit head (`<seq>:<digest>`);
/// the parent writes it into the detail of its own `receive_push` record, so that the child's
/// chain is witnessed outside the child's store.
pub const HEAD_METADATA: &str = "quyhoach-audit-head";

/// Parses a witnessed head, `<seq>:<digest>` (as `audit list` at the parent shows it after
/// `head `).
///
/// # Errors
///
/// A sentence saying what is malformed.
pub fn parse_head(text: &str) -> Result<(u64, String), String> {
    let (seq, digest) = text.split_once(':').ok_or_else(|| {
        format!(
            "{} is not <seq>:<digest>",
            crate::domain::validate::prefix(text)
        )
    })?;
    let seq = seq.parse::<u64>().map_err(|_| {
        format!(
            "{} is not a record number",
            crate::domain::validate::prefix(seq)
        )
    })?;
    crate::domain::validate::hash("head", digest).map_err(|e| e.to_string())?;
    Ok((seq, digest.to_string()))
}

/// Holds a trail against a head its parent witnessed: record `seq` must be there with exactly
/// `digest`. A chain rewritten from an earlier record on (every later digest recomputed), cut
/// short, or emptied differs from the witness.
///
/// # Errors
///
/// The first record that differs from what the parent witnessed.
pub fn check_witness(records: &[AuditRecord], seq: u64, digest: &str) -> Result<(), Broken> {
    match records.iter().find(|r| r.seq == seq) {
        Some(r) if r.digest == digest => Ok(()),
        Some(_) => Err(Broken {
            position: seq,
            problem: format!(
                "record {seq} differs from what the parent witnessed (digest {digest})"
            ),
        }),
        None => Err(Broken {
            position: seq,
            problem: format!(
                "record {seq}, which the parent witnessed, is missing: the trail has {} records",
                records.len()
            ),
        }),
    }
}

/// Reads the audit trail of the store in `path` without changing it: the store's files are
/// copied into a temporary folder and the copy is opened, so that verifying never writes to
/// (or creates) the store it judges. Returns the records, the head the store names, and what
/// the store lacks compared with its durable-state record (`<store>.state`, copied too), if
/// anything.
///
/// # Errors
///
/// When `path` is not a quyhoach store (no sled `conf` and `db` files), or it cannot be read.
pub fn read_store_copy(
    path: &std::path::Path,
) -> anyhow::Result<(Vec<AuditRecord>, u64, Option<String>)> {
    use anyhow::Context;

    use crate::store::Store;
    if !(path.join("conf").is_file() && path.join("db").is_file()) {
        anyhow::bail!(
            "{} is not a quyhoach store (no sled conf and db files there)",
            path.display()
        );
    }
    let copy = tempfile::tempdir().context("a temporary folder for the copy")?;
    let data = copy.path().join("store");
    copy_tree(path, &data).with_context(|| format!("copying {}", path.display()))?;
    let record = crate::store::state::path_for(path);
    if record.is_file() {
        std::fs::copy(&record, crate::store::state::path_for(&data))
            .with_context(|| format!("copying {}", record.display()))?;
    }
    let store = crate::store::SledStore::open(&data)?;
    let (records, head) = store.audit()?;
    let behind = store.behind().map(str::to_string);
    drop(store);
    Ok((records, head, behind))
}

/// Copies the regular files and folders under `from` into `to` (symbolic links are skipped).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for seq in 1..=n {
            let prev = out.last().map(|r| r.digest.clone()).unwrap_or_default();
            let event = AuditEvent {
                at: DateTime::from_timestamp(1_750_000_000 + seq as i64, 0).unwrap(),
                actor: "Nguyễn Văn A [clerk@16681]".into(),
                action: "put_entry".into(),
                plan: Some(PlanId {
                    unit: "16681".into(),
                    term: "2025-2030".into(),
                    version: 1,
                }),
                plan_hash: None,
                detail: format!("entry {seq}"),
            };
            out.push(AuditRecord::seal(seq, event, prev));
        }
        out
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5), 5), Ok(()));
        assert_eq!(verify(&[], 0), Ok(()));
    }

    #[test]
    fn alteration_removal_reordering_and_truncation_are_found_where_they_are() {
        let mut altered = chain(5);
        altered[2].event.actor = "someone else".into();
        assert_eq!(verify(&altered, 5).unwrap_err().position, 3);

        let mut removed = chain(5);
        removed.remove(1);
        assert_eq!(verify(&removed, 5).unwrap_err().position, 2);

        let mut swapped = chain(5);
        swapped.swap(3, 4);
        assert_eq!(verify(&swapped, 5).unwrap_err().position, 4);

        let truncated = chain(4);
        let e = verify(&truncated, 5).unwrap_err();
        assert_eq!(e.position, 5);
        assert!(e.problem.contains("removed"));

        // Re-sealing an altered record does not help: the next one no longer follows it.
        let mut resealed = chain(5);
        let mut e = resealed[1].event.clone();
        e.detail = "forged".into();
        resealed[1] = AuditRecord::seal(2, e, resealed[0].digest.clone());
        assert_eq!(verify(&resealed, 5).unwrap_err().position, 3);
    }
}
