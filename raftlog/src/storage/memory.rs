//! An in-memory [`LogStore`]: every call is "durable" the moment it returns,
//! which is exactly what a simulated crash needs (the simulator drops what
//! the node had not yet handed to the store).

use serde::Serialize;

use super::{LogStore, check_contiguous};
use crate::error::StorageError;
use crate::types::{Entry, HardState, Index, SnapshotMeta, Term};

/// A log store in memory, for tests and simulation.
#[derive(Clone, Debug)]
pub struct MemLogStore<C> {
    hard_state: HardState,
    /// Index of `entries[0]`.
    first: Index,
    entries: Vec<Entry<C>>,
    /// Term of the entry just before `first` (0 if none).
    purged_term: Term,
    /// The latest snapshot saved.
    snapshot: Option<SnapshotMeta>,
}

impl<C> Default for MemLogStore<C> {
    fn default() -> Self {
        MemLogStore {
            hard_state: HardState::default(),
            first: 1,
            entries: Vec::new(),
            purged_term: 0,
            snapshot: None,
        }
    }
}

impl<C> MemLogStore<C> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<C: Clone + Serialize> LogStore<C> for MemLogStore<C> {
    fn hard_state(&self) -> Result<HardState, StorageError> {
        Ok(self.hard_state)
    }

    fn save_hard_state(&mut self, hs: HardState) -> Result<(), StorageError> {
        self.hard_state = hs;
        Ok(())
    }

    fn append(&mut self, entries: &[Entry<C>]) -> Result<(), StorageError> {
        let last_term = self.entries.last().map_or(self.purged_term, |e| e.term);
        check_contiguous(self.last_index(), last_term, entries)?;
        self.entries.extend_from_slice(entries);
        Ok(())
    }

    fn truncate_after(&mut self, index: Index) -> Result<(), StorageError> {
        if index < self.first.saturating_sub(1) {
            return Err(StorageError::Compacted(index));
        }
        let keep = (index + 1 - self.first) as usize;
        self.entries.truncate(keep);
        Ok(())
    }

    fn purge_up_to(&mut self, index: Index) -> Result<(), StorageError> {
        if index < self.first {
            return Ok(());
        }
        let index = index.min(self.last_index());
        let drop = (index + 1 - self.first) as usize;
        if let Some(e) = self.entries.get(drop.wrapping_sub(1)) {
            self.purged_term = e.term;
        }
        self.entries.drain(..drop);
        self.first = index + 1;
        Ok(())
    }

    fn first_index(&self) -> Index {
        self.first
    }

    fn last_index(&self) -> Index {
        self.first + self.entries.len() as Index - 1
    }

    fn term(&self, index: Index) -> Result<Option<Term>, StorageError> {
        if index == 0 {
            return Ok(Some(0));
        }
        if index < self.first {
            if let Some(s) = &self.snapshot
                && s.index == index
            {
                return Ok(Some(s.term));
            }
            return Err(StorageError::Compacted(index));
        }
        Ok(self
            .entries
            .get((index - self.first) as usize)
            .map(|e| e.term))
    }

    fn entries(
        &self,
        lo: Index,
        hi: Index,
        max_bytes: Option<u64>,
    ) -> Result<Vec<Entry<C>>, StorageError> {
        if lo < self.first {
            return Err(StorageError::Compacted(lo));
        }
        let hi = hi.min(self.last_index() + 1);
        let mut out = Vec::new();
        let mut size = 0u64;
        for i in lo..hi {
            let e = &self.entries[(i - self.first) as usize];
            if let Some(max) = max_bytes {
                size += postcard::to_allocvec(e)?.len() as u64;
                if size > max && !out.is_empty() {
                    break;
                }
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    fn save_snapshot(&mut self, meta: &SnapshotMeta) -> Result<(), StorageError> {
        if let Some(cur) = &self.snapshot
            && meta.index < cur.index
        {
            return Err(StorageError::SnapshotRegression {
                index: meta.index,
                current: cur.index,
            });
        }
        let matches = self.term(meta.index).ok().flatten() == Some(meta.term);
        if !matches {
            self.entries.clear();
            self.first = meta.index + 1;
            self.purged_term = meta.term;
        }
        self.snapshot = Some(meta.clone());
        Ok(())
    }

    fn snapshot(&self) -> Result<Option<SnapshotMeta>, StorageError> {
        Ok(self.snapshot.clone())
    }
}
