//! The messages nodes exchange. Every message carries the sender's term, so
//! that the "all servers" rules of Figure 2 apply uniformly.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::types::{Entry, Index, NodeId, SnapshotMeta, Term};

/// A message from one node to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message<C> {
    /// Sender.
    pub from: NodeId,
    /// Recipient.
    pub to: NodeId,
    /// The sender's term; for a pre-vote request (and a granted pre-vote
    /// response) the term the pre-candidate *would* campaign in.
    pub term: Term,
    /// What the message says.
    pub body: MessageBody<C>,
}

/// The outcome of an AppendEntries request, as reported by the follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppendResult {
    /// The follower's log now matches the leader's up to `match_index`.
    Success {
        /// Index of the last entry known to match (§5.3 "index of last new entry").
        match_index: Index,
    },
    /// The consistency check of §5.3 failed at `rejected_prev`, or the request
    /// carried a stale term.
    Conflict {
        /// The `prev_index` of the rejected request.
        rejected_prev: Index,
        /// Fast-backtracking hint: the first index of `hint_term` in the
        /// follower's log, or the follower's last index + 1 if its log is
        /// shorter than `rejected_prev`.
        hint_index: Index,
        /// The term of the follower's entry at `rejected_prev`, if it has one.
        hint_term: Option<Term>,
    },
    /// The follower is joining the cluster (it knows no configuration yet)
    /// and accepts no entries before it has installed a snapshot: send one.
    /// (Added last so older encodings stay valid.)
    NeedSnapshot,
}

/// The body of a [`Message`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageBody<C> {
    /// Would you vote for me in `term`? (thesis §9.6). Does not change anyone's term.
    PreVote {
        /// Index of the pre-candidate's last entry.
        last_index: Index,
        /// Term of the pre-candidate's last entry.
        last_term: Term,
    },
    /// Answer to [`MessageBody::PreVote`].
    PreVoteResponse {
        /// Whether the pre-vote is granted.
        granted: bool,
    },
    /// RequestVote (§5.2).
    Vote {
        /// Index of the candidate's last entry.
        last_index: Index,
        /// Term of the candidate's last entry.
        last_term: Term,
        /// Set when the election follows a leadership transfer (TimeoutNow):
        /// voters then ignore their leader lease (thesis §3.10).
        transfer: bool,
    },
    /// Answer to [`MessageBody::Vote`].
    VoteResponse {
        /// Whether the vote is granted.
        granted: bool,
    },
    /// AppendEntries (§5.3).
    Append {
        /// Index of the entry preceding `entries`.
        prev_index: Index,
        /// Term of the entry at `prev_index`.
        prev_term: Term,
        /// Entries to store, contiguous from `prev_index + 1` (may be empty).
        entries: Vec<Entry<C>>,
        /// The leader's commit index.
        commit: Index,
    },
    /// Answer to [`MessageBody::Append`].
    AppendResponse {
        /// Outcome.
        result: AppendResult,
    },
    /// Leader heartbeat; also the leadership-confirmation round of ReadIndex.
    Heartbeat {
        /// `min(leader commit, follower match)`: safe for the follower to commit.
        commit: Index,
        /// The leader's latest ReadIndex round, echoed in the response.
        read_seq: u64,
    },
    /// Answer to [`MessageBody::Heartbeat`].
    HeartbeatResponse {
        /// The `read_seq` of the heartbeat being answered.
        read_seq: u64,
    },
    /// Leadership transfer: start an election now (thesis §3.10).
    TimeoutNow,
    /// InstallSnapshot (§7), one chunk: bytes `offset..offset + data.len()`
    /// of the leader's snapshot described by `meta`. Chunks go one at a time
    /// per follower; each is answered by a [`MessageBody::SnapshotResponse`].
    /// (Added after `TimeoutNow` so older encodings stay valid.)
    Snapshot {
        /// What the snapshot covers.
        meta: SnapshotMeta,
        /// Byte offset of `data` in the snapshot.
        offset: u64,
        /// The chunk's bytes.
        data: Vec<u8>,
        /// CRC-32C of `data`; a mismatch makes the follower refuse the chunk.
        checksum: u32,
        /// Set on the final chunk: the snapshot is `offset + data.len()` bytes.
        last: bool,
    },
    /// Answer to [`MessageBody::Snapshot`].
    SnapshotResponse {
        /// The `meta.index` of the snapshot being answered.
        index: Index,
        /// Where the transfer stands.
        result: SnapshotResult,
    },
}

