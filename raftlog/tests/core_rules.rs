//! Focused tests of the rules the seed blog's author got wrong (see
//! `DESIGN.md`), plus the request/response contract of the core, driven
//! through the public API only.

use raftlog::{
    AppendResult, Config, ConfigError, Entry, EntryPayload, Error, Message, MessageBody,
    ProposeError, Raft, RestoredState, Role,
};

type Node = Raft<String>;

fn config(id: u64) -> Config {
    let mut c = Config::new(id, [1, 2, 3]);
    c.pre_vote = false;
    c.check_quorum = false;
    c
}

fn node(id: u64, seed: u64) -> Node {
    Raft::new(config(id), seed, RestoredState::default()).expect("node")
}

/// Hands out every ready batch (as if persisted) and returns the messages.
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

fn msg(from: u64, to: u64, term: u64, body: MessageBody<String>) -> Message<String> {
    Message {
        from,
        to,
        term,
        body,
    }
}

/// Makes node 1 leader of term 1 (votes from node 2); also returns the
/// messages it sent on becoming leader.
fn leader_with_messages() -> (Node, Vec<Message<String>>) {
    let mut n = node(1, 7);
    n.campaign();
    drain(&mut n);
    n.step(msg(2, 1, 1, MessageBody::VoteResponse { granted: true }))
        .expect("step");
    let msgs = drain(&mut n);
    assert_eq!(n.status().role, Role::Leader);
    (n, msgs)
}

fn leader() -> Node {
    leader_with_messages().0
}

#[test]
fn heartbeat_must_be_far_below_the_election_timeout() {
    let mut c = Config::new(1, [1, 2, 3]);
    c.heartbeat_tick = 4;
    c.election_tick = 8;
    let err = Raft::<String>::new(c.clone(), 0, RestoredState::default())
        .err()
        .expect("refused");
    assert!(
        matches!(err, Error::Config(ConfigError::ElectionTooShort { .. })),
        "{err}"
    );
    c.election_tick = 20;
    assert!(Raft::<String>::new(c, 0, RestoredState::default()).is_ok());
}

#[test]
fn indexes_are_one_based_and_zero_means_before_the_first_entry() {
    let (l, msgs) = leader_with_messages();
    // The leader's no-op is entry 1; the probe to an empty follower checks
    // (prev_index 0, prev_term 0).
    assert_eq!(l.log_entries()[0].index, 1);
    let mut f = node(2, 3);
    let append = msgs
        .into_iter()
        .find(|m| m.to == 2 && matches!(m.body, MessageBody::Append { .. }))
        .expect("append to 2");
    match &append.body {
        MessageBody::Append {
            prev_index,
            prev_term,
            entries,
            ..
        } => {
            assert_eq!((*prev_index, *prev_term), (0, 0));
            assert_eq!(entries[0].index, 1);
        }
        _ => unreachable!(),
    }
    f.step(append).expect("step");
    let reply = drain(&mut f);
    assert!(matches!(
        reply[0].body,
        MessageBody::AppendResponse {
            result: AppendResult::Success { match_index: 1 }
        }
    ));
}

