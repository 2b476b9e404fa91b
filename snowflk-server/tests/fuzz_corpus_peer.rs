//! Replays the `peer_frame` fuzz corpus (`fuzz/corpus/peer_frame`) through
//! the fuzz target's entry point, so inputs that once failed stay fixed.

use std::path::Path;

#[test]
fn peer_frame_corpus() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    for (path, bytes) in bitcask::fuzzing::corpus(&fuzz, "peer_frame") {
        eprintln!("{}", path.display());
        snowflk_server::raft::wire::fuzz_peer_frame(&bytes);
    }
}

/// The hand-written seeds (from `docs/format.md`) are valid frames, so the
/// fuzzer starts from inputs that reach the decoders' depths.
#[test]
fn peer_frame_seeds_decode() {
    use snowflk_server::raft::{forward::Rpc, machine::Command, wire};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/peer_frame");
    for name in [
        "seed_heartbeat",
        "seed_append_command",
        "seed_rpc_read",
        "seed_rpc_reply",
        "seed_rpc_write_setnx",
        "seed_rpc_write_rename",
        "seed_rpc_write_getex",
        "seed_rpc_read_type",
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let got =
            wire::split_frame::<wire::PeerFrame<Command, Rpc>>(&bytes, wire::DEFAULT_MAX_FRAME);
        assert!(
            matches!(got, Ok(Some((_, n))) if n == bytes.len()),
            "{name}: {got:?}"
        );
    }
    let hello = std::fs::read(dir.join("seed_hello")).unwrap();
    let decoded = wire::Hello::decode(&hello).unwrap();
    assert_eq!(decoded.version, wire::PROTOCOL_VERSION);
    assert_eq!(hello.len(), wire::HELLO_LEN);
    let ack = std::fs::read(dir.join("seed_ack")).unwrap();
    assert_eq!(
        wire::Ack::decode(&ack).map(|a| a.status),
        Ok(wire::AckStatus::Accepted)
    );
    let stream = std::fs::read(dir.join("seed_hello_then_frames")).unwrap();
    assert!(wire::Hello::decode(&stream).is_ok());
    assert!(matches!(
        wire::split_frame::<wire::PeerFrame<Command, Rpc>>(
            &stream[wire::HELLO_LEN..],
            wire::DEFAULT_MAX_FRAME
        ),
        Ok(Some(_))
    ));
}
