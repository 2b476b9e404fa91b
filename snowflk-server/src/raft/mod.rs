//! Raft replication for a node: the driver task around the `raftlog` core,
//! the peer transport, forwarding from followers to the leader, and the
//! [`RaftBackend`] the client server talks to.
//!
//! | module | job |
//! |---|---|
//! | [`wire`] | the peer protocol's bytes: handshake and length-prefixed frames (`docs/format.md`) |
//! | [`identity`] | which data directory a node id stands for: this node's incarnation, those seen for peers (a voter with a lost disk is refused) |
//! | `handshake` | the peer handshake on a connection: dialer and acceptor sides, incarnation checks, the version-1 fallback |
//! | [`transport`] | TCP links: one outgoing task + bounded queue per peer, the listener, reconnect with backoff |
//! | [`driver`] | the handle to the one task that owns the Raft node, and its types; the task's loop is in `driver_loop.rs` (asynchronous log writes, group commit, ReadIndex batching) |
//! | `persist` | the persistence thread: log writes (queued writes merged into one fsync), snapshot staging and records |
//! | `apply` | the apply thread: committed entries into the engine, proposal replies, taking and installing snapshots |
//! | [`machine`] | the key-value state machine behind the driver's trait (log commands are encoded `WriteOp`s) |
//! | [`snapshot`] | snapshot images on disk and the chunk stream that carries one to a follower |
//! | [`forward`] | follower → leader request/reply RPC with a bounded pending map |
//! | [`backend`] | [`RaftBackend`]: write, read, status, admin, shutdown |
//!
//! How a write travels: client → [`RaftBackend`] (forwarded if this node
//! does not lead) → driver request channel → one `propose_batch` per driver
//! iteration → appends sent to followers while the leader's persistence
//! thread fsyncs the same batch (the driver does not wait for it) →
//! followers persist and answer → the leader commits once a quorum holds
//! the entry durably, and applies it once its own copy is durable → the
//! apply thread applies the entry to the engine (effects and
//! applied index in one batch) and answers the client. See
//! `docs/server.md`, "Replication".

mod apply;
pub mod backend;
pub mod driver;
pub mod forward;
mod handshake;
pub mod identity;
pub mod machine;
pub mod metrics;
mod persist;
pub mod snapshot;
pub mod transport;
pub mod wire;

pub use backend::{RaftBackend, RaftSettings, StartError};
