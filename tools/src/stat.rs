//! `stat`: a table of segments and totals, or one JSON object.
//!
//! For an engine data directory the numbers come from the engine's own
//! exact statistics ([`bitcask::Bitcask::stats`]) of a read-only open (no
//! lock, so it works next to a live server; memory is the keydir's): per
//! segment its size, live and dead keys and bytes, tombstones,
//! fragmentation (dead bytes as a percentage of the file), whether a hint
//! file is present, and whether it is the active segment or a merge output.
//! For a Raft log directory, per segment its size, entry count, index range
//! and term range, and the hard state. The size is the file's, including the
//! zeros the log prepares ahead of its newest segment's appends; an append a
//! crash interrupted inside them is noted on stderr and its entries are not
//! counted (the log's opener cuts them).

use std::io::Write;
use std::path::Path;

use bitcask::Bitcask;
use bitcask::format::RecordKind;
use bitcask::segment::{self, Segment};
use bitcask::vfs::OsVfs;
use serde::Serialize;

use crate::error::{Result, ToolError};
use crate::layout::{DirKind, Layout, file_name};
use crate::progress::Progress;
use crate::{Status, note};

/// How to print statistics.
#[derive(Debug, Clone, Default)]
pub struct StatOptions {
    /// One JSON object instead of a table.
    pub json: bool,
    /// Draw a progress indicator if stderr is a terminal.
    pub progress: bool,
}

/// Statistics of one engine data segment (one table row / JSON object).
#[derive(Debug, Clone, Default, Serialize)]
pub struct EngineSegment {
    /// Segment id (0 in totals).
    pub id: u32,
    /// Data file size in bytes.
    pub file_bytes: u64,
    /// Live keys whose newest record is here.
    pub live_keys: u64,
    /// Bytes of those records.
    pub live_bytes: u64,
    /// Overwritten, deleted or expired puts.
    pub dead_keys: u64,
    /// Everything else in the file.
    pub dead_bytes: u64,
    /// Tombstone records.
    pub tombstones: u64,
    /// Dead bytes as a percentage of the file.
    pub fragmentation: f64,
    /// A hint file is present on disk.
    pub has_hint: bool,
    /// The active segment (appended to by a writer).
    pub active: bool,
    /// Written by a merge.
    pub merged: bool,
    /// Lowest sequence number (0: none).
    pub min_seq: u64,
    /// Highest sequence number (0: none).
    pub max_seq: u64,
}

/// `stat --json` of an engine data directory.
#[derive(Debug, Clone, Serialize)]
pub struct EngineStat {
    /// Always `"engine"`.
    pub kind: &'static str,
    /// The directory.
    pub dir: String,
    /// Per segment, in id order.
    pub segments: Vec<EngineSegment>,
    /// Sums over all segments.
    pub total: EngineSegment,
}

/// Statistics of one Raft log segment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RaftSegment {
    /// Segment id (0 in totals).
    pub id: u64,
    /// File size in bytes.
    pub file_bytes: u64,
    /// Entries (valid records).
    pub entries: u64,
    /// First entry index (0: none).
    pub first_index: u64,
    /// Last entry index (0: none).
    pub last_index: u64,
    /// Term of the first entry.
    pub first_term: u64,
    /// Term of the last entry.
    pub last_term: u64,
}

/// `stat --json` of a Raft log directory.
#[derive(Debug, Clone, Serialize)]
pub struct RaftStat {
    /// Always `"raft-log"`.
    pub kind: &'static str,
    /// The directory.
    pub dir: String,
    /// Per segment, in id order.
    pub segments: Vec<RaftSegment>,
    /// Sums and ranges over all segments.
    pub total: RaftSegment,
    /// Current term from the hard-state file (0 if absent).
    pub term: u64,
    /// Vote in that term (absent: none).
    pub vote: Option<u64>,
}

