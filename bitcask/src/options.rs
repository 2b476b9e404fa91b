//! Options for opening a store.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::format::{FILE_HEADER_LEN, MAX_VALUE_LEN};
use crate::vfs::{OsVfs, Vfs};

/// When writes reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Writes are buffered in the process (up to
    /// [`Options::write_buffer_size`]) and handed to the OS when the buffer
    /// fills, on [`crate::Bitcask::sync`], on rotation and on close; the OS
    /// decides when they reach the disk. A process crash loses at most the
    /// buffer; a power loss loses whatever the OS had not written. Recovery
    /// always yields a prefix of the writes.
    Never,
    /// A write returns only when it is durable (`fdatasync`). Writers that
    /// arrive while an fsync runs share the next one (group commit). A write
    /// becomes visible to readers only once durable.
    Always,
    /// Like [`SyncPolicy::Never`], plus a background thread flushes and
    /// fsyncs every interval: at most one interval of writes is lost on
    /// power loss.
    Interval(Duration),
}

/// When and what to merge, modelled on Basho Bitcask's knobs.
///
/// A merge is *triggered* when any sealed segment reaches a trigger
/// threshold. It then *includes* every sealed segment that reaches the
/// (lower) inclusion thresholds, plus small segments, up to
/// [`MergePolicy::max_merge_bytes`] of live data per merge.
#[derive(Debug, Clone, PartialEq)]
pub struct MergePolicy {
    /// Trigger: a segment with at least this fragmentation (dead bytes as a
    /// percentage of the file). Default 60.
    pub trigger_fragmentation: f64,
    /// Trigger: a segment with at least this many dead bytes. Default 512 MiB.
    pub trigger_dead_bytes: u64,
    /// Include: segments with at least this fragmentation. Default 40.
    pub include_fragmentation: f64,
    /// Include: segments with at least this many dead bytes. Default 128 MiB.
    pub include_dead_bytes: u64,
    /// Include: segments smaller than this, so small files get combined.
    /// Default 10 MiB.
    pub small_file_bytes: u64,
    /// Most live bytes one merge copies (its output is one segment).
    /// Default 1 GiB; at most 2 GiB.
    pub max_merge_bytes: u64,
    /// Run a merger thread that checks the policy this often. Default `None`
    /// (off): call [`crate::Bitcask::merge`] yourself.
    pub background_interval: Option<Duration>,
    /// Limit merge output to this many bytes per second, so a merge does not
    /// starve foreground writes of disk bandwidth. Default `None` (no limit).
    pub rate_limit_bytes_per_sec: Option<u64>,
}

impl Default for MergePolicy {
    fn default() -> Self {
        Self {
            trigger_fragmentation: 60.0,
            trigger_dead_bytes: 512 * 1024 * 1024,
            include_fragmentation: 40.0,
            include_dead_bytes: 128 * 1024 * 1024,
            small_file_bytes: 10 * 1024 * 1024,
            max_merge_bytes: 1024 * 1024 * 1024,
            background_interval: None,
            rate_limit_bytes_per_sec: None,
        }
    }
}

