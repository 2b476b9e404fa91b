//! Raft snapshot images on disk and the byte stream that carries one to a
//! follower.
//!
//! An **image** is a directory: a [`bitcask`] checkpoint of the state
//! machine's engine at one applied index (its data segments and hint files
//! hard-linked from the engine, and the `CHECKPOINT` manifest). Images live
//! in `<data-dir>/snapshots/`:
//!
//! - `snapshot-<index>-<term>` (both zero-padded to 20 digits): a complete
//!   image, written by this node or received from a leader. The log store's
//!   snapshot record names the one the node relies on; older ones are
//!   removed once a newer one is recorded.
//! - `taking-<index>`: a checkpoint being written (renamed when complete).
//! - `incoming`: the image a follower is receiving (renamed when complete).
//!
//! Anything but the recorded image is left over from a crash and removed at
//! start ([`Images::prune`]).
//!
//! The **stream** is what InstallSnapshot chunks carry: a header naming
//! every file of the image with its length, then the files' bytes in that
//! order (byte layout in `docs/format.md`, "Snapshot stream"). The leader
//! reads any byte range of it straight from the image's files
//! ([`ImageReader`]); the follower writes chunks as they come into the files
//! of its `incoming` directory ([`Incoming`]), so neither side holds an image
//! in memory or on disk twice.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use raftlog::{Index, SnapshotMeta, Term};

/// First bytes of a snapshot stream.
pub const STREAM_MAGIC: &[u8; 8] = b"SNFKSNP1";
/// Most files one image may hold.
pub const MAX_FILES: u32 = 100_000;
/// Longest file name in an image.
pub const MAX_NAME_LEN: u16 = 255;

/// Why a snapshot stream or image is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The stream's header is malformed.
    #[error("malformed snapshot stream header: {0}")]
    Header(String),
    /// More or other bytes arrived than the header announced.
    #[error("snapshot stream: {0}")]
    Stream(String),
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// The operation.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The received image is not a complete checkpoint.
    #[error("the received snapshot image {path} is not a valid checkpoint: {source}")]
    Invalid {
        /// The image directory.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: bitcask::Error,
    },
}

impl SnapshotError {
    /// True for a failure of this node's own disk (reading, writing or
    /// fsyncing its files), after which its state cannot be trusted. Every
    /// other error means the bytes a peer sent do not make a valid image:
    /// the transfer is refused and started over, and the node goes on.
    pub fn is_local(&self) -> bool {
        match self {
            SnapshotError::Io { .. } => true,
            SnapshotError::Invalid { source, .. } => matches!(source, bitcask::Error::Io { .. }),
            SnapshotError::Header(_) | SnapshotError::Stream(_) => false,
        }
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError {
    let path = path.to_path_buf();
    move |source| SnapshotError::Io { what, path, source }
}

/// One file of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFile {
    /// File name inside the image directory.
    pub name: String,
    /// Length in bytes.
    pub len: u64,
}

/// The parsed header of a snapshot stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHeader {
    /// The files, in stream order.
    pub files: Vec<StreamFile>,
}

impl StreamHeader {
    /// The header's encoding (see `docs/format.md`).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.files.len() * 32);
        out.extend_from_slice(STREAM_MAGIC);
        out.extend_from_slice(&(self.files.len() as u32).to_le_bytes());
        for f in &self.files {
            out.extend_from_slice(&(f.name.len() as u16).to_le_bytes());
            out.extend_from_slice(f.name.as_bytes());
            out.extend_from_slice(&f.len.to_le_bytes());
        }
        let crc = raftlog::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Bytes of the files after the header.
    pub fn body_len(&self) -> u64 {
        self.files
            .iter()
            .map(|f| f.len)
            .fold(0, u64::saturating_add)
    }
}

