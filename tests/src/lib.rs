//! Cross-crate integration tests for snowflk (in `tests/tests/`), and the
//! fuzz entry points that need more than one crate: the cargo-fuzz targets in
//! `fuzz/` call [`fuzzing`], and `tests/tests/fuzz_corpus.rs` replays the
//! corpora through the same functions.

/// Fuzz entry points for the Raft parsers of untrusted bytes.
pub mod fuzzing {
    use std::path::Path;
    use std::sync::Arc;

    use bitcask::vfs::{MemVfs, OpenMode, Vfs};
    use raftlog::{LogStore, Message, SegmentLogOptions, SegmentLogStore};

    /// Decodes `data` as a peer message (postcard); a successful decode
    /// must re-encode to bytes that decode to the same message.
    pub fn raft_message_decode(data: &[u8]) {
        if let Ok(message) = postcard::from_bytes::<Message<Vec<u8>>>(data) {
            let bytes = postcard::to_allocvec(&message).expect("encode a decoded message");
            let again: Message<Vec<u8>> =
                postcard::from_bytes(&bytes).expect("re-decode an encoded message");
            assert_eq!(again, message, "postcard round trip differs");
        }
    }

    /// Opens a Raft log whose only segment holds `data`; any outcome but a
    /// panic is fine, and an opened log must answer reads within its bounds.
    pub fn raft_log_recovery(data: &[u8]) {
        let vfs = MemVfs::new();
        let dir = Path::new("/raft");
        vfs.create_dir_all(dir).expect("mem dir");
        let file = vfs
            .open_file(&dir.join(format!("log-{:020}.seg", 1)), OpenMode::CreateNew)
            .expect("mem file");
        file.write_all_at(data, 0).expect("mem write");
        let Ok(store) =
            SegmentLogStore::<Vec<u8>>::open(Arc::new(vfs), dir, SegmentLogOptions::default())
        else {
            return;
        };
        let (first, last) = (store.first_index(), store.last_index());
        if first <= last {
            let _ = store.entries(first, last + 1, None);
            let _ = store.term(last);
        }
    }
}
