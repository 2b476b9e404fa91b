//! Replays the Raft fuzz corpora (`fuzz/corpus/raft_*`) through the entry
//! points the fuzz targets use, so inputs that once crashed stay fixed.

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    bitcask::fuzzing::corpus(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz"),
        target,
    )
}

/// Runs every file of corpus `target` through `check`, naming the file first
/// so a failure points at it.
fn replay(target: &str, check: impl Fn(&[u8])) {
    for (path, bytes) in corpus(target) {
        eprintln!("{}", path.display());
        check(&bytes);
    }
}

#[test]
fn raft_message_decode_corpus() {
    replay(
        "raft_message_decode",
        snowflk_integration_tests::fuzzing::raft_message_decode,
    );
}

#[test]
fn raft_log_recovery_corpus() {
    replay(
        "raft_log_recovery",
        snowflk_integration_tests::fuzzing::raft_log_recovery,
    );
}
