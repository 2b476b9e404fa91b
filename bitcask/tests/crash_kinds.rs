//! Two kinds of crash, in sequence: a **process crash** (the page cache keeps
//! every byte and name, none more durable than before) followed by a
//! **power loss** (only what was fsynced survives, names only once their
//! directory was fsynced). A store that opens after a process crash inherits
//! state a later power loss can still take away; it must make that state
//! durable before it builds on it.
//!
//! Each test here reproduces one failure found from outside the crate
//! (issue 8) and failed before the fix.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bitcask::vfs::{MemVfs, OpenMode, Vfs};
use bitcask::{Bitcask, Error, Options, SyncPolicy};

const DIR: &str = "/kinds";

fn options(vfs: &MemVfs, sync: SyncPolicy) -> Options {
    Options::default()
        .sync(sync)
        .max_file_size(4096)
        .vfs(Arc::new(vfs.clone()))
}

fn open(vfs: &MemVfs, sync: SyncPolicy) -> Bitcask {
    Bitcask::open(DIR, options(vfs, sync)).expect("open")
}

fn contents(store: &Bitcask) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut all: Vec<_> = store.iter().map(|r| r.expect("read")).collect();
    all.sort();
    all
}

/// Returns once every sealed segment of `store` has its hint file. The hint
/// writer is a background thread with nothing to join, so this polls its
/// published result, with a deadline so a broken writer fails the test
/// rather than hanging it.
fn wait_for_hint_files(store: &Bitcask) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let stats = store.stats();
        let sealed = &stats.segments[..stats.segments.len().saturating_sub(1)];
        if sealed.iter().all(|s| s.has_hint) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "hint files not written within 30 s: {sealed:?}"
        );
        std::thread::yield_now();
    }
}

fn power_loss(vfs: &MemVfs) {
    vfs.power_loss(|_, _| 0);
}

/// Failure 1: the first process dies inside the creation of a segment
/// (whatever file operation it dies at); the second reuses the file and
/// acknowledges a put; a power loss must not take the put away.
#[test]
fn put_acknowledged_after_a_crash_in_segment_creation_survives_power_loss() {
    for fail_at in 0..12 {
        let vfs = MemVfs::new();
        vfs.fail_after_ops(fail_at);
        let first = Bitcask::open(DIR, options(&vfs, SyncPolicy::Always));
        vfs.process_crash();
        drop(first);

        let second = open(&vfs, SyncPolicy::Always);
        second.put(b"b", b"acknowledged").expect("put");
        vfs.process_crash();
        drop(second);
        power_loss(&vfs);

        let third = open(&vfs, SyncPolicy::Always);
        assert_eq!(
            third.get(b"b").expect("get").as_deref(),
            Some(&b"acknowledged"[..]),
            "failure injected at operation {fail_at}: acknowledged put lost"
        );
    }
}

/// Failure 1, second path: a rotation whose new segment cannot be created
/// nor removed leaves the file behind and stops the store; the restart that
/// reuses the file must make its name durable before acknowledging.
#[test]
fn put_acknowledged_after_a_failed_rotation_survives_power_loss() {
    for fail_at in 0..8 {
        let vfs = MemVfs::new();
        let first = open(&vfs, SyncPolicy::Always);
        first.put(b"a", b"old").expect("put");
        vfs.fail_after_ops(fail_at);
        let _ = first.rotate();
        vfs.process_crash();
        drop(first);

        let second = open(&vfs, SyncPolicy::Always);
        second.put(b"a", b"new").expect("put");
        second.put(b"b", b"acknowledged").expect("put");
        vfs.process_crash();
        drop(second);
        power_loss(&vfs);

        let third = open(&vfs, SyncPolicy::Always);
        assert_eq!(
            contents(&third),
            vec![
                (b"a".to_vec(), b"new".to_vec()),
                (b"b".to_vec(), b"acknowledged".to_vec())
            ],
            "failure injected at operation {fail_at}"
        );
    }
}

