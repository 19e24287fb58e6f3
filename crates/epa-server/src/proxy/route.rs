//! The route table: each `[[route]]` is a normalised path prefix (longest wins) with its own
//! policy — its own [`ExtendedProtectionLayer`] instance, so an identity authenticated on a
//! lax route is not an identity on a strict one, even on the same keep-alive connection —
//! or no authentication at all (`anonymous`), and optionally allow-lists of users and groups
//! (`allow_users`, `allow_groups`: 403 for an authenticated caller on neither), and optionally
//! a client certificate (`require_client_certificate`: 403.7 without a valid one, checked
//! before any Negotiate leg, as IIS `SslRequireCert` on a path).
//! A path that cannot be normalised is refused with 400 before any route sees it; the
//! upstream receives the normalised path (the one that was routed), query unchanged.
//! Before that, `CONNECT` and a bad `Host` are refused ([`super::target`]). Each route's
//! proxy carries its `Upgrade` protocols (`upgrade_protocols`, default `[upstream]`'s).

use super::{BoxError, Proxy, ProxyBody, text};
use crate::server::ServerError;
use bytes::Bytes;
use epa_config::proxy::{RouteError, check_routes, select_route};
use epa_config::request_filtering::RequestFilteringTable;
use epa_config::{PolicyTable, RouteTable, ServerConfig};
use epa_core::allow::AllowList;
use epa_core::path::NormalizedPath;
use epa_hyper::authorize::{RequireAllowed, RequireAllowedLayer};
use epa_hyper::layer::{ExtendedProtection, ExtendedProtectionLayer};
use epa_hyper::telemetry::ClientText;
use http::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use thiserror::Error;
use tower_layer::Layer as _;
use tower_service::Service;

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

/// What serves one route.
#[derive(Clone)]
pub enum Route {
    /// No authentication: the proxy strips identity headers and forwards.
    Anonymous(Proxy),
    /// The route's own layer over the allow-list over the proxy.
    Protected(ExtendedProtection<RequireAllowed<Proxy>>),
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous(_) => f.write_str("Route::Anonymous"),
            Self::Protected(s) => f
                .debug_tuple("Route::Protected")
                .field(s.get_ref().allow_list())
                .finish(),
        }
    }
}

impl Route {
    /// An anonymous route.
    pub fn anonymous(proxy: Proxy) -> Self {
        Self::Anonymous(proxy)
    }

    /// A protected route: `layer` must be this route's own instance; `allow` its
    /// `allow_users` / `allow_groups` (empty: every authenticated caller).
    pub fn protected(layer: &ExtendedProtectionLayer, proxy: Proxy, allow: AllowList) -> Self {
        Self::Protected(layer.layer(RequireAllowedLayer::new(allow).layer(proxy)))
    }
}

impl<B> Service<Request<B>> for Route
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The proxy pools and the layer defers to it: always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> BoxFuture {
        match self {
            Self::Anonymous(p) => p.call(req),
            Self::Protected(s) => Box::pin(s.call(req)),
        }
    }
}

/// A route table that cannot be built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RouterError {
    /// A `[[route]]` entry is invalid.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// A route's layer cannot be built (its policy, or the listener settings it takes).
    #[error("route {path:?}: {source}")]
    Policy {
        /// The route (`/` for the default).
        path: String,
        /// Why.
        #[source]
        source: ServerError,
    },
    /// An `[upstream] upgrade_protocols` entry that cannot be used.
    #[error("[upstream] {0}")]
    Upgrade(#[from] epa_config::proxy_rules::UpgradeProtocolError),
    /// Routes that authenticate need a `[policy]` table.
    #[error("the file has no [policy] table, so only anonymous routes are possible")]
    NoPolicy,
    /// `require_client_certificate` on a listener that never asks for a certificate.
    #[error(
        "route {0:?} requires a client certificate but [client_certificates] never asks for one (mode = \"request\")"
    )]
    CertificateNeverRequested(String),
    /// A route's `identity_assertion` that cannot be served.
    #[error(transparent)]
    Assertion(#[from] epa_config::AssertionError),
    /// A route asks for an assertion but the proxy was built without its keys.
    #[error("route {0:?} asks for an identity assertion but the proxy has no signing key")]
    AssertionWithoutKeys(String),
}

