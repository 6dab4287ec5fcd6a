//! The approving side and the flow between levels: taking pushes from children (idempotent,
//! in version order), deciding, forwarding approved plans upward, and applying the decisions
//! that come back down.

use super::{at_most, Event, Node};
use crate::{
    auth::Caller,
    bundle::{
        format::{check_push, PushSignatures},
        sign::PlanSignature,
    },
    domain::{Conflict, Decision, OutboxItem, Outcome, Plan, PlanId, PlanStatus, Receipt},
    error::{Error, Result},
    store::Change,
};

/// Most findings one return may cite: each becomes a reason, stored with the decision and sent
/// down to the unit, so a return cannot be made of thousands.
pub const MAX_CITATIONS: usize = 20;

/// Checks the findings a return cites, before any is looked up: at most [`MAX_CITATIONS`],
/// each a finding ID (short, letters, digits, `-`, `_`, `.`), none twice.
fn check_citations(cite: &[String]) -> Result<()> {
    at_most("cite_findings", cite.len(), MAX_CITATIONS, |n| {
        format!("at most {MAX_CITATIONS} findings, not {n}")
    })?;
    for (i, c) in cite.iter().enumerate() {
        let well_formed = !c.is_empty()
            && c.len() <= 64
            && c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
        if !well_formed {
            return Err(Error::invalid(
                &format!("cite_findings[{i}]"),
                "not a finding ID (as `quyhoach check` lists them)",
            ));
        }
        if cite[..i].contains(c) {
            return Err(Error::invalid(
                &format!("cite_findings[{i}]"),
                format!("{c} is cited twice"),
            ));
        }
    }
    Ok(())
}

impl Node {
    /// Takes a plan pushed by the child unit `from`: its own submitted plan (this node
    /// approves it) or a lower plan that the child approved, travelling upward.
    ///
    /// The same (unit, term, version) with the same hash again returns the first receipt and
    /// changes nothing; with another hash it is refused with both hashes named.
    ///
    /// `child_head` is the child's audit head (`<seq>:<digest>`) the push carried, kept in this
    /// node's record of it as a witness of the child's chain.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is the node of `from`, or if `from` may not push this
    /// plan; [`Error::Invalid`] if the plan is
    /// malformed or its hash or forwarded approval does not check out;
    /// [`Error::HashConflict`] if the version is held here with another hash (the conflict is
    /// recorded); [`Error::Precondition`] if the version is held without its receipt or comes
    /// out of order; [`Error::Store`] if storage fails.
    pub async fn receive_push(
        &self,
        who: &Caller,
        from: &str,
        plan: Plan,
        child_head: Option<&str>,
    ) -> Result<(Receipt, bool)> {
        self.receive_signed_push(who, from, plan, child_head, None)
            .await
    }

    /// [`Node::receive_push`] with the signatures the push carries (over gRPC or in a bundle:
    /// `node::bundles::receive` is the one caller of both links). A node with a key (started
    /// with a certificate) requires them and checks them with `bundle::format::check_push`
    /// after the plan's own checks and before anything is stored, and keeps them in the
    /// transaction that stores the plan; a node without one (`--insecure`) has no authority to
    /// check them against and keeps none.
    ///
    /// # Errors
    ///
    /// As [`Node::receive_push`]; [`Error::Invalid`] on `signature` when a node with a key
    /// gets an unsigned push ("the push is unsigned"), or on the signature that does not
    /// verify, naming why.
    pub async fn receive_signed_push(
        &self,
        who: &Caller,
        from: &str,
        plan: Plan,
        child_head: Option<&str>,
        signed: Option<PushSignatures>,
    ) -> Result<(Receipt, bool)> {
        who.require_node(from)?;
        let result = self.take_push(who, from, plan, child_head, signed).await;
        self.count_push(&result.as_ref().map(|(_, dup)| *dup).map_err(|_| ()));
        if let Err(Error::HashConflict {
            plan,
            held,
            offered,
        }) = &result
        {
            let conflict = Conflict {
                plan: plan.clone(),
                held_hash: held.clone(),
                offered_hash: offered.clone(),
                from: from.to_string(),
                to: self.unit.code.clone(),
                at: self.now(),
            };
            self.record_conflict(conflict).await?;
        }
        result
    }

