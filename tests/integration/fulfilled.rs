//! Fulfilled entries: a planned cadre elected or appointed to the post (or an equivalent one)
//! gets the outcome "fulfilled" with the decision's number and date, through the `Fulfil` RPC
//! and `quyhoach fulfil`; the approved version keeps the entry and its hash (distinct from
//! removal), the person page shows the outcome, and at the next review the entry no longer
//! counts against R2's cap while every other entry still does; the page of that next version
//! shows what changed since the approved one.

use quyhoach::{
    config::RawConfig,
    grpc::pb::{self, planning_client::PlanningClient},
};
use tonic::{transport::Channel, Code};

use crate::{harness::*, procs::cli, web::Http};

const POST: &str = "D.PCT.UBND";

fn nid(n: u32) -> String {
    format!("0400800{n:05}")
}

fn request(n: u32, decision: &str, on: &str) -> pb::FulfilRequest {
    pb::FulfilRequest {
        plan: Some(id("412", 0)),
        national_id: nid(n),
        position: POST.into(),
        kind: pb::FulfilmentKind::Appointed.into(),
        post: String::new(),
        decision_number: decision.into(),
        decided_on: on.into(),
    }
}

async fn refused(c: &mut PlanningClient<Channel>, r: pb::FulfilRequest, code: Code, field: &str) {
    let e = c.fulfil(r).await.unwrap_err();
    assert_eq!(e.code(), code, "{e:?}");
    assert!(e.message().contains(field), "{field} not named: {e:?}");
}

/// The district's own list: `people` planned as deputy chairman, voted in one round.
async fn put_people(dc: &mut PlanningClient<Channel>, people: &[(u32, &str)]) {
    for &(n, name) in people {
        dc.put_entry(pb::PutEntryRequest {
            unit: "412".into(),
            term: TERM.into(),
            entry: Some(district_entry(n, name, "412")),
        })
        .await
        .unwrap();
    }
    let tallies: Vec<(u32, &str, u32)> = people.iter().map(|&(n, _)| (n, POST, 20)).collect();
    dc.record_ballot_round(pb::RecordBallotRoundRequest {
        unit: "412".into(),
        term: TERM.into(),
        round: Some(round(&tallies)),
    })
    .await
    .unwrap();
}

