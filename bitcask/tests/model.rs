//! Model-based property test: random sequences of operations, reopens and
//! crashes of both kinds, compared against a `BTreeMap` model.
//!
//! - A *process crash* keeps the page cache (every flushed byte and name)
//!   but makes nothing durable; the store reopened after it must make what
//!   it inherited durable, so a later *power loss* only loses what was
//!   written after that reopen (and not fsynced).
//! - A fault injected before a write, followed by a process crash: the
//!   write's outcome must match its result (`Ok` = applied, other errors =
//!   not applied, `Error::Failed` = either).
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
use bitcask::{BatchOp, Bitcask, MergePolicy, Options, SyncPolicy};
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
    /// Put with an expiry in the past (invisible at once) or far future.
    PutExpiring(u8, Vec<u8>, bool),
    /// Seal the active segment.
    Rotate,
    /// Merge what the policy selects.
    Merge,
    /// Merge everything.
    MergeAll,
    /// Merge the sealed segments picked by the bits of the mask.
    MergeSome(u32),
    /// Fail the n-th file operation of a merge, then crash keeping `keep` ‰.
    CrashDuringMerge(u8, u16),
    /// The process dies: the page cache keeps everything, nothing more is durable.
    ProcessCrash,
    /// File operations fail from the n-th on; a put (and a rotation) runs
    /// into it; then the process dies.
    FaultThenKill(u8, u8, Vec<u8>),
    /// A read-only open sees what the writer made durable.
    ReadOnlyOpen,
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
        1 => (0u8..24, value_strategy(), any::<bool>()).prop_map(|(k, v, past)| Step::PutExpiring(k, v, past)),
        2 => Just(Step::Rotate),
        1 => Just(Step::Merge),
        1 => Just(Step::MergeAll),
        2 => any::<u32>().prop_map(Step::MergeSome),
        1 => (0u8..40, 0u16..=1000).prop_map(|(n, keep)| Step::CrashDuringMerge(n, keep)),
        2 => Just(Step::ProcessCrash),
        2 => (0u8..12, 0u8..24, value_strategy()).prop_map(|(n, k, v)| Step::FaultThenKill(n, k, v)),
        1 => Just(Step::ReadOnlyOpen),
    ]
}

fn open(vfs: &MemVfs, sync: SyncPolicy) -> Bitcask {
    Bitcask::open(
        Path::new("/db"),
        Options::default()
            .sync(sync)
            .max_file_size(4096)
            .write_buffer_size(512)
            .merge(MergePolicy {
                trigger_fragmentation: 30.0,
                include_fragmentation: 20.0,
                small_file_bytes: 1024,
                ..MergePolicy::default()
            })
            .vfs(Arc::new(vfs.clone())),
    )
    .expect("open")
}

fn sealed_ids(store: &Bitcask) -> Vec<u32> {
    let (ids, active) = store.segment_ids();
    ids.into_iter().filter(|id| Some(*id) != active).collect()
}

