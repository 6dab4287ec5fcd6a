//! The ruleset chosen by decision date, through a real province node (issue 24): the same list
//! adopted on 7 October 2025 is judged by Quy định 50 and on 9 October 2025 by Quy định 377,
//! and a record the 2025 rules refuse is refused over gRPC naming the field.

use quyhoach::grpc::pb;
use tonic::Code;

use crate::harness::*;

/// Three men planned for director of a provincial department; the first was warned on
/// 2024-01-10, announced 2024-01-20.
fn the_list() -> Vec<pb::Entry> {
    (1..=3)
        .map(|n| {
            let mut e = province_entry(n, &format!("Phạm Văn Số {n}"));
            let c = e.cadre.as_mut().unwrap();
            c.gender = pb::Gender::Male.into();
            if n == 1 {
                c.discipline = vec![pb::Discipline {
                    kind: pb::DisciplineKind::Warning.into(),
                    decided_on: "2024-01-10".into(),
                    announced_on: "2024-01-20".into(),
                    ..Default::default()
                }];
            }
            e
        })
        .collect()
}

/// The findings of R8 and R14 of the province's own list adopted on `day`, from its Check RPC.
async fn findings_when_adopted_on(day: &str) -> Vec<pb::Finding> {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let mut c = client(&province).await;
    draft_with(&mut c, "40", the_list()).await;
    c.adopt_plan(pb::AdoptPlanRequest {
        unit: "40".into(),
        term: TERM.into(),
        adopted_on: day.into(),
        revision: None,
    })
    .await
    .unwrap();
    let found = c
        .check(pb::CheckRequest {
            rules: vec!["R8".into(), "R14".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .findings;
    province.stop().await.unwrap();
    found
}

#[tokio::test]
async fn the_same_list_is_judged_by_qd50_on_7_october_and_by_qd377_on_9_october_2025() {
    let before = findings_when_adopted_on("2025-10-07").await;
    let rules: Vec<&str> = before.iter().map(|f| f.rule.as_str()).collect();
    // QĐ 50: no woman of three (target 25 %), and the warning bars 30 months from its decision.
    assert_eq!(rules, ["R8", "R14"], "{before:#?}");
    assert!(
        before[0].message_vi.contains("cán bộ nữ") && before[0].message_vi.contains("QĐ 50-QĐ/TW")
    );
    assert!(
        before[1].message_en.contains("30-month bar"),
        "{}",
        before[1].message_en
    );
    assert!(before[1].message_en.contains("QĐ 50"));
    // QĐ 377: no structure figure unless the province sets one, and the warning stopped
    // barring 12 months after its announcement.
    let after = findings_when_adopted_on("2025-10-09").await;
    assert!(after.is_empty(), "{after:#?}");
}

#[tokio::test]
async fn a_decree_172_form_dated_from_july_2025_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let mut c = client(&province).await;
    draft_with(&mut c, "40", Vec::new()).await;
    let put = |day: &str| {
        let mut e = province_entry(7, "Đỗ Văn Bảy");
        e.cadre.as_mut().unwrap().discipline = vec![pb::Discipline {
            kind: pb::DisciplineKind::Demotion.into(),
            decided_on: day.into(),
            ..Default::default()
        }];
        pb::PutEntryRequest {
            unit: "40".into(),
            term: TERM.into(),
            entry: Some(e),
        }
    };
    let err = c.put_entry(put("2025-07-01")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("discipline[0].kind"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("Decree 172"), "{}", err.message());
    // Nothing was written.
    let plans = everything(&mut c).await;
    assert!(plans.iter().all(|p| p.entries.is_empty()), "{plans:#?}");
    // The day before, the form still existed: the record is kept.
    c.put_entry(put("2025-06-30")).await.unwrap();
    province.stop().await.unwrap();
}

/// Every finding names the ruleset that judged it, on gRPC, the binary and the web page: the
/// rule about the list adopted on 7 October 2025 (R14) cites QĐ 50, and R3, a cross-plan
/// rule about the province as a whole, the ruleset in force on the day of the check (QĐ 377).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_finding_names_its_ruleset_cross_plan_ones_included() {
    let dir = tempfile::tempdir().unwrap();
    let province = start_with(quyhoach::config::RawConfig {
        web: Some("127.0.0.1:0".into()),
        ..node_config(dir.path(), "40", None, "builtin:2024")
    })
    .await;
    let mut c = client(&province).await;
    let mut list = the_list();
    // One man planned for four provincial posts: R3 (at most 3 of one level).
    for post in ["P.GD.SO", "P.PCT.UBND", "P.PCT.HDND", "P.CT.MTTQ"] {
        let mut e = province_entry(9, "Trịnh Văn Chín");
        e.position = post.into();
        list.push(e);
    }
    draft_with(&mut c, "40", list).await;
    c.adopt_plan(pb::AdoptPlanRequest {
        unit: "40".into(),
        term: TERM.into(),
        adopted_on: "2025-10-07".into(),
        revision: None,
    })
    .await
    .unwrap();
    let found = c
        .check(pb::CheckRequest {
            rules: vec!["R3".into(), "R14".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .findings;
    let named: Vec<(&str, &str)> = found
        .iter()
        .map(|f| (f.rule.as_str(), f.ruleset.as_str()))
        .collect();
    assert_eq!(
        named,
        [("R3", "QĐ 377-QĐ/TW"), ("R14", "QĐ 50-QĐ/TW")],
        "{found:#?}"
    );

    let node = province.addr.to_string();
    let ran = crate::procs::cli(["check", "--node", &node, "--rule", "R3", "--json"]).await;
    assert!(ran.ok, "{}", ran.text());
    assert!(
        ran.stdout.contains(r#""ruleset": "QĐ 377-QĐ/TW""#),
        "{}",
        ran.stdout
    );
    let ran = crate::procs::cli(["check", "--node", &node, "--rule", "R14"]).await;
    assert!(ran.ok, "{}", ran.text());
    assert!(ran.stdout.contains("QĐ 50-QĐ/TW"), "{}", ran.stdout);

    let http = crate::web::Http::new(&province.web_url().unwrap(), None);
    let page = http.send("GET", "/phat-hien", None, "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(r#"data-ruleset="qd50""#),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"data-ruleset="qd377""#),
        "{}",
        page.body
    );
    province.stop().await.unwrap();
}
