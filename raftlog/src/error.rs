//! Error types. Per-request errors ([`ProposeError`], [`StepError`]) tell the
//! caller that one request had no effect; the node keeps running. Fatal errors
//! ([`Error`], [`StorageError`]) mean the node must stop: its durable state can
//! no longer be trusted or written.

use std::path::PathBuf;

use crate::types::{ConfState, Index, NodeId, Term};

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `id` is listed in neither `voters` nor `learners` (while one of them
    /// is not empty: both empty means a joining node).
    #[error("node {0} is neither a voter nor a learner")]
    NotAMember(NodeId),
    /// A node is listed twice in `voters`, or in both `voters` and `learners`.
    #[error("node {0} is listed twice among voters and learners")]
    DuplicateMember(NodeId),
    /// `heartbeat_tick` is zero.
    #[error("heartbeat_tick must be at least 1")]
    ZeroHeartbeat,
    /// The heartbeat interval is not far enough below the election timeout.
    #[error(
        "election_tick ({election_tick}) must be at least {} x heartbeat_tick ({heartbeat_tick})",
        crate::config::MIN_ELECTION_TO_HEARTBEAT_RATIO
    )]
    ElectionTooShort {
        /// Configured election timeout.
        election_tick: u32,
        /// Configured heartbeat interval.
        heartbeat_tick: u32,
    },
    /// `max_inflight` or `max_entries_per_append` is zero.
    #[error("max_inflight and max_entries_per_append must be at least 1")]
    ZeroWindow,
    /// `snapshot_chunk_bytes` is zero.
    #[error("snapshot_chunk_bytes must be at least 1")]
    ZeroSnapshotChunk,
}

/// Why [`crate::Raft::compact`] refused a snapshot. The node is unchanged.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// The snapshot claims entries the application was not given yet.
    #[error("snapshot index {index} is beyond the applied index {applied}")]
    NotApplied {
        /// The snapshot's index.
        index: Index,
        /// The node's applied index.
        applied: Index,
    },
    /// The snapshot covers entries not yet durable in the log store.
    #[error("snapshot index {index} is beyond the durable index {stable}")]
    NotDurable {
        /// The snapshot's index.
        index: Index,
        /// The last index known durable.
        stable: Index,
    },
    /// The node already has a snapshot at or past this index.
    #[error("snapshot index {index} is not past the current snapshot {current}")]
    Stale {
        /// The snapshot's index.
        index: Index,
        /// The current snapshot's index.
        current: Index,
    },
    /// The snapshot's term is not the term of the entry at its index.
    #[error("snapshot {index}@{term} does not match the log entry {index}@{expected:?}")]
    TermMismatch {
        /// The snapshot's index.
        index: Index,
        /// The snapshot's term.
        term: Term,
        /// The log's term at `index`.
        expected: Option<Term>,
    },
    /// The snapshot's voters/learners are not the configuration in effect at
    /// its index (build the metadata with [`crate::Raft::snapshot_meta_at`]).
    #[error(
        "snapshot {index} carries {given}, but the configuration at that index is {expected:?}"
    )]
    ConfMismatch {
        /// The snapshot's index.
        index: Index,
        /// The configuration the snapshot metadata carries.
        given: ConfState,
        /// The configuration at `index`, if the node still knows it.
        expected: Option<ConfState>,
    },
}

/// A fatal error: the node cannot (re)start or continue.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The restored state is inconsistent (e.g. a hole in the log).
    #[error("inconsistent restored state: {0}")]
    InvalidState(String),
    /// The log store failed.
    #[error("storage failed: {0}")]
    Storage(#[from] StorageError),
}

/// Why a proposal, read or transfer request was not accepted. The request had
/// no effect; the caller may retry (possibly on `leader_hint`).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProposeError {
    /// This node is not the leader.
    #[error("not the leader (leader hint: {leader_hint:?})")]
    NotLeader {
        /// The leader this node knows of, if any; forward the request there.
        leader_hint: Option<NodeId>,
    },
    /// A leadership transfer is in progress; proposals are refused so that
    /// the target can catch up (thesis §3.10).
    #[error("leadership transfer to {0} in progress")]
    TransferInProgress(NodeId),
    /// The transfer target is not a voter of this cluster.
    #[error("node {0} is not a voter")]
    UnknownNode(NodeId),
    /// Another membership change (at this index) is not committed yet; only
    /// one change may be in progress at a time (thesis §4.1).
    #[error("membership change at index {0} is not committed yet")]
    ConfChangePending(Index),
    /// The leader has not committed an entry of its own term yet, so it may
    /// not know of a change a previous leader appended (the single-server
    /// change bug fix of Ongaro's raft-dev post, 2015): retry shortly.
    #[error("the leader has not committed an entry of its term yet")]
    LeaderNotReady,
    /// The membership change does not fit the current configuration.
    #[error("invalid membership change: {0}")]
    InvalidConfChange(#[from] ConfChangeError),
}

