//! Arbitrary bytes as a Raft log segment: recovery gives a log or a typed
//! error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    snowflk_integration_tests::fuzzing::raft_log_recovery(data);
});
