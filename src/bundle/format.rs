//! The bundle file (`proto/quyhoach/v1/bundle.proto`): [`MAGIC`], then one `BundleFile`
//! message whose `body` (a `BundleBody`) is sealed by the writing node's signature. Reading
//! refuses a file over [`MAX_BUNDLE`] before decoding anything, a wrong magic or format
//! version, and malformed protobuf (prost checks every length against the bytes present, so a
//! huge length prefix is refused, never allocated). [`Sealed::verify`] then checks the seal,
//! every signature inside and that each vouches for exactly what is carried.

use chrono::{DateTime, Utc};
use prost::Message;

use super::sign::{self, Kind, PlanSignature, Signer, Statement, Trust};
use crate::{
    auth::Caller,
    domain::{Decision, FieldError, Fulfilment, Plan, PlanStatus, Receipt},
    grpc::{convert, pb},
};

/// The first eight bytes of every bundle file.
pub const MAGIC: &[u8; 8] = b"QHBUNDLE";
/// The format version this code writes and reads.
pub const FORMAT: u32 = 1;
/// The largest bundle file, in bytes: what one push may carry (16 MiB; gRPC's
/// `grpc::limits::MAX_SYNC_MESSAGE` is this figure).
pub const MAX_BUNDLE: usize = 16 * 1024 * 1024;
/// The most decisions one bundle carries.
pub const MAX_DECISIONS: usize = 10_000;
/// The most signatures a push forwards from the nodes below the pusher (today one: the plan's
/// own node's submission), and the most a record carries.
pub const MAX_FORWARDED: usize = 4;
/// The most signatures a record bundle carries.
pub const MAX_RECORD_SIGNATURES: usize = 16;

/// The signatures a push carries, over gRPC (`PushRequest.signature`, `forwarded`) as in a
/// bundle (`BundledPush`): the pushing node's own, and those of the nodes below it that it
/// verified and forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSignatures {
    /// The pusher's submission (its own plan) or decision (a lower plan).
    pub signature: PlanSignature,
    /// For a lower plan: the plan's own node's submission, as the pusher verified and keeps it
    /// (at most [`MAX_FORWARDED`]); empty for the pusher's own plan.
    pub forwarded: Vec<PlanSignature>,
}

/// What a bundle carries.
// One bundle holds one content, read once: boxing the push buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// A plan version going up, as a push carries it.
    Push {
        /// The version, with its entries, rounds and (for a lower plan) the decision.
        plan: Plan,
        /// The writing node's audit head, `<seq>:<digest>` (empty if none).
        audit_head: String,
        /// The submission (own plan) or decision (a lower plan) signature, and the
        /// signatures forwarded from below.
        signed: PushSignatures,
    },
    /// The parent's receipt for a push.
    Receipt {
        /// The receipt.
        receipt: Receipt,
        /// The parent's signature on it.
        signature: PlanSignature,
    },
    /// Decisions going down, with their sequence numbers in the parent's log.
    Decisions {
        /// (sequence number, decision), in order.
        decisions: Vec<(u64, Decision)>,
        /// One signature per decision, in the same order.
        signatures: Vec<PlanSignature>,
    },
    /// A plan version as the writing node holds it, with every signature it keeps on it, for
    /// `bundle verify` (a record is never imported).
    Record {
        /// The version as held.
        plan: Plan,
        /// Every signature kept on it: submission, decisions, receipts.
        signatures: Vec<PlanSignature>,
    },
    /// The parent's reference data going down to a child: the JSON document a
    /// `NodeSync.GetReference` answer carries (the node reads it, `node::Reference`), whose
    /// only signature is the bundle's seal.
    Reference {
        /// The version carried; the document's own must equal it.
        version: u64,
        /// The reference data as JSON.
        document: String,
    },
    /// A fulfilment going up, recorded at the writing node or below it; the seal signs it.
    Fulfilment {
        /// The fulfilment, as `NodeSync.PushFulfilment` carries it.
        fulfilment: Fulfilment,
        /// The writing node's statement of kind fulfilment on it.
        signature: PlanSignature,
    },
    /// The parent's answer to a fulfilment: what it holds now for that entry.
    FulfilmentAnswer {
        /// The record the parent holds.
        held: Fulfilment,
        /// The parent held the same decision already.
        duplicate: bool,
        /// The parent held another decision for the entry and kept it.
        conflict: bool,
    },
}

