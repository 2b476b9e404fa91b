//! Measures keydir memory per key with a counting global allocator: the heap
//! growth caused by loading N keys into a store, minus the key bytes
//! themselves, divided by N.
//!
//! Run: `cargo bench -p snowflk-benches --bench keydir_memory`
//! `BENCH_KEYS` overrides the key count (default 1,000,000).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use bitcask::{Bitcask, Options, SyncPolicy};
use snowflk_benches::{KEY_LEN, key, value};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator and only
// counts sizes; no memory is touched.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // special: run a small count there so the target stays quick.
    let n: u64 = std::env::var("BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if std::env::args().any(|a| a == "--bench") {
            1_000_000
        } else {
            10_000
        });
    let dir = tempfile::tempdir().unwrap();
    for phase in ["written", "reopened"] {
        let before = LIVE.load(Ordering::Relaxed);
        let store = if phase == "written" {
            let store =
                Bitcask::open(dir.path(), Options::default().sync(SyncPolicy::Never)).unwrap();
            for i in 0..n {
                store.put(&key(i), &value(i)).unwrap();
            }
            store.sync().unwrap();
            store
        } else {
            Bitcask::open(dir.path(), Options::default()).unwrap()
        };
        let grown = LIVE.load(Ordering::Relaxed) - before;
        let per_key = grown as f64 / n as f64;
        let keydir = store.keydir_heap_bytes() as f64 / n as f64;
        println!(
            "{phase}: {n} keys of {KEY_LEN} B: heap {per_key:.1} B/key in all, \
             {:.1} B/key beyond the key bytes; keydir structures alone {keydir:.1} B/key ({:.1} beyond the key)",
            per_key - KEY_LEN as f64,
            keydir - KEY_LEN as f64
        );
        drop(store);
    }
}
