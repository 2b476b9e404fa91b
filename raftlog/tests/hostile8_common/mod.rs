//! Shared pieces of the hostile8 tests: a model of what the log must hold,
//! a generator of Raft-like operations, crash models and the checks of the
//! claims (durability, contiguity, sealed segments end in a record).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bitcask::segment::{ScanEnd, Segment, scan};
use bitcask::vfs::{MemVfs, Vfs};
use raftlog::storage::{SegmentLogOptions, SegmentLogStore};
use raftlog::{Entry, EntryPayload, HardState, Index, LogStore, SnapshotMeta, StorageError, Term};
use rand::rngs::StdRng;
use rand::{Rng, RngCore};

pub type C = Vec<u8>;
pub type Store = SegmentLogStore<C>;

pub const DIR: &str = "/log";

pub fn dir() -> &'static Path {
    Path::new(DIR)
}

pub fn open(vfs: &MemVfs, options: &SegmentLogOptions) -> Result<Store, StorageError> {
    SegmentLogStore::open(
        Arc::new(vfs.clone()) as Arc<dyn Vfs>,
        dir(),
        options.clone(),
    )
}

pub fn all(s: &Store) -> Result<Vec<Entry<C>>, StorageError> {
    s.entries(s.first_index(), s.last_index() + 1, None)
}

/// What the log must hold: the state after the last operation that returned Ok.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub first: Index,
    pub entries: Vec<Entry<C>>,
    pub hs: HardState,
    pub snap: Option<SnapshotMeta>,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            first: 1,
            entries: Vec::new(),
            hs: HardState::default(),
            snap: None,
        }
    }
}

impl Model {
    pub fn last(&self) -> Index {
        self.first + self.entries.len() as Index - 1
    }

    pub fn term(&self, i: Index) -> Option<Term> {
        if i == 0 {
            return Some(0);
        }
        if i < self.first {
            return self.snap.as_ref().filter(|s| s.index == i).map(|s| s.term);
        }
        self.entries.get((i - self.first) as usize).map(|e| e.term)
    }

    pub fn last_term(&self) -> Term {
        self.term(self.last()).unwrap_or(0)
    }

    pub fn snap_index(&self) -> Index {
        self.snap.as_ref().map_or(0, |s| s.index)
    }

    /// Applies an operation that returned Ok. `store_first` is the store's
    /// first index afterwards (a purge removes whole segments only).
    pub fn apply(&mut self, op: &Op, store_first: Index) {
        match op {
            Op::Append(batch) => self.entries.extend(batch.iter().cloned()),
            Op::Truncate(i) => {
                if *i < self.last() {
                    let keep = (*i + 1).saturating_sub(self.first) as usize;
                    self.entries.truncate(keep);
                }
            }
            Op::HardState(hs) => self.hs = *hs,
            Op::Snapshot(meta) => {
                let matches = self.term(meta.index) == Some(meta.term);
                self.snap = Some(meta.clone());
                if !matches {
                    self.entries.clear();
                    self.first = meta.index + 1;
                }
            }
            Op::Purge(_) => {
                assert!(store_first >= self.first, "purge moved first index back");
                let drop = (store_first - self.first) as usize;
                self.entries.drain(..drop.min(self.entries.len()));
                self.first = store_first;
            }
            Op::Reopen => {}
        }
    }
}

#[derive(Clone, Debug)]
pub enum Op {
    Append(Vec<Entry<C>>),
    Truncate(Index),
    HardState(HardState),
    Snapshot(SnapshotMeta),
    Purge(Index),
    Reopen,
}

impl Op {
    pub fn short(&self) -> String {
        match self {
            Op::Append(b) => format!(
                "Append({}..={}, sizes {:?})",
                b[0].index,
                b[b.len() - 1].index,
                b.iter().map(payload_len).collect::<Vec<_>>()
            ),
            Op::Truncate(i) => format!("Truncate({i})"),
            Op::HardState(h) => format!("HardState({h:?})"),
            Op::Snapshot(m) => format!("Snapshot({}@{})", m.index, m.term),
            Op::Purge(i) => format!("Purge({i})"),
            Op::Reopen => "Reopen".into(),
        }
    }
}

fn payload_len(e: &Entry<C>) -> usize {
    match &e.payload {
        EntryPayload::Command(c) => c.len(),
        _ => 0,
    }
}

