//! Crash, torn-tail, corruption and fault tests of the segment log store,
//! on bitcask's in-memory file system.

use std::path::Path;
use std::sync::Arc;

use bitcask::vfs::{MemVfs, Vfs};
use raftlog::storage::{SegmentLogOptions, SegmentLogStore};
use raftlog::{Entry, EntryPayload, HardState, Index, LogStore, StorageError, Term};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Store = SegmentLogStore<String>;

fn entry(index: Index, term: Term) -> Entry<String> {
    Entry {
        index,
        term,
        payload: EntryPayload::Command(format!("payload-{index}-{term}")),
    }
}

fn big_entry(index: Index, term: Term, len: usize) -> Entry<String> {
    let text = format!("payload-{index}-{term}-");
    Entry {
        index,
        term,
        payload: EntryPayload::Command(text.repeat(len / text.len() + 1)[..len].to_string()),
    }
}

fn open(vfs: &MemVfs, options: &SegmentLogOptions) -> Result<Store, StorageError> {
    SegmentLogStore::open(
        Arc::new(vfs.clone()) as Arc<dyn Vfs>,
        Path::new("/log"),
        options.clone(),
    )
}

fn all(s: &Store) -> Vec<Entry<String>> {
    s.entries(s.first_index(), s.last_index() + 1, None)
        .expect("entries")
}

/// Every operation is synced before it returns, so a crash right after any
/// of them (keeping any amount of unsynced bytes) loses nothing.
#[test]
fn crash_after_any_operation_loses_nothing() {
    for seed in 0..20u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let vfs = MemVfs::new();
        let options = SegmentLogOptions {
            max_segment_bytes: rng.random_range(100..2000),
            ..SegmentLogOptions::default()
        };
        let mut s = open(&vfs, &options).expect("open");
        let mut model: Vec<Entry<String>> = Vec::new();
        let mut hs = HardState::default();
        for step in 0..60 {
            match rng.random_range(0..6) {
                0..=2 => {
                    let term = model.last().map_or(1, |e| e.term) + rng.random_range(0..2);
                    let lo = model.len() as Index + 1;
                    let batch: Vec<_> = (lo..lo + rng.random_range(1..10))
                        .map(|i| entry(i, term))
                        .collect();
                    s.append(&batch).expect("append");
                    model.extend(batch);
                }
                3 => {
                    let to = rng.random_range(0..=model.len() as Index);
                    s.truncate_after(to).expect("truncate");
                    model.truncate(to as usize);
                }
                _ => {
                    hs = HardState {
                        term: hs.term + 1,
                        voted_for: rng.random_bool(0.5).then_some(rng.random_range(0..4)),
                    };
                    s.save_hard_state(hs).expect("save");
                }
            }
            drop(s);
            let keep_fraction: f64 = rng.random();
            vfs.crash(|_, unsynced| (unsynced as f64 * keep_fraction) as u64);
            s = open(&vfs, &options)
                .unwrap_or_else(|e| panic!("seed {seed} step {step}: reopen failed: {e}"));
            assert_eq!(all(&s), model, "seed {seed} step {step}: log after crash");
            assert_eq!(
                s.hard_state().expect("hs"),
                hs,
                "seed {seed} step {step}: hard state after crash"
            );
        }
    }
}

/// Cutting the newest segment at every byte offset (a crash mid-append that
/// wrote part of a record) recovers exactly the complete records before the cut.
#[test]
fn torn_tail_at_every_offset_recovers_the_prefix() {
    let vfs = MemVfs::new();
    // A segment that grows with its appends (see the next test for one
    // prepared with zeros).
    let options = SegmentLogOptions {
        preallocate_bytes: 0,
        ..SegmentLogOptions::default()
    };
    let mut s = open(&vfs, &options).expect("open");
    let model: Vec<_> = (1..=6).map(|i| entry(i, 1 + i / 3)).collect();
    s.append(&model).expect("append");
    let path = s.active_segment_path().to_path_buf();
    drop(s);
    let full = vfs.read_whole(&path).expect("read");
    // Record boundaries, from the store itself: the length of each prefix.
    let boundaries = boundaries(&model);
    for cut in boundaries[0]..=full.len() {
        vfs.write_whole(&path, &full[..cut]).expect("write");
        let s = open(&vfs, &options).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let complete = boundaries.iter().filter(|&&b| b <= cut).count() - 1;
        assert_eq!(all(&s), model[..complete].to_vec(), "cut at byte {cut}");
        // The torn bytes are gone: the next append continues cleanly.
        drop(s);
        vfs.write_whole(&path, &full).expect("restore");
    }
}

