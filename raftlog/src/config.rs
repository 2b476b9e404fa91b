//! Node configuration. All durations are in ticks: the caller decides how long
//! a tick is (the core has no clock).

use crate::error::ConfigError;
use crate::types::{Index, NodeId};

/// The smallest allowed ratio `election_tick / heartbeat_tick`. Raft needs
/// `broadcastTime ≪ electionTimeout` (§5.6); a follower must be able to miss
/// several heartbeats before it starts an election.
pub const MIN_ELECTION_TO_HEARTBEAT_RATIO: u32 = 5;

/// Configuration of one Raft node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node's id; must be one of `voters` or `learners`, unless both
    /// are empty (a *joining* node).
    pub id: NodeId,
    /// The bootstrap configuration's voting members. The configuration in
    /// effect is this (with `learners`) only until the node holds a snapshot:
    /// after that, it comes from the snapshot's metadata; ConfChange entries
    /// in the log after either apply on top (see the crate docs,
    /// "Membership changes"). Restart a node with the same lists it was
    /// bootstrapped with.
    ///
    /// Leave both `voters` and `learners` empty for a node that joins an
    /// existing cluster: it never campaigns, refuses log entries until a
    /// leader has sent it a snapshot, and takes its configuration from that
    /// snapshot.
    pub voters: Vec<NodeId>,
    /// The bootstrap configuration's learners (non-voting members).
    pub learners: Vec<NodeId>,
    /// Minimum election timeout in ticks. The actual timeout is drawn
    /// uniformly from `[election_tick, 2 * election_tick)` after every reset
    /// (§5.2: randomized timeouts make split votes rare).
    pub election_tick: u32,
    /// Interval between leader heartbeats, in ticks. Must be at most
    /// `election_tick / MIN_ELECTION_TO_HEARTBEAT_RATIO`.
    pub heartbeat_tick: u32,
    /// Maximum number of AppendEntries messages in flight to one follower in
    /// the replicate state (the pipelining window).
    pub max_inflight: usize,
    /// Maximum number of entries in one AppendEntries message.
    pub max_entries_per_append: usize,
    /// Run a pre-vote round before bumping the term (thesis §9.6).
    pub pre_vote: bool,
    /// A leader steps down when it has not heard from a quorum within an
    /// election timeout; followers then also refuse votes while they hear
    /// from a leader (thesis §6.2, §9.6 leader stickiness).
    pub check_quorum: bool,
    /// Index of the last entry the application has already applied (e.g. it
    /// is part of its durable state). Restarting nodes begin applying after it.
    pub applied: Index,
    /// How many entries before a snapshot's index [`crate::Raft::compact`]
    /// keeps in memory, so that a follower slightly behind still catches up
    /// with AppendEntries instead of a whole snapshot.
    pub trailing_log_entries: u64,
    /// Maximum size of one InstallSnapshot chunk, in bytes.
    pub snapshot_chunk_bytes: usize,
}

impl Config {
    /// A configuration with the defaults used by snowflk: heartbeat every
    /// tick, election timeout 10–19 ticks, pre-vote and check-quorum on.
    pub fn new(id: NodeId, voters: impl IntoIterator<Item = NodeId>) -> Self {
        Config {
            id,
            voters: voters.into_iter().collect(),
            learners: Vec::new(),
            election_tick: 10,
            heartbeat_tick: 1,
            max_inflight: 64,
            max_entries_per_append: 64,
            pre_vote: true,
            check_quorum: true,
            applied: 0,
            trailing_log_entries: 1024,
            snapshot_chunk_bytes: 1024 * 1024,
        }
    }

    /// Checks the configuration; [`crate::Raft::new`] calls this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let joining = self.voters.is_empty() && self.learners.is_empty();
        if !joining && !self.voters.contains(&self.id) && !self.learners.contains(&self.id) {
            return Err(ConfigError::NotAMember(self.id));
        }
        let mut sorted: Vec<NodeId> = self.voters.iter().chain(&self.learners).copied().collect();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(ConfigError::DuplicateMember(w[0]));
        }
        if self.heartbeat_tick == 0 {
            return Err(ConfigError::ZeroHeartbeat);
        }
        if self.election_tick
            < self
                .heartbeat_tick
                .saturating_mul(MIN_ELECTION_TO_HEARTBEAT_RATIO)
        {
            return Err(ConfigError::ElectionTooShort {
                election_tick: self.election_tick,
                heartbeat_tick: self.heartbeat_tick,
            });
        }
        if self.snapshot_chunk_bytes == 0 {
            return Err(ConfigError::ZeroSnapshotChunk);
        }
        if self.max_inflight == 0 || self.max_entries_per_append == 0 {
            return Err(ConfigError::ZeroWindow);
        }
        Ok(())
    }
}
