//! Fulfilled entries: a planned cadre elected or appointed to the planned post or an
//! equivalent one. The entry of the approved version gets the outcome `fulfilled` (đã bố trí /
//! đã bầu) with the decision's number and date; the version itself (and its hash) does not
//! change. From the next review on (a later version of the same unit × term) the entry no longer
//! counts against the R2 cap. Recorded on the node that holds the approved version, by the
//! approver of that node's unit (the competent level) or the clerk of the plan's unit; kept in
//! the store's documents under `fulfil/`, read into memory at start.
//!
//! A fulfilment travels up like a withdrawal (docs/life-cycle.md, "Fulfilled entries"): in the
//! transaction that records it, a node with a parent also queues it (store documents under
//! `fulfil-out/`, in recording order); the upward link (`sync::step`) hands it to the parent
//! once the approval it rests on has left the outbox and before anything queued after that,
//! and removes it when the parent answered. Each level above checks it exactly like a local
//! write ([`Node::receive_fulfilment`]), keeps it and queues it on in one transaction.

use chrono::NaiveDate;

use super::{live::Recheck, Event, Node};
use crate::{
    auth::Caller,
    bundle::sign::{PlanSignature, Statement},
    domain::{
        parse_date,
        plan::{clean_text, validate_national_id},
        Fulfilment, FulfilmentKind, PlanId, PlanStatus,
    },
    error::{Error, Result},
    store::Change,
};

/// Where fulfilments are kept in the store's documents.
const FULFILMENTS: &str = "fulfil/";

/// Where the signatures of fulfilments handed up are kept: `<unit>/<term>/<CCCD>/<position>/`
/// then the sending unit.
const SIGNATURES: &str = "fulfil-signature/";

/// Where fulfilments waiting to be handed to the parent are kept.
const QUEUED: &str = "fulfil-out/";

/// The document key of the fulfilment of (unit, term, person, planned position): one per
/// entry of a unit × term, whatever version it was recorded on.
fn fulfilment_key(f: &Fulfilment) -> String {
    let (unit, term, national_id, position) =
        (&f.plan.unit, &f.plan.term, &f.national_id, &f.position);
    format!("{FULFILMENTS}{unit}/{term}/{national_id}/{position}")
}

/// The document key of a fulfilment queued for the parent: the time it was recorded or
/// received here (milliseconds, zero-padded, so that the keys sort in that order), then its
/// entry.
fn queued_key(at: chrono::DateTime<chrono::Utc>, f: &Fulfilment) -> String {
    format!(
        "{QUEUED}{:020}/{}/{}/{}/{}",
        at.timestamp_millis().max(0),
        f.plan.unit,
        f.plan.term,
        f.national_id,
        f.position
    )
}

/// Returns true if and only if `a` and `b` record the same decision on the same entry (who
/// recorded it, and when, may differ).
fn same_decision(a: &Fulfilment, b: &Fulfilment) -> bool {
    a.plan.unit == b.plan.unit
        && a.plan.term == b.plan.term
        && a.national_id == b.national_id
        && a.position == b.position
        && a.decision_number == b.decision_number
        && a.decided_on == b.decided_on
        && a.kind == b.kind
        && a.post == b.post
}

/// What the parent answered for a fulfilment handed up to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfilmentTaken {
    /// The record the parent holds now for that entry.
    pub held: Fulfilment,
    /// The parent held the same decision already: nothing changed there.
    pub duplicate: bool,
    /// The parent held the entry as fulfilled by another decision: it kept its own record and
    /// recorded the conflict.
    pub conflict: bool,
}

/// Every fulfilment the store holds (read once, at start).
pub(super) fn stored_fulfilments(
    store: &dyn crate::store::Store,
) -> crate::store::Result<Vec<Fulfilment>> {
    Ok(store
        .documents(FULFILMENTS)?
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_value(v).ok())
        .collect())
}

/// What a `fulfil` request asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfilRequest {
    /// The approved version whose entry is fulfilled; version 0: the latest approved one held.
    pub plan: PlanId,
    /// The person's national ID, 12 digits.
    pub national_id: String,
    /// The entry's planned position.
    pub position: String,
    /// Elected or appointed.
    pub kind: FulfilmentKind,
    /// The post taken: the planned one (empty) or an equivalent one (same kind and grade).
    pub post: String,
    /// The decision's number, e.g. `125/QĐ-UBND`.
    pub decision_number: String,
    /// The decision's date, `YYYY-MM-DD`, not after today.
    pub decided_on: String,
}

