//! The peer handshake on a connection: the dialer's side ([`dial`]) and the
//! acceptor's ([`accept`]), with the data-directory incarnation checks and
//! the fallback to protocol version 1 for peers of the previous build
//! (docs/format.md, "Peer protocol"). The bytes are [`super::wire`]'s; the
//! links that use these connections are [`super::transport`]'s.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tracing::{info, warn};

use raftlog::NodeId;

use super::identity::Verdict;
use super::transport::{BoxedStream, Known, LinkError, TransportConfig, io};
use super::wire::{
    self, ACK_LEN, ACK_MAGIC, Ack, AckStatus, HELLO_LEN, HELLO_MAGIC, Hello, PROTOCOL_VERSION,
    VERSION_PREFIX_LEN,
};

/// Dials `peer` and completes the handshake; returns the stream and the
/// incarnation the peer presented (`None`: it speaks protocol version 1,
/// which has none, and no incarnation is known for it yet).
pub(super) async fn dial(
    config: &TransportConfig,
    peer: NodeId,
    addr: &str,
) -> Result<(BoxedStream, Option<u64>), LinkError> {
    let timeout = config.io_timeout;
    let mut stream = open_stream(config, addr).await?;
    let hello = Hello {
        version: PROTOCOL_VERSION,
        cluster_id: config.cluster_id,
        from: config.id,
        to: peer,
        incarnation: config.identities.incarnation,
    };
    let mut ack = [0u8; ACK_LEN];
    let version = tokio::time::timeout(timeout, async {
        stream.write_all(&hello.encode()).await?;
        // An acceptor of another version answers with its own layout:
        // read only what every version shares before judging.
        stream.read_exact(&mut ack[..VERSION_PREFIX_LEN]).await?;
        let version = wire::announced_version(&ack, ACK_MAGIC)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if version == PROTOCOL_VERSION {
            stream.read_exact(&mut ack[VERSION_PREFIX_LEN..]).await?;
        }
        Ok::<u16, std::io::Error>(version)
    })
    .await
    .map_err(|_| LinkError::Timeout("handshake"))?
    .map_err(io("handshake"))?;
    if version == wire::V1 {
        // An older build (a rolling upgrade): speak its version on a new
        // connection, unless this id has shown an incarnation before.
        if config.identities.knows(peer) {
            return Err(LinkError::UnverifiedPeer(peer));
        }
        let mut stream = open_stream(config, addr).await?;
        let mut ack = [0u8; wire::V1_ACK_LEN];
        tokio::time::timeout(timeout, async {
            stream.write_all(&hello.encode_v1()).await?;
            stream.read_exact(&mut ack).await.map(|_| ())
        })
        .await
        .map_err(|_| LinkError::Timeout("handshake"))?
        .map_err(io("handshake"))?;
        let ack = Ack::decode_v1(&ack)?;
        if ack.status != AckStatus::Accepted {
            return Err(LinkError::Refused(ack.status));
        }
        info!(
            node = config.id,
            peer,
            "the peer speaks peer protocol version 1 (an older build): its data-directory incarnation is not checked until it is upgraded"
        );
        return Ok((stream, None));
    }
    if version != PROTOCOL_VERSION {
        return Err(LinkError::Refused(AckStatus::VersionMismatch));
    }
    let ack = Ack::decode(&ack)?;
    if ack.status != AckStatus::Accepted {
        return Err(LinkError::Refused(ack.status));
    }
    match config.identities.judge(peer, ack.incarnation)? {
        Verdict::Known => {}
        Verdict::Recorded => {
            info!(node = config.id, peer, incarnation = %format!("{:016x}", ack.incarnation), "recorded the peer's data-directory incarnation");
        }
        Verdict::Refused { known } => {
            return Err(LinkError::ReplacedPeer {
                peer,
                known,
                presented: ack.incarnation,
            });
        }
    }
    Ok((stream, Some(ack.incarnation)))
}

/// Connects to `addr` from this node's peer-listen host (and runs the TLS
/// handshake, with mutual TLS on).
async fn open_stream(config: &TransportConfig, addr: &str) -> Result<BoxedStream, LinkError> {
    let timeout = config.io_timeout;
    let target = tokio::net::lookup_host(addr)
        .await
        .map_err(io("resolve"))?
        .find(|a| match config.bind_ip {
            Some(ip) => a.is_ipv4() == ip.is_ipv4(),
            None => true,
        })
        .ok_or_else(|| LinkError::Unresolved(addr.to_string()))?;
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(io("socket"))?;
    if let Some(ip) = config.bind_ip {
        socket
            .bind(SocketAddr::new(ip, 0))
            .map_err(io("bind local address"))?;
    }
    let stream = tokio::time::timeout(timeout, socket.connect(target))
        .await
        .map_err(|_| LinkError::Timeout("connect"))?
        .map_err(io("connect"))?;
    stream.set_nodelay(true).map_err(io("set nodelay"))?;
    let stream: BoxedStream = match &config.tls {
        None => Box::new(stream),
        Some(tls) => {
            // The peer's certificate must name the host it is dialed at.
            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|_| LinkError::Unresolved(addr.to_string()))?;
            let tls_stream = tokio::time::timeout(timeout, tls.connector().connect(name, stream))
                .await
                .map_err(|_| LinkError::Timeout("TLS handshake"))?
                .map_err(io("TLS handshake"))?;
            Box::new(tls_stream)
        }
    };
    Ok(stream)
}