impl Content {
    /// `push`, `receipt`, `decisions`, `record` or `reference`.
    pub fn kind(&self) -> &'static str {
        match self {
            Content::Push { .. } => "push",
            Content::Receipt { .. } => "receipt",
            Content::Decisions { .. } => "decisions",
            Content::Record { .. } => "record",
            Content::Reference { .. } => "reference",
            Content::Fulfilment { .. } => "fulfilment",
            Content::FulfilmentAnswer { .. } => "fulfilment answer",
        }
    }
}

/// A bundle's body.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// The unit of the node that wrote it.
    pub from_unit: String,
    /// The unit of the node it is for.
    pub to_unit: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// The writing deployment's classification mark (độ mật, `serve --classification`), as
    /// its exports carry it; empty when the deployment names none. Under the seal.
    pub classification: String,
    /// What it carries.
    pub content: Content,
}

impl Bundle {
    /// A file name for the bundle: `push-40-2025-2030-v1-submitted.qhb`,
    /// `receipt-40-2025-2030-v1-submitted.qhb`, `decisions-40-to-12.qhb` (up to sequence 12),
    /// `reference-40-to-412-v3.qhb` (version 3 of 40's reference data, for 412).
    pub fn file_name(&self) -> String {
        match &self.content {
            Content::Push { plan, .. } => format!(
                "push-{}-{}-v{}-{}.qhb",
                plan.id.unit,
                plan.id.term,
                plan.id.version,
                plan.status.as_str()
            ),
            Content::Receipt { signature, .. } => {
                let s = &signature.statement;
                format!(
                    "receipt-{}-{}-v{}-{}.qhb",
                    s.plan.unit,
                    s.plan.term,
                    s.plan.version,
                    s.status.as_str()
                )
            }
            Content::Decisions { decisions, .. } => format!(
                "decisions-{}-to-{}.qhb",
                self.to_unit,
                decisions.iter().map(|(s, _)| *s).max().unwrap_or(0)
            ),
            Content::Record { plan, .. } => format!(
                "record-{}-{}-v{}-at-{}.qhb",
                plan.id.unit, plan.id.term, plan.id.version, self.from_unit
            ),
            Content::Reference { version, .. } => format!(
                "reference-{}-to-{}-v{version}.qhb",
                self.from_unit, self.to_unit
            ),
            Content::Fulfilment { fulfilment, .. } => {
                format!("fulfil-{}.qhb", fulfilment_file_part(fulfilment))
            }
            Content::FulfilmentAnswer { held, .. } => {
                format!("fulfilled-{}.qhb", fulfilment_file_part(held))
            }
        }
    }

