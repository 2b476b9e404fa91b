//! Durable storage of the log and the hard state.
//!
//! The core never touches storage: the caller persists each [`crate::Ready`]
//! through a [`LogStore`] and restores a node from one after a restart.

pub mod conformance;
mod memory;
pub mod segment;

pub use memory::MemLogStore;
pub use segment::{DEFAULT_PREALLOCATE_BYTES, SegmentLogOptions, SegmentLogStore};

use crate::error::StorageError;
use crate::raft::RestoredState;
use crate::ready::Ready;
use crate::types::{Entry, HardState, Index, SnapshotMeta, Term};

/// Durable storage for a node's log and hard state.
///
/// # Correctness rules (every implementation must keep them; the
/// [`conformance`] suite checks them)
///
/// 1. **No holes.** The stored entries are exactly the indexes
///    `first_index()..=last_index()`, each present once. An empty store has
///    `last_index() == first_index() - 1` (initially `first_index() == 1`,
///    `last_index() == 0`).
/// 2. **Contiguous appends.** `append(entries)` requires
///    `entries[0].index == last_index() + 1`, consecutive indexes, and terms
///    that never decrease (also relative to the current last entry);
///    otherwise it returns an error and changes nothing.
/// 3. **Truncation removes everything after.** `truncate_after(i)` removes
///    every entry with index `> i` (a no-op if `i >= last_index()`); later
///    reads never see them again, even after a crash and reopen.
/// 4. **Durable before return.** When `append`, `truncate_after`,
///    `purge_up_to` or `save_hard_state` return `Ok`, the change survives a
///    crash. A batch given to one `append` call is made durable by a single
///    sync (all of it or, after a crash during the call, a prefix of it).
/// 5. **Hard state is atomic.** `save_hard_state` replaces term and vote
///    together; a crash never exposes a mix of old and new.
/// 6. **Reads reflect writes.** `term(i)` is `Some(0)` for `i == 0`, the
///    entry's term for a stored index, `None` beyond `last_index()`, and an
///    error ([`StorageError::Compacted`]) below `first_index()` (except 0
///    and the snapshot's index, whose term is the snapshot's).
/// 7. **Snapshots** (for stores that support them): `save_snapshot(meta)`
///    durably records `meta` (atomically, like the hard state) and returns it
///    from `snapshot()` ever after, until a newer one replaces it. If the
///    store holds the entry `meta.index` with term `meta.term`, the entries
///    after it stay (and those up to it may stay until `purge_up_to`);
///    otherwise every entry is removed and the log continues at
///    `meta.index + 1`: `first_index() == meta.index + 1`,
///    `last_index() == meta.index`, and the next append must start there
///    with terms not below `meta.term`. A crash in the middle leaves either
///    the old state or the new one, never a log inconsistent with the
///    recorded snapshot. A snapshot older than the stored one is refused.
///    `truncate_after(meta.index)` is allowed (it removes every entry).
pub trait LogStore<C> {
    /// The last saved hard state (`HardState::default()` if none).
    fn hard_state(&self) -> Result<HardState, StorageError>;
    /// Durably replaces the hard state.
    fn save_hard_state(&mut self, hs: HardState) -> Result<(), StorageError>;
    /// Durably appends a contiguous batch with one sync.
    fn append(&mut self, entries: &[Entry<C>]) -> Result<(), StorageError>;
    /// Durably removes every entry after `index`.
    fn truncate_after(&mut self, index: Index) -> Result<(), StorageError>;
    /// Durably drops entries up to `index` once a snapshot covers them.
    /// Implementations may keep some of them (e.g. drop whole segments only):
    /// afterwards `first_index() <= index + 1` and every entry after `index`
    /// is still there.
    fn purge_up_to(&mut self, index: Index) -> Result<(), StorageError>;
    /// Index of the first stored entry (1 unless purged).
    fn first_index(&self) -> Index;
    /// Index of the last stored entry (0 if the log was always empty).
    fn last_index(&self) -> Index;
    /// Term of the entry at `index` (see rule 6).
    fn term(&self, index: Index) -> Result<Option<Term>, StorageError>;
    /// Entries with `lo <= index < hi`, stopping early once their encoded
    /// size exceeds `max_bytes` (at least one entry is returned if the range
    /// is not empty). `hi` is clamped to `last_index() + 1`.
    fn entries(
        &self,
        lo: Index,
        hi: Index,
        max_bytes: Option<u64>,
    ) -> Result<Vec<Entry<C>>, StorageError>;
    /// Durably records a snapshot's metadata and reconciles the log with it
    /// (rule 7). The default refuses: the store keeps no snapshots.
    fn save_snapshot(&mut self, meta: &SnapshotMeta) -> Result<(), StorageError> {
        let _ = meta;
        Err(StorageError::SnapshotsUnsupported)
    }
    /// The latest snapshot recorded with `save_snapshot`, if any. The
    /// default (a store without snapshots) has none.
    fn snapshot(&self) -> Result<Option<SnapshotMeta>, StorageError> {
        Ok(None)
    }
}

