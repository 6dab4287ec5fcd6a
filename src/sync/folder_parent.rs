//! The upward link over a folder (`serve --parent-dir DIR`), for a node that shares no network
//! with its parent: plans go up as bundle files written into `DIR/up/`, and receipts,
//! decisions and the parent's reference data come back as bundle files someone puts into
//! `DIR/down/` (removable media carried between the two offices; docs/offline-transfer.md).
//! It is the same [`Parent`] as the gRPC link, driven by the same loop ([`super::drive`]), so
//! the outbox keeps its guarantees: an item stays queued, in order, until a receipt for
//! exactly its version, hash and status, signed by the parent's node, is found in `down/`.
//!
//! A bundle is written to a temporary name in `up/` (starting with a dot), flushed to disk and
//! renamed, so that `up/` never shows a partial bundle under a bundle's name. What arrives in
//! `down/` is verified like anything from a peer (size before reading, seal, every signature,
//! the parent's node certificate); a file that does not verify is logged and left alone.

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use super::{drive, Parent, PullRequest, PushRefused};
use crate::{
    bundle::format::{self, Content, MAX_BUNDLE},
    config::SyncSettings,
    domain::{Decision, Plan, Receipt},
    node::{bundles as exchange, Node, ParentView, Reference},
};

/// The crash point after a bundle's temporary file is written and flushed, before its rename
/// (`QUYHOACH_CRASH_AT=bundle-written`).
pub const BUNDLE_WRITTEN: &str = "bundle-written";

/// The link over a folder.
pub struct FolderParent {
    node: Arc<Node>,
    dir: PathBuf,
}

impl FolderParent {
    /// The link of `node` over `dir`, creating `dir/up` and `dir/down` if missing.
    ///
    /// # Errors
    ///
    /// The file system's error if the folders cannot be created.
    pub fn new(node: Arc<Node>, dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir.join("up"))?;
        std::fs::create_dir_all(dir.join("down"))?;
        Ok(FolderParent {
            node,
            dir: dir.to_path_buf(),
        })
    }

    /// The bundles in `down/` that verify and come from this node's parent, in name order; a
    /// file that does not is logged (once per pass) and skipped.
    fn arrived(&self) -> Result<Vec<format::Bundle>, String> {
        let down = self.dir.join("down");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&down)
            .map_err(|e| format!("{}: {e}", down.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "qhb"))
            .collect();
        names.sort();
        let mut found = Vec::new();
        for path in names {
            match read_bounded(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| exchange::open(&self.node, &bytes).map_err(|e| e.to_string()))
            {
                Ok((sealed, _)) => found.push(sealed.bundle),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "bundle in down/ refused")
                }
            }
        }
        Ok(found)
    }

    /// Writes the push bundle of this node's own version `plan` into `up` once: the bytes under
    /// the temporary name (flushed), then the record that it left (`record_left`, so that a
    /// withdrawal finds it), then the rename. A file that was written before and is gone now
    /// was carried (moved out of `up/`) and is not written again: a withdrawal then refuses,
    /// and `bundle export` writes another. A temporary file without its record (a crash
    /// between the two) is written again.
    async fn write_own(
        &self,
        up: &Path,
        plan: &Plan,
        exported: &exchange::Exported,
    ) -> Result<(), PushRefused> {
        let failed =
            |e: std::io::Error| PushRefused::Failed(format!("cannot write {}: {e}", up.display()));
        let name = &exported.file_name;
        let dir = std::fs::canonicalize(up).unwrap_or_else(|_| up.to_path_buf());
        let via = exchange::Via::Folder { dir };
        let hash = plan.hash.clone().unwrap_or_default();
        let recorded = exchange::left(&self.node, &plan.id)
            .map_err(|e| PushRefused::Failed(format!("push {}: {e}", plan.id)))?
            .iter()
            .any(|l| &l.file == name && l.hash == hash && l.via == via);
        let (tmp, to) = temporary(up, name).map_err(failed)?;
        if to.exists() || (recorded && !tmp.exists()) {
            return Ok(());
        }
        write_temporary(&tmp, &exported.bytes).map_err(failed)?;
        exchange::record_left(&self.node, None, plan, name, via)
            .await
            .map_err(|e| PushRefused::Failed(format!("push {}: {e}", plan.id)))?;
        publish(up, &tmp, &to).map_err(failed)?;
        tracing::info!(plan = %plan.id, file = %name, "bundle written for the parent");
        Ok(())
    }

    /// Bundles waiting in `up/` to be carried.
    fn waiting(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.join("up"))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".qhb") && !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }
}

/// Reads a bundle file, refusing one larger than [`MAX_BUNDLE`] before reading it.
///
/// # Errors
///
/// The file system's error, or [`std::io::ErrorKind::InvalidData`] for a file too large.
pub fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > MAX_BUNDLE as u64 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{}: {len} bytes, more than the {MAX_BUNDLE} a bundle may hold",
                path.display()
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_BUNDLE as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > MAX_BUNDLE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{}: more than the {MAX_BUNDLE} bytes a bundle may hold",
                path.display()
            ),
        ));
    }
    Ok(bytes)
}

/// Writes `bytes` as `dir/name` so that the name never shows a partial file: into
/// `dir/.name.tmp`, flushed to disk, renamed, and the folder flushed.
///
/// # Errors
///
/// The file system's error.
pub fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let (tmp, to) = temporary(dir, name)?;
    write_temporary(&tmp, bytes)?;
    publish(dir, &tmp, &to)?;
    Ok(to)
}

