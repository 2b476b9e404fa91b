//! Opening a directory: find the segments, load each from its hint file or
//! by scanning it, oldest to newest, and rebuild the keydir and statistics.
//!
//! Rules (see `docs/format.md`, "Recovery"):
//! - Leftover `*.tmp` files (a hint or merge output a crash interrupted) are
//!   removed; so are hint files without a data file.
//! - A segment written by a merge lists the segments it replaces in its
//!   first record; if any of those still exist (a crash came between the
//!   merge's commit and the removal of its inputs), they are removed now —
//!   by a read-write open, and only after every record of the output was
//!   read back and checked.
//! - A read-write open makes what it inherits durable before building on it
//!   (`segment::make_durable`: the active segment and the directory), since
//!   a process crash leaves bytes and names in the page cache only.
//! - A read-only open that finds a listed file gone (a live writer merged it
//!   away) lists the directory again.
//! - Only the *active* segment — the newest segment not written by a merge —
//!   may end in a torn tail: a crash can only interrupt appends to it,
//!   because a segment is fsynced before the next one is created, and merge
//!   outputs are complete before they are renamed into place. The torn tail
//!   (including a write batch whose commit record is missing) is cut off
//!   (read-write) or ignored (read-only), and the bytes dropped are logged.
//! - An unreadable record anywhere else, or one followed by valid records,
//!   is [`Error::Corrupted`] naming the file and offset.
//! - A newest segment shorter than its header was torn right after it was
//!   created; it holds no record and is removed.
//! - A valid hint file replaces the scan of its (sealed) data segment; a
//!   missing, truncated or corrupt one is logged and the data file scanned.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{self, FileKind, RecordKind, SEGMENT_FLAG_MERGED};
use crate::hint::{self, TMP_SUFFIX};
use crate::keydir::{Entry, Keydir, KeydirPart, MAX_SEQ};
use crate::segment::{self, ScanEnd, Segment};
use crate::stats::Tracker;
use crate::store::{LOCK_FILE, data_path};
use crate::vfs::Vfs;

/// What recovery found.
pub(crate) struct Recovered {
    pub keydir: Keydir,
    pub segments: BTreeMap<u32, Arc<Segment>>,
    pub stats: Tracker,
    /// The active segment and its valid length, opened for writing
    /// (read-write only, and only if it can still be appended to).
    pub newest_writable: Option<(Arc<Segment>, u64)>,
    /// The highest sequence number in any record.
    pub max_seq: u64,
    /// The highest segment id in the directory (0 if none).
    pub max_id: u32,
    /// Sealed segments without a valid hint file.
    pub missing_hints: Vec<u32>,
}

/// Parses a data segment file name (`0000000042.data`) into its id.
pub fn parse_data_name(name: &str) -> Option<u32> {
    parse_name(name, ".data")
}

/// Parses a hint file name (`0000000042.hint`) into its id.
pub fn parse_hint_name(name: &str) -> Option<u32> {
    parse_name(name, ".hint")
}

fn parse_name(name: &str, suffix: &str) -> Option<u32> {
    let stem = name.strip_suffix(suffix)?;
    if stem.len() != 10 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// What the optional first record of a data segment says about it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Written complete by a merge.
    pub merged: bool,
    /// Ids of the segments this one replaces.
    pub replaces: Vec<u32>,
}

/// Reads the optional `SegmentInfo` record at the start of a data segment
/// (defaults when there is none).
pub fn read_segment_info(segment: &Segment) -> Result<SegmentInfo> {
    let len = segment.len()?;
    let start = format::FILE_HEADER_LEN as u64;
    if len < start + format::RECORD_HEADER_LEN as u64 {
        return Ok(SegmentInfo::default());
    }
    let mut head = [0u8; format::RECORD_HEADER_LEN];
    segment
        .file()
        .read_exact_at(&mut head, start)
        .map_err(|e| Error::io("read", segment.path(), e))?;
    let Ok(header) = format::RecordHeader::decode(&head) else {
        return Ok(SegmentInfo::default());
    };
    if header.kind != RecordKind::SegmentInfo {
        return Ok(SegmentInfo::default());
    }
    let mut buf = Vec::new();
    let record = segment.read_record(start, header.record_len(), &mut buf)?;
    if record.value.len() % 4 != 0 {
        return Err(Error::corrupted(
            segment.path(),
            start,
            "segment info lists a partial segment id",
        ));
    }
    Ok(SegmentInfo {
        merged: record.meta & SEGMENT_FLAG_MERGED != 0,
        replaces: record
            .value
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect(),
    })
}

