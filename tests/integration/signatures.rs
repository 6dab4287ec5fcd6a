//! Detached CMS (PKCS#7) signatures on approvals (issue 25): a test authority and its signers
//! made here (the project's rcgen authority), the CMS made with the `cms` crate's builder as
//! token software would make it, and a real district node started with `--signing-ca`. A
//! signature over the version's hash verifies through the binary and `GetPlan` shows its
//! signer; one over other bytes, by another authority's certificate, with an expired
//! certificate, or garbage is refused naming `cms_signature`, and nothing is stored.

use cms::{
    builder::{SignedDataBuilder, SignerInfoBuilder},
    cert::{CertificateChoices, IssuerAndSerialNumber},
    signed_data::{EncapsulatedContentInfo, SignerIdentifier},
};
use der::{asn1::ObjectIdentifier, DecodePem, Encode};
use p256::pkcs8::DecodePrivateKey;
use quyhoach::{
    config::RawConfig,
    grpc::pb,
    pki::{Authority, Issued, Subject},
    server::Running,
};
use sha2::Digest;
use spki::AlgorithmIdentifierOwned;
use tempfile::TempDir;
use tonic::Code;
use x509_cert::Certificate;

use crate::{harness::*, procs::cli};

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// The approver's certificate from `ca`, valid from `from_days` to `until_days` days from now.
pub(crate) fn signer(ca: &Authority, name: &str, from_days: i64, until_days: i64) -> Issued {
    let now = time::OffsetDateTime::now_utc();
    let mut subject = Subject::new("412", &[], name, 1);
    subject.not_before = now + time::Duration::days(from_days);
    subject.not_after = now + time::Duration::days(until_days);
    ca.issue(&subject).unwrap()
}

/// A detached CMS SignedData (DER) over `content` by `who`, with its certificate, as token
/// software makes it: content-type, message-digest and signing-time signed attributes.
pub(crate) fn sign(who: &Issued, content: &[u8]) -> Vec<u8> {
    let key = p256::ecdsa::SigningKey::from_pkcs8_pem(&who.key_pem).unwrap();
    sign_cms::<_, p256::ecdsa::DerSignature>(&key, &who.cert_pem, content)
}

/// A detached CMS SignedData (DER) over `content` with `key` and its certificate `cert_pem`:
/// content-type, message-digest and signing-time signed attributes, whatever the key's
/// algorithm (`Sig`: how its signatures are encoded).
fn sign_cms<K, Sig>(key: &K, cert_pem: &str, content: &[u8]) -> Vec<u8>
where
    K: p256::ecdsa::signature::Keypair
        + spki::DynSignatureAlgorithmIdentifier
        + p256::ecdsa::signature::Signer<Sig>,
    K::VerifyingKey: spki::EncodePublicKey,
    Sig: spki::SignatureBitStringEncoding,
{
    let cert = Certificate::from_pem(cert_pem.as_bytes()).unwrap();
    let encapsulated = EncapsulatedContentInfo {
        econtent_type: ID_DATA,
        econtent: None,
    };
    let digest_algorithm = AlgorithmIdentifierOwned {
        oid: ID_SHA256,
        parameters: None,
    };
    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: cert.tbs_certificate.issuer.clone(),
        serial_number: cert.tbs_certificate.serial_number.clone(),
    });
    let digest = sha2::Sha256::digest(content);
    let mut signer_info = SignerInfoBuilder::new(
        key,
        sid,
        digest_algorithm.clone(),
        &encapsulated,
        Some(&digest[..]),
    )
    .unwrap();
    // The builder adds content-type and message-digest; token software adds the signing time.
    signer_info
        .add_signed_attribute(cms::builder::create_signing_time_attribute().unwrap())
        .unwrap();
    SignedDataBuilder::new(&encapsulated)
        .add_digest_algorithm(digest_algorithm)
        .unwrap()
        .add_certificate(CertificateChoices::Certificate(cert))
        .unwrap()
        .add_signer_info::<_, Sig>(signer_info)
        .unwrap()
        .build()
        .unwrap()
        .to_der()
        .unwrap()
}

