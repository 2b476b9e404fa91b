//! hostile9: targeted tests of `can_campaign` (a node may campaign if it is a
//! voter in its latest configuration, at its commit index, or in any
//! configuration introduced after its commit index). Claim under attack: a
//! learner never promoted, or a node whose removal is committed, never
//! starts an election (pre-vote or vote); pre-vote keeps a node from
//! disrupting a healthy leader.
//!
//! Harness: a copy (trimmed) of the in-process cluster of tests/membership.rs
//! with a log of every message sent and a directed drop filter.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use raftlog::{
    ConfChange, ConfChangeKind, ConfState, Config, EntryPayload, MemLogStore, Message, MessageBody,
    Raft, Role, storage,
};

type Node = Raft<String>;

struct Member {
    raft: Node,
    store: MemLogStore<String>,
    config: Config,
}

type Filter = Box<dyn FnMut(&Message<String>, &BTreeMap<u64, Member>) -> bool>;

#[derive(Default)]
struct Cluster {
    nodes: BTreeMap<u64, Member>,
    isolated: BTreeSet<u64>,
    /// Directed links (from, to) that drop everything.
    cut: BTreeSet<(u64, u64)>,
    queue: VecDeque<Message<String>>,
    /// Every message sent: (from, to, term, kind).
    sent: Vec<(u64, u64, u64, &'static str)>,
    /// Returns true to drop the message.
    filter: Option<Filter>,
}

fn kind(b: &MessageBody<String>) -> &'static str {
    match b {
        MessageBody::PreVote { .. } => "PreVote",
        MessageBody::PreVoteResponse { .. } => "PreVoteResponse",
        MessageBody::Vote { .. } => "Vote",
        MessageBody::VoteResponse { .. } => "VoteResponse",
        MessageBody::Append { .. } => "Append",
        MessageBody::AppendResponse { .. } => "AppendResponse",
        MessageBody::Heartbeat { .. } => "Heartbeat",
        MessageBody::HeartbeatResponse { .. } => "HeartbeatResponse",
        MessageBody::TimeoutNow => "TimeoutNow",
        _ => "Other",
    }
}

fn config(id: u64, voters: &[u64], learners: &[u64], check_quorum: bool) -> Config {
    let mut c = Config::new(id, voters.iter().copied());
    c.learners = learners.to_vec();
    c.snapshot_chunk_bytes = 16;
    c.max_entries_per_append = 4;
    c.trailing_log_entries = 0;
    c.check_quorum = check_quorum;
    c
}

fn change(kind: ConfChangeKind, node: u64) -> ConfChange {
    ConfChange {
        kind,
        node,
        context: format!("10.0.0.{node}:7000").into_bytes(),
    }
}

fn cs(voters: &[u64], learners: &[u64]) -> ConfState {
    ConfState::new(voters.iter().copied(), learners.iter().copied())
}

