//! The peer protocol's bytes: the handshake and the length-prefixed frames
//! (specified byte for byte in `docs/format.md`, "Peer protocol").
//!
//! Pure functions over byte slices, shared by the async reader and writer in
//! [`super::transport`] and by the `peer_frame` fuzz target, so the code the
//! fuzzer exercises is the code that parses a peer's bytes.
//!
//! - A connection starts with the dialer's 40-byte [`Hello`]; the acceptor
//!   answers with a 16-byte [`Ack`] and closes the connection unless the
//!   status is [`AckStatus::Accepted`]. Both carry the sender's
//!   data-directory incarnation (see [`super::identity`]). Their first
//!   [`VERSION_PREFIX_LEN`] bytes (magic, version) are laid out as in every
//!   protocol version, so each side can tell the other's version before it
//!   expects the rest, and answer a mismatch that an older peer can read.
//! - Then the dialer sends frames: a `u32` little-endian body length, then
//!   the body, a postcard-encoded [`PeerFrame`]. A length above the
//!   connection's maximum is refused before any of the body is read.
//! - Connections are one-way: the dialer writes, the acceptor reads. Replies
//!   (Raft responses, forwarded-request replies) travel on the connection the
//!   replying node dialed.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use raftlog::{Message, NodeId};

/// First four bytes of a [`Hello`].
pub const HELLO_MAGIC: [u8; 4] = *b"SFKP";
/// First four bytes of an [`Ack`].
pub const ACK_MAGIC: [u8; 4] = *b"SFKA";
/// The peer protocol version this build speaks. Peers must speak the same.
/// Version 2 added the incarnations to [`Hello`] and [`Ack`].
pub const PROTOCOL_VERSION: u16 = 2;
/// Size of an encoded [`Hello`].
pub const HELLO_LEN: usize = 40;
/// Size of an encoded [`Ack`].
pub const ACK_LEN: usize = 16;
/// The older protocol version this build still speaks with peers that
/// speak nothing newer (a rolling upgrade): no incarnations, so a peer id
/// that ever presented one is refused on it.
pub const V1: u16 = 1;
/// Size of a version-1 [`Hello`] (no incarnation).
pub const V1_HELLO_LEN: usize = 32;
/// Size of a version-1 [`Ack`] (no incarnation).
pub const V1_ACK_LEN: usize = 8;
/// The bytes of a [`Hello`] or an [`Ack`] that every protocol version lays
/// out alike: magic, version (u16 LE), and two more bytes. An acknowledgement
/// of protocol version 1 was exactly this long.
pub const VERSION_PREFIX_LEN: usize = 8;
/// Size of a frame's length prefix.
pub const LEN_PREFIX: usize = 4;
/// Default hard limit on a frame body (64 MiB). A peer announcing more is
/// dropped before the body is read.
pub const DEFAULT_MAX_FRAME: u32 = 64 << 20;

/// Why bytes from a peer were refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The handshake or acknowledgement does not start with the magic bytes.
    #[error("bad magic {0:02x?}: not a snowflk peer")]
    BadMagic([u8; 4]),
    /// The handshake's reserved field is not zero.
    #[error("reserved handshake field is {0}, expected 0")]
    Reserved(u16),
    /// An acknowledgement carries an unknown status byte.
    #[error("unknown handshake status {0}")]
    UnknownStatus(u8),
    /// Fewer bytes than the fixed-size structure needs.
    #[error("truncated: {needed} bytes needed, {got} present")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// A frame announces a body larger than the limit.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// Announced length.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// A frame announces an empty body (never valid: every frame has a tag).
    #[error("empty frame")]
    EmptyFrame,
    /// The body is not a valid postcard encoding of a frame.
    #[error("undecodable frame: {0}")]
    Decode(#[from] postcard::Error),
    /// The acceptor wrote after its acknowledgement (it never does).
    #[error("the acceptor sent bytes after its acknowledgement")]
    UnexpectedBytes,
    /// A handshake names incarnation 0, which no data directory has.
    #[error("incarnation 0 in the handshake (no data directory has it)")]
    ZeroIncarnation,
    /// The body decodes but leaves bytes unread.
    #[error("frame has {0} trailing bytes")]
    TrailingBytes(usize),
}

