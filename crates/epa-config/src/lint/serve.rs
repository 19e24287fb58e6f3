//! `epa serve`'s own tables: `[metrics]`, the pinned proxy certificate, and the per-route
//! client-certificate requirement.

use super::{Finding, Severity, finding};
use crate::ServerConfig;
use crate::proxy::{check_routes, enclosing_route};
use epa_core::client_cert::ClientCertificateMode;
use epa_core::policy::ProtectionScenario;

/// Findings for `[metrics]`, `[listener] proxy_certificate_file` and
/// `[[route]] require_client_certificate`.
pub(super) fn serve_findings(config: &ServerConfig, out: &mut Vec<Finding>) {
    use Severity::*;
    if let Some(m) = &config.metrics {
        match m.normalized_path() {
            Err(e) => out.push(finding(Error, "metrics-invalid", e.to_string(),
                "give an absolute path (path = \"/metrics\") and at least one address in allow_from")),
            Ok(_) if !m.loopback_only() => out.push(finding(Info, "metrics-not-loopback",
                format!("the metrics page is readable from {:?}: its counters show login rates and refusal reasons (relays, unknown users) to whoever is there", m.allow_from),
                "list only the monitoring host's address, or keep the default (loopback) and scrape through it")),
            Ok(_) => {}
        }
        let through: Vec<_> = m
            .allow_from
            .iter()
            .filter(|a| {
                config
                    .listener
                    .trusted_proxies
                    .iter()
                    .any(|p| p.to_canonical() == a.to_canonical())
            })
            .collect();
        if !through.is_empty() {
            out.push(finding(Warning, "metrics-through-trusted-proxy",
                format!("the metrics page is readable from {through:?}, which is also a trusted proxy: every client of that proxy reaches the page as if it were that address"),
                "read the metrics from an address that is not a proxy (the host itself on another address), or block the path at the proxy"));
        }
    }
    if !config.routes.is_empty() && config.upstream.is_none() {
        out.push(finding(Error, "routes-without-upstream",
            "[[route]] tables apply to the reverse proxy only: without [upstream], epa serve refuses to start rather than ignore their policies and allow-lists".into(),
            "add the [upstream] the routes are for, or remove the [[route]] tables"));
    }
    if config.listener.proxy_certificate_file.is_some() {
        let trusted_proxy = config
            .policy
            .as_ref()
            .and_then(|p| p.build().ok())
            .is_some_and(|p| p.policy().scenario() == ProtectionScenario::TrustedProxy);
        if !trusted_proxy {
            out.push(finding(Error, "proxy-certificate-without-trusted-proxy",
                "[listener] proxy_certificate_file pins a front proxy's certificate, but the policy's scenario is not trusted-proxy: the server refuses to start".into(),
                "set [policy] scenario = \"trusted-proxy\" (with trusted_proxies), or remove proxy_certificate_file"));
        }
    }
    route_certificate_findings(config, out);
    request_filtering_findings(config, out);
    proxy_request_findings(config, out);
}

/// `[request_filtering]` relaxed: path aliases reach the upstream.
fn request_filtering_findings(config: &ServerConfig, out: &mut Vec<Finding>) {
    use Severity::*;
    let f = &config.request_filtering;
    if f.allow_double_escaping || f.allow_windows_aliases {
        out.push(finding(Warning, "request-filtering-relaxed",
            "[request_filtering] lets path aliases through (double escapes, or Windows' trailing dots and spaces and NTFS stream names): a Windows upstream or one that decodes twice reads them as another path, which may be a protected route reached through an anonymous parent route".into(),
            "keep the defaults (false) unless the application needs such paths, and then protect the parent route too"));
    }
}

/// `[upstream]` deadlines: out of range or given twice (an error), or in the older millisecond
/// keys (a warning: every deadline is in seconds now).
fn upstream_deadline_findings(up: &crate::UpstreamTable, out: &mut Vec<Finding>) {
    use crate::UpstreamSettingsError;
    if let Err(UpstreamSettingsError::Deadline(e)) = up.settings() {
        out.push(finding(
            Severity::Error,
            "upstream-deadline-invalid",
            format!("[upstream] {e}: the server refuses to start"),
            "give each deadline once, in seconds (connect_timeout = 5), between 0 and 86400",
        ));
    }
    let ms = up.millisecond_keys();
    if !ms.is_empty() {
        out.push(finding(
            Severity::Warning,
            "timeout-in-milliseconds",
            format!(
                "[upstream] {} in milliseconds: still read, but every other deadline of the file is in seconds and these keys will go",
                ms.join(", ")
            ),
            "write the same deadline in seconds without _ms (read_timeout_ms = 60000 → read_timeout = 60)",
        ));
    }
}

