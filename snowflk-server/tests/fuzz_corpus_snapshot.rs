//! Replays the `snapshot_stream` fuzz corpus (`fuzz/corpus/snapshot_stream`)
//! through the fuzz target's entry point, so inputs that once failed stay
//! fixed.

use std::path::Path;

#[test]
fn snapshot_stream_corpus() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let corpus = bitcask::fuzzing::corpus(&fuzz, "snapshot_stream");
    assert!(!corpus.is_empty(), "the corpus has seeds");
    for (path, bytes) in corpus {
        eprintln!("{}", path.display());
        snowflk_server::raft::snapshot::fuzz_snapshot_stream(&bytes);
    }
}

/// The hand-written seed is a valid stream header, so the fuzzer starts from
/// an input that reaches the receiver.
#[test]
fn snapshot_stream_seed_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/snapshot_stream");
    let bytes = std::fs::read(dir.join("seed_stream")).unwrap();
    let parsed = snowflk_server::raft::snapshot::parse_header(&bytes).unwrap();
    let (header, _) = parsed.expect("a complete header");
    assert_eq!(header.files.len(), 4);
}
