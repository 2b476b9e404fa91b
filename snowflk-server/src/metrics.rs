//! Prometheus metrics on `--metrics-listen ADDR`: `GET /metrics` (the
//! OpenMetrics text format, encoded by the `prometheus-client` crate) and
//! `GET /health` (200 when this node can serve linearizable reads, 503 with
//! the reason otherwise, for load balancers).
//!
//! Per-command counters and latency histograms are created once at start
//! for every command in [`crate::commands::table::COMMANDS`] (plus
//! `unknown`), so the hot path does no allocation and no map lookup: a
//! connection indexes [`Metrics::command`] by the command's table position.
//! Without `--metrics-listen` nothing could read them, so
//! [`Metrics::record`] skips them (the cost of recording is measured in
//! `docs/benchmarks.md`).
//! Everything else (connections, Raft indexes, engine sizes, process memory)
//! is read at scrape time from the same sources `INFO` uses, so the two
//! always agree.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::commands::table;
use crate::ops::NodeRole;
use crate::server::Shared;

/// Labels of the per-command counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandOutcome {
    command: String,
    outcome: String,
}

/// Labels of the per-command histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandName {
    command: String,
}

/// The metrics of one command.
#[derive(Debug, Clone)]
pub struct CommandMetrics {
    ok: Counter,
    error: Counter,
    latency: Histogram,
}

impl CommandMetrics {
    /// Counts one execution that took `elapsed` and replied an error or not.
    pub fn record(&self, elapsed: Duration, error: bool) {
        if error {
            self.error.inc();
        } else {
            self.ok.inc();
        }
        self.latency.observe(elapsed.as_secs_f64());
    }
}

type IntGauge = Gauge<i64, AtomicI64>;
type FloatGauge = Gauge<f64, AtomicU64>;
type FloatCounter = Counter<f64, AtomicU64>;

#[derive(Debug, Default)]
struct Scraped {
    connections_total: Counter,
    rejected_total: Counter,
    protocol_errors_total: Counter,
    auth_failures_total: Counter,
    commands_total: Counter,
    connected: IntGauge,
    raft_term: IntGauge,
    raft_leader_id: IntGauge,
    raft_is_leader: IntGauge,
    raft_commit: IntGauge,
    raft_applied: IntGauge,
    raft_last_log: IntGauge,
    raft_peers_connected: IntGauge,
    engine_keys: IntGauge,
    engine_file_bytes: IntGauge,
    engine_live_bytes: IntGauge,
    engine_dead_bytes: IntGauge,
    engine_fragmentation: FloatGauge,
    engine_segments: IntGauge,
    engine_merges: Counter,
    engine_merge_failures: Counter,
    engine_merge_segments_removed: Counter,
    engine_merge_reclaimed_bytes: Counter,
    engine_merge_written_bytes: Counter,
    engine_merge_seconds: FloatCounter,
    resident_bytes: IntGauge,
}

/// Every metric of a node.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    per_command: Vec<CommandMetrics>,
    /// Whether [`Metrics::record`] counts commands (`--metrics-listen`).
    record_commands: bool,
    scraped: Scraped,
    /// Serializes scrapes: counters mirrored from [`crate::server::Stats`]
    /// are advanced by their difference, which must not be added twice.
    refresh: Mutex<()>,
}

/// Advances `c` to `value`, a monotonic count kept elsewhere (a counter
/// can only be incremented).
pub(crate) fn counter_to(c: &Counter, value: u64) {
    let now = c.get();
    if value > now {
        c.inc_by(value - now);
    }
}

/// [`counter_to`] for a counter of seconds.
fn float_counter_to(c: &FloatCounter, value: f64) {
    let now = c.get();
    if value > now {
        c.inc_by(value - now);
    }
}

