//! Accepted connections, capped: at most [`max_connections`] are open at once (handshakes
//! included), so that a crowd of stalled clients can neither exhaust the process's file
//! descriptors nor make the accept loop spin on EMFILE. A connection over the cap waits in the
//! kernel's backlog until one closes; a stalled TLS handshake is closed after the server's
//! handshake timeout, so the queue always moves.
//!
//! With TLS, the handshake is done here ([`capped_tls`]), each in its own task, rather than by
//! tonic: here the peer's address is at hand, so a refused handshake (an expired, not yet valid
//! or foreign certificate) is logged with the peer and rustls's reason. tonic is handed the
//! finished TLS stream, whose peer certificates reach the gate as usual.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{mpsc, OwnedSemaphorePermit, Semaphore},
};
use tokio_rustls::{server::TlsStream, TlsAcceptor};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// The most connections a node holds open when the file-descriptor limit allows it.
pub const MAX_CONNECTIONS: usize = 512;

/// The connection cap for this process: [`MAX_CONNECTIONS`], or less if the soft limit on
/// open files would not leave room for the store and the node's own links.
pub fn max_connections() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and has no other effect.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    let files = if ok { limit.rlim_cur as usize } else { 1024 };
    MAX_CONNECTIONS.min(files.saturating_sub(128).max(16))
}