impl Node {
    /// Records that the entry (`national_id`, `position`) of an approved version was used:
    /// the person was elected or appointed by decision `decision_number` of `decided_on`.
    /// Answers the fulfilment (the one already held, if the same decision was recorded
    /// before). The live findings of the unit × term are re-checked (R2).
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is an approver of this node's unit or a clerk of the
    /// plan's unit, or if the plan's unit lies outside this node's subtree;
    /// [`Error::Invalid`] on `national_id` (not 12 digits), `decision_number` (empty or too
    /// long), `decided_on` (not a date, or after today), `post` (unknown, or neither the planned
    /// post nor one of the same kind and grade); [`Error::NotFound`] on `plan` when no such
    /// version (or no approved one, for version 0) is held, on `entry` when the version does
    /// not list the person for `position`; [`Error::Precondition`] on `plan` when the version
    /// is not approved, on `entry` when it was already fulfilled by another decision;
    /// [`Error::Store`] if storage fails.
    pub async fn fulfil(&self, who: &Caller, req: FulfilRequest) -> Result<Fulfilment> {
        self.subtree_unit("plan.unit", &req.plan.unit)?;
        self.known_term("plan.term", &req.plan.term)?;
        if who.require_approver_at(&self.unit.code).is_err() {
            who.require_clerk_of(&req.plan.unit)?;
        }
        let mut fulfilment = self.checked_fulfilment(req).await?;
        fulfilment.recorded_by = who.label();
        fulfilment.recorded_at = self.now();
        let key = fulfilment_key(&fulfilment);
        let guard = self.lock().await;
        if let Some(before) = self.held_fulfilment(&key)? {
            if same_decision(&before, &fulfilment) {
                return Ok(before);
            }
            return Err(Error::precondition(
                "entry",
                format!(
                    "this entry was already fulfilled ({}) by decision {} of {}",
                    before.kind.as_str(),
                    before.decision_number,
                    before.decided_on
                ),
            ));
        }
        let event = Event::new("fulfil", Some(&fulfilment.plan))
            .by(who)
            .detail(describe(&fulfilment));
        self.keep_fulfilment(guard, event, &key, &fulfilment, Vec::new())
            .await?;
        Ok(fulfilment)
    }

