//! A cluster of simulated nodes: each node is a `Raft` driven through the
//! `Ready` contract exactly as a real server would drive it, persisting into
//! a `MemLogStore` that survives crashes while everything else is lost.
//!
//! Two drivers: the plain synchronous one (each batch persisted, then
//! `advance`), and, with [`Cluster::async_writes`] set, the asynchronous
//! one of the crate docs ("Asynchronous log writes"): each batch's write is
//! queued and completes at a random later step (several queued writes may
//! merge into one store write), its `persisted_messages` leave only then,
//! the completion is reported with `Raft::persisted`, and committed entries
//! are applied only once they are within `Status::stable`.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use bitcask::vfs::{MemVfs, Vfs};
use raftlog::storage::{SegmentLogOptions, SegmentLogStore, persist_ready, restore};
use raftlog::{
    ConfChange, Config, Entry, EntryPayload, HardState, Index, LogStore, MemLogStore, Message,
    NodeId, ProposeError, Proposed, Raft, ReadState, Ready, Role, SnapshotMeta, Term,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::invariants::Invariants;
use super::kv::{Cmd, Kv};
use super::network::{Faults, Network};

/// Something observable a node did, for clients and scenario output.
#[derive(Clone, Debug)]
pub enum Event {
    /// `node` applied `entry`.
    Applied {
        node: NodeId,
        index: Index,
        term: Term,
        cmd: Option<Cmd>,
    },
    /// `node` served the read `context` with `value`.
    ReadServed {
        node: NodeId,
        context: u64,
        key: u8,
        value: Option<u64>,
    },
    /// `node` will never serve the read `context`.
    ReadDropped { node: NodeId, context: u64 },
    /// `node` installed a snapshot from a leader: everything up to `index`
    /// (whose term is `term`) is committed, without Applied events here.
    SnapshotInstalled {
        node: NodeId,
        index: Index,
        term: Term,
    },
}

/// Snapshot activity, for the figures.
#[derive(Clone, Copy, Debug, Default)]
pub struct SnapshotStats {
    /// Snapshots taken by nodes of their own state.
    pub taken: u64,
    /// Snapshots installed from a leader.
    pub installed: u64,
    /// Chunks sent by leaders.
    pub chunks: u64,
    /// Restarts that rebuilt the state machine from a snapshot image.
    pub restored: u64,
    /// Crashes of a follower holding a partly received snapshot.
    pub crashed_mid_transfer: u64,
    /// Crashes of the leader of such a follower.
    pub leader_crashed_mid_transfer: u64,
    /// Ticks during which a follower held a partly received snapshot while
    /// some of its links were cut.
    pub partitioned_mid_transfer: u64,
}

pub struct SimNode {
    pub id: NodeId,
    /// `None` while crashed.
    pub raft: Option<Raft<Cmd>>,
    /// Survives crashes: the "disk".
    pub store: Box<dyn LogStore<Cmd>>,
    /// For nodes on the segment store: the simulated file system under it.
    pub vfs: Option<MemVfs>,
    /// Volatile state machine, rebuilt from the log after a restart.
    pub kv: Kv,
    pub applied: Index,
    /// Confirmed reads waiting for the state machine to catch up: (state, key).
    pub reads: Vec<(ReadState, u8)>,
    /// Keys of reads asked but not yet confirmed, by context.
    pub read_keys: BTreeMap<u64, u8>,
    /// When set, this node does not process its ready batches (scenarios:
    /// "the disk is slow"); a crash then loses them.
    pub hold: bool,
    /// Survives crashes: the application's durable snapshot images, by
    /// index (the one the log store references, and possibly a newer one).
    pub images: BTreeMap<Index, (SnapshotMeta, Vec<u8>)>,
    /// Volatile: the snapshot being received (meta, bytes so far).
    pub staging: Option<(SnapshotMeta, Vec<u8>)>,
    /// Started as a joining node (empty bootstrap configuration); it
    /// restarts that way too.
    pub joined: bool,
    /// The leader asked for a snapshot (`Ready::snapshot_wanted`).
    pub wants_snapshot: bool,
    /// Asynchronous writes: the batches' writes not completed yet, oldest
    /// first (volatile: a crash loses them).
    pub queue: VecDeque<QueuedWrite>,
    /// Committed entries handed out but not applied yet: asynchronous
    /// writes apply an entry only once it is within `Status::stable`.
    pub held: VecDeque<Entry<Cmd>>,
    /// Asynchronous writes: the (index, term) reports made to `persisted`
    /// in this incarnation, to repeat some later as stale reports.
    pub reports: Vec<(Index, Term)>,
    /// Asynchronous writes: no write completes before this tick.
    pub stalled_until: u64,
}

/// One ready batch's write, queued (asynchronous writes).
#[derive(Clone, Debug)]
pub struct QueuedWrite {
    pub hard_state: Option<HardState>,
    pub entries: Vec<Entry<Cmd>>,
    /// Sent once this write and every earlier one completed.
    pub persisted_messages: Vec<Message<Cmd>>,
}

/// The asynchronous driver's knobs (chosen per seed).
#[derive(Clone, Copy, Debug)]
pub struct AsyncWrites {
    /// Probability, each time a node handles an input, that its oldest
    /// queued writes complete (as one store write).
    pub complete: f64,
    /// The same, once per tick (keeps a write's latency at a few ticks,
    /// below the election timeout, as a disk's is in a real deployment).
    pub complete_on_tick: f64,
    /// Probability that a completing store write takes every queued write
    /// (merged: a later batch's entries replace the earlier ones from its
    /// first index on); otherwise it takes a random number of the oldest.
    pub merge: f64,
    /// Probability that a merged write reports the last entry of each of
    /// its batches in turn (some of them replaced, so stale) rather than
    /// only the last entry written.
    pub report_each: f64,
    /// Probability, per completed write, of repeating an earlier report
    /// (it must not move `stable`).
    pub stale_report: f64,
    /// Probability, per node and tick of chaos, that its disk stalls: no
    /// write completes for up to `max_stall` ticks while the node goes on
    /// stepping (a leader then commits on its followers alone, a follower's
    /// queued entries may be replaced by a new leader's before they land).
    pub stall: f64,
    pub max_stall: u64,
}

/// What the asynchronous driver did, for the figures.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStats {
    /// Store writes that completed queued writes.
    pub store_writes: u64,
    /// Queued batches they covered (more than `store_writes` when merged).
    pub batches: u64,
    /// Store writes that merged a later batch's entries over an earlier one's.
    pub overwritten_in_merge: u64,
    /// Reports to `persisted` ignored (stable did not move to the index).
    pub reports_ignored: u64,
    /// Stale reports repeated on purpose.
    pub stale_reports: u64,
    /// Queued writes whose completion a crash prevented or interrupted.
    pub lost_in_crash: u64,
    /// Times a leader's commit index was ahead of its own durable index.
    pub leader_commit_ahead: u64,
    /// Deepest queue seen.
    pub max_queue: usize,
    /// Disk stalls injected.
    pub stalls: u64,
    /// Batches whose entries replace entries of a write still queued
    /// (a new leader overwrote them before they landed).
    pub replaced_while_queued: u64,
}

