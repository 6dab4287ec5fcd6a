//! Certificates for a hierarchy of nodes and their users, made with rcgen. A certificate names
//! its unit and roles in SAN URIs (`urn:quyhoach:unit:<code>`, `urn:quyhoach:role:<role>`) and
//! its holder in the common name; node certificates also name the hosts they serve. One
//! certificate authority per province signs them all.

use std::{net::IpAddr, path::Path};

use rcgen::{
    string::Ia5String, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::RootCertStore;
use rustls_pki_types::{
    pem::PemObject, CertificateDer, CertificateRevocationListDer, PrivateKeyDer,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

use crate::auth::{Caller, Role};

const UNIT_URI: &str = "urn:quyhoach:unit:";
const ROLE_URI: &str = "urn:quyhoach:role:";

/// The trusted side of a TLS link from PEM texts: the authority's certificates in `ca_pem` as
/// the only roots, and the revocation lists in `crl_pem` (none when `None`). `names` are the
/// words that name the two texts in an error, as each face calls them (`["ca", "crl"]`).
///
/// # Errors
///
/// `"<name>: <reason>"` for the first text holding an unreadable or unusable certificate or
/// list.
pub fn tls_authority(
    ca_pem: &str,
    crl_pem: Option<&str>,
    names: [&str; 2],
) -> Result<(RootCertStore, Vec<CertificateRevocationListDer<'static>>), String> {
    let [ca, crl] = names;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("{ca}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{ca}: {e}"))?;
    }
    let crls = CertificateRevocationListDer::pem_slice_iter(crl_pem.unwrap_or("").as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{crl}: {e}"))?;
    Ok((roots, crls))
}

/// A node's own side of a TLS link from PEM texts: its certificate chain and private key.
/// `names` name the two texts in an error, as in [`tls_authority`] (`["cert", "key"]`).
///
/// # Errors
///
/// `"<name>: <reason>"` when a text holds no readable certificate or key.
pub fn tls_identity(
    cert_pem: &str,
    key_pem: &str,
    names: [&str; 2],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let [cert, key] = names;
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{cert}: {e}"))?;
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| format!("{key}: {e}"))?;
    Ok((chain, key))
}

/// A certificate and its private key, PEM-encoded.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM.
    pub key_pem: String,
}

/// A certificate authority able to issue certificates.
pub struct Authority {
    /// The authority's own certificate, PEM.
    pub cert_pem: String,
    key: KeyPair,
}

/// What to put in a certificate.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Code of the unit the holder belongs to.
    pub unit: String,
    /// The roles the certificate grants.
    pub roles: Vec<Role>,
    /// Common name: a person's name, or the node's.
    pub name: String,
    /// DNS names and IP addresses the holder serves (nodes).
    pub hosts: Vec<String>,
    /// Start of the validity period.
    pub not_before: OffsetDateTime,
    /// End of the validity period.
    pub not_after: OffsetDateTime,
}

impl Subject {
    /// Valid from yesterday for `days` days.
    pub fn new(unit: &str, roles: &[Role], name: &str, days: i64) -> Self {
        let now = OffsetDateTime::now_utc();
        Subject {
            unit: unit.into(),
            roles: roles.to_vec(),
            name: name.into(),
            hosts: Vec::new(),
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(days),
        }
    }

    /// A node's certificate, serving `hosts` (localhost and 127.0.0.1 are always included).
    pub fn node(unit: &str, hosts: &[String], days: i64) -> Self {
        let mut s = Subject::new(unit, &[Role::Node], &format!("quyhoach node {unit}"), days);
        s.hosts = ["localhost".to_string(), "127.0.0.1".to_string()]
            .into_iter()
            .chain(hosts.iter().cloned())
            .collect();
        s
    }
}

fn uri(s: String) -> Result<SanType, String> {
    Ia5String::try_from(s)
        .map(SanType::URI)
        .map_err(|e| e.to_string())
}

