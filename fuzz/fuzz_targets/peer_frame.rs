//! Arbitrary bytes as a peer connection: a handshake, then length-prefixed
//! postcard frames. Refusal is fine; a panic is a bug.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    snowflk_server::raft::wire::fuzz_peer_frame(data);
});
