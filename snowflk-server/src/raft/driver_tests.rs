//! Tests of the driver with in-memory and gated log stores.

use super::*;
use raftlog::{EntryPayload, HardState, MemLogStore};

/// Echoes each command as its output.
struct Echo;

impl StateMachine for Echo {
    type Command = u64;
    type Output = u64;
    type Error = std::io::Error;
    fn applied_index(&self) -> Index {
        0
    }
    fn apply(&self, entries: &[Entry<u64>]) -> Result<Vec<(Index, u64)>, std::io::Error> {
        Ok(entries
            .iter()
            .filter_map(|e| match &e.payload {
                EntryPayload::Command(c) => Some((e.index, *c)),
                EntryPayload::Noop | EntryPayload::ConfChange(_) => None,
            })
            .collect())
    }
    fn sync(&self) -> Result<(), std::io::Error> {
        Ok(())
    }
    fn take_snapshot(&self, _: &std::path::Path) -> Result<Index, std::io::Error> {
        Err(std::io::Error::other("Echo keeps no snapshots"))
    }
    fn install_snapshot(&self, _: &std::path::Path) -> Result<Index, std::io::Error> {
        Err(std::io::Error::other("Echo keeps no snapshots"))
    }
}

/// A memory log that runs `before_append` ahead of every append: a delay
/// like an fsync's, a count, a gate the test opens.
struct HookedStore<F> {
    inner: MemLogStore<u64>,
    before_append: F,
}

impl<F> LogStore<u64> for HookedStore<F>
where
    F: FnMut(&[Entry<u64>]) -> Result<(), StorageError> + Send,
{
    fn hard_state(&self) -> Result<HardState, StorageError> {
        self.inner.hard_state()
    }
    fn save_hard_state(&mut self, hs: HardState) -> Result<(), StorageError> {
        self.inner.save_hard_state(hs)
    }
    fn append(&mut self, entries: &[Entry<u64>]) -> Result<(), StorageError> {
        (self.before_append)(entries)?;
        self.inner.append(entries)
    }
    fn truncate_after(&mut self, index: Index) -> Result<(), StorageError> {
        self.inner.truncate_after(index)
    }
    fn purge_up_to(&mut self, index: Index) -> Result<(), StorageError> {
        self.inner.purge_up_to(index)
    }
    fn first_index(&self) -> Index {
        self.inner.first_index()
    }
    fn last_index(&self) -> Index {
        self.inner.last_index()
    }
    fn term(&self, index: Index) -> Result<Option<u64>, StorageError> {
        self.inner.term(index)
    }
    fn entries(
        &self,
        lo: Index,
        hi: Index,
        max_bytes: Option<u64>,
    ) -> Result<Vec<Entry<u64>>, StorageError> {
        self.inner.entries(lo, hi, max_bytes)
    }
}

/// A store whose appends wait for a permit on `gate` while `gated` is set,
/// after sending their entries' indexes to `entered`.
fn gated_store(
    entered: std::sync::mpsc::Sender<Vec<Index>>,
    gate: std::sync::mpsc::Receiver<()>,
    gated: Arc<std::sync::atomic::AtomicBool>,
) -> HookedStore<impl FnMut(&[Entry<u64>]) -> Result<(), StorageError> + Send> {
    HookedStore {
        inner: MemLogStore::new(),
        before_append: move |entries: &[Entry<u64>]| {
            if gated.load(Ordering::SeqCst) {
                let _ = entered.send(entries.iter().map(|e| e.index).collect());
                gate.recv()
                    .map_err(|_| StorageError::Other("gate closed".into()))?;
            }
            Ok(())
        },
    }
}

/// A driver configuration for these tests: generous limits, no snapshots.
fn test_config(raft: raftlog::Config, tick: Duration, seed: u64) -> DriverConfig {
    DriverConfig {
        metrics: Default::default(),
        raft,
        tick,
        seed,
        max_pending_writes: 10_000,
        request_queue: 10_000,
        read_timeout: Duration::from_secs(5),
        snapshots: None,
    }
}

