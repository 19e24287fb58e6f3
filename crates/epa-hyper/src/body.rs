//! The body type of every answer the stack makes itself or streams through (the diagnostics
//! page, the proxy in `epa-server`).

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;

/// Errors of bodies in flight.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed response body: streamed from an upstream, or a short text.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// A body of owned bytes.
pub fn full(body: impl Into<Bytes>) -> ProxyBody {
    use http_body_util::BodyExt as _;
    http_body_util::Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}
