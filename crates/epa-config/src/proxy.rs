//! The reverse-proxy tables of the server configuration file: `[upstream]`,
//! `[identity_headers]` and `[[route]]`.
//!
//! ```toml
//! [upstream]
//! url = "http://127.0.0.1:8080"      # http://HOST:PORT, https://HOST:PORT or unix:/path
//! connect_timeout = 5                # seconds (all deadlines): connect + response head → 504
//! response_timeout = 30
//! read_timeout = 60                  # between two reads of a response (its body too) → cut
//! upgrade_idle_timeout = 300         # a spliced WebSocket idle both ways this long is closed
//! upgrade_protocols = ["websocket"]  # the default; h2c is refused
//! allow_underscores_in_headers = false  # the default: X_Remote_User and friends dropped
//! [identity_headers]                 # names; defaults shown by `IdentityHeadersTable::default`
//! user = "X-Remote-User"
//! encoding = "percent"               # non-ASCII as %XX of UTF-8 (default), or "utf8"
//! [[route]]
//! path = "/health"                   # normalised-path prefix, longest wins
//! anonymous = true
//! [[route]]
//! path = "/admin"
//! enforcement = "always"
//! allow_users = ["EPA\\alice"]
//! allow_groups = ["EPA\\WebAdmins", "S-1-5-21-1004336348-1177238915-682003330-1105"]
//! ```
//!
//! `allow_users` and `allow_groups`: see [`epa_core::allow`] (either list admits; 403 otherwise).
//! The `[identity_headers]` table and the header names the proxy reserves are in
//! [`super::identity_headers`], re-exported here.

