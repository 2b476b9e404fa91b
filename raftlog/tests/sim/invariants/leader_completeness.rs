//! Leader Completeness (Raft paper §5.4, Figure 3): if a log entry is
//! committed in a given term, that entry will be present in the logs of the
//! leaders for all higher-numbered terms.
//!
//! A commit is observed when some node's commit index covers it; the entry
//! was committed in a term no higher than that node's current term, so every
//! leader of a strictly higher term must hold it.

use std::collections::{BTreeMap, BTreeSet};

use raftlog::{EntryPayload, Index, NodeId, Raft, Role, Term};

use crate::sim::kv::Cmd;

#[derive(Default)]
pub struct LeaderCompleteness {
    /// index -> (entry term, payload, lowest term of a node that saw it committed).
    committed: BTreeMap<Index, (Term, EntryPayload<Cmd>, Term)>,
    /// Leaders already checked against everything committed so far.
    checked_leaders: BTreeSet<(NodeId, Term)>,
    /// Per node: commit index already folded into `committed`.
    seen_commit: BTreeMap<NodeId, Index>,
}

impl LeaderCompleteness {
    pub fn check(&mut self, nodes: &[&Raft<Cmd>]) -> Result<(), String> {
        let mut new: Vec<Index> = Vec::new();
        for r in nodes {
            let s = r.status();
            let seen = self.seen_commit.entry(s.id).or_insert(0);
            // Entries before the in-memory log are covered by a snapshot
            // (checked by the snapshot-state invariant).
            let from = (*seen).min(s.commit).max(s.first_index - 1);
            let log = r.log_entries();
            let lo = (from + 1 - s.first_index) as usize;
            let hi = (s.commit + 1 - s.first_index) as usize;
            for e in &log[lo.min(hi)..hi] {
                match self.committed.get_mut(&e.index) {
                    None => {
                        self.committed
                            .insert(e.index, (e.term, e.payload.clone(), s.term));
                        new.push(e.index);
                    }
                    Some((t, p, obs)) => {
                        if *t != e.term || *p != e.payload {
                            return Err(format!(
                                "commit safety (§5.4): node {} committed {}@{} {:?}, but {}@{t} {:?} was committed before",
                                s.id, e.index, e.term, e.payload, e.index, p
                            ));
                        }
                        if s.term < *obs {
                            *obs = s.term;
                            new.push(e.index);
                        }
                    }
                }
            }
            *seen = s.commit;
        }
        for r in nodes {
            let s = r.status();
            if s.role != Role::Leader {
                continue;
            }
            let to_check: Vec<Index> = if self.checked_leaders.insert((s.id, s.term)) {
                self.committed.keys().copied().collect()
            } else {
                new.clone()
            };
            for i in to_check {
                let (t, p, obs) = &self.committed[&i];
                if *obs >= s.term || i < s.first_index {
                    continue;
                }
                let has = r
                    .log_entries()
                    .get((i - s.first_index) as usize)
                    .is_some_and(|e| e.term == *t && e.payload == *p);
                if !has {
                    return Err(format!(
                        "leader completeness (§5.4): leader {} of term {} lacks committed entry {i}@{t} \
                         (seen committed in term {obs})",
                        s.id, s.term
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn forget(&mut self, node: NodeId) {
        self.seen_commit.remove(&node);
    }
}
