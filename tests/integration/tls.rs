//! Mutual TLS and roles: every denial is UNAUTHENTICATED or PERMISSION_DENIED (or, for a
//! certificate the authority did not sign or that has expired, a refused handshake), says why,
//! and leaves every store as it was.

use quyhoach::{
    auth::Role,
    client,
    config::Tls,
    grpc::pb::{self, node_sync_client::NodeSyncClient, planning_client::PlanningClient},
    pki::{Authority, Subject},
    server::Running,
};
use time::{Duration, OffsetDateTime};
use tonic::Code;

use crate::harness::{entry, TlsTree as Tree, TERM};

/// Everything every node of `t` holds, read by an all-seeing reader of each.
async fn everything(t: &Tree) -> Vec<Vec<pb::Plan>> {
    let mut out = Vec::new();
    for (node, unit) in [
        (&t.province, "40"),
        (&t.district, "412"),
        (&t.commune, "16681"),
        (&t.sibling, "16690"),
    ] {
        let mut c = t.as_(node, unit, &[Role::Reader]).await;
        out.push(crate::harness::everything(&mut c).await);
    }
    out
}

fn denied<T: std::fmt::Debug>(r: Result<T, tonic::Status>, code: Code, says: &str) {
    let s = r.expect_err("must be refused");
    assert_eq!(s.code(), code, "{}", s.message());
    assert!(
        s.message().contains(says),
        "{:?} does not say {says:?}",
        s.message()
    );
}

/// Returns true if and only if a client with `tls` can get a write through to `node`.
async fn gets_in(node: &Running, tls: &Tls, put: pb::PutEntryRequest) -> bool {
    match client::connect(&node.addr.to_string(), Some(tls)).await {
        Ok(mut c) => c.put_entry(put).await.is_ok(),
        Err(_) => false,
    }
}

/// A plan of `unit` as its node would push it.
fn pushed(unit: &str) -> pb::Plan {
    let e =
        quyhoach::grpc::convert::entry_from_pb("entry", entry(1, "Lê Văn Tám", "C.PCT.UBND", unit))
            .unwrap();
    let mut plan = quyhoach::domain::Plan::new_draft(
        quyhoach::domain::PlanId {
            unit: unit.into(),
            term: TERM.into(),
            version: 1,
        },
        None,
    );
    plan.entries = vec![e];
    plan.status = quyhoach::domain::PlanStatus::Submitted;
    plan.hash = Some(plan.content_hash());
    quyhoach::grpc::convert::plan_to_pb(&plan)
}

