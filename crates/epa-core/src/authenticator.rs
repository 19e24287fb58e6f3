//! The `Authenticator` trait every backend implements.
//!
//! A backend runs the token exchange of one mechanism family and reports what it observed:
//! the identity, the mechanism, what the client's channel binding was compared with the expected
//! one ([`BindingObservation`]), and the client-specified service name. It never decides whether
//! Extended Protection lets the request in: that is [`crate::decide::decide`]'s job.
//!
//! Contexts are per connection (NTLM and Kerberos-with-continuation are connection-oriented);
//! the layer creates one with [`Authenticator::new_context`] when a connection starts an
//! exchange and drops it when the exchange ends or the connection closes.

use crate::ChannelBinding;
use crate::Sid;
use crate::decide::{BindingObservation, ClientServiceName, Mechanism, Mechanisms};
use crate::gss::{ChannelBindingsHash, GssChannelBindings};
use thiserror::Error;

/// An HTTP authentication scheme (RFC 4559 `Negotiate`, and `NTLM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `Negotiate` (RFC 4559): SPNEGO, or a raw Kerberos or NTLM token.
    Negotiate,
    /// `NTLM`: raw NTLMSSP tokens.
    Ntlm,
}

impl Scheme {
    /// The token in `WWW-Authenticate` / `Authorization`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Negotiate => "Negotiate",
            Self::Ntlm => "NTLM",
        }
    }

    /// Parses a scheme name case-insensitively (RFC 9110 §11.1).
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("Negotiate") {
            Some(Self::Negotiate)
        } else if s.eq_ignore_ascii_case("NTLM") {
            Some(Self::Ntlm)
        } else {
            None
        }
    }
}

/// The channel binding a backend must compare the client's against, in every form a backend
/// needs, computed once per connection.
#[derive(Debug, Clone)]
pub struct ExpectedBindings {
    binding: ChannelBinding,
    gss: GssChannelBindings,
    md5: ChannelBindingsHash,
}

impl ExpectedBindings {
    /// From a channel binding (no addresses, as every TLS binding).
    pub fn new(binding: ChannelBinding) -> Self {
        let gss = GssChannelBindings::from(&binding);
        // The application data of a TLS binding is at most a few dozen bytes: it always fits.
        let md5 = gss.md5().unwrap_or(ChannelBindingsHash::UNBOUND);
        Self { binding, gss, md5 }
    }

    /// The binding.
    pub fn binding(&self) -> &ChannelBinding {
        &self.binding
    }

    /// The GSS struct (what GSSAPI and SSPI are handed).
    pub fn gss(&self) -> &GssChannelBindings {
        &self.gss
    }

    /// Its MD5 (what NTLM and Kerberos carry).
    pub fn md5(&self) -> &ChannelBindingsHash {
        &self.md5
    }
}

/// Who authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user name.
    pub user: String,
    /// The NTLM domain or the Kerberos realm.
    pub domain: String,
    /// The principal as the mechanism writes it: `DOMAIN\user` (NTLM), `user@REALM` (Kerberos).
    pub principal: String,
}

impl Identity {
    /// An NTLM identity, `DOMAIN\user`.
    pub fn ntlm(domain: &str, user: &str) -> Self {
        let principal = if domain.is_empty() {
            user.to_owned()
        } else {
            format!("{domain}\\{user}")
        };
        Self {
            user: user.to_owned(),
            domain: domain.to_owned(),
            principal,
        }
    }

    /// A Kerberos identity, `user@REALM`.
    pub fn kerberos(user: &str, realm: &str) -> Self {
        let principal = if realm.is_empty() {
            user.to_owned()
        } else {
            format!("{user}@{realm}")
        };
        Self {
            user: user.to_owned(),
            domain: realm.to_owned(),
            principal,
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.principal)
    }
}

