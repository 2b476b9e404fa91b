//! `verify` for a Raft log directory (`raftlog::SegmentLogStore`).
//!
//! Besides every header and record checksum, it checks the log's own
//! invariants: entry indexes are contiguous across segments in id order
//! (the first need not be 1: a purge drops whole segments from the front),
//! entry terms never decrease, the hard-state file holds only hard-state
//! records whose terms never decrease and whose vote never changes within a
//! term, and the current term is at least the term of the last entry (the
//! hard state is made durable before the entries that depend on it).
//!
//! The newest segment is read as the log's opener reads it. The log extends
//! that segment with zeros ahead of its appends (prepared space), so a tail
//! of zeros after its last entry is normal and not reported. A power loss
//! during an overwrite of those zeros may keep any subset of the write's
//! sectors, so an unreadable record with valid ones after it is an
//! interrupted append, not corruption, when one of its sectors still reads
//! as zeros (`bitcask::segment::unwritten_sector_in_record`): a warning, and
//! the entries after it are neither checked nor counted (the opener cuts
//! them). Older segments were cut to their last entry before the next one
//! was created: any unreadable tail there is an error.

use bitcask::format::{FileKind, RecordKind};
use bitcask::segment::{self, ScanEnd, Segment};
use bitcask::vfs::OsVfs;

use super::Reporter;
use super::engine::torn_header;
use crate::error::Result;
use crate::layout::{HARD_STATE_FILE, Layout, SNAPSHOT_FILE, file_name};

/// At most this many findings of one kind are printed per file.
const MAX_FINDINGS_PER_FILE: usize = 20;

/// What the segments said so far.
#[derive(Default)]
struct LogState {
    /// The index the next entry must carry (None: unknown, e.g. at the start).
    next_expected: Option<u64>,
    /// Term of the previous entry.
    last_term: u64,
    first_index: Option<u64>,
    last_index: u64,
    entries: u64,
}

pub(super) fn verify(layout: &Layout, r: &mut Reporter<'_>) -> Result<String> {
    for name in &layout.unknown {
        r.warning(name, None, "unknown file; the Raft log ignores it")?;
    }
    for name in &layout.tmp {
        r.warning(
            name,
            None,
            "leftover of an interrupted hard-state or snapshot-record rewrite (the file it replaces is intact); removed on the next open",
        )?;
    }
    let mut state = LogState::default();
    let newest = layout.raft_segments.keys().next_back().copied();
    for (&id, path) in &layout.raft_segments {
        check_segment(path, id, Some(id) == newest, &mut state, r)?;
    }
    let hard_state = check_hard_state(layout, &state, r)?;
    let snapshot = check_snapshot(layout, &state, r)?;
    let entries = match state.first_index {
        Some(first) => format!("entries {first}..{} ({})", state.last_index, state.entries),
        None => "no entries".to_string(),
    };
    let hs = match hard_state {
        Some((term, vote)) => format!("hard state term {term} vote {}", vote_text(vote)),
        None => "no hard state".to_string(),
    };
    let snap = match snapshot {
        Some((index, term)) => format!(", snapshot at {index} (term {term})"),
        None => String::new(),
    };
    Ok(format!(
        "{} {}, {entries}, {hs}{snap}",
        layout.raft_segments.len(),
        super::plural(layout.raft_segments.len() as u64, "segment", "segments"),
    ))
}

fn vote_text(vote: Option<u64>) -> String {
    vote.map_or_else(|| "none".to_string(), |v| v.to_string())
}

