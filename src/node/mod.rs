//! A node: the unit it serves, the hierarchy and catalogue it knows, its store, and the
//! transport-free operations the gRPC layer calls. Every mutating operation validates, builds
//! its changes, commits them in one transaction and waits until they are durable before it
//! returns, so that a returned `Ok` may be acknowledged.

mod appraisal;
mod approval;
mod audit_query;
pub mod bundles;
mod checks;
mod children;
mod eligible;
mod exports;
mod fulfil;
mod live;
pub mod merge;
mod pages;
mod progress;
mod query;
mod reconcile;
mod reference;
mod reorganise;
mod signing;
mod since_approved;
mod sources;
mod status;
mod structure;
mod units;
mod web_login;
mod workflow;

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{Mutex, MutexGuard, Notify};

use crate::{
    audit::AuditEvent,
    auth::Caller,
    domain::{Catalog, Hierarchy, PlanHeader, PlanId, Unit},
    error::{Error, Result},
    store::{Change, Store},
    view,
};

pub use appraisal::{
    Appraisal, ApprovedTogether, AwaitingPlan, NotApproved, RuleGroup, ShownPlan, Why,
    MAX_APPROVE_AT_ONCE,
};
pub use approval::ApprovalSignature;
pub use audit_query::{AuditFilter, AuditSelection};
pub use checks::{finding_id, Acceptance, CheckFilter, CheckOutcome, CheckedFinding, Completeness};
pub use eligible::EligibleAnswer;
pub use exports::{Export, ExportFormat, ExportWhat};
pub use fulfil::{FulfilRequest, FulfilmentTaken};
pub use live::{FindingEvent, FindingHistory};
pub use pages::FindingsPage;
pub use progress::{Progress, ReportedPlan, UnitProgress};
pub use query::{
    mask_id, ConsolidatedEntry, ConsolidatedFilter, ConsolidatedPage, Listing, PageAt, PageRequest,
    PlanFilter, SortKey,
};
pub use reconcile::{digest, ParentView, PlanState, Reconciled, Repairs, Restored};
pub use reference::{Reference, StructureChoice};
pub use reorganise::{Fate, PlanFate, Reorganisation};
pub use sources::{FromSources, SkippedEntry, SourceUse};
pub use status::{ChildReport, LinkState, LinkStatus, SyncStatus};
pub use structure::Structure;
pub use web_login::{WebIdentity, LOGIN_TOKEN_SECONDS};
pub use workflow::{Reviewed, RoundResult, TallyResult};

/// What a commit records in the audit trail.
pub(crate) struct Event {
    pub action: &'static str,
    pub plan: Option<PlanId>,
    pub detail: String,
    /// Who asked for it, as the trail names them; `None` for the node's own work (the sync
    /// task, the arrival checks).
    pub actor: Option<String>,
}

impl Event {
    pub fn new(action: &'static str, plan: Option<&PlanId>) -> Self {
        Event {
            action,
            plan: plan.cloned(),
            detail: String::new(),
            actor: None,
        }
    }

