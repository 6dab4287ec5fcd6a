//! Merging provinces (issue 22, "Merging provinces"; `docs/merging-provinces.md`): the stores
//! of province nodes that the 2025 structure merged into one province are brought, on stopped
//! nodes, into the store of the new province's node. Every plan version, decision, receipt,
//! acceptance, fulfilment and signature comes in; each source's audit trail is kept as its own
//! chain tagged with its origin province ([`ImportedTrail`]), never re-chained, so that it
//! still verifies as the old node wrote it; the merge itself is one audit record of the new
//! node naming every source and its chain head.
//!
//! A source store is input from outside: every plan and decision passes the checks of a local
//! write ([`crate::domain::validate::Context`]), its trail must verify, and every unit it
//! holds must lie, by the 2025 mappings, wholly inside the target province.
//!
//! Crash safety: the whole merge is one transaction (all sources), with a marker document per
//! source ([`SOURCE_PREFIX`]); a rerun skips every source whose marker is there, so a merge
//! killed at any moment and run again leaves every plan exactly once.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    audit::AuditEvent,
    domain::{validate::Context, Catalog, Conflict, Decision, Hierarchy, Plan, PlanId, Receipt},
    store::{Change, Store, StoreError},
};

/// The document prefix of the marker of each merged source: `merge/source/<province code>`,
/// a [`MergedSource`].
pub const SOURCE_PREFIX: &str = "merge/source/";
pub use crate::audit::{ImportedTrail, IMPORTED_TRAIL_PREFIX as TRAIL_PREFIX};
/// The document prefixes of a node's per-plan documents that a merge carries over:
/// acceptances of warnings, fulfilments, approvers' signatures (each keyed by unit first).
const CARRIED_DOCUMENTS: [&str; 3] = ["accept/", "fulfil/", "signature/"];
/// The rules whose findings are tagged as coming from the merger when their plans come from
/// different source provinces.
pub const MERGER_RULES: [crate::rules::RuleId; 3] = [
    crate::rules::RuleId::R2,
    crate::rules::RuleId::R3,
    crate::rules::RuleId::R21,
];

/// What a merge records of one source, in the new node's store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedSource {
    /// The old province's code (2024 structure), e.g. `45`.
    pub province: String,
    /// Its name then.
    pub province_name: String,
    /// The store folder it was read from, as the operator gave it.
    pub from: String,
    /// Every plan version it brought.
    pub plans: Vec<PlanId>,
    /// Every unit whose plans it brought, sorted.
    pub units: Vec<String>,
    /// Its audit chain's head when merged: `(seq, digest)`; none for an empty trail.
    pub head: Option<(u64, String)>,
    /// When it was merged.
    pub merged_at: DateTime<Utc>,
}

/// Why a merge is refused, or failed.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The input is refused: the text names the source, the item and the problem.
    #[error("{0}")]
    Refused(String),
    /// A store could not be read or written.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

/// What the checks of a merge compare against.
#[derive(Clone, Copy)]
pub struct MergeContext<'a> {
    /// The units with their history (the 2025 structure current).
    pub hierarchy: &'a Hierarchy,
    /// Positions and terms, as the target node holds them.
    pub catalog: &'a Catalog,
    /// Today, for dates that may not lie in the future.
    pub today: NaiveDate,
    /// The target province's code in the 2025 structure.
    pub target: &'a str,
}

/// One source store, read and checked, ready to be merged.
#[derive(Debug, Clone)]
pub struct Source {
    /// The folder as the operator gave it.
    pub label: String,
    /// The old province whose node it was.
    pub province: String,
    /// Its name in the 2024 structure.
    pub province_name: String,
    /// Every plan version, whole.
    pub plans: Vec<Plan>,
    /// Every receipt held for those versions.
    pub receipts: Vec<Receipt>,
    /// Every decision logged for their units, in the source's order.
    pub decisions: Vec<Decision>,
    /// The carried documents (acceptances, fulfilments, signatures).
    pub documents: Vec<(String, serde_json::Value)>,
    /// The pushes it refused because it already held another content for the same version
    /// (shown by `status` as conflicts), so that the new province's node still shows them.
    pub conflicts: Vec<Conflict>,
    /// The audit trail.
    pub trail: ImportedTrail,
    /// Set by [`plan_merge`]: the target already holds this source (a rerun).
    pub already_merged: bool,
}

