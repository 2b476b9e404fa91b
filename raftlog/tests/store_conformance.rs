//! Runs the `LogStore` conformance suite against every implementation.

use raftlog::MemLogStore;
use raftlog::storage::conformance;

#[test]
fn mem_log_store_conforms() {
    conformance::run_all(MemLogStore::new, |s| s);
}
