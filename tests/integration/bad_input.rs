//! Every kind of bad input gets the right status code, a message naming the field, and leaves
//! the store exactly as it was.

use quyhoach::grpc::pb;
use tonic::Code;

use crate::harness::*;

/// Asserts that `result` failed with `code` and a message naming `field`.
fn refused<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, field: &str) {
    let status = result.expect_err("the request must be refused");
    assert_eq!(status.code(), code, "{}", status.message());
    assert!(
        status.message().contains(field),
        "message {:?} does not name {field}",
        status.message()
    );
}

fn put(unit: &str, e: pb::Entry) -> pb::PutEntryRequest {
    pb::PutEntryRequest {
        unit: unit.into(),
        term: TERM.into(),
        entry: Some(e),
    }
}

#[tokio::test]
async fn bad_entries_and_ballots_are_refused_and_change_nothing() {
    let tree = Tree::start().await;
    let mut c = client(&tree.commune).await;
    c.create_draft(pb::CreateDraftRequest {
        unit: "16681".into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    c.put_entry(put("16681", entry(1, "Nguyễn Thị Hoa", "C.BT", "16681")))
        .await
        .unwrap();
    let before = everything(&mut c).await;

    refused(
        c.create_draft(pb::CreateDraftRequest {
            unit: "99999".into(),
            term: TERM.into(),
            from_sources: false,
        })
        .await,
        Code::NotFound,
        "unit",
    );
    refused(
        c.create_draft(pb::CreateDraftRequest {
            unit: "16681".into(),
            term: "2040-2045".into(),
            from_sources: false,
        })
        .await,
        Code::NotFound,
        "term",
    );
    refused(
        c.put_entry(put("16681", entry(2, "Lê Văn Tám", "C.XYZ", "16681")))
            .await,
        Code::NotFound,
        "entry.position",
    );
    refused(
        c.put_entry(put("16681", entry(2, "Lê Văn Tám", "D.BT", "16681")))
            .await,
        Code::InvalidArgument,
        "entry.position",
    );
    refused(
        c.put_entry(put("16690", entry(2, "Lê Văn Tám", "C.BT", "16690")))
            .await,
        Code::PermissionDenied,
        "unit",
    );

    let mut empty = entry(2, "   ", "C.BT", "16681");
    refused(
        c.put_entry(put("16681", empty.clone())).await,
        Code::InvalidArgument,
        "entry.cadre.full_name",
    );
    empty.cadre.as_mut().unwrap().full_name = "Lê Văn Tám".into();
    empty.cadre.as_mut().unwrap().birth_date = "1980-02-30".into();
    refused(
        c.put_entry(put("16681", empty.clone())).await,
        Code::InvalidArgument,
        "entry.cadre.birth_date",
    );
    let mut short_id = entry(2, "Lê Văn Tám", "C.BT", "16681");
    short_id.cadre.as_mut().unwrap().national_id = "04008000001".into();
    refused(
        c.put_entry(put("16681", short_id)).await,
        Code::InvalidArgument,
        "entry.cadre.national_id",
    );
    let mut no_gender = entry(2, "Lê Văn Tám", "C.BT", "16681");
    no_gender.cadre.as_mut().unwrap().gender = 0;
    refused(
        c.put_entry(put("16681", no_gender)).await,
        Code::InvalidArgument,
        "entry.cadre.gender",
    );
    let mut unknown_unit = entry(2, "Lê Văn Tám", "C.BT", "16681");
    unknown_unit.cadre.as_mut().unwrap().current_unit = "00000".into();
    refused(
        c.put_entry(put("16681", unknown_unit)).await,
        Code::NotFound,
        "entry.cadre.current_unit",
    );

    let ballot = |round: pb::BallotRound| pb::RecordBallotRoundRequest {
        unit: "16681".into(),
        term: TERM.into(),
        round: Some(round),
    };
    let mut too_many_votes = round(&[(1, "C.BT", 28)]);
    too_many_votes.valid_ballots = 27;
    refused(
        c.record_ballot_round(ballot(too_many_votes)).await,
        Code::InvalidArgument,
        "round.tallies[0].yes",
    );
    let mut crowd = round(&[(1, "C.BT", 20)]);
    crowd.present = 31;
    refused(
        c.record_ballot_round(ballot(crowd)).await,
        Code::InvalidArgument,
        "round.present",
    );
    // R19 quorum: 19 of 30 is below 2/3.
    let mut thin = round(&[(1, "C.BT", 15)]);
    (thin.present, thin.ballots_issued, thin.valid_ballots) = (19, 19, 19);
    let status = c.record_ballot_round(ballot(thin)).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("R19") && status.message().contains("round.present"),
        "{}",
        status.message()
    );
    let mut future = round(&[(1, "C.BT", 20)]);
    future.date = "2099-01-01".into();
    refused(
        c.record_ballot_round(ballot(future)).await,
        Code::InvalidArgument,
        "round.date",
    );

    assert_eq!(
        everything(&mut c).await,
        before,
        "a refused request changed the store"
    );
    tree.stop().await;
}

#[tokio::test]
async fn submitted_versions_cannot_be_edited_and_wrong_nodes_cannot_decide_or_receive() {
    let tree = Tree::start().await;
    let mut c = client(&tree.commune).await;
    let adopted = adopted_plan(&mut c, "16681", &[(1, "Nguyễn Thị Hoa", "C.BT")]).await;
    let mut district = client(&tree.district).await;
    submit_until_received(&mut c, "16681", &mut district).await;
    let mut province = client(&tree.province).await;
    let commune_before = everything(&mut c).await;
    let district_before = everything(&mut district).await;
    let province_before = everything(&mut province).await;

    // An edit to the submitted version.
    refused(
        c.put_entry(put("16681", entry(2, "Lê Văn Tám", "C.BT", "16681")))
            .await,
        Code::FailedPrecondition,
        "term",
    );
    refused(
        c.adopt_plan(pb::AdoptPlanRequest {
            unit: "16681".into(),
            term: TERM.into(),
            adopted_on: String::new(),
            revision: None,
        })
        .await,
        Code::FailedPrecondition,
        "term",
    );
    // The province does not approve commune plans in the three-level structure.
    let decide = |hash: &str, outcome: pb::Outcome| pb::DecidePlanRequest {
        cite_findings: vec![],
        plan: Some(id("16681", 1)),
        hash: hash.into(),
        outcome: outcome.into(),
        reasons: vec![],
        cms_signature: Vec::new(),
    };
    refused(
        province
            .decide_plan(decide(&adopted.hash, pb::Outcome::Approve))
            .await,
        Code::PermissionDenied,
        "plan.unit",
    );
    // A decision on content other than held, and a return without reasons.
    refused(
        district
            .decide_plan(decide("00ff", pb::Outcome::Approve))
            .await,
        Code::FailedPrecondition,
        "hash",
    );
    refused(
        district
            .decide_plan(decide(&adopted.hash, pb::Outcome::Return))
            .await,
        Code::InvalidArgument,
        "reasons",
    );

    // A submission to a node that is not the approver: the commune pushes straight to the province.
    let mut plan = adopted.clone();
    plan.status = pb::PlanStatus::Submitted.into();
    let mut to_province = sync_client(&tree.province).await;
    refused(
        to_province
            .push(pb::PushRequest {
                from_unit: "16681".into(),
                plan: Some(plan.clone()),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "from_unit",
    );
    // The district forwards a commune plan without an approval.
    refused(
        to_province
            .push(pb::PushRequest {
                from_unit: "412".into(),
                plan: Some(plan.clone()),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "plan.decision",
    );
    // A district pushes for a commune of another district.
    let mut other = plan.clone();
    other.id = Some(id("17617", 1));
    refused(
        to_province
            .push(pb::PushRequest {
                from_unit: "412".into(),
                plan: Some(other),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "plan.id.unit",
    );
    // Content that does not match its hash.
    let mut tampered = plan.clone();
    tampered.entries[0].cadre.as_mut().unwrap().full_name = "Nguyễn Thị Hòa".into();
    let mut to_district = sync_client(&tree.district).await;
    refused(
        to_district
            .push(pb::PushRequest {
                from_unit: "16681".into(),
                plan: Some(tampered),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "plan.hash",
    );

    assert_eq!(everything(&mut c).await, commune_before);
    assert_eq!(everything(&mut district).await, district_before);
    assert_eq!(everything(&mut province).await, province_before);
    tree.stop().await;
}

#[tokio::test]
async fn the_same_push_twice_returns_the_first_receipt_and_other_content_is_refused() {
    let tree = Tree::start().await;
    let mut c = client(&tree.commune).await;
    let adopted = adopted_plan(&mut c, "16681", &[(1, "Nguyễn Thị Hoa", "C.BT")]).await;
    let mut district = client(&tree.district).await;
    submit_until_received(&mut c, "16681", &mut district).await;
    let before = everything(&mut district).await;

    let mut plan = adopted.clone();
    plan.status = pb::PlanStatus::Submitted.into();
    let mut to_district = sync_client(&tree.district).await;
    let again = to_district
        .push(pb::PushRequest {
            from_unit: "16681".into(),
            plan: Some(plan.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(again.duplicate);
    assert_eq!(again.hash, adopted.hash);

    // Same identity, other content (with a hash that matches that content): refused, both hashes named.
    let mut other = plan.clone();
    other.entries[0].cadre.as_mut().unwrap().full_name = "Nguyễn Thị Hòa".into();
    let core = quyhoach::grpc::convert::plan_from_pb("plan", other.clone()).unwrap();
    other.hash = core.content_hash();
    let status = to_district
        .push(pb::PushRequest {
            from_unit: "16681".into(),
            plan: Some(other.clone()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(
        status.message().contains(&adopted.hash) && status.message().contains(&other.hash),
        "{}",
        status.message()
    );
    assert_eq!(everything(&mut district).await, before);
    tree.stop().await;
}
