//! Configuration: command-line flags (clap) and an optional TOML file with
//! the same keys. A flag given on the command line wins over the file; the
//! file wins over the defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use serde::Deserialize;

/// Why the configuration is unusable. Each is one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag is unknown, repeated, missing its value or has a bad one.
    #[error("{0} (see --help)")]
    Usage(String),
    /// The `--config` file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The `--config` file is not valid TOML or has unknown keys.
    #[error("bad config file {path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message, on one line.
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The format of log lines (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Replication mode of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Replication {
    /// Raft consensus; without `--peers` a one-member cluster.
    #[default]
    Raft,
    /// The engine alone; every write fsynced before the reply.
    None,
}

const AFTER_HELP: &str = "\
Examples:
  snowflk-server
      one node on 127.0.0.1:7379, data in ./snowflk-data (a one-member Raft cluster)
  snowflk-server --replication none --data-dir /var/lib/snowflk
      a single durable server without Raft
  snowflk-server --id 1 --listen 127.0.0.1:7001 --peer-listen 127.0.0.1:8001 \\
      --peers 1=127.0.0.1:8001,2=127.0.0.1:8002,3=127.0.0.1:8003 --data-dir n1
      node 1 of a three-node cluster
  snowflk-server --id 4 --listen 127.0.0.1:7004 --peer-listen 127.0.0.1:8004 \
      --join 127.0.0.1:7001 --data-dir n4
      a fourth node joins through node 1 as a learner (then: SNOWFLK PROMOTE 4)
  snowflk-server --config node1.toml
      the same keys in a TOML file (data-dir = \"n1\", peers = \"1=...,2=...\")";

/// Command-line flags. Every option is also a key of the `--config` file.
#[derive(Debug, Clone, Default, Parser, Deserialize)]
#[command(name = "snowflk-server", version, about = "A snowflk node: a Redis-protocol key-value store on a bitcask engine, replicated by Raft", after_help = AFTER_HELP)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Flags {
    /// TOML file with any of these options as keys (e.g. `data-dir = "n1"`).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// This node's id (a positive integer, unique in the cluster). Default 1.
    #[arg(long)]
    pub id: Option<u64>,
    /// Data directory (engine, and the Raft log under `raft/`). Default `./snowflk-data`.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Client (RESP) address. Port 0 picks a free port (logged). Default `127.0.0.1:7379`.
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Write the bound client address to this file once listening (for scripts and tests).
    #[arg(long, value_name = "FILE")]
    pub port_file: Option<PathBuf>,
    /// Raft peer address this node listens on. Default `127.0.0.1:7380`.
    #[arg(long, value_name = "HOST:PORT")]
    pub peer_listen: Option<String>,
    /// Initial voters, this node included: `ID=HOST:PORT,...`. Default: this node alone.
    #[arg(long, value_name = "ID=HOST:PORT,...")]
    pub peers: Option<String>,
    /// Join a running cluster through any member's client address, e.g.
    /// `--join 10.0.0.1:7379`: this node (with its own `--id`, `--listen`,
    /// `--peer-listen`, and no `--peers`) is added as a learner; promote it
    /// with `SNOWFLK PROMOTE <id>` once caught up.
    #[arg(long, value_name = "HOST:PORT")]
    pub join: Option<String>,
    /// Cluster name checked in the peer handshake. Default `snowflk`.
    #[arg(long)]
    pub cluster_id: Option<String>,
    /// `raft` (default) or `none` (the engine alone, every write fsynced).
    #[arg(long, value_enum)]
    pub replication: Option<Replication>,
    /// Raft tick length in milliseconds. Default 100.
    #[arg(long, value_name = "MS")]
    pub tick_ms: Option<u64>,
    /// Election timeout in ticks (randomized between this and twice it). Default 10.
    #[arg(long, value_name = "TICKS")]
    pub election_ticks: Option<u32>,
    /// Heartbeat interval in ticks (at most a fifth of the election timeout). Default 1.
    #[arg(long, value_name = "TICKS")]
    pub heartbeat_ticks: Option<u32>,
    /// How long a client request waits for its write or read before `TIMEOUT`. Default 5000.
    #[arg(long, value_name = "MS")]
    pub request_timeout_ms: Option<u64>,
    /// Take a Raft snapshot after this many applied log entries; 0 never (the log then grows without bound). Default 100000.
    #[arg(long, value_name = "ENTRIES")]
    pub snapshot_entries: Option<u64>,
    /// ... or after this many bytes of applied writes, whichever comes first. Default 268435456 (256 MiB).
    #[arg(long, value_name = "BYTES")]
    pub snapshot_bytes: Option<u64>,
    /// Log entries kept before a snapshot's index, in memory and on disk, so a follower slightly behind catches up without a whole snapshot. Default 1024.
    #[arg(long, value_name = "ENTRIES")]
    pub snapshot_trailing_entries: Option<u64>,
    /// Raft log segment size in bytes; the log is deleted whole segments at a time once a snapshot covers them. Default 67108864 (64 MiB).
    #[arg(long, value_name = "BYTES")]
    pub raft_log_segment_bytes: Option<u64>,
    /// Extend the newest Raft log segment with zeros this many bytes at a time, ahead of the appends, so an append's fsync need not record a new file size (about 40% cheaper on ext4); 0 turns it off. Default 1048576 (1 MiB).
    #[arg(long, value_name = "BYTES")]
    pub raft_log_preallocate_bytes: Option<u64>,
    /// Engine segment size limit in bytes. Default 268435456 (256 MiB).
    #[arg(long, value_name = "BYTES")]
    pub max_file_size: Option<u64>,
    /// Run the engine's merge policy every this many ms; 0 turns background merging off. Default 60000.
    #[arg(long, value_name = "MS")]
    pub merge_interval_ms: Option<u64>,
    /// Merge output rate limit in bytes per second; 0 for none. Default 0.
    #[arg(long, value_name = "BYTES")]
    pub merge_rate_limit: Option<u64>,
    /// How often the leader deletes expired keys (by proposing a purge); 0 turns it off. Default 1000.
    #[arg(long, value_name = "MS")]
    pub expire_sweep_ms: Option<u64>,
    /// Most client connections; more are refused with an error. Default 10000.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Largest request (all its arguments) in bytes. Default 536870912 (512 MiB).
    #[arg(long, value_name = "BYTES")]
    pub max_request_size: Option<usize>,
    /// Most arguments in one request. Default 1048576.
    #[arg(long)]
    pub max_args: Option<usize>,
    /// Longest key in bytes (at most 65534). Default 65534.
    #[arg(long, value_name = "BYTES")]
    pub max_key_size: Option<usize>,
    /// Longest value (one bulk argument) in bytes. Default 536870903 (512 MiB less the value header).
    /// With `--replication raft` a whole write must also fit one replicated log entry
    /// (64 MiB less 64 KiB); a larger one gets an error and is not applied.
    #[arg(long, value_name = "BYTES")]
    pub max_value_size: Option<usize>,
    /// Log filter (`RUST_LOG` syntax), e.g. `info` or `snowflk_server=debug`. Default `info`.
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    /// Log line format on stderr: `text` (default) or `json` (one JSON
    /// object per line, for log collectors).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Start a new one-node store from a `SNOWFLK BACKUP` directory (copied
    /// into an empty `--data-dir`; the backup is left untouched). Only
    /// without other `--peers`, e.g. `--restore /backups/2026-12-02`.
    #[arg(long, value_name = "DIR")]
    pub restore: Option<PathBuf>,
    /// Require clients to `AUTH` with this password (user `default`, admin
    /// role). Prefer the config file: flags are visible to `ps`.
    #[arg(long, value_name = "PASSWORD")]
    pub requirepass: Option<String>,
    /// Users with roles: `[[users]]` tables in the config file only (see
    /// docs/server.md, "Authentication").
    #[arg(skip)]
    pub users: Option<Vec<crate::auth::UserConfig>>,
    /// Serve TLS clients here (beside the plain `--listen`), e.g.
    /// `0.0.0.0:6380`. Needs `--tls-cert-file` and `--tls-key-file`.
    #[arg(long, value_name = "HOST:PORT")]
    pub tls_listen: Option<String>,
    /// Redis-style alias of `--tls-listen`: the TLS port on `--listen`'s host.
    #[arg(long, value_name = "PORT")]
    pub tls_port: Option<u16>,
    /// The server's certificate chain, PEM.
    #[arg(long, value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// The server's private key, PEM.
    #[arg(long, value_name = "FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// CA certificate(s) that sign client certificates, PEM.
    #[arg(long, value_name = "FILE")]
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Client certificates: `yes` (required; the default with a CA file),
    /// `optional`, or `no` (the default without one).
    #[arg(long, value_enum)]
    pub tls_auth_clients: Option<crate::tls::ClientAuth>,
    /// Mutual TLS on the peer port: this node's certificate (PEM; it must
    /// name the `--peer-listen` host). Needs the next two as well.
    #[arg(long, value_name = "FILE")]
    pub peer_cert_file: Option<PathBuf>,
    /// The private key of `--peer-cert-file` (PEM).
    #[arg(long, value_name = "FILE")]
    pub peer_key_file: Option<PathBuf>,
    /// The cluster CA that signs every node's peer certificate (PEM).
    #[arg(long, value_name = "FILE")]
    pub peer_trusted_ca_file: Option<PathBuf>,
    /// Write the bound TLS client address to this file (scripts and tests).
    #[arg(long, value_name = "FILE")]
    pub tls_port_file: Option<PathBuf>,
    /// Serve Prometheus `/metrics` and a `/health` check over HTTP here,
    /// e.g. `127.0.0.1:9379`. Default: off.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_listen: Option<String>,
    /// Write the bound metrics address to this file (scripts and tests).
    #[arg(long, value_name = "FILE")]
    pub metrics_port_file: Option<PathBuf>,
    /// Read a password from stdin, print its Argon2id hash (for a user's
    /// `password-hash`) and exit.
    #[arg(long)]
    #[serde(skip)]
    pub hash_password: bool,
}

/// Client-protocol limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most client connections.
    pub max_connections: usize,
    /// Largest request in bytes.
    pub max_request_size: usize,
    /// Most arguments per request.
    pub max_args: usize,
    /// Longest key.
    pub max_key_size: usize,
    /// Longest bulk argument (value).
    pub max_value_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_request_size: 512 * 1024 * 1024,
            max_args: 1024 * 1024,
            max_key_size: crate::state_machine::MAX_KEY_LEN,
            max_value_size: crate::state_machine::MAX_VALUE_LEN,
        }
    }
}

