//! `epa iis import`: an IIS location's settings as epa configuration — the `[policy]` table of
//! the scenario format in its IIS form (profile `iis`), the .NET `HttpListener` form beside it
//! (commented), and the client-certificate mode — so that `epa policy eval` / `test` run on a
//! site's real settings.

use super::config::{Effective, IisConfig, SiteBinding};
use epa_core::client_cert::ClientCertificateMode;
use epa_core::decide::Profile;
use epa_core::policy::{PolicyEnforcement, ProtectionScenario, TokenChecking};

/// The listener prefixes of a site's HTTP(S) bindings that name a host (`https://host:port/`).
/// Wildcard bindings (`*:443:`) name none: their default service names come from the machine
/// name, which the XML does not give.
pub fn prefixes(bindings: &[SiteBinding]) -> (Vec<String>, Vec<String>) {
    let mut named = Vec::new();
    let mut wildcard = Vec::new();
    for b in bindings {
        if !matches!(b.protocol.as_str(), "http" | "https") {
            continue;
        }
        let Some((ip, port, host)) = b.parts() else {
            continue;
        };
        if !host.is_empty() {
            named.push(format!("{}://{host}:{port}/", b.protocol));
        } else if ip != "*" && !ip.is_empty() {
            let ip = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip.to_owned()
            };
            named.push(format!("{}://{ip}:{port}/", b.protocol));
        } else {
            wildcard.push(b.information.clone());
        }
    }
    (named, wildcard)
}

/// The client-certificate mode an `sslFlags` value amounts to, when the binding negotiates
/// client certificates in the first handshake.
pub fn client_certificate_mode(e: &Effective) -> ClientCertificateMode {
    if e.ssl_flags.require_cert {
        ClientCertificateMode::Require
    } else if e.ssl_flags.negotiate_cert {
        ClientCertificateMode::Request
    } else {
        ClientCertificateMode::Ignore
    }
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| toml_string(s)).collect();
    format!("[{}]", inner.join(", "))
}

/// The kebab-case flags of an IIS `flags` value.
fn flags(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty() && !f.eq_ignore_ascii_case("none"))
        .map(|f| {
            let mut out = String::new();
            for (i, c) in f.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    out.push('-');
                }
                out.push(c.to_ascii_lowercase());
            }
            out
        })
        .collect()
}

/// One location as a scenario-format document (valid TOML: everything but `[policy]` is a
/// comment).
pub fn import(config: &IisConfig, location: &str) -> String {
    let e = config.effective(location);
    let site = config.site_of(location);
    let (named, wildcard) = site.map(|s| prefixes(&s.bindings)).unwrap_or_default();
    let mut out = format!("# IIS location {location:?}\n");
    if !e.sources.is_empty() {
        out.push_str(&format!("# from: {}\n", e.sources.join("; ")));
    }
    if !e.windows_authentication {
        out.push_str("# Windows authentication is off here: Extended Protection does not apply.\n");
    }
    let f = flags(&e.flags);
    policy_table(&mut out, &e, &f);
    dotnet_form(&mut out, &e, &f, &named, &wildcard);
    client_certificates(&mut out, &e, location);
    out
}

/// The `[policy]` table in its IIS form (profile `iis`), kebab-case flags `f`.
fn policy_table(out: &mut String, e: &Effective, f: &[String]) {
    let tc = e.token_checking;
    out.push_str("[policy]\n");
    out.push_str(&format!("token_checking = {}\n", toml_string(tc.name())));
    if !f.is_empty() {
        out.push_str(&format!("flags = {}\n", toml_list(f)));
    }
    if !e.spns.is_empty() {
        out.push_str(&format!("spns = {}\n", toml_list(&e.spns)));
    }
    // No `prefixes`: http.sys checks only the `<spn>` entries, never names derived from the
    // site's bindings (docs/windows-semantics.md §6.2), and profile `iis` ignores them. Without
    // entries, `Proxy` refuses every SPN; that is what this policy reproduces.
    out.push_str(&format!("profile = \"{}\"\n", Profile::Iis));
    let checks_names = !f.iter().any(|x| x == "no-service-name-check");
    if e.spns.is_empty()
        && f.iter().any(|x| x == "proxy")
        && checks_names
        && tc != TokenChecking::None
    {
        out.push_str(
            "# no <spn> entries under Proxy: http.sys refuses every client service name (NTLM); add <spn name=\"HTTP/host\"/>\n",
        );
    }
}

/// The same policy in the .NET `HttpListener` form, commented; `named` and `wildcard` are the
/// site's listener prefixes (see [`prefixes`]).
fn dotnet_form(
    out: &mut String,
    e: &Effective,
    f: &[String],
    named: &[String],
    wildcard: &[String],
) {
    out.push_str("\n# The same policy in the .NET HttpListener form (ExtendedProtectionPolicy):\n");
    let enforcement = e.token_checking.enforcement();
    out.push_str(&format!("# enforcement = \"{enforcement}\"\n"));
    if enforcement != PolicyEnforcement::Never {
        if f.iter().any(|x| x == "proxy") {
            out.push_str(&format!(
                "# scenario = \"{}\"\n",
                ProtectionScenario::TrustedProxy
            ));
        }
        if !e.spns.is_empty() {
            out.push_str(&format!("# service_names = {}\n", toml_list(&e.spns)));
        }
        // HttpListener derives default names from its prefixes (docs/windows-semantics.md
        // §4.2) when no names are given; http.sys does not.
        let defaults_used = e.spns.is_empty();
        if defaults_used && !named.is_empty() {
            out.push_str(&format!("# prefixes = {}\n", toml_list(named)));
        }
        for w in wildcard.iter().filter(|_| defaults_used) {
            out.push_str(&format!(
                "# binding {w:?} is a wildcard: its default names come from the machine name (machine_name = \"host.domain\")\n"
            ));
        }
        let no_equivalent: Vec<&String> = f.iter().filter(|x| *x != "proxy").collect();
        if !no_equivalent.is_empty() {
            out.push_str(&format!(
                "# (no .NET equivalent for {}: only profile \"iis\" reproduces them)\n",
                no_equivalent
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    out.push_str(&format!("# profile = \"{}\"\n", Profile::Dotnet8));
}

/// Client certificates: the server-configuration form (`epa lint`, `--config`), commented.
fn client_certificates(out: &mut String, e: &Effective, location: &str) {
    let mode = client_certificate_mode(e);
    out.push_str(&format!(
        "\n# Client certificates (sslFlags \"{}\"), as a server configuration file's table:\n",
        e.ssl_flags.to_iis_string()
    ));
    out.push_str("# [client_certificates]\n");
    out.push_str(&format!(
        "# mode = \"{mode}\"   # asked for in the first handshake (IIS: \"Negotiate Client Certificate\" enabled)\n",
    ));
    if mode == ClientCertificateMode::Require {
        out.push_str(&format!(
            "# or mode = \"{}\" with required_paths = [{}] to refuse with 403.7 instead of a TLS alert\n",
            ClientCertificateMode::Request,
            toml_string(&format!("/{}", location.split_once('/').map_or("", |(_, p)| p)))
        ));
    }
    if e.certificate_mapping {
        out.push_str("# a client-certificate mapping module is enabled: map certificates to users in the application\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_kebab_case() {
        assert_eq!(flags("Proxy, ProxyCohosting"), ["proxy", "proxy-cohosting"]);
        assert_eq!(flags("None"), Vec::<String>::new());
        assert_eq!(
            flags("AllowDotlessSpn,NoServiceNameCheck"),
            ["allow-dotless-spn", "no-service-name-check"]
        );
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(toml_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
    }
}
