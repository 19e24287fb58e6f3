//! `epa lint`: the configuration mistakes that cause outages or silent weakness, each with its
//! severity, why it fails, and the fix. Pure: the caller reads the CA files and passes the size
//! of the acceptable-CA list they make.

use crate::proxy::{RouteError, UpstreamTarget, check_routes, enclosing_route};
use crate::{HintChoice, ServerConfig};
use epa_core::allow::GroupEntry;
use epa_core::client_cert::{CaHintError, CaHintSize, ClientCertificateMode, RevocationMode};
use epa_core::decide::Transport;
use epa_core::policy::{PolicyEnforcement, ProtectionScenario};
use serde::Serialize;

mod assertion;
mod backend;
mod kdc_proxy;
mod keytab;
mod mechanisms;
mod proxy_protocol;
mod serve;
pub use assertion::{KeyFileFact, assertion_key_modes, assertion_keys};
pub use keytab::keytab;
pub use serve::proxy_certificate;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// A better configuration exists.
    Info,
    /// Works, but weakens security or will break some clients.
    Warning,
    /// Will not work as intended, or is unsafe.
    Error,
}

impl Severity {
    /// `error`, `warning`, `info`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// A stable code, e.g. `ca-hints-over-schannel-limit`.
    pub code: &'static str,
    /// Why it fails.
    pub why: String,
    /// What to change.
    pub fix: String,
}

fn finding(severity: Severity, code: &'static str, why: String, fix: &str) -> Finding {
    Finding {
        severity,
        code,
        why,
        fix: fix.to_owned(),
    }
}

/// What the caller learned from the CA files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaFiles {
    /// The hinted CAs make a list of this size.
    Hints(CaHintSize),
    /// Their list cannot be sent.
    HintError(CaHintError),
    /// A file could not be read or holds no certificate.
    Unreadable(String),
}

fn rank(e: PolicyEnforcement) -> u8 {
    match e {
        PolicyEnforcement::Never => 0,
        PolicyEnforcement::WhenSupported => 1,
        PolicyEnforcement::Always => 2,
    }
}

/// Lints a server configuration. `ca_files` is `None` when no CA file is configured.
pub fn lint(config: &ServerConfig, ca_files: Option<&CaFiles>) -> Vec<Finding> {
    let mut out = Vec::new();
    client_certificate_findings(config, ca_files, &mut out);
    listener_findings(&config.listener, &mut out);
    proxy_protocol::proxy_protocol_findings(&config.listener, &mut out);
    serve::serve_findings(config, &mut out);
    kdc_proxy::kdc_proxy_findings(config, &mut out);
    assertion::assertion_findings(config, &mut out);

    policy_findings(config, &mut out);
    proxy_findings(config, &mut out);
    backend::backend_findings(config, &mut out);
    mechanisms::mechanism_findings(config, &mut out);
    diagnostics_findings(config, &mut out);
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(b.code)));
    out
}

