//! `dump`: every record of a directory or file, in file order, as text or
//! JSON lines.
//!
//! Text lines are `<file>:<offset> <record>`, where `<record>` comes from
//! [`bitcask::describe::describe_record`] — the printer the engine's tests
//! and logs use, so a record looks the same everywhere. JSON mode prints
//! one object per record and line (see [`JsonRecord`]).
//!
//! Records are streamed from the files: memory stays bounded by the largest
//! record, plus the keydir when `--live-only` asks which records are live.
//! A torn tail is noted on stderr and skipped. The newest Raft log segment
//! is read as the log's opener reads it: the zeros the log prepares ahead of
//! its appends are passed over without a note, and an append a crash
//! interrupted inside them (an unreadable record with a sector of zeros,
//! valid records after it) is noted and skipped, not reported as
//! corruption. Engine data segments are not prepared. Corruption is reported on
//! stderr with file and offset, the rest of that file is skipped, the dump
//! goes on with the next file, and the run ends with exit code 1.

use std::io::{IsTerminal, Write};
use std::path::Path;

use bitcask::Bitcask;
use bitcask::describe::{describe_record, escape};
use bitcask::format::{FileKind, HintItem, Record, RecordKind};
use bitcask::segment::{self, ScanEnd, Segment};
use bitcask::vfs::OsVfs;
use serde::Serialize;

use crate::error::{Result, ToolError};
use crate::hintfile::{HintReader, HintStep};
use crate::layout::{DirKind, Layout, file_name, is_newest_raft_segment, read_header};
use crate::progress::Progress;
use crate::{Status, note};

/// How to dump.
#[derive(Debug, Clone)]
pub struct DumpOptions {
    /// One JSON object per line instead of text.
    pub json: bool,
    /// Only keys (of Put and Tombstone records); no values.
    pub keys_only: bool,
    /// Only the records the keydir would hold (live Puts); engine data only.
    pub live_only: bool,
    /// Only this segment id.
    pub segment: Option<u64>,
    /// Show at most this many bytes of each key and value (`usize::MAX`: all).
    pub limit: usize,
    /// Draw a progress bar if stderr is a terminal.
    pub progress: bool,
}

impl Default for DumpOptions {
    fn default() -> Self {
        Self {
            json: false,
            keys_only: false,
            live_only: false,
            segment: None,
            limit: 64,
            progress: true,
        }
    }
}

/// One record in `--json` mode. Fields that the record's kind does not use
/// are left out; keys and values are escaped like the text output
/// ([`bitcask::describe::escape`]: printable ASCII as is, other bytes as
/// `\xNN`) and cut at the byte limit, with their full length alongside.
#[derive(Debug, Default, Serialize)]
pub struct JsonRecord {
    /// File name (within the directory).
    pub file: String,
    /// Segment id from the file header (0 for the Raft hard-state file).
    pub segment: u64,
    /// Byte offset of the record in the file.
    pub offset: u64,
    /// Record kind (`put`, `tombstone`, `batch-begin`, `batch-commit`,
    /// `segment-info`, `raft-entry`, `raft-hard-state`, `hint-entry`,
    /// `hint-trailer`).
    pub kind: String,
    /// Sequence number (engine records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Expiry in ms since the Unix epoch, 0 = never (puts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<u64>,
    /// Number of records in a batch (batch markers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Segment-info flags (bit 0: written by a merge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<u64>,
    /// Segments a merged segment replaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Vec<u32>>,
    /// Raft log index (raft entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// Raft term (raft entries and hard state).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
    /// Raft vote, 0 = none (hard state).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vote: Option<u64>,
    /// For hint entries: kind of the record described (`put`/`tombstone`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_kind: Option<String>,
    /// For hint entries: offset of the record in the data file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_offset: Option<u32>,
    /// For the hint trailer: number of entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    /// For the hint trailer: length of the data file described.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_len: Option<u64>,
    /// The key, escaped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The key's length in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_len: Option<usize>,
    /// The value (Raft: the payload or extra hard state), escaped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The value's length in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_len: Option<usize>,
}

