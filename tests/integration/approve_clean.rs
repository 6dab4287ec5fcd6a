//! Many plans at once through gRPC and the binary (issue 23): three real commune nodes of the
//! two-level structure submit to their province over mutual TLS; two plans are clean, one
//! breaks R19. `quyhoach approve-clean` lists what the appraisal page lists and approves
//! exactly the two clean ones, each its own decision and audit record; `--dry-run` approves
//! nothing; a clerk is refused with PERMISSION_DENIED and a non-zero exit; a plan shown with a
//! hash it no longer holds, or decided since it was listed, is refused by name.

use std::path::{Path, PathBuf};

use quyhoach::{
    auth::Role,
    client,
    config::{RawConfig, Tls},
    grpc::pb::{self, planning_client::PlanningClient},
    pki::{self, Authority, Subject},
    server::Running,
};
use tonic::transport::Channel;

use crate::{
    harness::{entry, round, start_with, tls_config, wait_status, TERM},
    procs::cli,
};

/// A TLS node of `unit` in the two-level structure (since 1 July 2025), under `parent`.
async fn node_2025(dir: &Path, ca: &Authority, unit: &str, parent: Option<String>) -> Running {
    start_with(RawConfig {
        units: Some("builtin:2025".into()),
        ..tls_config(dir, ca, unit, parent)
    })
    .await
}

fn identity(ca: &Authority, unit: &str, roles: &[Role]) -> Tls {
    let issued = ca
        .issue(&Subject::new(unit, roles, "Lê Văn Thẩm Định", 1))
        .unwrap();
    Tls {
        ca_pem: ca.cert_pem.clone(),
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
    }
}

async fn as_(
    node: &Running,
    ca: &Authority,
    unit: &str,
    roles: &[Role],
) -> PlanningClient<Channel> {
    client::connect(&node.addr.to_string(), Some(&identity(ca, unit, roles)))
        .await
        .unwrap()
}

/// The client arguments of a person of `unit` with `roles` at `node`, their certificate
/// files written under `dir/people`.
fn person_args(
    dir: &Path,
    ca: &Authority,
    node: &Running,
    unit: &str,
    roles: &[Role],
    stem: &str,
) -> Vec<String> {
    let issued = ca
        .issue(&Subject::new(unit, roles, "Lê Văn Thẩm Định", 1))
        .unwrap();
    pki::write(&dir.join("people"), stem, &issued).unwrap();
    let file = |ext: &str| -> PathBuf { dir.join("people").join(format!("{stem}.{ext}")) };
    vec![
        "--node".into(),
        node.addr.to_string(),
        "--ca".into(),
        dir.join("ca.pem").display().to_string(),
        "--cert".into(),
        file("pem").display().to_string(),
        "--key".into(),
        file("key").display().to_string(),
    ]
}