    /// Encodes and seals the bundle with `signer`: the whole file, magic included.
    ///
    /// # Errors
    ///
    /// A sentence if signing fails or the file would exceed [`MAX_BUNDLE`].
    pub fn write(&self, signer: &Signer) -> Result<Vec<u8>, String> {
        let body = pb::BundleBody {
            from_unit: self.from_unit.clone(),
            to_unit: self.to_unit.clone(),
            created_at: self.created_at.to_rfc3339(),
            content: Some(match &self.content {
                Content::Push {
                    plan,
                    audit_head,
                    signed,
                } => pb::bundle_body::Content::Push(pb::BundledPush {
                    plan: Some(convert::plan_to_pb(plan)),
                    audit_head: audit_head.clone(),
                    signature: Some(signature_to_pb(&signed.signature)),
                    forwarded: signed.forwarded.iter().map(signature_to_pb).collect(),
                }),
                Content::Receipt { receipt, signature } => {
                    pb::bundle_body::Content::Receipt(pb::BundledReceipt {
                        receipt: Some(convert::receipt_to_pb(receipt, false)),
                        signature: Some(signature_to_pb(signature)),
                    })
                }
                Content::Decisions {
                    decisions,
                    signatures,
                } => pb::bundle_body::Content::Decisions(pb::BundledDecisions {
                    decisions: decisions
                        .iter()
                        .map(|(seq, d)| pb::SequencedDecision {
                            seq: *seq,
                            decision: Some(convert::decision_to_pb(d)),
                        })
                        .collect(),
                    signatures: signatures.iter().map(signature_to_pb).collect(),
                }),
                Content::Record { plan, signatures } => {
                    pb::bundle_body::Content::Record(pb::BundledRecord {
                        plan: Some(convert::plan_to_pb(plan)),
                        signatures: signatures.iter().map(signature_to_pb).collect(),
                    })
                }
                Content::Reference { version, document } => {
                    pb::bundle_body::Content::Reference(pb::BundledReference {
                        version: *version,
                        document: document.clone(),
                    })
                }
                Content::Fulfilment {
                    fulfilment,
                    signature,
                } => pb::bundle_body::Content::Fulfilment(pb::BundledFulfilment {
                    fulfilment: Some(convert::fulfilment_record_to_pb(fulfilment)),
                    signature: Some(signature_to_pb(signature)),
                }),
                Content::FulfilmentAnswer {
                    held,
                    duplicate,
                    conflict,
                } => pb::bundle_body::Content::FulfilmentAnswer(pb::BundledFulfilmentAnswer {
                    answer: Some(pb::PushFulfilmentResponse {
                        held: Some(convert::fulfilment_record_to_pb(held)),
                        duplicate: *duplicate,
                        conflict: *conflict,
                    }),
                }),
            }),
            chain: Vec::new(),
            classification: self.classification.clone(),
        }
        .encode_to_vec();
        let (algorithm, signature) = signer.sign_bytes(&body)?;
        let file = pb::BundleFile {
            format: FORMAT,
            body,
            seal: Some(pb::NodeSignature {
                algorithm,
                signature,
                certificate: signer.certificate.clone(),
                statement: None,
            }),
        };
        let mut bytes = Vec::with_capacity(MAGIC.len() + file.encoded_len());
        bytes.extend_from_slice(MAGIC);
        file.encode(&mut bytes)
            .map_err(|e| format!("cannot encode the bundle: {e}"))?;
        if bytes.len() > MAX_BUNDLE {
            return Err(format!(
                "the bundle would be {} bytes, more than the {MAX_BUNDLE} a bundle may hold",
                bytes.len()
            ));
        }
        Ok(bytes)
    }
}

/// The part of a fulfilment bundle's file name that names its entry:
/// `16681-2025-2030-v1-C.PCT.UBND-3f2a9c1e` (the person as the first 8 hex digits of the BLAKE3
/// of the CCCD, which a file name does not show).
fn fulfilment_file_part(f: &Fulfilment) -> String {
    let person = blake3::hash(f.national_id.as_bytes()).to_hex();
    format!(
        "{}-{}-v{}-{}-{}",
        f.plan.unit,
        f.plan.term,
        f.plan.version,
        f.position,
        &person[..8]
    )
}

/// A bundle read from its bytes, not yet verified.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// What the body says.
    pub bundle: Bundle,
    /// The sealed body's bytes, exactly as read.
    body: Vec<u8>,
    seal_algorithm: String,
    seal_signature: Vec<u8>,
    /// The seal's certificate (DER): the node that wrote the bundle.
    pub seal_certificate: Vec<u8>,
}

fn bad(field: &str, problem: impl Into<String>) -> FieldError {
    FieldError::new(field, problem)
}

/// Nothing if the statement signed is the one `expected`; otherwise the error names both:
/// "vouches for `signed`, but `carrier` `expected`" (`carrier`: e.g. "the push carries").
fn same_statement(signed: &Statement, expected: &Statement, carrier: &str) -> Result<(), String> {
    if signed == expected {
        return Ok(());
    }
    Err(format!(
        "vouches for {}, but {carrier} {}",
        signed.describe(),
        expected.describe()
    ))
}

/// A [`FieldError`] on `field` if it holds more than `max` items (`what`: what they are).
fn at_most<T>(field: &str, items: &[T], max: usize, what: &str) -> Result<(), FieldError> {
    if items.len() > max {
        return Err(bad(field, format!("more than {max} {what}")));
    }
    Ok(())
}

/// `v`, or a [`FieldError`] on `field`: "is required".
fn required<T>(field: &str, v: Option<T>) -> Result<T, FieldError> {
    v.ok_or_else(|| bad(field, "is required"))
}

/// The message that must stand at `field`, read by `from_pb` (which names its sub-fields
/// under `field`); "is required" without one.
fn from_required<P, T>(
    field: &str,
    v: Option<P>,
    from_pb: impl FnOnce(&str, P) -> Result<T, FieldError>,
) -> Result<T, FieldError> {
    from_pb(field, required(field, v)?)
}

/// The signature that must stand at `field`, from its proto form; "is missing" without one.
fn required_signature(
    field: &str,
    s: Option<pb::NodeSignature>,
) -> Result<PlanSignature, FieldError> {
    signature_from_pb(field, s.ok_or_else(|| bad(field, "is missing"))?)
}

