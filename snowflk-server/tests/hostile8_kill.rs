//! Hostile end-to-end test of claim 7: `snowflk-server` nodes SIGKILLed at
//! random moments under write load (values of every size, including ones
//! bigger than the preallocation step and bigger than a Raft log segment;
//! frequent snapshots and purges; a different `--raft-log-preallocate-bytes`
//! on every restart, odd ones included) restart cleanly every time, lose no
//! acknowledged write, and `snowflk-tools verify` on the killed node's Raft
//! log directory reports no error after each kill.
//!
//! Randomness is seeded (`HOSTILE8_SEED`, default below) and the seed is in
//! every failure message. No sleep is used to synchronise: the kill point is
//! a count of acknowledged writes the test polls for.

mod cluster_util;
mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster_util::{TIMING, connect, free_port, replication_info, retry};
use common::{Node, poll};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::Commands;

fn seed() -> u64 {
    std::env::var("HOSTILE8_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0008)
}

/// Preallocation steps tried, one per restart.
const STEPS: [u64; 7] = [1, 511, 513, 4097, 1 << 20, 0, 65536];
const SEGMENT: u64 = 65536;

/// The value written under `key`: `len` bytes derived from the key.
fn value(key: &str, len: usize) -> Vec<u8> {
    let k = key.as_bytes();
    (0..len)
        .map(|i| k[i % k.len()] ^ (i / k.len()) as u8)
        .collect()
}

/// One acknowledged write.
#[derive(Clone, Debug)]
struct Acked {
    key: String,
    len: usize,
}

/// Writer threads, each on its own keys, each recording what got `OK`.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Acked>>>,
    count: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(round: usize, seed: u64, addrs: Vec<std::net::SocketAddr>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicU64::new(0));
        let threads = addrs
            .into_iter()
            .enumerate()
            .map(|(w, addr)| {
                let (stop, acked, count) = (stop.clone(), acked.clone(), count.clone());
                std::thread::spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed ^ ((round as u64) << 32) ^ w as u64);
                    let mut conn: Option<redis::Connection> = None;
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        if conn.is_none() {
                            let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
                            match client.get_connection_with_timeout(Duration::from_secs(2)) {
                                Ok(c) => {
                                    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                                    conn = Some(c);
                                }
                                Err(_) => {
                                    // The node is down; the test stops us soon.
                                    std::thread::yield_now();
                                    std::thread::sleep(Duration::from_millis(20));
                                    continue;
                                }
                            }
                        }
                        let len = match rng.random_range(0..10) {
                            0..=4 => rng.random_range(1..200),
                            5..=6 => rng.random_range(200..5000),
                            7 => rng.random_range(4090..4200),
                            8 => rng.random_range(20_000..60_000),
                            _ => rng.random_range(SEGMENT as usize..SEGMENT as usize + 20_000),
                        };
                        let key = format!("h8-r{round}-w{w}-{i}");
                        i += 1;
                        let r: redis::RedisResult<String> = redis::cmd("SET")
                            .arg(&key)
                            .arg(value(&key, len))
                            .query(conn.as_mut().unwrap());
                        match r {
                            Ok(s) if s == "OK" => {
                                acked.lock().unwrap().push(Acked { key, len });
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => {}
                            Err(e)
                                if e.is_io_error()
                                    || e.is_connection_dropped()
                                    || e.is_timeout() =>
                            {
                                conn = None;
                            }
                            Err(_) => {} // TRYAGAIN, not leader, ...: no effect
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            acked,
            count,
            threads,
        }
    }

    fn wait_for(&self, n: u64, ctx: &str) {
        poll(&format!("{ctx}: {n} acknowledged writes"), || {
            (self.count.load(Ordering::Relaxed) >= n).then_some(())
        });
    }

    fn stop(self) -> Vec<Acked> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        Arc::try_unwrap(self.acked).unwrap().into_inner().unwrap()
    }
}

/// `snowflk-tools verify` on a Raft log directory: must report no error.
/// Returns the warnings it printed.
fn verify_raft(dir: &Path, ctx: &str) -> Vec<String> {
    let mut out = Vec::new();
    let status = snowflk_tools::verify::run(dir, &Default::default(), &mut out)
        .unwrap_or_else(|e| panic!("{ctx}: verify {} failed to run: {e}", dir.display()));
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(
        status,
        snowflk_tools::Status::Clean,
        "{ctx}: verify {}:\n{text}",
        dir.display()
    );
    text.lines()
        .filter(|l| l.starts_with("warning"))
        .map(str::to_string)
        .collect()
}

fn check_acked(conn: &mut redis::Connection, acked: &[Acked], ctx: &str) {
    for a in acked {
        let got: Option<Vec<u8>> = retry(&format!("{ctx}: GET {}", a.key), || conn.get(&a.key));
        let want = value(&a.key, a.len);
        assert!(
            got.as_deref() == Some(&want[..]),
            "{ctx}: ACKNOWLEDGED WRITE LOST OR CHANGED: {} ({} bytes): got {:?} bytes",
            a.key,
            a.len,
            got.map(|v| v.len())
        );
    }
}

