//! `epa iis check`: what will happen to an IIS site before it is deployed, and how to fix it.
//! Each finding names the location or binding, says why in one paragraph, and gives the exact
//! fix (`netsh http update sslcert …`, `appcmd set config …`).

use super::config::{Effective, IisConfig, Site, SiteBinding};
use super::netsh::{BindingKey, SslBinding, Switch, field};
use epa_config::lint::Severity;
use epa_core::policy::{IisExtendedProtection, IisFlags, PolicyError, TokenChecking};
use serde::Serialize;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IisFinding {
    /// How bad.
    pub severity: Severity,
    /// A stable code.
    pub code: &'static str,
    /// The location (`Default Web Site/app`) or binding (`IP:port 0.0.0.0:443`).
    pub subject: String,
    /// Why, in one paragraph.
    pub why: String,
    /// The exact fix, in order of preference.
    pub fix: Vec<String>,
}

/// The netsh binding that serves an IIS site binding, if the netsh output has it.
pub fn netsh_binding_for<'a>(b: &SiteBinding, netsh: &'a [SslBinding]) -> Option<&'a SslBinding> {
    let (ip, port, host) = b.parts()?;
    let want = if b.ssl_flags & 2 != 0 {
        BindingKey::CentralStore(port.to_owned())
    } else if b.ssl_flags & 1 != 0 {
        BindingKey::HostnamePort(format!("{host}:{port}"))
    } else if ip == "*" || ip.is_empty() {
        BindingKey::IpPort(format!("0.0.0.0:{port}"))
    } else if ip.contains(':') {
        BindingKey::IpPort(format!("[{ip}]:{port}"))
    } else {
        BindingKey::IpPort(format!("{ip}:{port}"))
    };
    let eq = |a: &BindingKey, b: &BindingKey| match (a, b) {
        (BindingKey::IpPort(x), BindingKey::IpPort(y))
        | (BindingKey::HostnamePort(x), BindingKey::HostnamePort(y))
        | (BindingKey::CentralStore(x), BindingKey::CentralStore(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    };
    netsh.iter().find(|n| eq(&n.key, &want)).or_else(|| {
        // A specific IP falls back to the wildcard binding on its port, as http.sys does.
        match &want {
            BindingKey::IpPort(_) => netsh
                .iter()
                .find(|n| eq(&n.key, &BindingKey::IpPort(format!("0.0.0.0:{port}")))),
            _ => None,
        }
    })
}

/// The `netsh http update sslcert` command for a binding with one setting changed. netsh needs
/// the certificate hash and application ID again; they are taken from the output.
pub fn netsh_update(b: &SslBinding, setting: &str) -> String {
    format!(
        "netsh http update sslcert {} certhash={} appid={} {setting}",
        b.key.netsh_argument(),
        b.get(field::CERTIFICATE_HASH)
            .unwrap_or("<certificate hash>"),
        b.get(field::APPLICATION_ID).unwrap_or("<application id>")
    )
}

fn https_bindings(site: &Site) -> impl Iterator<Item = &SiteBinding> {
    site.bindings.iter().filter(|b| b.protocol == "https")
}

/// Every finding for the configuration and (optionally) the netsh output.
pub fn check(config: &IisConfig, netsh: Option<&[SslBinding]>) -> Vec<IisFinding> {
    let mut out = Vec::new();
    for location in config.locations() {
        let e = config.effective(&location);
        let site = config.site_of(&location);
        client_certificates(&location, &e, site, netsh, &mut out);
        extended_protection(&location, &e, site, &mut out);
    }
    if let Some(netsh) = netsh {
        bindings(config, netsh, &mut out);
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.subject.cmp(&b.subject))
            .then_with(|| a.code.cmp(b.code))
    });
    out.dedup();
    out
}

