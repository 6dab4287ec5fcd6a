//! The consistency checks (rules R1–R26) as a node runs them over what it holds: on demand over
//! a subtree, automatically (and incrementally) at the province for every plan it receives, and
//! before the province approves a plan: errors block approval, warnings must be accepted with a
//! written justification, which is kept with who accepted it and when. Also the completeness
//! report: units that have not submitted, and appraisals that are overdue (R17).

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Event, Node};
use crate::{
    auth::Caller,
    domain::{Level, PlanId},
    error::{Error, Result},
    rules::{self, Finding, RuleId, Scope, Severity},
    store::Change,
};

/// Which findings to report.
#[derive(Debug, Clone, Default)]
pub struct CheckFilter {
    /// Root of the unit subtree; empty means this node's unit.
    pub under: String,
    /// Only plans for this term, if given.
    pub term: Option<String>,
    /// Only these rules; empty means all.
    pub rules: Vec<RuleId>,
    /// Only findings of this severity, if given.
    pub severity: Option<Severity>,
    /// Only what this plan version touches (an incremental check).
    pub plan: Option<PlanId>,
}

/// A written acceptance of a warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    /// Why the warning is accepted, in the official's words.
    pub justification: String,
    /// Who accepted it: the official named in the request, at this node's unit.
    pub by: String,
    /// When it was accepted.
    pub at: DateTime<Utc>,
}

/// A finding with its stable ID and, for a warning, its acceptance.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedFinding {
    /// Stable across runs as long as the finding is the same: cite it in a return, name it to
    /// accept it.
    pub id: String,
    /// The finding as the rules produced it.
    pub finding: Finding,
    /// Its written acceptance, if it is a warning someone accepted.
    pub acceptance: Option<Acceptance>,
    /// The old provinces its plans come from, sorted, when it is an R2, R3 or R21 finding
    /// between plans of different provinces merged into this one (`quyhoach merge`): a
    /// collision the merger made, to re-plan, not an error of either list. Empty otherwise.
    pub merger: Vec<String>,
}

/// What a check reports.
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    /// The findings, each with its stable ID and any acceptance.
    pub findings: Vec<CheckedFinding>,
    /// Entries in the snapshot checked.
    pub entries: usize,
    /// How long the rules took, in microseconds (loading excluded).
    pub micros: u64,
}

/// What is missing or late within a subtree for one term.
#[derive(Debug, Clone)]
pub struct Completeness {
    /// Units of the subtree with no submitted plan for the term here.
    pub missing: Vec<String>,
    /// R17 findings: received plans whose appraisal is overdue.
    pub overdue: Vec<CheckedFinding>,
    /// Where the plan of every unit of the subtree stands.
    pub units: Vec<super::UnitProgress>,
}

/// The stable ID of a finding: a short hash of what identifies it.
pub fn finding_id(f: &Finding) -> String {
    let mut h = blake3::Hasher::new();
    h.update(f.rule.as_str().as_bytes());
    for part in f.units.iter().chain(&f.positions).chain(&f.terms) {
        h.update(b"\0");
        h.update(part.as_bytes());
    }
    for id in f.national_ids() {
        h.update(b"\x01");
        h.update(id.as_bytes());
    }
    for p in &f.plans {
        h.update(format!("\x02{p}").as_bytes());
    }
    h.finalize().to_hex()[..12].to_string()
}

fn acceptance_key(id: &PlanId, finding: &str) -> String {
    format!("{ACCEPTANCES}{id}/{finding}")
}

/// Where acceptances are kept in the store.
const ACCEPTANCES: &str = "accept/";

/// Every acceptance the store holds, by key (read once, at start).
pub(super) fn stored_acceptances(
    store: &dyn crate::store::Store,
) -> crate::store::Result<std::collections::HashMap<String, Acceptance>> {
    Ok(store
        .documents(ACCEPTANCES)?
        .into_iter()
        .filter_map(|(k, v)| Some((k, serde_json::from_value(v).ok()?)))
        .collect())
}

impl Node {
    /// A full check of every plan the view holds, with the copies their owners submitted
    /// (R22): the one place the node builds a snapshot of the whole view. Returns the report,
    /// the rules' time in µs and the number of entries checked.
    pub(crate) fn check_view(
        &self,
        reference: &super::reference::Reference,
        scope: &Scope,
        today: chrono::NaiveDate,
    ) -> (rules::Report, u64, usize) {
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        let submitted = view.submitted(&self.unit.code);
        let fulfilled = self.fulfilled.read().unwrap_or_else(|e| e.into_inner());
        let at = self.setting(reference, today, &fulfilled);
        let snapshot = at.snapshot(view.plans(), &submitted);
        let started = Instant::now();
        let report = rules::check(&snapshot, scope, today, &reference.rules);
        (report, started.elapsed().as_micros() as u64, view.entries())
    }