/// The resolved configuration of a node.
#[derive(Debug, Clone)]
pub struct Config {
    /// Node id.
    pub id: u64,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Client address to bind.
    pub listen: String,
    /// Where to write the bound client address.
    pub port_file: Option<PathBuf>,
    /// Peer address to bind.
    pub peer_listen: String,
    /// Initial voters: id -> peer address (this node included).
    pub peers: BTreeMap<u64, String>,
    /// A member's client address to join through (`--join`).
    pub join: Option<String>,
    /// The `--requirepass` password, which a joining node also uses to
    /// `AUTH` at the member it joins through.
    pub requirepass: Option<String>,
    /// Cluster name for the peer handshake.
    pub cluster_id: String,
    /// Replication mode.
    pub replication: Replication,
    /// Raft tick in ms.
    pub tick_ms: u64,
    /// Election timeout in ticks.
    pub election_ticks: u32,
    /// Heartbeat interval in ticks.
    pub heartbeat_ticks: u32,
    /// Request timeout in ms.
    pub request_timeout_ms: u64,
    /// Applied entries between Raft snapshots (0: never).
    pub snapshot_entries: u64,
    /// Applied write bytes between Raft snapshots.
    pub snapshot_bytes: u64,
    /// Log entries kept before a snapshot's index.
    pub snapshot_trailing_entries: u64,
    /// Raft log segment size.
    pub raft_log_segment_bytes: u64,
    /// Zeros prepared ahead of Raft log appends, per step (0: off).
    pub raft_log_preallocate_bytes: u64,
    /// Engine segment size.
    pub max_file_size: u64,
    /// Background merge interval in ms (0: off).
    pub merge_interval_ms: u64,
    /// Merge rate limit (0: none).
    pub merge_rate_limit: u64,
    /// Expiry sweep interval in ms (0: off).
    pub expire_sweep_ms: u64,
    /// A backup to start from (`--restore`).
    pub restore: Option<PathBuf>,
    /// The users clients authenticate as (none: no authentication).
    pub users: crate::auth::Users,
    /// TLS on the client port (`--tls-listen`).
    pub tls: Option<crate::tls::TlsSettings>,
    /// Where to write the bound TLS address.
    pub tls_port_file: Option<PathBuf>,
    /// Mutual TLS on the peer port.
    pub peer_tls: Option<crate::tls::PeerTlsFiles>,
    /// Where to serve `/metrics` and `/health`.
    pub metrics_listen: Option<String>,
    /// Log line format.
    pub log_format: LogFormat,
    /// Where to write the bound metrics address.
    pub metrics_port_file: Option<PathBuf>,
    /// Client-protocol limits.
    pub limits: Limits,
    /// Log filter.
    pub log: String,
}

