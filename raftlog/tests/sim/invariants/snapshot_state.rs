//! Snapshot state (Raft paper §7): a snapshot at index `i` holds exactly the
//! state machine state after applying entries `1..=i`. Every node's state
//! after applying `i` (by entries or from an image) is recorded; an image
//! installed from a leader or restored after a restart must equal it — same
//! keys and values, same digest of the applied sequence.

use std::collections::BTreeMap;

use raftlog::{Index, NodeId};

use crate::sim::kv::Kv;

#[derive(Default)]
pub struct SnapshotState {
    /// index -> (first node seen there, its state after applying index).
    states: BTreeMap<Index, (NodeId, Kv)>,
}

impl SnapshotState {
    pub fn on_state(&mut self, node: NodeId, index: Index, kv: &Kv) -> Result<(), String> {
        match self.states.get(&index) {
            None => {
                self.states.insert(index, (node, kv.clone()));
                Ok(())
            }
            Some((_, k)) if k == kv => Ok(()),
            Some((other, k)) => Err(format!(
                "state machine safety: node {node} has state {kv:?} after index {index}, \
                 node {other} had {k:?}"
            )),
        }
    }

    pub fn on_install(&mut self, node: NodeId, index: Index, kv: &Kv) -> Result<(), String> {
        match self.states.get(&index) {
            None => Err(format!(
                "snapshot state: node {node} installed an image at {index} that no node's \
                 state machine ever had"
            )),
            Some((_, k)) if k == kv => Ok(()),
            Some((other, k)) => Err(format!(
                "snapshot state (§7): node {node} installed {kv:?} at index {index}, but node \
                 {other}'s state there was {k:?}"
            )),
        }
    }
}
