//! The per-route requirement: [`RequireClientCertificateLayer`] makes
//! [`RequireClientCertificate`], whose response future is [`ResponseFuture`] (no boxing).

use super::VerifiedCertificate;
use crate::connection::ConnectionContext;
use crate::respond;
use crate::telemetry::CertificateGateEvent;
use epa_core::audit::route_outcome_audited;
use epa_core::client_cert::{CertificateRefusal, CertificateStatus, RouteOutcome};
use epa_core::path::NormalizedPath;
use http::{Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Requires a valid client certificate on the routes it wraps (the per-route half of
/// `request` mode): 403 with the IIS sub-status and a JSON reason otherwise; the verified
/// certificate is put in the request extensions as a [`VerifiedCertificate`].
///
/// [`RequireClientCertificateLayer::audit_only`] observes the requirement without enforcing it
/// (enforce "optional", observe "required"): every request passes, and each one the
/// requirement would have refused is logged (`audit = "would-reject"`) and counted
/// (`epa_audit_client_certificate_would_refuse_total`).
///
/// [`RequireClientCertificateLayer::under`] scopes the requirement to path prefixes, matched on
/// the normalised path ([`epa_core::path`]: `//cert`, `/%63ert`, `/x/../cert`, `/Cert` and
/// `/cert;a` are all under `/cert`); a request path that cannot be normalised is answered 400.
#[derive(Debug, Clone, Default)]
pub struct RequireClientCertificateLayer {
    audit_only: bool,
    under: Option<Arc<[NormalizedPath]>>,
}

impl RequireClientCertificateLayer {
    /// Enforce the requirement.
    pub const fn enforced() -> Self {
        Self {
            audit_only: false,
            under: None,
        }
    }

    /// Observe the requirement, enforce nothing.
    pub const fn audit_only() -> Self {
        Self {
            audit_only: true,
            under: None,
        }
    }

    /// Requires the certificate only at these path prefixes and below them (segment-wise,
    /// case-insensitive, on the normalised path); other paths pass untouched, and a path that
    /// cannot be normalised is answered 400 whatever the prefixes.
    #[must_use]
    pub fn under(mut self, prefixes: impl IntoIterator<Item = NormalizedPath>) -> Self {
        self.under = Some(prefixes.into_iter().collect());
        self
    }
}

impl<S> Layer<S> for RequireClientCertificateLayer {
    type Service = RequireClientCertificate<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireClientCertificate {
            inner,
            audit_only: self.audit_only,
            under: self.under.clone(),
        }
    }
}

/// The service [`RequireClientCertificateLayer`] makes.
#[derive(Debug, Clone)]
pub struct RequireClientCertificate<S> {
    inner: S,
    audit_only: bool,
    under: Option<Arc<[NormalizedPath]>>,
}

impl<S> RequireClientCertificate<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

pub use crate::respond::bad_request_path;

pin_project_lite::pin_project! {
    /// The response future of [`RequireClientCertificate`]: the inner service's, or an
    /// answer made by the layer (403, 400, 500).
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner { #[pin] future: F },
        Answer { response: Option<Response<B>> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    fn answer(response: Response<B>) -> Self {
        Self {
            kind: Kind::Answer {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            // Polled again after it answered: it never answers twice.
            KindProj::Answer { response } => response
                .take()
                .map_or(Poll::Pending, |r| Poll::Ready(Ok(r))),
        }
    }
}

impl<S, B, ResBody> Service<Request<B>> for RequireClientCertificate<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if let Some(prefixes) = &self.under {
            match NormalizedPath::parse(req.uri().path()) {
                Err(e) => {
                    tracing::info!(target: "epa", decision = "reject", reason = "bad-request-path", "request path refused: {e}");
                    return ResponseFuture::answer(respond::bad_request_path(&e));
                }
                Ok(path) if !prefixes.iter().any(|p| path.starts_with_segments(p)) => {
                    return ResponseFuture {
                        kind: Kind::Inner {
                            future: self.inner.call(req),
                        },
                    };
                }
                Ok(_) => {}
            }
        }
        match require_certificate(&mut req, self.audit_only) {
            Ok(()) => ResponseFuture {
                kind: Kind::Inner {
                    future: self.inner.call(req),
                },
            },
            Err(refusal) => ResponseFuture::answer(refusal.response()),
        }
    }
}

/// A request the certificate requirement refused ([`require_certificate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateGateRefusal {
    /// No valid certificate: 403 with the IIS sub-status.
    Refused(CertificateRefusal),
    /// The connection was not served by this crate (no [`ConnectionContext`]): 500.
    NoConnectionContext,
}

impl CertificateGateRefusal {
    /// The answer: 403 with the JSON body of `respond::refusal_body`, or an empty 500.
    pub fn response<B: From<String>>(self) -> Response<B> {
        match self {
            Self::Refused(refusal) => respond::certificate_refused(refusal),
            Self::NoConnectionContext => respond::no_connection_context(),
        }
    }
}

/// The requirement on one request: `Ok` to pass it on (the verified certificate then in its
/// extensions as a [`VerifiedCertificate`]), or why not. Logs and counts as
/// [`RequireClientCertificate`] says.
pub fn require_certificate<B>(
    req: &mut Request<B>,
    audit_only: bool,
) -> Result<(), CertificateGateRefusal> {
    let Some(context) = req.extensions().get::<ConnectionContext>() else {
        tracing::error!(target: "epa", "no ConnectionContext in the request: serve connections with epa_hyper::serve_connection");
        return Err(CertificateGateRefusal::NoConnectionContext);
    };
    let facts = context.facts();
    let (status, certificate) = match &facts.client_certificate {
        Some(p) => (p.status, p.certificate.clone()),
        None => (CertificateStatus::NotPresented, None),
    };
    let (enforced, would_refuse) = route_outcome_audited(!audit_only, true, status);
    let subject = certificate.as_ref().map(|c| c.subject.as_str());
    if let Some(refusal) = would_refuse {
        CertificateGateEvent::NotEnforced(refusal).emit(facts.peer, subject);
    }
    match enforced {
        RouteOutcome::Allow => {
            if let Some(c) = certificate.filter(|_| status == CertificateStatus::Valid) {
                req.extensions_mut().insert(VerifiedCertificate::new(c));
            }
            Ok(())
        }
        RouteOutcome::Forbid(refusal) => {
            CertificateGateEvent::Refused(refusal).emit(facts.peer, subject);
            Err(CertificateGateRefusal::Refused(refusal))
        }
    }
}
