//! Metrics of the Raft driver and its log, registered in the server's
//! Prometheus registry by [`RaftMetrics::register`]. The handles are cheap
//! clones sharing one value, so the driver task and the persistence thread
//! update them directly.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Counters and histograms of one node's Raft machinery.
#[derive(Debug, Clone)]
pub struct RaftMetrics {
    /// Times the known leader or this node's role changed.
    pub leader_changes: Counter,
    /// Writes refused before they were proposed (not leader, transfer in
    /// progress, too many pending).
    pub proposals_dropped: Counter,
    /// Time of one log write: append plus fsync.
    pub log_fsync_seconds: Histogram,
    /// Entries per log write (the group-commit batch size).
    pub log_batch_entries: Histogram,
    /// Snapshots this node took of its state machine.
    pub snapshots_taken: Counter,
    /// Snapshots received from a leader and installed.
    pub snapshots_installed: Counter,
    /// Time to take or install one snapshot.
    pub snapshot_seconds: Histogram,
    /// Leadership-confirmation rounds started for linearizable reads (one
    /// serves every read waiting at that moment).
    pub read_index_rounds: Counter,
}

impl Default for RaftMetrics {
    fn default() -> Self {
        Self {
            leader_changes: Counter::default(),
            proposals_dropped: Counter::default(),
            // 20 µs to ~10 s.
            log_fsync_seconds: Histogram::new(exponential_buckets(0.00002, 2.0, 20)),
            // 1 to 32,768 entries.
            log_batch_entries: Histogram::new(exponential_buckets(1.0, 2.0, 16)),
            snapshots_taken: Counter::default(),
            snapshots_installed: Counter::default(),
            // 1 ms to ~9 min.
            snapshot_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 20)),
            read_index_rounds: Counter::default(),
        }
    }
}

impl RaftMetrics {
    /// Registers every metric (names prefixed by the registry's prefix).
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "raft_leader_changes",
            "Changes of the known leader or of this node's role",
            self.leader_changes.clone(),
        );
        r.register(
            "raft_proposals_dropped",
            "Writes refused before being proposed (not leader, transfer, too many pending)",
            self.proposals_dropped.clone(),
        );
        r.register(
            "raft_log_fsync_seconds",
            "Time of one Raft log write, append plus fsync",
            self.log_fsync_seconds.clone(),
        );
        r.register(
            "raft_log_batch_entries",
            "Entries per Raft log write (group-commit batch size)",
            self.log_batch_entries.clone(),
        );
        r.register(
            "raft_snapshots_taken",
            "Snapshots this node took of its state machine",
            self.snapshots_taken.clone(),
        );
        r.register(
            "raft_snapshots_installed",
            "Snapshots received from a leader and installed",
            self.snapshots_installed.clone(),
        );
        r.register(
            "raft_snapshot_seconds",
            "Time to take or install one snapshot",
            self.snapshot_seconds.clone(),
        );
        r.register(
            "raft_read_index_rounds",
            "ReadIndex rounds started; each serves every read waiting at that moment",
            self.read_index_rounds.clone(),
        );
    }
}
