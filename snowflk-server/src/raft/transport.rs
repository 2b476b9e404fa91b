//! The peer transport: TCP connections between the nodes of a cluster.
//!
//! - **One outgoing task and one bounded queue per peer.** [`Transport::send`]
//!   never waits: when a peer's queue is full (the peer is slow, paused or
//!   down) the item is dropped and counted. Raft tolerates lost messages; a
//!   forwarded request whose frame is dropped times out at its sender.
//! - The outgoing task dials the peer only at the address in the peer map,
//!   from a socket bound to this node's own peer-listen host (port 0), sends
//!   the [`Hello`](super::wire::Hello), waits for the
//!   [`Ack`](super::wire::Ack) (the handshake is `handshake.rs`: versions
//!   and incarnations), and then writes frames: everything
//!   queued at that moment goes out in one write (consecutive Raft messages
//!   in one frame). While disconnected it reconnects with exponential backoff
//!   and discards what is queued (stale Raft traffic is useless; Raft resends).
//! - The listener accepts connections, checks the handshake (version, cluster
//!   id, sender in the peer map, addressed to this node, its incarnation),
//!   and reads frames
//!   into the driver's and the forwarder's channels. Raft messages must name
//!   the connection's sender and this node, or they are dropped. The peer
//!   set follows the cluster's membership ([`Transport::set_peers`]). A peer that
//!   lies (bad handshake, garbage, oversized length) or disconnects mid-frame
//!   is logged with its address and dropped; nothing else is affected.
//! - With mutual TLS, every new connection (dialed or accepted) takes the
//!   certificates loaded last; they are reloaded on SIGHUP and when the
//!   files change ([`crate::tls::spawn_reloader`]), established
//!   connections keep theirs.
//! - Connections are one-way (see [`super::wire`]); a newer connection from
//!   the same peer replaces the older one, so connections stay bounded.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::AsyncWrite;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tracing::{debug, info, warn};

use raftlog::{Message, MessageBody, NodeId};

use super::handshake::{accept, dial, rejudge};
use super::identity::{Identities, IdentityError};
use super::wire::{self, AckStatus, LEN_PREFIX, PeerFrame, WireError};

/// Settings of the transport.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// This node's id.
    pub id: NodeId,
    /// The cluster id every peer must present.
    pub cluster_id: u64,
    /// The other members at start and the addresses this node dials them
    /// at ([`Transport::set_peers`] changes them later).
    pub peers: BTreeMap<NodeId, String>,
    /// The local address outgoing sockets are bound to (port 0); `None`
    /// lets the OS choose.
    pub bind_ip: Option<IpAddr>,
    /// Capacity of each peer's outgoing queue, in items.
    pub queue_len: usize,
    /// Hard limit on one frame body, both directions.
    pub max_frame: u32,
    /// First reconnect delay; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Limit on connecting, the handshake, and each write.
    pub io_timeout: Duration,
    /// Mutual TLS on every peer connection (`--peer-cert-file` ...); `None`
    /// for plain TCP. [`Transport::start`] reloads it on SIGHUP and when its
    /// files change.
    pub tls: Option<crate::tls::PeerTls>,
    /// This node's incarnation and the peers' seen so far: a voter that
    /// comes back with another data directory is refused both ways.
    pub identities: Arc<Identities>,
}

/// A peer byte stream: a TCP socket or a TLS session over one.
pub trait PeerStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> PeerStream for T {}

/// A boxed [`PeerStream`].
pub type BoxedStream = Box<dyn PeerStream>;

impl TransportConfig {
    /// Defaults for everything but identity and peers.
    pub fn new(id: NodeId, cluster_id: u64, peers: BTreeMap<NodeId, String>) -> Self {
        TransportConfig {
            id,
            cluster_id,
            peers,
            bind_ip: None,
            queue_len: 4096,
            max_frame: wire::DEFAULT_MAX_FRAME,
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_secs(1),
            io_timeout: Duration::from_secs(3),
            tls: None,
            identities: Arc::new(Identities::ephemeral()),
        }
    }
}

