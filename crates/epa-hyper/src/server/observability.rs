//! Logging and metrics set-up for a server binary (`observability` feature): `tracing` events
//! on stderr as text or JSON lines (what `epa audit-report` reads), filtered by `RUST_LOG`
//! (default `epa=info`), and the `metrics` counters as a Prometheus page on a path answered
//! before any authentication. With the `clap` feature, [`Observability`] is a `clap::Args`.

use crate::connection::ConnectionContext;
use epa_config::metrics::{MetricsError, MetricsTable};
use epa_core::path::NormalizedPath;
use http::{Request, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

/// Why logging or metrics could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObservabilityError {
    /// A global logger is already installed.
    #[error("logging: {0}")]
    Logging(String),
    /// A global metrics recorder is already installed.
    #[error(transparent)]
    Metrics(#[from] metrics_exporter_prometheus::BuildError),
    /// The upkeep thread cannot be started.
    #[error("metrics upkeep thread: {0}")]
    Upkeep(#[source] std::io::Error),
}

/// Log format and whether to serve metrics.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[non_exhaustive]
pub struct Observability {
    /// Serve Prometheus metrics at /metrics.
    #[cfg_attr(feature = "clap", arg(long))]
    pub metrics: bool,
    /// Log format on stderr: text | json (what `epa audit-report` reads).
    #[cfg_attr(
        feature = "clap",
        arg(long, default_value = "text", value_parser = ["text", "json"])
    )]
    pub log_format: String,
}

impl Default for Observability {
    fn default() -> Self {
        Self {
            metrics: false,
            log_format: "text".into(),
        }
    }
}

impl Observability {
    /// Installs the global logger and, with `metrics`, the Prometheus recorder (whose handle
    /// [`MetricsRoute`] renders).
    pub fn init(&self) -> Result<Option<PrometheusHandle>, ObservabilityError> {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| "epa=info".into());
        let log = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        let installed = if self.log_format == "json" {
            log.json().try_init()
        } else {
            log.with_ansi(false).try_init()
        };
        installed.map_err(|e| ObservabilityError::Logging(e.to_string()))?;
        self.metrics.then(install_prometheus).transpose()
    }
}

/// How often histogram samples are folded into their summaries ([`install_prometheus`]).
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the global Prometheus recorder and a thread that runs its upkeep every 5 s:
/// without upkeep, every histogram sample (one per login, one per handshake) is kept until the
/// page is next read — memory without a bound on a server nobody scrapes.
pub fn install_prometheus() -> Result<PrometheusHandle, ObservabilityError> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("epa-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        })
        .map_err(ObservabilityError::Upkeep)?;
    Ok(handle)
}

/// The Prometheus page: its path (normalised, compared ignoring ASCII case as IIS compares
/// paths) and the peers that may read it. Cheap to clone.
#[derive(Clone)]
pub struct MetricsPage {
    handle: PrometheusHandle,
    /// Normalised.
    path: Arc<str>,
    allow_from: Option<Arc<[IpAddr]>>,
}

impl std::fmt::Debug for MetricsPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsPage")
            .field("path", &self.path)
            .field("allow_from", &self.allow_from)
            .finish_non_exhaustive()
    }
}

impl MetricsPage {
    /// `/metrics`, readable by every peer.
    pub fn new(handle: PrometheusHandle) -> Self {
        Self {
            handle,
            path: Arc::from("/metrics"),
            allow_from: None,
        }
    }

    /// The page a `[metrics]` table describes (path, `allow_from`).
    pub fn from_table(
        handle: PrometheusHandle,
        table: &MetricsTable,
    ) -> Result<Self, MetricsError> {
        Ok(Self::new(handle)
            .at(table.normalized_path()?)
            .allow_from(table.allow_from.clone()))
    }

    /// Serves the page at `path`.
    #[must_use]
    pub fn at(mut self, path: NormalizedPath) -> Self {
        self.path = Arc::from(path.as_str());
        self
    }

    /// Only these peers may read the page (IPv4-mapped IPv6 compared as IPv4); others get 403.
    #[must_use]
    pub fn allow_from(mut self, peers: Vec<IpAddr>) -> Self {
        self.allow_from = Some(peers.into_iter().map(|p| p.to_canonical()).collect());
        self
    }

    /// The answer when `req` asks for the page: the Prometheus text (any method), or 403 for a
    /// peer not in `allow_from` (and without a connection context, failing closed). `None`:
    /// not the page's path.
    pub fn answer<B>(&self, req: &Request<B>) -> Option<Response<String>> {
        let asked = NormalizedPath::parse(req.uri().path())
            .is_ok_and(|p| p.as_str().eq_ignore_ascii_case(&self.path));
        if !asked {
            return None;
        }
        let allowed = self.allow_from.as_ref().is_none_or(|list| {
            req.extensions()
                .get::<ConnectionContext>()
                .is_some_and(|c| list.contains(&c.facts().peer.ip().to_canonical()))
        });
        let (status, content_type, body) = if allowed {
            (
                http::StatusCode::OK,
                "text/plain; version=0.0.4",
                self.handle.render(),
            )
        } else {
            tracing::info!(target: "epa", reason = "metrics-peer-not-allowed", "metrics page refused to a peer not in allow_from");
            (
                http::StatusCode::FORBIDDEN,
                "text/plain; charset=utf-8",
                "forbidden: metrics-peer-not-allowed\n".to_owned(),
            )
        };
        let mut page = Response::new(body);
        *page.status_mut() = status;
        page.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        Some(page)
    }
}

/// `app`, except that the metrics page ([`MetricsPage`], `/metrics` for [`MetricsRoute::new`])
/// is answered before `app`, so before any authentication.
#[derive(Clone)]
pub struct MetricsRoute<S> {
    page: Option<MetricsPage>,
    app: S,
}

impl<S> MetricsRoute<S> {
    /// `app` with `/metrics` served from `handle` to every peer (none: `app` alone).
    pub fn new(handle: Option<PrometheusHandle>, app: S) -> Self {
        Self::with_page(handle.map(MetricsPage::new), app)
    }

    /// `app` with `page` (none: `app` alone).
    pub fn with_page(page: Option<MetricsPage>, app: S) -> Self {
        Self { page, app }
    }
}

impl<S, B, ResBody> Service<Request<B>> for MetricsRoute<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.app.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match self.page.as_ref().and_then(|p| p.answer(&req)) {
            Some(page) => Box::pin(std::future::ready(Ok(page.map(ResBody::from)))),
            None => Box::pin(self.app.call(req)),
        }
    }
}
