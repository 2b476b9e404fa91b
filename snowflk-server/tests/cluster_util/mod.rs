//! A cluster of real `snowflk-server` processes on 127.0.0.1 for the
//! `cluster*` tests: free ports, restart on the same data directory and peer
//! port, polling with deadlines (never sleeping as synchronization), and
//! every child killed on drop (through [`common::Node`]).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::common::{Node, poll};

/// Raft timing for tests: 10 ms ticks, heartbeat 50 ms, election 0.5–1 s.
pub const TIMING: [&str; 6] = [
    "--tick-ms",
    "10",
    "--heartbeat-ticks",
    "5",
    "--election-ticks",
    "50",
];

/// Picks a free TCP port on 127.0.0.1 for a node to bind later. Ports come
/// from below the kernel's ephemeral range, so no socket bound to port 0
/// meanwhile (every other test's listeners and every peer link's dialing
/// socket) can take it before the node binds it; each is handed out once
/// per test process, from a per-process starting point.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let base = 10_000u32;
    let span = ephemeral_low.saturating_sub(base).max(1_000);
    let start = std::process::id().wrapping_mul(7919) % span;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < span, "no free port below {ephemeral_low}");
        let port = (base + (start + n) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A cluster of `n` nodes with ids `1..=n`.
pub struct Cluster {
    work: PathBuf,
    /// Node `i` (id `i + 1`), `None` while stopped.
    pub nodes: Vec<Option<Node>>,
    /// Node `i`'s peer port.
    pub peer_ports: Vec<u16>,
    extra: Vec<String>,
}

impl Cluster {
    /// Starts `n` nodes in `work`, with `extra` flags for each.
    pub fn start(work: &Path, n: usize, extra: &[&str]) -> Cluster {
        let peer_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut c = Cluster {
            work: work.to_path_buf(),
            nodes: (0..n).map(|_| None).collect(),
            peer_ports,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        for id in 1..=n as u64 {
            c.start_node(id);
        }
        c
    }

    fn peers_arg(&self) -> String {
        self.peer_ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// (Re)starts node `id` on its data directory and peer port.
    pub fn start_node(&mut self, id: u64) {
        let i = (id - 1) as usize;
        assert!(self.nodes[i].is_none(), "node {id} is running");
        let name = format!("n{id}");
        let data_dir = self.work.join(&name);
        let mut args: Vec<String> = vec![
            "--id".into(),
            id.to_string(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--peer-listen".into(),
            format!("127.0.0.1:{}", self.peer_ports[i]),
            "--peers".into(),
            self.peers_arg(),
        ];
        args.extend(TIMING.iter().map(|s| s.to_string()));
        // `{id}` in an extra flag stands for the node's id.
        args.extend(
            self.extra
                .iter()
                .map(|a| a.replace("{id}", &id.to_string())),
        );
        self.nodes[i] = Some(Node::start_with(&self.work, &name, &args, data_dir));
    }

    /// SIGKILLs node `id` and reaps it.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut n) = self.nodes[(id - 1) as usize].take() {
            n.signal("KILL");
            n.wait_exit();
        }
    }

    /// The running node `id`.
    pub fn node(&self, id: u64) -> &Node {
        self.nodes[(id - 1) as usize]
            .as_ref()
            .unwrap_or_else(|| panic!("node {id} is not running"))
    }

    /// Ids of the running nodes.
    pub fn running(&self) -> Vec<u64> {
        (1..=self.nodes.len() as u64)
            .filter(|&id| self.nodes[(id - 1) as usize].is_some())
            .collect()
    }

    /// Waits until every running node names the same leader, itself running
    /// and leading; returns its id.
    pub fn wait_leader(&self) -> u64 {
        poll("one leader known to every running node", || {
            let mut leader = None;
            for id in self.running() {
                let info = replication_info(self.node(id))?;
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

    /// Waits until node `id` has applied at least `index`.
    pub fn wait_applied(&self, id: u64, index: u64) {
        poll(&format!("node {id} to apply index {index}"), || {
            let info = replication_info(self.node(id))?;
            let applied: u64 = info.get("raft_applied_index")?.parse().ok()?;
            (applied >= index).then_some(())
        });
    }

    /// Hands leadership to `id` (through `SNOWFLK TRANSFER-LEADER`, sent
    /// again until it takes) and waits until it leads: its reads are then
    /// local and show what it applied.
    pub fn make_leader(&self, id: u64) {
        poll(&format!("node {id} to take over leadership"), || {
            let mut c = connect(self.node(id), Duration::from_secs(10)).ok()?;
            let _: Result<String, _> = redis::cmd("SNOWFLK")
                .arg("TRANSFER-LEADER")
                .arg(id)
                .query(&mut c);
            let info = replication_info(self.node(id))?;
            (info.get("raft_role")?.as_str() == "leader").then_some(())
        });
    }

    /// The commit index node `id` reports.
    pub fn commit_index(&self, id: u64) -> u64 {
        poll("INFO replication", || {
            replication_info(self.node(id))?
                .get("raft_commit_index")?
                .parse()
                .ok()
        })
    }

    /// What every node logged, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(n) = n {
                let log = n.stderr();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                out.push_str(&format!("--- node {} (last lines)\n", i + 1));
                for l in tail.into_iter().rev() {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// `INFO replication` of `node` as key/value pairs, or `None` if the node
/// does not answer right now.
pub fn replication_info(node: &Node) -> Option<BTreeMap<String, String>> {
    let client = redis::Client::open(format!("redis://{}/", node.addr)).ok()?;
    let mut c = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .ok()?;
    c.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let text: String = redis::cmd("INFO").arg("replication").query(&mut c).ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    )
}

/// A client connection with short timeouts.
pub fn connect(node: &Node, timeout: Duration) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://{}/", node.addr))?;
    let c = client.get_connection_with_timeout(timeout)?;
    c.set_read_timeout(Some(timeout))?;
    c.set_write_timeout(Some(timeout))?;
    Ok(c)
}

/// Retries `f` on "no effect" errors (TRYAGAIN, not leader, CLUSTERDOWN) and
/// connection failures until it succeeds, within the deadline.
pub fn retry<T>(what: &str, mut f: impl FnMut() -> redis::RedisResult<T>) -> T {
    let start = std::time::Instant::now();
    loop {
        let last = match f() {
            Ok(v) => return v,
            Err(e) => e.to_string(),
        };
        assert!(
            start.elapsed() < super::common::DEADLINE,
            "{what}: still failing at the deadline: {last}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Bytes of all files under `dir` (0 if it cannot be read).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
