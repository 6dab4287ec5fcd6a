//! The consistency checks: `check` (R1–R26 over the plans a node holds, as a table or JSON),
//! `accept` (a warning, with a written justification), `completeness`, and `eligible` (R23: may
//! this person be appointed to this post).

use std::io::Write;

use clap::Subcommand;
use quyhoach::{client::table, grpc::pb};

use super::{
    args::{NodeArgs, PlanArgs, SubtreeArgs},
    Out,
};

/// Commands on findings.
#[derive(Subcommand)]
pub enum Command {
    /// Run the consistency checks (R1–R26) over the plans a node holds.
    Check {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        plans: SubtreeArgs,
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
        /// The plan version the finding is on.
        #[arg(long)]
        version: u32,
        /// The finding's ID, as `check` prints it.
        #[arg(long)]
        finding: String,
        /// Why the warning is accepted.
        #[arg(long)]
        justification: String,
        /// The official accepting it.
        #[arg(long)]
        by: String,
    },
    /// Units that have not submitted for a term, and overdue appraisals (R17).
    Completeness {
        #[command(flatten)]
        node: NodeArgs,
        /// Only units of this subtree.
        #[arg(long, default_value = "")]
        under: String,
        /// The term.
        #[arg(long)]
        term: String,
    },
    /// May this person be appointed to this post (R23, QĐ 377-QĐ/TW art. 34)?
    ///
    /// Answers from the approved plans of the current term the node holds and you may read:
    /// planned (citing the plan version and its hash), not planned, or "no approved plan: the
    /// competent level decides". Exits 0 with any of these answers; non-zero only when the
    /// node refuses the question.
    Eligible {
        #[command(flatten)]
        node: NodeArgs,
        /// The person's national ID (số CCCD), 12 digits.
        #[arg(long)]
        cccd: String,
        /// The post proposed, a catalogue code (e.g. C.CT.UBND).
        #[arg(long)]
        position: String,
        /// The unit whose post it is [default: the node's own unit].
        #[arg(long, default_value = "")]
        unit: String,
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
        Command::Check {
            node,
            plans: SubtreeArgs { under, term },
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
            let r = quyhoach::client::check_all(
                &mut c,
                pb::CheckRequest {
                    under,
                    term,
                    rules: rule,
                    severity: severity.into(),
                    ..Default::default()
                },
            )
            .await?;
            if json {
                writeln!(out, "{}", findings_json(&r.findings))?;
            } else {
                table::print_findings(out, &r.findings)?;
                writeln!(
                    out,
                    "{} findings over {} entries, checked in {} µs",
                    r.findings.len(),
                    r.entries_checked,
                    r.micros
                )?;
            }
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
                    plan: Some(plan.version(version)),
                    finding,
                    justification,
                    accepted_by: by,
                })
                .await?
                .into_inner();
            writeln!(out, "accepted by {} at {}: {}", a.by, a.at, a.justification)?;
        }
        Command::Completeness { node, under, term } => {
            let mut c = node.connect().await?;
            let r = c
                .completeness(pb::CompletenessRequest { under, term })
                .await?
                .into_inner();
            table::print_progress(out, &r.units)?;
            writeln!(
                out,
                "{} units have not submitted: {}",
                r.missing.len(),
                r.missing.join(" ")
            )?;
            writeln!(out, "{} appraisals overdue (R17)", r.overdue.len())?;
            table::print_findings(out, &r.overdue)?;
        }
        Command::Eligible {
            node,
            cccd,
            position,
            unit,
        } => {
            let mut c = node.connect().await?;
            let r = c
                .eligible(pb::EligibleRequest {
                    national_id: cccd,
                    position,
                    unit,
                })
                .await?
                .into_inner();
            print_eligible(out, &r)?;
        }
    }
    Ok(())
}

/// An `eligible` answer: the verdict on one line, then the plan it rests on or the R23 warning.
fn print_eligible(out: &mut impl Write, r: &pb::EligibleResponse) -> std::io::Result<()> {
    let who = if r.full_name.is_empty() {
        String::new()
    } else {
        format!("{}: ", r.full_name)
    };
    match pb::EligibilityVerdict::try_from(r.verdict).unwrap_or_default() {
        pb::EligibilityVerdict::Planned => {
            let p = r.plan.clone().unwrap_or_default();
            writeln!(
                out,
                "{who}planned: in approved plan {}/{} v{} (hash {}) for {} (R23, as of {})",
                p.unit, p.term, p.version, r.hash, r.planned_position, r.on
            )?;
        }
        pb::EligibilityVerdict::NotPlanned => {
            writeln!(
                out,
                "{who}not planned: in no approved plan of the current term for this post or an equivalent or higher one (R23, as of {})",
                r.on
            )?;
        }
        pb::EligibilityVerdict::NoApprovedPlan => {
            writeln!(
                out,
                "{who}no approved plan: the competent level decides (R23, as of {})",
                r.on
            )?;
        }
        pb::EligibilityVerdict::Unspecified => writeln!(out, "{who}no answer")?,
    }
    if let Some(f) = &r.finding {
        writeln!(out, "  {} {}: {}", f.rule, f.id, f.message_en)?;
        writeln!(out, "  {}", f.message_vi)?;
    }
    Ok(())
}

/// Findings as a JSON array, one object per finding.
fn findings_json(findings: &[pb::Finding]) -> String {
    let list: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "id": f.id,
                "rule": f.rule,
                "ruleset": f.ruleset,
                "reorganised_on": (!f.reorganised_on.is_empty()).then_some(&f.reorganised_on),
                "merger": f.merger,
                "severity": if f.severity == pb::Severity::Error as i32 { "error" } else { "warning" },
                "units": f.units,
                "person": f.person_name,
                "national_id": f.person_id_masked,
                "positions": f.positions,
                "terms": f.terms,
                "message_vi": f.message_vi,
                "message_en": f.message_en,
                "plans": f.plans.iter().map(|p| format!("{}/{}/v{}", p.unit, p.term, p.version)).collect::<Vec<_>>(),
                "accepted": f.acceptance.as_ref().map(|a| serde_json::json!({"by": a.by, "at": a.at, "justification": a.justification})),
            })
        })
        .collect();
    serde_json::to_string_pretty(&list).expect("JSON values serialize")
}
