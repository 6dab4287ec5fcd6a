//! Pushes over gRPC are signed as bundles are (issue 25): real nodes over mutual TLS on
//! loopback (commune 16681 -> district 412 -> province 40, certificates from the test
//! authority). After the flow the province keeps the commune's submission signature and the
//! district's decision signature on the commune's version: `quyhoach bundle export` of that
//! version at the province writes its record, and `quyhoach bundle verify FILE --ca ca.pem`,
//! offline, names both signers and says every signature holds. A push signed with a sibling
//! district's key, and an unsigned push, are refused naming `signature`, and the province holds
//! nothing of them; the same push signed with a key of the pushing district is taken, and its
//! receipt is signed by the province.

use std::path::{Path, PathBuf};

use quyhoach::{
    auth::Role,
    bundle::{
        format::{push_signatures_to_pb, signature_from_pb, PushSignatures},
        sign::{Kind, Signer, Statement, Trust},
    },
    grpc::{convert, pb},
    pki::{self, Authority, Subject},
};
use tonic::Code;

use crate::{
    harness::{adopted_plan, submit_until_received, wait_status, TlsTree, TERM},
    procs::cli,
};

/// A person's certificate files of `unit` with `roles`, under `dir/people`.
fn person(dir: &Path, ca: &Authority, unit: &str, roles: &[Role], stem: &str) -> [String; 6] {
    let issued = ca
        .issue(&Subject::new(unit, roles, "Nguyễn Thị Văn Thư", 1))
        .unwrap();
    pki::write(&dir.join("people"), stem, &issued).unwrap();
    let path = |ext: &str| {
        dir.join("people")
            .join(format!("{stem}.{ext}"))
            .display()
            .to_string()
    };
    [
        "--ca".into(),
        dir.join("ca.pem").display().to_string(),
        "--cert".into(),
        path("pem"),
        "--key".into(),
        path("key"),
    ]
}

