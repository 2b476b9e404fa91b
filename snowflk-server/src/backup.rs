//! Backups: `SNOWFLK BACKUP dir` writes a consistent image of a node's data,
//! and `snowflk-server --restore DIR` starts a new one-node store from it.
//!
//! A backup is a [`bitcask`] checkpoint of the node's engine
//! ([`KvStateMachine::checkpoint`]): sealed segment files hard-linked (or
//! copied across file systems) into `dir` with their hint files and a
//! `CHECKPOINT` manifest written last. It is taken without stopping the node:
//! applying waits only while the files are linked. It holds every key, value
//! and expiry as of one applied Raft index, and `snowflk-tools verify dir`
//! checks it.
//!
//! - On the leader (and in `--replication none`), the backup first confirms a
//!   read index, so it holds every write acknowledged before the command.
//! - On a follower it holds what that follower has applied, a prefix of the
//!   log; the reply names the applied index.
//!
//! Restoring copies the backup into `<data-dir>/engine` of an empty data
//! directory (through a temporary directory renamed into place, so a crash
//! half-way leaves no engine directory), removes the manifest and forgets the
//! applied index, because the new store starts a new Raft log at index 1.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bitcask::Options;
use tracing::info;

use crate::ops::{BackendError, Reply};
use crate::state_machine::KvStateMachine;

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// The backup directory.
    pub dir: PathBuf,
    /// The backup holds exactly the entries up to this Raft index (0 in
    /// `--replication none`, which has no log).
    pub applied_index: u64,
    /// Keys in the engine at the backup point (the internal applied-index
    /// record and expired keys not yet purged included).
    pub keys: u64,
    /// Bytes of data and hint files.
    pub bytes: u64,
    /// Data and hint files.
    pub files: usize,
    /// Time taken.
    pub elapsed: Duration,
}

impl BackupInfo {
    /// The `SNOWFLK BACKUP` reply: one status line.
    pub fn reply(&self) -> Reply {
        Reply::Simple(format!(
            "OK dir={} applied_index={} keys={} bytes={} files={} ms={}",
            self.dir.display(),
            self.applied_index,
            self.keys,
            self.bytes,
            self.files,
            self.elapsed.as_millis()
        ))
    }
}

/// Writes a backup of `sm` into `dir`, which must not exist or be empty (no
/// files and no subdirectories) and must not lie inside the node's data
/// directory (the engine directory's parent).
pub fn take(sm: &KvStateMachine, dir: &Path) -> Result<BackupInfo, BackendError> {
    let refuse = |why: String| Err(BackendError::Backup(format!("{}: {why}", dir.display())));
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return refuse("the directory is not empty".into());
    }
    // The nearest existing ancestor tells where the backup would land. A
    // relative path is relative to the working directory: resolve it first,
    // or a path none of whose parts exists yet (`bk` with the working
    // directory inside the data directory) would have no ancestor to check.
    let absolute = match std::env::current_dir() {
        Ok(cwd) => cwd.join(dir),
        Err(e) => return refuse(format!("cannot resolve the working directory: {e}")),
    };
    let Some(target) = absolute.ancestors().find_map(|a| a.canonicalize().ok()) else {
        return refuse("cannot resolve where the directory would be".into());
    };
    let engine = match sm.dir().canonicalize() {
        Ok(engine) => engine,
        Err(e) => return refuse(format!("cannot resolve the engine directory: {e}")),
    };
    if let Some(data) = engine.parent()
        && target.starts_with(data)
    {
        return refuse(format!(
            "inside the node's data directory {}; choose a directory outside it",
            data.display()
        ));
    }
    let (applied_index, cp) = sm
        .checkpoint(dir)
        .map_err(|e| BackendError::Backup(format!("{}: {e}", dir.display())))?;
    let out = BackupInfo {
        dir: dir.to_path_buf(),
        applied_index,
        keys: cp.keys,
        bytes: cp.bytes,
        files: cp.files.len(),
        elapsed: cp.elapsed,
    };
    info!(
        dir = %dir.display(),
        applied_index,
        keys = out.keys,
        bytes = out.bytes,
        files = out.files,
        copied = cp.copied_files,
        ms = cp.elapsed.as_millis() as u64,
        pause_us = cp.pause.as_micros() as u64,
        "backup written"
    );
    Ok(out)
}

/// Why `--restore` refused to start.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The data directory already holds a store or a Raft log.
    #[error(
        "--restore needs an empty data directory, but {0} already holds data; \
         restore into a new --data-dir"
    )]
    NotEmpty(PathBuf),
    /// The backup is not a complete checkpoint.
    #[error("{path} is not a complete snowflk backup: {source}")]
    NotABackup {
        /// The backup directory.
        path: PathBuf,
        /// What is wrong.
        source: bitcask::Error,
    },
    /// Copying or opening failed.
    #[error("cannot restore {what} {path}: {reason}")]
    Io {
        /// The step.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Copies the backup `backup` into `engine_dir` (inside `data_dir`, which
/// must hold no engine files and no Raft log) and forgets its applied index.
pub fn restore(backup: &Path, data_dir: &Path, engine_dir: &Path) -> Result<u64, RestoreError> {
    for held in [engine_dir.to_path_buf(), data_dir.join("raft")] {
        if has_files(&held) {
            return Err(RestoreError::NotEmpty(held));
        }
    }
    let vfs = bitcask::vfs::OsVfs;
    let manifest =
        bitcask::checkpoint::verify(&vfs, backup).map_err(|source| RestoreError::NotABackup {
            path: backup.to_path_buf(),
            source,
        })?;
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| RestoreError::Io {
            what,
            path,
            reason: e.to_string(),
        }
    };
    let staging = data_dir.join("engine.restoring");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io("remove", &staging))?;
    }
    bitcask::vfs::create_dir_all_durable(&staging).map_err(io("create", &staging))?;
    for file in &manifest.files {
        let from = backup.join(&file.name);
        let to = staging.join(&file.name);
        std::fs::copy(&from, &to).map_err(io("copy", &from))?;
        std::fs::File::open(&to)
            .and_then(|f| f.sync_all())
            .map_err(io("fsync", &to))?;
    }
    {
        let sm =
            KvStateMachine::open(&staging, Options::default()).map_err(|e| RestoreError::Io {
                what: "open",
                path: staging.clone(),
                reason: e.to_string(),
            })?;
        sm.reset_applied_index().map_err(|e| RestoreError::Io {
            what: "reset the applied index of",
            path: staging.clone(),
            reason: e.to_string(),
        })?;
    }
    if engine_dir.exists() {
        std::fs::remove_dir(engine_dir).map_err(io("remove the empty", engine_dir))?;
    }
    std::fs::rename(&staging, engine_dir).map_err(io("rename", &staging))?;
    std::fs::File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync", data_dir))?;
    info!(
        backup = %backup.display(),
        engine = %engine_dir.display(),
        keys = manifest.keys,
        bytes = manifest.bytes,
        "restored a backup"
    );
    Ok(manifest.keys)
}

fn has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}