impl Cluster {
    fn new(voters: &[u64], check_quorum: bool) -> Self {
        let mut c = Cluster::default();
        for &id in voters {
            c.add(config(id, voters, &[], check_quorum));
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
            },
        );
    }

    fn node(&self, id: u64) -> &Node {
        &self.nodes[&id].raft
    }

    fn node_mut(&mut self, id: u64) -> &mut Node {
        &mut self.nodes.get_mut(&id).expect("node").raft
    }

    fn settle(&mut self) {
        loop {
            let ids: Vec<u64> = self.nodes.keys().copied().collect();
            for id in ids {
                self.handle_ready(id);
            }
            let Some(m) = self.queue.pop_front() else {
                break;
            };
            if self.isolated.contains(&m.from)
                || self.isolated.contains(&m.to)
                || self.cut.contains(&(m.from, m.to))
            {
                continue;
            }
            if let Some(f) = self.filter.as_mut()
                && f(&m, &self.nodes)
            {
                continue;
            }
            if let Some(n) = self.nodes.get_mut(&m.to) {
                let _ = n.raft.step(m);
            }
        }
    }

    fn handle_ready(&mut self, id: u64) {
        let n = self.nodes.get_mut(&id).expect("node");
        while n.raft.has_ready() {
            let rd = n.raft.ready();
            for m in rd.messages.iter() {
                self.sent.push((m.from, m.to, m.term, kind(&m.body)));
                self.queue.push_back(m.clone());
            }
            storage::persist_ready(&mut n.store, &rd).expect("persist");
            for m in rd.persisted_messages.iter() {
                self.sent.push((m.from, m.to, m.term, kind(&m.body)));
                self.queue.push_back(m.clone());
            }
            let _ = rd
                .committed_entries
                .iter()
                .filter(|e| matches!(e.payload, EntryPayload::Command(_)))
                .count();
            n.raft.advance();
        }
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

    fn elect(&mut self, id: u64) {
        self.node_mut(id).campaign();
        self.settle();
        assert_eq!(self.node(id).status().role, Role::Leader);
    }

    fn conf(&mut self, leader: u64, kind: ConfChangeKind, node: u64) -> u64 {
        let p = self
            .node_mut(leader)
            .propose_conf_change(change(kind, node))
            .expect("conf change");
        self.settle();
        p.index
    }

    /// Crash and restart from the store (no snapshot: applied = 0, so the
    /// commit index restarts at 0 and must be relearned from a leader).
    fn restart(&mut self, id: u64) {
        let n = self.nodes.get_mut(&id).expect("node");
        let restored = storage::restore(&n.store).expect("restore");
        let config = n.config.clone();
        n.raft = Raft::new(config, id + 100, restored).expect("restart");
    }

    /// Restart as an application that persists its applied index does
    /// (`Config::applied`, as snowflk-server does from its engine): the
    /// commit index restarts there, not at 0.
    fn restart_with_applied(&mut self, id: u64, applied: u64) {
        let n = self.nodes.get_mut(&id).expect("node");
        let restored = storage::restore(&n.store).expect("restore");
        let mut config = n.config.clone();
        config.applied = applied;
        n.raft = Raft::new(config, id + 100, restored).expect("restart");
    }

    fn elections_started_by(&self, id: u64, since: usize) -> Vec<(u64, u64, u64, &'static str)> {
        self.sent[since..]
            .iter()
            .filter(|(f, _, _, k)| *f == id && (*k == "PreVote" || *k == "Vote"))
            .copied()
            .collect()
    }

    fn max_term(&self, ids: &[u64]) -> u64 {
        ids.iter()
            .map(|&i| self.node(i).status().term)
            .max()
            .unwrap()
    }
}

/// {1,2,3} led by 1 with learner 4 added and caught up.
fn with_learner(check_quorum: bool) -> Cluster {
    let mut c = Cluster::new(&[1, 2, 3], check_quorum);
    c.elect(1);
    c.add(config(4, &[1, 2, 3], &[4], check_quorum));
    c.conf(1, ConfChangeKind::AddLearner, 4);
    c.tick(3);
    assert_eq!(c.node(4).conf_state(), cs(&[1, 2, 3], &[4]));
    c
}

/// A learner holding an uncommitted promotion of itself, which is later
/// truncated away: while it holds it, it may campaign but must not disrupt
/// the new leader; once truncated, it must never campaign again.
#[test]
fn hostile9_learner_with_truncated_self_promotion() {
    let mut c = with_learner(true);
    // Promote 4 reaches only 4.
    c.isolated.extend([2, 3]);
    let p = c.conf(1, ConfChangeKind::Promote, 4);
    assert_eq!(c.node(4).conf_state(), cs(&[1, 2, 3, 4], &[]));
    assert!(c.node(4).status().commit < p);
    // 1 dies; 2 and 3 elect a leader, but 4 cannot hear the new leader.
    c.isolated.clear();
    c.isolated.insert(1);
    c.cut.insert((2, 4));
    c.cut.insert((4, 2));
    c.cut.insert((3, 4));
    c.tick(80);
    let leader = c.leader().expect("2 or 3 leads");
    assert!(leader == 2 || leader == 3);
    // Now: 4 hears from 3 (a follower or the leader) but not 2.
    c.cut.clear();
    let other = if leader == 2 { 3 } else { 2 };
    c.cut.insert((leader, 4));
    c.cut.insert((4, leader));
    let term_before = c.max_term(&[2, 3]);
    let since = c.sent.len();
    c.tick(200);
    let started = c.elections_started_by(4, since);
    eprintln!(
        "4 started while holding its uncommitted promotion: {} msgs",
        started.len()
    );
    assert_eq!(
        c.max_term(&[2, 3]),
        term_before,
        "4 (holding an uncommitted promotion) bumped the healthy cluster's term; 4's msgs: {started:?}"
    );
    assert_eq!(c.leader(), Some(leader));
    let _ = other;
    // Heal 4: the leader truncates the promotion away.
    c.cut.clear();
    c.tick(10);
    assert_eq!(
        c.node(4).conf_state(),
        cs(&[1, 2, 3], &[4]),
        "promotion truncated"
    );
    let since = c.sent.len();
    // Even with the leader gone, a learner never promoted never campaigns.
    c.isolated.insert(leader);
    c.tick(200);
    let started = c.elections_started_by(4, since);
    assert!(
        started.is_empty(),
        "learner 4 campaigned after truncation: {started:?}"
    );
}

