//! [`RaftBackend`]: the [`Backend`] of `--replication raft`.
//!
//! - **write**: on the leader, proposed through the driver (group commit) and
//!   answered with the apply result; on a follower, forwarded to the leader
//!   ([`super::forward`]); with no leader known, it waits up to
//!   `leader_wait` for one, then answers `TRYAGAIN` (not proposed).
//! - **read**: on the leader, a batched ReadIndex, then a wait until this
//!   node has applied that far, then a read of the local state machine;
//!   on a follower, forwarded.
//! - **status**: role, term, leader, commit and applied index, members and
//!   (on the leader) their match index, links.
//! - **shutdown**: a leader first hands leadership to a caught-up follower
//!   (so the cluster does not wait for an election timeout), then the driver
//!   stops (in-flight persist finished, engine fsynced, log closed), then the
//!   transport.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::{info, warn};

use raftlog::{
    ConfChange, ConfChangeKind, Message, NodeId, Role, SegmentLogOptions, SegmentLogStore,
};

use crate::config::Config;
use crate::ops::{
    Backend, BackendError, BoxFuture, MembershipChange, NodeRole, NodeStatus, PeerStatus, ReadOp,
    ReplicationMode, Reply, WriteCmd, WriteOp,
};
use crate::state_machine::KvStateMachine;

use super::driver::{
    DriverConfig, DriverError, DriverHandle, DriverStatus, FatalError, MessageSink,
};
use super::forward::{Forwarded, Forwarder, Rpc, RpcLink};
use super::machine::{Command, KvMachine};
use super::transport::{Outbound, Sinks, Transport, TransportConfig};

/// Everything a Raft node needs to start.
#[derive(Clone, Debug)]
pub struct RaftSettings {
    /// This node's id.
    pub id: NodeId,
    /// Directory of the Raft log (created if missing).
    pub log_dir: PathBuf,
    /// Where this node's `IDENTITY` and `PEERS-SEEN` files live (the data
    /// directory; by default the log directory's parent).
    pub identity_dir: PathBuf,
    /// Address the peer listener binds; also the local address outgoing
    /// peer sockets bind to (port 0). Unused for a one-member cluster.
    pub peer_listen: String,
    /// Every voter of the initial configuration and its peer address, this
    /// node included. Empty or only this node: a one-member cluster. For a
    /// node that joins ([`Self::join`]): the members it knows of, to talk to
    /// until the cluster's snapshot tells it the configuration.
    pub peers: BTreeMap<NodeId, String>,
    /// This node joins an existing cluster (`--join`, now or at an earlier
    /// start): it has no configuration of its own and waits to be added.
    pub join: bool,
    /// Cluster id checked in the peer handshake (see [`cluster_id`]).
    pub cluster_id: u64,
    /// Real time per Raft tick.
    pub tick: Duration,
    /// Heartbeat interval in ticks.
    pub heartbeat_ticks: u32,
    /// Minimum election timeout in ticks (the timeout is drawn from
    /// `[election, 2 * election)`); at least 5 heartbeats.
    pub election_ticks: u32,
    /// How long a write or read may wait before `TIMEOUT`.
    pub request_timeout: Duration,
    /// How long a request waits for a leader to be elected before `TRYAGAIN`.
    pub leader_wait: Duration,
    /// Most writes proposed and not yet applied.
    pub max_pending_writes: usize,
    /// Most requests forwarded to the leader and not yet answered, and most
    /// forwarded requests this node executes at once as the leader.
    pub max_forwarded: usize,
    /// Capacity of each peer's outgoing queue.
    pub peer_queue: usize,
    /// Hard limit on one peer frame.
    pub max_frame: u32,
    /// Mutual TLS on the peer port.
    pub peer_tls: Option<crate::tls::PeerTlsFiles>,
    /// Where snapshot images live (`<data-dir>/snapshots`).
    pub snapshot_dir: PathBuf,
    /// Applied entries between snapshots (0: never).
    pub snapshot_entries: u64,
    /// Applied write bytes between snapshots.
    pub snapshot_bytes: u64,
    /// Log entries kept before a snapshot's index.
    pub snapshot_trailing_entries: u64,
    /// Raft log segment size.
    pub log_segment_bytes: u64,
    /// Zeros prepared ahead of Raft log appends, per step (0: off).
    pub log_preallocate_bytes: u64,
}

impl RaftSettings {
    /// Defaults: 10 ms ticks, heartbeat every 2 ticks (20 ms), election
    /// timeout 30–59 ticks (300–590 ms), 5 s request timeout.
    pub fn new(id: NodeId, log_dir: PathBuf) -> Self {
        RaftSettings {
            id,
            peer_listen: "127.0.0.1:7380".into(),
            peers: BTreeMap::new(),
            join: false,
            cluster_id: cluster_id("snowflk"),
            tick: Duration::from_millis(10),
            heartbeat_ticks: 2,
            election_ticks: 30,
            request_timeout: Duration::from_secs(5),
            leader_wait: Duration::from_secs(2),
            max_pending_writes: 100_000,
            max_forwarded: 10_000,
            peer_queue: 4096,
            max_frame: super::wire::DEFAULT_MAX_FRAME,
            peer_tls: None,
            snapshot_dir: log_dir.with_file_name("snapshots"),
            identity_dir: log_dir
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default(),
            snapshot_entries: 100_000,
            snapshot_bytes: 256 * 1024 * 1024,
            snapshot_trailing_entries: 1024,
            log_segment_bytes: SegmentLogOptions::default().max_segment_bytes,
            log_preallocate_bytes: SegmentLogOptions::default().preallocate_bytes,
            log_dir,
        }
    }

    /// The initial voters: the peer map's ids, or just this node; none for a
    /// joining node.
    pub fn voters(&self) -> Vec<NodeId> {
        if self.join {
            Vec::new()
        } else if self.peers.is_empty() {
            vec![self.id]
        } else {
            self.peers.keys().copied().collect()
        }
    }