    /// Returns true if and only if this node runs the automatic checks and gates its
    /// approvals on them: the province, the one node that sees every list.
    pub fn runs_checks(&self) -> bool {
        self.unit.level == Level::Province
    }

    /// Runs the rules over everything this node holds and reports the findings in `filter`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the subtree root, the term or the plan named is unknown here;
    /// [`Error::Denied`] if the root lies outside this node's subtree; [`Error::Store`] if
    /// storage fails.
    pub async fn check(&self, who: &Caller, filter: &CheckFilter) -> Result<CheckOutcome> {
        let root = self.scope(who, &filter.under)?;
        if let Some(id) = &filter.plan {
            who.require_read(&self.hierarchy, "plan.unit", &id.unit)?;
        }
        self.check_within(root, filter).await
    }

    /// [`Node::check`] below `root`, a subtree already scoped for the caller (`filter.under`
    /// is not read): for the operations that check on a caller's behalf.
    pub(crate) async fn check_within(
        &self,
        root: String,
        filter: &CheckFilter,
    ) -> Result<CheckOutcome> {
        if let Some(term) = &filter.term {
            self.known_term("term", term)?;
        }
        if let Some(id) = &filter.plan {
            if self.store.header(id)?.is_none() {
                return Err(Error::not_found(
                    "plan",
                    format!("no plan version {id} here"),
                ));
            }
        }
        self.view_settled().await?;
        let reference = self.reference();
        let scope = Scope {
            unit: Some(root),
            term: filter.term.clone(),
            rules: filter.rules.clone(),
            severity: filter.severity,
        };
        let today = self.today();
        let (report, micros, entries) = match &filter.plan {
            // An incremental check reads only the plans related to the one named (see
            // `View::related`), which it moves out of the view for its time.
            Some(id) => {
                let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
                let entries = view.entries();
                let submitted = view.submitted_for(id, &self.unit.code);
                let related = view.related(id, &Default::default(), &reference.rules);
                let fulfilled = self.fulfilled.read().unwrap_or_else(|e| e.into_inner());
                let at = self.setting(&reference, today, &fulfilled);
                let snapshot = at.snapshot(related.plans(), &submitted);
                let started = Instant::now();
                let report =
                    rules::check_incremental(&snapshot, id, &scope, today, &reference.rules);
                (report, started.elapsed().as_micros() as u64, entries)
            }
            None => self.check_view(&reference, &scope, today),
        };
        let kind = if filter.plan.is_some() {
            "incremental"
        } else {
            "full"
        };
        metrics::histogram!("quyhoach_check_duration_seconds", "unit" => self.unit.code.clone(), "kind" => kind)
            .record(micros as f64 / 1e6);
        let findings = report
            .findings
            .into_iter()
            .map(|finding| self.with_acceptance(finding))
            .collect::<Result<Vec<_>>>()?;
        if filter.plan.is_none() {
            super::status::log_memory("full check");
        }
        Ok(CheckOutcome {
            findings,
            entries,
            micros,
        })
    }

    pub(super) fn with_acceptance(&self, finding: Finding) -> Result<CheckedFinding> {
        let id = finding_id(&finding);
        let mut acceptance = None;
        if finding.severity == Severity::Warning {
            let held = self.acceptances.read().unwrap_or_else(|e| e.into_inner());
            acceptance = finding
                .plans
                .iter()
                .find_map(|plan| held.get(&acceptance_key(plan, &id)))
                .cloned();
        }
        let merger = self.merger_of(&finding);
        Ok(CheckedFinding {
            id,
            finding,
            acceptance,
            merger,
        })
    }

    /// The old provinces `finding` joins, if it is a collision the merger of provinces made
    /// ([`super::merge::merger_tag`]); empty when this store holds no merged province.
    pub(crate) fn merger_of(&self, finding: &Finding) -> Vec<String> {
        if self.merged.is_empty() {
            return Vec::new();
        }
        super::merge::merger_tag(finding, &|unit| {
            self.merged
                .get(unit)
                .cloned()
                .or_else(|| super::merge::origin_province(&self.hierarchy, unit))
                .unwrap_or_else(|| self.unit.code.clone())
        })
    }

    /// The findings that concern one plan version: the live ones at the province (current
    /// with every change acknowledged so far), a fresh check elsewhere.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the plan version is not held here; [`Error::Store`] if storage
    /// fails.
    pub async fn plan_findings(&self, id: &PlanId) -> Result<Vec<CheckedFinding>> {
        if self.runs_checks() {
            if self.store.header(id)?.is_none() {
                return Err(Error::not_found(
                    "plan",
                    format!("no plan version {id} here"),
                ));
            }
            self.wait_live().await?;
            return self
                .live_for(id)
                .into_iter()
                .map(|f| self.with_acceptance(f))
                .collect();
        }
        let outcome = self
            .check_within(
                self.scope_root(&self.unit.code)?,
                &CheckFilter {
                    plan: Some(id.clone()),
                    ..CheckFilter::default()
                },
            )
            .await?;
        Ok(outcome
            .findings
            .into_iter()
            .filter(|f| f.finding.plans.contains(id))
            .collect())
    }

