//! The conformance suite every [`LogStore`] implementation must pass.
//!
//! Call [`run_all`] from a test with a factory for empty stores and a
//! `reopen` function that simulates a clean restart (drop and open again).
//! Failures panic with a message naming the violated rule.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{LogStore, restore};
use crate::error::StorageError;
use crate::types::{Entry, EntryPayload, HardState, Index, SnapshotMeta, Term};

/// The command type the suite stores.
pub type TestCommand = String;

fn entry(index: Index, term: Term) -> Entry<TestCommand> {
    Entry {
        index,
        term,
        payload: EntryPayload::Command(format!("cmd-{index}-{term}")),
    }
}

fn entries(lo: Index, hi: Index, term: Term) -> Vec<Entry<TestCommand>> {
    (lo..=hi).map(|i| entry(i, term)).collect()
}

/// Runs every conformance check. `create` returns a new, empty store;
/// `reopen` closes a store and opens the same storage again.
pub fn run_all<S, F, R>(mut create: F, mut reopen: R)
where
    S: LogStore<TestCommand>,
    F: FnMut() -> S,
    R: FnMut(S) -> S,
{
    empty_store(create());
    append_and_read(create());
    rejects_holes_and_overlaps(create());
    truncate_after_removes_suffix(create(), &mut reopen);
    hard_state_roundtrip(create(), &mut reopen);
    entries_respects_max_bytes(create());
    purge_prefix(create(), &mut reopen);
    for seed in 0..8 {
        random_against_model(create(), &mut reopen, seed);
    }
    snapshot_replaces_a_mismatching_log(create(), &mut reopen);
    snapshot_keeps_a_matching_suffix(create(), &mut reopen);
    snapshot_refuses_regression(create(), &mut reopen);
    restore_refuses_a_purge_without_snapshot(create(), &mut reopen);
    for seed in 0..8 {
        random_with_snapshots(create(), &mut reopen, seed);
    }
}

fn meta(index: Index, term: Term) -> SnapshotMeta {
    SnapshotMeta {
        index,
        term,
        voters: vec![1, 2, 3],
        learners: vec![7],
    }
}

/// Checks a store whose log logically starts after `snap` (entries kept at
/// or before it are allowed) and holds `model` after it.
fn check_after_snapshot<S: LogStore<TestCommand>>(
    s: &S,
    snap: &SnapshotMeta,
    model: &[Entry<TestCommand>],
    ctx: &str,
) {
    assert_eq!(
        s.snapshot().expect("snapshot").as_ref(),
        Some(snap),
        "{ctx}: rule 7, snapshot() returns the saved snapshot"
    );
    let first = s.first_index();
    assert!(
        first <= snap.index + 1,
        "{ctx}: rule 7, first_index {first} is past the snapshot {}",
        snap.index
    );
    assert_eq!(
        s.last_index(),
        snap.index + model.len() as Index,
        "{ctx}: rule 1, last_index"
    );
    assert_eq!(
        s.term(snap.index).expect("term at the snapshot"),
        Some(snap.term),
        "{ctx}: rule 6, term at the snapshot index"
    );
    let got = s
        .entries(snap.index + 1, s.last_index() + 1, None)
        .expect("entries");
    assert_eq!(got, model, "{ctx}: entries after the snapshot");
    let restored = restore(s).expect("restore");
    assert_eq!(
        restored.snapshot.as_ref(),
        Some(snap),
        "{ctx}: restore snapshot"
    );
    assert_eq!(restored.entries, model, "{ctx}: restore entries");
}

