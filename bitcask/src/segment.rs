//! Segment files: one append-only file of [`crate::format`] records behind a
//! file header. Written once for the engine and the Raft log alike: records
//! carry opaque keys and values, and nothing here knows what they mean.
//!
//! - [`Segment`] is an open segment file. Reading a record at a known offset
//!   costs one positioned read and takes no lock, so any number of threads
//!   read at once.
//! - [`Appender`] buffers appends in memory and writes them with one `pwrite`
//!   per flush; [`Appender::sync`] makes them durable.
//! - [`scan`] reads every record in file order and tells how the file ends:
//!   cleanly, or in a *torn tail* (a crash cut the last append short), or in
//!   corruption (bad bytes followed by valid records), which is an error.
//!
//! # Torn tail or corruption?
//! When the record at offset `p` is unreadable (its header is implausible,
//! its length runs past the end of the file, or its checksum fails), the
//! scan searches the rest of the file for any valid record. If one exists,
//! the bad bytes sit in the middle of good data and the scan fails with
//! [`Error::Corrupted`] naming `p`; silently dropping what follows would lose
//! acknowledged writes. If none exists, everything from `p` on is a torn
//! tail; the scan reports it and the owner of the newest segment truncates it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{
    FILE_HEADER_LEN, FileHeader, FileKind, FormatError, RECORD_HEADER_LEN, Record, RecordHeader,
};
use crate::vfs::{OpenMode, Vfs, VfsFile};

/// An open segment file with a validated header.
///
/// # Memory mapping
/// [`Segment::map_for_reading`] lets [`Segment::read_record`] copy from a
/// read-only memory map instead of calling `pread` (it halves the cost of a
/// warm `get`). A mapped segment must only be asked for records below the
/// length its owner knows to be written, and must not be truncated below
/// such a record while mapped: the engine maps sealed segments (immutable)
/// and its own active segment (cut only above what readers can reach).
pub struct Segment {
    path: PathBuf,
    header: FileHeader,
    file: Arc<dyn VfsFile>,
    map: Option<memmap2::Mmap>,
    /// Files to remove when the last handle to this segment is dropped.
    remove_on_drop: parking_lot::Mutex<Option<RemoveOnDrop>>,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("mapped", &self.map.is_some())
            .finish_non_exhaustive()
    }
}

/// What a retired segment does when its last handle is dropped: remove its
/// files, make the removal durable, and report whether that worked.
type RemoveOnDrop = (Arc<dyn Vfs>, Vec<PathBuf>, Box<dyn FnOnce(bool) + Send>);

impl Drop for Segment {
    fn drop(&mut self) {
        let Some((vfs, paths, done)) = self.remove_on_drop.get_mut().take() else {
            return;
        };
        // Unmap before unlinking, so the space is really freed.
        self.map = None;
        let mut removed = true;
        for path in &paths {
            match vfs.remove_file(path) {
                Ok(()) => tracing::debug!(file = %path.display(), "removed retired file"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    removed = false;
                    tracing::warn!(file = %path.display(), error = %e, "could not remove retired file")
                }
            }
        }
        if removed && let Some(first) = paths.first() {
            removed = sync_parent(&*vfs, first).is_ok();
        }
        done(removed);
    }
}

impl Segment {
    fn new(path: &Path, header: FileHeader, file: Arc<dyn VfsFile>) -> Self {
        Self {
            path: path.to_path_buf(),
            header,
            file,
            map: None,
            remove_on_drop: parking_lot::Mutex::new(None),
        }
    }

    /// Creates a new segment file at `path`, writes its header, and makes the
    /// file and its directory entry durable.
    pub fn create(vfs: &dyn Vfs, path: &Path, kind: FileKind, segment_id: u64) -> Result<Self> {
        let file = vfs
            .open_file(path, OpenMode::CreateNew)
            .map_err(|e| Error::io("create", path, e))?;
        let header = FileHeader { kind, segment_id };
        let written = file
            .write_all_at(&header.encode(), 0)
            .map_err(|e| Error::io("write header of", path, e))
            .and_then(|()| file.sync_data().map_err(|e| Error::io("sync", path, e)))
            .and_then(|()| sync_parent(vfs, path));
        if let Err(e) = written {
            // Best effort; recovery also recognises a torn new file.
            let _ = vfs.remove_file(path);
            return Err(e);
        }
        Ok(Self::new(path, header, file))
    }

