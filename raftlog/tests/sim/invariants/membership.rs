//! Membership safety (thesis §4.1): the configuration at an index is a
//! function of the log up to that index, so two nodes holding the same
//! entry (same index and term; log matching makes their logs equal up to
//! it) must agree on the configuration there; and a cluster never has fewer
//! than one voter.
//!
//! Checked at the points that move: every node's last entry, its commit
//! index and the start of its in-memory log (its snapshot base).

use std::collections::BTreeMap;

use raftlog::{ConfState, Index, NodeId, Raft, Term};

use crate::sim::kv::Cmd;

#[derive(Default)]
pub struct MembershipSafety {
    /// (index, term) -> the configuration a node reported there, and which node.
    seen: BTreeMap<(Index, Term), (ConfState, NodeId)>,
}

impl MembershipSafety {
    pub fn check(&mut self, r: &Raft<Cmd>) -> Result<(), String> {
        let s = r.status();
        let current = r.conf_state();
        if current.voters.is_empty() && !current.learners.is_empty() {
            return Err(format!(
                "membership: node {} has no voter left: {current:?}",
                s.id
            ));
        }
        if current.voters.iter().any(|v| current.learners.contains(v)) {
            return Err(format!(
                "membership: node {} has a node both voter and learner: {current:?}",
                s.id
            ));
        }
        for index in [s.first_index.saturating_sub(1), s.commit, s.last_index] {
            let (Some(term), Some(conf)) = (r.log_term(index), r.conf_state_at(index)) else {
                continue;
            };
            if index == 0 || conf.is_empty() {
                continue; // a joining node before its snapshot knows nothing yet
            }
            match self.seen.get(&(index, term)) {
                None => {
                    self.seen.insert((index, term), (conf, s.id));
                }
                Some((other, by)) => {
                    if *other != conf {
                        return Err(format!(
                            "membership: at {index}@{term} node {} has {conf:?} but node {by} had {other:?}",
                            s.id
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
