//! The tools on Raft log directories: written by `raftlog::SegmentLogStore`,
//! or forged record by record with the segment API to break an invariant.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use bitcask::format::{FileKind, Record, RecordKind};
use bitcask::segment::{Appender, Segment};
use bitcask::vfs::OsVfs;
use common::*;

/// Writes a raft-log file `name` in `dir` holding `records` (kind, seq, meta, value).
fn forge(dir: &Path, name: &str, id: u64, records: &[(RecordKind, u64, u64, &[u8])]) {
    let segment = Segment::create(&OsVfs, &dir.join(name), FileKind::RaftLog, id).unwrap();
    let mut appender = Appender::new(Arc::new(segment), 24);
    for &(kind, seq, meta, value) in records {
        appender.append(&Record {
            kind,
            seq,
            meta,
            key: b"",
            value,
        });
    }
    appender.sync().unwrap();
}

fn entry(index: u64, term: u64) -> (RecordKind, u64, u64, &'static [u8]) {
    (RecordKind::RaftEntry, index, term, b"\x00")
}

fn hard_state(term: u64, vote: u64) -> (RecordKind, u64, u64, &'static [u8]) {
    let bytes: &'static [u8] = Box::leak(vote.to_le_bytes().to_vec().into_boxed_slice());
    (RecordKind::RaftHardState, term, vote, bytes)
}

#[test]
fn clean_raft_log_verifies_dumps_and_stats() {
    let dir = raft_dir(60);
    let segments = raft_segments(dir.path()).len();
    assert!(segments >= 3);
    let out = run(&["verify", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "OK: Raft log directory {}: {segments} segments, entries 1..60 (60), hard state term 7 vote 2; 0 errors, 0 warnings\n",
            dir.path().display()
        )
    );

    let dump = stdout(&run(&["dump", s(dir.path())]));
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(
        lines[0],
        r#"log-00000000000000000001.seg:24 raft-entry index=1 term=1 payload="\x00""#
    );
    assert_eq!(lines.len(), 60 + 2, "entries, then two hard-state records");
    assert!(lines[61].starts_with("hardstate:"), "{dump}");
    assert!(
        lines[61].contains("raft-hard-state term=7 vote=2"),
        "{dump}"
    );

    let json = dump_json(dir.path(), &["--segment", "2"]);
    assert_eq!(json[0]["kind"], "raft-entry");
    assert_eq!(json[0]["index"], 12);
    assert!(json[0]["term"].as_u64().is_some());

    let stat = stdout(&run(&["stat", s(dir.path())]));
    assert!(
        stat.lines().last().unwrap() == "hard state: term 7 vote 2",
        "{stat}"
    );
    let total = stat.lines().find(|l| l.starts_with("total")).unwrap();
    assert_eq!(
        total.split_whitespace().collect::<Vec<_>>()[2..],
        ["60", "1", "60", "1", "7"]
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["stat", "--json", s(dir.path())]))).unwrap();
    assert_eq!(json["kind"], "raft-log");
    assert_eq!(json["total"]["entries"], 60);
    assert_eq!(json["vote"], 2);
}

