//! Log replication (§5.3), commitment (§5.4.2), heartbeats and ReadIndex
//! (thesis §6.4).

use tracing::{debug, trace, warn};

use crate::error::StepError;
use crate::message::{AppendResult, MessageBody};
use crate::progress::ProgressState;
use crate::raft::{PendingRead, Raft};
use crate::ready::ReadState;
use crate::types::{Entry, Index, NodeId, Role, Term};

impl<C: Clone + std::fmt::Debug> Raft<C> {
    /// Sends new entries (or at least the commit index) to every follower.
    pub(crate) fn broadcast_append(&mut self) {
        for to in self.replication_targets() {
            self.send_append(to);
        }
    }

    /// Sends as many AppendEntries to `to` as flow control allows; at least
    /// one (possibly empty, carrying the commit index) unless paused.
    pub(crate) fn send_append(&mut self, to: NodeId) {
        let mut first = true;
        loop {
            let Some(pr) = self.progress.get(&to) else {
                return;
            };
            if pr.is_paused(self.config.max_inflight) {
                return;
            }
            let last = self.log.last_index();
            if !first && (pr.state != ProgressState::Replicate || pr.next_index > last) {
                return;
            }
            first = false;
            // next_index is kept in [match + 1, last + 1]; clamp defensively.
            let next = pr.next_index.clamp(1, last + 1);
            let prev_index = next - 1;
            let prev_term = if prev_index < self.log.offset {
                None
            } else {
                self.log.term(prev_index)
            };
            let Some(prev_term) = prev_term else {
                // The entries the follower needs were compacted away (§7).
                self.start_snapshot(to);
                return;
            };
            let hi = prev_index.saturating_add(self.config.max_entries_per_append as u64);
            let entries: Vec<Entry<C>> = self.log.slice(next, hi).to_vec();
            let count = entries.len();
            let sent_last = prev_index + count as u64;
            let commit = self.log.commit;
            if let Some(pr) = self.progress.get_mut(&to) {
                pr.sent(sent_last, count);
            }
            self.send(
                to,
                MessageBody::Append {
                    prev_index,
                    prev_term,
                    entries,
                    commit,
                },
            );
        }
    }

    pub(crate) fn broadcast_heartbeat(&mut self) {
        let seq = self.read_seq;
        for to in self.replication_targets() {
            let matched = self.progress.get(&to).map_or(0, |p| p.match_index);
            // Never tell a follower to commit past what we know it holds.
            let commit = self.log.commit.min(matched);
            self.send(
                to,
                MessageBody::Heartbeat {
                    commit,
                    read_seq: seq,
                },
            );
        }
    }