    /// The record of an operation `who` asked for.
    pub fn by(mut self, who: &Caller) -> Self {
        self.actor = Some(who.label());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

/// A source of the current time, passed in so that tests control it.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// Refuses `count` items for `field` when more than `max` are allowed, saying so with
/// `problem(count)`: the one bound check of every repeated input an operation caps.
///
/// # Errors
///
/// [`Error::Invalid`] naming `field` with `problem(count)` when `count > max`.
fn at_most(
    field: &str,
    count: usize,
    max: usize,
    problem: impl FnOnce(usize) -> String,
) -> Result<()> {
    if count > max {
        return Err(Error::invalid(field, problem(count)));
    }
    Ok(())
}

/// Everything a node operation needs.
pub struct Node {
    /// The unit this node serves.
    unit: Unit,
    hierarchy: Arc<Hierarchy>,
    /// Positions, terms and rule parameters, versioned at the province and pulled down by
    /// every other node; swapped whole when a newer version arrives.
    reference: RwLock<Arc<Reference>>,
    store: Arc<dyn Store>,
    clock: Clock,
    /// Serializes read-validate-commit sequences; released before waiting for durability, so
    /// that concurrent operations share flushes.
    write_lock: Mutex<()>,
    /// Wakes the sync task when something is queued for the parent.
    outbox_wake: Arc<Notify>,
    /// The upward link as the sync task last saw it.
    link: std::sync::Mutex<LinkState>,
    /// What each child last reported about its own link, when it pulled decisions.
    child_reports: std::sync::Mutex<HashMap<String, ChildReport>>,
    /// After how long a link with pending items or no contact counts as stuck.
    stuck_after: chrono::Duration,
    /// Pushes taken, answered as duplicates, and refused, since start.
    counters: status::Counters,
    /// Re-checks of the live findings not yet applied (province only).
    arrivals: std::sync::Mutex<Vec<live::Recheck>>,
    /// Wakes the arrival checks.
    arrival_wake: Notify,
    /// Every plan this node holds, in memory, as of the last durable commit.
    view: RwLock<view::View>,
    /// Committed changes waiting for their durability before the view takes them, by ticket.
    #[allow(clippy::type_complexity)]
    view_pending:
        std::sync::Mutex<std::collections::BTreeMap<u64, (&'static str, Vec<view::ViewChange>)>>,
    /// The live findings (province only).
    live: RwLock<live::Live>,
    /// Re-checks queued since start, and (below) applied.
    rechecks_queued: std::sync::atomic::AtomicU64,
    rechecks_done: tokio::sync::watch::Sender<u64>,
    /// What each child last reported about the plans of its subtree (completeness).
    lower_states: std::sync::Mutex<HashMap<String, Vec<ReportedPlan>>>,
    /// How long building the view took at start.
    view_built_in: std::time::Duration,
    /// What anti-entropy with the parent and the children has done.
    reconcile_log: reconcile::ReconcileLog,
    /// Every written acceptance of a warning, by its key in the store, so that checks read
    /// memory only.
    acceptances: RwLock<HashMap<String, checks::Acceptance>>,
    /// The highest draft revision of each (unit, term) that a write of this node had
    /// acknowledged, by its store key: a write's reply carries it when the store fails right
    /// after the acknowledgement and cannot be read back ([`Node::revised`]).
    acked_revisions: std::sync::Mutex<HashMap<String, u64>>,
    /// Held while the outbox is pushed to the parent (see [`Node::pushing`]).
    pushing: Mutex<()>,
    /// The authority approvers' CMS signatures must chain to (`serve --signing-ca`); none:
    /// an approval carrying one is refused.
    signing_authority: Option<crate::config::SigningTrust>,
    /// The classification every export carries (`serve --classification`); none: unmarked.
    classification: Option<crate::tabular::Classification>,
    /// The node's signing key and the authority it checks other signers against; unset on an
    /// insecure node, which signs nothing (`node/signing.rs`).
    signer: std::sync::OnceLock<crate::bundle::sign::Signer>,
    /// Every entry recorded here as fulfilled (elected or appointed), read by R2 and the
    /// person page.
    fulfilled: RwLock<Vec<crate::domain::Fulfilment>>,
    /// Every unit a merge of provinces brought into this store, to the old province it came
    /// from (`quyhoach merge`, [`merge::merged_units`]); read at start, since a merge runs on
    /// a stopped node.
    merged: std::collections::BTreeMap<String, String>,
}

impl Node {
    /// Opens a node over its store. `configured` is the reference data of the node's own
    /// files: at the province it becomes a new version whenever it differs from the stored
    /// one; below, the version last received from the parent wins over it.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the store cannot be read (including a stored reference data record
    /// that cannot be decoded) or the new reference version cannot be committed.
    pub async fn open(
        unit: Unit,
        hierarchy: Arc<Hierarchy>,
        configured: Reference,
        store: Arc<dyn Store>,
        clock: Clock,
        stuck_after: std::time::Duration,
    ) -> Result<Self> {
        let started = std::time::Instant::now();
        status::log_memory("store opened");
        let view = view::View::build(store.as_ref(), &configured.rules, &unit.code)?;
        let view_built_in = started.elapsed();
        tracing::info!(
            unit = %unit.code,
            plans = view.plans().len(),
            entries = view.entries(),
            millis = view_built_in.as_millis() as u64,
            "view built"
        );
        status::log_memory("view built");
        metrics::gauge!("quyhoach_view_build_seconds", "unit" => unit.code.clone())
            .set(view_built_in.as_secs_f64());
        let acceptances = checks::stored_acceptances(store.as_ref())?;
        let fulfilled = fulfil::stored_fulfilments(store.as_ref())?;
        let merged = merge::merged_units(store.as_ref())?;
        let node = Self {
            unit,
            hierarchy,
            reference: RwLock::new(Arc::new(configured.clone())),
            store,
            clock,
            write_lock: Mutex::new(()),
            outbox_wake: Arc::new(Notify::new()),
            link: std::sync::Mutex::new(LinkState::default()),
            child_reports: std::sync::Mutex::new(HashMap::new()),
            stuck_after: chrono::Duration::from_std(stuck_after).unwrap_or(chrono::Duration::MAX),
            counters: status::Counters::default(),
            arrivals: std::sync::Mutex::new(Vec::new()),
            arrival_wake: Notify::new(),
            view: RwLock::new(view),
            view_pending: std::sync::Mutex::new(Default::default()),
            live: RwLock::new(live::Live::default()),
            rechecks_queued: Default::default(),
            rechecks_done: tokio::sync::watch::Sender::new(0),
            lower_states: std::sync::Mutex::new(HashMap::new()),
            view_built_in,
            reconcile_log: Default::default(),
            acceptances: RwLock::new(acceptances),
            acked_revisions: Default::default(),
            pushing: Mutex::new(()),
            signing_authority: None,
            classification: None,
            signer: std::sync::OnceLock::new(),
            fulfilled: RwLock::new(fulfilled),
            merged,
        };
        if node.runs_checks() {
            node.live
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .findings = node.open_in_history()?;
            status::log_memory("open findings read");
            node.queue_recheck(live::Recheck::Full {
                why: "checked at start".into(),
            });
        }
        node.load_reference(configured).await?;
        node.publish_pending()?;
        Ok(node)
    }

    /// The node with the authority that approvers' detached CMS signatures must chain to
    /// (`serve --signing-ca`) and its revocation list as followed on disk (`--signing-crl`),
    /// or none (then an approval carrying one is refused).
    pub fn with_signing_authority(
        mut self,
        authority: Option<crate::config::SigningTrust>,
    ) -> Self {
        self.signing_authority = authority;
        self
    }

    /// The node with the classification every export is marked with (`serve
    /// --classification`), or none (exports unmarked).
    pub fn with_classification(mut self, mark: Option<crate::tabular::Classification>) -> Self {
        self.classification = mark;
        self
    }

    /// The classification every export of this node carries, if the deployment names one.
    pub fn classification(&self) -> Option<&crate::tabular::Classification> {
        self.classification.as_ref()
    }

    /// This node's unit.
    pub fn unit(&self) -> &Unit {
        &self.unit
    }

    /// The hierarchy of units this node knows.
    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    /// The reference data in force.
    pub fn reference(&self) -> Arc<Reference> {
        self.reference
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The position catalogue and terms in force.
    pub fn catalog(&self) -> Catalog {
        self.reference().catalog.clone()
    }

    /// The catalogue as `who` asks for it (the `ListPositions` and `ListTerms` calls): any
    /// authenticated caller may read it.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] if `who` carries no role.
    pub fn catalog_for(&self, who: &Caller) -> Result<Catalog> {
        who.require_authenticated()?;
        Ok(self.catalog())
    }

    /// The store behind this node.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The notifier that wakes outbox delivery when something is queued.
    pub fn outbox_wake(&self) -> Arc<Notify> {
        self.outbox_wake.clone()
    }

    /// The current time, from the node's clock (fixed in tests).
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Today's date (UTC), from the node's clock.
    pub fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    /// The name of `unit` for the Board in the structure of `on` (a plan's date; today's
    /// structure when none): "<commune> (<district>, 2024; now part of <new commune>)" for a
    /// unit since reorganised, as [`Hierarchy::name_in_time`] spells it; empty for an
    /// unknown code.
    pub fn unit_name_at(&self, unit: &str, on: Option<NaiveDate>) -> String {
        self.hierarchy.name_in_time(unit, on).unwrap_or_default()
    }

    /// The name of plan `id`'s unit in the structure of the plan's own date (its adoption day),
    /// as [`Node::unit_name_at`] spells it, for a finding or a list that cites plan versions: a
    /// 2024 list is named by its 2024 commune. The date is read from the current version held
    /// in the view; an older version, or one not held, is named in today's structure.
    pub fn plan_unit_name(&self, id: &PlanId) -> String {
        let on = {
            let view = self.view.read().unwrap_or_else(|e| e.into_inner());
            view.current(&id.unit, &id.term)
                .filter(|p| p.id.version == id.version)
                .and_then(|p| p.adopted_on)
        };
        self.unit_name_at(&id.unit, on)
    }

    /// The unit this node's parent serves, if any.
    pub fn parent_unit(&self) -> Option<&Unit> {
        self.hierarchy.parent(&self.unit.code)
    }

    async fn lock(&self) -> MutexGuard<'_, ()> {
        self.write_lock.lock().await
    }

    /// Held by the sync task from reading the outbox until the last push of a step is answered
    /// and its receipt stored, and by [`Node::withdraw_submission`], so that an item is never
    /// withdrawn while a push is delivering it. Take it before the write lock.
    pub async fn pushing(&self) -> MutexGuard<'_, ()> {
        self.pushing.lock().await
    }

    /// Commits changes, with their audit record, and waits until they are on disk. Call with
    /// the write lock held; the lock is released before waiting.
    async fn commit(
        &self,
        guard: MutexGuard<'_, ()>,
        event: Event,
        mut changes: Vec<Change>,
    ) -> Result<()> {
        let action = event.action;
        let plan_hash = event.plan.as_ref().and_then(|id| {
            changes.iter().find_map(|c| match c {
                Change::PutPlan(p) if &p.id == id => p.hash.clone(),
                Change::PutHeader(h) if &h.id == id => h.hash.clone(),
                _ => None,
            })
        });
        changes.push(Change::Audit(AuditEvent {
            at: self.now(),
            actor: event
                .actor
                .unwrap_or_else(|| format!("system ({})", self.unit.code)),
            action: event.action.into(),
            plan: event.plan,
            plan_hash,
            detail: event.detail,
        }));
        let followed = view::ViewChange::of(&changes);
        let revisions: Vec<(String, u64)> = changes
            .iter()
            .filter_map(|c| match c {
                Change::SetMeta(key, value) if key.starts_with(workflow::REVISION_PREFIX) => {
                    Some((key.clone(), *value))
                }
                _ => None,
            })
            .collect();
        let ticket = self.store.commit(changes)?;
        if !followed.is_empty() {
            self.view_pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(ticket, (action, followed));
        }
        drop(guard);
        if let Err(e) = self.store.wait_durable(ticket).await {
            // Refused: the view never takes it (`after_durable` skips refused tickets too,
            // for a later commit that gets there first).
            self.view_pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&ticket);
            return Err(e.into());
        }
        if !revisions.is_empty() {
            let mut acked = self
                .acked_revisions
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for (key, value) in revisions {
                let slot = acked.entry(key).or_default();
                *slot = (*slot).max(value);
            }
        }
        self.after_durable(ticket);
        Ok(())
    }

    /// Hands the view every change durable up to `ticket`, in commit order, and queues the
    /// re-checks of what they touched. Commits the store refused (a full disk) are dropped,
    /// never shown: call only once every commit up to `ticket` is durable or refused.
    fn after_durable(&self, ticket: u64) {
        // Held until the re-checks are queued: a reader that settles the view meanwhile
        // (`view_settled`, then `wait_live`) waits here, and so counts them, instead of finding
        // nothing pending and answering live findings without the changes taken out here.
        let mut pending = self.view_pending.lock().unwrap_or_else(|e| e.into_inner());
        let later = pending.split_off(&(ticket + 1));
        let ready: Vec<(&'static str, Vec<view::ViewChange>)> =
            std::mem::replace(&mut *pending, later)
                .into_iter()
                .filter(|(t, _)| !self.store.refused(*t))
                .map(|(_, v)| v)
                .collect();
        if ready.is_empty() {
            return;
        }
        let reference = self.reference();
        let touched = {
            let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
            ready
                .into_iter()
                .flat_map(|(action, changes)| {
                    view.apply(changes, &reference.rules, &self.unit.code)
                        .into_iter()
                        .map(move |(id, also)| (action, id, also))
                })
                .collect::<Vec<_>>()
        };
        if self.runs_checks() {
            for (action, id, also) in touched {
                let why = format!("{action} {id}");
                self.queue_recheck(live::Recheck::Plan { id, also, why });
            }
        }
        drop(pending);
    }

    /// Brings the view up to every commit made so far: waits until they are durable, then
    /// applies them. Reads of the view call it first, so that a read follows every write
    /// acknowledged before it.
    ///
    /// A refused last commit settles too (every commit before it is then durable or refused):
    /// the view holds only what was acknowledged, so it goes on answering while the store
    /// refuses writes (a full disk) and after it reopens.
    async fn view_settled(&self) -> Result<()> {
        let ticket = self.store.last_ticket();
        if let Err(e) = self.store.wait_durable(ticket).await {
            if !self.store.refused(ticket) {
                return Err(e.into());
            }
        }
        self.after_durable(ticket);
        Ok(())
    }

    /// How long building the view took when the node started.
    pub fn view_built_in(&self) -> std::time::Duration {
        self.view_built_in
    }

    /// The audit trail and whether it is intact.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the trail cannot be read; a broken chain is not an error but the
    /// second part of the answer.
    pub fn audit(
        &self,
    ) -> Result<(
        Vec<crate::audit::AuditRecord>,
        std::result::Result<(), crate::audit::Broken>,
    )> {
        let (records, head) = self.store.audit()?;
        // With its key, the node checks every seal too; it cannot know how many records
        // predate the key, so it accepts any unsealed run at the start (`audit verify --data`
        // is told the number).
        // A renewed certificate brings a new key: records of the earlier keys' time verify
        // with those (kept by `certs node --renew` beside the key).
        let verdict = match self.store.audit_key() {
            Some(key) => crate::audit::verify_sealed(
                &records,
                head,
                crate::audit::SealCheck {
                    seals: &self.store.audit_seals()?,
                    keys: &[std::slice::from_ref(key), self.store.earlier_audit_keys()].concat(),
                    unsealed: crate::audit::Unsealed::Prefix,
                },
            )
            .map(|_| ()),
            None => crate::audit::verify(&records, head),
        };
        Ok((records, verdict))
    }

    /// Waits until everything committed so far is durable: for answers that depend on state
    /// another request may have written but not yet flushed.
    async fn settle(&self) -> Result<()> {
        self.store.wait_durable(self.store.last_ticket()).await?;
        Ok(())
    }

    /// The root of a read `who` asks for under `under` (a unit code; empty: the widest
    /// subtree of this node they may read), checked against both the caller's scope and this
    /// node's subtree. Every read operation starts here, whatever face it came through.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] on `under` if it lies outside the caller's unit and subtree or this
    /// node's, or nothing of this node is the caller's; [`Error::NotFound`] if it is unknown.
    pub fn scope(&self, who: &Caller, under: &str) -> Result<String> {
        let under = under.trim();
        let root = if under.is_empty() {
            who.default_root(&self.hierarchy, &self.unit.code)?
        } else {
            who.require_read(&self.hierarchy, "under", under)?;
            under.to_string()
        };
        self.scope_root(&root)
    }

    /// Looks a unit up, naming `field` when it is unknown.
    fn known_unit(&self, field: &str, code: &str) -> Result<&Unit> {
        self.hierarchy.get(code).ok_or_else(|| {
            Error::not_found(
                field,
                format!(
                    "unknown unit code {}",
                    crate::domain::validate::prefix(code)
                ),
            )
        })
    }

    /// Looks up a unit of this node's subtree, naming `field` when it is unknown
    /// ([`Error::NotFound`]) or lies outside the subtree ([`Error::Denied`]).
    fn subtree_unit(&self, field: &str, code: &str) -> Result<&Unit> {
        let unit = self.known_unit(field, code)?;
        if !self.hierarchy.is_within(code, &self.unit.code) {
            return Err(Error::denied(
                field,
                format!(
                    "unit {} is outside the subtree of {}",
                    crate::domain::validate::short(code),
                    self.unit.code
                ),
            ));
        }
        Ok(unit)
    }

    fn known_term(&self, field: &str, code: &str) -> Result<()> {
        let reference = self.reference();
        match reference.catalog.term(code) {
            Some(_) => Ok(()),
            None => Err(Error::not_found(
                field,
                format!(
                    "unknown term {} (known: {})",
                    crate::domain::validate::prefix(code),
                    reference
                        .catalog
                        .terms
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// Checks a write to this node's own plan of (`unit`, `term`), as every step of the
    /// owner's workflow begins: `who` is a clerk of `unit`, this node serves `unit`, and
    /// `term` is a known term. Answers the unit.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is a clerk of `unit` and this node serves it;
    /// [`Error::NotFound`] naming `unit` or `term` for an unknown one.
    fn own_plan_write(&self, who: &Caller, unit: &str, term: &str) -> Result<&Unit> {
        who.require_clerk_of(unit)?;
        let owner = self.owned_unit(unit)?;
        self.known_term("term", term)?;
        Ok(owner)
    }

    /// Checks that `unit` exists and that this node owns its plans.
    fn owned_unit(&self, code: &str) -> Result<&Unit> {
        let unit = self.known_unit("unit", code)?;
        if unit.code != self.unit.code {
            return Err(Error::denied(
                "unit",
                format!(
                    "this node serves {} ({}); the plans of {} ({}) are kept by its own node",
                    self.unit.code, self.unit.name, unit.code, unit.name
                ),
            ));
        }
        Ok(unit)
    }

    /// The header of the latest version of (unit, term).
    fn latest(&self, unit: &str, term: &str) -> Result<Option<PlanHeader>> {
        match self.store.latest_version(unit, term)? {
            Some(version) => Ok(self.store.header(&PlanId {
                unit: unit.into(),
                term: term.into(),
                version,
            })?),
            None => Ok(None),
        }
    }

    /// Requires `who` to be the node of `child`, a known unit, and `child` a child of this
    /// node: who may ask this node as its parent.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is the node of `child`, or if `child` is not a child of
    /// this node; [`Error::NotFound`] if `child` is an unknown unit.
    pub(crate) fn require_child_node(&self, who: &Caller, child: &str) -> Result<()> {
        who.require_node(child)?;
        self.known_unit("from_unit", child)?;
        if !self.approves(child) {
            return Err(Error::denied(
                "from_unit",
                format!("{child} is not a child of {}", self.unit.code),
            ));
        }
        Ok(())
    }

    /// Returns true if and only if this node approves the plans of `unit`: it serves the
    /// unit's parent, or the parent is an old province whose node's store was merged into
    /// this one (`quyhoach merge`, docs/merging-provinces.md): the new province decides what
    /// awaited the old one's decision.
    pub fn approves(&self, unit: &str) -> bool {
        self.hierarchy.parent(unit).is_some_and(|p| {
            p.code == self.unit.code
                || (p.level == crate::domain::Level::Province
                    && self.merged.values().any(|province| *province == p.code))
        })
    }

    /// The root of a query's subtree: `under`, or this node's unit when empty; it must lie
    /// within this node's subtree.
    fn scope_root(&self, under: &str) -> Result<String> {
        if under.is_empty() {
            return Ok(self.unit.code.clone());
        }
        self.subtree_unit("under", under)?;
        Ok(under.to_string())
    }
}
