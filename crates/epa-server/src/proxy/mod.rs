//! A reverse proxy behind Extended Protection: requests that the layer authenticated are
//! forwarded to one upstream with identity headers, per-route policies choose who gets there.
//!
//! The request's path through it, in phases (each a private module):
//!
//! 1. `target`: `CONNECT` (405) and `Host` (400 when missing, repeated or invalid) first;
//! 2. `route`: the [`Router`] — request filtering, the route by longest normalised prefix, its
//!    own [`epa_hyper::ExtendedProtectionLayer`], the allow-list;
//! 3. `headers`: what the upstream sees — hop-by-hop removal (RFC 9110 §7.6.1), the client's
//!    identity-header copies removed and ours set ([`IdentityHeaders`]), `Forwarded` (RFC 7239)
//!    and `X-Forwarded-*`;
//! 4. `forward`: the [`Proxy`] service (streams bodies both ways, never buffers them);
//! 5. `upstream`: the pooled client ([`Upstream`]) to `http://`, `https://` (pinned CA) or
//!    `unix:` upstreams, with its deadlines and pool sizes from
//!    [`epa_config::UpstreamSettings`];
//! 6. `idle`: the read-idle deadline on request and response bodies; `upgrade`: WebSocket /
//!    `Upgrade` passthrough after authentication (never h2c).

mod forward;
mod headers;
mod idle;
mod route;
mod target;
mod upgrade;
mod upstream;

pub use forward::Proxy;
pub use headers::{IdentityHeaders, IdentityValueError};
pub use route::{Route, Router, RouterError};
pub use upstream::{Upstream, UpstreamError, UpstreamFailure};

/// The phases' entry points for the fuzz targets; not part of the API.
#[doc(hidden)]
pub mod internal {
    pub use super::headers::{Origin, RequestRules, prepare_request};
    pub use super::target::check_target;
    pub use super::upgrade::allowed_upgrade;
}

use bytes::Bytes;

/// Errors of bodies in flight, and the body of every response the proxy produces (streamed
/// from the upstream, or a short error text): `epa_hyper::body`'s.
pub use epa_hyper::body::{BoxError, ProxyBody};

/// Counter name (see [`epa_hyper::telemetry::metrics`]).
pub use epa_hyper::telemetry::metrics::UPSTREAM_ERRORS_TOTAL;

pub(crate) use epa_hyper::body::full;

/// A short text response (errors produced by the proxy itself).
pub(crate) fn text(status: http::StatusCode, body: &'static str) -> http::Response<ProxyBody> {
    let mut r = http::Response::new(full(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
