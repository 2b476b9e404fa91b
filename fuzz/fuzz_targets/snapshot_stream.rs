//! Arbitrary bytes as a snapshot stream received from a leader: the header
//! parser, then the follower's chunk receiver. Refusal is fine; a panic is a
//! bug.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    snowflk_server::raft::snapshot::fuzz_snapshot_stream(data);
});
