//! Signed statements about plan versions: a submission (by the unit's node), a decision (by the
//! approving unit's node) and a receipt (by the receiving node), each signed with the node's
//! TLS key over the version's content hash and identity, and verified with the authority's
//! certificate alone. The key is used through rcgen's key type (ring underneath); the
//! certificate chain is checked by rustls-webpki, the same code the TLS handshake runs, so a
//! signer is held to the rules a peer is held to at the gate. No cryptography is written here.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use rcgen::{KeyPair, SigningKey};
use rustls_pki_types::{pem::PemObject, CertificateDer, CertificateRevocationListDer, UnixTime};
use serde::{Deserialize, Serialize};

use crate::{
    auth::{Caller, Role},
    domain::{Decision, Fulfilment, Outcome, Plan, PlanId, PlanStatus, Receipt},
};

/// The first line of every signed statement: names the format, so that a signature made for
/// something else can never pass for one of these.
const STATEMENT_HEADER: &str = "quyhoach signed statement 1";

crate::domain::words::words! {
    /// What a signature vouches for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Kind ("signature kind") {
        /// A unit's node hands this version of its own plan up.
        Submitted = "submitted",
        /// The approving unit's node approved or returned this version.
        Decision = "decision",
        /// The receiving node holds this version (with the status it arrived with).
        Receipt = "receipt",
        /// The sending node hands up a fulfilment of an entry of this approved version.
        Fulfilment = "fulfilment",
    }
}

/// The identity and content of a plan version that a node signs. Its bytes
/// ([`Statement::to_bytes`]) are lines of text, one field a line, so that a person can read what
/// was signed (`quyhoach bundle verify` prints them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// What the signature vouches for.
    pub kind: Kind,
    /// The plan version: unit, term, version.
    pub plan: PlanId,
    /// The status the version has by this statement: `submitted` for a submission, `approved`
    /// or `returned` for a decision, and for a receipt the status it arrived with.
    pub status: PlanStatus,
    /// The version's content hash (hex BLAKE3 of its canonical bytes, as `Plan::content_hash`).
    pub hash: String,
    /// When: the signing time of a submission, the decision's time, the receipt's time (UTC).
    pub date: DateTime<Utc>,
    /// The unit of the node that signs.
    pub by: String,
    /// For a decision, the hex BLAKE3 of its reasons (one a line); empty otherwise.
    pub detail: String,
}

impl Statement {
    /// A submission of `plan` (its own unit's, adopted, with a hash) by its unit's node at `at`.
    pub fn submitted(plan: &Plan, at: DateTime<Utc>) -> Self {
        Statement {
            kind: Kind::Submitted,
            plan: plan.id.clone(),
            status: PlanStatus::Submitted,
            hash: plan.hash.clone().unwrap_or_default(),
            date: at,
            by: plan.id.unit.clone(),
            detail: String::new(),
        }
    }

    /// A decision, as the approving node took it.
    pub fn decision(d: &Decision) -> Self {
        Statement {
            kind: Kind::Decision,
            plan: d.plan.clone(),
            status: match d.outcome {
                Outcome::Approve => PlanStatus::Approved,
                Outcome::Return => PlanStatus::Returned,
            },
            hash: d.hash.clone(),
            date: d.decided_at,
            by: d.decided_by.clone(),
            detail: reasons_digest(&d.reasons),
        }
    }

    /// A receipt for a version that arrived as `status`.
    pub fn receipt(r: &Receipt, status: PlanStatus) -> Self {
        Statement {
            kind: Kind::Receipt,
            plan: r.plan.clone(),
            status,
            hash: r.hash.clone(),
            date: r.received_at,
            by: r.received_by.clone(),
            detail: String::new(),
        }
    }