/// Record boundaries of `model` appended one entry at a time to a fresh
/// store that does not preallocate: the length of each prefix.
fn boundaries(model: &[Entry<String>]) -> Vec<usize> {
    let vfs = MemVfs::new();
    let options = SegmentLogOptions {
        preallocate_bytes: 0,
        ..SegmentLogOptions::default()
    };
    let mut t = open(&vfs, &options).expect("open");
    let path = t.active_segment_path().to_path_buf();
    let mut out = vec![vfs.read_whole(&path).expect("read").len()];
    for e in model {
        t.append(std::slice::from_ref(e)).expect("append");
        out.push(vfs.read_whole(&path).expect("read").len());
    }
    out
}

/// The newest segment is prepared with zeros ahead of its appends. Zeroing
/// it from any byte on (an append whose later bytes never reached the disk)
/// recovers exactly the complete records before that byte; the zeros after
/// the last record are not an error either.
#[test]
fn prepared_segment_zeroed_from_every_offset_recovers_the_prefix() {
    let vfs = MemVfs::new();
    let options = SegmentLogOptions {
        preallocate_bytes: 4096,
        ..SegmentLogOptions::default()
    };
    let mut s = open(&vfs, &options).expect("open");
    let model: Vec<_> = (1..=6).map(|i| entry(i, 1 + i / 3)).collect();
    s.append(&model).expect("append");
    let path = s.active_segment_path().to_path_buf();
    drop(s);
    let full = vfs.read_whole(&path).expect("read");
    let bounds = boundaries(&model);
    let logical = *bounds.last().expect("bounds");
    assert_eq!(full.len(), 4096, "the segment is prepared to the step");
    assert!(full[logical..].iter().all(|&b| b == 0));
    for cut in bounds[0]..=logical {
        let mut bytes = full.clone();
        bytes[cut..].fill(0);
        vfs.write_whole(&path, &bytes).expect("write");
        let s = open(&vfs, &options).unwrap_or_else(|e| panic!("zeroed from {cut}: {e}"));
        let complete = bounds.iter().filter(|&&b| b <= cut).count() - 1;
        assert_eq!(
            all(&s),
            model[..complete].to_vec(),
            "zeroed from byte {cut}"
        );
        drop(s);
        vfs.write_whole(&path, &full).expect("restore");
    }
}

/// A power loss while an append's fsync is under way may keep any subset of
/// the sectors it overwrote inside prepared space, so a valid record can
/// follow an unreadable one. The opener cuts the log at the first
/// unreadable record and keeps every entry whose append was acknowledged;
/// what follows is a prefix of the interrupted append, and the log goes on.
#[test]
fn power_loss_mid_append_inside_prepared_space_keeps_every_acknowledged_entry() {
    for seed in 0..200u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let vfs = MemVfs::new();
        let options = SegmentLogOptions {
            max_segment_bytes: rng.random_range(3000..20_000),
            preallocate_bytes: [512, 1536, 4096, 8192][rng.random_range(0..4)],
        };
        let ctx = format!("seed {seed} options {options:?}");
        let mut s = open(&vfs, &options).expect("open");
        let mut acked: Vec<Entry<String>> = Vec::new();
        for _ in 0..rng.random_range(0..8) {
            let lo = acked.len() as Index + 1;
            let batch: Vec<_> = (lo..lo + rng.random_range(1..12))
                .map(|i| big_entry(i, 1, rng.random_range(10..900)))
                .collect();
            s.append(&batch).expect("append");
            acked.extend(batch);
        }
        // The interrupted append: its writes land in the page cache, then
        // the file system fails before (or while) they are synced.
        let lo = acked.len() as Index + 1;
        let pending: Vec<_> = (lo..lo + rng.random_range(1..20))
            .map(|i| big_entry(i, 2, rng.random_range(10..900)))
            .collect();
        vfs.fail_after_ops(rng.random_range(0..4));
        if s.append(&pending).is_ok() {
            acked.extend(pending.iter().cloned());
        }
        drop(s);
        let keep_probability: f64 = rng.random();
        vfs.power_loss_sectors(|_, _| rng.random_bool(keep_probability));
        let mut s = open(&vfs, &options).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
        let got = all(&s);
        assert!(got.len() >= acked.len(), "{ctx}: lost acknowledged entries");
        assert_eq!(got[..acked.len()], acked[..], "{ctx}: acknowledged entries");
        assert_eq!(
            got[acked.len()..],
            pending[..got.len() - acked.len()],
            "{ctx}: beyond the acknowledged entries only a prefix of the interrupted append"
        );
        // The log goes on, and what it now holds is durable.
        let next = s.last_index() + 1;
        let more = vec![entry(next, 3), entry(next + 1, 3)];
        s.append(&more)
            .unwrap_or_else(|e| panic!("{ctx}: append after reopen: {e}"));
        let expected: Vec<_> = got.into_iter().chain(more).collect();
        drop(s);
        vfs.power_loss_sectors(|_, _| false);
        let s = open(&vfs, &options).unwrap_or_else(|e| panic!("{ctx}: second reopen: {e}"));
        assert_eq!(all(&s), expected, "{ctx}: after the second power loss");
    }
}

