//! `SNOWFLK BACKUP dir` and `snowflk-server --restore DIR`: a backup taken
//! while the node serves holds every acknowledged write (keys, values,
//! expiries, deletions) and none after; `snowflk-tools verify` accepts it;
//! a new one-node store started from it has the same contents and takes
//! new writes.

mod cluster_util;
mod common;

use std::path::Path;
use std::time::Duration;

use cluster_util::{Cluster, connect, retry};
use common::Node;
use redis::Commands;

fn verify_clean(dir: &Path) {
    let mut out = Vec::new();
    let status = snowflk_tools::verify::run(dir, &Default::default(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    assert_eq!(status, snowflk_tools::Status::Clean, "{text}");
    assert!(!text.contains("error:"), "{text}");
}

fn backup(c: &mut redis::Connection, dir: &Path) -> String {
    redis::cmd("SNOWFLK")
        .arg("BACKUP")
        .arg(dir.display().to_string())
        .query(c)
        .unwrap()
}

fn fill(c: &mut redis::Connection, n: usize) {
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.set(format!("k{i}"), format!("v{i}")).ignore();
    }
    pipe.cmd("SET")
        .arg("ttl")
        .arg("x")
        .arg("EX")
        .arg(1000)
        .ignore();
    pipe.del("k0").ignore();
    let () = pipe.query(c).unwrap();
}

fn check_contents(c: &mut redis::Connection, n: usize) {
    assert_eq!(c.get::<_, Option<String>>("k0").unwrap(), None);
    for i in 1..n {
        assert_eq!(
            c.get::<_, String>(format!("k{i}")).unwrap(),
            format!("v{i}"),
            "key k{i}"
        );
    }
    let ttl: i64 = c.ttl("ttl").unwrap();
    assert!(ttl > 900 && ttl <= 1000, "TTL {ttl}");
    assert_eq!(c.get::<_, Option<String>>("after").unwrap(), None);
    let size: usize = redis::cmd("DBSIZE").query(c).unwrap();
    assert_eq!(size, n); // k1..k{n-1} and ttl
}

fn restore_and_check(work: &Path, backup_dir: &Path, n: usize) {
    let data = work.join("restored");
    let args: Vec<String> = [
        "--data-dir",
        &data.display().to_string(),
        "--listen",
        "127.0.0.1:0",
        "--restore",
        &backup_dir.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let node = Node::start_with(work, "restored", &args, data.clone());
    let mut c = node.client();
    check_contents(&mut c, n);
    // The restored store is a new one-member cluster: it takes writes.
    let _: () = c.set("new", "1").unwrap();
    assert_eq!(c.get::<_, String>("new").unwrap(), "1");
    drop(node);
    // The backup is left as it was.
    verify_clean(backup_dir);
    // Restoring into a directory that holds data is refused, in one line.
    let (status, err) =
        common::run_to_exit(work, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!status.success());
    assert!(err.contains("needs an empty data directory"), "{err}");
}

#[test]
fn backup_of_a_none_node_restores_to_the_same_contents() {
    let work = tempfile::tempdir().unwrap();
    let node = Node::start_none(work.path(), "n", &[]);
    let mut c = node.client();
    fill(&mut c, 500);
    let dir = work.path().join("backup");
    let reply = backup(&mut c, &dir);
    assert!(reply.starts_with("OK dir="), "{reply}");
    let _: () = c.set("after", "1").unwrap();
    // A second backup into the same (now non-empty) directory is refused.
    let err = redis::cmd("SNOWFLK")
        .arg("BACKUP")
        .arg(dir.display().to_string())
        .query::<String>(&mut c)
        .unwrap_err();
    assert!(err.to_string().contains("backup failed"), "{err}");
    verify_clean(&dir);
    // A directory holding only a subdirectory is not empty; a directory
    // inside the node's data directory is refused.
    let nested = work.path().join("nested");
    std::fs::create_dir_all(nested.join("sub")).unwrap();
    let err = redis::cmd("SNOWFLK")
        .arg("BACKUP")
        .arg(nested.display().to_string())
        .query::<String>(&mut c)
        .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    for inside in [
        node.data_dir.join("bk"),
        node.data_dir.join("engine").join("bk"),
    ] {
        let err = redis::cmd("SNOWFLK")
            .arg("BACKUP")
            .arg(inside.display().to_string())
            .query::<String>(&mut c)
            .unwrap_err();
        assert!(
            err.to_string().contains("inside the node's data directory"),
            "{err}"
        );
        assert!(!inside.exists());
    }
    restore_and_check(work.path(), &dir, 500);
}

/// With the server's working directory inside its data directory, a
/// relative path none of whose parts exists yet is inside it too. (Before,
/// `engine.old` was accepted, and the next start deleted it as the
/// left-over of a snapshot install.)
#[test]
fn a_relative_backup_path_inside_the_data_directory_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("d");
    std::fs::create_dir_all(&data).unwrap();
    let args: Vec<String> = [
        "--replication",
        "none",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        ".",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let node = Node::start_with(&data, "n", &args, data.clone());
    let mut c = node.client();
    fill(&mut c, 10);
    for inside in ["engine.old", "bk", "new/sub", "./x", "../d/y"] {
        let err = redis::cmd("SNOWFLK")
            .arg("BACKUP")
            .arg(inside)
            .query::<String>(&mut c)
            .unwrap_err();
        assert!(
            err.to_string().contains("inside the node's data directory"),
            "{inside}: {err}"
        );
        assert!(!data.join(inside).exists(), "{inside}");
    }
    // A relative path outside it works.
    let reply = backup(&mut c, Path::new("../outside"));
    assert!(reply.starts_with("OK dir="), "{reply}");
    verify_clean(&work.path().join("outside"));
}

#[test]
fn backup_of_a_cluster_leader_restores_to_a_new_one_node_store() {
    let work = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(work.path(), 3, &[]);
    let leader = cluster.wait_leader();
    let mut c = connect(cluster.node(leader), Duration::from_secs(10)).unwrap();
    retry("a first write", || c.set::<_, _, ()>("warm", "up"));
    let _: i64 = c.del("warm").unwrap();
    fill(&mut c, 300);
    // Only the leader backs up: a follower's applied prefix could miss
    // acknowledged writes, so it refuses and names the leader.
    let follower = (1..=3u64).find(|&id| id != leader).unwrap();
    let mut f = connect(cluster.node(follower), Duration::from_secs(10)).unwrap();
    let not_here = work.path().join("from-follower");
    let err = redis::cmd("SNOWFLK")
        .arg("BACKUP")
        .arg(not_here.display().to_string())
        .query::<String>(&mut f)
        .unwrap_err();
    assert!(err.to_string().contains("not leader"), "{err}");
    assert!(!not_here.exists());
    // A transfer to a node that is not a member is a plain error, not
    // TRYAGAIN (retrying cannot help).
    let err = redis::cmd("SNOWFLK")
        .arg("TRANSFER-LEADER")
        .arg(99)
        .query::<String>(&mut c)
        .unwrap_err();
    assert_eq!(err.code(), Some("ERR"), "{err}");
    assert!(err.to_string().contains("not a voter"), "{err}");
    let dir = work.path().join("backup");
    let reply = backup(&mut c, &dir);
    assert!(reply.contains("applied_index="), "{reply}");
    let _: () = c.set("after", "1").unwrap();
    verify_clean(&dir);
    drop(cluster);
    restore_and_check(work.path(), &dir, 300);
    // --restore with other peers is refused: the restored data would be on
    // one node only.
    let (status, err) = common::run_to_exit(
        work.path(),
        &[
            "--data-dir",
            "x",
            "--restore",
            &dir.display().to_string(),
            "--peers",
            "1=127.0.0.1:1,2=127.0.0.1:2",
        ],
    );
    assert!(!status.success());
    assert!(err.contains("one-node"), "{err}");
}
