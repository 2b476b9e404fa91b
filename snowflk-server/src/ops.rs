//! Typed operations: what a client command becomes before it reaches a
//! [`Backend`], and what comes back.
//!
//! - [`WriteOp`] is a write, and the Raft log command: the leader turns every
//!   relative time (`SET EX`, `EXPIRE`) into an absolute one and stamps the
//!   op with its clock ([`WriteOp::now_ms`]) when it proposes, so applying it
//!   on any node, at any later time, gives the same result. Its byte encoding
//!   ([`WriteOp::encode`]) is specified in `docs/format.md`.
//! - [`ReadOp`] is a read; it runs on one node's state machine after the
//!   backend has made it linearizable (ReadIndex in Raft mode).
//! - [`Reply`] is the value a command returns, including errors decided by
//!   the data ("value is not an integer"), which are the same on every node.
//! - [`BackendError`] is a failure of the backend itself, mapped onto the
//!   client error contract by [`BackendError::to_reply`].

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

/// A boxed, sendable future: keeps [`Backend`] object-safe (`Arc<dyn Backend>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A write as proposed and applied: the command plus the proposer's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOp {
    /// The proposer's wall clock in ms since the Unix epoch (set by the
    /// node that received the command, restamped by the leader with
    /// [`WriteOp::stamp`]). Apply decides "is this key expired" and resolves
    /// relative expiries with this value and never reads a clock, so every
    /// node decides identically.
    pub now_ms: u64,
    /// What to do.
    pub cmd: WriteCmd,
}

/// When a `SET` applies (`NX`, `XX`, or always).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCondition {
    /// Always set.
    Always,
    /// `NX`: only if the key does not exist.
    IfAbsent,
    /// `XX`: only if the key exists.
    IfPresent,
}

/// What a `SET` does to the key's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetExpiry {
    /// No option: the new value has no expiry.
    Clear,
    /// `KEEPTTL`: keep the current expiry.
    Keep,
    /// `EXAT`/`PXAT`: expires at this absolute time, ms since the Unix epoch.
    At(u64),
    /// `EX`/`PX`: expires this many ms after the op's [`WriteOp::now_ms`]
    /// (an absolute time too, once the proposer has stamped the op).
    In(u64),
}

/// The latest expiry time a key may have, in ms since the Unix epoch: as in
/// Redis, an absolute expiry must fit a signed 64-bit millisecond count, so
/// `TTL`/`PTTL` replies always fit too. Larger ones are refused at parse
/// (`ERR invalid expire time`).
pub const MAX_EXPIRY_MS: u64 = i64::MAX as u64;

/// True if `relative_ms` from now stays within [`MAX_EXPIRY_MS`].
pub fn relative_expiry_fits(relative_ms: u64) -> bool {
    relative_ms <= MAX_EXPIRY_MS.saturating_sub(bitcask::now_millis())
}

/// When an `EXPIRE`-family command makes a key expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Deadline {
    /// `EXPIREAT`/`PEXPIREAT`: ms since the Unix epoch.
    At(u64),
    /// `EXPIRE`/`PEXPIRE`: this many ms after [`WriteOp::now_ms`].
    In(u64),
}

impl Deadline {
    /// The absolute time, given the op's clock.
    pub fn resolve(self, now_ms: u64) -> u64 {
        match self {
            Self::At(t) => t,
            Self::In(d) => now_ms.saturating_add(d).min(MAX_EXPIRY_MS),
        }
    }
}

/// Conditions of the `EXPIRE` family (Redis 7: `NX`, `XX`, `GT`, `LT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireCondition {
    /// No condition.
    Always,
    /// `NX`: only if the key has no expiry.
    IfNone,
    /// `XX`: only if the key has an expiry.
    IfSome,
    /// `GT`: only if the new expiry is later (no expiry counts as infinite).
    IfGreater,
    /// `LT`: only if the new expiry is earlier (no expiry counts as infinite).
    IfLess,
    /// `XX LT`: only if the key has an expiry and the new one is earlier.
    IfSomeAndLess,
}

