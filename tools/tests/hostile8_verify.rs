//! hostile8, claim 4 through the offline verifier: a flipped bit in a
//! durable record of the newest Raft segment, followed by valid records,
//! is an error — also for a record that starts at offset 511 with a CRC
//! whose first byte is zero (finding B4 in `raftlog/tests/hostile8_repro.rs`).

use std::path::Path;
use std::sync::Arc;

use bitcask::vfs::{OsVfs, Vfs};
use raftlog::storage::{SegmentLogOptions, SegmentLogStore};
use raftlog::{Entry, EntryPayload, HardState, LogStore};

type C = Vec<u8>;

fn verify(dir: &Path) -> (snowflk_tools::Status, String) {
    let mut out = Vec::new();
    let status = snowflk_tools::verify::run(dir, &Default::default(), &mut out).unwrap();
    (status, String::from_utf8_lossy(&out).into_owned())
}

fn write_log(dir: &Path, entries: &[Entry<C>]) -> std::path::PathBuf {
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs);
    let options = SegmentLogOptions {
        max_segment_bytes: 1 << 20,
        preallocate_bytes: 4096,
    };
    let mut s: SegmentLogStore<C> = SegmentLogStore::open(vfs, dir, options).unwrap();
    s.save_hard_state(HardState {
        term: 1,
        voted_for: Some(1),
    })
    .unwrap();
    s.append(&entries[..2]).unwrap();
    s.append(&entries[2..]).unwrap();
    s.active_segment_path().to_path_buf()
}

#[test]
fn hostile8_b4_verify_reports_a_flipped_bit_in_a_record_at_511_with_a_zero_crc_byte() {
    let e1 = Entry {
        index: 1,
        term: 1,
        payload: EntryPayload::Command(vec![0x11u8; 451]),
    };
    let e3 = Entry {
        index: 3,
        term: 1,
        payload: EntryPayload::Command(vec![0x33u8; 100]),
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut chosen = None;
    for salt in 0u32..100_000 {
        let mut p = vec![0x5Au8; 200];
        p[..4].copy_from_slice(&(salt | 0x0101_0101).to_le_bytes());
        let e2 = Entry {
            index: 2,
            term: 1,
            payload: EntryPayload::Command(p),
        };
        let dir = tmp.path().join(format!("try{salt}"));
        let path = write_log(&dir, &[e1.clone(), e2, e3.clone()]);
        let bytes = std::fs::read(&path).unwrap();
        if bytes[511] == 0 {
            chosen = Some((dir, path));
            break;
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let (dir, path) = chosen.expect("a record CRC with a zero first byte");
    let (status, text) = verify(&dir);
    assert_eq!(
        status,
        snowflk_tools::Status::Clean,
        "the intact log verifies: {text}"
    );
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[511 + 33 + 100] ^= 0x10; // entry 2's payload; no zero byte anywhere in it
    std::fs::write(&path, &bytes).unwrap();
    let (status, text) = verify(&dir);
    assert_eq!(
        status,
        snowflk_tools::Status::Corrupt,
        "a flipped bit in durable entry 2 (entry 3 valid after it) must be an error:\n{text}"
    );
}

/// The same flip in a record at an ordinary offset is an error: the
/// control for the test above.
#[test]
fn hostile8_verify_reports_a_flipped_bit_in_the_newest_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let entries: Vec<Entry<C>> = (1..=3)
        .map(|i| Entry {
            index: i,
            term: 1,
            payload: EntryPayload::Command(vec![0x40 + i as u8; 300]),
        })
        .collect();
    let path = write_log(tmp.path(), &entries);
    let (status, text) = verify(tmp.path());
    assert_eq!(
        status,
        snowflk_tools::Status::Clean,
        "the intact log verifies: {text}"
    );
    let mut bytes = std::fs::read(&path).unwrap();
    let second = 24 + 33 + 3 + 300;
    bytes[second + 100] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let (status, text) = verify(tmp.path());
    assert_eq!(status, snowflk_tools::Status::Corrupt, "{text}");
}

/// Claim 6 through the offline tools: a 64 MiB newest segment that is all
/// zeros after its entries (and one whose last append was torn inside the
/// zeros) is read in about one pass by verify, stat and dump.
#[test]
fn hostile8_tools_read_a_64mib_zero_tail_in_one_pass() {
    use std::time::Instant;
    const SEG: u64 = 64 << 20;
    let tmp = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs);
    let options = SegmentLogOptions {
        max_segment_bytes: SEG,
        preallocate_bytes: SEG,
    };
    let path = {
        let mut s: SegmentLogStore<C> = SegmentLogStore::open(vfs, tmp.path(), options).unwrap();
        s.save_hard_state(HardState {
            term: 1,
            voted_for: None,
        })
        .unwrap();
        s.append(&[Entry {
            index: 1,
            term: 1,
            payload: EntryPayload::Command(vec![1; 100]),
        }])
        .unwrap();
        s.append(&[Entry {
            index: 2,
            term: 1,
            payload: EntryPayload::Command(vec![2; 3000]),
        }])
        .unwrap();
        s.active_segment_path().to_path_buf()
    };
    assert_eq!(std::fs::metadata(&path).unwrap().len(), SEG);
    for torn in [false, true] {
        if torn {
            // Entry 2 keeps its header; its body reads as zeros.
            let mut bytes = std::fs::read(&path).unwrap();
            let off2 = 24 + 33 + 1 + 1 + 100;
            bytes[off2 + 40..off2 + 3000].fill(0);
            std::fs::write(&path, &bytes).unwrap();
        }
        let t = Instant::now();
        let (status, text) = verify(tmp.path());
        let tv = t.elapsed();
        assert_eq!(status, snowflk_tools::Status::Clean, "{text}");
        let t = Instant::now();
        let mut out = Vec::new();
        snowflk_tools::stat::run(tmp.path(), &Default::default(), &mut out).unwrap();
        let ts = t.elapsed();
        let t = Instant::now();
        let mut out = Vec::new();
        let dump_opts = snowflk_tools::dump::DumpOptions {
            limit: 16,
            ..Default::default()
        };
        snowflk_tools::dump::run(tmp.path(), &dump_opts, &mut out).unwrap();
        let td = t.elapsed();
        eprintln!("torn {torn}: verify {tv:?}, stat {ts:?}, dump {td:?}");
        for (what, d) in [("verify", tv), ("stat", ts), ("dump", td)] {
            assert!(
                d.as_secs_f64() < 8.0,
                "{what} of a 64 MiB zero tail (torn {torn}) took {d:?}"
            );
        }
    }
}