/// Judges a live link's peer again after the membership named new
/// incarnations: `Err` if it must be dropped. A version-1 link
/// (`incarnation` `None`) lasts while no incarnation is known for the peer.
pub(super) fn rejudge(
    config: &TransportConfig,
    peer: NodeId,
    incarnation: Option<u64>,
) -> Result<(), LinkError> {
    let Some(incarnation) = incarnation else {
        return if config.identities.knows(peer) {
            Err(LinkError::UnverifiedPeer(peer))
        } else {
            Ok(())
        };
    };
    match config.identities.judge(peer, incarnation)? {
        Verdict::Known | Verdict::Recorded => Ok(()),
        Verdict::Refused { known } => Err(LinkError::ReplacedPeer {
            peer,
            known,
            presented: incarnation,
        }),
    }
}

/// Reads and judges the handshake, answers it. On success returns the peer
/// id and a buffered reader for the frames.
pub(super) async fn accept(
    config: &TransportConfig,
    known: &Known,
    stream: TcpStream,
    addr: SocketAddr,
) -> Result<(NodeId, Option<u64>, BufReader<BoxedStream>), LinkError> {
    let _ = stream.set_nodelay(true);
    let mut stream: BoxedStream = match &config.tls {
        None => Box::new(stream),
        Some(tls) => Box::new(
            tokio::time::timeout(config.io_timeout, tls.acceptor().accept(stream))
                .await
                .map_err(|_| LinkError::Timeout("TLS handshake"))?
                .map_err(io(
                    "TLS handshake (a peer without a certificate from the cluster CA?)",
                ))?,
        ),
    };
    let mut b = [0u8; HELLO_LEN];
    let ack_with = |status| Ack {
        version: PROTOCOL_VERSION,
        status,
        incarnation: config.identities.incarnation,
    };
    tokio::time::timeout(
        config.io_timeout,
        stream.read_exact(&mut b[..VERSION_PREFIX_LEN]),
    )
    .await
    .map_err(|_| LinkError::Timeout("handshake"))?
    .map_err(io("read handshake"))?;
    let version = wire::announced_version(&b, HELLO_MAGIC)?;
    let v1 = version == wire::V1;
    if version != PROTOCOL_VERSION && !v1 {
        // A dialer of another version sends another layout: answer before
        // reading it. An older dialer reads the first 8 bytes of the ack,
        // which every version lays out alike.
        let ack = ack_with(AckStatus::VersionMismatch);
        let _ = tokio::time::timeout(config.io_timeout, stream.write_all(&ack.encode())).await;
        warn!(
            node = config.id,
            %addr,
            version,
            reason = %AckStatus::VersionMismatch,
            "refused peer connection"
        );
        return Err(LinkError::Refused(AckStatus::VersionMismatch));
    }
    // A version-1 hello (an older build, during a rolling upgrade) has no
    // incarnation and is 8 bytes shorter.
    let len = if v1 { wire::V1_HELLO_LEN } else { HELLO_LEN };
    tokio::time::timeout(
        config.io_timeout,
        stream.read_exact(&mut b[VERSION_PREFIX_LEN..len]),
    )
    .await
    .map_err(|_| LinkError::Timeout("handshake"))?
    .map_err(io("read handshake"))?;
    let hello = if v1 {
        Hello::decode_v1(&b)?
    } else {
        Hello::decode(&b)?
    };
    let mut status = wire::judge_hello(&hello, config.cluster_id, config.id, |id| {
        known.read().contains_key(&id)
    });
    if status == AckStatus::Accepted && v1 {
        if config.identities.knows(hello.from) {
            tracing::error!(
                node = config.id,
                %addr,
                peer = hello.from,
                "refused a peer that speaks peer protocol version 1, which cannot show a data-directory incarnation, although one is known for its id: upgrade that node"
            );
            status = AckStatus::VersionMismatch;
        } else {
            info!(
                node = config.id,
                peer = hello.from,
                "the peer speaks peer protocol version 1 (an older build): its data-directory incarnation is not checked until it is upgraded"
            );
        }
    } else if status == AckStatus::Accepted {
        match config.identities.judge(hello.from, hello.incarnation)? {
            Verdict::Known => {}
            Verdict::Recorded => {
                info!(node = config.id, peer = hello.from, incarnation = %format!("{:016x}", hello.incarnation), "recorded the peer's data-directory incarnation");
            }
            Verdict::Refused { known: recorded } => {
                tracing::error!(
                    node = config.id,
                    %addr,
                    peer = hello.from,
                    known = %format!("{recorded:016x}"),
                    presented = %format!("{:016x}", hello.incarnation),
                    "refused a peer that came back with another data directory: it may have forgotten votes and acknowledged entries. Remove it (SNOWFLK REMOVE-NODE {}), empty its data directory and start it with --join (docs/server.md, \"Lost disk\")",
                    hello.from
                );
                if let Some(c) = known.read().get(&hello.from) {
                    c.identity_mismatches.fetch_add(1, Ordering::Relaxed);
                }
                status = AckStatus::ReplacedNode;
            }
        }
    }
    let ack = ack_with(status);
    let bytes: &[u8] = if v1 { &ack.encode_v1() } else { &ack.encode() };
    let _ = tokio::time::timeout(config.io_timeout, stream.write_all(bytes)).await;
    if status != AckStatus::Accepted {
        warn!(
            node = config.id,
            %addr,
            from = hello.from,
            to = hello.to,
            version = hello.version,
            cluster_id = hello.cluster_id,
            reason = %status,
            "refused peer connection"
        );
        return Err(LinkError::Refused(status));
    }
    Ok((
        hello.from,
        (!v1).then_some(hello.incarnation),
        BufReader::with_capacity(256 << 10, stream),
    ))
}
