//! A [`LogStore`] on the bitcask segment format (`docs/format.md`): the same
//! file header, record layout, CRC, appender and recovery scan as the engine.
//!
//! # Layout of a log directory
//! - `LOCK` — held by the one read-write opener.
//! - `log-<id>.seg` (id: 20 decimal digits) — segments of kind
//!   [`FileKind::RaftLog`] holding one [`RecordKind::RaftEntry`] record per
//!   entry: `seq` = index, `meta` = term, empty key, value = the payload
//!   encoded with postcard. Indexes are contiguous across segments in id
//!   order; a new segment starts when the active one would pass
//!   [`SegmentLogOptions::max_segment_bytes`]. The newest segment may end
//!   in zero bytes: space prepared ahead of the appends
//!   ([`SegmentLogOptions::preallocate_bytes`]), so that an append
//!   overwrites bytes the file already has and its fsync need not journal a
//!   new file size. Before the next segment is created, those zeros are cut
//!   off and the cut is fsynced: a sealed segment ends in its last record.
//! - `hardstate` — a [`FileKind::RaftLog`] file of
//!   [`RecordKind::RaftHardState`] records: `seq` = term, `meta` = vote or 0,
//!   value = the vote as 8 little-endian bytes, or empty for none (so node id
//!   0 is representable). The last valid record wins; a torn last record is
//!   ignored, which makes each save atomic. It is rewritten (new file, sync,
//!   rename, sync directory) when it grows past a few KiB.
//! - `snapshot` — created by the first `save_snapshot`: the same kind of
//!   file and records, with `seq` = snapshot index, `meta` = its term and
//!   value = the postcard encoding of `(voters, learners)`. The last valid
//!   record wins. On open, a log that does not hold the recorded snapshot's
//!   last entry (a crash during an install) is replaced by an empty one
//!   that continues after the snapshot.
//!
//! # Durability and crash safety
//! - `append` writes the whole batch through one buffered appender and
//!   fsyncs once (twice if the batch crosses into a new segment).
//! - `truncate_after` first removes whole segments past the cut, newest
//!   first, then cuts the segment holding the cut point with `set_len` and
//!   fsyncs: a crash in between leaves a prefix of the old log, never a hole.
//! - `purge_up_to` removes whole segments only (never the active one).
//! - `save_snapshot` syncs the snapshot record first; if the log does not
//!   hold the snapshot's last entry it then removes every segment, newest
//!   first, and starts a new one (a crash in between is repaired on open).
//! - A write that fails part way (an I/O error, a full disk) may leave the
//!   files and this store's memory apart: the store then answers every
//!   later call with [`StorageError::Poisoned`] until it is reopened, and
//!   opening repairs what the failure left. The rollback of a failed append
//!   removes the segments it created and cuts its bytes off again.
//! - A `hardstate` file torn while the first opener created it (shorter
//!   than its header) never held a record; open recreates it.
//! - On open, a torn tail of the newest segment (a crash mid-append, or the
//!   prepared zeros) is cut off; bad bytes followed by valid records
//!   anywhere, a torn tail in an older segment, or indexes that are not
//!   contiguous are [`StorageError::Corrupted`] naming the file and offset.
//! - One exception, in the newest segment only: an overwrite of prepared
//!   zeros has no size change to order its sectors, so a power loss during
//!   its fsync may keep a later sector and lose an earlier one. An
//!   unreadable record that overlaps a 512-byte-aligned sector reading as
//!   zeros from the record (or the sector's start) to the sector's end is
//!   that case ([`bitcask::segment::unwritten_sector_in_record`]): the log
//!   is cut there, valid-looking records after it included — their fsync
//!   never returned, so none of them was reported durable. A flipped bit
//!   does not zero a sector, so damage to durable records is still
//!   corruption; the one case this cannot tell apart is damage to a record
//!   whose own payload holds a whole aligned sector of zeros.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bitcask::format::{FILE_HEADER_LEN, FileKind, MAX_VALUE_LEN, Record, RecordKind};
use bitcask::segment::{Appender, Segment, sync_parent};
use bitcask::vfs::{DirLock, Vfs};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::debug;

