//! The Organization Board's workstation (trang làm việc của Ban Tổ chức): a web page served by
//! a node over its own subtree, in Vietnamese with an English switch. Server-rendered HTML
//! (maud, checked at compile time), one stylesheet from the repository, no script; every page
//! calls the same [`Node`] operations as the gRPC API, with the same roles and the same
//! subtree scope (see [`session`]).
//!
//! Pages: the overview (`/`), the consolidated list (`/tong-hop`, with its `.csv` and `.xlsx`
//! export), the findings (`/phat-hien`), a plan (`/ke-hoach/UNIT/TERM/VERSION`, with versions,
//! diff, rounds, decisions, audit records and the approver's actions), a person
//! (`/nguoi/REF`), the structure charts (`/co-cau`) and the appraisal of every plan awaiting
//! this unit, with the approval of the clean ones together (`/tham-dinh`).

mod actions;
mod appraisal;
mod diff;
mod i18n;
mod layout;
pub(crate) mod pages;
mod person;
pub mod session;
mod structure;
mod typed;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use tokio::net::TcpListener;

use crate::node::Node;

pub use diff::{diff_plans, PlanDiff};

/// The stylesheet, a file of the repository served by the node.
const STYLE: &str = include_str!("../../static/style.css");

/// What every handler shares.
#[derive(Clone)]
pub struct WebState {
    /// The node whose operations the pages call.
    pub node: Arc<Node>,
    /// Sessions and login.
    pub sessions: Arc<session::Sessions>,
}