    /// The settings a node's configuration asks for; the log lives in
    /// `<data-dir>/raft`.
    pub fn from_config(config: &Config) -> Self {
        let mut s = RaftSettings::new(config.id, config.data_dir.join("raft"));
        s.peer_listen = config.peer_listen.clone();
        s.peers = config.peers.clone();
        s.cluster_id = cluster_id(&config.cluster_id);
        s.tick = Duration::from_millis(config.tick_ms);
        s.heartbeat_ticks = config.heartbeat_ticks;
        s.election_ticks = config.election_ticks;
        s.request_timeout = Duration::from_millis(config.request_timeout_ms);
        s.peer_tls = config.peer_tls.clone();
        s.snapshot_dir = config.data_dir.join("snapshots");
        s.identity_dir = config.data_dir.clone();
        s.snapshot_entries = config.snapshot_entries;
        s.snapshot_bytes = config.snapshot_bytes;
        s.snapshot_trailing_entries = config.snapshot_trailing_entries;
        s.log_segment_bytes = config.raft_log_segment_bytes;
        s.log_preallocate_bytes = config.raft_log_preallocate_bytes;
        s
    }
}

/// The handshake's cluster id for a cluster name: FNV-1a 64 of its bytes.
pub fn cluster_id(name: &str) -> u64 {
    crate::state_machine::fnv1a(name.as_bytes())
}

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The settings are inconsistent.
    #[error("{0}")]
    Settings(String),
    /// The Raft log could not be opened.
    #[error("cannot open the raft log in {dir}: {source}")]
    Log {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: raftlog::StorageError,
    },
    /// The peer listener could not bind.
    #[error("cannot listen for peers on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The node's identity files could not be read or written.
    #[error(transparent)]
    Identity(#[from] super::identity::IdentityError),
    /// The driver could not start.
    #[error(transparent)]
    Driver(#[from] FatalError),
}

/// The transport as the driver's message sink and the forwarder's link.
#[derive(Clone)]
struct Link(Option<Arc<Transport<Command, Rpc>>>);

impl Link {
    fn set_peers(&self, peers: &BTreeMap<NodeId, String>) {
        if let Some(t) = &self.0 {
            t.set_peers(peers);
        }
    }

    fn set_expected(&self, expected: BTreeMap<NodeId, u64>) {
        if let Some(t) = &self.0 {
            t.set_expected(expected);
        }
    }
}

impl MessageSink<Command> for Link {
    fn send(&self, message: Message<Command>) {
        if let Some(t) = &self.0 {
            t.send(message.to, Outbound::Raft(message));
        }
    }
}

impl RpcLink for Link {
    fn connected(&self, to: NodeId) -> bool {
        self.0
            .as_ref()
            .is_some_and(|t| t.status().iter().any(|p| p.id == to && p.connected))
    }

    fn send_rpc(&self, to: NodeId, rpc: Rpc) -> bool {
        self.0
            .as_ref()
            .is_some_and(|t| t.send(to, Outbound::Rpc(rpc)))
    }
}

/// The Raft backend. Cheap to share (`Arc`).
pub struct RaftBackend {
    id: NodeId,
    settings: RaftSettings,
    driver: DriverHandle<KvMachine>,
    sm: Arc<KvStateMachine>,
    forwarder: Forwarder<Link>,
    link: Link,
    /// Bounds forwarded requests executed here at once.
    serving: Arc<Semaphore>,
    transport_stop: watch::Sender<bool>,
    peer_addr: Option<SocketAddr>,
    metrics: super::metrics::RaftMetrics,
    peer_metrics: PeerMetrics,
    /// Peer addresses from the `ADD-NODE` entries in the log after the
    /// engine's applied index at start. The member book gets them only when
    /// they apply, which after a crash (the engine's unsynced tail lost) can
    /// need a quorum that includes those very members: without their
    /// addresses nobody could reach them (an election could never finish).
    log_book: BTreeMap<NodeId, String>,
    /// The incarnations those entries name, with each entry's index: they
    /// win over the member book until the book has applied past them.
    log_incarnations: BTreeMap<NodeId, (u64, u64)>,
    /// This node's data-directory incarnation (`ADD-NODE` names it).
    incarnation: u64,
}

/// The member-book values (peer address, and incarnation if named) the
/// `ADD-NODE` entries of `store` after index `applied` carry (the newest
/// per node) with each entry's index, read in bounded chunks.
fn unapplied_members(
    store: &SegmentLogStore<Command>,
    applied: u64,
) -> Result<BTreeMap<NodeId, (u64, String)>, raftlog::StorageError> {
    use raftlog::LogStore;
    let mut out = BTreeMap::new();
    let mut next = applied.saturating_add(1).max(store.first_index());
    let end = store.last_index().saturating_add(1);
    while next < end {
        let chunk = store.entries(next, end, Some(16 << 20))?;
        let Some(last) = chunk.last() else { break };
        next = last.index + 1;
        for e in &chunk {
            if let raftlog::EntryPayload::ConfChange(change) = &e.payload {
                match change.kind {
                    raftlog::ConfChangeKind::AddLearner => {
                        let addr = String::from_utf8_lossy(&change.context).into_owned();
                        out.insert(change.node, (e.index, addr));
                    }
                    raftlog::ConfChangeKind::Remove => {
                        out.remove(&change.node);
                    }
                    raftlog::ConfChangeKind::Promote => {}
                }
            }
        }
    }
    Ok(out)
}

/// Labels of the per-peer metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct PeerLabel {
    peer: String,
}

type PeerGauge =
    prometheus_client::metrics::family::Family<PeerLabel, prometheus_client::metrics::gauge::Gauge>;
type PeerCounter = prometheus_client::metrics::family::Family<
    PeerLabel,
    prometheus_client::metrics::counter::Counter,
>;

/// Per-peer link metrics, refreshed from the transport at scrape time.
#[derive(Debug, Default)]
struct PeerMetrics {
    queued: PeerGauge,
    connected: PeerGauge,
    connects: PeerCounter,
    dropped: PeerCounter,
    frames_sent: PeerCounter,
    identity_mismatches: PeerCounter,
}