/// Crash injection while a node persists a ready batch.
#[derive(Clone, Copy, Debug)]
pub struct CrashFaults {
    /// Probability, per ready batch, of crashing somewhere during its handling.
    pub during_persist: f64,
    /// Probability, per ready batch on a segment-store node, of an injected
    /// I/O failure in one of the next few file operations. A failed persist
    /// is fatal for the node: it stops (crashes) and is restarted later.
    pub io_fault: f64,
}

pub struct Cluster {
    pub ids: Vec<NodeId>,
    pub nodes: BTreeMap<NodeId, SimNode>,
    pub net: Network,
    pub rng: StdRng,
    pub faults: Faults,
    pub crash_faults: CrashFaults,
    pub invariants: Invariants,
    pub config: Config,
    /// Ticks elapsed.
    pub now: u64,
    pub events: Vec<Event>,
    /// Every message handed to the network, for scenario output.
    pub sent_log: Vec<Message<Cmd>>,
    pub record_sent: bool,
    /// Print every delivered message (SIMULATION_TRACE).
    pub trace: bool,
    pub snapshot_stats: SnapshotStats,
    /// Drive the nodes with asynchronous log writes (`None`: synchronous).
    pub async_writes: Option<AsyncWrites>,
    pub async_stats: AsyncStats,
}

pub type SimResult<T = ()> = Result<T, String>;

impl Cluster {
    pub fn new(n: u64, seed: u64, config: impl Fn(NodeId, Vec<NodeId>) -> Config) -> Self {
        let ids: Vec<NodeId> = (1..=n).collect();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut nodes = BTreeMap::new();
        for &id in &ids {
            let cfg = config(id, ids.clone());
            let raft = Raft::new(cfg, rng.random(), Default::default()).expect("valid config");
            nodes.insert(
                id,
                SimNode {
                    id,
                    raft: Some(raft),
                    store: Box::new(MemLogStore::new()),
                    vfs: None,
                    kv: Kv::default(),
                    applied: 0,
                    reads: Vec::new(),
                    read_keys: BTreeMap::new(),
                    hold: false,
                    images: BTreeMap::new(),
                    staging: None,
                    joined: false,
                    wants_snapshot: false,
                    queue: VecDeque::new(),
                    held: VecDeque::new(),
                    reports: Vec::new(),
                    stalled_until: 0,
                },
            );
        }
        Cluster {
            config: config(1, ids.clone()),
            ids,
            nodes,
            net: Network::default(),
            rng,
            faults: Faults::NONE,
            crash_faults: CrashFaults {
                during_persist: 0.0,
                io_fault: 0.0,
            },
            invariants: Invariants::default(),
            now: 0,
            events: Vec::new(),
            sent_log: Vec::new(),
            record_sent: false,
            trace: false,
            snapshot_stats: SnapshotStats::default(),
            async_writes: None,
            async_stats: AsyncStats::default(),
        }
    }

