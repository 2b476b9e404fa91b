//! Entry points shared by the cargo-fuzz targets in `fuzz/` and by the test
//! that replays their corpora (`tests/fuzz_corpus.rs`), so both exercise the
//! same code. Each takes arbitrary bytes and panics only on a real bug.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::format::{FileHeader, Record};
use crate::vfs::{MemVfs, OpenMode, Vfs};
use crate::{Bitcask, Options, SyncPolicy};

/// Decodes `data` as a record; a successful decode must re-encode to the
/// same bytes.
pub fn record_decode(data: &[u8]) {
    if let Ok((record, len)) = Record::decode(data) {
        let mut out = Vec::new();
        record.encode_into(&mut out);
        assert_eq!(&out[..], &data[..len], "decode/encode round trip differs");
    }
}

/// Decodes `data` as a file header; a successful decode must re-encode to
/// the same bytes.
pub fn file_header_decode(data: &[u8]) {
    if let Ok(header) = FileHeader::decode(data) {
        assert_eq!(
            &header.encode()[..],
            &data[..crate::format::FILE_HEADER_LEN]
        );
    }
}

/// Opens a store whose only segment holds `data` (read-only, then
/// read-write), and reads every key. Any outcome but a panic is fine; a
/// successful read-write open must reopen to the same keys.
pub fn segment_recovery(data: &[u8]) {
    let vfs = MemVfs::new();
    let dir = Path::new("/fuzz");
    vfs.create_dir_all(dir).expect("mem dir");
    let path = crate::data_path(dir, 1);
    let file = vfs.open_file(&path, OpenMode::CreateNew).expect("mem file");
    file.write_all_at(data, 0).expect("mem write");
    let options = Options::default()
        .sync(SyncPolicy::Never)
        .vfs(Arc::new(vfs.clone()));
    if let Ok(store) = Bitcask::open_read_only_with(dir, options.clone()) {
        for pair in store.iter() {
            let _ = pair;
        }
    }
    let Ok(store) = Bitcask::open(dir, options.clone()) else {
        return;
    };
    let mut keys: Vec<_> = store.keys().collect();
    for key in &keys {
        let _ = store.get(key);
    }
    drop(store);
    let store = Bitcask::open(dir, options).expect("a recovered store reopens");
    let mut again: Vec<_> = store.keys().collect();
    keys.sort();
    again.sort();
    assert_eq!(keys, again, "reopen changed the keys");
}

/// Decodes `data` as a sequence of hint items (entries, then a trailer);
/// every decoded entry must re-encode to the same bytes.
pub fn hint_decode(data: &[u8]) {
    let mut rest = data;
    while let Ok((item, len)) = crate::format::decode_hint_item(rest) {
        let mut out = Vec::new();
        match item {
            crate::format::HintItem::Entry(entry) => entry.encode_into(&mut out),
            crate::format::HintItem::Trailer(trailer) => trailer.encode_into(&mut out),
        }
        assert_eq!(&out[..], &rest[..len], "hint item round trip differs");
        rest = &rest[len..];
    }
}

/// The files of corpus `target` under `fuzz_dir` (`fuzz/corpus/<target>/`),
/// sorted, with their bytes, for the tests that replay corpora.
///
/// # Panics
/// If the corpus cannot be read or is empty: a replay test must not pass
/// by finding nothing.
pub fn corpus(fuzz_dir: &Path, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir.join("corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("corpus file {}: {e}", path.display()));
            (path, bytes)
        })
        .collect()
}