    /// Opens an existing segment file and validates its header.
    ///
    /// A file shorter than a header is reported as [`Error::Corrupted`] at
    /// offset 0 with a reason starting `"incomplete header"`, so the owner of
    /// the newest segment can recognise a file torn right after creation.
    pub fn open(vfs: &dyn Vfs, path: &Path, writable: bool) -> Result<Self> {
        let mode = if writable {
            OpenMode::ReadWrite
        } else {
            OpenMode::Read
        };
        let file = vfs
            .open_file(path, mode)
            .map_err(|e| Error::io("open", path, e))?;
        let mut bytes = [0u8; FILE_HEADER_LEN];
        let n = read_full(&*file, &mut bytes, 0).map_err(|e| Error::io("read", path, e))?;
        let header = match FileHeader::decode(&bytes[..n]) {
            Ok(header) => header,
            Err(FormatError::UnsupportedVersion { found }) => {
                return Err(Error::UnsupportedVersion {
                    path: path.to_path_buf(),
                    found,
                });
            }
            Err(FormatError::Incomplete { .. }) => {
                return Err(Error::corrupted(
                    path,
                    0,
                    format!("incomplete header: file has {n} of {FILE_HEADER_LEN} bytes"),
                ));
            }
            Err(e) => return Err(Error::corrupted(path, 0, format!("bad file header: {e}"))),
        };
        Ok(Self::new(path, header, file))
    }

    /// Maps the first `len` bytes for reads (see the type's docs on when this
    /// is sound to use). Failure to map is logged and reads fall back to `pread`.
    pub fn map_for_reading(&mut self, len: u64) {
        match self.file.map_for_reading(len) {
            Ok(map) => self.map = map,
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "cannot memory-map segment; using pread")
            }
        }
    }

    /// Arranges for `paths` (this file, and e.g. its hint) to be removed,
    /// and the removal fsynced, once the last handle to this segment is
    /// dropped, so that readers that still hold it finish undisturbed. `done`
    /// is then told whether the removal is durable.
    pub fn remove_when_unused(
        &self,
        vfs: Arc<dyn Vfs>,
        paths: Vec<PathBuf>,
        done: Box<dyn FnOnce(bool) + Send>,
    ) {
        *self.remove_on_drop.lock() = Some((vfs, paths, done));
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The segment id from the header.
    pub fn id(&self) -> u64 {
        self.header.segment_id
    }

    /// The file kind from the header.
    pub fn kind(&self) -> FileKind {
        self.header.kind
    }

    /// The underlying file handle.
    pub fn file(&self) -> &Arc<dyn VfsFile> {
        &self.file
    }

    /// The file's current length in bytes.
    pub fn len(&self) -> Result<u64> {
        self.file
            .len()
            .map_err(|e| Error::io("stat", &self.path, e))
    }

    /// True if the file holds nothing but its header.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? <= FILE_HEADER_LEN as u64)
    }

    /// Reads the record of `len` encoded bytes at `offset` into `buf` with one
    /// positioned read and verifies it. Any mismatch is [`Error::Corrupted`].
    pub fn read_record<'b>(
        &self,
        offset: u64,
        len: usize,
        buf: &'b mut Vec<u8>,
    ) -> Result<Record<'b>> {
        buf.clear();
        if let Some(map) = &self.map
            && let Some(bytes) = usize::try_from(offset)
                .ok()
                .and_then(|start| map.get(start..start.checked_add(len)?))
        {
            buf.extend_from_slice(bytes);
        } else {
            buf.resize(len, 0);
            self.file
                .read_exact_at(buf, offset)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => Error::corrupted(
                        &self.path,
                        offset,
                        format!("record of {len} bytes runs past the end of the file"),
                    ),
                    _ => Error::io("read", &self.path, e),
                })?;
        }
        match Record::decode(buf) {
            Ok((record, used)) if used == len => Ok(record),
            Ok((_, used)) => Err(Error::corrupted(
                &self.path,
                offset,
                format!("record is {used} bytes, index says {len}"),
            )),
            Err(e) => Err(Error::corrupted(&self.path, offset, e)),
        }
    }
}

/// How a [`scan`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanEnd {
    /// Every byte belongs to a valid record; `len` is the file length.
    Clean {
        /// The file length.
        len: u64,
    },
    /// Everything from `valid_len` to `file_len` is an unreadable tail with
    /// no valid record after it: a crash cut the last append short.
    Torn {
        /// Length of the valid prefix (where the torn bytes start).
        valid_len: u64,
        /// The file length.
        file_len: u64,
    },
}

impl ScanEnd {
    /// The length of the valid prefix of the file.
    pub fn valid_len(&self) -> u64 {
        match *self {
            Self::Clean { len } => len,
            Self::Torn { valid_len, .. } => valid_len,
        }
    }
}

const SCAN_CHUNK: usize = 1 << 20;