/// Rule 7: a snapshot the log does not contain replaces the whole log.
pub fn snapshot_replaces_a_mismatching_log<S: LogStore<TestCommand>>(
    mut s: S,
    reopen: &mut impl FnMut(S) -> S,
) {
    s.append(&entries(1, 10, 1)).expect("append");
    let snap = meta(15, 2);
    s.save_snapshot(&snap).expect("save_snapshot");
    assert_eq!(
        s.first_index(),
        16,
        "rule 7: the log continues after the snapshot"
    );
    assert!(
        matches!(s.term(14), Err(StorageError::Compacted(14))),
        "rule 6: an index before the snapshot is compacted"
    );
    check_after_snapshot(&s, &snap, &[], "after a replacing snapshot");
    let mut s = reopen(s);
    check_after_snapshot(&s, &snap, &[], "rule 4: replacing snapshot survives reopen");
    assert!(
        s.append(&entries(17, 18, 2)).is_err(),
        "rule 2: a hole after the snapshot is refused"
    );
    assert!(
        s.append(&entries(16, 16, 1)).is_err(),
        "rule 7: a term below the snapshot's is refused"
    );
    let model = entries(16, 20, 3);
    s.append(&model).expect("append after the snapshot");
    check_after_snapshot(&s, &snap, &model, "append after the snapshot");
    let mut s = reopen(s);
    check_after_snapshot(&s, &snap, &model, "appended entries survive reopen");
    s.truncate_after(18).expect("truncate after the snapshot");
    check_after_snapshot(&s, &snap, &model[..3], "truncate after the snapshot");
    s.truncate_after(15).expect("truncate to the snapshot");
    check_after_snapshot(&s, &snap, &[], "truncate_after(snapshot index)");
    let s = reopen(s);
    check_after_snapshot(&s, &snap, &[], "truncated to the snapshot, reopened");
}

/// Rule 7: a snapshot whose last entry the log holds keeps what follows;
/// purging then drops (some of) the covered prefix.
pub fn snapshot_keeps_a_matching_suffix<S: LogStore<TestCommand>>(
    mut s: S,
    reopen: &mut impl FnMut(S) -> S,
) {
    let mut all = entries(1, 5, 1);
    all.extend(entries(6, 30, 2));
    s.append(&all).expect("append");
    let snap = meta(12, 2);
    s.save_snapshot(&snap).expect("save_snapshot");
    check_after_snapshot(&s, &snap, &all[12..], "after a matching snapshot");
    let mut s = reopen(s);
    check_after_snapshot(&s, &snap, &all[12..], "matching snapshot survives reopen");
    s.purge_up_to(12).expect("purge");
    check_after_snapshot(&s, &snap, &all[12..], "after purge_up_to(snapshot)");
    let mut s = reopen(s);
    check_after_snapshot(&s, &snap, &all[12..], "purged, reopened");
    // A newer snapshot that matches again, then one that does not.
    let snap2 = meta(20, 2);
    s.save_snapshot(&snap2).expect("newer snapshot");
    check_after_snapshot(&s, &snap2, &all[20..], "newer matching snapshot");
    let snap3 = meta(40, 5);
    s.save_snapshot(&snap3).expect("snapshot past the end");
    let s = reopen(s);
    check_after_snapshot(&s, &snap3, &[], "snapshot past the end replaces the log");
}

/// Rule 7: an older snapshot is refused, the store unchanged.
pub fn snapshot_refuses_regression<S: LogStore<TestCommand>>(
    mut s: S,
    reopen: &mut impl FnMut(S) -> S,
) {
    s.append(&entries(1, 10, 1)).expect("append");
    let snap = meta(8, 1);
    s.save_snapshot(&snap).expect("save");
    assert!(
        s.save_snapshot(&meta(5, 1)).is_err(),
        "rule 7: an older snapshot must be refused"
    );
    let s = reopen(s);
    check_after_snapshot(
        &s,
        &snap,
        &entries(9, 10, 1),
        "after a refused older snapshot",
    );
}

/// `restore` refuses a purged prefix no snapshot covers.
pub fn restore_refuses_a_purge_without_snapshot<S: LogStore<TestCommand>>(
    mut s: S,
    reopen: &mut impl FnMut(S) -> S,
) {
    s.append(&entries(1, 10, 1)).expect("append");
    s.purge_up_to(6).expect("purge");
    let s = reopen(s);
    if s.first_index() > 1 {
        assert!(
            restore(&s).is_err(),
            "restore must refuse a log whose purged prefix no snapshot covers"
        );
    }
}

