//! Single-server membership changes, one focused test per rule (see the
//! crate docs, "Membership changes"). A small in-process cluster: each node
//! has a `MemLogStore`, a state machine that is the list of applied
//! commands, and a snapshot image that is that list joined by newlines.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use raftlog::{
    ConfChange, ConfChangeError, ConfChangeKind, ConfState, Config, EntryPayload, LogStore,
    MemLogStore, Message, MessageBody, ProgressState, ProposeError, Raft, Role, SnapshotError,
    SnapshotMeta, storage,
};

type Node = Raft<String>;

struct Member {
    raft: Node,
    store: MemLogStore<String>,
    config: Config,
    /// The state machine: applied commands.
    applied: Vec<String>,
    /// The latest snapshot image (meta, bytes).
    image: Option<(SnapshotMeta, Vec<u8>)>,
    staged: Vec<u8>,
}

#[derive(Default)]
struct Cluster {
    nodes: BTreeMap<u64, Member>,
    /// Nodes cut off from everyone.
    isolated: BTreeSet<u64>,
    queue: VecDeque<Message<String>>,
    /// Leaders that saw `snapshot_wanted`.
    snapshot_wanted: Vec<u64>,
    /// Take a snapshot as soon as a leader asks for one.
    auto_snapshot: bool,
}

fn config(id: u64, voters: &[u64], learners: &[u64]) -> Config {
    let mut c = Config::new(id, voters.iter().copied());
    c.learners = learners.to_vec();
    c.snapshot_chunk_bytes = 16;
    c.max_entries_per_append = 4;
    c.trailing_log_entries = 0;
    c
}

fn change(kind: ConfChangeKind, node: u64) -> ConfChange {
    ConfChange {
        kind,
        node,
        context: format!("10.0.0.{node}:7000").into_bytes(),
    }
}

impl Cluster {
    fn new(voters: &[u64]) -> Self {
        let mut c = Cluster::default();
        for &id in voters {
            c.add(config(id, voters, &[]));
        }
        c
    }

    fn add(&mut self, config: Config) {
        let store = MemLogStore::new();
        let restored = storage::restore(&store).expect("restore");
        let raft = Raft::new(config.clone(), config.id, restored).expect("node");
        self.nodes.insert(
            config.id,
            Member {
                raft,
                store,
                config,
                applied: Vec::new(),
                image: None,
                staged: Vec::new(),
            },
        );
    }

    fn node(&self, id: u64) -> &Node {
        &self.nodes[&id].raft
    }

    fn node_mut(&mut self, id: u64) -> &mut Node {
        &mut self.nodes.get_mut(&id).expect("node").raft
    }

    /// Handles every ready batch and delivers every message until quiet.
    fn settle(&mut self) {
        loop {
            let ids: Vec<u64> = self.nodes.keys().copied().collect();
            for id in ids {
                self.handle_ready(id);
            }
            let Some(m) = self.queue.pop_front() else {
                break;
            };
            if self.isolated.contains(&m.from) || self.isolated.contains(&m.to) {
                continue;
            }
            if let Some(n) = self.nodes.get_mut(&m.to) {
                let _ = n.raft.step(m);
            }
        }
    }

    fn handle_ready(&mut self, id: u64) {
        let mut wanted = false;
        {
            let n = self.nodes.get_mut(&id).expect("node");
            while n.raft.has_ready() {
                let rd = n.raft.ready();
                self.queue.extend(rd.messages.iter().cloned());
                for c in &rd.received_chunks {
                    if c.offset == 0 {
                        n.staged.clear();
                    }
                    n.staged.extend_from_slice(&c.data);
                }
                storage::persist_ready(&mut n.store, &rd).expect("persist");
                self.queue.extend(rd.persisted_messages.iter().cloned());
                if let Some(meta) = &rd.snapshot {
                    let text = String::from_utf8(n.staged.clone()).expect("utf8");
                    n.applied = text.lines().map(str::to_string).collect();
                    n.image = Some((meta.clone(), n.staged.clone()));
                }
                for e in &rd.committed_entries {
                    if let EntryPayload::Command(c) = &e.payload {
                        n.applied.push(c.clone());
                    }
                }
                for req in &rd.snapshot_requests {
                    if let Some((meta, bytes)) = &n.image
                        && meta.index == req.index
                    {
                        let lo = (req.offset as usize).min(bytes.len());
                        let hi = (lo + req.max_len).min(bytes.len());
                        let _ = n.raft.send_snapshot_chunk(
                            req,
                            bytes[lo..hi].to_vec(),
                            hi == bytes.len(),
                        );
                    }
                }
                wanted |= rd.snapshot_wanted;
                n.raft.advance();
            }
        }
        if wanted {
            self.snapshot_wanted.push(id);
            if self.auto_snapshot {
                self.snapshot(id);
            }
        }
    }

