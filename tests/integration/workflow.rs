//! The whole flow across real nodes: submit, approve, travel upward, return and resubmit,
//! the two-level structure, ballots and the consolidated list.

use quyhoach::grpc::pb;

use crate::harness::*;

#[tokio::test]
async fn commune_plan_approved_by_district_reaches_province_with_same_version_and_hash() {
    let tree = Tree::start().await;
    let mut commune = client(&tree.commune).await;
    let adopted = adopted_plan(
        &mut commune,
        "16681",
        &[
            (1, "Nguyễn Thị Hoa", "C.BT"),
            (2, "Lê Văn Tám", "C.CT.UBND"),
        ],
    )
    .await;
    let mut district = client(&tree.district).await;
    let (submitted, received) = submit_until_received(&mut commune, "16681", &mut district).await;
    assert_eq!(submitted.approver, "412");
    assert_eq!(received.hash, adopted.hash);
    district
        .decide_plan(pb::DecidePlanRequest {
            cite_findings: vec![],
            plan: received.id.clone(),
            hash: received.hash.clone(),
            outcome: pb::Outcome::Approve.into(),
            reasons: vec![],
            cms_signature: Vec::new(),
        })
        .await
        .unwrap();

    let mut province = client(&tree.province).await;
    let at_province = wait_status(&mut province, "16681", pb::PlanStatus::Approved).await;
    assert_eq!(at_province.id, adopted.id);
    assert_eq!(at_province.hash, adopted.hash);
    let full = province
        .get_plan(pb::GetPlanRequest {
            unit: "16681".into(),
            term: TERM.into(),
            version: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.entries, adopted.entries);
    assert_eq!(full.decision.unwrap().decided_by, "412");

    // The decision comes back down to the commune.
    let own = wait_status(&mut commune, "16681", pb::PlanStatus::Approved).await;
    assert_eq!(own.hash, adopted.hash);
    tree.stop().await;
}

#[tokio::test]
async fn returned_plan_comes_back_with_reasons_and_is_resubmitted_as_a_new_version() {
    let tree = Tree::start().await;
    let mut commune = client(&tree.commune).await;
    let v1 = adopted_plan(&mut commune, "16681", &[(1, "Nguyễn Thị Hoa", "C.BT")]).await;
    let mut district = client(&tree.district).await;
    submit_until_received(&mut commune, "16681", &mut district).await;
    district
        .decide_plan(pb::DecidePlanRequest {
            cite_findings: vec![],
            plan: Some(id("16681", 1)),
            hash: v1.hash.clone(),
            outcome: pb::Outcome::Return.into(),
            reasons: vec!["Thiếu nữ cán bộ trẻ (R8)".into()],
            cms_signature: Vec::new(),
        })
        .await
        .unwrap();

    wait_status(&mut commune, "16681", pb::PlanStatus::Returned).await;
    let returned = commune
        .get_plan(pb::GetPlanRequest {
            unit: "16681".into(),
            term: TERM.into(),
            version: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        returned.decision.unwrap().reasons,
        ["Thiếu nữ cán bộ trẻ (R8)"]
    );

    let v2 = commune
        .create_draft(pb::CreateDraftRequest {
            unit: "16681".into(),
            term: TERM.into(),
            from_sources: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v2.id.as_ref().unwrap().version, 2);
    assert_eq!(v2.base_version, 1);
    assert_eq!(
        v2.entries, v1.entries,
        "a new version starts from the returned one"
    );
    commune
        .put_entry(pb::PutEntryRequest {
            unit: "16681".into(),
            term: TERM.into(),
            entry: Some(entry(3, "Đỗ Thị Mai", "C.BT", "16681")),
        })
        .await
        .unwrap();
    let v2 = commune
        .adopt_plan(pb::AdoptPlanRequest {
            unit: "16681".into(),
            term: TERM.into(),
            adopted_on: String::new(),
            revision: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(v2.hash, v1.hash);
    let (_, received) = submit_until_received(&mut commune, "16681", &mut district).await;
    assert_eq!(received.id, Some(id("16681", 2)));
    assert_eq!(received.hash, v2.hash);
    tree.stop().await;
}

#[tokio::test]
async fn two_level_structure_commune_is_approved_directly_by_the_province() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2025").await;
    let commune = start(dir.path(), "16681", Some(province.url()), "builtin:2025").await;
    let mut c = client(&commune).await;
    let adopted = adopted_plan(&mut c, "16681", &[(1, "Nguyễn Thị Hoa", "C.PCT.UBND")]).await;
    let mut p = client(&province).await;
    let (submitted, received) = submit_until_received(&mut c, "16681", &mut p).await;
    assert_eq!(submitted.approver, "40");
    assert_eq!(received.hash, adopted.hash);
    p.decide_plan(pb::DecidePlanRequest {
        cite_findings: vec![],
        plan: received.id,
        hash: received.hash,
        outcome: pb::Outcome::Approve.into(),
        reasons: vec![],
        cms_signature: Vec::new(),
    })
    .await
    .unwrap();
    wait_status(&mut c, "16681", pb::PlanStatus::Approved).await;
    commune.stop().await.unwrap();
    province.stop().await.unwrap();
}

#[tokio::test]
async fn ballot_round_reports_who_passed_at_the_fifty_percent_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let district = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
    let node = start(dir.path(), "16681", Some(district.url()), "builtin:2024").await;
    let mut c = client(&node).await;
    c.create_draft(pb::CreateDraftRequest {
        unit: "16681".into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    // 30 convened: 15 is exactly half and fails, 16 passes.
    let r = c
        .record_ballot_round(pb::RecordBallotRoundRequest {
            unit: "16681".into(),
            term: TERM.into(),
            round: Some(round(&[(1, "C.BT", 15), (2, "C.BT", 16)])),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.denominator, 30);
    assert_eq!(r.round_number, 1);
    let passed: Vec<bool> = r.results.iter().map(|t| t.passed).collect();
    assert_eq!(passed, [false, true]);
    for n in [node, district, province] {
        n.stop().await.unwrap();
    }
}

#[tokio::test]
async fn consolidated_list_sorts_the_vietnamese_way_and_searches_without_diacritics() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let mut p = client(&province).await;
    let names = [
        (1, "Lê Văn Đạt", "P.BT"),
        (2, "Trần Thị An", "P.BT"),
        (3, "Nguyễn Văn Dũng", "P.CT.UBND"),
        (4, "Phạm Thị Ánh", "P.CT.UBND"),
    ];
    p.create_draft(pb::CreateDraftRequest {
        unit: "40".into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    for &(n, name, position) in &names {
        let mut e = entry(n, name, position, "40");
        e.cadre.as_mut().unwrap().current_positions = vec!["P.PCT.UBND".into()];
        p.put_entry(pb::PutEntryRequest {
            unit: "40".into(),
            term: TERM.into(),
            entry: Some(e),
        })
        .await
        .unwrap();
    }
    p.adopt_plan(pb::AdoptPlanRequest {
        unit: "40".into(),
        term: TERM.into(),
        adopted_on: String::new(),
        revision: None,
    })
    .await
    .unwrap();
    let list = p
        .consolidated(pb::ConsolidatedRequest::default())
        .await
        .unwrap()
        .into_inner()
        .entries;
    let order: Vec<&str> = list.iter().map(|e| e.full_name.as_str()).collect();
    assert_eq!(
        order,
        [
            "Trần Thị An",
            "Phạm Thị Ánh",
            "Nguyễn Văn Dũng",
            "Lê Văn Đạt"
        ]
    );
    assert!(list.iter().all(
        |e| e.national_id_masked.starts_with('…') && e.national_id_masked.chars().count() == 5
    ));

    let found = p
        .consolidated(pb::ConsolidatedRequest {
            name: "nguyen van dung".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].full_name, "Nguyễn Văn Dũng");
    let by_position = p
        .consolidated(pb::ConsolidatedRequest {
            position: "P.BT".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(by_position.len(), 2);
    province.stop().await.unwrap();
}

#[tokio::test]
async fn the_demo_runs_the_whole_flow_and_reports_exactly_its_deliberate_breaks() {
    let outcome = quyhoach::demo::run(quyhoach::demo::DemoOptions::default(), &mut std::io::sink())
        .await
        .unwrap();
    let status = |unit: &str| {
        let p = outcome
            .province_plans
            .iter()
            .find(|p| p.id.as_ref().unwrap().unit == unit)
            .unwrap();
        pb::PlanStatus::try_from(p.status).unwrap()
    };
    // The communes' plans were approved by their districts and travelled up.
    for commune in ["16681", "16690", "17617", "17623"] {
        assert_eq!(status(commune), pb::PlanStatus::Approved, "{commune}");
    }
    // 17623 shares no network with its district: its push, the receipt and the decision
    // travelled as bundle files through its folder, and its plan reached the province.
    let carried: Vec<&str> = outcome
        .carried
        .iter()
        .map(|f| f.split('-').next().unwrap())
        .collect();
    assert_eq!(
        carried,
        ["up/push", "down/receipt", "down/decisions"],
        "{:?}",
        outcome.carried
    );
    assert!(
        outcome.carried.iter().all(|f| f.contains("17623")),
        "{:?}",
        outcome.carried
    );
    // The districts' plans break R1, R3 and R21: the province returned them.
    assert_eq!(status("412"), pb::PlanStatus::Returned);
    assert_eq!(status("427"), pb::PlanStatus::Returned);
    assert_eq!(outcome.consolidated.len(), 79);
    let mut rules: Vec<&str> = outcome.findings.iter().map(|f| f.rule.as_str()).collect();
    rules.dedup();
    assert_eq!(rules, ["R1", "R2", "R3", "R6", "R19", "R21"]);
    let r3 = outcome.findings.iter().find(|f| f.rule == "R3").unwrap();
    assert_eq!(r3.units, ["412", "427"], "R3 across two districts");

    // The second act: reorganised to two levels on 1 July 2025.
    let act = outcome.second_act.expect("the demo runs its second act");
    let fate = |unit: &str| {
        act.dry_run
            .plans
            .iter()
            .find(|f| f.plan.as_ref().unwrap().unit == unit)
            .unwrap_or_else(|| panic!("no fate for {unit}"))
    };
    assert_eq!(fate("16690").fate, "pending");
    assert_eq!(fate("16690").pending_at, "412");
    assert_eq!(fate("16690").decided_by, "40");
    assert_eq!(fate("16681").fate, "source");
    assert_eq!(fate("40").fate, "stays");
    // 16690's version pending at the abolished district reached the province and was decided.
    let rerouted = act.rerouted.id.clone().unwrap();
    assert_eq!(rerouted.version, 2);
    assert_eq!(act.decided_at_owner.id, act.rerouted.id);
    assert!(
        [
            pb::PlanStatus::Approved as i32,
            pb::PlanStatus::Returned as i32
        ]
        .contains(&act.decided_at_owner.status),
        "{:?}",
        act.decided_at_owner
    );
    // The new commune drew its first draft from old Phường Quang Trung's approved list.
    let drafted = act.drafted.id.clone().unwrap();
    assert_eq!((drafted.unit.as_str(), drafted.version), ("16681", 2));
    assert!(!act.drafted.entries.is_empty());
    for e in &act.drafted.entries {
        let from = e.origin.as_ref().unwrap().plan.clone().unwrap();
        assert_eq!((from.unit.as_str(), from.version), ("16681", 1));
    }
    // Both periods: the 2024 lists under their names of then.
    let name = |unit: &str| {
        act.consolidated
            .iter()
            .find(|e| e.unit == unit)
            .map(|e| e.unit_name.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        name("16681"),
        "Phường Quang Trung (Thành phố Vinh, 2024; now part of Phường Thành Vinh)"
    );
    assert_eq!(
        name("17617"),
        "Thị trấn Đô Lương (Huyện Đô Lương, 2024; now part of Xã Đô Lương)"
    );
    assert_eq!(name("40"), "Tỉnh Nghệ An", "the province went on unchanged");
}
