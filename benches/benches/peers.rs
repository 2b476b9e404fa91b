//! snowflk's engine beside two embedded peers, redb and fjall, measured in
//! one process and one run so that the ratios mean something on a noisy
//! shared machine (see `docs/benchmarks.md`, "Peers").
//!
//! Workload, the same for every engine:
//! - **load**: `n` puts of 16-byte pseudo-random keys and 100-byte
//!   incompressible values into a fresh directory, unsynced, one put per
//!   operation (redb: one write transaction per put with
//!   `Durability::None`; fjall: `insert` without `persist`);
//! - **reopen**: close, then time opening the directory until it serves
//!   reads (median of `BENCH_REOPENS`, warm page cache);
//! - **get**: uniformly random gets of loaded keys on one thread, each
//!   returning the value as owned bytes (`Vec<u8>`); the first pass after
//!   the reopen, then `BENCH_ROUNDS` more passes interleaved across the
//!   engines, of which the median is reported (redb reads through one read
//!   transaction and one open table for the whole pass);
//! - **durable put**: `BENCH_DURABLE` puts of new keys, each acknowledged
//!   only once fsynced (snowflk `SyncPolicy::Always`; redb
//!   `Durability::Immediate` per transaction; fjall `insert` then
//!   `persist(SyncData)`), one writer.
//!
//! Caches: redb's default cache is 1 GiB; fjall's block cache is raised from
//! its 32 MiB default to the same 1 GiB, so that both hold the data set
//! (snowflk has no cache of its own: it reads the OS page cache via mmap).
//!
//! Run: `cargo bench -p snowflk-benches --bench peers`
//! - `BENCH_KEYS` key count (default 1,000,000);
//! - `BENCH_GETS` gets per pass (default: the key count);
//! - `BENCH_ROUNDS` warm get passes per engine (default 3);
//! - `BENCH_REOPENS` timed reopens per engine (default 3);
//! - `BENCH_DURABLE` durable puts per engine (default 2,000);
//! - `BENCH_ENGINES` comma-separated subset of `snowflk,redb,fjall` (for
//!   profiling one engine alone).
//!
//! Without `--bench` (as under `cargo test`), runs a tiny smoke case.

use std::path::{Path, PathBuf};
use std::time::Instant;

use redb::ReadableDatabase;
use snowflk_benches::{KEY_LEN, SplitMix, VALUE_LEN, bench_mode, env_u64};

/// One engine under test, behind the same small interface.
trait Engine {
    /// Opens (creating if needed) the store in `dir`; `durable` asks that
    /// every put be fsynced before it returns.
    fn open(dir: &Path, durable: bool) -> Self
    where
        Self: Sized;
    /// Stores `value` under `key`.
    fn put(&mut self, key: &[u8], value: &[u8]);
    /// Prepares for a pass of reads (redb: a read transaction).
    fn begin_reads(&mut self) {}
    /// The value of `key`, as owned bytes.
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// Closes the store, making its contents survive a reopen.
    fn close(self: Box<Self>);
}

struct Snowflk(bitcask::Bitcask);

impl Engine for Snowflk {
    fn open(dir: &Path, durable: bool) -> Self {
        let policy = if durable {
            bitcask::SyncPolicy::Always
        } else {
            bitcask::SyncPolicy::Never
        };
        Self(bitcask::Bitcask::open(dir, bitcask::Options::default().sync(policy)).unwrap())
    }
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.0.put(key, value).unwrap();
    }
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key).unwrap()
    }
    fn close(self: Box<Self>) {
        self.0.close().unwrap();
    }
}

const REDB_TABLE: redb::TableDefinition<'static, &[u8], &[u8]> = redb::TableDefinition::new("kv");

struct Redb {
    db: redb::Database,
    durability: redb::Durability,
    reader: Option<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>,
}

impl Engine for Redb {
    fn open(dir: &Path, durable: bool) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let db = redb::Database::create(dir.join("db.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(REDB_TABLE).unwrap();
        txn.commit().unwrap();
        Self {
            db,
            durability: if durable {
                redb::Durability::Immediate
            } else {
                redb::Durability::None
            },
            reader: None,
        }
    }
    fn put(&mut self, key: &[u8], value: &[u8]) {
        let mut txn = self.db.begin_write().unwrap();
        txn.set_durability(self.durability).unwrap();
        txn.open_table(REDB_TABLE)
            .unwrap()
            .insert(key, value)
            .unwrap();
        txn.commit().unwrap();
    }
    fn begin_reads(&mut self) {
        let txn = self.db.begin_read().unwrap();
        self.reader = Some(txn.open_table(REDB_TABLE).unwrap());
    }
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let table = self.reader.as_ref().expect("begin_reads first");
        table.get(key).unwrap().map(|v| v.value().to_vec())
    }
    fn close(self: Box<Self>) {
        let Self { db, reader, .. } = *self;
        drop(reader);
        // Makes the `Durability::None` commits durable, as a clean shutdown would.
        let mut txn = db.begin_write().unwrap();
        txn.set_durability(redb::Durability::Immediate).unwrap();
        txn.commit().unwrap();
        drop(db);
    }
}