    /// Takes a snapshot of `id`'s applied state and compacts.
    fn snapshot(&mut self, id: u64) {
        let n = self.nodes.get_mut(&id).expect("node");
        let index = n.raft.status().applied;
        let term = n.raft.log_term(index).expect("term");
        let meta = n.raft.snapshot_meta_at(index, term).expect("meta");
        let bytes = n.applied.join("\n").into_bytes();
        n.store.save_snapshot(&meta).expect("save");
        n.image = Some((meta.clone(), bytes));
        n.raft.compact(meta).expect("compact");
    }

    fn tick(&mut self, times: usize) {
        for _ in 0..times {
            for n in self.nodes.values_mut() {
                n.raft.tick();
            }
            self.settle();
        }
    }

    fn leader(&self) -> Option<u64> {
        self.nodes
            .iter()
            .find(|(id, n)| n.raft.status().role == Role::Leader && !self.isolated.contains(id))
            .map(|(&id, _)| id)
    }

    /// Elects `id` and commits its no-op.
    fn elect(&mut self, id: u64) {
        self.node_mut(id).campaign();
        self.settle();
        assert_eq!(self.node(id).status().role, Role::Leader);
    }

    fn propose(&mut self, leader: u64, cmd: &str) -> u64 {
        let p = self
            .node_mut(leader)
            .propose(cmd.to_string())
            .expect("propose");
        self.settle();
        p.index
    }

    fn conf(&mut self, leader: u64, kind: ConfChangeKind, node: u64) -> Result<u64, ProposeError> {
        let p = self
            .node_mut(leader)
            .propose_conf_change(change(kind, node))?;
        self.settle();
        Ok(p.index)
    }

    /// Crashes and restarts `id` from its store with its own Config.
    fn restart(&mut self, id: u64) {
        let n = self.nodes.get_mut(&id).expect("node");
        let restored = storage::restore(&n.store).expect("restore");
        let mut config = n.config.clone();
        // The state machine is rebuilt from the snapshot image (applied = its index).
        n.applied = match &n.image {
            Some((_, bytes)) => String::from_utf8(bytes.clone())
                .expect("utf8")
                .lines()
                .map(str::to_string)
                .collect(),
            None => Vec::new(),
        };
        config.applied = n.image.as_ref().map_or(0, |(m, _)| m.index);
        n.raft = Raft::new(config, id + 100, restored).expect("restart");
    }

    fn commit(&self, id: u64) -> u64 {
        self.node(id).status().commit
    }
}

fn cs(voters: &[u64], learners: &[u64]) -> ConfState {
    ConfState::new(voters.iter().copied(), learners.iter().copied())
}

/// A cluster 1..=3 led by 1, with learner 4 added and caught up.
fn with_learner() -> Cluster {
    let mut c = Cluster::new(&[1, 2, 3]);
    c.elect(1);
    c.add(config(4, &[1, 2, 3], &[4]));
    c.conf(1, ConfChangeKind::AddLearner, 4)
        .expect("add learner");
    c.tick(3);
    c
}