/// A file name an image may hold: a plain name of ASCII letters, digits,
/// `.`, `_` and `-`, not `.` or `..` (so it can never leave the directory).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Parses a stream header from the start of `buf`: `Ok(None)` if `buf`
/// holds only part of it, `Ok(Some((header, len)))` with the header's
/// length in bytes, or an error for bytes no valid header starts with.
/// Never panics and never allocates more than `buf` justifies.
pub fn parse_header(buf: &[u8]) -> Result<Option<(StreamHeader, usize)>, SnapshotError> {
    let bad = |why: String| Err(SnapshotError::Header(why));
    let n = buf.len().min(STREAM_MAGIC.len());
    if buf[..n] != STREAM_MAGIC[..n] {
        return bad("bad magic (not a snowflk snapshot stream)".into());
    }
    let mut pos = STREAM_MAGIC.len();
    let Some(count) = read_array::<4>(buf, &mut pos).map(u32::from_le_bytes) else {
        return Ok(None);
    };
    if count > MAX_FILES {
        return bad(format!("{count} files, more than the limit {MAX_FILES}"));
    }
    let mut files: Vec<StreamFile> = Vec::new();
    for _ in 0..count {
        let Some(name_len) = read_array::<2>(buf, &mut pos).map(u16::from_le_bytes) else {
            return Ok(None);
        };
        if name_len > MAX_NAME_LEN {
            return bad(format!("a file name of {name_len} bytes"));
        }
        let Some(raw) = buf.get(pos..pos + usize::from(name_len)) else {
            return Ok(None);
        };
        pos += usize::from(name_len);
        let name = match std::str::from_utf8(raw) {
            Ok(n) if valid_name(n) => n.to_owned(),
            _ => {
                return bad(format!(
                    "invalid file name {:?}",
                    String::from_utf8_lossy(raw)
                ));
            }
        };
        if files.iter().any(|f| f.name == name) {
            return bad(format!("file {name} listed twice"));
        }
        let Some(len) = read_array::<8>(buf, &mut pos).map(u64::from_le_bytes) else {
            return Ok(None);
        };
        files.push(StreamFile { name, len });
    }
    let body_end = pos;
    let Some(crc) = read_array::<4>(buf, &mut pos).map(u32::from_le_bytes) else {
        return Ok(None);
    };
    let actual = raftlog::crc32c(&buf[..body_end]);
    if crc != actual {
        return bad(format!(
            "header checksum {crc:#010x}, computed {actual:#010x}"
        ));
    }
    Ok(Some((StreamHeader { files }, pos)))
}

fn read_array<const N: usize>(buf: &[u8], pos: &mut usize) -> Option<[u8; N]> {
    let bytes: [u8; N] = buf.get(*pos..*pos + N)?.try_into().ok()?;
    *pos += N;
    Some(bytes)
}

/// The snapshot directory of a node: complete images and staging areas.
/// Clones share one set of *pinned* images ([`Images::pin`]).
#[derive(Debug, Clone)]
pub struct Images {
    root: PathBuf,
    /// Indexes of images a transfer to a follower is reading: never pruned.
    pinned: std::sync::Arc<parking_lot::Mutex<std::collections::BTreeSet<Index>>>,
    /// Held while images are removed: a prune after a transfer ends (a
    /// blocking task) and one after a snapshot is recorded (the persistence
    /// thread) may run at once and would otherwise race on the same files.
    removing: std::sync::Arc<parking_lot::Mutex<()>>,
}

