//! Value encoding of the store (format 2). Every value sled holds is an envelope:
//!
//! ```text
//! [kind: 1 byte] [CRC-32 of the key, the kind and the payload: 4 bytes, little-endian] [payload]
//! ```
//!
//! The payload is `postcard` (serde's compact binary format, varint integers, no field names)
//! for records, JSON for the free-form documents (`serde_json::Value` needs a self-describing
//! format), and plain bytes for counters and plan-body chunks. The CRC covers the key too, so a
//! value written under the wrong key is found as well as a flipped bit. Every read goes through
//! [`open`], and a bad envelope is a [`StoreError::Corrupt`] naming the tree and the key, never a
//! panic. Format 1 (unversioned JSON values, one value per entry) is refused at open
//! (`sled_store/`).
//!
//! Why postcard and not a store-private protobuf: the domain types already derive serde, so the
//! store encodes them without a second set of message types and conversions; postcard's wire
//! format is specified and stable since 1.0. What protobuf would give and this does not is field
//! tags: a change to the serde shape of a stored domain type (a field added, an enum variant
//! reordered) changes the encoding. The test `a_plans_encoding_is_pinned` fails when that
//! happens, so the change comes with a new format number and an upgrade, never silently.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::{keys, Result, StoreError};
use crate::domain::{BallotRound, Entry, EntryOrigin, Plan};

/// The store format this code writes and reads, kept in the meta tree under [`FORMAT_KEY`].
/// Format 3 added the 2025 attributes of a cadre and of a discipline record; a format-2 store
/// is upgraded when opened ([`decode_body_v2`]).
pub const FORMAT: u64 = 3;
/// The meta key of the store format.
pub const FORMAT_KEY: &str = "store.format";

/// A postcard-encoded record.
const POSTCARD: u8 = 0xB1;
/// A JSON document.
const JSON: u8 = 0xB2;
/// Plain bytes: a counter, or a chunk of a plan's body.
const BYTES: u8 = 0xB3;
/// Envelope header: kind and CRC.
const HEADER: usize = 5;

/// The largest payload of one plan-body chunk: far below the 128 KiB at which sled 0.34.7
/// writes a value to an unsynced blob file, and small enough that a page holding a few chunks
/// stays cheap to rewrite.
pub const CHUNK: usize = 32 * 1024;

fn crc(key: &[u8], kind: u8, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&(key.len() as u32).to_le_bytes());
    h.update(key);
    h.update(&[kind]);
    h.update(payload);
    h.finalize()
}

/// Finishes an envelope whose payload was written after `HEADER` placeholder bytes.
fn seal_in_place(key: &[u8], kind: u8, mut buf: Vec<u8>) -> Vec<u8> {
    let sum = crc(key, kind, &buf[HEADER..]);
    buf[0] = kind;
    buf[1..HEADER].copy_from_slice(&sum.to_le_bytes());
    buf
}

fn seal(key: &[u8], kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(HEADER + payload.len());
    buf.extend_from_slice(&[0; HEADER]);
    buf.extend_from_slice(payload);
    seal_in_place(key, kind, buf)
}

/// Checks an envelope and returns its payload.
///
/// # Errors
///
/// [`StoreError::Corrupt`] naming `tree` and the key when the value is too short, of another
/// kind than `kind`, or its CRC does not match.
pub fn open<'v>(tree: &str, key: &[u8], kind: u8, value: &'v [u8]) -> Result<&'v [u8]> {
    let corrupt = |reason: String| corrupt(tree, key, reason);
    if value.len() < HEADER {
        return Err(corrupt(format!(
            "value of {} bytes is shorter than its header",
            value.len()
        )));
    }
    let payload = &value[HEADER..];
    let stored = u32::from_le_bytes(value[1..HEADER].try_into().expect("4 bytes"));
    if value[0] != kind {
        return Err(corrupt(format!(
            "value kind {:#04x}, expected {kind:#04x} (a store of another format, or damage)",
            value[0]
        )));
    }
    let actual = crc(key, kind, payload);
    if actual != stored {
        return Err(corrupt(format!(
            "checksum mismatch (stored {stored:08x}, computed {actual:08x})"
        )));
    }
    Ok(payload)
}

