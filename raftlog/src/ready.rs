//! The output batch of the core.

use crate::message::Message;
use crate::types::{Entry, HardState, Index, NodeId, Role, SnapshotMeta};

/// A linearizable read that may now be served: once the application has
/// applied up to `index`, reading its state is linearizable (thesis §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadState {
    /// The read must observe at least the entries up to this index.
    pub index: Index,
    /// The caller's context passed to [`crate::Raft::read_index`].
    pub context: u64,
}

/// Volatile state worth telling the application about when it changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftState {
    /// The leader this node knows of.
    pub leader: Option<NodeId>,
    /// This node's role.
    pub role: Role,
}

/// Leader side of a snapshot transfer: the core asks the application for
/// bytes `offset..offset + max_len` of its snapshot at `index`, to go to
/// follower `to`. Answer with [`crate::Raft::send_snapshot_chunk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotRequest {
    /// The follower the chunk is for.
    pub to: NodeId,
    /// Index of the snapshot (as given to [`crate::Raft::compact`]).
    pub index: Index,
    /// First byte wanted.
    pub offset: u64,
    /// At most this many bytes ([`crate::Config::snapshot_chunk_bytes`]).
    pub max_len: usize,
}

/// Follower side of a snapshot transfer: a verified chunk for the
/// application to stage. A chunk at offset 0 starts a new transfer: discard
/// anything staged before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedChunk {
    /// What the snapshot covers.
    pub meta: SnapshotMeta,
    /// Byte offset of `data` in the snapshot.
    pub offset: u64,
    /// The bytes (their checksum was verified).
    pub data: Vec<u8>,
    /// The final chunk: [`Ready::snapshot`] asks to install it in the same batch.
    pub last: bool,
}

/// Everything the caller must do after feeding inputs to the core, in this
/// order:
///
/// 1. send [`Ready::messages`] (they may go out before anything is durable:
///    a leader's AppendEntries and heartbeats, TimeoutNow, pre-vote
///    requests — thesis §10.2.1 lets the leader write its log in parallel
///    with replicating it, because it only counts itself once
///    [`crate::Raft::advance`] reports the entries durable);
/// 2. stage [`Ready::received_chunks`] in order (a chunk at offset 0
///    restarts the staging); if [`Ready::snapshot`] is set, make the staged
///    snapshot durable (complete, fsynced); then persist [`Ready::hard_state`],
///    the snapshot metadata ([`crate::LogStore::save_snapshot`]) and then
///    [`Ready::entries`] durably ([`crate::storage::persist_ready`] does these
///    three in that order; if the first entry's index is not past the store's
///    last index, the store is first truncated after `first.index - 1`);
/// 3. only then send [`Ready::persisted_messages`]: votes, vote requests and
///    every response promise something about this node's durable state;
/// 4. if [`Ready::snapshot`] is set, replace the state machine with the
///    staged snapshot (atomically: it is now at `snapshot.index`); then apply
///    [`Ready::committed_entries`] in order (all after the snapshot), serve
///    [`Ready::read_states`] once applied far enough, and fail the reads in
///    [`Ready::dropped_reads`];
/// 5. answer [`Ready::snapshot_requests`] (leader; any time, even later):
///    read each chunk and pass it to [`crate::Raft::send_snapshot_chunk`];
/// 6. call [`crate::Raft::advance`]; then, if [`Ready::snapshot_wanted`] is
///    set (leader), take a snapshot of the applied state now (as in the
///    crate docs, "Taking a snapshot", with the metadata from
///    [`crate::Raft::snapshot_meta_at`]) and report it with
///    [`crate::Raft::compact`].
#[derive(Debug)]
#[must_use = "a ready batch must be persisted, sent and applied, then advanced"]
pub struct Ready<C> {
    /// The new hard state, if it changed. Persist before the entries.
    pub hard_state: Option<HardState>,
    /// Entries to persist (contiguous; may replace a suffix of the store).
    pub entries: Vec<Entry<C>>,
    /// Messages that may be sent immediately.
    pub messages: Vec<Message<C>>,
    /// Messages that may only be sent once `hard_state` and `entries` are durable.
    pub persisted_messages: Vec<Message<C>>,
    /// Newly committed entries, to apply in order (including no-op entries,
    /// which the application skips).
    pub committed_entries: Vec<Entry<C>>,
    /// Reads confirmed by a quorum.
    pub read_states: Vec<ReadState>,
    /// Contexts of reads that will never complete here (leadership was lost);
    /// the caller should answer them with a retryable error.
    pub dropped_reads: Vec<u64>,
    /// The new soft state, if it changed.
    pub soft_state: Option<SoftState>,
    /// The commit index after this batch (informational).
    pub commit_index: Index,
    /// Follower: snapshot chunks received, to stage in order (step 2).
    pub received_chunks: Vec<ReceivedChunk>,
    /// Follower: the staged snapshot is complete; install it (steps 2 and 4).
    /// The log now starts after `snapshot.index`.
    pub snapshot: Option<SnapshotMeta>,
    /// Leader: snapshot chunks to read and hand back (step 5).
    pub snapshot_requests: Vec<SnapshotRequest>,
    /// Leader: a member needs a snapshot and the leader has none to send (a
    /// joining node needs one even when every entry is still in memory,
    /// since it cannot know the bootstrap configuration). Take a snapshot of
    /// the applied state now and report it with [`crate::Raft::compact`]
    /// (step 6); the core then sends it.
    pub snapshot_wanted: bool,
}

impl<C> Default for Ready<C> {
    fn default() -> Self {
        Ready {
            hard_state: None,
            entries: Vec::new(),
            messages: Vec::new(),
            persisted_messages: Vec::new(),
            committed_entries: Vec::new(),
            read_states: Vec::new(),
            dropped_reads: Vec::new(),
            soft_state: None,
            commit_index: 0,
            received_chunks: Vec::new(),
            snapshot: None,
            snapshot_requests: Vec::new(),
            snapshot_wanted: false,
        }
    }
}

impl<C> Ready<C> {
    /// True if the batch carries nothing to do.
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none()
            && self.entries.is_empty()
            && self.messages.is_empty()
            && self.persisted_messages.is_empty()
            && self.committed_entries.is_empty()
            && self.read_states.is_empty()
            && self.dropped_reads.is_empty()
            && self.soft_state.is_none()
            && self.received_chunks.is_empty()
            && self.snapshot.is_none()
            && self.snapshot_requests.is_empty()
            && !self.snapshot_wanted
    }
}
