//! Read-only queries: plan versions, plan listings over a unit subtree, and the consolidated
//! list of entries that the province's Organization Board reads.

use super::Node;
use crate::{
    domain::{EntrySource, Gender, Plan, PlanHeader, PlanId, PlanStatus},
    error::{Error, Result},
    view::{Cursor, Flagged, RowFilter, View},
};

/// Which plans to list.
#[derive(Debug, Clone, Default)]
pub struct PlanFilter {
    /// Root of the unit subtree; empty means this node's unit.
    pub under: String,
    /// Only plans for this term, if given.
    pub term: Option<String>,
    /// Only plans in this status, if given.
    pub status: Option<PlanStatus>,
    /// Only the latest version of each (unit, term).
    pub latest_only: bool,
}

/// Which consolidated entries to list.
#[derive(Debug, Clone, Default)]
pub struct ConsolidatedFilter {
    /// Root of the unit subtree; empty means this node's unit.
    pub under: String,
    /// Only plans for this term, if given.
    pub term: Option<String>,
    /// Only entries for this position code, if given.
    pub position: Option<String>,
    /// Only plans in this status, if given.
    pub status: Option<PlanStatus>,
    /// Diacritic- and case-insensitive part of a name.
    pub name: Option<String>,
    /// Only plans of units of this level.
    pub level: Option<crate::domain::Level>,
    /// Only persons of this gender, if given.
    pub gender: Option<Gender>,
    /// Age in whole years today, at least / at most.
    pub age_min: Option<u32>,
    /// See `age_min`.
    pub age_max: Option<u32>,
    /// Only entries that a finding of this rule names.
    pub has_rule: Option<crate::rules::RuleId>,
}

/// One line of the consolidated list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsolidatedEntry {
    /// Code of the unit whose plan holds the entry.
    pub unit: String,
    /// That unit's name.
    pub unit_name: String,
    /// The plan's term.
    pub term: String,
    /// The plan's version number.
    pub version: u32,
    /// The plan version's status.
    pub status: PlanStatus,
    /// Code of the planned position.
    pub position: String,
    /// The position's title, for display.
    pub position_title: String,
    /// The person's full name.
    pub full_name: String,
    /// The person's date of birth.
    pub birth_date: chrono::NaiveDate,
    /// The person's gender.
    pub gender: Gender,
    /// The national ID with all but its last four digits hidden.
    pub national_id_masked: String,
    /// Yes votes of the last round that voted on this entry, and their denominator (R19).
    pub votes: Option<(u32, u32)>,
    /// How the entry got into the list.
    pub source: EntrySource,
}

pub use crate::domain::validate::mask_id;

impl Node {
    /// One plan version; version 0 means the latest.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the unit or term is unknown, or no such version (for version 0:
    /// no version at all) is held here; [`Error::Store`] if storage fails.
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
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the subtree root or the term is unknown; [`Error::Denied`] if the
    /// root lies outside this node's subtree; [`Error::Store`] if storage fails.
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

    /// The consolidated list whole: every entry of the latest version of each plan in the
    /// subtree, sorted the Vietnamese way (given name, middle names, family name), then by
    /// unit. For large provinces page with [`Node::consolidated_page`].
    ///
    /// # Errors
    ///
    /// As [`Node::consolidated_page`].
    pub async fn consolidated(
        &self,
        filter: &ConsolidatedFilter,
    ) -> Result<Vec<ConsolidatedEntry>> {
        Ok(self.consolidated_page(filter, "", 0).await?.entries)
    }

    /// One page of the consolidated list, read from the view (no plan is loaded from the
    /// store): at most `page_size` entries (0: all) after the cursor `token` (empty: from the
    /// start), the token of the next page (empty on the last) and how many entries match over
    /// all pages. The cursor names the last entry given, so a page stays right when plans
    /// change between calls.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown unit, term or position; [`Error::Invalid`] for a
    /// token this node did not give.
    pub async fn consolidated_page(
        &self,
        filter: &ConsolidatedFilter,
        token: &str,
        page_size: usize,
    ) -> Result<ConsolidatedPage> {
        let reference = self.reference();
        if let Some(p) = &filter.position {
            if reference.catalog.position(p).is_none() {
                return Err(Error::not_found(
                    "position",
                    format!(
                        "unknown position code {}",
                        crate::domain::validate::prefix(p)
                    ),
                ));
            }
        }
        let root = self.scope_root(&filter.under)?;
        if let Some(term) = &filter.term {
            self.known_term("term", term)?;
        }
        let after = match token {
            "" => None,
            t => Some(
                Cursor::parse(t)
                    .ok_or_else(|| Error::invalid("page_token", "is not a token this node gave"))?,
            ),
        };
        let flagged = match filter.has_rule {
            Some(rule) => Some(self.flagged_by(rule, &root).await?),
            None => None,
        };
        let query = filter
            .name
            .as_deref()
            .map(crate::view::name_identity)
            .filter(|q| !q.is_empty());
        let today = self.today();
        let born_by = filter
            .age_min
            .and_then(|a| today.checked_sub_months(chrono::Months::new(a.saturating_mul(12))));
        let born_after = filter.age_max.and_then(|a| {
            today.checked_sub_months(chrono::Months::new(a.saturating_add(1).saturating_mul(12)))
        });
        let rows = RowFilter {
            under: &root,
            term: filter.term.as_deref(),
            position: filter.position.as_deref(),
            status: filter.status,
            name: query.as_deref(),
            level: filter.level,
            gender: filter.gender,
            born_by,
            born_after,
            flagged: flagged.as_ref(),
        };
        if flagged.is_none() {
            self.view_settled().await?;
        }
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        let page = view.page(&self.hierarchy, &rows, after.as_ref(), page_size);
        let entries = page
            .rows
            .iter()
            .map(|r| ConsolidatedEntry {
                unit: r.id.unit.clone(),
                unit_name: self
                    .hierarchy
                    .get(&r.id.unit)
                    .map(|u| u.name.clone())
                    .unwrap_or_default(),
                term: r.id.term.clone(),
                version: r.id.version,
                status: r.status,
                position: r.position.to_string(),
                position_title: View::position_title(&reference.catalog, r.position).to_string(),
                full_name: r.full_name.to_string(),
                birth_date: r.birth_date,
                gender: r.gender,
                national_id_masked: mask_id(r.national_id),
                votes: r.votes,
                source: r.source,
            })
            .collect();
        Ok(ConsolidatedPage {
            entries,
            next_page_token: page.next.map(|c| c.token()).unwrap_or_default(),
            total: page.total,
        })
    }
}

