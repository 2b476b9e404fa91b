//! The apply thread (see the driver's docs): applies committed entries to
//! the state machine in order, answers the proposals waiting for them, and
//! takes and installs snapshot images between two applies.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, warn};

use raftlog::{Entry, Index, SnapshotMeta};

use super::driver::{DriverError, Event, ProposeResult, StateMachine, fatal_exit};
use super::persist::Worker;
use super::snapshot::Images;

/// A proposal placed at (index, term), waiting for its entry to apply.
pub(super) struct Waiter<O> {
    pub(super) index: Index,
    pub(super) term: u64,
    pub(super) reply: oneshot::Sender<ProposeResult<O>>,
}

pub(super) enum ApplyJob<C, O> {
    /// Proposals just placed, each waiting for its entry (sent alone only
    /// when no entries go with them: see [`ApplyJob::Entries`]).
    Register(Vec<Waiter<O>>),
    /// Proposals placed since the last job, registered first, then committed
    /// entries, in order. A leader's waiters ride with the next committed
    /// batch so that the apply thread wakes once per batch, not twice.
    Entries {
        waiters: Vec<Waiter<O>>,
        entries: Vec<Entry<C>>,
    },
    /// Replace the state with the received image in `dir` (at `meta.index`).
    Install { meta: SnapshotMeta, dir: PathBuf },
    /// Take a snapshot of what is applied now (the core has none to send a
    /// joining node).
    SnapshotNow,
}

/// The apply thread's snapshot schedule.
pub(super) struct Snapshotting {
    pub(super) images: Images,
    pub(super) entries: u64,
    pub(super) bytes: u64,
    pub(super) since_entries: u64,
    pub(super) since_bytes: u64,
    pub(super) events: mpsc::UnboundedSender<Event>,
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

/// The apply thread's proposals waiting for their entries, by index.
type Waiting<O> = BTreeMap<Index, (u64, oneshot::Sender<ProposeResult<O>>)>;

/// Adds proposals to those waiting; one placed again at an index (a new
/// leader term) replaces the older, whose outcome is then unknown.
fn register<O>(waiting: &mut Waiting<O>, inflight: &AtomicUsize, waiters: Vec<Waiter<O>>) {
    for Waiter { index, term, reply } in waiters {
        if let Some((_, old)) = waiting.insert(index, (term, reply)) {
            inflight.fetch_sub(1, Ordering::Relaxed);
            let _ = old.send(Err(DriverError::Unknown(
                "superseded by a later proposal at the same index".into(),
            )));
        }
    }
}

/// Waiting proposals beyond this many trigger a sweep of abandoned ones.
pub(super) const SWEEP_PENDING: usize = 4096;

pub(super) fn spawn_apply_thread<S: StateMachine>(
    sm: Arc<S>,
    applied: watch::Sender<Index>,
    inflight: Arc<AtomicUsize>,
    mut snapshotting: Option<Snapshotting>,
    metrics: super::metrics::RaftMetrics,
) -> Worker<ApplyJob<S::Command, S::Output>> {
    let (tx, rx) = std::sync::mpsc::channel::<ApplyJob<S::Command, S::Output>>();
    let thread = std::thread::Builder::new()
        .name("raft-apply".into())
        .spawn(move || {
            let mut waiting: Waiting<S::Output> = BTreeMap::new();
            let mut next_sweep = SWEEP_PENDING;
            // Index and term of the last applied entry (a snapshot's position).
            let mut last_applied: (Index, u64) = (sm.applied_index(), 0);
            while let Ok(job) = rx.recv() {
                let mut jobs = vec![job];
                jobs.extend(rx.try_iter().take(1024));
                let mut last = None;
                for job in jobs {
                    match job {
                        ApplyJob::Register(waiters) => {
                            register(&mut waiting, &inflight, waiters);
                        }
                        ApplyJob::Entries { waiters, entries } => {
                            register(&mut waiting, &inflight, waiters);
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
