//! `[kdc_proxy]`: a table the server refuses, a proxy clients cannot use (plain HTTP), and a
//! path that hides another page or a route (the KDC proxy is answered first).

use super::{Finding, Severity, finding};
use crate::ServerConfig;
use epa_core::path::NormalizedPath;

/// Findings for `[kdc_proxy]`.
pub(super) fn kdc_proxy_findings(config: &ServerConfig, out: &mut Vec<Finding>) {
    use Severity::*;
    let Some(table) = &config.kdc_proxy else {
        return;
    };
    let settings = match table.settings() {
        Ok(s) => s,
        Err(e) => {
            out.push(finding(Error, "kdc-proxy-invalid", format!("{e}: the server refuses to start"),
                "give at least one [[kdc_proxy.realm]] with name and kdcs = [\"HOST:PORT\"], an absolute path, and deadlines in seconds"));
            return;
        }
    };
    if config.listener.transport == epa_core::decide::Transport::Http {
        out.push(finding(Warning, "kdc-proxy-plain-http",
            "[kdc_proxy] on a plain-HTTP listener: MIT and Windows clients speak MS-KKDCP over https:// only, and the AS exchange would cross the network without TLS".into(),
            "serve it on an https listener, or keep it only behind a TLS-terminating front proxy"));
    }
    let path = &settings.path;
    let same = |other: &NormalizedPath| other.as_str().eq_ignore_ascii_case(path.as_str());
    let metrics = config
        .metrics
        .as_ref()
        .and_then(|m| m.normalized_path().ok());
    let diagnostics = config
        .diagnostics
        .enabled
        .then(|| config.diagnostics.normalized_path())
        .flatten();
    if metrics.as_ref().is_some_and(same) || diagnostics.as_ref().is_some_and(same) {
        out.push(finding(Error, "kdc-proxy-path-collision",
            format!("[kdc_proxy] path {path} is also the metrics or diagnostics page: one of them is unreachable"),
            "give the KDC proxy its own path (the default /KdcProxy)"));
    }
    let shadowed: Vec<&str> = config
        .routes
        .iter()
        .filter(|r| r.prefix().is_ok_and(|p| same(&p)))
        .map(|r| r.path.as_str())
        .collect();
    if !shadowed.is_empty() {
        out.push(finding(Warning, "kdc-proxy-shadows-route",
            format!("[kdc_proxy] path {path} is also the [[route]] {shadowed:?}: the KDC proxy answers it, the route never sees it"),
            "give the KDC proxy a path no route uses"));
    }
    let under_certificate = config
        .client_certificates
        .required_prefixes()
        .is_ok_and(|list| list.iter().any(|p| path.starts_with_segments(p)));
    if under_certificate {
        out.push(finding(Warning, "kdc-proxy-skips-client-certificate",
            format!("[kdc_proxy] path {path} is under a [client_certificates] required_paths entry, but the KDC proxy is answered before the certificate gate"),
            "move the KDC proxy out of the required paths (the KDC authenticates its clients itself)"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<&'static str> {
        let config: ServerConfig = toml::from_str(text).expect("test configuration parses");
        let mut out = Vec::new();
        kdc_proxy_findings(&config, &mut out);
        out.iter().map(|f| f.code).collect()
    }

    const KDC: &str =
        "[kdc_proxy]\n[[kdc_proxy.realm]]\nname = \"EXAMPLE.TEST\"\nkdcs = [\"127.0.0.1:88\"]\n";

    #[test]
    fn a_good_table_has_no_finding() {
        assert!(codes(KDC).is_empty());
        assert!(codes("").is_empty());
    }

    #[test]
    fn mistakes_are_found() {
        assert_eq!(codes("[kdc_proxy]\n"), ["kdc-proxy-invalid"]);
        assert_eq!(
            codes("[kdc_proxy]\n[[kdc_proxy.realm]]\nname = \"EXAMPLE.TEST\"\n"),
            ["kdc-proxy-invalid"]
        );
        assert_eq!(
            codes(&format!("[listener]\ntransport = \"http\"\n{KDC}")),
            ["kdc-proxy-plain-http"]
        );
        assert_eq!(
            codes(&format!("[metrics]\npath = \"/kdcproxy\"\n{KDC}")),
            ["kdc-proxy-path-collision"]
        );
        assert_eq!(
            codes(&format!(
                "[diagnostics]\nenabled = true\npath = \"/KdcProxy\"\n{KDC}"
            )),
            ["kdc-proxy-path-collision"]
        );
        assert_eq!(
            codes(&format!("[[route]]\npath = \"/KdcProxy\"\n{KDC}")),
            ["kdc-proxy-shadows-route"]
        );
        assert_eq!(
            codes(&format!(
                "[client_certificates]\nrequired_paths = [\"/\"]\n{KDC}"
            )),
            ["kdc-proxy-skips-client-certificate"]
        );
    }
}
