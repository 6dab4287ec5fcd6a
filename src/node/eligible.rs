//! The `eligible` query (R23, Quy định 377-QĐ/TW art. 34): may this person be appointed to this
//! post of this unit, judged from the approved plans the caller may read here. Reads the view
//! (settled first) and calls the pure [`rules::eligibility`]; every face (gRPC, the CLI through
//! it, the web person page) asks this one operation.

use chrono::NaiveDate;

use super::Node;
use crate::{
    auth::Caller,
    domain::{plan::validate_national_id, Plan, PlanStatus},
    error::{Error, Result},
    rules::{self, Eligibility, Finding, PersonRef},
};

/// The answer to one `eligible` question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EligibleAnswer {
    /// What R23 says: planned (with the plan version and the planned position), not planned,
    /// or no approved plan in the unit (the competent level decides).
    pub verdict: Eligibility,
    /// The content hash of the plan version that makes the person eligible (with
    /// [`Eligibility::Planned`]), as the approving level holds it.
    pub hash: Option<String>,
    /// The person asked about: the name as the plans the caller may read list it (empty when
    /// none does).
    pub person: PersonRef,
    /// The R23 warning for any answer but [`Eligibility::Planned`].
    pub finding: Option<Finding>,
    /// The day the question was judged on (this node's today): the term must not have ended.
    pub on: NaiveDate,
}

impl Node {
    /// R23 for appointing the person with `national_id` to `position` in `unit` (this node's
    /// own unit when empty), judged today
    /// from the `Approved` plans within both this node's subtree and what `who` may read that
    /// are `unit`'s own or list the person (a person planned elsewhere for an equivalent or
    /// higher post counts, QĐ 377 art. 34).
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] if `who` has no role or may not read `unit` (field `unit`), or `unit`
    /// lies outside this node's subtree; [`Error::Invalid`] on `national_id` unless it is
    /// exactly 12 digits, and on `position` if the catalogue does not know it;
    /// [`Error::NotFound`] on `unit` for an unknown unit; [`Error::Store`] if waiting for the
    /// view's last commit fails.
    pub async fn eligible(
        &self,
        who: &Caller,
        national_id: &str,
        position: &str,
        unit: &str,
    ) -> Result<EligibleAnswer> {
        who.require_authenticated()?;
        let unit = if unit.is_empty() {
            self.unit.code.as_str()
        } else {
            unit
        };
        validate_national_id("national_id", national_id)?;
        let catalog = self.catalog();
        if catalog.position(position).is_none() {
            return Err(Error::invalid(
                "position",
                format!(
                    "unknown position code {}",
                    crate::domain::validate::prefix(position)
                ),
            ));
        }
        self.subtree_unit("unit", unit)?;
        who.require_read(&self.hierarchy, "unit", unit)?;
        self.view_settled().await?;
        let readable = |p: &Plan| {
            p.status == PlanStatus::Approved
                && self.hierarchy.is_within(&p.id.unit, &self.unit.code)
                && who.may_read(&self.hierarchy, &p.id.unit)
        };
        // Only what the rule reads: the person's entries of each approved plan, and the
        // approved plans of the unit itself (whose existence decides "no approved plan").
        let mut plans: Vec<Plan> = Vec::new();
        let mut person = PersonRef {
            national_id: national_id.to_string(),
            full_name: String::new(),
        };
        {
            let view = self.view.read().unwrap_or_else(|e| e.into_inner());
            for (plan, entries) in view.listing(national_id) {
                if !who.may_read(&self.hierarchy, &plan.id.unit) {
                    continue;
                }
                if person.full_name.is_empty() {
                    if let Some(e) = entries.first() {
                        person.full_name = e.cadre.full_name.to_string();
                    }
                }
                if readable(plan) {
                    plans.push(Plan {
                        entries: entries.into_iter().cloned().collect(),
                        ..plan.header_only()
                    });
                }
            }
            for plan in view.plans() {
                if plan.id.unit == unit && readable(plan) && !plans.iter().any(|p| p.id == plan.id)
                {
                    plans.push(plan.header_only());
                }
            }
        }
        let on = self.today();
        let verdict = rules::eligibility(national_id, position, unit, &plans, &catalog, on);
        let hash = match &verdict {
            Eligibility::Planned { plan, .. } => plans
                .iter()
                .find(|p| &p.id == plan)
                .and_then(|p| p.hash.clone()),
            _ => None,
        };
        let finding = verdict.finding(&person, position, unit);
        Ok(EligibleAnswer {
            verdict,
            hash,
            person,
            finding,
            on,
        })
    }
}
