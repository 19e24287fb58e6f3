//! What `epa serve` serves, built from one configuration by [`build_app`]: the metrics page and
//! `[client_certificates] required_paths` first, then the diagnostics page when on, then the
//! proxy's route table (or the hello page behind the `[policy]` layer).

use epa_config::{PolicyTable, ServerConfig};
use epa_core::authenticator::Authenticator;
use epa_core::path::NormalizedPath;
use epa_hyper::ExtendedProtection;
use epa_hyper::proxy::{IdentityHeaders, Proxy, ProxyBody, Router, Upstream};
use epa_hyper::server::{MetricsPage, ServerError, policy_layer};
use http::{Request, Response};
use http_body_util::BodyExt as _;
use metrics_exporter_prometheus::PrometheusHandle;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The hello page: `hello DOMAIN\user` (or `hello` on an anonymous listener).
#[derive(Clone, Debug)]
struct Hello;

impl<B> tower_service::Service<Request<B>> for Hello {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<ProxyBody>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let who = req
            .extensions()
            .get::<epa_hyper::AuthenticatedUser>()
            .map(|u| format!(" {}", u.identity.principal))
            .unwrap_or_default();
        let body = http_body_util::Full::new(bytes::Bytes::from(format!("hello{who}\n")))
            .map_err(|never| match never {})
            .boxed_unsync();
        std::future::ready(Ok(Response::new(body)))
    }
}

/// What answers requests, built from one configuration ([`build_app`]).
#[derive(Clone)]
enum Routes {
    /// `[upstream]`: the route table over the reverse proxy.
    Proxy(Router),
    /// No upstream, Negotiate on: the hello page behind the `[policy]` layer.
    Hello(ExtendedProtection<Hello>),
    /// No upstream, Negotiate off.
    Open(Hello),
    /// `[diagnostics]` on: its page in front of the application.
    Diagnosed(Box<epa_hyper::diagnose::WithDiagnostics<Routes>>),
}

/// What `epa serve` serves: the metrics page and the `[client_certificates] required_paths`
/// before the routes, so both are answered before any Negotiate leg.
#[derive(Clone)]
pub(crate) struct App {
    routes: Routes,
    metrics: Option<MetricsPage>,
    /// `required_paths` (empty: none) and whether they are only observed (`audit_only`).
    certificate_paths: Arc<[NormalizedPath]>,
    certificate_audit_only: bool,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes = match &self.routes {
            Routes::Proxy(r) => format!("{r:?}"),
            Routes::Hello(_) => "Hello".into(),
            Routes::Open(_) => "Open".into(),
            Routes::Diagnosed(d) => format!("{d:?}"),
        };
        f.debug_struct("App")
            .field("routes", &routes)
            .field("metrics", &self.metrics)
            .field("certificate_paths", &self.certificate_paths)
            .finish()
    }
}

/// A boxed response future.
type AppFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>,
>;

/// An answer made here (metrics, a certificate refusal).
fn answer(response: Response<String>) -> AppFuture {
    let response = response.map(|s| {
        http_body_util::Full::new(bytes::Bytes::from(s))
            .map_err(|never| match never {})
            .boxed_unsync()
    });
    Box::pin(std::future::ready(Ok(response)))
}

impl<B> tower_service::Service<Request<B>> for App
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<epa_hyper::proxy::BoxError>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = AppFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each variant is always ready (the router and the hello page say so).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if let Some(page) = self.metrics.as_ref().and_then(|m| m.answer(&req)) {
            return answer(page);
        }
        if !self.certificate_paths.is_empty() {
            // A path that cannot be normalised counts as required (fails closed); the router
            // answers it 400 after the certificate check.
            let required = NormalizedPath::parse(req.uri().path()).map_or(true, |p| {
                self.certificate_paths
                    .iter()
                    .any(|prefix| p.starts_with_segments(prefix))
            });
            if required
                && let Err(refusal) = epa_hyper::client_cert::require_certificate(
                    &mut req,
                    self.certificate_audit_only,
                )
            {
                return answer(refusal.response());
            }
        }
        self.routes.call(req)
    }
}

impl<B> tower_service::Service<Request<B>> for Routes
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<epa_hyper::proxy::BoxError>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = AppFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each variant is always ready (the router, the hello page and the page say so).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match self {
            Self::Proxy(r) => r.call(req),
            Self::Hello(h) => Box::pin(h.call(req)),
            Self::Open(h) => Box::pin(h.call(req)),
            Self::Diagnosed(d) => d.call(req),
        }
    }
}

/// Builds the application from one configuration: the proxy's route table (one layer per
/// protected route, each from [`policy_layer`]) or the hello page behind the `[policy]` layer,
/// with the metrics page (when `[metrics]` and a recorder) and `required_paths` before them.
/// Start-up and every SIGHUP build the application with this function and only this one.
pub(crate) fn build_app(
    config: &ServerConfig,
    backend: Option<&Arc<dyn Authenticator>>,
    metrics: Option<&PrometheusHandle>,
) -> Result<App, String> {
    let make = |table: &PolicyTable| match backend {
        Some(b) => policy_layer(config, b.clone(), table),
        None => Err(ServerError::Negotiate("an authenticator")),
    };
    if config.upstream.is_none() && !config.routes.is_empty() {
        // Their policies and allow-lists would be silently ignored by the hello page.
        return Err(
            "[[route]] tables apply to the reverse proxy only: add [upstream] or remove them"
                .into(),
        );
    }
    let routes = match &config.upstream {
        Some(up) => {
            let upstream = Upstream::from_table(up).map_err(|e| e.to_string())?;
            let names =
                IdentityHeaders::new(&config.identity_headers).map_err(|e| e.to_string())?;
            let proxy = Proxy::new(upstream, names);
            Routes::Proxy(Router::from_config(config, &proxy, make).map_err(|e| e.to_string())?)
        }
        None if config.listener.negotiate => {
            let table = config
                .policy
                .as_ref()
                .ok_or("the listener runs Negotiate but there is no [policy] table")?;
            Routes::Hello(tower_layer::Layer::layer(
                &make(table).map_err(|e| e.to_string())?,
                Hello,
            ))
        }
        None => Routes::Open(Hello),
    };
    let routes = if config.diagnostics.enabled {
        let table = config
            .policy
            .as_ref()
            .ok_or("[diagnostics] needs a [policy] table")?;
        let page = make(table).map_err(|e| e.to_string())?;
        let with = epa_hyper::diagnose::WithDiagnostics::from_config(config, page, routes)
            .map_err(|e| e.to_string())?;
        Routes::Diagnosed(Box::new(with))
    } else {
        routes
    };
    let metrics = match (&config.metrics, metrics) {
        (Some(table), Some(handle)) => {
            Some(MetricsPage::from_table(handle.clone(), table).map_err(|e| e.to_string())?)
        }
        (Some(table), None) => {
            // Validated all the same: a reload never swaps in a table the next start refuses.
            table.normalized_path().map_err(|e| e.to_string())?;
            None
        }
        (None, _) => None,
    };
    let cc = &config.client_certificates;
    Ok(App {
        routes,
        metrics,
        certificate_paths: cc.required_prefixes().map_err(|e| e.to_string())?.into(),
        certificate_audit_only: cc.audit_only,
    })
}
