//! What the proxy lets a client put in a request it forwards, beyond the identity headers:
//! which `Upgrade` protocols (`[upstream]` / `[[route]] upgrade_protocols`), whether header
//! names with `_` pass (`[upstream] allow_underscores_in_headers`, nginx
//! `underscores_in_headers`), and how identity values are spelt (`[identity_headers]
//! encoding`).

use super::proxy::is_reserved_header;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The `Upgrade` protocols forwarded when nothing is configured: WebSocket only (RFC 6455).
pub const DEFAULT_UPGRADE_PROTOCOLS: &[&str] = &["websocket"];

/// Protocols never forwarded in an `Upgrade`, whatever the configuration says. `h2c`
/// (RFC 7540 §3.2) turns the connection into an HTTP/2 channel to the upstream: every later
/// request on it would skip the routes, allow-lists and header stripping (h2c smuggling).
/// `h2` is not an `Upgrade` token at all (RFC 7540 §3.3: TLS ALPN only).
pub const REFUSED_UPGRADE_PROTOCOLS: &[&str] = &["h2c", "h2"];

/// An `upgrade_protocols` entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UpgradeProtocolError {
    /// Not `token ["/" token]` (RFC 9110 §7.8).
    #[error("upgrade protocol {0:?} is not a protocol name (token, optionally /version)")]
    Invalid(String),
    /// `h2c` or `h2`: a channel past every route and header rule.
    #[error(
        "upgrade protocol {0:?} is never forwarded: an HTTP/2 channel to the upstream would skip every route, allow-list and header rule (h2c smuggling)"
    )]
    Refused(String),
}

/// RFC 9110 §5.6.2 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The protocol name of an `Upgrade` token (`websocket` of `WebSocket/13`), lower-cased.
pub fn upgrade_protocol_name(token: &str) -> String {
    token
        .split_once('/')
        .map_or(token, |(name, _)| name)
        .trim()
        .to_ascii_lowercase()
}

/// Checks an `upgrade_protocols` list and returns it lower-cased: each entry a protocol name
/// (RFC 9110 §7.8 `protocol-name`, optionally `/version`), none of
/// [`REFUSED_UPGRADE_PROTOCOLS`].
pub fn check_upgrade_protocols(list: &[String]) -> Result<Vec<String>, UpgradeProtocolError> {
    let mut out = Vec::with_capacity(list.len());
    for entry in list {
        let valid = {
            let mut parts = entry.splitn(2, '/');
            parts.all(|p| !p.is_empty() && p.bytes().all(is_tchar))
        };
        if !valid {
            return Err(UpgradeProtocolError::Invalid(entry.clone()));
        }
        let name = upgrade_protocol_name(entry);
        if REFUSED_UPGRADE_PROTOCOLS.contains(&name.as_str()) {
            return Err(UpgradeProtocolError::Refused(entry.clone()));
        }
        out.push(entry.to_ascii_lowercase());
    }
    Ok(out)
}

/// The default list, as owned strings.
pub fn default_upgrade_protocols() -> Vec<String> {
    DEFAULT_UPGRADE_PROTOCOLS
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// How identity values (user, domain, certificate subject...) are written into headers.
/// HTTP header values are bytes; WSGI (PEP 3333), Node's `http` and most servers read them as
/// ISO-8859-1, so raw UTF-8 (`EPA\josé`) reaches a WSGI application as `EPA\josÃ©`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityEncoding {
    /// The default: every byte of the UTF-8 text at or above 0x80, and `%` itself, written as
    /// `%XX` (RFC 3986 percent-encoding); ASCII names without `%` are unchanged. Headers stay
    /// ASCII; read back with Python `urllib.parse.unquote` (not `unquote_plus`), Node
    /// `decodeURIComponent`, .NET `Uri.UnescapeDataString`, Java
    /// `URLDecoder.decode(s.replace("+", "%2B"), UTF_8)`.
    #[default]
    Percent,
    /// UTF-8 bytes as they are (RFC 9110 `obs-text`): a latin-1 reader must re-encode
    /// (`value.encode("latin-1").decode("utf-8")`, Node
    /// `Buffer.from(v, "latin1").toString("utf8")`).
    Utf8,
}

impl IdentityEncoding {
    /// `text` in this encoding (control characters are the caller's to refuse).
    pub fn encode(self, text: &str) -> std::borrow::Cow<'_, str> {
        use std::fmt::Write as _;
        match self {
            Self::Utf8 => text.into(),
            Self::Percent if text.bytes().all(|b| b.is_ascii() && b != b'%') => text.into(),
            Self::Percent => {
                let mut out = String::with_capacity(text.len() * 3);
                for b in text.bytes() {
                    if b.is_ascii() && b != b'%' {
                        out.push(char::from(b));
                    } else {
                        let _ = write!(out, "%{b:02X}");
                    }
                }
                out.into()
            }
        }
    }
}

/// A request header name as CGI, WSGI, Rack and PHP see it: `_` and `-` are one character
/// there (`HTTP_X_REMOTE_USER`), and case does not matter.
pub fn cgi_folded(name: &str) -> String {
    name.replace('_', "-").to_ascii_lowercase()
}

/// Whether a header name containing `_` is dropped even when
/// `allow_underscores_in_headers = true`: its CGI folding is a reserved, forwarding or
/// identity name (`identity`: the configured identity header names).
pub fn underscore_spelling_of_reserved(name: &str, identity: &[&str]) -> bool {
    let folded = cgi_folded(name);
    is_reserved_header(&folded) || identity.iter().any(|n| n.eq_ignore_ascii_case(&folded))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn upgrade_protocols_refuse_h2c_in_every_spelling() {
        let l = |v: &[&str]| {
            check_upgrade_protocols(&v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        };
        assert_eq!(l(&["WebSocket"]).unwrap(), ["websocket"]);
        assert_eq!(
            l(&["websocket/13", "foo"]).unwrap(),
            ["websocket/13", "foo"]
        );
        for bad in ["h2c", "H2C", "h2c/1", "h2"] {
            assert!(
                matches!(l(&[bad]), Err(UpgradeProtocolError::Refused(_))),
                "{bad}"
            );
        }
        for bad in ["", "a b", "web,socket", "/13", "ws/", "a/b/c"] {
            assert!(
                matches!(l(&[bad]), Err(UpgradeProtocolError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn percent_encoding_leaves_ascii_and_is_reversible() {
        let p = IdentityEncoding::Percent;
        assert_eq!(p.encode("EPA\\alice"), "EPA\\alice");
        assert_eq!(p.encode("EPA\\josé"), "EPA\\jos%C3%A9");
        assert_eq!(p.encode("EPA\\50%"), "EPA\\50%25");
        assert_eq!(p.encode("CN=Ünal Ökten"), "CN=%C3%9Cnal %C3%96kten");
        assert_eq!(IdentityEncoding::Utf8.encode("josé"), "josé");
    }

    #[test]
    fn underscore_spellings_of_reserved_names() {
        let id = ["X-Remote-User", "X-Remote-Groups"];
        for n in [
            "X_Remote_User",
            "x_remote-groups",
            "X_Forwarded_For",
            "X_Real_IP",
            "X_Original_URL",
            "transfer_encoding",
            "content_length",
        ] {
            assert!(underscore_spelling_of_reserved(n, &id), "{n}");
        }
        assert!(!underscore_spelling_of_reserved("X_App_Token", &id));
    }
}