/// A corruption error naming the tree and the key in readable form.
pub fn corrupt(tree: &str, key: &[u8], reason: String) -> StoreError {
    StoreError::Corrupt {
        key: format!("{tree} {}", keys::describe(tree, key)),
        reason,
    }
}

/// Encodes a record.
pub fn encode<T: Serialize + ?Sized>(key: &[u8], value: &T) -> Vec<u8> {
    let buf = postcard::to_extend(value, vec![0; HEADER]).expect("domain values always encode");
    seal_in_place(key, POSTCARD, buf)
}

/// Decodes a record, checking its envelope.
///
/// # Errors
///
/// [`StoreError::Corrupt`] when the envelope is bad or the payload is not a whole `T`.
pub fn decode<T: DeserializeOwned>(tree: &str, key: &[u8], value: &[u8]) -> Result<T> {
    let payload = open(tree, key, POSTCARD, value)?;
    decode_payload(tree, key, payload)
}

fn decode_payload<T: DeserializeOwned>(tree: &str, key: &[u8], payload: &[u8]) -> Result<T> {
    match postcard::take_from_bytes::<T>(payload) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(corrupt(
            tree,
            key,
            format!("{} bytes after the record", rest.len()),
        )),
        Err(e) => Err(corrupt(tree, key, e.to_string())),
    }
}

/// Encodes a JSON document.
pub fn encode_json(key: &[u8], value: &serde_json::Value) -> Vec<u8> {
    let payload = serde_json::to_vec(value).expect("JSON values always serialize");
    seal(key, JSON, &payload)
}

/// Decodes a JSON document, checking its envelope.
///
/// # Errors
///
/// [`StoreError::Corrupt`] when the envelope is bad or the payload is not JSON.
pub fn decode_json(tree: &str, key: &[u8], value: &[u8]) -> Result<serde_json::Value> {
    let payload = open(tree, key, JSON, value)?;
    serde_json::from_slice(payload).map_err(|e| corrupt(tree, key, e.to_string()))
}

/// Encodes a counter.
pub fn encode_u64(key: &[u8], n: u64) -> Vec<u8> {
    seal(key, BYTES, &n.to_be_bytes())
}

/// Decodes a counter, checking its envelope.
///
/// # Errors
///
/// [`StoreError::Corrupt`] when the envelope is bad or the payload is not 8 bytes.
pub fn decode_u64(tree: &str, key: &[u8], value: &[u8]) -> Result<u64> {
    let payload = open(tree, key, BYTES, value)?;
    let bytes: [u8; 8] = payload
        .try_into()
        .map_err(|_| corrupt(tree, key, format!("{} bytes, not 8", payload.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

/// What a plan holds besides its header, borrowed for encoding.
#[derive(Serialize)]
struct BodyRef<'a> {
    entries: &'a [Entry],
    rounds: &'a [BallotRound],
}

/// A plan's body, decoded.
#[derive(Deserialize)]
pub struct Body {
    /// The plan's entries.
    pub entries: Vec<Entry>,
    /// The plan's ballot rounds.
    pub rounds: Vec<BallotRound>,
}

/// Encodes a plan's entries and rounds as one postcard record, deflated (names, positions and
/// qualifications repeat across a plan's entries: about 170 bytes per entry become 60), cut
/// into chunks of at most [`CHUNK`] bytes, each its own value under `keys::item(id, i)`.
pub fn encode_body(plan: &Plan) -> Vec<(Vec<u8>, Vec<u8>)> {
    seal_record(&plan.id, &body_record(plan))
}

/// Deflates a body record and seals it in chunks under `id`'s item keys.
fn seal_record(id: &crate::domain::PlanId, bytes: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    use std::io::Write;
    let mut z = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(bytes.len() / 2),
        flate2::Compression::fast(),
    );
    let bytes = z
        .write_all(bytes)
        .and_then(|()| z.finish())
        .expect("deflate into memory cannot fail");
    bytes
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, chunk)| {
            let key = keys::item(id, i as u32);
            let value = seal(&key, BYTES, chunk);
            (key, value)
        })
        .collect()
}

