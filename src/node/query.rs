//! Read-only queries: plan versions, plan listings over a unit subtree, and the consolidated
//! list of entries that the province's Organization Board reads.

use super::Node;
use crate::{
    auth::Caller,
    domain::{EntrySource, Gender, Plan, PlanHeader, PlanId, PlanStatus},
    error::{Error, Result},
    view::{Cursor, Flagged, RowFilter, RowOut, View},
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
    /// The person's national ID, whole: each face masks it for its viewer ([`mask_id`]).
    pub national_id: String,
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
    pub async fn get_plan(
        &self,
        who: &Caller,
        unit: &str,
        term: &str,
        version: u32,
    ) -> Result<Plan> {
        who.require_read(&self.hierarchy, "unit", unit)?;
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
    pub async fn list_plans(&self, who: &Caller, filter: &PlanFilter) -> Result<Vec<PlanHeader>> {
        let root = self.scope(who, &filter.under)?;
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
        who: &Caller,
        filter: &ConsolidatedFilter,
    ) -> Result<Vec<ConsolidatedEntry>> {
        Ok(self
            .consolidated_page(who, filter, &PageRequest::default())
            .await?
            .entries)
    }

    /// One page of the consolidated list, read from the view (no plan is loaded from the
    /// store), in the order `request.sort`: at most `request.size` entries (0: all) from where
    /// `request.at` says, the token of the next page (empty on the last) and how many entries
    /// match over all pages. The one paging of every face (gRPC, the CLI, the web page).
    ///
    /// A page number is clamped: page 0 is the first, a page past the last is the last, and an
    /// empty list has one empty page; [`ConsolidatedPage::first`] says where the page's rows
    /// start, so a face numbers them (STT) and exports exactly them. A name-order cursor
    /// names the last entry given, so a page stays right when plans change between calls;
    /// the other orders page by offset (`@<offset>`).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown unit, term or position; [`Error::Invalid`] for a
    /// token this node did not give, or a name-order cursor asked for another order.
    pub async fn consolidated_page(
        &self,
        who: &Caller,
        filter: &ConsolidatedFilter,
        request: &PageRequest,
    ) -> Result<ConsolidatedPage> {
        let root = self.scope(who, &filter.under)?;
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
        if let Some(term) = &filter.term {
            self.known_term("term", term)?;
        }
        let size = request.size;
        // Where the page starts: after a name cursor, at an offset, or at a page number.
        let (after, start) = match &request.at {
            PageAt::Token(t) if t.is_empty() => (None, Start::Number(1)),
            PageAt::Token(t) => match t.strip_prefix('@') {
                Some(offset) => (
                    None,
                    Start::Offset(offset.parse().map_err(|_| {
                        Error::invalid("page_token", "is not a token this node gave")
                    })?),
                ),
                None if request.sort != SortKey::Name => {
                    return Err(Error::invalid(
                        "page_token",
                        "is a cursor of the name order; ask with the order that gave it",
                    ))
                }
                None => (
                    Some(Cursor::parse(t).ok_or_else(|| {
                        Error::invalid("page_token", "is not a token this node gave")
                    })?),
                    Start::Cursor,
                ),
            },
            PageAt::Number(n) => (None, Start::Number(*n)),
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
        // A plan is named in the structure of its own date (a 2024 list by its 2024 commune).
        let unit_name = |id: &PlanId| {
            let on = view.current(&id.unit, &id.term).and_then(|p| p.adopted_on);
            self.unit_name_at(&id.unit, on)
        };
        let entry = |r: &RowOut<'_>| ConsolidatedEntry {
            unit: r.id.unit.clone(),
            unit_name: unit_name(r.id),
            term: r.id.term.clone(),
            version: r.id.version,
            status: r.status,
            position: r.position.to_string(),
            position_title: View::position_title(&reference.catalog, r.position).to_string(),
            full_name: r.full_name.to_string(),
            birth_date: r.birth_date,
            gender: r.gender,
            national_id: r.national_id.to_string(),
            national_id_masked: mask_id(r.national_id),
            votes: r.votes,
            source: r.source,
        };
        if let Start::Cursor = start {
            // The name order after a cursor: the view pages it without reading the rest.
            let page = view.page(&self.hierarchy, &rows, after.as_ref(), size);
            return Ok(ConsolidatedPage {
                entries: page.rows.iter().map(entry).collect(),
                next_page_token: page.next.map(|c| c.token()).unwrap_or_default(),
                total: page.total,
                first: None,
                page: 0,
                pages: 0,
            });
        }
        // A list filtered by plan only, in name order: the page is found by rank, without
        // merging the rows before it (`View::page_at`), so the last page of a whole province
        // costs what the first does.
        if request.sort == SortKey::Name {
            if let Some(total) = view.total_by_plans(&self.hierarchy, &rows) {
                let at = Paging::clamp(total, size, start);
                if let Some(page) = view.page_at(&self.hierarchy, &rows, at.first, size) {
                    return Ok(ConsolidatedPage {
                        entries: page.rows.iter().map(entry).collect(),
                        next_page_token: if at.end < total {
                            format!("@{}", at.end)
                        } else {
                            String::new()
                        },
                        total: page.total,
                        first: Some(at.first),
                        page: at.page,
                        pages: at.pages,
                    });
                }
            }
        }
        // The name order needs only the rows up to the end of the page asked for; the others
        // sort every match (stably, so the name order stays within ties).
        let wanted = match (request.sort, start) {
            (SortKey::Name, Start::Number(n)) if size > 0 => n.max(1).saturating_mul(size),
            (SortKey::Name, Start::Offset(o)) if size > 0 => o.saturating_add(size),
            _ => 0,
        };
        let page = view.page(&self.hierarchy, &rows, None, wanted);
        let mut all = page.rows;
        match request.sort {
            SortKey::Name => {}
            SortKey::Unit => all.sort_by_cached_key(|r| (unit_name(r.id), r.id.unit.clone())),
            SortKey::Position => all.sort_by(|a, b| a.position.cmp(b.position)),
            SortKey::Birth => all.sort_by_key(|r| r.birth_date),
            SortKey::Votes => all.sort_by_key(|r| std::cmp::Reverse(r.votes.map_or(0, |v| v.0))),
        }
        let total = usize::try_from(page.total).unwrap_or(usize::MAX);
        let at = Paging::clamp(total, size, start);
        let entries: Vec<ConsolidatedEntry> = all
            .get(at.first..at.end.min(all.len()))
            .unwrap_or_default()
            .iter()
            .map(entry)
            .collect();
        let next_page_token = if at.end < total {
            format!("@{}", at.end)
        } else {
            String::new()
        };
        Ok(ConsolidatedPage {
            entries,
            next_page_token,
            total: page.total,
            first: Some(at.first),
            page: at.page,
            pages: at.pages,
        })
    }
}

/// The order of the consolidated list. Each keeps the name order (the Vietnamese way) within
/// ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// By name the Vietnamese way (given name, middle names, family name), then unit.
    #[default]
    #[serde(alias = "")]
    Name,
    /// By unit name, then unit code.
    Unit,
    /// By position code.
    Position,
    /// By date of birth, oldest first.
    Birth,
    /// By yes votes (R19), most first; entries without a vote last.
    Votes,
}

