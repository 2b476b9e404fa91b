//! Tests of the peer transport: splitting large appends into frames, and
//! links between real sockets (handshakes, membership, dead peers).

mod split_tests {
    use super::super::*;
    use raftlog::{Entry, EntryPayload};

    /// An AppendEntries too large for one frame is sent as several valid
    /// ones that chain: each continues at the previous one's last entry.
    #[test]
    fn an_append_too_large_for_a_frame_is_split_into_chained_appends() {
        let entries: Vec<Entry<Vec<u8>>> = (5..13)
            .map(|index| Entry {
                index,
                term: 2 + index / 10,
                payload: EntryPayload::Command(vec![index as u8; 300]),
            })
            .collect();
        let message = Message {
            from: 1,
            to: 2,
            term: 3,
            body: MessageBody::Append {
                prev_index: 4,
                prev_term: 2,
                entries: entries.clone(),
                commit: 9,
            },
        };
        let counters = PeerCounters::default();
        let mut frames = Vec::new();
        encode_run(&[message], 1000, &mut frames, &counters);
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 0);
        assert!(frames.len() >= 4, "{} frames", frames.len());
        let (mut prev, mut prev_term, mut sent) = (4, 2, Vec::new());
        for frame in &frames {
            let body: PeerFrame<Vec<u8>, ()> =
                wire::decode_frame_body(&frame[LEN_PREFIX..]).expect("decodes");
            let PeerFrame::Raft(messages) = body else {
                panic!("not a raft frame")
            };
            for m in messages {
                let MessageBody::Append {
                    prev_index,
                    prev_term: pt,
                    entries,
                    commit,
                } = m.body
                else {
                    panic!("not an append")
                };
                assert_eq!((prev_index, pt, commit), (prev, prev_term, 9));
                let last = entries.last().expect("entries");
                (prev, prev_term) = (last.index, last.term);
                sent.extend(entries);
            }
        }
        assert_eq!(sent, entries);
    }
}

mod membership_tests {
    use super::super::*;
    use crate::raft::wire::{Ack, Hello};
    use tokio::net::TcpStream;

    type TestTransport = Transport<u64, u64>;

    struct Node {
        transport: TestTransport,
        raft: mpsc::Receiver<Vec<Message<u64>>>,
        addr: String,
    }

    async fn node(
        id: NodeId,
        peers: BTreeMap<NodeId, String>,
        stop: &watch::Receiver<bool>,
    ) -> Node {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut config = TransportConfig::new(id, 7, peers);
        config.backoff_min = Duration::from_millis(1);
        config.backoff_max = Duration::from_millis(20);
        let (raft_tx, raft) = mpsc::channel(64);
        let (rpc, _rpc_rx) = mpsc::channel(64);
        let sinks = Sinks { raft: raft_tx, rpc };
        let transport = Transport::start(config, listener, sinks, stop.clone());
        Node {
            transport,
            raft,
            addr,
        }
    }

    fn heartbeat(from: NodeId, to: NodeId) -> Outbound<u64, u64> {
        Outbound::Raft(Message {
            from,
            to,
            term: 1,
            body: MessageBody::TimeoutNow,
        })
    }

