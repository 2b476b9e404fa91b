//! The replicated state machine used by the simulator: a tiny KV store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A put, identified by a unique id (also its value) so that the client can
/// recognise its own entry when it is applied.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cmd {
    /// Unique operation id.
    pub id: u64,
    /// Key (small alphabet, to make conflicts frequent).
    pub key: u8,
    /// Value written.
    pub value: u64,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "k{}={}", self.key, self.value)
    }
}

/// The state machine: key -> last written value.
#[derive(Clone, Debug, Default)]
pub struct Kv {
    pub map: BTreeMap<u8, u64>,
}

impl Kv {
    pub fn apply(&mut self, c: &Cmd) {
        self.map.insert(c.key, c.value);
    }

    pub fn get(&self, key: u8) -> Option<u64> {
        self.map.get(&key).copied()
    }
}