    /// Keeps a conflict for the status report, once per (plan, offered hash).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if storage fails.
    pub async fn record_conflict(&self, conflict: Conflict) -> Result<()> {
        let guard = self.lock().await;
        let known = self.store.conflicts()?.iter().any(|c| {
            c.plan == conflict.plan
                && c.offered_hash == conflict.offered_hash
                && c.held_hash == conflict.held_hash
        });
        if known {
            return Ok(());
        }
        tracing::warn!(plan = %conflict.plan, from = %conflict.from, "conflicting push recorded");
        let event = Event::new("record_conflict", Some(&conflict.plan)).detail(format!(
            "held {} offered {} by {}",
            conflict.held_hash, conflict.offered_hash, conflict.from
        ));
        self.commit(guard, event, vec![Change::RecordConflict(conflict)])
            .await
    }

    async fn take_push(
        &self,
        who: &Caller,
        from: &str,
        mut plan: Plan,
        child_head: Option<&str>,
        signed: Option<PushSignatures>,
    ) -> Result<(Receipt, bool)> {
        self.check_push_origin(from, &plan.id)?;
        // What a child pushes passes the checks of a local write, before anything is stored.
        self.validated(Some(from), |c| c.plan("plan", &plan))?;
        let hash = plan.hash.clone().unwrap_or_default();
        if hash != plan.content_hash() {
            return Err(Error::invalid(
                "plan.hash",
                format!(
                    "{hash:?} is not the hash of the plan's content ({})",
                    plan.content_hash()
                ),
            ));
        }
        let signatures = self.checked_push_signatures(from, &plan, signed)?;
        let direct = plan.id.unit == from;
        if !direct && plan.status == PlanStatus::Returned {
            return self
                .take_withdrawal(who, from, plan, hash, signatures)
                .await;
        }
        let guard = self.lock().await;
        if let Some(existing) = self.store.header(&plan.id)? {
            let held = existing.hash.clone().unwrap_or_default();
            if held != hash {
                return Err(Error::HashConflict {
                    plan: plan.id.clone(),
                    held,
                    offered: hash,
                });
            }
            drop(guard);
            self.settle().await?;
            let receipt = self.store.receipt(&plan.id)?.ok_or_else(|| {
                Error::precondition("plan", format!("{} is held without its receipt", plan.id))
            })?;
            self.keep_signatures(signatures).await?;
            return Ok((receipt, true));
        }
        if direct && plan.status != PlanStatus::Submitted {
            return Err(Error::invalid(
                "plan.status",
                format!(
                    "a child submits its own plan as submitted, not {}",
                    plan.status.as_str()
                ),
            ));
        }
        if !direct {
            self.check_forwarded_approval(&plan, &hash)?;
        }
        self.check_version_order(&plan, direct)?;

        let received_at = self.now();
        plan.received_at = Some(received_at);
        plan.status = if direct {
            PlanStatus::Received
        } else {
            PlanStatus::Approved
        };
        let receipt = Receipt {
            plan: plan.id.clone(),
            hash,
            received_by: self.unit.code.clone(),
            received_at,
        };
        let mut changes = vec![
            Change::PutPlan(plan.clone()),
            Change::PutReceipt(receipt.clone()),
            Change::SetMeta(
                super::status::child_receipt_key(from),
                received_at.timestamp_millis() as u64,
            ),
        ];
        for s in &signatures {
            changes.push(super::signing::keeping(s)?);
        }
        if !direct && self.parent_unit().is_some() {
            changes.push(Change::Enqueue(OutboxItem {
                plan: plan.id.clone(),
                queued_at: received_at,
                approval: plan.decision.clone(),
            }));
        }
        let mut detail = match child_head.filter(|h| !h.is_empty()) {
            Some(head) => format!("from {from}, head {head}"),
            None => format!("from {from}"),
        };
        detail.push_str(&kept_signatures(&signatures));
        let event = Event::new("receive_push", Some(&plan.id))
            .detail(detail)
            .by(who);
        self.commit(guard, event, changes).await?;
        if direct {
            self.pending_changed(&plan.id.unit, 1.0);
        }
        if !direct {
            self.outbox_wake.notify_one();
        }
        tracing::info!(plan = %receipt.plan, from, "push received");
        Ok((receipt, false))
    }

