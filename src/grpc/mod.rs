//! The gRPC layer: generated types, conversions, and thin handlers for the two services.
//! Handlers validate and convert, call one [`crate::node::Node`] method, and convert back.

pub mod convert;
mod node_sync;
mod planning;

pub use node_sync::NodeSyncService;
pub use planning::PlanningService;

/// Types generated from `proto/quyhoach/v1/quyhoach.proto`.
pub mod pb {
    tonic::include_proto!("quyhoach.v1");

    /// The encoded descriptor set, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("quyhoach_descriptor");
}

use tonic::{Code, Status};

use crate::error::Error;

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::Invalid(_) => Code::InvalidArgument,
            Error::NotFound(_) => Code::NotFound,
            Error::Precondition(_) => Code::FailedPrecondition,
            Error::Conflict(_) => Code::AlreadyExists,
            Error::Denied(_) => Code::PermissionDenied,
            Error::Unavailable(_) => Code::Unavailable,
            Error::Store(_) => Code::Internal,
        };
        if code == Code::Internal {
            tracing::error!(error = %e, "internal error");
        }
        Status::new(code, e.to_string())
    }
}