/// A key-changing record inside an unfinished batch.
struct BufferedOp {
    key: Vec<u8>,
    entry: Entry,
}

/// A batch being read: where it began, how many records it announced, its
/// key-changing records, and `(kind, seq, len)` of every record for the
/// statistics. Applied only when its commit record is read.
struct OpenBatch {
    begin: u64,
    count: u64,
    ops: Vec<BufferedOp>,
    records: Vec<(RecordKind, u64, u64)>,
}

fn remove_logged(vfs: &dyn Vfs, path: &Path, why: &str) -> Result<()> {
    tracing::info!(file = %path.display(), "removing: {why}");
    match vfs.remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Recovers `dir`. `active_map_len` is how much of the active segment a
/// read-write opener maps (its maximum size; 0 = map nothing); sealed
/// segments are mapped whole; a read-only opener does not map the active
/// segment, which a live writer may still cut.
/// `cut_damaged_active_tail`: see [`crate::Options::replaceable_active_tail`]
/// (used by a read-write open only).
pub(crate) fn recover(
    vfs: &dyn Vfs,
    dir: &Path,
    writable: bool,
    active_map_len: u64,
    cut_damaged_active_tail: bool,
) -> Result<Recovered> {
    let names = vfs
        .list_dir(dir)
        .map_err(|e| Error::io("list directory", dir, e))?;
    let mut data_ids = BTreeSet::new();
    let mut hint_ids = BTreeSet::new();
    let mut changed_dir = false;
    if names
        .iter()
        .any(|n| n == crate::checkpoint::CHECKPOINT_PARTIAL_FILE)
    {
        return Err(Error::IncompleteCheckpoint {
            path: dir.to_path_buf(),
            reason: format!(
                "{} is present: the checkpoint was interrupted",
                crate::checkpoint::CHECKPOINT_PARTIAL_FILE
            ),
        });
    }
    for name in &names {
        if let Some(id) = parse_data_name(name) {
            data_ids.insert(id);
        } else if let Some(id) = parse_hint_name(name) {
            hint_ids.insert(id);
        } else if name.ends_with(TMP_SUFFIX) {
            if writable {
                remove_logged(vfs, &dir.join(name), "unfinished file left by a crash")?;
                changed_dir = true;
            }
        } else if name != LOCK_FILE && name != crate::checkpoint::CHECKPOINT_FILE {
            tracing::warn!(dir = %dir.display(), file = %name, "ignoring unknown file");
        }
    }

    // Pass 1: open every segment and learn which are merge outputs.
    let mut opened: BTreeMap<u32, (Segment, SegmentInfo)> = BTreeMap::new();
    let mut torn_at_creation = Vec::new();
    for &id in &data_ids {
        let path = data_path(dir, id);
        match Segment::open(vfs, &path, false) {
            Ok(segment) => {
                if segment.kind() != FileKind::Data {
                    return Err(Error::WrongFileKind {
                        path,
                        expected: FileKind::Data,
                        found: segment.kind(),
                    });
                }
                if segment.id() != u64::from(id) {
                    return Err(Error::corrupted(
                        &path,
                        0,
                        format!("header says segment {}, file name says {id}", segment.id()),
                    ));
                }
                let info = read_segment_info(&segment)?;
                opened.insert(id, (segment, info));
            }
            Err(Error::Corrupted { reason, .. }) if reason.starts_with("incomplete header") => {
                torn_at_creation.push(id);
            }
            Err(e) => return Err(e),
        }
    }
    let replaced: BTreeSet<u32> = opened
        .values()
        .filter(|(_, info)| info.merged)
        .flat_map(|(_, info)| info.replaces.iter().copied())
        .filter(|id| opened.contains_key(id))
        .collect();
    if writable && !replaced.is_empty() {
        // Removing the inputs leaves the output as the only copy: check all
        // of it first, not just its first record. A damaged output is an
        // error naming it, and every input stays.
        for (output, (segment, info)) in &opened {
            if info.merged
                && !replaced.contains(output)
                && info.replaces.iter().any(|id| replaced.contains(id))
            {
                verify_merge_output(segment)?;
            }
        }
    }
    for id in &replaced {
        opened.remove(id);
        if writable {
            remove_logged(vfs, &data_path(dir, *id), "replaced by a completed merge")?;
            remove_logged(
                vfs,
                &hint::hint_path(dir, *id),
                "replaced by a completed merge",
            )?;
            hint_ids.remove(id);
            changed_dir = true;
        }
    }
    let active_id = opened
        .iter()
        .filter(|(_, (_, info))| !info.merged)
        .map(|(&id, _)| id)
        .next_back();
    for id in torn_at_creation {
        // Creating a segment writes its header first: a file holding a prefix
        // of the right header never held a record. Anything else lost data.
        let path = data_path(dir, id);
        let bytes = vfs
            .open_file(&path, crate::vfs::OpenMode::Read)
            .and_then(|f| {
                let mut buf = vec![0u8; format::FILE_HEADER_LEN];
                let n = f.read_at(&mut buf, 0)?;
                buf.truncate(n);
                Ok(buf)
            })
            .map_err(|e| Error::io("read", &path, e))?;
        let expected = format::FileHeader {
            kind: FileKind::Data,
            segment_id: u64::from(id),
        }
        .encode();
        if !expected.starts_with(&bytes) {
            return Err(Error::corrupted(
                &path,
                0,
                format!(
                    "file of {} bytes is shorter than a header and not a torn one",
                    bytes.len()
                ),
            ));
        }
        let _ = active_id;
        tracing::warn!(file = %data_path(dir, id).display(), "segment was torn while being created; removing it");
        if writable {
            remove_logged(vfs, &data_path(dir, id), "torn at creation")?;
            changed_dir = true;
        }
    }
    for &id in &hint_ids {
        if !opened.contains_key(&id) && writable {
            remove_logged(vfs, &hint::hint_path(dir, id), "hint without a data file")?;
            changed_dir = true;
        }
    }
    if changed_dir {
        vfs.sync_dir(dir)
            .map_err(|e| Error::io("sync directory", dir, e))?;
    }

    // Pass 2: load every segment, oldest to newest.
    // Each segment loads into its own part (appends only); the keydir is
    // built from all parts at once at the end, sized exactly.
    let keydir = Keydir::new();
    let max_id = data_ids.iter().copied().max().unwrap_or(0);
    let context = LoadContext {
        vfs,
        dir,
        writable,
        active_map_len,
        cut_damaged_active_tail: cut_damaged_active_tail && writable,
        active_id,
        hint_ids: &hint_ids,
        keydir: &keydir,
    };
    // Segments load in parallel: the keydir is sharded, and applying entries
    // in any order gives the same result (highest sequence number wins,
    // tombstones are kept until the end).
    // Threads only pay off for real amounts of data in several segments.
    let sizes: Vec<u64> = opened
        .values()
        .map(|(segment, _)| segment.len().unwrap_or(0))
        .collect();
    let big_segments = sizes.iter().filter(|&&len| len >= 1 << 20).count();
    let workers = if sizes.iter().sum::<u64>() < 64 << 20 {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(big_segments)
            .clamp(1, 8)
    };
    let queue = parking_lot::Mutex::new(opened.into_iter().collect::<Vec<_>>());
    let results = parking_lot::Mutex::new(Vec::new());
    let work = || {
        loop {
            // Oldest first, so a single worker loads in id order.
            let next = {
                let mut queue = queue.lock();
                if queue.is_empty() {
                    None
                } else {
                    Some(queue.remove(0))
                }
            };
            let Some((id, (segment, info))) = next else {
                break;
            };
            let loaded = context.load_segment(id, segment, info);
            results.lock().push((id, loaded));
        }
    };
    if workers == 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(work);
            }
        });
    }
    let mut results = results.into_inner();
    results.sort_by_key(|(id, _)| *id);
    let mut stats = Tracker::default();
    let mut segments = BTreeMap::new();
    let mut newest_writable = None;
    let mut missing_hints = Vec::new();
    let mut max_seq = 0;
    let results: Vec<(u32, LoadedSegment)> = results
        .into_iter()
        // The first error in id order, whatever thread found it first.
        .map(|(id, loaded)| loaded.map(|l| (id, l)))
        .collect::<Result<_>>()?;
    for (_, loaded) in &results {
        if let Some(file_len) = loaded.cut {
            let path = loaded.segment.path();
            let file = loaded.segment.file();
            file.set_len(loaded.valid_len)
                .and_then(|()| file.sync_data())
                .map_err(|e| Error::io("truncate torn tail of", path, e))?;
            tracing::warn!(
                file = %path.display(),
                offset = loaded.valid_len,
                dropped_bytes = file_len - loaded.valid_len,
                "cut a torn tail off the active segment (a crash interrupted a write)"
            );
        }
    }
    let mut parts = Vec::with_capacity(results.len());
    for (id, mut loaded) in results {
        parts.push(std::mem::replace(&mut loaded.part, keydir.part()));
        max_seq = max_seq.max(loaded.max_seq);
        stats.segments.extend(loaded.stats.segments);
        if loaded.missing_hint {
            missing_hints.push(id);
        }
        if loaded.writable_active {
            newest_writable = Some((loaded.segment.clone(), loaded.valid_len));
        }
        segments.insert(id, loaded.segment);
    }
    // Newest entry of each key wins, tombstones are dropped.
    keydir.absorb(parts);
    for (segment, (keys, bytes)) in keydir.live_by_segment() {
        let counters = stats.segments.entry(segment).or_default();
        counters.live_keys += keys;
        counters.live_bytes += bytes;
    }
    Ok(Recovered {
        keydir,
        segments,
        stats,
        newest_writable,
        max_seq,
        max_id,
        missing_hints,
    })
}

