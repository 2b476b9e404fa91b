//! # raftlog — Raft consensus for snowflk (not yet implemented)
//!
//! This crate will hold a sans-IO Raft state machine (inputs: ticks, messages,
//! proposals, read requests; outputs: a ready batch of entries and hard state to
//! persist, messages to send and committed entries to apply), generic over the
//! command type, together with a persistent log stored on the `bitcask` crate's
//! segment format. See issue 4 and `DESIGN.md`.
