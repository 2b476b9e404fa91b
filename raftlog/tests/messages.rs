//! Messages and entries travel between nodes as postcard bytes. Decoding
//! arbitrary bytes must return an error, never panic; and no message a peer
//! can send — well-formed or hostile — may panic a node or break its local
//! invariants.

use raftlog::{
    AppendResult, Config, Entry, EntryPayload, HardState, Message, MessageBody, Raft,
    RestoredState, Role, SnapshotMeta, SnapshotResult, crc32c,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Cmd = String;

const SEED: u64 = 0x00c0_ffee;

fn samples() -> Vec<Message<Cmd>> {
    let e = |index, term, c: &str| Entry {
        index,
        term,
        payload: EntryPayload::Command(c.to_string()),
    };
    let bodies = vec![
        MessageBody::PreVote {
            last_index: 3,
            last_term: 2,
        },
        MessageBody::PreVoteResponse { granted: true },
        MessageBody::Vote {
            last_index: 3,
            last_term: 2,
            transfer: true,
        },
        MessageBody::VoteResponse { granted: false },
        MessageBody::Append {
            prev_index: 1,
            prev_term: 1,
            entries: vec![
                e(2, 2, "set x 1"),
                Entry {
                    index: 3,
                    term: 2,
                    payload: EntryPayload::Noop,
                },
            ],
            commit: 1,
        },
        MessageBody::AppendResponse {
            result: AppendResult::Success { match_index: 9 },
        },
        MessageBody::AppendResponse {
            result: AppendResult::Conflict {
                rejected_prev: 9,
                hint_index: 4,
                hint_term: Some(3),
            },
        },
        MessageBody::Heartbeat {
            commit: 5,
            read_seq: 7,
        },
        MessageBody::HeartbeatResponse { read_seq: 7 },
        MessageBody::TimeoutNow,
        MessageBody::Snapshot {
            meta: SnapshotMeta {
                index: 9,
                term: 3,
                voters: vec![1, 2, 3],
                learners: vec![4],
            },
            offset: 0,
            data: b"image".to_vec(),
            checksum: crc32c(b"image"),
            last: true,
        },
        MessageBody::SnapshotResponse {
            index: 9,
            result: SnapshotResult::Progress { offset: 5 },
        },
        MessageBody::SnapshotResponse {
            index: 9,
            result: SnapshotResult::Done { match_index: 9 },
        },
    ];
    bodies
        .into_iter()
        .map(|body| Message {
            from: 1,
            to: 2,
            term: 4,
            body,
        })
        .collect()
}

/// The snapshot messages are appended at the end of `MessageBody`, so the
/// tags of the older variants (and their bytes) are unchanged.
#[test]
fn snapshot_messages_take_the_next_tags() {
    for m in samples() {
        let bytes = postcard::to_allocvec(&m).expect("encode");
        // from 1, to 2, term 4: one varint byte each, then the body's tag.
        let expected = match m.body {
            MessageBody::TimeoutNow => 8,
            MessageBody::Snapshot { .. } => 9,
            MessageBody::SnapshotResponse { .. } => 10,
            _ => continue,
        };
        assert_eq!(bytes[..4], [1, 2, 4, expected], "{m}");
    }
    let hb = Message::<Cmd> {
        from: 1,
        to: 2,
        term: 3,
        body: MessageBody::Heartbeat {
            commit: 4,
            read_seq: 5,
        },
    };
    // The example in docs/format.md.
    assert_eq!(
        postcard::to_allocvec(&hb).expect("encode"),
        [1, 2, 3, 6, 4, 5]
    );
}

#[test]
fn messages_roundtrip_through_postcard() {
    for m in samples() {
        let bytes = postcard::to_allocvec(&m).expect("encode");
        let back: Message<Cmd> = postcard::from_bytes(&bytes).expect("decode");
        assert_eq!(back, m);
    }
    let hs = HardState {
        term: 9,
        voted_for: Some(3),
    };
    let bytes = postcard::to_allocvec(&hs).expect("encode");
    assert_eq!(
        postcard::from_bytes::<HardState>(&bytes).expect("decode"),
        hs
    );
}

#[test]
fn decoding_random_bytes_never_panics() {
    let mut rng = StdRng::seed_from_u64(SEED);
    let valid: Vec<Vec<u8>> = samples()
        .iter()
        .map(|m| postcard::to_allocvec(m).expect("encode"))
        .collect();
    let mut decoded = 0;
    for i in 0..50_000 {
        let bytes: Vec<u8> = if i % 2 == 0 {
            let len = rng.random_range(0..64);
            (0..len).map(|_| rng.random()).collect()
        } else {
            // Mutate a valid encoding: flip bytes, truncate, or extend.
            let mut b = valid[rng.random_range(0..valid.len())].clone();
            match rng.random_range(0..3) {
                0 => {
                    let n = b.len();
                    b[rng.random_range(0..n)] = rng.random();
                }
                1 => b.truncate(rng.random_range(0..b.len())),
                _ => b.extend((0..rng.random_range(1..8)).map(|_| rng.random::<u8>())),
            }
            b
        };
        if postcard::from_bytes::<Message<Cmd>>(&bytes).is_ok() {
            decoded += 1;
        }
        let _ = postcard::from_bytes::<Entry<Cmd>>(&bytes);
        let _ = postcard::from_bytes::<HardState>(&bytes);
    }
    // Some mutations stay valid; most do not. Either way, no panic.
    assert!(
        decoded > 0,
        "the mutation test should produce some decodable messages (seed {SEED})"
    );
}

fn random_message(rng: &mut StdRng, base_term: u64) -> Message<Cmd> {
    let pick = |rng: &mut StdRng| -> u64 {
        match rng.random_range(0..10) {
            0 => u64::MAX,
            1 => rng.random(),
            2 => 0,
            _ => rng.random_range(0..12),
        }
    };
    let term = if rng.random_bool(0.7) {
        base_term.saturating_add(rng.random_range(0..3))
    } else {
        pick(rng)
    };
    let body = match rng.random_range(0..13) {
        0 => MessageBody::PreVote {
            last_index: pick(rng),
            last_term: pick(rng),
        },
        1 => MessageBody::PreVoteResponse {
            granted: rng.random(),
        },
        2 => MessageBody::Vote {
            last_index: pick(rng),
            last_term: pick(rng),
            transfer: rng.random(),
        },
        3 => MessageBody::VoteResponse {
            granted: rng.random(),
        },
        4 => {
            let prev_index = pick(rng);
            let n = rng.random_range(0..4);
            let contiguous = rng.random_bool(0.8);
            let entries = (0..n)
                .map(|i| Entry {
                    index: if contiguous {
                        prev_index.wrapping_add(1 + i)
                    } else {
                        pick(rng)
                    },
                    term: if rng.random_bool(0.8) {
                        term
                    } else {
                        pick(rng)
                    },
                    payload: EntryPayload::Command(format!("x{i}")),
                })
                .collect();
            MessageBody::Append {
                prev_index,
                prev_term: pick(rng).min(term),
                entries,
                commit: pick(rng),
            }
        }
        5 => MessageBody::AppendResponse {
            result: AppendResult::Success {
                match_index: pick(rng),
            },
        },
        6 => MessageBody::AppendResponse {
            result: AppendResult::Conflict {
                rejected_prev: pick(rng),
                hint_index: pick(rng),
                hint_term: rng.random_bool(0.5).then(|| pick(rng)),
            },
        },
        7 => MessageBody::Heartbeat {
            commit: pick(rng),
            read_seq: pick(rng),
        },
        8 => MessageBody::HeartbeatResponse {
            read_seq: pick(rng),
        },
        9 => MessageBody::TimeoutNow,
        10 => {
            let data: Vec<u8> = (0..rng.random_range(0..6)).map(|_| rng.random()).collect();
            let checksum = if rng.random_bool(0.8) {
                crc32c(&data)
            } else {
                rng.random()
            };
            MessageBody::Snapshot {
                meta: SnapshotMeta {
                    index: pick(rng),
                    term: if rng.random_bool(0.8) {
                        pick(rng).min(term)
                    } else {
                        pick(rng)
                    },
                    voters: vec![1, 2, 3],
                    learners: Vec::new(),
                },
                offset: if rng.random_bool(0.5) { 0 } else { pick(rng) },
                data,
                checksum,
                last: rng.random_bool(0.3),
            }
        }
        11 => MessageBody::SnapshotResponse {
            index: pick(rng),
            result: SnapshotResult::Progress { offset: pick(rng) },
        },
        _ => MessageBody::SnapshotResponse {
            index: pick(rng),
            result: SnapshotResult::Done {
                match_index: pick(rng),
            },
        },
    };
    let from = if rng.random_bool(0.9) {
        rng.random_range(2..=3)
    } else {
        pick(rng)
    };
    let to = if rng.random_bool(0.95) { 1 } else { pick(rng) };
    Message {
        from,
        to,
        term,
        body,
    }
}

/// Hands out every batch; chunk requests get a few bytes back.
fn drain(node: &mut Raft<Cmd>) {
    while node.has_ready() {
        let rd = node.ready();
        node.advance();
        for req in &rd.snapshot_requests {
            let len = req.max_len.min(3);
            node.send_snapshot_chunk(req, vec![7; len], req.offset >= 6);
        }
    }
}

fn check_local_invariants(node: &Raft<Cmd>, ctx: &str) {
    let s = node.status();
    assert!(
        s.applied <= s.commit && s.commit <= s.last_index,
        "{ctx}: {s:?}"
    );
    assert!(
        s.first_index <= s.commit + 1
            && s.first_index == s.last_index + 1 - node.log_entries().len() as u64,
        "{ctx}: first index {s:?}"
    );
    for (i, e) in node.log_entries().iter().enumerate() {
        assert_eq!(e.index, s.first_index + i as u64, "{ctx}: hole in the log");
    }
    assert!(
        node.log_entries()
            .windows(2)
            .all(|w| w[0].term <= w[1].term),
        "{ctx}: terms decrease"
    );
}

/// Hostile and random messages, stepped into a node in every role: a
/// `StepError` is fine, a panic or a broken local invariant is not.
#[test]
fn hostile_messages_never_panic_a_node() {
    let mut rng = StdRng::seed_from_u64(SEED);
    for round in 0..300 {
        let mut node: Raft<Cmd> =
            Raft::new(Config::new(1, [1, 2, 3]), round, RestoredState::default()).expect("node");
        // Put the node in some role with some log.
        match round % 3 {
            0 => {}
            1 => node.campaign(),
            _ => {
                let mut cfg = Config::new(1, [1, 2, 3]);
                cfg.pre_vote = false;
                node = Raft::new(cfg, round, RestoredState::default()).expect("node");
                node.campaign();
                drain(&mut node);
                let term = node.status().term;
                let _ = node.step(Message {
                    from: 2,
                    to: 1,
                    term,
                    body: MessageBody::VoteResponse { granted: true },
                });
                assert_eq!(node.status().role, Role::Leader);
                for i in 0..5 {
                    let _ = node.propose(format!("cmd{i}"));
                }
                // Commit and compact, so that hostile answers meet
                // snapshot transfers.
                drain(&mut node);
                let _ = node.step(Message {
                    from: 2,
                    to: 1,
                    term,
                    body: MessageBody::AppendResponse {
                        result: AppendResult::Success { match_index: 6 },
                    },
                });
                drain(&mut node);
                if round % 2 == 0 {
                    node.compact(SnapshotMeta {
                        index: 4,
                        term,
                        voters: vec![1, 2, 3],
                        learners: Vec::new(),
                    })
                    .expect("compact");
                }
            }
        }
        drain(&mut node);
        for step in 0..200 {
            let m = random_message(&mut rng, node.status().term);
            let ctx = format!("seed {SEED} round {round} step {step}: {m}");
            let _ = node.step(m);
            assert!(
                node.status().term <= raftlog::MAX_TERM + 1,
                "{ctx}: term {}",
                node.status().term
            );
            if rng.random_bool(0.1) {
                node.tick();
            }
            drain(&mut node);
            check_local_invariants(&node, &ctx);
        }
    }
}
