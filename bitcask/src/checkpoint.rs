//! Checkpoints: a consistent point-in-time copy of a live store in a new
//! directory, made by hard-linking its immutable segments
//! ([`crate::Bitcask::checkpoint`]).
//!
//! # A checkpoint is a complete store directory
//! A finished checkpoint directory holds data segments, their hint files
//! (those that existed), one fresh empty data segment, and the
//! [`CHECKPOINT_FILE`] manifest. [`crate::Bitcask::open`] (or
//! `open_read_only`) opens it like any other store — in this process or
//! another, while the source store keeps running — and finds exactly the
//! keys, values, expiries and deletions of the checkpoint point. To restore
//! from one, open it in place, or move it to where the store's directory is
//! expected while no store has either open (rename the old one aside, then
//! the checkpoint into place; each rename within one file system is atomic,
//! and the engine needs nothing else).
//!
//! # How it is made
//! 1. `dir` is created if needed and must hold no file
//!    ([`Error::CheckpointDirNotEmpty`]); [`CHECKPOINT_PARTIAL_FILE`] is
//!    created in it and made durable.
//! 2. *The checkpoint point*: under the writer mutex — the only moment
//!    writes wait, as long as one fsync — the active segment is fsynced
//!    (under `Always` this settles every write waiting for its fsync) and
//!    its length noted; if it is larger than [`CHECKPOINT_COPY_LIMIT`] it
//!    is sealed instead and a new one started. Every write that got its
//!    sequence number before is now in a sealed segment or in the active
//!    segment's prefix (which the writer never changes again: it only
//!    appends), and none after is. The store takes handles to every sealed
//!    segment and the active one at that moment.
//! 3. Those segments and their hint files are hard-linked into `dir`, or
//!    copied where linking fails (e.g. `EXDEV` across file systems); each
//!    file is fsynced.
//! 4. A new data segment, numbered after every segment of the source, is
//!    created in `dir` holding a copy of the active segment's prefix (or
//!    empty, if it was sealed), so a store opened on the checkpoint appends
//!    to a file of its own and never to a linked file (which is shared with
//!    the source). Not sealing the active segment keeps checkpoints from
//!    leaving one small segment each in the source.
//! 5. `dir` is fsynced; the manifest [`CHECKPOINT_FILE`] (every file and
//!    its length, the checkpoint's highest sequence number, a CRC) is
//!    written and fsynced; the partial marker is removed; `dir` and its
//!    parent are fsynced. Then the handles are dropped.
//!
//! # Merges
//! A merge may run at the same time. It rewrites segments and retires its
//! inputs, but the engine removes a retired segment's files only when the
//! last handle to it is dropped — the rule that lets readers finish — so
//! the handles of step 2 pin every segment the checkpoint links. Whichever
//! side of a merge's commit step 2 falls on, the segments it took hold the
//! same contents: the inputs, the inputs and the output (whose
//! `SegmentInfo` names the inputs, removed when the checkpoint is opened),
//! or the output.
//!
//! # Crashes
//! A crash (power loss or process crash) at any point of a checkpoint
//! leaves the source store as it was (the checkpoint only rotates it, which
//! is crash-safe like any rotation, and adds names to another directory).
//! The checkpoint directory is then either complete — [`CHECKPOINT_FILE`]
//! present and [`CHECKPOINT_PARTIAL_FILE`] absent, which the final
//! directory fsync makes durable in one step — or detectably incomplete:
//! empty, or holding [`CHECKPOINT_PARTIAL_FILE`], which makes
//! [`crate::Bitcask::open`] fail with [`Error::IncompleteCheckpoint`].
//! [`verify`] checks a checkpoint directory (for example one received over
//! the network) against its manifest. An incomplete one should be deleted
//! and taken again.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::format::FileKind;
use crate::hint;
use crate::recovery::{parse_data_name, parse_hint_name};
use crate::segment::{self, Segment};
use crate::store::{Inner, data_path};
use crate::vfs::{OpenMode, Vfs};

