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
//!    dropped reads.
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
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, error, info, warn};

use raftlog::{
    AppendResult, ConfChange, ConfState, Entry, HardState, Index, LogStore, Message, MessageBody,
    NodeId, PeerProgress, ProposeError, Raft, Ready, Role, SnapshotMeta, StorageError,
};

use super::snapshot::{ImageReader, Images, Incoming};

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

enum PersistJob<C> {
    /// Asynchronous write of one ready batch's hard state and entries. The
    /// thread merges consecutive queued writes into one append and one
    /// fsync, then reports the last merged `seq` on its completion channel.
    Write {
        seq: u64,
        hard_state: Option<HardState>,
        entries: Vec<Entry<C>>,
    },
    /// One ready batch: snapshot chunks to stage (a follower), then hard
    /// state, the snapshot record and entries, one fsync. Answers with the
    /// installed image's directory when the batch completes a snapshot.
    Ready {
        hard_state: Option<HardState>,
        entries: Vec<Entry<C>>,
        chunks: Vec<raftlog::ReceivedChunk>,
        snapshot: Option<SnapshotMeta>,
        done: oneshot::Sender<Result<Persisted, FatalError>>,
    },
    /// A snapshot this node took: record it, purge the log before
    /// `purge_to`, remove older images.
    Snapshot {
        meta: SnapshotMeta,
        purge_to: Index,
        done: oneshot::Sender<Result<Persisted, FatalError>>,
    },
}

/// What a persisted job reports back.
#[derive(Debug, Default)]
struct Persisted {
    /// The directory of a received image that was published (install it).
    installed: Option<PathBuf>,
    /// A received snapshot whose chunks do not make a valid image: the
    /// staging area was reset; the core must be told to ask again.
    refused: Option<Refused>,
}

/// A refused snapshot transfer (see [`Persisted::refused`]).
#[derive(Debug)]
struct Refused {
    index: Index,
    reason: String,
}

struct Worker<J> {
    tx: Option<std::sync::mpsc::Sender<J>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<J: Send + 'static> Worker<J> {
    /// Closes the queue and waits (off the runtime) until the thread drains it.
    async fn finish(mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }

    fn send(&self, job: J) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(job).is_ok())
    }
}

/// What the persistence thread reports for asynchronous writes: every
/// queued write up to this sequence number is durable (or the log failed).
type WriteDone = (u64, Result<(), FatalError>);