/// A voter removed by a committed change that it learned of never campaigns.
#[test]
fn hostile9_removed_node_after_commit_does_not_campaign() {
    let mut c = Cluster::new(&[1, 2, 3], true);
    c.elect(1);
    let r = c.conf(1, ConfChangeKind::Remove, 3);
    c.tick(5);
    assert!(c.node(3).status().commit >= r);
    let since = c.sent.len();
    c.isolated.insert(1);
    c.tick(300);
    assert!(c.elections_started_by(3, since).is_empty());
}

/// Shared setup: learner 4 promoted (committed) then removed (committed), 4
/// knowing all of it; then 4 crashes and restarts. Its commit index restarts
/// at 0 (not persisted), so both changes look uncommitted to it, and the
/// leader no longer replicates to it (its removal committed).
fn promoted_then_removed_then_restarted(check_quorum: bool) -> (Cluster, u64) {
    let mut c = with_learner(check_quorum);
    let p = c.conf(1, ConfChangeKind::Promote, 4);
    c.tick(3);
    assert!(c.node(1).status().commit >= p);
    let r = c.conf(1, ConfChangeKind::Remove, 4);
    c.tick(3);
    assert!(c.node(1).status().commit >= r);
    assert!(
        c.node(4).status().commit >= r,
        "4 learned its removal committed"
    );
    assert_eq!(c.node(4).conf_state(), cs(&[1, 2, 3], &[]));
    c.restart(4);
    assert_eq!(c.node(4).status().commit, 0);
    (c, r)
}

/// Claim 3 literal: "a node whose removal is committed never starts an
/// election". Before the change, 4 (a learner at its commit index, not a
/// member at the end) could not campaign; now the Promote in between
/// qualifies it.
#[test]
#[ignore = "known limitation (hostile9): the commit index is not persisted; a node restarted with Config::applied below its committed removal sees the change as uncommitted and sends pre-votes (harmless with check_quorum, the default; one election without it). The server restarts with its applied index: see the test below"]
fn hostile9_committed_removal_of_promoted_learner_restart_campaigns() {
    let (mut c, _r) = promoted_then_removed_then_restarted(true);
    let terms: Vec<u64> = [1, 2, 3].iter().map(|&i| c.node(i).status().term).collect();
    let since = c.sent.len();
    c.tick(300);
    let started = c.elections_started_by(4, since);
    eprintln!(
        "restarted removed node 4 sent {} PreVote/Vote messages in 300 ticks",
        started.len()
    );
    let terms_after: Vec<u64> = [1, 2, 3].iter().map(|&i| c.node(i).status().term).collect();
    assert_eq!(terms, terms_after, "healthy cluster's terms bumped by 4");
    assert_eq!(c.leader(), Some(1), "leader disrupted");
    assert!(
        started.is_empty(),
        "node 4, whose removal is committed, starts elections after a restart: {} msgs, first {:?}",
        started.len(),
        started.first()
    );
}

/// Same, check-quorum off (a supported Config): no leader lease, so the
/// pre-vote of the removed node (whose log is as up to date as the others')
/// is granted and the real election bumps the healthy leader's term.
#[test]
#[ignore = "known limitation (hostile9): the commit index is not persisted; a node restarted with Config::applied below its committed removal sees the change as uncommitted and sends pre-votes (harmless with check_quorum, the default; one election without it). The server restarts with its applied index: see the test below"]
fn hostile9_committed_removal_of_promoted_learner_restart_disrupts_without_check_quorum() {
    let (mut c, _r) = promoted_then_removed_then_restarted(false);
    let term = c.node(1).status().term;
    let since = c.sent.len();
    let mut seen = Vec::new();
    for _ in 0..300 {
        c.tick(1);
        let now: Vec<(u64, Role, u64)> = c
            .nodes
            .iter()
            .filter(|(_, n)| n.raft.status().role == Role::Leader)
            .map(|(&id, n)| (id, n.raft.status().role, n.raft.status().term))
            .collect();
        if seen.last() != Some(&now) {
            eprintln!("leaders now: {now:?}");
            seen.push(now);
        }
    }
    let started = c.elections_started_by(4, since);
    eprintln!(
        "check_quorum=false: 4 sent {} PreVote/Vote; term {} -> {}; leader {:?}",
        started.len(),
        term,
        c.node(1).status().term,
        c.leader()
    );
    assert_eq!(
        c.node(1).status().term,
        term,
        "removed node 4 disrupted the healthy leader (term bump); 4's msgs: {:?}",
        &started[..started.len().min(6)]
    );
}

