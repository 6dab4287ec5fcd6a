//! The consolidated list (Danh sách tổng hợp): every filter of the query API, paged, and its
//! export (csv, xlsx) of exactly what is shown.

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use maud::{html, Markup};
use serde::Deserialize;

use crate::web::{
    i18n::date,
    layout::page,
    session::Viewer,
    typed::{blank_is_none, blank_or_number, Typed},
    WebError, WebState,
};
use crate::{
    domain::{Gender, Level, PlanId, PlanStatus},
    node::{ConsolidatedEntry, ConsolidatedFilter, ConsolidatedPage, PageAt, PageRequest, SortKey},
    rules::RuleId,
    tabular::ListRow,
};

use super::*;

/// The consolidated list's query: every filter of the query API, the sort and the page. A
/// closed list (status, level, gender, rule, sort) is an enum: a value the page does not offer
/// is a 400 naming the field; an empty one is "all".
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListQuery {
    /// The subtree (empty: the viewer's).
    #[serde(default)]
    under: String,
    /// The term (empty: the newest with a plan in scope).
    #[serde(default)]
    term: String,
    /// A position code.
    #[serde(default)]
    position: String,
    /// A plan status.
    #[serde(default, deserialize_with = "blank_is_none")]
    status: Option<PlanStatus>,
    /// Part of a name, diacritics and case ignored.
    #[serde(default)]
    name: String,
    /// A level of government.
    #[serde(default, deserialize_with = "blank_is_none")]
    level: Option<Level>,
    /// A gender.
    #[serde(default, deserialize_with = "blank_is_none")]
    gender: Option<Gender>,
    /// Age today in whole years, at least.
    #[serde(default, deserialize_with = "blank_or_number")]
    age_min: Option<u32>,
    /// ... at most.
    #[serde(default, deserialize_with = "blank_or_number")]
    age_max: Option<u32>,
    /// Only entries a finding of this rule names.
    #[serde(default, deserialize_with = "blank_is_none")]
    rule: Option<RuleId>,
    /// The order (empty: by name).
    #[serde(default, deserialize_with = "blank_is_none")]
    sort: Option<SortKey>,
    /// The page, from 1; past the last is the last.
    #[serde(default, deserialize_with = "blank_or_number")]
    page: Option<usize>,
    /// Rows a page (empty: [`PAGE_SIZE`]; 0: all).
    #[serde(default, deserialize_with = "blank_or_number")]
    size: Option<usize>,
}

/// How many rows a page shows unless asked otherwise.
const PAGE_SIZE: usize = 50;

impl ListQuery {
    /// The query string of page `page` of this list (the export links and the pager).
    fn query_string(&self, page: usize) -> String {
        let number = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
        let word = |w: Option<&'static str>| w.unwrap_or_default();
        let (age_min, age_max) = (number(self.age_min), number(self.age_max));
        let size = self.size.map(|s| s.to_string()).unwrap_or_default();
        listing_query(
            &[
                ("under", self.under.as_str()),
                ("term", self.term.as_str()),
                ("position", self.position.as_str()),
                ("status", word(self.status.map(PlanStatus::as_str))),
                ("name", self.name.as_str()),
                ("level", word(self.level.map(Level::as_str))),
                ("gender", word(self.gender.map(Gender::as_str))),
                ("age_min", age_min.as_str()),
                ("age_max", age_max.as_str()),
                ("rule", word(self.rule.map(RuleId::as_str))),
                ("sort", word(self.sort.map(SortKey::as_str))),
                ("size", size.as_str()),
            ],
            page,
        )
    }

    fn page_size(&self) -> usize {
        self.size.unwrap_or(PAGE_SIZE)
    }
}

/// The list as the page shows it: one page as the node pages it, and the term shown.
pub struct Shown {
    /// The page: its rows (with their whole IDs), the total, the page number and the pages.
    pub page: ConsolidatedPage,
    /// The term shown.
    pub term: String,
    /// The terms the viewer may pick, newest first.
    pub terms: Vec<String>,
    /// The subtree shown.
    pub under: String,
}

