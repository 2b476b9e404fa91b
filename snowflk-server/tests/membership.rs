//! Membership changes with real processes: a 3-node cluster takes 100,000
//! writes, a 4th node joins with `--join` as a learner and catches up by a
//! snapshot, is promoted, the leader itself is removed, every key reads back
//! from every remaining node, the logs stay bounded, and the configuration
//! survives restarting every node.

mod cluster_util;
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use cluster_util::{Cluster, TIMING, connect, dir_bytes, free_port, replication_info, retry};
use common::{Node, poll};

fn short() -> Duration {
    Duration::from_secs(10)
}

/// Pipelines become one log entry per 100 writes (about 2.5 kB), so
/// 100,000 writes are ~1,000 entries: snapshots every 100 entries.
const SNAPSHOTS: [&str; 8] = [
    "--snapshot-entries",
    "100",
    "--snapshot-bytes",
    "262144",
    "--snapshot-trailing-entries",
    "20",
    "--raft-log-segment-bytes",
    "65536",
];

const KEYS: u32 = 100_000;

/// Writes `key{i}` = `value{i}` for `range`, 100 commands per pipeline.
fn write_keys(node: &Node, range: std::ops::Range<u32>) {
    let mut c = connect(node, short()).unwrap();
    let keys: Vec<u32> = range.collect();
    for chunk in keys.chunks(100) {
        retry("pipelined SET", || {
            let mut p = redis::pipe();
            for i in chunk {
                p.cmd("SET")
                    .arg(format!("key{i}"))
                    .arg(format!("value{i}"))
                    .ignore();
            }
            p.query::<()>(&mut c)
        });
    }
}

/// `SNOWFLK MEMBERS` as id → (role, lag), RESP2 flat arrays.
fn members(node: &Node) -> Option<BTreeMap<u64, (String, i64)>> {
    let mut c = connect(node, short()).ok()?;
    let reply: Vec<Vec<redis::Value>> = redis::cmd("SNOWFLK").arg("MEMBERS").query(&mut c).ok()?;
    let mut out = BTreeMap::new();
    for fields in reply {
        let mut id = None;
        let mut role = None;
        let mut lag = None;
        for pair in fields.chunks(2) {
            let key: String = redis::from_redis_value(&pair[0]).ok()?;
            match key.as_str() {
                "id" => id = redis::from_redis_value::<u64>(&pair[1]).ok(),
                "role" => role = redis::from_redis_value::<String>(&pair[1]).ok(),
                "lag" => lag = redis::from_redis_value::<i64>(&pair[1]).ok(),
                _ => {}
            }
        }
        out.insert(id?, (role?, lag?));
    }
    Some(out)
}

fn admin(node: &Node, args: &[&str]) -> redis::RedisResult<String> {
    let mut c = connect(node, short())?;
    let mut cmd = redis::cmd("SNOWFLK");
    for a in args {
        cmd.arg(*a);
    }
    cmd.query(&mut c)
}

fn info_u64(node: &Node, key: &str) -> Option<u64> {
    replication_info(node)?.get(key)?.parse().ok()
}

/// The node that `node` names as leader, once it names one that leads.
fn leader_of(nodes: &[&Node]) -> u64 {
    poll("a leader every given node agrees on", || {
        let mut leader = None;
        for n in nodes {
            let info = replication_info(n)?;
            let l: u64 = info.get("raft_leader")?.parse().ok()?;
            if leader.is_some_and(|x| x != l) {
                return None;
            }
            leader = Some(l);
        }
        leader
    })
}