#[test]
fn a_learner_replicates_but_does_not_count_for_commit() {
    let mut c = with_learner();
    assert_eq!(c.node(1).conf_state(), cs(&[1, 2, 3], &[4]));
    let i = c.propose(1, "a");
    assert_eq!(c.commit(4), i, "the learner receives the log");
    assert_eq!(c.nodes[&4].applied, vec!["a".to_string()]);
    // With two voters cut off, the leader and the learner are not a quorum.
    c.isolated.extend([2, 3]);
    let j = c.node_mut(1).propose("b".into()).expect("propose").index;
    c.settle();
    assert_eq!(c.node(4).status().last_index, j);
    assert!(c.commit(1) < j, "a learner's ack must not commit");
    let p = c.node(1).progress();
    assert!(
        p.iter()
            .any(|p| p.id == 4 && !p.voter && p.match_index == j)
    );
    // A learner never campaigns, whatever its timer says.
    c.isolated.insert(1);
    c.tick(100);
    assert_eq!(c.node(4).status().role, Role::Follower);
    assert_eq!(c.node(4).status().term, c.node(1).status().term);
}

#[test]
fn a_learners_vote_does_not_count_but_a_promoted_learner_can_vote() {
    // 1 leads {1, 2} with learner 3; a candidate that knows 3 as a learner
    // does not win with 3's vote alone.
    let mut c = Cluster::new(&[1, 2]);
    c.elect(1);
    c.add(config(3, &[1, 2], &[3]));
    c.conf(1, ConfChangeKind::AddLearner, 3).expect("add");
    c.tick(3);
    c.isolated.insert(1);
    c.tick(60);
    assert_eq!(c.leader(), None, "2 cannot win with the learner's vote");
    assert_ne!(c.node(2).status().role, Role::Leader);
    // Now promote 3 with the change reaching only 2 (committed on {1, 2}),
    // and fail leader 1: 2 needs the vote of 3, which does not know yet.
    let mut c = Cluster::new(&[1, 2]);
    c.elect(1);
    c.add(config(3, &[1, 2], &[3]));
    c.conf(1, ConfChangeKind::AddLearner, 3).expect("add");
    c.tick(3);
    // Deliver the promotion to 2 only.
    c.isolated.insert(3);
    let i = c.conf(1, ConfChangeKind::Promote, 3).expect("promote");
    assert_eq!(c.commit(1), i, "committed on {{1, 2}}");
    assert_eq!(c.node(3).conf_state(), cs(&[1, 2], &[3]), "3 does not know");
    c.isolated.clear();
    c.isolated.insert(1);
    c.tick(80);
    let leader = c
        .leader()
        .expect("2 wins with the vote of the promoted learner");
    assert_eq!(leader, 2);
    assert_eq!(c.node(3).conf_state(), cs(&[1, 2, 3], &[]));
}

#[test]
fn promote_is_refused_until_the_learner_caught_up() {
    let mut c = Cluster::new(&[1, 2, 3]);
    c.elect(1);
    c.add(config(4, &[1, 2, 3], &[4]));
    c.isolated.insert(4);
    c.conf(1, ConfChangeKind::AddLearner, 4).expect("add");
    for i in 0..10 {
        c.propose(1, &format!("c{i}"));
    }
    let err = c.conf(1, ConfChangeKind::Promote, 4).unwrap_err();
    assert!(
        matches!(
            err,
            ProposeError::InvalidConfChange(ConfChangeError::NotCaughtUp { node: 4, .. })
        ),
        "{err:?}"
    );
    assert_eq!(c.node(1).conf_state(), cs(&[1, 2, 3], &[4]));
    c.isolated.clear();
    c.tick(3);
    let p = c.node(1).progress();
    let p4 = p.iter().find(|p| p.id == 4).expect("progress of 4");
    assert_eq!(p4.match_index, c.node(1).status().last_index);
    assert_eq!(p4.state, ProgressState::Replicate);
    c.conf(1, ConfChangeKind::Promote, 4).expect("promote");
}

#[test]
fn a_promoted_learner_makes_a_four_voter_quorum() {
    let mut c = with_learner();
    let i = c.conf(1, ConfChangeKind::Promote, 4).expect("promote");
    assert_eq!(c.commit(1), i);
    for id in 1..=4 {
        assert_eq!(c.node(id).conf_state(), cs(&[1, 2, 3, 4], &[]), "node {id}");
    }
    // Quorum is now 3 of 4: leader + one follower is not enough...
    c.isolated.extend([3, 4]);
    let j = c.node_mut(1).propose("x".into()).expect("propose").index;
    c.settle();
    assert!(c.commit(1) < j);
    // ...leader + two followers is.
    c.isolated.remove(&4);
    c.tick(2);
    assert!(c.commit(1) >= j);
}