    /// Sends from `sender` to `to` until `receiver` gets a message, or
    /// gives up after `limit` (each wait is on the channel, not a sleep).
    async fn delivered(
        sender: &Node,
        from: NodeId,
        to: NodeId,
        receiver: &mut Node,
        limit: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            sender.transport.send(to, heartbeat(from, to));
            if let Ok(Some(_)) =
                tokio::time::timeout(Duration::from_millis(20), receiver.raft.recv()).await
            {
                return true;
            }
        }
        false
    }

    fn v1_hello(from: NodeId, to: NodeId) -> [u8; wire::V1_HELLO_LEN] {
        Hello {
            version: wire::V1,
            cluster_id: 7,
            from,
            to,
            incarnation: 0,
        }
        .encode_v1()
    }

    fn frame_bytes(from: NodeId, to: NodeId) -> Vec<u8> {
        let Outbound::Raft(m) = heartbeat(from, to) else {
            unreachable!()
        };
        wire::encode_frame(
            &PeerFrame::<u64, u64>::Raft(vec![m]),
            wire::DEFAULT_MAX_FRAME,
        )
        .unwrap()
    }

    /// A node of the older build (protocol version 1, no incarnation) that
    /// dials this one is accepted while no incarnation is known for its id,
    /// so a rolling upgrade keeps a quorum; once one is known, its link is
    /// dropped and it is refused.
    #[tokio::test]
    async fn a_version_1_dialer_is_accepted_until_an_incarnation_is_known_for_it() {
        let (_stop_tx, stop) = watch::channel(false);
        let mut a = node(1, BTreeMap::from([(2, "127.0.0.1:1".to_string())]), &stop).await;
        let mut old = TcpStream::connect(&a.addr).await.unwrap();
        old.write_all(&v1_hello(2, 1)).await.unwrap();
        let mut ack = [0u8; wire::V1_ACK_LEN];
        old.read_exact(&mut ack).await.unwrap();
        assert_eq!(
            Ack::decode_v1(&ack).unwrap().status,
            AckStatus::Accepted,
            "{ack:?}"
        );
        old.write_all(&frame_bytes(2, 1)).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), a.raft.recv()).await;
        assert!(
            matches!(got, Ok(Some(_))),
            "the version-1 frame was not delivered"
        );

        // The membership now names an incarnation for node 2: the live
        // version-1 link ends before delivering another frame.
        a.transport.set_expected(BTreeMap::from([(2, 0xaa)]));
        let _ = old.write_all(&frame_bytes(2, 1)).await;
        let got = tokio::time::timeout(Duration::from_millis(300), a.raft.recv()).await;
        assert!(
            got.is_err(),
            "a frame of an unverifiable peer was delivered"
        );
        let mut again = TcpStream::connect(&a.addr).await.unwrap();
        again.write_all(&v1_hello(2, 1)).await.unwrap();
        again.read_exact(&mut ack).await.unwrap();
        assert_eq!(
            Ack::decode_v1(&ack).unwrap().status,
            AckStatus::VersionMismatch
        );
    }

    /// Dialing a node of the older build: it answers the version-2 hello
    /// with a version-1 mismatch, and the link is made again in version 1.
    #[tokio::test]
    async fn a_version_1_acceptor_is_spoken_to_in_version_1() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let old_addr = listener.local_addr().unwrap().to_string();
        let (got_tx, mut got_rx) = mpsc::channel::<(u16, Vec<u8>)>(8);
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let got_tx = got_tx.clone();
                tokio::spawn(async move {
                    // What a version-1 acceptor does: read 32 bytes, judge.
                    let mut b = [0u8; wire::V1_HELLO_LEN];
                    if s.read_exact(&mut b).await.is_err() {
                        return;
                    }
                    let version = u16::from_le_bytes([b[4], b[5]]);
                    let status = if version == 1 { 0u8 } else { 1u8 };
                    let _ = s
                        .write_all(&[b'S', b'F', b'K', b'A', 1, 0, status, 0])
                        .await;
                    if status != 0 {
                        return;
                    }
                    let mut frame = vec![0u8; 64];
                    if let Ok(n) = s.read(&mut frame).await {
                        frame.truncate(n);
                        let _ = got_tx.send((version, frame)).await;
                    }
                });
            }
        });
        let (_stop_tx, stop) = watch::channel(false);
        let a = node(1, BTreeMap::from([(2, old_addr)]), &stop).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let (version, frame) = loop {
            assert!(tokio::time::Instant::now() < deadline, "nothing arrived");
            a.transport.send(2, heartbeat(1, 2));
            if let Ok(Some(x)) =
                tokio::time::timeout(Duration::from_millis(20), got_rx.recv()).await
            {
                break x;
            }
        };
        assert_eq!(version, 1);
        assert!(!frame.is_empty());
        // Once an incarnation is known for node 2, version 1 is not spoken.
        a.transport.set_expected(BTreeMap::from([(2, 0xaa)]));
        let config = a.transport.config.clone();
        let err = dial(&config, 2, &a.transport.status()[0].addr)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, LinkError::UnverifiedPeer(2)), "{err}");
    }

    /// A peer that goes away is seen as disconnected without anything being
    /// sent to it (before, the outgoing link looked up until the next write,
    /// so INFO on a follower showed a dead follower as connected).
    #[tokio::test]
    async fn a_peer_that_goes_away_is_disconnected_without_a_write() {
        let (_stop_a_tx, stop_a) = watch::channel(false);
        let (stop_b_tx, stop_b) = watch::channel(false);
        let mut b = node(2, BTreeMap::new(), &stop_b).await;
        let a = node(1, BTreeMap::from([(2, b.addr.clone())]), &stop_a).await;
        b.transport
            .set_peers(&BTreeMap::from([(1, a.addr.clone()), (2, b.addr.clone())]));
        assert!(delivered(&a, 1, 2, &mut b, Duration::from_secs(10)).await);
        let connected = |t: &TestTransport| t.status().iter().any(|p| p.id == 2 && p.connected);
        assert!(connected(&a.transport));
        // Node 2 stops: its listener and readers end, its sockets close.
        let _ = stop_b_tx.send(true);
        drop(b);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while connected(&a.transport) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the link to a stopped peer still looks up"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A node added to the peer set while running is dialed and accepted;
    /// before it was added, its connections were refused.
    #[tokio::test]
    async fn peers_added_at_run_time_are_accepted_and_removed_ones_forgotten() {
        let (stop_tx, stop) = watch::channel(false);
        let mut a = node(1, BTreeMap::new(), &stop).await;
        let mut b = node(2, BTreeMap::from([(1, a.addr.clone())]), &stop).await;
        assert!(
            !delivered(&b, 2, 1, &mut a, Duration::from_millis(300)).await,
            "node 1 accepted a node it does not know"
        );
        a.transport
            .set_peers(&BTreeMap::from([(1, a.addr.clone()), (2, b.addr.clone())]));
        assert_eq!(a.transport.status().len(), 1, "its own id is not a peer");
        assert!(delivered(&b, 2, 1, &mut a, Duration::from_secs(10)).await);
        assert!(delivered(&a, 1, 2, &mut b, Duration::from_secs(10)).await);

        a.transport.set_peers(&BTreeMap::new());
        assert!(a.transport.status().is_empty());
        assert!(
            !a.transport.send(2, heartbeat(1, 2)),
            "sent to a removed peer"
        );
        let _ = stop_tx.send(true);
    }
}
