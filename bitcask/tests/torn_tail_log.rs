//! A torn tail is cut on open, and the log says where and how many bytes.
//!
//! Its own test binary: `tracing` caches per-callsite interest process-wide,
//! and tests on other threads that hit the same callsites without a
//! subscriber can make a scoped subscriber miss the line.

use std::path::Path;
use std::sync::Arc;

use bitcask::vfs::MemVfs;
use bitcask::{Bitcask, Options, SyncPolicy};

#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Offset of the last record of a segment.
fn last_record_offset(segment: &[u8]) -> usize {
    let mut offset = bitcask::format::FILE_HEADER_LEN;
    let mut last = offset;
    while offset < segment.len() {
        let (_, len) = bitcask::format::Record::decode(&segment[offset..]).unwrap();
        last = offset;
        offset += len;
    }
    last
}

#[test]
fn cutting_a_torn_tail_is_logged_with_the_bytes_dropped() {
    let dir = Path::new("/torn");
    let vfs = MemVfs::new();
    let options = || {
        Options::default()
            .sync(SyncPolicy::Always)
            .vfs(Arc::new(vfs.clone()))
    };
    let store = Bitcask::open(dir, options()).unwrap();
    for i in 0..10u8 {
        store.put(&[b'k', i], &vec![i; 3 + i as usize]).unwrap();
    }
    store.close().unwrap();
    let segment = bitcask::data_path(dir, 1);
    let whole = vfs.read_whole(&segment).unwrap();
    vfs.write_whole(&segment, &whole[..whole.len() - 5])
        .unwrap();

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        Bitcask::open(dir, options()).unwrap();
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("cut a torn tail"))
        .unwrap_or_else(|| panic!("no torn-tail line in the log:\n{log}"));
    // The last record lost 5 of its bytes: the rest of it is what was dropped.
    let last_record_len = whole.len() - last_record_offset(&whole);
    assert!(
        line.contains(&format!("dropped_bytes={}", last_record_len - 5)),
        "{line}"
    );
    assert!(line.contains("0000000001.data"), "{line}");
}