/// The temporary path (`dir/.name.tmp`) and the final one of a bundle `name` in `dir`.
fn temporary(dir: &Path, name: &str) -> std::io::Result<(PathBuf, PathBuf)> {
    crate::pki::check_stem(name)?;
    Ok((dir.join(format!(".{name}.tmp")), dir.join(name)))
}

/// Writes `bytes` to the temporary file `tmp` and flushes it to disk.
fn write_temporary(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    crate::fault::crash_point(BUNDLE_WRITTEN);
    Ok(())
}

/// Renames `tmp` to `to` in `dir` and flushes the folder.
fn publish(dir: &Path, tmp: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(tmp, to)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

impl Parent for FolderParent {
    async fn push(&mut self, _from: &str, plan: &Plan) -> Result<Receipt, PushRefused> {
        let arrived = self.arrived().map_err(PushRefused::Failed)?;
        for bundle in arrived {
            if let Content::Receipt { receipt, signature } = bundle.content {
                let fits = receipt.plan == plan.id
                    && plan.hash.as_deref() == Some(receipt.hash.as_str())
                    && signature.statement.status == plan.status;
                if fits {
                    exchange::take_receipt(&self.node, &receipt, plan.status, Some(signature))
                        .await
                        .map_err(|e| PushRefused::Failed(e.to_string()))?;
                    return Ok(receipt);
                }
            }
        }
        let exported = exchange::push_bundle(&self.node, plan)
            .await
            .map_err(|e| PushRefused::Failed(format!("push {}: {e}", plan.id)))?;
        let up = self.dir.join("up");
        if plan.id.unit == self.node.unit().code {
            self.write_own(&up, plan, &exported).await?;
        } else if !up.join(&exported.file_name).exists() {
            write_durably(&up, &exported.file_name, &exported.bytes)
                .map_err(|e| PushRefused::Failed(format!("cannot write {}: {e}", up.display())))?;
            tracing::info!(plan = %plan.id, file = %exported.file_name, "bundle written for the parent");
        }
        let waiting = self.waiting();
        Err(PushRefused::Failed(if waiting.is_empty() {
            format!(
                "folder link {}: every bundle was carried; waiting for the parent's receipt in {}",
                self.dir.display(),
                self.dir.join("down").display()
            )
        } else {
            format!(
                "folder link {}: waiting to be carried to the parent: {}",
                self.dir.display(),
                waiting.join(", ")
            )
        }))
    }

    async fn pull_decisions(
        &mut self,
        _from: &str,
        request: PullRequest,
    ) -> Result<Vec<(u64, Decision)>, String> {
        let mut decisions: std::collections::BTreeMap<u64, (Decision, _)> = Default::default();
        for bundle in self.arrived()? {
            if let Content::Decisions {
                decisions: carried,
                signatures,
            } = bundle.content
            {
                for ((seq, d), s) in carried.into_iter().zip(signatures) {
                    if seq > request.after && d.plan.unit == self.node.unit().code {
                        decisions.insert(seq, (d, s));
                    }
                }
            }
        }
        let (decisions, signatures): (Vec<_>, Vec<_>) = decisions
            .into_iter()
            .map(|(seq, (d, s))| ((seq, d), s))
            .unzip();
        exchange::take_decisions(&self.node, &decisions, signatures)
            .await
            .map_err(|e| e.to_string())?;
        Ok(decisions)
    }

    async fn get_reference(&mut self, _from: &str, have: u64) -> Result<Option<Reference>, String> {
        // The newest reference bundle in down/ from this node's parent, read as a gRPC
        // answer's document is; `sync::step` hands it to `Node::receive_reference`, which
        // checks it as it checks that answer. A bundle that is not the parent's, whose
        // document does not decode, or that those checks refuse (`Node::check_reference`) is
        // logged and skipped like any bundle that does not verify, so that it never hides an
        // older good one.
        let mut newest: Option<Reference> = None;
        for bundle in self.arrived()? {
            if let Content::Reference { version, document } = &bundle.content {
                if *version <= have || newest.as_ref().is_some_and(|n| n.version >= *version) {
                    continue;
                }
                match exchange::reference_carried(&self.node, &bundle.from_unit, *version, document)
                    .and_then(|r| self.node.check_reference(&r).map(|()| r))
                {
                    Ok(reference) => newest = Some(reference),
                    Err(e) => tracing::warn!(
                        file = %bundle.file_name(),
                        error = %e,
                        "reference bundle in down/ refused"
                    ),
                }
            }
        }
        Ok(newest)
    }

    async fn get_sources(
        &mut self,
        _from: &str,
        _held: Vec<crate::domain::PlanId>,
    ) -> Result<Vec<Plan>, String> {
        // Source plans do not travel over a folder: a call has no answer to wait for here.
        Ok(Vec::new())
    }

    async fn reconcile(
        &mut self,
        _from: &str,
        digest: &str,
        _decision_cursor: u64,
    ) -> Result<ParentView, String> {
        // No round trip over a folder: anti-entropy cannot ask the parent what it holds, so
        // the link reports no difference; the outbox and its receipts carry the guarantees.
        Ok(ParentView {
            digest: digest.to_string(),
            plans: Vec::new(),
        })
    }
}

/// Drives the link of `node` over the folder `dir` until the task is aborted.
pub async fn run(node: Arc<Node>, dir: PathBuf, settings: SyncSettings) {
    let name = format!("folder {}", dir.display());
    match FolderParent::new(node.clone(), &dir) {
        Ok(parent) => drive(node, parent, settings, &name).await,
        Err(e) => {
            tracing::error!(dir = %dir.display(), error = %e, "cannot use the parent folder");
            node.note_link(Err(format!(
                "cannot use the parent folder {}: {e}",
                dir.display()
            )));
        }
    }
}
