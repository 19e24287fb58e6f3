//! The tower [`Layer`] that runs the HTTP Negotiate / NTLM exchange (RFC 4559) with Extended
//! Protection enforced by [`epa_core::decide()`].
//!
//! Per request:
//! 1. The connection's [`ConnectionContext`](crate::ConnectionContext) (inserted by [`crate::serve_connection`], or by hand
//!    for other stacks) gives the channel facts and this layer's state on the connection.
//!    Without it the layer answers 500: it never guesses a channel. An HTTPS connection without
//!    a server certificate is a configuration error too (500).
//! 2. Under `TrustedProxy` with a proxy list, other peers get 403 (IPv4-mapped IPv6 addresses
//!    compare as IPv4).
//! 3. `Authorization: Negotiate|NTLM <base64>` runs one leg in this layer's exchange on the
//!    connection (created on the first leg; never shared between connections or layers). A
//!    continuation answers 401 with the next token. A completed exchange goes to the decision;
//!    an accept puts [`AuthenticatedUser`](crate::AuthenticatedUser) in the request extensions and calls the inner service.
//! 4. Failures answer 401 with fresh challenges (`WWW-Authenticate: Negotiate`, `NTLM`),
//!    `Content-Length: 0`, never echoing the failed blob; malformed input answers 400 (bad
//!    base64, oversize header or token, two headers, a token out of sequence — .NET's
//!    client-fault class). Any `Authorization` header that does not complete a new exchange
//!    first clears the identity this layer holds for the connection.
//!
//! 5. A request the layer answers itself has its unread body read and discarded first, within
//!    [`BodyDrain`]'s bounds, so that the connection stays open for the next leg; past them the
//!    answer says `Connection: close` (`layer::drain`).
//!
//! The answers themselves (401 with challenges, 400, 403, 500, 503 with `Retry-After`) are
//! chosen in `respond.rs` from typed outcomes. The layer knows nothing of who else wants
//! to see an exchange end: a [`LegObserver`] is told ([`Self::observe`](ExtendedProtectionLayer::observe));
//! the diagnostics page is one. Allow-lists are a layer of their own behind this one
//! ([`crate::authorize::RequireAllowedLayer`]).
//!
//! After a successful exchange the connection stays authenticated for later requests without an
//! `Authorization` header (connection-based authentication, as IIS does by default) — except
//! under `TrustedProxy`, where a proxy pools connections of many clients: there every request
//! authenticates unless [`ExtendedProtectionLayer::persist_identity`] says otherwise.

use crate::authenticator::Authenticator;
use crate::header::Limits;
use crate::respond::{Answer, Reply};
use epa_core::allow::AllowList;
use epa_core::decide::ServerPolicy;
use http::{HeaderValue, Request, Response, header as http_header};
use pin_project_lite::pin_project;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::task::JoinHandle;
use tower_layer::Layer;
use tower_service::Service;

mod config;
mod drain;
mod exchange;
mod observe;
use config::LayerConfig;
pub use drain::BodyDrain;
use exchange::{Begin, LegResult, Outcome};
pub use observe::{LegEnd, LegObserver, LegVerdict, Observed};

/// Builds [`ExtendedProtection`] around a service: the Extended Protection layer.
#[derive(Clone)]
pub struct ExtendedProtectionLayer {
    shared: Arc<LayerConfig>,
}

impl std::fmt::Debug for ExtendedProtectionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtendedProtectionLayer")
            .field("policy", self.shared.policy.policy())
            .field("profile", &self.shared.policy.profile())
            .finish_non_exhaustive()
    }
}

impl ExtendedProtectionLayer {
    /// A layer that authenticates with `authenticator` and decides with `policy`.
    pub fn new(authenticator: impl Authenticator, policy: ServerPolicy) -> Self {
        Self {
            shared: Arc::new(LayerConfig::new(Arc::new(authenticator), policy)),
        }
    }

    /// Every change makes a new layer identity, so that connection state made under the old
    /// settings is never taken for this layer's.
    fn edit(self, f: impl FnOnce(&mut LayerConfig)) -> Self {
        let mut copy = self.shared.reconfigured();
        f(&mut copy);
        copy.derive();
        Self {
            shared: Arc::new(copy),
        }
    }

    /// Sets the limits.
    pub fn limits(self, limits: Limits) -> Self {
        self.edit(|s| s.limits = limits)
    }

