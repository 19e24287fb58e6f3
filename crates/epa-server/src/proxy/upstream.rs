//! The upstream: one pooled hyper-util client to an `http://`, `unix:` or `https://` (pinned
//! CA, no system roots) address, with a
//! deadline on connect + response head. Failures are typed so that the proxy answers 502
//! (refused, unreachable, broken) or 504 (deadline) and names the reason.

use super::{BoxError, ProxyBody};
use epa_config::upstream::{
    PoolSettings, UpstreamSettings, UpstreamSettingsError, UpstreamTable, UpstreamTarget,
};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use thiserror::Error;

/// An upstream that cannot be built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The url does not parse.
    #[error(transparent)]
    Url(#[from] epa_config::proxy::UpstreamUrlError),
    /// The `[upstream]` table is invalid (a deadline, the upgrade list).
    #[error(transparent)]
    Settings(#[from] UpstreamSettingsError),
    /// An `https://` upstream without a pinned CA (no system roots are used).
    #[error("an https upstream needs ca_file: the CA that issued its certificate (pinned)")]
    NoPinnedCa,
    /// The CA file cannot be read or holds no certificate.
    #[error("upstream ca_file: {0}")]
    CaFile(#[source] epa_hyper::client_cert::ClientCertError),
    /// A certificate of the CA file is refused as a root, or the TLS client cannot be built.
    #[error("upstream ca_file: {0}")]
    Tls(#[source] rustls::Error),
    /// The host is not a valid TLS server name.
    #[error("upstream host {0:?} is not a valid TLS server name")]
    ServerName(String),
    /// The authority is not a valid URI authority.
    #[error("upstream authority {0:?} is not valid")]
    Authority(String),
}

/// Why one forward failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum UpstreamFailure {
    /// The upstream refused the connection (nothing listens).
    #[error("upstream refused the connection")]
    ConnectRefused(#[source] BoxError),
    /// Connecting took longer than the deadline.
    #[error("upstream connect deadline passed")]
    ConnectTimeout,
    /// Another connect failure (no route, no such socket file, DNS).
    #[error("upstream unreachable")]
    Unreachable(#[source] BoxError),
    /// The TLS handshake with an `https://` upstream failed (certificate not from the pinned
    /// CA, wrong name, protocol).
    #[error("upstream TLS handshake failed")]
    Tls(#[source] BoxError),
    /// No response head within the deadline.
    #[error("upstream response deadline passed")]
    ResponseTimeout,
    /// The connection broke or the upstream spoke no HTTP.
    #[error("upstream protocol error")]
    Protocol(#[source] BoxError),
    /// The client stopped sending the request body (`[listener] body_timeout`): the
    /// upstream request was abandoned. Not the upstream's fault: 408 to the client.
    #[error("the client stalled in the request body")]
    ClientBodyTimeout,
}

impl UpstreamFailure {
    /// 504 for deadlines, 502 otherwise.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::ConnectTimeout | Self::ResponseTimeout => http::StatusCode::GATEWAY_TIMEOUT,
            Self::ClientBodyTimeout => http::StatusCode::REQUEST_TIMEOUT,
            _ => http::StatusCode::BAD_GATEWAY,
        }
    }

    /// The stable reason code (log field and metric label).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ConnectRefused(_) => "connect-refused",
            Self::ConnectTimeout => "connect-timeout",
            Self::Unreachable(_) => "unreachable",
            Self::Tls(_) => "tls",
            Self::ResponseTimeout => "response-timeout",
            Self::Protocol(_) => "protocol",
            Self::ClientBodyTimeout => "body-timeout",
        }
    }
}

/// Connects to a Unix-domain socket, whatever the URI says.
#[derive(Clone)]
pub struct UnixConnector(Arc<PathBuf>);

impl tower_service::Service<Uri> for UnixConnector {
    type Response = TokioIo<tokio::net::UnixStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let path = self.0.clone();
        Box::pin(async move {
            tokio::net::UnixStream::connect(&*path)
                .await
                .map(TokioIo::new)
        })
    }
}

/// TCP, then TLS with the pinned roots, ALPN `http/1.1`, SNI = the configured host.
#[derive(Clone)]
pub struct TlsConnector {
    tcp: HttpConnector,
    tls: tokio_rustls::TlsConnector,
    name: rustls::pki_types::ServerName<'static>,
}

/// A TLS connection to the upstream.
pub struct TlsIo(TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>);

impl hyper::rt::Read for TlsIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for TlsIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl hyper_util::client::legacy::connect::Connection for TlsIo {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}

impl tower_service::Service<Uri> for TlsConnector {
    type Response = TlsIo;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<TlsIo, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tcp = self.tcp.call(uri);
        let (tls, name) = (self.tls.clone(), self.name.clone());
        Box::pin(async move {
            let tcp = tcp.await?.into_inner();
            Ok(TlsIo(TokioIo::new(tls.connect(name, tcp).await?)))
        })
    }
}