impl RaftBackend {
    /// Opens the Raft log, binds the peer listener (unless the cluster has
    /// one member), and starts the transport and the driver. The state
    /// machine's applied index decides where the log replay starts.
    pub async fn start(
        settings: RaftSettings,
        sm: Arc<KvStateMachine>,
    ) -> Result<Arc<Self>, StartError> {
        let id = settings.id;
        if !settings.join && !settings.peers.is_empty() && !settings.peers.contains_key(&id) {
            return Err(StartError::Settings(format!(
                "the peer map does not contain this node's id {id}"
            )));
        }
        let mut raft = raftlog::Config::new(id, settings.voters());
        raft.heartbeat_tick = settings.heartbeat_ticks;
        raft.election_tick = settings.election_ticks;
        raft.trailing_log_entries = settings.snapshot_trailing_entries;
        raft.validate()
            .map_err(|e| StartError::Settings(format!("raft timing: {e}")))?;

        // The log's first opener creates its hard-state file: without one,
        // this start begins a new Raft history, and the data directory a
        // new incarnation (see `identity`).
        let hardstate_was_missing = !settings.log_dir.join("hardstate").exists();
        let store: SegmentLogStore<Command> = SegmentLogStore::open(
            Arc::new(bitcask::vfs::OsVfs),
            &settings.log_dir,
            SegmentLogOptions {
                max_segment_bytes: settings.log_segment_bytes,
                preallocate_bytes: settings.log_preallocate_bytes,
            },
        )
        .map_err(|source| StartError::Log {
            dir: settings.log_dir.clone(),
            source,
        })?;

        // A log with entries but no hard state is damaged, not new: leave
        // the identity alone (the start fails on the log's state later).
        let log_is_new = {
            use raftlog::LogStore;
            hardstate_was_missing && store.last_index() == 0
        };
        let identity =
            super::identity::NodeIdentity::load_or_create(&settings.identity_dir, id, log_is_new)?;
        let peers_seen = super::identity::PeersSeen::load(&settings.identity_dir, log_is_new)?;
        let unapplied =
            unapplied_members(&store, sm.applied_index()).map_err(|source| StartError::Log {
                dir: settings.log_dir.clone(),
                source,
            })?;
        let log_incarnations: BTreeMap<NodeId, (u64, u64)> = unapplied
            .iter()
            .filter_map(|(&id, (index, value))| {
                super::identity::split_member(value)
                    .1
                    .map(|inc| (id, (*index, inc)))
            })
            .collect();
        let log_book: BTreeMap<NodeId, String> = unapplied
            .into_iter()
            .map(|(id, (_, value))| (id, value))
            .collect();
        if !log_book.is_empty() {
            info!(node = id, members = ?log_book, "peer addresses from membership entries not applied yet");
        }
        let others: BTreeMap<NodeId, String> = settings
            .peers
            .iter()
            .filter(|(p, _)| **p != id)
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        let (raft_tx, raft_rx) = mpsc::channel::<Vec<Message<Command>>>(1024);
        let (rpc_tx, mut rpc_rx) = mpsc::channel::<(NodeId, Rpc)>(4096);
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut peer_addr = None;
        // A one-member cluster listens for peers too, so that it can grow
        // (`SNOWFLK ADD-NODE`); if its peer port is taken it still serves,
        // alone.
        let listener = match TcpListener::bind(&settings.peer_listen).await {
            Ok(l) => Some(l),
            Err(e) if others.is_empty() && !settings.join => {
                warn!(node = id, addr = %settings.peer_listen, error = %e, "cannot listen for peers; this one-member cluster cannot add members until restarted with a free --peer-listen");
                None
            }
            Err(source) => {
                return Err(StartError::Listen {
                    addr: settings.peer_listen.clone(),
                    source,
                });
            }
        };
        let link = if let Some(listener) = listener {
            let local = listener.local_addr().ok();
            peer_addr = local;
            let mut tc = TransportConfig::new(id, settings.cluster_id, others);
            tc.bind_ip = local.map(|a| a.ip()).filter(|ip| !ip.is_unspecified());
            tc.queue_len = settings.peer_queue;
            tc.max_frame = settings.max_frame;
            tc.identities = Arc::new(super::identity::Identities::new(
                identity.incarnation,
                peers_seen,
            ));
            if let Some(files) = &settings.peer_tls {
                tc.tls = Some(
                    crate::tls::peer_tls(files).map_err(|e| StartError::Settings(e.to_string()))?,
                );
                info!(node = id, "peer links use mutual TLS");
            }
            let sinks = Sinks {
                raft: raft_tx,
                rpc: rpc_tx,
            };
            Link(Some(Arc::new(Transport::start(
                tc, listener, sinks, stop_rx,
            ))))
        } else {
            Link(None)
        };

        let metrics = super::metrics::RaftMetrics::default();
        let config = DriverConfig {
            metrics: metrics.clone(),
            raft,
            tick: settings.tick,
            seed: rand::random(),
            max_pending_writes: settings.max_pending_writes,
            request_queue: 16_384,
            read_timeout: settings.request_timeout,
            snapshots: (settings.snapshot_entries > 0).then(|| super::driver::SnapshotPolicy {
                dir: settings.snapshot_dir.clone(),
                entries: settings.snapshot_entries,
                bytes: settings.snapshot_bytes,
            }),
        };
        let driver = DriverHandle::start(
            config,
            store,
            Arc::new(KvMachine(sm.clone())),
            raft_rx,
            link.clone(),
        )?;
        let backend = Arc::new(RaftBackend {
            id,
            driver,
            sm,
            // A follower waits a little longer than the leader's own timeout,
            // so the leader's answer (even a TIMEOUT) arrives first.
            forwarder: Forwarder::new(
                link.clone(),
                settings.max_forwarded,
                settings.request_timeout + Duration::from_secs(1),
            ),
            link,
            metrics,
            peer_metrics: PeerMetrics::default(),
            serving: Arc::new(Semaphore::new(settings.max_forwarded)),
            transport_stop: stop_tx,
            peer_addr,
            settings,
            log_book,
            log_incarnations,
            incarnation: identity.incarnation,
        });
        info!(
            node = id,
            voters = ?backend.settings.voters(),
            peer_listen = ?peer_addr,
            "raft backend started"
        );
        backend.follow_membership();
        // Serve forwarded requests; relay replies to waiting callers.
        let weak = Arc::downgrade(&backend);
        tokio::spawn(async move {
            while let Some((from, rpc)) = rpc_rx.recv().await {
                let Some(b) = weak.upgrade() else { break };
                match rpc {
                    Rpc::Reply { id, body } => b.forwarder.on_reply(from, id, body),
                    Rpc::Request { id, body } => {
                        let Ok(permit) = b.serving.clone().try_acquire_owned() else {
                            let busy = Err(BackendError::TryAgain("leader busy".into()));
                            b.link.send_rpc(from, Rpc::Reply { id, body: busy });
                            continue;
                        };
                        tokio::spawn(async move {
                            let out = match body {
                                Forwarded::Write(op) => b.local_write(&op).await,
                                Forwarded::Read(op) => b.local_read(&op).await,
                                Forwarded::Reads(ops) => b.local_reads(&ops).await.map(|mut r| {
                                    r.truncate(replies_that_fit(&r, MAX_READS_REPLY_BYTES));
                                    Reply::Array(r)
                                }),
                                Forwarded::Transfer(t) => {
                                    b.local_transfer(t).await.map(|()| Reply::ok())
                                }
                                Forwarded::Membership(change) => {
                                    b.local_membership(change).await.map(|()| Reply::ok())
                                }
                            };
                            b.link.send_rpc(from, Rpc::Reply { id, body: out });
                            drop(permit);
                        });
                    }
                }
            }
        });
        Ok(backend)
    }

