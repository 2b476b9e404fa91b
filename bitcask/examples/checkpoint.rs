//! Writes N keys, then takes a checkpoint while a writer keeps writing, and
//! prints what it cost; then opens the checkpoint.
//!
//! `cargo run --release -p bitcask --example checkpoint -- DIR [N]`
//! (DIR must not exist; N defaults to 1,000,000 keys of 100-byte values;
//! 16 MiB segments, `SyncPolicy::Never`, nothing synced before).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use bitcask::{BatchOp, Bitcask, Options};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = std::path::PathBuf::from(args.next().ok_or("usage: checkpoint DIR [N]")?);
    let n: u64 = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let options = Options::default().max_file_size(16 << 20);
    let store = Arc::new(Bitcask::open(root.join("db"), options.clone())?);
    let value = [7u8; 100];
    let started = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let ops: Vec<BatchOp> = chunk
            .iter()
            .map(|i| BatchOp::put(format!("key{i:012}"), value))
            .collect();
        store.write_batch(&ops)?;
    }
    println!("wrote {n} keys in {:?}", started.elapsed());

    // A writer keeps going during the checkpoint; how long do its writes wait?
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (store, stop, written) = (store.clone(), stop.clone(), written.clone());
        std::thread::spawn(move || {
            let mut worst = std::time::Duration::ZERO;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                store
                    .put(format!("extra{i}").as_bytes(), &[1; 100])
                    .unwrap();
                worst = worst.max(t.elapsed());
                i += 1;
                written.store(i, Ordering::Relaxed);
            }
            worst
        })
    };
    while written.load(Ordering::Relaxed) < 1000 {
        std::thread::yield_now();
    }
    let info = store.checkpoint(root.join("checkpoint"))?;
    stop.store(true, Ordering::Relaxed);
    let worst = writer.join().unwrap();
    println!(
        "checkpoint: {} keys, {} segments, {} hint files, {} bytes, {} copied, in {:?}; writer mutex held {:?}; slowest concurrent put {:?}",
        info.keys,
        info.segments,
        info.hint_files,
        info.bytes,
        info.copied_files,
        info.elapsed,
        info.pause,
        worst
    );
    let t = Instant::now();
    let verified = bitcask::checkpoint::verify(&bitcask::vfs::OsVfs, &info.dir)?;
    println!(
        "verify (manifest): {} files in {:?}",
        verified.files.len(),
        t.elapsed()
    );
    let t = Instant::now();
    let opened = Bitcask::open(&info.dir, options)?;
    println!(
        "opened the checkpoint ({} keys) in {:?}",
        opened.len(),
        t.elapsed()
    );
    Ok(())
}