impl Authority {
    /// A new authority, e.g. for one province.
    ///
    /// # Errors
    ///
    /// The reason, in words, if the key cannot be generated or the certificate cannot be signed.
    pub fn create(name: &str, days: i64) -> Result<Self, String> {
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(days);
        let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
        Ok(Authority {
            cert_pem: cert.pem(),
            key,
        })
    }

    /// Loads an authority from its certificate and key (PEM).
    ///
    /// # Errors
    ///
    /// The reason, in words, if the key or the certificate cannot be parsed, or they do not
    /// make an issuer together.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, String> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| format!("CA key: {e}"))?;
        Issuer::from_ca_cert_pem(cert_pem, &key).map_err(|e| format!("CA certificate: {e}"))?;
        Ok(Authority {
            cert_pem: cert_pem.to_string(),
            key,
        })
    }

    /// The authority's private key, PEM (keep it offline).
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// Issues a certificate for `subject`.
    ///
    /// # Errors
    ///
    /// The reason, in words, if the unit code is not a safe name, the node role is combined
    /// with another role, a host is neither an IP address nor a valid DNS name, or signing fails.
    pub fn issue(&self, subject: &Subject) -> Result<Issued, String> {
        check_stem(&subject.unit).map_err(|e| e.to_string())?;
        if subject.roles.contains(&Role::Node) && subject.roles.len() > 1 {
            return Err("the node role is for node certificates only".into());
        }
        let issuer =
            Issuer::from_ca_cert_pem(&self.cert_pem, &self.key).map_err(|e| e.to_string())?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
        params
            .distinguished_name
            .push(DnType::CommonName, subject.name.as_str());
        params
            .subject_alt_names
            .push(uri(format!("{UNIT_URI}{}", subject.unit))?);
        for role in &subject.roles {
            params
                .subject_alt_names
                .push(uri(format!("{ROLE_URI}{role}"))?);
        }
        for host in &subject.hosts {
            let san = match host.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => {
                    SanType::DnsName(Ia5String::try_from(host.as_str()).map_err(|e| e.to_string())?)
                }
            };
            params.subject_alt_names.push(san);
        }
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = subject.not_before;
        params.not_after = subject.not_after;
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let cert = params.signed_by(&key, &issuer).map_err(|e| e.to_string())?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

impl Authority {
    /// Signs a certificate revocation list naming the `revoked` serial numbers (each with the
    /// date it was revoked), valid for `days`; nodes given it (`serve --crl`) refuse those
    /// certificates at the handshake.
    ///
    /// # Errors
    ///
    /// The reason, in words, if signing fails.
    pub fn revocation_list(
        &self,
        revoked: &[(Vec<u8>, OffsetDateTime)],
        days: i64,
    ) -> Result<String, String> {
        use rcgen::{
            CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber,
        };
        let issuer =
            Issuer::from_ca_cert_pem(&self.cert_pem, &self.key).map_err(|e| e.to_string())?;
        let now = OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update: now + Duration::days(days.max(1)),
            // Each list supersedes the last: its number is the time it was made.
            crl_number: SerialNumber::from_slice(&now.unix_timestamp().to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|(serial, at)| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(serial),
                    revocation_time: *at,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params
            .signed_by(&issuer)
            .map_err(|e| e.to_string())?
            .pem()
            .map_err(|e| e.to_string())
    }
}

/// The serial number of a certificate (PEM), as its DER integer's bytes.
///
/// # Errors
///
/// The reason, in words, if the text holds no readable certificate.
pub fn serial_of(pem: &str) -> Result<Vec<u8>, String> {
    let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("no certificate: {e}"))?;
    let (_, cert) = X509Certificate::from_der(der.as_ref()).map_err(|e| e.to_string())?;
    Ok(cert.tbs_certificate.raw_serial().to_vec())
}

/// The serial number of a certificate (DER), as its bytes.
///
/// # Errors
///
/// The reason, in words, if the bytes are not a certificate.
pub fn serial_of_der(der: &[u8]) -> Result<Vec<u8>, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
    Ok(cert.tbs_certificate.raw_serial().to_vec())
}