fn client_certificates(
    location: &str,
    e: &Effective,
    site: Option<&Site>,
    netsh: Option<&[SslBinding]>,
    out: &mut Vec<IisFinding>,
) {
    if !e.ssl_flags.wants_certificate() {
        return;
    }
    let flags = e.ssl_flags.to_iis_string();
    let Some(site) = site else { return };
    let Some(netsh) = netsh else {
        out.push(IisFinding {
            severity: Severity::Warning,
            code: "tls13-renegotiation-unknown",
            subject: location.to_owned(),
            why: format!(
                "sslFlags \"{flags}\" asks for a client certificate. Whether that works under TLS 1.3 depends on the HTTPS binding's \"Negotiate Client Certificate\" and \"Disable TLS1.3\", which are in http.sys, not in this file."
            ),
            fix: vec!["run `netsh http show sslcert > sslcert.txt` on the server and pass the file to `epa iis check` with the XML".into()],
        });
        return;
    };
    for b in https_bindings(site) {
        match netsh_binding_for(b, netsh) {
            Some(n) => renegotiation(location, &flags, n, out),
            None => out.push(IisFinding {
                severity: Severity::Warning,
                code: "binding-not-in-netsh",
                subject: location.to_owned(),
                why: format!(
                    "the site binding {} (line {}) has no matching http.sys SSL binding in the netsh output, so its client-certificate behaviour cannot be checked",
                    b.information, b.line
                ),
                fix: vec!["pass the netsh output of the server that hosts this site".into()],
            }),
        }
    }
}

/// A location asking for a client certificate (`sslFlags` spelled `flags`) on the http.sys
/// binding `n`: when `n` does not negotiate the certificate in the first handshake, IIS asks by
/// renegotiation, which TLS 1.3 and HTTP/2 do not have.
fn renegotiation(location: &str, flags: &str, n: &SslBinding, out: &mut Vec<IisFinding>) {
    if n.switch(field::NEGOTIATE_CLIENT_CERT) == Switch::On {
        return;
    }
    if n.switch(field::DISABLE_TLS13) != Switch::On {
        out.push(IisFinding {
            severity: Severity::Error,
            code: "tls13-renegotiation",
            subject: location.to_owned(),
            why: format!(
                "sslFlags \"{flags}\" asks for a client certificate, and the binding {} does not negotiate client certificates in the first handshake (\"Negotiate Client Certificate: Disabled\"), so IIS asks later, by TLS renegotiation. TLS 1.3 has no renegotiation (RFC 8446) and the binding does not disable TLS 1.3: clients that negotiate TLS 1.3 (Windows 11 24H2, Windows Server 2022/2025, current browsers) get a connection reset, or on newer Windows HTTP 500 with 0x80070032 (ERROR_NOT_SUPPORTED).",
                n.key
            ),
            fix: vec![
                format!(
                    "ask for the certificate in the first handshake: {}",
                    netsh_update(n, "clientcertnegotiation=enable")
                ),
                format!(
                    "stop-gap only, at a security cost (the binding loses TLS 1.3: no encrypted handshake, TLS 1.2 cipher suites): {}",
                    netsh_update(n, "disabletls13=enable")
                ),
            ],
        });
    }
    if n.switch(field::DISABLE_HTTP2) != Switch::On {
        out.push(IisFinding {
            severity: Severity::Warning,
            code: "client-certificate-http2",
            subject: location.to_owned(),
            why: format!(
                "sslFlags \"{flags}\" asks for a client certificate by renegotiation on {}, and HTTP/2 is not disabled there: HTTP/2 forbids renegotiation (RFC 9113 §9.2.1), so IIS answers HTTP/2 requests with HTTP_1_1_REQUIRED; browsers retry over HTTP/1.1, other clients fail.",
                n.key
            ),
            fix: vec![
                format!(
                    "ask for the certificate in the first handshake: {}",
                    netsh_update(n, "clientcertnegotiation=enable")
                ),
                format!("or keep this binding on HTTP/1.1: {}", netsh_update(n, "disablehttp2=enable")),
            ],
        });
    }
}

/// The findings of one location: each names the location as its subject.
struct LocationFindings<'a> {
    location: &'a str,
    out: &'a mut Vec<IisFinding>,
}

