//! Shared helpers for snowflk's benchmarks (see `benches/benches/` and
//! `docs/benchmarks.md`): the standard key and value shapes.

/// Key length used by the engine benchmarks, in bytes.
pub const KEY_LEN: usize = 16;
/// Value length used by the engine benchmarks, in bytes.
pub const VALUE_LEN: usize = 100;

/// The `i`-th benchmark key: 16 bytes, spread over the hash space.
pub fn key(i: u64) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    k[..8].copy_from_slice(b"bench-k:");
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// A 100-byte value derived from `i`.
pub fn value(i: u64) -> [u8; VALUE_LEN] {
    let mut v = [0u8; VALUE_LEN];
    for (j, b) in v.iter_mut().enumerate() {
        *b = (i as usize).wrapping_mul(31).wrapping_add(j) as u8;
    }
    v
}

/// True when the binary was started by `cargo bench` (which passes
/// `--bench`); `cargo test` runs `harness = false` targets without it, and
/// they then do only a tiny smoke run so the test suite stays fast.
pub fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The `u64` in environment variable `name`, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// `sync` then `echo 3 > /proc/sys/vm/drop_caches`: true if the page cache
/// could be dropped (needs root; a VM's host may still cache the disk).
pub fn drop_page_cache() -> bool {
    // `sync(1)` rather than `sync(2)`: no `unsafe`, no libc dependency.
    let synced = std::process::Command::new("sync")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    synced && std::fs::write("/proc/sys/vm/drop_caches", b"3\n").is_ok()
}

/// A small deterministic PRNG (SplitMix64), so the benches need no `rand`.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next pseudo-random `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A pseudo-random number in `0..n` (`n > 0`; slight modulo bias is fine here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The `q`-quantile (0.0..=1.0) of `sorted` (ascending), nearest rank.
pub fn quantile(sorted: &[std::time::Duration], q: f64) -> std::time::Duration {
    if sorted.is_empty() {
        return std::time::Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Minimum and median of `samples` (not empty), in seconds.
pub fn min_median(samples: &[f64]) -> (f64, f64) {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    (s[0], s[s.len() / 2])
}

/// Loads keys `0..n` (unsynced), then seals the active segment so every
/// record is in a sealed segment, and closes the store (which waits for the
/// hint writers): on return, every data file has its `.hint`.
pub fn load_sealed(dir: &std::path::Path, n: u64, options: bitcask::Options) {
    let store = bitcask::Bitcask::open(dir, options.sync(bitcask::SyncPolicy::Never)).unwrap();
    for i in 0..n {
        store.put(&key(i), &value(i)).unwrap();
    }
    store.rotate().unwrap();
    store.close().unwrap();
}