/// A serial number's bytes as lowercase hex.
pub fn serial_hex(serial: &[u8]) -> String {
    serial.iter().map(|b| format!("{b:02x}")).collect()
}

/// The serial numbers a revocation list (PEM) names, each with the date it was revoked.
///
/// # Errors
///
/// The reason, in words, if the text holds no readable revocation list.
pub fn revoked_in(pem: &str) -> Result<Vec<(Vec<u8>, OffsetDateTime)>, String> {
    let der = rustls_pki_types::CertificateRevocationListDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("no revocation list: {e}"))?;
    let (_, crl) = x509_parser::parse_x509_crl(der.as_ref()).map_err(|e| e.to_string())?;
    Ok(crl
        .iter_revoked_certificates()
        .map(|r| (r.raw_serial().to_vec(), r.revocation_date.to_datetime()))
        .collect())
}

/// The caller a certificate (DER) names: its unit, roles and common name. A certificate means
/// one thing or nothing: exactly one unit, at least one known role spelled exactly (no white
/// space), and the node role only alone.
///
/// # Errors
///
/// A sentence saying what is wrong with the certificate.
pub fn caller_from_der(der: &[u8]) -> Result<Caller, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("unreadable certificate: {e}"))?;
    let mut units = Vec::new();
    let mut roles = Vec::new();
    for ext in cert.extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
            for name in &san.general_names {
                if let GeneralName::URI(u) = name {
                    if let Some(code) = u.strip_prefix(UNIT_URI) {
                        units.push(code.to_string());
                    } else if let Some(role) = u.strip_prefix(ROLE_URI) {
                        let known = Role::ALL.into_iter().find(|r| r.as_str() == role);
                        let Some(role) = known else {
                            return Err(format!(
                                "the certificate names an unknown role {}",
                                crate::domain::validate::prefix(role)
                            ));
                        };
                        if !roles.contains(&role) {
                            roles.push(role);
                        }
                    }
                }
            }
        }
    }
    let unit = match units.as_slice() {
        [one] => one.clone(),
        [] => return Err("the certificate names no unit (urn:quyhoach:unit:…)".into()),
        more => {
            return Err(format!(
                "the certificate names {} units; a certificate belongs to exactly one",
                more.len()
            ))
        }
    };
    crate::domain::validate::code("certificate unit", &unit).map_err(|e| e.to_string())?;
    if roles.is_empty() {
        return Err("the certificate carries no role".into());
    }
    if roles.contains(&Role::Node) && roles.len() > 1 {
        return Err("a node certificate carries the node role only".into());
    }
    let name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or("")
        .to_string();
    check_common_name(&name)?;
    Ok(Caller::Certified { unit, roles, name })
}

/// A certificate's common name names its holder in the audit trail, the logs and the web
/// page, as `NAME [roles@unit]`: it is checked like a name a clerk types (no control or
/// bidirectional control characters, at most 200 characters, in NFC), and may not hold the
/// brackets that would let it pass for another holder's roles. It may be empty.
///
/// # Errors
///
/// A sentence saying what is wrong with the name.
pub fn check_common_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Ok(());
    }
    let clean = crate::domain::plan::clean_text_max("certificate common name", name, 200)
        .map_err(|e| e.to_string())?;
    if clean != name {
        return Err("the certificate's common name is not in Unicode NFC form".into());
    }
    if name.contains(['[', ']']) {
        return Err("the certificate's common name holds brackets, which would pass for roles in the audit trail".into());
    }
    Ok(())
}

/// Checks a certificate (PEM) against the clock: a sentence naming the date if it has expired
/// or is not valid yet.
///
/// # Errors
///
/// When the certificate is unreadable, expired or not yet valid.
pub fn check_validity(pem: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    let (_, cert) = X509Certificate::from_der(&block.contents)
        .map_err(|e| format!("unreadable certificate: {e}"))?;
    let validity = cert.validity();
    let (from, to) = (
        validity.not_before.to_datetime(),
        validity.not_after.to_datetime(),
    );
    if now < from {
        return Err(format!("the certificate is not valid before {from}"));
    }
    if now > to {
        return Err(format!("the certificate expired on {to}"));
    }
    Ok(to)
}

