//! Simulated clients: each runs one operation at a time (a put through the
//! log or a ReadIndex get), retrying through other nodes while the outcome
//! is "no effect", and records a history for the linearizability checker.

use std::collections::BTreeMap;

use raftlog::{Index, NodeId, ProposeError, Proposed, Term};
use rand::Rng;

use super::cluster::{Cluster, Event, SimResult};
use super::kv::Cmd;
use super::linearizability::{Op, OpKind};

/// Give up waiting after this many ticks; a put's outcome is then unknown.
pub const OP_TIMEOUT_TICKS: u64 = 60;
pub const KEYS: u8 = 3;

#[derive(Clone, Debug)]
enum Waiting {
    /// Not submitted yet (or must be resubmitted): no effect so far.
    Submit,
    Put(Proposed),
    Get {
        node: NodeId,
    },
}

#[derive(Clone, Debug)]
struct Current {
    /// Index into `history`.
    op: usize,
    id: u64,
    key: u8,
    is_put: bool,
    started: u64,
    target: NodeId,
    waiting: Waiting,
}

pub struct Clients {
    clients: Vec<Option<Current>>,
    pub history: Vec<Op>,
    /// Logical clock ordering invocations and responses.
    clock: u64,
    next_id: u64,
    /// Probability that an idle client starts an operation on a tick.
    pub rate: f64,
    pub completed: u64,
    pub indeterminate: u64,
    /// After healing, operations must complete: no giving up.
    pub no_timeouts: bool,
    /// Every (index, term) seen committed (applied, or a snapshot's last
    /// entry), to rule out at once a put proposed where it can no longer
    /// commit (no later event may come to tell, once nothing is proposed).
    committed: BTreeMap<Index, Term>,
}

impl Clients {
    pub fn new(n: usize) -> Self {
        Clients {
            clients: vec![None; n],
            history: Vec::new(),
            clock: 0,
            next_id: 1,
            rate: 0.3,
            completed: 0,
            indeterminate: 0,
            no_timeouts: false,
            committed: BTreeMap::new(),
        }
    }