impl Source {
    /// The chain head, `(seq, digest)`.
    pub fn head(&self) -> Option<(u64, String)> {
        self.trail.records.last().map(|r| (r.seq, r.digest.clone()))
    }

    /// The units whose plans it holds, sorted.
    pub fn units(&self) -> BTreeSet<String> {
        self.plans.iter().map(|p| p.id.unit.clone()).collect()
    }
}

/// The old province (its code and name, in the earliest structure that has the unit) of
/// `unit`, and whether all its successors in the current structure lie in `target`; the
/// first successor outside it otherwise.
fn placed(h: &Hierarchy, unit: &str, target: &str) -> Option<(String, String, Option<String>)> {
    let history = h.history();
    let now = h.period();
    let p = earliest(h, unit)?;
    let structure = &history.periods()[p].structure;
    let province = structure.province_of(unit)?;
    let outside = history
        .successors(unit, p, now)
        .into_iter()
        .find(|s| h.current().province_of(s).map(|u| u.code.as_str()) != Some(target));
    Some((province.code.clone(), province.name.clone(), outside))
}

/// The earliest period (up to the current one) whose structure has the code `unit`. A code
/// can name units of two structures in different provinces: the 2024 commune 19333 (Phường 1,
/// of Quảng Trị, 45) kept its code as the 2025 commune Phường Đông Hà of the new province 44,
/// so a search from the current structure placed an old Quảng Trị list in 44 and refused the
/// store as holding two provinces.
fn earliest(h: &Hierarchy, unit: &str) -> Option<usize> {
    let periods = h.history().periods();
    (0..=h.period().min(periods.len().saturating_sub(1)))
        .find(|&p| periods[p].structure.get(unit).is_some())
}

/// The old province of a unit, as [`placed`] finds it (code only); none for an unknown code.
pub fn origin_province(h: &Hierarchy, unit: &str) -> Option<String> {
    let history = h.history();
    let p = earliest(h, unit)?;
    history.periods()[p]
        .structure
        .province_of(unit)
        .map(|u| u.code.clone())
}