/// The dialer's first bytes: who it is and whom it wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Protocol version the dialer speaks.
    pub version: u16,
    /// The cluster the dialer belongs to.
    pub cluster_id: u64,
    /// The dialer's node id.
    pub from: NodeId,
    /// The node id the dialer expects to reach.
    pub to: NodeId,
    /// The dialer's data-directory incarnation.
    pub incarnation: u64,
}

/// The protocol version announced by the first [`VERSION_PREFIX_LEN`]
/// bytes of a [`Hello`] or an [`Ack`] (`magic` says which).
pub fn announced_version(b: &[u8], magic: [u8; 4]) -> Result<u16, WireError> {
    let b = fixed::<VERSION_PREFIX_LEN>(b)?;
    expect_magic(b, magic)?;
    Ok(u16::from_le_bytes([b[4], b[5]]))
}

impl Hello {
    /// Encodes in the version-1 layout: the first [`V1_HELLO_LEN`] bytes of
    /// [`Self::encode`], with version 1 and no incarnation.
    pub fn encode_v1(&self) -> [u8; V1_HELLO_LEN] {
        let mut b = [0u8; V1_HELLO_LEN];
        b.copy_from_slice(&self.encode()[..V1_HELLO_LEN]);
        b[4..6].copy_from_slice(&V1.to_le_bytes());
        b
    }

    /// Decodes a version-1 hello (the first [`V1_HELLO_LEN`] bytes); its
    /// `incarnation` is 0: version 1 has none.
    pub fn decode_v1(b: &[u8]) -> Result<Hello, WireError> {
        let b = fixed::<V1_HELLO_LEN>(b)?;
        expect_magic(b, HELLO_MAGIC)?;
        let reserved = u16::from_le_bytes([b[6], b[7]]);
        if reserved != 0 {
            return Err(WireError::Reserved(reserved));
        }
        Ok(Hello {
            version: u16::from_le_bytes([b[4], b[5]]),
            cluster_id: u64_at(b, 8),
            from: u64_at(b, 16),
            to: u64_at(b, 24),
            incarnation: 0,
        })
    }

    /// Encodes as magic, version (u16 LE), reserved (u16, 0), cluster id,
    /// from, to, incarnation (u64 LE each).
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut b = [0u8; HELLO_LEN];
        b[0..4].copy_from_slice(&HELLO_MAGIC);
        b[4..6].copy_from_slice(&self.version.to_le_bytes());
        // b[6..8] reserved, zero
        b[8..16].copy_from_slice(&self.cluster_id.to_le_bytes());
        b[16..24].copy_from_slice(&self.from.to_le_bytes());
        b[24..32].copy_from_slice(&self.to.to_le_bytes());
        b[32..40].copy_from_slice(&self.incarnation.to_le_bytes());
        b
    }

    /// Decodes the first [`HELLO_LEN`] bytes: the version-1 fields, then
    /// the incarnation. A different version decodes fine (so the acceptor
    /// can say why it refuses); bad magic does not.
    pub fn decode(b: &[u8]) -> Result<Hello, WireError> {
        let b = fixed::<HELLO_LEN>(b)?;
        let fields = Hello::decode_v1(b)?;
        let incarnation = u64_at(b, V1_HELLO_LEN);
        if incarnation == 0 {
            return Err(WireError::ZeroIncarnation);
        }
        Ok(Hello {
            incarnation,
            ..fields
        })
    }
}

/// The acceptor's verdict on a [`Hello`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum AckStatus {
    /// The connection is accepted; frames may follow.
    Accepted = 0,
    /// The dialer speaks another protocol version.
    VersionMismatch = 1,
    /// The dialer belongs to another cluster.
    ClusterMismatch = 2,
    /// The dialer's node id is not in the acceptor's peer map (or is the
    /// acceptor's own id).
    UnknownPeer = 3,
    /// The dialer wanted another node than the acceptor.
    WrongNode = 4,
    /// The dialer presents another data-directory incarnation than the one
    /// the acceptor expects for its id: it lost what it promised and must
    /// not take part.
    ReplacedNode = 5,
}

