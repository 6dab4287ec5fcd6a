//! The appraisal view (Thẩm định, `/tham-dinh`): since July 2025 a province appraises 38 to 168
//! communes directly. Every received plan awaiting this unit's decision, its findings grouped
//! by rule (how many plans break each rule, and which), and one form that approves the clean
//! ones together, each still its own decision ([`crate::node::Node::approve_clean`]). The page
//! reads [`crate::node::Node::appraisal`]; the form carries each plan's hash as shown, so a
//! plan that changed or gained an error since is not approved and is named in the answer.

use axum::extract::State;
use maud::{html, Markup};
use serde::Deserialize;

use super::{
    i18n::{moment, Lang},
    layout::page,
    pages::plan_href,
    session::{check_csrf, Viewer},
    typed::{one_or_many, Typed, TypedForm},
    WebError, WebState,
};
use crate::{
    domain::PlanId,
    node::{ShownPlan, MAX_APPROVE_AT_ONCE},
};

/// The page's path.
pub const PATH: &str = "/tham-dinh";

/// The appraisal page's query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppraisalQuery {
    /// Only plans of this term; empty: every term.
    #[serde(default)]
    term: String,
}

/// The approve-together form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveForm {
    /// The session's token; missing reads as empty, refused as a bad token (403).
    #[serde(default)]
    csrf: String,
    /// The plans ticked, each `UNIT/TERM/VERSION/HASH` as the page showed it.
    #[serde(default, deserialize_with = "one_or_many")]
    plan: Vec<String>,
}

/// The value of a plan's box: what identifies the version and the hash shown.
fn shown_value(id: &PlanId, hash: &str) -> String {
    format!("{}/{}/{}/{hash}", id.unit, id.term, id.version)
}

/// Reads a box's value back ([`shown_value`]); `i` numbers it in the message.
fn read_shown(i: usize, value: &str) -> Result<ShownPlan, WebError> {
    let bad = |why: &str| {
        WebError::bad_request(format!(
            "plan[{i}]: {:?} {why}",
            crate::domain::validate::prefix(value)
        ))
    };
    let parts: Vec<&str> = value.trim().split('/').collect();
    let [unit, term, version, hash] = parts[..] else {
        return Err(bad("is not UNIT/TERM/VERSION/HASH"));
    };
    let version: u32 = version
        .parse()
        .map_err(|_| bad("has a version that is not a whole number"))?;
    Ok(ShownPlan {
        plan: PlanId {
            unit: unit.to_string(),
            term: term.to_string(),
            version,
        },
        hash: hash.to_string(),
    })
}

/// `GET /tham-dinh`: the plans awaiting this unit's decision, their findings by rule, and (for
/// an approver of the unit) the form that approves the clean ones together.
pub async fn appraisal(
    State(state): State<WebState>,
    viewer: Viewer,
    Typed(q): Typed<AppraisalQuery>,
) -> Result<Markup, WebError> {
    let l = viewer.lang;
    let node = &state.node;
    let term = Some(q.term.trim()).filter(|t| !t.is_empty());
    let appraisal = node.appraisal(&viewer.caller, term).await?;
    let approver = viewer.approves_at(&node.unit().code);
    let clean = appraisal.clean().count();
    let name = |id: &PlanId| {
        let on = appraisal
            .plans
            .iter()
            .find(|p| &p.header.id == id)
            .and_then(|p| p.header.adopted_on);
        super::pages::plan_unit_name_at(&state, &id.unit, on)
    };
    let content = html! {
        p id="appraisal-summary" {
            (appraisal.plans.len()) " " (l.t("kế hoạch chờ đơn vị này quyết định", "plans awaiting this unit's decision"))
            " · " (clean) " " (l.t("kế hoạch sạch (không lỗi, không cảnh báo chưa chấp nhận)", "clean plans (no error, no warning left unaccepted)"))
        }
        section {
            h2 { (l.t("Phát hiện theo quy tắc", "Findings by rule")) }
            @if appraisal.by_rule.is_empty() {
                p.muted { (l.t("Không có.", "None.")) }
            } @else {
                div.scroll { table id="by-rule" {
                    thead { tr { th { (l.t("Quy tắc", "Rule")) } th { (l.t("Mức độ", "Severity")) }
                        th.num { (l.t("Số kế hoạch", "Plans breaking it")) } th.num { (l.t("Số phát hiện", "Findings")) }
                        th { (l.t("Những kế hoạch", "Which plans")) } } }
                    tbody { @for g in &appraisal.by_rule {
                        tr data-rule=(g.rule.as_str()) data-severity=(g.severity.as_str()) {
                            td { a href=(format!("/phat-hien?rule={}", g.rule.as_str())) { (g.rule.as_str()) } }
                            td { span class=(format!("sev {}", g.severity.as_str())) { (l.severity(g.severity)) } }
                            td.num.plans { (g.plans.len()) }
                            td.num { (g.findings) }
                            td { @for id in &g.plans {
                                a.plan href=(plan_href(id)) data-unit=(id.unit) { (name(id)) " v" (id.version) } " "
                            } }
                        }
                    } }
                } }
            }
        }
        section {
            h2 { (l.t("Kế hoạch chờ quyết định", "Plans awaiting a decision")) }
            @if appraisal.plans.is_empty() {
                p.muted { (l.t("Không có.", "None.")) }
            } @else {
                form.action id="approve-clean-form" method="post" action=(format!("{PATH}/phe-duyet")) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    div.scroll { table id="awaiting" {
                        thead { tr {
                            @if approver { th { (l.t("Chọn", "Choose")) } }
                            th { (l.t("Đơn vị", "Unit")) } th { (l.t("Nhiệm kỳ", "Term")) } th { (l.t("Phiên bản", "Version")) }
                            th { (l.t("Nhận lúc", "Received at")) } th.num { (l.t("Số người", "Entries")) }
                            th.num { (l.t("Lỗi", "Errors")) } th.num { (l.t("Cảnh báo chưa chấp nhận", "Warnings not accepted")) }
                            th { (l.t("Mã băm", "Content hash")) }
                        } }
                        tbody { @for p in &appraisal.plans {
                            @let id = &p.header.id;
                            @let hash = p.header.hash.clone().unwrap_or_default();
                            tr data-unit=(id.unit) data-version=(id.version) class=(if p.is_clean() { "clean" } else { "unclean" }) {
                                @if approver { td { @if p.is_clean() {
                                    input type="checkbox" name="plan" checked value=(shown_value(id, &hash))
                                        aria-label=(l.t("Phê duyệt kế hoạch này", "Approve this plan"));
                                } } }
                                td { a href=(plan_href(id)) { (name(id)) } " " span.muted { "(" (id.unit) ")" } }
                                td { (id.term) }
                                td { "v" (id.version) }
                                td { @if let Some(at) = p.header.received_at { (moment(at)) } }
                                td.num { (p.header.entry_count) }
                                td.num.errors class=[(p.errors() > 0).then_some("bad")] { (p.errors()) }
                                td.num.warnings { (p.open_warnings()) }
                                td.hash { span.muted { (hash.get(..16).unwrap_or(&hash)) } }
                            }
                        } }
                    } }
                    @if approver && clean > 0 {
                        p.muted { (l.t(
                            "Mỗi kế hoạch được chọn là một quyết định phê duyệt riêng, với mã băm và bản ghi nhật ký riêng. Kế hoạch đã thay đổi hoặc có lỗi mới kể từ khi trang này hiện ra sẽ không được phê duyệt.",
                            "Each plan chosen is its own approval, with its own hash and audit record. A plan that changed or gained an error since this page was shown is not approved."
                        )) }
                        button.primary id="approve-clean" type="submit" { (l.t("Phê duyệt các kế hoạch đã chọn", "Approve the chosen plans")) }
                    }
                }
            }
        }
    };
    Ok(page(&viewer, l.t("Thẩm định", "Appraisal"), PATH, content))
}

