//! Directories for the CLI tests, generated with the engine and the Raft
//! log crates, and ways to damage them.

#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use bitcask::{BatchOp, Bitcask, Options};
use tempfile::TempDir;

/// The binary under test, with progress bars off.
pub fn tools() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_snowflk-tools"));
    cmd.env_remove("RUST_LOG");
    cmd
}

/// Runs the binary with `args` and returns its output.
pub fn run(args: &[&str]) -> Output {
    tools().args(args).output().expect("binary runs")
}

/// stdout as a string.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr as a string.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The path as a &str.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// Small segments so a few hundred records make several.
pub fn small() -> Options {
    Options::default().max_file_size(4096)
}

/// An engine directory with several sealed segments (each with its hint),
/// overwrites, deletes and a write batch; the newest segment is active.
pub fn engine_dir() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Bitcask::open(dir.path(), small()).expect("open");
        for i in 0..200u32 {
            store
                .put(
                    format!("k{i:03}").as_bytes(),
                    format!("value-{i}-of-the-first-round").as_bytes(),
                )
                .expect("put");
        }
        for i in 0..100u32 {
            store
                .put(format!("k{i:03}").as_bytes(), format!("new-{i}").as_bytes())
                .expect("overwrite");
        }
        for i in 100..110u32 {
            store.delete(format!("k{i:03}").as_bytes()).expect("delete");
        }
        store
            .write_batch(&[
                BatchOp::put("batch-a", "1"),
                BatchOp::put("batch-b", "2"),
                BatchOp::delete("k110"),
            ])
            .expect("batch");
        store
            .put(b"bin\x00\xff", b"\x01\x02\n")
            .expect("binary put");
        store.close().expect("close");
    }
    // A read-write open writes the hints of every sealed segment.
    open_retrying(dir.path()).close().expect("close");
    dir
}

/// `Bitcask::open`, retried while the lock is briefly held elsewhere.
///
/// Tests run in parallel threads that spawn processes: a child forked
/// while this test still had the lock file open shares that open file (and
/// its `flock`) until it execs, so right after a close the lock can be
/// busy for a moment. Not an engine bug: a test-harness artefact.
pub fn open_retrying(dir: &Path) -> Bitcask {
    let mut tries = 0;
    loop {
        match Bitcask::open(dir, small()) {
            Err(bitcask::Error::Locked { .. }) if tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other.expect("open"),
        }
    }
}

/// Runs the binary, retrying while it exits 4 (locked) for the reason
/// explained at [`open_retrying`].
pub fn run_retrying_lock(args: &[&str]) -> Output {
    let mut tries = 0;
    loop {
        let out = run(args);
        if out.status.code() != Some(4) || tries == 100 {
            return out;
        }
        tries += 1;
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// An engine directory where most bytes are dead: every key written ten times.
pub fn fragmented_dir() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Bitcask::open(dir.path(), small()).expect("open");
    for round in 0..10u32 {
        for i in 0..40u32 {
            store
                .put(
                    format!("key-{i:02}").as_bytes(),
                    format!("round-{round}-value-{i}").as_bytes(),
                )
                .expect("put");
        }
    }
    for i in 0..5u32 {
        store
            .delete(format!("key-{i:02}").as_bytes())
            .expect("delete");
    }
    store.close().expect("close");
    dir
}

/// Data segment paths of `dir`, oldest first.
pub fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    files.sort();
    files
}

/// Total bytes of the regular files in `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").metadata().expect("metadata"))
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Flips one bit of the byte at `offset` of `path`.
pub fn flip_bit(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).expect("read");
    bytes[offset as usize] ^= 0x10;
    fs::write(path, bytes).expect("write");
}

/// Cuts `path` to `len` bytes.
pub fn truncate(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open")
        .set_len(len)
        .expect("set_len");
}

/// The JSON records of `dump --json` with extra `args`.
pub fn dump_json(dir: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["dump", "--json"];
    all.extend_from_slice(args);
    all.push(s(dir));
    let out = run(&all);
    assert_eq!(out.status.code(), Some(0), "dump failed: {}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// A Raft log directory written by `raftlog::SegmentLogStore`, with small
/// segments so that `entries` entries fill several, and a hard state. The
/// newest segment is not prepared with zeros, so every file ends at its last
/// record and tests can cut or flip exact bytes (see [`raft_dir_with`]).
pub fn raft_dir(entries: u64) -> TempDir {
    raft_dir_with(entries, 0)
}

/// [`raft_dir`] with the store preparing its newest segment with zeros
/// `preallocate_bytes` at a time, as a node does by default.
pub fn raft_dir_with(entries: u64, preallocate_bytes: u64) -> TempDir {
    use raftlog::{Entry, EntryPayload, HardState, LogStore, SegmentLogOptions, SegmentLogStore};
    let dir = tempfile::tempdir().expect("tempdir");
    let vfs: std::sync::Arc<dyn bitcask::vfs::Vfs> = std::sync::Arc::new(bitcask::vfs::OsVfs);
    let mut store: SegmentLogStore<String> = SegmentLogStore::open(
        vfs,
        dir.path(),
        SegmentLogOptions {
            max_segment_bytes: 512,
            preallocate_bytes,
        },
    )
    .expect("open raft log");
    store
        .save_hard_state(HardState {
            term: 1,
            voted_for: Some(1),
        })
        .expect("hard state");
    let batch: Vec<Entry<String>> = (1..=entries)
        .map(|index| Entry {
            index,
            term: 1 + index / 10,
            payload: if index == 1 {
                EntryPayload::Noop
            } else {
                EntryPayload::Command(format!("set x {index}"))
            },
        })
        .collect();
    store
        .save_hard_state(HardState {
            term: 1 + entries / 10,
            voted_for: Some(2),
        })
        .expect("hard state");
    store.append(&batch).expect("append");
    drop(store);
    dir
}

/// `SegmentLogStore::open` on `dir` with segments of at most
/// `max_segment_bytes`, retried while the lock is briefly held elsewhere
/// (the test-harness artefact explained at [`open_retrying`]).
pub fn open_raft_retrying(dir: &Path, max_segment_bytes: u64) -> raftlog::SegmentLogStore<String> {
    use raftlog::{SegmentLogOptions, SegmentLogStore, StorageError};
    let mut tries = 0;
    loop {
        let vfs: std::sync::Arc<dyn bitcask::vfs::Vfs> = std::sync::Arc::new(bitcask::vfs::OsVfs);
        match SegmentLogStore::open(
            vfs,
            dir,
            SegmentLogOptions {
                max_segment_bytes,
                ..SegmentLogOptions::default()
            },
        ) {
            Err(StorageError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::WouldBlock && tries < 100 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other.expect("open raft log"),
        }
    }
}

/// Raft log segment files of `dir`, oldest first.
pub fn raft_segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// CRC-32 (IEEE), as the format uses; to forge headers in tests.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