/// Failure 2: unsynced records inherited from a killed `Never` writer are
/// served, sealed by a rotation and followed by an acknowledged put; after a
/// power loss the store must open and hold all of it (a prefix that reaches
/// the acknowledged put includes everything before it).
#[test]
fn inherited_unsynced_records_are_made_durable_before_a_rotation_seals_them() {
    for merge in [false, true] {
        let vfs = MemVfs::new();
        let first = Bitcask::open(DIR, options(&vfs, SyncPolicy::Never).write_buffer_size(0))
            .expect("open");
        for i in 0..20u8 {
            first.put(&[b'k', i], &[i; 30]).expect("put");
        }
        vfs.process_crash();
        drop(first);

        let second = open(&vfs, SyncPolicy::Always);
        let served = contents(&second);
        // Each write flushes the one before it; the last was still in the
        // dead process's buffer.
        assert_eq!(served.len(), 19, "the page cache kept every flushed record");
        if merge {
            second.merge_all().expect("merge_all");
        } else {
            second.rotate().expect("rotate");
        }
        second.put(b"x", b"acknowledged").expect("put");
        vfs.process_crash();
        drop(second);
        power_loss(&vfs);

        let third = Bitcask::open(DIR, options(&vfs, SyncPolicy::Always))
            .unwrap_or_else(|e| panic!("merge={merge}: reopen after power loss failed: {e}"));
        let mut expected = served;
        expected.push((b"x".to_vec(), b"acknowledged".to_vec()));
        expected.sort();
        assert_eq!(contents(&third), expected, "merge={merge}");
    }
}

/// Failure 3: a record larger than `max_file_size` is written but not yet
/// fsynced when the process dies. The next opener seals the full segment;
/// it must make it durable first, or a power loss turns its torn tail into
/// corruption in the middle of the store.
#[test]
fn a_full_segment_sealed_at_open_is_made_durable_first() {
    let vfs = MemVfs::new();
    let first = open(&vfs, SyncPolicy::Always);
    first.put(b"small", b"1").expect("put");
    first.rotate().expect("rotate");
    // The sealed segment's hint file is written by a background thread whose
    // file operations would count against the fault armed below: wait for
    // it, so the fault lands on the big record's fsync and not its write.
    wait_for_hint_files(&first);
    // The write of the big record succeeds; its fsync and the rollback fail.
    vfs.fail_after_ops(1);
    let big = vec![7u8; 8000];
    let outcome = first.put(b"big", &big);
    assert!(
        matches!(outcome, Err(Error::Failed { .. })),
        "a write whose rollback failed has an unknown outcome: {outcome:?}"
    );
    vfs.process_crash();
    drop(first);

    let second = open(&vfs, SyncPolicy::Always);
    second.put(b"y", b"acknowledged").expect("put");
    vfs.process_crash();
    drop(second);
    // The OS wrote back part of the big record before the power went.
    vfs.power_loss(|_, unsynced| unsynced / 2);

    let third = Bitcask::open(DIR, options(&vfs, SyncPolicy::Always))
        .unwrap_or_else(|e| panic!("reopen after power loss failed: {e}"));
    assert_eq!(
        third.get(b"y").expect("get").as_deref(),
        Some(&b"acknowledged"[..])
    );
    assert_eq!(
        third.get(b"small").expect("get").as_deref(),
        Some(&b"1"[..])
    );
}

/// Failure 4: an fsync fails and so does the truncate that would roll the
/// records back. Waiters must hear "outcome unknown", and the stopped store
/// must refuse every write path, including a delete of a key it does not
/// see and a rotation.
#[test]
fn a_failed_rollback_reports_unknown_outcome_and_stops_every_write_path() {
    let vfs = MemVfs::new();
    let store = open(&vfs, SyncPolicy::Always);
    store.put(b"a", b"1").expect("put");
    vfs.fail_after_ops(1); // the write succeeds, the fsync and the truncate fail
    let err = store.put(b"b", b"2").expect_err("fsync fails");
    assert!(matches!(err, Error::Failed { .. }), "{err:?}");
    vfs.clear_faults();
    assert!(matches!(store.put(b"c", b"3"), Err(Error::Failed { .. })));
    assert!(
        matches!(store.delete(b"b"), Err(Error::Failed { .. })),
        "a delete on a stopped store must not report 'absent'"
    );
    assert!(matches!(store.delete(b"a"), Err(Error::Failed { .. })));
    assert!(matches!(
        store.set_expiry(b"a", 1),
        Err(Error::Failed { .. })
    ));
    assert!(matches!(store.rotate(), Err(Error::Failed { .. })));
    assert!(store.merge_all().is_err());
    // Reads still work.
    assert_eq!(store.get(b"a").expect("get").as_deref(), Some(&b"1"[..]));
}

/// A `Vfs` that runs a hook right after the first directory listing, so a
/// writer can remove files between the reader's listing and its opens.
struct ListThenRace {
    inner: MemVfs,
    hook: parking_lot::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for ListThenRace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListThenRace").finish_non_exhaustive()
    }
}

