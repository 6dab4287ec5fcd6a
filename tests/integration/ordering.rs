//! Duplicated, reordered and conflicting deliveries sent straight through the node-to-node
//! API: versions apply strictly in order, and a version resting on an approved one waits for
//! its return.

use quyhoach::{
    domain::{Decision, Outcome, Plan, PlanId, PlanStatus},
    grpc::{convert, pb},
};
use tonic::Code;

use crate::harness::*;

/// A plan version of `unit` as its owner would push it: one entry, hashed.
fn version(unit: &str, v: u32, name: &str) -> Plan {
    let e = convert::entry_from_pb("entry", entry(v, name, "C.PCT.UBND", unit)).unwrap();
    let round = convert::round_from_pb("round", round(&[(v, "C.PCT.UBND", 20)])).unwrap();
    let mut plan = Plan::new_draft(
        PlanId {
            unit: unit.into(),
            term: TERM.into(),
            version: v,
        },
        (v > 1).then(|| v - 1),
    );
    plan.entries = vec![e];
    plan.rounds = vec![round];
    plan.status = PlanStatus::Submitted;
    // Adopted in the two-level structure: a version made before 1 July 2025 may arrive
    // without its predecessors, re-routed from its abolished district (`reorganisation`).
    plan.adopted_on = chrono::NaiveDate::from_ymd_opt(2025, 7, 20);
    plan.hash = Some(plan.content_hash());
    plan
}

fn push(from: &str, plan: &Plan) -> pb::PushRequest {
    pb::PushRequest {
        from_unit: from.into(),
        plan: Some(convert::plan_to_pb(plan)),
        ..Default::default()
    }
}

#[tokio::test]
async fn versions_apply_in_order_and_wait_for_the_return_of_an_approved_base() {
    let dir = tempfile::tempdir().unwrap();
    // Two-level structure: commune 16681 is approved by the province directly.
    let province = start(dir.path(), "40", None, "builtin:2025").await;
    let mut to_province = sync_client(&province).await;
    let mut p = client(&province).await;
    let (v1, v2, v3) = (
        version("16681", 1, "An"),
        version("16681", 2, "Bình"),
        version("16681", 3, "Chi"),
    );

    let status = to_province.push(push("16681", &v2)).await.unwrap_err();
    assert_eq!(
        status.code(),
        Code::FailedPrecondition,
        "{}",
        status.message()
    );
    assert!(
        everything(&mut p).await.is_empty(),
        "an out-of-order version is not applied"
    );

    let first = to_province
        .push(push("16681", &v1))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.duplicate);
    let again = to_province
        .push(push("16681", &v1))
        .await
        .unwrap()
        .into_inner();
    assert!(again.duplicate);
    assert_eq!(
        again.received_at, first.received_at,
        "the same push returns the original receipt"
    );

    // v1 awaits a decision: v2 waits.
    assert_eq!(
        to_province
            .push(push("16681", &v2))
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    let decide = |outcome: pb::Outcome| pb::DecidePlanRequest {
        cite_findings: vec![],
        plan: Some(id("16681", 1)),
        hash: v1.hash.clone().unwrap(),
        outcome: outcome.into(),
        reasons: vec!["Rà soát hằng năm".into()],
        cms_signature: Vec::new(),
    };
    p.decide_plan(decide(pb::Outcome::Approve)).await.unwrap();
    // v1 is approved: a new version resting on it is refused until the province returns it.
    let status = to_province.push(push("16681", &v2)).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("approved"),
        "{}",
        status.message()
    );
    p.decide_plan(decide(pb::Outcome::Return)).await.unwrap();
    // A gap is still refused; the next version is taken.
    assert_eq!(
        to_province
            .push(push("16681", &v3))
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    to_province.push(push("16681", &v2)).await.unwrap();
    let held: Vec<u32> = everything(&mut p)
        .await
        .iter()
        .map(|p| p.id.as_ref().unwrap().version)
        .collect();
    assert_eq!(held, [1, 2]);
    province.stop().await.unwrap();
}

#[tokio::test]
async fn a_forwarded_approval_older_than_what_is_held_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let mut to_province = sync_client(&province).await;
    let approved = |mut plan: Plan| {
        plan.status = PlanStatus::Approved;
        plan.decision = Some(Decision {
            plan: plan.id.clone(),
            hash: plan.hash.clone().unwrap(),
            outcome: Outcome::Approve,
            reasons: vec![],
            decided_by: "412".into(),
            decided_at: chrono::Utc::now(),
        });
        plan
    };
    let (v1, v2) = (
        approved(version("16681", 1, "An")),
        approved(version("16681", 2, "Bình")),
    );
    to_province.push(push("412", &v2)).await.unwrap();
    let status = to_province.push(push("412", &v1)).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("not newer"),
        "{}",
        status.message()
    );
    // An approval said to come from another unit than the commune's approver is refused.
    let mut forged = approved(version("16690", 1, "Cúc"));
    forged.decision.as_mut().unwrap().decided_by = "40".into();
    assert_eq!(
        to_province
            .push(push("412", &forged))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    let mut p = client(&province).await;
    let held: Vec<(String, u32)> = everything(&mut p)
        .await
        .iter()
        .map(|p| {
            (
                p.id.as_ref().unwrap().unit.clone(),
                p.id.as_ref().unwrap().version,
            )
        })
        .collect();
    assert_eq!(held, [("16681".to_string(), 2)]);
    province.stop().await.unwrap();
}
