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
    let options = SegmentLogOptions::default();
    let mut s = open(&vfs, &options).expect("open");
    let model: Vec<_> = (1..=6).map(|i| entry(i, 1 + i / 3)).collect();
    s.append(&model).expect("append");
    let path = s.active_segment_path().to_path_buf();
    drop(s);
    let full = vfs.read_whole(&path).expect("read");
    // Record boundaries, from the store itself: the length of each prefix.
    let mut boundaries = vec![];
    {
        let v2 = MemVfs::new();
        let mut t = open(&v2, &options).expect("open");
        let p2 = t.active_segment_path().to_path_buf();
        boundaries.push(v2.read_whole(&p2).expect("read").len());
        for e in &model {
            t.append(std::slice::from_ref(e)).expect("append");
            boundaries.push(v2.read_whole(&p2).expect("read").len());
        }
    }
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
