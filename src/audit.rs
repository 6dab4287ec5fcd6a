//! The audit trail (nhật ký): every state change of a node, who made it (by certificate
//! identity), what, when, and the plan version and hash it touched, appended in the same
//! transaction as the change. Records are hash-chained: each carries the digest of the one
//! before, so [`verify`] finds any record altered, removed or reordered, and says where.
//!
//! A chain alone is only as good as its store: whoever can rewrite the store can rewrite a
//! record, every later digest and the counter. Two anchors lie outside the store. The node
//! seals every record with an [`AuditKey`] that is not in its store (derived from its TLS
//! private key, or read from a key file outside the data folder): a keyed blake3 MAC over the
//! record's number and digest, kept beside the record ([`verify_sealed`] names the first record
//! whose seal fails). And each push carries the child's head to its parent, which keeps it in
//! its own trail ([`check_witnesses`] names the first record that differs from what the parent
//! witnessed).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

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

/// The document prefix under which a store keeps the audit trails a merge of provinces
/// brought in (`quyhoach merge`): `merge/trail/<old province code>`, an [`ImportedTrail`].
pub const IMPORTED_TRAIL_PREFIX: &str = "merge/trail/";

/// An old province node's audit trail as the merged node keeps it: its own chain, tagged with
/// its origin, never re-chained into the keeping node's, so that it verifies as the old node
/// wrote it ([`verify`]; its seals with the old node's key, [`verify_sealed`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedTrail {
    /// The old province's code (2024 structure).
    pub origin: String,
    /// The records in stored order.
    pub records: Vec<AuditRecord>,
    /// How many records the old store said it wrote.
    pub head: u64,
    /// The old node's seals, by record number.
    pub seals: BTreeMap<u64, String>,
}

/// Where the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The position (1-based) in the stored order where the problem shows.
    pub position: u64,
    /// What is wrong there.
    pub problem: String,
}

/// What went wrong reading an audit key: a failure, not a finding (a broken chain is a
/// [`Broken`]).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The key file could not be read.
    #[error("reading the audit key {}", .path.display())]
    ReadKey {
        /// The key file.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The key file holds no usable key.
    #[error("the audit key {}: {problem}", .path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

/// The secret with which a node seals its audit records. It is never written into the store:
/// it is derived from the node's TLS private key, or from a key file that lies outside the
/// data folder (`--audit-key`, for a node without TLS). Whoever rewrites the store without it
/// cannot make seals that verify.
#[derive(Clone)]
pub struct AuditKey([u8; 32]);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(…)")
    }
}

/// The blake3 `derive_key` context of audit keys: a key derived for anything else differs.
const KEY_CONTEXT: &str = "quyhoach 2026-11 audit trail seal key";
/// The shortest key file accepted, in bytes (a generated one holds 64 hex digits).
const MIN_KEY_FILE: usize = 32;

impl AuditKey {
    /// The key derived from secret bytes (a private key's DER, or a key file's content).
    pub fn derive(secret: &[u8]) -> Self {
        AuditKey(blake3::derive_key(KEY_CONTEXT, secret))
    }

