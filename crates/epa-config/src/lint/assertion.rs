//! `[identity_assertion]`: a table the server refuses (lifetime, header, key page path), a
//! route that asks for an assertion without the table, a key page another page hides, and —
//! from the caller's reading of the key files ([`assertion_keys`]) — a key file that cannot be
//! read or is not an ES256/EdDSA key, and a previous key that is the current one.

use super::{Finding, Severity, finding};
use crate::ServerConfig;
use crate::assertion::{AssertionError, route_audience};
use std::path::PathBuf;

/// Findings for `[identity_assertion]` and the routes' `identity_assertion`.
pub(super) fn assertion_findings(config: &ServerConfig, out: &mut Vec<Finding>) {
    use Severity::*;
    let table = config.identity_assertion.as_ref();
    for route in &config.routes {
        if let Err(e @ AssertionError::NoTable(_)) = route_audience(table, Some(route)) {
            out.push(finding(Error, "assertion-without-table", format!("{e}: the server refuses to start"),
                "add an [identity_assertion] table with signing_key_file, issuer and audience, or remove identity_assertion from the route"));
        }
    }
    let Some(table) = table else {
        return;
    };
    match table.validate(&config.identity_headers) {
        Err(e @ AssertionError::Lifetime(_)) => out.push(finding(Error, "assertion-lifetime", format!("{e}: the server refuses to start"),
            "keep assertions short-lived (60 seconds is the default; epa re-mints them on the same login)")),
        Err(e @ (AssertionError::HeaderInvalid(_) | AssertionError::HeaderReserved(_))) => out.push(finding(Error, "assertion-header", format!("{e}: the server refuses to start"),
            "use a header name of its own, e.g. the default X-EPA-Assertion")),
        Err(e) => out.push(finding(Error, "assertion-invalid", format!("{e}: the server refuses to start"),
            "give issuer, audience and an absolute jwks_path")),
        Ok(()) => {}
    }
    if table.lifetime > 300 && crate::assertion::LIFETIME_RANGE.contains(&table.lifetime) {
        out.push(finding(Warning, "assertion-lifetime-long",
            format!("[identity_assertion] lifetime {} seconds: a copied assertion header is a valid identity that long", table.lifetime),
            "keep it at a few minutes at most (default 60): epa re-mints on the same login at no cost to the client"));
    }
    if config.upstream.is_none() {
        out.push(finding(Warning, "assertion-without-upstream",
            "[identity_assertion] without [upstream]: there is no upstream to send assertions to (only the key page is served)".into(),
            "add [upstream], or remove [identity_assertion]"));
    }
    let any_route = table.default
        || config
            .routes
            .iter()
            .any(|r| r.identity_assertion == Some(true));
    if !any_route {
        out.push(finding(Info, "assertion-on-no-route",
            "[identity_assertion] is configured but no route asks for it (default = false and no [[route]] identity_assertion = true)".into(),
            "set identity_assertion = true on the routes whose upstream verifies it, or default = true"));
    }
    if let (Ok(jwks), Some(metrics)) = (
        table.normalized_jwks_path(),
        config
            .metrics
            .as_ref()
            .and_then(|m| m.normalized_path().ok()),
    ) && jwks.as_str().eq_ignore_ascii_case(metrics.as_str())
    {
        out.push(finding(Error, "assertion-jwks-path-collision",
            format!("[identity_assertion] jwks_path {jwks} is also the metrics page: one of them is unreachable"),
            "give the key page its own path (default /.well-known/epa/jwks.json)"));
    }
}

/// What the caller learned from one key file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFileFact {
    /// A usable key with this `kid` (RFC 7638 thumbprint).
    Key {
        /// The thumbprint.
        kid: String,
    },
    /// The file cannot be read.
    Unreadable(String),
    /// Not a PKCS#8 PEM EC P-256 or Ed25519 key.
    WrongType(String),
}

/// Findings from the key files (`facts`: the signing key first, then the previous keys).
pub fn assertion_keys(facts: &[(PathBuf, KeyFileFact)]) -> Vec<Finding> {
    use Severity::*;
    let mut out = Vec::new();
    let current = match facts.first() {
        Some((_, KeyFileFact::Key { kid })) => Some(kid.as_str()),
        _ => None,
    };
    for (i, (path, fact)) in facts.iter().enumerate() {
        let which = if i == 0 {
            "signing_key_file"
        } else {
            "previous_key_files"
        };
        match fact {
            KeyFileFact::Unreadable(e) => out.push(finding(Error, "assertion-key-unreadable",
                format!("[identity_assertion] {which} {}: {e}: the server refuses to start", path.display()),
                "fix the path or the permissions (the file is read at start and on SIGHUP)")),
            KeyFileFact::WrongType(e) => out.push(finding(Error, "assertion-key-type",
                format!("[identity_assertion] {which} {}: {e}", path.display()),
                "give a PKCS#8 PEM key: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 (ES256) or -algorithm ed25519 (EdDSA)")),
            KeyFileFact::Key { kid } if i > 0 && Some(kid.as_str()) == current => out.push(finding(Error, "assertion-previous-key-is-current",
                format!("[identity_assertion] previous key {} is the signing key (kid {kid})", path.display()),
                "after a rotation, previous_key_files names the old key and signing_key_file the new one")),
            KeyFileFact::Key { .. } => {}
        }
    }
    out
}