impl Vfs for ListThenRace {
    fn open_file(
        &self,
        path: &Path,
        mode: OpenMode,
    ) -> std::io::Result<Arc<dyn bitcask::vfs::VfsFile>> {
        self.inner.open_file(path, mode)
    }
    fn list_dir(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        let names = self.inner.list_dir(dir)?;
        if let Some(hook) = self.hook.lock().take() {
            hook();
        }
        Ok(names)
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
}

/// Failure 5: a read-only open lists the directory, then a merge of the
/// live writer removes files it listed. It must list again and succeed.
#[test]
fn read_only_open_survives_a_merge_between_listing_and_opening() {
    let vfs = MemVfs::new();
    let writer = Arc::new(open(&vfs, SyncPolicy::Always));
    for round in 0..4u8 {
        for i in 0..30u8 {
            writer.put(&[b'k', i], &[round; 40]).expect("put");
        }
        writer.rotate().expect("rotate");
    }
    let expected = contents(&writer);
    let racing_writer = writer.clone();
    let reader_vfs = ListThenRace {
        inner: vfs.clone(),
        hook: parking_lot::Mutex::new(Some(Box::new(move || {
            racing_writer.merge_all().expect("merge_all");
        }))),
    };
    let reader = Bitcask::open_read_only_with(DIR, Options::default().vfs(Arc::new(reader_vfs)))
        .unwrap_or_else(|e| panic!("read-only open beside a merge failed: {e}"));
    assert_eq!(contents(&reader), expected);
}

/// Failure 6: `set_expiry` racing a merge that retires the segment the key
/// was in must retry, as `get` does, instead of reporting corruption.
#[test]
fn set_expiry_racing_merges_never_reports_corruption() {
    let vfs = MemVfs::new();
    let store = Arc::new(open(&vfs, SyncPolicy::Never));
    for i in 0..200u16 {
        store.put(&i.to_le_bytes(), &[1; 50]).expect("put");
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let merger = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut merges = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || merges < 20 {
                store.merge_all().expect("merge_all");
                merges += 1;
            }
            merges
        })
    };
    for round in 0..30u64 {
        for i in 0..200u16 {
            let changed = store
                .set_expiry(&i.to_le_bytes(), u64::MAX / 2 + round)
                .unwrap_or_else(|e| panic!("set_expiry during merges: {e}"));
            assert!(changed);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(merger.join().expect("merger") >= 20);
}

fn data_file(id: u32) -> PathBuf {
    bitcask::data_path(Path::new(DIR), id)
}

fn recreate(vfs: &MemVfs, path: &Path, bytes: &[u8]) {
    let file = vfs.open_file(path, OpenMode::CreateNew).expect("create");
    file.write_all_at(bytes, 0).expect("write");
    file.sync_data().expect("sync");
    vfs.sync_dir(path.parent().expect("dir")).expect("sync dir");
}

/// Failure 7: recovery finishes a merge (removes the inputs its output
/// replaces) only after checking the whole output. A damaged output must not
/// cost the only good copy of the data.
#[test]
fn a_damaged_merge_output_never_costs_its_inputs() {
    let vfs = MemVfs::new();
    let store = open(&vfs, SyncPolicy::Always);
    for round in 0..2u8 {
        for i in 0..20u8 {
            store.put(&[b'k', i], &[round; 60]).expect("put");
        }
        store.rotate().expect("rotate");
    }
    let (ids, active) = store.segment_ids();
    let inputs: Vec<u32> = ids.into_iter().filter(|id| Some(*id) != active).collect();
    let saved: Vec<(u32, Vec<u8>)> = inputs
        .iter()
        .map(|&id| (id, vfs.read_whole(&data_file(id)).expect("read")))
        .collect();
    let outcome = store.merge_segments(&inputs).expect("merge");
    store.close().expect("close");

    // As if a crash came after the merge's commit point, before the inputs
    // were removed; then a bit of the output rots.
    for (id, bytes) in &saved {
        recreate(&vfs, &data_file(*id), bytes);
    }
    let output = data_file(outcome.output);
    let mut bytes = vfs.read_whole(&output).expect("read output");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    vfs.write_whole(&output, &bytes).expect("damage output");

    let reopened = Bitcask::open(DIR, options(&vfs, SyncPolicy::Always));
    match reopened {
        Err(Error::Corrupted { path, .. }) => assert_eq!(path, output),
        Err(other) => panic!("expected corruption of the merge output, got {other}"),
        Ok(store) => {
            // Opening is fine too, as long as the data is all there.
            assert_eq!(store.len(), 20);
        }
    }
    for (id, bytes) in &saved {
        assert_eq!(
            vfs.read_whole(&data_file(*id)).ok().as_ref(),
            Some(bytes),
            "input segment {id} was removed although the output is damaged"
        );
    }
}