    /// Takes a withdrawal travelling upward: a lower plan that its approving unit approved
    /// and then returned. The version held here as approved becomes returned, with the
    /// approver's return as its decision, and the withdrawal travels on to the parent in the
    /// same transaction. The same withdrawal again returns the first receipt. A withdrawal
    /// of a version never received here is stored as returned (it shows what the approver
    /// decided last; a withdrawal never overtakes its approval on the link, so this happens
    /// only to a node rebuilt from a backup).
    async fn take_withdrawal(
        &self,
        who: &Caller,
        from: &str,
        mut plan: Plan,
        hash: String,
        signatures: Vec<PlanSignature>,
    ) -> Result<(Receipt, bool)> {
        self.check_forwarded_withdrawal(&plan, &hash)?;
        let withdrawal = plan.decision.clone();
        let guard = self.lock().await;
        let held = self.store.header(&plan.id)?;
        if let Some(existing) = &held {
            let held_hash = existing.hash.clone().unwrap_or_default();
            if held_hash != hash {
                return Err(Error::HashConflict {
                    plan: plan.id.clone(),
                    held: held_hash,
                    offered: hash,
                });
            }
            match existing.status {
                PlanStatus::Approved => {}
                PlanStatus::Returned if existing.decision == withdrawal => {
                    drop(guard);
                    self.settle().await?;
                    let receipt = self.store.receipt(&plan.id)?.ok_or_else(|| {
                        Error::precondition(
                            "plan",
                            format!("{} is held without its receipt", plan.id),
                        )
                    })?;
                    self.keep_signatures(signatures).await?;
                    return Ok((receipt, true));
                }
                status => {
                    return Err(Error::precondition(
                        "plan.status",
                        format!(
                            "{} is {} here; only an approved version can be withdrawn",
                            plan.id,
                            status.as_str()
                        ),
                    ))
                }
            }
        }
        let received_at = self.now();
        let mut changes = Vec::new();
        match held {
            Some(mut header) => {
                header.status = PlanStatus::Returned;
                header.decision = withdrawal.clone();
                changes.push(Change::PutHeader(header));
            }
            None => {
                plan.received_at = Some(received_at);
                changes.push(Change::PutPlan(plan.clone()));
            }
        }
        let receipt = Receipt {
            plan: plan.id.clone(),
            hash,
            received_by: self.unit.code.clone(),
            received_at,
        };
        changes.push(Change::PutReceipt(receipt.clone()));
        changes.push(Change::SetMeta(
            super::status::child_receipt_key(from),
            received_at.timestamp_millis() as u64,
        ));
        for s in &signatures {
            changes.push(super::signing::keeping(s)?);
        }
        let forward = self.parent_unit().is_some();
        if forward {
            changes.push(Change::Enqueue(OutboxItem {
                plan: plan.id.clone(),
                queued_at: received_at,
                approval: withdrawal.clone(),
            }));
        }
        let (by, reasons) = withdrawal
            .as_ref()
            .map(|d| (d.decided_by.clone(), d.reasons.join("; ")))
            .unwrap_or_default();
        let mut detail = format!("from {from}: withdrawn by {by}: {reasons}");
        detail.push_str(&kept_signatures(&signatures));
        let event = Event::new("receive_withdrawal", Some(&plan.id))
            .detail(detail)
            .by(who);
        self.commit(guard, event, changes).await?;
        if forward {
            self.outbox_wake.notify_one();
        }
        tracing::info!(plan = %receipt.plan, from, "withdrawal received");
        Ok((receipt, false))
    }

    /// The signatures of a push, checked as `bundle::format::check_push` checks them (the
    /// same function a push bundle is verified with), to keep with the plan; none on a node
    /// without a key.
    fn checked_push_signatures(
        &self,
        from: &str,
        plan: &Plan,
        signed: Option<PushSignatures>,
    ) -> Result<Vec<PlanSignature>> {
        let Ok(trust) = self.trust() else {
            return Ok(Vec::new());
        };
        let Some(signed) = signed else {
            return Err(Error::invalid(
                "signature",
                format!(
                    "the push of {} is unsigned: node {} takes only pushes signed by the child's node (its submission, or its decision on a lower plan)",
                    plan.id, self.unit.code
                ),
            ));
        };
        check_push(trust, from, plan, &signed, "").map_err(Error::Invalid)?;
        Ok(std::iter::once(signed.signature)
            .chain(signed.forwarded)
            .collect())
    }

    /// Keeps signatures carried again by a push already held (each kept once).
    async fn keep_signatures(&self, signatures: Vec<PlanSignature>) -> Result<()> {
        for s in signatures {
            self.keep_signature(s).await?;
        }
        Ok(())
    }