/// The postcard record of a plan's body, before it is deflated: the entries and rounds, then,
/// only when some entry was drawn from a source (issue 22), the entries' provenance as a
/// trailer (`Vec<Option<EntryOrigin>>`, one per entry in stored order). A body without
/// provenance is byte for byte what format 3 always wrote.
fn body_record(plan: &Plan) -> Vec<u8> {
    let mut bytes = postcard::to_allocvec(&BodyRef {
        entries: &plan.entries,
        rounds: &plan.rounds,
    })
    .expect("domain values always encode");
    if plan.entries.iter().any(|e| e.origin.is_some()) {
        let origins: Vec<Option<&EntryOrigin>> =
            plan.entries.iter().map(|e| e.origin.as_deref()).collect();
        bytes = postcard::to_extend(&origins, bytes).expect("domain values always encode");
    }
    bytes
}

/// The shapes of format 2 that format 3 changed: a cadre without its retirement regime,
/// science-and-technology flag and ratings, a discipline record without its announcement,
/// complaint and later violation. Read to upgrade a store; the tests also write them
/// (`format2`) to make a format-2 store.
mod v2 {
    use chrono::NaiveDate;
    use serde::Deserialize;

    use crate::domain::{self, BallotRound, DisciplineKind, EntrySource, Gender};

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub struct Body {
        pub entries: Vec<Entry>,
        pub rounds: Vec<BallotRound>,
    }

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub struct Entry {
        pub(super) cadre: Cadre,
        pub(super) position: String,
        pub(super) source: EntrySource,
    }

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(super) struct Cadre {
        pub(super) national_id: String,
        pub(super) full_name: String,
        pub(super) birth_date: NaiveDate,
        pub(super) gender: Gender,
        pub(super) ethnicity: String,
        pub(super) current_positions: Vec<String>,
        pub(super) current_unit: String,
        pub(super) qualifications: Vec<String>,
        pub(super) discipline: Vec<Discipline>,
        pub(super) appointment_proposed_on: Option<NaiveDate>,
    }

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(super) struct Discipline {
        pub(super) kind: DisciplineKind,
        pub(super) decided_on: NaiveDate,
    }

    impl From<Entry> for domain::Entry {
        fn from(e: Entry) -> Self {
            let Entry {
                cadre: c,
                position,
                source,
            } = e;
            domain::Entry {
                cadre: domain::Cadre {
                    national_id: c.national_id.into(),
                    full_name: c.full_name.into(),
                    birth_date: c.birth_date,
                    gender: c.gender,
                    ethnicity: c.ethnicity.into(),
                    current_positions: c.current_positions.into_iter().map(Into::into).collect(),
                    current_unit: c.current_unit.into(),
                    qualifications: c.qualifications.into_iter().map(Into::into).collect(),
                    discipline: c
                        .discipline
                        .into_iter()
                        .map(|d| domain::Discipline::new(d.kind, d.decided_on))
                        .collect(),
                    appointment_proposed_on: c.appointment_proposed_on,
                    retirement_regime: domain::RetirementRegime::General,
                    science_technology: false,
                    ratings: Vec::new(),
                },
                position: position.into(),
                source,
                origin: None,
            }
        }
    }
}

