//! The command line (clap derive): one binary, four subcommands.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::{Result, Status, ToolError, dump, exit, merge, stat, verify};

const EXIT_CODES: &str = "\
Exit codes: 0 ok, 1 corrupt data found, 2 usage error, 3 cannot run (missing or unreadable \
path, not a snowflk directory, newer format version), 4 directory locked (merge).";

/// Offline dump, verify, merge and stat for snowflk engine data and Raft log
/// directories. The kind of directory is told from the file headers.
#[derive(Debug, Parser)]
#[command(name = "snowflk-tools", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Never draw a progress bar (one is drawn only when stderr is a terminal).
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print every record in file order, as text or JSON lines.
    #[command(after_help = "\
Examples:
  snowflk-tools dump /var/lib/snowflk/data
      0000000001.data:24 put seq=1 key=\"user:1\" value=\"ada\"
      0000000001.data:62 tombstone seq=2 key=\"user:1\"
  snowflk-tools dump --live-only --keys-only /var/lib/snowflk/data
  snowflk-tools dump --json --segment 3 --full /var/lib/snowflk/data
  snowflk-tools dump /var/lib/snowflk/data/0000000003.hint
  snowflk-tools dump /var/lib/snowflk/raft

Exit codes: 0 ok, 1 corruption met (reported on stderr; the rest of that file is skipped),
2 usage error, 3 cannot run.")]
    Dump(DumpArgs),
    /// Check every header, record CRC, hint file and Raft log invariant.
    #[command(after_help = "\
Opens files read-only and takes no lock: safe while a server runs.

Example:
  snowflk-tools verify /var/lib/snowflk/data
      warning: notes.txt: unknown file; the engine ignores it
      error: 0000000002.data offset 204: checksum mismatch: stored 0x94ab45c9, computed 0xcadfee9c; a valid record follows at offset 264
      CORRUPT: engine data directory /var/lib/snowflk/data: 5 data segments, 4 hint files, 251 records, 16632 bytes checked; 1 error, 1 warning

Errors: bad headers or CRCs, corruption, truncated sealed segments, hints that disagree with their
data, Raft index gaps, decreasing terms, inconsistent hard state. Warnings: torn tail of the
active segment, an append interrupted inside the newest Raft segment's prepared (zero) space,
missing hints, leftover *.tmp files, unknown files. Prepared zeros themselves are not reported.

Exit codes: 0 no error (warnings allowed), 1 corrupt, 2 usage error, 3 cannot run.")]
    Verify(DirArgs),
    /// Compact an engine data directory offline (the engine's own merge).
    #[command(after_help = "\
Refuses while another process (a server) holds the directory's lock.

Example:
  snowflk-tools merge /var/lib/snowflk/data
      merged segments 1,2,3,4,5 into 7: 16632 -> 9503 bytes (192 records copied, 0 tombstones kept, 11 dropped)
      /var/lib/snowflk/data: 27557 bytes in 5 segments before, 16299 bytes in 2 segments after (11258 bytes reclaimed, 40.9%)

Exit codes: 0 merged, 1 corrupt data, 2 usage error (e.g. a Raft log), 3 cannot run,
4 locked by another process.")]
    Merge(JsonDirArgs),
    /// Table of segments (size, live/dead keys and bytes, fragmentation, hint) and totals.
    #[command(after_help = "\
Example:
  snowflk-tools stat /var/lib/snowflk/data
      segment   size  live keys  live bytes  dead keys  dead bytes  tombstones  frag %  hint   flags
      1         4094          0           0         68        4094           0   100.0   yes       -
      2          325          3         111          0         214           4    65.8    no  active
      total     4419          3         111         68        4308           4    97.5   1/2
  snowflk-tools stat --json /var/lib/snowflk/raft

Exit codes: 0 ok, 1 corrupt data, 2 usage error, 3 cannot run.")]
    Stat(JsonDirArgs),
}

/// Arguments of `dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// A data or Raft log directory, or one data, hint or Raft log file.
    pub path: PathBuf,
    /// One JSON object per record and line.
    #[arg(long)]
    pub json: bool,
    /// Only the keys of put and tombstone records (text: one key per line).
    #[arg(long)]
    pub keys_only: bool,
    /// Only live records: the puts the keydir points at (engine data only).
    #[arg(long)]
    pub live_only: bool,
    /// Only segment N (the id in the file name).
    #[arg(long, value_name = "N")]
    pub segment: Option<u64>,
    /// Show keys and values whole instead of cutting them at --max-bytes.
    #[arg(long)]
    pub full: bool,
    /// Show at most this many bytes of each key and value.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 64,
        conflicts_with = "full"
    )]
    pub max_bytes: usize,
}

