//! The Raft node: state, inputs (`tick`, `step`, `propose`, `read_index`,
//! `transfer_leadership`) and outputs (`ready`, `advance`). Elections live in
//! `election.rs`, replication and reads in `replication.rs`.

use std::collections::{BTreeMap, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tracing::{debug, trace, warn};

use crate::config::Config;
use crate::error::{Error, ProposeError, StepError};
use crate::log::RaftLog;
use crate::membership::ConfHistory;
use crate::message::{Message, MessageBody};
use crate::progress::Progress;
use crate::ready::{ReadState, Ready, ReceivedChunk, SnapshotRequest, SoftState};
use crate::snapshot::IncomingSnapshot;
use crate::types::{
    ConfState, Entry, EntryPayload, HardState, Index, NodeId, Role, SnapshotMeta, Term,
};

/// The highest term a node accepts (2^63). Real clusters never get near it;
/// the bound only keeps term arithmetic from overflowing on hostile input.
pub const MAX_TERM: Term = 1 << 63;

/// Durable state a node restarts from: the hard state, the latest snapshot's
/// metadata and the log after it, as read back from a [`crate::LogStore`].
#[derive(Clone, Debug)]
pub struct RestoredState<C> {
    /// Last persisted term and vote.
    pub hard_state: HardState,
    /// Every entry after the snapshot (after index 0 without one), contiguous.
    pub entries: Vec<Entry<C>>,
    /// The latest snapshot the log store recorded, if any. The application's
    /// state machine must hold at least this snapshot ([`Config::applied`]
    /// `>= snapshot.index`).
    pub snapshot: Option<SnapshotMeta>,
}

impl<C> Default for RestoredState<C> {
    fn default() -> Self {
        RestoredState {
            hard_state: HardState::default(),
            entries: Vec::new(),
            snapshot: None,
        }
    }
}

/// Where a proposal landed in the log. The proposal succeeded if and only if
/// the entry applied at `index` has term `term`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposed {
    /// Index of the new entry.
    pub index: Index,
    /// Term of the new entry.
    pub term: Term,
}

/// A snapshot of a node's state, for tests, metrics and tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Node id.
    pub id: NodeId,
    /// Current role.
    pub role: Role,
    /// Current term.
    pub term: Term,
    /// Vote cast in the current term.
    pub voted_for: Option<NodeId>,
    /// Known leader.
    pub leader: Option<NodeId>,
    /// Commit index.
    pub commit: Index,
    /// Last index handed to the application.
    pub applied: Index,
    /// Last index in the in-memory log.
    pub last_index: Index,
    /// Term of the last entry.
    pub last_term: Term,
    /// Last index known durable.
    pub stable: Index,
    /// Index of the first entry held in memory (`last_index + 1` if none).
    pub first_index: Index,
    /// Index of the latest snapshot this node knows (0 if none).
    pub snapshot_index: Index,
}

/// A ReadIndex request waiting for its leadership-confirmation round.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingRead {
    pub(crate) seq: u64,
    pub(crate) index: Index,
    pub(crate) context: u64,
}