    /// A fulfilment handed up by the node of `by`, of an entry of the approved version whose
    /// content hash is `hash`: its date is when the fulfilment was recorded, its detail the
    /// digest of what it says ([`fulfilment_digest`]).
    pub fn fulfilment(f: &Fulfilment, hash: &str, by: &str) -> Self {
        Statement {
            kind: Kind::Fulfilment,
            plan: f.plan.clone(),
            status: PlanStatus::Approved,
            hash: hash.to_string(),
            date: f.recorded_at,
            by: by.to_string(),
            detail: fulfilment_digest(f),
        }
    }

    /// The bytes signed: UTF-8 lines `field: value`, in a fixed order, after a header line.
    /// Every value is a validated code, a hash, a date or a status word, so none holds a line
    /// break (a statement whose values do are refused by [`Statement::check`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        format!(
            "{STATEMENT_HEADER}\nkind: {}\nunit: {}\nterm: {}\nversion: {}\nstatus: {}\nhash: {}\ndate: {}\nby: {}\ndetail: {}\n",
            self.kind,
            self.plan.unit,
            self.plan.term,
            self.plan.version,
            self.status.as_str(),
            self.hash,
            self.date.to_rfc3339_opts(SecondsFormat::Nanos, true),
            self.by,
            self.detail,
        )
        .into_bytes()
    }

    /// Refuses a statement whose text fields could hold a line break or are out of shape.
    ///
    /// # Errors
    ///
    /// A sentence naming the field.
    pub fn check(&self) -> Result<(), String> {
        for (field, value, max) in [
            ("unit", &self.plan.unit, 32),
            ("term", &self.plan.term, 32),
            ("hash", &self.hash, 128),
            ("by", &self.by, 32),
            ("detail", &self.detail, 128),
        ] {
            if value.len() > max || value.chars().any(|c| c.is_control()) {
                return Err(format!(
                    "signature.statement.{field}: longer than {max} or holds a control character"
                ));
            }
        }
        Ok(())
    }

    /// What the statement is, as a noun: `submission`, `decision`, `receipt`.
    pub fn noun(&self) -> &'static str {
        match self.kind {
            Kind::Submitted => "submission",
            Kind::Decision => "decision",
            Kind::Receipt => "receipt",
            Kind::Fulfilment => "fulfilment",
        }
    }

    /// One line for an audit record, without status words (the web page shows a record's
    /// detail as written, in either language): `decision on 40/2025-2030/v1 by 40, hash …`.
    pub fn audit_line(&self) -> String {
        format!(
            "{} on {} by {}, hash {}",
            self.noun(),
            self.plan,
            self.by,
            self.hash
        )
    }

    /// One line for people: `decision 40/2025-2030/v1 approved by 40 at … (hash …)`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} {} by {} at {} (hash {})",
            self.kind,
            self.plan,
            self.status.as_str(),
            self.by,
            self.date.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.hash
        )
    }
}

