//! One exchange leg: what a request asks the layer to do ([`Begin`]), the leg run on the
//! backend ([`Leg`]), and how its result becomes an outcome ([`Outcome`]): the decision
//! (`epa_core::decide`), the refusals, the diagnostics report, and the response the layer makes
//! itself ([`Reply`]).

use super::*;

pub(super) enum Outcome {
    Pass {
        user: AuthenticatedUser,
        token: Option<HeaderValue>,
    },
    Respond(Reply),
    /// The diagnostics page's report of a completed (or refused) exchange: no identity.
    Diagnosed {
        report: Box<crate::diagnose::Diagnosis>,
        token: Option<HeaderValue>,
    },
}

/// A response the layer makes itself: empty body, `Content-Length: 0`.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) www_authenticate: Vec<HeaderValue>,
    pub(super) retry_after: Option<u32>,
}

impl Reply {
    pub(super) fn plain(status: StatusCode) -> Self {
        Self {
            status,
            www_authenticate: Vec::new(),
            retry_after: None,
        }
    }

    pub(super) fn into_response<ResBody: Default>(self) -> Response<ResBody> {
        let mut r = Response::new(ResBody::default());
        *r.status_mut() = self.status;
        r.headers_mut()
            .insert(http_header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        for v in self.www_authenticate {
            r.headers_mut().append(http_header::WWW_AUTHENTICATE, v);
        }
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(http_header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

/// What `call` found to do.
pub(super) enum Begin {
    Done(Outcome),
    /// Boxed: a leg carries the expected bindings, whose payloads are inline.
    Blocking(Box<Leg>),
}

/// One leg of an exchange, movable to a blocking thread.
pub(super) struct Leg {
    pub(super) conn: ConnectionContext,
    pub(super) exchange: Exchange,
    pub(super) token: Vec<u8>,
    pub(super) expected: Option<ExpectedBindings>,
}

pub(super) struct LegResult {
    pub(super) conn: ConnectionContext,
    pub(super) exchange: Exchange,
    pub(super) result: Result<Step, AuthError>,
    /// The leg's token and binding, kept for the diagnostics page.
    pub(super) token: Vec<u8>,
    pub(super) expected: Option<ExpectedBindings>,
}

impl Leg {
    pub(super) fn run(mut self) -> LegResult {
        let result =
            self.exchange
                .context
                .step(self.exchange.scheme, &self.token, self.expected.as_ref());
        LegResult {
            conn: self.conn,
            exchange: self.exchange,
            result,
            token: self.token,
            expected: self.expected,
        }
    }
}

impl Shared {
    pub(super) fn challenge(&self) -> Outcome {
        Outcome::Respond(Reply {
            status: StatusCode::UNAUTHORIZED,
            www_authenticate: self.challenges.clone(),
            retry_after: None,
        })
    }

    pub(super) fn plain(status: StatusCode) -> Outcome {
        Outcome::Respond(Reply::plain(status))
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

    pub(super) fn begin<B>(&self, req: &Request<B>) -> Begin {
        let Some(conn) = req.extensions().get::<ConnectionContext>() else {
            tracing::error!(target: "epa", "no ConnectionContext in the request: serve connections with epa_hyper::serve_connection or insert one per connection");
            return Begin::Done(Self::plain(StatusCode::INTERNAL_SERVER_ERROR));
        };
        let facts = conn.facts();
        if req.version() >= http::Version::HTTP_2 {
            // Connection-oriented authentication cannot work over a multiplexed connection.
            return Begin::Done(Self::plain(StatusCode::HTTP_VERSION_NOT_SUPPORTED));
        }
        if self.lacks_server_binding(facts) {
            tracing::error!(target: "epa", reason = "https-without-server-certificate", peer = %facts.peer, "an HTTPS connection's facts carry no server certificate: build them with ChannelFacts::tls or TlsAcceptor");
            return Begin::Done(Self::plain(StatusCode::INTERNAL_SERVER_ERROR));
        }
        if self.policy.policy().scenario() == ProtectionScenario::TrustedProxy
            && let Some(proxies) = &self.trusted_proxies
            && !proxies.contains(&canonical_ip(facts.peer.ip()))
        {
            tracing::warn!(target: "epa", peer = %facts.peer, "request from an address that is not a trusted proxy");
            return Begin::Done(Self::plain(StatusCode::FORBIDDEN));
        }

        let persist = self.persists();
        let authorization =
            header::authorization(req.headers(), &self.limits, self.authenticator.schemes());
        let (scheme, token) = match authorization {
            Authorization::Absent => {
                let user = conn.with_layer(self.id, |s| s.identity.clone());
                return Begin::Done(match user {
                    Some(user) if persist => Outcome::Pass { user, token: None },
                    _ => self.challenge(),
                });
            }
            Authorization::NotOurs => {
                // Basic, Bearer, a bare scheme: not ours, and not an identity either.
                conn.with_layer(self.id, |s| *s = Default::default());
                return Begin::Done(self.challenge());
            }
            Authorization::Malformed(why) => {
                conn.with_layer(self.id, |s| *s = Default::default());
                tracing::info!(target: "epa", decision = "reject", reason = why.code(), status = 400, peer = %facts.peer, "malformed Authorization header");
                return Begin::Done(Self::plain(StatusCode::BAD_REQUEST));
            }
            Authorization::Token(scheme, token) => (scheme, token),
        };

        // A new Authorization restarts the connection's identity (re-authentication).
        let previous = conn.with_layer(self.id, |s| {
            s.identity = None;
            s.exchange.take()
        });
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
                return Begin::Done(self.challenge());
            }
            Some(ex) if ex.scheme == scheme => {
                tracing::info!(target: "epa", peer = %facts.peer, "a pending exchange passed its deadline; starting again");
                self.new_exchange(self.client_address(facts, req.headers()), scheme)
            }
            _ => self.new_exchange(self.client_address(facts, req.headers()), scheme),
        };
        exchange.legs += 1;
        if exchange.legs > self.limits.max_legs {
            tracing::info!(target: "epa", peer = %facts.peer, legs = exchange.legs, "too many legs; exchange reset");
            return Begin::Done(self.challenge());
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
        let peer = canonical_ip(facts.peer.ip());
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
            .map_or(peer, canonical_ip)
    }

    pub(super) fn new_exchange(&self, client: IpAddr, scheme: Scheme) -> Exchange {
        Exchange {
            scheme,
            context: self.authenticator.new_context_for(client),
            legs: 0,
            started: Instant::now(),
        }
    }

    /// After a leg: keep a continuing exchange, decide a completed one, answer a failure.
    pub(super) fn finish(&self, leg: LegResult) -> Outcome {
        let LegResult {
            conn,
            exchange,
            result,
            token,
            expected,
        } = leg;
        let facts = conn.facts();
        let diagnose = |verdict| {
            self.diagnose.as_ref().map(|settings| {
                let report = crate::diagnose::report(&crate::diagnose::Inputs {
                    settings,
                    route: &self.policy,
                    target: self.target.as_ref(),
                    channel: facts,
                    token: &token,
                    expected: expected.as_ref(),
                    verdict,
                });
                Box::new(report)
            })
        };
        match result {
            Ok(Step::Continue(next)) => {
                let scheme = exchange.scheme;
                conn.with_layer(self.id, |s| s.exchange = Some(exchange));
                match header::challenge_with_token(scheme, &next) {
                    Some(v) => Outcome::Respond(Reply {
                        status: StatusCode::UNAUTHORIZED,
                        www_authenticate: vec![v],
                        retry_after: None,
                    }),
                    None => Self::plain(StatusCode::INTERNAL_SERVER_ERROR),
                }
            }
            Ok(Step::Complete(done)) => {
                crate::telemetry::authentication_time(done.mechanism, exchange.started.elapsed());
                let report = diagnose(crate::diagnose::Verdict::Completed(&done));
                let outcome = self.decide(facts, exchange.scheme, done);
                if let Some(report) = report {
                    // Reported, never admitted: the identity goes nowhere.
                    let token = match outcome {
                        Outcome::Pass { token, .. } => token,
                        _ => None,
                    };
                    return Outcome::Diagnosed { report, token };
                }
                if let Outcome::Pass { user, .. } = &outcome
                    && self.persists()
                {
                    conn.with_layer(self.id, |s| s.identity = Some(user.clone()));
                }
                outcome
            }
            Err(AuthError::BadBindings {
                mechanism,
                observation,
            }) => {
                self.refused_binding(facts, mechanism, observation);
                match diagnose(crate::diagnose::Verdict::RefusedBinding {
                    mechanism,
                    observation,
                }) {
                    Some(report) => Outcome::Diagnosed {
                        report,
                        token: None,
                    },
                    None => self.challenge(),
                }
            }
            Err(e) => {
                crate::telemetry::authentication_failed(facts.peer, e.status(), &e);
                if matches!(
                    e,
                    AuthError::LogonDenied(_)
                        | AuthError::Refused { .. }
                        | AuthError::Unsupported(_)
                ) && let Some(report) = diagnose(crate::diagnose::Verdict::RefusedByBackend)
                {
                    return Outcome::Diagnosed {
                        report,
                        token: None,
                    };
                }
                match e {
                    AuthError::InvalidToken(_) => Self::plain(StatusCode::BAD_REQUEST),
                    // The credentials were not judged: tell the client to come back, never 401
                    // (which would count as a failed logon) and never an accept.
                    AuthError::Unavailable {
                        retry_after_secs, ..
                    } => Outcome::Respond(Reply {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        www_authenticate: Vec::new(),
                        retry_after: Some(retry_after_secs),
                    }),
                    _ => self.challenge(),
                }
            }
        }
    }

    /// The package refused the binding before completing: decide with its observation so the
    /// refusal carries the decision's reason. There is no identity: never an accept.
    pub(super) fn refused_binding(
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
            audit: None,
        }
        .emit();
    }

    pub(super) fn decide(&self, facts: &ChannelFacts, scheme: Scheme, done: Completion) -> Outcome {
        let request_facts = RequestFacts {
            transport: facts.transport,
            mechanism: done.mechanism,
            server_supports_ep: done.supports_extended_protection,
            channel_binding: done.channel_binding,
            client_spn: done.client_spn.clone(),
        };
        let audited = decide_audited(&self.policy, self.target.as_ref(), &request_facts);
        let decision = audited.enforced;
        DecisionEvent {
            accepted: decision.is_accept(),
            reason: decision.reason(),
            status: decision.status().unwrap_or(200),
            mechanism: done.mechanism,
            observation: done.channel_binding,
            client_spn: done.client_spn.as_option(),
            peer: facts.peer,
            principal: Some(&done.identity.principal),
            audit: audited.target.as_ref(),
        }
        .emit();
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
            Decision::Reject { status: 500, .. } => Self::plain(StatusCode::INTERNAL_SERVER_ERROR),
            Decision::Reject { .. } => self.challenge(),
        }
    }
}

/// Whether `token` can only continue an exchange, never start one: an NTLM CHALLENGE or
/// AUTHENTICATE ([MS-NLMP] 2.2.1: `NTLMSSP\0` and the message type), raw or as the first
/// bytes of a SPNEGO `NegTokenResp` (`[1]`, tag 0xa1: RFC 4178 §4.2.2; a first leg is a
/// `NegTokenInit` in an application `[0]` wrapper, tag 0x60).
pub(super) fn later_leg(token: &[u8]) -> bool {
    const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";
    if token.first() == Some(&0xa1) {
        return true;
    }
    match token.get(..12) {
        Some(head) if head.starts_with(SIGNATURE) => {
            let kind = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
            kind == 2 || kind == 3
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::later_leg;

    #[test]
    fn later_legs_are_challenge_authenticate_and_negtokenresp_only() {
        let ntlm = |kind: u8| {
            let mut t = b"NTLMSSP\0".to_vec();
            t.extend_from_slice(&[kind, 0, 0, 0, 0, 0]);
            t
        };
        assert!(!later_leg(&ntlm(1)), "NEGOTIATE starts an exchange");
        assert!(later_leg(&ntlm(2)));
        assert!(later_leg(&ntlm(3)));
        assert!(!later_leg(&ntlm(4)));
        assert!(
            later_leg(&[0xa1, 0x03, 0x30, 0x01, 0x00]),
            "SPNEGO NegTokenResp"
        );
        assert!(
            !later_leg(&[0x60, 0x03, 0x06, 0x01, 0x00]),
            "SPNEGO NegTokenInit"
        );
        assert!(!later_leg(b"NTLMSSP\0\x03"), "too short to carry a type");
        assert!(!later_leg(&[]));
    }
}