/// Reads and checks one source store: every plan version (checked like a local write, its
/// hash against its content), its receipts, decisions, carried documents and audit trail
/// (which must verify). `tick` is called once per plan version read, for a progress bar.
///
/// # Errors
///
/// [`MergeError::Refused`] naming `label` and the item when a plan, decision or document is
/// invalid, a unit lies in a province the 2025 structure does not merge into the target, the
/// plans come from more than one province or from none, or the trail is broken;
/// [`MergeError::Store`] when the store cannot be read.
pub fn read_source(
    label: &str,
    store: &dyn Store,
    ctx: &MergeContext<'_>,
    tick: &mut dyn FnMut(),
) -> Result<Source, MergeError> {
    let refuse = |what: String| MergeError::Refused(format!("source {label}: {what}"));
    let (records, head) = store.audit()?;
    if let Err(b) = crate::audit::verify(&records, head) {
        return Err(refuse(format!(
            "its audit trail is broken at record {}: {}; nothing was merged",
            b.position, b.problem
        )));
    }
    let seals = store.audit_seals()?;
    let check = Context {
        catalog: ctx.catalog,
        hierarchy: ctx.hierarchy,
        today: ctx.today,
        peer: Some(label),
    };
    let mut province: Option<(String, String, String)> = None;
    let mut plans = Vec::new();
    for h in store.headers()? {
        let id = h.id.clone();
        let Some(plan) = store.plan(&id)? else {
            continue;
        };
        check
            .plan(&format!("plan {id}"), &plan)
            .map_err(|e| refuse(e.to_string()))?;
        if let Some(hash) = &plan.hash {
            if *hash != plan.content_hash() {
                return Err(refuse(format!(
                    "plan {id}: hash {hash} is not the hash of its content ({})",
                    plan.content_hash()
                )));
            }
        }
        let (code, name, outside) = placed(ctx.hierarchy, &id.unit, ctx.target)
            .ok_or_else(|| refuse(format!("plan {id}: unknown unit code {}", id.unit)))?;
        let target_name = ctx.hierarchy.get(ctx.target).map(|u| u.name.clone());
        if let Some(s) = outside {
            let unit_name = ctx.hierarchy.get(&id.unit).map(|u| u.name.clone());
            return Err(refuse(format!(
                "unit {} ({}) of province {code} ({name}) did not merge into province {} ({}): \
                 the 2025 structure places its successor {s} ({}) elsewhere; nothing was merged",
                id.unit,
                unit_name.unwrap_or_default(),
                ctx.target,
                target_name.unwrap_or_default(),
                ctx.hierarchy
                    .get(&s)
                    .map(|u| u.name.clone())
                    .unwrap_or_default()
            )));
        }
        match &province {
            None => province = Some((code, name, id.unit.clone())),
            Some((c, n, first)) if *c != code => {
                return Err(refuse(format!(
                    "it holds plans of two provinces: unit {first} of {c} ({n}) and unit {} of \
                     {code} ({name}); a province node holds one province's plans",
                    id.unit
                )))
            }
            Some(_) => {}
        }
        plans.push(plan);
        tick();
    }
    let Some((province, province_name, _)) = province else {
        return Err(refuse(
            "it holds no plan: nothing says which province's node it was".into(),
        ));
    };
    let units: BTreeSet<String> = plans.iter().map(|p| p.id.unit.clone()).collect();
    let mut receipts = Vec::new();
    for p in &plans {
        if let Some(r) = store.receipt(&p.id)? {
            if r.plan != p.id {
                return Err(refuse(format!("receipt of {}: it names {}", p.id, r.plan)));
            }
            crate::domain::validate::hash(&format!("receipt of {}: hash", p.id), &r.hash)
                .map_err(|e| refuse(e.to_string()))?;
            receipts.push(r);
        }
    }
    let mut decisions = Vec::new();
    for unit in &units {
        for (seq, d) in store.decisions_for(unit, 0)? {
            check
                .decision(&format!("decision #{seq}"), &d)
                .map_err(|e| refuse(e.to_string()))?;
            if !units.contains(&d.plan.unit) {
                return Err(refuse(format!(
                    "decision #{seq} concerns unit {}, of which it holds no plan",
                    d.plan.unit
                )));
            }
            decisions.push(d);
        }
    }
    let mut documents = Vec::new();
    for prefix in CARRIED_DOCUMENTS {
        for (key, value) in store.documents(prefix)? {
            let unit = key[prefix.len()..].split('/').next().unwrap_or("");
            if !units.contains(unit) {
                return Err(refuse(format!(
                    "document {key} concerns unit {}, of which it holds no plan",
                    crate::domain::validate::prefix(unit)
                )));
            }
            documents.push((key, value));
        }
    }
    let waiting = store.outbox()?;
    if let Some((_, first)) = waiting.first() {
        return Err(refuse(format!(
            "{} plan versions wait in its outbox to go to a parent (the first: {}); a province \
             node has no parent, so this is the store of a district or a commune: only province \
             nodes are merged; nothing was merged",
            waiting.len(),
            first.plan
        )));
    }
    let mut conflicts = Vec::new();
    for c in store.conflicts()? {
        if !units.contains(&c.plan.unit) {
            return Err(refuse(format!(
                "conflict over {}: it concerns unit {}, of which it holds no plan",
                c.plan,
                crate::domain::validate::prefix(&c.plan.unit)
            )));
        }
        for (field, hash) in [
            ("held_hash", &c.held_hash),
            ("offered_hash", &c.offered_hash),
        ] {
            crate::domain::validate::hash(&format!("conflict over {}: {field}", c.plan), hash)
                .map_err(|e| refuse(e.to_string()))?;
        }
        conflicts.push(c);
    }
    Ok(Source {
        label: label.to_string(),
        province: province.clone(),
        province_name,
        plans,
        receipts,
        decisions,
        conflicts,
        documents,
        trail: ImportedTrail {
            origin: province,
            records,
            head,
            seals,
        },
        already_merged: false,
    })
}

