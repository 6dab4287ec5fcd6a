//! A node's side of bundles: writing what it would push (or the decisions it took on a child's
//! plans) as a bundle, and applying a bundle exactly as the link would: a push through the
//! node's own receive path with the bundle's signer as the caller, a receipt closing the outbox
//! item it acknowledges, decisions through the path pulled decisions take.
//!
//! A push bundle of this node's own plan version that leaves the node (`bundle export`, or the
//! folder link writing it into `DIR/up/`) is recorded in the same commit as a document
//! ([`Left`], under `bundle-left/<unit>/<term>/<version>`), so that
//! [`Node::withdraw_submission`] can tell a version still only queued here from one whose file
//! may already be on its way (issue 21; docs/offline-transfer.md, "A withdrawal after a bundle
//! left").
//!
//! The signatures of a link are made and taken here, one function per step for both links
//! (the gRPC link, `sync::grpc_parent` and `grpc::node_sync`, and bundles, over a folder or
//! carried by hand): [`push_signatures`] (what a push carries), [`receive`] (taking a push and
//! signing its receipt), [`take_receipt`] (the child keeping the parent's signed receipt),
//! [`decision_signatures`] (the parent signing the decisions it sends down) and
//! [`take_decisions`] (the child verifying and keeping them).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Event, Node};
use crate::{
    auth::Caller,
    bundle::{
        format::{self, Bundle, Content, PushSignatures},
        sign::{Kind, PlanSignature, Statement},
    },
    domain::{Decision, OutboxItem, Plan, PlanId, PlanStatus, Receipt},
    error::{Error, Result},
    store::Change,
};

/// How a push bundle of this node's own plan version left the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// Answered to `bundle export` (the `ExportBundle` call): the clerk's command wrote it
    /// wherever they chose; the node cannot take it back.
    Export,
    /// Written by the folder link into its `up` folder (the absolute or configured path of
    /// `DIR/up/`), where it waits to be carried; the node may remove it while it is there.
    Folder {
        /// The folder the file was written into.
        dir: PathBuf,
    },
}

/// The record that a push bundle of a plan version left this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Left {
    /// The bundle's file name as the node names it (`push-412-2025-2030-v1-submitted.qhb`).
    pub file: String,
    /// The content hash of the version it carries (64 hex digits).
    pub hash: String,
    /// When the node wrote it (its clock, UTC).
    pub at: DateTime<Utc>,
    /// How it left.
    pub via: Via,
}

impl Left {
    /// Where the file lies while it waits in a folder link's `up/`; `None` for an export.
    pub fn path(&self) -> Option<PathBuf> {
        match &self.via {
            Via::Export => None,
            Via::Folder { dir } => Some(dir.join(&self.file)),
        }
    }
}

/// The document key of the bundles that left for plan version `id`.
pub(super) fn left_key(id: &PlanId) -> String {
    format!("bundle-left/{}/{}/{}", id.unit, id.term, id.version)
}

/// The bundles recorded as having left for plan version `id` (any content hash).
///
/// # Errors
///
/// [`Error::Store`] if storage fails; [`Error::Precondition`] if the stored record does not
/// decode.
pub fn left(node: &Node, id: &PlanId) -> Result<Vec<Left>> {
    match node.store().document(&left_key(id))? {
        None => Ok(Vec::new()),
        Some(value) => serde_json::from_value(value).map_err(|e| {
            Error::precondition(
                "bundle",
                format!("the record of the bundles of {id} that left does not decode: {e}"),
            )
        }),
    }
}

