//! `dump` and `stat` on engine data directories, and `--help`.

mod common;

use std::collections::BTreeSet;
use std::fs;

use common::*;

#[test]
fn dump_prints_every_record_in_file_order_with_the_shared_printer() {
    let dir = engine_dir();
    let out = run(&["dump", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        r#"0000000001.data:24 put seq=1 key="k000" value="value-0-of-the-first-round""#
    );
    // Escaping of binary keys and values, batches and tombstones.
    assert!(
        text.contains(r#"put seq=316 key="bin\x00\xff" value="\x01\x02\n""#),
        "{text}"
    );
    assert!(text.contains(" batch-begin seq=311 count=3\n"), "{text}");
    assert!(text.contains(r#" tombstone seq=314 key="k110""#), "{text}");
    // Every record, once: sequence numbers 1..=316 in order.
    let seqs: Vec<u64> = text
        .lines()
        .filter_map(|l| l.split(" seq=").nth(1))
        .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, (1..=316).collect::<Vec<_>>());
    assert!(stderr(&out).is_empty());
}

#[test]
fn dump_truncates_values_unless_full() {
    let dir = engine_dir();
    let short = stdout(&run(&[
        "dump",
        "--max-bytes",
        "4",
        "--segment",
        "1",
        s(dir.path()),
    ]));
    assert!(
        short.starts_with(r#"0000000001.data:24 put seq=1 key="k000" value="valu...(+22 bytes)""#),
        "{short}"
    );
    let full = stdout(&run(&["dump", "--full", "--segment", "1", s(dir.path())]));
    assert!(full.contains(r#"value="value-0-of-the-first-round""#));
    let conflict = run(&["dump", "--full", "--max-bytes", "3", s(dir.path())]);
    assert_eq!(conflict.status.code(), Some(2));
}

#[test]
fn dump_json_is_one_object_per_line() {
    let dir = engine_dir();
    let records = dump_json(dir.path(), &[]);
    assert_eq!(records.len(), 316);
    let first = &records[0];
    assert_eq!(first["file"], "0000000001.data");
    assert_eq!(first["segment"], 1);
    assert_eq!(first["offset"], 24);
    assert_eq!(first["kind"], "put");
    assert_eq!(first["seq"], 1);
    assert_eq!(first["key"], "k000");
    assert_eq!(first["value"], "value-0-of-the-first-round");
    assert_eq!(first["value_len"], 26);
    let batch = records
        .iter()
        .find(|r| r["kind"] == "batch-commit")
        .unwrap();
    assert_eq!(batch["count"], 3);
    assert!(batch.get("key").is_none());
}

#[test]
fn dump_segment_selects_one_file_and_rejects_unknown_ids() {
    let dir = engine_dir();
    let records = dump_json(dir.path(), &["--segment", "3"]);
    assert!(!records.is_empty());
    assert!(records.iter().all(|r| r["file"] == "0000000003.data"));
    let out = run(&["dump", "--segment", "99", s(dir.path())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no data segment 99"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dump_live_only_and_keys_only_show_what_the_keydir_holds() {
    let dir = engine_dir();
    let out = run(&["dump", "--live-only", "--keys-only", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let keys: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    let mut expected: BTreeSet<String> = (0..200).map(|i| format!("k{i:03}")).collect();
    for i in 100..=110 {
        expected.remove(&format!("k{i:03}"));
    }
    expected.extend(["batch-a", "batch-b", r"bin\x00\xff"].map(String::from));
    assert_eq!(keys.len(), expected.len(), "each live key once");
    assert_eq!(keys.into_iter().collect::<BTreeSet<_>>(), expected);

    // Live values are the newest ones.
    let live = dump_json(dir.path(), &["--live-only"]);
    let k000 = live.iter().find(|r| r["key"] == "k000").unwrap();
    assert_eq!(k000["value"], "new-0");
    assert!(live.iter().all(|r| r["kind"] == "put"));

    // Keys only, without --live-only: every put and tombstone record.
    let all = stdout(&run(&["dump", "--keys-only", s(dir.path())]));
    assert_eq!(all.lines().count(), 200 + 100 + 10 + 2 + 1 + 1);
}

#[test]
fn dump_of_one_data_or_hint_file() {
    let dir = engine_dir();
    let data = run(&["dump", s(&dir.path().join("0000000002.data"))]);
    assert_eq!(data.status.code(), Some(0));
    assert!(stdout(&data).starts_with("0000000002.data:24 put "));
    let hint = run(&["dump", s(&dir.path().join("0000000002.hint"))]);
    assert_eq!(hint.status.code(), Some(0), "{}", stderr(&hint));
    let text = stdout(&hint);
    assert!(
        text.starts_with("0000000002.hint:24 hint-entry put seq="),
        "{text}"
    );
    assert!(text.contains(" record_offset=24 "), "{text}");
    let last = text.lines().last().unwrap();
    let data_len = fs::metadata(dir.path().join("0000000002.data"))
        .unwrap()
        .len();
    assert!(
        last.ends_with(&format!(
            "hint-trailer entries={} data_len={data_len}",
            text.lines().count() - 1
        )),
        "{last}"
    );
    let stray = dir.path().join("notes.txt");
    fs::write(&stray, b"hello").unwrap();
    let out = run(&["dump", s(&stray)]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("no valid snowflk file header"));
}

#[test]
fn dump_reports_corruption_on_stderr_and_goes_on() {
    let dir = engine_dir();
    let records = dump_json(dir.path(), &["--segment", "2"]);
    let bad = records[5]["offset"].as_u64().unwrap();
    flip_bit(&dir.path().join("0000000002.data"), bad + 34);
    let out = run(&["dump", s(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error: 0000000002.data offset {bad}: checksum mismatch"
        )),
        "{err}"
    );
    let text = stdout(&out);
    // Five good records of segment 2 shown, then segment 3 goes on.
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("0000000002.data:"))
            .count(),
        5
    );
    assert!(text.contains("0000000003.data:24 "), "{text}");
}

#[test]
fn dump_notes_a_torn_tail_and_succeeds() {
    let dir = engine_dir();
    let active = data_files(dir.path()).pop().unwrap();
    let len = fs::metadata(&active).unwrap().len();
    truncate(&active, len - 2);
    let out = run(&["dump", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("are an incomplete tail"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stdout(&out).contains("bin\\x00"),
        "the torn record is not shown"
    );
}

#[test]
fn stat_table_and_json() {
    let dir = engine_dir();
    let out = run(&["stat", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0]
        .split("  ")
        .filter(|c| !c.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        header,
        [
            "segment",
            "size",
            "live keys",
            "live bytes",
            "dead keys",
            "dead bytes",
            "tombstones",
            "frag %",
            "hint",
            "flags"
        ],
        "{text}"
    );
    assert_eq!(lines.len(), 1 + 5 + 1, "header, 5 segments, total: {text}");
    assert!(lines[5].ends_with("no  active"), "{text}");
    assert!(lines[6].starts_with("total"), "{text}");
    assert!(lines[6].ends_with("4/5"), "{text}");

    let out = run(&["stat", "--json", s(dir.path())]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["kind"], "engine");
    let segments = json["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 5);
    let total = &json["total"];
    assert_eq!(total["live_keys"], 192);
    let sum: u64 = segments
        .iter()
        .map(|s| s["file_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(total["file_bytes"].as_u64().unwrap(), sum);
    assert_eq!(segments[0]["has_hint"], true);
    assert_eq!(segments[4]["active"], true);
    assert!(segments[0]["fragmentation"].as_f64().unwrap() > 50.0);
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for sub in ["dump", "verify", "merge", "stat"] {
        let out = run(&[sub, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        let text = stdout(&out);
        assert!(text.contains("Example"), "{sub}: {text}");
        assert!(text.contains("Exit codes"), "{sub}: {text}");
    }
    let out = run(&["--help"]);
    assert!(stdout(&out).contains("Exit codes"));
}

#[test]
fn piped_output_has_no_progress_bar() {
    let dir = engine_dir();
    for sub in ["dump", "verify", "stat"] {
        let out = run(&[sub, s(dir.path())]);
        assert!(stderr(&out).is_empty(), "{sub}: {}", stderr(&out));
    }
}