impl Metrics {
    /// Registers every metric, the backend's own included. Per-command
    /// metrics are recorded only if `record_commands` (the node serves
    /// `/metrics`).
    pub fn new(backend: &dyn crate::ops::Backend, record_commands: bool) -> Self {
        let mut registry = Registry::with_prefix("snowflk");
        let commands = Family::<CommandOutcome, Counter>::default();
        let latency = Family::<CommandName, Histogram>::new_with_constructor(|| {
            // 10 µs to ~5 s.
            Histogram::new(exponential_buckets(0.00001, 2.0, 20))
        });
        registry.register(
            "commands",
            "Commands executed, by command and outcome (ok, or error reply)",
            commands.clone(),
        );
        registry.register(
            "command_duration_seconds",
            "Time from parsing a command to its reply, by command",
            latency.clone(),
        );
        let names = table::COMMANDS
            .iter()
            .map(|s| s.name.to_ascii_lowercase())
            .chain(std::iter::once("unknown".to_string()));
        let per_command = names
            .map(|name| {
                let get = |outcome: &str| {
                    commands
                        .get_or_create(&CommandOutcome {
                            command: name.clone(),
                            outcome: outcome.into(),
                        })
                        .clone()
                };
                CommandMetrics {
                    ok: get("ok"),
                    error: get("error"),
                    latency: latency
                        .get_or_create(&CommandName {
                            command: name.clone(),
                        })
                        .clone(),
                }
            })
            .collect();
        let s = Scraped::default();
        let r = &mut registry;
        r.register(
            "connections_received",
            "Client connections accepted",
            s.connections_total.clone(),
        );
        r.register(
            "connections_rejected",
            "Client connections refused by --max-connections",
            s.rejected_total.clone(),
        );
        r.register(
            "protocol_errors",
            "Malformed client requests (their connections were closed)",
            s.protocol_errors_total.clone(),
        );
        r.register(
            "auth_failures",
            "Failed AUTH and HELLO AUTH attempts",
            s.auth_failures_total.clone(),
        );
        r.register(
            "requests",
            "Requests parsed (as INFO total_commands_processed)",
            s.commands_total.clone(),
        );
        r.register(
            "connected_clients",
            "Open client connections",
            s.connected.clone(),
        );
        r.register(
            "raft_term",
            "Current Raft term (0 without Raft)",
            s.raft_term.clone(),
        );
        r.register(
            "raft_leader_id",
            "The known leader's node id (0: none known)",
            s.raft_leader_id.clone(),
        );
        r.register(
            "raft_is_leader",
            "1 if this node leads (or runs alone without Raft)",
            s.raft_is_leader.clone(),
        );
        r.register(
            "raft_commit_index",
            "Highest committed log index",
            s.raft_commit.clone(),
        );
        r.register(
            "raft_applied_index",
            "Highest log index applied to the engine",
            s.raft_applied.clone(),
        );
        r.register(
            "raft_last_log_index",
            "Last index in the local log",
            s.raft_last_log.clone(),
        );
        r.register(
            "raft_peers_connected",
            "Members this node has a live link to (itself included)",
            s.raft_peers_connected.clone(),
        );
        r.register(
            "engine_keys",
            "Live keys in the engine (internal records included)",
            s.engine_keys.clone(),
        );
        r.register(
            "engine_file_bytes",
            "Bytes of the engine's data files",
            s.engine_file_bytes.clone(),
        );
        r.register(
            "engine_live_bytes",
            "Bytes of live records",
            s.engine_live_bytes.clone(),
        );
        r.register(
            "engine_dead_bytes",
            "Bytes of overwritten or deleted records (reclaimed by merges)",
            s.engine_dead_bytes.clone(),
        );
        r.register(
            "engine_fragmentation_ratio",
            "Dead bytes over file bytes",
            s.engine_fragmentation.clone(),
        );
        r.register(
            "engine_segments",
            "Engine data segment files",
            s.engine_segments.clone(),
        );
        r.register(
            "engine_merges",
            "Engine merges completed since start (background and explicit)",
            s.engine_merges.clone(),
        );
        r.register(
            "engine_merge_failures",
            "Engine merges that failed (each left the data as it was)",
            s.engine_merge_failures.clone(),
        );
        r.register(
            "engine_merge_segments_removed",
            "Engine segment files merged away",
            s.engine_merge_segments_removed.clone(),
        );
        r.register(
            "engine_merge_reclaimed_bytes",
            "Disk space merges gave back: merged files' bytes minus their outputs'",
            s.engine_merge_reclaimed_bytes.clone(),
        );
        r.register(
            "engine_merge_written_bytes",
            "Bytes of segment files written by merges",
            s.engine_merge_written_bytes.clone(),
        );
        r.register(
            "engine_merge_duration_seconds",
            "Time spent in completed merges",
            s.engine_merge_seconds.clone(),
        );
        r.register(
            "process_resident_memory_bytes",
            "Resident set size of the process",
            s.resident_bytes.clone(),
        );
        backend.register_metrics(r);
        Self {
            registry,
            per_command,
            record_commands,
            scraped: s,
            refresh: Mutex::new(()),
        }
    }

    /// The index of the command named `upper` (upper case) for
    /// [`Metrics::command`]; unknown names share one entry.
    pub fn command_index(upper: &[u8]) -> usize {
        std::str::from_utf8(upper)
            .ok()
            .and_then(table::position)
            .unwrap_or(table::COMMANDS.len())
    }

    /// The metrics of the command at `index` ([`Metrics::command_index`]).
    pub fn command(&self, index: usize) -> &CommandMetrics {
        &self.per_command[index.min(self.per_command.len() - 1)]
    }

