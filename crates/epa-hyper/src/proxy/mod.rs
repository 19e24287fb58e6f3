//! A reverse proxy behind Extended Protection: requests that the layer authenticated are
//! forwarded to one upstream with identity headers, per-route policies choose who gets there.
//!
//! * [`upstream`]: the pooled client (hyper-util) to `http://` or `unix:` upstreams, deadlines;
//! * [`headers`]: hop-by-hop removal (RFC 9110 §7.6.1), identity headers, `Forwarded`
//!   (RFC 7239) and `X-Forwarded-*`;
//! * [`forward`]: the [`Proxy`] service (streams bodies both ways, never buffers them);
//! * [`idle`]: the upstream read-idle deadline on response bodies (`proxy_read_timeout`);
//! * [`upgrade`]: WebSocket / `Upgrade` passthrough after authentication;
//! * [`route`]: the [`Router`] that picks a route's own [`crate::ExtendedProtectionLayer`];
//! * [`target`]: `CONNECT` (405) and `Host` (400 when missing, repeated or invalid) first;
//! * [`reload`]: [`Swappable`], the application replaced on SIGHUP without dropping connections.

pub mod forward;
pub mod headers;
pub mod idle;
pub mod reload;
pub mod route;
pub mod target;
pub mod upgrade;
pub mod upstream;

pub use forward::Proxy;
pub use headers::IdentityHeaders;
pub use reload::{SwapHandle, Swappable};
pub use route::{Route, Router};
pub use upstream::{Upstream, UpstreamError, UpstreamFailure};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;

/// Errors of bodies in flight.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the proxy produces (streamed from the upstream, or a short
/// error text).
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// Counter name (see [`crate::telemetry::metrics`]).
pub use crate::telemetry::metrics::UPSTREAM_ERRORS_TOTAL;

/// A body of owned bytes (answers the proxy or a gate before it makes).
pub(crate) fn full(body: String) -> ProxyBody {
    use http_body_util::BodyExt as _;
    http_body_util::Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A short text response (errors produced by the proxy itself).
pub(crate) fn text(status: http::StatusCode, body: &'static str) -> http::Response<ProxyBody> {
    use http_body_util::BodyExt as _;
    let mut r = http::Response::new(
        http_body_util::Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
