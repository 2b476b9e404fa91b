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
