//! Three real `snowflk-server` processes replicating through Raft:
//! election, replication to every node, TTL agreement, leader failover with
//! catch-up, and a full-cluster crash keeping every acknowledged write.

mod cluster_util;
mod common;

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cluster_util::{Cluster, connect, replication_info, retry};
use redis::Commands;

fn short() -> Duration {
    Duration::from_secs(10)
}

#[test]
fn three_nodes_elect_replicate_and_agree_on_ttl() {
    let work = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(work.path(), 3, &[]);
    let leader = cluster.wait_leader();

    // Writes sent to any node (followers forward) read back from every node.
    for id in 1..=3u64 {
        let mut c = connect(cluster.node(id), short()).unwrap();
        let key = format!("k{id}");
        retry("SET on a node", || {
            c.set::<_, _, ()>(&key, format!("v{id}"))
        });
    }
    for reader in 1..=3u64 {
        let mut c = connect(cluster.node(reader), short()).unwrap();
        for id in 1..=3u64 {
            let got: Option<String> = c.get(format!("k{id}")).unwrap();
            assert_eq!(
                got.as_deref(),
                Some(format!("v{id}").as_str()),
                "node {reader}"
            );
        }
    }

    // An expiry is fixed by the proposer: every node reports the same deadline.
    let mut c = connect(cluster.node(leader), short()).unwrap();
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg("x")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    let commit = cluster.commit_index(leader);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut deadlines = Vec::new();
    for id in 1..=3u64 {
        cluster.wait_applied(id, commit);
        let mut c = connect(cluster.node(id), short()).unwrap();
        let pttl: i64 = redis::cmd("PTTL").arg("t").query(&mut c).unwrap();
        let at = now + pttl;
        assert!(pttl > 90_000 && pttl <= 100_000, "node {id}: PTTL {pttl}");
        deadlines.push(at);
    }
    let spread = deadlines.iter().max().unwrap() - deadlines.iter().min().unwrap();
    assert!(
        spread < 2_000,
        "deadlines differ by {spread} ms: {deadlines:?}"
    );

    // A pipeline of writes, sent to a follower and to the leader, is
    // answered in order, one reply per write, data errors included (the
    // backend proposes it as few entries; each write still has its reply).
    let follower = (1..=3u64).find(|&id| id != leader).unwrap();
    for (round, id) in [follower, leader].into_iter().enumerate() {
        let mut c = connect(cluster.node(id), short()).unwrap();
        let counter = format!("pipe{round}");
        let mut pipe = redis::pipe();
        pipe.set(format!("word{round}"), "abc");
        for _ in 0..300 {
            pipe.cmd("INCR").arg(&counter);
        }
        pipe.cmd("INCR").arg(format!("word{round}"));
        pipe.cmd("APPEND").arg(&counter).arg("x");
        // Sent raw: the redis crate fails a whole pipeline on one error reply.
        let mut raw = cluster.node(id).raw();
        raw.write_all(&pipe.get_packed_pipeline()).unwrap();
        let mut reader = std::io::BufReader::new(raw);
        let mut parser = redis::Parser::new();
        let replies: Vec<redis::Value> = (0..303)
            .map(|_| parser.parse_value(&mut reader).unwrap())
            .collect();
        assert_eq!(replies.len(), 303, "node {id}");
        assert_eq!(replies[0], redis::Value::Okay);
        for (i, r) in replies[1..301].iter().enumerate() {
            assert_eq!(*r, redis::Value::Int(i as i64 + 1), "node {id} reply {i}");
        }
        assert!(
            matches!(&replies[301], redis::Value::ServerError(e) if e.details().unwrap_or("").contains("not an integer")),
            "node {id}: {:?}",
            replies[301]
        );
        assert_eq!(replies[302], redis::Value::Int(4));
        let got: String = c.get(&counter).unwrap();
        assert_eq!(got, "300x");
    }

    // Pipelined reads share one read index (one forwarded round trip from
    // a follower) and still see the writes before them in the pipeline.
    for (round, id) in [follower, leader].into_iter().enumerate() {
        let rounds = |node: &_| -> u64 {
            replication_info(node).unwrap()["raft_read_index_rounds"]
                .parse()
                .unwrap()
        };
        let before = rounds(cluster.node(leader));
        let key = format!("rk{round}");
        let mut pipe = redis::pipe();
        pipe.set(&key, "a");
        for _ in 0..300 {
            pipe.get(&key);
        }
        pipe.cmd("APPEND").arg(&key).arg("b");
        pipe.get(&key).cmd("STRLEN").arg(&key);
        pipe.cmd("EXISTS").arg(&key).arg("nokey");
        pipe.cmd("TTL").arg(&key).get("nokey");
        let mut raw = cluster.node(id).raw();
        raw.write_all(&pipe.get_packed_pipeline()).unwrap();
        let mut reader = std::io::BufReader::new(raw);
        let mut parser = redis::Parser::new();
        let replies: Vec<redis::Value> = (0..307)
            .map(|_| parser.parse_value(&mut reader).unwrap())
            .collect();
        assert_eq!(replies[0], redis::Value::Okay, "node {id}");
        for r in &replies[1..301] {
            assert_eq!(*r, redis::Value::BulkString(b"a".to_vec()), "node {id}");
        }
        assert_eq!(replies[301], redis::Value::Int(2), "node {id}");
        assert_eq!(
            replies[302..],
            [
                redis::Value::BulkString(b"ab".to_vec()),
                redis::Value::Int(2),
                redis::Value::Int(1),
                redis::Value::Int(-1),
                redis::Value::Nil
            ],
            "node {id}"
        );
        let used = rounds(cluster.node(leader)) - before;
        assert!(
            used < 100,
            "node {id}: 305 pipelined reads took {used} read index rounds"
        );
    }

    // Reads whose replies together exceed one peer frame (64 MiB; one
    // forwarded answer carries about 4 MiB): the leader answers the part
    // that fits, the follower asks again for the rest; every read gets its
    // value (before, the one oversized reply was dropped: TIMEOUT for all).
    let big = vec![b'v'; 1 << 20];
    let mut c = connect(cluster.node(leader), short()).unwrap();
    let _: () = c.set("big", big.as_slice()).unwrap();
    let mut pipe = redis::pipe();
    for _ in 0..72 {
        pipe.get("big");
    }
    let mut f = connect(cluster.node(follower), Duration::from_secs(30)).unwrap();
    let values: Vec<Vec<u8>> = pipe.query(&mut f).unwrap();
    assert_eq!(values.len(), 72);
    assert!(
        values.iter().all(|v| *v == big),
        "a large read came back wrong"
    );

    // INFO replication on the leader shows every follower's match index.
    let info = replication_info(cluster.node(leader)).unwrap();
    assert_eq!(info.get("raft_role").map(String::as_str), Some("leader"));
    for id in 1..=3u64 {
        let line = info
            .get(&format!("raft_peer{id}"))
            .unwrap_or_else(|| panic!("no raft_peer{id} in {info:?}"));
        assert!(!line.contains("match_index=-1"), "{line}");
    }

    // SETNX (its own log entry kind) and SETEX, sent through a follower,
    // apply alike on every node: each node in turn leads, so its reads
    // show its own state machine.
    let mut f = connect(cluster.node(follower), short()).unwrap();
    let first: i64 = redis::cmd("SETNX")
        .arg("nx")
        .arg("a")
        .query(&mut f)
        .unwrap();
    let second: i64 = redis::cmd("SETNX")
        .arg("nx")
        .arg("b")
        .query(&mut f)
        .unwrap();
    assert_eq!((first, second), (1, 0));
    let _: () = redis::cmd("SETEX")
        .arg("ex")
        .arg(100)
        .arg("v")
        .query(&mut f)
        .unwrap();
    // RENAME, RENAMENX, MSETNX and GETEX are log entry kinds too.
    let _: () = c.set("old-name", "r").unwrap();
    let _: () = redis::cmd("RENAME")
        .arg("old-name")
        .arg("new-name")
        .query(&mut f)
        .unwrap();
    let renamed: i64 = redis::cmd("RENAMENX")
        .arg("new-name")
        .arg("nx")
        .query(&mut f)
        .unwrap();
    assert_eq!(renamed, 0, "RENAMENX onto an existing key");
    let all: i64 = redis::cmd("MSETNX")
        .arg("m1")
        .arg("1")
        .arg("m2")
        .arg("2")
        .query(&mut f)
        .unwrap();
    let none: i64 = redis::cmd("MSETNX")
        .arg("m2")
        .arg("x")
        .arg("m3")
        .arg("3")
        .query(&mut f)
        .unwrap();
    assert_eq!((all, none), (1, 0));
    let got: String = redis::cmd("GETEX")
        .arg("m1")
        .arg("EX")
        .arg(200)
        .query(&mut f)
        .unwrap();
    assert_eq!(got, "1");
    for id in (1..=3u64).filter(|&id| id != leader).chain([leader]) {
        cluster.make_leader(id);
        let mut c = connect(cluster.node(id), short()).unwrap();
        let nx: String = c.get("nx").unwrap();
        assert_eq!(nx, "a", "node {id}");
        let ttl: i64 = redis::cmd("TTL").arg("ex").query(&mut c).unwrap();
        assert!(ttl > 90 && ttl <= 100, "node {id}: TTL {ttl}");
        let values: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&["old-name", "new-name", "m1", "m2", "m3"])
            .query(&mut c)
            .unwrap();
        let want = [None, Some("r"), Some("1"), Some("2"), None];
        assert_eq!(values, want.map(|v| v.map(String::from)), "node {id}");
        let ttl: i64 = redis::cmd("TTL").arg("m1").query(&mut c).unwrap();
        assert!(ttl > 190 && ttl <= 200, "node {id}: TTL of m1 {ttl}");
        let kind: String = redis::cmd("TYPE").arg("new-name").query(&mut c).unwrap();
        assert_eq!(kind, "string", "node {id}");
    }
}

