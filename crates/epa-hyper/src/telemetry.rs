//! What the adapter reports: `tracing` events (target `epa`) and `metrics` counters and
//! histograms. Both are an interface: names and fields change only with a major version.
//!
//! # The decision event
//! One `INFO` event per completed authentication decision, message = the reason's sentence:
//!
//! | field | value |
//! |---|---|
//! | `decision` | `accept` or `reject` |
//! | `reason` | the stable reason code (`binding-verified`, `binding-absent`, …; when the backend refused or could not judge the credentials, its own code: `bad-credentials`, `throttled`, `account-locked-out`, `account-disabled`, `account-expired`, `password-expired`, `account-restricted`, `unknown-domain`, `logon-refused`, `mic-mismatch`, `timestamp-skew`, `ntlmv1-refused`, `lm-or-anonymous-refused`, `invalid-token`, `unsupported-mechanism`, `authentication-failed` for other backends' refusals, and `backend-unavailable` — 503, not a failed logon — when the domain controller could not be asked) |
//! | `status` | the HTTP status of a rejection (401, 500) |
//! | `mechanism` | `ntlm`, `kerberos`, `other` |
//! | `channel_binding` | `match`, `mismatch`, `absent`, `unbound`, `not-checked` |
//! | `client_spn` | the service name the client named, if any |
//! | `peer` | the client address (`IP:port`) |
//! | `principal` | the authenticated user (`DOMAIN\user` or `user@REALM`), on a completed exchange |
//! | `enctype` | Kerberos: the session key's encryption type (`aes256-cts-hmac-sha1-96`, `arcfour-hmac`, …) |
//! | `audit` | in audit mode: `would-reject` or `pass` |
//! | `audit_reason` | in audit mode: the target policy's reason code |
//!
//! Never logged: tokens, passwords, hashes, keys, session keys — not even their lengths.
//!
//! # Metrics
//! Every metric name, with its kind, labels and meaning, is in [`metrics`] (one table).
//!

pub mod metrics;

use epa_core::authenticator::AuthError;
use epa_core::client_cert::{CertificateRefusal, CertificateStatus};
use epa_core::decide::{BindingObservation, Decision, Mechanism, Reason};
use std::net::SocketAddr;
use std::time::Duration;

/// Client-chosen text (user, domain, principal, SPN, an error naming them) as it may appear in
/// a log line: control and bidirectional-override characters escaped (`\n`, `\u{1b}`), at
/// most [`ClientText::MAX_CHARS`] characters, then `…(+N chars)`. A client can neither forge a
/// log line nor fill the log with one name.
pub struct ClientText<'a>(pub &'a str);

impl ClientText<'_> {
    /// Characters of client text kept in one field.
    pub const MAX_CHARS: usize = 256;
}

impl std::fmt::Display for ClientText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        for (kept, c) in self.0.chars().enumerate() {
            if kept == Self::MAX_CHARS {
                let rest = self.0.chars().count() - kept;
                return write!(f, "…(+{rest} chars)");
            }
            let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || bidi {
                for e in c.escape_default() {
                    f.write_char(e)?;
                }
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for ClientText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// One completed authentication decision: the log event and the metrics, written once.
pub(crate) struct DecisionEvent<'a> {
    pub(crate) accepted: bool,
    pub(crate) reason: &'a Reason,
    pub(crate) status: u16,
    pub(crate) mechanism: Mechanism,
    pub(crate) observation: BindingObservation,
    pub(crate) client_spn: Option<&'a str>,
    pub(crate) peer: SocketAddr,
    pub(crate) principal: Option<&'a str>,
    /// Kerberos: the session key's encryption type.
    pub(crate) enctype: Option<epa_core::enctype::Enctype>,
    /// In audit mode: the target's decision.
    pub(crate) audit: Option<&'a Decision>,
}

impl DecisionEvent<'_> {
    /// `epa_decisions_total` (and in audit mode `epa_audit_would_reject_total`) and one `INFO`
    /// event with the fields documented above.
    pub(crate) fn emit(&self) {
        let decision = Verdict::from_accepted(self.accepted).name();
        ::metrics::counter!(
            metrics::DECISIONS_TOTAL,
            "decision" => decision,
            "reason" => self.reason.code(),
            "mechanism" => self.mechanism.name(),
            "channel_binding" => self.observation.name()
        )
        .increment(1);
        let would_reject = self
            .audit
            .filter(|target| self.accepted && !target.is_accept())
            .map(|target| target.reason().code());
        if let Some(target_reason) = would_reject {
            ::metrics::counter!(
                metrics::AUDIT_WOULD_REJECT_TOTAL,
                "reason" => target_reason,
                "mechanism" => self.mechanism.name(),
                "channel_binding" => self.observation.name()
            )
            .increment(1);
        }
        tracing::info!(
            target: "epa",
            decision,
            reason = self.reason.code(),
            status = self.status,
            mechanism = self.mechanism.name(),
            channel_binding = self.observation.name(),
            client_spn = self.client_spn.map(|s| tracing::field::display(ClientText(s))),
            peer = %self.peer,
            principal = self.principal.map(|s| tracing::field::display(ClientText(s))),
            enctype = self.enctype.map(|e| e.name()),
            audit = self.audit.map(|_| if would_reject.is_some() { "would-reject" } else { "pass" }),
            audit_reason = self.audit.map(|t| t.reason().code()),
            "{}",
            self.reason.message()
        );
    }
}

