//! One client connection: buffered reads, the RESP parser, commands run in
//! order (pipelined requests are answered in order, their replies written
//! together), RESP3 after `HELLO 3`, and `MULTI` queues.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::auth::{self, Identity};
use crate::commands::{self, AdminCmd, Command, ConnCmd, Ctx, admin};
use crate::metrics::Metrics;
use crate::ops::{NodeRole, ReadOp, ReplicationMode, Reply, WriteCmd, WriteOp};
use crate::resp::{self, ParseLimits, Protocol, RequestParser};
use crate::server::Shared;

/// A client byte stream: a TCP socket or a TLS session over one.
pub trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> ClientStream for T {}

/// Replies are written once this many bytes are pending, even mid-pipeline.
const FLUSH_AT: usize = 64 * 1024;
/// Most pipelined writes submitted together.
const MAX_GROUP: usize = 256;
/// Most pipelined reads served as one batch: their replies are held in
/// memory together, and values may be large.
const MAX_READ_GROUP: usize = 64;
/// Read granularity.
const READ_CHUNK: usize = 16 * 1024;

/// A `MULTI` in progress.
#[derive(Debug, Default)]
struct Multi {
    cmds: Vec<WriteCmd>,
    /// Commands queued with invalid arguments ([`Command::Invalid`]): their
    /// place among the queued commands and their error, which `EXEC`
    /// answers in that place while the others run.
    invalid: Vec<(usize, Reply)>,
    /// A command failed to queue: `EXEC` aborts.
    failed: bool,
}

impl Multi {
    fn queued(&self) -> usize {
        self.cmds.len() + self.invalid.len()
    }

    /// `EXEC`'s reply: the transaction's replies with each invalid
    /// command's error put back in its place. Anything but an array (an
    /// error about the whole transaction) is returned as it is.
    fn merge(invalid: Vec<(usize, Reply)>, reply: Reply) -> Reply {
        if invalid.is_empty() {
            return reply;
        }
        let Reply::Array(ran) = reply else {
            return reply;
        };
        let mut ran = ran.into_iter();
        let mut invalid = invalid.into_iter().peekable();
        let mut all = Vec::with_capacity(ran.len() + invalid.len());
        loop {
            match invalid.peek() {
                Some((at, _)) if *at == all.len() => {
                    all.extend(invalid.next().map(|(_, e)| e));
                }
                _ => match ran.next() {
                    Some(r) => all.push(r),
                    None => break,
                },
            }
        }
        all.extend(invalid.map(|(_, e)| e));
        Reply::Array(all)
    }
}

/// One client connection.
pub struct Connection {
    stream: Box<dyn ClientStream>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    id: u64,
    rbuf: BytesMut,
    wbuf: BytesMut,
    parser: RequestParser,
    proto: Protocol,
    name: Option<Vec<u8>>,
    multi: Option<Multi>,
    ctx: Ctx,
    /// Who the connection is authenticated as (None: not yet, and the
    /// server requires it).
    identity: Option<Identity>,
    /// Whether the last reply encoded was an error (for the metrics).
    last_error: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// What the connection does after a command.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    Continue,
    Close,
}

impl Connection {
    /// Wraps an accepted stream (plain TCP or TLS).
    pub fn new(stream: Box<dyn ClientStream>, peer: SocketAddr, shared: Arc<Shared>) -> Self {
        let limits = shared.config.limits;
        let parse_limits = ParseLimits {
            max_request: limits.max_request_size,
            max_args: limits.max_args,
            max_bulk: limits.max_value_size.max(limits.max_key_size),
        };
        Self {
            id: shared.next_client_id(),
            stream,
            peer,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::with_capacity(READ_CHUNK),
            parser: RequestParser::new(parse_limits),
            proto: Protocol::Resp2,
            name: None,
            last_error: false,
            multi: None,
            identity: (!shared.config.users.required()).then(Identity::open),
            ctx: Ctx { limits },
            shared,
        }
    }