/// Checks what is about to be issued: a known unit, at least one role, the node role only
/// alone, a name without control characters, and a validity that has not ended. Returns the
/// warnings to show (a certificate that expires within 30 days).
///
/// # Errors
///
/// A sentence naming what is refused.
pub fn check_subject(
    subject: &Subject,
    hierarchy: &crate::domain::Hierarchy,
) -> Result<Vec<String>, String> {
    check_stem(&subject.unit).map_err(|e| e.to_string())?;
    if hierarchy.get(&subject.unit).is_none() {
        return Err(format!("unit {} is not in the units list", subject.unit));
    }
    if subject.roles.is_empty() {
        return Err("a certificate carries at least one role".into());
    }
    if subject.roles.contains(&Role::Node) && subject.roles.len() > 1 {
        return Err("the node role is for node certificates only (certs node)".into());
    }
    if subject.name.trim().is_empty() || subject.name.chars().any(char::is_control) {
        return Err("the holder's name is empty or holds control characters".into());
    }
    let now = OffsetDateTime::now_utc();
    if subject.not_after <= now {
        return Err(format!(
            "the certificate would expire at once ({})",
            subject.not_after
        ));
    }
    let mut warnings = Vec::new();
    if subject.not_after - now < Duration::days(30) {
        warnings.push(format!(
            "warning: the certificate for {} expires within 30 days, on {}",
            subject.unit,
            subject.not_after.date()
        ));
    }
    Ok(warnings)
}

/// Refuses a file name stem that could leave its folder or hide: only letters, digits, `.`,
/// `_` and `-`, not starting with a dot, at most 64 characters.
///
/// # Errors
///
/// [`std::io::ErrorKind::InvalidInput`] naming the stem.
pub fn check_stem(stem: &str) -> std::io::Result<()> {
    let ok = !stem.is_empty()
        && stem.len() <= 64
        && !stem.starts_with('.')
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} is not a safe file name (letters, digits, . _ -)",
                crate::domain::validate::prefix(stem)
            ),
        ))
    }
}

/// Reads the caller named by the first certificate in a PEM file's text.
///
/// # Errors
///
/// The reason, in words, if the text holds no PEM certificate or the certificate names no
/// caller (see `caller_from_der`).
pub fn caller_from_pem(pem: &str) -> Result<Caller, String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    caller_from_der(&block.contents)
}

/// Writes an issued certificate and key as `<dir>/<stem>.pem` and `<dir>/<stem>.key`; the
/// stem must be a plain file name ([`check_stem`]).
///
/// # Errors
///
/// An unsafe stem, or the file system's error.
pub fn write(dir: &Path, stem: &str, issued: &Issued) -> std::io::Result<()> {
    check_stem(stem)?;
    std::fs::create_dir_all(dir)?;
    write_file(&dir.join(format!("{stem}.pem")), &issued.cert_pem, 0o644)?;
    write_secret(&dir.join(format!("{stem}.key")), &issued.key_pem)
}

/// Where a renewal keeps the `n`th earlier key (from 1) of the key file `key`: `key.n`
/// (`nodes/40.key.1`). A node derives its audit key from its TLS key, so the records sealed
/// before a renewal verify only with the earlier key; the node reads these files back.
pub fn kept_key(key: &Path, n: u32) -> std::path::PathBuf {
    let mut name = key.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    std::path::PathBuf::from(name)
}

