//! The node-to-node `NodeSync` service: children push plans up and pull decisions down.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{convert::*, pb};
use crate::{domain::FieldError, error::Error, node::Node};

pub struct NodeSyncService {
    pub node: Arc<Node>,
}

#[tonic::async_trait]
impl pb::node_sync_server::NodeSync for NodeSyncService {
    async fn push(&self, req: Request<pb::PushRequest>) -> Result<Response<pb::Receipt>, Status> {
        let pb::PushRequest { from_unit, plan } = req.into_inner();
        let plan = plan
            .ok_or_else(|| Status::from(Error::Invalid(FieldError::new("plan", "is required"))))?;
        let plan = plan_from_pb("plan", plan).map_err(|e| Status::from(Error::Invalid(e)))?;
        let (receipt, duplicate) = self.node.receive_push(from_unit.trim(), plan).await?;
        Ok(Response::new(receipt_to_pb(&receipt, duplicate)))
    }

    async fn pull_decisions(
        &self,
        req: Request<pb::PullDecisionsRequest>,
    ) -> Result<Response<pb::PullDecisionsResponse>, Status> {
        let pb::PullDecisionsRequest { from_unit, after } = req.into_inner();
        let decisions = self
            .node
            .decisions_for(from_unit.trim(), after)
            .await?
            .into_iter()
            .map(|(seq, d)| pb::SequencedDecision {
                seq,
                decision: Some(decision_to_pb(&d)),
            })
            .collect();
        Ok(Response::new(pb::PullDecisionsResponse { decisions }))
    }
}
