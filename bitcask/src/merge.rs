//! Merge: rewrite the live records of sealed segments into one new segment,
//! while reads and writes go on.
//!
//! # Steps, and why each is safe
//! 1. Under `Always`, wait until every written record is applied, so "live"
//!    is decided on the keydir's final word about the inputs.
//! 2. Copy every input record that the keydir still points at (and that has
//!    not expired) into `NNNNNNNNNN.data.tmp`, which starts with a
//!    `SegmentInfo` record listing the inputs; write its hint alongside.
//!    Sequence numbers are kept, so the copy never beats a newer write.
//! 3. Keep a tombstone (or turn an expired put into one) only while some
//!    segment outside the merge could still hold an older value for its key:
//!    that is, while any segment outside the merge has a sequence number
//!    below the tombstone's. Otherwise the deleted value would come back on
//!    restart. (This plays the role of Basho's "tombstone v2", which records
//!    the segment of the deleted value, without growing the record.)
//! 4. fsync the output; fsync the active segment, so every write that made
//!    an input record dead is durable before the merge is; rename into
//!    `NNNNNNNNNN.data`, fsync the directory: the commit point. A crash before it leaves only `.tmp` files, removed on open; a
//!    crash after it leaves inputs that the output's `SegmentInfo` names as
//!    replaced, removed on open. Either way the contents are the same.
//! 5. Switch each keydir entry to its copy only if it still points at the
//!    old location (a write that came in meanwhile wins).
//! 6. Retire the inputs: they leave the segment table at once, and their
//!    files are removed (and the removal fsynced) when the last reader
//!    holding them lets go. Until then, every later merge output names them
//!    as replaced too, so merging this output away cannot resurrect them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::format::{self, FileKind, HintEntry, Record, RecordKind, SEGMENT_FLAG_MERGED};
use crate::hint::{self, HintWriter, TMP_SUFFIX};
use crate::keydir::Entry;
use crate::options::SyncPolicy;
use crate::segment::{self, Appender, Segment};
use crate::stats::{Counters, StoreStats};
use crate::store::{Inner, data_path, now_millis};

/// What one merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOutcome {
    /// The segments merged (and now removed).
    pub inputs: Vec<u32>,
    /// The segment written.
    pub output: u32,
    /// Total size of the input data files.
    pub bytes_before: u64,
    /// Size of the output data file.
    pub bytes_after: u64,
    /// Live records copied.
    pub records_copied: u64,
    /// Tombstones kept because an older value may exist outside the merge.
    pub tombstones_kept: u64,
    /// Tombstones (and expired records) dropped.
    pub dropped: u64,
    /// Wall time the merge took, waiting for the merge lock excluded.
    pub duration: Duration,
}

struct Switch {
    key: Vec<u8>,
    old: (u32, u32),
    new: Entry,
}

/// Throttles merge output to a byte rate.
struct RateLimiter {
    bytes_per_sec: Option<u64>,
    start: Instant,
    bytes: u64,
}

impl RateLimiter {
    fn wrote(&mut self, bytes: u64) {
        self.bytes += bytes;
        let Some(rate) = self.bytes_per_sec else {
            return;
        };
        // Checked every 64 KiB so the sleeps are few and short.
        if self.bytes % (64 * 1024) < bytes {
            let due = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
            let elapsed = self.start.elapsed();
            if due > elapsed {
                std::thread::sleep(due - elapsed);
            }
        }
    }
}

impl Inner {
    /// Segments that are not the active one, in id order.
    fn sealed_ids(&self) -> Result<(u32, Vec<u32>)> {
        let writer = self.writer.as_ref().ok_or_else(|| Error::ReadOnly {
            path: self.dir.clone(),
        })?;
        let active = {
            let w = writer.lock();
            w.refuse_if_failed(&self.dir)?;
            w.active_id
        };
        let ids = self
            .segments
            .read()
            .keys()
            .copied()
            .filter(|&id| id != active)
            .collect();
        Ok((active, ids))
    }

