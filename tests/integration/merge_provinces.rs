//! Merging provinces (issue 22, "Merging provinces"): two province nodes of 2024 that the
//! 2025 structure merged (44 Quảng Bình and 45 Quảng Trị, now province 44 Quảng Trị) merged
//! into one store with the real binary, on stopped nodes: every plan kept once with all its
//! versions, every audit trail verifies under its own node, the collisions the merger made
//! are tagged (and one inside one old province is not), a dry run and a rerun write nothing, a
//! merge killed midway and rerun gives each plan once, and a province that did not merge into
//! the target is refused with nothing written.

use std::{collections::BTreeMap, path::Path};

use quyhoach::grpc::pb::{self, planning_client::PlanningClient};
use tonic::transport::Channel;

use crate::{harness::*, procs::cli};

/// A person both old provinces planned, under two spellings of the name (R21 between lists
/// of different provinces: the merger's collision).
const SHARED: u32 = 501;
/// A person province 45 planned twice, under two spellings (R21 inside one old province).
const INSIDE_45: u32 = 601;

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

/// An entry of a province's own list: a deputy department director planned as director.
fn provincial(n: u32, name: &str, province: &str) -> pb::Entry {
    let mut e = entry(n, name, "P.GD.SO", province);
    e.cadre.as_mut().unwrap().current_positions = vec!["P.PGD.SO".into()];
    e
}

/// One 2024 province with a district and a commune below it, each with plans: the commune's
/// approved by the district (a copy at the province), the district's own received and
/// pending at the province, the province's own adopted. `extra` goes into the province's list.
async fn province_with_plans(
    dir: &Path,
    province: &str,
    district: &str,
    commune: &str,
    base: u32,
    extra: Vec<pb::Entry>,
    district_extra: Vec<pb::Entry>,
) {
    let p_node = start(dir, province, None, "builtin:2024").await;
    let d_node = start(dir, district, Some(p_node.url()), "builtin:2024").await;
    let c_node = start(dir, commune, Some(d_node.url()), "builtin:2024").await;
    let mut c = client(&c_node).await;
    adopted_plan(
        &mut c,
        commune,
        &[
            (base + 1, "Nguyễn Thị Hoa", "C.BT"),
            (base + 2, "Lê Văn Tám", "C.CT.UBND"),
        ],
    )
    .await;
    let mut d = client(&d_node).await;
    let (_, received) = submit_until_received(&mut c, commune, &mut d).await;
    d.decide_plan(approve(&received)).await.unwrap();
    let mut p = client(&p_node).await;
    wait_status(&mut p, commune, pb::PlanStatus::Approved).await;
    let mut entries = vec![district_entry(base + 3, "Trần Văn Bình", district)];
    entries.extend(district_extra);
    adopted_without_vote(&mut d, district, entries).await;
    submit_until_received(&mut d, district, &mut p).await;
    let mut entries = vec![provincial(base + 4, "Phạm Văn Đức", province)];
    entries.extend(extra);
    adopted_without_vote(&mut p, province, entries).await;
    c_node.stop().await.unwrap();
    d_node.stop().await.unwrap();
    p_node.stop().await.unwrap();
}

/// Every plan version a node holds, whole, by its id.
async fn held(c: &mut PlanningClient<Channel>) -> BTreeMap<String, pb::Plan> {
    everything(c)
        .await
        .into_iter()
        .map(|p| {
            let id = p.id.clone().unwrap();
            (format!("{}/{}/v{}", id.unit, id.term, id.version), p)
        })
        .collect()
}

/// What `audit verify --data` says of a stopped node's store.
async fn verify(store: &Path) -> (bool, String) {
    cli(["audit", "verify", "--data"]
        .map(String::from)
        .into_iter()
        .chain([store.display().to_string()]))
    .await
    .said()
}

async fn merge(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = crate::procs::quyhoach();
    cmd.arg("merge").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    crate::procs::run(&mut cmd).await.said()
}

