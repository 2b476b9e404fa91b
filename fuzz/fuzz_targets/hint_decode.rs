//! Arbitrary bytes as hint file items: never a panic, exact round trips.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bitcask::fuzzing::hint_decode(data);
});
