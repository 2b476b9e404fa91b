//! The tools' error type and the process exit codes it maps to.

use std::io;
use std::path::PathBuf;

/// Process exit codes of `snowflk-tools` (documented in `docs/tools.md`).
pub mod exit {
    /// Success; for `verify`: no error found (warnings allowed).
    pub const OK: u8 = 0;
    /// Corrupt data: `verify` found at least one error, or `dump`, `stat`
    /// or `merge` stopped on corrupted bytes.
    pub const CORRUPT: u8 = 1;
    /// Usage error: bad arguments (clap), or an option that does not apply
    /// to this directory (e.g. `merge` on a Raft log, `--segment` naming a
    /// segment that does not exist).
    pub const USAGE: u8 = 2;
    /// The tool could not do its work: the path does not exist or cannot be
    /// read, it is not a snowflk directory, or a file has a newer format
    /// version than this build reads.
    pub const CANNOT_RUN: u8 = 3;
    /// `merge` refused: another process (a server) holds the directory's lock.
    pub const LOCKED: u8 = 4;
}

/// Everything that stops a subcommand. Findings of `verify` are not errors:
/// they are reported and counted, and the run goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The arguments do not fit the input.
    #[error("{0}")]
    Usage(String),
    /// An I/O error outside the engine (listing a directory, reading a header).
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What the tool was doing.
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Writing the results failed (e.g. the reader of a pipe went away).
    #[error("cannot write output: {0}")]
    Output(#[source] io::Error),
    /// The directory holds neither engine data nor a Raft log.
    #[error("{path} is not a snowflk directory: {reason}")]
    NotSnowflk {
        /// The directory or file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The directory holds both engine data files and Raft log files.
    #[error(
        "{path} holds both engine data files and Raft log files; expected one kind per directory"
    )]
    Mixed {
        /// The directory.
        path: PathBuf,
    },
    /// A file was written by a newer format version than this build reads.
    #[error(
        "{path} has format version {found}; this build reads up to version {supported} (use a newer snowflk-tools)"
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// Another process holds the directory's read-write lock.
    #[error(
        "{path} is locked by another process (is a server running on it?); stop it before an offline merge"
    )]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// Bytes on disk are not what the writer wrote.
    #[error("corrupted data in {path} at offset {offset}: {reason}")]
    Corrupted {
        /// The file.
        path: PathBuf,
        /// Byte offset of the bad structure.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Any other engine error.
    #[error(transparent)]
    Engine(bitcask::Error),
}

impl From<bitcask::Error> for ToolError {
    fn from(e: bitcask::Error) -> Self {
        match e {
            bitcask::Error::Corrupted {
                path,
                offset,
                reason,
            } => Self::Corrupted {
                path,
                offset,
                reason,
            },
            bitcask::Error::Locked { path } => Self::Locked { path },
            bitcask::Error::UnsupportedVersion { path, found } => Self::UnsupportedVersion {
                path,
                found,
                supported: bitcask::format::FORMAT_VERSION,
            },
            other => Self::Engine(other),
        }
    }
}

impl ToolError {
    /// The process exit code for this error (see [`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => exit::USAGE,
            Self::Corrupted { .. } => exit::CORRUPT,
            Self::Locked { .. } => exit::LOCKED,
            Self::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => exit::OK,
            Self::Engine(bitcask::Error::WrongFileKind { .. }) => exit::CORRUPT,
            _ => exit::CANNOT_RUN,
        }
    }

    /// True if the error is the reader of our output going away (`| head`):
    /// not worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// The tools' result type.
pub type Result<T, E = ToolError> = std::result::Result<T, E>;