impl LocationFindings<'_> {
    fn push(&mut self, severity: Severity, code: &'static str, why: String, fix: Vec<String>) {
        self.out.push(IisFinding {
            severity,
            code,
            subject: self.location.to_owned(),
            why,
            fix,
        })
    }

    /// The `appcmd set config` command setting one windowsAuthentication attribute here.
    fn appcmd(&self, attr: &str) -> String {
        let location = self.location;
        format!(
            "appcmd set config \"{location}\" -section:system.webServer/security/authentication/windowsAuthentication /{attr} /commit:apphost"
        )
    }

    /// The fix adding the SPN list this location lacks.
    fn add_spn(&self) -> String {
        let location = self.location;
        format!(
            "add the names clients use: appcmd set config \"{location}\" -section:system.webServer/security/authentication/windowsAuthentication /+\"extendedProtection.[name='HTTP/www.contoso.com']\" /commit:apphost"
        )
    }
}

fn extended_protection(
    location: &str,
    e: &Effective,
    site: Option<&Site>,
    out: &mut Vec<IisFinding>,
) {
    if !e.windows_authentication {
        return;
    }
    let mut f = LocationFindings { location, out };
    let https = site.is_some_and(|s| https_bindings(s).next().is_some());
    let tc = e.token_checking;
    if https && tc == TokenChecking::None {
        f.push(
            Severity::Warning,
            "ep-token-checking-none",
            "Windows authentication is on over HTTPS with extendedProtection tokenChecking=\"None\": channel bindings are not checked, so a credential relayed through a man in the middle (NTLM relay) is accepted.".into(),
            vec![
            f.appcmd("extendedProtection.tokenChecking:\"Allow\""),
            "then, once the logs show no client without channel binding, tokenChecking=\"Require\" (epa's audit mode shows who would break first)".into(),
        ],
        );
    }
    let flags = match parse_flags(&e.flags) {
        Ok(flags) => flags,
        Err(err) => {
            f.push(
                Severity::Error,
                "ep-invalid",
                err.to_string(),
                vec!["use None, Proxy, NoServiceNameCheck, AllowDotlessSpn, ProxyCohosting".into()],
            );
            return;
        }
    };
    service_name_findings(&mut f, tc, &flags, &e.spns);
    // The policy http.sys would build: its own configuration errors (dotless names without the
    // flag, names that are not service names).
    if let Err(err) = (IisExtendedProtection {
        token_checking: tc,
        flags,
        spns: e.spns.clone(),
    })
    .to_policy()
    {
        f.push(
            Severity::Error,
            "ep-invalid",
            format!("http.sys refuses this extendedProtection configuration: {err}"),
            vec!["correct the <extendedProtection> element (epa iis import shows the policy it makes)".into()],
        );
    }
}

/// The `extendedProtection` flags list (`Proxy, ProxyCohosting`); every entry is applied, and
/// the last one that is not a flag is the error.
fn parse_flags(list: &str) -> Result<IisFlags, PolicyError> {
    let mut flags = IisFlags::default();
    let mut bad_flag = None;
    for part in list.split(',').filter(|p| !p.trim().is_empty()) {
        if let Err(err) = flags.set(part) {
            bad_flag = Some(err);
        }
    }
    bad_flag.map_or(Ok(flags), Err)
}

