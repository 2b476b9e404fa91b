//! Merge, hint files, expiry and statistics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bitcask::vfs::{MemVfs, Vfs};
use bitcask::{BatchOp, Bitcask, MergePolicy, Options, StoreStats, SyncPolicy};
use rand::{Rng, SeedableRng};

const DIR: &str = "/m";

fn options(vfs: &MemVfs) -> Options {
    Options::default()
        .sync(SyncPolicy::Always)
        .max_file_size(4096)
        .vfs(Arc::new(vfs.clone()))
}

fn open(vfs: &MemVfs) -> Bitcask {
    Bitcask::open(DIR, options(vfs)).unwrap()
}

fn contents(store: &Bitcask) -> BTreeMap<Vec<u8>, Vec<u8>> {
    store.iter().map(|r| r.unwrap()).collect()
}

fn sealed(store: &Bitcask) -> Vec<u32> {
    let (ids, active) = store.segment_ids();
    ids.into_iter().filter(|id| Some(*id) != active).collect()
}

#[test]
fn tombstone_survives_a_merge_that_leaves_the_old_value_outside() {
    let vfs = MemVfs::new();
    let store = open(&vfs);
    store.put(b"k", b"old value").unwrap();
    store.rotate().unwrap();
    let with_value = sealed(&store);
    assert!(store.delete(b"k").unwrap());
    store.rotate().unwrap();
    let with_tombstone: Vec<u32> = sealed(&store)
        .into_iter()
        .filter(|id| !with_value.contains(id))
        .collect();
    // Merge only the newer segment: the tombstone must be kept, because the
    // older segment outside the merge still holds the value.
    let outcome = store.merge_segments(&with_tombstone).unwrap();
    assert_eq!(outcome.tombstones_kept, 1);
    assert_eq!(outcome.dropped, 0);
    drop(store);
    let store = open(&vfs);
    assert_eq!(store.get(b"k").unwrap(), None, "deleted value came back");
    // Merging everything may now drop it: nothing older is left outside.
    let outcomes = store.merge_all().unwrap();
    assert_eq!(outcomes.iter().map(|o| o.dropped).sum::<u64>(), 1);
    drop(store);
    let store = open(&vfs);
    assert_eq!(store.get(b"k").unwrap(), None);
    assert!(store.is_empty());
}

#[test]
fn randomized_partial_merges_never_resurrect_deleted_keys() {
    for seed in 0..40u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let vfs = MemVfs::new();
        let mut store = open(&vfs);
        let mut model = BTreeMap::new();
        for step in 0..300 {
            let key = format!("k{}", rng.random_range(0..20)).into_bytes();
            match rng.random_range(0..10) {
                0..=4 => {
                    let value = vec![rng.random::<u8>(); rng.random_range(1..200)];
                    store.put(&key, &value).unwrap();
                    model.insert(key, value);
                }
                5..=6 => {
                    store.delete(&key).unwrap();
                    model.remove(&key);
                }
                7 => store.rotate().unwrap(),
                8 => {
                    let ids: Vec<u32> = sealed(&store)
                        .into_iter()
                        .filter(|_| rng.random_bool(0.5))
                        .collect();
                    if !ids.is_empty() {
                        store.merge_segments(&ids).unwrap();
                    }
                }
                _ => {
                    drop(store);
                    store = open(&vfs);
                    assert_eq!(contents(&store), model, "seed {seed} step {step}");
                }
            }
        }
        drop(store);
        let store = open(&vfs);
        assert_eq!(contents(&store), model, "seed {seed} at the end");
    }
}

/// Writes a store with several sealed segments, all with hints; returns the
/// expected contents and the stats before closing.
fn store_with_hints(vfs: &MemVfs) -> (BTreeMap<Vec<u8>, Vec<u8>>, StoreStats) {
    let store = open(vfs);
    let mut model = BTreeMap::new();
    for i in 0..150u32 {
        let key = format!("key{}", i % 60).into_bytes();
        if i % 11 == 0 {
            store.delete(&key).unwrap();
            model.remove(&key);
        } else {
            let value = vec![i as u8; 40 + (i as usize % 30)];
            store.put(&key, &value).unwrap();
            model.insert(key, value);
        }
    }
    store
        .put_with_expiry(b"expiring", b"later", u64::MAX / 2)
        .unwrap();
    model.insert(b"expiring".to_vec(), b"later".to_vec());
    store.rotate().unwrap();
    let stats = store.stats();
    store.close().unwrap();
    (model, stats)
}

