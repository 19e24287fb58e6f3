//! The tower [`Layer`] that runs the HTTP Negotiate / NTLM exchange (RFC 4559) with Extended
//! Protection enforced by [`epa_core::decide`].
//!
//! Per request:
//! 1. The connection's [`ConnectionContext`] (inserted by [`crate::serve_connection`], or by hand
//!    for other stacks) gives the channel facts and the connection's security context. Without
//!    it the layer answers 500: it never guesses a channel.
//! 2. Under `TrustedProxy` with a proxy list, other peers get 403.
//! 3. `Authorization: Negotiate|NTLM <base64>` runs one leg in the connection's context (created
//!    on the first leg; never shared between connections). A continuation answers 401 with the
//!    next token. A completed exchange goes to the decision; an accept puts
//!    [`AuthenticatedUser`] in the request extensions and calls the inner service.
//! 4. Failures answer 401 with fresh challenges (`WWW-Authenticate: Negotiate`, `NTLM`),
//!    `Content-Length: 0`, never echoing the failed blob; malformed input answers 400 (bad
//!    base64, oversize header or token, a token out of sequence — .NET's client-fault class).
//!
//! After a successful exchange the connection stays authenticated for later requests without an
//! `Authorization` header (connection-based authentication, as IIS does by default); turn that
//! off with [`ExtendedProtectionLayer::authenticate_every_request`].

use crate::authenticator::{
    AuthError, Authenticator, Completion, ExpectedBindings, Identity, Scheme, SecurityContext, Step,
};
use crate::tls::ChannelFacts;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use epa_core::audit::decide_audited;
use epa_core::decide::{
    ClientServiceName, Decision, Mechanism, RequestFacts, ServerPolicy, Transport,
};
use epa_core::policy::{PolicyEnforcement, ProtectionScenario};
use http::{HeaderValue, Request, Response, StatusCode, header};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Size and leg limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest `Authorization` header value accepted, in bytes (default 64 KiB: large
    /// Kerberos tickets with many group SIDs exceed http.sys' 16 KiB default).
    pub max_header_bytes: usize,
    /// Most legs one exchange may take (default 4; NTLM takes 2, Kerberos 1–2).
    pub max_legs: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 64 * 1024,
            max_legs: 4,
        }
    }
}

/// The authenticated caller, placed in the request extensions. A cheap handle (one `Arc`), so
/// that authenticated keep-alive requests do not copy the identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedUser(Arc<Authenticated>);

impl std::ops::Deref for AuthenticatedUser {
    type Target = Authenticated;
    fn deref(&self) -> &Authenticated {
        &self.0
    }
}

/// What [`AuthenticatedUser`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// User and domain or realm.
    pub identity: Identity,
    /// NTLM or Kerberos.
    pub mechanism: Mechanism,
    /// The decision's service name (.NET `HttpListenerRequest.ServiceName`).
    pub service_name: ClientServiceName,
    /// The decision's reason code (e.g. `binding-verified`).
    pub reason: &'static str,
}

/// One connection's state: its facts and its authentication state.
#[derive(Clone)]
pub struct ConnectionContext {
    facts: Arc<ChannelFacts>,
    auth: Arc<Mutex<ConnectionAuth>>,
}

impl std::fmt::Debug for ConnectionContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionContext")
            .field("facts", &self.facts)
            .finish_non_exhaustive()
    }
}

impl ConnectionContext {
    /// A fresh context for a new connection. Create exactly one per connection.
    pub fn new(facts: ChannelFacts) -> Self {
        Self {
            facts: Arc::new(facts),
            auth: Arc::new(Mutex::new(ConnectionAuth::default())),
        }
    }

    /// The connection's facts.
    pub fn facts(&self) -> &ChannelFacts {
        &self.facts
    }

    /// When the half-finished authentication exchange on this connection started, if one is
    /// pending (a server closes such a connection once its exchange deadline passes).
    pub fn pending_exchange_since(&self) -> Option<std::time::Instant> {
        self.auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .exchange
            .as_ref()
            .map(|e| e.started)
    }
}

#[derive(Default)]
struct ConnectionAuth {
    exchange: Option<Exchange>,
    authenticated: Option<AuthenticatedUser>,
}

struct Exchange {
    scheme: Scheme,
    context: Box<dyn SecurityContext>,
    legs: u32,
    started: std::time::Instant,
}

struct Shared {
    authenticator: Arc<dyn Authenticator>,
    policy: ServerPolicy,
    target: Option<ServerPolicy>,
    limits: Limits,
    trusted_proxies: Option<Vec<IpAddr>>,
    proxy_binding: Option<ExpectedBindings>,
    persist: bool,
    challenges: Vec<HeaderValue>,
}