impl Shown {
    /// The place in the whole list of the page's first row.
    fn first(&self) -> usize {
        self.page.first.unwrap_or(0)
    }
}

/// Asks the node for the page of the consolidated list that `q` names, as `viewer` may see it:
/// the node filters, sorts and pages (clamped); the page only renders.
async fn shown(state: &WebState, viewer: &Viewer, q: &ListQuery) -> Result<Shown, WebError> {
    let node = &state.node;
    let (terms, default_term) = terms(state, viewer, &q.term).await?;
    let term = if q.term.is_empty() {
        default_term
    } else {
        q.term.clone()
    };
    let under = node.scope(&viewer.caller, q.under.trim())?;
    let filter = ConsolidatedFilter {
        under,
        term: Some(term.clone()),
        position: Some(q.position.trim().to_string()).filter(|s| !s.is_empty()),
        status: q.status,
        name: Some(q.name.clone()).filter(|s| !s.trim().is_empty()),
        level: q.level,
        gender: q.gender,
        age_min: q.age_min,
        age_max: q.age_max,
        has_rule: q.rule,
    };
    let request = PageRequest {
        sort: q.sort.unwrap_or_default(),
        at: PageAt::Number(q.page.unwrap_or(1)),
        size: q.page_size(),
    };
    let under = filter.under.clone();
    let page = node
        .consolidated_page(&viewer.caller, &filter, &request)
        .await?;
    Ok(Shown {
        page,
        term,
        terms,
        under,
    })
}

