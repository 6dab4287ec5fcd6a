//! The node-to-node `NodeSync` service: children push plans up and pull decisions down.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{convert::*, node_convert::*, pb};
use crate::{
    bundle::format::{push_signatures_from_pb, signature_to_pb},
    domain::FieldError,
    error::Error,
    node::{bundles as exchange, ChildReport, Node},
};

/// The `NodeSync` gRPC service: the calls one node makes to its parent (pushes, pulls, reconciliation).
pub struct NodeSyncService {
    /// The node that does the work.
    pub node: Arc<Node>,
    /// Started with `--insecure`: no certificates, everything allowed.
    pub insecure: bool,
}

#[tonic::async_trait]
impl pb::node_sync_server::NodeSync for NodeSyncService {
    async fn push(&self, req: Request<pb::PushRequest>) -> Result<Response<pb::Receipt>, Status> {
        let who = super::caller(self.insecure, &req)?;
        // The child's audit head, kept in this node's own record of the push as a witness.
        let head = req
            .metadata()
            .get(crate::audit::HEAD_METADATA)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::audit::parse_head(v).ok())
            .map(|(seq, digest)| format!("{seq}:{digest}"));
        let pb::PushRequest {
            from_unit,
            plan,
            signature,
            forwarded,
        } = req.into_inner();
        let plan = plan
            .ok_or_else(|| Status::from(Error::Invalid(FieldError::new("plan", "is required"))))?;
        let plan = plan_from_pb("plan", plan).map_err(|e| Status::from(Error::Invalid(e)))?;
        let signed = push_signatures_from_pb("", signature, forwarded)
            .map_err(|e| Status::from(Error::Invalid(e)))?;
        if let Some(e) = plan.entries.first() {
            crate::fault::panic_point(crate::fault::ON_PUSH, &e.cadre.national_id);
        }
        // Run to completion even if the child hangs up mid-way, so that a push is either taken
        // whole (and counted) or not at all.
        let node = self.node.clone();
        let from = from_unit.trim().to_string();
        // The province re-checks every plan it receives once it is durable, off the push's
        // path (see `Node::commit`).
        // The same receive as a push bundle's: signatures checked and kept with the plan, the
        // receipt signed.
        let (receipt, duplicate, signature) = tokio::spawn(async move {
            exchange::receive(&node, &who, &from, plan, head.as_deref(), signed).await
        })
        .await
        .map_err(|e| Status::internal(format!("push handler failed: {e}")))??;
        let mut answer = receipt_to_pb(&receipt, duplicate);
        answer.signature = signature.as_ref().map(signature_to_pb);
        Ok(Response::new(answer))
    }

    async fn push_fulfilment(
        &self,
        req: Request<pb::PushFulfilmentRequest>,
    ) -> Result<Response<pb::PushFulfilmentResponse>, Status> {
        let who = super::caller(self.insecure, &req)?;
        let pb::PushFulfilmentRequest {
            from_unit,
            fulfilment,
            signature,
        } = req.into_inner();
        let signature = signature
            .map(|s| crate::bundle::format::signature_from_pb("signature", s))
            .transpose()
            .map_err(|e| Status::from(Error::Invalid(e)))?;
        let fulfilment = fulfilment.ok_or_else(|| {
            Status::from(Error::Invalid(FieldError::new("fulfilment", "is required")))
        })?;
        let fulfilment = fulfilment_from_pb("fulfilment", fulfilment)
            .map_err(|e| Status::from(Error::Invalid(e)))?;
        // Run to completion even if the child hangs up mid-way, as a push does.
        let node = self.node.clone();
        let from = from_unit.trim().to_string();
        let taken = tokio::spawn(async move {
            node.receive_fulfilment(&who, &from, fulfilment, signature)
                .await
        })
        .await
        .map_err(|e| Status::internal(format!("fulfilment handler failed: {e}")))??;
        Ok(Response::new(pb::PushFulfilmentResponse {
            held: Some(fulfilment_record_to_pb(&taken.held)),
            duplicate: taken.duplicate,
            conflict: taken.conflict,
        }))
    }

    async fn pull_decisions(
        &self,
        req: Request<pb::PullDecisionsRequest>,
    ) -> Result<Response<pb::PullDecisionsResponse>, Status> {
        let who = super::caller(self.insecure, &req)?;
        let pb::PullDecisionsRequest {
            from_unit,
            after,
            outbox_length,
            oldest_pending_at,
            last_error,
            reference_version,
            plan_states,
        } = req.into_inner();
        let from_unit = from_unit.trim().to_string();
        let plan_states = plan_states
            .into_iter()
            .enumerate()
            .map(|(i, s)| reported_plan_from_pb(&format!("plan_states[{i}]"), s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Status::from(Error::Invalid(e)))?;
        let report = ChildReport {
            reported_at: self.node.now(),
            outbox_length,
            oldest_pending_at: chrono::DateTime::parse_from_rfc3339(&oldest_pending_at)
                .ok()
                .map(|t| t.with_timezone(&chrono::Utc)),
            last_error: Some(last_error).filter(|e| !e.is_empty()),
            reference_version,
        };
        let decisions = self
            .node
            .answer_pull(&who, &from_unit, after, plan_states, report)
            .await?;
        // Each signed as a decisions bundle signs it.
        let signatures = exchange::decision_signatures(&self.node, &decisions)
            .await?
            .iter()
            .map(signature_to_pb)
            .collect();
        let decisions = decisions
            .into_iter()
            .map(|(seq, d)| pb::SequencedDecision {
                seq,
                decision: Some(decision_to_pb(&d)),
            })
            .collect();
        Ok(Response::new(pb::PullDecisionsResponse {
            decisions,
            signatures,
        }))
    }

    async fn reconcile(
        &self,
        req: Request<pb::ReconcileRequest>,
    ) -> Result<Response<pb::ReconcileResponse>, Status> {
        let who = super::caller(self.insecure, &req)?;
        let pb::ReconcileRequest {
            from_unit,
            digest,
            decision_cursor,
        } = req.into_inner();
        let view = self
            .node
            .answer_reconcile(&who, from_unit.trim(), &digest, decision_cursor)
            .await?;
        Ok(Response::new(pb::ReconcileResponse {
            plans: view
                .plans
                .iter()
                .map(|s| pb::PlanDigest {
                    signature: s.signature.as_ref().map(signature_to_pb),
                    ..plan_state_to_pb(s)
                })
                .collect(),
            digest: view.digest,
        }))
    }

    async fn get_sources(
        &self,
        req: Request<pb::SourcesRequest>,
    ) -> Result<Response<pb::SourcesResponse>, Status> {
        let who = super::caller(self.insecure, &req)?;
        let pb::SourcesRequest { from_unit, held } = req.into_inner();
        let held = held
            .into_iter()
            .enumerate()
            .map(|(i, id)| plan_id_from_pb(&format!("held[{i}]"), Some(id)))
            .collect::<Result<Vec<_>, FieldError>>()
            .map_err(|e| Status::from(Error::Invalid(e)))?;
        let plans = self
            .node
            .answer_sources(&who, from_unit.trim(), &held)
            .await?;
        Ok(Response::new(pb::SourcesResponse {
            plans: plans.iter().map(plan_to_pb).collect(),
        }))
    }

    async fn get_reference(
        &self,
        req: Request<pb::ReferenceRequest>,
    ) -> Result<Response<pb::ReferenceResponse>, Status> {
        let who = super::caller(self.insecure, &req)?;
        let pb::ReferenceRequest {
            from_unit,
            have_version,
        } = req.into_inner();
        let newer = self
            .node
            .reference_for(&who, from_unit.trim(), have_version)?;
        let document = match &newer {
            Some(r) => {
                serde_json::to_string(r.as_ref()).map_err(|e| Status::internal(e.to_string()))?
            }
            None => String::new(),
        };
        Ok(Response::new(pb::ReferenceResponse {
            version: self.node.reference().version,
            document,
        }))
    }
}
