//! Why a client used NTLM where Kerberos was offered: the usual causes, as far as one login
//! shows them. A Windows client (SSPI), a browser or MIT asks the KDC for a ticket to
//! `HTTP/<host of the URL>`; NTLM follows when that fails. What the NTLM AUTHENTICATE names as
//! its target (`MsvAvTargetName`, the same `HTTP/<host>`) shows the host the client used.

/// Notes for the page about a login that used NTLM. `target_name` is the AUTHENTICATE's
/// `MsvAvTargetName`, if it sent one; `offered_kerberos` whether the route accepts Kerberos.
pub(super) fn notes(target_name: Option<&str>, offered_kerberos: bool) -> Vec<String> {
    if !offered_kerberos {
        return vec!["This route accepts NTLM only (or its backend has no Kerberos): the client had no Kerberos to choose.".to_owned()];
    }
    let mut out = Vec::new();
    let host = target_name
        .and_then(|t| t.split_once('/'))
        .map(|(_, authority)| host_of(authority));
    match host {
        Some(h) if h.parse::<std::net::IpAddr>().is_ok() => out.push(format!(
            "The client reached this server by IP address ({h}): clients ask the KDC for HTTP/<address>, which no account holds (Windows tries IP SPNs only with TryIPSPN set), so they fall back to NTLM. Use the server's DNS name in the URL."
        )),
        Some(h) if !h.contains('.') => out.push(format!(
            "The client used a short host name ({h}): the ticket is asked for HTTP/{h}; register that SPN too (setspn -S HTTP/{h} <account>), or use the fully qualified name."
        )),
        Some(h) => out.push(format!(
            "The client asked for HTTP/{h}: check that exactly one account holds that SPN (setspn -Q HTTP/{h}; a duplicate makes the KDC refuse) and that the server's keytab has its current key."
        )),
        None => out.push("The client named no target service: it may not have tried Kerberos at all (an NTLM-only client or library).".to_owned()),
    }
    out.push("The client may not reach a KDC (off the corporate network, or port 88 blocked): a KDC proxy on this server ([kdc_proxy], MS-KKDCP) lets it get tickets over HTTPS.".to_owned());
    out.push("A browser sends Kerberos only to sites it trusts for it: Chrome and Edge's AuthServerAllowlist, Firefox's network.negotiate-auth.trusted-uris, the Local intranet zone for Windows' own stack.".to_owned());
    out
}

/// The host of `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.split_once(':') {
        Some((host, port)) if !port.contains(':') => host,
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_host_names_the_likely_cause() {
        let first = |t: Option<&str>| notes(t, true).remove(0);
        assert!(first(Some("HTTP/10.0.0.5")).contains("by IP address (10.0.0.5)"));
        assert!(first(Some("HTTP/[2001:db8::1]:8443")).contains("by IP address (2001:db8::1)"));
        assert!(first(Some("HTTP/web01")).contains("short host name (web01)"));
        assert!(first(Some("HTTP/web.corp.example")).contains("setspn -Q HTTP/web.corp.example"));
        assert!(first(Some("HTTP/2001:db8::2")).contains("by IP address (2001:db8::2)"));
        assert!(first(Some("HTTP/10.0.0.5:8080")).contains("by IP address (10.0.0.5)"));
        assert!(first(None).contains("no target service"));
        assert_eq!(notes(Some("HTTP/web"), true).len(), 3);
        let ntlm_only = notes(Some("HTTP/10.0.0.5"), false);
        assert_eq!(ntlm_only.len(), 1);
        assert!(ntlm_only[0].contains("NTLM only"));
    }
}
