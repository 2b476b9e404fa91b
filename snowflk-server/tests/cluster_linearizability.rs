//! A randomized, seeded workload of concurrent clients (GET / SET / CAS /
//! DEL on a few keys) against a 3-node cluster while a nemesis SIGKILLs,
//! pauses (SIGSTOP/SIGCONT) and restarts nodes; the history is then checked
//! for linearizability per key (Wing & Gong search with memoization, as in
//! Porcupine). `TIMEOUT` replies and lost connections are unknown outcomes:
//! such a write may take effect at any point after it was invoked, or never.
//!
//! `CLUSTER_SEED=<n>` replays a seed; `CLUSTER_SECS=<n>` sets the workload
//! length (default 12 s).

mod cluster_util;
mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster_util::Cluster;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const KEYS: usize = 3;
const CLIENTS: usize = 4;

/// What a client asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    Get,
    Set(String),
    Cas(String, String),
    Del,
}

/// What came back: a known result, or unknown (timeout, lost connection).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ret {
    Value(Option<String>),
    Ok,
    Int(i64),
    Unknown,
}

#[derive(Clone, Debug)]
struct Op {
    /// Which client ran it (printed on failure).
    #[allow(dead_code)]
    client: usize,
    key: usize,
    call: Call,
    ret: Ret,
    invoked: Instant,
    /// `None` for unknown outcomes: the op may take effect until the end.
    returned: Option<Instant>,
}