enum Pool {
    Tcp(Client<HttpConnector, ProxyBody>),
    Unix(Client<UnixConnector, ProxyBody>),
    Tls(Client<TlsConnector, ProxyBody>),
}

/// The upstream: a connection pool and its deadlines. Cheap to share (`Arc` it).
pub struct Upstream {
    pool: Pool,
    /// `http://host:port` (Unix: `http://localhost`), prefixed to each request's path.
    base: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    read_timeout: Duration,
    upgrade_idle_timeout: Duration,
}

/// How long the upstream may pause between two reads of a response body, by default (nginx
/// `proxy_read_timeout`).
pub const DEFAULT_READ_TIMEOUT: Duration = UpstreamSettings::DEFAULT_READ_TIMEOUT;

/// How long a spliced (upgraded) connection may be idle both ways, by default.
pub const DEFAULT_UPGRADE_IDLE_TIMEOUT: Duration = UpstreamSettings::DEFAULT_UPGRADE_IDLE_TIMEOUT;

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("base", &self.base)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("upgrade_idle_timeout", &self.upgrade_idle_timeout)
            .finish()
    }
}

impl Upstream {
    /// Builds the pool from an `[upstream]` table ([`UpstreamTable::settings`]: checked, with
    /// the defaults filled in).
    pub fn from_table(table: &UpstreamTable) -> Result<Self, UpstreamError> {
        Self::from_settings(&table.settings()?)
    }

    /// Builds the pool from typed settings; an `https://` upstream trusts only the CAs in
    /// `ca_file`.
    pub fn from_settings(settings: &UpstreamSettings) -> Result<Self, UpstreamError> {
        let roots = match &settings.ca_file {
            Some(path) => {
                epa_hyper::client_cert::read_ca_bundle(path).map_err(UpstreamError::CaFile)?
            }
            None => Vec::new(),
        };
        Ok(Self::build(
            &settings.target,
            settings.connect_timeout,
            settings.response_timeout,
            roots,
            settings.pool,
        )?
        .upgrade_idle_timeout(settings.upgrade_idle_timeout)
        .read_timeout(settings.read_timeout))
    }

    /// Cuts a response whose body has not moved for this long (default 60 s, nginx
    /// `proxy_read_timeout`; at least 1 ms): the client's connection is closed, not held.
    pub fn read_timeout(mut self, idle: Duration) -> Self {
        self.read_timeout = idle.max(Duration::from_millis(1));
        self
    }

    pub(crate) fn read_idle(&self) -> Duration {
        self.read_timeout
    }

    /// Closes a spliced (upgraded) connection idle both ways this long (default 300 s;
    /// at least 1 ms).
    pub fn upgrade_idle_timeout(mut self, idle: Duration) -> Self {
        self.upgrade_idle_timeout = idle.max(Duration::from_millis(1));
        self
    }

    pub(crate) fn upgrade_idle(&self) -> Duration {
        self.upgrade_idle_timeout
    }

