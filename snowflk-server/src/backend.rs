//! Choosing a backend ([`build_backend`]) and the `none` backend: the engine
//! alone under `SyncPolicy::Always`, writes applied through the same
//! [`KvStateMachine::apply_batch`] as in Raft mode, so both modes share
//! every semantic.
//!
//! [`NoneBackend`] serializes writes through one writer thread that takes
//! every write waiting at that moment and applies them as one engine batch:
//! one fsync for all of them (group commit), each acknowledged only after it.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use bitcask::SyncPolicy;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::backup::BackupInfo;
use crate::config::{Config, Replication};
use crate::ops::{
    Backend, BackendError, BoxFuture, NodeRole, NodeStatus, PeerStatus, ReadOp, ReplicationMode,
    Reply, WriteOp,
};
use crate::state_machine::{self, KvStateMachine};

/// Why a backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The engine could not be opened (locked directory, corruption, I/O).
    #[error("cannot open the data directory {path}: {source}")]
    Engine {
        /// The engine directory.
        path: std::path::PathBuf,
        /// Why.
        source: state_machine::Error,
    },
    /// Another start-up failure (I/O, the Raft log, binding the peer port).
    #[error("{0}")]
    Other(String),
}

/// Builds the backend `config` asks for. The single place `main` picks one.
pub async fn build_backend(config: &Config) -> Result<Arc<dyn Backend>, StartError> {
    if let Some(backup) = &config.restore {
        let engine = engine_dir(&config.data_dir);
        bitcask::vfs::create_dir_all_durable(&config.data_dir).map_err(|e| {
            StartError::Other(format!("cannot create {}: {e}", config.data_dir.display()))
        })?;
        crate::backup::restore(backup, &config.data_dir, &engine)
            .map_err(|e| StartError::Other(e.to_string()))?;
    }
    match config.replication {
        Replication::None => Ok(Arc::new(NoneBackend::open(config)?)),
        Replication::Raft => {
            let dir = engine_dir(&config.data_dir);
            bitcask::vfs::create_dir_all_durable(&dir)
                .map_err(|e| StartError::Other(format!("cannot create {}: {e}", dir.display())))?;
            // The Raft log is the durability: the engine does not fsync per
            // write (see `raft::machine` and the crate docs).
            // The log replays whatever the engine held past its last sync,
            // so damage a power loss left in its active segment is cut off
            // instead of stopping the node (`Options::replaceable_active_tail`).
            let options = config
                .engine_options(SyncPolicy::Never)
                .replaceable_active_tail(true);
            let sm = KvStateMachine::open(&dir, options).map_err(|source| StartError::Engine {
                path: dir.clone(),
                source,
            })?;
            let mut settings = crate::raft::RaftSettings::from_config(config);
            let joiner = config.join.as_deref().map(|via| crate::join::Joiner {
                via,
                password: config.requirepass.as_deref(),
                id: config.id,
                cluster_name: &config.cluster_id,
            });
            let joined = crate::join::joined(&config.data_dir).map_err(StartError::Other)?;
            // Ask the cluster to add this node only if it never acknowledged
            // that it did: a node that joined restarts from its own state,
            // even when its unit still says `--join` and that member is gone
            // (or the node was removed since: it must not add itself back).
            let ask = match (joiner, &joined) {
                (Some(j), Some(done)) if done.acknowledged => {
                    tracing::info!(
                        via = j.via,
                        "this node already joined a cluster (its JOINED file says so): --join is not used again"
                    );
                    None
                }
                (j, _) => j,
            };
            if let Some(j) = ask {
                let members = crate::join::members(j, &config.peer_listen)
                    .await
                    .map_err(|e| StartError::Other(e.to_string()))?;
                tracing::info!(via = %j.via, members = ?members, "joining a cluster");
                crate::join::mark_joined(&config.data_dir, &members, false)
                    .map_err(|e| StartError::Other(e.to_string()))?;
                settings.join = true;
                settings.peers = members;
            } else if let Some(done) = joined {
                // A node that joined: its configuration comes from its
                // snapshot and log, never from the default one-member
                // `--peers`; the initial members' addresses from the file.
                if !done.acknowledged {
                    tracing::warn!(
                        "this node's join was never acknowledged (JOINED says joining): start it with --join to finish joining"
                    );
                }
                settings.join = true;
                settings.peers = done.members;
            }
            let members = settings.peers.clone();
            let backend = crate::raft::RaftBackend::start(settings, Arc::new(sm))
                .await
                .map_err(|e| StartError::Other(e.to_string()))?;
            if let Some(j) = ask {
                let own = backend
                    .peer_addr()
                    .map_or_else(|| config.peer_listen.clone(), |a| a.to_string());
                let added = crate::join::add_self(
                    j,
                    &own,
                    backend.incarnation(),
                    std::time::Duration::from_secs(30),
                )
                .await;
                let marked =
                    added.and_then(|()| crate::join::mark_joined(&config.data_dir, &members, true));
                if let Err(e) = marked {
                    let _ = backend.shutdown().await;
                    return Err(StartError::Other(e.to_string()));
                }
            }
            Ok(backend)
        }
    }
}

