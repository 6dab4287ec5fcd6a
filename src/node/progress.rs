//! Where each unit's plan is, for the completeness report: not started, draft, adopted,
//! submitted and pending at which unit, approved, returned, or overdue (R17). A node knows the
//! plans it holds; what lies below it reaches it through the pull each child already makes (the
//! child reports the current version of every plan it holds or has heard of), so the province
//! sees a commune plan pending at its district before the district decides.

use std::collections::HashMap;

use super::{at_most, Node};
use crate::{
    domain::{PlanId, PlanStatus},
    error::{Error, Result},
    rules::RuleId,
};

/// The state of one plan version as the node holding it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedPlan {
    /// The plan version.
    pub id: PlanId,
    /// Its status on the node that holds it.
    pub status: PlanStatus,
    /// The unit whose node holds the version in this state.
    pub held_by: String,
}

/// Where a unit's plan for a term is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// No version is known anywhere this node can see.
    NotStarted,
    /// A draft is being edited.
    Draft,
    /// Adopted by the unit, not yet submitted.
    Adopted,
    /// Submitted and waiting for the approving level's decision, at `pending_at`.
    Submitted {
        /// The unit whose node is to decide.
        pending_at: String,
    },
    /// Approved by the approving level.
    Approved,
    /// Returned to the unit for revision.
    Returned,
    /// Waiting for a decision at `pending_at` past the appraisal deadline (R17).
    Overdue {
        /// The unit whose node is to decide.
        pending_at: String,
    },
    /// No version yet, and the unit came into being on `since` by a reorganisation: a new
    /// unit starts without an approved plan (the old units' plans are its sources).
    New {
        /// The day the structure that created it took effect.
        since: chrono::NaiveDate,
    },
    /// A special zone (đặc khu) or a unit the province marks as not planning: no plan is
    /// expected of it.
    NotPlanning,
}

impl Progress {
    /// Returns true if and only if the unit has submitted nothing yet for the term and is
    /// expected to have (a new unit is not behind: it says so; a special zone plans nothing).
    pub fn is_missing(&self) -> bool {
        matches!(
            self,
            Progress::NotStarted | Progress::Draft | Progress::Adopted
        )
    }
}

/// One unit's line of the completeness report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitProgress {
    /// Code of the unit.
    pub unit: String,
    /// Where its plan for the term is.
    pub progress: Progress,
    /// The version the state is about; 0 when not started.
    pub version: u32,
}

/// The most a child may report in one pull.
const MAX_REPORTED_STATES: usize = 200_000;

impl Node {
    /// What this node reports to its parent: the current version of every plan it holds, and
    /// what its children reported of the plans it does not hold.
    pub fn plan_states(&self) -> Vec<ReportedPlan> {
        let mut out: HashMap<(String, String), ReportedPlan> = HashMap::new();
        for states in self
            .lower_states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            for s in states {
                out.insert((s.id.unit.clone(), s.id.term.clone()), s.clone());
            }
        }
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        for plan in view.currents() {
            let key = (plan.id.unit.clone(), plan.id.term.clone());
            let newer = out
                .get(&key)
                .is_none_or(|s| s.id.version <= plan.id.version);
            if newer {
                out.insert(
                    key,
                    ReportedPlan {
                        id: plan.id.clone(),
                        status: plan.status,
                        held_by: self.unit.code.clone(),
                    },
                );
            }
        }
        let mut out: Vec<ReportedPlan> = out.into_values().collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Takes what a child reported of its subtree's plans. Every state must be about a unit
    /// within the child's subtree and held by one.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming the first state that is not.
    pub fn note_lower_states(&self, child: &str, states: Vec<ReportedPlan>) -> Result<()> {
        at_most("plan_states", states.len(), MAX_REPORTED_STATES, |n| {
            format!("holds {n} states; at most {MAX_REPORTED_STATES}")
        })?;
        for (i, s) in states.iter().enumerate() {
            for (field, unit) in [("plan.unit", &s.id.unit), ("held_by", &s.held_by)] {
                if !self.hierarchy.is_within(unit, child) {
                    return Err(Error::invalid(
                        &format!("plan_states[{i}].{field}"),
                        format!("unit {unit:?} is not within {child}'s subtree"),
                    ));
                }
            }
        }
        self.lower_states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(child.to_string(), states);
        Ok(())
    }

    /// Where the plan of every unit of the subtree under `root` stands for `term`.
    pub(super) async fn progress(&self, root: &str, term: &str) -> Result<Vec<UnitProgress>> {
        self.wait_live().await?;
        let overdue: HashMap<PlanId, ()> = self
            .live_where(|f| f.rule == RuleId::R17)
            .into_iter()
            .flat_map(|f| f.plans)
            .map(|p| (p, ()))
            .collect();
        let not_planning = self.reference().rules.not_planning.clone();
        let mut known: HashMap<String, ReportedPlan> = HashMap::new();
        for s in self.plan_states() {
            if s.id.term == term {
                known.insert(s.id.unit.clone(), s);
            }
        }
        Ok(self
            .hierarchy
            .subtree(root)
            .into_iter()
            .filter(|u| u.code != self.unit.code)
            .map(|u| {
                let Some(s) = known.get(&u.code) else {
                    // Special zones: "Đặc khu …" in the official list (Nghị quyết 1687 to
                    // 1693/NQ-UBTVQH15, 2025); Hoàng Sa and Trường Sa have no population.
                    let progress =
                        if u.name.starts_with("Đặc khu ") || not_planning.contains(&u.code) {
                            Progress::NotPlanning
                        } else if let Some(since) = self.hierarchy.new_since(&u.code) {
                            Progress::New { since }
                        } else {
                            Progress::NotStarted
                        };
                    return UnitProgress {
                        unit: u.code.clone(),
                        progress,
                        version: 0,
                    };
                };
                let pending_at = match s.status {
                    PlanStatus::Received => s.held_by.clone(),
                    // On its way: it waits at the level above its unit.
                    _ => self
                        .hierarchy
                        .parent(&u.code)
                        .map(|p| p.code.clone())
                        .unwrap_or_default(),
                };
                let progress = match s.status {
                    PlanStatus::Draft => Progress::Draft,
                    PlanStatus::Adopted => Progress::Adopted,
                    PlanStatus::Submitted | PlanStatus::Received if overdue.contains_key(&s.id) => {
                        Progress::Overdue { pending_at }
                    }
                    PlanStatus::Submitted | PlanStatus::Received => {
                        Progress::Submitted { pending_at }
                    }
                    PlanStatus::Approved => Progress::Approved,
                    PlanStatus::Returned => Progress::Returned,
                };
                UnitProgress {
                    unit: u.code.clone(),
                    progress,
                    version: s.id.version,
                }
            })
            .collect())
    }
}
