//! The rules of asynchronous log writes (crate docs, "Asynchronous log
//! writes"), driven through the public API: each ready batch's write is
//! queued instead of done, completes later, and is reported with
//! `Raft::persisted(index, term)` instead of `Raft::advance`.
//! `tests/simulation.rs` runs whole clusters this way; these are the rules
//! one at a time.

use std::collections::VecDeque;

use raftlog::{
    AppendResult, Config, Entry, EntryPayload, HardState, Index, Message, MessageBody, Raft,
    RestoredState, Role, Term,
};

type Node = Raft<String>;

/// A node driven with asynchronous writes: the batches' writes wait in
/// `queue` until `complete` makes them durable (in `log`, `hard_state`).
struct AsyncNode {
    raft: Node,
    queue: VecDeque<Write>,
    /// The durable log ("disk").
    log: Vec<Entry<String>>,
    hard_state: HardState,
    /// Committed entries handed out, applied once within `Status::stable`.
    held: VecDeque<Entry<String>>,
    applied: Vec<Entry<String>>,
}

struct Write {
    hard_state: Option<HardState>,
    entries: Vec<Entry<String>>,
    persisted_messages: Vec<Message<String>>,
}

impl AsyncNode {
    fn new(config: Config) -> Self {
        AsyncNode {
            raft: Raft::new(config, 7, RestoredState::default()).expect("node"),
            queue: VecDeque::new(),
            log: Vec::new(),
            hard_state: HardState::default(),
            held: VecDeque::new(),
            applied: Vec::new(),
        }
    }

    /// Takes every ready batch: returns the messages that may leave now,
    /// queues the writes, applies what is durable. Never calls `advance`.
    fn take_ready(&mut self) -> Vec<Message<String>> {
        let mut out = Vec::new();
        while self.raft.has_ready() {
            let rd = self.raft.ready();
            assert!(rd.snapshot.is_none() && rd.received_chunks.is_empty());
            out.extend(rd.messages);
            self.queue.push_back(Write {
                hard_state: rd.hard_state,
                entries: rd.entries,
                persisted_messages: rd.persisted_messages,
            });
            self.held.extend(rd.committed_entries);
            self.apply_durable();
        }
        out
    }

    /// The oldest queued write becomes durable: returns its persisted
    /// messages and reports it (its last entry) to the core.
    fn complete(&mut self) -> Vec<Message<String>> {
        let w = self.queue.pop_front().expect("a queued write");
        if let Some(hs) = w.hard_state {
            self.hard_state = hs;
        }
        if let Some(first) = w.entries.first() {
            self.log.retain(|e| e.index < first.index);
            self.log.extend(w.entries.iter().cloned());
        }
        if let Some(last) = w.entries.last() {
            self.raft.persisted(last.index, last.term);
        }
        self.apply_durable();
        w.persisted_messages
    }

    /// Completes every queued write; returns all their persisted messages
    /// and whatever the core then sends.
    fn complete_all(&mut self) -> Vec<Message<String>> {
        let mut out = Vec::new();
        while !self.queue.is_empty() {
            out.extend(self.complete());
            out.extend(self.take_ready());
        }
        out
    }

    fn apply_durable(&mut self) {
        let stable = self.raft.status().stable;
        while self.held.front().is_some_and(|e| e.index <= stable) {
            let e = self.held.pop_front().expect("front");
            self.applied.push(e);
        }
    }

    /// A crash: every write not completed is lost; restart from the disk.
    fn crash_and_restart(&mut self, config: Config) {
        let restored = RestoredState {
            hard_state: self.hard_state,
            entries: self.log.clone(),
            snapshot: None,
        };
        self.raft = Raft::new(config, 8, restored).expect("restart");
        self.queue.clear();
        self.held.clear();
        self.applied.clear();
    }
}

/// A node driven the plain way: every batch persisted, then `advance`.
fn drain(n: &mut Node) -> Vec<Message<String>> {
    let mut out = Vec::new();
    while n.has_ready() {
        let rd = n.ready();
        out.extend(rd.messages);
        out.extend(rd.persisted_messages);
        n.advance();
    }
    out
}

fn config(id: u64) -> Config {
    let mut c = Config::new(id, [1, 2, 3]);
    c.pre_vote = false;
    c.check_quorum = false;
    c
}

