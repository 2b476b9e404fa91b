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
//! - [`Raft::propose_conf_change`] — a membership change (below).
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
//! - A node's log is contiguous from 1, or from just after its latest
//!   snapshot once compacted, and entry terms never decrease; an entry is
//!   only overwritten when it conflicts with the leader's, and never at or
//!   below the commit index (a snapshot is only taken of applied entries and
//!   only installed past the commit index).
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
//! truncation, whole-segment purge, the latest snapshot's metadata in a
//! `snapshot` file, and the engine's recovery scan (a torn tail is cut,
//! corruption elsewhere is an error naming file and offset). The core keeps
//! the log after its last compaction in memory as well (no I/O on the hot
//! path); restart a node with [`storage::restore`].
//!
//! ## Snapshots (§7)
//!
//! The snapshot's bytes belong to the application; the core handles only
//! its metadata ([`SnapshotMeta`]: index, term, voters, learners) and the
//! transfer protocol. Nothing here does I/O: the core asks, the application
//! reads or writes, and reports back.
//!
//! **Taking a snapshot (any node).** After [`Raft::advance`], with its state
//! machine at applied index `i` (term `t` = [`Raft::log_term`]`(i)`):
//! 1. write the snapshot image of the state at `i`, durably;
//! 2. record it in the log store: [`LogStore::save_snapshot`] (the entries
//!    after `i` stay); optionally [`LogStore::purge_up_to`] to drop older
//!    entries from disk;
//! 3. call [`Raft::compact`]: the core keeps only
//!    [`Config::trailing_log_entries`] entries before `i` in memory and from
//!    now on sends this snapshot to followers that need older entries.
//!
//! Keep the image readable until a newer one has gone through steps 1–3
//! (or has been installed from a leader, below): an installed image counts
//! too, since this node may lead later and send it.
//!
//! **Leader: sending.** When a follower needs an entry that is no longer in
//! memory, the core puts a [`SnapshotRequest`] (follower, snapshot index,
//! offset, max length) in [`Ready::snapshot_requests`]. The application
//! reads those bytes of its image and calls [`Raft::send_snapshot_chunk`]
//! (`last` on the final chunk); the core sends them as a
//! [`MessageBody::Snapshot`] with a CRC-32C ([`crc32c`]). Back-pressure: one
//! chunk per follower is outstanding at a time; the next is requested when
//! the follower acknowledges the offset, and the same one again after half
//! an election timeout without an answer. A newer snapshot from
//! [`Raft::compact`] restarts transfers from offset 0.
//!
//! **Follower: receiving.** A chunk with a bad checksum is refused
//! ([`StepError::Malformed`]); one at an unexpected offset is answered with
//! the offset the follower expects (0 after it restarted: transfers are not
//! resumed across restarts); one for a snapshot the follower has already
//! committed past is answered with its commit index. Each accepted chunk
//! appears in [`Ready::received_chunks`]; in each ready batch, in order:
//! 1. stage the chunks (a chunk at offset 0 starts a new staging area);
//! 2. if [`Ready::snapshot`] is set, the staged image is complete: make it
//!    durable, then persist the batch with [`storage::persist_ready`] (hard
//!    state, [`LogStore::save_snapshot`], entries — in that order);
//! 3. send [`Ready::persisted_messages`] (the "installed" answer is among them);
//! 4. swap the staged image into the state machine, atomically, before
//!    applying [`Ready::committed_entries`] (all of them after the snapshot);
//! 5. [`Raft::advance`].
//!
//! The follower's log then starts after the snapshot's index (entries after
//! it are kept if the log holds the snapshot's last entry, §7).
//!
//! **Restarting.** [`storage::restore`] returns the log store's snapshot
//! metadata and the entries after it. The state machine must be at least at
//! that snapshot: if the image recorded by the store was not swapped in yet
//! (a crash between steps 2 and 4), swap it in first; then pass its applied
//! index as [`Config::applied`]. [`Raft::new`] refuses an applied index below
//! the snapshot's.
//!
//! ## Membership changes (thesis §4)
//!
//! A cluster changes membership **one server at a time** (thesis §4.1–4.3):
//! a [`ConfChange`] ([`ConfChangeKind::AddLearner`], [`ConfChangeKind::Promote`]
//! or [`ConfChangeKind::Remove`] of one node) proposed with
//! [`Raft::propose_conf_change`] and replicated as an
//! [`EntryPayload::ConfChange`] entry. Why single-server changes rather than
//! joint consensus (thesis §4.3): adding or removing one voter makes every
//! majority of the old configuration overlap every majority of the new one,
//! so no moment exists where two disjoint quorums could each elect a leader
//! or commit, and no intermediate joint configuration has to be stored,
//! counted twice or exited. Any target configuration is reached by a
//! sequence of such steps; the price (a replace is two changes, and an
//! operator cannot swap a majority at once) is acceptable for a KV store
//! whose membership changes are rare operator actions.
//!
//! The rules:
//! - **A change takes effect when it is appended**, on every node, committed
//!   or not (thesis §4.1: a server uses the latest configuration in its log),
//!   and is reverted if a conflicting leader truncates that entry.
//!   [`Raft::conf_state`] is that latest configuration;
//!   [`Raft::conf_state_at`] the one at an index.
//! - **One change at a time**: a leader refuses a change while another is
//!   not committed ([`ProposeError::ConfChangePending`],
//!   [`Raft::pending_conf_index`]), and before it has committed an entry of
//!   its own term ([`ProposeError::LeaderNotReady`]: the fix Ongaro posted
//!   to raft-dev in 2015 — a new leader may hold an uncommitted change of a
//!   previous leader that it has not discovered yet).
//! - **Learners** receive entries and snapshots but never campaign and
//!   never count for elections, commitment, ReadIndex or check-quorum. They
//!   do *answer* vote requests by the usual rules: a candidate counts only
//!   the votes of voters in its own configuration, and a learner may have
//!   been promoted by a change it has not received yet, whose vote the
//!   remaining voters need (without it, a two-voter cluster whose leader
//!   failed right after promoting a learner could never elect again). A
//!   node joins as a learner and is promoted once it has caught up: a
//!   Promote of a learner more than [`Config::max_entries_per_append`]
//!   entries behind, or not heard from in the current check-quorum period,
//!   is refused ([`ConfChangeError::NotCaughtUp`]) so that a promotion never
//!   makes the cluster wait for a slow voter (thesis §4.2.1).
//! - **Joining nodes** start with empty [`Config::voters`] and
//!   [`Config::learners`]. They never campaign and accept no entries until
//!   they have installed a snapshot (the bootstrap configuration is not in
//!   the log, so a log without a snapshot cannot tell them the membership):
//!   they answer AppendEntries with [`AppendResult::NeedSnapshot`]. The
//!   leader then sends its snapshot, or, if it has none yet, sets
//!   [`Ready::snapshot_wanted`]: the application takes one and calls
//!   [`Raft::compact`], and the core sends it.
//! - **Removal**: a node removed by a *committed* change never campaigns and
//!   ignores its election timeout; one removed by an uncommitted change may
//!   still campaign (the change may be truncated, and until it commits the
//!   node may be needed for a quorum). The leader keeps replicating to a
//!   removed node until the removal commits, so that it learns of it. A
//!   leader may remove itself: it keeps leading (replicating, not counting
//!   itself in any quorum from the change on) until the removal commits,
//!   then sends TimeoutNow to the most caught-up voter and steps down
//!   (thesis §4.2.2). Removing the last voter is refused.
//! - **Disruptive servers** (thesis §4.2.3): a vote request with a higher
//!   term only resets a follower's election timer if the vote is granted,
//!   and with check-quorum a node that hears from a leader ignores vote
//!   requests altogether.
//! - **Snapshots carry the configuration at their index** ([`SnapshotMeta`]
//!   voters and learners); [`Raft::compact`] refuses metadata that does not
//!   match ([`SnapshotError::ConfMismatch`]): build it with
//!   [`Raft::snapshot_meta_at`]. Installing a snapshot sets the
//!   configuration from it (then the changes in the entries after it).
//! - **Restart**: [`Raft::new`] rebuilds the configuration from the restored
//!   snapshot's metadata (else the bootstrap [`Config::voters`] and
//!   [`Config::learners`]) and then every ConfChange entry of the restored
//!   log, in order. Restart a node with the Config it was created with (a
//!   joined node: empty lists; its snapshot holds the membership).
//! - The leader's [`Raft::progress`] shows every member's replication state
//!   ("how far behind"); a new learner starts in the probe state at the
//!   leader's last index + 1.
//!
//! Messages from nodes outside the configuration are not refused: the sender
//! may be a leader this node does not know about yet. The application
//! decides how to reach new nodes: [`ConfChange::context`] carries opaque
//! bytes (for example the peer address) with the change, and it sees every
//! change in [`Ready::committed_entries`] (skip them like no-ops when only
//! commands matter).
//!
//! ## Asynchronous log writes
//!
//! The plain loop (below) waits for each batch's disk write before it
//! steps anything else, so a follower's acknowledgement that arrives during
//! the leader's fsync waits for it, and every write pays for about two
//! fsyncs in a row. A caller may instead keep writing in the background and
//! go on stepping, proposing and taking ready batches meanwhile (thesis
//! §10.2.1 lets a leader commit on a quorum of others while its own write
//! is still in flight; etcd's raft calls this "async storage writes"):
//! 1. send [`Ready::messages`] at once, as usual;
//! 2. queue the batch's [`Ready::hard_state`] and [`Ready::entries`] for
//!    writing, in the order of the batches (the writer may merge several
//!    queued batches into one write and one fsync: a later batch's entries
//!    replace the earlier ones from its first index on);
//! 3. send [`Ready::persisted_messages`] only once this batch's write **and
//!    every earlier one** are durable — they promise that;
//! 4. apply [`Ready::committed_entries`] only up to [`Status::stable`] if
//!    the state machine may reach disk before the log does (a leader learns
//!    that an entry is committed from a quorum of others, possibly before
//!    its own copy is durable);
//! 5. as each write completes, report the last entry it made durable with
//!    [`Raft::persisted`]`(index, term)` instead of calling
//!    [`Raft::advance`];
//! 6. a batch carrying [`Ready::snapshot`] or [`Ready::received_chunks`]
//!    is handled the plain way: wait until every queued write is durable,
//!    then persist it, apply it and call [`Raft::advance`] (which marks
//!    every handed entry durable, true once nothing is queued).
//!
//! Why this is safe: the core counts this node's entries toward commitment
//! only up to the last reported index, responses leave only after the state
//! they describe is durable, and a report about entries that were truncated
//! and replaced since (a new leader overwrote them) is recognised by its
//! term and ignored. `tests/simulation.rs` runs the cluster both ways.
//!
//! ## How it is tested
//!
//! Besides unit-level rule tests, `tests/simulation.rs` runs thousands of
//! seeded 3- and 5-node clusters through message loss, delay, duplication
//! and reordering, partitions, crashes (mid-persist too), disk faults,
//! restarts from both log stores, leadership transfers and snapshots taken
//! at random points and installed in small chunks (an installed image must
//! equal the state the other nodes had at its index), checking the
//! Figure 3 safety properties after every step, the client history for
//! linearizability, and liveness after healing. `tests/scenarios/*.txt`
//! replay the classic cases (split vote, Figure 8, ...) as readable scripts.
//!
//! ## Not done yet
//!
//! - The commit index is not persisted. A node whose removal committed and
//!   that restarts with [`Config::applied`] below that removal (no applied
//!   index kept, or a power loss took the engine's last applies) sees the
//!   change as uncommitted and may send pre-votes; with check-quorum (the
//!   default) they move no term, without it one election can happen.
//!   Safety is not affected (`tests/hostile9_campaign.rs`, ignored tests).
//! - Joint consensus (several membership changes at once); demoting a voter
//!   to a learner in one step (remove it, then add it as a learner).
//! - Lease-based reads (only ReadIndex).
//! - Reads on followers (they answer [`ProposeError::NotLeader`]; forward
//!   reads to the leader).
//! - Resuming a snapshot transfer across a follower restart (it starts over).
//! - Bounding the in-memory log needs the application to take snapshots:
//!   without [`Raft::compact`] the core holds every entry since index 1.
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
mod membership;
pub mod message;
mod progress;
mod raft;
pub mod ready;
mod replication;
mod snapshot;
pub mod storage;
pub mod types;

pub use config::Config;
pub use crc::crc32c;
pub use error::{
    ConfChangeError, ConfigError, Error, ProposeError, SnapshotError, StepError, StorageError,
};
pub use message::{AppendResult, Message, MessageBody, SnapshotResult};
pub use progress::{PeerProgress, ProgressState};
pub use raft::{MAX_TERM, Proposed, Raft, RestoredState, Status};
pub use ready::{ReadState, Ready, ReceivedChunk, SnapshotRequest, SoftState};
pub use storage::{LogStore, MemLogStore, SegmentLogOptions, SegmentLogStore};
pub use types::{
    ConfChange, ConfChangeKind, ConfState, Entry, EntryPayload, HardState, Index, NodeId, Role,
    SnapshotMeta, Term,
};
