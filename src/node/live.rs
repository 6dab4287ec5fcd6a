//! Live findings: what the rules find in the view, kept current after every durable change to a
//! plan (an arrival, a decision, an edit) by re-checking only what the change touches, and
//! rebuilt whole at start and when the day changes (deadlines and ages move with the day).
//! `Check(stored=true)`, the approval gate and returns citing findings read them. Each change
//! to the set (a finding appearing or clearing, and why) is written to the finding's history
//! in the store, for the audit.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{checks::finding_id, Node};
use crate::{
    domain::PlanId,
    error::Result,
    rules::{self, Finding, Scope, Snapshot, CROSS_PERSON_RULES},
    store::Change,
};

/// Something that asks for the live findings to be brought up to date.
#[derive(Debug, Clone)]
pub(crate) enum Recheck {
    /// Everything (at start, and when the day or the reference data changes).
    Full { why: String },
    /// What one unit × term touches: its current version `id`, and the persons its replaced
    /// version listed.
    Plan {
        id: PlanId,
        also: HashSet<String>,
        why: String,
    },
}

/// The live set.
#[derive(Debug, Default)]
pub(crate) struct Live {
    /// Every finding by its stable ID.
    pub findings: HashMap<String, Finding>,
    /// The day the set was computed for; none before the first full check.
    pub day: Option<NaiveDate>,
}

/// One change in a finding's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingEvent {
    /// When it changed.
    pub at: DateTime<Utc>,
    /// "appeared" or "cleared".
    pub change: String,
    /// What caused it: the action and plan that triggered the re-check.
    pub why: String,
}

/// A finding's history as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindingHistory {
    /// The finding.
    pub finding: Finding,
    /// Its changes, oldest first.
    pub events: Vec<FindingEvent>,
}

fn history_key(id: &str) -> String {
    format!("finding-log/{id}")
}

/// Returns true if and only if a re-check of `id` (whose unit × term's versions list
/// `persons`) recomputes `f`.
fn recomputed_by(f: &Finding, id: &PlanId, persons: &HashSet<&str>) -> bool {
    f.plans
        .iter()
        .any(|p| p.unit == id.unit && p.term == id.term)
        || (CROSS_PERSON_RULES.contains(&f.rule) && f.national_ids().any(|n| persons.contains(n)))
}

impl Node {
    /// Queues a re-check of the live findings.
    pub(crate) fn queue_recheck(&self, item: Recheck) {
        let mut queue = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        queue.push(item);
        self.rechecks_queued
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        drop(queue);
        self.arrival_wake.notify_one();
    }

    /// Waits until every re-check queued so far has been applied, so that the live findings
    /// reflect every change acknowledged before this call. A new day first queues a full
    /// re-check.
    pub(crate) async fn wait_live(&self) -> Result<()> {
        self.view_settled().await?;
        if !self.runs_checks() {
            return Ok(());
        }
        let today = self.today();
        let stale = self.live.read().unwrap_or_else(|e| e.into_inner()).day != Some(today);
        let queued = self
            .rechecks_queued
            .load(std::sync::atomic::Ordering::Acquire);
        if stale && queued == *self.rechecks_done.borrow() {
            self.queue_recheck(Recheck::Full {
                why: format!("day changed to {today}"),
            });
        }
        let target = self
            .rechecks_queued
            .load(std::sync::atomic::Ordering::Acquire);
        let mut rx = self.rechecks_done.subscribe();
        let _ = rx.wait_for(|done| *done >= target).await;
        Ok(())
    }

    /// Applies a batch of re-checks to the live set; returns the history events to record.
    pub(crate) fn apply_rechecks(&self, batch: &[Recheck]) -> Vec<(String, Finding, FindingEvent)> {
        let reference = self.reference();
        let today = self.today();
        let now = self.now();
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        let submitted = view.submitted(&self.unit.code);
        let snapshot = Snapshot {
            plans: view.plans(),
            hierarchy: &self.hierarchy,
            catalog: &reference.catalog,
            submitted: &submitted,
        };
        let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
        let mut events = Vec::new();
        let full = batch.iter().find_map(|r| match r {
            Recheck::Full { why } => Some(why.clone()),
            Recheck::Plan { .. } => None,
        });
        let full =
            full.or_else(|| (live.day != Some(today)).then(|| format!("day changed to {today}")));
        if let Some(why) = full {
            let report = rules::check(&snapshot, &Scope::default(), today, &reference.rules);
            let fresh: HashMap<String, Finding> = report
                .findings
                .into_iter()
                .map(|f| (finding_id(&f), f))
                .collect();
            diff(&live.findings, &fresh, &why, now, &mut events);
            live.findings = fresh;
            live.day = Some(today);
            return events;
        }
        for item in batch {
            let Recheck::Plan { id, also, why } = item else {
                continue;
            };
            // Only the plans the re-check reads (see `View::related`).
            let related = view.related(id, also);
            let snapshot = Snapshot {
                plans: &related,
                ..snapshot
            };
            let also_refs: HashSet<&str> = also.iter().map(String::as_str).collect();
            let mut persons = rules::touched_persons(&snapshot, id);
            persons.extend(also_refs.iter().copied());
            let report = rules::check_incremental_with(
                &snapshot,
                id,
                &also_refs,
                &Scope::default(),
                today,
                &reference.rules,
            );
            let before: HashMap<String, Finding> = live
                .findings
                .iter()
                .filter(|(_, f)| recomputed_by(f, id, &persons))
                .map(|(k, f)| (k.clone(), f.clone()))
                .collect();
            let after: HashMap<String, Finding> = report
                .findings
                .into_iter()
                .map(|f| (finding_id(&f), f))
                .collect();
            diff(&before, &after, why, now, &mut events);
            for k in before.keys() {
                live.findings.remove(k);
            }
            live.findings.extend(after);
        }
        events
    }