/// The manifest a finished checkpoint writes last (format in
/// `docs/format.md`, "Checkpoint manifest").
pub const CHECKPOINT_FILE: &str = "CHECKPOINT";

/// Present while a checkpoint is being written; a directory holding it is an
/// incomplete checkpoint, which [`crate::Bitcask::open`] refuses.
pub const CHECKPOINT_PARTIAL_FILE: &str = "CHECKPOINT.partial";

/// Largest active segment a checkpoint copies (its records so far) instead
/// of sealing it: 8 MiB. Sealing at every checkpoint would leave one small
/// segment (and, in a live store, one open file) per checkpoint, which the
/// merge policy never compacts while nothing is dead; copying a large
/// segment would hold up the caller for as long as the copy takes. Above
/// this size the active segment is sealed and linked: at most one sealed
/// segment per 8 MiB written, whatever the checkpoint rate.
pub const CHECKPOINT_COPY_LIMIT: u64 = 8 * 1024 * 1024;

/// First line of a manifest.
const MANIFEST_MAGIC: &str = "snowflk-checkpoint 1";

/// What a checkpoint took under the writer mutex.
pub(crate) struct Point {
    /// The active segment and the length of its records at the checkpoint
    /// point (fsynced), if it is copied rather than sealed.
    pub active: Option<(Arc<Segment>, u64)>,
    /// Highest segment id in the store at the checkpoint point.
    pub max_id: u32,
    /// Highest sequence number assigned before the checkpoint point.
    pub max_seq: u64,
    /// Keydir entries at the checkpoint point.
    pub keys: u64,
    /// Every sealed segment, pinned.
    pub segments: Vec<Arc<Segment>>,
    /// How long the writer mutex was waited for and held.
    pub pause: Duration,
}

/// One file of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointFile {
    /// File name within the checkpoint directory.
    pub name: String,
    /// Length in bytes.
    pub len: u64,
}

/// What a checkpoint holds; returned by [`crate::Bitcask::checkpoint`] and
/// [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointInfo {
    /// The checkpoint directory.
    pub dir: PathBuf,
    /// The highest sequence number written before the checkpoint point:
    /// every write numbered up to it is in the checkpoint, none after.
    pub max_seq: u64,
    /// Keys in the index at the checkpoint point (including keys that had
    /// expired but were not merged away yet).
    pub keys: u64,
    /// Data segment files, including the empty one a store opened on the
    /// checkpoint appends to.
    pub segments: usize,
    /// Hint files.
    pub hint_files: usize,
    /// Total bytes of all data and hint files.
    pub bytes: u64,
    /// Every data and hint file, by name.
    pub files: Vec<CheckpointFile>,
    /// Files copied because hard-linking them failed (0 from [`verify`]).
    pub copied_files: usize,
    /// Time from the call to the finished checkpoint (zero from [`verify`]).
    pub elapsed: Duration,
    /// Time spent waiting for and holding the writer mutex, the only time
    /// writes are held up (zero from [`verify`]).
    pub pause: Duration,
}

impl Inner {
    /// See [`crate::Bitcask::checkpoint`].
    pub(crate) fn checkpoint(&self, dir: &Path) -> Result<CheckpointInfo> {
        let started = Instant::now();
        let vfs = &*self.options.vfs;
        if self.writer.is_none() {
            return Err(Error::ReadOnly {
                path: self.dir.clone(),
            });
        }
        vfs.create_dir_all(dir)
            .map_err(|e| Error::io("create directory", dir, e))?;
        let existing = vfs
            .list_dir(dir)
            .map_err(|e| Error::io("list directory", dir, e))?;
        if !existing.is_empty() {
            return Err(Error::CheckpointDirNotEmpty {
                path: dir.to_path_buf(),
                files: existing.len(),
            });
        }
        let partial = dir.join(CHECKPOINT_PARTIAL_FILE);
        write_file(vfs, &partial, b"")?;
        segment::sync_parent(vfs, &partial)?;

        let mut created = Vec::new();
        let result = self.fill_checkpoint(dir, started, &mut created);
        if result.is_err() {
            // Best effort: the partial marker goes last, so a failure here
            // still leaves the directory detectably incomplete.
            for path in created.iter().rev() {
                let _ = vfs.remove_file(path);
            }
            if vfs.remove_file(&partial).is_ok() {
                let _ = vfs.sync_dir(dir);
            }
        }
        result
    }