/// Decodes a plan's body written in format 2 (see [`decode_body`]), giving each record the
/// 2025 attributes' defaults, so that the store can be upgraded to format 3.
///
/// # Errors
///
/// As [`decode_body`].
pub fn decode_body_v2(
    tree: &str,
    plan_key: &[u8],
    chunks: impl IntoIterator<Item = (impl AsRef<[u8]>, impl AsRef<[u8]>)>,
) -> Result<Body> {
    let old: v2::Body = decode_body_as(tree, plan_key, chunks)?;
    Ok(Body {
        entries: old.entries.into_iter().map(Entry::from).collect(),
        rounds: old.rounds,
    })
}

/// Decodes a plan's body from its chunks in key order, checking every envelope, that the
/// chunks are numbered 0, 1, 2, … without a gap, and that they make one whole record.
///
/// # Errors
///
/// [`StoreError::Corrupt`] naming the chunk or the plan when any check fails.
pub fn decode_body(
    tree: &str,
    plan_key: &[u8],
    chunks: impl IntoIterator<Item = (impl AsRef<[u8]>, impl AsRef<[u8]>)>,
) -> Result<Body> {
    let plain = inflate(tree, plan_key, chunks)?;
    let (mut body, rest) = postcard::take_from_bytes::<Body>(&plain)
        .map_err(|e| corrupt(tree, plan_key, e.to_string()))?;
    if rest.is_empty() {
        return Ok(body);
    }
    let origins: Vec<Option<EntryOrigin>> = decode_payload(tree, plan_key, rest)?;
    if origins.len() != body.entries.len() {
        return Err(corrupt(
            tree,
            plan_key,
            format!(
                "{} entries but provenance for {}",
                body.entries.len(),
                origins.len()
            ),
        ));
    }
    for (entry, origin) in body.entries.iter_mut().zip(origins) {
        entry.origin = origin.map(Box::new);
    }
    Ok(body)
}

fn decode_body_as<T: DeserializeOwned>(
    tree: &str,
    plan_key: &[u8],
    chunks: impl IntoIterator<Item = (impl AsRef<[u8]>, impl AsRef<[u8]>)>,
) -> Result<T> {
    let plain = inflate(tree, plan_key, chunks)?;
    decode_payload(tree, plan_key, &plain)
}

/// A plan's body record from its chunks, inflated, every envelope checked.
fn inflate(
    tree: &str,
    plan_key: &[u8],
    chunks: impl IntoIterator<Item = (impl AsRef<[u8]>, impl AsRef<[u8]>)>,
) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    for (i, (key, value)) in chunks.into_iter().enumerate() {
        let key = key.as_ref();
        let index = key
            .get(key.len().saturating_sub(4)..)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes);
        if index != Some(i as u32) {
            return Err(corrupt(
                tree,
                key,
                format!("chunk found where chunk {i} should be"),
            ));
        }
        bytes.extend_from_slice(open(tree, key, BYTES, value.as_ref())?);
    }
    // Bounded, so that no stored value can make a read exhaust memory.
    let limit = (bytes.len() as u64).saturating_mul(64) + (1 << 20);
    let mut plain = Vec::with_capacity(bytes.len() * 3);
    std::io::Read::read_to_end(
        &mut std::io::Read::take(flate2::read::DeflateDecoder::new(bytes.as_slice()), limit),
        &mut plain,
    )
    .map_err(|e| corrupt(tree, plan_key, format!("body does not inflate: {e}")))?;
    if plain.len() as u64 >= limit {
        return Err(corrupt(
            tree,
            plan_key,
            "body inflates past its bound".into(),
        ));
    }
    Ok(plain)
}

/// What a format-2 store holds, written for the tests of the upgrade.
#[cfg(test)]
pub(crate) mod format2 {
    use super::*;

