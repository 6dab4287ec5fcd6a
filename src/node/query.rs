//! Read-only queries: plan versions, plan listings over a unit subtree, and the consolidated
//! list of entries that the province's Organization Board reads.

use super::Node;
use crate::{
    domain::{text, EntrySource, Gender, Plan, PlanId, PlanStatus},
    error::{Error, Result},
    store::PlanHeader,
};

/// Which plans to list.
#[derive(Debug, Clone, Default)]
pub struct PlanFilter {
    /// Root of the unit subtree; empty means this node's unit.
    pub under: String,
    pub term: Option<String>,
    pub status: Option<PlanStatus>,
    /// Only the latest version of each (unit, term).
    pub latest_only: bool,
}

/// Which consolidated entries to list.
#[derive(Debug, Clone, Default)]
pub struct ConsolidatedFilter {
    pub under: String,
    pub term: Option<String>,
    pub position: Option<String>,
    pub status: Option<PlanStatus>,
    /// Diacritic- and case-insensitive part of a name.
    pub name: Option<String>,
    /// Only plans of units of this level.
    pub level: Option<crate::domain::Level>,
    pub gender: Option<Gender>,
    /// Age in whole years today, at least / at most.
    pub age_min: Option<u32>,
    pub age_max: Option<u32>,
    /// Only entries that a finding of this rule names.
    pub has_rule: Option<crate::rules::RuleId>,
}

/// One line of the consolidated list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsolidatedEntry {
    pub unit: String,
    pub unit_name: String,
    pub term: String,
    pub version: u32,
    pub status: PlanStatus,
    pub position: String,
    pub position_title: String,
    pub full_name: String,
    pub birth_date: chrono::NaiveDate,
    pub gender: Gender,
    /// The national ID with all but its last four digits hidden.
    pub national_id_masked: String,
    /// Yes votes of the last round that voted on this entry, and their denominator (R19).
    pub votes: Option<(u32, u32)>,
    pub source: EntrySource,
}

pub use crate::domain::validate::mask_id;

impl Node {
    /// One plan version; version 0 means the latest.
    pub async fn get_plan(&self, unit: &str, term: &str, version: u32) -> Result<Plan> {
        self.known_unit("unit", unit)?;
        self.known_term("term", term)?;
        let version = match version {
            0 => self.store.latest_version(unit, term)?.ok_or_else(|| {
                Error::not_found("term", format!("no plan for {unit} in term {term} here"))
            })?,
            v => v,
        };
        self.load(&PlanId {
            unit: unit.into(),
            term: term.into(),
            version,
        })
    }

    /// Plan headers within a subtree, filtered.
    pub async fn list_plans(&self, filter: &PlanFilter) -> Result<Vec<PlanHeader>> {
        let root = self.scope_root(&filter.under)?;
        if let Some(term) = &filter.term {
            self.known_term("term", term)?;
        }
        let mut headers: Vec<PlanHeader> = self.store.headers_where(&|unit, term| {
            filter.term.as_deref().is_none_or(|t| t == term)
                && self.hierarchy.is_within(unit, &root)
        })?;
        if filter.latest_only {
            // Headers come in key order, so the last of each (unit, term) is the latest.
            let mut latest: Vec<PlanHeader> = Vec::new();
            for h in headers {
                match latest.last_mut() {
                    Some(last) if last.id.unit == h.id.unit && last.id.term == h.id.term => {
                        *last = h
                    }
                    _ => latest.push(h),
                }
            }
            headers = latest;
        }
        headers.retain(|h| filter.status.is_none_or(|s| s == h.status));
        Ok(headers)
    }