/// Makes `id` (at `node`) the leader, so its reads are local and show what
/// it holds, then checks every key.
fn assert_holds_every_key(node: &Node, id: u64) {
    poll(&format!("node {id} to lead"), || {
        let _ = admin(node, &["TRANSFER-LEADER", &id.to_string()]);
        let info = replication_info(node)?;
        (info.get("raft_role")?.as_str() == "leader").then_some(())
    });
    let mut c = connect(node, short()).unwrap();
    let size: u64 = retry("DBSIZE", || redis::cmd("DBSIZE").query(&mut c));
    assert_eq!(size, u64::from(KEYS), "node {id} key count");
    let keys: Vec<u32> = (0..KEYS).collect();
    for chunk in keys.chunks(2000) {
        let names: Vec<String> = chunk.iter().map(|i| format!("key{i}")).collect();
        let values: Vec<Option<String>> =
            retry("MGET", || redis::cmd("MGET").arg(&names).query(&mut c));
        for (i, v) in chunk.iter().zip(values) {
            assert_eq!(v, Some(format!("value{i}")), "node {id} key{i}");
        }
    }
}

fn start_joiner(work: &Path, peer_port: u16, join: Option<&Node>) -> Node {
    let join = join.map(|member| member.addr.to_string());
    let mut extra = Vec::new();
    if let Some(addr) = &join {
        extra = vec!["--join", addr.as_str()];
    }
    let args = joiner_args(work, peer_port, &extra);
    Node::start_with(work, "n4", &args, work.join("n4"))
}

/// Node 4's command line: data in `work/n4`, `extra` flags last.
fn joiner_args(work: &Path, peer_port: u16, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--id".into(),
        "4".into(),
        "--data-dir".into(),
        work.join("n4").display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--peer-listen".into(),
        format!("127.0.0.1:{peer_port}"),
    ];
    args.extend(TIMING.iter().map(|s| s.to_string()));
    args.extend(SNAPSHOTS.iter().map(|s| s.to_string()));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// A node that joined keeps `--join` in its command line (a unit file
/// does). Once that member is gone it must still restart — from its own
/// state, without asking to be added again — and follow the cluster.
/// (Before, every start with `--join` asked that member first and failed
/// with "connection refused".)
#[test]
fn a_joined_node_restarts_with_its_join_flag_after_that_member_is_gone() {
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(work.path(), 3, &SNAPSHOTS);
    let leader = cluster.wait_leader();
    write_keys(cluster.node(leader), 0..1000);
    let via = (1..=3).find(|&id| id != leader).unwrap();
    let via_addr = cluster.node(via).addr.to_string();
    let peer_port = free_port();
    let args = joiner_args(work.path(), peer_port, &["--join", &via_addr]);
    let mut joiner = Node::start_with(work.path(), "n4", &args, work.path().join("n4"));
    poll("node 4 to be a learner", || {
        let m = members(cluster.node(leader))?;
        (m.get(&4)?.0 == "learner").then_some(())
    });
    joiner.signal("TERM");
    assert!(joiner.wait_exit().success(), "{}", joiner.stderr());
    cluster.kill(via);

    let joiner = Node::start_with(work.path(), "n4", &args, work.path().join("n4"));
    let mut c = connect(cluster.node(leader), short()).unwrap();
    let _: () = retry("SET after the restart", || {
        redis::cmd("SET").arg("after").arg("restart").query(&mut c)
    });
    let commit = cluster.commit_index(leader);
    poll("the restarted node 4 to apply a new write", || {
        (info_u64(&joiner, "raft_applied_index")? >= commit).then_some(())
    });
    let m = members(cluster.node(leader)).unwrap();
    assert_eq!(m.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4], "{m:?}");
    assert!(
        joiner.stderr().contains("--join is not used again"),
        "{}",
        joiner.stderr()
    );
}

