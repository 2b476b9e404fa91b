//! `verify` on engine data directories: clean, damaged in each documented
//! way, and not a snowflk directory at all.

mod common;

use std::fs;

use common::*;

fn verify(dir: &std::path::Path) -> (Option<i32>, String, String) {
    let out = run(&["verify", s(dir)]);
    (out.status.code(), stdout(&out), stderr(&out))
}

#[test]
fn clean_directory_verifies() {
    let dir = engine_dir();
    assert!(data_files(dir.path()).len() >= 3, "want several segments");
    let (code, out, err) = verify(dir.path());
    assert_eq!(code, Some(0), "{out}{err}");
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with(&format!(
            "OK: engine data directory {}: ",
            dir.path().display()
        )),
        "{out}"
    );
    assert!(last.ends_with("; 0 errors, 0 warnings"), "{out}");
    assert_eq!(out.lines().count(), 1, "nothing but the summary: {out}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn bit_flip_in_a_record_is_reported_with_file_and_offset() {
    let dir = engine_dir();
    let records = dump_json(dir.path(), &["--segment", "1"]);
    let third = records[2]["offset"].as_u64().unwrap();
    // Inside the third record's key/value.
    flip_bit(&dir.path().join("0000000001.data"), third + 34);
    let (code, out, _) = verify(dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "error: 0000000001.data offset {third}: checksum mismatch"
        )),
        "{out}"
    );
    assert!(out.contains("a valid record follows"), "{out}");
    assert!(
        out.lines().last().unwrap().starts_with("CORRUPT: "),
        "{out}"
    );
    assert!(out.contains("; 1 error, 0 warnings"), "{out}");
}

#[test]
fn bit_flip_in_a_header_is_reported_at_offset_zero() {
    let dir = engine_dir();
    flip_bit(&dir.path().join("0000000002.data"), 10);
    let (code, out, _) = verify(dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("error: 0000000002.data offset 0: bad file header: checksum mismatch"),
        "{out}"
    );
    assert!(out.contains("; 1 error, 0 warnings"), "{out}");
}

#[test]
fn bit_flip_in_a_hint_file_is_reported() {
    let dir = engine_dir();
    let hint = dir.path().join("0000000001.hint");
    assert!(hint.exists());
    // Inside the first hint entry (the header is 24 bytes).
    flip_bit(&hint, 24 + 8);
    let (code, out, _) = verify(dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("error: 0000000001.hint offset 24: checksum mismatch"),
        "{out}"
    );
    assert!(out.contains("scans the data file instead"), "{out}");
}

#[test]
fn hint_disagreeing_with_its_data_file_is_reported() {
    let dir = engine_dir();
    // Swap in the hint of another segment, renamed: the header names the
    // wrong segment.
    fs::copy(
        dir.path().join("0000000002.hint"),
        dir.path().join("0000000001.hint"),
    )
    .unwrap();
    let (code, out, _) = verify(dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(
            "error: 0000000001.hint offset 0: header says it is the hint of segment 2, the file name says 1"
        ),
        "{out}"
    );
}

#[test]
fn truncated_sealed_segment_is_corruption() {
    let dir = engine_dir();
    let path = dir.path().join("0000000001.data");
    let len = fs::metadata(&path).unwrap().len();
    let records = dump_json(dir.path(), &["--segment", "1"]);
    let last = records.last().unwrap()["offset"].as_u64().unwrap();
    truncate(&path, len - 5);
    let (code, out, _) = verify(dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "error: 0000000001.data offset {last}: sealed segment ends in {} bytes of an incomplete record",
            len - 5 - last
        )),
        "{out}"
    );
    // Its hint now describes a record the data file no longer has.
    assert!(out.contains("error: 0000000001.hint offset "), "{out}");
}

