//! Fulfilled entries travel up like withdrawals: a fulfilment recorded at the district for a
//! commune's approved entry reaches the province (its person page shows it, its audit trail
//! records it from 412), and R2 there no longer counts the entry at the next review; the
//! province checks what arrives like a local write (a sibling's push, an entry the version
//! does not list: refused, nothing stored); the same fulfilment twice is one; a district
//! killed with SIGKILL right after recording one still delivers it, once.

use quyhoach::{
    config::RawConfig,
    grpc::pb::{self, planning_client::PlanningClient},
};
use tonic::{transport::Channel, Code};

use crate::{
    harness::*,
    procs::{eventually, Proc},
    web::Http,
};

const POST: &str = "C.PCT.UBND";

fn nid(n: u32) -> String {
    format!("0400800{n:05}")
}

fn fulfil_request(unit: &str, n: u32, position: &str, decision: &str) -> pb::FulfilRequest {
    pb::FulfilRequest {
        plan: Some(id(unit, 0)),
        national_id: nid(n),
        position: position.into(),
        kind: pb::FulfilmentKind::Elected.into(),
        post: String::new(),
        decision_number: decision.into(),
        decided_on: "2025-06-01".into(),
    }
}

/// The fulfilment a node hands up, as the district would send it for entry `n` of `unit` v1.
fn handed_up(unit: &str, n: u32, decision: &str) -> pb::Fulfilment {
    pb::Fulfilment {
        plan: Some(id(unit, 1)),
        national_id: nid(n),
        position: POST.into(),
        kind: pb::FulfilmentKind::Elected.into(),
        post: POST.into(),
        decision_number: decision.into(),
        decided_on: "2025-06-01".into(),
        recorded_by: "Nguyễn Văn Kiểm [approver@412]".into(),
        recorded_at: "2025-06-02T08:00:00Z".into(),
    }
}

/// Approves `unit` version `version` with `hash` at the node behind `c`.
async fn approve(c: &mut PlanningClient<Channel>, unit: &str, version: u32, hash: &str) {
    c.decide_plan(pb::DecidePlanRequest {
        plan: Some(id(unit, version)),
        hash: hash.into(),
        outcome: pb::Outcome::Approve.into(),
        reasons: vec![],
        cite_findings: vec![],
        cms_signature: Vec::new(),
    })
    .await
    .unwrap();
}

