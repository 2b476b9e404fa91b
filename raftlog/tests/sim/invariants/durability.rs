//! Durability (thesis §10.2.1 and the crate docs, "Asynchronous log
//! writes"): what the core counts as durable is in the log store, and the
//! state machine runs only on durable entries.
//!
//! - A node's `Status::stable` never exceeds what its store durably holds:
//!   the store has the entry at `stable` with the term the in-memory log
//!   has there (so, by log matching, the whole prefix). A leader counts its
//!   own entries toward commitment up to `stable`, so a violation could
//!   commit an entry on a quorum that, after a crash, does not hold it.
//! - The applied index never exceeds `stable`: otherwise a crash could
//!   leave a state machine (or a snapshot taken of it) ahead of its log.

use raftlog::{Index, LogStore, Raft};

use crate::sim::kv::Cmd;

pub fn check(r: &Raft<Cmd>, store: &dyn LogStore<Cmd>, applied: Index) -> Result<(), String> {
    let s = r.status();
    if s.stable > 0 {
        let memory = r.log_term(s.stable);
        let stored = store
            .term(s.stable)
            .map_err(|e| format!("durability: node {}: store term({}): {e}", s.id, s.stable))?;
        if memory.is_none() || stored != memory {
            return Err(format!(
                "durability: node {} counts index {} as durable (term {memory:?} in memory), \
                 but its store holds term {stored:?} there (store last index {})",
                s.id,
                s.stable,
                store.last_index()
            ));
        }
    }
    if applied > s.stable {
        return Err(format!(
            "durability: node {} applied index {applied} beyond its durable index {}",
            s.id, s.stable
        ));
    }
    Ok(())
}