/// The route table, a tower `Service`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Router {
    prefixes: Arc<[NormalizedPath]>,
    routes: Arc<[Route]>,
    default: Route,
    /// Per route (same order), whether it requires a client certificate.
    certified: Arc<[bool]>,
    /// The certificate requirement is observed, not enforced (`[client_certificates]
    /// audit_only`).
    certificate_audit_only: bool,
    /// Path spellings refused before routing (`[request_filtering]`).
    filtering: RequestFilteringTable,
}

impl Router {
    /// A table: `routes` by prefix, `default` for paths no prefix covers.
    pub fn new(default: Route, routes: Vec<(NormalizedPath, Route)>) -> Self {
        let (prefixes, routes): (Vec<_>, Vec<_>) = routes.into_iter().unzip();
        Self {
            certified: vec![false; routes.len()].into(),
            prefixes: prefixes.into(),
            routes: routes.into(),
            default,
            certificate_audit_only: false,
            filtering: RequestFilteringTable::default(),
        }
    }

    /// Refuses (400) the path spellings `filtering` does not allow, before any route is chosen.
    #[must_use]
    pub fn with_request_filtering(mut self, filtering: RequestFilteringTable) -> Self {
        self.filtering = filtering;
        self
    }

    /// Requires a valid client certificate on the routes whose flag is set (`certified`, in
    /// the order given to [`Router::new`]; missing flags are false), enforced or only
    /// observed (`audit_only`, as [`epa_hyper::RequireClientCertificateLayer::audit_only`]).
    #[must_use]
    pub fn with_client_certificates(mut self, certified: Vec<bool>, audit_only: bool) -> Self {
        let mut flags = certified;
        flags.resize(self.routes.len(), false);
        self.certified = flags.into();
        self.certificate_audit_only = audit_only;
        self
    }

    /// The table of a configuration file: the `[policy]` table for paths no route covers, and
    /// each `[[route]]` with its own (`RouteTable::policy`). `make_layer` builds one layer
    /// (backend, policy, audit target, trusted proxies...) from a `[policy]` table — usually
    /// [`crate::server::policy_layer`]; it is
    /// called once per protected route, so no two routes share a layer.
    pub fn from_config(
        config: &ServerConfig,
        proxy: &Proxy,
        mut make_layer: impl FnMut(&PolicyTable) -> Result<ExtendedProtectionLayer, ServerError>,
    ) -> Result<Self, RouterError> {
        let prefixes = check_routes(&config.routes)?;
        let base = config.policy.as_ref();
        // The proxy's request rules from the file: trusted proxies (whose Forwarded claims
        // `append` keeps), underscores, and the upgrade protocols (per route below).
        let mut proxy = proxy
            .clone()
            .trusted_proxies(config.listener.trusted_proxies.clone());
        // An invalid deadline never gets here: the listener refuses to start on it.
        if let Ok(deadlines) = config.listener.deadlines() {
            proxy = proxy.body_timeout(deadlines.body);
        }
        let mut global_upgrades = None;
        if let Some(up) = &config.upstream {
            global_upgrades = Some(up.upgrade_protocols()?);
            proxy = proxy.allow_underscores_in_headers(up.allow_underscores_in_headers);
        }
        let proxy_for = |table: Option<&RouteTable>| -> Result<Proxy, RouterError> {
            let own = table
                .map(RouteTable::upgrade_protocols)
                .transpose()?
                .flatten();
            let routed = match own.or_else(|| global_upgrades.clone()) {
                Some(list) => proxy.clone().upgrade_protocols(list),
                None => proxy.clone(),
            };
            // Each route's assertion settings are its own (its audience), so are the values
            // its proxy keeps per login.
            let audience =
                epa_config::assertion::route_audience(config.identity_assertion.as_ref(), table)?;
            let minter = match (audience, proxy.minter()) {
                (Some(aud), Some(m)) => Some(m.for_audience(aud)),
                (Some(_), None) => {
                    let path = table.map_or("/", |t| t.path.as_str());
                    return Err(RouterError::AssertionWithoutKeys(path.to_owned()));
                }
                (None, _) => None,
            };
            Ok(routed.assertion(minter))
        };
        let mut protected =
            |path: &str, table: Option<&RouteTable>| -> Result<Route, RouterError> {
                let base = base.ok_or(RouterError::NoPolicy)?;
                let policy = table.map_or_else(|| base.clone(), |t| t.policy(base));
                let layer = make_layer(&policy).map_err(|source| RouterError::Policy {
                    path: path.to_owned(),
                    source,
                })?;
                let allow = table
                    .map(RouteTable::allow_list)
                    .transpose()?
                    .unwrap_or_default();
                Ok(Route::protected(&layer, proxy_for(table)?, allow))
            };
        let default = if config.listener.negotiate {
            protected("/", None)?
        } else {
            Route::anonymous(proxy_for(None)?)
        };
        let mut routes = Vec::with_capacity(prefixes.len());
        for (prefix, table) in prefixes.into_iter().zip(&config.routes) {
            let route = if table.anonymous {
                Route::anonymous(proxy_for(Some(table))?)
            } else {
                protected(&table.path, Some(table))?
            };
            routes.push((prefix, route));
        }
        let certified: Vec<bool> = config
            .routes
            .iter()
            .map(|r| r.require_client_certificate)
            .collect();
        let cc = &config.client_certificates;
        if let Some(r) = config.routes.iter().find(|r| r.require_client_certificate)
            && cc.effective_mode() == epa_core::client_cert::ClientCertificateMode::Ignore
        {
            return Err(RouterError::CertificateNeverRequested(r.path.clone()));
        }
        Ok(Self::new(default, routes)
            .with_client_certificates(certified, cc.audit_only)
            .with_request_filtering(config.request_filtering))
    }
}