/// Reads a bundle file's bytes: its size, magic and format version, and its protobuf, into a
/// [`Sealed`] bundle. Nothing is verified yet.
///
/// # Errors
///
/// A [`FieldError`] on `bundle` (or the field inside it) naming what is wrong.
pub fn read(bytes: &[u8]) -> Result<Sealed, FieldError> {
    if bytes.len() > MAX_BUNDLE {
        return Err(bad(
            "bundle",
            format!(
                "{} bytes, more than the {MAX_BUNDLE} a bundle may hold",
                bytes.len()
            ),
        ));
    }
    let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Err(bad(
            "bundle",
            "is not a quyhoach bundle (it does not start with QHBUNDLE)",
        ));
    };
    let file = pb::BundleFile::decode(rest)
        .map_err(|e| bad("bundle", format!("is damaged or truncated: {e}")))?;
    if file.format != FORMAT {
        return Err(bad(
            "bundle.format",
            format!(
                "format {} is not the format {FORMAT} this version reads",
                file.format
            ),
        ));
    }
    let seal = file
        .seal
        .ok_or_else(|| bad("bundle.seal", "is missing: the bundle is not signed"))?;
    let body = pb::BundleBody::decode(file.body.as_slice())
        .map_err(|e| bad("bundle.body", format!("is damaged: {e}")))?;
    let created_at = DateTime::parse_from_rfc3339(&body.created_at)
        .map_err(|_| bad("bundle.created_at", "is not an RFC 3339 timestamp"))?
        .with_timezone(&Utc);
    let content = match body.content {
        None => return Err(bad("bundle.content", "is missing")),
        Some(pb::bundle_body::Content::Push(p)) => Content::Push {
            plan: from_required("bundle.push.plan", p.plan, convert::plan_from_pb)?,
            audit_head: p.audit_head,
            signed: push_signatures_from_pb("bundle.push.", p.signature, p.forwarded)?
                .ok_or_else(|| bad("bundle.push.signature", "is missing"))?,
        },
        Some(pb::bundle_body::Content::Receipt(r)) => Content::Receipt {
            receipt: convert::receipt_from_pb(required("bundle.receipt.receipt", r.receipt)?)?,
            signature: required_signature("bundle.receipt.signature", r.signature)?,
        },
        Some(pb::bundle_body::Content::Decisions(d)) => {
            at_most("bundle.decisions", &d.decisions, MAX_DECISIONS, "decisions")?;
            let decisions = d
                .decisions
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    let field = format!("bundle.decisions.decisions[{i}]");
                    let decision = from_required(&field, s.decision, convert::decision_from_pb)?;
                    Ok((s.seq, decision))
                })
                .collect::<Result<Vec<_>, FieldError>>()?;
            Content::Decisions {
                decisions,
                signatures: signatures_from_pb("bundle.decisions.signatures", d.signatures)?,
            }
        }
        Some(pb::bundle_body::Content::Record(r)) => {
            let field = "bundle.record.signatures";
            at_most(field, &r.signatures, MAX_RECORD_SIGNATURES, "signatures")?;
            Content::Record {
                plan: from_required("bundle.record.plan", r.plan, convert::plan_from_pb)?,
                signatures: signatures_from_pb(field, r.signatures)?,
            }
        }
        Some(pb::bundle_body::Content::Reference(r)) => {
            if r.version == 0 {
                return Err(bad(
                    "bundle.reference.version",
                    "is 0: a parent's reference data has a version from 1",
                ));
            }
            if r.document.trim().is_empty() {
                return Err(bad("bundle.reference.document", "is empty"));
            }
            Content::Reference {
                version: r.version,
                document: r.document,
            }
        }
        Some(pb::bundle_body::Content::Fulfilment(f)) => Content::Fulfilment {
            fulfilment: from_required(
                "bundle.fulfilment.fulfilment",
                f.fulfilment,
                convert::fulfilment_from_pb,
            )?,
            signature: required_signature("bundle.fulfilment.signature", f.signature)?,
        },
        Some(pb::bundle_body::Content::FulfilmentAnswer(a)) => {
            let answer = required("bundle.fulfilment_answer.answer", a.answer)?;
            Content::FulfilmentAnswer {
                held: from_required(
                    "bundle.fulfilment_answer.answer.held",
                    answer.held,
                    convert::fulfilment_from_pb,
                )?,
                duplicate: answer.duplicate,
                conflict: answer.conflict,
            }
        }
    };
    if body.classification.chars().count() > 64 || body.classification.chars().any(char::is_control)
    {
        return Err(bad(
            "bundle.classification",
            "longer than 64 characters or holds a control character",
        ));
    }
    Ok(Sealed {
        bundle: Bundle {
            from_unit: body.from_unit,
            to_unit: body.to_unit,
            created_at,
            classification: body.classification,
            content,
        },
        body: file.body,
        seal_algorithm: seal.algorithm,
        seal_signature: seal.signature,
        seal_certificate: seal.certificate,
    })
}

