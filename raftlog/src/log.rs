//! The core's in-memory view of the replicated log.
//!
//! The log may start after a snapshot: `offset` is the index of the last
//! entry dropped from memory (0 if none) and `offset_term` its term, so
//! `term(offset)` is still known (the AppendEntries consistency check needs
//! it for the first entry after it).
//!
//! Invariants (checked on restore, kept by every method):
//! - entry indexes are contiguous starting at `offset + 1`:
//!   `entries[i].index == offset + i + 1`;
//! - entry terms never decrease along the log (nor below `offset_term`);
//! - `offset <= applied <= commit <= last_index()`, and `commit` never decreases;
//! - `stable <= handed <= last_index()`: entries up to `stable` are known
//!   durable in the caller's log store; entries up to `handed` were given to
//!   the caller in a ready batch.

use crate::types::{Entry, Index, SnapshotMeta, Term};

/// The in-memory log of a node.
#[derive(Debug, Clone)]
pub(crate) struct RaftLog<C> {
    entries: Vec<Entry<C>>,
    /// Index of the last entry no longer held in memory (0 if none).
    pub(crate) offset: Index,
    /// Term of the entry at `offset` (0 if `offset == 0`).
    pub(crate) offset_term: Term,
    /// Last index known durable in the log store (and matching this log).
    pub(crate) stable: Index,
    /// Last index handed to the caller for persistence.
    pub(crate) handed: Index,
    /// Highest index known committed (§5.3).
    pub(crate) commit: Index,
    /// Last index handed to the application for applying.
    pub(crate) applied: Index,
}

impl<C: Clone> RaftLog<C> {
    /// A log restored from durable entries (all stable), following `snapshot`
    /// if there is one.
    pub(crate) fn restore(
        entries: Vec<Entry<C>>,
        applied: Index,
        snapshot: Option<&SnapshotMeta>,
    ) -> Result<Self, String> {
        let (offset, offset_term) = snapshot.map_or((0, 0), |s| (s.index, s.term));
        let mut prev_term = offset_term;
        for (i, e) in entries.iter().enumerate() {
            let expected = offset + i as Index + 1;
            if e.index != expected {
                return Err(format!(
                    "entry at position {i} has index {}, expected {expected}",
                    e.index
                ));
            }
            if e.term < prev_term {
                return Err(format!(
                    "entry {} has term {} below its predecessor's {prev_term}",
                    e.index, e.term
                ));
            }
            prev_term = e.term;
        }
        let last = offset + entries.len() as Index;
        if applied > last {
            return Err(format!(
                "applied index {applied} is beyond the last entry {last}"
            ));
        }
        if applied < offset {
            return Err(format!(
                "applied index {applied} is below the snapshot index {offset}: install the \
                 snapshot in the state machine before restarting the node"
            ));
        }
        Ok(RaftLog {
            entries,
            offset,
            offset_term,
            stable: last,
            handed: last,
            commit: applied,
            applied,
        })
    }

    pub(crate) fn last_index(&self) -> Index {
        self.offset + self.entries.len() as Index
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries.last().map_or(self.offset_term, |e| e.term)
    }

    /// The term of the entry at `index`; `Some(0)` for index 0, the
    /// snapshot's term at `offset`, `None` beyond the end or before `offset`.
    pub(crate) fn term(&self, index: Index) -> Option<Term> {
        if index == self.offset {
            return Some(self.offset_term);
        }
        if index == 0 {
            return Some(0);
        }
        self.entry(index).map(|e| e.term)
    }

    pub(crate) fn entry(&self, index: Index) -> Option<&Entry<C>> {
        let pos = usize::try_from(index.checked_sub(self.offset + 1)?).ok()?;
        self.entries.get(pos)
    }

    /// Entries with `lo <= index <= hi` (clamped to the log).
    pub(crate) fn slice(&self, lo: Index, hi: Index) -> &[Entry<C>] {
        let lo = lo.max(self.offset + 1);
        let hi = hi.min(self.last_index());
        if lo > hi {
            return &[];
        }
        &self.entries[(lo - self.offset - 1) as usize..(hi - self.offset) as usize]
    }

