//! A unit's plan from draft to decision: `draft`, `load`, `adopt`, `submit`, `withdraw`,
//! `plans`, `plan`, `decide`, `approve-clean` (many plans at once), the consolidated list of the plans a node holds, and `fulfil` (a
//! planned entry used by an election or appointment).

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use clap::Subcommand;
use quyhoach::{
    client::{
        self,
        table::{self, plan_ref},
    },
    config,
    grpc::pb,
    tabular::{Format, ImportContext},
};

use super::{
    args::{NodeArgs, PlanArgs, SubtreeArgs},
    Out,
};

/// Commands on plans.
#[derive(Subcommand)]
pub enum Command {
    /// Open a draft plan for (unit, term).
    ///
    /// With --from-sources, a unit created by a reorganisation starts its first draft from the
    /// approved entries of the old units it absorbed, each entry keeping its provenance
    /// (`plan` shows it); refused when the unit has no sources or already has a draft.
    Draft {
        #[command(flatten)]
        plan: PlanArgs,
        /// Start from the approved entries of the old units this unit absorbed.
        #[arg(long)]
        from_sources: bool,
    },
    /// Put a unit's list and its ballot rounds into its draft.
    ///
    /// The list is .xlsx or .csv in the format `import` reads (as the files of data/demo/);
    /// it is checked row by row as `import` checks it, then sent one entry per request.
    Load {
        #[command(flatten)]
        plan: PlanArgs,
        /// The unit's list, in the format `import` reads.
        #[arg(long)]
        entries: PathBuf,
        /// The ballot rounds file (unit,term,body,date,convened,present,ballots_issued,
        /// valid_ballots); the tallies are the list's yes votes.
        #[arg(long)]
        rounds: PathBuf,
    },
    /// Adopt the draft (freezes it and fixes its hash).
    ///
    /// Only the draft revision that was reviewed is adopted: the one given with --revision
    /// (as `quyhoach plan` shows it), or else the one this command reads and prints first. If
    /// the draft changed in between, nothing is adopted and the command fails naming both.
    Adopt {
        #[command(flatten)]
        plan: PlanArgs,
        /// Date of adoption (YYYY-MM-DD); today by default.
        #[arg(long, default_value = "")]
        on: String,
        /// The draft revision reviewed (`quyhoach plan` shows it).
        #[arg(long)]
        revision: Option<u64>,
    },
    /// Submit the adopted version to the approving level.
    ///
    /// As with `adopt`, only what was reviewed is submitted: the revision and hash given, or
    /// else those this command reads and prints first.
    Submit {
        #[command(flatten)]
        plan: PlanArgs,
        /// The revision reviewed (`quyhoach plan` shows it).
        #[arg(long)]
        revision: Option<u64>,
        /// The hash of the adopted version reviewed.
        #[arg(long)]
        hash: Option<String>,
    },
    /// Take the submitted version back out of the outbox (the approving level refused it or
    /// never got it): it becomes a draft again, to correct, adopt and submit again.
    ///
    /// Refused once the approving level has received it: then it must be returned there.
    Withdraw(PlanArgs),
    /// List plans held by a node.
    Plans {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        plans: SubtreeArgs,
    },
    /// Show one plan version (the latest by default).
    Plan {
        #[command(flatten)]
        plan: PlanArgs,
        /// The version; 0 for the latest.
        #[arg(long, default_value_t = 0)]
        version: u32,
    },
    /// Approve or return a plan (on the approving node).
    Decide {
        #[command(flatten)]
        plan: PlanArgs,
        /// The version decided on.
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
        /// An approval's detached CMS (PKCS#7) signature, DER or PEM, made with the approver's
        /// official-use certificate over the version's hash as hex text (as `plan` shows it),
        /// e.g. `printf %s HASH > h.txt; openssl cms -sign -binary -in h.txt -signer me.pem
        /// -inkey me.key -outform DER -out h.p7s`.
        #[arg(long)]
        cms: Option<PathBuf>,
    },
    /// Approve at once the clean plans awaiting this node's unit (many plans at once).
    ///
    /// Lists the received plans awaiting this unit's decision, as the web page's appraisal view
    /// does, with their errors and open warnings, then approves the clean ones (no error, no
    /// unaccepted warning), each with the hash listed: each its own decision and audit record.
    /// With --plan, approves exactly the plans given (as a --dry-run listed them) instead of
    /// listing afresh. Exits non-zero if any plan was refused, naming it and why.
    ApproveClean {
        #[command(flatten)]
        node: NodeArgs,
        /// Only plans of this term.
        #[arg(long, default_value = "")]
        term: String,
        /// List what would be approved; approve nothing.
        #[arg(long)]
        dry_run: bool,
        /// A plan as shown before, UNIT/TERM/vN@HASH (repeatable; the lines a --dry-run
        /// prints): approve exactly these, with these hashes.
        #[arg(long, value_name = "UNIT/TERM/vN@HASH")]
        plan: Vec<String>,
    },
    /// Record that a planned cadre was elected or appointed (the entry is fulfilled).
    ///
    /// The entry of the approved version (the latest approved one unless --version) gets the
    /// outcome "fulfilled" with the decision's number and date; it stays in that version, and
    /// from the next review on it no longer counts against R2's cap of cadres per post.
    Fulfil {
        #[command(flatten)]
        plan: PlanArgs,
        /// The approved version; 0 for the latest approved one.
        #[arg(long, default_value_t = 0)]
        version: u32,
        /// The person's national ID (số CCCD).
        #[arg(long)]
        cccd: String,
        /// The entry's planned position (catalogue code).
        #[arg(long)]
        position: String,
        /// Elected (đã bầu) rather than appointed (đã bố trí).
        #[arg(long)]
        elected: bool,
        /// The post taken, if an equivalent one rather than the planned one.
        #[arg(long, default_value = "")]
        post: String,
        /// The decision's number, e.g. 125/QĐ-UBND.
        #[arg(long)]
        decision: String,
        /// The decision's date (YYYY-MM-DD).
        #[arg(long)]
        on: String,
    },
    /// The consolidated list of entries under a node, in Vietnamese order.
    Consolidated {
        #[command(flatten)]
        node: NodeArgs,
        /// Only this term.
        #[arg(long, default_value = "")]
        term: String,
        /// Only this position code.
        #[arg(long, default_value = "")]
        position: String,
        /// Part of a name; case and diacritics are ignored.
        #[arg(long, default_value = "")]
        name: String,
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
        Command::Draft {
            plan: p,
            from_sources,
        } => {
            let mut c = p.node.connect().await?;
            let request = pb::CreateDraftRequest {
                unit: p.unit,
                term: p.term,
                from_sources,
            };
            let plan = c.create_draft(request).await?.into_inner();
            let entries = plan.entries.len();
            writeln!(
                out,
                "draft {} ({entries} entries)",
                plan_ref(plan.id.as_ref())
            )?;
            if from_sources {
                let mut drawn: std::collections::BTreeMap<String, usize> = Default::default();
                for e in &plan.entries {
                    if let Some(o) = &e.origin {
                        *drawn.entry(origin_plan(o)).or_default() += 1;
                    }
                }
                for (source, n) in drawn {
                    writeln!(out, "  from {source}: {n} entries")?;
                }
            }
        }
        Command::Load {
            plan,
            entries,
            rounds,
        } => {
            let hierarchy = config::load_units(config::DEFAULT_UNITS)?;
            let catalog = config::builtin_catalog()?;
            let ctx = ImportContext {
                catalog: &catalog,
                hierarchy: &hierarchy,
                unit: &plan.unit,
                term: &plan.term,
                today: chrono::Utc::now().date_naive(),
            };
            let format = Format::from_path(&entries)?;
            let list = client::read_list(entries.as_path(), format, &ctx)
                .with_context(|| entries.display().to_string())?;
            let rounds = std::fs::read_to_string(&rounds)
                .with_context(|| format!("cannot read {}", rounds.display()))?;
            let rounds = client::parse_rounds(&rounds)?;
            let mut c = plan.node.connect().await?;
            let n = client::load_unit(&mut c, &plan.unit, &plan.term, &list, &rounds).await?;
            writeln!(
                out,
                "loaded {n} entries into the draft of {}/{}",
                plan.unit, plan.term
            )?;
        }
        Command::Adopt { plan, on, revision } => {
            let mut c = plan.node.connect().await?;
            let revision = match revision {
                Some(r) => r,
                None => {
                    let shown = client::get_plan(&mut c, &plan.unit, &plan.term, 0).await?;
                    writeln!(
                        out,
                        "adopting revision {} of {}/{}: {} entries, {} ballot round(s)",
                        shown.revision,
                        plan.unit,
                        plan.term,
                        shown.entries.len(),
                        shown.rounds.len()
                    )?;
                    shown.revision
                }
            };
            let p = c
                .adopt_plan(pb::AdoptPlanRequest {
                    unit: plan.unit,
                    term: plan.term,
                    adopted_on: on,
                    revision: Some(revision),
                })
                .await?
                .into_inner();
            writeln!(out, "adopted {} hash {}", plan_ref(p.id.as_ref()), p.hash)?;
        }
        Command::Submit {
            plan: p,
            revision,
            hash,
        } => {
            let mut c = p.node.connect().await?;
            let (revision, hash) = match (revision, hash) {
                (Some(r), Some(h)) => (r, h),
                (revision, hash) => {
                    let shown = client::get_plan(&mut c, &p.unit, &p.term, 0).await?;
                    writeln!(
                        out,
                        "submitting {} revision {} hash {}: {} entries",
                        plan_ref(shown.id.as_ref()),
                        shown.revision,
                        shown.hash,
                        shown.entries.len()
                    )?;
                    (
                        revision.unwrap_or(shown.revision),
                        hash.unwrap_or(shown.hash),
                    )
                }
            };
            let r = c
                .submit_plan(pb::SubmitPlanRequest {
                    unit: p.unit,
                    term: p.term,
                    revision: Some(revision),
                    hash,
                })
                .await?
                .into_inner();
            let s = r.plan.unwrap_or_default();
            let id = plan_ref(s.id.as_ref());
            writeln!(out, "submitted {id} to {} (hash {})", r.approver, s.hash)?;
        }
        Command::Withdraw(p) => {
            let mut c = p.node.connect().await?;
            let request = pb::WithdrawSubmissionRequest {
                unit: p.unit,
                term: p.term,
            };
            let plan = c.withdraw_submission(request).await?.into_inner();
            writeln!(
                out,
                "withdrew {} from the outbox: it is a draft again (revision {}, {} entries)",
                plan_ref(plan.id.as_ref()),
                plan.revision,
                plan.entries.len()
            )?;
        }
        Command::Plans {
            node,
            plans: SubtreeArgs { under, term },
        } => {
            let mut c = node.connect().await?;
            let plans = client::list_plans(&mut c, &under, &term).await?;
            writeln!(
                out,
                "{:<6} {:<10} {:<3} {:<10} {:>7}  hash",
                "unit", "term", "v", "status", "entries"
            )?;
            for s in plans {
                let id = s.id.unwrap_or_default();
                writeln!(
                    out,
                    "{:<6} {:<10} v{:<2} {:<10} {:>7}  {}",
                    id.unit,
                    id.term,
                    id.version,
                    table::status_name(s.status),
                    s.entries,
                    s.hash
                )?;
            }
        }
        Command::Plan { plan, version } => {
            let mut c = plan.node.connect().await?;
            let p = client::get_plan(&mut c, &plan.unit, &plan.term, version).await?;
            let status = table::status_name(p.status);
            writeln!(out, "{}: {status} hash {}", plan_ref(p.id.as_ref()), p.hash)?;
            if p.revision != 0 {
                writeln!(out, "revision {}", p.revision)?;
            }
            match &p.decision {
                Some(d) if p.withdrawn => writeln!(
                    out,
                    "withdrawn by {} on {}, reason {}",
                    d.decided_by,
                    d.decided_at,
                    d.reasons.join("; ")
                )?,
                Some(d) => writeln!(
                    out,
                    "decision by {} at {}: {:?} {}",
                    d.decided_by,
                    d.decided_at,
                    pb::Outcome::try_from(d.outcome).unwrap_or_default(),
                    d.reasons.join("; ")
                )?,
                None => {}
            }
            if let Some(s) = &p.approval_signature {
                writeln!(
                    out,
                    "approval signed (CMS) by {}, certificate serial {}, issued by {}, signed at {}",
                    s.signer, s.serial, s.issuer, s.signed_at
                )?;
            }
            for e in &p.entries {
                let c = e.cadre.clone().unwrap_or_default();
                let from = e
                    .origin
                    .as_ref()
                    .map(|o| format!("  from {} #{}", origin_plan(o), o.position))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "  {:<12} {:<28} {}{from}",
                    e.position, c.full_name, c.birth_date
                )?;
            }
            writeln!(out, "{} ballot round(s)", p.rounds.len())?;
        }
        Command::Decide {
            plan,
            version,
            return_,
            reason,
            cite,
            cms,
        } => {
            let cms_signature = match &cms {
                Some(path) => read_cms(path)?,
                None => Vec::new(),
            };
            let mut c = plan.node.connect().await?;
            let outcome = if return_ {
                pb::Outcome::Return
            } else {
                pb::Outcome::Approve
            };
            let d = c
                .decide_plan(pb::DecidePlanRequest {
                    plan: Some(plan.version(version)),
                    hash: String::new(),
                    outcome: outcome.into(),
                    reasons: reason,
                    cite_findings: cite,
                    cms_signature,
                })
                .await?
                .into_inner();
            writeln!(
                out,
                "{outcome:?} {} by {}{}",
                plan_ref(d.plan.as_ref()),
                d.decided_by,
                if cms.is_some() {
                    ", with its CMS signature verified and kept"
                } else {
                    ""
                }
            )?;
        }
        Command::ApproveClean {
            node,
            term,
            dry_run,
            plan,
        } => approve_clean(node, term, dry_run, plan, out).await?,
        Command::Fulfil {
            plan,
            version,
            cccd,
            position,
            elected,
            post,
            decision,
            on,
        } => {
            let mut c = plan.node.connect().await?;
            let kind = if elected {
                pb::FulfilmentKind::Elected
            } else {
                pb::FulfilmentKind::Appointed
            };
            let f = c
                .fulfil(pb::FulfilRequest {
                    plan: Some(plan.version(version)),
                    national_id: cccd,
                    position,
                    kind: kind.into(),
                    post,
                    decision_number: decision,
                    decided_on: on,
                })
                .await?
                .into_inner();
            let (vi, en) = match kind {
                pb::FulfilmentKind::Elected => ("đã bầu", "elected"),
                _ => ("đã bố trí", "appointed"),
            };
            writeln!(
                out,
                "fulfilled ({en}, {vi}): {} {} in {} -> {}, decision {} of {}",
                f.national_id,
                f.position,
                plan_ref(f.plan.as_ref()),
                f.post,
                f.decision_number,
                f.decided_on
            )?;
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
            let entries = quyhoach::client::consolidated_all(&mut c, request).await?;
            table::print_consolidated(out, &entries)?;
        }
    }
    Ok(())
}