/// A directory argument.
#[derive(Debug, Args)]
pub struct DirArgs {
    /// An engine data directory or a Raft log directory.
    pub dir: PathBuf,
}

/// A directory argument and `--json`.
#[derive(Debug, Args)]
pub struct JsonDirArgs {
    /// An engine data directory or a Raft log directory.
    pub dir: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs a parsed command, writing its results to `out`.
pub fn run(cli: &Cli, out: &mut dyn Write) -> Result<Status> {
    let progress = !cli.no_progress;
    match &cli.command {
        Command::Dump(args) => {
            let opts = dump::DumpOptions {
                json: args.json,
                keys_only: args.keys_only,
                live_only: args.live_only,
                segment: args.segment,
                limit: if args.full {
                    usize::MAX
                } else {
                    args.max_bytes
                },
                progress,
            };
            dump::run(&args.path, &opts, out)
        }
        Command::Verify(args) => read_again_while_live(&args.dir, out, |out| {
            verify::run(&args.dir, &verify::VerifyOptions { progress }, out)
        }),
        Command::Merge(args) => merge::run(
            &args.dir,
            &merge::MergeOptions {
                json: args.json,
                progress,
            },
            out,
        ),
        Command::Stat(args) => read_again_while_live(&args.dir, out, |out| {
            stat::run(
                &args.dir,
                &stat::StatOptions {
                    json: args.json,
                    progress,
                },
                out,
            )
        }),
    }
}

/// How often a read-only command reads a live directory before it reports
/// what it found.
const LIVE_ATTEMPTS: usize = 3;

/// Runs read-only `command` on `dir` with its output held back. If it found
/// corruption or could not read a file while a server holds the
/// directory's lock, the files changed under it (a merge removed one, an
/// append was caught half-written): it is run again after a pause, up to
/// [`LIVE_ATTEMPTS`] times, and only the last run's output is written. On a
/// directory nobody holds, the first answer stands.
fn read_again_while_live(
    dir: &Path,
    out: &mut dyn Write,
    mut command: impl FnMut(&mut dyn Write) -> Result<Status>,
) -> Result<Status> {
    let mut attempt = 1;
    loop {
        let mut held = Vec::new();
        let result = command(&mut held);
        let failed = match &result {
            Ok(status) => matches!(status, Status::Corrupt),
            Err(e) => matches!(e.exit_code(), exit::CORRUPT | exit::CANNOT_RUN),
        };
        if !failed || attempt == LIVE_ATTEMPTS || !crate::layout::held_by_a_writer(dir) {
            out.write_all(&held).map_err(ToolError::Output)?;
            return result;
        }
        crate::note(&format!(
            "note: {} is in use by a running server and changed while it was read; reading it again ({}/{LIVE_ATTEMPTS})",
            dir.display(),
            attempt + 1
        ));
        std::thread::sleep(std::time::Duration::from_millis(200));
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// A failed read of a directory a server holds is repeated and only the
    /// last answer shown; on a directory nobody holds the first stands.
    #[test]
    fn a_live_directory_is_read_again_after_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let run = |calls: &mut u32, out: &mut Vec<u8>| {
            read_again_while_live(dir.path(), out, |out| {
                *calls += 1;
                let (text, status) = if *calls == 1 {
                    ("first\n", Status::Corrupt)
                } else {
                    ("second\n", Status::Clean)
                };
                out.write_all(text.as_bytes()).unwrap();
                Ok(status)
            })
        };
        let store = bitcask::Bitcask::open(dir.path(), bitcask::Options::default()).unwrap();
        let (mut calls, mut out) = (0, Vec::new());
        assert!(matches!(run(&mut calls, &mut out), Ok(Status::Clean)));
        assert_eq!((calls, out.as_slice()), (2, &b"second\n"[..]));
        drop(store);
        let (mut calls, mut out) = (0, Vec::new());
        assert!(matches!(run(&mut calls, &mut out), Ok(Status::Corrupt)));
        assert_eq!((calls, out.as_slice()), (1, &b"first\n"[..]));
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
