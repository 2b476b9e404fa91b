//! # snowflk-tools — offline inspection and compaction
//!
//! The library behind the `snowflk-tools` binary: `dump`, `verify`, `merge`
//! and `stat` for engine data directories and Raft log directories alike.
//! Each subcommand tells the directory's kind from the file headers
//! ([`layout`]); a directory of neither kind, or a file from a newer format
//! version, is an error, not a guess. User documentation with examples and
//! the exit codes: `docs/tools.md`.
//!
//! ```no_run
//! use snowflk_tools::{Status, verify};
//!
//! let mut out = Vec::new();
//! let status = verify::run("/var/lib/snowflk/data".as_ref(), &Default::default(), &mut out)?;
//! print!("{}", String::from_utf8_lossy(&out));
//! assert_eq!(status, Status::Clean);
//! # Ok::<(), snowflk_tools::ToolError>(())
//! ```
//!
//! ## How the modules fit
//! - [`cli`]: the clap definitions; [`run`] dispatches a parsed command.
//! - [`layout`]: what a directory holds, from headers and file names.
//! - [`dump`], [`verify`], [`merge`], [`stat`]: one module per subcommand.
//! - `hintfile`: a streaming hint-file reader that says where a hint breaks.
//! - [`progress`]: progress bars on a terminal, nothing when piped.
//! - [`error`]: [`ToolError`] and the exit codes ([`error::exit`]).
//!
//! ## Invariants
//! - Only `merge` writes, and only through the engine (`Bitcask::open`, which
//!   takes the directory's lock, then `merge_all`). `dump`, `verify` and
//!   `stat` open files read-only and take no lock: they are safe next to a
//!   running server.
//! - Bad bytes produce a report naming file and offset, never a panic.
//! - Memory is bounded by the largest record, plus the keydir where the
//!   engine's view is needed (`dump --live-only`, `stat`, `merge`).
//! - Output order is deterministic: files in id order, records in file order.
//!
//! ## Not yet
//! - `verify` does not check that a merge output's `replaces` list names
//!   segments older than itself, nor key-level agreement between segments
//!   (e.g. sequence numbers unique across files).
//! - `stat` of a Raft log does not decode entry payloads.

pub mod cli;
pub mod dump;
pub mod error;
mod hintfile;
pub mod layout;
pub mod merge;
pub mod progress;
pub mod stat;
pub mod verify;

pub use cli::{Cli, Command, run};
pub use error::{Result, ToolError, exit};

/// How a subcommand ended, when it ran to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything read was intact (warnings allowed).
    Clean,
    /// Corruption was found and reported.
    Corrupt,
}

impl Status {
    /// The process exit code: [`exit::OK`] or [`exit::CORRUPT`].
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Clean => exit::OK,
            Self::Corrupt => exit::CORRUPT,
        }
    }
}

/// Prints a diagnostic line on stderr (notes and errors found mid-stream).
pub(crate) fn note(message: &str) {
    eprintln!("{message}");
}
