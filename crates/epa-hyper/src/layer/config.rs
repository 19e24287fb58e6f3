//! The layer's configuration ([`LayerConfig`]) and everything it does with one request: what
//! the request asks for ([`Begin`]), the backend's leg, and how its result becomes an
//! [`Outcome`] — the decision (`epa_core::decide`), the refusals, the observer's report. The
//! answers themselves are [`crate::respond`]'s.

use super::drain::BodyDrain;
use super::exchange::{Begin, Leg, LegResult, Outcome, later_leg};
use super::observe::{LegEnd, LegObserver, LegVerdict, Observed};
use crate::authenticator::{AuthError, Authenticator, Completion, ExpectedBindings, Scheme, Step};
use crate::connection::{
    Authenticated, AuthenticatedUser, ChannelFacts, ConnectionContext, Exchange, LayerId,
};
use crate::header::{self, Authorization, Limits};
use crate::respond::Answer;
use crate::telemetry::DecisionEvent;
use epa_core::allow::AllowList;
use epa_core::audit::decide_audited;
use epa_core::decide::{
    BindingObservation, ClientServiceName, Decision, ExpectedBinding, Mechanism, RequestFacts,
    ServerPolicy, Transport,
};
use epa_core::policy::{PolicyEnforcement, ProtectionScenario};
use http::{HeaderValue, Request};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// What one [`super::ExtendedProtectionLayer`] is: its settings, computed once, shared by its
/// services. A copy with any change gets a new [`LayerId`] ([`LayerConfig::reconfigured`]).
#[derive(Clone)]
pub(super) struct LayerConfig {
    pub(super) id: LayerId,
    pub(super) authenticator: Arc<dyn Authenticator>,
    pub(super) policy: ServerPolicy,
    pub(super) target: Option<ServerPolicy>,
    pub(super) limits: Limits,
    pub(super) trusted_proxies: Option<Vec<IpAddr>>,
    /// The configured binding (custom or proxy certificate) in every backend form, computed once.
    pub(super) configured_binding: Option<ExpectedBindings>,
    pub(super) persist: Option<bool>,
    pub(super) challenges: Vec<HeaderValue>,
    /// `allow_users` / `allow_groups` (none: every authenticated caller).
    pub(super) allow: Option<Arc<AllowList>>,
    /// Told how each exchange ended (default: nobody).
    pub(super) observer: Arc<dyn LegObserver>,
    /// How much of an unread body is drained before the layer's own answers (none: close).
    pub(super) drain: Option<BodyDrain>,
}

impl LayerConfig {
    /// A layer's configuration: `authenticator`'s schemes are its challenges.
    pub(super) fn new(authenticator: Arc<dyn Authenticator>, policy: ServerPolicy) -> Self {
        // A route that does not accept NTLM offers only `Negotiate` (IIS with the provider
        // `Negotiate:Kerberos` alone), so that clients are not invited to send NTLM.
        let ntlm = policy.mechanisms().permits(Mechanism::Ntlm);
        let challenges = authenticator
            .schemes()
            .iter()
            .filter(|s| ntlm || **s != Scheme::Ntlm)
            .map(|s| HeaderValue::from_static(s.name()))
            .collect();
        Self {
            id: LayerId::fresh(),
            authenticator,
            configured_binding: configured(&policy),
            policy,
            target: None,
            limits: Limits::default(),
            trusted_proxies: None,
            persist: None,
            challenges,
            allow: None,
            observer: Arc::new(()),
            drain: Some(BodyDrain::default()),
        }
    }

    /// A copy with a new identity: state made under the old settings is not this layer's.
    pub(super) fn reconfigured(&self) -> Self {
        Self {
            id: LayerId::fresh(),
            ..self.clone()
        }
    }

    /// Recomputes what is derived from the policies, after an edit.
    pub(super) fn derive(&mut self) {
        self.configured_binding =
            configured(&self.policy).or_else(|| self.target.as_ref().and_then(configured));
    }

    /// The layer's own answer.
    pub(super) fn respond(&self, answer: Answer) -> Outcome {
        Outcome::Respond(answer.reply(&self.challenges))
    }

    pub(super) fn persists(&self) -> bool {
        self.persist
            .unwrap_or(self.policy.policy().scenario() == ProtectionScenario::TransportSelected)
    }