/// Records, durably and audited (`bundle_left`, by `who`, or the node's own work for the
/// folder link), that the push bundle `file` of this node's own version `plan` left the node
/// `via` as said, before the bytes leave. Nothing is written when that same record is held.
///
/// # Errors
///
/// [`Error::Precondition`] if the version no longer holds that content as submitted (it was
/// withdrawn meanwhile: the bundle must not leave); [`Error::Store`] if storage fails.
pub async fn record_left(
    node: &Node,
    who: Option<&Caller>,
    plan: &Plan,
    file: &str,
    via: Via,
) -> Result<()> {
    let hash = plan.hash.clone().unwrap_or_default();
    let guard = node.lock().await;
    let held = node.store().header(&plan.id)?;
    let still = held.as_ref().is_some_and(|h| {
        h.hash.as_deref() == Some(hash.as_str())
            && !matches!(h.status, PlanStatus::Draft | PlanStatus::Adopted)
    });
    if !still {
        return Err(Error::precondition(
            "version",
            format!(
                "{} no longer holds the content {hash} as submitted (withdrawn meanwhile?); \
                 its bundle was not written",
                plan.id
            ),
        ));
    }
    let mut records = left(node, &plan.id)?;
    if records
        .iter()
        .any(|r| r.file == file && r.hash == hash && r.via == via)
    {
        return Ok(());
    }
    let record = Left {
        file: file.into(),
        hash,
        at: node.now(),
        via,
    };
    let detail = match &record.via {
        Via::Export => format!("{file} answered to bundle export"),
        Via::Folder { dir } => format!("{file} written into {}", dir.display()),
    };
    records.push(record);
    let value = serde_json::to_value(&records)
        .map_err(|e| Error::precondition("bundle", format!("cannot be recorded: {e}")))?;
    let mut event = Event::new("bundle_left", Some(&plan.id)).detail(detail);
    if let Some(who) = who {
        event = event.by(who);
    }
    node.commit(
        guard,
        event,
        vec![Change::SetDocument(left_key(&plan.id), value)],
    )
    .await
}

/// Removes `path` and makes the removal durable (the folder flushed), as a withdrawal does
/// with its own bundle still waiting in a folder link's `up/`; a file already gone is fine.
///
/// # Errors
///
/// The file system's error.
pub fn remove_durably(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A bundle file written by a node.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The whole file, magic included.
    pub bytes: Vec<u8>,
    /// Its name (`Bundle::file_name`).
    pub file_name: String,
}

/// What applying a bundle did.
#[derive(Debug, Clone)]
pub struct Imported {
    /// In words, for the clerk.
    pub outcome: String,
    /// For a push: the signed receipt bundle to carry back.
    pub receipt: Option<Exported>,
    /// True when nothing changed: the bundle had been applied before.
    pub duplicate: bool,
}

fn seal(node: &Node, bundle: &Bundle) -> Result<Exported> {
    let bytes = bundle
        .write(node.signer()?)
        .map_err(|e| Error::precondition("bundle", e))?;
    Ok(Exported {
        bytes,
        file_name: bundle.file_name(),
    })
}

/// The signatures a pushed plan travels with, over either link: this node's submission of its
/// own plan, or its decision on a lower plan (kept when made; signed now if it was made before
/// the node had a key), and for a lower plan the submission of its own node, forwarded when it
/// is kept here (it is kept from the push that brought the plan).
///
/// # Errors
///
/// [`Error::Precondition`] if the node has no key or the plan cannot be signed;
/// [`Error::Store`] if storage fails.
pub async fn push_signatures(node: &Node, plan: &Plan) -> Result<PushSignatures> {
    let signature = push_signature(node, plan).await?;
    let forwarded = if plan.id.unit == node.unit().code {
        Vec::new()
    } else {
        node.kept_signature(Kind::Submitted, &plan.id, PlanStatus::Submitted)?
            .filter(|s| {
                s.statement.by == plan.id.unit
                    && plan.hash.as_deref() == Some(s.statement.hash.as_str())
            })
            .into_iter()
            .collect()
    };
    Ok(PushSignatures {
        signature,
        forwarded,
    })
}

async fn push_signature(node: &Node, plan: &Plan) -> Result<PlanSignature> {
    if plan.id.unit == node.unit().code {
        return node.signed(Statement::submitted(plan, node.now())).await;
    }
    let decision = plan.decision.as_ref().ok_or_else(|| {
        Error::precondition("plan", format!("{} goes up without its decision", plan.id))
    })?;
    if decision.decided_by == node.unit().code {
        return node.signed(Statement::decision(decision)).await;
    }
    node.kept_signature(
        Kind::Decision,
        &plan.id,
        Statement::decision(decision).status,
    )?
    .ok_or_else(|| {
        Error::precondition(
            "plan",
            format!(
                "no signature of {} is kept for its decision on {}",
                decision.decided_by, plan.id
            ),
        )
    })
}

