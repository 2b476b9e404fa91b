//! # raftlog — Raft consensus as a sans-IO library
//!
//! This crate is the consensus layer of snowflk, usable on its own with any
//! state machine. It implements Raft (Ongaro & Ousterhout, "In Search of an
//! Understandable Consensus Algorithm", 2014, cited below as §N; and Ongaro's
//! thesis, cited as "thesis §N") as a **deterministic state machine**: a
//! [`Raft`] node never touches a socket, a clock, a file, a thread or a global
//! random source. The caller feeds it inputs and carries out its outputs.
//!
//! ## How it works
//!
//! Inputs:
//! - [`Raft::tick`] — one unit of logical time. Heartbeats and election
//!   timeouts are counted in ticks ([`Config::heartbeat_tick`],
//!   [`Config::election_tick`]); the heartbeat must be at least
//!   [`config::MIN_ELECTION_TO_HEARTBEAT_RATIO`] times shorter than the election
//!   timeout (§5.6), and each node draws its timeout from
//!   `[election_tick, 2 * election_tick)` with an RNG seeded by the caller.
//! - [`Raft::step`] — a [`Message`] from a peer.
//! - [`Raft::propose`] — a command (any `C`; serde-serializable for the
//!   transport). Non-leaders answer [`ProposeError::NotLeader`] with the
//!   leader they know, so a server can forward.
//! - [`Raft::read_index`] — a linearizable read (thesis §6.4).
//! - [`Raft::transfer_leadership`] and [`Raft::campaign`] for operators/tests.
//!
//! Output: a [`Ready`] batch from [`Raft::ready`], acknowledged with
//! [`Raft::advance`]. It holds the hard state and entries to persist, the
//! messages to send — split into [`Ready::messages`] (a leader's
//! AppendEntries, heartbeats, TimeoutNow and pre-vote requests, which promise
//! nothing about the sender's disk and may be sent at once) and
//! [`Ready::persisted_messages`] (votes, vote requests and all responses, which
//! must wait until the batch is durable) — the committed entries to apply,
//! and the reads that are now safe to serve.
//!
//! The protocol: elections with randomized timeouts (§5.2), a pre-vote round
//! (thesis §9.6) and check-quorum with leader stickiness (thesis §6.2); a
//! no-op entry at the start of every term; pipelined AppendEntries with a
//! bounded in-flight window per follower, a probe state for followers whose
//! log position is unknown, and fast backtracking with conflict term/index
//! hints (§5.3); commitment only of current-term entries by counting (§5.4.2,
//! Figure 8); ReadIndex with a leadership-confirmation heartbeat round;
//! leadership transfer (catch the target up, then TimeoutNow; thesis §3.10).
//! Messages carrying a lower term are rejected in every role, with a reply
//! carrying the current term so the stale sender steps down (Figure 2).
//!
//! ## Index convention
//!
//! **Log indexes are 1-based everywhere.** The first entry has index 1;
//! index 0 means "before the first entry" and has term 0, so the
//! AppendEntries consistency check for the first entry is `prev_index = 0,
//! prev_term = 0`. Commit and applied indexes of 0 mean "nothing yet".
//!
//! ## Invariants
//!
//! - At most one leader per term (§5.2): one vote per term, persisted before
//!   the vote is sent.
//! - A node's log is contiguous from 1 and entry terms never decrease; an
//!   entry is only overwritten when it conflicts with the leader's, and never
//!   at or below the commit index.
//! - The commit index never decreases while a node runs; it is not persisted
//!   (a restarted node relearns it from the leader; [`Config::applied`] tells
//!   the node what the application already holds).
//! - A peer's message can never panic the node: malformed messages are
//!   refused by [`Raft::step`] with a [`StepError`], the node unchanged.
//!
//! ## Errors
//!
//! Per-request errors ([`ProposeError`], [`StepError`]) mean "this request
//! had no effect"; the node continues. Fatal errors ([`Error`],
//! [`StorageError`]) mean the node must stop: storage failed or its durable
//! state is inconsistent.
//!
//! ## Storage
//!
//! [`LogStore`] is the durable log: its correctness rules are in its docs,
//! [`storage::conformance`] checks them against every implementation.
//! [`MemLogStore`] keeps everything in memory (tests, simulation);
//! [`SegmentLogStore`] writes the bitcask segment format (`docs/format.md`,
//! file kind `raft-log`: one `RaftEntry` record per entry with `seq` = index,
//! `meta` = term and the postcard-encoded payload as value; hard state in
//! `RaftHardState` records), with one fsync per appended batch, physical
//! truncation, whole-segment purge, and the engine's recovery scan (a torn
//! tail is cut, corruption elsewhere is an error naming file and offset).
//! The core keeps the whole log in memory as well (no I/O on the hot path);
//! restart a node with [`storage::restore`].
//!
//! ## How it is tested
//!
//! Besides unit-level rule tests, `tests/simulation.rs` runs thousands of
//! seeded 3- and 5-node clusters through message loss, delay, duplication
//! and reordering, partitions, crashes (mid-persist too), disk faults,
//! restarts from both log stores and leadership transfers, checking the
//! Figure 3 safety properties after every step, the client history for
//! linearizability, and liveness after healing. `tests/scenarios/*.txt`
//! replay the classic cases (split vote, Figure 8, ...) as readable scripts.
//!
//! ## Not done yet
//!
//! - Snapshots and InstallSnapshot (so also log compaction in the core:
//!   [`LogStore::purge_up_to`] exists, but [`storage::restore`] refuses a
//!   purged store).
//! - Membership changes and learners: the voter set is fixed by [`Config`].
//! - Lease-based reads (only ReadIndex).
//! - Reads on followers (they answer [`ProposeError::NotLeader`]; forward
//!   reads to the leader).
//! - Bounding the in-memory log: the core holds every entry since index 1
//!   until snapshots exist.
//!
//! ## The driver loop
//!
//! ```
//! use raftlog::{Config, LogStore, MemLogStore, Raft, storage};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A single-node cluster: it elects itself and commits on its own.
//! let mut store: MemLogStore<String> = MemLogStore::new();
//! let restored = storage::restore(&store)?;
//! let mut node: Raft<String> = Raft::new(Config::new(1, [1]), 42, restored)?;
//! let mut applied = Vec::new();
//! let mut proposed = false;
//! for _ in 0..100 {
//!     node.tick(); // call at a fixed interval of real time
//!     if node.status().role == raftlog::Role::Leader && !proposed {
//!         node.propose("set x 1".to_string())?;
//!         proposed = true;
//!     }
//!     while node.has_ready() {
//!         let ready = node.ready();
//!         // 1. these may leave before the disk write: `ready.messages`
//!         // 2. make the batch durable
//!         storage::persist_ready(&mut store, &ready)?;
//!         // 3. now send `ready.persisted_messages`
//!         // 4. apply committed entries
//!         for entry in &ready.committed_entries {
//!             if let raftlog::EntryPayload::Command(c) = &entry.payload {
//!                 applied.push(c.clone());
//!             }
//!         }
//!         node.advance();
//!     }
//! }
//! assert_eq!(applied, vec!["set x 1".to_string()]);
//! assert_eq!(store.last_index(), 2); // the leader's no-op, then the command
//! # Ok(())
//! # }
//! ```

pub mod config;
mod crc;
mod election;
pub mod error;
mod log;
pub mod message;
mod progress;
mod raft;
pub mod ready;
mod replication;
mod snapshot;
pub mod storage;
pub mod types;

pub use config::Config;
pub use error::{ConfigError, Error, ProposeError, SnapshotError, StepError, StorageError};
pub use message::{AppendResult, Message, MessageBody, SnapshotResult};
pub use raft::{MAX_TERM, Proposed, Raft, RestoredState, Status};
pub use ready::{ReadState, Ready, ReceivedChunk, SnapshotRequest, SoftState};
pub use storage::{LogStore, MemLogStore, SegmentLogOptions, SegmentLogStore};
pub use types::{Entry, EntryPayload, HardState, Index, NodeId, Role, SnapshotMeta, Term};
