//! Bad input and faults: oversize keys and values, a full disk, permission
//! denied, failing fsyncs, and the directory lock. Each gives a typed error,
//! the store stays consistent, and once the fault clears writes work again
//! without losing anything acknowledged.

use std::path::Path;
use std::sync::Arc;

use bitcask::format::{MAX_KEY_LEN, MAX_VALUE_LEN};
use bitcask::vfs::MemVfs;
use bitcask::{BatchOp, Bitcask, Error, Options, SyncPolicy};

fn options(vfs: &MemVfs, sync: SyncPolicy) -> Options {
    Options::default()
        .sync(sync)
        .max_file_size(8192)
        .vfs(Arc::new(vfs.clone()))
}

fn check_all(store: &Bitcask, acknowledged: &[(Vec<u8>, Vec<u8>)]) {
    for (k, v) in acknowledged {
        assert_eq!(store.get(k).unwrap().as_ref(), Some(v), "key {k:?}");
    }
}

#[test]
fn oversize_keys_and_values_are_rejected_and_the_empty_key_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Bitcask::open(dir.path(), Options::default()).unwrap();
    let long_key = vec![1u8; MAX_KEY_LEN + 1];
    assert!(matches!(
        store.put(&long_key, b"v"),
        Err(Error::KeyTooLarge { len, max }) if len == MAX_KEY_LEN + 1 && max == MAX_KEY_LEN
    ));
    assert!(matches!(
        store.delete(&long_key),
        Err(Error::KeyTooLarge { .. })
    ));
    assert!(matches!(
        store.write_batch(&[
            BatchOp::put(b"ok".to_vec(), b"v".to_vec()),
            BatchOp::put(long_key, b"v".to_vec())
        ]),
        Err(Error::KeyTooLarge { .. })
    ));
    // A failed batch wrote nothing, not even its valid part.
    assert_eq!(store.get(b"ok").unwrap(), None);
    let huge_value = vec![0u8; MAX_VALUE_LEN + 1];
    assert!(matches!(
        store.put(b"k", &huge_value),
        Err(Error::ValueTooLarge { .. })
    ));
    store.put(&vec![2u8; MAX_KEY_LEN], b"longest key").unwrap();
    store.put(b"", b"empty key").unwrap();
    drop(store);
    let store = Bitcask::open(dir.path(), Options::default()).unwrap();
    assert_eq!(store.get(b"").unwrap().as_deref(), Some(&b"empty key"[..]));
    assert_eq!(
        store.get(&vec![2u8; MAX_KEY_LEN]).unwrap().as_deref(),
        Some(&b"longest key"[..])
    );
    assert_eq!(store.len(), 2);
}

#[test]
fn disk_full_fails_the_write_and_the_store_recovers_when_space_returns() {
    for sync in [SyncPolicy::Always, SyncPolicy::Never] {
        let vfs = MemVfs::new();
        let store = Bitcask::open("/full", options(&vfs, sync)).unwrap();
        let mut acknowledged = Vec::new();
        let mut failures = 0;
        vfs.set_space_limit(Some(vfs.used_bytes() + 20_000));
        for i in 0..400u32 {
            let (k, v) = (format!("key{i}").into_bytes(), vec![i as u8; 97]);
            match store.put(&k, &v) {
                Ok(()) => acknowledged.push((k, v)),
                Err(e) => {
                    assert!(
                        e.is_storage_full(),
                        "{sync:?}: not reported as disk full: {e}"
                    );
                    failures += 1;
                }
            }
        }
        assert!(failures > 0, "{sync:?}: the disk never filled");
        // Reads keep working while the disk is full.
        check_all(&store, &acknowledged[..acknowledged.len().min(50)]);
        vfs.set_space_limit(None);
        store.put(b"after", b"space returned").unwrap();
        acknowledged.push((b"after".to_vec(), b"space returned".to_vec()));
        check_all(&store, &acknowledged);
        store.close().unwrap();
        let store = Bitcask::open("/full", options(&vfs, sync)).unwrap();
        check_all(&store, &acknowledged);
    }
}

