//! The client server: accept loop, connection limit, expiry sweeper and
//! graceful shutdown.
//!
//! Shutdown (SIGTERM or SIGINT in `main`): stop accepting, let every
//! connection answer the requests it has already received, close them,
//! then [`Backend::shutdown`] (which fsyncs and releases the data
//! directory's lock). Connections still busy after the request timeout
//! plus a second are dropped.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::connection::Connection;
use crate::ops::{Backend, BackendError, NodeRole, ReadOp, Reply, WriteCmd, WriteOp};

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The client address could not be bound (busy port, bad address).
    #[error("cannot listen for clients on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The `/metrics` address could not be bound.
    #[error("cannot listen for /metrics and /health on {addr}: {source}")]
    BindMetrics {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The port file could not be written.
    #[error("cannot write the port file {path}: {source}")]
    PortFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate, key or CA could not be loaded.
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The backend failed to shut down cleanly (fsync failed).
    #[error("shutdown failed: {0}")]
    Shutdown(BackendError),
}

/// How long a TLS client may take to finish its handshake.
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);

type Accepted = (
    std::io::Result<(tokio::net::TcpStream, SocketAddr)>,
    Option<tokio_rustls::TlsAcceptor>,
);

/// The TLS acceptor in use; the reloader swaps it.
type SharedAcceptor = Arc<parking_lot::RwLock<tokio_rustls::TlsAcceptor>>;

/// The next TLS client, or never without a TLS listener.
async fn accept_tls(tls: Option<&(TcpListener, SharedAcceptor)>) -> Accepted {
    match tls {
        Some((listener, acceptor)) => {
            let accepted = listener.accept().await;
            (accepted, Some(acceptor.read().clone()))
        }
        None => std::future::pending().await,
    }
}

/// Server-wide counters for INFO.
#[derive(Debug, Default)]
pub struct Stats {
    /// Open client connections.
    pub connected: AtomicU64,
    /// Connections accepted since start.
    pub total_connections: AtomicU64,
    /// Connections refused by the limit.
    pub rejected_connections: AtomicU64,
    /// Commands processed.
    pub total_commands: AtomicU64,
    /// Requests that failed to parse (their connections were closed).
    pub protocol_errors: AtomicU64,
    /// Failed `AUTH` / `HELLO ... AUTH` attempts.
    pub auth_failures: AtomicU64,
}

/// What every connection shares.
pub struct Shared {
    /// The backend all commands go to.
    pub backend: Arc<dyn Backend>,
    /// The node's configuration.
    pub config: Config,
    /// Counters.
    pub stats: Stats,
    /// When the server started.
    pub started: Instant,
    /// The bound client address.
    pub local_addr: SocketAddr,
    /// Prometheus metrics (`--metrics-listen`).
    pub metrics: crate::metrics::Metrics,
    next_client_id: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// A new client id (1, 2, ...).
    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A bound, not yet running, client server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    tls_listener: Option<TcpListener>,
    shared: Arc<Shared>,
}

/// Every socket a node serves on, bound before its data directory opens.
#[derive(Debug)]
pub struct Listeners {
    /// `--listen`.
    pub client: TcpListener,
    /// `--metrics-listen`, if given.
    pub metrics: Option<TcpListener>,
    /// `--tls-listen`, if given.
    pub tls: Option<TcpListener>,
}

/// Binds the client, metrics and TLS addresses of `config` (before the
/// backend opens, so a busy port fails fast and touches no data).
pub async fn bind(config: &Config) -> Result<Listeners, ServeError> {
    let client = TcpListener::bind(&config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen.clone(),
            source,
        })?;
    let metrics = match &config.metrics_listen {
        None => None,
        Some(addr) => {
            Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServeError::BindMetrics {
                        addr: addr.clone(),
                        source,
                    })?,
            )
        }
    };
    let tls = match &config.tls {
        None => None,
        Some(t) => {
            let listener =
                TcpListener::bind(&t.listen)
                    .await
                    .map_err(|source| ServeError::Bind {
                        addr: t.listen.clone(),
                        source,
                    })?;
            // Unreadable certificate files, too, fail before any data opens.
            crate::tls::server_config(t)?;
            Some(listener)
        }
    };
    Ok(Listeners {
        client,
        metrics,
        tls,
    })
}