/// The push bundle of `plan` (as `Node::outgoing` makes it) for this node's parent.
///
/// # Errors
///
/// [`Error::Precondition`] if the node has no key or no parent, or the plan cannot be signed;
/// [`Error::Store`] if storage fails.
pub async fn push_bundle(node: &Node, plan: &Plan) -> Result<Exported> {
    let parent = node
        .parent_unit()
        .ok_or_else(|| Error::precondition("unit", "this node has no parent to push to"))?;
    let signed = push_signatures(node, plan).await?;
    let audit_head = node
        .store()
        .audit_head()?
        .map(|(seq, digest)| format!("{seq}:{digest}"))
        .unwrap_or_default();
    seal_to(
        node,
        parent.code.clone(),
        Content::Push {
            plan: plan.clone(),
            audit_head,
            signed,
        },
    )
}

/// The bundle of a fulfilment going up to this node's parent, sealed by this node.
///
/// # Errors
///
/// [`Error::Precondition`] if the node has no key or no parent.
pub fn fulfilment_bundle(node: &Node, fulfilment: &crate::domain::Fulfilment) -> Result<Exported> {
    let parent = node
        .parent_unit()
        .ok_or_else(|| Error::precondition("unit", "this node has no parent to push to"))?;
    seal_to(
        node,
        parent.code.clone(),
        Content::Fulfilment {
            fulfilment: fulfilment.clone(),
            signature: node.fulfilment_signature(fulfilment)?.ok_or_else(|| {
                Error::precondition("node", "a node without a key cannot write a bundle")
            })?,
        },
    )
}

/// Returns true if and only if `a` and `b` are about the same entry (unit, term, person,
/// planned position).
pub fn same_entry(a: &crate::domain::Fulfilment, b: &crate::domain::Fulfilment) -> bool {
    a.plan.unit == b.plan.unit
        && a.plan.term == b.plan.term
        && a.national_id == b.national_id
        && a.position == b.position
}

/// A bundle of `content` from this node to the unit `to_unit`, written now, with the
/// classification mark this node's bundles carry: every bundle a node writes is one.
fn addressed(node: &Node, to_unit: String, content: Content) -> Bundle {
    Bundle {
        from_unit: node.unit().code.clone(),
        to_unit,
        created_at: node.now(),
        classification: classification(node),
        content,
    }
}

/// [`addressed`], sealed by this node.
///
/// # Errors
///
/// [`Error::Precondition`] if the node has no key or the bundle cannot be written.
fn seal_to(node: &Node, to_unit: String, content: Content) -> Result<Exported> {
    seal(node, &addressed(node, to_unit, content))
}

/// The classification mark this node's bundles carry (empty: none).
fn classification(node: &Node) -> String {
    node.classification()
        .map(|c| c.as_str().to_string())
        .unwrap_or_default()
}

/// Takes a push from the child `from` (its node is `who`) over either link: the node's receive
/// path with the signatures the push carries (checked and kept with the plan, see
/// `Node::receive_signed_push`), then this node's signed receipt (the one kept, for a push
/// taken before). Returns the receipt, whether the push was held already, and the receipt's
/// signature (none on a node without a key).
///
/// # Errors
///
/// Whatever the receive path refuses; [`Error::Store`] if storage fails.
pub async fn receive(
    node: &Node,
    who: &Caller,
    from: &str,
    plan: Plan,
    child_head: Option<&str>,
    signed: Option<PushSignatures>,
) -> Result<(Receipt, bool, Option<PlanSignature>)> {
    let status = plan.status;
    let (receipt, duplicate) = node
        .receive_signed_push(who, from, plan, child_head, signed)
        .await?;
    if !duplicate {
        crate::fault::crash_point(crate::fault::AFTER_RECEIVE);
    }
    let signature = match node.signer() {
        Ok(_) => Some(node.signed(Statement::receipt(&receipt, status)).await?),
        Err(_) => None,
    };
    Ok((receipt, duplicate, signature))
}

