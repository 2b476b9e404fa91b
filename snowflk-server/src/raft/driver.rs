//! The Raft driver: one tokio task owns the [`raftlog::Raft`] node.
//!
//! The task wakes on a tick, a batch of peer messages or a client request,
//! then drains everything else already queued (so a burst of requests is
//! handled as one batch), and then works through the node's [`Ready`]
//! batches in the documented order:
//!
//! 1. send [`Ready::messages`] (the leader's appends may leave before its own
//!    disk write, thesis §10.2.1);
//! 2. queue the hard state and entries on the persistence thread and go on
//!    (asynchronous log writes, raftlog's crate docs): the task does not
//!    wait for the disk, so a follower's acknowledgement that arrives during
//!    the leader's fsync is stepped at once, and a leader commits on a
//!    quorum of others while its own write is still in flight;
//! 3. send [`Ready::persisted_messages`] (votes and responses promise
//!    durability) once that write and every earlier one completed, and
//!    report it with [`raftlog::Raft::persisted`];
//! 4. hand the committed entries to the apply thread once they are durable
//!    in this node's log too (the engine, which is not fsynced, must never
//!    hold an entry the log could lose), release confirmed reads, fail
//!    dropped reads. A node that does not lead hands them over in bigger
//!    batches (every `FOLLOWER_APPLY_CHUNK` entries, or at the next tick):
//!    nobody waits for its applies.
//!
//! A batch of a snapshot transfer (chunks received, or an image to
//! install) is handled the plain way instead: after every queued write,
//! awaited, then [`raftlog::Raft::advance`].
//!
//! **Group commit.** Proposals drained in one iteration go to one
//! [`raftlog::Raft::propose_batch`], and the persistence thread merges every
//! write queued while its previous fsync ran into one append and one fsync,
//! on every node. The more clients, the more writes per fsync.
//!
//! **Reads.** All read requests drained in one iteration share one
//! [`raftlog::Raft::read_index`] call, hence one leadership-confirmation
//! round; each waiter then gets the read index and waits until the apply
//! thread has applied that far.
//!
//! **Apply.** A dedicated thread applies committed entries in order (the
//! engine is synchronous) and resolves waiting proposals: a proposal
//! succeeded if and only if the entry applied at its index has its term. An
//! entry of another term there means the proposal was replaced after a
//! leadership change; the waiter is told the outcome is unknown, never
//! "failed" (the brief errs on the side of the contract).
//!
//! **Snapshots** ([`SnapshotPolicy`]). Every so many applied entries the
//! apply thread writes an image of the state machine at the exact index it
//! applied ([`StateMachine::take_snapshot`], between two applies) and tells
//! the driver, which records it in the log store, purges the log before the
//! trailing window, drops older images (persistence thread) and then calls
//! [`raftlog::Raft::compact`]. A leader reads the chunks the core asks for
//! from the image on a blocking thread and hands them back
//! ([`raftlog::Raft::send_snapshot_chunk`]). A follower stages received
//! chunks on the persistence thread as part of the batch they came in,
//! finishes and records the image in the batch that completes it, and then
//! the apply thread installs it ([`StateMachine::install_snapshot`]) before
//! applying anything after it. At start, a recorded snapshot the state
//! machine does not hold yet (a crash between recording and installing) is
//! installed before the log is replayed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, error, info, warn};

use raftlog::{
    AppendResult, ConfChange, ConfState, Entry, Index, LogStore, Message, MessageBody, NodeId,
    PeerProgress, ProposeError, Raft, Ready, Role, StorageError,
};

use super::apply::{ApplyJob, Snapshotting, Waiter, spawn_apply_thread};
use super::persist::{PersistJob, Persisted, Worker, WriteDone, spawn_persist_thread};
use super::snapshot::{ImageReader, Images};

