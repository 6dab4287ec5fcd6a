//! The upward link of a node: a background task that delivers the outbox to the parent in
//! order, keeping each item until the parent's receipt is durable here, pulls the parent's
//! decisions down, and fetches newer reference data. Failures retry with capped, jittered
//! exponential back-off, for as long as the parent stays away. Periodically and after every
//! reconnect, the link also reconciles with the parent (anti-entropy, `node::reconcile`).
//!
//! The parent is behind the [`Parent`] trait: [`grpc_parent::GrpcParent`] over the network,
//! [`folder_parent::FolderParent`] over a folder of bundle files carried on removable media,
//! [`LocalParent`] in the same process for tests of the sync logic. [`grpc_parent::run`] opens
//! the link to the parent and drives it.

pub mod folder_parent;
pub mod grpc_parent;

use std::{sync::Arc, time::Duration};

use rand::Rng;

use crate::{
    auth::Caller,
    config::SyncSettings,
    domain::{Conflict, Decision, Plan, Receipt},
    node::{Node, ParentView, Reconciled, Reference},
};

/// The delay before retry number `attempt` (1-based): doubling from `min`, capped at `max`,
/// then scaled by a random factor in [0.5, 1) so that many children do not retry in step.
pub fn backoff(settings: &SyncSettings, attempt: u32, jitter: f64) -> Duration {
    let doubled = settings
        .backoff_min
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    doubled
        .min(settings.backoff_max)
        .mul_f64(jitter.clamp(0.5, 1.0))
}

/// A push the parent did not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushRefused {
    /// The parent holds the same version with another hash (both named).
    Conflict {
        /// The hash the parent holds.
        held: String,
        /// The hash the push carried.
        offered: String,
        /// The parent's message, for people.
        message: String,
    },
    /// Any other failure: the parent unreachable, a refusal, a bad answer.
    Failed(String),
}

impl std::fmt::Display for PushRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushRefused::Conflict { message, .. } | PushRefused::Failed(message) => {
                f.write_str(message)
            }
        }
    }
}

/// What a child reports about its own link when it pulls decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullRequest {
    /// Decisions with a sequence number above this one.
    pub after: u64,
    /// How many items wait in the child's outbox.
    pub outbox_length: u64,
    /// When the oldest of them was queued.
    pub oldest_pending_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The last error on the child's upward link, if any.
    pub last_error: Option<String>,
    /// The reference data version the child holds.
    pub reference_version: u64,
    /// The current version of every plan of the child's subtree it holds or has heard of,
    /// for the parent's completeness report.
    pub plan_states: Vec<crate::node::ReportedPlan>,
}

/// The upward link as the sync logic sees it: the tonic client is one implementation
/// ([`grpc_parent::GrpcParent`]), a parent node in the same process another ([`LocalParent`]),
/// so that the sync logic can be driven without sockets. Every answer is validated by the caller
/// like any input from a peer.
pub trait Parent: Send {
    /// Hands one plan version up; returns the parent's receipt.
    fn push(
        &mut self,
        from: &str,
        plan: &Plan,
    ) -> impl std::future::Future<Output = Result<Receipt, PushRefused>> + Send;
    /// Fetches the decisions taken on the child's subtree after `request.after`.
    fn pull_decisions(
        &mut self,
        from: &str,
        request: PullRequest,
    ) -> impl std::future::Future<Output = Result<Vec<(u64, Decision)>, String>> + Send;
    /// Fetches the reference data if the parent holds a version newer than `have`.
    fn get_reference(
        &mut self,
        from: &str,
        have: u64,
    ) -> impl std::future::Future<Output = Result<Option<Reference>, String>> + Send;
    /// Fetches the approved plans of the old units the child's unit absorbed that it does not
    /// hold (`held`); see [`Node::answer_sources`].
    fn get_sources(
        &mut self,
        from: &str,
        held: Vec<crate::domain::PlanId>,
    ) -> impl std::future::Future<Output = Result<Vec<Plan>, String>> + Send;
    /// Compares digests of the child's subtree; see [`crate::node::ParentView`].
    fn reconcile(
        &mut self,
        from: &str,
        digest: &str,
        decision_cursor: u64,
    ) -> impl std::future::Future<Output = Result<ParentView, String>> + Send;
}

/// A parent node in the same process, called directly: for tests of the sync logic that need
/// no sockets (the real-process tests cover the gRPC path).
pub struct LocalParent {
    /// The parent node.
    pub node: Arc<Node>,
}

impl Parent for LocalParent {
    async fn push(&mut self, from: &str, plan: &Plan) -> Result<Receipt, PushRefused> {
        match self
            .node
            .receive_push(&Caller::node_of(from), from, plan.clone(), None)
            .await
        {
            Ok((receipt, _)) => Ok(receipt),
            Err(crate::error::Error::HashConflict {
                plan,
                held,
                offered,
            }) => Err(PushRefused::Conflict {
                message: format!("push {plan}: held {held}, offered {offered}"),
                held,
                offered,
            }),
            Err(e) => Err(PushRefused::Failed(format!("push {}: {e}", plan.id))),
        }
    }