    /// Builds the pool for an `http://` or `unix:` `target` with these deadlines.
    pub fn new(
        target: &UpstreamTarget,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<Self, UpstreamError> {
        Self::with_roots(target, connect_timeout, response_timeout, Vec::new())
    }

    /// Builds the pool; `roots` are the only CAs an `https://` upstream may chain to.
    pub fn with_roots(
        target: &UpstreamTarget,
        connect_timeout: Duration,
        response_timeout: Duration,
        roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    ) -> Result<Self, UpstreamError> {
        Self::build(
            target,
            connect_timeout,
            response_timeout,
            roots,
            PoolSettings::DEFAULT,
        )
    }

    fn build(
        target: &UpstreamTarget,
        connect_timeout: Duration,
        response_timeout: Duration,
        roots: Vec<rustls::pki_types::CertificateDer<'static>>,
        pool_settings: PoolSettings,
    ) -> Result<Self, UpstreamError> {
        let builder = || {
            let mut b = Client::builder(TokioExecutor::new());
            b.pool_idle_timeout(pool_settings.idle_timeout)
                .pool_max_idle_per_host(pool_settings.max_idle_per_host);
            b
        };
        let (pool, base) = match target {
            UpstreamTarget::Http { host, port } => {
                let mut c = HttpConnector::new();
                c.set_connect_timeout(Some(connect_timeout));
                c.set_nodelay(true);
                let base = format!("http://{host}:{port}");
                (Pool::Tcp(builder().build(c)), base)
            }
            UpstreamTarget::Unix(path) => (
                Pool::Unix(builder().build(UnixConnector(Arc::new(path.clone())))),
                "http://localhost".to_owned(),
            ),
            UpstreamTarget::Https { host, port } => {
                if roots.is_empty() {
                    return Err(UpstreamError::NoPinnedCa);
                }
                let mut store = rustls::RootCertStore::empty();
                for root in roots {
                    store.add(root).map_err(UpstreamError::Tls)?;
                }
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let mut config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(UpstreamError::Tls)?
                    .with_root_certificates(store)
                    .with_no_client_auth();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                let name = rustls::pki_types::ServerName::try_from(bare.to_owned())
                    .map_err(|_| UpstreamError::ServerName(host.clone()))?;
                let mut tcp = HttpConnector::new();
                tcp.set_connect_timeout(Some(connect_timeout));
                tcp.set_nodelay(true);
                tcp.enforce_http(false);
                let connector = TlsConnector {
                    tcp,
                    tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
                    name,
                };
                (
                    Pool::Tls(builder().build(connector)),
                    format!("https://{host}:{port}"),
                )
            }
        };
        base.parse::<Uri>()
            .map_err(|_| UpstreamError::Authority(base.clone()))?;
        Ok(Self {
            pool,
            base,
            connect_timeout,
            response_timeout,
            read_timeout: DEFAULT_READ_TIMEOUT,
            upgrade_idle_timeout: DEFAULT_UPGRADE_IDLE_TIMEOUT,
        })
    }

    /// The absolute URI for a request's path and query.
    pub(crate) fn uri_for(&self, original: &Uri) -> Result<Uri, http::Error> {
        let pq = original.path_and_query().map_or("/", |pq| pq.as_str());
        Ok(Uri::try_from(format!("{}{pq}", self.base))?)
    }

    /// Sends one request; the response head must arrive within connect + response deadline.
    pub async fn send(
        &self,
        req: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, UpstreamFailure> {
        let fut = async {
            match &self.pool {
                Pool::Tcp(c) => c.request(req).await,
                Pool::Unix(c) => c.request(req).await,
                Pool::Tls(c) => c.request(req).await,
            }
        };
        match tokio::time::timeout(self.connect_timeout + self.response_timeout, fut).await {
            Err(_) => Err(UpstreamFailure::ResponseTimeout),
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(classify(e)),
        }
    }
}

/// Maps a client error to a failure by the `io::Error` in its source chain.
fn classify(e: hyper_util::client::legacy::Error) -> UpstreamFailure {
    let connect = e.is_connect();
    let mut kind = None;
    let mut tls = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(s) = source {
        if s.is::<super::idle::BodyTimeout>() {
            return UpstreamFailure::ClientBodyTimeout;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            kind = Some(io.kind());
            // tokio-rustls wraps the rustls error inside the io::Error.
            tls = io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>());
            break;
        }
        tls |= s.is::<rustls::Error>();
        source = s.source();
    }
    let boxed: BoxError = Box::new(e);
    if tls {
        return UpstreamFailure::Tls(boxed);
    }
    match (connect, kind) {
        (_, Some(std::io::ErrorKind::ConnectionRefused)) if connect => {
            UpstreamFailure::ConnectRefused(boxed)
        }
        (true, Some(std::io::ErrorKind::TimedOut)) => UpstreamFailure::ConnectTimeout,
        (true, _) => {
            // HttpConnector reports its own deadline as a plain message, not an io kind.
            if format!("{boxed:?}").contains("ConnectTimeout")
                || format!("{boxed:?}").contains("timed out")
            {
                UpstreamFailure::ConnectTimeout
            } else {
                UpstreamFailure::Unreachable(boxed)
            }
        }
        (false, _) => UpstreamFailure::Protocol(boxed),
    }
}
