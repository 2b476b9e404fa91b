//! Basic vocabulary: node ids, terms, indexes, log entries and the hard state.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Identifies a node of the cluster. Any `u64` is valid; "no node" is `None`.
pub type NodeId = u64;

/// A Raft term (§5.1). Terms start at 0 on a fresh node and only increase.
pub type Term = u64;

/// A 1-based position in the replicated log. Index 0 means "before the first
/// entry" and always has term 0 (see the crate docs for the convention).
pub type Index = u64;

/// What a log entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryPayload<C> {
    /// The empty entry a new leader appends at the start of its term, so that
    /// it can commit (§5.4.2, §8) and serve ReadIndex reads.
    Noop,
    /// A command proposed by the application.
    Command(C),
}

/// One entry of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<C> {
    /// Position in the log, 1-based.
    pub index: Index,
    /// Term of the leader that created the entry.
    pub term: Term,
    /// The entry's content.
    pub payload: EntryPayload<C>,
}

impl<C: fmt::Debug> fmt::Display for Entry<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.payload {
            EntryPayload::Noop => write!(f, "{}@{} noop", self.index, self.term),
            EntryPayload::Command(c) => write!(f, "{}@{} {:?}", self.index, self.term, c),
        }
    }
}

/// The state that must be durable before any message that depends on it is
/// sent (§5.1, Figure 2 "persistent state on all servers"; the log is stored
/// separately through [`crate::LogStore`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: Term,
    /// The candidate this node voted for in `term`, if any.
    pub voted_for: Option<NodeId>,
}

/// The role a node currently plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Runs a pre-vote round (thesis §9.6) without having bumped its term.
    PreCandidate,
    /// Runs an election in a new term (§5.2).
    Candidate,
    /// Leads the cluster in the current term.
    Leader,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        };
        f.write_str(s)
    }
}

/// What a snapshot covers: the log up to and including `index` (whose entry
/// had term `term`), and the cluster configuration at that point. The
/// snapshot's *bytes* belong to the application; the core only handles this
/// metadata (see the crate docs, "Snapshots").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Index of the last entry the snapshot covers (1-based; 0 = no snapshot).
    pub index: Index,
    /// Term of the entry at `index`.
    pub term: Term,
    /// Voting members at `index`.
    pub voters: Vec<NodeId>,
    /// Non-voting members (learners) at `index`.
    pub learners: Vec<NodeId>,
}