/// The Extended Protection layer.
#[derive(Clone)]
pub struct ExtendedProtectionLayer {
    shared: Arc<Shared>,
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
        let challenges = authenticator
            .schemes()
            .iter()
            .map(|s| HeaderValue::from_static(s.name()))
            .collect();
        Self {
            shared: Arc::new(Shared {
                authenticator: Arc::new(authenticator),
                policy,
                target: None,
                limits: Limits::default(),
                trusted_proxies: None,
                proxy_binding: None,
                persist: true,
                challenges,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Shared)) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => f(shared),
            None => {
                // Cloned already: rebuild from a copy of the settings.
                let s = &self.shared;
                let mut copy = Shared {
                    authenticator: s.authenticator.clone(),
                    policy: s.policy.clone(),
                    target: s.target.clone(),
                    limits: s.limits,
                    trusted_proxies: s.trusted_proxies.clone(),
                    proxy_binding: s.proxy_binding.clone(),
                    persist: s.persist,
                    challenges: s.challenges.clone(),
                };
                f(&mut copy);
                self.shared = Arc::new(copy);
            }
        }
        self
    }

    /// Sets the limits.
    pub fn limits(self, limits: Limits) -> Self {
        self.edit(|s| s.limits = limits)
    }

    /// `TrustedProxy`: accept requests only from these peer addresses (others get 403).
    pub fn trusted_proxies(self, proxies: Vec<IpAddr>) -> Self {
        self.edit(|s| s.trusted_proxies = Some(proxies))
    }

    /// `TrustedProxy`, beyond IIS: the proxy's own certificate (DER). Clients' bindings are
    /// compared with it, and a mismatch is refused.
    pub fn proxy_certificate(self, der: &[u8]) -> Result<Self, epa_core::cbt::CertificateError> {
        let ep = epa_core::cbt::tls_server_end_point(der)?;
        Ok(self.edit(|s| {
            s.proxy_binding = Some(ExpectedBindings::new(ep.binding));
            s.policy = s.policy.clone().with_proxy_binding_verification();
            s.target = s
                .target
                .take()
                .map(ServerPolicy::with_proxy_binding_verification);
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
            let target = if s.policy.verifies_proxy_binding() {
                target.with_proxy_binding_verification()
            } else {
                target
            };
            s.target = Some(target);
        })
    }

    /// Require the exchange on every request instead of once per connection.
    pub fn authenticate_every_request(self) -> Self {
        self.edit(|s| s.persist = false)
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

/// The service produced by [`ExtendedProtectionLayer`].
#[derive(Clone)]
pub struct ExtendedProtection<S> {
    inner: S,
    shared: Arc<Shared>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for ExtendedProtection<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The clone that was driven to readiness serves this request (tower's usual pattern).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let outcome = shared.authenticate(&req);
        Box::pin(async move {
            match outcome {
                Outcome::Pass { user, token } => {
                    req.extensions_mut().insert(user);
                    let mut response = inner.call(req).await?;
                    // Mutual authentication: the last token goes back on the success (RFC 4559 §5).
                    if let Some((scheme, token)) = token
                        && let Ok(v) = HeaderValue::from_str(&format!(
                            "{} {}",
                            scheme.name(),
                            STANDARD.encode(token)
                        ))
                    {
                        response.headers_mut().append(header::WWW_AUTHENTICATE, v);
                    }
                    Ok(response)
                }
                Outcome::Respond(parts) => Ok(parts.into_response()),
            }
        })
    }
}

enum Outcome {
    Pass {
        user: AuthenticatedUser,
        token: Option<(Scheme, Vec<u8>)>,
    },
    Respond(Reply),
}

/// A response the layer makes itself: empty body, `Content-Length: 0`.
struct Reply {
    status: StatusCode,
    www_authenticate: Vec<HeaderValue>,
}

impl Reply {
    fn into_response<ResBody: Default>(self) -> Response<ResBody> {
        let mut r = Response::new(ResBody::default());
        *r.status_mut() = self.status;
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        for v in self.www_authenticate {
            r.headers_mut().append(header::WWW_AUTHENTICATE, v);
        }
        r
    }
}

impl Shared {
    fn plain(&self, status: StatusCode) -> Outcome {
        Outcome::Respond(Reply {
            status,
            www_authenticate: Vec::new(),
        })
    }

    fn challenge(&self) -> Outcome {
        Outcome::Respond(Reply {
            status: StatusCode::UNAUTHORIZED,
            www_authenticate: self.challenges.clone(),
        })
    }

    /// The binding the backend compares against: the current policy's, or in audit mode the
    /// target's when the current policy needs none.
    fn expected(&self, facts: &ChannelFacts) -> Option<ExpectedBindings> {
        self.expected_under(&self.policy, facts).or_else(|| {
            self.target
                .as_ref()
                .and_then(|t| self.expected_under(t, facts))
        })
    }

    /// The binding the backend compares against under `policy` (reference §4.3: none under
    /// `Never`, on plain HTTP, or under `TrustedProxy` unless the proxy's certificate is named).
    fn expected_under(
        &self,
        policy: &ServerPolicy,
        facts: &ChannelFacts,
    ) -> Option<ExpectedBindings> {
        let policy = policy.policy();
        if policy.enforcement() == PolicyEnforcement::Never {
            return None;
        }
        match (policy.scenario(), facts.transport) {
            (ProtectionScenario::TrustedProxy, _) => self.proxy_binding.clone(),
            (ProtectionScenario::TransportSelected, Transport::Https) => {
                match policy.custom_channel_binding() {
                    Some(custom) => Some(ExpectedBindings::new(custom.clone())),
                    None => facts.server_end_point.clone(),
                }
            }
            (ProtectionScenario::TransportSelected, Transport::Http) => None,
        }
    }

    fn authenticate<B>(&self, req: &Request<B>) -> Outcome {
        let Some(conn) = req.extensions().get::<ConnectionContext>() else {
            tracing::error!(target: "epa", "no ConnectionContext in the request: serve connections with epa_hyper::serve_connection or insert one per connection");
            return self.plain(StatusCode::INTERNAL_SERVER_ERROR);
        };
        let facts = conn.facts();
        if req.version() >= http::Version::HTTP_2 {
            // Connection-oriented authentication cannot work over a multiplexed connection.
            return self.plain(StatusCode::HTTP_VERSION_NOT_SUPPORTED);
        }
        if self.policy.policy().scenario() == ProtectionScenario::TrustedProxy
            && let Some(proxies) = &self.trusted_proxies
            && !proxies.contains(&facts.peer.ip())
        {
            tracing::warn!(target: "epa", peer = %facts.peer, "request from an address that is not a trusted proxy");
            return self.plain(StatusCode::FORBIDDEN);
        }
        let mut auth = conn
            .auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);

        let header_value = match req.headers().get_all(header::AUTHORIZATION).iter().count() {
            0 => None,
            1 => req.headers().get(header::AUTHORIZATION),
            _ => return self.plain(StatusCode::BAD_REQUEST),
        };
        let Some(value) = header_value else {
            return match (&auth.authenticated, self.persist) {
                (Some(user), true) => Outcome::Pass {
                    user: user.clone(),
                    token: None,
                },
                _ => self.challenge(),
            };
        };
        if value.len() > self.limits.max_header_bytes {
            auth.exchange = None;
            return self.plain(StatusCode::BAD_REQUEST);
        }
        let Ok(text) = value.to_str() else {
            auth.exchange = None;
            return self.plain(StatusCode::BAD_REQUEST);
        };
        let (scheme_name, token_text) = match text.trim().split_once(' ') {
            Some((s, t)) => (s, t.trim()),
            None => (text.trim(), ""),
        };
        let Some(scheme) =
            Scheme::parse(scheme_name).filter(|s| self.challenges.iter().any(|c| c == s.name()))
        else {
            // Basic, Digest, Bearer...: not ours. Offer what we accept.
            return self.challenge();
        };
        if token_text.is_empty() {
            return self.challenge();
        }
        let Ok(token) = STANDARD.decode(token_text) else {
            auth.exchange = None;
            return self.plain(StatusCode::BAD_REQUEST);
        };

        // A new Authorization restarts the connection's identity (re-authentication).
        auth.authenticated = None;
        let exchange = match auth.exchange.take() {
            Some(ex) if ex.scheme == scheme => ex,
            _ => Exchange {
                scheme,
                context: self
                    .authenticator
                    .new_context_for(canonical_ip(facts.peer.ip())),
                legs: 0,
                started: std::time::Instant::now(),
            },
        };
        let mut exchange = exchange;
        exchange.legs += 1;
        if exchange.legs > self.limits.max_legs {
            tracing::info!(target: "epa", peer = %facts.peer, legs = exchange.legs, "too many legs; exchange reset");
            return self.challenge();
        }
        let expected = self.expected(facts);
        match exchange.context.step(scheme, &token, expected.as_ref()) {
            Ok(Step::Continue(next)) => {
                auth.exchange = Some(exchange);
                match HeaderValue::from_str(&format!("{} {}", scheme.name(), STANDARD.encode(next)))
                {
                    Ok(v) => Outcome::Respond(Reply {
                        status: StatusCode::UNAUTHORIZED,
                        www_authenticate: vec![v],
                    }),
                    Err(_) => self.plain(StatusCode::INTERNAL_SERVER_ERROR),
                }
            }
            Ok(Step::Complete(done)) => {
                crate::telemetry::authentication_time(done.mechanism, exchange.started.elapsed());
                let outcome = self.decide(facts, scheme, done);
                if let Outcome::Pass { user, .. } = &outcome
                    && self.persist
                {
                    auth.authenticated = Some(user.clone());
                }
                outcome
            }
            Err(AuthError::BadBindings {
                mechanism,
                observation,
            }) => {
                // The package refused the binding before completing: decide with a mismatch so
                // the refusal carries the decision's reason. There is no identity: never accept.
                let request_facts = RequestFacts {
                    transport: facts.transport,
                    mechanism,
                    server_supports_ep: true,
                    channel_binding: observation,
                    client_spn: ClientServiceName::Missing,
                };
                let audited = decide_audited(&self.policy, self.target.as_ref(), &request_facts);
                // Under audit the binding may have been handed over for the target alone; the
                // refusal is then the target's.
                let reason = match &audited.target {
                    Some(t) if audited.enforced.is_accept() => t.reason(),
                    _ => audited.enforced.reason(),
                };
                crate::telemetry::decision(false, reason.code(), mechanism, observation, None);
                tracing::info!(
                    target: "epa",
                    decision = "reject",
                    reason = reason.code(),
                    status = 401,
                    mechanism = mechanism.name(),
                    channel_binding = observation.name(),
                    peer = %facts.peer,
                    audit = self.target.as_ref().map(|_| "pass"),
                    audit_reason = audited.target.as_ref().map(|t| t.reason().code()),
                    "{}",
                    reason.message()
                );
                self.challenge()
            }
            Err(e) => {
                log_failure(facts, &e);
                match e {
                    AuthError::InvalidToken(_) => self.plain(StatusCode::BAD_REQUEST),
                    _ => self.challenge(),
                }
            }
        }
    }

    fn decide(&self, facts: &ChannelFacts, scheme: Scheme, done: Completion) -> Outcome {
        let request_facts = RequestFacts {
            transport: facts.transport,
            mechanism: done.mechanism,
            server_supports_ep: done.supports_extended_protection,
            channel_binding: done.channel_binding,
            client_spn: done.client_spn.clone(),
        };
        let audited = decide_audited(&self.policy, self.target.as_ref(), &request_facts);
        let would_reject = audited.would_reject().map(|r| r.code());
        let decision = audited.enforced;
        let reason = decision.reason();
        crate::telemetry::decision(
            decision.is_accept(),
            reason.code(),
            done.mechanism,
            done.channel_binding,
            would_reject,
        );
        tracing::info!(
            target: "epa",
            decision = if decision.is_accept() { "accept" } else { "reject" },
            reason = reason.code(),
            status = decision.status(),
            mechanism = done.mechanism.name(),
            channel_binding = done.channel_binding.name(),
            client_spn = done.client_spn.as_option(),
            peer = %facts.peer,
            principal = %done.identity,
            audit = self.target.as_ref().map(|_| if would_reject.is_some() { "would-reject" } else { "pass" }),
            audit_reason = audited.target.as_ref().map(|t| t.reason().code()),
            "{}",
            reason.message()
        );
        match decision {
            Decision::Accept {
                service_name,
                reason,
            } => Outcome::Pass {
                user: AuthenticatedUser(Arc::new(Authenticated {
                    identity: done.identity,
                    mechanism: done.mechanism,
                    service_name,
                    reason: reason.code(),
                })),
                token: done.response_token.map(|t| (scheme, t)),
            },
            Decision::Reject { status: 500, .. } => self.plain(StatusCode::INTERNAL_SERVER_ERROR),
            Decision::Reject { .. } => self.challenge(),
        }
    }
}

fn log_failure(facts: &ChannelFacts, e: &AuthError) {
    // The error text names the user and the check that failed, never token bytes or keys.
    crate::telemetry::authentication_failed();
    tracing::info!(target: "epa", decision = "reject", reason = "authentication-failed", peer = %facts.peer, status = e.status(), "{e}");
}

/// The peer address with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) folded to IPv4, so that
/// allow-lists and per-address limits see one spelling of one client.
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}