    /// The bound peer address (None for a one-member cluster).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }

    /// The driver (tests, metrics).
    pub fn driver(&self) -> &DriverHandle<KvMachine> {
        &self.driver
    }

    /// Where to send a request now: `Ok(None)` = here (leader), `Ok(Some(l))`
    /// = forward to `l`. Waits up to `leader_wait` for an election.
    async fn route(&self) -> Result<Option<NodeId>, BackendError> {
        // Only the three fields that decide the route are copied: this runs
        // for every request, and the whole status holds several vectors.
        let decided = |s: &DriverStatus| {
            (s.stopped || s.raft.leader.is_some()).then_some((
                s.stopped,
                s.raft.leader,
                s.raft.role,
            ))
        };
        let mut rx = self.driver.watch_status();
        let known = decided(&rx.borrow());
        let (stopped, leader, role) = match known {
            Some(d) => d,
            None => {
                let wait = rx.wait_for(|s| decided(s).is_some());
                match tokio::time::timeout(self.settings.leader_wait, wait).await {
                    Ok(Ok(s)) => decided(&s).unwrap_or((true, None, Role::Follower)),
                    Ok(Err(_)) => {
                        return Err(BackendError::Unavailable("the node is stopping".into()));
                    }
                    Err(_) => {
                        return Err(BackendError::TryAgain(
                            "no leader elected yet; retry".into(),
                        ));
                    }
                }
            }
        };
        if stopped {
            return Err(BackendError::Unavailable("the node is stopping".into()));
        }
        match leader {
            Some(l) if l == self.id && role == Role::Leader => Ok(None),
            Some(l) if l == self.id => Err(BackendError::TryAgain("no leader elected yet".into())),
            Some(l) => Ok(Some(l)),
            None => Err(BackendError::TryAgain("no leader elected yet".into())),
        }
    }

    /// Proposes `op` here (this node must lead) and waits for its result.
    /// The leader decides time: the op is encoded with the leader's clock,
    /// so relative expiries of a forwarded write count from it, not from
    /// the follower's.
    async fn local_write(&self, op: &WriteOp) -> Result<Reply, BackendError> {
        let bytes = op.encode_stamped(bitcask::now_millis());
        check_entry_size(bytes.len())?;
        let propose = self.driver.propose(Command::from(bytes));
        match tokio::time::timeout(self.settings.request_timeout, propose).await {
            Ok(r) => r.map_err(|e| self.driver_error(e)),
            Err(_) => Err(BackendError::Timeout(format!(
                "the write was not applied within {:?}",
                self.settings.request_timeout
            ))),
        }
    }

    /// A linearizable read served here (this node must lead).
    async fn local_read(&self, op: &ReadOp) -> Result<Reply, BackendError> {
        let mut replies = self.local_reads(std::slice::from_ref(op)).await?;
        replies
            .pop()
            .ok_or_else(|| BackendError::Fatal("a read produced no reply".into()))
    }