/// Something to send to one peer.
#[derive(Debug)]
pub enum Outbound<C, R> {
    /// A Raft message.
    Raft(Message<C>),
    /// A forwarding RPC.
    Rpc(R),
}

/// Where incoming frames go.
#[derive(Debug)]
pub struct Sinks<C, R> {
    /// Raft messages, checked to come from the connection's peer.
    pub raft: mpsc::Sender<Vec<Message<C>>>,
    /// Forwarding RPCs with the sending peer.
    pub rpc: mpsc::Sender<(NodeId, R)>,
}

/// Counters of one peer link.
#[derive(Debug, Default)]
pub struct PeerCounters {
    /// An outgoing connection is established.
    pub connected: AtomicBool,
    /// Items dropped because the queue was full or the peer unreachable.
    pub dropped: AtomicU64,
    /// Frames written.
    pub frames_sent: AtomicU64,
    /// Frames received on accepted connections.
    pub frames_received: AtomicU64,
    /// Outgoing connections established (the first one included).
    pub connects: AtomicU64,
    /// Handshakes with this peer that failed the data-directory identity
    /// check, on either side: it is a voter known with another incarnation,
    /// or it knew this node's id with another one.
    pub identity_mismatches: AtomicU64,
}

/// A point-in-time view of one peer link, for INFO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerLinkStatus {
    /// Peer id.
    pub id: NodeId,
    /// The address dialed.
    pub addr: String,
    /// An outgoing connection is established.
    pub connected: bool,
    /// Items dropped so far.
    pub dropped: u64,
    /// Frames written so far.
    pub frames_sent: u64,
    /// Frames received so far.
    pub frames_received: u64,
    /// Items waiting in the outgoing queue.
    pub queued: usize,
    /// Outgoing connections established so far (reconnects + 1).
    pub connects: u64,
    /// Handshakes that failed the data-directory identity check so far.
    pub identity_mismatches: u64,
}

/// Errors of one connection; logged, never fatal for the node.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// A socket operation failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The peer's bytes break the protocol.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The other side refused the handshake.
    #[error("refused by the peer: {0}")]
    Refused(AckStatus),
    /// The acceptor is known with another data directory.
    #[error(
        "peer {peer} presents data-directory incarnation {presented:016x}, but it is known as {known:016x}: its data directory was lost or replaced, so it may have forgotten votes and acknowledged entries; it is not talked to. Remove it (SNOWFLK REMOVE-NODE {peer}), empty its data directory and start it with --join (docs/server.md, \"Lost disk\")"
    )]
    ReplacedPeer {
        /// The peer's id.
        peer: NodeId,
        /// The incarnation recorded for it.
        known: u64,
        /// The one it presented.
        presented: u64,
    },
    /// A peer speaks protocol version 1 (no incarnation) although its id
    /// has presented one before.
    #[error(
        "peer {0} speaks peer protocol version 1, which cannot show a data-directory incarnation, but one is known for its id: upgrade that node"
    )]
    UnverifiedPeer(NodeId),
    /// The record of peers' incarnations could not be written.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The peer address does not resolve.
    #[error("address {0} does not resolve")]
    Unresolved(String),
    /// An operation took longer than the I/O timeout.
    #[error("{0} timed out")]
    Timeout(&'static str),
    /// The peer closed the connection.
    #[error("the peer closed the connection")]
    Closed,
    /// The connection ended in the middle of a frame.
    #[error("disconnected mid-frame ({got} of {len} bytes)")]
    MidFrame {
        /// Bytes received.
        got: usize,
        /// Bytes announced.
        len: usize,
    },
}

pub(super) fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> LinkError {
    move |source| LinkError::Io { op, source }
}

/// Counters of the peers this node knows, shared with the listener: a
/// connection is accepted only from a node in it.
pub(super) type Known = Arc<parking_lot::RwLock<BTreeMap<NodeId, Arc<PeerCounters>>>>;

