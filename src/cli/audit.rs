//! `audit list` (the records of a running node) and `audit verify` (the hash chain, of a
//! running node or of a stopped node's store).

use std::{io::Write, path::PathBuf};

use clap::Subcommand;
use quyhoach::{grpc::pb, store::Store};

use super::{args::NodeArgs, Out};

/// Commands on the audit trail.
#[derive(Subcommand)]
pub enum Command {
    /// List the records of a running node.
    List {
        #[command(flatten)]
        node: NodeArgs,
        /// Only records of this unit's plans.
        #[arg(long, default_value = "")]
        unit: String,
        /// Only this action (create_draft, put_entry, submit, receive_push, decide, …).
        #[arg(long, default_value = "")]
        action: String,
        /// Only records whose actor contains this text.
        #[arg(long, default_value = "")]
        actor: String,
        /// Only the latest N; 0 for all.
        #[arg(long, default_value_t = 0)]
        last: u32,
    },
    /// Verify the chain: of a stopped node's store (--data), or of a running node (--node).
    Verify {
        /// The store folder of a stopped node.
        #[arg(long)]
        data: Option<PathBuf>,
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
        Command::List {
            node,
            unit,
            action,
            actor,
            last,
        } => {
            let mut c = node.connect().await?;
            let r = c
                .audit(pb::AuditRequest {
                    unit,
                    action,
                    actor,
                    limit: last,
                })
                .await?
                .into_inner();
            for a in &r.records {
                let plan = a
                    .plan
                    .clone()
                    .map(|p| format!("{}/{}/v{}", p.unit, p.term, p.version))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{:>6} {} {:<16} {:<24} {} {}",
                    a.seq, a.at, a.action, plan, a.actor, a.detail
                )?;
            }
            writeln!(
                out,
                "{} of {} records; chain {}",
                r.records.len(),
                r.total,
                if r.intact { "intact" } else { "BROKEN" }
            )?;
            if !r.intact {
                anyhow::bail!(
                    "audit chain broken at record {}: {}",
                    r.broken_at,
                    r.problem
                );
            }
        }
        Command::Verify {
            data: Some(dir), ..
        } => {
            let store = quyhoach::store::SledStore::open(&dir)?;
            let (records, head) = store.audit()?;
            if let Some(why) = store.behind() {
                anyhow::bail!("{why}");
            }
            if let Err(b) = quyhoach::audit::verify(&records, head) {
                anyhow::bail!("audit chain broken at record {}: {}", b.position, b.problem)
            }
            writeln!(out, "audit chain intact: {} records", records.len())?;
        }
        Command::Verify { data: None, node } => {
            let mut c = node.connect().await?;
            let r = c
                .audit(pb::AuditRequest {
                    limit: 1,
                    ..Default::default()
                })
                .await?
                .into_inner();
            if !r.intact {
                anyhow::bail!(
                    "audit chain broken at record {}: {}",
                    r.broken_at,
                    r.problem
                )
            }
            writeln!(out, "audit chain intact: {} records", r.total)?;
        }
    }
    Ok(())
}