    /// Picks the segments the policy wants merged now (empty: none).
    pub(crate) fn select_by_policy(&self, stats: &StoreStats) -> Vec<u32> {
        let policy = &self.options.merge;
        let sealed: Vec<_> = stats.segments.iter().filter(|s| !s.active).collect();
        let triggered = sealed.iter().any(|s| {
            s.fragmentation() >= policy.trigger_fragmentation
                || s.dead_bytes >= policy.trigger_dead_bytes
        });
        if !triggered {
            return Vec::new();
        }
        let mut chosen = Vec::new();
        let mut live = 0;
        let mut reclaimable = 0u64;
        for s in sealed {
            let include = s.fragmentation() >= policy.include_fragmentation
                || s.dead_bytes >= policy.include_dead_bytes
                || s.file_bytes < policy.small_file_bytes;
            if !include {
                continue;
            }
            if live + s.live_bytes > policy.max_merge_bytes && !chosen.is_empty() {
                break;
            }
            live += s.live_bytes;
            // Tombstones a previous merge kept are likely still needed.
            let kept = if s.merged {
                s.tombstones * format::RECORD_HEADER_LEN as u64
            } else {
                0
            };
            reclaimable += s
                .dead_bytes
                .saturating_sub(format::FILE_HEADER_LEN as u64 + 64 + kept);
            chosen.push(s.id);
        }
        // Rewriting one segment with nothing to reclaim would loop forever.
        if chosen.len() == 1 && reclaimable == 0 {
            return Vec::new();
        }
        chosen
    }

    /// Merges what the policy selects, repeatedly, until it selects nothing.
    pub(crate) fn merge_by_policy(&self) -> Result<Vec<MergeOutcome>> {
        // A stopped store refuses merges even when none would be selected.
        self.sealed_ids()?;
        let mut outcomes = Vec::new();
        for _ in 0..64 {
            let selected = self.select_by_policy(&self.stats());
            if selected.is_empty() {
                break;
            }
            outcomes.push(self.merge_segments(&selected)?);
        }
        Ok(outcomes)
    }

    /// Seals the active segment and merges every sealed segment, in groups of
    /// at most `max_merge_bytes` of live data.
    pub(crate) fn merge_all(&self) -> Result<Vec<MergeOutcome>> {
        self.rotate_now()?;
        let (_, ids) = self.sealed_ids()?;
        let stats = self.stats();
        let mut outcomes = Vec::new();
        let mut group = Vec::new();
        let mut live = 0;
        for id in ids {
            let bytes = stats
                .segments
                .iter()
                .find(|s| s.id == id)
                .map_or(0, |s| s.live_bytes);
            if !group.is_empty() && live + bytes > self.options.merge.max_merge_bytes {
                outcomes.push(self.merge_segments(&group)?);
                group.clear();
                live = 0;
            }
            group.push(id);
            live += bytes;
        }
        if !group.is_empty() {
            outcomes.push(self.merge_segments(&group)?);
        }
        Ok(outcomes)
    }

    /// Merges exactly the sealed segments `ids`; counts the merge in
    /// [`crate::MergeTotals`] and logs it as one line.
    pub(crate) fn merge_segments(&self, ids: &[u32]) -> Result<MergeOutcome> {
        let _merging = self.merge_lock.lock();
        let started = Instant::now();
        match self.merge_segments_locked(ids) {
            Ok(mut outcome) => {
                outcome.duration = started.elapsed();
                self.merge_totals.lock().add(&outcome);
                tracing::info!(
                    dir = %self.dir.display(),
                    inputs = ?outcome.inputs,
                    output = outcome.output,
                    bytes_before = outcome.bytes_before,
                    bytes_after = outcome.bytes_after,
                    bytes_reclaimed = outcome.bytes_before.saturating_sub(outcome.bytes_after),
                    records_copied = outcome.records_copied,
                    tombstones_kept = outcome.tombstones_kept,
                    dropped = outcome.dropped,
                    duration_ms = outcome.duration.as_secs_f64() * 1e3,
                    "merged segments"
                );
                Ok(outcome)
            }
            Err(e) => {
                // A refused request (no such segment, a read-only store) is
                // not a merge that failed.
                if !matches!(e, Error::InvalidOptions(_) | Error::ReadOnly { .. }) {
                    self.merge_totals.lock().failures += 1;
                }
                Err(e)
            }
        }
    }