    /// The key of a node whose TLS private key is `pem`.
    ///
    /// # Errors
    ///
    /// A sentence saying why `pem` holds no private key.
    pub fn from_private_key_pem(pem: &[u8]) -> Result<Self, String> {
        use rustls_pki_types::{pem::PemObject, PrivateKeyDer};
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("no private key: {e}"))?;
        Ok(Self::derive(key.secret_der()))
    }

    /// Reads a key: the node's TLS private key (PEM), from which the node derives it, or a key
    /// file as `audit key` writes it (its content, without surrounding white space).
    ///
    /// # Errors
    ///
    /// [`AuditError::ReadKey`] if the file cannot be read; [`AuditError::BadKey`] if it is a
    /// PEM file without a private key, or shorter than 32 bytes.
    pub fn load(path: &Path) -> Result<Self, AuditError> {
        let bytes = std::fs::read(path).map_err(|source| AuditError::ReadKey {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |problem: String| AuditError::BadKey {
            path: path.to_path_buf(),
            problem,
        };
        if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            return Self::from_private_key_pem(&bytes).map_err(bad);
        }
        let text = bytes.trim_ascii();
        if text.len() < MIN_KEY_FILE {
            return Err(bad(format!(
                "it holds {} bytes; a key file holds at least {MIN_KEY_FILE} (make one with \
                 `quyhoach audit key --out FILE`)",
                text.len()
            )));
        }
        Ok(Self::derive(text))
    }

    /// The text of a new random key file: 32 random bytes in hex.
    pub fn generate_file_text() -> String {
        let bytes: [u8; 32] = rand::random();
        let mut text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        text.push('\n');
        text
    }

    /// The seal of record `seq` whose digest is `digest`: a keyed blake3 hash, in hex. The
    /// digest covers the record and, through the chain, every record before it.
    pub fn seal(&self, seq: u64, digest: &str) -> String {
        self.seal_hash(seq, digest).to_hex().to_string()
    }

    fn seal_hash(&self, seq: u64, digest: &str) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(b"quyhoach.audit.seal.v1");
        h.update(&seq.to_be_bytes());
        h.update(digest.as_bytes());
        h.finalize()
    }

    /// Returns true if and only if `seal` is this key's seal of record `seq` with `digest`
    /// (compared in constant time).
    pub fn opens(&self, seq: u64, digest: &str, seal: &str) -> bool {
        blake3::Hash::from_hex(seal).is_ok_and(|s| s == self.seal_hash(seq, digest))
    }
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
    walk(records, head, None).map(|_| ())
}

/// Which records may lack a seal in [`verify_sealed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsealed {
    /// Records 1..=n, written before the node had an audit key (the operator says how many).
    UpTo(u64),
    /// Any run of records at the start of the trail, before the first sealed one: what a node
    /// accepts of its own trail, since the number is not something the store can vouch for.
    Prefix,
}

/// The seals to hold a trail against: the store's seals by record number, the keys the node
/// has had, and which records may be unsealed.
#[derive(Debug, Clone, Copy)]
pub struct SealCheck<'a> {
    /// The store's seals, by record number.
    pub seals: &'a BTreeMap<u64, String>,
    /// Every key the node has sealed with (more than one after its TLS key was renewed).
    pub keys: &'a [AuditKey],
    /// Which records may carry no seal.
    pub unsealed: Unsealed,
}

/// [`verify`], and every record's seal: the first record whose number, chain, digest or seal
/// fails is named. Returns how many records at the start carry no seal.
///
/// # Errors
///
/// The first [`Broken`] place, as [`verify`] finds it, or the first record whose seal does not
/// open with any of the keys (altered and re-chained by someone without the key), that lacks a
/// seal where one is required, or a seal left for a record that is missing.
pub fn verify_sealed(
    records: &[AuditRecord],
    head: u64,
    check: SealCheck<'_>,
) -> Result<u64, Broken> {
    walk(records, head, Some(check))
}

fn walk(records: &[AuditRecord], head: u64, check: Option<SealCheck<'_>>) -> Result<u64, Broken> {
    let mut prev = String::new();
    let mut unsealed = 0;
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
        let Some(check) = check else { continue };
        match check.seals.get(&position) {
            Some(seal)
                if check
                    .keys
                    .iter()
                    .any(|k| k.opens(position, &r.digest, seal)) => {}
            Some(_) => {
                return broken(format!(
                    "record {position} ({} by {}) was altered: its seal does not match the \
                     node's audit key (the record and the chain after it were rewritten, or \
                     sealed with a key not given)",
                    r.event.action, r.event.actor
                ))
            }
            None if unsealed + 1 < position => {
                return broken(format!(
                    "record {position} carries no seal though the records before it do: its \
                     seal was removed, or it was written without the node's audit key"
                ))
            }
            None => match check.unsealed {
                Unsealed::UpTo(n) if position > n => {
                    return broken(format!(
                        "record {position} carries no seal{}: seals were removed, or the node \
                         ran without its audit key",
                        if n == 0 {
                            String::new()
                        } else {
                            format!(" (only records 1..={n} may lack one)")
                        }
                    ))
                }
                _ => unsealed += 1,
            },
        }
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
    if let Some((seq, _)) = check.and_then(|c| c.seals.range(n + 1..).next()) {
        return Err(Broken {
            position: n + 1,
            problem: format!(
                "record {seq} is sealed but the trail ends at record {n}: the last records \
                 were removed"
            ),
        });
    }
    Ok(unsealed)
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

/// The child heads a parent witnessed, from the details of its `receive_push` records
/// (`… head <seq>:<digest>`), in the order given; details without a head are skipped.
pub fn witnessed_heads<'a>(details: impl IntoIterator<Item = &'a str>) -> Vec<(u64, String)> {
    details
        .into_iter()
        .filter_map(|d| d.split("head ").nth(1))
        .filter_map(|h| parse_head(h.split_whitespace().next().unwrap_or("")).ok())
        .collect()
}

