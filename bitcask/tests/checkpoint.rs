//! `Bitcask::checkpoint`: consistency under concurrent writes and merges,
//! expiries and deletions, the copy fallback, refusals, crashes during a
//! checkpoint (MemVfs), and opening a checkpoint from another process.
//!
//! Seeded: set `BITCASK_CHECKPOINT_SEED` to replay; every failure message
//! names the seed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bitcask::vfs::{MemVfs, OsVfs, Vfs};
use bitcask::{BatchOp, Bitcask, CHECKPOINT_PARTIAL_FILE, Error, Options, SyncPolicy, checkpoint};
use rand::{Rng, SeedableRng};

fn seed() -> u64 {
    std::env::var("BITCASK_CHECKPOINT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0de)
}

/// Live contents: key -> (value, expiry).
type Contents = BTreeMap<Vec<u8>, (Vec<u8>, u64)>;

fn contents(store: &Bitcask) -> Contents {
    store
        .iter()
        .map(|kv| {
            let (k, v) = kv.expect("read");
            let expiry = store.expiry(&k).expect("live key has an expiry");
            (k, (v, expiry))
        })
        .collect()
}

fn mem_options(vfs: &MemVfs) -> Options {
    Options::default()
        .sync(SyncPolicy::Always)
        .max_file_size(4096)
        .vfs(Arc::new(vfs.clone()))
}

// ---------------------------------------------------------------------------
// Consistency under concurrent writers and merges.

/// One operation of the model writer; applied as a batch together with
/// `progress = index`, so a checkpoint says how many it holds.
#[derive(Debug, Clone)]
enum ModelOp {
    Put(Vec<u8>, Vec<u8>, u64),
    Delete(Vec<u8>),
}

fn model_ops(seed: u64, n: usize, base: u64) -> Vec<ModelOp> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|j| {
            let key = format!("k{}", rng.random_range(0..300)).into_bytes();
            let value = format!("v{j}-{}", "x".repeat(rng.random_range(0..40))).into_bytes();
            match rng.random_range(0..10) {
                0..=4 => ModelOp::Put(key, value, 0),
                // Expires long after the test.
                5 | 6 => ModelOp::Put(key, value, base + 3_600_000 + j as u64),
                // Already expired: invisible, like a delete.
                7 => ModelOp::Put(key, value, base - 1000),
                _ => ModelOp::Delete(key),
            }
        })
        .collect()
}

fn model_after(ops: &[ModelOp], n: usize, now: u64) -> Contents {
    let mut state = Contents::new();
    for op in &ops[..n] {
        match op {
            ModelOp::Put(k, v, e) if *e == 0 || *e > now => {
                state.insert(k.clone(), (v.clone(), *e));
            }
            ModelOp::Put(k, ..) | ModelOp::Delete(k) => {
                state.remove(k);
            }
        }
    }
    state
}

struct Taken {
    dir: PathBuf,
    info: bitcask::CheckpointInfo,
    /// Sequential writes acknowledged before / started by the end of the call.
    seq_range: (u64, u64),
    /// Model ops acknowledged before / started by the end of the call.
    model_range: (u64, u64),
}

