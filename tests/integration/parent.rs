//! Know your parent: a child talks only to the node certificate of its configured parent unit,
//! and even from that parent it takes only well-formed decisions on plans it submitted and
//! reference data that moves forward by sane steps with sane rule parameters.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, Mutex,
};

use quyhoach::{
    auth::Role,
    grpc::pb::{self, node_sync_server::NodeSync},
    pki::{Authority, Subject},
};
use tonic::{
    transport::{Certificate, Identity, Server, ServerTlsConfig},
    Request, Response, Status,
};

use crate::{
    harness::*,
    harness::{start_tls, TlsTree as Tree},
};

/// A node-to-node server under some certificate that records what reaches it and answers with
/// forgeries: decisions on plans the child never submitted, a reference version of 2^64−1
/// and a quorum of 0.
#[derive(Default, Clone)]
struct Impostor {
    calls: Arc<AtomicUsize>,
    references: Arc<AtomicUsize>,
    pushed: Arc<Mutex<Vec<pb::Plan>>>,
}

fn forged(
    unit: &str,
    version: u32,
    hash: &str,
    decided_by: &str,
    outcome: pb::Outcome,
) -> pb::Decision {
    pb::Decision {
        plan: Some(pb::PlanId {
            unit: unit.into(),
            term: TERM.into(),
            version,
        }),
        hash: hash.into(),
        outcome: outcome.into(),
        reasons: vec!["giả mạo".into()],
        decided_by: decided_by.into(),
        decided_at: chrono::Utc::now().to_rfc3339(),
    }
}

#[tonic::async_trait]
impl NodeSync for Impostor {
    async fn push(&self, req: Request<pb::PushRequest>) -> Result<Response<pb::Receipt>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let plan = req.into_inner().plan.unwrap();
        self.pushed.lock().unwrap().push(plan.clone());
        Ok(Response::new(pb::Receipt {
            plan: plan.id.clone(),
            hash: plan.hash.clone(),
            received_by: "412".into(),
            received_at: chrono::Utc::now().to_rfc3339(),
            duplicate: false,
            signature: None,
        }))
    }

    async fn pull_decisions(
        &self,
        _: Request<pb::PullDecisionsRequest>,
    ) -> Result<Response<pb::PullDecisionsResponse>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let hash = self
            .pushed
            .lock()
            .unwrap()
            .first()
            .map(|p| p.hash.clone())
            .unwrap_or_default();
        let decisions = [
            // A return of the child's plan "by" a sibling.
            forged("16681", 1, &hash, "16690", pb::Outcome::Return),
            // A return of a plan the child does not own.
            forged("16690", 1, &hash, "412", pb::Outcome::Return),
            // An approval of a version the child never submitted.
            forged("16681", 2, &hash, "412", pb::Outcome::Approve),
            // A return with a hash that is no hash.
            forged("16681", 1, "zz", "412", pb::Outcome::Return),
        ];
        Ok(Response::new(pb::PullDecisionsResponse {
            decisions: decisions
                .into_iter()
                .enumerate()
                .map(|(i, d)| pb::SequencedDecision {
                    seq: i as u64 + 1,
                    decision: Some(d),
                })
                .collect(),
            signatures: Vec::new(),
        }))
    }

    async fn reconcile(
        &self,
        _: Request<pb::ReconcileRequest>,
    ) -> Result<Response<pb::ReconcileResponse>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(pb::ReconcileResponse::default()))
    }

    async fn get_reference(
        &self,
        _: Request<pb::ReferenceRequest>,
    ) -> Result<Response<pb::ReferenceResponse>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let n = self.references.fetch_add(1, Ordering::SeqCst);
        let mut rules = quyhoach::rules::RulesFile::default();
        rules.qd50.quorum_num = 0;
        rules.qd377.quorum_num = 0;
        let catalog = quyhoach::config::builtin_catalog().unwrap();
        let (version, rules) = if n.is_multiple_of(2) {
            (u64::MAX, quyhoach::rules::RulesFile::default())
        } else {
            (1, rules)
        };
        let reference = quyhoach::node::Reference {
            version,
            catalog,
            rules,
            structure: None,
            reorganisations: Vec::new(),
        };
        Ok(Response::new(pb::ReferenceResponse {
            version,
            document: serde_json::to_string(&reference).unwrap(),
        }))
    }

    async fn get_sources(
        &self,
        _: Request<pb::SourcesRequest>,
    ) -> Result<Response<pb::SourcesResponse>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(pb::SourcesResponse::default()))
    }
}