    /// The body record of `p` in format 2 (the 2025 attributes dropped).
    pub(crate) fn record(p: &Plan) -> Vec<u8> {
        let entries = p
            .entries
            .iter()
            .map(|e| v2::Entry {
                cadre: v2::Cadre {
                    national_id: e.cadre.national_id.to_string(),
                    full_name: e.cadre.full_name.to_string(),
                    birth_date: e.cadre.birth_date,
                    gender: e.cadre.gender,
                    ethnicity: e.cadre.ethnicity.to_string(),
                    current_positions: e
                        .cadre
                        .current_positions
                        .iter()
                        .map(|p| p.to_string())
                        .collect(),
                    current_unit: e.cadre.current_unit.to_string(),
                    qualifications: e
                        .cadre
                        .qualifications
                        .iter()
                        .map(|q| q.to_string())
                        .collect(),
                    discipline: e
                        .cadre
                        .discipline
                        .iter()
                        .map(|d| v2::Discipline {
                            kind: d.kind,
                            decided_on: d.decided_on,
                        })
                        .collect(),
                    appointment_proposed_on: e.cadre.appointment_proposed_on,
                },
                position: e.position.to_string(),
                source: e.source,
            })
            .collect();
        postcard::to_allocvec(&v2::Body {
            entries,
            rounds: p.rounds.clone(),
        })
        .expect("encodes")
    }