/// `[client_certificates]`: a mode without CAs or on plain HTTP, revocation, the CA-hint list
/// size (from the caller's reading of the files), `required_paths` that can never be met.
fn client_certificate_findings(
    config: &ServerConfig,
    ca_files: Option<&CaFiles>,
    out: &mut Vec<Finding>,
) {
    use Severity::*;
    let cc = &config.client_certificates;
    let mode = cc.effective_mode();
    let https = config.listener.transport == Transport::Https;
    if mode != ClientCertificateMode::Ignore {
        if !https {
            out.push(finding(Error, "client-certificates-on-http",
                "client certificates are configured on a plain-HTTP listener, where there is no TLS handshake to carry them".into(),
                "serve HTTPS ([listener] transport = \"https\") or set [client_certificates] mode = \"ignore\""));
        }
        if cc.ca_files.is_empty() {
            out.push(finding(Error, "client-certificates-without-ca",
                format!("mode {mode:?} asks for client certificates but no CA is trusted, so none can be valid"),
                "list the issuing CAs in [client_certificates] ca_files"));
        }
        match cc.revocation {
            RevocationMode::Off => out.push(finding(Warning, "revocation-off",
                "revocation checking is off: a revoked or stolen client certificate is accepted until it expires (Windows: verifyclientcertrevocation=disable)".into(),
                "give the CA's CRL in crl_files with revocation = \"check\"; if the CRL is sometimes unreachable, \"allow-unknown\" still refuses listed certificates")),
            RevocationMode::Check | RevocationMode::EndEntityOnly if cc.crl_files.is_empty() => {
                out.push(finding(Error, "revocation-without-crl",
                    format!("revocation {:?} needs a CRL and none is configured: the server refuses to start", cc.revocation),
                    "add the CA's CRL to crl_files, or choose revocation = \"off\" explicitly"));
            }
            _ => {}
        }
        if mode == ClientCertificateMode::Require {
            out.push(finding(Info, "require-instead-of-request",
                "mode require makes every client present a valid certificate in the handshake: clients without one get a TLS alert they cannot explain, and routes that need no certificate are unreachable to them".into(),
                "use mode = \"request\" with required_paths for the routes that need a certificate: they answer 403.7 \"client certificate required\" instead"));
        }
        match ca_files {
            Some(CaFiles::Hints(CaHintSize::OverSchannelLimit { size })) => out.push(finding(Warning, "ca-hints-over-schannel-limit",
                format!("the acceptable-CA list is {size} bytes; above 16,384 Windows (Schannel) clients send no client certificate at all"),
                "send fewer names (hints = \"subset\" with hint_ca_files) or none (hints = \"none\")")),
            Some(CaFiles::HintError(e)) => out.push(finding(Error, "ca-hints-over-tls-limit",
                format!("{e}"),
                "send a subset (hints = \"subset\" with hint_ca_files) or no hints (hints = \"none\")")),
            Some(CaFiles::Unreadable(e)) => out.push(finding(Error, "ca-file-unreadable", e.clone(),
                "fix the path or the file: each must be a PEM bundle with at least one CERTIFICATE")),
            Some(CaFiles::Hints(CaHintSize::Fine { .. })) | None => {}
        }
        if cc.hints == HintChoice::Subset && cc.hint_ca_files.is_empty() {
            out.push(finding(Error, "hint-subset-empty",
                "hints = \"subset\" with no hint_ca_files sends no names; say so with hints = \"none\"".into(),
                "list the CAs to name in hint_ca_files, or set hints = \"none\""));
        }
    } else if !cc.required_paths.is_empty() {
        out.push(finding(Error, "required-paths-without-request",
            format!("required_paths {:?} need a client certificate but the listener never asks for one: every request there answers 403.7", cc.required_paths),
            "set [client_certificates] mode = \"request\" with ca_files"));
    }
}