/// One Raft node as a deterministic state machine. See the crate docs.
pub struct Raft<C> {
    pub(crate) id: NodeId,
    pub(crate) config: Config,
    /// The configurations along the log; the last one is in effect.
    pub(crate) confs: ConfHistory,
    pub(crate) term: Term,
    pub(crate) voted_for: Option<NodeId>,
    pub(crate) leader: Option<NodeId>,
    pub(crate) role: Role,
    pub(crate) log: RaftLog<C>,
    /// Leader only: one entry per other voter.
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    /// Candidate/pre-candidate only: answers received (this node included).
    pub(crate) votes: BTreeMap<NodeId, bool>,
    pub(crate) election_elapsed: u32,
    pub(crate) heartbeat_elapsed: u32,
    pub(crate) randomized_election_timeout: u32,
    pub(crate) rng: StdRng,
    pub(crate) msgs: Vec<Message<C>>,
    pub(crate) msgs_after_persist: Vec<Message<C>>,
    pub(crate) read_states: Vec<ReadState>,
    pub(crate) dropped_reads: Vec<u64>,
    /// Reads waiting for the quorum round.
    pub(crate) pending_reads: VecDeque<PendingRead>,
    /// Reads waiting until the leader commits an entry of its own term.
    pub(crate) reads_before_commit: Vec<u64>,
    pub(crate) read_seq: u64,
    pub(crate) transferee: Option<NodeId>,
    pub(crate) transfer_elapsed: u32,
    /// The latest snapshot the application reported (or the follower installed).
    pub(crate) snapshot: Option<SnapshotMeta>,
    /// Follower: the snapshot transfer being received.
    pub(crate) incoming: Option<IncomingSnapshot>,
    /// Follower: chunks for the next ready batch.
    pub(crate) received_chunks: Vec<ReceivedChunk>,
    /// Follower: a complete snapshot to install in the next ready batch.
    pub(crate) pending_install: Option<SnapshotMeta>,
    /// Leader: chunk reads for the application.
    pub(crate) snapshot_requests: Vec<SnapshotRequest>,
    /// Leader: a member needs a snapshot the leader does not have.
    pub(crate) snapshot_wanted: bool,
    /// Leader elected on its own vote alone (the only voter): the index of
    /// its no-op. Until that entry is durable, neither is the term and vote
    /// it won with (handed in the same batch or an earlier one), so it sends
    /// nothing before persistence (`push_message`).
    pub(crate) lone_noop: Option<Index>,
    prev_hard_state: HardState,
    prev_soft_state: SoftState,
}

impl<C: Clone + std::fmt::Debug> Raft<C> {
    /// Creates a node from its configuration, a seed for its election-timeout
    /// randomness, and the durable state read back from its log store (use
    /// `RestoredState::default()` for a brand-new node).
    pub fn new(config: Config, seed: u64, restored: RestoredState<C>) -> Result<Self, Error> {
        config.validate()?;
        let log = RaftLog::restore(restored.entries, config.applied, restored.snapshot.as_ref())
            .map_err(Error::InvalidState)?;
        let hs = restored.hard_state;
        if let Some(snap) = &restored.snapshot
            && snap.term > hs.term
        {
            return Err(Error::InvalidState(format!(
                "snapshot term {} is above the hard state term {}",
                snap.term, hs.term
            )));
        }
        if hs.term > MAX_TERM {
            return Err(Error::InvalidState(format!(
                "term {} is out of range",
                hs.term
            )));
        }
        if log.last_term() > hs.term {
            return Err(Error::InvalidState(format!(
                "last entry term {} is above the hard state term {}",
                log.last_term(),
                hs.term
            )));
        }
        // The configuration: the snapshot's, else the bootstrap one, then
        // every change in the log after it, in order.
        let (base_index, base) = match &restored.snapshot {
            Some(s) => (s.index, s.conf_state()),
            None => (
                0,
                ConfState::new(
                    config.voters.iter().copied(),
                    config.learners.iter().copied(),
                ),
            ),
        };
        let mut confs = ConfHistory::new(base_index, base);
        for e in log.all() {
            if let EntryPayload::ConfChange(cc) = &e.payload {
                confs.push(e.index, cc);
            }
        }
        let mut raft = Raft {
            id: config.id,
            confs,
            term: hs.term,
            voted_for: hs.voted_for,
            leader: None,
            role: Role::Follower,
            log,
            progress: BTreeMap::new(),
            votes: BTreeMap::new(),
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_election_timeout: config.election_tick,
            rng: StdRng::seed_from_u64(seed),
            msgs: Vec::new(),
            msgs_after_persist: Vec::new(),
            read_states: Vec::new(),
            dropped_reads: Vec::new(),
            pending_reads: VecDeque::new(),
            reads_before_commit: Vec::new(),
            read_seq: 0,
            transferee: None,
            transfer_elapsed: 0,
            snapshot: restored.snapshot,
            incoming: None,
            received_chunks: Vec::new(),
            pending_install: None,
            snapshot_requests: Vec::new(),
            snapshot_wanted: false,
            lone_noop: None,
            prev_hard_state: hs,
            prev_soft_state: SoftState {
                leader: None,
                role: Role::Follower,
            },
            config,
        };
        raft.reset_election_timer();
        debug!(
            id = raft.id,
            term = raft.term,
            last = raft.log.last_index(),
            conf = %raft.confs.current(),
            "raft node started"
        );
        Ok(raft)
    }

