//! Election Safety (Raft paper §5.2, Figure 3): at most one leader can be
//! elected in a given term.

use std::collections::BTreeMap;

use raftlog::{NodeId, Raft, Role, Term};

use crate::sim::kv::Cmd;

#[derive(Default)]
pub struct ElectionSafety {
    /// Every leader ever observed, by term.
    leaders: BTreeMap<Term, NodeId>,
}

impl ElectionSafety {
    pub fn check(&mut self, r: &Raft<Cmd>) -> Result<(), String> {
        let s = r.status();
        if s.role != Role::Leader {
            return Ok(());
        }
        match self.leaders.insert(s.term, s.id) {
            Some(other) if other != s.id => Err(format!(
                "election safety (§5.2): nodes {other} and {} both leaders of term {}",
                s.id, s.term
            )),
            _ => Ok(()),
        }
    }

    pub fn leaders(&self) -> &BTreeMap<Term, NodeId> {
        &self.leaders
    }
}
