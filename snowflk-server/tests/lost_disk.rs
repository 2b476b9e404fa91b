//! A voter that comes back under its old id with an empty data directory
//! (a lost disk) forgot its votes and the entries it acknowledged. With a
//! lagging peer it could elect a leader that lacks acknowledged writes; the
//! data-directory incarnation in the peer handshake stops that, and the
//! documented repair (remove the id, join again) works.

mod cluster_util;
mod common;

use std::time::Duration;

use redis::Commands;

use cluster_util::{Cluster, TIMING, connect, replication_info, retry};
use common::{Node, poll, run_to_exit};

fn short() -> Duration {
    Duration::from_secs(10)
}

fn admin(node: &Node, args: &[&str]) -> redis::RedisResult<String> {
    let mut c = connect(node, short())?;
    let mut cmd = redis::cmd("SNOWFLK");
    for a in args {
        cmd.arg(*a);
    }
    cmd.query(&mut c)
}

/// The `/metrics` text of the node whose metrics port is in `port_file`.
fn metrics_text(port_file: &std::path::Path) -> String {
    use std::io::{Read, Write};
    let addr = std::fs::read_to_string(port_file).unwrap();
    let mut s = std::net::TcpStream::connect(addr.trim()).unwrap();
    s.set_read_timeout(Some(short())).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn is_leader(node: &Node) -> bool {
    replication_info(node).is_some_and(|i| i.get("raft_role").map(String::as_str) == Some("leader"))
}

/// What happened once node 2 came back empty next to a lagging node 3.
enum Outcome {
    /// Node 3 was elected (with the forgetful node 2's vote).
    Elected,
    /// Both directions of the link between 2 and 3 were refused.
    Refused,
}

/// Node 1 leads, node 3 is down: writes are acknowledged by 1 and 2 only.
/// Then 1 and 2 die, 2's data directory is lost, 3 restarts and 2 restarts
/// empty. Nodes 2 and 3 are a majority of the peer map; had node 3 been
/// elected with node 2's forgotten vote, the writes would be gone. They must
/// refuse each other instead, and once node 1 is back every write is there.
/// The repair then follows docs/server.md: remove id 2, join it again with a
/// new data directory, promote it; it serves as a voter.
#[test]
fn a_voter_back_with_an_empty_data_directory_cannot_elect_a_leader_without_acknowledged_writes() {
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(
        work.path(),
        3,
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--metrics-port-file",
            "m{id}.port",
        ],
    );
    cluster.wait_leader();
    cluster.make_leader(1);
    // Node 3 holds the first writes, so it is a real member with a log.
    {
        let mut c = connect(cluster.node(1), short()).unwrap();
        retry("SET before", || c.set::<_, _, ()>("before", "all three"));
    }
    let before = cluster.commit_index(1);
    cluster.wait_applied(3, before);

    // Killed, not paused: a paused node would still find the leader's
    // appends in its socket buffers when it resumes.
    cluster.kill(3);
    let acked: Vec<String> = {
        let mut c = connect(cluster.node(1), short()).unwrap();
        (0..20)
            .map(|i| {
                let key = format!("acked{i}");
                retry("SET while node 3 is down", || {
                    c.set::<_, _, ()>(&key, "by nodes 1 and 2")
                });
                key
            })
            .collect()
    };
    cluster.kill(1);
    cluster.kill(2);
    std::fs::remove_dir_all(work.path().join("n2")).unwrap();
    cluster.start_node(3);
    cluster.start_node(2);

    let outcome = poll(
        "node 3 elected, or nodes 2 and 3 refusing each other",
        || {
            if is_leader(cluster.node(3)) {
                return Some(Outcome::Elected);
            }
            let three = cluster.node(3).stderr();
            let two = cluster.node(2).stderr();
            let refused_both_ways = three.contains("that came back with another data directory")
                && three.contains("presents data-directory incarnation")
                && two.contains("known with another data directory");
            refused_both_ways.then_some(Outcome::Refused)
        },
    );
    if let Outcome::Elected = outcome {
        let mut c = connect(cluster.node(3), short()).unwrap();
        for key in &acked {
            let got: Option<String> = retry("GET on node 3", || c.get(key));
            assert_eq!(
                got.as_deref(),
                Some("by nodes 1 and 2"),
                "acknowledged write {key} lost: node 3 was elected with the vote of node 2, which had lost its data directory\n{}",
                cluster.logs()
            );
        }
        panic!(
            "node 3 was elected with the vote of a node that lost its data directory\n{}",
            cluster.logs()
        );
    }
    assert!(!is_leader(cluster.node(3)), "{}", cluster.logs());
    // Both sides count the refusals for alerting.
    for (node, peer) in [(3, "2"), (2, "3")] {
        let metrics = metrics_text(&work.path().join(format!("m{node}.port")));
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with("snowflk_peer_identity_mismatches_total{")
                    && l.contains(&format!("peer=\"{peer}\""))
            })
            .unwrap_or_else(|| panic!("node {node}: no mismatch counter for peer {peer}"));
        let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(count >= 1.0, "node {node}: {line}");
    }

    // Node 2 can take no part; node 1 comes back and 1 + 3 serve every write.
    cluster.kill(2);
    cluster.start_node(1);
    let leader = cluster.wait_leader();
    for id in [1, 3] {
        let mut c = connect(cluster.node(id), short()).unwrap();
        for key in &acked {
            let got: Option<String> = retry("GET after node 1 is back", || c.get(key));
            assert_eq!(got.as_deref(), Some("by nodes 1 and 2"), "node {id} {key}");
        }
    }

    // The repair: remove id 2, start it again empty with --join, promote it.
    retry("REMOVE-NODE 2", || {
        admin(cluster.node(leader), &["REMOVE-NODE", "2"])
    });
    std::fs::remove_dir_all(work.path().join("n2")).unwrap();
    let mut args: Vec<String> = vec![
        "--id".into(),
        "2".into(),
        "--data-dir".into(),
        work.path().join("n2").display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--peer-listen".into(),
        format!("127.0.0.1:{}", cluster.peer_ports[1]),
        "--join".into(),
        cluster.node(leader).addr.to_string(),
    ];
    args.extend(TIMING.iter().map(|s| s.to_string()));
    let rejoined = Node::start_with(work.path(), "n2-rejoined", &args, work.path().join("n2"));
    let commit = cluster.commit_index(leader);
    poll("the rejoined node 2 to catch up", || {
        let info = replication_info(&rejoined)?;
        let applied: u64 = info.get("raft_applied_index")?.parse().ok()?;
        (applied >= commit).then_some(())
    });
    retry("PROMOTE 2", || {
        admin(cluster.node(leader), &["PROMOTE", "2"])
    });
    // A voter now: with the other follower down, 2 and the leader commit.
    let other = if leader == 1 { 3 } else { 1 };
    cluster.kill(other);
    let mut c = connect(cluster.node(leader), short()).unwrap();
    retry("SET with the rejoined node as the second voter", || {
        c.set::<_, _, ()>("after", "rejoined")
    });
    let mut r = connect(&rejoined, short()).unwrap();
    for key in acked.iter().map(String::as_str).chain(["before", "after"]) {
        let got: Option<String> = retry("GET on the rejoined node", || r.get(key));
        assert!(got.is_some(), "{key} missing on the rejoined node");
    }
}