mod recovery;

use super::{LogStore, check_contiguous};
use crate::error::StorageError;
use crate::types::{Entry, EntryPayload, HardState, Index, SnapshotMeta, Term};

const HARD_STATE_FILE: &str = "hardstate";
const HARD_STATE_TMP: &str = "hardstate.tmp";
const SNAPSHOT_FILE: &str = "snapshot";
const SNAPSHOT_TMP: &str = "snapshot.tmp";
/// Rewrite the hard-state file once it is this long.
const HARD_STATE_REWRITE_BYTES: u64 = 16 * 1024;

/// Options of a [`SegmentLogStore`].
#[derive(Clone, Debug)]
pub struct SegmentLogOptions {
    /// Start a new segment when the active one would grow past this size.
    pub max_segment_bytes: u64,
    /// Extend the active segment with zero bytes in steps of this size,
    /// ahead of the appends (never past `max_segment_bytes`); 0 turns it off.
    ///
    /// An append then overwrites space the file already has, so its fsync
    /// does not have to journal a new file size: on ext4 this took about
    /// 40% off the CPU and the wall time of each append's `fdatasync`
    /// (`docs/benchmarks.md`). The cost is one write of zeros per step, and
    /// that the newest segment ends in zeros (see `docs/format.md`).
    pub preallocate_bytes: u64,
}

/// The default [`SegmentLogOptions::preallocate_bytes`]: 1 MiB.
pub const DEFAULT_PREALLOCATE_BYTES: u64 = 1024 * 1024;

impl Default for SegmentLogOptions {
    fn default() -> Self {
        SegmentLogOptions {
            max_segment_bytes: 64 * 1024 * 1024,
            preallocate_bytes: DEFAULT_PREALLOCATE_BYTES,
        }
    }
}

/// Where one entry lives.
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// Position in `segments`.
    segment: usize,
    offset: u64,
    len: u32,
    term: Term,
}

#[derive(Debug)]
struct SegmentInfo {
    segment: Arc<Segment>,
    /// Index of the first entry this segment holds (or would hold if empty).
    first_index: Index,
}

/// The persistent Raft log. See the module docs for the on-disk layout.
#[derive(Debug)]
pub struct SegmentLogStore<C> {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    options: SegmentLogOptions,
    _lock: Box<dyn DirLock>,
    segments: Vec<SegmentInfo>,
    /// Appender of the last segment.
    active: Appender,
    /// Length of the active segment's file: its records, then zeros
    /// prepared for the next appends (`options.preallocate_bytes`).
    prepared: u64,
    /// Location of every entry, from `first_index` on.
    slots: Vec<Slot>,
    first_index: Index,
    hard_state: HardState,
    hs_appender: Appender,
    /// The latest saved snapshot, and the appender of its file (created on
    /// the first save).
    snapshot: Option<SnapshotMeta>,
    snap_appender: Option<Appender>,
    /// Why a write failed part way, if one did: the store then refuses
    /// every call until reopened (see [`StorageError::Poisoned`]).
    failed: Option<String>,
    _marker: PhantomData<fn() -> C>,
}

fn io_err(path: &Path, source: std::io::Error) -> StorageError {
    StorageError::Io {
        path: Some(path.to_path_buf()),
        source,
    }
}

fn from_bitcask(e: bitcask::error::Error) -> StorageError {
    match e {
        bitcask::error::Error::Io { path, source, .. } => StorageError::Io {
            path: Some(path),
            source,
        },
        bitcask::error::Error::Corrupted {
            path,
            offset,
            reason,
        } => StorageError::Corrupted {
            path,
            offset,
            reason,
        },
        other => StorageError::Other(other.to_string()),
    }
}

