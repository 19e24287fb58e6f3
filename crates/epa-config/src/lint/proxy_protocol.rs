//! `[listener] proxy_protocol_from`: ranges so wide that anyone in them can claim any client
//! address, balancers also listed as TLS-terminating proxies, and a long header deadline.

use super::{Finding, Severity, finding};
use crate::ListenerTable;

/// The narrowest IPv4 / IPv6 prefix that is still "wide": a /15 or /47 and wider.
const WIDE: (u8, u8) = (16, 48);

/// The header deadline past which a finding says so (nginx stream's default is 30 s).
const LONG_SECONDS: f64 = 30.0;

/// Findings for the PROXY protocol keys of `[listener]`.
pub(super) fn proxy_protocol_findings(l: &ListenerTable, out: &mut Vec<Finding>) {
    use Severity::*;
    let wide: Vec<String> = l
        .proxy_protocol_from
        .iter()
        .filter(|r| match r.net() {
            ipnet::IpNet::V4(_) => r.prefix_len() < WIDE.0,
            ipnet::IpNet::V6(_) => r.prefix_len() < WIDE.1,
        })
        .map(ToString::to_string)
        .collect();
    if !wide.is_empty() {
        out.push(finding(Warning, "proxy-protocol-wide-range",
            format!("proxy_protocol_from lists {}: any host there can open a connection with a PROXY header naming any client address, and the throttle, the per-address limit, X-Forwarded-For and metrics allow_from believe it", wide.join(", ")),
            "list only the balancers' own addresses (nginx set_real_ip_from and HAProxy accept-proxy are written per balancer too)"));
    }
    // A source also in trusted_proxies is a configuration error
    // (`ListenerError::ProxyProtocolSourceTrusted`), reported as one.
    if !l.proxy_protocol_from.is_empty() && l.proxy_protocol_timeout > LONG_SECONDS {
        out.push(finding(Warning, "proxy-protocol-timeout-long",
            format!("proxy_protocol_timeout = {}: a balancer sends its header with the connection's first bytes; a connection that sends nothing holds a socket this long", l.proxy_protocol_timeout),
            "keep the default (5 s)"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(listener: &str) -> Vec<&'static str> {
        let l: ListenerTable = toml::from_str(listener).unwrap();
        let mut out = Vec::new();
        proxy_protocol_findings(&l, &mut out);
        out.iter().map(|f| f.code).collect()
    }

    #[test]
    fn each_finding_has_a_trigger_and_a_non_trigger() {
        assert!(codes("").is_empty());
        assert!(
            codes("proxy_protocol_from = [\"10.0.0.5\", \"10.1.0.0/16\", \"2001:db8::/48\"]")
                .is_empty()
        );
        assert_eq!(
            codes("proxy_protocol_from = [\"0.0.0.0/0\"]"),
            ["proxy-protocol-wide-range"]
        );
        assert_eq!(
            codes("proxy_protocol_from = [\"10.0.0.0/8\"]"),
            ["proxy-protocol-wide-range"]
        );
        assert_eq!(
            codes("proxy_protocol_from = [\"::/0\"]"),
            ["proxy-protocol-wide-range"]
        );
        assert_eq!(
            codes("proxy_protocol_from = [\"10.0.0.5\"]\nproxy_protocol_timeout = 60"),
            ["proxy-protocol-timeout-long"]
        );
        // The deadline alone, with the feature off, says nothing.
        assert!(codes("proxy_protocol_timeout = 60").is_empty());
    }

    /// A balancer that is also a trusted proxy would be trusted for the connections whose PROXY
    /// header says UNKNOWN: their client's X-Forwarded-For would key the throttle and smart
    /// lockout. Refused by the table (start-up, reload and lint), IPv4-mapped spellings too.
    #[test]
    fn a_proxy_protocol_source_in_trusted_proxies_is_refused() {
        for trusted in ["10.1.2.3", "::ffff:10.1.2.3"] {
            let l: ListenerTable = toml::from_str(&format!(
                "proxy_protocol_from = [\"10.1.0.0/16\"]\ntrusted_proxies = [\"{trusted}\"]"
            ))
            .unwrap();
            assert!(
                matches!(
                    l.validate(),
                    Err(crate::ListenerError::ProxyProtocolSourceTrusted(_))
                ),
                "{trusted}"
            );
        }
        let l: ListenerTable = toml::from_str(
            "proxy_protocol_from = [\"10.1.0.0/16\"]\ntrusted_proxies = [\"10.2.2.3\"]",
        )
        .unwrap();
        assert!(l.validate().is_ok());
        assert!(
            codes("proxy_protocol_from = [\"10.1.0.0/16\"]\ntrusted_proxies = [\"10.2.2.3\"]")
                .is_empty()
        );
    }

    #[test]
    fn a_bad_range_or_deadline_is_refused_by_the_table() {
        let bad: Result<ListenerTable, _> =
            toml::from_str("proxy_protocol_from = [\"10.0.0.0/33\"]");
        let e = bad.unwrap_err().to_string();
        assert!(e.contains("10.0.0.0/33"), "{e}");
        let l: ListenerTable = toml::from_str("proxy_protocol_timeout = 0").unwrap();
        assert!(matches!(
            l.validate(),
            Err(crate::ListenerError::Deadline {
                key: "proxy_protocol_timeout",
                ..
            })
        ));
        let l: ListenerTable = toml::from_str("proxy_protocol_from = [\"10.0.0.5\"]").unwrap();
        let p = l.proxy_protocol().unwrap();
        assert!(p.expects("10.0.0.5".parse().unwrap()));
        assert!(p.expects("::ffff:10.0.0.5".parse().unwrap()));
        assert!(!p.expects("10.0.0.6".parse().unwrap()));
        assert_eq!(p.timeout, std::time::Duration::from_secs(5));
    }
}