    /// [`Inner::merge_segments`] under the merge lock.
    fn merge_segments_locked(&self, ids: &[u32]) -> Result<MergeOutcome> {
        let (active, sealed) = self.sealed_ids()?;
        let ids: BTreeSet<u32> = ids.iter().copied().collect();
        if ids.is_empty() {
            return Err(Error::InvalidOptions("merge of no segments".into()));
        }
        for id in &ids {
            if *id == active {
                return Err(Error::InvalidOptions(format!(
                    "segment {id} is the active segment; seal it first"
                )));
            }
            if !sealed.contains(id) {
                return Err(Error::InvalidOptions(format!("no segment {id} to merge")));
            }
        }
        if self.options.sync == SyncPolicy::Always {
            // Records still waiting for their fsync are not in the keydir yet;
            // a merge must not take them for dead.
            self.sync()?;
        }
        let inputs: Vec<Arc<Segment>> = {
            let segments = self.segments.read();
            ids.iter().map(|id| segments[id].clone()).collect()
        };
        let (outside_min_seq, bytes_before) = {
            let stats = self.stats.lock();
            let outside = stats
                .segments
                .iter()
                .filter(|(id, c)| !ids.contains(id) && c.min_seq != 0)
                .map(|(_, c)| c.min_seq)
                .min()
                .unwrap_or(u64::MAX);
            let before = ids
                .iter()
                .filter_map(|id| stats.segments.get(id))
                .map(|c| c.file_bytes)
                .sum();
            (outside, before)
        };

        let vfs = &*self.options.vfs;
        let output = self
            .next_segment_id
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let final_path = data_path(&self.dir, output);
        let mut tmp_name = final_path.as_os_str().to_owned();
        tmp_name.push(TMP_SUFFIX);
        let tmp_path = std::path::PathBuf::from(tmp_name);
        let result =
            self.write_merge_output(&inputs, output, &tmp_path, outside_min_seq, bytes_before);
        let (mut outcome, switches, expired, counters) = match result {
            Ok(done) => done,
            Err(e) => {
                let _ = vfs.remove_file(&tmp_path);
                let _ = vfs.remove_file(&hint::hint_path(&self.dir, output));
                return Err(e);
            }
        };

        // The scan judged records dead because of writes that may not be
        // durable yet (under Never/Interval). Make them durable before the
        // merge is: otherwise a crash could keep the merge but lose the write
        // that made a record dead, and the old value would vanish with it.
        if let Err(e) = self.sync() {
            let _ = vfs.remove_file(&tmp_path);
            let _ = vfs.remove_file(&hint::hint_path(&self.dir, output));
            return Err(e);
        }

        // Commit point.
        if let Err(e) = vfs.rename(&tmp_path, &final_path) {
            let _ = vfs.remove_file(&tmp_path);
            let _ = vfs.remove_file(&hint::hint_path(&self.dir, output));
            return Err(Error::io("rename", &tmp_path, e));
        }
        let committed = segment::sync_parent(vfs, &final_path)
            .and_then(|()| Segment::open(vfs, &final_path, false));
        let mut merged = match committed {
            Ok(merged) => merged,
            Err(e) => {
                // Undo the merge: an output on disk that the running store
                // does not know about would be missing from the tombstone
                // rule of later merges. If even that fails, stop writing;
                // the next open sees a complete merge and finishes it.
                let undone = vfs
                    .remove_file(&final_path)
                    .and_then(|()| vfs.sync_dir(&self.dir))
                    .is_ok();
                let _ = vfs.remove_file(&hint::hint_path(&self.dir, output));
                if !undone && let Some(writer) = &self.writer {
                    writer.lock().set_failed(format!(
                        "merge into segment {output} could be neither finished nor undone: {e}"
                    ));
                }
                return Err(e);
            }
        };
        if self.options.mmap_reads {
            merged.map_for_reading(counters.file_bytes);
        }
        self.segments.write().insert(output, Arc::new(merged));
        self.stats.lock().segments.insert(output, counters);
        // Switched in chunks, releasing the statistics mutex in between:
        // writers need it to make their writes visible, and a switch of
        // millions of keys in one go stalls them for the whole time. Each
        // key switches atomically on its own; until the inputs are retired
        // below, old and new locations are both readable.
        for chunk in switches.chunks(4096) {
            let mut stats = self.stats.lock();
            for switch in chunk {
                if self
                    .keydir
                    .replace_if_unchanged(&switch.key, switch.old, switch.new)
                {
                    let old = Entry {
                        segment: switch.old.0,
                        offset: switch.old.1,
                        ..switch.new
                    };
                    stats.live_removed(&old, switch.key.len());
                    stats.live_added(&switch.new, switch.key.len());
                }
            }
        }
        {
            let mut stats = self.stats.lock();
            for (key, old) in expired {
                if let Some(removed) = self.keydir.remove_if_unchanged(&key, old) {
                    stats.live_removed(&removed, key.len());
                }
            }
            for id in &ids {
                stats.segments.remove(id);
            }
        }
        {
            let mut segments = self.segments.write();
            for id in &ids {
                if let Some(segment) = segments.remove(id) {
                    self.retired.lock().insert(*id);
                    let retired = Arc::downgrade(&self.retired);
                    let id = *id;
                    segment.remove_when_unused(
                        self.options.vfs.clone(),
                        vec![data_path(&self.dir, id), hint::hint_path(&self.dir, id)],
                        Box::new(move |durable| {
                            if durable && let Some(retired) = retired.upgrade() {
                                retired.lock().remove(&id);
                            }
                        }),
                    );
                }
            }
        }
        outcome.inputs = ids.into_iter().collect();
        outcome.output = output;
        Ok(outcome)
    }

