//! Integration tests: real nodes on loopback, each with its own sled store in a temporary
//! folder, spoken to over real gRPC.

mod bad_input;
mod durability;
mod harness;
mod surface;
mod workflow;