/// The child's side of a receipt, over either link: the parent's signature on `receipt` for a
/// version pushed as `status` must be there (on a node with a key), say exactly that, by the
/// node of this node's parent, and verify with the authority; it is then kept. A node without a
/// key checks and keeps nothing.
///
/// # Errors
///
/// [`Error::Invalid`] on `receipt.signature` naming what does not hold; [`Error::Store`] if
/// storage fails.
pub async fn take_receipt(
    node: &Node,
    receipt: &Receipt,
    status: PlanStatus,
    signature: Option<PlanSignature>,
) -> Result<()> {
    let Ok(trust) = node.trust() else {
        return Ok(());
    };
    let field = "receipt.signature";
    let signature = signature.ok_or_else(|| {
        Error::invalid(
            field,
            format!("the parent's receipt for {} is unsigned", receipt.plan),
        )
    })?;
    let expected = Statement::receipt(receipt, status);
    if signature.statement != expected {
        return Err(Error::invalid(
            field,
            format!(
                "vouches for {}, but the receipt says {}",
                signature.statement.describe(),
                expected.describe()
            ),
        ));
    }
    let parent = node
        .parent_unit()
        .map(|u| u.code.clone())
        .unwrap_or_default();
    if receipt.received_by != parent {
        return Err(Error::invalid(
            field,
            format!(
                "the receipt is by {}, not by this node's parent {parent}",
                crate::domain::validate::short(&receipt.received_by)
            ),
        ));
    }
    trust
        .verify(&signature)
        .map_err(|e| Error::invalid(field, e))?;
    node.keep_signature(signature).await
}

/// This node's signature on each of `decisions` it took (as it sends them down, over either
/// link), in their order; a decision another node took (a merged province's, logged here by the
/// merge) gets none. None at all on a node without a key.
///
/// # Errors
///
/// [`Error::Store`] if storage fails.
pub async fn decision_signatures(
    node: &Node,
    decisions: &[(u64, Decision)],
) -> Result<Vec<PlanSignature>> {
    if node.signer().is_err() {
        return Ok(Vec::new());
    }
    let mut signatures = Vec::with_capacity(decisions.len());
    for (_, d) in decisions {
        if let Some(s) = decision_signature(node, d).await? {
            signatures.push(s);
        }
    }
    Ok(signatures)
}

/// This node's signature on one decision it took (the kept one if it signed it before), as
/// every link sends it down: a pull, a decisions bundle and a reconciliation (`node::reconcile`).
/// `None` for a decision another node took, or on a node without a key.
///
/// # Errors
///
/// [`Error::Store`] if storage fails.
pub async fn decision_signature(node: &Node, d: &Decision) -> Result<Option<PlanSignature>> {
    if node.signer().is_err() || d.decided_by != node.unit().code {
        return Ok(None);
    }
    Ok(Some(node.signed(Statement::decision(d)).await?))
}

/// The one check of a parent's decision coming down, over every link (a pull, a decisions
/// bundle, a reconciliation): among `signatures` the one whose statement is exactly `d`
/// (unit, term, version, status, content hash, date, deciding unit, reasons), and it verifies
/// with `trust`: its certificate chains to the authority, is valid now and unrevoked, and is
/// the node certificate of the deciding unit (`Trust::verify`). `which` names the decision in
/// the error ("decision 3").
///
/// # Errors
///
/// [`Error::Invalid`] on `field`: the decision comes unsigned, or its signature does not verify.
pub fn verified_decision(
    trust: &crate::bundle::sign::Trust,
    field: &str,
    which: &str,
    d: &Decision,
    signatures: &[PlanSignature],
) -> Result<PlanSignature> {
    let expected = Statement::decision(d);
    let Some(s) = signatures.iter().find(|s| s.statement == expected) else {
        return Err(Error::invalid(
            field,
            format!(
                "{which} ({}) comes down unsigned: every decision of {} comes with its node's signature",
                expected.describe(),
                d.decided_by
            ),
        ));
    };
    trust
        .verify(s)
        .map_err(|e| Error::invalid(field, format!("{which}: {e}")))?;
    Ok(s.clone())
}

/// The child's side of decisions coming down, over either link: on a node with a key, every
/// decision its parent took on this node's own plans (those `Node::apply_decisions` applies)
/// must come with the parent node's signature on exactly that decision, verifying with the
/// authority (a signature is found by what it vouches for), and is kept. A decision that is
/// not applied (another node's, or on another unit's plan) needs none. A node without a key checks and keeps
/// nothing.
///
/// # Errors
///
/// [`Error::Invalid`] on `signatures` naming the decision left unsigned or the signature that
/// does not verify; [`Error::Store`] if storage fails.
pub async fn take_decisions(
    node: &Node,
    decisions: &[(u64, Decision)],
    signatures: Vec<PlanSignature>,
) -> Result<()> {
    let Ok(trust) = node.trust() else {
        return Ok(());
    };
    let parent = node
        .parent_unit()
        .map(|u| u.code.clone())
        .unwrap_or_default();
    let mut keep = Vec::new();
    let own = &node.unit().code;
    for (seq, d) in decisions
        .iter()
        .filter(|(_, d)| d.decided_by == parent && &d.plan.unit == own)
    {
        keep.push(verified_decision(
            trust,
            "signatures",
            &format!("decision {seq}"),
            d,
            &signatures,
        )?);
    }
    for s in keep {
        node.keep_signature(s).await?;
    }
    Ok(())
}

