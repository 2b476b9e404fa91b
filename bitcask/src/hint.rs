//! Hint files: the keydir entries of one sealed data segment, so that
//! opening a store reads a few bytes per key instead of every value.
//!
//! A hint file `NNNNNNNNNN.hint` holds one entry per Put and Tombstone record
//! of data segment `NNNNNNNNNN.data`, in file order, then a trailer with the
//! entry count and the data segment's length (layout in `docs/format.md`).
//!
//! Every entry carries its own CRC32, so a hint is read as a stream and an
//! entry is applied only once verified: when a hint turns out truncated,
//! corrupt, or not matching its data file, the entries already applied were
//! correct, and the caller simply scans the data file as well (applying an
//! entry twice is harmless: the keydir keeps the highest sequence number).
//! A whole-file checksum would force reading the hint twice or buffering it.
//!
//! A hint is written next to its data file under a `.tmp` name, fsynced,
//! renamed into place, and the directory fsynced; leftovers are removed on open.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{
    FileKind, HintEntry, HintItem, HintTrailer, RecordKind, decode_hint_item, hint_item_len,
};
use crate::segment::{self, Appender, ChunkReader, Segment};
use crate::vfs::Vfs;

/// The path of the hint file of data segment `id` in `dir`.
pub fn hint_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:010}.hint"))
}

/// Suffix of files being written; removed on open if a crash left them.
pub const TMP_SUFFIX: &str = ".tmp";

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(TMP_SUFFIX);
    PathBuf::from(name)
}

/// Writes a hint file entry by entry.
pub struct HintWriter {
    appender: Appender,
    entries: u64,
    max_seq: u64,
    final_path: PathBuf,
    scratch: Vec<u8>,
}

impl HintWriter {
    /// Starts `NNNNNNNNNN.hint.tmp` for data segment `id`.
    pub fn create(vfs: &dyn Vfs, dir: &Path, id: u32) -> Result<Self> {
        let final_path = hint_path(dir, id);
        let tmp = tmp_path(&final_path);
        // A leftover from a crashed attempt would make CreateNew fail.
        let _ = vfs.remove_file(&tmp);
        let segment = Segment::create(vfs, &tmp, FileKind::Hint, u64::from(id))?;
        Ok(Self {
            appender: Appender::new(Arc::new(segment), crate::format::FILE_HEADER_LEN as u64),
            entries: 0,
            max_seq: 0,
            final_path,
            scratch: Vec::new(),
        })
    }

    /// Adds one entry.
    pub fn add(&mut self, entry: &HintEntry<'_>) -> Result<()> {
        self.scratch.clear();
        entry.encode_into(&mut self.scratch);
        self.appender.append_raw(&self.scratch);
        self.entries += 1;
        self.max_seq = self.max_seq.max(entry.seq);
        if self.appender.buffered().len() >= 1 << 20 {
            self.appender.flush()?;
        }
        Ok(())
    }

    /// Writes the trailer, makes the file durable and renames it into place.
    /// `max_seq` is the highest sequence number of any record in the data
    /// segment, including records that have no entry (batch markers).
    pub fn finish(mut self, vfs: &dyn Vfs, data_len: u64, max_seq: u64) -> Result<PathBuf> {
        self.scratch.clear();
        HintTrailer {
            entries: self.entries,
            data_len,
            max_seq: max_seq.max(self.max_seq),
        }
        .encode_into(&mut self.scratch);
        self.appender.append_raw(&self.scratch);
        self.appender.sync()?;
        let tmp = self.appender.segment().path().to_path_buf();
        vfs.rename(&tmp, &self.final_path)
            .map_err(|e| Error::io("rename", &tmp, e))?;
        segment::sync_parent(vfs, &self.final_path)?;
        Ok(self.final_path)
    }
}

