//! Logging and metrics set-up for a server binary (`observability` feature): `tracing` events
//! on stderr as text or JSON lines (what `epa audit-report` reads), filtered by `RUST_LOG`
//! (default `epa=info`), and the `metrics` counters as a Prometheus page on a path answered
//! before any authentication. With the `clap` feature, [`Observability`] is a `clap::Args`.

use http::{Request, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use std::pin::Pin;
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
        Ok(self
            .metrics
            .then(|| metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder())
            .transpose()?)
    }
}

/// `app`, except that `GET /metrics` (any method, in fact) is answered with the Prometheus text
/// when there is a handle — before `app`, so before any authentication.
#[derive(Clone)]
pub struct MetricsRoute<S> {
    handle: Option<PrometheusHandle>,
    app: S,
}

impl<S> MetricsRoute<S> {
    /// `app` with `/metrics` served from `handle` (none: `app` alone).
    pub fn new(handle: Option<PrometheusHandle>, app: S) -> Self {
        Self { handle, app }
    }
}

impl<S, B, ResBody> Service<Request<B>> for MetricsRoute<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: From<String> + Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.app.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match &self.handle {
            Some(handle) if req.uri().path() == "/metrics" => {
                let page = Response::builder()
                    .header("content-type", "text/plain; version=0.0.4")
                    .body(ResBody::from(handle.render()))
                    .unwrap_or_default();
                Box::pin(std::future::ready(Ok(page)))
            }
            _ => Box::pin(self.app.call(req)),
        }
    }
}
