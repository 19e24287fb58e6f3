//! The `[identity_assertion]` table: a signed, short-lived identity assertion (a compact JWS,
//! RFC 7515, carrying JWT claims, RFC 7519) the upstream receives in a header, and the key page
//! (a JWK Set, RFC 7517 §5) it verifies it with.
//!
//! ```toml
//! [identity_assertion]
//! signing_key_file = "/etc/epa/assertion.pem"        # PKCS#8 PEM: EC P-256 (ES256) or Ed25519 (EdDSA)
//! previous_key_files = ["/etc/epa/assertion.old.pem"] # published on the key page, never used to sign
//! issuer = "https://epa.example.com"                   # iss
//! audience = "my-app"                                  # aud, unless the route names its own
//! lifetime = 60                                        # seconds, exp - iat (5..=3600)
//! header = "X-EPA-Assertion"                           # the header the upstream receives
//! jwks_path = "/.well-known/epa/jwks.json"             # the key page (anonymous, GET/HEAD)
//! default = false                                      # routes without identity_assertion: off
//! [[route]]
//! path = "/app"
//! identity_assertion = true
//! assertion_audience = "other-app"
//! ```
//!
//! Relative key file names are relative to the configuration file.

use crate::proxy_rules::is_tchar;
use epa_core::path::{NormalizedPath, PathError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use thiserror::Error;

/// The default assertion header (the client's copies are removed from every request, whether
/// or not assertions are configured).
pub const DEFAULT_ASSERTION_HEADER: &str = "X-EPA-Assertion";

/// The default key page path.
pub const DEFAULT_JWKS_PATH: &str = "/.well-known/epa/jwks.json";

/// The shortest and longest `lifetime` (seconds): an assertion is a per-login token, not a
/// session; long ones make a stolen header worth stealing.
pub const LIFETIME_RANGE: std::ops::RangeInclusive<u64> = 5..=3600;

/// The `[identity_assertion]` table.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IdentityAssertionTable {
    /// The signing key: PKCS#8 PEM, EC P-256 (ES256) or Ed25519 (EdDSA).
    pub signing_key_file: PathBuf,
    /// Keys published on the key page but never used to sign (the previous key after a
    /// rotation, so assertions minted before it still verify).
    #[serde(default)]
    pub previous_key_files: Vec<PathBuf>,
    /// `iss`.
    pub issuer: String,
    /// `aud` for routes that do not name their own (`assertion_audience`).
    pub audience: String,
    /// Seconds between `iat` and `exp` ([`LIFETIME_RANGE`]).
    #[serde(default = "default_lifetime")]
    pub lifetime: u64,
    /// The request header the assertion is sent in.
    #[serde(default = "default_header")]
    pub header: String,
    /// The key page's path.
    #[serde(default = "default_jwks_path")]
    pub jwks_path: String,
    /// Whether routes that do not say (`[[route]] identity_assertion`) get an assertion; also
    /// the default route's setting (paths no `[[route]]` covers). Default: false.
    #[serde(default)]
    pub default: bool,
}

fn default_lifetime() -> u64 {
    60
}

fn default_header() -> String {
    DEFAULT_ASSERTION_HEADER.into()
}

fn default_jwks_path() -> String {
    DEFAULT_JWKS_PATH.into()
}

/// An `[identity_assertion]` table that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AssertionError {
    /// `lifetime` outside [`LIFETIME_RANGE`].
    #[error("[identity_assertion] lifetime {0} is outside 5..=3600 seconds")]
    Lifetime(u64),
    /// `header` is not a header name (RFC 9110 §5.6.2 token).
    #[error("[identity_assertion] header {0:?} is not a valid header name")]
    HeaderInvalid(String),
    /// `header` is one the proxy owns, or an identity header's name.
    #[error(
        "[identity_assertion] header {0:?} is reserved (framing, routing, credentials or another identity header)"
    )]
    HeaderReserved(String),
    /// `issuer` or `audience` is empty.
    #[error("[identity_assertion] {0} is empty")]
    Empty(&'static str),
    /// `jwks_path` cannot be normalised or is not absolute.
    #[error("[identity_assertion] jwks_path {path:?}: {source}")]
    JwksPath {
        /// The path as written.
        path: String,
        /// Why.
        #[source]
        source: PathError,
    },
    /// A route asks for an assertion (or names an audience) but there is no table.
    #[error(
        "route {0:?} asks for an identity assertion but there is no [identity_assertion] table"
    )]
    NoTable(String),
}

impl IdentityAssertionTable {
    /// Checks the lifetime, issuer, audience, header name (not one of `identity`'s names, in any
    /// spelling) and key page path.
    pub fn validate(
        &self,
        identity: &crate::identity_headers::IdentityHeadersTable,
    ) -> Result<(), AssertionError> {
        if !LIFETIME_RANGE.contains(&self.lifetime) {
            return Err(AssertionError::Lifetime(self.lifetime));
        }
        if self.issuer.is_empty() {
            return Err(AssertionError::Empty("issuer"));
        }
        if self.audience.is_empty() {
            return Err(AssertionError::Empty("audience"));
        }
        let names: Vec<&str> = identity.named().iter().map(|(_, n)| *n).collect();
        check_header(&self.header, &names)?;
        self.normalized_jwks_path()?;
        Ok(())
    }

    /// The key page's path, normalised.
    pub fn normalized_jwks_path(&self) -> Result<NormalizedPath, AssertionError> {
        NormalizedPath::parse(&self.jwks_path).map_err(|source| AssertionError::JwksPath {
            path: self.jwks_path.clone(),
            source,
        })
    }

    /// Every key file: the signing key first, then the previous ones.
    pub fn key_files(&self) -> impl Iterator<Item = &PathBuf> {
        std::iter::once(&self.signing_key_file).chain(&self.previous_key_files)
    }