fn hint_files(vfs: &MemVfs) -> Vec<PathBuf> {
    vfs.list_dir(Path::new(DIR))
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".hint"))
        .map(|n| Path::new(DIR).join(n))
        .collect()
}

/// Everything the keydir holds, as seen through the public API.
fn keydir_view(store: &Bitcask) -> BTreeMap<Vec<u8>, (u32, u32, u32, u64, u64)> {
    store
        .keys()
        .map(|k| {
            let e = store.location(&k).unwrap();
            (k, (e.segment, e.offset, e.value_len, e.seq, e.expiry))
        })
        .collect()
}

/// `stats` without what a reopen legitimately changes: hint flags, the
/// active flag, and merge totals (counted since open).
fn without_hint_flags(mut stats: StoreStats) -> StoreStats {
    stats.merges = Default::default();
    for s in &mut stats.segments {
        s.has_hint = false;
        s.active = false;
    }
    stats
}

#[test]
fn hints_valid_missing_truncated_or_flipped_all_give_the_same_keydir() {
    let vfs = MemVfs::new();
    let (model, stats_before) = store_with_hints(&vfs);
    let hints = hint_files(&vfs);
    assert!(
        hints.len() >= 3,
        "expected several hint files, got {hints:?}"
    );

    let reference = {
        let store = Bitcask::open_read_only_with(DIR, options(&vfs)).unwrap();
        assert_eq!(contents(&store), model);
        let stats = store.stats();
        assert!(
            stats
                .segments
                .iter()
                .filter(|s| s.file_bytes > 24)
                .all(|s| s.has_hint)
        );
        // Statistics rebuilt from hints equal the ones kept while writing.
        assert_eq!(
            without_hint_flags(stats),
            without_hint_flags(stats_before.clone())
        );
        keydir_view(&store)
    };
    let check = |vfs: &MemVfs, what: &str| {
        let store = Bitcask::open_read_only_with(DIR, options(vfs))
            .unwrap_or_else(|e| panic!("{what}: open failed: {e}"));
        assert_eq!(keydir_view(&store), reference, "{what}");
        assert_eq!(contents(&store), model, "{what}");
        assert_eq!(
            without_hint_flags(store.stats()),
            without_hint_flags(stats_before.clone()),
            "{what}"
        );
    };

    let hint = hints[1].clone();
    let original = vfs.read_whole(&hint).unwrap();
    // Truncated at every offset.
    for cut in 0..original.len() {
        vfs.write_whole(&hint, &original[..cut]).unwrap();
        check(&vfs, &format!("hint cut at {cut}"));
    }
    // One flipped bit anywhere.
    for bit in 0..original.len() * 8 {
        let mut bad = original.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        vfs.write_whole(&hint, &bad).unwrap();
        check(&vfs, &format!("hint bit {bit} flipped"));
    }
    vfs.write_whole(&hint, &original).unwrap();
    // Missing altogether.
    for hint in &hints {
        vfs.remove_file(hint).unwrap();
    }
    check(&vfs, "no hints");
    // A read-write open writes the missing hints again.
    let store = open(&vfs);
    store.close().unwrap();
    assert_eq!(hint_files(&vfs).len(), hints.len());
    check(&vfs, "hints rewritten");
}

#[test]
fn a_hint_from_another_data_file_is_not_trusted() {
    let vfs = MemVfs::new();
    let (model, _) = store_with_hints(&vfs);
    let hints = hint_files(&vfs);
    // Put segment A's hint in place of segment B's.
    let a = vfs.read_whole(&hints[0]).unwrap();
    vfs.write_whole(&hints[1], &a).unwrap();
    let store = Bitcask::open_read_only_with(DIR, options(&vfs)).unwrap();
    assert_eq!(contents(&store), model);
}

