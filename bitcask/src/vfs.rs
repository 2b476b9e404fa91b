//! The file-system boundary: every byte the engine reads or writes goes through
//! the small [`Vfs`] and [`VfsFile`] traits.
//!
//! [`OsVfs`] is the real file system. [`MemVfs`] is an in-memory file system
//! for tests that models the two kinds of crash — a *power loss*, after which
//! only bytes that were `sync_data`-ed survive, and only names whose directory
//! was synced; and a *process crash*, after which everything stays in the page
//! cache but nothing more is durable than before — and can inject faults: an I/O error after N operations, a full disk, permission
//! denied. The engine and the Raft log are tested against it (as redb does
//! with its crash backend).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Existing file, read only.
    Read,
    /// Existing file, read and write.
    ReadWrite,
    /// A new file, read and write; fails if the name exists.
    CreateNew,
}

/// A held directory lock; released when dropped.
pub trait DirLock: Send + Sync + fmt::Debug {}

/// A file system, as far as the engine needs one.
pub trait Vfs: Send + Sync + fmt::Debug {
    /// Opens `path` in `mode`.
    fn open_file(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn VfsFile>>;
    /// Names (not paths) of the regular files in `dir`, sorted.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes creations, renames and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Creates `dir` and its parents, durably: once it returns, a power
    /// loss keeps every directory it created (each is fsynced into its
    /// parent, as [`create_dir_all_durable`] does).
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Takes the exclusive lock on the file `path` (created if missing).
    /// Fails at once with [`io::ErrorKind::WouldBlock`] if another holder has it.
    fn try_lock_exclusive(&self, path: &Path) -> io::Result<Box<dyn DirLock>>;
    /// Creates `to` as a new name (hard link) for the existing file `from`;
    /// fails with [`io::ErrorKind::AlreadyExists`] if `to` exists. Used by
    /// [`crate::Bitcask::checkpoint`], which copies the file instead when
    /// this fails for another reason (different file systems:
    /// [`io::ErrorKind::CrossesDevices`]; no link support:
    /// [`io::ErrorKind::Unsupported`], the default).
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let _ = (from, to);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this file system has no hard links",
        ))
    }
}

/// An open file. All methods take `&self` and are safe to call from many
/// threads at once: reads and writes are positioned (`pread`/`pwrite`).
// `is_empty` would be noise on a file handle; the engine asks for lengths.
#[allow(clippy::len_without_is_empty)]
pub trait VfsFile: Send + Sync + fmt::Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read
    /// (fewer only at end of file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes the file's data durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Truncates or extends the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The file's current length.
    fn len(&self) -> io::Result<u64>;

    /// Maps the first `len` bytes of the file (which may run past its end)
    /// into memory for reading, if the backend can. `Ok(None)` means "use
    /// `read_at`". The caller must only read bytes that exist in the file
    /// and that nobody truncates while the map lives (see
    /// [`crate::segment::Segment`]); touching a page past the end of the file
    /// raises SIGBUS.
    fn map_for_reading(&self, len: u64) -> io::Result<Option<memmap2::Mmap>> {
        let _ = len;
        Ok(None)
    }

    /// Reads exactly `buf.len()` bytes at `offset`, or fails with
    /// [`io::ErrorKind::UnexpectedEof`].
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file ends before the requested range",
                    ));
                }
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsVfs;

#[derive(Debug)]
struct OsFile(File);

impl VfsFile for OsFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    #[allow(unsafe_code)]
    fn map_for_reading(&self, len: u64) -> io::Result<Option<memmap2::Mmap>> {
        let Ok(len) = usize::try_from(len) else {
            return Ok(None);
        };
        if len == 0 {
            return Ok(None);
        }
        // SAFETY: a read-only shared mapping. Its soundness rests on the
        // contract stated on `VfsFile::map_for_reading`: the engine reads only
        // byte ranges below its published flushed length, which no one
        // truncates while the map exists (sealed segments are immutable; the
        // active segment is only cut above what readers can reach). Writes by
        // `pwrite` into other ranges are coherent with the mapping on Linux
        // (one page cache). Justified by the `get_warm` benchmark in
        // docs/benchmarks.md (pread costs ~0.45 µs per get on these machines).
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(&self.0)? };
        Ok(Some(map))
    }
}