/// `GET /tong-hop`: the consolidated list.
pub async fn consolidated(
    State(state): State<WebState>,
    viewer: Viewer,
    Typed(q): Typed<ListQuery>,
) -> Result<Markup, WebError> {
    let l = viewer.lang;
    let shown = shown(&state, &viewer, &q).await?;
    let node = &state.node;
    let catalog = node.catalog();
    let units = node.hierarchy().subtree(&viewer.root);
    let size = q.page_size();
    let (page_no, pages) = (shown.page.page, shown.page.pages);
    let first = shown.first();
    let here = q.query_string(page_no);
    let sel = |a: &str, b: &str| a == b;
    let sort = q.sort.unwrap_or_default();
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
                    option value=(s.as_str()) selected[q.status == Some(s)] { (l.status(s)) }
                }
            } }
            label { (l.t("Cấp", "Level")) " " select name="level" {
                option value="" { (l.t("Tất cả", "All")) }
                @for lv in [Level::Province, Level::District, Level::Commune] { option value=(lv.as_str()) selected[q.level == Some(lv)] { (level_name(l, lv)) } }
            } }
            label { (l.t("Giới tính", "Gender")) " " select name="gender" {
                option value="" { (l.t("Tất cả", "All")) }
                @for g in [Gender::Male, Gender::Female] { option value=(g.as_str()) selected[q.gender == Some(g)] { (l.gender(g)) } }
            } }
            label { (l.t("Tuổi từ", "Age from")) " " input.short type="number" min="0" name="age_min" value=[q.age_min]; }
            label { (l.t("đến", "to")) " " input.short type="number" min="0" name="age_max" value=[q.age_max]; }
            label { (l.t("Có phát hiện", "Has finding")) " " select name="rule" {
                option value="" { "—" }
                @for r in RuleId::ALL { option value=(r.as_str()) selected[q.rule == Some(r)] { (r.as_str()) } }
            } }
            label { (l.t("Sắp xếp", "Sort")) " " select name="sort" {
                @for k in SortKey::ALL {
                    option value=(if k == SortKey::Name { "" } else { k.as_str() }) selected[sort == k] { (l.sort(k)) }
                }
            } }
            label { (l.t("Số dòng/trang", "Rows/page")) " " select name="size" {
                @for (v, n, label) in [("", None, "50"), ("20", Some(20), "20"), ("100", Some(100), "100"), ("0", Some(0), l.t("Tất cả", "All"))] {
                    option value=(v) selected[q.size == n] { (label) }
                }
            } }
            button type="submit" { (l.t("Lọc", "Filter")) }
        }
        p id="summary" {
            (shown.page.total) " " (l.t("dòng", "rows"))
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
                @for (i, e) in shown.page.entries.iter().enumerate() {
                    tr {
                        td.num { (first + i + 1) }
                        td.name { a href=(format!("/nguoi/{}", state.sessions.person_ref(&e.national_id))) { (e.full_name) } }
                        td { (date(e.birth_date)) }
                        td { (l.gender(e.gender)) }
                        td.id { (shown_id(&viewer, &e.national_id)) }
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

/// An entry as the export writes it for `viewer`: the national ID masked for a reader.
pub fn list_row(viewer: &Viewer, e: &ConsolidatedEntry) -> ListRow {
    ListRow {
        full_name: e.full_name.clone(),
        birth_date: e.birth_date,
        gender: e.gender,
        national_id: shown_id(viewer, &e.national_id),
        unit: e.unit.clone(),
        unit_name: e.unit_name.clone(),
        position_title: e.position_title.clone(),
        position: e.position.clone(),
        term: e.term.clone(),
        votes: e.votes,
        status: e.status,
        version: e.version,
    }
}

/// The shown rows as an export sheet, in the one layout of every face
/// ([`crate::tabular::consolidated`]), numbered from their place in the whole list.
fn export_sheet(viewer: &Viewer, shown: &Shown) -> crate::tabular::ExportSheet {
    let rows: Vec<ListRow> = shown
        .page
        .entries
        .iter()
        .map(|e| list_row(viewer, e))
        .collect();
    crate::tabular::consolidated_sheet(
        crate::tabular::consolidated::SHEET_NAME,
        shown.first(),
        &rows,
    )
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

/// The rows the list shows for `q` as an export sheet, and the classification the file carries,
/// once the download as `format` is recorded in the node's audit trail for `viewer` (nothing
/// is sent when the record cannot be written).
async fn download_sheet(
    state: &WebState,
    viewer: &Viewer,
    q: &ListQuery,
    format: crate::node::ExportFormat,
) -> Result<
    (
        crate::tabular::ExportSheet,
        Option<crate::tabular::Classification>,
    ),
    WebError,
> {
    let shown = shown(state, viewer, q).await?;
    let export = crate::node::Export {
        what: crate::node::ExportWhat::Consolidated,
        format,
        unit: shown.under.clone(),
        term: shown.term.clone(),
        version: 0,
        rows: shown.page.entries.len() as u64,
        face: "web",
    };
    let mark = state.node.record_export(&viewer.caller, &export).await?;
    Ok((export_sheet(viewer, &shown), mark))
}

/// `GET /tong-hop.csv`: exactly the rows the list shows for the same query, as CSV, opening
/// with the deployment's classification mark when it names one; recorded in the audit trail.
pub async fn consolidated_csv(
    State(state): State<WebState>,
    viewer: Viewer,
    Typed(q): Typed<ListQuery>,
) -> Result<Response, WebError> {
    let (sheet, mark) = download_sheet(&state, &viewer, &q, crate::node::ExportFormat::Csv).await?;
    let mut bytes = Vec::new();
    crate::tabular::export_csv(
        &mut bytes,
        mark.as_ref(),
        &sheet.headers,
        &sheet.text_rows(),
    )
    .map_err(|e| WebError::bad_request(e.to_string()))?;
    Ok(download("text/csv; charset=utf-8", "tong-hop.csv", bytes))
}

/// `GET /tong-hop.xlsx`: the same as Excel, the mark at the sheet's top right.
pub async fn consolidated_xlsx(
    State(state): State<WebState>,
    viewer: Viewer,
    Typed(q): Typed<ListQuery>,
) -> Result<Response, WebError> {
    let (sheet, mark) =
        download_sheet(&state, &viewer, &q, crate::node::ExportFormat::Xlsx).await?;
    let bytes = crate::tabular::xlsx_bytes(&[sheet], mark.as_ref())
        .map_err(|e| WebError::bad_request(e.to_string()))?;
    Ok(download(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "tong-hop.xlsx",
        bytes,
    ))
}

// ------------------------------------------------------------------------------- findings