    /// Serves the connection until the client leaves, a protocol error, or
    /// shutdown (requests already received are answered first).
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        // Consecutive pipelined writes, submitted together (in order), with
        // their command's metrics index and arrival time.
        let mut group: Vec<WriteCmd> = Vec::new();
        // Or consecutive pipelined small reads, served with one read index.
        // At most one of the two groups holds commands at a time.
        let mut reads: Vec<ReadOp> = Vec::new();
        let mut group_meta: Vec<(usize, Instant)> = Vec::new();
        loop {
            loop {
                match self.parser.parse(&mut self.rbuf) {
                    Ok(Some(args)) => {
                        self.shared
                            .stats
                            .total_commands
                            .fetch_add(1, Ordering::Relaxed);
                        let started = Instant::now();
                        let mut name_buf = [0u8; 32];
                        let name = upper_name(&args, &mut name_buf);
                        let metric = Metrics::command_index(name);
                        let parsed = match self.gate(name, &args) {
                            Some(refused) => Command::Reply(refused),
                            None => commands::parse(&args, &self.ctx),
                        };
                        let cmd = match parsed {
                            Command::Write(w) if self.multi.is_none() => {
                                self.run_reads(&mut reads, &mut group_meta).await;
                                group.push(w);
                                group_meta.push((metric, started));
                                if group.len() >= MAX_GROUP {
                                    self.run_group(&mut group, &mut group_meta).await;
                                }
                                continue;
                            }
                            Command::Read(op) if self.multi.is_none() && op.batchable() => {
                                self.run_group(&mut group, &mut group_meta).await;
                                reads.push(op);
                                group_meta.push((metric, started));
                                if reads.len() >= MAX_READ_GROUP {
                                    self.run_reads(&mut reads, &mut group_meta).await;
                                }
                                continue;
                            }
                            other => other,
                        };
                        drop(args);
                        self.run_group(&mut group, &mut group_meta).await;
                        self.run_reads(&mut reads, &mut group_meta).await;
                        let next = self.execute(cmd).await;
                        self.shared.metrics.record(metric, started, self.last_error);
                        if next == Next::Close {
                            let _ = self.flush().await;
                            return;
                        }
                        if self.wbuf.len() >= FLUSH_AT && self.flush().await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.run_group(&mut group, &mut group_meta).await;
                        self.run_reads(&mut reads, &mut group_meta).await;
                        self.shared
                            .stats
                            .protocol_errors
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::info!(peer = %self.peer, error = %e, "closing client connection");
                        self.encode(&Reply::error(format!("ERR {e}")));
                        let _ = self.flush().await;
                        return;
                    }
                }
            }
            self.run_group(&mut group, &mut group_meta).await;
            self.run_reads(&mut reads, &mut group_meta).await;
            if self.flush().await.is_err() || *stop.borrow() {
                return;
            }
            self.rbuf.reserve(READ_CHUNK);
            tokio::select! {
                read = self.stream.read_buf(&mut self.rbuf) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
                _ = stop.changed() => return,
            }
        }
    }

    /// Submits the pending pipelined writes together and encodes their
    /// replies in order; each write is counted in the metrics with its
    /// own reply.
    async fn run_group(&mut self, group: &mut Vec<WriteCmd>, meta: &mut Vec<(usize, Instant)>) {
        let replies = match group.len() {
            0 => return,
            1 => match group.pop() {
                Some(cmd) => vec![self.write(cmd).await],
                None => return,
            },
            _ => {
                let now = bitcask::now_millis();
                let ops = group.drain(..).map(|c| WriteOp::new(c, now)).collect();
                self.shared
                    .backend
                    .write_many(ops)
                    .await
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|e| e.to_reply()))
                    .collect()
            }
        };
        for (reply, (metric, started)) in replies.iter().zip(meta.drain(..)) {
            self.encode(reply);
            self.shared.metrics.record(metric, started, self.last_error);
        }
        meta.clear();
    }

    /// Serves the pending pipelined reads together and encodes their
    /// replies in order, each counted in the metrics.
    async fn run_reads(&mut self, reads: &mut Vec<ReadOp>, meta: &mut Vec<(usize, Instant)>) {
        let replies: Vec<Reply> = match reads.len() {
            0 => return,
            1 => match reads.pop() {
                Some(op) => vec![
                    self.shared
                        .backend
                        .read(op)
                        .await
                        .unwrap_or_else(|e| e.to_reply()),
                ],
                None => return,
            },
            _ => self
                .shared
                .backend
                .read_many(std::mem::take(reads))
                .await
                .into_iter()
                .map(|r| r.unwrap_or_else(|e| e.to_reply()))
                .collect(),
        };
        for (reply, (metric, started)) in replies.iter().zip(meta.drain(..)) {
            self.encode(reply);
            self.shared.metrics.record(metric, started, self.last_error);
        }
        meta.clear();
        // Large values: send them before parsing on, as a single read would.
        // A failed write leaves the buffer, and the next flush ends the
        // connection.
        if self.wbuf.len() >= FLUSH_AT {
            let _ = self.flush().await;
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    fn encode(&mut self, reply: &Reply) {
        self.last_error = matches!(reply, Reply::Error(_));
        resp::encode(reply, self.proto, &mut self.wbuf);
    }

    async fn execute(&mut self, cmd: Command) -> Next {
        if self.multi.is_some()
            && let Some(reply) = self.queue(cmd.clone())
        {
            self.encode(&reply);
            return Next::Continue;
        }
        let reply = match cmd {
            Command::Reply(r) | Command::Invalid(r) => r,
            Command::Write(w) => self.write(w).await,
            Command::Read(op) => match self.shared.backend.read(op).await {
                Ok(r) => r,
                Err(e) => e.to_reply(),
            },
            Command::Info(sections) => Reply::Bulk(self.info(&sections).await.into_bytes()),
            Command::Admin(a) => self.admin(a).await,
            Command::Conn(c) => match self.conn(c).await {
                (r, Next::Close) => {
                    self.encode(&r);
                    return Next::Close;
                }
                (r, Next::Continue) => r,
            },
        };
        self.encode(&reply);
        Next::Continue
    }

    async fn write(&self, cmd: WriteCmd) -> Reply {
        let op = WriteOp::new(cmd, bitcask::now_millis());
        match self.shared.backend.write(op).await {
            Ok(r) => r,
            Err(e) => e.to_reply(),
        }
    }

    /// Inside MULTI: queues the command and returns the reply (`QUEUED` or
    /// an error), or `None` for the commands that act on the MULTI itself.
    fn queue(&mut self, cmd: Command) -> Option<Reply> {
        let multi = self.multi.as_mut()?;
        match cmd {
            Command::Conn(
                ConnCmd::Exec | ConnCmd::Discard | ConnCmd::Multi | ConnCmd::Reset | ConnCmd::Quit,
            ) => None,
            Command::Write(w) => {
                multi.cmds.push(w);
                Some(Reply::Simple("QUEUED".into()))
            }
            Command::Read(op) if op.allowed_in_multi() => {
                multi.cmds.push(WriteCmd::Read(op));
                Some(Reply::Simple("QUEUED".into()))
            }
            Command::Invalid(error) => {
                let at = multi.queued();
                multi.invalid.push((at, error));
                Some(Reply::Simple("QUEUED".into()))
            }
            Command::Reply(Reply::Error(e)) => {
                multi.failed = true;
                Some(Reply::Error(e))
            }
            _ => {
                multi.failed = true;
                Some(Reply::error(
                    "ERR only data commands (reads of single keys and writes) can be queued in MULTI",
                ))
            }
        }
    }

    /// The refusal of a command this connection may not run yet (`NOAUTH`)
    /// or at all (`NOPERM`), before it is parsed.
    fn gate(&self, upper: &[u8], args: &[Vec<u8>]) -> Option<Reply> {
        if self
            .identity
            .as_ref()
            .is_some_and(|who| who.role == auth::Role::Admin)
        {
            return None;
        }
        let name = String::from_utf8_lossy(upper);
        match &self.identity {
            None if auth::allowed_before_auth(&name) => None,
            None => Some(Reply::error(if name == "HELLO" {
                auth::NOAUTH_HELLO
            } else {
                auth::NOAUTH
            })),
            Some(who) => {
                // Only SNOWFLK and ACL are judged by their subcommand; other
                // first arguments (keys, values of any size) are not copied.
                let sub = matches!(&*name, "SNOWFLK" | "ACL")
                    .then(|| args.get(1))
                    .flatten()
                    .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase());
                auth::permit(who, &name, sub.as_deref()).err()
            }
        }
    }

    /// Checks `user`'s `password`; on success the connection becomes that
    /// user. Failures are logged with the client address, not the password.
    fn authenticate(&mut self, user: &str, password: &[u8]) -> Result<(), Reply> {
        let users = &self.shared.config.users;
        if !users.required() {
            return Err(Reply::error(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            ));
        }
        match users.check(user, password) {
            Some(who) => {
                tracing::debug!(peer = %self.peer, user, "client authenticated");
                self.identity = Some(who);
                Ok(())
            }
            None => {
                self.shared
                    .stats
                    .auth_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(peer = %self.peer, user, "authentication failed");
                Err(Reply::error(auth::WRONGPASS))
            }
        }
    }

    async fn conn(&mut self, cmd: ConnCmd) -> (Reply, Next) {
        let reply = match cmd {
            ConnCmd::Auth { user, password } => match self.authenticate(&user, &password) {
                Ok(()) => Reply::ok(),
                Err(e) => e,
            },
            ConnCmd::AclWhoami => match &self.identity {
                Some(who) => Reply::bulk(who.name.clone()),
                None => Reply::error(auth::NOAUTH),
            },
            ConnCmd::AclList => {
                let users = &self.shared.config.users;
                if users.required() {
                    Reply::Array(users.acl_list().into_iter().map(Reply::bulk).collect())
                } else {
                    Reply::Array(vec![Reply::bulk("user default on nopass role=admin")])
                }
            }
            ConnCmd::Hello {
                proto: _,
                name: _,
                auth: Some((user, password)),
            } if self.shared.config.users.required()
                && self.authenticate(&user, &password).is_err() =>
            {
                Reply::error(auth::WRONGPASS)
            }
            ConnCmd::Hello { .. } if self.identity.is_none() => Reply::error(auth::NOAUTH_HELLO),
            ConnCmd::Hello { proto, name, .. } => {
                if let Some(p) = proto {
                    self.proto = if p == 3 {
                        Protocol::Resp3
                    } else {
                        Protocol::Resp2
                    };
                }
                if name.is_some() {
                    self.name = name;
                }
                self.hello_reply()
            }
            ConnCmd::SetName(n) => {
                self.name = (!n.is_empty()).then_some(n);
                Reply::ok()
            }
            ConnCmd::GetName => self.name.clone().map_or(Reply::Nil, Reply::Bulk),
            ConnCmd::Id => Reply::Int(self.id as i64),
            ConnCmd::ClientInfo => Reply::Bulk(self.client_line().into_bytes()),
            ConnCmd::Quit => return (Reply::ok(), Next::Close),
            ConnCmd::Reset => {
                self.proto = Protocol::Resp2;
                self.name = None;
                self.multi = None;
                if self.shared.config.users.required() {
                    self.identity = None;
                }
                Reply::Simple("RESET".into())
            }
            ConnCmd::Multi => {
                if self.multi.is_some() {
                    Reply::error("ERR MULTI calls can not be nested")
                } else {
                    self.multi = Some(Multi::default());
                    Reply::ok()
                }
            }
            ConnCmd::Discard => match self.multi.take() {
                Some(_) => Reply::ok(),
                None => Reply::error("ERR DISCARD without MULTI"),
            },
            ConnCmd::Exec => match self.multi.take() {
                None => Reply::error("ERR EXEC without MULTI"),
                Some(m) if m.failed => {
                    Reply::error("EXECABORT Transaction discarded because of previous errors.")
                }
                Some(m) if m.cmds.is_empty() => Multi::merge(m.invalid, Reply::Array(vec![])),
                Some(m) => {
                    let reply = self.write(WriteCmd::Multi(m.cmds)).await;
                    Multi::merge(m.invalid, reply)
                }
            },
        };
        (reply, Next::Continue)
    }

    fn hello_reply(&self) -> Reply {
        let status = self.shared.backend.status();
        let role = if matches!(status.role, NodeRole::Leader | NodeRole::Standalone) {
            "master"
        } else {
            "replica"
        };
        let proto = if self.proto == Protocol::Resp3 { 3 } else { 2 };
        Reply::Map(vec![
            (Reply::bulk("server"), Reply::bulk("snowflk")),
            (Reply::bulk("version"), Reply::bulk(REDIS_VERSION)),
            (Reply::bulk("proto"), Reply::Int(proto)),
            (Reply::bulk("id"), Reply::Int(self.id as i64)),
            (Reply::bulk("mode"), Reply::bulk("standalone")),
            (Reply::bulk("role"), Reply::bulk(role)),
            (Reply::bulk("modules"), Reply::Array(vec![])),
        ])
    }

    fn client_line(&self) -> String {
        let name = self
            .name
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let proto = if self.proto == Protocol::Resp3 { 3 } else { 2 };
        format!(
            "id={} addr={} laddr={} name={} db=0 multi={} resp={}\n",
            self.id,
            self.peer,
            self.shared.local_addr,
            name,
            self.multi.as_ref().map_or(-1, |m| m.queued() as i64),
            proto
        )
    }

    async fn admin(&self, cmd: AdminCmd) -> Reply {
        let backend = &self.shared.backend;
        match cmd {
            AdminCmd::Leader => admin::leader_reply(&backend.status()),
            AdminCmd::Members => admin::members_reply(&backend.status()),
            AdminCmd::TransferLeader(id) => match backend.transfer_leader(id).await {
                Ok(()) => Reply::ok(),
                Err(e) => e.to_reply(),
            },
            AdminCmd::Backup(dir) => match backend.backup(dir).await {
                Ok(info) => info.reply(),
                Err(e) => e.to_reply(),
            },
            AdminCmd::Membership(change) => match backend.change_membership(change).await {
                Ok(()) => Reply::ok(),
                Err(e) => e.to_reply(),
            },
        }
    }

    /// The INFO text for `sections` (empty, `all`, `default`, `everything`:
    /// every section).
    async fn info(&self, sections: &[String]) -> String {
        const ALL: [&str; 6] = [
            "server",
            "clients",
            "replication",
            "persistence",
            "stats",
            "keyspace",
        ];
        let every = sections.is_empty()
            || sections
                .iter()
                .any(|s| matches!(s.as_str(), "all" | "default" | "everything"));
        let wanted = |name: &str| every || sections.iter().any(|s| s == name);
        let shared = &self.shared;
        let status = shared.backend.status();
        let mut out = String::new();
        for section in ALL.iter().filter(|s| wanted(s)) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            match *section {
                "server" => {
                    let up = shared.started.elapsed().as_secs();
                    let _ = write!(
                        out,
                        "# Server\r\nredis_version:{REDIS_VERSION}\r\nsnowflk_version:{}\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{up}\r\nuptime_in_days:{}\r\nnode_id:{}\r\n",
                        env!("CARGO_PKG_VERSION"),
                        std::env::consts::OS,
                        std::process::id(),
                        shared.local_addr.port(),
                        up / 86400,
                        status.id,
                    );
                }
                "clients" => {
                    let _ = write!(
                        out,
                        "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:0\r\n",
                        shared.stats.connected.load(Ordering::Relaxed),
                        shared.config.limits.max_connections
                    );
                }
                "replication" => {
                    let role = match status.role {
                        NodeRole::Leader | NodeRole::Standalone => "master",
                        _ => "slave",
                    };
                    let mode = match status.mode {
                        ReplicationMode::Raft => "raft",
                        ReplicationMode::None => "none",
                    };
                    let _ = write!(
                        out,
                        "# Replication\r\nrole:{role}\r\nreplication:{mode}\r\nraft_cluster_id:{}\r\nraft_role:{}\r\nraft_term:{}\r\nraft_leader:{}\r\nraft_commit_index:{}\r\nraft_applied_index:{}\r\nraft_last_log_index:{}\r\nraft_first_log_index:{}\r\nraft_snapshot_index:{}\r\nraft_snapshots_taken:{}\r\nraft_snapshots_installed:{}\r\nraft_read_index_rounds:{}\r\nraft_members:{}\r\n",
                        crate::raft::backend::cluster_id(&shared.config.cluster_id),
                        status.role.as_str(),
                        status.term,
                        status
                            .leader
                            .map_or_else(|| "none".to_string(), |l| l.to_string()),
                        status.commit_index,
                        status.applied_index,
                        status.last_log_index,
                        status.first_log_index,
                        status.snapshot_index,
                        status.snapshots_taken,
                        status.snapshots_installed,
                        status.read_index_rounds,
                        status.peers.len(),
                    );
                    for p in &status.peers {
                        let _ = write!(
                            out,
                            "raft_peer{}:addr={},voter={},match_index={},lag={},connected={}\r\n",
                            p.id,
                            p.addr,
                            u8::from(p.voter),
                            p.match_index
                                .map_or_else(|| "-1".to_string(), |m| m.to_string()),
                            p.lag.map_or_else(|| "-1".to_string(), |m| m.to_string()),
                            u8::from(p.connected || p.id == status.id),
                        );
                    }
                }
                "persistence" => {
                    out.push_str("# Persistence\r\nloading:0\r\naof_enabled:0\r\nrdb_changes_since_last_save:0\r\n");
                    if let Some(st) = shared.backend.engine_stats() {
                        let t = &st.total;
                        let _ = write!(
                            out,
                            "engine_segments:{}\r\nengine_file_bytes:{}\r\nengine_live_keys:{}\r\nengine_live_bytes:{}\r\n",
                            st.segments.len(),
                            t.file_bytes,
                            t.live_keys,
                            t.live_bytes
                        );
                        // The same totals as the engine_merge* metrics.
                        let m = &st.merges;
                        let _ = write!(
                            out,
                            "engine_merges:{}\r\nengine_merge_failures:{}\r\nengine_merge_segments_removed:{}\r\nengine_merge_reclaimed_bytes:{}\r\nengine_merge_written_bytes:{}\r\nengine_merge_duration_seconds:{:.6}\r\n",
                            m.merges,
                            m.failures,
                            m.segments_removed,
                            m.bytes_reclaimed,
                            m.bytes_written,
                            m.duration.as_secs_f64(),
                        );
                    }
                }
                "stats" => {
                    let s = &shared.stats;
                    let _ = write!(
                        out,
                        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:{}\r\nprotocol_errors:{}\r\nacl_access_denied_auth:{}\r\n",
                        s.total_connections.load(Ordering::Relaxed),
                        s.total_commands.load(Ordering::Relaxed),
                        s.rejected_connections.load(Ordering::Relaxed),
                        s.protocol_errors.load(Ordering::Relaxed),
                        s.auth_failures.load(Ordering::Relaxed),
                    );
                }
                _ => {
                    out.push_str("# Keyspace\r\n");
                    if let Ok(Reply::Array(v)) = shared.backend.read(ReadOp::Keyspace).await
                        && let [Reply::Int(keys), Reply::Int(expires)] = v.as_slice()
                        && *keys > 0
                    {
                        let _ = write!(out, "db0:keys={keys},expires={expires},avg_ttl=0\r\n");
                    }
                }
            }
        }
        out
    }
}

/// The Redis version snowflk reports (`INFO redis_version`, `HELLO`):
/// clients pick features by it; snowflk speaks that version's protocol for
/// the commands it has.
pub const REDIS_VERSION: &str = "7.2.0";

/// The command name (first argument) upper-cased into `buf`; a name longer
/// than `buf` (never a known command) is cut, which only affects metrics.
fn upper_name<'a>(args: &[Vec<u8>], buf: &'a mut [u8; 32]) -> &'a [u8] {
    let name = args.first().map_or(&[][..], Vec::as_slice);
    let n = name.len().min(buf.len());
    for (dst, src) in buf.iter_mut().zip(&name[..n]) {
        *dst = src.to_ascii_uppercase();
    }
    &buf[..n]
}
