//! The structure charts (cơ cấu): the planned cadres of a unit's subtree by age band, gender,
//! ethnicity and level, against the targets of the ruleset in force (R8), drawn as SVG on the
//! server.

use axum::extract::State;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

use super::{i18n::Lang, layout::page, session::Viewer, typed::Typed, WebError, WebState};
use crate::domain::Gender;

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct StructureQuery {
    /// The subtree (empty: the viewer's).
    #[serde(default)]
    under: String,
    /// The term (empty: the newest with a plan in the viewer's scope).
    #[serde(default)]
    term: String,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A horizontal bar chart: one bar per (label, count) as a share of `total`, with an optional
/// target line (a share) and its label.
fn bars(
    title: &str,
    rows: &[(String, usize)],
    total: usize,
    target: Option<(f64, String)>,
) -> Markup {
    let height = 30 + rows.len() * 28 + if target.is_some() { 20 } else { 0 };
    let x0 = 170.0;
    let width = 400.0;
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 640 {height}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><text x="0" y="18" class="title">{t}</text>"#,
        t = escape(title)
    );
    for (i, (label, count)) in rows.iter().enumerate() {
        let share = if total == 0 {
            0.0
        } else {
            *count as f64 / total as f64
        };
        let y = 30 + i * 28;
        svg.push_str(&format!(
            r#"<text x="{lx}" y="{ty}" text-anchor="end">{label}</text><rect x="{x0}" y="{y}" width="{w:.1}" height="20" class="bar"/><text x="{vx:.1}" y="{ty}">{count} ({pct:.0}%)</text>"#,
            lx = x0 - 6.0,
            ty = y + 15,
            label = escape(label),
            w = share * width,
            vx = x0 + share * width + 6.0,
            pct = share * 100.0,
        ));
    }
    if let Some((t, label)) = target {
        let x = x0 + t * width;
        let bottom = 30 + rows.len() * 28;
        svg.push_str(&format!(
            r#"<line x1="{x:.1}" y1="26" x2="{x:.1}" y2="{bottom}" class="target"/><text x="{x:.1}" y="{ty}" class="target-label">{l}</text>"#,
            ty = bottom + 14,
            l = escape(&label)
        ));
    }
    svg.push_str("</svg>");
    html! { figure { (PreEscaped(svg)) } }
}

/// `GET /co-cau`: the structure of the planned cadres, as the node counts it.
pub async fn structure(
    State(state): State<WebState>,
    viewer: Viewer,
    Typed(q): Typed<StructureQuery>,
) -> Result<Markup, WebError> {
    let l: Lang = viewer.lang;
    let node = &state.node;
    let under = node.scope(&viewer.caller, q.under.trim())?;
    let (terms, term) = super::pages::terms(&state, &viewer, &q.term).await?;
    let s = node.structure(&viewer.caller, &under, &term).await?;
    let ruleset = crate::rules::Ruleset::for_date(node.today());
    let params = &s.params;
    let total = s.total;
    let units = node.hierarchy().subtree(&viewer.root);
    let age_rows: Vec<(String, usize)> = s
        .ages
        .iter()
        .map(|(band, n)| match band {
            25 => (l.t("dưới 30", "under 30").to_string(), *n),
            60 => (l.t("60 trở lên", "60 and over").to_string(), *n),
            b => (format!("{b}–{}", b + 4), *n),
        })
        .collect();
    let level_rows: Vec<(String, usize)> = s
        .levels
        .iter()
        .map(|(level, n)| (l.level(*level).to_string(), *n))
        .collect();
    let ethnicity_rows: Vec<(String, usize)> =
        s.ethnicity.iter().map(|(k, v)| (k.clone(), *v)).collect();
    let content = html! {
        form.filters method="get" action="/co-cau" {
            label { (l.t("Đơn vị", "Unit")) " " select name="under" {
                @for u in &units { option value=(u.code) selected[u.code == under] { (u.name) } }
            } }
            label { (l.t("Nhiệm kỳ", "Term")) " " select name="term" {
                @for t in &terms { option value=(t) selected[*t == term] { (t) } }
            } }
            button type="submit" { (l.t("Xem", "Show")) }
        }
        p id="summary" { (total) " " (l.t("người trong quy hoạch", "planned cadres")) }
        p id="ruleset" {
            (l.t("Mục tiêu cơ cấu theo", "Structure targets of")) " " (ruleset.citation())
            @if params.min_women_ratio.is_none() && params.min_young_ratio.is_none() && params.min_ethnic_minority_ratio.is_none() {
                ": " (l.t("không quy định tỷ lệ (tỉnh chưa đặt)", "no figure set (the province has set none)"))
            }
        }
        div.charts {
            (bars(l.t("Giới tính", "Gender"), &[(l.gender(Gender::Female).into(), s.women), (l.gender(Gender::Male).into(), total - s.women)], total,
                params.min_women_ratio.map(|r| (r, format!("{} ≥ {:.0}%", l.t("mục tiêu nữ", "women target"), r * 100.0)))))
            (bars(l.t("Cán bộ trẻ", "Young cadres"), &[(format!("{} {}", l.t("dưới", "under"), params.young_age_under), s.young)], total,
                params.min_young_ratio.map(|r| (r, format!("{} ≥ {:.0}%", l.t("mục tiêu", "target"), r * 100.0)))))
            (bars(l.t("Độ tuổi", "Age band"), &age_rows, total, None))
            (bars(l.t("Dân tộc", "Ethnicity"), &ethnicity_rows, total,
                params.min_ethnic_minority_ratio.map(|r| (r, format!("{} ≥ {:.0}%", l.t("dân tộc thiểu số", "minorities"), r * 100.0)))))
            @if s.minority > 0 { p { (l.t("Dân tộc thiểu số", "Ethnic minorities")) ": " (s.minority) } }
            (bars(l.t("Cấp", "Level"), &level_rows, total, None))
        }
    };
    Ok(page(
        &viewer,
        l.t("Cơ cấu", "Structure"),
        "/co-cau",
        content,
    ))
}
