//! What the web pages ask of a node for a whole province (issue 26), answered from memory: the
//! terms held within a subtree, read from the view, and the findings page's findings, read from
//! the live findings at the province instead of a fresh check of every plan, one page of them
//! at a time ([`Node::findings_page`]), and the latest plan headers of a subtree.

use std::cmp::Ordering;

use super::{
    checks::CheckOutcome,
    query::{Paging, Start},
    CheckFilter, CheckedFinding, Node,
};
use crate::{
    auth::Caller,
    domain::PlanHeader,
    error::Result,
    rules::{Finding, RuleId, Scope, Severity},
};

/// One page of the findings within a filter, in the findings page's order (rule, then
/// severity, then the order of a check's report: first unit, person, …).
#[derive(Debug, Clone)]
pub struct FindingsPage {
    /// The page's findings, at most the page size, each with its ID and acceptance.
    pub findings: Vec<CheckedFinding>,
    /// How many findings match every filter, over all pages (exact).
    pub total: usize,
    /// How many findings each rule and severity has within the subtree and term (the rule
    /// and severity filters not applied), in page order; only those with at least one.
    pub counts: Counts,
    /// The place of the page's first finding in the whole filtered list, from 0.
    pub first: usize,
    /// The page number, from 1, clamped to `1..=pages`.
    pub page: usize,
    /// How many pages there are; at least 1 (an empty list has one empty page).
    pub pages: usize,
    /// The number of entries the view holds, as a full check counts them.
    pub entries: usize,
}

/// The findings page's order: rule, severity, then a report's order.
fn page_order(a: &Finding, b: &Finding) -> Ordering {
    (a.rule, a.severity)
        .cmp(&(b.rule, b.severity))
        .then_with(|| a.sort_key().cmp(&b.sort_key()))
}

/// Per rule and severity, how many findings: the counts a page shows.
pub type Counts = Vec<(RuleId, Severity, usize)>;

/// One page of a filtered list of findings, as [`paginate`] finds it.
#[derive(Debug)]
struct Paged {
    /// Per rule and severity, within the subtree and term.
    counts: Counts,
    /// How many findings match every filter.
    total: usize,
    /// The page, clamped, and its findings' places in the filtered, sorted list.
    at: Paging,
}

impl Paged {
    /// The page of `findings` (those in `at.rows()`, in order), with the `entries` the view
    /// holds.
    fn into_page(self, findings: Vec<CheckedFinding>, entries: usize) -> FindingsPage {
        FindingsPage {
            findings,
            total: self.total,
            counts: self.counts,
            first: self.at.first,
            page: self.at.page,
            pages: self.at.pages,
            entries,
        }
    }
}

/// Pages `found` (every finding within the subtree and term): counts them by rule and
/// severity, keeps those `filter`'s rules and severity want, sorts them, and returns the
/// counts, the total and the range of page `page` (from 1, clamped) of `size` (0: all).
fn paginate<T>(
    found: &mut Vec<T>,
    finding: impl Fn(&T) -> &Finding,
    filter: &CheckFilter,
    page: usize,
    size: usize,
) -> Paged {
    let mut counts: std::collections::BTreeMap<(RuleId, Severity), usize> = Default::default();
    for f in found.iter() {
        let f = finding(f);
        *counts.entry((f.rule, f.severity)).or_default() += 1;
    }
    found.retain(|f| {
        let f = finding(f);
        (filter.rules.is_empty() || filter.rules.contains(&f.rule))
            && filter.severity.is_none_or(|s| s == f.severity)
    });
    let total = found.len();
    let at = Paging::clamp(total, size, Start::Number(page));
    let range = at.rows();
    // Only the page's findings need their place: select them, then sort only them.
    if range.end < total && range.end > 0 {
        found.select_nth_unstable_by(range.end - 1, |a, b| page_order(finding(a), finding(b)));
        found.truncate(range.end);
    }
    if range.start > 0 && range.start < found.len() {
        found.select_nth_unstable_by(range.start, |a, b| page_order(finding(a), finding(b)));
    }
    found[range].sort_unstable_by(|a, b| page_order(finding(a), finding(b)));
    let counts = counts.into_iter().map(|((r, s), n)| (r, s, n)).collect();
    Paged { counts, total, at }
}

