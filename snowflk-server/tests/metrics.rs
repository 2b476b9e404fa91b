//! `--metrics-listen`: `/metrics` parses as Prometheus text and its counters
//! move as commands run and agree with INFO; `/health` is 200 on a node
//! that can serve and 503 on one that cannot.

mod cluster_util;
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use common::Node;
use redis::Commands;

fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn metrics_addr(work: &Path, name: &str) -> SocketAddr {
    let file = work.join(format!("{name}.metrics"));
    common::poll("the metrics port file", || {
        std::fs::read_to_string(&file).ok()?.trim().parse().ok()
    })
}

/// A `--replication none` node named `n` serving metrics on a free port,
/// with `extra` flags; returns it with its metrics address.
fn start_with_metrics(work: &Path, extra: &[&str]) -> (Node, SocketAddr) {
    let port_file = work.join("n.metrics").display().to_string();
    let mut args = vec![
        "--metrics-listen",
        "127.0.0.1:0",
        "--metrics-port-file",
        &port_file,
    ];
    args.extend_from_slice(extra);
    let node = Node::start_none(work, "n", &args);
    let addr = metrics_addr(work, "n");
    (node, addr)
}

fn scrape(addr: SocketAddr) -> prometheus_parse::Scrape {
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("the exposition parses")
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"));
    match sample.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{name}: unexpected {other:?}"),
    }
}

#[test]
fn metrics_parse_and_move_with_commands_and_agree_with_info() {
    let work = tempfile::tempdir().unwrap();
    let (node, addr) = start_with_metrics(work.path(), &[]);
    let mut c = node.client();
    let before = scrape(addr);
    let set_ok = |s: &prometheus_parse::Scrape| {
        value(
            s,
            "snowflk_commands_total",
            &[("command", "set"), ("outcome", "ok")],
        )
    };
    let incr_err = |s: &prometheus_parse::Scrape| {
        value(
            s,
            "snowflk_commands_total",
            &[("command", "incrby"), ("outcome", "error")],
        )
    };
    for i in 0..25 {
        let _: () = c.set(format!("k{i}"), "word").unwrap();
    }
    // Pipelined writes are counted one by one, with their own outcome.
    let mut pipe = redis::pipe();
    for i in 0..10 {
        pipe.set(format!("p{i}"), i).ignore();
    }
    let () = pipe.query(&mut c).unwrap();
    assert!(c.incr::<_, _, i64>("k0", 1).is_err());
    let after = scrape(addr);
    assert_eq!(set_ok(&after) - set_ok(&before), 35.0);
    assert_eq!(incr_err(&after) - incr_err(&before), 1.0);
    assert_eq!(value(&after, "snowflk_connected_clients", &[]), 1.0);
    assert!(value(&after, "snowflk_engine_keys", &[]) >= 35.0);
    assert!(value(&after, "snowflk_process_resident_memory_bytes", &[]) > 0.0);
    let count = after
        .samples
        .iter()
        .find(|s| {
            s.metric == "snowflk_command_duration_seconds_count"
                && s.labels.get("command") == Some("set")
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Untyped(v) | prometheus_parse::Value::Counter(v) => v,
            _ => -1.0,
        });
    assert!(count.is_some_and(|v| v >= 35.0), "{count:?}");

    // INFO and /metrics count the same requests (INFO counts itself).
    let requests = value(&scrape(addr), "snowflk_requests_total", &[]);
    let info: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    let processed: f64 = info
        .lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(processed, requests + 1.0, "{info}");

    let (status, body) = http_get(addr, "/health");
    assert_eq!(status, 200, "{body}");
    assert_eq!(http_get(addr, "/nope").0, 404);
}

