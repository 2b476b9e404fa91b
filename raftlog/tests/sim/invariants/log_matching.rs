//! Log Matching (Raft paper §5.3, Figure 3): if two logs contain an entry
//! with the same index and term, the logs are identical in all entries up
//! through that index.
//!
//! Checked inductively: every (index, term) ever stored anywhere must always
//! carry the same payload and follow an entry with the same term. Two logs
//! agreeing at (i, t) then agree at i - 1 (same term there, hence, by
//! induction, identical up to i - 1).

use std::collections::BTreeMap;

use raftlog::{Entry, EntryPayload, Index, LogStore, NodeId, Raft, Term};

use crate::sim::kv::Cmd;

#[derive(Default)]
pub struct LogMatching {
    /// (index, term) -> (payload, term of index - 1).
    seen: BTreeMap<(Index, Term), (EntryPayload<Cmd>, Term)>,
    /// Per node: length of the in-memory log prefix already checked, and the
    /// term of its last entry (to notice truncations).
    checked: BTreeMap<NodeId, (Index, Term)>,
}

impl LogMatching {
    fn record(&mut self, node: NodeId, e: &Entry<Cmd>, prev_term: Term) -> Result<(), String> {
        match self.seen.get(&(e.index, e.term)) {
            None => {
                self.seen
                    .insert((e.index, e.term), (e.payload.clone(), prev_term));
                Ok(())
            }
            Some((payload, pt)) if *payload == e.payload && *pt == prev_term => Ok(()),
            Some((payload, pt)) => Err(format!(
                "log matching (§5.3): node {node} has {}@{} = {:?} after term {prev_term}, \
                 another log had {:?} after term {pt}",
                e.index, e.term, e.payload, payload
            )),
        }
    }

    /// Checks entries a node just wrote to its store.
    pub fn on_persisted(
        &mut self,
        node: NodeId,
        store: &dyn LogStore<Cmd>,
        entries: &[Entry<Cmd>],
    ) -> Result<(), String> {
        for e in entries {
            let prev_term = store
                .term(e.index - 1)
                .map_err(|err| err.to_string())?
                .unwrap_or(0);
            self.record(node, e, prev_term)?;
        }
        Ok(())
    }

    /// Checks the part of a node's in-memory log not checked before.
    pub fn check_in_memory(&mut self, r: &Raft<Cmd>) -> Result<(), String> {
        let log = r.log_entries();
        let first = r.status().first_index;
        let last = r.status().last_index;
        let (mut from, last_term) = self.checked.get(&r.id()).copied().unwrap_or((0, 0));
        // If the log was truncated, rewritten or compacted past the checked
        // prefix, re-check from its commit index (committed entries never
        // change; the monotonic and state machine checks cover them).
        let intact = from <= last && (from == 0 || r.log_term(from) == Some(last_term));
        if !intact {
            from = r.status().commit.min(last);
        }
        let from = from.max(first - 1);
        for e in &log[(from + 1 - first) as usize..] {
            let prev_term = r
                .log_term(e.index - 1)
                .ok_or_else(|| format!("node {}: no term for {}", r.id(), e.index - 1))?;
            self.record(r.id(), e, prev_term)?;
        }
        let last_term = r.log_term(last).unwrap_or(0);
        self.checked.insert(r.id(), (last, last_term));
        Ok(())
    }

    pub fn forget(&mut self, node: NodeId) {
        self.checked.remove(&node);
    }
}