/// Prints statistics of `dir`.
pub fn run(dir: &Path, opts: &StatOptions, out: &mut dyn Write) -> Result<Status> {
    let layout = Layout::detect(dir)?;
    match layout.kind {
        DirKind::Engine => engine(&layout, opts, out),
        DirKind::RaftLog => raft(&layout, opts, out),
    }
}

fn engine(layout: &Layout, opts: &StatOptions, out: &mut dyn Write) -> Result<Status> {
    let spinner = Progress::spinner(Progress::available(opts.progress), "loading keydir");
    let store = Bitcask::open_read_only(&layout.dir)?;
    let stats = store.stats();
    drop(store);
    spinner.finish();
    // The active segment: the newest not written by a merge (a read-only
    // store has no writer to ask).
    let active = stats
        .segments
        .iter()
        .rev()
        .find(|s| !s.merged)
        .map(|s| s.id);
    let row = |s: &bitcask::SegmentStats| EngineSegment {
        id: s.id,
        file_bytes: s.file_bytes,
        live_keys: s.live_keys,
        live_bytes: s.live_bytes,
        dead_keys: s.dead_keys,
        dead_bytes: s.dead_bytes,
        tombstones: s.tombstones,
        fragmentation: round1(s.fragmentation()),
        has_hint: layout.hints.contains_key(&s.id),
        active: Some(s.id) == active,
        merged: s.merged,
        min_seq: s.min_seq,
        max_seq: s.max_seq,
    };
    let report = EngineStat {
        kind: "engine",
        dir: layout.dir.display().to_string(),
        segments: stats.segments.iter().map(row).collect(),
        total: EngineSegment {
            has_hint: false,
            ..row(&stats.total)
        },
    };
    if opts.json {
        serde_json::to_writer(&mut *out, &report).map_err(|e| ToolError::Output(e.into()))?;
        writeln!(out).map_err(ToolError::Output)?;
        return Ok(Status::Clean);
    }
    let mut table = Table::new(&[
        "segment",
        "size",
        "live keys",
        "live bytes",
        "dead keys",
        "dead bytes",
        "tombstones",
        "frag %",
        "hint",
        "flags",
    ]);
    for s in &report.segments {
        let mut flags = Vec::new();
        if s.active {
            flags.push("active");
        }
        if s.merged {
            flags.push("merged");
        }
        table.row(vec![
            s.id.to_string(),
            s.file_bytes.to_string(),
            s.live_keys.to_string(),
            s.live_bytes.to_string(),
            s.dead_keys.to_string(),
            s.dead_bytes.to_string(),
            s.tombstones.to_string(),
            format!("{:.1}", s.fragmentation),
            if s.has_hint { "yes" } else { "no" }.to_string(),
            if flags.is_empty() {
                "-".to_string()
            } else {
                flags.join(",")
            },
        ]);
    }
    let t = &report.total;
    let hints = report.segments.iter().filter(|s| s.has_hint).count();
    table.row(vec![
        "total".into(),
        t.file_bytes.to_string(),
        t.live_keys.to_string(),
        t.live_bytes.to_string(),
        t.dead_keys.to_string(),
        t.dead_bytes.to_string(),
        t.tombstones.to_string(),
        format!("{:.1}", t.fragmentation),
        format!("{hints}/{}", report.segments.len()),
        String::new(),
    ]);
    table.write(out).map_err(ToolError::Output)?;
    Ok(Status::Clean)
}

