//! The read-only pages: overview, consolidated list (and its export), findings, a plan. Each
//! handler checks the viewer's scope, calls node operations, and renders.
//! One module per page; what several pages share is here.

mod consolidated;
mod findings;
mod overview;
mod plan;

use maud::{html, Markup};
use serde::Deserialize;

use super::{i18n::Lang, layout::form_urlencoded_path, session::Viewer, WebError, WebState};
use crate::{domain::PlanId, node::mask_id};

pub use consolidated::*;
pub use findings::*;
pub use overview::*;
pub use plan::*;

/// The link to a plan version.
pub fn plan_href(id: &PlanId) -> String {
    format!("/ke-hoach/{}/{}/{}", id.unit, id.term, id.version)
}

/// A national ID as the viewer may see it.
pub fn shown_id(viewer: &Viewer, id: &str) -> String {
    viewer.caller.shown_id(id)
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
pub(in crate::web) async fn terms(
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
    let held = state.node.held_terms(&viewer.caller, &viewer.root).await?;
    let default = terms
        .iter()
        .find(|t| held.contains(t))
        .or(terms.first())
        .cloned()
        .unwrap_or_default();
    Ok((terms, default))
}

/// The query string of page `page` of a filtered listing (its pager's and export's links):
/// `key=value` for each pair whose value is not empty, URL-encoded, in the order given, then
/// `page=N` past the first page, joined by `&`.
fn listing_query(pairs: &[(&str, &str)], page: usize) -> String {
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

fn unit_name(state: &WebState, code: &str) -> String {
    state
        .node
        .hierarchy()
        .get(code)
        .map(|u| u.name.clone())
        .unwrap_or_else(|| code.to_string())
}

/// The name of a plan's unit in the structure of the plan's date (its adoption day): a 2024
/// list by its 2024 commune, "(…, 2024; now part of …)" ([`crate::node::Node::unit_name_at`]).
pub(in crate::web) fn plan_unit_name_at(
    state: &WebState,
    code: &str,
    on: Option<chrono::NaiveDate>,
) -> String {
    plan_unit_name(state, code, on)
}

/// The name of plan `id`'s unit in the structure of its own date
/// ([`crate::node::Node::plan_unit_name`]); its code when the code is unknown.
fn plan_name(state: &WebState, id: &PlanId) -> String {
    match state.node.plan_unit_name(id) {
        name if name.is_empty() => id.unit.clone(),
        name => name,
    }
}

fn plan_unit_name(state: &WebState, code: &str, on: Option<chrono::NaiveDate>) -> String {
    match state.node.unit_name_at(code, on) {
        name if name.is_empty() => code.to_string(),
        name => name,
    }
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
