//! What every section uses: the reference data, nodes in this process and as child processes,
//! gRPC channels, and small measures (percentiles, sizes on disk, units).

use std::{path::Path, process::Stdio, time::Duration};

use quyhoach::{
    config::{self, RawConfig},
    domain::{Catalog, Hierarchy, Level, Plan, Unit},
    grpc::{convert::plan_to_pb, pb},
    node::system_clock,
    rules::RulesFile,
    server::{self, Running},
};
use tokio::io::AsyncBufReadExt;
use tonic::transport::{Channel, Endpoint};

use crate::PROVINCE;

/// The units and catalogue of the built-in reference data.
pub struct Reference {
    pub hierarchy: Hierarchy,
    pub catalog: Catalog,
    pub rules: RulesFile,
}

pub fn reference() -> anyhow::Result<Reference> {
    let config = RawConfig {
        unit: Some(PROVINCE.into()),
        data: Some(std::env::temp_dir()),
        units: Some("builtin:2024".into()),
        insecure: Some(true),
        ..RawConfig::default()
    }
    .validate()
    .map_err(anyhow::Error::msg)?;
    Ok(Reference {
        hierarchy: config::load_units("builtin:2024").map_err(anyhow::Error::msg)?,
        catalog: config.catalog.as_ref().clone(),
        rules: config.rules.clone(),
    })
}

/// Starts a node in this process on a free loopback port. Every in-process node of the
/// benchmark starts here, so that a new setting (TLS) is added in one place.
pub async fn start_node(
    unit: &str,
    data: &Path,
    parent: Option<String>,
) -> anyhow::Result<Running> {
    let config = RawConfig {
        unit: Some(unit.into()),
        listen: Some("127.0.0.1:0".into()),
        data: Some(data.to_path_buf()),
        parent,
        units: Some("builtin:2024".into()),
        poll_ms: Some(100),
        // Plaintext, and no per-peer rate limit to speak of: the benchmark measures the node,
        // not TLS handshakes or the limiter (every in-process child shares 127.0.0.1).
        insecure: Some(true),
        rate_limit: Some(10_000_000),
        ..RawConfig::default()
    }
    .validate()
    .map_err(anyhow::Error::msg)?;
    Ok(server::spawn(config, system_clock()).await?)
}

/// A node running as a child `quyhoach serve` process, so that its memory can be read alone.
pub struct Process {
    child: tokio::process::Child,
    pub url: String,
    /// The node's web page (`serve --web`).
    pub web: String,
}

/// A node's certificate, key and authority files, for a node served over mutual TLS.
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    pub ca: std::path::PathBuf,
}

/// Starts `quyhoach serve --insecure` for `unit` on a free port and waits until it listens.
pub async fn serve_process(unit: &str, data: &Path) -> anyhow::Result<Process> {
    serve_process_with(unit, data, None).await
}

/// Starts `quyhoach serve` for `unit` on a free port, over mutual TLS with `tls` (its node
/// certificate: it can then sign and verify bundles) or else `--insecure`, and waits until it
/// listens. [`Process::url`] is `http://ADDR` either way; a TLS client connects to the address.
pub async fn serve_process_with(
    unit: &str,
    data: &Path,
    tls: Option<&TlsFiles>,
) -> anyhow::Result<Process> {
    let web = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_quyhoach"));
    command.args([
        "serve",
        "--unit",
        unit,
        "--listen",
        "127.0.0.1:0",
        "--rate-limit",
        "10000000",
        "--web",
        &web.to_string(),
    ]);
    match tls {
        Some(t) => command
            .arg("--cert")
            .arg(&t.cert)
            .arg("--key")
            .arg(&t.key)
            .arg("--ca")
            .arg(&t.ca),
        None => command.arg("--insecure"),
    };
    let mut child = command
        .arg("--data")
        .arg(data)
        // `QUYHOACH_BENCH_CHILD_LOG=warn,quyhoach::memory=info` shows the node's memory at
        // each of its steps (view built, live findings, full check).
        .env(
            "RUST_LOG",
            std::env::var("QUYHOACH_BENCH_CHILD_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(addr) = line.split("listening on ").nth(1) {
            let url = format!("http://{}", addr.trim());
            // Keep draining stdout so that the child never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            let web = format!("http://{web}");
            return Ok(Process { child, url, web });
        }
    }
    anyhow::bail!("quyhoach serve exited before listening")
}

impl Process {
    /// A line of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
    pub fn status_kib(&self, key: &str) -> Option<u64> {
        let pid = self.child.id()?;
        proc_kib(&format!("/proc/{pid}/status"), key)
    }

    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SIGTERM: the node stops serving and closes its store.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        let _ = self.child.kill().await;
    }
}

pub fn proc_kib(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub async fn channel(url: &str) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(url.to_string())?
        .timeout(Duration::from_secs(600))
        .connect()
        .await?)
}

/// The folder's size on disk, every file below it.
pub fn disk_size(dir: &Path) -> u64 {
    let Ok(read) = std::fs::read_dir(dir) else {
        return 0;
    };
    read.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

pub fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

pub fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// The districts of `province` with at least `communes` communes, in code order.
pub fn districts_with<'a>(h: &'a Hierarchy, province: &str, communes: usize) -> Vec<&'a Unit> {
    h.children(province)
        .iter()
        .filter_map(|c| h.get(c))
        .filter(|u| u.level == Level::District && h.children(&u.code).len() >= communes)
        .collect()
}

pub fn push_request(from: &str, plan: &Plan) -> pb::PushRequest {
    pb::PushRequest {
        from_unit: from.to_string(),
        plan: Some(plan_to_pb(plan)),
        ..Default::default()
    }
}
