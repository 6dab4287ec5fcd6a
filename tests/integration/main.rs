//! Integration tests: real nodes on loopback, each with its own sled store in a temporary
//! folder, spoken to over real gRPC.

mod audit;
mod bad_input;
mod checks;
mod cli;
mod disk;
mod downflow;
mod durability;
mod faults;
mod harness;
mod limits;
mod lists;
mod model;
mod ops;
mod ordering;
mod procs;
mod reconcile_memory;
mod recovery;
mod sheets;
mod surface;
mod tls;
mod view;
mod web;
mod workflow;
