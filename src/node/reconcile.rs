//! Anti-entropy between a child and its parent. Periodically and after the link comes back,
//! the child sends a digest of what it expects the parent to hold of its subtree (every version
//! it holds a receipt for); the parent answers with its own digest and, when they differ, the
//! list of what it holds. The child then pushes again what the parent lacks, applies the
//! parent's decisions it is missing, and reports as conflicts the versions the parent holds
//! that it never sent. This is how a parent restored from a backup, or rebuilt from nothing,
//! gets back what its children sent it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{bundles, signing::keeping, Event, Node};
use crate::{
    bundle::sign::PlanSignature,
    domain::{Conflict, Decision, Outcome, Plan, PlanId, PlanStatus, Receipt},
    error::{Error, Result},
    store::Change,
};

/// One plan version as its holder has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanState {
    /// The plan version.
    pub plan: PlanId,
    /// Its content hash.
    pub hash: String,
    /// The status at the parent (or, on the child's side, the status it expects there).
    pub status: PlanStatus,
    /// The holder's own decision on the version, if it decided it.
    pub decision: Option<Decision>,
    /// The holder's node signature on `decision` (the parent signs as a pull would, see
    /// `bundles::decision_signature`); `None` without a decision or a key.
    pub signature: Option<PlanSignature>,
}

/// What the parent answered to a reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentView {
    /// Its digest of the child's subtree.
    pub digest: String,
    /// What it holds, when the digests differ.
    pub plans: Vec<PlanState>,
}

/// What one reconciliation found to do, on the child's side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Repairs {
    /// Versions the child holds a receipt for and the parent lacks: to push again, in order.
    pub push: Vec<Plan>,
    /// Decisions of the parent on versions the child holds, that the child lacks, each with
    /// the signature the parent sent on it (verified by [`Node::restore_decisions`]).
    pub decisions: Vec<(Decision, Option<PlanSignature>)>,
    /// Versions the parent holds that the child never sent.
    pub conflicts: Vec<Conflict>,
    /// Versions the parent lacks that cannot be pushed again (a lower plan whose approval
    /// here was since reopened).
    pub unresolved: u64,
}

/// What reconciliation of a link has done, for `quyhoach status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reconciled {
    /// When the link last compared digests successfully.
    pub at: Option<DateTime<Utc>>,
    /// Since start: versions pushed again.
    pub pushed: u64,
    /// Since start: parent decisions applied.
    pub decisions: u64,
    /// Since start: versions reported as conflicts.
    pub conflicts: u64,
    /// Differences left after the last reconciliation (a push refused, an approval that
    /// cannot be rebuilt).
    pub unresolved: u64,
}

/// What [`Node::restore_decisions`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// Decisions applied (each with its verified signature, on a node with a key).
    pub applied: usize,
    /// Why each refused decision was refused (its signature missing or not verifying).
    pub refused: Vec<String>,
}

/// The reconciliation state of this node's links (kept in memory).
#[derive(Debug, Default)]
pub(super) struct ReconcileLog {
    /// The upward link, as this node (the child) saw it.
    pub parent: std::sync::Mutex<Reconciled>,
    /// When each child last reconciled with this node.
    pub children: std::sync::Mutex<HashMap<String, DateTime<Utc>>>,
}

/// BLAKE3 (hex) over one line "unit term version hash status" per version, in key order.
pub fn digest(states: &[PlanState]) -> String {
    let mut sorted: Vec<&PlanState> = states.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.plan.unit, &a.plan.term, a.plan.version).cmp(&(
            &b.plan.unit,
            &b.plan.term,
            b.plan.version,
        ))
    });
    let mut h = blake3::Hasher::new();
    for s in sorted {
        h.update(
            format!(
                "{} {} {} {} {}\n",
                s.plan.unit,
                s.plan.term,
                s.plan.version,
                s.hash,
                s.status.as_str()
            )
            .as_bytes(),
        );
    }
    h.finalize().to_hex().to_string()
}