    /// A forwarded withdrawal must carry a return of exactly this content by its approver.
    fn check_forwarded_withdrawal(&self, plan: &Plan, hash: &str) -> Result<()> {
        let approver = self
            .hierarchy
            .parent(&plan.id.unit)
            .map(|u| u.code.as_str());
        let good = plan.decision.as_ref().is_some_and(|d| {
            d.outcome == Outcome::Return
                && d.plan == plan.id
                && d.hash == hash
                && Some(d.decided_by.as_str()) == approver
                && !d.reasons.is_empty()
        });
        if !good {
            return Err(Error::invalid(
                "plan.decision",
                format!(
                    "a returned lower plan travels upward only with its return of {} with hash {hash} by its approving unit, with reasons",
                    plan.id
                ),
            ));
        }
        Ok(())
    }

    /// The caller must be a child of this node, and the plan must belong to its subtree.
    fn check_push_origin(&self, from: &str, id: &PlanId) -> Result<()> {
        self.known_unit("from_unit", from)?;
        self.known_unit("plan.id.unit", &id.unit)?;
        self.known_term("plan.id.term", &id.term)?;
        if !self.approves(from) {
            return Err(Error::denied(
                "from_unit",
                format!(
                    "{from} is not a child of {}; push to the node that approves it",
                    self.unit.code
                ),
            ));
        }
        if !self.hierarchy.is_within(&id.unit, from) {
            return Err(Error::denied(
                "plan.id.unit",
                format!("{} is not within the subtree of {from}", id.unit),
            ));
        }
        if id.version == 0 {
            return Err(Error::invalid("plan.id.version", "versions start at 1"));
        }
        Ok(())
    }

    /// A forwarded plan must carry an approval of exactly this content by its approver.
    fn check_forwarded_approval(&self, plan: &Plan, hash: &str) -> Result<()> {
        let Some(d) = &plan.decision else {
            return Err(Error::invalid(
                "plan.decision",
                "a lower unit's plan travels upward only with its approval",
            ));
        };
        let approver = self
            .hierarchy
            .parent(&plan.id.unit)
            .map(|u| u.code.as_str());
        if d.outcome != Outcome::Approve
            || d.plan != plan.id
            || d.hash != hash
            || Some(d.decided_by.as_str()) != approver
        {
            return Err(Error::invalid(
                "plan.decision",
                format!(
                    "the decision is not an approval of {} with hash {hash} by its approving unit",
                    plan.id
                ),
            ));
        }
        Ok(())
    }

    /// Versions apply strictly in order: a direct push must be the next version after one
    /// that was returned; a forwarded approval must be newer than what is held.
    fn check_version_order(&self, plan: &Plan, direct: bool) -> Result<()> {
        let latest = self.latest(&plan.id.unit, &plan.id.term)?;
        let v = plan.id.version;
        match (direct, latest) {
            (true, None) if v == 1 => Ok(()),
            // A version made before the reorganisation that made this node its unit's approver
            // (re-routed from an abolished district): the versions before it were decided by
            // the unit that approved it then, which this node never held.
            (true, None)
                if self.hierarchy.approver_changed(&plan.id.unit)
                    && plan
                        .adopted_on
                        .is_some_and(|d| self.hierarchy.is_before_current(d)) =>
            {
                Ok(())
            }
            (true, None) => Err(Error::precondition(
                "plan.id.version",
                format!("version {v} arrived before version 1"),
            )),
            (true, Some(h)) if h.id.version.checked_add(1) != Some(v) => Err(Error::precondition(
                "plan.id.version",
                format!(
                    "version {v} arrived but the latest held is {}; versions apply in order",
                    h.id.version
                ),
            )),
            (true, Some(h)) if h.status == PlanStatus::Returned => Ok(()),
            (true, Some(h)) => Err(Error::precondition(
                "plan.base_version",
                format!(
                    "{} is {}; a new version is taken only after it is returned",
                    h.id,
                    h.status.as_str()
                ),
            )),
            (false, Some(h)) if v <= h.id.version => Err(Error::precondition(
                "plan.id.version",
                format!(
                    "version {v} is not newer than the version {} already held",
                    h.id.version
                ),
            )),
            (false, _) => Ok(()),
        }
    }