impl Config {
    /// Parses the process arguments (exits with clap's message on bad flags)
    /// and the `--config` file, then validates.
    ///
    /// `--help` and `--version` print to stdout and exit 0 here; a bad flag
    /// is [`ConfigError::Usage`] (one line, for the operator).
    pub fn from_args() -> Result<Self, ConfigError> {
        match Flags::try_parse() {
            Ok(flags) => Self::from_flags(flags),
            Err(e) => match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    e.exit()
                }
                _ => Err(ConfigError::Usage(usage_line(&e))),
            },
        }
    }

    /// Resolves flags plus the file they name.
    pub fn from_flags(flags: Flags) -> Result<Self, ConfigError> {
        let file = match &flags.config {
            None => Flags::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str::<Flags>(&text).map_err(|e| ConfigError::Toml {
                    path: path.clone(),
                    message: e.message().replace('\n', " "),
                })?
            }
        };
        Self::resolve(flags, file)
    }

    fn resolve(f: Flags, file: Flags) -> Result<Self, ConfigError> {
        macro_rules! pick {
            ($field:ident, $default:expr) => {
                f.$field.or(file.$field).unwrap_or_else(|| $default)
            };
        }
        let d = Limits::default();
        let id = pick!(id, 1);
        if id == 0 {
            return Err(ConfigError::Invalid(
                "--id must be a positive integer".into(),
            ));
        }
        let peer_listen = pick!(peer_listen, "127.0.0.1:7380".into());
        let join = f.join.or(file.join);
        let requirepass = f.requirepass.clone().or(file.requirepass.clone());
        let explicit_peers = f.peers.or(file.peers);
        if join.is_some() && explicit_peers.is_some() {
            return Err(ConfigError::Invalid(
                "--join and --peers exclude each other: a joining node learns the members from the cluster".into(),
            ));
        }
        if let Some(addr) = &join {
            check_addr("--join", addr)?;
        }
        let peers = match explicit_peers {
            Some(text) => parse_peers(&text)?,
            None => BTreeMap::from([(id, peer_listen.clone())]),
        };
        if !peers.contains_key(&id) {
            return Err(ConfigError::Invalid(format!(
                "--peers must include this node (id {id})"
            )));
        }
        let listen = pick!(listen, "127.0.0.1:7379".into());
        check_addr("--listen", &listen)?;
        check_addr("--peer-listen", &peer_listen)?;
        let tls_listen = match (
            f.tls_listen.or(file.tls_listen),
            f.tls_port.or(file.tls_port),
        ) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid(
                    "give --tls-listen or --tls-port, not both".into(),
                ));
            }
            (Some(addr), None) => Some(addr),
            (None, Some(port)) => {
                let host = listen.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
                Some(format!("{host}:{port}"))
            }
            (None, None) => None,
        };
        let tls = match tls_listen {
            None => None,
            Some(addr) => {
                check_addr("--tls-listen", &addr)?;
                let (Some(cert_file), Some(key_file)) = (
                    f.tls_cert_file.or(file.tls_cert_file),
                    f.tls_key_file.or(file.tls_key_file),
                ) else {
                    return Err(ConfigError::Invalid(
                        "--tls-listen needs --tls-cert-file and --tls-key-file".into(),
                    ));
                };
                let ca_file = f.tls_ca_cert_file.or(file.tls_ca_cert_file);
                let auth_clients =
                    f.tls_auth_clients
                        .or(file.tls_auth_clients)
                        .unwrap_or(if ca_file.is_some() {
                            crate::tls::ClientAuth::Yes
                        } else {
                            crate::tls::ClientAuth::No
                        });
                Some(crate::tls::TlsSettings {
                    listen: addr,
                    cert_file,
                    key_file,
                    ca_file,
                    auth_clients,
                })
            }
        };
        let peer_tls = match (
            f.peer_cert_file.or(file.peer_cert_file),
            f.peer_key_file.or(file.peer_key_file),
            f.peer_trusted_ca_file.or(file.peer_trusted_ca_file),
        ) {
            (None, None, None) => None,
            (Some(cert_file), Some(key_file), Some(ca_file)) => Some(crate::tls::PeerTlsFiles {
                cert_file,
                key_file,
                ca_file,
            }),
            _ => {
                return Err(ConfigError::Invalid(
                    "peer TLS needs all of --peer-cert-file, --peer-key-file and --peer-trusted-ca-file"
                        .into(),
                ));
            }
        };
        let metrics_listen = f.metrics_listen.or(file.metrics_listen);
        if let Some(addr) = &metrics_listen {
            check_addr("--metrics-listen", addr)?;
        }
        let config = Config {
            id,
            data_dir: pick!(data_dir, PathBuf::from("./snowflk-data")),
            listen,
            port_file: f.port_file.or(file.port_file),
            peer_listen,
            peers,
            join,
            cluster_id: pick!(cluster_id, "snowflk".into()),
            replication: pick!(replication, Replication::Raft),
            tick_ms: pick!(tick_ms, 100),
            election_ticks: pick!(election_ticks, 10),
            heartbeat_ticks: pick!(heartbeat_ticks, 1),
            request_timeout_ms: pick!(request_timeout_ms, 5000),
            snapshot_entries: pick!(snapshot_entries, 100_000),
            snapshot_bytes: pick!(snapshot_bytes, 256 * 1024 * 1024),
            snapshot_trailing_entries: pick!(snapshot_trailing_entries, 1024),
            raft_log_segment_bytes: pick!(raft_log_segment_bytes, 64 * 1024 * 1024),
            raft_log_preallocate_bytes: pick!(
                raft_log_preallocate_bytes,
                raftlog::storage::DEFAULT_PREALLOCATE_BYTES
            ),
            max_file_size: pick!(max_file_size, 256 * 1024 * 1024),
            merge_interval_ms: pick!(merge_interval_ms, 60_000),
            merge_rate_limit: pick!(merge_rate_limit, 0),
            expire_sweep_ms: pick!(expire_sweep_ms, 1000),
            restore: f.restore.or(file.restore),
            metrics_listen,
            tls,
            peer_tls,
            tls_port_file: f.tls_port_file.or(file.tls_port_file),
            log_format: pick!(log_format, LogFormat::Text),
            metrics_port_file: f.metrics_port_file.or(file.metrics_port_file),
            requirepass: requirepass.clone(),
            users: crate::auth::Users::from_config(
                requirepass.as_deref(),
                &f.users.or(file.users).unwrap_or_default(),
            )
            .map_err(|e| ConfigError::Invalid(e.to_string()))?,
            limits: Limits {
                max_connections: pick!(max_connections, d.max_connections),
                max_request_size: pick!(max_request_size, d.max_request_size),
                max_args: pick!(max_args, d.max_args),
                max_key_size: pick!(max_key_size, d.max_key_size),
                max_value_size: pick!(max_value_size, d.max_value_size),
            },
            log: pick!(log, "info".into()),
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.tick_ms == 0 {
            return bad("--tick-ms must be positive".into());
        }
        if self.snapshot_bytes == 0 {
            return bad("--snapshot-bytes must be positive (use --snapshot-entries 0 to turn snapshots off)".into());
        }
        if self.raft_log_segment_bytes < 4096 {
            return bad(format!(
                "--raft-log-segment-bytes {} is below the minimum 4096",
                self.raft_log_segment_bytes
            ));
        }
        if self.heartbeat_ticks == 0 || self.election_ticks < 5 * self.heartbeat_ticks {
            return bad(format!(
                "--election-ticks ({}) must be at least 5 times --heartbeat-ticks ({}), which must be positive",
                self.election_ticks, self.heartbeat_ticks
            ));
        }
        if self.request_timeout_ms == 0 {
            return bad("--request-timeout-ms must be positive".into());
        }
        if self.join.is_some() && (self.restore.is_some() || self.replication == Replication::None)
        {
            return bad(
                "--join needs --replication raft and cannot be combined with --restore".into(),
            );
        }
        if self.restore.is_some() && self.peers.len() > 1 {
            return bad(
                "--restore starts a new one-node store: give no other --peers (start the \
                 restored node alone, then grow the cluster from it)"
                    .into(),
            );
        }
        if self.data_dir.as_os_str().is_empty() {
            return bad("--data-dir must not be empty (use . for the working directory)".into());
        }
        if self.requirepass.as_deref() == Some("") {
            return bad("--requirepass must not be empty: leave it out for no password".into());
        }
        if !(4096..=bitcask::options::MAX_FILE_SIZE_LIMIT).contains(&self.max_file_size) {
            return bad(format!(
                "--max-file-size {} is outside 4096..={}",
                self.max_file_size,
                bitcask::options::MAX_FILE_SIZE_LIMIT
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            return bad(format!("--log {:?} is not a log filter: {e}", self.log));
        }
        let l = &self.limits;
        for (flag, value) in [
            ("--max-connections", l.max_connections as u64),
            ("--max-args", l.max_args as u64),
            ("--max-request-size", l.max_request_size as u64),
            ("--max-key-size", l.max_key_size as u64),
            ("--max-value-size", l.max_value_size as u64),
        ] {
            if value == 0 {
                return bad(format!("{flag} must be positive"));
            }
        }
        if l.max_key_size > crate::state_machine::MAX_KEY_LEN {
            return bad(format!(
                "--max-key-size must be at most {}",
                crate::state_machine::MAX_KEY_LEN
            ));
        }
        if l.max_value_size > crate::state_machine::MAX_VALUE_LEN {
            return bad(format!(
                "--max-value-size must be at most {}",
                crate::state_machine::MAX_VALUE_LEN
            ));
        }
        Ok(())
    }

    /// The engine options for this node's state machine under `sync`.
    pub fn engine_options(&self, sync: bitcask::SyncPolicy) -> bitcask::Options {
        let mut merge = bitcask::MergePolicy::default();
        if self.merge_interval_ms > 0 {
            merge.background_interval =
                Some(std::time::Duration::from_millis(self.merge_interval_ms));
        }
        if self.merge_rate_limit > 0 {
            merge.rate_limit_bytes_per_sec = Some(self.merge_rate_limit);
        }
        bitcask::Options::default()
            .sync(sync)
            .max_file_size(self.max_file_size)
            .merge(merge)
    }
}

fn check_addr(flag: &str, addr: &str) -> Result<(), ConfigError> {
    addr.parse::<SocketAddr>()
        .map(|_| ())
        .map_err(|_| ConfigError::Invalid(format!("{flag} {addr:?} is not an IP:PORT address")))
}

/// Parses `ID=HOST:PORT,...`: ids positive and unique, addresses `IP:PORT`.
pub fn parse_peers(text: &str) -> Result<BTreeMap<u64, String>, ConfigError> {
    let mut peers = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad =
            || ConfigError::Invalid(format!("bad --peers entry {item:?}: expected ID=HOST:PORT"));
        let (id, addr) = item.split_once('=').ok_or_else(bad)?;
        let id: u64 = id.trim().parse().map_err(|_| bad())?;
        if id == 0 {
            return Err(bad());
        }
        let addr = addr.trim();
        check_addr("--peers", addr)?;
        if peers.insert(id, addr.to_string()).is_some() {
            return Err(ConfigError::Invalid(format!(
                "--peers names node {id} twice"
            )));
        }
    }
    if peers.is_empty() {
        return Err(ConfigError::Invalid("--peers is empty".into()));
    }
    Ok(peers)
}