/// A write command. Variants are only ever added at the end (the encoding
/// is the variant's position; see `docs/format.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteCmd {
    /// `SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL]`.
    Set {
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// The new value.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
        /// `NX` / `XX`.
        condition: SetCondition,
        /// The expiry of the new value.
        expiry: SetExpiry,
        /// `GET`: reply with the old value (nil if none) instead of `OK`.
        get: bool,
    },
    /// `DEL key...`: the number of keys removed.
    Del {
        /// The keys.
        keys: Vec<Vec<u8>>,
    },
    /// `MSET key value ...`: always `OK`; clears expiries.
    MSet {
        /// Pairs in command order (a later pair for the same key wins).
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// `INCR`/`INCRBY`/`DECR`/`DECRBY`: the new value.
    IncrBy {
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// What to add (negative for DECR).
        delta: i64,
    },
    /// `APPEND key value`: the new length.
    Append {
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// The bytes to append.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// `GETDEL key`: the old value, or nil.
    GetDel {
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// `EXPIRE`/`PEXPIRE`/`EXPIREAT`/`PEXPIREAT`: `1` if the expiry was
    /// set, `0` if not (missing key or condition false). A time not after
    /// `now_ms` deletes the key.
    Expire {
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// The new expiry.
        deadline: Deadline,
        /// `NX`/`XX`/`GT`/`LT`.
        condition: ExpireCondition,
    },
    /// `PERSIST key`: `1` if an expiry was removed.
    Persist {
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// `CAS key expected new`: `1` if the value was `expected` and is now
    /// `new` (its expiry kept), `0` if it differs or the key is missing.
    Cas {
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// The value the key must hold.
        #[serde(with = "serde_bytes")]
        expected: Vec<u8>,
        /// The value to store.
        #[serde(with = "serde_bytes")]
        new: Vec<u8>,
    },
    /// `FLUSHDB`: removes every key.
    FlushDb,
    /// `MULTI ... EXEC`: the commands run in order as one atomic entry; the
    /// reply is the array of their replies. Never nested.
    Multi(Vec<WriteCmd>),
    /// A read queued inside `MULTI`: runs at its place in the transaction,
    /// seeing the transaction's earlier writes.
    Read(ReadOp),
    /// Internal (proposed by the expiry sweeper): deletes up to `limit` keys
    /// whose expiry is not after `now_ms`, lowest keys first. Replies with
    /// the number deleted.
    PurgeExpired {
        /// Most keys to delete.
        limit: u32,
    },
    /// `SETNX key value`: sets the key (clearing no expiry: it had none,
    /// being absent) only if it is absent; `1` if it was set, `0` if not.
    SetNx {
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// The new value.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// `RENAME src dst` and `RENAMENX src dst`: moves `src`'s value and
    /// expiry to `dst` (replacing it) and deletes `src`. `ERR no such key` if
    /// `src` is missing. `RENAME` replies `OK`; `RENAMENX` (`only_if_absent`)
    /// does nothing and replies `0` if `dst` exists, else `1`.
    Rename {
        /// The key to move.
        #[serde(with = "serde_bytes")]
        src: Vec<u8>,
        /// Its new name.
        #[serde(with = "serde_bytes")]
        dst: Vec<u8>,
        /// `RENAMENX`.
        only_if_absent: bool,
    },
    /// `MSETNX key value ...`: `1` and every pair set (expiries cleared) if
    /// none of the keys exists; `0` and nothing changed if any does.
    MSetNx {
        /// Pairs in command order (a later pair for the same key wins).
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// `GETEX key EX|PX|EXAT|PXAT|PERSIST`: the value (nil if missing) and
    /// its new expiry (`SetExpiry::Clear` for `PERSIST`; never `Keep`).
    /// `GETEX key` with no option is a plain read ([`ReadOp::Get`]).
    GetEx {
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// The new expiry.
        expiry: SetExpiry,
    },
}

impl WriteCmd {
    /// Roughly how many bytes of keys and values the command carries: a
    /// capacity hint for its encoding, not a bound.
    fn payload_hint(&self) -> usize {
        match self {
            WriteCmd::Set { key, value, .. }
            | WriteCmd::SetNx { key, value }
            | WriteCmd::Append { key, value } => key.len() + value.len(),
            WriteCmd::Cas {
                key, expected, new, ..
            } => key.len() + expected.len() + new.len(),
            WriteCmd::MSet { pairs } | WriteCmd::MSetNx { pairs } => {
                pairs.iter().map(|(k, v)| k.len() + v.len() + 4).sum()
            }
            WriteCmd::Rename { src, dst, .. } => src.len() + dst.len() + 1,
            WriteCmd::Multi(cmds) => cmds.iter().map(|c| c.payload_hint() + 8).sum(),
            _ => 64,
        }
    }
}

/// The unit of `TTL` (seconds) and `PTTL` (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TtlUnit {
    /// `TTL`.
    Seconds,
    /// `PTTL`.
    Millis,
}

/// A read command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadOp {
    /// `GET key`.
    Get {
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// `MGET key...`.
    MGet {
        /// The keys.
        keys: Vec<Vec<u8>>,
    },
    /// `EXISTS key...`: how many of them exist (repeats counted).
    Exists {
        /// The keys.
        keys: Vec<Vec<u8>>,
    },
    /// `STRLEN key`.
    StrLen {
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// `TTL`/`PTTL`: -2 if missing, -1 if no expiry, else the time left.
    Ttl {
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// Seconds or milliseconds.
        unit: TtlUnit,
    },
    /// `DBSIZE`.
    DbSize,
    /// `SCAN cursor [MATCH pattern] [COUNT n]`.
    Scan {
        /// The cursor (0 to start).
        cursor: u64,
        /// Glob pattern.
        #[serde(with = "serde_bytes")]
        pattern: Option<Vec<u8>>,
        /// Keys to look at per call.
        count: usize,
    },
    /// `KEYS pattern`.
    Keys {
        /// Glob pattern.
        #[serde(with = "serde_bytes")]
        pattern: Vec<u8>,
    },
    /// The keyspace line of `INFO`: an array `[keys, expires]`.
    Keyspace,
    /// Number of keys whose expiry has passed but are not purged yet (the
    /// sweeper asks before proposing a purge).
    ExpiredCount,
    /// `TYPE key`: `string`, or `none` if the key is missing.
    Type {
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// `GETEX key` with a time that does not parse or fit: nil if the key
    /// is missing, else `error` (Redis looks the key up before it checks
    /// the time). Changes nothing either way.
    GetExBadTime {
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// The error reply for a present key.
        error: String,
    },
}

impl ReadOp {
    /// True for reads whose reply is small (one key's value or a number):
    /// only these share a pipelined read batch, so that a batch's reply
    /// stays within one peer frame.
    pub fn batchable(&self) -> bool {
        matches!(
            self,
            ReadOp::Get { .. }
                | ReadOp::StrLen { .. }
                | ReadOp::Ttl { .. }
                | ReadOp::Exists { .. }
                | ReadOp::Type { .. }
                | ReadOp::GetExBadTime { .. }
        )
    }

    /// True if the reply depends on more than one key, so it must not see
    /// an applied batch half-way (`MGET` after half an `MSET`). `SCAN` is
    /// left out: its guarantee spans calls anyway, and one call's pass over
    /// the key index would hold applies back.
    pub fn reads_several_keys(&self) -> bool {
        match self {
            Self::MGet { keys } | Self::Exists { keys } => keys.len() > 1,
            Self::DbSize | Self::Keys { .. } | Self::Keyspace => true,
            Self::Get { .. }
            | Self::StrLen { .. }
            | Self::Ttl { .. }
            | Self::Scan { .. }
            | Self::ExpiredCount
            | Self::Type { .. }
            | Self::GetExBadTime { .. } => false,
        }
    }

    /// True if the op may be queued inside `MULTI` (runs in the transaction).
    pub fn allowed_in_multi(&self) -> bool {
        matches!(
            self,
            Self::Get { .. }
                | Self::MGet { .. }
                | Self::Exists { .. }
                | Self::StrLen { .. }
                | Self::Ttl { .. }
                | Self::Type { .. }
                | Self::GetExBadTime { .. }
        )
    }
}

/// The value a command returns, independent of the protocol version
/// (`resp` encodes it as RESP2 or RESP3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// Nil (RESP2 `$-1`, RESP3 `_`).
    Nil,
    /// An integer.
    Int(i64),
    /// A bulk string.
    Bulk(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A simple string such as `OK`; never contains CR or LF.
    Simple(String),
    /// An error, decided by the command or the data: the command had no
    /// effect (except when the message starts with `TIMEOUT`). The message
    /// starts with its code (`ERR`, `WRONGTYPE`, ...); never contains CR/LF.
    Error(String),
    /// An array.
    Array(Vec<Reply>),
    /// A map (RESP3 `%`, RESP2 a flat array of key, value, ...).
    Map(Vec<(Reply, Reply)>),
    /// A nil array (RESP2 `*-1`, RESP3 `_`): `EXEC` after a failed `WATCH`.
    NilArray,
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Self {
        Self::Simple("OK".into())
    }

    /// An error reply; `msg` must start with its code (`ERR ...`). CR and LF
    /// are replaced by spaces.
    pub fn error(msg: impl Into<String>) -> Self {
        let msg: String = msg.into();
        Self::Error(msg.replace(['\r', '\n'], " "))
    }

    /// A bulk string.
    pub fn bulk(bytes: impl Into<Vec<u8>>) -> Self {
        Self::Bulk(bytes.into())
    }

    /// True for [`Reply::Error`].
    pub fn is_error(&self) -> bool {
        matches!(self, Self::Error(_))
    }
}

/// The data-decided error replies, shared by every node.
pub mod errors {
    /// INCR family on a value that is not a 64-bit integer.
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    /// `RENAME` of a missing key.
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    /// INCR family that would overflow.
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    /// A write that would make a value longer than the server's limit.
    pub const TOO_LARGE: &str = "ERR string exceeds maximum allowed size";
    /// A key longer than the server's limit.
    pub const KEY_TOO_LARGE: &str = "ERR key exceeds maximum allowed size";
    /// Syntax errors.
    pub const SYNTAX: &str = "ERR syntax error";
}

/// Failure of the backend, not of the command. Rendered to clients by
/// [`BackendError::to_reply`] following the error contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum BackendError {
    /// This node is not the leader and cannot forward; the command was
    /// certainly not proposed. `-ERR not leader ...`.
    #[error("not leader")]
    NotLeader {
        /// The leader's node id, if known.
        leader: Option<u64>,
        /// The leader's address, if known.
        addr: Option<String>,
    },
    /// Certainly not proposed; retrying may work (no leader elected yet,
    /// leadership transfer in progress, queue full). `-TRYAGAIN ...`.
    #[error("try again: {0}")]
    TryAgain(String),
    /// The outcome is unknown: the write may or may not be applied (waited
    /// too long, leadership lost while pending, connection to the leader
    /// lost after forwarding). `-TIMEOUT ...`.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The command was certainly not proposed because the service cannot take
    /// it (shutting down, no quorum reachable before proposing).
    /// `-CLUSTERDOWN ...`.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The node failed (storage error) and stops serving; the outcome of the
    /// command is unknown. Rendered with the `TIMEOUT` prefix.
    #[error("fatal: {0}")]
    Fatal(String),
    /// The command is too large to replicate as one log entry; certainly
    /// not proposed. `-ERR ...`.
    #[error("too large: {0}")]
    TooLarge(String),
    /// `SNOWFLK BACKUP` could not write its directory (it exists and is not
    /// empty, or an I/O error); nothing else changed. `-ERR ...`.
    #[error("backup failed: {0}")]
    Backup(String),
    /// The request can never succeed as given (e.g. a transfer to a node
    /// that is not a voter); nothing was done. `-ERR ...`.
    #[error("invalid: {0}")]
    Invalid(String),
}

impl BackendError {
    /// The client reply for this error, following the contract: only
    /// `TIMEOUT ...` replies leave the outcome unknown.
    pub fn to_reply(&self) -> Reply {
        match self {
            Self::NotLeader { leader, addr } => match (leader, addr) {
                (Some(id), Some(addr)) => {
                    Reply::error(format!("ERR not leader; the leader is node {id} at {addr}"))
                }
                (Some(id), None) => {
                    Reply::error(format!("ERR not leader; the leader is node {id}"))
                }
                _ => Reply::error("ERR not leader; no leader known"),
            },
            Self::TryAgain(m) => Reply::error(format!("TRYAGAIN {m}")),
            Self::Timeout(m) => Reply::error(format!("TIMEOUT outcome unknown: {m}")),
            Self::Unavailable(m) => Reply::error(format!("CLUSTERDOWN {m}")),
            Self::Fatal(m) => Reply::error(format!("TIMEOUT outcome unknown, node failed: {m}")),
            Self::TooLarge(m) => Reply::error(format!("ERR {m}")),
            Self::Backup(m) => Reply::error(format!("ERR backup failed: {m}")),
            Self::Invalid(m) => Reply::error(format!("ERR {m}")),
        }
    }
}

/// Which replication a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicationMode {
    /// Raft consensus (possibly a one-member cluster).
    Raft,
    /// The engine alone, every write fsynced.
    None,
}

/// A node's role, as INFO reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeRole {
    /// Raft leader.
    Leader,
    /// Raft follower.
    Follower,
    /// Raft pre-candidate (pre-vote round).
    PreCandidate,
    /// Raft candidate.
    Candidate,
    /// Non-voting member catching up.
    Learner,
    /// `--replication none`: the only node.
    Standalone,
}

impl NodeRole {
    /// Lower-case name for INFO.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Leader => "leader",
            Self::Follower => "follower",
            Self::PreCandidate => "pre-candidate",
            Self::Candidate => "candidate",
            Self::Learner => "learner",
            Self::Standalone => "standalone",
        }
    }
}

/// One member of the cluster as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// Node id.
    pub id: u64,
    /// Peer (Raft) address.
    pub addr: String,
    /// Voter (true) or learner.
    pub voter: bool,
    /// Highest log index known replicated on it (leader only).
    pub match_index: Option<u64>,
    /// How many log entries it is behind the leader's last index (leader
    /// only; 0 for the leader itself).
    pub lag: Option<u64>,
    /// Whether the transport has a live connection to it.
    pub connected: bool,
}