/// `[policy]` on a Negotiate listener: missing or invalid, an audit target that cannot report,
/// `never` on HTTPS, a trusted proxy without addresses, a persisted identity behind a proxy,
/// dotless names.
fn policy_findings(config: &ServerConfig, out: &mut Vec<Finding>) {
    use Severity::*;
    let https = config.listener.transport == Transport::Https;
    if config.listener.negotiate {
        match &config.policy {
            None => out.push(finding(Error, "negotiate-without-policy",
                "the listener runs Negotiate but the file has no [policy] table".into(),
                "add [policy] with enforcement = \"always\" (or \"when-supported\" while legacy clients remain)")),
            Some(table) => match table.build() {
                Err(e) => out.push(finding(Error, "policy-invalid", e.to_string(),
                    "correct the [policy] table (epa policy eval shows its effect)")),
                Ok(server) => {
                    match table.build_target() {
                        Err(e) => out.push(finding(Error, "policy-invalid", e.to_string(),
                            "correct target_enforcement / target_token_checking in [policy]")),
                        Ok(Some(target)) if rank(target.policy().enforcement()) <= rank(server.policy().enforcement()) => {
                            out.push(finding(Info, "audit-target-not-stricter",
                                format!("audit mode observes {:?} while enforcing {:?}: the target can never refuse what the enforced policy accepts, so nothing will be reported", target.policy().enforcement(), server.policy().enforcement()),
                                "observe a stricter enforcement (target_enforcement = \"always\"), or remove target_enforcement"));
                        }
                        Ok(_) => {}
                    }
                    let policy = server.policy();
                    if https && policy.enforcement() == PolicyEnforcement::Never {
                        out.push(finding(Warning, "extended-protection-never",
                            "Extended Protection is never on an HTTPS listener that runs Negotiate: a credential relayed through a man in the middle (NTLM relay) is accepted".into(),
                            "set enforcement = \"when-supported\" now and \"always\" once no client sends unbound tokens (IIS: tokenChecking=\"Allow\", then \"Require\")"));
                    }
                    if policy.scenario() == ProtectionScenario::TrustedProxy
                        && config.listener.trusted_proxies.is_empty()
                    {
                        out.push(finding(Error, "trusted-proxy-without-addresses",
                            "the policy trusts a TLS-terminating proxy but no proxy address is listed: any client that reaches the listener directly is treated as the proxy".into(),
                            "list the proxy's addresses in [listener] trusted_proxies"));
                    }
                    if policy.scenario() == ProtectionScenario::TrustedProxy
                        && config.policy.as_ref().and_then(|p| p.persist_identity) == Some(true)
                    {
                        out.push(finding(Warning, "identity-persisted-behind-proxy",
                            "persist_identity = true behind a trusted proxy: a proxy pools the requests of many clients on one connection, so the identity one client authenticated is served to the next request on that connection, whoever sent it".into(),
                            "remove persist_identity (per-request authentication is the default under trusted-proxy), unless the proxy dedicates each upstream connection to one client connection"));
                    }
                    let allow_dotless = policy.http_sys_flags().allow_dotless_spn;
                    if let Some(names) = policy.custom_service_names()
                        && let Some(dotless) = names.first_dotless()
                        && !allow_dotless
                    {
                        out.push(finding(Warning, "dotless-spn",
                            format!("service name '{}' is dotless: Kerberos clients ask for the fully qualified name, and http.sys refuses dotless names unless AllowDotlessSpn is set", dotless.as_str()),
                            "use the fully qualified name (HTTP/web01.corp.example); if NetBIOS names are really used, add the flag allow-dotless-spn (IIS form)"));
                    }
                }
            },
        }
    }
}

/// `[diagnostics]`: on, it tells any client the policy, the profiles' outcomes and the
/// server's bindings; worth a warning, never silent.
fn diagnostics_findings(config: &ServerConfig, out: &mut Vec<Finding>) {
    use Severity::*;
    let d = &config.diagnostics;
    if !d.enabled {
        return;
    }
    if d.normalized_path().is_none() {
        out.push(finding(Error, "diagnostics-path-invalid",
            format!("[diagnostics] path {:?} is not an absolute path that normalises: epa serve refuses to start", d.path),
            "write path = \"/_epa/diagnose\" (or another absolute path without %2F, backslashes or '..' above the root)"));
        return;
    }
    out.push(finding(Warning, "diagnostics-enabled",
        format!("[diagnostics] is on: {} answers any client that logs in there with the route's policy, what every enforcement and profile would decide, and the server's channel bindings (it admits nobody, but it tells an attacker which clients and relays would pass)", d.path),
        "turn it on while debugging a client (enabled = true), then off again; or reach it only through an address that attackers cannot"));
}

