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

/// The state machine: key -> last written value, plus a digest of every
/// entry applied so far (index, term and command), so that two states are
/// equal only if they applied the same sequence.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kv {
    pub map: BTreeMap<u8, u64>,
    pub digest: u64,
}

impl Kv {
    pub fn apply(&mut self, c: &Cmd) {
        self.map.insert(c.key, c.value);
    }

    /// Applies one committed entry (a no-op only moves the digest).
    pub fn apply_entry(&mut self, e: &raftlog::Entry<Cmd>) {
        let (id, key, value) = match &e.payload {
            raftlog::EntryPayload::Command(c) => {
                self.apply(c);
                (c.id, u64::from(c.key), c.value)
            }
            raftlog::EntryPayload::Noop => (0, 0, 0),
            raftlog::EntryPayload::ConfChange(cc) => (0, cc.node, cc.kind as u64 + 1),
        };
        for x in [e.index, e.term, id, key, value] {
            self.digest = mix(self.digest ^ x);
        }
    }

    /// The snapshot image of this state.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("encode kv")
    }

    pub fn decode(bytes: &[u8]) -> Result<Kv, String> {
        postcard::from_bytes(bytes).map_err(|e| format!("snapshot image does not decode: {e}"))
    }

    pub fn get(&self, key: u8) -> Option<u64> {
        self.map.get(&key).copied()
    }
}

/// splitmix64's finalizer: a cheap, well-mixing hash step.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