    /// The live findings whose plans include `id`, and whether the set has been computed.
    pub(crate) fn live_for(&self, id: &PlanId) -> Vec<Finding> {
        let live = self.live.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Finding> = live
            .findings
            .values()
            .filter(|f| f.plans.contains(id))
            .cloned()
            .collect();
        out = rules::Report::new(out).findings;
        out
    }

    /// Every live finding that `keep` accepts, in report order.
    pub(crate) fn live_where(&self, keep: impl Fn(&Finding) -> bool) -> Vec<Finding> {
        let live = self.live.read().unwrap_or_else(|e| e.into_inner());
        let out: Vec<Finding> = live
            .findings
            .values()
            .filter(|f| keep(f))
            .cloned()
            .collect();
        rules::Report::new(out).findings
    }

    /// Writes history events to the store, each appended to its finding's record.
    pub(crate) async fn record_history(
        &self,
        events: Vec<(String, Finding, FindingEvent)>,
    ) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut records: HashMap<String, FindingHistory> = HashMap::new();
        for (id, finding, event) in events {
            let record = match records.entry(id.clone()) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let stored = self
                        .store
                        .document(&history_key(&id))?
                        .and_then(|d| serde_json::from_value::<FindingHistory>(d).ok());
                    v.insert(stored.unwrap_or(FindingHistory {
                        finding: finding.clone(),
                        events: Vec::new(),
                    }))
                }
            };
            record.finding = finding;
            record.events.push(event);
        }
        let n = records.len();
        let changes = records
            .into_iter()
            .map(|(id, r)| {
                Change::SetDocument(
                    history_key(&id),
                    serde_json::to_value(&r).expect("histories serialize"),
                )
            })
            .collect();
        // Derived from the plans, whose every change is in the audit trail already: the history
        // is written beside it, not as audit records of its own.
        let ticket = self.store.commit(changes)?;
        tracing::debug!(findings = n, "finding history recorded");
        self.store.wait_durable(ticket).await?;
        Ok(())
    }

    /// The recorded history of one finding.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    pub fn finding_history(&self, id: &str) -> Result<Option<FindingHistory>> {
        Ok(self
            .store
            .document(&history_key(id))?
            .and_then(|d| serde_json::from_value(d).ok()))
    }

    /// The findings whose history says they are open, for the diff at start.
    pub(crate) fn open_in_history(&self) -> Result<HashMap<String, Finding>> {
        let mut out = HashMap::new();
        for (key, value) in self.store.documents("finding-log/")? {
            let Ok(h) = serde_json::from_value::<FindingHistory>(value) else {
                continue;
            };
            if h.events.last().is_some_and(|e| e.change == "appeared") {
                out.insert(key["finding-log/".len()..].to_string(), h.finding);
            }
        }
        Ok(out)
    }
}

fn diff(
    before: &HashMap<String, Finding>,
    after: &HashMap<String, Finding>,
    why: &str,
    at: DateTime<Utc>,
    out: &mut Vec<(String, Finding, FindingEvent)>,
) {
    for (k, f) in before {
        if !after.contains_key(k) {
            out.push((
                k.clone(),
                f.clone(),
                FindingEvent {
                    at,
                    change: "cleared".into(),
                    why: why.to_string(),
                },
            ));
        }
    }
    for (k, f) in after {
        if !before.contains_key(k) {
            out.push((
                k.clone(),
                f.clone(),
                FindingEvent {
                    at,
                    change: "appeared".into(),
                    why: why.to_string(),
                },
            ));
        }
    }
}