/// Options for [`crate::Bitcask::open`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Durability policy. Default: [`SyncPolicy::Always`].
    pub sync: SyncPolicy,
    /// A segment is sealed and a new one started when the next append would
    /// take it past this size. Default 256 MiB; between 4 KiB and 2 GiB.
    /// A single record or batch larger than this gets a segment to itself.
    pub max_file_size: u64,
    /// Appends are collected in memory up to this many bytes before one
    /// write system call. Default 64 KiB.
    pub write_buffer_size: usize,
    /// Serve reads from read-only memory maps of the segments instead of
    /// `pread` (default `true`; 2–2.6x faster warm `get`s, see
    /// `docs/benchmarks.md`). Backends without mmap always use `pread`.
    pub mmap_reads: bool,
    /// Merge policy (compaction). See [`MergePolicy`].
    pub merge: MergePolicy,
    /// The file system. Default: [`OsVfs`]; tests pass a
    /// [`crate::vfs::MemVfs`] to simulate crashes and faults.
    pub vfs: Arc<dyn Vfs>,
    /// The owner can rebuild whatever the active segment holds (a
    /// replicated log replays it), so a read-write open may cut the active
    /// segment at its first unreadable record even when valid records
    /// follow, instead of failing with [`crate::Error::Corrupted`]. Under
    /// [`SyncPolicy::Never`] a power loss can keep later pages of the
    /// active segment and lose an earlier one (writeback is not in file
    /// order), which looks exactly like that. The cut keeps a prefix of
    /// whole write batches, logged with what it dropped. Default `false`:
    /// an engine that is its own durability must report it.
    pub replaceable_active_tail: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sync: SyncPolicy::Always,
            max_file_size: 256 * 1024 * 1024,
            write_buffer_size: 64 * 1024,
            mmap_reads: true,
            merge: MergePolicy::default(),
            vfs: Arc::new(OsVfs),
            replaceable_active_tail: false,
        }
    }
}

/// Largest allowed [`Options::max_file_size`]: record offsets are kept in 32
/// bits, and a segment may overflow the limit by one maximal record.
pub const MAX_FILE_SIZE_LIMIT: u64 = 2 * 1024 * 1024 * 1024;

impl Options {
    /// Sets the sync policy.
    pub fn sync(mut self, sync: SyncPolicy) -> Self {
        self.sync = sync;
        self
    }

    /// Sets the segment size limit.
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }

    /// Sets the write buffer size.
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }

    /// Turns memory-mapped reads on or off.
    pub fn mmap_reads(mut self, on: bool) -> Self {
        self.mmap_reads = on;
        self
    }

    /// Sets [`Options::replaceable_active_tail`].
    pub fn replaceable_active_tail(mut self, on: bool) -> Self {
        self.replaceable_active_tail = on;
        self
    }

    /// Sets the merge policy.
    pub fn merge(mut self, merge: MergePolicy) -> Self {
        self.merge = merge;
        self
    }

    /// Sets the file system.
    pub fn vfs(mut self, vfs: Arc<dyn Vfs>) -> Self {
        self.vfs = vfs;
        self
    }

    /// How much of the active segment to map: 0 when maps are off.
    pub(crate) fn active_map_len(&self) -> u64 {
        if self.mmap_reads {
            self.max_file_size
        } else {
            0
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !(4096..=MAX_FILE_SIZE_LIMIT).contains(&self.max_file_size) {
            return Err(Error::InvalidOptions(format!(
                "max_file_size {} is outside 4096..={MAX_FILE_SIZE_LIMIT}",
                self.max_file_size
            )));
        }
        if let SyncPolicy::Interval(d) = self.sync
            && d.is_zero()
        {
            return Err(Error::InvalidOptions(
                "SyncPolicy::Interval needs a non-zero interval".into(),
            ));
        }
        if self.merge.max_merge_bytes == 0 || self.merge.max_merge_bytes > MAX_FILE_SIZE_LIMIT {
            return Err(Error::InvalidOptions(format!(
                "merge.max_merge_bytes {} is outside 1..={MAX_FILE_SIZE_LIMIT}",
                self.merge.max_merge_bytes
            )));
        }
        if self.merge.rate_limit_bytes_per_sec == Some(0) {
            return Err(Error::InvalidOptions(
                "merge.rate_limit_bytes_per_sec must be positive".into(),
            ));
        }
        if matches!(self.merge.background_interval, Some(d) if d.is_zero()) {
            return Err(Error::InvalidOptions(
                "merge.background_interval must be positive".into(),
            ));
        }
        // Keep the compiler honest about the offset arithmetic documented above.
        const _: () = assert!(
            MAX_FILE_SIZE_LIMIT + MAX_VALUE_LEN as u64 + 2 * 65_536 + FILE_HEADER_LEN as u64
                <= u32::MAX as u64
        );
        Ok(())
    }
}