#[derive(Debug)]
struct OsLock(#[allow(dead_code)] File);
impl DirLock for OsLock {}

impl Vfs for OsVfs {
    fn open_file(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn VfsFile>> {
        let mut options = OpenOptions::new();
        match mode {
            OpenMode::Read => options.read(true),
            OpenMode::ReadWrite => options.read(true).write(true),
            OpenMode::CreateNew => options.read(true).write(true).create_new(true),
        };
        Ok(Arc::new(OsFile(options.open(path)?)))
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        create_dir_all_durable(dir)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::hard_link(from, to)
    }

    fn try_lock_exclusive(&self, path: &Path) -> io::Result<Box<dyn DirLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(OsLock(file))),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "lock is held by another opener",
            )),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// An in-memory file system that models crashes and injects faults.
///
/// Cloning shares the same files. A crash ([`MemVfs::crash`]) keeps, for every
/// name that was durable (its directory synced since it was created or
/// renamed), the bytes that were synced, plus — if the file only grew since —
/// a prefix of the unsynced bytes chosen by the caller, as an OS that wrote
/// back some pages before power loss would.
///
/// A crash also ends the "process" that used the file system before it:
/// every clone made (and every file opened) before the crash refuses to
/// modify anything afterwards, so threads of a store that was "killed" cannot
/// write into the file system its successor opens. Reads still work. Clone
/// the `MemVfs` again after a crash to get a live handle.
#[derive(Debug, Default)]
pub struct MemVfs {
    state: Arc<Mutex<MemState>>,
    /// The crash generation this handle belongs to.
    born: u64,
}

impl MemVfs {
    /// A handle of the same "process" (crash generation) as `self`; unlike
    /// `clone`, it takes no lock.
    fn same_process(&self) -> Self {
        Self {
            state: self.state.clone(),
            born: self.born,
        }
    }
}

impl Clone for MemVfs {
    fn clone(&self) -> Self {
        let born = self.state.lock().generation;
        Self {
            state: self.state.clone(),
            born,
        }
    }
}

#[derive(Debug, Default)]
struct MemState {
    /// The namespace as the running process sees it.
    names: BTreeMap<PathBuf, Arc<MemFile>>,
    /// The namespace as it would be found after a crash.
    durable_names: BTreeMap<PathBuf, Arc<MemFile>>,
    dirs: BTreeSet<PathBuf>,
    locks: BTreeSet<PathBuf>,
    faults: Faults,
    /// Number of crashes so far.
    generation: u64,
}

#[derive(Debug, Default)]
struct Faults {
    /// Mutating operations still allowed before every one fails; `None` = no limit.
    ops_until_failure: Option<u64>,
    /// Fail only the one operation `ops_until_failure` points at.
    fail_once: bool,
    /// Total bytes all files may hold; writes beyond fail with `StorageFull`.
    space_limit: Option<u64>,
    /// Opening for write, creating, renaming and removing fail with `PermissionDenied`.
    read_only: bool,
    /// Hard links fail with `CrossesDevices`, as between two file systems.
    no_hard_links: bool,
}

#[derive(Debug, Default)]
struct MemFile {
    contents: Mutex<MemContents>,
}

#[derive(Debug, Default, Clone)]
struct MemContents {
    data: Vec<u8>,
    /// The contents as of the last `sync_data`.
    synced: Vec<u8>,
}

#[derive(Debug)]
struct MemHandle {
    vfs: MemVfs,
    file: Arc<MemFile>,
    writable: bool,
}

#[derive(Debug)]
struct MemLock {
    vfs: MemVfs,
    path: PathBuf,
}
impl DirLock for MemLock {}
impl Drop for MemLock {
    fn drop(&mut self) {
        let mut state = self.vfs.state.lock();
        // A lock from before a crash was already released by it.
        if self.vfs.born == state.generation {
            state.locks.remove(&self.path);
        }
    }
}

fn injected(kind: io::ErrorKind, what: &str) -> io::Error {
    io::Error::new(kind, format!("injected fault: {what}"))
}

impl MemVfs {
    /// A new, empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets `n` more mutating operations (write, sync, set_len, create,
    /// rename, remove, sync_dir) succeed; every one after fails with an I/O
    /// error until [`MemVfs::clear_faults`]. `fail_after_ops(0)` fails the next.
    pub fn fail_after_ops(&self, n: u64) {
        self.state.lock().faults.ops_until_failure = Some(n);
    }

    /// Lets `n` more mutating operations succeed, fails the next one, and
    /// lets every later one succeed again: a transient fault.
    pub fn fail_once_after_ops(&self, n: u64) {
        let mut state = self.state.lock();
        state.faults.ops_until_failure = Some(n);
        state.faults.fail_once = true;
    }

