//! State Machine Safety (Raft paper §5.4.3, Figure 3): if a server has
//! applied a log entry at a given index to its state machine, no other
//! server will ever apply a different log entry for the same index.

use std::collections::BTreeMap;

use raftlog::{Entry, Index, NodeId};

use crate::sim::kv::Cmd;

#[derive(Default)]
pub struct StateMachineSafety {
    applied: BTreeMap<Index, (NodeId, Entry<Cmd>)>,
}

impl StateMachineSafety {
    pub fn on_apply(&mut self, node: NodeId, entry: &Entry<Cmd>) -> Result<(), String> {
        match self.applied.get(&entry.index) {
            None => {
                self.applied.insert(entry.index, (node, entry.clone()));
                Ok(())
            }
            Some((_, e)) if e == entry => Ok(()),
            Some((other, e)) => Err(format!(
                "state machine safety (§5.4.3): node {node} applied {entry} at index {}, node {other} applied {e}",
                entry.index
            )),
        }
    }
}