/// `approve-clean`: the plans shown (listed now, or given with --plan), printed, then approved
/// together unless a dry run; fails naming every plan not approved.
async fn approve_clean(
    node: NodeArgs,
    term: String,
    dry_run: bool,
    given: Vec<String>,
    out: &mut Out,
) -> anyhow::Result<()> {
    let mut c = node.connect().await?;
    let shown: Vec<pb::ShownPlan> = if given.is_empty() {
        let appraisal = c
            .appraisal(pb::AppraisalRequest { term })
            .await?
            .into_inner();
        let (clean, held): (Vec<_>, Vec<_>) = appraisal.plans.into_iter().partition(|p| p.clean);
        writeln!(
            out,
            "{} plan(s) awaiting a decision: {} clean, {} with errors or open warnings",
            clean.len() + held.len(),
            clean.len(),
            held.len()
        )?;
        for p in &held {
            let s = p.plan.clone().unwrap_or_default();
            let rules: std::collections::BTreeSet<&str> =
                p.findings.iter().map(|f| f.rule.as_str()).collect();
            writeln!(
                out,
                "  not clean: {} ({} error(s), {} open warning(s): {})",
                plan_ref(s.id.as_ref()),
                p.errors,
                p.open_warnings,
                rules.into_iter().collect::<Vec<_>>().join(", ")
            )?;
        }
        clean
            .into_iter()
            .map(|p| {
                let s = p.plan.unwrap_or_default();
                pb::ShownPlan {
                    plan: s.id,
                    hash: s.hash,
                }
            })
            .collect()
    } else {
        given
            .iter()
            .map(|g| parse_shown(g))
            .collect::<anyhow::Result<_>>()?
    };
    for s in &shown {
        let id = s.plan.clone().unwrap_or_default();
        writeln!(out, "{}/{}/v{}@{}", id.unit, id.term, id.version, s.hash)?;
    }
    if dry_run {
        writeln!(
            out,
            "dry run: {} plan(s) would be approved; nothing was",
            shown.len()
        )?;
        return Ok(());
    }
    if shown.is_empty() {
        writeln!(out, "no clean plan to approve")?;
        return Ok(());
    }
    let answer = c
        .approve_clean(pb::ApproveCleanRequest {
            plans: shown.clone(),
        })
        .await?
        .into_inner();
    let mut refused = Vec::new();
    for r in &answer.results {
        match &r.decision {
            Some(d) => writeln!(
                out,
                "approved {} hash {} by {} at {}",
                plan_ref(r.plan.as_ref()),
                d.hash,
                d.decided_by,
                d.decided_at
            )?,
            None => refused.push(format!("{}: {}", plan_ref(r.plan.as_ref()), r.refused)),
        }
    }
    writeln!(
        out,
        "{} approved, {} refused",
        answer.results.len() - refused.len(),
        refused.len()
    )?;
    if !refused.is_empty() {
        anyhow::bail!("not approved: {}", refused.join("; "));
    }
    Ok(())
}

