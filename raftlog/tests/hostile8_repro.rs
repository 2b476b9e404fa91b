//! Minimal deterministic reproducers of the claim violations the hostile8
//! sweeps found (see `hostile8_crash_sweep.rs`). Each test states the
//! claim, what it observes, and what it expects.

mod hostile8_common;

use bitcask::vfs::MemVfs;
use hostile8_common::*;
use raftlog::storage::SegmentLogOptions;
use raftlog::{Entry, EntryPayload, Index, LogStore};

fn cmd(index: Index, len: usize) -> Entry<C> {
    Entry {
        index,
        term: 1,
        payload: EntryPayload::Command(vec![0xAB; len]),
    }
}

/// B1. A transient fault on the first write into a segment an append just
/// rotated to leaves the failed batch in the appender's buffer (the
/// rollback only runs when no rotation happened). Retrying the append —
/// which returns Ok — writes the batch twice; the next open refuses the log
/// as corrupted ("entry index 2 where Some(3) was expected").
///
/// Expected (claims 1, 2; LogStore rule 2 "changes nothing" / rule 4): the
/// retried append is durable and the log reopens holding [1, 2].
#[test]
#[ignore = "hostile8 finding B1 (fails); run with --ignored"]
fn hostile8_b1_retry_after_failed_write_into_rotated_segment_duplicates_entries() {
    let mut errors = Vec::new();
    for prealloc in [0u64, 4096] {
        let vfs = MemVfs::new();
        let options = SegmentLogOptions {
            max_segment_bytes: 200,
            preallocate_bytes: prealloc,
        };
        let mut s = open(&vfs, &options).unwrap();
        s.append(&[cmd(1, 100)]).unwrap();
        // Rotation: [with preallocation: cut the zeros = set_len, sync;]
        // create (open, write header, sync, sync dir); [the zeros of the new
        // segment, best effort;] then the first write of the batch: fail it.
        let n = if prealloc == 0 { 4 } else { 7 };
        vfs.fail_once_after_ops(n);
        let e = s.append(&[cmd(2, 100)]).expect_err("the fault hits the append");
        eprintln!("prealloc {prealloc}: first error {e}");
        s.append(&[cmd(2, 100)]).expect("the retried append succeeds");
        assert_eq!(all(&s).unwrap().len(), 2, "the live store holds 2 entries");
        drop(s);
        match open(&vfs, &options) {
            Ok(s) if all(&s).unwrap() == vec![cmd(1, 100), cmd(2, 100)] => {}
            Ok(s) => errors.push(format!("prealloc {prealloc}: reopened with {} entries", all(&s).unwrap().len())),
            Err(e) => errors.push(format!("prealloc {prealloc}: reopen after a retried append fails: {e}")),
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// B2. A transient fault on the fsync that makes the cut of the prepared
/// zeros durable during rotation: the append fails, and its rollback sets
/// the in-memory "prepared" length to the (cut, but not durable) file
/// length. The retried append rotates without cutting again, so the sealed
/// segment's durable bytes still end in zeros. After a power loss, the
/// store refuses to open: "unreadable tail in a segment that is not the
/// newest".
///
/// Expected (claims 1, 2, 3): every sealed segment ends in its last record
/// after any crash, and the store reopens with both entries.
#[test]
#[ignore = "hostile8 finding B2 (fails); run with --ignored"]
fn hostile8_b2_retry_after_failed_trim_sync_leaves_zeros_in_sealed_segment() {
    let vfs = MemVfs::new();
    let options = SegmentLogOptions {
        max_segment_bytes: 1000,
        preallocate_bytes: 1000,
    };
    let mut s = open(&vfs, &options).unwrap();
    s.append(&[cmd(1, 400)]).unwrap();
    assert_eq!(vfs.read_whole(s.active_segment_path()).unwrap().len(), 1000, "prepared");
    // Rotation: trim = set_len (op 0), sync (op 1, fails).
    vfs.fail_once_after_ops(1);
    assert!(s.append(&[cmd(2, 700)]).is_err(), "the fault hits the trim's fsync");
    s.append(&[cmd(2, 700)]).expect("the retried append succeeds");
    assert_eq!(s.segment_count(), 2);
    drop(s);
    vfs.power_loss(|_, _| 0);
    let sealed = check_sealed_segments(&vfs);
    let reopened = open(&vfs, &options).map(|s| all(&s).unwrap());
    assert!(
        sealed.is_ok() && reopened.as_ref().is_ok_and(|v| v == &vec![cmd(1, 400), cmd(2, 700)]),
        "sealed-segment check: {sealed:?}; reopen: {:?}",
        reopened.map(|v| v.len())
    );
}

/// B1 with a full disk instead of an injected fault: an append that
/// rotates into a new segment fails with ENOSPC on its write, the operator
/// frees space, the caller retries and the retry returns Ok — and the next
/// open refuses the log as corrupted (the failed batch was kept in the
/// appender's buffer and written again in front of the retried one).
///
/// Expected (claims 1, 2, 5): the retried append is durable and the log
/// reopens holding [1, 2].
#[test]
#[ignore = "hostile8 finding B1, ENOSPC variant (fails); run with --ignored"]
fn hostile8_b1_disk_full_on_rotation_then_retry_duplicates_entries() {
    let mut errors = Vec::new();
    for prealloc in [0u64, 1000] {
        let vfs = MemVfs::new();
        let options = SegmentLogOptions {
            max_segment_bytes: 200,
            preallocate_bytes: prealloc,
        };
        let mut s = open(&vfs, &options).unwrap();
        s.append(&[cmd(1, 100)]).unwrap();
        // Room for the new segment's 24-byte header, not for the record.
        vfs.set_space_limit(Some(vfs.used_bytes() + 30));
        let err = s.append(&[cmd(2, 100)]).expect_err("disk full");
        vfs.set_space_limit(None);
        s.append(&[cmd(2, 100)]).expect("the retried append succeeds once space is freed");
        drop(s);
        match open(&vfs, &options) {
            Ok(s) if all(&s).unwrap() == vec![cmd(1, 100), cmd(2, 100)] => {}
            Ok(s) => errors.push(format!("prealloc {prealloc}: reopened with {} entries", all(&s).unwrap().len())),
            Err(e) => errors.push(format!("prealloc {prealloc} (first error: {err}): reopen fails: {e}")),
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// B3. `purge_up_to` that fails on its second file removal (a transient
/// fault) has already dropped both segments from its in-memory list but not
/// updated the entry index: reads afterwards return the entries of the
/// wrong segment under the requested indexes (silently: entry 1 comes back
/// as the record of entry 5), or panic with an index out of bounds. A
/// retried purge then returns Ok without removing the second file.
///
/// Expected: reads after an Err either fail or return the right entries
/// (the API promises `entries(lo, hi)` returns entries `lo..hi`); never
/// another entry, never a panic.
#[test]
#[ignore = "hostile8 finding B3 (fails); run with --ignored"]
fn hostile8_b3_failed_purge_makes_reads_return_wrong_entries() {
    let vfs = MemVfs::new();
    // Two 133-byte records per segment.
    let options = SegmentLogOptions {
        max_segment_bytes: 24 + 2 * 136,
        preallocate_bytes: 0,
    };
    let mut s = open(&vfs, &options).unwrap();
    for i in 1..=8 {
        s.append(&[cmd(i, 100)]).unwrap();
    }
    assert_eq!(s.segment_count(), 4);
    vfs.fail_once_after_ops(1);
    let err = s.purge_up_to(4).expect_err("the second removal fails");
    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.entries(s.first_index(), s.first_index() + 2, None)
    }));
    match got {
        Ok(Ok(entries)) => {
            let idx: Vec<Index> = entries.iter().map(|e| e.index).collect();
            assert_eq!(
                idx,
                vec![s.first_index(), s.first_index() + 1],
                "after the failed purge ({err}), entries({}, {}) returned entries {idx:?}",
                s.first_index(),
                s.first_index() + 2
            );
        }
        Ok(Err(_)) => {}
        Err(_) => panic!("entries() panicked after a failed purge ({err})"),
    }
}
