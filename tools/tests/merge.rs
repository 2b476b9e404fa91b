//! `merge`: refuses a locked directory; shrinks a fragmented one without
//! changing what is live.

mod common;

use std::collections::BTreeMap;

use common::*;

fn live_pairs(dir: &std::path::Path) -> BTreeMap<String, String> {
    dump_json(dir, &["--live-only", "--full"])
        .into_iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_string(),
                r["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn merge_refuses_a_locked_directory() {
    let dir = fragmented_dir();
    let before = dir_bytes(dir.path());
    let store = open_retrying(dir.path());
    let out = run(&["merge", s(dir.path())]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "{} is locked by another process (is a server running on it?)",
            dir.path().display()
        )),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    drop(store);
    assert_eq!(dir_bytes(dir.path()), before, "nothing touched");
}

#[test]
fn merge_shrinks_a_fragmented_directory_and_keeps_live_data() {
    let dir = fragmented_dir();
    let live_before = live_pairs(dir.path());
    assert_eq!(live_before.len(), 35);
    assert_eq!(live_before["key-39"], "round-9-value-39");
    let bytes_before = dir_bytes(dir.path());
    let segments_before = data_files(dir.path()).len();
    assert!(segments_before >= 3);

    let out = run_retrying_lock(&["merge", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("merged segments 1,"), "{text}");
    assert!(text.contains("bytes reclaimed"), "{text}");

    let bytes_after = dir_bytes(dir.path());
    assert!(
        bytes_after * 2 < bytes_before,
        "{bytes_before} -> {bytes_after}"
    );
    assert_eq!(live_pairs(dir.path()), live_before);
    let verify = run(&["verify", s(dir.path())]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));

    // The report's numbers are the bytes on disk (data and hint files).
    let on_disk_before = dir_bytes(dir.path());
    let out = run_retrying_lock(&["merge", "--json", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["bytes_before"].as_u64().unwrap(), on_disk_before);
    assert_eq!(json["bytes_after"].as_u64().unwrap(), dir_bytes(dir.path()));
    assert_eq!(json["merges"].as_array().unwrap().len(), 1);
    assert_eq!(live_pairs(dir.path()), live_before);
}

#[test]
fn merge_of_a_raft_log_is_a_usage_error() {
    let dir = raft_dir(20);
    let out = run(&["merge", s(dir.path())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is a Raft log"), "{}", stderr(&out));
}

#[test]
fn merge_of_a_corrupt_directory_fails_with_the_engine_error() {
    let dir = fragmented_dir();
    let records = dump_json(dir.path(), &["--segment", "1"]);
    let bad = records[3]["offset"].as_u64().unwrap();
    flip_bit(&dir.path().join("0000000001.data"), bad + 34);
    let out = run_retrying_lock(&["merge", s(dir.path())]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("0000000001.data at offset {bad}")),
        "{}",
        stderr(&out)
    );
}