/// What a merge brings (or brought) from one source: the dry run's and the summary's lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePlan {
    /// The folder as given.
    pub label: String,
    /// The old province.
    pub province: String,
    /// Its name.
    pub province_name: String,
    /// Whether the target holds it already (a rerun: nothing of it is written).
    pub already_merged: bool,
    /// Plan versions by unit: `(unit, versions)`.
    pub plans: Vec<(String, usize)>,
    /// Plan versions in all.
    pub versions: usize,
    /// Decisions, receipts, carried documents, audit records.
    pub decisions: usize,
    /// Receipts.
    pub receipts: usize,
    /// Acceptances, fulfilments, signatures.
    pub documents: usize,
    /// Audit records of its chain.
    pub audit_records: usize,
}

/// The whole merge as planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergePlan {
    /// One per source, in the order given.
    pub sources: Vec<SourcePlan>,
    /// People (by national ID, masked) listed in the plans of more than one old province
    /// (the target's own counted as its province): the collisions the merger brings, which
    /// R3 and R21 report as findings tagged to the merger.
    pub collisions: Vec<Collision>,
}

/// One person listed by more than one old province.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    /// The national ID, masked (`…1234`).
    pub person: String,
    /// The name as the first list has it.
    pub name: String,
    /// The old provinces whose lists hold the person, sorted.
    pub provinces: Vec<String>,
}

/// Checks the sources against the target store and against each other, marks those already
/// merged, and says what the merge brings.
///
/// # Errors
///
/// [`MergeError::Refused`] when two sources are the same province's, or a plan version a
/// source brings is held by the target with other content; [`MergeError::Store`] when the
/// target cannot be read.
pub fn plan_merge(
    target: &dyn Store,
    sources: &mut [Source],
    ctx: &MergeContext<'_>,
) -> Result<MergePlan, MergeError> {
    let mut seen = BTreeMap::new();
    for s in sources.iter_mut() {
        if let Some(other) = seen.insert(s.province.clone(), s.label.clone()) {
            return Err(MergeError::Refused(format!(
                "sources {other} and {} are both nodes of province {}: give each province once",
                s.label, s.province
            )));
        }
        s.already_merged = target
            .document(&format!("{SOURCE_PREFIX}{}", s.province))?
            .is_some();
        if s.already_merged {
            continue;
        }
        for p in &s.plans {
            if let Some(h) = target.header(&p.id)? {
                if h.hash != p.hash || h.status != p.status {
                    return Err(MergeError::Refused(format!(
                        "source {}: plan {} is held by the target too, with other content \
                         or status ({:?} there, {:?} here); nothing was merged",
                        s.label, p.id, h.status, p.status
                    )));
                }
            }
        }
    }
    // Who is listed by which old province: the target's own plans and every source's.
    let mut people: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    let mut note = |plan: &Plan, province: &str| {
        for e in &plan.entries {
            let slot = people
                .entry(e.cadre.national_id.to_string())
                .or_insert_with(|| (e.cadre.full_name.to_string(), BTreeSet::new()));
            slot.1.insert(province.to_string());
        }
    };
    let merged = merged_units(target)?;
    for h in target.headers()? {
        let province = merged
            .get(&h.id.unit)
            .cloned()
            .or_else(|| origin_province(ctx.hierarchy, &h.id.unit))
            .unwrap_or_else(|| ctx.target.to_string());
        if let Some(plan) = target.plan(&h.id)? {
            note(&plan, &province);
        }
    }
    for s in sources.iter().filter(|s| !s.already_merged) {
        for p in &s.plans {
            note(p, &s.province);
        }
    }
    let collisions = people
        .into_iter()
        .filter(|(_, (_, p))| p.len() > 1)
        .map(|(id, (name, p))| Collision {
            person: crate::domain::validate::mask_id(&id),
            name,
            provinces: p.into_iter().collect(),
        })
        .collect();
    let sources = sources
        .iter()
        .map(|s| {
            let mut by_unit: BTreeMap<String, usize> = BTreeMap::new();
            for p in &s.plans {
                *by_unit.entry(p.id.unit.clone()).or_default() += 1;
            }
            SourcePlan {
                label: s.label.clone(),
                province: s.province.clone(),
                province_name: s.province_name.clone(),
                already_merged: s.already_merged,
                plans: by_unit.into_iter().collect(),
                versions: s.plans.len(),
                decisions: s.decisions.len(),
                receipts: s.receipts.len(),
                documents: s.documents.len(),
                audit_records: s.trail.records.len(),
            }
        })
        .collect();
    Ok(MergePlan {
        sources,
        collisions,
    })
}