#[test]
fn leader_killed_new_leader_takes_over_and_old_leader_catches_up() {
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(work.path(), 3, &[]);
    let old = cluster.wait_leader();
    let mut c = connect(cluster.node(old), short()).unwrap();
    for i in 0..20 {
        let _: () = c.set(format!("a{i}"), i).unwrap();
    }
    drop(c);

    cluster.kill(old);
    let new = cluster.wait_leader();
    assert_ne!(new, old);
    // Writes continue, through either survivor.
    for (n, id) in cluster.running().into_iter().enumerate() {
        let mut c = connect(cluster.node(id), short()).unwrap();
        for i in 0..20 {
            let key = format!("b{n}-{i}");
            retry("SET after failover", || c.set::<_, _, ()>(&key, i));
        }
    }
    let commit = cluster.commit_index(new);

    cluster.start_node(old);
    // The restarted node applies everything committed while it was down.
    cluster.wait_applied(old, commit);
    let mut c = connect(cluster.node(old), short()).unwrap();
    for n in 0..2 {
        for i in 0..20 {
            let got: Option<i64> =
                retry("GET on the restarted node", || c.get(format!("b{n}-{i}")));
            assert_eq!(got, Some(i), "b{n}-{i}\n{}", cluster.logs());
        }
    }
    for i in 0..20 {
        let got: Option<i64> = c.get(format!("a{i}")).unwrap();
        assert_eq!(got, Some(i));
    }
}

