//! Prometheus metrics. The `metrics` facade records; one process-wide Prometheus recorder keeps
//! the values (each series labelled with the node's unit, so several nodes in one process stay
//! apart); [`serve`] answers `GET /metrics` on its own port with axum.

use std::{net::SocketAddr, sync::OnceLock};

use axum::{http::header, routing::get, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("no other metrics recorder is installed in this process")
    })
}

/// The Prometheus text format of every series, as `GET /metrics` returns it.
async fn render() -> impl axum::response::IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
}

/// Serves `GET /metrics` (Prometheus text format) on `listener` until the task is aborted;
/// any other path is 404.
pub async fn serve(listener: TcpListener) {
    let app = Router::new().route("/metrics", get(render));
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!(error = %e, "metrics endpoint stopped");
    }
}

/// Binds the metrics address and serves it in the background; returns the bound address.
///
/// # Errors
///
/// When the address cannot be bound.
pub async fn spawn(addr: SocketAddr) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    handle();
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    Ok((bound, tokio::spawn(serve(listener))))
}