/// A parent province (40) after the reorganisation whose answers to a new commune's request
/// for its sources are, in turn: the list of an old commune it did not absorb, a list not
/// approved, a list whose hash is not its content's, and from then on an honest one (old
/// 16693's approved list). Its other answers are empty.
#[derive(Default, Clone)]
struct SourceForger {
    asked: Arc<AtomicUsize>,
}

/// A one-entry list of the old commune `unit`, version 1, with `status`, approved by 412,
/// carrying the hash of its content when `right_hash`.
fn source_list(unit: &str, status: pb::PlanStatus, right_hash: bool) -> pb::Plan {
    let mut plan = pb::Plan {
        id: Some(pb::PlanId {
            unit: unit.into(),
            term: TERM.into(),
            version: 1,
        }),
        status: status.into(),
        entries: vec![entry(51, "Đinh Thị Nga", "C.BT", unit)],
        rounds: vec![round(&[(51, "C.BT", 20)])],
        adopted_on: "2025-03-20".into(),
        ..Default::default()
    };
    let held = quyhoach::grpc::convert::plan_from_pb("plan", plan.clone()).unwrap();
    plan.hash = if right_hash {
        held.content_hash()
    } else {
        "0".repeat(64)
    };
    plan.decision = Some(forged(unit, 1, &plan.hash, "412", pb::Outcome::Approve));
    plan
}

#[tonic::async_trait]
impl NodeSync for SourceForger {
    async fn push(&self, _: Request<pb::PushRequest>) -> Result<Response<pb::Receipt>, Status> {
        Err(Status::unavailable("not in this test"))
    }

    async fn pull_decisions(
        &self,
        _: Request<pb::PullDecisionsRequest>,
    ) -> Result<Response<pb::PullDecisionsResponse>, Status> {
        Ok(Response::new(pb::PullDecisionsResponse::default()))
    }

    async fn reconcile(
        &self,
        _: Request<pb::ReconcileRequest>,
    ) -> Result<Response<pb::ReconcileResponse>, Status> {
        Ok(Response::new(pb::ReconcileResponse::default()))
    }

    async fn get_reference(
        &self,
        _: Request<pb::ReferenceRequest>,
    ) -> Result<Response<pb::ReferenceResponse>, Status> {
        Ok(Response::new(pb::ReferenceResponse::default()))
    }

    async fn get_sources(
        &self,
        _: Request<pb::SourcesRequest>,
    ) -> Result<Response<pb::SourcesResponse>, Status> {
        let plan = match self.asked.fetch_add(1, Ordering::SeqCst) {
            0 => source_list("16681", pb::PlanStatus::Approved, true),
            1 => source_list("16693", pb::PlanStatus::Submitted, true),
            2 => source_list("16693", pb::PlanStatus::Approved, false),
            _ => source_list("16693", pb::PlanStatus::Approved, true),
        };
        Ok(Response::new(pb::SourcesResponse { plans: vec![plan] }))
    }
}

/// Serves `impostor` over TLS with a node certificate of `unit`; returns its URL.
async fn serve<S: NodeSync>(ca: &Authority, unit: &str, impostor: S) -> String {
    let issued = ca.issue(&Subject::node(unit, &[], 1)).unwrap();
    serve_as(ca, issued, impostor).await
}

