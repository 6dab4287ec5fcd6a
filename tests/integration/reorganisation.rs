//! The reorganisation of 1 July 2025 through real nodes (issue 22): a province moved to the
//! two-level structure keeps reading, naming and deciding the plans of the units it abolished,
//! and a plan pending at an abolished district reaches the province and is decided there.

use std::collections::BTreeMap;

use quyhoach::grpc::pb::{self, planning_client::PlanningClient};
use tonic::transport::Channel;

use crate::{
    harness::*,
    procs::{cli, eventually, on_terminal},
};

/// Đông Vĩnh's 2024 list, as the province's Board reads it after the reorganisation.
const QUANG_TRUNG_2024: &str =
    "Phường Quang Trung (Thành phố Vinh, 2024; now part of Phường Thành Vinh)";

fn approve(s: &pb::PlanSummary) -> pb::DecidePlanRequest {
    pb::DecidePlanRequest {
        cite_findings: vec![],
        plan: s.id.clone(),
        hash: s.hash.clone(),
        outcome: pb::Outcome::Approve.into(),
        reasons: vec![],
        cms_signature: Vec::new(),
    }
}

/// A return citing a reason: the district's lists here carry no ballot round (R19), so the
/// province decides them by returning them.
fn give_back(s: &pb::PlanSummary) -> pb::DecidePlanRequest {
    pb::DecidePlanRequest {
        outcome: pb::Outcome::Return.into(),
        reasons: vec!["Thiếu kết quả bỏ phiếu (R19)".into()],
        ..approve(s)
    }
}