/// One peer's outgoing link.
struct PeerLink<C, R> {
    addr: String,
    queue: mpsc::Sender<Outbound<C, R>>,
    counters: Arc<PeerCounters>,
    task: AbortHandle,
}

/// The running transport. Its peers change with the cluster's membership
/// ([`Transport::set_peers`]). Dropping it stops the outgoing tasks; the
/// listener stops on the shutdown signal.
pub struct Transport<C, R> {
    config: Arc<TransportConfig>,
    links: parking_lot::RwLock<BTreeMap<NodeId, PeerLink<C, R>>>,
    known: Known,
    shutdown: watch::Receiver<bool>,
}

impl<C, R> Drop for Transport<C, R> {
    fn drop(&mut self) {
        for link in self.links.read().values() {
            link.task.abort();
        }
    }
}

impl<C, R> Transport<C, R>
where
    C: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Starts the listener on `listener` and one outgoing task per peer.
    /// Everything stops when `shutdown` turns true. Must run inside a tokio
    /// runtime (as must [`Self::set_peers`]).
    pub fn start(
        config: TransportConfig,
        listener: TcpListener,
        sinks: Sinks<C, R>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        if let Some(tls) = &config.tls {
            // New connections, both ways, pick up reloaded certificates.
            tls.spawn_reloader(shutdown.clone());
        }
        let peers = config.peers.clone();
        let config = Arc::new(config);
        let known: Known = Arc::default();
        tokio::spawn(run_listener(
            config.clone(),
            listener,
            Arc::new(sinks),
            known.clone(),
            shutdown.clone(),
        ));
        let transport = Transport {
            config,
            links: parking_lot::RwLock::new(BTreeMap::new()),
            known,
            shutdown,
        };
        transport.set_peers(&peers);
        transport
    }

    /// Makes `expected` the incarnations the membership names for the
    /// members added with `ADD-NODE`; links to a peer that presented
    /// another one are dropped and refused from now on.
    pub fn set_expected(&self, expected: BTreeMap<NodeId, u64>) {
        self.config.identities.set_expected(expected);
    }

    /// Makes `peers` (id → address; this node's own id is ignored) the set
    /// of nodes this node talks to: links to nodes no longer in it stop and
    /// their connections are refused from now on, new nodes get a link, and
    /// a node whose address changed is redialed at the new one.
    pub fn set_peers(&self, peers: &BTreeMap<NodeId, String>) {
        let mut links = self.links.write();
        let gone: Vec<NodeId> = links
            .iter()
            .filter(|(id, l)| peers.get(id) != Some(&l.addr))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(link) = links.remove(&id) {
                link.task.abort();
                self.known.write().remove(&id);
                if !peers.contains_key(&id) {
                    info!(node = self.config.id, peer = id, addr = %link.addr, "peer link removed");
                }
            }
        }
        for (&id, addr) in peers {
            if id == self.config.id || links.contains_key(&id) {
                continue;
            }
            let (tx, rx) = mpsc::channel(self.config.queue_len.max(1));
            let counters = Arc::new(PeerCounters::default());
            let task = tokio::spawn(run_outgoing(
                self.config.clone(),
                id,
                addr.clone(),
                rx,
                counters.clone(),
                self.shutdown.clone(),
            ));
            self.known.write().insert(id, counters.clone());
            links.insert(
                id,
                PeerLink {
                    addr: addr.clone(),
                    queue: tx,
                    counters,
                    task: task.abort_handle(),
                },
            );
        }
    }

    /// Queues `item` for peer `to` without waiting. Returns false if it was
    /// dropped (queue full, or `to` is not a peer).
    pub fn send(&self, to: NodeId, item: Outbound<C, R>) -> bool {
        let links = self.links.read();
        let Some(link) = links.get(&to) else {
            return false;
        };
        match link.queue.try_send(item) {
            Ok(()) => true,
            Err(_) => {
                link.counters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// The state of every peer link, by id.
    pub fn status(&self) -> Vec<PeerLinkStatus> {
        self.links
            .read()
            .iter()
            .map(|(&id, l)| {
                let c = &l.counters;
                PeerLinkStatus {
                    id,
                    addr: l.addr.clone(),
                    connected: c.connected.load(Ordering::Relaxed),
                    dropped: c.dropped.load(Ordering::Relaxed),
                    frames_sent: c.frames_sent.load(Ordering::Relaxed),
                    frames_received: c.frames_received.load(Ordering::Relaxed),
                    queued: l.queue.max_capacity() - l.queue.capacity(),
                    connects: c.connects.load(Ordering::Relaxed),
                    identity_mismatches: c.identity_mismatches.load(Ordering::Relaxed),
                }
            })
            .collect()
    }
}

// ---------------------------------------------------------------- outgoing

async fn run_outgoing<C, R>(
    config: Arc<TransportConfig>,
    peer: NodeId,
    addr: String,
    mut rx: mpsc::Receiver<Outbound<C, R>>,
    counters: Arc<PeerCounters>,
    mut shutdown: watch::Receiver<bool>,
) where
    C: Serialize + Clone + Send + 'static,
    R: Serialize + Send + 'static,
{
    let mut backoff = config.backoff_min;
    let mut last_error: Option<String> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match dial(&config, peer, &addr).await {
            Ok((stream, incarnation)) => {
                info!(
                    node = config.id,
                    peer,
                    addr = %addr,
                    direction = "outgoing",
                    "peer connected"
                );
                counters.connected.store(true, Ordering::Relaxed);
                counters.connects.fetch_add(1, Ordering::Relaxed);
                backoff = config.backoff_min;
                last_error = None;
                let end = pump(
                    &config,
                    peer,
                    incarnation,
                    stream,
                    &mut rx,
                    &counters,
                    &mut shutdown,
                )
                .await;
                counters.connected.store(false, Ordering::Relaxed);
                match end {
                    Ok(()) => {
                        debug!(node = config.id, peer, "outgoing link closed");
                        return;
                    }
                    Err(e) => info!(
                        node = config.id,
                        peer,
                        addr = %addr,
                        direction = "outgoing",
                        error = %e,
                        "peer disconnected"
                    ),
                }
            }
            Err(e) => {
                let msg = e.to_string();
                // Log a new kind of failure loudly, repeats quietly.
                let replaced = matches!(
                    e,
                    LinkError::ReplacedPeer { .. } | LinkError::Refused(AckStatus::ReplacedNode)
                );
                if replaced {
                    counters.identity_mismatches.fetch_add(1, Ordering::Relaxed);
                }
                if replaced && last_error.as_deref() != Some(msg.as_str()) {
                    tracing::error!(node = config.id, peer, addr = %addr, error = %msg, "peer link refused: a data directory was lost or replaced under a voter's id; see docs/server.md, \"Lost disk\"");
                } else if last_error.as_deref() != Some(msg.as_str()) {
                    warn!(node = config.id, peer, addr = %addr, error = %msg, "cannot reach peer");
                } else {
                    debug!(node = config.id, peer, addr = %addr, error = %msg, "cannot reach peer");
                }
                last_error = Some(msg);
            }
        }
        // Wait before redialing; what is queued meanwhile is stale: drop it.
        let delay = jitter(backoff);
        backoff = (backoff * 2).min(config.backoff_max);
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                item = rx.recv() => match item {
                    Some(_) => { counters.dropped.fetch_add(1, Ordering::Relaxed); }
                    None => return,
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// A delay in `[d/2, d)`, so nodes that lost each other do not redial in step.
fn jitter(d: Duration) -> Duration {
    let nanos = d.as_nanos() as u64;
    let half = nanos / 2;
    Duration::from_nanos(half + rand::random_range(0..half.max(1)))
}

/// The largest number of queued items written in one go.
const MAX_BATCH: usize = 512;

/// Writes queued items until the queue closes (`Ok`) or the link fails, or
/// the membership names another incarnation for the peer than the one it
/// presented (`incarnation`).
#[allow(clippy::too_many_arguments)]
async fn pump<C, R>(
    config: &TransportConfig,
    peer: NodeId,
    incarnation: Option<u64>,
    stream: BoxedStream,
    rx: &mut mpsc::Receiver<Outbound<C, R>>,
    counters: &PeerCounters,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), LinkError>
where
    C: Serialize + Clone,
    R: Serialize,
{
    // The acceptor never writes after its ack, so the read half only ever
    // sees the end of the stream: a peer that died is noticed at once, not
    // at the next write (a follower seldom writes to another follower).
    let (mut closed, w) = tokio::io::split(stream);
    let mut w = BufWriter::with_capacity(256 << 10, w);
    let mut probe = [0u8; 1];
    let mut batch: Vec<Outbound<C, R>> = Vec::with_capacity(MAX_BATCH);
    let mut generation = config.identities.generation();
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, MAX_BATCH) => if n == 0 { return Ok(()) },
            _ = shutdown.changed() => return Ok(()),
            r = closed.read(&mut probe) => return Err(match r {
                Ok(0) => LinkError::Closed,
                Ok(_) => LinkError::Wire(WireError::UnexpectedBytes),
                Err(source) => LinkError::Io { op: "read", source },
            }),
        }
        if config.identities.generation() != generation {
            generation = config.identities.generation();
            rejudge(config, peer, incarnation)?;
        }
        let mut frames = Vec::new();
        encode_batch(&mut batch, config.max_frame, &mut frames, counters);
        let write = async {
            for f in &frames {
                w.write_all(f).await?;
            }
            w.flush().await
        };
        tokio::time::timeout(config.io_timeout, write)
            .await
            .map_err(|_| LinkError::Timeout("write"))?
            .map_err(io("write"))?;
        counters
            .frames_sent
            .fetch_add(frames.len() as u64, Ordering::Relaxed);
    }
}

/// The borrowed twin of [`PeerFrame`]: serializes to the same bytes without
/// copying the messages.
#[derive(Serialize)]
enum FrameRef<'a, C, R> {
    Raft(&'a [Message<C>]),
    Rpc(&'a R),
}

/// Encodes a drained batch into frames: runs of Raft messages share a frame
/// (split in halves while too large); each RPC is its own frame. A single
/// item too large for any frame is dropped, counted and logged.
fn encode_batch<C: Serialize + Clone, R: Serialize>(
    batch: &mut Vec<Outbound<C, R>>,
    max: u32,
    out: &mut Vec<Vec<u8>>,
    counters: &PeerCounters,
) {
    let mut run: Vec<Message<C>> = Vec::new();
    for item in batch.drain(..) {
        match item {
            Outbound::Raft(m) => run.push(m),
            Outbound::Rpc(r) => {
                encode_run(&run, max, out, counters);
                run.clear();
                push_frame(&FrameRef::<C, R>::Rpc(&r), 1, max, out, counters);
            }
        }
    }
    encode_run(&run, max, out, counters);
}

/// Splits an AppendEntries too large for one frame into two valid ones, the
/// second continuing where the first ends, so that a batch of large entries
/// still replicates (the leader frees its in-flight window by index, so two
/// answers to what it sent as one are fine).
fn split_append<C: Clone>(message: &Message<C>) -> Option<(Message<C>, Message<C>)> {
    let MessageBody::Append {
        prev_index,
        prev_term,
        entries,
        commit,
    } = &message.body
    else {
        return None;
    };
    if entries.len() < 2 {
        return None;
    }
    let (head, tail) = entries.split_at(entries.len() / 2);
    let last = head.last()?;
    let part = |prev_index, prev_term, entries: &[raftlog::Entry<C>]| Message {
        from: message.from,
        to: message.to,
        term: message.term,
        body: MessageBody::Append {
            prev_index,
            prev_term,
            entries: entries.to_vec(),
            commit: *commit,
        },
    };
    Some((
        part(*prev_index, *prev_term, head),
        part(last.index, last.term, tail),
    ))
}

fn encode_run<C: Serialize + Clone>(
    run: &[Message<C>],
    max: u32,
    out: &mut Vec<Vec<u8>>,
    counters: &PeerCounters,
) {
    if run.is_empty() {
        return;
    }
    match wire::encode_frame(&FrameRef::<C, ()>::Raft(run), max) {
        Ok(f) => out.push(f),
        Err(WireError::FrameTooLarge { .. }) if run.len() > 1 => {
            let (a, b) = run.split_at(run.len() / 2);
            encode_run(a, max, out, counters);
            encode_run(b, max, out, counters);
        }
        Err(e) => {
            // One AppendEntries too large: split it (built once, not twice).
            let halves = matches!(e, WireError::FrameTooLarge { .. })
                .then(|| split_append(&run[0]))
                .flatten();
            if let Some((a, b)) = halves {
                encode_run(&[a], max, out, counters);
                encode_run(&[b], max, out, counters);
            } else {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
                warn!(error = %e, "dropping a Raft message that cannot be framed");
            }
        }
    }
}

fn push_frame<T: Serialize>(
    frame: &T,
    items: u64,
    max: u32,
    out: &mut Vec<Vec<u8>>,
    counters: &PeerCounters,
) {
    match wire::encode_frame(frame, max) {
        Ok(f) => out.push(f),
        Err(e) => {
            counters.dropped.fetch_add(items, Ordering::Relaxed);
            warn!(error = %e, "dropping an RPC that cannot be framed");
        }
    }
}

// ---------------------------------------------------------------- incoming

/// Live accepted connections by peer, so a reconnecting peer replaces its
/// old connection instead of adding one.
type Live = Mutex<HashMap<NodeId, (u64, AbortHandle)>>;

/// Connections in the handshake at once; more are refused until one ends.
const MAX_HANDSHAKING: usize = 64;

async fn run_listener<C, R>(
    config: Arc<TransportConfig>,
    listener: TcpListener,
    sinks: Arc<Sinks<C, R>>,
    known: Known,
    mut shutdown: watch::Receiver<bool>,
) where
    C: DeserializeOwned + Send + 'static,
    R: DeserializeOwned + Send + 'static,
{
    let live: Arc<Live> = Arc::new(Mutex::new(HashMap::new()));
    let handshaking = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKING));
    let mut serial = 0u64;
    loop {
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    warn!(node = config.id, error = %e, "peer accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let Ok(permit) = handshaking.clone().try_acquire_owned() else {
            warn!(
                node = config.id,
                %addr,
                reason = "too many peer handshakes in progress",
                "refused peer connection"
            );
            continue;
        };
        serial += 1;
        let conn = serial;
        let (config, sinks, live2, known, shutdown) = (
            config.clone(),
            sinks.clone(),
            live.clone(),
            known.clone(),
            shutdown.clone(),
        );
        let (handle_tx, handle_rx) = tokio::sync::oneshot::channel::<AbortHandle>();
        let task = tokio::spawn(async move {
            let (peer, incarnation, reader) = match accept(&config, &known, stream, addr).await {
                Ok(x) => x,
                // A refused handshake was logged, with its fields, by accept.
                Err(LinkError::Refused(_)) => return,
                Err(e) => {
                    warn!(node = config.id, %addr, error = %e, "refused peer connection");
                    return;
                }
            };
            drop(permit);
            // The newest connection of a peer wins: abort the older one.
            if let Ok(me) = handle_rx.await {
                let old = live2.lock().insert(peer, (conn, me));
                if let Some((_, old)) = old {
                    old.abort();
                    info!(
                        node = config.id,
                        peer,
                        direction = "incoming",
                        reason = "replaced by a newer connection",
                        "peer disconnected"
                    );
                }
            }
            info!(node = config.id, peer, %addr, direction = "incoming", "peer connected");
            let c = known.read().get(&peer).cloned().unwrap_or_default();
            let end = read_frames(&config, peer, incarnation, reader, &sinks, &c, shutdown).await;
            {
                let mut l = live2.lock();
                if l.get(&peer).is_some_and(|(s, _)| *s == conn) {
                    l.remove(&peer);
                }
            }
            match end {
                Ok(()) => info!(
                    node = config.id,
                    peer,
                    %addr,
                    direction = "incoming",
                    "peer disconnected"
                ),
                Err(e) => warn!(
                    node = config.id,
                    peer,
                    %addr,
                    direction = "incoming",
                    error = %e,
                    "peer disconnected"
                ),
            }
        });
        let _ = handle_tx.send(task.abort_handle());
    }
    // Shutdown: stop every reader.
    for (_, (_, h)) in live.lock().drain() {
        h.abort();
    }
}