/// Reads every record of `segment` in file order, calling
/// `visit(offset, record)` for each. Returns how the file ends; corruption
/// followed by valid data is [`Error::Corrupted`]. An error from `visit`
/// stops the scan and is returned.
pub fn scan(
    segment: &Segment,
    mut visit: impl FnMut(u64, Record<'_>) -> Result<()>,
) -> Result<ScanEnd> {
    let file_len = segment.len()?;
    let mut reader = ChunkReader::new(segment, file_len);
    let mut offset = FILE_HEADER_LEN as u64;
    let mut last_seq = None;
    while offset < file_len {
        let head = reader.fill(offset, RECORD_HEADER_LEN)?;
        let header = match RecordHeader::decode(head) {
            Ok(header) => header,
            // An unreadable header: torn, unless valid records follow.
            Err(problem) => {
                return classify(segment, offset, offset + 1, file_len, last_seq, problem);
            }
        };
        let len = header.record_len() as u64;
        if offset + len > file_len {
            // The header's checksum vouches for the length: the append that
            // wrote this record was cut short.
            return Ok(ScanEnd::Torn {
                valid_len: offset,
                file_len,
            });
        }
        match Record::decode(reader.fill(offset, len as usize)?) {
            Ok((record, _)) => {
                last_seq = Some(record.seq);
                visit(offset, record)?;
                offset += len;
            }
            // A damaged body. Its header is intact, so only valid records
            // written after its end would prove it was once complete.
            Err(problem) => {
                return classify(segment, offset, offset + len, file_len, last_seq, problem);
            }
        }
    }
    Ok(ScanEnd::Clean { len: file_len })
}

/// Decides whether the unreadable record at `bad` starts a torn tail or is
/// corruption: corruption if a valid record follows (searching from
/// `search_from`) whose sequence number does not go back behind `last_seq`.
fn classify(
    segment: &Segment,
    bad: u64,
    search_from: u64,
    file_len: u64,
    last_seq: Option<u64>,
    problem: FormatError,
) -> Result<ScanEnd> {
    match find_valid_record(segment, search_from, file_len, last_seq)? {
        Some(next) => Err(Error::corrupted(
            segment.path(),
            bad,
            format!("{problem}; a valid record follows at offset {next}"),
        )),
        None => Ok(ScanEnd::Torn {
            valid_len: bad,
            file_len,
        }),
    }
}

/// A sliding window over a file for sequential scanning with large reads.
pub(crate) struct ChunkReader<'s> {
    segment: &'s Segment,
    file_len: u64,
    window: Vec<u8>,
    window_start: u64,
}

impl<'s> ChunkReader<'s> {
    pub(crate) fn new(segment: &'s Segment, file_len: u64) -> Self {
        Self {
            segment,
            file_len,
            window: Vec::new(),
            window_start: 0,
        }
    }

    /// Makes `[offset, offset + len)` (clamped to the file) available in the window.
    pub(crate) fn fill(&mut self, offset: u64, len: usize) -> Result<&[u8]> {
        let end = (offset + len as u64).min(self.file_len);
        let have_end = self.window_start + self.window.len() as u64;
        if offset < self.window_start || end > have_end {
            let want = ((end - offset) as usize).max(SCAN_CHUNK);
            let want = want.min((self.file_len - offset) as usize);
            self.window.resize(want, 0);
            let n = read_full(&**self.segment.file(), &mut self.window, offset)
                .map_err(|e| Error::io("read", self.segment.path(), e))?;
            self.window.truncate(n);
            self.window_start = offset;
        }
        let from = (offset - self.window_start) as usize;
        let to = ((end - self.window_start) as usize).min(self.window.len());
        Ok(&self.window[from..to])
    }
}

/// Searches `[from, file_len)` for the first offset where a complete record
/// with valid checksums starts whose sequence number is at least `min_seq`.
/// (Appends carry non-decreasing sequence numbers, so a "record" that goes
/// back in time is bytes inside some value, not a later write.)
fn find_valid_record(
    segment: &Segment,
    from: u64,
    file_len: u64,
    min_seq: Option<u64>,
) -> Result<Option<u64>> {
    let mut reader = ChunkReader::new(segment, file_len);
    let mut record_buf = Vec::new();
    let mut offset = from;
    while offset + RECORD_HEADER_LEN as u64 <= file_len {
        let head = reader.fill(offset, RECORD_HEADER_LEN)?;
        if head.iter().all(|&b| b == 0) {
            // A header of zero bytes never decodes (the checksum of zeros
            // is not zero), so no record starts before a header could hold
            // the next nonzero byte. This makes a zero-filled tail (space
            // prepared ahead of appends) cost one pass, not one decode per byte.
            let start = offset + RECORD_HEADER_LEN as u64;
            match next_nonzero(&mut reader, start, file_len)? {
                Some(nonzero) => {
                    offset = nonzero + 1 - RECORD_HEADER_LEN as u64;
                    continue;
                }
                None => return Ok(None),
            }
        }
        if let Ok(header) = RecordHeader::decode(head) {
            let len = header.record_len() as u64;
            if offset + len <= file_len
                && min_seq.is_none_or(|min| header.seq >= min)
                && segment
                    .read_record(offset, len as usize, &mut record_buf)
                    .is_ok()
            {
                return Ok(Some(offset));
            }
        }
        offset += 1;
    }
    Ok(None)
}

