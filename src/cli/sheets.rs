//! Spreadsheets: `import` (a unit's list from .xlsx or .csv into its draft, all rows or none)
//! `export` (the consolidated list, a plan or the findings as .xlsx, .csv or .json) and
//! `template` (a blank list in the official layout). The work itself is in [`jobs`].

mod jobs;

use std::path::PathBuf;

use clap::Subcommand;
use jobs::{ExportJob, ImportJob, What};

use super::{args::NodeArgs, Out};

/// Commands on spreadsheets.
#[derive(Subcommand)]
pub enum Command {
    /// Import a unit's list from .xlsx or .csv into its draft (all rows or none).
    Import {
        /// The spreadsheet.
        file: PathBuf,
        /// The unit whose list it is.
        #[arg(long)]
        unit: String,
        /// The term, e.g. 2025-2030.
        #[arg(long)]
        term: String,
        /// Check every row and report, with the difference against the draft when the node
        /// answers; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Make the draft's list exactly the file's (a corrected list), instead of adding the
        /// file's entries to it.
        #[arg(long)]
        replace: bool,
        /// The worksheet to read, when several visible sheets hold a list.
        #[arg(long)]
        sheet: Option<String>,
        /// Units file to resolve unit names against.
        #[arg(long, default_value = "builtin:2024")]
        units: String,
        /// With vote counts in the list: the date of the round that produced them.
        #[arg(long)]
        round_date: Option<String>,
        /// ... the members convened.
        #[arg(long)]
        convened: Option<u32>,
        /// ... and present.
        #[arg(long)]
        present: Option<u32>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Export the consolidated list, a unit's plan or the findings to .xlsx, .csv or .json.
    Export {
        #[command(flatten)]
        node: NodeArgs,
        /// What to export.
        #[arg(long, value_enum)]
        what: What,
        /// The output file; its extension picks the format.
        #[arg(long)]
        out: PathBuf,
        /// The unit (subtree for consolidated and findings; the plan's unit for plan).
        #[arg(long, default_value = "")]
        unit: String,
        /// The term.
        #[arg(long, default_value = "")]
        term: String,
        /// For the consolidated list in .xlsx: one sheet per unit.
        #[arg(long)]
        per_unit: bool,
        /// For a plan: flat (one header row) or official (as offices send it up; .xlsx).
        #[arg(long, value_enum, default_value = "flat")]
        layout: jobs::Layout,
    },
    /// Write a blank list to fill in: the official layout with drop-downs and checks.
    Template {
        /// The unit whose list it is.
        #[arg(long)]
        unit: String,
        /// The term, e.g. 2025-2030.
        #[arg(long)]
        term: String,
        /// The output .xlsx file.
        #[arg(long)]
        out: PathBuf,
        /// Units file the unit is looked up in.
        #[arg(long, default_value = "builtin:2024")]
        units: String,
    },
}

/// Runs one command of the family.
///
/// # Errors
///
/// When the arguments cannot be used, a file cannot be read or written, the node cannot be
/// reached, or the node refuses the request (its status is passed on).
pub async fn run(command: Command, stdout: &mut Out) -> anyhow::Result<()> {
    match command {
        Command::Import {
            file,
            unit,
            term,
            dry_run,
            replace,
            sheet,
            units,
            round_date,
            convened,
            present,
            node,
        } => {
            let round = match (round_date, convened, present) {
                (Some(d), Some(c), Some(p)) => {
                    Some((quyhoach::domain::parse_date("round_date", &d)?, c, p))
                }
                (None, None, None) => None,
                _ => anyhow::bail!("give --round-date, --convened and --present together"),
            };
            let job = ImportJob {
                file: &file,
                unit: &unit,
                term: &term,
                units: &units,
                dry_run,
                sheet: sheet.as_deref(),
                round,
                replace,
            };
            if dry_run {
                // A dry run needs no node; with one, it also shows the difference.
                let mut c = node.connect().await.ok();
                jobs::import(job, c.as_mut(), stdout).await?;
            } else {
                let mut c = node.connect().await?;
                jobs::import(job, Some(&mut c), stdout).await?;
            }
        }
        Command::Export {
            node,
            what,
            out,
            unit,
            term,
            per_unit,
            layout,
        } => {
            let job = ExportJob {
                what,
                out: &out,
                unit: &unit,
                term: &term,
                per_unit,
                layout,
            };
            // Arguments that cannot work are refused before the node is asked anything.
            job.check()?;
            let mut c = node.connect().await?;
            jobs::export(&mut c, job, stdout).await?;
        }
        Command::Template {
            unit,
            term,
            out,
            units,
        } => jobs::template(&unit, &term, &units, &out, stdout)?,
    }
    Ok(())
}
