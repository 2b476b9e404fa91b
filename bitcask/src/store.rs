//! The store: [`Bitcask`], its write path with group commit, and its read path.
//!
//! # Concurrency
//! - One writer at a time holds the writer mutex while it assigns sequence
//!   numbers and appends records to the active segment's in-memory buffer.
//!   It never holds it across an `fsync`.
//! - Under [`SyncPolicy::Always`], writers then wait for a *sync round*: the
//!   first waiter becomes the leader, writes out everything buffered so far,
//!   releases the writer mutex, fsyncs, and only then applies the records to
//!   the keydir (so a reader never sees a write that a crash could still
//!   lose) and wakes every writer whose records it covered. Writers arriving
//!   during the fsync are covered by the next round: one fsync for many writes.
//! - Readers look the key up in the keydir (a shard read lock, no I/O), then
//!   read the record with one positioned read without any lock. Only a
//!   record still in the write buffer (never under `Always`) is copied from
//!   the buffer under the writer mutex.
//! - If an fsync fails under `Always`, everything not yet durable is rolled
//!   back (the file is cut to its last durable length) and every waiting
//!   writer gets the error: an error means the write did not happen.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::error::{Error, Result};
use crate::format::{
    self, FILE_HEADER_LEN, FileKind, MAX_KEY_LEN, MAX_VALUE_LEN, Record, RecordKind,
};
use crate::keydir::{Entry, Keydir, MAX_SEQ, SHARDS};
use crate::merge::MergeOutcome;
use crate::options::{MAX_FILE_SIZE_LIMIT, Options, SyncPolicy};
use crate::recovery::{self, Recovered};
use crate::segment::{Appender, Segment};
use crate::stats::{StoreStats, Tracker};
use crate::vfs::DirLock;

/// One operation of a [`Bitcask::write_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// Set `key` to `value`, expiring at `expiry` (milliseconds since the
    /// Unix epoch; 0 for never).
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// Expiry in ms since the Unix epoch, 0 for none.
        expiry: u64,
    },
    /// Delete `key`.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

impl BatchOp {
    /// A put without expiry.
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self::Put {
            key: key.into(),
            value: value.into(),
            expiry: 0,
        }
    }

    /// A delete.
    pub fn delete(key: impl Into<Vec<u8>>) -> Self {
        Self::Delete { key: key.into() }
    }

    fn encoded_len(&self) -> u64 {
        match self {
            Self::Put { key, value, .. } => format::record_len(key.len(), value.len()) as u64,
            Self::Delete { key } => format::record_len(key.len(), 0) as u64,
        }
    }
}

/// A written record whose effect on the keydir and statistics is applied
/// once it may become visible (at once, or after its fsync under
/// [`SyncPolicy::Always`]).
#[derive(Debug)]
pub(crate) struct PendingUpdate {
    pub key: Vec<u8>,
    /// The new entry; a tombstone entry means "remove". For batch markers
    /// only `segment` and `seq` matter.
    pub entry: Entry,
    pub kind: RecordKind,
    /// Encoded length of the record.
    pub len: u64,
}

/// State owned by the single writer.
#[derive(Debug)]
pub(crate) struct Writer {
    appender: Appender,
    pub(crate) active_id: u32,
    next_seq: u64,
    /// Written records waiting for a sync round (under `Always`).
    pending: Vec<PendingUpdate>,
    /// Records a running sync round is fsyncing; applied when it succeeds.
    in_flight: Vec<PendingUpdate>,
    /// Set when durability can no longer be guaranteed; writes are refused.
    failed: Option<String>,
    /// Incremented by every rollback, so a sync round that fsynced bytes
    /// which were rolled back meanwhile knows not to apply them.
    rollbacks: u64,
}

#[derive(Debug, Default)]
struct SyncState {
    /// Every sequence number up to this one is durable and applied (or failed).
    durable_seq: u64,
    /// A leader is running a sync round.
    leader_active: bool,
    /// Ranges of sequence numbers `(first, last, error)` rolled back after a
    /// failed write or fsync; their writers get (a copy of) the error. Kept
    /// for the life of the store: failures are rare, and forgetting one could
    /// acknowledge a write that failed.
    failed: Vec<(u64, u64, Arc<Error>)>,
}

/// A copy of `error` for another caller: same variant, and for I/O errors
/// the same `ErrorKind`, so `is_storage_full()` and friends keep working.
fn copy_error(error: &Error) -> Error {
    match error {
        Error::Io { op, path, source } => Error::Io {
            op,
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        Error::Failed { path, reason } => Error::Failed {
            path: path.clone(),
            reason: reason.clone(),
        },
        other => Error::Failed {
            path: PathBuf::new(),
            reason: other.to_string(),
        },
    }
}

pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) options: Options,
    pub(crate) keydir: Keydir,
    pub(crate) segments: RwLock<BTreeMap<u32, Arc<Segment>>>,
    pub(crate) writer: Option<Mutex<Writer>>,
    /// `active segment id << 32 | flushed length`: readers of records below
    /// the flushed length can read the file without the writer mutex.
    active_flushed: AtomicU64,
    sync_state: Mutex<SyncState>,
    sync_done: Condvar,
    _lock: Option<Box<dyn DirLock>>,
    interval_stop: Mutex<Option<mpsc::Sender<()>>>,
    /// Per-segment statistics; lock order: writer, then stats, then keydir shards.
    pub(crate) stats: Mutex<Tracker>,
    /// The next segment id to hand out (rotation and merge outputs).
    pub(crate) next_segment_id: AtomicU32,
    /// Held by a running merge: one at a time.
    pub(crate) merge_lock: Mutex<()>,
    /// Background threads (hint writers, interval syncer, merger), joined on close.
    pub(crate) background: Mutex<Vec<JoinHandle<()>>>,
    /// Stops the background merger thread when dropped.
    pub(crate) merger_stop: Mutex<Option<mpsc::Sender<()>>>,
    /// This store itself, for handing to background threads.
    pub(crate) me: Weak<Inner>,
    /// Segments retired by a merge whose files are not durably removed yet.
    pub(crate) retired: Arc<Mutex<std::collections::BTreeSet<u32>>>,
    /// Set when the store closes: a running merge gives up.
    pub(crate) closing: std::sync::atomic::AtomicBool,
    /// What merges did since open, for [`StoreStats::merges`].
    pub(crate) merge_totals: Mutex<crate::stats::MergeTotals>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bitcask")
            .field("dir", &self.dir)
            .field("read_only", &self.writer.is_none())
            .finish_non_exhaustive()
    }
}