/// Why a membership change does not fit the configuration in effect.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConfChangeError {
    /// AddLearner of a node that is already a voter or a learner.
    #[error("node {0} is already a member")]
    AlreadyMember(NodeId),
    /// Promote of a node that is not a learner.
    #[error("node {0} is not a learner")]
    NotALearner(NodeId),
    /// Remove of a node that is neither a voter nor a learner.
    #[error("node {0} is not a member")]
    NotAMember(NodeId),
    /// Remove of the only voter: a cluster needs at least one.
    #[error("node {0} is the last voter")]
    LastVoter(NodeId),
    /// Promote of a learner that has not caught up with the leader's log (or
    /// was not heard from recently): promoting it now could cost availability
    /// (thesis §4.2.1). Retry once it has caught up.
    #[error(
        "node {node} has not caught up (match index {match_index}, leader's last index {last_index})"
    )]
    NotCaughtUp {
        /// The learner.
        node: NodeId,
        /// Its match index as the leader knows it.
        match_index: Index,
        /// The leader's last index.
        last_index: Index,
    },
}

/// Why an incoming message was dropped. Never fatal: a peer's message can
/// not stop the node.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StepError {
    /// The message is not addressed to this node, or comes from itself.
    /// (Messages from non-members are accepted: a node may be behind on
    /// membership changes; what they may achieve is decided per message.)
    #[error("message from {from} to {to} is not for node {me}")]
    Misrouted {
        /// Sender.
        from: NodeId,
        /// Addressee.
        to: NodeId,
        /// This node.
        me: NodeId,
    },
    /// The message is malformed (non-contiguous entries, terms out of order,
    /// an index that overflows, a claim beyond the leader's log...).
    #[error("malformed message from {from}: {reason}")]
    Malformed {
        /// Sender.
        from: NodeId,
        /// What is wrong.
        reason: &'static str,
    },
    /// The message would overwrite a committed entry; only a buggy or
    /// malicious peer (or a node that lost acknowledged data) sends this.
    #[error("message from {from} conflicts with committed entry {index}@{term}")]
    ConflictsWithCommitted {
        /// Sender.
        from: NodeId,
        /// The committed index.
        index: Index,
        /// Its term.
        term: Term,
    },
}

/// A log store failed. Fatal for the node.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O operation failed.
    #[error("I/O error on {path:?}: {source}")]
    Io {
        /// File involved, if known.
        path: Option<PathBuf>,
        /// The underlying error (its `ErrorKind` is preserved).
        #[source]
        source: std::io::Error,
    },
    /// Data on disk is corrupt somewhere other than a torn tail.
    #[error("corrupted log at {path:?} offset {offset}: {reason}")]
    Corrupted {
        /// File involved.
        path: PathBuf,
        /// Byte offset of the bad record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An append would leave a hole or overlap existing entries.
    #[error("non-contiguous append: expected index {expected}, got {got}")]
    NonContiguous {
        /// The index the next entry must have.
        expected: Index,
        /// The index it had.
        got: Index,
    },
    /// Entry terms must never decrease along the log.
    #[error("entry {index} has term {term}, lower than its predecessor's {prev_term}")]
    TermRegression {
        /// Offending index.
        index: Index,
        /// Its term.
        term: Term,
        /// The previous entry's term.
        prev_term: Term,
    },
    /// The requested index was purged (compacted away).
    #[error("index {0} was purged")]
    Compacted(Index),
    /// An entry or hard state could not be encoded or decoded.
    #[error("codec error: {0}")]
    Codec(#[from] postcard::Error),
    /// A snapshot older than the stored one was saved.
    #[error("snapshot {index} is older than the stored snapshot {current}")]
    SnapshotRegression {
        /// The index given.
        index: Index,
        /// The stored snapshot's index.
        current: Index,
    },
    /// This store does not keep snapshot metadata.
    #[error("this log store does not support snapshots")]
    SnapshotsUnsupported,
    /// An earlier write failed part way, so what this store holds in memory
    /// may no longer match its files: every later call fails until the
    /// store is reopened (opening repairs what the failure left).
    #[error("the log store failed earlier and must be reopened: {0}")]
    Poisoned(String),
    /// Another implementation-specific failure.
    #[error("{0}")]
    Other(String),
}