fn msg(from: u64, to: u64, term: u64, body: MessageBody<String>) -> Message<String> {
    Message {
        from,
        to,
        term,
        body,
    }
}

fn entry(index: Index, term: Term, payload: Option<&str>) -> Entry<String> {
    Entry {
        index,
        term,
        payload: payload.map_or(EntryPayload::Noop, |s| EntryPayload::Command(s.to_string())),
    }
}

fn append(
    from: u64,
    to: u64,
    term: Term,
    prev: (Index, Term),
    entries: Vec<Entry<String>>,
) -> Message<String> {
    msg(
        from,
        to,
        term,
        MessageBody::Append {
            prev_index: prev.0,
            prev_term: prev.1,
            entries,
            commit: 0,
        },
    )
}

fn to(msgs: &[Message<String>], id: u64) -> Vec<Message<String>> {
    msgs.iter().filter(|m| m.to == id).cloned().collect()
}

/// Thesis §10.2.1: a leader commits on a quorum of others while its own
/// write is still queued; it counts itself only up to what it reported
/// durable, and its late report changes nothing.
#[test]
fn leader_commits_on_two_followers_while_its_own_write_is_queued() {
    let mut l = AsyncNode::new(config(1));
    let mut f2 = Raft::new(config(2), 2, RestoredState::default()).expect("node");
    let mut f3 = Raft::new(config(3), 3, RestoredState::default()).expect("node");
    // Election: the vote request leaves once the vote is durable.
    l.raft.campaign();
    assert!(
        to(&l.take_ready(), 2).is_empty(),
        "vote request before the vote is durable"
    );
    let requests = l.complete_all();
    for m in to(&requests, 2) {
        f2.step(m).expect("step");
    }
    for m in to(&drain(&mut f2), 1) {
        l.raft.step(m).expect("step");
    }
    assert_eq!(l.raft.status().role, Role::Leader);
    // The no-op goes out at once; it is durable on the leader and both
    // followers before the proposal.
    let mut out = l.take_ready();
    out.extend(l.complete_all());
    for m in to(&out, 2) {
        f2.step(m).expect("step");
    }
    for m in to(&out, 3) {
        f3.step(m).expect("step");
    }
    for m in drain(&mut f2).into_iter().chain(drain(&mut f3)) {
        l.raft.step(m).expect("step");
    }
    l.complete_all();
    assert_eq!((l.raft.status().commit, l.raft.status().stable), (1, 1));

    // The proposal: its appends leave before the leader's write completes.
    let p = l.raft.propose("x".into()).expect("leader");
    assert_eq!(p.index, 2);
    let appends = l.take_ready();
    assert_eq!(l.queue.len(), 1, "the leader's write is queued");
    assert_eq!(l.raft.status().stable, 1);
    for m in to(&appends, 2) {
        f2.step(m).expect("step");
    }
    for m in to(&appends, 3) {
        f3.step(m).expect("step");
    }
    let (acks2, acks3) = (drain(&mut f2), drain(&mut f3));
    // One follower's acknowledgement is not enough: the leader does not
    // count its own queued entry.
    for m in to(&acks2, 1) {
        l.raft.step(m).expect("step");
    }
    assert_eq!(l.raft.status().commit, 1);
    // Two followers are a quorum without the leader.
    for m in to(&acks3, 1) {
        l.raft.step(m).expect("step");
    }
    let s = l.raft.status();
    assert_eq!(
        (s.commit, s.stable),
        (2, 1),
        "committed on the followers alone"
    );
    // The entry is handed out as committed but not applied: not durable here.
    let out = l.take_ready();
    assert!(l.applied.iter().all(|e| e.index < 2));
    assert_eq!(l.held.iter().map(|e| e.index).collect::<Vec<_>>(), [2]);
    // The followers hear the new commit index.
    assert!(
        to(&out, 2)
            .iter()
            .any(|m| matches!(m.body, MessageBody::Append { commit: 2, .. }))
    );

    // The leader's own write completes late: stable catches up, the entry
    // applies once, the commit index stays.
    l.complete();
    let s = l.raft.status();
    assert_eq!((s.commit, s.stable, s.role), (2, 2, Role::Leader));
    assert_eq!(l.applied.last().map(|e| e.index), Some(2));
    let rd = l.raft.ready();
    assert!(rd.committed_entries.is_empty(), "entry 2 handed out twice");
    assert!(rd.entries.is_empty());
    // The report again, and another proposal, behave as usual.
    l.raft.persisted(2, p.term);
    assert_eq!(l.raft.status().stable, 2);
    assert_eq!(l.raft.propose("y".into()).expect("leader").index, 3);
}