fn segment_name(id: u64) -> String {
    format!("log-{id:020}.seg")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix("log-")?
        .strip_suffix(".seg")?
        .parse()
        .ok()
}

fn encode_vote(hs: &HardState) -> Vec<u8> {
    hs.voted_for
        .map(|v| v.to_le_bytes().to_vec())
        .unwrap_or_default()
}

impl<C: Serialize + DeserializeOwned> SegmentLogStore<C> {
    /// Durably appends a snapshot record (rewriting the file when it is big).
    fn write_snapshot_record(&mut self, meta: &SnapshotMeta) -> Result<(), StorageError> {
        let value = postcard::to_allocvec(&(&meta.voters, &meta.learners))?;
        let rec = Record {
            kind: RecordKind::RaftHardState,
            seq: meta.index,
            meta: meta.term,
            key: &[],
            value: &value,
        };
        let path = self.dir.join(SNAPSHOT_FILE);
        match self.snap_appender.as_mut() {
            Some(app) if app.len() < HARD_STATE_REWRITE_BYTES => {
                app.append(&rec);
                app.sync().map_err(from_bitcask)?;
            }
            existing => {
                // First save, or a rewrite: new file with one record, sync,
                // rename over, sync the directory.
                let rewrite = existing.is_some();
                let target = if rewrite {
                    self.dir.join(SNAPSHOT_TMP)
                } else {
                    path.clone()
                };
                let seg = Arc::new(
                    Segment::create(&*self.vfs, &target, FileKind::RaftLog, 0)
                        .map_err(from_bitcask)?,
                );
                let mut app = Appender::new(Arc::clone(&seg), FILE_HEADER_LEN as u64);
                app.append(&rec);
                app.sync().map_err(from_bitcask)?;
                if rewrite {
                    self.vfs
                        .rename(&target, &path)
                        .map_err(|e| io_err(&path, e))?;
                    sync_parent(&*self.vfs, &path).map_err(from_bitcask)?;
                    let reopened =
                        Arc::new(Segment::open(&*self.vfs, &path, true).map_err(from_bitcask)?);
                    app = Appender::new(reopened, app.len());
                }
                self.snap_appender = Some(app);
            }
        }
        Ok(())
    }

    /// Removes every segment and starts an empty one whose first entry will
    /// be `first_index`. Newest first, so a crash leaves a prefix.
    fn drop_all_segments(&mut self, first_index: Index) -> Result<(), StorageError> {
        let next_id = self.segments.last().map_or(1, |s| s.segment.id() + 1);
        for info in self.segments.drain(..).rev() {
            let path = info.segment.path().to_path_buf();
            self.vfs.remove_file(&path).map_err(|e| io_err(&path, e))?;
        }
        sync_parent(&*self.vfs, &self.dir.join(HARD_STATE_FILE)).map_err(from_bitcask)?;
        let path = self.dir.join(segment_name(next_id));
        let seg = Arc::new(
            Segment::create(&*self.vfs, &path, FileKind::RaftLog, next_id).map_err(from_bitcask)?,
        );
        self.segments.push(SegmentInfo {
            segment: Arc::clone(&seg),
            first_index,
        });
        self.active = Appender::new(seg, FILE_HEADER_LEN as u64);
        self.prepared = FILE_HEADER_LEN as u64;
        self.slots.clear();
        self.first_index = first_index;
        Ok(())
    }

    /// The directory this log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file system this log uses.
    pub fn vfs(&self) -> Arc<dyn Vfs> {
        Arc::clone(&self.vfs)
    }

    /// Number of segment files.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Path of the newest segment file (for tests and tools).
    pub fn active_segment_path(&self) -> &Path {
        self.active.segment().path()
    }

    fn last(&self) -> Index {
        self.first_index + self.slots.len() as Index - 1
    }

