//! The parent over the network: [`GrpcParent`], the tonic client of the parent's node-to-node
//! service behind the [`Parent`] trait, and [`run`], which opens the TLS link to the parent
//! (`crate::link`) and drives the sync logic over it.

use std::{future::Future, sync::Arc};

use tonic::{transport::Channel, Code, Status};

use super::{drive, Parent, PullRequest, PushRefused};
use crate::{
    bundle::format::{push_signatures_to_pb, signature_from_pb, signatures_from_pb},
    config::{SyncSettings, Tls},
    domain::{Decision, Fulfilment, Plan, Receipt},
    grpc::{
        convert::{
            decision_from_pb, fulfilment_from_pb, fulfilment_record_to_pb, plan_from_pb,
            plan_id_to_pb, plan_to_pb, receipt_from_pb,
        },
        node_convert::{plan_state_from_pb, reported_plan_to_pb},
        pb::{self, node_sync_client::NodeSyncClient},
        HELD_HASH, OFFERED_HASH,
    },
    node::{bundles as exchange, FulfilmentTaken, Node, ParentView, Reference},
};

/// The answer to a call to the parent, or what failed, for the link's status: what was asked,
/// then the gRPC code and the parent's message.
async fn answer<T>(
    what: &str,
    call: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, String> {
    call.await
        .map(tonic::Response::into_inner)
        .map_err(|s| failed(what, &s))
}

/// What failed, the gRPC code and the parent's message.
fn failed(what: &str, status: &Status) -> String {
    format!("{what}: {:?}: {}", status.code(), status.message())
}

/// The parent over gRPC.
pub struct GrpcParent {
    client: NodeSyncClient<Channel>,
    /// This node: its store's audit head travels with each push for the parent to witness, its
    /// key signs what it pushes, and it keeps the parent's signed receipts and decisions.
    node: Arc<Node>,
}

impl Parent for GrpcParent {
    async fn push(&mut self, from: &str, plan: &Plan) -> Result<Receipt, PushRefused> {
        let id = plan.id.clone();
        // Signed as a push bundle is (one function for both links); a node without a key
        // (`--insecure`) pushes unsigned, which only a parent without one takes.
        let (signature, forwarded) = if self.node.signer().is_ok() {
            let signed = exchange::push_signatures(&self.node, plan)
                .await
                .map_err(|e| PushRefused::Failed(format!("push {id}: {e}")))?;
            push_signatures_to_pb(&signed)
        } else {
            (None, Vec::new())
        };
        let request = pb::PushRequest {
            from_unit: from.to_string(),
            plan: Some(plan_to_pb(plan)),
            signature,
            forwarded,
        };
        // The parent keeps this node's audit head as a witness of its chain.
        let mut request = tonic::Request::new(request);
        if let Ok(Some((seq, digest))) = self.node.store().audit_head() {
            if let Ok(value) = format!("{seq}:{digest}").parse() {
                request
                    .metadata_mut()
                    .insert(crate::audit::HEAD_METADATA, value);
            }
        }
        let mut receipt = match self.client.push(request).await {
            Ok(r) => r.into_inner(),
            Err(status) => {
                let message = failed(&format!("push {id}"), &status);
                if status.code() == Code::AlreadyExists {
                    let get = |key: &str| {
                        status
                            .metadata()
                            .get(key)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    return Err(PushRefused::Conflict {
                        held: get(HELD_HASH),
                        offered: get(OFFERED_HASH),
                        message,
                    });
                }
                return Err(PushRefused::Failed(message));
            }
        };
        let signature = receipt
            .signature
            .take()
            .map(|s| signature_from_pb("receipt.signature", s))
            .transpose()
            .map_err(|e| PushRefused::Failed(format!("push {id}: bad receipt: {e}")))?;
        let receipt = receipt_from_pb(receipt)
            .map_err(|e| PushRefused::Failed(format!("push {id}: bad receipt: {e}")))?;
        exchange::take_receipt(&self.node, &receipt, plan.status, signature)
            .await
            .map_err(|e| PushRefused::Failed(format!("push {id}: {e}")))?;
        Ok(receipt)
    }

    async fn push_fulfilment(
        &mut self,
        from: &str,
        fulfilment: &Fulfilment,
    ) -> Result<FulfilmentTaken, PushRefused> {
        let what = format!("fulfilment of {}", fulfilment.plan);
        // Signed by this node when it has a key, as its pushes are.
        let signature = self
            .node
            .fulfilment_signature(fulfilment)
            .map_err(|e| PushRefused::Failed(format!("{what}: {e}")))?
            .as_ref()
            .map(crate::bundle::format::signature_to_pb);
        let request = pb::PushFulfilmentRequest {
            from_unit: from.to_string(),
            fulfilment: Some(fulfilment_record_to_pb(fulfilment)),
            signature,
        };
        let response = answer(&what, self.client.push_fulfilment(request))
            .await
            .map_err(PushRefused::Failed)?;
        let held = response
            .held
            .ok_or_else(|| PushRefused::Failed(format!("{what}: the answer holds no record")))
            .and_then(|h| {
                fulfilment_from_pb("held", h)
                    .map_err(|e| PushRefused::Failed(format!("{what}: bad answer: {e}")))
            })?;
        Ok(FulfilmentTaken {
            held,
            duplicate: response.duplicate,
            conflict: response.conflict,
        })
    }

    async fn pull_decisions(
        &mut self,
        from: &str,
        r: PullRequest,
    ) -> Result<Vec<(u64, Decision)>, String> {
        let request = pb::PullDecisionsRequest {
            from_unit: from.to_string(),
            after: r.after,
            outbox_length: r.outbox_length,
            oldest_pending_at: r
                .oldest_pending_at
                .map(|at| at.to_rfc3339())
                .unwrap_or_default(),
            last_error: r.last_error.unwrap_or_default(),
            reference_version: r.reference_version,
            plan_states: r.plan_states.iter().map(reported_plan_to_pb).collect(),
        };
        let response = answer("pull decisions", self.client.pull_decisions(request)).await?;
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
        let signatures = signatures_from_pb("signatures", response.signatures)
            .map_err(|e| format!("pull decisions: {e}"))?;
        exchange::take_decisions(&self.node, &decisions, signatures)
            .await
            .map_err(|e| format!("pull decisions: {e}"))?;
        Ok(decisions)
    }

    async fn get_reference(&mut self, from: &str, have: u64) -> Result<Option<Reference>, String> {
        let request = pb::ReferenceRequest {
            from_unit: from.to_string(),
            have_version: have,
        };
        let response = answer("reference data", self.client.get_reference(request)).await?;
        if response.document.is_empty() {
            return Ok(None);
        }
        Reference::from_document(&response.document)
            .map(Some)
            .map_err(|e| format!("reference data: {e}"))
    }

    async fn get_sources(
        &mut self,
        from: &str,
        held: Vec<crate::domain::PlanId>,
    ) -> Result<Vec<Plan>, String> {
        let request = pb::SourcesRequest {
            from_unit: from.to_string(),
            held: held.iter().map(plan_id_to_pb).collect(),
        };
        let response = answer("source plans", self.client.get_sources(request)).await?;
        response
            .plans
            .into_iter()
            .enumerate()
            .map(|(i, p)| plan_from_pb(&format!("plans[{i}]"), p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("source plans: {e}"))
    }

    async fn reconcile(
        &mut self,
        from: &str,
        digest: &str,
        decision_cursor: u64,
    ) -> Result<ParentView, String> {
        let request = pb::ReconcileRequest {
            from_unit: from.to_string(),
            digest: digest.to_string(),
            decision_cursor,
        };
        let response = answer("reconcile", self.client.reconcile(request)).await?;
        let plans = response
            .plans
            .into_iter()
            .enumerate()
            .map(|(i, mut d)| {
                let field = format!("plans[{i}]");
                let signature = d
                    .signature
                    .take()
                    .map(|s| signature_from_pb(&format!("{field}.signature"), s))
                    .transpose()
                    .map_err(|e| format!("reconcile: {e}"))?;
                let mut state =
                    plan_state_from_pb(&field, d).map_err(|e| format!("reconcile: {e}"))?;
                // Verified by `Node::restore_decisions` before anything is applied.
                state.signature = signature;
                Ok(state)
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(ParentView {
            digest: response.digest,
            plans,
        })
    }
}

/// Runs the link until the task is aborted; over TLS, a parent whose certificate the
/// revocation list `crl_pem` names is refused.
pub async fn run(
    node: Arc<Node>,
    parent: String,
    settings: SyncSettings,
    tls: Option<Tls>,
    crl_pem: Option<String>,
) {
    // Over TLS the link talks only to the node certificate of this unit's parent.
    let parent_unit = node
        .parent_unit()
        .map(|u| u.code.clone())
        .unwrap_or_default();
    let channel = match crate::link::parent_channel(
        &parent,
        tls.as_ref(),
        &parent_unit,
        crl_pem.as_deref(),
    ) {
        Ok(channel) => channel,
        Err(e) => {
            tracing::error!(parent, error = %e, "bad parent address or certificate; the link is off");
            node.note_link(Err(format!("bad parent address {parent}: {e}")));
            return;
        }
    };
    let link = GrpcParent {
        // Answers as large as the parent sends (source plans: a whole plan).
        client: NodeSyncClient::new(channel)
            .max_decoding_message_size(crate::grpc::limits::MAX_SYNC_MESSAGE),
        node: node.clone(),
    };
    drive(node, link, settings, &parent).await
}