struct NoPeers;

impl MessageSink<u64> for NoPeers {
    fn send(&self, _: Message<u64>) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_proposals_share_log_appends_and_reads_share_a_round() {
    let appends = Arc::new(AtomicUsize::new(0));
    let counted = appends.clone();
    let store = HookedStore {
        inner: MemLogStore::new(),
        // Like an fsync.
        before_append: move |_: &[Entry<u64>]| {
            std::thread::sleep(Duration::from_millis(2));
            counted.fetch_add(1, Ordering::Relaxed);
            Ok(())
        },
    };
    let config = test_config(raftlog::Config::new(1, [1]), Duration::from_millis(1), 7);
    let (_peers, inbound) = mpsc::channel(1);
    let h = Arc::new(DriverHandle::start(config, store, Arc::new(Echo), inbound, NoPeers).unwrap());
    let mut st = h.watch_status();
    st.wait_for(|s| s.raft.role == Role::Leader).await.unwrap();

    let before = appends.load(Ordering::Relaxed);
    let tasks: Vec<_> = (0..400u64)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move { (i, h.propose(i).await) })
        })
        .collect();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        assert_eq!(r, Ok(i), "each proposal gets its own apply output");
    }
    let used = appends.load(Ordering::Relaxed) - before;
    assert!(
        used <= 100,
        "400 proposals took {used} log appends: no group commit"
    );

    let reads: Vec<_> = (0..50)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.read_index().await })
        })
        .collect();
    let last = h.status().raft.last_index;
    for r in reads {
        let index = r.await.unwrap().unwrap();
        assert!(
            index >= last,
            "read index {index} below the last write {last}"
        );
        h.wait_applied(index).await.unwrap();
    }
    h.shutdown().await.unwrap();
    assert!(h.status().stopped);
    assert_eq!(h.propose(1).await, Err(DriverError::Stopped));
}

/// Asynchronous log writes: while one write waits for the disk the
/// driver goes on proposing (the old loop awaited every write before
/// taking the next request), the writes queued meanwhile go to the log
/// as one append, and nothing is applied before it is durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_go_on_while_a_log_write_waits_and_queued_writes_merge() {
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (gate, gate_rx) = std::sync::mpsc::channel();
    let store = gated_store(
        entered_tx,
        gate_rx,
        Arc::new(std::sync::atomic::AtomicBool::new(true)),
    );
    let config = test_config(raftlog::Config::new(1, [1]), Duration::from_millis(1), 7);
    let (_peers, inbound) = mpsc::channel(1);
    let h = Arc::new(DriverHandle::start(config, store, Arc::new(Echo), inbound, NoPeers).unwrap());
    let entered = Arc::new(parking_lot::Mutex::new(entered));
    let next_append = move || {
        let entered = entered.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                entered
                    .lock()
                    .recv_timeout(Duration::from_secs(10))
                    .expect("the driver never wrote its log")
            })
            .await
            .unwrap()
        }
    };
    // The leader's no-op is written first.
    assert_eq!(next_append().await, vec![1]);
    gate.send(()).unwrap();
    let mut st = h.watch_status();
    st.wait_for(|s| s.raft.role == Role::Leader && s.raft.commit >= 1)
        .await
        .unwrap();

    let first = {
        let h = h.clone();
        tokio::spawn(async move { h.propose(100).await })
    };
    assert_eq!(next_append().await, vec![2], "the first write");
    // The write of index 2 is held: more proposals are still taken.
    let more: Vec<_> = (101..104u64)
        .map(|c| {
            let h = h.clone();
            tokio::spawn(async move { (c, h.propose(c).await) })
        })
        .collect();
    tokio::time::timeout(
        Duration::from_secs(10),
        st.wait_for(|s| s.raft.last_index == 5),
    )
    .await
    .expect("proposals waited for the disk write before them")
    .unwrap();
    assert_eq!(h.applied(), 1, "nothing is applied before it is durable");
    gate.send(()).unwrap();
    assert_eq!(first.await.unwrap(), Ok(100));
    // Everything queued during the first write: one append.
    assert_eq!(next_append().await, vec![3, 4, 5]);
    gate.send(()).unwrap();
    for t in more {
        let (c, r) = t.await.unwrap();
        assert_eq!(r, Ok(c));
    }
    drop(gate);
    h.shutdown().await.unwrap();
}

