//! Sync status: the state of the link to the parent and of each child's link, the recorded
//! conflicts, and counters. A link whose oldest pending item, or whose last contact, is older
//! than the configured limit is reported as stuck.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use super::Node;
use crate::{
    auth::Caller,
    domain::{Conflict, PlanId},
    error::Result,
};

/// A pending outbox item: the plan version and when it was queued.
pub type Pending = (PlanId, DateTime<Utc>);

/// The upward link as the sync task sees it (kept in memory).
#[derive(Debug, Clone, Default)]
pub struct LinkState {
    /// The error of the last failed attempt, cleared by a success.
    pub last_error: Option<String>,
    /// When an attempt on the link last succeeded.
    pub last_success_at: Option<DateTime<Utc>>,
    /// How many attempts have failed in a row since then.
    pub consecutive_failures: u32,
}

/// What a child says about its own upward link each time it pulls decisions.
#[derive(Debug, Clone)]
pub struct ChildReport {
    /// When the child made this report.
    pub reported_at: DateTime<Utc>,
    /// How many items wait in the child's outbox.
    pub outbox_length: u64,
    /// When the oldest of them was queued.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// The last error on the child's upward link, if any.
    pub last_error: Option<String>,
    /// The reference data version the child holds.
    pub reference_version: u64,
}

/// One link, seen from this node.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkStatus {
    /// The unit at the other end.
    pub unit: String,
    /// The last receipt: held from the parent, or given to the child.
    pub last_receipt_at: Option<DateTime<Utc>>,
    /// Items waiting to go up this link.
    pub outbox_length: u64,
    /// The oldest of them and when it was queued.
    pub oldest_pending: Option<Pending>,
    /// The last error on the link, if any.
    pub last_error: Option<String>,
    /// How long the oldest pending item has waited (zero when nothing waits), in seconds.
    pub lag_seconds: i64,
    /// When the other end was last heard from.
    pub last_contact_at: Option<DateTime<Utc>>,
    /// The reference data version the child reports (children only).
    pub reference_version: Option<u64>,
    /// True if and only if the oldest pending item, or the last contact, is older than the
    /// configured limit.
    pub stuck: bool,
    /// What anti-entropy on this link has done (for a child link: only when it last ran).
    pub reconciled: super::Reconciled,
}

/// Everything `quyhoach status` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncStatus {
    /// This node's unit.
    pub unit: String,
    /// The reference data version this node holds.
    pub reference_version: u64,
    /// The link to the parent; none at the top of the hierarchy.
    pub parent: Option<LinkStatus>,
    /// The links of the children that have reported.
    pub children: Vec<LinkStatus>,
    /// Pushes refused because the same version is held with another hash.
    pub conflicts: Vec<Conflict>,
    /// Pushes taken from children since start.
    pub pushes_accepted: u64,
    /// Pushes that repeated a version already held with the same hash, since start.
    pub pushes_duplicate: u64,
    /// Pushes refused since start.
    pub pushes_refused: u64,
}

/// Push counters since start.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub accepted: AtomicU64,
    pub duplicate: AtomicU64,
    pub refused: AtomicU64,
}

pub(super) const LAST_PARENT_RECEIPT: &str = "link.parent.receipt_ms";

pub(super) fn child_receipt_key(child: &str) -> String {
    format!("link.child.{child}.receipt_ms")
}

fn from_ms(ms: Option<u64>) -> Option<DateTime<Utc>> {
    ms.and_then(|ms| DateTime::from_timestamp_millis(ms as i64))
}