/// Which way an exported bundle is to travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// What this node would push up for the plan if it has any, else its decisions on it.
    Any,
    /// Only the decisions this node took on a child's plan, to carry down to the child: a
    /// district that approved a commune's plan also holds the approval's push for its own
    /// parent, and this asks for the other one.
    Down,
}

/// A bundle of what this node holds for `unit`'s plan of `term` (`version` 0: the latest):
///
/// - an item waiting in the outbox for that version: its push, as the link would send it;
/// - this node's own plan, submitted before: its push as submitted (carried again), or, once
///   its parent decided it, its record with every signature kept on it;
/// - a child's plan: every decision this node logged for that child, each signed, so that the
///   child applies them in order (its cursor skips those it has).
///
/// With [`Direction::Down`] only the last: the decisions for the child.
///
/// # Errors
///
/// [`Error::Denied`] unless `who` is a clerk of this node's unit (the person who carries the
/// files); [`Error::NotFound`] if nothing of that plan is held or decided here; [`Error::Precondition`]
/// if the version is not submitted yet or the node has no key; [`Error::Store`] if storage
/// fails.
pub async fn export(
    node: &Node,
    who: &Caller,
    unit: &str,
    term: &str,
    version: u32,
    direction: Direction,
) -> Result<Exported> {
    who.require_clerk_of(&node.unit().code)?;
    if direction == Direction::Down && !node.approves(unit) {
        return Err(Error::invalid(
            "decisions",
            format!(
                "node {} does not decide the plans of {unit}: it has no decisions to carry down to it",
                node.unit().code
            ),
        ));
    }
    let wanted =
        |id: &PlanId| id.unit == unit && id.term == term && (version == 0 || id.version == version);
    let queued = node
        .store()
        .outbox()?
        .into_iter()
        .filter(|(_, item)| wanted(&item.plan))
        .max_by_key(|(_, item)| item.plan.version);
    if let Some((_, item)) = queued.filter(|_| direction == Direction::Any) {
        let plan = node.outgoing(&item)?;
        let exported = push_bundle(node, &plan).await?;
        if plan.id.unit == node.unit().code {
            record_left(node, Some(who), &plan, &exported.file_name, Via::Export).await?;
        }
        return Ok(exported);
    }
    if unit == node.unit().code {
        let version = match version {
            0 => node.store().latest_version(unit, term)?.ok_or_else(|| {
                Error::not_found("unit", format!("no plan of {unit} for {term} here"))
            })?,
            v => v,
        };
        let id = PlanId {
            unit: unit.into(),
            term: term.into(),
            version,
        };
        let header = node
            .store()
            .header(&id)?
            .ok_or_else(|| Error::not_found("version", format!("no plan version {id} here")))?;
        if matches!(header.status, PlanStatus::Draft | PlanStatus::Adopted) {
            return Err(Error::precondition(
                "version",
                format!(
                    "{id} is {}: only a submitted version travels",
                    header.status.as_str()
                ),
            ));
        }
        // A version the parent decided has nothing left to carry up: its record, with the
        // parent's receipt and decision signatures kept on it (however the decision came:
        // pulled, carried or restored by reconciliation), proves who decided.
        if header
            .decision
            .as_ref()
            .is_some_and(|d| d.decided_by != node.unit().code)
        {
            if let Some(plan) = node.store().plan(&id)? {
                return record(node, plan);
            }
        }
        let plan = node.outgoing(&OutboxItem {
            plan: id,
            queued_at: node.now(),
            approval: None,
        })?;
        let exported = push_bundle(node, &plan).await?;
        record_left(node, Some(who), &plan, &exported.file_name, Via::Export).await?;
        return Ok(exported);
    }
    if node.approves(unit) {
        let decisions = node.decisions_for(unit, 0).await?;
        if !decisions
            .iter()
            .any(|(_, d)| d.plan.term == term && (version == 0 || d.plan.version == version))
        {
            return Err(Error::not_found(
                "version",
                format!("no decision on {unit}'s plan of {term} here"),
            ));
        }
        node.signer()?;
        let signatures = decision_signatures(node, &decisions).await?;
        if signatures.len() != decisions.len() {
            return Err(Error::precondition(
                "unit",
                format!("some decisions on {unit}'s plans were taken by another node; a decisions bundle carries only this node's"),
            ));
        }
        return seal_to(
            node,
            unit.into(),
            Content::Decisions {
                decisions,
                signatures,
            },
        );
    }
    // A lower plan held here (it came up through a child): its record, with every signature
    // kept on it, for anyone to verify with the authority alone.
    let version = match version {
        0 => node.store().latest_version(unit, term)?,
        v => Some(v),
    };
    if let Some(version) = version {
        let id = PlanId {
            unit: unit.into(),
            term: term.into(),
            version,
        };
        if let Some(plan) = node.store().plan(&id)? {
            return record(node, plan);
        }
    }
    Err(Error::not_found(
        "unit",
        format!(
            "node {} neither keeps nor decides the plans of {unit}",
            node.unit().code
        ),
    ))
}