#[test]
fn removing_a_follower_shrinks_the_quorum() {
    let mut c = Cluster::new(&[1, 2, 3]);
    c.elect(1);
    let i = c.conf(1, ConfChangeKind::Remove, 3).expect("remove");
    assert_eq!(c.commit(1), i);
    assert_eq!(c.node(1).conf_state(), cs(&[1, 2], &[]));
    assert_eq!(c.node(3).conf_state(), cs(&[1, 2], &[]), "3 learned it");
    assert!(c.node(1).progress().iter().all(|p| p.id != 3));
    // Removed by a committed change: 3 never campaigns.
    c.isolated.extend([1, 2]);
    c.tick(100);
    assert_eq!(c.node(3).status().role, Role::Follower);
    c.isolated.clear();
    c.tick(40);
    let leader = c.leader().expect("leader");
    assert_ne!(leader, 3);
    // Quorum of {1, 2} is 2; 3 does not count any more.
    c.isolated.insert(3 - leader);
    let j = c
        .node_mut(leader)
        .propose("y".into())
        .expect("propose")
        .index;
    c.settle();
    assert!(c.commit(leader) < j);
}

#[test]
fn a_leader_removing_itself_steps_down_and_another_leads() {
    let mut c = Cluster::new(&[1, 2, 3]);
    c.elect(1);
    // Hold the acknowledgements back: the leader keeps leading meanwhile.
    c.isolated.extend([2, 3]);
    let i = c.conf(1, ConfChangeKind::Remove, 1).expect("remove self");
    assert_eq!(c.node(1).status().role, Role::Leader);
    assert_eq!(c.node(1).conf_state(), cs(&[2, 3], &[]));
    assert_eq!(c.node(1).pending_conf_index(), Some(i));
    let j = c
        .node_mut(1)
        .propose("after".into())
        .expect("still leading")
        .index;
    c.settle();
    assert!(c.commit(1) < i, "the leader does not count itself any more");
    c.isolated.clear();
    c.tick(2);
    assert_eq!(c.node(1).status().role, Role::Follower);
    let leader = c.leader().expect("a new leader");
    assert_ne!(leader, 1);
    assert!(c.commit(leader) >= j);
    // The old leader ignores its timer from now on.
    c.tick(60);
    assert_eq!(c.node(1).status().role, Role::Follower);
    assert_eq!(c.leader(), Some(leader));
}

#[test]
fn only_one_change_at_a_time() {
    let mut c = Cluster::new(&[1, 2, 3]);
    c.elect(1);
    c.isolated.extend([2, 3]);
    let i = c.conf(1, ConfChangeKind::AddLearner, 4).expect("add");
    assert_eq!(c.node(1).pending_conf_index(), Some(i));
    assert_eq!(
        c.conf(1, ConfChangeKind::AddLearner, 5),
        Err(ProposeError::ConfChangePending(i))
    );
    c.isolated.clear();
    c.tick(2);
    assert_eq!(c.node(1).pending_conf_index(), None);
    c.conf(1, ConfChangeKind::AddLearner, 5)
        .expect("the next change");
}

#[test]
fn invalid_changes_are_refused() {
    let mut c = Cluster::new(&[1, 2]);
    c.elect(1);
    let err = |c: &mut Cluster, k, n| match c.conf(1, k, n) {
        Err(ProposeError::InvalidConfChange(e)) => e,
        other => panic!("{other:?}"),
    };
    use ConfChangeKind::*;
    assert_eq!(
        err(&mut c, AddLearner, 2),
        ConfChangeError::AlreadyMember(2)
    );
    assert_eq!(err(&mut c, Promote, 2), ConfChangeError::NotALearner(2));
    assert_eq!(err(&mut c, Promote, 9), ConfChangeError::NotAMember(9));
    assert_eq!(err(&mut c, Remove, 9), ConfChangeError::NotAMember(9));
    c.conf(1, Remove, 2).expect("remove 2");
    assert_eq!(err(&mut c, Remove, 1), ConfChangeError::LastVoter(1));
    assert_eq!(
        c.node_mut(2).propose_conf_change(change(AddLearner, 7)),
        Err(ProposeError::NotLeader {
            leader_hint: Some(1)
        })
    );
}