impl<B> Service<Request<B>> for Router
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Every route's service is always ready (the proxy pools, the layer defers to it).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<B>) -> BoxFuture {
        if let Err(refusal) = super::target::check_target(&mut req) {
            tracing::info!(reason = refusal.reason(), method = %ClientText(req.method().as_str()), "route: refused");
            return Box::pin(std::future::ready(Ok(refusal.response())));
        }
        let path = match NormalizedPath::parse(req.uri().path()) {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(reason = "path-not-normalisable", error = %e, path = %ClientText(req.uri().path()), "route: refused");
                return Box::pin(std::future::ready(Ok(text(
                    StatusCode::BAD_REQUEST,
                    "bad request: path cannot be normalised\n",
                ))));
            }
        };
        if let Some(alias) = self.filtering.refuses(&path) {
            tracing::info!(reason = alias.code(), path = %ClientText(req.uri().path()), "route: refused");
            return Box::pin(std::future::ready(Ok(text(
                StatusCode::BAD_REQUEST,
                "bad request: the path is another path's alias\n",
            ))));
        }
        // The upstream sees the path that was routed, never another spelling of it: a
        // spelling the upstream reads differently cannot reach a route this table did not pick.
        let Some(req) = with_path(req, &path) else {
            return Box::pin(std::future::ready(Ok(text(
                StatusCode::BAD_REQUEST,
                "bad request: path cannot be normalised\n",
            ))));
        };
        let (route, certified) = match select_route(&self.prefixes, &path) {
            Some(i) => (
                &self.routes[i],
                self.certified.get(i).copied().unwrap_or(false),
            ),
            None => (&self.default, false),
        };
        // The certificate first: a request without one gets its 403.7 before any Negotiate leg.
        let mut req = req;
        if certified
            && let Err(answer) =
                epa_hyper::client_cert::require_certificate(&mut req, self.certificate_audit_only)
        {
            return Box::pin(std::future::ready(Ok(answer
                .response::<String>()
                .map(super::full))));
        }
        route.clone().call(req)
    }
}

/// `req` with its path replaced by the normalised one (query kept).
fn with_path<B>(req: Request<B>, path: &NormalizedPath) -> Option<Request<B>> {
    let (mut parts, body) = req.into_parts();
    let pq = match parts.uri.query() {
        Some(q) => format!("{}?{q}", path.as_str()),
        None => path.as_str().to_owned(),
    };
    let mut uri = parts.uri.into_parts();
    uri.path_and_query = Some(http::uri::PathAndQuery::try_from(pq).ok()?);
    parts.uri = http::Uri::from_parts(uri).ok()?;
    Some(Request::from_parts(parts, body))
}