/// Pre-existing analogue (not introduced by the change): an original voter
/// whose removal committed restarts with commit 0 and is a voter at its
/// commit index.
#[test]
#[ignore = "known limitation (hostile9): the commit index is not persisted; a node restarted with Config::applied below its committed removal sees the change as uncommitted and sends pre-votes (harmless with check_quorum, the default; one election without it). The server restarts with its applied index: see the test below"]
fn hostile9_committed_removal_of_original_voter_restart_campaigns() {
    let mut c = Cluster::new(&[1, 2, 3, 4], true);
    c.elect(1);
    let r = c.conf(1, ConfChangeKind::Remove, 4);
    c.tick(3);
    assert!(c.node(4).status().commit >= r);
    c.restart(4);
    let since = c.sent.len();
    c.tick(300);
    let started = c.elections_started_by(4, since);
    assert_eq!(c.leader(), Some(1));
    assert!(
        started.is_empty(),
        "original voter 4, removal committed, campaigns after restart: {} msgs",
        started.len()
    );
}

/// A node promoted then removed by entries it holds uncommitted (it missed
/// every commit index covering them), leader healthy: 4 campaigns (new
/// behaviour); does it disrupt?
#[test]
fn hostile9_promoted_then_removed_uncommitted_while_leader_healthy() {
    let mut c = with_learner(true);
    // 4 gets entries but never a commit index >= the promotion.
    let p_guess = c.node(1).status().last_index + 1;
    c.filter = Some(Box::new(move |m, _| {
        if m.to != 4 {
            return false;
        }
        match &m.body {
            MessageBody::Append {
                commit, entries, ..
            } => {
                if *commit >= p_guess && entries.is_empty() {
                    return true;
                }
                false
            }
            MessageBody::Heartbeat { commit, .. } => *commit >= p_guess,
            _ => false,
        }
    }));
    let p = c.conf(1, ConfChangeKind::Promote, 4);
    assert_eq!(p, p_guess);
    c.tick(3);
    let r = c.conf(1, ConfChangeKind::Remove, 4);
    c.tick(3);
    assert!(c.node(1).status().commit >= r);
    let commit4 = c.node(4).status().commit;
    eprintln!(
        "4 commit {commit4}, p {p}, r {r}, conf {:?}",
        c.node(4).conf_state()
    );
    // Appends carrying entries also carry the commit index: 4 probably knows
    // commit >= p from the Append that brought r. Record what happened.
    let term = c.node(1).status().term;
    let since = c.sent.len();
    c.tick(300);
    let started = c.elections_started_by(4, since);
    eprintln!("4 sent {} PreVote/Vote", started.len());
    assert_eq!(c.node(1).status().term, term);
    assert_eq!(c.leader(), Some(1));
}

/// The same removal, restarted as the server restarts a node: with the
/// applied index its state machine persisted (here: everything it had
/// committed). The committed Promote and Remove are then below its commit
/// index, so it never campaigns, check-quorum or not.
#[test]
fn hostile9_committed_removal_restart_with_applied_index_stays_silent() {
    for check_quorum in [true, false] {
        let mut c = with_learner(check_quorum);
        let p = c.conf(1, ConfChangeKind::Promote, 4);
        c.tick(3);
        assert!(c.node(1).status().commit >= p);
        let r = c.conf(1, ConfChangeKind::Remove, 4);
        c.tick(3);
        assert!(
            c.node(4).status().commit >= r,
            "4 learned its removal committed"
        );
        let applied = c.node(4).status().commit;
        c.restart_with_applied(4, applied);
        let term = c.node(1).status().term;
        let since = c.sent.len();
        c.tick(300);
        assert!(
            c.elections_started_by(4, since).is_empty(),
            "check_quorum {check_quorum}: a removed node restarted at its applied index campaigns"
        );
        assert_eq!(c.node(1).status().term, term, "check_quorum {check_quorum}");
        assert_eq!(c.leader(), Some(1), "check_quorum {check_quorum}");
    }
}