/// The person page of `n` at the province, once it exists.
async fn person_page(http: &Http, n: u32) -> String {
    let found = http
        .send("GET", &format!("/nguoi?cccd={}", nid(n)), None, "")
        .await;
    assert_eq!(found.status, 303, "{}", found.body);
    let at = found.headers["location"].to_str().unwrap().to_string();
    let page = http.send("GET", &at, None, "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.body
}

const PEOPLE: [(u32, &str, &str); 5] = [
    (1, "Nguyễn Văn An", POST),
    (2, "Trần Thị Bình", POST),
    (3, "Lê Văn Cường", POST),
    (4, "Phạm Văn Dũng", POST),
    (5, "Hoàng Thị Em", POST),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fulfilment_recorded_at_the_district_reaches_the_province_and_r2_there_releases_it() {
    let dir = tempfile::tempdir().unwrap();
    let province = start_with(RawConfig {
        web: Some("127.0.0.1:0".into()),
        ..node_config(dir.path(), "40", None, "builtin:2024")
    })
    .await;
    let district = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
    let commune = start(dir.path(), "16681", Some(district.url()), "builtin:2024").await;
    let mut cc = client(&commune).await;
    let mut dc = client(&district).await;
    let mut pc = client(&province).await;

    // v1 of the commune: five deputy chairmen, approved by the district, carried up.
    let v1 = adopted_plan(&mut cc, "16681", &PEOPLE).await;
    submit_until_received(&mut cc, "16681", &mut dc).await;
    approve(&mut dc, "16681", 1, &v1.hash).await;
    wait_status(&mut pc, "16681", pb::PlanStatus::Approved).await;

    // The district records that person 1 was elected; it reaches the province.
    let recorded = dc
        .fulfil(fulfil_request("16681", 1, POST, "12/NQ-HĐND"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(recorded.plan, Some(id("16681", 1)));
    let http = Http::new(&province.web_url().unwrap(), None);
    let page = eventually(20, "the fulfilment at the province", || async {
        let page = person_page(&http, 1).await;
        page.contains(r#"data-outcome="fulfilled""#).then_some(page)
    })
    .await;
    assert!(page.contains("12/NQ-HĐND"), "{page}");
    assert!(page.contains("Đã bầu"), "{page}");
    let received = audit_records(&mut pc, "receive_fulfilment").await;
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(received[0].detail.starts_with("from 412"), "{received:?}");
    assert_eq!(received[0].plan, Some(id("16681", 1)));
    // Nobody else's entry is marked.
    assert!(!person_page(&http, 2)
        .await
        .contains(r#"data-outcome="fulfilled""#));
    // The district's link settled it, once.
    eventually(10, "the district to settle its queue", || {
        let mut dc = dc.clone();
        async move { (audit_records(&mut dc, "fulfilment_delivered").await.len() == 1).then_some(()) }
    })
    .await;

    // The next review: the district reopens v1, the commune drafts v2 from it (the same five)
    // and the district approves it. R2 at the province counts four: person 1 takes no place.
    dc.decide_plan(pb::DecidePlanRequest {
        plan: Some(id("16681", 1)),
        hash: String::new(),
        outcome: pb::Outcome::Return.into(),
        reasons: vec!["Rà soát, bổ sung quy hoạch hằng năm".into()],
        cite_findings: vec![],
        cms_signature: Vec::new(),
    })
    .await
    .unwrap();
    wait_status(&mut cc, "16681", pb::PlanStatus::Returned).await;
    cc.create_draft(pb::CreateDraftRequest {
        unit: "16681".into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    let v2 = cc
        .adopt_plan(pb::AdoptPlanRequest {
            unit: "16681".into(),
            term: TERM.into(),
            adopted_on: String::new(),
            revision: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v2.entries.len(), 5);
    submit_until_received(&mut cc, "16681", &mut dc).await;
    approve(&mut dc, "16681", 2, &v2.hash).await;
    eventually(20, "v2 approved at the province", || {
        let mut pc = pc.clone();
        async move {
            let p = pc
                .get_plan(pb::GetPlanRequest {
                    unit: "16681".into(),
                    term: TERM.into(),
                    version: 2,
                })
                .await
                .ok()?
                .into_inner();
            (p.status == pb::PlanStatus::Approved as i32).then_some(())
        }
    })
    .await;
    let r2 = pc
        .check(pb::CheckRequest {
            under: "16681".into(),
            term: TERM.into(),
            rules: vec!["R2".into()],
            plan: Some(id("16681", 2)),
            stored: false,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .findings;
    assert_eq!(r2.len(), 1, "{r2:?}");
    let m = &r2[0].message_vi;
    assert!(m.starts_with("4 cán bộ"), "{m}");
    assert!(
        !m.contains("Nguyễn Văn An"),
        "the fulfilled entry is counted: {m}"
    );
    assert!(m.contains("Trần Thị Bình"), "{m}");

    for node in [commune, district, province] {
        node.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fulfilment_from_a_sibling_or_for_no_entry_is_refused_and_nothing_is_stored() {
    let tree = Tree::start().await;
    let mut cc = client(&tree.commune).await;
    let mut dc = client(&tree.district).await;
    let mut pc = client(&tree.province).await;
    let v1 = adopted_plan(&mut cc, "16681", &PEOPLE[..1]).await;
    submit_until_received(&mut cc, "16681", &mut dc).await;
    approve(&mut dc, "16681", 1, &v1.hash).await;
    wait_status(&mut pc, "16681", pb::PlanStatus::Approved).await;

    let push = |from: &str, f: pb::Fulfilment| pb::PushFulfilmentRequest {
        from_unit: from.into(),
        fulfilment: Some(f),
        signature: None,
    };
    // The sibling commune hands 16681's fulfilment to the district: refused.
    let mut at_district = sync_client(&tree.district).await;
    let e = at_district
        .push_fulfilment(push("16690", handed_up("16681", 1, "12/NQ-HĐND")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("fulfilment.plan.unit"), "{e:?}");
    // A commune is not a child of the province.
    let mut at_province = sync_client(&tree.province).await;
    let e = at_province
        .push_fulfilment(push("16690", handed_up("16681", 1, "12/NQ-HĐND")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("from_unit"), "{e:?}");
    // An entry v1 does not list, a post that is not equivalent, a decision dated in the
    // future: refused like a local write, naming the field.
    let e = at_province
        .push_fulfilment(push("412", handed_up("16681", 9, "12/NQ-HĐND")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert!(e.message().contains("entry"), "{e:?}");
    let mut f = handed_up("16681", 1, "12/NQ-HĐND");
    f.post = "C.BT".into();
    let e = at_province
        .push_fulfilment(push("412", f))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("post"), "{e:?}");
    let mut f = handed_up("16681", 1, "12/NQ-HĐND");
    f.decided_on = "2999-01-01".into();
    let e = at_province
        .push_fulfilment(push("412", f))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("decided_on"), "{e:?}");
    // Nothing was stored, at either level.
    assert!(audit_records(&mut pc, "receive_fulfilment")
        .await
        .is_empty());
    assert!(audit_records(&mut dc, "receive_fulfilment")
        .await
        .is_empty());

    // The district's own push of it is taken; the same again is one; another decision for
    // the same entry keeps the record held and is answered as a conflict.
    let first = at_province
        .push_fulfilment(push("412", handed_up("16681", 1, "12/NQ-HĐND")))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.duplicate && !first.conflict, "{first:?}");
    let again = at_province
        .push_fulfilment(push("412", handed_up("16681", 1, "12/NQ-HĐND")))
        .await
        .unwrap()
        .into_inner();
    assert!(again.duplicate, "{again:?}");
    assert_eq!(again.held, first.held);
    let other = at_province
        .push_fulfilment(push("412", handed_up("16681", 1, "99/NQ-HĐND")))
        .await
        .unwrap()
        .into_inner();
    assert!(other.conflict, "{other:?}");
    assert_eq!(other.held.unwrap().decision_number, "12/NQ-HĐND");
    assert_eq!(audit_records(&mut pc, "receive_fulfilment").await.len(), 1);
    let status = pc
        .sync_status(pb::SyncStatusRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(
        format!("{:?}", status.conflicts).contains("99/NQ-HĐND"),
        "{status:?}"
    );
    tree.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fulfilment_recorded_just_before_a_sigkill_of_the_district_arrives_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut province = Proc::node(dir.path(), "40", None, &[]).await;
    let mut district = Proc::node(dir.path(), "412", Some(&province), &[]).await;
    let mut dc = district.client().await;
    let mut pc = province.client().await;

    // The district's own plan, approved by the province; the approval pulled down.
    draft_with(
        &mut dc,
        "412",
        vec![
            district_entry(1, "Nguyễn Văn An", "412"),
            district_entry(2, "Trần Thị Bình", "412"),
        ],
    )
    .await;
    dc.record_ballot_round(pb::RecordBallotRoundRequest {
        unit: "412".into(),
        term: TERM.into(),
        round: Some(round(&[(1, "D.PCT.UBND", 20), (2, "D.PCT.UBND", 20)])),
    })
    .await
    .unwrap();
    let v1 = dc
        .adopt_plan(pb::AdoptPlanRequest {
            unit: "412".into(),
            term: TERM.into(),
            adopted_on: String::new(),
            revision: None,
        })
        .await
        .unwrap()
        .into_inner();
    submit_until_received(&mut dc, "412", &mut pc).await;
    approve(&mut pc, "412", 1, &v1.hash).await;
    wait_status(&mut dc, "412", pb::PlanStatus::Approved).await;

    // The province is away; the district records the fulfilment and is killed at once.
    province.kill().await;
    dc.fulfil(fulfil_request("412", 1, "D.PCT.UBND", "125/QĐ-UBND"))
        .await
        .unwrap();
    district.kill().await;

    province.restart(true, &[]).await;
    district.restart(false, &[]).await;
    let mut pc = province.client().await;
    let mut dc = district.client().await;
    eventually(30, "the fulfilment at the province", || {
        let mut pc = pc.clone();
        async move {
            (!audit_records(&mut pc, "receive_fulfilment")
                .await
                .is_empty())
            .then_some(())
        }
    })
    .await;
    eventually(10, "the district to settle its queue", || {
        let mut dc = dc.clone();
        async move {
            (!audit_records(&mut dc, "fulfilment_delivered")
                .await
                .is_empty())
            .then_some(())
        }
    })
    .await;
    // Once at the province, settled once at the district.
    assert_eq!(audit_records(&mut pc, "receive_fulfilment").await.len(), 1);
    assert_eq!(
        audit_records(&mut dc, "fulfilment_delivered").await.len(),
        1
    );
    let f = audit_records(&mut pc, "receive_fulfilment").await.remove(0);
    assert_eq!(f.plan, Some(id("412", 1)));
    assert!(f.detail.contains("125/QĐ-UBND"), "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fulfilment_travels_over_a_folder_link_as_a_sealed_bundle() {
    use crate::bundles::{
        adopt_district_plan, as_person, bundle_appears, carry, folder_district, submit, Office,
    };
    use quyhoach::{auth::Role, pki::Authority};

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Authority::create("Tỉnh Nghệ An CA", 1).unwrap();
    let province = start_tls(d, &ca, "40", None).await;
    let usb = d.join("usb");
    let district = folder_district(d, &ca, &usb).await;
    let office = Office::new(d, &ca, province.addr.to_string(), "40");
    let district_addr = district.addr.to_string();
    let province_addr = province.addr.to_string();
    let mut clerk = as_person(&district_addr, &ca, "412", &[Role::Clerk]).await;
    let mut approver = as_person(&province_addr, &ca, "40", &[Role::Approver]).await;
    let mut admin = as_person(&province_addr, &ca, "40", &[Role::Admin]).await;
    let mut district_admin = as_person(&district_addr, &ca, "412", &[Role::Admin]).await;

    // The district's plan goes up on the stick, is approved, and the decision comes down.
    let own = adopt_district_plan(&mut clerk, 3, "Lê Hữu Phước").await;
    submit(&mut clerk).await;
    let inbox = d.join("province-inbox");
    let pushed = bundle_appears(&usb.join("up"), "push-412-2025-2030-v1").await;
    let (ok, text) = office.import(&carry(&pushed, &inbox)).await.said();
    assert!(ok, "{text}");
    let receipt = bundle_appears(&inbox, "receipt-412-2025-2030-v1").await;
    carry(&receipt, &usb.join("down"));
    approve(&mut approver, "412", 1, &own.hash).await;
    let decisions = inbox.join("decisions-for-412.qhb");
    let (ok, text) = office.export(&decisions).await.said();
    assert!(ok, "{text}");
    carry(&decisions, &usb.join("down"));
    wait_status(&mut clerk, "412", pb::PlanStatus::Approved).await;

    // The clerk records that person 3 was appointed: it waits in up/ as a bundle sealed by the
    // district's node.
    clerk
        .fulfil(fulfil_request("412", 3, "D.PCT.UBND", "125/QĐ-UBND"))
        .await
        .unwrap();
    let up = bundle_appears(&usb.join("up"), "fulfil-412-2025-2030-v1-D.PCT.UBND").await;
    let (ok, text) = crate::procs::cli([
        "bundle".to_string(),
        "verify".into(),
        up.display().to_string(),
        "--ca".into(),
        d.join("ca.pem").display().to_string(),
    ])
    .await
    .said();
    assert!(ok, "{text}");
    assert!(
        text.contains("sealed by: quyhoach node 412 [node@412]")
            && text.contains("holds: fulfilment of 412/2025-2030/v1 for D.PCT.UBND")
            && text.contains("125/QĐ-UBND")
            && text.contains("signed: fulfilment 412/2025-2030/v1 approved by 412")
            && text.contains("every signature and hash holds"),
        "{text}"
    );

    // Imported at the province: checked like a local write, kept, answered; twice is once.
    let carried = carry(&up, &inbox);
    let (ok, text) = office.import(&carried).await.said();
    assert!(ok, "{text}");
    assert!(
        text.contains("fulfilment of 412/2025-2030/v1 from 412 received"),
        "{text}"
    );
    let (ok, text) = office.import(&carried).await.said();
    assert!(ok && text.contains("already held"), "{text}");
    let received = audit_records(&mut admin, "receive_fulfilment").await;
    assert_eq!(received.len(), 1);
    // The district's signed statement is kept with it, in the same transaction.
    assert!(
        received[0]
            .detail
            .contains("keeps the signature: fulfilment on 412/2025-2030/v1 by 412"),
        "{received:?}"
    );

    // The answer carried back settles the district's queue.
    let answer = bundle_appears(&inbox, "fulfilled-412-2025-2030-v1-D.PCT.UBND").await;
    carry(&answer, &usb.join("down"));
    eventually(20, "the district to settle its queue", || {
        let mut c = district_admin.clone();
        async move { (audit_records(&mut c, "fulfilment_delivered").await.len() == 1).then_some(()) }
    })
    .await;
    assert_eq!(
        audit_records(&mut district_admin, "fulfilment_delivered")
            .await
            .len(),
        1
    );
    district.stop().await.unwrap();
    province.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_tls_a_fulfilment_goes_up_signed_and_an_unsigned_one_is_refused() {
    use quyhoach::auth::Role;

    let tree = TlsTree::start().await;
    let mut clerk = tree.as_(&tree.commune, "16681", &[Role::Clerk]).await;
    let mut district = tree.as_(&tree.district, "412", &[Role::Approver]).await;
    let mut admin = tree.as_(&tree.province, "40", &[Role::Admin]).await;
    let v1 = adopted_plan(&mut clerk, "16681", &PEOPLE[..2]).await;
    submit_until_received(&mut clerk, "16681", &mut district).await;
    approve(&mut district, "16681", 1, &v1.hash).await;
    wait_status(&mut admin, "16681", pb::PlanStatus::Approved).await;

    // Handed up by the district's node without its signature: refused, nothing kept.
    let mut as_412 = tree.node_as(&tree.province, "412").await;
    let e = as_412
        .push_fulfilment(pb::PushFulfilmentRequest {
            from_unit: "412".into(),
            fulfilment: Some(handed_up("16681", 1, "12/NQ-HĐND")),
            signature: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("signature"), "{e:?}");
    assert!(audit_records(&mut admin, "receive_fulfilment")
        .await
        .is_empty());

    // Recorded by the district's approver: it reaches the province signed by 412's node.
    district
        .fulfil(fulfil_request("16681", 1, POST, "12/NQ-HĐND"))
        .await
        .unwrap();
    let received = eventually(20, "the fulfilment at the province", || {
        let mut c = admin.clone();
        async move {
            let r = audit_records(&mut c, "receive_fulfilment").await;
            (!r.is_empty()).then_some(r)
        }
    })
    .await;
    assert_eq!(received.len(), 1);
    assert!(
        received[0]
            .detail
            .contains("keeps the signature: fulfilment on 16681/2025-2030/v1 by 412"),
        "{received:?}"
    );
    tree.stop().await;
}