impl Node {
    /// Parent side: what this node holds of `child`'s subtree, with its digest. Raises the
    /// decision sequence above `cursor` (the last one the child pulled) so that a parent
    /// restored from a backup never hands out a number the child has already seen.
    ///
    /// # Errors
    ///
    /// The caller is not a child of this node, or the store fails.
    pub async fn subtree_view(&self, child: &str, cursor: u64) -> Result<ParentView> {
        self.known_unit("from_unit", child)?;
        if !self.approves(child) {
            return Err(Error::denied(
                "from_unit",
                format!("{child} is not a child of {}", self.unit.code),
            ));
        }
        if cursor >= 1 << 48 {
            return Err(Error::invalid(
                "decision_cursor",
                format!("{cursor} is far above any decision number this node could have given"),
            ));
        }
        let guard = self.lock().await;
        if cursor > self.store.meta(DECISION_SEQ)?.unwrap_or(0) {
            tracing::warn!(
                child,
                cursor,
                "a child has seen decisions numbered above this node's log; numbering above them"
            );
            let event = Event::new("raise_decision_seq", None)
                .detail(format!("{child} had pulled up to {cursor}"));
            self.commit(guard, event, vec![Change::AtLeastDecisionSeq(cursor)])
                .await?;
        } else {
            drop(guard);
        }
        self.settle().await?;
        let hierarchy = self.hierarchy.clone();
        let headers = self
            .store
            .headers_where(&|unit, _| hierarchy.is_within(unit, child))?;
        let plans: Vec<PlanState> = headers
            .into_iter()
            .filter_map(|h| {
                Some(PlanState {
                    hash: h.hash.clone()?,
                    status: h.status,
                    decision: h.decision.filter(|d| d.decided_by == self.unit.code),
                    signature: None,
                    plan: h.id,
                })
            })
            .collect();
        self.reconcile_log
            .children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(child.to_string(), self.now());
        Ok(ParentView {
            digest: digest(&plans),
            plans,
        })
    }

    /// Child side: what this node expects its parent to hold of its subtree (every version it
    /// holds the parent's receipt for), with the status it expects there.
    ///
    /// # Errors
    ///
    /// The store fails.
    pub fn expected_at_parent(&self) -> Result<Vec<PlanState>> {
        let mut out = Vec::new();
        for h in self.store.headers()? {
            let Some(receipt) = self.parent_receipt(&h.id)? else {
                continue;
            };
            let own = h.id.unit == self.unit.code;
            // At the parent the own plan is received until decided; a lower plan this node
            // approved stays approved there, unless this node (or one below) withdrew it.
            let status = match (own, h.status) {
                (true, s @ (PlanStatus::Approved | PlanStatus::Returned)) => s,
                (true, _) => PlanStatus::Received,
                (false, PlanStatus::Returned) if withdrawn(&h.decision) => PlanStatus::Returned,
                (false, _) => PlanStatus::Approved,
            };
            out.push(PlanState {
                plan: h.id,
                hash: receipt.hash,
                status,
                decision: None,
                signature: None,
            });
        }
        Ok(out)
    }

    /// Child side: compares the parent's view with this node's store and says what to repair.
    ///
    /// # Errors
    ///
    /// The store fails.
    pub fn repairs(&self, view: &ParentView) -> Result<Repairs> {
        let parent = self
            .parent_unit()
            .map(|u| u.code.clone())
            .unwrap_or_default();
        let held: BTreeMap<&PlanId, &PlanState> = view.plans.iter().map(|s| (&s.plan, s)).collect();
        let pending: HashSet<PlanId> = self
            .store
            .outbox()?
            .into_iter()
            .map(|(_, item)| item.plan)
            .collect();
        let mut repairs = Repairs::default();
        for h in self.store.headers()? {
            let Some(receipt) = self.parent_receipt(&h.id)? else {
                continue;
            };
            match held.get(&h.id) {
                None => {
                    let plan = self.load(&h.id)?;
                    let own = h.id.unit == self.unit.code;
                    match self.resend(plan, own, &receipt.hash) {
                        Some(plan) => repairs.push.push(plan),
                        None => {
                            tracing::warn!(plan = %h.id, "cannot push again: its approval here was reopened");
                            repairs.unresolved += 1;
                        }
                    }
                }
                Some(there) => {
                    let own = h.id.unit == self.unit.code;
                    // A withdrawal the parent missed (or a parent restored from before it):
                    // the statuses differ, so it goes up again.
                    if !own
                        && h.status == PlanStatus::Returned
                        && withdrawn(&h.decision)
                        && there.status == PlanStatus::Approved
                        && !pending.contains(&h.id)
                    {
                        let plan = self.load(&h.id)?;
                        match self.resend(plan, false, &receipt.hash) {
                            Some(plan) => repairs.push.push(plan),
                            None => repairs.unresolved += 1,
                        }
                        continue;
                    }
                    let Some(d) = &there.decision else { continue };
                    if d.decided_by == parent
                        && d.plan == h.id
                        && Some(&d.hash) == h.hash.as_ref()
                        && h.decision.as_ref() != Some(d)
                        && h.id.unit == self.unit.code
                    {
                        repairs.decisions.push((d.clone(), there.signature.clone()));
                    }
                }
            }
        }
        // The lists of the old units this node's unit absorbed, which other nodes sent up, are
        // in the parent's view of this subtree; this node never sent them (it fetches them as
        // sources, `Node::take_sources`), so they are no conflict.
        let sources = self.sources_of(&self.unit.code);
        for s in &view.plans {
            if pending.contains(&s.plan)
                || sources.contains(&s.plan.unit)
                || self.parent_receipt(&s.plan)?.is_some()
            {
                continue;
            }
            let mine = self.store.header(&s.plan)?.and_then(|h| h.hash);
            repairs.conflicts.push(Conflict {
                plan: s.plan.clone(),
                held_hash: mine.unwrap_or_default(),
                offered_hash: s.hash.clone(),
                from: parent.clone(),
                to: self.unit.code.clone(),
                at: self.now(),
            });
        }
        Ok(repairs)
    }

