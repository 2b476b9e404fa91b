//! Snapshots (§7): compaction of the in-memory log, the leader's chunked
//! InstallSnapshot with one chunk in flight per follower, and the follower's
//! reception and install. The snapshot's bytes never pass through the core's
//! state: the leader asks the application for each chunk
//! ([`crate::Ready::snapshot_requests`]), the follower hands each verified
//! chunk to the application ([`crate::Ready::received_chunks`]) and then asks
//! it to install ([`crate::Ready::snapshot`]).

use tracing::{debug, trace};

use crate::error::{SnapshotError, StepError};
use crate::message::{MessageBody, SnapshotResult};
use crate::progress::ProgressState;
use crate::raft::Raft;
use crate::ready::{ReceivedChunk, SnapshotRequest};
use crate::types::{Index, NodeId, Role, SnapshotMeta, Term};

/// A snapshot transfer a follower is receiving.
#[derive(Clone, Debug)]
pub(crate) struct IncomingSnapshot {
    /// The leader sending it, in `term`.
    pub(crate) from: NodeId,
    pub(crate) term: Term,
    pub(crate) meta: SnapshotMeta,
    /// Bytes received (and handed to the application) so far.
    pub(crate) received: u64,
    /// The last chunk arrived; the snapshot is installed in the
    /// [`Raft::advance`] after the batch that hands that chunk out, unless
    /// the application calls [`Raft::reject_snapshot`] first.
    pub(crate) complete: bool,
    /// The last chunk was handed out in a ready batch.
    pub(crate) handed: bool,
}

impl<C: Clone + std::fmt::Debug> Raft<C> {
    /// Tells the core that the application holds a durable snapshot covering
    /// the log up to `meta.index` (its state machine state right after
    /// applying that entry), readable until a newer one is reported and no
    /// transfer reads it any more ([`Raft::snapshot_transfers`]).
    ///
    /// The core then drops from memory the entries up to
    /// `meta.index - Config::trailing_log_entries`, and sends this snapshot
    /// to every follower that needs an entry no longer held. Requirements:
    /// `meta.index` was applied (handed in [`crate::Ready::committed_entries`])
    /// and is durable in the log store (call this after
    /// [`Raft::advance`]), `meta.term` is the term of that entry, and it is
    /// newer than the current snapshot. Refused with a [`SnapshotError`]
    /// otherwise, the node unchanged.
    pub fn compact(&mut self, meta: SnapshotMeta) -> Result<(), SnapshotError> {
        let current = self.snapshot.as_ref().map_or(0, |s| s.index);
        if meta.index <= current {
            return Err(SnapshotError::Stale {
                index: meta.index,
                current,
            });
        }
        if meta.index > self.log.applied {
            return Err(SnapshotError::NotApplied {
                index: meta.index,
                applied: self.log.applied,
            });
        }
        if meta.index > self.log.stable {
            return Err(SnapshotError::NotDurable {
                index: meta.index,
                stable: self.log.stable,
            });
        }
        let expected = self.log.term(meta.index);
        if expected != Some(meta.term) {
            return Err(SnapshotError::TermMismatch {
                index: meta.index,
                term: meta.term,
                expected,
            });
        }
        let given = meta.conf_state();
        let expected = self.conf_state_at(meta.index);
        if expected.as_ref() != Some(&given) {
            return Err(SnapshotError::ConfMismatch {
                index: meta.index,
                given,
                expected,
            });
        }
        debug!(
            id = self.id,
            index = meta.index,
            term = meta.term,
            "snapshot reported"
        );
        let index = meta.index;
        // Kept with sorted lists, as sent to followers.
        self.snapshot = Some(SnapshotMeta {
            voters: given.voters,
            learners: given.learners,
            ..meta
        });
        // A follower still being sent an older snapshot catches up from it
        // by entries once it has installed it: keep them while it answers
        // (`recent_active`; check-quorum clears it every election timeout,
        // so a follower that went silent releases them at the next
        // snapshot). Otherwise, with snapshots coming faster than one
        // transfer takes, it would need a new snapshot after every install
        // and never catch up.
        let mut keep_from = index.saturating_sub(self.config.trailing_log_entries);
        if self.role == Role::Leader {
            let in_flight = self
                .progress
                .values()
                .filter(|p| p.recent_active)
                .filter_map(|p| p.snapshot.as_ref().map(|t| t.meta.index))
                .min();
            if let Some(held) = in_flight {
                keep_from = keep_from.min(held);
            }
        }
        self.log.compact_to(keep_from);
        self.confs.compact_to(self.log.offset);
        // Transfers of an older snapshot go on with it: restarting them
        // with every newer one would starve a follower whose transfer takes
        // longer than the leader takes between snapshots. It catches up from
        // there by entries, or by a newer snapshot (`handle_snapshot_response`).
        // Members that asked for a snapshot when there was none get this one.
        if self.role == Role::Leader {
            let waiting: Vec<NodeId> = self
                .progress
                .iter()
                .filter(|(_, p)| p.wants_snapshot && p.snapshot.is_none())
                .map(|(&id, _)| id)
                .collect();
            for to in waiting {
                self.start_snapshot(to);
            }
        }
        Ok(())
    }

