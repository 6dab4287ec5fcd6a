//! Detached CMS (PKCS#7) signatures on approvals (chữ ký số chuyên dùng công vụ). Decree
//! 68/2024/NĐ-CP lets an office sign with its official-use certificate, and the token software
//! Vietnamese offices use makes CMS SignedData. An approval (`DecidePlan` with approve) may carry
//! such a signature, made outside the system; the deciding node verifies it here against the
//! authority the deployment names (`serve --signing-ca FILE`) and keeps it with the decision.
//!
//! What is signed ([`approval_content`]): the bytes of the approved version's content hash as
//! lowercase hex text, 64 ASCII characters, no line break (`quyhoach show` prints it). The
//! hash covers the plan's identity (unit, term, version) and its whole content
//! ([`crate::domain::canonical_bytes`]), so a signature over it names one version of one plan.
//!
//! Pure: bytes and times in, a [`Verified`] signer or a [`CmsError`] out; no file, clock or
//! transport. The node passes its clock's time and the authority it was configured with.

mod cms;

pub use self::cms::{verify, MAX_CERTIFICATES, MAX_CMS_BYTES, MAX_SIGNING_SKEW_SECS};

use chrono::{DateTime, Utc};
use x509_cert::Certificate;

/// The bytes an approver signs for the version whose content hash is `hash`: the hash as the
/// node shows it (64 lowercase hex characters), as ASCII, with no line break.
pub fn approval_content(hash: &str) -> Vec<u8> {
    hash.as_bytes().to_vec()
}

/// A CMS signature file's bytes as DER, as `quyhoach decide --cms FILE` and the web page's
/// approval form read them: DER as it is, or PEM (`-----BEGIN PKCS7-----` or `CMS`) decoded.
/// Verification ([`verify`]) then bounds the DER to [`MAX_CMS_BYTES`].
///
/// # Errors
///
/// A sentence when the bytes are more than twice [`MAX_CMS_BYTES`] (no signature file is),
/// or are PEM whose body does not decode.
pub fn cms_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use base64::Engine;
    if bytes.len() > MAX_CMS_BYTES * 2 {
        return Err(format!(
            "{} bytes is too large for a CMS signature",
            bytes.len()
        ));
    }
    let Some(text) = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| t.trim_start().starts_with("-----BEGIN"))
    else {
        return Ok(bytes.to_vec());
    };
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.trim().chars())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| format!("the PEM does not decode: {e}"))
}

/// The certificates a deployment trusts for approvers' signatures: the root (or roots) of the
/// official-use PKI as the deployment names it (for a test, any authority made for it).
#[derive(Clone)]
pub struct SigningAuthority {
    /// The trust anchors, decoded from the PEM file.
    anchors: Vec<Certificate>,
    /// The certificates the authority's revocation list names (`serve --signing-crl`): each
    /// its issuer and its serial number's bytes.
    revoked: Vec<(x509_cert::name::Name, Vec<u8>)>,
}

impl std::fmt::Debug for SigningAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningAuthority")
            .field("anchors", &self.names())
            .finish()
    }
}

impl SigningAuthority {
    /// Reads the authority's certificates from PEM text (one or more `CERTIFICATE` blocks).
    ///
    /// # Errors
    ///
    /// The reason, in words, when the text holds no certificate or one that does not decode.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let anchors = Certificate::load_pem_chain(pem.as_bytes())
            .map_err(|e| format!("not a PEM certificate file: {e}"))?;
        if anchors.is_empty() {
            return Err("holds no certificate".into());
        }
        Ok(Self {
            anchors,
            revoked: Vec::new(),
        })
    }

    /// The authority with its revocation list (PEM, `X509 CRL`): the list must be issued and
    /// signed by one of the authority's certificates; a signature whose signer's certificate
    /// it names is then refused ([`verify`]).
    ///
    /// # Errors
    ///
    /// The reason, in words, when the text holds no revocation list, or one not signed by the
    /// authority.
    pub fn with_revocation_list(mut self, pem: &str) -> Result<Self, String> {
        self.revoked = self::cms::revoked_by(&self.anchors, pem)?;
        Ok(self)
    }

    pub(crate) fn is_revoked(&self, cert: &Certificate) -> bool {
        let tbs = &cert.tbs_certificate;
        self.revoked
            .iter()
            .any(|(issuer, serial)| *issuer == tbs.issuer && serial == tbs.serial_number.as_bytes())
    }

    /// The subjects of the trusted certificates, as RFC 4514 text.
    pub fn names(&self) -> Vec<String> {
        self.anchors
            .iter()
            .map(|c| c.tbs_certificate.subject.to_string())
            .collect()
    }

    pub(crate) fn anchors(&self) -> &[Certificate] {
        &self.anchors
    }
}

/// A signature that verified: who signed, with which certificate, and when they say they did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Verified {
    /// The signer's name: the common name (CN) of the signer's certificate, or its whole
    /// subject when it has none.
    pub signer: String,
    /// The signer certificate's whole subject (RFC 4514).
    pub subject: String,
    /// The signer certificate's serial number, in lowercase hex (as `certs` and the
    /// revocation list show serials).
    pub serial: String,
    /// The issuer of the signer's certificate (RFC 4514).
    pub issuer: String,
    /// The signing time the signature carries (its `signingTime` attribute), which the
    /// certificates were checked at.
    pub signed_at: DateTime<Utc>,
}

/// Why a CMS signature was refused. The first two are faults of what was sent
/// (INVALID_ARGUMENT); the last two say the signature is well made but the deployment does
/// not accept it (FAILED_PRECONDITION).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmsError {
    /// The bytes are not a CMS SignedData this verifier reads (too large, not DER, not
    /// signed data, no or several signers, a missing attribute, an unsupported algorithm).
    #[error("{0}")]
    Malformed(String),
    /// The signature is over other bytes than the approved version's, or does not verify
    /// with the signer's key.
    #[error("{0}")]
    Mismatch(String),
    /// The signer's certificate does not chain to the signing authority (or none is named).
    #[error("{0}")]
    Untrusted(String),
    /// A certificate of the chain was not valid at the signing time.
    #[error("{0}")]
    Expired(String),
}

impl CmsError {
    /// Returns true if and only if the refusal is the deployment's (untrusted or expired
    /// certificate), not a fault of the bytes sent.
    pub fn is_precondition(&self) -> bool {
        matches!(self, Self::Untrusted(_) | Self::Expired(_))
    }
}