    #[allow(clippy::type_complexity)]
    fn write_merge_output(
        &self,
        inputs: &[Arc<Segment>],
        output: u32,
        tmp_path: &std::path::Path,
        outside_min_seq: u64,
        bytes_before: u64,
    ) -> Result<(
        MergeOutcome,
        Vec<Switch>,
        Vec<(Vec<u8>, (u32, u32))>,
        Counters,
    )> {
        let vfs = &*self.options.vfs;
        let _ = vfs.remove_file(tmp_path);
        let segment = Segment::create(vfs, tmp_path, FileKind::Data, u64::from(output))?;
        let mut out = Appender::new(Arc::new(segment), format::FILE_HEADER_LEN as u64);
        let mut hints = HintWriter::create(vfs, &self.dir, output)?;
        // Also name segments retired by earlier merges whose removal is not
        // durable yet: if this output replaces the output that named them,
        // a crash must still not bring them back.
        let mut replaced_ids: BTreeSet<u32> = inputs.iter().map(|s| s.id() as u32).collect();
        replaced_ids.extend(self.retired.lock().iter().copied());
        let replaced: Vec<u8> = replaced_ids
            .iter()
            .flat_map(|id| id.to_le_bytes())
            .collect();
        let info = Record {
            kind: RecordKind::SegmentInfo,
            seq: 0,
            meta: SEGMENT_FLAG_MERGED,
            key: b"",
            value: &replaced,
        };
        out.append(&info);
        let mut counters = Counters {
            file_bytes: format::FILE_HEADER_LEN as u64 + info.encoded_len() as u64,
            merged: true,
            has_hint: true,
            ..Counters::default()
        };
        let mut outcome = MergeOutcome {
            bytes_before,
            ..MergeOutcome::default()
        };
        let mut switches = Vec::new();
        let mut expired = Vec::new();
        let mut limiter = RateLimiter {
            bytes_per_sec: self.options.merge.rate_limit_bytes_per_sec,
            start: Instant::now(),
            bytes: 0,
        };
        let now = now_millis();
        // Dropped records (batch markers, tombstones) may hold the highest
        // sequence numbers; the hint keeps them so numbers are never reused.
        let inputs_max_seq = {
            let stats = self.stats.lock();
            inputs
                .iter()
                .filter_map(|s| stats.segments.get(&(s.id() as u32)))
                .map(|c| c.max_seq)
                .max()
                .unwrap_or(0)
        };
        let mut failure = None;
        for input in inputs {
            let input_id = input.id() as u32;
            let end = segment::scan(input, |offset, record| {
                if self.closing.load(std::sync::atomic::Ordering::Acquire) {
                    return Err(Error::Failed {
                        path: self.dir.clone(),
                        reason: "merge abandoned: the store is closing".into(),
                    });
                }
                let mut copy = |record: &Record<'_>| -> Result<u64> {
                    if out.len() > u64::from(u32::MAX) {
                        return Err(Error::InvalidOptions(format!(
                            "merge output would pass 4 GiB (record offsets are 32-bit); \
                             merge fewer segments at once (merged so far: {} bytes)",
                            out.len()
                        )));
                    }
                    let new_offset = out.append(record);
                    let len = record.encoded_len() as u64;
                    counters.file_bytes += len;
                    counters.saw_seq(record.seq);
                    match record.kind {
                        RecordKind::Put => counters.puts += 1,
                        _ => counters.tombstones += 1,
                    }
                    hints.add(&HintEntry {
                        kind: record.kind,
                        seq: record.seq,
                        expiry: record.meta,
                        offset: new_offset as u32,
                        value_len: record.value.len() as u32,
                        key: record.key,
                    })?;
                    if out.buffered().len() >= 1 << 20 {
                        out.flush()?;
                    }
                    limiter.wrote(len);
                    Ok(new_offset)
                };
                let older_value_may_exist = outside_min_seq < record.seq;
                match record.kind {
                    RecordKind::Put => {
                        let current = self.keydir.get(record.key);
                        let live = current.is_some_and(|e| {
                            !e.tombstone && e.segment == input_id && u64::from(e.offset) == offset
                        });
                        if !live {
                            return Ok(());
                        }
                        if record.meta != 0 && record.meta <= now {
                            expired.push((record.key.to_vec(), (input_id, offset as u32)));
                            if older_value_may_exist {
                                copy(&Record {
                                    kind: RecordKind::Tombstone,
                                    meta: 0,
                                    value: b"",
                                    ..record
                                })?;
                                outcome.tombstones_kept += 1;
                            } else {
                                outcome.dropped += 1;
                            }
                            return Ok(());
                        }
                        let new_offset = copy(&record)?;
                        outcome.records_copied += 1;
                        switches.push(Switch {
                            key: record.key.to_vec(),
                            old: (input_id, offset as u32),
                            new: Entry {
                                segment: output,
                                offset: new_offset as u32,
                                value_len: record.value.len() as u32,
                                seq: record.seq,
                                expiry: record.meta,
                                tombstone: false,
                            },
                        });
                    }
                    RecordKind::Tombstone => {
                        if older_value_may_exist {
                            copy(&record)?;
                            outcome.tombstones_kept += 1;
                        } else {
                            outcome.dropped += 1;
                        }
                    }
                    // Batches in sealed segments are committed; their markers
                    // and old segment infos have no meaning in the output.
                    _ => {}
                }
                Ok(())
            });
            match end {
                Ok(segment::ScanEnd::Clean { .. }) => {}
                Ok(segment::ScanEnd::Torn { valid_len, .. }) => {
                    failure = Some(Error::corrupted(
                        input.path(),
                        valid_len,
                        "unreadable tail in a sealed segment; merge aborted",
                    ));
                    break;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        out.sync()?;
        outcome.bytes_after = out.len();
        counters.file_bytes = out.len();
        // Numbers of dropped records stay "used": a merge of this output must
        // not hand out a lower maximum.
        counters.max_seq = counters.max_seq.max(inputs_max_seq);
        hints.finish(vfs, out.len(), inputs_max_seq)?;
        Ok((outcome, switches, expired, counters))
    }
}

/// Runs [`Inner::merge_by_policy`] every `every` until the store closes.
pub(crate) fn start_background_merger(inner: &Arc<Inner>, every: Duration) {
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    *inner.merger_stop.lock() = Some(stop_tx);
    let weak = Arc::downgrade(inner);
    let spawned = std::thread::Builder::new()
        .name("bitcask-merge".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stop_rx.recv_timeout(every) {
                let Some(inner) = weak.upgrade() else { return };
                match inner.merge_by_policy() {
                    // Each merge logged its own line.
                    Ok(done) if !done.is_empty() => {
                        tracing::debug!(merges = done.len(), "background merge finished")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "background merge failed"),
                }
            }
        });
    match spawned {
        Ok(handle) => inner.background.lock().push(handle),
        Err(e) => tracing::error!(error = %e, "could not start the background merger"),
    }
}