/// A write whose entries a new leader truncated and replaced (same index,
/// another term) completes after the truncation: its report is stale and
/// ignored; `stable` never covers the replaced entries, and moves only
/// once the replacing write completes.
#[test]
fn stale_report_after_truncation_and_replacement_is_ignored() {
    let mut f = AsyncNode::new(config(3));
    // Leader 1 (term 1) sends entries 1..=3.
    let old = vec![
        entry(1, 1, None),
        entry(2, 1, Some("a")),
        entry(3, 1, Some("b")),
    ];
    f.raft.step(append(1, 3, 1, (0, 0), old)).expect("step");
    assert!(f.take_ready().is_empty());
    assert_eq!(f.queue.len(), 1);
    // Leader 2 (term 2) replaces entry 2 onward with its own entry 2.
    f.raft
        .step(append(2, 3, 2, (1, 1), vec![entry(2, 2, None)]))
        .expect("step");
    f.take_ready();
    assert_eq!(f.queue.len(), 2);
    let s = f.raft.status();
    assert_eq!((s.last_index, s.last_term, s.stable), (2, 2, 0));

    // The first write lands: its report (3, 1) is about an entry that is
    // gone (3 > the handed entries) and is ignored, and so would be (2, 1)
    // (another term at 2 now).
    let acks = f.complete();
    assert_eq!(f.raft.status().stable, 0, "stale report (3, 1) accepted");
    f.raft.persisted(2, 1);
    assert_eq!(f.raft.status().stable, 0, "stale report (2, 1) accepted");
    // Its acknowledgement was for the old leader's entries, made durable.
    assert!(acks.iter().any(|m| m.to == 1
        && matches!(
            m.body,
            MessageBody::AppendResponse {
                result: AppendResult::Success { match_index: 3 }
            }
        )));
    // Leader 2 then extends its log past the old index 3 with its own term:
    // the old report still does not match.
    f.raft
        .step(append(
            2,
            3,
            2,
            (2, 2),
            vec![entry(3, 2, Some("c")), entry(4, 2, Some("d"))],
        ))
        .expect("step");
    f.take_ready();
    f.raft.persisted(3, 1);
    assert_eq!(f.raft.status().stable, 0, "stale report (3, 1) accepted");

    // The replacing writes land: stable follows them, and the durable log
    // is the new leader's.
    f.complete();
    assert_eq!(f.raft.status().stable, 2);
    f.complete();
    assert_eq!(f.raft.status().stable, 4);
    let terms: Vec<_> = f.log.iter().map(|e| (e.index, e.term)).collect();
    assert_eq!(terms, [(1, 1), (2, 2), (3, 2), (4, 2)]);
    // And the first write's report, repeated now, is still ignored.
    f.raft.persisted(3, 1);
    assert_eq!(f.raft.status().stable, 4);
}