/// A payload of `len` bytes: random, all zeros, or mixed with runs of zeros
/// (so that records hold whole aligned sectors of zeros sometimes).
pub fn payload(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    match rng.random_range(0..4) {
        0 => {}
        1 | 2 => rng.fill_bytes(&mut v),
        _ => {
            rng.fill_bytes(&mut v);
            if len > 0 {
                let a = rng.random_range(0..len);
                let b = rng.random_range(a..=len.min(a + 2000));
                v[a..b].fill(0);
            }
        }
    }
    v
}

/// Workload shape for one run.
#[derive(Clone, Debug)]
pub struct Shape {
    pub options: SegmentLogOptions,
    /// Weights: append, truncate, hard state, snapshot, purge, reopen.
    pub weights: [u32; 6],
    pub max_batch: usize,
}

pub fn random_shape(rng: &mut StdRng) -> Shape {
    let max_segment_bytes =
        [200u64, 400, 700, 1024, 1500, 4096, 9000, 65536][rng.random_range(0..8)];
    let preallocate_bytes =
        [0u64, 1, 7, 511, 512, 513, 1000, 4097, 8192, 1 << 20][rng.random_range(0..10)];
    Shape {
        options: SegmentLogOptions {
            max_segment_bytes,
            preallocate_bytes,
        },
        weights: [10, 2, 2, 2, 1, 1],
        max_batch: [1usize, 3, 8][rng.random_range(0..3)],
    }
}

fn pick(rng: &mut StdRng, weights: &[u32; 6]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut x = rng.random_range(0..total);
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    unreachable!()
}

/// A Raft-like next operation for the current model.
pub fn next_op(rng: &mut StdRng, shape: &Shape, m: &Model) -> Op {
    let seg = shape.options.max_segment_bytes as usize;
    let step = shape.options.preallocate_bytes as usize;
    loop {
        match pick(rng, &shape.weights) {
            0 => {
                let n = rng.random_range(1..=shape.max_batch);
                let mut term = m.last_term().max(m.snap.as_ref().map_or(0, |s| s.term));
                if rng.random_bool(0.2) {
                    term += 1;
                }
                let lo = m.last() + 1;
                let batch = (lo..lo + n as Index)
                    .map(|i| {
                        let len = match rng.random_range(0..10) {
                            0..=3 => rng.random_range(0..40),
                            4..=6 => rng.random_range(40..700),
                            7 => rng
                                .random_range(step.max(1)..=step.max(1) + 1100)
                                .min(1 << 21),
                            8 => rng.random_range(seg / 2..seg + seg / 2 + 2),
                            _ => rng.random_range(500..2100),
                        };
                        Entry {
                            index: i,
                            term,
                            payload: match rng.random_range(0..20) {
                                0 => EntryPayload::Noop,
                                _ => EntryPayload::Command(payload(rng, len)),
                            },
                        }
                    })
                    .collect();
                return Op::Append(batch);
            }
            1 => {
                // Never below the snapshot nor below what the store allows.
                let lo = if m.first == 1 || m.snap_index() + 1 == m.first {
                    m.first - 1
                } else {
                    m.first
                };
                let lo = lo.max(m.snap_index());
                if m.last() <= lo {
                    continue;
                }
                return Op::Truncate(rng.random_range(lo..m.last()));
            }
            2 => {
                let term = m.hs.term + rng.random_range(0..3);
                let vote = if rng.random_bool(0.7) {
                    Some(rng.random_range(0..5u64))
                } else {
                    None
                };
                return Op::HardState(HardState {
                    term,
                    voted_for: vote,
                });
            }
            3 => {
                let cur = m.snap_index();
                if rng.random_bool(0.6) && m.last() > cur && m.last() >= m.first {
                    // A snapshot of our own log (kept).
                    let lo = cur.max(m.first);
                    let i = rng.random_range(lo..=m.last());
                    return Op::Snapshot(SnapshotMeta {
                        index: i,
                        term: m.term(i).unwrap(),
                        voters: vec![1, 2, 3],
                        learners: vec![],
                    });
                }
                // A snapshot from a leader that the log does not hold.
                let i = rng.random_range(cur + 1..=m.last() + 30);
                let term = m.last_term().max(m.snap.as_ref().map_or(0, |s| s.term)) + 1;
                return Op::Snapshot(SnapshotMeta {
                    index: i,
                    term,
                    voters: vec![1, 2, 3],
                    learners: vec![rng.random_range(4..9)],
                });
            }
            4 => {
                let Some(s) = &m.snap else { continue };
                return Op::Purge(s.index);
            }
            _ => return Op::Reopen,
        }
    }
}

