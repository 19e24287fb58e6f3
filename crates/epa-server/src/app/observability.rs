//! Logging and metrics set-up: `tracing` events on stderr as text or JSON lines (what
//! `epa audit-report` reads), filtered by `RUST_LOG` (default `epa=info`), and the `metrics`
//! counters as a Prometheus page ([`MetricsPage`]) on a path answered before any
//! authentication.

use epa_config::metrics::{MetricsError, MetricsTable};
use epa_core::path::NormalizedPath;
use epa_hyper::ConnectionContext;
use http::{Request, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::IpAddr;
use std::sync::Arc;

/// Why logging or metrics could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObservabilityError {
    /// A global logger is already installed.
    #[error("logging: {0}")]
    Logging(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A global metrics recorder is already installed.
    #[error(transparent)]
    Metrics(#[from] metrics_exporter_prometheus::BuildError),
    /// The upkeep thread cannot be started.
    #[error("metrics upkeep thread: {0}")]
    Upkeep(#[source] std::io::Error),
}

/// The log's format on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One line of text per event (ANSI colours only on a terminal).
    #[default]
    Text,
    /// One JSON object per line: what `epa audit-report` reads.
    Json,
}

/// Installs the global logger: `tracing` events on stderr, filtered by `RUST_LOG` (default
/// `epa=info`). A second call fails ([`ObservabilityError::Logging`]).
pub fn init_logging(format: LogFormat) -> Result<(), ObservabilityError> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "epa=info".into());
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Json => log.json().try_init(),
        LogFormat::Text => log.try_init(),
    }
    .map_err(ObservabilityError::Logging)
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
