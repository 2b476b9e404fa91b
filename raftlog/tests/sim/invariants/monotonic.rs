//! Monotonic indexes: within one incarnation of a node, the commit index and
//! the applied index never decrease, entries are applied in index order with
//! no gaps (Raft paper §5.3, Figure 2 "lastApplied"), and
//! `applied <= commit <= last index`.

use std::collections::BTreeMap;

use raftlog::{Index, NodeId, Raft};

use crate::sim::kv::Cmd;

#[derive(Default)]
pub struct Monotonic {
    /// Per node: (last seen commit, last applied index).
    seen: BTreeMap<NodeId, (Index, Index)>,
}

impl Monotonic {
    pub fn on_restart(&mut self, node: NodeId) {
        self.seen.remove(&node);
    }

    /// A snapshot replaced the state machine: applying continues after `index`.
    pub fn on_install(&mut self, node: NodeId, index: Index) -> Result<(), String> {
        let e = self.seen.entry(node).or_insert((0, 0));
        if index < e.1 {
            return Err(format!(
                "monotonic: node {node} installed snapshot {index} after applying {}",
                e.1
            ));
        }
        e.1 = index;
        Ok(())
    }

    pub fn on_apply(&mut self, node: NodeId, index: Index) -> Result<(), String> {
        let e = self.seen.entry(node).or_insert((0, 0));
        if index != e.1 + 1 {
            return Err(format!(
                "monotonic: node {node} applied index {index} right after {}",
                e.1
            ));
        }
        e.1 = index;
        Ok(())
    }

    pub fn check(&mut self, r: &Raft<Cmd>) -> Result<(), String> {
        let s = r.status();
        let e = self.seen.entry(s.id).or_insert((0, 0));
        if s.commit < e.0 {
            return Err(format!(
                "monotonic: node {} commit index went from {} to {}",
                s.id, e.0, s.commit
            ));
        }
        e.0 = s.commit;
        if s.applied > s.commit || s.commit > s.last_index {
            return Err(format!(
                "monotonic: node {} has applied {} commit {} last {}",
                s.id, s.applied, s.commit, s.last_index
            ));
        }
        Ok(())
    }
}