    fn slot(&self, index: Index) -> Option<&Slot> {
        let pos = index.checked_sub(self.first_index)?;
        self.slots.get(usize::try_from(pos).ok()?)
    }

    fn read_entry(&self, index: Index, buf: &mut Vec<u8>) -> Result<Entry<C>, StorageError> {
        let slot = *self.slot(index).ok_or(StorageError::Compacted(index))?;
        let seg = &self.segments[slot.segment].segment;
        // Indexed entries are always flushed and synced (appends index only
        // after syncing), so a positioned read sees them.
        let rec = seg
            .read_record(slot.offset, slot.len as usize, buf)
            .map_err(from_bitcask)?;
        let payload: EntryPayload<C> =
            postcard::from_bytes(rec.value).map_err(|e| StorageError::Corrupted {
                path: seg.path().to_path_buf(),
                offset: slot.offset,
                reason: format!("entry {index} payload does not decode: {e}"),
            })?;
        Ok(Entry {
            index: rec.seq,
            term: rec.meta,
            payload,
        })
    }

    fn rotate(&mut self, first_index: Index) -> Result<(), StorageError> {
        self.active.sync().map_err(from_bitcask)?;
        self.trim_prepared()?;
        let id = self.segments.last().map_or(1, |s| s.segment.id() + 1);
        let path = self.dir.join(segment_name(id));
        let seg = Arc::new(
            Segment::create(&*self.vfs, &path, FileKind::RaftLog, id).map_err(from_bitcask)?,
        );
        debug!(file = %path.display(), first_index, "new raft log segment");
        self.segments.push(SegmentInfo {
            segment: Arc::clone(&seg),
            first_index,
        });
        self.active = Appender::new(seg, FILE_HEADER_LEN as u64);
        self.prepared = FILE_HEADER_LEN as u64;
        Ok(())
    }

    /// Cuts the zeros prepared past the active segment's last record, and
    /// makes the cut durable: only the newest segment may end in anything
    /// but a record, so this comes before the next segment is created.
    fn trim_prepared(&mut self) -> Result<(), StorageError> {
        let len = self.active.len();
        // The file's length, not `prepared`, decides the cut; and the sync
        // is unconditional (once per segment): after an earlier cut whose
        // sync failed, the file is short in the page cache only.
        let segment = self.active.segment();
        let (file, path) = (segment.file(), segment.path());
        if segment.len().map_err(from_bitcask)? > len {
            file.set_len(len).map_err(|e| io_err(path, e))?;
        }
        file.sync_data().map_err(|e| io_err(path, e))?;
        self.prepared = len;
        Ok(())
    }

    /// Extends the active segment's file with zeros past the bytes about to
    /// be written, up to the next multiple of `preallocate_bytes` (capped at
    /// the segment size). Best effort: if the zeros cannot be written (a
    /// full disk), the append goes on and simply grows the file.
    fn prepare_space(&mut self) {
        let step = self.options.preallocate_bytes;
        let needed = self.active.len();
        if step == 0 || needed <= self.prepared {
            return;
        }
        let target = (needed / step + 1)
            .saturating_mul(step)
            .min(self.options.max_segment_bytes);
        if target <= needed {
            self.prepared = self.prepared.max(needed);
            return;
        }
        const ZERO_CHUNK: u64 = 1024 * 1024;
        let zeros = vec![0u8; (target - needed).min(ZERO_CHUNK) as usize];
        let file = self.active.segment().file();
        let mut at = needed;
        while at < target {
            let n = (target - at).min(zeros.len() as u64) as usize;
            if let Err(e) = file.write_all_at(&zeros[..n], at) {
                debug!(file = %self.active.segment().path().display(), error = %e, "could not prepare space for appends");
                // Whatever zeros did land lie past the records: harmless.
                self.prepared = file.len().unwrap_or(needed).max(needed);
                return;
            }
            at += n as u64;
        }
        self.prepared = target;
    }

