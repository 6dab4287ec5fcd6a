//! Nodes: `serve` runs one, `demo` runs the demonstration hierarchy on loopback.

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use quyhoach::{config::RawConfig, demo, node::system_clock, server};

use super::Out;

/// Commands that run nodes.
#[derive(Subcommand)]
pub enum Command {
    /// Run a node.
    Serve(Box<ServeArgs>),
    /// Run a province, two districts and four communes on loopback through the whole flow.
    Demo {
        /// Keep the nodes' stores in this folder instead of a temporary one.
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

/// Runs one command of the family.
pub async fn run(command: Command, out: &mut Out) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(*args, out).await,
        Command::Demo { data } => demo::run(demo::DemoOptions { data }).await.map(|_| ()),
    }
}

#[derive(Args)]
pub struct ServeArgs {
    /// A TOML file with the node's settings; flags and environment override it.
    #[arg(long, env = "QUYHOACH_CONFIG")]
    config: Option<PathBuf>,
    /// province, district or commune (checked against the unit).
    #[arg(long, env = "QUYHOACH_LEVEL")]
    level: Option<String>,
    /// Code of the unit this node serves.
    #[arg(long, env = "QUYHOACH_UNIT")]
    unit: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "QUYHOACH_LISTEN")]
    listen: Option<String>,
    /// Folder of the node's store.
    #[arg(long, env = "QUYHOACH_DATA")]
    data: Option<PathBuf>,
    /// URL of the parent node (below the province).
    #[arg(long, env = "QUYHOACH_PARENT")]
    parent: Option<String>,
    /// Units file, or builtin:2024 (default, three levels) / builtin:2025 (two levels).
    #[arg(long, env = "QUYHOACH_UNITS")]
    units: Option<String>,
    /// Folder with positions.csv and terms.csv.
    #[arg(long, env = "QUYHOACH_REFERENCE")]
    reference: Option<PathBuf>,
    /// How often to pull decisions from the parent, in milliseconds.
    #[arg(long, env = "QUYHOACH_POLL_MS")]
    poll_ms: Option<u64>,
    /// The rules file (TOML); the shipped data/rules.toml by default.
    #[arg(long, env = "QUYHOACH_RULES_FILE")]
    rules_file: Option<PathBuf>,
    /// Serve plaintext without authentication (only for trying things out).
    #[arg(long, env = "QUYHOACH_INSECURE")]
    insecure: bool,
    /// The node's certificate (PEM), from `quyhoach certs node`.
    #[arg(long, env = "QUYHOACH_CERT")]
    cert: Option<PathBuf>,
    /// The node's private key (PEM).
    #[arg(long, env = "QUYHOACH_KEY")]
    key: Option<PathBuf>,
    /// The certificate authority to trust (PEM).
    #[arg(long, env = "QUYHOACH_CA")]
    ca: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, env = "QUYHOACH_METRICS")]
    metrics: Option<String>,
    /// Requests per second each peer may make (health checks are exempt); 200 by default.
    #[arg(long, env = "QUYHOACH_RATE_LIMIT")]
    rate_limit: Option<u32>,
    /// The longest wait between retries to an unreachable parent, in milliseconds.
    #[arg(long, env = "QUYHOACH_RETRY_MAX_MS")]
    retry_max_ms: Option<u64>,
    /// After how many seconds a link with pending items is reported as stuck.
    #[arg(long, env = "QUYHOACH_STUCK_AFTER_SECS")]
    stuck_after_secs: Option<u64>,
}

async fn serve(args: ServeArgs, out: &mut Out) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => RawConfig::from_file(path).map_err(anyhow::Error::msg)?,
        None => RawConfig::default(),
    };
    let flags = RawConfig {
        level: args.level,
        unit: args.unit,
        listen: args.listen,
        data: args.data,
        parent: args.parent,
        units: args.units,
        reference: args.reference,
        poll_ms: args.poll_ms,
        stuck_after_secs: args.stuck_after_secs,
        retry_max_ms: args.retry_max_ms,
        insecure: args.insecure.then_some(true),
        cert: args.cert,
        key: args.key,
        ca: args.ca,
        rate_limit: args.rate_limit,
        metrics: args.metrics,
        rules_file: args.rules_file,
    };
    let config = file
        .overlay(flags)
        .validate()
        .map_err(|e| anyhow::anyhow!("bad configuration: {e}"))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    writeln!(
        out,
        "quyhoach node {} ({}) listening on {}",
        config.unit.code,
        config.unit.name,
        listener.local_addr()?
    )?;
    out.flush()?;
    server::run(config, listener, system_clock(), shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