/// Why the web page could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address cannot be bound.
    #[error("web: cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bound listener's address cannot be read.
    #[error("web: the listener has no address")]
    Address(#[source] std::io::Error),
    /// The node's web signing key cannot be read or created.
    #[error("web: the node's signing key")]
    SigningKey(#[source] crate::error::Error),
    /// The node's certificate does not load.
    #[error("web: the node's certificate")]
    Certificate(#[source] rustls_pki_types::pem::Error),
    /// The node's private key does not load.
    #[error("web: the node's key")]
    Key(#[source] rustls_pki_types::pem::Error),
    /// rustls refuses the certificate and key.
    #[error("web: TLS setup")]
    Tls(#[from] rustls::Error),
    /// The authority's revocation list does not read (the reason, as the reader words it).
    #[error("web: crl: {0}")]
    Crl(String),
}

/// Binds the web page's address (port 0 picks a free port).
///
/// # Errors
///
/// [`StartError::Bind`] if the address cannot be bound.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// The router of the web page over `node`. `insecure`: the node runs without certificates, so
/// the page is open to anyone who reaches it, as the gRPC API is (for trying things out only).
/// `crl_pem`: the node's revocation list; a login token or session of a certificate it names
/// is refused.
///
/// # Errors
///
/// [`StartError::SigningKey`] if the node's web signing key cannot be read or created;
/// [`StartError::Crl`] if the revocation list does not read.
pub async fn router(
    node: Arc<Node>,
    insecure: bool,
    crl_pem: Option<&str>,
) -> Result<Router, StartError> {
    let key = node.web_key().await.map_err(StartError::SigningKey)?;
    let revoked = match crl_pem {
        Some(pem) => crate::pki::revoked_in(pem)
            .map_err(StartError::Crl)?
            .into_iter()
            .map(|(serial, _)| crate::pki::serial_hex(&serial))
            .collect(),
        None => Vec::new(),
    };
    let state = WebState {
        node,
        sessions: Arc::new(session::Sessions::new(key, insecure).with_revoked(revoked)),
    };
    let app = Router::new()
        .route("/", get(pages::overview))
        .route("/tong-hop", get(pages::consolidated))
        .route("/tong-hop.csv", get(pages::consolidated_csv))
        .route("/tong-hop.xlsx", get(pages::consolidated_xlsx))
        .route("/phat-hien", get(pages::findings))
        .route("/phat-hien/sap-nhap", get(pages::merger_worklist))
        .route("/ke-hoach/{unit}/{term}/{version}", get(pages::plan))
        .route(
            "/ke-hoach/{unit}/{term}/{version}/quyet-dinh",
            post(actions::decide),
        )
        .route(
            "/ke-hoach/{unit}/{term}/{version}/chap-nhan",
            post(actions::accept),
        )
        .route(appraisal::PATH, get(appraisal::appraisal))
        .route("/tham-dinh/phe-duyet", post(appraisal::approve))
        .route("/nguoi", get(person::find))
        .route("/nguoi/{reference}", get(person::person))
        .route("/co-cau", get(structure::structure))
        .route(
            "/dang-nhap",
            get(session::login).post(session::login_confirm),
        )
        .route("/dang-xuat", post(session::logout))
        .route("/ngon-ngu", get(session::language))
        .route("/static/style.css", get(style))
        .layer(axum::middleware::from_fn(paging_bounds))
        .with_state(state);
    Ok(with_security_headers(app, !insecure))
}

/// The page's Content-Security-Policy: nothing but its own stylesheet, forms posting to
/// itself, no script at all (inline or not), never framed. Inline `style` attributes are
/// allowed (the overview indents its tree with them); no page carries script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// HSTS of the HTTPS page: a year, as OWASP's HTTP headers cheat sheet advises.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// Puts the security headers on every response, whatever made it (a page, a download, an
/// error, the stylesheet), with tower-http's `SetResponseHeaderLayer`:
/// [`CONTENT_SECURITY_POLICY`], `X-Frame-Options: DENY` (for browsers without
/// `frame-ancestors`), `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin`,
/// `Cache-Control: no-store` unless the response set its own (pages and downloads carry full
/// national IDs; a shared workstation's cache must not keep them; only the stylesheet is
/// cached), and [`STRICT_TRANSPORT_SECURITY`] when `https`.
fn with_security_headers(router: Router, https: bool) -> Router {
    use axum::http::HeaderValue;
    use tower_http::set_header::SetResponseHeaderLayer;
    let hsts = HeaderValue::from_static(STRICT_TRANSPORT_SECURITY);
    // Whatever the response set itself, these replace it.
    let always = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    let router = always.into_iter().fold(router, |router, (name, value)| {
        let value = HeaderValue::from_static(value);
        router.layer(SetResponseHeaderLayer::overriding(name, value))
    });
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            move |_: &Response| https.then(|| hsts.clone()),
        ))
}

/// Highest page number a page accepts.
pub const MAX_PAGE: u64 = 1_000_000;
/// Largest page size a page accepts (0: everything, as the list's "all" link asks).
pub const MAX_PAGE_SIZE: u64 = 10_000;

/// Refuses, before any page runs, a `page` or `size` in the query that is not a whole number
/// in range (1 to [`MAX_PAGE`], 0 to [`MAX_PAGE_SIZE`]): a negative, zero or enormous page
/// gets a clear 400 naming the field (a `page` of 2^64 - 1 made the list's offset overflow
/// and its handler panic).
async fn paging_bounds(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let query = request.uri().query().unwrap_or("");
    for (key, value) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        let (least, most) = match key {
            "page" => (1, MAX_PAGE),
            "size" => (0, MAX_PAGE_SIZE),
            _ => continue,
        };
        let value = value.trim_matches('+');
        if value.is_empty() {
            continue;
        }
        let fits = value.len() <= 20
            && value.bytes().all(|b| b.is_ascii_digit())
            && value
                .parse::<u64>()
                .is_ok_and(|n| (least..=most).contains(&n));
        if !fits {
            let shown: String = value.chars().take(40).collect();
            return WebError::bad_request(format!(
                "{key}: {shown:?} is not a whole number from {least} to {most}"
            ))
            .into_response();
        }
    }
    next.run(request).await
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// The web page running in the background; [`WebTask::stop`] ends it.
pub struct WebTask {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl WebTask {
    /// Stops accepting, finishes requests in flight, and waits.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// The node's certificate and key (PEM), to serve the page over HTTPS.
#[derive(Debug, Clone)]
pub struct WebTls {
    /// The node's certificate chain.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
    /// The authority's revocation list (`serve --crl`), if the node was given one.
    pub crl_pem: Option<String>,
}

fn tls_acceptor(tls: &WebTls) -> Result<tokio_rustls::TlsAcceptor, StartError> {
    use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(tls.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(StartError::Certificate)?;
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes()).map_err(StartError::Key)?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Most connections the web page holds at once, HTTPS or plain; a connection beyond them is
/// closed as soon as it is accepted, so that idle or stalled connections cannot use up the
/// node's file descriptors (1,011 idle connections made the node's gRPC calls time out). It is
/// the web port's own cap, beside the gRPC port's ([`crate::grpc::incoming::max_connections`]).
pub const MAX_WEB_CONNECTIONS: usize = 256;
/// Most of those one peer address holds at once (an eighth): one address holding idle
/// connections leaves the rest of the cap to everyone else. Every connection over it is closed
/// at accept, like those over the cap.
pub const MAX_WEB_CONNECTIONS_PER_ADDRESS: usize = MAX_WEB_CONNECTIONS / 8;
/// How long a connection may take for its TLS handshake, and then for each request's headers
/// (hyper's header-read timeout: a slowloris sending a byte at a time is closed after it).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long one connection is served at most, idle or not: a browser opens another when it
/// needs one; a connection held open for ever is closed after it.
pub const MAX_CONNECTION_TIME: std::time::Duration = std::time::Duration::from_secs(120);
/// The longest pause of the accept loop after a failed accept (out of file descriptors,
/// EMFILE): the pause doubles from 10 ms up to this, instead of spinning at full CPU and
/// logging without end.
const MAX_ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_secs(1);

/// The connection slots of the web port: [`MAX_WEB_CONNECTIONS`] in all and
/// [`MAX_WEB_CONNECTIONS_PER_ADDRESS`] for each peer address (IPv4-mapped IPv6 addresses
/// count as their IPv4 address).
struct Slots {
    all: Arc<tokio::sync::Semaphore>,
    by_address: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

/// One connection's place under both caps, given back when dropped.
struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    address: std::net::IpAddr,
    by_address: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

impl Slots {
    fn new() -> Self {
        Self {
            all: Arc::new(tokio::sync::Semaphore::new(MAX_WEB_CONNECTIONS)),
            by_address: Default::default(),
        }
    }

    /// A slot for a connection from `peer`, or `None` when the cap or the address's share is
    /// full (the reason, for the log).
    fn take(&self, peer: std::net::IpAddr) -> Result<Slot, &'static str> {
        let address = peer.to_canonical();
        let permit = self
            .all
            .clone()
            .try_acquire_owned()
            .map_err(|_| "too many connections open")?;
        let mut counts = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        let held = counts.entry(address).or_insert(0);
        if *held >= MAX_WEB_CONNECTIONS_PER_ADDRESS {
            return Err("too many connections open from this address");
        }
        *held += 1;
        Ok(Slot {
            _permit: permit,
            address,
            by_address: self.by_address.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = counts.get_mut(&self.address) {
            *held -= 1;
            if *held == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

/// Serves `app` on `listener` until `stopped`, over HTTPS when `acceptor` is given and plain
/// HTTP otherwise (an `--insecure` node, the demo), with the same limits either way: HTTP/1.1
/// only (HTTP/2 is not offered: no stream and window limits to tune), at most
/// [`MAX_WEB_CONNECTIONS`] at once and [`MAX_WEB_CONNECTIONS_PER_ADDRESS`] from one address,
/// [`HEADER_READ_TIMEOUT`] for the handshake and each request's headers,
/// [`MAX_CONNECTION_TIME`] per connection, and an accept loop that backs off when accepting
/// fails (EMFILE). Once stopped, it closes idle connections, lets requests in flight finish
/// and waits for them.
async fn serve(
    listener: TcpListener,
    app: Router,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let slots = Slots::new();
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut backoff = std::time::Duration::ZERO;
    loop {
        while connections.try_join_next().is_some() {}
        let (tcp, peer) = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    backoff = std::time::Duration::ZERO;
                    a
                }
                Err(e) => {
                    // Out of file descriptors (EMFILE) or another accept failure: pause, so
                    // that the connections being served can end and free what is lacking.
                    backoff = (backoff * 2).clamp(std::time::Duration::from_millis(10), MAX_ACCEPT_BACKOFF);
                    tracing::warn!(error = %e, pause_ms = backoff.as_millis() as u64, "web accept failed");
                    tokio::select! {
                        _ = &mut stopped => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    continue;
                }
            },
        };
        let slot = match slots.take(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                tracing::debug!(%peer, why, "web connection refused");
                drop(tcp);
                continue;
            }
        };
        let (acceptor, app, closing) = (acceptor.clone(), app.clone(), closing.clone());
        connections.spawn(async move {
            let _slot = slot;
            let _ = tcp.set_nodelay(true);
            match acceptor {
                Some(acceptor) => {
                    let mut closed = closing.clone();
                    let handshake = tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(tcp));
                    let tls = tokio::select! {
                        done = handshake => match done {
                            Ok(Ok(tls)) => tls,
                            _ => return,
                        },
                        _ = closed.wait_for(|c| *c) => return,
                    };
                    serve_connection(tls, app, closing).await;
                }
                None => serve_connection(tcp, app, closing).await,
            }
        });
    }
    let _ = closing_tx.send(true);
    while connections.join_next().await.is_some() {}
}

/// Serves one connection with hyper's HTTP/1.1 server and its header-read timeout, for at most
/// [`MAX_CONNECTION_TIME`]; when `closing` turns true, it shuts down gracefully (an idle
/// connection closes, a request in flight is answered first).
async fn serve_connection<S>(io: S, app: Router, mut closing: tokio::sync::watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::{
        rt::{TokioIo, TokioTimer},
        service::TowerToHyperService,
    };
    let service = TowerToHyperService::new(app);
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    let served = async {
        tokio::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = closing.wait_for(|c| *c) => {}
        }
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
    };
    let _ = tokio::time::timeout(MAX_CONNECTION_TIME, served).await;
}

/// Serves the web page of `node` on `listener` in the background: over HTTPS with the node's
/// certificate when `tls` is given (the session cookie is then `Secure`), else plain HTTP
/// (an `--insecure` node); the same connection limits either way (see [`serve`]).
///
/// # Errors
///
/// [`StartError::SigningKey`] if the node's web signing key cannot be read or created;
/// [`StartError::Certificate`], [`StartError::Key`] or [`StartError::Tls`] if the
/// certificate or key does not load; [`StartError::Address`] if the listener has no address.
pub async fn spawn(
    node: Arc<Node>,
    tls: Option<WebTls>,
    listener: TcpListener,
) -> Result<WebTask, StartError> {
    let addr = listener.local_addr().map_err(StartError::Address)?;
    let unit = node.unit().code.clone();
    let insecure = tls.is_none();
    let crl = tls.as_ref().and_then(|t| t.crl_pem.as_deref());
    let app = router(node, insecure, crl).await?;
    let acceptor = tls.as_ref().map(tls_acceptor).transpose()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tracing::info!(unit = %unit, addr = %addr, https = !insecure, "web page serving");
    let task = tokio::spawn(serve(listener, app, acceptor, stopped));
    Ok(WebTask { stop, task })
}

/// A failure shown as a page: the status and a message naming the problem.
#[derive(Debug)]
pub struct WebError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for the reader.
    pub message: String,
}

impl WebError {
    /// A request the caller may not make.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    /// A request that names something wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<crate::error::Error> for WebError {
    fn from(e: crate::error::Error) -> Self {
        use crate::error::Error;
        let status = match &e {
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Precondition(_) | Error::HashConflict { .. } => StatusCode::CONFLICT,
            Error::Denied(_) => StatusCode::FORBIDDEN,
            // A full disk or a store reopening itself: the page works again by itself.
            Error::Store(_) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "internal error on the web page");
        }
        Self {
            status,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let body = maud::html! {
            (maud::DOCTYPE)
            html lang="vi" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { "Lỗi / Error " (self.status.as_u16()) }
                    link rel="stylesheet" href="/static/style.css";
                }
                body {
                    main {
                        h1 { "Không thực hiện được / Not done (" (self.status.as_u16()) ")" }
                        p.error id="error" { (self.message) }
                        p { a href="/" { "Tổng quan / Overview" } }
                    }
                }
            }
        };
        (self.status, body).into_response()
    }
}

#[cfg(test)]
mod tests {
    /// The web page reads only node operations (issue 19): no code of `src/web/` names the
    /// store or sled. Comments may speak of them.
    #[test]
    fn no_file_of_the_web_page_reads_the_store() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
        let mut dirs = vec![root];
        let mut files = 0;
        // Spelt in two halves, so that this test does not find itself.
        let names = [concat!("store", "::"), concat!("sl", "ed")];
        while let Some(dir) = dirs.pop() {
            for e in std::fs::read_dir(dir).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                files += 1;
                let src = std::fs::read_to_string(&path).unwrap();
                for (i, line) in src.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    assert!(
                        !names.iter().any(|n| code.contains(n)),
                        "{}:{}: {line}",
                        path.display(),
                        i + 1
                    );
                }
            }
        }
        assert!(files > 10, "the web page's files were read: {files}");
    }
}
