//! Old plans are sources (issue 22): a unit a reorganisation created starts its first draft
//! from the approved entries of the old units the mapping says it absorbed, wholly or in part,
//! each entry keeping its provenance ([`EntryOrigin`]). A node that never held its sources'
//! plans (an old commune of another node) fetches them from its parent first
//! ([`Node::answer_sources`], [`Node::take_sources`]). See `docs/reorganisation.md`.

use std::collections::{BTreeSet, HashSet};

use super::{at_most, Event, Node};
use crate::{
    auth::Caller,
    domain::{validate::MAX_ENTRIES, Entry, EntryOrigin, Plan, PlanId, PlanStatus},
    error::{Error, Result},
    store::Change,
};

/// One source of a new unit's first draft: an old unit it absorbed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUse {
    /// The old unit's code.
    pub unit: String,
    /// Its name in its time ("Phường Quang Trung (Thành phố Vinh, 2024; now part of …)").
    pub name: String,
    /// Its latest approved plan for the term held by this node, if any.
    pub plan: Option<PlanId>,
    /// How many of that plan's entries were copied.
    pub copied: usize,
}

/// An entry of a source that was not copied, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEntry {
    /// Where it stands in its source.
    pub origin: EntryOrigin,
    /// Its planned position's code.
    pub position: String,
    /// Why it was left out.
    pub reason: String,
}

/// A first draft drawn from its sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromSources {
    /// The new draft, as stored.
    pub plan: Plan,
    /// Every old unit the new one absorbed, oldest structure first, by code.
    pub sources: Vec<SourceUse>,
    /// The source entries left out.
    pub skipped: Vec<SkippedEntry>,
}

