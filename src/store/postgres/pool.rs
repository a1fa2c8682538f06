//! Connections to PostgreSQL: the settings, TLS with rustls, a small pool, and the runtime that drives them.
//!
//! The `Store` trait is synchronous and is called from blocking threads (the writer's `spawn_blocking`, handlers'
//! `web::block`) but also, at startup, from async code. So the engine owns a small tokio runtime for its
//! connections and hands each piece of work to it, waiting on a channel: that works on any thread, where a
//! `block_on` would panic inside a runtime.

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::{StoreError, StoreResult};

/// How the connection to PostgreSQL is protected (libpq's `sslmode` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Plain TCP: only for a database on the same host or a trusted network.
    Disable,
    /// TLS, without checking the server's certificate (it protects against listening, not against an impostor).
    Require,
    /// TLS, with the server's certificate checked against `ca` and its name against the URL's host.
    VerifyFull,
}

/// Where the database is and how to reach it.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// A `postgres://user:password@host:port/database` URL (or libpq's `key=value` form).
    pub url: String,
    /// Connections this process keeps at most.
    pub pool_size: usize,
    pub sslmode: SslMode,
    /// PEM certificates to trust for `verify-full`.
    pub ca: Option<PathBuf>,
}

pub(super) enum Tls {
    Disabled,
    Rustls(MakeRustlsConnect),
}

/// What the connections share; futures handed to the runtime own a clone of it.
pub(super) struct Shared {
    pub(super) config: tokio_postgres::Config,
    pub(super) tls: Tls,
    idle: Mutex<Vec<Client>>,
    permits: Arc<Semaphore>,
    /// Host, port and database, for messages: never the password.
    pub(super) target: String,
    /// This process's id in the notifications it sends, so that its listener can skip its own.
    pub(super) node: String,
    /// The collections known to have their row in `collections`.
    pub(super) collections: Mutex<HashSet<String>>,
    /// Objects and envelopes in the collections written when this process last had the statistics gathered.
    pub(super) analyzed_at: Mutex<i64>,
}

pub(super) struct Pool {
    pub(super) shared: Arc<Shared>,
    /// `None` only while dropping: a runtime is shut down in the background, which is allowed on any thread.
    runtime: Option<tokio::runtime::Runtime>,
}