    /// Leader: the snapshot each follower is being sent right now (none on
    /// other roles). The application keeps each of these images readable
    /// (and may remove an older image once no transfer reads it), even if a
    /// newer one was reported with [`Raft::compact`] meanwhile.
    pub fn snapshot_transfers(&self) -> Vec<(NodeId, SnapshotMeta)> {
        if self.role != Role::Leader {
            return Vec::new();
        }
        self.progress
            .iter()
            .filter_map(|(&id, p)| p.snapshot.as_ref().map(|t| (id, t.meta.clone())))
            .collect()
    }

    /// Follower: the application could not use the snapshot at `index` it
    /// is receiving (a chunk does not continue a well-formed stream, or the
    /// complete image fails verification), and has discarded what it
    /// staged. Call it before [`Raft::advance`] for the batch that handed
    /// the chunk out: the snapshot is then not installed, the state and log
    /// stay as they were, and the leader is asked to send it again from
    /// offset 0 (a newer one, if it has one by then). Returns the leader
    /// that sent it, or `None` (doing nothing) if no transfer of `index` is
    /// being received.
    pub fn reject_snapshot(&mut self, index: Index) -> Option<NodeId> {
        let incoming = self.incoming.take_if(|i| i.meta.index == index)?;
        debug!(
            id = self.id,
            from = incoming.from,
            index,
            "snapshot rejected by the application; asking for it again"
        );
        self.send(
            incoming.from,
            MessageBody::SnapshotResponse {
                index,
                result: SnapshotResult::Progress { offset: 0 },
            },
        );
        Some(incoming.from)
    }

    /// Follower: called by [`Raft::ready`]; the last chunk of a complete
    /// transfer is being handed out.
    pub(crate) fn mark_snapshot_handed(&mut self) {
        if let Some(i) = self.incoming.as_mut().filter(|i| i.complete) {
            i.handed = true;
        }
    }

    /// Follower: called by [`Raft::advance`]; installs a complete transfer
    /// whose last chunk the application has staged (and not rejected).
    pub(crate) fn install_handed_snapshot(&mut self) {
        let Some(IncomingSnapshot { from, meta, .. }) = self.incoming.take_if(|i| i.handed) else {
            return;
        };
        let index = meta.index;
        if index <= self.log.commit {
            // Entries overtook the transfer meanwhile: nothing to install.
            self.send(
                from,
                MessageBody::SnapshotResponse {
                    index,
                    result: SnapshotResult::Done {
                        match_index: self.log.commit,
                    },
                },
            );
            return;
        }
        debug!(
            id = self.id,
            from,
            index,
            term = meta.term,
            "snapshot staged, installing"
        );
        self.log.install(&meta);
        self.confs.install(meta.index, meta.conf_state());
        // If the log did not match the snapshot, its entries after it are
        // gone, and so are their changes.
        self.confs.truncate_after(self.log.last_index());
        self.pending_install = Some(meta.clone());
        self.snapshot = Some(meta);
        // Sent once the batch (and so the install) is durable.
        self.send(
            from,
            MessageBody::SnapshotResponse {
                index,
                result: SnapshotResult::Done { match_index: index },
            },
        );
    }