/// Holds a trail against the heads its parent witnessed over time: each witnessed record must
/// be there with exactly the witnessed digest. Names the first record that differs: for a
/// trail cut short (or emptied), the first missing record; for one rewritten from an earlier
/// record on (every later digest recomputed), the earliest witnessed head that differs, and
/// the range since the last witnessed head that held, within which the rewrite began (the
/// seals, [`verify_sealed`], name the record itself).
///
/// # Errors
///
/// The first record that differs from what the parent witnessed.
pub fn check_witnesses(records: &[AuditRecord], heads: &[(u64, String)]) -> Result<(), Broken> {
    let mut heads = heads.to_vec();
    heads.sort();
    heads.dedup();
    let mut held = 0;
    for (seq, digest) in heads {
        let n = records.len() as u64;
        if seq > n {
            return Err(Broken {
                position: n + 1,
                problem: format!(
                    "record {} is missing, though the parent witnessed the trail up to record \
                     {seq} (digest {digest}): the trail has {n} records",
                    n + 1
                ),
            });
        }
        let Some(r) = usize::try_from(seq)
            .ok()
            .and_then(|s| s.checked_sub(1))
            .and_then(|i| records.get(i))
        else {
            continue;
        };
        if r.digest != digest {
            return Err(Broken {
                position: seq,
                problem: format!(
                    "record {seq} differs from what the parent witnessed (digest {digest}): \
                     the trail was rewritten from a record in {}..={seq} on",
                    held + 1
                ),
            });
        }
        held = seq;
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

    fn sealed(records: &[AuditRecord], key: &AuditKey) -> BTreeMap<u64, String> {
        records
            .iter()
            .map(|r| (r.seq, key.seal(r.seq, &r.digest)))
            .collect()
    }

    fn check<'a>(seals: &'a BTreeMap<u64, String>, keys: &'a [AuditKey]) -> SealCheck<'a> {
        SealCheck {
            seals,
            keys,
            unsealed: Unsealed::UpTo(0),
        }
    }

    #[test]
    fn a_record_rewritten_without_the_key_is_named_by_its_seal() {
        let key = AuditKey::derive(b"the node's secret, 32 bytes or more");
        let trail = chain(5);
        let seals = sealed(&trail, &key);
        let keys = [key.clone()];
        assert_eq!(verify_sealed(&trail, 5, check(&seals, &keys)), Ok(0));

        // Record 2 altered and every later one re-chained: the chain holds, the seals do not.
        let mut events: Vec<AuditEvent> = trail.iter().map(|r| r.event.clone()).collect();
        events[1].detail = "forged".into();
        let mut forged: Vec<AuditRecord> = Vec::new();
        for (i, e) in events.into_iter().enumerate() {
            let prev = forged.last().map(|r| r.digest.clone()).unwrap_or_default();
            forged.push(AuditRecord::seal(i as u64 + 1, e, prev));
        }
        assert_eq!(verify(&forged, 5), Ok(()));
        let b = verify_sealed(&forged, 5, check(&seals, &keys)).unwrap_err();
        assert_eq!(b.position, 2, "{}", b.problem);
        assert!(b.problem.contains("altered"), "{}", b.problem);

        // Another key opens nothing; the old and the new key together open everything.
        let other = AuditKey::derive(b"another node's secret, 32 bytes +");
        assert_eq!(
            verify_sealed(&trail, 5, check(&seals, std::slice::from_ref(&other)))
                .unwrap_err()
                .position,
            1
        );
        let mut rotated = seals.clone();
        for seq in 4..=5 {
            rotated.insert(seq, other.seal(seq, &trail[seq as usize - 1].digest));
        }
        let both = [key.clone(), other];
        assert_eq!(verify_sealed(&trail, 5, check(&rotated, &both)), Ok(0));

        // A seal left behind for a record cut off (counter lowered too).
        let b = verify_sealed(&trail[..3], 3, check(&seals, &keys)).unwrap_err();
        assert_eq!(b.position, 4, "{}", b.problem);
    }

    #[test]
    fn unsealed_records_are_accepted_only_as_the_given_prefix() {
        let key = AuditKey::derive(b"the node's secret, 32 bytes or more");
        let keys = [key.clone()];
        let trail = chain(5);
        let mut seals = sealed(&trail, &key);
        seals.remove(&1);
        seals.remove(&2);
        // Records written before the key: exactly the number given, and no more.
        let upto = |n| SealCheck {
            unsealed: Unsealed::UpTo(n),
            ..check(&seals, &keys)
        };
        assert_eq!(verify_sealed(&trail, 5, upto(2)), Ok(2));
        assert_eq!(verify_sealed(&trail, 5, upto(5)), Ok(2));
        let b = verify_sealed(&trail, 5, upto(1)).unwrap_err();
        assert_eq!(b.position, 2, "{}", b.problem);
        assert!(b.problem.contains("no seal"), "{}", b.problem);
        let prefix = SealCheck {
            unsealed: Unsealed::Prefix,
            ..check(&seals, &keys)
        };
        assert_eq!(verify_sealed(&trail, 5, prefix), Ok(2));
        // A gap after a sealed record is a removed seal, whatever the allowance.
        let mut gap = sealed(&trail, &key);
        gap.remove(&3);
        let prefix = SealCheck {
            unsealed: Unsealed::Prefix,
            ..check(&gap, &keys)
        };
        assert_eq!(verify_sealed(&trail, 5, prefix).unwrap_err().position, 3);
    }

    #[test]
    fn a_witness_names_the_first_record_that_differs() {
        let trail = chain(6);
        let head = |seq: u64| (seq, trail[seq as usize - 1].digest.clone());
        let heads = [head(2), head(4), head(6)];
        assert_eq!(check_witnesses(&trail, &heads), Ok(()));
        // Cut after record 3: record 4 is the first missing one.
        assert_eq!(
            check_witnesses(&trail[..3], &heads).unwrap_err().position,
            4
        );
        // Emptied: record 1.
        let b = check_witnesses(&[], &heads).unwrap_err();
        assert_eq!(b.position, 1);
        assert!(b.problem.contains("missing"), "{}", b.problem);
        // Rewritten from record 3 on: head 4 is the first that differs, and record 3 lies in
        // the range it names (after head 2, which held).
        let mut rewritten = trail.clone();
        let mut prev = rewritten[1].digest.clone();
        for r in rewritten.iter_mut().skip(2) {
            let mut e = r.event.clone();
            e.detail.push('!');
            *r = AuditRecord::seal(r.seq, e, prev);
            prev = r.digest.clone();
        }
        let b = check_witnesses(&rewritten, &heads).unwrap_err();
        assert_eq!(b.position, 4);
        assert!(b.problem.contains("3..=4"), "{}", b.problem);
        assert_eq!(
            witnessed_heads(["from 16681, head 4:abc", "from 16681"]),
            Vec::<(u64, String)>::new(),
            "a malformed head is skipped"
        );
    }

    #[test]
    fn a_key_file_too_short_is_refused_and_a_pem_key_is_derived_from() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "abc\n").unwrap();
        assert!(matches!(
            AuditKey::load(&short),
            Err(AuditError::BadKey { .. })
        ));
        let file = dir.path().join("key");
        std::fs::write(&file, AuditKey::generate_file_text()).unwrap();
        let a = AuditKey::load(&file).unwrap();
        assert!(a.opens(1, "d", &a.seal(1, "d")));
        assert!(!a.opens(2, "d", &a.seal(1, "d")));
        let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let p = dir.path().join("node.key");
        std::fs::write(&p, &pem).unwrap();
        let from_file = AuditKey::load(&p).unwrap();
        let direct = AuditKey::from_private_key_pem(pem.as_bytes()).unwrap();
        assert!(direct.opens(7, "x", &from_file.seal(7, "x")));
    }
}
