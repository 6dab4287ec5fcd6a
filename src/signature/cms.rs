//! Verifying a detached CMS SignedData (RFC 5652) over known bytes, with RustCrypto's `cms`,
//! `x509-cert`, `der` and `spki` for the structures and `p256` / `rsa` / `sha2` for the
//! arithmetic. Read by [`super`]; reads nothing of the node.
//!
//! What is checked, in order: the size; ContentInfo of type signed data; encapsulated content
//! of type data, absent (detached) or equal to the expected bytes; exactly one signer; the
//! signer's certificate among the certificates the signature carries; the signed attributes
//! (content type data, message digest equal to the digest of the expected bytes, a signing
//! time not in the future); the signature over the signed attributes with the certificate's
//! key; a path from the signer's certificate through the carried certificates (each a CA) to a
//! certificate of the authority, every signature on it verifying; every certificate on the
//! path valid at the signing time; the signer's key usage (if stated) allowing signatures.
//!
//! Algorithms: ECDSA on P-256 (with SHA-256, -384 or -512) and RSA PKCS #1 v1.5 (with SHA-256,
//! -384 or -512), which are what the Vietnamese official-use tokens and test authorities use;
//! anything else is refused as unsupported, never accepted unchecked.

use chrono::{DateTime, Utc};
use der::{
    asn1::{ObjectIdentifier, OctetString},
    Any, Decode, Encode, Tag, Tagged,
};
use sha2::Digest;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::{
    ext::pkix::{BasicConstraints, KeyUsage, SubjectKeyIdentifier},
    name::Name,
    Certificate,
};

use super::{CmsError, SigningAuthority, Verified};

/// Largest signature accepted, in bytes: a signer's certificate and a few intermediates, with
/// room to spare (a token's signature with its chain is a few kilobytes).
pub const MAX_CMS_BYTES: usize = 64 * 1024;
/// Most certificates a signature may carry.
pub const MAX_CERTIFICATES: usize = 10;
/// How far a signing time may lie ahead of the node's clock, in seconds (clocks differ).
pub const MAX_SIGNING_SKEW_SECS: i64 = 300;
/// Longest path from the signer's certificate to the authority, in certificates.
const MAX_PATH: usize = 6;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// A digest algorithm this verifier computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn of_digest(oid: ObjectIdentifier) -> Option<Self> {
        match oid {
            ID_SHA256 => Some(Self::Sha256),
            ID_SHA384 => Some(Self::Sha384),
            ID_SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// The key family a signature algorithm needs, and the digest it fixes (none: the digest
/// algorithm named beside it, as `rsaEncryption` in a signer info leaves it).
fn signature_algorithm(oid: ObjectIdentifier) -> Option<(ObjectIdentifier, Option<Hash>)> {
    match oid {
        ECDSA_WITH_SHA256 => Some((ID_EC_PUBLIC_KEY, Some(Hash::Sha256))),
        ECDSA_WITH_SHA384 => Some((ID_EC_PUBLIC_KEY, Some(Hash::Sha384))),
        ECDSA_WITH_SHA512 => Some((ID_EC_PUBLIC_KEY, Some(Hash::Sha512))),
        SHA256_WITH_RSA => Some((RSA_ENCRYPTION, Some(Hash::Sha256))),
        SHA384_WITH_RSA => Some((RSA_ENCRYPTION, Some(Hash::Sha384))),
        SHA512_WITH_RSA => Some((RSA_ENCRYPTION, Some(Hash::Sha512))),
        RSA_ENCRYPTION => Some((RSA_ENCRYPTION, None)),
        _ => None,
    }
}

fn malformed(problem: impl std::fmt::Display) -> CmsError {
    CmsError::Malformed(problem.to_string())
}

/// Checks `signature` (an ECDSA signature in DER, or an RSA PKCS #1 v1.5 signature) over
/// `message` with the key `spki`, for the algorithm `algorithm` (with `hash` when the
/// algorithm leaves the digest open).
fn check_signature(
    spki: &SubjectPublicKeyInfoOwned,
    algorithm: ObjectIdentifier,
    hash: Option<Hash>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let (family, fixed) = signature_algorithm(algorithm)
        .ok_or_else(|| format!("the signature algorithm {algorithm} is not supported"))?;
    let hash = fixed
        .or(hash)
        .ok_or_else(|| format!("{algorithm} names no digest algorithm"))?;
    if spki.algorithm.oid != family {
        return Err(format!(
            "a {algorithm} signature needs a {family} key, not {}",
            spki.algorithm.oid
        ));
    }
    let digest = hash.digest(message);
    if family == ID_EC_PUBLIC_KEY {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        if curve != Some(SECP256R1) {
            return Err("only ECDSA keys on P-256 are supported".into());
        }
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
            .map_err(|_| "the EC public key does not decode".to_string())?;
        let signature = p256::ecdsa::Signature::from_der(signature)
            .map_err(|_| "the ECDSA signature does not decode".to_string())?;
        key.verify_prehash(&digest, &signature)
            .map_err(|_| "the signature does not verify".to_string())
    } else {
        use rsa::pkcs8::DecodePublicKey;
        let der = spki.to_der().map_err(|e| e.to_string())?;
        let key = rsa::RsaPublicKey::from_public_key_der(&der)
            .map_err(|e| format!("the RSA public key does not decode: {e}"))?;
        let scheme = match hash {
            Hash::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            Hash::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
            Hash::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
        };
        key.verify(scheme, &digest, signature)
            .map_err(|_| "the signature does not verify".to_string())
    }
}

/// Returns true if and only if `issuer`'s key made the signature on `cert`.
/// The certificates (issuer, serial bytes) a revocation list (PEM) names, once its signature is
/// found to be by one of `anchors` (x509-cert decodes it; the signature is checked as a
/// certificate's is).
pub(super) fn revoked_by(
    anchors: &[Certificate],
    pem: &str,
) -> Result<Vec<(x509_cert::name::Name, Vec<u8>)>, String> {
    use rustls_pki_types::{pem::PemObject, CertificateRevocationListDer};
    let der = CertificateRevocationListDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("no revocation list: {e}"))?;
    let crl = x509_cert::crl::CertificateList::from_der(der.as_ref())
        .map_err(|e| format!("the revocation list does not decode: {e}"))?;
    let tbs = crl
        .tbs_cert_list
        .to_der()
        .map_err(|e| format!("the revocation list does not encode: {e}"))?;
    let signed = anchors.iter().any(|a| {
        a.tbs_certificate.subject == crl.tbs_cert_list.issuer
            && check_signature(
                &a.tbs_certificate.subject_public_key_info,
                crl.signature_algorithm.oid,
                None,
                &tbs,
                crl.signature.raw_bytes(),
            )
            .is_ok()
    });
    if !signed {
        return Err(format!(
            "the revocation list of {} is not signed by the signing authority",
            crl.tbs_cert_list.issuer
        ));
    }
    Ok(crl
        .tbs_cert_list
        .revoked_certificates
        .iter()
        .flatten()
        .map(|r| {
            (
                crl.tbs_cert_list.issuer.clone(),
                r.serial_number.as_bytes().to_vec(),
            )
        })
        .collect())
}

