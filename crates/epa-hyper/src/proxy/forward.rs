//! The [`Proxy`] service: one request in, the same request (headers rewritten) to the
//! upstream, its response streamed back. Bodies are never collected: a 10 MB upload or
//! download holds only what hyper has in flight.

use super::headers::{IdentityHeaders, Origin, prepare_request, prepare_response};
use super::upstream::{Upstream, UpstreamFailure};
use super::{BoxError, ProxyBody, UPSTREAM_ERRORS_TOTAL, text};
use crate::connection::{AuthenticatedUser, ConnectionContext};
use crate::telemetry::ClientText;
use bytes::Bytes;
use epa_core::client_cert::CertificateStatus;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The reverse proxy, a tower `Service`. Clone freely (one `Arc`).
#[derive(Clone, Debug)]
pub struct Proxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    upstream: Upstream,
    names: IdentityHeaders,
}

impl Proxy {
    /// A proxy to `upstream` that names the identity headers `names`.
    pub fn new(upstream: Upstream, names: IdentityHeaders) -> Self {
        Self {
            inner: Arc::new(Inner { upstream, names }),
        }
    }
}

impl<B> tower_service::Service<Request<B>> for Proxy
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { Ok(inner.forward(req).await) })
    }
}

fn fail(reason: &'static str) {
    metrics::counter!(UPSTREAM_ERRORS_TOTAL, "reason" => reason).increment(1);
}

impl Inner {
    async fn forward<B>(&self, mut req: Request<B>) -> Response<ProxyBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // No connection context: we cannot say who the peer is. Never guess.
        let Some(context) = req.extensions().get::<ConnectionContext>().cloned() else {
            tracing::error!(
                reason = "no-connection-context",
                "proxy: request without a ConnectionContext"
            );
            return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n");
        };
        let user = req.extensions().get::<AuthenticatedUser>().cloned();
        let facts = context.facts();
        let certificate = facts
            .client_certificate
            .as_ref()
            .filter(|p| p.status == CertificateStatus::Valid)
            .and_then(|p| p.certificate.clone());
        // An upgrade is forwarded only for an authenticated caller.
        let upgrade = user.is_some() && super::upgrade::is_upgrade(req.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let hold = req
            .extensions()
            .get::<crate::server::ConnectionHold>()
            .cloned();
        let origin = Origin {
            facts,
            user: user.as_deref(),
            certificate: certificate.as_deref(),
        };
        if let Err(e) = prepare_request(req.headers_mut(), &self.names, origin, upgrade) {
            fail("identity-header-value");
            tracing::error!(
                reason = "identity-header-value",
                header = %e.header,
                user = %ClientText(user.as_ref().map_or("", |u| u.identity.principal.as_str())),
                "proxy: refused to forward an identity the header cannot carry"
            );
            return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n");
        }
        let uri = match self.upstream.uri_for(req.uri()) {
            Ok(u) => u,
            Err(_) => return text(StatusCode::BAD_REQUEST, "bad request target\n"),
        };
        *req.uri_mut() = uri;
        *req.version_mut() = http::Version::HTTP_11;
        let req = req.map(|b| b.map_err(Into::into).boxed_unsync());
        let mut resp = match self.upstream.send(req).await {
            Ok(r) => r,
            Err(e) => return self.failure(&e),
        };
        let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
        if switching {
            match client_upgrade {
                Some(client) => {
                    let upstream = hyper::upgrade::on(&mut resp);
                    // The connection's places under the connection limits go with the splice.
                    tokio::spawn(crate::server::hold_while(
                        hold,
                        super::upgrade::splice(client, upstream, self.upstream.upgrade_idle()),
                    ));
                }
                // 101 to a request we did not send as an upgrade: the upstream is broken.
                None => return self.failure(&UpstreamFailure::Protocol("unexpected 101".into())),
            }
        }
        prepare_response(resp.headers_mut(), switching);
        let idle = self.upstream.read_idle();
        resp.map(|b| super::idle::ReadIdle::new(b, idle).boxed_unsync())
    }

    fn failure(&self, e: &UpstreamFailure) -> Response<ProxyBody> {
        let reason = e.reason();
        fail(reason);
        let source = std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_default();
        tracing::warn!(reason, upstream = ?self.upstream, error = %e, source = %source, "proxy: upstream failed");
        let status = e.status();
        text(
            status,
            if status == StatusCode::GATEWAY_TIMEOUT {
                "upstream timed out\n"
            } else {
                "upstream unavailable\n"
            },
        )
    }
}