    /// How much of an unread request body is read and discarded before the layer answers
    /// itself (a 401 leg), so that the connection survives for the next leg (IIS
    /// `DrainEntityBody`); `None`: never, the answer says `Connection: close`. Default 4 MiB
    /// within 10 s.
    pub fn drain_body(self, drain: Option<BodyDrain>) -> Self {
        self.edit(|s| s.drain = drain)
    }

    /// `TrustedProxy`: accept requests only from these peer addresses (others get 403).
    /// IPv4-mapped IPv6 addresses are compared as IPv4, on both sides.
    pub fn trusted_proxies(self, proxies: Vec<IpAddr>) -> Self {
        self.edit(|s| {
            s.trusted_proxies = Some(proxies.into_iter().map(|ip| ip.to_canonical()).collect())
        })
    }

    /// `TrustedProxy`, beyond IIS: the proxy's own certificate (DER). Clients' bindings are
    /// compared with it, and a mismatch is refused.
    pub fn proxy_certificate(self, der: &[u8]) -> Result<Self, epa_core::cbt::CertificateError> {
        let ep = epa_core::cbt::tls_server_end_point(der)?;
        Ok(self.edit(|s| {
            s.policy = s.policy.clone().with_proxy_binding(ep.binding.clone());
            s.target = s
                .target
                .take()
                .map(|t| t.with_proxy_binding(ep.binding.clone()));
        }))
    }

    /// Audit mode: decide every completed exchange under `target` as well. The response
    /// follows the layer's own policy; where the target would refuse what that policy accepts,
    /// the decision event says `audit = "would-reject"` with the target's reason, and
    /// `epa_audit_would_reject_total` counts it.
    ///
    /// The backend is given the binding whenever either policy needs it, so that the target
    /// is decided on a real observation. The embedded NTLM backend only reports what it saw;
    /// the GSSAPI backend (MIT) refuses a mismatching binding itself, so with it a relayed
    /// credential is refused even when the current policy is `never` — the safe direction.
    pub fn audit(self, target: ServerPolicy) -> Self {
        self.edit(|s| {
            let target = match s.configured_binding.as_ref() {
                Some(b) if s.policy.verifies_proxy_binding() => {
                    target.with_proxy_binding(b.binding().clone())
                }
                _ => target,
            };
            s.target = Some(target);
        })
    }

    /// Whether an authenticated connection stays authenticated for later requests without an
    /// `Authorization` header. Default: yes under `TransportSelected` (IIS's connection-based
    /// authentication), no under `TrustedProxy` (a proxy pools many clients' requests on one
    /// connection; `epa lint` flags turning it on there).
    pub fn persist_identity(self, persist: bool) -> Self {
        self.edit(|s| s.persist = Some(persist))
    }

    /// Require the exchange on every request instead of once per connection
    /// (`persist_identity(false)`).
    pub fn authenticate_every_request(self) -> Self {
        self.persist_identity(false)
    }

    /// Authorization after the decision accepts: a caller on neither `allow_users` nor
    /// `allow_groups` of `allow` gets 403 (empty body, as this layer's body type only has
    /// `Default`; the reason, `user-not-allowed` or `group-not-allowed`, is logged and counted
    /// in [`crate::authorize::AUTHORIZATION_DENIED_TOTAL`]). Checked on every request, also on a
    /// connection that stays authenticated.
    #[deprecated(
        note = "put epa_hyper::authorize::RequireAllowedLayer behind this layer (the route table's allow-list, with its text body)"
    )]
    pub fn allow(self, allow: AllowList) -> Self {
        let allow = (!allow.is_empty()).then(|| Arc::new(allow));
        self.edit(|s| s.allow = allow)
    }

    /// Tells `observer` how each exchange ends ([`LegObserver`]); it may take an exchange over
    /// as a report ([`Observed::Report`]). Replaces the previous observer (default: none).
    pub fn observe(self, observer: impl LegObserver) -> Self {
        let observer: Arc<dyn LegObserver> = Arc::new(observer);
        self.edit(|s| s.observer = observer)
    }
}

impl<S> Layer<S> for ExtendedProtectionLayer {
    type Service = ExtendedProtection<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ExtendedProtection {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// A service behind Extended Protection, made by [`ExtendedProtectionLayer`].
#[derive(Clone)]
pub struct ExtendedProtection<S> {
    inner: S,
    shared: Arc<LayerConfig>,
}

impl<S> ExtendedProtection<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResBody> Service<Request<B>> for ExtendedProtection<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The clone that was driven to readiness serves this request (tower's usual pattern).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let state = match shared.begin(&req) {
            Begin::Done(outcome) => pass_or_reply(&shared, outcome, req, inner),
            Begin::Blocking(job) => match tokio::runtime::Handle::try_current() {
                Ok(handle) => State::Stepping {
                    handle: handle.spawn_blocking(move || job.run()),
                    pending: Some(Pending { req, inner, shared }),
                },
                // No runtime to lend a blocking thread: run the leg here.
                Err(_) => {
                    let outcome = shared.finish(job.run());
                    pass_or_reply(&shared, outcome, req, inner)
                }
            },
        };
        ResponseFuture { state }
    }
}