fn issued_by(cert: &Certificate, issuer: &Certificate) -> bool {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return false;
    }
    let Ok(tbs) = cert.tbs_certificate.to_der() else {
        return false;
    };
    check_signature(
        &issuer.tbs_certificate.subject_public_key_info,
        cert.signature_algorithm.oid,
        None,
        &tbs,
        cert.signature.raw_bytes(),
    )
    .is_ok()
}

/// The extension `oid` of `cert`, decoded, if present.
fn extension<'c, T: Decode<'c>>(cert: &'c Certificate, oid: ObjectIdentifier) -> Option<T> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == oid)
        .and_then(|e| T::from_der(e.extn_value.as_bytes()).ok())
}

/// Returns true if and only if `cert` says it is a certification authority.
fn is_ca(cert: &Certificate) -> bool {
    extension::<BasicConstraints>(cert, BASIC_CONSTRAINTS).is_some_and(|b| b.ca)
}

/// Seconds since the epoch of a certificate or attribute time.
fn unix(time: &x509_cert::time::Time) -> i64 {
    time.to_unix_duration().as_secs() as i64
}

fn rfc3339(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0).map_or_else(|| secs.to_string(), |t| t.to_rfc3339())
}

/// Text of a directory string (UTF8String, PrintableString, IA5String, T61String or
/// BMPString).
fn directory_string(value: &Any) -> Option<String> {
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
            Some(String::from_utf8_lossy(value.value()).into_owned())
        }
        Tag::BmpString => {
            let units: Vec<u16> = value
                .value()
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            Some(String::from_utf16_lossy(&units))
        }
        _ => None,
    }
}

/// The common name of `name`, or the whole name when it has none.
fn common_name(name: &Name) -> String {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == COMMON_NAME)
        .and_then(|atv| directory_string(&atv.value))
        .unwrap_or_else(|| name.to_string())
}

