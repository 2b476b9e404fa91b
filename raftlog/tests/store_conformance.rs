//! Runs the `LogStore` conformance suite against every implementation: the
//! in-memory store, and the segment store on the in-memory file system and
//! on real files.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bitcask::vfs::{MemVfs, OsVfs, Vfs};
use raftlog::MemLogStore;
use raftlog::storage::conformance::{self, TestCommand};
use raftlog::storage::{SegmentLogOptions, SegmentLogStore};

#[test]
fn mem_log_store_conforms() {
    conformance::run_all(MemLogStore::new, |s| s);
}

fn reopen(
    s: SegmentLogStore<TestCommand>,
    options: SegmentLogOptions,
) -> SegmentLogStore<TestCommand> {
    let (vfs, dir) = (s.vfs(), s.dir().to_path_buf());
    drop(s);
    SegmentLogStore::open(vfs, &dir, options).expect("reopen")
}

fn run_segment_suite(vfs: Arc<dyn Vfs>, root: PathBuf, options: SegmentLogOptions) {
    let n = AtomicU64::new(0);
    let opts = options.clone();
    conformance::run_all(
        || {
            let dir = root.join(format!("log{}", n.fetch_add(1, Ordering::Relaxed)));
            SegmentLogStore::open(Arc::clone(&vfs), &dir, opts.clone()).expect("open")
        },
        |s| reopen(s, options.clone()),
    );
}

#[test]
fn segment_log_store_on_mem_vfs_conforms() {
    run_segment_suite(
        Arc::new(MemVfs::new()),
        PathBuf::from("/raft"),
        SegmentLogOptions::default(),
    );
}

#[test]
fn segment_log_store_with_tiny_segments_conforms() {
    // Many segments: rotation, truncation across segments, whole-segment purge.
    let options = SegmentLogOptions {
        max_segment_bytes: 160,
        ..SegmentLogOptions::default()
    };
    run_segment_suite(Arc::new(MemVfs::new()), PathBuf::from("/raft"), options);
}

#[test]
fn segment_log_store_on_real_files_conforms() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let options = SegmentLogOptions {
        max_segment_bytes: 4096,
        ..SegmentLogOptions::default()
    };
    run_segment_suite(Arc::new(OsVfs), tmp.path().to_path_buf(), options);
}
