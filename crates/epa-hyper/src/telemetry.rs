//! What the adapter reports: `tracing` events (target `epa`) and `metrics` counters and
//! histograms. Both are an interface: names and fields change only with a major version.
//!
//! # The decision event
//! One `INFO` event per completed authentication decision, message = the reason's sentence:
//!
//! | field | value |
//! |---|---|
//! | `decision` | `accept` or `reject` |
//! | `reason` | the stable reason code (`binding-verified`, `binding-absent`, …; `authentication-failed` when the backend refused the credentials) |
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
//!
//! Metrics go through the [`metrics`] facade: without an installed recorder they cost a branch.

use epa_core::client_cert::{CertificateRefusal, CertificateStatus};
use epa_core::decide::{BindingObservation, Mechanism};
use std::time::Duration;

/// `epa_decisions_total` and, in audit mode, `epa_audit_would_reject_total`.
pub(crate) fn decision(
    accepted: bool,
    reason: &'static str,
    mechanism: Mechanism,
    observation: BindingObservation,
    would_reject: Option<&'static str>,
) {
    metrics::counter!(
        "epa_decisions_total",
        "decision" => if accepted { "accept" } else { "reject" },
        "reason" => reason,
        "mechanism" => mechanism.name(),
        "channel_binding" => observation.name()
    )
    .increment(1);
    if let Some(target_reason) = would_reject {
        metrics::counter!(
            "epa_audit_would_reject_total",
            "reason" => target_reason,
            "mechanism" => mechanism.name(),
            "channel_binding" => observation.name()
        )
        .increment(1);
    }
}

/// A backend refusal (bad credentials, malformed token): `epa_decisions_total` with reason
/// `authentication-failed`.
pub(crate) fn authentication_failed() {
    metrics::counter!(
        "epa_decisions_total",
        "decision" => "reject",
        "reason" => "authentication-failed",
        "mechanism" => "unknown",
        "channel_binding" => "unknown"
    )
    .increment(1);
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
