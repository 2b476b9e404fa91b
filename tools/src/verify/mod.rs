//! `verify`: checks every byte the tools can check, read-only.
//!
//! Each problem is one line, `error: <file> offset <n>: <what>` or
//! `warning: <file>: <what>`, printed as it is found, and a last line sums
//! up: `OK: ...` or `CORRUPT: ...`. The run returns [`Status::Corrupt`]
//! (exit code 1) if there was any error; warnings alone leave it clean.
//!
//! **Errors** are bytes that are not what a writer wrote or that break an
//! invariant the engine or the Raft log relies on: a bad header or record
//! checksum, corruption followed by valid records, an unreadable tail in a
//! sealed segment, a hint file that disagrees with its data file, a gap in
//! the Raft log's indexes, a decreasing term, a hard state contradicting
//! itself. **Warnings** are states that a crash or a live writer leaves and
//! that the next read-write open repairs (a torn tail of the active
//! segment, an append interrupted inside the zeros the Raft log prepares
//! ahead of its newest segment's appends, leftover `*.tmp` files, a sealed
//! segment without its hint), and files the engine does not know (ignored
//! by it). Those prepared zeros themselves are normal and not reported.
//!
//! Nothing is written and no lock is taken, so it runs next to a live
//! server; records appended while it runs may show up as a torn tail.
//! Memory stays bounded: files are streamed, hint files are checked in
//! lockstep with the scan of their data file.

mod engine;
mod raft;

use std::io::Write;
use std::path::Path;

use crate::Status;
use crate::error::{Result, ToolError};
use crate::layout::{DirKind, Layout};
use crate::progress::Progress;

/// How to verify.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Draw a progress bar if stderr is a terminal.
    pub progress: bool,
}

/// Verifies the directory `dir`, writing findings and the summary to `out`.
pub fn run(dir: &Path, opts: &VerifyOptions, out: &mut dyn Write) -> Result<Status> {
    let layout = Layout::detect(dir)?;
    let progress = Progress::bytes(
        Progress::available(opts.progress),
        layout.segment_bytes(),
        "verify",
    );
    let mut reporter = Reporter {
        out,
        progress,
        errors: 0,
        warnings: 0,
    };
    let details = match layout.kind {
        DirKind::Engine => engine::verify(&layout, &mut reporter)?,
        DirKind::RaftLog => raft::verify(&layout, &mut reporter)?,
    };
    reporter.progress.finish();
    let status = if reporter.errors == 0 {
        Status::Clean
    } else {
        Status::Corrupt
    };
    let verdict = match status {
        Status::Clean => "OK",
        Status::Corrupt => "CORRUPT",
    };
    writeln!(
        reporter.out,
        "{verdict}: {} {}: {details}; {} {}, {} {}",
        layout.kind,
        dir.display(),
        reporter.errors,
        plural(reporter.errors, "error", "errors"),
        reporter.warnings,
        plural(reporter.warnings, "warning", "warnings"),
    )
    .map_err(ToolError::Output)?;
    Ok(status)
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// Prints findings as they are found and counts them.
pub(crate) struct Reporter<'a> {
    out: &'a mut dyn Write,
    pub(crate) progress: Progress,
    errors: u64,
    warnings: u64,
}

impl Reporter<'_> {
    /// Reports corruption in `file` at `offset` (if known).
    pub(crate) fn error(&mut self, file: &str, offset: Option<u64>, what: &str) -> Result<()> {
        self.errors += 1;
        self.line("error", file, offset, what)
    }

    /// Reports something worth knowing that is not corruption.
    pub(crate) fn warning(&mut self, file: &str, offset: Option<u64>, what: &str) -> Result<()> {
        self.warnings += 1;
        self.line("warning", file, offset, what)
    }

    fn line(&mut self, level: &str, file: &str, offset: Option<u64>, what: &str) -> Result<()> {
        let line = match offset {
            Some(offset) => format!("{level}: {file} offset {offset}: {what}\n"),
            None => format!("{level}: {file}: {what}\n"),
        };
        let out = &mut self.out;
        self.progress
            .suspend(|| out.write_all(line.as_bytes()))
            .map_err(ToolError::Output)
    }
}
