//! `verify` for an engine data directory.

use std::collections::BTreeMap;
use std::path::Path;

use bitcask::describe::escape;
use bitcask::format::{FILE_HEADER_LEN, FileHeader, FileKind, HintItem, Record, RecordKind};
use bitcask::keydir::MAX_SEQ;
use bitcask::segment::{self, Segment};
use bitcask::vfs::OsVfs;

use super::Reporter;
use crate::error::{Result, ToolError};
use crate::hintfile::{HintReader, HintStep};
use crate::layout::{Layout, file_name, read_header};

/// What a fallback scan of a bad hint costs the engine, said once per problem.
const HINT_FALLBACK: &str = "the engine ignores this hint and scans the data file instead, and rewrites the hint on the next read-write open";

/// Totals for the summary line.
#[derive(Default)]
struct Totals {
    segments: u64,
    hints: u64,
    records: u64,
    bytes: u64,
}

pub(super) fn verify(layout: &Layout, r: &mut Reporter<'_>) -> Result<String> {
    for name in &layout.unknown {
        if name == bitcask::CHECKPOINT_PARTIAL_FILE {
            r.error(
                name,
                None,
                "interrupted checkpoint: the engine refuses to open this directory; delete it and take the checkpoint again",
            )?;
        } else if name == bitcask::CHECKPOINT_FILE {
            // A checkpoint's manifest: checked, not unknown.
            if let Err(e) = bitcask::checkpoint::verify(&bitcask::vfs::OsVfs, &layout.dir) {
                r.warning(
                    name,
                    None,
                    &format!(
                        "the directory no longer matches its checkpoint manifest (normal once a store was opened on it): {e}"
                    ),
                )?;
            }
        } else {
            r.warning(name, None, "unknown file; the engine ignores it")?;
        }
    }
    for name in &layout.tmp {
        r.warning(
            name,
            None,
            "leftover temporary file of an interrupted hint write or merge; the engine removes it on the next read-write open",
        )?;
    }
    for (id, path) in &layout.hints {
        if !layout.data.contains_key(id) {
            r.warning(
                &file_name(path),
                None,
                "hint file without its data file; the engine removes it on the next read-write open",
            )?;
        }
    }

    // Which segments are merge outputs, and which segments they replace: the
    // active segment is the newest one not written by a merge.
    let mut merged_by: BTreeMap<u32, u32> = BTreeMap::new();
    let mut merged = Vec::new();
    for (&id, path) in &layout.data {
        let Ok(segment) = Segment::open(&OsVfs, path, false) else {
            continue;
        };
        if let Ok(info) = bitcask::read_segment_info(&segment)
            && info.merged
        {
            merged.push(id);
            for replaced in info.replaces {
                merged_by.entry(replaced).or_insert(id);
            }
        }
    }
    let active = layout
        .data
        .keys()
        .rev()
        .find(|id| !merged.contains(id))
        .copied();
    let newest = layout.data.keys().next_back().copied();

    let mut totals = Totals::default();
    for (&id, path) in &layout.data {
        let replaced_by = merged_by.get(&id).copied();
        if let Some(by) = replaced_by {
            r.warning(
                &file_name(path),
                None,
                &format!(
                    "replaced by merged segment {by} (a crash came between a merge and the removal of its inputs); the engine removes it on the next read-write open"
                ),
            )?;
        }
        let hint = layout.hints.get(&id).map(|p| p.as_path());
        let role = Role {
            id,
            active: Some(id) == active,
            newest: Some(id) == newest,
            replaced: replaced_by.is_some(),
        };
        check_segment(path, hint, role, r, &mut totals)?;
    }
    Ok(format!(
        "{} data {}, {} hint {}, {} records, {} bytes checked",
        totals.segments,
        super::plural(totals.segments, "segment", "segments"),
        totals.hints,
        super::plural(totals.hints, "file", "files"),
        totals.records,
        totals.bytes
    ))
}

/// What a segment is to the engine.
#[derive(Clone, Copy)]
struct Role {
    id: u32,
    /// The newest segment not written by a merge: may end in a torn tail.
    active: bool,
    /// The highest id: may be torn while being created.
    newest: bool,
    /// Replaced by a merge; the engine ignores (and removes) it.
    replaced: bool,
}

/// An open batch while scanning.
struct Batch {
    begin: u64,
    count: u64,
    seen: u64,
}