/// `[upstream]`, `[identity_headers]` and `[[route]]`.
fn proxy_findings(config: &ServerConfig, out: &mut Vec<Finding>) {
    use Severity::*;
    if let Some(up) = &config.upstream {
        match up.target() {
            Err(e) => out.push(finding(Error, "upstream-url-invalid", e.to_string(),
                "write url = \"http://127.0.0.1:PORT\", \"https://HOST:PORT\" or \"unix:/path\"")),
            Ok(t @ UpstreamTarget::Http { .. }) if !t.is_local() => out.push(finding(Warning, "upstream-plain-http-remote",
                format!("upstream {} is plain HTTP to a non-loopback address: the identity headers cross the network in clear, and anyone who can reach the upstream can send them too", up.url),
                "use https:// with ca_file (and have the upstream accept only the proxy), a unix: socket, or a loopback address")),
            Ok(_) => {}
        }
    }
    if let Err(e) = config.identity_headers.validate() {
        out.push(finding(Error, "identity-header-invalid", e.to_string(),
            "use a token name (letters, digits, '-') that is not a framing, routing, credential or forwarding header"));
    }
    for r in &config.routes {
        for g in &r.allow_groups {
            if let Ok(entry @ GroupEntry::Name(_)) = GroupEntry::parse(g)
                && !entry.is_qualified()
            {
                out.push(finding(Warning, "allow-groups-name-unqualified",
                    format!("route {:?}: allow_groups entry {g:?} is not DOMAIN\\Group: backends report group names with their domain, so it never matches", r.path),
                    "write the group as \"DOMAIN\\\\Group\" (or give its SID, S-1-5-21-…)"));
            }
        }
    }
    let prefixes = match check_routes(&config.routes) {
        Ok(p) => p,
        Err(e @ RouteError::AllowGroups { .. }) => {
            out.push(finding(Error, "allow-groups-sid-invalid", e.to_string(),
                "write the SID as S-1-<authority>-<sub-authority>... in decimal without leading zeros (as `wbinfo -n` or Get-ADGroup print it)"));
            return;
        }
        Err(e) => {
            out.push(finding(Error, "route-invalid", e.to_string(),
                "give each [[route]] a distinct absolute path; anonymous routes take no enforcement, allow_users or allow_groups"));
            return;
        }
    };
    let base = config.policy.as_ref().and_then(|p| {
        p.enforcement
            .or_else(|| p.build().ok().map(|s| s.policy().enforcement()))
    });
    for (i, r) in config.routes.iter().enumerate() {
        // The nearest enclosing route (the one that would serve the path without this one).
        let parent = enclosing_route(&prefixes, i);
        // Only an explicit enclosing route counts: an anonymous top-level route (/health) is
        // the ordinary case, not a mistake.
        let parent_protected = parent.is_some_and(|j| !config.routes[j].anonymous);
        let parent_path = parent.map_or("/", |j| config.routes[j].path.as_str());
        if r.anonymous && parent_protected {
            out.push(finding(Warning, "route-anonymous-under-protected",
                format!("route {:?} is anonymous inside {parent_path:?}, which requires authentication: everything below {:?} is open to anyone", r.path, r.path),
                "check that the whole subtree may be public; narrow the path (e.g. /health/live) if not"));
        }
        let parent_enforcement = parent.map_or(base, |j| config.routes[j].enforcement.or(base));
        if let (Some(mine), Some(theirs)) = (r.enforcement, parent_enforcement)
            && rank(mine) < rank(theirs)
        {
            out.push(finding(Info, "route-weaker-than-parent",
                format!("route {:?} enforces {mine:?} inside {parent_path:?}, which enforces {theirs:?}", r.path),
                "make sure the weaker route is intended (relayed credentials are accepted there)"));
        }
    }
}

