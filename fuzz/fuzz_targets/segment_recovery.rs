//! Arbitrary bytes as the newest data segment of a store: opening and
//! reading it gives data or a typed error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bitcask::fuzzing::segment_recovery(data);
});
