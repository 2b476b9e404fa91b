//! A seeded, lossy network: drops, delays, duplicates, reorders, and
//! symmetric or asymmetric partitions.

use std::collections::BTreeSet;

use raftlog::{Message, NodeId};
use rand::Rng;
use rand::rngs::StdRng;

use super::kv::Cmd;

/// Fault probabilities of the network.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    /// Probability that a message is lost.
    pub drop: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// Maximum delay in ticks (uniform in `0..=max_delay`).
    pub max_delay: u64,
}

impl Faults {
    pub const NONE: Faults = Faults {
        drop: 0.0,
        duplicate: 0.0,
        max_delay: 0,
    };
}

pub struct InFlight {
    pub deliver_at: u64,
    pub msg: Message<Cmd>,
}

#[derive(Default)]
pub struct Network {
    pub in_flight: Vec<InFlight>,
    /// Directed links that lose every message: (from, to).
    pub blocked: BTreeSet<(NodeId, NodeId)>,
}

impl Network {
    pub fn send(&mut self, msg: Message<Cmd>, now: u64, faults: Faults, rng: &mut StdRng) {
        if faults.drop > 0.0 && rng.random_bool(faults.drop) {
            return;
        }
        let copies = if faults.duplicate > 0.0 && rng.random_bool(faults.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = if faults.max_delay > 0 {
                rng.random_range(0..=faults.max_delay)
            } else {
                0
            };
            self.in_flight.push(InFlight {
                deliver_at: now + delay,
                msg: msg.clone(),
            });
        }
    }

    pub fn is_blocked(&self, from: NodeId, to: NodeId) -> bool {
        self.blocked.contains(&(from, to))
    }

    /// Cuts every link between the two groups, both ways.
    pub fn partition(&mut self, a: &[NodeId], b: &[NodeId]) {
        for &x in a {
            for &y in b {
                self.blocked.insert((x, y));
                self.blocked.insert((y, x));
            }
        }
    }

    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// Removes and returns a random message that is due, if any (random
    /// choice among due messages = reordering).
    pub fn take_due(&mut self, now: u64, rng: &mut StdRng) -> Option<Message<Cmd>> {
        let due: Vec<usize> = self
            .in_flight
            .iter()
            .enumerate()
            .filter(|(_, m)| m.deliver_at <= now)
            .map(|(i, _)| i)
            .collect();
        if due.is_empty() {
            return None;
        }
        let pick = due[rng.random_range(0..due.len())];
        Some(self.in_flight.swap_remove(pick).msg)
    }
}
