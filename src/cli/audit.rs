//! `audit list` (the records of a running node) and `audit verify` (the hash chain, of a
//! running node or of a stopped node's store).

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use clap::Subcommand;
use quyhoach::grpc::pb;

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
        /// The node's audit key: its TLS private key, or its --audit-key file; every record's
        /// seal is checked (repeatable: every key the node has had; with --data).
        #[arg(long)]
        audit_key: Vec<PathBuf>,
        /// With --audit-key: records 1..=N may carry no seal (those the node wrote before it
        /// had an audit key; it logs the number when it first starts with one).
        #[arg(long, default_value_t = 0, requires = "audit_key")]
        unsealed: u64,
        /// The audit key of an old province node whose store `quyhoach merge` brought in,
        /// as CODE=FILE (the old province's code, its TLS private key or --audit-key file):
        /// that merged-in chain's seals are checked too (repeatable; with --data).
        #[arg(long, value_name = "CODE=FILE")]
        old_key: Vec<String>,
        /// A head the parent witnessed, `<seq>:<digest>` as the parent's `receive_push`
        /// records show it after `head` (repeatable; with --data).
        #[arg(long)]
        witness: Vec<String>,
        /// Fetch every head that the node at --node (the parent) witnessed of the child unit
        /// CODE, from its `receive_push` records (with --data).
        #[arg(long, value_name = "CODE")]
        witnessed_child: Option<String>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Write a new random audit key file (0600), for a node started with --insecure; keep it
    /// outside the node's data folder and give it to `serve --audit-key`.
    Key {
        /// The file to create; an existing file is never replaced.
        #[arg(long)]
        out: PathBuf,
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
            data: Some(dir),
            audit_key,
            unsealed,
            old_key,
            witness,
            witnessed_child,
            node,
        } => {
            // A copy is read, so that verifying never changes (or creates) the store.
            let trail = quyhoach::store::trail::read_store_copy(&dir)?;
            // The old nodes' keys, by province, each for a chain the store holds.
            let mut old_keys: std::collections::BTreeMap<String, Vec<quyhoach::audit::AuditKey>> =
                Default::default();
            for given in &old_key {
                let Some((code, path)) = given.split_once('=') else {
                    anyhow::bail!("old_key: {given:?} is not CODE=FILE (e.g. 45=nodes/45.key)");
                };
                if !trail.imported.iter().any(|t| t.origin == code) {
                    anyhow::bail!(
                        "old_key: no chain of province {code} was merged into {} (merged in: {})",
                        dir.display(),
                        trail
                            .imported
                            .iter()
                            .map(|t| t.origin.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                old_keys
                    .entry(code.to_string())
                    .or_default()
                    .push(quyhoach::audit::AuditKey::load(std::path::Path::new(path))?);
            }
            let keys = audit_key
                .iter()
                .map(|p| quyhoach::audit::AuditKey::load(p))
                .collect::<Result<Vec<_>, _>>()?;
            let mut heads = Vec::new();
            for w in &witness {
                heads.push(quyhoach::audit::parse_head(w).map_err(anyhow::Error::msg)?);
            }
            if let Some(child) = &witnessed_child {
                heads.extend(witnessed_at(&node, child).await?);
            }
            let broken = |b: quyhoach::audit::Broken| {
                format!("audit chain broken at record {}: {}", b.position, b.problem)
            };
            // Every check runs and each finding is said: the chain and the seals first (they
            // name the very record that was altered), then the witnesses (which alone see a
            // tail cut off with the counter lowered), then the durable-state record.
            let mut findings = Vec::new();
            let unsealed = if keys.is_empty() {
                if let Err(b) = quyhoach::audit::verify(&trail.records, trail.head) {
                    findings.push(broken(b));
                }
                None
            } else {
                let check = quyhoach::audit::SealCheck {
                    seals: &trail.seals,
                    keys: &keys,
                    unsealed: quyhoach::audit::Unsealed::UpTo(unsealed),
                };
                match quyhoach::audit::verify_sealed(&trail.records, trail.head, check) {
                    Ok(u) => Some(u),
                    Err(b) => {
                        findings.push(broken(b));
                        None
                    }
                }
            };
            if let Err(b) = quyhoach::audit::check_witnesses(&trail.records, &heads) {
                let said = broken(b);
                if !findings.contains(&said) {
                    findings.push(said);
                }
            }
            if let Some(why) = &trail.behind {
                findings.push(why.clone());
            }
            // The trails a merge of provinces brought in: each its own chain, under its own
            // node's identity: its seals are checked with the old node's key when given.
            let mut imported = Vec::new();
            for t in &trail.imported {
                let verified = match old_keys.get(&t.origin) {
                    None => quyhoach::audit::verify(&t.records, t.head)
                        .map(|()| format!("seals not checked (give --old-key {}=KEY)", t.origin)),
                    Some(keys) => {
                        let check = quyhoach::audit::SealCheck {
                            seals: &t.seals,
                            keys,
                            unsealed: quyhoach::audit::Unsealed::Prefix,
                        };
                        quyhoach::audit::verify_sealed(&t.records, t.head, check).map(|u| match u {
                            0 => "every record sealed with the old node's key".to_string(),
                            u => format!(
                                "records 1..={u} unsealed, the rest sealed with the old \
                                 node's key"
                            ),
                        })
                    }
                };
                match verified {
                    Ok(sealed) => imported.push(format!(
                        "chain of province {} (merged in): intact, {} records; {sealed}",
                        t.origin,
                        t.records.len()
                    )),
                    Err(b) => findings.push(format!(
                        "the chain of province {} (merged in) is broken at record {}: {}",
                        t.origin, b.position, b.problem
                    )),
                }
            }
            match findings.len() {
                0 => {}
                1 => anyhow::bail!("{}", findings[0]),
                n => anyhow::bail!(
                    "{n} findings: {}",
                    findings
                        .iter()
                        .enumerate()
                        .map(|(i, f)| format!("({}) {f}", i + 1))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            }
            let n = trail.records.len();
            let sealed = match unsealed {
                None => "seals not checked (give --audit-key)".to_string(),
                Some(0) => "every record sealed".to_string(),
                Some(u) => format!("records 1..={u} unsealed, the rest sealed"),
            };
            let witnessed = match heads.iter().map(|(s, _)| *s).max() {
                None => "no witness".to_string(),
                Some(s) => format!(
                    "as the parent witnessed it ({} heads, up to record {s})",
                    heads.len()
                ),
            };
            writeln!(
                out,
                "audit chain intact: {n} records; {sealed}; {witnessed}"
            )?;
            for line in &imported {
                writeln!(out, "{line}")?;
            }
        }
        Command::Verify {
            data: None, node, ..
        } => {
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
            for line in &r.chains {
                writeln!(out, "{line}")?;
            }
        }
        Command::Key { out: path } => {
            write_key(&path, &quyhoach::audit::AuditKey::generate_file_text())
                .with_context(|| format!("writing {}", path.display()))?;
            writeln!(
                out,
                "audit key written to {}; keep it outside the node's data folder and give it \
                 to `serve --audit-key`",
                path.display()
            )?;
        }
    }
    Ok(())
}

/// Every head of `child`'s trail that the node at `parent.node` witnessed, from its
/// `receive_push` records of that child's pushes.
async fn witnessed_at(parent: &NodeArgs, child: &str) -> anyhow::Result<Vec<(u64, String)>> {
    let mut c = parent.connect().await?;
    let r = c
        .audit(pb::AuditRequest {
            action: "receive_push".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let from = format!("from {},", child.trim());
    Ok(quyhoach::audit::witnessed_heads(
        r.records
            .iter()
            .map(|a| a.detail.as_str())
            .filter(|d| d.starts_with(&from)),
    ))
}

/// Creates `path` anew, readable by its owner only; an existing file or link is an error.
fn write_key(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    options.open(path)?.write_all(text.as_bytes())
}