/// Findings about the flags and the SPN list: which service names http.sys checks, and how.
fn service_name_findings(
    f: &mut LocationFindings<'_>,
    tc: TokenChecking,
    flags: &IisFlags,
    spns: &[String],
) {
    if flags.proxy_cohosting && !flags.proxy {
        f.push(
            Severity::Error,
            "ep-proxy-cohosting-without-proxy",
            "extendedProtection flags has ProxyCohosting without Proxy: http.sys requires Proxy with ProxyCohosting and refuses the configuration.".into(),
            vec![f.appcmd("extendedProtection.flags:\"Proxy, ProxyCohosting\"")],
        );
    }
    let names_checked = flags.proxy && !flags.no_service_name_check;
    if tc == TokenChecking::Allow && names_checked && spns.is_empty() {
        f.push(
            Severity::Warning,
            "ep-proxy-allow-without-spn",
            "tokenChecking=\"Allow\" with flags Proxy checks the service name of every client that sends one, and no <spn> is configured (http.sys does not use the site's bindings): every client with Extended Protection is refused (401), only legacy clients get in.".into(),
            vec![f.add_spn()],
        );
    }
    if tc == TokenChecking::Require && names_checked && spns.is_empty() {
        f.push(
            Severity::Error,
            "ep-proxy-require-without-spn",
            "tokenChecking=\"Require\" with flags Proxy checks the service name of every request, and no <spn> is configured: no client can name an acceptable service, so every Windows-authenticated request fails (401).".into(),
            vec![f.add_spn()],
        );
    }
    if flags.allow_dotless_spn {
        f.push(
            Severity::Warning,
            "ep-allow-dotless-spn",
            "extendedProtection flags has AllowDotlessSpn: NetBIOS-style names (HTTP/web01) are accepted, which Microsoft documents as \"not a secure scenario\" (a short name can resolve to another host in another DNS suffix).".into(),
            vec!["list fully qualified names (HTTP/web01.corp.example) and remove AllowDotlessSpn".into()],
        );
    }
    for spn in spns {
        let lower = spn.to_ascii_lowercase();
        if !lower.starts_with("http/") {
            f.push(
                Severity::Warning,
                "ep-spn-not-http",
                format!(
                    "the SPN {spn:?} does not start with HTTP/: browsers and HTTP clients ask for HTTP/<host>, so this entry never matches (IIS documents that each SPN \"must be prefixed with HTTP\")."
                ),
                vec![format!(
                    "use HTTP/{}",
                    spn.split_once('/').map_or(spn.as_str(), |(_, h)| h)
                )],
            );
        }
    }
}

/// Findings about the http.sys bindings themselves.
fn bindings(config: &IisConfig, netsh: &[SslBinding], out: &mut Vec<IisFinding>) {
    let with_certs = certificate_bindings(config, netsh);
    for n in netsh {
        let certs = with_certs.contains(&&n.key) || config.sites.is_empty();
        if certs {
            certificate_binding(n, out);
        }
    }
    sibling_differences(netsh, out);
}

/// The http.sys bindings that serve locations asking for client certificates (or mapping them).
fn certificate_bindings<'a>(config: &IisConfig, netsh: &'a [SslBinding]) -> Vec<&'a BindingKey> {
    let mut with_certs: Vec<&BindingKey> = Vec::new();
    for location in config.locations() {
        let e = config.effective(&location);
        if !(e.ssl_flags.wants_certificate() || e.certificate_mapping) {
            continue;
        }
        if let Some(site) = config.site_of(&location) {
            for b in https_bindings(site) {
                if let Some(n) = netsh_binding_for(b, netsh)
                    && !with_certs.contains(&&n.key)
                {
                    with_certs.push(&n.key);
                }
            }
        }
    }
    with_certs
}

/// Findings about a binding that takes client certificates: revocation checking and the
/// acceptable-CA list.
fn certificate_binding(n: &SslBinding, out: &mut Vec<IisFinding>) {
    let subject = n.key.to_string();
    if n.switch(field::VERIFY_REVOCATION) != Switch::Off {
        out.push(IisFinding {
            severity: Severity::Info,
            code: "revocation-outage-risk",
            subject: subject.clone(),
            why: format!(
                "\"Verify Client Certificate Revocation\" is enabled on a binding that takes client certificates: when the server cannot fetch the CRL (or OCSP) named in a client certificate — a firewall, a proxy, an offline CA — every client certificate fails and the site is down for them. URL Retrieval Timeout is {}, Revocation Freshness Time {}.",
                n.get(field::URL_RETRIEVAL_TIMEOUT).unwrap_or("not shown"),
                n.get(field::REVOCATION_FRESHNESS).unwrap_or("not shown")
            ),
            fix: vec![
                "make sure the server reaches every CRL distribution point of the issuing CAs (certutil -verify -urlfetch client.cer)".into(),
                format!(
                    "stop-gap only, at a security cost (revoked certificates are then accepted): {}",
                    netsh_update(n, "verifyclientcertrevocation=disable")
                ),
            ],
        });
    }
    let store = n.named(field::CTL_STORE_NAME);
    let ctl = n.named(field::CTL_IDENTIFIER);
    if store.is_some() || ctl.is_some() {
        out.push(IisFinding {
            severity: if store.is_some_and(|s| s.eq_ignore_ascii_case("root") || s.eq_ignore_ascii_case("authroot")) {
                Severity::Warning
            } else {
                Severity::Info
            },
            code: "ca-hint-list",
            subject,
            why: format!(
                "the binding names the acceptable-CA list (Ctl Store Name {}, Ctl Identifier {}). Schannel sends the subjects of every CA in it in the CertificateRequest; above 16 KiB of names Windows clients send no certificate at all, and a full trusted-root store is far above that.",
                store.unwrap_or("(null)"),
                ctl.unwrap_or("(null)")
            ),
            fix: vec![
                format!(
                    "name a store holding only the issuing CAs: {}",
                    netsh_update(n, "sslctlstorename=ClientAuthIssuer")
                ),
                "or send no list: registry HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL SendTrustedIssuerList=0 (DWORD), then restart".into(),
                "epa lint computes the exact size of a CA bundle's list".into(),
            ],
        });
    }
}