    /// The binding the backend compares against: the current policy's, or in audit mode the
    /// target's when the current policy needs none.
    pub(super) fn expected(&self, facts: &ChannelFacts) -> Option<ExpectedBindings> {
        let under = |policy: &ServerPolicy| match policy.expected_binding(facts.transport) {
            ExpectedBinding::None => None,
            ExpectedBinding::Connection => facts.server_end_point.clone(),
            ExpectedBinding::Configured(_) => self.configured_binding.clone(),
        };
        under(&self.policy).or_else(|| self.target.as_ref().and_then(under))
    }

    /// An HTTPS connection whose facts carry no server certificate, where a policy needs one:
    /// the stack that built the facts is misconfigured. Deciding would mean `NotChecked`.
    pub(super) fn lacks_server_binding(&self, facts: &ChannelFacts) -> bool {
        facts.transport == Transport::Https
            && facts.server_end_point.is_none()
            && [Some(&self.policy), self.target.as_ref()]
                .into_iter()
                .flatten()
                .any(|p| {
                    p.policy().enforcement() != PolicyEnforcement::Never
                        && matches!(
                            p.expected_binding(Transport::Https),
                            ExpectedBinding::Connection
                        )
                })
    }

    /// What `req` asks for: an answer now, or a leg to run on the backend.
    pub(super) fn begin<B>(&self, req: &Request<B>) -> Begin {
        let Some(conn) = req.extensions().get::<ConnectionContext>() else {
            tracing::error!(target: "epa", "no ConnectionContext in the request: serve connections with epa_hyper::serve_connection or insert one per connection");
            return Begin::Done(self.respond(Answer::Internal));
        };
        let facts = conn.facts();
        if req.version() >= http::Version::HTTP_2 {
            // Connection-oriented authentication cannot work over a multiplexed connection.
            return Begin::Done(self.respond(Answer::VersionNotSupported));
        }
        if self.lacks_server_binding(facts) {
            tracing::error!(target: "epa", reason = "https-without-server-certificate", peer = %facts.peer, "an HTTPS connection's facts carry no server certificate: build them with ChannelFacts::tls or TlsAcceptor");
            return Begin::Done(self.respond(Answer::Internal));
        }
        if self.policy.policy().scenario() == ProtectionScenario::TrustedProxy
            && let Some(proxies) = &self.trusted_proxies
            && !proxies.contains(&facts.peer.ip().to_canonical())
        {
            tracing::warn!(target: "epa", peer = %facts.peer, "request from an address that is not a trusted proxy");
            return Begin::Done(self.respond(Answer::UntrustedPeer));
        }

        let authorization =
            header::authorization(req.headers(), &self.limits, self.authenticator.schemes());
        let (scheme, token) = match authorization {
            Authorization::Absent => {
                let user = conn.with_layer(self.id, |s| s.identity.clone());
                return Begin::Done(match user {
                    Some(user) if self.persists() => Outcome::Pass { user, token: None },
                    _ => self.respond(Answer::Challenge),
                });
            }
            Authorization::NotOurs => {
                // Basic, Bearer, a bare scheme: not ours, and not an identity either.
                conn.with_layer(self.id, |s| *s = Default::default());
                return Begin::Done(self.respond(Answer::Challenge));
            }
            Authorization::Malformed(why) => {
                conn.with_layer(self.id, |s| *s = Default::default());
                tracing::info!(target: "epa", decision = "reject", reason = why.code(), status = 400, peer = %facts.peer, "malformed Authorization header");
                return Begin::Done(self.respond(Answer::BadRequest));
            }
            Authorization::Token(scheme, token) => (scheme, token),
        };
        self.leg(conn, req.headers(), scheme, token)
    }