/// A record bundle of `plan` as held here, with every signature kept on it, sealed by this
/// node: for `bundle verify`, never imported.
///
/// # Errors
///
/// [`Error::Precondition`] if the node has no key; [`Error::Store`] if storage fails.
fn record(node: &Node, plan: Plan) -> Result<Exported> {
    node.signer()?;
    seal_to(
        node,
        node.unit().code.clone(),
        Content::Record {
            signatures: node.signatures_of(&plan.id)?,
            plan,
        },
    )
}

/// Reads and verifies a bundle for this node: its size, format, seal and every signature
/// against the node's authority, and that it is addressed to this node.
///
/// # Errors
///
/// [`Error::Invalid`] naming what is malformed or does not verify; [`Error::Denied`] if it is
/// for another node; [`Error::Precondition`] if this node has no key (and so no authority).
pub fn open(node: &Node, bytes: &[u8]) -> Result<(format::Sealed, format::Verified)> {
    let sealed = format::read(bytes)?;
    let verified = sealed.verify(node.trust()?)?;
    let to = &sealed.bundle.to_unit;
    if to != &node.unit().code {
        return Err(Error::denied(
            "bundle.to_unit",
            format!(
                "the bundle is for {}, not for this node ({})",
                crate::domain::validate::short(to),
                node.unit().code
            ),
        ));
    }
    Ok((sealed, verified))
}