async fn latest_plans(c: &mut PlanningClient<Channel>) -> BTreeMap<String, pb::PlanSummary> {
    c.list_plans(pb::ListPlansRequest {
        latest_only: true,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .plans
    .into_iter()
    .map(|p| (p.id.clone().unwrap().unit, p))
    .collect()
}

async fn consolidated(c: &mut PlanningClient<Channel>) -> Vec<pb::ConsolidatedEntry> {
    c.consolidated(pb::ConsolidatedRequest {
        term: TERM.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .entries
}

async fn check_count(c: &mut PlanningClient<Channel>) -> u64 {
    c.check(pb::CheckRequest {
        term: TERM.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .entries_checked
}

/// Issue 22, first reproduction: the province restarted with `--units builtin:2025` lost
/// sight of district 412's plan awaiting its decision, dropped entries from the consolidated
/// list, answered NOT_FOUND for 412, and named commune 16681's 2024 list by its 2025 name.
#[tokio::test]
async fn a_province_restarted_in_two_levels_keeps_the_plans_of_abolished_units() {
    let Tree {
        _dir: dir,
        province,
        district,
        commune,
        sibling,
    } = Tree::start().await;
    let mut c = client(&commune).await;
    adopted_plan(
        &mut c,
        "16681",
        &[
            (1, "Nguyễn Thị Hoa", "C.BT"),
            (2, "Lê Văn Tám", "C.CT.UBND"),
        ],
    )
    .await;
    let mut d = client(&district).await;
    let (_, received) = submit_until_received(&mut c, "16681", &mut d).await;
    d.decide_plan(approve(&received)).await.unwrap();
    let mut p = client(&province).await;
    wait_status(&mut p, "16681", pb::PlanStatus::Approved).await;
    adopted_without_vote(
        &mut d,
        "412",
        vec![district_entry(10, "Trần Văn Bình", "412")],
    )
    .await;
    submit_until_received(&mut d, "412", &mut p).await;
    let plans_before = latest_plans(&mut p).await;
    let listed_before = consolidated(&mut p).await.len();
    let checked_before = check_count(&mut p).await;
    assert_eq!(listed_before, 3);

    province.stop().await.unwrap();
    let province = start_with(quyhoach::config::RawConfig {
        web: Some("127.0.0.1:0".into()),
        ..node_config(dir.path(), "40", None, "builtin:2025")
    })
    .await;
    let mut p = client(&province).await;
    // The Board's overview shows both periods: 16681's 2024 list under its name of then, and
    // the abolished district's plan apart.
    let page = crate::web::access::Http::new(&province.web_url().unwrap(), None)
        .send("GET", &format!("/?term={TERM}"), None, "")
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(QUANG_TRUNG_2024), "{}", page.body);
    assert!(
        page.body
            .contains("Thành phố Vinh (2024; now divided among 6 units)"),
        "{}",
        page.body
    );
    // The person page names each list she is on in its time too.
    let hoa_id = p
        .get_plan(pb::GetPlanRequest {
            unit: "16681".into(),
            term: TERM.into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .entries
        .into_iter()
        .find(|e| e.cadre.as_ref().unwrap().full_name == "Nguyễn Thị Hoa")
        .unwrap()
        .cadre
        .unwrap()
        .national_id;
    let http = crate::web::access::Http::new(&province.web_url().unwrap(), None);
    let found = http
        .send("GET", &format!("/nguoi?cccd={hoa_id}"), None, "")
        .await;
    assert_eq!(found.status, 303, "{}", found.body);
    let at = found.headers["location"].to_str().unwrap().to_string();
    let person = http.send("GET", &at, Some("qh_lang=en"), "").await;
    assert_eq!(person.status, 200, "{}", person.body);
    let appearances = person
        .body
        .split(r#"id="appearances""#)
        .nth(1)
        .unwrap_or_default();
    assert!(appearances.contains(QUANG_TRUNG_2024), "{}", person.body);
    // And so do the findings that cite her commune's 2024 list.
    let findings = http
        .send(
            "GET",
            &format!("/phat-hien?term={TERM}"),
            Some("qh_lang=en"),
            "",
        )
        .await;
    assert_eq!(findings.status, 200, "{}", findings.body);
    let cited = format!(r#"href="/ke-hoach/16681/{TERM}/1">{QUANG_TRUNG_2024} {TERM} v1<"#);
    assert!(findings.body.contains(&cited), "{}", findings.body);
    let plans_after = latest_plans(&mut p).await;
    assert_eq!(
        plans_after.keys().collect::<Vec<_>>(),
        plans_before.keys().collect::<Vec<_>>(),
        "a plan of an abolished unit went out of sight"
    );
    let after = consolidated(&mut p).await;
    assert_eq!(after.len(), listed_before);
    assert_eq!(check_count(&mut p).await, checked_before);
    let hoa = after.iter().find(|e| e.unit == "16681").unwrap();
    assert_eq!(hoa.unit_name, QUANG_TRUNG_2024);
    let binh = after.iter().find(|e| e.unit == "412").unwrap();
    assert_eq!(
        binh.unit_name,
        "Thành phố Vinh (2024; now divided among 6 units)"
    );
    let plan = p
        .get_plan(pb::GetPlanRequest {
            unit: "412".into(),
            term: TERM.into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plan.entries.len(), 1);
    let pending = wait_status(&mut p, "412", pb::PlanStatus::Received).await;
    let decided = p
        .decide_plan(give_back(&pending))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decided.decided_by, "40");
    // An unknown code is still unknown.
    let err = p
        .get_plan(pb::GetPlanRequest {
            unit: "99999".into(),
            term: TERM.into(),
            version: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    for n in [commune, sibling, district, province] {
        n.stop().await.unwrap();
    }
}

/// Issue 22, second reproduction, and the reorganisation as an operation: commune 16690's
/// second version pending at district 412 (its first was returned) when the province moves
/// to two levels. The dry run says where every plan goes; applying moves the province; the
/// commune, restarted under the province, pushes the pending version again (its audit says
/// why) and the province decides it; the district's own pending plan is decided too, and every
/// plan is readable at the province under the name of its time.
#[tokio::test]
async fn three_levels_reorganised_to_two_lose_no_plan_and_strand_none() {
    let Tree {
        _dir: dir,
        province,
        district,
        commune,
        sibling,
    } = Tree::start().await;
    let (mut p, mut d) = (client(&province).await, client(&district).await);
    // 16681: approved by the district, held at the province.
    let mut c = client(&commune).await;
    adopted_plan(&mut c, "16681", &[(1, "Nguyễn Thị Hoa", "C.BT")]).await;
    let (_, received) = submit_until_received(&mut c, "16681", &mut d).await;
    d.decide_plan(approve(&received)).await.unwrap();
    wait_status(&mut p, "16681", pb::PlanStatus::Approved).await;
    // 16690: version 1 returned by the district, version 2 pending there.
    let mut s = client(&sibling).await;
    adopted_plan(&mut s, "16690", &[(2, "Lê Thị Thu", "C.BT")]).await;
    let (_, v1) = submit_until_received(&mut s, "16690", &mut d).await;
    d.decide_plan(pb::DecidePlanRequest {
        outcome: pb::Outcome::Return.into(),
        reasons: vec!["Bổ sung nguồn (R2)".into()],
        ..approve(&v1)
    })
    .await
    .unwrap();
    wait_status(&mut s, "16690", pb::PlanStatus::Returned).await;
    s.create_draft(pb::CreateDraftRequest {
        unit: "16690".into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    s.put_entry(pb::PutEntryRequest {
        unit: "16690".into(),
        term: TERM.into(),
        entry: Some(entry(3, "Phan Văn Hậu", "C.CT.UBND", "16690")),
    })
    .await
    .unwrap();
    s.record_ballot_round(pb::RecordBallotRoundRequest {
        unit: "16690".into(),
        term: TERM.into(),
        round: Some(round(&[(2, "C.BT", 20), (3, "C.CT.UBND", 21)])),
    })
    .await
    .unwrap();
    s.adopt_plan(pb::AdoptPlanRequest {
        unit: "16690".into(),
        term: TERM.into(),
        adopted_on: "2025-04-02".into(),
        revision: None,
    })
    .await
    .unwrap();
    let (_, v2) = submit_until_received(&mut s, "16690", &mut d).await;
    assert_eq!(v2.id.as_ref().unwrap().version, 2);
    // 412's own plan, pending at the province; the province's own, a draft.
    adopted_without_vote(
        &mut d,
        "412",
        vec![district_entry(10, "Trần Văn Bình", "412")],
    )
    .await;
    submit_until_received(&mut d, "412", &mut p).await;
    draft_with(&mut p, "40", vec![province_entry(20, "Hồ Văn Tỉnh")]).await;
    // The province hears of 16690's pending version from the district's reports.
    eventually(20, "the province to see 16690 pending at 412", || {
        let mut p = p.clone();
        async move {
            let r = p
                .completeness(pb::CompletenessRequest {
                    under: String::new(),
                    term: TERM.into(),
                })
                .await
                .ok()?
                .into_inner();
            r.units
                .iter()
                .any(|u| u.unit == "16690" && u.version == 2 && u.pending_at == "412")
                .then_some(())
        }
    })
    .await;

    // The dry run through the binary: every plan and its fate, nothing changed.
    let node = province.addr.to_string();
    let reorganize = |extra: &[&str]| {
        let mut args = vec![
            "reorganize",
            "--node",
            node.as_str(),
            "--to",
            "builtin:2025",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let ran = cli(reorganize(&["--on", "2025-07-01", "--dry-run"])).await;
    assert!(ran.ok, "{}", ran.text());
    // Through a pipe, no progress is drawn.
    assert!(!ran.text().contains("listing what"), "{}", ran.text());
    let line = |unit: &str| {
        ran.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{unit}\t")))
            .unwrap_or_else(|| panic!("no line for {unit} in {}", ran.stdout))
            .to_string()
    };
    assert!(line("40").ends_with("\tstays"), "{}", line("40"));
    assert!(
        line("16681").ends_with("read-only source of 16681"),
        "{}",
        line("16681")
    );
    assert!(
        line("16690").ends_with("pending at 412, re-routed to 40"),
        "{}",
        line("16690")
    );
    assert!(
        line("412").ends_with("pending at 40, decided there"),
        "{}",
        line("412")
    );
    assert!(ran.stdout.contains("dry run: nothing changed"));
    assert_eq!(
        latest_plans(&mut p).await.len(),
        3,
        "the dry run changed something"
    );
    // Bad input: the wrong day, and a node that is not a province's.
    let wrong_day = cli(reorganize(&["--on", "2025-06-30"])).await;
    assert!(!wrong_day.ok);
    assert!(
        wrong_day
            .stderr
            .contains("on: structure 2025 takes effect on 2025-07-01"),
        "{}",
        wrong_day.stderr
    );
    let err = d
        .reorganize(pb::ReorganizeRequest {
            to: "builtin:2025".into(),
            on: "2025-07-01".into(),
            dry_run: true,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);

    // At a terminal, the reorganisation shows its progress while the node works, then says
    // what it did.
    let applied = on_terminal(reorganize(&["--on", "2025-07-01"])).await;
    assert!(applied.ok, "{}", applied.text());
    assert!(
        applied
            .stdout
            .contains(&format!("reorganising {node} into builtin:2025")),
        "{}",
        applied.stdout
    );
    assert!(applied.stdout.contains(": applied"), "{}", applied.stdout);
    assert!(applied.stdout.contains(" plans: "), "{}", applied.stdout);
    let again = cli(reorganize(&["--on", "2025-07-01"])).await;
    assert!(!again.ok, "a second reorganisation to the same structure");
    let audit = p
        .audit(pb::AuditRequest {
            action: "reorganize".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(audit.records.len(), 1);
    assert!(audit.intact);

    // The abolished district's node stops; the commune restarts under the province.
    drop(s);
    sibling.stop().await.unwrap();
    district.stop().await.unwrap();
    let sibling = start(dir.path(), "16690", Some(province.url()), "builtin:2025").await;
    let mut s = client(&sibling).await;
    let pending = wait_status(&mut p, "16690", pb::PlanStatus::Received).await;
    assert_eq!(pending.id.as_ref().unwrap().version, 2);
    assert_eq!(pending.hash, v2.hash);
    let decided = p
        .decide_plan(give_back(&pending))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decided.decided_by, "40");
    let own = wait_status(&mut s, "16690", pb::PlanStatus::Returned).await;
    assert_eq!(own.id.as_ref().unwrap().version, 2);
    let trail = s
        .audit(pb::AuditRequest {
            action: "reconcile_push".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        trail
            .records
            .iter()
            .any(|r| r.detail.contains("re-routed: first received by 412")),
        "{:?}",
        trail.records
    );

    // Every plan readable at the province, named in its time; the district's own decided.
    let plans = latest_plans(&mut p).await;
    assert_eq!(
        plans.keys().map(String::as_str).collect::<Vec<_>>(),
        ["16681", "16690", "40", "412"]
    );
    for s in plans.values() {
        let id = s.id.clone().unwrap();
        p.get_plan(pb::GetPlanRequest {
            unit: id.unit,
            term: id.term,
            version: id.version,
        })
        .await
        .unwrap();
    }
    let names: BTreeMap<String, String> = consolidated(&mut p)
        .await
        .into_iter()
        .map(|e| (e.unit, e.unit_name))
        .collect();
    assert_eq!(names["16681"], QUANG_TRUNG_2024);
    assert_eq!(
        names["16690"],
        "Phường Trường Thi (Thành phố Vinh, 2024; now part of Phường Trường Vinh)"
    );
    p.decide_plan(give_back(&plans["412"])).await.unwrap();

    // The new communes: no plan yet, said so, and not listed as missing.
    let r = p
        .completeness(pb::CompletenessRequest {
            under: String::new(),
            term: TERM.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let vinh_phu = r.units.iter().find(|u| u.unit == "16702").unwrap();
    assert_eq!(vinh_phu.progress, pb::Progress::New as i32);
    assert_eq!(vinh_phu.since, "2025-07-01");
    assert!(!r.missing.contains(&"16702".to_string()));
    assert!(r.overdue.is_empty());

    for n in [commune, sibling, province] {
        n.stop().await.unwrap();
    }
}

/// Issue 22, second reproduction as seen: commune 16681's plan pending at district 412; the
/// province restarted with `--units builtin:2025` and the commune restarted under it. Before,
/// the commune stayed submitted for ever (its link said ok, 0 differences) and the province
/// answered NOT_FOUND; now the commune pushes it again and the province decides it.
#[tokio::test]
async fn a_plan_pending_at_an_abolished_district_reaches_the_province() {
    let Tree {
        _dir: dir,
        province,
        district,
        commune,
        sibling,
    } = Tree::start().await;
    let mut c = client(&commune).await;
    let adopted = adopted_plan(&mut c, "16681", &[(1, "Nguyễn Thị Hoa", "C.BT")]).await;
    let mut d = client(&district).await;
    submit_until_received(&mut c, "16681", &mut d).await;
    drop((c, d));
    for n in [commune, sibling, district, province] {
        n.stop().await.unwrap();
    }
    let province = start(dir.path(), "40", None, "builtin:2025").await;
    let commune = start(dir.path(), "16681", Some(province.url()), "builtin:2025").await;
    let (mut p, mut c) = (client(&province).await, client(&commune).await);
    let pending = wait_status(&mut p, "16681", pb::PlanStatus::Received).await;
    assert_eq!(pending.hash, adopted.hash);
    p.decide_plan(give_back(&pending)).await.unwrap();
    wait_status(&mut c, "16681", pb::PlanStatus::Returned).await;
    // Decided, the commune drafts its next version.
    c.create_draft(pb::CreateDraftRequest {
        unit: "16681".into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    for n in [commune, province] {
        n.stop().await.unwrap();
    }
}