/// Random appends, truncations, snapshots (matching or not), purges and
/// reopens, compared with a model after every operation.
pub fn random_with_snapshots<S: LogStore<TestCommand>>(
    mut s: S,
    reopen: &mut impl FnMut(S) -> S,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5a5a);
    let mut snap = meta(0, 0);
    // Entries after the snapshot.
    let mut model: Vec<Entry<TestCommand>> = Vec::new();
    let mut have_snapshot = false;
    for step in 0..200 {
        let ctx = format!("random snapshots seed={seed} step={step}");
        let last = snap.index + model.len() as Index;
        let last_term = model.last().map_or(snap.term.max(1), |e| e.term);
        match rng.random_range(0..12) {
            0..=5 => {
                let term = last_term + rng.random_range(0..2);
                let n = rng.random_range(1..8);
                let batch = entries(last + 1, last + n, term);
                s.append(&batch).expect("append");
                model.extend(batch);
            }
            6 => {
                let to = rng.random_range(snap.index..=last + 2);
                s.truncate_after(to).expect("truncate");
                model.truncate((to - snap.index) as usize);
            }
            7 | 8 => {
                // A snapshot inside the log (matching) or past it / with
                // another term (replacing).
                let index = rng.random_range(snap.index + 1..=last + 5);
                let matching = index <= last && rng.random_bool(0.7);
                let term = if matching {
                    model[(index - snap.index - 1) as usize].term
                } else {
                    last_term + 1
                };
                let new = meta(index, term);
                s.save_snapshot(&new).expect("save_snapshot");
                if matching {
                    model.drain(..(index - snap.index) as usize);
                } else {
                    model.clear();
                }
                snap = new;
                have_snapshot = true;
            }
            9 => {
                if have_snapshot {
                    s.purge_up_to(snap.index).expect("purge");
                }
            }
            _ => s = reopen(s),
        }
        if have_snapshot {
            check_after_snapshot(&s, &snap, &model, &ctx);
        } else {
            check_log(&s, &model, &ctx);
        }
    }
}

fn check_log<S: LogStore<TestCommand>>(s: &S, model: &[Entry<TestCommand>], ctx: &str) {
    assert_eq!(s.first_index(), 1, "{ctx}: first_index");
    assert_eq!(
        s.last_index(),
        model.len() as Index,
        "{ctx}: rule 1, last_index"
    );
    let got = s.entries(1, s.last_index() + 1, None).expect("entries");
    assert_eq!(got, model, "{ctx}: rule 1/3, stored entries");
    for e in model {
        assert_eq!(
            s.term(e.index).expect("term"),
            Some(e.term),
            "{ctx}: rule 6, term({})",
            e.index
        );
    }
    assert_eq!(
        s.term(model.len() as Index + 1).expect("term"),
        None,
        "{ctx}: rule 6, term past the end"
    );
    assert_eq!(s.term(0).expect("term"), Some(0), "{ctx}: rule 6, term(0)");
}

/// Rule 1: an empty store.
pub fn empty_store<S: LogStore<TestCommand>>(s: S) {
    check_log(&s, &[], "empty store");
    assert_eq!(s.hard_state().expect("hard_state"), HardState::default());
}

/// Rules 2 and 6: appends are readable.
pub fn append_and_read<S: LogStore<TestCommand>>(mut s: S) {
    let mut model = entries(1, 3, 1);
    s.append(&model).expect("append 1..=3");
    model.extend(entries(4, 10, 2));
    s.append(&model[3..]).expect("append 4..=10");
    s.append(&[]).expect("empty append");
    check_log(&s, &model, "after appends");
    assert_eq!(
        s.entries(4, 7, None).expect("entries"),
        model[3..6].to_vec(),
        "range read"
    );
    assert_eq!(
        s.entries(9, 100, None).expect("entries"),
        model[8..].to_vec(),
        "range clamped"
    );
}

/// Rule 2: holes, overlaps and term regressions are refused without change.
pub fn rejects_holes_and_overlaps<S: LogStore<TestCommand>>(mut s: S) {
    let model = entries(1, 5, 3);
    s.append(&model).expect("append");
    assert!(
        s.append(&entries(7, 8, 3)).is_err(),
        "rule 2: a hole must be refused"
    );
    assert!(
        s.append(&entries(5, 6, 3)).is_err(),
        "rule 2: an overlap must be refused"
    );
    assert!(
        s.append(&[entry(6, 3), entry(8, 3)]).is_err(),
        "rule 2: a gap inside a batch must be refused"
    );
    assert!(
        s.append(&entries(6, 6, 2)).is_err(),
        "rule 2: a term regression must be refused"
    );
    check_log(&s, &model, "after refused appends");
}

