//! Bundles on removable media (docs/offline-transfer.md): `bundle export` writes what a node
//! would push for a plan version (or, at the approving node, the decisions on a child's plan)
//! into a file, `bundle import` applies one to a node as the link would (and writes the signed
//! receipt of a push beside it), `bundle verify` says offline what a file holds and whether
//! every signature and hash in it holds, with the authority's certificate alone.

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use clap::Subcommand;
use quyhoach::{
    bundle::{
        format::{self, Content, MAX_BUNDLE},
        sign::Trust,
    },
    grpc::{limits::BUNDLE_FRAME_SLACK, pb},
    sync::folder_parent::read_bounded,
};

use super::{args::NodeArgs, progress::Progress, Out};

/// Commands about bundle files.
#[derive(Subcommand)]
pub enum Command {
    /// Write what the node would push for a plan version into a file (at the approving
    /// node: the decisions on a child's plan; with --reference: its reference data for a
    /// child).
    Export {
        #[command(flatten)]
        node: NodeArgs,
        /// The plan's unit (with --reference: the child the reference data is for).
        #[arg(long, visible_alias = "for")]
        unit: String,
        /// The term, e.g. 2025-2030 (not with --reference).
        #[arg(long, required_unless_present = "reference", default_value = "")]
        term: String,
        /// The version [default: the latest].
        #[arg(long, default_value_t = 0)]
        version: u32,
        /// Only the decisions this node took on UNIT's plan, to carry down to UNIT (a district
        /// that approved a commune's plan also holds the approval's push for its own parent).
        #[arg(long, conflicts_with = "reference")]
        decisions: bool,
        /// This node's reference data (positions, terms, rule parameters, the structure and
        /// later reorganisations), sealed for the child UNIT, to carry into the child's
        /// `down/` folder (or `bundle import` it at the child's node).
        #[arg(long, conflicts_with_all = ["version"])]
        reference: bool,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Apply a bundle file to the node as the link would; a push's signed receipt is
    /// written beside the file (or to --receipt-out).
    Import {
        /// The bundle file.
        file: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
        /// Where to write the receipt of a push [default: beside FILE, named as the node
        /// names it].
        #[arg(long)]
        receipt_out: Option<PathBuf>,
    },
    /// Say what a bundle file holds, who signed it, and whether every signature and hash
    /// holds, offline, with the authority's certificate alone (exit 1 if anything does not).
    Verify {
        /// The bundle file.
        file: PathBuf,
        /// The authority's certificate (PEM).
        #[arg(long)]
        ca: PathBuf,
        /// The authority's revocation list (PEM), if any.
        #[arg(long)]
        crl: Option<PathBuf>,
    },
}

/// Runs one command of the family.
///
/// # Errors
///
/// A file cannot be read or written; the node cannot be reached or refuses; for `verify`, a
/// signature or hash that does not hold.
pub async fn run(command: Command, out: &mut Out) -> anyhow::Result<()> {
    match command {
        Command::Export {
            node,
            unit,
            term,
            version,
            decisions,
            reference,
            out: path,
        } => {
            // The project's client reads answers as large as a bundle's (`client::connect`).
            let mut client = node.connect().await?;
            let reply = client
                .export_bundle(pb::ExportBundleRequest {
                    unit,
                    term,
                    version,
                    decisions,
                    reference,
                })
                .await?
                .into_inner();
            write_file(&path, &reply.bundle)?;
            writeln!(
                out,
                "wrote {} ({} bytes; the node names it {})",
                path.display(),
                reply.bundle.len(),
                reply.file_name
            )?;
            Ok(())
        }
        Command::Import {
            file,
            node,
            receipt_out,
        } => {
            let progress = Progress::start(&format!("reading {}", file.display()));
            let bytes = read_bounded(&file).with_context(|| format!("{}", file.display()))?;
            let len = bytes.len();
            progress.step(&format!("sending {len} bytes to {}", node.node));
            let mut client = node
                .connect()
                .await?
                .max_encoding_message_size(MAX_BUNDLE + BUNDLE_FRAME_SLACK);
            let request = pb::ImportBundleRequest { bundle: bytes };
            let reply = progress.during(client.import_bundle(request)).await?;
            let reply = reply.into_inner();
            let file_name = file.display();
            writeln!(out, "imported {file_name} ({len} bytes): {}", reply.outcome)?;
            if !reply.receipt.is_empty() {
                let to = receipt_out.unwrap_or_else(|| {
                    file.parent()
                        .unwrap_or(std::path::Path::new("."))
                        .join(&reply.receipt_file_name)
                });
                write_file(&to, &reply.receipt)?;
                writeln!(
                    out,
                    "receipt written to {}: carry it back to the sender's down/ folder (or `bundle import` it at the sender's node)",
                    to.display()
                )?;
            }
            Ok(())
        }
        Command::Verify { file, ca, crl } => {
            let read = |p: &PathBuf| {
                std::fs::read_to_string(p).with_context(|| format!("{}", p.display()))
            };
            let ca_pem = read(&ca)?;
            let crl_pem = crl.as_ref().map(read).transpose()?;
            let trust = Trust::from_pem(&ca_pem, crl_pem.as_deref()).map_err(anyhow::Error::msg)?;
            let bytes = read_bounded(&file).with_context(|| format!("{}", file.display()))?;
            let sealed = format::read(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
            describe(out, &file, bytes.len(), &sealed.bundle)?;
            let verified = sealed.verify(&trust).map_err(|e| {
                anyhow::anyhow!("{e}: the bundle does NOT verify with {}", ca.display())
            })?;
            writeln!(
                out,
                "sealed by: {} (the seal holds)",
                verified.sealed_by.label()
            )?;
            for s in &verified.statements {
                writeln!(out, "signed: {} (the signature holds)", s.describe())?;
            }
            if let Content::Reference { version, document } = &sealed.bundle.content {
                // The seal is the reference data's signature; the document must also be one.
                let r = quyhoach::node::Reference::from_document(document).map_err(|e| {
                    anyhow::anyhow!("{e}: the bundle does NOT hold usable reference data")
                })?;
                if r.version != *version {
                    anyhow::bail!(
                        "bundle.reference.version: the bundle says version {version}, its document {}",
                        r.version
                    );
                }
            }
            writeln!(out, "every signature and hash holds")?;
            Ok(())
        }
    }
}

/// Prints what a bundle holds, before anything in it is trusted.
fn describe(
    out: &mut Out,
    file: &std::path::Path,
    len: usize,
    b: &format::Bundle,
) -> std::io::Result<()> {
    // The mark first, where an office looks for it (it is under the seal, checked below).
    writeln!(
        out,
        "classification: {}",
        if b.classification.is_empty() {
            "(none)"
        } else {
            &b.classification
        }
    )?;
    writeln!(
        out,
        "{}: {} bytes, format {}, a {} from {} to {}, written {}",
        file.display(),
        len,
        format::FORMAT,
        b.content.kind(),
        b.from_unit,
        b.to_unit,
        b.created_at.to_rfc3339()
    )?;
    let plan_lines = |out: &mut Out, plan: &quyhoach::domain::Plan| -> std::io::Result<()> {
        let hash = plan.content_hash();
        writeln!(
            out,
            "holds: plan {} {}, {} entries, {} ballot round(s), hash {} ({})",
            plan.id,
            plan.status.as_str(),
            plan.entries.len(),
            plan.rounds.len(),
            plan.hash.as_deref().unwrap_or("-"),
            if plan.hash.as_deref() == Some(hash.as_str()) {
                "the content's own".to_string()
            } else {
                format!("NOT the content's, which is {hash}")
            }
        )?;
        if let Some(d) = &plan.decision {
            writeln!(
                out,
                "decision: {:?} by {} at {}",
                d.outcome,
                d.decided_by,
                d.decided_at.to_rfc3339()
            )?;
        }
        Ok(())
    };
    match &b.content {
        Content::Record { plan, signatures } => {
            plan_lines(out, plan)?;
            writeln!(
                out,
                "as held by {}, with {} signature(s) kept on it",
                b.from_unit,
                signatures.len()
            )?;
        }
        Content::Push {
            plan, audit_head, ..
        } => {
            plan_lines(out, plan)?;
            writeln!(
                out,
                "audit head of {}: {}",
                b.from_unit,
                if audit_head.is_empty() {
                    "-"
                } else {
                    audit_head
                }
            )?;
        }
        Content::Receipt { receipt, .. } => writeln!(
            out,
            "holds: receipt for {} (hash {}) by {} at {}",
            receipt.plan,
            receipt.hash,
            receipt.received_by,
            receipt.received_at.to_rfc3339()
        )?,
        Content::Reference { version, document } => {
            match quyhoach::node::Reference::from_document(document) {
                Ok(r) => {
                    writeln!(
                        out,
                        "holds: reference data version {version} of {}: {} positions, {} terms, structure {}",
                        b.from_unit,
                        r.catalog.positions.len(),
                        r.catalog.terms.len(),
                        r.structure
                            .as_ref()
                            .map_or("as the nodes were started".to_string(), |s| format!(
                                "{} (since {})",
                                s.label, s.on
                            )),
                    )?;
                    if r.version != *version {
                        writeln!(
                            out,
                            "the document says version {}: NOT the bundle's",
                            r.version
                        )?;
                    }
                }
                Err(e) => writeln!(out, "holds: reference data version {version}: {e}")?,
            }
        }
        Content::Decisions { decisions, .. } => {
            for (seq, d) in decisions {
                writeln!(
                    out,
                    "holds: decision {seq}: {:?} {} (hash {}) by {} at {}",
                    d.outcome,
                    d.plan,
                    d.hash,
                    d.decided_by,
                    d.decided_at.to_rfc3339()
                )?;
            }
        }
    }
    Ok(())
}

/// Writes a file and flushes it to disk before saying it is written.
fn write_file(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = std::fs::File::create(path).with_context(|| format!("{}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("{}", path.display()))
}