    /// A leg with `token`: the connection's pending exchange continued, or a new one.
    fn leg(
        &self,
        conn: &ConnectionContext,
        headers: &http::HeaderMap,
        scheme: Scheme,
        token: Vec<u8>,
    ) -> Begin {
        let facts = conn.facts();
        // A new Authorization restarts the connection's identity (re-authentication).
        let previous = conn.with_layer(self.id, |s| {
            s.identity = None;
            s.exchange.take()
        });
        let continuing = previous.as_ref().is_some_and(|ex| {
            ex.scheme == scheme && ex.started.elapsed() <= self.limits.exchange_timeout
        });
        // A first leg that offers only a mechanism the route does not accept is refused now,
        // before a backend (or a domain controller) checks a credential the decision would
        // refuse anyway; the decision checks the completed mechanism again.
        if !continuing
            && let Some(offered) = epa_core::offer::offered(scheme, &token)
            && !self.policy.mechanisms().permits(offered)
        {
            crate::telemetry::mechanism_refused(facts.peer, offered);
            return Begin::Done(self.respond(Answer::Challenge));
        }
        let mut exchange = match previous {
            Some(ex)
                if ex.scheme == scheme && ex.started.elapsed() <= self.limits.exchange_timeout =>
            {
                ex
            }
            // A later leg with no exchange to continue (lost to a reload, a replaced layer or
            // the deadline): a fresh challenge, as to a request without Authorization, so that
            // a browser mid-login starts again instead of showing 400.
            _ if later_leg(&token) => {
                tracing::info!(target: "epa", peer = %facts.peer, "a later leg without a pending exchange; challenging afresh");
                return Begin::Done(self.respond(Answer::Challenge));
            }
            Some(ex) if ex.scheme == scheme => {
                tracing::info!(target: "epa", peer = %facts.peer, "a pending exchange passed its deadline; starting again");
                self.new_exchange(self.client_address(facts, headers), scheme)
            }
            _ => self.new_exchange(self.client_address(facts, headers), scheme),
        };
        exchange.legs += 1;
        if exchange.legs > self.limits.max_legs {
            tracing::info!(target: "epa", peer = %facts.peer, legs = exchange.legs, "too many legs; exchange reset");
            return Begin::Done(self.respond(Answer::Challenge));
        }
        let leg = Leg {
            conn: conn.clone(),
            exchange,
            token,
            expected: self.expected(facts),
        };
        if self.authenticator.blocking() {
            Begin::Blocking(Box::new(leg))
        } else {
            Begin::Done(self.finish(leg.run()))
        }
    }