/// Checks every record of a merge output whose inputs recovery is about to
/// remove: it must end cleanly (a merge output is complete before its
/// commit point, so even a torn tail means damage).
fn verify_merge_output(segment: &Segment) -> Result<()> {
    match segment::scan(segment, |_, _| Ok(()))? {
        ScanEnd::Clean { .. } => Ok(()),
        ScanEnd::Torn { valid_len, .. } => Err(Error::corrupted(
            segment.path(),
            valid_len,
            "merge output ends in an unreadable tail; the segments it replaces are kept",
        )),
    }
}

/// What loading one segment needs to know.
struct LoadContext<'a> {
    vfs: &'a dyn Vfs,
    dir: &'a Path,
    writable: bool,
    active_map_len: u64,
    cut_damaged_active_tail: bool,
    active_id: Option<u32>,
    hint_ids: &'a BTreeSet<u32>,
    keydir: &'a Keydir,
}

/// One loaded segment.
struct LoadedSegment {
    segment: Arc<Segment>,
    valid_len: u64,
    /// The active segment's length before its torn tail is cut to `valid_len`.
    cut: Option<u64>,
    /// Counters of this segment only.
    stats: Tracker,
    max_seq: u64,
    /// A sealed segment without a valid hint.
    missing_hint: bool,
    /// The active segment, opened for appending.
    writable_active: bool,
    /// The segment's keydir entries, for [`Keydir::absorb`].
    part: KeydirPart,
}

