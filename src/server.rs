//! The server as a library function: [`run`] serves one node on a bound listener until the
//! shutdown future resolves; [`spawn`] starts one in the background and hands back its address,
//! which is how the demo and the tests start nodes on port 0.

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc};

use tokio::net::TcpListener;
use tonic::transport::Server;

use crate::{
    config::Config,
    grpc::{
        gate::{Admit, Gate},
        limits::{RateLimit, MAX_SYNC_MESSAGE},
        pb::{
            node_sync_server::NodeSyncServer, planning_server::PlanningServer, FILE_DESCRIPTOR_SET,
        },
        NodeSyncService, PlanningService,
    },
    node::{Clock, Node, Reference},
    store::{SledStore, StoreError},
    sync,
};

/// Why a node could not start, or stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// An address (the node's, or its metrics endpoint's) cannot be bound, or the bound
    /// listener's address cannot be read.
    #[error("cannot listen on {what}")]
    Listen {
        /// Which address, and the address when known.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The web page cannot start.
    #[error(transparent)]
    Web(#[from] crate::web::StartError),
    /// The store cannot be opened.
    #[error("cannot open the store at {}", path.display())]
    Store {
        /// The store's folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// The node cannot be opened over its store.
    #[error("cannot open the node")]
    Node(#[source] crate::error::Error),
    /// The reflection service cannot be built.
    #[error("cannot build the reflection service")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The node's certificate, key, authority or revocation list is refused by the TLS setup
    /// (the reason, as the TLS setup words it).
    #[error("tls: {0}")]
    Tls(String),
    /// The store refuses the audit key.
    #[error("cannot use the audit key")]
    AuditKey(#[source] StoreError),
    /// Serving failed.
    #[error("serving failed")]
    Serve(#[source] tonic::transport::Error),
    /// The node's background task panicked or was cancelled.
    #[error("the node's task ended abnormally")]
    Task(#[from] tokio::task::JoinError),
}

impl ServeError {
    fn listen(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.to_string();
        move |source| Self::Listen { what, source }
    }
}

/// How long a peer has to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Most requests one connection may have open at once (HTTP/2 concurrent streams).
pub const MAX_STREAMS_PER_CONNECTION: u32 = 64;

/// Serves the node described by `config` on `listener` until `shutdown` resolves, then stops
/// accepting, finishes in-flight requests, stops the sync task and closes the store.
///
/// # Errors
///
/// [`ServeError::Web`] or [`ServeError::Listen`] if the web or metrics listener cannot be
/// bound, [`ServeError::Store`] if the store cannot be opened, [`ServeError::Node`] if the
/// node cannot be opened over it, [`ServeError::Tls`] or [`ServeError::Reflection`] if that
/// setup fails, [`ServeError::Serve`] if serving fails.
pub async fn run(
    config: Config,
    listener: TcpListener,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let web = match config.web {
        Some(addr) => Some(crate::web::bind(addr).await?),
        None => None,
    };
    run_with_web(config, listener, web, clock, shutdown).await
}

/// [`run`], with the web page's listener (when `config.web` is set) already bound.
async fn run_with_web(
    config: Config,
    listener: TcpListener,
    web: Option<TcpListener>,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    // Metrics first, so that the node's opening values are recorded.
    let metrics_task = match config.metrics {
        Some(addr) => {
            let (bound, task) = crate::metrics::spawn(addr)
                .await
                .map_err(ServeError::listen(format_args!("{addr} (metrics)")))?;
            tracing::info!(addr = %bound, "metrics at /metrics");
            Some(task)
        }
        None => None,
    };
    let store = SledStore::open(&config.data).map_err(|source| ServeError::Store {
        path: config.data.clone(),
        source,
    })?;
    match &config.audit_key {
        Some(key) => store
            .set_audit_key(key.clone(), config.earlier_audit_keys.clone())
            .map_err(ServeError::AuditKey)?,
        None => tracing::warn!("no audit key (--insecure without --audit-key): audit records are chained but not sealed"),
    }
    let reference = Reference {
        version: 0,
        catalog: config.catalog.as_ref().clone(),
        rules: config.rules.clone(),
        structure: None,
        // Later reorganisations travel only after the built-in history: after a deployment's
        // own units file they name units a node below with the built-in history cannot know.
        reorganisations: if config
            .hierarchy
            .history()
            .periods()
            .iter()
            .any(|p| p.label.is_empty())
        {
            Vec::new()
        } else {
            config.reorganisations.clone()
        },
    };
    let node = Node::open(
        config.unit.clone(),
        config.hierarchy.clone(),
        reference,
        store,
        clock,
        config.sync.stuck_after,
    )
    .await
    .map_err(ServeError::Node)?
    .with_signing_authority(config.signing_authority.clone())
    .with_classification(config.classification.clone());
    if let Some(tls) = &config.tls {
        let signer = crate::bundle::sign::Signer::from_pem(
            &tls.key_pem,
            &tls.cert_pem,
            &tls.ca_pem,
            config.crl_pem.as_deref(),
        )
        .map_err(ServeError::Tls)?;
        node.set_signer(signer);
    }
    let node = Arc::new(node);
    let checks_task = node
        .runs_checks()
        .then(|| tokio::spawn(node.clone().run_arrival_checks()));
    let folder_task = config.parent_dir.clone().map(|dir| {
        tokio::spawn(sync::folder_parent::run(
            node.clone(),
            dir,
            config.sync.clone(),
        ))
    });
    let sync_task = config.parent.clone().map(|parent| {
        let (tls, crl) = (config.tls.clone(), config.crl_pem.clone());
        tokio::spawn(sync::grpc_parent::run(
            node.clone(),
            parent,
            config.sync.clone(),
            tls,
            crl,
        ))
    });

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<PlanningServer<PlanningService>>()
        .await;
    health
        .set_serving::<NodeSyncServer<NodeSyncService>>()
        .await;
    // Both reflection versions, each knowing every service, so that any grpcurl lists them all.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            )
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    tracing::info!(
        unit = %config.unit.code,
        level = %config.unit.level,
        addr = %listener.local_addr().map_err(ServeError::listen("the node's address"))?,
        parent = config.parent.as_deref().unwrap_or("-"),
        "node serving"
    );
    // The TLS handshake is done by the accept loop (`grpc::incoming`), which logs a refused
    // one with the peer's address; a peer that never finishes its handshake is dropped.
    let acceptor = config
        .tls
        .as_ref()
        .map(|tls| crate::grpc::incoming::tls_acceptor(tls, config.crl_pem.as_deref()))
        .transpose()
        .map_err(ServeError::Tls)?;
    let mut builder = Server::builder();
    builder = builder
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)))
        .tcp_keepalive(Some(std::time::Duration::from_secs(60)))
        .http2_max_header_list_size(16 * 1024u32);
    let insecure = config.tls.is_none();
    let web_task = match web {
        Some(web) => {
            let tls = config.tls.as_ref().map(|t| crate::web::WebTls {
                cert_pem: t.cert_pem.clone(),
                key_pem: t.key_pem.clone(),
                crl_pem: config.crl_pem.clone(),
            });
            Some(crate::web::spawn(node.clone(), tls, web).await?)
        }
        None => None,
    };
    let limit = RateLimit::new(config.rate_limit);
    let planning = PlanningServer::new(PlanningService {
        node: node.clone(),
        insecure,
    })
    // The gate holds each method to its own limit before decoding (`limits::max_request`);
    // this one is the largest of them, a bundle's.
    .max_decoding_message_size(crate::grpc::limits::MAX_ANSWER)
    .max_encoding_message_size(crate::grpc::limits::MAX_ANSWER);
    let node_sync = NodeSyncServer::new(NodeSyncService {
        node: node.clone(),
        insecure,
    })
    .max_decoding_message_size(MAX_SYNC_MESSAGE)
    .max_encoding_message_size(MAX_SYNC_MESSAGE);
    let router = builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(Gate::new(planning, Admit::Person, insecure, limit.clone()))
        .add_service(Gate::new(node_sync, Admit::Node, insecure, limit));
    // At most so many connections at once, each with TCP_NODELAY.
    let cap = crate::grpc::incoming::max_connections();
    let result = match acceptor {
        Some(acceptor) => {
            let incoming =
                crate::grpc::incoming::capped_tls(listener, cap, acceptor, HANDSHAKE_TIMEOUT);
            router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
        }
        None => {
            let incoming = crate::grpc::incoming::capped(listener, cap);
            router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
        }
    };
    if let Some(task) = web_task {
        task.stop().await;
    }
    if let Some(task) = checks_task {
        task.abort();
        let _ = task.await;
    }
    if let Some(task) = metrics_task {
        task.abort();
    }
    for task in [sync_task, folder_task].into_iter().flatten() {
        task.abort();
        let _ = task.await;
    }
    // Tasks that outlive the servers (a connection's last request, a blocking store call)
    // may still hold the node for a moment: wait until the last one lets go, so that the store
    // is closed when this returns, as `Running::stop` promises.
    let held = Arc::downgrade(&node);
    drop(node);
    let deadline = tokio::time::Instant::now() + STORE_CLOSE_WAIT;
    while held.strong_count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    if held.strong_count() > 0 {
        tracing::warn!(
            unit = %config.unit.code,
            "the node is still held after {STORE_CLOSE_WAIT:?}; its store closes when it is let go"
        );
    }
    tracing::info!(unit = %config.unit.code, "node stopped");
    result.map_err(ServeError::Serve)
}

/// How long a stopping node waits for the last holder of the node (and so of its store) to let
/// go.
const STORE_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A node running in the background of this process.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The address of its web page, when it serves one.
    pub web: Option<SocketAddr>,
    /// Whether it serves TLS.
    tls: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl Running {
    /// The URL of its web page, when it serves one.
    pub fn web_url(&self) -> Option<String> {
        let scheme = if self.tls { "https" } else { "http" };
        self.web.map(|a| format!("{scheme}://{a}"))
    }

    /// The node's URL, for clients and children.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops the node and waits until its store is closed.
    ///
    /// # Errors
    ///
    /// [`ServeError::Task`] if the node's task panicked; the node's own error if it failed
    /// while starting, serving or closing its store (as [`run`]).
    pub async fn stop(mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await?
    }
}

/// Binds `config.listen` and `config.web` (port 0 picks a free port) and serves the node in
/// the background.
///
/// # Errors
///
/// [`ServeError::Listen`] or [`ServeError::Web`] if `config.listen` or `config.web` cannot
/// be bound; later failures come from [`Running::stop`].
pub async fn spawn(config: Config, clock: Clock) -> Result<Running, ServeError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(ServeError::listen(config.listen))?;
    let addr = listener
        .local_addr()
        .map_err(ServeError::listen(config.listen))?;
    let tls = config.tls.is_some();
    let web = match config.web {
        Some(addr) => Some(crate::web::bind(addr).await?),
        None => None,
    };
    let web_addr = web
        .as_ref()
        .map(|l| l.local_addr())
        .transpose()
        .map_err(crate::web::StartError::Address)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run_with_web(config, listener, web, clock, async {
        let _ = stopped.await;
    }));
    Ok(Running {
        addr,
        web: web_addr,
        tls,
        stop: Some(stop),
        task,
    })
}