fn raft(layout: &Layout, opts: &StatOptions, out: &mut dyn Write) -> Result<Status> {
    let progress = Progress::bytes(
        Progress::available(opts.progress),
        layout.segment_bytes(),
        "stat",
    );
    let mut segments = Vec::new();
    let newest = layout.raft_segments.keys().next_back().copied();
    for (&id, path) in &layout.raft_segments {
        let segment = match Segment::open(&OsVfs, path, false) {
            Ok(segment) => segment,
            // Torn while being created (a crash, or a live server rotating
            // to a new segment right now): it holds no entry, as `verify`
            // and `dump` say too; the next open removes it.
            Err(bitcask::Error::Corrupted { reason, .. })
                if Some(id) == newest && reason.starts_with("incomplete header") =>
            {
                let name = file_name(path);
                progress.suspend(|| {
                    note(&format!(
                        "note: {name}: {reason} (torn while being created; holds no entry)"
                    ))
                });
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let mut s = RaftSegment {
            id,
            file_bytes: segment.len()?,
            ..RaftSegment::default()
        };
        let end = segment::scan(&segment, |_, record| {
            progress.inc(record.encoded_len() as u64);
            if record.kind == RecordKind::RaftEntry {
                if s.entries == 0 {
                    s.first_index = record.seq;
                    s.first_term = record.meta;
                }
                s.last_index = record.seq;
                s.last_term = record.meta;
                s.entries += 1;
            }
            Ok(())
        });
        match end {
            // A torn or prepared (zero) tail holds no entry: nothing to count.
            Ok(_) => {}
            // An overwrite of the newest segment's prepared zeros that a
            // power loss cut short (a zeroed sector in the unreadable
            // record; see `verify`): the opener cuts it, so the entries
            // counted before it are the log.
            Err(bitcask::Error::Corrupted { offset, .. })
                if Some(id) == newest && segment::unwritten_sector_in_record(&segment, offset)? =>
            {
                let name = file_name(path);
                let n = s.file_bytes.saturating_sub(offset);
                progress.suspend(|| {
                    note(&format!(
                        "note: {name}: {n} bytes from offset {offset} are an append a crash interrupted inside prepared space, not corruption (they include records that were never made durable; cut on the next open); not counted"
                    ))
                });
            }
            Err(e) => return Err(e.into()),
        }
        segments.push(s);
    }
    let (mut term, mut vote) = (0, None);
    if let Some(path) = &layout.hard_state {
        let segment = Segment::open(&OsVfs, path, false)?;
        segment::scan(&segment, |_, record| {
            if record.kind == RecordKind::RaftHardState {
                term = record.seq;
                vote = (record.value.len() == 8).then_some(record.meta);
            }
            Ok(())
        })?;
    }
    progress.finish();
    let mut total = RaftSegment::default();
    for s in &segments {
        total.file_bytes += s.file_bytes;
        total.entries += s.entries;
        if s.entries > 0 {
            if total.first_index == 0 {
                total.first_index = s.first_index;
                total.first_term = s.first_term;
            }
            total.last_index = s.last_index;
            total.last_term = s.last_term;
        }
    }
    let report = RaftStat {
        kind: "raft-log",
        dir: layout.dir.display().to_string(),
        segments,
        total,
        term,
        vote,
    };
    if opts.json {
        serde_json::to_writer(&mut *out, &report).map_err(|e| ToolError::Output(e.into()))?;
        writeln!(out).map_err(ToolError::Output)?;
        return Ok(Status::Clean);
    }
    let mut table = Table::new(&[
        "segment",
        "size",
        "entries",
        "first index",
        "last index",
        "first term",
        "last term",
    ]);
    let cells = |label: String, s: &RaftSegment| {
        vec![
            label,
            s.file_bytes.to_string(),
            s.entries.to_string(),
            s.first_index.to_string(),
            s.last_index.to_string(),
            s.first_term.to_string(),
            s.last_term.to_string(),
        ]
    };
    for s in &report.segments {
        table.row(cells(s.id.to_string(), s));
    }
    table.row(cells("total".into(), &report.total));
    table.write(out).map_err(ToolError::Output)?;
    writeln!(
        out,
        "hard state: term {} vote {}",
        report.term,
        report
            .vote
            .map_or_else(|| "none".to_string(), |v| v.to_string())
    )
    .map_err(ToolError::Output)?;
    Ok(Status::Clean)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// A plain-text table: first column left-aligned, the others right-aligned.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Self {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let columns = self.rows[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| self.rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
            .collect();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c == 0 {
                    line.push_str(&format!("{cell:<w$}", w = widths[c]));
                } else {
                    line.push_str(&format!("  {cell:>w$}", w = widths[c]));
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}
