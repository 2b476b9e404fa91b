//! Forwarding: a follower sends a client's write or read to the leader over
//! the peer link and relays the leader's reply.
//!
//! - A request travels as [`Rpc::Request`] on this node's connection to the
//!   leader; the reply comes back as [`Rpc::Reply`] on the leader's
//!   connection to this node (links are one-way).
//! - Only the node that received the client's command forwards, once: the
//!   leader executes a forwarded request locally and answers "not leader"
//!   if it lost leadership, so a request never bounces between nodes.
//! - **Error contract.** A request that could not be sent (no link to the
//!   leader, queue full, too many pending) was certainly not proposed:
//!   `TRYAGAIN`. A request sent whose reply never comes may have been
//!   applied: `TIMEOUT` (outcome unknown) — at its deadline, or as soon as
//!   another node is known to lead.
//! - The pending map is bounded ([`Forwarder::new`]'s `max_pending`) and
//!   every entry leaves it when its reply arrives or its timeout fires.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use raftlog::NodeId;

use crate::ops::{BackendError, ReadOp, Reply, WriteOp};

/// A forwarding RPC frame body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rpc {
    /// From a follower to the leader (tag 0).
    Request {
        /// Chosen by the sender; echoed in the reply.
        id: u64,
        /// What to do.
        body: Forwarded,
    },
    /// From the leader back to the follower (tag 1).
    Reply {
        /// The request's id.
        id: u64,
        /// The outcome, following the client error contract.
        body: Result<Reply, BackendError>,
    },
}

/// A client request forwarded to the leader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Forwarded {
    /// A write (tag 0).
    Write(WriteOp),
    /// A linearizable read (tag 1).
    Read(ReadOp),
    /// `SNOWFLK TRANSFER-LEADER target` (tag 2).
    Transfer(NodeId),
    /// `SNOWFLK ADD-NODE | PROMOTE | REMOVE-NODE` (tag 3).
    Membership(crate::ops::MembershipChange),
    /// Consecutive pipelined reads served with one read index (tag 4); the
    /// reply is an array with one reply per read, in order.
    Reads(Vec<ReadOp>),
}

/// Something that can carry an RPC to a peer without waiting.
pub trait RpcLink: Send + Sync + 'static {
    /// True if a connection to `to` is up now.
    fn connected(&self, to: NodeId) -> bool;
    /// Queues `rpc` for `to`; false if it was dropped.
    fn send_rpc(&self, to: NodeId, rpc: Rpc) -> bool;
}

/// The follower side: pending forwarded requests.
pub struct Forwarder<L> {
    link: L,
    pending: Pending,
    next_id: AtomicU64,
    max_pending: usize,
    timeout: Duration,
}

impl<L: RpcLink> Forwarder<L> {
    /// A forwarder with at most `max_pending` requests waiting, each for at
    /// most `timeout`.
    pub fn new(link: L, max_pending: usize, timeout: Duration) -> Self {
        Forwarder {
            link,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            max_pending,
            timeout,
        }
    }

    /// The link (to send replies on).
    pub fn link(&self) -> &L {
        &self.link
    }

    /// Sends `body` to `leader` and waits for its reply.
    pub async fn call(&self, leader: NodeId, body: Forwarded) -> Result<Reply, BackendError> {
        if !self.link.connected(leader) {
            return Err(BackendError::TryAgain(format!(
                "no connection to the leader (node {leader})"
            )));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        // A membership change waits for its answer even if leadership moves:
        // a leader that removes itself hands leadership over (perhaps to this
        // very node) before it answers `OK`, and an early `TIMEOUT` would
        // hide the change's success. Such requests are rare and admin-only,
        // so the full deadline for a deposed leader that never answers is
        // acceptable there.
        let wait_out_leader_changes = matches!(body, Forwarded::Membership(_));
        {
            let mut p = self.pending.lock();
            if p.len() >= self.max_pending {
                return Err(BackendError::TryAgain(
                    "too many requests forwarded to the leader".into(),
                ));
            }
            p.insert(
                (leader, id),
                Waiter {
                    tx,
                    wait_out_leader_changes,
                },
            );
        }
        // Leaves the map however this future ends (reply, timeout, or the
        // client going away).
        let _guard = Unregister {
            pending: &self.pending,
            key: (leader, id),
        };
        if !self.link.send_rpc(leader, Rpc::Request { id, body }) {
            return Err(BackendError::TryAgain(format!(
                "the link to the leader (node {leader}) is congested"
            )));
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) | Err(_) => Err(BackendError::Timeout(format!(
                "no reply from the leader (node {leader}) within {:?}",
                self.timeout
            ))),
        }
    }