    /// Makes relative key file names relative to `base`.
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        for p in std::iter::once(&mut self.signing_key_file).chain(&mut self.previous_key_files) {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

/// Checks an assertion header name: a token, not reserved
/// ([`crate::identity_headers::is_reserved_header`]), not one of `identity`, in any spelling
/// (`_` for `-`).
pub fn check_header(name: &str, identity: &[&str]) -> Result<(), AssertionError> {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(AssertionError::HeaderInvalid(name.to_owned()));
    }
    // CGI, WSGI and Rack fold `_` into `-`: `X_Remote_User` is `X-Remote-User` to them.
    if crate::identity_headers::is_reserved_header(name)
        || crate::proxy_rules::underscore_spelling_of_reserved(name, identity)
    {
        return Err(AssertionError::HeaderReserved(name.to_owned()));
    }
    Ok(())
}

/// What one route gets: `None` when no assertion, else the audience.
pub fn route_audience<'a>(
    table: Option<&'a IdentityAssertionTable>,
    route: Option<&'a crate::RouteTable>,
) -> Result<Option<&'a str>, AssertionError> {
    let asks = route.and_then(|r| r.identity_assertion);
    let own_audience = route.and_then(|r| r.assertion_audience.as_deref());
    let Some(table) = table else {
        return match (asks, own_audience, route) {
            (Some(true), _, Some(r)) | (_, Some(_), Some(r)) => {
                Err(AssertionError::NoTable(r.path.clone()))
            }
            _ => Ok(None),
        };
    };
    if asks.unwrap_or(table.default) {
        Ok(Some(own_audience.unwrap_or(&table.audience)))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn table() -> IdentityAssertionTable {
        toml::from_str(
            "signing_key_file = \"k.pem\"\nissuer = \"https://epa\"\naudience = \"app\"\n",
        )
        .unwrap()
    }

    #[test]
    fn defaults_and_checks() {
        let t = table();
        assert_eq!(t.lifetime, 60);
        assert_eq!(t.header, DEFAULT_ASSERTION_HEADER);
        assert_eq!(t.jwks_path, DEFAULT_JWKS_PATH);
        assert!(!t.default);
        assert_eq!(
            t.validate(&crate::identity_headers::IdentityHeadersTable::default()),
            Ok(())
        );
        let with = |f: fn(&mut IdentityAssertionTable)| {
            let mut t = table();
            f(&mut t);
            t.validate(&crate::identity_headers::IdentityHeadersTable::default())
        };
        assert_eq!(with(|t| t.lifetime = 4), Err(AssertionError::Lifetime(4)));
        assert_eq!(
            with(|t| t.lifetime = 3601),
            Err(AssertionError::Lifetime(3601))
        );
        assert_eq!(with(|t| t.lifetime = 3600), Ok(()));
        assert_eq!(
            with(|t| t.issuer.clear()),
            Err(AssertionError::Empty("issuer"))
        );
        assert!(matches!(
            with(|t| t.header = "X Y".into()),
            Err(AssertionError::HeaderInvalid(_))
        ));
        assert!(matches!(
            with(|t| t.header = "authorization".into()),
            Err(AssertionError::HeaderReserved(_))
        ));
        assert!(matches!(
            with(|t| t.header = "x-remote-user".into()),
            Err(AssertionError::HeaderReserved(_))
        ));
        assert!(matches!(
            with(|t| t.header = "X-Real-IP".into()),
            Err(AssertionError::HeaderReserved(_))
        ));
        assert!(matches!(
            with(|t| t.jwks_path = "/a/../../x".into()),
            Err(AssertionError::JwksPath { .. })
        ));
        assert!(
            toml::from_str::<IdentityAssertionTable>(
                "signing_key_file = \"k\"\nissuer = \"i\"\naudience = \"a\"\nlifetim = 5\n"
            )
            .is_err()
        );
        let mut t = table();
        t.previous_key_files = vec!["/etc/old.pem".into()];
        t.resolve_paths(std::path::Path::new("/srv"));
        let files: Vec<_> = t.key_files().cloned().collect();
        assert_eq!(files, [PathBuf::from("/srv/k.pem"), "/etc/old.pem".into()]);
    }

    #[test]
    fn route_audiences() {
        let route = |asks: Option<bool>, aud: Option<&str>| crate::RouteTable {
            identity_assertion: asks,
            assertion_audience: aud.map(Into::into),
            ..toml::from_str("path = \"/x\"").unwrap()
        };
        let t = table();
        assert_eq!(route_audience(Some(&t), None), Ok(None));
        assert_eq!(
            route_audience(Some(&t), Some(&route(Some(true), None))),
            Ok(Some("app"))
        );
        assert_eq!(
            route_audience(Some(&t), Some(&route(Some(true), Some("b")))),
            Ok(Some("b"))
        );
        assert_eq!(route_audience(Some(&t), Some(&route(None, None))), Ok(None));
        let on = IdentityAssertionTable {
            default: true,
            ..t.clone()
        };
        assert_eq!(route_audience(Some(&on), None), Ok(Some("app")));
        assert_eq!(
            route_audience(Some(&on), Some(&route(Some(false), None))),
            Ok(None)
        );
        assert_eq!(route_audience(None, Some(&route(None, None))), Ok(None));
        assert_eq!(
            route_audience(None, Some(&route(Some(false), None))),
            Ok(None)
        );
        assert_eq!(
            route_audience(None, Some(&route(Some(true), None))),
            Err(AssertionError::NoTable("/x".into()))
        );
        assert!(route_audience(None, Some(&route(None, Some("b")))).is_err());
    }
}