/// Reads one frame: `Ok(None)` on a clean end of stream at a frame boundary.
pub async fn read_frame<T, S>(reader: &mut S, max: u32) -> Result<Option<T>, LinkError>
where
    T: DeserializeOwned,
    S: AsyncRead + Unpin,
{
    let mut len = [0u8; LEN_PREFIX];
    let mut got = 0;
    while got < LEN_PREFIX {
        let n = reader
            .read(&mut len[got..])
            .await
            .map_err(io("read frame"))?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(LinkError::MidFrame {
                    got,
                    len: LEN_PREFIX,
                })
            };
        }
        got += n;
    }
    let len = wire::check_frame_len(u64::from(u32::from_le_bytes(len)), max)?;
    // Grow the buffer as bytes arrive: a lying length costs nothing until
    // the bytes are really sent.
    let mut body = Vec::with_capacity(len.min(64 << 10));
    (&mut *reader)
        .take(len as u64)
        .read_to_end(&mut body)
        .await
        .map_err(io("read frame"))?;
    if body.len() < len {
        return Err(LinkError::MidFrame {
            got: body.len(),
            len,
        });
    }
    Ok(Some(wire::decode_frame_body(&body)?))
}

#[allow(clippy::too_many_arguments)]
async fn read_frames<C, R>(
    config: &TransportConfig,
    peer: NodeId,
    incarnation: Option<u64>,
    mut reader: BufReader<BoxedStream>,
    sinks: &Sinks<C, R>,
    counters: &PeerCounters,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), LinkError>