    fn fill_checkpoint(
        &self,
        dir: &Path,
        started: Instant,
        created: &mut Vec<PathBuf>,
    ) -> Result<CheckpointInfo> {
        let vfs = &*self.options.vfs;
        let point = self.checkpoint_point()?;
        let mut files = Vec::new();
        let mut copied_files = 0;
        let mut hint_files = 0;
        let mut max_id = 0;
        for segment in &point.segments {
            let id = segment.id() as u32;
            max_id = max_id.max(id);
            let target = data_path(dir, id);
            let len = segment.len()?;
            copied_files += usize::from(link_or_copy(vfs, segment.path(), &target, created)?);
            files.push(CheckpointFile {
                name: file_name(&target),
                len,
            });
            // A hint may not be written yet (it is written in the
            // background after a seal): the checkpoint's opener scans
            // that segment instead.
            let hint_source = hint::hint_path(&self.dir, id);
            let hint_target = hint::hint_path(dir, id);
            match link_or_copy(vfs, &hint_source, &hint_target, created) {
                Ok(copied) => {
                    copied_files += usize::from(copied);
                    hint_files += 1;
                    let len = vfs
                        .open_file(&hint_target, OpenMode::Read)
                        .and_then(|f| f.len())
                        .map_err(|e| Error::io("stat", &hint_target, e))?;
                    files.push(CheckpointFile {
                        name: file_name(&hint_target),
                        len,
                    });
                }
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        // The segment a store opened on the checkpoint appends to: never a
        // linked file, which the source store shares. It holds a copy of
        // the active segment's records up to the checkpoint point (if it
        // was not sealed), and is numbered above every segment of the
        // source, so it is the checkpoint's newest segment.
        let id = point.max_id.max(max_id) + 1;
        let active = data_path(dir, id);
        let fresh = Segment::create(vfs, &active, FileKind::Data, u64::from(id))?;
        created.push(active.clone());
        if let Some((source, len)) = &point.active {
            copy_records(source, &fresh, *len)?;
        }
        files.push(CheckpointFile {
            name: file_name(&active),
            len: fresh.len()?,
        });
        drop(fresh);
        vfs.sync_dir(dir)
            .map_err(|e| Error::io("sync directory", dir, e))?;

        let mut info = CheckpointInfo {
            dir: dir.to_path_buf(),
            max_seq: point.max_seq,
            keys: point.keys,
            segments: point.segments.len() + 1,
            hint_files,
            bytes: files.iter().map(|f| f.len).sum(),
            files,
            copied_files,
            elapsed: Duration::ZERO,
            pause: point.pause,
        };
        let manifest = dir.join(CHECKPOINT_FILE);
        write_file(vfs, &manifest, encode_manifest(&info).as_bytes())?;
        created.push(manifest);
        // The commit point: the manifest and the partial marker's removal
        // become durable in one directory fsync.
        vfs.remove_file(&dir.join(CHECKPOINT_PARTIAL_FILE))
            .map_err(|e| Error::io("remove", dir.join(CHECKPOINT_PARTIAL_FILE), e))?;
        vfs.sync_dir(dir)
            .map_err(|e| Error::io("sync directory", dir, e))?;
        created.clear();
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            // The directory's own name, if this call created it.
            vfs.sync_dir(parent)
                .map_err(|e| Error::io("sync directory", parent, e))?;
        }
        // Unpins the segments; a merge's retired inputs are removed now.
        drop(point);
        info.elapsed = started.elapsed();
        tracing::info!(
            dir = %dir.display(),
            source = %self.dir.display(),
            max_seq = info.max_seq,
            keys = info.keys,
            segments = info.segments,
            hint_files = info.hint_files,
            bytes = info.bytes,
            copied_files = info.copied_files,
            elapsed_ms = info.elapsed.as_secs_f64() * 1e3,
            pause_us = info.pause.as_micros() as u64,
            "checkpoint written"
        );
        Ok(info)
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Creates `path` holding `bytes` and fsyncs it (not its directory).
fn write_file(vfs: &dyn Vfs, path: &Path, bytes: &[u8]) -> Result<()> {
    let file = vfs
        .open_file(path, OpenMode::CreateNew)
        .map_err(|e| Error::io("create", path, e))?;
    file.write_all_at(bytes, 0)
        .map_err(|e| Error::io("write", path, e))?;
    file.sync_data().map_err(|e| Error::io("sync", path, e))
}

/// Hard-links `from` to `to`, or copies it if linking fails for another
/// reason than a missing source or an existing target; fsyncs the result.
/// Returns whether it copied. A missing `from` is an `Io` error of kind
/// `NotFound`.
fn link_or_copy(vfs: &dyn Vfs, from: &Path, to: &Path, created: &mut Vec<PathBuf>) -> Result<bool> {
    let copied = match vfs.hard_link(from, to) {
        Ok(()) => false,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::io("hard-link", from, e));
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::io("hard-link", to, e));
        }
        Err(e) => {
            tracing::debug!(from = %from.display(), error = %e, "hard link failed; copying");
            copy_file(vfs, from, to, created)?;
            true
        }
    };
    if !copied {
        created.push(to.to_path_buf());
    }
    // A linked file shares the source's inode, made durable when it was
    // sealed; the fsync costs little and does not rely on that.
    let file = vfs
        .open_file(to, OpenMode::Read)
        .map_err(|e| Error::io("open", to, e))?;
    file.sync_data().map_err(|e| Error::io("sync", to, e))?;
    Ok(copied)
}

