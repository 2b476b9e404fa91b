//! Replays every file of the fuzz corpora (`fuzz/corpus/<target>/`) through
//! the same entry points the fuzz targets use, so inputs that once crashed
//! stay fixed, without needing nightly or cargo-fuzz.

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
fn record_decode_corpus() {
    for (path, bytes) in corpus("record_decode") {
        eprintln!("{}", path.display());
        bitcask::fuzzing::record_decode(&bytes);
    }
}

#[test]
fn file_header_decode_corpus() {
    for (path, bytes) in corpus("file_header_decode") {
        eprintln!("{}", path.display());
        bitcask::fuzzing::file_header_decode(&bytes);
    }
}

#[test]
fn segment_recovery_corpus() {
    for (path, bytes) in corpus("segment_recovery") {
        eprintln!("{}", path.display());
        bitcask::fuzzing::segment_recovery(&bytes);
    }
}

/// The seed corpus is written by `fuzz/make_seed_corpus.py` from
/// `docs/format.md` alone; the engine must read it as the spec says.
#[test]
fn spec_written_segment_reads_as_specified() {
    use std::sync::Arc;

    use bitcask::vfs::{MemVfs, OpenMode, Vfs};
    let (_, bytes) = corpus("segment_recovery")
        .into_iter()
        .find(|(p, _)| p.ends_with("clean"))
        .unwrap();
    let vfs = MemVfs::new();
    let dir = std::path::Path::new("/spec");
    vfs.create_dir_all(dir).unwrap();
    let file = vfs
        .open_file(&bitcask::data_path(dir, 1), OpenMode::CreateNew)
        .unwrap();
    file.write_all_at(&bytes, 0).unwrap();
    let store =
        bitcask::Bitcask::open_read_only_with(dir, bitcask::Options::default().vfs(Arc::new(vfs)))
            .unwrap();
    let mut pairs: Vec<_> = store.iter().map(|r| r.unwrap()).collect();
    pairs.sort();
    let expected: Vec<(Vec<u8>, Vec<u8>)> = [
        ("b1", "x"),
        ("b2", "y"),
        ("key0", "value0"),
        ("key2", "value2"),
        ("key3", "value3"),
        ("key4", "value4"),
    ]
    .iter()
    .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect();
    assert_eq!(pairs, expected);
}

#[test]
fn hint_decode_corpus() {
    for (path, bytes) in corpus("hint_decode") {
        eprintln!("{}", path.display());
        bitcask::fuzzing::hint_decode(&bytes);
    }
}
