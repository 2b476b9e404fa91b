//! Replays every file of the fuzz corpora (`fuzz/corpus/<target>/`) through
//! the same entry points the fuzz targets use, so inputs that once crashed
//! stay fixed, without needing nightly or cargo-fuzz.

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
fn record_decode_corpus() {
    replay("record_decode", bitcask::fuzzing::record_decode);
}

#[test]
fn file_header_decode_corpus() {
    replay("file_header_decode", bitcask::fuzzing::file_header_decode);
}

#[test]
fn segment_recovery_corpus() {
    replay("segment_recovery", bitcask::fuzzing::segment_recovery);
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
    replay("hint_decode", bitcask::fuzzing::hint_decode);
}

#[test]
fn engine_ops_corpus() {
    replay("engine_ops", bitcask::fuzzing::engine_ops);
}