/// The offset of the first nonzero byte in `[from, file_len)`, if any.
fn next_nonzero(reader: &mut ChunkReader<'_>, from: u64, file_len: u64) -> Result<Option<u64>> {
    let mut pos = from;
    while pos < file_len {
        let chunk = reader.fill(pos, SCAN_CHUNK)?;
        if chunk.is_empty() {
            break;
        }
        if let Some(i) = chunk.iter().position(|&b| b != 0) {
            return Ok(Some(pos + i as u64));
        }
        pos += chunk.len() as u64;
    }
    Ok(None)
}

/// The unit a disk writes atomically, at least: a sector left unwritten by
/// a crash reads back as its old bytes.
pub const SECTOR_LEN: u64 = 512;

/// True if every byte of `[from, to)` (clamped to the file) is zero, or the
/// range is empty: a tail that is space prepared ahead of appends, not a
/// torn record.
pub fn is_zero_range(segment: &Segment, from: u64, to: u64) -> Result<bool> {
    let file_len = segment.len()?;
    let to = to.min(file_len);
    if from >= to {
        return Ok(true);
    }
    let mut reader = ChunkReader::new(segment, to);
    Ok(next_nonzero(&mut reader, from, to)?.is_none())
}

/// True if the unreadable record at `offset` shows the mark of an append
/// that a crash interrupted inside zero-filled space: one of the
/// [`SECTOR_LEN`]-aligned sectors it overlaps reads as zeros from `offset`
/// (or the sector's start) to the sector's end. When those zeros are only
/// the first one to four bytes of the record (its checksum, which may start
/// with zero bytes), they count only if the rest of the record matches the
/// checksum's other bytes: then nothing but the unwritten bytes is wrong.
///
/// An overwrite of prepared zeros has no file-size change to order it, so a
/// power loss during the fsync may keep any subset of its sectors: a later
/// record may survive while an earlier sector is still zero. A disk does not
/// zero a whole sector by bit rot, so the mark separates this case from
/// corruption of data that was once durable. The record's extent is the
/// length its header declares when the header decodes, else the header
/// itself. Used by the Raft log for its newest segment, which it prepares
/// with zeros (see `docs/format.md`).
pub fn unwritten_sector_in_record(segment: &Segment, offset: u64) -> Result<bool> {
    let file_len = segment.len()?;
    if offset >= file_len {
        return Ok(false);
    }
    let mut reader = ChunkReader::new(segment, file_len);
    let header = RecordHeader::decode(reader.fill(offset, RECORD_HEADER_LEN)?).ok();
    let extent = header.map_or(RECORD_HEADER_LEN as u64, |h| h.record_len() as u64);
    let end = offset.saturating_add(extent).min(file_len);
    let mut sector = offset - offset % SECTOR_LEN;
    while sector < end {
        let from = sector.max(offset);
        let to = (sector + SECTOR_LEN).min(file_len);
        let bytes = reader.fill(from, (to - from) as usize)?;
        if !bytes.is_empty() && bytes.iter().all(|&b| b == 0) {
            let zeros = bytes.len();
            // A whole sector, or the record's first bytes through its kind
            // byte (no kind is 0, so no record written whole has them zero).
            if from == sector || zeros >= CHECKSUM_AND_KIND {
                return Ok(true);
            }
            // Only checksum bytes read as zero, as a record's checksum may
            // legitimately start: the mark only if they explain the damage,
            // i.e. the rest of the record matches its checksum's other bytes.
            if let Some(h) = header
                && offset + h.record_len() as u64 <= file_len
            {
                let whole = reader.fill(offset, h.record_len())?;
                let computed = crc32fast::hash(&whole[4..]).to_le_bytes();
                if whole[zeros..4] == computed[zeros..4] {
                    return Ok(true);
                }
            }
        }
        sector += SECTOR_LEN;
    }
    Ok(false)
}

