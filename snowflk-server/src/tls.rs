//! TLS on the client port, as Redis: `--tls-listen` (or `--tls-port`), a
//! certificate chain and key in PEM files, and optionally a CA whose
//! certificates clients must (`--tls-auth-clients yes`, the default when a
//! CA is given), may (`optional`) or need not (`no`) present. rustls with the
//! `ring` provider; TLS 1.2 and 1.3.
//!
//! Also mutual TLS on the peer port ([`PeerTls`]), and the one reload
//! mechanism both use ([`spawn_reloader`]): certificates are read again on
//! SIGHUP and when their files change, without a restart; a reload that
//! fails keeps the old ones.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use serde::Deserialize;
use tokio::sync::watch;

/// Whether TLS clients must present a certificate signed by the CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuth {
    /// A client certificate is required.
    Yes,
    /// A client certificate is checked if presented.
    Optional,
    /// Client certificates are not asked for.
    No,
}

/// The TLS settings of the client port.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// Where to listen for TLS clients.
    pub listen: String,
    /// The server's certificate chain (PEM).
    pub cert_file: PathBuf,
    /// The server's private key (PEM).
    pub key_file: PathBuf,
    /// CA certificates that sign client certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// Client certificate policy.
    pub auth_clients: ClientAuth,
}

/// Why the TLS configuration cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file is missing, unreadable or holds nothing usable.
    #[error("cannot load {what} from {path}: {reason}")]
    Load {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the combination.
    #[error("bad TLS configuration: {0}")]
    Config(String),
}