impl Images {
    /// Images under `root` (created if missing).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, SnapshotError> {
        let root = root.into();
        bitcask::vfs::create_dir_all_durable(&root).map_err(io("create", &root))?;
        Ok(Images {
            root,
            pinned: Default::default(),
            removing: Default::default(),
        })
    }

    /// The directory holding images.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the complete image of `index`@`term` lives.
    pub fn image(&self, index: Index, term: Term) -> PathBuf {
        self.root.join(format!("snapshot-{index:020}-{term:020}"))
    }

    /// Where a checkpoint of the state at `index` is written before it is
    /// complete.
    pub fn taking(&self, index: Index) -> PathBuf {
        self.root.join(format!("taking-{index:020}"))
    }

    /// Where a follower stages the image it receives.
    pub fn incoming(&self) -> PathBuf {
        self.root.join("incoming")
    }

    /// Moves a finished checkpoint at `from` to its image name for
    /// `index`@`term` (replacing an older copy of the same image).
    pub fn publish(&self, from: &Path, index: Index, term: Term) -> Result<PathBuf, SnapshotError> {
        let to = self.image(index, term);
        if to.exists() {
            std::fs::remove_dir_all(&to).map_err(io("remove", &to))?;
        }
        std::fs::rename(from, &to).map_err(io("rename", from))?;
        sync_dir(&self.root)?;
        Ok(to)
    }

    /// Sets the images that snapshot transfers read (by index), which
    /// [`Images::prune`] keeps; returns true if an image pinned before is
    /// not any more (it may be pruned now).
    pub fn pin(&self, in_use: std::collections::BTreeSet<Index>) -> bool {
        let mut pinned = self.pinned.lock();
        if *pinned == in_use {
            return false;
        }
        let released = pinned.iter().any(|i| !in_use.contains(i));
        *pinned = in_use;
        released
    }

    /// Removes every complete image older than the one of `keep`, except
    /// pinned ones (a transfer reads them). Staging areas may be in use
    /// and stay, and so do newer images (one may be about to be recorded).
    pub fn prune(&self, keep: Option<&SnapshotMeta>) -> Result<(), SnapshotError> {
        self.remove_except(keep, false)
    }

    /// At start: removes everything but the image of `keep` (staging areas
    /// left by a crash included).
    pub fn clean(&self, keep: Option<&SnapshotMeta>) -> Result<(), SnapshotError> {
        self.remove_except(keep, true)
    }

    fn remove_except(&self, keep: Option<&SnapshotMeta>, all: bool) -> Result<(), SnapshotError> {
        let _removing = self.removing.lock();
        let keep_index = keep.map(|m| m.index);
        let keep = keep.map(|m| self.image(m.index, m.term));
        let entries = std::fs::read_dir(&self.root).map_err(io("list", &self.root))?;
        for entry in entries {
            let entry = entry.map_err(io("list", &self.root))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let index = name
                .strip_prefix("snapshot-")
                .and_then(|r| r.split('-').next())
                .and_then(|i| i.parse::<Index>().ok());
            if Some(&path) == keep.as_ref() {
                continue;
            }
            if !all {
                // Prune: only images older than the kept one, not pinned.
                let Some(index) = index else { continue };
                let older = keep_index.is_none_or(|k| index < k);
                if !older || self.pinned.lock().contains(&index) {
                    continue;
                }
            }
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match removed {
                // Gone already: what this call was for.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                other => other.map_err(io("remove", &path))?,
            }
        }
        Ok(())
    }
}

fn sync_dir(path: &Path) -> Result<(), SnapshotError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync", path))
}

/// The leader's view of an image as a stream: its header and where each
/// file starts.
#[derive(Debug, Clone)]
pub struct ImageReader {
    dir: PathBuf,
    header: Vec<u8>,
    files: Vec<(StreamFile, u64)>,
    total: u64,
}

impl ImageReader {
    /// Lists the image in `dir` (every regular file, by name).
    pub fn open(dir: &Path) -> Result<Self, SnapshotError> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io("list", dir))? {
            let entry = entry.map_err(io("list", dir))?;
            let meta = entry.metadata().map_err(io("stat", &entry.path()))?;
            if !meta.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if !valid_name(&name) {
                return Err(SnapshotError::Stream(format!(
                    "image {} holds a file with an unsendable name {name:?}",
                    dir.display()
                )));
            }
            files.push(StreamFile {
                name,
                len: meta.len(),
            });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        if files.len() > MAX_FILES as usize {
            return Err(SnapshotError::Stream(format!(
                "image {} holds {} files, more than a stream may carry ({MAX_FILES})",
                dir.display(),
                files.len()
            )));
        }
        let header = StreamHeader {
            files: files.clone(),
        }
        .encode();
        let mut start = header.len() as u64;
        let files: Vec<_> = files
            .into_iter()
            .map(|f| {
                let at = start;
                start += f.len;
                (f, at)
            })
            .collect();
        Ok(ImageReader {
            dir: dir.to_path_buf(),
            header,
            files,
            total: start,
        })
    }

    /// The stream's length in bytes.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True for a stream without files (never: a header is always there).
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Reads up to `max_len` bytes at `offset`; returns them and whether
    /// they end the stream.
    pub fn read(&self, offset: u64, max_len: usize) -> Result<(Vec<u8>, bool), SnapshotError> {
        let end = offset.saturating_add(max_len as u64).min(self.total);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut pos = offset;
        let header_len = self.header.len() as u64;
        if pos < header_len {
            let stop = end.min(header_len);
            out.extend_from_slice(&self.header[pos as usize..stop as usize]);
            pos = stop;
        }
        for (file, start) in &self.files {
            let file_end = start + file.len;
            if pos >= end {
                break;
            }
            if pos >= file_end || file.len == 0 {
                continue;
            }
            let path = self.dir.join(&file.name);
            let mut f = File::open(&path).map_err(io("open", &path))?;
            f.seek(SeekFrom::Start(pos - start))
                .map_err(io("seek", &path))?;
            let want = (end.min(file_end) - pos) as usize;
            let before = out.len();
            out.resize(before + want, 0);
            f.read_exact(&mut out[before..])
                .map_err(io("read", &path))?;
            pos += want as u64;
        }
        Ok((out, end == self.total))
    }
}