impl SortKey {
    /// Every order, the default first.
    pub const ALL: [SortKey; 5] = [
        SortKey::Name,
        SortKey::Unit,
        SortKey::Position,
        SortKey::Birth,
        SortKey::Votes,
    ];

    /// The order's name in a query string: `name`, `unit`, `position`, `birth`, `votes`.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Unit => "unit",
            SortKey::Position => "position",
            SortKey::Birth => "birth",
            SortKey::Votes => "votes",
        }
    }
}

/// Where a page of the consolidated list starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageAt {
    /// After the token of the previous page (empty: the first page).
    Token(String),
    /// The page of this number, from 1, clamped to the pages there are (0 is the first).
    Number(usize),
}

impl Default for PageAt {
    fn default() -> Self {
        PageAt::Token(String::new())
    }
}

/// How to page the consolidated list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The order.
    pub sort: SortKey,
    /// Where the page starts.
    pub at: PageAt,
    /// At most this many entries a page; 0: every entry on one page.
    pub size: usize,
}

/// Where a page starts, resolved from a [`PageAt`].
#[derive(Debug, Clone, Copy)]
pub(super) enum Start {
    Cursor,
    Offset(usize),
    Number(usize),
}

/// A page clamped to the list: the page number (from 1), how many there are, and its rows
/// (`first..end`, places in the whole sorted list); the consolidated list's pages and the
/// findings page's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Paging {
    pub(super) page: usize,
    pub(super) pages: usize,
    pub(super) first: usize,
    pub(super) end: usize,
}

