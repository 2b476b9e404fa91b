//! The core's in-memory view of the replicated log.
//!
//! Invariants (checked on restore, kept by every method):
//! - entry indexes are contiguous starting at 1: `entries[i].index == i + 1`;
//! - entry terms never decrease along the log;
//! - `applied <= commit <= last_index()`, and `commit` never decreases;
//! - `stable <= handed <= last_index()`: entries up to `stable` are known
//!   durable in the caller's log store; entries up to `handed` were given to
//!   the caller in a ready batch.

use crate::types::{Entry, Index, Term};

/// The in-memory log of a node.
#[derive(Debug, Clone)]
pub(crate) struct RaftLog<C> {
    entries: Vec<Entry<C>>,
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
    /// A log restored from durable entries (all stable).
    pub(crate) fn restore(entries: Vec<Entry<C>>, applied: Index) -> Result<Self, String> {
        let mut prev_term = 0;
        for (i, e) in entries.iter().enumerate() {
            if e.index != i as Index + 1 {
                return Err(format!(
                    "entry at position {i} has index {}, expected {}",
                    e.index,
                    i + 1
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
        let last = entries.len() as Index;
        if applied > last {
            return Err(format!(
                "applied index {applied} is beyond the last entry {last}"
            ));
        }
        Ok(RaftLog {
            entries,
            stable: last,
            handed: last,
            commit: applied,
            applied,
        })
    }

    pub(crate) fn last_index(&self) -> Index {
        self.entries.len() as Index
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries.last().map_or(0, |e| e.term)
    }

    /// The term of the entry at `index`; `Some(0)` for index 0, `None` beyond the end.
    pub(crate) fn term(&self, index: Index) -> Option<Term> {
        if index == 0 {
            return Some(0);
        }
        self.entry(index).map(|e| e.term)
    }

    pub(crate) fn entry(&self, index: Index) -> Option<&Entry<C>> {
        let pos = usize::try_from(index.checked_sub(1)?).ok()?;
        self.entries.get(pos)
    }

    /// Entries with `lo <= index <= hi` (clamped to the log).
    pub(crate) fn slice(&self, lo: Index, hi: Index) -> &[Entry<C>] {
        let lo = lo.max(1);
        let hi = hi.min(self.last_index());
        if lo > hi {
            return &[];
        }
        &self.entries[(lo - 1) as usize..hi as usize]
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
        self.entries.truncate(index as usize);
        self.stable = self.stable.min(index);
        self.handed = self.handed.min(index);
    }

    /// The first index of the run of entries with term `term` that contains
    /// `index` (used for the fast-backtracking hint).
    pub(crate) fn first_index_of_term_at(&self, index: Index) -> Index {
        let Some(term) = self.term(index) else {
            return self.last_index() + 1;
        };
        let mut i = index;
        while i > 1 && self.term(i - 1) == Some(term) {
            i -= 1;
        }
        i
    }

    /// The last index `<= from` whose term is `term`, if the log has one.
    pub(crate) fn last_index_of_term(&self, term: Term, from: Index) -> Option<Index> {
        let mut i = from.min(self.last_index());
        while i > 0 {
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
