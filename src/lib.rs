//! `quyhoach` keeps Vietnam's cadre planning lists (danh sách quy hoạch cán bộ) in step across
//! the levels of local government. Each commune, district and province runs a node; a unit
//! records its plan, votes, adopts and submits it; the approving level approves or returns it;
//! approved plans travel upward so that the province holds every plan of its subtree.
//!
//! # Layout
//!
//! - [`domain`]: units, positions, terms, cadres, plans, ballots, decisions; Vietnamese text.
//!   Plain structs and pure functions.
//! - [`rules`]: the planning rules (R1–R22) and their parameters. Pure.
//! - [`store`]: the [`store::Store`] trait and its sled implementation, with group commit.
//! - [`node`]: the transport-free operations of a node (workflow, approval, queries), over its
//!   in-memory view of the plans it holds (`node::view`) and, at the province, live findings.
//! - [`sync`]: the upward link: outbox delivery and decisions pulled down.
//! - [`grpc`]: the proto types, conversions and the two thin services.
//! - [`server`]: `run` and `spawn`, the node as a library function.
//! - [`error`]: the node layer's error, one variant per gRPC status it maps to.
//! - [`audit`]: the hash-chained audit trail and its verification. Pure.
//! - [`auth`]: callers (from certificates), roles and what each may do. Pure.
//! - [`pki`]: the certificate authority and certificates for nodes and users (rcgen).
//! - [`client`]: client helpers shared by the CLI and the demo.
//! - [`tabular`]: Excel (.xlsx) and CSV import and export of planning lists.
//! - [`fault`]: crash points for fault tests (off unless an environment variable names one).
//! - [`logging`]: log output with national ID numbers masked.
//! - [`metrics`]: Prometheus metrics and the `/metrics` endpoint.
//! - [`sheets`]: the CLI's import and export of lists (Excel, CSV, JSON).
//! - [`config`]: raw and validated configuration.
//! - [`demo`]: the demonstration hierarchy.
//! - [`synth`]: a deterministic synthetic province (S, M, L) for the benchmarks.

pub mod audit;
pub mod auth;
pub mod client;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod fault;
pub mod grpc;
pub mod logging;
pub mod metrics;
pub mod node;
pub mod pki;
pub mod rules;
pub mod server;
pub mod sheets;
pub mod store;
pub mod sync;
pub mod synth;
pub mod tabular;