    /// The consolidated list: every entry of the latest version of each plan in the subtree,
    /// sorted the Vietnamese way (given name, middle names, family name), then by unit.
    pub async fn consolidated(
        &self,
        filter: &ConsolidatedFilter,
    ) -> Result<Vec<ConsolidatedEntry>> {
        if let Some(p) = &filter.position {
            if self.reference().catalog.position(p).is_none() {
                return Err(Error::not_found(
                    "position",
                    format!(
                        "unknown position code {}",
                        crate::domain::validate::prefix(p)
                    ),
                ));
            }
        }
        let headers = self
            .list_plans(&PlanFilter {
                under: filter.under.clone(),
                term: filter.term.clone(),
                status: filter.status,
                latest_only: true,
            })
            .await?;
        let reference = self.reference();
        let query = filter
            .name
            .as_deref()
            .map(text::fold)
            .filter(|q| !q.is_empty());
        let flagged = match filter.has_rule {
            Some(rule) => Some(self.flagged_by(rule, &filter.under).await?),
            None => None,
        };
        let today = self.today();
        let mut out = Vec::new();
        for h in headers
            .into_iter()
            .filter(|h| h.status != PlanStatus::Draft)
            .filter(|h| {
                filter
                    .level
                    .is_none_or(|l| self.hierarchy.get(&h.id.unit).is_some_and(|u| u.level == l))
            })
        {
            let plan = self.load(&h.id)?;
            let unit_name = self
                .hierarchy
                .get(&plan.id.unit)
                .map(|u| u.name.clone())
                .unwrap_or_default();
            for e in &plan.entries {
                if filter.position.as_ref().is_some_and(|p| *p != e.position) {
                    continue;
                }
                if filter.gender.is_some_and(|g| g != e.cadre.gender) {
                    continue;
                }
                let age = today.years_since(e.cadre.birth_date).unwrap_or(0);
                if filter.age_min.is_some_and(|a| age < a)
                    || filter.age_max.is_some_and(|a| age > a)
                {
                    continue;
                }
                if let Some(flagged) = &flagged {
                    let person = flagged.persons.contains(&e.cadre.national_id);
                    let line = flagged.lines.iter().any(|(id, positions)| {
                        id == &plan.id && (positions.is_empty() || positions.contains(&e.position))
                    });
                    if !person && !line {
                        continue;
                    }
                }
                if query
                    .as_ref()
                    .is_some_and(|q| !text::fold(&e.cadre.full_name).contains(q.as_str()))
                {
                    continue;
                }
                let votes =
                    plan.votes_for(&e.cadre.national_id, &e.position)
                        .map(|(round, yes)| {
                            (
                                yes,
                                crate::rules::ballot::denominator(
                                    round,
                                    reference.rules.params_for(round.date),
                                ),
                            )
                        });
                out.push(ConsolidatedEntry {
                    unit: plan.id.unit.clone(),
                    unit_name: unit_name.clone(),
                    term: plan.id.term.clone(),
                    version: plan.id.version,
                    status: plan.status,
                    position: e.position.clone(),
                    position_title: reference
                        .catalog
                        .position(&e.position)
                        .map(|p| p.title_vi.clone())
                        .unwrap_or_default(),
                    full_name: e.cadre.full_name.clone(),
                    birth_date: e.cadre.birth_date,
                    gender: e.cadre.gender,
                    national_id_masked: mask_id(&e.cadre.national_id),
                    votes,
                    source: e.source,
                });
            }
        }
        out.sort_by(|a, b| {
            text::compare_names(&a.full_name, &b.full_name)
                .then_with(|| a.unit.cmp(&b.unit))
                .then_with(|| a.position.cmp(&b.position))
        });
        Ok(out)
    }
}

/// What the findings of one rule name: persons, and plan lines (plan, positions) for findings
/// about a whole position (R2, R20) rather than a person.
struct Flagged {
    persons: std::collections::HashSet<String>,
    lines: Vec<(PlanId, Vec<String>)>,
}

impl Node {
    async fn flagged_by(&self, rule: crate::rules::RuleId, under: &str) -> Result<Flagged> {
        let outcome = self
            .check(&super::CheckFilter {
                under: under.to_string(),
                rules: vec![rule],
                ..Default::default()
            })
            .await?;
        let mut flagged = Flagged {
            persons: Default::default(),
            lines: Vec::new(),
        };
        for f in outcome.findings {
            let ids: Vec<String> = f.finding.national_ids().map(str::to_string).collect();
            if ids.is_empty() {
                for plan in &f.finding.plans {
                    flagged
                        .lines
                        .push((plan.clone(), f.finding.positions.clone()));
                }
            }
            flagged.persons.extend(ids);
        }
        Ok(flagged)
    }
}