    /// Drops the oldest segment (never the only one) and its entries from
    /// memory, after its file was removed.
    fn forget_oldest_segment(&mut self) {
        self.segments.remove(0);
        let new_first = self.segments[0].first_index;
        let dropped = new_first.saturating_sub(self.first_index) as usize;
        self.slots.drain(..dropped.min(self.slots.len()));
        for s in &mut self.slots {
            s.segment -= 1;
        }
        self.first_index = self.first_index.max(new_first);
    }

    /// Removes the newest segment file (never the only one).
    fn drop_last_segment(&mut self) -> Result<(), StorageError> {
        if self.segments.len() < 2 {
            return Err(StorageError::Other("no segment to drop".into()));
        }
        // The file goes first: memory forgets it only once it is gone.
        let path = self.segments[self.segments.len() - 1]
            .segment
            .path()
            .to_path_buf();
        self.vfs.remove_file(&path).map_err(|e| io_err(&path, e))?;
        self.segments.pop();
        let last = &self.segments[self.segments.len() - 1].segment;
        let len = last.len().map_err(from_bitcask)?;
        self.active = Appender::new(Arc::clone(last), len);
        self.prepared = len;
        sync_parent(&*self.vfs, &path).map_err(from_bitcask)
    }
}

/// The write paths of [`LogStore`], wrapped by its implementation below.
impl<C: Serialize + DeserializeOwned> SegmentLogStore<C> {
    /// Fails if an earlier write failed part way (see [`StorageError::Poisoned`]).
    fn guard(&self) -> Result<(), StorageError> {
        match &self.failed {
            Some(reason) => Err(StorageError::Poisoned(reason.clone())),
            None => Ok(()),
        }
    }

    /// Remembers a failure that may have left memory and files apart: one
    /// of the disk or the codec, not a refused request that changed nothing.
    fn note_failure(&mut self, result: &Result<(), StorageError>) {
        if let Err(
            e @ (StorageError::Io { .. }
            | StorageError::Corrupted { .. }
            | StorageError::Codec(_)
            | StorageError::Other(_)),
        ) = result
        {
            self.failed.get_or_insert_with(|| e.to_string());
        }
    }

    fn save_hard_state_inner(&mut self, hs: HardState) -> Result<(), StorageError> {
        let vote = encode_vote(&hs);
        let rec = Record {
            kind: RecordKind::RaftHardState,
            seq: hs.term,
            meta: hs.voted_for.unwrap_or(0),
            key: &[],
            value: &vote,
        };
        if self.hs_appender.len() >= HARD_STATE_REWRITE_BYTES {
            // Rewrite: new file with one record, sync, rename over, sync dir.
            let tmp = self.dir.join(HARD_STATE_TMP);
            let path = self.dir.join(HARD_STATE_FILE);
            let seg = Arc::new(
                Segment::create(&*self.vfs, &tmp, FileKind::RaftLog, 0).map_err(from_bitcask)?,
            );
            let mut app = Appender::new(Arc::clone(&seg), FILE_HEADER_LEN as u64);
            app.append(&rec);
            app.sync().map_err(from_bitcask)?;
            self.vfs.rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
            sync_parent(&*self.vfs, &path).map_err(from_bitcask)?;
            let reopened = Arc::new(Segment::open(&*self.vfs, &path, true).map_err(from_bitcask)?);
            self.hs_appender = Appender::new(reopened, app.len());
        } else {
            self.hs_appender.append(&rec);
            self.hs_appender.sync().map_err(from_bitcask)?;
        }
        self.hard_state = hs;
        Ok(())
    }

