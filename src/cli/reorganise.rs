//! `reorganize`: a province moves its nodes to the next structure of units (the reorganisation
//! of 1 July 2025, or a later one a deployment ships), after a dry run that says what becomes
//! of every plan. The procedure is in `docs/reorganisation.md`.

use std::io::Write;

use clap::Subcommand;
use quyhoach::grpc::pb;

use super::{args::NodeArgs, progress::Progress, Out};

/// The reorganisation of a province's units.
#[derive(Subcommand)]
pub enum Command {
    /// Move a province's node (and, through it, every node below) to the next structure of
    /// units; with --dry-run, only list every plan of the province and what becomes of it.
    Reorganize {
        #[command(flatten)]
        node: NodeArgs,
        /// The structure to move to: builtin:2025 (the two-level structure), or the label of
        /// a later one the node was given with `serve --reorganisation FILE` (e.g. 2027).
        #[arg(long)]
        to: String,
        /// The day it takes effect, YYYY-MM-DD (2025-07-01 for builtin:2025; a later
        /// structure's `on`).
        #[arg(long)]
        on: String,
        /// Change nothing: list what would become of each plan.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs one command of the family.
///
/// # Errors
///
/// When the node cannot be reached, or refuses the request (its status is passed on).
pub async fn run(command: Command, out: &mut Out) -> anyhow::Result<()> {
    match command {
        Command::Reorganize {
            node,
            to,
            on,
            dry_run,
        } => {
            let mut c = node.connect().await?;
            // Applying moves every plan of the province and restarts its view: long work.
            let progress = Progress::start(&if dry_run {
                format!("listing what {to} makes of every plan")
            } else {
                format!("reorganising {} into {to}", node.node)
            });
            let request = pb::ReorganizeRequest { to, on, dry_run };
            let r = progress.during(c.reorganize(request)).await?.into_inner();
            writeln!(
                out,
                "structure {} -> {} on {}{}",
                r.from,
                r.to,
                r.on,
                if r.applied {
                    ": applied"
                } else {
                    " (dry run: nothing changed)"
                }
            )?;
            writeln!(out, "UNIT\tTERM\tV\tSTATUS\tHELD BY\tNAME\tBECOMES")?;
            for p in &r.plans {
                let id = p.plan.clone().unwrap_or_default();
                let status = pb::PlanStatus::try_from(p.status)
                    .map(|s| {
                        s.as_str_name()
                            .trim_start_matches("PLAN_STATUS_")
                            .to_lowercase()
                    })
                    .unwrap_or_default();
                let becomes = match p.fate.as_str() {
                    "stays" => "stays".to_string(),
                    "source" => format!("read-only source of {}", p.into.join(" ")),
                    _ if p.pending_at == p.decided_by => {
                        format!("pending at {}, decided there", p.pending_at)
                    }
                    _ => format!("pending at {}, re-routed to {}", p.pending_at, p.decided_by),
                };
                writeln!(
                    out,
                    "{}\t{}\t{}\t{status}\t{}\t{}\t{becomes}",
                    id.unit, id.term, id.version, p.held_by, p.name
                )?;
            }
            let count = |f: &str| r.plans.iter().filter(|p| p.fate == f).count();
            writeln!(
                out,
                "{} plans: {} stay, {} become sources, {} pending",
                r.plans.len(),
                count("stays"),
                count("source"),
                count("pending")
            )?;
        }
    }
    Ok(())
}
