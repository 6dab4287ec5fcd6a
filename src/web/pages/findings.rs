//! The findings (Phát hiện): by rule and severity, each linked to its plans and persons, with
//! acceptances.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use maud::{html, Markup};
use serde::Deserialize;

use crate::web::{
    i18n::{date, moment},
    layout::page,
    session::Viewer,
    typed::{blank_or_number, Typed},
    WebError, WebState,
};
use crate::{
    node::{CheckFilter, CheckedFinding},
    rules::{RuleId, Severity},
};

use super::*;

/// The findings page's query.
#[derive(Debug, Default, Deserialize)]
pub struct FindingsQuery {
    #[serde(default)]
    term: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    severity: String,
    /// Only findings involving a unit within this subtree (the caller's own when empty).
    #[serde(default)]
    under: String,
    /// The page, from 1; past the last is the last.
    #[serde(default, deserialize_with = "blank_or_number")]
    page: Option<usize>,
    /// Findings a page (empty: [`FINDINGS_PAGE_SIZE`]; 0: all).
    #[serde(default, deserialize_with = "blank_or_number")]
    size: Option<usize>,
}

/// How many findings a page of `/phat-hien` shows unless asked otherwise: the whole
/// province's 7,365 findings at L were 5.3 MB of HTML on one page (issue 26).
pub const FINDINGS_PAGE_SIZE: usize = 200;

impl FindingsQuery {
    /// The query string of page `page` with these filters (the pager's links), `rule` and
    /// `severity` replaced when given (the counts' links, which start at page 1).
    fn query_string(&self, page: usize, rule: Option<&str>, severity: Option<&str>) -> String {
        let size = self.size.map(|s| s.to_string()).unwrap_or_default();
        listing_query(
            &[
                ("under", self.under.trim()),
                ("term", self.term.trim()),
                ("rule", rule.unwrap_or(self.rule.trim())),
                ("severity", severity.unwrap_or(self.severity.trim())),
                ("size", size.as_str()),
            ],
            page,
        )
    }
}

/// One finding as a list item: rule, severity, message, persons, plans, acceptance.
pub fn finding_item(state: &WebState, viewer: &Viewer, f: &CheckedFinding) -> Markup {
    let l = viewer.lang;
    let x = &f.finding;
    let persons: Vec<&crate::rules::PersonRef> = x.person.iter().chain(&x.other_persons).collect();
    html! {
        li.finding data-finding=(f.id) data-rule=(x.rule.as_str()) {
            span class=(format!("sev {}", x.severity.as_str())) { (l.severity(x.severity)) }
            " " strong { (x.rule.as_str()) } " "
            @if let Some(r) = x.ruleset { span.ruleset data-ruleset=(r.as_str()) { (r.citation()) } " " }
            @if let Some(on) = x.reorganised_on { span.reorganised data-reorganised=(on) { (l.t("Sắp xếp đơn vị ", "Reorganisation of ")) (date(on)) } " " }
            span.muted { "#" (f.id) }
            @if !f.merger.is_empty() { " " span.merger data-merger=(f.merger.join(",")) { (l.merger(&f.merger)) } }
            p { (l.t(&x.message_vi, &x.message_en)) }
            @if !persons.is_empty() {
                p { (l.t("Người:", "Person:")) " "
                    @for p in &persons {
                        a.person href=(format!("/nguoi/{}", state.sessions.person_ref(&p.national_id))) { (p.full_name) }
                        " (" (shown_id(viewer, &p.national_id)) ") "
                    }
                }
            }
            p { (l.t("Kế hoạch:", "Plans:")) " "
                @for id in &x.plans {
                    a.plan href=(plan_href(id)) { (plan_name(state, id)) " " (id.term) " v" (id.version) } " "
                }
            }
            @if let Some(a) = &f.acceptance {
                p.accepted { (l.t("Đã chấp nhận:", "Accepted:")) " “" (a.justification) "” — " (a.by) ", " (moment(a.at)) }
            }
        }
    }
}

