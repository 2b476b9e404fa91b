//! `merge`: offline compaction of an engine data directory through the
//! engine's own merge ([`bitcask::Bitcask::merge_all`]).
//!
//! The directory is opened read-write, which takes its lock: while a server
//! (or any other read-write opener) holds it, the merge is refused at once
//! with [`ToolError::Locked`] (exit code 4) and nothing is touched. The
//! open itself does what a server start does (cuts a torn tail off the
//! active segment, removes leftover temporary files, writes missing hints);
//! then the active segment is sealed and every sealed segment rewritten with
//! only its live records. Bytes on disk (data and hint files) are measured
//! before the open and after the store is closed.

use std::io::Write;
use std::path::Path;

use bitcask::{Bitcask, MergeOutcome, Options};
use serde::Serialize;

use crate::Status;
use crate::error::{Result, ToolError};
use crate::layout::{DirKind, Layout};
use crate::progress::Progress;

/// How to merge.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Print the report as one JSON object.
    pub json: bool,
    /// Draw a spinner if stderr is a terminal.
    pub progress: bool,
}

/// What a merge did, as printed by `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct MergeReport {
    /// The directory.
    pub dir: String,
    /// Bytes of data and hint files before.
    pub bytes_before: u64,
    /// Bytes of data and hint files after.
    pub bytes_after: u64,
    /// Data segments before.
    pub segments_before: usize,
    /// Data segments after.
    pub segments_after: usize,
    /// One entry per merge the engine ran.
    pub merges: Vec<MergeStep>,
}

/// One merge of a group of segments into one.
#[derive(Debug, Clone, Serialize)]
pub struct MergeStep {
    /// Segments merged (and removed).
    pub inputs: Vec<u32>,
    /// Segment written.
    pub output: u32,
    /// Size of the input data files.
    pub bytes_before: u64,
    /// Size of the output data file.
    pub bytes_after: u64,
    /// Live records copied.
    pub records_copied: u64,
    /// Tombstones kept (an older value may exist outside the merge).
    pub tombstones_kept: u64,
    /// Tombstones and expired records dropped.
    pub dropped: u64,
}

impl From<&MergeOutcome> for MergeStep {
    fn from(m: &MergeOutcome) -> Self {
        Self {
            inputs: m.inputs.clone(),
            output: m.output,
            bytes_before: m.bytes_before,
            bytes_after: m.bytes_after,
            records_copied: m.records_copied,
            tombstones_kept: m.tombstones_kept,
            dropped: m.dropped,
        }
    }
}

/// Bytes in data and hint files, and the number of data segments.
fn disk_usage(dir: &Path) -> Result<(u64, usize)> {
    let layout = Layout::detect(dir)?;
    let mut bytes = 0;
    for path in layout.data.values().chain(layout.hints.values()) {
        bytes += std::fs::metadata(path)
            .map_err(|e| ToolError::io("stat", path, e))?
            .len();
    }
    Ok((bytes, layout.data.len()))
}

/// Merges every segment of the engine data directory `dir`.
pub fn run(dir: &Path, opts: &MergeOptions, out: &mut dyn Write) -> Result<Status> {
    let layout = Layout::detect(dir)?;
    if layout.kind != DirKind::Engine {
        return Err(ToolError::Usage(format!(
            "merge compacts engine data directories; {} is a Raft log (its space is reclaimed by snapshots and purges)",
            dir.display()
        )));
    }
    // Open (and so lock) first: while a server holds the directory its
    // files change under a scan, which must not turn the refusal (exit 4)
    // into a vanished-file error (exit 3).
    let store = Bitcask::open(dir, Options::default())?;
    let (bytes_before, segments_before) = disk_usage(dir)?;
    let spinner = Progress::spinner(Progress::available(opts.progress), "merging");
    let outcomes = store.merge_all()?;
    store.close()?;
    spinner.finish();
    let (bytes_after, segments_after) = disk_usage(dir)?;
    let report = MergeReport {
        dir: dir.display().to_string(),
        bytes_before,
        bytes_after,
        segments_before,
        segments_after,
        merges: outcomes.iter().map(MergeStep::from).collect(),
    };
    write_report(&report, opts.json, out).map_err(ToolError::Output)?;
    Ok(Status::Clean)
}

fn write_report(report: &MergeReport, json: bool, out: &mut dyn Write) -> std::io::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, report)?;
        return writeln!(out);
    }
    if report.merges.is_empty() {
        writeln!(out, "nothing to merge: no sealed segment holds a record")?;
    }
    for m in &report.merges {
        let inputs: Vec<String> = m.inputs.iter().map(u32::to_string).collect();
        writeln!(
            out,
            "merged segments {} into {}: {} -> {} bytes ({} records copied, {} tombstones kept, {} dropped)",
            inputs.join(","),
            m.output,
            m.bytes_before,
            m.bytes_after,
            m.records_copied,
            m.tombstones_kept,
            m.dropped
        )?;
    }
    let saved = report.bytes_before as i128 - report.bytes_after as i128;
    let percent = if report.bytes_before == 0 {
        0.0
    } else {
        saved as f64 * 100.0 / report.bytes_before as f64
    };
    writeln!(
        out,
        "{}: {} bytes in {} segments before, {} bytes in {} segments after ({saved} bytes reclaimed, {percent:.1}%)",
        report.dir,
        report.bytes_before,
        report.segments_before,
        report.bytes_after,
        report.segments_after,
    )
}