/// The changes of the merge, in one transaction: every source not merged yet, its marker and
/// its trail, and one audit record of the new node naming every source and its chain head.
/// Empty when every source is merged already (a rerun writes nothing).
pub fn merge_changes(sources: &[Source], target: &str, now: DateTime<Utc>) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut named = Vec::new();
    for s in sources.iter().filter(|s| !s.already_merged) {
        changes.extend(s.plans.iter().cloned().map(Change::PutPlan));
        changes.extend(s.receipts.iter().cloned().map(Change::PutReceipt));
        changes.extend(s.decisions.iter().cloned().map(Change::LogDecision));
        changes.extend(s.conflicts.iter().cloned().map(Change::RecordConflict));
        changes.extend(
            s.documents
                .iter()
                .cloned()
                .map(|(k, v)| Change::SetDocument(k, v)),
        );
        let head = s.head();
        let trail = serde_json::to_value(&s.trail).expect("a trail serializes");
        changes.push(Change::SetDocument(
            format!("{TRAIL_PREFIX}{}", s.province),
            trail,
        ));
        let marker = MergedSource {
            province: s.province.clone(),
            province_name: s.province_name.clone(),
            from: s.label.clone(),
            plans: s.plans.iter().map(|p| p.id.clone()).collect(),
            units: s.units().into_iter().collect(),
            head: head.clone(),
            merged_at: now,
        };
        changes.push(Change::SetDocument(
            format!("{SOURCE_PREFIX}{}", s.province),
            serde_json::to_value(&marker).expect("a marker serializes"),
        ));
        named.push(format!(
            "province {} ({}) from {}: {} plan versions, {} decisions, {} conflicts, chain head {}",
            s.province,
            s.province_name,
            s.label,
            s.plans.len(),
            s.decisions.len(),
            s.conflicts.len(),
            head.map(|(n, d)| format!("{n}:{d}"))
                .unwrap_or_else(|| "none (empty trail)".into())
        ));
    }
    if named.is_empty() {
        return changes;
    }
    changes.push(Change::Audit(AuditEvent {
        at: now,
        actor: format!("system ({target}) by quyhoach merge"),
        action: "merge".into(),
        plan: None,
        plan_hash: None,
        detail: named.join("; "),
    }));
    changes
}

/// Every unit brought in by a merge, to the old province it came from.
///
/// # Errors
///
/// [`StoreError`] when the markers cannot be read or decoded.
pub fn merged_units(store: &dyn Store) -> Result<BTreeMap<String, String>, StoreError> {
    let mut out = BTreeMap::new();
    for s in merged_sources(store)? {
        for u in s.units {
            out.insert(u, s.province.clone());
        }
    }
    Ok(out)
}

/// Every merged source's marker, by province code.
///
/// # Errors
///
/// [`StoreError::Corrupt`] for a marker that cannot be decoded; the store's errors.
pub fn merged_sources(store: &dyn Store) -> Result<Vec<MergedSource>, StoreError> {
    crate::store::decoded_documents(store, SOURCE_PREFIX)
}