impl JsonRecord {
    /// The JSON view of `record` at `offset` of `file` (segment `segment`).
    pub fn from_record(
        file: &str,
        segment: u64,
        offset: u64,
        record: &Record<'_>,
        limit: usize,
        with_value: bool,
    ) -> Self {
        let mut j = Self {
            file: file.to_string(),
            segment,
            offset,
            kind: record.kind.to_string(),
            ..Self::default()
        };
        let key = |j: &mut Self| {
            j.key = Some(escape(record.key, limit));
            j.key_len = Some(record.key.len());
        };
        let value = |j: &mut Self| {
            if with_value {
                j.value = Some(escape(record.value, limit));
                j.value_len = Some(record.value.len());
            }
        };
        match record.kind {
            RecordKind::Put => {
                j.seq = Some(record.seq);
                j.expiry = Some(record.meta);
                key(&mut j);
                value(&mut j);
            }
            RecordKind::Tombstone => {
                j.seq = Some(record.seq);
                key(&mut j);
            }
            RecordKind::BatchBegin | RecordKind::BatchCommit => {
                j.seq = Some(record.seq);
                j.count = Some(record.meta);
            }
            RecordKind::SegmentInfo => {
                j.flags = Some(record.meta);
                j.replaces = Some(
                    record
                        .value
                        .chunks_exact(4)
                        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                );
            }
            RecordKind::RaftEntry => {
                j.index = Some(record.seq);
                j.term = Some(record.meta);
                value(&mut j);
            }
            RecordKind::RaftHardState => {
                j.term = Some(record.seq);
                j.vote = Some(record.meta);
                value(&mut j);
            }
        }
        j
    }
}

/// Dumps `path` (a directory or one file) to `out`.
pub fn run(path: &Path, opts: &DumpOptions, out: &mut dyn Write) -> Result<Status> {
    let meta = std::fs::metadata(path).map_err(|e| ToolError::io("read", path, e))?;
    // A bar on the terminal would tangle with records printed to it.
    let show_bar = Progress::available(opts.progress) && !std::io::stdout().is_terminal();
    let mut dumper = Dumper {
        opts,
        out,
        status: Status::Clean,
        progress: Progress::hidden(),
        live: None,
    };
    if meta.is_file() {
        if opts.segment.is_some() {
            return Err(ToolError::Usage(
                "--segment selects a segment of a directory; it does not apply to one file".into(),
            ));
        }
        dumper.progress = Progress::bytes(show_bar, meta.len(), "dump");
        dumper.file(path)?;
        return Ok(dumper.status);
    }
    let layout = Layout::detect(path)?;
    match layout.kind {
        DirKind::Engine => {
            let files: Vec<_> = match opts.segment {
                None => layout.data.iter().map(|(&id, p)| (id, p.clone())).collect(),
                Some(n) => {
                    let id = u32::try_from(n)
                        .ok()
                        .filter(|id| layout.data.contains_key(id));
                    let Some(id) = id else {
                        return Err(ToolError::Usage(format!(
                            "no data segment {n} in {}",
                            path.display()
                        )));
                    };
                    vec![(id, layout.data[&id].clone())]
                }
            };
            if opts.live_only {
                dumper.live = Some(Bitcask::open_read_only(path)?);
            }
            let total = files
                .iter()
                .filter_map(|(_, p)| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum();
            dumper.progress = Progress::bytes(show_bar, total, "dump");
            let newest = layout.data.keys().next_back().copied();
            for (id, file) in files {
                dumper.segment_file(&file, FileKind::Data, Some(id) == newest, false)?;
            }
        }
        DirKind::RaftLog => {
            if opts.keys_only || opts.live_only {
                return Err(ToolError::Usage(format!(
                    "--keys-only and --live-only apply to engine data; {} is a Raft log",
                    path.display()
                )));
            }
            let mut files: Vec<_> = match opts.segment {
                None => layout.raft_segments.values().cloned().collect(),
                Some(n) => match layout.raft_segments.get(&n) {
                    Some(p) => vec![p.clone()],
                    None => {
                        return Err(ToolError::Usage(format!(
                            "no Raft log segment {n} in {}",
                            path.display()
                        )));
                    }
                },
            };
            let newest = layout.raft_segments.values().next_back().cloned();
            dumper.progress = Progress::bytes(show_bar, layout.segment_bytes(), "dump");
            if opts.segment.is_none()
                && let Some(hs) = &layout.hard_state
            {
                files.push(hs.clone());
            }
            for file in files {
                let newest_segment = Some(&file) == newest.as_ref();
                let is_newest = newest_segment || layout.hard_state.as_ref() == Some(&file);
                dumper.segment_file(&file, FileKind::RaftLog, is_newest, newest_segment)?;
            }
        }
    }
    Ok(dumper.status)
}

struct Dumper<'a> {
    opts: &'a DumpOptions,
    out: &'a mut dyn Write,
    status: Status,
    progress: Progress,
    /// The store opened read-only, for `--live-only`.
    live: Option<Bitcask>,
}