/// A Bitcask store: a directory of append-only segments and an in-memory
/// hash index. `Send + Sync`; share it with `Arc` or by reference.
#[derive(Debug)]
pub struct Bitcask {
    inner: Arc<Inner>,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The path of data segment `id` in `dir`.
pub fn data_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:010}.data"))
}

const SEGMENT_GONE: &str = "indexed segment is not open";

/// How often a read-only open lists the directory again when a listed file
/// vanished before it could be opened (a live writer merged it away).
const READ_ONLY_OPEN_ATTEMPTS: u32 = 32;

/// The name of the lock file in every read-write opened directory.
pub const LOCK_FILE: &str = "LOCK";

impl Bitcask {
    /// Opens (creating if needed) the store in `dir` for reading and writing.
    ///
    /// Takes the directory's exclusive lock (fails at once with
    /// [`Error::Locked`] if another read-write opener holds it), rebuilds the
    /// keydir by scanning the segments oldest to newest, and cuts a torn tail
    /// off the newest segment (logging how many bytes were dropped).
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Self> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let vfs = options.vfs.clone();
        vfs.create_dir_all(&dir)
            .map_err(|e| Error::io("create directory", &dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = vfs.try_lock_exclusive(&lock_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                Error::Locked { path: dir.clone() }
            } else {
                Error::io("lock", &lock_path, e)
            }
        })?;
        let mut recovered = recovery::recover(
            &*vfs,
            &dir,
            true,
            options.active_map_len(),
            options.replaceable_active_tail,
        )?;
        let mut next_id = recovered.max_id + 1;
        let mut sealed_on_open = std::mem::take(&mut recovered.missing_hints);
        let inherited = recovered.newest_writable.take();
        if let Some((segment, len)) = &inherited {
            // A process crash leaves the active segment's bytes and name in
            // the page cache, not on disk: make them durable before any
            // append, acknowledgement or seal builds on them (this also
            // fsyncs the directory, for names an earlier process created,
            // renamed or removed).
            crate::segment::make_durable(&*vfs, segment, *len)?;
        }
        let (active, active_len) = match inherited {
            Some((segment, len)) if len < options.max_file_size => (segment, len),
            previous => {
                if let Some((segment, _)) = previous {
                    // Full: it is sealed now and gets its hint like any other.
                    sealed_on_open.push(segment.id() as u32);
                }
                let id = next_id;
                next_id += 1;
                let mut segment =
                    Segment::create(&*vfs, &data_path(&dir, id), FileKind::Data, u64::from(id))?;
                segment.map_for_reading(options.active_map_len());
                let segment = Arc::new(segment);
                recovered.segments.insert(id, segment.clone());
                recovered.stats.segments.entry(id).or_default().file_bytes = FILE_HEADER_LEN as u64;
                (segment, FILE_HEADER_LEN as u64)
            }
        };
        let active_id = active.id() as u32;
        let writer = Writer {
            appender: Appender::new(active, active_len),
            active_id,
            next_seq: recovered.max_seq + 1,
            pending: Vec::new(),
            in_flight: Vec::new(),
            failed: None,
            rollbacks: 0,
        };
        let inner = Inner::new(
            dir,
            options,
            recovered,
            next_id,
            Some((writer, active_len, lock)),
        );
        if let SyncPolicy::Interval(every) = inner.options.sync {
            start_interval_syncer(&inner, every);
        }
        // Sealed segments without a hint, including one that was full.
        for id in sealed_on_open {
            inner.spawn_hint_writer(id);
        }
        if let Some(every) = inner.options.merge.background_interval {
            crate::merge::start_background_merger(&inner, every);
        }
        tracing::debug!(dir = %inner.dir.display(), keys = inner.keydir.len(), "opened store");
        Ok(Self { inner })
    }

    /// Opens the store in `dir` read-only, on the real file system.
    ///
    /// Takes no lock, so it works while a server has the directory open.
    /// It sees the records that were on disk when it opened (a torn or
    /// in-progress tail is ignored, not cut); later writes by a live writer
    /// are not seen. If the writer merges away a segment while this store is
    /// open, reads of it still work (the files stay open).
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_read_only_with(dir, Options::default())
    }

    /// [`Bitcask::open_read_only`] with options (only `vfs` matters).
    pub fn open_read_only_with(dir: impl AsRef<Path>, options: Options) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        // A live writer's merge (or a hint writer letting go of a retired
        // segment) may remove a file between our listing and our opening it;
        // what we listed is then stale: list again.
        let mut attempts = 0;
        let recovered = loop {
            match recovery::recover(&*options.vfs, &dir, false, options.active_map_len(), false) {
                Err(Error::Io { source, path, .. })
                    if source.kind() == std::io::ErrorKind::NotFound
                        && path != dir
                        && attempts < READ_ONLY_OPEN_ATTEMPTS =>
                {
                    attempts += 1;
                    tracing::debug!(file = %path.display(), attempts, "a listed file vanished; listing again");
                }
                other => break other?,
            }
        };
        let next_id = recovered.max_id + 1;
        Ok(Self {
            inner: Inner::new(dir, options, recovered, next_id, None),
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// The value of `key`, or `None` if it is absent, deleted or expired.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }

    /// True if `key` has a live value. Costs no I/O.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.inner.live_entry(key).is_some()
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.put_with_expiry(key, value, 0)
    }

    /// Sets `key` to `value`, expiring at `expiry` milliseconds since the
    /// Unix epoch (0 for never). The time is absolute so a replicated state
    /// machine can pass the leader's clock.
    pub fn put_with_expiry(&self, key: &[u8], value: &[u8], expiry: u64) -> Result<()> {
        check_key_value(key, value)?;
        self.inner.write(&[Op::Put { key, value, expiry }], false)
    }

    /// Deletes `key`; returns whether it had a live value. Deleting an absent
    /// key writes nothing.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        check_key_value(key, b"")?;
        self.inner.delete(key)
    }

    /// Applies all operations atomically: after a crash, either all of them
    /// or none are visible. Later operations on the same key win.
    ///
    /// The atomicity is about crashes. The key index takes the operations
    /// one at a time, so a concurrent reader of several keys may see some of
    /// them before the others; a caller whose readers need the batch whole
    /// must keep them out while it runs (snowflk-server's state machine
    /// does, with a read-write lock).
    pub fn write_batch(&self, ops: &[BatchOp]) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut total = 0;
        for op in ops {
            match op {
                BatchOp::Put { key, value, .. } => check_key_value(key, value)?,
                BatchOp::Delete { key } => check_key_value(key, b"")?,
            }
            total += op.encoded_len();
        }
        if total > MAX_FILE_SIZE_LIMIT {
            return Err(Error::BatchTooLarge {
                len: total,
                max: MAX_FILE_SIZE_LIMIT,
            });
        }
        let ops: Vec<Op<'_>> = ops
            .iter()
            .map(|op| match op {
                BatchOp::Put { key, value, expiry } => Op::Put {
                    key,
                    value,
                    expiry: *expiry,
                },
                BatchOp::Delete { key } => Op::Delete { key },
            })
            .collect();
        self.inner.write(&ops, ops.len() > 1)
    }

    /// Makes every write so far durable.
    pub fn sync(&self) -> Result<()> {
        self.inner.sync()
    }

    /// Number of live keys (deleted and expired keys excluded).
    pub fn len(&self) -> usize {
        self.inner
            .keydir
            .len()
            .saturating_sub(self.inner.keydir.count_expired(now_millis()))
    }

    /// True if there are no live keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live keys, in no particular order. A snapshot is taken one shard
    /// at a time, so keys written during the iteration may or may not appear.
    pub fn keys(&self) -> Keys<'_> {
        Keys {
            store: self,
            shard: 0,
            batch: Vec::new(),
        }
    }

    /// The live `(key, value)` pairs, in no particular order, with the same
    /// snapshot rules as [`Bitcask::keys`]. Each value is read when reached.
    pub fn iter(&self) -> Iter<'_> {
        Iter { keys: self.keys() }
    }

    /// Flushes buffered writes, fsyncs them, and closes the store, reporting
    /// any error (dropping the store does the same but can only log errors).
    pub fn close(self) -> Result<()> {
        self.inner.stop_background();
        if self.inner.writer.is_some() {
            self.inner.sync()?;
        }
        Ok(())
    }

    /// Statistics per segment and in total; see [`StoreStats`].
    pub fn stats(&self) -> StoreStats {
        self.inner.stats()
    }

    /// Merges the segments the merge policy ([`crate::MergePolicy`]) selects,
    /// until it selects none; returns what each merge did (empty if nothing
    /// was worth merging). Reads and writes continue meanwhile.
    pub fn merge(&self) -> Result<Vec<MergeOutcome>> {
        self.inner.merge_by_policy()
    }

    /// Seals the active segment and merges every sealed segment, whatever
    /// the policy says: the most space back, at the cost of rewriting all
    /// live data.
    pub fn merge_all(&self) -> Result<Vec<MergeOutcome>> {
        self.inner.merge_all()
    }

    /// Merges exactly the given sealed segments into one new segment.
    pub fn merge_segments(&self, ids: &[u32]) -> Result<MergeOutcome> {
        self.inner.merge_segments(ids)
    }

    /// Seals the active segment (if it holds any record) and starts a new one.
    pub fn rotate(&self) -> Result<()> {
        self.inner.rotate_now()
    }

    /// Writes a consistent point-in-time copy of the store into `dir`, which
    /// must not exist or hold no file ([`Error::CheckpointDirNotEmpty`]),
    /// and returns its size and how long it took (also logged at `info`).
    ///
    /// The copy holds exactly the writes made before the *checkpoint
    /// point* — every write whose call returned before this one started,
    /// none that started after it returned, and for writes in between, a
    /// prefix in order (write batches entirely or not at all). Writes wait
    /// only for one fsync of the active segment, whose records are then
    /// copied (up to [`crate::checkpoint::CHECKPOINT_COPY_LIMIT`] bytes; a
    /// larger active segment is sealed instead); sealed segments are
    /// hard-linked (copied where that fails, e.g. across file systems), so
    /// a checkpoint costs little time and no space until the source merges
    /// the linked segments away. A merge may run meanwhile: the segments
    /// being linked are pinned.
    ///
    /// The result is a complete store directory: [`Bitcask::open`] it in
    /// this or another process, or move it into place to restore. A crash
    /// during the checkpoint leaves the source intact and `dir` either
    /// complete or refused by [`Bitcask::open`] with
    /// [`Error::IncompleteCheckpoint`]. See [`crate::checkpoint`] for the
    /// steps, and [`crate::checkpoint::verify`] to check a checkpoint
    /// directory against its manifest. A read-only store cannot checkpoint
    /// ([`Error::ReadOnly`]).
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<crate::CheckpointInfo> {
        self.inner.checkpoint(dir.as_ref())
    }

    /// Changes `key`'s expiry to `expiry` ms since the Unix epoch (0 clears
    /// it) by rewriting its value; returns false if the key has no live value.
    pub fn set_expiry(&self, key: &[u8], expiry: u64) -> Result<bool> {
        check_key_value(key, b"")?;
        self.inner.set_expiry(key, expiry)
    }

    /// The key's expiry: `None` if it has no live value, `Some(0)` if it
    /// never expires, else ms since the Unix epoch.
    pub fn expiry(&self, key: &[u8]) -> Option<u64> {
        self.inner.live_entry(key).map(|e| e.expiry)
    }

    /// Where the key's newest live record is (segment, offset, value length,
    /// sequence number, expiry); `None` if it has no live value. For tools
    /// that need to tell live records from dead ones.
    pub fn location(&self, key: &[u8]) -> Option<Entry> {
        self.inner.live_entry(key)
    }

    /// Ids of the segments, oldest first, and which one is active (`None`
    /// for a read-only store).
    pub fn segment_ids(&self) -> (Vec<u32>, Option<u32>) {
        let ids = self.inner.segments.read().keys().copied().collect();
        (ids, self.inner.writer.as_ref().map(|w| w.lock().active_id))
    }

    /// Heap bytes used by the keydir, from its allocations' capacities.
    pub fn keydir_heap_bytes(&self) -> usize {
        self.inner.keydir.heap_bytes()
    }
}

