//! Arbitrary bytes into the record decoder: an error or a record that
//! re-encodes to the same bytes, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bitcask::fuzzing::record_decode(data);
});