/// What verification found: who sealed the bundle, and each signature inside, checked.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The node that wrote and sealed the bundle.
    pub sealed_by: Caller,
    /// Every statement inside, each verified.
    pub statements: Vec<Statement>,
}

impl Sealed {
    /// Verifies the bundle with the authority (`trust`): the seal over the body's exact bytes
    /// by a node certificate of `from_unit`, and every signature inside, by the node its
    /// statement names, vouching for exactly the content carried:
    ///
    /// - a push of the writer's own plan: its submission, by the writer, of the plan's
    ///   content hash (recomputed); a push of a lower plan: the decision it carries, by the
    ///   writer (the approving node), of the content hash;
    /// - a receipt: by the writer, for the receipt carried;
    /// - decisions: one signature each, by the writer, for the decision carried;
    /// - reference data: none inside; the seal is its signature.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] naming the part that does not hold.
    pub fn verify(&self, trust: &Trust) -> Result<Verified, FieldError> {
        let b = &self.bundle;
        let sealed_by = trust
            .verify_bytes(
                &self.seal_certificate,
                &self.seal_algorithm,
                &self.body,
                &self.seal_signature,
            )
            .map_err(|e| bad("bundle.seal", e))?;
        sign::require_node_of(&sealed_by, &b.from_unit).map_err(|e| bad("bundle.seal", e))?;
        let check = |field: &str, s: &PlanSignature, expected: &Statement| {
            same_statement(&s.statement, expected, "the bundle carries")
                .map_err(|e| bad(field, e))?;
            if s.statement.by != b.from_unit {
                return Err(bad(
                    field,
                    format!(
                        "is by {}, but the bundle was written by {}",
                        s.statement.by, b.from_unit
                    ),
                ));
            }
            trust.verify(s).map_err(|e| bad(field, e))?;
            Ok(s.statement.clone())
        };
        let statements = match &b.content {
            Content::Push { plan, signed, .. } => {
                check_push(trust, &b.from_unit, plan, signed, "bundle.push.")?
            }
            Content::Receipt { receipt, signature } => {
                let expected = Statement::receipt(receipt, signature.statement.status);
                vec![check("bundle.receipt.signature", signature, &expected)?]
            }
            Content::Decisions {
                decisions,
                signatures,
            } => {
                if decisions.len() != signatures.len() {
                    return Err(bad(
                        "bundle.decisions.signatures",
                        format!(
                            "{} signatures for {} decisions",
                            signatures.len(),
                            decisions.len()
                        ),
                    ));
                }
                decisions
                    .iter()
                    .zip(signatures)
                    .enumerate()
                    .map(|(i, ((_, d), s))| {
                        check(
                            &format!("bundle.decisions.signatures[{i}]"),
                            s,
                            &Statement::decision(d),
                        )
                    })
                    .collect::<Result<_, _>>()?
            }
            Content::Record { plan, signatures } => signatures
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let field = format!("bundle.record.signatures[{i}]");
                    check_held(trust, plan, s).map_err(|e| bad(&field, e))?;
                    Ok(s.statement.clone())
                })
                .collect::<Result<_, FieldError>>()?,
            // The seal, checked above, is the reference data's only signature.
            Content::Reference { .. } => Vec::new(),
            // The writer's statement on what the fulfilment says; the version's hash in it is
            // checked by the node that imports it, which holds the version.
            Content::Fulfilment {
                fulfilment,
                signature,
            } => {
                let expected =
                    Statement::fulfilment(fulfilment, &signature.statement.hash, &b.from_unit);
                vec![check("bundle.fulfilment.signature", signature, &expected)?]
            }
            // The seal, by the parent's node certificate, signs its answer.
            Content::FulfilmentAnswer { .. } => Vec::new(),
        };
        Ok(Verified {
            sealed_by,
            statements,
        })
    }
}