/// Province 44's node holding its own and province 45's stores merged with the binary (the
/// collisions of the test below: R2 across both lists for P.GD.SO and R21 of `SHARED`, both
/// the merger's, and R21 inside 45), started in the two-level structure with its web page
/// (plain HTTP, insecure).
pub(crate) async fn merged_province(d: &Path) -> quyhoach::server::Running {
    province_with_plans(
        d,
        "44",
        "450",
        "18853",
        100,
        vec![provincial(SHARED, "Nguyễn Văn Hợp", "44")],
        vec![],
    )
    .await;
    province_with_plans(
        d,
        "45",
        "461",
        "19330",
        200,
        vec![
            provincial(SHARED, "Nguyễn Văn Hộp", "45"),
            provincial(INSIDE_45, "Trần Thị Lan", "45"),
        ],
        vec![district_entry(INSIDE_45, "Trần Thị Lân", "461")],
    )
    .await;
    let (t, s45) = (d.join("44"), d.join("45"));
    let (ok, said) = merge(
        &[
            "--data",
            &t.display().to_string(),
            "--from",
            &s45.display().to_string(),
        ],
        &[],
    )
    .await;
    assert!(ok, "{said}");
    start_with(quyhoach::config::RawConfig {
        web: Some("127.0.0.1:0".into()),
        ..node_config(d, "44", None, "builtin:2025")
    })
    .await
}