/// Settings that differ from siblings on the same port: replacing a binding's certificate
/// (netsh delete/add, IIS Manager) silently resets them to the defaults.
fn sibling_differences(netsh: &[SslBinding], out: &mut Vec<IisFinding>) {
    const COMPARED: [&str; 5] = [
        field::VERIFY_REVOCATION,
        field::NEGOTIATE_CLIENT_CERT,
        field::DISABLE_TLS13,
        field::DISABLE_HTTP2,
        field::CTL_STORE_NAME,
    ];
    for n in netsh {
        let siblings: Vec<&SslBinding> = netsh
            .iter()
            .filter(|o| !std::ptr::eq(*o, n) && o.key.port() == n.key.port())
            .collect();
        if siblings.len() < 2 {
            continue;
        }
        for name in COMPARED {
            let mine = n.get(name).unwrap_or("Not Set");
            let same = siblings
                .iter()
                .filter(|o| o.get(name).unwrap_or("Not Set").eq_ignore_ascii_case(mine))
                .count();
            if same == 0 {
                let theirs = siblings[0].get(name).unwrap_or("Not Set");
                out.push(IisFinding {
                    severity: Severity::Warning,
                    code: "binding-differs-from-siblings",
                    subject: n.key.to_string(),
                    why: format!(
                        "\"{name}\" is {mine} here and {theirs} on every other binding of port {} ({} of them). Replacing a binding's certificate (netsh delete/add, IIS Manager) silently resets it to the defaults — \"Verify Client Certificate Revocation\" back to Enabled, \"Negotiate Client Certificate\" back to Disabled — which is how one host name of many starts failing.",
                        n.key.port(),
                        siblings.len()
                    ),
                    fix: vec![sibling_fix(n, name, theirs)],
                });
            }
        }
    }
}

/// The fix giving binding `n` its siblings' value `theirs` of the field `name`.
fn sibling_fix(n: &SslBinding, name: &str, theirs: &str) -> String {
    if theirs.eq_ignore_ascii_case("(null)") {
        format!(
            "if the siblings are right, re-create the binding without it: netsh http delete sslcert {}, then netsh http add sslcert {} certhash={} appid={} with the siblings' other settings",
            n.key.netsh_argument(),
            n.key.netsh_argument(),
            n.get(field::CERTIFICATE_HASH)
                .unwrap_or("<certificate hash>"),
            n.get(field::APPLICATION_ID).unwrap_or("<application id>")
        )
    } else {
        format!(
            "if the siblings are right: {}",
            netsh_update(n, &setting_argument(name, theirs))
        )
    }
}

/// The `netsh http update sslcert` argument setting a compared field.
fn setting_argument(name: &str, value: &str) -> String {
    let on = matches!(value.to_ascii_lowercase().as_str(), "enabled" | "set");
    let v = if on { "enable" } else { "disable" };
    match name {
        field::VERIFY_REVOCATION => format!("verifyclientcertrevocation={v}"),
        field::NEGOTIATE_CLIENT_CERT => format!("clientcertnegotiation={v}"),
        field::DISABLE_TLS13 => format!("disabletls13={v}"),
        field::DISABLE_HTTP2 => format!("disablehttp2={v}"),
        _ => format!("sslctlstorename={value}"),
    }
}