/// A follower's image being received: chunks are written into the files of
/// the `incoming` directory as they arrive, in stream order.
#[derive(Debug)]
pub struct Incoming {
    dir: PathBuf,
    /// The snapshot being received and the bytes of it seen so far.
    current: Option<(SnapshotMeta, u64)>,
    /// Header bytes while the header is incomplete.
    header_buf: Vec<u8>,
    header: Option<(StreamHeader, u64)>,
    /// The file being written: index into the header's files, handle, bytes.
    file: Option<(usize, File, u64)>,
    /// Files finished so far.
    done: usize,
    /// The complete image passed [`Incoming::verify`].
    verified: bool,
}

/// Most header bytes a follower buffers before giving up on a stream.
const MAX_HEADER_BYTES: usize = 32 * 1024 * 1024;

impl Incoming {
    /// A receiver staging into `dir` (created on the first chunk).
    pub fn new(dir: PathBuf) -> Self {
        Incoming {
            dir,
            current: None,
            header_buf: Vec::new(),
            header: None,
            file: None,
            done: 0,
            verified: false,
        }
    }

    /// Stages one chunk. A chunk at offset 0 starts over; any other must
    /// continue the stream being received.
    pub fn accept(
        &mut self,
        meta: &SnapshotMeta,
        offset: u64,
        data: &[u8],
    ) -> Result<(), SnapshotError> {
        if offset == 0 {
            self.reset()?;
            self.current = Some((meta.clone(), 0));
        }
        let Some((current, seen)) = &mut self.current else {
            return Err(SnapshotError::Stream(format!(
                "a chunk at offset {offset} of snapshot {} without its start",
                meta.index
            )));
        };
        if current != meta || *seen != offset {
            return Err(SnapshotError::Stream(format!(
                "a chunk of snapshot {} at offset {offset}, expected snapshot {} at {seen}",
                meta.index, current.index
            )));
        }
        *seen += data.len() as u64;
        if self.header.is_none() {
            self.header_buf.extend_from_slice(data);
            match parse_header(&self.header_buf)? {
                None if self.header_buf.len() > MAX_HEADER_BYTES => {
                    return Err(SnapshotError::Header(format!(
                        "longer than {MAX_HEADER_BYTES} bytes"
                    )));
                }
                None => return Ok(()),
                Some((header, len)) => {
                    let body = std::mem::take(&mut self.header_buf).split_off(len);
                    self.header = Some((header, len as u64));
                    bitcask::vfs::create_dir_all_durable(&self.dir)
                        .map_err(io("create", &self.dir))?;
                    return self.write_body(&body);
                }
            }
        }
        self.write_body(data)
    }

    fn write_body(&mut self, mut data: &[u8]) -> Result<(), SnapshotError> {
        let Some((header, _)) = &self.header else {
            return Ok(());
        };
        loop {
            // Open the next file (empty files are created and closed at once).
            if self.file.is_none() {
                if self.done == header.files.len() {
                    break;
                }
                let path = self.dir.join(&header.files[self.done].name);
                let f = File::create(&path).map_err(io("create", &path))?;
                self.file = Some((self.done, f, 0));
            }
            let Some((idx, f, written)) = &mut self.file else {
                break;
            };
            let spec = &header.files[*idx];
            let take = (spec.len - *written).min(data.len() as u64) as usize;
            let path = self.dir.join(&spec.name);
            f.write_all(&data[..take]).map_err(io("write", &path))?;
            *written += take as u64;
            data = &data[take..];
            if *written == spec.len {
                f.sync_all().map_err(io("fsync", &path))?;
                self.file = None;
                self.done += 1;
                continue;
            }
            if data.is_empty() {
                break;
            }
        }
        if !data.is_empty() {
            return Err(SnapshotError::Stream(format!(
                "{} bytes past the end the header announced",
                data.len()
            )));
        }
        Ok(())
    }

