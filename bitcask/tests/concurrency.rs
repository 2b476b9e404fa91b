//! Writers and readers on several threads: no torn reads, and every
//! acknowledged write is visible afterwards (also after a reopen).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bitcask::{BatchOp, Bitcask, Options, SyncPolicy};

/// A value that proves its own integrity: key, version, and a filler derived
/// from both. A torn or mixed-up read fails `check`.
fn value(key: &[u8], version: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&(key.len() as u32).to_le_bytes());
    v.extend_from_slice(key);
    v.extend_from_slice(&version.to_le_bytes());
    let fill = (version as usize * 31 + key.len()) % 200;
    v.extend(std::iter::repeat_n((version % 251) as u8, fill));
    v
}

fn check(key: &[u8], v: &[u8]) -> u32 {
    let klen = u32::from_le_bytes(v[0..4].try_into().unwrap()) as usize;
    assert_eq!(&v[4..4 + klen], key, "value belongs to another key");
    let version = u32::from_le_bytes(v[4 + klen..8 + klen].try_into().unwrap());
    assert_eq!(v, value(key, version), "torn value");
    version
}

fn run(sync: SyncPolicy) {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().sync(sync).max_file_size(64 * 1024);
    let store = Arc::new(Bitcask::open(dir.path(), options.clone()).unwrap());
    let writers = 4;
    let per_writer = if sync == SyncPolicy::Always {
        150
    } else {
        3000
    };
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..3)
        .map(|r| {
            let store = store.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut reads = 0u64;
                let mut i = r;
                while !done.load(Ordering::Acquire) {
                    let key = format!("w{}-k{}", i % writers, i % 50).into_bytes();
                    if let Some(v) = store.get(&key).unwrap() {
                        check(&key, &v);
                    }
                    reads += 1;
                    i += 1;
                }
                reads
            })
        })
        .collect();

    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for version in 1..=per_writer {
                    let key = format!("w{w}-k{}", version % 50).into_bytes();
                    if version % 10 == 0 {
                        let other = format!("w{w}-batch").into_bytes();
                        store
                            .write_batch(&[
                                BatchOp::put(key.clone(), value(&key, version)),
                                BatchOp::put(other.clone(), value(&other, version)),
                            ])
                            .unwrap();
                    } else {
                        store.put(&key, &value(&key, version)).unwrap();
                    }
                    // Read-your-writes: an acknowledged write is visible at once.
                    let got = store
                        .get(&key)
                        .unwrap()
                        .expect("acknowledged write missing");
                    assert_eq!(check(&key, &got), version);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 0);

    let verify = |store: &Bitcask| {
        for w in 0..writers {
            for k in 0..50u32 {
                let key = format!("w{w}-k{k}").into_bytes();
                // The last version written to key k is the largest v <= per_writer with v % 50 == k.
                let last = (1..=per_writer).rev().find(|v| v % 50 == k).unwrap();
                let got = store.get(&key).unwrap().expect("key missing");
                assert_eq!(check(&key, &got), last, "{sync:?} key w{w}-k{k}");
            }
        }
    };
    verify(&store);
    drop(store);
    let store = Bitcask::open(dir.path(), options).unwrap();
    verify(&store);
    assert_eq!(store.len(), writers as usize * 51);
}

#[test]
fn concurrent_writers_and_readers_under_always() {
    run(SyncPolicy::Always);
}

#[test]
fn concurrent_writers_and_readers_under_never() {
    run(SyncPolicy::Never);
}

#[test]
fn concurrent_writers_and_readers_under_interval() {
    run(SyncPolicy::Interval(std::time::Duration::from_millis(5)));
}

/// A store large enough (> 64 MiB) that open loads its segments on several
/// threads: from hints, from scans, and with a torn active segment.
#[test]
fn parallel_open_of_a_large_store_gives_the_same_contents() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default()
        .sync(SyncPolicy::Never)
        .max_file_size(8 << 20);
    let mut expected = std::collections::BTreeMap::new();
    {
        let store = Bitcask::open(dir.path(), options.clone()).unwrap();
        for i in 0..10_000u32 {
            let key = format!("key{}", i % 7_000).into_bytes();
            if i % 17 == 0 {
                store.delete(&key).unwrap();
                expected.remove(&key);
            } else {
                let value = value(&key, i).repeat(1 + (8192 / 64));
                store.put(&key, &value).unwrap();
                expected.insert(key, value);
            }
        }
        store.close().unwrap();
    }
    let check = |what: &str| {
        let store = Bitcask::open(dir.path(), options.clone()).unwrap();
        assert_eq!(store.len(), expected.len(), "{what}");
        for (k, v) in &expected {
            assert_eq!(store.get(k).unwrap().as_ref(), Some(v), "{what}");
        }
        store.close().unwrap();
    };
    check("with hints");
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "hint") {
            std::fs::remove_file(path).unwrap();
        }
    }
    check("scanning");
}