    /// Takes a fulfilment handed up by the child unit `from`: recorded at `from` or below it,
    /// on a plan of `from`'s subtree. It is checked exactly like a local write (the version is
    /// held here and approved, the entry exists, the post is the planned or an equivalent one,
    /// the decision's number and date are valid), kept, and queued on to this node's parent in
    /// the same transaction. The same decision again answers the record held (`duplicate`).
    /// An entry held here as fulfilled by another decision keeps that record: the conflict is
    /// recorded (the status report lists it) and answered (`conflict`), so that the child's
    /// link goes on (docs/life-cycle.md).
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is the node of `from`, `from` is a child of this node
    /// and the plan's unit lies within `from`'s subtree (a sibling never hands up another's
    /// fulfilment); [`Error::Invalid`] on `fulfilment.plan.version` (0), `recorded_by` (empty,
    /// too long), `recorded_at` (later than this node's clock), and as [`Node::fulfil`] on
    /// the rest; [`Error::NotFound`] on `plan` or `entry`, [`Error::Precondition`] on `plan`
    /// as [`Node::fulfil`]; [`Error::Store`] if storage fails. Nothing is written then.
    pub async fn receive_fulfilment(
        &self,
        who: &Caller,
        from: &str,
        offered: Fulfilment,
        signature: Option<PlanSignature>,
    ) -> Result<FulfilmentTaken> {
        self.require_child_node(who, from)?;
        self.known_unit("fulfilment.plan.unit", &offered.plan.unit)?;
        if !self.hierarchy.is_within(&offered.plan.unit, from) {
            return Err(Error::denied(
                "fulfilment.plan.unit",
                format!(
                    "{} is not within the subtree of {from}: a node hands up only the fulfilments of its own unit and the units below it",
                    offered.plan.unit
                ),
            ));
        }
        if offered.plan.version == 0 {
            return Err(Error::invalid(
                "fulfilment.plan.version",
                "a fulfilment handed up names its version; versions start at 1",
            ));
        }
        let recorded_by = clean_text("fulfilment.recorded_by", &offered.recorded_by)?;
        // A little leeway for the two clocks; a record from the future is refused.
        let now = self.now();
        if offered.recorded_at > now + chrono::Duration::minutes(10) {
            return Err(Error::invalid(
                "fulfilment.recorded_at",
                format!(
                    "{} is later than this node's clock ({})",
                    offered.recorded_at.to_rfc3339(),
                    now.to_rfc3339()
                ),
            ));
        }
        let request = FulfilRequest {
            plan: offered.plan.clone(),
            national_id: offered.national_id.clone(),
            position: offered.position.clone(),
            kind: offered.kind,
            post: offered.post.clone(),
            decision_number: offered.decision_number.clone(),
            decided_on: offered.decided_on.to_string(),
        };
        self.known_term("plan.term", &request.plan.term)?;
        let mut fulfilment = self.checked_fulfilment(request).await?;
        fulfilment.recorded_by = recorded_by;
        fulfilment.recorded_at = offered.recorded_at;
        let kept = self.checked_fulfilment_signature(from, &fulfilment, signature)?;
        let key = fulfilment_key(&fulfilment);
        let guard = self.lock().await;
        if let Some(held) = self.held_fulfilment(&key)? {
            drop(guard);
            if same_decision(&held, &fulfilment) {
                return Ok(FulfilmentTaken {
                    held,
                    duplicate: true,
                    conflict: false,
                });
            }
            tracing::warn!(plan = %fulfilment.plan, from, "a fulfilment by another decision than the one held");
            self.record_conflict(crate::domain::Conflict {
                plan: fulfilment.plan.clone(),
                held_hash: decision_words(&held),
                offered_hash: decision_words(&fulfilment),
                from: from.to_string(),
                to: self.unit.code.clone(),
                at: now,
            })
            .await?;
            return Ok(FulfilmentTaken {
                held,
                duplicate: false,
                conflict: true,
            });
        }
        let mut detail = format!("from {from}: {}", describe(&fulfilment));
        let mut also = Vec::new();
        if let Some(s) = kept {
            detail.push_str(&format!(
                "; keeps the signature: {}",
                s.statement.audit_line()
            ));
            also.push(Change::SetDocument(
                format!("{SIGNATURES}{}/{from}", &key[FULFILMENTS.len()..]),
                serde_json::to_value(&s).expect("signatures serialize"),
            ));
        }
        let event = Event::new("receive_fulfilment", Some(&fulfilment.plan))
            .by(who)
            .detail(detail);
        self.keep_fulfilment(guard, event, &key, &fulfilment, also)
            .await?;
        tracing::info!(plan = %fulfilment.plan, from, "fulfilment received");
        Ok(FulfilmentTaken {
            held: fulfilment,
            duplicate: false,
            conflict: false,
        })
    }

    /// The fulfilments waiting to be handed to the parent, in the order they were recorded or
    /// received here, each with its queue key for [`Node::fulfilment_delivered`].
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if storage fails or a queued fulfilment does not decode.
    pub fn queued_fulfilments(&self) -> Result<Vec<(String, Fulfilment)>> {
        self.store
            .documents(QUEUED)?
            .into_iter()
            .map(|(key, v)| {
                let f = serde_json::from_value(v).map_err(|e| {
                    Error::Store(crate::store::StoreError::Corrupt {
                        key: key.clone(),
                        reason: e.to_string(),
                    })
                })?;
                Ok((key, f))
            })
            .collect()
    }

    /// Removes the queued fulfilment `key` once the parent answered `taken` for `sent`; a
    /// conflict the parent reported is recorded here too.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if storage fails.
    pub async fn fulfilment_delivered(
        &self,
        key: &str,
        sent: &Fulfilment,
        taken: &FulfilmentTaken,
    ) -> Result<()> {
        let parent = self
            .parent_unit()
            .map(|u| u.code.clone())
            .unwrap_or_default();
        if taken.conflict {
            self.record_conflict(crate::domain::Conflict {
                plan: sent.plan.clone(),
                held_hash: decision_words(&taken.held),
                offered_hash: decision_words(sent),
                from: self.unit.code.clone(),
                to: parent.clone(),
                at: self.now(),
            })
            .await?;
        }
        let outcome = if taken.conflict {
            "conflict: it holds another decision"
        } else if taken.duplicate {
            "already held"
        } else {
            "taken"
        };
        let event = Event::new("fulfilment_delivered", Some(&sent.plan))
            .detail(format!("to {parent} ({outcome}): {}", describe(sent)));
        let guard = self.lock().await;
        self.commit(guard, event, vec![Change::DeleteDocument(key.to_string())])
            .await
    }