#[test]
fn a_new_leader_is_not_ready_before_its_noop_commits() {
    // Let 1 win without its no-op committing: deliver only the vote answers.
    let mut c2 = Cluster::new(&[1, 2, 3]);
    c2.node_mut(1).campaign();
    // Hand out pre-votes and votes, but drop every AppendEntries.
    for _ in 0..20 {
        for id in [1, 2, 3] {
            c2.handle_ready(id);
        }
        let q: Vec<_> = c2.queue.drain(..).collect();
        for m in q {
            if !matches!(m.body, MessageBody::Append { .. }) {
                let _ = c2.node_mut(m.to).step(m);
            }
        }
    }
    assert_eq!(c2.node(1).status().role, Role::Leader);
    assert_eq!(
        c2.node_mut(1)
            .propose_conf_change(change(ConfChangeKind::AddLearner, 4)),
        Err(ProposeError::LeaderNotReady)
    );
    c2.settle();
    c2.tick(1);
    c2.conf(1, ConfChangeKind::AddLearner, 4)
        .expect("ready once the no-op committed");
}

#[test]
fn a_truncated_change_is_reverted() {
    let mut c = Cluster::new(&[1, 2, 3]);
    c.elect(1);
    // Leader 1 appends a change that only reaches 2, then is cut off.
    c.isolated.insert(3);
    c.isolated.insert(2);
    let i = c.conf(1, ConfChangeKind::Remove, 3).expect("remove");
    assert_eq!(c.node(1).conf_state(), cs(&[1, 2], &[]));
    c.isolated.clear();
    c.isolated.insert(1);
    // 2 and 3 elect a leader among themselves, without the entry.
    c.tick(60);
    let leader = c.leader().expect("new leader");
    assert_ne!(leader, 1);
    c.propose(leader, "new-term");
    c.isolated.clear();
    c.tick(5);
    let term_at_i = c.node(leader).log_term(i);
    assert_eq!(c.node(1).log_term(i), term_at_i, "1 was caught up");
    assert_eq!(
        c.node(1).conf_state(),
        cs(&[1, 2, 3], &[]),
        "the appended-but-truncated removal is undone"
    );
    assert!(c.node(1).conf_state_at(i).is_some());
}

#[test]
fn a_restart_rebuilds_the_configuration_from_the_log() {
    let mut c = with_learner();
    c.conf(1, ConfChangeKind::Promote, 4).expect("promote");
    c.conf(1, ConfChangeKind::Remove, 2).expect("remove");
    let want = cs(&[1, 3, 4], &[]);
    for id in [1, 3, 4] {
        c.restart(id);
        assert_eq!(c.node(id).conf_state(), want, "node {id}");
    }
    // And from a snapshot plus the entries after it.
    c.tick(30);
    let leader = c.leader().expect("leader");
    c.propose(leader, "z");
    c.snapshot(3);
    c.conf(leader, ConfChangeKind::AddLearner, 9).expect("add");
    c.restart(3);
    assert_eq!(c.node(3).conf_state(), cs(&[1, 3, 4], &[9]));
    assert_eq!(
        c.node(3).snapshot().map(|s| s.voters.clone()),
        Some(vec![1, 3, 4])
    );
}

#[test]
fn a_joining_node_gets_a_snapshot_then_entries() {
    let mut c = Cluster::new(&[1, 2, 3]);
    c.elect(1);
    c.propose(1, "a");
    c.propose(1, "b");
    c.snapshot(1);
    c.propose(1, "c");
    // Node 4 starts empty: it knows nobody.
    c.add(config(4, &[], &[]));
    assert_eq!(c.node(4).conf_state(), ConfState::default());
    c.conf(1, ConfChangeKind::AddLearner, 4).expect("add");
    c.tick(5);
    assert!(
        c.node(4).snapshot().is_some(),
        "installed the leader's snapshot"
    );
    assert_eq!(c.node(4).conf_state(), cs(&[1, 2, 3], &[4]));
    assert_eq!(c.nodes[&4].applied, vec!["a", "b", "c"]);
    assert_eq!(c.commit(4), c.commit(1));
    // It restarts with its empty Config and its snapshot.
    c.restart(4);
    assert_eq!(c.node(4).conf_state(), cs(&[1, 2, 3], &[4]));
}