#[test]
fn merge_crash_at_every_step_loses_nothing_and_leaves_no_orphans() {
    // Count the file operations a full merge performs.
    let probe = MemVfs::new();
    let (model, _) = store_with_hints(&probe);
    let mut step = 0;
    loop {
        let vfs = MemVfs::new();
        let _ = store_with_hints(&vfs);
        let store = open(&vfs);
        vfs.fail_after_ops(step);
        let finished = store.merge_all().is_ok();
        // Crash right there, keeping a random-ish part of unsynced bytes.
        vfs.crash(|_, unsynced| unsynced * (step % 3) / 2);
        drop(store);
        let store = open(&vfs);
        assert_eq!(contents(&store), model, "crash after {step} operations");
        store.close().unwrap();
        let names = vfs.list_dir(Path::new(DIR)).unwrap();
        assert!(
            names.iter().all(|n| !n.ends_with(".tmp")),
            "step {step}: leftovers {names:?}"
        );
        for name in &names {
            if let Some(id) = bitcask::parse_hint_name(name) {
                assert!(
                    names.contains(&format!("{id:010}.data")),
                    "step {step}: orphan {name}"
                );
            }
        }
        if finished {
            break;
        }
        step += 1;
        assert!(step < 500, "merge never finished");
    }
    assert!(step > 10, "the merge should take many file operations");
}

#[test]
fn reads_and_writes_continue_during_merges_on_another_thread() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Bitcask::open(
            dir.path(),
            Options::default()
                .sync(SyncPolicy::Never)
                .max_file_size(16 * 1024),
        )
        .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let merger = {
        let store = store.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut merges = 0;
            while !stop.load(Ordering::Acquire) {
                merges += store.merge_all().unwrap().len();
            }
            merges
        })
    };
    let mut model = BTreeMap::new();
    for round in 0..20_000u32 {
        let key = format!("key{}", round % 500).into_bytes();
        let value = format!("value-{round}").into_bytes();
        if round % 13 == 0 {
            store.delete(&key).unwrap();
            model.remove(&key);
        } else {
            store.put(&key, &value).unwrap();
            model.insert(key.clone(), value);
        }
        // Every read during the merges sees the latest write.
        assert_eq!(
            store.get(&key).unwrap(),
            model.get(&key).cloned(),
            "round {round}"
        );
    }
    stop.store(true, Ordering::Release);
    let merges = merger.join().unwrap();
    assert!(merges > 0, "no merge ran");
    assert_eq!(contents(&store), model);
    drop(store);
    let store = Bitcask::open(dir.path(), Options::default()).unwrap();
    assert_eq!(contents(&store), model);
}

#[test]
fn space_after_overwriting_everything_and_merging_is_within_ten_percent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Bitcask::open(
        dir.path(),
        Options::default()
            .sync(SyncPolicy::Never)
            .max_file_size(64 * 1024),
    )
    .unwrap();
    let n = 2000u32;
    for round in 0..2 {
        for i in 0..n {
            let value = vec![round as u8; 100];
            store
                .put(&format!("key-{i:08}").into_bytes(), &value)
                .unwrap();
        }
    }
    let before = store.stats().total;
    store.merge_all().unwrap();
    store.close().unwrap();
    let store = Bitcask::open(dir.path(), Options::default()).unwrap();
    let after = store.stats().total;
    let live = u64::from(n) * bitcask::format::record_len(12, 100) as u64;
    assert_eq!(after.live_bytes, live);
    let data_bytes: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".data"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(before.file_bytes > 2 * live);
    assert!(
        data_bytes <= live + live / 10,
        "data files hold {data_bytes} bytes for {live} live bytes"
    );
}

#[test]
fn expired_keys_are_invisible_and_merged_away() {
    let vfs = MemVfs::new();
    let store = open(&vfs);
    let past = 1_000;
    let future = bitcask::now_millis() + 3_600_000;
    store.put_with_expiry(b"gone", b"x", past).unwrap();
    store.put_with_expiry(b"later", b"y", future).unwrap();
    store.put(b"forever", b"z").unwrap();
    assert_eq!(store.get(b"gone").unwrap(), None);
    assert!(!store.contains_key(b"gone"));
    assert_eq!(store.expiry(b"gone"), None);
    assert_eq!(store.len(), 2);
    assert_eq!(store.keys().count(), 2);
    assert_eq!(store.expiry(b"later"), Some(future));
    assert_eq!(store.expiry(b"forever"), Some(0));
    // Expired bytes count as dead.
    let stats = store.stats();
    assert_eq!(stats.total.live_keys, 2);
    // Clearing and setting expiry rewrites the value.
    assert!(store.set_expiry(b"later", 0).unwrap());
    assert_eq!(store.expiry(b"later"), Some(0));
    assert!(store.set_expiry(b"forever", past).unwrap());
    assert_eq!(store.get(b"forever").unwrap(), None);
    assert!(
        !store.set_expiry(b"gone", 0).unwrap(),
        "expired keys stay gone"
    );
    assert!(!store.set_expiry(b"absent", 0).unwrap());
    let outcomes = store.merge_all().unwrap();
    assert!(outcomes.iter().map(|o| o.dropped).sum::<u64>() >= 2);
    drop(store);
    let store = open(&vfs);
    assert_eq!(contents(&store).len(), 1);
    assert_eq!(store.get(b"later").unwrap().as_deref(), Some(&b"y"[..]));
}

