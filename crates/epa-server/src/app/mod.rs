//! The application a configuration serves, put together here and only here ([`build`]):
//!
//! metrics page → assertion key page (`[identity_assertion] jwks_path`) → KDC proxy (`[kdc_proxy]`) → client-certificate gate (`[client_certificates] required_paths`) →
//! diagnostics page (when on) → the proxy's route table (`[upstream]`) | the handler behind the
//! `[policy]` layer.
//!
//! `epa serve`'s handler is [`Hello`]; an embedding program passes its own. Start-up and every
//! SIGHUP build the application with [`build`] ([`serve`] does both).

pub mod backend;
pub mod observability;
mod reload;
mod summary;
pub mod swap;

pub use backend::BackendError;
pub use observability::{
    LogFormat, MetricsPage, ObservabilityError, init_logging, install_prometheus,
};
pub use reload::{ConfigSource, ServeError, ServeOptions, read_config, serve};
pub use summary::summary;
pub use swap::{SwapHandle, Swappable};

use crate::proxy::{IdentityHeaders, Proxy, ProxyBody, Router, Upstream};
use crate::server::{ServerError, policy_layer};
use epa_config::{PolicyTable, ServerConfig};
use epa_core::authenticator::Authenticator;
use epa_core::path::NormalizedPath;
use epa_hyper::ExtendedProtection;
use http::{Request, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The hello page: `hello DOMAIN\user` (or `hello` on an anonymous listener): `epa serve`'s
/// handler when there is no `[upstream]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hello;

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
        let body = epa_hyper::body::full(format!("hello{who}\n"));
        std::future::ready(Ok(Response::new(body)))
    }
}

/// What an embedder puts behind the `[policy]` layer: a cloneable service that never fails
/// (errors are responses) and whose future can move between threads.
pub trait Handler<B>:
    tower_service::Service<
        Request<B>,
        Response = Response<ProxyBody>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<B, H> Handler<B> for H where
    H: tower_service::Service<
            Request<B>,
            Response = Response<ProxyBody>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// What answers requests, built from one configuration ([`build`]).
#[derive(Clone)]
enum Routes<H> {
    /// `[upstream]`: the route table over the reverse proxy.
    Proxy(Router),
    /// No upstream, Negotiate on: the handler behind the `[policy]` layer.
    Handler(ExtendedProtection<H>),
    /// No upstream, Negotiate off.
    Open(H),
    /// `[diagnostics]` on: its page in front of the application.
    Diagnosed(Box<crate::diagnose::WithDiagnostics<Routes<H>>>),
}

/// What `epa serve` serves: the metrics page and the `[client_certificates] required_paths`
/// before the routes, so both are answered before any Negotiate leg. `H` is the handler
/// behind the `[policy]` layer when there is no `[upstream]` ([`Hello`] for `epa serve`).
#[derive(Clone)]
pub struct App<H = Hello> {
    routes: Routes<H>,
    metrics: Option<MetricsPage>,
    /// `[identity_assertion]`'s key page: anonymous, before any route.
    key_page: Option<crate::assertion::KeyPage>,
    /// `[kdc_proxy]`: answered before the certificate gate and any Negotiate leg.
    kdc_proxy: Option<crate::kdc_proxy::KdcProxy>,
    /// `required_paths` (empty: none) and whether they are only observed (`audit_only`).
    certificate_paths: Arc<[NormalizedPath]>,
    certificate_audit_only: bool,
}

impl<H> std::fmt::Debug for App<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes = match &self.routes {
            Routes::Proxy(r) => format!("{r:?}"),
            Routes::Handler(_) => "Handler".into(),
            Routes::Open(_) => "Open".into(),
            Routes::Diagnosed(d) => format!("{d:?}"),
        };
        f.debug_struct("App")
            .field("routes", &routes)
            .field("metrics", &self.metrics)
            .field("key_page", &self.key_page)
            .field("kdc_proxy", &self.kdc_proxy)
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
    Box::pin(std::future::ready(Ok(response.map(epa_hyper::body::full))))
}

impl<B, H> tower_service::Service<Request<B>> for App<H>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<crate::proxy::BoxError>,
    H: Handler<B>,
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
        if let Some(page) = self.key_page.as_ref().and_then(|p| p.answer(&req)) {
            return answer(page);
        }
        if let Some(kdc) = self.kdc_proxy.as_ref().filter(|k| k.asks(&req)) {
            let kdc = kdc.clone();
            return Box::pin(async move { Ok(kdc.answer(req).await) });
        }
        if !self.certificate_paths.is_empty() {
            // A path that cannot be normalised cannot be matched against required_paths: 400
            // before anything else sees it (as IIS request filtering answers it).
            let path = match NormalizedPath::parse(req.uri().path()) {
                Ok(p) => p,
                Err(e) => {
                    tracing::info!(target: "epa", decision = "reject", reason = "bad-request-path", "request path refused: {e}");
                    return answer(epa_hyper::client_cert::bad_request_path(&e));
                }
            };
            let required = self
                .certificate_paths
                .iter()
                .any(|prefix| path.starts_with_segments(prefix));
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

impl<B, H> tower_service::Service<Request<B>> for Routes<H>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<crate::proxy::BoxError>,
    H: Handler<B>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = AppFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router and the page are always ready; a handler is called through a fresh
        // clone made ready first (`oneshot`), so its readiness is never assumed.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        use tower::ServiceExt as _;
        match self {
            Self::Proxy(r) => r.call(req),
            Self::Handler(h) => Box::pin(h.clone().oneshot(req)),
            Self::Open(h) => Box::pin(h.clone().oneshot(req)),
            Self::Diagnosed(d) => d.call(req),
        }
    }
}

