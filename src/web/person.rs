//! A person (một cán bộ): everything the node holds about one national ID across units,
//! levels, terms and versions, with the findings that name them. URLs carry an opaque
//! reference, never the national ID itself.

use axum::{
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
};
use maud::html;
use serde::Deserialize;

use super::i18n::Lang;
use super::{
    i18n::date,
    layout::page,
    pages::{finding_item, plan_href, shown_id},
    session::Viewer,
    WebError, WebState,
};
use crate::{
    domain::{Catalog, Entry, PlanId, PlanStatus},
    node::EligibleAnswer,
    rules::Eligibility,
};

/// "Đã bầu" from "đã bầu".
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The English outcome of a fulfilled entry.
fn fulfilment_en(kind: crate::domain::FulfilmentKind) -> &'static str {
    match kind {
        crate::domain::FulfilmentKind::Appointed => "Fulfilled: appointed",
        crate::domain::FulfilmentKind::Elected => "Fulfilled: elected",
    }
}

/// The R23 box's answer: the plan version (with its hash) that makes the person eligible, or
/// why not.
fn eligible_answer(l: Lang, catalog: &Catalog, a: &EligibleAnswer) -> maud::Markup {
    let title = |code: &str| {
        catalog
            .position(code)
            .map(|p| l.t(&p.title_vi, &p.title_en).to_string())
            .unwrap_or_else(|| code.to_string())
    };
    html! {
        @match &a.verdict {
            Eligibility::Planned { plan, position } => {
                p.eligible id="eligible-answer" data-verdict="planned" {
                    (l.t("Có trong quy hoạch đã phê duyệt:", "Planned, in the approved plan"))
                    " " a href=(plan_href(plan)) { (plan.unit) " " (plan.term) " v" (plan.version) }
                    ", " (l.t("chức danh", "for")) " " (title(position))
                    " (" (l.t("mã băm", "hash")) " " code { (a.hash.as_deref().unwrap_or("")) } ")"
                    " — " (l.t("ngày xét", "as of")) " " (date(a.on))
                }
            }
            Eligibility::NoApprovedPlan => {
                p.not-eligible id="eligible-answer" data-verdict="no_approved_plan" {
                    (l.t("Chưa có quy hoạch được phê duyệt: cấp có thẩm quyền xem xét, quyết định.", "No approved plan: the competent level decides."))
                }
            }
            Eligibility::NotPlanned | Eligibility::UnknownPosition => {
                p.not-eligible id="eligible-answer" data-verdict="not_planned" {
                    (l.t("Không có trong quy hoạch đã phê duyệt cho chức danh này hoặc chức danh tương đương, cao hơn.", "Not planned: in no approved plan for this post or an equivalent or higher one."))
                }
            }
        }
        @if let Some(f) = &a.finding {
            p.finding data-rule=(f.rule.as_str()) { strong { (f.rule.as_str()) } " " (l.t(&f.message_vi, &f.message_en)) }
        }
    }
}

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

/// The question of the person page's R23 box: the post proposed and its unit.
#[derive(Debug, Default, Deserialize)]
pub struct EligibleQuery {
    /// The post proposed, a catalogue code.
    #[serde(default)]
    chuc_danh: String,
    /// The unit whose post it is.
    #[serde(default)]
    don_vi: String,
}

