//! The gRPC layer: generated types, conversions, and thin handlers for the two services.
//! Handlers validate and convert, call one [`crate::node::Node`] method, and convert back.

mod bundles;
pub mod convert;
pub mod gate;
pub mod incoming;
pub mod limits;
pub mod node_convert;
mod node_sync;
pub mod paged;
mod planning;

pub use node_sync::NodeSyncService;
pub use planning::PlanningService;

/// Types generated from `proto/quyhoach/v1/quyhoach.proto`.
// A bundle body's oneof holds a whole plan beside a receipt; one is decoded per file.
#[allow(missing_docs, clippy::missing_errors_doc, clippy::large_enum_variant)]
pub mod pb {
    tonic::include_proto!("quyhoach.v1");

    /// The encoded descriptor set, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("quyhoach_descriptor");
}

use tonic::{Code, Status};

use crate::error::Error;

/// Status metadata naming the hash a receiving node holds, on ALREADY_EXISTS.
pub const HELD_HASH: &str = "quyhoach-held-hash";
/// Status metadata naming the hash a refused push carried.
pub const OFFERED_HASH: &str = "quyhoach-offered-hash";

/// Longest status message sent, in bytes: a message quotes what was refused, and a refused
/// value can be as long as the request, but the message travels in a header (`grpc-message`)
/// that a client refuses past a few kilobytes, so an echoed value would turn a clear refusal
/// into a protocol error.
pub const MAX_STATUS_MESSAGE: usize = 1_024;

/// `message`, cut to at most [`MAX_STATUS_MESSAGE`] bytes on a character boundary, with `…`
/// where it was cut.
pub fn bounded_message(message: String) -> String {
    if message.len() <= MAX_STATUS_MESSAGE {
        return message;
    }
    let mut end = MAX_STATUS_MESSAGE - '…'.len_utf8();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::Invalid(_) => Code::InvalidArgument,
            Error::NotFound(_) => Code::NotFound,
            Error::Precondition(_) => Code::FailedPrecondition,
            Error::HashConflict { .. } => Code::AlreadyExists,
            Error::Denied(_) => Code::PermissionDenied,
            Error::Store(s) if s.says_disk_full() => Code::ResourceExhausted,
            Error::Store(crate::store::StoreError::Reopening { .. }) => Code::Unavailable,
            // Damage found in the store is the store's fault, never the caller's argument.
            Error::Store(
                crate::store::StoreError::Behind(_) | crate::store::StoreError::Corrupt { .. },
            ) => Code::DataLoss,
            Error::Store(_) => Code::Internal,
        };
        if code == Code::Internal {
            tracing::error!(error = %e, "internal error");
        }
        let message = match &e {
            // An I/O error that says the disk is full, in the operator's words.
            Error::Store(s)
                if s.says_disk_full() && !matches!(s, crate::store::StoreError::Full { .. }) =>
            {
                format!("the disk holding the store is full: {e}")
            }
            _ => e.to_string(),
        };
        let mut status = Status::new(code, bounded_message(message));
        if let Error::HashConflict { held, offered, .. } = &e {
            for (key, value) in [(HELD_HASH, held), (OFFERED_HASH, offered)] {
                if let Ok(v) = value.parse() {
                    status.metadata_mut().insert(key, v);
                }
            }
        }
        status
    }
}

/// The caller behind a request, as the [`gate`] admitted it (from its client certificate, or
/// [`Caller::Insecure`](crate::auth::Caller::Insecure) on a node started with `--insecure`);
/// read from the certificate again only for a service mounted without the gate.
///
/// # Errors
///
/// UNAUTHENTICATED if the gate has not admitted a caller, the node is not insecure, and the
/// request carries no client certificate or one that names no caller.
pub fn caller<T>(insecure: bool, req: &tonic::Request<T>) -> Result<crate::auth::Caller, Status> {
    if let Some(caller) = req.extensions().get::<crate::auth::Caller>() {
        return Ok(caller.clone());
    }
    if insecure {
        return Ok(crate::auth::Caller::Insecure);
    }
    let certs = req.peer_certs().ok_or_else(|| {
        Status::unauthenticated("no client certificate: connect with TLS and a certificate from this province's authority")
    })?;
    let leaf = certs
        .first()
        .ok_or_else(|| Status::unauthenticated("the client presented no certificate"))?;
    crate::pki::caller_from_der(leaf.as_ref())
        .map_err(|e| Status::unauthenticated(format!("client certificate: {e}")))
}

#[cfg(test)]
mod message_tests {
    use super::*;

    #[test]
    fn a_status_message_is_cut_on_a_character_boundary() {
        let short = "unit: unknown".to_string();
        assert_eq!(bounded_message(short.clone()), short);
        let exact = "a".repeat(MAX_STATUS_MESSAGE);
        assert_eq!(bounded_message(exact.clone()), exact);
        // Two-byte letters put a boundary inside the limit.
        let long = format!("position: {}", "ệ".repeat(5_000));
        let cut = bounded_message(long);
        assert!(cut.len() <= MAX_STATUS_MESSAGE, "{}", cut.len());
        assert!(cut.starts_with("position: ") && cut.ends_with('…'));
    }
}
