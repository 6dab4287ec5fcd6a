//! The overview (Tổng quan): per term, the unit tree with each unit's plan state, completeness,
//! plans waiting for a decision here, and the sync state of every link.

use std::collections::HashMap;

use axum::extract::{Query, State};
use maud::{html, Markup};

use crate::domain::{Level, PlanHeader, PlanId, PlanStatus};
use crate::web::{
    i18n::{moment, Lang},
    layout::page,
    session::Viewer,
    WebError, WebState,
};

use super::*;

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
    // The latest version of each unit × term, from the view (not the store's headers).
    let headers = node
        .latest_headers(&viewer.caller, &viewer.root, Some(&term))
        .await?;
    let latest: HashMap<&str, &PlanHeader> =
        headers.iter().map(|h| (h.id.unit.as_str(), h)).collect();
    let completeness = node
        .completeness(&viewer.caller, &viewer.root, &term)
        .await?;
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
    // Plans of units a reorganisation abolished: not in today's tree, listed apart under the
    // names of their time.
    let former: Vec<&PlanHeader> = headers
        .iter()
        .filter(|h| hierarchy.is_former(&h.id.unit))
        .collect();
    let waiting: Vec<&PlanHeader> = headers
        .iter()
        .filter(|h| h.status == PlanStatus::Received && node.approves(&h.id.unit))
        .collect();
    let children: Vec<&crate::domain::Unit> = hierarchy
        .children(&viewer.root)
        .iter()
        .filter_map(|c| hierarchy.get(c))
        .collect();
    // Each subordinate unit's completeness is its share of the whole one: its units missing
    // and the overdue findings naming a unit of its subtree (as `completeness` of the child
    // would answer), without asking the node again per child.
    let mut per_child = Vec::new();
    for child in &children {
        let within = |u: &str| hierarchy.is_within(u, &child.code);
        let total = hierarchy.subtree(&child.code).len();
        let missing = completeness.missing.iter().filter(|u| within(u)).count();
        let late = completeness
            .overdue
            .iter()
            .filter(|f| f.finding.units.iter().any(|u| within(u)))
            .count();
        per_child.push((child, total - missing, total, late));
    }
    // Scoped like the SyncStatus RPC: only a caller who may read this node's own unit.
    let sync = node.sync_status_seen_by(&viewer.caller)?;
    let content = html! {
        form.filters method="get" action="/" {
            (term_select(l, &terms, &term))
            button type="submit" { (l.t("Xem", "Show")) }
        }
        section {
            h2 { (l.t("Kế hoạch chờ đơn vị này quyết định", "Plans awaiting this unit's decision")) }
            p { a id="appraisal-link" href="/tham-dinh" { (l.t("Thẩm định tất cả cùng lúc", "Appraise them all at once")) } }
            @if waiting.is_empty() {
                p.muted { (l.t("Không có.", "None.")) }
            } @else {
                ul id="waiting" {
                    @for h in &waiting {
                        li { a href=(plan_href(&h.id)) { (plan_unit_name(&state, &h.id.unit, h.adopted_on)) " · v" (h.id.version) }
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
                                    // A list made before a reorganisation, under a code a new
                                    // unit kept: named as in its time.
                                    @if let Some(h) = h {
                                        @let made = plan_unit_name(&state, &u.code, h.adopted_on);
                                        @if made != u.name { br; span.muted.made { (l.t("danh sách của", "list of")) " " (made) } }
                                    }
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
        @if !former.is_empty() { section {
            h2 { (l.t("Kế hoạch của đơn vị trước sắp xếp", "Plans of units before the reorganisation")) }
            ul id="former" {
                @for h in &former {
                    li { a href=(plan_href(&h.id)) { (plan_unit_name(&state, &h.id.unit, h.adopted_on)) " · v" (h.id.version) }
                        " · " span class=(format!("state {}", h.status.as_str())) { (l.status(h.status)) } }
                }
            }
        } }
        section {
            h2 { (l.t("Mức độ đầy đủ theo đơn vị trực thuộc", "Completeness per subordinate unit")) }
            div.scroll { table id="completeness" {
                thead { tr { th { (l.t("Đơn vị", "Unit")) } th.num { (l.t("Đã trình", "Submitted")) } th.num { (l.t("Quá hạn", "Overdue")) } } }
                tbody { @for (u, done, total, late) in &per_child {
                    tr { td { (u.name) } td.num { (done) "/" (total) } td.num class=[(*late > 0).then_some("bad")] { (late) } }
                } }
            } }
        }
        @if let Some(sync) = &sync { section {
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
        } }
    };
    Ok(page(&viewer, l.t("Tổng quan", "Overview"), "/", content))
}

pub(super) fn level_name(l: Lang, level: Level) -> &'static str {
    l.level(level)
}

// ---------------------------------------------------------------------- consolidated list
