//! The upward link of a node: a background task that delivers the outbox to the parent in
//! order, keeping each item until the parent's receipt is durable here, pulls the parent's
//! decisions down, and fetches newer reference data. Failures retry with capped, jittered
//! exponential back-off, for as long as the parent stays away.

use std::{sync::Arc, time::Duration};

use rand::Rng;
use tonic::{
    transport::{Channel, Endpoint},
    Code,
};

use crate::{
    client::ClientTls,
    grpc::{
        convert::{decision_from_pb, plan_to_pb, receipt_from_pb},
        pb::{self, node_sync_client::NodeSyncClient},
        HELD_HASH, OFFERED_HASH,
    },
    node::{Node, Reference},
    store::Conflict,
};

/// Timing of the link.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// How often decisions are pulled when nothing else wakes the task.
    pub poll: Duration,
    /// First retry delay after a failure.
    pub backoff_min: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// After how long a link with pending items or no contact is reported as stuck.
    pub stuck_after: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(2),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            stuck_after: Duration::from_secs(600),
        }
    }
}

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

/// Runs the link until the task is aborted.
pub async fn run(node: Arc<Node>, parent: String, settings: SyncSettings, tls: Option<ClientTls>) {
    let endpoint = Endpoint::from_shared(parent.clone()).and_then(|e| match &tls {
        Some(tls) => e.tls_config(tls.config()),
        None => Ok(e),
    });
    let channel = match endpoint {
        Ok(e) => e
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(30))
            .connect_lazy(),
        Err(e) => {
            tracing::error!(parent, error = %e, "bad parent address; the link is off");
            node.note_link(Err(format!("bad parent address {parent}: {e}")));
            return;
        }
    };
    let mut client = NodeSyncClient::new(channel);
    let wake = node.outbox_wake();
    loop {
        let result = step(&node, &mut client).await;
        let failed = result.is_err();
        if let Err(e) = &result {
            tracing::warn!(parent, error = %e, "sync with parent failed");
        }
        node.note_link(result);
        if failed {
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

/// Delivers every queued item in order, then pulls decisions and reference data. Stops at
/// the first failure, so that nothing overtakes an item that has not arrived.
async fn step(node: &Node, client: &mut NodeSyncClient<Channel>) -> Result<(), String> {
    let from = node.unit().code.clone();
    let outbox = node.store().outbox().map_err(|e| e.to_string())?;
    for (seq, item) in outbox {
        let plan = node.outgoing(&item).map_err(|e| e.to_string())?;
        let id = plan.id.clone();
        let request = pb::PushRequest {
            from_unit: from.clone(),
            plan: Some(plan_to_pb(&plan)),
        };
        let receipt = match client.push(request).await {
            Ok(r) => r.into_inner(),
            Err(status) => {
                if status.code() == Code::AlreadyExists {
                    record_conflict(node, &id, &status).await;
                }
                return Err(format!(
                    "push {id}: {:?}: {}",
                    status.code(),
                    status.message()
                ));
            }
        };
        let receipt =
            receipt_from_pb(receipt).map_err(|e| format!("push {id}: bad receipt: {e}"))?;
        node.delivered(seq, receipt)
            .await
            .map_err(|e| e.to_string())?;
    }

    let (outbox_length, oldest) = node.outbox_summary().map_err(|e| e.to_string())?;
    let request = pb::PullDecisionsRequest {
        from_unit: from.clone(),
        after: node.decision_cursor().map_err(|e| e.to_string())?,
        outbox_length,
        oldest_pending_at: oldest.map(|(_, at)| at.to_rfc3339()).unwrap_or_default(),
        last_error: node.link_state().last_error.unwrap_or_default(),
        reference_version: node.reference().version,
        plan_states: node
            .plan_states()
            .iter()
            .map(crate::grpc::convert::plan_state_to_pb)
            .collect(),
    };
    let response = client
        .pull_decisions(request)
        .await
        .map_err(|s| format!("pull decisions: {:?}: {}", s.code(), s.message()))?
        .into_inner();
    let decisions = response
        .decisions
        .into_iter()
        .map(|d| {
            let decision = d.decision.ok_or("pull decisions: empty decision")?;
            Ok((
                d.seq,
                decision_from_pb("decision", decision).map_err(|e| e.to_string())?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    node.apply_decisions(decisions)
        .await
        .map_err(|e| e.to_string())?;

    let have = node.reference().version;
    let response = client
        .get_reference(pb::ReferenceRequest {
            from_unit: from,
            have_version: have,
        })
        .await
        .map_err(|s| format!("reference data: {:?}: {}", s.code(), s.message()))?
        .into_inner();
    if !response.document.is_empty() {
        let reference: Reference =
            serde_json::from_str(&response.document).map_err(|e| format!("reference data: {e}"))?;
        node.receive_reference(reference)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Keeps the parent's refusal of a conflicting push, with both hashes, in this node's store.
async fn record_conflict(node: &Node, id: &crate::domain::PlanId, status: &tonic::Status) {
    let get = |key: &str| {
        status
            .metadata()
            .get(key)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let conflict = Conflict {
        plan: id.clone(),
        held_hash: get(HELD_HASH),
        offered_hash: get(OFFERED_HASH),
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