/// clap's message without its usage block and tips: the first line, less
/// the `error: ` prefix.
fn usage_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or("bad command line");
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let mut all = vec!["snowflk-server"];
        all.extend_from_slice(args);
        Config::from_flags(
            Flags::try_parse_from(all).map_err(|e| ConfigError::Invalid(e.to_string()))?,
        )
    }

    #[test]
    fn defaults() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.id, 1);
        assert_eq!(c.listen, "127.0.0.1:7379");
        assert_eq!(c.data_dir, PathBuf::from("./snowflk-data"));
        assert_eq!(c.replication, Replication::Raft);
        assert_eq!(c.peers, BTreeMap::from([(1, "127.0.0.1:7380".to_string())]));
    }

    #[test]
    fn peers_and_errors() {
        let c = parse(&["--id", "2", "--peers", "1=127.0.0.1:1,2=127.0.0.1:2"]).unwrap();
        assert_eq!(c.peers.len(), 2);
        for bad in [
            &["--peers", "1=127.0.0.1:1,1=127.0.0.1:2"][..],
            &["--peers", "x=127.0.0.1:1"],
            &["--peers", "1=nowhere"],
            &["--peers", "2=127.0.0.1:2"],
            &["--id", "0"],
            &["--listen", "7379"],
            &["--election-ticks", "2"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    /// Values that would start a node doing something else than asked
    /// (hostile14 F5): each is a one-line configuration error (exit 2).
    #[test]
    fn empty_or_out_of_range_values_are_refused() {
        for (bad, names) in [
            (&["--data-dir", ""][..], "--data-dir"),
            (&["--requirepass", ""], "--requirepass"),
            (&["--max-value-size", "0"], "--max-value-size"),
            (&["--max-key-size", "0"], "--max-key-size"),
            (&["--max-file-size", "10"], "--max-file-size 10"),
            (&["--max-file-size", "4294967296"], "--max-file-size"),
            (&["--log", "[[["], "--log"),
        ] {
            let err = match parse(bad) {
                Err(e @ ConfigError::Invalid(_)) => e.to_string(),
                other => panic!("{bad:?}: {other:?}"),
            };
            assert!(err.contains(names), "{bad:?}: {err}");
        }
        assert!(parse(&["--log", "snowflk_server=debug,warn"]).is_ok());
        assert!(parse(&["--max-file-size", "4096"]).is_ok());
    }

    #[test]
    fn toml_file_and_flag_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.toml");
        std::fs::write(
            &path,
            "id = 3\ndata-dir = \"d3\"\nreplication = \"none\"\npeers = \"3=127.0.0.1:9\"\n",
        )
        .unwrap();
        let c = parse(&["--config", path.to_str().unwrap(), "--data-dir", "other"]).unwrap();
        assert_eq!(c.id, 3);
        assert_eq!(c.replication, Replication::None);
        assert_eq!(c.data_dir, PathBuf::from("other"));
        std::fs::write(&path, "colour = 1\n").unwrap();
        let err = parse(&["--config", path.to_str().unwrap()]).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }
}