/// The old provinces a finding's plans come from, when it is one of [`MERGER_RULES`] and they
/// are more than one (the finding comes from the merger); empty otherwise. `origin` answers
/// the old province of a unit.
pub fn merger_tag(finding: &crate::rules::Finding, origin: &dyn Fn(&str) -> String) -> Vec<String> {
    if !MERGER_RULES.contains(&finding.rule) {
        return Vec::new();
    }
    let provinces: BTreeSet<String> = finding.plans.iter().map(|p| origin(&p.unit)).collect();
    if provinces.len() > 1 {
        provinces.into_iter().collect()
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2024 commune whose code a 2025 commune of the new province kept is placed in its old
    /// province, whose successor lies in the new one.
    #[test]
    fn a_code_kept_across_the_reorganisation_is_placed_in_its_old_province() {
        let h = crate::config::load_units("builtin:2025").unwrap();
        assert_eq!(origin_province(&h, "19333").as_deref(), Some("45"));
        let (code, _, outside) = placed(&h, "19333", "44").unwrap();
        assert_eq!((code.as_str(), outside), ("45", None));
        assert_eq!(origin_province(&h, "19330").as_deref(), Some("45"));
        assert_eq!(origin_province(&h, "18853").as_deref(), Some("44"));
    }

    /// Reads, as a merge does into province 44, the store of old province 45 holding 45's own
    /// adopted list and what `extra` commits beside it.
    async fn read_45_with(extra: Vec<Change>) -> Result<Source, MergeError> {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SledStore::open(&dir.path().join("45")).unwrap();
        let mut plan = crate::rules::testkit::plan("45", "2025-2030", 1);
        plan.status = crate::domain::PlanStatus::Adopted;
        plan.hash = Some(plan.content_hash());
        let mut changes = vec![Change::PutPlan(plan)];
        changes.extend(extra);
        let ticket = store.commit(changes).unwrap();
        store.wait_durable(ticket).await.unwrap();
        let hierarchy = crate::config::load_units("builtin:2025").unwrap();
        let catalog = crate::config::builtin_catalog().unwrap();
        let ctx = MergeContext {
            hierarchy: &hierarchy,
            catalog: &catalog,
            today: NaiveDate::from_ymd_opt(2025, 8, 1).unwrap(),
            target: "44",
        };
        read_source("45", store.as_ref(), &ctx, &mut || {})
    }

    fn conflict_over(unit: &str) -> Conflict {
        Conflict {
            plan: PlanId {
                unit: unit.into(),
                term: "2025-2030".into(),
                version: 1,
            },
            held_hash: "a".repeat(64),
            offered_hash: "b".repeat(64),
            from: "461".into(),
            to: "45".into(),
            at: DateTime::parse_from_rfc3339("2025-06-01T08:00:00Z")
                .unwrap()
                .into(),
        }
    }

    /// The pushes an old province refused as conflicts come into the new province's node
    /// with its plans; one that names a unit the source holds no plan of is refused.
    #[tokio::test]
    async fn a_sources_conflicts_are_merged_and_a_stray_one_is_refused() {
        let source = read_45_with(vec![Change::RecordConflict(conflict_over("45"))])
            .await
            .unwrap();
        assert_eq!(source.conflicts, [conflict_over("45")]);
        let changes = merge_changes(&[source], "44", Utc::now());
        assert!(changes
            .iter()
            .any(|c| matches!(c, Change::RecordConflict(c) if *c == conflict_over("45"))));
        let Err(MergeError::Refused(why)) =
            read_45_with(vec![Change::RecordConflict(conflict_over("461"))]).await
        else {
            panic!("a conflict over a unit without a plan was merged")
        };
        assert!(why.contains("conflict over 461/2025-2030/v1"), "{why}");
    }

    /// A store with plan versions waiting to go to a parent is no province's node: refused,
    /// naming the first of them.
    #[tokio::test]
    async fn a_store_with_an_outbox_is_refused_as_no_provinces() {
        let waiting = crate::domain::OutboxItem {
            plan: PlanId {
                unit: "45".into(),
                term: "2025-2030".into(),
                version: 1,
            },
            queued_at: Utc::now(),
            approval: None,
        };
        let Err(MergeError::Refused(why)) = read_45_with(vec![Change::Enqueue(waiting)]).await
        else {
            panic!("a store with an outbox was merged")
        };
        assert!(
            why.contains("1 plan versions wait in its outbox") && why.contains("45/2025-2030/v1"),
            "{why}"
        );
        // Without it, the same store is read.
        read_45_with(vec![]).await.unwrap();
    }
}
