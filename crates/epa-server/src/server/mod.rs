//! The library's server: accepts TCP connections, runs TLS, and serves each connection with its
//! own [`epa_hyper::ConnectionContext`] — with the deadlines, limits, graceful shutdown and
//! certificate rotation a server on the internet needs.
//!
//! | deadline (`[listener]` key) | default | IIS | nginx |
//! |---|---|---|---|
//! | PROXY protocol header from a listed balancer (`proxy_protocol_timeout`) | 5 s | — | stream `proxy_protocol_timeout` 30 s |
//! | TLS handshake (`tls_handshake_timeout`) | 10 s | — (http.sys) | `ssl_handshake_timeout` 60 s |
//! | request head (`request_head_timeout`) | 30 s | `headerWaitTimeout` | `client_header_timeout` 60 s |
//! | idle keep-alive (`keep_alive_timeout`) | 120 s | `connectionTimeout` 120 s | `keepalive_timeout` 75 s |
//! | pending Negotiate/NTLM exchange (`exchange_timeout`) | 60 s | — | — |
//! | graceful shutdown, then hard close (`shutdown_timeout`) | 30 s | `shutdownTimeLimit` 90 s | `worker_shutdown_timeout` (none) |
//! | between two writes to the client (`send_timeout`) | 60 s | `minBytesPerSecond` 240 B/s | `send_timeout` 60 s |
//! | draining an unread body after a 401 (`drain_timeout`, `max_drain_bytes`) | 10 s, 4 MiB | `DrainEntityBody` | `lingering_time` 30 s |
//! | between two reads of a forwarded request body (`body_timeout`, the proxy's) | 60 s | http.sys `EntityBody` 120 s | `client_body_timeout` 60 s |
//! | between two reads of an upstream response (`[upstream] read_timeout`) | 60 s | ARR `timeout` 30 s | `proxy_read_timeout` 60 s |
//!
//! The request *body* has no deadline here but the proxy's `body_timeout` (as IIS
//! `minBytesPerSecond` is per application): an application that embeds the layer bounds its
//! own, e.g. with `http_body_util::Limited` and a timeout.
//! A body the layer answered without reading (a 401 leg) is drained within the bounds above.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use epa_config::{PolicyTable, ServerConfig};
//! use epa_core::PolicyEnforcement;
//! use epa_server::Server;
//! // Usually read from the file `epa lint` checks (then `resolve_paths`).
//! let mut config = ServerConfig::default();
//! config.listener.certificate_file = Some("server.pem".into());
//! config.listener.key_file = Some("server.key".into());
//! config.policy = Some(PolicyTable {
//!     enforcement: Some(PolicyEnforcement::Always),
//!     service_names: Some(vec!["HTTP/www.example.com".into()]),
//!     ..PolicyTable::default()
//! });
//! let users = epa_hyper::ntlm::UserDb::parse("EXAMPLE:alice:alice-password")?;
//! let backend = epa_hyper::ntlm::NtlmAcceptor::new(users, "EXAMPLE", "WEB01");
//! let configured = Server::from_config(&config, Some(std::sync::Arc::new(backend)))?;
//! let hello = tower::service_fn(|_: http::Request<hyper::body::Incoming>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
//! });
//! let layer = configured.layer.ok_or("negotiate is on, so there is a layer")?;
//! configured.server.serve(tower_layer::Layer::layer(&layer, hello)).await?;
//! # Ok(()) }
//! ```

mod admission;
mod config;
mod connection;
mod events;
mod hold;
mod listener;
pub mod proxy_protocol;
pub mod reload;
mod service;
mod shutdown;

pub use config::{Configured, policy_layer};
pub use epa_config::Deadlines;
pub(crate) use hold::{ConnectionHold, hold_while};
pub use reload::ReloadableCertificate;
pub use service::ServeService;
pub use shutdown::signal as shutdown_signal;