fn copy_file(vfs: &dyn Vfs, from: &Path, to: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    let source = vfs
        .open_file(from, OpenMode::Read)
        .map_err(|e| Error::io("open", from, e))?;
    let len = source.len().map_err(|e| Error::io("stat", from, e))?;
    let target = vfs
        .open_file(to, OpenMode::CreateNew)
        .map_err(|e| Error::io("create", to, e))?;
    created.push(to.to_path_buf());
    let mut buf = vec![0u8; (1 << 20).min(len as usize)];
    let mut offset = 0;
    while offset < len {
        let n = buf.len().min((len - offset) as usize);
        source
            .read_exact_at(&mut buf[..n], offset)
            .map_err(|e| Error::io("read", from, e))?;
        target
            .write_all_at(&buf[..n], offset)
            .map_err(|e| Error::io("write", to, e))?;
        offset += n as u64;
    }
    Ok(())
}

/// Copies the records of `source` up to `len` (after its file header) into
/// the new segment `to` at the same offsets, and fsyncs it. The bytes
/// below `len` were fsynced at the checkpoint point and never change: the
/// writer only appends after them.
fn copy_records(source: &Segment, to: &Segment, len: u64) -> Result<()> {
    let mut buf = vec![0u8; (1 << 20).min(len as usize)];
    let mut offset = crate::format::FILE_HEADER_LEN as u64;
    while offset < len {
        let n = buf.len().min((len - offset) as usize);
        source
            .file()
            .read_exact_at(&mut buf[..n], offset)
            .map_err(|e| Error::io("read", source.path(), e))?;
        to.file()
            .write_all_at(&buf[..n], offset)
            .map_err(|e| Error::io("write", to.path(), e))?;
        offset += n as u64;
    }
    to.file()
        .sync_data()
        .map_err(|e| Error::io("sync", to.path(), e))
}

fn encode_manifest(info: &CheckpointInfo) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{MANIFEST_MAGIC}");
    let _ = writeln!(text, "max_seq {}", info.max_seq);
    let _ = writeln!(text, "keys {}", info.keys);
    for file in &info.files {
        let _ = writeln!(text, "file {} {}", file.name, file.len);
    }
    let crc = crc32fast::hash(text.as_bytes());
    let _ = writeln!(text, "crc32 {crc:08x}");
    text
}