/// Runs one operation on the store.
pub fn run_op(s: &mut Store, op: &Op) -> Result<(), StorageError> {
    match op {
        Op::Append(b) => s.append(b),
        Op::Truncate(i) => s.truncate_after(*i),
        Op::HardState(h) => s.save_hard_state(*h),
        Op::Snapshot(m) => s.save_snapshot(m),
        Op::Purge(i) => s.purge_up_to(*i),
        Op::Reopen => Ok(()),
    }
}

/// The segment files, oldest first.
pub fn segment_paths(vfs: &MemVfs) -> Vec<PathBuf> {
    let mut names: Vec<String> = vfs
        .list_dir(dir())
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.starts_with("log-") && n.ends_with(".seg"))
        .collect();
    names.sort();
    names.into_iter().map(|n| dir().join(n)).collect()
}

/// Claim 3: every segment but the newest ends exactly at its last record.
pub fn check_sealed_segments(vfs: &MemVfs) -> Result<(), String> {
    let paths = segment_paths(vfs);
    for p in paths.iter().take(paths.len().saturating_sub(1)) {
        let seg = Segment::open(vfs, p, false).map_err(|e| format!("open {}: {e}", p.display()))?;
        match scan(&seg, |_, _| Ok(())) {
            Ok(ScanEnd::Clean { .. }) => {}
            other => {
                return Err(format!(
                    "sealed segment {} does not end in its last record: {other:?}",
                    p.display()
                ));
            }
        }
    }
    Ok(())
}

/// Reads the recovered store and checks it against the model before the
/// in-flight operation (`before`) and that operation (if any). Returns the
/// recovered state as the new model.
pub fn check_recovered(s: &Store, before: &Model, inflight: Option<&Op>) -> Result<Model, String> {
    let hs = s.hard_state().map_err(|e| format!("hard_state: {e}"))?;
    let hs_ok = hs == before.hs || matches!(inflight, Some(Op::HardState(h)) if *h == hs);
    if !hs_ok {
        return Err(format!(
            "hard state {hs:?}, expected {:?} (in flight: {:?})",
            before.hs,
            inflight.map(Op::short)
        ));
    }
    let snap = s.snapshot().map_err(|e| format!("snapshot: {e}"))?;
    let snap_new = matches!(inflight, Some(Op::Snapshot(m)) if Some(m) == snap.as_ref())
        && snap != before.snap;
    if snap != before.snap && !snap_new {
        return Err(format!(
            "snapshot {snap:?}, expected {:?} (in flight: {:?})",
            before.snap,
            inflight.map(Op::short)
        ));
    }
    let mut base = before.clone();
    if snap_new {
        let op = inflight.unwrap();
        base.apply(op, 0);
    }
    base.hs = hs;
    let got = all(s).map_err(|e| format!("reading entries: {e}"))?;
    let got_first = s.first_index();
    let got_last = s.last_index();
    if got.len() as Index != got_last + 1 - got_first {
        return Err(format!(
            "entries() returned {} for {got_first}..={got_last}",
            got.len()
        ));
    }
    for (k, e) in got.iter().enumerate() {
        if e.index != got_first + k as Index {
            return Err(format!(
                "non-contiguous: position {k} holds index {}",
                e.index
            ));
        }
    }
    // First index.
    match inflight {
        Some(Op::Purge(i)) if !snap_new => {
            if got_first < base.first || got_first > i + 1 {
                return Err(format!(
                    "first index {got_first} after an interrupted purge to {i} (was {})",
                    base.first
                ));
            }
        }
        _ => {
            if got_first != base.first {
                return Err(format!(
                    "first index {got_first}, expected {} (in flight: {:?})",
                    base.first,
                    inflight.map(Op::short)
                ));
            }
        }
    }
    // Last index.
    let min_last = match inflight {
        Some(Op::Truncate(i)) if !snap_new => (*i).min(base.last()),
        _ => base.last(),
    };
    if got_last < min_last {
        return Err(format!(
            "LOST ENTRIES: last index {got_last}, expected at least {min_last} (model last {}, in flight: {:?})",
            base.last(),
            inflight.map(Op::short)
        ));
    }
    for e in &got {
        if e.index <= base.last() {
            let want = &base.entries[(e.index - base.first) as usize];
            if e != want {
                return Err(format!(
                    "entry {} differs from the acknowledged one (term {} vs {})",
                    e.index, e.term, want.term
                ));
            }
        } else {
            let Some(Op::Append(batch)) = inflight else {
                return Err(format!(
                    "entry {} beyond the acknowledged last {} with no append in flight (in flight: {:?})",
                    e.index,
                    base.last(),
                    inflight.map(Op::short)
                ));
            };
            let pos = (e.index - batch[0].index) as usize;
            if batch.get(pos) != Some(e) {
                return Err(format!(
                    "entry {} beyond the acknowledged last is not from the in-flight append",
                    e.index
                ));
            }
        }
    }
    // Terms through the trait agree.
    for e in &got {
        if s.term(e.index).map_err(|x| x.to_string())? != Some(e.term) {
            return Err(format!("term({}) disagrees with entries()", e.index));
        }
    }
    Ok(Model {
        first: got_first,
        entries: got,
        hs,
        snap,
    })
}