    /// Leader: hands the core the bytes asked for by `request` (from
    /// [`crate::Ready::snapshot_requests`]): at most `request.max_len` bytes
    /// of the snapshot at `request.index` starting at `request.offset`, with
    /// `last` set if they end the snapshot (an empty `data` is only valid as
    /// the last chunk). The chunk goes out in the next ready batch.
    ///
    /// Returns false, doing nothing, if the chunk is no longer wanted (this
    /// node lost leadership, a newer snapshot replaced this one, the follower
    /// asked for another offset meanwhile) or is invalid.
    pub fn send_snapshot_chunk(
        &mut self,
        request: &SnapshotRequest,
        data: Vec<u8>,
        last: bool,
    ) -> bool {
        if self.role != Role::Leader || (data.is_empty() && !last) || data.len() > request.max_len {
            return false;
        }
        let Some(tr) = self
            .progress
            .get_mut(&request.to)
            .and_then(|p| p.snapshot.as_mut())
        else {
            return false;
        };
        if tr.index != request.index || tr.offset != request.offset || !tr.outstanding {
            return false;
        }
        tr.elapsed = 0;
        let meta = tr.meta.clone();
        let checksum = crate::crc::crc32c(&data);
        trace!(
            id = self.id,
            to = request.to,
            index = meta.index,
            offset = request.offset,
            len = data.len(),
            last,
            "sending snapshot chunk"
        );
        self.send(
            request.to,
            MessageBody::Snapshot {
                meta,
                offset: request.offset,
                data,
                checksum,
                last,
            },
        );
        true
    }

    /// Leader: `to` needs entries that are gone; start sending the snapshot.
    pub(crate) fn start_snapshot(&mut self, to: NodeId) {
        let Some(meta) = self.snapshot.clone() else {
            // Cannot happen while the log starts after a snapshot; a joining
            // node may ask before there is one: ask the application.
            self.snapshot_wanted = true;
            return;
        };
        let Some(pr) = self.progress.get_mut(&to) else {
            return;
        };
        debug!(
            id = self.id,
            to,
            index = meta.index,
            next = pr.next_index,
            "follower needs a snapshot"
        );
        pr.become_snapshot(meta);
        self.request_chunk(to);
    }

    /// Asks the application for the next chunk for `to`.
    fn request_chunk(&mut self, to: NodeId) {
        let max_len = self.config.snapshot_chunk_bytes;
        let Some(tr) = self.progress.get_mut(&to).and_then(|p| p.snapshot.as_mut()) else {
            return;
        };
        tr.outstanding = true;
        tr.elapsed = 0;
        self.snapshot_requests.push(SnapshotRequest {
            to,
            index: tr.index,
            offset: tr.offset,
            max_len,
        });
    }

    /// Leader tick: a chunk (or its answer) may have been lost; ask again
    /// after half an election timeout without an answer.
    pub(crate) fn tick_snapshot_transfers(&mut self) {
        let retry = (self.config.election_tick / 2).max(1);
        let mut again = Vec::new();
        for (&id, p) in &mut self.progress {
            if let Some(tr) = p.snapshot.as_mut() {
                tr.elapsed += 1;
                if !tr.outstanding || tr.elapsed >= retry {
                    again.push(id);
                }
            }
        }
        for to in again {
            self.request_chunk(to);
        }
    }