/// The hex BLAKE3 of what a fulfilment says, one field a line (CCCD, planned position, kind,
/// post, decision number, decision date, who recorded it), so that its signature covers the
/// decision as well as the entry.
pub fn fulfilment_digest(f: &Fulfilment) -> String {
    let mut hasher = blake3::Hasher::new();
    for field in [
        f.national_id.as_str(),
        f.position.as_str(),
        f.kind.as_str(),
        f.post.as_str(),
        f.decision_number.as_str(),
        &f.decided_on.to_string(),
        f.recorded_by.as_str(),
    ] {
        hasher.update(field.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finalize().to_hex().to_string()
}

/// The hex BLAKE3 of a decision's reasons, one a line, so that a decision's signature covers
/// what it says as well as its outcome.
pub fn reasons_digest(reasons: &[String]) -> String {
    let mut hasher = blake3::Hasher::new();
    for r in reasons {
        hasher.update(r.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finalize().to_hex().to_string()
}

/// A signed statement: what was signed, the signature, and the signer's certificate (DER),
/// which names the signing node's unit. Kept by a node as a JSON document beside the plan,
/// and carried in bundles (`proto/quyhoach/v1/bundle.proto`, `NodeSignature`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSignature {
    /// What was signed.
    pub statement: Statement,
    /// The signature algorithm: `ecdsa-p256-sha256`, `ecdsa-p384-sha384` or `ed25519`.
    pub algorithm: String,
    /// The signature over [`Statement::to_bytes`], as the algorithm encodes it (ASN.1 DER for
    /// ECDSA).
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
    /// The signer's certificate, DER.
    #[serde(with = "b64")]
    pub certificate: Vec<u8>,
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

/// A node's signing key with its certificate, and the authority (with its revocation list, if
/// the node has one) it checks other signers against.
pub struct Signer {
    key: KeyPair,
    /// The node's own certificate, DER.
    pub certificate: Vec<u8>,
    /// The trust a node holds other signers to.
    pub trust: Trust,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    /// The signer of a node from its TLS material (PEM): key, certificate, authority, and the
    /// revocation list if the node has one.
    ///
    /// # Errors
    ///
    /// A sentence naming what cannot be read, or a key of an algorithm this module does not sign
    /// with.
    pub fn from_pem(
        key_pem: &str,
        cert_pem: &str,
        ca_pem: &str,
        crl_pem: Option<&str>,
    ) -> Result<Self, String> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| format!("key: {e}"))?;
        algorithm_name(&key)?;
        let certificate = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| format!("cert: {e}"))?
            .to_vec();
        Ok(Signer {
            key,
            certificate,
            trust: Trust::from_pem(ca_pem, crl_pem)?,
        })
    }

    /// Signs `statement`.
    ///
    /// # Errors
    ///
    /// A sentence if the key fails to sign (ring refuses).
    pub fn sign(&self, statement: Statement) -> Result<PlanSignature, String> {
        let signature = self
            .key
            .sign(&statement.to_bytes())
            .map_err(|e| format!("signing failed: {e}"))?;
        Ok(PlanSignature {
            statement,
            algorithm: algorithm_name(&self.key)?.to_string(),
            signature,
            certificate: self.certificate.clone(),
        })
    }

    /// Signs arbitrary bytes (a bundle's body), returning (algorithm, signature).
    ///
    /// # Errors
    ///
    /// A sentence if the key fails to sign.
    pub fn sign_bytes(&self, bytes: &[u8]) -> Result<(String, Vec<u8>), String> {
        let signature = self
            .key
            .sign(bytes)
            .map_err(|e| format!("signing failed: {e}"))?;
        Ok((algorithm_name(&self.key)?.to_string(), signature))
    }
}

fn algorithm_name(key: &KeyPair) -> Result<&'static str, String> {
    let alg = key.algorithm();
    if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        Ok("ecdsa-p256-sha256")
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        Ok("ecdsa-p384-sha384")
    } else if alg == &rcgen::PKCS_ED25519 {
        Ok("ed25519")
    } else {
        Err(format!(
            "key: a {alg:?} key; nodes sign with ECDSA P-256, P-384 or Ed25519"
        ))
    }
}

fn verification_algorithm(
    name: &str,
) -> Result<&'static dyn rustls_pki_types::SignatureVerificationAlgorithm, String> {
    match name {
        "ecdsa-p256-sha256" => Ok(webpki::ring::ECDSA_P256_SHA256),
        "ecdsa-p384-sha384" => Ok(webpki::ring::ECDSA_P384_SHA384),
        "ed25519" => Ok(webpki::ring::ED25519),
        other => Err(format!(
            "signature.algorithm: {} is not one nodes sign with",
            crate::domain::validate::short(other)
        )),
    }
}

/// The authority a signer's certificate must chain to (each certificate of the authority
/// file: a deployment moving to a new authority trusts the old and the new, as its TLS does),
/// and its revocation list if any.
#[derive(Clone)]
pub struct Trust {
    ca: Vec<Vec<u8>>,
    crl: Option<Vec<u8>>,
}