    /// Limits the total bytes of all files; a write beyond writes what fits
    /// and then fails with [`io::ErrorKind::StorageFull`] (ENOSPC).
    pub fn set_space_limit(&self, limit: Option<u64>) {
        self.state.lock().faults.space_limit = limit;
    }

    /// Makes every attempt to modify the file system fail with
    /// [`io::ErrorKind::PermissionDenied`].
    pub fn set_read_only(&self, read_only: bool) {
        self.state.lock().faults.read_only = read_only;
    }

    /// Makes every [`Vfs::hard_link`] fail with
    /// [`io::ErrorKind::CrossesDevices`] (EXDEV), as if source and target
    /// were on different file systems.
    pub fn set_hard_links_fail(&self, fail: bool) {
        self.state.lock().faults.no_hard_links = fail;
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.state.lock().faults = Faults::default();
    }

    /// Total bytes held by all files.
    pub fn used_bytes(&self) -> u64 {
        let state = self.state.lock();
        state
            .names
            .values()
            .map(|f| f.contents.lock().data.len() as u64)
            .sum()
    }

    /// Simulates power loss: the namespace reverts to its durable state and
    /// each file to its synced contents plus `extra(path, unsynced_len)`
    /// bytes of what was appended after the last sync (clamped). Locks are
    /// released, as they would be when the process dies. Open handles from
    /// before the crash keep working on the old contents and must not be used.
    pub fn crash(&self, mut extra: impl FnMut(&Path, u64) -> u64) {
        self.revert_to_durable(|path, contents| {
            let mut data = contents.synced.clone();
            if contents.data.len() > data.len() && contents.data.starts_with(&data) {
                let unsynced = (contents.data.len() - data.len()) as u64;
                let keep = extra(path, unsynced).min(unsynced) as usize;
                data.extend_from_slice(&contents.data[contents.synced.len()..][..keep]);
            }
            data
        });
    }

    /// A power loss: the namespace reverts to its durable names, each file
    /// to the bytes `survive(path, contents)` picks; locks and faults go and
    /// handles from before stop working.
    fn revert_to_durable(&self, mut survive: impl FnMut(&Path, &MemContents) -> Vec<u8>) {
        let mut state = self.state.lock();
        let mut survivors = BTreeMap::new();
        for (path, file) in &state.durable_names {
            let data = survive(path, &file.contents.lock());
            let fresh = Arc::new(MemFile {
                contents: Mutex::new(MemContents {
                    synced: data.clone(),
                    data,
                }),
            });
            survivors.insert(path.clone(), fresh);
        }
        state.names = survivors.clone();
        state.durable_names = survivors;
        state.locks.clear();
        state.faults = Faults::default();
        state.generation += 1;
    }

    /// Simulates power loss; the same as [`MemVfs::crash`], named for what
    /// it models next to [`MemVfs::process_crash`].
    pub fn power_loss(&self, extra: impl FnMut(&Path, u64) -> u64) {
        self.crash(extra)
    }

    /// Simulates a power loss during the writeback of overwritten bytes: the
    /// namespace reverts to its durable state; each file keeps its synced
    /// length, and every 512-byte sector where the written bytes differ from
    /// the synced ones takes the new bytes if `keep(path, sector_offset)`,
    /// else keeps the old. Without a size change to order them, a disk may
    /// persist any subset of the sectors of an unfinished write into space
    /// the file already has (as a file preallocated with zeros does); growth
    /// past the synced length is lost. Otherwise as [`MemVfs::crash`].
    pub fn power_loss_sectors(&self, mut keep: impl FnMut(&Path, u64) -> bool) {
        const SECTOR: usize = 512;
        self.revert_to_durable(|path, contents| {
            let mut data = contents.synced.clone();
            let shared = data.len().min(contents.data.len());
            for start in (0..shared).step_by(SECTOR) {
                let end = (start + SECTOR).min(shared);
                if data[start..end] != contents.data[start..end] && keep(path, start as u64) {
                    data[start..end].copy_from_slice(&contents.data[start..end]);
                }
            }
            data
        });
    }

    /// Simulates the death of the process (SIGKILL, OOM, panic) while the
    /// machine keeps running: every byte written and every name created,
    /// renamed or removed stays as the page cache has it, and *nothing*
    /// becomes durable. A later [`MemVfs::crash`] (power loss) can still take
    /// away whatever was not synced. Locks are released and faults cleared;
    /// handles from before refuse to modify anything, as after a power loss.
    pub fn process_crash(&self) {
        let mut state = self.state.lock();
        state.locks.clear();
        state.faults = Faults::default();
        state.generation += 1;
    }

