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

const BUSY_DIR: &str = "BITCASK_KILL_BUSY_DIR";
const BUSY_ROUND: &str = "BITCASK_KILL_BUSY_ROUND";

/// The key of step `step` of round `round`.
fn busy_key(round: u32, step: u64) -> String {
    format!("r{round}-{step:06}")
}

/// The value written at step `step`.
fn busy_value(step: u64) -> Vec<u8> {
    step.to_le_bytes().repeat(1 + (step % 13) as usize)
}

/// Step `step` puts its key; every 7th step then deletes the key of three
/// steps before (a second acknowledged write).
fn busy_deletes(step: u64) -> Option<u64> {
    (step.is_multiple_of(7) && step >= 3).then(|| step - 3)
}

/// Checks that `store` holds a prefix of round `round`'s writes: keys up to
/// the newest one present, each present unless its delete is in the prefix.
/// Returns a description of the first problem.
fn check_busy_prefix(store: &Bitcask, round: u32) -> Result<(), String> {
    let prefix = format!("r{round}-");
    let mut present: Vec<u64> = store
        .keys()
        .filter_map(|k| {
            let k = String::from_utf8(k).ok()?;
            k.strip_prefix(&prefix)?.parse().ok()
        })
        .collect();
    present.sort_unstable();
    let Some(&newest) = present.last() else {
        return Ok(());
    };
    for step in 0..=newest {
        let key = busy_key(round, step);
        let value = store
            .get(key.as_bytes())
            .map_err(|e| format!("get {key}: {e}"))?;
        // Deleted at step `step + 3`, after that step's put.
        let deleted = busy_deletes(step + 3) == Some(step);
        let must_be_gone = deleted && step + 3 < newest;
        let may_be_gone = deleted && step + 3 == newest;
        match value {
            Some(v) if v != busy_value(step) => return Err(format!("{key} has a wrong value")),
            Some(_) if must_be_gone => return Err(format!("deleted {key} is back")),
            None if !must_be_gone && !may_be_gone => {
                return Err(format!("hole at {key} (newest present is step {newest})"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The child of `sigkill_during_merges_rotations_and_read_only_opens`: writes
/// under `Always`, rotating and merging as it goes, while a second thread
/// keeps opening the directory read-only and checking what it sees.
#[test]
fn busy_child_writer() {
    let Ok(dir) = std::env::var(BUSY_DIR) else {
        return; // Only does something when started by the parent test.
    };
    let round: u32 = std::env::var(BUSY_ROUND).unwrap().parse().unwrap();
    let store = Bitcask::open(
        &dir,
        Options::default()
            .sync(SyncPolicy::Always)
            .max_file_size(16 * 1024),
    )
    .expect("child: open");
    let reader_dir = dir.clone();
    std::thread::spawn(move || {
        for n in 0u64.. {
            match Bitcask::open_read_only(&reader_dir) {
                Ok(ro) => match check_busy_prefix(&ro, round) {
                    Ok(()) => println!("ro {n}"),
                    Err(e) => println!("violation: read-only open #{n}: {e}"),
                },
                Err(e) => println!("violation: read-only open #{n} failed: {e}"),
            }
        }
    });
    for step in 0u64.. {
        let key = busy_key(round, step);
        store
            .put(key.as_bytes(), &busy_value(step))
            .expect("child: put");
        println!("put {step}");
        if let Some(victim) = busy_deletes(step) {
            let had = store
                .delete(busy_key(round, victim).as_bytes())
                .expect("child: delete");
            assert!(had, "child: delete of a live key said absent");
            println!("del {victim}");
        }
        if step % 40 == 39 {
            store.rotate().expect("child: rotate");
        }
        if step % 150 == 149 {
            store.merge_all().expect("child: merge_all");
        } else if step % 50 == 49 {
            store.merge().expect("child: merge");
        }
    }
}

/// Kills the child below when dropped, so a failing parent never leaves it running.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIGKILLs a writer that also rotates, merges, and has a thread opening
/// the directory read-only, at seeded random points over three rounds
/// (each round reopens what the last one left). Every acknowledged put is
/// there with its value, no acknowledged delete is undone, each round holds
/// a prefix of its writes, and every read-only open succeeded and saw a prefix.
#[test]
fn sigkill_during_merges_rotations_and_read_only_opens() {
    use rand::{Rng, SeedableRng};
    let seed: u64 = std::env::var("BITCASK_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_b17c);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    // Per round: last acknowledged put step, acknowledged deletes.
    let mut rounds: Vec<(Option<u64>, Vec<u64>)> = Vec::new();
    for round in 0..3u32 {
        let kill_after = rng.random_range(150..700u64);
        let context =
            format!("seed {seed} (BITCASK_KILL_SEED), round {round}, kill after {kill_after} puts");
        let stderr_path = logs.path().join(format!("child-{round}.stderr"));
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "busy_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(BUSY_DIR, dir.path())
            .env(BUSY_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let mut child = KillOnDrop(child);
        let stdout = child.0.stdout.take().unwrap();
        let mut last_put = None;
        let mut deletes = Vec::new();
        let mut violations = Vec::new();
        let mut read_only_opens = 0u64;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("put ") {
                let n: u64 = n.parse().unwrap();
                last_put = Some(n);
                if n + 1 == kill_after {
                    child.0.kill().unwrap(); // SIGKILL, mid-work.
                    break;
                }
            } else if let Some(n) = line.strip_prefix("del ") {
                deletes.push(n.parse::<u64>().unwrap());
            } else if line.starts_with("ro ") {
                read_only_opens += 1;
            } else if line.starts_with("violation") {
                violations.push(line);
            }
        }
        drop(child);
        assert!(violations.is_empty(), "{context}: {violations:#?}");
        assert_eq!(
            last_put.map(|n| n + 1),
            Some(kill_after),
            "{context}: child stopped early: {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        eprintln!("{context}: {read_only_opens} read-only opens checked");
        rounds.push((last_put, deletes));

        let store = Bitcask::open(dir.path(), Options::default()).unwrap_or_else(|e| {
            panic!("{context}: reopen after SIGKILL: {e}");
        });
        for (r, (last_put, deletes)) in rounds.iter().enumerate() {
            let r = r as u32;
            for step in 0..=last_put.unwrap_or(0) {
                let key = busy_key(r, step);
                let value = store.get(key.as_bytes()).unwrap();
                // The child runs ahead of what the parent has read: a delete
                // at or after the last acknowledged put may have happened
                // unacknowledged.
                let in_flight = !deletes.contains(&step)
                    && busy_deletes(step + 3) == Some(step)
                    && step + 3 >= last_put.unwrap_or(0);
                if in_flight {
                    if value.is_some() {
                        assert_eq!(
                            value,
                            Some(busy_value(step)),
                            "{context}: {key} wrong value"
                        );
                    }
                } else if deletes.contains(&step) {
                    assert_eq!(
                        value, None,
                        "{context}: acknowledged delete of {key} undone"
                    );
                } else {
                    assert_eq!(
                        value,
                        Some(busy_value(step)),
                        "{context}: acknowledged put of {key} lost"
                    );
                }
            }
            if let Err(e) = check_busy_prefix(&store, r) {
                panic!("{context}: after reopen, round {r}: {e}");
            }
        }
        drop(store);
    }
}