/// A plan as `approve-clean` prints it, `UNIT/TERM/vN@HASH`.
///
/// # Errors
///
/// Naming `--plan` and the value when it is not of that shape.
fn parse_shown(text: &str) -> anyhow::Result<pb::ShownPlan> {
    let bad = || anyhow::anyhow!("--plan {text:?}: expected UNIT/TERM/vN@HASH");
    let (id, hash) = text.trim().split_once('@').ok_or_else(bad)?;
    let mut parts = id.split('/');
    let (Some(unit), Some(term), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let version = v
        .strip_prefix('v')
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(bad)?;
    Ok(pb::ShownPlan {
        plan: Some(pb::PlanId {
            unit: unit.into(),
            term: term.into(),
            version,
        }),
        hash: hash.into(),
    })
}

/// Reads a CMS signature file: DER as it is, or PEM (`-----BEGIN PKCS7-----` or `CMS`)
/// decoded to DER.
///
/// # Errors
///
/// When the file cannot be read, is larger than a signature may be, or is PEM that does not
/// decode.
fn read_cms(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    quyhoach::signature::cms_der(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The source plan an entry was drawn from, as `unit/term/vN`.
fn origin_plan(o: &pb::EntryOrigin) -> String {
    let id = o.plan.clone().unwrap_or_default();
    format!("{}/{}/v{}", id.unit, id.term, id.version)
}
