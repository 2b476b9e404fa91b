//! Opens a store, writes, reads, deletes, reopens, and shows what survived.
//!
//! Run: `cargo run -p bitcask --example quickstart [DIR]`
//! (without DIR, a temporary directory is used).

use bitcask::{BatchOp, Bitcask, Options, SyncPolicy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp;
    let dir = match std::env::args().nth(1) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    println!("store directory: {}", dir.display());

    let store = Bitcask::open(&dir, Options::default().sync(SyncPolicy::Always))?;
    store.put(b"greeting", b"hello, snowflk")?;
    store.write_batch(&[
        BatchOp::put("user:1", "ada"),
        BatchOp::put("user:2", "grace"),
        BatchOp::delete("greeting"),
    ])?;
    store.put(b"greeting", b"hello again")?;
    println!("before reopen: {} keys", store.len());
    store.close()?;

    let store = Bitcask::open(&dir, Options::default())?;
    let mut pairs: Vec<_> = store.iter().collect::<Result<_, _>>()?;
    pairs.sort();
    println!("after reopen: {} keys", store.len());
    for (key, value) in pairs {
        println!(
            "  {} = {}",
            String::from_utf8_lossy(&key),
            String::from_utf8_lossy(&value)
        );
    }
    Ok(())
}
