//! Hostile tests: attack the engine's claims from outside the crate.
//!
//! - `engine_ops_random_inputs` runs the `engine_ops` fuzz entry point on
//!   seeded random inputs (a smoke test of the model-based harness).

use std::sync::Arc;

use bitcask::vfs::MemVfs;
use bitcask::{Bitcask, Error, Options, SyncPolicy};
use rand::{Rng, SeedableRng};

/// Runs `engine_ops` on `n` random inputs from `seed`, printing the seed of
/// a failing input.
fn random_engine_ops(seed: u64, n: usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for i in 0..n {
        let len = rng.random_range(1..600);
        let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        eprintln!("engine_ops seed {seed} input {i}: {data:02x?}");
        bitcask::fuzzing::engine_ops(&data);
    }
}

#[test]
fn engine_ops_random_inputs() {
    random_engine_ops(1, 200);
}

/// A store on a fresh [`MemVfs`] under `Always` with small segments.
fn mem_store(vfs: &MemVfs, sync: SyncPolicy) -> Bitcask {
    Bitcask::open(
        "/hostile",
        Options::default()
            .sync(sync)
            .max_file_size(4096)
            .vfs(Arc::new(vfs.clone())),
    )
    .unwrap()
}

/// Makes `store` report [`Error::Failed`]: the fsync of a put fails and so
/// does the rollback's truncate.
fn fail_store(vfs: &MemVfs, store: &Bitcask) {
    vfs.fail_after_ops(1); // the write succeeds, the fsync and all after fail
    let err = store.put(b"doomed", b"x").unwrap_err();
    assert!(matches!(err, Error::Failed { .. }), "{err}");
    vfs.clear_faults();
}

/// `Error::Failed` says "writes and merges are refused until the store is
/// reopened"; `merge()` (by policy) answers `Ok(vec![])` instead when the
/// policy selects nothing.
#[test]
#[ignore = "issue: merge() by policy does not refuse on a store that reported Error::Failed"]
fn merge_by_policy_is_not_refused_on_a_failed_store() {
    let vfs = MemVfs::new();
    let store = mem_store(&vfs, SyncPolicy::Always);
    store.put(b"a", b"1").unwrap();
    fail_store(&vfs, &store);
    assert!(matches!(store.rotate(), Err(Error::Failed { .. })));
    assert!(matches!(store.merge_all(), Err(Error::Failed { .. })));
    let merged = store.merge();
    assert!(
        matches!(merged, Err(Error::Failed { .. })),
        "merge() on a failed store: {merged:?}"
    );
}