impl Trust {
    /// The trust of the authority certificates (PEM, one or more) and an optional revocation
    /// list (PEM).
    ///
    /// # Errors
    ///
    /// A sentence if either cannot be read.
    pub fn from_pem(ca_pem: &str, crl_pem: Option<&str>) -> Result<Self, String> {
        let ca = CertificateDer::pem_slice_iter(ca_pem.as_bytes())
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("ca: no certificate: {e}"))?;
        if ca.is_empty() {
            return Err("ca: no certificate".into());
        }
        for c in &ca {
            webpki::anchor_from_trusted_cert(&CertificateDer::from(c.as_slice()))
                .map_err(|e| format!("ca: not a usable authority certificate: {e}"))?;
        }
        let crl = crl_pem
            .map(|pem| {
                CertificateRevocationListDer::from_pem_slice(pem.as_bytes())
                    .map(|d| d.to_vec())
                    .map_err(|e| format!("crl: no revocation list: {e}"))
            })
            .transpose()?;
        Ok(Trust { ca, crl })
    }

    /// Checks that `certificate` (DER) chains to the authority, is valid now, is allowed for
    /// client authentication (as every node certificate is) and is not revoked, and returns the
    /// caller it names.
    ///
    /// # Errors
    ///
    /// A sentence saying why the certificate is refused.
    pub fn certificate(&self, certificate: &[u8]) -> Result<Caller, String> {
        let der = CertificateDer::from(certificate);
        let ee = webpki::EndEntityCert::try_from(&der)
            .map_err(|e| format!("the signer's certificate is unreadable: {e:?}"))?;
        let ca: Vec<CertificateDer<'_>> = self
            .ca
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        let anchors = ca
            .iter()
            .map(webpki::anchor_from_trusted_cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("the authority certificate is unusable: {e:?}"))?;
        let crl = self
            .crl
            .as_deref()
            .map(|d| {
                webpki::OwnedCertRevocationList::from_der(d)
                    .map(webpki::CertRevocationList::from)
                    .map_err(|e| format!("the revocation list is unreadable: {e:?}"))
            })
            .transpose()?;
        let crls: Vec<&webpki::CertRevocationList<'_>> = crl.iter().collect();
        let revocation = if crls.is_empty() {
            None
        } else {
            Some(
                webpki::RevocationOptionsBuilder::new(&crls)
                    .map_err(|e| format!("{e:?}"))?
                    .with_depth(webpki::RevocationCheckDepth::EndEntity)
                    .with_status_policy(webpki::UnknownStatusPolicy::Allow)
                    .build(),
            )
        };
        let algorithms = rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .all;
        ee.verify_for_usage(
            algorithms,
            &anchors,
            &[],
            UnixTime::now(),
            webpki::KeyUsage::client_auth(),
            revocation,
            None,
        )
        .map_err(|e| format!("the signer's certificate is refused: {e}"))?;
        crate::pki::caller_from_der(certificate)
    }

    /// Verifies a signature: the certificate as [`Trust::certificate`] checks it, a node
    /// certificate of the unit the statement names as its signer, and the signature over the
    /// statement's bytes. Returns the signer.
    ///
    /// # Errors
    ///
    /// A sentence saying what does not hold.
    pub fn verify(&self, s: &PlanSignature) -> Result<Caller, String> {
        s.statement.check()?;
        let caller = self.certificate(&s.certificate)?;
        require_node_of(&caller, &s.statement.by)?;
        self.verify_bytes(
            &s.certificate,
            &s.algorithm,
            &s.statement.to_bytes(),
            &s.signature,
        )
        .map_err(|e| format!("{}: {e}", s.statement.describe()))?;
        Ok(caller)
    }

    /// Verifies a signature over `bytes` with the key of `certificate` (checked as
    /// [`Trust::certificate`] checks it); returns the signer.
    ///
    /// # Errors
    ///
    /// A sentence saying what does not hold.
    pub fn verify_bytes(
        &self,
        certificate: &[u8],
        algorithm: &str,
        bytes: &[u8],
        signature: &[u8],
    ) -> Result<Caller, String> {
        let caller = self.certificate(certificate)?;
        let der = CertificateDer::from(certificate);
        let ee = webpki::EndEntityCert::try_from(&der)
            .map_err(|e| format!("the signer's certificate is unreadable: {e:?}"))?;
        ee.verify_signature(verification_algorithm(algorithm)?, bytes, signature)
            .map_err(|_| "the signature does not match what was signed".to_string())?;
        Ok(caller)
    }
}

