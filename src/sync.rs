//! The upward link of a node: a background task that delivers the outbox to the parent in
//! order, keeping each item until the parent's receipt is durable here, and pulls the
//! parent's decisions down. Failures retry with capped, jittered exponential back-off.

use std::{sync::Arc, time::Duration};

use rand::Rng;
use tokio::sync::Mutex;
use tonic::transport::{Channel, Endpoint};

use crate::{
    grpc::{
        convert::{decision_from_pb, plan_to_pb, receipt_from_pb},
        pb::{self, node_sync_client::NodeSyncClient},
    },
    node::Node,
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
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(2),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// What the link last saw, for status reports.
#[derive(Debug, Clone, Default)]
pub struct LinkState {
    pub last_error: Option<String>,
    pub last_receipt_at: Option<chrono::DateTime<chrono::Utc>>,
    pub consecutive_failures: u32,
    pub delivered: u64,
}

/// Runs the link until the process ends (the caller aborts the task on shutdown).
pub async fn run(
    node: Arc<Node>,
    parent: String,
    settings: SyncSettings,
    state: Arc<Mutex<LinkState>>,
) {
    let channel = match Endpoint::from_shared(parent.clone()) {
        Ok(e) => e
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(30))
            .connect_lazy(),
        Err(e) => {
            tracing::error!(parent, error = %e, "bad parent address; the link is off");
            state.lock().await.last_error = Some(format!("bad parent address {parent}: {e}"));
            return;
        }
    };
    let mut client = NodeSyncClient::new(channel);
    let wake = node.outbox_wake();
    let mut delay = settings.backoff_min;
    loop {
        match step(&node, &mut client, &state).await {
            Ok(()) => {
                delay = settings.backoff_min;
                let mut s = state.lock().await;
                s.last_error = None;
                s.consecutive_failures = 0;
                drop(s);
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(settings.poll) => {}
                }
            }
            Err(e) => {
                {
                    let mut s = state.lock().await;
                    s.consecutive_failures += 1;
                    tracing::warn!(parent, attempt = s.consecutive_failures, error = %e, "sync with parent failed");
                    s.last_error = Some(e);
                }
                let jitter = rand::rng().random_range(0.5..1.0);
                tokio::time::sleep(delay.mul_f64(jitter)).await;
                delay = (delay * 2).min(settings.backoff_max);
            }
        }
    }
}

/// Delivers every queued item, then pulls decisions. Stops at the first failure.
async fn step(
    node: &Node,
    client: &mut NodeSyncClient<Channel>,
    state: &Mutex<LinkState>,
) -> Result<(), String> {
    let from = node.unit().code.clone();
    let outbox = node.store().outbox().map_err(|e| e.to_string())?;
    for (seq, item) in outbox {
        let plan = node.outgoing(&item).map_err(|e| e.to_string())?;
        let id = plan.id.clone();
        let request = pb::PushRequest {
            from_unit: from.clone(),
            plan: Some(plan_to_pb(&plan)),
        };
        let receipt = client
            .push(request)
            .await
            .map_err(|s| format!("push {id}: {:?}: {}", s.code(), s.message()))?
            .into_inner();
        let receipt =
            receipt_from_pb(receipt).map_err(|e| format!("push {id}: bad receipt: {e}"))?;
        node.delivered(seq, receipt)
            .await
            .map_err(|e| e.to_string())?;
        let mut s = state.lock().await;
        s.last_receipt_at = Some(chrono::Utc::now());
        s.delivered += 1;
    }
    let after = node.decision_cursor().map_err(|e| e.to_string())?;
    let response = client
        .pull_decisions(pb::PullDecisionsRequest {
            from_unit: from,
            after,
        })
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
    Ok(())
}

/// A client to a parent, for tests and tools that speak the node-to-node API directly.
pub async fn connect(addr: &str) -> Result<NodeSyncClient<Channel>, tonic::transport::Error> {
    NodeSyncClient::connect(addr.to_string()).await
}
