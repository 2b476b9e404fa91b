//! Leader election (§5.2), pre-vote (thesis §9.6) and role transitions.

use tracing::{debug, trace};

use crate::message::MessageBody;
use crate::progress::Progress;
use crate::raft::Raft;
use crate::types::{EntryPayload, Index, NodeId, Role, Term};

impl<C: Clone + std::fmt::Debug> Raft<C> {
    /// Becomes a follower in `term` (which is >= the current term).
    pub(crate) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        if self.role != Role::Follower || self.leader != leader {
            debug!(id = self.id, term, ?leader, "becoming follower");
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.leave_leadership();
        self.reset_election_timer();
    }

    /// Drops leader-only state. Pending reads can never be confirmed now.
    fn leave_leadership(&mut self) {
        self.progress.clear();
        self.votes.clear();
        self.transferee = None;
        self.dropped_reads
            .extend(self.pending_reads.drain(..).map(|r| r.context));
        self.dropped_reads.append(&mut self.reads_before_commit);
    }

    pub(crate) fn start_pre_vote(&mut self) {
        debug!(
            id = self.id,
            term = self.term,
            "starting pre-vote for term {}",
            self.term + 1
        );
        self.role = Role::PreCandidate;
        self.leader = None;
        self.leave_leadership();
        self.reset_election_timer();
        self.votes.insert(self.id, true);
        if self.votes_won() {
            self.start_election(false);
            return;
        }
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        for to in self.other_voters() {
            // The request carries the term we would campaign in; our own term
            // is unchanged (that is the point of a pre-vote).
            self.push_message(crate::message::Message {
                from: self.id,
                to,
                term: self.term + 1,
                body: MessageBody::PreVote {
                    last_index,
                    last_term,
                },
            });
        }
    }

    /// §5.2: increment the term, vote for ourselves, request votes.
    pub(crate) fn start_election(&mut self, transfer: bool) {
        self.term += 1;
        self.voted_for = Some(self.id);
        self.role = Role::Candidate;
        self.leader = None;
        self.leave_leadership();
        self.reset_election_timer();
        debug!(
            id = self.id,
            term = self.term,
            transfer,
            "starting election"
        );
        self.votes.insert(self.id, true);
        if self.votes_won() {
            // Elected on our own vote: the new term is not durable yet.
            self.become_leader(true);
            return;
        }
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        for to in self.other_voters() {
            self.send(
                to,
                MessageBody::Vote {
                    last_index,
                    last_term,
                    transfer,
                },
            );
        }
    }

    /// Answers a (pre-)vote request whose term is >= ours (lower terms were
    /// rejected in `step`; a higher-term real vote already made us a follower).
    pub(crate) fn handle_vote_request(
        &mut self,
        from: NodeId,
        term: Term,
        pre: bool,
        last_index: Index,
        last_term: Term,
    ) {
        // §5.2: at most one vote per term, first come first served; a pre-vote
        // for a future term promises nothing and may always be granted.
        // Any node answers, learners too: a candidate only counts the votes
        // of the voters in *its* configuration, so a learner's vote never
        // elects anyone who knows it as a learner. But a learner may have
        // been promoted by a change committed on the other voters that it
        // has not received yet; if it refused, a cluster whose leader then
        // failed could never elect another (the simulator found this; etcd's
        // raft lets learners vote for the same reason).
        let can_vote = self.voted_for == Some(from)
            || (self.voted_for.is_none() && self.leader.is_none())
            || (pre && term > self.term);
        // §5.4.1: only for a candidate whose log is at least as up-to-date.
        let granted = can_vote && self.log.is_up_to_date(last_index, last_term);
        trace!(id = self.id, from, pre, granted, "vote request");
        if pre {
            let reply_term = if granted { term } else { self.term };
            self.push_message(crate::message::Message {
                from: self.id,
                to: from,
                term: reply_term,
                body: MessageBody::PreVoteResponse { granted },
            });
        } else {
            if granted {
                self.voted_for = Some(from);
                // Granting a vote resets the election timer (Figure 2, followers),
                // otherwise we could time out and disrupt the candidate we just elected.
                self.reset_election_timer();
            }
            self.send(from, MessageBody::VoteResponse { granted });
        }
    }

    /// Counts a (pre-)vote answer and acts on a decided outcome.
    pub(crate) fn tally(&mut self, from: NodeId, granted: bool) {
        self.votes.entry(from).or_insert(granted);
        if self.votes_won() {
            match self.role {
                Role::PreCandidate => self.start_election(false),
                // Other votes came only after our vote request, which left
                // once the term and vote were durable.
                Role::Candidate => self.become_leader(false),
                _ => {}
            }
        } else if self.votes_lost() {
            debug!(id = self.id, term = self.term, "lost the election");
            self.become_follower(self.term, None);
        }
    }

    /// Answers from voters of the configuration in effect that are `granted`.
    fn count_votes(&self, granted: bool) -> usize {
        let conf = self.confs.current();
        self.votes
            .iter()
            .filter(|&(&id, &g)| g == granted && conf.is_voter(id))
            .count()
    }

    fn votes_won(&self) -> bool {
        self.count_votes(true) >= self.quorum()
    }

    fn votes_lost(&self) -> bool {
        self.count_votes(false)
            > self
                .confs
                .current()
                .voters
                .len()
                .saturating_sub(self.quorum())
    }

    pub(crate) fn other_voters(&self) -> Vec<NodeId> {
        self.confs
            .current()
            .voters
            .iter()
            .copied()
            .filter(|&v| v != self.id)
            .collect()
    }

    /// `alone`: elected on this node's own vote, within the step that
    /// started the election (see `Raft::lone_noop`).
    fn become_leader(&mut self, alone: bool) {
        debug!(id = self.id, term = self.term, "became leader");
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.votes.clear();
        self.heartbeat_elapsed = 0;
        self.election_elapsed = 0;
        let next = self.log.last_index() + 1;
        let conf = self.confs.current();
        self.progress = conf
            .voters
            .iter()
            .chain(&conf.learners)
            .copied()
            .filter(|&v| v != self.id)
            .map(|v| (v, Progress::new(next)))
            .collect();
        // §5.4.2 / §8: a leader commits entries of earlier terms only
        // indirectly, by committing an entry of its own term: the no-op.
        let noop = self.log.push(self.term, EntryPayload::Noop);
        self.lone_noop = alone.then_some(noop);
        self.broadcast_append();
    }
}