/// Rule 3 (and 4 across reopen).
pub fn truncate_after_removes_suffix<S: LogStore<TestCommand>>(
    mut s: S,
    reopen: &mut impl FnMut(S) -> S,
) {
    let mut model = entries(1, 10, 1);
    s.append(&model).expect("append");
    s.truncate_after(20).expect("truncate beyond end");
    check_log(&s, &model, "truncate beyond the end is a no-op");
    s.truncate_after(6).expect("truncate");
    model.truncate(6);
    check_log(&s, &model, "after truncate_after(6)");
    let mut s = reopen(s);
    check_log(&s, &model, "rule 4: truncation survives reopen");
    model.extend(entries(7, 9, 4));
    s.append(&model[6..]).expect("append after truncate");
    check_log(&s, &model, "append after truncate");
    s.truncate_after(0).expect("truncate all");
    check_log(&s, &[], "truncate_after(0) empties the log");
    let s = reopen(s);
    check_log(&s, &[], "empty after reopen");
}

/// Rules 4 and 5.
pub fn hard_state_roundtrip<S: LogStore<TestCommand>>(mut s: S, reopen: &mut impl FnMut(S) -> S) {
    let hs = HardState {
        term: 7,
        voted_for: Some(3),
    };
    s.save_hard_state(hs).expect("save");
    assert_eq!(s.hard_state().expect("load"), hs);
    let mut s = reopen(s);
    assert_eq!(
        s.hard_state().expect("load"),
        hs,
        "rule 4: hard state survives reopen"
    );
    let hs2 = HardState {
        term: 8,
        voted_for: None,
    };
    s.save_hard_state(hs2).expect("save");
    let s = reopen(s);
    assert_eq!(
        s.hard_state().expect("load"),
        hs2,
        "rule 5: the latest hard state wins"
    );
}

/// `entries` stops at `max_bytes` but always returns one entry.
pub fn entries_respects_max_bytes<S: LogStore<TestCommand>>(mut s: S) {
    s.append(&entries(1, 20, 1)).expect("append");
    let one = s.entries(1, 21, Some(1)).expect("entries");
    assert_eq!(
        one.len(),
        1,
        "at least one entry even when it exceeds max_bytes"
    );
    let some = s.entries(1, 21, Some(100)).expect("entries");
    assert!(
        !some.is_empty() && some.len() < 20,
        "max_bytes limits the batch ({} entries)",
        some.len()
    );
}

/// Purging a prefix moves `first_index`.
pub fn purge_prefix<S: LogStore<TestCommand>>(mut s: S, reopen: &mut impl FnMut(S) -> S) {
    s.append(&entries(1, 10, 1)).expect("append");
    s.purge_up_to(4).expect("purge");
    let mut s = reopen(s);
    let first = s.first_index();
    assert!(
        (1..=5).contains(&first),
        "first_index after purge_up_to(4) is {first}"
    );
    assert_eq!(s.last_index(), 10, "last_index after purge");
    if first > 1 {
        assert!(s.term(first - 1).is_err(), "rule 6: purged index");
    }
    assert_eq!(s.term(5).expect("term"), Some(1));
    assert_eq!(s.entries(5, 11, None).expect("entries"), entries(5, 10, 1));
    s.append(&entries(11, 12, 2)).expect("append after purge");
    assert_eq!(s.last_index(), 12);
}

/// Random appends, truncations, hard-state writes and reopens, compared
/// with a `Vec` model after every operation.
pub fn random_against_model<S: LogStore<TestCommand>>(
    mut s: S,
    reopen: &mut impl FnMut(S) -> S,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model: Vec<Entry<TestCommand>> = Vec::new();
    let mut hs = HardState::default();
    for step in 0..200 {
        let ctx = format!("random model seed={seed} step={step}");
        match rng.random_range(0..10) {
            0..=5 => {
                let last_term = model.last().map_or(1, |e| e.term);
                let term = last_term + rng.random_range(0..2);
                let n = rng.random_range(0..8);
                let lo = model.len() as Index + 1;
                let batch = entries(lo, lo + n - 1, term);
                if n == 0 {
                    s.append(&[]).expect("empty append");
                } else {
                    s.append(&batch).expect("append");
                }
                model.extend(batch);
            }
            6 | 7 => {
                let to = rng.random_range(0..=model.len() as Index + 2);
                s.truncate_after(to).expect("truncate");
                model.truncate(to as usize);
            }
            8 => {
                hs = HardState {
                    term: hs.term + 1,
                    voted_for: rng.random_bool(0.5).then_some(rng.random_range(1..6)),
                };
                s.save_hard_state(hs).expect("save");
            }
            _ => s = reopen(s),
        }
        check_log(&s, &model, &ctx);
        assert_eq!(s.hard_state().expect("hard_state"), hs, "{ctx}: hard state");
    }
}
