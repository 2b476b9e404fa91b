//! The Raft log's persistence thread (see the driver's docs): it writes
//! ready batches to the log store in the order the driver queued them,
//! merging the asynchronous writes queued while its previous fsync ran into
//! one append and one fsync, stages and publishes received snapshot images,
//! and records snapshots this node took.

use std::path::PathBuf;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use raftlog::{Entry, HardState, Index, LogStore, Ready, SnapshotMeta};

use super::driver::FatalError;
use super::snapshot::{Images, Incoming};

pub(super) enum PersistJob<C> {
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
pub(super) struct Persisted {
    /// The directory of a received image that was published (install it).
    pub(super) installed: Option<PathBuf>,
    /// A received snapshot whose chunks do not make a valid image: the
    /// staging area was reset; the core must be told to ask again.
    pub(super) refused: Option<Refused>,
}

/// A refused snapshot transfer (see [`Persisted::refused`]).
#[derive(Debug)]
pub(super) struct Refused {
    pub(super) index: Index,
    pub(super) reason: String,
}

pub(super) struct Worker<J> {
    pub(super) tx: Option<std::sync::mpsc::Sender<J>>,
    pub(super) thread: Option<std::thread::JoinHandle<()>>,
}

impl<J: Send + 'static> Worker<J> {
    /// Closes the queue and waits (off the runtime) until the thread drains it.
    pub(super) async fn finish(mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }

    pub(super) fn send(&self, job: J) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(job).is_ok())
    }
}

/// What the persistence thread reports for asynchronous writes: every
/// queued write up to this sequence number is durable (or the log failed).
pub(super) type WriteDone = (u64, Result<(), FatalError>);

pub(super) fn spawn_persist_thread<C, L>(
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
pub(super) fn merge_entries<C>(entries: &mut Vec<Entry<C>>, later: Vec<Entry<C>>) {
    if let (Some(first), Some(head)) = (later.first(), entries.first()) {
        let keep = first.index.saturating_sub(head.index);
        entries.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
    }
    entries.extend(later);
}

/// Persists one ready batch (see [`PersistJob::Ready`]). Chunks that do
/// not make a valid image (a malformed stream, a corrupt image) are refused
/// ([`Persisted::refused`]); only a failure of this node's disk is fatal.
pub(super) fn persist_batch<C, L: LogStore<C>>(
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
pub(super) fn record_snapshot<C, L: LogStore<C>>(
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