/// A membership change an operator asks for (`SNOWFLK ADD-NODE`,
/// `PROMOTE`, `REMOVE-NODE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Add node `id`, reachable by peers at `addr`, as a learner.
    AddNode {
        /// The new node's id.
        id: u64,
        /// Its peer address (`host:port`).
        addr: String,
        /// The incarnation of its data directory, if given: peers accept
        /// only that one for `id` (see `raft::identity`).
        incarnation: Option<u64>,
    },
    /// Turn learner `id` into a voter.
    Promote(u64),
    /// Remove node `id` (a voter or a learner; the leader itself too).
    Remove(u64),
}

/// What INFO and `SNOWFLK LEADER/MEMBERS` report; filled by the backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Replication mode.
    pub mode: ReplicationMode,
    /// This node's id.
    pub id: u64,
    /// Current role.
    pub role: NodeRole,
    /// Current Raft term (0 in `none` mode).
    pub term: u64,
    /// The known leader's id.
    pub leader: Option<u64>,
    /// Highest committed log index.
    pub commit_index: u64,
    /// Highest index applied to the state machine.
    pub applied_index: u64,
    /// Last index in the local log.
    pub last_log_index: u64,
    /// First index the log still holds (in memory) after compaction.
    pub first_log_index: u64,
    /// Index of the latest snapshot (0: none).
    pub snapshot_index: u64,
    /// Snapshots this node took since it started.
    pub snapshots_taken: u64,
    /// Snapshots received from a leader and installed since it started.
    pub snapshots_installed: u64,
    /// ReadIndex rounds this node started as leader (one per batch of
    /// reads waiting together).
    pub read_index_rounds: u64,
    /// All members, this node included, sorted by id.
    pub peers: Vec<PeerStatus>,
}