fn check_segment(
    path: &std::path::Path,
    id: u64,
    newest: bool,
    state: &mut LogState,
    r: &mut Reporter<'_>,
) -> Result<()> {
    let name = file_name(path);
    let segment = match Segment::open(&OsVfs, path, false) {
        Ok(segment) => segment,
        Err(bitcask::Error::Corrupted { reason, .. })
            if reason.starts_with("incomplete header") =>
        {
            if newest && torn_header(path, FileKind::RaftLog, id)? {
                r.warning(
                    &name,
                    None,
                    &format!("{reason}: torn while being created, holds no entry; removed on the next open"),
                )?;
            } else {
                r.error(&name, Some(0), &reason)?;
                state.next_expected = None;
            }
            return Ok(());
        }
        Err(bitcask::Error::Corrupted { offset, reason, .. }) => {
            r.error(&name, Some(offset), &reason)?;
            state.next_expected = None;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    if segment.kind() != FileKind::RaftLog {
        r.error(
            &name,
            Some(0),
            &format!(
                "header says this is a {} file, expected a raft-log segment",
                segment.kind()
            ),
        )?;
        state.next_expected = None;
        return Ok(());
    }
    if segment.id() != id {
        r.error(
            &name,
            Some(0),
            &format!(
                "header says segment {}, the file name says {id}",
                segment.id()
            ),
        )?;
    }
    // Invariant violations are collected (the scan callback cannot print)
    // and the scan goes on, so one gap is one finding.
    let mut findings: Vec<(u64, String)> = Vec::new();
    let mut dropped = 0usize;
    let mut find = |offset: u64, what: String| {
        if findings.len() < MAX_FINDINGS_PER_FILE {
            findings.push((offset, what));
        } else {
            dropped += 1;
        }
    };
    let progress = &r.progress;
    // Set when the scan stops at a record this check refuses (not one the
    // scan could not read): such a record decoded, so it is no unfinished
    // write, whatever zeros its value holds.
    let mut refused = false;
    let end = segment::scan(&segment, |offset, record| {
        progress.inc(record.encoded_len() as u64);
        if record.kind != RecordKind::RaftEntry {
            refused = true;
            return Err(bitcask::Error::Corrupted {
                path: path.to_path_buf(),
                offset,
                reason: format!("{} record in a raft-log segment", record.kind),
            });
        }
        let (index, term) = (record.seq, record.meta);
        if index == 0 {
            find(offset, "entry index 0 (indexes start at 1)".into());
        } else if let Some(expected) = state.next_expected
            && index != expected
        {
            if index > expected {
                let missing = if index - expected == 1 {
                    format!("entry {expected} is missing")
                } else {
                    format!("entries {expected}..{} are missing", index - 1)
                };
                find(
                    offset,
                    format!("entry index {index} where {expected} was expected: {missing}"),
                );
            } else {
                find(
                    offset,
                    format!(
                        "entry index {index} where {expected} was expected: the log goes back (duplicate or overlapping entries)"
                    ),
                );
            }
        }
        if state.entries > 0 && term < state.last_term {
            find(
                offset,
                format!(
                    "entry {index} has term {term}, below the term {} of the entry before it",
                    state.last_term
                ),
            );
        }
        state.first_index.get_or_insert(index);
        state.last_index = index;
        state.last_term = term;
        state.entries += 1;
        state.next_expected = Some(index + 1);
        Ok(())
    });
    for (offset, what) in findings {
        r.error(&name, Some(offset), &what)?;
    }
    if dropped > 0 {
        r.error(
            &name,
            None,
            &format!("{dropped} more index/term problems in this file not shown"),
        )?;
    }
    match end {
        Ok(ScanEnd::Clean { .. }) => {}
        Ok(ScanEnd::Torn {
            valid_len,
            file_len,
        }) => {
            let n = file_len - valid_len;
            if newest && segment::is_zero_range(&segment, valid_len, file_len)? {
                // Space the Raft log prepared ahead of its appends (it
                // extends its newest segment with zeros so that an
                // fdatasync need not journal a size change): the normal
                // state of a log, not a crash.
            } else if newest {
                r.warning(
                    &name,
                    Some(valid_len),
                    &format!(
                        "the newest segment ends in {n} bytes of an incomplete entry (a crash interrupted an append, or a node is appending right now); cut on the next open"
                    ),
                )?;
            } else {
                r.error(
                    &name,
                    Some(valid_len),
                    &format!(
                        "segment that is not the newest ends in {n} bytes of an incomplete entry"
                    ),
                )?;
            }
        }
        // An overwrite of prepared zeros that a power loss cut short may
        // have kept a later sector but not an earlier one, so valid records
        // can follow the unreadable one. A sector of zeros inside it is the
        // mark of that (bit rot does not zero a sector); the opener cuts the
        // newest segment there. The records after it were never
        // acknowledged and the scan did not visit them, so `state` ends at
        // the last entry the opener keeps.
        Err(bitcask::Error::Corrupted { offset, .. })
            if newest && !refused && segment::unwritten_sector_in_record(&segment, offset)? =>
        {
            let n = segment.len()?.saturating_sub(offset);
            r.warning(
                &name,
                Some(offset),
                &format!(
                    "the newest segment ends in an append a crash interrupted inside prepared space ({n} bytes from offset {offset}, including records that were never made durable); cut on the next open"
                ),
            )?;
        }
        Err(bitcask::Error::Corrupted { offset, reason, .. }) => {
            r.error(&name, Some(offset), &reason)?;
            state.next_expected = None;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Checks the snapshot-record file: hard-state-kind records, seq = the
/// snapshot's index, meta = its term, value = the postcard configuration;
/// indexes never decrease and the log has no hole after the latest (its
/// first entry is at most one past the snapshot). Returns the latest
/// snapshot's (index, term).
fn check_snapshot(
    layout: &Layout,
    log: &LogState,
    r: &mut Reporter<'_>,
) -> Result<Option<(u64, u64)>> {
    let Some(path) = &layout.snapshot else {
        if let Some(first) = log.first_index
            && first > 1
        {
            r.error(
                SNAPSHOT_FILE,
                None,
                &format!("missing, but the log starts at {first}: entries 1..{first} are lost"),
            )?;
        }
        return Ok(None);
    };
    let name = file_name(path);
    let segment = match Segment::open(&OsVfs, path, false) {
        Ok(segment) => segment,
        Err(bitcask::Error::Corrupted { offset, reason, .. }) => {
            r.error(&name, Some(offset), &reason)?;
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    if segment.kind() != FileKind::RaftLog {
        r.error(
            &name,
            Some(0),
            &format!(
                "header says this is a {} file, expected a raft-log file",
                segment.kind()
            ),
        )?;
        return Ok(None);
    }
    let mut findings: Vec<(u64, String)> = Vec::new();
    let mut latest: Option<(u64, u64)> = None;
    let progress = &r.progress;
    let end = segment::scan(&segment, |offset, record| {
        progress.inc(record.encoded_len() as u64);
        if record.kind != RecordKind::RaftHardState {
            return Err(bitcask::Error::Corrupted {
                path: path.clone(),
                offset,
                reason: format!("{} record in the snapshot-record file", record.kind),
            });
        }
        if record.value.is_empty() {
            findings.push((offset, "snapshot record without its configuration".into()));
        }
        if let Some((index, _)) = latest
            && record.seq < index
        {
            findings.push((
                offset,
                format!("snapshot index goes back from {index} to {}", record.seq),
            ));
        }
        latest = Some((record.seq, record.meta));
        findings.truncate(MAX_FINDINGS_PER_FILE);
        Ok(())
    });
    for (offset, what) in findings {
        r.error(&name, Some(offset), &what)?;
    }
    match end {
        Ok(ScanEnd::Clean { .. }) => {}
        Ok(ScanEnd::Torn {
            valid_len,
            file_len,
        }) => r.warning(
            &name,
            Some(valid_len),
            &format!(
                "ends in {} bytes of an incomplete record (an interrupted save); it is ignored and cut on the next open",
                file_len - valid_len
            ),
        )?,
        Err(bitcask::Error::Corrupted { offset, reason, .. }) => {
            r.error(&name, Some(offset), &reason)?;
            return Ok(latest);
        }
        Err(e) => return Err(e.into()),
    }
    if let (Some((index, _)), Some(first)) = (latest, log.first_index)
        && first > index + 1
    {
        r.error(
            &name,
            None,
            &format!(
                "the log starts at {first}, past the snapshot at {index}: entries {}..{first} are lost",
                index + 1
            ),
        )?;
    }
    Ok(latest)
}

/// Checks the hard-state file; returns the hard state it holds, if readable.
fn check_hard_state(
    layout: &Layout,
    log: &LogState,
    r: &mut Reporter<'_>,
) -> Result<Option<(u64, Option<u64>)>> {
    let Some(path) = &layout.hard_state else {
        if log.entries > 0 {
            r.error(
                HARD_STATE_FILE,
                None,
                &format!(
                    "missing, but the log holds entries up to term {}: the current term and vote are lost",
                    log.last_term
                ),
            )?;
        } else {
            r.warning(
                HARD_STATE_FILE,
                None,
                "missing; an empty hard state (term 0, no vote) is created on the next open",
            )?;
        }
        return Ok(None);
    };
    let name = file_name(path);
    let segment = match Segment::open(&OsVfs, path, false) {
        Ok(segment) => segment,
        Err(bitcask::Error::Corrupted { offset, reason, .. }) => {
            r.error(&name, Some(offset), &reason)?;
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    if segment.kind() != FileKind::RaftLog {
        r.error(
            &name,
            Some(0),
            &format!(
                "header says this is a {} file, expected a raft-log file",
                segment.kind()
            ),
        )?;
        return Ok(None);
    }
    let mut findings: Vec<(u64, String)> = Vec::new();
    let mut current: Option<(u64, Option<u64>)> = None;
    let progress = &r.progress;
    let end = segment::scan(&segment, |offset, record| {
        progress.inc(record.encoded_len() as u64);
        if record.kind != RecordKind::RaftHardState {
            return Err(bitcask::Error::Corrupted {
                path: path.clone(),
                offset,
                reason: format!("{} record in the hard-state file", record.kind),
            });
        }
        let term = record.seq;
        let vote = match record.value.len() {
            0 => {
                if record.meta != 0 {
                    findings.push((
                        offset,
                        format!(
                            "vote field says {} but the record carries no vote",
                            record.meta
                        ),
                    ));
                }
                None
            }
            8 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(record.value);
                let vote = u64::from_le_bytes(b);
                if record.meta != vote {
                    findings.push((
                        offset,
                        format!("vote field says {}, the vote bytes say {vote}", record.meta),
                    ));
                }
                Some(vote)
            }
            n => {
                return Err(bitcask::Error::Corrupted {
                    path: path.clone(),
                    offset,
                    reason: format!("hard-state vote of {n} bytes (expected 0 or 8)"),
                });
            }
        };
        if let Some((prev_term, prev_vote)) = current {
            if term < prev_term {
                findings.push((offset, format!("term goes back from {prev_term} to {term}")));
            } else if term == prev_term
                && let Some(prev) = prev_vote
                && vote != Some(prev)
            {
                findings.push((
                    offset,
                    format!(
                        "vote in term {term} changes from {prev} to {} (one vote per term)",
                        vote_text(vote)
                    ),
                ));
            }
        }
        current = Some((term, vote));
        if findings.len() > MAX_FINDINGS_PER_FILE {
            findings.truncate(MAX_FINDINGS_PER_FILE);
        }
        Ok(())
    });
    for (offset, what) in findings {
        r.error(&name, Some(offset), &what)?;
    }
    match end {
        Ok(ScanEnd::Clean { .. }) => {}
        Ok(ScanEnd::Torn {
            valid_len,
            file_len,
        }) => r.warning(
            &name,
            Some(valid_len),
            &format!(
                "ends in {} bytes of an incomplete record (an interrupted save); it is ignored and cut on the next open",
                file_len - valid_len
            ),
        )?,
        Err(bitcask::Error::Corrupted { offset, reason, .. }) => {
            r.error(&name, Some(offset), &reason)?;
            return Ok(current);
        }
        Err(e) => return Err(e.into()),
    }
    let (term, _) = current.unwrap_or((0, None));
    if log.entries > 0 && term < log.last_term {
        r.error(
            &name,
            None,
            &format!(
                "current term {term} is below the term {} of the last log entry {} (the hard state must be durable before the entries)",
                log.last_term, log.last_index
            ),
        )?;
    }
    Ok(current.or(Some((0, None))))
}
