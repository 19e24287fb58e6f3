//! The `Authorization` / `WWW-Authenticate` wire forms of RFC 4559 and their limits.

use crate::authenticator::Scheme;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue, header};
use std::time::Duration;

/// Size, leg and time limits of one exchange.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest `Authorization` header value accepted, in bytes (default 64 KiB: large
    /// Kerberos tickets with many group SIDs exceed http.sys' 16 KiB default).
    pub max_header_bytes: usize,
    /// Most legs one exchange may take (default 4; NTLM takes 2, Kerberos 1–2).
    pub max_legs: u32,
    /// How long a half-finished exchange is kept (default 60 s). A later leg finds it gone and
    /// starts again; a server closes an idle connection whose exchange is older than this.
    pub exchange_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 64 * 1024,
            max_legs: 4,
            exchange_timeout: Duration::from_secs(60),
        }
    }
}

/// What a request's `Authorization` header says, as far as this layer is concerned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Authorization {
    /// No header.
    Absent,
    /// A header that is not ours to read and asks for nothing (another scheme such as Basic,
    /// or one of our schemes without a token): answered with the challenges.
    NotOurs,
    /// A header that breaks the protocol (two headers, over the size limit, not text, bad
    /// base64): 400, as .NET's client-fault class.
    Malformed(Malformed),
    /// A token for one of our schemes.
    Token(Scheme, Vec<u8>),
}

/// Why an `Authorization` header was malformed (logged; never the header itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// More than one `Authorization` header.
    Duplicate,
    /// Longer than [`Limits::max_header_bytes`].
    Oversize,
    /// Not visible ASCII.
    NotText,
    /// The token is not base64.
    Base64,
}

impl Malformed {
    /// A short code for the log.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Duplicate => "duplicate-authorization",
            Self::Oversize => "oversize-authorization",
            Self::NotText => "authorization-not-text",
            Self::Base64 => "token-not-base64",
        }
    }
}

/// Reads the `Authorization` header(s): `offered` are the schemes this layer answers to.
pub(crate) fn authorization(
    headers: &HeaderMap,
    limits: &Limits,
    offered: &[Scheme],
) -> Authorization {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Authorization::Absent;
    };
    if values.next().is_some() {
        return Authorization::Malformed(Malformed::Duplicate);
    }
    if value.len() > limits.max_header_bytes {
        return Authorization::Malformed(Malformed::Oversize);
    }
    let Ok(text) = value.to_str() else {
        return Authorization::Malformed(Malformed::NotText);
    };
    // RFC 9110 §11.4: credentials = auth-scheme [ 1*SP token68 ].
    let text = text.trim();
    let (scheme_name, token_text) = match text.split_once(' ') {
        Some((s, t)) => (s, t.trim()),
        None => (text, ""),
    };
    let Some(scheme) = Scheme::parse(scheme_name).filter(|s| offered.contains(s)) else {
        return Authorization::NotOurs;
    };
    if token_text.is_empty() {
        return Authorization::NotOurs;
    }
    match STANDARD.decode(token_text) {
        Ok(token) => Authorization::Token(scheme, token),
        Err(_) => Authorization::Malformed(Malformed::Base64),
    }
}

/// `WWW-Authenticate: <scheme> <base64 token>` (a continuation, or the mutual-authentication
/// token on a success).
pub(crate) fn challenge_with_token(scheme: Scheme, token: &[u8]) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("{} {}", scheme.name(), STANDARD.encode(token))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(values: &[&str]) -> Authorization {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                header::AUTHORIZATION,
                HeaderValue::from_str(v).unwrap_or_else(|_| HeaderValue::from_static("x")),
            );
        }
        let limits = Limits {
            max_header_bytes: 64,
            ..Limits::default()
        };
        authorization(&h, &limits, &[Scheme::Negotiate, Scheme::Ntlm])
    }

    #[test]
    fn every_form_of_the_header() {
        assert_eq!(read(&[]), Authorization::Absent);
        assert_eq!(read(&["Basic YQ=="]), Authorization::NotOurs);
        assert_eq!(read(&["NTLM"]), Authorization::NotOurs);
        assert_eq!(read(&["ntlm  "]), Authorization::NotOurs);
        assert_eq!(read(&[""]), Authorization::NotOurs);
        assert_eq!(
            read(&["NTLM YQ==", "NTLM YQ=="]),
            Authorization::Malformed(Malformed::Duplicate)
        );
        assert_eq!(
            read(&[&format!("NTLM {}", "A".repeat(100))]),
            Authorization::Malformed(Malformed::Oversize)
        );
        assert_eq!(
            read(&["NTLM !!"]),
            Authorization::Malformed(Malformed::Base64)
        );
        assert_eq!(
            read(&["negotiate YQ=="]),
            Authorization::Token(Scheme::Negotiate, b"a".to_vec())
        );
    }
}
