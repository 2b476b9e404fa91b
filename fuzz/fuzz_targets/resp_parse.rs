//! Arbitrary bytes as client requests: the RESP parser never panics, and
//! feeding the bytes split at any position gives the same requests and the
//! same error as feeding them at once.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    snowflk_server::resp::fuzz_check(data);
});