#[tokio::test]
async fn every_denial_is_explained_and_changes_nothing() {
    let t = Tree::start().await;
    // Some state to protect: a draft of 16681.
    let mut clerk = t.as_(&t.commune, "16681", &[Role::Clerk]).await;
    clerk
        .create_draft(pb::CreateDraftRequest {
            unit: "16681".into(),
            term: TERM.into(),
            from_sources: false,
        })
        .await
        .unwrap();
    let before = everything(&t).await;

    // Wrong unit: a clerk of the sibling commune writes 16681's plan.
    let mut other = t.as_(&t.commune, "16690", &[Role::Clerk]).await;
    denied(
        other
            .create_draft(pb::CreateDraftRequest {
                unit: "16681".into(),
                term: TERM.into(),
                from_sources: false,
            })
            .await,
        Code::PermissionDenied,
        "clerk of 16690",
    );
    // A reader trying to write.
    let mut reader = t.as_(&t.commune, "16681", &[Role::Reader]).await;
    let put = pb::PutEntryRequest {
        unit: "16681".into(),
        term: TERM.into(),
        entry: Some(entry(2, "Đỗ Thị Mai", "C.PCT.UBND", "16681")),
    };
    denied(
        reader.put_entry(put.clone()).await,
        Code::PermissionDenied,
        "clerk role",
    );
    // Reads stay in the caller's subtree: a commune clerk cannot list its sibling's plans.
    let mut at_district = t.as_(&t.district, "16681", &[Role::Clerk]).await;
    denied(
        at_district
            .list_plans(pb::ListPlansRequest {
                under: "16690".into(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "16690",
    );
    // Wrong level: a commune approver deciding at the district.
    let mut approver = t.as_(&t.district, "16681", &[Role::Approver]).await;
    let decide = pb::DecidePlanRequest {
        plan: Some(pb::PlanId {
            unit: "16681".into(),
            term: TERM.into(),
            version: 1,
        }),
        hash: String::new(),
        outcome: pb::Outcome::Approve.into(),
        reasons: vec![],
        cite_findings: vec![],
        cms_signature: Vec::new(),
    };
    denied(
        approver.decide_plan(decide).await,
        Code::PermissionDenied,
        "approver of 16681",
    );

    // Node to node: a commune pushing for its sibling, pretending to be its parent, pushing
    // past its parent to the province; a district pushing another district's commune.
    let cases = [
        (
            &t.district,
            "16690",
            "16681",
            "16681",
            "claims to come from 16681",
        ),
        (
            &t.district,
            "16681",
            "412",
            "16681",
            "claims to come from 412",
        ),
        (&t.province, "16681", "16681", "16681", "not a child"),
        (&t.province, "412", "412", "17617", "17617"),
    ];
    for (node, cert_unit, from_unit, plan_unit, says) in cases {
        let mut c = t.node_as(node, cert_unit).await;
        let push = pb::PushRequest {
            from_unit: from_unit.into(),
            plan: Some(pushed(plan_unit)),
            ..Default::default()
        };
        denied(c.push(push).await, Code::PermissionDenied, says);
    }
    // A person's certificate cannot speak for a node.
    let person = client::channel(
        &t.district.addr.to_string(),
        Some(&t.identity("16681", &[Role::Clerk])),
    )
    .await
    .unwrap();
    denied(
        NodeSyncClient::new(person)
            .push(pb::PushRequest {
                from_unit: "16681".into(),
                plan: Some(pushed("16681")),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "node role",
    );

    // No certificate at all: the TLS handshake succeeds, the call does not.
    let anonymous = tonic::transport::Endpoint::from_shared(format!("https://{}", t.commune.addr))
        .unwrap()
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(&t.ca.cert_pem)),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
    denied(
        PlanningClient::new(anonymous).put_entry(put.clone()).await,
        Code::Unauthenticated,
        "no client certificate",
    );

    // A certificate from another authority, and an expired one: the handshake is refused.
    let foreign = Authority::create("another province", 1).unwrap();
    let stranger = foreign
        .issue(&Subject::new("16681", &[Role::Clerk], "Người lạ", 1))
        .unwrap();
    let stranger = Tls {
        ca_pem: t.ca.cert_pem.clone(),
        cert_pem: stranger.cert_pem,
        key_pem: stranger.key_pem,
    };
    assert!(
        !gets_in(&t.commune, &stranger, put.clone()).await,
        "a certificate from another CA must not get in"
    );
    let mut old = Subject::new("16681", &[Role::Clerk], "Hết hạn", 1);
    old.not_before = OffsetDateTime::now_utc() - Duration::days(30);
    old.not_after = OffsetDateTime::now_utc() - Duration::days(1);
    let expired = t.ca.issue(&old).unwrap();
    let expired = Tls {
        ca_pem: t.ca.cert_pem.clone(),
        cert_pem: expired.cert_pem,
        key_pem: expired.key_pem,
    };
    assert!(
        !gets_in(&t.commune, &expired, put.clone()).await,
        "an expired certificate must not get in"
    );

    assert_eq!(
        everything(&t).await,
        before,
        "a refused request changed a store"
    );
    // And the rightful clerk still can.
    clerk.put_entry(put).await.unwrap();
    t.stop().await;
}

#[tokio::test]
async fn plans_travel_up_over_mutual_tls_and_health_needs_no_certificate() {
    let t = Tree::start().await;
    let mut clerk = t.as_(&t.commune, "16681", &[Role::Clerk]).await;
    let adopted =
        crate::harness::adopted_plan(&mut clerk, "16681", &[(1, "Nguyễn Thị Hoa", "C.PCT.UBND")])
            .await;
    clerk
        .submit_plan(pb::SubmitPlanRequest {
            unit: "16681".into(),
            term: TERM.into(),
            revision: None,
            hash: String::new(),
        })
        .await
        .unwrap();
    let mut approver = t
        .as_(&t.district, "412", &[Role::Approver, Role::Reader])
        .await;
    let held = crate::harness::wait_status(&mut approver, "16681", pb::PlanStatus::Received).await;
    assert_eq!(held.hash, adopted.hash);

    // The audit trail names the certificates that acted.
    let mut reader = t.as_(&t.commune, "16681", &[Role::Reader]).await;
    let trail = reader
        .audit(pb::AuditRequest {
            action: "submit".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(trail.records.len(), 1);
    assert_eq!(trail.records[0].actor, "Nguyễn Văn Kiểm [clerk@16681]");
    let trail = approver
        .audit(pb::AuditRequest {
            action: "receive_push".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(trail.records[0].actor, "quyhoach node 16681 [node@16681]");
    assert_eq!(trail.records[0].plan_hash, adopted.hash);

    let bare = tonic::transport::Endpoint::from_shared(format!("https://{}", t.province.addr))
        .unwrap()
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(&t.ca.cert_pem)),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(bare);
    let r = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    t.stop().await;
}
