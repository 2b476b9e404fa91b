//! Single-server membership changes (thesis §4.1–4.3): the configuration
//! history of the in-memory log, proposing a change, the leader's progress
//! bookkeeping when a change is appended, and the step-down of a leader that
//! removed itself. See the crate docs, "Membership changes".

use tracing::debug;

use crate::error::{ConfChangeError, ProposeError};
use crate::progress::{PeerProgress, Progress};
use crate::raft::{Proposed, Raft};
use crate::types::{
    ConfChange, ConfChangeKind, ConfState, Entry, EntryPayload, Index, NodeId, Role, SnapshotMeta,
    Term,
};

/// The configurations in effect along the in-memory log.
///
/// Invariants:
/// - `points` is not empty and sorted by strictly increasing index;
/// - the first point is the *base*: the configuration at the log's offset
///   or earlier (the snapshot's, or the bootstrap configuration at index 0),
///   and every later point is a ConfChange entry of the log, with the
///   configuration right after it;
/// - the configuration at index `i` is that of the last point `<= i`.
#[derive(Clone, Debug)]
pub(crate) struct ConfHistory {
    points: Vec<(Index, ConfState)>,
}

impl ConfHistory {
    /// A history that starts with `base` at `index`.
    pub(crate) fn new(index: Index, base: ConfState) -> Self {
        ConfHistory {
            points: vec![(index, base)],
        }
    }

    /// The configuration of the last entry (committed or not).
    pub(crate) fn current(&self) -> &ConfState {
        &self.points[self.points.len() - 1].1
    }

    /// The configuration at `index`, if `index` is not before the base.
    pub(crate) fn at(&self, index: Index) -> Option<&ConfState> {
        if index < self.points[0].0 {
            return None;
        }
        let pos = self.points.partition_point(|(i, _)| *i <= index);
        Some(&self.points[pos - 1].1)
    }

    /// Whether `id` is a voter in the configuration at `index` or in any
    /// configuration after it.
    pub(crate) fn voter_since(&self, index: Index, id: NodeId) -> bool {
        self.at(index).is_some_and(|c| c.is_voter(id))
            || self
                .points
                .iter()
                .filter(|(at, _)| *at > index)
                .any(|(_, c)| c.is_voter(id))
    }

    /// Index of the latest ConfChange entry (not the base), if any.
    pub(crate) fn last_change_index(&self) -> Option<Index> {
        (self.points.len() > 1).then(|| self.points[self.points.len() - 1].0)
    }

    /// Records that the ConfChange entry at `index` was appended.
    pub(crate) fn push(&mut self, index: Index, change: &ConfChange) {
        let next = self.current().apply(change);
        self.points.push((index, next));
    }

    /// The entries after `index` were removed from the log: their changes
    /// are reverted.
    pub(crate) fn truncate_after(&mut self, index: Index) {
        while self.points.len() > 1 && self.points[self.points.len() - 1].0 > index {
            self.points.pop();
        }
    }

    /// Entries up to `index` are gone from memory: forget what is no longer
    /// needed to answer for indexes from `index` on.
    pub(crate) fn compact_to(&mut self, index: Index) {
        let keep_from = self.points.partition_point(|(i, _)| *i <= index);
        if keep_from > 1 {
            self.points.drain(..keep_from - 1);
        }
    }

    /// A snapshot was installed at `index` with configuration `conf`; the
    /// entries after it that the log kept keep their changes.
    pub(crate) fn install(&mut self, index: Index, conf: ConfState) {
        self.points.retain(|(i, _)| *i > index);
        self.points.insert(0, (index, conf));
    }
}

impl<C: Clone + std::fmt::Debug> Raft<C> {
    /// The configuration in effect now: that of the latest entry in the log,
    /// committed or not (a change takes effect when it is appended, thesis
    /// §4.1).
    pub fn conf_state(&self) -> ConfState {
        self.confs.current().clone()
    }

    /// The configuration in effect at `index` (after the entry at `index`,
    /// with any change it carries), for any index from the one before the
    /// first in-memory entry (`status().first_index - 1`) to the last index.
    /// `None` outside that range (before the latest snapshot or compaction,
    /// or beyond the log).
    pub fn conf_state_at(&self, index: Index) -> Option<ConfState> {
        if index < self.log.offset || index > self.log.last_index() {
            return None;
        }
        self.confs.at(index).cloned()
    }