use epa_hyper::TlsAcceptor;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;
use tokio::net::TcpListener;

/// Why a server cannot start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The `[listener]` table is invalid.
    #[error(transparent)]
    Listener(#[from] epa_config::ListenerError),
    /// The `[policy]` table is invalid.
    #[error(transparent)]
    Policy(#[from] epa_config::ConfigError),
    /// The listener runs Negotiate but there is no `[policy]` or no authenticator.
    #[error("the listener runs Negotiate but {0} is missing")]
    Negotiate(&'static str),
    /// HTTPS without `certificate_file`/`key_file`.
    #[error("an HTTPS listener needs certificate_file and key_file")]
    NoCertificate,
    /// A policy accepts only mechanisms the backend cannot complete (e.g. `mechanisms =
    /// ["kerberos"]` on the embedded NTLM backend): it would refuse everyone.
    #[error(
        "mechanisms = [{wanted}] but the backend completes only {backend}: use [backend] kind = \"gssapi\" for Kerberos, or accept ntlm"
    )]
    MechanismsUnavailable {
        /// What the policy accepts.
        wanted: epa_core::decide::Mechanisms,
        /// What the backend can complete.
        backend: epa_core::decide::Mechanisms,
    },
    /// The address cannot be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A certificate or key file cannot be read or parsed.
    #[error("{path}: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("{path}: no CERTIFICATE block")]
    EmptyChain {
        /// The file.
        path: PathBuf,
    },
    /// The key does not fit the certificate, or cannot sign.
    #[error("server certificate and key: {0}")]
    Key(#[source] rustls::Error),
    /// The TLS configuration cannot be built.
    #[error("TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
    /// The certificate yields no `tls-server-end-point` binding.
    #[error("server certificate gives no channel binding: {0}")]
    Binding(#[from] epa_core::cbt::CertificateError),
    /// The client-certificate settings cannot be used.
    #[error(transparent)]
    ClientCertificates(#[from] epa_hyper::client_cert::ClientCertError),
    /// A `required_paths` entry cannot be normalised.
    #[error(transparent)]
    RequiredPath(#[from] epa_config::RequiredPathError),
    /// `[listener] proxy_certificate_file` cannot be read.
    #[error("proxy_certificate_file {path}: {source}")]
    ProxyCertificateFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `[listener] proxy_certificate_file` holds no usable certificate.
    #[error("proxy_certificate_file {path}: {source}")]
    ProxyCertificate {
        /// The file.
        path: PathBuf,
        /// Why.
        source: epa_core::cbt::CertificateError,
    },
    /// `proxy_certificate_file` under a policy whose scenario is not `trusted-proxy`.
    #[error(
        "proxy_certificate_file pins a front proxy's certificate, but the policy's scenario is not trusted-proxy"
    )]
    ProxyCertificateWithoutTrustedProxy,
    /// The connection limit's semaphore was closed (cannot happen while serving).
    #[error("the connection limit was closed")]
    Closed,
}

/// What each connection is served with.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionOptions {
    pub(crate) deadlines: Deadlines,
    pub(crate) tcp_nodelay: bool,
    pub(crate) max_headers: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_address: Option<usize>,
    pub(crate) proxy_protocol: epa_config::ProxyProtocol,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        let l = epa_config::ListenerTable::default();
        Self {
            deadlines: Deadlines::DEFAULT,
            tcp_nodelay: l.tcp_nodelay,
            max_headers: l.max_headers,
            max_header_bytes: l.max_header_bytes,
            max_connections: l.max_connections,
            max_connections_per_address: l.max_connections_per_address,
            proxy_protocol: epa_config::ProxyProtocol::off(),
        }
    }
}

/// A server: a listening address, TLS (or plain HTTP) and the serving options. Build it by
/// hand ([`Server::new`] and the setters) or from a configuration file ([`Server::from_config`]).
#[derive(Debug, Clone)]
pub struct Server {
    address: SocketAddr,
    tls: Option<Arc<TlsAcceptor>>,
    certificate: Option<Arc<ReloadableCertificate>>,
    options: ConnectionOptions,
}

