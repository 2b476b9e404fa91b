//! `Options::replaceable_active_tail`: a power loss under `SyncPolicy::Never`
//! can keep later pages of the active segment and lose an earlier one. An
//! engine that is its own durability reports that as corruption; one whose
//! owner replays a log (snowflk-server in Raft mode) cuts there and opens.

use std::path::{Path, PathBuf};

use bitcask::{BatchOp, Bitcask, Error, Options, SyncPolicy};

fn newest_data_file(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    files.sort();
    files.pop().unwrap()
}

/// 2,000 batches of (key, applied index) written without fsync, then one
/// 4 KiB page in the middle of the segment zeroed (lost) while the pages
/// after it are kept.
fn engine_with_a_lost_page() -> (tempfile::TempDir, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Bitcask::open(tmp.path(), Options::default().sync(SyncPolicy::Never)).unwrap();
    for i in 0..2000u32 {
        store
            .write_batch(&[
                BatchOp::put(format!("key{i:05}"), vec![b'v'; 40]),
                BatchOp::put("applied", i.to_le_bytes()),
            ])
            .unwrap();
    }
    store.close().unwrap();
    let path = newest_data_file(tmp.path());
    let len = std::fs::metadata(&path).unwrap().len();
    let hole = (len / 2) / 4096 * 4096;
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[0u8; 4096], hole).unwrap();
    f.sync_all().unwrap();
    (tmp, hole)
}

#[test]
fn a_lost_page_in_the_active_segment_is_corruption_by_default() {
    let (tmp, hole) = engine_with_a_lost_page();
    match Bitcask::open(tmp.path(), Options::default().sync(SyncPolicy::Never)) {
        Err(Error::Corrupted { offset, reason, .. }) => {
            assert!(offset <= hole, "{offset} {hole}");
            assert!(reason.contains("a valid record follows"), "{reason}");
        }
        other => panic!("opened a damaged engine: {:?}", other.map(|s| s.len())),
    }
}

#[test]
fn a_replaceable_active_tail_is_cut_at_the_lost_page_keeping_whole_batches() {
    let (tmp, hole) = engine_with_a_lost_page();
    let options = Options::default()
        .sync(SyncPolicy::Never)
        .replaceable_active_tail(true);
    let store = Bitcask::open(tmp.path(), options.clone()).unwrap();
    let applied = u32::from_le_bytes(store.get(b"applied").unwrap().unwrap().try_into().unwrap());
    assert!(applied > 100 && applied < 1999, "applied {applied}");
    // A consistent prefix: every batch up to the applied one, none after.
    for i in 0..2000u32 {
        let present = store
            .get(format!("key{i:05}").as_bytes())
            .unwrap()
            .is_some();
        assert_eq!(present, i <= applied, "key{i:05} (applied {applied})");
    }
    let cut = std::fs::metadata(newest_data_file(tmp.path()))
        .unwrap()
        .len();
    assert!(cut <= hole, "the segment was not cut: {cut} > {hole}");
    // It goes on from there, and the next open is clean even without the option.
    store
        .write_batch(&[BatchOp::put("after", b"cut".to_vec())])
        .unwrap();
    store.close().unwrap();
    let again = Bitcask::open(tmp.path(), Options::default()).unwrap();
    assert_eq!(again.get(b"after").unwrap().as_deref(), Some(&b"cut"[..]));
}