/// A data directory is one node's: starting it under another `--id` is a
/// one-line error and a non-zero exit, before anything is served.
#[test]
fn a_data_directory_started_under_another_id_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let mut node = Node::start_with(
        work.path(),
        "n1",
        &[
            "--id".into(),
            "1".into(),
            "--data-dir".into(),
            "data".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--peer-listen".into(),
            "127.0.0.1:0".into(),
        ],
        work.path().join("data"),
    );
    node.signal("TERM");
    assert!(node.wait_exit().success(), "{}", node.stderr());
    let identity = std::fs::read_to_string(work.path().join("data/IDENTITY")).unwrap();
    assert!(identity.contains("node=1"), "{identity}");

    let (status, stderr) = run_to_exit(
        work.path(),
        &[
            "--id",
            "2",
            "--data-dir",
            "data",
            "--listen",
            "127.0.0.1:0",
            "--peer-listen",
            "127.0.0.1:0",
        ],
    );
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("node 1's, but --id is 2"),
        "the error names both ids: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The command line of a node that joins through `via` with id `id`, data in
/// `work/n{id}` and the peer port `peer_port`.
fn join_args(work: &std::path::Path, id: u64, peer_port: u16, via: &Node) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--id".into(),
        id.to_string(),
        "--data-dir".into(),
        work.join(format!("n{id}")).display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--peer-listen".into(),
        format!("127.0.0.1:{peer_port}"),
        "--join".into(),
        via.addr.to_string(),
    ];
    args.extend(TIMING.iter().map(|s| s.to_string()));
    args
}

