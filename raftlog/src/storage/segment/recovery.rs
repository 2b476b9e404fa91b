//! Opening a segment log: reading and repairing what a crash left (see
//! the recovery rules in the parent module's docs and `docs/format.md`).

use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use bitcask::format::{FILE_HEADER_LEN, FileKind, RecordKind};
use bitcask::segment::{Appender, ScanEnd, Segment, scan, sync_parent};
use bitcask::vfs::Vfs;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{debug, warn};

use super::{
    HARD_STATE_FILE, HARD_STATE_TMP, SNAPSHOT_FILE, SNAPSHOT_TMP, SegmentInfo, SegmentLogOptions,
    SegmentLogStore, Slot, from_bitcask, io_err, parse_segment_name, segment_name,
};
use crate::error::StorageError;
use crate::types::{HardState, Index, NodeId, SnapshotMeta};

impl<C: Serialize + DeserializeOwned> SegmentLogStore<C> {
    /// Opens (creating if needed) the log in `dir`, recovering from a crash:
    /// see the module docs for what is repaired and what is an error.
    pub fn open(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        options: SegmentLogOptions,
    ) -> Result<Self, StorageError> {
        vfs.create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let lock = vfs
            .try_lock_exclusive(&dir.join("LOCK"))
            .map_err(|e| io_err(dir, e))?;
        let (snapshot, snap_appender) = Self::open_snapshot(&*vfs, dir)?;
        // Where the log starts when it holds no entry.
        let base = snapshot.as_ref().map_or(1, |s| s.index + 1);
        let mut ids: Vec<u64> = vfs
            .list_dir(dir)
            .map_err(|e| io_err(dir, e))?
            .iter()
            .filter_map(|n| parse_segment_name(n))
            .collect();
        ids.sort_unstable();

        let mut segments = Vec::new();
        let mut slots: Vec<Slot> = Vec::new();
        // Index of the first entry overall (1 unless the log was purged).
        let mut first_index: Option<Index> = None;
        // The index the next record must carry (contiguity across segments).
        let mut next_expected: Option<Index> = None;
        let mut active_len = FILE_HEADER_LEN as u64;
        for (pos, &id) in ids.iter().enumerate() {
            let path = dir.join(segment_name(id));
            let newest = pos + 1 == ids.len();
            let segment = match Segment::open(&*vfs, &path, true) {
                Ok(s) => s,
                // A crash while the newest segment was being created.
                Err(bitcask::error::Error::Corrupted {
                    offset: 0, reason, ..
                }) if newest && reason.starts_with("incomplete header") => {
                    warn!(file = %path.display(), "removing a segment torn during creation");
                    vfs.remove_file(&path).map_err(|e| io_err(&path, e))?;
                    sync_parent(&*vfs, &path).map_err(from_bitcask)?;
                    continue;
                }
                Err(e) => return Err(from_bitcask(e)),
            };
            if segment.kind() != FileKind::RaftLog {
                return Err(StorageError::Corrupted {
                    path,
                    offset: 0,
                    reason: format!(
                        "a {} file where a raft-log segment was expected",
                        segment.kind()
                    ),
                });
            }
            let seg_pos = segments.len();
            let first_slot = slots.len();
            // Whether a scan error is about a decoded record (an invariant
            // of the log) rather than about unreadable bytes.
            let mut record_rejected = false;
            let scanned = scan(&segment, |offset, rec| {
                record_rejected = true;
                let bad = |reason: String| bitcask::error::Error::Corrupted {
                    path: path.clone(),
                    offset,
                    reason,
                };
                if rec.kind != RecordKind::RaftEntry {
                    return Err(bad(format!(
                        "unexpected {} record in a raft-log segment",
                        rec.kind
                    )));
                }
                if rec.seq == 0 || next_expected.is_some_and(|e| e != rec.seq) {
                    return Err(bad(format!(
                        "entry index {} where {next_expected:?} was expected",
                        rec.seq
                    )));
                }
                if let Some(prev) = slots.last()
                    && rec.meta < prev.term
                {
                    return Err(bad(format!(
                        "entry {} has term {} below its predecessor's {}",
                        rec.seq, rec.meta, prev.term
                    )));
                }
                first_index.get_or_insert(rec.seq);
                next_expected = Some(rec.seq + 1);
                let len = bitcask::format::record_len(rec.key.len(), rec.value.len()) as u32;
                slots.push(Slot {
                    segment: seg_pos,
                    offset,
                    len,
                    term: rec.meta,
                });
                record_rejected = false;
                Ok(())
            });
            let end = match scanned {
                Ok(end) => end,
                // Valid records after unreadable bytes: corruption, unless
                // the newest segment shows the mark of an append that a
                // power loss interrupted inside prepared zeros (any subset
                // of its sectors may have reached the disk). Nothing from
                // that append on was acknowledged: its fsync never returned.
                Err(bitcask::error::Error::Corrupted { offset, reason, .. })
                    if newest
                        && !record_rejected
                        && bitcask::segment::unwritten_sector_in_record(&segment, offset)
                            .map_err(from_bitcask)? =>
                {
                    warn!(file = %path.display(), offset, %reason, "an append a crash interrupted inside prepared space: cutting it and everything after it");
                    ScanEnd::Torn {
                        valid_len: offset,
                        file_len: segment.len().map_err(from_bitcask)?,
                    }
                }
                Err(e) => return Err(from_bitcask(e)),
            };
            if let ScanEnd::Torn {
                valid_len,
                file_len,
            } = end
            {
                if !newest {
                    return Err(StorageError::Corrupted {
                        path,
                        offset: valid_len,
                        reason: "unreadable tail in a segment that is not the newest".into(),
                    });
                }
                if bitcask::segment::is_zero_range(&segment, valid_len, file_len)
                    .map_err(from_bitcask)?
                {
                    debug!(file = %path.display(), valid_len, file_len, "cutting the space prepared for appends");
                } else {
                    warn!(file = %path.display(), valid_len, file_len, "cutting a torn tail");
                }
                segment
                    .file()
                    .set_len(valid_len)
                    .map_err(|e| io_err(&path, e))?;
                segment.file().sync_data().map_err(|e| io_err(&path, e))?;
            }
            active_len = end.valid_len();
            let seg_first_index = match first_index {
                Some(f) if slots.len() > first_slot => f + first_slot as Index,
                _ => next_expected.unwrap_or(base),
            };
            segments.push(SegmentInfo {
                segment: Arc::new(segment),
                first_index: seg_first_index,
            });
        }
        let mut first_index = first_index.unwrap_or(base);
        if let Some(snap) = &snapshot {
            // A crash while a snapshot was being installed may leave entries
            // the snapshot replaced (rule 7): they go now.
            let consistent = slots.is_empty()
                || first_index > snap.index
                || snap
                    .index
                    .checked_sub(first_index)
                    .and_then(|p| slots.get(usize::try_from(p).ok()?))
                    .is_some_and(|slot| slot.term == snap.term);
            if !consistent {
                warn!(
                    dir = %dir.display(),
                    snapshot = snap.index,
                    "removing log entries replaced by the installed snapshot"
                );
                for info in segments.drain(..).rev() {
                    let path = info.segment.path().to_path_buf();
                    vfs.remove_file(&path).map_err(|e| io_err(&path, e))?;
                }
                sync_parent(&*vfs, &dir.join(HARD_STATE_FILE)).map_err(from_bitcask)?;
                slots.clear();
                first_index = base;
            }
        }
        if segments.is_empty() {
            let id = ids.last().map_or(1, |&last| last + 1);
            let path = dir.join(segment_name(id));
            let segment =
                Segment::create(&*vfs, &path, FileKind::RaftLog, id).map_err(from_bitcask)?;
            segments.push(SegmentInfo {
                segment: Arc::new(segment),
                first_index,
            });
            active_len = FILE_HEADER_LEN as u64;
        }
        // A process crash leaves entries (and names) in the page cache that a
        // power loss can still take away: make them durable before this node
        // reports them in its log — a follower's append response counts it
        // toward a commit. This also fsyncs the directory.
        let active = Appender::resume(
            &*vfs,
            Arc::clone(&segments[segments.len() - 1].segment),
            active_len,
        )
        .map_err(from_bitcask)?;
        let (hard_state, hs_appender) = Self::open_hard_state(&*vfs, dir)?;
        debug!(dir = %dir.display(), first_index, entries = slots.len(), segments = segments.len(), "opened raft log");
        Ok(SegmentLogStore {
            vfs,
            dir: dir.to_path_buf(),
            options,
            _lock: lock,
            segments,
            prepared: active.len(),
            active,
            slots,
            first_index,
            hard_state,
            hs_appender,
            snapshot,
            snap_appender,
            failed: None,
            _marker: PhantomData,
        })
    }

