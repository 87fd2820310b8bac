//! HTTPS for the hub: its certificate, and a listener that hands axum TLS connections.
//!
//! A venue network has no public name for the hub and rarely a PKI of its own, so
//! `expo-hub cert` makes one: a certificate authority that exists only to sign the
//! hub's certificate (its private key is thrown away at once), and the hub's key and
//! certificate. Stations trust that authority alone for this hub (`expo-kiosk sync
//! enrol --hub-ca hub-ca.pem`); making new files and handing out the new `hub-ca.pem`
//! replaces it. A hub with a certificate from the organiser's own authority serves it
//! the same way.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Longest a client may take over its TLS handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const READY_CONNECTIONS: usize = 64;
/// Connections between TCP accept and the server taking them (handshaking, or waiting
/// while the server is at its connection cap); more wait in the kernel's backlog. Without
/// a bound, a flood of silent connections would each hold a task and a socket for
/// `HANDSHAKE_TIMEOUT`.
const HANDSHAKES_IN_PROGRESS: usize = 256;
/// How long `expo-hub cert` makes the certificates valid: a few years of shows.
const VALIDITY_DAYS: i64 = 3 * 365;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {reason}")]
    File { path: String, reason: String },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: String },
    // The cause is the error's source, which callers print after the message.
    #[error("the hub's key and certificate do not fit together")]
    Config(#[from] tokio_rustls::rustls::Error),
    #[error("making the certificates")]
    Generate(#[from] rcgen::Error),
    #[error("{0:?} is neither a host name nor an IP address")]
    BadName(String),
}

/// The hub's TLS settings from its certificate chain and private key (PEM files).
pub fn server_config(
    certificate: &Path,
    key: &Path,
) -> Result<Arc<tokio_rustls::rustls::ServerConfig>, TlsError> {
    let file_error =
        |path: &Path, reason: String| TlsError::File { path: path.display().to_string(), reason };
    let chain = CertificateDer::pem_file_iter(certificate)
        .map_err(|e| file_error(certificate, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(certificate, e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: certificate.display().to_string() });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e.to_string()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// Accepts TCP connections and completes their TLS handshakes, each in a task of its
/// own: a client that stalls mid-handshake holds up nobody else, and is dropped after
/// `HANDSHAKE_TIMEOUT`. A failed handshake (a plain-HTTP client, an untrusting station)
/// is logged and its connection dropped. At most `HANDSHAKES_IN_PROGRESS` at once.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    acceptor_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `listener`; call it inside the Tokio runtime that will serve.
    pub fn new(
        listener: TcpListener,
        config: Arc<tokio_rustls::rustls::ServerConfig>,
    ) -> std::io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (sender, ready) = mpsc::channel(READY_CONNECTIONS);
        let in_progress = Arc::new(Semaphore::new(HANDSHAKES_IN_PROGRESS));
        let acceptor_task = tokio::spawn(async move {
            // The semaphore is never closed, so this ends only with the task.
            while let Ok(permit) = Arc::clone(&in_progress).acquire_owned().await {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (acceptor, sender) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            // Fails only when the server stopped; the connection goes with it.
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(error)) => tracing::info!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                    }
                    drop(permit);
                });
            }
        });
        Ok(Self { ready, local_addr, acceptor_task })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The acceptor task owns a sender until it ends, and it only ends when this
            // listener is dropped: no connection comes any more, so wait for shutdown.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// What `expo-hub cert` writes, in PEM.
pub struct HubCertificates {
    /// The authority stations trust (`hub-ca.pem`); not secret.
    pub authority: String,
    /// The hub's certificate (`hub-cert.pem`).
    pub certificate: String,
    /// The hub's private key (`hub-key.pem`): readable by the hub's owner only.
    pub key: String,
}

/// A new authority and a hub certificate it signs for `names` (DNS names or IP
/// addresses the stations use in the hub URL). The authority's key is not kept.
pub fn make_certificates(names: &[String]) -> Result<HubCertificates, TlsError> {
    let host_name = |name: &str| {
        !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    if let Some(bad) =
        names.iter().find(|name| name.parse::<std::net::IpAddr>().is_err() && !host_name(name))
    {
        return Err(TlsError::BadName(bad.clone()));
    }
    let now = time::OffsetDateTime::now_utc();
    let until = now + time::Duration::days(VALIDITY_DAYS);

    let mut authority = rcgen::CertificateParams::new(Vec::<String>::new())?;
    authority.distinguished_name.push(rcgen::DnType::CommonName, "expo-hub certificate authority");
    authority.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    authority.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    (authority.not_before, authority.not_after) = (now, until);
    let authority_key = rcgen::KeyPair::generate()?;
    let authority_certificate = authority.self_signed(&authority_key)?;
    let issuer = rcgen::Issuer::new(authority, authority_key);

    let mut hub = rcgen::CertificateParams::new(names.to_vec())?;
    hub.distinguished_name.push(rcgen::DnType::CommonName, "expo-hub");
    hub.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    (hub.not_before, hub.not_after) = (now, until);
    let hub_key = rcgen::KeyPair::generate()?;
    let hub_certificate = hub.signed_by(&hub_key, &issuer)?;
    Ok(HubCertificates {
        authority: authority_certificate.pem(),
        certificate: hub_certificate.pem(),
        key: hub_key.serialize_pem(),
    })
}

impl HubCertificates {
    /// File names in the directory `expo-hub cert --out` writes.
    pub const AUTHORITY_FILE: &'static str = "hub-ca.pem";
    pub const CERTIFICATE_FILE: &'static str = "hub-cert.pem";
    pub const KEY_FILE: &'static str = "hub-key.pem";

    /// Writes the three files into `dir`, the key readable by its owner only. Refuses to
    /// replace existing files: stations may trust the authority there.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        use std::io::Write;
        std::fs::create_dir_all(dir)?;
        for (name, text, private) in [
            (Self::KEY_FILE, &self.key, true),
            (Self::CERTIFICATE_FILE, &self.certificate, false),
            (Self::AUTHORITY_FILE, &self.authority, false),
        ] {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(if private { 0o600 } else { 0o644 });
            }
            let path = dir.join(name);
            let mut file = options
                .open(&path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
        }
        Ok(())
    }
}