struct Fjall {
    db: fjall::Database,
    keyspace: fjall::Keyspace,
    durable: bool,
}

impl Engine for Fjall {
    fn open(dir: &Path, durable: bool) -> Self {
        let db = fjall::Database::builder(dir)
            .cache_size(1 << 30)
            .open()
            .unwrap();
        let keyspace = db
            .keyspace("kv", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        Self {
            db,
            keyspace,
            durable,
        }
    }
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.keyspace.insert(key, value).unwrap();
        if self.durable {
            self.db.persist(fjall::PersistMode::SyncData).unwrap();
        }
    }
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.keyspace.get(key).unwrap().map(|v| v.to_vec())
    }
    fn close(self: Box<Self>) {
        self.db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
}

/// The three engines by name.
const ENGINES: [&str; 3] = ["snowflk", "redb", "fjall"];

fn open_engine(name: &str, dir: &Path, durable: bool) -> Box<dyn Engine> {
    match name {
        "snowflk" => Box::new(Snowflk::open(dir, durable)),
        "redb" => Box::new(Redb::open(dir, durable)),
        "fjall" => Box::new(Fjall::open(dir, durable)),
        other => panic!("unknown engine {other:?}"),
    }
}

/// The `i`-th key: 16 pseudo-random bytes (a function of `i`, so the get
/// phase needs no table of keys that would add its own cache misses).
fn random_key(i: u64) -> [u8; KEY_LEN] {
    let mut rng = SplitMix(i.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut k = [0u8; KEY_LEN];
    k[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    k[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    k
}

/// 64 KiB of incompressible bytes; value `i` is a 100-byte window of it.
fn value_pool() -> Vec<u8> {
    let mut rng = SplitMix(0x5eed);
    (0..(64 << 10) / 8)
        .flat_map(|_| rng.next_u64().to_le_bytes())
        .collect()
}

fn value_of(pool: &[u8], i: u64) -> &[u8] {
    let at = (i.wrapping_mul(0x9E37_79B9) as usize) % (pool.len() - VALUE_LEN);
    &pool[at..at + VALUE_LEN]
}

/// Results of one engine.
#[derive(Default)]
struct Row {
    load_per_sec: f64,
    reopen_secs: Vec<f64>,
    first_get_per_sec: f64,
    get_per_sec: Vec<f64>,
    durable_per_sec: f64,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// One pass of `gets` uniformly random gets of keys `0..n`; returns gets/s.
fn get_pass(engine: &mut dyn Engine, n: u64, gets: u64, seed: u64, pool: &[u8]) -> f64 {
    engine.begin_reads();
    let mut rng = SplitMix(seed);
    let mut bytes = 0usize;
    let start = Instant::now();
    for _ in 0..gets {
        let i = rng.below(n);
        let value = engine.get(&random_key(i)).expect("loaded key is missing");
        bytes += value.len();
        debug_assert_eq!(value, value_of(pool, i));
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(bytes, gets as usize * VALUE_LEN);
    gets as f64 / secs
}

fn main() {
    let bench = bench_mode();
    let n = env_u64("BENCH_KEYS", if bench { 1_000_000 } else { 2_000 });
    let gets = env_u64("BENCH_GETS", n);
    let rounds = env_u64("BENCH_ROUNDS", if bench { 3 } else { 1 });
    let reopens = env_u64("BENCH_REOPENS", if bench { 3 } else { 1 }).max(1);
    let durable = env_u64("BENCH_DURABLE", if bench { 2_000 } else { 20 });
    let engines: Vec<String> = std::env::var("BENCH_ENGINES")
        .unwrap_or_else(|_| ENGINES.join(","))
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let pool = value_pool();
    let base = tempfile::tempdir().unwrap();
    let dir_of = |name: &str| -> PathBuf { base.path().join(name) };
    let mut rows: Vec<Row> = engines.iter().map(|_| Row::default()).collect();
    println!(
        "peers: {n} keys of {KEY_LEN} B, {VALUE_LEN} B values, {gets} gets per pass, \
         {rounds} warm passes, {durable} durable puts; nproc {}; load {}",
        std::thread::available_parallelism().map_or(1, |p| p.get()),
        load_avg()
    );

    // Load, one engine after the other (each gets the machine to itself).
    for (name, row) in engines.iter().zip(&mut rows) {
        let mut engine = open_engine(name, &dir_of(name), false);
        let start = Instant::now();
        for i in 0..n {
            engine.put(&random_key(i), value_of(&pool, i));
        }
        let secs = start.elapsed().as_secs_f64();
        let close = Instant::now();
        engine.close();
        row.load_per_sec = n as f64 / secs;
        println!(
            "load    {name:8} {:>10.0} puts/s ({secs:.2} s; close {:.2} s; load {})",
            row.load_per_sec,
            close.elapsed().as_secs_f64(),
            load_avg()
        );
    }

    // Reopen: the last open stays open for the get phase.
    let mut open: Vec<Box<dyn Engine>> = Vec::new();
    for (name, row) in engines.iter().zip(&mut rows) {
        let mut kept = None;
        for r in 0..reopens {
            let start = Instant::now();
            let engine = open_engine(name, &dir_of(name), false);
            row.reopen_secs.push(start.elapsed().as_secs_f64());
            if r + 1 == reopens {
                kept = Some(engine);
            } else {
                engine.close();
            }
        }
        println!(
            "reopen  {name:8} median {:>9.1} ms ({:?} ms; load {})",
            median(&row.reopen_secs) * 1e3,
            row.reopen_secs
                .iter()
                .map(|s| (s * 1e4).round() / 10.0)
                .collect::<Vec<_>>(),
            load_avg()
        );
        open.push(kept.expect("at least one reopen"));
    }

    // Gets: the first pass after reopening, then warm passes interleaved.
    for ((name, row), engine) in engines.iter().zip(&mut rows).zip(&mut open) {
        row.first_get_per_sec = get_pass(&mut **engine, n, gets, 1, &pool);
        println!(
            "get     {name:8} {:>10.0} gets/s (first pass after reopen; load {})",
            row.first_get_per_sec,
            load_avg()
        );
    }
    for round in 0..rounds {
        for ((name, row), engine) in engines.iter().zip(&mut rows).zip(&mut open) {
            let rate = get_pass(&mut **engine, n, gets, 2 + round, &pool);
            row.get_per_sec.push(rate);
            println!(
                "get     {name:8} {rate:>10.0} gets/s (warm pass {}; load {})",
                round + 1,
                load_avg()
            );
        }
    }
    for engine in open {
        engine.close();
    }

    // Durable puts of new keys into the loaded stores.
    for (name, row) in engines.iter().zip(&mut rows) {
        let mut engine = open_engine(name, &dir_of(name), true);
        let start = Instant::now();
        for i in n..n + durable {
            engine.put(&random_key(i), value_of(&pool, i));
        }
        let secs = start.elapsed().as_secs_f64();
        row.durable_per_sec = durable as f64 / secs;
        engine.close();
        println!(
            "durable {name:8} {:>10.0} puts/s (load {})",
            row.durable_per_sec,
            load_avg()
        );
    }

    println!();
    println!(
        "| engine | load (puts/s) | reopen (ms) | get, first pass (gets/s) | get, warm median (gets/s) | durable put (puts/s) |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, row) in engines.iter().zip(&rows) {
        println!(
            "| {name} | {:.0} | {:.1} | {:.0} | {:.0} | {:.0} |",
            row.load_per_sec,
            median(&row.reopen_secs) * 1e3,
            row.first_get_per_sec,
            median(&row.get_per_sec),
            row.durable_per_sec
        );
    }
    let find = |name: &str| engines.iter().position(|e| e == name).map(|i| &rows[i]);
    if let (Some(s), Some(r), Some(f)) = (find("snowflk"), find("redb"), find("fjall")) {
        println!(
            "ratios: warm get snowflk/redb {:.2}x, snowflk/fjall {:.2}x; load snowflk/fjall {:.2}x, snowflk/redb {:.2}x",
            median(&s.get_per_sec) / median(&r.get_per_sec),
            median(&s.get_per_sec) / median(&f.get_per_sec),
            s.load_per_sec / f.load_per_sec,
            s.load_per_sec / r.load_per_sec
        );
    }
}
