//! Mutual TLS on the peer port: a 3-node cluster whose nodes hold
//! certificates from one cluster CA elects, replicates and serves; a
//! connection to the peer port with a certificate from another CA, or with
//! none, is refused at the TLS handshake and logged, and the cluster keeps
//! working; peer certificates reload from disk without a restart (a node
//! started with a foreign CA's certificate joins once its files are
//! replaced, and a broken file keeps the old certificates). Certificates are
//! generated here (rcgen).

mod cluster_util;
mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cluster_util::{Cluster, connect, replication_info, retry};
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
        incarnation: 1,
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
    // Written aside and renamed, so a watcher never reads half a file.
    let tmp = work.join(format!("{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &p).unwrap();
    p.display().to_string()
}

/// Writes node `id`'s peer certificate, key and CA files (`n{id}-peer.pem`,
/// `n{id}-peer.key`, `n{id}-ca.pem`).
fn write_node_files(work: &Path, id: u64, cert: &str, key: &str, ca: &str) {
    write_pem(work, &format!("n{id}-peer.pem"), cert);
    write_pem(work, &format!("n{id}-peer.key"), key);
    write_pem(work, &format!("n{id}-ca.pem"), ca);
}

/// The flags that point every node at its own files ([`write_node_files`]).
fn per_node_flags(work: &Path) -> Vec<String> {
    let f = |name: &str| work.join(name).display().to_string();
    vec![
        "--peer-cert-file".into(),
        f("n{id}-peer.pem"),
        "--peer-key-file".into(),
        f("n{id}-peer.key"),
        "--peer-trusted-ca-file".into(),
        f("n{id}-ca.pem"),
    ]
}

/// Waits until nodes `ids` agree on a leader among them that says it
/// leads; returns its id.
fn wait_leader_among(cluster: &Cluster, ids: &[u64]) -> u64 {
    common::poll("a leader among the reachable nodes", || {
        let mut leader = None;
        for &id in ids {
            let l: u64 = replication_info(cluster.node(id))?
                .get("raft_leader")?
                .parse()
                .ok()?;
            if leader.is_some_and(|x| x != l) {
                return None;
            }
            leader = Some(l);
        }
        let l = leader.filter(|l| ids.contains(l))?;
        let info = replication_info(cluster.node(l))?;
        (info.get("raft_role")?.as_str() == "leader").then_some(l)
    })
}

#[test]
fn peer_certificates_reload_without_a_restart() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let cluster_ca = ca();
    let foreign_ca = ca();
    let leaves: Vec<(String, String)> = (0..3).map(|_| leaf(&cluster_ca)).collect();
    for id in 1..=2u64 {
        let (cert, key) = &leaves[(id - 1) as usize];
        write_node_files(dir, id, cert, key, &cluster_ca.pem);
    }
    // Node 3 starts with a certificate (and trust) from another CA.
    let (foreign_cert, foreign_key) = leaf(&foreign_ca);
    write_node_files(dir, 3, &foreign_cert, &foreign_key, &foreign_ca.pem);
    let flags = per_node_flags(dir);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let cluster = Cluster::start(dir, 3, &flags);

    let leader = wait_leader_among(&cluster, &[1, 2]);
    let mut c = connect(cluster.node(leader), Duration::from_secs(10)).unwrap();
    retry("a write without node 3", || c.set::<_, _, ()>("k", "v"));
    // Node 3 is refused at the TLS handshake both ways and knows no leader.
    common::poll("the leader to refuse node 3", || {
        let log = cluster.node(leader).stderr();
        log.lines()
            .any(|l| l.contains("refused peer connection") && l.contains("TLS handshake"))
            .then_some(())
    });
    let info = replication_info(cluster.node(3)).expect("node 3 answers INFO");
    assert_eq!(info.get("raft_leader").map(String::as_str), Some("none"));

    // A broken file on the leader, then SIGHUP: the reload fails with one
    // error line per attempt and the old certificates stay in use.
    let leader_key = format!("n{leader}-peer.key");
    write_pem(
        dir,
        &leader_key,
        "-----BEGIN PRIVATE KEY-----
broken
",
    );
    cluster.node(leader).signal("HUP");
    common::poll("the failed reload to be logged", || {
        let log = cluster.node(leader).stderr();
        log.lines()
            .any(|l| {
                l.contains("TLS certificate reload failed; keeping the old ones")
                    && l.contains("peer")
                    && l.contains(&leader_key)
            })
            .then_some(())
    });
    let port = cluster.peer_ports[(leader - 1) as usize];
    let (cert, key) = &leaves[(leader - 1) as usize];
    assert!(
        stranger_gets_through(port, &cluster_ca.pem, Some((cert, key))),
        "the leader lost its old certificates: {}",
        cluster.logs()
    );
    retry("a write after the failed reload", || {
        c.set::<_, _, ()>("k2", "v2")
    });
    write_pem(dir, &leader_key, key);

    // Node 3's files are replaced by valid ones; no SIGHUP, no restart: the
    // file watcher reloads them, and both sides of its links use them.
    let (cert3, key3) = &leaves[2];
    write_node_files(dir, 3, cert3, key3, &cluster_ca.pem);
    common::poll("node 3 to reload its peer certificates", || {
        cluster
            .node(3)
            .stderr()
            .contains("TLS certificates reloaded")
            .then_some(())
    });
    let commit = cluster.commit_index(leader);
    cluster.wait_applied(3, commit);
    retry("a write with node 3", || c.set::<_, _, ()>("k3", "v3"));
    cluster.wait_applied(3, cluster.commit_index(leader));
    let mut r = connect(cluster.node(3), Duration::from_secs(10)).unwrap();
    for (k, v) in [("k", "v"), ("k2", "v2"), ("k3", "v3")] {
        assert_eq!(
            retry("a read on node 3", || r.get::<_, String>(k)),
            v,
            "{k} on node 3"
        );
    }
    let info = replication_info(cluster.node(3)).expect("node 3 answers INFO");
    assert_eq!(
        info.get("raft_leader").map(String::as_str),
        Some(leader.to_string().as_str()),
        "{info:?}"
    );
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