fn decode_manifest(path: &Path, bytes: &[u8]) -> Result<(u64, u64, Vec<CheckpointFile>)> {
    let bad = |reason: &str| Error::corrupted(path, 0, format!("checkpoint manifest: {reason}"));
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
    let body_len = text
        .strip_suffix('\n')
        .and_then(|t| t.rfind('\n'))
        .map(|i| i + 1)
        .ok_or_else(|| bad("too short"))?;
    let (body, last) = text.split_at(body_len);
    let crc = last
        .strip_prefix("crc32 ")
        .and_then(|c| c.strip_suffix('\n'))
        .and_then(|c| u32::from_str_radix(c, 16).ok())
        .ok_or_else(|| bad("no crc32 line at the end"))?;
    if crc32fast::hash(body.as_bytes()) != crc {
        return Err(bad("CRC mismatch"));
    }
    let mut lines = body.lines();
    if lines.next() != Some(MANIFEST_MAGIC) {
        return Err(bad("unknown first line (a newer format?)"));
    }
    let mut number = |name: &str| -> Result<u64> {
        lines
            .next()
            .and_then(|l| l.strip_prefix(name))
            .and_then(|v| v.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(&format!("no {name} line")))
    };
    let max_seq = number("max_seq")?;
    let keys = number("keys")?;
    let mut files = Vec::new();
    for line in lines {
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("file"), Some(name), Some(len), None)
                if parse_data_name(name).is_some() || parse_hint_name(name).is_some() =>
            {
                let len = len.parse().map_err(|_| bad("bad file length"))?;
                files.push(CheckpointFile {
                    name: name.to_string(),
                    len,
                });
            }
            _ => return Err(bad(&format!("bad line {line:?}"))),
        }
    }
    Ok((max_seq, keys, files))
}

