//! The `[identity_headers]` table: the names of the headers the upstream reads, how their
//! values are written, what happens to the client's forwarding headers, and the header names
//! no identity header may take (the ones the proxy removes or writes itself).
//!
//! ```toml
//! [identity_headers]                 # names; defaults shown by `IdentityHeadersTable::default`
//! user = "X-Remote-User"             # DOMAIN\user, one name per account
//! principal = "X-Remote-Principal"   # user@REALM (Kerberos) or DOMAIN\user (NTLM)
//! binding = "X-EPA-Binding"          # the decision's reason code (binding-verified, ...)
//! forwarded = "replace"              # or "append" (kept only from [listener] trusted_proxies)
//! encoding = "percent"               # non-ASCII as %XX of UTF-8 (default), or "utf8"
//! ```

use crate::proxy_rules::{IdentityEncoding, is_tchar};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How the proxy treats `Forwarded` / `X-Forwarded-*` sent by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedMode {
    /// Drop the client's copies and write our own (epa is the edge; the client's claims are
    /// not evidence). The default.
    #[default]
    Replace,
    /// Keep the client's `Forwarded` / `X-Forwarded-For` (and the other address claims) and
    /// append our element, when the peer is one of `[listener] trusted_proxies` (epa sits
    /// behind another proxy); from any other peer, as `Replace`.
    Append,
}

/// The `[identity_headers]` table: the names of the headers the upstream reads.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityHeadersTable {
    /// `DOMAIN\user`: the NetBIOS domain whichever mechanism logged the account on (a
    /// Kerberos ticket without a PAC: `REALM\user`).
    pub user: String,
    /// The principal as the mechanism wrote it: `DOMAIN\user` (NTLM), `user@REALM`
    /// (Kerberos).
    pub principal: String,
    /// The domain or realm.
    pub domain: String,
    /// `ntlm` or `kerberos`.
    pub mechanism: String,
    /// The service name the decision reported (.NET `ServiceName`); absent when there is none.
    pub service_name: String,
    /// The account's SID (`S-1-5-21-…`), when the backend knows it (winbind, directory lookups).
    pub user_sid: String,
    /// The account's group SIDs, comma-separated, nested membership expanded, when the backend
    /// knows them.
    pub groups: String,
    /// The binding verdict: the decision's reason code (`binding-verified`,
    /// `binding-absent-allowed`, ...), so an upstream that verifies no assertion still sees it.
    pub binding: String,
    /// The client certificate's subject (RFC 4514), only when it is valid.
    pub client_cert_subject: String,
    /// The client certificate's SHA-256 (lower-case hex), only when it is valid.
    pub client_cert_sha256: String,
    /// What to do with the client's `Forwarded` / `X-Forwarded-For`.
    pub forwarded: ForwardedMode,
    /// How non-ASCII identity values are written (default `percent`).
    pub encoding: IdentityEncoding,
}

impl Default for IdentityHeadersTable {
    fn default() -> Self {
        Self {
            user: "X-Remote-User".into(),
            principal: "X-Remote-Principal".into(),
            domain: "X-Remote-Domain".into(),
            mechanism: "X-Auth-Mechanism".into(),
            service_name: "X-EPA-Service-Name".into(),
            user_sid: "X-Remote-User-Sid".into(),
            groups: "X-Remote-Groups".into(),
            binding: "X-EPA-Binding".into(),
            client_cert_subject: "X-Client-Cert-Subject".into(),
            client_cert_sha256: "X-Client-Cert-Sha256".into(),
            forwarded: ForwardedMode::Replace,
            encoding: IdentityEncoding::Percent,
        }
    }
}

/// Header names the identity headers may not take: hop-by-hop, routing and framing headers,
/// credentials, and the forwarding headers the proxy writes. The headers the proxy removes
/// ([`CLIENT_ADDRESS_HEADERS`], [`FORWARDING_CLAIM_HEADERS`], [`PATH_OVERRIDE_HEADERS`]) are
/// reserved too ([`is_reserved_header`]).
pub const RESERVED_HEADER_NAMES: &[&str] = &[
    "authorization",
    "connection",
    "content-length",
    "cookie",
    "forwarded",
    "host",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
];