/// What the driver needs from the application's state machine.
pub trait StateMachine: Send + Sync + 'static {
    /// The replicated command.
    type Command: Clone + Debug + Send + Sync + Serialize + DeserializeOwned + 'static;
    /// The result of applying one command.
    type Output: Send + 'static;
    /// A fatal state machine failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The last index whose effects the state machine holds (after a restart:
    /// what it holds on disk). The log is replayed after it.
    fn applied_index(&self) -> Index;

    /// Applies committed entries in order (no-op entries included, to be
    /// skipped); returns the output of each command entry with its index.
    fn apply(
        &self,
        entries: &[Entry<Self::Command>],
    ) -> Result<Vec<(Index, Self::Output)>, Self::Error>;

    /// Makes everything applied durable (used at shutdown).
    fn sync(&self) -> Result<(), Self::Error>;

    /// Writes a durable image of the state at its applied index into `dir`
    /// (new), as files a follower can receive one by one; returns that
    /// index. Called on the apply thread between applies.
    fn take_snapshot(&self, dir: &std::path::Path) -> Result<Index, Self::Error>;

    /// Replaces the whole state with the image in `dir` (written by
    /// [`Self::take_snapshot`] here or on the leader), atomically with
    /// respect to crashes; returns the index it holds.
    fn install_snapshot(&self, dir: &std::path::Path) -> Result<Index, Self::Error>;

    /// The size of a command in bytes, for [`SnapshotPolicy::bytes`] (the
    /// default, 0, leaves snapshots to the entry count).
    fn command_len(command: &Self::Command) -> usize {
        let _ = command;
        0
    }
}

/// When and where the driver takes snapshots, so that the log (on disk and
/// in memory) stays bounded.
#[derive(Clone, Debug)]
pub struct SnapshotPolicy {
    /// Where images live (see [`super::snapshot`]).
    pub dir: std::path::PathBuf,
    /// Take a snapshot once this many entries were applied since the last.
    pub entries: u64,
    /// ... or once the applied commands since the last add up to this many
    /// bytes.
    pub bytes: u64,
}

/// Why a request to the driver had no (known) effect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// This node is not the leader; the request was certainly not proposed.
    #[error("not the leader (leader hint: {0:?})")]
    NotLeader(Option<NodeId>),
    /// Certainly not proposed; retrying may work.
    #[error("{0}")]
    TryAgain(String),
    /// Certainly not proposed, and retrying cannot help (e.g. a membership
    /// change that does not fit the configuration).
    #[error("{0}")]
    Invalid(String),
    /// The outcome is unknown (a write may still be applied).
    #[error("{0}")]
    Unknown(String),
    /// The driver has stopped.
    #[error("the Raft driver stopped")]
    Stopped,
}

/// Result of a proposal.
pub type ProposeResult<O> = Result<O, DriverError>;

/// A request to the driver task.
pub enum Request<C, O> {
    /// Propose a command; answered once applied.
    Propose {
        /// The command.
        command: C,
        /// Where the apply output goes.
        reply: oneshot::Sender<ProposeResult<O>>,
    },
    /// Ask for a read index (answered once leadership is confirmed).
    ReadIndex {
        /// Where the index goes.
        reply: oneshot::Sender<Result<Index, DriverError>>,
    },
    /// Propose a membership change; answered once applied.
    ConfChange {
        /// The change.
        change: ConfChange,
        /// Where the apply output goes.
        reply: oneshot::Sender<ProposeResult<O>>,
    },
    /// Start a leadership transfer.
    Transfer {
        /// The target node.
        target: NodeId,
        /// Outcome of starting it.
        reply: oneshot::Sender<Result<(), DriverError>>,
    },
}

/// Settings of the driver.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// The Raft configuration (its `applied` is overwritten with the state
    /// machine's applied index).
    pub raft: raftlog::Config,
    /// Real time per Raft tick.
    pub tick: Duration,
    /// Seed of the election-timeout randomness.
    pub seed: u64,
    /// Most proposals waiting to be applied at once; more are refused
    /// (TRYAGAIN) until some complete.
    pub max_pending_writes: usize,
    /// Capacity of the request channel.
    pub request_queue: usize,
    /// A read batch not confirmed within this time is given up (its waiters
    /// have timed out by then).
    pub read_timeout: Duration,
    /// Where the driver and the log report what they do.
    pub metrics: super::metrics::RaftMetrics,
    /// Snapshots and log purging; `None`: the log grows without bound.
    pub snapshots: Option<SnapshotPolicy>,
}

/// The node as the rest of the server sees it, published after every
/// driver iteration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverStatus {
    /// The core's status.
    pub raft: raftlog::Status,
    /// Leader only: the highest index each follower acknowledged this term.
    pub matched: BTreeMap<NodeId, Index>,
    /// The membership in effect (the latest in the log, committed or not).
    pub conf: ConfState,
    /// The membership at the commit index (differs from `conf` while a
    /// change is not committed yet).
    pub committed_conf: ConfState,
    /// Leader only: replication progress of every other member.
    pub progress: Vec<PeerProgress>,
    /// The driver stopped (shutdown or a fatal error).
    pub stopped: bool,
}

/// Sends Raft messages to peers (the transport, or a test network).
pub trait MessageSink<C>: Send + 'static {
    /// Queues a message without waiting; may drop it.
    fn send(&self, message: Message<C>);
}