/// Why an application cannot be built from a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A layer, the upstream, the identity headers, the routes or the pages cannot be built.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The upstream.
    #[error(transparent)]
    Upstream(#[from] crate::proxy::UpstreamError),
    /// The `[identity_headers]` names.
    #[error(transparent)]
    IdentityHeaders(#[from] epa_config::proxy::HeaderNameError),
    /// The `[[route]]` tables.
    #[error(transparent)]
    Routes(#[from] crate::proxy::RouterError),
    /// The `[diagnostics]` table.
    #[error(transparent)]
    Diagnostics(#[from] crate::diagnose::DiagnosticsError),
    /// The `[metrics]` table.
    #[error(transparent)]
    Metrics(#[from] epa_config::metrics::MetricsError),
    /// The `[kdc_proxy]` table.
    #[error(transparent)]
    KdcProxy(#[from] epa_config::kdc_proxy::KdcProxyError),
    /// A `required_paths` entry.
    #[error(transparent)]
    RequiredPath(#[from] epa_config::RequiredPathError),
    /// The `[identity_assertion]` table or its keys.
    #[error(transparent)]
    Assertion(#[from] crate::assertion::AssertionSetupError),
    /// A table another one needs is missing.
    #[error("{0}")]
    Missing(&'static str),
}

/// Builds the application from one configuration: the proxy's route table (one layer per
/// protected route, each from [`policy_layer`]) or `handler` behind the `[policy]` layer, with
/// the diagnostics page (when on), the metrics page (when `[metrics]` and a recorder) and
/// `required_paths` before them. Start-up and every SIGHUP build the application with this
/// function and only this one.
pub fn build<H>(
    config: &ServerConfig,
    backend: Option<&Arc<dyn Authenticator>>,
    metrics: Option<&PrometheusHandle>,
    handler: H,
) -> Result<App<H>, AppError> {
    let make = |table: &PolicyTable| match backend {
        Some(b) => policy_layer(config, b.clone(), table),
        None => Err(ServerError::Negotiate("an authenticator")),
    };
    if config.upstream.is_none() && !config.routes.is_empty() {
        // Their policies and allow-lists would be silently ignored by the handler.
        return Err(AppError::Missing(
            "[[route]] tables apply to the reverse proxy only: add [upstream] or remove them",
        ));
    }
    let names = IdentityHeaders::new(&config.identity_headers)?;
    let (names, minter) = assertion_setup(config, names)?;
    let key_page = match (&minter, &config.identity_assertion) {
        (Some(m), Some(table)) => Some(crate::assertion::KeyPage::new(
            table
                .normalized_jwks_path()
                .map_err(crate::assertion::AssertionSetupError::from)?,
            m.keys(),
        )),
        _ => None,
    };
    let routes = match &config.upstream {
        Some(up) => {
            let proxy = Proxy::with_minter(Upstream::from_table(up)?, names, minter);
            Routes::Proxy(Router::from_config(config, &proxy, make)?)
        }
        None if config.listener.negotiate => {
            let table = config.policy.as_ref().ok_or(AppError::Missing(
                "the listener runs Negotiate but there is no [policy] table",
            ))?;
            Routes::Handler(tower_layer::Layer::layer(&make(table)?, handler))
        }
        None => Routes::Open(handler),
    };
    let routes = if config.diagnostics.enabled {
        let table = config
            .policy
            .as_ref()
            .ok_or(AppError::Missing("[diagnostics] needs a [policy] table"))?;
        let page = make(table)?;
        let with = crate::diagnose::WithDiagnostics::from_config(config, page, routes)?;
        Routes::Diagnosed(Box::new(with))
    } else {
        routes
    };
    let metrics = match (&config.metrics, metrics) {
        (Some(table), Some(handle)) => Some(MetricsPage::from_table(handle.clone(), table)?),
        (Some(table), None) => {
            // Validated all the same: a reload never swaps in a table the next start refuses.
            table.normalized_path()?;
            None
        }
        (None, _) => None,
    };
    let kdc_proxy = match &config.kdc_proxy {
        Some(table) => Some(crate::kdc_proxy::KdcProxy::new(table.settings()?)),
        None => None,
    };
    let cc = &config.client_certificates;
    Ok(App {
        routes,
        metrics,
        key_page,
        kdc_proxy,
        certificate_paths: cc.required_prefixes()?.into(),
        certificate_audit_only: cc.audit_only,
    })
}

/// `[identity_assertion]`: the table checked, its keys read (at start and on every SIGHUP, so
/// a rotation takes effect without a gap and a bad key keeps the running configuration), the
/// header named; without the table, the default header name (its client copies are removed
/// all the same).
fn assertion_setup(
    config: &ServerConfig,
    names: IdentityHeaders,
) -> Result<(IdentityHeaders, Option<crate::assertion::Minter>), AppError> {
    use crate::assertion::{AssertionSetupError, KeySet, Minter};
    let Some(table) = &config.identity_assertion else {
        return Ok((names, None));
    };
    table
        .validate(&config.identity_headers)
        .map_err(AssertionSetupError::from)?;
    let header = http::HeaderName::from_bytes(table.header.as_bytes()).map_err(|_| {
        AssertionSetupError::from(epa_config::AssertionError::HeaderInvalid(
            table.header.clone(),
        ))
    })?;
    let keys = KeySet::from_table(table).map_err(AssertionSetupError::from)?;
    let minter = Minter::new(table, keys, header.clone());
    Ok((names.with_assertion_header(header), Some(minter)))
}
