//! The driver's event loop: the one task that owns the Raft node (see the
//! module docs of [`super`] for the order of a ready batch, the hand-off to
//! the persistence and apply threads, reads and snapshots).

use super::*;

/// Where a read index goes.
pub(super) type ReadWaiter = oneshot::Sender<Result<Index, DriverError>>;

pub(super) struct Driver<S: StateMachine, K> {
    pub(super) raft: Raft<S::Command>,
    pub(super) sink: K,
    pub(super) persist: Option<Worker<PersistJob<S::Command>>>,
    pub(super) apply: Option<Worker<ApplyJob<S::Command, S::Output>>>,
    pub(super) sm: Arc<S>,
    pub(super) requests: mpsc::Receiver<Request<S::Command, S::Output>>,
    pub(super) inbound: mpsc::Receiver<Vec<Message<S::Command>>>,
    pub(super) status: watch::Sender<DriverStatus>,
    /// Proposals drained this iteration, proposed together.
    pub(super) pending_commands: Vec<S::Command>,
    pub(super) pending_replies: Vec<oneshot::Sender<ProposeResult<S::Output>>>,
    /// Proposals placed but not yet handed to the apply thread (see
    /// [`Self::register_waiters`]).
    pub(super) unregistered: Vec<Waiter<S::Output>>,
    /// Reads drained this iteration, sharing one read index.
    pub(super) waiting_reads: Vec<ReadWaiter>,
    /// Read batches waiting for their confirmation round, by context.
    pub(super) reads: HashMap<u64, (Instant, Vec<ReadWaiter>)>,
    pub(super) next_read_ctx: u64,
    pub(super) matched: BTreeMap<NodeId, Index>,
    pub(super) inflight: Arc<AtomicUsize>,
    /// Snapshot images (None: this node takes no snapshots).
    pub(super) images: Option<Images>,
    pub(super) events: mpsc::UnboundedReceiver<Event>,
    pub(super) events_tx: mpsc::UnboundedSender<Event>,
    /// When the apply thread was last asked for a snapshot the core wants.
    pub(super) snapshot_asked: Option<Instant>,
    /// Asynchronous log writes queued on the persistence thread, oldest first.
    pub(super) writes: VecDeque<QueuedWrite<S::Command>>,
    pub(super) next_write_seq: u64,
    pub(super) written: mpsc::UnboundedReceiver<WriteDone>,
    /// Committed entries not yet durable in this node's own log: they are
    /// applied once they are (the engine must never get ahead of the log).
    pub(super) unapplied: Vec<Entry<S::Command>>,
    pub(super) config: DriverConfig,
}

/// A ready batch whose write is queued: what to do once it is durable.
pub(super) struct QueuedWrite<C> {
    seq: u64,
    /// The batch's last entry, reported to the core ([`Raft::persisted`]).
    last: Option<(Index, raftlog::Term)>,
    /// Messages promising this write (and every earlier one) durable.
    messages: Vec<Message<C>>,
}

/// Most asynchronous writes queued at once; the driver waits for the
/// oldest beyond this (the disk is the bottleneck then, not the loop).
const MAX_QUEUED_WRITES: usize = 256;

/// A node that does not lead hands committed entries to the apply thread
/// once this many are durable, or at the next tick, rather than after every
/// log write. Nobody waits for its applies (clients' requests go to the
/// leader; a node that becomes leader applies everything at once), and a
/// follower's apply thread woken for every few entries cost a quarter of its
/// CPU (docs/benchmarks.md). Membership entries are applied at once: they
/// carry peer addresses.
const FOLLOWER_APPLY_CHUNK: usize = 256;

/// Most requests (or message batches) drained per iteration, so ticks and
/// peers are never starved by a flood of one kind.
const MAX_DRAIN: usize = 8192;