/// Applies a bundle as the link would (see the module's documentation). A push is taken by
/// `Node::receive_push` with the bundle's signer as the caller: the same checks of origin,
/// content, hash and version order as a push over gRPC, the same idempotence (the same push
/// again answers the receipt kept, with the signature kept), and another content under a held
/// version is a conflict, recorded and refused.
///
/// # Errors
///
/// [`Error::Denied`] unless `carrier` is a clerk of this node's unit; as [`open`]; then
/// whatever the receive path, the outbox or the decisions refuse.
pub async fn import(node: &Node, carrier: &Caller, bytes: &[u8]) -> Result<Imported> {
    carrier.require_clerk_of(&node.unit().code)?;
    let (sealed, verified) = open(node, bytes)?;
    let who = verified.sealed_by;
    let bundle = sealed.bundle;
    let from = bundle.from_unit.clone();
    match bundle.content {
        Content::Push {
            plan,
            audit_head,
            signed,
        } => {
            let status = plan.status;
            let id = plan.id.clone();
            // A unit's own version older than the newest held here is a replay: the version
            // after it could only have been submitted once this one's receipt was back.
            if id.unit == from {
                if let Some(newest) = node.store().latest_version(&id.unit, &id.term)? {
                    if newest > id.version {
                        return Err(Error::precondition(
                            "bundle.push.plan.id.version",
                            format!(
                                "{id} is a replay: version {newest} of {} is already held here; nothing was changed",
                                id.unit
                            ),
                        ));
                    }
                }
            }
            let head = crate::audit::parse_head(&audit_head)
                .ok()
                .map(|(seq, digest)| format!("{seq}:{digest}"));
            // The bundle's signer, the child's node, is the caller: the receive path holds it
            // to the rules a push over gRPC is held to, and keeps the signatures with the plan.
            let (receipt, duplicate, receipt_signature) =
                receive(node, &who, &from, plan, head.as_deref(), Some(signed)).await?;
            let receipt_signature = receipt_signature.ok_or_else(|| {
                Error::precondition("node", "a node without a key cannot sign a receipt")
            })?;
            let back = Bundle {
                created_at: receipt.received_at,
                ..addressed(
                    node,
                    from.clone(),
                    Content::Receipt {
                        receipt: receipt.clone(),
                        signature: receipt_signature,
                    },
                )
            };
            let outcome = if duplicate {
                format!(
                    "{id} from {from} was already held (received {}): nothing changed; the same receipt again",
                    receipt.received_at.to_rfc3339()
                )
            } else {
                format!("{id} from {from} received as {}", status.as_str())
            };
            Ok(Imported {
                outcome,
                receipt: Some(seal(node, &back)?),
                duplicate,
            })
        }
        Content::Receipt { receipt, signature } => {
            from_parent(node, &from)?;
            let status = signature.statement.status;
            let id = receipt.plan.clone();
            let mut waiting = None;
            for (seq, item) in node.store().outbox()? {
                if item.plan != id {
                    continue;
                }
                let plan = node.outgoing(&item)?;
                if plan.hash.as_deref() == Some(receipt.hash.as_str()) && plan.status == status {
                    waiting = Some(seq);
                    break;
                }
            }
            take_receipt(node, &receipt, status, Some(signature)).await?;
            match waiting {
                Some(seq) => {
                    node.delivered(seq, receipt).await?;
                    Ok(Imported {
                        outcome: format!(
                            "{id} ({}) delivered: its receipt from {from} closes the outbox item",
                            status.as_str()
                        ),
                        receipt: None,
                        duplicate: false,
                    })
                }
                None if node
                    .store()
                    .receipt(&id)?
                    .is_some_and(|held| held.hash == receipt.hash) =>
                {
                    Ok(Imported {
                        outcome: format!("{id}: this receipt was taken before; nothing changed"),
                        receipt: None,
                        duplicate: true,
                    })
                }
                None => Err(Error::precondition(
                    "bundle.receipt",
                    format!(
                        "no item waits in the outbox for {id} ({}) with hash {}",
                        status.as_str(),
                        receipt.hash
                    ),
                )),
            }
        }
        Content::Decisions {
            decisions,
            signatures,
        } => {
            from_parent(node, &from)?;
            let cursor = node.decision_cursor()?;
            let decisions_seqs: Vec<u64> = decisions.iter().map(|(s, _)| *s).collect();
            let fresh: Vec<_> = decisions.into_iter().filter(|(s, _)| *s > cursor).collect();
            if fresh.is_empty() {
                return Ok(Imported {
                    outcome: format!("no decision after {cursor}: nothing changed"),
                    receipt: None,
                    duplicate: true,
                });
            }
            let fresh_signatures = signatures
                .into_iter()
                .zip(&decisions_seqs)
                .filter(|(_, seq)| **seq > cursor)
                .map(|(s, _)| s)
                .collect();
            take_decisions(node, &fresh, fresh_signatures).await?;
            let applied = node.apply_decisions(fresh).await?;
            Ok(Imported {
                outcome: format!("{applied} decision(s) of {from} applied"),
                receipt: None,
                duplicate: applied == 0,
            })
        }
        Content::Fulfilment {
            fulfilment,
            signature,
        } => {
            // The bundle's signer, the child's node, is the caller: checked exactly as a
            // fulfilment handed up over gRPC, its signature too.
            let taken = node
                .receive_fulfilment(&who, &from, fulfilment, Some(signature))
                .await?;
            let back = addressed(
                node,
                from.clone(),
                Content::FulfilmentAnswer {
                    held: taken.held.clone(),
                    duplicate: taken.duplicate,
                    conflict: taken.conflict,
                },
            );
            let outcome = if taken.conflict {
                format!(
                    "fulfilment of {} from {from}: this node holds another decision ({} of {}) and keeps it; the conflict is recorded",
                    taken.held.plan, taken.held.decision_number, taken.held.decided_on
                )
            } else if taken.duplicate {
                format!(
                    "fulfilment of {} from {from} was already held: nothing changed",
                    taken.held.plan
                )
            } else {
                format!(
                    "fulfilment of {} from {from} received: decision {} of {}",
                    taken.held.plan, taken.held.decision_number, taken.held.decided_on
                )
            };
            Ok(Imported {
                outcome,
                receipt: Some(seal(node, &back)?),
                duplicate: taken.duplicate,
            })
        }
        Content::FulfilmentAnswer {
            held,
            duplicate,
            conflict,
        } => {
            from_parent(node, &from)?;
            let waiting = node
                .queued_fulfilments()?
                .into_iter()
                .find(|(_, f)| same_entry(f, &held));
            let Some((key, sent)) = waiting else {
                return Ok(Imported {
                    outcome: format!(
                        "no fulfilment of that entry of {} waits to go up: nothing changed",
                        held.plan
                    ),
                    receipt: None,
                    duplicate: true,
                });
            };
            let taken = super::FulfilmentTaken {
                held,
                duplicate,
                conflict,
            };
            node.fulfilment_delivered(&key, &sent, &taken).await?;
            Ok(Imported {
                outcome: format!(
                    "fulfilment of {} delivered: the answer from {from} closes it",
                    sent.plan
                ),
                receipt: None,
                duplicate: false,
            })
        }
        Content::Record { plan, .. } => Err(Error::precondition(
            "bundle.content",
            format!(
                "a record of {} is for `quyhoach bundle verify`; it is not imported",
                plan.id
            ),
        )),
        Content::Reference { version, document } => {
            let held = node.reference().version;
            let reference = reference_carried(node, &from, version, &document)?;
            if node.receive_reference(reference).await? {
                Ok(Imported {
                    outcome: format!(
                        "reference data version {version} of {from} taken (version {held} was held)"
                    ),
                    receipt: None,
                    duplicate: false,
                })
            } else {
                Ok(Imported {
                    outcome: format!(
                        "reference data version {version} of {from} is not newer than the version {held} held: nothing changed"
                    ),
                    receipt: None,
                    duplicate: true,
                })
            }
        }
    }
}

