//! Hostile tests of `SegmentLogStore` with preallocated segments: seeded
//! random Raft-like workloads (appends of every size, truncations, hard
//! states, snapshots, purges, reopens) against a model, with a crash of
//! every kind injected at every file operation (`fail_after_ops` sweeps),
//! transient faults the caller retries, and full disks.
//!
//! Every failure message starts with the seed and the fault position; set
//! `HOSTILE8_SEEDS=a..b` to choose the seeds of the randomized tests.

mod hostile8_common;

use bitcask::vfs::MemVfs;
use hostile8_common::*;
use raftlog::storage::SegmentLogOptions;
use raftlog::{Entry, EntryPayload, Index, LogStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn seeds(default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    match std::env::var("HOSTILE8_SEEDS") {
        Ok(v) => {
            let (a, b) = v.split_once("..").expect("HOSTILE8_SEEDS=a..b");
            a.parse().unwrap()..b.parse().unwrap()
        }
        Err(_) => default,
    }
}

/// A fault-free run of `len` operations: the operation list, replayed
/// identically by the fault runs.
fn record_workload(seed: u64, len: usize) -> (Shape, Vec<Op>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let shape = random_shape(&mut rng);
    let vfs = MemVfs::new();
    let mut s = open(&vfs, &shape.options).expect("open");
    let mut m = Model::default();
    let mut ops = Vec::new();
    for _ in 0..len {
        let op = next_op(&mut rng, &shape, &m);
        if let Op::Reopen = op {
            drop(s);
            s = open(&vfs, &shape.options).expect("reopen");
        } else {
            run_op(&mut s, &op)
                .unwrap_or_else(|e| panic!("seed {seed}: fault-free {}: {e}", op.short()));
        }
        m.apply(&op, s.first_index());
        ops.push(op);
    }
    let got = check_recovered(&s, &m, None)
        .unwrap_or_else(|e| panic!("seed {seed}: fault-free run: {e}"));
    assert_eq!(got.entries, m.entries, "seed {seed}");
    (shape, ops)
}

/// A few more appends after recovery, then another crash: what the
/// recovered store accepts is durable too.
fn continue_and_crash_again(
    vfs: &MemVfs,
    options: &SegmentLogOptions,
    mut s: Store,
    mut m: Model,
    rng: &mut StdRng,
) -> Result<(), String> {
    for _ in 0..rng.random_range(1..4) {
        let lo = m.last() + 1;
        let term = m
            .last_term()
            .max(m.snap.as_ref().map_or(0, |x| x.term))
            .max(1);
        let batch: Vec<Entry<C>> = (lo..lo + rng.random_range(1..4))
            .map(|i| {
                let len = rng.random_range(0..1500);
                Entry {
                    index: i,
                    term,
                    payload: EntryPayload::Command(payload(rng, len)),
                }
            })
            .collect();
        s.append(&batch)
            .map_err(|e| format!("append after recovery: {e}"))?;
        m.apply(&Op::Append(batch), s.first_index());
    }
    check_sealed_segments(vfs).map_err(|e| format!("after appends following recovery: {e}"))?;
    let kind = CRASH_KINDS[rng.random_range(0..CRASH_KINDS.len())];
    let (mid, _) = crash(vfs, options, Some(s), kind, rng, &m, None)?;
    let s = open(vfs, options).map_err(|e| format!("second reopen ({kind:?}): {e}"))?;
    check_recovered(&s, &mid, None).map_err(|e| format!("second reopen ({kind:?}): {e}"))?;
    check_sealed_segments(vfs).map_err(|e| format!("second reopen: {e}"))?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FaultMode {
    /// Every operation from the n-th on fails; the process then dies.
    Persistent,
    /// Only the n-th operation fails; the caller retries the operation.
    TransientRetry,
}

/// Replays `ops` with a fault at file operation `n`. Returns Ok(true) if
/// the fault was hit, Ok(false) if the workload finished before it.
fn run_with_fault(
    seed: u64,
    shape: &Shape,
    ops: &[Op],
    n: u64,
    mode: FaultMode,
    kind: CrashKind,
) -> Result<bool, String> {
    let options = &shape.options;
    let mut rng = StdRng::seed_from_u64(seed ^ (n << 20) ^ 0x5eed);
    let vfs = MemVfs::new();
    let mut s = Some(open(&vfs, options).map_err(|e| format!("first open: {e}"))?);
    let mut m = Model::default();
    match mode {
        FaultMode::Persistent => vfs.fail_after_ops(n),
        FaultMode::TransientRetry => vfs.fail_once_after_ops(n),
    }
    let mut hit = false;
    let mut inflight: Option<&Op> = None;
    for op in ops {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = if let Op::Reopen = op {
                drop(s.take());
                match open(&vfs, options) {
                    Ok(x) => {
                        s = Some(x);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            } else {
                run_op(s.as_mut().unwrap(), op)
            };
            match result {
                Ok(()) => {
                    m.apply(op, s.as_ref().unwrap().first_index());
                    break;
                }
                Err(e) => {
                    hit = true;
                    eprintln!("attempt {attempts} of {} failed: {e}", op.short());
                    if mode == FaultMode::Persistent || attempts > 3 {
                        inflight = Some(op);
                        break;
                    }
                }
            }
        }
        if inflight.is_some() {
            break;
        }
        if mode == FaultMode::TransientRetry && hit {
            // The live store must agree with the model after a retried op.
            let live = all(s.as_ref().unwrap())
                .map_err(|e| format!("live read after retried {}: {e}", op.short()))?;
            if live != m.entries {
                return Err(format!(
                    "live store differs from the model after retried {} ({} vs {} entries)",
                    op.short(),
                    live.len(),
                    m.entries.len()
                ));
            }
        }
    }
    if !hit {
        return Ok(false);
    }
    vfs.clear_faults();
    if inflight.is_none() {
        check_sealed_segments(&vfs).map_err(|e| format!("live view after the workload: {e}"))?;
    }
    let (mid, inflight2) = crash(&vfs, options, s, kind, &mut rng, &m, inflight)?;
    let s = open(&vfs, options).map_err(|e| {
        format!(
            "reopen after {kind:?} (in flight: {:?}): {e}",
            inflight.map(Op::short)
        )
    })?;
    let rec = check_recovered(&s, &mid, inflight2).map_err(|e| {
        format!(
            "after {kind:?} (in flight: {:?}): {e}",
            inflight.map(Op::short)
        )
    })?;
    check_sealed_segments(&vfs).map_err(|e| format!("after {kind:?}: {e}"))?;
    continue_and_crash_again(&vfs, options, s, rec, &mut rng)?;
    Ok(true)
}

static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn sweep(seed: u64, len: usize, mode: FaultMode, max_points: u64) -> Vec<String> {
    let (shape, ops) = record_workload(seed, len);
    let mut failures = Vec::new();
    let mut n = 0u64;
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(31));
    loop {
        let kind = CRASH_KINDS[(n as usize + seed as usize) % CRASH_KINDS.len()];
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let r = std::panic::catch_unwind(|| run_with_fault(seed, &shape, &ops, n, mode, kind));
        match r {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => break,
            Ok(Err(e)) => failures.push(format!(
                "seed {seed} mode {mode:?} fault at op {n} crash {kind:?} options {:?}: {e}",
                shape.options
            )),
            Err(p) => failures.push(format!(
                "seed {seed} mode {mode:?} fault at op {n} crash {kind:?} options {:?}: PANIC {:?}",
                shape.options,
                p.downcast_ref::<String>()
                    .cloned()
                    .or(p.downcast_ref::<&str>().map(|s| s.to_string()))
            )),
        }
        if n >= max_points {
            break;
        }
        // Dense at the start, then a random stride so long workloads stay cheap.
        n += if n < 150 { 1 } else { rng.random_range(1..6) };
    }
    failures
}

fn report(failures: Vec<String>) {
    if let Ok(path) = std::env::var("HOSTILE8_FAILURES_TO") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for x in &failures {
            writeln!(f, "{x}").unwrap();
        }
    }
    if !failures.is_empty() {
        let shown: Vec<_> = failures.iter().take(15).collect();
        panic!(
            "{} failures, first ones:\n{}",
            failures.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Claims 1-3: a crash of every kind at every file operation of a random
/// workload loses no acknowledged entry, hard state or snapshot; the store
/// opens, holds the acknowledged state plus at most a prefix of the
/// interrupted append, sealed segments end in their last record, and what
/// it accepts afterwards survives another crash.
#[test]
fn hostile8_persistent_fault_sweep() {
    let mut failures = Vec::new();
    let range = seeds(0..40);
    for seed in range.clone() {
        failures.extend(sweep(seed, 40, FaultMode::Persistent, 600));
    }
    eprintln!(
        "persistent sweep: seeds {range:?}, {} fault runs",
        RUNS.load(std::sync::atomic::Ordering::Relaxed)
    );
    report(failures);
}

/// Like the persistent sweep, but the fault is transient (one operation
/// fails) and the caller retries the failed operation, as a caller of a
/// `LogStore` may; then a crash of any kind.
#[test]
fn hostile8_transient_fault_retry_sweep() {
    let mut failures = Vec::new();
    for seed in seeds(0..40) {
        failures.extend(sweep(seed, 40, FaultMode::TransientRetry, 600));
    }
    report(failures);
}

/// A crash during recovery itself (every file operation of `open`), then
/// another crash of any kind: the store still opens with everything.
#[test]
fn hostile8_crash_during_recovery() {
    let mut failures = Vec::new();
    for seed in seeds(0..60) {
        let (shape, ops) = record_workload(seed, 30);
        let options = &shape.options;
        let mut rng = StdRng::seed_from_u64(seed + 1000);
        // Crash in the middle of the workload first.
        let vfs = MemVfs::new();
        let mut s = open(&vfs, options).unwrap();
        let mut m = Model::default();
        let stop = rng.random_range(0..ops.len());
        for op in &ops[..stop] {
            if let Op::Reopen = op {
                drop(s);
                s = open(&vfs, options).unwrap();
            } else {
                run_op(&mut s, op).unwrap();
            }
            m.apply(op, s.first_index());
        }
        // The in-flight op: its file operations stop at a random point.
        let op = &ops[stop];
        vfs.fail_after_ops(rng.random_range(0..12));
        let inflight = match op {
            Op::Reopen => None,
            op => match run_op(&mut s, op) {
                Ok(()) => {
                    m.apply(op, s.first_index());
                    None
                }
                Err(_) => Some(op),
            },
        };
        vfs.clear_faults();
        let kind = CRASH_KINDS[rng.random_range(0..3)];
        let (mid, inflight) = match crash(&vfs, options, Some(s), kind, &mut rng, &m, inflight) {
            Ok(x) => x,
            Err(e) => {
                failures.push(format!("seed {seed}: {e}"));
                continue;
            }
        };
        // Recovery attempts that die at operation k, each followed by a crash.
        let mut last_model = mid;
        let mut last_inflight = inflight;
        for attempt in 0..6 {
            let k = rng.random_range(0..10);
            vfs.fail_after_ops(k);
            let r = open(&vfs, options);
            vfs.clear_faults();
            match r {
                Ok(s) => {
                    // Opened before the fault hit: check, then crash anyway.
                    match check_recovered(&s, &last_model, last_inflight) {
                        Ok(rec) => {
                            last_model = rec;
                            last_inflight = None;
                        }
                        Err(e) => {
                            failures.push(format!("seed {seed} attempt {attempt} (open with fault at {k} succeeded): {e}"));
                            break;
                        }
                    }
                    let kind = CRASH_KINDS[rng.random_range(0..3)];
                    match crash(&vfs, options, Some(s), kind, &mut rng, &last_model, None) {
                        Ok((mm, _)) => last_model = mm,
                        Err(e) => {
                            failures.push(format!("seed {seed}: {e}"));
                            break;
                        }
                    }
                }
                Err(_) => {
                    let kind = CRASH_KINDS[rng.random_range(0..3)];
                    if let Err(e) = crash(
                        &vfs,
                        options,
                        None,
                        kind,
                        &mut rng,
                        &last_model,
                        last_inflight,
                    ) {
                        failures.push(format!("seed {seed}: {e}"));
                        break;
                    }
                }
            }
        }
        match open(&vfs, options) {
            Ok(s) => {
                if let Err(e) = check_recovered(&s, &last_model, last_inflight) {
                    failures.push(format!(
                        "seed {seed} options {options:?}: after crashes during recovery: {e}"
                    ));
                } else if let Err(e) = check_sealed_segments(&vfs) {
                    failures.push(format!("seed {seed}: {e}"));
                }
            }
            Err(e) => failures.push(format!(
                "seed {seed} options {options:?}: final open after crashes during recovery: {e}"
            )),
        }
    }
    report(failures);
}

/// A full disk at a random point of the workload; the process dies on the
/// error (as the server does), then the disk is freed and the node restarts
/// after a crash of any kind. And a variant that frees space and retries.
#[test]
fn hostile8_disk_full_at_any_point() {
    disk_full(false);
}

/// The same, but the operator frees space after the ENOSPC and the caller
/// retries the operation.
#[test]
fn hostile8_disk_full_then_free_and_retry() {
    disk_full(true);
}

fn disk_full(retry: bool) {
    let mut failures = Vec::new();
    for seed in seeds(0..120) {
        let (shape, ops) = record_workload(seed, 40);
        let options = &shape.options;
        let mut rng = StdRng::seed_from_u64(seed + 7777);
        let vfs = MemVfs::new();
        let mut s = Some(open(&vfs, options).unwrap());
        let mut m = Model::default();
        let at = rng.random_range(0..ops.len());
        let mut inflight = None;
        let mut limited = false;
        let ctx = format!("seed {seed} retry {retry} options {options:?}");
        let mut err = None;
        'ops: for (k, op) in ops.iter().enumerate() {
            if k == at {
                let slack = [0u64, 1, 10, 33, 100, 500, 2000][rng.random_range(0..7)];
                vfs.set_space_limit(Some(vfs.used_bytes() + slack));
                limited = true;
            }
            let mut tries = 0;
            loop {
                tries += 1;
                let r = if let Op::Reopen = op {
                    drop(s.take());
                    open(&vfs, options).map(|x| {
                        s = Some(x);
                    })
                } else {
                    run_op(s.as_mut().unwrap(), op)
                };
                match r {
                    Ok(()) => {
                        m.apply(op, s.as_ref().unwrap().first_index());
                        break;
                    }
                    Err(e) if retry && tries < 3 && limited => {
                        // Space freed by the operator; the caller retries.
                        let _ = e;
                        vfs.set_space_limit(None);
                        limited = false;
                    }
                    Err(e) => {
                        err = Some(e.to_string());
                        inflight = Some(op);
                        break 'ops;
                    }
                }
            }
            if retry && tries > 1 {
                match s.as_ref().map(all) {
                    Some(Ok(live)) if live == m.entries => {}
                    other => {
                        failures.push(format!(
                            "{ctx}: live store differs after a retried {}: {:?}",
                            op.short(),
                            other.map(|r| r.map(|v| v.len()))
                        ));
                        continue;
                    }
                }
            }
        }
        let _ = err;
        vfs.clear_faults();
        let kind = CRASH_KINDS[rng.random_range(0..CRASH_KINDS.len())];
        let res = crash(&vfs, options, s, kind, &mut rng, &m, inflight).and_then(|(mid, infl)| {
            let s = open(&vfs, options).map_err(|e| format!("reopen after {kind:?}: {e}"))?;
            let rec = check_recovered(&s, &mid, infl).map_err(|e| {
                format!(
                    "after {kind:?} (in flight {:?}): {e}",
                    inflight.map(Op::short)
                )
            })?;
            check_sealed_segments(&vfs)?;
            continue_and_crash_again(&vfs, options, s, rec, &mut rng)
        });
        if let Err(e) = res {
            failures.push(format!("{ctx}: {e}"));
        }
    }
    report(failures);
}

/// Many random crash points (not a sweep) over long workloads with every
/// shape: a random operation count, a random crash kind.
#[test]
fn hostile8_random_crash_points_long_workloads() {
    random_points(FaultMode::Persistent);
}

/// The same with transient faults that the caller retries.
#[test]
fn hostile8_random_crash_points_long_workloads_transient() {
    random_points(FaultMode::TransientRetry);
}

fn random_points(mode: FaultMode) {
    let mut failures = Vec::new();
    for seed in seeds(1000..1060) {
        let (shape, ops) = record_workload(seed, 150);
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..15 {
            let n = rng.random_range(0..2500);
            let kind = CRASH_KINDS[rng.random_range(0..CRASH_KINDS.len())];
            match std::panic::catch_unwind(|| run_with_fault(seed, &shape, &ops, n, mode, kind)) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => failures.push(format!(
                    "seed {seed} n {n} {mode:?} {kind:?} options {:?}: {e}",
                    shape.options
                )),
                Err(_) => failures.push(format!("seed {seed} n {n} {mode:?} {kind:?}: PANIC")),
            }
        }
    }
    report(failures);
}

#[allow(dead_code)]
fn unused(_: Index) {}

/// Replays one case of a sweep: `HOSTILE8_CASE=seed,len,n,persistent|transient,kind-number`
/// (kind-number indexes `CRASH_KINDS`). Does nothing without the variable.
#[test]
fn hostile8_single_case() {
    let Ok(case) = std::env::var("HOSTILE8_CASE") else {
        return;
    };
    let f: Vec<&str> = case.split(',').collect();
    let seed: u64 = f[0].parse().unwrap();
    let len: usize = f[1].parse().unwrap();
    let n: u64 = f[2].parse().unwrap();
    let mode = if f[3] == "persistent" {
        FaultMode::Persistent
    } else {
        FaultMode::TransientRetry
    };
    let kind = CRASH_KINDS[f[4].parse::<usize>().unwrap()];
    let (shape, ops) = record_workload(seed, len);
    eprintln!("options {:?}", shape.options);
    for (k, op) in ops.iter().enumerate() {
        eprintln!("op {k}: {}", op.short());
    }
    run_with_fault(seed, &shape, &ops, n, mode, kind).unwrap();
}

/// The hard-state and snapshot files are rewritten (new file, fsync,
/// rename, fsync the directory) once they pass 16 KiB: a crash of every
/// kind at every file operation around those rewrites keeps the latest
/// acknowledged hard state and snapshot.
#[test]
fn hostile8_hard_state_and_snapshot_rewrite_sweep() {
    use raftlog::{HardState, SnapshotMeta};
    let shape = Shape {
        options: SegmentLogOptions {
            max_segment_bytes: 4096,
            preallocate_bytes: 1000,
        },
        weights: [1; 6],
        max_batch: 1,
    };
    let mut ops = vec![Op::Append(
        (1..=40)
            .map(|i| Entry {
                index: i,
                term: 1,
                payload: EntryPayload::Command(vec![i as u8; 30]),
            })
            .collect(),
    )];
    for t in 1..=900u64 {
        ops.push(Op::HardState(HardState {
            term: t / 2 + 1,
            voted_for: (t % 3 != 0).then_some(t % 5),
        }));
        if t % 40 == 0 {
            ops.push(Op::Snapshot(SnapshotMeta {
                index: t / 40,
                term: 1,
                voters: (1..3000).collect(),
                learners: vec![t],
            }));
        }
    }
    // Where the rewrites happen: the op count at which the hard-state file
    // shrinks (binary search on the first fault point that is never hit
    // gives the total; the file sizes show the rewrites happened).
    {
        let vfs = MemVfs::new();
        let mut s = open(&vfs, &shape.options).unwrap();
        let mut rewrites = Vec::new();
        let mut prev_len = 0;
        for (k, op) in ops.iter().enumerate() {
            run_op(&mut s, op).unwrap();
            let len = vfs.read_whole(&dir().join("hardstate")).unwrap().len();
            if len < prev_len {
                rewrites.push(k);
            }
            prev_len = len;
        }
        assert!(
            rewrites.len() >= 2,
            "hard-state rewrites at ops {rewrites:?}"
        );
        eprintln!("hard-state rewrites at workload ops {rewrites:?}");
    }
    let mut failures = Vec::new();
    // ~2 file operations per save: every file operation of the workload,
    // through both hard-state rewrites and a dozen snapshot rewrites.
    for n in 0..1900 {
        let kind = CRASH_KINDS[n as usize % CRASH_KINDS.len()];
        match run_with_fault(77, &shape, &ops, n, FaultMode::Persistent, kind) {
            Ok(_) => {}
            Err(e) => failures.push(format!("fault at op {n} crash {kind:?}: {e}")),
        }
    }
    report(failures);
}

/// Claim 5: preparing zeros is best effort. With exactly the free space an
/// append needs for its own records (plus a new segment's header when it
/// rotates, after the sealed segment's zeros are cut), the append
/// succeeds, and what it wrote survives a power loss of any model.
#[test]
fn hostile8_full_disk_never_fails_an_append_that_fits() {
    use bitcask::format::{FILE_HEADER_LEN, record_len};
    use bitcask::segment::{Segment, scan};
    let mut failures = Vec::new();
    let mut appends = 0;
    for seed in seeds(0..150) {
        let mut rng = StdRng::seed_from_u64(seed + 424242);
        let shape = random_shape(&mut rng);
        let options = &shape.options;
        let vfs = MemVfs::new();
        let mut s = open(&vfs, options).unwrap();
        let mut m = Model::default();
        for _ in 0..rng.random_range(0..30) {
            let op = next_op(&mut rng, &shape, &m);
            if let Op::Reopen = op {
                drop(s);
                s = open(&vfs, options).unwrap();
            } else {
                run_op(&mut s, &op).unwrap();
            }
            m.apply(&op, s.first_index());
        }
        for round in 0..6 {
            // The next entry, and the space it needs.
            let len = [0usize, 10, 300, 600, 2000, 5000][rng.random_range(0..6)];
            let term = m.last_term().max(m.snap.as_ref().map_or(0, |x| x.term));
            let e = Entry {
                index: m.last() + 1,
                term,
                payload: EntryPayload::Command(payload(&mut rng, len)),
            };
            let rec = record_len(0, postcard::to_allocvec(&e.payload).unwrap().len()) as u64;
            let active = s.active_segment_path().to_path_buf();
            let file_len = vfs.read_whole(&active).unwrap().len() as u64;
            let seg = Segment::open(&vfs, &active, false).unwrap();
            let valid = scan(&seg, |_, _| Ok(())).unwrap().valid_len();
            let rotates = valid + rec > options.max_segment_bytes && valid > FILE_HEADER_LEN as u64;
            let used = vfs.used_bytes();
            let limit = if rotates {
                used - (file_len - valid) + FILE_HEADER_LEN as u64 + rec
            } else {
                used + (valid + rec).saturating_sub(file_len)
            };
            // HOSTILE8_ROOM_SLACK=-1 checks that the room computed is exact
            // (then most of these appends must fail).
            let slack: i64 = std::env::var("HOSTILE8_ROOM_SLACK")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            vfs.set_space_limit(Some((limit as i64 + slack) as u64));
            appends += 1;
            let r = s.append(std::slice::from_ref(&e));
            vfs.set_space_limit(None);
            match r {
                Ok(()) => m.apply(&Op::Append(vec![e]), s.first_index()),
                Err(err) => {
                    failures.push(format!(
                        "seed {seed} round {round} {options:?}: append of a {rec}-byte record (valid {valid}, file {file_len}, rotates {rotates}) with exactly its room failed: {err}"
                    ));
                    break;
                }
            }
        }
        let kind = CRASH_KINDS[rng.random_range(0..CRASH_KINDS.len())];
        let res = crash(&vfs, options, Some(s), kind, &mut rng, &m, None).and_then(|(mid, _)| {
            let s = open(&vfs, options).map_err(|e| format!("reopen: {e}"))?;
            check_recovered(&s, &mid, None)?;
            check_sealed_segments(&vfs)
        });
        if let Err(e) = res {
            failures.push(format!(
                "seed {seed} {options:?}: after the full-disk appends and {kind:?}: {e}"
            ));
        }
    }
    eprintln!("{appends} appends with exactly their room");
    report(failures);
}

/// After a crash at a random file operation, the node restarts on a disk
/// that is still full (no byte free): the store opens and holds what it
/// must (recovery only cuts, removes and fsyncs; it needs no new space
/// unless it has to create a segment).
#[test]
#[ignore = "hostile8 observation O1: a crash in a snapshot install after every segment was removed leaves a log whose recovery must create a segment (24 bytes): on a disk with no byte free the open fails with ENOSPC; run with --ignored"]
fn hostile8_reopen_on_a_full_disk() {
    let mut failures = Vec::new();
    let mut runs = 0;
    for seed in seeds(0..80) {
        let (shape, ops) = record_workload(seed, 30);
        let mut rng = StdRng::seed_from_u64(seed + 31337);
        for _ in 0..8 {
            let n = rng.random_range(0..300);
            let options = &shape.options;
            let vfs = MemVfs::new();
            let mut s = Some(open(&vfs, options).unwrap());
            let mut m = Model::default();
            vfs.fail_after_ops(n);
            let mut inflight = None;
            for op in &ops {
                let r = if let Op::Reopen = op {
                    drop(s.take());
                    open(&vfs, options).map(|x| {
                        s = Some(x);
                    })
                } else {
                    run_op(s.as_mut().unwrap(), op)
                };
                match r {
                    Ok(()) => m.apply(op, s.as_ref().unwrap().first_index()),
                    Err(_) => {
                        inflight = Some(op);
                        break;
                    }
                }
            }
            vfs.clear_faults();
            let kind = CRASH_KINDS[rng.random_range(0..3)];
            let res =
                crash(&vfs, options, s, kind, &mut rng, &m, inflight).and_then(|(mid, infl)| {
                    vfs.set_space_limit(Some(vfs.used_bytes()));
                    let s = open(&vfs, options).map_err(|e| {
                        format!(
                            "reopen on a full disk after {kind:?} (in flight {:?}): {e}",
                            infl.map(Op::short)
                        )
                    })?;
                    check_recovered(&s, &mid, infl)?;
                    Ok(())
                });
            runs += 1;
            if let Err(e) = res {
                failures.push(format!("seed {seed} fault at op {n} {options:?}: {e}"));
            }
        }
    }
    eprintln!("{runs} reopens on a full disk");
    report(failures);
}
