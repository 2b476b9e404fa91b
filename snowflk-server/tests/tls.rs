//! TLS on the client port: the `redis` crate over `rediss://` against
//! `--tls-listen`, with client certificates required, optional or not asked
//! for; a client with a certificate from another CA, or none when one is
//! required, is refused at the handshake and the node keeps serving.
//! Certificates are generated here (rcgen); no key is committed.

mod common;

use std::path::Path;

use common::Node;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use redis::{Commands, TlsCertificates};

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    client_cert: String,
    client_key: String,
}

fn ca() -> (Issuer<'static, KeyPair>, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    (Issuer::new(params, key), cert.pem())
}

fn leaf(issuer: &Issuer<'static, KeyPair>, names: &[&str]) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn pki() -> Pki {
    let (issuer, ca_pem) = ca();
    let (cert_pem, key_pem) = leaf(&issuer, &["127.0.0.1", "localhost"]);
    let (client_cert, client_key) = leaf(&issuer, &["client"]);
    Pki {
        ca_pem,
        cert_pem,
        key_pem,
        client_cert,
        client_key,
    }
}

fn start(work: &Path, name: &str, pki: &Pki, auth_clients: &str) -> (Node, std::net::SocketAddr) {
    let write = |file: &str, text: &str| {
        let p = work.join(format!("{name}-{file}"));
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let cert = write("cert.pem", &pki.cert_pem);
    let key = write("key.pem", &pki.key_pem);
    let ca = write("ca.pem", &pki.ca_pem);
    let port_file = work.join(format!("{name}.tls")).display().to_string();
    let node = Node::start_none(
        work,
        name,
        &[
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            auth_clients,
            "--tls-port-file",
            &port_file,
        ],
    );
    let addr = common::poll("the TLS port file", || {
        std::fs::read_to_string(&port_file)
            .ok()?
            .trim()
            .parse()
            .ok()
    });
    (node, addr)
}

fn tls_client(
    addr: std::net::SocketAddr,
    root: &str,
    client: Option<(&str, &str)>,
) -> redis::RedisResult<redis::Connection> {
    let certs = TlsCertificates {
        client_tls: client.map(|(cert, key)| redis::ClientTlsConfig {
            client_cert: cert.as_bytes().to_vec(),
            client_key: key.as_bytes().to_vec(),
        }),
        root_cert: Some(root.as_bytes().to_vec()),
    };
    let client = redis::Client::build_with_tls(format!("rediss://{addr}/"), certs)?;
    let mut c = client.get_connection_with_timeout(std::time::Duration::from_secs(10))?;
    // The handshake may only fail at the first exchange (TLS 1.3 sends the
    // server's verdict on the client certificate after it finished).
    redis::cmd("PING").query::<String>(&mut c)?;
    Ok(c)
}

#[test]
fn redis_crate_over_tls_with_client_certificates() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = tempfile::tempdir().unwrap();
    let pki = pki();
    let (node, addr) = start(work.path(), "n", &pki, "yes");

    let mut c = tls_client(addr, &pki.ca_pem, Some((&pki.client_cert, &pki.client_key))).unwrap();
    let _: () = c.set("k", "over tls").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "over tls");

    // No client certificate while one is required: refused.
    assert!(tls_client(addr, &pki.ca_pem, None).is_err());
    // A client certificate from another CA: refused, and logged.
    let other = self::pki();
    assert!(
        tls_client(
            addr,
            &pki.ca_pem,
            Some((&other.client_cert, &other.client_key))
        )
        .is_err()
    );
    // A client that does not trust the server's CA gives up itself.
    assert!(
        tls_client(
            addr,
            &other.ca_pem,
            Some((&pki.client_cert, &pki.client_key))
        )
        .is_err()
    );

    // The node still serves, over TLS and over plain TCP side by side.
    assert_eq!(c.get::<_, String>("k").unwrap(), "over tls");
    let mut plain = node.client();
    assert_eq!(plain.get::<_, String>("k").unwrap(), "over tls");
    assert!(node.stderr().contains("TLS handshake refused"));
}

#[test]
fn optional_and_no_client_certificates() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = tempfile::tempdir().unwrap();
    let pki = pki();
    let (_optional, addr) = start(work.path(), "opt", &pki, "optional");
    let mut c = tls_client(addr, &pki.ca_pem, None).unwrap();
    let _: () = c.set("a", "1").unwrap();
    let other = self::pki();
    assert!(
        tls_client(
            addr,
            &pki.ca_pem,
            Some((&other.client_cert, &other.client_key))
        )
        .is_err()
    );

    let (_no, addr) = start(work.path(), "no", &pki, "no");
    let mut c = tls_client(addr, &pki.ca_pem, None).unwrap();
    let _: () = c.set("b", "2").unwrap();
}

#[test]
fn bad_tls_files_are_a_one_line_error() {
    let work = tempfile::tempdir().unwrap();
    let missing = work.path().join("missing.pem").display().to_string();
    let (status, err) = common::run_to_exit(
        work.path(),
        &[
            "--replication",
            "none",
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert-file",
            &missing,
            "--tls-key-file",
            &missing,
        ],
    );
    assert!(!status.success());
    assert!(err.contains("cannot load the certificate chain"), "{err}");
    let (status, err) = common::run_to_exit(
        work.path(),
        &["--replication", "none", "--tls-listen", "127.0.0.1:0"],
    );
    assert!(!status.success());
    assert!(err.contains("needs --tls-cert-file"), "{err}");
}

#[test]
fn certificates_are_reloaded_on_sighup() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = tempfile::tempdir().unwrap();
    let first = pki();
    let (node, addr) = start(work.path(), "r", &first, "no");
    let mut c = tls_client(addr, &first.ca_pem, None).unwrap();
    let _: () = c.set("k", "1").unwrap();

    // New certificate and key from another CA, then SIGHUP.
    let second = pki();
    std::fs::write(work.path().join("r-cert.pem"), &second.cert_pem).unwrap();
    std::fs::write(work.path().join("r-key.pem"), &second.key_pem).unwrap();
    node.signal("HUP");
    let mut fresh = common::poll("a session with the reloaded certificate", || {
        tls_client(addr, &second.ca_pem, None).ok()
    });
    assert_eq!(fresh.get::<_, String>("k").unwrap(), "1");
    // New sessions no longer get the old certificate; the open one lives on.
    assert!(tls_client(addr, &first.ca_pem, None).is_err());
    assert_eq!(c.get::<_, String>("k").unwrap(), "1");
    assert!(node.stderr().contains("TLS certificates reloaded"));

    // A broken key is refused and the node keeps the working certificate.
    std::fs::write(work.path().join("r-key.pem"), "not a key").unwrap();
    node.signal("HUP");
    common::poll("the failed reload to be logged", || {
        node.stderr().contains("reload failed").then_some(())
    });
    assert!(tls_client(addr, &second.ca_pem, None).is_ok());

    // Without a signal: changed files are picked up by the watcher.
    let third = pki();
    std::fs::write(work.path().join("r-cert.pem"), &third.cert_pem).unwrap();
    std::fs::write(work.path().join("r-key.pem"), &third.key_pem).unwrap();
    common::poll("the watcher to load the third certificate", || {
        tls_client(addr, &third.ca_pem, None).ok()
    });
}
