//! The Raft safety properties (Figure 3 of the Raft paper), one file each,
//! checked by the simulator after every step. A violation is returned as a
//! message; the simulator prints it with the seed and fails.

mod durability;
mod election_safety;
mod leader_completeness;
mod log_matching;
mod membership;
mod monotonic;
mod snapshot_state;
mod state_machine_safety;

use raftlog::{Entry, Index, LogStore, NodeId, Raft};

use super::kv::{Cmd, Kv};

pub use election_safety::ElectionSafety;
pub use leader_completeness::LeaderCompleteness;
pub use log_matching::LogMatching;
pub use membership::MembershipSafety;
pub use monotonic::Monotonic;
pub use snapshot_state::SnapshotState;
pub use state_machine_safety::StateMachineSafety;

#[derive(Default)]
pub struct Invariants {
    pub election_safety: ElectionSafety,
    pub log_matching: LogMatching,
    pub leader_completeness: LeaderCompleteness,
    pub state_machine_safety: StateMachineSafety,
    pub monotonic: Monotonic,
    pub snapshot_state: SnapshotState,
    pub membership: MembershipSafety,
}

impl Invariants {
    /// After a node persisted `entries` to `store` (log matching is checked
    /// incrementally on what each node writes).
    pub fn on_persisted(
        &mut self,
        node: NodeId,
        store: &dyn LogStore<Cmd>,
        entries: &[Entry<Cmd>],
    ) -> Result<(), String> {
        self.log_matching.on_persisted(node, store, entries)
    }

    /// After a node applied `entry` to its state machine.
    pub fn on_apply(&mut self, node: NodeId, entry: &Entry<Cmd>) -> Result<(), String> {
        self.state_machine_safety.on_apply(node, entry)?;
        self.monotonic.on_apply(node, entry.index)
    }

    /// A node's state machine is now `kv`, right after applying `index`.
    pub fn on_applied_state(&mut self, node: NodeId, index: Index, kv: &Kv) -> Result<(), String> {
        self.snapshot_state.on_state(node, index, kv)
    }

    /// A node's state machine was replaced by a snapshot image at `index`
    /// (installed from a leader, or rebuilt at a restart).
    pub fn on_install(&mut self, node: NodeId, index: Index, kv: &Kv) -> Result<(), String> {
        self.snapshot_state.on_install(node, index, kv)?;
        self.monotonic.on_install(node, index)
    }

    /// A node restarted: its volatile indexes start again from zero.
    pub fn on_restart(&mut self, node: NodeId) {
        self.monotonic.on_restart(node);
    }

    /// A live node's durability: its stable index is in its store, and its
    /// state machine is not ahead of it.
    pub fn check_durable(
        r: &Raft<Cmd>,
        store: &dyn LogStore<Cmd>,
        applied: Index,
    ) -> Result<(), String> {
        durability::check(r, store, applied)
    }

    /// The whole-cluster checks, run after every step.
    pub fn check(&mut self, nodes: &[&Raft<Cmd>]) -> Result<(), String> {
        for r in nodes {
            self.election_safety.check(r)?;
            self.monotonic.check(r)?;
            // The in-memory log (including not-yet-persisted entries) also
            // obeys log matching.
            self.log_matching.check_in_memory(r)?;
            self.membership.check(r)?;
        }
        self.leader_completeness.check(nodes)
    }
}
