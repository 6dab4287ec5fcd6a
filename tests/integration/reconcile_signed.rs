//! Decisions restored by anti-entropy carry their signatures (issue 25): real nodes over mutual
//! TLS on loopback (commune 16681 -> district 412 -> province 40, certificates from the test authority), real
//! stores. The commune loses the district's approval of its version (its store edited while
//! it is stopped, as a restore from a backup taken before the approval leaves it, but with the
//! decision cursor past it, so that only reconciliation can bring it back). At restart the
//! reconciliation restores the approval WITH the district's signature: `quyhoach bundle export`
//! at the commune writes its record and `bundle verify --ca` names 412 as the decision's
//! signer. When the district's kept signature is forged (one byte of it changed), the
//! commune refuses the restored decision: its plan stays submitted, no signature is kept, and
//! its status counts the difference left.

use std::path::{Path, PathBuf};

use quyhoach::{
    auth::Role,
    bundle::sign::PlanSignature,
    client,
    config::{RawConfig, Tls},
    domain::{PlanId, PlanStatus},
    grpc::pb::{self, planning_client::PlanningClient},
    pki::{self, Authority, Subject},
    server::Running,
    store::{Change, SledStore, Store},
};
use tonic::transport::Channel;

use crate::{
    harness::{adopted_plan, start_with, submit_until_received, tls_config, wait_status, TERM},
    procs::cli,
};

/// The key under which a node keeps the decision signature on the commune's v1.
const KEPT: &str = "signature/16681/2025-2030/1/decision/approved";

fn v1() -> PlanId {
    PlanId {
        unit: "16681".into(),
        term: TERM.into(),
        version: 1,
    }
}

/// A client of `node` as a person of `unit` with `roles`.
async fn person(
    ca: &Authority,
    node: &Running,
    unit: &str,
    roles: &[Role],
) -> PlanningClient<Channel> {
    let issued = ca
        .issue(&Subject::new(unit, roles, "Nguyễn Văn Kiểm", 1))
        .unwrap();
    let tls = Tls {
        ca_pem: ca.cert_pem.clone(),
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
    };
    client::connect(&node.addr.to_string(), Some(&tls))
        .await
        .unwrap()
}

/// Edits a stopped node's store: the commune's v1 back to submitted, without the decision or
/// its kept signature (what a restore from before the decision leaves, cursor aside).
async fn lose_the_decision(data: &Path) {
    let store = SledStore::open(data).unwrap();
    let mut header = store.header(&v1()).unwrap().unwrap();
    assert_eq!(header.status, PlanStatus::Approved);
    header.status = PlanStatus::Submitted;
    header.decision = None;
    let t = store
        .commit(vec![
            Change::PutHeader(header),
            Change::DeleteDocument(KEPT.into()),
        ])
        .unwrap();
    store.wait_durable(t).await.unwrap();
}