    /// Linearizable reads served here with one read index (this node must
    /// lead): they all arrived before it was taken.
    async fn local_reads(&self, ops: &[ReadOp]) -> Result<Vec<Reply>, BackendError> {
        let read = async {
            let index = self.driver.read_index().await?;
            self.driver.wait_applied(index).await
        };
        match tokio::time::timeout(self.settings.request_timeout, read).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.driver_error(e)),
            Err(_) => {
                return Err(BackendError::Timeout(format!(
                    "the read was not confirmed within {:?}",
                    self.settings.request_timeout
                )));
            }
        }
        let now = now_ms();
        ops.iter()
            .map(|op| {
                self.sm
                    .read(op, now)
                    .map_err(|e| BackendError::Fatal(e.to_string()))
            })
            .collect()
    }

    /// Proposes a membership change here (this node must lead) and waits
    /// until it is applied here.
    async fn local_membership(&self, change: MembershipChange) -> Result<(), BackendError> {
        let change = match change {
            MembershipChange::AddNode {
                id,
                addr,
                incarnation,
            } => ConfChange {
                kind: ConfChangeKind::AddLearner,
                node: id,
                context: super::identity::member_value(&addr, incarnation).into_bytes(),
            },
            MembershipChange::Promote(id) => ConfChange {
                kind: ConfChangeKind::Promote,
                node: id,
                context: Vec::new(),
            },
            MembershipChange::Remove(id) => ConfChange {
                kind: ConfChangeKind::Remove,
                node: id,
                context: Vec::new(),
            },
        };
        let (kind, node) = (change.kind, change.node);
        let proposed = self.driver.conf_change(change);
        match tokio::time::timeout(self.settings.request_timeout, proposed).await {
            Ok(Ok(_)) => {
                info!(node = self.id, change = %kind, member = node, "membership change committed");
                Ok(())
            }
            Ok(Err(e)) => Err(self.driver_error(e)),
            Err(_) => Err(BackendError::Timeout(format!(
                "the membership change was not applied within {:?}",
                self.settings.request_timeout
            ))),
        }
    }

    /// Keeps the transport's peers equal to the members of the Raft
    /// configuration, at the addresses the member book (or, for the initial
    /// members, `--peers`) gives; a joining node talks to the members it was
    /// told of until it has a configuration. Also tells the forwarder when
    /// the leader changes ([`Forwarder::leader_changed`]).
    fn follow_membership(self: &Arc<Self>) {
        let mut members = self.sm.watch_members();
        let mut status = self.driver.watch_status();
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            // The status changes with every driver iteration; the peers only
            // with the configuration or the book.
            let mut seen: Option<(raftlog::ConfState, raftlog::ConfState)> = None;
            let mut book_changed = true;
            let mut leader = None;
            loop {
                // A new leader: what waits on a deposed one ends now.
                let now_leader = status.borrow().raft.leader;
                if now_leader != leader {
                    leader = now_leader;
                    if let (Some(l), Some(b)) = (leader, weak.upgrade()) {
                        b.forwarder.leader_changed(l);
                    }
                }
                let conf_changed = {
                    let s = status.borrow_and_update();
                    seen.as_ref()
                        .is_none_or(|(c, k)| *c != s.conf || *k != s.committed_conf)
                };
                if conf_changed || book_changed {
                    let Some(b) = weak.upgrade() else { break };
                    let (conf, committed) = {
                        let s = status.borrow_and_update();
                        (s.conf.clone(), s.committed_conf.clone())
                    };
                    let book = members.borrow_and_update().clone();
                    b.link.set_expected(b.expected_incarnations(&book));
                    b.link.set_peers(&b.peer_set(&conf, &committed, &book));
                    seen = Some((conf, committed));
                }
                book_changed = false;
                tokio::select! {
                    r = status.changed() => if r.is_err() { break },
                    r = members.changed() => {
                        if r.is_err() { break }
                        book_changed = true;
                    }
                }
            }
        });
    }

    /// The incarnation each member added with `ADD-NODE` must present: the
    /// one its entry named, from the member book, or from the log while
    /// the book has not applied that entry yet.
    fn expected_incarnations(&self, book: &BTreeMap<NodeId, String>) -> BTreeMap<NodeId, u64> {
        let mut expected: BTreeMap<NodeId, u64> = book
            .iter()
            .filter_map(|(&id, value)| super::identity::split_member(value).1.map(|inc| (id, inc)))
            .collect();
        let applied = self.sm.applied_index();
        for (&id, &(index, inc)) in &self.log_incarnations {
            if index > applied {
                expected.insert(id, inc);
            }
        }
        expected
    }

    /// The peers to talk to: the members of the latest configuration and of
    /// the committed one. A node being removed stays reachable until its
    /// removal commits (a leader removing itself must still hear its
    /// followers' acknowledgements of that very entry).
    fn peer_set(
        &self,
        conf: &raftlog::ConfState,
        committed: &raftlog::ConfState,
        book: &BTreeMap<NodeId, String>,
    ) -> BTreeMap<NodeId, String> {
        let empty = |c: &raftlog::ConfState| c.voters.is_empty() && c.learners.is_empty();
        if empty(conf) && empty(committed) {
            return self.settings.peers.clone();
        }
        conf.voters
            .iter()
            .chain(&conf.learners)
            .chain(&committed.voters)
            .chain(&committed.learners)
            .filter(|&&m| m != self.id)
            .filter_map(|&m| {
                book.get(&m)
                    .or_else(|| self.log_book.get(&m))
                    .or_else(|| self.settings.peers.get(&m))
                    .map(|a| (m, super::identity::split_member(a).0.to_string()))
            })
            .collect()
    }

    /// Where member `id` listens for peers, if this node knows.
    fn member_addr(&self, id: NodeId) -> Option<String> {
        if id == self.id {
            return Some(
                self.peer_addr
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| self.settings.peer_listen.clone()),
            );
        }
        self.sm
            .members()
            .get(&id)
            .cloned()
            .or_else(|| self.log_book.get(&id).cloned())
            .or_else(|| self.settings.peers.get(&id).cloned())
            .map(|value| super::identity::split_member(&value).0.to_string())
    }

    /// This node's data-directory incarnation (`<data-dir>/IDENTITY`).
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    async fn local_transfer(&self, target: NodeId) -> Result<(), BackendError> {
        // A permanent refusal, not TRYAGAIN: retrying cannot help.
        if !self.driver.status().conf.voters.contains(&target) {
            return Err(BackendError::Invalid(format!(
                "node {target} is not a voter of this cluster"
            )));
        }
        self.driver
            .transfer(target)
            .await
            .map_err(|e| self.driver_error(e))
    }

    fn driver_error(&self, e: DriverError) -> BackendError {
        match e {
            DriverError::NotLeader(leader) => BackendError::NotLeader {
                leader,
                addr: leader.and_then(|l| self.member_addr(l)),
            },
            DriverError::TryAgain(m) => BackendError::TryAgain(m),
            DriverError::Invalid(m) => BackendError::Invalid(m),
            DriverError::Unknown(m) => BackendError::Timeout(m),
            DriverError::Stopped => BackendError::Unavailable("the node is stopping".into()),
        }
    }

    /// The leader to forward to when the local driver answered "not
    /// leader": that answer means nothing was proposed, so it is safe to
    /// forward once to the leader it names.
    fn redirect(&self, r: &Result<Reply, BackendError>) -> Option<NodeId> {
        match r {
            Err(BackendError::NotLeader {
                leader: Some(l), ..
            }) if *l != self.id => Some(*l),
            _ => None,
        }
    }

    async fn forward(&self, leader: NodeId, fwd: Forwarded) -> Result<Reply, BackendError> {
        self.forwarder.call(leader, fwd).await
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn role(r: Role) -> NodeRole {
    match r {
        Role::Leader => NodeRole::Leader,
        Role::Follower => NodeRole::Follower,
        Role::PreCandidate => NodeRole::PreCandidate,
        Role::Candidate => NodeRole::Candidate,
    }
}

/// Refuses an encoded write of `len` bytes that could never be replicated:
/// an entry must fit one peer frame, with room for the message around it.
fn check_entry_size(len: usize) -> Result<(), BackendError> {
    let max = max_entry_bytes(super::wire::DEFAULT_MAX_FRAME);
    if len > max {
        return Err(BackendError::TooLarge(format!(
            "request of {len} bytes exceeds the {max}-byte limit of one replicated log entry"
        )));
    }
    Ok(())
}

/// At most about this many bytes of replies answer one forwarded batch of
/// reads; the follower asks again for the rest. Far below a frame, so that
/// a batch of large values never holds the peer link (and the heartbeats
/// behind it) for long.
const MAX_READS_REPLY_BYTES: usize = 4 << 20;

/// How many of `replies`, from the first, fit in about `max` bytes (at
/// least one: a single reply always fits a frame, since no value is larger
/// than a log entry).
fn replies_that_fit(replies: &[Reply], max: usize) -> usize {
    fn size(r: &Reply) -> usize {
        16 + match r {
            Reply::Bulk(b) => b.len(),
            Reply::Simple(t) | Reply::Error(t) => t.len(),
            Reply::Array(a) => a.iter().map(size).sum(),
            Reply::Map(m) => m.iter().map(|(k, v)| size(k) + size(v)).sum(),
            Reply::Nil | Reply::Int(_) | Reply::NilArray => 0,
        }
    }
    let mut total = 0;
    let fit = replies
        .iter()
        .take_while(|r| {
            total += size(r);
            total <= max
        })
        .count();
    fit.max(1).min(replies.len())
}

/// The largest encoded write one log entry may carry: a peer frame less
/// room for the message (or forwarding RPC) around it.
pub fn max_entry_bytes(max_frame: u32) -> usize {
    (max_frame as usize).saturating_sub(64 * 1024)
}

impl Backend for RaftBackend {
    fn write(&self, op: WriteOp) -> BoxFuture<'_, Result<Reply, BackendError>> {
        Box::pin(async move {
            match self.route().await? {
                None => {
                    let r = self.local_write(&op).await;
                    match self.redirect(&r) {
                        Some(l) => self.forward(l, Forwarded::Write(op)).await,
                        None => r,
                    }
                }
                Some(l) => {
                    // Refused here rather than at the leader: a write too
                    // large for one entry would not fit the forwarding frame.
                    check_entry_size(op.encode().len())?;
                    self.forward(l, Forwarded::Write(op)).await
                }
            }
        })
    }

    fn read(&self, op: ReadOp) -> BoxFuture<'_, Result<Reply, BackendError>> {
        Box::pin(async move {
            match self.route().await? {
                None => {
                    let r = self.local_read(&op).await;
                    match self.redirect(&r) {
                        Some(l) => self.forward(l, Forwarded::Read(op)).await,
                        None => r,
                    }
                }
                Some(l) => self.forward(l, Forwarded::Read(op)).await,
            }
        })
    }

    fn read_many(&self, ops: Vec<ReadOp>) -> BoxFuture<'_, Vec<Result<Reply, BackendError>>> {
        Box::pin(async move {
            let n = ops.len();
            let mut out = Vec::with_capacity(n);
            let mut rest = ops;
            // A forwarded batch may come back answered in part (the replies
            // that fit one frame); the rest goes again, with a later read
            // index that is just as valid: every read was sent before any
            // was answered.
            while !rest.is_empty() {
                let r = match self.route().await {
                    Err(e) => Err(e),
                    Ok(None) => {
                        let r = self.local_reads(&rest).await.map(Reply::Array);
                        match self.redirect(&r) {
                            Some(l) => self.forward(l, Forwarded::Reads(rest.clone())).await,
                            None => r,
                        }
                    }
                    Ok(Some(l)) => self.forward(l, Forwarded::Reads(rest.clone())).await,
                };
                match r {
                    Ok(Reply::Array(replies)) if (1..=rest.len()).contains(&replies.len()) => {
                        rest.drain(..replies.len());
                        out.extend(replies.into_iter().map(Ok));
                    }
                    Ok(other) => {
                        // Reads have no effect, so a reply of the wrong shape
                        // (a bug) is an error for each, never a guess.
                        warn!(reply = ?other, "pipelined reads got a reply of the wrong shape");
                        let e =
                            BackendError::TryAgain("the reads got no usable reply; retry".into());
                        out.extend(std::iter::repeat_n(Err(e), rest.len()));
                        break;
                    }
                    Err(e) => {
                        out.extend(std::iter::repeat_n(Err(e), rest.len()));
                        break;
                    }
                }
            }
            out
        })
    }

    fn status(&self) -> NodeStatus {
        let st = self.driver.status();
        let links = self.link.0.as_ref().map(|t| t.status()).unwrap_or_default();
        let leader = st.raft.role == Role::Leader;
        let mut members: Vec<(NodeId, bool)> = st
            .conf
            .voters
            .iter()
            .map(|&v| (v, true))
            .chain(st.conf.learners.iter().map(|&l| (l, false)))
            .collect();
        if !members.iter().any(|(m, _)| *m == self.id) {
            // Joining (or removed): not a member of the configuration it knows.
            members.push((self.id, false));
        }
        let mut peers: Vec<PeerStatus> = members
            .into_iter()
            .map(|(m, voter)| {
                let link = links.iter().find(|l| l.id == m);
                let matched = if !leader {
                    None
                } else if m == self.id {
                    Some(st.raft.stable)
                } else {
                    Some(
                        st.progress
                            .iter()
                            .find(|p| p.id == m)
                            .map_or(0, |p| p.match_index),
                    )
                };
                PeerStatus {
                    id: m,
                    addr: self.member_addr(m).unwrap_or_default(),
                    voter,
                    match_index: matched,
                    lag: matched.map(|i| st.raft.last_index.saturating_sub(i)),
                    connected: m == self.id || link.is_some_and(|l| l.connected),
                }
            })
            .collect();
        peers.sort_by_key(|p| p.id);
        NodeStatus {
            mode: ReplicationMode::Raft,
            id: self.id,
            role: role(st.raft.role),
            term: st.raft.term,
            leader: st.raft.leader,
            commit_index: st.raft.commit,
            applied_index: self.driver.applied(),
            last_log_index: st.raft.last_index,
            first_log_index: st.raft.first_index,
            snapshot_index: st.raft.snapshot_index,
            snapshots_taken: self.metrics.snapshots_taken.get(),
            snapshots_installed: self.metrics.snapshots_installed.get(),
            read_index_rounds: self.metrics.read_index_rounds.get(),
            peers,
        }
    }

    fn transfer_leader(&self, target: u64) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let r = match self.route().await? {
                None => {
                    let r = self.local_transfer(target).await.map(|()| Reply::ok());
                    match self.redirect(&r) {
                        Some(l) => self.forward(l, Forwarded::Transfer(target)).await,
                        None => r,
                    }
                }
                Some(l) => self.forward(l, Forwarded::Transfer(target)).await,
            };
            r.map(|_| ())
        })
    }

    fn change_membership(
        &self,
        change: MembershipChange,
    ) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            if self.link.0.is_none() {
                return Err(BackendError::Invalid(
                    "this node has no peer listener (its --peer-listen address was taken at start); restart it with a free one to add members".into(),
                ));
            }
            let r = match self.route().await? {
                None => {
                    let r = self
                        .local_membership(change.clone())
                        .await
                        .map(|()| Reply::ok());
                    match self.redirect(&r) {
                        Some(l) => self.forward(l, Forwarded::Membership(change)).await,
                        None => r,
                    }
                }
                Some(l) => self.forward(l, Forwarded::Membership(change)).await,
            };
            r.map(|_| ())
        })
    }

    fn engine_stats(&self) -> Option<bitcask::StoreStats> {
        self.sm.store().map(|s| s.stats())
    }

    fn register_metrics(&self, r: &mut prometheus_client::registry::Registry) {
        self.metrics.register(r);
        let p = &self.peer_metrics;
        r.register(
            "peer_queue_items",
            "Items waiting in the outgoing queue to each peer",
            p.queued.clone(),
        );
        r.register(
            "peer_connected",
            "1 while the outgoing link to the peer is up",
            p.connected.clone(),
        );
        r.register(
            "peer_connects",
            "Outgoing connections established to each peer (reconnects + 1)",
            p.connects.clone(),
        );
        r.register(
            "peer_dropped",
            "Items dropped for each peer (queue full or peer unreachable; Raft resends)",
            p.dropped.clone(),
        );
        r.register(
            "peer_frames_sent",
            "Frames written to each peer",
            p.frames_sent.clone(),
        );
        r.register(
            "peer_identity_mismatches",
            "Handshakes with each peer refused because a data directory was lost or replaced under a voter's id (docs/server.md, \"Lost disk\")",
            p.identity_mismatches.clone(),
        );
    }

    fn refresh_metrics(&self) {
        let Some(t) = self.link.0.as_ref() else {
            return;
        };
        let p = &self.peer_metrics;
        for link in t.status() {
            let label = PeerLabel {
                peer: link.id.to_string(),
            };
            p.queued.get_or_create(&label).set(link.queued as i64);
            p.connected
                .get_or_create(&label)
                .set(i64::from(link.connected));
            crate::metrics::counter_to(&p.connects.get_or_create(&label), link.connects);
            crate::metrics::counter_to(&p.dropped.get_or_create(&label), link.dropped);
            crate::metrics::counter_to(&p.frames_sent.get_or_create(&label), link.frames_sent);
            crate::metrics::counter_to(
                &p.identity_mismatches.get_or_create(&label),
                link.identity_mismatches,
            );
        }
    }

    /// A pipeline of writes becomes as few log entries as fit: consecutive
    /// writes are proposed as one `Multi` entry (so they share one proposal,
    /// one forward round trip and one apply), and its array reply is split
    /// back into one reply per write. Applying them together is atomic,
    /// which is stronger than the pipeline's contract and changes no reply.
    fn write_many(&self, ops: Vec<WriteOp>) -> BoxFuture<'_, Vec<Result<Reply, BackendError>>> {
        Box::pin(async move {
            let max = max_entry_bytes(super::wire::DEFAULT_MAX_FRAME);
            let mut out = Vec::with_capacity(ops.len());
            for batch in pipeline_batches(ops, max) {
                out.extend(self.write_batch(batch).await);
            }
            out
        })
    }

    /// Only the leader backs up: it first confirms a read index (a quorum
    /// still follows it) and waits until it has applied that far, so the
    /// backup holds every write acknowledged before the command. A
    /// follower, or a deposed leader that has heard of its successor,
    /// refuses with `-ERR not leader` (a follower's applied prefix may miss
    /// acknowledged writes); a deposed leader that has not heard cannot
    /// confirm its read index and answers `TRYAGAIN`.
    fn backup(
        &self,
        dir: PathBuf,
    ) -> BoxFuture<'_, Result<crate::backup::BackupInfo, BackendError>> {
        Box::pin(async move {
            let st = self.driver.status();
            if st.raft.role != Role::Leader {
                let leader = st.raft.leader.filter(|&l| l != self.id);
                return Err(BackendError::NotLeader {
                    leader,
                    addr: leader.and_then(|l| self.member_addr(l)),
                });
            }
            let confirm = async {
                let index = self.driver.read_index().await?;
                self.driver.wait_applied(index).await
            };
            match tokio::time::timeout(self.settings.request_timeout, confirm).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(self.driver_error(e)),
                Err(_) => {
                    return Err(BackendError::TryAgain(
                        "could not confirm the leader's read index; nothing was written".into(),
                    ));
                }
            }
            let sm = self.sm.clone();
            tokio::task::spawn_blocking(move || crate::backup::take(&sm, &dir))
                .await
                .map_err(|e| BackendError::Backup(e.to_string()))?
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            self.hand_off_leadership().await;
            let r = self.driver.shutdown().await;
            let _ = self.transport_stop.send(true);
            match r {
                Ok(()) => Ok(()),
                Err(e) => Err(BackendError::Fatal(e.to_string())),
            }
        })
    }
}