    /// Advances logical time by one tick: followers and candidates count
    /// towards their election timeout, leaders towards the next heartbeat and
    /// the next check-quorum. Nodes that may not campaign (learners, joining
    /// nodes, nodes removed by a committed change) never time out.
    pub fn tick(&mut self) {
        if self.role == Role::Leader {
            self.tick_leader();
        } else {
            self.election_elapsed = self.election_elapsed.saturating_add(1);
            if self.election_elapsed >= self.randomized_election_timeout && self.can_campaign() {
                trace!(id = self.id, term = self.term, "election timeout");
                self.campaign();
            }
        }
    }

    fn tick_leader(&mut self) {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        if let Some(target) = self.transferee {
            self.transfer_elapsed += 1;
            if self.transfer_elapsed >= self.config.election_tick {
                debug!(id = self.id, target, "leadership transfer timed out");
                self.transferee = None;
            }
        }
        if self.election_elapsed >= self.config.election_tick {
            self.election_elapsed = 0;
            if self.config.check_quorum {
                // Thesis §6.2: a leader that cannot reach a quorum within an
                // election timeout steps down, so clients can find the real one.
                let active = self
                    .confs
                    .current()
                    .voters
                    .iter()
                    .filter(|&&v| {
                        v == self.id || self.progress.get(&v).is_some_and(|p| p.recent_active)
                    })
                    .count();
                if active < self.quorum() {
                    debug!(
                        id = self.id,
                        term = self.term,
                        "check-quorum failed, stepping down"
                    );
                    self.become_follower(self.term, None);
                    return;
                }
                for p in self.progress.values_mut() {
                    p.recent_active = false;
                }
            }
        }
        if self.heartbeat_elapsed >= self.config.heartbeat_tick {
            self.heartbeat_elapsed = 0;
            self.broadcast_heartbeat();
        }
        self.tick_snapshot_transfers();
    }

    /// Starts an election now, as if the election timeout had elapsed (with a
    /// pre-vote round first if configured). A leader ignores this, and so do
    /// nodes that may not campaign (learners, joining nodes, nodes removed
    /// by a committed change).
    pub fn campaign(&mut self) {
        if self.role == Role::Leader || !self.can_campaign() {
            return;
        }
        if self.config.pre_vote {
            self.start_pre_vote();
        } else {
            self.start_election(false);
        }
    }