impl Node {
    /// Records how the sync task's last attempt went.
    pub fn note_link(&self, result: std::result::Result<(), String>) {
        let mut link = self.link.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(()) => {
                link.last_error = None;
                link.consecutive_failures = 0;
                link.last_success_at = Some(self.now());
            }
            Err(e) => {
                link.last_error = Some(e);
                link.consecutive_failures += 1;
            }
        }
    }

    /// The upward link's state, for a status report or a child's report to its parent.
    pub fn link_state(&self) -> LinkState {
        self.link.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Keeps what a child reported about itself.
    pub fn note_child(&self, child: &str, report: ChildReport) {
        let lag = report.oldest_pending_at.map_or(0.0, |at| {
            (self.now() - at).num_milliseconds() as f64 / 1000.0
        });
        let labels = [
            ("unit", self.unit.code.clone()),
            ("child", child.to_string()),
        ];
        metrics::gauge!("quyhoach_child_outbox_length", &labels).set(report.outbox_length as f64);
        metrics::gauge!("quyhoach_child_sync_lag_seconds", &labels).set(lag);
        self.child_reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(child.to_string(), report);
    }

    /// The length of the outbox and its oldest item.
    ///
    /// # Errors
    ///
    /// [`Error::Store`](crate::error::Error::Store) if storage fails.
    pub fn outbox_summary(&self) -> Result<(u64, Option<Pending>)> {
        let outbox = self.store.outbox()?;
        let oldest = outbox
            .first()
            .map(|(_, item)| (item.plan.clone(), item.queued_at));
        let lag = oldest.as_ref().map_or(0.0, |(_, at)| {
            (self.now() - *at).num_milliseconds() as f64 / 1000.0
        });
        metrics::gauge!("quyhoach_outbox_length", "unit" => self.unit.code.clone())
            .set(outbox.len() as f64);
        metrics::gauge!("quyhoach_sync_lag_seconds", "unit" => self.unit.code.clone()).set(lag);
        Ok((outbox.len() as u64, oldest))
    }

    /// Publishes how many received plans await this node's decision, by the level of their unit.
    /// Moves the pending-approval gauge of the level of `unit` by `delta`.
    pub(super) fn pending_changed(&self, unit: &str, delta: f64) {
        if let Some(u) = self.hierarchy.get(unit) {
            metrics::gauge!("quyhoach_plans_pending_approval", "unit" => self.unit.code.clone(), "level" => u.level.as_str())
                .increment(delta);
        }
    }

    /// Publishes, from the store, how many received plans await this node's decision, by the
    /// level of their unit (at start; afterwards [`Node::pending_changed`] keeps it current).
    pub(super) fn publish_pending(&self) -> Result<()> {
        let mut pending: std::collections::BTreeMap<&'static str, u64> =
            std::collections::BTreeMap::new();
        for level in [
            crate::domain::Level::Commune,
            crate::domain::Level::District,
            crate::domain::Level::Province,
        ] {
            pending.insert(level.as_str(), 0);
        }
        for h in self.store.headers()? {
            if h.status == crate::domain::PlanStatus::Received {
                if let Some(u) = self.hierarchy.get(&h.id.unit) {
                    *pending.entry(u.level.as_str()).or_default() += 1;
                }
            }
        }
        for (level, n) in pending {
            metrics::gauge!("quyhoach_plans_pending_approval", "unit" => self.unit.code.clone(), "level" => level).set(n as f64);
        }
        Ok(())
    }

    pub(super) fn count_push(&self, outcome: &std::result::Result<bool, ()>) {
        let counter = match outcome {
            Ok(false) => &self.counters.accepted,
            Ok(true) => &self.counters.duplicate,
            Err(()) => &self.counters.refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let outcome = match outcome {
            Ok(false) => "accepted",
            Ok(true) => "duplicate",
            Err(()) => "refused",
        };
        metrics::counter!("quyhoach_pushes_total", "unit" => self.unit.code.clone(), "outcome" => outcome)
            .increment(1);
    }

    /// [`Node::sync_status`] as `who` may see it: the whole report for a caller who may read
    /// this node's own unit (the links, their outboxes and last errors are the node's own),
    /// none for anyone else, as the `SyncStatus` RPC refuses them (a district's reader signed
    /// in to the province's page saw every link).
    ///
    /// # Errors
    ///
    /// [`Error::Store`](crate::error::Error::Store) if storage fails.
    pub fn sync_status_seen_by(&self, who: &Caller) -> Result<Option<SyncStatus>> {
        if !who.may_read(&self.hierarchy, &self.unit.code) {
            return Ok(None);
        }
        self.link_report().map(Some)
    }

    /// The whole status report, for a caller who may read this node's own unit.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`](crate::error::Error::Denied) for anyone else;
    /// [`Error::Store`](crate::error::Error::Store) if storage fails.
    pub fn sync_status(&self, who: &Caller) -> Result<SyncStatus> {
        who.require_read(&self.hierarchy, "caller", &self.unit.code)?;
        self.link_report()
    }

    /// The status report, for the node's own use (the sync task, the status page).
    fn link_report(&self) -> Result<SyncStatus> {
        let now = self.now();
        // A stamp further in the future than the limit counts too: an item queued while this
        // node's (or the child's) clock was days ahead would otherwise show a negative lag
        // and never be stuck while it stays queued.
        let stuck = |since: Option<DateTime<Utc>>| {
            since.is_some_and(|t| now - t > self.stuck_after || t - now > self.stuck_after)
        };
        let parent = match self.parent_unit() {
            None => None,
            Some(p) => {
                let (length, oldest) = self.outbox_summary()?;
                let link = self.link_state();
                let queued = oldest.as_ref().map(|(_, at)| *at);
                Some(LinkStatus {
                    unit: p.code.clone(),
                    last_receipt_at: from_ms(self.store.meta(LAST_PARENT_RECEIPT)?),
                    outbox_length: length,
                    oldest_pending: oldest,
                    last_error: link.last_error.clone(),
                    lag_seconds: queued.map_or(0, |at| (now - at).num_seconds()),
                    last_contact_at: link.last_success_at,
                    reference_version: None,
                    stuck: stuck(queued)
                        || (link.consecutive_failures > 0
                            && stuck(link.last_success_at.or(queued))),
                    reconciled: self.reconciled(),
                })
            }
        };
        let reports = self
            .child_reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut children = Vec::new();
        for child in self.hierarchy.children(&self.unit.code) {
            let receipt = from_ms(self.store.meta(&child_receipt_key(child))?);
            let report = reports.get(child);
            let reconciled_at = self.child_reconciled_at(child);
            if receipt.is_none() && report.is_none() && reconciled_at.is_none() {
                continue;
            }
            let oldest = report.and_then(|r| r.oldest_pending_at);
            let contact = report.map(|r| r.reported_at).max(receipt);
            children.push(LinkStatus {
                unit: child.clone(),
                last_receipt_at: receipt,
                outbox_length: report.map_or(0, |r| r.outbox_length),
                oldest_pending: None,
                last_error: report.and_then(|r| r.last_error.clone()),
                lag_seconds: oldest.map_or(0, |at| (now - at).num_seconds()),
                last_contact_at: contact,
                reference_version: report.map(|r| r.reference_version),
                stuck: stuck(oldest) || stuck(contact),
                reconciled: super::Reconciled {
                    at: reconciled_at,
                    ..Default::default()
                },
            });
        }
        Ok(SyncStatus {
            unit: self.unit.code.clone(),
            reference_version: self.reference().version,
            parent,
            children,
            conflicts: self.store.conflicts()?,
            pushes_accepted: self.counters.accepted.load(Ordering::Relaxed),
            pushes_duplicate: self.counters.duplicate.load(Ordering::Relaxed),
            pushes_refused: self.counters.refused.load(Ordering::Relaxed),
        })
    }
}

/// The process's resident memory now and at its peak, in KiB (`VmRSS`, `VmHWM` of
/// `/proc/self/status`); none where the file is not there (not Linux). Logged at the steps
/// that set a node's memory (the view built, the live findings, a full check), so that the
/// benchmark (section 3) and an operator can say which step sets the peak.
pub(crate) fn memory_kib() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |key: &str| -> Option<u64> {
        text.lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Logs [`memory_kib`] at `step` (at `info`, target `quyhoach::memory`).
pub(crate) fn log_memory(step: &str) {
    if let Some((rss, hwm)) = memory_kib() {
        tracing::info!(target: "quyhoach::memory", step, rss_kib = rss, peak_kib = hwm, "memory");
    }
}
