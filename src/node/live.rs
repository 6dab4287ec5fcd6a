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
use crate::view::View;
use crate::{
    domain::{Catalog, Hierarchy, Level, Plan, PlanId},
    error::Result,
    rules::{self, Finding, RulesFile, Scope, Snapshot, SubmittedCopy, CROSS_PERSON_RULES},
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

/// How many finding histories one transaction writes (see [`Node::record_history`]).
const HISTORY_PART: usize = 256;

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

    /// Waits until every re-check queued so far has been applied and its finding history
    /// written (or refused), so that the live findings reflect every change acknowledged
    /// before this call. A new day first queues a full re-check.
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
        let mut events = Vec::new();
        let full = batch.iter().find_map(|r| match r {
            Recheck::Full { why } => Some(why.clone()),
            Recheck::Plan { .. } => None,
        });
        let stale = self.live.read().unwrap_or_else(|e| e.into_inner()).day != Some(today);
        let full = full.or_else(|| stale.then(|| format!("day changed to {today}")));
        if let Some(why) = full {
            let (report, _, _) = self.check_view(&reference, &Scope::default(), today);
            let fresh: HashMap<String, Finding> = report
                .findings
                .into_iter()
                .map(|f| (finding_id(&f), f))
                .collect();
            let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
            diff(&live.findings, &fresh, &why, now, &mut events);
            live.findings = fresh;
            live.day = Some(today);
            return events;
        }
        for item in batch {
            let Recheck::Plan { id, also, why } = item else {
                continue;
            };
            // An incremental re-check moves the plan out of the view for its time (see
            // `View::related`), so it holds the view's write lock; one re-check at a time, so
            // that queries run between them.
            let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
            let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
            let fulfilled = self.fulfilled.read().unwrap_or_else(|e| e.into_inner());
            let (before, after) = recheck_plan(
                &mut view,
                &mut live.findings,
                id,
                also,
                &self.setting(&reference, today, &fulfilled),
            );
            diff(&before, &after, why, now, &mut events);
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
        let records: Vec<(String, FindingHistory)> = records.into_iter().collect();
        // Derived from the plans, whose every change is in the audit trail already: the history
        // is written beside it, not as audit records of its own. Written in parts, each a
        // transaction of its own: the first full check of a province at L makes 7,365 records
        // at once, and as one transaction of JSON values they took 84 MiB of the node's peak
        // (issue 26). A part lost in a crash is not lost for good: at start the open findings
        // of the history are diffed against a full check, which records what is missing.
        let mut ticket = None;
        for part in records.chunks(HISTORY_PART) {
            let changes = part
                .iter()
                .map(|(id, r)| {
                    Change::SetDocument(
                        history_key(id),
                        serde_json::to_value(r).expect("histories serialize"),
                    )
                })
                .collect();
            ticket = Some(self.store.commit(changes)?);
        }
        tracing::debug!(findings = n, "finding history recorded");
        if let Some(ticket) = ticket {
            // Everything committed up to the last part.
            self.store.wait_durable(ticket).await?;
        }
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

/// What a re-check is run against, besides the view.
pub(crate) struct Setting<'a> {
    pub hierarchy: &'a Hierarchy,
    pub catalog: &'a Catalog,
    pub rules: &'a RulesFile,
    pub today: NaiveDate,
    /// The node's own unit (its own plans attest nothing, R22).
    pub own: &'a str,
    /// The entries fulfilled here (R2).
    pub fulfilled: &'a [crate::domain::Fulfilment],
}

impl<'a> Setting<'a> {
    /// The snapshot the rules read: `plans` and the copies their owners `submitted` (R22),
    /// with this setting's units, catalogue and fulfilled entries.
    pub(crate) fn snapshot<'s>(
        &'s self,
        plans: &'s [Plan],
        submitted: &'s [SubmittedCopy],
    ) -> Snapshot<'s> {
        Snapshot {
            plans,
            hierarchy: self.hierarchy,
            catalog: self.catalog,
            submitted,
            fulfilled: self.fulfilled,
        }
    }
}

impl Node {
    /// What the rules run against on this node: its units and own unit, `reference`'s
    /// catalogue and parameters, `today`, and `fulfilled`, the entries fulfilled here (the
    /// caller holds their lock for the setting's time).
    pub(crate) fn setting<'a>(
        &'a self,
        reference: &'a super::reference::Reference,
        today: NaiveDate,
        fulfilled: &'a [crate::domain::Fulfilment],
    ) -> Setting<'a> {
        Setting {
            hierarchy: &self.hierarchy,
            catalog: &reference.catalog,
            rules: &reference.rules,
            today,
            own: &self.unit.code,
            fulfilled,
        }
    }
}

