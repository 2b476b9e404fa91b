//! `get` and `put` latency (p50, p99, p99.9, max) while a merge runs on
//! another thread, against idle, in the same run (see docs/benchmarks.md).
//!
//! For each sync policy (`Never`, then `Always`), builds a store with keys
//! `0..n` written twice (half the bytes dead, default 256 MiB segments), seals
//! it, reopens it with that policy, then runs one foreground thread that
//! alternates a `get` of a random existing key and a `put` of a random key
//! (16 B key, 100 B value), timing each operation with `Instant`:
//! 1. idle, before: for `BENCH_IDLE_SECS` (default 2);
//! 2. merging: while another thread runs `merge_all()` (no rate limit);
//! 3. idle, after: for `BENCH_IDLE_SECS` again.
//!
//! Run: `cargo bench -p snowflk-benches --bench merge_latency`
//! (`BENCH_KEYS`, default 2,000,000).
//! Without `--bench` (as under `cargo test`), runs one tiny case.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bitcask::{Bitcask, Options, SyncPolicy};
use snowflk_benches::{SplitMix, bench_mode, env_u64, key, quantile, value};

fn main() {
    let bench = bench_mode();
    let n = if bench {
        env_u64("BENCH_KEYS", 2_000_000)
    } else {
        5_000
    };
    let idle = if bench {
        Duration::from_secs(env_u64("BENCH_IDLE_SECS", 2))
    } else {
        Duration::from_millis(50)
    };
    println!(
        "{:<26} {:<7} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "phase", "op", "ops", "p50 µs", "p99 µs", "p99.9 µs", "max µs"
    );
    for policy in [SyncPolicy::Never, SyncPolicy::Always] {
        let dir = tempfile::tempdir().unwrap();
        {
            let store =
                Bitcask::open(dir.path(), Options::default().sync(SyncPolicy::Never)).unwrap();
            for round in 0..2 {
                for i in 0..n {
                    store.put(&key(i), &value(i + round)).unwrap();
                }
            }
            store.rotate().unwrap();
            store.close().unwrap();
        }
        let store = Arc::new(Bitcask::open(dir.path(), Options::default().sync(policy)).unwrap());
        let mut rng = SplitMix(42);
        let tag = format!("{policy:?}");

        let (g, p) = foreground(&store, n, &mut rng, || false, Some(idle));
        print_phase(&format!("{tag}/idle before"), &g, &p);

        let done = Arc::new(AtomicBool::new(false));
        let merger = {
            let (store, done) = (store.clone(), done.clone());
            std::thread::spawn(move || {
                let start = Instant::now();
                let outcomes = store.merge_all().unwrap();
                let secs = start.elapsed().as_secs_f64();
                done.store(true, Ordering::Release);
                (outcomes, secs)
            })
        };
        let (g, p) = foreground(&store, n, &mut rng, || done.load(Ordering::Acquire), None);
        let (outcomes, secs) = merger.join().unwrap();
        let before: u64 = outcomes.iter().map(|o| o.bytes_before).sum();
        let after: u64 = outcomes.iter().map(|o| o.bytes_after).sum();
        print_phase(&format!("{tag}/merging"), &g, &p);

        let (g, p) = foreground(&store, n, &mut rng, || false, Some(idle));
        print_phase(&format!("{tag}/idle after"), &g, &p);
        println!(
            "{tag}: merge of {:.0} MB -> {:.0} MB took {secs:.2} s ({:.0} MB/s read) with the foreground running",
            before as f64 / 1e6,
            after as f64 / 1e6,
            before as f64 / secs / 1e6
        );
        Arc::into_inner(store).unwrap().close().unwrap();
    }
}

/// Alternates get and put until `stop()` or `limit` elapses; returns the
/// sorted latencies of gets and of puts.
fn foreground(
    store: &Bitcask,
    n: u64,
    rng: &mut SplitMix,
    stop: impl Fn() -> bool,
    limit: Option<Duration>,
) -> (Vec<Duration>, Vec<Duration>) {
    let mut gets = Vec::with_capacity(1 << 20);
    let mut puts = Vec::with_capacity(1 << 20);
    let begin = Instant::now();
    loop {
        let k = key(rng.below(n));
        let t = Instant::now();
        let v = store.get(&k).unwrap();
        gets.push(t.elapsed());
        assert!(v.is_some());
        std::hint::black_box(v);

        let i = rng.below(n);
        let t = Instant::now();
        store.put(&key(i), &value(i + 7)).unwrap();
        puts.push(t.elapsed());

        if stop() || limit.is_some_and(|l| begin.elapsed() >= l) {
            break;
        }
    }
    gets.sort_unstable();
    puts.sort_unstable();
    (gets, puts)
}

fn print_phase(phase: &str, gets: &[Duration], puts: &[Duration]) {
    for (op, v) in [("get", gets), ("put", puts)] {
        let us = |q: f64| quantile(v, q).as_secs_f64() * 1e6;
        println!(
            "{phase:<26} {op:<7} {:>9} {:>9.2} {:>9.2} {:>9.2} {:>9.0}",
            v.len(),
            us(0.5),
            us(0.99),
            us(0.999),
            us(1.0)
        );
    }
}