/// `[upstream] upgrade_protocols`, `allow_underscores_in_headers`, `[identity_headers]
/// forwarded = "append"` without a trusted proxy and `encoding = "utf8"`.
fn proxy_request_findings(config: &ServerConfig, out: &mut Vec<Finding>) {
    use crate::proxy::ForwardedMode;
    use crate::proxy_rules::IdentityEncoding;
    use Severity::*;
    let Some(up) = &config.upstream else {
        return;
    };
    if let Err(e) = up.upgrade_protocols() {
        out.push(finding(
            Error,
            "upgrade-protocols-invalid",
            format!("[upstream] {e}: the server refuses to start"),
            "list only the protocols the application speaks (default [\"websocket\"]); never h2c",
        ));
    }
    upstream_deadline_findings(up, out);
    if up.allow_underscores_in_headers {
        out.push(finding(Warning, "underscores-in-headers-allowed",
            "[upstream] allow_underscores_in_headers = true: CGI, WSGI, Rack and PHP read X_App_Token as X-App-Token, so a client can add a second copy of any application header (reserved and identity names stay dropped)".into(),
            "keep the default (false), as nginx's underscores_in_headers off"));
    }
    if config.identity_headers.forwarded == ForwardedMode::Append
        && config.listener.trusted_proxies.is_empty()
    {
        out.push(finding(Warning, "forwarded-append-without-trusted-proxy",
            "[identity_headers] forwarded = \"append\" but [listener] trusted_proxies is empty: no peer's Forwarded / X-Forwarded-For is kept, so the setting does nothing (claims are kept only from a trusted proxy)".into(),
            "list the front proxy's addresses in [listener] trusted_proxies, or remove forwarded = \"append\""));
    }
    if config.identity_headers.encoding == IdentityEncoding::Utf8 {
        out.push(finding(Info, "identity-encoding-utf8",
            "[identity_headers] encoding = \"utf8\": non-ASCII names reach WSGI, Node and other latin-1 readers as mojibake (EPA\\josÃ©) unless the application re-decodes them".into(),
            "keep the default (percent) and percent-decode in the application, or re-decode latin-1 as UTF-8"));
    }
}

/// A route that needs a certificate the listener never asks for, and a route that needs none
/// inside one that does.
fn route_certificate_findings(config: &ServerConfig, out: &mut Vec<Finding>) {
    use Severity::*;
    let mode = config.client_certificates.effective_mode();
    let required: Vec<&str> = config
        .routes
        .iter()
        .filter(|r| r.require_client_certificate)
        .map(|r| r.path.as_str())
        .collect();
    if required.is_empty() {
        return;
    }
    if mode == ClientCertificateMode::Ignore {
        out.push(finding(Error, "route-certificate-without-request",
            format!("routes {required:?} require a client certificate but the listener never asks for one: the server refuses to start"),
            "set [client_certificates] mode = \"request\" with ca_files"));
    }
    let Ok(prefixes) = check_routes(&config.routes) else {
        return; // route-invalid says why
    };
    for (i, r) in config.routes.iter().enumerate() {
        if r.require_client_certificate {
            continue;
        }
        let parent = enclosing_route(&prefixes, i);
        if let Some(p) = parent.map(|j| &config.routes[j])
            && p.require_client_certificate
        {
            out.push(finding(Warning, "route-certificate-weaker-than-parent",
                format!("route {:?} needs no client certificate inside {:?}, which requires one: everything below {:?} is reachable without a certificate", r.path, p.path, r.path),
                "add require_client_certificate = true to the inner route, or narrow its path"));
        }
    }
}