    async fn pull_decisions(
        &mut self,
        from: &str,
        r: PullRequest,
    ) -> Result<Vec<(u64, Decision)>, String> {
        let report = crate::node::ChildReport {
            reported_at: self.node.now(),
            outbox_length: r.outbox_length,
            oldest_pending_at: r.oldest_pending_at,
            last_error: r.last_error,
            reference_version: r.reference_version,
        };
        self.node
            .answer_pull(&Caller::node_of(from), from, r.after, r.plan_states, report)
            .await
            .map_err(|e| e.to_string())
    }

    async fn get_reference(&mut self, from: &str, have: u64) -> Result<Option<Reference>, String> {
        Ok(self
            .node
            .reference_for(&Caller::node_of(from), from, have)
            .map_err(|e| e.to_string())?
            .map(|r| r.as_ref().clone()))
    }

    async fn get_sources(
        &mut self,
        from: &str,
        held: Vec<crate::domain::PlanId>,
    ) -> Result<Vec<Plan>, String> {
        self.node
            .answer_sources(&Caller::node_of(from), from, &held)
            .await
            .map_err(|e| e.to_string())
    }

    async fn reconcile(
        &mut self,
        from: &str,
        digest: &str,
        decision_cursor: u64,
    ) -> Result<ParentView, String> {
        self.node
            .answer_reconcile(&Caller::node_of(from), from, digest, decision_cursor)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The link's loop over any [`Parent`]: a step whenever something is queued or the poll
/// interval passes, retries with back-off after a failure, and a reconciliation at the first
/// contact, after every failure (a reconnect) and every [`SyncSettings::reconcile_every`].
pub async fn drive<P: Parent>(node: Arc<Node>, mut parent: P, settings: SyncSettings, name: &str) {
    let wake = node.outbox_wake();
    let mut next_reconcile = tokio::time::Instant::now();
    let mut next_sources = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= next_reconcile {
            match reconcile(&node, &mut parent).await {
                Ok(_) => next_reconcile = tokio::time::Instant::now() + settings.reconcile_every(),
                Err(e) => {
                    tracing::warn!(parent = name, error = %e, "reconciliation with parent failed");
                    next_reconcile = tokio::time::Instant::now() + settings.reconcile_every();
                }
            }
        }
        if tokio::time::Instant::now() >= next_sources {
            // With the reconciliation's cadence: a source approved later at the parent comes
            // down within one period.
            next_sources = tokio::time::Instant::now() + settings.reconcile_every();
            if let Err(e) = fetch_sources(&node, &mut parent).await {
                tracing::warn!(parent = name, error = %e, "source plans not fetched");
            }
        }
        let result = step(&node, &mut parent).await;
        let failed = result.is_err();
        if let Err(e) = &result {
            tracing::warn!(parent = name, error = %e, "sync with parent failed");
        }
        node.note_link(result);
        if failed {
            // Reconcile again once the parent answers: it may have come back from a backup.
            next_reconcile = tokio::time::Instant::now();
            let attempt = node.link_state().consecutive_failures;
            let jitter = rand::rng().random_range(0.5..1.0);
            tokio::time::sleep(backoff(&settings, attempt, jitter)).await;
        } else {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(settings.poll) => {}
            }
        }
    }
}

/// Anti-entropy with the parent: compares digests of the child's subtree and, when they
/// differ, pushes again what the parent lacks (in version order), applies the parent's
/// decisions missing here, and records as conflicts what the parent holds that this node
/// never sent.
///
/// # Errors
///
/// The parent cannot be reached or answers badly, or the store fails; a push the parent
/// refuses is counted as a difference left, not an error.
pub async fn reconcile<P: Parent>(node: &Node, parent: &mut P) -> Result<Reconciled, String> {
    let from = node.unit().code.clone();
    let expected = node.expected_at_parent().map_err(|e| e.to_string())?;
    let cursor = node.decision_cursor().map_err(|e| e.to_string())?;
    let view = parent
        .reconcile(&from, &crate::node::digest(&expected), cursor)
        .await?;
    let mut done = Reconciled::default();
    if view.digest == crate::node::digest(&expected) {
        node.note_reconciled(Ok(&done));
        return Ok(done);
    }
    let repairs = node.repairs(&view).map_err(|e| e.to_string())?;
    done.unresolved = repairs.unresolved;
    for plan in repairs.push {
        match parent.push(&from, &plan).await {
            Ok(receipt) => {
                node.received_again(receipt)
                    .await
                    .map_err(|e| e.to_string())?;
                done.pushed += 1;
            }
            Err(e) => {
                tracing::warn!(plan = %plan.id, error = %e, "pushing again refused");
                done.unresolved += 1;
            }
        }
    }
    let restored = node
        .restore_decisions(repairs.decisions)
        .await
        .map_err(|e| e.to_string())?;
    done.decisions = restored.applied as u64;
    for why in &restored.refused {
        tracing::warn!(error = %why, "a decision restored by reconciliation refused");
    }
    done.unresolved += restored.refused.len() as u64;
    for conflict in repairs.conflicts {
        tracing::warn!(plan = %conflict.plan, "the parent holds a version this node never sent");
        node.record_conflict(conflict)
            .await
            .map_err(|e| e.to_string())?;
        done.conflicts += 1;
    }
    if done != Reconciled::default() {
        tracing::info!(
            pushed = done.pushed,
            decisions = done.decisions,
            conflicts = done.conflicts,
            unresolved = done.unresolved,
            "reconciled with parent"
        );
    }
    node.note_reconciled(Ok(&done));
    Ok(done)
}

