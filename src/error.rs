//! The node layer's error: every way an operation can fail, each mapped to one gRPC status in
//! `grpc::status`. Bad input names the field at fault.

use crate::{domain::FieldError, store::StoreError};

/// Why a node operation failed; each variant is one gRPC status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is malformed (INVALID_ARGUMENT).
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// Something the request names does not exist (NOT_FOUND).
    #[error("{0}")]
    NotFound(FieldError),
    /// The request is well formed but the state does not allow it (FAILED_PRECONDITION).
    #[error("{0}")]
    Precondition(FieldError),
    /// A push of a version already held with another hash (ALREADY_EXISTS, both hashes in the
    /// status metadata `quyhoach-held-hash` and `quyhoach-offered-hash`).
    #[error("plan.hash: {plan} is already held with hash {held}; this push has hash {offered}; nothing was overwritten")]
    HashConflict {
        /// The plan version pushed.
        plan: crate::domain::PlanId,
        /// The hash of the version held here.
        held: String,
        /// The hash of the version offered.
        offered: String,
    },
    /// The caller may not do this here (PERMISSION_DENIED).
    #[error("{0}")]
    Denied(FieldError),
    /// Storage failed (INTERNAL).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// NOT_FOUND for `field`.
    pub fn not_found(field: &str, problem: impl Into<String>) -> Self {
        Self::NotFound(FieldError::new(field, problem))
    }
    /// FAILED_PRECONDITION for `field`.
    pub fn precondition(field: &str, problem: impl Into<String>) -> Self {
        Self::Precondition(FieldError::new(field, problem))
    }
    /// PERMISSION_DENIED for `field`.
    pub fn denied(field: &str, problem: impl Into<String>) -> Self {
        Self::Denied(FieldError::new(field, problem))
    }
    /// INVALID_ARGUMENT for `field`.
    pub fn invalid(field: &str, problem: impl Into<String>) -> Self {
        Self::Invalid(FieldError::new(field, problem))
    }
    /// Whether the failure passes by itself: the disk is full or the store is reopening after
    /// a failed write, so the same request can succeed later (docs/full-disk.md).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(StoreError::Reopening { .. }) => true,
            Self::Store(s) => s.says_disk_full(),
            _ => false,
        }
    }
}

/// The result of a node operation.
pub type Result<T> = std::result::Result<T, Error>;
