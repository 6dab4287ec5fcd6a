//! A person (một cán bộ): everything the node holds about one national ID across units,
//! levels, terms and versions, with the findings that name them. URLs carry an opaque
//! reference, never the national ID itself.

use axum::{
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
};
use maud::html;
use serde::Deserialize;

use super::{
    i18n::date,
    layout::page,
    pages::{finding_item, plan_href, shown_id},
    session::Viewer,
    WebError, WebState,
};
use crate::domain::{Entry, PlanId, PlanStatus};

/// The look-up form's query.
#[derive(Debug, Deserialize)]
pub struct FindQuery {
    #[serde(default)]
    cccd: String,
}

/// `GET /nguoi?cccd=…`: looks a person up by national ID; only for a viewer who sees full
/// IDs ([`Viewer::sees_full_ids`]), at most [`super::session::MAX_ID_LOOKUPS`] a session.
pub async fn find(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(q): Query<FindQuery>,
) -> Result<Response, WebError> {
    let id: String = q.cccd.chars().filter(|c| !c.is_whitespace()).collect();
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebError::bad_request(viewer.lang.t(
            "cccd: số CCCD phải gồm đúng 12 chữ số",
            "cccd: a national ID has exactly 12 digits",
        )));
    }
    // A reader sees national IDs masked: answering found / not found for a typed ID would
    // give back what the mask hides (89 guesses from the last four digits, birth year and
    // gender). The box answers only those who see full IDs, a limited number of times.
    if !viewer.sees_full_ids() {
        return Err(WebError::forbidden(viewer.lang.t(
            "cccd: chỉ người được xem số CCCD đầy đủ mới tra cứu theo số CCCD",
            "cccd: only those who see full national IDs may look a person up by one",
        )));
    }
    if !state.sessions.count_lookup(&viewer.csrf) {
        return Err(WebError {
            status: axum::http::StatusCode::TOO_MANY_REQUESTS,
            message: viewer
                .lang
                .t(
                    "cccd: đã tra cứu quá nhiều số CCCD trong phiên này; đăng nhập lại",
                    "cccd: too many national IDs looked up in this session; sign in again",
                )
                .into(),
        });
    }
    Ok(Redirect::to(&format!("/nguoi/{}", state.sessions.person_ref(&id))).into_response())
}

/// `GET /nguoi/REF`: one person across the node's subtree.
pub async fn person(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(reference): Path<String>,
) -> Result<Response, WebError> {
    let l = viewer.lang;
    let node = &state.node;
    let national_id = state
        .sessions
        .person_of(&reference)
        .or_else(|| node.person_by_reference(&reference, |id| state.sessions.reference_of(id)));
    let listings = match &national_id {
        Some(id) => {
            node.person_listings(&viewer.caller, &viewer.root, id)
                .await?
        }
        None => Vec::new(),
    };
    let found: Vec<(PlanId, PlanStatus, Entry)> = listings
        .into_iter()
        .flat_map(|l| {
            let (id, status) = (l.id, l.status);
            l.entries.into_iter().map(move |e| (id.clone(), status, e))
        })
        .collect();
    let Some((_, _, first)) = found.last() else {
        return Err(WebError {
            status: axum::http::StatusCode::NOT_FOUND,
            message: l
                .t(
                    "Không có ai với số CCCD này trong các danh sách bạn được xem.",
                    "Nobody with this national ID in the lists you may read.",
                )
                .into(),
        });
    };
    let national_id = first.cadre.national_id.clone();
    let cadre = first.cadre.clone();
    let named = node
        .findings_naming(&viewer.caller, &viewer.root, &national_id)
        .await?;
    let findings: Vec<_> = named.iter().collect();
    let hierarchy = node.hierarchy();
    let catalog = node.catalog();
    let unit_name = |c: &str| hierarchy.get(c).map(|u| u.name.clone()).unwrap_or(c.into());
    let level = |c: &str| {
        hierarchy
            .get(c)
            .map(|u| l.level(u.level))
            .unwrap_or_default()
    };
    let content = html! {
        dl.person id="person" {
            dt { (l.t("Số CCCD", "National ID")) } dd id="national-id" { (shown_id(&viewer, &national_id)) }
            dt { (l.t("Ngày sinh", "Born")) } dd { (date(cadre.birth_date)) }
            dt { (l.t("Giới tính", "Gender")) } dd { (l.gender(cadre.gender)) }
            dt { (l.t("Dân tộc", "Ethnicity")) } dd { (cadre.ethnicity) }
            dt { (l.t("Đơn vị công tác", "Works at")) } dd { (unit_name(&cadre.current_unit)) }
            dt { (l.t("Chức vụ hiện tại", "Current positions")) } dd {
                (cadre.current_positions.iter().map(|p| catalog.position(p).map(|x| l.t(&x.title_vi, &x.title_en).to_string()).unwrap_or(p.clone())).collect::<Vec<_>>().join(", "))
            }
        }
        section {
            h2 { (l.t("Trong các danh sách quy hoạch", "In the planning lists")) " (" (found.len()) ")" }
            div.scroll { table id="appearances" {
                thead { tr { th { (l.t("Đơn vị", "Unit")) } th { (l.t("Cấp", "Level")) } th { (l.t("Nhiệm kỳ", "Term")) } th { (l.t("Phiên bản", "Version")) } th { (l.t("Họ và tên ghi trong danh sách", "Name as listed")) } th { (l.t("Chức danh quy hoạch", "Planned position")) } } }
                tbody { @for (id, status, e) in &found {
                    tr { td { (unit_name(&id.unit)) } td { (level(&id.unit)) } td { (id.term) }
                        td { a href=(plan_href(id)) { "v" (id.version) " · " (l.status(*status)) } }
                        td { (e.cadre.full_name) }
                        td { (catalog.position(&e.position).map(|p| l.t(&p.title_vi, &p.title_en).to_string()).unwrap_or(e.position.clone())) } }
                } }
            } }
        }
        section {
            h2 { (l.t("Phát hiện nêu tên người này", "Findings naming this person")) " (" (findings.len()) ")" }
            ul.findings { @for f in &findings { (finding_item(&state, &viewer, f)) } }
        }
    };
    let path = format!("/nguoi/{reference}");
    Ok(page(&viewer, &cadre.full_name, &path, content).into_response())
}