/// The `decision` label and field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accept,
    Reject,
}

impl Verdict {
    fn from_accepted(accepted: bool) -> Self {
        if accepted { Self::Accept } else { Self::Reject }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Reject => "reject",
        }
    }
}

/// The `mechanism` / `channel_binding` label of what a backend refused before knowing it.
const UNKNOWN: &str = "unknown";

/// A backend refusal or outage: `epa_decisions_total` with the error's own reason code
/// ([`AuthError::code`]: `bad-credentials`, `throttled`, `account-locked-out`,
/// `backend-unavailable`, …), mechanism and binding as far as the error names them (else
/// `unknown`), and the event naming the check that failed (the error text, which may hold the
/// client's user name, escaped).
pub(crate) fn authentication_failed(peer: SocketAddr, status: u16, error: &AuthError) {
    let reason = error.code();
    let decision = Verdict::Reject.name();
    let (mechanism, observation) = match *error {
        AuthError::BadBindings {
            mechanism,
            observation,
        } => (Some(mechanism), Some(observation)),
        _ => (None, None),
    };
    ::metrics::counter!(
        metrics::DECISIONS_TOTAL,
        "decision" => decision,
        "reason" => reason,
        "mechanism" => mechanism.map_or(UNKNOWN, Mechanism::name),
        "channel_binding" => observation.map_or(UNKNOWN, BindingObservation::name)
    )
    .increment(1);
    let text = error.to_string();
    tracing::info!(target: "epa", decision, reason, peer = %peer, status, "{}", ClientText(&text));
}

/// A first leg refused for its mechanism (`[policy] mechanisms`), before any backend ran:
/// `epa_decisions_total` with `mechanism-not-allowed` and the event (there is no binding
/// observation: `channel_binding` is `unknown`).
pub(crate) fn mechanism_refused(peer: SocketAddr, mechanism: Mechanism) {
    let reason = Reason::MechanismNotAllowed { mechanism };
    let decision = Verdict::Reject.name();
    ::metrics::counter!(
        metrics::DECISIONS_TOTAL,
        "decision" => decision,
        "reason" => reason.code(),
        "mechanism" => mechanism.name(),
        "channel_binding" => UNKNOWN
    )
    .increment(1);
    tracing::info!(
        target: "epa",
        decision,
        reason = reason.code(),
        status = 401u16,
        mechanism = mechanism.name(),
        peer = %peer,
        "{}",
        reason.message()
    );
}

/// `epa_kerberos_session_enctypes_total`.
#[cfg_attr(not(feature = "gssapi"), allow(dead_code))] // only GSSAPI reports an enctype
pub(crate) fn session_enctype(enctype: epa_core::enctype::Enctype) {
    ::metrics::counter!(metrics::KERBEROS_SESSION_ENCTYPES_TOTAL, "enctype" => enctype.name())
        .increment(1);
}