fn consistent_prefix_under_writes_and_merges(sync: SyncPolicy, n_seq: u64, n_model: usize) {
    let seed = seed();
    let root = tempfile::tempdir().unwrap();
    let source = root.path().join("db");
    let options = Options::default().sync(sync).max_file_size(16 * 1024);
    let store = Arc::new(Bitcask::open(&source, options.clone()).unwrap());
    let base = bitcask::now_millis();
    let ops = Arc::new(model_ops(seed, n_model, base));
    let stop = Arc::new(AtomicBool::new(false));
    let (seq_started, seq_done) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (model_started, model_done) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let merges = Arc::new(AtomicU64::new(0));

    let sequential = {
        let (store, started, done) = (store.clone(), seq_started.clone(), seq_done.clone());
        std::thread::spawn(move || {
            for i in 0..n_seq {
                started.store(i + 1, Ordering::SeqCst);
                store
                    .put(format!("s{i}").as_bytes(), &i.to_le_bytes())
                    .unwrap();
                done.store(i + 1, Ordering::SeqCst);
            }
        })
    };
    let modeller = {
        let (store, ops) = (store.clone(), ops.clone());
        let (started, done) = (model_started.clone(), model_done.clone());
        std::thread::spawn(move || {
            for (j, op) in ops.iter().enumerate() {
                let op = match op.clone() {
                    ModelOp::Put(key, value, expiry) => BatchOp::Put { key, value, expiry },
                    ModelOp::Delete(key) => BatchOp::delete(key),
                };
                started.store(j as u64 + 1, Ordering::SeqCst);
                store
                    .write_batch(&[op, BatchOp::put("progress", (j as u64).to_le_bytes())])
                    .unwrap();
                done.store(j as u64 + 1, Ordering::SeqCst);
            }
        })
    };
    let merger = {
        let (store, stop, merges) = (store.clone(), stop.clone(), merges.clone());
        std::thread::spawn(move || {
            let mut round = 0u64;
            while !stop.load(Ordering::SeqCst) {
                round += 1;
                let done = if round.is_multiple_of(4) {
                    store.merge_all().unwrap()
                } else {
                    store.merge().unwrap()
                };
                merges.fetch_add(done.len() as u64, Ordering::SeqCst);
                std::thread::yield_now();
            }
        })
    };

    let rounds = 6;
    let mut taken = Vec::new();
    for round in 0..rounds {
        // Spread the checkpoints over the run: wait for writer progress.
        let target = n_seq * (round + 1) / (rounds + 1);
        while seq_done.load(Ordering::SeqCst) < target {
            std::thread::yield_now();
        }
        let dir = root.path().join(format!("cp{round}"));
        let seq_lo = seq_done.load(Ordering::SeqCst);
        let model_lo = model_done.load(Ordering::SeqCst);
        let info = store.checkpoint(&dir).unwrap();
        let seq_hi = seq_started.load(Ordering::SeqCst);
        let model_hi = model_started.load(Ordering::SeqCst);
        taken.push(Taken {
            dir,
            info,
            seq_range: (seq_lo, seq_hi),
            model_range: (model_lo, model_hi),
        });
    }
    sequential.join().unwrap();
    modeller.join().unwrap();
    // One more with every writer finished: it must equal the source.
    let last = root.path().join("cp-final");
    let final_info = store.checkpoint(&last).unwrap();
    stop.store(true, Ordering::SeqCst);
    merger.join().unwrap();
    taken.push(Taken {
        dir: last.clone(),
        info: final_info,
        seq_range: (n_seq, n_seq),
        model_range: (n_model as u64, n_model as u64),
    });

    let now = bitcask::now_millis();
    for t in &taken {
        let ctx = format!("seed {seed}, {sync:?}, checkpoint {}", t.dir.display());
        let manifest = checkpoint::verify(&OsVfs, &t.dir).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(manifest.max_seq, t.info.max_seq, "{ctx}");
        assert_eq!(manifest.files, t.info.files, "{ctx}");
        let cp = Bitcask::open(&t.dir, options.clone()).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        // The sequential writer: keys s0..s{n-1}, no gap.
        let mut seq: Vec<u64> = cp
            .keys()
            .filter_map(|k| k.strip_prefix(b"s").map(|d| d.to_vec()))
            .map(|d| String::from_utf8(d).unwrap().parse().unwrap())
            .collect();
        seq.sort_unstable();
        let n = seq.len() as u64;
        assert!(
            seq.iter().copied().eq(0..n),
            "{ctx}: sequential keys have a gap"
        );
        assert!(
            (t.seq_range.0..=t.seq_range.1).contains(&n),
            "{ctx}: {n} sequential keys, expected {:?}",
            t.seq_range
        );
        for i in 0..n {
            assert_eq!(
                cp.get(format!("s{i}").as_bytes()).unwrap().as_deref(),
                Some(&i.to_le_bytes()[..]),
                "{ctx}: s{i}"
            );
        }
        // The model writer: exactly the state after `progress + 1` ops.
        let m = cp.get(b"progress").unwrap().map_or(0, |p| {
            u64::from_le_bytes(p.try_into().expect("8 bytes")) + 1
        });
        assert!(
            (t.model_range.0..=t.model_range.1).contains(&m),
            "{ctx}: {m} model ops, expected {:?}",
            t.model_range
        );
        let mut got = contents(&cp);
        got.retain(|k, _| k.starts_with(b"k"));
        assert_eq!(
            got,
            model_after(&ops, m as usize, now),
            "{ctx}: after {m} ops"
        );
        drop(cp);
    }
    // The final checkpoint holds what the source holds.
    let cp = Bitcask::open(&last, options).unwrap();
    assert_eq!(contents(&cp), contents(&store), "seed {seed}");
    assert!(
        merges.load(Ordering::SeqCst) > 0,
        "seed {seed}: no merge ran during the checkpoints"
    );
    let largest = taken
        .iter()
        .map(|t| &t.info)
        .max_by_key(|i| i.bytes)
        .unwrap();
    println!(
        "{sync:?}: {} checkpoints, {} merges; largest {} keys, {} segments, {} bytes in {:?} (writes paused {:?})",
        taken.len(),
        merges.load(Ordering::SeqCst),
        largest.keys,
        largest.segments,
        largest.bytes,
        largest.elapsed,
        largest.pause
    );
}

