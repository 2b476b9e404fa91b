//! # snowflk-server — a snowflk node (not yet implemented)
//!
//! This crate will run one node: the tokio runtime that drives the `raftlog`
//! consensus core, the TCP peer transport, the RESP2/RESP3 client server and the
//! key-value state machine on top of the `bitcask` engine.