/// How the process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashKind {
    Process,
    PowerPrefix,
    PowerSectors,
    ProcessThenReopenThenPower,
    ProcessThenReopenThenSectors,
}

pub const CRASH_KINDS: [CrashKind; 5] = [
    CrashKind::Process,
    CrashKind::PowerPrefix,
    CrashKind::PowerSectors,
    CrashKind::ProcessThenReopenThenPower,
    CrashKind::ProcessThenReopenThenSectors,
];

pub fn power_prefix(vfs: &MemVfs, rng: &mut StdRng) {
    let mode = rng.random_range(0..3);
    let seed = rng.next_u64();
    let mut r = <StdRng as rand::SeedableRng>::seed_from_u64(seed);
    vfs.power_loss(move |_, unsynced| match mode {
        0 => 0,
        1 => unsynced,
        _ => r.random_range(0..=unsynced),
    });
}

pub fn power_sectors(vfs: &MemVfs, rng: &mut StdRng) {
    let p = [0.0, 0.3, 0.5, 0.8, 1.0][rng.random_range(0..5)];
    let seed = rng.next_u64();
    let mut r = <StdRng as rand::SeedableRng>::seed_from_u64(seed);
    vfs.power_loss_sectors(move |_, _| r.random_bool(p));
}

/// Crashes the store `s` (dropped here, as a killed process's handles are
/// useless afterwards) with `kind`. For the kinds that reopen in between,
/// the intermediate reopen is checked too. Returns the model the final
/// reopen must match, with the op still in flight (None once an
/// intermediate reopen has reported the state).
pub fn crash<'a>(
    vfs: &MemVfs,
    options: &SegmentLogOptions,
    s: Option<Store>,
    kind: CrashKind,
    rng: &mut StdRng,
    before: &Model,
    inflight: Option<&'a Op>,
) -> Result<(Model, Option<&'a Op>), String> {
    // Forget the store without letting its Drop do anything useful: the
    // process is gone. (Our store has no Drop side effects besides the lock.)
    vfs.process_crash();
    drop(s);
    match kind {
        CrashKind::Process => Ok((before.clone(), inflight)),
        CrashKind::PowerPrefix => {
            power_prefix(vfs, rng);
            Ok((before.clone(), inflight))
        }
        CrashKind::PowerSectors => {
            power_sectors(vfs, rng);
            Ok((before.clone(), inflight))
        }
        CrashKind::ProcessThenReopenThenPower | CrashKind::ProcessThenReopenThenSectors => {
            let s = open(vfs, options).map_err(|e| format!("intermediate reopen: {e}"))?;
            let mid = check_recovered(&s, before, inflight)
                .map_err(|e| format!("intermediate reopen: {e}"))?;
            check_sealed_segments(vfs).map_err(|e| format!("intermediate reopen: {e}"))?;
            vfs.process_crash();
            drop(s);
            if kind == CrashKind::ProcessThenReopenThenPower {
                power_prefix(vfs, rng);
            } else {
                power_sectors(vfs, rng);
            }
            Ok((mid, None))
        }
    }
}
