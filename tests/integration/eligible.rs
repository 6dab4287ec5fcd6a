//! R23, appointment requires planning (QĐ 377-QĐ/TW art. 34), through every face: the
//! `Eligible` RPC, `quyhoach eligible` and the box of the web person page. A commune's plan
//! lists a person for chairman of its people's committee and is approved by its district; the
//! same post, an equivalent one and a lower one are eligible, a higher one is not; a unit whose
//! plan is only received, and a unit whose approval was withdrawn, have no approved plan; a
//! reader outside the unit's subtree is refused.

use quyhoach::{
    auth::Role,
    config::RawConfig,
    grpc::pb::{self, planning_client::PlanningClient},
};
use tonic::{transport::Channel, Code};

use crate::{harness::*, procs::cli, web::Http};

/// The national ID of test person `n` (as [`entry`] makes it).
fn nid(n: u32) -> String {
    format!("0400800{n:05}")
}

async fn ask(
    c: &mut PlanningClient<Channel>,
    national_id: &str,
    position: &str,
    unit: &str,
) -> Result<pb::EligibleResponse, tonic::Status> {
    c.eligible(pb::EligibleRequest {
        national_id: national_id.into(),
        position: position.into(),
        unit: unit.into(),
    })
    .await
    .map(|r| r.into_inner())
}

fn verdict(r: &pb::EligibleResponse) -> pb::EligibilityVerdict {
    pb::EligibilityVerdict::try_from(r.verdict).unwrap()
}

/// The answer is "planned" by version 1 of 16681 with `hash`, for `planned`.
fn assert_planned(r: &pb::EligibleResponse, hash: &str, planned: &str) {
    assert_eq!(verdict(r), pb::EligibilityVerdict::Planned, "{r:?}");
    assert_eq!(r.plan, Some(id("16681", 1)), "{r:?}");
    assert_eq!(r.hash, hash);
    assert_eq!(r.planned_position, planned);
    assert_eq!(r.full_name, "Nguyễn Thị Hoa");
    assert!(r.finding.is_none(), "{r:?}");
}

/// The answer is `expected`, with its R23 warning saying `says`.
fn assert_not(r: &pb::EligibleResponse, expected: pb::EligibilityVerdict, says: &str) {
    assert_eq!(verdict(r), expected, "{r:?}");
    assert!(r.plan.is_none() && r.hash.is_empty(), "{r:?}");
    let f = r.finding.as_ref().expect("an R23 warning");
    assert_eq!(f.rule, "R23");
    assert_eq!(f.severity, pb::Severity::Warning as i32);
    assert!(f.message_en.contains(says), "{f:?}");
    assert!(!f.message_en.contains(&nid(1)), "a masked ID: {f:?}");
}