#[test]
fn consistent_prefix_under_writes_and_merges_never() {
    consistent_prefix_under_writes_and_merges(SyncPolicy::Never, 30_000, 20_000);
}

#[test]
fn consistent_prefix_under_writes_and_merges_always() {
    consistent_prefix_under_writes_and_merges(SyncPolicy::Always, 1_500, 1_000);
}

// ---------------------------------------------------------------------------
// Expiries, deletions, and independence of the two stores.

/// Writes keys with and without expiry, deletes some (tombstones in later
/// segments than their values), across several segments.
fn populate(store: &Bitcask, seed: u64) -> Contents {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let now = bitcask::now_millis();
    let mut expected = Contents::new();
    for i in 0..800u32 {
        let key = format!("key{}", rng.random_range(0..150)).into_bytes();
        let value = format!("value{i}").into_bytes();
        match rng.random_range(0..6) {
            0 => {
                store.delete(&key).unwrap();
                expected.remove(&key);
            }
            1 => {
                let expiry = now + 3_600_000 + u64::from(i);
                store.put_with_expiry(&key, &value, expiry).unwrap();
                expected.insert(key, (value, expiry));
            }
            2 => {
                store.put_with_expiry(&key, &value, now - 1).unwrap();
                expected.remove(&key);
            }
            _ => {
                store.put(&key, &value).unwrap();
                expected.insert(key, (value, 0));
            }
        }
    }
    expected
}

fn expiries_and_deletions_survive(options: Options, root: &Path, vfs: &dyn Vfs) {
    let seed = seed();
    let source = root.join("db");
    let store = Bitcask::open(&source, options.clone()).unwrap();
    let mut expected = populate(&store, seed);
    // A value in a sealed segment, its tombstone in the one sealed by the checkpoint.
    store.put(b"gone", b"old").unwrap();
    store.rotate().unwrap();
    store.delete(b"gone").unwrap();
    assert_eq!(contents(&store), expected, "seed {seed}");
    let dir = root.join("cp");
    let info = store.checkpoint(&dir).unwrap();
    assert!(info.segments >= 2 && info.bytes > 0, "{info:?}");
    assert_eq!(info.copied_files, 0, "hard links work here");
    checkpoint::verify(vfs, &dir).unwrap();
    // The hint of the newest linked segment is written in the background
    // and may be missing from a checkpoint; without it, an opener scans
    // that segment, and would append to it were it the newest one.
    let mut data_ids: Vec<u32> = info
        .files
        .iter()
        .filter_map(|f| bitcask::parse_data_name(&f.name))
        .collect();
    data_ids.sort_unstable();
    let newest_linked = data_ids[data_ids.len() - 2];
    for name in vfs.list_dir(&dir).unwrap() {
        if bitcask::parse_hint_name(&name) == Some(newest_linked) {
            vfs.remove_file(&dir.join(&name)).unwrap();
        }
    }

    // The checkpoint opens with the same contents and then lives on its
    // own: its writes go to a file of its own, never into a segment it
    // shares (by hard link) with the source.
    let cp = Bitcask::open(&dir, options.clone()).unwrap();
    assert_eq!(contents(&cp), expected, "seed {seed}");
    assert_eq!(cp.get(b"gone").unwrap(), None);
    cp.put(b"only-in-cp", b"x").unwrap();
    cp.delete(b"key2").unwrap();
    drop(cp);
    drop(store);
    let store = Bitcask::open(&source, options.clone()).unwrap();
    assert_eq!(
        contents(&store),
        expected,
        "seed {seed}: writes to the checkpoint reached the source"
    );

    // The source goes on changing; the checkpoint does not.
    store.put(b"after", b"1").unwrap();
    store.delete(b"key1").unwrap();
    store.merge_all().unwrap();
    let mut expected_cp = expected.clone();
    expected_cp.insert(b"only-in-cp".to_vec(), (b"x".to_vec(), 0));
    expected_cp.remove(&b"key2"[..]);
    let cp = Bitcask::open(&dir, options.clone()).unwrap();
    assert_eq!(contents(&cp), expected_cp, "seed {seed}");
    cp.merge_all().unwrap();
    drop(cp);
    let cp = Bitcask::open(&dir, options.clone()).unwrap();
    assert_eq!(contents(&cp), expected_cp, "seed {seed}: after a merge");
    assert_eq!(cp.get(b"gone").unwrap(), None, "tombstone lost in a merge");
    drop(cp);

    drop(store);
    let store = Bitcask::open(&source, options).unwrap();
    expected.insert(b"after".to_vec(), (b"1".to_vec(), 0));
    expected.remove(&b"key1"[..]);
    assert_eq!(
        contents(&store),
        expected,
        "seed {seed}: the source changed"
    );
}

