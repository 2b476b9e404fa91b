//! Replays the Raft fuzz corpora (`fuzz/corpus/raft_*`) through the entry
//! points the fuzz targets use, so inputs that once crashed stay fixed.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn raft_message_decode_corpus() {
    for (path, bytes) in corpus("raft_message_decode") {
        eprintln!("{}", path.display());
        snowflk_integration_tests::fuzzing::raft_message_decode(&bytes);
    }
}

#[test]
fn raft_log_recovery_corpus() {
    for (path, bytes) in corpus("raft_log_recovery") {
        eprintln!("{}", path.display());
        snowflk_integration_tests::fuzzing::raft_log_recovery(&bytes);
    }
}
