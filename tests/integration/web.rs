//! The web page (issue 15): a real demo province on loopback, its web page driven by headless
//! Chromium through chromedriver (fantoccini), and its access control checked over plain HTTP.
//! Chromium and chromedriver must be installed (`.ci/run` installs Debian's packages when they
//! are missing); without them the browser test fails, naming what is missing.
//!
//! The browser tests are in [`browser`] and [`appraisal`]; the checks over plain HTTP,
//! without a browser, in [`access`]. What they share (revising 412's plan, waiting for it) is
//! here.

pub(crate) mod access;
mod appraisal;
mod browser;
mod cms_upload;
mod findings_pages;
mod language;
mod list;
mod merger;
mod whole;

/// The plain-HTTP client of the web page, which the sign-in tests use too.
pub(crate) use access::{token_of, Http};

use std::time::Duration;

use quyhoach::{client, demo::Demo, grpc::pb};

pub const TERM: &str = "2025-2030";
/// A name written in NFD (decomposed diacritics), as some spreadsheets hold it.
pub fn nfd_name() -> String {
    "Nguye\u{302}\u{303}n Va\u{306}n Toa\u{300}n".to_string()
}
pub const NFC_NAME: &str = "Nguyễn Văn Toàn";
pub const NEW_ID: &str = "040080009999";

/// The district 412 revises its returned plan as version 2: one person removed, one added
/// (written in NFD); adopted and submitted, then received at the province. Returns the name
/// of the person removed.
pub async fn revise_412(demo: &Demo) -> String {
    let mut c = client::connect_to(demo.addr("412"), demo.operator("412"))
        .await
        .unwrap();
    // The province's return of v1 reaches the district through its next pull.
    wait_for_412(&c, 1, pb::PlanStatus::Returned).await;
    let v2 = c
        .create_draft(pb::CreateDraftRequest {
            unit: "412".into(),
            term: TERM.into(),
            from_sources: false,
        })
        .await
        .unwrap()
        .into_inner();
    // Someone planned for one position only, so that removing the entry removes the person.
    let once = |id: &str| {
        v2.entries
            .iter()
            .filter(|e| e.cadre.as_ref().unwrap().national_id == id)
            .count()
            == 1
    };
    let removed = v2
        .entries
        .iter()
        .find(|e| once(&e.cadre.as_ref().unwrap().national_id))
        .expect("a person planned once")
        .clone();
    let cadre = removed.cadre.clone().unwrap();
    c.remove_entry(pb::RemoveEntryRequest {
        unit: "412".into(),
        term: TERM.into(),
        national_id: cadre.national_id.clone(),
        position: removed.position.clone(),
    })
    .await
    .unwrap();
    c.put_entry(pb::PutEntryRequest {
        unit: "412".into(),
        term: TERM.into(),
        entry: Some(pb::Entry {
            cadre: Some(pb::Cadre {
                national_id: NEW_ID.into(),
                full_name: nfd_name(),
                birth_date: "1982-06-15".into(),
                gender: pb::Gender::Male.into(),
                ethnicity: "Kinh".into(),
                ..cadre.clone()
            }),
            position: removed.position.clone(),
            source: removed.source,
            origin: None,
        }),
    })
    .await
    .unwrap();
    c.adopt_plan(pb::AdoptPlanRequest {
        unit: "412".into(),
        term: TERM.into(),
        adopted_on: "2025-05-02".into(),
        revision: None,
    })
    .await
    .unwrap();
    c.submit_plan(pb::SubmitPlanRequest {
        unit: "412".into(),
        term: TERM.into(),
        revision: None,
        hash: String::new(),
    })
    .await
    .unwrap();
    let mut p = client::connect_to(demo.addr("40"), demo.operator("40"))
        .await
        .unwrap();
    wait_for_412(&p, 2, pb::PlanStatus::Received).await;
    // And its findings, which the province computes as it arrives.
    wait(Duration::from_secs(30), || {
        let mut p = p.clone();
        async move {
            let f = p
                .check(pb::CheckRequest {
                    plan: Some(pb::PlanId {
                        unit: "412".into(),
                        term: TERM.into(),
                        version: 2,
                    }),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .findings;
            !f.is_empty()
        }
    })
    .await;
    let _ = &mut p;
    cadre.full_name
}

/// Waits until the node behind `node` holds version `version` of 412's plan with `status`.
pub async fn wait_for_412(
    node: &pb::planning_client::PlanningClient<tonic::transport::Channel>,
    version: u32,
    status: pb::PlanStatus,
) {
    wait(Duration::from_secs(30), || {
        let mut node = node.clone();
        async move {
            let plans = node
                .list_plans(pb::ListPlansRequest {
                    under: "412".into(),
                    term: TERM.into(),
                    latest_only: true,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .plans;
            plans.iter().any(|s| {
                let id = s.id.as_ref().unwrap();
                id.unit == "412" && id.version == version && s.status == status as i32
            })
        }
    })
    .await;
}

pub async fn wait<F, Fut>(limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