/// A node started with another `--cluster-id` would be refused by every
/// peer handshake: `--join` must refuse it before it becomes a member.
/// (Before, ADD-NODE made it a learner nobody could reach, and the joiner
/// ran on.)
#[test]
fn a_node_of_another_cluster_id_cannot_join() {
    let work = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(work.path(), 3, &[]);
    let leader = cluster.wait_leader();
    let via = cluster.node(leader).addr.to_string();
    let args = joiner_args(
        work.path(),
        free_port(),
        &["--cluster-id", "another", "--join", &via],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, stderr) = common::run_to_exit(work.path(), &args);
    assert!(!status.success(), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("snowflk-server:"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("cluster id"), "{stderr}");
    let m = members(cluster.node(leader)).unwrap();
    assert_eq!(m.keys().copied().collect::<Vec<_>>(), [1, 2, 3], "{m:?}");
}

#[test]
fn a_node_joins_by_snapshot_is_promoted_and_the_leader_is_removed() {
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(work.path(), 3, &SNAPSHOTS);
    let leader = cluster.wait_leader();
    write_keys(cluster.node(leader), 0..KEYS);
    let last = info_u64(cluster.node(leader), "raft_last_log_index").unwrap();
    assert!(
        info_u64(cluster.node(leader), "raft_first_log_index").unwrap() > 1,
        "the leader's log was never compacted: the joiner would not need a snapshot"
    );

    // A 4th node joins through a follower (which forwards ADD-NODE).
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    let peer_port = free_port();
    let mut joiner = Some(start_joiner(
        work.path(),
        peer_port,
        Some(cluster.node(follower)),
    ));
    poll("node 4 to catch up as a learner through a snapshot", || {
        let j = joiner.as_ref()?;
        let installed = info_u64(j, "raft_snapshots_installed")?;
        let applied = info_u64(j, "raft_applied_index")?;
        let m = members(cluster.node(leader))?;
        let (role, lag) = m.get(&4)?;
        (installed >= 1 && applied >= last && role == "learner" && *lag < 1000).then_some(())
    });
    // A learner does not count: the voters are still 1, 2, 3.
    let m = members(cluster.node(leader)).unwrap();
    assert_eq!(m.len(), 4, "{m:?}");
    assert_eq!(
        m.values()
            .filter(|(r, _)| r == "voter" || r == "leader")
            .count(),
        3
    );

    // Refusals are clear and change nothing.
    let err = admin(cluster.node(leader), &["ADD-NODE", "4", "127.0.0.1:1"]).unwrap_err();
    assert!(err.to_string().contains("already a member"), "{err}");
    let err = admin(cluster.node(leader), &["PROMOTE", "2"]).unwrap_err();
    assert!(err.to_string().contains("not a learner"), "{err}");
    let err = admin(cluster.node(leader), &["REMOVE-NODE", "9"]).unwrap_err();
    assert!(err.to_string().contains("not a member"), "{err}");

    retry("PROMOTE 4", || {
        admin(cluster.node(leader), &["PROMOTE", "4"])
    });
    poll("node 4 to be a voter", || {
        let (role, _) = members(cluster.node(leader))?.get(&4)?.clone();
        (role == "voter").then_some(())
    });

    // Remove the leader itself: it hands over and leaves.
    let removed = leader;
    let r = admin(
        cluster.node(removed),
        &["REMOVE-NODE", &removed.to_string()],
    );
    assert_eq!(r.as_deref(), Ok("OK"), "{}", cluster.logs());
    let remaining: Vec<u64> = (1..=3).filter(|&id| id != removed).collect();
    let new_leader = poll("a new leader among the remaining nodes", || {
        let nodes: Vec<&Node> = remaining
            .iter()
            .map(|&id| cluster.node(id))
            .chain(joiner.as_ref())
            .collect();
        let l = leader_of(&nodes);
        (l != removed).then_some(l)
    });
    assert_ne!(new_leader, removed);
    cluster.kill(removed);

    // Writes go on with the new configuration {remaining, 4}.
    let writer = if new_leader == 4 {
        joiner.as_ref().unwrap()
    } else {
        cluster.node(new_leader)
    };
    retry("SET after removal", || {
        let mut c = connect(writer, short())?;
        redis::cmd("SET")
            .arg("after")
            .arg("removal")
            .query::<()>(&mut c)
    });
    retry("DEL after removal", || {
        let mut c = connect(writer, short())?;
        redis::cmd("DEL").arg("after").query::<()>(&mut c)
    });
    let m = members(writer).unwrap();
    assert_eq!(
        m.keys().copied().collect::<Vec<_>>(),
        remaining.iter().copied().chain([4]).collect::<Vec<_>>(),
        "{m:?}"
    );

    // Every key, on every remaining node.
    for &id in &remaining {
        assert_holds_every_key(cluster.node(id), id);
    }
    assert_holds_every_key(joiner.as_ref().unwrap(), 4);

    // The logs stayed bounded: far below the ~6 MB that 100,000 entries
    // take, a few segments around the trailing window.
    for &id in &remaining {
        let bytes = dir_bytes(&cluster.node(id).data_dir.join("raft"));
        assert!(bytes < 8 * 65536, "node {id}: raft log {bytes} bytes");
    }
    let bytes = dir_bytes(&work.path().join("n4/raft"));
    assert!(bytes < 8 * 65536, "node 4: raft log {bytes} bytes");

    // The configuration survives restarting every node (node 4 without
    // --join: its data directory remembers it joined).
    for &id in &remaining {
        cluster.kill(id);
    }
    if let Some(mut j) = joiner.take() {
        j.signal("KILL");
        j.wait_exit();
    }
    for &id in &remaining {
        cluster.start_node(id);
    }
    let joiner = start_joiner(work.path(), peer_port, None);
    let nodes: Vec<&Node> = remaining
        .iter()
        .map(|&id| cluster.node(id))
        .chain([&joiner])
        .collect();
    let leader = leader_of(&nodes);
    assert_ne!(leader, removed, "the removed node leads again");
    let m = poll("members after the restart", || {
        let m = members(&joiner)?;
        (m.len() == 3).then_some(m)
    });
    assert_eq!(
        m.keys().copied().collect::<Vec<_>>(),
        remaining.iter().copied().chain([4]).collect::<Vec<_>>()
    );
    assert!(
        m.values().all(|(r, _)| r == "voter" || r == "leader"),
        "{m:?}"
    );
    assert_holds_every_key(&joiner, 4);
}

/// A joined member's peer address reaches the other nodes' member books
/// only when its `ADD-NODE` entry applies, and the engine does not fsync
/// (nor flush its write buffer) per entry: a SIGKILL loses the book record
/// while the Raft log keeps the entry, and so the configuration. Restarted,
/// a node must still dial that member, from the entry in its log: here
/// nodes 1 and 4 are a quorum of the voters {1, 2, 4} and must elect a
/// leader without node 2. (Before, node 1 had no address for node 4 and no
/// leader was ever elected until node 2 came back; hostile13.)
#[test]
fn a_joined_member_s_address_survives_a_crash_of_every_node() {
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(work.path(), 3, &SNAPSHOTS);
    cluster.wait_leader();
    // Node 2 leads while node 4 joins, so only node 2 snapshots the book:
    // node 1's copy stays in its engine's write buffer.
    cluster.make_leader(2);
    write_keys(cluster.node(2), 0..100);
    let peer_port = free_port();
    let mut joiner = start_joiner(work.path(), peer_port, Some(cluster.node(2)));
    poll("node 4 to catch up as a learner", || {
        let (role, lag) = members(cluster.node(2))?.get(&4)?.clone();
        (role == "learner" && lag < 10).then_some(())
    });
    retry("PROMOTE 4", || admin(cluster.node(2), &["PROMOTE", "4"]));
    retry("REMOVE-NODE 3", || {
        admin(cluster.node(2), &["REMOVE-NODE", "3"])
    });
    poll("node 3 to be removed", || {
        (!members(cluster.node(2))?.contains_key(&3)).then_some(())
    });
    cluster.kill(3);
    write_keys(cluster.node(2), 100..200);
    for id in [1, 2] {
        cluster.kill(id);
    }
    joiner.signal("KILL");
    joiner.wait_exit();
    drop(joiner);

    cluster.start_node(1);
    let joiner = start_joiner(work.path(), peer_port, None);
    let leader = leader_of(&[cluster.node(1), &joiner]);
    assert!(leader == 1 || leader == 4, "leader {leader}");
    let via = if leader == 1 {
        cluster.node(1)
    } else {
        &joiner
    };
    let mut c = connect(via, short()).unwrap();
    let got: Option<String> = retry("GET after the restart", || {
        redis::cmd("GET").arg("key199").query(&mut c)
    });
    assert_eq!(got.as_deref(), Some("value199"));
}