fn raft_flags(step: u64) -> Vec<String> {
    [
        "--raft-log-segment-bytes",
        &SEGMENT.to_string(),
        "--raft-log-preallocate-bytes",
        &step.to_string(),
        "--snapshot-entries",
        "150",
        "--snapshot-trailing-entries",
        "20",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// One node (a one-member Raft cluster), killed at a random moment of
/// every round and restarted with the next preallocation step.
#[test]
fn hostile8_single_node_sigkill_rounds() {
    let seed = seed();
    let rounds: usize = std::env::var("HOSTILE8_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(14);
    let mut rng = StdRng::seed_from_u64(seed);
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("n1");
    let peer_port = free_port();
    let start = |step: u64| {
        let mut args: Vec<String> = vec![
            "--id".into(),
            "1".into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--peer-listen".into(),
            format!("127.0.0.1:{peer_port}"),
        ];
        args.extend(TIMING.iter().map(|s| s.to_string()));
        args.extend(raft_flags(step));
        Node::start_with(work.path(), "n1", &args, data_dir.clone())
    };
    let mut node = Some(start(STEPS[0]));
    let mut all_acked: Vec<Acked> = Vec::new();
    let mut warnings = 0;
    for round in 0..rounds {
        let step = STEPS[round % STEPS.len()];
        let ctx = format!("seed {seed} round {round} (preallocate {step})");
        let n = node.as_ref().unwrap();
        // Wait until it serves (a one-node cluster elects itself).
        let mut c = connect(n, Duration::from_secs(10)).unwrap();
        let _: () = retry(&format!("{ctx}: first write"), || c.set("h8-probe", round));
        let load = Load::start(round, seed, vec![n.addr; 3]);
        let kill_after = rng.random_range(1..120);
        load.wait_for(kill_after, &ctx);
        let mut dead = node.take().unwrap();
        dead.signal("KILL");
        dead.wait_exit();
        let acked = load.stop();
        let w = verify_raft(&data_dir.join("raft"), &ctx);
        warnings += w.len();
        for l in &w {
            eprintln!("{ctx}: {l}");
        }
        all_acked.extend(acked);
        // Restart with the next step: must come up (start_with panics if it exits).
        node = Some(start(STEPS[(round + 1) % STEPS.len()]));
        let mut c = connect(node.as_ref().unwrap(), Duration::from_secs(10)).unwrap();
        check_acked(&mut c, &all_acked, &format!("{ctx}, after restart"));
        eprintln!(
            "{ctx}: killed after {kill_after}+ acks; {} acknowledged writes so far, all present",
            all_acked.len()
        );
    }
    eprintln!(
        "seed {seed}: {rounds} kill rounds, {} acknowledged writes, {warnings} verify warnings",
        all_acked.len()
    );
    drop(node);
}

/// Three real nodes with the tests' Raft timing; node `i` is restarted with
/// whatever Raft log flags the round chooses.
struct Three {
    work: std::path::PathBuf,
    peer_ports: Vec<u16>,
    nodes: Vec<Option<Node>>,
}

impl Three {
    fn start(work: &Path, flags: &[String]) -> Three {
        let mut t = Three {
            work: work.to_path_buf(),
            peer_ports: (0..3).map(|_| free_port()).collect(),
            nodes: vec![None, None, None],
        };
        for id in 1..=3 {
            t.start_node(id, flags);
        }
        t
    }

    fn start_node(&mut self, id: u64, flags: &[String]) {
        let name = format!("n{id}");
        let data_dir = self.work.join(&name);
        let peers = self
            .peer_ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut args: Vec<String> = vec![
            "--id".into(),
            id.to_string(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--peer-listen".into(),
            format!("127.0.0.1:{}", self.peer_ports[(id - 1) as usize]),
            "--peers".into(),
            peers,
        ];
        args.extend(TIMING.iter().map(|s| s.to_string()));
        args.extend(flags.iter().cloned());
        self.nodes[(id - 1) as usize] = Some(Node::start_with(&self.work, &name, &args, data_dir));
    }

    fn node(&self, id: u64) -> &Node {
        self.nodes[(id - 1) as usize].as_ref().unwrap()
    }

    fn kill(&mut self, id: u64) {
        if let Some(mut n) = self.nodes[(id - 1) as usize].take() {
            n.signal("KILL");
            n.wait_exit();
        }
    }

    /// Waits until every node names the same leader, which says it leads.
    fn wait_leader(&self) -> u64 {
        poll("one leader known to every node", || {
            let mut leader = None;
            for id in 1..=3u64 {
                let info = replication_info(self.nodes[(id - 1) as usize].as_ref()?)?;
                let l: u64 = info.get("raft_leader")?.parse().ok()?;
                if leader.is_some_and(|x| x != l) {
                    return None;
                }
                leader = Some(l);
            }
            let l = leader?;
            let info = replication_info(self.nodes.get((l - 1) as usize)?.as_ref()?)?;
            (info.get("raft_role")?.as_str() == "leader").then_some(l)
        })
    }

    fn info_u64(&self, id: u64, key: &str) -> u64 {
        poll("INFO replication", || {
            replication_info(self.node(id))?.get(key)?.parse().ok()
        })
    }
}

/// Three nodes under write load through every node; each round SIGKILLs
/// the leader, a follower, or every node at once, at a random moment.
/// After each kill: verify each killed node's Raft log, restart it (with
/// the next preallocation step), wait for a leader, and read back every
/// write that got OK.
#[test]
fn hostile8_three_node_sigkill_rounds() {
    let seed = seed() ^ 0x3;
    let rounds: usize = std::env::var("HOSTILE8_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let mut rng = StdRng::seed_from_u64(seed);
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Three::start(work.path(), &raft_flags(4097));
    let mut all_acked: Vec<Acked> = Vec::new();
    let mut warnings = 0;
    let mut installs = 0;
    for round in 0..rounds {
        let leader = cluster.wait_leader();
        let followers: Vec<u64> = (1..=3).filter(|&i| i != leader).collect();
        let kind = rng.random_range(0..4);
        let victims: Vec<u64> = match kind {
            0 => vec![leader],
            1 | 3 => vec![followers[rng.random_range(0..2)]],
            _ => vec![1, 2, 3],
        };
        let ctx = format!(
            "seed {seed} round {round} (leader {leader}, kind {kind}, killing {victims:?})"
        );
        let addrs = (1..=3u64).map(|id| cluster.node(id).addr).collect();
        let load = Load::start(round, seed, addrs);
        let kill_after = rng.random_range(1..150);
        load.wait_for(kill_after, &ctx);
        for &v in &victims {
            cluster.kill(v);
        }
        if kind == 3 {
            // The follower stays down while the others go on far enough
            // for the leader to snapshot and purge past it; it restarts,
            // catches up by snapshot, and is killed again during that.
            let f = victims[0];
            let w = verify_raft(
                &work.path().join(format!("n{f}")).join("raft"),
                &format!("{ctx}, node {f} (first kill)"),
            );
            warnings += w.len();
            let leader_snaps = cluster.info_u64(leader, "raft_snapshots_taken");
            poll(
                &format!("{ctx}: the leader to snapshot twice while node {f} is down"),
                || {
                    (cluster.info_u64(leader, "raft_snapshots_taken") >= leader_snaps + 2)
                        .then_some(())
                },
            );
            cluster.start_node(f, &raft_flags(STEPS[(round + 3) % STEPS.len()]));
            if rng.random_bool(0.5) {
                // Killed only once it installed the snapshot (then appends).
                poll(&format!("{ctx}: node {f} to install a snapshot"), || {
                    (cluster.info_u64(f, "raft_snapshots_installed") >= 1).then_some(())
                });
                installs += 1;
            }
            // Otherwise killed while (probably) still catching up.
            let again = rng.random_range(0..40);
            let at = load.count.load(Ordering::Relaxed);
            load.wait_for(at + again, &ctx);
            cluster.kill(f);
        }
        let acked = load.stop();
        for &v in &victims {
            let w = verify_raft(
                &work.path().join(format!("n{v}")).join("raft"),
                &format!("{ctx}, node {v}"),
            );
            warnings += w.len();
            for l in &w {
                eprintln!("{ctx}: node {v}: {l}");
            }
        }
        all_acked.extend(acked);
        let flags = raft_flags(STEPS[round % STEPS.len()]);
        for &v in &victims {
            cluster.start_node(v, &flags);
        }
        let leader = cluster.wait_leader();
        let mut c = connect(cluster.node(leader), Duration::from_secs(10)).unwrap();
        check_acked(&mut c, &all_acked, &format!("{ctx}, after restart"));
        eprintln!(
            "{ctx}: killed after {kill_after}+ acks; {} acknowledged writes so far, all present",
            all_acked.len()
        );
    }
    // Every node catches up; then each is killed and its log verified.
    let leader = cluster.wait_leader();
    let commit = cluster.info_u64(leader, "raft_commit_index");
    for id in 1..=3 {
        poll(&format!("node {id} to apply {commit}"), || {
            (cluster.info_u64(id, "raft_applied_index") >= commit).then_some(())
        });
    }
    eprintln!(
        "seed {seed}: {rounds} kill rounds, {} acknowledged writes, {warnings} verify warnings, {installs} snapshot installs awaited",
        all_acked.len()
    );
    for id in 1..=3 {
        cluster.kill(id);
        verify_raft(
            &work.path().join(format!("n{id}")).join("raft"),
            &format!("seed {seed} final, node {id}"),
        );
    }
}