    /// The findings that name the person with `national_id`, within the subtree `under` (empty:
    /// this node's), with their acceptances: from the live findings on a node that keeps them
    /// (the province), so that looking a person up does not run a check; otherwise from a full
    /// check of the subtree.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown subtree root; the store's errors from the check.
    pub async fn findings_naming(
        &self,
        who: &Caller,
        under: &str,
        national_id: &str,
    ) -> Result<Vec<CheckedFinding>> {
        let root = self.scope(who, under)?;
        if self.runs_checks() {
            self.wait_live().await?;
            let scope = Scope {
                unit: Some(root),
                ..Scope::default()
            };
            return self
                .live_where(|f| {
                    f.national_ids().any(|i| i == national_id) && scope.contains(f, &self.hierarchy)
                })
                .into_iter()
                .map(|f| self.with_acceptance(f))
                .collect();
        }
        let outcome = self.check_within(root, &CheckFilter::default()).await?;
        Ok(outcome
            .findings
            .into_iter()
            .filter(|f| f.finding.national_ids().any(|i| i == national_id))
            .collect())
    }

    /// The live findings of one plan version (`filter.plan`), within every other filter, with
    /// their acceptances: what `Check(stored=true)` answers.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] without a plan; [`Error::NotFound`] for a plan version, unit or term
    /// not held here, or a subtree root that is unknown.
    pub async fn stored_check(
        &self,
        who: &Caller,
        filter: &CheckFilter,
    ) -> Result<Vec<CheckedFinding>> {
        let root = self.scope(who, &filter.under)?;
        let Some(id) = &filter.plan else {
            return Err(Error::invalid("stored", "needs a plan"));
        };
        who.require_read(&self.hierarchy, "plan.unit", &id.unit)?;
        if let Some(term) = &filter.term {
            self.known_term("term", term)?;
        }
        let found = self.plan_findings(id).await?;
        let scope = Scope {
            unit: Some(root),
            term: filter.term.clone(),
            rules: filter.rules.clone(),
            severity: filter.severity,
        };
        Ok(found
            .into_iter()
            .filter(|f| scope.contains(&f.finding, &self.hierarchy))
            .collect())
    }

    /// The province's re-checks: whenever plans have changed, brings the live findings up to
    /// date, then records what appeared and cleared. Changes that come while a batch runs wait
    /// for the next one. Runs until the task is aborted.
    pub async fn run_arrival_checks(self: std::sync::Arc<Self>) {
        loop {
            let batch =
                std::mem::take(&mut *self.arrivals.lock().unwrap_or_else(|e| e.into_inner()));
            if batch.is_empty() {
                self.arrival_wake.notified().await;
                continue;
            }
            let n = batch.len() as u64;
            let started = Instant::now();
            // Run here rather than on a blocking thread, so that nothing holds the node (and
            // its store) once this task is aborted at shutdown.
            let events = self.apply_rechecks(&batch);
            metrics::histogram!("quyhoach_check_duration_seconds", "unit" => self.unit.code.clone(), "kind" => "live")
                .record(started.elapsed().as_secs_f64());
            tracing::info!(
                rechecks = n,
                changed = events.len(),
                "live findings updated"
            );
            super::status::log_memory("live findings updated");
            // The history is written by this task alone, without the write lock (an approval
            // holding it may be waiting for the next batch). The batch counts as done once its
            // history is written (or refused), so that whoever waits for the live findings
            // (`wait_live`) finds the node quiet: no write of this batch still under way.
            if let Err(e) = self.record_history(events).await {
                tracing::error!(error = %e, "finding history not recorded");
            }
            super::status::log_memory("finding history recorded");
            self.rechecks_done.send_modify(|done| *done += n);
        }
    }

