//! Arbitrary bytes as a postcard-encoded Raft peer message: an error or a
//! message that round-trips, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    snowflk_integration_tests::fuzzing::raft_message_decode(data);
});