/// The person page of `national_id` on `http`, answering the R23 box for `position` in
/// `unit`, in `lang`: its status and body.
async fn person_box(
    http: &Http,
    national_id: &str,
    position: &str,
    unit: &str,
    lang: &str,
) -> (u16, String) {
    let cookie = format!("qh_lang={lang}");
    let found = http
        .send(
            "GET",
            &format!("/nguoi?cccd={national_id}"),
            Some(&cookie),
            "",
        )
        .await;
    assert_eq!(found.status, 303, "{}", found.body);
    let at = found.headers["location"].to_str().unwrap().to_string();
    let r = http
        .send(
            "GET",
            &format!("{at}?chuc_danh={position}&don_vi={unit}"),
            Some(&cookie),
            "",
        )
        .await;
    (r.status, r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eligibility_for_the_same_an_equivalent_a_lower_and_a_higher_post() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let district = start_with(RawConfig {
        web: Some("127.0.0.1:0".into()),
        ..node_config(dir.path(), "412", Some(province.url()), "builtin:2024")
    })
    .await;
    let commune = start(dir.path(), "16681", Some(district.url()), "builtin:2024").await;
    let sibling = start(dir.path(), "16690", Some(district.url()), "builtin:2024").await;
    let mut cc = client(&commune).await;
    let mut dc = client(&district).await;
    let mut pc = client(&province).await;
    let mut sc = client(&sibling).await;

    // 16681 plans person 1 for chairman of its people's committee; 412 approves it.
    let adopted = adopted_plan(&mut cc, "16681", &[(1, "Nguyễn Thị Hoa", "C.CT.UBND")]).await;
    submit_until_received(&mut cc, "16681", &mut dc).await;
    dc.decide_plan(pb::DecidePlanRequest {
        cms_signature: Vec::new(),
        plan: adopted.id.clone(),
        hash: adopted.hash.clone(),
        outcome: pb::Outcome::Approve.into(),
        reasons: vec![],
        cite_findings: vec![],
    })
    .await
    .unwrap();
    // 16690's plan is received at 412 but not approved.
    adopted_plan(&mut sc, "16690", &[(3, "Lê Văn Cường", "C.CT.UBND")]).await;
    submit_until_received(&mut sc, "16690", &mut dc).await;

    let hash = adopted.hash.as_str();
    let p1 = nid(1);
    // The same post, an equivalent one (same kind and grade), a lower one: planned.
    let same = ask(&mut dc, &p1, "C.CT.UBND", "16681").await.unwrap();
    assert_planned(&same, hash, "C.CT.UBND");
    assert!(!same.on.is_empty());
    let equivalent = ask(&mut dc, &p1, "C.CT.HDND", "16681").await.unwrap();
    assert_planned(&equivalent, hash, "C.CT.UBND");
    let lower = ask(&mut dc, &p1, "C.PCT.UBND", "16681").await.unwrap();
    assert_planned(&lower, hash, "C.CT.UBND");
    // A higher post (the party secretary): not planned, with the R23 warning.
    let higher = ask(&mut dc, &p1, "C.BT", "16681").await.unwrap();
    assert_not(
        &higher,
        pb::EligibilityVerdict::NotPlanned,
        "in no approved plan of the current term",
    );
    // Someone only in a plan that was received, not approved: not planned in 16681, and
    // 16690 itself has no approved plan.
    let p3 = nid(3);
    let other = ask(&mut dc, &p3, "C.CT.UBND", "16681").await.unwrap();
    assert_eq!(verdict(&other), pb::EligibilityVerdict::NotPlanned);
    let unapproved = ask(&mut dc, &p3, "C.CT.UBND", "16690").await.unwrap();
    assert_not(
        &unapproved,
        pb::EligibilityVerdict::NoApprovedPlan,
        "the competent level decides",
    );

    // The province, once the approval is carried up, answers the same from its copy.
    wait_status(&mut pc, "16681", pb::PlanStatus::Approved).await;
    assert_planned(
        &ask(&mut pc, &p1, "C.CT.UBND", "16681").await.unwrap(),
        hash,
        "C.CT.UBND",
    );

    // Bad questions: the field named, the right status.
    let e = ask(&mut dc, "12345", "C.CT.UBND", "16681")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("national_id"), "{e:?}");
    let e = ask(&mut dc, &p1, "X.NONE", "16681").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("position"), "{e:?}");
    let e = ask(&mut dc, &p1, "C.CT.UBND", "99999").await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert!(e.message().contains("unit"), "{e:?}");
    // 16681 is outside the subtree of the node of 16690.
    let e = ask(&mut sc, &p1, "C.CT.UBND", "16681").await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("unit"), "{e:?}");

    // The binary: exit 0 with any answer, non-zero when refused.
    let node = district.addr.to_string();
    let run = |position: &'static str, unit: &'static str, cccd: String| {
        let node = node.clone();
        async move {
            cli([
                "eligible",
                "--node",
                &node,
                "--cccd",
                &cccd,
                "--position",
                position,
                "--unit",
                unit,
            ])
            .await
        }
    };
    let ran = run("C.CT.HDND", "16681", p1.clone()).await;
    assert!(ran.ok, "{}", ran.text());
    assert!(
        ran.stdout.contains(&format!(
            "planned: in approved plan 16681/2025-2030 v1 (hash {hash}) for C.CT.UBND"
        )),
        "{}",
        ran.stdout
    );
    let ran = run("C.BT", "16681", p1.clone()).await;
    assert!(ran.ok, "{}", ran.text());
    assert!(ran.stdout.contains("not planned"), "{}", ran.stdout);
    assert!(ran.stdout.contains("R23"), "{}", ran.stdout);
    let ran = run("C.CT.UBND", "16690", p3.clone()).await;
    assert!(ran.ok, "{}", ran.text());
    assert!(
        ran.stdout
            .contains("no approved plan: the competent level decides"),
        "{}",
        ran.stdout
    );
    let ran = run("C.CT.UBND", "16681", "0400".into()).await;
    assert!(!ran.ok, "{}", ran.text());
    assert!(ran.stderr.contains("national_id"), "{}", ran.stderr);
    // Without --unit: the node's own unit (the commune, once the approval came down).
    wait_status(&mut cc, "16681", pb::PlanStatus::Approved).await;
    let ran = cli([
        "eligible",
        "--node",
        &commune.addr.to_string(),
        "--cccd",
        &p1,
        "--position",
        "C.CT.UBND",
    ])
    .await;
    assert!(ran.ok, "{}", ran.text());
    assert!(ran.stdout.contains("16681/2025-2030 v1"), "{}", ran.stdout);

    // The web person page's box, in both languages.
    let http = Http::new(&district.web_url().unwrap(), None);
    let (status, body) = person_box(&http, &p1, "C.CT.HDND", "16681", "vi").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#"data-verdict="planned""#), "{body}");
    assert!(body.contains("Có trong quy hoạch đã phê duyệt"), "{body}");
    assert!(body.contains(hash), "{body}");
    let (status, body) = person_box(&http, &p1, "C.CT.HDND", "16681", "en").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Planned, in the approved plan"), "{body}");
    let (status, body) = person_box(&http, &p1, "C.BT", "16681", "en").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#"data-verdict="not_planned""#), "{body}");
    let (status, body) = person_box(&http, &p1, "X.NONE", "16681", "en").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("position"), "{body}");

    // 412 withdraws its approval: 16681 has no approved plan any more, at 412 and above.
    dc.decide_plan(pb::DecidePlanRequest {
        cms_signature: Vec::new(),
        plan: Some(id("16681", 1)),
        hash: String::new(),
        outcome: pb::Outcome::Return.into(),
        reasons: vec!["Hồ sơ nhân sự chưa đầy đủ".into()],
        cite_findings: vec![],
    })
    .await
    .unwrap();
    assert_not(
        &ask(&mut dc, &p1, "C.CT.UBND", "16681").await.unwrap(),
        pb::EligibilityVerdict::NoApprovedPlan,
        "the competent level decides",
    );
    wait_status(&mut pc, "16681", pb::PlanStatus::Returned).await;
    assert_eq!(
        verdict(&ask(&mut pc, &p1, "C.CT.UBND", "16681").await.unwrap()),
        pb::EligibilityVerdict::NoApprovedPlan
    );
    let (status, body) = person_box(&http, &p1, "C.CT.UBND", "16681", "vi").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#"data-verdict="no_approved_plan""#),
        "{body}"
    );
    assert!(
        body.contains("cấp có thẩm quyền xem xét, quyết định"),
        "{body}"
    );

    for n in [commune, sibling, district, province] {
        n.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_reader_outside_the_unit_s_subtree_is_refused() {
    let tree = TlsTree::start().await;
    // A reader of commune 16690, asking the district about a post of 16681.
    let mut outsider = tree.as_(&tree.district, "16690", &[Role::Reader]).await;
    let e = ask(&mut outsider, &nid(1), "C.CT.UBND", "16681")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("unit"), "{e:?}");
    // Within their own unit they get an answer (no plan approved there yet).
    let r = ask(&mut outsider, &nid(1), "C.CT.UBND", "16690")
        .await
        .unwrap();
    assert_eq!(verdict(&r), pb::EligibilityVerdict::NoApprovedPlan);
    // A reader of the district may ask about any of its communes.
    let mut reader = tree.as_(&tree.district, "412", &[Role::Reader]).await;
    let r = ask(&mut reader, &nid(1), "C.CT.UBND", "16681")
        .await
        .unwrap();
    assert_eq!(verdict(&r), pb::EligibilityVerdict::NoApprovedPlan);
    tree.stop().await;
}