    /// Accepts a warning on a plan version with a written justification.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is an approver of this node's unit;
    /// [`Error::Invalid`] if the justification or the name is empty, too long or holds control
    /// characters; [`Error::NotFound`] if the plan version is not held here or has no such
    /// finding now; [`Error::Precondition`] if the finding is an error, not a warning;
    /// [`Error::Store`] if storage fails.
    pub async fn accept_warning(
        &self,
        who: &Caller,
        id: &PlanId,
        finding: &str,
        justification: &str,
        by: &str,
    ) -> Result<Acceptance> {
        who.require_approver_at(&self.unit.code)?;
        let justification = crate::domain::plan::clean_text_max(
            "justification",
            justification,
            crate::domain::plan::MAX_PROSE,
        )?;
        let by = crate::domain::plan::clean_text("accepted_by", by)?;
        let found = self.plan_findings(id).await?;
        let Some(f) = found.iter().find(|f| f.id == finding) else {
            return Err(Error::not_found(
                "finding",
                format!(
                    "{id} has no finding {finding:?} now (it has {})",
                    ids(&found)
                ),
            ));
        };
        if f.finding.severity != Severity::Warning {
            return Err(Error::precondition(
                "finding",
                format!(
                    "{finding} is an error ({}); errors cannot be accepted, only corrected",
                    f.finding.rule
                ),
            ));
        }
        let acceptance = Acceptance {
            justification,
            by: format!("{by} ({})", self.unit.code),
            at: self.now(),
        };
        let value = serde_json::to_value(&acceptance).expect("acceptances serialize");
        let guard = self.lock().await;
        let event = Event::new("accept_warning", Some(id))
            .detail(format!("{finding}: {}", acceptance.justification))
            .by(who);
        let key = acceptance_key(id, finding);
        self.commit(guard, event, vec![Change::SetDocument(key.clone(), value)])
            .await?;
        self.acceptances
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, acceptance.clone());
        Ok(acceptance)
    }

    /// Refuses an approval the province's checks do not allow: any error, or any warning not
    /// accepted in writing.
    pub(super) async fn gate_approval(&self, id: &PlanId) -> Result<()> {
        if !self.runs_checks() {
            return Ok(());
        }
        let found = self.plan_findings(id).await?;
        let refuse = |why: String| Err(Error::precondition("plan", format!("{id} {why}")));
        let errors: Vec<String> = found
            .iter()
            .filter(|f| f.finding.severity == Severity::Error)
            .map(|f| format!("{} {} ({})", f.finding.rule, f.finding.message_en, f.id))
            .collect();
        if !errors.is_empty() {
            return refuse(format!(
                "cannot be approved while it has errors: {}",
                errors.join("; ")
            ));
        }
        let open: Vec<String> = found
            .iter()
            .filter(|f| f.finding.severity == Severity::Warning && f.acceptance.is_none())
            .map(|f| format!("{} ({})", f.finding.rule, f.id))
            .collect();
        if !open.is_empty() {
            return refuse(format!(
                "has warnings not yet accepted with a justification: {}",
                open.join(", ")
            ));
        }
        Ok(())
    }

    /// The reasons of a return that cites findings by ID: each cited finding's rule and message.
    pub(super) async fn cited_reasons(&self, id: &PlanId, cite: &[String]) -> Result<Vec<String>> {
        if cite.is_empty() {
            return Ok(Vec::new());
        }
        let found = self.plan_findings(id).await?;
        cite.iter()
            .enumerate()
            .map(|(i, c)| {
                found
                    .iter()
                    .find(|f| &f.id == c)
                    .map(|f| format!("[{} {}] {}", f.finding.rule, f.id, f.finding.message_vi))
                    .ok_or_else(|| {
                        Error::not_found(
                            &format!("cite_findings[{i}]"),
                            format!("{id} has no finding {c:?} (it has {})", ids(&found)),
                        )
                    })
            })
            .collect()
    }

    /// Where each unit of the subtree stands for `term`, the units without a submitted plan,
    /// and overdue appraisals.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the subtree root or the term is unknown; [`Error::Denied`] if the
    /// root lies outside this node's subtree; [`Error::Store`] if storage fails.
    pub async fn completeness(
        &self,
        who: &Caller,
        under: &str,
        term: &str,
    ) -> Result<Completeness> {
        let root = self.scope(who, under)?;
        self.known_term("term", term)?;
        let units = self.progress(&root, term).await?;
        let missing = units
            .iter()
            .filter(|u| u.progress.is_missing())
            .map(|u| u.unit.clone())
            .collect();
        let scope = Scope {
            unit: Some(root.clone()),
            term: Some(term.to_string()),
            rules: vec![RuleId::R17],
            severity: None,
        };
        let overdue = if self.runs_checks() {
            self.live_where(|f| scope.contains(f, &self.hierarchy))
                .into_iter()
                .map(|f| self.with_acceptance(f))
                .collect::<Result<Vec<_>>>()?
        } else {
            self.check_within(
                root,
                &CheckFilter {
                    term: Some(term.to_string()),
                    rules: vec![RuleId::R17],
                    ..CheckFilter::default()
                },
            )
            .await?
            .findings
        };
        Ok(Completeness {
            missing,
            overdue,
            units,
        })
    }
}

fn ids(found: &[CheckedFinding]) -> String {
    if found.is_empty() {
        return "none".into();
    }
    found
        .iter()
        .map(|f| format!("{} {}", f.finding.rule, f.id))
        .collect::<Vec<_>>()
        .join(", ")
}