/// For a node whose unit a reorganisation created: fetches from the parent the approved plans
/// of the old units it absorbed that it does not hold, and keeps them
/// ([`Node::take_sources`]), so that its first draft can start from them. Answers how many
/// were kept; nothing is asked of the parent by a node with no sources.
///
/// # Errors
///
/// The parent cannot be reached or refuses, its answer does not pass the checks (nothing of
/// it is kept), or the store fails.
pub async fn fetch_sources<P: Parent>(node: &Node, parent: &mut P) -> Result<usize, String> {
    let (sources, held) = node.held_sources().map_err(|e| e.to_string())?;
    let Some(above) = node.parent_unit().map(|u| u.code.clone()) else {
        return Ok(0);
    };
    if sources.is_empty() {
        return Ok(0);
    }
    let from = node.unit().code.clone();
    let plans = parent.get_sources(&from, held).await?;
    node.take_sources(&above, plans)
        .await
        .map_err(|e| format!("source plans from {above}: {e}"))
}

/// Delivers every queued item in order, then pulls decisions and reference data. The pushes
/// stop at the first refusal, so that nothing overtakes an item that has not arrived; the
/// pull runs all the same, telling the parent the refusal.
///
/// # Errors
///
/// The refused push, or the first pull or store write that fails, as a message for the link
/// status.
pub async fn step<P: Parent>(node: &Node, parent: &mut P) -> Result<(), String> {
    let from = node.unit().code.clone();
    // No item is withdrawn by its owner while it is being pushed (`Node::withdraw_submission`).
    let pushing = node.pushing().await;
    let outbox = node.store().outbox().map_err(|e| e.to_string())?;
    // A refused push ends the pushes of this step but never the pull: the parent still learns
    // the outbox and the refusal (as the link's last error), and its decisions still come
    // down. The refusal is this step's outcome.
    let mut refused = None;
    for (seq, item) in outbox {
        let plan = node.outgoing(&item).map_err(|e| e.to_string())?;
        let receipt = match parent.push(&from, &plan).await {
            Ok(r) => r,
            Err(e) => {
                if let PushRefused::Conflict { held, offered, .. } = &e {
                    record_conflict(node, &plan.id, held, offered).await;
                }
                refused = Some(e.to_string());
                break;
            }
        };
        node.delivered(seq, receipt)
            .await
            .map_err(|e| e.to_string())?;
    }
    drop(pushing);

    let (outbox_length, oldest) = node.outbox_summary().map_err(|e| e.to_string())?;
    let request = PullRequest {
        after: node.decision_cursor().map_err(|e| e.to_string())?,
        outbox_length,
        oldest_pending_at: oldest.map(|(_, at)| at),
        last_error: refused.clone().or(node.link_state().last_error),
        reference_version: node.reference().version,
        plan_states: node.plan_states(),
    };
    let decisions = parent.pull_decisions(&from, request).await?;
    node.apply_decisions(decisions)
        .await
        .map_err(|e| e.to_string())?;

    let have = node.reference().version;
    if let Some(reference) = parent.get_reference(&from, have).await? {
        node.receive_reference(reference)
            .await
            .map_err(|e| e.to_string())?;
    }
    match refused {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// Keeps the parent's refusal of a conflicting push, with both hashes, in this node's store.
async fn record_conflict(node: &Node, id: &crate::domain::PlanId, held: &str, offered: &str) {
    let conflict = Conflict {
        plan: id.clone(),
        held_hash: held.to_string(),
        offered_hash: offered.to_string(),
        from: node.unit().code.clone(),
        to: node
            .parent_unit()
            .map(|u| u.code.clone())
            .unwrap_or_default(),
        at: node.now(),
    };
    if let Err(e) = node.record_conflict(conflict).await {
        tracing::error!(error = %e, "cannot record a conflict");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_min_and_is_capped_and_jittered() {
        let s = SyncSettings {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(3),
            ..SyncSettings::default()
        };
        assert_eq!(backoff(&s, 1, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(&s, 2, 1.0), Duration::from_millis(200));
        assert_eq!(backoff(&s, 5, 1.0), Duration::from_millis(1600));
        assert_eq!(backoff(&s, 6, 1.0), Duration::from_secs(3));
        assert_eq!(backoff(&s, 60, 1.0), Duration::from_secs(3));
        assert_eq!(backoff(&s, 6, 0.5), Duration::from_millis(1500));
        assert_eq!(
            backoff(&s, 1, 0.1),
            Duration::from_millis(50),
            "jitter never goes below half"
        );
    }
}