#[test]
fn statistics_are_exact_and_survive_reopen() {
    let vfs = MemVfs::new();
    let store = open(&vfs);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..2000 {
        let key = format!("k{}", rng.random_range(0..100)).into_bytes();
        match rng.random_range(0..10) {
            0..=6 => store
                .put(&key, &vec![1u8; rng.random_range(0..300)])
                .unwrap(),
            7 => {
                store.delete(&key).unwrap();
            }
            8 => store
                .write_batch(&[
                    BatchOp::put(key.clone(), b"b".to_vec()),
                    BatchOp::delete(b"k0".to_vec()),
                ])
                .unwrap(),
            _ => {
                store.merge().unwrap();
            }
        }
    }
    let stats = store.stats();
    assert_eq!(stats.total.live_keys as usize, store.len());
    let live_bytes: u64 = store
        .keys()
        .map(|k| bitcask::format::record_len(k.len(), store.get(&k).unwrap().unwrap().len()) as u64)
        .sum();
    assert_eq!(stats.total.live_bytes, live_bytes);
    // Segments of the store (a retired one can linger on disk until a
    // background hint writer that still reads it lets go).
    let (ids, _) = store.segment_ids();
    let on_disk: u64 = ids
        .iter()
        .map(|&id| {
            vfs.read_whole(&bitcask::data_path(Path::new(DIR), id))
                .unwrap()
                .len() as u64
        })
        .sum();
    assert_eq!(stats.total.file_bytes, on_disk);
    for s in &stats.segments {
        assert_eq!(
            s.live_bytes + s.dead_bytes,
            s.file_bytes,
            "segment {}",
            s.id
        );
        assert!(s.fragmentation() >= 0.0 && s.fragmentation() <= 100.0);
    }
    drop(store);
    let store = open(&vfs);
    let reopened = store.stats();
    assert_eq!(
        without_hint_flags(reopened.clone()).total,
        without_hint_flags(stats.clone()).total
    );
}

#[test]
fn merge_policy_triggers_on_fragmentation_and_respects_thresholds() {
    let vfs = MemVfs::new();
    let policy = MergePolicy {
        trigger_fragmentation: 50.0,
        include_fragmentation: 30.0,
        small_file_bytes: 0,
        trigger_dead_bytes: u64::MAX,
        include_dead_bytes: u64::MAX,
        ..MergePolicy::default()
    };
    let store = Bitcask::open(DIR, options(&vfs).merge(policy)).unwrap();
    for i in 0..200u32 {
        store.put(format!("key{i}").as_bytes(), &[1u8; 50]).unwrap();
    }
    store.rotate().unwrap();
    // Nothing dead yet: the policy merges nothing.
    assert!(store.merge().unwrap().is_empty());
    // Overwrite most keys: old segments become fragmented.
    for i in 0..180u32 {
        store.put(format!("key{i}").as_bytes(), &[2u8; 50]).unwrap();
    }
    store.rotate().unwrap();
    let fragmented: Vec<u32> = store
        .stats()
        .segments
        .iter()
        .filter(|s| !s.active && s.fragmentation() >= 30.0)
        .map(|s| s.id)
        .collect();
    assert!(!fragmented.is_empty());
    let outcomes = store.merge().unwrap();
    assert!(!outcomes.is_empty());
    let merged: Vec<u32> = outcomes.iter().flat_map(|o| o.inputs.clone()).collect();
    for id in &fragmented {
        assert!(merged.contains(id), "fragmented segment {id} not merged");
    }
    for s in store.stats().segments.iter().filter(|s| !s.active) {
        assert!(
            s.fragmentation() < 50.0,
            "segment {} still {}%",
            s.id,
            s.fragmentation()
        );
    }
    assert_eq!(store.len(), 200);
}