/// Figure 2: "Reply false if term < currentTerm" — in every role, with our
/// term in the reply so the stale sender steps down.
#[test]
fn append_with_a_lower_term_is_rejected_in_every_role() {
    let stale = |to| {
        msg(
            3,
            to,
            1,
            MessageBody::Append {
                prev_index: 0,
                prev_term: 0,
                entries: vec![Entry {
                    index: 1,
                    term: 1,
                    payload: EntryPayload::Command("stale".into()),
                }],
                commit: 1,
            },
        )
    };
    // Follower in term 2.
    let mut follower = node(1, 1);
    follower
        .step(msg(
            2,
            1,
            2,
            MessageBody::Heartbeat {
                commit: 0,
                read_seq: 0,
            },
        ))
        .expect("step");
    drain(&mut follower);
    // Candidate in term 2.
    let mut candidate = node(1, 1);
    candidate.campaign();
    candidate.campaign();
    drain(&mut candidate);
    // Pre-candidate in term 2.
    let mut pc_cfg = config(1);
    pc_cfg.pre_vote = true;
    let mut pre_candidate: Node = Raft::new(pc_cfg, 1, RestoredState::default()).expect("node");
    pre_candidate
        .step(msg(
            2,
            1,
            2,
            MessageBody::Heartbeat {
                commit: 0,
                read_seq: 0,
            },
        ))
        .expect("step");
    pre_candidate.campaign();
    drain(&mut pre_candidate);
    // Leader in term 2.
    let mut leader2 = node(1, 1);
    leader2.campaign();
    leader2.campaign();
    drain(&mut leader2);
    leader2
        .step(msg(2, 1, 2, MessageBody::VoteResponse { granted: true }))
        .expect("step");
    drain(&mut leader2);

    for (name, mut n, role) in [
        ("follower", follower, Role::Follower),
        ("candidate", candidate, Role::Candidate),
        ("pre-candidate", pre_candidate, Role::PreCandidate),
        ("leader", leader2, Role::Leader),
    ] {
        assert_eq!(n.status().role, role, "{name}: setup");
        assert_eq!(n.status().term, 2, "{name}: setup");
        let log_before = n.log_entries().to_vec();
        n.step(stale(1)).expect("step");
        let replies = drain(&mut n);
        assert_eq!(
            n.status().role,
            role,
            "{name}: a stale append must not change the role"
        );
        assert_eq!(
            n.log_entries(),
            &log_before[..],
            "{name}: a stale append must not touch the log"
        );
        let reply = replies
            .iter()
            .find(|m| m.to == 3)
            .expect("a reply to the stale leader");
        assert_eq!(reply.term, 2, "{name}: the reply carries the higher term");
        assert!(
            matches!(
                reply.body,
                MessageBody::AppendResponse {
                    result: AppendResult::Conflict { .. }
                }
            ),
            "{name}: {reply}"
        );
    }
}

/// Figure 2 (followers): granting a vote resets the election timer.
#[test]
fn granting_a_vote_resets_the_election_timer() {
    // Learn the node's first randomized timeout with a twin built from the same seed.
    let mut twin = node(1, 42);
    let mut timeout = 0;
    while twin.status().role == Role::Follower {
        twin.tick();
        timeout += 1;
    }
    let mut n = node(1, 42);
    for _ in 0..timeout - 1 {
        n.tick();
    }
    n.step(msg(
        2,
        1,
        1,
        MessageBody::Vote {
            last_index: 0,
            last_term: 0,
            transfer: false,
        },
    ))
    .expect("step");
    let replies = drain(&mut n);
    assert!(matches!(
        replies[0].body,
        MessageBody::VoteResponse { granted: true }
    ));
    // Without the reset, the next tick would start an election. The new
    // timeout is at least election_tick (10) ticks.
    for _ in 0..9 {
        n.tick();
        assert_eq!(
            n.status().role,
            Role::Follower,
            "the vote must have reset the election timer"
        );
    }
}

#[test]
fn election_timeouts_are_randomized_within_one_to_two_election_ticks() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..200 {
        let mut n = node(1, seed);
        let mut t = 0;
        while n.status().role == Role::Follower {
            n.tick();
            t += 1;
        }
        assert!((10..20).contains(&t), "timeout {t} out of [10, 20)");
        seen.insert(t);
    }
    assert!(
        seen.len() > 5,
        "timeouts should vary with the seed: {seen:?}"
    );
}

#[test]
fn a_vote_is_granted_once_per_term_and_only_to_an_up_to_date_log() {
    let mut l = leader();
    l.propose("x".into()).expect("propose");
    drain(&mut l);
    // Node 1 (leader, log 1@1 2@1) refuses a term-2 candidate with an empty log.
    l.step(msg(
        2,
        1,
        2,
        MessageBody::Vote {
            last_index: 0,
            last_term: 0,
            transfer: false,
        },
    ))
    .expect("step");
    let r = drain(&mut l);
    assert!(
        r.iter()
            .any(|m| matches!(m.body, MessageBody::VoteResponse { granted: false })),
        "§5.4.1"
    );
    // A fresh node votes for the first candidate of a term and refuses the second.
    let mut f = node(1, 5);
    f.step(msg(
        2,
        1,
        3,
        MessageBody::Vote {
            last_index: 0,
            last_term: 0,
            transfer: false,
        },
    ))
    .expect("step");
    f.step(msg(
        3,
        1,
        3,
        MessageBody::Vote {
            last_index: 0,
            last_term: 0,
            transfer: false,
        },
    ))
    .expect("step");
    let r = drain(&mut f);
    let granted: Vec<bool> = r
        .iter()
        .filter_map(|m| match m.body {
            MessageBody::VoteResponse { granted } => Some(granted),
            _ => None,
        })
        .collect();
    assert_eq!(granted, vec![true, false]);
    assert_eq!(f.status().voted_for, Some(2));
}