fn load_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |reason: String| TlsError::Load {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

/// Builds the rustls server configuration from the PEM files.
pub fn server_config(t: &TlsSettings) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = load_certs("the certificate chain", &t.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&t.key_file).map_err(|e| TlsError::Load {
        what: "the private key",
        path: t.key_file.clone(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match (&t.ca_file, t.auth_clients) {
        (Some(ca), ClientAuth::Yes | ClientAuth::Optional) => {
            let mut roots = RootCertStore::empty();
            for c in load_certs("the client CA", ca)? {
                roots
                    .add(c)
                    .map_err(|e| TlsError::Config(format!("client CA {}: {e}", ca.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if t.auth_clients == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            }
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        (None, ClientAuth::Yes) => {
            return Err(TlsError::Config(
                "--tls-auth-clients yes needs --tls-ca-cert-file (or use --tls-auth-clients no)"
                    .into(),
            ));
        }
        _ => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| {
            TlsError::Config(format!(
                "the certificate {} and the key {} cannot be used together (a certificate that does not parse, or a key of another certificate): {e}",
                t.cert_file.display(),
                t.key_file.display()
            ))
        })?;
    Ok(Arc::new(config))
}

/// Mutual TLS on the peer port, as etcd: every node presents a certificate
/// signed by the cluster CA and accepts only peers that do. A node's
/// certificate must name the host part of its `--peer-listen` address (an IP
/// or DNS subject alternative name), because peers check it when they dial.
#[derive(Debug, Clone)]
pub struct PeerTlsFiles {
    /// This node's peer certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Its private key (PEM).
    pub key_file: PathBuf,
    /// The cluster CA (PEM).
    pub ca_file: PathBuf,
}

/// The rustls halves of the peer link, built from one reading of the files.
#[derive(Clone)]
struct PeerHalves {
    acceptor: tokio_rustls::TlsAcceptor,
    connector: tokio_rustls::TlsConnector,
}

/// Both sides of peer mutual TLS, reloadable: [`PeerTls::acceptor`] and
/// [`PeerTls::connector`] hand out what was loaded last, so after a reload
/// ([`PeerTls::spawn_reloader`]) new connections, accepted and dialed, use
/// the new certificates while established ones keep theirs. Clones share
/// the same current certificates.
#[derive(Clone)]
pub struct PeerTls {
    files: PeerTlsFiles,
    current: Arc<RwLock<PeerHalves>>,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl PeerTls {
    /// Accepts peers that present a certificate from the cluster CA.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        self.current.read().acceptor.clone()
    }

    /// Dials peers with this node's certificate, trusting the cluster CA.
    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        self.current.read().connector.clone()
    }

    /// The files the certificates come from.
    pub fn files(&self) -> &PeerTlsFiles {
        &self.files
    }

    /// Reloads the peer certificates on SIGHUP and when the files change,
    /// until `stop` turns true (see [`spawn_reloader`]). Must be called
    /// inside a tokio runtime.
    pub fn spawn_reloader(&self, stop: watch::Receiver<bool>) {
        let files = self.files.clone();
        let paths = vec![
            files.cert_file.clone(),
            files.key_file.clone(),
            files.ca_file.clone(),
        ];
        spawn_reloader(
            "peer",
            paths,
            move || load_peer_halves(&files),
            self.current.clone(),
            stop,
        );
    }
}

/// Builds both sides of peer mutual TLS from the PEM files.
pub fn peer_tls(files: &PeerTlsFiles) -> Result<PeerTls, TlsError> {
    Ok(PeerTls {
        files: files.clone(),
        current: Arc::new(RwLock::new(load_peer_halves(files)?)),
    })
}

/// The peer certificate and key did not make a TLS configuration.
fn peer_pair_error(files: &PeerTlsFiles, e: &rustls::Error) -> TlsError {
    TlsError::Config(format!(
        "the peer certificate {} and the key {} cannot be used together (a certificate that does not parse, or a key of another certificate): {e}",
        files.cert_file.display(),
        files.key_file.display()
    ))
}

fn load_peer_halves(files: &PeerTlsFiles) -> Result<PeerHalves, TlsError> {
    let certs = load_certs("the peer certificate chain", &files.cert_file)?;
    let key = || {
        PrivateKeyDer::from_pem_file(&files.key_file).map_err(|e| TlsError::Load {
            what: "the peer private key",
            path: files.key_file.clone(),
            reason: e.to_string(),
        })
    };
    let mut roots = RootCertStore::empty();
    for c in load_certs("the peer CA", &files.ca_file)? {
        roots
            .add(c)
            .map_err(|e| TlsError::Config(format!("peer CA {}: {e}", files.ca_file.display())))?;
    }
    let roots = Arc::new(roots);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs.clone(), key()?)
        .map_err(|e| peer_pair_error(files, &e))?;
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key()?)
        .map_err(|e| peer_pair_error(files, &e))?;
    Ok(PeerHalves {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
    })
}

// ------------------------------------------------------------------ reload

/// How often [`spawn_reloader`] looks at the files.
pub const RELOAD_POLL: Duration = Duration::from_secs(2);

/// What identifies the current contents of some files: modification time
/// and length of each (`None` for a file that cannot be read).
fn file_stamps(paths: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    paths
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

/// Keeps `current` loaded from `paths`: calls `load` again on SIGHUP and
/// when any of the files changes (modification time or length, checked
/// every [`RELOAD_POLL`]), until `stop` turns true. Success swaps the new
/// value in and logs `TLS certificates reloaded`; failure (a half-written
/// file, a key that does not match its certificate) logs one error line,
/// `TLS certificate reload failed; keeping the old ones`, and leaves
/// `current` alone. `which` (`client`, `peer`) names the certificates in
/// both lines. A change that a SIGHUP reload already read does not trigger
/// a second attempt.
///
/// The SIGHUP handler is installed before this returns, so a caller that
/// announces readiness afterwards never lets a SIGHUP meet the default
/// action (terminate). Every reloader receives every SIGHUP. Must be called
/// inside a tokio runtime.
pub fn spawn_reloader<T, F>(
    which: &'static str,
    paths: Vec<PathBuf>,
    load: F,
    current: Arc<RwLock<T>>,
    mut stop: watch::Receiver<bool>,
) where
    T: Send + Sync + 'static,
    F: Fn() -> Result<T, TlsError> + Send + 'static,
{
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(certificates = which, error = %e, "no SIGHUP handler; TLS files are still watched");
            None
        }
    };
    tokio::spawn(async move {
        let mut seen = file_stamps(&paths);
        let mut poll = tokio::time::interval(RELOAD_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let reason = tokio::select! {
                _ = stop.changed() => return,
                Some(()) = async {
                    match hangup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                } => "SIGHUP",
                _ = poll.tick() => {
                    if file_stamps(&paths) == seen {
                        continue;
                    }
                    "the files changed"
                }
            };
            // Stamped before reading: a write that lands during the load
            // changes the stamps again and is read at the next poll.
            seen = file_stamps(&paths);
            match load() {
                Ok(new) => {
                    *current.write() = new;
                    tracing::info!(certificates = which, reason, "TLS certificates reloaded");
                }
                Err(e) => tracing::error!(
                    certificates = which,
                    reason,
                    error = %e,
                    "TLS certificate reload failed; keeping the old ones"
                ),
            }
        }
    });
}