#[test]
fn merge_rate_limit_slows_the_merge_down() {
    let vfs = MemVfs::new();
    let policy = MergePolicy {
        rate_limit_bytes_per_sec: Some(512 * 1024),
        ..MergePolicy::default()
    };
    let store = Bitcask::open(DIR, options(&vfs).max_file_size(1 << 20).merge(policy)).unwrap();
    for i in 0..2000u32 {
        store
            .put(format!("key{i}").as_bytes(), &[3u8; 100])
            .unwrap();
    }
    let start = std::time::Instant::now();
    let outcomes = store.merge_all().unwrap();
    let written: u64 = outcomes.iter().map(|o| o.bytes_after).sum();
    // Sleeping never returns early, so this lower bound is not flaky.
    let floor = std::time::Duration::from_secs_f64(written as f64 / (512.0 * 1024.0) * 0.8);
    assert!(
        start.elapsed() >= floor,
        "merged {written} bytes in {:?}",
        start.elapsed()
    );
}

#[test]
fn background_merger_compacts_without_being_asked() {
    let dir = tempfile::tempdir().unwrap();
    let policy = MergePolicy {
        trigger_fragmentation: 40.0,
        include_fragmentation: 20.0,
        background_interval: Some(std::time::Duration::from_millis(5)),
        ..MergePolicy::default()
    };
    let store = Bitcask::open(
        dir.path(),
        Options::default()
            .sync(SyncPolicy::Never)
            .max_file_size(8192)
            .merge(policy),
    )
    .unwrap();
    for round in 0..5u8 {
        for i in 0..100u32 {
            store
                .put(format!("key{i}").as_bytes(), &[round; 60])
                .unwrap();
        }
    }
    store.rotate().unwrap();
    // Wait (bounded) for the merger thread to produce a merged segment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !store.stats().segments.iter().any(|s| s.merged) {
        assert!(
            std::time::Instant::now() < deadline,
            "background merge never ran"
        );
        std::thread::yield_now();
    }
    assert_eq!(store.len(), 100);
    for i in 0..100u32 {
        assert_eq!(
            store.get(format!("key{i}").as_bytes()).unwrap().unwrap(),
            vec![4u8; 60]
        );
    }
}

/// Review findings, kept as regression tests.
mod regressions {
    use super::*;