impl LoadContext<'_> {
    /// Loads one segment into the keydir, from its hint if valid, else by
    /// scanning it (cutting a torn tail off the active segment).
    fn load_segment(&self, id: u32, segment: Segment, info: SegmentInfo) -> Result<LoadedSegment> {
        let (vfs, dir) = (self.vfs, self.dir);
        let mut part = self.keydir.part();
        let is_active = Some(id) == self.active_id;
        let data_len = segment.len()?;
        let mut stats = Tracker::default();
        let mut max_seq = 0;
        let mut loaded_from_hint = false;
        if self.hint_ids.contains(&id) {
            let mut hint_max_seq = 0;
            let counters = stats.segments.entry(id).or_default();
            let loaded = hint::load_hint(vfs, &hint::hint_path(dir, id), id, data_len, |e| {
                hint_max_seq = hint_max_seq.max(e.seq);
                counters.saw_seq(e.seq);
                match e.kind {
                    RecordKind::Put => counters.puts += 1,
                    _ => counters.tombstones += 1,
                }
                part.push(
                    e.key,
                    Entry {
                        segment: id,
                        offset: e.offset,
                        value_len: e.value_len,
                        seq: e.seq.min(MAX_SEQ),
                        expiry: e.expiry,
                        tombstone: e.kind == RecordKind::Tombstone,
                    },
                );
            });
            match loaded {
                Ok(trailer) => {
                    loaded_from_hint = true;
                    counters.file_bytes = data_len;
                    counters.has_hint = true;
                    // Batch markers have no entry but used sequence numbers:
                    // a later merge of this segment must still know them.
                    counters.max_seq = counters.max_seq.max(trailer.max_seq);
                    max_seq = hint_max_seq.max(trailer.max_seq);
                }
                Err(reason) => {
                    tracing::warn!(
                        hint = %hint::hint_path(dir, id).display(),
                        %reason,
                        "hint file unusable; scanning the data file instead"
                    );
                    // Entries applied so far were verified and are re-applied
                    // by the scan; only the counters start over.
                    stats.segments.remove(&id);
                }
            }
        }
        let mut cut = None;
        let (segment, valid_len) = if loaded_from_hint {
            (segment, data_len)
        } else {
            let segment = if is_active && self.writable {
                drop(segment);
                Segment::open(vfs, &data_path(dir, id), true)?
            } else {
                segment
            };
            let (valid_len, torn_from) = load_by_scan(
                &segment,
                id,
                is_active,
                self.writable,
                is_active && self.cut_damaged_active_tail,
                &mut part,
                &mut stats,
                &mut max_seq,
            )?;
            cut = torn_from;
            (segment, valid_len)
        };
        stats.segments.entry(id).or_default().merged = info.merged;
        let mut segment = segment;
        if self.active_map_len == 0 {
            // Memory-mapped reads are off.
        } else if !is_active || loaded_from_hint {
            // Sealed: mapped exactly as long as it is.
            segment.map_for_reading(valid_len);
        } else if self.writable {
            segment.map_for_reading(self.active_map_len.max(valid_len));
        }
        Ok(LoadedSegment {
            segment: Arc::new(segment),
            valid_len,
            cut,
            stats,
            max_seq,
            missing_hint: !loaded_from_hint && !is_active,
            // An active segment that already has a hint was sealed before a
            // crash: it is not appended to again.
            writable_active: is_active && self.writable && !loaded_from_hint,
            part,
        })
    }
}

