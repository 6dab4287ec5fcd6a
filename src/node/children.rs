//! What a parent answers its children over NodeSync, whichever way the call arrives (the gRPC
//! service, or [`crate::sync::LocalParent`] in the same process): a pull, which also carries
//! the child's report of itself and of its subtree's plans, and a reconciliation, answered
//! with the plans only when the digests differ.

use super::{ChildReport, Node, ParentView, ReportedPlan};
use crate::{auth::Caller, domain::Decision, error::Result};

impl Node {
    /// Parent side of a child's pull: keeps what `child` reports of its subtree's plans, then
    /// answers the decisions logged on its plans after `after`, and then keeps its report of
    /// itself for the status page.
    ///
    /// # Errors
    ///
    /// [`crate::error::Error::Denied`] unless `who` is the node of `child`; as
    /// [`Node::note_lower_states`] and [`Node::decisions_for`]: [`crate::error::Error::Invalid`]
    /// for a state outside the child's subtree, [`crate::error::Error::NotFound`] or
    /// [`crate::error::Error::Denied`] if `child` is unknown or not a child of this node,
    /// [`crate::error::Error::Store`] if storage fails. Nothing of the report is kept then.
    pub async fn answer_pull(
        &self,
        who: &Caller,
        child: &str,
        after: u64,
        states: Vec<ReportedPlan>,
        report: ChildReport,
    ) -> Result<Vec<(u64, Decision)>> {
        who.require_node(child)?;
        self.note_lower_states(child, states)?;
        let decisions = self.decisions_for(child, after).await?;
        self.note_child(child, report);
        Ok(decisions)
    }

    /// Parent side of a reconciliation: this node's digest of `child`'s subtree, with the
    /// plans it holds of it only when the child's `digest` differs (so an agreeing child gets
    /// a short answer), each decision this node took on them signed as a pull signs it.
    ///
    /// # Errors
    ///
    /// [`crate::error::Error::Denied`] unless `who` is the node of `child`; as
    /// [`Node::subtree_view`].
    pub async fn answer_reconcile(
        &self,
        who: &Caller,
        child: &str,
        digest: &str,
        decision_cursor: u64,
    ) -> Result<ParentView> {
        who.require_node(child)?;
        let mut view = self.subtree_view(child, decision_cursor).await?;
        if view.digest == digest {
            view.plans.clear();
        }
        self.sign_view(&mut view).await?;
        Ok(view)
    }
}