impl AckStatus {
    fn from_byte(b: u8) -> Result<Self, WireError> {
        Ok(match b {
            0 => AckStatus::Accepted,
            1 => AckStatus::VersionMismatch,
            2 => AckStatus::ClusterMismatch,
            3 => AckStatus::UnknownPeer,
            4 => AckStatus::WrongNode,
            5 => AckStatus::ReplacedNode,
            other => return Err(WireError::UnknownStatus(other)),
        })
    }
}

impl std::fmt::Display for AckStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AckStatus::Accepted => "accepted",
            AckStatus::VersionMismatch => "protocol version mismatch",
            AckStatus::ClusterMismatch => "cluster id mismatch",
            AckStatus::UnknownPeer => "sender is not a peer",
            AckStatus::WrongNode => "addressed to another node id",
            AckStatus::ReplacedNode => {
                "the sender's node id was known with another data directory (lost or replaced disk?)"
            }
        })
    }
}

/// The acceptor's answer to a [`Hello`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    /// Protocol version the acceptor speaks.
    pub version: u16,
    /// The verdict.
    pub status: AckStatus,
    /// The acceptor's data-directory incarnation.
    pub incarnation: u64,
}

impl Ack {
    /// Encodes in the version-1 layout: magic, version 1, status, reserved.
    pub fn encode_v1(&self) -> [u8; V1_ACK_LEN] {
        let mut b = [0u8; V1_ACK_LEN];
        b.copy_from_slice(&self.encode()[..V1_ACK_LEN]);
        b[4..6].copy_from_slice(&V1.to_le_bytes());
        b
    }

    /// Decodes a version-1 ack (the first [`V1_ACK_LEN`] bytes); its
    /// `incarnation` is 0.
    pub fn decode_v1(b: &[u8]) -> Result<Ack, WireError> {
        let b = fixed::<V1_ACK_LEN>(b)?;
        expect_magic(b, ACK_MAGIC)?;
        if b[7] != 0 {
            return Err(WireError::Reserved(u16::from(b[7])));
        }
        Ok(Ack {
            version: u16::from_le_bytes([b[4], b[5]]),
            status: AckStatus::from_byte(b[6])?,
            incarnation: 0,
        })
    }

    /// Encodes as magic, version (u16 LE), status (u8), reserved (u8, 0),
    /// incarnation (u64 LE).
    pub fn encode(&self) -> [u8; ACK_LEN] {
        let mut b = [0u8; ACK_LEN];
        b[0..4].copy_from_slice(&ACK_MAGIC);
        b[4..6].copy_from_slice(&self.version.to_le_bytes());
        b[6] = self.status as u8;
        b[8..16].copy_from_slice(&self.incarnation.to_le_bytes());
        b
    }

    /// Decodes the first [`ACK_LEN`] bytes: the version-1 fields, then the
    /// incarnation.
    pub fn decode(b: &[u8]) -> Result<Ack, WireError> {
        let b = fixed::<ACK_LEN>(b)?;
        let incarnation = u64_at(b, V1_ACK_LEN);
        let ack = Ack::decode_v1(b)?;
        if incarnation == 0 {
            return Err(WireError::ZeroIncarnation);
        }
        Ok(Ack { incarnation, ..ack })
    }
}

/// What the acceptor decides about a [`Hello`], given who it is.
pub fn judge_hello(
    hello: &Hello,
    cluster_id: u64,
    me: NodeId,
    is_peer: impl Fn(NodeId) -> bool,
) -> AckStatus {
    if hello.version != PROTOCOL_VERSION && hello.version != V1 {
        AckStatus::VersionMismatch
    } else if hello.cluster_id != cluster_id {
        AckStatus::ClusterMismatch
    } else if hello.to != me {
        AckStatus::WrongNode
    } else if hello.from == me || !is_peer(hello.from) {
        AckStatus::UnknownPeer
    } else {
        AckStatus::Accepted
    }
}

