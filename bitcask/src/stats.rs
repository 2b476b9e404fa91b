//! Exact per-segment statistics: how much of each segment is live, dead or
//! tombstones. The merge policy and `snowflk-tools stat` read them.
//!
//! Counters change with every applied write (under the statistics mutex,
//! together with the keydir change they describe), so they are exact, not
//! estimated. Expiry is time-dependent: live entries whose expiry has passed
//! are moved from live to dead when the statistics are read.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::format::{self, RecordKind};
use crate::keydir::Entry;

/// Statistics of one segment (or, in [`StoreStats::total`], of all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentStats {
    /// Segment id (0 in totals).
    pub id: u32,
    /// Size of the data file in bytes.
    pub file_bytes: u64,
    /// Keys whose newest record is in this segment and not expired.
    pub live_keys: u64,
    /// Encoded bytes of those records.
    pub live_bytes: u64,
    /// Put records that were overwritten, deleted or expired.
    pub dead_keys: u64,
    /// Everything in the file that is not a live record: dead puts,
    /// tombstones, batch markers, headers.
    pub dead_bytes: u64,
    /// Tombstone records.
    pub tombstones: u64,
    /// Lowest sequence number in the segment (0 when it holds none). The
    /// sequence number orders writes; it is the engine's timestamp.
    pub min_seq: u64,
    /// Highest sequence number in the segment (0 when it holds none).
    pub max_seq: u64,
    /// True if the segment was written by a merge.
    pub merged: bool,
    /// True if the segment has a hint file.
    pub has_hint: bool,
    /// True for the active segment (appended to).
    pub active: bool,
}

impl SegmentStats {
    /// Dead bytes as a percentage of the file (0 for an empty file).
    pub fn fragmentation(&self) -> f64 {
        if self.file_bytes == 0 {
            0.0
        } else {
            self.dead_bytes as f64 * 100.0 / self.file_bytes as f64
        }
    }
}

/// Statistics of a store: per segment, in id order, and in total.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    /// One entry per segment, in id order.
    pub segments: Vec<SegmentStats>,
    /// Sums over all segments (`min_seq`/`max_seq` over all; `id` 0).
    pub total: SegmentStats,
    /// What merges did since the store was opened.
    pub merges: MergeTotals,
}

/// Running totals of the merges of one open store (background, policy or
/// explicit merges alike), since it was opened: they are not persisted,
/// so a reopened store starts at zero, as a process's counters do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeTotals {
    /// Merges that completed.
    pub merges: u64,
    /// Merges that failed (each left the store as it was).
    pub failures: u64,
    /// Segments merged away: their files are removed, at once or when the
    /// last reader using them lets go.
    pub segments_removed: u64,
    /// Bytes of the merged segments' data files minus the bytes of the
    /// outputs: the disk space merges gave back.
    pub bytes_reclaimed: u64,
    /// Bytes of data files the merges wrote.
    pub bytes_written: u64,
    /// Wall time spent in merges that completed.
    pub duration: Duration,
}

impl MergeTotals {
    /// Adds one completed merge.
    pub(crate) fn add(&mut self, outcome: &crate::MergeOutcome) {
        self.merges += 1;
        self.segments_removed += outcome.inputs.len() as u64;
        self.bytes_reclaimed += outcome.bytes_before.saturating_sub(outcome.bytes_after);
        self.bytes_written += outcome.bytes_after;
        self.duration += outcome.duration;
    }
}

/// The running counters behind [`SegmentStats`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub file_bytes: u64,
    pub puts: u64,
    pub tombstones: u64,
    pub live_keys: u64,
    pub live_bytes: u64,
    pub min_seq: u64,
    pub max_seq: u64,
    pub merged: bool,
    pub has_hint: bool,
}

impl Counters {
    pub fn saw_seq(&mut self, seq: u64) {
        if self.min_seq == 0 || seq < self.min_seq {
            self.min_seq = seq;
        }
        self.max_seq = self.max_seq.max(seq);
    }
}

/// Counters of every segment.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    pub segments: BTreeMap<u32, Counters>,
}

impl Tracker {
    /// A record of `kind` and encoded length `len` was written to `segment`.
    pub fn appended(&mut self, segment: u32, kind: RecordKind, seq: u64, len: u64) {
        let c = self.segments.entry(segment).or_default();
        c.file_bytes += len;
        match kind {
            RecordKind::Put => c.puts += 1,
            RecordKind::Tombstone => c.tombstones += 1,
            _ => {}
        }
        if seq != 0 {
            c.saw_seq(seq);
        }
    }

    /// `entry` (for a key of `key_len` bytes) became live.
    pub fn live_added(&mut self, entry: &Entry, key_len: usize) {
        let c = self.segments.entry(entry.segment).or_default();
        c.live_keys += 1;
        c.live_bytes += format::record_len(key_len, entry.value_len as usize) as u64;
    }

    /// `entry` stopped being live.
    pub fn live_removed(&mut self, entry: &Entry, key_len: usize) {
        if let Some(c) = self.segments.get_mut(&entry.segment) {
            c.live_keys = c.live_keys.saturating_sub(1);
            c.live_bytes = c
                .live_bytes
                .saturating_sub(format::record_len(key_len, entry.value_len as usize) as u64);
        }
    }

    /// Builds the public view; `expired` lists `(segment, record bytes)` of
    /// live entries whose expiry has passed.
    pub fn snapshot(&self, expired: &[(u32, u64)], active: u32) -> StoreStats {
        let mut out = StoreStats::default();
        for (&id, c) in &self.segments {
            let (expired_keys, expired_bytes) = expired
                .iter()
                .filter(|(s, _)| *s == id)
                .fold((0u64, 0u64), |(k, b), (_, bytes)| (k + 1, b + bytes));
            let live_keys = c.live_keys.saturating_sub(expired_keys);
            let live_bytes = c.live_bytes.saturating_sub(expired_bytes);
            let s = SegmentStats {
                id,
                file_bytes: c.file_bytes,
                live_keys,
                live_bytes,
                dead_keys: c.puts.saturating_sub(live_keys),
                dead_bytes: c.file_bytes.saturating_sub(live_bytes),
                tombstones: c.tombstones,
                min_seq: c.min_seq,
                max_seq: c.max_seq,
                merged: c.merged,
                has_hint: c.has_hint,
                active: id == active,
            };
            let t = &mut out.total;
            t.file_bytes += s.file_bytes;
            t.live_keys += s.live_keys;
            t.live_bytes += s.live_bytes;
            t.dead_keys += s.dead_keys;
            t.dead_bytes += s.dead_bytes;
            t.tombstones += s.tombstones;
            if s.min_seq != 0 && (t.min_seq == 0 || s.min_seq < t.min_seq) {
                t.min_seq = s.min_seq;
            }
            t.max_seq = t.max_seq.max(s.max_seq);
            out.segments.push(s);
        }
        out
    }
}
