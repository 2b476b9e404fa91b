//! The key-value state machine as the driver sees it: log commands are
//! encoded [`WriteOp`]s ([`WriteOp::encode`]: a version byte, then postcard),
//! so the log format can evolve without breaking old entries.

use std::path::Path;
use std::sync::Arc;

use raftlog::{ConfChange, ConfChangeKind, Entry, EntryPayload, Index};

use crate::ops::{Reply, WriteOp};
use crate::state_machine::{self, KvStateMachine};

use super::driver::StateMachine;

/// A Raft log command: a [`WriteOp`] in its versioned encoding. A
/// [`serde_bytes::ByteBuf`] rather than a `Vec<u8>` so postcard copies it
/// as one slice instead of byte by byte; the encoding is the same (a varint
/// length, then the bytes).
pub type Command = serde_bytes::ByteBuf;

/// Why applying failed; the node stops.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A committed entry does not decode: it was written by a newer build or
    /// is corrupt. Applying anything else would diverge from other nodes.
    #[error("committed entry {index} holds an undecodable write op: {reason}")]
    Undecodable {
        /// The entry's index.
        index: Index,
        /// The decoder's complaint.
        reason: String,
    },
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] state_machine::Error),
}

/// [`KvStateMachine`] behind the driver's [`StateMachine`] trait.
#[derive(Debug, Clone)]
pub struct KvMachine(pub Arc<KvStateMachine>);

impl KvMachine {
    /// Applies the pending `ops` and records `through` as applied (if it
    /// is past the applied index), appending the replies to `out`.
    fn flush(
        &self,
        ops: &mut Vec<(Index, WriteOp)>,
        through: Index,
        out: &mut Vec<(Index, Reply)>,
    ) -> Result<(), ApplyError> {
        if ops.is_empty() {
            if through > self.0.applied_index() {
                self.0.apply_noop(through)?;
            }
            return Ok(());
        }
        let refs: Vec<(u64, &WriteOp)> = ops.iter().map(|(i, op)| (*i, op)).collect();
        let replies = self.0.apply_batch_through(&refs, through)?;
        out.extend(ops.iter().map(|(i, _)| *i).zip(replies));
        ops.clear();
        Ok(())
    }

    /// A membership entry updates the member address book (the new node's
    /// peer address is the change's context, UTF-8), so that every node,
    /// and every snapshot, knows where each member listens.
    fn apply_conf_change(&self, index: Index, change: &ConfChange) -> Result<(), ApplyError> {
        match change.kind {
            ConfChangeKind::AddLearner => {
                let addr = String::from_utf8_lossy(&change.context);
                self.0.apply_member(index, change.node, Some(&addr))?;
            }
            ConfChangeKind::Remove => self.0.apply_member(index, change.node, None)?,
            ConfChangeKind::Promote => self.0.apply_noop(index)?,
        }
        tracing::info!(index, change = %change.kind, member = change.node, "membership change applied");
        Ok(())
    }
}

impl StateMachine for KvMachine {
    type Command = Command;
    type Output = Reply;
    type Error = ApplyError;

    fn applied_index(&self) -> Index {
        self.0.applied_index()
    }

    fn apply(&self, entries: &[Entry<Command>]) -> Result<Vec<(Index, Reply)>, ApplyError> {
        let mut out = Vec::with_capacity(entries.len());
        let mut ops = Vec::with_capacity(entries.len());
        let applied = self.0.applied_index();
        let mut batch_end = applied;
        for e in entries {
            // After a restart the log replays from the engine's applied index;
            // anything at or below it is already in the engine.
            if e.index <= applied {
                continue;
            }
            match &e.payload {
                EntryPayload::Command(bytes) => {
                    let op = WriteOp::decode(bytes).map_err(|err| ApplyError::Undecodable {
                        index: e.index,
                        reason: err.to_string(),
                    })?;
                    ops.push((e.index, op));
                }
                EntryPayload::Noop => {}
                EntryPayload::ConfChange(change) => {
                    // The writes before it go first, in their own batch.
                    self.flush(&mut ops, batch_end, &mut out)?;
                    self.apply_conf_change(e.index, change)?;
                    out.push((e.index, Reply::ok()));
                }
            }
            batch_end = e.index;
        }
        // The applied index names the batch's last entry even when that is a
        // no-op: a snapshot is taken at an exact log position.
        self.flush(&mut ops, batch_end, &mut out)?;
        Ok(out)
    }

    fn sync(&self) -> Result<(), ApplyError> {
        self.0.sync()?;
        Ok(())
    }

    fn command_len(command: &Command) -> usize {
        command.len()
    }

    fn take_snapshot(&self, dir: &Path) -> Result<Index, ApplyError> {
        let (index, info) = self.0.checkpoint(dir)?;
        tracing::info!(
            index,
            dir = %dir.display(),
            keys = info.keys,
            bytes = info.bytes,
            files = info.files.len(),
            ms = info.elapsed.as_millis() as u64,
            pause_us = info.pause.as_micros() as u64,
            "snapshot taken"
        );
        Ok(index)
    }

    fn install_snapshot(&self, dir: &Path) -> Result<Index, ApplyError> {
        let started = std::time::Instant::now();
        let index = self.0.install(dir)?;
        tracing::info!(
            index,
            dir = %dir.display(),
            ms = started.elapsed().as_millis() as u64,
            "snapshot installed"
        );
        Ok(index)
    }
}
