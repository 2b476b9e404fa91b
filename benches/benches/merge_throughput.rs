//! Merge throughput in MB/s (bytes read and bytes written), next to the
//! sequential bandwidth of the same disk measured by the same process in the
//! same run (see docs/benchmarks.md).
//!
//! Each run builds a fresh store (default options: 256 MiB segments, no
//! background merger): keys `0..n` written, then all overwritten once, so
//! half of the ~2 x 145 B x n bytes are dead; then `sync`. It times
//! `merge_all()` (seal the active segment, copy the live records into one new
//! segment plus its hint, fsync, rename, switch the keydir), then writes the
//! same number of bytes as the merge output with `std::fs::File::write_all`
//! in 1 MiB chunks plus `sync_all`.
//! - warm: the inputs are in the page cache (just written);
//! - cold: the page cache is dropped before the merge; a plain sequential
//!   read of the input files (cold, 1 MiB chunks) is timed too, as the read
//!   baseline. Skipped if the cache cannot be dropped, or with `BENCH_COLD=0`.
//!
//! Run: `cargo bench -p snowflk-benches --bench merge_throughput`
//! (`BENCH_KEYS`, default 2,000,000; `BENCH_RUNS`, default 3).
//! Without `--bench` (as under `cargo test`), runs one tiny case.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

use bitcask::{Bitcask, Options, SyncPolicy};
use snowflk_benches::{bench_mode, drop_page_cache, env_u64, key, min_median, value};

fn main() {
    let bench = bench_mode();
    let n = if bench {
        env_u64("BENCH_KEYS", 2_000_000)
    } else {
        5_000
    };
    let runs = if bench { env_u64("BENCH_RUNS", 3) } else { 1 } as usize;
    let mut states = vec![("warm", false)];
    if bench && env_u64("BENCH_COLD", 1) != 0 {
        if drop_page_cache() {
            states.push(("cold", true));
        } else {
            println!("merge: cannot drop the page cache: cold runs skipped");
        }
    }
    for (state, cold) in states {
        let mut merge_read = Vec::new();
        let mut merge_write = Vec::new();
        let mut seq_write = Vec::new();
        let mut seq_read = Vec::new();
        for run in 0..runs {
            let dir = tempfile::tempdir().unwrap();
            let store =
                Bitcask::open(dir.path(), Options::default().sync(SyncPolicy::Never)).unwrap();
            for round in 0..2 {
                for i in 0..n {
                    store.put(&key(i), &value(i + round)).unwrap();
                }
            }
            store.sync().unwrap();
            store.rotate().unwrap();
            if cold {
                drop_page_cache();
                let (bytes, secs) = read_data_files(dir.path());
                seq_read.push(bytes as f64 / secs / 1e6);
                drop_page_cache();
            }

            let start = Instant::now();
            let outcomes = store.merge_all().unwrap();
            let secs = start.elapsed().as_secs_f64();
            let before: u64 = outcomes.iter().map(|o| o.bytes_before).sum();
            let after: u64 = outcomes.iter().map(|o| o.bytes_after).sum();
            assert_eq!(store.len() as u64, n);
            store.close().unwrap();
            merge_read.push(before as f64 / secs / 1e6);
            merge_write.push(after as f64 / secs / 1e6);

            let ws = write_file(&dir.path().join("seq.bin"), after);
            seq_write.push(after as f64 / ws / 1e6);
            println!(
                "merge/{n}/{state} run {run}: {} merge(s), {:.1} MB read -> {:.1} MB written in {:.3} s; \
                 write_all+sync_all of {:.1} MB: {:.3} s",
                outcomes.len(),
                before as f64 / 1e6,
                after as f64 / 1e6,
                secs,
                after as f64 / 1e6,
                ws
            );
        }
        let report = |what: &str, v: &[f64]| {
            if !v.is_empty() {
                let (min, med) = min_median(v);
                let max = v.iter().copied().fold(f64::MIN, f64::max);
                println!(
                    "merge/{n}/{state}: {what}: median {med:.0} MB/s (min {min:.0}, max {max:.0})"
                );
            }
        };
        report("merge, input bytes / merge time", &merge_read);
        report("merge, output bytes / merge time", &merge_write);
        report("sequential write (write_all 1 MiB + sync_all)", &seq_write);
        report("sequential read of the input files (cold)", &seq_read);
    }
}

/// Writes `bytes` bytes to a new file in 1 MiB chunks and syncs it; seconds.
fn write_file(path: &Path, bytes: u64) -> f64 {
    let chunk = vec![0x5au8; 1 << 20];
    let start = Instant::now();
    let mut f = std::fs::File::create(path).unwrap();
    let mut left = bytes;
    while left > 0 {
        let len = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..len]).unwrap();
        left -= len as u64;
    }
    f.sync_all().unwrap();
    let secs = start.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(path).unwrap();
    secs
}

/// Reads every `*.data` file in `dir` in 1 MiB chunks; (bytes, seconds).
fn read_data_files(dir: &Path) -> (u64, f64) {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    let start = Instant::now();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "data") {
            let mut f = std::fs::File::open(&path).unwrap();
            loop {
                let got = f.read(&mut buf).unwrap();
                if got == 0 {
                    break;
                }
                total += got as u64;
            }
        }
    }
    (total, start.elapsed().as_secs_f64())
}