/// Applies `op` to a register holding `state`: the new state if the op's
/// result is consistent with it. An unknown result accepts what the op
/// would return.
fn step(state: &Option<String>, op: &Op) -> Option<Option<String>> {
    match (&op.call, &op.ret) {
        (Call::Get, Ret::Value(v)) => (v == state).then(|| state.clone()),
        (Call::Get, _) => None,
        (Call::Set(v), Ret::Ok | Ret::Unknown) => Some(Some(v.clone())),
        (Call::Cas(e, n), r) => {
            let hit = state.as_deref() == Some(e.as_str());
            match r {
                Ret::Int(1) if hit => Some(Some(n.clone())),
                Ret::Int(0) if !hit => Some(state.clone()),
                Ret::Unknown => Some(if hit { Some(n.clone()) } else { state.clone() }),
                _ => None,
            }
        }
        (Call::Del, r) => {
            let had = state.is_some();
            match r {
                Ret::Int(1) if had => Some(None),
                Ret::Int(0) if !had => Some(None),
                Ret::Unknown => Some(None),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Is the history of one key linearizable from an initially missing key?
/// Completed ops must all be linearized; unknown ones may be, or not.
fn linearizable(ops: &[Op]) -> Result<(), String> {
    linearizable_within(ops, usize::MAX).unwrap_or(Ok(()))
}

/// Most search states explored per key before the check is inconclusive.
const BUDGET: usize = 200_000;

/// The search, giving up (`None`) after `budget` states: many unknown
/// outcomes make it exponential.
fn linearizable_within(ops: &[Op], budget: usize) -> Option<Result<(), String>> {
    let n = ops.len();
    let words = n.div_ceil(64);
    let required: Vec<usize> = (0..n).filter(|&i| ops[i].returned.is_some()).collect();
    let mut memo: HashSet<(Vec<u64>, Option<String>)> = HashSet::new();
    let mut stack: Vec<(Vec<u64>, Option<String>)> = vec![(vec![0; words], None)];
    let mut best = 0usize;
    while let Some((done, state)) = stack.pop() {
        let is_done = |i: usize| done[i / 64] & (1 << (i % 64)) != 0;
        let left: Vec<usize> = required.iter().copied().filter(|&i| !is_done(i)).collect();
        best = best.max(required.len() - left.len());
        if left.is_empty() {
            return Some(Ok(()));
        }
        if !memo.insert((done.clone(), state.clone())) {
            continue;
        }
        if memo.len() > budget {
            return None;
        }
        // An op may go next only if no pending completed op returned before
        // it was invoked.
        let horizon = left
            .iter()
            .filter_map(|&i| ops[i].returned)
            .min()
            .expect("a completed op is left");
        // `ops` is sorted by invocation: stop at the horizon.
        for i in 0..n {
            if ops[i].invoked > horizon {
                break;
            }
            if is_done(i) {
                continue;
            }
            if let Some(next) = step(&state, &ops[i]) {
                let mut d = done.clone();
                d[i / 64] |= 1 << (i % 64);
                stack.push((d, next));
            }
        }
    }
    Some(Err(format!(
        "no linearization: at most {best} of {} completed ops could be ordered",
        required.len()
    )))
}

/// Classifies a reply error: `true` if the op certainly had no effect.
fn no_effect(e: &redis::RedisError) -> bool {
    let s = e.to_string();
    if s.contains("TIMEOUT") {
        return false;
    }
    e.kind() != redis::ErrorKind::IoError
        && (s.contains("TRYAGAIN") || s.contains("not leader") || s.contains("CLUSTERDOWN"))
}

fn run_client(
    id: usize,
    seed: u64,
    addrs: Arc<Mutex<Vec<Option<std::net::SocketAddr>>>>,
    stop: Arc<AtomicBool>,
    history: Arc<Mutex<Vec<Op>>>,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x9e37_79b9));
    let mut conn: Option<redis::Connection> = None;
    let mut counter = 0u64;
    let timeout = Duration::from_secs(6);
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            let pick = {
                let a = addrs.lock().unwrap();
                let live: Vec<_> = a.iter().flatten().copied().collect();
                if live.is_empty() {
                    None
                } else {
                    Some(live[rng.random_range(0..live.len())])
                }
            };
            let Some(addr) = pick else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            conn = redis::Client::open(format!("redis://{addr}/"))
                .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
                .and_then(|c| {
                    c.set_read_timeout(Some(timeout))?;
                    c.set_write_timeout(Some(timeout))?;
                    Ok(c)
                })
                .ok();
            if conn.is_none() {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        }
        let c = conn.as_mut().unwrap();
        let key = rng.random_range(0..KEYS);
        counter += 1;
        let fresh = format!("c{id}-{counter}");
        let call = match rng.random_range(0..10) {
            0..=3 => Call::Get,
            4..=6 => Call::Set(fresh),
            7..=8 => {
                // Expect a value some client may have written.
                let e = format!(
                    "c{}-{}",
                    rng.random_range(0..CLIENTS),
                    rng.random_range(1..=counter.max(1))
                );
                Call::Cas(e, fresh)
            }
            _ => Call::Del,
        };
        let k = format!("key{key}");
        let invoked = Instant::now();
        let result: Result<Ret, redis::RedisError> = match &call {
            Call::Get => redis::cmd("GET")
                .arg(&k)
                .query::<Option<String>>(c)
                .map(Ret::Value),
            Call::Set(v) => redis::cmd("SET")
                .arg(&k)
                .arg(v)
                .query::<()>(c)
                .map(|_| Ret::Ok),
            Call::Cas(e, n) => redis::cmd("CAS")
                .arg(&k)
                .arg(e)
                .arg(n)
                .query::<i64>(c)
                .map(Ret::Int),
            Call::Del => redis::cmd("DEL").arg(&k).query::<i64>(c).map(Ret::Int),
        };
        let (ret, returned) = match result {
            Ok(r) => (r, Some(Instant::now())),
            Err(e) if no_effect(&e) => {
                // Certainly no effect: not part of the history. Try elsewhere.
                conn = None;
                continue;
            }
            Err(e) => {
                if e.kind() == redis::ErrorKind::IoError
                    || e.is_connection_dropped()
                    || e.is_timeout()
                {
                    conn = None;
                }
                if call == Call::Get {
                    continue; // a read with no answer tells nothing
                }
                (Ret::Unknown, None)
            }
        };
        // Think time keeps the history small enough to check exhaustively.
        std::thread::sleep(Duration::from_millis(rng.random_range(5..25)));
        history.lock().unwrap().push(Op {
            client: id,
            key,
            call,
            ret,
            invoked,
            returned,
        });
    }
}

#[test]
fn randomized_workload_under_kills_and_pauses_is_linearizable() {
    let seed: u64 = std::env::var("CLUSTER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let secs: u64 = std::env::var("CLUSTER_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    eprintln!("linearizability workload: CLUSTER_SEED={seed} CLUSTER_SECS={secs}");
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(work.path(), 3, &["--request-timeout-ms", "3000"]);
    cluster.wait_leader();
    let addrs = Arc::new(Mutex::new(
        (1..=3)
            .map(|id| Some(cluster.node(id).addr))
            .collect::<Vec<_>>(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let history = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (a, s, h) = (addrs.clone(), stop.clone(), history.clone());
            std::thread::spawn(move || run_client(id, seed, a, s, h))
        })
        .collect();

    // The nemesis: one fault at a time, so a majority keeps running.
    let mut rng = StdRng::seed_from_u64(seed);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut faults = Vec::new();
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(rng.random_range(300..900)));
        let victim = rng.random_range(1..=3u64);
        let hold = Duration::from_millis(rng.random_range(200..800));
        if rng.random_bool(0.5) {
            faults.push(format!("kill {victim}"));
            addrs.lock().unwrap()[(victim - 1) as usize] = None;
            cluster.kill(victim);
            std::thread::sleep(hold);
            cluster.start_node(victim);
            addrs.lock().unwrap()[(victim - 1) as usize] = Some(cluster.node(victim).addr);
        } else {
            faults.push(format!("pause {victim}"));
            cluster.node(victim).signal("STOP");
            std::thread::sleep(hold);
            cluster.node(victim).signal("CONT");
        }
    }
    // Healed: let the cluster settle and serve once more before stopping.
    cluster.wait_leader();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let history = history.lock().unwrap().clone();
    let completed = history.iter().filter(|o| o.returned.is_some()).count();
    eprintln!(
        "seed {seed}: {} ops ({completed} completed, {} unknown), faults: {faults:?}",
        history.len(),
        history.len() - completed
    );
    assert!(
        completed > 50,
        "seed {seed}: too few completed ops ({completed})\n{}",
        cluster.logs()
    );

    let mut per_key: HashMap<usize, Vec<Op>> = HashMap::new();
    for op in history {
        per_key.entry(op.key).or_default().push(op);
    }
    for (key, mut ops) in per_key {
        ops.sort_by_key(|o| o.invoked);
        match linearizable_within(&ops, BUDGET) {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                for o in &ops {
                    eprintln!("{o:?}");
                }
                panic!("seed {seed} (CLUSTER_SEED={seed}): key{key}: {e}");
            }
            None => eprintln!(
                "seed {seed}: key{key}: inconclusive, search budget exhausted ({} ops)",
                ops.len()
            ),
        }
    }
}

