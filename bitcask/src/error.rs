//! The engine's error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the engine. Every variant that concerns a
/// file names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error; `op` says what the engine was doing.
    #[error("I/O error while trying to {op} {path}: {source}")]
    Io {
        /// What the engine was doing ("read", "append to", "sync", ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error; its `kind()` tells disk full
        /// (`StorageFull`) and permission denied apart.
        #[source]
        source: io::Error,
    },
    /// Bytes on disk are not what the engine wrote: a checksum mismatch, an
    /// impossible length, a missing batch commit in a sealed segment...
    #[error("corrupted data in {path} at offset {offset}: {reason}")]
    Corrupted {
        /// The file holding the bad bytes.
        path: PathBuf,
        /// Byte offset of the bad structure within the file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Another opener holds the directory's read-write lock.
    #[error("{path} is locked by another read-write opener (is a server running on it?)")]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// A file was written by a newer format version than this build reads.
    #[error("{path} has format version {found}, newer than this build supports")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u16,
    },
    /// A file of another kind where a data segment was expected (or vice versa).
    #[error("{path} is a {found} file, expected a {expected} file")]
    WrongFileKind {
        /// The file.
        path: PathBuf,
        /// The expected kind.
        expected: crate::format::FileKind,
        /// The kind found.
        found: crate::format::FileKind,
    },
    /// The key is longer than [`crate::format::MAX_KEY_LEN`].
    #[error("key of {len} bytes is longer than the limit of {max} bytes")]
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The value is longer than [`crate::format::MAX_VALUE_LEN`].
    #[error("value of {len} bytes is longer than the limit of {max} bytes")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A write batch whose encoding exceeds [`crate::options::MAX_FILE_SIZE_LIMIT`].
    #[error("write batch of {len} encoded bytes is larger than the limit of {max} bytes")]
    BatchTooLarge {
        /// The batch's encoded length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The 48-bit sequence number space is used up (after 2^48 writes).
    #[error("sequence numbers exhausted in {path}")]
    SequenceExhausted {
        /// The directory.
        path: PathBuf,
    },
    /// A write on a store opened with [`crate::Bitcask::open_read_only`].
    #[error("{path} is open read-only")]
    ReadOnly {
        /// The directory.
        path: PathBuf,
    },
    /// An earlier I/O failure left the store unable to guarantee durability
    /// (a failed fsync whose rollback also failed, a failed fsync of a
    /// segment that was already sealed, a merge that could be neither
    /// finished nor undone); writes and merges are refused until the store
    /// is reopened, and reopening recovers a consistent state. Reads still
    /// work. Unlike other errors from a write, which mean the write had no
    /// effect, the write that first hit this condition may or may not be on
    /// disk.
    #[error("store at {path} refuses writes after an unrecoverable I/O failure: {reason}")]
    Failed {
        /// The directory.
        path: PathBuf,
        /// The failure that caused it.
        reason: String,
    },
    /// [`crate::Bitcask::checkpoint`] was given a directory that already
    /// holds files; a checkpoint goes into a new or empty directory.
    #[error(
        "checkpoint directory {path} is not empty ({files} files); a checkpoint needs a new or empty directory"
    )]
    CheckpointDirNotEmpty {
        /// The directory.
        path: PathBuf,
        /// How many files it holds.
        files: usize,
    },
    /// The directory holds a checkpoint that was not finished (a crash or
    /// an error interrupted it) or that does not match its manifest; see
    /// [`crate::checkpoint`]. Delete it and take the checkpoint again.
    #[error("{path} holds an incomplete checkpoint: {reason}")]
    IncompleteCheckpoint {
        /// The directory.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// The option values are inconsistent.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an [`Error::Io`].
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Builds an [`Error::Corrupted`].
    pub(crate) fn corrupted(path: impl Into<PathBuf>, offset: u64, reason: impl ToString) -> Self {
        Self::Corrupted {
            path: path.into(),
            offset,
            reason: reason.to_string(),
        }
    }

    /// True if the error means the disk is full (ENOSPC).
    pub fn is_storage_full(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull)
    }
}
