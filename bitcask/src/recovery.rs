//! Opening a directory: find the segments, scan them oldest to newest, and
//! rebuild the keydir.
//!
//! Rules (see `docs/format.md`, "Recovery"):
//! - Only the newest segment may end in a torn tail: a crash can only
//!   interrupt appends to the active segment, because a segment is fsynced
//!   before the next one is created. The torn tail — including a write batch
//!   whose commit record is missing — is cut off (read-write) or ignored
//!   (read-only), and the number of bytes dropped is logged.
//! - An unreadable record anywhere else, or one followed by valid records,
//!   is [`Error::Corrupted`] naming the file and offset.
//! - A newest segment shorter than its header was torn right after it was
//!   created; it holds no record and is removed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{FileKind, RecordKind};
use crate::keydir::{Entry, Keydir, MAX_SEQ};
use crate::segment::{self, ScanEnd, Segment};
use crate::store::{LOCK_FILE, data_path};
use crate::vfs::Vfs;

/// What recovery found.
pub(crate) struct Recovered {
    pub keydir: Keydir,
    pub segments: BTreeMap<u32, Arc<Segment>>,
    /// The newest segment and its valid length, opened for writing (read-write only).
    pub newest_writable: Option<(Arc<Segment>, u64)>,
    /// The highest sequence number in any record.
    pub max_seq: u64,
}

/// Parses a data segment file name (`0000000042.data`) into its id.
pub fn parse_data_name(name: &str) -> Option<u32> {
    let stem = name.strip_suffix(".data")?;
    if stem.len() != 10 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// A key-changing record inside an unfinished batch.
struct BufferedOp {
    key: Vec<u8>,
    entry: Entry,
}

/// Recovers `dir`. `active_map_len` is how much of the newest segment a
/// read-write opener maps (its maximum size; 0 = map nothing); sealed
/// segments are mapped whole; a read-only opener does not map the newest
/// segment, which a live writer may still cut.
pub(crate) fn recover(
    vfs: &dyn Vfs,
    dir: &Path,
    writable: bool,
    active_map_len: u64,
) -> Result<Recovered> {
    let names = vfs
        .list_dir(dir)
        .map_err(|e| Error::io("list directory", dir, e))?;
    let mut ids = Vec::new();
    for name in &names {
        match parse_data_name(name) {
            Some(id) => ids.push(id),
            None if name == LOCK_FILE => {}
            None => tracing::warn!(dir = %dir.display(), file = %name, "ignoring unknown file"),
        }
    }
    ids.sort_unstable();

    let keydir = Keydir::new();
    let mut segments = BTreeMap::new();
    let mut newest_writable = None;
    let mut max_seq = 0;
    let newest = ids.last().copied();
    for id in ids {
        let path = data_path(dir, id);
        let is_newest = Some(id) == newest;
        let segment = match Segment::open(vfs, &path, writable && is_newest) {
            Ok(segment) => segment,
            Err(Error::Corrupted { reason, .. })
                if is_newest && reason.starts_with("incomplete header") =>
            {
                tracing::warn!(file = %path.display(), "newest segment was torn while being created; removing it");
                if writable {
                    vfs.remove_file(&path)
                        .map_err(|e| Error::io("remove", &path, e))?;
                    segment::sync_parent(vfs, &path)?;
                }
                continue;
            }
            Err(e) => return Err(e),
        };
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

        let mut batch: Option<(u64, u64, Vec<BufferedOp>)> = None;
        let end = segment::scan(&segment, |offset, record| {
            let bad = |reason: String| Error::corrupted(&path, offset, reason);
            max_seq = max_seq.max(record.seq);
            if record.seq > MAX_SEQ {
                return Err(bad(format!("sequence number {} out of range", record.seq)));
            }
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
                        Some((_, _, ops)) => ops.push(BufferedOp {
                            key: record.key.to_vec(),
                            entry,
                        }),
                        None => {
                            keydir.apply(record.key, entry);
                        }
                    }
                }
                RecordKind::BatchBegin => {
                    if batch.is_some() {
                        return Err(bad("batch begins inside another batch".into()));
                    }
                    batch = Some((offset, record.meta, Vec::new()));
                }
                RecordKind::BatchCommit => {
                    let Some((_, count, ops)) = batch.take() else {
                        return Err(bad("batch commit without a batch".into()));
                    };
                    if count != record.meta || ops.len() as u64 != count {
                        return Err(bad(format!(
                            "batch announced {count} records, holds {}, commit says {}",
                            ops.len(),
                            record.meta
                        )));
                    }
                    for op in ops {
                        keydir.apply(&op.key, op.entry);
                    }
                }
                RecordKind::RaftEntry | RecordKind::RaftHardState => {
                    return Err(bad(format!("{} record in a data segment", record.kind)));
                }
            }
            Ok(())
        })?;

        let mut valid_len = end.valid_len();
        if let Some((begin, _, _)) = batch {
            valid_len = begin;
        }
        let file_len = match end {
            ScanEnd::Clean { len } => len,
            ScanEnd::Torn { file_len, .. } => file_len,
        };
        if valid_len < file_len {
            if !is_newest {
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
                let file = segment.file();
                file.set_len(valid_len)
                    .and_then(|()| file.sync_data())
                    .map_err(|e| Error::io("truncate torn tail of", &path, e))?;
                tracing::warn!(
                    file = %path.display(),
                    offset = valid_len,
                    dropped_bytes = file_len - valid_len,
                    "cut a torn tail off the newest segment (a crash interrupted a write)"
                );
            } else {
                tracing::info!(
                    file = %path.display(),
                    offset = valid_len,
                    ignored_bytes = file_len - valid_len,
                    "ignoring an incomplete tail (torn, or being written)"
                );
            }
        }
        let mut segment = segment;
        if active_map_len == 0 {
            // Memory-mapped reads are off.
        } else if !is_newest {
            segment.map_for_reading(valid_len);
        } else if writable {
            segment.map_for_reading(active_map_len.max(valid_len));
        }
        let segment = Arc::new(segment);
        if writable && is_newest {
            newest_writable = Some((segment.clone(), valid_len));
        }
        segments.insert(id, segment);
    }
    keydir.purge_tombstones();
    Ok(Recovered {
        keydir,
        segments,
        newest_writable,
        max_seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_names_parse_strictly() {
        assert_eq!(parse_data_name("0000000042.data"), Some(42));
        assert_eq!(parse_data_name("42.data"), None);
        assert_eq!(parse_data_name("0000000042.hint"), None);
        assert_eq!(parse_data_name("000000004x.data"), None);
    }
}
