//! Default service names derived from listener prefixes, as `HttpListener`'s `ServiceNameStore`
//! builds them (docs/windows-semantics.md §4.2).
//!
//! | Prefix | Names |
//! |---|---|
//! | `http://www.contoso.com:8080/app/` | `HTTP/www.contoso.com` (port dropped, class always `HTTP/`) |
//! | `http://web01/` | `HTTP/web01` and `HTTP/<what web01 resolves to>` |
//! | `http://+:80/`, `http://*:80/`, `http://10.1.2.3/`, `http://[::1]/` | `HTTP/<machine DNS name>` |
//!
//! Name resolution is injected through [`HostResolver`] so that this stays pure and tests are
//! deterministic; a failed lookup contributes nothing, as in .NET.

use crate::spn::{HostKind, ServiceNameCollection, ServiceNameError, host_kind};
use std::collections::HashMap;
use thiserror::Error;

/// Host-name lookups that .NET makes with `Dns.GetHostEntry`.
pub trait HostResolver {
    /// This machine's DNS name (`Dns.GetHostEntry("").HostName`), normally its FQDN.
    fn machine_dns_name(&self) -> Option<String>;
    /// The canonical name of a dotless host (`Dns.GetHostEntry(host).HostName`).
    fn canonical_name(&self, host: &str) -> Option<String>;
}

/// A resolver that knows nothing: wildcard and IP prefixes then contribute no names.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoResolver;

impl HostResolver for NoResolver {
    fn machine_dns_name(&self) -> Option<String> {
        None
    }
    fn canonical_name(&self, _host: &str) -> Option<String> {
        None
    }
}

/// A resolver with fixed answers, for tests and configuration files.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    /// The machine's DNS name.
    pub machine: Option<String>,
    /// Canonical names by lower-case host.
    pub hosts: HashMap<String, String>,
}

impl HostResolver for StaticResolver {
    fn machine_dns_name(&self) -> Option<String> {
        self.machine.clone()
    }
    fn canonical_name(&self, host: &str) -> Option<String> {
        self.hosts.get(&host.to_ascii_lowercase()).cloned()
    }
}

/// A listener prefix that `HttpListener.Prefixes.Add` would refuse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PrefixError {
    /// Not `http://` or `https://`.
    #[error("listener prefix '{prefix}' must start with http:// or https://")]
    Scheme {
        /// The prefix.
        prefix: String,
    },
    /// No trailing slash.
    #[error("listener prefix '{prefix}' must end with '/'")]
    TrailingSlash {
        /// The prefix.
        prefix: String,
    },
    /// No host between `://` and the port or path.
    #[error("listener prefix '{prefix}' has no host")]
    NoHost {
        /// The prefix.
        prefix: String,
    },
    /// A derived name was rejected (cannot happen for a non-empty host; kept for completeness).
    #[error(transparent)]
    ServiceName(#[from] ServiceNameError),
}

/// The host of a listener prefix, lower-cased (the `Uri` parser does that), IPv6 with brackets.
pub fn prefix_host(prefix: &str) -> Result<String, PrefixError> {
    let lower = prefix.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &prefix[7..]
    } else if lower.starts_with("https://") {
        &prefix[8..]
    } else {
        return Err(PrefixError::Scheme {
            prefix: prefix.to_owned(),
        });
    };
    if !prefix.ends_with('/') {
        return Err(PrefixError::TrailingSlash {
            prefix: prefix.to_owned(),
        });
    }
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let host = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        }
    } else {
        &authority[..authority.find(':').unwrap_or(authority.len())]
    };
    if host.is_empty() {
        return Err(PrefixError::NoHost {
            prefix: prefix.to_owned(),
        });
    }
    Ok(host.to_lowercase())
}