impl Node {
    /// The terms of the plans held within `under` (empty: the caller's scope), newest first,
    /// read from the view: what a page offers by default when no term is asked for.
    ///
    /// # Errors
    ///
    /// [`crate::error::Error::NotFound`] for an unknown subtree root;
    /// [`crate::error::Error::Denied`] for one outside this node's subtree or the caller's
    /// scope; [`crate::error::Error::Store`] if waiting for the store fails.
    pub async fn held_terms(&self, who: &Caller, under: &str) -> Result<Vec<String>> {
        let root = self.scope(who, under)?;
        self.view_settled().await?;
        let mut terms = {
            let view = self.view.read().unwrap_or_else(|e| e.into_inner());
            view.terms_within(&self.hierarchy, &root)
        };
        terms.sort_unstable_by(|a, b| b.cmp(a));
        Ok(terms)
    }

    /// The root of the caller's subtree that `filter` asks for, its term known, once the live
    /// findings hold every change acknowledged before the call.
    async fn live_scope(&self, who: &Caller, filter: &CheckFilter) -> Result<String> {
        let root = self.scope(who, &filter.under)?;
        if let Some(term) = &filter.term {
            self.known_term("term", term)?;
        }
        self.wait_live().await?;
        Ok(root)
    }

    /// `chosen` with their acceptances, and the number of entries the view holds (what a full
    /// check counts).
    fn with_acceptances(&self, chosen: Vec<Finding>) -> Result<(Vec<CheckedFinding>, usize)> {
        let entries = self
            .view
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .entries();
        let findings = chosen
            .into_iter()
            .map(|f| self.with_acceptance(f))
            .collect::<Result<Vec<_>>>()?;
        Ok((findings, entries))
    }

    /// The findings within `filter`, as [`Node::check`] reports them: at the province (which
    /// keeps the live findings, exactly those of a full check, current with every change
    /// acknowledged before the call), read from the live findings without running the rules;
    /// elsewhere, and for a plan version (an incremental check), a check. `entries` is the
    /// number of entries the view holds, as a full check counts them; `micros` is 0 when no
    /// rule ran.
    ///
    /// # Errors
    ///
    /// As [`Node::check`].
    pub async fn findings(&self, who: &Caller, filter: &CheckFilter) -> Result<CheckOutcome> {
        if !self.runs_checks() || filter.plan.is_some() {
            return self.check(who, filter).await;
        }
        let root = self.live_scope(who, filter).await?;
        let scope = Scope {
            unit: Some(root),
            term: filter.term.clone(),
            rules: filter.rules.clone(),
            severity: filter.severity,
        };
        let found = self.live_where(|f| scope.contains(f, &self.hierarchy));
        let (findings, entries) = self.with_acceptances(found)?;
        Ok(CheckOutcome {
            findings,
            entries,
            micros: 0,
        })
    }

    /// One page of the findings within `filter` (`filter.plan` is ignored): page `page` (from
    /// 1; past the last is the last) of `size` findings (0: all), with the exact total and the
    /// counts per rule and severity within the subtree and term. At the province it reads the
    /// live findings (no rule runs) and copies only the page's findings out of them; elsewhere
    /// it runs a check of the subtree, as [`Node::findings`] does.
    ///
    /// # Errors
    ///
    /// As [`Node::check`].
    pub async fn findings_page(
        &self,
        who: &Caller,
        filter: &CheckFilter,
        page: usize,
        size: usize,
    ) -> Result<FindingsPage> {
        let within = CheckFilter {
            under: filter.under.clone(),
            term: filter.term.clone(),
            rules: Vec::new(),
            severity: None,
            plan: None,
        };
        if !self.runs_checks() {
            let outcome = self.check(who, &within).await?;
            let mut found = outcome.findings;
            let paged = paginate(&mut found, |f| &f.finding, filter, page, size);
            let findings = found.drain(paged.at.rows()).collect();
            return Ok(paged.into_page(findings, outcome.entries));
        }
        let root = self.live_scope(who, filter).await?;
        let scope = Scope {
            unit: Some(root),
            term: filter.term.clone(),
            rules: Vec::new(),
            severity: None,
        };
        let (paged, chosen) = {
            let live = self.live.read().unwrap_or_else(|e| e.into_inner());
            let mut found: Vec<&Finding> = live
                .findings
                .values()
                .filter(|f| scope.contains(f, &self.hierarchy))
                .collect();
            let paged = paginate(&mut found, |f| f, filter, page, size);
            let chosen: Vec<Finding> = found[paged.at.rows()]
                .iter()
                .map(|f| (*f).clone())
                .collect();
            (paged, chosen)
        };
        let (findings, entries) = self.with_acceptances(chosen)?;
        Ok(paged.into_page(findings, entries))
    }