    /// Reads the snapshot file, if any: the last valid record wins, a torn
    /// last record is ignored (see `docs/format.md`).
    fn open_snapshot(
        vfs: &dyn Vfs,
        dir: &Path,
    ) -> Result<(Option<SnapshotMeta>, Option<Appender>), StorageError> {
        let names = vfs.list_dir(dir).map_err(|e| io_err(dir, e))?;
        if names.iter().any(|n| n == SNAPSHOT_TMP) {
            // An interrupted rewrite: the old file is intact.
            let tmp = dir.join(SNAPSHOT_TMP);
            vfs.remove_file(&tmp).map_err(|e| io_err(&tmp, e))?;
        }
        if !names.iter().any(|n| n == SNAPSHOT_FILE) {
            return Ok((None, None));
        }
        let path = dir.join(SNAPSHOT_FILE);
        let seg = match Segment::open(vfs, &path, true) {
            Ok(seg) => seg,
            // A crash while the file was being created: no snapshot was saved.
            Err(bitcask::error::Error::Corrupted {
                offset: 0, reason, ..
            }) if reason.starts_with("incomplete header") => {
                warn!(file = %path.display(), "removing a snapshot file torn during creation");
                vfs.remove_file(&path).map_err(|e| io_err(&path, e))?;
                sync_parent(vfs, &path).map_err(from_bitcask)?;
                return Ok((None, None));
            }
            Err(e) => return Err(from_bitcask(e)),
        };
        let mut meta = None;
        let end = scan(&seg, |offset, rec| {
            let bad = |reason: String| bitcask::error::Error::Corrupted {
                path: path.clone(),
                offset,
                reason,
            };
            if rec.kind != RecordKind::RaftHardState {
                return Err(bad(format!(
                    "unexpected {} record in the snapshot file",
                    rec.kind
                )));
            }
            let (voters, learners): (Vec<NodeId>, Vec<NodeId>) = postcard::from_bytes(rec.value)
                .map_err(|e| bad(format!("snapshot configuration does not decode: {e}")))?;
            meta = Some(SnapshotMeta {
                index: rec.seq,
                term: rec.meta,
                voters,
                learners,
            });
            Ok(())
        })
        .map_err(from_bitcask)?;
        if let ScanEnd::Torn { valid_len, .. } = end {
            warn!(file = %path.display(), valid_len, "ignoring a torn snapshot record");
        }
        // As for the hard state: what a process crash left in the page cache
        // must be durable before the node builds on it.
        let appender =
            Appender::resume(vfs, Arc::new(seg), end.valid_len()).map_err(from_bitcask)?;
        Ok((meta, Some(appender)))
    }

