//! Fulfilled entries: a planned cadre elected or appointed to the planned post or an
//! equivalent one. The entry of the approved version gets the outcome `fulfilled` (đã bố trí /
//! đã bầu) with the decision's number and date; the version itself (and its hash) does not
//! change. From the next review on (a later version of the same unit × term) the entry no longer
//! counts against the R2 cap. Recorded on the node that holds the approved version, by the
//! approver of that node's unit (the competent level) or the clerk of the plan's unit; kept in
//! the store's documents under `fulfil/`, read into memory at start.

use chrono::NaiveDate;

use super::{live::Recheck, Event, Node};
use crate::{
    auth::Caller,
    domain::{
        parse_date,
        plan::{clean_text, validate_national_id},
        Fulfilment, FulfilmentKind, PlanId, PlanStatus,
    },
    error::{Error, Result},
    store::Change,
};

/// Where fulfilments are kept in the store's documents.
const FULFILMENTS: &str = "fulfil/";

/// The document key of the fulfilment of (unit, term, person, planned position): one per
/// entry of a unit × term, whatever version it was recorded on.
fn fulfilment_key(unit: &str, term: &str, national_id: &str, position: &str) -> String {
    format!("{FULFILMENTS}{unit}/{term}/{national_id}/{position}")
}

/// Every fulfilment the store holds (read once, at start).
pub(super) fn stored_fulfilments(
    store: &dyn crate::store::Store,
) -> crate::store::Result<Vec<Fulfilment>> {
    Ok(store
        .documents(FULFILMENTS)?
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_value(v).ok())
        .collect())
}

/// What a `fulfil` request asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfilRequest {
    /// The approved version whose entry is fulfilled; version 0: the latest approved one held.
    pub plan: PlanId,
    /// The person's national ID, 12 digits.
    pub national_id: String,
    /// The entry's planned position.
    pub position: String,
    /// Elected or appointed.
    pub kind: FulfilmentKind,
    /// The post taken: the planned one (empty) or an equivalent one (same kind and grade).
    pub post: String,
    /// The decision's number, e.g. `125/QĐ-UBND`.
    pub decision_number: String,
    /// The decision's date, `YYYY-MM-DD`, not after today.
    pub decided_on: String,
}

