//! Many plans at once (issue 23), in headless Chromium: a province of the two-level structure
//! (since July 2025 it appraises its communes directly) holds received commune plans, clean
//! and not; its appraisal page lists them with their findings grouped by rule and approves
//! the clean ones in one action, each its own decision with its own hash and audit record.
//! A plan returned, or one that gained an error, between showing and approving is not
//! approved and is named; a clerk of the province is refused.

use std::path::Path;

use fantoccini::Locator;
use quyhoach::{
    auth::Role,
    bundle::{
        format::{push_signatures_to_pb, PushSignatures},
        sign::{Signer, Statement},
    },
    client,
    config::{RawConfig, Tls},
    domain::{Plan, PlanId, PlanStatus},
    grpc::{
        convert,
        pb::{self, node_sync_client::NodeSyncClient},
    },
    pki::{Authority, Subject},
    server::Running,
};

use super::browser::{browser, exists, shoot, text, wait_url};
use crate::harness::{entry, round, TERM};

/// A TLS province (40) of the two-level structure serving its web page, over `dir`.
async fn province(dir: &Path, ca: &Authority) -> Running {
    let node = ca.issue(&Subject::node("40", &[], 1)).unwrap();
    quyhoach::pki::write(&dir.join("nodes"), "40", &node).unwrap();
    std::fs::write(dir.join("ca.pem"), &ca.cert_pem).unwrap();
    let config = RawConfig {
        unit: Some("40".into()),
        listen: Some("127.0.0.1:0".into()),
        web: Some("127.0.0.1:0".into()),
        data: Some(dir.join("40")),
        units: Some("builtin:2025".into()),
        cert: Some(dir.join("nodes/40.pem")),
        key: Some(dir.join("nodes/40.key")),
        ca: Some(dir.join("ca.pem")),
        rate_limit: Some(100_000),
        ..Default::default()
    }
    .validate()
    .unwrap();
    quyhoach::server::spawn(config, quyhoach::node::system_clock())
        .await
        .unwrap()
}

fn person(ca: &Authority, unit: &str, roles: &[Role], name: &str) -> Tls {
    let issued = ca.issue(&Subject::new(unit, roles, name, 1)).unwrap();
    Tls {
        ca_pem: ca.cert_pem.clone(),
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
    }
}

/// Commune `unit`'s v1 as its node submits it: one cadre (`n` makes the ID) planned for
/// deputy chair with `yes` of 30 convened (more than half passes R19; 10 does not).
fn commune_plan(unit: &str, n: u32, name: &str, yes: u32) -> Plan {
    let e = convert::entry_from_pb("entry", entry(n, name, "C.PCT.UBND", unit)).unwrap();
    let r = convert::round_from_pb("round", round(&[(n, "C.PCT.UBND", yes)])).unwrap();
    let mut plan = Plan::new_draft(
        PlanId {
            unit: unit.into(),
            term: TERM.into(),
            version: 1,
        },
        None,
    );
    plan.entries = vec![e];
    plan.rounds = vec![r];
    plan.status = PlanStatus::Submitted;
    plan.adopted_on = chrono::NaiveDate::from_ymd_opt(2025, 7, 20);
    plan.hash = Some(plan.content_hash());
    plan
}

/// Pushes `plan` to the province as its commune's node.
async fn push(node: &Running, ca: &Authority, plan: &Plan) {
    let node_cert = ca.issue(&Subject::node(&plan.id.unit, &[], 1)).unwrap();
    let tls = Tls {
        ca_pem: ca.cert_pem.clone(),
        cert_pem: node_cert.cert_pem,
        key_pem: node_cert.key_pem,
    };
    let channel = client::channel(&node.addr.to_string(), Some(&tls))
        .await
        .unwrap();
    // Signed as the commune's node signs its submission.
    let signer = Signer::from_pem(&tls.key_pem, &tls.cert_pem, &ca.cert_pem, None).unwrap();
    let signed = PushSignatures {
        signature: signer
            .sign(Statement::submitted(plan, chrono::Utc::now()))
            .unwrap(),
        forwarded: Vec::new(),
    };
    let (signature, forwarded) = push_signatures_to_pb(&signed);
    NodeSyncClient::new(channel)
        .push(pb::PushRequest {
            from_unit: plan.id.unit.clone(),
            plan: Some(convert::plan_to_pb(plan)),
            signature,
            forwarded,
        })
        .await
        .unwrap_or_else(|e| panic!("push of {}: {e}", plan.id));
}