    fn tick_clock(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    pub fn busy(&self) -> usize {
        self.clients.iter().filter(|c| c.is_some()).count()
    }

    /// One tick of client activity: start, submit, resubmit, time out.
    pub fn step(&mut self, cluster: &mut Cluster, start_new: bool) -> SimResult {
        for c in 0..self.clients.len() {
            if self.clients[c].is_none() && start_new && cluster.rng.random_bool(self.rate) {
                let is_put = cluster.rng.random_bool(0.5);
                let key = cluster.rng.random_range(0..KEYS);
                let id = self.next_id;
                self.next_id += 1;
                let invoke = self.tick_clock();
                self.history.push(Op {
                    id,
                    key,
                    kind: if is_put {
                        OpKind::Put(id)
                    } else {
                        OpKind::Get(None)
                    },
                    invoke,
                    ret: None,
                });
                let target = cluster.ids[cluster.rng.random_range(0..cluster.ids.len())];
                self.clients[c] = Some(Current {
                    op: self.history.len() - 1,
                    id,
                    key,
                    is_put,
                    started: cluster.now,
                    target,
                    waiting: Waiting::Submit,
                });
            }
            let Some(cur) = self.clients[c].clone() else {
                continue;
            };
            if !self.no_timeouts && cluster.now - cur.started > OP_TIMEOUT_TICKS {
                self.give_up(c);
                continue;
            }
            if let Waiting::Submit = cur.waiting {
                self.submit(c, cluster)?;
            }
        }
        Ok(())
    }

    fn submit(&mut self, c: usize, cluster: &mut Cluster) -> SimResult {
        let Some(cur) = self.clients[c].as_mut() else {
            return Ok(());
        };
        let res = if cur.is_put {
            cluster
                .propose(
                    cur.target,
                    Cmd {
                        id: cur.id,
                        key: cur.key,
                        value: cur.id,
                    },
                )?
                .map(Waiting::Put)
        } else {
            cluster
                .read(cur.target, cur.id, cur.key)?
                .map(|()| Waiting::Get { node: cur.target })
        };
        let Some(cur) = self.clients[c].as_mut() else {
            return Ok(());
        };
        match res {
            // Something was committed at or after our index before we
            // proposed (so that index holds another entry), or an entry of a
            // higher term at or before it (terms never decrease along a log):
            // ours can never commit; no later event may say so.
            Ok(Waiting::Put(p))
                if self.committed.range(p.index..).next().is_some()
                    || self
                        .committed
                        .range(..p.index)
                        .next_back()
                        .is_some_and(|(_, &t)| t > p.term) =>
            {
                cur.target = cluster.ids[cluster.rng.random_range(0..cluster.ids.len())];
            }
            Ok(w) => cur.waiting = w,
            // No effect: retry next tick at the hinted leader or another node.
            Err(ProposeError::NotLeader {
                leader_hint: Some(l),
            }) if l != cur.target => cur.target = l,
            Err(_) => cur.target = cluster.ids[cluster.rng.random_range(0..cluster.ids.len())],
        }
        Ok(())
    }

    fn complete(&mut self, c: usize, value: Option<Option<u64>>) {
        let Some(cur) = self.clients[c].take() else {
            return;
        };
        let t = self.tick_clock();
        let op = &mut self.history[cur.op];
        op.ret = Some(t);
        if let Some(v) = value {
            op.kind = OpKind::Get(v);
        }
        self.completed += 1;
    }

    fn give_up(&mut self, c: usize) {
        let Some(cur) = self.clients[c].take() else {
            return;
        };
        self.indeterminate += 1;
        // A get has no effect: forget it. A put may still take effect later:
        // it stays in the history with no return.
        if !cur.is_put {
            self.history[cur.op].invoke = u64::MAX; // marked for removal
        }
    }

    /// Reacts to what the nodes did since the last call.
    pub fn observe(&mut self, cluster: &mut Cluster) {
        let events = std::mem::take(&mut cluster.events);
        for ev in events {
            match ev {
                Event::Applied { index, term, .. }
                | Event::SnapshotInstalled { index, term, .. } => {
                    self.committed.insert(index, term);
                }
                Event::ReadServed { .. } | Event::ReadDropped { .. } => {}
            }
            for c in 0..self.clients.len() {
                let Some(cur) = self.clients[c].as_mut() else {
                    continue;
                };
                match (&ev, &cur.waiting) {
                    (
                        Event::Applied {
                            index, term, cmd, ..
                        },
                        Waiting::Put(p),
                    ) if *index == p.index => {
                        if *term == p.term && cmd.as_ref().is_some_and(|x| x.id == cur.id) {
                            self.complete(c, None);
                        } else {
                            // Another entry won this index: ours can never commit.
                            cur.waiting = Waiting::Submit;
                        }
                    }
                    // A committed entry of a higher term at or below our index:
                    // terms never decrease along a log, so our entry, of a lower
                    // term, can never be committed (§5.3 log matching).
                    (Event::Applied { index, term, .. }, Waiting::Put(p))
                        if *index <= p.index && *term > p.term =>
                    {
                        cur.waiting = Waiting::Submit;
                    }
                    // A snapshot covering our index: the entry committed there
                    // was applied somewhere before we proposed (we saw every
                    // Applied event since), so it is not ours. One of a higher
                    // term below our index rules ours out as above.
                    (Event::SnapshotInstalled { index, term, .. }, Waiting::Put(p))
                        if *index >= p.index || *term > p.term =>
                    {
                        cur.waiting = Waiting::Submit;
                    }
                    (
                        Event::ReadServed {
                            node,
                            context,
                            value,
                            ..
                        },
                        Waiting::Get { node: n },
                    ) if *context == cur.id && node == n => {
                        let v = *value;
                        self.complete(c, Some(v));
                    }
                    (Event::ReadDropped { node, context }, Waiting::Get { node: n })
                        if *context == cur.id && node == n =>
                    {
                        cur.waiting = Waiting::Submit;
                    }
                    _ => {}
                }
            }
        }
        // A read waiting on a crashed node will never be answered: retry.
        for c in self.clients.iter_mut().flatten() {
            if let Waiting::Get { node } = c.waiting
                && !cluster.is_up(node)
            {
                c.waiting = Waiting::Submit;
            }
        }
    }

    /// What the busy clients wait for (for failure reports).
    pub fn describe_pending(&self) -> String {
        format!("{:?}", self.clients.iter().flatten().collect::<Vec<_>>())
    }

    /// The history to check: abandoned gets removed.
    pub fn final_history(&self) -> Vec<Op> {
        self.history
            .iter()
            .filter(|o| o.invoke != u64::MAX)
            .cloned()
            .collect()
    }
}