/// Verifies the signatures a push from the node of `from` carries for `plan`, with the
/// authority (`trust`): the same checks for a push over gRPC (`Node::receive_signed_push`) and
/// a push bundle ([`Sealed::verify`]). `at` prefixes the field names (`bundle.push.` or empty).
///
/// - `signature`: for `from`'s own plan (which must be `submitted`), its submission of exactly
///   this content; for a lower plan, the decision the plan carries, exactly; in both cases by
///   a node certificate of `from` that chains to the authority, is valid now and not revoked
///   (`Trust::verify`), over the statement's bytes;
/// - `forwarded` (at most [`MAX_FORWARDED`], only with a lower plan): each the submission of
///   this content by the plan's own unit's node, verified the same way.
///
/// Returns the statements verified, the pusher's first.
///
/// # Errors
///
/// A [`FieldError`] naming the signature (`signature`, `forwarded[i]`) or the plan field that
/// does not hold and why.
pub fn check_push(
    trust: &Trust,
    from: &str,
    plan: &Plan,
    signed: &PushSignatures,
    at: &str,
) -> Result<Vec<Statement>, FieldError> {
    let field = format!("{at}signature");
    let signature = &signed.signature;
    sign::matches_plan(&signature.statement, plan).map_err(|e| bad(&field, e))?;
    let own = plan.id.unit == from;
    let expected = if own {
        if plan.status != PlanStatus::Submitted {
            return Err(bad(
                &format!("{at}plan.status"),
                format!(
                    "a unit's own plan goes up as submitted, not {}",
                    plan.status.as_str()
                ),
            ));
        }
        Statement::submitted(plan, signature.statement.date)
    } else {
        let d = plan.decision.as_ref().ok_or_else(|| {
            bad(
                &format!("{at}plan.decision"),
                "a lower plan goes up with the decision on it",
            )
        })?;
        Statement::decision(d)
    };
    if signature.statement.by != from {
        return Err(bad(
            &field,
            format!(
                "is by {}, but the push comes from {}",
                signature.statement.by,
                crate::domain::validate::short(from)
            ),
        ));
    }
    same_statement(&signature.statement, &expected, "the push carries")
        .map_err(|e| bad(&field, e))?;
    trust.verify(signature).map_err(|e| bad(&field, e))?;
    let mut statements = vec![signature.statement.clone()];
    let forwarded = format!("{at}forwarded");
    at_most(&forwarded, &signed.forwarded, MAX_FORWARDED, "signatures")?;
    for (i, s) in signed.forwarded.iter().enumerate() {
        let field = format!("{at}forwarded[{i}]");
        if own {
            return Err(bad(&field, "a unit's own plan carries its submission only"));
        }
        let expected = Statement::submitted(plan, s.statement.date);
        if s.statement != expected {
            return Err(bad(
                &field,
                format!(
                    "vouches for {}, but only the submission of {} by its own node is forwarded",
                    s.statement.describe(),
                    plan.id
                ),
            ));
        }
        sign::matches_plan(&s.statement, plan).map_err(|e| bad(&field, e))?;
        trust.verify(s).map_err(|e| bad(&field, e))?;
        statements.push(s.statement.clone());
    }
    Ok(statements)
}

/// Checks a signature a node keeps on a version it holds (a record bundle's): it vouches for
/// this version and content; a submission is by the plan's own unit, as submitted; a decision
/// by the unit that decided the version held is exactly that decision; and it verifies with
/// the authority (`Trust::verify`).
///
/// # Errors
///
/// A sentence saying what does not hold.
pub fn check_held(trust: &Trust, plan: &Plan, s: &PlanSignature) -> Result<(), String> {
    let st = &s.statement;
    if st.plan != plan.id || st.hash != plan.content_hash() {
        return Err(format!(
            "vouches for {}, but the record holds {} with hash {}",
            st.describe(),
            plan.id,
            plan.content_hash()
        ));
    }
    match st.kind {
        Kind::Submitted if st.by != plan.id.unit || st.status != PlanStatus::Submitted => {
            return Err(format!(
                "{} is not a submission by {}'s own node",
                st.describe(),
                plan.id.unit
            ))
        }
        Kind::Decision => {
            if let Some(d) = plan.decision.as_ref().filter(|d| d.decided_by == st.by) {
                same_statement(st, &Statement::decision(d), "the record holds")?;
            }
        }
        _ => {}
    }
    trust.verify(s)?;
    Ok(())
}