/// The one value of the signed attribute `oid`.
fn attribute<'a>(
    attributes: &'a [x509_cert::attr::Attribute],
    oid: ObjectIdentifier,
    name: &str,
) -> Result<&'a Any, CmsError> {
    let found: Vec<&x509_cert::attr::Attribute> =
        attributes.iter().filter(|a| a.oid == oid).collect();
    match found.as_slice() {
        [one] if one.values.len() == 1 => one
            .values
            .iter()
            .next()
            .ok_or_else(|| malformed(format!("the {name} attribute holds no value"))),
        [] => Err(malformed(format!(
            "the signer info carries no {name} attribute"
        ))),
        _ => Err(malformed(format!(
            "the signer info carries the {name} attribute more than once"
        ))),
    }
}

/// Verifies `cms_der`, a CMS ContentInfo holding SignedData (DER), as a signature over
/// `content` by a certificate that chains to `authority`, at the time it says it was made; the
/// node passes its clock's time as `now` (a signing time more than
/// [`MAX_SIGNING_SKEW_SECS`] after it is refused).
///
/// # Errors
///
/// [`CmsError::Malformed`] when the bytes are larger than [`MAX_CMS_BYTES`], are not a DER
/// SignedData with exactly one signer, its certificate, and the content-type, message-digest
/// and signing-time attributes, carry more than [`MAX_CERTIFICATES`] certificates, use an
/// algorithm other than ECDSA P-256 or RSA PKCS #1 v1.5 with SHA-2, or were signed in the
/// future; [`CmsError::Mismatch`] when they sign other bytes than `content` or the signature
/// does not verify with the signer's key; [`CmsError::Untrusted`] when the signer's
/// certificate does not chain to `authority` or may not sign; [`CmsError::Expired`] when a
/// certificate on the chain was not valid at the signing time.
pub fn verify(
    cms_der: &[u8],
    content: &[u8],
    authority: &SigningAuthority,
    now: DateTime<Utc>,
) -> Result<Verified, CmsError> {
    if cms_der.len() > MAX_CMS_BYTES {
        return Err(malformed(format!(
            "{} bytes; a signature is at most {MAX_CMS_BYTES}",
            cms_der.len()
        )));
    }
    let info = ::cms::content_info::ContentInfo::from_der(cms_der)
        .map_err(|e| malformed(format!("not a DER CMS ContentInfo: {e}")))?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(malformed(format!(
            "holds {}, not signed data ({ID_SIGNED_DATA})",
            info.content_type
        )));
    }
    let signed = info
        .content
        .to_der()
        .and_then(|der| ::cms::signed_data::SignedData::from_der(&der))
        .map_err(|e| malformed(format!("the signed data does not decode: {e}")))?;
    let encapsulated = &signed.encap_content_info;
    if encapsulated.econtent_type != ID_DATA {
        return Err(malformed(format!(
            "signs content of type {}, not data ({ID_DATA})",
            encapsulated.econtent_type
        )));
    }
    if let Some(attached) = &encapsulated.econtent {
        let attached = attached
            .to_der()
            .and_then(|der| OctetString::from_der(&der))
            .map_err(|e| malformed(format!("the attached content does not decode: {e}")))?;
        if attached.as_bytes() != content {
            return Err(CmsError::Mismatch(
                "the attached content is not the approved version's content hash".into(),
            ));
        }
    }
    let certificates: Vec<&Certificate> = signed
        .certificates
        .as_ref()
        .map(|set| {
            set.0
                .iter()
                .filter_map(|choice| match choice {
                    ::cms::cert::CertificateChoices::Certificate(c) => Some(c),
                    ::cms::cert::CertificateChoices::Other(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if certificates.len() > MAX_CERTIFICATES {
        return Err(malformed(format!(
            "carries {} certificates; at most {MAX_CERTIFICATES}",
            certificates.len()
        )));
    }
    let signers: Vec<&::cms::signed_data::SignerInfo> = signed.signer_infos.0.iter().collect();
    let signer = match signers.as_slice() {
        [one] => *one,
        [] => return Err(malformed("has no signer")),
        many => {
            return Err(malformed(format!(
                "has {} signers; an approval carries exactly one",
                many.len()
            )))
        }
    };
    let cert = certificates
        .iter()
        .copied()
        .find(|c| match &signer.sid {
            ::cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(id) => {
                c.tbs_certificate.issuer == id.issuer
                    && c.tbs_certificate.serial_number == id.serial_number
            }
            ::cms::signed_data::SignerIdentifier::SubjectKeyIdentifier(id) => {
                extension::<SubjectKeyIdentifier>(c, SUBJECT_KEY_ID).is_some_and(|k| k == *id)
            }
        })
        .ok_or_else(|| malformed("does not carry the signer's certificate"))?;

    // The signed attributes: what the signature covers.
    let attributes = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| malformed("the signer info has no signed attributes"))?;
    let list: Vec<x509_cert::attr::Attribute> = attributes.iter().cloned().collect();
    let content_type = attribute(&list, ID_CONTENT_TYPE, "content-type")?
        .decode_as::<ObjectIdentifier>()
        .map_err(|e| malformed(format!("the content-type attribute: {e}")))?;
    if content_type != ID_DATA {
        return Err(malformed(format!(
            "the content-type attribute names {content_type}, not data"
        )));
    }
    let hash = Hash::of_digest(signer.digest_alg.oid).ok_or_else(|| {
        malformed(format!(
            "the digest algorithm {} is not supported (SHA-256, SHA-384, SHA-512)",
            signer.digest_alg.oid
        ))
    })?;
    let digest = attribute(&list, ID_MESSAGE_DIGEST, "message-digest")?
        .decode_as::<OctetString>()
        .map_err(|e| malformed(format!("the message-digest attribute: {e}")))?;
    if digest.as_bytes() != hash.digest(content).as_slice() {
        return Err(CmsError::Mismatch(
            "the message digest is not that of the approved version's content hash: the \
             signature was made over other bytes"
                .into(),
        ));
    }
    let signing_time = attribute(&list, ID_SIGNING_TIME, "signing-time")?
        .to_der()
        .and_then(|der| x509_cert::time::Time::from_der(&der))
        .map_err(|e| malformed(format!("the signing-time attribute: {e}")))?;
    let signed_at = unix(&signing_time);
    if signed_at > now.timestamp() + MAX_SIGNING_SKEW_SECS {
        return Err(malformed(format!(
            "the signing time {} lies in the future",
            rfc3339(signed_at)
        )));
    }
    let message = attributes
        .to_der()
        .map_err(|e| malformed(format!("the signed attributes do not encode: {e}")))?;
    check_signature(
        &cert.tbs_certificate.subject_public_key_info,
        signer.signature_algorithm.oid,
        Some(hash),
        &message,
        signer.signature.as_bytes(),
    )
    .map_err(|problem| CmsError::Mismatch(format!("the signer's signature: {problem}")))?;

    // The chain, at the signing time.
    let subject = cert.tbs_certificate.subject.to_string();
    if let Some(usage) = extension::<KeyUsage>(cert, KEY_USAGE) {
        if !(usage.digital_signature() || usage.non_repudiation()) {
            return Err(CmsError::Untrusted(format!(
                "the certificate of {subject} may not make signatures (its key usage)"
            )));
        }
    }
    let mut path = vec![cert];
    let anchor = loop {
        let current = path[path.len() - 1];
        if let Some(anchor) = authority.anchors().iter().find(|a| issued_by(current, a)) {
            break anchor;
        }
        let next = certificates
            .iter()
            .copied()
            .find(|c| !path.contains(c) && is_ca(c) && issued_by(current, c));
        match next {
            Some(next) if path.len() < MAX_PATH => path.push(next),
            _ => {
                return Err(CmsError::Untrusted(format!(
                    "the certificate of {subject} (issued by {}) does not chain to the signing \
                     authority ({})",
                    current.tbs_certificate.issuer,
                    authority.names().join("; ")
                )))
            }
        }
    };
    for c in &path {
        if authority.is_revoked(c) {
            return Err(CmsError::Untrusted(format!(
                "the certificate of {} (serial {}) is revoked: the signing authority's revocation list names it",
                c.tbs_certificate.subject,
                hex_serial(c)
            )));
        }
    }
    for c in path.iter().copied().chain(std::iter::once(anchor)) {
        let validity = &c.tbs_certificate.validity;
        let (from, until) = (unix(&validity.not_before), unix(&validity.not_after));
        if signed_at < from || signed_at > until {
            return Err(CmsError::Expired(format!(
                "the certificate of {} was not valid at the signing time {} (valid from {} \
                 to {})",
                c.tbs_certificate.subject,
                rfc3339(signed_at),
                rfc3339(from),
                rfc3339(until)
            )));
        }
    }
    Ok(Verified {
        signer: common_name(&cert.tbs_certificate.subject),
        subject,
        serial: hex_serial(cert),
        issuer: cert.tbs_certificate.issuer.to_string(),
        signed_at: DateTime::<Utc>::from_timestamp(signed_at, 0).unwrap_or(now),
    })
}

/// A certificate's serial number in lowercase hex, as `certs` and revocation lists show it.
fn hex_serial(cert: &Certificate) -> String {
    cert.tbs_certificate
        .serial_number
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