#[test]
fn health_is_503_without_a_leader() {
    let work = tempfile::tempdir().unwrap();
    // Node 1 of a 3-node cluster whose peers never start: no leader.
    let [own, dead1, dead2] = [(); 3].map(|()| cluster_util::free_port());
    let peers = format!("1=127.0.0.1:{own},2=127.0.0.1:{dead1},3=127.0.0.1:{dead2}");
    let peer_listen = format!("127.0.0.1:{own}");
    let data = work.path().join("n1");
    let port_file = work.path().join("n1.metrics").display().to_string();
    let args: Vec<String> = [
        "--id",
        "1",
        "--data-dir",
        &data.display().to_string(),
        "--listen",
        "127.0.0.1:0",
        "--peer-listen",
        &peer_listen,
        "--peers",
        &peers,
        "--metrics-listen",
        "127.0.0.1:0",
        "--metrics-port-file",
        &port_file,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let _node = Node::start_with(work.path(), "n1", &args, data);
    let addr = metrics_addr(work.path(), "n1");
    let (status, body) = http_get(addr, "/health");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no leader"), "{body}");
    let s = scrape(addr);
    assert_eq!(value(&s, "snowflk_raft_is_leader", &[]), 0.0);
}

#[test]
fn json_logs_are_one_object_per_line() {
    let work = tempfile::tempdir().unwrap();
    let node = Node::start_none(work.path(), "n", &["--log-format", "json"]);
    let mut c = node.client();
    let _: () = c.set("k", "v").unwrap();
    drop(c);
    let log = node.stderr();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        assert!(
            line.starts_with('{') && line.ends_with('}') && line.contains("\"level\""),
            "{line}"
        );
    }
}

/// On a 3-node cluster's leader: the Raft log's fsync latency and batch
/// size histograms fill, leader changes are counted, and each peer link
/// shows up, connected, with its queue depth.
#[test]
fn raft_and_peer_metrics_on_a_cluster() {
    let work = tempfile::tempdir().unwrap();
    let port_file = work.path().join("n{id}.metrics").display().to_string();
    let cluster = cluster_util::Cluster::start(
        work.path(),
        3,
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--metrics-port-file",
            &port_file,
        ],
    );
    let leader = cluster.wait_leader();
    let mut c =
        cluster_util::connect(cluster.node(leader), std::time::Duration::from_secs(10)).unwrap();
    for i in 0..20 {
        cluster_util::retry("a write", || c.set::<_, _, ()>(format!("k{i}"), i));
    }
    let addr = metrics_addr(work.path(), &format!("n{leader}"));
    let s = scrape(addr);
    let count = |name: &str| {
        s.samples
            .iter()
            .find(|x| x.metric == name)
            .map(|x| match x.value {
                prometheus_parse::Value::Untyped(v) | prometheus_parse::Value::Counter(v) => v,
                _ => -1.0,
            })
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert!(count("snowflk_raft_log_fsync_seconds_count") >= 1.0);
    assert!(count("snowflk_raft_log_batch_entries_count") >= 1.0);
    assert!(value(&s, "snowflk_raft_leader_changes_total", &[]) >= 1.0);
    assert!(
        s.samples
            .iter()
            .any(|x| x.metric == "snowflk_raft_proposals_dropped_total")
    );
    for peer in (1..=3u64).filter(|&p| p != leader) {
        let p = peer.to_string();
        assert_eq!(
            value(&s, "snowflk_peer_connected", &[("peer", &p)]),
            1.0,
            "peer {p}"
        );
        assert!(value(&s, "snowflk_peer_connects_total", &[("peer", &p)]) >= 1.0);
        assert!(value(&s, "snowflk_peer_frames_sent_total", &[("peer", &p)]) >= 1.0);
        let _ = value(&s, "snowflk_peer_queue_items", &[("peer", &p)]);
    }
}

/// The INFO persistence field `name`, as a number.
fn info_field(c: &mut redis::Connection, name: &str) -> f64 {
    let info: String = redis::cmd("INFO").arg("persistence").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .trim()
        .parse()
        .unwrap()
}

