//! Benchmarks of the Raft log and core.
//!
//! - `log_append/<batch>`: `SegmentLogStore::append` on real files with one
//!   fsync per batch, 100-byte payloads, batch sizes 1, 16 and 256
//!   (throughput reported in entries/s; multiply by ~130 bytes for MB/s).
//! - `core_3_nodes/<batch>`: proposals through an in-memory 3-node cluster
//!   with no I/O at all (messages passed by hand, nothing persisted), to show
//!   the core is not the bottleneck.
//!
//! Run: `cargo bench -p raftlog` (results: `target/criterion`).

use std::collections::VecDeque;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use raftlog::storage::{SegmentLogOptions, SegmentLogStore};
use raftlog::{Config, Entry, EntryPayload, LogStore, Message, Raft, RestoredState, Role};

fn log_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_append");
    for batch in [1usize, 16, 256] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut store: SegmentLogStore<Vec<u8>> = SegmentLogStore::open(
                Arc::new(bitcask::vfs::OsVfs),
                dir.path(),
                SegmentLogOptions::default(),
            )
            .expect("open");
            let mut next = 1u64;
            b.iter(|| {
                let entries: Vec<Entry<Vec<u8>>> = (next..next + batch as u64)
                    .map(|index| Entry {
                        index,
                        term: 1,
                        payload: EntryPayload::Command(vec![7u8; 100]),
                    })
                    .collect();
                store.append(&entries).expect("append");
                next += batch as u64;
            });
        });
    }
    group.finish();
}

struct Cluster {
    nodes: Vec<Raft<Vec<u8>>>,
    queue: VecDeque<Message<Vec<u8>>>,
}

impl Cluster {
    fn new() -> Self {
        let nodes = (1..=3u64)
            .map(|id| {
                let mut cfg = Config::new(id, [1, 2, 3]);
                cfg.max_entries_per_append = 1024;
                cfg.max_inflight = 256;
                Raft::new(cfg, id, RestoredState::default()).expect("node")
            })
            .collect();
        let mut c = Cluster {
            nodes,
            queue: VecDeque::new(),
        };
        c.nodes[0].campaign();
        c.pump();
        assert_eq!(c.nodes[0].status().role, Role::Leader);
        c.nodes[0].propose(vec![1]).expect("propose");
        // The no-op and the command, applied at least on the leader (the
        // followers learn the commit index with the next append).
        assert!(c.pump() >= 2, "the warm-up proposal must commit");
        c
    }

    /// Hands out every ready batch and delivers every message until quiet.
    /// Persistence is a no-op: this measures the core alone.
    fn pump(&mut self) -> u64 {
        let mut applied = 0;
        loop {
            for n in &mut self.nodes {
                while n.has_ready() {
                    let rd = n.ready();
                    self.queue.extend(rd.messages);
                    self.queue.extend(rd.persisted_messages);
                    applied += rd.committed_entries.len() as u64;
                    n.advance();
                }
            }
            if self.queue.is_empty() {
                return applied;
            }
            while let Some(m) = self.queue.pop_front() {
                let to = (m.to - 1) as usize;
                let _ = self.nodes[to].step(m);
            }
        }
    }
}

fn core_3_nodes(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_3_nodes");
    for batch in [1usize, 64, 1024] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let mut cluster = Cluster::new();
            let payload = vec![7u8; 100];
            b.iter(|| {
                cluster.nodes[0]
                    .propose_batch((0..batch).map(|_| payload.clone()))
                    .expect("propose");
                cluster.pump();
            });
        });
    }
    group.finish();
}

// The macro defines an undocumented public function.
#[allow(missing_docs)]
mod harness {
    use super::*;
    criterion_group!(benches, log_append, core_3_nodes);
}
use harness::benches;
criterion_main!(benches);