impl Node {
    /// Records that the entry (`national_id`, `position`) of an approved version was used:
    /// the person was elected or appointed by decision `decision_number` of `decided_on`.
    /// Answers the fulfilment (the one already held, if the same decision was recorded
    /// before). The live findings of the unit × term are re-checked (R2).
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is an approver of this node's unit or a clerk of the
    /// plan's unit, or if the plan's unit lies outside this node's subtree;
    /// [`Error::Invalid`] on `national_id` (not 12 digits), `decision_number` (empty or too
    /// long), `decided_on` (not a date, or after today), `post` (unknown, or neither the planned
    /// post nor one of the same kind and grade); [`Error::NotFound`] on `plan` when no such
    /// version (or no approved one, for version 0) is held, on `entry` when the version does
    /// not list the person for `position`; [`Error::Precondition`] on `plan` when the version
    /// is not approved, on `entry` when it was already fulfilled by another decision;
    /// [`Error::Store`] if storage fails.
    pub async fn fulfil(&self, who: &Caller, req: FulfilRequest) -> Result<Fulfilment> {
        // What is used as given; the rest is checked into its own form below.
        let (plan, national_id, position, kind) =
            (req.plan, req.national_id, req.position, req.kind);
        self.subtree_unit("plan.unit", &plan.unit)?;
        self.known_term("plan.term", &plan.term)?;
        if who.require_approver_at(&self.unit.code).is_err() {
            who.require_clerk_of(&plan.unit)?;
        }
        validate_national_id("national_id", &national_id)?;
        let decision_number = clean_text("decision_number", &req.decision_number)?;
        let decided_on: NaiveDate = parse_date("decided_on", &req.decided_on)?;
        let today = self.today();
        if decided_on > today {
            return Err(Error::invalid(
                "decided_on",
                format!("{decided_on} is after today ({today}): record a decision once it is made"),
            ));
        }
        let catalog = self.catalog();
        let post = match req.post.trim() {
            "" => position.clone(),
            post => post.to_string(),
        };
        let planned = catalog.position(&position);
        match (catalog.position(&post), planned) {
            (None, _) => {
                return Err(Error::invalid(
                    "post",
                    format!(
                        "unknown position code {}",
                        crate::domain::validate::prefix(&post)
                    ),
                ))
            }
            (Some(p), Some(q)) if post == position || (p.kind == q.kind && p.grade == q.grade) => {}
            (Some(_), _) => {
                return Err(Error::invalid(
                    "post",
                    format!(
                        "{post} is neither the planned post {} nor an equivalent one (same kind and grade); a planned entry is fulfilled only by the post or an equivalent one",
                        crate::domain::validate::prefix(&position)
                    ),
                ))
            }
        }
        self.view_settled().await?;
        let held = self.fulfilled_version(&plan)?;
        if held.status != PlanStatus::Approved {
            return Err(Error::precondition(
                "plan",
                format!(
                    "{} is {}, not approved: only an entry of an approved plan is fulfilled",
                    held.id,
                    held.status.as_str()
                ),
            ));
        }
        if !held
            .entries
            .iter()
            .any(|e| e.cadre.national_id == national_id && e.position == position)
        {
            return Err(Error::not_found(
                "entry",
                format!(
                    "{} does not plan CCCD {} for {}",
                    held.id,
                    crate::domain::validate::mask_id(&national_id),
                    crate::domain::validate::prefix(&position)
                ),
            ));
        }
        let key = fulfilment_key(&held.id.unit, &held.id.term, &national_id, &position);
        let guard = self.lock().await;
        if let Some(before) = self.store.document(&key)? {
            let before: Option<Fulfilment> = serde_json::from_value(before).ok();
            if let Some(before) = before {
                if before.decision_number == decision_number
                    && before.decided_on == decided_on
                    && before.kind == kind
                    && before.post == post
                {
                    return Ok(before);
                }
                return Err(Error::precondition(
                    "entry",
                    format!(
                        "this entry was already fulfilled ({}) by decision {} of {}",
                        before.kind.as_str(),
                        before.decision_number,
                        before.decided_on
                    ),
                ));
            }
        }
        let fulfilment = Fulfilment {
            plan: held.id.clone(),
            national_id,
            position,
            kind,
            post,
            decision_number,
            decided_on,
            recorded_by: who.label(),
            recorded_at: self.now(),
        };
        let value = serde_json::to_value(&fulfilment).expect("fulfilments serialize");
        let event = Event::new("fulfil", Some(&held.id)).by(who).detail(format!(
            "{} {} for {} ({}): decision {} of {}",
            fulfilment.kind.as_str(),
            crate::domain::validate::mask_id(&fulfilment.national_id),
            fulfilment.position,
            fulfilment.post,
            fulfilment.decision_number,
            fulfilment.decided_on
        ));
        self.commit(guard, event, vec![Change::SetDocument(key, value)])
            .await?;
        self.fulfilled
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(fulfilment.clone());
        if self.runs_checks() {
            if let Some(current) = self.current_version(&held.id.unit, &held.id.term) {
                self.queue_recheck(Recheck::Plan {
                    id: current,
                    also: Default::default(),
                    why: format!("fulfil {}", held.id),
                });
            }
        }
        Ok(fulfilment)
    }

    /// The fulfilments recorded here for the entries of `national_id` in units `who` may read.
    pub fn fulfilments_of(&self, who: &Caller, national_id: &str) -> Vec<Fulfilment> {
        self.fulfilled
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|f| f.national_id == national_id && who.may_read(&self.hierarchy, &f.plan.unit))
            .cloned()
            .collect()
    }

    /// The version a fulfilment names, from the view (version 0: the latest approved one).
    fn fulfilled_version(&self, id: &PlanId) -> Result<crate::domain::Plan> {
        if id.version == 0 {
            let view = self.view.read().unwrap_or_else(|e| e.into_inner());
            return view
                .plans()
                .iter()
                .filter(|p| {
                    p.id.unit == id.unit && p.id.term == id.term && p.status == PlanStatus::Approved
                })
                .max_by_key(|p| p.id.version)
                .cloned()
                .ok_or_else(|| {
                    Error::not_found(
                        "plan",
                        format!("no approved version of {}/{} here", id.unit, id.term),
                    )
                });
        }
        self.store
            .plan(id)?
            .ok_or_else(|| Error::not_found("plan", format!("no plan version {id} here")))
    }

    /// The current (highest) version of a unit × term in the view.
    fn current_version(&self, unit: &str, term: &str) -> Option<PlanId> {
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        view.plans()
            .iter()
            .filter(|p| p.id.unit == unit && p.id.term == term)
            .map(|p| p.id.clone())
            .max_by_key(|id| id.version)
    }
}