    /// The last chunk of `meta` was staged: checks that every file
    /// arrived, makes the directory durable, and reads every record of the
    /// image ([`bitcask::checkpoint::verify_records`]: manifest, lengths,
    /// every record's and hint entry's checksum), so that a corrupt image
    /// is refused before it can replace the engine.
    pub fn verify(&mut self, meta: &SnapshotMeta) -> Result<(), SnapshotError> {
        let complete = match (&self.current, &self.header) {
            (Some((m, _)), Some((h, _))) => m == meta && self.done == h.files.len(),
            _ => false,
        };
        if !complete {
            return Err(SnapshotError::Stream(format!(
                "snapshot {} ended before every file arrived",
                meta.index
            )));
        }
        sync_dir(&self.dir)?;
        bitcask::checkpoint::verify_records(&bitcask::vfs::OsVfs, &self.dir).map_err(|source| {
            SnapshotError::Invalid {
                path: self.dir.clone(),
                source,
            }
        })?;
        self.verified = true;
        Ok(())
    }

    /// The stream is complete: checks the image ([`Incoming::verify`],
    /// unless done already), makes it durable and publishes it as the
    /// image of `meta`; returns its directory.
    pub fn finish(
        &mut self,
        meta: &SnapshotMeta,
        images: &Images,
    ) -> Result<PathBuf, SnapshotError> {
        let verified = self.verified && self.current.as_ref().is_some_and(|(m, _)| m == meta);
        if !verified {
            self.verify(meta)?;
        }
        let dir = images.publish(&self.dir, meta.index, meta.term)?;
        self.current = None;
        self.header = None;
        self.done = 0;
        self.verified = false;
        Ok(dir)
    }

    /// Discards whatever was staged (a refused transfer); the next
    /// transfer starts at offset 0.
    pub fn abort(&mut self) -> Result<(), SnapshotError> {
        self.reset()
    }

    fn reset(&mut self) -> Result<(), SnapshotError> {
        self.current = None;
        self.header_buf.clear();
        self.header = None;
        self.file = None;
        self.done = 0;
        self.verified = false;
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).map_err(io("remove", &self.dir))?;
        }
        Ok(())
    }
}