/// `persisted` for an index already known durable, or beyond the entries
/// handed out in ready batches (even if the in-memory log has it), or for
/// an index the log does not have, changes nothing.
#[test]
fn persisted_is_a_no_op_for_stable_or_unhanded_indexes() {
    let mut f = AsyncNode::new(config(3));
    let first = vec![
        entry(1, 1, None),
        entry(2, 1, Some("a")),
        entry(3, 1, Some("b")),
    ];
    f.raft.step(append(1, 3, 1, (0, 0), first)).expect("step");
    f.take_ready();
    f.complete();
    assert_eq!(f.raft.status().stable, 3);

    // Already durable: no-ops (stable never goes back).
    f.raft.persisted(3, 1);
    f.raft.persisted(2, 1);
    f.raft.persisted(0, 0);
    assert_eq!(f.raft.status().stable, 3);
    assert!(!f.raft.has_ready());

    // In memory but not handed out yet: no-op.
    f.raft
        .step(append(
            1,
            3,
            1,
            (3, 1),
            vec![entry(4, 1, Some("c")), entry(5, 1, Some("d"))],
        ))
        .expect("step");
    assert_eq!(f.raft.status().last_index, 5);
    f.raft.persisted(5, 1);
    f.raft.persisted(4, 1);
    assert_eq!(
        f.raft.status().stable,
        3,
        "an entry not handed out counted durable"
    );
    // Beyond the log altogether, or with the wrong term: no-op.
    f.raft.persisted(9, 1);
    f.raft.persisted(u64::MAX, u64::MAX);
    assert_eq!(f.raft.status().stable, 3);

    // Once handed out, the same report counts.
    f.take_ready();
    f.raft.persisted(5, 2);
    assert_eq!(
        f.raft.status().stable,
        3,
        "a report with the wrong term counted"
    );
    f.raft.persisted(4, 1);
    assert_eq!(f.raft.status().stable, 4);
    f.complete(); // reports (5, 1)
    assert_eq!(f.raft.status().stable, 5);

    // On a leader, a report of what is already durable sends nothing.
    let mut l = AsyncNode::new(config(1));
    l.raft.campaign();
    l.take_ready();
    l.complete_all();
    l.raft
        .step(msg(2, 1, 1, MessageBody::VoteResponse { granted: true }))
        .expect("step");
    l.take_ready();
    l.complete_all();
    assert_eq!(l.raft.status().role, Role::Leader);
    assert_eq!(l.raft.status().stable, 1);
    assert!(!l.raft.has_ready());
    l.raft.persisted(1, 1);
    l.raft.persisted(0, 0);
    l.raft.persisted(2, 1);
    assert!(!l.raft.has_ready(), "a no-op report produced output");
    assert_eq!(l.raft.status().stable, 1);
}

/// The only voter elects itself within `campaign` (no vote request to wait
/// for): its new term and vote are then merely queued. It must not send
/// entries of that term before they are durable: after a crash that loses
/// the queued writes it restarts in the old term, elects itself in the same
/// term again and creates a different entry at an (index, term) that a
/// learner already holds: the learner keeps its own entry (same term, no
/// conflict) and applies it, the leader applies the other.
#[test]
fn a_lone_voter_sends_no_entries_of_its_term_before_the_term_is_durable() {
    let cfg = |id| {
        let mut c = Config::new(id, [1]);
        c.learners = vec![2];
        c.pre_vote = false;
        c.check_quorum = false;
        c
    };
    let mut l = AsyncNode::new(cfg(1));
    let mut learner = Raft::new(cfg(2), 2, RestoredState::default()).expect("learner");
    // Three round trips between the leader and the learner, completing no
    // write of the leader.
    let exchange = |l: &mut AsyncNode, learner: &mut Node, mut out: Vec<Message<String>>| {
        for _ in 0..3 {
            for m in to(&out, 2) {
                learner.step(m).expect("step");
            }
            for m in drain(learner) {
                l.raft.step(m).expect("step");
            }
            out = l.take_ready();
        }
    };

    // First incarnation: elected at once in term 1, proposes "A" while its
    // writes stay queued (the network is faster than its disk).
    l.raft.campaign();
    assert_eq!(l.raft.status().role, Role::Leader);
    let out = l.take_ready();
    exchange(&mut l, &mut learner, out);
    l.raft.propose("A".into()).expect("leader");
    let out = l.take_ready();
    exchange(&mut l, &mut learner, out);
    assert_eq!(
        l.raft.status().stable,
        0,
        "nothing of the leader is durable"
    );

    // Crash: both writes lost; the node restarts in term 0, elects itself
    // in term 1 again and proposes "B" at the same index.
    l.crash_and_restart(cfg(1));
    l.raft.campaign();
    assert_eq!(l.raft.status().term, 1);
    l.raft.propose("B".into()).expect("leader");
    let mut out = l.take_ready();
    for _ in 0..5 {
        out.extend(l.complete_all());
        for m in to(&out, 2) {
            learner.step(m).expect("step");
        }
        out.clear();
        for m in drain(&mut learner) {
            l.raft.step(m).expect("step");
        }
        out.extend(l.take_ready());
    }
    assert_eq!(l.raft.status().commit, 2);
    assert_eq!(learner.status().commit, 2);
    let payloads = |r: &Node| -> Vec<(Index, Term, EntryPayload<String>)> {
        r.log_entries()
            .iter()
            .map(|e| (e.index, e.term, e.payload.clone()))
            .collect()
    };
    assert_eq!(
        payloads(&learner),
        payloads(&l.raft),
        "the learner committed another entry than the leader"
    );
}
