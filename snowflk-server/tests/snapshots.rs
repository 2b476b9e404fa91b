//! Raft snapshots with real processes: the log stays bounded on disk while
//! a cluster takes many writes, a follower that missed them catches up
//! through a snapshot (also when killed in the middle of receiving it), and
//! its installed state holds every key.

mod cluster_util;
mod common;

use std::time::Duration;

use cluster_util::{Cluster, connect, dir_bytes, replication_info, retry};
use common::poll;
use redis::Commands;

fn short() -> Duration {
    Duration::from_secs(10)
}

/// Small snapshot interval, trailing window and log segments, so a few
/// thousand writes exercise compaction, purging and installation.
const SNAPSHOTS: [&str; 6] = [
    "--snapshot-entries",
    "200",
    "--snapshot-trailing-entries",
    "50",
    "--raft-log-segment-bytes",
    "16384",
];

fn info_u64(cluster: &Cluster, id: u64, key: &str) -> Option<u64> {
    replication_info(cluster.node(id))?.get(key)?.parse().ok()
}

fn write_keys(cluster: &Cluster, leader: u64, range: std::ops::Range<u32>) {
    let mut c = connect(cluster.node(leader), short()).unwrap();
    for i in range {
        retry("SET", || {
            c.set::<_, _, ()>(format!("key{i}"), format!("value{i}"))
        });
    }
}

/// Makes `id` the leader and checks it holds exactly keys `0..n` (its reads
/// are then local: they show what it installed and applied).
fn assert_holds_keys(cluster: &Cluster, id: u64, n: u32) {
    cluster.make_leader(id);
    let mut c = connect(cluster.node(id), short()).unwrap();
    let size: u64 = retry("DBSIZE", || redis::cmd("DBSIZE").query(&mut c));
    assert_eq!(
        size,
        u64::from(n),
        "node {id} key count\n{}",
        cluster.logs()
    );
    for i in 0..n {
        let v: Option<String> = retry("GET", || c.get(format!("key{i}")));
        assert_eq!(v, Some(format!("value{i}")), "node {id} key{i}");
    }
}

#[test]
fn the_log_stays_bounded_and_a_lagging_follower_catches_up_by_snapshot() {
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(work.path(), 3, &SNAPSHOTS);
    let leader = cluster.wait_leader();
    let lagging = (1..=3).find(|&id| id != leader).unwrap();
    cluster.kill(lagging);

    const KEYS: u32 = 4000;
    write_keys(&cluster, leader, 0..KEYS);

    // The leader compacted: its snapshots cover most of the log, which
    // starts near the latest one.
    // One INFO reply: a snapshot taken after the last write was applied may
    // be recorded (and the log compacted) between two separate queries.
    let info = replication_info(cluster.node(leader)).unwrap();
    let field = |key: &str| -> u64 { info[key].parse().unwrap() };
    let taken = field("raft_snapshots_taken");
    let snapshot = field("raft_snapshot_index");
    let first = field("raft_first_log_index");
    let last = field("raft_last_log_index");
    assert!(taken >= 10, "{taken} snapshots for {KEYS} writes");
    assert!(
        last - first < 200 + 50 + 200,
        "the in-memory log spans {first}..={last}"
    );
    assert!(
        snapshot >= first,
        "snapshot {snapshot} below the log start {first}"
    );

    // On disk: the log holds a bounded tail, far less than was written
    // (each entry is ~60 bytes; 4000 of them would be ~240 kB), and one
    // snapshot image is kept.
    let leader_dir = cluster.node(leader).data_dir.clone();
    let log_bytes = dir_bytes(&leader_dir.join("raft"));
    assert!(
        log_bytes < 4 * 16384 + 32 * 1024,
        "raft log directory holds {log_bytes} bytes"
    );
    // (A new image exists beside the old one until it is recorded.)
    poll("one snapshot image kept", || {
        let images = std::fs::read_dir(leader_dir.join("snapshots")).ok()?;
        (images.count() == 1).then_some(())
    });

    // The follower restarts far behind the leader's log: only a snapshot
    // can bring it back.
    cluster.start_node(lagging);
    poll("the lagging follower to install a snapshot", || {
        let installed = info_u64(&cluster, lagging, "raft_snapshots_installed")?;
        let applied = info_u64(&cluster, lagging, "raft_applied_index")?;
        (installed >= 1 && applied >= last).then_some(())
    });

    // It keeps following after a restart from its installed state.
    cluster.kill(lagging);
    cluster.start_node(lagging);
    let leader = cluster.wait_leader();
    write_keys(&cluster, leader, KEYS..KEYS + 10);
    assert_holds_keys(&cluster, lagging, KEYS + 10);
}

#[test]
fn a_follower_killed_while_receiving_a_snapshot_installs_it_after_restart() {
    let work = tempfile::tempdir().unwrap();
    // Values of 1 kB make the image a few MB: many 1 MiB chunks.
    let mut cluster = Cluster::start(work.path(), 3, &SNAPSHOTS);
    let leader = cluster.wait_leader();
    let lagging = (1..=3).find(|&id| id != leader).unwrap();
    cluster.kill(lagging);

    const KEYS: u32 = 3000;
    let big = "v".repeat(1000);
    let mut c = connect(cluster.node(leader), short()).unwrap();
    for i in 0..KEYS {
        retry("SET", || c.set::<_, _, ()>(format!("big{i}"), &big));
    }
    let last = info_u64(&cluster, leader, "raft_last_log_index").unwrap();

    // Kill the follower as soon as its staging directory appears (if the
    // transfer was already over, the restart below is a plain restart).
    let incoming = work.path().join(format!("n{lagging}/snapshots/incoming"));
    cluster.start_node(lagging);
    poll("the follower to start receiving", || {
        let installed = info_u64(&cluster, lagging, "raft_snapshots_installed").unwrap_or(0);
        (incoming.exists() || installed >= 1).then_some(())
    });
    cluster.kill(lagging);

    cluster.start_node(lagging);
    poll("the restarted follower to catch up", || {
        let applied = info_u64(&cluster, lagging, "raft_applied_index")?;
        (applied >= last).then_some(())
    });
    // The leader's side too: SIGKILL it while the cluster runs, and the
    // new leader (whose log is also compacted) serves everything.
    cluster.kill(leader);
    let new_leader = cluster.wait_leader();
    let mut c = connect(cluster.node(new_leader), short()).unwrap();
    let size: u64 = retry("DBSIZE", || redis::cmd("DBSIZE").query(&mut c));
    assert_eq!(size, u64::from(KEYS), "{}", cluster.logs());
    cluster.start_node(leader);
    assert_holds_big(&cluster, lagging, KEYS, &big);
}

fn assert_holds_big(cluster: &Cluster, id: u64, n: u32, value: &str) {
    cluster.make_leader(id);
    let mut c = connect(cluster.node(id), short()).unwrap();
    for i in 0..n {
        let v: Option<String> = retry("GET", || c.get(format!("big{i}")));
        assert_eq!(v.as_deref(), Some(value), "node {id} big{i}");
    }
}