/// The engine directory inside a node's data directory.
pub fn engine_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("engine")
}

type Pending = (WriteOp, oneshot::Sender<Result<Reply, BackendError>>);

/// Most writes queued for the writer thread; more wait for room.
const QUEUE: usize = 4096;
/// Most writes applied in one engine batch.
const MAX_GROUP: usize = 1024;

/// `--replication none`: one durable engine, no replication.
#[derive(Debug)]
pub struct NoneBackend {
    sm: Arc<KvStateMachine>,
    id: u64,
    tx: Mutex<Option<mpsc::Sender<Pending>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl NoneBackend {
    /// Opens `<data-dir>/engine` under `SyncPolicy::Always` and starts the
    /// writer thread.
    pub fn open(config: &Config) -> Result<Self, StartError> {
        let dir = engine_dir(&config.data_dir);
        bitcask::vfs::create_dir_all_durable(&dir)
            .map_err(|e| StartError::Other(format!("cannot create {}: {e}", dir.display())))?;
        let sm = KvStateMachine::open(&dir, config.engine_options(SyncPolicy::Always)).map_err(
            |source| StartError::Engine {
                path: dir.clone(),
                source,
            },
        )?;
        Ok(Self::with_state_machine(Arc::new(sm), config.id))
    }

    /// Serves an already opened state machine (tests).
    pub fn with_state_machine(sm: Arc<KvStateMachine>, id: u64) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer_sm = sm.clone();
        let writer = std::thread::Builder::new()
            .name("snowflk-writer".into())
            .spawn(move || writer_loop(&writer_sm, rx))
            .ok();
        Self {
            sm,
            id,
            tx: Mutex::new(writer.as_ref().map(|_| tx)),
            writer: Mutex::new(writer),
        }
    }

    /// The state machine.
    pub fn state_machine(&self) -> &Arc<KvStateMachine> {
        &self.sm
    }
}

fn writer_loop(sm: &KvStateMachine, mut rx: mpsc::Receiver<Pending>) {
    let mut group: Vec<Pending> = Vec::with_capacity(MAX_GROUP);
    let mut failed: Option<String> = None;
    while let Some(first) = rx.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        if let Some(reason) = &failed {
            for (_, reply) in group.drain(..) {
                let _ = reply.send(Err(BackendError::Fatal(reason.clone())));
            }
            continue;
        }
        let first_index = sm.applied_index() + 1;
        let entries: Vec<(u64, &WriteOp)> = group
            .iter()
            .enumerate()
            .map(|(i, (op, _))| (first_index + i as u64, op))
            .collect();
        match sm.apply_batch(&entries) {
            Ok(replies) => {
                for ((_, reply), r) in group.drain(..).zip(replies) {
                    let _ = reply.send(Ok(r));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "engine write failed; refusing further writes");
                let reason = e.to_string();
                for (_, reply) in group.drain(..) {
                    let _ = reply.send(Err(BackendError::Fatal(reason.clone())));
                }
                failed = Some(reason);
            }
        }
    }
}

