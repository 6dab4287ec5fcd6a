//! The consolidated list (Danh sách tổng hợp): every filter of the query API, paged, and its
//! export (csv, xlsx) of exactly what is shown.

use std::collections::HashMap;

use axum::{
    extract::{Query, State},
    http::header,
    response::{IntoResponse, Response},
};
use maud::{html, Markup};
use serde::Deserialize;

use crate::web::{
    i18n::{date, Lang},
    layout::{form_urlencoded_path, page},
    session::Viewer,
    WebError, WebState,
};
use crate::{
    domain::{Gender, Level, Plan, PlanId, PlanStatus},
    node::{mask_id, ConsolidatedEntry, ConsolidatedFilter},
    rules::RuleId,
};

use super::*;

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

/// The orders the list offers: by name the Vietnamese way (empty, or `name`), then the others.
const SORTS: [&str; 6] = ["", "name", "unit", "position", "birth", "votes"];

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
        status: match q.status.trim() {
            "" => None,
            v => Some(parse_status(v).ok_or_else(|| {
                WebError::bad_request(format!(
                    "status: {:?} is not a plan status (draft, adopted, submitted, received, \
                     approved, returned)",
                    crate::domain::validate::prefix(v)
                ))
            })?),
        },
        name: Some(q.name.clone()).filter(|s| !s.trim().is_empty()),
        level: match q.level.trim() {
            "" => None,
            v => Some(v.parse().map_err(|_| {
                WebError::bad_request(format!(
                    "level: {:?} is not a level of government",
                    crate::domain::validate::prefix(v)
                ))
            })?),
        },
        gender: match q.gender.trim() {
            "" => None,
            "male" => Some(Gender::Male),
            "female" => Some(Gender::Female),
            v => {
                return Err(WebError::bad_request(format!(
                    "gender: {:?} is neither male nor female",
                    crate::domain::validate::prefix(v)
                )))
            }
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
    if !SORTS.contains(&q.sort.as_str()) {
        return Err(WebError::bad_request(format!(
            "sort: {:?} is not an order of the list (name, unit, position, birth, votes)",
            crate::domain::validate::prefix(&q.sort)
        )));
    }
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
