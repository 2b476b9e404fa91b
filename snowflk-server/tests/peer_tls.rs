//! Mutual TLS on the peer port: a 3-node cluster whose nodes hold
//! certificates from one cluster CA elects, replicates and serves; a
//! connection to the peer port with a certificate from another CA, or with
//! none, is refused at the TLS handshake and logged, and the cluster keeps
//! working. Certificates are generated here (rcgen).

mod cluster_util;
mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cluster_util::{Cluster, connect, retry};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use redis::Commands;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    Ca {
        issuer: Issuer::new(params, key),
        pem: cert.pem(),
    }
}

fn leaf(ca: &Ca) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Tries a TLS session to a peer port, as a stranger would, and reports
/// whether the server let it exchange bytes.
fn stranger_gets_through(port: u16, trust: &str, client: Option<(&str, &str)>) -> bool {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(trust.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // A hello from a cluster that does not exist: the node answers it with
    // a refusal, which proves the session was up.
    let hello = snowflk_server::raft::wire::Hello {
        version: snowflk_server::raft::wire::PROTOCOL_VERSION,
        cluster_id: 0,
        from: 99,
        to: 1,
    }
    .encode();
    if tls.write_all(&hello).and_then(|()| tls.flush()).is_err() {
        return false;
    }
    let mut buf = [0u8; 1];
    matches!(tls.read(&mut buf), Ok(n) if n > 0)
}

fn write_pem(work: &Path, name: &str, text: &str) -> String {
    let p = work.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn a_cluster_over_mutual_tls_refuses_strangers() {
    let work = tempfile::tempdir().unwrap();
    let cluster_ca = ca();
    let (cert, key) = leaf(&cluster_ca);
    let cert_file = write_pem(work.path(), "peer.pem", &cert);
    let key_file = write_pem(work.path(), "peer.key", &key);
    let ca_file = write_pem(work.path(), "ca.pem", &cluster_ca.pem);
    let cluster = Cluster::start(
        work.path(),
        3,
        &[
            "--peer-cert-file",
            &cert_file,
            "--peer-key-file",
            &key_file,
            "--peer-trusted-ca-file",
            &ca_file,
        ],
    );
    let leader = cluster.wait_leader();
    let mut c = connect(cluster.node(leader), Duration::from_secs(10)).unwrap();
    retry("a write over TLS peer links", || {
        c.set::<_, _, ()>("k", "v")
    });
    for id in 1..=3u64 {
        let mut r = connect(cluster.node(id), Duration::from_secs(10)).unwrap();
        assert_eq!(r.get::<_, String>("k").unwrap(), "v", "node {id}");
    }

    // Strangers at a peer port: another CA's certificate, or none.
    let port = cluster.peer_ports[(leader - 1) as usize];
    let other = ca();
    let (other_cert, other_key) = leaf(&other);
    assert!(!stranger_gets_through(
        port,
        &cluster_ca.pem,
        Some((&other_cert, &other_key))
    ));
    assert!(!stranger_gets_through(port, &cluster_ca.pem, None));
    // The probe itself works: with the cluster's certificate the session
    // comes up (the node then answers the foreign hello with a refusal).
    assert!(stranger_gets_through(
        port,
        &cluster_ca.pem,
        Some((&cert, &key))
    ));
    let log = cluster.node(leader).stderr();
    assert!(log.contains("refused peer connection"), "{log}");
    assert!(log.contains("TLS handshake"), "{log}");

    // The cluster keeps working.
    let _: () = c.set("after", "strangers").unwrap();
    let follower = (1..=3u64).find(|&id| id != leader).unwrap();
    let mut f = connect(cluster.node(follower), Duration::from_secs(10)).unwrap();
    assert_eq!(f.get::<_, String>("after").unwrap(), "strangers");
}

#[test]
fn incomplete_peer_tls_flags_are_a_one_line_error() {
    let work = tempfile::tempdir().unwrap();
    let (status, err) = common::run_to_exit(work.path(), &["--peer-cert-file", "x.pem"]);
    assert!(!status.success());
    assert!(err.contains("peer TLS needs all of"), "{err}");
}