fn check_segment(
    path: &Path,
    hint: Option<&Path>,
    role: Role,
    r: &mut Reporter<'_>,
    totals: &mut Totals,
) -> Result<()> {
    let name = file_name(path);
    let id = role.id;
    totals.segments += 1;
    let segment = match Segment::open(&OsVfs, path, false) {
        Ok(segment) => segment,
        Err(bitcask::Error::Corrupted { reason, .. })
            if reason.starts_with("incomplete header") =>
        {
            if role.newest && torn_header(path, FileKind::Data, u64::from(id))? {
                r.warning(
                    &name,
                    None,
                    &format!(
                        "{reason}: torn while being created, holds no record; the engine removes it on the next read-write open"
                    ),
                )?;
            } else {
                r.error(&name, Some(0), &reason)?;
            }
            return Ok(());
        }
        Err(bitcask::Error::Corrupted { offset, reason, .. }) => {
            r.error(&name, Some(offset), &reason)?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    if segment.kind() != FileKind::Data {
        r.error(
            &name,
            Some(0),
            &format!(
                "header says this is a {} file, a .data file must be a data segment",
                segment.kind()
            ),
        )?;
        return Ok(());
    }
    if segment.id() != u64::from(id) {
        r.error(
            &name,
            Some(0),
            &format!(
                "header says segment {}, the file name says {id}",
                segment.id()
            ),
        )?;
    }
    let data_len = segment.len()?;
    totals.bytes += data_len;

    let mut hint_check = match hint {
        Some(hint) => {
            totals.hints += 1;
            HintCheck::open(hint, id, r)?
        }
        None => {
            if !role.active && !role.replaced {
                r.warning(
                    &name,
                    None,
                    "sealed segment has no hint file; the engine scans it on open and writes the hint on the next read-write open",
                )?;
            }
            None
        }
    };

    let mut batch: Option<Batch> = None;
    let mut records = 0u64;
    let progress = &r.progress;
    let end = segment::scan(&segment, |offset, record| {
        let bad = |reason: String| bitcask::Error::Corrupted {
            path: path.to_path_buf(),
            offset,
            reason,
        };
        progress.inc(record.encoded_len() as u64);
        records += 1;
        if record.seq > MAX_SEQ {
            return Err(bad(format!(
                "sequence number {} is beyond the 48-bit limit",
                record.seq
            )));
        }
        match record.kind {
            RecordKind::Put | RecordKind::Tombstone => {
                if let Some(open) = &mut batch {
                    open.seen += 1;
                }
                if let Some(check) = &mut hint_check {
                    check.record(offset, &record);
                }
            }
            RecordKind::BatchBegin => {
                if batch.is_some() {
                    return Err(bad("write batch begins inside another batch".into()));
                }
                batch = Some(Batch {
                    begin: offset,
                    count: record.meta,
                    seen: 0,
                });
            }
            RecordKind::BatchCommit => {
                let Some(open) = batch.take() else {
                    return Err(bad("batch commit without a batch begin".into()));
                };
                if open.count != record.meta || open.seen != open.count {
                    return Err(bad(format!(
                        "write batch announced {} records, holds {}, its commit says {}",
                        open.count, open.seen, record.meta
                    )));
                }
            }
            RecordKind::SegmentInfo => {
                if offset != FILE_HEADER_LEN as u64 {
                    return Err(bad("segment-info record after the first record".into()));
                }
                if record.value.len() % 4 != 0 {
                    return Err(bad("segment-info record lists a partial segment id".into()));
                }
            }
            RecordKind::RaftEntry | RecordKind::RaftHardState => {
                return Err(bad(format!("{} record in a data segment", record.kind)));
            }
        }
        Ok(())
    });
    totals.records += records;
    match end {
        Ok(end) => {
            let file_len = match end {
                segment::ScanEnd::Clean { len } => len,
                segment::ScanEnd::Torn { file_len, .. } => file_len,
            };
            let valid_len = batch.as_ref().map_or(end.valid_len(), |b| b.begin);
            if valid_len < file_len {
                let what = if batch.is_some() {
                    "a write batch without its commit record"
                } else {
                    "an incomplete record"
                };
                if role.active {
                    r.warning(
                        &name,
                        Some(valid_len),
                        &format!(
                            "the active segment ends in {} bytes of {what} (a crash interrupted a write, or a server is writing right now); the engine ignores them and cuts them on the next read-write open",
                            file_len - valid_len
                        ),
                    )?;
                } else {
                    r.error(
                        &name,
                        Some(valid_len),
                        &format!(
                            "sealed segment ends in {} bytes of {what}",
                            file_len - valid_len
                        ),
                    )?;
                }
            }
            if let Some(check) = &mut hint_check {
                check.finish(data_len);
            }
        }
        Err(bitcask::Error::Corrupted { offset, reason, .. }) => {
            r.error(&name, Some(offset), &reason)?;
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(HintCheck {
        name,
        problem: Some((offset, what)),
        ..
    }) = hint_check
    {
        r.error(&name, Some(offset), &format!("{what}; {HINT_FALLBACK}"))?;
    }
    Ok(())
}

/// True if the file at `path` holds a strict prefix of the header the
/// engine would have written for it: a file torn right after creation.
pub(super) fn torn_header(path: &Path, kind: FileKind, id: u64) -> Result<bool> {
    let bytes = std::fs::read(path).map_err(|e| ToolError::io("read", path, e))?;
    let expected = FileHeader {
        kind,
        segment_id: id,
    }
    .encode();
    Ok(bytes.len() < FILE_HEADER_LEN && expected.starts_with(&bytes))
}

/// Checks a hint file in lockstep with the scan of its data file: the n-th
/// hint entry must describe the n-th Put/Tombstone record exactly.
struct HintCheck {
    name: String,
    reader: HintReader,
    entries: u64,
    /// The first problem (offset in the hint file, what); checking stops there.
    problem: Option<(u64, String)>,
}

impl HintCheck {
    /// Opens the hint of data segment `id`; reports a bad header and
    /// returns `None` (nothing more to check) in that case.
    fn open(path: &Path, id: u32, r: &mut Reporter<'_>) -> Result<Option<Self>> {
        let name = file_name(path);
        let problem = match read_header(path)? {
            Ok(h) if h.kind != FileKind::Hint => format!(
                "header says this is a {} file, a .hint file must be a hint",
                h.kind
            ),
            Ok(h) if h.segment_id != u64::from(id) => format!(
                "header says it is the hint of segment {}, the file name says {id}",
                h.segment_id
            ),
            Ok(_) => {
                return Ok(Some(Self {
                    name,
                    reader: HintReader::open(path)?,
                    entries: 0,
                    problem: None,
                }));
            }
            Err(bitcask::format::FormatError::UnsupportedVersion { found }) => {
                return Err(ToolError::UnsupportedVersion {
                    path: path.into(),
                    found,
                    supported: bitcask::format::FORMAT_VERSION,
                });
            }
            Err(e) => format!("bad file header: {e}"),
        };
        r.error(&name, Some(0), &format!("{problem}; {HINT_FALLBACK}"))?;
        Ok(None)
    }

    /// The data scan reached a Put/Tombstone `record` at `offset`.
    fn record(&mut self, offset: u64, record: &Record<'_>) {
        if self.problem.is_some() {
            return;
        }
        let problem = match self.reader.next_step() {
            Err(e) => Some((0, format!("cannot read the hint: {e}"))),
            Ok(HintStep::Item {
                offset: at,
                item: HintItem::Entry(e),
                ..
            }) => {
                let expiry = if record.kind == RecordKind::Put {
                    record.meta
                } else {
                    0
                };
                let hint = (
                    e.kind,
                    e.seq,
                    e.expiry,
                    u64::from(e.offset),
                    e.value_len as usize,
                    e.key,
                );
                let data = (
                    record.kind,
                    record.seq,
                    expiry,
                    offset,
                    record.value.len(),
                    record.key,
                );
                if hint == data {
                    self.entries += 1;
                    None
                } else if hint.3 != data.3 {
                    Some((
                        at,
                        format!(
                            "entry {} points at data offset {}, but the next put/tombstone record is at offset {offset}",
                            self.entries, e.offset
                        ),
                    ))
                } else {
                    Some((
                        at,
                        format!(
                            "entry for data offset {offset} says {} seq={} expiry={} value_len={} key=\"{}\", the record there is {} seq={} expiry={} value_len={} key=\"{}\"",
                            e.kind,
                            e.seq,
                            e.expiry,
                            e.value_len,
                            escape(e.key, 32),
                            record.kind,
                            record.seq,
                            expiry,
                            record.value.len(),
                            escape(record.key, 32),
                        ),
                    ))
                }
            }
            Ok(HintStep::Item {
                offset: at,
                item: HintItem::Trailer(_),
                ..
            }) => Some((
                at,
                format!(
                    "trailer after {} entries, but the data file has more put/tombstone records (the next at offset {offset})",
                    self.entries
                ),
            )),
            Ok(HintStep::End { offset: at }) => Some((
                at,
                format!(
                    "hint ends after {} entries without its trailer (truncated)",
                    self.entries
                ),
            )),
            Ok(HintStep::Bad { offset: at, reason }) => Some((at, reason)),
        };
        self.problem = problem;
    }

    /// The data scan ended cleanly at `data_len`: the trailer must follow.
    fn finish(&mut self, data_len: u64) {
        if self.problem.is_some() {
            return;
        }
        let entries = self.entries;
        let problem = match self.reader.next_step() {
            Err(e) => Some((0, format!("cannot read the hint: {e}"))),
            Ok(HintStep::Item {
                offset: at,
                item: HintItem::Trailer(t),
                len,
            }) => {
                if t.entries != entries {
                    Some((
                        at,
                        format!(
                            "trailer counts {} entries, the hint holds {entries}",
                            t.entries
                        ),
                    ))
                } else if t.data_len != data_len {
                    Some((
                        at,
                        format!(
                            "trailer describes {} bytes of data, the data file has {data_len}",
                            t.data_len
                        ),
                    ))
                } else {
                    match self.reader.next_step() {
                        Ok(HintStep::End { .. }) => None,
                        _ => Some((at + len, "bytes after the trailer".into())),
                    }
                }
            }
            Ok(HintStep::Item {
                offset: at,
                item: HintItem::Entry(e),
                ..
            }) => Some((
                at,
                format!(
                    "entry points at data offset {}, but the data file has no more put/tombstone records",
                    e.offset
                ),
            )),
            Ok(HintStep::End { offset: at }) => Some((
                at,
                format!("hint ends after {entries} entries without its trailer (truncated)"),
            )),
            Ok(HintStep::Bad { offset: at, reason }) => Some((at, reason)),
        };
        self.problem = problem;
    }
}