/// Writes a node's certificate and key as [`write`] does, refusing to replace a key that is
/// there unless `renew`; with `renew`, the key and certificate there are first moved to the
/// first free `key.N` / `pem.N` ([`kept_key`]), never overwritten. Returns where the earlier
/// key was kept, if there was one.
///
/// # Errors
///
/// [`std::io::ErrorKind::AlreadyExists`] when `dir` holds the key and `renew` is false (a new
/// key changes the node's audit key), or the file system's error.
pub fn write_node(
    dir: &Path,
    stem: &str,
    issued: &Issued,
    renew: bool,
) -> std::io::Result<Option<std::path::PathBuf>> {
    check_stem(stem)?;
    let key = dir.join(format!("{stem}.key"));
    let cert = dir.join(format!("{stem}.pem"));
    let mut kept = None;
    // A key is a regular file; a symbolic link there is replaced, never followed ([`write`]).
    if std::fs::symlink_metadata(&key).is_ok_and(|m| m.is_file()) {
        if !renew {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists: a new key changes the node's audit key and the trail it sealed \
                     would no longer verify; pass --renew to keep the old key beside the new one",
                    key.display()
                ),
            ));
        }
        let n = (1..)
            .find(|n| std::fs::symlink_metadata(kept_key(&key, *n)).is_err())
            .expect("a free number");
        let to = kept_key(&key, n);
        // A hard link, then the new key over the old name: the earlier key is never lost.
        std::fs::hard_link(&key, &to)?;
        if std::fs::symlink_metadata(&cert).is_ok() {
            std::fs::rename(&cert, kept_key(&cert, n))?;
        }
        std::fs::remove_file(&key)?;
        kept = Some(to);
    }
    write(dir, stem, issued)?;
    Ok(kept)
}

/// Writes a private key readable by its owner only.
///
/// # Errors
///
/// The file system's error.
pub fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    write_file(path, text, 0o600)
}

/// Writes a new authority's `ca.pem` and `ca.key` into `dir`, refusing to replace a key that
/// is there unless `force`: every certificate the old key signed would stop working.
///
/// # Errors
///
/// [`std::io::ErrorKind::AlreadyExists`] when `dir` holds a key and `force` is false, or the
/// file system's error.
pub fn write_authority(dir: &Path, ca: &Authority, force: bool) -> std::io::Result<()> {
    let key = dir.join("ca.key");
    if !force && std::fs::symlink_metadata(&key).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} exists: replacing it invalidates every certificate it signed; pass --force to replace it",
                key.display()
            ),
        ));
    }
    std::fs::create_dir_all(dir)?;
    write_file(&dir.join("ca.pem"), &ca.cert_pem, 0o644)?;
    write_secret(&key, &ca.key_pem())
}

/// Writes a revocation list as `dir/crl.pem` (0644), replacing the one there without
/// following a symbolic link; returns the path written.
///
/// # Errors
///
/// The file system's error if the file cannot be written.
pub fn write_revocation_list(dir: &Path, pem: &str) -> std::io::Result<std::path::PathBuf> {
    let path = dir.join("crl.pem");
    write_file(&path, pem, 0o644)?;
    Ok(path)
}

/// Writes `text` as a new file with `mode`. Whatever stood at `path` (a file or a symbolic
/// link) is removed first and never followed: the file is created anew, exclusively, with
/// `O_NOFOLLOW`.
fn write_file(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_file(path)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(mode).custom_flags(libc::O_NOFOLLOW);
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_names_its_unit_roles_and_holder() {
        let ca = Authority::create("Tỉnh ủy Nghệ An CA", 30).unwrap();
        let issued = ca
            .issue(&Subject::new(
                "412",
                &[Role::Approver, Role::Reader],
                "Trần Thị Minh Tâm",
                30,
            ))
            .unwrap();
        let caller = caller_from_pem(&issued.cert_pem).unwrap();
        assert_eq!(
            caller,
            Caller::Certified {
                unit: "412".into(),
                roles: vec![Role::Approver, Role::Reader],
                name: "Trần Thị Minh Tâm".into()
            }
        );
        let reloaded = Authority::load(&ca.cert_pem, &ca.key_pem()).unwrap();
        let node = reloaded
            .issue(&Subject::node("40", &["tinhuy.nghean.example".into()], 30))
            .unwrap();
        assert!(
            matches!(caller_from_pem(&node.cert_pem).unwrap(), Caller::Certified { roles, .. } if roles == [Role::Node])
        );
    }
}
