//! # snowflk-tools — offline inspection and compaction (not yet implemented)
//!
//! This crate will provide the `snowflk-tools` binary with the `dump`, `verify`,
//! `merge` and `stat` subcommands, for engine data directories and Raft log
//! directories alike.