/// Findings for the pinned proxy certificate's file: `bytes` as read, or why it could not be.
pub fn proxy_certificate(bytes: Result<&[u8], String>) -> Vec<Finding> {
    let why = match bytes.map(|b| {
        epa_core::cbt::certificate_der(b).and_then(|der| epa_core::cbt::tls_server_end_point(&der))
    }) {
        Ok(Ok(_)) => return Vec::new(),
        Ok(Err(e)) => e.to_string(),
        Err(e) => e,
    };
    vec![finding(
        Severity::Error,
        "proxy-certificate-unreadable",
        format!("[listener] proxy_certificate_file: {why}: the server refuses to start"),
        "give the front proxy's certificate as PEM or DER (the one its clients see)",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<&'static str> {
        let config: ServerConfig = toml::from_str(text).expect("test configuration parses");
        let mut out = Vec::new();
        serve_findings(&config, &mut out);
        out.iter().map(|f| f.code).collect()
    }

    const POLICY: &str = "[policy]\nenforcement = \"always\"\n";
    const UPSTREAM: &str = "[upstream]\nurl = \"http://127.0.0.1:8080\"\n";
    const TRUSTED: &str = "[policy]\nenforcement = \"always\"\nscenario = \"trusted-proxy\"\nservice_names = [\"HTTP/www.example.com\"]\n";

    #[test]
    fn relaxed_request_filtering_is_a_warning() {
        assert!(codes(POLICY).is_empty());
        for key in ["allow_double_escaping", "allow_windows_aliases"] {
            let text = format!("{POLICY}[request_filtering]\n{key} = true\n");
            assert_eq!(codes(&text), ["request-filtering-relaxed"], "{key}");
        }
        let off = format!("{POLICY}[request_filtering]\nallow_double_escaping = false\n");
        assert!(codes(&off).is_empty());
    }

    #[test]
    fn metrics_table() {
        assert!(codes(&format!("[metrics]\n{POLICY}")).is_empty());
        assert_eq!(
            codes(&format!("[metrics]\nallow_from = []\n{POLICY}")),
            ["metrics-invalid"]
        );
        assert_eq!(
            codes(&format!("[metrics]\npath = \"x\"\n{POLICY}")),
            ["metrics-invalid"]
        );
        assert_eq!(
            codes(&format!("[metrics]\nallow_from = [\"10.0.0.9\"]\n{POLICY}")),
            ["metrics-not-loopback"]
        );
        assert_eq!(
            codes(&format!(
                "[listener]\ntrusted_proxies = [\"::ffff:127.0.0.1\"]\n[metrics]\n{POLICY}"
            )),
            ["metrics-through-trusted-proxy"]
        );
    }

    #[test]
    fn routes_need_an_upstream() {
        let route = "[[route]]\npath = \"/a\"\n";
        assert_eq!(
            codes(&format!("{POLICY}{route}")),
            ["routes-without-upstream"]
        );
        let upstream = "[upstream]\nurl = \"http://127.0.0.1:8080\"\n";
        assert!(codes(&format!("{POLICY}{upstream}{route}")).is_empty());
    }

    #[test]
    fn upstream_deadlines() {
        let up = |extra: &str| codes(&format!("{POLICY}{UPSTREAM}{extra}"));
        assert!(up("connect_timeout = 2\nread_timeout = 0.5\npool_idle_timeout = 30\n").is_empty());
        assert_eq!(up("read_timeout_ms = 60000\n"), ["timeout-in-milliseconds"]);
        assert_eq!(up("read_timeout = 0\n"), ["upstream-deadline-invalid"]);
        assert_eq!(
            up("read_timeout = 60\nread_timeout_ms = 60000\n"),
            ["upstream-deadline-invalid", "timeout-in-milliseconds"]
        );
    }

    #[test]
    fn proxy_request_settings() {
        let up = |extra: &str| codes(&format!("{POLICY}{UPSTREAM}{extra}"));
        assert!(up("").is_empty());
        assert_eq!(
            up("upgrade_protocols = [\"websocket\", \"h2c\"]\n"),
            ["upgrade-protocols-invalid"]
        );
        assert_eq!(
            up("allow_underscores_in_headers = true\n"),
            ["underscores-in-headers-allowed"]
        );
        assert_eq!(
            up("[identity_headers]\nforwarded = \"append\"\n"),
            ["forwarded-append-without-trusted-proxy"]
        );
        assert!(
            codes(&format!(
                "[listener]\ntrusted_proxies = [\"10.0.0.1\"]\n{POLICY}{UPSTREAM}[identity_headers]\nforwarded = \"append\"\n"
            ))
            .is_empty()
        );
        assert_eq!(
            up("[identity_headers]\nencoding = \"utf8\"\n"),
            ["identity-encoding-utf8"]
        );
    }

    #[test]
    fn a_pinned_proxy_certificate_needs_trusted_proxy() {
        let pin = "[listener]\nproxy_certificate_file = \"front.pem\"\n";
        assert_eq!(
            codes(&format!("{pin}{POLICY}")),
            ["proxy-certificate-without-trusted-proxy"]
        );
        assert_eq!(codes(pin), ["proxy-certificate-without-trusted-proxy"]);
        assert!(codes(&format!("{pin}{TRUSTED}")).is_empty());
    }

    #[test]
    fn the_pinned_certificate_file_must_hold_a_certificate() {
        let c = proxy_certificate(Err("cannot read front.pem: no such file".into()));
        assert_eq!(c[0].code, "proxy-certificate-unreadable");
        let c = proxy_certificate(Ok(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ));
        assert_eq!(c[0].code, "proxy-certificate-unreadable");
        assert_eq!(
            proxy_certificate(Ok(&[0x30, 0x03, 0x02, 0x01, 0x00]))[0].code,
            "proxy-certificate-unreadable"
        );
    }

    #[test]
    fn route_certificates() {
        let route =
            format!("{UPSTREAM}[[route]]\npath = \"/admin\"\nrequire_client_certificate = true\n");
        assert_eq!(
            codes(&format!("{POLICY}{route}")),
            ["route-certificate-without-request"]
        );
        let request = "[client_certificates]\nmode = \"request\"\nca_files = [\"ca.pem\"]\n";
        assert!(codes(&format!("{request}{POLICY}{route}")).is_empty());
        let inner = "[[route]]\npath = \"/admin/open\"\n";
        assert_eq!(
            codes(&format!("{request}{POLICY}{route}{inner}")),
            ["route-certificate-weaker-than-parent"]
        );
        let sibling = "[[route]]\npath = \"/administrators\"\n";
        assert!(codes(&format!("{request}{POLICY}{route}{sibling}")).is_empty());
    }
}
