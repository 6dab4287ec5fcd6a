//! A plan: its versions, the difference between two of them, ballot rounds, decisions,
//! audit records and findings.

use axum::extract::{Path, Query, State};
use maud::{html, Markup};
use serde::Deserialize;

use crate::web::{
    diff::{diff_plans, PlanDiff},
    i18n::{date, moment},
    layout::page,
    session::Viewer,
    WebError, WebState,
};
use crate::{
    domain::{Plan, PlanHeader, PlanStatus},
    node::PlanFilter,
};

use super::*;

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
    let version: u32 = version
        .parse()
        .map_err(|_| WebError::bad_request(format!("version: {version:?} is not a number")))?;
    Ok(state
        .node
        .get_plan(&viewer.caller, unit, term, version)
        .await?)
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
        .list_plans(
            &viewer.caller,
            &PlanFilter {
                under: unit.clone(),
                term: Some(term.clone()),
                ..Default::default()
            },
        )
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
            let older = node.get_plan(&viewer.caller, &unit, &term, a).await?;
            let newer = node.get_plan(&viewer.caller, &unit, &term, vb).await?;
            Some((a, vb, diff_plans(&older, &newer)))
        }
        _ => None,
    };
    // The annual review: this version against the last one approved before it.
    let since_approved = match node.last_approved_before(&viewer.caller, &plan.id)? {
        Some(base) => Some((base.id.version, diff_plans(&base, &plan))),
        None => None,
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
    // What changed between two versions: persons added, removed, moved, and votes changed.
    let differences = |d: &PlanDiff| {
        html! {
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
    };
    let title = format!(
        "{} · {} · v{}",
        plan_unit_name(&state, &unit, plan.adopted_on),
        term,
        plan.id.version
    );
    let drawn = plan.entries.iter().any(|e| e.origin.is_some());
    let content = html! {
        p id="plan-status" {
            span class=(format!("state {}", plan.status.as_str())) { (l.status(plan.status)) }
            @if let Some(h) = &plan.hash { " · " span.muted.hash { (h.get(..16).unwrap_or(h)) } }
            @if let Some(d) = plan.adopted_on { " · " (l.t("thông qua", "adopted")) " " (date(d)) }
            @if let Some(t) = plan.received_at { " · " (l.t("nhận", "received")) " " (moment(t)) }
            @if node.is_withdrawn(&plan) { @if let Some(d) = &plan.decision {
                " · " strong.withdrawn id="plan-withdrawn" {
                    (l.t("bị rút lại bởi", "withdrawn by")) " " (d.decided_by) " " (l.t("ngày", "on")) " " (date(d.decided_at.date_naive()))
                    ", " (l.t("lý do", "reason")) " " (d.reasons.join("; "))
                }
            } }
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
                (differences(d))
            }
        }
        @if plan.id.version > 1 {
            section id="since-approved" {
                h2 { (l.t("Thay đổi so với bản đã phê duyệt", "Changes since the approved version"))
                    @if let Some((v, _)) = &since_approved { " (v" (v) ")" } }
                @match &since_approved {
                    None => { p.muted { (l.t("Chưa có bản nào trước bản này được phê duyệt.", "No earlier version was approved.")) } }
                    Some((_, d)) => {
                        (differences(d))
                    }
                }
            }
        }
        section {
            h2 { (l.t("Danh sách", "Entries")) " (" (plan.entries.len()) ")" }
            div.scroll { table id="entries" {
                thead { tr { th { (l.t("Họ và tên", "Full name")) } th { (l.t("Ngày sinh", "Born")) } th { (l.t("Số CCCD", "National ID")) } th { (l.t("Chức danh quy hoạch", "Planned position")) } th.num { (l.t("Phiếu", "Votes")) } @if drawn { th { (l.t("Lấy từ danh sách", "Drawn from")) } } } }
                tbody { @for e in &plan.entries {
                    tr { td { (person_link(&e.cadre.national_id, &e.cadre.full_name)) } td { (date(e.cadre.birth_date)) }
                        td.id { (shown_id(&viewer, &e.cadre.national_id)) } td { (position_title(&state, l, &e.position)) }
                        td.num { @if let Some((_, y)) = plan.votes_for(&e.cadre.national_id, &e.position) { (y) } }
                        @if drawn { td.origin { @if let Some(o) = &e.origin {
                            a.plan href=(plan_href(&o.plan)) { (unit_name(&state, &o.plan.unit)) " " (o.plan.term) " v" (o.plan.version) } " #" (o.position)
                        } } } }
                } }
            } }
        }
        section {
            h2 { (l.t("Các vòng bỏ phiếu", "Ballot rounds")) }
            div.scroll { table id="rounds" {
                thead { tr { th { (l.t("Cơ quan", "Body")) } th { (l.t("Ngày", "Date")) } th.num { (l.t("Triệu tập", "Convened")) } th.num { (l.t("Có mặt", "Present")) } th.num { (l.t("Phiếu phát ra", "Issued")) } th.num { (l.t("Hợp lệ", "Valid")) } } }
                tbody { @for r in &plan.rounds {
                    tr { td { (l.body(r.body)) } td { (date(r.date)) } td.num { (r.convened) } td.num { (r.present) } td.num { (r.ballots_issued) } td.num { (r.valid_ballots) } }
                } }
            } }
        }
        section {
            h2 { (l.t("Quyết định", "Decisions")) }
            @for h in &versions {
                @if let Some(d) = &h.decision {
                    div.decision data-version=(h.id.version) {
                        p { "v" (h.id.version) ": " strong { (l.outcome(d.outcome)) } " — " (unit_name(&state, &d.decided_by)) ", " (moment(d.decided_at)) }
                        @if !d.reasons.is_empty() { ul { @for r in &d.reasons { li.reason { (r) } } } }
                    }
                }
            }
        }
        section {
            h2 { (l.t("Phát hiện", "Findings")) " (" (findings.len()) ")" }
            ul.findings id="plan-findings" { @for f in &findings { (finding_item(&state, &viewer, f)) } }
        }
        @if decidable {
            (crate::web::actions::forms(&viewer, &plan, &findings))
        }
        @if sees_audit { section {
            h2 { (l.t("Nhật ký", "Audit records")) }
            div.scroll { table id="audit" {
                thead { tr { th.num { "#" } th { (l.t("Lúc", "When")) } th { (l.t("Ai", "Who")) } th { (l.t("Việc", "Action")) } th { (l.t("Phiên bản", "Version")) } th { (l.t("Chi tiết", "Detail")) } } }
                tbody { @for r in &audit {
                    tr { td.num { (r.seq) } td { (moment(r.event.at)) } td { (r.event.actor) } td { (l.action(&r.event.action)) }
                        td { @if let Some(p) = &r.event.plan { "v" (p.version) } } td.detail { (l.detail(&mask_ids_in(&viewer, &r.event.detail))) } }
                } }
            } }
        } }
    };
    let path = plan_href(&plan.id);
    Ok(page(&viewer, &title, &path, content))
}