/// The reference data a verified reference bundle from `from` carries, read as a gRPC
/// `GetReference` answer is ([`super::Reference::from_document`]), for
/// [`Node::receive_reference`] to check and take, as it takes that answer: the bundle must
/// come from this node's parent, and its document say the version the bundle names.
///
/// # Errors
///
/// [`Error::Denied`] if `from` is not this node's parent; [`Error::Invalid`] if the document
/// does not decode or says another version.
pub fn reference_carried(
    node: &Node,
    from: &str,
    version: u64,
    document: &str,
) -> Result<super::Reference> {
    from_parent(node, from)?;
    let reference = super::Reference::from_document(document)?;
    if reference.version != version {
        return Err(Error::invalid(
            "bundle.reference.version",
            format!(
                "the bundle says version {version}, its document {}",
                reference.version
            ),
        ));
    }
    Ok(reference)
}

/// A bundle of this node's reference data (all of it, whatever the child holds: it applies
/// only a newer version) for the child `child`, to carry down to a child linked by a folder
/// (`bundle export --reference --unit CHILD`); sealed by this node, its only signature.
///
/// # Errors
///
/// [`Error::Denied`] unless `who` is a clerk of this node's unit; [`Error::NotFound`] for an
/// unknown unit; [`Error::Invalid`] naming `unit` if this node does not approve `child` (it is
/// not its parent); [`Error::Precondition`] if the node has no key.
pub fn export_reference(node: &Node, who: &Caller, child: &str) -> Result<Exported> {
    who.require_clerk_of(&node.unit().code)?;
    node.known_unit("unit", child)?;
    if !node.approves(child) {
        return Err(Error::invalid(
            "unit",
            format!(
                "{child} is not a child of {}: its reference data comes from its own parent",
                node.unit().code
            ),
        ));
    }
    let reference = node.reference();
    let document = serde_json::to_string(reference.as_ref())
        .map_err(|e| Error::precondition("reference", format!("does not encode: {e}")))?;
    seal_to(
        node,
        child.to_string(),
        Content::Reference {
            version: reference.version,
            document,
        },
    )
}

/// Requires a bundle to come from this node's parent.
fn from_parent(node: &Node, from: &str) -> Result<()> {
    match node.parent_unit() {
        Some(p) if p.code == from => Ok(()),
        _ => Err(Error::denied(
            "bundle.from_unit",
            format!(
                "the bundle comes from {}, which is not this node's parent",
                crate::domain::validate::short(from)
            ),
        )),
    }
}