    /// Checks a fulfilment as every node checks it, recorded here or handed up: the entry's
    /// person and post, the decision, and the version it names (held here, approved, listing
    /// the entry). Answers it with the version's exact ID, the post and the decision number
    /// in their stored forms; `recorded_by` and `recorded_at` are left for the caller.
    async fn checked_fulfilment(&self, req: FulfilRequest) -> Result<Fulfilment> {
        let (plan, national_id, position, kind) =
            (req.plan, req.national_id, req.position, req.kind);
        validate_national_id("national_id", &national_id)?;
        let decision_number = clean_text("decision_number", &req.decision_number)?;
        let decided_on: NaiveDate = parse_date("decided_on", &req.decided_on)?;
        let today = self.today();
        if decided_on > today {
            return Err(Error::invalid(
                "decided_on",
                format!("{decided_on} is after today ({today}): record a decision once it is made"),
            ));
        }
        let catalog = self.catalog();
        let post = match req.post.trim() {
            "" => position.clone(),
            post => post.to_string(),
        };
        let planned = catalog.position(&position);
        match (catalog.position(&post), planned) {
            (None, _) => {
                return Err(Error::invalid(
                    "post",
                    format!(
                        "unknown position code {}",
                        crate::domain::validate::prefix(&post)
                    ),
                ))
            }
            (Some(p), Some(q)) if post == position || (p.kind == q.kind && p.grade == q.grade) => {}
            (Some(_), _) => {
                return Err(Error::invalid(
                    "post",
                    format!(
                        "{post} is neither the planned post {} nor an equivalent one (same kind and grade); a planned entry is fulfilled only by the post or an equivalent one",
                        crate::domain::validate::prefix(&position)
                    ),
                ))
            }
        }
        self.view_settled().await?;
        let held = self.fulfilled_version(&plan)?;
        if held.status != PlanStatus::Approved {
            return Err(Error::precondition(
                "plan",
                format!(
                    "{} is {}, not approved: only an entry of an approved plan is fulfilled",
                    held.id,
                    held.status.as_str()
                ),
            ));
        }
        if !held
            .entries
            .iter()
            .any(|e| e.cadre.national_id == national_id && e.position == position)
        {
            return Err(Error::not_found(
                "entry",
                format!(
                    "{} does not plan CCCD {} for {}",
                    held.id,
                    crate::domain::validate::mask_id(&national_id),
                    crate::domain::validate::prefix(&position)
                ),
            ));
        }
        Ok(Fulfilment {
            plan: held.id.clone(),
            national_id,
            position,
            kind,
            post,
            decision_number,
            decided_on,
            recorded_by: String::new(),
            recorded_at: self.now(),
        })
    }

    /// This node's signed statement on `fulfilment`, which it hands up (the version's content
    /// hash as held here, the digest of what it says); none on a node without a key.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the version is not held here; [`Error::Precondition`] if the
    /// key fails to sign; [`Error::Store`] if storage fails.
    pub fn fulfilment_signature(&self, fulfilment: &Fulfilment) -> Result<Option<PlanSignature>> {
        let Ok(signer) = self.signer() else {
            return Ok(None);
        };
        let hash = self
            .store
            .header(&fulfilment.plan)?
            .and_then(|h| h.hash)
            .ok_or_else(|| {
                Error::not_found("plan", format!("no plan version {} here", fulfilment.plan))
            })?;
        signer
            .sign(Statement::fulfilment(fulfilment, &hash, &self.unit.code))
            .map(Some)
            .map_err(|e| Error::precondition("signature", e))
    }

    /// The signature a fulfilment handed up by `from` carries, checked: a node with a key
    /// requires it, by the node of `from`, vouching for exactly this fulfilment of the version
    /// held here (its content hash); a node without one has no authority to check it against
    /// and keeps none.
    fn checked_fulfilment_signature(
        &self,
        from: &str,
        fulfilment: &Fulfilment,
        signature: Option<PlanSignature>,
    ) -> Result<Option<PlanSignature>> {
        let Ok(trust) = self.trust() else {
            return Ok(None);
        };
        let Some(signature) = signature else {
            return Err(Error::invalid(
                "signature",
                format!(
                    "the fulfilment of {} is unsigned: node {} takes only fulfilments signed by the child's node",
                    fulfilment.plan, self.unit.code
                ),
            ));
        };
        let hash = self
            .store
            .header(&fulfilment.plan)?
            .and_then(|h| h.hash)
            .unwrap_or_default();
        let expected = Statement::fulfilment(fulfilment, &hash, from);
        if signature.statement != expected {
            return Err(Error::invalid(
                "signature",
                format!(
                    "vouches for {} (digest {}), but the fulfilment carried is {} (digest {})",
                    signature.statement.describe(),
                    signature.statement.detail,
                    expected.describe(),
                    expected.detail
                ),
            ));
        }
        trust
            .verify(&signature)
            .map_err(|e| Error::invalid("signature", e))?;
        Ok(Some(signature))
    }

