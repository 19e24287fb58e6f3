//! The [`Proxy`] service: one request in, the same request (headers rewritten) to the
//! upstream, its response streamed back. Bodies are never collected: a 10 MB upload or
//! download holds only what hyper has in flight.

use super::headers::{
    IdentityHeaders, IdentityValueError, Origin, RequestRules, identity_values,
    prepare_request_with, prepare_response,
};
use super::upstream::{Upstream, UpstreamFailure};
use super::{BoxError, ProxyBody, UPSTREAM_ERRORS_TOTAL, text};
use crate::assertion::{Minted, Minter};
use bytes::Bytes;
use epa_core::client_cert::CertificateStatus;
use epa_hyper::telemetry::ClientText;
use epa_hyper::{Authenticated, AuthenticatedUser, ConnectionContext};
use http::{HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The reverse proxy, a tower `Service`. Clone freely (one `Arc`).
#[derive(Clone, Debug)]
pub struct Proxy {
    inner: Arc<Inner>,
    rules: Arc<Rules>,
}

/// What a client may ask of the upstream through this proxy (per route for the upgrades).
#[derive(Debug, Clone)]
struct Rules {
    /// Lower-case `Upgrade` protocols forwarded (`[upstream]`/`[[route]] upgrade_protocols`).
    upgrades: Vec<String>,
    /// `[upstream] allow_underscores_in_headers`.
    allow_underscores: bool,
    /// `[listener] trusted_proxies`, canonical: whose `Forwarded` claims `append` keeps.
    trusted_proxies: Vec<IpAddr>,
    /// `[listener] body_timeout`: the longest pause in a request body being forwarded.
    body_timeout: std::time::Duration,
    /// This route's signed identity assertion (`[identity_assertion]`), if it has one.
    assertion: Option<Minter>,
    /// Names these rules (with the proxy's header names) for the values kept per login on a
    /// connection ([`ConnectionContext::login_value`]): every edit makes a new one.
    cache_owner: u64,
}

/// A fresh [`Rules::cache_owner`].
fn fresh_owner() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// What a proxy derives from one login, made once and reused on the login's keep-alive
/// requests: the identity headers, and the route's assertion while it is fresh.
#[derive(Debug)]
struct LoginHeaders {
    identity: Result<Vec<(HeaderName, HeaderValue)>, IdentityValueError>,
    /// `None` when the route has no assertion, `Some(None)` when minting failed.
    assertion: Option<Option<Minted>>,
}

impl LoginHeaders {
    fn make(
        names: &IdentityHeaders,
        user: &Authenticated,
        minter: Option<&Minter>,
        now: u64,
    ) -> Self {
        Self {
            identity: identity_values(names, user),
            assertion: minter.map(|m| m.mint_at(user, now)),
        }
    }

    /// Reusable at `now`: no assertion, or one with more than a quarter of its life left.
    fn reusable_at(&self, now: u64) -> bool {
        match &self.assertion {
            None => true,
            Some(Some(m)) => m.fresh_at(now),
            Some(None) => false,
        }
    }
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            upgrades: epa_config::proxy_rules::default_upgrade_protocols(),
            allow_underscores: false,
            trusted_proxies: Vec::new(),
            body_timeout: epa_config::Deadlines::DEFAULT.body,
            assertion: None,
            cache_owner: fresh_owner(),
        }
    }
}

#[derive(Debug)]
struct Inner {
    upstream: Upstream,
    names: IdentityHeaders,
    /// `[identity_assertion]` for the default audience: routes take theirs from it.
    minter: Option<Minter>,
}

impl Proxy {
    /// A proxy to `upstream` that names the identity headers `names`.
    /// Upgrades forwarded: `websocket` only; underscores dropped; no trusted proxy.
    pub fn new(upstream: Upstream, names: IdentityHeaders) -> Self {
        Self {
            inner: Arc::new(Inner {
                upstream,
                names,
                minter: None,
            }),
            rules: Arc::default(),
        }
    }

    /// A proxy that can sign identity assertions (`[identity_assertion]`, with its keys);
    /// routes turn them on with [`Proxy::assertion`]. Call before any other setting.
    #[must_use]
    pub fn with_minter(upstream: Upstream, names: IdentityHeaders, minter: Option<Minter>) -> Self {
        Self {
            inner: Arc::new(Inner {
                upstream,
                names,
                minter,
            }),
            rules: Arc::default(),
        }
    }

    /// The minter for the default audience, if assertions are configured.
    pub fn minter(&self) -> Option<&Minter> {
        self.inner.minter.as_ref()
    }

    fn edit(mut self, f: impl FnOnce(&mut Rules)) -> Self {
        let rules = Arc::make_mut(&mut self.rules);
        f(rules);
        rules.cache_owner = fresh_owner();
        self
    }

