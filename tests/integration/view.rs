//! The province's view (issue 13) through real nodes: findings stay live for every plan they
//! involve, the completeness report says where each plan is, and a consolidated list larger
//! than one gRPC message lists and exports whole through the CLI.

use std::time::Duration;

use quyhoach::{
    domain::{Cadre, Entry, EntrySource, Gender, Plan, PlanId, PlanStatus},
    grpc::pb::{self, planning_client::PlanningClient},
    store::{Change, SledStore, Store},
};
use tonic::{transport::Channel, Code};

use crate::{
    checks::{district_plan, shared},
    harness::*,
    procs::{cli, Ran},
};

async fn stored(
    c: &mut PlanningClient<Channel>,
    plan: pb::PlanId,
    rules: &[&str],
) -> Result<Vec<pb::Finding>, tonic::Status> {
    c.check(pb::CheckRequest {
        plan: Some(plan),
        stored: true,
        rules: rules.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner().findings)
}

/// Fault 2 of issue 13: when 427's plan arrives and makes an R3 finding with 412's, the stored
/// findings of 412 show it at once; the stored check honours its filters, shows acceptances
/// and refuses a plan that is not held.
#[tokio::test]
async fn stored_findings_are_live_for_every_plan_they_involve() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let vinh = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
    let do_luong = start(dir.path(), "427", Some(province.url()), "builtin:2024").await;
    let (mut a, mut b, mut p) = (
        client(&vinh).await,
        client(&do_luong).await,
        client(&province).await,
    );
    let name = "Nguyễn Thị Ánh Tuyết";
    district_plan(
        &mut a,
        "412",
        vec![
            shared(name, "D.PCT.UBND", "412"),
            shared(name, "D.TB.TC", "412"),
        ],
    )
    .await;
    let v412 = wait_status(&mut p, "412", pb::PlanStatus::Received)
        .await
        .id
        .unwrap();
    let before = stored(&mut p, v412.clone(), &[]).await.unwrap();
    assert!(before.iter().all(|f| f.rule != "R3"), "{before:?}");

    // Two more district posts in 427: four at one level, one more than R3 allows.
    district_plan(
        &mut b,
        "427",
        vec![
            shared(name, "D.PCT.UBND", "427"),
            shared(name, "D.TB.DV", "427"),
        ],
    )
    .await;
    let v427 = wait_status(&mut p, "427", pb::PlanStatus::Received)
        .await
        .id
        .unwrap();
    // No waiting: a stored check follows every arrival acknowledged before it.
    let of_412 = stored(&mut p, v412.clone(), &[]).await.unwrap();
    let r3: Vec<_> = of_412.iter().filter(|f| f.rule == "R3").collect();
    assert_eq!(
        r3.len(),
        1,
        "412's stored findings show the R3 427 made: {of_412:?}"
    );
    assert_eq!(r3[0].units, ["412", "427"]);
    let of_427 = stored(&mut p, v427.clone(), &["R3"]).await.unwrap();
    assert_eq!(of_427.len(), 1);
    assert_eq!(of_427[0].id, r3[0].id, "one finding, stored for both plans");

    // Filters: a rule filter keeps only that rule; a subtree outside the plan leaves nothing.
    let only_r1 = stored(&mut p, v412.clone(), &["R1"]).await.unwrap();
    assert!(only_r1.iter().all(|f| f.rule == "R1"), "{only_r1:?}");
    assert!(only_r1.is_empty());
    let only_r3 = stored(&mut p, v412.clone(), &["R3"]).await.unwrap();
    assert_eq!(only_r3.len(), 1);
    let errors_only = p
        .check(pb::CheckRequest {
            plan: Some(v412.clone()),
            stored: true,
            severity: pb::Severity::Error.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .findings;
    assert!(errors_only
        .iter()
        .all(|f| f.severity == pb::Severity::Error as i32));
    assert!(errors_only.iter().any(|f| f.rule == "R3"));

    // The same findings as a fresh check of everything, for this plan.
    let fresh: Vec<String> = p
        .check(pb::CheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .findings
        .into_iter()
        .filter(|f| f.plans.contains(&v412))
        .map(|f| f.id)
        .collect();
    let mut live: Vec<String> = of_412.iter().map(|f| f.id.clone()).collect();
    let mut fresh = fresh;
    live.sort();
    fresh.sort();
    assert_eq!(live, fresh, "live findings equal a fresh full check");

    // Acceptances show.
    let warning = of_412
        .iter()
        .find(|f| f.severity == pb::Severity::Warning as i32)
        .expect("the young-cadre share (R8) is a warning here");
    p.accept_warning(pb::AcceptWarningRequest {
        plan: Some(v412.clone()),
        finding: warning.id.clone(),
        justification: "Huyện đang đào tạo cán bộ trẻ".into(),
        accepted_by: "Trưởng ban".into(),
    })
    .await
    .unwrap();
    let after = stored(&mut p, v412.clone(), &[]).await.unwrap();
    let accepted = after.iter().find(|f| f.id == warning.id).unwrap();
    assert_eq!(
        accepted.acceptance.as_ref().unwrap().justification,
        "Huyện đang đào tạo cán bộ trẻ"
    );

    // A plan not held: an unknown unit, a version that does not exist.
    for missing in [id("999", 1), id("412", 7)] {
        let e = stored(&mut p, missing.clone(), &[]).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{missing:?}: {}", e.message());
    }
    for n in [vinh, do_luong, province] {
        n.stop().await.unwrap();
    }
}

/// Fault 3 of issue 13: a commune whose plan is submitted and pending at its district is not
/// "missing" at the province; the province says where it waits, and where every other plan is.
#[tokio::test]
async fn completeness_says_where_each_plan_is() {
    let tree = Tree::start().await;
    let mut commune = client(&tree.commune).await;
    let mut sibling = client(&tree.sibling).await;
    let mut district = client(&tree.district).await;
    let mut p = client(&tree.province).await;
    adopted_plan(&mut commune, "16681", &[(1, "Nguyễn Thị Hoa", "C.CT.UBND")]).await;
    commune
        .submit_plan(pb::SubmitPlanRequest {
            unit: "16681".into(),
            term: TERM.into(),
            revision: None,
            hash: String::new(),
        })
        .await
        .unwrap();
    wait_status(&mut district, "16681", pb::PlanStatus::Received).await;
    sibling
        .create_draft(pb::CreateDraftRequest {
            unit: "16690".into(),
            term: TERM.into(),
            from_sources: false,
        })
        .await
        .unwrap();

    // The district reports its subtree in the pull it makes anyway; wait for the next one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let report = loop {
        let r = p
            .completeness(pb::CompletenessRequest {
                under: "40".into(),
                term: TERM.into(),
            })
            .await
            .unwrap()
            .into_inner();
        let of = |unit: &str| r.units.iter().find(|u| u.unit == unit).cloned();
        let ready = of("16681").is_some_and(|u| u.progress == pb::Progress::Submitted as i32)
            && of("16690").is_some_and(|u| u.progress == pb::Progress::Draft as i32);
        if ready {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the province never learned where 16681 and 16690 stand: missing {:?}, units {:?}",
            r.missing,
            r.units
                .iter()
                .filter(|u| u.unit.starts_with("166"))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    };
    let of = |unit: &str| report.units.iter().find(|u| u.unit == unit).unwrap();
    assert!(
        !report.missing.contains(&"16681".to_string()),
        "submitted and pending at its district: not missing"
    );
    assert_eq!(of("16681").pending_at, "412");
    assert_eq!(of("16681").version, 1);
    assert!(
        report.missing.contains(&"16690".to_string()),
        "a draft is not submitted"
    );
    assert_eq!(of("427").progress, pb::Progress::NotStarted as i32);
    assert!(report.missing.contains(&"427".to_string()));
    // The district (412) has not submitted its own plan.
    assert!(report.missing.contains(&"412".to_string()));
    tree.stop().await;
}

const FAMILY: [&str; 8] = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Võ", "Đặng", "Bùi"];
const MIDDLE: [&str; 6] = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh"];
const GIVEN: [&str; 10] = [
    "An", "Bình", "Cường", "Dũng", "Hoa", "Lan", "Nam", "Phước", "Tâm", "Yến",
];

/// A received district plan of 5,000 entries for `term`, as the province stores it.
fn big_district_plan(unit: &str, term: &str, base: u32) -> Plan {
    const POSITIONS: [&str; 4] = ["D.PCT.UBND", "D.TB.TC", "D.TB.DV", "D.CT.UBND"];
    let mut plan = Plan::new_draft(
        PlanId {
            unit: unit.into(),
            term: term.into(),
            version: 1,
        },
        None,
    );
    for i in 0..5_000u32 {
        let k = base + i;
        plan.entries.push(Entry {
            cadre: Cadre {
                national_id: format!("04{k:010}").into(),
                full_name: format!(
                    "{} {} {}",
                    FAMILY[(k % 8) as usize],
                    MIDDLE[(k / 8 % 6) as usize],
                    GIVEN[(k / 48 % 10) as usize]
                )
                .into(),
                birth_date: chrono::NaiveDate::from_ymd_opt(1984, 5, 5).unwrap(),
                gender: if k.is_multiple_of(2) {
                    Gender::Female
                } else {
                    Gender::Male
                },
                ethnicity: "Kinh".into(),
                current_positions: vec!["D.TP".into()],
                current_unit: unit.into(),
                qualifications: vec![],
                discipline: vec![],
                appointment_proposed_on: None,
                retirement_regime: Default::default(),
                science_technology: false,
                ratings: Vec::new(),
            },
            position: POSITIONS[(i % 4) as usize].into(),
            source: EntrySource::Voted,
            origin: None,
        });
    }
    plan.sort_entries();
    plan.hash = Some(plan.content_hash());
    plan.status = PlanStatus::Received;
    plan.adopted_on = chrono::NaiveDate::from_ymd_opt(2025, 4, 15);
    plan.received_at = Some(chrono::Utc::now());
    plan
}

/// Fault 1 of issue 13: a province of 40,000 entries (two districts, four terms of 5,000) has
/// more than 4 MiB of consolidated rows; `quyhoach consolidated` and `quyhoach export --what
/// consolidated` page through it and give every row; its full check (29 MB of findings) comes
/// whole through `CheckStream` and `quyhoach check`. The plans are written into the
/// province's store before it starts (as if they had arrived), to keep the test short.
#[tokio::test]
async fn a_consolidated_list_larger_than_a_message_lists_and_exports_whole() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(&dir.path().join("40")).unwrap();
        let mut ticket = 0;
        for (t, term) in ["2020-2025", "2021-2026", "2025-2030", "2026-2031"]
            .into_iter()
            .enumerate()
        {
            for (d, unit) in ["412", "427"].into_iter().enumerate() {
                let base = (t * 2 + d) as u32 * 5_000;
                ticket = store
                    .commit(vec![Change::PutPlan(big_district_plan(unit, term, base))])
                    .unwrap();
            }
        }
        store.wait_durable(ticket).await.unwrap();
    }
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let mut p = client(&province).await;
    // More than one default-sized message holds.
    let first = p
        .consolidated(pb::ConsolidatedRequest {
            page_size: 1_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.total, 40_000);
    let bytes: usize = first
        .entries
        .iter()
        .map(prost::Message::encoded_len)
        .sum::<usize>()
        * 40;
    assert!(bytes > 4 * 1024 * 1024, "{bytes} bytes of rows");

    let url = province.url();
    let Ran {
        ok,
        stdout: out,
        stderr: err,
    } = cli(&["consolidated", "--node", &url]).await;
    assert!(ok, "consolidated failed: {err}");
    let rows = out
        .lines()
        .filter(|l| l.contains("412") || l.contains("427"))
        .count();
    assert_eq!(rows, 40_000, "every row listed: {}", &err);

    let xlsx = dir.path().join("tong-hop.xlsx");
    let Ran {
        ok,
        stdout: said,
        stderr: err,
    } = cli(&[
        "export",
        "--node",
        &url,
        "--what",
        "consolidated",
        "--out",
        xlsx.to_str().unwrap(),
    ])
    .await;
    assert!(ok, "export failed: {err}");
    // It says what it did, and draws no progress bar where standard error is no terminal.
    assert!(said.contains("wrote 40000 rows to"), "{said}");
    assert!(!err.contains("fetching"), "a bar on a pipe: {err}");
    use calamine::{DataType, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    // One header row (and any title rows above it) besides the 40,000 entries.
    let data_rows = sheet
        .rows()
        .filter(|r| {
            r.iter()
                .any(|c| matches!(c.as_string().as_deref(), Some("412" | "427")))
        })
        .count();
    assert_eq!(data_rows, 40_000);

    // What a progress bar is fed: after each page, the entries so far and the node's total.
    let mut seen = Vec::new();
    let request = pb::ConsolidatedRequest {
        page_size: 15_000,
        ..Default::default()
    };
    let all = quyhoach::client::consolidated_all_with(&mut p, request, |so_far, total| {
        seen.push((so_far, total))
    })
    .await
    .unwrap();
    assert_eq!(all.len(), 40_000);
    assert_eq!(seen, [(15_000, 40_000), (30_000, 40_000), (40_000, 40_000)]);

    // The full check of these plans passes even the largest message the node sends: the
    // unary Check refuses it by name, CheckStream gives it in parts of about 1 MiB, and the
    // CLI's `check` (which streams) prints every finding.
    let refused = p.check(pb::CheckRequest::default()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("CheckStream"),
        "{}",
        refused.message()
    );
    let mut parts = p
        .check_stream(pb::CheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut streamed = Vec::new();
    let mut largest = 0;
    while let Some(part) = parts.message().await.unwrap() {
        assert_eq!(part.entries_checked, 40_000);
        largest = largest.max(prost::Message::encoded_len(&part));
        streamed.extend(part.findings);
    }
    let bytes: usize = streamed.iter().map(prost::Message::encoded_len).sum();
    assert!(
        bytes > quyhoach::grpc::limits::MAX_ANSWER,
        "{bytes} bytes of findings"
    );
    assert!(largest < 2 * 1024 * 1024, "a part of {largest} bytes");
    let Ran { ok, stdout, stderr } = cli(&["check", "--node", &url, "--json"]).await;
    assert!(ok, "check failed: {stderr}");
    let printed: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(printed.len(), streamed.len());
    let printed: std::collections::BTreeSet<_> =
        printed.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(printed, streamed.iter().map(|f| f.id.as_str()).collect());
    province.stop().await.unwrap();
}