/// `POST /tham-dinh/phe-duyet`: approves the plans ticked, each on its own, and shows which
/// were approved and which not, and why.
pub async fn approve(
    State(state): State<WebState>,
    viewer: Viewer,
    TypedForm(form): TypedForm<ApproveForm>,
) -> Result<Markup, WebError> {
    check_csrf(&viewer, &form.csrf)?;
    let l = viewer.lang;
    if form.plan.len() > MAX_APPROVE_AT_ONCE {
        return Err(WebError::bad_request(format!(
            "plan: at most {MAX_APPROVE_AT_ONCE} plans at once, not {}",
            form.plan.len()
        )));
    }
    let shown = form
        .plan
        .iter()
        .enumerate()
        .map(|(i, v)| read_shown(i, v))
        .collect::<Result<Vec<_>, _>>()?;
    let done = state.node.approve_clean(&viewer.caller, &shown).await?;
    let unit_name = |id: &PlanId| super::pages::plan_unit_name_at(&state, &id.unit, None);
    let content = html! {
        p id="approved-summary" {
            (done.approved.len()) " " (l.t("kế hoạch đã được phê duyệt", "plans approved"))
            " · " (done.refused.len()) " " (l.t("kế hoạch không được phê duyệt", "plans not approved"))
        }
        @if !done.approved.is_empty() { section {
            h2 { (l.t("Đã phê duyệt", "Approved")) }
            ul id="approved" { @for d in &done.approved {
                li data-unit=(d.plan.unit) { a href=(plan_href(&d.plan)) { (unit_name(&d.plan)) " " (d.plan.term) " v" (d.plan.version) }
                    " · " span.muted.hash { (d.hash.get(..16).unwrap_or(&d.hash)) } " · " (moment(d.decided_at)) }
            } }
        } }
        @if !done.refused.is_empty() { section {
            h2 { (l.t("Không được phê duyệt", "Not approved")) }
            ul id="refused" { @for r in &done.refused {
                li.bad data-unit=(r.plan.unit) { a href=(plan_href(&r.plan)) { (unit_name(&r.plan)) " " (r.plan.term) " v" (r.plan.version) }
                    ": " (why_not(l, r)) }
            } }
        } }
        p { a href=(PATH) { (l.t("Quay lại trang thẩm định", "Back to the appraisal")) } }
    };
    Ok(page(
        &viewer,
        l.t("Kết quả phê duyệt", "Approval results"),
        PATH,
        content,
    ))
}

/// Why a plan was not approved, in the viewer's language.
fn why_not(l: Lang, r: &crate::node::NotApproved) -> String {
    use crate::node::Why;
    match &r.why {
        Why::Status(status) => format!(
            "{} ({}: {})",
            l.t("không còn chờ phê duyệt", "no longer awaiting approval"),
            l.t("nay", "now"),
            l.status(*status)
        ),
        Why::Changed => l
            .t(
                "nội dung đã thay đổi kể từ khi trang được hiển thị; mở lại trang thẩm định",
                "its content changed since the page was shown; open the appraisal again",
            )
            .to_string(),
        Why::NotClean(blocking) => {
            let found: Vec<String> = blocking
                .iter()
                .map(|(rule, vi, en, id)| format!("{rule} {} ({id})", l.t(vi, en)))
                .collect();
            format!(
                "{}: {}",
                l.t(
                    "có lỗi hoặc cảnh báo chưa được chấp nhận",
                    "has errors or unaccepted warnings now"
                ),
                found.join("; ")
            )
        }
        Why::Other => r.reason.clone(),
    }
}