impl Paging {
    /// Pages of `size` rows over `total` (0: one page of everything); past the last page is
    /// the last page, an empty list is one empty page.
    pub(super) fn clamp(total: usize, size: usize, start: Start) -> Self {
        if size == 0 {
            return Paging {
                page: 1,
                pages: 1,
                first: 0,
                end: total,
            };
        }
        let pages = total.div_ceil(size).max(1);
        let page = match start {
            Start::Number(n) => n.clamp(1, pages),
            Start::Offset(o) => (o / size + 1).min(pages),
            Start::Cursor => 1,
        };
        let first = match start {
            Start::Offset(o) if o < total => o,
            _ => (page - 1) * size,
        };
        Paging {
            page,
            pages,
            first,
            end: (first + size).min(total),
        }
    }

    /// The page's rows, as places in the whole sorted list.
    pub(super) fn rows(&self) -> std::ops::Range<usize> {
        self.first..self.end
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
    /// The index (from 0) in the whole list of this page's first entry; `None` after a
    /// name-order cursor, which does not count what came before.
    pub first: Option<usize>,
    /// The page answered, from 1, after clamping; 0 after a name-order cursor.
    pub page: usize,
    /// How many pages of this size the list has (at least 1); 0 after a name-order cursor.
    pub pages: usize,
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
            self.check_within(
                under.to_string(),
                &super::CheckFilter {
                    rules: vec![rule],
                    ..Default::default()
                },
            )
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
    /// The day it was adopted, if it was: the date whose structure names its unit
    /// ([`Node::unit_name_at`]).
    pub adopted_on: Option<chrono::NaiveDate>,
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
    pub async fn person_listings(
        &self,
        who: &Caller,
        under: &str,
        national_id: &str,
    ) -> Result<Vec<Listing>> {
        let root = self.scope(who, under)?;
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
                        adopted_on: plan.adopted_on,
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
                let entries: Vec<_> = plan.entries_of(national_id).cloned().collect();
                if !entries.is_empty() {
                    out.push(Listing {
                        id,
                        status: plan.status,
                        entries,
                        adopted_on: plan.adopted_on,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(total: usize, size: usize, start: Start) -> (usize, usize, usize, usize) {
        let p = Paging::clamp(total, size, start);
        (p.page, p.pages, p.first, p.end)
    }

    #[test]
    fn a_page_number_is_clamped_to_the_pages_there_are() {
        // (rows, page size, page asked for) and the (page, pages, first row, end) it gives.
        for (total, size, n, want) in [
            // 5 rows, 2 a page: pages 1, 2, 3 (the last holds one row).
            (5, 2, 1, (1, 3, 0, 2)),
            (5, 2, 3, (3, 3, 4, 5)),
            // Past the last page is the last page; page 0 is the first.
            (5, 2, 4, (3, 3, 4, 5)),
            (5, 2, usize::MAX, (3, 3, 4, 5)),
            (5, 2, 0, (1, 3, 0, 2)),
            // Exactly full pages: the last starts at the last pair.
            (4, 2, 9, (2, 2, 2, 4)),
            // An empty list is one empty page.
            (0, 2, 1, (1, 1, 0, 0)),
            (0, 2, 7, (1, 1, 0, 0)),
            // Size 0 is everything on one page.
            (5, 0, 3, (1, 1, 0, 5)),
        ] {
            assert_eq!(
                at(total, size, Start::Number(n)),
                want,
                "page {n} of {size} over {total} rows"
            );
        }
    }

    #[test]
    fn an_offset_past_the_end_is_the_last_page() {
        // 5 rows, 2 a page: the offset asked for and the (page, pages, first row, end) it gives.
        for (offset, want) in [
            (2, (2, 3, 2, 4)),
            (4, (3, 3, 4, 5)),
            (5, (3, 3, 4, 5)),
            (usize::MAX, (3, 3, 4, 5)),
        ] {
            assert_eq!(at(5, 2, Start::Offset(offset)), want, "offset {offset}");
        }
    }
}