    /// This route's signed identity assertion (none: no assertion header is sent; the
    /// client's copies are removed all the same).
    #[must_use]
    pub fn assertion(self, minter: Option<Minter>) -> Self {
        self.edit(|r| r.assertion = minter)
    }

    /// The `Upgrade` protocols forwarded (checked with
    /// `epa_config::proxy_rules::check_upgrade_protocols`; `h2c` never passes anyway).
    #[must_use]
    pub fn upgrade_protocols(self, list: Vec<String>) -> Self {
        self.edit(|r| r.upgrades = list.iter().map(|p| p.to_ascii_lowercase()).collect())
    }

    /// Forward header names with `_` other than spellings of reserved names (nginx
    /// `underscores_in_headers on`).
    #[must_use]
    pub fn allow_underscores_in_headers(self, allow: bool) -> Self {
        self.edit(|r| r.allow_underscores = allow)
    }

    /// The longest pause between two reads of a request body being forwarded (nginx
    /// `client_body_timeout`; at least 1 ms); then the upload is abandoned and answered 408.
    #[must_use]
    pub fn body_timeout(self, idle: std::time::Duration) -> Self {
        self.edit(|r| r.body_timeout = idle.max(std::time::Duration::from_millis(1)))
    }

    /// The peers whose forwarding headers `forwarded = "append"` keeps.
    #[must_use]
    pub fn trusted_proxies(self, proxies: Vec<IpAddr>) -> Self {
        self.edit(|r| {
            r.trusted_proxies = proxies.into_iter().map(|ip| ip.to_canonical()).collect();
        })
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
        let (inner, rules) = (self.inner.clone(), self.rules.clone());
        Box::pin(async move { Ok(inner.forward(req, &rules).await) })
    }
}

/// 500 for an identity a header cannot carry.
fn refuse_identity(e: &IdentityValueError, user: Option<&Authenticated>) -> Response<ProxyBody> {
    fail("identity-header-value");
    tracing::error!(
        reason = "identity-header-value",
        header = %e.header,
        user = %ClientText(user.map_or("", |u| u.identity.principal.as_str())),
        "proxy: refused to forward an identity the header cannot carry"
    );
    text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
}

fn fail(reason: &'static str) {
    metrics::counter!(UPSTREAM_ERRORS_TOTAL, "reason" => reason).increment(1);
}

/// What the request phase leaves for the response phase when the request was an upgrade.
struct Upgrading {
    /// The client side of the upgrade (none: not an upgrade request).
    client: Option<hyper::upgrade::OnUpgrade>,
    /// The protocol asked for.
    asked: Option<http::HeaderValue>,
    /// The connection's places under the limits, carried into a splice.
    hold: Option<crate::server::ConnectionHold>,
}