/// The serial of `who`'s certificate as nodes show serials (lowercase hex).
fn serial(who: &Issued) -> String {
    let cert = Certificate::from_pem(who.cert_pem.as_bytes()).unwrap();
    cert.tbs_certificate
        .serial_number
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A province, a district that names `ca` as its signing authority (when given), and a
/// commune whose version 1 the district holds as received.
pub(crate) struct Signing {
    pub(crate) dir: TempDir,
    province: Running,
    pub(crate) district: Running,
    commune: Running,
    /// The hash of the commune's version 1.
    pub(crate) hash: String,
}

impl Signing {
    pub(crate) async fn start(ca: Option<&Authority>) -> Signing {
        Self::start_with_crl(ca.map(|ca| ca.cert_pem.as_str()), None).await
    }

    /// As [`Signing::start`] with the signing authority's certificate `ca` (PEM), the
    /// district also naming the authority's revocation list `crl` (PEM).
    async fn start_with_crl(ca: Option<&str>, crl: Option<String>) -> Signing {
        let dir = tempfile::tempdir().unwrap();
        let signing_ca = ca.map(|ca| {
            let path = dir.path().join("signing-ca.pem");
            std::fs::write(&path, ca).unwrap();
            path
        });
        let signing_crl = crl.map(|pem| {
            let path = dir.path().join("signing-crl.pem");
            std::fs::write(&path, pem).unwrap();
            path
        });
        let province = start(dir.path(), "40", None, "builtin:2024").await;
        let district = start_with(RawConfig {
            signing_ca,
            signing_crl,
            // Its web page too, for the approval form's signature file.
            web: Some("127.0.0.1:0".into()),
            ..node_config(dir.path(), "412", Some(province.url()), "builtin:2024")
        })
        .await;
        let commune = start(dir.path(), "16681", Some(district.url()), "builtin:2024").await;
        let mut c = client(&commune).await;
        adopted_plan(&mut c, "16681", &[(1, "Nguyễn Thị Hoa", "C.BT")]).await;
        let mut d = client(&district).await;
        let (_, received) = submit_until_received(&mut c, "16681", &mut d).await;
        Signing {
            dir,
            province,
            district,
            commune,
            hash: received.hash,
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    }

    pub(crate) async fn stop(self) {
        for node in [self.commune, self.district, self.province] {
            node.stop().await.unwrap();
        }
    }
}

/// `quyhoach decide` approving the commune's version 1 at the district with `cms`.
async fn decide_with(node: &Running, cms: &str) -> (bool, String) {
    cli([
        "decide",
        "--node",
        &node.addr.to_string(),
        "--unit",
        "16681",
        "--term",
        TERM,
        "--version",
        "1",
        "--cms",
        cms,
    ])
    .await
    .said()
}

fn approve(cms_signature: Vec<u8>) -> pb::DecidePlanRequest {
    pb::DecidePlanRequest {
        plan: Some(id("16681", 1)),
        hash: String::new(),
        outcome: pb::Outcome::Approve.into(),
        reasons: vec![],
        cite_findings: vec![],
        cms_signature,
    }
}

pub(crate) async fn version_1(node: &Running) -> pb::Plan {
    client(node)
        .await
        .get_plan(pb::GetPlanRequest {
            unit: "16681".into(),
            term: TERM.into(),
            version: 1,
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn a_cms_signature_over_the_version_s_hash_verifies_through_the_binary_and_get_plan_names_its_signer(
) {
    let ca = Authority::create("Ban Cơ yếu Chính phủ (thử)", 30).unwrap();
    let net = Signing::start(Some(&ca)).await;
    let approver = signer(&ca, "Trần Văn Phê Duyệt", -1, 365);
    let cms = net.write(
        "v1.p7s",
        &sign(&approver, &quyhoach::signature::approval_content(&net.hash)),
    );

    let (ok, said) = decide_with(&net.district, &cms).await;
    assert!(ok, "{said}");
    assert!(said.contains("CMS signature verified and kept"), "{said}");

    let plan = version_1(&net.district).await;
    assert_eq!(plan.status, pb::PlanStatus::Approved as i32);
    let kept = plan.approval_signature.expect("the signature is kept");
    assert_eq!(kept.signer, "Trần Văn Phê Duyệt");
    assert_eq!(kept.serial, serial(&approver));
    assert!(kept.issuer.contains("Ban Cơ yếu"), "{}", kept.issuer);
    assert!(!kept.cms.is_empty());

    // The binary's `plan` shows it too.
    let (ok, shown) = cli([
        "plan",
        "--node",
        &net.district.addr.to_string(),
        "--unit",
        "16681",
        "--term",
        TERM,
        "--version",
        "1",
    ])
    .await
    .said();
    assert!(ok, "{shown}");
    assert!(
        shown.contains(&format!(
            "approval signed (CMS) by Trần Văn Phê Duyệt, certificate serial {}",
            serial(&approver)
        )),
        "{shown}"
    );

    // The audit record of the decision names the signer.
    let audit = client(&net.district)
        .await
        .audit(pb::AuditRequest {
            action: "decide".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        audit
            .records
            .iter()
            .any(|r| r.detail.contains("CMS signature by Trần Văn Phê Duyệt")),
        "{:?}",
        audit.records
    );
    net.stop().await;
}

#[tokio::test]
async fn a_cms_signature_over_other_bytes_by_another_authority_or_expired_is_refused_and_nothing_is_stored(
) {
    let ca = Authority::create("Ban Cơ yếu Chính phủ (thử)", 30).unwrap();
    let stranger = Authority::create("Một tổ chức khác", 30).unwrap();
    let net = Signing::start(Some(&ca)).await;
    let content = quyhoach::signature::approval_content(&net.hash);
    let approver = signer(&ca, "Trần Văn Phê Duyệt", -1, 365);
    let mut d = client(&net.district).await;
    let before = everything(&mut d).await;

    let other_bytes = sign(
        &approver,
        &quyhoach::signature::approval_content(&"0".repeat(64)),
    );
    let by_stranger = sign(&signer(&stranger, "Người lạ", -1, 365), &content);
    let expired = sign(&signer(&ca, "Hết Hạn", -30, -1), &content);
    let mut garbage = sign(&approver, &content);
    garbage.truncate(garbage.len() / 2);
    let cases: [(&str, Vec<u8>, Code, &str); 4] = [
        (
            "other bytes",
            other_bytes.clone(),
            Code::InvalidArgument,
            "other bytes",
        ),
        (
            "another authority",
            by_stranger,
            Code::FailedPrecondition,
            "does not chain",
        ),
        (
            "expired",
            expired,
            Code::FailedPrecondition,
            "not valid at the signing time",
        ),
        ("truncated", garbage, Code::InvalidArgument, "not a DER CMS"),
    ];
    for (case, cms, code, reason) in cases {
        let e = d.decide_plan(approve(cms)).await.unwrap_err();
        assert_eq!(e.code(), code, "{case}: {e:?}");
        assert!(
            e.message().contains("cms_signature"),
            "{case}: {}",
            e.message()
        );
        assert!(e.message().contains(reason), "{case}: {}", e.message());
    }
    // A return carries no signature.
    let mut returned = approve(sign(&approver, &content));
    returned.outcome = pb::Outcome::Return.into();
    returned.reasons = vec!["Thiếu hồ sơ".into()];
    let e = d.decide_plan(returned).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("cms_signature"), "{}", e.message());

    // Through the binary: refused, not zero, the field and the reason said.
    let (ok, said) = decide_with(&net.district, &net.write("other.p7s", &other_bytes)).await;
    assert!(!ok, "{said}");
    assert!(
        said.contains("cms_signature") && said.contains("other bytes"),
        "{said}"
    );

    // Nothing was written: the plan is as it was, still to be decided, and no decision was
    // recorded.
    assert_eq!(everything(&mut d).await, before);
    let plan = version_1(&net.district).await;
    assert_eq!(plan.status, pb::PlanStatus::Received as i32);
    assert!(plan.approval_signature.is_none());
    let audit = d
        .audit(pb::AuditRequest {
            action: "decide".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(audit.records.is_empty(), "{:?}", audit.records);

    // And the right signature still approves it.
    d.decide_plan(approve(sign(&approver, &content)))
        .await
        .unwrap();
    net.stop().await;
}

#[tokio::test]
async fn a_node_that_names_no_signing_authority_refuses_a_cms_signature_and_approves_without_one() {
    let ca = Authority::create("Ban Cơ yếu Chính phủ (thử)", 30).unwrap();
    let net = Signing::start(None).await;
    let approver = signer(&ca, "Trần Văn Phê Duyệt", -1, 365);
    let mut d = client(&net.district).await;
    let signed = sign(&approver, &quyhoach::signature::approval_content(&net.hash));
    let e = d.decide_plan(approve(signed)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(
        e.message().contains("cms_signature") && e.message().contains("--signing-ca"),
        "{}",
        e.message()
    );
    d.decide_plan(approve(Vec::new())).await.unwrap();
    assert!(version_1(&net.district).await.approval_signature.is_none());
    net.stop().await;
}

/// A signing authority file that holds no certificate stops the node at start, naming the
/// setting.
#[tokio::test]
async fn serve_refuses_a_signing_ca_that_is_no_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ca.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let e = RawConfig {
        signing_ca: Some(bad.clone()),
        ..node_config(dir.path(), "40", None, "builtin:2024")
    }
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("signing_ca"), "{e}");
}

/// Issue 25: the approver's certificate is checked against the signing authority's revocation
/// list (`serve --signing-crl`). A revoked approver's signature is refused naming the
/// certificate's serial, and nothing is stored; another approver of the same authority, not
/// on the list, approves. A list the authority did not sign stops the node at start.
#[tokio::test]
async fn a_revoked_approver_s_cms_signature_is_refused_naming_the_serial() {
    let ca = Authority::create("Ban Cơ yếu Chính phủ (thử)", 30).unwrap();
    let revoked = signer(&ca, "Người Bị Thu Hồi", -1, 365);
    let approver = signer(&ca, "Trần Văn Phê Duyệt", -1, 365);
    let serial_bytes = quyhoach::pki::serial_of(&revoked.cert_pem).unwrap();
    let crl = ca
        .revocation_list(&[(serial_bytes, time::OffsetDateTime::now_utc())], 30)
        .unwrap();
    let net = Signing::start_with_crl(Some(&ca.cert_pem), Some(crl)).await;
    let content = quyhoach::signature::approval_content(&net.hash);
    let mut d = client(&net.district).await;
    let before = everything(&mut d).await;

    let e = d
        .decide_plan(approve(sign(&revoked, &content)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("cms_signature"), "{}", e.message());
    assert!(e.message().contains("revoked"), "{}", e.message());
    assert!(
        e.message().contains(&serial(&revoked)),
        "names the serial: {}",
        e.message()
    );
    assert_eq!(everything(&mut d).await, before, "nothing stored");

    d.decide_plan(approve(sign(&approver, &content)))
        .await
        .unwrap();
    let kept = version_1(&net.district).await.approval_signature.unwrap();
    assert_eq!(kept.serial, serial(&approver));
    net.stop().await;

    // A revocation list made by another authority is refused at start.
    let stranger = Authority::create("Một tổ chức khác", 30).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca_path, crl_path) = (dir.path().join("ca.pem"), dir.path().join("crl.pem"));
    std::fs::write(&ca_path, &ca.cert_pem).unwrap();
    std::fs::write(&crl_path, stranger.revocation_list(&[], 30).unwrap()).unwrap();
    let e = RawConfig {
        signing_ca: Some(ca_path),
        signing_crl: Some(crl_path),
        ..node_config(dir.path(), "40", None, "builtin:2024")
    }
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("signing_crl"), "{e}");
}

/// Issue 25: the signing authority's revocation list is read again when its file changes.
/// An approver revoked by a new list written while the district runs is refused at their next
/// CMS signature, naming the serial, without a restart; a list then damaged, or signed by
/// another authority, is refused and the last good one stays in force (the approver is still
/// refused); an approver the list does not name approves.
#[tokio::test]
async fn an_approver_revoked_while_the_node_runs_is_refused_without_a_restart() {
    let ca = Authority::create("Ban Cơ yếu Chính phủ (thử)", 30).unwrap();
    let revoked = signer(&ca, "Người Bị Thu Hồi", -1, 365);
    let approver = signer(&ca, "Trần Văn Phê Duyệt", -1, 365);
    let empty = ca.revocation_list(&[], 30).unwrap();
    let net = Signing::start_with_crl(Some(&ca.cert_pem), Some(empty)).await;
    let crl_path = net.dir.path().join("signing-crl.pem");
    let content = quyhoach::signature::approval_content(&net.hash);
    let mut d = client(&net.district).await;
    let before = everything(&mut d).await;

    // The authority revokes the approver; the operator puts its new list in place.
    let serial_bytes = quyhoach::pki::serial_of(&revoked.cert_pem).unwrap();
    let listed = ca
        .revocation_list(&[(serial_bytes, time::OffsetDateTime::now_utc())], 30)
        .unwrap();
    std::fs::write(&crl_path, &listed).unwrap();
    let refused = |e: &tonic::Status| {
        assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
        assert!(e.message().contains("cms_signature"), "{}", e.message());
        assert!(e.message().contains("revoked"), "{}", e.message());
        assert!(
            e.message().contains(&serial(&revoked)),
            "names the serial: {}",
            e.message()
        );
    };
    let e = d
        .decide_plan(approve(sign(&revoked, &content)))
        .await
        .unwrap_err();
    refused(&e);
    assert_eq!(everything(&mut d).await, before, "nothing stored");

    // A damaged list, then one signed by another authority: each refused, the last good
    // list stays in force.
    std::fs::write(
        &crl_path,
        "-----BEGIN X509 CRL-----\nnot a list\n-----END X509 CRL-----\n",
    )
    .unwrap();
    let e = d
        .decide_plan(approve(sign(&revoked, &content)))
        .await
        .unwrap_err();
    refused(&e);
    let stranger = Authority::create("Một tổ chức khác", 30).unwrap();
    std::fs::write(&crl_path, stranger.revocation_list(&[], 30).unwrap()).unwrap();
    let e = d
        .decide_plan(approve(sign(&revoked, &content)))
        .await
        .unwrap_err();
    refused(&e);
    assert_eq!(everything(&mut d).await, before, "nothing stored");

    // An approver the list does not name approves.
    d.decide_plan(approve(sign(&approver, &content)))
        .await
        .unwrap();
    let kept = version_1(&net.district).await.approval_signature.unwrap();
    assert_eq!(kept.serial, serial(&approver));
    net.stop().await;
}

/// A `multipart/form-data` body of the web page's approve form (boundary [`BOUNDARY`]): the
/// page's token, the version's hash, `approve`, and the signature file `cms` (`p7s`).
fn approve_form(csrf: &str, hash: &str, p7s: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in [("csrf", csrf), ("hash", hash), ("outcome", "approve")] {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"cms\"; filename=\"phe-duyet.p7s\"\r\ncontent-type: application/pkcs7-signature\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(p7s);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

const BOUNDARY: &str = "----quyhoach-test-7d1f";

/// Issue 25: the web page's approval form takes the approver's detached CMS signature as a
/// file upload (multipart/form-data), verified by the node exactly as `decide --cms FILE` is.
/// A signature over other bytes, and one by another authority's certificate, are refused with
/// the reason on the page (naming `cms_signature`) and nothing is decided; the signature over
/// the version's hash, uploaded as PEM, approves, and `GetPlan` names its signer.
#[tokio::test]
async fn the_web_approval_form_takes_a_cms_signature_file_and_refuses_one_that_does_not_hold() {
    let ca = Authority::create("Ban Cơ yếu Chính phủ (thử)", 30).unwrap();
    let approver = signer(&ca, "Trần Văn Phê Duyệt", -1, 365);
    let net = Signing::start(Some(&ca)).await;
    let http = crate::web::access::Http::new(&net.district.web_url().unwrap(), None);
    let page_path = format!("/ke-hoach/16681/{TERM}/1");
    let page = http.send("GET", &page_path, None, "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("enctype=\"multipart/form-data\"") && page.body.contains("name=\"cms\""),
        "the approve form offers the signature file: {}",
        page.body
    );
    assert!(page.body.contains(&net.hash), "the form shows what to sign");
    let csrf = crate::web::access::csrf_of(&page.body);
    let content = quyhoach::signature::approval_content(&net.hash);
    let mut d = client(&net.district).await;
    let before = everything(&mut d).await;
    let post = |p7s: Vec<u8>| {
        let http = &http;
        let body = approve_form(&csrf, &net.hash, &p7s);
        let path = format!("{page_path}/quyet-dinh");
        async move {
            let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
            http.send_bytes(
                "POST",
                &path,
                None,
                body,
                &[("content-type", content_type.as_str())],
            )
            .await
        }
    };

    let stranger = Authority::create("Một tổ chức khác", 30).unwrap();
    let outsider = signer(&stranger, "Người Ngoài", -1, 365);
    for (what, p7s, status) in [
        ("over other bytes", sign(&approver, b"other bytes"), 400),
        ("by another authority", sign(&outsider, &content), 409),
    ] {
        let r = post(p7s).await;
        assert_eq!(r.status, status, "{what}: {}", r.body);
        assert!(
            r.body.contains("id=\"error\""),
            "{what}: the reason on the page"
        );
        assert!(r.body.contains("cms_signature"), "{what}: {}", r.body);
        assert_eq!(everything(&mut d).await, before, "{what}: nothing decided");
    }

    // The good signature, as the PEM a token's software may save.
    let der = sign(&approver, &content);
    let pem = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PKCS7-----\n{}\n-----END PKCS7-----\n",
            lines.join("\n")
        )
    };
    let r = post(pem.into_bytes()).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let plan = version_1(&net.district).await;
    assert_eq!(plan.status, pb::PlanStatus::Approved as i32);
    let kept = plan.approval_signature.unwrap();
    assert_eq!(kept.serial, serial(&approver));
    assert_eq!(kept.signer, "Trần Văn Phê Duyệt");
    net.stop().await;
}

/// A detached CMS SignedData (DER) over `content` made with an RSA key (PKCS #1 v1.5, SHA-256)
/// and its certificate (PEM), as token software with an RSA token makes it.
fn sign_rsa(cert_pem: &str, key_pem: &str, content: &[u8]) -> Vec<u8> {
    use rsa::pkcs8::DecodePrivateKey;
    let key = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(
        rsa::RsaPrivateKey::from_pkcs8_pem(key_pem).unwrap(),
    );
    sign_cms::<_, rsa::pkcs1v15::Signature>(&key, cert_pem, content)
}

/// Runs the `openssl` command line in `dir`, which must succeed.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl command line (Debian's openssl package)");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// Issue 25: an approval signed with an RSA-2048 official-use certificate (an RSA authority and
/// signer made in the test with the `openssl` command line) verifies and is kept; the same
/// signer's signature over other bytes is refused, naming `cms_signature`, and stores nothing.
#[tokio::test]
async fn an_rsa_2048_cms_signature_verifies_and_one_over_other_bytes_does_not() {
    let pki = tempfile::tempdir().unwrap();
    let p = pki.path();
    std::fs::write(
        p.join("signer.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n",
    )
    .unwrap();
    openssl(
        p,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=Test RSA Signing CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        p,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "signer.key",
        ],
    );
    openssl(
        p,
        &[
            "req",
            "-new",
            "-key",
            "signer.key",
            "-subj",
            "/CN=Tran Van RSA",
            "-out",
            "signer.csr",
        ],
    );
    openssl(
        p,
        &[
            "x509",
            "-req",
            "-in",
            "signer.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-sha256",
            "-extfile",
            "signer.ext",
            "-out",
            "signer.pem",
        ],
    );
    let read = |name: &str| std::fs::read_to_string(p.join(name)).unwrap();
    let (ca_pem, cert_pem, key_pem) = (read("ca.pem"), read("signer.pem"), read("signer.key"));
    assert!(key_pem.contains("BEGIN PRIVATE KEY"), "PKCS #8: {key_pem}");

    let net = Signing::start_with_crl(Some(&ca_pem), None).await;
    let content = quyhoach::signature::approval_content(&net.hash);
    let mut d = client(&net.district).await;
    let before = everything(&mut d).await;
    let other = sign_rsa(
        &cert_pem,
        &key_pem,
        &quyhoach::signature::approval_content(&"0".repeat(64)),
    );
    let e = d.decide_plan(approve(other)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("cms_signature") && e.message().contains("other bytes"),
        "{}",
        e.message()
    );
    assert_eq!(everything(&mut d).await, before, "nothing stored");

    d.decide_plan(approve(sign_rsa(&cert_pem, &key_pem, &content)))
        .await
        .unwrap();
    let kept = version_1(&net.district).await.approval_signature.unwrap();
    assert_eq!(kept.signer, "Tran Van RSA");
    assert!(
        kept.issuer.contains("Test RSA Signing CA"),
        "{}",
        kept.issuer
    );
    net.stop().await;
}