    /// The address failed logons are counted against: the peer, or, when the peer is one of
    /// the trusted proxies, the client address that proxy appended to `X-Forwarded-For` (its
    /// last element: the only one the trusted proxy itself wrote). Without it every client of
    /// the proxy would share one address, and one client's guesses would lock out the rest.
    pub(super) fn client_address(&self, facts: &ChannelFacts, headers: &http::HeaderMap) -> IpAddr {
        let peer = facts.peer.ip().to_canonical();
        let trusted = self
            .trusted_proxies
            .as_ref()
            .is_some_and(|proxies| proxies.contains(&peer));
        if !trusted {
            return peer;
        }
        headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|last| last.trim().parse::<IpAddr>().ok())
            .map_or(peer, |ip| ip.to_canonical())
    }

    pub(super) fn new_exchange(&self, client: IpAddr, scheme: Scheme) -> Exchange {
        Exchange {
            scheme,
            context: self
                .authenticator
                .new_context_restricted(client, self.policy.mechanisms()),
            legs: 0,
            started: Instant::now(),
        }
    }

    /// After a leg: keep a continuing exchange; decide a completed one; answer a failure. The
    /// observer is told how an exchange ended and may take it over as a report.
    pub(super) fn finish(&self, ended: LegResult) -> Outcome {
        let LegResult { leg, result } = ended;
        match result {
            Ok(Step::Continue(next)) => {
                let scheme = leg.exchange.scheme;
                leg.conn
                    .with_layer(self.id, |s| s.exchange = Some(leg.exchange));
                let next = header::challenge_with_token(scheme, &next);
                self.respond(next.map_or(Answer::Internal, Answer::Continue))
            }
            Ok(Step::Complete(done)) => self.completed(&leg, done),
            Err(error) => self.failed(&leg, error),
        }
    }

    /// The decision on a completed exchange, unless the observer reports it instead.
    fn completed(&self, leg: &Leg, done: Completion) -> Outcome {
        let facts = leg.conn.facts();
        crate::telemetry::authentication_time(done.mechanism, leg.exchange.started.elapsed());
        let decision = self.decide(facts, &done);
        let observed = self.observe(
            leg,
            LegVerdict::Completed {
                done: &done,
                decision: &decision,
            },
        );
        let outcome = self.admit(decision, leg.exchange.scheme, done);
        match observed {
            Observed::Report(extensions) => outcome.reported(extensions),
            Observed::Proceed => {
                self.keep(&leg.conn, &outcome);
                outcome
            }
        }
    }

    /// A failed leg: logged, then answered ([`Answer::for_error`]) unless the observer reports it.
    fn failed(&self, leg: &Leg, error: AuthError) -> Outcome {
        self.refused(leg.conn.facts(), &error);
        let verdict = match error {
            AuthError::BadBindings {
                mechanism,
                observation,
            } => LegVerdict::RefusedBinding {
                mechanism,
                observation,
            },
            ref error => LegVerdict::Failed(error),
        };
        match self.observe(leg, verdict) {
            Observed::Report(extensions) => Outcome::Report(Box::new(extensions), None),
            Observed::Proceed => self.respond(Answer::for_error(&error)),
        }
    }

    /// Tells the observer how `leg` ended the exchange.
    fn observe(&self, leg: &Leg, verdict: LegVerdict<'_>) -> Observed {
        self.observer.on_leg_end(&LegEnd {
            backend: self.authenticator.mechanisms(),
            route: &self.policy,
            target: self.target.as_ref(),
            channel: leg.conn.facts(),
            token: &leg.token,
            expected: leg.expected.as_ref(),
            verdict,
        })
    }

    /// Keeps an accepted identity on the connection, where identities persist.
    fn keep(&self, conn: &ConnectionContext, outcome: &Outcome) {
        if let Outcome::Pass { user, .. } = outcome
            && self.persists()
        {
            conn.with_layer(self.id, |s| s.identity = Some(user.clone()));
        }
    }

    /// Logs a failed leg: a binding the package refused as a decision, anything else as
    /// `authentication-failed`.
    fn refused(&self, facts: &ChannelFacts, error: &AuthError) {
        match *error {
            AuthError::BadBindings {
                mechanism,
                observation,
            } => self.refused_binding(facts, mechanism, observation),
            _ => crate::telemetry::authentication_failed(facts.peer, error.status(), error),
        }
    }

    /// The package refused the binding before completing: decide with its observation so the
    /// refusal carries the decision's reason. There is no identity: never an accept (the
    /// answer, [`Answer::for_error`], is the same 401 a refusal by the decision gets).
    fn refused_binding(
        &self,
        facts: &ChannelFacts,
        mechanism: Mechanism,
        observation: BindingObservation,
    ) {
        let request_facts = RequestFacts {
            transport: facts.transport,
            mechanism,
            server_supports_ep: true,
            channel_binding: observation,
            client_spn: ClientServiceName::Missing,
        };
        let audited = decide_audited(&self.policy, self.target.as_ref(), &request_facts);
        // Under audit the binding may have been handed over for the target alone; the refusal
        // is then the target's.
        let decision = match &audited.target {
            Some(t) if audited.enforced.is_accept() => t,
            _ => &audited.enforced,
        };
        DecisionEvent {
            accepted: false,
            reason: decision.reason(),
            status: 401,
            mechanism,
            observation,
            client_spn: None,
            peer: facts.peer,
            principal: None,
            enctype: None,
            audit: None,
        }
        .emit();
    }

    /// The decision on a completed exchange (logged and counted).
    fn decide(&self, facts: &ChannelFacts, done: &Completion) -> Decision {
        let request_facts = RequestFacts {
            transport: facts.transport,
            mechanism: done.mechanism,
            server_supports_ep: done.supports_extended_protection,
            channel_binding: done.channel_binding,
            client_spn: done.client_spn.clone(),
        };
        let audited = decide_audited(&self.policy, self.target.as_ref(), &request_facts);
        let decision = &audited.enforced;
        DecisionEvent {
            accepted: decision.is_accept(),
            reason: decision.reason(),
            status: decision.status().unwrap_or(200),
            mechanism: done.mechanism,
            observation: done.channel_binding,
            client_spn: done.client_spn.as_option(),
            peer: facts.peer,
            principal: Some(&done.identity.principal),
            enctype: done.session_enctype,
            audit: audited.target.as_ref(),
        }
        .emit();
        audited.enforced
    }

    /// What the decision makes of a completed exchange: an identity, or the refusal's answer.
    fn admit(&self, decision: Decision, scheme: Scheme, done: Completion) -> Outcome {
        match decision {
            Decision::Accept {
                service_name,
                reason,
            } => Outcome::Pass {
                user: AuthenticatedUser(Arc::new(Authenticated {
                    identity: done.identity,
                    mechanism: done.mechanism,
                    service_name,
                    reason,
                    user_sid: done.user_sid,
                    groups: done.groups,
                    group_names: done.group_names,
                })),
                token: done
                    .response_token
                    .and_then(|t| header::challenge_with_token(scheme, &t)),
            },
            refusal => self.respond(Answer::for_refusal(&refusal)),
        }
    }
}

/// The configured binding of `policy` (custom, or the proxy certificate's), in backend form.
fn configured(policy: &ServerPolicy) -> Option<ExpectedBindings> {
    [Transport::Https, Transport::Http]
        .into_iter()
        .find_map(|t| match policy.expected_binding(t) {
            ExpectedBinding::Configured(b) => Some(ExpectedBindings::new(b.clone())),
            _ => None,
        })
}
