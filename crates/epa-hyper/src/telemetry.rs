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
//! | `audit` | in audit mode: `would-reject` or `pass` |
//! | `audit_reason` | in audit mode: the target policy's reason code |
//!
//! Never logged: tokens, passwords, hashes, keys, session keys — not even their lengths.
//!
//! # Metrics
//! | name | kind | labels |
//! |---|---|---|
//! | `epa_decisions_total` | counter | `decision`, `reason`, `mechanism`, `channel_binding` |
//! | `epa_audit_would_reject_total` | counter | `reason` (the target's), `mechanism`, `channel_binding` |
//! | `epa_authentication_seconds` | histogram | `mechanism`: first leg to decision |
//! | `epa_tls_handshake_seconds` | histogram | `tls_version` |
//! | `epa_client_certificates_total` | counter | `status` (`valid`, `not-presented`, `revoked`, …), per TLS connection |
//! | `epa_client_certificate_refusals_total` | counter | `reason` (`client-certificate-required`, …) |
//! | `epa_audit_client_certificate_would_refuse_total` | counter | `reason` |
//! | `epa_throttle_refusals_total` | counter | `key` (`address`, `address-account`, `account`): logons refused unchecked by failure throttling / smart lockout (counted in `epa-ntlm`) |
//! | `epa_authorization_denied_total` | counter | `reason` (`user-not-allowed`, `group-not-allowed`): authenticated, refused by `allow_users`/`allow_groups` |
//!
//! Metrics go through the [`metrics`] facade: without an installed recorder they cost a branch.

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
    /// In audit mode: the target's decision.
    pub(crate) audit: Option<&'a Decision>,
}

impl DecisionEvent<'_> {
    /// `epa_decisions_total` (and in audit mode `epa_audit_would_reject_total`) and one `INFO`
    /// event with the fields documented above.
    pub(crate) fn emit(&self) {
        let decision = if self.accepted { "accept" } else { "reject" };
        metrics::counter!(
            "epa_decisions_total",
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
            metrics::counter!(
                "epa_audit_would_reject_total",
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
            audit = self.audit.map(|_| if would_reject.is_some() { "would-reject" } else { "pass" }),
            audit_reason = self.audit.map(|t| t.reason().code()),
            "{}",
            self.reason.message()
        );
    }
}

/// A backend refusal or outage: `epa_decisions_total` with the error's own reason code
/// ([`AuthError::code`]: `bad-credentials`, `throttled`, `account-locked-out`,
/// `backend-unavailable`, …), and the event naming the check that failed (the error text,
/// which may hold the client's user name, escaped).
pub(crate) fn authentication_failed(peer: SocketAddr, status: u16, error: &AuthError) {
    let reason = error.code();
    metrics::counter!(
        "epa_decisions_total",
        "decision" => "reject",
        "reason" => reason,
        "mechanism" => "unknown",
        "channel_binding" => "unknown"
    )
    .increment(1);
    let text = error.to_string();
    tracing::info!(target: "epa", decision = "reject", reason, peer = %peer, status, "{}", ClientText(&text));
}

/// `epa_authentication_seconds`.
pub(crate) fn authentication_time(mechanism: Mechanism, elapsed: Duration) {
    metrics::histogram!("epa_authentication_seconds", "mechanism" => mechanism.name())
        .record(elapsed.as_secs_f64());
}

/// `epa_tls_handshake_seconds`.
pub(crate) fn tls_handshake(version: Option<rustls::ProtocolVersion>, elapsed: Duration) {
    let version = match version {
        Some(rustls::ProtocolVersion::TLSv1_3) => "1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "1.2",
        _ => "other",
    };
    metrics::histogram!("epa_tls_handshake_seconds", "tls_version" => version)
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
    metrics::counter!("epa_client_certificates_total", "status" => status).increment(1);
}

/// `epa_client_certificate_refusals_total`, or its audit counterpart.
pub(crate) fn client_certificate_refusal(refusal: CertificateRefusal, audit_only: bool) {
    if audit_only {
        metrics::counter!("epa_audit_client_certificate_would_refuse_total", "reason" => refusal.code())
            .increment(1);
    } else {
        metrics::counter!("epa_client_certificate_refusals_total", "reason" => refusal.code())
            .increment(1);
    }
}