    fn append_inner(&mut self, entries: &[Entry<C>]) -> Result<(), StorageError> {
        if entries.is_empty() {
            return Ok(());
        }
        let last_term = match self.slots.last() {
            Some(s) => s.term,
            None => self.term(self.last()).ok().flatten().unwrap_or(0),
        };
        check_contiguous(self.last(), last_term, entries)?;
        let start_segments = self.segments.len();
        let start_len = self.active.len();
        let mut new_slots = Vec::with_capacity(entries.len());
        let result: Result<(), StorageError> = (|| {
            for e in entries {
                let value = postcard::to_allocvec(&e.payload)?;
                if value.len() > MAX_VALUE_LEN {
                    return Err(StorageError::Other(format!(
                        "entry {} is too large ({} bytes)",
                        e.index,
                        value.len()
                    )));
                }
                let rec = Record {
                    kind: RecordKind::RaftEntry,
                    seq: e.index,
                    meta: e.term,
                    key: &[],
                    value: &value,
                };
                let len = rec.encoded_len() as u64;
                if self.active.len() + len > self.options.max_segment_bytes
                    && !self.active.is_empty()
                {
                    self.rotate(e.index)?;
                }
                let offset = self.active.append(&rec);
                new_slots.push(Slot {
                    segment: self.segments.len() - 1,
                    offset,
                    len: len as u32,
                    term: e.term,
                });
            }
            // One fsync for the batch (plus one per rotation, in `rotate`);
            // the zeros prepared past the batch are made durable with it.
            self.prepare_space();
            self.active.sync().map_err(from_bitcask)
        })();
        if let Err(e) = result {
            // Roll back what we can (the caller should treat the error as
            // fatal anyway): the segments this batch created, newest first,
            // then the part of the batch in the segment it started in — so
            // a retry does not write entries twice.
            while self.segments.len() > start_segments {
                if self.drop_last_segment().is_err() {
                    break;
                }
            }
            if self.segments.len() == start_segments {
                let _ = self.active.truncate(start_len);
            }
            self.prepared = self.active.segment().len().unwrap_or(self.prepared);
            return Err(e);
        }
        self.slots.extend(new_slots);
        Ok(())
    }

    fn truncate_after_inner(&mut self, index: Index) -> Result<(), StorageError> {
        if index >= self.last() {
            return Ok(());
        }
        let at_snapshot = self.snapshot.as_ref().is_some_and(|s| s.index == index);
        if index + 1 < self.first_index
            || (index + 1 == self.first_index && self.first_index > 1 && !at_snapshot)
        {
            return Err(StorageError::Compacted(index));
        }
        // 1. Whole segments past the cut, newest first: a crash leaves a prefix.
        while self.segments.len() > 1 && self.segments[self.segments.len() - 1].first_index > index
        {
            self.drop_last_segment()?;
        }
        // 2. Cut the segment holding index + 1 at that entry, then fsync.
        let keep = (index + 1 - self.first_index) as usize;
        let cut_at = match self.slots.get(keep) {
            Some(slot) if slot.segment + 1 == self.segments.len() => slot.offset,
            _ => self.active.len(),
        };
        self.active.truncate(cut_at).map_err(from_bitcask)?;
        self.prepared = self.active.segment().len().map_err(from_bitcask)?;
        self.slots.truncate(keep);
        Ok(())
    }

    fn purge_up_to_inner(&mut self, index: Index) -> Result<(), StorageError> {
        // Whole segments only, and never the active one.
        let mut removed = 0;
        while self.segments.len() > removed + 1
            && self.segments[removed + 1].first_index <= index + 1
        {
            removed += 1;
        }
        if removed == 0 {
            return Ok(());
        }
        // Oldest first, forgetting each segment once its file is gone, so
        // that a failure part way leaves memory agreeing with the disk.
        for _ in 0..removed {
            let path = self.segments[0].segment.path().to_path_buf();
            self.vfs.remove_file(&path).map_err(|e| io_err(&path, e))?;
            self.forget_oldest_segment();
        }
        sync_parent(&*self.vfs, &self.dir.join(HARD_STATE_FILE)).map_err(from_bitcask)
    }

