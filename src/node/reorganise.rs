//! The reorganisation of a province's units (sắp xếp đơn vị hành chính) as an operation of the
//! province node: a dry run says what becomes of every plan of the province, and applying it
//! moves the node to the next structure of its [`crate::domain::UnitHistory`] in one
//! transaction, audited. The choice travels down with the reference data
//! ([`super::Reference::structure`]), so every node below moves too; what a node below must do
//! besides is in `docs/reorganisation.md`.

use chrono::NaiveDate;

use super::{live, reference::StructureChoice, Event, Node};
use crate::{
    auth::{Caller, Role},
    domain::{Level, PlanId, PlanStatus},
    error::{Error, Result},
    store::Change,
};

/// What becomes of one plan in a reorganisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Its unit goes on unchanged: the plan stays its plan.
    Stays,
    /// Its unit is abolished or merged: the plan is kept, read only, as a source of the new
    /// units (their codes).
    Source {
        /// The units that take its territory.
        into: Vec<String>,
    },
    /// Awaiting a decision: at the unit that holds it now, and after the reorganisation at
    /// the unit that approves its unit then (the same one when nothing changes for it).
    Pending {
        /// The unit whose node holds it awaiting a decision.
        at: String,
        /// The unit that will decide it.
        to: String,
    },
}

/// One plan of the province and its fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFate {
    /// The latest version of the unit's plan for the term.
    pub id: PlanId,
    /// Its status where it is held.
    pub status: PlanStatus,
    /// The unit whose node holds it in that status.
    pub held_by: String,
    /// Its unit's name in the structure it was made in.
    pub name: String,
    /// What becomes of it.
    pub fate: Fate,
}

/// A reorganisation, planned or applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reorganisation {
    /// The structure before (its label).
    pub from: String,
    /// The structure after.
    pub to: String,
    /// The day it takes effect.
    pub on: NaiveDate,
    /// Returns true if and only if it was applied (false for a dry run).
    pub applied: bool,
    /// Every plan of the province this node holds or has heard of, by unit and term.
    pub plans: Vec<PlanFate>,
}