    /// Approves or returns a plan this node approves. An approval travels on upward; a return may
    /// also reopen an approved version for revision (a withdrawal), which travels upward too, in
    /// the same transaction, so that every level above shows the version as returned by this
    /// node with its reasons. An approval may carry `cms`: a detached CMS (PKCS#7) SignedData,
    /// DER, made by the approver with an official-use certificate over
    /// [`crate::signature::approval_content`] of the held version's hash (Decree 68/2024). It is
    /// verified against the node's signing authority before anything is written, and kept with
    /// the decision, in the same transaction ([`Node::approval_signature`]); `None` (or empty)
    /// approves without one.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is an approver of this node's unit, or if this node does
    /// not approve the plan's unit; [`Error::NotFound`] if the plan's unit is unknown;
    /// [`Error::Invalid`] if the reasons are too many, malformed, missing from a return, or
    /// findings are cited on an approval, more than [`MAX_CITATIONS`] of them, one twice, or an
    /// ID that is no finding ID; [`Error::NotFound`] if the plan version or a cited finding is
    /// not held here; [`Error::Precondition`] if `hash` is not the held hash, the status does
    /// not allow the outcome, (at the province) the plan has errors or unaccepted warnings, or a
    /// withdrawal (a return of an approved version) comes after the level above approved this
    /// node's own plan of the term on top of it; [`Error::Store`] if storage fails. Naming the
    /// field `cms_signature`: [`Error::Invalid`] if `cms` comes with a return, is malformed, or
    /// signs other bytes ([`crate::signature::verify`]); [`Error::Precondition`] if this node
    /// names no signing authority, or the signer's certificate does not chain to it or was not
    /// valid at the signing time.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide(
        &self,
        who: &Caller,
        id: &PlanId,
        hash: &str,
        outcome: Outcome,
        reasons: Vec<String>,
        cite: &[String],
        cms: Option<&[u8]>,
    ) -> Result<Decision> {
        who.require_approver_at(&self.unit.code)?;
        let cms = cms.filter(|c| !c.is_empty());
        if cms.is_some() && outcome != Outcome::Approve {
            return Err(Error::invalid(
                "cms_signature",
                "only an approval carries a CMS signature",
            ));
        }
        self.known_unit("plan.unit", &id.unit)?;
        if !self.approves(&id.unit) {
            let problem = match self.hierarchy.parent(&id.unit) {
                Some(approver) => format!(
                    "the plans of {} are decided by {}, not by {}",
                    id.unit, approver.code, self.unit.code
                ),
                None => format!(
                    "{} has no level above it: its own plan is adopted, not approved or returned",
                    id.unit
                ),
            };
            return Err(Error::denied("plan.unit", problem));
        }
        if reasons.len() > 20 {
            return Err(Error::invalid("reasons", "at most 20 reasons"));
        }
        // Numbered as sent, so that an error names the reason the caller wrote.
        let mut reasons: Vec<String> = reasons
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.trim().is_empty())
            .map(|(i, r)| {
                crate::domain::plan::clean_text_max(
                    &format!("reasons[{i}]"),
                    r,
                    crate::domain::plan::MAX_PROSE,
                )
            })
            .collect::<std::result::Result<_, _>>()?;
        check_citations(cite)?;
        if !cite.is_empty() {
            if outcome == Outcome::Approve {
                return Err(Error::invalid(
                    "cite_findings",
                    "only a return cites findings",
                ));
            }
            reasons.extend(self.cited_reasons(id, cite).await?);
        }
        if outcome == Outcome::Return && reasons.is_empty() {
            return Err(Error::invalid(
                "reasons",
                "a return must give at least one reason",
            ));
        }
        let guard = self.lock().await;
        let mut header = self
            .store
            .header(id)?
            .ok_or_else(|| Error::not_found("plan", format!("no plan version {id} here")))?;
        let held = header.hash.clone().unwrap_or_default();
        if !hash.is_empty() && hash != held {
            return Err(Error::precondition(
                "hash",
                format!("you decided on {hash} but {id} holds {held}"),
            ));
        }
        match (header.status, outcome) {
            (PlanStatus::Received, _) | (PlanStatus::Approved, Outcome::Return) => {}
            (status, _) => {
                return Err(Error::precondition(
                    "plan",
                    format!(
                        "{id} is {}; it cannot be {}",
                        status.as_str(),
                        if outcome == Outcome::Approve {
                            "approved"
                        } else {
                            "returned"
                        }
                    ),
                ))
            }
        }
        if outcome == Outcome::Approve {
            // At the province, errors block approval and warnings need a justification.
            self.gate_approval(id).await?;
        }
        let withdrawal = header.status == PlanStatus::Approved;
        if withdrawal {
            self.check_not_relied_on(id)?;
        }
        let signed = cms
            .map(|der| self.verify_cms(der, &held).map(|v| (v, der)))
            .transpose()?;
        let decision = Decision {
            plan: id.clone(),
            hash: held,
            outcome,
            reasons,
            decided_by: self.unit.code.clone(),
            decided_at: self.now(),
        };
        let was_pending = header.status == PlanStatus::Received;
        header.status = status_of(outcome);
        header.decision = Some(decision.clone());
        let mut changes = vec![
            Change::PutHeader(header),
            Change::LogDecision(decision.clone()),
        ];
        // An approval travels upward, and so does a withdrawal of one (DOMAIN "Decisions go
        // backwards"): the levels above must stop relying on what was taken back.
        let forward = (outcome == Outcome::Approve || withdrawal) && self.parent_unit().is_some();
        if forward {
            changes.push(Change::Enqueue(OutboxItem {
                plan: id.clone(),
                queued_at: decision.decided_at,
                approval: Some(decision.clone()),
            }));
        }
        let mut detail = format!("{:?}: {}", decision.outcome, decision.reasons.join("; "));
        if let Some((verified, der)) = signed {
            detail.push_str(&format!(
                " (CMS signature by {}, certificate serial {}, signed {})",
                verified.signer,
                verified.serial,
                verified.signed_at.to_rfc3339()
            ));
            let stored = ApprovalSignature {
                verified,
                cms: der.to_vec(),
            };
            changes.push(Change::SetDocument(
                signature_key(id),
                serde_json::to_value(StoredSignature::from(&stored))
                    .map_err(|e| Error::invalid("cms_signature", format!("cannot be kept: {e}")))?,
            ));
        }
        let event = Event::new("decide", Some(id)).detail(detail).by(who);
        self.commit(guard, event, changes).await?;
        if was_pending {
            self.pending_changed(&id.unit, -1.0);
        }
        if forward {
            self.outbox_wake.notify_one();
        }
        tracing::info!(plan = %id, ?outcome, "decided");
        Ok(decision)
    }

    /// Verifies a CMS signature over the version whose hash is `hash`, against this node's
    /// signing authority with its revocation list as it is now on disk
    /// (`config::SigningTrust::current`), at this node's time.
    fn verify_cms(&self, der: &[u8], hash: &str) -> Result<crate::signature::Verified> {
        let trust = self.signing_authority.as_ref().ok_or_else(|| {
            Error::precondition(
                "cms_signature",
                "this node names no signing authority (serve --signing-ca FILE), so it cannot \
                 verify a CMS signature",
            )
        })?;
        let authority = trust.current();
        let content = crate::signature::approval_content(hash);
        crate::signature::verify(der, &content, &authority, self.now()).map_err(|e| {
            tracing::warn!(reason = %e, "cms signature refused");
            if e.is_precondition() {
                Error::precondition("cms_signature", e.to_string())
            } else {
                Error::invalid("cms_signature", e.to_string())
            }
        })
    }

    /// The detached CMS signature the approval of `id` carried, if it carried one (kept after
    /// a withdrawal of that approval, as a record of it), for `who`, who may read the plan.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] if `who` may not read the plans of `id.unit`; [`Error::Store`] if
    /// storage fails or the kept signature does not decode.
    pub fn approval_signature(
        &self,
        who: &Caller,
        id: &PlanId,
    ) -> Result<Option<ApprovalSignature>> {
        who.require_read(&self.hierarchy, "unit", &id.unit)?;
        let stored: Option<StoredSignature> =
            crate::store::decoded_document(&*self.store, &signature_key(id))?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        Ok(Some(stored.try_into().map_err(|reason| {
            crate::store::StoreError::Corrupt {
                key: signature_key(id),
                reason,
            }
        })?))
    }

    /// Returns true if and only if `plan` is a lower unit's version held here that its
    /// approving unit (not this node) approved and then took back: every level above the one
    /// that withdrew it shows it so.
    ///
    /// On the unit's own node, its own version returned after its approving unit had approved
    /// it (the approval, then the withdrawal, pulled down) shows so too (issue 23: "withdrawn by
    /// 412 on …, reason …" at the commune as at the province), from the record
    /// [`Node::apply_decisions`] keeps of the approval taken back.
    pub fn is_withdrawn(&self, plan: &Plan) -> bool {
        let returned_by_another = plan.status == PlanStatus::Returned
            && plan
                .decision
                .as_ref()
                .is_some_and(|d| d.outcome == Outcome::Return && d.decided_by != self.unit.code);
        if !returned_by_another {
            return false;
        }
        plan.id.unit != self.unit.code || self.approval_taken_back(&plan.id).is_some()
    }

    /// The approval of this node's own version `id` that its approving unit took back since
    /// (pulled down before the withdrawal), if any.
    pub fn approval_taken_back(&self, id: &PlanId) -> Option<Decision> {
        self.store
            .document(&taken_back_key(id))
            .ok()
            .flatten()
            .and_then(|v| serde_json::from_value(v).ok())
    }

    /// A withdrawal is refused once the level above has approved this node's own plan of the
    /// same term on top of it (as DHIS2 refuses an un-approval once a higher level approved):
    /// the level above must first return that plan.
    fn check_not_relied_on(&self, id: &PlanId) -> Result<()> {
        if self.parent_unit().is_none() {
            return Ok(());
        }
        let Some(own) = self.latest(&self.unit.code, &id.term)? else {
            return Ok(());
        };
        if own.status != PlanStatus::Approved {
            return Ok(());
        }
        let by = own
            .decision
            .as_ref()
            .map(|d| format!(" by {} on {}", d.decided_by, d.decided_at.date_naive()))
            .unwrap_or_default();
        Err(Error::precondition(
            "plan",
            format!(
                "{} was approved{by} on top of {id}; {id} can be withdrawn only after {} is returned",
                own.id, own.id
            ),
        ))
    }

    /// Decisions this node logged on `child`'s plans after sequence `after`, for the child to
    /// pull. Only a child of this node may pull.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if `child` is an unknown unit; [`Error::Denied`] if it is not a
    /// child of this node; [`Error::Store`] if
    /// storage fails.
    pub async fn decisions_for(&self, child: &str, after: u64) -> Result<Vec<(u64, Decision)>> {
        self.known_unit("from_unit", child)?;
        if !self.approves(child) {
            return Err(Error::denied(
                "from_unit",
                format!("{child} is not a child of {}", self.unit.code),
            ));
        }
        self.settle().await?;
        Ok(self.store.decisions_for(child, after)?)
    }

    /// Applies decisions pulled from the parent to this node's own plans, and advances the
    /// cursor, in one transaction.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if storage fails; malformed decisions, or ones not by the parent on
    /// this unit's plans, are skipped, not refused.
    pub async fn apply_decisions(&self, decisions: Vec<(u64, Decision)>) -> Result<usize> {
        let Some(last) = decisions.iter().map(|(s, _)| *s).max() else {
            return Ok(0);
        };
        let guard = self.lock().await;
        let mut changes = Vec::new();
        let mut applied = 0;
        let parent = self.parent_unit().map(|u| u.code.clone());
        // Headers changed earlier in this batch: an approval and its withdrawal may come
        // down together.
        let mut changed: std::collections::HashMap<PlanId, crate::domain::PlanHeader> =
            Default::default();
        for (seq, d) in decisions {
            // A parent is not trusted either: a decision must be well formed, come from the
            // parent, and concern a plan of this unit that this node submitted.
            if let Err(e) = self.validated(parent.as_deref(), |c| c.decision("decision", &d)) {
                tracing::warn!(seq, error = %e, "malformed decision from the parent; ignored");
                continue;
            }
            if Some(&d.decided_by) != parent.as_ref() || d.plan.unit != self.unit.code {
                tracing::warn!(plan = %d.plan, by = %d.decided_by, "decision not by the parent on this unit's plan; ignored");
                continue;
            }
            let held = match changed.get(&d.plan) {
                Some(h) => Some(h.clone()),
                None => self.store.header(&d.plan)?,
            };
            let Some(mut header) = held else {
                tracing::warn!(plan = %d.plan, "decision for a plan this node does not hold");
                continue;
            };
            if header.hash.as_deref() != Some(d.hash.as_str()) {
                tracing::warn!(plan = %d.plan, "decision for other content than held; ignored");
                continue;
            }
            let open = match header.status {
                PlanStatus::Submitted => true,
                // An approved version may be returned for revision (annual review), and a
                // parent rebuilt from its backups may issue a decision again.
                PlanStatus::Approved => true,
                PlanStatus::Returned => d.outcome == Outcome::Return,
                _ => false,
            };
            if !open {
                tracing::warn!(plan = %d.plan, status = header.status.as_str(), "decision for a plan not awaiting one; ignored");
                continue;
            }
            if header.status == PlanStatus::Approved && d.outcome == Outcome::Return {
                // A withdrawal: keep the approval it takes back, so that this node too shows
                // the version as withdrawn (`is_withdrawn`), not as a plain return.
                if let Some(approval) = header.decision.as_ref() {
                    let value = serde_json::to_value(approval).map_err(|e| {
                        Error::precondition("decision", format!("cannot be kept: {e}"))
                    })?;
                    changes.push(Change::SetDocument(taken_back_key(&d.plan), value));
                }
            }
            header.status = status_of(d.outcome);
            header.decision = Some(d);
            changed.insert(header.id.clone(), header.clone());
            changes.push(Change::PutHeader(header));
            applied += 1;
        }
        changes.push(Change::SetMeta(DECISION_CURSOR.into(), last));
        let event =
            Event::new("apply_decisions", None).detail(format!("{applied} decisions up to {last}"));
        self.commit(guard, event, changes).await?;
        Ok(applied)
    }

    /// The sequence number of the last decision pulled from the parent.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if storage fails.
    pub fn decision_cursor(&self) -> Result<u64> {
        Ok(self.store.meta(DECISION_CURSOR)?.unwrap_or(0))
    }

    /// Records the parent's receipt for an outbox item and removes the item.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if storage fails.
    pub async fn delivered(&self, seq: u64, receipt: Receipt) -> Result<()> {
        let at = receipt.received_at.timestamp_millis() as u64;
        let event = Event::new("delivered", Some(&receipt.plan))
            .detail(format!("receipt from {}", receipt.received_by));
        let guard = self.lock().await;
        let changes = vec![
            Change::Dequeue(seq),
            Change::PutReceipt(receipt),
            Change::SetMeta(super::status::LAST_PARENT_RECEIPT.into(), at),
        ];
        self.commit(guard, event, changes).await
    }

    /// The plan to push for an outbox item, as the parent must see it.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the plan version is not stored here; [`Error::Store`] if storage
    /// fails.
    pub fn outgoing(&self, item: &OutboxItem) -> Result<Plan> {
        let mut plan = self.load(&item.plan)?;
        match &item.approval {
            // A lower plan goes up with the approval (or the withdrawal) it was queued with.
            Some(decision) => {
                plan.status = status_of(decision.outcome);
                plan.decision = Some(decision.clone());
            }
            // Our own plan goes up as submitted, whatever has happened to it here since.
            None => {
                plan.status = PlanStatus::Submitted;
                plan.decision = None;
                plan.received_at = None;
            }
        }
        Ok(plan)
    }
}

