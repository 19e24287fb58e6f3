//! The server configuration file as written: one table per `[section]`, unknown keys refused.

use crate::assertion::IdentityAssertionTable;
use crate::backend::BackendTable;
use crate::client_certificates::ClientCertificateTable;
use crate::diagnostics::DiagnosticsTable;
use crate::kdc_proxy::KdcProxyTable;
use crate::listener::ListenerTable;
use crate::metrics::MetricsTable;
use crate::policy_table::PolicyTable;
use crate::proxy::{IdentityHeadersTable, RouteTable, UpstreamTable};
use crate::request_filtering::RequestFilteringTable;
use serde::{Deserialize, Serialize};

/// A server configuration file: the listener, its client-certificate settings and its
/// Extended Protection policy. `epa lint` reads it; the example server runs it (`--config`).
///
/// ```toml
/// [listener]
/// transport = "https"          # https | http
/// negotiate = true             # run Negotiate/NTLM with Extended Protection
/// trusted_proxies = []         # peers allowed under trusted-proxy
/// proxy_certificate_file = "front.pem"  # trusted-proxy: the proxy's certificate, pinned
/// address = "0.0.0.0:443"
/// certificate_file = "server.pem"  # with key_file; re-read on SIGHUP or change
/// key_file = "server.key"
/// tls_handshake_timeout = 10   # seconds; request_head_timeout = 30, keep_alive_timeout = 120,
///                              # exchange_timeout = 60, shutdown_timeout = 30, send_timeout = 60,
///                              # drain_timeout = 10
/// max_drain_bytes = 4194304    # an unread body drained after a 401 (keep-alive), at most
/// max_connections = 10000      # max_connections_per_address (none by default)
/// tcp_nodelay = true           # max_header_bytes = 131072, max_headers = 100
///
/// [client_certificates]
/// mode = "request"             # ignore | request | require (default: request when ca_files is set)
/// ca_files = ["clients-ca.pem"]
/// crl_files = ["clients-ca.crl"]
/// revocation = "check"         # check | allow-unknown | end-entity-only | off
/// hints = "all"                # all | none | subset (then hint_ca_files)
/// required_paths = ["/cert"]   # routes that need a certificate (path prefixes)
/// audit_only = false           # true: log and count would-be refusals, refuse nothing
///
/// [policy]
/// enforcement = "always"
/// ```
/// Relative file names are relative to the configuration file. Unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The listener.
    #[serde(default)]
    pub listener: ListenerTable,
    /// Client certificates.
    #[serde(default)]
    pub client_certificates: ClientCertificateTable,
    /// Extended Protection (needed when the listener runs Negotiate).
    pub policy: Option<PolicyTable>,
    /// `[backend]`: who verifies credentials (`epa serve`; default: embedded with `--users`).
    pub backend: Option<BackendTable>,
    /// `[upstream]`: `epa serve` proxies to it when present.
    pub upstream: Option<UpstreamTable>,
    /// `[identity_headers]`: the names of the headers the upstream reads.
    #[serde(default)]
    pub identity_headers: IdentityHeadersTable,
    /// `[[route]]`: per-path policies (longest normalised prefix wins).
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteTable>,
    /// `[metrics]`: the Prometheus page (`epa serve`; absent: not served).
    pub metrics: Option<MetricsTable>,
    /// `[diagnostics]`: the client diagnostics page of `epa serve` (off by default).
    #[serde(default)]
    pub diagnostics: DiagnosticsTable,
    /// `[request_filtering]`: path spellings refused before routing (IIS request filtering).
    #[serde(default)]
    pub request_filtering: RequestFilteringTable,
    /// `[kdc_proxy]`: the KDC proxy (MS-KKDCP) of `epa serve` (absent: not served).
    pub kdc_proxy: Option<KdcProxyTable>,
    /// `[identity_assertion]`: signed identity assertions and their key page (absent: none).
    pub identity_assertion: Option<IdentityAssertionTable>,
}

impl ServerConfig {
    /// Makes relative file names relative to `base` (the configuration file's directory).
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        if let Some(b) = self.backend.as_mut() {
            b.resolve_paths(base);
        }
        if let Some(ca) = self.upstream.as_mut().and_then(|u| u.ca_file.as_mut())
            && ca.is_relative()
        {
            *ca = base.join(&*ca);
        }
        if let Some(a) = self.identity_assertion.as_mut() {
            a.resolve_paths(base);
        }
        let c = &mut self.client_certificates;
        let l = &mut self.listener;
        for p in c
            .ca_files
            .iter_mut()
            .chain(c.crl_files.iter_mut())
            .chain(c.hint_ca_files.iter_mut())
            .chain(l.certificate_file.iter_mut())
            .chain(l.key_file.iter_mut())
            .chain(l.proxy_certificate_file.iter_mut())
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::{Deadlines, ListenerError};
    use epa_core::client_cert::ClientCertificateMode;
    use epa_core::path::PathError;