#[test]
fn torn_tail_of_the_active_segment_is_a_warning() {
    let dir = engine_dir();
    let files = data_files(dir.path());
    let active = files.last().unwrap();
    let name = active.file_name().unwrap().to_str().unwrap().to_string();
    let len = fs::metadata(active).unwrap().len();
    truncate(active, len - 3);
    let (code, out, _) = verify(dir.path());
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("warning: {name} offset ")), "{out}");
    assert!(out.contains("the active segment ends in"), "{out}");
    assert!(out.contains("; 0 errors, 1 warning"), "{out}");
}

#[test]
fn missing_hint_is_a_warning() {
    let dir = engine_dir();
    fs::remove_file(dir.path().join("0000000002.hint")).unwrap();
    let (code, out, _) = verify(dir.path());
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("warning: 0000000002.data: sealed segment has no hint file"),
        "{out}"
    );
    assert!(out.contains("; 0 errors, 1 warning"), "{out}");
}

#[test]
fn stray_files_are_warnings() {
    let dir = engine_dir();
    fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    fs::write(dir.path().join("0000000009.hint.tmp"), b"partial").unwrap();
    let (code, out, _) = verify(dir.path());
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("warning: notes.txt: unknown file; the engine ignores it"),
        "{out}"
    );
    assert!(
        out.contains("warning: 0000000009.hint.tmp: leftover temporary file"),
        "{out}"
    );
    assert!(out.contains("; 0 errors, 2 warnings"), "{out}");
}

#[test]
fn empty_directory_is_not_a_snowflk_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = verify(dir.path());
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!(
            "{} is not a snowflk directory: the directory is empty",
            dir.path().display()
        )),
        "{err}"
    );
}

#[test]
fn directory_of_other_files_is_not_a_snowflk_directory() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.txt"), b"not snowflk").unwrap();
    let (code, _, err) = verify(dir.path());
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("none of its 1 entries is a snowflk"), "{err}");
}

#[test]
fn missing_directory_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let (code, _, err) = verify(&missing);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("No such file or directory"), "{err}");
}

#[test]
fn newer_format_version_is_a_clear_error() {
    let dir = engine_dir();
    let path = dir.path().join("0000000002.data");
    let mut bytes = fs::read(&path).unwrap();
    bytes[4..6].copy_from_slice(&2u16.to_le_bytes());
    let crc = crc32(&bytes[..20]);
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    fs::write(&path, bytes).unwrap();
    let (code, _, err) = verify(dir.path());
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("0000000002.data has format version 2; this build reads up to version 1"),
        "{err}"
    );
}

#[test]
fn verify_of_a_file_is_a_usage_error() {
    let dir = engine_dir();
    let (code, _, err) = verify(&dir.path().join("0000000001.data"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("takes a directory"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let out = run(&["verify"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["frobnicate", "/tmp"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn checkpoint_verifies_clean_and_an_interrupted_one_is_an_error() {
    // One opener for the whole test: reopening a directory right after
    // closing it can find its flock still held by a child process another
    // test thread is spawning (the lock's descriptor is copied into the
    // child until its exec closes it), which made this test flaky.
    let source = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let cp = root.path().join("cp");
    {
        let store = bitcask::Bitcask::open(source.path(), small()).expect("open");
        for i in 0..200u32 {
            store
                .put(format!("k{i:03}").as_bytes(), format!("v{i}").as_bytes())
                .expect("put");
        }
        store.put(b"in-active", b"1").expect("put");
        store.checkpoint(&cp).expect("checkpoint");
    }
    let (code, out, err) = verify(&cp);
    assert_eq!(code, Some(0), "{out}{err}");
    // The segment sealed at the checkpoint point may not have its hint yet
    // (hints are written in the background; the engine scans a segment
    // without one), so that one warning is allowed and nothing else.
    assert!(out.contains("; 0 errors, "), "{out}");
    for line in out.lines().filter(|l| l.starts_with("warning:")) {
        assert!(line.contains("sealed segment has no hint file"), "{out}");
    }
    // A checkpoint a crash interrupted: the engine refuses it, so must verify.
    fs::write(cp.join(bitcask::CHECKPOINT_PARTIAL_FILE), b"").unwrap();
    let (code, out, _) = verify(&cp);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("interrupted checkpoint"), "{out}");
}