    /// Reads the hard-state file (creating it if needed): the last valid
    /// record wins, a torn last record is ignored.
    fn open_hard_state(vfs: &dyn Vfs, dir: &Path) -> Result<(HardState, Appender), StorageError> {
        let path = dir.join(HARD_STATE_FILE);
        // A leftover temporary file is an interrupted rewrite: the old file is intact.
        let tmp = dir.join(HARD_STATE_TMP);
        if vfs
            .list_dir(dir)
            .map_err(|e| io_err(dir, e))?
            .iter()
            .any(|n| n == HARD_STATE_TMP)
        {
            vfs.remove_file(&tmp).map_err(|e| io_err(&tmp, e))?;
        }
        let exists = vfs
            .list_dir(dir)
            .map_err(|e| io_err(dir, e))?
            .iter()
            .any(|n| n == HARD_STATE_FILE);
        if !exists {
            let seg = Segment::create(vfs, &path, FileKind::RaftLog, 0).map_err(from_bitcask)?;
            return Ok((
                HardState::default(),
                Appender::new(Arc::new(seg), FILE_HEADER_LEN as u64),
            ));
        }
        let seg = match Segment::open(vfs, &path, true) {
            Ok(seg) => seg,
            // A crash while the first opener created the file: no hard
            // state was ever saved in it (creation syncs the header before
            // any record; later rewrites go through a temporary file).
            Err(bitcask::error::Error::Corrupted {
                offset: 0, reason, ..
            }) if reason.starts_with("incomplete header") => {
                warn!(file = %path.display(), "recreating a hard-state file torn during creation");
                vfs.remove_file(&path).map_err(|e| io_err(&path, e))?;
                sync_parent(vfs, &path).map_err(from_bitcask)?;
                let seg =
                    Segment::create(vfs, &path, FileKind::RaftLog, 0).map_err(from_bitcask)?;
                return Ok((
                    HardState::default(),
                    Appender::new(Arc::new(seg), FILE_HEADER_LEN as u64),
                ));
            }
            Err(e) => return Err(from_bitcask(e)),
        };
        let mut hs = HardState::default();
        let end = scan(&seg, |offset, rec| {
            if rec.kind != RecordKind::RaftHardState {
                return Err(bitcask::error::Error::Corrupted {
                    path: path.clone(),
                    offset,
                    reason: format!("unexpected {} record in the hard-state file", rec.kind),
                });
            }
            let voted_for = match rec.value.len() {
                0 => None,
                8 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(rec.value);
                    Some(u64::from_le_bytes(b))
                }
                n => {
                    return Err(bitcask::error::Error::Corrupted {
                        path: path.clone(),
                        offset,
                        reason: format!("vote of {n} bytes"),
                    });
                }
            };
            hs = HardState {
                term: rec.seq,
                voted_for,
            };
            Ok(())
        })
        .map_err(from_bitcask)?;
        if let ScanEnd::Torn { valid_len, .. } = end {
            warn!(file = %path.display(), valid_len, "ignoring a torn hard-state record");
        }
        // The term and vote read back may exist only in the page cache (the
        // process died between writing and fsyncing them): make them
        // durable before the node acts on them, or a power loss could let
        // it vote twice in one term.
        let appender =
            Appender::resume(vfs, Arc::new(seg), end.valid_len()).map_err(from_bitcask)?;
        Ok((hs, appender))
    }
}