impl Drop for Bitcask {
    fn drop(&mut self) {
        self.inner.stop_background();
        if self.inner.writer.is_some()
            && let Err(e) = self.inner.sync()
        {
            tracing::error!(dir = %self.inner.dir.display(), error = %e, "sync on close failed");
        }
    }
}

/// Iterator over live keys; see [`Bitcask::keys`].
#[derive(Debug)]
pub struct Keys<'a> {
    store: &'a Bitcask,
    shard: usize,
    batch: Vec<Vec<u8>>,
}

impl Iterator for Keys<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(key) = self.batch.pop() {
                return Some(key);
            }
            if self.shard == SHARDS {
                return None;
            }
            let now = now_millis();
            let batch = &mut self.batch;
            self.store
                .inner
                .keydir
                .for_each_in_shard(self.shard, |key, entry| {
                    if !entry.tombstone && !is_expired(&entry, now) {
                        batch.push(key.to_vec());
                    }
                });
            self.shard += 1;
        }
    }
}

/// Iterator over live `(key, value)` pairs; see [`Bitcask::iter`].
#[derive(Debug)]
pub struct Iter<'a> {
    keys: Keys<'a>,
}

impl Iterator for Iter<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let key = self.keys.next()?;
            match self.keys.store.get(&key) {
                Ok(Some(value)) => return Some(Ok((key, value))),
                // Deleted since the snapshot: skip.
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Op<'a> {
    Put {
        key: &'a [u8],
        value: &'a [u8],
        expiry: u64,
    },
    Delete {
        key: &'a [u8],
    },
}

