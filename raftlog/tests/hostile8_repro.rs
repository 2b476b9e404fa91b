//! Minimal deterministic reproducers of the claim violations the hostile8
//! sweeps found (see `hostile8_crash_sweep.rs`). Each test states the
//! claim, what it observes, and what it expects.

mod hostile8_common;

use bitcask::vfs::MemVfs;
use hostile8_common::*;
use raftlog::storage::SegmentLogOptions;
use raftlog::{Entry, EntryPayload, Index, LogStore};

/// The store's contract after a failed write: it refuses every call
/// (`StorageError::Poisoned`) until reopened; the caller reopens and retries.
fn retry_after_reopen(
    mut s: Store,
    vfs: &MemVfs,
    options: &SegmentLogOptions,
    entries: &[Entry<C>],
) -> Store {
    match s.append(entries) {
        Err(raftlog::StorageError::Poisoned(_)) => {}
        other => panic!("a store that failed must refuse until reopened, got {other:?}"),
    }
    drop(s);
    s = open(vfs, options).expect("reopen after the failure");
    if s.last_index() + 1 == entries[0].index {
        s.append(entries)
            .expect("the append after reopening succeeds");
    }
    s
}

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
        let e = s
            .append(&[cmd(2, 100)])
            .expect_err("the fault hits the append");
        eprintln!("prealloc {prealloc}: first error {e}");
        let s = retry_after_reopen(s, &vfs, &options, &[cmd(2, 100)]);
        assert_eq!(all(&s).unwrap().len(), 2, "the live store holds 2 entries");
        drop(s);
        match open(&vfs, &options) {
            Ok(s) if all(&s).unwrap() == vec![cmd(1, 100), cmd(2, 100)] => {}
            Ok(s) => errors.push(format!(
                "prealloc {prealloc}: reopened with {} entries",
                all(&s).unwrap().len()
            )),
            Err(e) => errors.push(format!(
                "prealloc {prealloc}: reopen after a retried append fails: {e}"
            )),
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
fn hostile8_b2_retry_after_failed_trim_sync_leaves_zeros_in_sealed_segment() {
    let vfs = MemVfs::new();
    let options = SegmentLogOptions {
        max_segment_bytes: 1000,
        preallocate_bytes: 1000,
    };
    let mut s = open(&vfs, &options).unwrap();
    s.append(&[cmd(1, 400)]).unwrap();
    assert_eq!(
        vfs.read_whole(s.active_segment_path()).unwrap().len(),
        1000,
        "prepared"
    );
    // Rotation: trim = set_len (op 0), sync (op 1, fails).
    vfs.fail_once_after_ops(1);
    assert!(
        s.append(&[cmd(2, 700)]).is_err(),
        "the fault hits the trim's fsync"
    );
    let s = retry_after_reopen(s, &vfs, &options, &[cmd(2, 700)]);
    assert_eq!(s.segment_count(), 2);
    drop(s);
    vfs.power_loss(|_, _| 0);
    let sealed = check_sealed_segments(&vfs);
    let reopened = open(&vfs, &options).map(|s| all(&s).unwrap());
    assert!(
        sealed.is_ok()
            && reopened
                .as_ref()
                .is_ok_and(|v| v == &vec![cmd(1, 400), cmd(2, 700)]),
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
        let s = retry_after_reopen(s, &vfs, &options, &[cmd(2, 100)]);
        drop(s);
        match open(&vfs, &options) {
            Ok(s) if all(&s).unwrap() == vec![cmd(1, 100), cmd(2, 100)] => {}
            Ok(s) => errors.push(format!(
                "prealloc {prealloc}: reopened with {} entries",
                all(&s).unwrap().len()
            )),
            Err(e) => errors.push(format!(
                "prealloc {prealloc} (first error: {err}): reopen fails: {e}"
            )),
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

/// B4 (claim 4). The "unwritten sector" mark checks each sector a record
/// overlaps from max(record start, sector start) to the sector's end. For
/// the sector holding the record's start, that range begins at the
/// record's first byte, its CRC. A record that starts 1 byte before a
/// 512-byte boundary (offset ≡ 511 mod 512) and whose CRC's first byte is
/// 0x00 (1 record in 256 at such an offset) therefore always "shows the
/// mark": a flipped bit anywhere in it — its payload holds no zero at all —
/// is cut from the newest segment as an unfinished write, together with the
/// valid, acknowledged records after it, and the store opens without error.
///
/// Expected (claim 4): `Corrupted` naming the segment and offset 511; the
/// documented exception covers only records whose payload holds a whole
/// aligned sector of zeros.
#[test]
fn hostile8_b4_flipped_bit_in_record_at_offset_511_with_zero_crc_byte_is_silently_cut() {
    use bitcask::segment::{Segment, scan};
    let options = SegmentLogOptions {
        max_segment_bytes: 1 << 20,
        preallocate_bytes: 4096,
    };
    // Entry 1's record: 24 + 33 + (1 + 2 + 451) = 511, so entry 2 starts at 511.
    let e1 = Entry {
        index: 1,
        term: 1,
        payload: EntryPayload::Command(vec![0x11u8; 451]),
    };
    // Entry 2: nonzero bytes, varied until its record CRC's low byte is 0.
    let mut found = None;
    for salt in 0u32..100_000 {
        let mut p = vec![0x5Au8; 200];
        p[..4].copy_from_slice(&(salt | 0x0101_0101).to_le_bytes());
        let e2 = Entry {
            index: 2,
            term: 1,
            payload: EntryPayload::Command(p),
        };
        let vfs = MemVfs::new();
        let mut s = open(&vfs, &options).unwrap();
        s.append(&[e1.clone(), e2.clone()]).unwrap();
        let path = s.active_segment_path().to_path_buf();
        drop(s);
        let bytes = vfs.read_whole(&path).unwrap();
        if bytes[511] == 0 {
            found = Some((e2, salt));
            break;
        }
    }
    let (e2, salt) = found.expect("a CRC with a zero low byte");
    let e3 = Entry {
        index: 3,
        term: 1,
        payload: EntryPayload::Command(vec![0x33u8; 100]),
    };
    let vfs = MemVfs::new();
    let mut s = open(&vfs, &options).unwrap();
    s.append(&[e1.clone(), e2.clone()]).unwrap();
    s.append(std::slice::from_ref(&e3)).unwrap();
    let path = s.active_segment_path().to_path_buf();
    drop(s);
    let seg = Segment::open(&vfs, &path, false).unwrap();
    let mut offsets = Vec::new();
    scan(&seg, |off, _| {
        offsets.push(off);
        Ok(())
    })
    .unwrap();
    assert_eq!(
        offsets,
        vec![24, 511, 511 + 33 + 1 + 2 + 200],
        "layout (salt {salt})"
    );
    let clean = vfs.read_whole(&path).unwrap();
    assert_eq!(clean[511], 0, "entry 2's CRC starts with a zero byte");
    let mut failures = Vec::new();
    // Flip one bit in entry 2's payload (far from any zero), and one in its header.
    for pos in [511 + 33 + 100, 511 + 10] {
        let mut bad = clean.clone();
        bad[pos] ^= 0x10;
        vfs.write_whole(&path, &bad).unwrap();
        match open(&vfs, &options) {
            Err(raftlog::StorageError::Corrupted { offset: 511, .. }) => {}
            Ok(s) => failures.push(format!(
                "flip at byte {pos}: opened without error holding {} of 3 acknowledged entries",
                s.last_index()
            )),
            Err(e) => failures.push(format!("flip at byte {pos}: {e}")),
        }
        vfs.write_whole(&path, &clean).unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// B5 (claim 2). A crash during the very first open of a log directory,
/// while it creates the `hardstate` file (after the file exists, before its
/// 24-byte header is written), leaves a `hardstate` shorter than a header.
/// Unlike a torn new segment or a torn `snapshot` file, which the opener
/// removes, a torn `hardstate` fails every later open:
/// `Corrupted { path: "/log/hardstate", offset: 0, reason: "incomplete header: file has 0 of 24 bytes" }`.
///
/// Expected (claim 2): after any crash the store opens; a `hardstate` torn
/// while being created never held a record (the empty hard state).
#[test]
fn hostile8_b5_crash_while_creating_hardstate_on_first_open_bricks_the_log() {
    let options = SegmentLogOptions::default();
    let mut failures = Vec::new();
    let mut opened_clean = 0;
    for n in 0..16 {
        for power in [false, true] {
            let vfs = MemVfs::new();
            vfs.fail_after_ops(n);
            let first = open(&vfs, &options);
            let first_ok = first.is_ok();
            vfs.process_crash();
            drop(first);
            if power {
                vfs.power_loss(|_, u| u);
            }
            match open(&vfs, &options) {
                Ok(s) => {
                    opened_clean += 1;
                    assert_eq!(s.last_index(), 0);
                }
                Err(e) => failures.push(format!(
                    "first open stopped at file operation {n} (it returned {}), then {}: reopen fails: {e}",
                    if first_ok { "Ok" } else { "Err" },
                    if power { "process crash + power loss" } else { "process crash" }
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{opened_clean} reopened; failures:\n{}",
        failures.join("\n")
    );
}