    /// The receipt of the level above for a version, if this node holds one: from the
    /// current parent, or from the one it had before a reorganisation (whoever received it
    /// first: a plan acknowledged by a district since abolished is still owed to the new
    /// parent). A receipt this node gave a child for the same version does not count.
    fn parent_receipt(&self, id: &PlanId) -> Result<Option<Receipt>> {
        let Some(receipt) = self.store.receipt(id)? else {
            return Ok(None);
        };
        let parent = self.parent_unit().map(|u| u.code.as_str());
        if Some(receipt.received_by.as_str()) == parent {
            return Ok(Some(receipt));
        }
        if receipt.received_by == self.unit.code || id.unit != self.unit.code {
            return Ok(None);
        }
        // A former parent's receipt: the own version is owed to the new parent while it
        // awaits a decision; one the former parent decided stays decided there.
        let awaiting = self
            .store
            .header(id)?
            .is_some_and(|h| h.status == PlanStatus::Submitted);
        Ok(awaiting.then_some(receipt))
    }

    /// The plan as it goes up again: an own version as submitted; a lower version with the
    /// approval this node gave it, if it still holds that approval, or with the withdrawal
    /// that took the approval back.
    fn resend(&self, mut plan: Plan, own: bool, hash: &str) -> Option<Plan> {
        if plan.hash.as_deref() != Some(hash) {
            return None;
        }
        if own {
            plan.status = PlanStatus::Submitted;
            plan.decision = None;
            plan.received_at = None;
            return Some(plan);
        }
        if plan.status == PlanStatus::Returned && withdrawn(&plan.decision) {
            return (plan.decision.as_ref()?.hash == hash).then_some(plan);
        }
        let approval = plan.decision.clone().filter(|d| {
            d.outcome == Outcome::Approve && d.decided_by == self.unit.code && d.hash == hash
        })?;
        plan.status = PlanStatus::Approved;
        plan.decision = Some(approval);
        Some(plan)
    }

    /// Records the parent's receipt for a version pushed again by reconciliation.
    ///
    /// # Errors
    ///
    /// The store fails.
    pub async fn received_again(&self, receipt: Receipt) -> Result<()> {
        let first = self
            .store
            .receipt(&receipt.plan)?
            .map(|r| r.received_by)
            .filter(|by| *by != receipt.received_by && *by != self.unit.code);
        let detail = match first {
            // The unit that first received it is no longer this node's parent.
            Some(by) => format!(
                "re-routed: first received by {by}, which is not the approving unit in \
                 structure {}; pushed again to {}, receipt from it",
                self.hierarchy.label(),
                receipt.received_by
            ),
            None => format!("pushed again; receipt from {}", receipt.received_by),
        };
        let event = Event::new("reconcile_push", Some(&receipt.plan)).detail(detail);
        let guard = self.lock().await;
        self.commit(guard, event, vec![Change::PutReceipt(receipt)])
            .await
    }

    /// Parent side: puts this node's signature on each decision it took in `view` (as a pull
    /// signs them, `bundles::decision_signature`), so that a child restores them signed.
    ///
    /// # Errors
    ///
    /// The store fails (keeping a new signature).
    pub async fn sign_view(&self, view: &mut ParentView) -> Result<()> {
        for s in &mut view.plans {
            if let Some(d) = &s.decision {
                s.signature = bundles::decision_signature(self, d).await?;
            }
        }
        Ok(())
    }