#[test]
fn expiries_and_deletions_survive_on_disk() {
    let root = tempfile::tempdir().unwrap();
    let options = Options::default().max_file_size(4096);
    expiries_and_deletions_survive(options, root.path(), &OsVfs);
}

#[test]
fn expiries_and_deletions_survive_in_memvfs() {
    // MemVfs links share one file object, so a write through either name
    // would show in the other: this also proves nobody appends to a link.
    let vfs = MemVfs::new();
    expiries_and_deletions_survive(mem_options(&vfs), Path::new("/t"), &vfs);
}

// ---------------------------------------------------------------------------
// Merge pinning, deterministically: a whole merge runs while the checkpoint
// is about to link its first file.

/// MemVfs whose first `hard_link` first runs a hook (to completion).
struct HookOnLink {
    inner: MemVfs,
    hook: parking_lot::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for HookOnLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookOnLink").finish_non_exhaustive()
    }
}

impl Vfs for HookOnLink {
    fn open_file(
        &self,
        path: &Path,
        mode: bitcask::vfs::OpenMode,
    ) -> std::io::Result<Arc<dyn bitcask::vfs::VfsFile>> {
        self.inner.open_file(path, mode)
    }
    fn list_dir(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        self.inner.list_dir(dir)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        self.inner.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn try_lock_exclusive(&self, path: &Path) -> std::io::Result<Box<dyn bitcask::vfs::DirLock>> {
        self.inner.try_lock_exclusive(path)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        let hook = self.hook.lock().take();
        if let Some(hook) = hook {
            hook();
        }
        self.inner.hard_link(from, to)
    }
}

#[test]
fn a_merge_during_linking_removes_nothing_the_checkpoint_needs() {
    let seed = seed();
    let mem = MemVfs::new();
    let vfs = Arc::new(HookOnLink {
        inner: mem.clone(),
        hook: parking_lot::Mutex::new(None),
    });
    let options = mem_options(&mem).vfs(vfs.clone());
    let store = Arc::new(Bitcask::open("/db", options.clone()).unwrap());
    let expected = populate(&store, seed);
    let (before, _) = store.segment_ids();
    let merged = Arc::new(AtomicU64::new(0));
    {
        let (store, merged) = (store.clone(), merged.clone());
        *vfs.hook.lock() = Some(Box::new(move || {
            // On another thread, as a background merge would be; joined, so
            // the merge has retired every input before the link goes on.
            let outcomes = std::thread::spawn(move || store.merge_all().unwrap())
                .join()
                .unwrap();
            merged.store(outcomes.len() as u64, Ordering::SeqCst);
        }));
    }
    let info = store.checkpoint("/cp").unwrap();
    assert!(merged.load(Ordering::SeqCst) > 0, "no merge ran");
    let (after, _) = store.segment_ids();
    assert!(
        before.iter().all(|id| !after.contains(id)),
        "the merge replaced every old segment: {before:?} -> {after:?}"
    );
    for file in &info.files[..info.files.len() - 1] {
        if let Some(id) = bitcask::parse_data_name(&file.name) {
            assert!(
                before.contains(&id),
                "{} was not a pre-merge segment",
                file.name
            );
        }
    }
    checkpoint::verify(&mem, Path::new("/cp")).unwrap();
    let cp = Bitcask::open("/cp", options).unwrap();
    assert_eq!(contents(&cp), expected, "seed {seed}");
    assert_eq!(contents(&store), expected, "seed {seed}");
    // The checkpoint linked the pre-merge segments; the source removes them
    // once nothing uses them. A background thread of the store (a hint
    // writer) may still hold one for a moment, so look once the store and
    // its threads are gone (the hook holds a handle too).
    *vfs.hook.lock() = None;
    drop(store);
    let source_names = mem.list_dir(Path::new("/db")).unwrap();
    for file in &info.files[..info.files.len() - 1] {
        if bitcask::parse_data_name(&file.name).is_some() {
            assert!(
                !source_names.contains(&file.name),
                "{} not removed",
                file.name
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Copy fallback.

#[test]
fn copies_when_hard_links_fail() {
    let seed = seed();
    let vfs = MemVfs::new();
    let options = mem_options(&vfs);
    let store = Bitcask::open("/db", options.clone()).unwrap();
    let expected = populate(&store, seed);
    vfs.set_hard_links_fail(true);
    let info = store.checkpoint("/cp").unwrap();
    vfs.set_hard_links_fail(false);
    // Every file but the new empty segment was copied.
    assert_eq!(info.copied_files, info.files.len() - 1, "{info:?}");
    assert!(info.copied_files > 2, "{info:?}");
    checkpoint::verify(&vfs, Path::new("/cp")).unwrap();
    store.put(b"later", b"1").unwrap();
    let cp = Bitcask::open("/cp", options).unwrap();
    assert_eq!(contents(&cp), expected, "seed {seed}");
}

#[test]
fn copies_across_file_systems() {
    // /dev/shm is a tmpfs on Linux, /tmp usually not: a real EXDEV.
    let Ok(other) = tempfile::tempdir_in("/dev/shm") else {
        eprintln!("no /dev/shm; skipped");
        return;
    };
    let seed = seed();
    let root = tempfile::tempdir().unwrap();
    let options = Options::default().max_file_size(4096);
    let store = Bitcask::open(root.path().join("db"), options.clone()).unwrap();
    let expected = populate(&store, seed);
    let dir = other.path().join("cp");
    let info = store.checkpoint(&dir).unwrap();
    use std::os::unix::fs::MetadataExt;
    let same_device = std::fs::metadata(root.path()).unwrap().dev()
        == std::fs::metadata(other.path()).unwrap().dev();
    if !same_device {
        assert_eq!(info.copied_files, info.files.len() - 1, "{info:?}");
    }
    let cp = Bitcask::open(&dir, options).unwrap();
    assert_eq!(contents(&cp), expected, "seed {seed}");
}

// ---------------------------------------------------------------------------
// Refusals.

#[test]
fn refuses_a_non_empty_directory_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let store = Bitcask::open(root.path().join("db"), Options::default()).unwrap();
    store.put(b"a", b"1").unwrap();
    let busy = root.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("something"), b"x").unwrap();
    let err = store.checkpoint(&busy).unwrap_err();
    assert!(
        matches!(&err, Error::CheckpointDirNotEmpty { path, files: 1 } if *path == busy),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&busy.display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read(busy.join("something")).unwrap(), b"x");
    // The store's own directory, and a finished checkpoint, are not empty either.
    let own = store.checkpoint(root.path().join("db")).unwrap_err();
    assert!(
        matches!(own, Error::CheckpointDirNotEmpty { .. }),
        "{own:?}"
    );
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    store.checkpoint(&empty).unwrap();
    let again = store.checkpoint(&empty).unwrap_err();
    assert!(
        matches!(again, Error::CheckpointDirNotEmpty { .. }),
        "{again:?}"
    );
    // A read-only store cannot rotate, so it cannot take one.
    drop(store);
    let ro = Bitcask::open_read_only(root.path().join("db")).unwrap();
    let err = ro.checkpoint(root.path().join("ro")).unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------
// Crashes during a checkpoint.

/// The checkpoint fails at its k-th file-system operation, then the machine
/// loses power or the process dies: the source is intact, and the
/// checkpoint directory is empty, refused as incomplete, or complete.
fn crash_during_checkpoint(rotating: bool) {
    let seed = seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut completed = false;
    for k in 0..2000u64 {
        let ctx = format!("seed {seed}, rotating {rotating}, fault after {k} ops");
        let vfs = MemVfs::new();
        let expected = {
            let store = Bitcask::open("/db", mem_options(&vfs)).unwrap();
            let expected = populate(&store, seed);
            // Reopened below with an empty active segment: no rotation then.
            store.rotate().unwrap();
            expected
        };
        // Reopened so no hint writer from the population is still running.
        let store = Bitcask::open("/db", mem_options(&vfs.clone())).unwrap();
        let mut expected = expected;
        if rotating {
            store.put(b"in-active", b"1").unwrap();
            expected.insert(b"in-active".to_vec(), (b"1".to_vec(), 0));
        }
        vfs.fail_after_ops(k);
        let result = store.checkpoint("/cp");
        match k % 3 {
            0 => vfs.power_loss(|_, unsynced| rng.random_range(0..=unsynced)),
            1 => vfs.process_crash(),
            _ => {
                vfs.process_crash();
                vfs.power_loss(|_, unsynced| rng.random_range(0..=unsynced));
            }
        }
        drop(store);
        let vfs = vfs.clone();
        let options = mem_options(&vfs);

        let source = Bitcask::open("/db", options.clone()).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(contents(&source), expected, "{ctx}: source changed");
        drop(source);

        let names = vfs.list_dir(Path::new("/cp")).unwrap_or_default();
        match checkpoint::verify(&vfs, Path::new("/cp")) {
            Ok(_) => {
                let cp = Bitcask::open("/cp", options).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert_eq!(contents(&cp), expected, "{ctx}: checkpoint contents");
            }
            Err(e) => {
                assert!(result.is_err(), "{ctx}: returned Ok but then {e}");
                if !names.is_empty() {
                    assert!(
                        names.iter().any(|n| n == CHECKPOINT_PARTIAL_FILE),
                        "{ctx}: incomplete without its marker: {names:?}"
                    );
                    let err = Bitcask::open("/cp", options).unwrap_err();
                    assert!(
                        matches!(err, Error::IncompleteCheckpoint { .. }),
                        "{ctx}: {err:?}"
                    );
                }
            }
        }
        if result.is_ok() {
            completed = true;
            println!("rotating {rotating}: a checkpoint takes {k} file-system operations");
            break;
        }
    }
    assert!(completed, "seed {seed}: never completed");
}

#[test]
fn crash_during_checkpoint_of_a_sealed_store() {
    crash_during_checkpoint(false);
}

#[test]
fn crash_during_checkpoint_with_rotation() {
    crash_during_checkpoint(true);
}

// ---------------------------------------------------------------------------
// Another process opens the checkpoint.

const CHILD_DIR: &str = "BITCASK_CHECKPOINT_CHILD_DIR";

fn describe(contents: &Contents) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    contents
        .iter()
        .map(|(k, (v, e))| format!("entry {} {} {e}\n", hex(k), hex(v)))
        .collect()
}

#[test]
fn child_opens_checkpoint() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return; // Only does something when started by the parent test.
    };
    checkpoint::verify(&OsVfs, Path::new(&dir)).expect("child: verify");
    let store = Bitcask::open(&dir, Options::default()).expect("child: open");
    print!("{}", describe(&contents(&store)));
    println!("done");
}

#[test]
fn another_process_opens_the_checkpoint_while_the_source_runs() {
    let seed = seed();
    let root = tempfile::tempdir().unwrap();
    let options = Options::default().max_file_size(4096);
    let store = Bitcask::open(root.path().join("db"), options).unwrap();
    let expected = populate(&store, seed);
    let dir = root.path().join("cp");
    store.checkpoint(&dir).unwrap();
    store.put(b"after", b"1").unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_opens_checkpoint",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, &dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "seed {seed}: child failed: {stdout}"
    );
    let entries: String = stdout
        .lines()
        // The harness may print "test ... " on the same line before ours.
        .filter_map(|l| l.find("entry ").map(|at| format!("{}\n", &l[at..])))
        .collect();
    assert!(stdout.contains("done"), "seed {seed}: {stdout}");
    assert_eq!(entries, describe(&expected), "seed {seed}");
    // The source is still open and writable.
    store.put(b"after-2", b"2").unwrap();
}