/// Findings from the key files' Unix modes (`modes`: path and `st_mode` of each file that could
/// be read): a private key that users other than the owner and group can read or write — anyone
/// who reads it can mint any identity the application will believe.
pub fn assertion_key_modes(modes: &[(PathBuf, u32)]) -> Vec<Finding> {
    modes
        .iter()
        .filter(|(_, mode)| mode & 0o007 != 0)
        .map(|(path, mode)| finding(Severity::Warning, "assertion-key-readable-by-others",
            format!("[identity_assertion] key {} has mode {:o}: users other than its owner and group can read it, and a reader can sign any identity the application believes", path.display(), mode & 0o777),
            "chgrp epa the file and chmod 0640 it (the package's /etc/epa is root:epa 2750)"))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn codes(text: &str) -> Vec<&'static str> {
        let c: ServerConfig = toml::from_str(text).unwrap();
        let mut out = Vec::new();
        assertion_findings(&c, &mut out);
        out.iter().map(|f| f.code).collect()
    }

    const TABLE: &str =
        "[identity_assertion]\nsigning_key_file = \"k.pem\"\nissuer = \"i\"\naudience = \"a\"\n";

    #[test]
    fn table_findings() {
        let up = "[upstream]\nurl = \"http://127.0.0.1:1\"\n";
        assert_eq!(
            codes(&format!("{up}{TABLE}default = true\n")),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(&format!(
                "{up}[[route]]\npath = \"/a\"\nidentity_assertion = true\n"
            )),
            ["assertion-without-table"]
        );
        assert_eq!(
            codes(&format!("{up}{TABLE}lifetime = 7200\ndefault = true\n")),
            ["assertion-lifetime"]
        );
        assert_eq!(
            codes(&format!("{up}{TABLE}lifetime = 900\ndefault = true\n")),
            ["assertion-lifetime-long"]
        );
        assert_eq!(
            codes(&format!(
                "{up}{TABLE}header = \"X_Remote_User\"\ndefault = true\n"
            )),
            ["assertion-header"]
        );
        assert_eq!(
            codes(&format!("{up}{TABLE}header = \"Cookie\"\ndefault = true\n")),
            ["assertion-header"]
        );
        assert_eq!(codes(&format!("{up}{TABLE}")), ["assertion-on-no-route"]);
        assert_eq!(
            codes(&format!("{TABLE}default = true\n")),
            ["assertion-without-upstream"]
        );
        assert_eq!(
            codes(&format!(
                "{up}{TABLE}default = true\njwks_path = \"/metrics\"\n[metrics]\npath = \"/metrics\"\n"
            )),
            ["assertion-jwks-path-collision"]
        );
    }

    #[test]
    fn a_key_others_can_read_is_a_warning() {
        let f = |mode: u32| -> Vec<&'static str> {
            assertion_key_modes(&[(PathBuf::from("k.pem"), mode)])
                .iter()
                .map(|f| f.code)
                .collect()
        };
        assert!(f(0o100640).is_empty());
        assert!(f(0o100600).is_empty());
        assert_eq!(f(0o100644), ["assertion-key-readable-by-others"]);
        assert_eq!(f(0o100602), ["assertion-key-readable-by-others"]);
    }

    #[test]
    fn key_findings() {
        let key = |k: &str| KeyFileFact::Key { kid: k.into() };
        let f = |facts: Vec<KeyFileFact>| -> Vec<&'static str> {
            let facts: Vec<_> = facts.into_iter().map(|x| (PathBuf::from("k"), x)).collect();
            assertion_keys(&facts).iter().map(|f| f.code).collect()
        };
        assert!(f(vec![key("a"), key("b")]).is_empty());
        assert_eq!(
            f(vec![key("a"), key("a")]),
            ["assertion-previous-key-is-current"]
        );
        assert_eq!(
            f(vec![KeyFileFact::Unreadable("no".into())]),
            ["assertion-key-unreadable"]
        );
        assert_eq!(
            f(vec![key("a"), KeyFileFact::WrongType("rsa".into())]),
            ["assertion-key-type"]
        );
    }
}