#[test]
fn checker_rejects_known_bad_histories() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let op = |call: Call, ret: Ret, a: u64, b: Option<u64>| Op {
        client: 0,
        key: 0,
        call,
        ret,
        invoked: at(a),
        returned: b.map(at),
    };
    let v = |s: &str| Some(s.to_string());
    // Stale read: x=1 completes, then a later read sees nothing.
    let stale = vec![
        op(Call::Set("1".into()), Ret::Ok, 0, Some(10)),
        op(Call::Get, Ret::Value(None), 20, Some(30)),
    ];
    assert!(linearizable(&stale).is_err());
    // Concurrent read may see either.
    let concurrent = vec![
        op(Call::Set("1".into()), Ret::Ok, 0, Some(30)),
        op(Call::Get, Ret::Value(None), 10, Some(20)),
    ];
    assert!(linearizable(&concurrent).is_ok());
    // An unknown write may appear later, or never.
    let unknown = vec![
        op(Call::Set("1".into()), Ret::Unknown, 0, None),
        op(Call::Get, Ret::Value(None), 10, Some(20)),
        op(Call::Get, Ret::Value(v("1")), 30, Some(40)),
    ];
    assert!(linearizable(&unknown).is_ok());
    // ... but cannot be undone once seen.
    let undone = vec![
        op(Call::Set("1".into()), Ret::Unknown, 0, None),
        op(Call::Get, Ret::Value(v("1")), 10, Some(20)),
        op(Call::Get, Ret::Value(None), 30, Some(40)),
    ];
    assert!(linearizable(&undone).is_err());
    // A CAS that claims success against the wrong value.
    let bad_cas = vec![
        op(Call::Set("1".into()), Ret::Ok, 0, Some(10)),
        op(Call::Cas("2".into(), "3".into()), Ret::Int(1), 20, Some(30)),
    ];
    assert!(linearizable(&bad_cas).is_err());
    // A phantom value nobody wrote.
    let phantom = vec![op(Call::Get, Ret::Value(v("9")), 0, Some(10))];
    assert!(linearizable(&phantom).is_err());
    // DEL reports 1 only if the key existed.
    let del = vec![
        op(Call::Set("1".into()), Ret::Ok, 0, Some(10)),
        op(Call::Del, Ret::Int(1), 20, Some(30)),
        op(Call::Del, Ret::Int(0), 40, Some(50)),
    ];
    assert!(linearizable(&del).is_ok());
}
