//! # snowflk-server — a snowflk node
//!
//! (Crate docs are being written; see the module list.)

pub mod backend;
pub mod config;
pub mod ops;
pub mod resp;
pub mod state_machine;