    /// Applies decisions of the parent that reconciliation found missing here. On a node with
    /// a key (a TLS link), each must come with its parent's signature, checked by the same
    /// function as a pull's (`bundles::verified_decision`) and kept in the transaction that
    /// applies the decision; one whose signature is missing or does not verify is refused:
    /// nothing of it is stored, and the reason is returned (and logged by the link). A node
    /// without a key applies them as they come, as its pulls do.
    ///
    /// # Errors
    ///
    /// The store fails.
    pub async fn restore_decisions(
        &self,
        decisions: Vec<(Decision, Option<PlanSignature>)>,
    ) -> Result<Restored> {
        let mut restored = Restored::default();
        if decisions.is_empty() {
            return Ok(restored);
        }
        let trust = self.trust().ok();
        let mut verified = Vec::with_capacity(decisions.len());
        for (d, signature) in decisions {
            let Some(trust) = trust else {
                verified.push((d, None));
                continue;
            };
            let which = format!("the decision on {} restored by reconciliation", d.plan);
            let signatures: Vec<PlanSignature> = signature.into_iter().collect();
            match bundles::verified_decision(trust, "plans.signature", &which, &d, &signatures) {
                Ok(s) => verified.push((d, Some(s))),
                Err(e) => restored.refused.push(e.to_string()),
            }
        }
        let guard = self.lock().await;
        let mut changes = Vec::new();
        for (d, signature) in verified {
            let Some(mut header) = self.store.header(&d.plan)? else {
                continue;
            };
            if header.hash.as_deref() != Some(d.hash.as_str()) {
                continue;
            }
            header.status = match d.outcome {
                Outcome::Approve => PlanStatus::Approved,
                Outcome::Return => PlanStatus::Returned,
            };
            header.decision = Some(d);
            changes.push(Change::PutHeader(header));
            if let Some(s) = &signature {
                changes.push(keeping(s)?);
            }
            restored.applied += 1;
        }
        if restored.applied == 0 {
            return Ok(restored);
        }
        let event = Event::new("reconcile_decisions", None).detail(format!(
            "{} decisions of the parent restored",
            restored.applied
        ));
        self.commit(guard, event, changes).await?;
        Ok(restored)
    }

    /// Records what a reconciliation did (`Err` when it could not compare at all).
    pub fn note_reconciled(&self, done: std::result::Result<&Reconciled, ()>) {
        let mut r = self
            .reconcile_log
            .parent
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Ok(d) = done {
            r.at = Some(self.now());
            r.pushed += d.pushed;
            r.decisions += d.decisions;
            r.conflicts += d.conflicts;
            r.unresolved = d.unresolved;
        }
    }

    /// What reconciliation of the upward link has done.
    pub fn reconciled(&self) -> Reconciled {
        self.reconcile_log
            .parent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// When `child` last reconciled with this node.
    pub(super) fn child_reconciled_at(&self, child: &str) -> Option<DateTime<Utc>> {
        self.reconcile_log
            .children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(child)
            .copied()
    }
}

/// Returns true if and only if a lower plan's decision is a return by its approver (this
/// node or one below): a withdrawal, which the parent must hold as returned too. A return
/// from before the plan was ever approved never reaches this node: only approved lower plans
/// travel upward.
fn withdrawn(decision: &Option<Decision>) -> bool {
    decision
        .as_ref()
        .is_some_and(|d| d.outcome == Outcome::Return)
}

/// The store's name for the decision counter (raised by [`Change::AtLeastDecisionSeq`]).
const DECISION_SEQ: &str = "seq.decision";

#[cfg(test)]
mod tests {
    use super::*;

    fn state(unit: &str, version: u32, hash: &str, status: PlanStatus) -> PlanState {
        PlanState {
            plan: PlanId {
                unit: unit.into(),
                term: "2025-2030".into(),
                version,
            },
            hash: hash.into(),
            status,
            decision: None,
            signature: None,
        }
    }

    #[test]
    fn the_digest_ignores_order_and_sees_every_field() {
        let a = state("412", 1, "h1", PlanStatus::Received);
        let b = state("16681", 2, "h2", PlanStatus::Approved);
        assert_eq!(
            digest(&[a.clone(), b.clone()]),
            digest(&[b.clone(), a.clone()])
        );
        assert_ne!(
            digest(std::slice::from_ref(&a)),
            digest(&[a.clone(), b.clone()])
        );
        let mut other = a.clone();
        other.status = PlanStatus::Returned;
        assert_ne!(digest(std::slice::from_ref(&a)), digest(&[other]));
        let mut other = a.clone();
        other.hash = "h9".into();
        assert_ne!(digest(std::slice::from_ref(&a)), digest(&[other]));
        let mut other = a.clone();
        other.plan.version = 3;
        assert_ne!(digest(&[a]), digest(&[other]));
        assert_eq!(digest(&[]), digest(&[]));
    }
}
