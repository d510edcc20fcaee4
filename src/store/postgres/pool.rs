//! Connections to the database: settings from `[store]`, TLS, and a small pool.
//!
//! The pool is a mutex-guarded list of idle clients, up to `max_connections` open at once; a
//! caller that finds none idle and the limit reached waits (at most [`CHECKOUT_TIMEOUT`]).
//! A client that broke (its connection closed) is not returned to the list. Store calls come
//! from a handful of blocking threads (group commit, one delivery worker per destination, the
//! admin API), so a bigger pool crate (r2d2 and its thread pool) would add dependencies and
//! nothing these callers use.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use postgres::config::SslMode;
use postgres::{Client, NoTls};

use crate::config::{Database, DatabaseTls};
use crate::store::StoreError;

/// How long a caller waits for a free connection before the store reports itself unavailable.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long establishing one connection (TCP, TLS, authentication) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `url` can be a `[store] url`: a `postgres://` URL naming a host, a user and a
/// database, without TLS settings of its own (those are `[store] tls_mode`). The problem
/// never quotes the URL: it may hold a password.
pub fn check_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err("must be a URL such as postgres://USER@HOST:PORT/DB".into());
    }
    let config: postgres::Config = url
        .parse()
        .map_err(|_| "is not a valid PostgreSQL URL (postgres://USER@HOST:PORT/DB)".to_owned())?;
    if config.get_hosts().is_empty() {
        return Err("names no host (postgres://USER@HOST:PORT/DB)".into());
    }
    if config.get_user().is_none() {
        return Err("names no user (postgres://USER@HOST:PORT/DB)".into());
    }
    if config.get_dbname().is_none() {
        return Err("names no database (postgres://USER@HOST:PORT/DB)".into());
    }
    if url.contains("sslmode=") || url.contains("sslrootcert=") {
        return Err("must not carry TLS parameters: set store.tls_mode and store.tls_ca_path instead".into());
    }
    Ok(())
}

enum Tls {
    Plain,
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

pub(super) struct Pool {
    config: postgres::Config,
    tls: Tls,
    max: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Client>,
    open: usize,
}

impl Pool {
    pub(super) fn new(db: &Database) -> Result<Pool, StoreError> {
        check_url(db.url.expose()).map_err(|p| StoreError::Unavailable(format!("store.url {p}")))?;
        let mut config: postgres::Config = db
            .url
            .expose()
            .parse()
            .map_err(|_| StoreError::Unavailable("store.url is not a valid PostgreSQL URL".into()))?;
        if let Some(password) = &db.password {
            if config.get_password().is_some() {
                return Err(StoreError::Unavailable(
                    "the password is given twice: in store.url and in store.password".into(),
                ));
            }
            config.password(password.expose());
        }
        config
            .application_name("vendorwall")
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        let tls = match &db.tls {
            DatabaseTls::Disable => {
                config.ssl_mode(SslMode::Disable);
                Tls::Plain
            }
            DatabaseTls::Require => {
                config.ssl_mode(SslMode::Require);
                Tls::Rustls(tokio_postgres_rustls::MakeRustlsConnect::new(unverified_tls()?))
            }
            DatabaseTls::VerifyFull { ca_path } => {
                config.ssl_mode(SslMode::Require);
                Tls::Rustls(tokio_postgres_rustls::MakeRustlsConnect::new(verified_tls(ca_path)?))
            }
        };
        Ok(Pool {
            config,
            tls,
            max: db.max_connections.max(1),
            state: Mutex::new(PoolState::default()),
            freed: Condvar::new(),
        })
    }

    /// A connection: an idle one, a new one while under the limit, or the next one returned.
    pub(super) fn get(&self) -> Result<Conn<'_>, StoreError> {
        let deadline = Instant::now() + CHECKOUT_TIMEOUT;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            while let Some(client) = state.idle.pop() {
                if client.is_closed() {
                    state.open -= 1;
                    continue;
                }
                return Ok(Conn {
                    client: Some(client),
                    pool: self,
                });
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(client) => Ok(Conn {
                        client: Some(client),
                        pool: self,
                    }),
                    Err(e) => {
                        self.state.lock().unwrap_or_else(|p| p.into_inner()).open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StoreError::Unavailable(format!(
                    "all {} database connections (store.max_connections) stayed busy for {} s",
                    self.max,
                    CHECKOUT_TIMEOUT.as_secs()
                )));
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    fn connect(&self) -> Result<Client, StoreError> {
        let connected = match &self.tls {
            Tls::Plain => self.config.connect(NoTls),
            Tls::Rustls(tls) => self.config.connect(tls.clone()),
        };
        connected.map_err(|e| super::error("connecting to the database", &e))
    }

    fn put_back(&self, client: Client) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if client.is_closed() {
            state.open -= 1;
        } else {
            state.idle.push(client);
        }
        drop(state);
        self.freed.notify_one();
    }

    fn discard(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).open -= 1;
        self.freed.notify_one();
    }
}

/// A pooled connection; back to the pool on drop.
pub(super) struct Conn<'a> {
    client: Option<Client>,
    pool: &'a Pool,
}

impl std::ops::Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        match self.client.take() {
            // A panic mid-transaction: the client's state is unknown, so it is closed.
            Some(_) if std::thread::panicking() => self.pool.discard(),
            Some(client) => self.pool.put_back(client),
            None => self.pool.discard(),
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(e: rustls::Error) -> StoreError {
    StoreError::Unavailable(format!("setting up TLS to the database: {e}"))
}

/// `verify-full`: the server's certificate must chain to a CA in `ca_path` and name the host.
fn verified_tls(ca_path: &std::path::Path) -> Result<rustls::ClientConfig, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let unreadable = |what: String| StoreError::Unavailable(format!("store.tls_ca_path {}: {what}", ca_path.display()));
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_path).map_err(|e| unreadable(e.to_string()))?;
    for cert in certs {
        let cert = cert.map_err(|e| unreadable(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| unreadable(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(unreadable("holds no PEM certificate".into()));
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// `require`: encrypted, with the handshake's signatures checked, but any certificate taken
/// (libpq's `sslmode=require`).
fn unverified_tls() -> Result<rustls::ClientConfig, StoreError> {
    let provider = provider();
    Ok(rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth())
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