fn spawn_persist_thread<C, L>(
    mut store: L,
    metrics: super::metrics::RaftMetrics,
    images: Option<Images>,
    written: mpsc::UnboundedSender<WriteDone>,
) -> Worker<PersistJob<C>>
where
    C: Send + 'static,
    L: LogStore<C> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel::<PersistJob<C>>();
    let thread = std::thread::Builder::new()
        .name("raft-persist".into())
        .spawn(move || {
            let mut incoming = images.as_ref().map(|i| Incoming::new(i.incoming()));
            // A job taken off the queue while merging writes, run next.
            let mut held: Option<PersistJob<C>> = None;
            while let Some(job) = held.take().or_else(|| rx.recv().ok()) {
                match job {
                    PersistJob::Write {
                        mut seq,
                        mut hard_state,
                        mut entries,
                    } => {
                        // Group commit across ready batches: everything
                        // queued while the previous fsync ran goes in one.
                        loop {
                            match rx.try_recv() {
                                Ok(PersistJob::Write {
                                    seq: next,
                                    hard_state: hs,
                                    entries: more,
                                }) => {
                                    seq = next;
                                    hard_state = hs.or(hard_state);
                                    merge_entries(&mut entries, more);
                                }
                                Ok(other) => {
                                    held = Some(other);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        let ready = Ready {
                            hard_state,
                            entries,
                            ..Ready::default()
                        };
                        let r = persist_batch(&mut store, &metrics, None, None, ready).map(|_| ());
                        let _ = written.send((seq, r));
                    }
                    PersistJob::Ready {
                        hard_state,
                        entries,
                        chunks,
                        snapshot,
                        done,
                    } => {
                        let r = persist_batch(
                            &mut store,
                            &metrics,
                            images.as_ref(),
                            incoming.as_mut(),
                            Ready {
                                hard_state,
                                entries,
                                received_chunks: chunks,
                                snapshot,
                                ..Ready::default()
                            },
                        );
                        let _ = done.send(r);
                    }
                    PersistJob::Snapshot {
                        meta,
                        purge_to,
                        done,
                    } => {
                        let r = record_snapshot(&mut store, images.as_ref(), &meta, purge_to);
                        let _ = done.send(r.map(|()| Persisted::default()));
                    }
                }
            }
            // `store` drops here: files closed, the directory lock released.
        })
        .ok();
    Worker {
        tx: Some(tx),
        thread,
    }
}

/// Appends a later ready batch's entries to an earlier one's: the later
/// batch replaces the earlier entries from its first index on (it was
/// taken after the core truncated them), as the log store would.
fn merge_entries<C>(entries: &mut Vec<Entry<C>>, later: Vec<Entry<C>>) {
    if let (Some(first), Some(head)) = (later.first(), entries.first()) {
        let keep = first.index.saturating_sub(head.index);
        entries.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
    }
    entries.extend(later);
}

/// Persists one ready batch (see [`PersistJob::Ready`]). Chunks that do
/// not make a valid image (a malformed stream, a corrupt image) are refused
/// ([`Persisted::refused`]); only a failure of this node's disk is fatal.
fn persist_batch<C, L: LogStore<C>>(
    store: &mut L,
    metrics: &super::metrics::RaftMetrics,
    images: Option<&Images>,
    mut incoming: Option<&mut Incoming>,
    ready: Ready<C>,
) -> Result<Persisted, FatalError> {
    let snapshot_error = |e: super::snapshot::SnapshotError| FatalError::Snapshot(e.to_string());
    let mut refused = None;
    for chunk in &ready.received_chunks {
        let Some(incoming) = incoming.as_deref_mut() else {
            return Err(FatalError::Snapshot(
                "a snapshot chunk arrived, but this node keeps no snapshots".into(),
            ));
        };
        let staged = incoming
            .accept(&chunk.meta, chunk.offset, &chunk.data)
            .and_then(|()| match chunk.last {
                true => incoming.verify(&chunk.meta),
                false => Ok(()),
            });
        match staged {
            Ok(()) => {}
            Err(e) if e.is_local() => return Err(snapshot_error(e)),
            Err(e) => {
                incoming.abort().map_err(snapshot_error)?;
                refused = Some(Refused {
                    index: chunk.meta.index,
                    reason: e.to_string(),
                });
                break;
            }
        }
    }
    let mut installed = None;
    if let Some(meta) = &ready.snapshot {
        let (Some(incoming), Some(images)) = (incoming, images) else {
            return Err(FatalError::Snapshot(
                "asked to install a snapshot, but this node keeps no snapshots".into(),
            ));
        };
        installed = Some(incoming.finish(meta, images).map_err(snapshot_error)?);
    }
    let started = Instant::now();
    raftlog::storage::persist_ready(store, &ready)?;
    if !ready.entries.is_empty() || ready.hard_state.is_some() {
        metrics
            .log_fsync_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics
            .log_batch_entries
            .observe(ready.entries.len() as f64);
    }
    if let (Some(meta), Some(images)) = (&ready.snapshot, images) {
        // The new image is recorded: older ones are no longer needed.
        images.prune(Some(meta)).map_err(snapshot_error)?;
    }
    Ok(Persisted { installed, refused })
}

/// Records a snapshot this node took and bounds the log (see
/// [`PersistJob::Snapshot`]).
fn record_snapshot<C, L: LogStore<C>>(
    store: &mut L,
    images: Option<&Images>,
    meta: &SnapshotMeta,
    purge_to: Index,
) -> Result<(), FatalError> {
    store.save_snapshot(meta)?;
    if purge_to > 0 {
        store.purge_up_to(purge_to)?;
    }
    if let Some(images) = images {
        images
            .prune(Some(meta))
            .map_err(|e| FatalError::Snapshot(e.to_string()))?;
    }
    Ok(())
}

enum ApplyJob<C, O> {
    /// A proposal at (index, term) waits for its entry.
    Register {
        index: Index,
        term: u64,
        reply: oneshot::Sender<ProposeResult<O>>,
    },
    /// Committed entries, in order.
    Entries(Vec<Entry<C>>),
    /// Replace the state with the received image in `dir` (at `meta.index`).
    Install { meta: SnapshotMeta, dir: PathBuf },
    /// Take a snapshot of what is applied now (the core has none to send a
    /// joining node).
    SnapshotNow,
}

/// What the apply thread and chunk readers tell the driver task.
enum Event {
    /// The apply thread wrote the image of `index`@`term`.
    SnapshotTaken { index: Index, term: u64 },
    /// A chunk the core asked for was read.
    ChunkRead {
        request: raftlog::SnapshotRequest,
        read: Result<(Vec<u8>, bool), String>,
    },
}

/// The apply thread's snapshot schedule.
struct Snapshotting {
    images: Images,
    entries: u64,
    bytes: u64,
    since_entries: u64,
    since_bytes: u64,
    events: mpsc::UnboundedSender<Event>,
}

impl Snapshotting {
    /// Counts applied entries; true when a snapshot is due.
    fn count<S: StateMachine>(&mut self, entries: &[Entry<S::Command>]) -> bool {
        self.since_entries += entries.len() as u64;
        for e in entries {
            if let raftlog::EntryPayload::Command(c) = &e.payload {
                self.since_bytes += S::command_len(c) as u64;
            }
        }
        self.since_entries >= self.entries || self.since_bytes >= self.bytes
    }

    fn reset(&mut self) {
        self.since_entries = 0;
        self.since_bytes = 0;
    }

    /// Writes an image of the state at `last` (index and term of the last
    /// applied entry).
    fn take<S: StateMachine>(&mut self, sm: &S, last: (Index, u64)) {
        let (last_index, last_term) = last;
        if last_index == 0 {
            return;
        }
        let dir = self.images.taking(last_index);
        let _ = std::fs::remove_dir_all(&dir);
        let index = match sm.take_snapshot(&dir) {
            Ok(i) => i,
            Err(e) => {
                // Not fatal: the log keeps growing until a later one works.
                warn!(error = %e, dir = %dir.display(), "taking a snapshot failed");
                let _ = std::fs::remove_dir_all(&dir);
                self.reset();
                return;
            }
        };
        if index != last_index {
            warn!(
                index,
                last_index, "the snapshot's index is not the last applied entry; discarded"
            );
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
        let term = last_term;
        match self.images.publish(&dir, index, term) {
            Ok(_) => {
                self.reset();
                let _ = self.events.send(Event::SnapshotTaken { index, term });
            }
            Err(e) => warn!(error = %e, "publishing a snapshot failed"),
        }
    }
}

/// Waiting proposals beyond this many trigger a sweep of abandoned ones.
const SWEEP_PENDING: usize = 4096;

fn spawn_apply_thread<S: StateMachine>(
    sm: Arc<S>,
    applied: watch::Sender<Index>,
    inflight: Arc<AtomicUsize>,
    mut snapshotting: Option<Snapshotting>,
    metrics: super::metrics::RaftMetrics,
) -> Worker<ApplyJob<S::Command, S::Output>> {
    let (tx, rx) = std::sync::mpsc::channel::<ApplyJob<S::Command, S::Output>>();
    type Waiter<O> = (u64, oneshot::Sender<ProposeResult<O>>);
    let thread = std::thread::Builder::new()
        .name("raft-apply".into())
        .spawn(move || {
            let mut waiting: BTreeMap<Index, Waiter<S::Output>> = BTreeMap::new();
            let mut next_sweep = SWEEP_PENDING;
            // Index and term of the last applied entry (a snapshot's position).
            let mut last_applied: (Index, u64) = (sm.applied_index(), 0);
            while let Ok(job) = rx.recv() {
                let mut jobs = vec![job];
                jobs.extend(rx.try_iter().take(1024));
                let mut last = None;
                for job in jobs {
                    match job {
                        ApplyJob::Register { index, term, reply } => {
                            if let Some((_, old)) = waiting.insert(index, (term, reply)) {
                                inflight.fetch_sub(1, Ordering::Relaxed);
                                let _ = old.send(Err(DriverError::Unknown(
                                    "superseded by a later proposal at the same index".into(),
                                )));
                            }
                        }
                        ApplyJob::Entries(entries) => {
                            let outputs = match sm.apply(&entries) {
                                Ok(o) => o,
                                Err(e) => {
                                    error!(error = %e, "state machine apply failed; the node stops");
                                    fatal_exit();
                                }
                            };
                            let mut outputs = outputs.into_iter().peekable();
                            for e in &entries {
                                let out = match outputs.peek() {
                                    Some((i, _)) if *i == e.index => outputs.next().map(|x| x.1),
                                    _ => None,
                                };
                                if let Some((term, reply)) = waiting.remove(&e.index) {
                                    inflight.fetch_sub(1, Ordering::Relaxed);
                                    let r = match out {
                                        Some(o) if term == e.term => Ok(o),
                                        _ => Err(DriverError::Unknown(
                                            "leadership changed while the write was pending"
                                                .into(),
                                        )),
                                    };
                                    let _ = reply.send(r);
                                }
                            }
                            last = entries.last().map(|e| e.index).or(last);
                            if let Some(e) = entries.last() {
                                last_applied = (e.index, e.term);
                            }
                            if let Some(snap) = snapshotting.as_mut()
                                && snap.count::<S>(&entries)
                            {
                                applied.send_replace(last.unwrap_or_default());
                                let started = Instant::now();
                                snap.take(&*sm, last_applied);
                                metrics.snapshots_taken.inc();
                                metrics
                                    .snapshot_seconds
                                    .observe(started.elapsed().as_secs_f64());
                            }
                        }
                        ApplyJob::Install { meta, dir } => {
                            let started = Instant::now();
                            match sm.install_snapshot(&dir) {
                                Ok(i) if i == meta.index => {}
                                Ok(i) => {
                                    error!(index = i, expected = meta.index, dir = %dir.display(), "the installed snapshot holds another index; the node stops");
                                    fatal_exit();
                                }
                                Err(e) => {
                                    error!(error = %e, dir = %dir.display(), "installing a snapshot failed; the node stops");
                                    fatal_exit();
                                }
                            }
                            metrics.snapshots_installed.inc();
                            metrics
                                .snapshot_seconds
                                .observe(started.elapsed().as_secs_f64());
                            // Proposals the image covers were replaced by the
                            // leader's history: their outcome is unknown here.
                            let keep = waiting.split_off(&(meta.index + 1));
                            for (_, (_, reply)) in std::mem::replace(&mut waiting, keep) {
                                inflight.fetch_sub(1, Ordering::Relaxed);
                                let _ = reply.send(Err(DriverError::Unknown(
                                    "replaced by a snapshot from the leader".into(),
                                )));
                            }
                            if let Some(snap) = snapshotting.as_mut() {
                                snap.reset();
                            }
                            last = Some(meta.index);
                            last_applied = (meta.index, meta.term);
                        }
                        ApplyJob::SnapshotNow => {
                            // The term of an entry applied before a restart
                            // is not known here; the next applied batch
                            // tells it.
                            if let Some(snap) = snapshotting.as_mut()
                                && last_applied.1 != 0
                            {
                                applied.send_replace(last_applied.0);
                                let started = Instant::now();
                                snap.take(&*sm, last_applied);
                                metrics.snapshots_taken.inc();
                                metrics
                                    .snapshot_seconds
                                    .observe(started.elapsed().as_secs_f64());
                            }
                        }
                    }
                }
                if let Some(i) = last {
                    applied.send_replace(i);
                }
                if waiting.len() >= next_sweep {
                    let before = waiting.len();
                    waiting.retain(|_, (_, r)| !r.is_closed());
                    inflight.fetch_sub(before - waiting.len(), Ordering::Relaxed);
                    next_sweep = (waiting.len() * 2).max(SWEEP_PENDING);
                }
            }
            // Driver gone: whoever still waits learns the outcome is unknown.
            for (_, (_, reply)) in waiting {
                let _ = reply.send(Err(DriverError::Unknown("the node is stopping".into())));
            }
        })
        .ok();
    Worker {
        tx: Some(tx),
        thread,
    }
}

/// A storage or apply failure leaves state that cannot be trusted: the node
/// stops at once (like a crash; the log and engine recover on restart).
fn fatal_exit() -> ! {
    std::process::exit(70)
}

/// Where a read index goes.
type ReadWaiter = oneshot::Sender<Result<Index, DriverError>>;

struct Driver<S: StateMachine, K> {
    raft: Raft<S::Command>,
    sink: K,
    persist: Option<Worker<PersistJob<S::Command>>>,
    apply: Option<Worker<ApplyJob<S::Command, S::Output>>>,
    sm: Arc<S>,
    requests: mpsc::Receiver<Request<S::Command, S::Output>>,
    inbound: mpsc::Receiver<Vec<Message<S::Command>>>,
    status: watch::Sender<DriverStatus>,
    /// Proposals drained this iteration, proposed together.
    pending_commands: Vec<S::Command>,
    pending_replies: Vec<oneshot::Sender<ProposeResult<S::Output>>>,
    /// Reads drained this iteration, sharing one read index.
    waiting_reads: Vec<ReadWaiter>,
    /// Read batches waiting for their confirmation round, by context.
    reads: HashMap<u64, (Instant, Vec<ReadWaiter>)>,
    next_read_ctx: u64,
    matched: BTreeMap<NodeId, Index>,
    inflight: Arc<AtomicUsize>,
    /// Snapshot images (None: this node takes no snapshots).
    images: Option<Images>,
    events: mpsc::UnboundedReceiver<Event>,
    events_tx: mpsc::UnboundedSender<Event>,
    /// When the apply thread was last asked for a snapshot the core wants.
    snapshot_asked: Option<Instant>,
    /// Asynchronous log writes queued on the persistence thread, oldest first.
    writes: VecDeque<QueuedWrite<S::Command>>,
    next_write_seq: u64,
    written: mpsc::UnboundedReceiver<WriteDone>,
    /// Committed entries not yet durable in this node's own log: they are
    /// applied once they are (the engine must never get ahead of the log).
    unapplied: Vec<Entry<S::Command>>,
    config: DriverConfig,
}

/// A ready batch whose write is queued: what to do once it is durable.
struct QueuedWrite<C> {
    seq: u64,
    /// The batch's last entry, reported to the core ([`Raft::persisted`]).
    last: Option<(Index, raftlog::Term)>,
    /// Messages promising this write (and every earlier one) durable.
    messages: Vec<Message<C>>,
}

/// Most asynchronous writes queued at once; the driver waits for the
/// oldest beyond this (the disk is the bottleneck then, not the loop).
const MAX_QUEUED_WRITES: usize = 256;

/// Most requests (or message batches) drained per iteration, so ticks and
/// peers are never starved by a flood of one kind.
const MAX_DRAIN: usize = 8192;

impl<S: StateMachine, K: MessageSink<S::Command>> Driver<S, K> {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), FatalError> {
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
                    Ok(p) => self.register_waiter(p, reply),
                    Err(e) => {
                        let _ = reply.send(Err(propose_error(e)));
                    }
                }
            }
        }
    }

    /// Hands the apply thread the reply of the proposal placed at `p`, to
    /// answer once its entry applies; counts it as in flight meanwhile.
    fn register_waiter(
        &self,
        p: raftlog::Proposed,
        reply: oneshot::Sender<ProposeResult<S::Output>>,
    ) {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        let sent = self.apply.as_ref().is_some_and(|a| {
            a.send(ApplyJob::Register {
                index: p.index,
                term: p.term,
                reply,
            })
        });
        if !sent {
            self.inflight.fetch_sub(1, Ordering::Relaxed);
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
                for (p, reply) in placed.into_iter().zip(replies) {
                    self.register_waiter(p, reply);
                }
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
    /// this node's log.
    fn release_durable(&mut self) -> Result<(), FatalError> {
        let stable = self.raft.status().stable;
        let durable = self.unapplied.partition_point(|e| e.index <= stable);
        if durable == 0 {
            return Ok(());
        }
        let rest = self.unapplied.split_off(durable);
        let entries = std::mem::replace(&mut self.unapplied, rest);
        if self
            .apply
            .as_ref()
            .is_some_and(|a| a.send(ApplyJob::Entries(entries)))
        {
            Ok(())
        } else {
            Err(FatalError::Thread("apply"))
        }
    }

    /// A ready batch of a snapshot transfer, handled in order with the disk
    /// write awaited (nothing else is queued): persist, send what promises
    /// durability, install, apply, [`Raft::advance`].
    async fn process_ready_in_step(
        &mut self,
        mut ready: Ready<S::Command>,
    ) -> Result<(), FatalError> {
        self.release_durable()?;
        debug_assert!(self.unapplied.is_empty());
        // 4a. Committed entries already in the durable log go to the
        // apply thread now, before this batch's fsync. Entries at or past
        // this batch's first new entry are not durable here yet and wait
        // for step 2. With a snapshot to install, every committed entry
        // comes after it and waits for the install (step 4).
        let durable_below = if ready.snapshot.is_some() {
            0
        } else {
            ready.entries.first().map_or(Index::MAX, |e| e.index)
        };
        let split = ready
            .committed_entries
            .partition_point(|e| e.index < durable_below);
        if split > 0 {
            let rest = ready.committed_entries.split_off(split);
            let durable = std::mem::replace(&mut ready.committed_entries, rest);
            let sent = self
                .apply
                .as_ref()
                .is_some_and(|a| a.send(ApplyJob::Entries(durable)));
            if !sent {
                return Err(FatalError::Thread("apply"));
            }
        }
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
        // 4. A received snapshot replaces the state before the entries
        // after it are applied.
        if let (Some(meta), Some(dir)) = (ready.snapshot.take(), installed) {
            info!(
                node = self.raft.id(),
                index = meta.index,
                term = meta.term,
                "snapshot received from the leader; installing"
            );
            let sent = self
                .apply
                .as_ref()
                .is_some_and(|a| a.send(ApplyJob::Install { meta, dir }));
            if !sent {
                return Err(FatalError::Thread("apply"));
            }
        }
        // 4b. Apply the rest, then serve and fail reads.
        if !ready.committed_entries.is_empty() {
            let entries = std::mem::take(&mut ready.committed_entries);
            let sent = self
                .apply
                .as_ref()
                .is_some_and(|a| a.send(ApplyJob::Entries(entries)));
            if !sent {
                return Err(FatalError::Thread("apply"));
            }
        }
        self.finish_ready(&mut ready);
        // Every handed entry is durable now: nothing else was queued.
        self.raft.advance();
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
        // Requests not yet proposed were certainly not proposed.
        self.requests.close();
        while let Ok(req) = self.requests.try_recv() {
            self.take(req);
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
        if let Err(e) = self.drain_written() {
            warn!(node = self.raft.id(), error = %e, "applying the last durable entries at shutdown failed");
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use raftlog::{EntryPayload, MemLogStore};

    /// Echoes each command as its output.
    struct Echo;

    impl StateMachine for Echo {
        type Command = u64;
        type Output = u64;
        type Error = std::io::Error;
        fn applied_index(&self) -> Index {
            0
        }
        fn apply(&self, entries: &[Entry<u64>]) -> Result<Vec<(Index, u64)>, std::io::Error> {
            Ok(entries
                .iter()
                .filter_map(|e| match &e.payload {
                    EntryPayload::Command(c) => Some((e.index, *c)),
                    EntryPayload::Noop | EntryPayload::ConfChange(_) => None,
                })
                .collect())
        }
        fn sync(&self) -> Result<(), std::io::Error> {
            Ok(())
        }
        fn take_snapshot(&self, _: &std::path::Path) -> Result<Index, std::io::Error> {
            Err(std::io::Error::other("Echo keeps no snapshots"))
        }
        fn install_snapshot(&self, _: &std::path::Path) -> Result<Index, std::io::Error> {
            Err(std::io::Error::other("Echo keeps no snapshots"))
        }
    }

    /// A memory log whose appends take 2 ms, like an fsync, and are counted.
    struct SlowStore {
        inner: MemLogStore<u64>,
        appends: Arc<AtomicUsize>,
    }

    impl LogStore<u64> for SlowStore {
        fn hard_state(&self) -> Result<HardState, StorageError> {
            self.inner.hard_state()
        }
        fn save_hard_state(&mut self, hs: HardState) -> Result<(), StorageError> {
            self.inner.save_hard_state(hs)
        }
        fn append(&mut self, entries: &[Entry<u64>]) -> Result<(), StorageError> {
            std::thread::sleep(Duration::from_millis(2));
            self.appends.fetch_add(1, Ordering::Relaxed);
            self.inner.append(entries)
        }
        fn truncate_after(&mut self, index: Index) -> Result<(), StorageError> {
            self.inner.truncate_after(index)
        }
        fn purge_up_to(&mut self, index: Index) -> Result<(), StorageError> {
            self.inner.purge_up_to(index)
        }
        fn first_index(&self) -> Index {
            self.inner.first_index()
        }
        fn last_index(&self) -> Index {
            self.inner.last_index()
        }
        fn term(&self, index: Index) -> Result<Option<u64>, StorageError> {
            self.inner.term(index)
        }
        fn entries(
            &self,
            lo: Index,
            hi: Index,
            max_bytes: Option<u64>,
        ) -> Result<Vec<Entry<u64>>, StorageError> {
            self.inner.entries(lo, hi, max_bytes)
        }
    }

    struct NoPeers;

    impl MessageSink<u64> for NoPeers {
        fn send(&self, _: Message<u64>) {}
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_proposals_share_log_appends_and_reads_share_a_round() {
        let appends = Arc::new(AtomicUsize::new(0));
        let store = SlowStore {
            inner: MemLogStore::new(),
            appends: appends.clone(),
        };
        let config = DriverConfig {
            metrics: Default::default(),
            raft: raftlog::Config::new(1, [1]),
            tick: Duration::from_millis(1),
            seed: 7,
            max_pending_writes: 10_000,
            request_queue: 10_000,
            read_timeout: Duration::from_secs(5),
            snapshots: None,
        };
        let (_peers, inbound) = mpsc::channel(1);
        let h =
            Arc::new(DriverHandle::start(config, store, Arc::new(Echo), inbound, NoPeers).unwrap());
        let mut st = h.watch_status();
        st.wait_for(|s| s.raft.role == Role::Leader).await.unwrap();

        let before = appends.load(Ordering::Relaxed);
        let tasks: Vec<_> = (0..400u64)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move { (i, h.propose(i).await) })
            })
            .collect();
        for t in tasks {
            let (i, r) = t.await.unwrap();
            assert_eq!(r, Ok(i), "each proposal gets its own apply output");
        }
        let used = appends.load(Ordering::Relaxed) - before;
        assert!(
            used <= 100,
            "400 proposals took {used} log appends: no group commit"
        );

        let reads: Vec<_> = (0..50)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { h.read_index().await })
            })
            .collect();
        let last = h.status().raft.last_index;
        for r in reads {
            let index = r.await.unwrap().unwrap();
            assert!(
                index >= last,
                "read index {index} below the last write {last}"
            );
            h.wait_applied(index).await.unwrap();
        }
        h.shutdown().await.unwrap();
        assert!(h.status().stopped);
        assert_eq!(h.propose(1).await, Err(DriverError::Stopped));
    }

    /// A memory log whose appends wait for the test to open a gate, and
    /// record the indexes of each append.
    struct GatedStore {
        inner: MemLogStore<u64>,
        /// Each append sends its entries' indexes here, then waits for one
        /// permit on `gate`.
        entered: std::sync::mpsc::Sender<Vec<Index>>,
        gate: std::sync::mpsc::Receiver<()>,
        /// While false, appends pass without waiting or reporting.
        gated: Arc<std::sync::atomic::AtomicBool>,
    }

    impl LogStore<u64> for GatedStore {
        fn hard_state(&self) -> Result<HardState, StorageError> {
            self.inner.hard_state()
        }
        fn save_hard_state(&mut self, hs: HardState) -> Result<(), StorageError> {
            self.inner.save_hard_state(hs)
        }
        fn append(&mut self, entries: &[Entry<u64>]) -> Result<(), StorageError> {
            if self.gated.load(Ordering::SeqCst) {
                let _ = self.entered.send(entries.iter().map(|e| e.index).collect());
                self.gate
                    .recv()
                    .map_err(|_| StorageError::Other("gate closed".into()))?;
            }
            self.inner.append(entries)
        }
        fn truncate_after(&mut self, index: Index) -> Result<(), StorageError> {
            self.inner.truncate_after(index)
        }
        fn purge_up_to(&mut self, index: Index) -> Result<(), StorageError> {
            self.inner.purge_up_to(index)
        }
        fn first_index(&self) -> Index {
            self.inner.first_index()
        }
        fn last_index(&self) -> Index {
            self.inner.last_index()
        }
        fn term(&self, index: Index) -> Result<Option<u64>, StorageError> {
            self.inner.term(index)
        }
        fn entries(
            &self,
            lo: Index,
            hi: Index,
            max_bytes: Option<u64>,
        ) -> Result<Vec<Entry<u64>>, StorageError> {
            self.inner.entries(lo, hi, max_bytes)
        }
    }

    /// Asynchronous log writes: while one write waits for the disk the
    /// driver goes on proposing (the old loop awaited every write before
    /// taking the next request), the writes queued meanwhile go to the log
    /// as one append, and nothing is applied before it is durable.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn proposals_go_on_while_a_log_write_waits_and_queued_writes_merge() {
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let (gate, gate_rx) = std::sync::mpsc::channel();
        let store = GatedStore {
            inner: MemLogStore::new(),
            entered: entered_tx,
            gate: gate_rx,
            gated: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        };
        let config = DriverConfig {
            metrics: Default::default(),
            raft: raftlog::Config::new(1, [1]),
            tick: Duration::from_millis(1),
            seed: 7,
            max_pending_writes: 10_000,
            request_queue: 10_000,
            read_timeout: Duration::from_secs(5),
            snapshots: None,
        };
        let (_peers, inbound) = mpsc::channel(1);
        let h =
            Arc::new(DriverHandle::start(config, store, Arc::new(Echo), inbound, NoPeers).unwrap());
        let entered = Arc::new(parking_lot::Mutex::new(entered));
        let next_append = move || {
            let entered = entered.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    entered
                        .lock()
                        .recv_timeout(Duration::from_secs(10))
                        .expect("the driver never wrote its log")
                })
                .await
                .unwrap()
            }
        };
        // The leader's no-op is written first.
        assert_eq!(next_append().await, vec![1]);
        gate.send(()).unwrap();
        let mut st = h.watch_status();
        st.wait_for(|s| s.raft.role == Role::Leader && s.raft.commit >= 1)
            .await
            .unwrap();

        let first = {
            let h = h.clone();
            tokio::spawn(async move { h.propose(100).await })
        };
        assert_eq!(next_append().await, vec![2], "the first write");
        // The write of index 2 is held: more proposals are still taken.
        let more: Vec<_> = (101..104u64)
            .map(|c| {
                let h = h.clone();
                tokio::spawn(async move { (c, h.propose(c).await) })
            })
            .collect();
        tokio::time::timeout(
            Duration::from_secs(10),
            st.wait_for(|s| s.raft.last_index == 5),
        )
        .await
        .expect("proposals waited for the disk write before them")
        .unwrap();
        assert_eq!(h.applied(), 1, "nothing is applied before it is durable");
        gate.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(100));
        // Everything queued during the first write: one append.
        assert_eq!(next_append().await, vec![3, 4, 5]);
        gate.send(()).unwrap();
        for t in more {
            let (c, r) = t.await.unwrap();
            assert_eq!(r, Ok(c));
        }
        drop(gate);
        h.shutdown().await.unwrap();
    }

    /// Delivers messages between in-process drivers by their `to`.
    type Inboxes = BTreeMap<NodeId, mpsc::Sender<Vec<Message<u64>>>>;

    struct Wires(Arc<parking_lot::Mutex<Inboxes>>);

    impl MessageSink<u64> for Wires {
        fn send(&self, m: Message<u64>) {
            if let Some(tx) = self.0.lock().get(&m.to) {
                let _ = tx.try_send(vec![m]);
            }
        }
    }

    /// A leader commits on its two followers' acknowledgements while its own
    /// log write is still held, but applies the entry only once that write
    /// is durable: the engine is not fsynced, so applying earlier could let
    /// it hold an entry that a power loss takes from the log.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_leader_commits_on_followers_but_applies_only_what_its_own_log_holds() {
        let wires = Arc::new(parking_lot::Mutex::new(BTreeMap::new()));
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let (gate, gate_rx) = std::sync::mpsc::channel();
        let gated = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut handles = BTreeMap::new();
        let mut gated_store = Some(GatedStore {
            inner: MemLogStore::new(),
            entered: entered_tx,
            gate: gate_rx,
            gated: gated.clone(),
        });
        for id in 1..=3u64 {
            let (tx, inbound) = mpsc::channel(1024);
            wires.lock().insert(id, tx);
            let config = DriverConfig {
                metrics: Default::default(),
                raft: raftlog::Config::new(id, [1, 2, 3]),
                tick: Duration::from_millis(2),
                seed: id,
                max_pending_writes: 10_000,
                request_queue: 10_000,
                read_timeout: Duration::from_secs(5),
                snapshots: None,
            };
            let sink = Wires(wires.clone());
            let h = match gated_store.take().filter(|_| id == 1) {
                Some(store) => DriverHandle::start(config, store, Arc::new(Echo), inbound, sink),
                None => {
                    DriverHandle::start(config, MemLogStore::new(), Arc::new(Echo), inbound, sink)
                }
            };
            handles.insert(id, Arc::new(h.unwrap()));
        }
        let one = handles[&1].clone();
        let mut st = one.watch_status();
        // Make node 1 the leader, with its no-op committed.
        let within = Duration::from_secs(20);
        tokio::time::timeout(within, async {
            loop {
                let s = one.status().raft;
                if s.role == Role::Leader && s.commit >= s.last_index && s.commit > 0 {
                    break;
                }
                if let Some(l) = s.leader.filter(|&l| l != 1) {
                    let _ = handles[&l].transfer(1).await;
                }
                let _ = tokio::time::timeout(Duration::from_millis(50), st.changed()).await;
            }
        })
        .await
        .expect("node 1 never became leader");

        gated.store(true, Ordering::SeqCst);
        let proposal = {
            let one = one.clone();
            tokio::spawn(async move { one.propose(42).await })
        };
        let index = tokio::task::spawn_blocking(move || {
            entered
                .recv_timeout(Duration::from_secs(10))
                .expect("the leader never wrote its log")
        })
        .await
        .unwrap()[0];
        tokio::time::timeout(within, st.wait_for(|s| s.raft.commit >= index))
            .await
            .expect("the followers' acknowledgements did not commit the entry")
            .unwrap();
        for id in [2, 3] {
            tokio::time::timeout(within, handles[&id].wait_applied(index))
                .await
                .expect("a follower never applied the entry")
                .unwrap();
        }
        // The followers applied it; the leader must not, however long it
        // is given (a bounded wait for what must not happen).
        let early = tokio::time::timeout(Duration::from_millis(300), one.wait_applied(index)).await;
        assert!(
            early.is_err(),
            "applied {} before the leader's own write of {index} completed",
            one.applied()
        );
        gated.store(false, Ordering::SeqCst);
        gate.send(()).unwrap();
        assert_eq!(proposal.await.unwrap(), Ok(42));
        tokio::time::timeout(within, one.wait_applied(index))
            .await
            .expect("the leader never applied its entry")
            .unwrap();
        for h in handles.values() {
            h.shutdown().await.unwrap();
        }
    }
}

#[cfg(test)]
#[path = "driver_snapshot_tests.rs"]
mod snapshot_tests;