impl<S: StateMachine, K: MessageSink<S::Command>> Driver<S, K> {
    pub(super) async fn run(
        mut self,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), FatalError> {
        let mut ticker = tokio::time::interval(self.config.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        let result = loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break Ok(()),
                Some(done) = self.written.recv() => {
                    if let Err(e) = self.on_written(done) {
                        break Err(e);
                    }
                }
                _ = ticker.tick() => {
                    if let Err(e) = self.release_durable_now() {
                        break Err(e);
                    }
                    self.send_waiters();
                    self.raft.tick();
                    ticks += 1;
                    if ticks.is_multiple_of(64) {
                        self.expire_reads();
                    }
                }
                Some(msgs) = self.inbound.recv() => self.step_all(msgs),
                Some(req) = self.requests.recv() => self.take(req),
                Some(event) = self.events.recv() => {
                    if let Err(e) = self.on_event(event).await {
                        break Err(e);
                    }
                }
            }
            if let Err(e) = self.drain_written() {
                break Err(e);
            }
            for _ in 0..MAX_DRAIN {
                match self.inbound.try_recv() {
                    Ok(msgs) => self.step_all(msgs),
                    Err(_) => break,
                }
            }
            for _ in 0..MAX_DRAIN {
                match self.requests.try_recv() {
                    Ok(req) => self.take(req),
                    Err(_) => break,
                }
            }
            self.propose_pending();
            self.read_pending();
            if let Err(e) = self.process_ready().await {
                break Err(e);
            }
            self.pin_transfer_images();
            self.publish(false);
        };
        self.stop(result).await
    }

    fn step_all(&mut self, msgs: Vec<Message<S::Command>>) {
        for m in msgs {
            if self.raft.status().role == Role::Leader
                && let MessageBody::AppendResponse {
                    result: AppendResult::Success { match_index },
                } = &m.body
                && m.term == self.raft.status().term
                && *match_index <= self.raft.status().last_index
            {
                let e = self.matched.entry(m.from).or_default();
                *e = (*e).max(*match_index);
            }
            let from = m.from;
            if let Err(e) = self.raft.step(m) {
                debug!(node = self.raft.id(), from, error = %e, "dropped a peer message");
            }
        }
    }

    fn take(&mut self, req: Request<S::Command, S::Output>) {
        match req {
            Request::Propose { command, reply } => {
                self.pending_commands.push(command);
                self.pending_replies.push(reply);
            }
            Request::ReadIndex { reply } => self.waiting_reads.push(reply),
            Request::Transfer { target, reply } => {
                let r = self.raft.transfer_leadership(target).map_err(propose_error);
                let _ = reply.send(r);
            }
            Request::ConfChange { change, reply } => {
                // Earlier writes of this iteration go first, in their order.
                self.propose_pending();
                info!(node = self.raft.id(), change = ?change.kind, member = change.node, "proposing a membership change");
                match self.raft.propose_conf_change(change) {
                    Ok(p) => self.register_waiters(vec![Waiter {
                        index: p.index,
                        term: p.term,
                        reply,
                    }]),
                    Err(e) => {
                        let _ = reply.send(Err(propose_error(e)));
                    }
                }
            }
        }
    }

    /// Keeps the replies of proposals just placed, to answer once their
    /// entries apply; counts them as in flight meanwhile. They go to the
    /// apply thread with the next committed entries it is sent (or alone, at
    /// the next tick or before any other job), so that a leader's apply
    /// thread wakes once per batch: their own entries can only be committed
    /// after them, so they are always registered before they apply.
    fn register_waiters(&mut self, waiters: Vec<Waiter<S::Output>>) {
        self.inflight.fetch_add(waiters.len(), Ordering::Relaxed);
        self.unregistered.extend(waiters);
    }

    /// Sends the waiters kept by [`Self::register_waiters`] on their own,
    /// ahead of a job that carries none (a snapshot, a tick with no entries,
    /// shutdown), so the apply thread can answer or sweep them.
    fn send_waiters(&mut self) {
        if self.unregistered.is_empty() {
            return;
        }
        let waiters = std::mem::take(&mut self.unregistered);
        let n = waiters.len();
        let sent = self
            .apply
            .as_ref()
            .is_some_and(|a| a.send(ApplyJob::Register(waiters)));
        if !sent {
            self.inflight.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// Group commit: every proposal drained this iteration in one batch.
    fn propose_pending(&mut self) {
        if self.pending_commands.is_empty() {
            return;
        }
        let commands = std::mem::take(&mut self.pending_commands);
        let mut replies = std::mem::take(&mut self.pending_replies);
        let room = self
            .config
            .max_pending_writes
            .saturating_sub(self.inflight.load(Ordering::Relaxed));
        if replies.len() > room {
            self.config
                .metrics
                .proposals_dropped
                .inc_by((replies.len() - room) as u64);
            for r in replies.drain(room..) {
                let _ = r.send(Err(DriverError::TryAgain(
                    "too many writes pending; retry".into(),
                )));
            }
        }
        let commands: Vec<_> = commands.into_iter().take(replies.len()).collect();
        if commands.is_empty() {
            return;
        }
        match self.raft.propose_batch(commands) {
            Ok(placed) => {
                let waiters = placed
                    .into_iter()
                    .zip(replies)
                    .map(|(p, reply)| Waiter {
                        index: p.index,
                        term: p.term,
                        reply,
                    })
                    .collect();
                self.register_waiters(waiters);
            }
            Err(e) => {
                let e = propose_error(e);
                self.config
                    .metrics
                    .proposals_dropped
                    .inc_by(replies.len() as u64);
                for r in replies {
                    let _ = r.send(Err(e.clone()));
                }
            }
        }
    }

    /// ReadIndex batching: one read index for every read drained now.
    fn read_pending(&mut self) {
        if self.waiting_reads.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.waiting_reads);
        let ctx = self.next_read_ctx;
        self.next_read_ctx += 1;
        match self.raft.read_index(ctx) {
            Ok(()) => {
                self.config.metrics.read_index_rounds.inc();
                self.reads.insert(ctx, (Instant::now(), batch));
            }
            Err(e) => {
                let e = propose_error(e);
                for r in batch {
                    let _ = r.send(Err(e.clone()));
                }
            }
        }
    }

    /// Drops read batches whose round never completed (their waiters gave up).
    fn expire_reads(&mut self) {
        let limit = self.config.read_timeout;
        self.reads.retain(|_, (since, batch)| {
            batch.retain(|r| !r.is_closed());
            since.elapsed() < limit && !batch.is_empty()
        });
    }

    async fn process_ready(&mut self) -> Result<(), FatalError> {
        while self.raft.has_ready() {
            if self.writes.len() >= MAX_QUEUED_WRITES {
                self.wait_for_write().await?;
            }
            let mut ready = self.raft.ready();
            if let Some(ss) = ready.soft_state {
                self.config.metrics.leader_changes.inc();
                let st = self.raft.status();
                info!(
                    node = st.id,
                    term = st.term,
                    role = %ss.role,
                    leader = ?ss.leader,
                    "leader changed"
                );
                if ss.role == Role::Leader {
                    self.matched.clear();
                }
            }
            // 1. Messages that may precede the disk write.
            for m in ready.messages.drain(..) {
                self.sink.send(m);
            }
            if ready.snapshot.is_some() || !ready.received_chunks.is_empty() {
                // A snapshot transfer: the plain, synchronous way, after
                // every queued write (raftlog docs, "Asynchronous log writes").
                while !self.writes.is_empty() {
                    self.wait_for_write().await?;
                }
                self.process_ready_in_step(ready).await?;
                continue;
            }
            // 2. Queue the write; the loop goes on meanwhile, so that a
            // follower's acknowledgement arriving during this fsync is
            // stepped at once (a leader commits on a quorum of others) and
            // new proposals join the next write.
            self.unapplied.append(&mut ready.committed_entries);
            if ready.hard_state.is_some() || !ready.entries.is_empty() {
                let seq = self.next_write_seq;
                self.next_write_seq += 1;
                let last = ready.entries.last().map(|e| (e.index, e.term));
                let job = PersistJob::Write {
                    seq,
                    hard_state: ready.hard_state,
                    entries: std::mem::take(&mut ready.entries),
                };
                if !self.persist.as_ref().is_some_and(|p| p.send(job)) {
                    return Err(FatalError::Thread("persist"));
                }
                self.writes.push_back(QueuedWrite {
                    seq,
                    last,
                    messages: std::mem::take(&mut ready.persisted_messages),
                });
            } else if let Some(back) = self.writes.back_mut() {
                // 3. These promise what the queued writes hold.
                back.messages.append(&mut ready.persisted_messages);
            } else {
                for m in ready.persisted_messages.drain(..) {
                    self.sink.send(m);
                }
            }
            // 4. Apply what is committed and durable here; serve reads.
            self.release_durable()?;
            self.finish_ready(&mut ready);
        }
        Ok(())
    }

    /// Reads confirmed or dropped, chunks to read, a snapshot wanted: the
    /// parts of a ready batch that do not wait for the disk.
    fn finish_ready(&mut self, ready: &mut Ready<S::Command>) {
        for rs in &ready.read_states {
            if let Some((_, batch)) = self.reads.remove(&rs.context) {
                for r in batch {
                    let _ = r.send(Ok(rs.index));
                }
            }
        }
        for ctx in &ready.dropped_reads {
            if let Some((_, batch)) = self.reads.remove(ctx) {
                for r in batch {
                    let _ = r.send(Err(DriverError::TryAgain(
                        "leadership lost before the read was confirmed".into(),
                    )));
                }
            }
        }
        // Chunks a follower needs are read off the driver task.
        for request in ready.snapshot_requests.drain(..) {
            self.read_chunk(request);
        }
        // A joining node needs a snapshot and there is none yet.
        if ready.snapshot_wanted {
            self.ask_for_snapshot();
        }
    }

    /// One completion report of the persistence thread: every queued write
    /// up to its sequence number is durable. Sends what they promised,
    /// tells the core, applies what became durable.
    fn on_written(&mut self, (upto, result): WriteDone) -> Result<(), FatalError> {
        if let Err(e) = result {
            error!(node = self.raft.id(), error = %e, "raft log write failed; the node stops");
            fatal_exit();
        }
        while self.writes.front().is_some_and(|w| w.seq <= upto) {
            let Some(w) = self.writes.pop_front() else {
                break;
            };
            for m in w.messages {
                self.sink.send(m);
            }
            if let Some((index, term)) = w.last {
                self.raft.persisted(index, term);
            }
        }
        self.release_durable()
    }

    fn drain_written(&mut self) -> Result<(), FatalError> {
        while let Ok(done) = self.written.try_recv() {
            self.on_written(done)?;
        }
        Ok(())
    }

    /// Waits for the next completion report of the persistence thread.
    async fn wait_for_write(&mut self) -> Result<(), FatalError> {
        match self.written.recv().await {
            Some(done) => self.on_written(done),
            None => Err(FatalError::Thread("persist")),
        }
    }

    /// Hands the apply thread the committed entries that are durable in
    /// this node's log; a node that does not lead may hold them back for a
    /// bigger batch (see [`FOLLOWER_APPLY_CHUNK`]).
    fn release_durable(&mut self) -> Result<(), FatalError> {
        self.release(false)
    }

    /// Hands the apply thread every committed entry that is durable here,
    /// whatever the role.
    fn release_durable_now(&mut self) -> Result<(), FatalError> {
        self.release(true)
    }

    fn release(&mut self, now: bool) -> Result<(), FatalError> {
        let st = self.raft.status();
        let durable = self.unapplied.partition_point(|e| e.index <= st.stable);
        if durable == 0 {
            return Ok(());
        }
        let hold = !now
            && st.role != Role::Leader
            && durable < FOLLOWER_APPLY_CHUNK
            && !self.unapplied[..durable]
                .iter()
                .any(|e| matches!(e.payload, raftlog::EntryPayload::ConfChange(_)));
        if hold {
            return Ok(());
        }
        let rest = self.unapplied.split_off(durable);
        let entries = std::mem::replace(&mut self.unapplied, rest);
        if self.apply.as_ref().is_some_and(|a| {
            a.send(ApplyJob::Entries {
                waiters: std::mem::take(&mut self.unregistered),
                entries,
            })
        }) {
            Ok(())
        } else {
            Err(FatalError::Thread("apply"))
        }
    }

    /// A ready batch of a snapshot transfer, handled in order with the disk
    /// write awaited (nothing else is queued): persist, send what promises
    /// durability, [`Raft::advance`], install, apply.
    async fn process_ready_in_step(
        &mut self,
        mut ready: Ready<S::Command>,
    ) -> Result<(), FatalError> {
        // 2. Stage snapshot chunks; persist hard state, snapshot record
        // and entries: one batch, one fsync.
        let mut installed = None;
        if ready.hard_state.is_some()
            || !ready.entries.is_empty()
            || !ready.received_chunks.is_empty()
            || ready.snapshot.is_some()
        {
            let (tx, rx) = oneshot::channel();
            let job = PersistJob::Ready {
                hard_state: ready.hard_state,
                entries: std::mem::take(&mut ready.entries),
                chunks: std::mem::take(&mut ready.received_chunks),
                snapshot: ready.snapshot.clone(),
                done: tx,
            };
            let persisted = self.persist_job(job, rx).await?;
            installed = persisted.installed;
            if let Some(r) = persisted.refused {
                // Before `advance`: the core must not install it.
                let from = self.raft.reject_snapshot(r.index);
                error!(node = self.raft.id(), from = ?from, index = r.index, reason = %r.reason, "refused a snapshot from the leader; staging discarded, the transfer starts over");
            }
        }
        // 3. Messages that promise durability.
        for m in ready.persisted_messages.drain(..) {
            self.sink.send(m);
        }
        // Every handed entry is durable now: nothing else was queued.
        self.raft.advance();
        // 4. Committed entries held back because their write's report did
        // not match the log (a new leader had truncated after them) are
        // durable now and go first, in order; then a received snapshot
        // replaces the state; then the entries after it.
        self.release_durable_now()?;
        if let (Some(meta), Some(dir)) = (ready.snapshot.take(), installed) {
            info!(
                node = self.raft.id(),
                index = meta.index,
                term = meta.term,
                "snapshot received from the leader; installing"
            );
            // Waiters the image may cover must be known before it replaces
            // the state, to learn that their outcome is unknown.
            self.send_waiters();
            let sent = self
                .apply
                .as_ref()
                .is_some_and(|a| a.send(ApplyJob::Install { meta, dir }));
            if !sent {
                return Err(FatalError::Thread("apply"));
            }
        }
        self.unapplied.append(&mut ready.committed_entries);
        self.release_durable_now()?;
        self.finish_ready(&mut ready);
        Ok(())
    }

    /// Asks the apply thread for a snapshot of what it applied: once until
    /// one is taken, or again after 30 s (the core asks on every answer of a
    /// node waiting, and a large snapshot takes a while).
    fn ask_for_snapshot(&mut self) {
        if self.images.is_none()
            || self
                .snapshot_asked
                .is_some_and(|t| t.elapsed() < Duration::from_secs(30))
        {
            return;
        }
        self.snapshot_asked = Some(Instant::now());
        info!(
            node = self.raft.id(),
            "a joining node needs a snapshot; taking one now"
        );
        self.send_waiters();
        if let Some(a) = &self.apply {
            a.send(ApplyJob::SnapshotNow);
        }
    }

    /// Sends a job to the persistence thread and waits for it; a storage
    /// failure stops the process (the log's state is then unknown).
    async fn persist_job(
        &mut self,
        job: PersistJob<S::Command>,
        done: oneshot::Receiver<Result<Persisted, FatalError>>,
    ) -> Result<Persisted, FatalError> {
        let sent = self.persist.as_ref().is_some_and(|p| p.send(job));
        if !sent {
            return Err(FatalError::Thread("persist"));
        }
        match done.await {
            Ok(Ok(installed)) => Ok(installed),
            Ok(Err(e)) => {
                error!(node = self.raft.id(), error = %e, "raft log or snapshot write failed; the node stops");
                fatal_exit();
            }
            Err(_) => Err(FatalError::Thread("persist")),
        }
    }

    /// Pins the images that snapshot transfers read, so that a newer
    /// snapshot does not remove one mid-transfer; prunes an image once its
    /// last transfer ended (or this node stopped leading).
    fn pin_transfer_images(&self) {
        let Some(images) = &self.images else {
            return;
        };
        let in_use = self
            .raft
            .snapshot_transfers()
            .iter()
            .map(|(_, m)| m.index)
            .collect();
        if images.pin(in_use) {
            let (images, keep) = (images.clone(), self.raft.snapshot().cloned());
            tokio::task::spawn_blocking(move || {
                if let Err(e) = images.prune(keep.as_ref()) {
                    warn!(error = %e, "removing a snapshot image no transfer reads failed");
                }
            });
        }
    }

    /// Reads the chunk `request` asks for on a blocking thread; the answer
    /// comes back as an [`Event::ChunkRead`].
    fn read_chunk(&self, request: raftlog::SnapshotRequest) {
        let Some(images) = &self.images else {
            return;
        };
        // The image this transfer started with (it may be older than the
        // latest snapshot; `pin_transfer_images` keeps it).
        let transfers = self.raft.snapshot_transfers();
        let Some((_, meta)) = transfers
            .iter()
            .find(|(to, m)| *to == request.to && m.index == request.index)
        else {
            return;
        };
        let dir = images.image(meta.index, meta.term);
        let events = self.events_tx.clone();
        tokio::task::spawn_blocking(move || {
            let read = ImageReader::open(&dir)
                .and_then(|r| r.read(request.offset, request.max_len))
                .map_err(|e| e.to_string());
            let _ = events.send(Event::ChunkRead { request, read });
        });
    }

    async fn on_event(&mut self, event: Event) -> Result<(), FatalError> {
        match event {
            Event::ChunkRead { request, read } => match read {
                Ok((data, last)) => {
                    self.raft.send_snapshot_chunk(&request, data, last);
                }
                Err(e) => {
                    // The core asks again after half an election timeout.
                    warn!(node = self.raft.id(), to = request.to, error = %e, "reading a snapshot chunk failed");
                }
            },
            Event::SnapshotTaken { index, term } => {
                self.snapshot_asked = None;
                let current = self.raft.snapshot().map_or(0, |s| s.index);
                if index <= current {
                    // A newer snapshot was installed meanwhile.
                    if let Some(images) = &self.images {
                        let _ = std::fs::remove_dir_all(images.image(index, term));
                    }
                    return Ok(());
                }
                let status = self.raft.status();
                // The configuration at `index` (membership changes included).
                let Some(meta) = self.raft.snapshot_meta_at(index, term) else {
                    warn!(
                        node = self.raft.id(),
                        index, "snapshot index no longer in the log"
                    );
                    if let Some(images) = &self.images {
                        let _ = std::fs::remove_dir_all(images.image(index, term));
                    }
                    return Ok(());
                };
                let purge_to = index.saturating_sub(self.config.raft.trailing_log_entries);
                let (tx, rx) = oneshot::channel();
                let job = PersistJob::Snapshot {
                    meta: meta.clone(),
                    purge_to,
                    done: tx,
                };
                self.persist_job(job, rx).await?;
                if let Err(e) = self.raft.compact(meta) {
                    warn!(node = self.raft.id(), index, error = %e, "the core refused a snapshot");
                } else {
                    info!(
                        node = self.raft.id(),
                        index,
                        term,
                        log_first_index = status.first_index,
                        purged_to = purge_to,
                        "snapshot recorded; log compacted"
                    );
                }
            }
        }
        Ok(())
    }

    fn publish(&self, stopped: bool) {
        let raft = self.raft.status();
        let leader = raft.role == Role::Leader;
        let conf = self.raft.conf_state();
        let committed_conf = self
            .raft
            .conf_state_at(raft.commit)
            .unwrap_or_else(|| conf.clone());
        let progress = self.raft.progress();
        self.status.send_if_modified(|s| {
            let changed = s.raft != raft
                || s.stopped != stopped
                || s.conf != conf
                || s.committed_conf != committed_conf
                || s.progress != progress
                || (leader && s.matched != self.matched);
            if changed {
                s.raft = raft;
                s.stopped = stopped;
                s.matched = if leader {
                    self.matched.clone()
                } else {
                    BTreeMap::new()
                };
                s.conf = conf;
                s.committed_conf = committed_conf;
                s.progress = progress;
            }
            changed
        });
    }

    async fn stop(mut self, result: Result<(), FatalError>) -> Result<(), FatalError> {
        // Requests still queued were certainly not proposed, and are not
        // now: a membership change taken here would propose the writes
        // drained before it, which no longer reach the log.
        self.requests.close();
        while let Ok(req) = self.requests.try_recv() {
            refuse_at_stop(req);
        }
        for r in self.pending_replies.drain(..) {
            let _ = r.send(Err(DriverError::TryAgain("the node is stopping".into())));
        }
        for r in self.waiting_reads.drain(..) {
            let _ = r.send(Err(DriverError::Stopped));
        }
        self.reads.clear();
        // Finish the queued writes and close the log; then apply what they
        // made durable, so that clients waiting for it get their answer.
        if let Some(p) = self.persist.take() {
            p.finish().await;
        }
        if let Err(e) = self
            .drain_written()
            .and_then(|()| self.release_durable_now())
        {
            warn!(node = self.raft.id(), error = %e, "applying the last durable entries at shutdown failed");
        }
        // Whoever still waits is answered by the apply thread as it ends.
        self.send_waiters();
        if let Some(a) = self.apply.take() {
            a.finish().await;
        }
        let sm = self.sm.clone();
        let synced = tokio::task::spawn_blocking(move || sm.sync())
            .await
            .map_err(|_| FatalError::Thread("sync"))?;
        if let Err(e) = synced {
            warn!(error = %e, "state machine sync at shutdown failed");
        }
        self.publish(true);
        info!(node = self.raft.id(), "raft driver stopped");
        result
    }
}

