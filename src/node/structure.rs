//! The structure of a subtree's planned cadres (cơ cấu): counts by gender, youth, age band,
//! ethnicity and level of government, against the targets of the ruleset in force (R8). Read
//! from the view, as every list and check is: no plan is decoded from the store.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::Node;
use crate::{
    auth::Caller,
    domain::{Gender, Level, PlanStatus},
    error::Result,
    rules::RuleParams,
};

/// The planned cadres of one subtree and term, counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Structure {
    /// The date ages are counted at: the term's age reference date, else today.
    pub reference_date: NaiveDate,
    /// Entries of the current (not draft) plans counted: one per entry, so a person planned
    /// for two positions counts twice, as in the plans' own tallies.
    pub total: usize,
    /// Entries naming a woman.
    pub women: usize,
    /// Entries naming someone younger than the ruleset's young age at the reference date.
    pub young: usize,
    /// Entries by five-year age band, keyed by the band's first year: 25 is "under 30", 60
    /// "60 and over".
    pub ages: BTreeMap<u32, usize>,
    /// Entries by ethnicity, as the plans spell it.
    pub ethnicity: BTreeMap<String, usize>,
    /// Entries by the level of the unit whose plan holds them.
    pub levels: BTreeMap<Level, usize>,
    /// Entries naming someone of another ethnicity than the ruleset's majority.
    pub minority: usize,
    /// The ruleset in force today: its targets (women, young, minorities) are drawn as lines.
    pub params: RuleParams,
}

impl Node {
    /// The structure of the planned cadres of `under`'s subtree (empty: this node's) in
    /// `term`: the current version of each unit's plan, drafts left out.
    ///
    /// # Errors
    ///
    /// [`crate::error::Error::NotFound`] for an unknown unit or term;
    /// [`crate::error::Error::Denied`] for a unit outside this node's subtree;
    /// [`crate::error::Error::Store`] if waiting for the store fails.
    pub async fn structure(&self, who: &Caller, under: &str, term: &str) -> Result<Structure> {
        let root = self.scope(who, under)?;
        self.known_term("term", term)?;
        let reference = self.reference();
        let reference_date = reference
            .catalog
            .term(term)
            .map(|t| t.age_reference_date)
            .unwrap_or_else(|| self.today());
        let params = reference.rules.params_for(self.today()).clone();
        self.view_settled().await?;
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        // The view holds each unit's current version and its older approved ones: the
        // current is the highest version of each unit.
        let mut current: BTreeMap<&str, &crate::domain::Plan> = BTreeMap::new();
        for plan in view.plans() {
            if plan.id.term != term || !self.hierarchy.is_within(&plan.id.unit, &root) {
                continue;
            }
            let slot = current.entry(plan.id.unit.as_str()).or_insert(plan);
            if plan.id.version > slot.id.version {
                *slot = plan;
            }
        }
        let mut s = Structure {
            reference_date,
            total: 0,
            women: 0,
            young: 0,
            ages: BTreeMap::new(),
            ethnicity: BTreeMap::new(),
            levels: BTreeMap::new(),
            minority: 0,
            params,
        };
        // Counted by the plans' own strings, owned once per ethnicity at the end.
        let mut ethnicity: std::collections::HashMap<&str, usize> = Default::default();
        for plan in current.values().filter(|p| p.status != PlanStatus::Draft) {
            let level = self.hierarchy.get(&plan.id.unit).map(|u| u.level);
            for e in &plan.entries {
                s.total += 1;
                let age = reference_date.years_since(e.cadre.birth_date).unwrap_or(0);
                if e.cadre.gender == Gender::Female {
                    s.women += 1;
                }
                if age < s.params.young_age_under {
                    s.young += 1;
                }
                *s.ages.entry((age / 5 * 5).clamp(25, 60)).or_default() += 1;
                *ethnicity.entry(e.cadre.ethnicity.as_str()).or_default() += 1;
                if let Some(level) = level {
                    *s.levels.entry(level).or_default() += 1;
                }
                if e.cadre.ethnicity != s.params.majority_ethnicity {
                    s.minority += 1;
                }
            }
        }
        s.ethnicity = ethnicity
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect();
        Ok(s)
    }
}