/// `weak_enctypes = "audit"`: an RC4 or DES ticket or session key accepted, reported as a
/// would-be refusal (`epa_audit_would_reject_total{reason="weak-enctype"}` and a warning).
#[cfg_attr(not(feature = "gssapi"), allow(dead_code))] // only GSSAPI reports an enctype
pub(crate) fn weak_enctype_audited(enctype: epa_core::enctype::Enctype) {
    if !enctype.is_weak() {
        return;
    }
    ::metrics::counter!(
        metrics::AUDIT_WOULD_REJECT_TOTAL,
        "reason" => "weak-enctype",
        "mechanism" => Mechanism::Kerberos.name(),
        "channel_binding" => UNKNOWN
    )
    .increment(1);
    tracing::warn!(target: "epa", audit = "would-reject", audit_reason = "weak-enctype", enctype = enctype.name(), "a Kerberos ticket using {enctype} was accepted; weak_enctypes = \"refuse\" would refuse it (Windows is retiring RC4)");
}

/// `epa_authentication_seconds`.
pub(crate) fn authentication_time(mechanism: Mechanism, elapsed: Duration) {
    ::metrics::histogram!(metrics::AUTHENTICATION_SECONDS, "mechanism" => mechanism.name())
        .record(elapsed.as_secs_f64());
}

/// `epa_tls_handshake_seconds`.
pub(crate) fn tls_handshake(version: Option<rustls::ProtocolVersion>, elapsed: Duration) {
    let version = match version {
        Some(rustls::ProtocolVersion::TLSv1_3) => "1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "1.2",
        _ => "other",
    };
    ::metrics::histogram!(metrics::TLS_HANDSHAKE_SECONDS, "tls_version" => version)
        .record(elapsed.as_secs_f64());
}

/// `epa_client_certificates_total`.
pub(crate) fn client_certificate(status: CertificateStatus) {
    let status = match status {
        CertificateStatus::NotPresented => "not-presented",
        CertificateStatus::Valid => "valid",
        CertificateStatus::Untrusted => "untrusted",
        CertificateStatus::Expired => "expired",
        CertificateStatus::NotYetValid => "not-yet-valid",
        CertificateStatus::Revoked => "revoked",
        CertificateStatus::RevocationUnknown => "revocation-unknown",
    };
    ::metrics::counter!(metrics::CLIENT_CERTIFICATES_TOTAL, "status" => status).increment(1);
}

/// A request the client-certificate requirement of a path refused, or in audit mode would
/// have refused: the counter and one `INFO` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CertificateGateEvent {
    /// Refused (403.x).
    Refused(CertificateRefusal),
    /// Audit mode: let through, but the requirement would refuse it.
    NotEnforced(CertificateRefusal),
}

impl CertificateGateEvent {
    /// The `reason` of a requirement observed, not enforced (the refusal's own code is its
    /// `audit_reason`).
    pub(crate) const NOT_ENFORCED: &'static str = "client-certificate-not-enforced";

    /// `epa_client_certificate_refusals_total` (or `epa_audit_client_certificate_would_refuse_total`)
    /// and the event; `subject` is the certificate's, if one was presented.
    pub(crate) fn emit(self, peer: SocketAddr, subject: Option<&str>) {
        match self {
            Self::Refused(refusal) => {
                ::metrics::counter!(metrics::CLIENT_CERTIFICATE_REFUSALS_TOTAL, "reason" => refusal.code())
                    .increment(1);
                tracing::info!(
                    target: "epa",
                    decision = Verdict::Reject.name(),
                    reason = refusal.code(),
                    substatus = refusal.iis_substatus(),
                    peer = %peer,
                    subject,
                    "client certificate refused: {}",
                    refusal.message()
                );
            }
            Self::NotEnforced(refusal) => {
                ::metrics::counter!(metrics::AUDIT_CLIENT_CERTIFICATE_WOULD_REFUSE_TOTAL, "reason" => refusal.code())
                    .increment(1);
                tracing::info!(
                    target: "epa",
                    decision = Verdict::Accept.name(),
                    reason = Self::NOT_ENFORCED,
                    audit = "would-reject",
                    audit_reason = refusal.code(),
                    substatus = refusal.iis_substatus(),
                    peer = %peer,
                    subject,
                    "client certificate requirement observed, not enforced: {}",
                    refusal.message()
                );
            }
        }
    }
}
