//! Every metric name the crate writes, in one table (through the `metrics`
//! facade: without an installed recorder a metric costs a branch). The names are an interface
//! (users' dashboards): they change only with a major version.
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `epa_decisions_total` | counter | `decision`, `reason`, `mechanism`, `channel_binding` | one per completed decision, backend refusal or outage (`mechanism`/`channel_binding` are `unknown` when the backend refused before knowing) |
//! | `epa_audit_would_reject_total` | counter | `reason` (the target's), `mechanism`, `channel_binding` | audit mode: accepted, but the target policy would refuse |
//! | `epa_authentication_seconds` | histogram | `mechanism` | first leg to decision |
//! | `epa_kerberos_session_enctypes_total` | counter | `enctype` (`aes256-cts-hmac-sha1-96`, `arcfour-hmac`, …, `other`) | completed Kerberos exchanges, by the session key's encryption type |
//! | `epa_tls_handshake_seconds` | histogram | `tls_version` (`1.3`, `1.2`, `other`) | TLS handshakes |
//! | `epa_client_certificates_total` | counter | `status` (`valid`, `not-presented`, `revoked`, …) | per TLS connection |
//! | `epa_client_certificate_refusals_total` | counter | `reason` (`client-certificate-required`, …) | requests refused for their certificate |
//! | `epa_audit_client_certificate_would_refuse_total` | counter | `reason` | audit mode: would have been refused for the certificate |
//! | `epa_crl_reload_rejected_total` | counter | `reason` (`older-crl-number`) | CRL reloads refused |
//! | `epa_throttle_refusals_total` | counter | `key` (`address`, `address-account`, `account`) | logons refused unchecked by failure throttling / smart lockout |
//! | `epa_authorization_denied_total` | counter | `reason` (`user-not-allowed`, `group-not-allowed`) | authenticated, refused by `allow_users`/`allow_groups` |
//! | `epa_connections_open` | gauge | — | connections being served |
//! | `epa_connections_closed_total` | counter | `reason`: `handshake-timeout`, `handshake-failed`, `head-timeout`, `keep-alive-timeout`, `exchange-timeout`, `send-timeout`, `shutdown`, `shutdown-deadline`, `proxy-header-refused`, `per-address-limit` (the client a PROXY header named), `ended` | connections ended |
//! | `epa_connections_refused_total` | counter | `reason`: `per-address-limit` | connections refused at accept |
//! | `epa_proxy_protocol_headers_total` | counter | `result`: `proxied`, `local`, `unknown` (read); `missing`, `truncated`, `timeout`, `v1-too-long`, `v1-malformed`, `v2-too-long`, `v2-malformed`, `datagram` (a listed peer's, refused); `not-allowed` (a header from a peer not in `proxy_protocol_from`, refused) | PROXY protocol headers (`[listener] proxy_protocol_from`) |
//! | `epa_accept_errors_total` | counter | `kind`: `too-many-open-files`, `file-table-full`, `connection-aborted`, `out-of-memory`, `other` | failed accepts |
//! | `epa_certificate_reloads_total` | counter | `result`: `ok`, `kept-previous` | server certificate reloads |
//! | `epa_config_reload_total` | counter | `result`: `ok`, `rejected` | configuration reloads (SIGHUP) |
//! | `epa_upstream_errors_total` | counter | `reason` (`connect-refused`, `connect-timeout`, `unreachable`, `tls`, `response-timeout`, `read-timeout`, `protocol`, `identity-header-value`) | failed forwards |
//! | `epa_client_body_timeouts_total` | counter | — | request bodies cut for idleness (`[listener] body_timeout`) |
//! | `epa_proxy_headers_dropped_total` | counter | `reason` (`underscore`) | request headers the proxy dropped |
//! | `epa_upgrade_idle_closed_total` | counter | — | spliced (upgraded) connections closed for idleness |
//! | `epa_kdc_proxy_requests_total` | counter | `realm` (configured ones only, else `other`), `outcome` (`reply`, `bad-request`, `unknown-realm`, `too-large`, `busy`, `kdc-unreachable`, `kdc-timeout`, …) | KDC proxy (MS-KKDCP) requests |
//! | `epa_kdc_proxy_seconds` | histogram | `realm` | KDC proxy requests answered with the KDC's reply: body read to reply sent |

