//! The read-only pages: overview, consolidated list (and its export), findings, a plan. Each
//! handler checks the viewer's scope, calls node operations, and renders.

use std::collections::{BTreeMap, HashMap};

use axum::{
    extract::{Path, Query, State},
    http::header,
    response::{IntoResponse, Response},
};
use maud::{html, Markup};
use serde::Deserialize;

use super::{
    diff::diff_plans,
    i18n::{date, moment, Lang},
    layout::{form_urlencoded_path, page},
    session::Viewer,
    WebError, WebState,
};
use crate::{
    domain::{Gender, Level, Plan, PlanId, PlanStatus},
    node::{
        mask_id, CheckFilter, CheckedFinding, ConsolidatedEntry, ConsolidatedFilter, PlanFilter,
    },
    rules::{RuleId, Severity},
    store::PlanHeader,
};

/// The link to a plan version.
pub fn plan_href(id: &PlanId) -> String {
    format!("/ke-hoach/{}/{}/{}", id.unit, id.term, id.version)
}

/// A national ID as the viewer may see it.
pub fn shown_id(viewer: &Viewer, id: &str) -> String {
    if viewer.sees_full_ids() {
        id.to_string()
    } else {
        mask_id(id)
    }
}

/// `text` with every run of 12 digits (a national ID) masked, unless the viewer sees full IDs.
pub fn mask_ids_in(viewer: &Viewer, text: &str) -> String {
    if viewer.sees_full_ids() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() == 12 {
            out.push_str(&mask_id(digits));
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
        } else {
            flush(&mut digits, &mut out);
            out.push(ch);
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// The terms of the catalogue, newest first, and the one a page shows by default: the newest
/// that has a plan in scope, else the newest.
async fn terms(
    state: &WebState,
    viewer: &Viewer,
    wanted: &str,
) -> Result<(Vec<String>, String), WebError> {
    let mut terms: Vec<String> = state.node.catalog().terms.keys().cloned().collect();
    terms.sort();
    terms.reverse();
    // A term asked for needs no look at what is held.
    if !wanted.trim().is_empty() {
        return Ok((terms, wanted.trim().to_string()));
    }
    let held = state
        .node
        .list_plans(&PlanFilter {
            under: viewer.root.clone(),
            latest_only: true,
            ..Default::default()
        })
        .await?;
    let default = terms
        .iter()
        .find(|t| held.iter().any(|h| &h.id.term == *t))
        .or(terms.first())
        .cloned()
        .unwrap_or_default();
    Ok((terms, default))
}

fn unit_name(state: &WebState, code: &str) -> String {
    state
        .node
        .hierarchy()
        .get(code)
        .map(|u| u.name.clone())
        .unwrap_or_else(|| code.to_string())
}

fn position_title(state: &WebState, lang: Lang, code: &str) -> String {
    state
        .node
        .catalog()
        .position(code)
        .map(|p| lang.t(&p.title_vi, &p.title_en).to_string())
        .unwrap_or_else(|| code.to_string())
}

fn term_select(l: Lang, terms: &[String], term: &str) -> Markup {
    html! {
        label { (l.t("Nhiệm kỳ", "Term")) " "
            select name="term" {
                @for t in terms { option value=(t) selected[t == term] { (t) } }
            }
        }
    }
}

// ------------------------------------------------------------------------------ overview

/// The overview's query.
#[derive(Debug, Default, Deserialize)]
pub struct TermQuery {
    #[serde(default)]
    term: String,
    /// `1`: list every unit of the subtree, also those without a plan below the first level.
    #[serde(default)]
    all: String,
}

/// The state of one unit's plan as the overview shows it.
fn unit_state(
    state: &WebState,
    l: Lang,
    header: Option<&PlanHeader>,
    overdue: bool,
) -> (String, &'static str) {
    let Some(h) = header else {
        return (l.t("Chưa bắt đầu", "Not started").into(), "none");
    };
    let approver = state
        .node
        .hierarchy()
        .parent(&h.id.unit)
        .map(|u| u.name.clone())
        .unwrap_or_default();
    if overdue {
        return (
            format!(
                "{} ({approver})",
                l.t("Quá hạn thẩm định", "Appraisal overdue")
            ),
            "overdue",
        );
    }
    match h.status {
        PlanStatus::Draft => (l.status(h.status).into(), "draft"),
        PlanStatus::Adopted => (l.status(h.status).into(), "draft"),
        PlanStatus::Submitted | PlanStatus::Received => (
            format!(
                "{}: {approver}",
                l.t("Đã trình, chờ", "Submitted, pending at")
            ),
            "pending",
        ),
        PlanStatus::Approved => (l.status(h.status).into(), "approved"),
        PlanStatus::Returned => (l.status(h.status).into(), "returned"),
    }
}

/// `GET /`: the overview of one term.
pub async fn overview(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(q): Query<TermQuery>,
) -> Result<Markup, WebError> {
    let l = viewer.lang;
    let node = &state.node;
    let (terms, default_term) = terms(&state, &viewer, &q.term).await?;
    let term = if q.term.is_empty() {
        default_term
    } else {
        q.term
    };
    let headers = node
        .list_plans(&PlanFilter {
            under: viewer.root.clone(),
            term: Some(term.clone()),
            latest_only: true,
            ..Default::default()
        })
        .await?;
    let latest: HashMap<&str, &PlanHeader> =
        headers.iter().map(|h| (h.id.unit.as_str(), h)).collect();
    let completeness = node.completeness(&viewer.root, &term).await?;
    let overdue: Vec<&PlanId> = completeness
        .overdue
        .iter()
        .flat_map(|f| f.finding.plans.iter())
        .collect();
    let hierarchy = node.hierarchy();
    // The root, its direct children, and every unit with a plan (with the units above it);
    // the others only on request, since a province has hundreds of communes.
    let show_all = q.all == "1";
    let everything = hierarchy.subtree(&viewer.root);
    let mut shown: std::collections::HashSet<&str> = std::collections::HashSet::new();
    shown.insert(viewer.root.as_str());
    shown.extend(hierarchy.children(&viewer.root).iter().map(String::as_str));
    for h in &headers {
        shown.insert(h.id.unit.as_str());
        for a in hierarchy.ancestors(&h.id.unit) {
            shown.insert(a.code.as_str());
        }
    }
    let hidden = everything.len()
        - everything
            .iter()
            .filter(|u| shown.contains(u.code.as_str()))
            .count();
    let units: Vec<&crate::domain::Unit> = everything
        .iter()
        .copied()
        .filter(|u| show_all || shown.contains(u.code.as_str()))
        .collect();
    let root_depth = hierarchy.ancestors(&viewer.root).len();
    let waiting: Vec<&PlanHeader> = headers
        .iter()
        .filter(|h| h.status == PlanStatus::Received && node.approves(&h.id.unit))
        .collect();
    let children: Vec<&crate::domain::Unit> = hierarchy
        .children(&viewer.root)
        .iter()
        .filter_map(|c| hierarchy.get(c))
        .collect();
    let mut per_child = Vec::new();
    for child in &children {
        let c = node.completeness(&child.code, &term).await?;
        let total = hierarchy.subtree(&child.code).len();
        per_child.push((child, total - c.missing.len(), total, c.overdue.len()));
    }
    let sync = node.sync_status()?;
    let content = html! {
        form.filters method="get" action="/" {
            (term_select(l, &terms, &term))
            button type="submit" { (l.t("Xem", "Show")) }
        }
        section {
            h2 { (l.t("Kế hoạch chờ đơn vị này quyết định", "Plans awaiting this unit's decision")) }
            @if waiting.is_empty() {
                p.muted { (l.t("Không có.", "None.")) }
            } @else {
                ul id="waiting" {
                    @for h in &waiting {
                        li { a href=(plan_href(&h.id)) { (unit_name(&state, &h.id.unit)) " · v" (h.id.version) }
                            @if let Some(at) = h.received_at { " · " (l.t("nhận", "received")) " " (moment(at)) } }
                    }
                }
            }
        }
        section {
            h2 { (l.t("Trạng thái kế hoạch theo đơn vị", "Plan state per unit")) }
            @if hidden > 0 && !show_all {
                p { a id="show-all" href=(format!("/?term={term}&all=1")) {
                    (l.t("Hiện cả", "Show also the")) " " (hidden) " " (l.t("đơn vị cấp dưới chưa bắt đầu", "lower units not started")) } }
            }
            div.scroll {
                table id="units" {
                    thead { tr {
                        th { (l.t("Đơn vị", "Unit")) } th { (l.t("Cấp", "Level")) }
                        th { (l.t("Trạng thái", "State")) } th { (l.t("Phiên bản", "Version")) }
                        th.num { (l.t("Số người", "Entries")) }
                    } }
                    tbody {
                        @for u in &units {
                            @let depth = hierarchy.ancestors(&u.code).len().saturating_sub(root_depth);
                            @let h = latest.get(u.code.as_str()).copied();
                            @let late = h.is_some_and(|h| overdue.contains(&&h.id));
                            @let (label, class) = unit_state(&state, l, h, late);
                            tr data-unit=(u.code) {
                                td style=(format!("padding-left:{}rem", 0.4 + depth as f32 * 1.2)) {
                                    (u.name) " " span.muted { "(" (u.code) ")" }
                                }
                                td { (level_name(l, u.level)) }
                                td { span class=(format!("state {class}")) { (label) } }
                                td { @if let Some(h) = h { a href=(plan_href(&h.id)) { "v" (h.id.version) } } }
                                td.num { @if let Some(h) = h { (h.entry_count) } }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { (l.t("Mức độ đầy đủ theo đơn vị trực thuộc", "Completeness per subordinate unit")) }
            div.scroll { table id="completeness" {
                thead { tr { th { (l.t("Đơn vị", "Unit")) } th.num { (l.t("Đã trình", "Submitted")) } th.num { (l.t("Quá hạn", "Overdue")) } } }
                tbody { @for (u, done, total, late) in &per_child {
                    tr { td { (u.name) } td.num { (done) "/" (total) } td.num class=[(*late > 0).then_some("bad")] { (late) } }
                } }
            } }
        }
        section {
            h2 { (l.t("Trạng thái đồng bộ", "Sync state")) }
            div.scroll { table id="sync" {
                thead { tr { th { (l.t("Liên kết", "Link")) } th.num { (l.t("Hàng đợi", "Outbox")) } th.num { (l.t("Độ trễ (giây)", "Lag (s)")) } th { (l.t("Liên lạc gần nhất", "Last contact")) } th { (l.t("Lỗi gần nhất", "Last error")) } th { (l.t("Tình trạng", "State")) } } }
                tbody {
                    @for (kind, link) in sync.parent.iter().map(|p| (l.t("cấp trên", "parent"), p)).chain(sync.children.iter().map(|c| (l.t("cấp dưới", "child"), c))) {
                        tr class=[link.stuck.then_some("stuck")] {
                            td { (unit_name(&state, &link.unit)) " (" (kind) ")" }
                            td.num { (link.outbox_length) }
                            td.num { (link.lag_seconds) }
                            td { @if let Some(t) = link.last_contact_at { (moment(t)) } @else { "—" } }
                            td { (link.last_error.clone().unwrap_or_default()) }
                            td { @if link.stuck { strong.bad { (l.t("TẮC", "STUCK")) } } @else { (l.t("bình thường", "ok")) } }
                        }
                    }
                }
            } }
            @if !sync.conflicts.is_empty() {
                p.bad { (sync.conflicts.len()) " " (l.t("xung đột đã ghi nhận", "recorded conflicts")) }
            }
        }
    };
    Ok(page(&viewer, l.t("Tổng quan", "Overview"), "/", content))
}

fn level_name(l: Lang, level: Level) -> &'static str {
    match level {
        Level::Province => l.t("Tỉnh", "Province"),
        Level::District => l.t("Huyện", "District"),
        Level::Commune => l.t("Xã", "Commune"),
    }
}

// ---------------------------------------------------------------------- consolidated list

/// The consolidated list's query: every filter of the query API, the sort and the page.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    under: String,
    #[serde(default)]
    term: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    gender: String,
    #[serde(default)]
    age_min: String,
    #[serde(default)]
    age_max: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    page: String,
    #[serde(default)]
    size: String,
}

/// How many rows a page shows unless asked otherwise.
const PAGE_SIZE: usize = 50;

impl ListQuery {
    fn query_string(&self, page: usize) -> String {
        let pairs = [
            ("under", &self.under),
            ("term", &self.term),
            ("position", &self.position),
            ("status", &self.status),
            ("name", &self.name),
            ("level", &self.level),
            ("gender", &self.gender),
            ("age_min", &self.age_min),
            ("age_max", &self.age_max),
            ("rule", &self.rule),
            ("sort", &self.sort),
            ("size", &self.size),
        ];
        let mut out: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", form_urlencoded_path(v)))
            .collect();
        if page > 1 {
            out.push(format!("page={page}"));
        }
        out.join("&")
    }

    fn page_size(&self) -> usize {
        match self.size.trim() {
            "" => PAGE_SIZE,
            s => s.parse().unwrap_or(PAGE_SIZE),
        }
    }

    fn page(&self) -> usize {
        self.page.trim().parse().unwrap_or(1).max(1)
    }
}

/// One row of the list as shown: the entry and its person.
pub struct ShownRow {
    /// The entry as the node lists it.
    pub entry: ConsolidatedEntry,
    /// The person's national ID, when it could be resolved.
    pub national_id: Option<String>,
}

/// The list as the page shows it: the rows of the current page, out of `total`.
pub struct Shown {
    pub rows: Vec<ShownRow>,
    pub total: usize,
    pub term: String,
    pub terms: Vec<String>,
}

fn parse_status(s: &str) -> Option<PlanStatus> {
    [
        PlanStatus::Draft,
        PlanStatus::Adopted,
        PlanStatus::Submitted,
        PlanStatus::Received,
        PlanStatus::Approved,
        PlanStatus::Returned,
    ]
    .into_iter()
    .find(|x| x.as_str() == s)
}

/// Runs the consolidated query for `q` as `viewer` may see it, sorted and paged.
async fn shown(state: &WebState, viewer: &Viewer, q: &ListQuery) -> Result<Shown, WebError> {
    let node = &state.node;
    let (terms, default_term) = terms(state, viewer, &q.term).await?;
    let term = if q.term.is_empty() {
        default_term
    } else {
        q.term.clone()
    };
    let under = if q.under.trim().is_empty() {
        viewer.root.clone()
    } else {
        viewer
            .caller
            .require_read(node.hierarchy(), "under", q.under.trim())?;
        q.under.trim().to_string()
    };
    let number = |field: &str, v: &str| -> Result<Option<u32>, WebError> {
        match v.trim() {
            "" => Ok(None),
            v => v.parse().map(Some).map_err(|_| {
                WebError::bad_request(format!("{field}: {v:?} is not a whole number"))
            }),
        }
    };
    let filter = ConsolidatedFilter {
        under,
        term: Some(term.clone()),
        position: Some(q.position.trim().to_string()).filter(|s| !s.is_empty()),
        status: parse_status(q.status.trim()),
        name: Some(q.name.clone()).filter(|s| !s.trim().is_empty()),
        level: q.level.trim().parse().ok(),
        gender: match q.gender.as_str() {
            "male" => Some(Gender::Male),
            "female" => Some(Gender::Female),
            _ => None,
        },
        age_min: number("age_min", &q.age_min)?,
        age_max: number("age_max", &q.age_max)?,
        has_rule: match q.rule.trim() {
            "" => None,
            r => Some(
                r.parse()
                    .map_err(|e: String| WebError::bad_request(format!("rule: {e}")))?,
            ),
        },
    };
    let mut entries = node.consolidated(&filter).await?;
    // The node sorts the Vietnamese way by name; the other orders keep it within ties.
    match q.sort.as_str() {
        "unit" => entries.sort_by(|a, b| a.unit_name.cmp(&b.unit_name).then(a.unit.cmp(&b.unit))),
        "position" => entries.sort_by(|a, b| a.position.cmp(&b.position)),
        "birth" => entries.sort_by_key(|e| e.birth_date),
        "votes" => entries.sort_by_key(|e| std::cmp::Reverse(e.votes.map_or(0, |v| v.0))),
        _ => {}
    }
    let total = entries.len();
    let size = q.page_size();
    let page_rows: Vec<ConsolidatedEntry> = if size == 0 {
        entries
    } else {
        entries
            .into_iter()
            .skip((q.page() - 1) * size)
            .take(size)
            .collect()
    };
    // The list carries masked IDs; the person behind each shown row comes from its plan.
    let mut plans: HashMap<PlanId, Plan> = HashMap::new();
    let mut rows = Vec::with_capacity(page_rows.len());
    for e in page_rows {
        let id = PlanId {
            unit: e.unit.clone(),
            term: e.term.clone(),
            version: e.version,
        };
        if !plans.contains_key(&id) {
            let plan = node.get_plan(&id.unit, &id.term, id.version).await?;
            plans.insert(id.clone(), plan);
        }
        let national_id = plans[&id]
            .entries
            .iter()
            .find(|x| {
                x.position == e.position
                    && x.cadre.full_name == e.full_name
                    && x.cadre.birth_date == e.birth_date
                    && mask_id(&x.cadre.national_id) == e.national_id_masked
            })
            .map(|x| x.cadre.national_id.clone());
        rows.push(ShownRow {
            entry: e,
            national_id,
        });
    }
    Ok(Shown {
        rows,
        total,
        term,
        terms,
    })
}

/// `GET /tong-hop`: the consolidated list.
pub async fn consolidated(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Markup, WebError> {
    let l = viewer.lang;
    let shown = shown(&state, &viewer, &q).await?;
    let node = &state.node;
    let catalog = node.catalog();
    let units = node.hierarchy().subtree(&viewer.root);
    let size = q.page_size();
    let pages = if size == 0 {
        1
    } else {
        shown.total.div_ceil(size).max(1)
    };
    let page_no = q.page().min(pages);
    let here = q.query_string(page_no);
    let sel = |a: &str, b: &str| a == b;
    let content = html! {
        form.filters id="filters" method="get" action="/tong-hop" {
            label { (l.t("Tìm theo tên", "Search by name")) " " input type="search" name="name" value=(q.name) placeholder=(l.t("vd. nguyen van", "e.g. nguyen van")); }
            (term_select(l, &shown.terms, &shown.term))
            label { (l.t("Đơn vị", "Unit")) " " select name="under" {
                option value="" { (l.t("Tất cả", "All")) }
                @for u in &units { option value=(u.code) selected[sel(&q.under, &u.code)] { (u.name) } }
            } }
            label { (l.t("Chức danh", "Position")) " " select name="position" {
                option value="" { (l.t("Tất cả", "All")) }
                @for p in catalog.positions.values() { option value=(p.code) selected[sel(&q.position, &p.code)] { (l.t(&p.title_vi, &p.title_en)) " (" (p.code) ")" } }
            } }
            label { (l.t("Trạng thái", "Status")) " " select name="status" {
                option value="" { (l.t("Tất cả", "All")) }
                @for s in [PlanStatus::Adopted, PlanStatus::Submitted, PlanStatus::Received, PlanStatus::Approved, PlanStatus::Returned] {
                    option value=(s.as_str()) selected[sel(&q.status, s.as_str())] { (l.status(s)) }
                }
            } }
            label { (l.t("Cấp", "Level")) " " select name="level" {
                option value="" { (l.t("Tất cả", "All")) }
                @for lv in [Level::Province, Level::District, Level::Commune] { option value=(lv.as_str()) selected[sel(&q.level, lv.as_str())] { (level_name(l, lv)) } }
            } }
            label { (l.t("Giới tính", "Gender")) " " select name="gender" {
                option value="" { (l.t("Tất cả", "All")) }
                option value="male" selected[sel(&q.gender, "male")] { (l.gender(Gender::Male)) }
                option value="female" selected[sel(&q.gender, "female")] { (l.gender(Gender::Female)) }
            } }
            label { (l.t("Tuổi từ", "Age from")) " " input.short type="number" min="0" name="age_min" value=(q.age_min); }
            label { (l.t("đến", "to")) " " input.short type="number" min="0" name="age_max" value=(q.age_max); }
            label { (l.t("Có phát hiện", "Has finding")) " " select name="rule" {
                option value="" { "—" }
                @for r in RuleId::ALL { option value=(r.as_str()) selected[sel(&q.rule, r.as_str())] { (r.as_str()) } }
            } }
            label { (l.t("Sắp xếp", "Sort")) " " select name="sort" {
                @for (v, vi, en) in [("", "Tên (kiểu Việt)", "Name (Vietnamese)"), ("unit", "Đơn vị", "Unit"), ("position", "Chức danh", "Position"), ("birth", "Ngày sinh", "Birth date"), ("votes", "Số phiếu", "Votes")] {
                    option value=(v) selected[sel(&q.sort, v)] { (l.t(vi, en)) }
                }
            } }
            label { (l.t("Số dòng/trang", "Rows/page")) " " select name="size" {
                @for (v, label) in [("", "50"), ("20", "20"), ("100", "100"), ("0", l.t("Tất cả", "All"))] {
                    option value=(v) selected[sel(&q.size, v)] { (label) }
                }
            } }
            button type="submit" { (l.t("Lọc", "Filter")) }
        }
        p id="summary" {
            (shown.total) " " (l.t("dòng", "rows"))
            @if size != 0 { " · " (l.t("trang", "page")) " " (page_no) "/" (pages) }
            " · " a id="export-xlsx" href=(format!("/tong-hop.xlsx?{here}")) { (l.t("Xuất Excel (những dòng đang hiển thị)", "Export Excel (the rows shown)")) }
            " · " a id="export-csv" href=(format!("/tong-hop.csv?{here}")) { "CSV" }
        }
        div.scroll { table id="consolidated" {
            thead { tr {
                th.num { "STT" } th { (l.t("Họ và tên", "Full name")) } th { (l.t("Ngày sinh", "Born")) }
                th { (l.t("Giới tính", "Gender")) } th { (l.t("Số CCCD", "National ID")) }
                th { (l.t("Đơn vị", "Unit")) } th { (l.t("Chức danh quy hoạch", "Planned position")) }
                th.num { (l.t("Phiếu", "Votes")) } th { (l.t("Trạng thái", "Status")) }
            } }
            tbody {
                @for (i, r) in shown.rows.iter().enumerate() {
                    @let e = &r.entry;
                    @let stt = if size == 0 { i + 1 } else { (page_no - 1) * size + i + 1 };
                    tr {
                        td.num { (stt) }
                        td.name { @if let Some(id) = &r.national_id {
                            a href=(format!("/nguoi/{}", state.sessions.person_ref(id))) { (e.full_name) }
                        } @else { (e.full_name) } }
                        td { (date(e.birth_date)) }
                        td { (l.gender(e.gender)) }
                        td.id { @if let Some(id) = &r.national_id { (shown_id(&viewer, id)) } @else { (e.national_id_masked) } }
                        td { (e.unit_name) }
                        td { (position_title(&state, l, &e.position)) }
                        td.num { @if let Some((y, d)) = e.votes { (y) "/" (d) } }
                        td { a href=(plan_href(&PlanId { unit: e.unit.clone(), term: e.term.clone(), version: e.version })) { (l.status(e.status)) " v" (e.version) } }
                    }
                }
            }
        } }
        @if pages > 1 {
            nav.pager {
                @if page_no > 1 { a rel="prev" href=(format!("/tong-hop?{}", q.query_string(page_no - 1))) { "← " (l.t("Trước", "Previous")) } }
                " " (page_no) "/" (pages) " "
                @if page_no < pages { a rel="next" href=(format!("/tong-hop?{}", q.query_string(page_no + 1))) { (l.t("Sau", "Next")) " →" } }
            }
        }
    };
    Ok(page(
        &viewer,
        l.t("Danh sách tổng hợp", "Consolidated list"),
        &format!("/tong-hop?{here}"),
        content,
    ))
}

/// The shown rows as an export sheet in the layout of `quyhoach export --what consolidated`.
fn export_sheet(
    state: &WebState,
    viewer: &Viewer,
    q: &ListQuery,
    shown: &Shown,
) -> crate::tabular::ExportSheet {
    let headers: Vec<String> = [
        "STT",
        "Họ và tên",
        "Ngày sinh",
        "Giới tính",
        "Số CCCD",
        "Mã đơn vị",
        "Đơn vị",
        "Chức danh quy hoạch",
        "Mã chức danh",
        "Nhiệm kỳ",
        "Số phiếu đồng ý",
        "Trạng thái",
        "Phiên bản",
    ]
    .map(String::from)
    .to_vec();
    let first = if q.page_size() == 0 {
        0
    } else {
        (q.page() - 1) * q.page_size()
    };
    let rows = shown
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let e = &r.entry;
            vec![
                (first + i + 1).to_string(),
                e.full_name.clone(),
                date(e.birth_date),
                Lang::Vi.gender(e.gender).to_string(),
                r.national_id
                    .as_deref()
                    .map(|id| shown_id(viewer, id))
                    .unwrap_or_else(|| e.national_id_masked.clone()),
                e.unit.clone(),
                e.unit_name.clone(),
                position_title(state, Lang::Vi, &e.position),
                e.position.clone(),
                e.term.clone(),
                e.votes.map(|(y, d)| format!("{y}/{d}")).unwrap_or_default(),
                Lang::Vi.status(e.status).to_string(),
                e.version.to_string(),
            ]
        })
        .collect();
    crate::tabular::table_sheet("Danh sách tổng hợp", headers, rows)
}

fn download(content_type: &str, name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// `GET /tong-hop.csv`: exactly the rows the list shows for the same query, as CSV.
pub async fn consolidated_csv(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    let shown = shown(&state, &viewer, &q).await?;
    let sheet = export_sheet(&state, &viewer, &q, &shown);
    let mut bytes = Vec::new();
    crate::tabular::export_csv(&mut bytes, &sheet.headers, &sheet.text_rows())
        .map_err(|e| WebError::bad_request(e.to_string()))?;
    Ok(download("text/csv; charset=utf-8", "tong-hop.csv", bytes))
}

/// `GET /tong-hop.xlsx`: the same as Excel.
pub async fn consolidated_xlsx(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    let shown = shown(&state, &viewer, &q).await?;
    let sheet = export_sheet(&state, &viewer, &q, &shown);
    let bytes =
        crate::tabular::xlsx_bytes(&[sheet]).map_err(|e| WebError::bad_request(e.to_string()))?;
    Ok(download(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "tong-hop.xlsx",
        bytes,
    ))
}

// ------------------------------------------------------------------------------- findings

/// The findings page's query.
#[derive(Debug, Default, Deserialize)]
pub struct FindingsQuery {
    #[serde(default)]
    term: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    severity: String,
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
            span.muted { "#" (f.id) }
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
                    a.plan href=(plan_href(id)) { (unit_name(state, &id.unit)) " " (id.term) " v" (id.version) } " "
                }
            }
            @if let Some(a) = &f.acceptance {
                p.accepted { (l.t("Đã chấp nhận:", "Accepted:")) " “" (a.justification) "” — " (a.by) ", " (moment(a.at)) }
            }
        }
    }
}

/// `GET /phat-hien`: the findings by rule and severity.
pub async fn findings(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(q): Query<FindingsQuery>,
) -> Result<Markup, WebError> {
    let l = viewer.lang;
    let (terms, _) = terms(&state, &viewer, "-").await?;
    let rules = match q.rule.trim() {
        "" => vec![],
        r => vec![r
            .parse()
            .map_err(|e: String| WebError::bad_request(format!("rule: {e}")))?],
    };
    let severity = match q.severity.as_str() {
        "error" => Some(Severity::Error),
        "warning" => Some(Severity::Warning),
        _ => None,
    };
    let outcome = state
        .node
        .check(&CheckFilter {
            under: viewer.root.clone(),
            term: Some(q.term.clone()).filter(|t| !t.is_empty()),
            rules,
            severity,
            plan: None,
        })
        .await?;
    let mut by_rule: BTreeMap<(usize, u8), Vec<&CheckedFinding>> = BTreeMap::new();
    for f in &outcome.findings {
        let sev = match f.finding.severity {
            Severity::Error => 0,
            Severity::Warning => 1,
        };
        by_rule
            .entry((f.finding.rule as usize, sev))
            .or_default()
            .push(f);
    }
    let content = html! {
        form.filters method="get" action="/phat-hien" {
            label { (l.t("Nhiệm kỳ", "Term")) " " select name="term" {
                option value="" { (l.t("Tất cả", "All")) }
                @for t in &terms { option value=(t) selected[*t == q.term] { (t) } }
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
            button type="submit" { (l.t("Lọc", "Filter")) }
        }
        p id="summary" { (outcome.findings.len()) " " (l.t("phát hiện trên", "findings over")) " " (outcome.entries) " " (l.t("dòng", "entries")) }
        @for ((_, _), list) in &by_rule {
            @let first = &list[0].finding;
            section.rule {
                h2 { (first.rule.as_str()) " · " (l.severity(first.severity)) " (" (list.len()) ")" }
                ul.findings { @for f in list { (finding_item(&state, &viewer, f)) } }
            }
        }
    };
    Ok(page(
        &viewer,
        l.t("Phát hiện", "Findings"),
        "/phat-hien",
        content,
    ))
}

// ----------------------------------------------------------------------------------- plan

/// The plan page's query: the two versions to compare.
#[derive(Debug, Default, Deserialize)]
pub struct PlanQuery {
    #[serde(default)]
    a: String,
    #[serde(default)]
    b: String,
}

/// The parts of a plan URL, checked against the viewer's scope.
pub async fn load_plan(
    state: &WebState,
    viewer: &Viewer,
    unit: &str,
    term: &str,
    version: &str,
) -> Result<Plan, WebError> {
    viewer
        .caller
        .require_read(state.node.hierarchy(), "unit", unit)?;
    let version: u32 = version
        .parse()
        .map_err(|_| WebError::bad_request(format!("version: {version:?} is not a number")))?;
    Ok(state.node.get_plan(unit, term, version).await?)
}

/// `GET /ke-hoach/UNIT/TERM/VERSION`: one plan version with everything about it.
pub async fn plan(
    State(state): State<WebState>,
    viewer: Viewer,
    Path((unit, term, version)): Path<(String, String, String)>,
    Query(q): Query<PlanQuery>,
) -> Result<Markup, WebError> {
    let l = viewer.lang;
    let node = &state.node;
    let plan = load_plan(&state, &viewer, &unit, &term, &version).await?;
    let versions: Vec<PlanHeader> = node
        .list_plans(&PlanFilter {
            under: unit.clone(),
            term: Some(term.clone()),
            ..Default::default()
        })
        .await?
        .into_iter()
        .filter(|h| h.id.unit == unit)
        .collect();
    // The versions compared: chosen, or this one against the one it revises.
    let pick = |s: &str| s.trim().parse::<u32>().ok();
    let (va, vb) = match (pick(&q.a), pick(&q.b)) {
        (Some(a), Some(b)) => (Some(a), b),
        _ => (
            plan.base_version
                .or_else(|| plan.id.version.checked_sub(1).filter(|v| *v > 0)),
            plan.id.version,
        ),
    };
    let diff = match va {
        Some(a) if a != vb => {
            let older = node.get_plan(&unit, &term, a).await?;
            let newer = node.get_plan(&unit, &term, vb).await?;
            Some((a, vb, diff_plans(&older, &newer)))
        }
        _ => None,
    };
    let findings = node.plan_findings(&plan.id).await?;
    // The audit trail, to those who may read it over gRPC (the node's whole unit).
    let sees_audit = viewer.caller.may_read(node.hierarchy(), &node.unit().code);
    let records = if sees_audit {
        node.audit()?.0
    } else {
        Vec::new()
    };
    let audit: Vec<&crate::audit::AuditRecord> = records
        .iter()
        .filter(|r| {
            r.event
                .plan
                .as_ref()
                .is_some_and(|p| p.unit == unit && p.term == term)
        })
        .collect();
    let decidable = plan.status == PlanStatus::Received
        && node.approves(&plan.id.unit)
        && viewer.approves_at(&node.unit().code);
    let person_link = |id: &str, name: &str| {
        html! { a href=(format!("/nguoi/{}", state.sessions.person_ref(id))) { (name) } }
    };
    let positions = |codes: &[String]| {
        codes
            .iter()
            .map(|c| position_title(&state, l, c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let title = format!(
        "{} · {} · v{}",
        unit_name(&state, &unit),
        term,
        plan.id.version
    );
    let content = html! {
        p id="plan-status" {
            span class=(format!("state {}", plan.status.as_str())) { (l.status(plan.status)) }
            @if let Some(h) = &plan.hash { " · " span.muted.hash { (h.get(..16).unwrap_or(h)) } }
            @if let Some(d) = plan.adopted_on { " · " (l.t("thông qua", "adopted")) " " (date(d)) }
            @if let Some(t) = plan.received_at { " · " (l.t("nhận", "received")) " " (moment(t)) }
        }
        section {
            h2 { (l.t("Các phiên bản", "Versions")) }
            ul id="versions" { @for h in &versions {
                li { a href=(plan_href(&h.id)) { "v" (h.id.version) } " · " (l.status(h.status)) " · " (h.entry_count) " " (l.t("người", "entries"))
                    @if let Some(d) = &h.decision { " · " (l.t("quyết định", "decided")) " " (moment(d.decided_at)) } }
            } }
            @if versions.len() > 1 {
                form.filters method="get" action=(plan_href(&plan.id)) {
                    label { (l.t("So sánh", "Compare")) " " select name="a" { @for h in &versions { option value=(h.id.version) selected[Some(h.id.version) == va] { "v" (h.id.version) } } } }
                    label { (l.t("với", "with")) " " select name="b" { @for h in &versions { option value=(h.id.version) selected[h.id.version == vb] { "v" (h.id.version) } } } }
                    button type="submit" { (l.t("So sánh", "Compare")) }
                }
            }
        }
        @if let Some((a, b, d)) = &diff {
            section id="diff" {
                h2 { (l.t("Khác biệt", "Differences")) " v" (a) " → v" (b) }
                @if d.added.is_empty() && d.removed.is_empty() && d.moved.is_empty() && d.votes.is_empty() {
                    p.muted { (l.t("Không có khác biệt.", "No differences.")) }
                }
                ul {
                    @for x in &d.added { li.added { "+ " (l.t("Thêm", "Added")) ": " (person_link(&x.national_id, &x.full_name)) " — " (positions(&x.after)) } }
                    @for x in &d.removed { li.removed { "− " (l.t("Bớt", "Removed")) ": " (person_link(&x.national_id, &x.full_name)) " — " (positions(&x.before)) } }
                    @for x in &d.moved { li.moved { "↔ " (l.t("Chuyển chức danh", "Moved")) ": " (person_link(&x.national_id, &x.full_name)) " — " (positions(&x.before)) " → " (positions(&x.after)) } }
                    @for x in &d.votes { li.votes { "± " (l.t("Phiếu thay đổi", "Votes changed")) ": " (x.full_name) " (" (position_title(&state, l, &x.position)) "): "
                        (x.before.map(|v| v.to_string()).unwrap_or("—".into())) " → " (x.after.map(|v| v.to_string()).unwrap_or("—".into())) } }
                }
            }
        }
        section {
            h2 { (l.t("Danh sách", "Entries")) " (" (plan.entries.len()) ")" }
            div.scroll { table id="entries" {
                thead { tr { th { (l.t("Họ và tên", "Full name")) } th { (l.t("Ngày sinh", "Born")) } th { (l.t("Số CCCD", "National ID")) } th { (l.t("Chức danh quy hoạch", "Planned position")) } th.num { (l.t("Phiếu", "Votes")) } } }
                tbody { @for e in &plan.entries {
                    tr { td { (person_link(&e.cadre.national_id, &e.cadre.full_name)) } td { (date(e.cadre.birth_date)) }
                        td.id { (shown_id(&viewer, &e.cadre.national_id)) } td { (position_title(&state, l, &e.position)) }
                        td.num { @if let Some((_, y)) = plan.votes_for(&e.cadre.national_id, &e.position) { (y) } } }
                } }
            } }
        }
        section {
            h2 { (l.t("Các vòng bỏ phiếu", "Ballot rounds")) }
            div.scroll { table id="rounds" {
                thead { tr { th { (l.t("Cơ quan", "Body")) } th { (l.t("Ngày", "Date")) } th.num { (l.t("Triệu tập", "Convened")) } th.num { (l.t("Có mặt", "Present")) } th.num { (l.t("Phiếu phát ra", "Issued")) } th.num { (l.t("Hợp lệ", "Valid")) } } }
                tbody { @for r in &plan.rounds {
                    tr { td { (format!("{:?}", r.body)) } td { (date(r.date)) } td.num { (r.convened) } td.num { (r.present) } td.num { (r.ballots_issued) } td.num { (r.valid_ballots) } }
                } }
            } }
        }
        section {
            h2 { (l.t("Quyết định", "Decisions")) }
            @for h in &versions {
                @if let Some(d) = &h.decision {
                    div.decision data-version=(h.id.version) {
                        p { "v" (h.id.version) ": " strong { (format!("{:?}", d.outcome)) } " — " (unit_name(&state, &d.decided_by)) ", " (moment(d.decided_at)) }
                        @if !d.reasons.is_empty() { ul { @for r in &d.reasons { li { (r) } } } }
                    }
                }
            }
        }
        section {
            h2 { (l.t("Phát hiện", "Findings")) " (" (findings.len()) ")" }
            ul.findings id="plan-findings" { @for f in &findings { (finding_item(&state, &viewer, f)) } }
        }
        @if decidable {
            (super::actions::forms(&viewer, &plan, &findings))
        }
        @if sees_audit { section {
            h2 { (l.t("Nhật ký", "Audit records")) }
            div.scroll { table id="audit" {
                thead { tr { th.num { "#" } th { (l.t("Lúc", "When")) } th { (l.t("Ai", "Who")) } th { (l.t("Việc", "Action")) } th { (l.t("Phiên bản", "Version")) } th { (l.t("Chi tiết", "Detail")) } } }
                tbody { @for r in &audit {
                    tr { td.num { (r.seq) } td { (moment(r.event.at)) } td { (r.event.actor) } td { (r.event.action) }
                        td { @if let Some(p) = &r.event.plan { "v" (p.version) } } td { (mask_ids_in(&viewer, &r.event.detail)) } }
                } }
            } }
        } }
    };
    let path = plan_href(&plan.id);
    Ok(page(&viewer, &title, &path, content))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Caller, Role};

    #[test]
    fn only_twelve_digit_runs_are_masked_for_readers() {
        let reader = Viewer {
            caller: Caller::Certified {
                unit: "40".into(),
                roles: vec![Role::Reader],
                name: "A".into(),
            },
            csrf: String::new(),
            lang: Lang::Vi,
            root: "40".into(),
        };
        assert_eq!(
            mask_ids_in(&reader, "put 040076000001 at 2025-03-14, ref 12345678901"),
            "put …0001 at 2025-03-14, ref 12345678901"
        );
        assert_eq!(mask_ids_in(&reader, "0400760000011"), "0400760000011");
        let approver = Viewer {
            caller: Caller::Insecure,
            ..reader
        };
        assert_eq!(mask_ids_in(&approver, "040076000001"), "040076000001");
    }
}