#[test]
fn every_acknowledged_write_survives_killing_all_nodes() {
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(work.path(), 3, &[]);
    cluster.wait_leader();
    // Several concurrent writers, each through a different node.
    let acked: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=3u64)
            .map(|id| {
                let node = cluster.node(id);
                s.spawn(move || {
                    let mut c = connect(node, short()).unwrap();
                    let mut acked = Vec::new();
                    for i in 0..60 {
                        let key = format!("w{id}-{i}");
                        if c.set::<_, _, ()>(&key, &key).is_ok() {
                            acked.push(key);
                        }
                    }
                    acked
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let acked: Vec<String> = acked.into_iter().flatten().collect();
    assert!(
        acked.len() > 100,
        "only {} writes acknowledged",
        acked.len()
    );

    for id in 1..=3 {
        cluster.kill(id);
    }
    for id in 1..=3 {
        cluster.start_node(id);
    }
    cluster.wait_leader();
    let mut c = connect(cluster.node(1), short()).unwrap();
    for key in &acked {
        let got: Option<String> = retry("GET after restart", || c.get(key));
        assert_eq!(
            got.as_deref(),
            Some(key.as_str()),
            "acknowledged write lost"
        );
    }
}

#[test]
fn sigterm_on_the_leader_hands_over_and_exits_cleanly() {
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(work.path(), 3, &[]);
    let leader = cluster.wait_leader();
    let mut c = connect(cluster.node(leader), short()).unwrap();
    let _: () = c.set("before", "1").unwrap();
    drop(c);
    let mut node = cluster.nodes[(leader - 1) as usize].take().unwrap();
    node.signal("TERM");
    let status = node.wait_exit();
    assert!(status.success(), "exit status {status}: {}", node.stderr());
    drop(node);
    let new = cluster.wait_leader();
    assert_ne!(new, leader);
    let mut c = connect(cluster.node(new), short()).unwrap();
    let got: Option<String> = retry("GET after SIGTERM", || c.get("before"));
    assert_eq!(got.as_deref(), Some("1"));
    // The stopped node restarts on its data directory (its locks were released).
    cluster.start_node(leader);
    let commit = cluster.commit_index(new);
    cluster.wait_applied(leader, commit);
}

/// Followers hand committed entries to their apply thread in batches (up to
/// 256, or at the next tick). A follower made leader right after the writes
/// must still read every one of them: it applies what it holds before it
/// answers a read. Fewer writes than one batch, so they are still held when
/// the transfer starts.
#[test]
fn a_follower_made_leader_reads_every_write_acknowledged_before() {
    let work = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(work.path(), 3, &[]);
    let mut leader = cluster.wait_leader();
    for round in 0..2 {
        let mut c = connect(cluster.node(leader), short()).unwrap();
        for i in 0..100 {
            retry("SET", || {
                c.set::<_, _, ()>(format!("r{round}-{i}"), format!("v{i}"))
            });
        }
        let next = (1..=3u64).find(|&id| id != leader).unwrap();
        cluster.make_leader(next);
        let mut c = connect(cluster.node(next), short()).unwrap();
        for r in 0..=round {
            for i in 0..100 {
                let got: Option<String> = retry("GET", || c.get(format!("r{r}-{i}")));
                assert_eq!(
                    got.as_deref(),
                    Some(format!("v{i}").as_str()),
                    "r{r}-{i} on the new leader {next}\n{}",
                    cluster.logs()
                );
            }
        }
        leader = next;
    }
}
