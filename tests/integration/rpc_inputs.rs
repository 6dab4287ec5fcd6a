//! Hostile inputs to the Planning service's calls other than Push (issue 10's classes, new
//! instances): over-long text in every text field, repeated fields past their bound. A refused
//! call answers with a clear status whose message names the field, and changes nothing.

use std::time::Duration;

use quyhoach::grpc::pb;
use tonic::Code;

use crate::{
    checks::{district_plan, shared},
    harness::*,
};

/// A refusal a client can read: the expected kind of code, a message naming `field`, and no
/// longer than a line or two (an echoed megabyte is no message, and does not fit a header).
fn clear(status: &tonic::Status, codes: &[Code], field: &str) {
    assert!(
        codes.contains(&status.code()),
        "{field}: {:?} {}",
        status.code(),
        &status.message()[..status.message().len().min(300)]
    );
    assert!(
        status.message().len() <= 2_000,
        "{field}: a message of {} bytes",
        status.message().len()
    );
    assert!(
        status.message().contains(field),
        "{field}: {}",
        status.message()
    );
}

#[tokio::test]
async fn a_200_kb_value_in_any_text_field_is_refused_clearly_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let vinh = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
    let mut c = client(&vinh).await;
    c.create_draft(pb::CreateDraftRequest {
        unit: "412".into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    let before = everything(&mut c).await;
    let huge = "9".repeat(200_000);
    let refused = [
        Code::InvalidArgument,
        Code::NotFound,
        Code::PermissionDenied,
    ];

    let e = c
        .create_draft(pb::CreateDraftRequest {
            unit: huge.clone(),
            term: TERM.into(),
            from_sources: false,
        })
        .await
        .map(|_| ())
        .expect_err("accepted");
    clear(&e, &refused, "unit");
    let e = c
        .create_draft(pb::CreateDraftRequest {
            unit: "412".into(),
            term: huge.clone(),
            from_sources: false,
        })
        .await
        .map(|_| ())
        .expect_err("accepted");
    clear(&e, &refused, "term");
    let mut long_id = shared("Lê Hữu Phước", "D.PCT.UBND", "412");
    long_id.cadre.as_mut().unwrap().national_id = huge.clone();
    let e = c
        .put_entry(pb::PutEntryRequest {
            unit: "412".into(),
            term: TERM.into(),
            entry: Some(long_id),
        })
        .await
        .map(|_| ())
        .expect_err("accepted");
    clear(&e, &refused, "national_id");
    let mut long_position = shared("Lê Hữu Phước", "D.PCT.UBND", "412");
    long_position.position = huge.clone();
    let e = c
        .put_entry(pb::PutEntryRequest {
            unit: "412".into(),
            term: TERM.into(),
            entry: Some(long_position),
        })
        .await
        .map(|_| ())
        .expect_err("accepted");
    clear(&e, &refused, "position");
    let e = c
        .remove_entry(pb::RemoveEntryRequest {
            unit: "412".into(),
            term: TERM.into(),
            national_id: "040082000900".into(),
            position: huge.clone(),
        })
        .await
        .map(|_| ())
        .expect_err("accepted");
    clear(&e, &refused, "position");
    let e = c
        .adopt_plan(pb::AdoptPlanRequest {
            unit: "412".into(),
            term: TERM.into(),
            adopted_on: huge.clone(),
            revision: None,
        })
        .await
        .map(|_| ())
        .expect_err("accepted");
    clear(
        &e,
        &[Code::InvalidArgument, Code::FailedPrecondition],
        "adopted_on",
    );
    let e = c
        .get_plan(pb::GetPlanRequest {
            unit: huge.clone(),
            term: TERM.into(),
            version: 0,
        })
        .await
        .map(|_| ())
        .expect_err("accepted");
    clear(&e, &refused, "unit");
    let e = c
        .decide_plan(pb::DecidePlanRequest {
            plan: Some(id("412", 1)),
            hash: huge.clone(),
            outcome: pb::Outcome::Return.into(),
            reasons: vec!["Thiếu hồ sơ".into()],
            cite_findings: vec![],
            cms_signature: Vec::new(),
        })
        .await
        .map(|_| ())
        .expect_err("accepted");
    assert!(
        e.message().len() <= 2_000,
        "decide: a message of {} bytes",
        e.message().len()
    );
    let e = c
        .accept_warning(pb::AcceptWarningRequest {
            plan: Some(id("412", 1)),
            finding: huge.clone(),
            justification: "Đồng ý".into(),
            accepted_by: "Trưởng ban".into(),
        })
        .await
        .map(|_| ())
        .expect_err("accepted");
    assert!(
        e.message().len() <= 2_000,
        "accept_warning: a message of {} bytes",
        e.message().len()
    );
    assert_eq!(everything(&mut c).await, before, "a refused call wrote");
    for n in [vinh, province] {
        n.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_return_cites_at_most_twenty_distinct_findings() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let vinh = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
    let (mut a, mut p) = (client(&vinh).await, client(&province).await);
    let mut lower = shared("Võ Thị Kim Oanh", "D.TP", "412");
    lower.cadre.as_mut().unwrap().current_positions = vec!["D.PCT.UBND".into()];
    let v1 = district_plan(&mut a, "412", vec![lower]).await;
    let held = wait_status(&mut p, "412", pb::PlanStatus::Received).await;
    let finding = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let f = p
                .check(pb::CheckRequest {
                    plan: held.id.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .findings;
            if let Some(f) = f.into_iter().find(|f| f.rule == "R1") {
                return f.id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("an R1 finding");
    let decide = |cite: Vec<String>| pb::DecidePlanRequest {
        plan: held.id.clone(),
        hash: v1.hash.clone(),
        outcome: pb::Outcome::Return.into(),
        reasons: vec![],
        cite_findings: cite,
        cms_signature: Vec::new(),
    };
    let before = everything(&mut p).await;
    // One finding cited ten thousand times made a decision of ten thousand reasons, stored
    // and sent down to the district.
    let e = p
        .decide_plan(decide(vec![finding.clone(); 10_000]))
        .await
        .map(|_| ())
        .expect_err("accepted");
    clear(&e, &[Code::InvalidArgument], "cite_findings");
    let e = p
        .decide_plan(decide(vec![finding.clone(); 21]))
        .await
        .map(|_| ())
        .expect_err("accepted");
    clear(&e, &[Code::InvalidArgument], "cite_findings");
    let e = p
        .decide_plan(decide(vec![finding.clone(), finding.clone()]))
        .await
        .map(|_| ())
        .expect_err("accepted");
    clear(&e, &[Code::InvalidArgument], "cite_findings[1]");
    let e = p
        .decide_plan(decide(vec!["x".repeat(100_000)]))
        .await
        .map(|_| ())
        .expect_err("accepted");
    clear(
        &e,
        &[Code::InvalidArgument, Code::NotFound],
        "cite_findings[0]",
    );
    // A bad reason is named by its place in the request, blank ones before it counted.
    let mut blank_first = decide(vec![]);
    blank_first.reasons = vec![" ".into(), "Thiếu hồ sơ".into(), "Sai\u{202E}tên".into()];
    let e = p
        .decide_plan(blank_first)
        .await
        .map(|_| ())
        .expect_err("accepted");
    clear(&e, &[Code::InvalidArgument], "reasons[2]");
    assert_eq!(everything(&mut p).await, before, "a refused return wrote");
    let d = p
        .decide_plan(decide(vec![finding.clone()]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.reasons.len(), 1, "{:?}", d.reasons);
    for n in [vinh, province] {
        n.stop().await.unwrap();
    }
}
