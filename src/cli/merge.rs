//! `merge`: brings the stores of province nodes that the 2025 structure merged into one
//! province into the new province's store, on stopped nodes (`docs/merging-provinces.md`).
//! The checks and the changes are the library's ([`quyhoach::node::merge`]); this file opens
//! the stores, draws the progress bar and prints.

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use clap::Subcommand;
use quyhoach::{
    node::merge::{self, MergeContext, MergeError},
    store::{trail, SledStore, Store},
};

use super::Out;

/// Merging provinces.
#[derive(Subcommand)]
pub enum Command {
    /// Bring other province nodes' stores (plans with every version, decisions, receipts,
    /// acceptances, signatures, audit trails) into the new province's store. Run it on
    /// stopped nodes; with --dry-run it only lists what would come in.
    Merge {
        /// The new province node's store folder (its node stopped).
        #[arg(long)]
        data: PathBuf,
        /// An old province node's store folder (its node stopped); repeatable.
        #[arg(long = "from", required = true)]
        from: Vec<PathBuf>,
        /// The new province's code in the 2025 structure; by default the province its store's
        /// plans lie in.
        #[arg(long)]
        unit: Option<String>,
        /// The new node's audit key (its TLS private key or its --audit-key file), with which
        /// the merge's audit record is sealed; required when its trail is sealed.
        #[arg(long)]
        audit_key: Option<PathBuf>,
        /// Write nothing: list what would come in (plans per old province, counts, the people
        /// listed by more than one province).
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs the command.
///
/// # Errors
///
/// When a store is not a quyhoach store, is open by a running node, cannot be read, or is
/// refused (a plan that fails the checks of a local write, a unit of a province the 2025
/// structure did not merge into the target, a broken audit trail); nothing is written then.
pub async fn run(command: Command, out: &mut Out) -> anyhow::Result<()> {
    let Command::Merge {
        data,
        from,
        unit,
        audit_key,
        dry_run,
    } = command;
    trail::ensure_stopped(&data).with_context(|| format!("--data {}", data.display()))?;
    let hierarchy = quyhoach::config::load_units("builtin:2025")?;
    let mut opened = Vec::new();
    for path in &from {
        if same_folder(path, &data) {
            anyhow::bail!(
                "--from {} is the new province's own store (--data)",
                path.display()
            );
        }
        let (copy, store) =
            trail::open_copy(path).with_context(|| format!("--from {}", path.display()))?;
        if let Some(why) = store.behind() {
            anyhow::bail!("--from {}: the store has lost data: {why}", path.display());
        }
        opened.push((path.display().to_string(), copy, store));
    }
    let target = SledStore::open(&data).with_context(|| format!("--data {}", data.display()))?;
    if let Some(why) = target.behind() {
        anyhow::bail!("--data {}: the store has lost data: {why}", data.display());
    }
    let province = match unit {
        Some(code) => {
            let code = code.trim().to_string();
            match hierarchy.current().get(&code) {
                Some(u) if u.level == quyhoach::domain::Level::Province => code,
                _ => anyhow::bail!(
                    "--unit {}: not a province of the 2025 structure",
                    quyhoach::domain::validate::prefix(&code)
                ),
            }
        }
        None => infer_province(target.as_ref(), &hierarchy)?,
    };
    seal_with(&target, audit_key.as_deref())?;
    let catalog = target_catalog(target.as_ref())?;
    let today = chrono::Utc::now().date_naive();
    let ctx = MergeContext {
        hierarchy: &hierarchy,
        catalog: &catalog,
        today,
        target: &province,
    };
    let total: usize = opened
        .iter()
        .map(|(_, _, s)| s.headers().map(|h| h.len()).unwrap_or(0))
        .sum();
    let bar = progress_bar(total);
    let mut sources = Vec::new();
    for (label, _copy, store) in &opened {
        bar.set_message(format!("reading {label}"));
        let source =
            merge::read_source(label, store.as_ref(), &ctx, &mut || bar.inc(1)).map_err(refused)?;
        sources.push(source);
    }
    bar.finish_and_clear();
    let planned = merge::plan_merge(target.as_ref(), &mut sources, &ctx).map_err(refused)?;
    let name = hierarchy
        .get(&province)
        .map(|u| u.name.clone())
        .unwrap_or_default();
    writeln!(out, "merge into province {province} ({name})")?;
    for s in &planned.sources {
        writeln!(
            out,
            "from {} (province {}, {}){}: {} plan versions of {} units, {} decisions, {} \
             receipts, {} documents, {} audit records",
            s.label,
            s.province,
            s.province_name,
            if s.already_merged {
                " [merged already: nothing comes in]"
            } else {
                ""
            },
            s.versions,
            s.plans.len(),
            s.decisions,
            s.receipts,
            s.documents,
            s.audit_records
        )?;
        for (unit, versions) in &s.plans {
            writeln!(
                out,
                "  {unit} {}: {versions} versions",
                hierarchy
                    .name_in_time(unit, None)
                    .unwrap_or_else(|| unit.clone())
            )?;
        }
    }
    for c in &planned.collisions {
        writeln!(
            out,
            "collision: {} (CCCD {}) is listed by provinces {}",
            c.name,
            c.person,
            c.provinces.join(", ")
        )?;
    }
    let fresh: Vec<_> = planned
        .sources
        .iter()
        .filter(|s| !s.already_merged)
        .collect();
    let versions: usize = fresh.iter().map(|s| s.versions).sum();
    let decisions: usize = fresh.iter().map(|s| s.decisions).sum();
    let records: usize = fresh.iter().map(|s| s.audit_records).sum();
    if dry_run {
        writeln!(
            out,
            "dry run: nothing written; {} of {} sources would come in ({versions} plan \
             versions, {decisions} decisions, {records} audit records); {} people listed by \
             more than one province",
            fresh.len(),
            planned.sources.len(),
            planned.collisions.len()
        )?;
        return Ok(());
    }
    let changes = merge::merge_changes(&sources, &province, chrono::Utc::now());
    if changes.is_empty() {
        writeln!(
            out,
            "nothing to merge: every source is merged already; nothing written"
        )?;
        return Ok(());
    }
    quyhoach::fault::crash_point(quyhoach::fault::MERGE_BEFORE_COMMIT);
    let ticket = target.commit(changes)?;
    quyhoach::fault::crash_point(quyhoach::fault::MERGE_AFTER_COMMIT);
    target.wait_durable(ticket).await?;
    writeln!(
        out,
        "merged {} provinces into {province}: {versions} plan versions, {decisions} decisions, \
         {records} audit records kept as {} chains of their own; {} people listed by more than \
         one province (the merger worklist on the web page)",
        fresh.len(),
        fresh.len(),
        planned.collisions.len()
    )?;
    Ok(())
}

/// A refusal as the command says it.
fn refused(e: MergeError) -> anyhow::Error {
    match e {
        MergeError::Refused(why) => anyhow::anyhow!("merge refused: {why}"),
        MergeError::Store(e) => anyhow::Error::new(e).context("reading a store"),
    }
}

/// Whether two paths name the same folder.
fn same_folder(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The 2025 province that every plan of the store lies in.
fn infer_province(
    store: &dyn Store,
    hierarchy: &quyhoach::domain::Hierarchy,
) -> anyhow::Result<String> {
    let mut found = std::collections::BTreeSet::new();
    let merged = merge::merged_units(store)?;
    for h in store.headers()? {
        if merged.contains_key(&h.id.unit) {
            continue;
        }
        for s in hierarchy.successors_now(&h.id.unit) {
            if let Some(p) = hierarchy.current().province_of(&s.code) {
                found.insert(p.code.clone());
            }
        }
    }
    match found.len() {
        1 => Ok(found.into_iter().next().unwrap_or_default()),
        0 => anyhow::bail!(
            "--data holds no plan of its own to say which province it serves: give --unit"
        ),
        _ => anyhow::bail!(
            "--data holds plans of provinces {}: give --unit",
            found.into_iter().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Seals the merge's record with the node's key when its trail is sealed.
fn seal_with(target: &SledStore, key: Option<&std::path::Path>) -> anyhow::Result<()> {
    let seals = target.audit_seals()?;
    let last = target.audit_head()?;
    let sealed_last = last
        .as_ref()
        .and_then(|(seq, d)| seals.get(seq).map(|s| (seq, d, s)));
    match (key, sealed_last) {
        (None, None) => Ok(()),
        (None, Some(_)) => anyhow::bail!(
            "--data: the node seals its audit trail; give --audit-key (its TLS private key or \
             its --audit-key file) so that the merge's record is sealed too"
        ),
        (Some(path), sealed) => {
            let key = quyhoach::audit::AuditKey::load(path)?;
            if let Some((seq, digest, seal)) = sealed {
                if !key.opens(*seq, digest, seal) {
                    anyhow::bail!(
                        "--audit-key {}: not this node's key (it does not open the seal of its \
                         last audit record)",
                        path.display()
                    );
                }
            }
            target.set_audit_key(key, Vec::new())?;
            Ok(())
        }
    }
}

/// The position catalogue and terms the target holds, else the built-in ones.
fn target_catalog(store: &dyn Store) -> anyhow::Result<quyhoach::domain::Catalog> {
    if let Some(v) = store.document("reference")? {
        if let Ok(r) = serde_json::from_value::<quyhoach::node::Reference>(v) {
            return Ok(r.catalog);
        }
    }
    Ok(quyhoach::config::builtin_catalog()?)
}

/// A bar over the plan versions read, on a terminal only.
fn progress_bar(total: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} plan versions")
    {
        bar.set_style(style);
    }
    bar
}