fn check_key_value(key: &[u8], value: &[u8]) -> Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(Error::KeyTooLarge {
            len: key.len(),
            max: MAX_KEY_LEN,
        });
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(Error::ValueTooLarge {
            len: value.len(),
            max: MAX_VALUE_LEN,
        });
    }
    Ok(())
}

fn is_expired(entry: &Entry, now: u64) -> bool {
    entry.expiry != 0 && entry.expiry <= now
}

fn pack_flushed(segment: u32, flushed: u64) -> u64 {
    (u64::from(segment) << 32) | flushed.min(u64::from(u32::MAX))
}

fn start_interval_syncer(inner: &Arc<Inner>, every: Duration) {
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    *inner.interval_stop.lock() = Some(stop_tx);
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let spawned = std::thread::Builder::new()
        .name("bitcask-sync".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stop_rx.recv_timeout(every) {
                let Some(inner) = weak.upgrade() else { return };
                if let Err(e) = inner.sync() {
                    tracing::error!(dir = %inner.dir.display(), error = %e, "interval sync failed");
                }
            }
        });
    match spawned {
        Ok(handle) => inner.background.lock().push(handle),
        Err(e) => tracing::error!(
            error = %e,
            "could not start the interval sync thread; writes reach the disk only on sync() and close"
        ),
    }
}