/// Where commands go: the replication layer in front of the state machine.
///
/// Implementations: `NoneBackend` (`--replication none`) and the Raft
/// backend in `raft/`. All methods take `&self`; the server holds an
/// `Arc<dyn Backend>` shared by every connection.
pub trait Backend: Send + Sync + 'static {
    /// Proposes and applies a write; the reply is the state machine's
    /// [`crate::state_machine::KvStateMachine::apply`] result.
    fn write(&self, op: WriteOp) -> BoxFuture<'_, Result<Reply, BackendError>>;

    /// A linearizable read: waits until this node has applied everything
    /// committed when the read arrived (ReadIndex), then reads.
    fn read(&self, op: ReadOp) -> BoxFuture<'_, Result<Reply, BackendError>>;

    /// The node's current status (cheap; no I/O, no waiting).
    fn status(&self) -> NodeStatus;

    /// `SNOWFLK TRANSFER-LEADER id`: asks the leader to hand leadership to
    /// `target`; returns once the transfer started.
    fn transfer_leader(&self, target: u64) -> BoxFuture<'_, Result<(), BackendError>>;

    /// Graceful shutdown: stop taking commands, finish in-flight ones,
    /// fsync everything and release the data directory's lock.
    fn shutdown(&self) -> BoxFuture<'_, Result<(), BackendError>>;

    /// Several writes from one connection's pipeline, applied in this order
    /// (each sees the ones before it). The default runs them one after
    /// another; a backend may submit them together so they share one commit.
    fn write_many(&self, ops: Vec<WriteOp>) -> BoxFuture<'_, Vec<Result<Reply, BackendError>>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(ops.len());
            for op in ops {
                out.push(self.write(op).await);
            }
            out
        })
    }

    /// Several reads from one connection's pipeline, with nothing between
    /// them: they were all sent before any was answered, so one read index
    /// (one leadership confirmation, one forwarded round trip) serves them
    /// all. The default runs them one after another.
    fn read_many(&self, ops: Vec<ReadOp>) -> BoxFuture<'_, Vec<Result<Reply, BackendError>>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(ops.len());
            for op in ops {
                out.push(self.read(op).await);
            }
            out
        })
    }

    /// `SNOWFLK ADD-NODE | PROMOTE | REMOVE-NODE`: proposes the change on
    /// the leader and returns once it is committed and applied there. The
    /// default refuses: only a Raft cluster has members to change.
    fn change_membership(
        &self,
        change: MembershipChange,
    ) -> BoxFuture<'_, Result<(), BackendError>> {
        let _ = change;
        Box::pin(async {
            Err(BackendError::Invalid(
                "membership changes need --replication raft".into(),
            ))
        })
    }

    /// `SNOWFLK BACKUP dir`: a consistent image of this node's data in
    /// `dir` (see [`crate::backup`]).
    fn backup(
        &self,
        dir: std::path::PathBuf,
    ) -> BoxFuture<'_, Result<crate::backup::BackupInfo, BackendError>>;

    /// Registers the backend's own Prometheus metrics (default: none).
    fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}

    /// Brings metrics that mirror other state up to date before a scrape
    /// (default: nothing to do).
    fn refresh_metrics(&self) {}

    /// The local engine's statistics, for `INFO persistence` (default: none).
    fn engine_stats(&self) -> Option<bitcask::StoreStats> {
        None
    }
}