/// Each in-process driver's inbound channel, by node id.
type Inboxes = BTreeMap<NodeId, mpsc::Sender<Vec<Message<u64>>>>;

/// Nodes whose messages, to or from them, a [`Wires`] drops.
type CutSet = Arc<parking_lot::Mutex<std::collections::BTreeSet<NodeId>>>;

/// Delivers messages between in-process drivers by their `to`, except to or
/// from the nodes in the cut set.
struct Wires(Arc<parking_lot::Mutex<Inboxes>>, CutSet);

impl MessageSink<u64> for Wires {
    fn send(&self, m: Message<u64>) {
        {
            let cut = self.1.lock();
            if cut.contains(&m.to) || cut.contains(&m.from) {
                return;
            }
        }
        if let Some(tx) = self.0.lock().get(&m.to) {
            let _ = tx.try_send(vec![m]);
        }
    }
}

/// A leader commits on its two followers' acknowledgements while its own
/// log write is still held, but applies the entry only once that write
/// is durable: the engine is not fsynced, so applying earlier could let
/// it hold an entry that a power loss takes from the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_commits_on_followers_but_applies_only_what_its_own_log_holds() {
    let wires = Arc::new(parking_lot::Mutex::new(BTreeMap::new()));
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (gate, gate_rx) = std::sync::mpsc::channel();
    let gated = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut handles = BTreeMap::new();
    let mut gated_store = Some(gated_store(entered_tx, gate_rx, gated.clone()));
    for id in 1..=3u64 {
        let (tx, inbound) = mpsc::channel(1024);
        wires.lock().insert(id, tx);
        let config = test_config(
            raftlog::Config::new(id, [1, 2, 3]),
            Duration::from_millis(2),
            id,
        );
        let sink = Wires(wires.clone(), CutSet::default());
        let h = match gated_store.take().filter(|_| id == 1) {
            Some(store) => DriverHandle::start(config, store, Arc::new(Echo), inbound, sink),
            None => DriverHandle::start(config, MemLogStore::new(), Arc::new(Echo), inbound, sink),
        };
        handles.insert(id, Arc::new(h.unwrap()));
    }
    let one = handles[&1].clone();
    let mut st = one.watch_status();
    // Make node 1 the leader, with its no-op committed.
    let within = Duration::from_secs(20);
    tokio::time::timeout(within, async {
        loop {
            let s = one.status().raft;
            if s.role == Role::Leader && s.commit >= s.last_index && s.commit > 0 {
                break;
            }
            if let Some(l) = s.leader.filter(|&l| l != 1) {
                let _ = handles[&l].transfer(1).await;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), st.changed()).await;
        }
    })
    .await
    .expect("node 1 never became leader");

    gated.store(true, Ordering::SeqCst);
    let proposal = {
        let one = one.clone();
        tokio::spawn(async move { one.propose(42).await })
    };
    let index = tokio::task::spawn_blocking(move || {
        entered
            .recv_timeout(Duration::from_secs(10))
            .expect("the leader never wrote its log")
    })
    .await
    .unwrap()[0];
    tokio::time::timeout(within, st.wait_for(|s| s.raft.commit >= index))
        .await
        .expect("the followers' acknowledgements did not commit the entry")
        .unwrap();
    for id in [2, 3] {
        tokio::time::timeout(within, handles[&id].wait_applied(index))
            .await
            .expect("a follower never applied the entry")
            .unwrap();
    }
    // The followers applied it; the leader must not, however long it
    // is given (a bounded wait for what must not happen).
    let early = tokio::time::timeout(Duration::from_millis(300), one.wait_applied(index)).await;
    assert!(
        early.is_err(),
        "applied {} before the leader's own write of {index} completed",
        one.applied()
    );
    gated.store(false, Ordering::SeqCst);
    gate.send(()).unwrap();
    assert_eq!(proposal.await.unwrap(), Ok(42));
    tokio::time::timeout(within, one.wait_applied(index))
        .await
        .expect("the leader never applied its entry")
        .unwrap();
    for h in handles.values() {
        h.shutdown().await.unwrap();
    }
}