/// Persists the durable part of a ready batch in the required order: hard
/// state first (so a stored entry never has a term above the stored term),
/// then the snapshot metadata of an installed snapshot
/// ([`Ready::snapshot`]: the application must have made the snapshot's bytes
/// durable before), then the entries, truncating a conflicting suffix first.
pub fn persist_ready<C, S: LogStore<C> + ?Sized>(
    store: &mut S,
    ready: &Ready<C>,
) -> Result<(), StorageError> {
    if let Some(hs) = ready.hard_state {
        store.save_hard_state(hs)?;
    }
    if let Some(meta) = &ready.snapshot {
        store.save_snapshot(meta)?;
    }
    if let Some(first) = ready.entries.first() {
        if first.index <= store.last_index() {
            store.truncate_after(first.index.saturating_sub(1))?;
        }
        store.append(&ready.entries)?;
    }
    Ok(())
}

/// Reads back what [`crate::Raft::new`] needs to restart a node: the hard
/// state, the latest snapshot's metadata, and the entries after the snapshot
/// (entries the store still keeps at or before its index are skipped).
///
/// A store whose prefix was purged is accepted only if a snapshot covers the
/// purged part (`first_index() <= snapshot.index + 1`); otherwise the
/// missing entries are reported as [`StorageError::Compacted`].
pub fn restore<C, S: LogStore<C> + ?Sized>(store: &S) -> Result<RestoredState<C>, StorageError> {
    let first = store.first_index();
    let snapshot = store.snapshot()?;
    let after = snapshot.as_ref().map_or(0, |s| s.index);
    if first > after + 1 {
        return Err(StorageError::Compacted(first - 1));
    }
    if let Some(s) = &snapshot
        && first <= s.index
        && store.term(s.index)? != Some(s.term)
    {
        return Err(StorageError::Other(format!(
            "the stored log does not match its snapshot {}@{}",
            s.index, s.term
        )));
    }
    Ok(RestoredState {
        hard_state: store.hard_state()?,
        entries: store.entries(after + 1, store.last_index() + 1, None)?,
        snapshot,
    })
}

/// Checks rule 2 for a batch about to be appended after `last` (with term `last_term`).
pub(crate) fn check_contiguous<C>(
    last: Index,
    last_term: Term,
    entries: &[Entry<C>],
) -> Result<(), StorageError> {
    let mut prev_term = last_term;
    for (expected, e) in (last + 1..).zip(entries) {
        if e.index != expected {
            return Err(StorageError::NonContiguous {
                expected,
                got: e.index,
            });
        }
        if e.term < prev_term {
            return Err(StorageError::TermRegression {
                index: e.index,
                term: e.term,
                prev_term,
            });
        }
        prev_term = e.term;
    }
    Ok(())
}