    #[test]
    fn defaults_and_paths() {
        let c = toml::from_str::<ServerConfig>("").unwrap();
        assert!(c.listener.negotiate);
        assert_eq!(c.listener.transport, epa_core::decide::Transport::Https);
        assert_eq!(
            c.client_certificates.effective_mode(),
            ClientCertificateMode::Ignore
        );
        let mut c = toml::from_str::<ServerConfig>(
            "[client_certificates]\nca_files = [\"ca.pem\", \"/etc/ca.pem\"]\nrequired_paths = [\"/cert\", \"/admin/\"]\n",
        )
        .unwrap();
        assert_eq!(
            c.client_certificates.effective_mode(),
            ClientCertificateMode::Request
        );
        c.resolve_paths(std::path::Path::new("/srv/epa"));
        assert_eq!(
            c.client_certificates.ca_files,
            vec![
                std::path::PathBuf::from("/srv/epa/ca.pem"),
                "/etc/ca.pem".into()
            ]
        );
        let t = &c.client_certificates;
        assert!(t.requires("/cert") && t.requires("/cert/x") && t.requires("/admin"));
        assert!(!t.requires("/certificate") && !t.requires("/") && !t.requires("/administrator"));
        // #11 item 9: every spelling of a required path is required.
        for spelling in [
            "//cert",
            "/%63ert",
            "/./cert",
            "/x/../cert",
            "/Cert",
            "/cert;a",
            "/ADMIN/x",
        ] {
            assert!(t.requires(spelling), "{spelling}");
        }
        // A path that cannot be normalised fails closed (the route layer answers 400).
        assert!(t.requires("/%zz") && t.requires("/../cert"));
        assert_eq!(t.required_prefixes().unwrap().len(), 2);
        let mut bad = t.clone();
        bad.required_paths.push("/a%2Fb".into());
        assert_eq!(
            bad.required_prefixes().unwrap_err().source,
            PathError::EncodedSlash
        );
        assert!(toml::from_str::<ServerConfig>("[listener]\nnegotiat = true\n").is_err());
        assert_eq!(c.listener.deadlines(), Ok(Deadlines::default()));

        assert!(
            toml::from_str::<ServerConfig>("[client_certificates]\nmode = \"sometimes\"\n")
                .is_err()
        );
    }

    #[test]
    fn listener_keys_are_validated() {
        let l = |text: &str| toml::from_str::<ServerConfig>(&format!("[listener]\n{text}\n"));
        let c = l("address = \"0.0.0.0:443\"\ncertificate_file = \"s.pem\"\nkey_file = \"s.key\"\ntls_handshake_timeout = 0.5\nmax_connections_per_address = 8\ntcp_nodelay = false").unwrap();
        assert_eq!(c.listener.validate(), Ok(()));
        let d = c.listener.deadlines().unwrap();
        assert_eq!(d.tls_handshake, std::time::Duration::from_millis(500));
        assert_eq!(d.keep_alive, std::time::Duration::from_secs(120));
        let mut c = c;
        c.resolve_paths(std::path::Path::new("/srv"));
        assert_eq!(c.listener.key_file, Some("/srv/s.key".into()));
        for (text, want) in [
            (
                "keep_alive_timeout = 0",
                ListenerError::Deadline {
                    key: "keep_alive_timeout",
                    value: 0.0,
                },
            ),
            (
                "exchange_timeout = -1",
                ListenerError::Deadline {
                    key: "exchange_timeout",
                    value: -1.0,
                },
            ),
            (
                "request_head_timeout = 1e9",
                ListenerError::Deadline {
                    key: "request_head_timeout",
                    value: 1e9,
                },
            ),
            (
                "max_connections = 0",
                ListenerError::ZeroLimit {
                    key: "max_connections",
                },
            ),
            (
                "max_connections_per_address = 0",
                ListenerError::ZeroLimit {
                    key: "max_connections_per_address",
                },
            ),
            ("max_header_bytes = 100", ListenerError::HeaderBytes(100)),
            (
                "certificate_file = \"a.pem\"",
                ListenerError::CertificateWithoutKey,
            ),
        ] {
            assert_eq!(l(text).unwrap().listener.validate(), Err(want), "{text}");
        }
        assert!(l("tls_handshake_timeout = \"10s\"").is_err());
        assert!(l("max_connections = -1").is_err());
    }
}
