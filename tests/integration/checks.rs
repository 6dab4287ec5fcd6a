//! The province's checks through real nodes: what only the province can see, names compared
//! after NFC, checks on arrival, errors blocking approval, warnings accepted in writing,
//! returns citing findings, and the completeness report.

use std::time::Duration;

use quyhoach::{
    config::RawConfig,
    grpc::pb::{self, planning_client::PlanningClient},
};
use tonic::{transport::Channel, Code};
use unicode_normalization::UnicodeNormalization;

use crate::harness::*;

/// A district-level entry for the shared person (same national ID in every district).
pub(crate) fn shared(name: &str, position: &str, unit: &str) -> pb::Entry {
    let mut e = entry(900, name, position, unit);
    let c = e.cadre.as_mut().unwrap();
    c.current_positions = vec!["D.TP".into()];
    c.birth_date = "1982-01-15".into();
    e
}

/// Submits a district plan with the given entries (each voted 30 of 40 convened).
pub(crate) async fn district_plan(
    c: &mut PlanningClient<Channel>,
    unit: &str,
    entries: Vec<pb::Entry>,
) -> pb::Plan {
    c.create_draft(pb::CreateDraftRequest {
        unit: unit.into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    let mut tallies = Vec::new();
    for e in &entries {
        tallies.push(pb::Tally {
            national_id: e.cadre.as_ref().unwrap().national_id.clone(),
            position: e.position.clone(),
            yes: 30,
        });
        c.put_entry(pb::PutEntryRequest {
            unit: unit.into(),
            term: TERM.into(),
            entry: Some(e.clone()),
        })
        .await
        .unwrap();
    }
    let round = pb::BallotRound {
        body: pb::Body::ExecutiveCommittee.into(),
        date: "2025-04-10".into(),
        convened: 40,
        present: 38,
        ballots_issued: 38,
        valid_ballots: 38,
        tallies,
    };
    c.record_ballot_round(pb::RecordBallotRoundRequest {
        unit: unit.into(),
        term: TERM.into(),
        round: Some(round),
    })
    .await
    .unwrap();
    let plan = c
        .adopt_plan(pb::AdoptPlanRequest {
            unit: unit.into(),
            term: TERM.into(),
            adopted_on: "2025-04-15".into(),
            revision: None,
        })
        .await
        .unwrap()
        .into_inner();
    c.submit_plan(pb::SubmitPlanRequest {
        unit: unit.into(),
        term: TERM.into(),
        revision: None,
        hash: String::new(),
    })
    .await
    .unwrap();
    plan
}

async fn findings(c: &mut PlanningClient<Channel>, req: pb::CheckRequest) -> Vec<pb::Finding> {
    c.check(req).await.unwrap().into_inner().findings
}

fn rules_of(f: &[pb::Finding]) -> Vec<&str> {
    let mut r: Vec<&str> = f.iter().map(|f| f.rule.as_str()).collect();
    r.dedup();
    r
}

#[tokio::test]
async fn one_person_in_two_districts_is_found_only_at_the_province_even_in_nfd() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let vinh = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
    let do_luong = start(dir.path(), "427", Some(province.url()), "builtin:2024").await;
    let (mut a, mut b, mut p) = (
        client(&vinh).await,
        client(&do_luong).await,
        client(&province).await,
    );

    // Two district posts in each district: four at the same level, one more than R3 allows.
    let nfc = "Nguyễn Thị Ánh Tuyết";
    let nfd: String = nfc.nfd().collect();
    assert_ne!(nfd, nfc);
    district_plan(
        &mut a,
        "412",
        vec![
            shared(nfc, "D.PCT.UBND", "412"),
            shared(nfc, "D.TB.TC", "412"),
        ],
    )
    .await;
    district_plan(
        &mut b,
        "427",
        vec![
            shared(&nfd, "D.PCT.UBND", "427"),
            shared(&nfd, "D.TB.DV", "427"),
        ],
    )
    .await;
    wait_status(&mut p, "412", pb::PlanStatus::Received).await;
    wait_status(&mut p, "427", pb::PlanStatus::Received).await;

    // Each district sees only its own list: nothing to find there.
    assert!(findings(&mut a, pb::CheckRequest::default())
        .await
        .iter()
        .all(|f| f.rule != "R3"));
    let at_province = findings(
        &mut p,
        pb::CheckRequest {
            rules: vec!["R3".into(), "R21".into()],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        rules_of(&at_province),
        ["R3"],
        "the NFD spelling is the same person, not an R21 mismatch"
    );
    let r3 = &at_province[0];
    assert_eq!(r3.units, ["412", "427"]);
    assert_eq!(r3.person_name, nfc);
    assert!(r3.message_vi.contains("4 chức danh"), "{}", r3.message_vi);
    assert!(
        !r3.message_vi.contains("040080000900"),
        "no full national ID in messages"
    );

    // Filters: a rule, a subtree, a severity.
    assert!(findings(
        &mut p,
        pb::CheckRequest {
            rules: vec!["R1".into()],
            ..Default::default()
        }
    )
    .await
    .is_empty());
    let warnings = findings(
        &mut p,
        pb::CheckRequest {
            severity: pb::Severity::Warning.into(),
            ..Default::default()
        },
    )
    .await;
    assert!(warnings
        .iter()
        .all(|f| f.severity == pb::Severity::Warning as i32));
    let bad = p
        .check(pb::CheckRequest {
            rules: vec!["R99".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("rules[0]"), "{}", bad.message());
    for n in [vinh, do_luong, province] {
        n.stop().await.unwrap();
    }
}

#[tokio::test]
async fn errors_block_approval_warnings_need_a_justification_and_returns_cite_findings() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let vinh = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
    let (mut a, mut p) = (client(&vinh).await, client(&province).await);

    // A deputy chairman planned for an office head: R1, an error.
    let mut lower = shared("Võ Thị Kim Oanh", "D.TP", "412");
    lower.cadre.as_mut().unwrap().current_positions = vec!["D.PCT.UBND".into()];
    let v1 = district_plan(
        &mut a,
        "412",
        vec![lower, shared("Lê Hữu Phước", "D.PCT.UBND", "412")],
    )
    .await;
    let held = wait_status(&mut p, "412", pb::PlanStatus::Received).await;

    // Checked on arrival, and the findings stored against the version.
    let stored = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let f = findings(
                &mut p,
                pb::CheckRequest {
                    plan: held.id.clone(),
                    stored: true,
                    ..Default::default()
                },
            )
            .await;
            if !f.is_empty() {
                return f;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("findings stored on arrival");
    assert!(stored.iter().any(|f| f.rule == "R1"));

    let decide = |outcome: pb::Outcome, cite: Vec<String>| pb::DecidePlanRequest {
        plan: held.id.clone(),
        hash: v1.hash.clone(),
        outcome: outcome.into(),
        reasons: vec![],
        cite_findings: cite,
        cms_signature: Vec::new(),
    };
    let before = everything(&mut p).await;
    let blocked = p
        .decide_plan(decide(pb::Outcome::Approve, vec![]))
        .await
        .unwrap_err();
    assert_eq!(blocked.code(), Code::FailedPrecondition);
    assert!(blocked.message().contains("R1"), "{}", blocked.message());
    assert_eq!(
        everything(&mut p).await,
        before,
        "a blocked approval changes nothing"
    );

    // An error cannot be accepted.
    let fresh = findings(
        &mut p,
        pb::CheckRequest {
            plan: held.id.clone(),
            ..Default::default()
        },
    )
    .await;
    let r1 = fresh.iter().find(|f| f.rule == "R1").unwrap();
    let refused = p
        .accept_warning(pb::AcceptWarningRequest {
            plan: held.id.clone(),
            finding: r1.id.clone(),
            justification: "Đồng ý".into(),
            accepted_by: "Trưởng ban".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);

    // A return cites the finding: its rule and message become the reason.
    let d = p
        .decide_plan(decide(pb::Outcome::Return, vec![r1.id.clone()]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.reasons.len(), 1);
    assert!(
        d.reasons[0].starts_with(&format!("[R1 {}]", r1.id)),
        "{}",
        d.reasons[0]
    );
    let unknown = p
        .decide_plan(decide(pb::Outcome::Return, vec!["nope".into()]))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    for n in [vinh, province] {
        n.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_warning_accepted_in_writing_lets_the_plan_through_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    // The approval falls under QĐ 377, which sets no structure figure of its own: this province
    // sets women ≥ 25 % for it too, so that R8's warning outlives the approval.
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[qd377]\nmin_women_ratio = 0.25\n").unwrap();
    let province_config = || RawConfig {
        rules_file: Some(rules.clone()),
        ..node_config(dir.path(), "40", None, "builtin:2024")
    };
    let province = start_with(province_config()).await;
    let vinh = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
    let (mut a, mut p) = (client(&vinh).await, client(&province).await);
    // Two men, no woman: R8 (women below 25%) is a warning.
    let mut m1 = shared("Lê Hữu Phước", "D.PCT.UBND", "412");
    m1.cadre.as_mut().unwrap().gender = pb::Gender::Male.into();
    let mut m2 = entry(901, "Đặng Văn Lâm", "D.TB.TC", "412");
    let c = m2.cadre.as_mut().unwrap();
    (c.gender, c.current_positions, c.birth_date) = (
        pb::Gender::Male.into(),
        vec!["D.TP".into()],
        "1990-02-02".into(),
    );
    let plan = district_plan(&mut a, "412", vec![m1, m2]).await;
    let held = wait_status(&mut p, "412", pb::PlanStatus::Received).await;
    let found = findings(
        &mut p,
        pb::CheckRequest {
            plan: held.id.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(rules_of(&found), ["R8"], "{found:?}");
    assert!(found
        .iter()
        .all(|f| f.severity == pb::Severity::Warning as i32));

    let approve = pb::DecidePlanRequest {
        plan: held.id.clone(),
        hash: plan.hash.clone(),
        outcome: pb::Outcome::Approve.into(),
        reasons: vec![],
        cite_findings: vec![],
        cms_signature: Vec::new(),
    };
    let open = p.decide_plan(approve.clone()).await.unwrap_err();
    assert_eq!(open.code(), Code::FailedPrecondition);
    assert!(open.message().contains(&found[0].id), "{}", open.message());
    let empty = p
        .accept_warning(pb::AcceptWarningRequest {
            plan: held.id.clone(),
            finding: found[0].id.clone(),
            justification: " ".into(),
            accepted_by: "Trưởng ban".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(empty.message().contains("justification"));
    for f in &found {
        let a = p
            .accept_warning(pb::AcceptWarningRequest {
                plan: held.id.clone(),
                finding: f.id.clone(),
                justification: "Huyện đang đào tạo nguồn cán bộ nữ".into(),
                accepted_by: "Nguyễn Văn Ban".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(a.by.contains("Nguyễn Văn Ban") && a.by.contains("40"));
    }
    p.decide_plan(approve).await.unwrap();
    let kept = findings(
        &mut p,
        pb::CheckRequest {
            rules: vec!["R8".into()],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        kept[0].acceptance.as_ref().unwrap().justification,
        "Huyện đang đào tạo nguồn cán bộ nữ"
    );
    for n in [vinh, province] {
        n.stop().await.unwrap();
    }
    // Kept across a restart: the province reads its acceptances back from its store.
    let province = start_with(province_config()).await;
    let mut p = client(&province).await;
    let again = findings(
        &mut p,
        pb::CheckRequest {
            rules: vec!["R8".into()],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        again[0].acceptance.as_ref().unwrap().justification,
        "Huyện đang đào tạo nguồn cán bộ nữ"
    );
    province.stop().await.unwrap();
}

#[tokio::test]
async fn completeness_lists_the_units_that_have_not_submitted() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let vinh = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
    let mut a = client(&vinh).await;
    let mut p = client(&province).await;
    district_plan(
        &mut a,
        "412",
        vec![shared("Lê Hữu Phước", "D.PCT.UBND", "412")],
    )
    .await;
    wait_status(&mut p, "412", pb::PlanStatus::Received).await;
    let c = p
        .completeness(pb::CompletenessRequest {
            under: "40".into(),
            term: TERM.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!c.missing.contains(&"412".to_string()));
    assert!(c.missing.contains(&"427".to_string()));
    assert!(
        c.missing.contains(&"16681".to_string()),
        "communes count too"
    );
    assert!(!c.missing.contains(&"40".to_string()));
    assert!(c.overdue.is_empty(), "received today: nothing overdue");
    for n in [vinh, province] {
        n.stop().await.unwrap();
    }
}