/// Scans one data segment into the keydir and statistics; returns its valid
/// length and, if the active segment of a read-write open has a torn tail to
/// cut there, its current length.
#[allow(clippy::too_many_arguments)]
fn load_by_scan(
    segment: &Segment,
    id: u32,
    is_active: bool,
    writable: bool,
    cut_damage: bool,
    keydir: &mut KeydirPart,
    stats: &mut Tracker,
    max_seq: &mut u64,
) -> Result<(u64, Option<u64>)> {
    let path = segment.path().to_path_buf();
    stats.segments.insert(id, Default::default());
    let mut batch: Option<OpenBatch> = None;
    let end = segment::scan(segment, |offset, record| {
        let bad = |reason: String| Error::corrupted(&path, offset, reason);
        if record.seq > MAX_SEQ {
            return Err(bad(format!("sequence number {} out of range", record.seq)));
        }
        let len = record.encoded_len() as u64;
        match record.kind {
            RecordKind::Put | RecordKind::Tombstone => {
                let entry = Entry {
                    segment: id,
                    offset: u32::try_from(offset)
                        .map_err(|_| bad("record offset beyond 4 GiB".into()))?,
                    value_len: record.value.len() as u32,
                    seq: record.seq,
                    expiry: if record.kind == RecordKind::Put {
                        record.meta
                    } else {
                        0
                    },
                    tombstone: record.kind == RecordKind::Tombstone,
                };
                match &mut batch {
                    Some(open) => {
                        open.ops.push(BufferedOp {
                            key: record.key.to_vec(),
                            entry,
                        });
                        open.records.push((record.kind, record.seq, len));
                    }
                    None => {
                        *max_seq = (*max_seq).max(record.seq);
                        stats.appended(id, record.kind, record.seq, len);
                        keydir.push(record.key, entry);
                    }
                }
            }
            RecordKind::BatchBegin => {
                if batch.is_some() {
                    return Err(bad("batch begins inside another batch".into()));
                }
                batch = Some(OpenBatch {
                    begin: offset,
                    count: record.meta,
                    ops: Vec::new(),
                    records: vec![(record.kind, record.seq, len)],
                });
            }
            RecordKind::BatchCommit => {
                let Some(OpenBatch {
                    count,
                    ops,
                    records: counted,
                    ..
                }) = batch.take()
                else {
                    return Err(bad("batch commit without a batch".into()));
                };
                if count != record.meta || ops.len() as u64 != count {
                    return Err(bad(format!(
                        "batch announced {count} records, holds {}, commit says {}",
                        ops.len(),
                        record.meta
                    )));
                }
                for (kind, seq, len) in counted {
                    *max_seq = (*max_seq).max(seq);
                    stats.appended(id, kind, seq, len);
                }
                *max_seq = (*max_seq).max(record.seq);
                stats.appended(id, record.kind, record.seq, len);
                for op in ops {
                    keydir.push(&op.key, op.entry);
                }
            }
            RecordKind::SegmentInfo => {
                if offset != format::FILE_HEADER_LEN as u64 {
                    return Err(bad("segment info record after the first record".into()));
                }
                stats.appended(id, record.kind, 0, len);
            }
            RecordKind::RaftEntry | RecordKind::RaftHardState => {
                return Err(bad(format!("{} record in a data segment", record.kind)));
            }
        }
        Ok(())
    });
    let end = match end {
        // Records after the damage were never made durable in order (see
        // `Options::replaceable_active_tail`): keep what precedes it.
        Err(Error::Corrupted { offset, reason, .. }) if cut_damage => {
            let file_len = segment.len()?;
            tracing::warn!(
                file = %path.display(),
                offset,
                dropped_bytes = file_len.saturating_sub(offset),
                %reason,
                "cutting the active segment at damage with records after it (pages lost by a power loss); its owner replays what they held"
            );
            ScanEnd::Torn {
                valid_len: offset,
                file_len,
            }
        }
        other => other?,
    };

    let mut valid_len = end.valid_len();
    if let Some(open) = &batch {
        valid_len = open.begin;
    }
    let file_len = match end {
        ScanEnd::Clean { len } => len,
        ScanEnd::Torn { file_len, .. } => file_len,
    };
    if valid_len < file_len {
        if !is_active {
            return Err(Error::corrupted(
                &path,
                valid_len,
                match batch {
                    Some(_) => "write batch without its commit record in a sealed segment",
                    None => "unreadable tail in a sealed segment",
                },
            ));
        }
        if writable {
            // Cut by the caller once every segment loaded without error, so
            // a failed open changes nothing on disk.
            stats.segments.entry(id).or_default().file_bytes += format::FILE_HEADER_LEN as u64;
            return Ok((valid_len, Some(file_len)));
        } else {
            tracing::info!(
                file = %path.display(),
                offset = valid_len,
                ignored_bytes = file_len - valid_len,
                "ignoring an incomplete tail (torn, or being written)"
            );
        }
    }
    stats.segments.entry(id).or_default().file_bytes += format::FILE_HEADER_LEN as u64;
    Ok((valid_len, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_strictly() {
        assert_eq!(parse_data_name("0000000042.data"), Some(42));
        assert_eq!(parse_data_name("42.data"), None);
        assert_eq!(parse_data_name("0000000042.hint"), None);
        assert_eq!(parse_hint_name("0000000042.hint"), Some(42));
        assert_eq!(parse_data_name("000000004x.data"), None);
        assert_eq!(parse_data_name("0000000042.data.tmp"), None);
    }
}