/// The `snapshot_stream` fuzz target: `data` as a snapshot stream header,
/// and as a stream fed to a follower's receiver in chunks of sizes taken
/// from its first byte. Any input may be refused; none may panic, and a
/// header that parses re-encodes to the same bytes.
pub fn fuzz_snapshot_stream(data: &[u8]) {
    if let Ok(Some((header, len))) = parse_header(data) {
        assert_eq!(header.encode(), data[..len], "header round trip");
    }
    let Ok(tmp) = tempfile_dir() else { return };
    let mut incoming = Incoming::new(tmp.join("incoming"));
    let meta = SnapshotMeta::default();
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut offset = 0u64;
    for chunk in data.chunks(step) {
        if incoming.accept(&meta, offset, chunk).is_err() {
            break;
        }
        offset += chunk.len() as u64;
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A fresh scratch directory for one fuzz input.
fn tempfile_dir() -> std::io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "snowflk-fuzz-snapshot-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    bitcask::vfs::create_dir_all_durable(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(index: Index) -> SnapshotMeta {
        SnapshotMeta {
            index,
            term: 2,
            voters: vec![1, 2, 3],
            learners: vec![],
        }
    }

    /// Outside test (hostile11): a leader that had sent a follower an old
    /// image pruned it from a blocking task once the transfer ended, while
    /// its persistence thread pruned after recording a newer snapshot. Both
    /// listed the same image; the loser's `remove` found it gone and the
    /// node stopped (exit 70). Two prunes at once must both succeed.
    #[test]
    fn concurrent_prunes_of_the_same_images_both_succeed() {
        let tmp = tempfile::tempdir().unwrap();
        let images = Images::open(tmp.path().join("snapshots")).unwrap();
        for round in 0..50u64 {
            let base = round * 100;
            for i in 1..=8 {
                let dir = images.image(base + i, 2);
                bitcask::vfs::create_dir_all_durable(&dir).unwrap();
                for f in 0..20 {
                    std::fs::write(dir.join(format!("{f:010}.data")), b"x").unwrap();
                }
            }
            let keep = meta(base + 9);
            std::fs::create_dir_all(images.image(keep.index, keep.term)).unwrap();
            let barrier = std::sync::Barrier::new(2);
            let results: Vec<_> = std::thread::scope(|scope| {
                let workers: Vec<_> = (0..2)
                    .map(|_| {
                        let (images, keep, barrier) = (images.clone(), &keep, &barrier);
                        scope.spawn(move || {
                            barrier.wait();
                            images.prune(Some(keep))
                        })
                    })
                    .collect();
                workers.into_iter().map(|w| w.join().unwrap()).collect()
            });
            for r in results {
                assert!(r.is_ok(), "round {round}: {r:?}");
            }
            for i in 1..=8 {
                assert!(
                    !images.image(base + i, 2).exists(),
                    "round {round}: image {i} left"
                );
            }
            assert!(images.image(keep.index, keep.term).exists());
        }
    }

    #[test]
    fn a_header_round_trips_and_every_prefix_is_incomplete() {
        let h = StreamHeader {
            files: vec![
                StreamFile {
                    name: "0000000001.data".into(),
                    len: 10,
                },
                StreamFile {
                    name: "CHECKPOINT".into(),
                    len: 0,
                },
            ],
        };
        let bytes = h.encode();
        for n in 0..bytes.len() {
            assert!(parse_header(&bytes[..n]).unwrap().is_none(), "prefix {n}");
        }
        let (parsed, len) = parse_header(&bytes).unwrap().unwrap();
        assert_eq!((parsed, len), (h, bytes.len()));
    }

    #[test]
    fn hostile_headers_are_refused() {
        let good = StreamHeader {
            files: vec![StreamFile {
                name: "a".into(),
                len: 1,
            }],
        }
        .encode();
        let mut flipped = good.clone();
        flipped[14] ^= 1;
        assert!(parse_header(&flipped).is_err(), "checksum");
        assert!(parse_header(b"NOTSNAP!").is_err(), "magic");
        let mut many = STREAM_MAGIC.to_vec();
        many.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_header(&many).is_err(), "file count");
        for name in ["../x", "", ".", "a/b"] {
            let h = StreamHeader {
                files: vec![StreamFile {
                    name: name.into(),
                    len: 1,
                }],
            };
            assert!(parse_header(&h.encode()).is_err(), "name {name:?}");
        }
    }

    #[test]
    fn an_image_streams_into_an_identical_copy_in_any_chunk_size() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = bitcask::Bitcask::open(tmp.path().join("engine"), Default::default()).unwrap();
        for i in 0..500u32 {
            engine
                .put(format!("k{i}").as_bytes(), &i.to_le_bytes())
                .unwrap();
            if i % 100 == 0 {
                engine.rotate().unwrap();
            }
        }
        let source = tmp.path().join("source");
        engine.checkpoint(&source).unwrap();
        let reader = ImageReader::open(&source).unwrap();
        for chunk in [1usize, 7, 4096, 1 << 20] {
            let images = Images::open(tmp.path().join(format!("images-{chunk}"))).unwrap();
            let mut incoming = Incoming::new(images.incoming());
            let m = meta(42);
            let mut offset = 0;
            loop {
                let (data, last) = reader.read(offset, chunk).unwrap();
                incoming.accept(&m, offset, &data).unwrap();
                offset += data.len() as u64;
                if last {
                    break;
                }
            }
            assert_eq!(offset, reader.len());
            let dir = incoming.finish(&m, &images).unwrap();
            assert_eq!(dir, images.image(42, 2));
            let copy = bitcask::Bitcask::open_read_only(&dir).unwrap();
            assert_eq!(copy.len(), 500);
            assert_eq!(
                copy.get(b"k499").unwrap(),
                Some(499u32.to_le_bytes().to_vec())
            );
        }
    }

    #[test]
    fn a_gap_or_an_overlong_stream_is_refused_and_offset_zero_restarts() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = bitcask::Bitcask::open(tmp.path().join("engine"), Default::default()).unwrap();
        engine.put(b"k", b"v").unwrap();
        let source = tmp.path().join("source");
        engine.checkpoint(&source).unwrap();
        let reader = ImageReader::open(&source).unwrap();
        let (all, last) = reader.read(0, usize::MAX >> 1).unwrap();
        assert!(last);
        let images = Images::open(tmp.path().join("images")).unwrap();
        let mut incoming = Incoming::new(images.incoming());
        let m = meta(7);
        assert!(incoming.accept(&m, 5, &all[5..]).is_err(), "no start");
        incoming.accept(&m, 0, &all[..10]).unwrap();
        assert!(incoming.accept(&m, 20, &all[20..]).is_err(), "gap");
        assert!(incoming.finish(&m, &images).is_err(), "incomplete");
        let mut longer = all.clone();
        longer.push(0);
        assert!(incoming.accept(&m, 0, &longer).is_err(), "past the end");
        incoming.accept(&m, 0, &all).unwrap();
        incoming.finish(&m, &images).unwrap();
    }
}
