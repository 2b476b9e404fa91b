//! Crash tests on real bytes: cut the newest segment at every offset inside
//! its last records, and flip every bit of it; reopen and check that the
//! store holds a prefix of the writes, or that corruption in the middle is
//! reported with file and offset rather than skipped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bitcask::vfs::MemVfs;
use bitcask::{BatchOp, Bitcask, Error, Options, SyncPolicy};

const DIR: &str = "/crash";

fn options(vfs: &MemVfs) -> Options {
    Options::default()
        .sync(SyncPolicy::Always)
        .vfs(Arc::new(vfs.clone()))
}

/// Writes 8 puts, one 3-op batch, and 2 more puts, each step one write.
/// Returns the expected store contents after each write (index 0 = empty).
fn write_history(vfs: &MemVfs) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
    let store = Bitcask::open(DIR, options(vfs)).unwrap();
    let mut model = std::collections::BTreeMap::new();
    let mut history = vec![Vec::new()];
    for i in 0..8u8 {
        let (k, v) = (vec![b'k', i % 5], vec![i; 3 + i as usize]);
        store.put(&k, &v).unwrap();
        model.insert(k, v);
        history.push(model.clone().into_iter().collect());
    }
    store
        .write_batch(&[
            BatchOp::put(b"b1".to_vec(), b"one".to_vec()),
            BatchOp::delete(vec![b'k', 0]),
            BatchOp::put(b"b2".to_vec(), b"two".to_vec()),
        ])
        .unwrap();
    model.insert(b"b1".to_vec(), b"one".to_vec());
    model.remove(&vec![b'k', 0]);
    model.insert(b"b2".to_vec(), b"two".to_vec());
    history.push(model.clone().into_iter().collect());
    for i in 8..10u8 {
        let (k, v) = (vec![b'z', i], vec![i; 7]);
        store.put(&k, &v).unwrap();
        model.insert(k, v);
        history.push(model.clone().into_iter().collect());
    }
    store.close().unwrap();
    history
}

fn segment_path() -> PathBuf {
    Path::new(DIR).join("0000000001.data")
}

fn contents(store: &Bitcask) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut all: Vec<_> = store.iter().map(|r| r.unwrap()).collect();
    all.sort();
    all
}

#[test]
fn cutting_the_newest_segment_anywhere_recovers_a_prefix() {
    let vfs = MemVfs::new();
    let history = write_history(&vfs);
    let whole = vfs.read_whole(&segment_path()).unwrap();
    let mut seen_states = std::collections::BTreeSet::new();
    for cut in 0..=whole.len() {
        let copy = MemVfs::new();
        let _ = write_history(&copy);
        copy.write_whole(&segment_path(), &whole[..cut]).unwrap();
        let store = Bitcask::open(DIR, options(&copy))
            .unwrap_or_else(|e| panic!("cut at {cut}: reopen failed: {e}"));
        let found = contents(&store);
        let index = history
            .iter()
            .position(|state| *state == found)
            .unwrap_or_else(|| panic!("cut at {cut}: {found:?} is not a prefix state"));
        seen_states.insert(index);
        // The cut tail is gone from disk and new writes land after the prefix.
        store.put(b"after", b"crash").unwrap();
        drop(store);
        let store = Bitcask::open(DIR, options(&copy)).unwrap();
        assert_eq!(store.get(b"after").unwrap().as_deref(), Some(&b"crash"[..]));
        assert_eq!(store.len(), found.len() + 1, "cut at {cut}");
    }
    // Every prefix state was reachable, including the whole batch and none of it.
    assert_eq!(seen_states.len(), history.len());
}

#[test]
fn every_flipped_bit_is_either_a_torn_tail_or_reported_corruption() {
    let vfs = MemVfs::new();
    let history = write_history(&vfs);
    let whole = vfs.read_whole(&segment_path()).unwrap();
    let mut corrupted_reports = 0;
    for bit in 0..whole.len() * 8 {
        let copy = MemVfs::new();
        let _ = write_history(&copy);
        let mut bad = whole.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        copy.write_whole(&segment_path(), &bad).unwrap();
        match Bitcask::open(DIR, options(&copy)) {
            Ok(store) => {
                // Only damage to the last record may be treated as a torn tail,
                // and then only the last write is lost.
                let found = contents(&store);
                assert_eq!(
                    found,
                    history[history.len() - 2],
                    "bit {bit}: opened with unexpected contents"
                );
            }
            Err(Error::Corrupted { path, offset, .. }) => {
                assert_eq!(path, segment_path());
                assert!(offset < whole.len() as u64);
                corrupted_reports += 1;
            }
            Err(e) => panic!("bit {bit}: unexpected error {e}"),
        }
    }
    assert!(
        corrupted_reports > whole.len() * 6,
        "most flips are mid-file corruption"
    );
}

#[test]
fn corruption_in_a_sealed_segment_is_reported_not_skipped() {
    let vfs = MemVfs::new();
    let opts = options(&vfs).max_file_size(4096);
    let store = Bitcask::open(DIR, opts.clone()).unwrap();
    for i in 0..100u32 {
        store.put(&i.to_be_bytes(), &[7u8; 100]).unwrap();
    }
    store.close().unwrap();
    // Cut the end of the first (sealed) segment: not the newest, so not a torn tail.
    let first = segment_path();
    let bytes = vfs.read_whole(&first).unwrap();
    vfs.write_whole(&first, &bytes[..bytes.len() - 10]).unwrap();
    match Bitcask::open(DIR, opts) {
        Err(Error::Corrupted { path, reason, .. }) => {
            assert_eq!(path, first);
            assert!(reason.contains("sealed"), "{reason}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

/// A value may contain bytes that form a valid record (a client can store
/// anything). A crash that tears the write of such a value must still be a
/// torn tail, not "corruption": otherwise any client could make the store
/// refuse to open after a power cut.
#[test]
fn a_torn_value_that_contains_a_valid_record_is_still_a_torn_tail() {
    let mut embedded = Vec::new();
    bitcask::format::Record {
        kind: bitcask::format::RecordKind::Put,
        seq: 1_000_000,
        meta: 0,
        key: b"x",
        value: b"y",
    }
    .encode_into(&mut embedded);
    let mut value = vec![0xAA; 100];
    for _ in 0..20 {
        value.extend_from_slice(&embedded);
    }
    value.extend_from_slice(&[0xBB; 1000]);
    for keep in (0..value.len() as u64 + 60).step_by(7) {
        let vfs = MemVfs::new();
        let store = Bitcask::open(
            DIR,
            options(&vfs).sync(SyncPolicy::Never).write_buffer_size(1),
        )
        .unwrap();
        store.put(b"before", b"ok").unwrap();
        store.sync().unwrap();
        store.put(b"big", &value).unwrap();
        // The next append hands "big" to the OS, unsynced.
        store.put(b"after", b"x").unwrap();
        // Power fails while the value is being written: only part survives.
        let mut unsynced_seen = 0;
        vfs.crash(|_, unsynced| {
            unsynced_seen = unsynced;
            unsynced.min(keep)
        });
        assert!(
            unsynced_seen as usize > value.len(),
            "the value was not in flight"
        );
        drop(store);
        let store = Bitcask::open(DIR, options(&vfs))
            .unwrap_or_else(|e| panic!("keep {keep}: reopen failed: {e}"));
        assert_eq!(store.get(b"before").unwrap().as_deref(), Some(&b"ok"[..]));
        assert_eq!(
            store.get(b"x").unwrap(),
            None,
            "keep {keep}: embedded record applied"
        );
    }
}
