//! # bitcask — a durable, crash-safe, concurrent log-structured hash table
//!
//! The storage engine of snowflk, usable on its own as an embedded key-value
//! store. It follows the Bitcask design (Sheehy & Smith, 2010): values live in
//! append-only *segment* files in one directory; an in-memory hash index, the
//! *keydir*, maps every key to the location of its newest record, so a read
//! costs one positioned read and a write one append.
//!
//! ```
//! use bitcask::{Bitcask, Options, SyncPolicy};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Bitcask::open(dir.path(), Options::default().sync(SyncPolicy::Always))?;
//! store.put(b"snow", b"flake")?;
//! assert_eq!(store.get(b"snow")?.as_deref(), Some(&b"flake"[..]));
//! assert!(store.delete(b"snow")?);
//! store.write_batch(&[bitcask::BatchOp::put("a", "1"), bitcask::BatchOp::put("b", "2")])?;
//! drop(store);
//!
//! let store = Bitcask::open(dir.path(), Options::default())?;
//! assert_eq!(store.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Checkpoints: backups, snapshots, restores
//! [`Bitcask::checkpoint`] writes a consistent point-in-time copy of a live
//! store into a new directory while reads, writes and merges go on (writes
//! wait only for one segment rotation). Sealed segments are immutable, so it
//! hard-links them (copying only across file systems): cheap in time and
//! space. The result is a complete store directory:
//!
//! ```
//! use bitcask::{Bitcask, Options};
//!
//! let root = tempfile::tempdir()?;
//! let store = Bitcask::open(root.path().join("db"), Options::default())?;
//! store.put(b"snow", b"flake")?;
//! let info = store.checkpoint(root.path().join("backup"))?;
//! store.put(b"later", b"not in the backup")?;
//! println!("{} bytes in {} segments, {:?}", info.bytes, info.segments, info.elapsed);
//!
//! // Check it (e.g. after copying it elsewhere), then open it like any store.
//! bitcask::checkpoint::verify(&bitcask::vfs::OsVfs, &root.path().join("backup"))?;
//! let restored = Bitcask::open(root.path().join("backup"), Options::default())?;
//! assert_eq!(restored.get(b"snow")?.as_deref(), Some(&b"flake"[..]));
//! assert_eq!(restored.get(b"later")?, None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! To restore or install one (a Raft follower receiving a snapshot), write
//! or receive it into a fresh directory, [`checkpoint::verify`] it, and
//! open it where it is, or — with no store open on either — move it into
//! the store's place (rename the old directory aside, then the checkpoint
//! into place: each rename is atomic within one file system, and the
//! caller decides how a crash between the two is resolved). Until then the
//! old directory is untouched. An interrupted checkpoint is refused by
//! [`Bitcask::open`] ([`Error::IncompleteCheckpoint`]). Details in
//! [`checkpoint`].
//!
//! ## How the modules fit
//! - [`format`](mod@format): the byte layout of file headers and records (the code twin of
//!   `docs/format.md`); pure functions, fuzzed.
//! - [`vfs`]: the file-system boundary; [`vfs::OsVfs`] for real files,
//!   [`vfs::MemVfs`] to simulate crashes and inject faults in tests.
//! - [`segment`]: one segment file — buffered appender, lock-free positioned
//!   reads, and the recovery scan that tells a torn tail from corruption. It
//!   knows nothing about keys; the Raft log reuses it.
//! - [`keydir`]: the compact, sharded in-memory index.
//! - [`hint`]: hint files, so that open reads a few bytes per key.
//! - [`stats`]: exact per-segment live/dead statistics.
//! - [`checkpoint`]: point-in-time copies ([`Bitcask::checkpoint`]).
//! - [`describe`]: the one record printer of tools, tests and logs.
//! - `recovery`: rebuilding the keydir and statistics on open.
//! - `merge`: online compaction ([`Bitcask::merge`], [`MergePolicy`]).
//! - `store`: [`Bitcask`] itself: the write path (group commit), the read path.
//!
//! ## Invariants
//! - Records are only ever appended; a sealed segment never changes.
//! - Every record carries a CRC32, and its header another one; bytes that
//!   fail them are never returned.
//! - Sequence numbers increase with every record and are never reused; the
//!   keydir holds, for each key, the entry with the highest sequence number,
//!   so the newest write wins no matter in which order segments are read
//!   (merge outputs keep the original numbers).
//! - An acknowledged write under [`SyncPolicy::Always`] is on disk; after any
//!   crash, the store holds a prefix of the writes in order — no holes, and a
//!   write batch entirely or not at all. A merge never changes contents, and
//!   a crash at any point of it leaves the same contents.
//! - "After any crash" means both kinds: a *process crash* (SIGKILL, OOM,
//!   panic), which leaves every byte and name in the page cache without
//!   making any of it durable, and a *power loss*, which keeps only what was
//!   fsynced — and the two in sequence. A read-write open therefore makes
//!   what it inherits durable (the active segment and the directory) before
//!   its first append, acknowledgement, seal or rotation.
//! - An error from a write means it had no effect, except
//!   [`Error::Failed`]: the outcome is unknown (a failed fsync whose
//!   rollback failed too) and the store refuses every write path until it
//!   is reopened.
//! - A tombstone outlives every older value of its key that might still be
//!   on disk.
//! - One read-write opener per directory (the `LOCK` file, `File::try_lock`);
//!   read-only openers take no lock.
//!
//! ## Keys and values
//! Keys are 0 to 65,535 bytes ([`format::MAX_KEY_LEN`]); the empty key is
//! allowed (Redis allows it too). Values are 0 bytes to 512 MiB
//! ([`format::MAX_VALUE_LEN`]). Keys may carry an expiry time.
//!
//! ## Not yet
//! - Open is bound by hashing every key and building the keydir shards
//!   (built in bulk, one shard at a time on every core); hint files save
//!   reading values but each hint entry still carries its own CRC, so they
//!   make open only 1.1–1.3× faster than a scan (`docs/benchmarks.md`).
//! - Under `Always`, a failed fsync of a segment that a concurrent rotation
//!   has just sealed stops the store ([`Error::Failed`]); writes the
//!   rotation's own fsync made durable are acknowledged, the others caught
//!   in it get `Error::Failed` (outcome unknown).

pub mod checkpoint;
pub mod describe;
pub mod error;
pub mod format;
#[doc(hidden)]
pub mod fuzzing;
pub mod hint;
pub mod keydir;
mod merge;
pub mod options;
mod recovery;
pub mod segment;
pub mod stats;
mod store;
pub mod vfs;

pub use checkpoint::{CHECKPOINT_FILE, CHECKPOINT_PARTIAL_FILE, CheckpointFile, CheckpointInfo};
pub use error::{Error, Result};
pub use hint::hint_path;
pub use merge::MergeOutcome;
pub use options::{MergePolicy, Options, SyncPolicy};
pub use recovery::{SegmentInfo, parse_data_name, parse_hint_name, read_segment_info};
pub use stats::{MergeTotals, SegmentStats, StoreStats};
pub use store::{BatchOp, Bitcask, Iter, Keys, LOCK_FILE, data_path, now_millis};
