//! Arbitrary sequences of writes, merges, rotations, reopens, crashes of
//! both kinds, injected faults and read-only opens, checked against a model.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bitcask::fuzzing::engine_ops(data);
});