#[test]
fn votes_and_responses_wait_for_persistence_but_leader_appends_do_not() {
    let mut f = node(1, 5);
    f.step(msg(
        2,
        1,
        1,
        MessageBody::Vote {
            last_index: 0,
            last_term: 0,
            transfer: false,
        },
    ))
    .expect("step");
    let rd = f.ready();
    assert!(
        rd.messages.is_empty(),
        "a vote must not leave before the hard state is durable"
    );
    assert!(rd.hard_state.is_some_and(|hs| hs.voted_for == Some(2)));
    assert_eq!(rd.persisted_messages.len(), 1);
    f.advance();

    let mut l = node(1, 7);
    l.campaign();
    drain(&mut l);
    l.step(msg(2, 1, 1, MessageBody::VoteResponse { granted: true }))
        .expect("step");
    // The new leader's first batch: its no-op to persist, and appends that
    // may leave at once.
    let rd = l.ready();
    assert!(!rd.entries.is_empty());
    assert!(
        rd.messages
            .iter()
            .all(|m| matches!(m.body, MessageBody::Append { .. }))
    );
    assert!(
        !rd.messages.is_empty(),
        "a leader's appends may go out before its own write"
    );
    l.advance();
}

#[test]
fn followers_answer_proposals_and_reads_with_the_leader() {
    let mut f = node(2, 5);
    assert_eq!(
        f.propose("x".into()),
        Err(ProposeError::NotLeader { leader_hint: None })
    );
    f.step(msg(
        1,
        2,
        1,
        MessageBody::Heartbeat {
            commit: 0,
            read_seq: 0,
        },
    ))
    .expect("step");
    assert_eq!(
        f.propose("x".into()),
        Err(ProposeError::NotLeader {
            leader_hint: Some(1)
        })
    );
    assert_eq!(
        f.read_index(9),
        Err(ProposeError::NotLeader {
            leader_hint: Some(1)
        })
    );
}

#[test]
fn misrouted_and_malformed_messages_are_refused_without_effect() {
    let mut f = node(1, 5);
    let before = f.status();
    // A sender outside the configuration is no longer refused here: with
    // membership changes it may be a leader this node does not know yet.
    assert!(
        f.step(msg(1, 1, 5, MessageBody::TimeoutNow)).is_err(),
        "from itself"
    );
    assert!(
        f.step(msg(2, 7, 5, MessageBody::TimeoutNow)).is_err(),
        "wrong addressee"
    );
    let gap = MessageBody::Append {
        prev_index: 0,
        prev_term: 0,
        entries: vec![Entry {
            index: 2,
            term: 1,
            payload: EntryPayload::Noop,
        }],
        commit: 0,
    };
    assert!(f.step(msg(2, 1, 1, gap)).is_err(), "non-contiguous entries");
    assert!(
        f.step(msg(2, 1, u64::MAX, MessageBody::TimeoutNow))
            .is_err(),
        "absurd term"
    );
    assert_eq!(f.status(), before);
}

#[test]
fn single_node_cluster_commits_and_reads_on_its_own() {
    let mut n: Node = Raft::new(Config::new(1, [1]), 0, RestoredState::default()).expect("node");
    n.campaign();
    drain(&mut n);
    assert_eq!(n.status().role, Role::Leader);
    let p = n.propose("x".into()).expect("propose");
    n.read_index(77).expect("read");
    let mut applied = Vec::new();
    let mut reads = Vec::new();
    while n.has_ready() {
        let rd = n.ready();
        applied.extend(rd.committed_entries.iter().map(|e| e.index));
        reads.extend(rd.read_states);
        n.advance();
    }
    assert!(applied.contains(&p.index));
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].context, 77);
}