    /// The metadata for a snapshot of the state machine at `index`, whose
    /// entry has term `term`: index, term and the configuration at `index`.
    /// Pass it to [`Raft::compact`]. `None` if the node no longer (or not
    /// yet) knows that index or its term is not `term`.
    pub fn snapshot_meta_at(&self, index: Index, term: Term) -> Option<SnapshotMeta> {
        if self.log.term(index) != Some(term) {
            return None;
        }
        let conf = self.conf_state_at(index)?;
        Some(SnapshotMeta {
            index,
            term,
            voters: conf.voters,
            learners: conf.learners,
        })
    }

    /// The index of a membership change that is in the log but not known
    /// committed yet, if any. While one is pending a leader refuses others.
    pub fn pending_conf_index(&self) -> Option<Index> {
        self.confs
            .last_change_index()
            .filter(|&i| i > self.log.commit)
    }

    /// The leader's view of every other member's log (voters and learners,
    /// by id); empty on other nodes.
    pub fn progress(&self) -> Vec<PeerProgress> {
        if self.role != Role::Leader {
            return Vec::new();
        }
        let conf = self.confs.current();
        self.progress
            .iter()
            .filter(|(id, _)| conf.is_member(**id))
            .map(|(&id, p)| PeerProgress {
                id,
                voter: conf.is_voter(id),
                match_index: p.match_index,
                next_index: p.next_index,
                state: p.state,
                recent_active: p.recent_active,
            })
            .collect()
    }

    /// Proposes a single-server membership change (thesis §4.1). On the
    /// leader, appends it and returns its position; it takes effect at once
    /// on the leader (and on each node when appended there). Refused while
    /// another change is not committed ([`ProposeError::ConfChangePending`]),
    /// before the leader has committed an entry of its term
    /// ([`ProposeError::LeaderNotReady`]), and when the change does not fit
    /// the configuration ([`ProposeError::InvalidConfChange`]); a Promote
    /// also waits until the learner has caught up (within
    /// [`crate::Config::max_entries_per_append`] entries of the leader's last
    /// index, and heard from in the current check-quorum period).
    pub fn propose_conf_change(&mut self, change: ConfChange) -> Result<Proposed, ProposeError> {
        self.check_can_propose()?;
        if self.log.term(self.log.commit) != Some(self.term) {
            return Err(ProposeError::LeaderNotReady);
        }
        if let Some(i) = self.pending_conf_index() {
            return Err(ProposeError::ConfChangePending(i));
        }
        self.check_conf_change(&change)?;
        let index = self.log.last_index() + 1;
        debug!(
            id = self.id,
            term = self.term,
            index,
            kind = %change.kind,
            node = change.node,
            "proposing membership change"
        );
        self.log
            .push(self.term, EntryPayload::ConfChange(change.clone()));
        self.conf_appended(index, &change);
        self.broadcast_append();
        // A one-voter cluster (or a change that leaves the leader alone) may
        // commit right away once the entry is durable; `advance` handles it.
        Ok(Proposed {
            index,
            term: self.term,
        })
    }

    fn check_conf_change(&self, change: &ConfChange) -> Result<(), ConfChangeError> {
        let conf = self.confs.current();
        let node = change.node;
        match change.kind {
            ConfChangeKind::AddLearner => {
                if conf.is_member(node) {
                    return Err(ConfChangeError::AlreadyMember(node));
                }
            }
            ConfChangeKind::Promote => {
                if !conf.is_member(node) {
                    return Err(ConfChangeError::NotAMember(node));
                }
                if !conf.is_learner(node) {
                    return Err(ConfChangeError::NotALearner(node));
                }
                let last_index = self.log.last_index();
                let (match_index, active) = self
                    .progress
                    .get(&node)
                    .map_or((0, false), |p| (p.match_index, p.recent_active));
                let slack = self.config.max_entries_per_append as u64;
                if !active || match_index.saturating_add(slack) < last_index {
                    return Err(ConfChangeError::NotCaughtUp {
                        node,
                        match_index,
                        last_index,
                    });
                }
            }
            ConfChangeKind::Remove => {
                if !conf.is_member(node) {
                    return Err(ConfChangeError::NotAMember(node));
                }
                if conf.voters == [node] {
                    return Err(ConfChangeError::LastVoter(node));
                }
            }
        }
        Ok(())
    }