/// One accepted connection holding its place under the cap until it is dropped.
pub struct Capped {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl Connected for Capped {
    type ConnectInfo = TcpConnectInfo;
    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Capped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Accepts on `listener`, at most `cap` connections at once, with TCP_NODELAY set (without it
/// small replies wait ~40 ms for a delayed ACK). The accept task ends when the stream is
/// dropped.
pub fn capped(listener: TcpListener, cap: usize) -> ReceiverStream<io::Result<Capped>> {
    let permits = Arc::new(Semaphore::new(cap));
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let stream = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = tx.closed() => return,
            };
            match stream {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let capped = Capped {
                        stream,
                        _permit: permit,
                    };
                    if tx.send(Ok(capped)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    // EMFILE and the like: wait instead of spinning; the error is not fatal.
                    tracing::warn!(error = %e, "accept failed");
                    drop(permit);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    ReceiverStream::new(rx)
}

/// [`capped`], with the TLS handshake of each connection done in a task of its own within
/// `timeout`. A handshake refused over the peer's certificate is logged as a warning with the
/// peer's address and the reason (which says whether the certificate expired, is not yet
/// valid, or comes from another authority, with its dates); a timed-out or abandoned one only
/// at debug level, so that a crowd of stalled clients cannot flood the log.
pub fn capped_tls(
    listener: TcpListener,
    cap: usize,
    acceptor: TlsAcceptor,
    timeout: Duration,
) -> ReceiverStream<io::Result<TlsStream<Capped>>> {
    let mut accepted = capped(listener, cap).into_inner();
    let (tx, rx) = mpsc::channel(16);
    let log = Arc::new(RefusalLog::new());
    tokio::spawn(async move {
        loop {
            let conn = tokio::select! {
                conn = accepted.recv() => conn,
                _ = tx.closed() => return,
            };
            let Some(Ok(conn)) = conn else { return };
            let peer = conn.stream.peer_addr().ok();
            let (acceptor, tx, log) = (acceptor.clone(), tx.clone(), log.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(timeout, acceptor.accept(conn)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => log.refused(peer, &e),
                    Err(_) => tracing::debug!(peer = ?peer, "tls handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// Refused handshakes logged a second for each kind of refusal, at most; a peer that retries in
/// a loop (or a stranger who handshakes on purpose) cannot fill the disk with the log, nor hide
/// a refusal of another kind behind its own.
const REFUSALS_LOGGED_PER_SECOND: u32 = 20;

/// Logs failed handshakes, at most [`REFUSALS_LOGGED_PER_SECOND`] a second of each kind; the
/// next line logged says how many were left out in between.
struct RefusalLog {
    /// One bucket per problem said in words ([`certificate_problem`]), so that a peer retrying
    /// one refused certificate in a loop never hides the refusal of another kind.
    limiter: governor::DefaultKeyedRateLimiter<String>,
    unlogged: std::sync::atomic::AtomicU64,
}

/// How many distinct problems the limiter remembers before it forgets the quiet ones. Problems
/// are few by nature (a certificate of this authority expired or not yet valid on a date, one
/// of another authority, a revoked one, a protocol error), so this is never reached in use.
const REFUSAL_KINDS_KEPT: usize = 1024;

impl RefusalLog {
    fn new() -> Self {
        let rate = std::num::NonZeroU32::new(REFUSALS_LOGGED_PER_SECOND)
            .unwrap_or(std::num::NonZeroU32::MIN);
        RefusalLog {
            limiter: governor::RateLimiter::keyed(governor::Quota::per_second(rate)),
            unlogged: Default::default(),
        }
    }

    /// Logs a failed handshake: a warning when rustls refused it (a certificate, a protocol
    /// error), debug when the peer merely went away.
    fn refused(&self, peer: Option<std::net::SocketAddr>, e: &io::Error) {
        use std::sync::atomic::Ordering;
        let peer = peer.map_or_else(|| "unknown".to_string(), |p| p.to_string());
        let Some(reason) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        else {
            tracing::debug!(peer = %peer, error = %e, "tls handshake failed");
            return;
        };
        let certificate = certificate_problem(reason);
        if self.limiter.len() > REFUSAL_KINDS_KEPT {
            self.limiter.retain_recent();
        }
        if self.limiter.check_key(&certificate).is_err() {
            self.unlogged.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let unlogged = self.unlogged.swap(0, Ordering::Relaxed);
        // rustls's own text of a certificate error is its variant's name; the words instead.
        // (the variants with context are worded by rustls, with their dates).
        let reason = {
            use rustls::CertificateError as C;
            match reason {
                rustls::Error::InvalidCertificate(
                    C::ExpiredContext { .. }
                    | C::NotValidYetContext { .. }
                    | C::ExpiredRevocationListContext { .. }
                    | C::NotValidForNameContext { .. }
                    | C::InvalidPurposeContext { .. },
                ) => reason.to_string(),
                rustls::Error::InvalidCertificate(c) => certificate_error_in_words(c),
                other => other.to_string(),
            }
        };
        tracing::warn!(peer = %peer, certificate = %certificate, reason = %reason, unlogged, "tls handshake refused");
    }
}

/// The server side of the node's TLS: its own certificate, and client certificates verified
/// against the authority whenever one is shown. Without one the handshake still succeeds, so
/// that health checks work and the quyhoach services can answer UNAUTHENTICATED (the gate)
/// instead of dropping the connection. A client certificate that the authority's revocation
/// list `crl_pem` names is refused; one of an authority that no list in `crl_pem` is from is
/// judged by its authority alone (`docs/certificates-renewal.md`). HTTP/2 only.
///
/// # Errors
///
/// A sentence naming the PEM text (`cert`, `key`, `ca` or `crl`) that holds nothing usable.
pub fn tls_acceptor(
    tls: &crate::config::Tls,
    crl_pem: Option<&str>,
) -> Result<TlsAcceptor, String> {
    use rustls::{server::WebPkiClientVerifier, ServerConfig};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (roots, crls) = crate::pki::tls_authority(&tls.ca_pem, crl_pem, ["ca", "crl"])?;
    // A certificate of an authority no given list is from is judged by that authority alone:
    // with the old and the new authority in --ca and the old one's list in --crl (a CA
    // rotation), the new authority's certificates are not refused as of unknown status.
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls(crls)
        .allow_unknown_revocation_status()
        .allow_unauthenticated()
        .build()
        .map_err(|e| format!("ca: {e}"))?;
    let (chain, key) = crate::pki::tls_identity(&tls.cert_pem, &tls.key_pem, ["cert", "key"])?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("cert: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// What was wrong with the peer's certificate, in words, with the date that matters; empty
/// when the refusal was not about its validity period or authority.
fn certificate_problem(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let date = |t: &rustls::pki_types::UnixTime| {
        i64::try_from(t.as_secs())
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .map_or_else(
                || "?".into(),
                |d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            )
    };
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::ExpiredContext { not_after, .. } => format!("expired on {}", date(not_after)),
            C::NotValidYetContext { not_before, .. } => {
                format!("not valid before {}", date(not_before))
            }
            C::Expired => "expired".into(),
            C::NotValidYet => "not yet valid".into(),
            C::UnknownIssuer => "issued by another authority".into(),
            C::BadSignature => {
                "issued by another authority (one of the same name: its signature does not \
                 verify)"
                    .into()
            }
            C::Revoked => "revoked".into(),
            other => certificate_error_in_words(other),
        },
        _ => String::new(),
    }
}

/// A refused certificate in words, for a person reading a log or an error line: never rustls's
/// variant name (`UnknownRevocationStatus` told an operator nothing). Shared by the server side
/// ([`tls_acceptor`]) and the upward link (`crate::link`).
pub fn certificate_error_in_words(e: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match e {
        C::Expired | C::ExpiredContext { .. } => "the certificate has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "the certificate is not valid yet".into(),
        C::Revoked => {
            "the certificate is revoked (its authority's revocation list names it)".into()
        }
        C::UnknownIssuer => "the certificate is issued by another authority".into(),
        C::BadSignature => {
            "the certificate's signature does not verify (another authority of the same name)"
                .into()
        }
        C::UnknownRevocationStatus => {
            "no revocation list of the certificate's authority was given, and its status \
             cannot be known"
                .into()
        }
        C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
            "the authority's revocation list is past its next update: issue a new one \
             (`certs revoke`) and give it to the node (--crl)"
                .into()
        }
        C::BadEncoding => "the certificate is not well-formed".into(),
        C::UnhandledCriticalExtension => {
            "the certificate carries a critical extension this node does not know".into()
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "the certificate does not name the host it was reached at".into()
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "the certificate is not for this use (client or server)".into()
        }
        C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "the certificate is signed with an algorithm this node does not accept".into()
        }
        C::ApplicationVerificationFailure => "the certificate was refused by this node".into(),
        other => format!("the certificate is refused ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_handshakes_are_logged_at_a_bounded_rate_and_the_rest_counted() {
        let log = RefusalLog::new();
        let refused = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        );
        let peer = Some(([127, 0, 0, 1], 50312).into());
        for _ in 0..200 {
            log.refused(peer, &refused);
        }
        // The burst is logged; far more than the rest is counted, not logged (200 calls take
        // well under the second that would let another 20 through).
        let unlogged = log.unlogged.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            unlogged >= 200 - 2 * u64::from(REFUSALS_LOGGED_PER_SECOND),
            "{unlogged}"
        );
        // A peer that merely went away is not a refusal and is not counted.
        log.refused(peer, &io::Error::from(io::ErrorKind::UnexpectedEof));
        assert_eq!(
            log.unlogged.load(std::sync::atomic::Ordering::Relaxed),
            unlogged
        );
        // A refusal of another kind is logged though the expired one's flood is still limited:
        // its line carries the count left out (which starts again from 0).
        let foreign = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        log.refused(peer, &foreign);
        assert_eq!(
            log.unlogged.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "the first refusal of another kind is logged, with the count before it"
        );
        log.refused(peer, &refused);
        assert_eq!(
            log.unlogged.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "the expired certificate's kind is still limited"
        );
    }

    #[test]
    fn a_certificates_problem_is_said_in_words_with_its_date() {
        let expired = rustls::Error::InvalidCertificate(rustls::CertificateError::ExpiredContext {
            time: rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(1_764_500_000)),
            not_after: rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(
                1_764_300_000,
            )),
        });
        assert_eq!(
            certificate_problem(&expired),
            "expired on 2025-11-28 03:20:00 UTC"
        );
        let revoked = rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked);
        assert_eq!(certificate_problem(&revoked), "revoked");
        assert_eq!(
            certificate_problem(&rustls::Error::HandshakeNotComplete),
            ""
        );
    }
}