    /// Delivers a reply from `from`. Unknown ids (late or forged) are ignored.
    pub fn on_reply(&self, from: NodeId, id: u64, body: Result<Reply, BackendError>) {
        if let Some(w) = self.pending.lock().remove(&(from, id)) {
            let _ = w.tx.send(body);
        }
    }

    /// This node learned that `leader` leads now. Requests still waiting on
    /// another node end at once with `TIMEOUT` instead of at their
    /// deadline: that node was deposed (a leader is known per term), so it
    /// will commit nothing more, but it may have applied the request
    /// before, so the outcome is unknown. A client can retry on the new
    /// leader right away instead of after the request timeout. Membership
    /// changes are the exception: they wait for their answer (see
    /// [`Forwarder::call`]).
    pub fn leader_changed(&self, leader: NodeId) {
        let mut pending = self.pending.lock();
        let stale: Vec<(NodeId, u64)> = pending
            .iter()
            .filter(|((to, _), w)| *to != leader && !w.wait_out_leader_changes)
            .map(|(key, _)| *key)
            .collect();
        for key in stale {
            if let Some(w) = pending.remove(&key) {
                let _ = w.tx.send(Err(BackendError::Timeout(format!(
                    "node {} stopped leading before it answered; the outcome is unknown",
                    key.0
                ))));
            }
        }
    }

    /// Requests waiting for a reply.
    pub fn pending(&self) -> usize {
        self.pending.lock().len()
    }
}

/// One request waiting for the leader's reply.
struct Waiter {
    tx: oneshot::Sender<Result<Reply, BackendError>>,
    /// Not ended early by [`Forwarder::leader_changed`].
    wait_out_leader_changes: bool,
}

type Pending = Mutex<HashMap<(NodeId, u64), Waiter>>;

