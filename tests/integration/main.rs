//! Integration tests: real nodes on loopback, each with its own sled store in a temporary
//! folder, spoken to over real gRPC.

mod audit;
mod bad_input;
mod certs;
mod checks;
mod clerk_calls;
mod cli;
mod disk;
mod downflow;
mod durability;
mod export_paths;
mod faults;
mod harness;
mod hostile;
mod import_bounds;
mod limits;
mod lists;
mod model;
mod ops;
mod ordering;
mod parent;
mod procs;
mod reconcile_memory;
mod recovery;
mod reviewed;
mod rpc_inputs;
mod sheets;
mod signin;
mod stored;
mod surface;
mod tls;
mod trust;
mod view;
mod web;
mod withdrawal;
mod workflow;