/// What a backend reports when an exchange completes.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The authenticated principal.
    pub identity: Identity,
    /// NTLM or Kerberos.
    pub mechanism: Mechanism,
    /// The client's binding against the expected one (or what the client sent when no binding
    /// was expected: `Absent`, `Unbound`, or any non-zero value as `Mismatch`).
    pub channel_binding: BindingObservation,
    /// The client-specified service name.
    pub client_spn: ClientServiceName,
    /// Whether this backend can do Extended Protection at all.
    pub supports_extended_protection: bool,
    /// A last token for the client (Kerberos mutual authentication), if any.
    pub response_token: Option<Vec<u8>>,
    /// The account's SID, when the backend learnt it (winbind, the Kerberos PAC).
    pub user_sid: Option<Sid>,
    /// The SIDs of every group the account is a member of, nested membership already expanded
    /// (as winbind and the PAC report it); empty when the backend does not know groups.
    pub groups: Vec<Sid>,
    /// The names of those groups as `DOMAIN\Group`, when the backend resolved them (winbind);
    /// empty otherwise. `allow_groups` names match only these.
    pub group_names: Vec<String>,
    /// Kerberos: the session key's encryption type (what the KDC chose for this ticket);
    /// `None` for NTLM and where the backend cannot tell.
    pub session_enctype: Option<crate::enctype::Enctype>,
}

/// One leg's result.
#[derive(Debug)]
pub enum Step {
    /// Send this token in a 401 `WWW-Authenticate` and wait for the next leg.
    Continue(Vec<u8>),
    /// The exchange is complete.
    Complete(Completion),
}

/// Why an exchange failed. `InvalidToken` is the client's fault in the protocol (400, as .NET's
/// `IsClientFault`); the others are refused credentials (401).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The token is malformed or out of sequence.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The credentials were refused (unknown user, wrong password, MIC mismatch, old timestamp,
    /// NTLMv1/LM, anonymous); reason code `authentication-failed`.
    #[error("logon denied: {0}")]
    LogonDenied(String),
    /// The credentials were refused for a reason the backend names with a stable code of its
    /// own (`bad-credentials`, `throttled`, `account-locked-out`, `unknown-domain`, …), which
    /// becomes the `reason` field and label (401, like [`LogonDenied`](Self::LogonDenied)).
    #[error("logon denied: {message}")]
    Refused {
        /// The stable reason code (kebab-case).
        code: &'static str,
        /// What failed, for the log (may hold client-chosen names: escape it).
        message: String,
    },
    /// The mechanism is not supported by this backend.
    #[error("unsupported mechanism: {0}")]
    Unsupported(String),
    /// A Kerberos ticket whose session key uses an encryption type the backend was told to
    /// refuse (RC4 or DES: `[backend] rc4 = "refuse"`); reason code `weak-enctype`.
    #[error("the ticket's session key is {enctype}, which this server refuses (rc4 = \"refuse\")")]
    WeakEnctype {
        /// The session key's encryption type.
        enctype: crate::enctype::Enctype,
    },
    /// The security package itself refused the client's channel binding (GSSAPI
    /// `GSS_S_BAD_BINDINGS`) before the exchange completed, so there is no identity. The layer
    /// still runs the decision with a mismatching binding, so the refusal is reported as a
    /// binding failure; it never accepts.
    #[error("the security package refused the channel binding")]
    BadBindings {
        /// The mechanism, as far as it is known.
        mechanism: Mechanism,
        /// What the binding was, as far as it is known (`Mismatch` when the package only said
        /// "bad bindings").
        observation: BindingObservation,
    },
    /// The service that verifies credentials (a domain controller, through winbind) could not
    /// be reached or did not answer in time. Never a refusal of the credentials and never an
    /// accept: the client is told to retry (503 with `Retry-After`).
    #[error("authentication service unavailable: {reason}")]
    Unavailable {
        /// What failed, for the log.
        reason: String,
        /// Seconds the client should wait before retrying (`Retry-After`).
        retry_after_secs: u32,
    },
}