/// `GET /nguoi/REF[?chuc_danh=…&don_vi=…]`: one person across the node's subtree; with a
/// post, the R23 box answers whether the person may be appointed to it (the node's
/// `eligible` operation, as the gRPC call and the CLI ask it).
pub async fn person(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(reference): Path<String>,
    Query(q): Query<EligibleQuery>,
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
    // Each plan's unit is named in the structure of the plan's own date ("…, 2024; now part
    // of …" for a list made before the reorganisation).
    let found: Vec<(PlanId, PlanStatus, Entry, String)> = listings
        .into_iter()
        .flat_map(|l| {
            let (id, status) = (l.id, l.status);
            let name = super::pages::plan_unit_name_at(&state, &id.unit, l.adopted_on);
            l.entries
                .into_iter()
                .map(move |e| (id.clone(), status, e, name.clone()))
        })
        .collect();
    let Some((_, _, first, _)) = found.last() else {
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
    let asked_unit = match q.don_vi.trim() {
        "" => found
            .last()
            .map(|(id, _, _, _)| id.unit.clone())
            .unwrap_or_default(),
        u => u.to_string(),
    };
    let answer = match q.chuc_danh.trim() {
        "" => None,
        position => Some(
            node.eligible(&viewer.caller, &national_id, position, &asked_unit)
                .await?,
        ),
    };
    let fulfilled = node.fulfilments_of(&viewer.caller, &national_id);
    // The outcome of an entry: fulfilled in its version or an earlier one of the unit × term.
    let outcome = |id: &PlanId, e: &Entry| {
        fulfilled.iter().find(|f| {
            f.plan.unit == id.unit
                && f.plan.term == id.term
                && f.plan.version <= id.version
                && f.position == e.position
        })
    };
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
                (cadre.current_positions.iter().map(|p| catalog.position(p).map(|x| l.t(&x.title_vi, &x.title_en).to_string()).unwrap_or(p.to_string())).collect::<Vec<_>>().join(", "))
            }
        }
        section {
            h2 { (l.t("Trong các danh sách quy hoạch", "In the planning lists")) " (" (found.len()) ")" }
            div.scroll { table id="appearances" {
                thead { tr { th { (l.t("Đơn vị", "Unit")) } th { (l.t("Cấp", "Level")) } th { (l.t("Nhiệm kỳ", "Term")) } th { (l.t("Phiên bản", "Version")) } th { (l.t("Họ và tên ghi trong danh sách", "Name as listed")) } th { (l.t("Chức danh quy hoạch", "Planned position")) } th { (l.t("Kết quả", "Outcome")) } } }
                tbody { @for (id, status, e, named) in &found {
                    tr { td { (named) } td { (level(&id.unit)) } td { (id.term) }
                        td { a href=(plan_href(id)) { "v" (id.version) " · " (l.status(*status)) } }
                        td { (e.cadre.full_name) }
                        td { (catalog.position(&e.position).map(|p| l.t(&p.title_vi, &p.title_en).to_string()).unwrap_or(e.position.to_string())) }
                        td.outcome {
                            @if let Some(f) = outcome(id, e) {
                                span.fulfilled data-outcome="fulfilled" {
                                    (l.t(&capitalised(f.kind.vi()), fulfilment_en(f.kind)))
                                    " — " (l.t("QĐ số", "decision")) " " (f.decision_number) " " (l.t("ngày", "of")) " " (date(f.decided_on))
                                    @if f.post != f.position { " (" (f.post) ")" }
                                }
                            }
                        } }
                } }
            } }
        }
        section id="eligible" {
            h2 { (l.t("Bổ nhiệm cần có quy hoạch (R23)", "Appointment requires planning (R23)")) }
            form method="get" action=(format!("/nguoi/{reference}")) {
                label { (l.t("Chức danh đề nghị", "Post proposed")) " "
                    select name="chuc_danh" {
                        @for (code, p) in &catalog.positions {
                            option value=(code) selected[q.chuc_danh.trim() == code.as_str()] { (code) " — " (l.t(&p.title_vi, &p.title_en)) }
                        }
                    }
                }
                " "
                label { (l.t("Đơn vị", "Unit")) " " input name="don_vi" value=(asked_unit) size="8"; }
                " " button type="submit" { (l.t("Kiểm tra", "Check")) }
            }
            @if let Some(a) = &answer { (eligible_answer(l, &catalog, a)) }
        }
        section {
            h2 { (l.t("Phát hiện nêu tên người này", "Findings naming this person")) " (" (findings.len()) ")" }
            ul.findings { @for f in &findings { (finding_item(&state, &viewer, f)) } }
        }
    };
    let path = format!("/nguoi/{reference}");
    Ok(page(&viewer, &cadre.full_name, &path, content).into_response())
}
