//! The `quyhoach` command: `serve` runs a node, `demo` runs the demonstration hierarchy, and
//! the other subcommands are clients of a running node (`--node ADDR`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use quyhoach::{
    auth::Role,
    client,
    config::RawConfig,
    demo,
    grpc::pb,
    grpc::pb::planning_client::PlanningClient,
    node::system_clock,
    pki::{self, Authority, Subject},
    server,
};
use tonic::transport::Channel;

#[derive(Parser)]
#[command(
    name = "quyhoach",
    version,
    about = "Cadre planning lists kept in step across levels of government"
)]
struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node.
    Serve(ServeArgs),
    /// Create a certificate authority and certificates for nodes and people.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Run a province, two districts and four communes on loopback through the whole flow.
    Demo {
        /// Keep the nodes' stores in this folder instead of a temporary one.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// List the units under a node (or under --under).
    Units {
        #[command(flatten)]
        node: NodeArg,
        #[arg(long, default_value = "")]
        under: String,
    },
    /// Open a draft plan for (unit, term).
    Draft(PlanArgs),
    /// Put a unit's entries and ballot rounds from CSV files (the format of data/demo/) into its draft.
    Load {
        #[command(flatten)]
        plan: PlanArgs,
        #[arg(long)]
        entries: PathBuf,
        #[arg(long)]
        rounds: PathBuf,
    },
    /// Adopt the draft (freezes it and fixes its hash).
    Adopt {
        #[command(flatten)]
        plan: PlanArgs,
        /// Date of adoption (YYYY-MM-DD); today by default.
        #[arg(long, default_value = "")]
        on: String,
    },
    /// Submit the adopted version to the approving level.
    Submit(PlanArgs),
    /// List plans held by a node.
    Plans {
        #[command(flatten)]
        node: NodeArg,
        #[arg(long, default_value = "")]
        under: String,
        #[arg(long, default_value = "")]
        term: String,
    },
    /// Show one plan version (the latest by default).
    Plan {
        #[command(flatten)]
        plan: PlanArgs,
        #[arg(long, default_value_t = 0)]
        version: u32,
    },
    /// Approve or return a plan (on the approving node).
    Decide {
        #[command(flatten)]
        plan: PlanArgs,
        #[arg(long)]
        version: u32,
        /// Return the plan instead of approving it.
        #[arg(long = "return")]
        return_: bool,
        /// A reason (repeatable); a return needs one, or a cited finding.
        #[arg(long)]
        reason: Vec<String>,
        /// The ID of a finding the return cites (repeatable).
        #[arg(long)]
        cite: Vec<String>,
    },
    /// Run the consistency checks (R1–R22) over the plans a node holds.
    Check {
        #[command(flatten)]
        node: NodeArg,
        #[arg(long, default_value = "")]
        under: String,
        #[arg(long, default_value = "")]
        term: String,
        /// Only this rule (repeatable), e.g. --rule R3.
        #[arg(long)]
        rule: Vec<String>,
        /// Only errors or only warnings.
        #[arg(long, value_parser = ["error", "warning"])]
        severity: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Accept a warning on a plan with a written justification.
    Accept {
        #[command(flatten)]
        plan: PlanArgs,
        #[arg(long)]
        version: u32,
        /// The finding's ID, as `check` prints it.
        #[arg(long)]
        finding: String,
        #[arg(long)]
        justification: String,
        /// The official accepting it.
        #[arg(long)]
        by: String,
    },
    /// Units that have not submitted for a term, and overdue appraisals (R17).
    Completeness {
        #[command(flatten)]
        node: NodeArg,
        #[arg(long, default_value = "")]
        under: String,
        #[arg(long)]
        term: String,
    },
    /// Import a unit's list from .xlsx or .csv into its draft (all rows or none).
    Import {
        /// The spreadsheet.
        file: PathBuf,
        #[arg(long)]
        unit: String,
        #[arg(long)]
        term: String,
        /// Check every row and report; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Units file to resolve unit names against.
        #[arg(long, default_value = "builtin:2024")]
        units: String,
        /// With vote counts in the list: the date of the round that produced them.
        #[arg(long)]
        round_date: Option<String>,
        /// ... the members convened, and present.
        #[arg(long)]
        convened: Option<u32>,
        #[arg(long)]
        present: Option<u32>,
        #[command(flatten)]
        node: NodeArg,
    },
    /// Export the consolidated list, a unit's plan or the findings to .xlsx, .csv or .json.
    Export {
        #[command(flatten)]
        node: NodeArg,
        #[arg(long, value_enum)]
        what: quyhoach::sheets::What,
        /// The output file; its extension picks the format.
        #[arg(long)]
        out: PathBuf,
        /// The unit (subtree for consolidated and findings; the plan's unit for plan).
        #[arg(long, default_value = "")]
        unit: String,
        #[arg(long, default_value = "")]
        term: String,
        /// For the consolidated list in .xlsx: one sheet per unit.
        #[arg(long)]
        per_unit: bool,
    },
    /// The audit trail: list it, or verify its hash chain.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The node's sync links (parent and children), conflicts and counters.
    Status {
        #[command(flatten)]
        node: NodeArg,
    },
    /// The consolidated list of entries under a node, in Vietnamese order.
    Consolidated {
        #[command(flatten)]
        node: NodeArg,
        #[arg(long, default_value = "")]
        term: String,
        #[arg(long, default_value = "")]
        position: String,
        /// Part of a name; case and diacritics are ignored.
        #[arg(long, default_value = "")]
        name: String,
    },
}

#[derive(Subcommand)]
enum CertsCommand {
    /// A new certificate authority (one per province): DIR/ca.pem and DIR/ca.key.
    Ca {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "quyhoach CA")]
        name: String,
        #[arg(long, default_value_t = 3650)]
        days: i64,
    },
    /// A node certificate for a unit: DIR/nodes/UNIT.pem and .key.
    Node {
        /// The folder holding ca.pem and ca.key.
        #[arg(long)]
        ca_dir: PathBuf,
        #[arg(long)]
        unit: String,
        /// Host names or IP addresses the node is reached at (repeatable); localhost and
        /// 127.0.0.1 are always included.
        #[arg(long)]
        host: Vec<String>,
        #[arg(long, default_value_t = 825)]
        days: i64,
    },
    /// A personal certificate: DIR/clients/NAME.pem and .key.
    Client {
        #[arg(long)]
        ca_dir: PathBuf,
        #[arg(long)]
        unit: String,
        /// clerk, approver, reader or admin (repeatable).
        #[arg(long, required = true)]
        role: Vec<String>,
        /// The holder's full name.
        #[arg(long)]
        name: String,
        /// File name stem; the unit and first role by default.
        #[arg(long)]
        stem: Option<String>,
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Everything a set of units needs: the authority (if absent), a node certificate per unit,
    /// and per unit an operator certificate with the clerk, approver and reader roles.
    Hierarchy {
        #[arg(long)]
        out: PathBuf,
        /// A unit code (repeatable).
        #[arg(long, required = true)]
        unit: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// List the records of a running node.
    List {
        #[command(flatten)]
        node: NodeArg,
        /// Only records of this unit's plans.
        #[arg(long, default_value = "")]
        unit: String,
        /// Only this action (create_draft, put_entry, submit, receive_push, decide, …).
        #[arg(long, default_value = "")]
        action: String,
        /// Only records whose actor contains this text.
        #[arg(long, default_value = "")]
        actor: String,
        /// Only the latest N.
        #[arg(long, default_value_t = 0)]
        last: u32,
    },
    /// Verify the chain: of a stopped node's store (--data), or of a running node (--node).
    Verify {
        /// The store folder of a stopped node.
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArg,
    },
}

#[derive(Args)]
struct NodeArg {
    /// Address of the node, e.g. 127.0.0.1:7400.
    #[arg(long, env = "QUYHOACH_NODE", default_value = "127.0.0.1:7400")]
    node: String,
    /// The certificate authority to trust (PEM); with --cert and --key, the call uses TLS.
    #[arg(long, env = "QUYHOACH_CA")]
    ca: Option<PathBuf>,
    /// Your certificate (PEM), naming your unit and roles.
    #[arg(long, env = "QUYHOACH_CERT")]
    cert: Option<PathBuf>,
    /// Your private key (PEM).
    #[arg(long, env = "QUYHOACH_KEY")]
    key: Option<PathBuf>,
}

impl NodeArg {
    async fn connect(&self) -> anyhow::Result<PlanningClient<Channel>> {
        let tls = match (&self.ca, &self.cert, &self.key) {
            (Some(ca), Some(cert), Some(key)) => Some(client::ClientTls::load(ca, cert, key)?),
            (None, None, None) => None,
            _ => anyhow::bail!(
                "give all of --ca, --cert and --key for TLS, or none for a plaintext node"
            ),
        };
        client::connect(&self.node, tls.as_ref()).await
    }
}

#[derive(Args)]
struct PlanArgs {
    #[command(flatten)]
    node: NodeArg,
    #[arg(long)]
    unit: String,
    #[arg(long)]
    term: String,
}

#[derive(Args)]
struct ServeArgs {
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

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The demo prints its own story; its nodes' logs would drown it.
    let default_filter = if matches!(cli.command, Command::Demo { .. }) {
        "warn"
    } else {
        "warn,quyhoach=info"
    };
    init_tracing(cli.log_json, default_filter);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<tonic::Status>() {
                Some(status) => eprintln!("error: {:?}: {}", status.code(), status.message()),
                None => eprintln!("error: {e:#}"),
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(json: bool, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(quyhoach::logging::RedactedStderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Certs(c) => certs(c),
        Command::Import {
            file,
            unit,
            term,
            dry_run,
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
            let job = quyhoach::sheets::ImportJob {
                file: &file,
                unit: &unit,
                term: &term,
                units: &units,
                dry_run,
                round,
            };
            if dry_run {
                quyhoach::sheets::import(job, None).await?;
            } else {
                let mut c = node.connect().await?;
                quyhoach::sheets::import(job, Some(&mut c)).await?;
            }
            Ok(())
        }
        Command::Export {
            node,
            what,
            out,
            unit,
            term,
            per_unit,
        } => {
            let mut c = node.connect().await?;
            quyhoach::sheets::export(&mut c, what, &out, &unit, &term, per_unit).await?;
            Ok(())
        }
        Command::Demo { data } => demo::run(demo::DemoOptions { data }).await.map(|_| ()),
        Command::Units { node, under } => {
            let mut c = node.connect().await?;
            let units = c
                .list_units(pb::ListUnitsRequest { under, level: 0 })
                .await?
                .into_inner()
                .units;
            for u in units {
                println!(
                    "{:<6} {:<9} {:<6} {}",
                    u.code,
                    level_name(u.level),
                    u.parent_code,
                    u.name
                );
            }
            Ok(())
        }
        Command::Draft(p) => {
            let mut c = p.node.connect().await?;
            let plan = c
                .create_draft(pb::CreateDraftRequest {
                    unit: p.unit,
                    term: p.term,
                })
                .await?
                .into_inner();
            let id = plan.id.unwrap_or_default();
            println!(
                "draft {}/{} v{} ({} entries)",
                id.unit,
                id.term,
                id.version,
                plan.entries.len()
            );
            Ok(())
        }
        Command::Load {
            plan,
            entries,
            rounds,
        } => {
            let read = |p: &PathBuf| {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
            };
            let entries = client::parse_entries(&read(&entries)?)?;
            let rounds = client::parse_rounds(&read(&rounds)?)?;
            let mut c = plan.node.connect().await?;
            let n = client::load_unit(&mut c, &plan.unit, &plan.term, &entries, &rounds).await?;
            println!(
                "loaded {n} entries into the draft of {}/{}",
                plan.unit, plan.term
            );
            Ok(())
        }
        Command::Adopt { plan, on } => {
            let mut c = plan.node.connect().await?;
            let p = c
                .adopt_plan(pb::AdoptPlanRequest {
                    unit: plan.unit,
                    term: plan.term,
                    adopted_on: on,
                })
                .await?
                .into_inner();
            let id = p.id.unwrap_or_default();
            println!(
                "adopted {}/{} v{} hash {}",
                id.unit, id.term, id.version, p.hash
            );
            Ok(())
        }
        Command::Submit(p) => {
            let mut c = p.node.connect().await?;
            let r = c
                .submit_plan(pb::SubmitPlanRequest {
                    unit: p.unit,
                    term: p.term,
                })
                .await?
                .into_inner();
            let s = r.plan.unwrap_or_default();
            let id = s.id.unwrap_or_default();
            println!(
                "submitted {}/{} v{} to {} (hash {})",
                id.unit, id.term, id.version, r.approver, s.hash
            );
            Ok(())
        }
        Command::Plans { node, under, term } => {
            let mut c = node.connect().await?;
            let plans = c
                .list_plans(pb::ListPlansRequest {
                    under,
                    term,
                    ..Default::default()
                })
                .await?
                .into_inner()
                .plans;
            println!(
                "{:<6} {:<10} {:<3} {:<10} {:>7}  hash",
                "unit", "term", "v", "status", "entries"
            );
            for s in plans {
                let id = s.id.unwrap_or_default();
                println!(
                    "{:<6} {:<10} v{:<2} {:<10} {:>7}  {}",
                    id.unit,
                    id.term,
                    id.version,
                    client::status_name(s.status),
                    s.entries,
                    s.hash
                );
            }
            Ok(())
        }
        Command::Plan { plan, version } => {
            let mut c = plan.node.connect().await?;
            let p = c
                .get_plan(pb::GetPlanRequest {
                    unit: plan.unit,
                    term: plan.term,
                    version,
                })
                .await?
                .into_inner();
            let id = p.id.clone().unwrap_or_default();
            println!(
                "{}/{} v{}: {} hash {}",
                id.unit,
                id.term,
                id.version,
                client::status_name(p.status),
                p.hash
            );
            if let Some(d) = &p.decision {
                println!(
                    "decision by {} at {}: {:?} {}",
                    d.decided_by,
                    d.decided_at,
                    pb::Outcome::try_from(d.outcome).unwrap_or_default(),
                    d.reasons.join("; ")
                );
            }
            for e in &p.entries {
                let c = e.cadre.clone().unwrap_or_default();
                println!("  {:<12} {:<28} {}", e.position, c.full_name, c.birth_date);
            }
            println!("{} ballot round(s)", p.rounds.len());
            Ok(())
        }
        Command::Decide {
            plan,
            version,
            return_,
            reason,
            cite,
        } => {
            let mut c = plan.node.connect().await?;
            let outcome = if return_ {
                pb::Outcome::Return
            } else {
                pb::Outcome::Approve
            };
            let d = c
                .decide_plan(pb::DecidePlanRequest {
                    plan: Some(pb::PlanId {
                        unit: plan.unit,
                        term: plan.term,
                        version,
                    }),
                    hash: String::new(),
                    outcome: outcome.into(),
                    reasons: reason,
                    cite_findings: cite,
                })
                .await?
                .into_inner();
            let id = d.plan.unwrap_or_default();
            println!(
                "{:?} {}/{} v{} by {}",
                outcome, id.unit, id.term, id.version, d.decided_by
            );
            Ok(())
        }
        Command::Check {
            node,
            under,
            term,
            rule,
            severity,
            json,
        } => {
            let mut c = node.connect().await?;
            let severity = match severity.as_deref() {
                Some("error") => pb::Severity::Error,
                Some("warning") => pb::Severity::Warning,
                _ => pb::Severity::Unspecified,
            };
            let r = c
                .check(pb::CheckRequest {
                    under,
                    term,
                    rules: rule,
                    severity: severity.into(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            if json {
                println!("{}", client::findings_json(&r.findings));
            } else {
                client::print_findings(&r.findings);
                println!(
                    "{} findings over {} entries, checked in {} µs",
                    r.findings.len(),
                    r.entries_checked,
                    r.micros
                );
            }
            Ok(())
        }
        Command::Accept {
            plan,
            version,
            finding,
            justification,
            by,
        } => {
            let mut c = plan.node.connect().await?;
            let a = c
                .accept_warning(pb::AcceptWarningRequest {
                    plan: Some(pb::PlanId {
                        unit: plan.unit,
                        term: plan.term,
                        version,
                    }),
                    finding,
                    justification,
                    accepted_by: by,
                })
                .await?
                .into_inner();
            println!("accepted by {} at {}: {}", a.by, a.at, a.justification);
            Ok(())
        }
        Command::Completeness { node, under, term } => {
            let mut c = node.connect().await?;
            let r = c
                .completeness(pb::CompletenessRequest { under, term })
                .await?
                .into_inner();
            client::print_progress(&r.units);
            println!(
                "{} units have not submitted: {}",
                r.missing.len(),
                r.missing.join(" ")
            );
            println!("{} appraisals overdue (R17)", r.overdue.len());
            client::print_findings(&r.overdue);
            Ok(())
        }
        Command::Audit(AuditCommand::List {
            node,
            unit,
            action,
            actor,
            last,
        }) => {
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
                println!(
                    "{:>6} {} {:<16} {:<24} {} {}",
                    a.seq, a.at, a.action, plan, a.actor, a.detail
                );
            }
            println!(
                "{} of {} records; chain {}",
                r.records.len(),
                r.total,
                if r.intact { "intact" } else { "BROKEN" }
            );
            if !r.intact {
                anyhow::bail!(
                    "audit chain broken at record {}: {}",
                    r.broken_at,
                    r.problem
                );
            }
            Ok(())
        }
        Command::Audit(AuditCommand::Verify {
            data: Some(dir), ..
        }) => {
            use quyhoach::store::Store;
            let store = quyhoach::store::SledStore::open(&dir)?;
            let (records, head) = store.audit()?;
            match quyhoach::audit::verify(&records, head) {
                Ok(()) => {
                    println!("audit chain intact: {} records", records.len());
                    Ok(())
                }
                Err(b) => {
                    anyhow::bail!("audit chain broken at record {}: {}", b.position, b.problem)
                }
            }
        }
        Command::Audit(AuditCommand::Verify { data: None, node }) => {
            let mut c = node.connect().await?;
            let r = c
                .audit(pb::AuditRequest {
                    limit: 1,
                    ..Default::default()
                })
                .await?
                .into_inner();
            if r.intact {
                println!("audit chain intact: {} records", r.total);
                Ok(())
            } else {
                anyhow::bail!(
                    "audit chain broken at record {}: {}",
                    r.broken_at,
                    r.problem
                )
            }
        }
        Command::Status { node } => {
            let mut c = node.connect().await?;
            let s = c.sync_status(pb::SyncStatusRequest {}).await?.into_inner();
            client::print_status(&s);
            Ok(())
        }
        Command::Consolidated {
            node,
            term,
            position,
            name,
        } => {
            let mut c = node.connect().await?;
            let request = pb::ConsolidatedRequest {
                term,
                position,
                name,
                ..Default::default()
            };
            let entries = client::consolidated_all(&mut c, request).await?;
            client::print_consolidated(&entries);
            Ok(())
        }
    }
}

fn level_name(l: i32) -> &'static str {
    match pb::Level::try_from(l).unwrap_or_default() {
        pb::Level::Province => "province",
        pb::Level::District => "district",
        pb::Level::Commune => "commune",
        pb::Level::Unspecified => "?",
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
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
    println!(
        "quyhoach node {} ({}) listening on {}",
        config.unit.code,
        config.unit.name,
        listener.local_addr()?
    );
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

fn load_ca(dir: &std::path::Path) -> anyhow::Result<Authority> {
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .with_context(|| format!("reading {}", dir.join(f).display()))
    };
    Authority::load(&read("ca.pem")?, &read("ca.key")?).map_err(anyhow::Error::msg)
}

fn certs(command: CertsCommand) -> anyhow::Result<()> {
    let fail = anyhow::Error::msg;
    match command {
        CertsCommand::Ca { out, name, days } => {
            let ca = Authority::create(&name, days).map_err(fail)?;
            std::fs::create_dir_all(&out)?;
            std::fs::write(out.join("ca.pem"), &ca.cert_pem)?;
            pki::write_secret(&out.join("ca.key"), &ca.key_pem())?;
            println!(
                "certificate authority {name:?}: {} (keep ca.key offline)",
                out.join("ca.pem").display()
            );
        }
        CertsCommand::Node {
            ca_dir,
            unit,
            host,
            days,
        } => {
            let issued = load_ca(&ca_dir)?
                .issue(&Subject::node(&unit, &host, days))
                .map_err(fail)?;
            pki::write(&ca_dir.join("nodes"), &unit, &issued)?;
            println!(
                "node certificate for {unit}: {}",
                ca_dir.join("nodes").join(format!("{unit}.pem")).display()
            );
        }
        CertsCommand::Client {
            ca_dir,
            unit,
            role,
            name,
            stem,
            days,
        } => {
            let roles = role
                .iter()
                .map(|r| r.parse::<Role>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(fail)?;
            let issued = load_ca(&ca_dir)?
                .issue(&Subject::new(&unit, &roles, &name, days))
                .map_err(fail)?;
            let stem = stem.unwrap_or_else(|| format!("{unit}-{}", roles[0]));
            pki::write(&ca_dir.join("clients"), &stem, &issued)?;
            println!(
                "certificate for {name} ({}) at {unit}: {}",
                role.join("+"),
                ca_dir.join("clients").join(format!("{stem}.pem")).display()
            );
        }
        CertsCommand::Hierarchy { out, unit } => {
            let ca = if out.join("ca.pem").exists() {
                load_ca(&out)?
            } else {
                let ca = Authority::create("quyhoach CA", 3650).map_err(fail)?;
                std::fs::create_dir_all(&out)?;
                std::fs::write(out.join("ca.pem"), &ca.cert_pem)?;
                pki::write_secret(&out.join("ca.key"), &ca.key_pem())?;
                ca
            };
            for u in &unit {
                let node = ca.issue(&Subject::node(u, &[], 825)).map_err(fail)?;
                pki::write(&out.join("nodes"), u, &node)?;
                let roles = [Role::Clerk, Role::Approver, Role::Reader];
                let op = ca
                    .issue(&Subject::new(u, &roles, &format!("Cán bộ đơn vị {u}"), 365))
                    .map_err(fail)?;
                pki::write(&out.join("clients"), u, &op)?;
            }
            println!(
                "{}: ca.pem, nodes/UNIT.pem|key, clients/UNIT.pem|key for {}",
                out.display(),
                unit.join(", ")
            );
        }
    }
    Ok(())
}