    #[test]
    fn set_expiry_on_a_buffered_write_does_not_deadlock() {
        let vfs = MemVfs::new();
        let store = Bitcask::open(DIR, options(&vfs).sync(SyncPolicy::Never)).unwrap();
        store.put(b"k", b"v").unwrap();
        // The record is still in the write buffer.
        assert!(store.set_expiry(b"k", u64::MAX / 2).unwrap());
        assert_eq!(store.expiry(b"k"), Some(u64::MAX / 2));
        assert_eq!(store.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn sequence_numbers_are_not_reused_after_opening_from_hints() {
        let vfs = MemVfs::new();
        let store = open(&vfs);
        store
            .write_batch(&[
                BatchOp::put(b"a".to_vec(), b"1".to_vec()),
                BatchOp::put(b"b".to_vec(), b"2".to_vec()),
            ])
            .unwrap();
        // Seqs 1..=4: begin, a, b, commit.
        store.rotate().unwrap();
        store.close().unwrap();
        assert!(!hint_files(&vfs).is_empty());
        let store = open(&vfs);
        store.put(b"c", b"3").unwrap();
        assert!(store.location(b"c").unwrap().seq > 4);
    }

    #[test]
    fn sequence_numbers_are_not_reused_after_merging_merge_outputs_or_hinted_segments() {
        let batch = || {
            [
                BatchOp::put(b"a".to_vec(), b"1".to_vec()),
                BatchOp::put(b"b".to_vec(), b"2".to_vec()),
            ]
        };
        // A merge output merged again.
        let vfs = MemVfs::new();
        let store = open(&vfs);
        store.write_batch(&batch()).unwrap();
        store.merge_all().unwrap();
        store.merge_all().unwrap();
        store.close().unwrap();
        let store = open(&vfs);
        store.put(b"c", b"3").unwrap();
        assert!(
            store.location(b"c").unwrap().seq > 4,
            "after merging a merge output"
        );
        // A segment loaded from its hint, then merged.
        let vfs = MemVfs::new();
        let store = open(&vfs);
        store.write_batch(&batch()).unwrap();
        store.rotate().unwrap();
        store.close().unwrap();
        let store = open(&vfs);
        let first = sealed(&store);
        store.merge_segments(&first).unwrap();
        store.close().unwrap();
        let store = open(&vfs);
        store.put(b"c", b"3").unwrap();
        assert!(
            store.location(b"c").unwrap().seq > 4,
            "after merging a hinted segment"
        );
    }

    #[test]
    fn a_failed_write_does_not_make_later_syncs_fail() {
        let vfs = MemVfs::new();
        let store = open(&vfs);
        store.put(b"a", b"1").unwrap();
        vfs.fail_once_after_ops(1);
        assert!(store.put(b"b", b"2").is_err());
        store.sync().unwrap();
        store.merge_all().unwrap();
        store.close().unwrap();
    }

    #[test]
    fn a_merge_failing_after_its_commit_point_never_resurrects_a_deleted_key() {
        for n in 0..60 {
            let vfs = MemVfs::new();
            let store = open(&vfs);
            store.put(b"k", b"v1").unwrap();
            store.rotate().unwrap();
            let first = sealed(&store);
            vfs.fail_once_after_ops(n);
            let _ = store.merge_segments(&first);
            vfs.clear_faults();
            if store.delete(b"k").is_ok() {
                let _ = store.rotate();
                let all = sealed(&store);
                let _ = store.merge_segments(&all);
            }
            let deleted = store.get(b"k").unwrap().is_none();
            drop(store);
            let store = open(&vfs);
            if deleted {
                assert_eq!(
                    store.get(b"k").unwrap(),
                    None,
                    "n={n}: deleted value came back"
                );
            }
        }
    }

    #[test]
    fn delete_reports_true_once() {
        let vfs = MemVfs::new();
        let store = open(&vfs);
        store.put(b"k", b"v").unwrap();
        assert!(store.delete(b"k").unwrap());
        assert!(!store.delete(b"k").unwrap());
    }
}

/// `stats().merges` adds up what every merge returned, does not count a
/// refused request as a failed merge, and starts at zero after a reopen.
#[test]
fn merge_totals_add_up_the_outcomes() {
    let vfs = MemVfs::new();
    let store = open(&vfs);
    assert_eq!(store.stats().merges, bitcask::MergeTotals::default());
    for round in 0..3u32 {
        for i in 0..100u32 {
            store
                .put(
                    format!("key{i}").as_bytes(),
                    &round.to_le_bytes().repeat(10),
                )
                .unwrap();
        }
    }
    let before = store.stats().total.file_bytes;
    let outcomes = store.merge_all().unwrap();
    assert!(!outcomes.is_empty());
    let totals = store.stats().merges;
    assert_eq!(totals.merges, outcomes.len() as u64);
    assert_eq!(totals.failures, 0);
    assert_eq!(
        totals.segments_removed,
        outcomes.iter().map(|o| o.inputs.len() as u64).sum::<u64>()
    );
    assert_eq!(
        totals.bytes_reclaimed,
        outcomes
            .iter()
            .map(|o| o.bytes_before - o.bytes_after)
            .sum::<u64>()
    );
    assert!(totals.bytes_reclaimed > 0 && totals.bytes_reclaimed < before);
    assert_eq!(
        totals.bytes_written,
        outcomes.iter().map(|o| o.bytes_after).sum::<u64>()
    );
    assert_eq!(
        totals.duration,
        outcomes
            .iter()
            .map(|o| o.duration)
            .sum::<std::time::Duration>()
    );
    // A merge of a segment that does not exist is refused, not failed.
    assert!(store.merge_segments(&[u32::MAX - 1]).is_err());
    assert_eq!(store.stats().merges.failures, 0);
    assert_eq!(store.stats().merges.merges, outcomes.len() as u64);
    drop(store);
    assert_eq!(open(&vfs).stats().merges, bitcask::MergeTotals::default());
}
