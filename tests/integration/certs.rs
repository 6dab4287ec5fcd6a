//! Certificates mean one thing: forged certificates of the authority that name no role, two
//! units or a role with white space are refused at the gate; the `certs` command refuses to
//! replace a CA key, to follow a symbolic link, to leave its folder, to issue for an unknown
//! unit, a personal certificate with the node role or a certificate that expires at once, and
//! warns of one that expires soon; an expired certificate is named as such.

use std::{os::unix::fs::PermissionsExt, path::Path};

use quyhoach::{
    client,
    config::Tls as ClientTls,
    grpc::pb,
    pki::{Authority, Subject},
};
use rcgen::{string::Ia5String, CertificateParams, DnType, Issuer, KeyPair, SanType};
use tonic::Code;

use crate::{
    harness::TlsTree as Tree,
    procs::{quyhoach, run, Ran},
};

/// A certificate of the authority with exactly the SAN URIs given, bypassing `certs`.
fn forged(ca: &Authority, uris: &[&str]) -> ClientTls {
    let ca_key = KeyPair::from_pem(&ca.key_pem()).unwrap();
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, &ca_key).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "Kẻ Giả Mạo");
    for u in uris {
        params
            .subject_alt_names
            .push(SanType::URI(Ia5String::try_from(*u).unwrap()));
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    ClientTls {
        ca_pem: ca.cert_pem.clone(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

#[tokio::test]
async fn certificates_naming_no_role_two_units_or_spaced_roles_are_refused() {
    let t = Tree::start().await;
    let cases = [
        (vec!["urn:quyhoach:unit:412"], "no role"),
        (
            vec![
                "urn:quyhoach:unit:16681",
                "urn:quyhoach:unit:40",
                "urn:quyhoach:role:reader",
            ],
            "2 units",
        ),
        (
            vec!["urn:quyhoach:unit:412", "urn:quyhoach:role:reader "],
            "unknown role",
        ),
        (
            vec![
                "urn:quyhoach:unit:412",
                "urn:quyhoach:role:node",
                "urn:quyhoach:role:clerk",
            ],
            "node role only",
        ),
    ];
    for (uris, says) in cases {
        let tls = forged(&t.ca, &uris);
        let mut c = client::connect(&t.district.addr.to_string(), Some(&tls))
            .await
            .unwrap();
        let refused = c
            .consolidated(pb::ConsolidatedRequest::default())
            .await
            .expect_err(says);
        assert_eq!(
            refused.code(),
            Code::Unauthenticated,
            "{}",
            refused.message()
        );
        assert!(
            refused.message().contains(says),
            "{:?} does not say {says}",
            refused.message()
        );
    }
    t.stop().await;
}

#[tokio::test]
async fn an_expired_certificate_is_named_as_expired() {
    let t = Tree::start().await;
    let mut subject = Subject::new("412", &[quyhoach::auth::Role::Reader], "Lê Cũ", 1);
    subject.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(10);
    subject.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(2);
    let issued = t.ca.issue(&subject).unwrap();
    let tls = ClientTls {
        ca_pem: t.ca.cert_pem.clone(),
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
    };
    let e = client::connect(&t.district.addr.to_string(), Some(&tls))
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("expired on"), "{e:#}");
    t.stop().await;
}

/// `quyhoach certs` with `args`, run to its end.
async fn certs(args: &[&str]) -> Ran {
    run(quyhoach().arg("certs").args(args)).await
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn the_certs_command_refuses_tricks_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    assert!(certs(&["ca", "--out", path(&ca)]).await.ok);
    let key = std::fs::read_to_string(ca.join("ca.key")).unwrap();
    assert_eq!(
        std::fs::metadata(ca.join("ca.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // The CA key is not replaced without --force.
    let again = certs(&["ca", "--out", path(&ca)]).await;
    assert!(!again.ok);
    assert!(again.stderr.contains("--force"));
    assert_eq!(std::fs::read_to_string(ca.join("ca.key")).unwrap(), key);

    // A symbolic link at a key path is replaced, never followed.
    std::fs::create_dir_all(ca.join("nodes")).unwrap();
    let bait = dir.path().join("bait");
    std::fs::write(&bait, "untouched").unwrap();
    std::os::unix::fs::symlink(&bait, ca.join("nodes").join("412.key")).unwrap();
    let node = certs(&["node", "--ca-dir", path(&ca), "--unit", "412"]).await;
    assert!(node.ok, "{}", node.stderr);
    assert_eq!(std::fs::read_to_string(&bait).unwrap(), "untouched");
    let meta = std::fs::symlink_metadata(ca.join("nodes").join("412.key")).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    // Paths stay inside the folder; unknown units, node-role personal certificates and
    // certificates that expire at once are refused.
    for (args, says) in [
        (vec!["node", "--unit", "../../x"], "not a safe file name"),
        (vec!["node", "--unit", "99999"], "not in the units list"),
        (
            vec!["node", "--unit", "412", "--days", "0"],
            "expire at once",
        ),
        (
            vec![
                "client",
                "--unit",
                "412",
                "--role",
                "node",
                "--name",
                "Lê Văn A",
            ],
            "never carries the node role",
        ),
        (
            vec![
                "client", "--unit", "412", "--role", "reader", "--name", "A", "--stem", "../a",
            ],
            "not a safe file name",
        ),
    ] {
        let mut all = args.clone();
        all.extend(["--ca-dir", path(&ca)]);
        let out = certs(&all).await;
        assert!(!out.ok, "{args:?} was accepted");
        let stderr = out.stderr;
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert!(!dir.path().join("x.key").exists());
    assert!(!dir.path().join("a.key").exists());

    let soon = certs(&[
        "node",
        "--ca-dir",
        path(&ca),
        "--unit",
        "427",
        "--days",
        "10",
    ])
    .await;
    assert!(soon.ok);
    assert!(soon.stderr.contains("expires within 30 days"));

    let forced = certs(&["ca", "--out", path(&ca), "--force"]).await;
    assert!(forced.ok);
    assert_ne!(std::fs::read_to_string(ca.join("ca.key")).unwrap(), key);
}