async fn held(
    c: &mut pb::planning_client::PlanningClient<tonic::transport::Channel>,
    unit: &str,
) -> pb::Plan {
    c.get_plan(pb::GetPlanRequest {
        unit: unit.into(),
        term: TERM.into(),
        version: 1,
    })
    .await
    .unwrap()
    .into_inner()
}

/// Posts the approve-together form from the page in the browser, with the session's token
/// and `plans` as the ticked values; answers the status and the body.
async fn post_plans(c: &fantoccini::Client, plans: &[String]) -> (u64, String) {
    let answer = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const csrf = document.querySelector(\"input[name='csrf']\").value;
             const body = new URLSearchParams([['csrf', csrf]]);
             for (const p of arguments[0]) { body.append('plan', p); }
             fetch('/tham-dinh/phe-duyet', {method: 'POST',
                   headers: {'content-type': 'application/x-www-form-urlencoded'},
                   body: body.toString()})
               .then(r => r.text().then(t => done([r.status, t])));",
            vec![serde_json::json!(plans)],
        )
        .await
        .unwrap();
    (
        answer[0].as_u64().unwrap(),
        answer[1].as_str().unwrap().to_string(),
    )
}

/// Signs the browser in with a fresh login link of `tls`.
async fn sign_in(c: &fantoccini::Client, node: &Running, tls: &Tls) {
    c.delete_all_cookies().await.unwrap();
    let reply = client::web_login::issue(&node.addr.to_string(), tls)
        .await
        .unwrap();
    let url = client::web_login::login_url(&node.web_url().unwrap(), &reply.token);
    c.goto(&url).await.unwrap();
    c.find(Locator::Css("#sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(c, "/").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_province_approves_the_clean_plans_at_once_each_its_own_decision() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::create("test CA", 1).unwrap();
    let node = province(dir.path(), &ca).await;
    let web = node.web_url().unwrap();
    // Four clean plans, one with an R19 error (10 of 30 convened is not more than half).
    let plans = [
        commune_plan("16681", 1, "Nguyễn Thị An", 20),
        commune_plan("16690", 2, "Lê Thị Bình", 20),
        commune_plan("16702", 3, "Trần Thị Chi", 20),
        commune_plan("16708", 4, "Phạm Thị Dung", 20),
        commune_plan("16732", 5, "Võ Thị Én", 10),
    ];
    for p in &plans {
        push(&node, &ca, p).await;
    }
    let approver_tls = person(&ca, "40", &[Role::Approver], "Lê Văn Thẩm");
    let clerk_tls = person(&ca, "40", &[Role::Clerk], "Trần Văn Thư");
    let mut approver = client::connect(&node.addr.to_string(), Some(&approver_tls))
        .await
        .unwrap();

    let b = browser().await;
    let c = &b.client;
    sign_in(c, &node, &approver_tls).await;
    // Linked from the overview.
    c.find(Locator::Css("#appraisal-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(c, "/tham-dinh").await;
    assert!(
        text(c, "#appraisal-summary").await.starts_with("5 "),
        "{}",
        text(c, "#appraisal-summary").await
    );
    for unit in ["16681", "16690", "16702", "16708"] {
        assert!(
            exists(
                c,
                &format!("#awaiting tr.clean[data-unit='{unit}'] input[name='plan']:checked")
            )
            .await,
            "{unit} is clean and chosen"
        );
    }
    assert!(exists(c, "#awaiting tr.unclean[data-unit='16732']").await);
    assert!(
        !exists(c, "#awaiting tr[data-unit='16732'] input").await,
        "a plan with an error cannot be chosen"
    );
    assert_eq!(
        text(c, "#awaiting tr[data-unit='16732'] td.errors").await,
        "1"
    );
    // Findings by rule: R19, broken by one plan, 16732, linked.
    assert_eq!(text(c, "#by-rule tr[data-rule='R19'] td.plans").await, "1");
    assert!(exists(c, "#by-rule tr[data-rule='R19'] a.plan[data-unit='16732']").await);
    shoot(c, "appraisal").await;

    // Between showing and approving: 16690 is returned by another approver, and 16708
    // gains an R21 error (16738 lists its cadre's ID under another name).
    approver
        .decide_plan(pb::DecidePlanRequest {
            plan: Some(crate::harness::id("16690", 1)),
            hash: plans[1].hash.clone().unwrap(),
            outcome: pb::Outcome::Return.into(),
            reasons: vec!["Thiếu biên bản kiểm phiếu".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut conflicting = commune_plan("16738", 6, "Phạm Văn Dũng", 20);
    conflicting.entries[0].cadre.national_id = plans[3].entries[0].cadre.national_id.clone();
    conflicting.rounds[0].tallies[0].national_id = plans[3].entries[0].cadre.national_id.clone();
    conflicting.hash = Some(conflicting.content_hash());
    push(&node, &ca, &conflicting).await;

    c.find(Locator::Css("#approve-clean"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(c, "/tham-dinh/phe-duyet").await;
    assert!(
        text(c, "#approved-summary").await.starts_with("2 "),
        "{}",
        text(c, "#approved-summary").await
    );
    for unit in ["16681", "16702"] {
        assert!(
            exists(c, &format!("#approved li[data-unit='{unit}']")).await,
            "{unit} approved"
        );
    }
    // Each reason in the page's language (Vietnamese): the status now, the rule broken now.
    let refused_16690 = text(c, "#refused li[data-unit='16690']").await;
    assert!(
        refused_16690.contains("không còn chờ phê duyệt")
            && refused_16690.contains(quyhoach::domain::PlanStatus::Returned.vi_title()),
        "{refused_16690}"
    );
    let refused_16708 = text(c, "#refused li[data-unit='16708']").await;
    assert!(
        refused_16708.contains("có lỗi hoặc cảnh báo chưa được chấp nhận")
            && refused_16708.contains("R21")
            && !refused_16708.contains("is not clean"),
        "{refused_16708}"
    );
    shoot(c, "appraisal-approved").await;

    // Each approval is its own decision on its own hash, with its own audit record by the
    // signed-in approver; the others are untouched.
    for (i, unit) in [(0, "16681"), (2, "16702")] {
        let plan = held(&mut approver, unit).await;
        assert_eq!(plan.status, pb::PlanStatus::Approved as i32, "{unit}");
        let d = plan.decision.unwrap();
        assert_eq!(d.hash, plans[i].hash.clone().unwrap(), "{unit}");
        assert_eq!(d.outcome, pb::Outcome::Approve as i32);
    }
    let audit = approver
        .audit(pb::AuditRequest {
            action: "decide".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    for (i, unit) in [(0, "16681"), (2, "16702")] {
        let records: Vec<_> = audit
            .iter()
            .filter(|r| r.plan.as_ref().is_some_and(|p| p.unit == unit))
            .collect();
        assert_eq!(records.len(), 1, "{unit}: {audit:?}");
        assert!(records[0].actor.contains("Lê Văn Thẩm"), "{:?}", records[0]);
        assert_eq!(records[0].plan_hash, plans[i].hash.clone().unwrap());
    }
    assert_eq!(
        held(&mut approver, "16732").await.status,
        pb::PlanStatus::Received as i32,
        "the plan with an error is untouched"
    );
    assert_eq!(
        held(&mut approver, "16708").await.status,
        pb::PlanStatus::Received as i32,
        "the plan that gained an error is not approved"
    );
    assert_eq!(
        held(&mut approver, "16690").await.status,
        pb::PlanStatus::Returned as i32
    );

    // Bad input is a 400 naming the field, and approves nothing: a value that is not
    // UNIT/TERM/VERSION/HASH, a plan named twice, no plan at all.
    let late = commune_plan("16744", 7, "Đỗ Thị Giang", 20);
    push(&node, &ca, &late).await;
    let value = format!("16744/{TERM}/1/{}", late.hash.clone().unwrap());
    for (body, names) in [
        (vec!["16744/1".to_string()], "plan[0]"),
        (vec![value.clone(), value.clone()], "plans[1]"),
        (vec![], "plans"),
    ] {
        let (status, text) = post_plans(c, &body).await;
        assert_eq!(status, 400, "{body:?}: {text}");
        assert!(text.contains(names), "{body:?}: {text}");
    }
    assert_eq!(
        held(&mut approver, "16744").await.status,
        pb::PlanStatus::Received as i32
    );

    // A clerk of the province sees the plans but no choice and no button, and a POST of
    // the form with the clerk's own token, for a clean plan, is refused: nothing is approved.
    sign_in(c, &node, &clerk_tls).await;
    c.goto(&format!("{web}/tham-dinh")).await.unwrap();
    wait_url(c, "/tham-dinh").await;
    assert!(exists(c, "#awaiting tr.clean[data-unit='16744']").await);
    assert!(!exists(c, "#awaiting input[name='plan']").await);
    assert!(!exists(c, "#approve-clean").await);
    let (status, text) = post_plans(c, std::slice::from_ref(&value)).await;
    assert_eq!(status, 403, "a clerk may not approve: {text}");
    assert_eq!(
        held(&mut approver, "16744").await.status,
        pb::PlanStatus::Received as i32
    );

    b.client.close().await.unwrap();
    node.stop().await.unwrap();
}