/// One page of the consolidated list.
#[derive(Debug, Clone)]
pub struct ConsolidatedPage {
    /// The entries of this page, in list order.
    pub entries: Vec<ConsolidatedEntry>,
    /// Pass back for the next page; empty on the last page.
    pub next_page_token: String,
    /// Entries matching the filters over all pages.
    pub total: u64,
}

impl Node {
    /// What the findings of `rule` within `under` name: the live findings at the province, a
    /// fresh check elsewhere.
    async fn flagged_by(&self, rule: crate::rules::RuleId, under: &str) -> Result<Flagged> {
        let findings: Vec<crate::rules::Finding> = if self.runs_checks() {
            self.wait_live().await?;
            let scope = crate::rules::Scope {
                unit: Some(under.to_string()),
                rules: vec![rule],
                ..Default::default()
            };
            self.live_where(|f| scope.contains(f, &self.hierarchy))
        } else {
            self.check(&super::CheckFilter {
                under: under.to_string(),
                rules: vec![rule],
                ..Default::default()
            })
            .await?
            .findings
            .into_iter()
            .map(|f| f.finding)
            .collect()
        };
        let mut flagged = Flagged::default();
        for f in findings {
            let ids: Vec<String> = f.national_ids().map(str::to_string).collect();
            if ids.is_empty() {
                for plan in &f.plans {
                    flagged.lines.push((plan.clone(), f.positions.clone()));
                }
            }
            flagged.persons.extend(ids);
        }
        Ok(flagged)
    }
}

/// One plan version's entries naming a person.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The plan version.
    pub id: PlanId,
    /// Its status.
    pub status: PlanStatus,
    /// Its entries naming the person (one per planned position).
    pub entries: Vec<crate::domain::Entry>,
}

impl Node {
    /// Every plan version within `under` (empty: this node's subtree) that lists
    /// `national_id`, oldest first per unit × term: found through the view's person index
    /// (the current version of each unit × term and its latest approved one, from memory),
    /// with the older versions of the same unit × terms read from the store.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown subtree root; [`Error::Denied`] for one outside this
    /// node's subtree; [`Error::Store`] if storage fails.
    pub async fn person_listings(&self, under: &str, national_id: &str) -> Result<Vec<Listing>> {
        let root = self.scope_root(under)?;
        self.view_settled().await?;
        let mut out: Vec<Listing> = Vec::new();
        {
            let view = self.view.read().unwrap_or_else(|e| e.into_inner());
            for (plan, entries) in view.listing(national_id) {
                if self.hierarchy.is_within(&plan.id.unit, &root) {
                    out.push(Listing {
                        id: plan.id.clone(),
                        status: plan.status,
                        entries: entries.into_iter().cloned().collect(),
                    });
                }
            }
        }
        // The latest version held in memory of each unit × term; older ones are in the store.
        let mut latest: std::collections::BTreeMap<(String, String), u32> = Default::default();
        for l in &out {
            let v = latest
                .entry((l.id.unit.clone(), l.id.term.clone()))
                .or_default();
            *v = (*v).max(l.id.version);
        }
        let held: std::collections::HashSet<PlanId> = out.iter().map(|l| l.id.clone()).collect();
        for ((unit, term), last) in latest {
            for version in 1..last {
                let id = PlanId {
                    unit: unit.clone(),
                    term: term.clone(),
                    version,
                };
                if held.contains(&id) {
                    continue;
                }
                let Some(plan) = self.store.plan(&id)? else {
                    continue;
                };
                let entries: Vec<_> = plan
                    .entries
                    .into_iter()
                    .filter(|e| e.cadre.national_id == national_id)
                    .collect();
                if !entries.is_empty() {
                    out.push(Listing {
                        id,
                        status: plan.status,
                        entries,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The national ID, among those the node's current plans list, whose reference under
    /// `reference_of` is `reference` (for links that carry an opaque reference): one keyed
    /// hash per distinct person, so callers remember the references they give out first.
    pub fn person_by_reference(
        &self,
        reference: &str,
        reference_of: impl Fn(&str) -> String,
    ) -> Option<String> {
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        view.find_person(reference, reference_of)
    }
}
