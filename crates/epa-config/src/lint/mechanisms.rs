//! `mechanisms` (`[policy]` and `[[route]]`): a Kerberos-only policy on a backend that cannot
//! complete Kerberos refuses everyone (an error; `epa serve` refuses to start with it), and an
//! NTLM-only policy on a Kerberos-capable backend forgoes the mechanism Windows is moving to.
//! docs/moving-to-kerberos.md.

use super::{Finding, Severity, finding};
use crate::{BackendKind, ServerConfig};
use epa_core::decide::Mechanisms;

/// What a backend kind can complete: the embedded acceptor and winbind speak NTLM only;
/// GSSAPI speaks Kerberos (and NTLM where gss-ntlmssp is installed).
fn backend_mechanisms(kind: BackendKind) -> Mechanisms {
    match kind {
        BackendKind::Embedded | BackendKind::Winbind => Mechanisms::NTLM,
        BackendKind::Gssapi => Mechanisms::ALL,
    }
}

/// Every policy with its own mechanisms: `[policy]` and each protected route's.
fn policies(config: &ServerConfig) -> Vec<(String, Mechanisms, Option<Mechanisms>)> {
    let Some(base) = &config.policy else {
        return Vec::new();
    };
    let mut out = vec![(
        "[policy]".to_owned(),
        base.mechanisms.unwrap_or_default(),
        base.target_mechanisms,
    )];
    for r in config.routes.iter().filter(|r| !r.anonymous) {
        if let Some(m) = r.mechanisms {
            out.push((format!("route {:?}", r.path), m, base.target_mechanisms));
        }
    }
    out
}

/// Findings for `mechanisms` and `target_mechanisms`.
pub(super) fn mechanism_findings(config: &ServerConfig, out: &mut Vec<Finding>) {
    use Severity::*;
    let Some(backend) = &config.backend else {
        return;
    };
    let can = backend_mechanisms(backend.kind);
    let kind = backend.kind.name();
    for (place, wanted, target) in policies(config) {
        if !wanted.overlaps(can) {
            out.push(finding(Error, "mechanisms-not-in-backend",
                format!("{place}: mechanisms = [{wanted}] but [backend] kind = \"{kind}\" completes only {can}: every client would be refused (epa serve does not start)"),
                "use [backend] kind = \"gssapi\" with the service's keytab for Kerberos, or add \"ntlm\" to mechanisms"));
        }
        if target.is_some_and(|t| !t.overlaps(can)) {
            out.push(finding(Warning, "target-mechanisms-not-in-backend",
                format!("{place}: target_mechanisms cannot be met by [backend] kind = \"{kind}\" ({can} only): the audit will count every login as a would-be rejection"),
                "move to [backend] kind = \"gssapi\" before auditing for Kerberos-only"));
        }
        if backend.kind == BackendKind::Gssapi && wanted == Mechanisms::NTLM {
            out.push(finding(Warning, "ntlm-only",
                format!("{place}: mechanisms = [\"ntlm\"] on a Kerberos backend refuses Kerberos, the mechanism Windows is moving to (NTLM is being disabled by default)"),
                "accept kerberos too (the default), or audit with target_mechanisms = [\"kerberos\"]"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lint;
    use crate::ServerConfig;

    fn codes(text: &str) -> Vec<&'static str> {
        let config: ServerConfig = toml::from_str(text).unwrap();
        let mut c: Vec<_> = lint(&config, None)
            .into_iter()
            .map(|f| f.code)
            .filter(|c| c.contains("mechanisms") || *c == "ntlm-only")
            .collect();
        c.sort_unstable();
        c
    }

    const POLICY: &str =
        "[policy]\nenforcement = \"always\"\nservice_names = [\"HTTP/a.example\"]\n";

    #[test]
    fn kerberos_only_needs_a_kerberos_backend() {
        for kind in ["embedded\"\nusers = \"u", "winbind"] {
            let backend = format!("[backend]\nkind = \"{kind}\"\n");
            assert_eq!(
                codes(&format!("{backend}{POLICY}mechanisms = [\"kerberos\"]")),
                ["mechanisms-not-in-backend"],
                "{kind}"
            );
            assert!(codes(&format!("{backend}{POLICY}")).is_empty(), "{kind}");
            assert_eq!(
                codes(&format!(
                    "{backend}{POLICY}target_mechanisms = [\"kerberos\"]"
                )),
                ["target-mechanisms-not-in-backend"],
                "{kind}"
            );
        }
        let gssapi = "[backend]\nkind = \"gssapi\"\n";
        assert!(codes(&format!("{gssapi}{POLICY}mechanisms = [\"kerberos\"]")).is_empty());
        assert!(
            codes(&format!(
                "{gssapi}{POLICY}target_mechanisms = [\"kerberos\"]"
            ))
            .is_empty()
        );
        assert_eq!(
            codes(&format!("{gssapi}{POLICY}mechanisms = [\"ntlm\"]")),
            ["ntlm-only"]
        );
    }

    #[test]
    fn a_route_s_own_mechanisms_are_linted() {
        let text = format!(
            "[backend]\nkind = \"winbind\"\n{POLICY}[upstream]\nurl = \"http://127.0.0.1:8080\"\n[[route]]\npath = \"/k\"\nmechanisms = [\"kerberos\"]\n[[route]]\npath = \"/n\"\n"
        );
        assert_eq!(codes(&text), ["mechanisms-not-in-backend"]);
        let config: ServerConfig = toml::from_str(&text).unwrap();
        let f = lint(&config, None)
            .into_iter()
            .find(|f| f.code == "mechanisms-not-in-backend")
            .unwrap();
        assert!(f.why.contains("route \"/k\""), "{}", f.why);
    }
}
