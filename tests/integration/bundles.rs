//! Bundles on removable media (issue 25): a district whose only link to its province is a
//! folder (`serve --parent-dir`), a province that never connects to it, and a clerk carrying
//! files between them with `quyhoach bundle import|export`; the flow ends as the same flow over
//! gRPC does. Every attack on a bundle is refused with its reason and stores nothing; a child
//! killed while writing a bundle and a province killed while importing one lose nothing and
//! duplicate nothing.

use std::path::{Path, PathBuf};

use quyhoach::{
    auth::Role,
    bundle::{
        format::{self, Content, MAGIC, MAX_BUNDLE},
        sign::{Signer, Statement},
    },
    client,
    config::{RawConfig, Tls},
    grpc::pb::{self, planning_client::PlanningClient},
    pki::{self, Authority, Subject},
    server::Running,
};
use tokio::process::Child;
use tonic::transport::Channel;

use crate::{
    harness::{
        district_entry, draft_with, everything, round, start_tls, start_with, tls_config,
        wait_status, TERM,
    },
    procs::{cli, eventually, listening, on_terminal, serve_command},
};

/// A person's certificate files of `unit` with `roles`, written under `dir/people`.
pub(crate) fn person(
    dir: &Path,
    ca: &Authority,
    unit: &str,
    roles: &[Role],
    stem: &str,
) -> (PathBuf, PathBuf) {
    let issued = ca
        .issue(&Subject::new(unit, roles, "Nguyễn Thị Văn Thư", 1))
        .unwrap();
    pki::write(&dir.join("people"), stem, &issued).unwrap();
    (
        dir.join("people").join(format!("{stem}.pem")),
        dir.join("people").join(format!("{stem}.key")),
    )
}