impl Inner {
    async fn forward<B>(&self, mut req: Request<B>, rules: &Rules) -> Response<ProxyBody>
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
        // An upgrade is forwarded only for an authenticated caller, and only to an allowed
        // protocol (never h2c); otherwise the request goes as a plain one.
        let upgrade = if user.is_some() && super::upgrade::is_upgrade(req.headers()) {
            super::upgrade::allowed_upgrade(req.headers(), &rules.upgrades)
        } else {
            None
        };
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
        let peer = facts.peer.ip().to_canonical();
        let hold = req
            .extensions()
            .get::<crate::server::ConnectionHold>()
            .cloned();
        let origin = Origin {
            facts,
            user: user.as_deref(),
            certificate: certificate.as_deref(),
            trusted_proxy: rules.trusted_proxies.contains(&peer),
        };
        let request_rules = RequestRules {
            upgrade: upgrade.clone(),
            allow_underscores: rules.allow_underscores,
        };
        let login = (user.as_ref(), &context);
        if let Err(refusal) = self.identity(req.headers_mut(), login, origin, rules, &request_rules)
        {
            return *refusal;
        }
        let uri = match self.upstream.uri_for(req.uri()) {
            Ok(u) => u,
            Err(_) => return text(StatusCode::BAD_REQUEST, "bad request target\n"),
        };
        *req.uri_mut() = uri;
        *req.version_mut() = http::Version::HTTP_11;
        let body_idle = rules.body_timeout;
        let req = req.map(|b| {
            super::idle::ReadIdle::watching(b, body_idle, super::idle::Side::Client).boxed_unsync()
        });
        let resp = match self.upstream.send(req).await {
            Ok(r) => r,
            Err(e) => return self.failure(&e),
        };
        self.respond(
            resp,
            Upgrading {
                client: client_upgrade,
                asked: upgrade,
                hold,
            },
        )
    }

    /// The request's identity headers and assertion, made once per login on this connection
    /// (and these route settings) and reused after; the rest of the header rewrite
    /// ([`prepare_request_with`]). `Err`: the 500 to answer.
    fn identity(
        &self,
        headers: &mut http::HeaderMap,
        (user, context): (Option<&AuthenticatedUser>, &ConnectionContext),
        origin: Origin<'_>,
        rules: &Rules,
        request_rules: &RequestRules,
    ) -> Result<(), Box<Response<ProxyBody>>> {
        let login = user.map(|user| {
            let now = crate::assertion::now_seconds();
            context.login_value(
                user,
                rules.cache_owner,
                |l: &LoginHeaders| l.reusable_at(now),
                || LoginHeaders::make(&self.names, user, rules.assertion.as_ref(), now),
            )
        });
        let identity = match login.as_deref().map(|l| &l.identity) {
            None => &[][..],
            Some(Ok(list)) => list.as_slice(),
            Some(Err(e)) => return Err(Box::new(refuse_identity(e, origin.user))),
        };
        prepare_request_with(headers, &self.names, origin, request_rules, identity)
            .map_err(|e| Box::new(refuse_identity(&e, origin.user)))?;
        match login.as_deref().and_then(|l| l.assertion.as_ref()) {
            Some(Some(minted)) => {
                headers.insert(self.names.assertion_header().clone(), minted.value.clone());
            }
            Some(None) => {
                fail("assertion-mint");
                tracing::error!(
                    reason = "assertion-mint",
                    "proxy: could not sign the identity assertion"
                );
                return Err(Box::new(text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error\n",
                )));
            }
            None => {}
        }
        Ok(())
    }

    /// The upstream's response phase: a 101 is spliced only when it names the protocol that
    /// was asked for; the response's hop-by-hop headers are removed and its body watched for
    /// the read-idle deadline.
    fn respond(
        &self,
        mut resp: Response<hyper::body::Incoming>,
        upgrading: Upgrading,
    ) -> Response<ProxyBody> {
        let Upgrading {
            client: client_upgrade,
            asked: upgrade,
            hold,
        } = upgrading;
        let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
        if switching {
            match (client_upgrade, &upgrade) {
                (Some(client), Some(asked))
                    if super::upgrade::switched_to_requested(resp.headers(), asked) =>
                {
                    let upstream = hyper::upgrade::on(&mut resp);
                    // The connection's places under the connection limits go with the splice.
                    tokio::spawn(crate::server::hold_while(
                        hold,
                        super::upgrade::splice(client, upstream, self.upstream.upgrade_idle()),
                    ));
                }
                // A switch to a protocol nobody asked for (h2c to a websocket request) is
                // never spliced: nothing after a splice passes this proxy.
                (Some(_), _) => {
                    return self.failure(&UpstreamFailure::Protocol(
                        "101 to a protocol that was not asked for".into(),
                    ));
                }
                // 101 to a request we did not send as an upgrade: the upstream is broken.
                (None, _) => {
                    return self.failure(&UpstreamFailure::Protocol("unexpected 101".into()));
                }
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
            match status {
                StatusCode::GATEWAY_TIMEOUT => "upstream timed out\n",
                StatusCode::REQUEST_TIMEOUT => "request body timed out\n",
                _ => "upstream unavailable\n",
            },
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use epa_core::authenticator::Identity;
    use epa_core::decide::{ClientServiceName, Mechanism, Reason};

    #[test]
    fn login_headers_are_reused_until_a_quarter_of_the_assertion_is_left() {
        let table: epa_config::IdentityAssertionTable = toml::from_str(
            "signing_key_file = \"k\"\nissuer = \"i\"\naudience = \"a\"\nlifetime = 60\n",
        )
        .unwrap();
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let key = crate::assertion::SigningKey::from_pem(
            kp.serialize_pem().as_bytes(),
            std::path::Path::new("k"),
        )
        .unwrap();
        let keys = crate::assertion::KeySet {
            current: key,
            previous: vec![],
        };
        let minter = Minter::new(&table, keys, HeaderName::from_static("x-epa-assertion"));
        let user = Authenticated {
            identity: Identity::ntlm("EPA", "alice"),
            mechanism: Mechanism::Ntlm,
            service_name: ClientServiceName::Missing,
            reason: Reason::BindingAbsentAllowed,
            user_sid: None,
            groups: vec![],
            group_names: vec![],
        };
        let names = IdentityHeaders::default();
        let with = LoginHeaders::make(&names, &user, Some(&minter), 1000);
        assert!(with.reusable_at(1044) && !with.reusable_at(1045));
        let identity = with.identity.as_ref().unwrap();
        assert!(
            identity
                .iter()
                .any(|(n, v)| n == "x-epa-binding" && v == "binding-absent-allowed")
        );
        // Without an assertion the identity headers are kept for the whole login.
        assert!(LoginHeaders::make(&names, &user, None, 1000).reusable_at(u64::MAX));
        // Every route's proxy settings are their own cache owner.
        let a = Rules::default();
        let b = Rules::default();
        assert_ne!(a.cache_owner, b.cache_owner);
    }
}