/// A newest segment shorter than its header is a segment being created (a
/// live server rotating, or a crash right then): `stat` counts the entries
/// before it, as `verify` and `dump` do, instead of failing (hostile14 F1).
#[test]
fn a_newest_segment_shorter_than_its_header_is_not_corruption_for_any_tool() {
    let dir = raft_dir(60);
    let last = raft_segments(dir.path()).len() as u64;
    let torn = dir.path().join(format!("log-{:020}.seg", last + 1));
    fs::write(&torn, b"").unwrap();
    for args in [&["verify"][..], &["dump"], &["stat"], &["stat", "--json"]] {
        let mut all = args.to_vec();
        all.push(s(dir.path()));
        let out = run(&all);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
    let stat = stdout(&run(&["stat", s(dir.path())]));
    let total = stat.lines().find(|l| l.starts_with("total")).unwrap();
    assert!(total.contains("60"), "{stat}");
    // Not the newest: still corruption.
    fs::rename(&torn, dir.path().join("log-00000000000000000000.seg")).unwrap();
    let out = run(&["stat", s(dir.path())]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn gap_in_the_raft_log_is_corruption() {
    let dir = raft_dir(60);
    let segments = raft_segments(dir.path());
    // Segment 3 holds entries 23..=33 (11 entries of 34 bytes per segment).
    fs::remove_file(&segments[2]).unwrap();
    let out = run(&["verify", s(dir.path())]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "error: log-00000000000000000004.seg offset 24: entry index 34 where 23 was expected: entries 23..33 are missing"
        ),
        "{text}"
    );
    assert!(text.contains("; 1 error, 0 warnings"), "{text}");
    assert!(text.starts_with("error: "), "{text}");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("CORRUPT: Raft log directory")
    );
}

#[test]
fn a_prefix_purged_behind_a_snapshot_is_not_a_gap_but_one_without_is_lost() {
    use raftlog::{LogStore, SnapshotMeta};
    let dir = raft_dir(60);
    {
        let mut store = open_raft_retrying(dir.path(), 512);
        store
            .save_snapshot(&SnapshotMeta {
                index: 30,
                term: 4,
                voters: vec![1, 2, 3],
                learners: vec![],
            })
            .unwrap();
        store.purge_up_to(30).unwrap();
    }
    let out = run(&["verify", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("snapshot at 30 (term 4)"), "{text}");
    assert!(!text.contains("entries 1..60"), "nothing purged: {text}");

    // The same log without its snapshot record has lost its prefix.
    fs::remove_file(dir.path().join("snapshot")).unwrap();
    let out = run(&["verify", s(dir.path())]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("snapshot: missing, but the log starts at"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn decreasing_terms_and_bad_hard_state_are_corruption() {
    let dir = tempfile::tempdir().unwrap();
    forge(
        dir.path(),
        "log-00000000000000000001.seg",
        1,
        &[entry(1, 1), entry(2, 3), entry(3, 2)],
    );
    forge(
        dir.path(),
        "hardstate",
        0,
        &[hard_state(3, 1), hard_state(3, 2), hard_state(1, 2)],
    );
    let out = run(&["verify", s(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("error: log-00000000000000000001.seg offset 92: entry 3 has term 2, below the term 3 of the entry before it"),
        "{text}"
    );
    assert!(
        text.contains(
            "error: hardstate offset 65: vote in term 3 changes from 1 to 2 (one vote per term)"
        ),
        "{text}"
    );
    assert!(
        text.contains("error: hardstate offset 106: term goes back from 3 to 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "error: hardstate: current term 1 is below the term 2 of the last log entry 3"
        ),
        "{text}"
    );
    assert!(text.contains("; 4 errors, 0 warnings"), "{text}");
}

#[test]
fn missing_hard_state_with_entries_is_corruption() {
    let dir = raft_dir(20);
    fs::remove_file(dir.path().join("hardstate")).unwrap();
    let out = run(&["verify", s(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("error: hardstate: missing, but the log holds entries up to term 3"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bit_flip_and_torn_tail_in_a_raft_log() {
    let dir = raft_dir(60);
    let segments = raft_segments(dir.path());
    flip_bit(&segments[1], 24 + 60);
    let newest = segments.last().unwrap();
    let len = fs::metadata(newest).unwrap().len();
    truncate(newest, len - 4);
    let out = run(&["verify", s(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("error: log-00000000000000000002.seg offset "),
        "{text}"
    );
    assert!(text.contains("checksum mismatch"), "{text}");
    let newest_name = newest.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        text.contains(&format!("warning: {newest_name} offset ")),
        "{text}"
    );
    assert!(text.contains("the newest segment ends in"), "{text}");
}

#[test]
fn engine_only_flags_on_a_raft_log_are_usage_errors() {
    let dir = raft_dir(10);
    for flag in ["--keys-only", "--live-only"] {
        let out = run(&["dump", flag, s(dir.path())]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(stderr(&out).contains("is a Raft log"));
    }
}

#[test]
fn mixed_directory_is_an_error() {
    let dir = raft_dir(10);
    let engine = engine_dir();
    fs::copy(
        engine.path().join("0000000001.data"),
        dir.path().join("0000000001.data"),
    )
    .unwrap();
    let out = run(&["verify", s(dir.path())]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("holds both engine data files and Raft log files"));
}

/// Extends `path` by `n` zero bytes, as the Raft log prepares its newest
/// segment ahead of its appends.
fn append_zeros(path: &Path, n: u64) {
    let len = fs::metadata(path).unwrap().len();
    truncate(path, len + n);
}

/// Overwrites `[offset, offset + len)` of `path` with zeros.
fn zero_range(path: &Path, offset: u64, len: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize..(offset + len) as usize].fill(0);
    fs::write(path, bytes).unwrap();
}

/// `(offset, encoded length)` of the entry with index `index` in `path`.
fn entry_extent(path: &Path, index: u64) -> (u64, u64) {
    let segment = Segment::open(&OsVfs, path, false).unwrap();
    let mut found = None;
    bitcask::segment::scan(&segment, |offset, record| {
        if record.seq == index {
            found = Some((offset, record.encoded_len() as u64));
        }
        Ok(())
    })
    .unwrap();
    found.unwrap()
}

/// `raft_dir(60)`, then entries 61..=64 with payloads of 1500 bytes
/// (records that span whole 512-byte sectors) appended to its newest
/// segment. With `then_rotate`, entry 65 then starts a new segment, so the
/// large entries sit in one that is not the newest. Returns the directory
/// and the segment holding entries 61..=64.
fn large_entries_dir(then_rotate: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    use raftlog::{Entry, EntryPayload, LogStore};
    let dir = raft_dir(60);
    let open = |max_segment_bytes| open_raft_retrying(dir.path(), max_segment_bytes);
    let entry = |index| Entry {
        index,
        term: 7,
        payload: EntryPayload::Command(format!("{index}").repeat(750)),
    };
    // A larger limit lets the newest segment (under 512 bytes) take them all.
    open(64 * 1024)
        .append(&(61..=64).map(entry).collect::<Vec<_>>())
        .unwrap();
    let holder = raft_segments(dir.path()).pop().unwrap();
    if then_rotate {
        open(512).append(&[entry(65)]).unwrap();
        assert_ne!(raft_segments(dir.path()).pop().unwrap(), holder);
    }
    (dir, holder)
}

/// Zeroes the first whole 512-aligned sector inside entry 62 of `segment`:
/// what a power loss leaves of an overwrite of prepared zeros whose later
/// sectors (entries 63 and 64) were written but this one was not.
fn unwrite_a_sector_of_entry_62(segment: &Path) -> u64 {
    let (offset, len) = entry_extent(segment, 62);
    let sector = offset.div_ceil(512) * 512;
    assert!(
        sector + 512 <= offset + len,
        "entry 62 holds a whole sector"
    );
    zero_range(segment, sector, 512);
    offset
}

/// A log as a node writes it by default (the newest segment prepared with
/// zeros past its last entry) verifies without a warning.
#[test]
fn a_log_written_with_prepared_space_verifies_clean() {
    let dir = raft_dir_with(60, 256);
    let segments = raft_segments(dir.path());
    let newest = segments.last().unwrap();
    let bytes = fs::read(newest).unwrap();
    assert!(
        bytes.ends_with(&[0u8; 16]),
        "the newest segment is prepared"
    );
    let out = run(&["verify", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("entries 1..60 (60)"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("0 errors, 0 warnings"),
        "{}",
        stdout(&out)
    );
    let out = run(&["dump", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(stdout(&out).lines().count(), 60 + 2, "{}", stdout(&out));
}

#[test]
fn zero_tail_of_the_newest_raft_segment_is_prepared_space_not_damage() {
    let dir = raft_dir(60);
    let segments = raft_segments(dir.path());
    let newest = segments.last().unwrap();
    append_zeros(newest, 1 << 20);

    let out = run(&["verify", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "OK: Raft log directory {}: {} segments, entries 1..60 (60), hard state term 7 vote 2; 0 errors, 0 warnings\n",
            dir.path().display(),
            segments.len()
        )
    );
    let out = run(&["dump", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "no note about prepared space");
    assert_eq!(stdout(&out).lines().count(), 60 + 2, "{}", stdout(&out));
    let out = run(&["dump", s(newest)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "the newest segment dumped alone");
    let out = run(&["stat", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let total = stdout(&out);
    let total = total.lines().find(|l| l.starts_with("total")).unwrap();
    assert_eq!(total.split_whitespace().nth(2), Some("60"), "{total}");

    // Only the newest segment is prepared: an older one was cut to its last
    // record before the next was created, so zeros there are damage.
    let older = &segments[1];
    let len = fs::metadata(older).unwrap().len();
    append_zeros(older, 4096);
    let out = run(&["verify", s(dir.path())]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "error: log-00000000000000000002.seg offset {len}: segment that is not the newest ends in 4096 bytes of an incomplete entry"
        )),
        "{text}"
    );
    assert!(text.contains("; 1 error, 0 warnings"), "{text}");
    let out = run(&["dump", s(older)]);
    assert!(
        stderr(&out).contains(&format!(
            "note: log-00000000000000000002.seg: 4096 bytes from offset {len} are an incomplete tail"
        )),
        "{}",
        stderr(&out)
    );

    // Engine data segments are not prepared: zeros after the active
    // segment's last record stay a torn tail.
    let engine = engine_dir();
    let active = data_files(engine.path()).pop().unwrap();
    append_zeros(&active, 4096);
    let out = run(&["verify", s(engine.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("the active segment ends in 4096 bytes of an incomplete record"),
        "{text}"
    );
    let out = run(&["dump", s(engine.path())]);
    assert!(
        stderr(&out).contains("4096 bytes from offset "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn append_interrupted_inside_prepared_space_is_a_warning_but_a_bit_flip_is_corruption() {
    let (dir, newest) = large_entries_dir(false);
    let bad = unwrite_a_sector_of_entry_62(&newest);
    append_zeros(&newest, 4096);
    let n = fs::metadata(&newest).unwrap().len() - bad;
    let name = newest.file_name().unwrap().to_string_lossy().into_owned();

    let out = run(&["verify", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "warning: {name} offset {bad}: the newest segment ends in an append a crash interrupted inside prepared space ({n} bytes from offset {bad}, including records that were never made durable); cut on the next open\n"
        )),
        "{text}"
    );
    // Entries 63 and 64 after the cut are not checked or counted: the
    // opener drops them.
    assert!(
        text.contains(", entries 1..61 (61), hard state term 7 vote 2; 0 errors, 1 warning\n"),
        "{text}"
    );
    assert!(
        text.starts_with("warning: "),
        "nothing else reported: {text}"
    );

    let out = run(&["dump", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "note: {name}: {n} bytes from offset {bad} are an append a crash interrupted inside prepared space, not corruption (they include records that were never made durable; cut on the next open); not shown\n"
        )
    );
    let dumped = stdout(&out);
    assert!(dumped.contains(" raft-entry index=61 "), "{dumped}");
    assert!(!dumped.contains(" raft-entry index=63 "), "{dumped}");
    let out = run(&["stat", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "note: {name}: {n} bytes from offset {bad} are an append a crash interrupted"
        )),
        "{}",
        stderr(&out)
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["stat", "--json", s(dir.path())]))).unwrap();
    assert_eq!(json["total"]["last_index"], 61);

    // The same record with one bit flipped instead: no zeroed sector, so
    // bytes that were once durable went bad.
    let (dir, newest) = large_entries_dir(false);
    let (bad, _) = entry_extent(&newest, 62);
    flip_bit(&newest, bad + 600);
    append_zeros(&newest, 4096);
    let out = run(&["verify", s(dir.path())]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("error: {name} offset {bad}: checksum mismatch")),
        "{text}"
    );
    assert!(text.contains("a valid record follows at offset"), "{text}");
    assert!(!text.contains("prepared space"), "{text}");
    let out = run(&["dump", s(dir.path())]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("error: {name} offset {bad}: checksum mismatch")),
        "{}",
        stderr(&out)
    );
    assert_eq!(run(&["stat", s(dir.path())]).status.code(), Some(1));

    // The zeroed sector in a segment that is not the newest: that one was
    // complete and fsynced before the next was created, so it is damage.
    let (dir, older) = large_entries_dir(true);
    let bad = unwrite_a_sector_of_entry_62(&older);
    let out = run(&["verify", s(dir.path())]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("error: {name} offset {bad}: ")),
        "{text}"
    );
    assert!(!text.contains("prepared space"), "{text}");
    assert_eq!(run(&["dump", s(dir.path())]).status.code(), Some(1));
    assert_eq!(run(&["stat", s(dir.path())]).status.code(), Some(1));
}

#[test]
fn a_record_of_the_wrong_kind_stays_corruption_whatever_zeros_it_holds() {
    // A record that decodes was written whole: a sector of zeros in its
    // value is no mark of an interrupted write.
    let dir = tempfile::tempdir().unwrap();
    let zeros = [0u8; 1200];
    forge(
        dir.path(),
        "log-00000000000000000001.seg",
        1,
        &[
            entry(1, 1),
            entry(2, 1),
            (RecordKind::RaftHardState, 3, 0, &zeros),
            entry(4, 1),
        ],
    );
    forge(dir.path(), "hardstate", 0, &[hard_state(1, 1)]);
    let out = run(&["verify", s(dir.path())]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "error: log-00000000000000000001.seg offset 92: raft-hard-state record in a raft-log segment"
        ),
        "{text}"
    );
    assert!(!text.contains("prepared space"), "{text}");
}