    /// Any node: entries were appended to the log (by the leader itself or
    /// from an AppendEntries); their changes take effect now.
    pub(crate) fn note_appended(&mut self, entries: &[Entry<C>]) {
        for e in entries {
            if let EntryPayload::ConfChange(cc) = &e.payload {
                self.conf_appended(e.index, cc);
            }
        }
    }

    /// The ConfChange entry at `index` was appended.
    fn conf_appended(&mut self, index: Index, change: &ConfChange) {
        self.confs.push(index, change);
        debug!(
            id = self.id,
            index,
            kind = %change.kind,
            node = change.node,
            conf = %self.confs.current(),
            "membership change appended"
        );
        if self.role == Role::Leader {
            match change.kind {
                ConfChangeKind::AddLearner if change.node != self.id => {
                    // Probe from our last index: the new node most likely has
                    // nothing, and the probe backtracks (or asks for a snapshot).
                    self.progress
                        .entry(change.node)
                        .or_insert_with(|| Progress::new(index));
                }
                // A removed node keeps its progress until the removal commits,
                // so that it learns it was removed (`drop_removed_progress`).
                ConfChangeKind::Remove if self.transferee == Some(change.node) => {
                    self.transferee = None;
                }
                _ => {}
            }
        }
    }

    /// A follower's log lost the entries after `index`: the changes among them
    /// are reverted.
    pub(crate) fn note_truncated(&mut self, index: Index) {
        let before = self.confs.current().clone();
        self.confs.truncate_after(index);
        if *self.confs.current() != before {
            debug!(
                id = self.id,
                index,
                conf = %self.confs.current(),
                "membership change reverted by truncation"
            );
        }
    }

    /// True if this node is a voter in the configuration in effect.
    pub(crate) fn is_voter(&self) -> bool {
        self.confs.current().is_voter(self.id)
    }

    /// Whether this node may start an election: it is a voter in some
    /// configuration from its commit index on — now, at the commit index, or
    /// by a change it holds uncommitted. A change that is not committed may
    /// still be truncated away, and the node may be needed for a quorum
    /// meanwhile: a node promoted and then removed by entries only it holds
    /// may be the one node whose log the remaining voters can elect (the
    /// simulator found this, seed 58926). Votes are counted under the
    /// candidate's latest configuration, so campaigning is safe for any
    /// node (thesis §4.2.3); this only keeps the others from disrupting.
    /// Learners, joining nodes and nodes removed by a committed change never
    /// campaign.
    pub(crate) fn can_campaign(&self) -> bool {
        self.is_voter() || self.confs.voter_since(self.log.commit, self.id)
    }

    /// Leader, after its commit index moved (and the new commit index was
    /// broadcast): forgets the progress of nodes whose removal committed, and
    /// steps down if the committed configuration no longer has it as a voter
    /// (thesis §4.2.2), handing leadership to the most caught-up voter.
    pub(crate) fn after_leader_commit(&mut self) {
        // A removal may have left fewer voters to confirm the reads waiting
        // for their heartbeat round (the leader alone, say): count again,
        // or they would wait for responses that no longer come.
        self.confirm_reads();
        if self.role != Role::Leader || self.pending_conf_index().is_some() {
            return;
        }
        let conf = self.confs.current().clone();
        self.progress.retain(|id, _| conf.is_member(*id));
        if conf.is_voter(self.id) {
            return;
        }
        let target = conf
            .voters
            .iter()
            .filter_map(|&v| self.progress.get(&v).map(|p| (p.match_index, v)))
            // Highest match index; among equals the lowest id.
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, v)| v);
        debug!(
            id = self.id,
            term = self.term,
            ?target,
            "removed from the configuration: stepping down"
        );
        if let Some(target) = target {
            self.send(target, crate::message::MessageBody::TimeoutNow);
        }
        self.become_follower(self.term, None);
    }

    /// Ids of every other member that the leader replicates to.
    pub(crate) fn replication_targets(&self) -> Vec<NodeId> {
        self.progress.keys().copied().collect()
    }
}
