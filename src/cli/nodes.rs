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
        /// Keep serving the nodes and the province's web page after the flow, until Ctrl-C.
        #[arg(long)]
        keep: bool,
    },
}

/// Runs one command of the family.
///
/// # Errors
///
/// When the arguments cannot be used, a file cannot be read or written, the node cannot be
/// reached, or the node refuses the request (its status is passed on).
pub async fn run(command: Command, out: &mut Out) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(*args, out).await,
        Command::Demo { data, keep } => {
            demo::run(demo::DemoOptions { data, keep }, out).await?;
            Ok(())
        }
    }
}

/// `serve`'s arguments: where the TOML file is, and the settings themselves (one field of
/// [`RawConfig`] each, so a setting is defined once for the file, the environment and flags).
#[derive(Args)]
#[command(
    after_help = "Every setting can also be given in the --config TOML file (its key is \
the flag's name with _ for -) or as an environment variable QUYHOACH_SERVE_<KEY>, e.g. \
QUYHOACH_SERVE_POLL_MS=500. Flags win over the environment, which wins over the file. \
Client commands use other variables (QUYHOACH_NODE, QUYHOACH_CA, QUYHOACH_CERT, QUYHOACH_KEY), \
which serve does not read."
)]
pub struct ServeArgs {
    /// A TOML file with the node's settings; the environment and flags override it.
    #[arg(long, env = "QUYHOACH_SERVE_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: RawConfig,
}

/// The prefix of `serve`'s environment variables.
const ENV_PREFIX: &str = "QUYHOACH_SERVE_";

/// One layer of settings given as a value (the TOML file or the flags), named so that an
/// error can say where a setting came from.
struct Layer {
    /// The layer's name, e.g. "command-line flags".
    name: String,
    /// How a key of this layer is written, e.g. `--poll-ms` for the key `poll_ms`.
    spell: fn(&str) -> String,
    /// The settings the layer sets.
    settings: RawConfig,
}

impl figment::Provider for Layer {
    fn metadata(&self) -> figment::Metadata {
        let spell = self.spell;
        figment::Metadata::named(self.name.clone())
            .interpolater(move |_: &figment::Profile, keys: &[&str]| spell(&keys.join(".")))
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        figment::providers::Serialized::defaults(&self.settings).data()
    }
}

/// The settings layered TOML file < environment < flags, then validated: a type error names
/// the key and its source; a bad value names the setting and where it was set.
fn settings(args: ServeArgs) -> anyhow::Result<quyhoach::config::Config> {
    let mut figment = figment::Figment::new();
    if let Some(path) = &args.config {
        figment = figment.merge(Layer {
            name: format!("config file {}", path.display()),
            spell: |key| format!("key {key}"),
            settings: RawConfig::from_file(path)?,
        });
    }
    let figment = figment
        .merge(figment::providers::Env::prefixed(ENV_PREFIX).ignore(&["config"]))
        .merge(Layer {
            name: "command-line flags".into(),
            spell: |key| format!("--{}", key.replace('_', "-")),
            settings: args.settings,
        });
    let raw: RawConfig = figment
        .extract()
        .map_err(|e| anyhow::anyhow!("bad configuration: {e}"))?;
    raw.validate().map_err(|e| {
        let sources: Vec<String> = e
            .keys()
            .into_iter()
            .filter_map(|key| {
                let md = figment.find_metadata(key)?;
                let spelled = md.interpolate(&figment::Profile::Default, &[key]);
                Some(if md.name.contains("environment") {
                    format!("{key} from environment variable {ENV_PREFIX}{spelled}")
                } else if md.name.starts_with("config file") {
                    format!("{key} from {}", md.name)
                } else {
                    format!("{key} from {spelled}")
                })
            })
            .collect();
        let mut line = format!("bad configuration: {e}");
        if let Some(cause) = std::error::Error::source(&e) {
            line.push_str(&format!(": {cause}"));
        }
        if !sources.is_empty() {
            line.push_str(&format!(" ({})", sources.join("; ")));
        }
        anyhow::Error::msg(line)
    })
}

async fn serve(args: ServeArgs, out: &mut Out) -> anyhow::Result<()> {
    let config = settings(args)?;
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
    server::run(config, listener, system_clock(), shutdown_signal()).await?;
    Ok(())
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