    /// Direct access to a file's bytes, for tests that corrupt files.
    pub fn read_whole(&self, path: &Path) -> io::Result<Vec<u8>> {
        let state = self.state.lock();
        let file = state
            .names
            .get(path)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        Ok(file.contents.lock().data.clone())
    }

    /// Replaces a file's bytes (synced and unsynced alike), for tests that
    /// corrupt files.
    pub fn write_whole(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let state = self.state.lock();
        let file = state
            .names
            .get(path)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        let mut contents = file.contents.lock();
        contents.data = bytes.to_vec();
        contents.synced = bytes.to_vec();
        Ok(())
    }

    fn check_mutation(&self, what: &str) -> io::Result<()> {
        let mut state = self.state.lock();
        if self.born != state.generation {
            return Err(io::Error::other(format!(
                "simulated crash: the process that would {what} is gone"
            )));
        }
        if state.faults.read_only {
            return Err(injected(io::ErrorKind::PermissionDenied, what));
        }
        match &mut state.faults.ops_until_failure {
            Some(0) => {
                if state.faults.fail_once {
                    state.faults.ops_until_failure = None;
                }
                Err(injected(io::ErrorKind::Other, what))
            }
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn space_left(&self, replacing: &Arc<MemFile>) -> Option<u64> {
        let state = self.state.lock();
        let limit = state.faults.space_limit?;
        let used: u64 = state
            .names
            .values()
            .filter(|f| !Arc::ptr_eq(f, replacing))
            .map(|f| f.contents.lock().data.len() as u64)
            .sum();
        Some(limit.saturating_sub(used))
    }
}

impl VfsFile for MemHandle {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let contents = self.file.contents.lock();
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= contents.data.len() {
            return Ok(0);
        }
        let n = buf.len().min(contents.data.len() - start);
        buf[..n].copy_from_slice(&contents.data[start..start + n]);
        Ok(n)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "file opened read-only",
            ));
        }
        self.vfs.check_mutation("write")?;
        let start = offset as usize;
        let space = self.vfs.space_left(&self.file);
        let mut contents = self.file.contents.lock();
        let end = start + buf.len();
        let (fits, full) = match space {
            Some(space) if end as u64 > space => {
                (space.saturating_sub(start as u64) as usize, true)
            }
            _ => (buf.len(), false),
        };
        let fits = fits.min(buf.len());
        if contents.data.len() < start + fits {
            contents.data.resize(start + fits, 0);
        }
        contents.data[start..start + fits].copy_from_slice(&buf[..fits]);
        if full {
            return Err(injected(io::ErrorKind::StorageFull, "disk full"));
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.vfs.check_mutation("sync")?;
        let mut contents = self.file.contents.lock();
        contents.synced = contents.data.clone();
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "file opened read-only",
            ));
        }
        self.vfs.check_mutation("set_len")?;
        self.file.contents.lock().data.resize(len as usize, 0);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.contents.lock().data.len() as u64)
    }
}

impl Vfs for MemVfs {
    fn open_file(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn VfsFile>> {
        if mode != OpenMode::Read {
            self.check_mutation("open for write")?;
        }
        let mut state = self.state.lock();
        let file = match mode {
            OpenMode::Read | OpenMode::ReadWrite => state
                .names
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?,
            OpenMode::CreateNew => {
                let parent = path.parent().unwrap_or(Path::new(""));
                if !state.dirs.contains(parent) {
                    return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
                }
                if state.names.contains_key(path) {
                    return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"));
                }
                let file = Arc::new(MemFile::default());
                state.names.insert(path.to_path_buf(), file.clone());
                file
            }
        };
        Ok(Arc::new(MemHandle {
            vfs: self.same_process(),
            file,
            writable: mode != OpenMode::Read,
        }))
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = self.state.lock();
        if !state.dirs.contains(dir) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
        }
        Ok(state
            .names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.check_mutation("remove")?;
        let mut state = self.state.lock();
        state
            .names
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.check_mutation("rename")?;
        let mut state = self.state.lock();
        let file = state
            .names
            .remove(from)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        state.names.insert(to.to_path_buf(), file);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.check_mutation("sync_dir")?;
        let mut state = self.state.lock();
        state.durable_names.retain(|p, _| p.parent() != Some(dir));
        let current: Vec<_> = state
            .names
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, f)| (p.clone(), f.clone()))
            .collect();
        state.durable_names.extend(current);
        Ok(())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.check_mutation("create a directory")?;
        let mut state = self.state.lock();
        for ancestor in dir.ancestors() {
            state.dirs.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.check_mutation("hard link")?;
        let mut state = self.state.lock();
        if state.faults.no_hard_links {
            return Err(injected(
                io::ErrorKind::CrossesDevices,
                "hard link across file systems",
            ));
        }
        let file = state
            .names
            .get(from)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        let parent = to.parent().unwrap_or(Path::new(""));
        if !state.dirs.contains(parent) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
        }
        if state.names.contains_key(to) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"));
        }
        // Both names share one file, as two links share an inode.
        state.names.insert(to.to_path_buf(), file);
        Ok(())
    }

    fn try_lock_exclusive(&self, path: &Path) -> io::Result<Box<dyn DirLock>> {
        self.check_mutation("lock")?;
        let mut state = self.state.lock();
        if !state.locks.insert(path.to_path_buf()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "lock is held by another opener",
            ));
        }
        Ok(Box::new(MemLock {
            vfs: self.same_process(),
            path: path.to_path_buf(),
        }))
    }
}