    /// Counts one execution of the command at `index`
    /// ([`Metrics::command_index`]) that started at `started` and replied
    /// an error or not; nothing without `--metrics-listen`.
    #[inline]
    pub fn record(&self, index: usize, started: Instant, error: bool) {
        if self.record_commands {
            self.command(index).record(started.elapsed(), error);
        }
    }

    /// Refreshes the scraped values from `shared` and encodes everything.
    pub fn render(&self, shared: &Shared) -> String {
        let _guard = self.refresh.lock();
        shared.backend.refresh_metrics();
        let s = &self.scraped;
        let st = &shared.stats;
        counter_to(
            &s.connections_total,
            st.total_connections.load(Ordering::Relaxed),
        );
        counter_to(
            &s.rejected_total,
            st.rejected_connections.load(Ordering::Relaxed),
        );
        counter_to(
            &s.protocol_errors_total,
            st.protocol_errors.load(Ordering::Relaxed),
        );
        counter_to(
            &s.auth_failures_total,
            st.auth_failures.load(Ordering::Relaxed),
        );
        counter_to(&s.commands_total, st.total_commands.load(Ordering::Relaxed));
        s.connected.set(st.connected.load(Ordering::Relaxed) as i64);
        let status = shared.backend.status();
        s.raft_term.set(status.term as i64);
        s.raft_leader_id.set(status.leader.unwrap_or(0) as i64);
        s.raft_is_leader.set(i64::from(matches!(
            status.role,
            NodeRole::Leader | NodeRole::Standalone
        )));
        s.raft_commit.set(status.commit_index as i64);
        s.raft_applied.set(status.applied_index as i64);
        s.raft_last_log.set(status.last_log_index as i64);
        s.raft_peers_connected
            .set(status.peers.iter().filter(|p| p.connected).count() as i64);
        if let Some(e) = shared.backend.engine_stats() {
            let dead = e.total.file_bytes.saturating_sub(e.total.live_bytes);
            s.engine_keys.set(e.total.live_keys as i64);
            s.engine_file_bytes.set(e.total.file_bytes as i64);
            s.engine_live_bytes.set(e.total.live_bytes as i64);
            s.engine_dead_bytes.set(dead as i64);
            s.engine_fragmentation.set(if e.total.file_bytes == 0 {
                0.0
            } else {
                dead as f64 / e.total.file_bytes as f64
            });
            s.engine_segments.set(e.segments.len() as i64);
            let m = &e.merges;
            counter_to(&s.engine_merges, m.merges);
            counter_to(&s.engine_merge_failures, m.failures);
            counter_to(&s.engine_merge_segments_removed, m.segments_removed);
            counter_to(&s.engine_merge_reclaimed_bytes, m.bytes_reclaimed);
            counter_to(&s.engine_merge_written_bytes, m.bytes_written);
            float_counter_to(&s.engine_merge_seconds, m.duration.as_secs_f64());
        }
        s.resident_bytes.set(resident_bytes().unwrap_or(0) as i64);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The process's resident set size from `/proc/self/statm` (Linux).
fn resident_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Why `/health` is not 200, or None when the node can serve linearizable
/// reads: it leads (or runs alone), or it follows a known leader it has a
/// live link to (reads are forwarded there).
pub fn unhealthy(shared: &Shared) -> Option<String> {
    let st = shared.backend.status();
    match st.role {
        NodeRole::Leader | NodeRole::Standalone => None,
        _ => match st.leader {
            None => Some("no leader known".into()),
            Some(l) if st.peers.iter().any(|p| p.id == l && p.connected) => None,
            Some(l) => Some(format!("no link to the leader (node {l})")),
        },
    }
}

fn respond(shared: &Shared, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let reply = |code: StatusCode, ctype: &str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = code;
        if let Ok(v) = ctype.parse() {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        r
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            shared.metrics.render(shared),
        ),
        "/health" => match unhealthy(shared) {
            None => reply(StatusCode::OK, "text/plain", "OK\n".into()),
            Some(why) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("{why}\n"),
            ),
        },
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "try /metrics or /health\n".into(),
        ),
    }
}

/// Most metrics connections served at once; more wait in the backlog.
const MAX_SCRAPERS: usize = 64;

/// Serves `/metrics` and `/health` on `listener` until `stop` turns true.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_SCRAPERS));
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            a = listener.accept() => a,
        };
        let Ok((stream, peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let resp = respond(&shared, &req);
                async move { Ok::<_, Infallible>(resp) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "metrics connection ended with an error");
            }
            drop(permit);
        });
    }
}