/// `GET /phat-hien`: the findings by rule and severity, one page at a time
/// ([`FINDINGS_PAGE_SIZE`] unless `size` says otherwise): the counts per rule and severity at
/// the top (each a link to its findings), the exact total, then the page's findings grouped by
/// rule and severity, and links to the previous and next pages keeping every filter.
pub async fn findings(
    State(state): State<WebState>,
    viewer: Viewer,
    Typed(q): Typed<FindingsQuery>,
) -> Result<Markup, WebError> {
    let l = viewer.lang;
    let (terms, _) = terms(&state, &viewer, "-").await?;
    let rules = match q.rule.trim() {
        "" => vec![],
        r => vec![r
            .parse()
            .map_err(|e: String| WebError::bad_request(format!("rule: {e}")))?],
    };
    let severity = match q.severity.trim() {
        "" => None,
        "error" => Some(Severity::Error),
        "warning" => Some(Severity::Warning),
        v => {
            return Err(WebError::bad_request(format!(
                "severity: {:?} is neither error nor warning",
                crate::domain::validate::prefix(v)
            )))
        }
    };
    let under = state.node.scope(&viewer.caller, q.under.trim())?;
    let units = state.node.hierarchy().subtree(&viewer.root);
    // At the province, the live findings, one page copied out: no rule runs for the page.
    let shown = state
        .node
        .findings_page(
            &viewer.caller,
            &CheckFilter {
                under,
                term: Some(q.term.trim().to_string()).filter(|t| !t.is_empty()),
                rules,
                severity,
                plan: None,
            },
            q.page.unwrap_or(1),
            q.size.unwrap_or(FINDINGS_PAGE_SIZE),
        )
        .await?;
    let (page_no, pages) = (shown.page, shown.pages);
    let here = q.query_string(page_no, None, None);
    let mut by_rule: BTreeMap<(RuleId, Severity), Vec<&CheckedFinding>> = BTreeMap::new();
    for f in &shown.findings {
        by_rule
            .entry((f.finding.rule, f.finding.severity))
            .or_default()
            .push(f);
    }
    let count_of = |rule: RuleId, sev: Severity| {
        shown
            .counts
            .iter()
            .find(|(r, s, _)| *r == rule && *s == sev)
            .map_or(0, |c| c.2)
    };
    let pager = html! {
        @if pages > 1 {
            nav.pager {
                @if page_no > 1 { a rel="prev" href=(format!("/phat-hien?{}", q.query_string(page_no - 1, None, None))) { "← " (l.t("Trước", "Previous")) } }
                " " (page_no) "/" (pages) " "
                @if page_no < pages { a rel="next" href=(format!("/phat-hien?{}", q.query_string(page_no + 1, None, None))) { (l.t("Sau", "Next")) " →" } }
            }
        }
    };
    let content = html! {
        form.filters method="get" action="/phat-hien" {
            label { (l.t("Nhiệm kỳ", "Term")) " " select name="term" {
                option value="" { (l.t("Tất cả", "All")) }
                @for t in &terms { option value=(t) selected[*t == q.term] { (t) } }
            } }
            label { (l.t("Đơn vị", "Unit")) " " select name="under" {
                option value="" { (l.t("Tất cả", "All")) }
                @for u in &units { option value=(u.code) selected[q.under.trim() == u.code] { (u.name) } }
            } }
            label { (l.t("Quy tắc", "Rule")) " " select name="rule" {
                option value="" { (l.t("Tất cả", "All")) }
                @for r in RuleId::ALL { option value=(r.as_str()) selected[q.rule == r.as_str()] { (r.as_str()) } }
            } }
            label { (l.t("Mức độ", "Severity")) " " select name="severity" {
                option value="" { (l.t("Tất cả", "All")) }
                option value="error" selected[q.severity == "error"] { (l.severity(Severity::Error)) }
                option value="warning" selected[q.severity == "warning"] { (l.severity(Severity::Warning)) }
            } }
            @if let Some(size) = q.size { input type="hidden" name="size" value=(size); }
            button type="submit" { (l.t("Lọc", "Filter")) }
        }
        p { a id="merger-worklist" href="/phat-hien/sap-nhap" { (l.t("Danh sách quy hoạch lại sau sáp nhập tỉnh", "Re-planning worklist after the merger of provinces")) } }
        p id="summary" {
            (shown.total) " " (l.t("phát hiện trên", "findings over")) " " (shown.entries) " " (l.t("dòng", "entries"))
            @if pages > 1 { " · " (l.t("trang", "page")) " " (page_no) "/" (pages) }
        }
        @if !shown.counts.is_empty() {
            div.scroll { table id="finding-counts" {
                thead { tr {
                    th { (l.t("Quy tắc", "Rule")) }
                    th.num { (l.severity(Severity::Error)) }
                    th.num { (l.severity(Severity::Warning)) }
                } }
                tbody {
                    @for rule in RuleId::ALL {
                        @let (errors, warnings) = (count_of(rule, Severity::Error), count_of(rule, Severity::Warning));
                        @if errors + warnings > 0 {
                            tr data-rule=(rule.as_str()) {
                                td { a href=(format!("/phat-hien?{}", q.query_string(1, Some(rule.as_str()), Some("")))) { (rule.as_str()) } }
                                @for (sev, n) in [(Severity::Error, errors), (Severity::Warning, warnings)] {
                                    td.num data-severity=(sev.as_str()) data-count=(n) {
                                        @if n > 0 { a href=(format!("/phat-hien?{}", q.query_string(1, Some(rule.as_str()), Some(sev.as_str())))) { (n) } } @else { "0" }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
        }
        (pager)
        @for ((rule, sev), list) in &by_rule {
            section.rule {
                h2 { (rule.as_str()) " · " (l.severity(*sev)) " (" (count_of(*rule, *sev)) ")" }
                ul.findings { @for f in list { (finding_item(&state, &viewer, f)) } }
            }
        }
        (pager)
    };
    Ok(page(
        &viewer,
        l.t("Phát hiện", "Findings"),
        &format!("/phat-hien?{here}"),
        content,
    ))
}

// ----------------------------------------------------------------------------------- plan

/// `GET /phat-hien/sap-nhap`: the re-planning worklist after a merger of provinces: every
/// finding the merger made (R2, R3, R21 between lists of different old provinces,
/// [`crate::node::merge::merger_tag`]), grouped by post. Nobody is dropped: the page lists
/// what to re-plan.
pub async fn merger_worklist(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(q): Query<FindingsQuery>,
) -> Result<Markup, WebError> {
    let l = viewer.lang;
    let under = state.node.scope(&viewer.caller, q.under.trim())?;
    let outcome = state
        .node
        .check(
            &viewer.caller,
            &CheckFilter {
                under,
                term: Some(q.term.clone()).filter(|t| !t.is_empty()),
                rules: crate::node::merge::MERGER_RULES.to_vec(),
                severity: None,
                plan: None,
            },
        )
        .await?;
    let catalog = state.node.catalog();
    let mut by_post: BTreeMap<String, Vec<&CheckedFinding>> = BTreeMap::new();
    for f in outcome.findings.iter().filter(|f| !f.merger.is_empty()) {
        by_post
            .entry(f.finding.positions.join(", "))
            .or_default()
            .push(f);
    }
    let post_name = |codes: &str| -> String {
        if codes.is_empty() {
            return l.t("(không gắn chức danh)", "(no post named)").to_string();
        }
        codes
            .split(", ")
            .map(|c| match catalog.position(c) {
                Some(p) => format!("{} ({c})", l.t(&p.title_vi, &p.title_en)),
                None => c.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let total: usize = by_post.values().map(Vec::len).sum();
    let content = html! {
        p { a href="/phat-hien" { (l.t("← Phát hiện", "← Findings")) } }
        p id="summary" {
            (total) " " (l.t(
                "phát hiện do sáp nhập tỉnh: danh sách các tỉnh cũ trùng nhau, cần quy hoạch lại; không ai bị loại khỏi danh sách.",
                "findings from the merger of provinces: the old provinces' lists collide and are to be re-planned; nobody is dropped.",
            ))
        }
        @for (post, list) in &by_post {
            section.post data-post=(post) {
                h2 { (l.t("Chức danh:", "Post:")) " " (post_name(post)) " (" (list.len()) ")" }
                ul.findings { @for f in list { (finding_item(&state, &viewer, f)) } }
            }
        }
    };
    Ok(page(
        &viewer,
        l.t("Quy hoạch lại sau sáp nhập", "Re-planning after the merger"),
        "/phat-hien",
        content,
    ))
}
