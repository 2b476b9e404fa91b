//! # snowflk-server — a snowflk node
//!
//! (Crate docs are being written; see the module list.)

pub mod backend;
pub mod commands;
pub mod config;
pub mod connection;
pub mod ops;
pub mod raft;
pub mod resp;
pub mod server;
pub mod state_machine;