#[tokio::test]
async fn two_provinces_merge_into_one_with_every_plan_and_trail_and_the_collisions_tagged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    province_with_plans(
        d,
        "44",
        "450",
        "18853",
        100,
        vec![provincial(SHARED, "Nguyễn Văn Hợp", "44")],
        vec![],
    )
    .await;
    province_with_plans(
        d,
        "45",
        "461",
        "19330",
        200,
        vec![
            provincial(SHARED, "Nguyễn Văn Hộp", "45"),
            provincial(INSIDE_45, "Trần Thị Lan", "45"),
        ],
        vec![district_entry(INSIDE_45, "Trần Thị Lân", "461")],
    )
    .await;
    // Hà Tĩnh (42) stayed a province of its own in 2025.
    {
        let n = start(d, "42", None, "builtin:2024").await;
        let mut c = client(&n).await;
        adopted_without_vote(&mut c, "42", vec![provincial(300, "Võ Văn Kiệt", "42")]).await;
        n.stop().await.unwrap();
    }
    // What each old node holds, as it served it.
    let mut before = BTreeMap::new();
    for unit in ["44", "45"] {
        let n = start(d, unit, None, "builtin:2024").await;
        before.extend(held(&mut client(&n).await).await);
        n.stop().await.unwrap();
    }
    let target = d.join("44");
    let t = target.display().to_string();
    let s45 = d.join("45").display().to_string();
    let s42 = d.join("42").display().to_string();
    let (ok, said) = verify(&target).await;
    assert!(ok, "{said}");
    let records_before = said.clone();

    // A source whose province did not merge into the target: refused, naming the unit, and
    // nothing written.
    let (ok, said) = merge(&["--data", &t, "--from", &s45, "--from", &s42], &[]).await;
    assert!(!ok, "{said}");
    assert!(
        said.contains("unit 42") && said.contains("did not merge into province 44"),
        "{said}"
    );
    assert_eq!(verify(&target).await, (true, records_before.clone()));

    // The dry run lists what would come in and writes nothing.
    let (ok, said) = merge(&["--data", &t, "--from", &s45, "--dry-run"], &[]).await;
    assert!(ok, "{said}");
    assert!(
        said.contains("from ") && said.contains("(province 45, Tỉnh Quảng Trị)"),
        "{said}"
    );
    assert!(said.contains("461 ") && said.contains("19330 "), "{said}");
    assert!(said.contains("is listed by provinces 44, 45"), "{said}");
    assert!(
        !said.contains("Trần Thị"),
        "a collision inside one province is not the merger's: {said}"
    );
    assert!(said.contains("dry run: nothing written"), "{said}");
    assert_eq!(verify(&target).await, (true, records_before.clone()));

    // Killed before its transaction: nothing written.
    let crash = |point| [("QUYHOACH_CRASH_AT", point)];
    let (ok, said) = merge(
        &["--data", &t, "--from", &s45],
        &crash("merge-before-commit"),
    )
    .await;
    assert!(!ok, "the merge was killed: {said}");
    assert_eq!(verify(&target).await, (true, records_before.clone()));
    // Killed after committing, before the commit is known to be on disk; then run again.
    let (ok, said) = merge(
        &["--data", &t, "--from", &s45],
        &crash("merge-after-commit"),
    )
    .await;
    assert!(!ok, "the merge was killed: {said}");
    let (ok, said) = merge(&["--data", &t, "--from", &s45], &[]).await;
    assert!(ok, "{said}");
    assert!(
        said.contains("merged 1 provinces into 44") || said.contains("nothing to merge"),
        "{said}"
    );
    // A rerun changes nothing.
    let (ok, said) = verify(&target).await;
    assert!(ok, "{said}");
    let merged_records = said.clone();
    assert!(
        said.contains("chain of province 45 (merged in): intact"),
        "{said}"
    );
    let (ok, said) = merge(&["--data", &t, "--from", &s45], &[]).await;
    assert!(ok, "{said}");
    assert!(said.contains("nothing to merge"), "{said}");
    assert_eq!(verify(&target).await, (true, merged_records));
    // The source still verifies under its own identity, untouched.
    let (ok, said) = verify(&d.join("45")).await;
    assert!(ok, "{said}");

    // The merged node, in the two-level structure: every plan of both old nodes exactly once,
    // with every version, as each old node served it.
    let node = start_with(quyhoach::config::RawConfig {
        web: Some("127.0.0.1:0".into()),
        ..node_config(d, "44", None, "builtin:2025")
    })
    .await;
    let mut c = client(&node).await;
    let after = held(&mut c).await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "every plan version of both old provinces, once"
    );
    for (id, plan) in &before {
        let now = &after[id];
        assert_eq!(now.entries, plan.entries, "{id}");
        assert_eq!(now.hash, plan.hash, "{id}");
        assert_eq!(now.status, plan.status, "{id}");
    }
    // The merge is one audit record of the new node, naming the source and its chain head.
    let audit = c
        .audit(pb::AuditRequest {
            action: "merge".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(audit.records.len(), 1, "{:?}", audit.records);
    assert!(
        audit.records[0].detail.contains("province 45"),
        "{:?}",
        audit.records
    );
    assert!(
        audit.records[0].detail.contains("chain head "),
        "{:?}",
        audit.records
    );
    assert!(audit.intact);

    // The collisions: R21 between 44's and 45's lists is tagged to the merger; R21 inside 45
    // is not.
    let findings = c
        .check(pb::CheckRequest {
            term: TERM.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .findings;
    let about = |n: u32| {
        let id = format!("0400800{n:05}");
        let masked = quyhoach::node::mask_id(&id);
        findings
            .iter()
            .filter(|f| f.rule == "R21" && f.person_id_masked == masked)
            .collect::<Vec<_>>()
    };
    let shared = about(SHARED);
    assert!(!shared.is_empty(), "{findings:#?}");
    assert!(
        shared.iter().all(|f| f.merger == ["44", "45"]),
        "{shared:#?}"
    );
    let inside = about(INSIDE_45);
    assert!(!inside.is_empty(), "{findings:#?}");
    assert!(inside.iter().all(|f| f.merger.is_empty()), "{inside:#?}");
    // R2 across the old provinces' lists: each lists at most three for P.GD.SO (44: 104 and
    // SHARED; 45: 204, SHARED and INSIDE_45), but the merged province plans four distinct
    // people for the post (SHARED once): one R2 error naming both lists, tagged to the merger.
    let r2: Vec<_> = findings.iter().filter(|f| f.rule == "R2").collect();
    assert_eq!(r2.len(), 1, "{findings:#?}");
    assert_eq!(r2[0].merger, ["44", "45"], "{r2:#?}");
    assert!(
        r2[0]
            .message_en
            .contains("4 cadres are planned for P.GD.SO")
            && r2[0].message_en.contains("44/")
            && r2[0].message_en.contains("45/"),
        "{r2:#?}"
    );

    // A plan pending at an old province comes in pending: the new province decides it.
    let pending = wait_status(&mut c, "461", pb::PlanStatus::Received).await;
    let decided = c
        .decide_plan(pb::DecidePlanRequest {
            outcome: pb::Outcome::Return.into(),
            reasons: vec!["Thiếu kết quả bỏ phiếu (R19)".into()],
            ..approve(&pending)
        })
        .await;
    assert!(decided.is_ok(), "{decided:?}");
    wait_status(&mut c, "461", pb::PlanStatus::Returned).await;

    // The audit RPC verifies every chain and says which.
    let addr = node.addr.to_string();
    let ran = cli(["audit", "verify", "--node", &addr]).await;
    assert!(ran.ok, "{}", ran.text());
    assert!(
        ran.stdout
            .contains("chain of province 45 (merged in): intact"),
        "{}",
        ran.text()
    );
    // A merge on a store whose node runs is refused, saying so, and writes nothing.
    let (ok, said) = merge(&["--data", &t, "--from", &s45], &[]).await;
    assert!(!ok, "{said}");
    assert!(
        said.contains("is open") && said.contains("stop it first"),
        "{said}"
    );

    // Through the binary: `check` shows the tag.
    let ran = cli(["check", "--node", &addr, "--term", TERM]).await;
    assert!(
        ran.text().contains("merger of provinces 44, 45"),
        "{}",
        ran.text()
    );
    // The web page: the findings page links to the worklist, which lists the merger's
    // collisions by post and not the one inside 45.
    let http = crate::web::access::Http::new(&node.web_url().unwrap(), None);
    let page = http.send("GET", "/phat-hien", None, "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("/phat-hien/sap-nhap"), "{}", page.body);
    assert!(page.body.contains("data-merger=\"44,45\""), "{}", page.body);
    let page = http.send("GET", "/phat-hien/sap-nhap", None, "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-merger=\"44,45\""), "{}", page.body);
    assert!(page.body.contains("Nguyễn Văn H"), "{}", page.body);
    // The R2 collision is listed under its post (it names Trần Thị Lan, one of 45's four);
    // the R21 finding inside 45 is not listed.
    assert!(page.body.contains("data-post=\"P.GD.SO\""), "{}", page.body);
    assert!(
        page.body.contains("4 cán bộ được quy hoạch vào P.GD.SO"),
        "{}",
        page.body
    );
    assert!(
        !page
            .body
            .split("<li class=\"finding\"")
            .any(|item| item.contains("data-rule=\"R21\"") && item.contains("Trần Thị")),
        "{}",
        page.body
    );
    node.stop().await.unwrap();
}

/// The seals of a merged-in chain, checked with the old node's key (`audit verify --data …
/// --old-key 45=KEY`): intact with its key, broken with another, and a key for a province
/// that was not merged in is refused, naming it.
#[tokio::test]
async fn a_merged_in_chain_s_seals_are_checked_with_the_old_node_s_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, other) = (d.join("45.audit.key"), d.join("other.audit.key"));
    for k in [&key, &other] {
        std::fs::write(k, quyhoach::audit::AuditKey::generate_file_text()).unwrap();
    }
    {
        let n = start_with(quyhoach::config::RawConfig {
            audit_key: Some(key.clone()),
            ..node_config(d, "45", None, "builtin:2024")
        })
        .await;
        adopted_without_vote(
            &mut client(&n).await,
            "45",
            vec![provincial(200, "Lê Thị Thu", "45")],
        )
        .await;
        n.stop().await.unwrap();
        let n = start(d, "44", None, "builtin:2024").await;
        adopted_without_vote(
            &mut client(&n).await,
            "44",
            vec![provincial(100, "Phạm Văn Đức", "44")],
        )
        .await;
        n.stop().await.unwrap();
    }
    let (t, s45) = (
        d.join("44").display().to_string(),
        d.join("45").display().to_string(),
    );
    let (ok, said) = merge(&["--data", &t, "--from", &s45], &[]).await;
    assert!(ok, "{said}");
    let verify_with = |old: &str| {
        cli([
            "audit".to_string(),
            "verify".into(),
            "--data".into(),
            t.clone(),
            "--old-key".into(),
            old.to_string(),
        ])
    };
    let ran = verify_with(&format!("45={}", key.display())).await;
    assert!(ran.ok, "{}", ran.text());
    assert!(
        ran.stdout
            .contains("chain of province 45 (merged in): intact, ",)
            && ran
                .stdout
                .contains("every record sealed with the old node's key"),
        "{}",
        ran.text()
    );
    // Without the key, the seals are said not checked.
    let (ok, said) = verify(&d.join("44")).await;
    assert!(
        ok && said.contains("seals not checked (give --old-key 45=KEY)"),
        "{said}"
    );
    // Another key does not open the seals: refused, naming the chain and the record.
    let ran = verify_with(&format!("45={}", other.display())).await;
    assert!(!ran.ok, "{}", ran.text());
    assert!(
        ran.stderr
            .contains("the chain of province 45 (merged in) is broken at record 1")
            && ran.stderr.contains("seal does not match"),
        "{}",
        ran.stderr
    );
    // A key for a province that was not merged in.
    let ran = verify_with(&format!("46={}", key.display())).await;
    assert!(!ran.ok, "{}", ran.text());
    assert!(
        ran.stderr.contains("old_key: no chain of province 46"),
        "{}",
        ran.stderr
    );
}

/// The R2 findings (their plans and merger tags): with `live`, the live findings of
/// `44/TERM/v1` (`Check` of the version, `stored`); else a full check of the term.
async fn r2_of_44(c: &mut PlanningClient<Channel>, live: bool) -> Vec<(Vec<String>, Vec<String>)> {
    let mut out: Vec<(Vec<String>, Vec<String>)> = c
        .check(pb::CheckRequest {
            term: TERM.into(),
            plan: live.then(|| id("44", 1)),
            stored: live,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .findings
        .into_iter()
        .filter(|f| f.rule == "R2")
        .map(|f| {
            let plans = f
                .plans
                .iter()
                .map(|p| format!("{}/v{}", p.unit, p.version))
                .collect();
            (plans, f.merger)
        })
        .collect();
    out.sort();
    out
}

/// R2 across the old provinces' lists in the live findings of a running merged node: the new
/// province's own list, a draft when 45's store was merged in, is adopted; its collision with
/// 45's list appears at once in the live findings (`Check` of the version with `stored`) and on
/// the findings page and worklist, tagged, as a full check has it. Before, the re-check that
/// follows the adoption did not derive it (its snapshot holds only the plans related by person)
/// and it stayed missing until the node restarted or the day changed.
#[tokio::test]
async fn a_merged_list_decided_after_the_merger_shows_the_r2_collision_live() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    {
        let n = start(d, "45", None, "builtin:2024").await;
        adopted_without_vote(
            &mut client(&n).await,
            "45",
            vec![
                provincial(201, "Lê Thị Thu", "45"),
                provincial(202, "Võ Văn Sơn", "45"),
            ],
        )
        .await;
        n.stop().await.unwrap();
        let n = start(d, "44", None, "builtin:2024").await;
        draft_with(
            &mut client(&n).await,
            "44",
            vec![
                provincial(101, "Phạm Văn Đức", "44"),
                provincial(102, "Hoàng Văn Nam", "44"),
            ],
        )
        .await;
        n.stop().await.unwrap();
    }
    let (t, s45) = (
        d.join("44").display().to_string(),
        d.join("45").display().to_string(),
    );
    let (ok, said) = merge(&["--data", &t, "--from", &s45], &[]).await;
    assert!(ok, "{said}");
    let node = start_with(quyhoach::config::RawConfig {
        web: Some("127.0.0.1:0".into()),
        ..node_config(d, "44", None, "builtin:2025")
    })
    .await;
    let mut c = client(&node).await;
    // One decided province-level list: nothing to count across yet.
    assert!(r2_of_44(&mut c, true).await.is_empty());
    c.adopt_plan(pb::AdoptPlanRequest {
        unit: "44".into(),
        term: TERM.into(),
        adopted_on: String::new(),
        revision: None,
    })
    .await
    .unwrap();
    let expected = vec![(
        vec!["44/v1".to_string(), "45/v1".to_string()],
        vec!["44".to_string(), "45".to_string()],
    )];
    assert_eq!(r2_of_44(&mut c, false).await, expected, "a full check");
    assert_eq!(r2_of_44(&mut c, true).await, expected, "the live findings");
    let http = crate::web::access::Http::new(&node.web_url().unwrap(), None);
    for page in ["/phat-hien", "/phat-hien/sap-nhap"] {
        let got = http.send("GET", page, None, "").await;
        assert_eq!(got.status, 200, "{page}");
        assert!(
            got.body
                .split("<li class=\"finding\"")
                .any(|li| li.contains("data-rule=\"R2\"") && li.contains("data-merger=\"44,45\"")),
            "{page}: {}",
            got.body
        );
    }
    node.stop().await.unwrap();
}