/// After a reopen, no leftover merge or hint files remain and every hint
/// belongs to a data file.
fn check_no_orphans(vfs: &MemVfs) {
    let names = bitcask::vfs::Vfs::list_dir(vfs, Path::new("/db")).expect("list");
    for name in &names {
        // A hint being written by the freshly opened store is not a leftover.
        let in_progress = name
            .strip_suffix(".hint.tmp")
            .is_some_and(|id| names.contains(&format!("{id}.data")));
        assert!(
            !name.ends_with(".tmp") || in_progress,
            "leftover {name} in {names:?}"
        );
        if let Some(id) = bitcask::parse_hint_name(name) {
            assert!(
                names.contains(&format!("{id:010}.data")),
                "orphan hint {name} in {names:?}"
            );
        }
    }
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

/// The keys on which two states differ, for readable failure messages.
fn diff(found: &Model, expected: &Model) -> String {
    let mut out = Vec::new();
    for (k, v) in expected {
        match found.get(k) {
            None => out.push(format!("missing {}", String::from_utf8_lossy(k))),
            Some(f) if f != v => out.push(format!(
                "wrong value for {} ({} bytes, expected {})",
                String::from_utf8_lossy(k),
                f.len(),
                v.len()
            )),
            _ => {}
        }
    }
    for k in found.keys().filter(|k| !expected.contains_key(*k)) {
        out.push(format!("unexpected {}", String::from_utf8_lossy(k)));
    }
    out.join(", ")
}

fn debug(vfs: &MemVfs, what: &str) {
    if std::env::var_os("MODEL_DEBUG").is_some() {
        let names = bitcask::vfs::Vfs::list_dir(vfs, Path::new("/db")).unwrap_or_default();
        eprintln!("{what}: {names:?}");
    }
}

fn apply(model: &mut Model, step: &Step) {
    match step {
        Step::Put(k, v) | Step::PutExpiring(k, v, false) | Step::FaultThenKill(_, k, v) => {
            model.insert(key(*k), v.clone());
        }
        Step::PutExpiring(k, _, true) => {
            model.remove(&key(*k));
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
        debug(
            &vfs,
            &format!("step {i} {:?}", std::mem::discriminant(step)),
        );
        if std::env::var_os("MODEL_DEBUG").is_some() {
            eprintln!(
                "  {}",
                format!("{step:?}").chars().take(120).collect::<String>()
            );
        }
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
                check_no_orphans(&vfs);
                let found = contents(&store);
                prop_assert!(
                    found == model,
                    "after reopen at step {}: {}",
                    i,
                    diff(&found, &model)
                );
                candidates.clear();
            }
            Step::PutExpiring(k, v, past) => {
                let at = if *past { 1_000 } else { u64::MAX / 2 };
                store
                    .put_with_expiry(&key(*k), v, at)
                    .expect("put_with_expiry");
            }
            Step::Rotate => store.rotate().expect("rotate"),
            Step::Merge => {
                store.merge().expect("merge");
            }
            Step::MergeAll => {
                store.merge_all().expect("merge_all");
            }
            Step::MergeSome(mask) => {
                let chosen: Vec<u32> = sealed_ids(&store)
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << (i % 32)) != 0)
                    .map(|(_, id)| id)
                    .collect();
                if !chosen.is_empty() {
                    store.merge_segments(&chosen).expect("merge_segments");
                }
            }
            Step::ProcessCrash | Step::FaultThenKill(..) => {
                // What the step's own write may have done: `None` = no write.
                let mut outcome: Option<Result<(), bitcask::Error>> = None;
                if let Step::FaultThenKill(n, k, v) = step {
                    vfs.fail_after_ops(u64::from(*n));
                    let result = store.put(&key(*k), v);
                    if result.is_ok() {
                        let _ = store.rotate();
                    }
                    outcome = Some(result);
                }
                vfs.process_crash();
                drop(store);
                store = open(&vfs, sync);
                check_no_orphans(&vfs);
                let found = contents(&store);
                let mut with_write = model.clone();
                apply(&mut with_write, step);
                let acceptable: Vec<&Model> = match (&outcome, sync) {
                    (None, SyncPolicy::Always) => vec![&model],
                    (Some(Ok(())), SyncPolicy::Always) => vec![&with_write],
                    (Some(Err(bitcask::Error::Failed { .. })), SyncPolicy::Always) => {
                        vec![&model, &with_write]
                    }
                    (Some(Err(_)), SyncPolicy::Always) => vec![&model],
                    // Unsynced writes (the last ones still in the dead
                    // process's buffer) may be lost: any prefix state.
                    (Some(Ok(())) | Some(Err(bitcask::Error::Failed { .. })), _) => {
                        candidates.iter().chain([&model, &with_write]).collect()
                    }
                    _ => candidates.iter().chain([&model]).collect(),
                };
                prop_assert!(
                    acceptable.contains(&&found),
                    "after a process crash at step {} (write outcome {:?}): {}",
                    i,
                    outcome,
                    diff(&found, acceptable.last().expect("a state"))
                );
                // The reopen made all of it durable: the new baseline.
                model = found;
                candidates.clear();
                candidates.push(model.clone());
                continue;
            }
            Step::ReadOnlyOpen => {
                store.sync().expect("sync");
                candidates.clear();
                let reader = Bitcask::open_read_only_with(
                    Path::new("/db"),
                    Options::default().vfs(Arc::new(vfs.clone())),
                )
                .expect("read-only open");
                let found = contents(&reader);
                prop_assert!(
                    found == model,
                    "read-only open at step {}: {}",
                    i,
                    diff(&found, &model)
                );
            }
            Step::Crash(keep) | Step::CrashDuringMerge(_, keep) => {
                if let Step::CrashDuringMerge(n, _) = step {
                    // Everything before the merge is made durable, so only
                    // the merge can be interrupted here.
                    store.sync().expect("sync");
                    candidates.clear();
                    candidates.push(model.clone());
                    vfs.fail_after_ops(u64::from(*n));
                    let _ = store.merge_all();
                }
                vfs.crash(|_, unsynced| unsynced * u64::from(*keep) / 1000);
                drop(store);
                store = open(&vfs, sync);
                check_no_orphans(&vfs);
                let found = contents(&store);
                if sync == SyncPolicy::Always {
                    prop_assert!(
                        found == model,
                        "after crash at step {}: {}",
                        i,
                        diff(&found, &model)
                    );
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
    let found = contents(&store);
    prop_assert!(found == model, "at the end: {}", diff(&found, &model));
    Ok(())
}

/// Cases per policy: 1000 in an ordinary `cargo test`; a soak sets
/// `MODEL_CASES` (e.g. 20000, with `--release`).
fn cases() -> u32 {
    std::env::var("MODEL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn always_keeps_every_acknowledged_write(steps in prop::collection::vec(step_strategy(), 1..120)) {
        run(&steps, SyncPolicy::Always)?;
    }

    #[test]
    fn never_recovers_a_prefix_after_a_crash(steps in prop::collection::vec(step_strategy(), 1..120)) {
        run(&steps, SyncPolicy::Never)?;
    }

    #[test]
    fn interval_recovers_a_prefix_after_a_crash(steps in prop::collection::vec(step_strategy(), 1..60)) {
        run(&steps, SyncPolicy::Interval(std::time::Duration::from_millis(2)))?;
    }
}