    fn save_snapshot_inner(&mut self, meta: &SnapshotMeta) -> Result<(), StorageError> {
        if let Some(cur) = &self.snapshot
            && meta.index < cur.index
        {
            return Err(StorageError::SnapshotRegression {
                index: meta.index,
                current: cur.index,
            });
        }
        let matches = self.term(meta.index).ok().flatten() == Some(meta.term);
        // 1. The record, durably: from now on a reopen reconciles the log
        //    with it, whatever step 2 got done.
        self.write_snapshot_record(meta)?;
        self.snapshot = Some(meta.clone());
        // 2. A log that does not contain the snapshot's last entry is replaced.
        if !matches {
            self.drop_all_segments(meta.index + 1)?;
        }
        debug!(dir = %self.dir.display(), index = meta.index, term = meta.term, kept = matches, "snapshot saved");
        Ok(())
    }
}

impl<C: Serialize + DeserializeOwned> LogStore<C> for SegmentLogStore<C> {
    fn hard_state(&self) -> Result<HardState, StorageError> {
        Ok(self.hard_state)
    }

    fn save_hard_state(&mut self, hs: HardState) -> Result<(), StorageError> {
        self.guard()?;
        let result = self.save_hard_state_inner(hs);
        self.note_failure(&result);
        result
    }

    fn append(&mut self, entries: &[Entry<C>]) -> Result<(), StorageError> {
        self.guard()?;
        let result = self.append_inner(entries);
        self.note_failure(&result);
        result
    }

    fn truncate_after(&mut self, index: Index) -> Result<(), StorageError> {
        self.guard()?;
        let result = self.truncate_after_inner(index);
        self.note_failure(&result);
        result
    }

    fn purge_up_to(&mut self, index: Index) -> Result<(), StorageError> {
        self.guard()?;
        let result = self.purge_up_to_inner(index);
        self.note_failure(&result);
        result
    }

    fn first_index(&self) -> Index {
        self.first_index
    }

    fn last_index(&self) -> Index {
        self.last()
    }

    fn term(&self, index: Index) -> Result<Option<Term>, StorageError> {
        if index == 0 {
            return Ok(Some(0));
        }
        if index < self.first_index {
            if let Some(s) = &self.snapshot
                && s.index == index
            {
                return Ok(Some(s.term));
            }
            return Err(StorageError::Compacted(index));
        }
        Ok(self.slot(index).map(|s| s.term))
    }

    fn entries(
        &self,
        lo: Index,
        hi: Index,
        max_bytes: Option<u64>,
    ) -> Result<Vec<Entry<C>>, StorageError> {
        self.guard()?;
        if lo < self.first_index {
            return Err(StorageError::Compacted(lo));
        }
        let hi = hi.min(self.last() + 1);
        let mut out = Vec::new();
        let mut size = 0u64;
        let mut buf = Vec::new();
        for i in lo..hi {
            if let (Some(max), Some(slot)) = (max_bytes, self.slot(i)) {
                size += u64::from(slot.len);
                if size > max && !out.is_empty() {
                    break;
                }
            }
            out.push(self.read_entry(i, &mut buf)?);
        }
        Ok(out)
    }

    fn save_snapshot(&mut self, meta: &SnapshotMeta) -> Result<(), StorageError> {
        self.guard()?;
        let result = self.save_snapshot_inner(meta);
        self.note_failure(&result);
        result
    }

    fn snapshot(&self) -> Result<Option<SnapshotMeta>, StorageError> {
        Ok(self.snapshot.clone())
    }
}

/// Opens an existing log on the OS file system (convenience for servers/tools).
pub fn open_dir<C: Serialize + DeserializeOwned>(
    dir: &Path,
) -> Result<SegmentLogStore<C>, StorageError> {
    SegmentLogStore::open(
        Arc::new(bitcask::vfs::OsVfs),
        dir,
        SegmentLogOptions::default(),
    )
}