    /// The sealed chunks of `p`'s body in format 2.
    pub(crate) fn encode_body(p: &Plan) -> Vec<(Vec<u8>, Vec<u8>)> {
        seal_record(&p.id, &record(p))
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::{
        Body as Voter, Cadre, Discipline, DisciplineKind, EntrySource, Gender, PlanId, Tally,
    };

    fn sample() -> Plan {
        let mut p = Plan::new_draft(
            PlanId {
                unit: "412".into(),
                term: "2025-2030".into(),
                version: 1,
            },
            None,
        );
        p.entries.push(Entry {
            cadre: Cadre {
                national_id: "040080000001".into(),
                full_name: "Nguyễn Thị Hoa".into(),
                birth_date: NaiveDate::from_ymd_opt(1980, 2, 29).unwrap(),
                gender: Gender::Female,
                ethnicity: "Kinh".into(),
                current_positions: vec!["P.CT".into()],
                current_unit: "412".into(),
                qualifications: vec!["Thạc sĩ".into()],
                discipline: vec![Discipline {
                    kind: DisciplineKind::Warning,
                    decided_on: NaiveDate::from_ymd_opt(2019, 5, 1).unwrap(),
                    announced_on: None,
                    complaint_pending: false,
                    new_violation_on: None,
                }],
                appointment_proposed_on: None,
                retirement_regime: Default::default(),
                science_technology: false,
                ratings: Vec::new(),
            },
            position: "C.CT".into(),
            source: EntrySource::Voted,
            origin: None,
        });
        p.rounds.push(BallotRound {
            body: Voter::StandingCommittee,
            date: NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
            convened: 15,
            present: 14,
            ballots_issued: 14,
            valid_ballots: 14,
            tallies: vec![Tally {
                national_id: "040080000001".into(),
                position: "C.CT".into(),
                yes: 12,
            }],
        });
        p
    }

    #[test]
    fn a_plans_encoding_is_pinned() {
        // If this fails, the serde shape of a stored domain type changed: stored values of
        // format 2 would no longer decode. Bump FORMAT and add an upgrade, then update this.
        // (Deflate's output may change with the library; what it inflates to may not.)
        let record = body_record(&sample());
        assert_eq!(encode_body(&sample()).len(), 1);
        // Format 3 (format 2 was 4ef376f8d1fe01d2: see a_format_2_body_upgrades_…).
        assert_eq!(
            blake3::hash(&record).to_hex().to_string()[..16],
            *"1a8f609b397a46ee",
            "body encoding changed: {record:02x?}"
        );
    }

    #[test]
    fn a_format_2_body_upgrades_to_the_same_plan() {
        let record = format2::record(&sample());
        // Format 2's pinned encoding of the sample: these are the bytes a format-2 store holds.
        assert_eq!(
            blake3::hash(&record).to_hex().to_string()[..16],
            *"4ef376f8d1fe01d2"
        );
        let plan = sample();
        let key = keys::plan(&plan.id);
        let chunks = seal_record(&plan.id, &record);
        let body = decode_body_v2("bodies", &key, chunks.clone()).unwrap();
        assert_eq!(body.entries, plan.entries);
        assert_eq!(body.rounds, plan.rounds);
        // Format 3 reads it no more: the upgrade is needed.
        assert!(decode_body("bodies", &key, chunks).is_err());
    }

    #[test]
    fn an_entrys_provenance_is_kept_as_a_trailer() {
        let mut plan = sample();
        let plain = body_record(&plan);
        plan.entries[0].origin = Some(Box::new(crate::domain::EntryOrigin {
            plan: PlanId {
                unit: "16663".into(),
                term: "2025-2030".into(),
                version: 2,
            },
            position: 3,
        }));
        let record = body_record(&plan);
        assert!(
            record.starts_with(&plain),
            "the trailer follows format 3's record"
        );
        let key = keys::plan(&plan.id);
        let body = decode_body("bodies", &key, encode_body(&plan)).unwrap();
        assert_eq!(body.entries, plan.entries);
        // A trailer that does not match the entries is corruption, not a panic.
        let mut bad = plain.clone();
        bad = postcard::to_extend(&vec![None::<crate::domain::EntryOrigin>; 7], bad).unwrap();
        let err = decode_body("bodies", &key, seal_record(&plan.id, &bad))
            .err()
            .unwrap();
        assert!(err.to_string().contains("provenance"), "{err}");
    }

    #[test]
    fn every_kind_round_trips() {
        let plan = sample();
        let key = keys::plan(&plan.id);
        let chunks = encode_body(&plan);
        let body = decode_body("bodies", &key, chunks.clone()).unwrap();
        assert_eq!(body.entries, plan.entries);
        assert_eq!(body.rounds, plan.rounds);
        let v = encode(&key, &plan.id);
        assert_eq!(decode::<PlanId>("plans", &key, &v).unwrap(), plan.id);
        let doc = serde_json::json!({"a": [1, 2, "ba"]});
        assert_eq!(
            decode_json("documents", b"d", &encode_json(b"d", &doc)).unwrap(),
            doc
        );
        assert_eq!(decode_u64("meta", b"n", &encode_u64(b"n", 7)).unwrap(), 7);
    }

    #[test]
    fn any_flipped_byte_or_moved_value_is_corrupt_and_names_the_key() {
        let plan = sample();
        let key = keys::plan(&plan.id);
        let v = encode(&key, &plan.id);
        for i in 0..v.len() {
            let mut bad = v.clone();
            bad[i] ^= 0x40;
            let err = decode::<PlanId>("plans", &key, &bad).unwrap_err();
            assert!(
                err.to_string().contains("plans 412/2025-2030/v1"),
                "byte {i}: {err}"
            );
        }
        let mut short = v.clone();
        short.truncate(3);
        assert!(decode::<PlanId>("plans", &key, &short).is_err());
        // The same value under another key.
        let other = keys::plan(&PlanId {
            version: 2,
            ..plan.id.clone()
        });
        assert!(decode::<PlanId>("plans", &other, &v).is_err());
        // A missing middle chunk of a large body.
        let mut big = plan.clone();
        big.entries = (0..2_000)
            .map(|i: u32| {
                let mut e = plan.entries[0].clone();
                // Incompressible, so that the body takes several chunks.
                e.cadre.full_name = blake3::hash(&i.to_be_bytes()).to_hex().as_str().into();
                e
            })
            .collect();
        let mut chunks = encode_body(&big);
        assert!(chunks.len() >= 3);
        assert!(chunks.iter().all(|(_, v)| v.len() <= CHUNK + HEADER));
        assert_eq!(
            decode_body("bodies", &key, chunks.clone())
                .unwrap()
                .entries
                .len(),
            2_000
        );
        chunks.remove(1);
        let err = decode_body("bodies", &key, chunks).err().unwrap();
        assert!(err.to_string().contains("chunk 1"), "{err}");
    }
}