/// A Planning client of the node at `addr` as a person of `unit` with `roles`.
pub(crate) async fn as_person(
    addr: &str,
    ca: &Authority,
    unit: &str,
    roles: &[Role],
) -> PlanningClient<Channel> {
    let issued = ca
        .issue(&Subject::new(unit, roles, "Trần Văn Cán Bộ", 1))
        .unwrap();
    let tls = Tls {
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
        ca_pem: ca.cert_pem.clone(),
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match client::connect(addr, Some(&tls)).await {
            Ok(c) => return c,
            Err(e) if tokio::time::Instant::now() > deadline => panic!("cannot reach {addr}: {e}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

/// The district 412's own plan: one entry, voted, adopted.
pub(crate) async fn adopt_district_plan(
    c: &mut PlanningClient<Channel>,
    n: u32,
    name: &str,
) -> pb::Plan {
    draft_with(c, "412", vec![district_entry(n, name, "412")]).await;
    c.record_ballot_round(pb::RecordBallotRoundRequest {
        unit: "412".into(),
        term: TERM.into(),
        round: Some(round(&[(n, "D.PCT.UBND", 20)])),
    })
    .await
    .unwrap();
    c.adopt_plan(pb::AdoptPlanRequest {
        unit: "412".into(),
        term: TERM.into(),
        adopted_on: String::new(),
        revision: None,
    })
    .await
    .unwrap()
    .into_inner()
}

pub(crate) async fn submit(c: &mut PlanningClient<Channel>) {
    c.submit_plan(pb::SubmitPlanRequest {
        unit: "412".into(),
        term: TERM.into(),
        revision: None,
        hash: String::new(),
    })
    .await
    .unwrap();
}

/// The bundle files (`*.qhb`) in `dir`, sorted.
pub(crate) fn bundles_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "qhb"))
                .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Waits until `dir` holds a bundle whose name starts with `prefix`, and answers it.
pub(crate) async fn bundle_appears(dir: &Path, prefix: &str) -> PathBuf {
    eventually(
        20,
        &format!("a {prefix}… bundle in {}", dir.display()),
        || async {
            bundles_in(dir)
                .into_iter()
                .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        },
    )
    .await
}

/// Copies `file` into `to` (a folder): carrying it on a USB stick.
pub(crate) fn carry(file: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    let dest = to.join(file.file_name().unwrap());
    std::fs::copy(file, &dest).unwrap();
    dest
}

/// The size of `file` in bytes.
fn len(file: &Path) -> u64 {
    std::fs::metadata(file).unwrap().len()
}

/// The province 40's office: its node's address and a clerk's certificate files.
pub(crate) struct Office {
    addr: String,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Office {
    pub(crate) fn new(dir: &Path, ca: &Authority, addr: String, unit: &str) -> Office {
        let (cert, key) = person(dir, ca, unit, &[Role::Clerk], &format!("clerk-{unit}"));
        std::fs::write(dir.join("ca.pem"), &ca.cert_pem).unwrap();
        Office {
            addr,
            ca: dir.join("ca.pem"),
            cert,
            key,
        }
    }

    pub(crate) fn node_args(&self) -> Vec<String> {
        vec![
            "--node".into(),
            self.addr.clone(),
            "--ca".into(),
            self.ca.display().to_string(),
            "--cert".into(),
            self.cert.display().to_string(),
            "--key".into(),
            self.key.display().to_string(),
        ]
    }

    /// The arguments of `quyhoach bundle import FILE` at this office's node.
    fn import_args(&self, file: &Path) -> Vec<String> {
        let mut args = vec![
            "bundle".to_string(),
            "import".into(),
            file.display().to_string(),
        ];
        args.extend(self.node_args());
        args
    }

    /// `quyhoach bundle import FILE` at this office's node.
    pub(crate) async fn import(&self, file: &Path) -> crate::procs::Ran {
        cli(self.import_args(file)).await
    }

    /// The same at a terminal ([`on_terminal`]): its progress is drawn.
    async fn import_on_terminal(&self, file: &Path) -> crate::procs::Ran {
        on_terminal(self.import_args(file)).await
    }

    /// `quyhoach bundle export` of 412's plan at this office's node into `out`.
    pub(crate) async fn export(&self, out: &Path) -> crate::procs::Ran {
        let mut args = vec![
            "bundle".to_string(),
            "export".into(),
            "--unit".into(),
            "412".into(),
            "--term".into(),
            TERM.into(),
            "--out".into(),
            out.display().to_string(),
        ];
        args.extend(self.node_args());
        cli(args).await
    }
}

/// A district 412 node in this process whose only link to its parent is `usb`.
pub(crate) async fn folder_district(dir: &Path, ca: &Authority, usb: &Path) -> Running {
    start_with(RawConfig {
        parent_dir: Some(usb.to_path_buf()),
        retry_max_ms: Some(100),
        ..tls_config(dir, ca, "412", None)
    })
    .await
}

pub(crate) async fn sync_status(c: &mut PlanningClient<Channel>) -> pb::SyncStatusResponse {
    c.sync_status(pb::SyncStatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

async fn outbox_empties(c: &mut PlanningClient<Channel>) {
    eventually(20, "the district's outbox to empty", || {
        let mut c = c.clone();
        async move {
            let p = sync_status(&mut c).await.parent?;
            (p.outbox_length == 0).then_some(())
        }
    })
    .await;
}

/// What two runs of the same flow must agree on for a plan version: everything but the times.
fn comparable(mut p: pb::Plan) -> pb::Plan {
    p.received_at.clear();
    if let Some(d) = p.decision.as_mut() {
        d.decided_at.clear();
    }
    p
}

async fn plan_v(c: &mut PlanningClient<Channel>, version: u32) -> pb::Plan {
    c.get_plan(pb::GetPlanRequest {
        unit: "412".into(),
        term: TERM.into(),
        version,
    })
    .await
    .unwrap()
    .into_inner()
}

async fn approve(c: &mut PlanningClient<Channel>, plan: &pb::Plan) {
    c.decide_plan(pb::DecidePlanRequest {
        cms_signature: Vec::new(),
        plan: plan.id.clone(),
        hash: plan.hash.clone(),
        outcome: pb::Outcome::Approve.into(),
        reasons: vec![],
        cite_findings: vec![],
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_district_linked_by_a_folder_gets_its_plan_approved_as_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Authority::create("Tỉnh Nghệ An CA", 1).unwrap();
    let province = start_tls(d, &ca, "40", None).await;
    let usb = d.join("usb");
    let district = folder_district(d, &ca, &usb).await;
    let office = Office::new(d, &ca, province.addr.to_string(), "40");
    let mut clerk = as_person(&district.addr.to_string(), &ca, "412", &[Role::Clerk]).await;
    let mut approver = as_person(&province.addr.to_string(), &ca, "40", &[Role::Approver]).await;

    let own = adopt_district_plan(&mut clerk, 3, "Lê Hữu Phước").await;
    submit(&mut clerk).await;

    // The link writes the push into up/, and the status says it waits to be carried.
    let pushed = bundle_appears(&usb.join("up"), "push-412-2025-2030-v1").await;
    let link = eventually(20, "the folder link in the status", || {
        let mut c = clerk.clone();
        async move {
            let p = sync_status(&mut c).await.parent?;
            (p.last_error.contains("waiting to be carried")).then_some(p)
        }
    })
    .await;
    assert_eq!(link.outbox_length, 1);
    assert!(
        link.last_error
            .contains("push-412-2025-2030-v1-submitted.qhb"),
        "{}",
        link.last_error
    );

    // Anyone with the authority's certificate sees what it holds and who signed it.
    let (ok, text) = cli([
        "bundle".to_string(),
        "verify".into(),
        pushed.display().to_string(),
        "--ca".into(),
        office.ca.display().to_string(),
    ])
    .await
    .said();
    assert!(ok, "{text}");
    assert!(
        text.contains("sealed by: quyhoach node 412 [node@412]")
            && text.contains("signed: submitted 412/2025-2030/v1 submitted by 412")
            && text.contains("every signature and hash holds"),
        "{text}"
    );

    // Carried to the province and imported there: received, and a signed receipt written.
    let inbox = d.join("province-inbox");
    let carried = carry(&pushed, &inbox);
    // At a terminal the import shows its progress, then says what it did.
    let (ok, text) = office.import_on_terminal(&carried).await.said();
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("sending {} bytes to", len(&carried))),
        "{text}"
    );
    assert!(
        text.contains(&format!("imported {}", carried.display())),
        "{text}"
    );
    assert!(
        text.contains("412/2025-2030/v1 from 412 received as submitted"),
        "{text}"
    );
    let receipt = bundle_appears(&inbox, "receipt-412-2025-2030-v1").await;
    // The province keeps the district's signature with the plan, in the same transaction.
    let mut province_clerk = as_person(&province.addr.to_string(), &ca, "40", &[Role::Admin]).await;
    let kept = province_clerk
        .audit(pb::AuditRequest {
            unit: "412".into(),
            action: "receive_push".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        format!("{kept:?}").contains("keeps the signatures: submission by 412"),
        "{kept:?}"
    );

    // The receipt carried back closes the district's outbox item.
    carry(&receipt, &usb.join("down"));
    outbox_empties(&mut clerk).await;

    // The province decides; the clerk exports the decision, which is carried down.
    approve(&mut approver, &own).await;
    let decisions = inbox.join("decisions-for-412.qhb");
    let (ok, text) = office.export(&decisions).await.said();
    assert!(ok, "{text}");
    let (ok, text) = cli([
        "bundle".to_string(),
        "verify".into(),
        decisions.display().to_string(),
        "--ca".into(),
        office.ca.display().to_string(),
    ])
    .await
    .said();
    assert!(
        ok && text.contains("signed: decision 412/2025-2030/v1 approved by 40"),
        "{text}"
    );
    carry(&decisions, &usb.join("down"));
    wait_status(&mut clerk, "412", pb::PlanStatus::Approved).await;
    // Decisions to carry down exist only for a unit this node decides: 40 decides 412's
    // plans (the same decision again), not its own.
    for (unit, decides) in [("412", true), ("40", false)] {
        let again = inbox.join(format!("down-{unit}.qhb"));
        let mut args = vec![
            "bundle".to_string(),
            "export".into(),
            "--decisions".into(),
            "--unit".into(),
            unit.into(),
            "--term".into(),
            TERM.into(),
            "--out".into(),
            again.display().to_string(),
        ];
        args.extend(office.node_args());
        let (ok, text) = cli(args).await.said();
        assert_eq!(ok, decides, "{unit}: {text}");
        if decides {
            let (ok, text) = cli([
                "bundle".to_string(),
                "verify".into(),
                again.display().to_string(),
                "--ca".into(),
                office.ca.display().to_string(),
            ])
            .await
            .said();
            assert!(
                ok && text.contains("signed: decision 412/2025-2030/v1 approved by 40"),
                "{text}"
            );
        } else {
            assert!(
                text.contains("does not decide the plans of 40") && !again.exists(),
                "{text}"
            );
        }
    }

    // The same flow over gRPC ends the same on both sides.
    let dir2 = tempfile::tempdir().unwrap();
    let province2 = start_tls(dir2.path(), &ca, "40", None).await;
    let district2 = start_tls(dir2.path(), &ca, "412", Some(province2.url())).await;
    let mut clerk2 = as_person(&district2.addr.to_string(), &ca, "412", &[Role::Clerk]).await;
    let mut approver2 = as_person(&province2.addr.to_string(), &ca, "40", &[Role::Approver]).await;
    let own2 = adopt_district_plan(&mut clerk2, 3, "Lê Hữu Phước").await;
    assert_eq!(own2.hash, own.hash, "the same content");
    submit(&mut clerk2).await;
    wait_status(&mut approver2, "412", pb::PlanStatus::Received).await;
    approve(&mut approver2, &own2).await;
    wait_status(&mut clerk2, "412", pb::PlanStatus::Approved).await;
    assert_eq!(
        comparable(plan_v(&mut approver, 1).await),
        comparable(plan_v(&mut approver2, 1).await),
        "the province holds the same"
    );
    assert_eq!(
        comparable(plan_v(&mut clerk, 1).await),
        comparable(plan_v(&mut clerk2, 1).await),
        "the district holds the same"
    );
    for n in [district, province, district2, province2] {
        n.stop().await.unwrap();
    }
}

/// What the province holds and counts, for "nothing stored".
async fn held(c: &mut PlanningClient<Channel>) -> (Vec<pb::Plan>, usize, u64) {
    let s = sync_status(c).await;
    (everything(c).await, s.conflicts.len(), s.pushes_accepted)
}

#[tokio::test]
async fn every_attack_on_a_bundle_is_refused_with_its_reason_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Authority::create("Tỉnh Nghệ An CA", 1).unwrap();
    let province = start_tls(d, &ca, "40", None).await;
    let usb = d.join("usb");
    let district = folder_district(d, &ca, &usb).await;
    let office = Office::new(d, &ca, province.addr.to_string(), "40");
    let mut clerk = as_person(&district.addr.to_string(), &ca, "412", &[Role::Clerk]).await;
    let mut admin = as_person(
        &province.addr.to_string(),
        &ca,
        "40",
        &[Role::Admin, Role::Approver],
    )
    .await;
    let own = adopt_district_plan(&mut clerk, 3, "Lê Hữu Phước").await;
    submit(&mut clerk).await;
    let pushed = bundle_appears(&usb.join("up"), "push-412").await;
    let genuine = std::fs::read(&pushed).unwrap();
    let attacks = d.join("attacks");
    std::fs::create_dir_all(&attacks).unwrap();
    let before = held(&mut admin).await;
    assert!(before.0.is_empty());

    // The district's own key (an attacker holding it, or a confused district) and a sibling's.
    let key_of = |unit: &str| {
        let nodes = d.join("nodes");
        Signer::from_pem(
            &std::fs::read_to_string(nodes.join(format!("{unit}.key"))).unwrap(),
            &std::fs::read_to_string(nodes.join(format!("{unit}.pem"))).unwrap(),
            &ca.cert_pem,
            None,
        )
        .unwrap()
    };
    let sibling = ca.issue(&Subject::node("414", &[], 1)).unwrap();
    let sibling =
        Signer::from_pem(&sibling.key_pem, &sibling.cert_pem, &ca.cert_pem, None).unwrap();
    let district_key = key_of("412");
    let original = format::read(&genuine).unwrap().bundle;

    let mut for_other_parent = original.clone();
    for_other_parent.to_unit = "42".into();
    let mut one_byte = genuine.clone();
    let middle = one_byte.len() / 2;
    one_byte[middle] ^= 0x01;
    // A length prefix claiming 4 GiB of body with a few bytes behind it.
    let mut huge_length = MAGIC.to_vec();
    huge_length.extend_from_slice(&[0x08, 0x01, 0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("altered by one byte", one_byte, "bundle"),
        (
            "truncated",
            genuine[..genuine.len() - 40].to_vec(),
            "damaged or truncated",
        ),
        ("a huge length", huge_length, "damaged or truncated"),
        (
            "signed by a sibling",
            original.write(&sibling).unwrap(),
            "signed by quyhoach node 414 [node@414], not by the node of 412",
        ),
        (
            "for another parent",
            for_other_parent.write(&district_key).unwrap(),
            "the bundle is for 42, not for this node (40)",
        ),
        (
            "not a bundle",
            b"PK\x03\x04 a zip file".to_vec(),
            "does not start with QHBUNDLE",
        ),
    ];
    for (what, bytes, reason) in cases {
        let file = attacks.join(format!("{}.qhb", what.replace(' ', "-")));
        std::fs::write(&file, bytes).unwrap();
        let (ok, text) = office.import(&file).await.said();
        assert!(!ok, "{what}: accepted: {text}");
        assert!(text.contains(reason), "{what}: {text}");
        assert!(
            bundles_in(&attacks)
                .iter()
                .all(|p| !p.to_string_lossy().contains("receipt")),
            "{what}: a receipt was written"
        );
        assert_eq!(
            held(&mut admin).await,
            before,
            "{what}: something was stored"
        );
    }
    // Oversized: refused before it is read, and by the node before it is decoded.
    let oversized = attacks.join("oversized.qhb");
    let mut big = MAGIC.to_vec();
    big.resize(MAX_BUNDLE + 1, 0);
    std::fs::write(&oversized, &big).unwrap();
    let (ok, text) = office.import(&oversized).await.said();
    assert!(
        !ok && text.contains(&format!("more than the {MAX_BUNDLE}")),
        "{text}"
    );
    let province_clerk = as_person(&province.addr.to_string(), &ca, "40", &[Role::Clerk]).await;
    let refused = province_clerk
        .max_encoding_message_size(64 * 1024 * 1024)
        .import_bundle(pb::ImportBundleRequest { bundle: big })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(
        refused
            .message()
            .contains(&format!("more than the {MAX_BUNDLE}")),
        "{refused:?}"
    );
    assert_eq!(
        held(&mut admin).await,
        before,
        "oversized: something was stored"
    );

    // The genuine bundle is taken; the same again gives the same receipt.
    let (ok, text) = office.import(&pushed).await.said();
    assert!(ok, "{text}");
    let receipt = bundle_appears(&usb.join("up"), "receipt-").await;
    let first = format::read(&std::fs::read(&receipt).unwrap())
        .unwrap()
        .bundle;
    let (ok, text) = office.import(&pushed).await.said();
    assert!(ok && text.contains("already held"), "{text}");
    // Through a pipe, no progress is drawn.
    assert!(!text.contains("sending"), "{text}");
    let again = format::read(&std::fs::read(&receipt).unwrap())
        .unwrap()
        .bundle;
    assert_eq!(
        first.content, again.content,
        "the same receipt, the same signature"
    );

    // Another content under the same version (signed and sealed by the district's own key):
    // a visible conflict, nothing overwritten.
    let Content::Push {
        mut plan,
        audit_head,
        ..
    } = original.content.clone()
    else {
        panic!("a push")
    };
    plan.entries[0].cadre.full_name = "Lê Hữu Phúc".into();
    plan.hash = Some(plan.content_hash());
    let forged = format::Bundle {
        content: Content::Push {
            signed: format::PushSignatures {
                signature: district_key
                    .sign(Statement::submitted(&plan, chrono::Utc::now()))
                    .unwrap(),
                forwarded: Vec::new(),
            },
            plan: plan.clone(),
            audit_head,
        },
        ..original.clone()
    };
    let file = attacks.join("other-content.qhb");
    std::fs::write(&file, forged.write(&district_key).unwrap()).unwrap();
    let held_v1 = plan_v(&mut admin, 1).await;
    let (ok, text) = office.import(&file).await.said();
    assert!(!ok && text.contains("is already held with hash"), "{text}");
    assert_eq!(plan_v(&mut admin, 1).await, held_v1, "nothing overwritten");
    assert_eq!(
        sync_status(&mut admin).await.conflicts.len(),
        1,
        "the conflict is visible"
    );

    // Replayed after a newer version: the province returns v1, the district submits v2, and
    // v1's bundle carried again is refused.
    carry(&receipt, &usb.join("down"));
    outbox_empties(&mut clerk).await;
    admin
        .decide_plan(pb::DecidePlanRequest {
            cms_signature: Vec::new(),
            plan: own.id.clone(),
            hash: own.hash.clone(),
            outcome: pb::Outcome::Return.into(),
            reasons: vec!["Bổ sung nữ".into()],
            cite_findings: vec![],
        })
        .await
        .unwrap();
    let decisions = attacks.join("decisions.qhb");
    let (ok, text) = office.export(&decisions).await.said();
    assert!(ok, "{text}");
    carry(&decisions, &usb.join("down"));
    wait_status(&mut clerk, "412", pb::PlanStatus::Returned).await;
    // Version 2 carries version 1's entries and rounds; adopted as it is.
    clerk
        .create_draft(pb::CreateDraftRequest {
            unit: "412".into(),
            term: TERM.into(),
            from_sources: false,
        })
        .await
        .unwrap();
    clerk
        .adopt_plan(pb::AdoptPlanRequest {
            unit: "412".into(),
            term: TERM.into(),
            adopted_on: String::new(),
            revision: None,
        })
        .await
        .unwrap();
    submit(&mut clerk).await;
    let v2 = bundle_appears(&usb.join("up"), "push-412-2025-2030-v2").await;
    let (ok, text) = office.import(&v2).await.said();
    assert!(ok, "{text}");
    let before_replay = held(&mut admin).await;
    let (ok, text) = office.import(&pushed).await.said();
    assert!(
        !ok && text.contains("is a replay: version 2 of 412 is already held here"),
        "{text}"
    );
    assert_eq!(
        held(&mut admin).await,
        before_replay,
        "replay: something was stored"
    );
    district.stop().await.unwrap();
    province.stop().await.unwrap();
}

/// `quyhoach serve` of `unit` over TLS (its certificate under `dir/nodes`), as a process, with
/// `extra` arguments and `env`; answers the process and its address.
async fn tls_process(
    dir: &Path,
    unit: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Child, String) {
    let data = dir.join(unit);
    std::fs::create_dir_all(&data).unwrap();
    let nodes = dir.join("nodes");
    let mut cmd = serve_command(unit, &data, "127.0.0.1:0", "builtin:2024");
    cmd.arg("--cert")
        .arg(nodes.join(format!("{unit}.pem")))
        .arg("--key")
        .arg(nodes.join(format!("{unit}.key")))
        .arg("--ca")
        .arg(dir.join("ca.pem"))
        .args([
            "--poll-ms",
            "30",
            "--retry-max-ms",
            "100",
            "--rate-limit",
            "100000",
        ])
        .args(extra)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn,quyhoach=info");
    let mut child = cmd.spawn().expect("the quyhoach binary starts");
    let addr = listening(&mut child)
        .await
        .unwrap_or_else(|| panic!("node {unit} exited at start"));
    (child, addr)
}

#[tokio::test]
async fn a_district_killed_while_writing_a_bundle_writes_it_whole_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Authority::create("Tỉnh Nghệ An CA", 1).unwrap();
    let province = start_tls(d, &ca, "40", None).await;
    // The district's certificate, written where its process reads it.
    let _ = tls_config(d, &ca, "412", None);
    let usb = d.join("usb");
    let usb_arg = usb.display().to_string();
    let (mut child, addr) = tls_process(
        d,
        "412",
        &["--parent-dir", &usb_arg],
        &[("QUYHOACH_CRASH_AT", "bundle-written")],
    )
    .await;
    let mut clerk = as_person(&addr, &ca, "412", &[Role::Clerk]).await;
    adopt_district_plan(&mut clerk, 3, "Lê Hữu Phước").await;
    let _ = clerk
        .submit_plan(pb::SubmitPlanRequest {
            unit: "412".into(),
            term: TERM.into(),
            revision: None,
            hash: String::new(),
        })
        .await;
    // Killed after the bundle's bytes are on disk under a temporary name, before the rename.
    let exit = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait())
        .await
        .expect("the district dies at the crash point")
        .unwrap();
    assert!(!exit.success());
    assert!(
        bundles_in(&usb.join("up")).is_empty(),
        "no partial bundle under a bundle's name"
    );

    let (_child, addr) = tls_process(d, "412", &["--parent-dir", &usb_arg], &[]).await;
    let mut clerk = as_person(&addr, &ca, "412", &[Role::Clerk]).await;
    let pushed = bundle_appears(&usb.join("up"), "push-412-2025-2030-v1").await;
    assert_eq!(bundles_in(&usb.join("up")).len(), 1, "written once");
    let office = Office::new(d, &ca, province.addr.to_string(), "40");
    let (ok, text) = office.import(&pushed).await.said();
    assert!(ok, "{text}");
    let receipt = bundle_appears(&usb.join("up"), "receipt-").await;
    carry(&receipt, &usb.join("down"));
    outbox_empties(&mut clerk).await;
    let mut admin = as_person(&province.addr.to_string(), &ca, "40", &[Role::Admin]).await;
    let plans = everything(&mut admin).await;
    assert_eq!(plans.len(), 1, "one version, once");
    assert_eq!(sync_status(&mut admin).await.pushes_accepted, 1);
    province.stop().await.unwrap();
}

#[tokio::test]
async fn a_province_killed_while_importing_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Authority::create("Tỉnh Nghệ An CA", 1).unwrap();
    let _ = tls_config(d, &ca, "40", None);
    let usb = d.join("usb");
    let district = folder_district(d, &ca, &usb).await;
    let mut clerk = as_person(&district.addr.to_string(), &ca, "412", &[Role::Clerk]).await;
    adopt_district_plan(&mut clerk, 3, "Lê Hữu Phước").await;
    submit(&mut clerk).await;
    let pushed = bundle_appears(&usb.join("up"), "push-412-2025-2030-v1").await;
    let inbox = d.join("province-inbox");
    let carried = carry(&pushed, &inbox);

    // The province dies once the push is on its disk, before the receipt is written.
    let (mut province, addr) =
        tls_process(d, "40", &[], &[("QUYHOACH_CRASH_AT", "after-receive")]).await;
    let office = Office::new(d, &ca, addr, "40");
    let (ok, text) = office.import(&carried).await.said();
    assert!(!ok, "the import cannot have succeeded: {text}");
    let _ = province.wait().await;
    assert!(
        bundles_in(&inbox)
            .iter()
            .all(|p| !p.to_string_lossy().contains("receipt")),
        "no receipt"
    );

    // Restarted, the same bundle again: already held, the receipt it had made.
    let (_province, addr) = tls_process(d, "40", &[], &[]).await;
    let office = Office {
        addr: addr.clone(),
        ..office
    };
    let (ok, text) = office.import(&carried).await.said();
    assert!(ok && text.contains("already held"), "{text}");
    let receipt = bundle_appears(&inbox, "receipt-412-2025-2030-v1").await;
    carry(&receipt, &usb.join("down"));
    outbox_empties(&mut clerk).await;
    let mut admin = as_person(&addr, &ca, "40", &[Role::Admin]).await;
    let plans = everything(&mut admin).await;
    assert_eq!(plans.len(), 1, "one version, once");
    assert_eq!(plans[0].status, pb::PlanStatus::Received as i32);
    district.stop().await.unwrap();
}
