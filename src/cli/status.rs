//! `status` (a node's sync links, conflicts and counters) and `units` (the units under a node).

use std::io::Write;

use clap::Subcommand;
use quyhoach::{client::table, grpc::pb};

use super::{args::NodeArgs, Out};

/// What a node knows of itself.
#[derive(Subcommand)]
pub enum Command {
    /// List the units under a node (or under --under).
    Units {
        #[command(flatten)]
        node: NodeArgs,
        /// The unit whose subtree to list; the node's own by default.
        #[arg(long, default_value = "")]
        under: String,
    },
    /// The node's sync links (parent and children), conflicts and counters.
    Status {
        #[command(flatten)]
        node: NodeArgs,
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
        Command::Units { node, under } => {
            let mut c = node.connect().await?;
            let units = c
                .list_units(pb::ListUnitsRequest { under, level: 0 })
                .await?
                .into_inner()
                .units;
            for u in units {
                writeln!(
                    out,
                    "{:<6} {:<9} {:<6} {}",
                    u.code,
                    table::level_name(u.level),
                    u.parent_code,
                    u.name
                )?;
            }
            Ok(())
        }
        Command::Status { node } => {
            let mut c = node.connect().await?;
            let s = c.sync_status(pb::SyncStatusRequest {}).await?.into_inner();
            table::print_status(out, &s)?;
            Ok(())
        }
    }
}
