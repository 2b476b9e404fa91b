//! Kills a real writer process with SIGKILL while it writes under `Always`
//! and proves that every key it acknowledged (printed to its parent after
//! `put` returned) is present after reopening.
//!
//! The child is this same test binary, re-run with an environment variable
//! that turns `child_writer` into the writing loop.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use bitcask::{Bitcask, Options, SyncPolicy};

const CHILD_DIR: &str = "BITCASK_KILL_TEST_DIR";

#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return; // Only does something when started by the parent test.
    };
    let store = Bitcask::open(
        &dir,
        Options::default()
            .sync(SyncPolicy::Always)
            .max_file_size(64 * 1024),
    )
    .expect("child: open");
    for i in 0u64.. {
        let key = format!("key-{i}");
        store
            .put(key.as_bytes(), &i.to_le_bytes().repeat(8))
            .expect("child: put");
        println!("ack {i}");
    }
}

#[test]
fn sigkill_during_writes_loses_no_acknowledged_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acknowledged = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ack ") {
            acknowledged.push(n.parse::<u64>().unwrap());
            if acknowledged.len() == 1500 {
                // SIGKILL: no destructor, no flush, mid-write.
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(acknowledged.len(), 1500, "child stopped early");

    let store = Bitcask::open(dir.path(), Options::default()).unwrap();
    for i in &acknowledged {
        let value = store.get(format!("key-{i}").as_bytes()).unwrap();
        assert_eq!(
            value,
            Some(i.to_le_bytes().repeat(8)),
            "acknowledged key-{i} lost"
        );
    }
    // Whatever else survived is a prefix: keys 0..n with no holes.
    let survived = store.len() as u64;
    for i in 0..survived {
        assert!(
            store.contains_key(format!("key-{i}").as_bytes()),
            "hole at key-{i}"
        );
    }
}