pub use super::identity_headers::{
    CLIENT_ADDRESS_HEADERS, FORWARDING_CLAIM_HEADERS, ForwardedMode, HeaderNameError,
    IdentityHeadersTable, PATH_OVERRIDE_HEADERS, RESERVED_HEADER_NAMES, is_reserved_header,
};
use crate::proxy_rules::{UpgradeProtocolError, check_upgrade_protocols};
pub use crate::upstream::{UpstreamTable, UpstreamTarget, UpstreamUrlError};
use epa_core::allow::{AllowError, AllowList};
use epa_core::path::{NormalizedPath, PathError};
use epa_core::policy::PolicyEnforcement;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One `[[route]]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RouteTable {
    /// The path prefix (normalised, whole segments, case-insensitive as IIS).
    pub path: String,
    /// No authentication at all on this route.
    #[serde(default)]
    pub anonymous: bool,
    /// This route's enforcement (the `[policy]` table with this enforcement); default: the
    /// `[policy]` table's.
    pub enforcement: Option<PolicyEnforcement>,
    /// When non-empty, only these principals (`DOMAIN\user`, case-insensitive) are forwarded;
    /// other authenticated users get 403.
    #[serde(default)]
    pub allow_users: Vec<String>,
    /// When non-empty, members of these groups (`DOMAIN\Group` names or `S-1-…` SIDs) are
    /// forwarded too ([`epa_core::allow`]); other authenticated users get 403.
    #[serde(default)]
    pub allow_groups: Vec<String>,
    /// A valid client certificate is required here, checked before any Negotiate leg (403.7
    /// without one, as IIS `SslRequireCert` on a path); `[client_certificates]` must ask for
    /// certificates (`mode = "request"`). Audit-only when `[client_certificates] audit_only`.
    #[serde(default)]
    pub require_client_certificate: bool,
    /// This route's `Upgrade` protocols, replacing `[upstream] upgrade_protocols`.
    pub upgrade_protocols: Option<Vec<String>>,
    /// This route's mechanisms (`["kerberos"]`: no NTLM here), replacing `[policy] mechanisms`.
    pub mechanisms: Option<epa_core::decide::Mechanisms>,
    /// A signed identity assertion for the upstream on this route (`[identity_assertion]`);
    /// default: that table's `default` (off).
    pub identity_assertion: Option<bool>,
    /// This route's assertion `aud`, replacing `[identity_assertion] audience`.
    pub assertion_audience: Option<String>,
}

/// A `[[route]]` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RouteError {
    /// The path cannot be normalised.
    #[error("route {path:?}: {source}")]
    Path {
        /// The path as written.
        path: String,
        /// Why.
        #[source]
        source: PathError,
    },
    /// Two routes with one normalised path.
    #[error("routes {first:?} and {second:?} are the same path")]
    Duplicate {
        /// One.
        first: String,
        /// The other.
        second: String,
    },
    /// `anonymous` together with `enforcement`, `mechanisms`, `allow_users` or `allow_groups`.
    #[error(
        "route {0:?}: anonymous takes no enforcement, no mechanisms, no allow_users and no allow_groups"
    )]
    AnonymousWithPolicy(String),
    /// An `upgrade_protocols` entry that cannot be used.
    #[error("route {path:?}: {source}")]
    Upgrade {
        /// The route.
        path: String,
        /// Which entry, and why.
        #[source]
        source: UpgradeProtocolError,
    },
    /// An `allow_groups` entry that looks like a SID and does not parse.
    #[error("route {path:?}: {source}")]
    AllowGroups {
        /// The route.
        path: String,
        /// Which entry, and why.
        #[source]
        source: AllowError,
    },
}

impl RouteTable {
    /// This route's `[policy]` table: `base` with the route's enforcement, if it has one (IIS
    /// form: never → none, when-supported → allow, always → require), and its mechanisms.
    pub fn policy(&self, base: &crate::PolicyTable) -> crate::PolicyTable {
        use epa_core::policy::TokenChecking;
        let mut t = base.clone();
        if self.mechanisms.is_some() {
            t.mechanisms = self.mechanisms;
        }
        if let Some(e) = self.enforcement {
            if t.token_checking.is_some() || t.flags.is_some() {
                t.token_checking = Some(match e {
                    PolicyEnforcement::Never => TokenChecking::None,
                    PolicyEnforcement::WhenSupported => TokenChecking::Allow,
                    PolicyEnforcement::Always => TokenChecking::Require,
                });
            } else {
                t.enforcement = Some(e);
            }
        }
        t
    }

    /// Whether `principal` (`DOMAIN\user`) is on `allow_users`, or `allow_users` is empty
    /// (groups not considered: see [`RouteTable::allow_list`]). Names compare with .NET's
    /// ordinal casing.
    pub fn allows(&self, principal: &str) -> bool {
        let key = epa_core::spn::fold_case(principal);
        self.allow_users.is_empty()
            || self
                .allow_users
                .iter()
                .any(|u| epa_core::spn::fold_case(u) == key)
    }

    /// `allow_users` and `allow_groups` as an [`AllowList`].
    pub fn allow_list(&self) -> Result<AllowList, RouteError> {
        AllowList::new(&self.allow_users, &self.allow_groups).map_err(|source| {
            RouteError::AllowGroups {
                path: self.path.clone(),
                source,
            }
        })
    }

    /// The route's checked, lower-cased `upgrade_protocols`, if it has its own.
    pub fn upgrade_protocols(&self) -> Result<Option<Vec<String>>, RouteError> {
        self.upgrade_protocols
            .as_deref()
            .map(check_upgrade_protocols)
            .transpose()
            .map_err(|source| RouteError::Upgrade {
                path: self.path.clone(),
                source,
            })
    }

    /// The normalised prefix.
    pub fn prefix(&self) -> Result<NormalizedPath, RouteError> {
        NormalizedPath::parse(&self.path).map_err(|source| RouteError::Path {
            path: self.path.clone(),
            source,
        })
    }
}

/// Checks a route list: every path normalises, no two are equal, anonymous routes carry no
/// policy, every `allow_groups` SID parses. Returns the prefixes in order.
pub fn check_routes(routes: &[RouteTable]) -> Result<Vec<NormalizedPath>, RouteError> {
    let mut out: Vec<NormalizedPath> = Vec::with_capacity(routes.len());
    for r in routes {
        let p = r.prefix()?;
        if r.anonymous
            && (r.enforcement.is_some()
                || r.mechanisms.is_some()
                || !r.allow_users.is_empty()
                || !r.allow_groups.is_empty())
        {
            return Err(RouteError::AnonymousWithPolicy(r.path.clone()));
        }
        r.allow_list()?;
        r.upgrade_protocols()?;
        if let Some(i) = out.iter().position(|q| *q == p) {
            return Err(RouteError::Duplicate {
                first: routes[i].path.clone(),
                second: r.path.clone(),
            });
        }
        out.push(p);
    }
    Ok(out)
}

/// The nearest route enclosing route `i` (the one that would serve its path without it), or
/// `None` when only the default would.
pub fn enclosing_route(prefixes: &[NormalizedPath], i: usize) -> Option<usize> {
    let others: Vec<_> = prefixes
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, p)| p.clone())
        .collect();
    let path = prefixes.get(i)?;
    select_route(&others, path).map(|j| if j >= i { j + 1 } else { j })
}

/// The index of the route that serves `path`: the longest prefix (by segments), or `None`.
pub fn select_route(prefixes: &[NormalizedPath], path: &NormalizedPath) -> Option<usize> {
    // Every matching prefix is a segment prefix of `path`, so they form a chain: the longest
    // is the one below all the others.
    let mut best: Option<usize> = None;
    for (i, p) in prefixes.iter().enumerate() {
        if path.starts_with_segments(p) && best.is_none_or(|b| p.starts_with_segments(&prefixes[b]))
        {
            best = Some(i);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn up(url: &str) -> Result<UpstreamTarget, UpstreamUrlError> {
        UpstreamTable {
            url: url.into(),
            ..UpstreamTable::default()
        }
        .target()
    }

    #[test]
    fn upstream_urls() {
        assert_eq!(
            up("http://127.0.0.1:8080").unwrap(),
            UpstreamTarget::Http {
                host: "127.0.0.1".into(),
                port: 8080
            }
        );
        assert_eq!(
            up("https://[::1]/").unwrap(),
            UpstreamTarget::Https {
                host: "[::1]".into(),
                port: 443
            }
        );
        assert_eq!(
            up("unix:/run/app.sock").unwrap(),
            UpstreamTarget::Unix("/run/app.sock".into())
        );
        for bad in [
            "ftp://x",
            "http://",
            "http://a/b",
            "http://u@a",
            "http://a:99999",
            "unix:rel",
            "http://[::1",
        ] {
            assert!(up(bad).is_err(), "{bad}");
        }
        assert!(up("http://localhost:1").unwrap().is_local());
        assert!(up("http://[::1]:1").unwrap().is_local());
        assert!(!up("http://10.0.0.1:1").unwrap().is_local());
        assert!(!up("http://app.internal").unwrap().is_local());
    }

    #[test]
    fn header_names() {
        assert!(IdentityHeadersTable::default().validate().is_ok());
        let t = |f: fn(&mut IdentityHeadersTable)| {
            let mut t = IdentityHeadersTable::default();
            f(&mut t);
            t.validate()
        };
        assert!(matches!(
            t(|t| t.user = "X Remote".into()),
            Err(HeaderNameError::Invalid { .. })
        ));
        assert!(matches!(
            t(|t| t.user = String::new()),
            Err(HeaderNameError::Invalid { .. })
        ));
        assert!(matches!(
            t(|t| t.domain = "Authorization".into()),
            Err(HeaderNameError::Reserved { .. })
        ));
        assert!(matches!(
            t(|t| t.domain = "x-remote-USER".into()),
            Err(HeaderNameError::Duplicate { .. })
        ));
        // Every header the proxy removes from requests is reserved: an identity header of that
        // name would be removed or overwritten with it.
        for name in CLIENT_ADDRESS_HEADERS
            .iter()
            .chain(FORWARDING_CLAIM_HEADERS)
            .chain(PATH_OVERRIDE_HEADERS)
        {
            let table = IdentityHeadersTable {
                groups: name.to_ascii_uppercase(),
                ..IdentityHeadersTable::default()
            };
            assert!(
                matches!(table.validate(), Err(HeaderNameError::Reserved { .. })),
                "{name}"
            );
        }
    }

    #[test]
    fn routes_longest_prefix() {
        let routes: Vec<RouteTable> = toml::from_str::<toml::Table>(
            "[[route]]\npath = \"/a\"\n[[route]]\npath = \"/a/b\"\nanonymous = true\n[[route]]\npath = \"/c\"\n",
        )
        .unwrap()["route"]
            .clone()
            .try_into()
            .unwrap();
        let p = check_routes(&routes).unwrap();
        let sel = |s: &str| select_route(&p, &NormalizedPath::parse(s).unwrap());
        assert_eq!(sel("/a/b/c"), Some(1));
        assert_eq!(sel("/A/x"), Some(0));
        assert_eq!(sel("/a/bc"), Some(0));
        assert_eq!(sel("/x/../a/./b"), Some(1));
        assert_eq!(sel("/"), None);
        let dup: Vec<RouteTable> = vec![
            RouteTable {
                path: "/x".into(),
                anonymous: false,
                enforcement: None,
                allow_users: vec![],
                allow_groups: vec![],
                require_client_certificate: false,
                upgrade_protocols: None,
                mechanisms: None,
                identity_assertion: None,
                assertion_audience: None,
            },
            RouteTable {
                path: "/X/".into(),
                anonymous: false,
                enforcement: None,
                allow_users: vec![],
                allow_groups: vec![],
                require_client_certificate: false,
                upgrade_protocols: None,
                mechanisms: None,
                identity_assertion: None,
                assertion_audience: None,
            },
        ];
        assert!(matches!(
            check_routes(&dup),
            Err(RouteError::Duplicate { .. })
        ));
    }
}