/// The body of a frame (postcard: a varint variant tag, then the fields).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerFrame<C, R> {
    /// Raft messages, in the order the core produced them (tag 0).
    Raft(Vec<Message<C>>),
    /// A forwarding RPC: a request to the leader or its reply (tag 1).
    Rpc(R),
}

/// Encodes `frame` with its length prefix.
pub fn encode_frame<T: Serialize>(frame: &T, max: u32) -> Result<Vec<u8>, WireError> {
    let mut out = vec![0u8; LEN_PREFIX];
    let mut out = postcard::to_extend(frame, std::mem::take(&mut out))?;
    let len = out.len() - LEN_PREFIX;
    check_frame_len(len as u64, max)?;
    out[0..LEN_PREFIX].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(out)
}

/// Checks an announced body length against the limit.
pub fn check_frame_len(len: u64, max: u32) -> Result<usize, WireError> {
    if len == 0 {
        return Err(WireError::EmptyFrame);
    }
    if len > u64::from(max) {
        return Err(WireError::FrameTooLarge { len, max });
    }
    Ok(len as usize)
}

/// Decodes a frame body; every byte must be used.
pub fn decode_frame_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    let (frame, rest) = postcard::take_from_bytes(body)?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes(rest.len()));
    }
    Ok(frame)
}