struct Unregister<'a> {
    pending: &'a Pending,
    key: (NodeId, u64),
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.pending.lock().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    #[derive(Clone, Default)]
    struct FakeLink {
        up: Arc<AtomicBool>,
        sent: Arc<Mutex<Vec<(NodeId, Rpc)>>>,
    }

    impl RpcLink for FakeLink {
        fn connected(&self, _: NodeId) -> bool {
            self.up.load(Ordering::Relaxed)
        }
        fn send_rpc(&self, to: NodeId, rpc: Rpc) -> bool {
            self.sent.lock().push((to, rpc));
            true
        }
    }

    fn get() -> Forwarded {
        Forwarded::Read(ReadOp::Get { key: b"k".to_vec() })
    }

    #[tokio::test]
    async fn no_link_is_try_again_and_no_reply_is_timeout() {
        let link = FakeLink::default();
        let f = Forwarder::new(link.clone(), 8, Duration::from_millis(30));
        assert!(matches!(
            f.call(2, get()).await,
            Err(BackendError::TryAgain(_))
        ));
        link.up.store(true, Ordering::Relaxed);
        assert!(matches!(
            f.call(2, get()).await,
            Err(BackendError::Timeout(_))
        ));
        assert_eq!(f.pending(), 0, "a timed-out request leaves the map");
    }

    #[tokio::test]
    async fn a_reply_resolves_only_its_own_request() {
        let link = FakeLink::default();
        link.up.store(true, Ordering::Relaxed);
        let f = Arc::new(Forwarder::new(link.clone(), 8, Duration::from_secs(5)));
        let f2 = f.clone();
        let call = tokio::spawn(async move { f2.call(2, get()).await });
        let id = loop {
            if let Some((_, Rpc::Request { id, .. })) = link.sent.lock().first() {
                break *id;
            }
            tokio::task::yield_now().await;
        };
        f.on_reply(3, id, Ok(Reply::Int(9))); // wrong sender: ignored
        f.on_reply(2, id + 1, Ok(Reply::Int(9))); // wrong id: ignored
        f.on_reply(2, id, Ok(Reply::Int(1)));
        assert_eq!(call.await.unwrap(), Ok(Reply::Int(1)));
    }

    #[tokio::test]
    async fn a_new_leader_ends_the_requests_waiting_on_the_old_one() {
        let link = FakeLink::default();
        link.up.store(true, Ordering::Relaxed);
        // A deadline the test would notice: the old leader never answers.
        let f = Arc::new(Forwarder::new(link.clone(), 8, Duration::from_secs(600)));
        let (f2, f3) = (f.clone(), f.clone());
        let on_old = tokio::spawn(async move { f2.call(2, get()).await });
        let on_new = tokio::spawn(async move { f3.call(3, get()).await });
        while f.pending() < 2 {
            tokio::task::yield_now().await;
        }
        f.leader_changed(3);
        assert!(matches!(
            on_old.await.unwrap(),
            Err(BackendError::Timeout(m)) if m.contains("node 2 stopped leading")
        ));
        assert_eq!(f.pending(), 1, "the request on the new leader still waits");
        let id = link
            .sent
            .lock()
            .iter()
            .find_map(|(to, rpc)| match rpc {
                Rpc::Request { id, .. } if *to == 3 => Some(*id),
                _ => None,
            })
            .unwrap();
        f.on_reply(3, id, Ok(Reply::Int(7)));
        assert_eq!(on_new.await.unwrap(), Ok(Reply::Int(7)));
    }

    /// A leader removing itself hands leadership over before it answers;
    /// the forwarding node (maybe the new leader) must relay that `OK`, not
    /// a `TIMEOUT` (hostile15 F2).
    #[tokio::test]
    async fn a_membership_change_waits_for_its_answer_across_a_leader_change() {
        let link = FakeLink::default();
        link.up.store(true, Ordering::Relaxed);
        let f = Arc::new(Forwarder::new(link.clone(), 8, Duration::from_secs(600)));
        let f2 = f.clone();
        let remove = tokio::spawn(async move {
            f2.call(
                2,
                Forwarded::Membership(crate::ops::MembershipChange::Remove(2)),
            )
            .await
        });
        while f.pending() < 1 {
            tokio::task::yield_now().await;
        }
        f.leader_changed(1);
        assert_eq!(f.pending(), 1, "the membership change was ended early");
        let id = match link.sent.lock().first() {
            Some((2, Rpc::Request { id, .. })) => *id,
            other => panic!("{other:?}"),
        };
        f.on_reply(2, id, Ok(Reply::ok()));
        assert_eq!(remove.await.unwrap(), Ok(Reply::ok()));
    }

    #[tokio::test]
    async fn the_pending_map_is_bounded() {
        let link = FakeLink::default();
        link.up.store(true, Ordering::Relaxed);
        let f = Arc::new(Forwarder::new(link, 2, Duration::from_secs(5)));
        let mut calls = Vec::new();
        for _ in 0..2 {
            let f = f.clone();
            calls.push(tokio::spawn(async move { f.call(2, get()).await }));
        }
        while f.pending() < 2 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            f.call(2, get()).await,
            Err(BackendError::TryAgain(_))
        ));
        for c in calls {
            c.abort();
        }
    }
}