impl Server {
    /// A server on `listeners` serving `backend`; writes the port file.
    pub fn new(
        listeners: Listeners,
        config: Config,
        backend: Arc<dyn Backend>,
    ) -> Result<Self, ServeError> {
        let Listeners {
            client: listener,
            metrics: metrics_listener,
            tls: tls_listener,
        } = listeners;
        let local_addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: config.listen.clone(),
            source,
        })?;
        if let Some(path) = &config.port_file {
            write_port_file(path, local_addr).map_err(|source| ServeError::PortFile {
                path: path.clone(),
                source,
            })?;
        }
        let metrics = crate::metrics::Metrics::new(&*backend, config.metrics_listen.is_some());
        Ok(Self {
            listener,
            metrics_listener,
            tls_listener,
            shared: Arc::new(Shared {
                backend,
                config,
                stats: Stats::default(),
                started: Instant::now(),
                local_addr,
                metrics,
                next_client_id: AtomicU64::new(0),
            }),
        })
    }

    /// The bound client address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Serves until `shutdown` completes, then shuts down gracefully.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
        let Self {
            listener,
            metrics_listener,
            tls_listener,
            shared,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut conns = JoinSet::new();
        let sweeper = tokio::spawn(sweeper(shared.clone(), stop_rx.clone()));
        if let (Some(addr), Some(listener)) = (&shared.config.metrics_listen, metrics_listener) {
            let bound = listener
                .local_addr()
                .map_err(|source| ServeError::BindMetrics {
                    addr: addr.clone(),
                    source,
                })?;
            tracing::info!(addr = %bound, "serving /metrics and /health");
            if let Some(path) = &shared.config.metrics_port_file {
                write_port_file(path, bound).map_err(|source| ServeError::PortFile {
                    path: path.clone(),
                    source,
                })?;
            }
            tokio::spawn(crate::metrics::serve(
                listener,
                shared.clone(),
                stop_rx.clone(),
            ));
        }
        let tls = match (&shared.config.tls, tls_listener) {
            (Some(t), Some(listener)) => {
                let acceptor: SharedAcceptor = Arc::new(parking_lot::RwLock::new(
                    tokio_rustls::TlsAcceptor::from(crate::tls::server_config(t)?),
                ));
                // Installed before the port is announced, so a SIGHUP never
                // meets the default action (terminate).
                let files = [Some(&t.cert_file), Some(&t.key_file), t.ca_file.as_ref()]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect();
                let settings = t.clone();
                crate::tls::spawn_reloader(
                    "client",
                    files,
                    move || {
                        crate::tls::server_config(&settings).map(tokio_rustls::TlsAcceptor::from)
                    },
                    acceptor.clone(),
                    stop_rx.clone(),
                );
                let bound = listener.local_addr().map_err(|source| ServeError::Bind {
                    addr: t.listen.clone(),
                    source,
                })?;
                tracing::info!(addr = %bound, auth_clients = ?t.auth_clients, "listening for TLS clients");
                if let Some(path) = &shared.config.tls_port_file {
                    write_port_file(path, bound).map_err(|source| ServeError::PortFile {
                        path: path.clone(),
                        source,
                    })?;
                }
                Some((listener, acceptor))
            }
            _ => None,
        };
        tokio::pin!(shutdown);
        tracing::info!(addr = %shared.local_addr, "listening for clients");
        loop {
            let (accepted, acceptor) = tokio::select! {
                () = &mut shutdown => break,
                a = listener.accept() => (a, None),
                a = accept_tls(tls.as_ref()) => a,
            };
            let (mut stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            while conns.try_join_next().is_some() {}
            let stats = &shared.stats;
            if stats.connected.load(Ordering::Relaxed) as usize
                >= shared.config.limits.max_connections
            {
                stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%peer, "connection refused: max clients reached");
                if acceptor.is_none() {
                    conns.spawn(async move {
                        let _ = stream
                            .write_all(b"-ERR max number of clients reached\r\n")
                            .await;
                    });
                }
                continue;
            }
            let _ = stream.set_nodelay(true);
            stats.connected.fetch_add(1, Ordering::Relaxed);
            stats.total_connections.fetch_add(1, Ordering::Relaxed);
            let stop = stop_rx.clone();
            let shared2 = shared.clone();
            conns.spawn(async move {
                let boxed: Box<dyn crate::connection::ClientStream> = match acceptor {
                    None => Box::new(stream),
                    Some(acceptor) => {
                        match tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => Box::new(tls),
                            Ok(Err(e)) => {
                                tracing::warn!(%peer, error = %e, "TLS handshake refused");
                                shared2.stats.connected.fetch_sub(1, Ordering::Relaxed);
                                return;
                            }
                            Err(_) => {
                                tracing::warn!(%peer, "TLS handshake timed out");
                                shared2.stats.connected.fetch_sub(1, Ordering::Relaxed);
                                return;
                            }
                        }
                    }
                };
                let conn = Connection::new(boxed, peer, shared2.clone());
                conn.run(stop).await;
                shared2.stats.connected.fetch_sub(1, Ordering::Relaxed);
            });
        }
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        drop(listener);
        let _ = stop_tx.send(true);
        let grace =
            Duration::from_millis(shared.config.request_timeout_ms) + Duration::from_secs(1);
        let drained =
            tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                left = conns.len(),
                "dropping connections still busy after the grace period"
            );
            conns.abort_all();
        }
        sweeper.abort();
        shared
            .backend
            .shutdown()
            .await
            .map_err(ServeError::Shutdown)?;
        tracing::info!("shut down cleanly");
        Ok(())
    }
}

fn write_port_file(path: &std::path::Path, addr: SocketAddr) -> std::io::Result<()> {
    // Write then rename, so a reader never sees a partial address.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{addr}\n"))?;
    std::fs::rename(&tmp, path)
}

/// Most keys one purge entry deletes.
const PURGE_LIMIT: u32 = 1024;

/// On the leader (or a standalone node), periodically proposes purges of
/// expired keys, so they leave the engine (reads already hide them).
async fn sweeper(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let every = shared.config.expire_sweep_ms;
    if every == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(every));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let role = shared.backend.status().role;
        if !matches!(role, NodeRole::Leader | NodeRole::Standalone) {
            continue;
        }
        for _ in 0..8 {
            match shared.backend.read(ReadOp::ExpiredCount).await {
                Ok(Reply::Int(n)) if n > 0 => {}
                _ => break,
            }
            let op = WriteOp::new(
                WriteCmd::PurgeExpired { limit: PURGE_LIMIT },
                bitcask::now_millis(),
            );
            match shared.backend.write(op).await {
                Ok(Reply::Int(n)) if n == i64::from(PURGE_LIMIT) => continue,
                Ok(Reply::Int(n)) => {
                    tracing::debug!(purged = n, "expired keys purged");
                    break;
                }
                Ok(_) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "expiry purge not applied");
                    break;
                }
            }
        }
    }
}