fn pass_or_reply<S, B, ResBody>(
    shared: &LayerConfig,
    outcome: Outcome,
    mut req: Request<B>,
    mut inner: S,
) -> State<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    match outcome {
        Outcome::Pass { user, .. }
            if shared.allow.as_ref().is_some_and(|allow| {
                crate::authorize::check(allow, Some(&user), req.uri().path()).is_err()
            }) =>
        {
            replied(shared, Answer::NotAllowed.reply(&shared.challenges), req)
        }
        Outcome::Pass { user, token } => {
            req.extensions_mut().insert(user);
            State::Inner {
                future: inner.call(req),
                token,
            }
        }
        Outcome::Respond(reply) => replied(shared, reply, req),
        Outcome::Report(extensions, token) => {
            req.extensions_mut().extend(*extensions);
            State::Inner {
                future: inner.call(req),
                token,
            }
        }
    }
}

/// The layer's own answer to `req`, after its unread body (see [`drain`]).
fn replied<S, B>(shared: &LayerConfig, reply: Reply, req: Request<B>) -> State<S, B>
where
    S: Service<Request<B>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    match drain::plan(req.into_body(), shared.drain) {
        Ok(None) => State::Reply {
            reply: Some(reply),
            close: false,
        },
        Ok(Some(draining)) => State::Draining {
            draining,
            reply: Some(reply),
        },
        Err(()) => State::Reply {
            reply: Some(reply),
            close: true,
        },
    }
}

/// A request waiting for a blocking leg.
struct Pending<S, B> {
    req: Request<B>,
    inner: S,
    shared: Arc<LayerConfig>,
}

pin_project! {
    /// The response future of [`ExtendedProtection`].
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        // The layer answers itself (`close`: the body was not read).
        Reply { reply: Option<Reply>, close: bool },
        // The layer answers itself once the unread body is drained.
        Draining { draining: drain::Draining, reply: Option<Reply> },
        // A leg runs on a blocking thread.
        Stepping { handle: JoinHandle<LegResult>, pending: Option<Pending<S, B>> },
        // The inner service answers; `token` goes back in `WWW-Authenticate` (mutual auth).
        Inner { #[pin] future: S::Future, token: Option<HeaderValue> },
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().state.project() {
                StateProj::Reply { reply, close } => {
                    let reply = reply.take().unwrap_or_else(Reply::internal);
                    let response = reply.into_response();
                    return Poll::Ready(Ok(if *close {
                        drain::closing(response)
                    } else {
                        response
                    }));
                }
                StateProj::Draining { draining, reply } => {
                    let drained = ready!(draining.as_mut().poll(cx));
                    if !drained {
                        tracing::debug!(target: "epa", "request body not drained within the bounds: answering with Connection: close");
                    }
                    State::Reply {
                        reply: reply.take(),
                        close: !drained,
                    }
                }
                StateProj::Stepping { handle, pending } => {
                    let joined = ready!(Pin::new(handle).poll(cx));
                    let Some(Pending { req, inner, shared }) = pending.take() else {
                        return Poll::Ready(Ok(Reply::internal().into_response()));
                    };
                    let outcome = match joined {
                        Ok(result) => shared.finish(result),
                        // The backend panicked: the exchange is gone with it; never an accept.
                        Err(_) => {
                            tracing::error!(target: "epa", "an authentication leg panicked; answered 500");
                            shared.respond(Answer::Internal)
                        }
                    };
                    pass_or_reply(&shared, outcome, req, inner)
                }
                StateProj::Inner { future, token } => {
                    let mut response = ready!(future.poll(cx))?;
                    // Mutual authentication: the last token goes back on the success (RFC 4559 §5).
                    if let Some(v) = token.take() {
                        response
                            .headers_mut()
                            .append(http_header::WWW_AUTHENTICATE, v);
                    }
                    return Poll::Ready(Ok(response));
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}

/// The peer address with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) folded to IPv4, so that
/// allow-lists and per-address limits see one spelling of one client.
/// (`IpAddr::to_canonical`.)
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}