const DECISION_CURSOR: &str = "cursor.decisions";

/// The document key of the approval of this node's own version `id` that was taken back.
fn taken_back_key(id: &PlanId) -> String {
    format!("taken-back/{}/{}/{}", id.unit, id.term, id.version)
}

fn status_of(outcome: Outcome) -> PlanStatus {
    match outcome {
        Outcome::Approve => PlanStatus::Approved,
        Outcome::Return => PlanStatus::Returned,
    }
}

/// A detached CMS signature an approval carried, as verified when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalSignature {
    /// Who signed, with which certificate, when.
    pub verified: crate::signature::Verified,
    /// The signature itself (CMS ContentInfo, DER), as the approver sent it.
    pub cms: Vec<u8>,
}

/// The store document of an approval's signature: the verification and the DER in base64.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredSignature {
    #[serde(flatten)]
    verified: crate::signature::Verified,
    cms_base64: String,
}

impl From<&ApprovalSignature> for StoredSignature {
    fn from(s: &ApprovalSignature) -> Self {
        use base64::Engine;
        Self {
            verified: s.verified.clone(),
            cms_base64: base64::engine::general_purpose::STANDARD.encode(&s.cms),
        }
    }
}

impl TryFrom<StoredSignature> for ApprovalSignature {
    type Error = String;

    fn try_from(s: StoredSignature) -> std::result::Result<Self, String> {
        use base64::Engine;
        Ok(Self {
            verified: s.verified,
            cms: base64::engine::general_purpose::STANDARD
                .decode(&s.cms_base64)
                .map_err(|e| format!("the kept signature is not base64: {e}"))?,
        })
    }
}

/// The store document that keeps the approval signature of `id`.
fn signature_key(id: &PlanId) -> String {
    format!("cms.approval/{}/{}/{}", id.unit, id.term, id.version)
}

/// The signatures a push keeps, for its audit record: `; keeps the signatures: submission by
/// 16681, decision by 412` (no status words, which the web page shows untranslated in a
/// record's detail; the statements themselves are in the kept documents).
fn kept_signatures(signatures: &[PlanSignature]) -> String {
    if signatures.is_empty() {
        return String::new();
    }
    let named: Vec<String> = signatures
        .iter()
        .map(|s| format!("{} by {}", s.statement.noun(), s.statement.by))
        .collect();
    format!("; keeps the signatures: {}", named.join(", "))
}