/// Requires `caller` to hold a node certificate of `unit`.
///
/// # Errors
///
/// A sentence naming the certificate's unit and roles.
pub fn require_node_of(caller: &Caller, unit: &str) -> Result<(), String> {
    match caller {
        Caller::Certified {
            unit: own, roles, ..
        } if roles == &[Role::Node] && own == unit => Ok(()),
        other => Err(format!(
            "signed by {}, not by the node of {}",
            other.label(),
            crate::domain::validate::short(unit)
        )),
    }
}

/// Checks that `s` vouches for `plan` as it is carried: the same version, content hash and
/// status, the hash being the content's own.
///
/// # Errors
///
/// A sentence naming what differs.
pub fn matches_plan(s: &Statement, plan: &Plan) -> Result<(), String> {
    let hash = plan.content_hash();
    if s.plan != plan.id {
        return Err(format!("the signature is for {}, not {}", s.plan, plan.id));
    }
    if s.hash != hash || plan.hash.as_deref() != Some(hash.as_str()) {
        return Err(format!(
            "the signature is for content {}, but {} holds {}",
            s.hash, plan.id, hash
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{Authority, Subject};

    fn signer(ca: &Authority, unit: &str) -> Signer {
        let issued = ca.issue(&Subject::node(unit, &[], 30)).unwrap();
        Signer::from_pem(&issued.key_pem, &issued.cert_pem, &ca.cert_pem, None).unwrap()
    }

    fn statement(by: &str) -> Statement {
        Statement {
            kind: Kind::Decision,
            plan: PlanId {
                unit: "16681".into(),
                term: "2025-2030".into(),
                version: 1,
            },
            status: PlanStatus::Approved,
            hash: "ab".repeat(32),
            date: Utc::now(),
            by: by.into(),
            detail: reasons_digest(&[]),
        }
    }

    #[test]
    fn a_signature_verifies_with_the_authority_alone_and_nothing_else_does() {
        let ca = Authority::create("CA", 30).unwrap();
        let other_ca = Authority::create("Other CA", 30).unwrap();
        let district = signer(&ca, "40");
        let trust = Trust::from_pem(&ca.cert_pem, None).unwrap();
        let signed = district.sign(statement("40")).unwrap();
        assert!(
            matches!(trust.verify(&signed).unwrap(), Caller::Certified { unit, .. } if unit == "40")
        );

        let mut altered = signed.clone();
        altered.statement.version_bump();
        assert!(trust.verify(&altered).is_err(), "another version");
        let mut altered = signed.clone();
        altered.statement.status = PlanStatus::Returned;
        assert!(trust.verify(&altered).is_err(), "another status");

        let sibling = signer(&ca, "41").sign(statement("40")).unwrap();
        let why = trust.verify(&sibling).unwrap_err();
        assert!(why.contains("not by the node of 40"), "{why}");

        let foreign = Trust::from_pem(&other_ca.cert_pem, None).unwrap();
        assert!(foreign.verify(&signed).is_err(), "another authority");

        let json = serde_json::to_string(&signed).unwrap();
        let back: PlanSignature = serde_json::from_str(&json).unwrap();
        assert_eq!(back, signed);
        trust.verify(&back).unwrap();
    }

    impl Statement {
        fn version_bump(&mut self) {
            self.plan.version += 1;
        }
    }
}