impl Dumper<'_> {
    /// Dumps one file given on the command line, whatever its kind.
    fn file(&mut self, path: &Path) -> Result<()> {
        let header = match read_header(path)? {
            Ok(header) => header,
            Err(bitcask::format::FormatError::UnsupportedVersion { found }) => {
                return Err(ToolError::UnsupportedVersion {
                    path: path.into(),
                    found,
                    supported: bitcask::format::FORMAT_VERSION,
                });
            }
            Err(e) => {
                return Err(ToolError::NotSnowflk {
                    path: path.into(),
                    reason: format!("no valid snowflk file header ({e})"),
                });
            }
        };
        match header.kind {
            FileKind::Hint => {
                if self.opts.live_only {
                    return Err(ToolError::Usage(
                        "--live-only applies to data files, not hint files".into(),
                    ));
                }
                self.hint_file(path, header.segment_id)
            }
            FileKind::Data => {
                if self.opts.live_only {
                    let dir = path.parent().unwrap_or(Path::new("."));
                    self.live = Some(Bitcask::open_read_only(dir)?);
                }
                self.segment_file(path, FileKind::Data, true, false)
            }
            FileKind::RaftLog => {
                if self.opts.keys_only || self.opts.live_only {
                    return Err(ToolError::Usage(
                        "--keys-only and --live-only apply to engine data, not Raft log files"
                            .into(),
                    ));
                }
                let prepared = is_newest_raft_segment(path);
                self.segment_file(path, FileKind::RaftLog, true, prepared)
            }
        }
    }

    /// Streams the records of one segment file (data or Raft log).
    ///
    /// `newest`: the newest file of its kind, where a torn header is a
    /// crash's leftover. `prepared`: the newest Raft log segment, which the
    /// log extends with zeros ahead of its appends; a zero tail there is
    /// normal and an append interrupted inside it is not corruption.
    fn segment_file(
        &mut self,
        path: &Path,
        expected: FileKind,
        newest: bool,
        prepared: bool,
    ) -> Result<()> {
        let name = file_name(path);
        let segment = match Segment::open(&OsVfs, path, false) {
            Ok(segment) => segment,
            Err(bitcask::Error::Corrupted { reason, .. })
                if newest && reason.starts_with("incomplete header") =>
            {
                self.note(&format!(
                    "note: {name}: {reason} (torn while being created; holds no record)"
                ));
                return Ok(());
            }
            Err(bitcask::Error::Corrupted { offset, reason, .. }) => {
                self.corrupt(&name, offset, &reason);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        if segment.kind() != expected {
            self.corrupt(
                &name,
                0,
                &format!("header says {} file, expected {expected}", segment.kind()),
            );
            return Ok(());
        }
        let id = segment.id();
        let mut failed: Option<std::io::Error> = None;
        let mut line = Vec::new();
        let end = segment::scan(&segment, |offset, record| {
            self.progress.inc(record.encoded_len() as u64);
            line.clear();
            if self.format_record(&mut line, &name, id, offset, &record)
                && let Err(e) = self.progress.suspend(|| self.out.write_all(&line))
            {
                failed = Some(e);
                return Err(bitcask::Error::InvalidOptions("output closed".into()));
            }
            Ok(())
        });
        if let Some(e) = failed {
            return Err(ToolError::Output(e));
        }
        match end {
            Ok(ScanEnd::Clean { .. }) => {}
            // Prepared space, not a torn append: nothing to say.
            Ok(ScanEnd::Torn {
                valid_len,
                file_len,
            }) if prepared && segment::is_zero_range(&segment, valid_len, file_len)? => {}
            Ok(ScanEnd::Torn {
                valid_len,
                file_len,
            }) => self.note(&format!(
                "note: {name}: {} bytes from offset {valid_len} are an incomplete tail (torn by a crash, or being written); not shown",
                file_len - valid_len
            )),
            // A power loss during an overwrite of prepared zeros may keep a
            // later sector of the write but not an earlier one; a zeroed
            // sector in the unreadable record is that mark (see `verify`).
            Err(bitcask::Error::Corrupted { offset, .. })
                if prepared && segment::unwritten_sector_in_record(&segment, offset)? =>
            {
                self.note(&format!(
                    "note: {name}: {} bytes from offset {offset} are an append a crash interrupted inside prepared space, not corruption (they include records that were never made durable; cut on the next open); not shown",
                    segment.len()?.saturating_sub(offset)
                ))
            }
            Err(bitcask::Error::Corrupted { offset, reason, .. }) => {
                self.corrupt(&name, offset, &reason)
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Formats one record into `line`; false if it is filtered out.
    fn format_record(
        &self,
        line: &mut Vec<u8>,
        name: &str,
        id: u64,
        offset: u64,
        record: &Record<'_>,
    ) -> bool {
        let opts = self.opts;
        let keyed = matches!(record.kind, RecordKind::Put | RecordKind::Tombstone);
        if opts.keys_only && !keyed {
            return false;
        }
        if let Some(store) = &self.live {
            let live = record.kind == RecordKind::Put
                && store
                    .location(record.key)
                    .is_some_and(|e| u64::from(e.segment) == id && u64::from(e.offset) == offset);
            if !live {
                return false;
            }
        }
        if opts.json {
            let j = JsonRecord::from_record(name, id, offset, record, opts.limit, !opts.keys_only);
            // Serializing plain strings and integers cannot fail.
            let _ = serde_json::to_writer(&mut *line, &j);
            line.push(b'\n');
        } else if opts.keys_only {
            let _ = writeln!(line, "{}", escape(record.key, opts.limit));
        } else {
            let _ = writeln!(
                line,
                "{name}:{offset} {}",
                describe_record(record, opts.limit)
            );
        }
        true
    }

    /// Dumps the entries and trailer of one hint file.
    fn hint_file(&mut self, path: &Path, id: u64) -> Result<()> {
        let name = file_name(path);
        let mut reader = HintReader::open(path)?;
        let limit = self.opts.limit;
        loop {
            let mut line = Vec::new();
            match reader.next_step()? {
                HintStep::Item { offset, item, len } => {
                    self.progress.inc(len);
                    match item {
                        HintItem::Entry(e) => {
                            if self.opts.json {
                                let j = JsonRecord {
                                    file: name.clone(),
                                    segment: id,
                                    offset,
                                    kind: "hint-entry".into(),
                                    seq: Some(e.seq),
                                    expiry: Some(e.expiry),
                                    record_kind: Some(e.kind.to_string()),
                                    record_offset: Some(e.offset),
                                    key: Some(escape(e.key, limit)),
                                    key_len: Some(e.key.len()),
                                    value_len: Some(e.value_len as usize),
                                    ..JsonRecord::default()
                                };
                                let _ = serde_json::to_writer(&mut line, &j);
                                line.push(b'\n');
                            } else if self.opts.keys_only {
                                let _ = writeln!(line, "{}", escape(e.key, limit));
                            } else {
                                let _ = writeln!(
                                    line,
                                    "{name}:{offset} hint-entry {} seq={} expiry={} record_offset={} value_len={} key=\"{}\"",
                                    e.kind,
                                    e.seq,
                                    e.expiry,
                                    e.offset,
                                    e.value_len,
                                    escape(e.key, limit)
                                );
                            }
                        }
                        HintItem::Trailer(t) => {
                            if self.opts.json {
                                let j = JsonRecord {
                                    file: name.clone(),
                                    segment: id,
                                    offset,
                                    kind: "hint-trailer".into(),
                                    entries: Some(t.entries),
                                    data_len: Some(t.data_len),
                                    ..JsonRecord::default()
                                };
                                let _ = serde_json::to_writer(&mut line, &j);
                                line.push(b'\n');
                            } else if !self.opts.keys_only {
                                let _ = writeln!(
                                    line,
                                    "{name}:{offset} hint-trailer entries={} data_len={}",
                                    t.entries, t.data_len
                                );
                            }
                        }
                    }
                }
                HintStep::End { .. } => return Ok(()),
                HintStep::Bad { offset, reason } => {
                    self.corrupt(&name, offset, &reason);
                    return Ok(());
                }
            }
            let out = &mut self.out;
            self.progress
                .suspend(|| out.write_all(&line))
                .map_err(ToolError::Output)?;
        }
    }

    fn note(&self, message: &str) {
        self.progress.suspend(|| note(message));
    }

    fn corrupt(&mut self, name: &str, offset: u64, reason: &str) {
        self.status = Status::Corrupt;
        self.note(&format!(
            "error: {name} offset {offset}: {reason} (the rest of this file is not shown)"
        ));
    }
}