impl Node {
    /// Plans, or with `dry_run` false applies, the move of this province node to the
    /// structure labelled `to` (`2025`, or `builtin:2025`) on `on`. Applying stores the
    /// choice in a new version of the reference data, with its audit record, in one
    /// transaction, then switches the node's units and re-checks the province; the nodes
    /// below receive the choice with the reference data.
    ///
    /// A dry run changes nothing: any reader of the province may ask for it. Applying moves
    /// every node of the province: its administrators only.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] if `who` may not read this node's unit, or applies without the admin
    /// role; [`Error::Precondition`] if this node is not a province's, or is already in that
    /// structure or a later one; [`Error::Invalid`] naming `to` for a structure the history
    /// lacks or one that is not the next, naming `on` for a day other than the structure's
    /// first; [`Error::Store`] if storage fails (nothing is applied then).
    pub async fn reorganize(
        &self,
        who: &Caller,
        to: &str,
        on: NaiveDate,
        dry_run: bool,
    ) -> Result<Reorganisation> {
        who.require_read(&self.hierarchy, "caller", &self.unit.code)?;
        if !dry_run {
            who.require(Role::Admin)?;
        }
        if self.unit.level != Level::Province {
            return Err(Error::precondition(
                "node",
                format!(
                    "{} is not a province: the province's node reorganises, and the nodes below \
                     learn the new structure from it",
                    self.unit.code
                ),
            ));
        }
        let history = self.hierarchy.history();
        let now = self.hierarchy.period();
        let label = to.trim().strip_prefix("builtin:").unwrap_or(to.trim());
        let known = || {
            history
                .periods()
                .iter()
                .map(|p| p.label.as_str())
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let target = history
            .period_named(label)
            .filter(|_| !label.is_empty())
            .ok_or_else(|| {
                Error::invalid(
                    "to",
                    format!(
                        "unknown structure {} (known: {})",
                        crate::domain::validate::prefix(label),
                        known()
                    ),
                )
            })?;
        if target <= now {
            return Err(Error::precondition(
                "to",
                format!(
                    "this node is already in structure {} ({label} is not later)",
                    self.hierarchy.label()
                ),
            ));
        }
        if target != now + 1 {
            return Err(Error::invalid(
                "to",
                format!(
                    "structure {label} is not the next one after {}: reorganise one step at a time",
                    self.hierarchy.label()
                ),
            ));
        }
        let takes_effect = history.periods()[target].from;
        if takes_effect != Some(on) {
            return Err(Error::invalid(
                "on",
                format!(
                    "structure {label} takes effect on {}, not {on}",
                    takes_effect.map_or("-".to_string(), |d| d.to_string())
                ),
            ));
        }
        self.view_settled().await?;
        let plans = self.fates(now, target);
        let plan = Reorganisation {
            from: self.hierarchy.label().to_string(),
            to: label.to_string(),
            on,
            applied: !dry_run,
            plans,
        };
        if dry_run {
            return Ok(plan);
        }
        let choice = StructureChoice {
            label: label.to_string(),
            on,
        };
        let mut reference = (*self.reference()).clone();
        reference.version += 1;
        reference.structure = Some(choice);
        let count = |f: fn(&Fate) -> bool| plan.plans.iter().filter(|p| f(&p.fate)).count();
        let event = Event::new("reorganize", None).by(who).detail(format!(
            "structure {} to {} on {on}: {} plans; {} stay, {} become sources, {} pending \
             (reference data version {})",
            plan.from,
            plan.to,
            plan.plans.len(),
            count(|f| matches!(f, Fate::Stays)),
            count(|f| matches!(f, Fate::Source { .. })),
            count(|f| matches!(f, Fate::Pending { .. })),
            reference.version
        ));
        let value = serde_json::to_value(&reference).expect("reference data serializes");
        let guard = self.lock().await;
        self.commit(
            guard,
            event,
            vec![Change::SetDocument(
                super::reference::DOCUMENT.into(),
                value,
            )],
        )
        .await?;
        self.swap_reference(reference);
        self.hierarchy.switch_to(target);
        tracing::info!(structure = label, %on, "units reorganised");
        if self.runs_checks() {
            self.queue_recheck(live::Recheck::Full {
                why: format!("reorganised to structure {label}"),
            });
        }
        Ok(plan)
    }

    /// What becomes of each plan known here when period `from` gives way to `to`.
    fn fates(&self, from: usize, to: usize) -> Vec<PlanFate> {
        let history = self.hierarchy.history();
        let after = &history.periods()[to].structure;
        self.plan_states()
            .into_iter()
            .filter(|s| self.hierarchy.is_within(&s.id.unit, &self.unit.code))
            .map(|s| {
                let unit = s.id.unit.as_str();
                let successors: Vec<String> = match history.find(unit, from) {
                    Some((p, _)) => history.successors(unit, p, to).into_iter().collect(),
                    None => Vec::new(),
                };
                let continues = history
                    .find(unit, from)
                    .is_some_and(|(p, _)| p == from && history.continues(unit, from));
                let fate = match s.status {
                    PlanStatus::Submitted | PlanStatus::Received => {
                        let at = match s.status {
                            PlanStatus::Received => s.held_by.clone(),
                            _ => self
                                .hierarchy
                                .parent(unit)
                                .map(|u| u.code.clone())
                                .unwrap_or_default(),
                        };
                        // Who approves the unit afterwards: the parent of the unit of the
                        // same code, if the new structure has one at the same level (the
                        // commune's node goes on under it); else of its successors, when
                        // they share one; else the province.
                        let same = after
                            .get(unit)
                            .filter(|u| Some(u.level) == self.hierarchy.get(unit).map(|o| o.level));
                        let parents: std::collections::BTreeSet<String> = match same {
                            Some(u) => u.parent.iter().cloned().collect(),
                            None => successors
                                .iter()
                                .filter_map(|c| after.get(c).and_then(|u| u.parent.clone()))
                                .collect(),
                        };
                        let to = match (same, parents.len()) {
                            // An abolished unit's own plan stays with the unit that holds it.
                            (None, _) if s.status == PlanStatus::Received => at.clone(),
                            (_, 1) => parents.into_iter().next().unwrap_or_default(),
                            _ => self.unit.code.clone(),
                        };
                        Fate::Pending { at, to }
                    }
                    _ if continues => Fate::Stays,
                    _ => Fate::Source { into: successors },
                };
                PlanFate {
                    name: self.unit_name_at(unit, None),
                    id: s.id,
                    status: s.status,
                    held_by: s.held_by,
                    fate,
                }
            })
            .collect()
    }

    /// Moves this node to the structure a reference data version carries, if it is later
    /// than the node's. A structure this node's history lacks is logged and ignored: the
    /// node keeps its units file.
    pub(super) fn follow_structure(&self, choice: Option<&StructureChoice>) {
        let Some(choice) = choice else { return };
        match self.hierarchy.history().period_named(&choice.label) {
            Some(p) if p > self.hierarchy.period() => {
                self.hierarchy.switch_to(p);
                tracing::info!(structure = %choice.label, on = %choice.on, "units follow the province's reorganisation");
                if self.runs_checks() {
                    self.queue_recheck(live::Recheck::Full {
                        why: format!("reorganised to structure {}", choice.label),
                    });
                }
            }
            Some(_) => {}
            None => tracing::warn!(
                structure = %choice.label,
                "the province moved to a structure this node's units file does not know"
            ),
        }
    }

    /// Checks a structure choice a parent sends down, like a local setting: a structure
    /// `history` (this node's, with the later reorganisations the same reference data
    /// carries) has, on the day it takes effect there.
    pub(super) fn check_structure(
        &self,
        history: &crate::domain::UnitHistory,
        choice: Option<&StructureChoice>,
    ) -> Result<()> {
        let Some(choice) = choice else { return Ok(()) };
        let Some(p) = history.period_named(&choice.label) else {
            // A node started with its own units file has no history to follow; it keeps it.
            return Ok(());
        };
        if history.periods()[p].from != Some(choice.on) {
            return Err(Error::invalid(
                "reference.structure.on",
                format!(
                    "structure {} takes effect on {}, not {}",
                    choice.label,
                    history.periods()[p]
                        .from
                        .map_or("-".to_string(), |d| d.to_string()),
                    choice.on
                ),
            ));
        }
        Ok(())
    }
}