    pub(crate) fn all(&self) -> &[Entry<C>] {
        &self.entries
    }

    /// §5.4.1: is a log ending at (`last_index`, `last_term`) at least as
    /// up-to-date as ours? Compare last terms first, then lengths.
    pub(crate) fn is_up_to_date(&self, last_index: Index, last_term: Term) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// Leader append of one new entry.
    pub(crate) fn push(&mut self, term: Term, payload: crate::types::EntryPayload<C>) -> Index {
        let index = self.last_index() + 1;
        self.entries.push(Entry {
            index,
            term,
            payload,
        });
        index
    }

    /// Removes every entry after `index`. Never called below `commit`.
    pub(crate) fn truncate_after(&mut self, index: Index) {
        debug_assert!(index >= self.commit, "truncating committed entries");
        let keep = index.saturating_sub(self.offset) as usize;
        self.entries.truncate(keep);
        self.stable = self.stable.min(index);
        self.handed = self.handed.min(index);
    }

    /// Drops entries up to `index` from memory (they are covered by a
    /// snapshot). Only entries already durable and applied are dropped.
    pub(crate) fn compact_to(&mut self, index: Index) {
        let index = index.min(self.stable).min(self.applied);
        if index <= self.offset {
            return;
        }
        let Some(term) = self.term(index) else {
            return;
        };
        let drop = (index - self.offset) as usize;
        self.entries.drain(..drop);
        self.offset = index;
        self.offset_term = term;
    }

    /// A follower installs a snapshot (§7): if the log has the snapshot's
    /// last entry, the entries after it stay; otherwise the whole log goes.
    /// The log then starts after the snapshot, which is committed and applied.
    pub(crate) fn install(&mut self, meta: &SnapshotMeta) {
        if self.term(meta.index) == Some(meta.term) && meta.index >= self.offset {
            let drop = (meta.index - self.offset) as usize;
            self.entries.drain(..drop);
        } else {
            self.entries.clear();
            self.stable = self.stable.min(meta.index);
        }
        self.offset = meta.index;
        self.offset_term = meta.term;
        self.stable = self.stable.max(meta.index).min(self.last_index());
        self.handed = self.handed.max(meta.index).min(self.last_index());
        self.commit = self.commit.max(meta.index);
        self.applied = self.applied.max(meta.index);
    }

    /// The first index of the run of entries with term `term` that contains
    /// `index` (used for the fast-backtracking hint).
    pub(crate) fn first_index_of_term_at(&self, index: Index) -> Index {
        let Some(term) = self.term(index) else {
            return self.last_index() + 1;
        };
        let mut i = index;
        while i > self.offset + 1 && self.term(i - 1) == Some(term) {
            i -= 1;
        }
        i
    }

    /// The last index `<= from` whose term is `term`, if the log has one.
    pub(crate) fn last_index_of_term(&self, term: Term, from: Index) -> Option<Index> {
        let mut i = from.min(self.last_index());
        while i > 0 && i >= self.offset {
            match self.term(i) {
                Some(t) if t == term => return Some(i),
                Some(t) if t < term => return None,
                _ => i -= 1,
            }
        }
        None
    }

    /// Entries not yet handed out for persistence; marks them handed.
    pub(crate) fn take_unhanded(&mut self) -> Vec<Entry<C>> {
        let out = self.slice(self.handed + 1, self.last_index()).to_vec();
        self.handed = self.last_index();
        out
    }

    /// Committed entries not yet handed to the application; marks them handed.
    pub(crate) fn take_committed(&mut self) -> Vec<Entry<C>> {
        let out = self.slice(self.applied + 1, self.commit).to_vec();
        self.applied = self.applied.max(self.commit);
        out
    }

    pub(crate) fn commit_to(&mut self, index: Index) -> bool {
        let index = index.min(self.last_index());
        if index > self.commit {
            self.commit = index;
            true
        } else {
            false
        }
    }
}