/// A sealed segment holds nothing past its last record: the zeros prepared
/// for it are cut, durably, before the next segment is created.
#[test]
fn rotation_cuts_the_prepared_space_of_the_sealed_segment() {
    for (step, batch) in [(300, 1), (1000, 1), (1000, 3), (4096, 2), (700, 5)] {
        rotation_cuts_prepared_space(step, batch);
    }
}

fn rotation_cuts_prepared_space(preallocate_bytes: u64, batch: usize) {
    let vfs = MemVfs::new();
    let options = SegmentLogOptions {
        max_segment_bytes: 4096,
        preallocate_bytes,
    };
    let mut s = open(&vfs, &options).expect("open");
    let model: Vec<_> = (1..=200).map(|i| big_entry(i, 1, 100)).collect();
    for chunk in model.chunks(batch) {
        s.append(chunk).expect("append");
    }
    assert!(s.segment_count() > 3);
    let newest = s.active_segment_path().to_path_buf();
    drop(s);
    vfs.power_loss_sectors(|_, _| false);
    let mut names = vfs.list_dir(Path::new("/log")).expect("list");
    names.retain(|n| n.ends_with(".seg"));
    for name in names {
        let path = Path::new("/log").join(&name);
        let segment = bitcask::segment::Segment::open(&vfs, &path, false).expect("segment");
        let end = bitcask::segment::scan(&segment, |_, _| Ok(())).expect("scan");
        if path == newest {
            assert!(
                matches!(end, bitcask::segment::ScanEnd::Torn { .. }),
                "{name}: the newest segment is prepared"
            );
        } else {
            assert!(
                matches!(end, bitcask::segment::ScanEnd::Clean { .. }),
                "{name}: a sealed segment ends in its last record: {end:?} (step {preallocate_bytes}, batch {batch})"
            );
        }
    }
    let s = open(&vfs, &options).expect("reopen");
    assert_eq!(all(&s), model);
}

/// The mark of an unfinished write — a whole sector of zeros inside a
/// record of the newest segment — cuts the log there even though valid
/// records follow; the same record with one flipped bit is corruption.
#[test]
fn an_unwritten_sector_cuts_the_newest_segment_but_a_flipped_bit_is_corruption() {
    let vfs = MemVfs::new();
    let options = SegmentLogOptions::default();
    let mut s = open(&vfs, &options).expect("open");
    let model: Vec<_> = (1..=6).map(|i| big_entry(i, 1, 1500)).collect();
    s.append(&model).expect("append");
    let path = s.active_segment_path().to_path_buf();
    drop(s);
    let full = vfs.read_whole(&path).expect("read");
    let bounds = boundaries(&model);
    // A sector wholly inside entry 3's record.
    let sector = bounds[2].div_ceil(512) * 512;
    assert!(sector + 512 <= bounds[3]);
    let mut unwritten = full.clone();
    unwritten[sector..sector + 512].fill(0);
    vfs.write_whole(&path, &unwritten).expect("write");
    let s = open(&vfs, &options).expect("open with an unwritten sector");
    assert_eq!(all(&s), model[..2].to_vec());
    drop(s);
    let mut flipped = full.clone();
    flipped[sector + 100] ^= 0x08;
    vfs.write_whole(&path, &flipped).expect("write");
    match open(&vfs, &options) {
        Err(StorageError::Corrupted { offset, .. }) => assert_eq!(offset, bounds[2] as u64),
        other => panic!("expected corruption, got {:?}", other.map(|s| all(&s))),
    }
}