/// Commune `unit`'s clerk drafts one deputy chair (`n` makes the ID), voted `yes` of 30
/// convened (20 passes R19; 10 does not), adopts and submits it.
async fn submit_commune(node: &Running, ca: &Authority, unit: &str, n: u32, name: &str, yes: u32) {
    let mut c = as_(node, ca, unit, &[Role::Clerk]).await;
    c.create_draft(pb::CreateDraftRequest {
        unit: unit.into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    c.put_entry(pb::PutEntryRequest {
        unit: unit.into(),
        term: TERM.into(),
        entry: Some(entry(n, name, "C.PCT.UBND", unit)),
    })
    .await
    .unwrap();
    c.record_ballot_round(pb::RecordBallotRoundRequest {
        unit: unit.into(),
        term: TERM.into(),
        round: Some(round(&[(n, "C.PCT.UBND", yes)])),
    })
    .await
    .unwrap();
    c.adopt_plan(pb::AdoptPlanRequest {
        unit: unit.into(),
        term: TERM.into(),
        adopted_on: "2025-07-20".into(),
        revision: None,
    })
    .await
    .unwrap();
    c.submit_plan(pb::SubmitPlanRequest {
        unit: unit.into(),
        term: TERM.into(),
        revision: None,
        hash: String::new(),
    })
    .await
    .unwrap();
}

async fn status_at(c: &mut PlanningClient<Channel>, unit: &str) -> pb::Plan {
    c.get_plan(pb::GetPlanRequest {
        unit: unit.into(),
        term: TERM.into(),
        version: 1,
    })
    .await
    .unwrap()
    .into_inner()
}

/// The `decide` audit records of `unit`'s plans at the node behind `c`.
async fn decide_records(c: &mut PlanningClient<Channel>, unit: &str) -> Vec<pb::AuditRecord> {
    c.audit(pb::AuditRequest {
        unit: unit.into(),
        action: "decide".into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approve_clean_approves_exactly_the_clean_plans_each_its_own_decision() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Authority::create("Tỉnh Nghệ An CA", 1).unwrap();
    let province = node_2025(d, &ca, "40", None).await;
    let communes = [
        ("16681", 1, "Nguyễn Thị An", 20),
        ("16690", 2, "Lê Thị Bình", 20),
        ("16702", 3, "Trần Thị Chi", 10),
    ];
    let mut nodes = Vec::new();
    for (unit, n, name, yes) in communes {
        let node = node_2025(d, &ca, unit, Some(province.url())).await;
        submit_commune(&node, &ca, unit, n, name, yes).await;
        nodes.push(node);
    }
    let mut reader = as_(&province, &ca, "40", &[Role::Reader]).await;
    let mut hashes = Vec::new();
    for (unit, ..) in communes {
        let held = wait_status(&mut reader, unit, pb::PlanStatus::Received).await;
        hashes.push(held.hash);
    }

    // Through gRPC: the listing is the appraisal page's.
    let mut approver = as_(&province, &ca, "40", &[Role::Approver]).await;
    let listed = approver
        .appraisal(pb::AppraisalRequest { term: TERM.into() })
        .await
        .unwrap()
        .into_inner();
    let clean: Vec<(String, bool)> = listed
        .plans
        .iter()
        .map(|p| {
            (
                p.plan.as_ref().unwrap().id.as_ref().unwrap().unit.clone(),
                p.clean,
            )
        })
        .collect();
    assert_eq!(
        clean,
        [
            ("16681".into(), true),
            ("16690".into(), true),
            ("16702".into(), false)
        ]
    );
    assert!(
        listed.by_rule.iter().any(|g| g.rule == "R19"),
        "{:?}",
        listed.by_rule
    );

    // A hash that is not the one held (a listing gone stale): refused by name, both hashes
    // named, nothing approved.
    let stale = approver
        .approve_clean(pb::ApproveCleanRequest {
            plans: vec![pb::ShownPlan {
                plan: Some(crate::harness::id("16681", 1)),
                hash: hashes[1].clone(),
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stale.results.len(), 1);
    let r = &stale.results[0];
    assert!(r.decision.is_none());
    assert!(
        r.refused.contains("16681")
            && r.refused.contains(&hashes[0])
            && r.refused.contains(&hashes[1]),
        "{}",
        r.refused
    );
    assert_eq!(
        status_at(&mut reader, "16681").await.status,
        pb::PlanStatus::Received as i32
    );

    // A clerk of the province: PERMISSION_DENIED, through gRPC and the binary, nothing approved.
    let mut clerk = as_(&province, &ca, "40", &[Role::Clerk]).await;
    let refused = clerk
        .approve_clean(pb::ApproveCleanRequest {
            plans: vec![pb::ShownPlan {
                plan: Some(crate::harness::id("16681", 1)),
                hash: hashes[0].clone(),
            }],
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused}");
    let clerk_args = person_args(d, &ca, &province, "40", &[Role::Clerk], "clerk-40");
    let ran = cli(["approve-clean", "--term", TERM]
        .into_iter()
        .map(String::from)
        .chain(clerk_args.clone()))
    .await;
    assert!(!ran.ok, "a clerk's approve-clean must fail: {}", ran.text());
    assert!(ran.stderr.contains("PermissionDenied"), "{}", ran.text());

    // The dry run lists the two clean plans with their hashes, names the third, approves nothing.
    let args = person_args(d, &ca, &province, "40", &[Role::Approver], "approver-40");
    let command = |extra: &[&str]| -> Vec<String> {
        ["approve-clean", "--term", TERM]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .chain(args.clone())
            .collect()
    };
    let dry = cli(command(&["--dry-run"])).await;
    assert!(dry.ok, "{}", dry.text());
    let shown_16681 = format!("16681/{TERM}/v1@{}", hashes[0]);
    let shown_16690 = format!("16690/{TERM}/v1@{}", hashes[1]);
    assert!(dry.stdout.contains(&shown_16681), "{}", dry.stdout);
    assert!(dry.stdout.contains(&shown_16690), "{}", dry.stdout);
    assert!(
        !dry.stdout.contains(&format!("16702/{TERM}/v1@")),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("not clean: 16702") && dry.stdout.contains("R19"),
        "{}",
        dry.stdout
    );
    for (unit, ..) in communes {
        assert_eq!(
            status_at(&mut reader, unit).await.status,
            pb::PlanStatus::Received as i32,
            "{unit}"
        );
    }

    // The real run approves exactly the two clean plans, each its own decision and record.
    let ran = cli(command(&[])).await;
    assert!(ran.ok, "{}", ran.text());
    assert!(
        ran.stdout.contains("2 approved, 0 refused"),
        "{}",
        ran.stdout
    );
    for (i, unit) in ["16681", "16690"].into_iter().enumerate() {
        let held = status_at(&mut reader, unit).await;
        assert_eq!(held.status, pb::PlanStatus::Approved as i32, "{unit}");
        let decision = held.decision.unwrap();
        assert_eq!(decision.hash, hashes[i], "{unit}: its own hash");
        assert_eq!(decision.outcome, pb::Outcome::Approve as i32);
        let records = decide_records(&mut reader, unit).await;
        assert_eq!(
            records.len(),
            1,
            "{unit}: one audit record of its own: {records:?}"
        );
        assert_eq!(records[0].plan_hash, hashes[i]);
        assert!(
            records[0].actor.contains("Lê Văn Thẩm Định"),
            "{:?}",
            records[0]
        );
    }
    let third = status_at(&mut reader, "16702").await;
    assert_eq!(
        third.status,
        pb::PlanStatus::Received as i32,
        "the plan with an error stays"
    );
    assert!(decide_records(&mut reader, "16702").await.is_empty());

    // The dry run's listing again, now stale (decided since): refused by name, non-zero exit,
    // nothing changed.
    let again = cli(command(&["--plan", &shown_16681])).await;
    assert!(!again.ok, "{}", again.text());
    assert!(
        again.stderr.contains(&format!("16681/{TERM} v1")) && again.stderr.contains("approved"),
        "{}",
        again.text()
    );
    assert_eq!(
        decide_records(&mut reader, "16681").await.len(),
        1,
        "no second decision"
    );

    for node in nodes {
        node.stop().await.unwrap();
    }
    province.stop().await.unwrap();
}
