//! Withdrawals (a return of an approved plan) travel upward like approvals: every level above
//! holds the version as returned by the unit that took it back, with its reasons, and its
//! consolidated list, completeness and reconciliation follow. Once the level above approved
//! the withdrawing unit's own plan on top of it, a withdrawal is refused naming that plan.

use quyhoach::{
    config::RawConfig,
    grpc::pb::{self, planning_client::PlanningClient},
};
use tonic::{transport::Channel, Code};

use crate::harness::*;

/// Adopts and submits `unit`'s plan with one entry, and approves it at `district`.
async fn approved_at_district(
    commune: &mut PlanningClient<Channel>,
    district: &mut PlanningClient<Channel>,
    unit: &str,
    n: u32,
) -> pb::Plan {
    let adopted = adopted_plan(commune, unit, &[(n, "Nguyễn Thị Hoa", "C.BT")]).await;
    submit_until_received(commune, unit, district).await;
    district
        .decide_plan(pb::DecidePlanRequest {
            plan: adopted.id.clone(),
            hash: adopted.hash.clone(),
            outcome: pb::Outcome::Approve.into(),
            reasons: vec![],
            cite_findings: vec![],
            cms_signature: Vec::new(),
        })
        .await
        .unwrap();
    adopted
}

/// `district` returns version 1 of `unit`, which it had approved.
async fn withdraw(
    district: &mut PlanningClient<Channel>,
    unit: &str,
) -> Result<pb::Decision, tonic::Status> {
    district
        .decide_plan(pb::DecidePlanRequest {
            plan: Some(id(unit, 1)),
            hash: String::new(),
            outcome: pb::Outcome::Return.into(),
            reasons: vec!["Hồ sơ nhân sự chưa đầy đủ".into()],
            cite_findings: vec![],
            cms_signature: Vec::new(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn version_1(c: &mut PlanningClient<Channel>, unit: &str) -> pb::Plan {
    c.get_plan(pb::GetPlanRequest {
        unit: unit.into(),
        term: TERM.into(),
        version: 1,
    })
    .await
    .unwrap()
    .into_inner()
}

/// What the province holds of `unit` version 1 once withdrawn: returned, marked withdrawn, the
/// district's return as its decision; and its consolidated list and completeness agree.
async fn province_shows_withdrawn(province: &mut PlanningClient<Channel>, unit: &str) {
    wait_status(province, unit, pb::PlanStatus::Returned).await;
    let held = version_1(province, unit).await;
    assert!(held.withdrawn, "{held:?}");
    let d = held.decision.unwrap();
    assert_eq!(d.decided_by, "412");
    assert_eq!(d.outcome, pb::Outcome::Return as i32);
    assert_eq!(d.reasons, ["Hồ sơ nhân sự chưa đầy đủ"]);

    let rows = province
        .consolidated(pb::ConsolidatedRequest {
            under: unit.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r.status == pb::PlanStatus::Returned as i32),
        "{rows:?}"
    );
    let approved_rows = province
        .consolidated(pb::ConsolidatedRequest {
            under: unit.into(),
            status: pb::PlanStatus::Approved.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert!(approved_rows.is_empty(), "{approved_rows:?}");

    let progress = province
        .completeness(pb::CompletenessRequest {
            under: "412".into(),
            term: TERM.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .units;
    let p = progress.iter().find(|p| p.unit == unit).unwrap();
    assert_eq!(p.progress, pb::Progress::Returned as i32, "{progress:?}");
}

#[tokio::test]
async fn a_withdrawal_after_the_plan_was_carried_up_reaches_the_province() {
    let tree = Tree::start().await;
    let mut commune = client(&tree.commune).await;
    let mut district = client(&tree.district).await;
    let mut province = client(&tree.province).await;
    approved_at_district(&mut commune, &mut district, "16681", 1).await;
    wait_status(&mut province, "16681", pb::PlanStatus::Approved).await;
    let before = version_1(&mut province, "16681").await;
    assert!(!before.withdrawn, "an approved plan is not withdrawn");

    withdraw(&mut district, "16681").await.unwrap();
    province_shows_withdrawn(&mut province, "16681").await;
    // The district itself and the commune say returned, and the commune may revise.
    wait_status(&mut commune, "16681", pb::PlanStatus::Returned).await;
    let at_district = version_1(&mut district, "16681").await;
    assert_eq!(at_district.status, pb::PlanStatus::Returned as i32);
    let v2 = commune
        .create_draft(pb::CreateDraftRequest {
            unit: "16681".into(),
            term: TERM.into(),
            from_sources: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v2.id.unwrap().version, 2);
    tree.stop().await;
}

#[tokio::test]
async fn a_withdrawal_before_the_plan_was_carried_up_travels_behind_its_approval() {
    let dir = tempfile::tempdir().unwrap();
    // The province is not there yet: the approval and the withdrawal wait in the district's
    // outbox, in that order.
    let province_addr = crate::procs::free_addr();
    let district = start_with(RawConfig {
        retry_max_ms: Some(100),
        ..node_config(
            dir.path(),
            "412",
            Some(format!("http://{province_addr}")),
            "builtin:2024",
        )
    })
    .await;
    let commune = start(dir.path(), "16681", Some(district.url()), "builtin:2024").await;
    let mut c = client(&commune).await;
    let mut d = client(&district).await;
    approved_at_district(&mut c, &mut d, "16681", 1).await;
    withdraw(&mut d, "16681").await.unwrap();

    let province = start_with(RawConfig {
        listen: Some(province_addr),
        ..node_config(dir.path(), "40", None, "builtin:2024")
    })
    .await;
    let mut p = client(&province).await;
    province_shows_withdrawn(&mut p, "16681").await;
    for node in [commune, district, province] {
        node.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_withdrawal_is_refused_once_the_province_approved_the_district_plan_on_top() {
    let tree = Tree::start().await;
    let mut commune = client(&tree.commune).await;
    let mut sibling = client(&tree.sibling).await;
    let mut district = client(&tree.district).await;
    let mut province = client(&tree.province).await;
    approved_at_district(&mut commune, &mut district, "16681", 1).await;
    approved_at_district(&mut sibling, &mut district, "16690", 2).await;
    wait_status(&mut province, "16690", pb::PlanStatus::Approved).await;

    // The district's own plan submitted but not yet approved: a withdrawal goes through.
    let own = crate::bundles::adopt_district_plan(&mut district, 3, "Lê Hữu Phước").await;
    submit_until_received(&mut district, "412", &mut province).await;
    withdraw(&mut district, "16681").await.unwrap();
    province_shows_withdrawn(&mut province, "16681").await;

    // The province approves the district's plan on top of 16690's: now refused, naming it.
    province
        .decide_plan(pb::DecidePlanRequest {
            plan: own.id.clone(),
            hash: own.hash.clone(),
            outcome: pb::Outcome::Approve.into(),
            reasons: vec![],
            cite_findings: vec![],
            cms_signature: Vec::new(),
        })
        .await
        .unwrap();
    wait_status(&mut district, "412", pb::PlanStatus::Approved).await;
    let refused = withdraw(&mut district, "16690").await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("412/2025-2030/v1")
            && refused.message().contains("16690/2025-2030/v1"),
        "{}",
        refused.message()
    );
    // Nothing changed anywhere.
    assert_eq!(
        version_1(&mut district, "16690").await.status,
        pb::PlanStatus::Approved as i32
    );
    assert_eq!(
        version_1(&mut province, "16690").await.status,
        pb::PlanStatus::Approved as i32
    );
    tree.stop().await;
}

/// Issue 23, the unit's own node: the commune whose approved v1 its district took back shows
/// it as withdrawn (by 412, with the reason), through GetPlan and `quyhoach plan`, not as a
/// plain return; a version returned without having been approved is a plain return.
#[tokio::test]
async fn the_commune_sees_its_own_version_withdrawn_not_merely_returned() {
    let tree = Tree::start().await;
    let mut commune = client(&tree.commune).await;
    let mut sibling = client(&tree.sibling).await;
    let mut district = client(&tree.district).await;
    approved_at_district(&mut commune, &mut district, "16681", 1).await;
    wait_status(&mut commune, "16681", pb::PlanStatus::Approved).await;
    withdraw(&mut district, "16681").await.unwrap();
    wait_status(&mut commune, "16681", pb::PlanStatus::Returned).await;
    let own = version_1(&mut commune, "16681").await;
    assert!(own.withdrawn, "{own:?}");
    let d = own.decision.unwrap();
    assert_eq!(
        (d.decided_by.as_str(), d.reasons.as_slice()),
        ("412", ["Hồ sơ nhân sự chưa đầy đủ".to_string()].as_slice())
    );
    let ran = crate::procs::cli([
        "plan",
        "--node",
        &tree.commune.addr.to_string(),
        "--unit",
        "16681",
        "--term",
        TERM,
    ])
    .await;
    assert!(ran.ok, "{}", ran.text());
    assert!(
        ran.stdout.contains("withdrawn by 412 on ")
            && ran.stdout.contains("reason Hồ sơ nhân sự chưa đầy đủ"),
        "{}",
        ran.stdout
    );

    // Returned at once, never approved: a plain return.
    let adopted = adopted_plan(&mut sibling, "16690", &[(2, "Lê Văn Nam", "C.BT")]).await;
    submit_until_received(&mut sibling, "16690", &mut district).await;
    district
        .decide_plan(pb::DecidePlanRequest {
            plan: adopted.id.clone(),
            hash: adopted.hash.clone(),
            outcome: pb::Outcome::Return.into(),
            reasons: vec!["Thiếu biên bản kiểm phiếu".into()],
            cite_findings: vec![],
            cms_signature: Vec::new(),
        })
        .await
        .unwrap();
    wait_status(&mut sibling, "16690", pb::PlanStatus::Returned).await;
    assert!(!version_1(&mut sibling, "16690").await.withdrawn);
    tree.stop().await;
}