/// A signer with a fresh node certificate of `unit` from `ca`.
fn node_key(ca: &Authority, unit: &str) -> Signer {
    let issued = ca.issue(&Subject::node(unit, &[], 1)).unwrap();
    Signer::from_pem(&issued.key_pem, &issued.cert_pem, &ca.cert_pem, None).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_province_keeps_the_communes_and_the_districts_signatures_and_a_file_proves_them() {
    let t = TlsTree::start().await;
    let dir: PathBuf = t._dir.path().to_path_buf();

    // The commune submits; the district receives it over gRPC, then approves it; the approved
    // version travels on to the province over gRPC.
    let mut commune = t.as_(&t.commune, "16681", &[Role::Clerk]).await;
    let mut district_reader = t.as_(&t.district, "412", &[Role::Reader]).await;
    let adopted = adopted_plan(&mut commune, "16681", &[(1, "Nguyễn Thị Hoa", "C.BT")]).await;
    submit_until_received(&mut commune, "16681", &mut district_reader).await;
    let mut approver = t.as_(&t.district, "412", &[Role::Approver]).await;
    approver
        .decide_plan(pb::DecidePlanRequest {
            plan: adopted.id.clone(),
            hash: adopted.hash.clone(),
            outcome: pb::Outcome::Approve.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut province_reader = t.as_(&t.province, "40", &[Role::Reader]).await;
    wait_status(&mut province_reader, "16681", pb::PlanStatus::Approved).await;

    // The province's record of that version, written by the binary as the province's clerk,
    // verified offline with the authority's certificate alone.
    let clerk = person(&dir, &t.ca, "40", &[Role::Clerk], "clerk-40");
    let file = dir.join("record-16681.qhb");
    let node = t.province.addr.to_string();
    let mut args: Vec<String> = vec!["bundle".into(), "export".into(), "--node".into(), node];
    args.extend(clerk.iter().cloned());
    args.extend(
        [
            "--unit",
            "16681",
            "--term",
            TERM,
            "--version",
            "1",
            "--out",
            &file.display().to_string(),
        ]
        .map(String::from),
    );
    let exported = cli(&args).await;
    assert!(exported.ok, "{}{}", exported.stdout, exported.stderr);
    let ca_pem = dir.join("ca.pem").display().to_string();
    let verified = cli([
        "bundle",
        "verify",
        &file.display().to_string(),
        "--ca",
        &ca_pem,
    ])
    .await;
    assert!(verified.ok, "{}{}", verified.stdout, verified.stderr);
    let out = &verified.stdout;
    let v1 = format!("16681/{TERM}/v1");
    assert!(
        out.contains(&format!("signed: submitted {v1} submitted by 16681 ")),
        "the commune's submission: {out}"
    );
    assert!(
        out.contains(&format!("signed: decision {v1} approved by 412 ")),
        "the district's decision: {out}"
    );
    assert!(
        out.contains(&format!("signed: receipt {v1} approved by 40 ")),
        "the province's own receipt: {out}"
    );
    assert!(out.contains("every signature and hash holds"), "{out}");
    // The same file under another authority does not verify.
    let other = Authority::create("another CA", 1).unwrap();
    let other_pem = dir.join("other-ca.pem");
    std::fs::write(&other_pem, &other.cert_pem).unwrap();
    let foreign = cli([
        "bundle",
        "verify",
        &file.display().to_string(),
        "--ca",
        &other_pem.display().to_string(),
    ])
    .await;
    assert!(!foreign.ok, "{}", foreign.stdout);
    assert!(
        foreign.stderr.contains("does NOT verify"),
        "{}",
        foreign.stderr
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_signed_by_a_sibling_or_unsigned_is_refused_and_nothing_is_stored() {
    let t = TlsTree::start().await;
    // The district's own plan, adopted at the district (never submitted there, so its link
    // does not push it); the test pushes it as node 412 itself.
    let mut district = t.as_(&t.district, "412", &[Role::Clerk]).await;
    let adopted = crate::bundles::adopt_district_plan(&mut district, 3, "Lê Hữu Phước").await;
    let mut plan = convert::plan_from_pb("plan", adopted).unwrap();
    plan.status = quyhoach::domain::PlanStatus::Submitted;
    plan.hash = Some(plan.content_hash());
    let statement = Statement::submitted(&plan, chrono::Utc::now());
    let request = |signed: Option<&PushSignatures>| {
        let (signature, forwarded) = signed.map(push_signatures_to_pb).unwrap_or_default();
        pb::PushRequest {
            from_unit: "412".into(),
            plan: Some(convert::plan_to_pb(&plan)),
            signature,
            forwarded,
        }
    };
    let mut as_412 = t.node_as(&t.province, "412").await;
    let mut reader = t.as_(&t.province, "40", &[Role::Reader]).await;
    let held_of_412 = |plans: Vec<pb::Plan>| {
        plans
            .into_iter()
            .filter(|p| p.id.as_ref().unwrap().unit == "412")
            .count()
    };

    // Signed with a sibling district's node key, the statement claiming 412.
    let sibling = PushSignatures {
        signature: node_key(&t.ca, "414").sign(statement.clone()).unwrap(),
        forwarded: Vec::new(),
    };
    let e = as_412.push(request(Some(&sibling))).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("signature"), "{e:?}");
    assert!(e.message().contains("not by the node of 412"), "{e:?}");
    // Unsigned.
    let e = as_412.push(request(None)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("signature"), "{e:?}");
    assert!(e.message().contains("unsigned"), "{e:?}");
    // Signed by 412 for other content (another version's statement).
    let mut other = statement.clone();
    other.hash = "ab".repeat(32);
    let wrong_content = PushSignatures {
        signature: node_key(&t.ca, "412").sign(other).unwrap(),
        forwarded: Vec::new(),
    };
    let e = as_412
        .push(request(Some(&wrong_content)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("signature"), "{e:?}");
    assert_eq!(
        held_of_412(crate::harness::everything(&mut reader).await),
        0,
        "nothing of a refused push is held"
    );

    // The other side: signed with a key of 412, the push is taken, and the province's receipt
    // is signed by the province's node, for exactly this version.
    let genuine = PushSignatures {
        signature: node_key(&t.ca, "412").sign(statement).unwrap(),
        forwarded: Vec::new(),
    };
    let receipt = as_412
        .push(request(Some(&genuine)))
        .await
        .unwrap()
        .into_inner();
    let signature = signature_from_pb("signature", receipt.signature.clone().unwrap()).unwrap();
    assert_eq!(signature.statement.kind, Kind::Receipt);
    assert_eq!(signature.statement.by, "40");
    assert_eq!(signature.statement.plan, plan.id);
    let trust = Trust::from_pem(&t.ca.cert_pem, None).unwrap();
    trust.verify(&signature).unwrap();
    assert_eq!(
        held_of_412(crate::harness::everything(&mut reader).await),
        1
    );
    t.stop().await;
}

/// Issue 25: a bundle carries the classification mark of the deployment that wrote it (under
/// the seal), and `bundle verify` prints it first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_carries_the_classification_mark_and_verify_prints_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::create("test CA", 1).unwrap();
    let province = crate::harness::start_tls(dir.path(), &ca, "40", None).await;
    let district = crate::harness::start_with(quyhoach::config::RawConfig {
        classification: Some("Mật".into()),
        ..crate::harness::tls_config(dir.path(), &ca, "412", Some(province.url()))
    })
    .await;
    let issued = ca
        .issue(&Subject::new("412", &[Role::Clerk], "Đỗ Văn Huyện", 1))
        .unwrap();
    let tls = quyhoach::config::Tls {
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
        ca_pem: ca.cert_pem.clone(),
    };
    let mut clerk = quyhoach::client::connect(&district.addr.to_string(), Some(&tls))
        .await
        .unwrap();
    crate::bundles::adopt_district_plan(&mut clerk, 3, "Lê Hữu Phước").await;
    crate::bundles::submit(&mut clerk).await;

    let verify = |file: PathBuf| {
        let ca_pem = dir.path().join("ca.pem").display().to_string();
        async move {
            cli([
                "bundle",
                "verify",
                &file.display().to_string(),
                "--ca",
                &ca_pem,
            ])
            .await
        }
    };
    let export = |node: String, unit: &str, stem: &str| {
        let mut args: Vec<String> = vec!["bundle".into(), "export".into(), "--node".into(), node];
        args.extend(person(dir.path(), &ca, unit, &[Role::Clerk], stem));
        let file = dir.path().join(format!("{stem}.qhb"));
        args.extend(
            [
                "--unit",
                "412",
                "--term",
                TERM,
                "--out",
                &file.display().to_string(),
            ]
            .map(String::from),
        );
        (args, file)
    };
    // The district's push of its plan, marked.
    let (args, file) = export(district.addr.to_string(), "412", "clerk-412");
    let ran = cli(&args).await;
    assert!(ran.ok, "{}{}", ran.stdout, ran.stderr);
    let ran = verify(file).await;
    assert!(ran.ok, "{}{}", ran.stdout, ran.stderr);
    assert_eq!(
        ran.stdout.lines().next(),
        Some("classification: MẬT"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("every signature and hash holds"));

    district.stop().await.unwrap();
    province.stop().await.unwrap();
}
