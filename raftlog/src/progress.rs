//! What a leader knows about each follower's log (§5.3 nextIndex/matchIndex),
//! plus the flow-control state of the replication pipeline.

use std::collections::VecDeque;

use crate::types::{Index, NodeId, SnapshotMeta};

/// Replication mode for one follower, as the leader tracks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// We do not know where the follower's log matches ours: send one
    /// AppendEntries at a time and wait for the answer (§5.3 backtracking).
    Probe,
    /// The follower's log matches up to `match_index`: stream entries
    /// optimistically, bounded by the in-flight window.
    Replicate,
    /// The entries the follower needs are compacted away: a snapshot is
    /// being sent, one chunk at a time. No AppendEntries meanwhile.
    Snapshot,
}

impl std::fmt::Display for ProgressState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProgressState::Probe => "probe",
            ProgressState::Replicate => "replicate",
            ProgressState::Snapshot => "snapshot",
        })
    }
}

/// The leader's view of one other member ([`crate::Raft::progress`]): how
/// far its log is known to match the leader's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerProgress {
    /// The member.
    pub id: NodeId,
    /// True for a voter, false for a learner.
    pub voter: bool,
    /// Highest index known replicated on it (§5.3 matchIndex); the leader's
    /// last index minus this is how far behind it is.
    pub match_index: Index,
    /// Next index the leader will send (§5.3 nextIndex).
    pub next_index: Index,
    /// Replication mode.
    pub state: ProgressState,
    /// Heard from during the current check-quorum period.
    pub recent_active: bool,
}

/// The state of a snapshot transfer to one follower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SnapshotTransfer {
    /// Index of the snapshot being sent.
    pub(crate) index: Index,
    /// The snapshot being sent: the transfer keeps it until it ends, also
    /// when the leader reports newer snapshots meanwhile.
    pub(crate) meta: SnapshotMeta,
    /// Bytes the follower confirmed; the next chunk starts here.
    pub(crate) offset: u64,
    /// A chunk was requested from the application (or is on the wire) and
    /// not yet answered.
    pub(crate) outstanding: bool,
    /// Leader ticks since the outstanding request (for the retry).
    pub(crate) elapsed: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct Progress {
    /// Highest index known to be replicated on the follower (§5.3 matchIndex).
    pub(crate) match_index: Index,
    /// Next index to send (§5.3 nextIndex).
    pub(crate) next_index: Index,
    pub(crate) state: ProgressState,
    /// Last index of each AppendEntries in flight (replicate state).
    pub(crate) inflight: VecDeque<Index>,
    /// A probe is outstanding (probe state).
    pub(crate) probe_sent: bool,
    /// We heard from the follower during the current check-quorum period.
    pub(crate) recent_active: bool,
    /// Highest ReadIndex round the follower acknowledged.
    pub(crate) read_ack: u64,
    /// Snapshot state only: the transfer in progress.
    pub(crate) snapshot: Option<SnapshotTransfer>,
    /// The follower asked for a snapshot (it is joining and has none) and
    /// the leader had none to send: send the next one the application
    /// reports with [`crate::Raft::compact`].
    pub(crate) wants_snapshot: bool,
}

impl Progress {
    pub(crate) fn new(next_index: Index) -> Self {
        Progress {
            match_index: 0,
            next_index,
            state: ProgressState::Probe,
            inflight: VecDeque::new(),
            probe_sent: false,
            recent_active: false,
            read_ack: 0,
            snapshot: None,
            wants_snapshot: false,
        }
    }

    pub(crate) fn is_paused(&self, max_inflight: usize) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflight.len() >= max_inflight,
            ProgressState::Snapshot => true,
        }
    }

    pub(crate) fn become_probe(&mut self) {
        self.state = ProgressState::Probe;
        self.next_index = self.match_index + 1;
        self.inflight.clear();
        self.probe_sent = false;
        self.snapshot = None;
    }

    pub(crate) fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next_index = self.match_index + 1;
        self.inflight.clear();
        self.probe_sent = false;
        self.snapshot = None;
    }

    /// Starts sending snapshot `meta` from its first byte.
    pub(crate) fn become_snapshot(&mut self, meta: SnapshotMeta) {
        self.state = ProgressState::Snapshot;
        self.wants_snapshot = false;
        self.inflight.clear();
        self.probe_sent = false;
        self.snapshot = Some(SnapshotTransfer {
            index: meta.index,
            meta,
            offset: 0,
            outstanding: false,
            elapsed: 0,
        });
    }

    /// Records an acknowledgement; returns true if `match_index` grew.
    pub(crate) fn maybe_update(&mut self, index: Index) -> bool {
        let updated = index > self.match_index;
        if updated {
            self.match_index = index;
            self.probe_sent = false;
        }
        self.next_index = self.next_index.max(index + 1);
        while self.inflight.front().is_some_and(|&last| last <= index) {
            self.inflight.pop_front();
        }
        updated
    }

    /// Handles a rejection of the AppendEntries whose prev index was
    /// `rejected_prev`; `hint_next` is where the hints say to resume.
    /// Returns false if the rejection is stale.
    pub(crate) fn maybe_decrease(&mut self, rejected_prev: Index, hint_next: Index) -> bool {
        match self.state {
            ProgressState::Replicate => {
                // A rejection of something at or below the match point is a
                // duplicate or reordered answer to an older request.
                if rejected_prev <= self.match_index {
                    return false;
                }
                self.become_probe();
                self.next_index = hint_next.min(rejected_prev).max(self.match_index + 1);
                true
            }
            ProgressState::Probe => {
                // Only the answer to the outstanding probe counts.
                if self.next_index.checked_sub(1) != Some(rejected_prev) {
                    return false;
                }
                self.next_index = hint_next.min(rejected_prev).max(self.match_index + 1);
                self.probe_sent = false;
                true
            }
            // AppendEntries are not in flight while a snapshot is.
            ProgressState::Snapshot => false,
        }
    }

    /// Records that an AppendEntries ending at `last` (with `count` entries) was sent.
    pub(crate) fn sent(&mut self, last: Index, count: usize) {
        match self.state {
            ProgressState::Replicate => {
                if count > 0 {
                    self.next_index = last + 1;
                    self.inflight.push_back(last);
                }
            }
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Snapshot => {}
        }
    }
}