impl Server {
    /// A server on `address` with the default deadlines and limits; plain HTTP until
    /// [`Self::tls`] or [`Self::certificate`].
    pub fn new(address: SocketAddr) -> Self {
        Self {
            address,
            tls: None,
            certificate: None,
            options: ConnectionOptions::default(),
        }
    }

    /// Serves HTTPS through this acceptor (its certificate is fixed).
    pub fn tls(mut self, acceptor: TlsAcceptor) -> Self {
        self.tls = Some(Arc::new(acceptor));
        self
    }

    /// Serves HTTPS through `acceptor`, whose configuration resolves certificates with
    /// `certificate`: the server then watches the certificate's files (and SIGHUP) and rotates.
    pub fn certificate(
        mut self,
        acceptor: TlsAcceptor,
        certificate: Arc<ReloadableCertificate>,
    ) -> Self {
        self.tls = Some(Arc::new(acceptor));
        self.certificate = Some(certificate);
        self
    }

    /// The deadlines.
    pub fn deadlines(mut self, deadlines: Deadlines) -> Self {
        self.options.deadlines = deadlines;
        self
    }

    /// Open connections at most (default 10,000): at the limit the server stops accepting.
    pub fn max_connections(mut self, n: usize) -> Self {
        // The semaphore panics above MAX_PERMITS; no server holds that many anyway.
        self.options.max_connections = n.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        self
    }

    /// Open connections per client address (IPv4-mapped IPv6 folded); excess ones are closed
    /// at once.
    pub fn max_connections_per_address(mut self, n: Option<usize>) -> Self {
        self.options.max_connections_per_address = n.map(|n| n.max(1));
        self
    }

    /// Peers that must start with a PROXY protocol header (v1 or v2), and the deadline for it;
    /// the client address it carries is then the connection's peer (default: none).
    pub fn proxy_protocol(mut self, proxy_protocol: epa_config::ProxyProtocol) -> Self {
        self.options.proxy_protocol = proxy_protocol;
        self
    }

    /// `TCP_NODELAY` on accepted sockets (default on).
    pub fn tcp_nodelay(mut self, on: bool) -> Self {
        self.options.tcp_nodelay = on;
        self
    }

    /// Request head limits: header fields and bytes (at least 8,192).
    pub fn header_limits(mut self, max_headers: usize, max_header_bytes: usize) -> Self {
        self.options.max_headers = max_headers.max(1);
        self.options.max_header_bytes = max_header_bytes.max(8192);
        self
    }

    /// The address [`Self::serve`] binds.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Binds the address.
    pub async fn bind(&self) -> Result<TcpListener, ServerError> {
        TcpListener::bind(self.address)
            .await
            .map_err(|source| ServerError::Bind {
                address: self.address,
                source,
            })
    }

    /// Binds and serves `app` until SIGTERM or SIGINT, then shuts down gracefully.
    pub async fn serve<S>(self, app: S) -> Result<(), ServerError>
    where
        S: ServeService,
    {
        let listener = self.bind().await?;
        self.serve_on(listener, app, shutdown::signal()).await
    }

    /// Serves `app` on a bound listener until `stop` completes; then stops accepting, lets
    /// in-flight requests finish and closes idle connections, within the shutdown deadline.
    pub async fn serve_on<S>(
        self,
        listener: TcpListener,
        app: S,
        stop: impl Future<Output = ()>,
    ) -> Result<(), ServerError>
    where
        S: ServeService,
    {
        let watcher = self.certificate.clone().map(|c| tokio::spawn(c.watch()));
        let served =
            listener::accept_loop(listener, self.tls, app, Arc::new(self.options), stop).await;
        if let Some(w) = watcher {
            w.abort();
        }
        served
    }
}