/// Scans sealed data segment `data` and writes its hint file.
pub fn write_hint_for(vfs: &dyn Vfs, dir: &Path, data: &Segment) -> Result<PathBuf> {
    let id = data.id() as u32;
    let mut writer = HintWriter::create(vfs, dir, id)?;
    let mut failed = None;
    let mut max_seq = 0;
    let end = segment::scan(data, |offset, record| {
        max_seq = max_seq.max(record.seq);
        if matches!(record.kind, RecordKind::Put | RecordKind::Tombstone)
            && let Err(e) = writer.add(&HintEntry {
                kind: record.kind,
                seq: record.seq,
                expiry: if record.kind == RecordKind::Put {
                    record.meta
                } else {
                    0
                },
                offset: offset as u32,
                value_len: record.value.len() as u32,
                key: record.key,
            })
        {
            failed = Some(e);
        }
        Ok(())
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    if let segment::ScanEnd::Torn { valid_len, .. } = end {
        return Err(Error::corrupted(
            data.path(),
            valid_len,
            "sealed segment has an unreadable tail; no hint written",
        ));
    }
    writer.finish(vfs, end.valid_len(), max_seq)
}

/// The trailer of a hint file, if its last bytes are a valid one (one
/// positioned read; used to size the keydir before loading).
pub fn read_trailer(vfs: &dyn Vfs, path: &Path) -> Option<HintTrailer> {
    let file = vfs.open_file(path, crate::vfs::OpenMode::Read).ok()?;
    let len = file.len().ok()?;
    let at = len.checked_sub(crate::format::HINT_TRAILER_LEN as u64)?;
    let mut bytes = [0u8; crate::format::HINT_TRAILER_LEN];
    file.read_exact_at(&mut bytes, at).ok()?;
    match decode_hint_item(&bytes) {
        Ok((HintItem::Trailer(trailer), _)) => Some(trailer),
        _ => None,
    }
}

/// Reads the hint of data segment `id` (of length `data_len`), calling
/// `visit` with each verified entry, and returns the trailer. Returns
/// `Err(reason)` — naming the offset — if the hint is unusable from some
/// point on; the engine then scans the data file.
pub fn load_hint(
    vfs: &dyn Vfs,
    path: &Path,
    id: u32,
    data_len: u64,
    mut visit: impl FnMut(&HintEntry<'_>),
) -> std::result::Result<HintTrailer, String> {
    let hint = Segment::open(vfs, path, false).map_err(|e| e.to_string())?;
    if hint.kind() != FileKind::Hint || hint.id() != u64::from(id) {
        return Err(format!(
            "header says {} file of segment {}, expected hint of {id}",
            hint.kind(),
            hint.id()
        ));
    }
    let file_len = hint.len().map_err(|e| e.to_string())?;
    let mut reader = ChunkReader::new(&hint, file_len);
    let mut offset = crate::format::FILE_HEADER_LEN as u64;
    let mut entries = 0u64;
    loop {
        let fail = |reason: String| format!("at offset {offset}: {reason}");
        let head = reader
            .fill(offset, crate::format::HINT_ENTRY_HEADER_LEN)
            .map_err(|e| e.to_string())?;
        let len = hint_item_len(head).map_err(|e| fail(e.to_string()))?;
        let bytes = reader.fill(offset, len).map_err(|e| e.to_string())?;
        let (item, len) = decode_hint_item(bytes).map_err(|e| fail(e.to_string()))?;
        match item {
            HintItem::Entry(entry) => {
                let end = u64::from(entry.offset)
                    + crate::format::record_len(entry.key.len(), entry.value_len as usize) as u64;
                if u64::from(entry.offset) < crate::format::FILE_HEADER_LEN as u64 || end > data_len
                {
                    return Err(fail(format!(
                        "entry's record at offset {} does not fit in the data file of {data_len} bytes",
                        entry.offset
                    )));
                }
                visit(&entry);
                entries += 1;
            }
            HintItem::Trailer(trailer) => {
                if trailer.entries != entries {
                    return Err(fail(format!(
                        "trailer counts {} entries, file holds {entries}",
                        trailer.entries
                    )));
                }
                if trailer.data_len != data_len {
                    return Err(fail(format!(
                        "hint describes {} bytes of data, the data file has {data_len}",
                        trailer.data_len
                    )));
                }
                if offset + len as u64 != file_len {
                    return Err(fail("bytes after the trailer".into()));
                }
                return Ok(trailer);
            }
        }
        offset += len as u64;
    }
}
