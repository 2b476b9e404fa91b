//! Model-based property test: random sequences of operations, reopens and
//! crashes, compared against a `BTreeMap` model.
//!
//! - Under `Always`, every acknowledged write survives: after a reopen or a
//!   crash the store equals the model.
//! - Under `Never`, a crash may lose unsynced writes, but what survives is the
//!   model at some prefix of the operations since the last durable point —
//!   no holes, no reordering, batches whole or not at all.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bitcask::vfs::MemVfs;
use bitcask::{BatchOp, Bitcask, Options, SyncPolicy};
use proptest::prelude::*;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Debug, Clone)]
enum Step {
    Put(u8, Vec<u8>),
    Delete(u8),
    Batch(Vec<(u8, Option<Vec<u8>>)>),
    Sync,
    Reopen,
    /// Crash keeping `keep_permille` ‰ of each file's unsynced bytes.
    Crash(u16),
}

fn key(k: u8) -> Vec<u8> {
    format!("key-{k:03}").into_bytes()
}

fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..40),
        1 => prop::collection::vec(any::<u8>(), 200..1500),
    ]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        10 => (0u8..24, value_strategy()).prop_map(|(k, v)| Step::Put(k, v)),
        4 => (0u8..24).prop_map(Step::Delete),
        3 => prop::collection::vec((0u8..24, prop::option::of(value_strategy())), 1..6)
            .prop_map(Step::Batch),
        1 => Just(Step::Sync),
        1 => Just(Step::Reopen),
        2 => (0u16..=1000).prop_map(Step::Crash),
    ]
}

fn open(vfs: &MemVfs, sync: SyncPolicy) -> Bitcask {
    Bitcask::open(
        Path::new("/db"),
        Options::default()
            .sync(sync)
            .max_file_size(4096)
            .write_buffer_size(512)
            .vfs(Arc::new(vfs.clone())),
    )
    .expect("open")
}

fn contents(store: &Bitcask) -> Model {
    let mut out = Model::new();
    for pair in store.iter() {
        let (k, v) = pair.expect("iter");
        out.insert(k, v);
    }
    assert_eq!(out.len(), store.len());
    out
}

fn apply(model: &mut Model, step: &Step) {
    match step {
        Step::Put(k, v) => {
            model.insert(key(*k), v.clone());
        }
        Step::Delete(k) => {
            model.remove(&key(*k));
        }
        Step::Batch(ops) => {
            for (k, v) in ops {
                match v {
                    Some(v) => model.insert(key(*k), v.clone()),
                    None => model.remove(&key(*k)),
                };
            }
        }
        _ => {}
    }
}

fn run(steps: &[Step], sync: SyncPolicy) -> Result<(), TestCaseError> {
    let vfs = MemVfs::new();
    let mut store = open(&vfs, sync);
    let mut model = Model::new();
    // Model states since the last point where everything was durable.
    let mut candidates: Vec<Model> = vec![model.clone()];
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Put(k, v) => store.put(&key(*k), v).expect("put"),
            Step::Delete(k) => {
                let existed = store.delete(&key(*k)).expect("delete");
                prop_assert_eq!(existed, model.contains_key(&key(*k)), "step {}", i);
            }
            Step::Batch(ops) => {
                let ops: Vec<BatchOp> = ops
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => BatchOp::put(key(*k), v.clone()),
                        None => BatchOp::delete(key(*k)),
                    })
                    .collect();
                store.write_batch(&ops).expect("batch");
            }
            Step::Sync => {
                store.sync().expect("sync");
                candidates.clear();
            }
            Step::Reopen => {
                drop(store);
                store = open(&vfs, sync);
                prop_assert_eq!(&contents(&store), &model, "after reopen at step {}", i);
                candidates.clear();
            }
            Step::Crash(keep) => {
                vfs.crash(|_, unsynced| unsynced * u64::from(*keep) / 1000);
                drop(store);
                store = open(&vfs, sync);
                let found = contents(&store);
                if sync == SyncPolicy::Always {
                    prop_assert_eq!(&found, &model, "after crash at step {}", i);
                } else {
                    candidates.push(model.clone());
                    prop_assert!(
                        candidates.contains(&found),
                        "after crash at step {}: store is not a prefix state; found {:?}",
                        i,
                        found.keys().collect::<Vec<_>>()
                    );
                    model = found;
                }
                candidates.clear();
            }
        }
        apply(&mut model, step);
        candidates.push(model.clone());
        // Reads agree with the model at every step, not only after reopen.
        if let Step::Put(k, _) | Step::Delete(k) = step {
            prop_assert_eq!(
                store.get(&key(*k)).expect("get"),
                model.get(&key(*k)).cloned()
            );
        }
    }
    drop(store);
    let store = open(&vfs, sync);
    prop_assert_eq!(&contents(&store), &model, "at the end");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn always_keeps_every_acknowledged_write(steps in prop::collection::vec(step_strategy(), 1..120)) {
        run(&steps, SyncPolicy::Always)?;
    }

    #[test]
    fn never_recovers_a_prefix_after_a_crash(steps in prop::collection::vec(step_strategy(), 1..120)) {
        run(&steps, SyncPolicy::Never)?;
    }
}