type Handles = BTreeMap<NodeId, Arc<DriverHandle<Echo>>>;

/// Three drivers on [`Wires`]; node 1 ticks every `first_tick`, the
/// others every 2 ms.
fn cuttable_cluster(first_tick: Duration, max_pending_writes: usize) -> (Handles, CutSet) {
    let wires = Arc::new(parking_lot::Mutex::new(BTreeMap::new()));
    let cut = CutSet::default();
    let mut handles = BTreeMap::new();
    for id in 1..=3u64 {
        let (tx, inbound) = mpsc::channel(1 << 16);
        wires.lock().insert(id, tx);
        let tick = if id == 1 {
            first_tick
        } else {
            Duration::from_millis(2)
        };
        let mut config = test_config(raftlog::Config::new(id, [1, 2, 3]), tick, id);
        config.max_pending_writes = max_pending_writes;
        let sink = Wires(wires.clone(), cut.clone());
        let h = DriverHandle::start(config, MemLogStore::new(), Arc::new(Echo), inbound, sink);
        handles.insert(id, Arc::new(h.unwrap()));
    }
    (handles, cut)
}

/// Waits until `target` leads with everything committed (asking whoever
/// leads to hand over).
async fn make_leader(handles: &Handles, target: NodeId) {
    let node = handles[&target].clone();
    let mut st = node.watch_status();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let s = node.status().raft;
            if s.role == Role::Leader && s.commit >= s.last_index && s.commit > 0 {
                break;
            }
            for (&id, h) in handles {
                if id != target && h.status().raft.role == Role::Leader {
                    let _ = h.transfer(target).await;
                }
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), st.changed()).await;
        }
    })
    .await
    .expect("the node never became leader");
}

/// Waits until node 2 or 3 leads in a term after `term` with `index`
/// committed; returns its id.
async fn new_leader_past(handles: &Handles, term: u64, index: Index) -> NodeId {
    let mut two = handles[&2].watch_status();
    let mut three = handles[&3].watch_status();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            for id in [2, 3] {
                let s = handles[&id].status().raft;
                if s.role == Role::Leader && s.term > term && s.commit >= index {
                    return id;
                }
            }
            tokio::select! {
                _ = two.changed() => {}
                _ = three.changed() => {}
            }
        }
    })
    .await
    .expect("no new leader committed past the cut-off write")
}

/// Cuts node 1 (the leader) off with one write placed, lets nodes 2 and 3
/// elect a leader whose entries replace it, runs `writes` writes there and
/// heals: returns the cut-off write's answer.
async fn write_on_a_cut_off_leader(
    handles: &Handles,
    cut: &CutSet,
    writes: u64,
) -> Result<u64, DriverError> {
    let one = handles[&1].clone();
    let before = one.status().raft;
    cut.lock().insert(1);
    let proposal = {
        let one = one.clone();
        tokio::spawn(async move { one.propose(42).await })
    };
    let within = Duration::from_secs(20);
    let mut st = one.watch_status();
    tokio::time::timeout(
        within,
        st.wait_for(|s| s.raft.last_index > before.last_index),
    )
    .await
    .unwrap()
    .unwrap();
    let index = one.status().raft.last_index;
    let leader = new_leader_past(handles, before.term, index).await;
    let more: Vec<_> = (0..writes)
        .map(|i| {
            let h = handles[&leader].clone();
            tokio::spawn(async move { h.propose(1000 + i).await })
        })
        .collect();
    for w in more {
        let r = tokio::time::timeout(within, w)
            .await
            .expect("a write on the new leader was never answered");
        assert!(r.unwrap().is_ok());
    }
    assert!(!proposal.is_finished(), "answered while cut off");
    cut.lock().clear();
    let r = tokio::time::timeout(within, proposal)
        .await
        .expect("the cut-off write was never answered")
        .unwrap();
    // The entry that replaced it is applied on node 1 (the answer comes
    // from that apply; the applied index is published after the batch).
    tokio::time::timeout(within, one.wait_applied(index))
        .await
        .expect("node 1 never applied the replacing entry")
        .unwrap();
    r
}