/// `epa_decisions_total`.
pub const DECISIONS_TOTAL: &str = "epa_decisions_total";
/// `epa_audit_would_reject_total`.
pub const AUDIT_WOULD_REJECT_TOTAL: &str = "epa_audit_would_reject_total";
/// `epa_authentication_seconds`.
pub const AUTHENTICATION_SECONDS: &str = "epa_authentication_seconds";
/// `epa_kerberos_session_enctypes_total`.
pub const KERBEROS_SESSION_ENCTYPES_TOTAL: &str = "epa_kerberos_session_enctypes_total";
/// `epa_tls_handshake_seconds`.
pub const TLS_HANDSHAKE_SECONDS: &str = "epa_tls_handshake_seconds";
/// `epa_client_certificates_total`.
pub const CLIENT_CERTIFICATES_TOTAL: &str = "epa_client_certificates_total";
/// `epa_client_certificate_refusals_total`.
pub const CLIENT_CERTIFICATE_REFUSALS_TOTAL: &str = "epa_client_certificate_refusals_total";
/// `epa_audit_client_certificate_would_refuse_total`.
pub const AUDIT_CLIENT_CERTIFICATE_WOULD_REFUSE_TOTAL: &str =
    "epa_audit_client_certificate_would_refuse_total";
/// `epa_crl_reload_rejected_total`.
pub const CRL_RELOAD_REJECTED_TOTAL: &str = "epa_crl_reload_rejected_total";
/// `epa_throttle_refusals_total`.
pub const THROTTLE_REFUSALS_TOTAL: &str = "epa_throttle_refusals_total";
/// `epa_authorization_denied_total`.
pub const AUTHORIZATION_DENIED_TOTAL: &str = "epa_authorization_denied_total";
/// `epa_connections_open`.
pub const CONNECTIONS_OPEN: &str = "epa_connections_open";
/// `epa_connections_closed_total`.
pub const CONNECTIONS_CLOSED_TOTAL: &str = "epa_connections_closed_total";
/// `epa_connections_refused_total`.
pub const CONNECTIONS_REFUSED_TOTAL: &str = "epa_connections_refused_total";
/// `epa_proxy_protocol_headers_total`.
pub const PROXY_PROTOCOL_HEADERS_TOTAL: &str = "epa_proxy_protocol_headers_total";
/// `epa_accept_errors_total`.
pub const ACCEPT_ERRORS_TOTAL: &str = "epa_accept_errors_total";
/// `epa_certificate_reloads_total`.
pub const CERTIFICATE_RELOADS_TOTAL: &str = "epa_certificate_reloads_total";
/// `epa_config_reload_total`.
pub const CONFIG_RELOAD_TOTAL: &str = "epa_config_reload_total";
/// `epa_upstream_errors_total`.
pub const UPSTREAM_ERRORS_TOTAL: &str = "epa_upstream_errors_total";
/// `epa_client_body_timeouts_total`.
pub const CLIENT_BODY_TIMEOUTS_TOTAL: &str = "epa_client_body_timeouts_total";
/// `epa_proxy_headers_dropped_total`.
pub const DROPPED_HEADERS_TOTAL: &str = "epa_proxy_headers_dropped_total";
/// `epa_upgrade_idle_closed_total`.
pub const UPGRADE_IDLE_CLOSED_TOTAL: &str = "epa_upgrade_idle_closed_total";
/// `epa_kdc_proxy_requests_total`.
pub const KDC_PROXY_REQUESTS_TOTAL: &str = "epa_kdc_proxy_requests_total";
/// `epa_kdc_proxy_seconds`.
pub const KDC_PROXY_SECONDS: &str = "epa_kdc_proxy_seconds";

/// Every name above, for tests and exporters.
pub const ALL: [&str; 24] = [
    DECISIONS_TOTAL,
    AUDIT_WOULD_REJECT_TOTAL,
    AUTHENTICATION_SECONDS,
    KERBEROS_SESSION_ENCTYPES_TOTAL,
    TLS_HANDSHAKE_SECONDS,
    CLIENT_CERTIFICATES_TOTAL,
    CLIENT_CERTIFICATE_REFUSALS_TOTAL,
    AUDIT_CLIENT_CERTIFICATE_WOULD_REFUSE_TOTAL,
    CRL_RELOAD_REJECTED_TOTAL,
    THROTTLE_REFUSALS_TOTAL,
    AUTHORIZATION_DENIED_TOTAL,
    CONNECTIONS_OPEN,
    CONNECTIONS_CLOSED_TOTAL,
    CONNECTIONS_REFUSED_TOTAL,
    PROXY_PROTOCOL_HEADERS_TOTAL,
    ACCEPT_ERRORS_TOTAL,
    CERTIFICATE_RELOADS_TOTAL,
    CONFIG_RELOAD_TOTAL,
    UPSTREAM_ERRORS_TOTAL,
    CLIENT_BODY_TIMEOUTS_TOTAL,
    DROPPED_HEADERS_TOTAL,
    UPGRADE_IDLE_CLOSED_TOTAL,
    KDC_PROXY_REQUESTS_TOTAL,
    KDC_PROXY_SECONDS,
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_name_is_documented_once_and_distinct() {
        let doc = include_str!("metrics.rs");
        for name in super::ALL {
            assert_eq!(
                doc.matches(&format!("//! | `{name}` |")).count(),
                1,
                "{name} in the table once"
            );
        }
        let mut names = super::ALL.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), super::ALL.len());
    }
}