    /// Follower side of AppendEntries (§5.3, Figure 2 receiver rules 2–5).
    pub(crate) fn handle_append(
        &mut self,
        from: NodeId,
        prev_index: Index,
        prev_term: Term,
        entries: Vec<Entry<C>>,
        leader_commit: Index,
    ) -> Result<(), StepError> {
        if self.confs.current().is_empty() {
            // A joining node does not know the bootstrap configuration (it is
            // not in the log): it takes nothing before a snapshot.
            trace!(id = self.id, from, "joining: asking for a snapshot");
            self.send(
                from,
                MessageBody::AppendResponse {
                    result: AppendResult::NeedSnapshot,
                },
            );
            return Ok(());
        }
        if prev_index < self.log.commit {
            // Everything up to our commit index is committed and therefore in
            // the leader's log (leader completeness, §5.4); skip that part.
            let skip = (self.log.commit - prev_index) as usize;
            let rest: Vec<Entry<C>> = entries.into_iter().skip(skip).collect();
            let commit_term = self.log.term(self.log.commit).unwrap_or(0);
            return self.handle_append(from, self.log.commit, commit_term, rest, leader_commit);
        }
        match self.log.term(prev_index) {
            Some(t) if t == prev_term => {}
            other => {
                // Fast backtracking: tell the leader where our log stands.
                let (hint_index, hint_term) = match other {
                    None => (self.log.last_index() + 1, None),
                    Some(t) => (self.log.first_index_of_term_at(prev_index), Some(t)),
                };
                trace!(
                    id = self.id,
                    from,
                    prev_index,
                    prev_term,
                    hint_index,
                    ?hint_term,
                    "rejecting append"
                );
                self.send(
                    from,
                    MessageBody::AppendResponse {
                        result: AppendResult::Conflict {
                            rejected_prev: prev_index,
                            hint_index,
                            hint_term,
                        },
                    },
                );
                return Ok(());
            }
        }
        let last_new = prev_index + entries.len() as u64;
        // §5.3: delete an existing entry only if it conflicts (same index,
        // different term); a duplicate or reordered request must not cut
        // entries that a later request already added.
        let conflict = entries
            .iter()
            .position(|e| self.log.term(e.index) != Some(e.term));
        if let Some(pos) = conflict {
            let first = entries[pos].index;
            if first <= self.log.commit {
                let term = self.log.term(first).unwrap_or(0);
                warn!(
                    id = self.id,
                    from,
                    index = first,
                    "append conflicts with a committed entry"
                );
                return Err(StepError::ConflictsWithCommitted {
                    from,
                    index: first,
                    term,
                });
            }
            if first <= self.log.last_index() {
                debug!(
                    id = self.id,
                    from,
                    index = first,
                    "truncating conflicting suffix"
                );
                self.log.truncate_after(first - 1);
                self.note_truncated(first - 1);
            }
            let new: Vec<Entry<C>> = entries.into_iter().skip(pos).collect();
            self.note_appended(&new);
            for e in new {
                self.log.push(e.term, e.payload);
            }
        }
        // Figure 2 receiver rule 5: commit = min(leaderCommit, last new entry).
        self.log.commit_to(leader_commit.min(last_new));
        self.send(
            from,
            MessageBody::AppendResponse {
                result: AppendResult::Success {
                    match_index: last_new,
                },
            },
        );
        Ok(())
    }