/// Checks that `dir` holds a complete checkpoint as [`crate::Bitcask::checkpoint`]
/// left it: the manifest is there and intact, the partial marker is not,
/// and every file the manifest lists exists with its length. Returns what
/// the manifest says (with `copied_files`, `elapsed` and `pause` zero).
///
/// It does not read the records (opening the store checks those, and
/// `snowflk-tools verify` checks everything). A store opened read-write on
/// the checkpoint changes its files, after which this no longer holds.
pub fn verify(vfs: &dyn Vfs, dir: &Path) -> Result<CheckpointInfo> {
    let incomplete = |reason: String| Error::IncompleteCheckpoint {
        path: dir.to_path_buf(),
        reason,
    };
    let names = vfs
        .list_dir(dir)
        .map_err(|e| Error::io("list directory", dir, e))?;
    if names.iter().any(|n| n == CHECKPOINT_PARTIAL_FILE) {
        return Err(incomplete(format!("{CHECKPOINT_PARTIAL_FILE} is present")));
    }
    if !names.iter().any(|n| n == CHECKPOINT_FILE) {
        return Err(incomplete(format!("no {CHECKPOINT_FILE} manifest")));
    }
    let path = dir.join(CHECKPOINT_FILE);
    let bytes = {
        let file = vfs
            .open_file(&path, OpenMode::Read)
            .map_err(|e| Error::io("open", &path, e))?;
        let len = file.len().map_err(|e| Error::io("stat", &path, e))?;
        let mut bytes = vec![0u8; len as usize];
        file.read_exact_at(&mut bytes, 0)
            .map_err(|e| Error::io("read", &path, e))?;
        bytes
    };
    let (max_seq, keys, files) = decode_manifest(&path, &bytes)?;
    for file in &files {
        let path = dir.join(&file.name);
        let len = match vfs.open_file(&path, OpenMode::Read) {
            Ok(f) => f.len().map_err(|e| Error::io("stat", &path, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(incomplete(format!("{} is missing", file.name)));
            }
            Err(e) => return Err(Error::io("open", &path, e)),
        };
        if len != file.len {
            return Err(incomplete(format!(
                "{} has {len} bytes, the manifest says {}",
                file.name, file.len
            )));
        }
    }
    Ok(CheckpointInfo {
        dir: dir.to_path_buf(),
        max_seq,
        keys,
        segments: files
            .iter()
            .filter(|f| parse_data_name(&f.name).is_some())
            .count(),
        hint_files: files
            .iter()
            .filter(|f| parse_hint_name(&f.name).is_some())
            .count(),
        bytes: files.iter().map(|f| f.len).sum(),
        files,
        copied_files: 0,
        elapsed: Duration::ZERO,
        pause: Duration::ZERO,
    })
}

/// [`verify`], then reads every record of every file the manifest lists:
/// each data segment's header (kind, and the id its name says) and every
/// record's lengths and CRC, to the end of the file (a checkpoint's
/// segments are complete, so an unreadable tail is corruption too, unlike
/// in a live store's active segment); each hint file's header, every entry
/// and its trailer, and that it describes its data file exactly.
///
/// The first problem is an [`Error::Corrupted`] naming the file and the
/// offset (or an [`Error::IncompleteCheckpoint`] from [`verify`]). Meant
/// for a checkpoint received from elsewhere (a Raft snapshot image) before
/// it replaces a store: [`crate::Bitcask::open`] would refuse a corrupt
/// sealed segment on every start. It reads every byte once, streaming, in
/// memory bounded by the largest record.
pub fn verify_records(vfs: &dyn Vfs, dir: &Path) -> Result<CheckpointInfo> {
    let info = verify(vfs, dir)?;
    let mut data_lens = std::collections::BTreeMap::new();
    for file in &info.files {
        let Some(id) = parse_data_name(&file.name) else {
            continue;
        };
        let path = dir.join(&file.name);
        let segment = Segment::open(vfs, &path, false)?;
        if segment.kind() != FileKind::Data || segment.id() != u64::from(id) {
            return Err(Error::corrupted(
                &path,
                0,
                format!(
                    "header says {} file of segment {}, the name says data segment {id}",
                    segment.kind(),
                    segment.id()
                ),
            ));
        }
        let end = segment::scan(&segment, |_, _| Ok(()))?;
        if let segment::ScanEnd::Torn { valid_len, .. } = end {
            return Err(Error::corrupted(
                &path,
                valid_len,
                "unreadable record (bad length or checksum) at the end of a checkpoint segment",
            ));
        }
        data_lens.insert(id, file.len);
    }
    for file in &info.files {
        let Some(id) = parse_hint_name(&file.name) else {
            continue;
        };
        let path = dir.join(&file.name);
        let Some(&data_len) = data_lens.get(&id) else {
            return Err(Error::corrupted(
                &path,
                0,
                format!("hint file without its data segment {id}"),
            ));
        };
        if let Err(reason) = hint::load_hint(vfs, &path, id, data_len, |_| {}) {
            // `reason` starts "at offset N: " when the offset is known.
            let (offset, reason) = reason
                .strip_prefix("at offset ")
                .and_then(|r| r.split_once(": "))
                .and_then(|(n, r)| Some((n.parse().ok()?, r.to_string())))
                .unwrap_or((0, reason));
            return Err(Error::corrupted(
                &path,
                offset,
                format!("bad hint file: {reason}"),
            ));
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_and_rejects_damage() {
        let info = CheckpointInfo {
            dir: PathBuf::from("/x"),
            max_seq: 42,
            keys: 7,
            segments: 1,
            hint_files: 1,
            bytes: 30,
            files: vec![
                CheckpointFile {
                    name: "0000000001.data".into(),
                    len: 24,
                },
                CheckpointFile {
                    name: "0000000001.hint".into(),
                    len: 6,
                },
            ],
            copied_files: 0,
            elapsed: Duration::ZERO,
            pause: Duration::ZERO,
        };
        let text = encode_manifest(&info);
        let path = Path::new("/x/CHECKPOINT");
        let (max_seq, keys, files) = decode_manifest(path, text.as_bytes()).unwrap();
        assert_eq!((max_seq, keys), (42, 7));
        assert_eq!(files, info.files);
        let damaged = text.replace("max_seq 42", "max_seq 43");
        assert!(decode_manifest(path, damaged.as_bytes()).is_err());
        assert!(decode_manifest(path, &text.as_bytes()[..text.len() - 3]).is_err());
        assert!(decode_manifest(path, b"").is_err());
    }

    #[test]
    fn verify_records_finds_a_flipped_bit_that_verify_misses() {
        let tmp = tempfile::tempdir().unwrap();
        let store = crate::Bitcask::open(tmp.path().join("db"), Default::default()).unwrap();
        for i in 0..200u32 {
            store.put(format!("k{i}").as_bytes(), &[7u8; 100]).unwrap();
            if i % 50 == 49 {
                store.rotate().unwrap();
            }
        }
        let cp = tmp.path().join("cp");
        store.checkpoint(&cp).unwrap();
        let vfs = crate::vfs::OsVfs;
        let info = verify_records(&vfs, &cp).unwrap();
        assert_eq!(info.keys, 200);
        for kind in ["data", "hint"] {
            let copy = tmp.path().join(format!("cp-{kind}"));
            std::fs::create_dir(&copy).unwrap();
            for f in std::fs::read_dir(&cp).unwrap() {
                let f = f.unwrap();
                std::fs::copy(f.path(), copy.join(f.file_name())).unwrap();
            }
            let name = info
                .files
                .iter()
                .find(|f| f.name.ends_with(kind) && f.len > 200)
                .unwrap()
                .name
                .clone();
            let path = copy.join(&name);
            let mut bytes = std::fs::read(&path).unwrap();
            let at = bytes.len() / 2;
            bytes[at] ^= 0x10;
            std::fs::write(&path, bytes).unwrap();
            verify(&vfs, &copy).expect("names and lengths still match");
            match verify_records(&vfs, &copy) {
                Err(Error::Corrupted {
                    path: p, offset, ..
                }) => {
                    assert_eq!(p, path, "{kind}");
                    assert!(offset > 0 && offset <= at as u64, "{kind}: offset {offset}");
                }
                other => panic!("{kind}: expected corruption, got {other:?}"),
            }
        }
    }

    #[test]
    fn checkpoints_do_not_pile_up_small_segments_under_inserts() {
        let tmp = tempfile::tempdir().unwrap();
        let store = crate::Bitcask::open(tmp.path().join("db"), Default::default()).unwrap();
        for round in 0..100u32 {
            for i in 0..20u32 {
                let key = format!("k{round}-{i}");
                store.put(key.as_bytes(), key.as_bytes()).unwrap();
            }
            let cp = tmp.path().join(format!("cp{round}"));
            let info = store.checkpoint(&cp).unwrap();
            assert_eq!(info.keys, u64::from(round + 1) * 20);
            if round % 25 == 24 {
                let copy = crate::Bitcask::open_read_only(&cp).unwrap();
                assert_eq!(copy.len(), (round as usize + 1) * 20);
                assert_eq!(copy.get(b"k0-0").unwrap(), Some(b"k0-0".to_vec()));
                let last = format!("k{round}-19");
                assert_eq!(copy.get(last.as_bytes()).unwrap(), Some(last.into_bytes()));
                verify_records(&crate::vfs::OsVfs, &cp).unwrap();
            }
        }
        let data_files = std::fs::read_dir(tmp.path().join("db"))
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                parse_data_name(&name.to_string_lossy()).is_some()
            })
            .count();
        assert_eq!(data_files, 1, "100 checkpoints sealed segments");
        // Writes after a checkpoint stay out of it.
        store.put(b"after", b"x").unwrap();
        let copy = crate::Bitcask::open_read_only(tmp.path().join("cp99")).unwrap();
        assert_eq!(copy.get(b"after").unwrap(), None);
    }
}
