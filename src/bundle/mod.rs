//! Bundles: what a link between a node and its parent carries (a push, a receipt, decisions),
//! as one signed file to carry on removable media, and the signed statements on plan versions
//! that travel in them (docs/offline-transfer.md).
//!
//! - [`sign`]: statements, the node's signer, and verification with the authority alone.
//! - [`format`]: the file (`proto/quyhoach/v1/bundle.proto`): writing, reading within limits,
//!   verifying.
//!
//! A node's side (exporting what it would push, importing a bundle as the link would apply it)
//! is `node::bundles`, so that this module, below the node, imports nothing of it.

pub mod format;
pub mod sign;