/// Background merges (small segments, a short merge interval, keys
/// overwritten until sealed segments are all dead) move the merge counters;
/// INFO persistence shows the same totals; each merge is one log line.
#[test]
fn merges_are_counted_in_metrics_and_info_and_logged() {
    let work = tempfile::tempdir().unwrap();
    let (node, addr) = start_with_metrics(
        work.path(),
        &[
            "--max-file-size",
            "4096",
            "--merge-interval-ms",
            "20",
            "--log-format",
            "json",
        ],
    );
    let mut c = node.client();
    assert_eq!(
        value(&scrape(addr), "snowflk_engine_merges_total", &[]),
        0.0
    );
    // Overwriting 8 keys fills segment after segment with dead records.
    for round in 0..40 {
        for k in 0..8 {
            let _: () = c.set(format!("k{k}"), format!("{round:0>100}")).unwrap();
        }
    }
    let merged = common::poll("a background merge to be counted", || {
        let s = scrape(addr);
        (value(&s, "snowflk_engine_merges_total", &[]) >= 1.0).then_some(s)
    });
    assert!(value(&merged, "snowflk_engine_merge_segments_removed_total", &[]) >= 1.0);
    assert!(value(&merged, "snowflk_engine_merge_reclaimed_bytes_total", &[]) > 0.0);
    assert!(value(&merged, "snowflk_engine_merge_written_bytes_total", &[]) > 0.0);
    assert_eq!(
        value(&merged, "snowflk_engine_merge_failures_total", &[]),
        0.0
    );
    let _ = value(&merged, "snowflk_engine_merge_duration_seconds_total", &[]);
    // INFO and /metrics agree: compare once a scrape falls between two
    // INFOs that read the same totals (merges may still be running).
    common::poll("INFO and /metrics to agree on the merge totals", || {
        let fields = [
            ("engine_merges", "snowflk_engine_merges_total"),
            (
                "engine_merge_segments_removed",
                "snowflk_engine_merge_segments_removed_total",
            ),
            (
                "engine_merge_reclaimed_bytes",
                "snowflk_engine_merge_reclaimed_bytes_total",
            ),
        ];
        let read = |c: &mut redis::Connection| -> Vec<f64> {
            fields.iter().map(|(i, _)| info_field(c, i)).collect()
        };
        let first = read(&mut c);
        let s = scrape(addr);
        let second = read(&mut c);
        let scraped: Vec<f64> = fields.iter().map(|(_, m)| value(&s, m, &[])).collect();
        (first == second && scraped == first).then_some(())
    });
    for k in 0..8 {
        assert_eq!(
            c.get::<_, String>(format!("k{k}")).unwrap(),
            format!("{:0>100}", 39)
        );
    }
    let log = node.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("merged segments"))
        .unwrap_or_else(|| panic!("no merge line in {log}"));
    for field in ["\"bytes_reclaimed\":", "\"duration_ms\":", "\"inputs\":"] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
}

/// A busy `--metrics-listen` port is reported as the metrics port, not the
/// client port (hostile14 F5), in one line that names its cause once.
#[test]
fn a_busy_metrics_port_is_named_as_such() {
    let work = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    let data = work.path().join("d");
    let (status, stderr) = common::run_to_exit(
        work.path(),
        &[
            "--replication",
            "none",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--metrics-listen",
            &busy,
        ],
    );
    assert!(!status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("snowflk-server:"))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(
        line.contains(&format!("cannot listen for /metrics and /health on {busy}")),
        "{line}"
    );
    assert_eq!(line.matches("Address already in use").count(), 1, "{line}");
    // Found before the data directory is touched (it was once found after
    // the store had opened, and in Raft mode after the node had started).
    assert!(!data.exists(), "the data directory was created");
}

/// A busy `--tls-listen` port, or unreadable certificate files, fail the
/// start before the data directory is created, like a busy client port.
#[test]
fn a_busy_tls_port_fails_before_the_data_directory_opens() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("d");
    // The certificate files do not exist.
    let start_with_tls_on = |addr: &str| {
        common::run_to_exit(
            work.path(),
            &[
                "--listen",
                "127.0.0.1:0",
                "--peer-listen",
                "127.0.0.1:0",
                "--data-dir",
                data.to_str().unwrap(),
                "--tls-listen",
                addr,
                "--tls-cert-file",
                "missing.pem",
                "--tls-key-file",
                "missing.key",
            ],
        )
    };
    // A busy port: found first, before the certificates are read.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    let (status, stderr) = start_with_tls_on(&busy);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains(&busy), "{stderr}");
    assert!(!data.exists(), "the data directory was created");

    // A free port with unreadable certificate files: the same.
    let free = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let (status, stderr) = start_with_tls_on(&free);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("missing.pem"), "{stderr}");
    assert!(!data.exists(), "the data directory was created");
}