where
    C: DeserializeOwned,
    R: DeserializeOwned,
{
    let mut generation = config.identities.generation();
    loop {
        let frame = tokio::select! {
            f = read_frame::<PeerFrame<C, R>, _>(&mut reader, config.max_frame) => f?,
            _ = shutdown.changed() => return Ok(()),
        };
        let Some(frame) = frame else {
            return Ok(());
        };
        // A frame from a peer the membership no longer vouches for is not
        // delivered: its votes and acknowledgements must not count.
        if config.identities.generation() != generation {
            generation = config.identities.generation();
            if let Err(e) = rejudge(config, peer, incarnation) {
                counters.identity_mismatches.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        }
        counters.frames_received.fetch_add(1, Ordering::Relaxed);
        match frame {
            PeerFrame::Raft(mut msgs) => {
                let before = msgs.len();
                msgs.retain(|m| m.from == peer && m.to == config.id);
                if msgs.len() != before {
                    warn!(
                        node = config.id,
                        peer,
                        dropped = before - msgs.len(),
                        "dropping Raft messages that do not name this link's nodes"
                    );
                }
                if !msgs.is_empty() && sinks.raft.send(msgs).await.is_err() {
                    return Ok(()); // the driver stopped
                }
            }
            PeerFrame::Rpc(r) => {
                if sinks.rpc.send((peer, r)).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "transport_tests.rs"]
mod tests;