/// Brings `findings` up to date after a change to `id`'s unit × term (whose replaced version
/// listed `also`), re-checking only the plans related to it in the view; returns the findings
/// it recomputed, before and after.
pub(crate) fn recheck_plan(
    view: &mut View,
    findings: &mut HashMap<String, Finding>,
    id: &PlanId,
    also: &HashSet<String>,
    at: &Setting<'_>,
) -> (HashMap<String, Finding>, HashMap<String, Finding>) {
    // R2 across the old provinces' lists (a merger's) counts every province-level list of the
    // term, which the related plans below need not hold: taken before they are moved out.
    let provincial: Vec<Plan> = if at
        .hierarchy
        .get(&id.unit)
        .is_some_and(|u| u.level == Level::Province)
    {
        view.plans()
            .iter()
            .filter(|p| {
                p.id.term == id.term
                    && at
                        .hierarchy
                        .get(&p.id.unit)
                        .is_some_and(|u| u.level == Level::Province)
            })
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let submitted = view.submitted_for(id, at.own);
    let related = view.related(id, also, at.rules);
    let snapshot = at.snapshot(related.plans(), &submitted);
    let also_refs: HashSet<&str> = related.persons().iter().map(String::as_str).collect();
    let mut persons = rules::touched_persons(&snapshot, id);
    persons.extend(also_refs.iter().copied());
    let report = rules::check_incremental_with(
        &snapshot,
        id,
        &also_refs,
        &Scope::default(),
        at.today,
        at.rules,
    );
    let before: HashMap<String, Finding> = findings
        .iter()
        .filter(|(_, f)| recomputed_by(f, id, &persons))
        .map(|(k, f)| (k.clone(), f.clone()))
        .collect();
    let mut after: HashMap<String, Finding> = report
        .findings
        .into_iter()
        .map(|f| (finding_id(&f), f))
        .collect();
    if !provincial.is_empty() {
        let snapshot = at.snapshot(&provincial, &[]);
        // Only the findings naming a list of this unit × term: the others were not
        // recomputed (`recomputed_by`), and did not change.
        after.extend(
            rules::check_r2_across_provinces(&snapshot, at.today, at.rules)
                .findings
                .into_iter()
                .filter(|f| {
                    f.plans
                        .iter()
                        .any(|p| p.unit == id.unit && p.term == id.term)
                })
                .map(|f| (finding_id(&f), f)),
        );
    }
    for k in before.keys() {
        findings.remove(k);
    }
    findings.extend(after.iter().map(|(k, f)| (k.clone(), f.clone())));
    (before, after)
}

fn diff(
    before: &HashMap<String, Finding>,
    after: &HashMap<String, Finding>,
    why: &str,
    at: DateTime<Utc>,
    out: &mut Vec<(String, Finding, FindingEvent)>,
) {
    let only_in = |change: &str, from: &HashMap<String, Finding>, to: &HashMap<String, Finding>| {
        from.iter()
            .filter(|(k, _)| !to.contains_key(*k))
            .map(|(k, f)| {
                let event = FindingEvent {
                    at,
                    change: change.into(),
                    why: why.to_string(),
                };
                (k.clone(), f.clone(), event)
            })
            .collect::<Vec<_>>()
    };
    // A finding only before was cleared; one only after appeared.
    out.extend(only_in("cleared", before, after));
    out.extend(only_in("appeared", after, before));
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::{
        domain::{Plan, PlanHeader, PlanStatus},
        view::ViewChange,
    };

    /// The setting of the synthetic province's own node, "40", on 1 November 2025.
    fn province_40<'a>(
        hierarchy: &'a Hierarchy,
        catalog: &'a Catalog,
        rules: &'a RulesFile,
    ) -> Setting<'a> {
        Setting {
            hierarchy,
            catalog,
            rules,
            today: NaiveDate::from_ymd_opt(2025, 11, 1).unwrap(),
            own: "40",
            fulfilled: &[],
        }
    }

    /// Every finding of a full check of the view, by ID.
    fn full_findings(view: &View, at: &Setting<'_>) -> HashMap<String, Finding> {
        let submitted = view.submitted(at.own);
        rules::check(
            &at.snapshot(view.plans(), &submitted),
            &Scope::default(),
            at.today,
            at.rules,
        )
        .findings
        .into_iter()
        .map(|f| (finding_id(&f), f))
        .collect()
    }

    /// Every finding of a full check, by ID, with its message.
    fn full_check(view: &View, at: &Setting<'_>) -> BTreeMap<String, String> {
        kept(&full_findings(view, at))
    }

    fn kept(live: &HashMap<String, Finding>) -> BTreeMap<String, String> {
        live.iter()
            .map(|(k, f)| (k.clone(), f.message_en.clone()))
            .collect()
    }

    /// Property-style: over a sequence of arrivals of every kind (a plan the province did not
    /// hold, a new version that drops persons and lists persons of other units, with one name
    /// spelled differently, an approved version of a lower plan, a decision on a header), the
    /// live findings kept by re-checking only the related plans equal a full check after each.
    #[test]
    fn live_findings_equal_a_full_check_after_every_arrival() {
        let (hierarchy, catalog, g) = crate::synthetic_province(11, 6_000);
        let rules = RulesFile::default();
        let at = province_40(&hierarchy, &catalog, &rules);
        let (mut held_back, mut first): (Vec<&Plan>, Vec<&Plan>) = (Vec::new(), Vec::new());
        for (i, p) in g.plans.iter().enumerate() {
            if i % 5 == 0 {
                held_back.push(p);
            } else {
                first.push(p);
            }
        }
        let mut view = View::default();
        view.apply(
            first
                .iter()
                .map(|p| ViewChange::Plan((*p).clone()))
                .collect(),
            &rules,
            "40",
        );
        let mut live = full_findings(&view, &at);
        let mut changed_findings = 0;
        for step in 0..16 {
            let change = match step % 4 {
                0 => ViewChange::Plan(held_back[step % held_back.len()].clone()),
                1 => {
                    let base = first[(step * 7) % first.len()];
                    let other = first[(step * 13 + 5) % first.len()];
                    let mut next = view.current(&base.id.unit, &base.id.term).unwrap().clone();
                    next.id.version += 1;
                    next.entries.drain(..next.entries.len().min(3));
                    for (k, e) in other.entries.iter().take(3).enumerate() {
                        let mut e = e.clone();
                        if k == 0 {
                            e.cadre.full_name.push_str(" Anh");
                        }
                        next.entries.push(e);
                    }
                    ViewChange::Plan(next)
                }
                2 => {
                    let base = first[(step * 11 + 3) % first.len()];
                    let mut next = view.current(&base.id.unit, &base.id.term).unwrap().clone();
                    next.id.version += 1;
                    next.status = PlanStatus::Approved;
                    next.entries.truncate(next.entries.len() / 2);
                    ViewChange::Plan(next)
                }
                _ => {
                    let base = first[(step * 17 + 1) % first.len()];
                    let mut header =
                        PlanHeader::of(view.current(&base.id.unit, &base.id.term).unwrap());
                    header.status = PlanStatus::Approved;
                    ViewChange::Header(header)
                }
            };
            for (id, also) in view.apply(vec![change], &rules, "40") {
                let (before, after) = recheck_plan(&mut view, &mut live, &id, &also, &at);
                changed_findings += before.len() + after.len();
            }
            assert_eq!(kept(&live), full_check(&view, &at), "after step {step}");
        }
        assert!(changed_findings > 0, "the arrivals changed some findings");
    }

    /// R2 across the old provinces' lists through the live findings (issue 22): after a
    /// merger the finding was there after a full check but cleared by the re-check of a new
    /// version of one of the lists (its snapshot holds only the plans related by person), until
    /// the next full rebuild. Now a new version that keeps the collision keeps the finding
    /// (naming the new version), one that removes it clears it, and the live set equals a full
    /// check after each.
    #[test]
    fn r2_across_merged_provinces_follows_each_new_version_of_a_list() {
        use crate::rules::testkit::{cadre, plan, voted, World, UNITS};
        let world = World {
            hierarchy: Hierarchy::parse(&format!("{UNITS}42,province,Tỉnh Hà Tĩnh,\n")).unwrap(),
            ..World::new()
        };
        let rules = RulesFile::default();
        let at = Setting {
            hierarchy: &world.hierarchy,
            catalog: &world.catalog,
            rules: &rules,
            today: NaiveDate::from_ymd_opt(2025, 11, 1).unwrap(),
            own: "40",
            fulfilled: &[],
        };
        let list = |unit: &str, version: u32, ids: &[&str]| {
            let mut p = plan(unit, "2025-2030", version);
            p.status = PlanStatus::Approved;
            for id in ids {
                let who = cadre(id, &format!("Người {id}"));
                p.entries.push(voted(&mut p.rounds, who, "P.CT.UBND"));
            }
            p
        };
        let (a, b, c, d) = (
            "001080000001",
            "001080000002",
            "001080000003",
            "001080000004",
        );
        let r2_plans = |live: &HashMap<String, Finding>| -> Vec<Vec<String>> {
            let mut out: Vec<Vec<String>> = live
                .values()
                .filter(|f| f.rule == rules::RuleId::R2)
                .map(|f| f.plans.iter().map(ToString::to_string).collect())
                .collect();
            out.sort();
            out
        };
        let mut view = View::default();
        view.apply(
            vec![
                ViewChange::Plan(list("40", 1, &[a, b])),
                ViewChange::Plan(list("42", 1, &[b, c, d])),
            ],
            &rules,
            "40",
        );
        let mut live = full_findings(&view, &at);
        assert_eq!(
            r2_plans(&live),
            [["40/2025-2030/v1", "42/2025-2030/v1"]],
            "the merger's collision, after a full check"
        );
        // A new version of 42's list keeping the collision, then one removing it.
        let steps = [
            (
                list("42", 2, &[b, c, d]),
                vec![["40/2025-2030/v1", "42/2025-2030/v2"]],
            ),
            (list("42", 3, &[b, c]), vec![]),
        ];
        for (next, expected) in steps {
            let version = next.id.version;
            for (id, also) in view.apply(vec![ViewChange::Plan(next)], &rules, "40") {
                recheck_plan(&mut view, &mut live, &id, &also, &at);
            }
            assert_eq!(r2_plans(&live), expected, "after 42 v{version}");
            assert_eq!(kept(&live), full_check(&view, &at), "after 42 v{version}");
        }
    }

    /// R5 through the live findings: when a lower unit's list is approved, the warning on an
    /// upper list planning someone who works in that unit but is not in its list appears at
    /// once, though that person is in neither the approved version nor its predecessor.
    #[test]
    fn an_approval_below_updates_r5_on_the_upper_list() {
        let (hierarchy, catalog, g) = crate::synthetic_province(5, 6_000);
        let rules = RulesFile::default();
        let at = province_40(&hierarchy, &catalog, &rules);
        // A lower list held back, below an upper list of the same term.
        let (upper, lower) = g
            .plans
            .iter()
            .flat_map(|u| g.plans.iter().map(move |l| (u, l)))
            .find(|(u, l)| {
                u.id.term == l.id.term
                    && l.id.unit != u.id.unit
                    && hierarchy.is_within(&l.id.unit, &u.id.unit)
            })
            .map(|(u, l)| (u.clone(), l.clone()))
            .expect("the synthetic province has lower and upper lists");
        let mut view = View::default();
        view.apply(
            g.plans
                .iter()
                .filter(|p| p.id != lower.id)
                .cloned()
                .map(ViewChange::Plan)
                .collect(),
            &rules,
            "40",
        );
        let mut live = full_findings(&view, &at);
        // It arrives received, not approved.
        let mut lower = lower;
        lower.status = PlanStatus::Received;
        lower.decision = None;
        // The upper list plans someone who works in the lower unit, is not in its list and
        // holds no key post.
        let key_posts = &rules.qd377.key_posts;
        let mut entry = upper.entries[0].clone();
        entry.cadre.national_id = "001999000123".into();
        entry.cadre.full_name = "Hoàng Thị Mới".into();
        entry.cadre.current_unit = lower.id.unit.as_str().into();
        entry
            .cadre
            .current_positions
            .retain(|p| !key_posts.iter().any(|k| k == p));
        let person = entry.cadre.national_id.to_string();
        let mut upper_next = upper.clone();
        upper_next.id.version += 1;
        upper_next.entries.push(entry);
        let mut approved = PlanHeader::of(&lower);
        approved.status = PlanStatus::Approved;
        let r5_naming = |live: &HashMap<String, Finding>| -> BTreeSet<String> {
            live.values()
                .filter(|f| f.rule == rules::RuleId::R5 && f.national_ids().any(|i| i == person))
                .map(|f| f.message_en.clone())
                .collect()
        };
        let mut seen = Vec::new();
        for change in [
            ViewChange::Plan(lower),
            ViewChange::Plan(upper_next),
            ViewChange::Header(approved),
        ] {
            for (id, also) in view.apply(vec![change], &rules, "40") {
                recheck_plan(&mut view, &mut live, &id, &also, &at);
            }
            assert_eq!(kept(&live), full_check(&view, &at));
            seen.push(r5_naming(&live));
        }
        assert_ne!(
            seen[1], seen[2],
            "the approval below changed R5 on the upper list"
        );
    }
}