    /// The fulfilment held under `key`, if any.
    fn held_fulfilment(&self, key: &str) -> Result<Option<Fulfilment>> {
        Ok(self
            .store
            .document(key)?
            .and_then(|v| serde_json::from_value(v).ok()))
    }

    /// Keeps `fulfilment` under `key` and, on a node with a parent, queues it upward, in one
    /// transaction with `event`; then reads it into memory and re-checks the unit × term (R2).
    async fn keep_fulfilment(
        &self,
        guard: tokio::sync::MutexGuard<'_, ()>,
        event: Event,
        key: &str,
        fulfilment: &Fulfilment,
        also: Vec<Change>,
    ) -> Result<()> {
        let value = serde_json::to_value(fulfilment).expect("fulfilments serialize");
        let mut changes = vec![Change::SetDocument(key.to_string(), value.clone())];
        changes.extend(also);
        let forward = self.parent_unit().is_some();
        if forward {
            changes.push(Change::SetDocument(
                queued_key(self.now(), fulfilment),
                value,
            ));
        }
        self.commit(guard, event, changes).await?;
        self.fulfilled
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(fulfilment.clone());
        if forward {
            self.outbox_wake.notify_one();
        }
        if self.runs_checks() {
            if let Some(current) =
                self.current_version(&fulfilment.plan.unit, &fulfilment.plan.term)
            {
                self.queue_recheck(Recheck::Plan {
                    id: current,
                    also: Default::default(),
                    why: format!("fulfil {}", fulfilment.plan),
                });
            }
        }
        Ok(())
    }

    /// The fulfilments recorded here for the entries of `national_id` in units `who` may read.
    pub fn fulfilments_of(&self, who: &Caller, national_id: &str) -> Vec<Fulfilment> {
        self.fulfilled
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|f| f.national_id == national_id && who.may_read(&self.hierarchy, &f.plan.unit))
            .cloned()
            .collect()
    }

    /// The version a fulfilment names, from the view (version 0: the latest approved one).
    fn fulfilled_version(&self, id: &PlanId) -> Result<crate::domain::Plan> {
        if id.version == 0 {
            let view = self.view.read().unwrap_or_else(|e| e.into_inner());
            return view
                .plans()
                .iter()
                .filter(|p| {
                    p.id.unit == id.unit && p.id.term == id.term && p.status == PlanStatus::Approved
                })
                .max_by_key(|p| p.id.version)
                .cloned()
                .ok_or_else(|| {
                    Error::not_found(
                        "plan",
                        format!("no approved version of {}/{} here", id.unit, id.term),
                    )
                });
        }
        self.store
            .plan(id)?
            .ok_or_else(|| Error::not_found("plan", format!("no plan version {id} here")))
    }

    /// The current (highest) version of a unit × term in the view.
    fn current_version(&self, unit: &str, term: &str) -> Option<PlanId> {
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        view.plans()
            .iter()
            .filter(|p| p.id.unit == unit && p.id.term == term)
            .map(|p| p.id.clone())
            .max_by_key(|id| id.version)
    }
}

/// A fulfilment for an audit record: `appointed …0001 for D.PCT.UBND (D.PCT.UBND): decision
/// 125/QĐ-UBND of 2025-06-01`.
fn describe(f: &Fulfilment) -> String {
    format!(
        "{} {} for {} ({}): decision {} of {}",
        f.kind.as_str(),
        crate::domain::validate::mask_id(&f.national_id),
        f.position,
        f.post,
        f.decision_number,
        f.decided_on
    )
}

/// The decision of a fulfilment as a conflict names it: `fulfilment of …0001 for D.PCT.UBND by
/// decision 125/QĐ-UBND of 2025-06-01`.
fn decision_words(f: &Fulfilment) -> String {
    format!(
        "fulfilment of {} for {} by decision {} of {}",
        crate::domain::validate::mask_id(&f.national_id),
        f.position,
        f.decision_number,
        f.decided_on
    )
}