/// The follower's answer to a snapshot chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotResult {
    /// The follower holds bytes `0..offset` of the snapshot: send the chunk
    /// at `offset` next. Also the answer to a chunk at an unexpected offset
    /// (`offset` is then what the follower expects: 0 after it restarted).
    Progress {
        /// The next byte the follower expects.
        offset: u64,
    },
    /// The follower's log matches the leader's up to `match_index`: the
    /// snapshot was installed (`match_index` = its index), or was not needed
    /// because the follower had already committed `match_index`.
    Done {
        /// Highest index known to match.
        match_index: Index,
    },
}

impl<C> MessageBody<C> {
    /// True for the requests a leader (or pre-candidate) may send before its
    /// ready batch is durable: they promise nothing about the sender's own
    /// disk. Everything else waits for persistence.
    pub fn sendable_before_persist(&self) -> bool {
        matches!(
            self,
            MessageBody::Append { .. }
                | MessageBody::Heartbeat { .. }
                | MessageBody::TimeoutNow
                | MessageBody::PreVote { .. }
                | MessageBody::Snapshot { .. }
        )
    }
}

impl<C: fmt::Debug> fmt::Display for Message<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{} t{} ", self.from, self.to, self.term)?;
        match &self.body {
            MessageBody::PreVote {
                last_index,
                last_term,
            } => {
                write!(f, "PreVote last={last_index}@{last_term}")
            }
            MessageBody::PreVoteResponse { granted } => {
                write!(f, "PreVoteResponse granted={granted}")
            }
            MessageBody::Vote {
                last_index,
                last_term,
                transfer,
            } => {
                write!(f, "Vote last={last_index}@{last_term}")?;
                if *transfer {
                    write!(f, " transfer")?;
                }
                Ok(())
            }
            MessageBody::VoteResponse { granted } => write!(f, "VoteResponse granted={granted}"),
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                write!(f, "Append prev={prev_index}@{prev_term} commit={commit} [")?;
                for (i, e) in entries.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{e}")?;
                }
                write!(f, "]")
            }
            MessageBody::AppendResponse { result } => match result {
                AppendResult::Success { match_index } => {
                    write!(f, "AppendResponse match={match_index}")
                }
                AppendResult::Conflict {
                    rejected_prev,
                    hint_index,
                    hint_term,
                } => write!(
                    f,
                    "AppendResponse reject prev={rejected_prev} hint={hint_index}@{}",
                    hint_term.map_or("-".to_string(), |t| t.to_string())
                ),
                AppendResult::NeedSnapshot => write!(f, "AppendResponse need-snapshot"),
            },
            MessageBody::Heartbeat { commit, read_seq } => {
                write!(f, "Heartbeat commit={commit} read_seq={read_seq}")
            }
            MessageBody::HeartbeatResponse { read_seq } => {
                write!(f, "HeartbeatResponse read_seq={read_seq}")
            }
            MessageBody::TimeoutNow => write!(f, "TimeoutNow"),
            MessageBody::Snapshot {
                meta,
                offset,
                data,
                last,
                ..
            } => write!(
                f,
                "Snapshot {}@{} offset={offset} len={}{}",
                meta.index,
                meta.term,
                data.len(),
                if *last { " last" } else { "" }
            ),
            MessageBody::SnapshotResponse { index, result } => match result {
                SnapshotResult::Progress { offset } => {
                    write!(f, "SnapshotResponse {index} offset={offset}")
                }
                SnapshotResult::Done { match_index } => {
                    write!(f, "SnapshotResponse {index} done match={match_index}")
                }
            },
        }
    }
}