#[test]
fn snapshot_wanted_when_the_leader_has_none_for_a_joining_node() {
    let mut c = Cluster::new(&[1, 2, 3]);
    c.elect(1);
    c.propose(1, "a");
    c.add(config(4, &[], &[]));
    c.conf(1, ConfChangeKind::AddLearner, 4).expect("add");
    c.tick(2);
    assert!(
        c.snapshot_wanted.contains(&1),
        "the leader asks for a snapshot"
    );
    assert_eq!(
        c.node(4).status().last_index,
        0,
        "no entries before a snapshot"
    );
    assert_eq!(c.node(4).conf_state(), ConfState::default());
    // The application takes one; the core sends it.
    c.snapshot(1);
    c.tick(5);
    assert_eq!(c.node(4).conf_state(), cs(&[1, 2, 3], &[4]));
    assert_eq!(c.nodes[&4].applied, vec!["a"]);
    assert_eq!(c.commit(4), c.commit(1));
}

#[test]
fn a_higher_term_vote_does_not_reset_the_election_timer() {
    let mut cfg = config(2, &[1, 2, 3], &[]);
    cfg.check_quorum = false;
    cfg.pre_vote = false;
    // Two copies of the same node (same seed, same inputs) until the vote.
    let mut nodes: Vec<Node> = (0..2)
        .map(|_| Raft::new(cfg.clone(), 5, Default::default()).expect("node"))
        .collect();
    for n in &mut nodes {
        // Leader 1 gives it one entry of term 1 (so a candidate with an empty
        // log is behind), which resets its timer.
        n.step(Message {
            from: 1,
            to: 2,
            term: 1,
            body: MessageBody::Append {
                prev_index: 0,
                prev_term: 0,
                entries: vec![raftlog::Entry {
                    index: 1,
                    term: 1,
                    payload: EntryPayload::Noop,
                }],
                commit: 0,
            },
        })
        .expect("append");
        let _ = n.ready();
        n.advance();
    }
    let mut alone = nodes.pop().expect("copy");
    let mut n = nodes.pop().expect("node");
    let mut ticks = 0;
    while alone.status().role == Role::Follower {
        alone.tick();
        ticks += 1;
    }
    for _ in 0..ticks - 1 {
        n.tick();
    }
    // A removed server with a stale log asks for a vote in a higher term.
    n.step(Message {
        from: 3,
        to: 2,
        term: 5,
        body: MessageBody::Vote {
            last_index: 0,
            last_term: 0,
            transfer: false,
        },
    })
    .expect("step");
    assert_eq!(n.status().term, 5, "the term still moves");
    let rd = n.ready();
    assert!(
        rd.persisted_messages
            .iter()
            .any(|m| matches!(m.body, MessageBody::VoteResponse { granted: false }))
    );
    n.advance();
    n.tick();
    assert_eq!(
        n.status().role,
        Role::Candidate,
        "the denied request did not reset the timer: it times out on schedule"
    );
}

#[test]
fn compact_refuses_a_mismatching_configuration() {
    let mut c = with_learner();
    c.propose(1, "a");
    let index = c.node(1).status().applied;
    let term = c.node(1).log_term(index).expect("term");
    let good = c.node(1).snapshot_meta_at(index, term).expect("meta");
    assert_eq!(good.voters, vec![1, 2, 3]);
    assert_eq!(good.learners, vec![4]);
    let bad = SnapshotMeta {
        learners: vec![],
        ..good.clone()
    };
    assert!(matches!(
        c.node_mut(1).compact(bad),
        Err(SnapshotError::ConfMismatch { .. })
    ));
    // The configuration before the AddLearner entry differs from today's.
    assert_eq!(c.node(1).conf_state_at(1), Some(cs(&[1, 2, 3], &[])));
    c.node_mut(1).compact(good).expect("compact");
    assert_eq!(
        c.node(1).conf_state_at(index - 1),
        None,
        "before the snapshot"
    );
    assert_eq!(c.node(1).conf_state_at(index), Some(cs(&[1, 2, 3], &[4])));
}