    /// Leader side: a follower answered an AppendEntries.
    pub(crate) fn handle_append_response(
        &mut self,
        from: NodeId,
        result: AppendResult,
    ) -> Result<(), StepError> {
        let last = self.log.last_index();
        let Some(pr) = self.progress.get_mut(&from) else {
            return Ok(());
        };
        pr.recent_active = true;
        match result {
            AppendResult::Success { match_index } => {
                if match_index > last {
                    return Err(StepError::Malformed {
                        from,
                        reason: "acknowledged an index beyond the leader's log",
                    });
                }
                let was_paused = pr.is_paused(self.config.max_inflight);
                if !pr.maybe_update(match_index) {
                    return Ok(()); // a duplicate or reordered acknowledgement
                }
                if pr.state == ProgressState::Probe {
                    pr.become_replicate();
                } else if pr.state == ProgressState::Snapshot && pr.match_index >= self.log.offset {
                    // A late acknowledgement shows the follower no longer
                    // needs the snapshot.
                    pr.become_probe();
                }
                let has_unsent = pr.next_index <= last;
                if self.maybe_commit() {
                    self.broadcast_append();
                    self.after_leader_commit();
                    if self.role != Role::Leader {
                        return Ok(());
                    }
                } else if was_paused || has_unsent {
                    // Resume the pipeline; a follower that was paused also
                    // missed the latest commit index.
                    self.send_append(from);
                }
                if self.transferee == Some(from)
                    && self
                        .progress
                        .get(&from)
                        .is_some_and(|p| p.match_index == self.log.last_index())
                {
                    debug!(
                        id = self.id,
                        to = from,
                        "transfer target caught up, sending TimeoutNow"
                    );
                    self.send(from, MessageBody::TimeoutNow);
                }
            }
            AppendResult::NeedSnapshot => {
                let has_snapshot = self.snapshot.is_some();
                let Some(pr) = self.progress.get_mut(&from) else {
                    return Ok(());
                };
                if pr.state == ProgressState::Snapshot {
                    return Ok(()); // already on its way
                }
                if has_snapshot {
                    self.start_snapshot(from);
                } else {
                    // Nothing to send yet: ask the application for a snapshot
                    // and send it when `compact` reports it.
                    pr.wants_snapshot = true;
                    debug!(
                        id = self.id,
                        to = from,
                        "joining node needs a snapshot; none yet"
                    );
                    self.snapshot_wanted = true;
                }
            }
            AppendResult::Conflict {
                rejected_prev,
                hint_index,
                hint_term,
            } => {
                if rejected_prev > last {
                    return Ok(()); // answer to a request from a log we no longer have
                }
                // Fast backtracking: skip the follower's whole conflicting term.
                let hint_next = match hint_term {
                    Some(t) => self
                        .log
                        .last_index_of_term(t, rejected_prev)
                        .map_or(hint_index, |i| i + 1),
                    None => hint_index,
                }
                .max(1);
                let Some(pr) = self.progress.get_mut(&from) else {
                    return Ok(());
                };
                if pr.maybe_decrease(rejected_prev, hint_next) {
                    trace!(
                        id = self.id,
                        to = from,
                        next = pr.next_index,
                        "backtracking"
                    );
                    self.send_append(from);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn handle_heartbeat_response(&mut self, from: NodeId, read_seq: u64) {
        let max_inflight = self.config.max_inflight;
        let Some(pr) = self.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        pr.read_ack = pr.read_ack.max(read_seq.min(self.read_seq));
        match pr.state {
            // The follower is alive: the outstanding probe may have been lost.
            ProgressState::Probe => pr.probe_sent = false,
            // Free a slot so a lost append cannot stall the pipeline forever.
            ProgressState::Replicate => {
                if pr.inflight.len() >= max_inflight {
                    pr.inflight.pop_front();
                }
            }
            // Chunks are retried by `tick_snapshot_transfers`.
            ProgressState::Snapshot => {}
        }
        if pr.match_index < self.log.last_index() {
            self.send_append(from);
        }
        self.confirm_reads();
    }

    /// §5.4.2: commit the highest index stored on a quorum, but only if it
    /// belongs to the current term (Figure 8 shows why older terms may not be
    /// committed by counting). Returns true if the commit index moved.
    pub(crate) fn maybe_commit(&mut self) -> bool {
        // The voters in effect (the latest configuration in the log, thesis
        // §4.1); a leader that removed itself is not among them.
        let mut matched: Vec<Index> = self
            .confs
            .current()
            .voters
            .iter()
            .map(|&v| {
                if v == self.id {
                    self.log.stable
                } else {
                    self.progress.get(&v).map_or(0, |p| p.match_index)
                }
            })
            .collect();
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&candidate) = matched.get(self.quorum() - 1) else {
            return false;
        };
        if candidate > self.log.commit && self.log.term(candidate) == Some(self.term) {
            self.log.commit_to(candidate);
            trace!(id = self.id, commit = candidate, "commit index advanced");
            // The no-op is committed: reads waiting for it can start (§6.4).
            for ctx in std::mem::take(&mut self.reads_before_commit) {
                self.start_read(ctx);
            }
            return true;
        }
        false
    }

    /// §6.4 steps 2–3: record the read at the commit index and confirm
    /// leadership with a heartbeat round.
    pub(crate) fn start_read(&mut self, context: u64) {
        self.read_seq += 1;
        self.pending_reads.push_back(PendingRead {
            seq: self.read_seq,
            index: self.log.commit,
            context,
        });
        if self.read_quorum_alone() {
            self.confirm_reads();
        } else {
            self.broadcast_heartbeat();
        }
    }

    /// True if this leader's own acknowledgement is a quorum.
    fn read_quorum_alone(&self) -> bool {
        let conf = self.confs.current();
        conf.is_voter(self.id) && self.quorum() == 1
    }

    /// Releases every read whose round a quorum acknowledged.
    pub(crate) fn confirm_reads(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        while let Some(front) = self.pending_reads.front() {
            let conf = self.confs.current();
            let acks = usize::from(conf.is_voter(self.id))
                + self
                    .progress
                    .iter()
                    .filter(|(id, p)| p.read_ack >= front.seq && conf.is_voter(**id))
                    .count();
            if acks < self.quorum() {
                break;
            }
            let r = *front;
            self.pending_reads.pop_front();
            self.read_states.push(ReadState {
                index: r.index,
                context: r.context,
            });
        }
    }
}