/// A handle to a running driver: submit requests, watch status and progress.
pub struct DriverHandle<S: StateMachine> {
    requests: mpsc::Sender<Request<S::Command, S::Output>>,
    status: watch::Receiver<DriverStatus>,
    applied: watch::Receiver<Index>,
    shutdown: watch::Sender<bool>,
    task: parking_lot::Mutex<Option<tokio::task::JoinHandle<Result<(), FatalError>>>>,
}

/// A failure that stops the node.
#[derive(Debug, thiserror::Error)]
pub enum FatalError {
    /// The Raft log failed.
    #[error("raft log: {0}")]
    Storage(#[from] StorageError),
    /// The node could not start.
    #[error("raft: {0}")]
    Raft(#[from] raftlog::Error),
    /// The state machine failed.
    #[error("state machine: {0}")]
    StateMachine(String),
    /// A helper thread stopped unexpectedly.
    #[error("{0} thread stopped")]
    Thread(&'static str),
    /// A snapshot image could not be read, written or installed.
    #[error("snapshot: {0}")]
    Snapshot(String),
}

impl<S: StateMachine> DriverHandle<S> {
    /// Restores the node from `store` and starts the driver task, the
    /// persistence thread and the apply thread. `inbound` carries peer
    /// messages; `sink` sends them.
    pub fn start<L, K>(
        mut config: DriverConfig,
        store: L,
        sm: Arc<S>,
        inbound: mpsc::Receiver<Vec<Message<S::Command>>>,
        sink: K,
    ) -> Result<Self, FatalError>
    where
        L: LogStore<S::Command> + Send + 'static,
        K: MessageSink<S::Command>,
    {
        let restored = raftlog::storage::restore(&store)?;
        let images = match &config.snapshots {
            Some(p) => Some(
                super::snapshot::Images::open(&p.dir)
                    .map_err(|e| FatalError::Snapshot(e.to_string()))?,
            ),
            None => None,
        };
        if let (Some(images), Some(meta)) = (&images, &restored.snapshot) {
            // The log store recorded a snapshot the state machine does not
            // hold yet: a crash came between recording and installing it.
            if sm.applied_index() < meta.index {
                let image = images.image(meta.index, meta.term);
                info!(index = meta.index, image = %image.display(), "installing the recorded snapshot before replaying the log");
                let installed = sm
                    .install_snapshot(&image)
                    .map_err(|e| FatalError::Snapshot(format!("{}: {e}", image.display())))?;
                if installed != meta.index {
                    return Err(FatalError::Snapshot(format!(
                        "image {} holds index {installed}, the log recorded {}",
                        image.display(),
                        meta.index
                    )));
                }
            }
        }
        if let Some(images) = &images {
            images
                .clean(restored.snapshot.as_ref())
                .map_err(|e| FatalError::Snapshot(e.to_string()))?;
        }
        let applied = sm.applied_index();
        config.raft.applied = applied;
        let mut raft = Raft::new(config.raft.clone(), config.seed, restored)?;
        // The only voter needs nobody's vote: campaigning now makes a
        // one-member cluster serve at once instead of after an election
        // timeout (a second, at the default tick).
        if raft.conf_state().voters == [raft.id()] {
            raft.campaign();
        }
        info!(
            node = raft.id(),
            term = raft.status().term,
            last_index = raft.status().last_index,
            applied,
            "raft node restored"
        );
        let (req_tx, req_rx) = mpsc::channel(config.request_queue.max(1));
        let (status_tx, status_rx) = watch::channel(DriverStatus {
            raft: raft.status(),
            matched: BTreeMap::new(),
            conf: raft.conf_state(),
            committed_conf: raft
                .conf_state_at(raft.status().commit)
                .unwrap_or_else(|| raft.conf_state()),
            progress: Vec::new(),
            stopped: false,
        });
        let (applied_tx, applied_rx) = watch::channel(applied);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let inflight = Arc::new(AtomicUsize::new(0));
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (written_tx, written_rx) = mpsc::unbounded_channel();
        let persist =
            spawn_persist_thread(store, config.metrics.clone(), images.clone(), written_tx);
        let snapshotting = match (&config.snapshots, &images) {
            (Some(p), Some(images)) => Some(Snapshotting {
                images: images.clone(),
                entries: p.entries.max(1),
                bytes: p.bytes.max(1),
                since_entries: 0,
                since_bytes: 0,
                events: events_tx.clone(),
            }),
            _ => None,
        };
        let apply = spawn_apply_thread(
            sm.clone(),
            applied_tx,
            inflight.clone(),
            snapshotting,
            config.metrics.clone(),
        );
        let driver = Driver {
            raft,
            sink,
            persist: Some(persist),
            apply: Some(apply),
            sm,
            requests: req_rx,
            inbound,
            status: status_tx,
            pending_commands: Vec::new(),
            pending_replies: Vec::new(),
            unregistered: Vec::new(),
            waiting_reads: Vec::new(),
            reads: HashMap::new(),
            next_read_ctx: 1,
            matched: BTreeMap::new(),
            inflight,
            images,
            events: events_rx,
            events_tx,
            snapshot_asked: None,
            writes: VecDeque::new(),
            next_write_seq: 0,
            written: written_rx,
            unapplied: Vec::new(),
            config,
        };
        let task = tokio::spawn(driver.run(shutdown_rx));
        Ok(DriverHandle {
            requests: req_tx,
            status: status_rx,
            applied: applied_rx,
            shutdown: shutdown_tx,
            task: parking_lot::Mutex::new(Some(task)),
        })
    }

    /// Proposes `command`; resolves with its apply output. `Unknown` means
    /// the command may or may not be applied.
    pub async fn propose(&self, command: S::Command) -> ProposeResult<S::Output> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Propose { command, reply: tx })
            .await
            .map_err(|_| DriverError::Stopped)?;
        // Once queued, a lost answer means the outcome is unknown.
        rx.await
            .unwrap_or_else(|_| Err(DriverError::Unknown("the Raft driver stopped".into())))
    }

    /// Waits for a linearizable read index (leader only).
    pub async fn read_index(&self) -> Result<Index, DriverError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::ReadIndex { reply: tx })
            .await
            .map_err(|_| DriverError::Stopped)?;
        rx.await.unwrap_or(Err(DriverError::Stopped))
    }

    /// Waits until the apply thread has applied `index`.
    pub async fn wait_applied(&self, index: Index) -> Result<(), DriverError> {
        let mut rx = self.applied.clone();
        rx.wait_for(|a| *a >= index)
            .await
            .map(|_| ())
            .map_err(|_| DriverError::Stopped)
    }

    /// Proposes a membership change (leader only); resolves once it is
    /// applied here. `Unknown` means it may or may not take effect.
    pub async fn conf_change(&self, change: ConfChange) -> ProposeResult<S::Output> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::ConfChange { change, reply: tx })
            .await
            .map_err(|_| DriverError::Stopped)?;
        rx.await
            .unwrap_or_else(|_| Err(DriverError::Unknown("the Raft driver stopped".into())))
    }

    /// Starts a leadership transfer to `target`.
    pub async fn transfer(&self, target: NodeId) -> Result<(), DriverError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Transfer { target, reply: tx })
            .await
            .map_err(|_| DriverError::Stopped)?;
        rx.await.unwrap_or(Err(DriverError::Stopped))
    }

    /// The latest published status.
    pub fn status(&self) -> DriverStatus {
        self.status.borrow().clone()
    }

    /// A receiver of status changes.
    pub fn watch_status(&self) -> watch::Receiver<DriverStatus> {
        self.status.clone()
    }

    /// The index the apply thread has reached.
    pub fn applied(&self) -> Index {
        *self.applied.borrow()
    }

    /// Stops the driver: the in-flight persist finishes, the apply thread
    /// drains, the state machine is synced, the log store is closed.
    /// Idempotent.
    pub async fn shutdown(&self) -> Result<(), FatalError> {
        let _ = self.shutdown.send(true);
        let task = self.task.lock().take();
        match task {
            Some(t) => t.await.unwrap_or(Err(FatalError::Thread("driver"))),
            None => Ok(()),
        }
    }
}

/// What the apply thread and chunk readers tell the driver task.
pub(super) enum Event {
    /// The apply thread wrote the image of `index`@`term`.
    SnapshotTaken { index: Index, term: u64 },
    /// A chunk the core asked for was read.
    ChunkRead {
        request: raftlog::SnapshotRequest,
        read: Result<(Vec<u8>, bool), String>,
    },
}

/// A storage or apply failure leaves state that cannot be trusted: the node
/// stops at once (like a crash; the log and engine recover on restart).
pub(super) fn fatal_exit() -> ! {
    std::process::exit(70)
}

#[path = "driver_loop.rs"]
mod event_loop;
use event_loop::Driver;

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "driver_snapshot_tests.rs"]
mod snapshot_tests;