/// A record's checksum (4 bytes) and kind byte: no record written whole
/// has all of them zero, as no kind is 0.
const CHECKSUM_AND_KIND: usize = 5;

/// Reads as many bytes as available at `offset`, up to `buf.len()`.
fn read_full(file: &dyn VfsFile, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Fsyncs the directory holding `path`, so a creation or rename survives a crash.
pub fn sync_parent(vfs: &dyn Vfs, path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    vfs.sync_dir(dir)
        .map_err(|e| Error::io("sync directory", dir, e))
}

/// Cuts `segment` to `len` if it is longer, then fsyncs its data and its
/// directory: whatever an earlier process left of its first `len` bytes and
/// its name is durable afterwards. See [`Appender::resume`].
pub fn make_durable(vfs: &dyn Vfs, segment: &Segment, len: u64) -> Result<()> {
    let file = segment.file();
    if segment.len()? > len {
        file.set_len(len)
            .map_err(|e| Error::io("truncate", segment.path(), e))?;
    }
    file.sync_data()
        .map_err(|e| Error::io("sync", segment.path(), e))?;
    sync_parent(vfs, segment.path())
}

/// A buffered appender to one segment.
///
/// Appends go to an in-memory buffer; [`Appender::flush`] writes the buffer
/// with one positioned write, [`Appender::sync`] flushes and fsyncs. A failed
/// flush leaves the buffer intact (and cuts any partial write off the file)
/// so it can be retried; nothing is lost or duplicated.
#[derive(Debug)]
pub struct Appender {
    segment: Arc<Segment>,
    buf: Vec<u8>,
    /// Bytes of the file that hold flushed data (the buffer starts here).
    flushed: u64,
    /// Bytes of the file known durable.
    synced: u64,
}

impl Appender {
    /// An appender that continues `segment` at `len`, which **this process**
    /// has made durable: a segment it just created ([`Segment::create`]
    /// syncs the header and the directory) or one it sealed itself. For a
    /// segment inherited from an earlier process use [`Appender::resume`].
    pub fn new(segment: Arc<Segment>, len: u64) -> Self {
        Self {
            segment,
            buf: Vec::new(),
            flushed: len,
            synced: len,
        }
    }

    /// An appender that continues a segment inherited from an earlier
    /// process at `len`, its valid length as a scan found it.
    ///
    /// A process crash leaves the file's bytes and its name in the page
    /// cache without making either durable, so before anything is built on
    /// them — an append, an acknowledgement, a seal — this cuts the file to
    /// `len` and fsyncs it and its directory. After that, the appender's
    /// idea of "durable" is true, and a later power loss can only take away
    /// what this process writes.
    pub fn resume(vfs: &dyn Vfs, segment: Arc<Segment>, len: u64) -> Result<Self> {
        make_durable(vfs, &segment, len)?;
        Ok(Self::new(segment, len))
    }

    /// The segment appended to.
    pub fn segment(&self) -> &Arc<Segment> {
        &self.segment
    }

    /// Logical length: flushed bytes plus buffered bytes.
    pub fn len(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    /// True if the segment holds no record (flushed or buffered).
    pub fn is_empty(&self) -> bool {
        self.len() <= FILE_HEADER_LEN as u64
    }

    /// Bytes known durable.
    pub fn synced_len(&self) -> u64 {
        self.synced
    }

    /// Bytes written to the file (not necessarily durable).
    pub fn flushed_len(&self) -> u64 {
        self.flushed
    }

    /// The buffered, not yet written bytes; they start at [`Appender::flushed_len`].
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Appends already-encoded bytes; returns their offset in the file.
    pub fn append_raw(&mut self, bytes: &[u8]) -> u64 {
        let offset = self.len();
        self.buf.extend_from_slice(bytes);
        offset
    }

    /// Appends one record to the buffer; returns its offset in the file.
    /// The caller has validated key and value lengths.
    pub fn append(&mut self, record: &Record<'_>) -> u64 {
        let offset = self.len();
        record.encode_into(&mut self.buf);
        offset
    }

    /// Writes the buffer to the file. On failure the buffer is kept and any
    /// partially written bytes are cut off again.
    pub fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let file = self.segment.file();
        if let Err(e) = file.write_all_at(&self.buf, self.flushed) {
            // Best effort: a partial write would otherwise sit past `flushed`
            // until the retry overwrites it; recovery treats it as a torn tail.
            let _ = file.set_len(self.flushed);
            return Err(Error::io("append to", self.segment.path(), e));
        }
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Flushes and fsyncs: everything appended so far is durable on success.
    pub fn sync(&mut self) -> Result<()> {
        self.flush()?;
        if self.synced < self.flushed {
            self.segment
                .file()
                .sync_data()
                .map_err(|e| Error::io("sync", self.segment.path(), e))?;
            self.synced = self.flushed;
        }
        Ok(())
    }

    /// Records that everything up to `len` was fsynced by someone else
    /// (e.g. a group-commit leader that synced the file without this
    /// appender's lock).
    pub fn mark_synced(&mut self, len: u64) {
        self.synced = self.synced.max(len.min(self.flushed));
    }

    /// Drops everything after `len` (buffered or written) and makes the cut
    /// durable. Used to roll back appends whose fsync failed.
    pub fn truncate(&mut self, len: u64) -> Result<()> {
        if len >= self.flushed {
            self.buf.truncate((len - self.flushed) as usize);
            return Ok(());
        }
        self.buf.clear();
        let file = self.segment.file();
        file.set_len(len)
            .map_err(|e| Error::io("truncate", self.segment.path(), e))?;
        file.sync_data()
            .map_err(|e| Error::io("sync", self.segment.path(), e))?;
        self.flushed = len;
        self.synced = self.synced.min(len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::RecordKind;
    use crate::vfs::MemVfs;

    fn setup() -> (MemVfs, PathBuf) {
        let vfs = MemVfs::new();
        let dir = PathBuf::from("/seg");
        vfs.create_dir_all(&dir).unwrap();
        (vfs, dir.join("1.data"))
    }

    fn put(seq: u64, key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Record {
            kind: RecordKind::Put,
            seq,
            meta: 0,
            key,
            value,
        }
        .encode_into(&mut out);
        out
    }

    fn write_records(vfs: &MemVfs, path: &Path, n: u64) -> Vec<u64> {
        let segment = Arc::new(Segment::create(vfs, path, FileKind::Data, 1).unwrap());
        let mut appender = Appender::new(segment, FILE_HEADER_LEN as u64);
        let offsets = (0..n)
            .map(|i| {
                let key = format!("key{i}");
                let value = vec![i as u8; 10 + i as usize];
                appender.append(&Record {
                    kind: RecordKind::Put,
                    seq: i,
                    meta: 0,
                    key: key.as_bytes(),
                    value: &value,
                })
            })
            .collect();
        appender.sync().unwrap();
        offsets
    }

    fn scan_all(vfs: &MemVfs, path: &Path) -> Result<(Vec<u64>, ScanEnd)> {
        let segment = Segment::open(vfs, path, false)?;
        let mut seqs = Vec::new();
        let end = scan(&segment, |_, r| {
            seqs.push(r.seq);
            Ok(())
        })?;
        Ok((seqs, end))
    }

    #[test]
    fn appended_records_scan_back_and_read_at_offsets() {
        let (vfs, path) = setup();
        let offsets = write_records(&vfs, &path, 50);
        let (seqs, end) = scan_all(&vfs, &path).unwrap();
        assert_eq!(seqs, (0..50).collect::<Vec<_>>());
        assert!(matches!(end, ScanEnd::Clean { .. }));
        let segment = Segment::open(&vfs, &path, false).unwrap();
        let mut buf = Vec::new();
        let len = put(7, b"key7", &[7; 17]).len();
        let record = segment.read_record(offsets[7], len, &mut buf).unwrap();
        assert_eq!(record.key, b"key7");
        assert_eq!(record.value, &[7u8; 17]);
    }

    #[test]
    fn every_cut_of_the_tail_is_a_torn_tail_never_an_error() {
        let (vfs, path) = setup();
        let offsets = write_records(&vfs, &path, 5);
        let whole = vfs.read_whole(&path).unwrap();
        let mut ends: Vec<u64> = offsets[1..].to_vec();
        ends.push(whole.len() as u64);
        for cut in offsets[2]..whole.len() as u64 {
            vfs.write_whole(&path, &whole[..cut as usize]).unwrap();
            let (seqs, end) = scan_all(&vfs, &path).unwrap();
            let complete = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(seqs.len(), complete, "cut at {cut}");
            let valid = if complete == 0 {
                offsets[0]
            } else {
                ends[complete - 1]
            };
            assert_eq!(end.valid_len(), valid, "cut at {cut}");
            assert_eq!(
                matches!(end, ScanEnd::Clean { .. }),
                valid == cut,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_flipped_bit_in_the_middle_is_corruption_naming_the_offset() {
        let (vfs, path) = setup();
        let offsets = write_records(&vfs, &path, 5);
        let whole = vfs.read_whole(&path).unwrap();
        for byte in offsets[1] as usize..offsets[2] as usize {
            let mut bad = whole.clone();
            bad[byte] ^= 0x10;
            vfs.write_whole(&path, &bad).unwrap();
            match scan_all(&vfs, &path) {
                Err(Error::Corrupted {
                    offset, path: p, ..
                }) => {
                    assert_eq!(offset, offsets[1], "byte {byte}");
                    assert_eq!(p, path);
                }
                other => panic!("byte {byte}: expected corruption, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_flipped_bit_in_the_last_record_is_a_torn_tail() {
        let (vfs, path) = setup();
        let offsets = write_records(&vfs, &path, 3);
        let mut whole = vfs.read_whole(&path).unwrap();
        let last = offsets[2] as usize;
        whole[last + 30] ^= 1;
        vfs.write_whole(&path, &whole).unwrap();
        let (seqs, end) = scan_all(&vfs, &path).unwrap();
        assert_eq!(seqs, vec![0, 1]);
        assert_eq!(end.valid_len(), offsets[2]);
    }

    #[test]
    fn a_zero_filled_tail_is_torn() {
        let (vfs, path) = setup();
        write_records(&vfs, &path, 3);
        let mut whole = vfs.read_whole(&path).unwrap();
        let len = whole.len() as u64;
        whole.extend_from_slice(&[0u8; 4096]);
        vfs.write_whole(&path, &whole).unwrap();
        let (_, end) = scan_all(&vfs, &path).unwrap();
        assert_eq!(
            end,
            ScanEnd::Torn {
                valid_len: len,
                file_len: len + 4096
            }
        );
    }

    #[test]
    fn a_valid_record_after_megabytes_of_zeros_is_still_found() {
        let (vfs, path) = setup();
        write_records(&vfs, &path, 2);
        let mut whole = vfs.read_whole(&path).unwrap();
        let zeros_at = whole.len() as u64;
        whole.resize(whole.len() + (3 << 20) + 7, 0);
        whole.extend_from_slice(&put(5, b"late", b"value"));
        vfs.write_whole(&path, &whole).unwrap();
        let err = scan_all(&vfs, &path).unwrap_err();
        assert!(
            matches!(err, Error::Corrupted { offset, .. } if offset == zeros_at),
            "{err}"
        );
        let segment = Segment::open(&vfs, &path, false).unwrap();
        assert!(!is_zero_range(&segment, zeros_at, u64::MAX).unwrap());
        assert!(is_zero_range(&segment, zeros_at, zeros_at + (3 << 20)).unwrap());
    }

    #[test]
    fn an_unwritten_sector_is_told_apart_from_a_flipped_bit() {
        let (vfs, path) = setup();
        let segment = Arc::new(Segment::create(&vfs, &path, FileKind::Data, 1).unwrap());
        let mut appender = Appender::new(segment, FILE_HEADER_LEN as u64);
        let first = appender.append(&Record {
            kind: RecordKind::Put,
            seq: 1,
            meta: 0,
            key: b"a",
            value: &[7u8; 100],
        });
        // A record spanning sectors 1..=3 of the file.
        let big = appender.append(&Record {
            kind: RecordKind::Put,
            seq: 2,
            meta: 0,
            key: b"b",
            value: &[9u8; 1500],
        });
        let after = appender.append(&Record {
            kind: RecordKind::Put,
            seq: 3,
            meta: 0,
            key: b"c",
            value: &[1u8; 10],
        });
        appender.sync().unwrap();
        let clean = vfs.read_whole(&path).unwrap();
        let check = |bytes: &[u8], at: u64| {
            vfs.write_whole(&path, bytes).unwrap();
            let segment = Segment::open(&vfs, &path, false).unwrap();
            unwritten_sector_in_record(&segment, at).unwrap()
        };
        assert!(!check(&clean, big), "an intact record");
        let mut flipped = clean.clone();
        flipped[big as usize + 700] ^= 0x10;
        assert!(
            !check(&flipped, big),
            "a flipped bit is not an unwritten sector"
        );
        // Sector 2 (bytes 1024..1536) lies inside the big record.
        let mut unwritten = clean.clone();
        unwritten[1024..1536].fill(0);
        assert!(check(&unwritten, big));
        // The sector holding the record's start, zero from its start on.
        let mut head_lost = clean.clone();
        head_lost[big as usize..512].fill(0);
        assert!(check(&head_lost, big));
        // Zeros that stop before the sector's end are not the mark.
        let mut partial = clean.clone();
        partial[1024..1500].fill(0);
        assert!(!check(&partial, big));
        assert!(!check(&clean, first));
        assert!(after > 1536);
    }

    /// A record starting 1–4 bytes before a sector boundary: zeros there
    /// may be its own checksum's first bytes, not an unwritten sector.
    #[test]
    fn zero_checksum_bytes_before_a_sector_boundary_are_the_mark_only_if_they_explain_the_damage() {
        let (vfs, path) = setup();
        drop(Segment::create(&vfs, &path, FileKind::Data, 1).unwrap());
        let header = vfs.read_whole(&path).unwrap();
        for zeros in 1..=4usize {
            let start = SECTOR_LEN as usize - zeros;
            // A filler record that ends where the record under test starts.
            let filler_len = start - header.len();
            let filler = put(1, b"f", &vec![3u8; filler_len - RECORD_HEADER_LEN - 1]);
            let after = put(1 << 40, b"z", b"after");
            let check = |bytes: &[u8]| {
                vfs.write_whole(&path, bytes).unwrap();
                let segment = Segment::open(&vfs, &path, false).unwrap();
                unwritten_sector_in_record(&segment, start as u64).unwrap()
            };
            // A record whose checksum starts with `zeros` zero bytes (found
            // by trying values — the header does not change the record's
            // checksum, as the header's own checksum is part of the
            // checksummed bytes; feasible for one or two bytes).
            let value = |n: u64| [n.to_le_bytes().to_vec(), vec![5u8; 592]].concat();
            if zeros <= 2 {
                let record = (0u64..)
                    .map(|n| put(2, b"k", &value(n)))
                    .find(|r| r[..zeros].iter().all(|&b| b == 0))
                    .unwrap();
                let mut flipped = [header.clone(), filler.clone(), record, after.clone()].concat();
                flipped[start + 300] ^= 0x01;
                assert!(
                    !check(&flipped),
                    "{zeros} zero checksum bytes and a flipped bit"
                );
            }
            let file = [header.clone(), filler, put(2, b"k", &[5u8; 600]), after].concat();
            // The sector holding the record's start never written: its
            // other bytes intact, its checksum's first bytes zero.
            let record2 = (0u64..)
                .map(|n| put(2, b"k", &value(n)))
                .find(|r| r[..zeros].iter().any(|&b| b != 0))
                .unwrap();
            let mut unwritten =
                [header.clone(), file[header.len()..start].to_vec(), record2].concat();
            unwritten[start..start + zeros].fill(0);
            assert!(check(&unwritten), "{zeros} unwritten checksum bytes");
        }
        // Zeros through the kind byte are the mark, whatever follows.
        let start = SECTOR_LEN as usize - 40;
        let filler = put(
            1,
            b"f",
            &vec![3u8; start - header.len() - RECORD_HEADER_LEN - 1],
        );
        let mut file = [header.clone(), filler, put(2, b"k", &[5u8; 600])].concat();
        file[start..SECTOR_LEN as usize].fill(0);
        file[start + 300] ^= 0x01;
        vfs.write_whole(&path, &file).unwrap();
        let segment = Segment::open(&vfs, &path, false).unwrap();
        assert!(unwritten_sector_in_record(&segment, start as u64).unwrap());
    }

    #[test]
    fn bad_headers_are_reported() {
        let (vfs, path) = setup();
        write_records(&vfs, &path, 1);
        let mut whole = vfs.read_whole(&path).unwrap();
        whole[10] ^= 1;
        vfs.write_whole(&path, &whole).unwrap();
        assert!(matches!(
            Segment::open(&vfs, &path, false),
            Err(Error::Corrupted { offset: 0, .. })
        ));
        vfs.write_whole(&path, &whole[..10]).unwrap();
        match Segment::open(&vfs, &path, false) {
            Err(Error::Corrupted { reason, .. }) => {
                assert!(reason.starts_with("incomplete header"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failed_flush_keeps_the_buffer_and_retries_cleanly() {
        let (vfs, path) = setup();
        let segment = Arc::new(Segment::create(&vfs, &path, FileKind::Data, 1).unwrap());
        let mut appender = Appender::new(segment, FILE_HEADER_LEN as u64);
        let value = vec![1u8; 100];
        for seq in 0..10 {
            appender.append(&Record {
                kind: RecordKind::Put,
                seq,
                meta: 0,
                key: b"k",
                value: &value,
            });
        }
        vfs.set_space_limit(Some(FILE_HEADER_LEN as u64 + 500));
        let err = appender.sync().unwrap_err();
        assert!(err.is_storage_full(), "{err}");
        vfs.set_space_limit(None);
        appender.sync().unwrap();
        let (seqs, end) = scan_all(&vfs, &path).unwrap();
        assert_eq!(seqs, (0..10).collect::<Vec<_>>());
        assert!(matches!(end, ScanEnd::Clean { .. }));
    }
}
