//! Raft snapshot costs of the key-value state machine (issue 10, item 8):
//! taking an image (an engine checkpoint), streaming it through the
//! snapshot stream's reader and a follower's receiver (the transfer without
//! the network), and installing it in place of another engine.
//!
//! For each key count, applies keys `0..n` (16 B keys, 100 B values) to a
//! `KvStateMachine` in batches of 10,000 entries, as the Raft apply thread
//! does, then times, once each (they are one-shot operations on gigabytes):
//! - `take`: `KvStateMachine::checkpoint` (seal, hard-link, fsync, manifest);
//! - `stream`: `ImageReader::read` in 1 MiB chunks into `Incoming::accept`,
//!   then `Incoming::finish` (fsync and verify): every byte is copied once;
//! - `install`: `KvStateMachine::install` of the received image into a node
//!   that holds other data (link, swap, reopen: the keydir is rebuilt from
//!   the hint files).
//!
//! Run: `cargo bench -p snowflk-benches --bench snapshot`
//! - `BENCH_SNAPSHOT_KEYS=1000000,10000000` (default `1000000`; 10M keys
//!   need ~3 GB of disk under the temp dir and a few minutes).
//!
//! Without `--bench` (as under `cargo test`), runs one tiny case.

use std::time::Instant;

use bitcask::{Options, SyncPolicy};
use snowflk_benches::{bench_mode, key, value};
use snowflk_server::ops::{SetCondition, SetExpiry, WriteCmd, WriteOp};
use snowflk_server::raft::snapshot::{ImageReader, Images, Incoming};
use snowflk_server::state_machine::KvStateMachine;

fn main() {
    let counts: Vec<u64> = if bench_mode() {
        std::env::var("BENCH_SNAPSHOT_KEYS")
            .unwrap_or_else(|_| "1000000".into())
            .split(',')
            .map(|s| {
                s.trim()
                    .replace('_', "")
                    .parse()
                    .expect("BENCH_SNAPSHOT_KEYS")
            })
            .collect()
    } else {
        vec![2_000]
    };
    println!("keys,image_bytes,files,take_ms,take_pause_us,stream_ms,stream_mb_per_s,install_ms");
    for n in counts {
        run(n);
    }
}

fn options() -> Options {
    Options {
        sync: SyncPolicy::Never,
        ..Options::default()
    }
}

fn run(n: u64) {
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).expect("tempdir");
    let leader = KvStateMachine::open(tmp.path().join("leader"), options()).expect("open");
    let mut index = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let ops: Vec<WriteOp> = chunk
            .iter()
            .map(|&i| {
                WriteOp::new(
                    WriteCmd::Set {
                        key: key(i).to_vec(),
                        value: value(i).to_vec(),
                        condition: SetCondition::Always,
                        expiry: SetExpiry::Clear,
                        get: false,
                    },
                    1,
                )
            })
            .collect();
        let batch: Vec<(u64, &WriteOp)> = ops
            .iter()
            .map(|op| {
                index += 1;
                (index, op)
            })
            .collect();
        leader.apply_batch(&batch).expect("apply");
    }

    let image = tmp.path().join("image");
    let started = Instant::now();
    let (applied, info) = leader.checkpoint(&image).expect("checkpoint");
    let take = started.elapsed();
    assert_eq!(applied, n);

    let images = Images::open(tmp.path().join("follower-snapshots")).expect("images");
    let reader = ImageReader::open(&image).expect("reader");
    let meta = raftlog::SnapshotMeta {
        index: applied,
        term: 1,
        voters: vec![1, 2, 3],
        learners: vec![],
    };
    let started = Instant::now();
    let mut incoming = Incoming::new(images.incoming());
    let mut offset = 0;
    loop {
        let (data, last) = reader.read(offset, 1 << 20).expect("read");
        incoming.accept(&meta, offset, &data).expect("accept");
        offset += data.len() as u64;
        if last {
            break;
        }
    }
    let received = incoming.finish(&meta, &images).expect("finish");
    let stream = started.elapsed();

    let follower = KvStateMachine::open(tmp.path().join("follower"), options()).expect("open");
    let other = WriteOp::new(
        WriteCmd::Set {
            key: b"other".to_vec(),
            value: b"data".to_vec(),
            condition: SetCondition::Always,
            expiry: SetExpiry::Clear,
            get: false,
        },
        1,
    );
    follower.apply(1, &other).expect("apply");
    let started = Instant::now();
    let installed = follower.install(&received).expect("install");
    let install = started.elapsed();
    assert_eq!(installed, n);
    assert_eq!(follower.store().expect("engine").len() as u64, n + 1);

    println!(
        "{n},{},{},{:.1},{},{:.1},{:.0},{:.1}",
        reader.len(),
        info.files.len(),
        take.as_secs_f64() * 1e3,
        info.pause.as_micros(),
        stream.as_secs_f64() * 1e3,
        reader.len() as f64 / 1e6 / stream.as_secs_f64(),
        install.as_secs_f64() * 1e3,
    );
}
