//! The deterministic simulator shared by `simulation.rs` and `scenarios.rs`:
//! many Raft nodes in one process, a seeded network, crashes and restarts,
//! with the Raft safety properties checked after every step.
#![allow(dead_code)]

pub mod client;
pub mod cluster;
pub mod invariants;
pub mod kv;
pub mod linearizability;
pub mod network;