impl Writer {
    /// [`Error::Failed`] if the store has stopped; every path that writes
    /// (put, delete, set_expiry, rotate, merge, sync) checks this first.
    pub(crate) fn refuse_if_failed(&self, dir: &Path) -> Result<()> {
        match &self.failed {
            Some(reason) => Err(Error::Failed {
                path: dir.to_path_buf(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Refuses all further writes, for `reason`.
    pub(crate) fn set_failed(&mut self, reason: String) {
        tracing::error!(%reason, "store refuses further writes");
        self.failed = Some(reason);
    }
}

impl Inner {
    /// Assembles a store from what recovery found; `writer` (with the active
    /// segment's length and the directory lock) is `None` for read-only.
    fn new(
        dir: PathBuf,
        options: Options,
        recovered: Recovered,
        next_segment_id: u32,
        writer: Option<(Writer, u64, Box<dyn DirLock>)>,
    ) -> Arc<Self> {
        let (writer, active_flushed, lock) = match writer {
            Some((writer, active_len, lock)) => {
                let flushed = pack_flushed(writer.active_id, active_len);
                (Some(Mutex::new(writer)), flushed, Some(lock))
            }
            None => (None, 0, None),
        };
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            dir,
            keydir: recovered.keydir,
            segments: RwLock::new(recovered.segments),
            writer,
            active_flushed: AtomicU64::new(active_flushed),
            sync_state: Mutex::new(SyncState {
                durable_seq: recovered.max_seq,
                ..SyncState::default()
            }),
            sync_done: Condvar::new(),
            _lock: lock,
            interval_stop: Mutex::new(None),
            stats: Mutex::new(recovered.stats),
            next_segment_id: AtomicU32::new(next_segment_id),
            merge_lock: Mutex::new(()),
            background: Mutex::new(Vec::new()),
            merger_stop: Mutex::new(None),
            retired: Arc::default(),
            closing: Default::default(),
            merge_totals: Default::default(),
            options,
        })
    }

    fn writer(&self) -> Result<&Mutex<Writer>> {
        self.writer.as_ref().ok_or_else(|| Error::ReadOnly {
            path: self.dir.clone(),
        })
    }

    /// Stops the interval syncer and the merger and waits for them (a running
    /// merge gives up, leaving the store as it was) and for hint writers, so
    /// that the directory lock is free when the store has been dropped.
    fn stop_background(&self) {
        self.closing.store(true, Ordering::Release);
        // Dropping a sender wakes its thread, which then exits.
        self.interval_stop.lock().take();
        self.merger_stop.lock().take();
        // Joined threads may have started others (a merge seals segments,
        // whose hints are written on new threads): repeat until none is left.
        loop {
            let handles: Vec<_> = std::mem::take(&mut *self.background.lock());
            if handles.is_empty() {
                break;
            }
            for handle in handles {
                if handle.join().is_err() {
                    tracing::error!(dir = %self.dir.display(), "a background thread panicked");
                }
            }
        }
    }

    /// Writes the hint file of sealed segment `id` on a background thread.
    pub(crate) fn spawn_hint_writer(&self, id: u32) {
        let weak = self.me.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("bitcask-hint-{id}"))
            .spawn(move || {
                let Some(inner) = weak.upgrade() else { return };
                let Some(segment) = inner.segments.read().get(&id).cloned() else {
                    return; // merged away meanwhile
                };
                match crate::hint::write_hint_for(&*inner.options.vfs, &inner.dir, &segment) {
                    Ok(path) => {
                        if let Some(c) = inner.stats.lock().segments.get_mut(&id) {
                            c.has_hint = true;
                        }
                        tracing::debug!(hint = %path.display(), "wrote hint file");
                    }
                    Err(e) => tracing::warn!(segment = id, error = %e, "could not write hint file"),
                }
            });
        match spawned {
            Ok(handle) => {
                let mut background = self.background.lock();
                background.retain(|h| !h.is_finished());
                background.push(handle);
            }
            Err(e) => tracing::warn!(error = %e, "could not start a hint writer thread"),
        }
    }

    pub(crate) fn live_entry(&self, key: &[u8]) -> Option<Entry> {
        let entry = self.keydir.get(key)?;
        // Reading the clock costs as much as the hash lookup: only when needed.
        if entry.tombstone || (entry.expiry != 0 && is_expired(&entry, now_millis())) {
            return None;
        }
        Some(entry)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        // A merge may retire the segment between the keydir lookup and the
        // read; the keydir then already points at the merged copy: look again.
        let mut attempts = 0;
        loop {
            match self.get_once(key) {
                Err(Error::Corrupted { reason, .. }) if reason == SEGMENT_GONE && attempts < 16 => {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }

    fn get_once(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(entry) = self.live_entry(key) else {
            return Ok(None);
        };
        let len = format::record_len(key.len(), entry.value_len as usize);
        let mut buf = Vec::with_capacity(len);
        let matches = {
            let record = self.read_record(&entry, len, &mut buf)?;
            record.key == key && record.kind == RecordKind::Put && record.seq == entry.seq
        };
        if !matches {
            return Err(Error::corrupted(
                data_path(&self.dir, entry.segment),
                u64::from(entry.offset),
                "record at the indexed location belongs to another key or write",
            ));
        }
        buf.drain(..format::RECORD_HEADER_LEN + key.len());
        Ok(Some(buf))
    }

    /// Reads the record an entry points to into `buf`.
    fn read_record<'b>(
        &self,
        entry: &Entry,
        len: usize,
        buf: &'b mut Vec<u8>,
    ) -> Result<Record<'b>> {
        let end = u64::from(entry.offset) + len as u64;
        let flushed = self.active_flushed.load(Ordering::Acquire);
        let unflushed = (flushed >> 32) as u32 == entry.segment && end > (flushed & 0xffff_ffff);
        if unflushed && let Some(writer) = &self.writer {
            let writer = writer.lock();
            if self.copy_from_buffer(&writer, entry, len, buf)? {
                drop(writer);
                return self.decode_copied(entry, buf);
            }
        }
        self.read_from_segment(entry, len, buf)
    }

    /// Reads a record while the caller holds the writer mutex (`w`).
    fn read_record_locked<'b>(
        &self,
        w: &Writer,
        entry: &Entry,
        len: usize,
        buf: &'b mut Vec<u8>,
    ) -> Result<Record<'b>> {
        if self.copy_from_buffer(w, entry, len, buf)? {
            return self.decode_copied(entry, buf);
        }
        self.read_from_segment(entry, len, buf)
    }

    /// Copies the record from the write buffer if it is still there.
    fn copy_from_buffer(
        &self,
        w: &Writer,
        entry: &Entry,
        len: usize,
        buf: &mut Vec<u8>,
    ) -> Result<bool> {
        let flushed = w.appender.flushed_len();
        if w.active_id != entry.segment || u64::from(entry.offset) < flushed {
            return Ok(false);
        }
        let start = (u64::from(entry.offset) - flushed) as usize;
        let bytes = w
            .appender
            .buffered()
            .get(start..start + len)
            .ok_or_else(|| {
                Error::corrupted(
                    w.appender.segment().path(),
                    u64::from(entry.offset),
                    "indexed record is missing from the write buffer",
                )
            })?;
        buf.clear();
        buf.extend_from_slice(bytes);
        Ok(true)
    }

    fn decode_copied<'b>(&self, entry: &Entry, buf: &'b [u8]) -> Result<Record<'b>> {
        Record::decode(buf).map(|(r, _)| r).map_err(|e| {
            Error::corrupted(
                data_path(&self.dir, entry.segment),
                u64::from(entry.offset),
                e,
            )
        })
    }

    fn read_from_segment<'b>(
        &self,
        entry: &Entry,
        len: usize,
        buf: &'b mut Vec<u8>,
    ) -> Result<Record<'b>> {
        let segment = self
            .segments
            .read()
            .get(&entry.segment)
            .cloned()
            .ok_or_else(|| {
                Error::corrupted(
                    data_path(&self.dir, entry.segment),
                    u64::from(entry.offset),
                    SEGMENT_GONE,
                )
            })?;
        segment.read_record(u64::from(entry.offset), len, buf)
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        // Checked and written under the writer mutex, so no other write to
        // the key slips in between.
        let writer = self.writer()?;
        let guard = writer.lock();
        // A stopped store may hold records it cannot see: "absent" would be a lie.
        guard.refuse_if_failed(&self.dir)?;
        if self.latest_locked(&guard, key).is_none() {
            return Ok(false);
        }
        self.write_locked(guard, &[Op::Delete { key }], false)?;
        Ok(true)
    }

    fn write(&self, ops: &[Op<'_>], batch: bool) -> Result<()> {
        let writer = self.writer()?;
        self.write_locked(writer.lock(), ops, batch)
    }

    fn write_locked(
        &self,
        mut w: parking_lot::MutexGuard<'_, Writer>,
        ops: &[Op<'_>],
        batch: bool,
    ) -> Result<()> {
        w.refuse_if_failed(&self.dir)?;
        let marker_len = if batch {
            2 * format::record_len(0, 0) as u64
        } else {
            0
        };
        let total: u64 = ops
            .iter()
            .map(|op| match op {
                Op::Put { key, value, .. } => format::record_len(key.len(), value.len()) as u64,
                Op::Delete { key } => format::record_len(key.len(), 0) as u64,
            })
            .sum::<u64>()
            + marker_len;
        let records = ops.len() as u64 + if batch { 2 } else { 0 };
        if w.next_seq + records > MAX_SEQ {
            return Err(Error::SequenceExhausted {
                path: self.dir.clone(),
            });
        }
        if w.appender.len() + total > self.options.max_file_size && !w.appender.is_empty() {
            w = self.rotate(w)?;
        }
        if w.appender.buffered().len() as u64 + total > self.options.write_buffer_size as u64 {
            w.appender.flush()?;
            self.publish_flushed(&w);
        }

        let always = self.options.sync == SyncPolicy::Always;
        let segment = w.active_id;
        let first_seq = w.next_seq;
        let marker = |seq: u64| PendingUpdate {
            key: Vec::new(),
            entry: Entry {
                segment,
                offset: 0,
                value_len: 0,
                seq,
                expiry: 0,
                tombstone: true,
            },
            kind: RecordKind::BatchBegin,
            len: format::record_len(0, 0) as u64,
        };
        let mut updates = Vec::with_capacity(ops.len() + 2);
        if batch {
            w.appender.append(&Record {
                kind: RecordKind::BatchBegin,
                seq: first_seq,
                meta: ops.len() as u64,
                key: b"",
                value: b"",
            });
            updates.push(marker(first_seq));
        }
        let mut seq = first_seq + u64::from(batch);
        for op in ops {
            let (kind, key, value, expiry) = match *op {
                Op::Put { key, value, expiry } => (RecordKind::Put, key, value, expiry),
                Op::Delete { key } => (RecordKind::Tombstone, key, &b""[..], 0),
            };
            let offset = w.appender.append(&Record {
                kind,
                seq,
                meta: expiry,
                key,
                value,
            });
            updates.push(PendingUpdate {
                key: key.to_vec(),
                entry: Entry {
                    segment,
                    offset: offset as u32,
                    value_len: value.len() as u32,
                    seq,
                    expiry,
                    tombstone: kind == RecordKind::Tombstone,
                },
                kind,
                len: format::record_len(key.len(), value.len()) as u64,
            });
            seq += 1;
        }
        if batch {
            w.appender.append(&Record {
                kind: RecordKind::BatchCommit,
                seq,
                meta: ops.len() as u64,
                key: b"",
                value: b"",
            });
            updates.push(PendingUpdate {
                kind: RecordKind::BatchCommit,
                ..marker(seq)
            });
            seq += 1;
        }
        w.next_seq = seq;
        let last_seq = seq - 1;

        if !always {
            self.apply_updates(updates);
            return Ok(());
        }
        w.pending.extend(updates);
        drop(w);
        self.wait_durable(last_seq, false)
    }

    /// Makes written records visible: keydir and statistics change together
    /// under the statistics mutex. Called in sequence order.
    pub(crate) fn apply_updates(&self, updates: impl IntoIterator<Item = PendingUpdate>) {
        let mut stats = self.stats.lock();
        for update in updates {
            let PendingUpdate {
                key,
                entry,
                kind,
                len,
            } = update;
            stats.appended(entry.segment, kind, entry.seq, len);
            match kind {
                RecordKind::Put => {
                    if let crate::keydir::Applied::Replaced { previous } =
                        self.keydir.apply(&key, entry)
                    {
                        if let Some(previous) = previous {
                            stats.live_removed(&previous, key.len());
                        }
                        stats.live_added(&entry, key.len());
                    }
                }
                RecordKind::Tombstone => {
                    if let Some(previous) = self.keydir.remove_older(&key, entry.seq) {
                        stats.live_removed(&previous, key.len());
                    }
                }
                _ => {}
            }
        }
    }

    fn publish_flushed(&self, w: &Writer) {
        self.active_flushed.store(
            pack_flushed(w.active_id, w.appender.flushed_len()),
            Ordering::Release,
        );
    }

    /// Seals the active segment (durably) and starts a new one.
    /// Under the writer mutex: fsyncs the active segment and settles every
    /// write waiting for an fsync (under `Always`), so that every write
    /// numbered before `w.next_seq` is durable.
    fn sync_locked(&self, w: &mut Writer) -> Result<()> {
        if let Err(e) = w.appender.sync() {
            return Err(self.fail_unsynced(w, e));
        }
        self.publish_flushed(w);
        if self.options.sync == SyncPolicy::Always {
            // That fsync made every record in the segment durable, including
            // those waiting for (or inside) a group-commit round. Settle them
            // now: a later failure in the new segment must not report them
            // as failed, since they will be there after any crash.
            let mut settled = std::mem::take(&mut w.in_flight);
            settled.append(&mut w.pending);
            self.apply_updates(settled);
            let mut state = self.sync_state.lock();
            state.durable_seq = state.durable_seq.max(w.next_seq - 1);
            self.sync_done.notify_all();
        }
        Ok(())
    }

    fn rotate<'a>(
        &self,
        mut w: parking_lot::MutexGuard<'a, Writer>,
    ) -> Result<parking_lot::MutexGuard<'a, Writer>> {
        w.refuse_if_failed(&self.dir)?;
        self.sync_locked(&mut w)?;
        let sealed = w.active_id;
        let id = self.next_segment_id.fetch_add(1, Ordering::SeqCst);
        let path = data_path(&self.dir, id);
        let mut segment =
            match Segment::create(&*self.options.vfs, &path, FileKind::Data, u64::from(id)) {
                Ok(segment) => segment,
                Err(e) => {
                    // A half-created newer segment that stays behind would make
                    // the active one look sealed after a crash (and its torn tail
                    // corruption): if it could not be removed, stop writing.
                    let lingers = !matches!(
                        self.options.vfs.open_file(&path, crate::vfs::OpenMode::Read),
                        Err(ref err) if err.kind() == std::io::ErrorKind::NotFound
                    );
                    if lingers {
                        w.set_failed(format!(
                            "could not create or remove {}: {e}",
                            path.display()
                        ));
                    }
                    return Err(e);
                }
            };
        segment.map_for_reading(self.options.active_map_len());
        let segment = Arc::new(segment);
        self.segments.write().insert(id, segment.clone());
        self.stats.lock().segments.entry(id).or_default().file_bytes = FILE_HEADER_LEN as u64;
        w.appender = Appender::new(segment, FILE_HEADER_LEN as u64);
        w.active_id = id;
        self.publish_flushed(&w);
        tracing::debug!(sealed, segment = id, "rotated to a new segment");
        self.spawn_hint_writer(sealed);
        Ok(w)
    }

    /// Handles a failed write or fsync of buffered data. Under `Always`,
    /// nothing unsynced is visible yet: cut the file back to its durable
    /// length and fail every writer that was waiting. Otherwise the keydir
    /// already points at the data, so the store must refuse further writes.
    fn fail_unsynced(&self, w: &mut Writer, error: Error) -> Error {
        if self.options.sync != SyncPolicy::Always {
            if matches!(error, Error::Io { op: "sync", .. }) {
                w.failed = Some(error.to_string());
            }
            return error;
        }
        let synced = w.appender.synced_len();
        let error = match w.appender.truncate(synced) {
            Ok(()) => error,
            // The records may still be in the file and come back on a
            // restart: nobody may be told they failed.
            Err(rollback) => {
                let reason = format!(
                    "{error}; rolling back also failed ({rollback}), so the outcome of the writes is unknown"
                );
                w.set_failed(reason.clone());
                Error::Failed {
                    path: self.dir.clone(),
                    reason,
                }
            }
        };
        self.publish_flushed(w);
        self.fail_range(w, error)
    }

    /// Fails every written record that is not yet durable and applied: their
    /// updates are dropped and their writers get a copy of `error`.
    fn fail_range(&self, w: &mut Writer, error: Error) -> Error {
        w.pending.clear();
        w.in_flight.clear();
        w.rollbacks += 1;
        let last = w.next_seq - 1;
        let mut state = self.sync_state.lock();
        let first = state.durable_seq + 1;
        if first <= last {
            let copy = copy_error(&error);
            state.failed.push((first, last, Arc::new(copy)));
            // The range is settled: nothing in it will ever apply.
            state.durable_seq = last;
        }
        self.sync_done.notify_all();
        error
    }

    /// Seals the active segment if it holds any record.
    pub(crate) fn rotate_now(&self) -> Result<()> {
        let writer = self.writer()?;
        let w = writer.lock();
        w.refuse_if_failed(&self.dir)?;
        if w.appender.is_empty() {
            return Ok(());
        }
        drop(self.rotate(w)?);
        Ok(())
    }

    /// The checkpoint point: under the writer mutex, seals the active
    /// segment if it holds any record (durably, settling every write
    /// waiting for its fsync), then takes handles to every other segment.
    /// Every write that got its sequence number before this call is in those
    /// segments, and none after it; the handles keep a concurrent merge from
    /// removing their files until they are dropped.
    pub(crate) fn checkpoint_point(&self) -> Result<crate::checkpoint::Point> {
        let writer = self.writer()?;
        let started = std::time::Instant::now();
        // Most unsynced bytes are fsynced here, without the writer mutex, so
        // the rotation's own fsync below (which holds it) has little left.
        self.sync()?;
        let synced = started.elapsed();
        let started = std::time::Instant::now();
        let mut w = writer.lock();
        w.refuse_if_failed(&self.dir)?;
        // A small active segment is fsynced and its prefix copied (below,
        // without the mutex): sealing it would leave one small segment per
        // checkpoint, which nothing merges under insert-only workloads. A
        // large one is sealed and linked like the others, so a checkpoint
        // never copies more than `CHECKPOINT_COPY_LIMIT` bytes.
        let mut active_prefix = None;
        if !w.appender.is_empty() {
            if w.appender.len() <= crate::checkpoint::CHECKPOINT_COPY_LIMIT {
                self.sync_locked(&mut w)?;
                active_prefix = Some(w.appender.len());
            } else {
                w = self.rotate(w)?;
            }
        }
        let active = w.active_id;
        let all = self.segments.read();
        let segments: Vec<Arc<Segment>> = all
            .iter()
            .filter(|(id, _)| **id != active)
            .map(|(_, segment)| segment.clone())
            .collect();
        let active = active_prefix.and_then(|len| Some((all.get(&active)?.clone(), len)));
        let max_id = all.keys().next_back().copied().unwrap_or(0);
        drop(all);
        let point = crate::checkpoint::Point {
            active,
            max_id,
            max_seq: w.next_seq - 1,
            keys: self.keydir.len() as u64,
            segments,
            pause: std::time::Duration::ZERO,
        };
        drop(w);
        tracing::debug!(
            pre_sync_ms = synced.as_secs_f64() * 1e3,
            "checkpoint point taken"
        );
        Ok(crate::checkpoint::Point {
            pause: started.elapsed(),
            ..point
        })
    }

    /// Current statistics, with expired keys counted as dead.
    pub(crate) fn stats(&self) -> StoreStats {
        let expired = self.keydir.expired_entries(now_millis());
        let active = self
            .writer
            .as_ref()
            .map_or(u32::MAX, |w| w.lock().active_id);
        let mut stats = self.stats.lock().snapshot(&expired, active);
        stats.merges = *self.merge_totals.lock();
        stats
    }

    /// Rewrites `key`'s value with a new expiry (0: none); returns false if
    /// the key has no live value.
    /// The newest live entry of `key` as the writer sees it: writes still
    /// waiting for their fsync (under `Always`) first, then the keydir.
    fn latest_locked(&self, w: &Writer, key: &[u8]) -> Option<Entry> {
        let pending = w
            .pending
            .iter()
            .rev()
            .chain(w.in_flight.iter().rev())
            .find(|p| p.key == key && matches!(p.kind, RecordKind::Put | RecordKind::Tombstone));
        match pending {
            Some(p) if p.kind == RecordKind::Tombstone => None,
            Some(p) if is_expired(&p.entry, now_millis()) => None,
            Some(p) => Some(p.entry),
            None => self.live_entry(key),
        }
    }

    fn set_expiry(&self, key: &[u8], expiry: u64) -> Result<bool> {
        let writer = self.writer()?;
        // Read and rewrite under the writer mutex, so no write to the key
        // slips in between. Readers are not blocked.
        let guard = writer.lock();
        guard.refuse_if_failed(&self.dir)?;
        // A merge may retire the segment between the lookup and the read; the
        // keydir then already points at the merged copy: look again (as `get`).
        let mut attempts = 0;
        let value = loop {
            let Some(entry) = self.latest_locked(&guard, key) else {
                return Ok(false);
            };
            let len = format::record_len(key.len(), entry.value_len as usize);
            let mut buf = Vec::with_capacity(len);
            match self.read_record_locked(&guard, &entry, len, &mut buf) {
                Ok(record) => break record.value.to_vec(),
                Err(Error::Corrupted { reason, .. }) if reason == SEGMENT_GONE && attempts < 16 => {
                    attempts += 1;
                }
                Err(e) => return Err(e),
            }
        };
        self.write_locked(
            guard,
            &[Op::Put {
                key,
                value: &value,
                expiry,
            }],
            false,
        )?;
        Ok(true)
    }

    /// Waits until `seq` is durable, leading a sync round if nobody is.
    ///
    /// With `failed_is_settled` (used by [`Inner::sync`]), a sequence number
    /// that failed counts as settled: "everything that will ever be durable
    /// is durable" is then true.
    fn wait_durable(&self, seq: u64, failed_is_settled: bool) -> Result<()> {
        let mut state = self.sync_state.lock();
        loop {
            if let Some((_, _, error)) = state
                .failed
                .iter()
                .find(|(first, last, _)| (*first..=*last).contains(&seq))
            {
                return if failed_is_settled {
                    Ok(())
                } else {
                    Err(copy_error(error))
                };
            }
            if state.durable_seq >= seq {
                return Ok(());
            }
            if state.leader_active {
                self.sync_done.wait(&mut state);
                continue;
            }
            state.leader_active = true;
            drop(state);
            let round = self.sync_round();
            state = self.sync_state.lock();
            state.leader_active = false;
            self.sync_done.notify_all();
            if let Err(e) = round {
                // A round that settled nothing for `seq` (the store failed)
                // must not be retried forever.
                let settled = state.durable_seq >= seq
                    || state
                        .failed
                        .iter()
                        .any(|(first, last, _)| (*first..=*last).contains(&seq));
                if !settled {
                    return Err(e);
                }
            }
        }
    }

    /// One group-commit round: write out the buffer, fsync without holding
    /// the writer mutex, then apply what became durable. Returns the highest
    /// durable sequence number.
    fn sync_round(&self) -> Result<u64> {
        let writer = self.writer()?;
        let mut w = writer.lock();
        if let Some(reason) = &w.failed {
            let error = Error::Failed {
                path: self.dir.clone(),
                reason: reason.clone(),
            };
            return Err(self.fail_range(&mut w, error));
        }
        let through = w.next_seq - 1;
        if let Err(e) = w.appender.flush() {
            return Err(self.fail_unsynced(&mut w, e));
        }
        self.publish_flushed(&w);
        w.in_flight = std::mem::take(&mut w.pending);
        let segment = w.appender.segment().clone();
        let flushed = w.appender.flushed_len();
        let rollbacks = w.rollbacks;
        drop(w);

        let synced = segment.file().sync_data();

        let mut w = writer.lock();
        if w.rollbacks != rollbacks {
            // Someone rolled back (and failed) our records while we synced.
            return Err(Error::Failed {
                path: self.dir.clone(),
                reason: "records rolled back during sync".into(),
            });
        }
        let same_segment = Arc::ptr_eq(w.appender.segment(), &segment);
        match synced {
            Ok(()) if same_segment => w.appender.mark_synced(flushed),
            // A rotation in between fsynced (and sealed) this segment itself.
            Ok(()) => {}
            Err(e) if same_segment => {
                // The rolled-back records include `pending`: drop them unapplied.
                return Err(self.fail_unsynced(&mut w, Error::io("sync", segment.path(), e)));
            }
            Err(e) => {
                // The segment is sealed: it cannot be cut back, and a later
                // fsync that "succeeds" proves nothing after a failed one.
                // The outcome of these writes is unknown; stop writing.
                let reason = format!(
                    "{} (after the segment was sealed; the outcome of the writes in it is unknown)",
                    Error::io("sync", segment.path(), e)
                );
                w.failed = Some(reason.clone());
                let error = Error::Failed {
                    path: self.dir.clone(),
                    reason,
                };
                return Err(self.fail_range(&mut w, error));
            }
        }
        // Applied in sequence order, under the writer mutex, before any later
        // round can apply newer writes to the same keys; and marked durable
        // under it too, so a later rollback never claims these as failed.
        let in_flight = std::mem::take(&mut w.in_flight);
        self.apply_updates(in_flight);
        let mut state = self.sync_state.lock();
        state.durable_seq = state.durable_seq.max(through);
        drop(state);
        Ok(through)
    }

    pub(crate) fn sync(&self) -> Result<()> {
        let writer = self.writer()?;
        if self.options.sync == SyncPolicy::Always {
            let last = {
                let w = writer.lock();
                w.refuse_if_failed(&self.dir)?;
                w.next_seq - 1
            };
            return self.wait_durable(last, true);
        }
        let mut w = writer.lock();
        w.refuse_if_failed(&self.dir)?;
        w.appender.flush()?;
        self.publish_flushed(&w);
        let segment = w.appender.segment().clone();
        let flushed = w.appender.flushed_len();
        drop(w);
        let result = segment.file().sync_data();
        let mut w = writer.lock();
        match result {
            Ok(()) => {
                if Arc::ptr_eq(w.appender.segment(), &segment) {
                    w.appender.mark_synced(flushed);
                }
                Ok(())
            }
            Err(e) => {
                let error = Error::io("sync", segment.path(), e);
                w.failed = Some(error.to_string());
                Err(error)
            }
        }
    }
}