    /// Feeds a message from a peer. An `Err` means the message was dropped
    /// (it is malformed or not for this node); the node is unaffected.
    pub fn step(&mut self, m: Message<C>) -> Result<(), StepError> {
        self.validate(&m)?;
        if m.term > self.term {
            match &m.body {
                MessageBody::PreVote { .. }
                | MessageBody::Vote {
                    transfer: false, ..
                } if self.in_lease() => {
                    // Leader stickiness (thesis §9.6 with check-quorum): while we hear
                    // from a leader, a disruptive candidate is ignored.
                    trace!(
                        id = self.id,
                        from = m.from,
                        "ignoring vote request inside leader lease"
                    );
                    return Ok(());
                }
                // A pre-vote does not change anyone's term.
                MessageBody::PreVote { .. } => {}
                // A granted pre-vote carries the term we would campaign in.
                MessageBody::PreVoteResponse { granted: true } => {}
                MessageBody::Append { .. }
                | MessageBody::Heartbeat { .. }
                | MessageBody::Snapshot { .. }
                | MessageBody::TimeoutNow => {
                    self.become_follower(m.term, Some(m.from));
                }
                // Thesis §4.2.3: a vote request (say from a removed server
                // that still campaigns) must not reset a follower's election
                // timer unless the vote is granted; the term still moves.
                MessageBody::Vote { .. } if self.role == Role::Follower => {
                    let (elapsed, timeout) =
                        (self.election_elapsed, self.randomized_election_timeout);
                    self.become_follower(m.term, None);
                    self.election_elapsed = elapsed;
                    self.randomized_election_timeout = timeout;
                }
                // Figure 2, all servers: a higher term makes us a follower.
                _ => self.become_follower(m.term, None),
            }
        } else if m.term < self.term {
            // Figure 2: "reply false if term < currentTerm", in every role. The
            // reply carries our term so a stale leader or candidate steps down.
            let body = match &m.body {
                MessageBody::Append { prev_index, .. } => Some(MessageBody::AppendResponse {
                    result: crate::message::AppendResult::Conflict {
                        rejected_prev: *prev_index,
                        hint_index: self.log.last_index() + 1,
                        hint_term: None,
                    },
                }),
                MessageBody::Heartbeat { .. } => {
                    Some(MessageBody::HeartbeatResponse { read_seq: 0 })
                }
                MessageBody::PreVote { .. } => {
                    Some(MessageBody::PreVoteResponse { granted: false })
                }
                MessageBody::Vote { .. } => Some(MessageBody::VoteResponse { granted: false }),
                MessageBody::Snapshot { meta, .. } => Some(MessageBody::SnapshotResponse {
                    index: meta.index,
                    result: crate::message::SnapshotResult::Progress { offset: 0 },
                }),
                _ => None, // a stale response: nothing to do
            };
            if let Some(body) = body {
                self.send(m.from, body);
            }
            return Ok(());
        }

        match m.body {
            MessageBody::PreVote {
                last_index,
                last_term,
            } => self.handle_vote_request(m.from, m.term, true, last_index, last_term),
            MessageBody::Vote {
                last_index,
                last_term,
                ..
            } => self.handle_vote_request(m.from, m.term, false, last_index, last_term),
            MessageBody::PreVoteResponse { granted } => {
                if self.role == Role::PreCandidate && (m.term == self.term + 1 || !granted) {
                    self.tally(m.from, granted);
                }
            }
            MessageBody::VoteResponse { granted } => {
                if self.role == Role::Candidate {
                    self.tally(m.from, granted);
                }
            }
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                if self.role == Role::Leader {
                    // Election safety (§5.2) makes this impossible for correct peers.
                    return Err(StepError::Malformed {
                        from: m.from,
                        reason: "append from another leader of the same term",
                    });
                }
                if self.role != Role::Follower {
                    self.become_follower(self.term, Some(m.from));
                }
                self.leader = Some(m.from);
                self.election_elapsed = 0;
                return self.handle_append(m.from, prev_index, prev_term, entries, commit);
            }
            MessageBody::Heartbeat { commit, read_seq } => {
                if self.role == Role::Leader {
                    return Err(StepError::Malformed {
                        from: m.from,
                        reason: "heartbeat from another leader of the same term",
                    });
                }
                if self.role != Role::Follower {
                    self.become_follower(self.term, Some(m.from));
                }
                self.leader = Some(m.from);
                self.election_elapsed = 0;
                self.log.commit_to(commit);
                self.send(m.from, MessageBody::HeartbeatResponse { read_seq });
            }
            MessageBody::AppendResponse { result } => {
                if self.role == Role::Leader {
                    return self.handle_append_response(m.from, result);
                }
            }
            MessageBody::HeartbeatResponse { read_seq } => {
                if self.role == Role::Leader {
                    self.handle_heartbeat_response(m.from, read_seq);
                }
            }
            MessageBody::Snapshot {
                meta,
                offset,
                data,
                checksum,
                last,
            } => {
                if self.role == Role::Leader {
                    return Err(StepError::Malformed {
                        from: m.from,
                        reason: "snapshot from another leader of the same term",
                    });
                }
                if crate::crc::crc32c(&data) != checksum {
                    warn!(
                        id = self.id,
                        from = m.from,
                        index = meta.index,
                        offset,
                        "refusing a snapshot chunk with a bad checksum"
                    );
                    return Err(StepError::Malformed {
                        from: m.from,
                        reason: "snapshot chunk checksum mismatch",
                    });
                }
                if self.role != Role::Follower {
                    self.become_follower(self.term, Some(m.from));
                }
                self.leader = Some(m.from);
                self.election_elapsed = 0;
                self.handle_snapshot(m.from, meta, offset, data, last);
            }
            MessageBody::SnapshotResponse { index, result } => {
                if self.role == Role::Leader {
                    return self.handle_snapshot_response(m.from, index, result);
                }
            }
            MessageBody::TimeoutNow => {
                if self.role == Role::Follower && self.can_campaign() {
                    debug!(
                        id = self.id,
                        from = m.from,
                        "TimeoutNow: campaigning for leadership transfer"
                    );
                    self.start_election(true);
                }
            }
        }
        Ok(())
    }

    /// Rejects messages that could corrupt state if trusted.
    fn validate(&self, m: &Message<C>) -> Result<(), StepError> {
        // Messages from non-members are not refused here: this node may be
        // behind on membership changes (or joining), and what a message may
        // achieve is decided per message (votes only count from voters, ...).
        if m.to != self.id || m.from == self.id {
            return Err(StepError::Misrouted {
                from: m.from,
                to: m.to,
                me: self.id,
            });
        }
        if m.term > MAX_TERM {
            // Keeps `term + 1` from ever overflowing, whatever a peer sends.
            return Err(StepError::Malformed {
                from: m.from,
                reason: "term out of range",
            });
        }
        if let MessageBody::Append {
            prev_index,
            prev_term,
            entries,
            ..
        } = &m.body
        {
            let malformed = |reason| {
                Err(StepError::Malformed {
                    from: m.from,
                    reason,
                })
            };
            if *prev_term > m.term {
                return malformed("prev_term above the message term");
            }
            if prev_index.checked_add(entries.len() as u64).is_none() {
                return malformed("index overflow");
            }
            let mut prev = *prev_term;
            for (i, e) in entries.iter().enumerate() {
                if e.index != prev_index + 1 + i as u64 {
                    return malformed("entries are not contiguous");
                }
                if e.term < prev || e.term > m.term {
                    return malformed("entry terms out of order");
                }
                prev = e.term;
            }
        }
        if let MessageBody::Snapshot {
            meta, offset, data, ..
        } = &m.body
        {
            let reason = if meta.index == 0 || meta.term == 0 {
                Some("snapshot at index or term 0")
            } else if meta.index > MAX_TERM {
                // Keeps `index + 1` from overflowing, whatever a peer sends.
                Some("snapshot index out of range")
            } else if meta.term > m.term {
                Some("snapshot term above the message term")
            } else if offset.checked_add(data.len() as u64).is_none() {
                Some("snapshot offset overflow")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(StepError::Malformed {
                    from: m.from,
                    reason,
                });
            }
        }
        Ok(())
    }

    /// With check-quorum, a node that heard from a leader less than an
    /// election timeout ago refuses to help depose it.
    fn in_lease(&self) -> bool {
        self.config.check_quorum
            && self.leader.is_some()
            && self.election_elapsed < self.config.election_tick
    }

    /// Proposes a command. On the leader, appends it and returns its position;
    /// elsewhere, answers with the known leader so the caller can forward.
    pub fn propose(&mut self, command: C) -> Result<Proposed, ProposeError> {
        self.check_can_propose()?;
        let index = self.log.push(self.term, EntryPayload::Command(command));
        self.broadcast_append();
        Ok(Proposed {
            index,
            term: self.term,
        })
    }

    /// Proposes several commands at once (one replication round for all).
    pub fn propose_batch(
        &mut self,
        commands: impl IntoIterator<Item = C>,
    ) -> Result<Vec<Proposed>, ProposeError> {
        self.check_can_propose()?;
        let out = commands
            .into_iter()
            .map(|c| Proposed {
                index: self.log.push(self.term, EntryPayload::Command(c)),
                term: self.term,
            })
            .collect();
        self.broadcast_append();
        Ok(out)
    }

    pub(crate) fn check_can_propose(&self) -> Result<(), ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader_hint: self.leader,
            });
        }
        if let Some(t) = self.transferee {
            return Err(ProposeError::TransferInProgress(t));
        }
        Ok(())
    }

    /// Asks for a linearizable read (thesis §6.4). On the leader, the read is
    /// recorded at the current commit index and confirmed by a heartbeat
    /// round; it then appears in [`Ready::read_states`] with `context`.
    pub fn read_index(&mut self, context: u64) -> Result<(), ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader_hint: self.leader,
            });
        }
        if self.log.term(self.log.commit) != Some(self.term) {
            // §6.4 step 1: until the leader commits an entry of its own term
            // (its no-op), it does not know the latest commit index.
            self.reads_before_commit.push(context);
            return Ok(());
        }
        self.start_read(context);
        Ok(())
    }

    /// Starts handing leadership to `target` (thesis §3.10): proposals are
    /// refused while the target catches up, then it receives TimeoutNow.
    /// Abandoned after an election timeout.
    pub fn transfer_leadership(&mut self, target: NodeId) -> Result<(), ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader_hint: self.leader,
            });
        }
        if !self.confs.current().is_voter(target) {
            return Err(ProposeError::UnknownNode(target));
        }
        if target == self.id || self.transferee == Some(target) {
            return Ok(());
        }
        debug!(id = self.id, target, "starting leadership transfer");
        self.transferee = Some(target);
        self.transfer_elapsed = 0;
        let caught_up = self
            .progress
            .get(&target)
            .is_some_and(|p| p.match_index == self.log.last_index());
        if caught_up {
            self.send(target, MessageBody::TimeoutNow);
        } else {
            self.send_append(target);
        }
        Ok(())
    }

    /// True if [`Raft::ready`] would return a non-empty batch.
    pub fn has_ready(&self) -> bool {
        self.hard_state() != self.prev_hard_state
            || self.soft_state() != self.prev_soft_state
            || self.log.handed < self.log.last_index()
            || self.log.applied < self.log.commit
            || !self.msgs.is_empty()
            || !self.msgs_after_persist.is_empty()
            || !self.read_states.is_empty()
            || !self.dropped_reads.is_empty()
            || !self.received_chunks.is_empty()
            || self.pending_install.is_some()
            || !self.snapshot_requests.is_empty()
            || self.snapshot_wanted
    }

    /// Takes the pending output batch. See [`Ready`] for what to do with it;
    /// call [`Raft::advance`] afterwards.
    pub fn ready(&mut self) -> Ready<C> {
        let hs = self.hard_state();
        let hard_state = (hs != self.prev_hard_state).then_some(hs);
        self.prev_hard_state = hs;
        let ss = self.soft_state();
        let soft_state = (ss != self.prev_soft_state).then_some(ss);
        self.prev_soft_state = ss;
        self.mark_snapshot_handed();
        Ready {
            hard_state,
            entries: self.log.take_unhanded(),
            messages: std::mem::take(&mut self.msgs),
            persisted_messages: std::mem::take(&mut self.msgs_after_persist),
            committed_entries: self.log.take_committed(),
            read_states: std::mem::take(&mut self.read_states),
            dropped_reads: std::mem::take(&mut self.dropped_reads),
            soft_state,
            commit_index: self.log.commit,
            received_chunks: std::mem::take(&mut self.received_chunks),
            snapshot: self.pending_install.take(),
            snapshot_requests: std::mem::take(&mut self.snapshot_requests),
            snapshot_wanted: std::mem::take(&mut self.snapshot_wanted),
        }
    }

    /// Acknowledges that every batch returned by [`Raft::ready`] so far was
    /// handled: its hard state and entries are durable, its messages sent,
    /// its committed entries applied.
    pub fn advance(&mut self) {
        self.log.stable = self.log.handed;
        self.install_handed_snapshot();
        if self.role == Role::Leader && self.maybe_commit() {
            // The leader counts its own durable entries towards the quorum
            // only now (thesis §10.2.1); tell followers the new commit index.
            self.broadcast_append();
            self.after_leader_commit();
        }
    }

    /// Asynchronous log writes (crate docs, "Asynchronous log writes"):
    /// the entries handed out in earlier ready batches are durable up to
    /// `index`, whose entry had term `term` when it was handed out.
    ///
    /// Call this, instead of [`Raft::advance`], as each queued write
    /// completes. A report that no longer matches the log (the entry at
    /// `index` was truncated and replaced since, or is already known
    /// durable) is ignored, so reports may be stale. A leader counts its
    /// own entries toward commitment only up to the reported index.
    pub fn persisted(&mut self, index: Index, term: Term) {
        if index <= self.log.stable || index > self.log.handed || self.log.term(index) != Some(term)
        {
            return;
        }
        self.log.stable = index;
        if self.role == Role::Leader && self.maybe_commit() {
            self.broadcast_append();
            self.after_leader_commit();
        }
    }

    /// The node's current state.
    pub fn status(&self) -> Status {
        Status {
            id: self.id,
            role: self.role,
            term: self.term,
            voted_for: self.voted_for,
            leader: self.leader,
            commit: self.log.commit,
            applied: self.log.applied,
            last_index: self.log.last_index(),
            last_term: self.log.last_term(),
            stable: self.log.stable,
            first_index: self.log.offset + 1,
            snapshot_index: self.snapshot.as_ref().map_or(0, |s| s.index),
        }
    }

    /// The in-memory log: entry `i` (1-based) is at position
    /// `i - status().first_index` (`i - 1` until the log is compacted).
    pub fn log_entries(&self) -> &[Entry<C>] {
        self.log.all()
    }

    /// The term of the entry at `index`, if the in-memory log still knows it
    /// (`Some(0)` for 0; the snapshot's term at the index before the first
    /// in-memory entry).
    pub fn log_term(&self, index: Index) -> Option<Term> {
        self.log.term(index)
    }

    /// The latest snapshot this node knows (reported with [`Raft::compact`]
    /// or installed from the leader), if any.
    pub fn snapshot(&self) -> Option<&SnapshotMeta> {
        self.snapshot.as_ref()
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    pub(crate) fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            voted_for: self.voted_for,
        }
    }

    fn soft_state(&self) -> SoftState {
        SoftState {
            leader: self.leader,
            role: self.role,
        }
    }

    /// Votes (or acknowledgements) needed among the voters in effect.
    pub(crate) fn quorum(&self) -> usize {
        self.confs.current().voters.len() / 2 + 1
    }

    /// Queues a message; routes it by whether it may precede persistence.
    pub(crate) fn send(&mut self, to: NodeId, body: MessageBody<C>) {
        // A pre-vote response carries the term being asked about when granted.
        let m = Message {
            from: self.id,
            to,
            term: self.term,
            body,
        };
        self.push_message(m);
    }

    pub(crate) fn push_message(&mut self, m: Message<C>) {
        // A leader that elected itself within one step (the only voter: no
        // vote request waited for its vote to be durable) may not yet have
        // its term durable. Were its entries to leave before it is, a crash
        // losing the term would let it win the same term again after the
        // restart and create other entries at the same (index, term) that
        // a learner already holds. Its messages wait for persistence until
        // its no-op (written with or after the term) is durable: with
        // asynchronous writes that can be many batches later.
        let term_durable = !(self.role == Role::Leader
            && self.lone_noop.is_some_and(|noop| self.log.stable < noop));
        if m.body.sendable_before_persist() && term_durable {
            self.msgs.push(m);
        } else {
            self.msgs_after_persist.push(m);
        }
    }

    pub(crate) fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        let lo = self.config.election_tick;
        self.randomized_election_timeout =
            self.rng.random_range(lo..lo.saturating_mul(2).max(lo + 1));
    }
}