fn applied(node: &Node) -> Option<u64> {
    replication_info(node)?
        .get("raft_applied_index")?
        .parse()
        .ok()
}

/// hostile17 finding 1: node 3 is down while voter 2 loses its disk, is
/// removed, joins again and is promoted. Node 3 then catches up on all of
/// that in one go, without ever seeing node 2 as a learner. Once 2 and 3
/// are the only voters left they must elect a leader: node 3 learns node
/// 2's new incarnation from the `ADD-NODE` entry. (Before, it kept the old
/// one and refused node 2 forever: no leader.)
#[test]
fn a_node_that_slept_through_a_repair_accepts_the_repaired_voter() {
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(work.path(), 4, &[]);
    cluster.wait_leader();
    cluster.make_leader(1);
    {
        let mut c = connect(cluster.node(1), short()).unwrap();
        retry("SET", || c.set::<_, _, ()>("k", "v"));
    }
    let commit = cluster.commit_index(1);
    cluster.wait_applied(3, commit);
    cluster.kill(3);
    cluster.kill(2);
    std::fs::remove_dir_all(work.path().join("n2")).unwrap();
    retry("REMOVE-NODE 2", || {
        admin(cluster.node(1), &["REMOVE-NODE", "2"])
    });
    let rejoined = Node::start_with(
        work.path(),
        "n2-rejoined",
        &join_args(work.path(), 2, cluster.peer_ports[1], cluster.node(1)),
        work.path().join("n2"),
    );
    let commit = cluster.commit_index(1);
    poll("the rejoined node 2 to catch up", || {
        (applied(&rejoined)? >= commit).then_some(())
    });
    retry("PROMOTE 2", || admin(cluster.node(1), &["PROMOTE", "2"]));
    cluster.start_node(3);
    let commit = cluster.commit_index(1);
    cluster.wait_applied(3, commit);
    retry("REMOVE-NODE 4", || {
        admin(cluster.node(1), &["REMOVE-NODE", "4"])
    });
    cluster.kill(4);
    let commit = cluster.commit_index(1);
    cluster.wait_applied(3, commit);
    cluster.kill(1);
    poll("nodes 2 and 3 to elect a leader", || {
        (is_leader(cluster.node(3)) || is_leader(&rejoined)).then_some(())
    });
    let mut c = connect(cluster.node(3), short()).unwrap();
    let got: Option<String> = retry("GET on node 3", || c.get("k"));
    assert_eq!(got.as_deref(), Some("v"));
}

/// hostile17 finding 2, at its root: a node that sees a member as a
/// learner must not take a new incarnation from it either (it may already
/// be a voter whose acknowledgements counted elsewhere). Node 4 joins as a
/// learner, loses its disk and restarts with its `--join` line: every
/// member refuses it. (Before, learners' new incarnations were recorded.)
#[test]
fn a_joined_node_that_lost_its_disk_is_refused_even_as_a_learner() {
    let work = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(work.path(), 3, &[]);
    let leader = cluster.wait_leader();
    let port = cluster_util::free_port();
    let args = join_args(work.path(), 4, port, cluster.node(leader));
    let mut joined = Node::start_with(work.path(), "n4", &args, work.path().join("n4"));
    let commit = cluster.commit_index(leader);
    poll("node 4 to catch up", || {
        (applied(&joined)? >= commit).then_some(())
    });
    joined.signal("KILL");
    joined.wait_exit();
    std::fs::remove_dir_all(work.path().join("n4")).unwrap();
    let wiped = Node::start_with(work.path(), "n4-wiped", &args, work.path().join("n4"));
    // Node 4 is the only node that can be refused here.
    poll("every member to refuse the wiped node 4", || {
        (1..=3)
            .all(|id| {
                cluster
                    .node(id)
                    .stderr()
                    .contains("that came back with another data directory")
            })
            .then_some(())
    });
    assert!(
        wiped.stderr().contains("known with another data directory"),
        "{}",
        wiped.stderr()
    );
}