/// Why [`WriteOp::decode`] failed.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Empty input.
    #[error("empty write op")]
    Empty,
    /// A format version this build does not know.
    #[error("unknown write op version {0}")]
    Version(u8),
    /// postcard refused the bytes.
    #[error("malformed write op: {0}")]
    Malformed(#[from] postcard::Error),
}

/// The version byte that starts every encoded [`WriteOp`].
pub const WRITE_OP_VERSION: u8 = 1;

impl WriteOp {
    /// A write stamped with the proposer's clock.
    pub fn new(cmd: WriteCmd, now_ms: u64) -> Self {
        Self { now_ms, cmd }
    }

    /// Restamps the op with the proposer's clock. The leader calls this when
    /// it proposes an op forwarded by a follower, so relative times
    /// (`SET EX`, `EXPIRE`) count from the leader's clock.
    pub fn stamp(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
    }

    /// The Raft entry payload: [`WRITE_OP_VERSION`], then the postcard
    /// encoding of `self` (see `docs/format.md`).
    pub fn encode(&self) -> Vec<u8> {
        self.encode_stamped(self.now_ms)
    }

    /// [`WriteOp::encode`] of this op restamped with `now_ms`, without
    /// cloning it (postcard encodes a struct as its fields in order, so the
    /// pair `(now_ms, cmd)` has the same bytes as the struct).
    pub fn encode_stamped(&self, now_ms: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.cmd.payload_hint() + 16);
        out.push(WRITE_OP_VERSION);
        // Serializing into a Vec cannot fail for these types.
        postcard::to_extend(&(now_ms, &self.cmd), out).unwrap_or_default()
    }

    /// Decodes [`WriteOp::encode`]'s output; never panics on any input.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (&version, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
        if version != WRITE_OP_VERSION {
            return Err(DecodeError::Version(version));
        }
        Ok(postcard::from_bytes(rest)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_roundtrip_and_bytes() {
        let op = WriteOp::new(
            WriteCmd::Set {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                condition: SetCondition::IfAbsent,
                expiry: SetExpiry::At(300),
                get: false,
            },
            5,
        );
        let bytes = op.encode();
        // version, now_ms varint 5, variant 0 (Set), key len 1 'k', value len 1 'v',
        // IfAbsent = 1, At = 2 with varint 300 = ac 02, get = 0.
        assert_eq!(bytes, [1, 5, 0, 1, b'k', 1, b'v', 1, 2, 0xac, 0x02, 0]);
        assert_eq!(WriteOp::decode(&bytes).unwrap(), op);
        assert!(WriteOp::decode(&[]).is_err());
        assert!(WriteOp::decode(&[2, 0]).is_err());
        assert!(WriteOp::decode(&[1, 0, 200]).is_err());
    }

    /// The bytes docs/format.md gives for the kinds added after SETNX.
    #[test]
    fn rename_msetnx_getex_are_variants_14_to_16_and_type_is_read_10() {
        let cases: [(WriteCmd, &[u8]); 4] = [
            (
                WriteCmd::Rename {
                    src: b"a".to_vec(),
                    dst: b"b".to_vec(),
                    only_if_absent: true,
                },
                &[14, 1, b'a', 1, b'b', 1],
            ),
            (
                WriteCmd::MSetNx {
                    pairs: vec![(b"k".to_vec(), b"v".to_vec())],
                },
                &[15, 1, 1, b'k', 1, b'v'],
            ),
            (
                WriteCmd::GetEx {
                    key: b"k".to_vec(),
                    expiry: SetExpiry::In(300),
                },
                &[16, 1, b'k', 3, 0xac, 0x02],
            ),
            (
                WriteCmd::Read(ReadOp::Type { key: b"k".to_vec() }),
                &[11, 10, 1, b'k'],
            ),
        ];
        for (cmd, body) in cases {
            let op = WriteOp::new(cmd, 5);
            let bytes = op.encode();
            assert_eq!(&bytes[..2], [1, 5]);
            assert_eq!(&bytes[2..], body, "{op:?}");
            assert_eq!(WriteOp::decode(&bytes).unwrap(), op);
        }
    }

    #[test]
    fn setnx_is_variant_13() {
        let op = WriteOp::new(
            WriteCmd::SetNx {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
            },
            5,
        );
        let bytes = op.encode();
        assert_eq!(bytes, [1, 5, 13, 1, b'k', 1, b'v']);
        assert_eq!(WriteOp::decode(&bytes).unwrap(), op);
    }

    #[test]
    fn a_restamped_encoding_equals_the_restamped_op() {
        let mut op = WriteOp::new(
            WriteCmd::MSet {
                pairs: vec![(b"a".to_vec(), vec![7; 300]), (b"b".to_vec(), vec![])],
            },
            5,
        );
        let stamped = op.encode_stamped(1 << 40);
        op.stamp(1 << 40);
        assert_eq!(stamped, op.encode());
        assert_eq!(WriteOp::decode(&stamped).unwrap(), op);
    }

    #[test]
    fn backend_errors_follow_the_contract() {
        let r = BackendError::Timeout("x".into()).to_reply();
        assert!(matches!(r, Reply::Error(m) if m.starts_with("TIMEOUT")));
        let r = BackendError::Fatal("disk".into()).to_reply();
        assert!(matches!(r, Reply::Error(m) if m.starts_with("TIMEOUT")));
        let r = BackendError::TryAgain("no leader".into()).to_reply();
        assert!(matches!(r, Reply::Error(m) if m.starts_with("TRYAGAIN")));
        let r = BackendError::NotLeader {
            leader: Some(2),
            addr: None,
        }
        .to_reply();
        assert!(matches!(r, Reply::Error(m) if m.starts_with("ERR not leader")));
    }
}