impl Node {
    /// Opens the first draft of `unit` for `term` in the structure in force from the approved
    /// entries of its sources: for each old unit the reorganisation mapping says `unit`
    /// absorbed (whole or part), the latest approved version for `term` this node holds, each
    /// entry in its list order, with its provenance (source plan version, place in its list).
    ///
    /// Left out, and listed in the answer and the audit record: an entry whose position is not
    /// of `unit`'s level (the posts of an abolished level: a district's posts never enter a
    /// commune's list), one whose position left the catalogue, a person × position already
    /// drawn from an earlier source, and an entry that no longer passes a local write's checks.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is a clerk of `unit` and this node serves it;
    /// [`Error::NotFound`] for an unknown unit or term; [`Error::Precondition`] naming `unit`
    /// when no reorganisation created it (it has no sources) or none of its sources has an
    /// approved plan for `term` here, naming `term` when `unit` already has a draft or a plan
    /// of its own since the reorganisation, or an old plan under its code awaits a decision;
    /// [`Error::Invalid`] when the sources hold more than [`MAX_ENTRIES`] entries together;
    /// [`Error::Store`] if storage fails (nothing is written then).
    pub async fn create_draft_from_sources(
        &self,
        who: &Caller,
        unit: &str,
        term: &str,
    ) -> Result<FromSources> {
        let owner = self.own_plan_write(who, unit, term)?.clone();
        let now = self.hierarchy.period();
        let history = self.hierarchy.history();
        let Some(since) = self.hierarchy.new_since(unit) else {
            return Err(Error::precondition(
                "unit",
                format!(
                    "{unit} ({}) has no sources: no reorganisation created it, so its plans are \
                     its own; open a draft without --from-sources",
                    owner.name
                ),
            ));
        };
        let absorbed: Vec<(usize, String)> = history
            .absorbed_by(unit, now)
            .into_iter()
            .filter(|(p, _)| *p < now)
            .map(|(p, u)| (p, u.code.clone()))
            .collect();
        if absorbed.is_empty() {
            return Err(Error::precondition(
                "unit",
                format!(
                    "{unit} ({}) absorbed no old unit in the reorganisation of {since}: it has \
                     no sources",
                    owner.name
                ),
            ));
        }
        let guard = self.lock().await;
        let version = match self.latest(unit, term)? {
            None => 1,
            Some(h) if h.status == PlanStatus::Draft => {
                return Err(Error::precondition(
                    "term",
                    format!(
                        "{} is a draft already; a first draft from sources replaces no draft \
                         (edit it, or draft from sources before anything else)",
                        h.id
                    ),
                ))
            }
            Some(h)
                if matches!(h.status, PlanStatus::Approved | PlanStatus::Returned)
                    && h.adopted_on.is_some_and(|d| d < since) =>
            {
                // The old unit of the same code made it: the new unit's first plan follows it.
                h.id.version.checked_add(1).ok_or_else(|| {
                    Error::precondition(
                        "term",
                        format!("{} is the last version a plan can have", h.id),
                    )
                })?
            }
            Some(h) if h.adopted_on.is_some_and(|d| d < since) => {
                return Err(Error::precondition(
                    "term",
                    format!(
                        "{} (made before {since}) is {} and awaits a decision; draft from \
                         sources once it is decided",
                        h.id,
                        h.status.as_str()
                    ),
                ))
            }
            Some(h) => {
                return Err(Error::precondition(
                    "term",
                    format!(
                        "{unit} already has a plan of its own since {since} ({} is {}); its \
                         sources start only a first draft",
                        h.id,
                        h.status.as_str()
                    ),
                ))
            }
        };
        let mut sources = Vec::with_capacity(absorbed.len());
        let mut skipped = Vec::new();
        let mut entries: Vec<Entry> = Vec::new();
        let catalog = self.reference().catalog.clone();
        for (_, code) in &absorbed {
            let approved = self.latest_approved(code, term)?;
            let mut used = SourceUse {
                unit: code.clone(),
                name: self.unit_name_at(code, approved.as_ref().and_then(|p| p.adopted_on)),
                plan: approved.as_ref().map(|p| p.id.clone()),
                copied: 0,
            };
            let Some(source) = approved.as_ref() else {
                sources.push(used);
                continue;
            };
            for (i, e) in source.entries.iter().enumerate() {
                let origin = EntryOrigin {
                    plan: source.id.clone(),
                    position: u32::try_from(i + 1).unwrap_or(u32::MAX),
                };
                let skip = |reason: String| SkippedEntry {
                    origin: origin.clone(),
                    position: e.position.to_string(),
                    reason,
                };
                match catalog.position(&e.position) {
                    None => {
                        skipped.push(skip("the position is no longer in the catalogue".into()));
                        continue;
                    }
                    Some(p) if p.level != owner.level => {
                        skipped.push(skip(format!(
                            "a {} post; {unit} is a {} and plans {} posts only",
                            p.level, owner.level, owner.level
                        )));
                        continue;
                    }
                    Some(_) => {}
                }
                if let Some(first) = entries.iter().find(|x| x.key() == e.key()) {
                    skipped.push(skip(format!(
                        "the same person for the same position is drawn already from {}",
                        first
                            .origin
                            .as_ref()
                            .map(|o| o.to_string())
                            .unwrap_or_default()
                    )));
                    continue;
                }
                let copy = Entry {
                    origin: Some(Box::new(origin.clone())),
                    ..e.clone()
                };
                match self.validate_entry(&owner, copy) {
                    Ok(copy) => {
                        entries.push(copy);
                        used.copied += 1;
                    }
                    Err(err) => skipped.push(skip(err.to_string())),
                }
            }
            sources.push(used);
        }
        if sources.iter().all(|s| s.plan.is_none()) {
            return Err(Error::precondition(
                "unit",
                format!(
                    "none of the {} old units {unit} absorbed ({}) has an approved plan for {term} \
                     held by this node",
                    sources.len(),
                    sources
                        .iter()
                        .map(|s| s.unit.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        at_most("unit", entries.len(), MAX_ENTRIES, |n| {
            format!(
                "the sources of {unit} hold {n} entries together; a plan holds at most \
                 {MAX_ENTRIES}"
            )
        })?;
        let mut plan = Plan::new_draft(
            PlanId {
                unit: unit.into(),
                term: term.into(),
                version,
            },
            None,
        );
        plan.entries = entries;
        let detail = format!(
            "from sources: {}; {} skipped",
            sources
                .iter()
                .map(|s| match &s.plan {
                    Some(p) => format!("{p} ({} entries)", s.copied),
                    None => format!("{} (no approved plan)", s.unit),
                })
                .collect::<Vec<_>>()
                .join(", "),
            skipped.len()
        );
        let event = Event::new("create_draft", Some(&plan.id))
            .detail(detail)
            .by(who);
        let changes = vec![
            Change::PutPlan(plan.clone()),
            self.next_revision(unit, term)?,
        ];
        self.commit(guard, event, changes).await?;
        Ok(FromSources {
            plan,
            sources,
            skipped,
        })
    }

    /// The latest version of (unit, term) this node holds approved.
    fn latest_approved(&self, unit: &str, term: &str) -> Result<Option<Plan>> {
        let Some(latest) = self.store.latest_version(unit, term)? else {
            return Ok(None);
        };
        for version in (1..=latest).rev() {
            let id = PlanId {
                unit: unit.into(),
                term: term.into(),
                version,
            };
            if self
                .store
                .header(&id)?
                .is_some_and(|h| h.status == PlanStatus::Approved)
            {
                return Ok(self.store.plan(&id)?);
            }
        }
        Ok(None)
    }
}

/// How many source versions a child may say it holds in one request.
pub const MAX_HELD_SOURCES: usize = 2_000;

impl Node {
    /// The old units `unit` absorbed in the reorganisations before the structure in force (its
    /// sources), by code, without `unit`'s own code (a node holds its own old plans already).
    /// Empty for a unit that no reorganisation created.
    pub(super) fn sources_of(&self, unit: &str) -> BTreeSet<String> {
        let now = self.hierarchy.period();
        self.hierarchy
            .history()
            .absorbed_by(unit, now)
            .into_iter()
            .filter(|(p, u)| *p < now && u.code != unit)
            .map(|(_, u)| u.code.clone())
            .collect()
    }

    /// The old units this node's unit absorbed and the versions of their plans this node holds:
    /// what the sync task asks its parent for (none asked when the first is empty).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the store cannot be read.
    pub fn held_sources(&self) -> Result<(BTreeSet<String>, Vec<PlanId>)> {
        let sources = self.sources_of(&self.unit.code);
        if sources.is_empty() {
            return Ok((sources, Vec::new()));
        }
        let held = self
            .store
            .headers_where(&|unit, _| sources.contains(unit))?
            .into_iter()
            .map(|h| h.id)
            .take(MAX_HELD_SOURCES)
            .collect();
        Ok((sources, held))
    }

    /// Parent side: the latest approved version of every (old unit, term) that the child unit
    /// `child` absorbed in a reorganisation (its sources, [`Node::create_draft_from_sources`])
    /// and that is not in `held`, as this node holds them; at most [`MAX_ENTRIES`] entries
    /// together (one plan whole when it alone has more), so that an answer is no larger than
    /// a push; the child asks again for the rest. A new commune's node never held the lists of
    /// the old communes of other nodes that it absorbed; the province holds them all.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is the node of `child` and `child` is a child of this
    /// node; [`Error::NotFound`] for an unknown unit; [`Error::Invalid`] if `held` names more
    /// than [`MAX_HELD_SOURCES`] versions; [`Error::Store`] if the store cannot be read.
    pub async fn answer_sources(
        &self,
        who: &Caller,
        child: &str,
        held: &[PlanId],
    ) -> Result<Vec<Plan>> {
        self.require_child_node(who, child)?;
        at_most("held", held.len(), MAX_HELD_SOURCES, |n| {
            format!("{n} versions; at most {MAX_HELD_SOURCES} may be named")
        })?;
        self.settle().await?;
        let held: HashSet<&PlanId> = held.iter().collect();
        let terms: Vec<String> = self.reference().catalog.terms.keys().cloned().collect();
        let mut out: Vec<Plan> = Vec::new();
        let mut entries = 0;
        for unit in self.sources_of(child) {
            for term in &terms {
                let Some(plan) = self.latest_approved(&unit, term)? else {
                    continue;
                };
                if held.contains(&plan.id) {
                    continue;
                }
                if !out.is_empty() && entries + plan.entries.len() > MAX_ENTRIES {
                    return Ok(out);
                }
                entries += plan.entries.len();
                out.push(plan);
            }
        }
        Ok(out)
    }

    /// Child side: keeps the source plans the parent `parent` answered
    /// ([`Node::answer_sources`]), so that [`Node::create_draft_from_sources`] can draw on
    /// them. Never trusted: each must be a plan of an old unit this node's unit absorbed,
    /// approved, pass the checks of a local write, and carry the hash of its content; a
    /// version held here already with the same hash is skipped. One bad plan refuses the
    /// whole answer, and nothing of it is stored; the rest are kept in one audited commit.
    /// Answers how many plans were kept.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming `plans[i]` and the problem, or a version held here with
    /// another hash; [`Error::Store`] if storage fails.
    pub async fn take_sources(&self, parent: &str, plans: Vec<Plan>) -> Result<usize> {
        if plans.is_empty() {
            return Ok(0);
        }
        let sources = self.sources_of(&self.unit.code);
        let guard = self.lock().await;
        let mut seen = HashSet::new();
        let mut changes = Vec::new();
        let mut kept = Vec::new();
        for (i, plan) in plans.into_iter().enumerate() {
            let field = format!("plans[{i}]");
            if !sources.contains(&plan.id.unit) {
                return Err(Error::invalid(
                    &field,
                    format!(
                        "{} is not an old unit that {} absorbed",
                        plan.id, self.unit.code
                    ),
                ));
            }
            if plan.status != PlanStatus::Approved || plan.decision.is_none() {
                return Err(Error::invalid(
                    &field,
                    format!(
                        "{} is {} without an approval; only approved lists are sources",
                        plan.id,
                        plan.status.as_str()
                    ),
                ));
            }
            self.validated(Some(parent), |c| c.plan(&field, &plan))?;
            let hash = plan.hash.clone().unwrap_or_default();
            if hash != plan.content_hash() {
                return Err(Error::invalid(
                    &format!("{field}.hash"),
                    format!(
                        "{hash:?} is not the hash of {}'s content ({})",
                        plan.id,
                        plan.content_hash()
                    ),
                ));
            }
            if !seen.insert(plan.id.clone()) {
                return Err(Error::invalid(&field, format!("{} comes twice", plan.id)));
            }
            if let Some(h) = self.store.header(&plan.id)? {
                if h.hash.as_deref() == Some(hash.as_str()) {
                    continue;
                }
                return Err(Error::invalid(
                    &field,
                    format!(
                        "{} is held here with hash {}, not {hash}",
                        plan.id,
                        h.hash.unwrap_or_default()
                    ),
                ));
            }
            kept.push(plan.id.to_string());
            changes.push(Change::PutPlan(plan));
        }
        if changes.is_empty() {
            return Ok(0);
        }
        let event = Event::new("receive_sources", None)
            .detail(format!("from {parent}: {}", kept.join(", ")));
        self.commit(guard, event, changes).await?;
        tracing::info!(from = parent, plans = kept.len(), "source plans received");
        Ok(kept.len())
    }
}