impl Backend for NoneBackend {
    fn write(&self, op: WriteOp) -> BoxFuture<'_, Result<Reply, BackendError>> {
        Box::pin(async move {
            let tx = self
                .tx
                .lock()
                .clone()
                .ok_or_else(|| BackendError::Unavailable("server is shutting down".into()))?;
            let (reply_tx, reply_rx) = oneshot::channel();
            tx.send((op, reply_tx))
                .await
                .map_err(|_| BackendError::Unavailable("server is shutting down".into()))?;
            // Once queued, the writer always answers unless it died mid-batch.
            reply_rx
                .await
                .map_err(|_| BackendError::Fatal("writer stopped".into()))?
        })
    }

    fn read(&self, op: ReadOp) -> BoxFuture<'_, Result<Reply, BackendError>> {
        Box::pin(async move {
            self.sm
                .read(&op, bitcask::now_millis())
                .map_err(|e| BackendError::Fatal(e.to_string()))
        })
    }

    fn status(&self) -> NodeStatus {
        let applied = self.sm.applied_index();
        NodeStatus {
            mode: ReplicationMode::None,
            id: self.id,
            role: NodeRole::Standalone,
            term: 0,
            leader: Some(self.id),
            commit_index: applied,
            applied_index: applied,
            last_log_index: applied,
            first_log_index: 0,
            snapshot_index: 0,
            snapshots_taken: 0,
            snapshots_installed: 0,
            read_index_rounds: 0,
            peers: vec![PeerStatus {
                id: self.id,
                addr: String::new(),
                voter: true,
                match_index: Some(applied),
                lag: Some(0),
                connected: true,
            }],
        }
    }

    fn engine_stats(&self) -> Option<bitcask::StoreStats> {
        self.sm.store().map(|s| s.stats())
    }

    /// Every acknowledged write is already in the engine (fsynced before
    /// its reply), so the checkpoint holds all of them.
    fn backup(&self, dir: std::path::PathBuf) -> BoxFuture<'_, Result<BackupInfo, BackendError>> {
        let sm = self.sm.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || crate::backup::take(&sm, &dir))
                .await
                .map_err(|e| BackendError::Backup(e.to_string()))?
        })
    }

    fn write_many(&self, ops: Vec<WriteOp>) -> BoxFuture<'_, Vec<Result<Reply, BackendError>>> {
        Box::pin(async move {
            let closed = || BackendError::Unavailable("server is shutting down".into());
            let tx = self.tx.lock().clone();
            // Queue all in order first (the channel is FIFO), then wait: the
            // writer thread puts them in one engine batch, one fsync.
            let mut waiting = Vec::with_capacity(ops.len());
            for op in ops {
                let queued = match &tx {
                    Some(tx) => {
                        let (reply_tx, reply_rx) = oneshot::channel();
                        tx.send((op, reply_tx)).await.ok().map(|()| reply_rx)
                    }
                    None => None,
                };
                waiting.push(queued);
            }
            let mut out = Vec::with_capacity(waiting.len());
            for w in waiting {
                out.push(match w {
                    Some(rx) => rx
                        .await
                        .unwrap_or_else(|_| Err(BackendError::Fatal("writer stopped".into()))),
                    None => Err(closed()),
                });
            }
            out
        })
    }

    fn transfer_leader(&self, _target: u64) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async {
            Err(BackendError::Unavailable(
                "no leadership to transfer with --replication none".into(),
            ))
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            // Dropping the sender lets the writer finish what is queued and stop.
            drop(self.tx.lock().take());
            let writer = self.writer.lock().take();
            let sm = self.sm.clone();
            tokio::task::spawn_blocking(move || {
                if let Some(w) = writer {
                    let _ = w.join();
                }
                sm.sync().map(|_| ())
            })
            .await
            .map_err(|e| BackendError::Fatal(e.to_string()))?
            .map_err(|e| BackendError::Fatal(e.to_string()))
        })
    }
}
