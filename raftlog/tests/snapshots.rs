//! The snapshot contract of the core, driven through the public API:
//! compaction, the leader's chunk requests with one chunk in flight, the
//! follower's checks (offset, checksum, staleness) and install.

use raftlog::{
    AppendResult, Config, Entry, EntryPayload, Message, MessageBody, Raft, Ready, RestoredState,
    Role, SnapshotError, SnapshotMeta, SnapshotRequest, SnapshotResult, StepError, crc32c,
};

type Node = Raft<String>;

fn config(id: u64) -> Config {
    let mut c = Config::new(id, [1, 2, 3]);
    c.pre_vote = false;
    c.check_quorum = false;
    c.trailing_log_entries = 0;
    c.snapshot_chunk_bytes = 4;
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

/// Every ready batch, handed out as if persisted, merged.
fn drain(n: &mut Node) -> Ready<String> {
    let mut all = Ready::default();
    while n.has_ready() {
        let rd = n.ready();
        all.messages.extend(rd.messages);
        all.messages.extend(rd.persisted_messages);
        all.committed_entries.extend(rd.committed_entries);
        all.received_chunks.extend(rd.received_chunks);
        all.snapshot_requests.extend(rd.snapshot_requests);
        if rd.snapshot.is_some() {
            all.snapshot = rd.snapshot;
        }
        n.advance();
    }
    all
}

fn meta(index: u64, term: u64) -> SnapshotMeta {
    SnapshotMeta {
        index,
        term,
        voters: vec![1, 2, 3],
        learners: vec![],
    }
}

/// Node 1 leads term 1 with entries 1 (no-op) ..= 6 committed and applied,
/// acknowledged by node 2 only.
fn leader_with_log() -> Node {
    let mut n = Raft::new(config(1), 7, RestoredState::default()).expect("node");
    n.campaign();
    let _ = drain(&mut n);
    n.step(msg(2, 1, 1, MessageBody::VoteResponse { granted: true }))
        .expect("vote");
    let _ = drain(&mut n);
    assert_eq!(n.status().role, Role::Leader);
    for i in 0..5 {
        n.propose(format!("cmd{i}")).expect("propose");
    }
    let _ = drain(&mut n);
    n.step(msg(
        2,
        1,
        1,
        MessageBody::AppendResponse {
            result: AppendResult::Success { match_index: 6 },
        },
    ))
    .expect("ack");
    let rd = drain(&mut n);
    assert_eq!(rd.committed_entries.len(), 6);
    assert_eq!(n.status().applied, 6);
    n
}

#[test]
fn compact_checks_its_arguments() {
    let mut n = leader_with_log();
    assert_eq!(
        n.compact(meta(7, 1)),
        Err(SnapshotError::NotApplied {
            index: 7,
            applied: 6
        })
    );
    assert!(matches!(
        n.compact(meta(5, 9)),
        Err(SnapshotError::TermMismatch { index: 5, .. })
    ));
    n.compact(meta(5, 1)).expect("compact");
    assert_eq!(
        n.compact(meta(5, 1)),
        Err(SnapshotError::Stale {
            index: 5,
            current: 5
        })
    );
    // trailing_log_entries = 0: the log now starts after the snapshot.
    assert_eq!(n.status().first_index, 6);
    assert_eq!(n.status().snapshot_index, 5);
    assert_eq!(n.log_entries().len(), 1);
    assert_eq!(n.log_term(5), Some(1));
    assert_eq!(n.log_term(4), None);
}

#[test]
fn compact_keeps_the_trailing_window() {
    let mut c = config(1);
    c.voters = vec![1];
    c.trailing_log_entries = 2;
    let mut n: Node = Raft::new(c, 1, RestoredState::default()).expect("node");
    n.campaign();
    let _ = drain(&mut n);
    for i in 0..9 {
        n.propose(format!("c{i}")).expect("propose");
        let _ = drain(&mut n);
    }
    assert_eq!(n.status().applied, 10);
    // The metadata must carry this one-voter cluster's configuration.
    let meta = n.snapshot_meta_at(8, 1).expect("index 8 is known");
    assert_eq!(meta.voters, vec![1]);
    n.compact(meta).expect("compact");
    assert_eq!(n.status().first_index, 7, "entries 7 and 8 stay");
    assert_eq!(n.log_entries().len(), 4);
}

/// The leader asks for one chunk at a time, refuses chunks it did not ask
/// for, retries after a silence, and goes back to AppendEntries when done.
#[test]
fn leader_sends_chunks_one_at_a_time() {
    let mut n = leader_with_log();
    n.compact(meta(6, 1)).expect("compact");
    // Node 3 never answered; its probe (prev 0) is rejected now.
    n.step(msg(
        3,
        1,
        1,
        MessageBody::AppendResponse {
            result: AppendResult::Conflict {
                rejected_prev: 0,
                hint_index: 1,
                hint_term: None,
            },
        },
    ))
    .expect("reject");
    let rd = drain(&mut n);
    let req = SnapshotRequest {
        to: 3,
        index: 6,
        offset: 0,
        max_len: 4,
    };
    assert_eq!(rd.snapshot_requests, vec![req]);
    assert!(rd.messages.iter().all(|m| m.to != 3), "no append to 3 now");
    // A chunk at another offset, too long, or empty but not last: refused.
    assert!(!n.send_snapshot_chunk(
        &SnapshotRequest { offset: 4, ..req },
        b"abcd".to_vec(),
        false
    ));
    assert!(!n.send_snapshot_chunk(&req, b"abcde".to_vec(), false));
    assert!(!n.send_snapshot_chunk(&req, Vec::new(), false));
    assert!(n.send_snapshot_chunk(&req, b"abcd".to_vec(), false));
    let rd = drain(&mut n);
    let chunk = rd
        .messages
        .iter()
        .find(|m| m.to == 3)
        .expect("chunk message");
    match &chunk.body {
        MessageBody::Snapshot {
            meta: m,
            offset,
            data,
            checksum,
            last,
        } => {
            assert_eq!((m.index, m.term, *offset, *last), (6, 1, 0, false));
            assert_eq!(data, b"abcd");
            assert_eq!(*checksum, crc32c(b"abcd"));
        }
        other => panic!("expected a snapshot chunk, got {other:?}"),
    }
    // Back-pressure: a second request only after the answer...
    assert!(rd.snapshot_requests.is_empty());
    n.tick();
    assert!(drain(&mut n).snapshot_requests.is_empty());
    n.step(msg(
        3,
        1,
        1,
        MessageBody::SnapshotResponse {
            index: 6,
            result: SnapshotResult::Progress { offset: 4 },
        },
    ))
    .expect("progress");
    let rd = drain(&mut n);
    let req2 = SnapshotRequest { offset: 4, ..req };
    assert_eq!(rd.snapshot_requests, vec![req2]);
    // ...or after half an election timeout without one (a lost chunk).
    let mut retried = Vec::new();
    for _ in 0..10 {
        n.tick();
        retried.extend(drain(&mut n).snapshot_requests);
    }
    assert!(retried.contains(&req2), "no retry: {retried:?}");
    assert!(n.send_snapshot_chunk(&req2, b"ef".to_vec(), true));
    let _ = drain(&mut n);
    n.step(msg(
        3,
        1,
        1,
        MessageBody::SnapshotResponse {
            index: 6,
            result: SnapshotResult::Done { match_index: 6 },
        },
    ))
    .expect("done");
    let rd = drain(&mut n);
    assert!(
        rd.messages
            .iter()
            .any(|m| m.to == 3 && matches!(m.body, MessageBody::Append { prev_index: 6, .. })),
        "appends resume after the snapshot: {:?}",
        rd.messages
    );
    // A stale chunk answer now does nothing.
    assert!(!n.send_snapshot_chunk(&req2, b"ef".to_vec(), true));
}

fn chunk(meta: &SnapshotMeta, offset: u64, data: &[u8], last: bool) -> MessageBody<String> {
    MessageBody::Snapshot {
        meta: meta.clone(),
        offset,
        data: data.to_vec(),
        checksum: crc32c(data),
        last,
    }
}

fn responses(rd: &Ready<String>) -> Vec<SnapshotResult> {
    rd.messages
        .iter()
        .filter_map(|m| match m.body {
            MessageBody::SnapshotResponse { result, .. } => Some(result),
            _ => None,
        })
        .collect()
}

/// The follower stages chunks in order, answers a wrong offset with the one
/// it expects, refuses a bad checksum, and installs on the last chunk.
#[test]
fn follower_receives_checks_and_installs() {
    let mut f: Node = Raft::new(config(2), 3, RestoredState::default()).expect("node");
    let m = meta(10, 2);
    f.step(msg(1, 2, 2, chunk(&m, 0, b"abcd", false)))
        .expect("chunk 0");
    let rd = drain(&mut f);
    assert_eq!(rd.received_chunks.len(), 1);
    assert_eq!(responses(&rd), vec![SnapshotResult::Progress { offset: 4 }]);
    // Wrong offset: not staged, answered with the expected offset.
    f.step(msg(1, 2, 2, chunk(&m, 8, b"ijkl", false)))
        .expect("gap");
    let rd = drain(&mut f);
    assert!(rd.received_chunks.is_empty());
    assert_eq!(responses(&rd), vec![SnapshotResult::Progress { offset: 4 }]);
    // Bad checksum: refused, nothing happens.
    let mut bad = chunk(&m, 4, b"efgh", false);
    if let MessageBody::Snapshot { checksum, .. } = &mut bad {
        *checksum ^= 1;
    }
    assert!(matches!(
        f.step(msg(1, 2, 2, bad)),
        Err(StepError::Malformed { .. })
    ));
    let rd = drain(&mut f);
    assert!(rd.received_chunks.is_empty() && responses(&rd).is_empty());
    // Malformed metadata is refused too.
    assert!(
        f.step(msg(1, 2, 2, chunk(&meta(10, 3), 0, b"x", false)))
            .is_err()
    );
    assert!(
        f.step(msg(1, 2, 2, chunk(&m, u64::MAX, b"xy", false)))
            .is_err()
    );
    // The last chunk: install.
    f.step(msg(1, 2, 2, chunk(&m, 4, b"ef", true)))
        .expect("last");
    let rd = drain(&mut f);
    assert_eq!(rd.snapshot, Some(m.clone()));
    assert_eq!(
        responses(&rd),
        vec![SnapshotResult::Done { match_index: 10 }]
    );
    let s = f.status();
    assert_eq!(
        (
            s.commit,
            s.applied,
            s.last_index,
            s.first_index,
            s.snapshot_index
        ),
        (10, 10, 10, 11, 10)
    );
    assert!(rd.committed_entries.is_empty());
    // The log continues after the snapshot.
    f.step(msg(
        1,
        2,
        2,
        MessageBody::Append {
            prev_index: 10,
            prev_term: 2,
            entries: vec![Entry {
                index: 11,
                term: 2,
                payload: EntryPayload::Noop,
            }],
            commit: 11,
        },
    ))
    .expect("append");
    let rd = drain(&mut f);
    assert_eq!(rd.committed_entries.len(), 1);
    assert_eq!(f.status().commit, 11);
    // A duplicate of the old transfer: already covered.
    f.step(msg(1, 2, 2, chunk(&m, 0, b"abcd", false)))
        .expect("dup");
    let rd = drain(&mut f);
    assert!(rd.received_chunks.is_empty());
    assert_eq!(
        responses(&rd),
        vec![SnapshotResult::Done { match_index: 11 }]
    );
}

/// A restarted follower lost the transfer: a later chunk is answered with
/// offset 0 so that the leader starts over.
#[test]
fn follower_without_the_start_asks_for_offset_zero() {
    let mut f: Node = Raft::new(config(2), 3, RestoredState::default()).expect("node");
    f.step(msg(1, 2, 2, chunk(&meta(10, 2), 8, b"ijkl", false)))
        .expect("chunk");
    let rd = drain(&mut f);
    assert!(rd.received_chunks.is_empty());
    assert_eq!(responses(&rd), vec![SnapshotResult::Progress { offset: 0 }]);
}

/// A node restarts from a snapshot: the application's state holds it.
#[test]
fn restart_from_a_snapshot() {
    let restored = RestoredState {
        hard_state: raftlog::HardState {
            term: 3,
            voted_for: None,
        },
        entries: vec![Entry {
            index: 11,
            term: 3,
            payload: EntryPayload::Command("x".to_string()),
        }],
        snapshot: Some(meta(10, 2)),
    };
    let mut c = config(2);
    c.applied = 10;
    let n: Node = Raft::new(c.clone(), 1, restored.clone()).expect("restart");
    let s = n.status();
    assert_eq!((s.first_index, s.last_index, s.commit), (11, 11, 10));
    // A state machine behind the snapshot cannot restart.
    c.applied = 4;
    assert!(Raft::<String>::new(c, 1, restored).is_err());
}

/// Node 1 (leader, snapshot at 3) starts sending it to node 3.
fn leader_sending_snapshot_3() -> (Node, SnapshotRequest) {
    let mut n = leader_with_log();
    n.compact(meta(3, 1)).expect("compact");
    n.step(msg(
        3,
        1,
        1,
        MessageBody::AppendResponse {
            result: AppendResult::Conflict {
                rejected_prev: 0,
                hint_index: 1,
                hint_term: None,
            },
        },
    ))
    .expect("reject");
    let old = drain(&mut n).snapshot_requests;
    assert_eq!(old.len(), 1);
    assert_eq!((old[0].to, old[0].index, old[0].offset), (3, 3, 0));
    (n, old[0])
}

/// A newer snapshot reported in the middle of a transfer does not restart
/// it: the transfer finishes with the snapshot it started with, and the
/// follower then gets the newer one (the log was compacted past the first).
#[test]
fn a_newer_snapshot_does_not_restart_a_transfer_in_flight() {
    let (mut n, req) = leader_sending_snapshot_3();
    assert_eq!(n.snapshot_transfers(), vec![(3, meta(3, 1))]);
    n.compact(meta(6, 1)).expect("newer");
    assert!(
        drain(&mut n).snapshot_requests.is_empty(),
        "the transfer of 3 goes on"
    );
    assert_eq!(n.snapshot_transfers(), vec![(3, meta(3, 1))]);
    assert!(n.send_snapshot_chunk(&req, b"old".to_vec(), true));
    let rd = drain(&mut n);
    match &rd.messages[..] {
        [
            Message {
                to: 3,
                body: MessageBody::Snapshot { meta: m, last, .. },
                ..
            },
        ] => assert_eq!((m.index, *last), (3, true)),
        other => panic!("expected the chunk of snapshot 3, got {other:?}"),
    }
    // Done with 3: the compaction to 6 kept entries 4..=6 for the follower
    // in the middle of receiving 3 (it answered), so it catches up by
    // entries. Were they gone, it would need snapshot 6 next, and with
    // snapshots coming faster than a transfer it would never catch up.
    n.step(msg(
        3,
        1,
        1,
        MessageBody::SnapshotResponse {
            index: 3,
            result: SnapshotResult::Done { match_index: 3 },
        },
    ))
    .expect("done");
    let rd = drain(&mut n);
    assert!(
        rd.snapshot_requests.is_empty(),
        "another snapshot was started: {:?}",
        rd.snapshot_requests
    );
    let appended = rd.messages.iter().any(|m| {
        m.to == 3
            && matches!(
                &m.body,
                MessageBody::Append { prev_index: 3, entries, .. } if !entries.is_empty()
            )
    });
    assert!(appended, "no entries after 3 sent: {:?}", rd.messages);
    assert!(n.snapshot_transfers().is_empty());
}

/// A follower that starts over (offset 0) gets the newest snapshot.
#[test]
fn a_transfer_restarted_by_the_follower_takes_the_newest_snapshot() {
    let (mut n, req) = leader_sending_snapshot_3();
    assert!(n.send_snapshot_chunk(&req, b"abcd".to_vec(), false));
    n.compact(meta(6, 1)).expect("newer");
    let _ = drain(&mut n);
    n.step(msg(
        3,
        1,
        1,
        MessageBody::SnapshotResponse {
            index: 3,
            result: SnapshotResult::Progress { offset: 0 },
        },
    ))
    .expect("restart");
    let next = drain(&mut n).snapshot_requests;
    assert_eq!(next.len(), 1, "{next:?}");
    assert_eq!((next[0].index, next[0].offset), (6, 0));
    assert!(!n.send_snapshot_chunk(&req, b"old!".to_vec(), false));
}

/// The application refuses a received image (it fails verification) before
/// `advance`: nothing is installed, and the leader is asked to start over.
#[test]
fn a_rejected_snapshot_is_not_installed_and_is_asked_for_again() {
    let mut f: Node = Raft::new(config(2), 3, RestoredState::default()).expect("node");
    let m = meta(10, 2);
    f.step(msg(1, 2, 2, chunk(&m, 0, b"abcd", false)))
        .expect("chunk 0");
    let _ = drain(&mut f);
    f.step(msg(1, 2, 2, chunk(&m, 4, b"ef", true)))
        .expect("last");
    let rd = f.ready();
    assert_eq!(rd.received_chunks.len(), 1);
    assert!(rd.received_chunks[0].last);
    assert_eq!(
        rd.snapshot, None,
        "installed only after the chunk is staged"
    );
    assert_eq!(
        f.reject_snapshot(9),
        None,
        "not the snapshot being received"
    );
    assert_eq!(f.reject_snapshot(10), Some(1));
    f.advance();
    let rd = drain(&mut f);
    assert_eq!(rd.snapshot, None);
    assert_eq!(responses(&rd), vec![SnapshotResult::Progress { offset: 0 }]);
    let s = f.status();
    assert_eq!((s.commit, s.applied, s.snapshot_index), (0, 0, 0));
    // A later chunk of the refused transfer is answered with offset 0; the
    // transfer sent again from the start installs.
    f.step(msg(1, 2, 2, chunk(&m, 4, b"ef", true)))
        .expect("stale");
    assert_eq!(
        responses(&drain(&mut f)),
        vec![SnapshotResult::Progress { offset: 0 }]
    );
    f.step(msg(1, 2, 2, chunk(&m, 0, b"abcdef", true)))
        .expect("again");
    let rd = drain(&mut f);
    assert_eq!(rd.snapshot, Some(m));
    assert_eq!(f.status().snapshot_index, 10);
}

/// A leader that lost leadership drops the chunks it is handed.
#[test]
fn a_deposed_leader_sends_no_chunk() {
    let mut n = leader_with_log();
    n.compact(meta(6, 1)).expect("compact");
    n.step(msg(
        3,
        1,
        1,
        MessageBody::AppendResponse {
            result: AppendResult::Conflict {
                rejected_prev: 0,
                hint_index: 1,
                hint_term: None,
            },
        },
    ))
    .expect("reject");
    let reqs = drain(&mut n).snapshot_requests;
    n.step(msg(
        2,
        1,
        5,
        MessageBody::Heartbeat {
            commit: 0,
            read_seq: 0,
        },
    ))
    .expect("newer term");
    assert_eq!(n.status().role, Role::Follower);
    assert!(!n.send_snapshot_chunk(&reqs[0], b"x".to_vec(), true));
    assert!(
        drain(&mut n)
            .messages
            .iter()
            .all(|m| !matches!(m.body, MessageBody::Snapshot { .. }))
    );
}
