//! What changed since approval (the annual review): the version a later one is compared with,
//! the last one of its unit × term that was approved, even if a return has reopened it since.

use super::Node;
use crate::{
    auth::Caller,
    domain::{Plan, PlanId, PlanStatus},
    error::Result,
};

impl Node {
    /// The latest version of `id`'s unit × term before `id` that was approved: one still
    /// approved here, or one whose approval this node decided (its audit trail holds the
    /// `decide … Approve` record) and a return reopened since, for the annual review. `None`
    /// when no earlier version was approved as far as this node knows (the unit's own node
    /// learns only the latest decision on each version).
    ///
    /// # Errors
    ///
    /// [`crate::error::Error::Denied`] if `who` may not read the unit; [`crate::error::Error::Store`]
    /// if the store cannot be read.
    pub fn last_approved_before(&self, who: &Caller, id: &PlanId) -> Result<Option<Plan>> {
        who.require_read(&self.hierarchy, "unit", &id.unit)?;
        let mut records = None;
        for version in (1..id.version).rev() {
            let earlier = PlanId {
                version,
                ..id.clone()
            };
            let Some(header) = self.store.header(&earlier)? else {
                continue;
            };
            let approved = header.status == PlanStatus::Approved || {
                if records.is_none() {
                    records = Some(self.store.audit()?.0);
                }
                records.iter().flatten().any(|r| {
                    r.event.action == "decide"
                        && r.event.plan.as_ref() == Some(&earlier)
                        && r.event.detail.starts_with("Approve")
                })
            };
            if approved {
                return Ok(self.store.plan(&earlier)?);
            }
        }
        Ok(None)
    }
}
