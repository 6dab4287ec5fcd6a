//! The two `Planning` methods that carry bundles (docs/offline-transfer.md): `ExportBundle`
//! writes what this node would push for a plan version (or the decisions it took on a
//! child's, or its reference data for a child), `ImportBundle` applies one as the link would. Both are for a clerk of this
//! node's unit, the person who carries the files; the push inside a bundle is taken with the
//! bundle's signer, the child's node, as the caller.

use tonic::Status;

use super::pb;
use crate::{
    auth::Caller,
    node::{bundles as exchange, Node},
};

/// `ExportBundle` for `who`: the bundle and the name to save it under.
///
/// # Errors
///
/// INVALID_ARGUMENT if `reference` and `decisions` are both asked; PERMISSION_DENIED if `who`
/// is not a clerk of this node's unit; otherwise the status of the node's refusal
/// (`node::bundles::export`, `node::bundles::export_reference`).
pub async fn export(
    node: &Node,
    who: &Caller,
    request: pb::ExportBundleRequest,
) -> Result<pb::BundleResponse, Status> {
    let pb::ExportBundleRequest {
        unit,
        term,
        version,
        decisions,
        reference,
    } = request;
    let exported = if reference {
        if decisions {
            return Err(crate::error::Error::invalid(
                "reference",
                "a bundle carries either the reference data or decisions, not both",
            )
            .into());
        }
        exchange::export_reference(node, who, unit.trim())?
    } else {
        let direction = if decisions {
            exchange::Direction::Down
        } else {
            exchange::Direction::Any
        };
        exchange::export(node, who, unit.trim(), term.trim(), version, direction).await?
    };
    Ok(pb::BundleResponse {
        bundle: exported.bytes,
        file_name: exported.file_name,
    })
}

/// `ImportBundle` for `who`: the bundle `bytes` applied as the link would apply it, and the
/// receipt file to carry back.
///
/// # Errors
///
/// PERMISSION_DENIED if `who` is not a clerk of this node's unit or the bundle's signer may
/// not do what it carries; INVALID_ARGUMENT if the bundle is malformed or does not verify;
/// ALREADY_EXISTS for another content under a held version; otherwise the status of the
/// node's refusal (`node::bundles::import`).
pub async fn import(
    node: std::sync::Arc<Node>,
    who: &Caller,
    pb::ImportBundleRequest { bundle: bytes }: pb::ImportBundleRequest,
) -> Result<pb::ImportBundleResponse, Status> {
    let who = who.clone();
    // Run to completion even if the clerk's command goes away mid-way, so that a bundle is
    // applied whole or not at all, as a push is.
    let imported = tokio::spawn(async move { exchange::import(&node, &who, &bytes).await })
        .await
        .map_err(|e| Status::internal(format!("bundle import failed: {e}")))??;
    let (receipt, receipt_file_name) = match imported.receipt {
        Some(r) => (r.bytes, r.file_name),
        None => (Vec::new(), String::new()),
    };
    Ok(pb::ImportBundleResponse {
        outcome: imported.outcome,
        receipt,
        receipt_file_name,
        duplicate: imported.duplicate,
    })
}
