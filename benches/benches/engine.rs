#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Engine benchmarks: 16-byte keys, 100-byte values (see docs/benchmarks.md).
//!
//! Run: `cargo bench -p snowflk-benches --bench engine`
//! `BENCH_KEYS` overrides the key count (default 1,000,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcask::{Bitcask, Options, SyncPolicy};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use snowflk_benches::{key, value};

fn key_count() -> u64 {
    std::env::var("BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn unsynced(c: &mut Criterion) {
    let n = key_count();
    let mut group = c.benchmark_group("unsynced");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));
    group.bench_function(BenchmarkId::new("put", n), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let store =
                    Bitcask::open(dir.path(), Options::default().sync(SyncPolicy::Never)).unwrap();
                let start = Instant::now();
                for i in 0..n {
                    store.put(&key(i), &value(i)).unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });

    let dir = tempfile::tempdir().unwrap();
    {
        let store = Bitcask::open(dir.path(), Options::default().sync(SyncPolicy::Never)).unwrap();
        for i in 0..n {
            store.put(&key(i), &value(i)).unwrap();
        }
        store.close().unwrap();
    }
    // Side by side: reads from memory maps (the default) and with pread.
    for (name, mmap) in [("get_warm", true), ("get_warm_pread", false)] {
        let store = Bitcask::open(
            dir.path(),
            Options::default().sync(SyncPolicy::Never).mmap_reads(mmap),
        )
        .unwrap();
        group.bench_function(BenchmarkId::new(name, n), |b| {
            b.iter(|| {
                for i in 0..n {
                    let v = store.get(&key(i)).unwrap();
                    debug_assert!(v.is_some());
                    std::hint::black_box(v);
                }
            })
        });
    }
    group.finish();
}

fn durable_put(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_put");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    let per_thread_total = 4000u64;
    for threads in [1u64, 4, 16] {
        group.throughput(Throughput::Elements(per_thread_total));
        group.bench_function(BenchmarkId::new("threads", threads), |b| {
            b.iter_custom(|iters| {
                let dir = tempfile::tempdir().unwrap();
                let store = Arc::new(
                    Bitcask::open(dir.path(), Options::default().sync(SyncPolicy::Always)).unwrap(),
                );
                let per_thread = per_thread_total / threads;
                let start = Instant::now();
                for _ in 0..iters {
                    let handles: Vec<_> = (0..threads)
                        .map(|t| {
                            let store = store.clone();
                            std::thread::spawn(move || {
                                for i in 0..per_thread {
                                    let k = t * 1_000_000 + i;
                                    store.put(&key(k), &value(k)).unwrap();
                                }
                            })
                        })
                        .collect();
                    for h in handles {
                        h.join().unwrap();
                    }
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

fn open(c: &mut Criterion) {
    let n = key_count();
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Bitcask::open(dir.path(), Options::default().sync(SyncPolicy::Never)).unwrap();
        for i in 0..n {
            store.put(&key(i), &value(i)).unwrap();
        }
        store.close().unwrap();
    }
    let mut group = c.benchmark_group("open");
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("scan", n), |b| {
        b.iter(|| {
            let store = Bitcask::open(dir.path(), Options::default()).unwrap();
            assert_eq!(store.len() as u64, n);
        })
    });
    group.finish();
}

criterion_group!(benches, unsynced, durable_put, open);
criterion_main!(benches);
