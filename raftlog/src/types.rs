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
    /// A single-server membership change ([`crate::Raft::propose_conf_change`]).
    /// It takes effect on a node as soon as it is appended to its log (see
    /// the crate docs, "Membership changes"). Added after `Command` so older
    /// encodings stay valid.
    ConfChange(ConfChange),
}

/// What a [`ConfChange`] does to the cluster configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConfChangeKind {
    /// Adds a node that is not a member yet as a learner: it receives the log
    /// (and snapshots) but does not vote and is not counted in any quorum.
    AddLearner,
    /// Turns a learner into a voter.
    Promote,
    /// Removes a voter or a learner (possibly the leader itself).
    Remove,
}

impl fmt::Display for ConfChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfChangeKind::AddLearner => "add-learner",
            ConfChangeKind::Promote => "promote",
            ConfChangeKind::Remove => "remove",
        })
    }
}

/// One single-server membership change (thesis §4.1): the payload of an
/// [`EntryPayload::ConfChange`] entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfChange {
    /// What to do.
    pub kind: ConfChangeKind,
    /// The node it is done to.
    pub node: NodeId,
    /// Opaque application bytes carried with the change (for example the new
    /// node's peer address); the core never looks at them.
    pub context: Vec<u8>,
}

/// A cluster configuration: who votes and who only learns. Both lists are
/// sorted and disjoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfState {
    /// Voting members, sorted.
    pub voters: Vec<NodeId>,
    /// Non-voting members (learners), sorted.
    pub learners: Vec<NodeId>,
}

impl ConfState {
    /// A configuration from two lists (sorted and deduplicated here).
    pub fn new(
        voters: impl IntoIterator<Item = NodeId>,
        learners: impl IntoIterator<Item = NodeId>,
    ) -> Self {
        let mut voters: Vec<NodeId> = voters.into_iter().collect();
        voters.sort_unstable();
        voters.dedup();
        let mut learners: Vec<NodeId> = learners.into_iter().collect();
        learners.sort_unstable();
        learners.dedup();
        ConfState { voters, learners }
    }

    /// True if `id` is a voter.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.binary_search(&id).is_ok()
    }

    /// True if `id` is a learner.
    pub fn is_learner(&self, id: NodeId) -> bool {
        self.learners.binary_search(&id).is_ok()
    }

    /// True if `id` is a voter or a learner.
    pub fn is_member(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.is_learner(id)
    }

    /// True for the configuration of a node that is waiting to join: it knows
    /// no member at all.
    pub fn is_empty(&self) -> bool {
        self.voters.is_empty() && self.learners.is_empty()
    }

    /// The configuration after `change`. A change that does not fit (which a
    /// correct leader never appends) leaves the configuration as it is, the
    /// same way on every node.
    pub fn apply(&self, change: &ConfChange) -> ConfState {
        let mut next = self.clone();
        let id = change.node;
        match change.kind {
            ConfChangeKind::AddLearner => {
                if !self.is_member(id) {
                    next.learners.push(id);
                    next.learners.sort_unstable();
                }
            }
            ConfChangeKind::Promote => {
                if self.is_learner(id) {
                    next.learners.retain(|&n| n != id);
                    next.voters.push(id);
                    next.voters.sort_unstable();
                }
            }
            ConfChangeKind::Remove => {
                next.voters.retain(|&n| n != id);
                next.learners.retain(|&n| n != id);
            }
        }
        next
    }
}

impl fmt::Display for ConfState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "voters={:?} learners={:?}", self.voters, self.learners)
    }
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
            EntryPayload::ConfChange(cc) => write!(
                f,
                "{}@{} conf {} {}{}",
                self.index,
                self.term,
                cc.kind,
                cc.node,
                if cc.context.is_empty() {
                    String::new()
                } else {
                    format!(" context={}B", cc.context.len())
                }
            ),
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

impl SnapshotMeta {
    /// The configuration this snapshot carries (lists sorted).
    pub fn conf_state(&self) -> ConfState {
        ConfState::new(self.voters.iter().copied(), self.learners.iter().copied())
    }
}