    /// The header of the latest version of every unit × term held within `under` (empty: the
    /// caller's scope), of `term` if given, read from the view rather than from the store, in
    /// the store's order (unit, term); what the overview shows.
    ///
    /// # Errors
    ///
    /// As [`Node::held_terms`]; [`crate::error::Error::NotFound`] for an unknown term.
    pub async fn latest_headers(
        &self,
        who: &Caller,
        under: &str,
        term: Option<&str>,
    ) -> Result<Vec<PlanHeader>> {
        let root = self.scope(who, under)?;
        if let Some(term) = term {
            self.known_term("term", term)?;
        }
        self.view_settled().await?;
        let mut headers: Vec<PlanHeader> = {
            let view = self.view.read().unwrap_or_else(|e| e.into_inner());
            view.currents()
                .filter(|p| term.is_none_or(|t| p.id.term == t))
                .filter(|p| self.hierarchy.is_within(&p.id.unit, &root))
                .map(PlanHeader::of)
                .collect()
        };
        headers.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        Ok(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` findings of a few rules, severities and units, in a scrambled order.
    fn findings(n: usize) -> Vec<Finding> {
        let rules = [RuleId::R1, RuleId::R3, RuleId::R19, RuleId::R21];
        (0..n)
            .map(|i| {
                let k = (i * 7919) % n;
                Finding::new(
                    rules[k % rules.len()],
                    if k.is_multiple_of(3) {
                        Severity::Warning
                    } else {
                        Severity::Error
                    },
                    vec![format!("{}", 400 + k % 11)],
                    None,
                    vec![],
                    vec!["2025-2030".into()],
                    vec![],
                    format!("vi {k}"),
                    format!("en {k}"),
                )
            })
            .collect()
    }

    #[test]
    fn every_page_is_the_same_slice_of_the_whole_sorted_list_and_the_counts_are_of_all() {
        let all = findings(103);
        for (rules, severity) in [
            (vec![], None),
            (vec![RuleId::R3], None),
            (vec![], Some(Severity::Warning)),
        ] {
            let filter = CheckFilter {
                rules: rules.clone(),
                severity,
                ..CheckFilter::default()
            };
            let mut wanted: Vec<&Finding> = all
                .iter()
                .filter(|f| rules.is_empty() || rules.contains(&f.rule))
                .filter(|f| severity.is_none_or(|s| s == f.severity))
                .collect();
            wanted.sort_by(|a, b| page_order(a, b));
            for size in [1, 7, 50, 0, 500] {
                let pages = if size == 0 {
                    1
                } else {
                    wanted.len().div_ceil(size).max(1)
                };
                for page in [0, 1, 2, pages - 1, pages, pages + 5] {
                    let mut found: Vec<&Finding> = all.iter().collect();
                    let Paged { counts, total, at } =
                        paginate(&mut found, |f| f, &filter, page, size);
                    let (range, got_page, got_pages) = (at.rows(), at.page, at.pages);
                    assert_eq!(total, wanted.len());
                    assert_eq!(got_pages, pages, "size {size}");
                    assert_eq!(got_page, page.clamp(1, pages));
                    let expected = if size == 0 {
                        &wanted[..]
                    } else {
                        let start = ((got_page - 1) * size).min(wanted.len());
                        &wanted[start..(start + size).min(wanted.len())]
                    };
                    assert_eq!(&found[range], expected, "page {page} of {size}");
                    assert_eq!(counts.iter().map(|c| c.2).sum::<usize>(), all.len());
                }
            }
        }
    }
}