/// A push's signatures from their proto form (`at` prefixes the field names); none when the
/// push carries no signature and forwards none.
///
/// # Errors
///
/// A [`FieldError`] on the signature that is malformed, on `forwarded` without `signature`,
/// or on more than [`MAX_FORWARDED`] forwarded.
pub fn push_signatures_from_pb(
    at: &str,
    signature: Option<pb::NodeSignature>,
    forwarded: Vec<pb::NodeSignature>,
) -> Result<Option<PushSignatures>, FieldError> {
    let field = format!("{at}forwarded");
    at_most(&field, &forwarded, MAX_FORWARDED, "signatures")?;
    let Some(signature) = signature else {
        if forwarded.is_empty() {
            return Ok(None);
        }
        return Err(bad(
            &format!("{at}signature"),
            "is missing, though signatures are forwarded",
        ));
    };
    Ok(Some(PushSignatures {
        signature: signature_from_pb(&format!("{at}signature"), signature)?,
        forwarded: signatures_from_pb(&field, forwarded)?,
    }))
}

/// Signatures from their proto form, the `i`-th named `field[i]` in an error.
///
/// # Errors
///
/// A [`FieldError`] on the first signature that is malformed (see [`signature_from_pb`]).
pub fn signatures_from_pb(
    field: &str,
    signatures: Vec<pb::NodeSignature>,
) -> Result<Vec<PlanSignature>, FieldError> {
    signatures
        .into_iter()
        .enumerate()
        .map(|(i, s)| signature_from_pb(&format!("{field}[{i}]"), s))
        .collect()
}

/// The proto form of a push's signatures: (`signature`, `forwarded`).
pub fn push_signatures_to_pb(
    s: &PushSignatures,
) -> (Option<pb::NodeSignature>, Vec<pb::NodeSignature>) {
    (
        Some(signature_to_pb(&s.signature)),
        s.forwarded.iter().map(signature_to_pb).collect(),
    )
}

/// The proto form of a signature.
pub fn signature_to_pb(s: &PlanSignature) -> pb::NodeSignature {
    let st = &s.statement;
    pb::NodeSignature {
        algorithm: s.algorithm.clone(),
        signature: s.signature.clone(),
        certificate: s.certificate.clone(),
        statement: Some(pb::SignedStatement {
            kind: st.kind.as_str().into(),
            plan: Some(convert::plan_id_to_pb(&st.plan)),
            status: convert::status_to_pb(st.status).into(),
            hash: st.hash.clone(),
            date: st.date.to_rfc3339(),
            by: st.by.clone(),
            detail: st.detail.clone(),
        }),
    }
}

/// A signature from its proto form.
///
/// # Errors
///
/// A [`FieldError`] on the sub-field that is missing or malformed.
pub fn signature_from_pb(field: &str, s: pb::NodeSignature) -> Result<PlanSignature, FieldError> {
    let st = s
        .statement
        .ok_or_else(|| bad(&format!("{field}.statement"), "is missing"))?;
    let kind = match st.kind.as_str() {
        "submitted" => Kind::Submitted,
        "decision" => Kind::Decision,
        "receipt" => Kind::Receipt,
        "fulfilment" => Kind::Fulfilment,
        other => {
            return Err(bad(
                &format!("{field}.statement.kind"),
                format!(
                    "{} is not submitted, decision, receipt or fulfilment",
                    crate::domain::validate::short(other)
                ),
            ))
        }
    };
    let statement = Statement {
        kind,
        plan: convert::plan_id_from_pb(&format!("{field}.statement.plan"), st.plan)?,
        status: convert::status_from_pb(&format!("{field}.statement.status"), st.status)?
            .ok_or_else(|| bad(&format!("{field}.statement.status"), "is required"))?,
        hash: st.hash,
        date: DateTime::parse_from_rfc3339(&st.date)
            .map_err(|_| {
                bad(
                    &format!("{field}.statement.date"),
                    "is not an RFC 3339 timestamp",
                )
            })?
            .with_timezone(&Utc),
        by: st.by,
        detail: st.detail,
    };
    statement
        .check()
        .map_err(|e| bad(&format!("{field}.statement"), e))?;
    Ok(PlanSignature {
        statement,
        algorithm: s.algorithm,
        signature: s.signature,
        certificate: s.certificate,
    })
}