#[test]
fn a_failed_fsync_under_always_rolls_back_and_reports_an_error() {
    let vfs = MemVfs::new();
    let store = Bitcask::open("/fsync", options(&vfs, SyncPolicy::Always)).unwrap();
    store.put(b"before", b"1").unwrap();
    // The write succeeds, the fsync after it fails once.
    vfs.fail_once_after_ops(1);
    let err = store.put(b"lost", b"2").unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    vfs.clear_faults();
    // The failed write had no effect, now and after a restart.
    assert_eq!(store.get(b"lost").unwrap(), None);
    store.put(b"after", b"3").unwrap();
    vfs.crash(|_, _| 0);
    drop(store);
    let store = Bitcask::open("/fsync", options(&vfs, SyncPolicy::Always)).unwrap();
    assert_eq!(store.get(b"before").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(store.get(b"lost").unwrap(), None);
    assert_eq!(store.get(b"after").unwrap().as_deref(), Some(&b"3"[..]));
}

#[test]
fn every_single_failing_operation_leaves_a_consistent_store() {
    // Fail the n-th mutating file operation for every n a workload performs,
    // with rotations and batches in it; acknowledged writes must survive a
    // crash that follows.
    for (n, once) in (0..120).flat_map(|n| [(n, false), (n, true)]) {
        let vfs = MemVfs::new();
        let store = Bitcask::open("/nth", options(&vfs, SyncPolicy::Always)).unwrap();
        if once {
            vfs.fail_once_after_ops(n);
        } else {
            vfs.fail_after_ops(n);
        }
        let mut acknowledged = std::collections::BTreeMap::new();
        for i in 0..40u32 {
            let k = format!("k{}", i % 13).into_bytes();
            let v = vec![i as u8; 300];
            let result = if i % 7 == 0 {
                store.write_batch(&[
                    BatchOp::put(k.clone(), v.clone()),
                    BatchOp::put(b"b".to_vec(), v.clone()),
                ])
            } else {
                store.put(&k, &v)
            };
            match result {
                Ok(()) => {
                    if i % 7 == 0 {
                        acknowledged.insert(b"b".to_vec(), v.clone());
                    }
                    acknowledged.insert(k, v);
                }
                Err(Error::Io { .. } | Error::Failed { .. }) => {}
                Err(e) => panic!("n={n} once={once}: unexpected error {e}"),
            }
        }
        vfs.crash(|_, unsynced| unsynced / 2);
        drop(store);
        let store = Bitcask::open("/nth", options(&vfs, SyncPolicy::Always))
            .unwrap_or_else(|e| panic!("n={n} once={once}: reopen failed: {e}"));
        for (k, v) in &acknowledged {
            assert_eq!(
                store.get(k).unwrap().as_ref(),
                Some(v),
                "n={n} once={once} key {k:?}"
            );
        }
    }
}

#[test]
fn permission_denied_is_a_typed_error() {
    let vfs = MemVfs::new();
    vfs.set_read_only(true);
    let err = Bitcask::open("/ro", options(&vfs, SyncPolicy::Always)).unwrap_err();
    match err {
        Error::Io { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied)
        }
        other => panic!("expected permission denied, got {other}"),
    }
    vfs.set_read_only(false);
    let store = Bitcask::open("/ro", options(&vfs, SyncPolicy::Always)).unwrap();
    store.put(b"k", b"v").unwrap();
    vfs.set_read_only(true);
    store.sync().unwrap();
    vfs.set_read_only(false);
}

#[test]
fn second_read_write_open_fails_with_locked_and_read_only_opens_coexist() {
    let dir = tempfile::tempdir().unwrap();
    let store = Bitcask::open(dir.path(), Options::default()).unwrap();
    store.put(b"k", b"v1").unwrap();
    match Bitcask::open(dir.path(), Options::default()) {
        Err(Error::Locked { path }) => assert_eq!(path, dir.path()),
        other => panic!("expected Locked, got {other:?}"),
    }
    let reader = Bitcask::open_read_only(dir.path()).unwrap();
    let reader2 = Bitcask::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.get(b"k").unwrap().as_deref(), Some(&b"v1"[..]));
    // A read-only opener sees the state as of its open.
    store.put(b"k", b"v2").unwrap();
    store.put(b"new", b"x").unwrap();
    assert_eq!(reader.get(b"k").unwrap().as_deref(), Some(&b"v1"[..]));
    assert_eq!(reader.get(b"new").unwrap(), None);
    assert!(matches!(
        reader.put(b"x", b"y"),
        Err(Error::ReadOnly { .. })
    ));
    assert_eq!(reader2.len(), 1);
    drop(store);
    // The lock is released with the store.
    let again = Bitcask::open(dir.path(), Options::default()).unwrap();
    assert_eq!(again.get(b"k").unwrap().as_deref(), Some(&b"v2"[..]));
}

#[test]
fn read_only_open_of_a_missing_directory_is_an_error_naming_it() {
    let err = Bitcask::open_read_only(Path::new("/definitely/not/here")).unwrap_err();
    assert!(err.to_string().contains("/definitely/not/here"), "{err}");
}

#[test]
fn dropping_a_store_with_background_threads_frees_the_lock_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default()
        .sync(SyncPolicy::Interval(std::time::Duration::from_millis(1)))
        .max_file_size(4096)
        .merge(bitcask::MergePolicy {
            trigger_fragmentation: 10.0,
            include_fragmentation: 5.0,
            background_interval: Some(std::time::Duration::from_millis(1)),
            ..bitcask::MergePolicy::default()
        });
    for round in 0..30u32 {
        // Interval syncer, merger and hint writers are all busy here.
        let store = Bitcask::open(dir.path(), options.clone())
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        for i in 0..100u32 {
            store
                .put(&(i % 20).to_be_bytes(), &[round as u8; 100])
                .unwrap();
        }
        drop(store);
    }
    let store = Bitcask::open(dir.path(), options).unwrap();
    assert_eq!(store.len(), 20);
}