/// Answers a request found queued when the driver stops.
fn refuse_at_stop<C, O>(req: Request<C, O>) {
    match req {
        Request::Propose { reply, .. } | Request::ConfChange { reply, .. } => {
            let _ = reply.send(Err(DriverError::TryAgain("the node is stopping".into())));
        }
        Request::ReadIndex { reply } => {
            let _ = reply.send(Err(DriverError::Stopped));
        }
        Request::Transfer { reply, .. } => {
            let _ = reply.send(Err(DriverError::Stopped));
        }
    }
}

fn propose_error(e: ProposeError) -> DriverError {
    match e {
        ProposeError::NotLeader { leader_hint } => DriverError::NotLeader(leader_hint),
        ProposeError::TransferInProgress(t) => {
            DriverError::TryAgain(format!("leadership transfer to node {t} in progress"))
        }
        ProposeError::UnknownNode(n) => DriverError::TryAgain(format!("node {n} is not a voter")),
        ProposeError::InvalidConfChange(raftlog::ConfChangeError::NotCaughtUp {
            node,
            match_index,
            last_index,
        }) if match_index + 1 >= last_index => DriverError::TryAgain(format!(
            "node {node} has not answered the leader recently (it holds the log up to {match_index} of {last_index}); retry once it does"
        )),
        ProposeError::InvalidConfChange(raftlog::ConfChangeError::NotCaughtUp {
            node,
            match_index,
            last_index,
        }) => DriverError::TryAgain(format!(
            "node {node} has not caught up yet (it holds the log up to {match_index} of {last_index}); retry once it has"
        )),
        e @ ProposeError::InvalidConfChange(_) => DriverError::Invalid(e.to_string()),
        e @ (ProposeError::ConfChangePending(_) | ProposeError::LeaderNotReady) => {
            DriverError::TryAgain(e.to_string())
        }
    }
}