/// The names one prefix contributes (`ServiceNameStore.BuildServiceNames`), in order.
pub fn names_for_prefix(
    prefix: &str,
    resolver: &dyn HostResolver,
) -> Result<Vec<String>, PrefixError> {
    let host = prefix_host(prefix)?;
    let is_ip = matches!(host_kind(&host), HostKind::Ipv4 | HostKind::Ipv6);
    if host == "*" || host == "+" || is_ip {
        return Ok(resolver
            .machine_dns_name()
            .map(|m| vec![format!("HTTP/{m}")])
            .unwrap_or_default());
    }
    let mut out = vec![format!("HTTP/{host}")];
    if !host.contains('.')
        && let Some(canonical) = resolver.canonical_name(&host)
    {
        out.push(format!("HTTP/{canonical}"));
    }
    Ok(out)
}

/// `HttpListener.DefaultServiceNames` for a set of prefixes: each prefix's names, normalised and
/// de-duplicated in order.
pub fn default_service_names<S: AsRef<str>>(
    prefixes: &[S],
    resolver: &dyn HostResolver,
) -> Result<ServiceNameCollection, PrefixError> {
    let mut names = Vec::new();
    for p in prefixes {
        names.extend(names_for_prefix(p.as_ref(), resolver)?);
    }
    Ok(ServiceNameCollection::new(names)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver() -> StaticResolver {
        StaticResolver {
            machine: Some("srv01.corp.example".into()),
            hosts: [
                ("web01".to_string(), "web01.corp.example".to_string()),
                ("localhost".to_string(), "srv01.corp.example".to_string()),
            ]
            .into(),
        }
    }

    fn names(prefixes: &[&str]) -> Vec<String> {
        default_service_names(prefixes, &resolver())
            .unwrap()
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect()
    }

    #[test]
    fn fqdn_prefix_drops_port_and_path() {
        assert_eq!(
            names(&["http://www.contoso.com:8080/app/"]),
            ["HTTP/www.contoso.com"]
        );
    }

    #[test]
    fn https_prefix_still_gives_http_class_lowercased() {
        assert_eq!(
            names(&["https://WWW.Contoso.com/"]),
            ["HTTP/www.contoso.com"]
        );
    }

    #[test]
    fn dotless_prefix_adds_the_resolved_name() {
        assert_eq!(
            names(&["http://web01:80/"]),
            ["HTTP/web01", "HTTP/web01.corp.example"]
        );
        assert_eq!(
            names(&["http://localhost:5000/"]),
            ["HTTP/localhost", "HTTP/srv01.corp.example"]
        );
        // Lookup fails: only the dotless name.
        assert_eq!(
            default_service_names(&["http://web02/"], &NoResolver)
                .unwrap()
                .iter()
                .map(|n| n.as_str().to_owned())
                .collect::<Vec<_>>(),
            ["HTTP/web02"]
        );
    }

    #[test]
    fn wildcards_and_ip_literals_give_the_machine_name() {
        for p in [
            "http://+:80/",
            "http://*:80/",
            "http://10.1.2.3:80/",
            "http://[::1]:80/",
        ] {
            assert_eq!(names(&[p]), ["HTTP/srv01.corp.example"], "{p}");
            assert!(
                default_service_names(&[p], &NoResolver).unwrap().is_empty(),
                "{p}"
            );
        }
    }

    #[test]
    fn duplicates_across_prefixes_are_merged() {
        assert_eq!(
            names(&[
                "http://localhost:5000/",
                "http://+:80/",
                "https://localhost:5001/"
            ]),
            ["HTTP/localhost", "HTTP/srv01.corp.example"]
        );
    }

    #[test]
    fn bad_prefixes_are_typed_errors() {
        assert!(matches!(
            prefix_host("ftp://x/"),
            Err(PrefixError::Scheme { .. })
        ));
        assert!(matches!(
            prefix_host("http://x"),
            Err(PrefixError::TrailingSlash { .. })
        ));
        assert!(matches!(
            prefix_host("http://:80/"),
            Err(PrefixError::NoHost { .. })
        ));
        assert!(matches!(
            prefix_host("http:///"),
            Err(PrefixError::NoHost { .. })
        ));
    }
}