    /// Follower: one chunk of a snapshot (checksum already verified).
    pub(crate) fn handle_snapshot(
        &mut self,
        from: NodeId,
        meta: SnapshotMeta,
        offset: u64,
        data: Vec<u8>,
        last: bool,
    ) {
        let index = meta.index;
        if index <= self.log.commit {
            // We already hold everything it covers: our committed prefix
            // matches the leader's log (leader completeness, §5.4).
            if self
                .incoming
                .as_ref()
                .is_some_and(|i| i.meta.index <= index)
            {
                self.incoming = None;
            }
            self.send(
                from,
                MessageBody::SnapshotResponse {
                    index,
                    result: SnapshotResult::Done {
                        match_index: self.log.commit,
                    },
                },
            );
            return;
        }
        let same = |i: &IncomingSnapshot| i.from == from && i.term == self.term && i.meta == meta;
        if self
            .incoming
            .as_ref()
            .is_some_and(|i| i.complete && same(i))
        {
            // A duplicate while the complete image is being staged: the
            // leader hears `Done` (or a restart) once that is settled.
            return;
        }
        let continuing = self
            .incoming
            .as_ref()
            .is_some_and(|i| same(i) && i.received == offset);
        if offset != 0 && !continuing {
            let expected = self
                .incoming
                .as_ref()
                .filter(|i| same(i))
                .map_or(0, |i| i.received);
            debug!(
                id = self.id,
                from, index, offset, expected, "snapshot chunk at an unexpected offset"
            );
            self.send(
                from,
                MessageBody::SnapshotResponse {
                    index,
                    result: SnapshotResult::Progress { offset: expected },
                },
            );
            return;
        }
        if offset == 0 {
            self.incoming = Some(IncomingSnapshot {
                from,
                term: self.term,
                meta: meta.clone(),
                received: 0,
                complete: false,
                handed: false,
            });
        }
        let received = offset + data.len() as u64;
        if let Some(i) = self.incoming.as_mut() {
            i.received = received;
        }
        self.received_chunks.push(ReceivedChunk {
            meta: meta.clone(),
            offset,
            data,
            last,
        });
        if !last {
            self.send(
                from,
                MessageBody::SnapshotResponse {
                    index,
                    result: SnapshotResult::Progress { offset: received },
                },
            );
            return;
        }
        debug!(
            id = self.id,
            from,
            index,
            term = meta.term,
            bytes = received,
            "snapshot received"
        );
        // Installed once the application has staged this last chunk
        // (`install_handed_snapshot`), so that it can still refuse the image.
        if let Some(i) = self.incoming.as_mut() {
            i.complete = true;
        }
    }

    /// Leader: a follower answered a snapshot chunk.
    pub(crate) fn handle_snapshot_response(
        &mut self,
        from: NodeId,
        index: Index,
        result: SnapshotResult,
    ) -> Result<(), StepError> {
        let last = self.log.last_index();
        let offset = self.log.offset;
        let Some(pr) = self.progress.get_mut(&from) else {
            return Ok(());
        };
        pr.recent_active = true;
        match result {
            SnapshotResult::Progress { offset: acked } => {
                let Some(tr) = pr.snapshot.as_mut().filter(|t| t.index == index) else {
                    return Ok(()); // about another (older) transfer
                };
                let newer = self.snapshot.clone().filter(|s| s.index > tr.index);
                if acked == 0
                    && let Some(newer) = newer
                {
                    // The follower starts over (it restarted, or refused the
                    // image): it may as well get the newest snapshot.
                    pr.become_snapshot(newer);
                    self.request_chunk(from);
                } else if acked != tr.offset || !tr.outstanding {
                    tr.offset = acked;
                    self.request_chunk(from);
                }
            }
            SnapshotResult::Done { match_index } => {
                if match_index > last {
                    return Err(StepError::Malformed {
                        from,
                        reason: "acknowledged an index beyond the leader's log",
                    });
                }
                pr.maybe_update(match_index);
                let this_transfer = pr.snapshot.as_ref().is_some_and(|t| t.index == index);
                if pr.state == ProgressState::Snapshot
                    && (pr.match_index >= offset || this_transfer)
                {
                    // Done with this transfer. If the log was compacted past
                    // it meanwhile, `send_append` below starts the next one.
                    debug!(
                        id = self.id,
                        to = from,
                        match_index = pr.match_index,
                        "snapshot transfer done"
                    );
                    pr.become_probe();
                }
                if self.maybe_commit() {
                    self.broadcast_append();
                    self.after_leader_commit();
                } else {
                    self.send_append(from);
                }
            }
        }
        Ok(())
    }
}
