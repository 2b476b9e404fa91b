//! Arbitrary bytes into the file header decoder: never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bitcask::fuzzing::file_header_decode(data);
});