async fn adopt(dc: &mut PlanningClient<Channel>) -> pb::Plan {
    dc.adopt_plan(pb::AdoptPlanRequest {
        unit: "412".into(),
        term: TERM.into(),
        adopted_on: String::new(),
        revision: None,
    })
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fulfilled_entry_is_kept_shown_and_no_longer_counted_at_the_next_review() {
    let dir = tempfile::tempdir().unwrap();
    let province = start_with(RawConfig {
        web: Some("127.0.0.1:0".into()),
        ..node_config(dir.path(), "40", None, "builtin:2024")
    })
    .await;
    let district = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
    let mut dc = client(&district).await;
    let mut pc = client(&province).await;

    // v1: three deputy chairmen, approved by the province.
    dc.create_draft(pb::CreateDraftRequest {
        unit: "412".into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    put_people(
        &mut dc,
        &[
            (1, "Nguyễn Văn An"),
            (2, "Trần Thị Bình"),
            (3, "Lê Văn Cường"),
        ],
    )
    .await;
    let v1 = adopt(&mut dc).await;
    submit_until_received(&mut dc, "412", &mut pc).await;
    pc.decide_plan(pb::DecidePlanRequest {
        cms_signature: Vec::new(),
        plan: v1.id.clone(),
        hash: v1.hash.clone(),
        outcome: pb::Outcome::Approve.into(),
        reasons: vec![],
        cite_findings: vec![],
    })
    .await
    .unwrap();

    // Refused, naming the field, and nothing recorded.
    let mut r = request(1, "125/QĐ-UBND", "2025-06-01");
    r.kind = pb::FulfilmentKind::Unspecified.into();
    refused(&mut pc, r, Code::InvalidArgument, "kind").await;
    let mut r = request(1, "125/QĐ-UBND", "2025-06-01");
    r.national_id = "12345".into();
    refused(&mut pc, r, Code::InvalidArgument, "national_id").await;
    refused(
        &mut pc,
        request(9, "125/QĐ-UBND", "2025-06-01"),
        Code::NotFound,
        "entry",
    )
    .await;
    let mut r = request(1, "125/QĐ-UBND", "2025-06-01");
    r.post = "D.BT".into();
    refused(&mut pc, r, Code::InvalidArgument, "post").await;
    refused(
        &mut pc,
        request(1, "125/QĐ-UBND", "2999-01-01"),
        Code::InvalidArgument,
        "decided_on",
    )
    .await;
    refused(
        &mut pc,
        request(1, "  ", "2025-06-01"),
        Code::InvalidArgument,
        "decision_number",
    )
    .await;
    let mut r = request(1, "125/QĐ-UBND", "2025-06-01");
    r.plan = Some(id("16681", 0));
    refused(&mut pc, r, Code::NotFound, "plan").await;

    // Person 1 appointed: the entry of v1 is fulfilled.
    let f = pc
        .fulfil(request(1, "125/QĐ-UBND", "2025-06-01"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(f.plan, Some(id("412", 1)));
    assert_eq!(f.kind, pb::FulfilmentKind::Appointed as i32);
    assert_eq!((f.position.as_str(), f.post.as_str()), (POST, POST));
    assert_eq!(f.decision_number, "125/QĐ-UBND");
    assert_eq!(f.decided_on, "2025-06-01");
    // The same decision again answers what is held; another decision is refused.
    let again = pc
        .fulfil(request(1, "125/QĐ-UBND", "2025-06-01"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, f);
    refused(
        &mut pc,
        request(1, "130/QĐ-UBND", "2025-06-05"),
        Code::FailedPrecondition,
        "entry",
    )
    .await;

    // Person 2 elected to an equivalent post, through the binary; a refusal exits non-zero.
    let node = province.addr.to_string();
    let ran = cli([
        "fulfil",
        "--node",
        &node,
        "--unit",
        "412",
        "--term",
        TERM,
        "--cccd",
        &nid(2),
        "--position",
        POST,
        "--elected",
        "--post",
        "D.PCT.HDND",
        "--decision",
        "7/NQ-HĐND",
        "--on",
        "2025-07-01",
    ])
    .await;
    assert!(ran.ok, "{}", ran.text());
    assert!(
        ran.stdout.contains("fulfilled (elected, đã bầu)")
            && ran.stdout.contains("412/2025-2030 v1")
            && ran.stdout.contains("7/NQ-HĐND"),
        "{}",
        ran.stdout
    );
    let ran = cli([
        "fulfil",
        "--node",
        &node,
        "--unit",
        "412",
        "--term",
        TERM,
        "--cccd",
        &nid(9),
        "--position",
        POST,
        "--decision",
        "1/QĐ",
        "--on",
        "2025-07-01",
    ])
    .await;
    assert!(!ran.ok, "{}", ran.text());
    assert!(ran.stderr.contains("entry"), "{}", ran.stderr);

    // Not a removal: v1 still lists all three, with its hash.
    let held = pc
        .get_plan(pb::GetPlanRequest {
            unit: "412".into(),
            term: TERM.into(),
            version: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.entries.len(), 3);
    assert_eq!(held.hash, v1.hash);
    assert_eq!(held.status, pb::PlanStatus::Approved as i32);

    // The person page shows the outcome, in both languages.
    let http = Http::new(&province.web_url().unwrap(), None);
    for (n, vi, en, decision) in [
        (1, "Đã bố trí", "Fulfilled: appointed", "125/QĐ-UBND"),
        (2, "Đã bầu", "Fulfilled: elected", "7/NQ-HĐND"),
    ] {
        for (lang, word) in [("vi", vi), ("en", en)] {
            let cookie = format!("qh_lang={lang}");
            let found = http
                .send("GET", &format!("/nguoi?cccd={}", nid(n)), Some(&cookie), "")
                .await;
            assert_eq!(found.status, 303, "{}", found.body);
            let at = found.headers["location"].to_str().unwrap().to_string();
            let page = http.send("GET", &at, Some(&cookie), "").await;
            assert_eq!(page.status, 200, "{}", page.body);
            assert!(
                page.body.contains(r#"data-outcome="fulfilled""#),
                "{}",
                page.body
            );
            assert!(page.body.contains(word), "{word}: {}", page.body);
            assert!(page.body.contains(decision), "{}", page.body);
        }
    }
    let found = http
        .send("GET", &format!("/nguoi?cccd={}", nid(3)), None, "")
        .await;
    let at = found.headers["location"].to_str().unwrap().to_string();
    let page = http.send("GET", &at, None, "").await;
    assert!(
        !page.body.contains(r#"data-outcome="fulfilled""#),
        "{}",
        page.body
    );

    // The next review: the province reopens v1, the district drafts v2 with three more deputy
    // chairmen (six entries). R2 counts four: the two fulfilled entries take no place.
    pc.decide_plan(pb::DecidePlanRequest {
        cms_signature: Vec::new(),
        plan: Some(id("412", 1)),
        hash: String::new(),
        outcome: pb::Outcome::Return.into(),
        reasons: vec!["Rà soát, bổ sung quy hoạch hằng năm".into()],
        cite_findings: vec![],
    })
    .await
    .unwrap();
    wait_status(&mut dc, "412", pb::PlanStatus::Returned).await;
    dc.create_draft(pb::CreateDraftRequest {
        unit: "412".into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    put_people(
        &mut dc,
        &[
            (4, "Phạm Văn Dũng"),
            (5, "Hoàng Thị Em"),
            (6, "Vũ Văn Phúc"),
        ],
    )
    .await;
    let v2 = adopt(&mut dc).await;
    assert_eq!(v2.entries.len(), 6);
    submit_until_received(&mut dc, "412", &mut pc).await;
    // The live findings follow an arrival in the background (the arrival checks); a stored
    // Check waits for the re-checks of every change the node's view has taken, and the status
    // polled above may be read before v2 is among them, so they are asked until v2 has one.
    let r2 = crate::procs::eventually(30, "v2's live R2 finding", || {
        let mut pc = pc.clone();
        async move {
            let findings = pc
                .check(pb::CheckRequest {
                    under: "412".into(),
                    term: TERM.into(),
                    rules: vec!["R2".into()],
                    plan: Some(id("412", 2)),
                    stored: true,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .findings;
            (!findings.is_empty()).then_some(findings)
        }
    })
    .await;
    assert_eq!(r2.len(), 1, "{r2:?}");
    let m = &r2[0].message_vi;
    assert!(m.starts_with("4 cán bộ"), "{m}");
    for counted in [
        "Lê Văn Cường",
        "Phạm Văn Dũng",
        "Hoàng Thị Em",
        "Vũ Văn Phúc",
    ] {
        assert!(m.contains(counted), "{counted} counted: {m}");
    }
    for released in ["Nguyễn Văn An", "Trần Thị Bình"] {
        assert!(!m.contains(released), "{released} not counted: {m}");
    }

    // What changed since approval: the province's page of v2 compares it with v1, which it
    // approved and then reopened for the review.
    let page = http
        .send(
            "GET",
            &format!("/ke-hoach/412/{TERM}/2"),
            Some("qh_lang=en"),
            "",
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let at = page
        .body
        .find(r#"id="since-approved""#)
        .expect("the section");
    let section = &page.body[at..at + page.body[at..].find("</section>").unwrap()];
    assert!(
        section.contains("Changes since the approved version (v1)"),
        "{section}"
    );
    for added in ["Phạm Văn Dũng", "Hoàng Thị Em", "Vũ Văn Phúc"] {
        assert!(section.contains(added), "{added}: {section}");
    }
    assert!(!section.contains("Nguyễn Văn An"), "{section}");
    // And in the workbook `export` writes, a sheet of its own.
    let book = dir.path().join("412.xlsx");
    let ran = cli([
        "export",
        "--node",
        &node,
        "--what",
        "plan",
        "--unit",
        "412",
        "--term",
        TERM,
        "--out",
        book.to_str().unwrap(),
    ])
    .await;
    assert!(ran.ok, "{}", ran.text());
    use calamine::Reader;
    let mut wb = calamine::open_workbook_auto(&book).unwrap();
    assert!(
        wb.sheet_names()
            .iter()
            .any(|n| n == "Thay đổi so với bản phê duyệt"),
        "{:?}",
        wb.sheet_names()
    );
    let changes = wb.worksheet_range("Thay đổi so với bản phê duyệt").unwrap();
    let text: Vec<String> = changes
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    assert_eq!(text.len(), 4, "{text:#?}");
    assert!(
        text[1..]
            .iter()
            .all(|r| r.starts_with("Thêm|") && r.ends_with("|v1")),
        "{text:#?}"
    );
    district.stop().await.unwrap();
    province.stop().await.unwrap();
}