/// Creates `dir` and every missing parent, and makes each creation durable:
/// a new directory's name lives in its parent, which a power loss may roll
/// back unless the parent is fsynced after the creation (`mkdir` alone
/// promises nothing). Files fsynced later inside a directory that then
/// vanishes are lost with it: a node would come back empty and forget what
/// it had acknowledged.
pub fn create_dir_all_durable(dir: &Path) -> io::Result<()> {
    create_dirs_with(
        dir,
        |d| fs::metadata(d).is_ok(),
        |d| match fs::create_dir(d) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => Ok(()),
            other => other,
        },
        |d| File::open(d)?.sync_all(),
    )
}

/// Replaces the file at `path` with `bytes` so that a crash or a power loss
/// leaves either the old file or the whole new one: the bytes go to
/// `path` + `.tmp`, which is fsynced and renamed over `path`, and then the
/// directory (created durably if missing) is fsynced so the rename lasts.
/// For small files a node keeps beside its stores (identity, join state).
pub fn write_file_durably(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    create_dir_all_durable(dir)?;
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// [`create_dir_all_durable`] over given operations: `exists`, `create`
/// (one directory) and `sync` (fsync a directory).
fn create_dirs_with(
    dir: &Path,
    exists: impl Fn(&Path) -> bool,
    mut create: impl FnMut(&Path) -> io::Result<()>,
    mut sync: impl FnMut(&Path) -> io::Result<()>,
) -> io::Result<()> {
    let mut missing = Vec::new();
    for ancestor in dir.ancestors() {
        if ancestor.as_os_str().is_empty() || exists(ancestor) {
            break;
        }
        missing.push(ancestor);
    }
    for new in missing.into_iter().rev() {
        create(new)?;
        let parent = match new.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        sync(parent)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_durable_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/IDENTITY");
        write_file_durably(&path, b"one\n").unwrap();
        write_file_durably(&path, b"two\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two\n");
        assert!(!dir.path().join("new/IDENTITY.tmp").exists());
    }

    /// Every directory created is fsynced into its parent, outermost
    /// first; what exists is left alone.
    #[test]
    fn durable_dir_creation_syncs_each_new_directory_s_parent() {
        let existing: BTreeSet<PathBuf> = ["/", "/data"].iter().map(PathBuf::from).collect();
        let ops = std::cell::RefCell::new(Vec::new());
        create_dirs_with(
            Path::new("/data/node/engine"),
            |d| existing.contains(d),
            |d| {
                ops.borrow_mut().push(format!("mkdir {}", d.display()));
                Ok(())
            },
            |d| {
                ops.borrow_mut().push(format!("fsync {}", d.display()));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(
            ops.into_inner(),
            [
                "mkdir /data/node",
                "fsync /data",
                "mkdir /data/node/engine",
                "fsync /data/node",
            ]
        );
        // A relative path's first component lives in the working directory.
        let ops = std::cell::RefCell::new(Vec::new());
        create_dirs_with(
            Path::new("d/e"),
            |_| false,
            |_| Ok(()),
            |d| {
                ops.borrow_mut().push(d.display().to_string());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(ops.into_inner(), [".", "d"]);
        // A real one: it exists afterwards, and an existing one is fine.
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("a/b/c");
        create_dir_all_durable(&deep).unwrap();
        assert!(deep.is_dir());
        create_dir_all_durable(&deep).unwrap();
    }

    use super::*;

    #[test]
    fn crash_keeps_only_synced_bytes_and_durable_names() {
        let vfs = MemVfs::new();
        let dir = Path::new("/d");
        vfs.create_dir_all(dir).unwrap();
        let a = vfs.open_file(&dir.join("a"), OpenMode::CreateNew).unwrap();
        a.write_all_at(b"hello", 0).unwrap();
        a.sync_data().unwrap();
        vfs.sync_dir(dir).unwrap();
        a.write_all_at(b" world", 5).unwrap();
        let b = vfs.open_file(&dir.join("b"), OpenMode::CreateNew).unwrap();
        b.write_all_at(b"lost", 0).unwrap();
        b.sync_data().unwrap();
        vfs.crash(|_, _| 0);
        assert_eq!(vfs.list_dir(dir).unwrap(), vec!["a".to_string()]);
        assert_eq!(vfs.read_whole(&dir.join("a")).unwrap(), b"hello");
    }

    #[test]
    fn crash_can_keep_a_prefix_of_unsynced_appends() {
        let vfs = MemVfs::new();
        let dir = Path::new("/d");
        vfs.create_dir_all(dir).unwrap();
        let a = vfs.open_file(&dir.join("a"), OpenMode::CreateNew).unwrap();
        vfs.sync_dir(dir).unwrap();
        a.write_all_at(b"abcdef", 0).unwrap();
        vfs.crash(|_, unsynced| {
            assert_eq!(unsynced, 6);
            4
        });
        assert_eq!(vfs.read_whole(&dir.join("a")).unwrap(), b"abcd");
    }

    #[test]
    fn power_loss_sectors_keeps_a_chosen_subset_of_overwritten_sectors() {
        let vfs = MemVfs::new();
        let path = Path::new("/d/f");
        vfs.create_dir_all(Path::new("/d")).unwrap();
        let f = vfs.open_file(path, OpenMode::CreateNew).unwrap();
        f.write_all_at(&[0u8; 2048], 0).unwrap();
        f.sync_data().unwrap();
        vfs.sync_dir(Path::new("/d")).unwrap();
        f.write_all_at(&[1u8; 2048 + 100], 0).unwrap();
        vfs.power_loss_sectors(|_, sector| sector == 512 || sector == 1536);
        let after = vfs.read_whole(path).unwrap();
        assert_eq!(after.len(), 2048, "growth past the synced length is lost");
        assert!(after[..512].iter().all(|&b| b == 0));
        assert!(after[512..1024].iter().all(|&b| b == 1));
        assert!(after[1024..1536].iter().all(|&b| b == 0));
        assert!(after[1536..].iter().all(|&b| b == 1));
    }

    #[test]
    fn faults_are_injected_and_cleared() {
        let vfs = MemVfs::new();
        let dir = Path::new("/d");
        vfs.create_dir_all(dir).unwrap();
        let a = vfs.open_file(&dir.join("a"), OpenMode::CreateNew).unwrap();
        vfs.set_space_limit(Some(4));
        let err = a.write_all_at(b"abcdef", 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert_eq!(a.len().unwrap(), 4);
        vfs.clear_faults();
        a.write_all_at(b"abcdef", 0).unwrap();
        vfs.fail_after_ops(1);
        a.sync_data().unwrap();
        assert!(a.sync_data().is_err());
        vfs.clear_faults();
        vfs.set_read_only(true);
        assert_eq!(
            vfs.open_file(&dir.join("b"), OpenMode::CreateNew)
                .unwrap_err()
                .kind(),
            io::ErrorKind::PermissionDenied
        );
    }

    #[test]
    fn exclusive_lock_is_exclusive_until_dropped() {
        let vfs = MemVfs::new();
        let lock = vfs.try_lock_exclusive(Path::new("/d/LOCK")).unwrap();
        assert_eq!(
            vfs.try_lock_exclusive(Path::new("/d/LOCK"))
                .unwrap_err()
                .kind(),
            io::ErrorKind::WouldBlock
        );
        drop(lock);
        vfs.try_lock_exclusive(Path::new("/d/LOCK")).unwrap();
    }

    #[test]
    fn os_lock_is_exclusive_between_handles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("LOCK");
        let lock = OsVfs.try_lock_exclusive(&path).unwrap();
        assert_eq!(
            OsVfs.try_lock_exclusive(&path).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        drop(lock);
        OsVfs.try_lock_exclusive(&path).unwrap();
    }
}