/// Single-value "the client's address" headers that CDNs and other proxies set (nginx's
/// `X-Real-IP`, Akamai's `True-Client-IP`, Cloudflare's `CF-Connecting-IP`...). A client can
/// send any of them; an application or a logging library that trusts one would take the
/// client's word for its address. With [`ForwardedMode::Replace`] all are removed and
/// `X-Real-IP` is set to the peer's address (the nginx convention); with
/// [`ForwardedMode::Append`] the front proxy's copies are kept as they arrive (it is the one
/// the upstream trusts, as for `X-Forwarded-For`).
pub const CLIENT_ADDRESS_HEADERS: &[&str] = &[
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-cluster-client-ip",
    "x-original-forwarded-for",
];

/// Other forwarding claims (scheme, port, prefix, server) that frameworks read to build
/// absolute URLs or decide "was this HTTPS": removed under [`ForwardedMode::Replace`], like
/// `X-Forwarded-Host` (we write `X-Forwarded-Proto` and `-Host` ourselves).
pub const FORWARDING_CLAIM_HEADERS: &[&str] = &[
    "x-forwarded-port",
    "x-forwarded-scheme",
    "x-forwarded-ssl",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "front-end-https",
    "x-url-scheme",
];

/// Hop-by-hop headers always removed (RFC 9110 §7.6.1, plus the non-standard
/// `Proxy-Connection` and the credentials meant for this hop).
pub const HOP_BY_HOP_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    // RFC 7540 §3.2.1: hop-by-hop, and only meaningful with `Upgrade: h2c`, never forwarded.
    "http2-settings",
];

/// Path overrides (IIS URL Rewrite's `X-Original-URL`, `X-Rewrite-URL`) that some frameworks
/// (Symfony, Zend, Laminas) route by instead of the request line: a client sending
/// `GET /health` (anonymous) with `X-Original-URL: /admin` would reach `/admin` in the
/// application's eyes without `/admin`'s policy. Always removed, in both modes: the path the
/// route table chose is the only one the upstream may see.
pub const PATH_OVERRIDE_HEADERS: &[&str] = &["x-original-url", "x-rewrite-url"];

/// Whether an identity header may not take `name` (ASCII case ignored): one of the
/// [`RESERVED_HEADER_NAMES`] or a header the proxy removes from every request, which would
/// otherwise remove or overwrite the identity header too.
pub fn is_reserved_header(name: &str) -> bool {
    RESERVED_HEADER_NAMES
        .iter()
        .chain(CLIENT_ADDRESS_HEADERS)
        .chain(FORWARDING_CLAIM_HEADERS)
        .chain(PATH_OVERRIDE_HEADERS)
        .any(|r| r.eq_ignore_ascii_case(name))
}

/// An identity header name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderNameError {
    /// Not an RFC 9110 §5.6.2 token.
    #[error("identity header {field}: {name:?} is not a valid header name")]
    Invalid {
        /// The table key.
        field: &'static str,
        /// The name.
        name: String,
    },
    /// A header the proxy itself owns.
    #[error("identity header {field}: {name:?} is reserved (framing, routing or credentials)")]
    Reserved {
        /// The table key.
        field: &'static str,
        /// The name.
        name: String,
    },
    /// Two keys with one name (case-insensitively).
    #[error("identity headers {first} and {second} have the same name {name:?}")]
    Duplicate {
        /// One key.
        first: &'static str,
        /// The other.
        second: &'static str,
        /// The name.
        name: String,
    },
}

impl IdentityHeadersTable {
    /// The names with their table keys, in a fixed order.
    pub fn named(&self) -> [(&'static str, &str); 10] {
        [
            ("user", &self.user),
            ("principal", &self.principal),
            ("domain", &self.domain),
            ("mechanism", &self.mechanism),
            ("service_name", &self.service_name),
            ("user_sid", &self.user_sid),
            ("groups", &self.groups),
            ("binding", &self.binding),
            ("client_cert_subject", &self.client_cert_subject),
            ("client_cert_sha256", &self.client_cert_sha256),
        ]
    }

    /// Checks every name: a token, not reserved, no two equal.
    pub fn validate(&self) -> Result<(), HeaderNameError> {
        let named = self.named();
        for (i, (field, name)) in named.iter().enumerate() {
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(HeaderNameError::Invalid {
                    field,
                    name: (*name).to_owned(),
                });
            }
            if is_reserved_header(name) {
                return Err(HeaderNameError::Reserved {
                    field,
                    name: (*name).to_owned(),
                });
            }
            if let Some((second, _)) = named[..i]
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(name))
            {
                return Err(HeaderNameError::Duplicate {
                    first: second,
                    second: field,
                    name: (*name).to_owned(),
                });
            }
        }
        Ok(())
    }
}