/// Splits a pipeline into runs that each fit one log entry of `max` bytes.
/// A `Multi` (an `EXEC`) cannot nest, so it always travels alone, as does
/// a write too large to share an entry (it is refused on its own).
fn pipeline_batches(ops: Vec<WriteOp>, max: usize) -> Vec<Vec<WriteOp>> {
    // Each command inside a `Multi` costs its own encoding less the
    // `now_ms` and version bytes it no longer carries; an allowance of a
    // few bytes for the vector's length prefix keeps the sum an upper bound.
    const ENVELOPE: usize = 16;
    let mut batches: Vec<Vec<WriteOp>> = Vec::new();
    let mut current: Vec<WriteOp> = Vec::new();
    let mut current_bytes = ENVELOPE;
    for op in ops {
        let len = op.encode().len();
        let alone = matches!(op.cmd, WriteCmd::Multi(_)) || len + ENVELOPE > max;
        if alone || current_bytes + len > max {
            if !current.is_empty() {
                batches.push(std::mem::take(&mut current));
            }
            current_bytes = ENVELOPE;
        }
        if alone {
            batches.push(vec![op]);
            continue;
        }
        current_bytes += len;
        current.push(op);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

impl RaftBackend {
    /// Proposes `batch` as one entry and returns one result per write.
    async fn write_batch(&self, mut batch: Vec<WriteOp>) -> Vec<Result<Reply, BackendError>> {
        if batch.len() == 1 {
            let op = batch.remove(0);
            return vec![self.write(op).await];
        }
        let n = batch.len();
        let now_ms = batch[0].now_ms;
        let cmds = batch.into_iter().map(|op| op.cmd).collect();
        let multi = WriteOp::new(WriteCmd::Multi(cmds), now_ms);
        match self.write(multi).await {
            Ok(Reply::Array(replies)) if replies.len() == n => {
                replies.into_iter().map(Ok).collect()
            }
            Ok(other) => {
                // The state machine answers a `Multi` with one reply per
                // command; anything else is a bug, and the writes' outcome
                // is then unknown rather than failed.
                warn!(reply = ?other, "a pipelined batch got a reply of the wrong shape");
                let e = BackendError::Timeout("the batch's outcome is unknown".into());
                vec![Err(e); n]
            }
            Err(e) => vec![Err(e); n],
        }
    }

    /// A leader about to stop hands leadership to its most caught-up
    /// follower and waits briefly for the handover, so writes resume within
    /// a round trip instead of an election timeout.
    async fn hand_off_leadership(&self) {
        let st = self.driver.status();
        if st.raft.role != Role::Leader || st.conf.voters.len() < 2 {
            return;
        }
        let Some(target) = st
            .progress
            .iter()
            .filter(|p| p.voter && p.id != self.id)
            .max_by_key(|p| p.match_index)
            .map(|p| p.id)
        else {
            return;
        };
        if self.driver.transfer(target).await.is_err() {
            return;
        }
        let mut rx = self.driver.watch_status();
        let limit = self.settings.tick * self.settings.election_ticks;
        let moved = rx.wait_for(|s| s.raft.role != Role::Leader);
        match tokio::time::timeout(limit, moved).await {
            Ok(_) => info!(
                node = self.id,
                target, "handed leadership over before stopping"
            ),
            Err(_) => warn!(
                node = self.id,
                target, "leadership handover timed out; stopping anyway"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{SetCondition, SetExpiry};

    fn set(key: &str, value_len: usize) -> WriteOp {
        WriteOp::new(
            WriteCmd::Set {
                key: key.as_bytes().to_vec(),
                value: vec![b'v'; value_len],
                condition: SetCondition::Always,
                expiry: SetExpiry::Clear,
                get: false,
            },
            1,
        )
    }

    fn sizes(batches: &[Vec<WriteOp>]) -> Vec<usize> {
        batches.iter().map(Vec::len).collect()
    }

    #[test]
    fn forwarded_read_replies_are_cut_to_what_fits_one_frame() {
        let bulk = |n| Reply::Bulk(vec![b'x'; n]);
        let replies = vec![bulk(400), bulk(400), bulk(400), Reply::Int(1)];
        assert_eq!(replies_that_fit(&replies, 10_000), 4);
        assert_eq!(replies_that_fit(&replies, 900), 2);
        assert_eq!(replies_that_fit(&replies, 10), 1, "one always goes");
        assert_eq!(replies_that_fit(&[], 10), 0);
    }

    #[test]
    fn a_pipeline_that_fits_is_one_batch() {
        let ops: Vec<WriteOp> = (0..100).map(|i| set(&format!("k{i}"), 100)).collect();
        assert_eq!(sizes(&pipeline_batches(ops, 1 << 20)), vec![100]);
    }

    #[test]
    fn batches_never_exceed_one_entry_and_keep_order() {
        let ops: Vec<WriteOp> = (0..10).map(|i| set(&format!("k{i}"), 1000)).collect();
        let batches = pipeline_batches(ops, 3500);
        assert_eq!(sizes(&batches), vec![3, 3, 3, 1]);
        let keys: Vec<WriteCmd> = batches.into_iter().flatten().map(|op| op.cmd).collect();
        for (i, cmd) in keys.iter().enumerate() {
            let WriteCmd::Set { key, .. } = cmd else {
                panic!("not a set")
            };
            assert_eq!(key, format!("k{i}").as_bytes());
        }
        // The Multi that carries a full batch fits the limit.
        for batch in pipeline_batches((0..10).map(|i| set(&format!("k{i}"), 1000)).collect(), 3500)
        {
            let cmds = batch.into_iter().map(|op| op.cmd).collect();
            assert!(WriteOp::new(WriteCmd::Multi(cmds), 1).encode().len() <= 3500);
        }
    }

    #[test]
    fn a_multi_and_an_oversized_write_travel_alone() {
        let multi = WriteOp::new(WriteCmd::Multi(vec![set("m", 1).cmd]), 1);
        let ops = vec![
            set("a", 1),
            multi,
            set("b", 1),
            set("huge", 5000),
            set("c", 1),
        ];
        assert_eq!(sizes(&pipeline_batches(ops, 4096)), vec![1, 1, 1, 1, 1]);
    }
}
