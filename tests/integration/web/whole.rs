//! The pages of a whole province, served from memory (issue 26), against the demo's province
//! (whose lists break rules on purpose): the findings page lists exactly the findings a full
//! `Check` reports, for every filter the page offers, and follows a plan that arrives; the
//! overview counts each district's completeness as `Completeness` of that district does; the
//! unfiltered consolidated list, page by page, is the gRPC query's whole list.

use std::collections::BTreeSet;

use quyhoach::{
    client,
    demo::{self, Demo, DemoOptions},
    grpc::pb,
};

use super::{access::Http, revise_412, TERM};

/// The finding IDs a page lists (`data-finding="…"`).
fn finding_ids(page: &str) -> BTreeSet<String> {
    page.split("data-finding=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}

/// The finding IDs a full check through gRPC reports, with `rules` and `term`.
async fn checked(demo: &Demo, rules: &[&str], term: &str) -> BTreeSet<String> {
    let mut c = client::connect_to(demo.addr("40"), demo.operator("40"))
        .await
        .unwrap();
    c.check(pb::CheckRequest {
        rules: rules.iter().map(|r| r.to_string()).collect(),
        term: term.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .findings
    .into_iter()
    .map(|f| f.id)
    .collect()
}

/// The findings page at the province against a full check: all of them, by rule, by term,
/// and again after the district 412 revises its plan (whose findings the province computes
/// as it arrives).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_findings_page_lists_what_a_full_check_finds_and_follows_an_arrival() {
    let demo = demo::start_demo(DemoOptions::default(), &mut std::io::sink())
        .await
        .unwrap();
    let http = Http::new(&demo.web_url, Some(&demo.operator("40").ca_pem));
    let session = http
        .sign_in(&demo.login_url(&demo.operator("40")).await.unwrap())
        .await;
    let page = |path: String| {
        let http = &http;
        let session = &session;
        async move {
            let r = http.send("GET", &path, Some(session), "").await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            r.body
        }
    };
    let compare = |label: &'static str| {
        let page = &page;
        let demo = &demo;
        async move {
            let all = checked(demo, &[], "").await;
            assert!(!all.is_empty(), "{label}: the demo's lists break rules");
            assert_eq!(
                finding_ids(&page("/phat-hien".into()).await),
                all,
                "{label}"
            );
            for rule in ["R1", "R19", "R21"] {
                assert_eq!(
                    finding_ids(&page(format!("/phat-hien?rule={rule}")).await),
                    checked(demo, &[rule], "").await,
                    "{label}: {rule}"
                );
            }
            assert_eq!(
                finding_ids(&page(format!("/phat-hien?term={TERM}")).await),
                checked(demo, &[], TERM).await,
                "{label}: {TERM}"
            );
            all
        }
    };
    let before = compare("after the demo").await;
    revise_412(&demo).await;
    let after = compare("after 412's version 2 arrived").await;
    assert_ne!(before, after, "412's version 2 changes the findings");
}

/// The overview's rows show the latest version of each plan as `ListPlans` does, and its
/// completeness per district is `Completeness` of that district; the
/// unfiltered consolidated list, walked page by page to past its last, is the whole list the
/// gRPC query gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_and_the_unfiltered_list_agree_with_the_queries() {
    let demo = demo::start_demo(DemoOptions::default(), &mut std::io::sink())
        .await
        .unwrap();
    let http = Http::new(&demo.web_url, Some(&demo.operator("40").ca_pem));
    let session = http
        .sign_in(&demo.login_url(&demo.operator("40")).await.unwrap())
        .await;
    let page = |path: String| {
        let http = &http;
        let session = &session;
        async move {
            let r = http.send("GET", &path, Some(session), "").await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            r.body
        }
    };
    let mut c = client::connect_to(demo.addr("40"), demo.operator("40"))
        .await
        .unwrap();

    let overview = page(format!("/?term={TERM}&all=1")).await;
    // Each unit's row shows the latest version the store holds (the overview reads the view's
    // headers, ListPlans the store's) and its number of entries.
    let latest = c
        .list_plans(pb::ListPlansRequest {
            term: TERM.into(),
            latest_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .plans;
    assert!(latest.len() > 3, "{} plans", latest.len());
    for p in &latest {
        let id = p.id.as_ref().unwrap();
        let at = overview
            .find(&format!("<tr data-unit=\"{}\">", id.unit))
            .unwrap_or_else(|| panic!("no row for {}", id.unit));
        let row = &overview[at..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(
            row.contains(&format!(
                "href=\"/ke-hoach/{}/{TERM}/{}\"",
                id.unit, id.version
            )) && row.contains(&format!("<td class=\"num\">{}</td>", p.entries)),
            "{}: v{} with {} entries: {row}",
            id.unit,
            id.version,
            p.entries
        );
    }
    let table = &overview[overview.find("id=\"completeness\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    let rows: Vec<&str> = table.split("<tr><td>").skip(1).collect();
    let units = quyhoach::config::load_units("builtin:2024").unwrap();
    let districts = units.children("40");
    assert_eq!(rows.len(), districts.len());
    for (row, code) in rows.iter().zip(districts) {
        let name = &units.get(code).unwrap().name;
        assert!(row.starts_with(name.as_str()), "{row} is {name}'s");
        let c = c
            .completeness(pb::CompletenessRequest {
                under: code.clone(),
                term: TERM.into(),
            })
            .await
            .unwrap()
            .into_inner();
        let total = units.subtree(code).len();
        let cells: Vec<&str> = row
            .split("<td class=\"num")
            .skip(1)
            .map(|c| c.split('>').nth(1).unwrap().split('<').next().unwrap())
            .collect();
        assert_eq!(
            cells,
            [
                format!("{}/{total}", total - c.missing.len()),
                c.overdue.len().to_string()
            ],
            "{code}"
        );
    }

    let whole: Vec<(String, String)> = c
        .consolidated(pb::ConsolidatedRequest {
            term: TERM.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries
        .into_iter()
        .map(|e| (e.full_name, e.unit))
        .collect();
    assert!(whole.len() > 10, "{} rows", whole.len());
    let mut walked = Vec::new();
    for n in 1..=whole.len().div_ceil(7) + 1 {
        let html = page(format!("/tong-hop?term={TERM}&size=7&page={n}")).await;
        let rows: Vec<(String, String)> = html
            .split("<td class=\"name\">")
            .skip(1)
            .map(|cell| {
                let name = cell.split("</a>").next().unwrap();
                let name = name.rsplit('>').next().unwrap().to_string();
                let plan = cell.split("href=\"/ke-hoach/").nth(1).unwrap();
                (name, plan.split('/').next().unwrap().to_string())
            })
            .collect();
        if n > whole.len().div_ceil(7) {
            // Past the last page is the last page.
            assert_eq!(rows, whole[(whole.len() - 1) / 7 * 7..], "page {n}");
        } else {
            walked.extend(rows);
        }
    }
    assert_eq!(walked, whole);
}
