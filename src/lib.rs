//! `quyhoach` keeps Vietnam's cadre planning lists (danh sách quy hoạch cán bộ) in step across
//! the levels of local government. Each commune, district and province runs a node; a unit
//! records its plan, votes, adopts and submits it; the approving level approves or returns it;
//! approved plans travel upward so that the province holds every plan of its subtree.
//!
//! # Layout
//!
//! - [`domain`]: units, positions, terms, cadres, plans, ballots, decisions, the records kept
//!   beside plans (headers, outbox items, receipts, conflicts); Vietnamese text and the identity
//!   key of a name ([`domain::name`]).
//!   Plain structs and pure functions.
//! - [`rules`]: the planning rules (R1–R26) and their parameters. Pure.
//! - [`store`]: the [`store::Store`] trait and its sled implementation, with group commit, the
//!   durable-state record kept beside it (`store::state`), and a stopped node's audit trail read
//!   from a copy ([`store::trail`]).
//! - [`node`]: the transport-free operations of a node (workflow, approval, queries, the audit
//!   trail as a reader filters it, what a parent answers its children, and anti-entropy with
//!   the parent and the children), over its in-memory [`view`] of the plans it holds and, at the
//!   province, live findings.
//! - [`view`]: every current plan version a node holds, in memory: the consolidated list's
//!   rows, pages and cursors, and the person index that incremental checks read.
//! - [`sync`]: the upward link behind the `Parent` trait: outbox delivery, decisions pulled
//!   down, reconciliation; its gRPC implementation in [`sync::grpc_parent`].
//! - [`bundle`]: signed statements on plan versions (submission, decision, receipt) and the
//!   bundle files that carry a link's traffic on removable media.
//! - [`link`]: the child's TLS link to its parent, which must hold the parent unit's node
//!   certificate.
//! - [`grpc`]: the proto types, conversions, the two thin services and the gate in front of
//!   them (authentication before decoding, size and shape limits, rate limit), and the
//!   accept loop (connection cap, the TLS handshake and its refusals logged with the peer).
//! - [`server`]: `run` and `spawn`, the node as a library function.
//! - [`error`]: the node layer's error, one variant per gRPC status it maps to.
//! - [`audit`]: the hash-chained audit trail, its seals (a key outside the store) and its
//!   verification, against the seals and against what the parent witnessed.
//! - [`auth`]: callers (from certificates), roles and what each may do. Pure.
//! - [`signature`]: detached CMS (PKCS#7) signatures that approvers make outside the system
//!   with their official-use certificate, verified against the deployment's signing authority
//!   (RustCrypto's `cms` and `x509-cert`). Pure.
//! - [`pki`]: the certificate authority, certificates for nodes and users, and revocation
//!   lists (rcgen).
//! - [`client`]: connecting to a node, loading a unit's list into its draft, printing tables,
//!   and asking for a web login; shared by the CLI (`src/cli/`, in the binary) and the demo.
//! - [`tabular`]: Excel (.xlsx) and text import and export of planning lists, in the flat and
//!   the official layout, and the blank template.
//! - [`fault`]: crash points for fault tests (off unless an environment variable names one).
//! - [`logging`]: log output with national ID numbers masked.
//! - [`metrics`]: Prometheus metrics and the `/metrics` endpoint (axum).
//! - [`config`]: raw and validated configuration (the link's timing among it), the one TLS
//!   type, and the reading of reference data files (the domain parses their text).
//! - [`demo`]: the demonstration hierarchy (here, not in the binary, because the integration
//!   tests start it).
//! - [`web`]: the web page of a node's subtree (the Organization Board's workstation).

#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

// The benchmarks' synthetic province (`benches/quyhoach/synth.rs`) is no part of the library;
// its tests and `view`'s, which check on it, compile it here. It names the library
// `quyhoach`, as the benchmark does.
#[cfg(test)]
extern crate self as quyhoach;
#[cfg(test)]
#[path = "../benches/quyhoach/synth.rs"]
#[allow(dead_code)]
mod synth;

/// The tests' synthetic province: "40" of the 2024 structure with about `entries` entries made
/// from `seed`, beside the units and the catalogue it was made from.
#[cfg(test)]
pub(crate) fn synthetic_province(
    seed: u64,
    entries: usize,
) -> (domain::Hierarchy, domain::Catalog, synth::Synthetic) {
    let hierarchy = config::load_units("builtin:2024").expect("the built-in units load");
    let catalog = config::builtin_catalog().expect("the built-in catalogue loads");
    let mut spec = synth::Spec::sized("40", synth::Size::S, seed);
    spec.target_entries = entries;
    let plans = synth::generate(&hierarchy, &catalog, &spec);
    (hierarchy, catalog, plans)
}

pub mod audit;
pub mod auth;
pub mod bundle;
pub mod client;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod fault;
pub mod grpc;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod node;
pub mod pki;
pub mod rules;
pub mod server;
pub mod signature;
pub mod store;
pub mod sync;
pub mod tabular;
pub mod view;
pub mod web;
