//! The arguments every client command shares: where the node is and who is asking (`--node`,
//! `--ca`, `--cert`, `--key`), which plan (`--unit`, `--term`), and which plans (`--under`,
//! `--term`).

use std::path::PathBuf;

use clap::Args;
use quyhoach::{
    client::ConnectError,
    config::Tls,
    grpc::pb::{self, planning_client::PlanningClient},
};
use tonic::transport::Channel;

/// Where the node is and the TLS identity to show it.
#[derive(Args)]
pub struct NodeArgs {
    /// Address of the node, e.g. 127.0.0.1:7400.
    #[arg(long, env = "QUYHOACH_NODE", default_value = "127.0.0.1:7400")]
    pub node: String,
    /// The certificate authority to trust (PEM); with --cert and --key, the call uses TLS.
    #[arg(long, env = "QUYHOACH_CA")]
    pub ca: Option<PathBuf>,
    /// Your certificate (PEM), naming your unit and roles.
    #[arg(long, env = "QUYHOACH_CERT")]
    pub cert: Option<PathBuf>,
    /// Your private key (PEM).
    #[arg(long, env = "QUYHOACH_KEY")]
    pub key: Option<PathBuf>,
}

impl NodeArgs {
    /// Connects to the node's client-facing API, over TLS when all three files are given.
    ///
    /// # Errors
    ///
    /// When only some of the three files are given or one cannot be read, `--node` is not an
    /// address, or the node cannot be reached.
    pub async fn connect(&self) -> anyhow::Result<PlanningClient<Channel>> {
        let tls = match (&self.ca, &self.cert, &self.key) {
            (Some(ca), Some(cert), Some(key)) => Some(Tls::read(cert, key, ca)?),
            (None, None, None) => None,
            _ => anyhow::bail!(
                "give all of --ca, --cert and --key for TLS, or none for a plaintext node"
            ),
        };
        quyhoach::client::connect(&self.node, tls.as_ref())
            .await
            .map_err(|e| match e {
                ConnectError::BadAddress { .. } => anyhow::Error::new(e).context("--node"),
                other => other.into(),
            })
    }
}

/// Which plans a listing or a check reads: a unit's subtree and a term, each everything when
/// left out.
#[derive(Args)]
pub struct SubtreeArgs {
    /// Only plans of this unit's subtree.
    #[arg(long, default_value = "")]
    pub under: String,
    /// Only plans of this term.
    #[arg(long, default_value = "")]
    pub term: String,
}

/// A plan's unit and term, on a node.
#[derive(Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The unit's code.
    #[arg(long)]
    pub unit: String,
    /// The term, e.g. 2025-2030.
    #[arg(long)]
    pub term: String,
}

impl PlanArgs {
    /// Version `version` of the plan, as the API names it.
    pub fn version(&self, version: u32) -> pb::PlanId {
        pb::PlanId {
            unit: self.unit.clone(),
            term: self.term.clone(),
            version,
        }
    }
}
