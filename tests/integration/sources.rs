//! Old plans are sources (issue 22), through real nodes: a full check at the province before
//! and after the reorganisation of 1 July 2025 differs only by findings tagged to it; a new
//! commune's first draft starts from the approved entries of the old communes it absorbed,
//! each keeping its provenance (binary, gRPC, web page); and R5 follows the sources.

use std::collections::BTreeMap;

use quyhoach::grpc::pb::{self, planning_client::PlanningClient};
use tonic::transport::Channel;

use crate::{
    harness::*,
    procs::{cli, eventually},
};

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

fn give_back(s: &pb::PlanSummary, reason: &str) -> pb::DecidePlanRequest {
    pb::DecidePlanRequest {
        outcome: pb::Outcome::Return.into(),
        reasons: vec![reason.into()],
        ..approve(s)
    }
}

/// Every finding of a full check of the province, by ID.
async fn full_check(c: &mut PlanningClient<Channel>) -> BTreeMap<String, pb::Finding> {
    c.check(pb::CheckRequest {
        term: TERM.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .findings
    .into_iter()
    .map(|f| (f.id.clone(), f))
    .collect()
}

/// A province of three levels with a plan in every state — 16681 approved by its district
/// and held at the province, 16690's first version returned and its second pending at the
/// district, 16693 adopted, 16699 returned, district 412's own plan received at the province
/// (citing a cadre of 16681 who is not in 16681's approved list: an R5 warning), the
/// province's own a draft — reorganised to two levels. The full check afterwards holds every
/// finding of before, unchanged and untagged; a finding that looks across the reorganisation
/// (the province's draft planning a cadre of the new commune 16681, judged by its sources) is
/// tagged, over gRPC and by `check`. Then the new commune 16681, under the province, drafts
/// from its sources.
#[tokio::test]
async fn a_full_check_across_a_reorganisation_differs_only_by_tagged_findings() {
    let Tree {
        _dir: dir,
        province,
        district,
        commune,
        sibling,
    } = Tree::start().await;
    let adopted = start(dir.path(), "16693", Some(district.url()), "builtin:2024").await;
    let returned = start(dir.path(), "16699", Some(district.url()), "builtin:2024").await;
    let (mut p, mut d) = (client(&province).await, client(&district).await);
    // 16681: approved by the district, held at the province.
    let mut c = client(&commune).await;
    adopted_plan(
        &mut c,
        "16681",
        &[
            (1, "Nguyễn Thị Hoa", "C.BT"),
            (2, "Lê Văn Tám", "C.CT.UBND"),
            (3, "Phạm Thị Lan", "C.DUV"),
        ],
    )
    .await;
    let (_, received) = submit_until_received(&mut c, "16681", &mut d).await;
    d.decide_plan(approve(&received)).await.unwrap();
    wait_status(&mut p, "16681", pb::PlanStatus::Approved).await;
    wait_status(&mut c, "16681", pb::PlanStatus::Approved).await;
    // 16690: version 1 returned, version 2 pending at the district.
    let mut s = client(&sibling).await;
    adopted_plan(&mut s, "16690", &[(4, "Lê Thị Thu", "C.BT")]).await;
    let (_, v1) = submit_until_received(&mut s, "16690", &mut d).await;
    d.decide_plan(give_back(&v1, "Bổ sung nguồn (R2)"))
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
    s.adopt_plan(pb::AdoptPlanRequest {
        unit: "16690".into(),
        term: TERM.into(),
        adopted_on: "2025-04-02".into(),
        revision: None,
    })
    .await
    .unwrap();
    submit_until_received(&mut s, "16690", &mut d).await;
    // 16693: adopted, not submitted; 16699: returned.
    let mut a = client(&adopted).await;
    adopted_plan(&mut a, "16693", &[(5, "Võ Văn Hùng", "C.BT")]).await;
    let mut r = client(&returned).await;
    adopted_plan(&mut r, "16699", &[(6, "Hồ Thị Mai", "C.BT")]).await;
    let (_, v) = submit_until_received(&mut r, "16699", &mut d).await;
    d.decide_plan(give_back(&v, "Thiếu hồ sơ")).await.unwrap();
    wait_status(&mut r, "16699", pb::PlanStatus::Returned).await;
    // 412's own plan, received at the province: its cadre works in 16681 but is not in
    // 16681's approved list (R5).
    adopted_without_vote(
        &mut d,
        "412",
        vec![district_entry(10, "Trần Văn Bình", "16681")],
    )
    .await;
    submit_until_received(&mut d, "412", &mut p).await;
    draft_with(&mut p, "40", vec![province_entry(20, "Hồ Văn Tỉnh")]).await;

    let before = full_check(&mut p).await;
    assert!(
        before.values().any(|f| f.rule == "R5"),
        "the setup has an R5 finding: {before:#?}"
    );
    assert!(before.values().all(|f| f.reorganised_on.is_empty()));

    let node = province.addr.to_string();
    let applied = cli([
        "reorganize",
        "--node",
        &node,
        "--to",
        "builtin:2025",
        "--on",
        "2025-07-01",
    ])
    .await;
    assert!(applied.ok, "{}", applied.text());
    let after = full_check(&mut p).await;
    for (id, f) in &before {
        let same = after.get(id).unwrap_or_else(|| {
            panic!(
                "finding {id} ({} {:?}) went with the reorganisation",
                f.rule, f.units
            )
        });
        assert_eq!(same, f, "finding {id} changed with the reorganisation");
    }
    for (id, f) in &after {
        assert!(
            before.contains_key(id) || !f.reorganised_on.is_empty(),
            "a new finding not tagged to the reorganisation: {f:#?}"
        );
    }

    // The other side: the province's own draft plans a cadre of the new commune 16681, which
    // has no approved list of its own yet; R5 compares with its sources' (old 16681's), and
    // the finding is tagged.
    let mut e = province_entry(21, "Đinh Văn Nam");
    let cadre = e.cadre.as_mut().unwrap();
    cadre.current_unit = "16681".into();
    cadre.current_positions = vec!["C.CC".into()];
    p.put_entry(pb::PutEntryRequest {
        unit: "40".into(),
        term: TERM.into(),
        entry: Some(e),
    })
    .await
    .unwrap();
    let tagged = full_check(&mut p).await;
    let across: Vec<&pb::Finding> = tagged
        .values()
        .filter(|f| !before.contains_key(&f.id))
        .collect();
    let r5 = across
        .iter()
        .find(|f| f.rule == "R5" && f.units == ["16681", "40"])
        .unwrap_or_else(|| panic!("{across:#?}"));
    assert_eq!(r5.reorganised_on, "2025-07-01");
    assert!(
        r5.message_en.contains("16681/2025-2030/v1"),
        "{}",
        r5.message_en
    );
    // The new entry's own findings (no ballot round for it: R19) look at the province's plan
    // alone, and are not tagged.
    assert!(
        across
            .iter()
            .filter(|f| f.rule != "R5")
            .all(|f| f.reorganised_on.is_empty()),
        "{across:#?}"
    );
    let shown = cli(["check", "--node", &node, "--term", TERM, "--rule", "R5"]).await;
    assert!(shown.ok, "{}", shown.text());
    assert!(
        shown.stdout.contains("sắp xếp đơn vị 2025-07-01"),
        "{}",
        shown.stdout
    );

    // The new commune 16681, restarted under the province, drafts from its sources.
    drop(c);
    commune.stop().await.unwrap();
    let commune = start_with(quyhoach::config::RawConfig {
        web: Some("127.0.0.1:0".into()),
        ..node_config(dir.path(), "16681", Some(province.url()), "builtin:2025")
    })
    .await;
    let at = commune.addr.to_string();
    let draft = |extra: &[&str]| {
        let mut args = vec![
            "draft",
            "--node",
            at.as_str(),
            "--unit",
            "16681",
            "--term",
            TERM,
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    // The province's structure reaches the commune with the reference data.
    let ran = eventually(20, "the commune to follow the reorganisation", || {
        let draft = draft(&["--from-sources"]);
        async move {
            let ran = cli(draft).await;
            ran.ok.then_some(ran)
        }
    })
    .await;
    assert!(
        ran.stdout.contains("draft 16681/2025-2030 v2 (3 entries)"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("from 16681/2025-2030/v1: 3 entries"),
        "{}",
        ran.stdout
    );
    let shown = cli(["plan", "--node", &at, "--unit", "16681", "--term", TERM]).await;
    assert!(shown.ok, "{}", shown.text());
    assert!(
        shown.stdout.contains("from 16681/2025-2030/v1 #3"),
        "{}",
        shown.stdout
    );
    let mut c = client(&commune).await;
    let plan = c
        .get_plan(pb::GetPlanRequest {
            unit: "16681".into(),
            term: TERM.into(),
            version: 2,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plan.entries.len(), 3);
    for e in &plan.entries {
        let o = e.origin.as_ref().expect("every entry keeps its provenance");
        assert_eq!(o.plan.as_ref().unwrap().version, 1);
        assert!((1..=3).contains(&o.position));
    }
    let page = crate::web::access::Http::new(&commune.web_url().unwrap(), None)
        .send("GET", &format!("/ke-hoach/16681/{TERM}/2"), None, "")
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Lấy từ danh sách"), "{}", page.body);
    assert!(
        page.body.contains("/ke-hoach/16681/2025-2030/1"),
        "{}",
        page.body
    );

    // Refused, nothing written: a second first draft, and a unit without sources.
    let again = cli(draft(&["--from-sources"])).await;
    assert!(!again.ok);
    assert!(
        again
            .stderr
            .contains("term: 16681/2025-2030/v2 is a draft already"),
        "{}",
        again.stderr
    );
    let err = p
        .create_draft(pb::CreateDraftRequest {
            unit: "40".into(),
            term: TERM.into(),
            from_sources: true,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(
        err.message().contains("has no sources"),
        "{}",
        err.message()
    );
    let still = c
        .get_plan(pb::GetPlanRequest {
            unit: "16681".into(),
            term: TERM.into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still.id.unwrap().version, 2);

    for n in [commune, sibling, adopted, returned, district, province] {
        n.stop().await.unwrap();
    }
}

/// Issue 22, sources a node does not hold: the new commune 16690 (Phường Trường Vinh) absorbed
/// old 16693, whose list was kept by 16693's own node and carried up to the province; 16690's
/// node never held it. Once 16690 is restarted under the province in two levels, its link
/// fetches the approved lists of the old communes it absorbed (and only those: not 16681's),
/// so that its first draft starts from them, each entry naming its source.
#[tokio::test]
async fn a_new_commune_fetches_the_lists_of_the_communes_it_absorbed_from_the_province() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let district = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
    let mut p = client(&province).await;
    let mut d = client(&district).await;
    // Two old communes' lists approved by 412 and carried up: 16693's (absorbed by the new
    // 16690) and 16681's (absorbed by the new 16681, not by 16690).
    for (unit, people) in [
        (
            "16693",
            [
                (31, "Đặng Thị Mai", "C.BT"),
                (32, "Võ Văn Lâm", "C.CT.UBND"),
            ],
        ),
        (
            "16681",
            [(41, "Hà Thị Lan", "C.BT"), (42, "Lò Văn Sáng", "C.CT.UBND")],
        ),
    ] {
        let node = start(dir.path(), unit, Some(district.url()), "builtin:2024").await;
        let mut c = client(&node).await;
        adopted_plan(&mut c, unit, &people).await;
        let (_, received) = submit_until_received(&mut c, unit, &mut d).await;
        d.decide_plan(approve(&received)).await.unwrap();
        wait_status(&mut p, unit, pb::PlanStatus::Approved).await;
        node.stop().await.unwrap();
    }
    p.reorganize(pb::ReorganizeRequest {
        to: "builtin:2025".into(),
        on: "2025-07-01".into(),
        dry_run: false,
    })
    .await
    .unwrap();
    district.stop().await.unwrap();

    // 16690's node, which never held 16693's list, restarted under the province.
    let node = start(dir.path(), "16690", Some(province.url()), "builtin:2025").await;
    let mut c = client(&node).await;
    let held = |unit: &'static str| {
        let mut c = c.clone();
        async move {
            c.get_plan(pb::GetPlanRequest {
                unit: unit.into(),
                term: TERM.into(),
                version: 1,
            })
            .await
        }
    };
    eventually(20, "16690's node to hold 16693's approved list", || async {
        held("16693").await.ok().map(|_| ())
    })
    .await;
    let source = held("16693").await.unwrap().into_inner();
    assert_eq!(source.status, pb::PlanStatus::Approved as i32);
    assert_eq!(source.entries.len(), 2);
    let other = held("16681").await.unwrap_err();
    assert_eq!(other.code(), tonic::Code::NotFound, "{}", other.message());

    let draft = c
        .create_draft(pb::CreateDraftRequest {
            unit: "16690".into(),
            term: TERM.into(),
            from_sources: true,
        })
        .await
        .unwrap()
        .into_inner();
    let drawn: Vec<(String, String, u32)> = draft
        .entries
        .iter()
        .map(|e| {
            let origin = e.origin.clone().unwrap();
            (
                e.cadre.as_ref().unwrap().full_name.clone(),
                origin.plan.unwrap().unit,
                origin.position,
            )
        })
        .collect();
    assert_eq!(
        drawn,
        [
            ("Đặng Thị Mai".to_string(), "16693".to_string(), 1),
            ("Võ Văn Lâm".to_string(), "16693".to_string(), 2),
        ]
    );
    // Kept once, audited, and no conflict with the parent's view of the subtree.
    let trail = audit_records(&mut c, "receive_sources").await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].detail, "from 40: 16693/2025-2030/v1");
    let status = c
        .sync_status(pb::SyncStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(status.conflicts.is_empty(), "{:?}", status.conflicts);
    node.stop().await.unwrap();
    province.stop().await.unwrap();
}