/// Serves `impostor` over TLS with the certificate `issued`; returns its URL.
async fn serve_as<S: NodeSync>(
    ca: &Authority,
    issued: quyhoach::pki::Issued,
    impostor: S,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(issued.cert_pem, issued.key_pem))
        .client_ca_root(Certificate::from_pem(&ca.cert_pem));
    let server = Server::builder()
        .tls_config(tls)
        .unwrap()
        .add_service(pb::node_sync_server::NodeSyncServer::new(impostor));
    tokio::spawn(
        server.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    format!("https://{addr}")
}

/// Adopts and submits a one-entry plan of 16681 through its clerk.
async fn submit(t: &Tree, commune: &quyhoach::server::Running) {
    let mut clerk = t.as_(commune, "16681", &[Role::Clerk]).await;
    adopted_plan(&mut clerk, "16681", &[(1, "Lê Văn Tám", "C.PCT.UBND")]).await;
    clerk
        .submit_plan(pb::SubmitPlanRequest {
            unit: "16681".into(),
            term: TERM.into(),
            revision: None,
            hash: String::new(),
        })
        .await
        .unwrap();
}

async fn parent_link(t: &Tree, node: &quyhoach::server::Running) -> pb::LinkStatus {
    let mut c = t.as_(node, "16681", &[Role::Reader]).await;
    c.sync_status(pb::SyncStatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .parent
        .unwrap()
}

#[tokio::test]
async fn a_sibling_posing_as_the_parent_gets_nothing() {
    let t = Tree::start().await;
    let impostor = Impostor::default();
    let url = serve(&t.ca, "16690", impostor.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let commune = start_tls(dir.path(), &t.ca, "16681", Some(url)).await;
    submit(&t, &commune).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let link = loop {
        let link = parent_link(&t, &commune).await;
        if link
            .last_error
            .contains("not the node of the parent unit 412")
        {
            break link;
        }
        assert!(tokio::time::Instant::now() < deadline, "{link:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(link.last_error.contains("16690"), "{}", link.last_error);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        impostor.calls.load(Ordering::SeqCst),
        0,
        "a request reached the impostor"
    );
    assert!(impostor.pushed.lock().unwrap().is_empty());
    commune.stop().await.unwrap();
    t.stop().await;
}

#[tokio::test]
async fn forged_decisions_and_reference_data_from_the_parent_are_refused() {
    let t = Tree::start().await;
    let impostor = Impostor::default();
    // The parent's own identity (a stolen key, or a parent gone wrong): the link is made, and
    // what comes down is checked like a local write.
    let url = serve(&t.ca, "412", impostor.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let commune = start_tls(dir.path(), &t.ca, "16681", Some(url)).await;
    submit(&t, &commune).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while impostor.calls.load(Ordering::SeqCst) < 8 {
        assert!(tokio::time::Instant::now() < deadline, "the link never ran");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // (Anti-entropy may push again to a parent that answers reconciliation with nothing.)
    assert!(!impostor.pushed.lock().unwrap().is_empty());
    let mut c = t.as_(&commune, "16681", &[Role::Reader]).await;
    let plans = everything(&mut c).await;
    assert_eq!(plans.len(), 1);
    assert_eq!(
        plans[0].status,
        i32::from(pb::PlanStatus::Submitted),
        "a forged decision was applied"
    );
    let status = c
        .sync_status(pb::SyncStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.reference_version, 0,
        "forged reference data was taken"
    );
    // The forged approval of the child's own plan comes down without the parent node's
    // signature: the pull is refused there, before the forged reference data is looked at.
    let link = status.parent.unwrap();
    assert!(
        link.last_error.contains("comes down unsigned"),
        "{}",
        link.last_error
    );
    commune.stop().await.unwrap();
    t.stop().await;
}

#[tokio::test]
async fn a_parent_whose_certificate_is_revoked_gets_nothing() {
    let t = Tree::start().await;
    // The parent's key was stolen and its certificate revoked; the thief serves with it.
    let stolen = t.ca.issue(&Subject::node("412", &[], 1)).unwrap();
    let serial = quyhoach::pki::serial_of(&stolen.cert_pem).unwrap();
    let list =
        t.ca.revocation_list(&[(serial, time::OffsetDateTime::now_utc())], 30)
            .unwrap();
    let impostor = Impostor::default();
    let url = serve_as(&t.ca, stolen, impostor.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crl.pem"), list).unwrap();
    let node = t.ca.issue(&Subject::node("16681", &[], 1)).unwrap();
    quyhoach::pki::write(&dir.path().join("nodes"), "16681", &node).unwrap();
    std::fs::write(dir.path().join("ca.pem"), &t.ca.cert_pem).unwrap();
    let config = quyhoach::config::RawConfig {
        unit: Some("16681".into()),
        listen: Some("127.0.0.1:0".into()),
        data: Some(dir.path().join("16681")),
        parent: Some(url),
        poll_ms: Some(30),
        rate_limit: Some(100_000),
        cert: Some(dir.path().join("nodes/16681.pem")),
        key: Some(dir.path().join("nodes/16681.key")),
        ca: Some(dir.path().join("ca.pem")),
        crl: Some(dir.path().join("crl.pem")),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let commune = quyhoach::server::spawn(config, quyhoach::node::system_clock())
        .await
        .unwrap();
    submit(&t, &commune).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let link = parent_link(&t, &commune).await;
        if link.last_error.to_lowercase().contains("revoked") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{link:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        impostor.calls.load(Ordering::SeqCst),
        0,
        "a request reached the revoked parent"
    );
    assert!(impostor.pushed.lock().unwrap().is_empty());
    commune.stop().await.unwrap();
    t.stop().await;
}

/// Issue 22: a new commune's node fetches the lists of the old communes it absorbed from its
/// parent, and takes them like a push, never on trust. The forged answers (a list of a commune
/// that 16690 did not absorb, one not approved, one whose hash is not its content's) are
/// refused whole and nothing of them is kept; the honest answer that follows is kept, once.
#[tokio::test]
async fn a_new_communes_sources_from_its_parent_are_checked_like_a_push() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::create("test CA", 1).unwrap();
    let forger = SourceForger::default();
    let url = serve(&ca, "40", forger.clone()).await;
    let commune = start_with(quyhoach::config::RawConfig {
        units: Some("builtin:2025".into()),
        ..tls_config(dir.path(), &ca, "16690", Some(url))
    })
    .await;
    let reader = ca
        .issue(&Subject::new("16690", &[Role::Reader], "Nguyễn Văn Đọc", 1))
        .unwrap();
    let mut c = quyhoach::client::connect(
        &commune.addr.to_string(),
        Some(&quyhoach::config::Tls {
            ca_pem: ca.cert_pem.clone(),
            cert_pem: reader.cert_pem,
            key_pem: reader.key_pem,
        }),
    )
    .await
    .unwrap();
    let get = |unit: &str| pb::GetPlanRequest {
        unit: unit.into(),
        term: TERM.into(),
        version: 1,
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let kept = loop {
        if let Ok(plan) = c.get_plan(get("16693")).await {
            break plan.into_inner();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the honest answer was never kept ({} asked)",
            forger.asked.load(Ordering::SeqCst)
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    // Kept only after the three forgeries were refused, with the honest hash.
    assert!(forger.asked.load(Ordering::SeqCst) >= 4);
    assert_eq!(
        kept.hash,
        source_list("16693", pb::PlanStatus::Approved, true).hash
    );
    assert_eq!(kept.status, pb::PlanStatus::Approved as i32);
    let trail = audit_records(&mut c, "receive_sources").await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(
        trail[0].detail, "from 40: 16693/2025-2030/v1",
        "only the honest list is kept"
    );
    commune.stop().await.unwrap();
}