/// The link status of `node` toward its parent, once it has reconciled since its start.
async fn reconciled(c: &mut PlanningClient<Channel>) -> pb::LinkStatus {
    for _ in 0..400 {
        let s = c
            .sync_status(pb::SyncStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        if let Some(link) = s.parent.filter(|l| !l.last_reconciled_at.is_empty()) {
            return link;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the link never reconciled");
}

/// Runs the binary as the commune's clerk: `bundle export` of v1, then `bundle verify --ca`.
async fn export_and_verify(dir: &Path, ca: &Authority, commune: &Running) -> (bool, String) {
    let issued = ca
        .issue(&Subject::new("16681", &[Role::Clerk], "Văn thư xã", 1))
        .unwrap();
    pki::write(&dir.join("people"), "clerk-16681", &issued).unwrap();
    let path = |ext: &str| {
        dir.join("people")
            .join(format!("clerk-16681.{ext}"))
            .display()
            .to_string()
    };
    let file = dir.join("record-16681.qhb").display().to_string();
    let ca_pem = dir.join("ca.pem").display().to_string();
    let exported = cli([
        "bundle",
        "export",
        "--node",
        &commune.addr.to_string(),
        "--ca",
        &ca_pem,
        "--cert",
        &path("pem"),
        "--key",
        &path("key"),
        "--unit",
        "16681",
        "--term",
        TERM,
        "--version",
        "1",
        "--out",
        &file,
    ])
    .await;
    assert!(exported.ok, "{}{}", exported.stdout, exported.stderr);
    let verified = cli(["bundle", "verify", &file, "--ca", &ca_pem]).await;
    (
        verified.ok,
        format!("{}{}", verified.stdout, verified.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_restored_by_reconciliation_keeps_the_parents_signature_and_a_forged_one_is_refused(
) {
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().to_path_buf();
    let ca = Authority::create("test CA", 1).unwrap();
    let province = start_with(tls_config(&dir, &ca, "40", None)).await;
    let district_config: RawConfig = tls_config(&dir, &ca, "412", Some(province.url()));
    let district = start_with(district_config.clone()).await;
    let commune_config = |parent: &Running| tls_config(&dir, &ca, "16681", Some(parent.url()));
    let commune = start_with(commune_config(&district)).await;

    // The commune submits v1, the district approves it, the commune pulls the approval.
    let mut clerk = person(&ca, &commune, "16681", &[Role::Clerk]).await;
    let mut at_district = person(&ca, &district, "412", &[Role::Reader]).await;
    let adopted = adopted_plan(&mut clerk, "16681", &[(1, "Nguyễn Thị Hoa", "C.BT")]).await;
    submit_until_received(&mut clerk, "16681", &mut at_district).await;
    let mut approver = person(&ca, &district, "412", &[Role::Approver]).await;
    approver
        .decide_plan(pb::DecidePlanRequest {
            plan: adopted.id.clone(),
            hash: adopted.hash.clone(),
            outcome: pb::Outcome::Approve.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut reader = person(&ca, &commune, "16681", &[Role::Reader]).await;
    wait_status(&mut reader, "16681", pb::PlanStatus::Approved).await;

    // The commune loses the approval and its signature; its cursor still says it pulled it.
    commune.stop().await.unwrap();
    lose_the_decision(&dir.join("16681")).await;
    let commune = start_with(commune_config(&district)).await;
    let mut reader = person(&ca, &commune, "16681", &[Role::Reader]).await;
    let link = reconciled(&mut reader).await;
    assert_eq!(link.reconciled_decisions, 1, "{link:?}");
    assert_eq!(link.reconciled_unresolved, 0, "{link:?}");
    wait_status(&mut reader, "16681", pb::PlanStatus::Approved).await;

    // The binary at the commune proves who decided, with the authority's certificate alone.
    let (ok, out) = export_and_verify(&dir, &ca, &commune).await;
    assert!(ok, "{out}");
    let signed_by_412 = format!("signed: decision 16681/{TERM}/v1 approved by 412 ");
    assert!(
        out.contains(&signed_by_412),
        "the district's decision: {out}"
    );
    assert!(out.contains("every signature and hash holds"), "{out}");

    // Both stopped: the commune loses the approval again, and the district's kept signature
    // on it is forged (one byte of the signature changed), so that it sends the forgery.
    commune.stop().await.unwrap();
    lose_the_decision(&dir.join("16681")).await;
    district.stop().await.unwrap();
    {
        let store = SledStore::open(&dir.join("412")).unwrap();
        let mut kept: PlanSignature = quyhoach::store::decoded_document(&*store, KEPT)
            .unwrap()
            .unwrap();
        let last = kept.signature.len() - 1;
        kept.signature[last] ^= 1;
        let t = store
            .commit(vec![Change::SetDocument(
                KEPT.into(),
                serde_json::to_value(&kept).unwrap(),
            )])
            .unwrap();
        store.wait_durable(t).await.unwrap();
    }
    let district = start_with(district_config).await;
    let commune = start_with(commune_config(&district)).await;
    let mut reader = person(&ca, &commune, "16681", &[Role::Reader]).await;
    let link = reconciled(&mut reader).await;
    assert_eq!(
        link.reconciled_decisions, 0,
        "the forgery is not applied: {link:?}"
    );
    assert_eq!(
        link.reconciled_unresolved, 1,
        "the refusal is counted: {link:?}"
    );
    let summary = wait_status(&mut reader, "16681", pb::PlanStatus::Submitted).await;
    assert_eq!(summary.hash, adopted.hash);
    commune.stop().await.unwrap();
    district.stop().await.unwrap();
    province.stop().await.unwrap();

    // Nothing of it was stored at the commune.
    let store = SledStore::open(&dir.join("16681")).unwrap();
    let header = store.header(&v1()).unwrap().unwrap();
    assert_eq!(header.status, PlanStatus::Submitted);
    assert!(header.decision.is_none());
    assert!(store.document(KEPT).unwrap().is_none());
}