/// A damaged record followed by valid ones is corruption, reported with the
/// file and the offset, never silently truncated.
#[test]
fn corruption_in_the_middle_is_an_error_naming_file_and_offset() {
    let vfs = MemVfs::new();
    let options = SegmentLogOptions::default();
    let mut s = open(&vfs, &options).expect("open");
    s.append(&(1..=5).map(|i| entry(i, 1)).collect::<Vec<_>>())
        .expect("append");
    let path = s.active_segment_path().to_path_buf();
    drop(s);
    let mut bytes = vfs.read_whole(&path).expect("read");
    let header = bitcask::format::FILE_HEADER_LEN;
    bytes[header + 10] ^= 0x40; // inside the first record
    vfs.write_whole(&path, &bytes).expect("write");
    match open(&vfs, &options) {
        Err(StorageError::Corrupted {
            path: p, offset, ..
        }) => {
            assert_eq!(p, path);
            assert_eq!(offset, header as u64);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

/// Injected I/O failures surface as errors (never panics), and whatever
/// survives a crash afterwards is the log before the failed batch or after it.
#[test]
fn io_faults_are_errors_and_leave_a_consistent_log() {
    for fail_after in 0..12u64 {
        let vfs = MemVfs::new();
        let options = SegmentLogOptions {
            max_segment_bytes: 300,
            ..SegmentLogOptions::default()
        };
        let mut s = open(&vfs, &options).expect("open");
        let before: Vec<_> = (1..=5).map(|i| entry(i, 1)).collect();
        s.append(&before).expect("append");
        let batch: Vec<_> = (6..=12).map(|i| entry(i, 2)).collect();
        vfs.fail_after_ops(fail_after);
        let result = s.append(&batch);
        drop(s);
        vfs.crash(|_, n| n / 2);
        let s =
            open(&vfs, &options).unwrap_or_else(|e| panic!("fail_after {fail_after}: reopen: {e}"));
        let got = all(&s);
        let mut after = before.clone();
        after.extend(batch.clone());
        assert!(
            got.len() >= before.len() && got[..] == after[..got.len()],
            "fail_after {fail_after}: {got:?}"
        );
        if result.is_ok() {
            assert_eq!(
                got, after,
                "fail_after {fail_after}: an acknowledged batch must survive"
            );
        }
    }
}

#[test]
fn hard_state_survives_rewrites_and_crashes() {
    let vfs = MemVfs::new();
    let options = SegmentLogOptions::default();
    let mut s = open(&vfs, &options).expect("open");
    // Enough saves to trigger several rewrites of the hard-state file.
    for term in 1..2000u64 {
        let hs = HardState {
            term,
            voted_for: Some(term % 3),
        };
        s.save_hard_state(hs).expect("save");
        if term % 397 == 0 {
            drop(s);
            vfs.crash(|_, n| n);
            s = open(&vfs, &options).expect("reopen");
            assert_eq!(s.hard_state().expect("hs"), hs);
        }
    }
    // Node id 0 is a valid vote, distinct from "no vote".
    s.save_hard_state(HardState {
        term: 5000,
        voted_for: Some(0),
    })
    .expect("save");
    drop(s);
    let s = open(&vfs, &options).expect("reopen");
    assert_eq!(
        s.hard_state().expect("hs"),
        HardState {
            term: 5000,
            voted_for: Some(0)
        }
    );
}

#[test]
fn a_second_opener_is_refused() {
    let vfs = MemVfs::new();
    let options = SegmentLogOptions::default();
    let _s = open(&vfs, &options).expect("open");
    assert!(
        open(&vfs, &options).is_err(),
        "the directory lock must refuse a second opener"
    );
}

/// A process crash between the write of a batch and its fsync leaves the
/// entries in the page cache. The restarted node reports them in its log
/// (and would acknowledge them to a leader), so open must make them durable:
/// a later power loss may not take back what the reopened store reported.
#[test]
fn entries_inherited_from_a_killed_process_are_durable_once_reported() {
    for fail_at in 0..6 {
        let vfs = MemVfs::new();
        let options = SegmentLogOptions {
            max_segment_bytes: 300,
            ..SegmentLogOptions::default()
        };
        let mut s = open(&vfs, &options).expect("open");
        s.append(&(1..=5).map(|i| entry(i, 1)).collect::<Vec<_>>())
            .expect("append");
        vfs.fail_after_ops(fail_at);
        let _ = s.append(&(6..=12).map(|i| entry(i, 2)).collect::<Vec<_>>());
        vfs.process_crash();
        drop(s);

        let s = open(&vfs, &options).expect("reopen after process crash");
        let reported = all(&s);
        drop(s);
        vfs.power_loss(|_, _| 0);
        let s = open(&vfs, &options).expect("reopen after power loss");
        assert_eq!(all(&s), reported, "fault at operation {fail_at}");
    }
}

/// The same for the hard state: a term and vote read back after a process
/// crash must still be there after a power loss, or the node could vote
/// twice in one term.
#[test]
fn hard_state_inherited_from_a_killed_process_is_durable_once_read() {
    for fail_at in 0..4 {
        let vfs = MemVfs::new();
        let options = SegmentLogOptions::default();
        let mut s = open(&vfs, &options).expect("open");
        s.save_hard_state(HardState {
            term: 3,
            voted_for: Some(1),
        })
        .expect("save");
        vfs.fail_after_ops(fail_at);
        let _ = s.save_hard_state(HardState {
            term: 4,
            voted_for: Some(2),
        });
        vfs.process_crash();
        drop(s);

        let s = open(&vfs, &options).expect("reopen after process crash");
        let read = s.hard_state().expect("hard state");
        drop(s);
        vfs.power_loss(|_, _| 0);
        let s = open(&vfs, &options).expect("reopen after power loss");
        assert_eq!(
            s.hard_state().expect("hard state"),
            read,
            "fault at operation {fail_at}"
        );
    }
}

/// Installing a snapshot that replaces the log (record, then every segment
/// removed, then a fresh segment) fails at every file operation in turn and
/// the node loses power or is killed: the reopened store is the old log
/// without the snapshot, or the snapshot with an empty log after it — never
/// a log inconsistent with its snapshot. An acknowledged install survives.
#[test]
fn snapshot_install_interrupted_at_every_operation_is_old_or_new() {
    use raftlog::SnapshotMeta;
    use raftlog::storage::restore;
    for fail_after in 0..40u64 {
        for power_loss in [false, true] {
            let ctx = format!("fail_after {fail_after} power_loss {power_loss}");
            let vfs = MemVfs::new();
            let options = SegmentLogOptions {
                max_segment_bytes: 300,
                ..SegmentLogOptions::default()
            };
            let mut s = open(&vfs, &options).expect("open");
            let old: Vec<_> = (1..=30).map(|i| entry(i, 1 + i / 10)).collect();
            s.append(&old).expect("append");
            let snap = SnapshotMeta {
                index: 50,
                term: 7,
                voters: vec![1, 2, 3],
                learners: vec![],
            };
            vfs.fail_after_ops(fail_after);
            let result = s.save_snapshot(&snap);
            drop(s);
            vfs.clear_faults();
            if power_loss {
                vfs.crash(|_, n| n / 2);
            } else {
                vfs.process_crash();
            }
            let s = open(&vfs, &options).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
            let restored = restore(&s).unwrap_or_else(|e| panic!("{ctx}: restore: {e}"));
            match &restored.snapshot {
                None => {
                    assert!(result.is_err(), "{ctx}: an acknowledged snapshot was lost");
                    assert_eq!(restored.entries, old, "{ctx}: the old log must be intact");
                }
                Some(got) => {
                    assert_eq!(got, &snap, "{ctx}: snapshot");
                    assert!(restored.entries.is_empty(), "{ctx}: {:?}", restored.entries);
                    assert_eq!(s.first_index(), 51, "{ctx}: first index");
                }
            }
            // Whatever survived, the store goes on.
            let mut s = s;
            let next = s.last_index() + 1;
            s.append(&[entry(next, 8)])
                .unwrap_or_else(|e| panic!("{ctx}: append after reopen: {e}"));
        }
    }
}

/// A snapshot inside the log keeps the entries after it, across purges and
/// reopen; the segment store then really holds fewer segments.
#[test]
fn matching_snapshot_keeps_the_suffix_and_purge_frees_segments() {
    use raftlog::SnapshotMeta;
    use raftlog::storage::restore;
    let vfs = MemVfs::new();
    let options = SegmentLogOptions {
        max_segment_bytes: 300,
        ..SegmentLogOptions::default()
    };
    let mut s = open(&vfs, &options).expect("open");
    let log: Vec<_> = (1..=100).map(|i| entry(i, 3)).collect();
    s.append(&log).expect("append");
    let before = s.segment_count();
    let snap = SnapshotMeta {
        index: 80,
        term: 3,
        voters: vec![1],
        learners: vec![],
    };
    s.save_snapshot(&snap).expect("save");
    s.purge_up_to(80).expect("purge");
    assert!(s.segment_count() < before, "purge removed no segment");
    drop(s);
    let s = open(&vfs, &options).expect("reopen");
    let restored = restore(&s).expect("restore");
    assert_eq!(restored.snapshot, Some(snap));
    assert_eq!(restored.entries, log[80..].to_vec());
}