    /// Puts every node on a `SegmentLogStore` over its own simulated file
    /// system (small segments, so rotation and cross-segment truncation
    /// happen). Call before anything is persisted.
    pub fn use_segment_stores(&mut self) -> SimResult {
        for n in self.nodes.values_mut() {
            let vfs = MemVfs::new();
            n.store = Box::new(open_segment_store(&vfs)?);
            n.vfs = Some(vfs);
        }
        Ok(())
    }

    pub fn raft(&self, id: NodeId) -> Option<&Raft<Cmd>> {
        self.nodes.get(&id).and_then(|n| n.raft.as_ref())
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.raft(id).is_some()
    }

    /// The leader with the highest term among live nodes, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.nodes
            .values()
            .filter_map(|n| n.raft.as_ref())
            .filter(|r| r.status().role == Role::Leader)
            .max_by_key(|r| r.status().term)
            .map(|r| r.id())
    }

    /// Runs the invariant checks over all live nodes.
    pub fn check(&mut self) -> SimResult {
        let rafts: Vec<&Raft<Cmd>> = self
            .nodes
            .values()
            .filter_map(|n| n.raft.as_ref())
            .collect();
        self.invariants.check(&rafts)?;
        for n in self.nodes.values() {
            if let Some(r) = &n.raft {
                Invariants::check_durable(r, &*n.store, n.applied)?;
            }
        }
        Ok(())
    }

    // ---- inputs -------------------------------------------------------

    pub fn tick(&mut self, id: NodeId) -> SimResult {
        let Some(r) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) else {
            return Ok(());
        };
        r.tick();
        if let Some(aw) = self.async_writes {
            self.maybe_complete_writes(id, aw.complete_on_tick)?;
        }
        self.process(id)
    }

    pub fn campaign(&mut self, id: NodeId) -> SimResult {
        let Some(r) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) else {
            return Ok(());
        };
        r.campaign();
        self.process(id)
    }

    /// Delivers a message (dropped if the recipient is down or the link is cut).
    pub fn deliver(&mut self, m: Message<Cmd>) -> SimResult<bool> {
        let to = m.to;
        if self.net.is_blocked(m.from, m.to) {
            return Ok(false);
        }
        let Some(r) = self.nodes.get_mut(&to).and_then(|n| n.raft.as_mut()) else {
            return Ok(false);
        };
        if self.trace {
            eprintln!("[t{}] {m}", self.now);
        }
        // A correct peer's messages are never refused; any error is a bug.
        r.step(m.clone())
            .map_err(|e| format!("node {to} refused {m}: {e}"))?;
        self.process(to)?;
        Ok(true)
    }

    /// Starts a node that joins the cluster: empty bootstrap configuration,
    /// empty store (on the same kind of store as the others).
    pub fn add_node(&mut self, id: NodeId) -> SimResult {
        let mut cfg = self.config.clone();
        cfg.id = id;
        cfg.voters.clear();
        cfg.learners.clear();
        let segment = self.nodes.values().any(|n| n.vfs.is_some());
        let (store, vfs): (Box<dyn LogStore<Cmd>>, Option<MemVfs>) = if segment {
            let vfs = MemVfs::new();
            (Box::new(open_segment_store(&vfs)?), Some(vfs))
        } else {
            (Box::new(MemLogStore::new()), None)
        };
        let raft = Raft::new(cfg, self.rng.random(), Default::default())
            .map_err(|e| format!("joining node {id}: {e}"))?;
        self.nodes.insert(
            id,
            SimNode {
                id,
                raft: Some(raft),
                store,
                vfs,
                kv: Kv::default(),
                applied: 0,
                reads: Vec::new(),
                read_keys: BTreeMap::new(),
                hold: false,
                images: BTreeMap::new(),
                staging: None,
                joined: true,
                wants_snapshot: false,
                queue: VecDeque::new(),
                held: VecDeque::new(),
                reports: Vec::new(),
                stalled_until: 0,
            },
        );
        self.ids.push(id);
        Ok(())
    }

    /// Proposes a membership change on `id`.
    pub fn conf_change(
        &mut self,
        id: NodeId,
        change: ConfChange,
    ) -> SimResult<Result<Proposed, ProposeError>> {
        let Some(r) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) else {
            return Ok(Err(ProposeError::NotLeader { leader_hint: None }));
        };
        let res = r.propose_conf_change(change);
        self.process(id)?;
        Ok(res)
    }

    pub fn propose(&mut self, id: NodeId, cmd: Cmd) -> SimResult<Result<Proposed, ProposeError>> {
        let Some(r) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) else {
            return Ok(Err(ProposeError::NotLeader { leader_hint: None }));
        };
        let res = r.propose(cmd);
        self.process(id)?;
        Ok(res)
    }

    pub fn read(
        &mut self,
        id: NodeId,
        context: u64,
        key: u8,
    ) -> SimResult<Result<(), ProposeError>> {
        let Some(node) = self.nodes.get_mut(&id) else {
            return Ok(Err(ProposeError::NotLeader { leader_hint: None }));
        };
        let Some(r) = node.raft.as_mut() else {
            return Ok(Err(ProposeError::NotLeader { leader_hint: None }));
        };
        let res = r.read_index(context);
        if res.is_ok() {
            node.read_keys.insert(context, key);
        }
        self.process(id)?;
        Ok(res)
    }

    pub fn transfer(&mut self, id: NodeId, to: NodeId) -> SimResult<Result<(), ProposeError>> {
        let Some(r) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) else {
            return Ok(Err(ProposeError::NotLeader { leader_hint: None }));
        };
        let res = r.transfer_leadership(to);
        self.process(id)?;
        Ok(res)
    }

    /// Crash: everything not in the store is lost. A segment store's file
    /// system sees one of the two kinds of crash, at random: a power loss
    /// (a random part of whatever was not fsynced is lost) or a process
    /// crash (the page cache keeps every byte written, none of it more
    /// durable than before — a later power loss of the same node can still
    /// take it away, unless the restarted node made it durable).
    pub fn crash(&mut self, id: NodeId) -> SimResult {
        let keep: f64 = self.rng.random();
        let power_loss = self.rng.random_bool(0.5);
        if let Some(n) = self.nodes.get_mut(&id)
            && let Some(vfs) = &n.vfs
        {
            if power_loss {
                n.store = Box::new(MemLogStore::new()); // drops (closes) the segment store
                vfs.power_loss(|_, unsynced| (unsynced as f64 * keep) as u64);
            } else {
                vfs.process_crash();
                n.store = Box::new(MemLogStore::new());
            }
            n.store = Box::new(open_segment_store(vfs)?);
        }
        if self.nodes.get(&id).is_some_and(|n| n.staging.is_some()) {
            self.snapshot_stats.crashed_mid_transfer += 1;
        }
        if self.nodes.values().any(|n| {
            n.staging.is_some()
                && n.raft
                    .as_ref()
                    .is_some_and(|r| r.status().leader == Some(id))
        }) {
            self.snapshot_stats.leader_crashed_mid_transfer += 1;
        }
        if let Some(n) = self.nodes.get_mut(&id) {
            // The client connections break: pending reads fail (no effect).
            for &context in n.read_keys.keys() {
                self.events.push(Event::ReadDropped { node: id, context });
            }
            for (rs, _) in &n.reads {
                self.events.push(Event::ReadDropped {
                    node: id,
                    context: rs.context,
                });
            }
            n.raft = None;
            n.kv = Kv::default();
            n.applied = 0;
            n.reads.clear();
            n.read_keys.clear();
            n.hold = false;
            n.staging = None;
            // Queued writes that had not completed are lost with the process.
            self.async_stats.lost_in_crash += n.queue.len() as u64;
            n.queue.clear();
            n.held.clear();
            n.reports.clear();
        }
        self.invariants.on_restart(id);
        self.invariants.log_matching.forget(id);
        self.invariants.leader_completeness.forget(id);
        Ok(())
    }

    /// Restart from the store.
    pub fn restart(&mut self, id: NodeId) -> SimResult {
        let seed = self.rng.random();
        let Some(n) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        if n.raft.is_some() {
            return Ok(());
        }
        let restored =
            restore(&*n.store).map_err(|e| format!("restore of node {id} failed: {e}"))?;
        let mut cfg = self.config.clone();
        cfg.id = id;
        if n.joined {
            cfg.voters.clear();
            cfg.learners.clear();
        }
        // The state machine restarts from the image the log store references
        // (a newer image whose install was not recorded yet is ignored).
        if let Some(snap) = &restored.snapshot {
            let (meta, bytes) = n.images.get(&snap.index).ok_or_else(|| {
                format!(
                    "node {id}: the log store references snapshot {} but no image of it is kept",
                    snap.index
                )
            })?;
            if meta != snap {
                return Err(format!("node {id}: image {meta:?} differs from {snap:?}"));
            }
            n.kv = Kv::decode(bytes)?;
            n.applied = snap.index;
            cfg.applied = snap.index;
            n.images.retain(|&i, _| i >= snap.index);
            self.snapshot_stats.restored += 1;
        }
        let from_snapshot = restored.snapshot.as_ref().map(|s| (s.index, n.kv.clone()));
        n.raft = Some(
            Raft::new(cfg, seed, restored)
                .map_err(|e| format!("restart of node {id} failed: {e}"))?,
        );
        self.invariants.on_restart(id);
        if let Some((index, kv)) = from_snapshot {
            self.invariants.on_install(id, index, &kv)?;
        }
        Ok(())
    }

    // ---- the driver: what a server does with a ready batch ---------------

    /// Handles every pending ready batch of `id`, then checks the invariants.
    /// With asynchronous writes, first completes some of its queued writes
    /// (at random), and queues the write of each batch instead of doing it.
    pub fn process(&mut self, id: NodeId) -> SimResult {
        if let Some(aw) = self.async_writes {
            self.maybe_complete_writes(id, aw.complete)?;
        }
        loop {
            let node = self.nodes.get_mut(&id).ok_or("no such node")?;
            if node.hold {
                break;
            }
            let Some(r) = node.raft.as_mut() else { break };
            if !r.has_ready() {
                break;
            }
            let mut rd = r.ready();
            if rd.snapshot_wanted {
                node.wants_snapshot = true;
            }
            // 1. Messages that may precede persistence.
            for m in std::mem::take(&mut rd.messages) {
                self.send(m);
            }
            if self.async_writes.is_some() {
                if rd.snapshot.is_none() && rd.received_chunks.is_empty() {
                    self.queue_ready(id, rd)?;
                    continue;
                }
                // A snapshot batch is handled the plain way, once every
                // queued write is durable.
                if !self.complete_all_writes(id)? {
                    break; // crashed
                }
            }
            // Crash injection: before, inside or after persisting the batch.
            let crash_at = if self.crash_faults.during_persist > 0.0
                && self.rng.random_bool(self.crash_faults.during_persist)
            {
                Some(self.rng.random_range(0..3))
            } else {
                None
            };
            if crash_at == Some(0) {
                self.crash(id)?;
                break;
            }
            // 2a. Stage received snapshot chunks; a complete snapshot's image
            // is made durable before the log store records it.
            let node = self.nodes.get_mut(&id).ok_or("no such node")?;
            for c in &rd.received_chunks {
                if c.offset == 0 {
                    node.staging = Some((c.meta.clone(), Vec::new()));
                }
                match node.staging.as_mut() {
                    Some((meta, bytes)) if *meta == c.meta && bytes.len() as u64 == c.offset => {
                        bytes.extend_from_slice(&c.data);
                    }
                    other => {
                        return Err(format!(
                            "node {id}: chunk {}@{} offset {} does not continue the staged {:?}",
                            c.meta.index,
                            c.meta.term,
                            c.offset,
                            other.map(|(m, b)| (m.index, b.len()))
                        ));
                    }
                }
            }
            if let Some(meta) = &rd.snapshot {
                let (staged, bytes) = node.staging.take().ok_or_else(|| {
                    format!("node {id}: install of {} without staged bytes", meta.index)
                })?;
                if staged != *meta {
                    return Err(format!(
                        "node {id}: install of {meta:?} but staged {staged:?}"
                    ));
                }
                node.images.insert(meta.index, (staged, bytes));
            }
            // 2b. Persist: hard state, snapshot record, then entries
            // (persist_ready), optionally crashing in between.
            let partial = Ready {
                hard_state: rd.hard_state,
                entries: std::mem::take(&mut rd.entries),
                snapshot: rd.snapshot.clone(),
                ..Default::default()
            };
            if !self.persist(id, &partial, crash_at)? {
                break; // crashed
            }
            // 3. Messages that needed the batch durable.
            for m in std::mem::take(&mut rd.persisted_messages) {
                self.send(m);
            }
            // 4. Install a received snapshot, apply, then serve reads.
            // Everything handed out is durable now: apply it all.
            if rd.snapshot.is_some() {
                // (Only asynchronous writes hold entries here; all are
                // below the snapshot, which is above the commit index.)
                self.apply_held(id, Index::MAX)?;
            }
            let node = self.nodes.get_mut(&id).ok_or("no such node")?;
            if let Some(meta) = &rd.snapshot {
                let (_, bytes) = &node.images[&meta.index];
                node.kv = Kv::decode(bytes)?;
                node.applied = meta.index;
                node.images.retain(|&i, _| i >= meta.index);
                self.snapshot_stats.installed += 1;
                self.invariants.on_install(id, meta.index, &node.kv)?;
                self.events.push(Event::SnapshotInstalled {
                    node: id,
                    index: meta.index,
                    term: meta.term,
                });
            }
            node.held.extend(std::mem::take(&mut rd.committed_entries));
            self.apply_held(id, Index::MAX)?;
            self.take_reads(id, &mut rd)?;
            self.serve_reads(id)?;
            // 5. Leader: read the snapshot chunks asked for.
            self.answer_snapshot_requests(id, &rd)?;
            // 6. Acknowledge.
            let node = self.nodes.get_mut(&id).ok_or("no such node")?;
            if let Some(r) = node.raft.as_mut() {
                r.advance();
            }
        }
        if self.async_writes.is_some()
            && let Some(r) = self.raft(id)
            && r.status().role == Role::Leader
            && r.status().commit > r.status().stable
        {
            self.async_stats.leader_commit_ahead += 1;
        }
        self.check()
    }

    /// Asynchronous writes: handles a batch without a snapshot. Its
    /// messages are sent already; its write is queued; committed entries
    /// are applied as far as they are durable; no `advance`.
    fn queue_ready(&mut self, id: NodeId, mut rd: Ready<Cmd>) -> SimResult {
        let node = self.nodes.get_mut(&id).ok_or("no such node")?;
        if let Some(first) = rd.entries.first()
            && node
                .queue
                .iter()
                .filter_map(|w| w.entries.last())
                .any(|e| e.index >= first.index)
        {
            self.async_stats.replaced_while_queued += 1;
        }
        if rd.hard_state.is_some() || !rd.entries.is_empty() || !rd.persisted_messages.is_empty() {
            node.queue.push_back(QueuedWrite {
                hard_state: rd.hard_state,
                entries: std::mem::take(&mut rd.entries),
                persisted_messages: std::mem::take(&mut rd.persisted_messages),
            });
            self.async_stats.max_queue = self.async_stats.max_queue.max(node.queue.len());
        }
        node.held.extend(std::mem::take(&mut rd.committed_entries));
        let stable = node.raft.as_ref().map_or(0, |r| r.status().stable);
        self.apply_held(id, stable)?;
        self.take_reads(id, &mut rd)?;
        self.serve_reads(id)?;
        self.answer_snapshot_requests(id, &rd)
    }

    /// With probability `p`, completes some of `id`'s queued writes.
    fn maybe_complete_writes(&mut self, id: NodeId, p: f64) -> SimResult {
        let Some(node) = self.nodes.get(&id) else {
            return Ok(());
        };
        let len = node.queue.len();
        let ready = node.raft.is_some() && !node.hold && node.stalled_until <= self.now;
        if len > 0 && ready && self.rng.random_bool(p) {
            let n = self.writes_to_merge(len);
            self.complete_writes(id, n)?;
        }
        Ok(())
    }

    /// How many of `len` queued writes the next store write covers.
    fn writes_to_merge(&mut self, len: usize) -> usize {
        let merge = self.async_writes.map_or(0.0, |a| a.merge);
        if len == 1 || self.rng.random_bool(merge) {
            len
        } else {
            self.rng.random_range(1..=len)
        }
    }

    /// Completes every queued write of `id` (waiting out a stall). False if
    /// the node crashed.
    fn complete_all_writes(&mut self, id: NodeId) -> SimResult<bool> {
        loop {
            let len = self.nodes.get(&id).map_or(0, |n| n.queue.len());
            if len == 0 {
                return Ok(true);
            }
            let n = self.writes_to_merge(len);
            if !self.complete_writes(id, n)? {
                return Ok(false);
            }
        }
    }

    /// Completes the `n` oldest queued writes of `id` as one store write
    /// (crashing in the middle at random), then sends their persisted
    /// messages and reports the write to the core. False if the node crashed.
    fn complete_writes(&mut self, id: NodeId, n: usize) -> SimResult<bool> {
        let aw = self.async_writes.ok_or("no asynchronous writes")?;
        let node = self.nodes.get_mut(&id).ok_or("no such node")?;
        if node.raft.is_none() {
            return Ok(false);
        }
        let writes: Vec<QueuedWrite> = node.queue.drain(..n.min(node.queue.len())).collect();
        // Merge: the last hard state; a later batch's entries replace the
        // earlier ones from its first index on (what the store's truncate
        // and append would do one write at a time).
        let mut hard_state = None;
        let mut entries: Vec<Entry<Cmd>> = Vec::new();
        for w in &writes {
            hard_state = w.hard_state.or(hard_state);
            if let Some(first) = w.entries.first() {
                let before = entries.len();
                entries.retain(|e| e.index < first.index);
                if entries.len() < before {
                    self.async_stats.overwritten_in_merge += 1;
                }
                if let Some(last) = entries.last()
                    && last.index + 1 != first.index
                {
                    return Err(format!(
                        "node {id}: queued batches are not contiguous: {} then {}",
                        last.index, first.index
                    ));
                }
                entries.extend(w.entries.iter().cloned());
            }
        }
        self.async_stats.store_writes += 1;
        self.async_stats.batches += writes.len() as u64;
        let crash_at = if self.crash_faults.during_persist > 0.0
            && self.rng.random_bool(self.crash_faults.during_persist)
        {
            Some(self.rng.random_range(0..3))
        } else {
            None
        };
        if crash_at == Some(0) {
            self.async_stats.lost_in_crash += writes.len() as u64;
            self.crash(id)?;
            return Ok(false);
        }
        let partial = Ready {
            hard_state,
            entries,
            ..Default::default()
        };
        if !self.persist(id, &partial, crash_at)? {
            self.async_stats.lost_in_crash += writes.len() as u64;
            return Ok(false);
        }
        // This write and every earlier one are durable.
        for w in &writes {
            for m in &w.persisted_messages {
                self.send(m.clone());
            }
        }
        let mut reports: Vec<(Index, Term)> = Vec::new();
        if writes.len() > 1 && self.rng.random_bool(aw.report_each) {
            reports.extend(
                writes
                    .iter()
                    .filter_map(|w| w.entries.last().map(|e| (e.index, e.term))),
            );
        } else if let Some(e) = partial.entries.last() {
            reports.push((e.index, e.term));
        }
        let stale = self.rng.random_bool(aw.stale_report);
        let node = self.nodes.get_mut(&id).ok_or("no such node")?;
        let Some(r) = node.raft.as_mut() else {
            return Ok(false);
        };
        for &(index, term) in &reports {
            r.persisted(index, term);
            if r.status().stable != index {
                self.async_stats.reports_ignored += 1;
            }
            node.reports.push((index, term));
        }
        if stale && !node.reports.is_empty() {
            // A report repeated late: it must change nothing.
            let (index, term) = node.reports[self.rng.random_range(0..node.reports.len())];
            let before = r.status().stable;
            r.persisted(index, term);
            self.async_stats.stale_reports += 1;
            if r.status().stable != before {
                return Err(format!(
                    "node {id}: a repeated report persisted({index}, {term}) moved stable from \
                     {before} to {}",
                    r.status().stable
                ));
            }
        }
        let stable = r.status().stable;
        self.apply_held(id, stable)?;
        self.serve_reads(id)?;
        Ok(true)
    }

    /// Persists the durable part of a batch (hard state, snapshot record,
    /// entries), crashing before its end if `crash_at` is 1 or 2 (the
    /// caller handles 0). False if the node crashed (or its storage failed).
    fn persist(
        &mut self,
        id: NodeId,
        partial: &Ready<Cmd>,
        crash_at: Option<u32>,
    ) -> SimResult<bool> {
        let node = self.nodes.get_mut(&id).ok_or("no such node")?;
        if crash_at == Some(1) {
            if let Some(hs) = partial.hard_state
                && let Err(e) = node.store.save_hard_state(hs)
                && node.vfs.is_none()
            {
                // (On a segment store an injected fault may fail it: the
                // node is crashing anyway.)
                return Err(e.to_string());
            }
            self.crash(id)?;
            return Ok(false);
        }
        if let Some(vfs) = &node.vfs
            && self.crash_faults.io_fault > 0.0
            && self.rng.random_bool(self.crash_faults.io_fault)
        {
            vfs.fail_once_after_ops(self.rng.random_range(0..4));
        }
        if let Err(e) = persist_ready(&mut *node.store, partial) {
            if node.vfs.is_none() {
                return Err(format!("node {id} persist: {e}"));
            }
            // Storage failed: fatal for this node, which stops.
            if self.trace {
                eprintln!("[t{}] node {id} storage failed, stopping: {e}", self.now);
            }
            self.crash(id)?;
            return Ok(false);
        }
        self.invariants
            .on_persisted(id, &*node.store, &partial.entries)?;
        if crash_at == Some(2) {
            self.crash(id)?;
            return Ok(false);
        }
        Ok(true)
    }

    /// Applies the held committed entries up to `limit`, in order.
    fn apply_held(&mut self, id: NodeId, limit: Index) -> SimResult {
        let node = self.nodes.get_mut(&id).ok_or("no such node")?;
        while let Some(e) = node.held.front() {
            if e.index > limit {
                break;
            }
            let e = node.held.pop_front().expect("front");
            self.invariants.on_apply(id, &e)?;
            node.kv.apply_entry(&e);
            self.invariants.on_applied_state(id, e.index, &node.kv)?;
            let cmd = match &e.payload {
                EntryPayload::Command(c) => Some(c.clone()),
                EntryPayload::Noop | EntryPayload::ConfChange(_) => None,
            };
            node.applied = e.index;
            self.events.push(Event::Applied {
                node: id,
                index: e.index,
                term: e.term,
                cmd,
            });
        }
        Ok(())
    }

    /// Takes a batch's confirmed and dropped reads.
    fn take_reads(&mut self, id: NodeId, rd: &mut Ready<Cmd>) -> SimResult {
        let node = self.nodes.get_mut(&id).ok_or("no such node")?;
        for rs in std::mem::take(&mut rd.read_states) {
            let key = node.read_keys.remove(&rs.context).unwrap_or(0);
            node.reads.push((rs, key));
        }
        for ctx in std::mem::take(&mut rd.dropped_reads) {
            node.read_keys.remove(&ctx);
            self.events.push(Event::ReadDropped {
                node: id,
                context: ctx,
            });
        }
        Ok(())
    }

    /// Serves the confirmed reads the state machine has caught up with.
    fn serve_reads(&mut self, id: NodeId) -> SimResult {
        let node = self.nodes.get_mut(&id).ok_or("no such node")?;
        let applied = node.applied;
        let kv = &node.kv;
        let (ready_reads, waiting): (Vec<_>, Vec<_>) = node
            .reads
            .drain(..)
            .partition(|(rs, _)| rs.index <= applied);
        for (rs, key) in ready_reads {
            if self.trace {
                eprintln!(
                    "[t{}] node {id} serves read {} at index {} (applied {applied}): {:?}",
                    self.now,
                    rs.context,
                    rs.index,
                    kv.get(key)
                );
            }
            self.events.push(Event::ReadServed {
                node: id,
                context: rs.context,
                key,
                value: kv.get(key),
            });
        }
        node.reads = waiting;
        Ok(())
    }

    /// Leader: reads the snapshot chunks a batch asked for.
    fn answer_snapshot_requests(&mut self, id: NodeId, rd: &Ready<Cmd>) -> SimResult {
        let node = self.nodes.get_mut(&id).ok_or("no such node")?;
        if let Some(r) = node.raft.as_mut() {
            for req in &rd.snapshot_requests {
                let Some((_, bytes)) = node.images.get(&req.index) else {
                    continue; // an image already replaced: the core moved on
                };
                let start = (req.offset as usize).min(bytes.len());
                let end = start.saturating_add(req.max_len).min(bytes.len());
                if r.send_snapshot_chunk(req, bytes[start..end].to_vec(), end == bytes.len()) {
                    self.snapshot_stats.chunks += 1;
                }
            }
        }
        Ok(())
    }

    /// The application takes a snapshot of `id`'s state at its applied
    /// index: image durable first, then the log store records it (keeping
    /// the entries after it, and purging some before), then the core is told.
    pub fn take_snapshot(&mut self, id: NodeId, purge: bool) -> SimResult {
        let Some(node) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        let Some(r) = node.raft.as_mut() else {
            return Ok(());
        };
        let index = node.applied;
        let current = r.snapshot().map_or(0, |s| s.index);
        if node.hold || index <= current || index > r.status().stable {
            return Ok(());
        }
        let Some(term) = r.log_term(index) else {
            return Err(format!("node {id}: no term for applied index {index}"));
        };
        let Some(meta) = r.snapshot_meta_at(index, term) else {
            return Err(format!(
                "node {id}: no configuration at applied index {index}"
            ));
        };
        self.invariants.on_applied_state(id, index, &node.kv)?;
        node.images.insert(index, (meta.clone(), node.kv.encode()));
        if let Err(e) = node.store.save_snapshot(&meta) {
            if node.vfs.is_none() {
                return Err(format!("node {id}: save_snapshot: {e}"));
            }
            // An injected I/O fault: the node stops.
            return self.crash(id);
        }
        // Older images stay while a transfer still reads them.
        let pinned: Vec<Index> = r
            .snapshot_transfers()
            .iter()
            .map(|(_, m)| m.index)
            .collect();
        node.images
            .retain(|&i, _| i >= index || pinned.contains(&i));
        if purge {
            let keep = self.config.trailing_log_entries;
            if let Err(e) = node.store.purge_up_to(index.saturating_sub(keep)) {
                if node.vfs.is_none() {
                    return Err(format!("node {id}: purge: {e}"));
                }
                return self.crash(id);
            }
        }
        if let Some(r) = node.raft.as_mut() {
            r.compact(meta)
                .map_err(|e| format!("node {id}: compact refused: {e}"))?;
        }
        self.snapshot_stats.taken += 1;
        self.process(id)
    }

    fn send(&mut self, m: Message<Cmd>) {
        if self.record_sent {
            self.sent_log.push(m.clone());
        }
        self.net.send(m, self.now, self.faults, &mut self.rng);
    }

    /// Delivers every message due now, in random order, including those sent
    /// while delivering (bounded, in case of a message storm bug).
    pub fn deliver_due(&mut self) -> SimResult {
        for _ in 0..100_000 {
            let Some(m) = self.net.take_due(self.now, &mut self.rng) else {
                return Ok(());
            };
            self.deliver(m)?;
        }
        Err("message storm: more than 100000 deliveries in one tick".into())
    }

    /// The entries of `id`'s log, for scenario output.
    pub fn log_of(&self, id: NodeId) -> Vec<Entry<Cmd>> {
        match self.raft(id) {
            Some(r) => r.log_entries().to_vec(),
            None => self.nodes[&id]
                .store
                .entries(1, self.nodes[&id].store.last_index() + 1, None)
                .unwrap_or_default(),
        }
    }
}

fn open_segment_store(vfs: &MemVfs) -> SimResult<SegmentLogStore<Cmd>> {
    let options = SegmentLogOptions {
        max_segment_bytes: 512,
        ..SegmentLogOptions::default()
    };
    SegmentLogStore::open(
        Arc::new(vfs.clone()) as Arc<dyn Vfs>,
        Path::new("/raft"),
        options,
    )
    .map_err(|e| format!("segment store failed to open: {e}"))
}