/// Splits the next frame off `buf`: `Ok(None)` if `buf` does not yet hold a
/// whole frame, else the decoded frame and the bytes it used. The same checks
/// as the async reader, in the same order (length limit before the body).
pub fn split_frame<T: DeserializeOwned>(
    buf: &[u8],
    max: u32,
) -> Result<Option<(T, usize)>, WireError> {
    if buf.len() < LEN_PREFIX {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let len = check_frame_len(u64::from(len), max)?;
    let Some(body) = buf.get(LEN_PREFIX..LEN_PREFIX + len) else {
        return Ok(None);
    };
    Ok(Some((decode_frame_body(body)?, LEN_PREFIX + len)))
}

/// Fuzz entry point (`fuzz/fuzz_targets/peer_frame.rs`, replayed by
/// `tests/fuzz_corpus_peer.rs`): `data` as a handshake and as a stream of
/// frames of snowflk's real frame type. Any input may be refused; none may
/// panic, and whatever decodes must re-encode to something that decodes to
/// the same value.
pub fn fuzz_peer_frame(data: &[u8]) {
    type Frame = PeerFrame<super::machine::Command, super::forward::Rpc>;
    if let Ok(h) = Hello::decode(data) {
        assert_eq!(Hello::decode(&h.encode()), Ok(h), "hello round trip");
        let _ = judge_hello(&h, 1, 2, |id| id < 4);
    }
    let _ = announced_version(data, HELLO_MAGIC);
    let _ = announced_version(data, ACK_MAGIC);
    if let Ok(h) = Hello::decode_v1(data) {
        assert_eq!(
            Hello::decode_v1(&Hello { version: V1, ..h }.encode_v1()),
            Ok(Hello { version: V1, ..h }),
            "v1 hello round trip"
        );
        let _ = judge_hello(&h, 1, 2, |id| id < 4);
    }
    if let Ok(a) = Ack::decode_v1(data) {
        let v1 = Ack { version: V1, ..a };
        assert_eq!(Ack::decode_v1(&v1.encode_v1()), Ok(v1), "v1 ack round trip");
    }
    if let Ok(a) = Ack::decode(data) {
        assert_eq!(Ack::decode(&a.encode()), Ok(a), "ack round trip");
    }
    // A small limit, so the fuzzer also reaches the too-large path.
    const MAX: u32 = 1 << 16;
    for start in [0, HELLO_LEN.min(data.len())] {
        let mut rest = &data[start..];
        while let Ok(Some((frame, used))) = split_frame::<Frame>(rest, MAX) {
            let bytes = encode_frame(&frame, u32::MAX).expect("re-encode a decoded frame");
            let again = split_frame::<Frame>(&bytes, u32::MAX).expect("re-decode");
            assert_eq!(again, Some((frame, bytes.len())), "frame round trip");
            rest = &rest[used..];
        }
    }
}

fn fixed<const N: usize>(b: &[u8]) -> Result<&[u8; N], WireError> {
    b.get(..N)
        .and_then(|s| s.try_into().ok())
        .ok_or(WireError::Truncated {
            needed: N,
            got: b.len(),
        })
}

/// `BadMagic` unless `b` (at least 4 bytes) starts with `magic`.
fn expect_magic(b: &[u8], magic: [u8; 4]) -> Result<(), WireError> {
    let got = [b[0], b[1], b[2], b[3]];
    if got == magic {
        Ok(())
    } else {
        Err(WireError::BadMagic(got))
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftlog::MessageBody;

    type Frame = PeerFrame<Vec<u8>, u32>;

    #[test]
    fn hello_round_trips_and_has_the_documented_layout() {
        let h = Hello {
            version: PROTOCOL_VERSION,
            cluster_id: 0x0102_0304_0506_0708,
            from: 2,
            to: 3,
            incarnation: 0x1112_1314_1516_1718,
        };
        let b = h.encode();
        assert_eq!(&b[..8], b"SFKP\x02\x00\x00\x00");
        assert_eq!(&b[8..16], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(b[16], 2);
        assert_eq!(b[24], 3);
        assert_eq!(
            &b[32..40],
            &[0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11]
        );
        assert_eq!(announced_version(&b, HELLO_MAGIC), Ok(2));
        assert_eq!(Hello::decode(&b), Ok(h));
        let mut bad = b;
        bad[0] = b'X';
        assert!(matches!(Hello::decode(&bad), Err(WireError::BadMagic(_))));
        assert!(matches!(
            Hello::decode(&b[..39]),
            Err(WireError::Truncated { needed: 40, .. })
        ));
        // No data directory has incarnation 0: a hello naming it would
        // otherwise be recorded and refuse the real node (hostile17).
        let zero = Hello {
            incarnation: 0,
            ..h
        }
        .encode();
        assert_eq!(Hello::decode(&zero), Err(WireError::ZeroIncarnation));
    }

    #[test]
    fn ack_round_trips() {
        for status in [
            AckStatus::Accepted,
            AckStatus::VersionMismatch,
            AckStatus::ClusterMismatch,
            AckStatus::UnknownPeer,
            AckStatus::WrongNode,
            AckStatus::ReplacedNode,
        ] {
            let a = Ack {
                version: PROTOCOL_VERSION,
                status,
                incarnation: 0x0102_0304_0506_0708,
            };
            let b = a.encode();
            assert_eq!(&b[8..16], &[8, 7, 6, 5, 4, 3, 2, 1]);
            assert_eq!(Ack::decode(&b), Ok(a));
        }
        assert_eq!(
            Ack::decode(b"SFKA\x02\x00\x09\x00\x01\x00\x00\x00\x00\x00\x00\x00"),
            Err(WireError::UnknownStatus(9))
        );
        let zero = Ack {
            version: PROTOCOL_VERSION,
            status: AckStatus::Accepted,
            incarnation: 0,
        };
        assert_eq!(Ack::decode(&zero.encode()), Err(WireError::ZeroIncarnation));
        // A version-1 acceptor's refusal is 8 bytes; its version is readable.
        assert_eq!(announced_version(b"SFKA\x01\x00\x01\x00", ACK_MAGIC), Ok(1));
        assert!(matches!(
            announced_version(b"SFKX\x01\x00\x01\x00", ACK_MAGIC),
            Err(WireError::BadMagic(_))
        ));
    }

    /// The version-1 layouts are the version-2 ones cut short (docs/format.md).
    #[test]
    fn version_1_hellos_and_acks_round_trip() {
        let h = Hello {
            version: V1,
            cluster_id: 7,
            from: 2,
            to: 3,
            incarnation: 0,
        };
        let b = h.encode_v1();
        assert_eq!(&b[..8], b"SFKP\x01\x00\x00\x00");
        assert_eq!(Hello::decode_v1(&b), Ok(h));
        assert_eq!(judge_hello(&h, 7, 3, |id| id == 2), AckStatus::Accepted);
        let a = Ack {
            version: V1,
            status: AckStatus::VersionMismatch,
            incarnation: 0,
        };
        assert_eq!(a.encode_v1(), *b"SFKA\x01\x00\x01\x00");
        assert_eq!(Ack::decode_v1(&a.encode_v1()), Ok(a));
    }

    #[test]
    fn judge_refuses_every_mismatch() {
        let ok = Hello {
            version: PROTOCOL_VERSION,
            cluster_id: 7,
            from: 2,
            to: 1,
            incarnation: 9,
        };
        let peer = |id| id == 2 || id == 3;
        assert_eq!(judge_hello(&ok, 7, 1, peer), AckStatus::Accepted);
        let v = Hello { version: 9, ..ok };
        assert_eq!(judge_hello(&v, 7, 1, peer), AckStatus::VersionMismatch);
        assert_eq!(judge_hello(&ok, 8, 1, peer), AckStatus::ClusterMismatch);
        let to = Hello { to: 3, ..ok };
        assert_eq!(judge_hello(&to, 7, 1, peer), AckStatus::WrongNode);
        let stranger = Hello { from: 9, ..ok };
        assert_eq!(judge_hello(&stranger, 7, 1, peer), AckStatus::UnknownPeer);
        let me = Hello { from: 1, ..ok };
        assert_eq!(judge_hello(&me, 7, 1, |_| true), AckStatus::UnknownPeer);
    }

    #[test]
    fn frames_split_at_every_byte() {
        let frame: Frame = PeerFrame::Raft(vec![Message {
            from: 1,
            to: 2,
            term: 3,
            body: MessageBody::Heartbeat {
                commit: 4,
                read_seq: 5,
            },
        }]);
        let mut stream = encode_frame(&frame, DEFAULT_MAX_FRAME).unwrap();
        stream.extend(encode_frame(&Frame::Rpc(77), DEFAULT_MAX_FRAME).unwrap());
        let first_len = stream.len() - 6;
        for cut in 0..stream.len() {
            let got = split_frame::<Frame>(&stream[..cut], DEFAULT_MAX_FRAME).unwrap();
            if cut < first_len {
                assert!(got.is_none(), "cut {cut}");
            } else {
                assert_eq!(got, Some((frame.clone(), first_len)));
            }
        }
        let (second, used) = split_frame::<Frame>(&stream[first_len..], DEFAULT_MAX_FRAME)
            .unwrap()
            .unwrap();
        assert_eq!((second, used), (Frame::Rpc(77), 6));
    }

    #[test]
    fn the_documented_heartbeat_example_is_exact() {
        let frame: Frame = PeerFrame::Raft(vec![Message {
            from: 1,
            to: 2,
            term: 3,
            body: MessageBody::Heartbeat {
                commit: 4,
                read_seq: 5,
            },
        }]);
        assert_eq!(
            encode_frame(&frame, DEFAULT_MAX_FRAME).unwrap(),
            [8, 0, 0, 0, 0, 1, 1, 2, 3, 6, 4, 5]
        );
    }

    #[test]
    fn a_huge_length_is_refused_before_the_body() {
        let b = u32::MAX.to_le_bytes();
        assert_eq!(
            split_frame::<Frame>(&b, DEFAULT_MAX_FRAME),
            Err(WireError::FrameTooLarge {
                len: u64::from(u32::MAX),
                max: DEFAULT_MAX_FRAME
            })
        );
        assert_eq!(
            split_frame::<Frame>(&[0, 0, 0, 0], DEFAULT_MAX_FRAME),
            Err(WireError::EmptyFrame)
        );
        assert!(encode_frame(&Frame::Raft(Vec::new()), 1).is_err());
    }

    #[test]
    fn garbage_and_trailing_bytes_are_refused() {
        // Tag 9 does not exist.
        assert!(matches!(
            split_frame::<Frame>(&[1, 0, 0, 0, 9], DEFAULT_MAX_FRAME),
            Err(WireError::Decode(_))
        ));
        // Rpc(5) followed by a stray byte inside the same frame.
        assert_eq!(
            split_frame::<Frame>(&[3, 0, 0, 0, 1, 5, 0], DEFAULT_MAX_FRAME),
            Err(WireError::TrailingBytes(1))
        );
    }
}