/// The `[listener]` table: values that cannot run, and settings that invite a flood or stalls.
fn listener_findings(l: &crate::ListenerTable, out: &mut Vec<Finding>) {
    use Severity::*;
    if let Err(e) = l.validate() {
        out.push(finding(
            Error,
            "listener-invalid",
            e.to_string(),
            "correct the [listener] table: deadlines are seconds > 0, limits > 0",
        ));
        return;
    }
    let long: Vec<String> = [
        ("tls_handshake_timeout", l.tls_handshake_timeout, 60.0),
        ("request_head_timeout", l.request_head_timeout, 120.0),
        ("keep_alive_timeout", l.keep_alive_timeout, 600.0),
        ("exchange_timeout", l.exchange_timeout, 300.0),
        ("send_timeout", l.send_timeout, 300.0),
        ("body_timeout", l.body_timeout, 300.0),
        ("drain_timeout", l.drain_timeout, 60.0),
    ]
    .iter()
    .filter(|(_, v, max)| v > max)
    .map(|(k, v, _)| format!("{k} = {v}"))
    .collect();
    if !long.is_empty() {
        out.push(finding(Warning, "listener-deadline-long",
            format!("{}: every idle or abandoned connection holds a socket and memory this long, so a few thousand cheap connections exhaust the server", long.join(", ")),
            "keep the defaults (handshake 10 s, head 30 s, keep-alive 120 s as IIS connectionTimeout, exchange 60 s, send 60 s as nginx send_timeout, body 60 s as nginx client_body_timeout, drain 10 s)"));
    }
    if !l.tcp_nodelay {
        out.push(finding(Warning, "tcp-nodelay-off",
            "tcp_nodelay = false: small responses wait for delayed ACKs (tens of milliseconds), on every leg of an NTLM exchange".into(),
            "remove tcp_nodelay (default true, as nginx tcp_nodelay on)"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> ServerConfig {
        toml::from_str(text).unwrap()
    }

    fn codes(text: &str, ca: Option<&CaFiles>) -> Vec<&'static str> {
        lint(&config(text), ca).iter().map(|f| f.code).collect()
    }

    #[test]
    fn diagnostics_on_is_a_warning_and_a_bad_path_an_error() {
        let policy =
            "[policy]\nenforcement = \"always\"\nservice_names = [\"HTTP/www.example.com\"]\n";
        assert_eq!(codes(policy, None), Vec::<&str>::new());
        let off = format!("{policy}[diagnostics]\npath = \"/d\"\n");
        assert_eq!(codes(&off, None), Vec::<&str>::new());
        let on = format!("{policy}[diagnostics]\nenabled = true\n");
        assert_eq!(codes(&on, None), ["diagnostics-enabled"]);
        let bad = format!("{policy}[diagnostics]\nenabled = true\npath = \"/a/%2F\"\n");
        assert_eq!(codes(&bad, None), ["diagnostics-path-invalid"]);
    }

    #[test]
    fn backend_keys_that_do_not_fit_the_kind_are_errors() {
        let c = codes("[backend]\nkind = \"winbind\"\nkeytab = \"k\"\n", None);
        assert!(c.contains(&"backend-invalid"), "{c:?}");
        let c = codes("[backend]\nkind = \"winbind\"\ndomain = \"EPA\"\n", None);
        assert!(!c.contains(&"backend-invalid"), "{c:?}");
        let c = codes("[backend]\nkind = \"gssapi\"\n", None);
        assert!(c.contains(&"keytab-from-environment"), "{c:?}");
        let route = "[[route]]\npath = \"/a\"\nallow_groups = [\"EPA\\\\Web\"]\n";
        let c = codes(&format!("[backend]\nkind = \"winbind\"\n{route}"), None);
        assert!(c.contains(&"group-name-without-names"), "{c:?}");
        let c = codes(
            &format!("[backend]\nkind = \"embedded\"\nusers = \"u\"\n{route}"),
            None,
        );
        assert!(!c.contains(&"group-name-without-names"), "{c:?}");
    }

    const GOOD: &str = r#"
[client_certificates]
ca_files = ["ca.pem"]
crl_files = ["ca.crl"]
required_paths = ["/cert"]
[policy]
enforcement = "always"
service_names = ["HTTP/www.example.com"]
"#;

    const FINE: CaFiles = CaFiles::Hints(CaHintSize::Fine { size: 100 });

    #[test]
    fn a_good_configuration_has_no_findings() {
        assert_eq!(codes(GOOD, Some(&FINE)), Vec::<&str>::new());
    }

    #[test]
    fn each_finding_has_a_trigger_and_a_non_trigger() {
        let big = CaFiles::Hints(CaHintSize::OverSchannelLimit { size: 20_000 });
        let too_big = CaFiles::HintError(CaHintError::TooLarge { size: 70_000 });
        assert_eq!(codes(GOOD, Some(&big)), ["ca-hints-over-schannel-limit"]);
        assert!(lint(&config(GOOD), Some(&big))[0].why.contains("20000"));
        assert_eq!(codes(GOOD, Some(&too_big)), ["ca-hints-over-tls-limit"]);
        assert_eq!(
            codes(GOOD, Some(&CaFiles::Unreadable("x".into()))),
            ["ca-file-unreadable"]
        );
        let with = |extra: &str| GOOD.replace("[policy]", &format!("{extra}\n[policy]"));
        assert_eq!(
            codes(&with("revocation = \"off\""), Some(&FINE)),
            ["revocation-off"]
        );
        assert_eq!(
            codes(&GOOD.replace("crl_files = [\"ca.crl\"]", ""), Some(&FINE)),
            ["revocation-without-crl"]
        );
        assert_eq!(
            codes(
                &GOOD.replace("crl_files = [\"ca.crl\"]", "revocation = \"allow-unknown\""),
                Some(&FINE)
            ),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(&with("mode = \"require\""), Some(&FINE)),
            ["require-instead-of-request"]
        );
        assert_eq!(
            codes(&with("hints = \"subset\""), Some(&FINE)),
            ["hint-subset-empty"]
        );
        assert_eq!(
            codes(&with("hints = \"none\""), Some(&FINE)),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(&GOOD.replace("ca_files = [\"ca.pem\"]", ""), None),
            ["required-paths-without-request"]
        );
        assert_eq!(
            codes(
                &format!("[listener]\ntransport = \"http\"\n{GOOD}"),
                Some(&FINE)
            ),
            ["client-certificates-on-http"]
        );
        assert_eq!(
            codes(
                "[client_certificates]\nmode = \"request\"\nrevocation = \"off\"\n[policy]\nenforcement = \"always\"\nservice_names = [\"HTTP/a.example\"]",
                None
            ),
            ["client-certificates-without-ca", "revocation-off"]
        );
    }

    #[test]
    fn listener_findings() {
        let with = |extra: &str| format!("[listener]\n{extra}\n{GOOD}");
        assert_eq!(
            codes(&with("keep_alive_timeout = 0"), Some(&FINE)),
            ["listener-invalid"]
        );
        assert_eq!(
            codes(&with("max_connections = 0"), Some(&FINE)),
            ["listener-invalid"]
        );
        assert_eq!(
            codes(&with("keep_alive_timeout = 3600"), Some(&FINE)),
            ["listener-deadline-long"]
        );
        for long in [
            "send_timeout = 3600",
            "drain_timeout = 600",
            "body_timeout = 3600",
        ] {
            assert_eq!(
                codes(&with(long), Some(&FINE)),
                ["listener-deadline-long"],
                "{long}"
            );
        }
        assert_eq!(
            codes(&with("send_timeout = 0"), Some(&FINE)),
            ["listener-invalid"]
        );
        assert_eq!(
            codes(
                &with("keep_alive_timeout = 600\nexchange_timeout = 1"),
                Some(&FINE)
            ),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(&with("tcp_nodelay = false"), Some(&FINE)),
            ["tcp-nodelay-off"]
        );
    }

    #[test]
    fn extended_protection_findings() {
        assert_eq!(codes("", None), ["negotiate-without-policy"]);
        assert_eq!(
            codes("[listener]\nnegotiate = false", None),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes("[policy]\nenforcement = \"never\"", None),
            ["extended-protection-never"]
        );
        // Plain HTTP with never: service-name binding is off too, but there is no TLS to bind.
        assert_eq!(
            codes(
                "[listener]\ntransport = \"http\"\n[policy]\nenforcement = \"never\"",
                None
            ),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(
                "[policy]\nenforcement = \"always\"\nscenario = \"trusted-proxy\"\nservice_names = [\"HTTP/www.example.com\"]",
                None
            ),
            ["trusted-proxy-without-addresses"]
        );
        assert_eq!(
            codes(
                "[listener]\ntrusted_proxies = [\"10.0.0.1\"]\n[policy]\nenforcement = \"always\"\nscenario = \"trusted-proxy\"\nservice_names = [\"HTTP/www.example.com\"]",
                None
            ),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(
                "[listener]\ntrusted_proxies = [\"10.0.0.1\"]\n[policy]\nenforcement = \"always\"\nscenario = \"trusted-proxy\"\npersist_identity = true\nservice_names = [\"HTTP/www.example.com\"]",
                None
            ),
            ["identity-persisted-behind-proxy"]
        );
        assert_eq!(
            codes(
                "[policy]\nenforcement = \"always\"\npersist_identity = true\nservice_names = [\"HTTP/www.example.com\"]",
                None
            ),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(
                "[policy]\nenforcement = \"always\"\nservice_names = [\"HTTP/web01\"]",
                None
            ),
            ["dotless-spn"]
        );
        assert_eq!(
            codes(
                "[policy]\ntoken_checking = \"require\"\nflags = [\"allow-dotless-spn\"]\nspns = [\"HTTP/web01\"]",
                None
            ),
            Vec::<&str>::new()
        );
        // The IIS form refuses dotless names without the flag: the policy itself is invalid.
        assert_eq!(
            codes(
                "[policy]\ntoken_checking = \"require\"\nspns = [\"HTTP/web01\"]",
                None
            ),
            ["policy-invalid"]
        );
        assert_eq!(
            codes("[policy]\ntoken_checking = \"none\"", None),
            ["extended-protection-never"]
        );
        let audit =
            "[policy]\nenforcement = \"when-supported\"\nservice_names = [\"HTTP/a.example\"]\n";
        assert!(codes(&format!("{audit}target_enforcement = \"always\""), None).is_empty());
        assert_eq!(
            codes(
                &format!("{audit}target_enforcement = \"when-supported\""),
                None
            ),
            ["audit-target-not-stricter"]
        );
        assert_eq!(
            codes(&format!("{audit}target_token_checking = \"require\""), None),
            ["policy-invalid"]
        );
        let f = &lint(&config("[policy]\nenforcement = \"never\""), None)[0];
        assert_eq!(f.severity, Severity::Warning);
        assert!(!f.why.is_empty() && !f.fix.is_empty());
    }

    #[test]
    fn proxy_tables() {
        let base = "[listener]\nnegotiate = false\n";
        let c = |extra: &str| {
            let upstream = if extra.contains("[upstream]") {
                ""
            } else {
                "[upstream]\nurl = \"unix:/run/app.sock\"\n"
            };
            codes(&format!("{base}{upstream}{extra}"), None)
        };
        assert!(c("[upstream]\nurl = \"http://127.0.0.1:8080\"\n").is_empty());
        assert!(c("[upstream]\nurl = \"unix:/run/app.sock\"\n").is_empty());
        assert_eq!(
            c("[upstream]\nurl = \"http://10.1.2.3:8080\"\n"),
            ["upstream-plain-http-remote"]
        );
        assert!(c("[upstream]\nurl = \"https://10.1.2.3:8443\"\n").is_empty());
        assert_eq!(
            c("[upstream]\nurl = \"ftp://x\"\n"),
            ["upstream-url-invalid"]
        );
        assert_eq!(
            c("[identity_headers]\nuser = \"X Remote\"\n"),
            ["identity-header-invalid"]
        );
        assert_eq!(
            c("[identity_headers]\ndomain = \"authorization\"\n"),
            ["identity-header-invalid"]
        );
        assert!(
            toml::from_str::<ServerConfig>("[identity_headers]\nusr = \"X\"\n").is_err(),
            "unknown keys are refused"
        );
        assert_eq!(c("[[route]]\npath = \"a\"\n"), ["route-invalid"]);
        assert_eq!(
            c("[[route]]\npath = \"/a\"\nallow_groups = [\"S-1-5-21-01\"]\n"),
            ["allow-groups-sid-invalid"]
        );
        assert_eq!(
            c(
                "[[route]]\npath = \"/a\"\nallow_groups = [\"WebUsers\", \"EPA\\\\WebUsers\", \"S-1-5-32-544\"]\n"
            ),
            ["allow-groups-name-unqualified"]
        );
        assert_eq!(
            c("[[route]]\npath = \"/a\"\nanonymous = true\nallow_groups = [\"S-1-5-32-544\"]\n"),
            ["route-invalid"]
        );
        // Anonymous under a protected route; not under an anonymous one.
        let admin = "[[route]]\npath = \"/admin\"\nenforcement = \"always\"\n";
        assert_eq!(
            c(&format!(
                "{admin}[[route]]\npath = \"/admin/public\"\nanonymous = true\n"
            )),
            ["route-anonymous-under-protected"]
        );
        assert!(
            c("[[route]]\npath = \"/pub\"\nanonymous = true\n[[route]]\npath = \"/pub/x\"\nanonymous = true\n")
                .is_empty()
        );
        assert_eq!(
            c(&format!(
                "{admin}[[route]]\npath = \"/admin/x\"\nenforcement = \"never\"\n"
            )),
            ["route-weaker-than-parent"]
        );
        // A top-level anonymous route (/health) is the ordinary case.
        assert!(
            codes(
                "[policy]\nenforcement = \"always\"\n[[route]]\npath = \"/health\"\nanonymous = true\n",
                None
            )
            .iter()
            .all(|c| !c.starts_with("route-"))
        );
    }
}