/// A leader's waiting proposals reach the apply thread with later entries
/// or at a tick (see `register_waiters`). A write on a leader cut off is
/// replaced by the next leader's entry at its index: it is answered
/// unknown, never Ok, and its slot is given back (with one pending write
/// allowed, a leaked slot would refuse every later write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_leaders_write_is_unknown_and_its_slot_is_freed() {
    let (handles, cut) = cuttable_cluster(Duration::from_millis(2), 1);
    make_leader(&handles, 1).await;
    let r = write_on_a_cut_off_leader(&handles, &cut, 1).await;
    assert!(matches!(r, Err(DriverError::Unknown(_))), "got {r:?}");
    make_leader(&handles, 1).await;
    assert_eq!(handles[&1].propose(43).await, Ok(43));
    assert_eq!(handles[&1].propose(44).await, Ok(44));
    for h in handles.values() {
        h.shutdown().await.unwrap();
    }
}

/// As above, with node 1 never ticking after it leads: its waiting write
/// can only reach the apply thread inside the job that carries the entries
/// replacing it (a full follower chunk of the new leader's writes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_write_rides_with_the_entries_that_replace_it() {
    let (handles, cut) = cuttable_cluster(Duration::from_secs(3600), 8192);
    make_leader(&handles, 1).await;
    let r = write_on_a_cut_off_leader(&handles, &cut, 400).await;
    assert!(matches!(r, Err(DriverError::Unknown(_))), "got {r:?}");
    for h in handles.values() {
        h.shutdown().await.unwrap();
    }
}

/// Requests still queued when the driver stops were certainly not proposed:
/// they are refused as such, never answered "outcome unknown". A
/// membership change among them used to propose the writes queued before
/// it, which then never reached the log and were answered unknown.
#[tokio::test(flavor = "current_thread")]
async fn requests_queued_at_shutdown_are_refused_as_never_proposed() {
    use std::future::Future;
    use std::task::Poll;
    let config = test_config(raftlog::Config::new(1, [1]), Duration::from_millis(1), 7);
    let (_peers, inbound) = mpsc::channel(1);
    let h =
        DriverHandle::start(config, MemLogStore::new(), Arc::new(Echo), inbound, NoPeers).unwrap();
    let mut st = h.watch_status();
    st.wait_for(|s| s.raft.role == Role::Leader).await.unwrap();
    let mut write = std::pin::pin!(h.propose(5));
    let mut change = std::pin::pin!(h.conf_change(ConfChange {
        kind: raftlog::ConfChangeKind::AddLearner,
        node: 2,
        context: Vec::new(),
    }));
    // Queue both requests without yielding to the driver task (this
    // runtime has one thread), then signal the shutdown: when the driver
    // task next runs, it stops with both requests queued.
    std::future::poll_fn(|cx| {
        assert!(write.as_mut().poll(cx).is_pending());
        assert!(change.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
    h.shutdown().await.unwrap();
    for (what, r) in [("write", write.await), ("change", change.await)] {
        assert!(
            matches!(r, Err(DriverError::TryAgain(_))),
            "the queued {what} got {r:?}"
        );
    }
}