/// A connection taken from the pool; it goes back when dropped, unless it broke.
pub(super) struct Pooled {
    client: Option<Client>,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl PostgresOptions {
    /// Whether the options can be used, found without connecting.
    pub fn check(&self) -> StoreResult<()> {
        self.connection().map(drop)
    }

    /// The connection settings and the TLS to use.
    fn connection(&self) -> StoreResult<(tokio_postgres::Config, Tls)> {
        let mut config: tokio_postgres::Config = self
            .url
            .parse()
            .map_err(|e| StoreError::Settings(format!("store.url is not a PostgreSQL URL: {e}")))?;
        if self.pool_size == 0 {
            return Err(StoreError::Settings(
                "store.pool_size must be at least 1".into(),
            ));
        }
        let tls = match self.sslmode {
            SslMode::Disable => {
                config.ssl_mode(tokio_postgres::config::SslMode::Disable);
                Tls::Disabled
            }
            mode => {
                config.ssl_mode(tokio_postgres::config::SslMode::Require);
                Tls::Rustls(MakeRustlsConnect::new(client_config(
                    mode,
                    self.ca.as_deref(),
                )?))
            }
        };
        Ok((config, tls))
    }
}

impl Pool {
    pub(super) fn new(options: &PostgresOptions) -> StoreResult<Self> {
        let (mut config, tls) = options.connection()?;
        let target = describe(&config);
        config.application_name("stixgate");
        // Every query of the engine reads by an index in its order: pages by the primary key, stopping after a
        // page. Without fresh statistics (a table filled since autovacuum last looked) the planner guessed a
        // few hundred rows in a collection and read pages by a bitmap scan of every row after the cursor and a
        // sort instead: 125 ms for a page of 1,000 at 100,000 objects, against 0.6 ms by the index.
        let given = config
            .get_options()
            .map_or_else(String::new, |o| format!("{o} "));
        config.options(format!("{given}-c enable_bitmapscan=off"));
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("stixgate-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Io(Box::new(e)))?;
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                tls,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(options.pool_size)),
                target,
                node: uuid::Uuid::new_v4().to_string(),
                collections: Mutex::new(HashSet::new()),
                analyzed_at: Mutex::new(0),
            }),
            runtime: Some(runtime),
        })
    }

    /// Starts `work` on the engine's runtime, to run until the pool is dropped.
    pub(super) fn spawn<F>(&self, work: impl FnOnce(Arc<Shared>) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.runtime
            .as_ref()
            .expect("the runtime lives until the pool is dropped")
            .spawn(work(Arc::clone(&self.shared)));
    }

    /// Runs `work` on the engine's runtime and waits for it, from any thread.
    pub(super) fn run<T, F>(&self, work: impl FnOnce(Arc<Shared>) -> F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Future<Output = StoreResult<T>> + Send + 'static,
    {
        let (done, result) = std::sync::mpsc::sync_channel(1);
        let work = work(Arc::clone(&self.shared));
        self.runtime
            .as_ref()
            .expect("the runtime lives until the pool is dropped")
            .spawn(async move {
                let _ = done.send(work.await);
            });
        result.recv().map_err(|_| {
            StoreError::Io("the PostgreSQL engine's runtime stopped during a query".into())
        })?
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Shared {
    pub(super) async fn connection(self: &Arc<Self>) -> StoreResult<Pooled> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let idle = loop {
            let next = self.idle.lock().expect("no panics under this lock").pop();
            match next {
                Some(client) if client.is_closed() => continue,
                other => break other,
            }
        };
        let client = match idle {
            Some(client) => client,
            None => self.connect().await?,
        };
        Ok(Pooled {
            client: Some(client),
            shared: Arc::clone(self),
            _permit: permit,
        })
    }

    async fn connect(&self) -> StoreResult<Client> {
        let failed = |e: tokio_postgres::Error| StoreError::Connect {
            target: self.target.clone(),
            problem: super::describe_error(&e),
        };
        let client = match &self.tls {
            Tls::Disabled => {
                let (client, connection) = self.config.connect(NoTls).await.map_err(failed)?;
                tokio::spawn(drive(connection));
                client
            }
            Tls::Rustls(tls) => {
                let (client, connection) =
                    self.config.connect(tls.clone()).await.map_err(failed)?;
                tokio::spawn(drive(connection));
                client
            }
        };
        Ok(client)
    }
}

async fn drive<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(error) = connection.await {
        tracing::warn!(%error, "a PostgreSQL connection failed; the pool opens a new one");
    }
}

impl std::ops::Deref for Pooled {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("present until dropped")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && !client.is_closed()
        {
            self.shared
                .idle
                .lock()
                .expect("no panics under this lock")
                .push(client);
        }
    }
}

/// `host:port/database` of a configuration, for messages.
fn describe(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{database}")
}

fn client_config(mode: SslMode, ca: Option<&Path>) -> StoreResult<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Settings(format!("TLS setup failed: {e}")))?;
    let config = match mode {
        SslMode::VerifyFull => {
            let ca = ca.ok_or_else(|| {
                StoreError::Settings(
                    "store.sslmode = \"verify-full\" needs store.ca, the PEM file of the CA that signed \
                     the database server's certificate"
                        .into(),
                )
            })?;
            let unreadable = |e: &dyn std::fmt::Display| {
                StoreError::Settings(format!("cannot read store.ca {}: {e}", ca.display()))
            };
            let mut roots = RootCertStore::empty();
            for certificate in CertificateDer::pem_file_iter(ca).map_err(|e| unreadable(&e))? {
                roots
                    .add(certificate.map_err(|e| unreadable(&e))?)
                    .map_err(|e| unreadable(&e))?;
            }
            if roots.is_empty() {
                return Err(unreadable(&"it holds no certificate"));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        _ => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// `sslmode = require`: any certificate is accepted, as libpq does without a root certificate; the handshake's
/// signatures are still checked, so the session is encrypted to whoever holds the certificate's key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