impl AuthError {
    /// The HTTP status .NET gives this failure (docs/windows-semantics.md §4.7).
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidToken(_) => 400,
            Self::LogonDenied(_)
            | Self::Refused { .. }
            | Self::Unsupported(_)
            | Self::WeakEnctype { .. }
            | Self::BadBindings { .. } => 401,
            Self::Unavailable { .. } => 503,
        }
    }

    /// The stable reason code logged as `reason` and used as the `epa_decisions_total` label:
    /// `invalid-token`, `authentication-failed`, the backend's own code for
    /// [`Refused`](Self::Refused), `unsupported-mechanism`, `binding-refused`, and
    /// `backend-unavailable` when the credentials were not judged (a domain-controller outage).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidToken(_) => "invalid-token",
            Self::LogonDenied(_) => "authentication-failed",
            Self::Refused { code, .. } => code,
            Self::Unsupported(_) => "unsupported-mechanism",
            Self::WeakEnctype { .. } => "weak-enctype",
            Self::BadBindings { .. } => "binding-refused",
            Self::Unavailable { .. } => "backend-unavailable",
        }
    }
}

/// A per-connection security context.
pub trait SecurityContext: Send {
    /// Processes one leg. `expected` is the binding to compare with, or `None` when the policy
    /// hands the backend no binding (plain HTTP, trusted proxy without a named certificate,
    /// enforcement `never`).
    fn step(
        &mut self,
        token: &[u8],
        expected: Option<&ExpectedBindings>,
    ) -> Result<Step, AuthError>;
}

/// An authentication backend.
pub trait Authenticator: Send + Sync + 'static {
    /// The schemes to offer in `WWW-Authenticate`, in order.
    fn schemes(&self) -> &[Scheme];
    /// A fresh context for one connection's exchange.
    fn new_context(&self) -> Box<dyn SecurityContext>;

    /// Whether [`SecurityContext::step`] blocks the calling thread (a system library such as
    /// MIT GSSAPI reading a keytab or a replay cache): the adapter then runs each leg on a
    /// blocking-task thread instead of an async worker.
    fn blocking(&self) -> bool {
        false
    }

    /// A fresh context for an exchange on a connection from `peer` (the TCP peer's address,
    /// IPv4-mapped IPv6 already folded to IPv4). Backends that rate-limit failures per client
    /// address override this; the default ignores the address.
    fn new_context_for(&self, peer: std::net::IpAddr) -> Box<dyn SecurityContext> {
        let _ = peer;
        self.new_context()
    }

    /// The mechanisms this backend can complete. Default: both. An NTLM-only backend says
    /// [`Mechanisms::NTLM`], so that a Kerberos-only route on it is a configuration error
    /// instead of a route that refuses everyone.
    fn mechanisms(&self) -> Mechanisms {
        Mechanisms::ALL
    }

    /// [`Authenticator::new_context_for`], for a route that accepts only `mechanisms`. A backend
    /// that can steer the negotiation does (MIT: `gss_set_neg_mechs`, so that SPNEGO chooses
    /// Kerberos from a client's list that has it, RFC 4178 §3.2). The default ignores
    /// `mechanisms`: the decision refuses any other mechanism whatever the backend completes.
    fn new_context_restricted(
        &self,
        peer: std::net::IpAddr,
        mechanisms: Mechanisms,
    ) -> Box<dyn SecurityContext> {
        let _ = mechanisms;
        self.new_context_for(peer)
    }
}

/// A backend behind a pointer is a backend: a boxed one (`Box<dyn Authenticator>`), and a
/// shared one (one credential, one throttle table serving several layers, e.g. one per route).
macro_rules! forward_authenticator {
    ($($pointer:ident)::+) => {
        impl<A: Authenticator + ?Sized> Authenticator for $($pointer)::+<A> {
            fn schemes(&self) -> &[Scheme] {
                (**self).schemes()
            }
            fn new_context(&self) -> Box<dyn SecurityContext> {
                (**self).new_context()
            }
            fn blocking(&self) -> bool {
                (**self).blocking()
            }
            fn new_context_for(&self, peer: std::net::IpAddr) -> Box<dyn SecurityContext> {
                (**self).new_context_for(peer)
            }
            fn mechanisms(&self) -> Mechanisms {
                (**self).mechanisms()
            }
            fn new_context_restricted(
                &self,
                peer: std::net::IpAddr,
                mechanisms: Mechanisms,
            ) -> Box<dyn SecurityContext> {
                (**self).new_context_restricted(peer, mechanisms)
            }
        }
    };
}
forward_authenticator!(Box);
forward_authenticator!(std::sync::Arc);
