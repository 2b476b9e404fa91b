//! # snowflk-server — a snowflk node
//!
//! One process per node: a RESP2/RESP3 server that any Redis client can use,
//! in front of a key-value state machine on a `bitcask` engine, replicated
//! by Raft (`raftlog`) or, with `--replication none`, the engine alone.
//!
//! ```
//! use snowflk_server::ops::{ReadOp, Reply, WriteCmd, WriteOp};
//! use snowflk_server::state_machine::KvStateMachine;
//!
//! let dir = tempfile::tempdir()?;
//! let sm = KvStateMachine::open(dir.path(), bitcask::Options::default())?;
//! let set = WriteOp::new(WriteCmd::IncrBy { key: b"n".to_vec(), delta: 2 }, 1_000);
//! assert_eq!(sm.apply(1, &set)?, Reply::Int(2));
//! assert_eq!(sm.applied_index(), 1);
//! assert_eq!(sm.read(&ReadOp::Get { key: b"n".to_vec() }, 1_000)?, Reply::bulk("2"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## How a command travels
//! bytes → [`resp::RequestParser`] → arguments → [`commands::parse`] →
//! a [`commands::Command`]: a [`ops::WriteCmd`] (stamped with the clock into
//! a [`ops::WriteOp`]) or a [`ops::ReadOp`] goes to the node's
//! [`ops::Backend`]; the rest (`PING`, `INFO`, `HELLO`, `MULTI` queues, ...)
//! is answered by the [`connection`]. The backend replicates the write
//! (Raft) or queues it (none) and applies it with
//! [`state_machine::KvStateMachine::apply_batch`]; the [`ops::Reply`] is
//! encoded by [`resp::encode`] in the connection's protocol.
//!
//! ## Modules
//! | module | job |
//! |---|---|
//! | [`config`] | flags (clap) and the TOML file with the same keys |
//! | [`server`] | accept loop, connection limit, expiry sweeper, graceful shutdown |
//! | [`connection`] | one client: buffered I/O, pipelining in order, RESP3, MULTI |
//! | [`resp`] | streaming request parser (fuzzed) and RESP2/RESP3 encoder |
//! | [`commands`] | one file per command family; the command table |
//! | [`ops`] | the typed operations, replies, [`ops::Backend`] and its errors |
//! | [`state_machine`] | [`state_machine::KvStateMachine`] on the engine |
//! | [`backend`] | [`backend::build_backend`] and the `none` backend |
//! | [`raft`] | the Raft backend: driver, transport, forwarding |
//! | [`auth`] | users, roles, password hashes (`AUTH`, `ACL`) |
//! | [`tls`] | client TLS and peer mutual TLS (rustls) |
//! | [`metrics`] | Prometheus `/metrics` and `/health` |
//! | [`backup`] | `SNOWFLK BACKUP` and `--restore` |
//! | [`join`] | `--join`: a new node asks a running cluster to add it |
//!
//! ## The apply path (the invariant everything else leans on)
//! - Every write is a [`ops::WriteOp`]: the command plus the proposer's
//!   clock (`now_ms`). Relative times (`SET EX`, `EXPIRE`) are resolved
//!   against that clock, and "is this key expired" is decided with it, so
//!   apply reads no clock and every node computes the same bytes and the
//!   same reply (data-decided errors such as `INCR` on a non-integer
//!   included).
//! - The effects of the applied entries **and the applied index** go to the
//!   engine in one atomic `write_batch`. In Raft mode the engine does not
//!   fsync per entry (`SyncPolicy::Never`): the Raft log is the durability.
//!   After any crash the engine holds exactly the effects of entries
//!   `1..=applied_index` — a consistent prefix — and a restart replays only
//!   the log after it. The log may be purged only below what
//!   [`state_machine::KvStateMachine::sync`] reported durable.
//! - Client keys live in their own key space (`0x00 ‖ key`); internal
//!   records (the applied index) use `0x01 ‖ name`, which no client key can
//!   name. Expiry is stored in the value, not in the engine record, because
//!   the engine would hide records by the local wall clock. Layouts:
//!   `docs/format.md`, "Key-value state machine".
//! - `--replication none` applies through the same code, with the engine
//!   under `SyncPolicy::Always` and concurrent writes grouped into one batch
//!   and one fsync.
//!
//! ## Error contract
//! An error reply means the command had no effect, except replies starting
//! with `TIMEOUT`: outcome unknown. [`ops::BackendError::to_reply`] is the
//! one place backend failures become replies. See `docs/server.md`.
//!
//! ## Not yet
//! - `SCAN` costs a pass over the key index per call.
//! - Opening a state machine reads every value once to rebuild the index
//!   of keys that have an expiry.
//! - Consecutive pipelined writes of one connection go to the backend
//!   together ([`ops::Backend::write_many`]: the `none` backend puts them in
//!   one batch and one fsync; the Raft backend proposes them as one `Multi`
//!   entry per batch that fits an entry). A read in a pipeline waits for the
//!   writes before it, and a follower forwards a pipeline's reads one at a
//!   time.
//! - Raft snapshots are not used yet: the log grows in memory and on disk
//!   (issue 10).
//! - No `WATCH`, no data types other than strings.

pub mod auth;
pub mod backend;
pub mod backup;
pub mod commands;
pub mod config;
pub mod connection;
pub mod join;
pub mod metrics;
pub mod ops;
pub mod raft;
pub mod resp;
pub mod server;
pub mod state_machine;
pub mod tls;
