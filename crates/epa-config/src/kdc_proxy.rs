//! The `[kdc_proxy]` table: `epa serve` answers the Kerberos KDC Proxy Protocol ([MS-KKDCP])
//! on one path, before any authentication, for the listed realms only, forwarding to the listed
//! KDCs only (never a KDC the client names, never a DNS lookup of a realm).
//!
//! ```toml
//! [kdc_proxy]
//! path = "/KdcProxy"            # default (MIT: kdc = https://host/KdcProxy)
//! max_message_bytes = 131072    # request body and KDC reply, each (default 128 KiB)
//! body_timeout = 10             # seconds to read the request body
//! connect_timeout = 3           # seconds per KDC to connect (then the next KDC is tried)
//! reply_timeout = 10            # seconds from the request sent to the KDC's whole reply
//! max_in_flight = 64            # proxied exchanges at once; more get 503
//!
//! [[kdc_proxy.realm]]
//! name = "EXAMPLE.TEST"         # matched ignoring ASCII case, as MS-KKDCP §2.2.2 says
//! kdcs = ["127.0.0.1:88", "kdc2.example.test"]   # HOST[:PORT], port 88 by default; TCP
//! ```
//! [MS-KKDCP]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-kkdcp/

use crate::duration::{DeadlineError, seconds};
use epa_core::path::{NormalizedPath, PathError};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use thiserror::Error;

/// `[kdc_proxy]` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KdcProxyTable {
    /// The path (exact match on the normalised request path, ASCII case ignored; default
    /// `/KdcProxy`).
    pub path: Option<String>,
    /// The largest request body and the largest KDC reply, bytes each (default 131072).
    pub max_message_bytes: Option<usize>,
    /// Deadline to read the request body, seconds (default 10).
    pub body_timeout: Option<f64>,
    /// Deadline to connect to one KDC, seconds (default 3); the next KDC is tried after it.
    pub connect_timeout: Option<f64>,
    /// Deadline from the request sent to the KDC's whole reply, seconds (default 10).
    pub reply_timeout: Option<f64>,
    /// Proxied exchanges at once (default 64); a request past it gets 503 at once.
    pub max_in_flight: Option<usize>,
    /// The realms served, each with its KDCs.
    #[serde(default, rename = "realm")]
    pub realms: Vec<RealmTable>,
}

/// `[[kdc_proxy.realm]]`: one realm and the KDCs its requests go to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RealmTable {
    /// The realm clients send in `target-domain` (compared ignoring ASCII case, [MS-KKDCP]
    /// §2.2.2).
    pub name: String,
    /// `HOST[:PORT]` (port 88 by default; IPv6 in brackets), tried in order, over TCP.
    #[serde(default)]
    pub kdcs: Vec<String>,
}

/// A KDC address as configured: a host (name or IP literal, brackets removed) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdcAddress {
    /// The host name or IP literal.
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

impl std::fmt::Display for KdcAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One served realm, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmSettings {
    /// The realm name.
    pub name: String,
    /// Its KDCs, in order (never empty).
    pub kdcs: Vec<KdcAddress>,
}

/// `[kdc_proxy]`, checked and typed, every default filled in.
#[derive(Debug, Clone)]
pub struct KdcProxySettings {
    /// The normalised path.
    pub path: NormalizedPath,
    /// Request body and KDC reply bound, bytes.
    pub max_message_bytes: usize,
    /// Request body read deadline.
    pub body_timeout: Duration,
    /// Connect deadline, per KDC.
    pub connect_timeout: Duration,
    /// Request sent → whole reply deadline.
    pub reply_timeout: Duration,
    /// Exchanges at once.
    pub max_in_flight: usize,
    /// The realms (names unique, each with a KDC).
    pub realms: Vec<RealmSettings>,
}

impl KdcProxySettings {
    /// `path` when absent: what Windows' KDC proxy (KPSSVC) and FreeIPA serve.
    pub const DEFAULT_PATH: &'static str = "/KdcProxy";
    /// `max_message_bytes` when absent: the Python kdcproxy's `MAX_LENGTH` (128 KiB), room for
    /// a ticket with a large PAC (Windows' MaxTokenSize is at most 65535).
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 128 * 1024;
    /// The smallest `max_message_bytes`: an AS-REQ with pre-authentication is several hundred
    /// bytes, a reply with a ticket more.
    pub const MIN_MAX_MESSAGE_BYTES: usize = 1024;
    /// The largest `max_message_bytes`: 16 MiB (MIT's KDC refuses TCP requests over 1 MiB).
    pub const MAX_MAX_MESSAGE_BYTES: usize = 16 << 20;
    /// `body_timeout` when absent.
    pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
    /// `connect_timeout` when absent (the Python kdcproxy waits 2 s per address).
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
    /// `reply_timeout` when absent (MIT's client gives a KDC 10 s over TCP in all).
    pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(10);
    /// `max_in_flight` when absent.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
}

/// A `[kdc_proxy]` table that cannot be served.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum KdcProxyError {
    /// The path cannot be normalised.
    #[error("[kdc_proxy] path {path:?}: {source}")]
    Path {
        /// The path as written.
        path: String,
        /// Why.
        #[source]
        source: PathError,
    },
    /// A deadline out of range.
    #[error("[kdc_proxy] {0}")]
    Deadline(#[from] DeadlineError),
    /// `max_message_bytes` out of range.
    #[error("[kdc_proxy] max_message_bytes = {0}: give 1024 to 16777216 bytes")]
    MessageBytes(usize),
    /// `max_in_flight = 0`: nothing could be proxied.
    #[error("[kdc_proxy] max_in_flight = 0: nothing could be proxied (remove the table instead)")]
    NoneInFlight,
    /// No `[[kdc_proxy.realm]]`.
    #[error("[kdc_proxy] has no [[kdc_proxy.realm]]: every request would be refused")]
    NoRealm,
    /// A realm with an empty or badly written name.
    #[error(
        "[[kdc_proxy.realm]] name {0:?}: a realm name is non-empty printable ASCII without spaces"
    )]
    RealmName(String),
    /// A realm listed twice (ASCII case ignored).
    #[error("[[kdc_proxy.realm]] {0:?} is listed twice (names are compared ignoring case)")]
    DuplicateRealm(String),
    /// A realm without a KDC.
    #[error("[[kdc_proxy.realm]] {0:?} has no kdcs")]
    NoKdc(String),
    /// A KDC address that cannot be used.
    #[error("[[kdc_proxy.realm]] {realm:?}: kdc {kdc:?}: {why}")]
    Kdc {
        /// The realm.
        realm: String,
        /// The address as written.
        kdc: String,
        /// Why.
        why: &'static str,
    },
}

impl KdcProxyTable {
    /// The path as written, or the default.
    pub fn path_text(&self) -> &str {
        self.path
            .as_deref()
            .unwrap_or(KdcProxySettings::DEFAULT_PATH)
    }

    /// Checks the table and gives the typed settings, defaults filled in.
    pub fn settings(&self) -> Result<KdcProxySettings, KdcProxyError> {
        type S = KdcProxySettings;
        let path =
            NormalizedPath::parse(self.path_text()).map_err(|source| KdcProxyError::Path {
                path: self.path_text().to_owned(),
                source,
            })?;
        let max_message_bytes = self
            .max_message_bytes
            .unwrap_or(S::DEFAULT_MAX_MESSAGE_BYTES);
        if !(S::MIN_MAX_MESSAGE_BYTES..=S::MAX_MAX_MESSAGE_BYTES).contains(&max_message_bytes) {
            return Err(KdcProxyError::MessageBytes(max_message_bytes));
        }
        let deadline = |key, value: Option<f64>, default| match value {
            Some(s) => seconds(key, s),
            None => Ok(default),
        };
        let max_in_flight = self.max_in_flight.unwrap_or(S::DEFAULT_MAX_IN_FLIGHT);
        if max_in_flight == 0 {
            return Err(KdcProxyError::NoneInFlight);
        }
        Ok(KdcProxySettings {
            path,
            max_message_bytes,
            body_timeout: deadline("body_timeout", self.body_timeout, S::DEFAULT_BODY_TIMEOUT)?,
            connect_timeout: deadline(
                "connect_timeout",
                self.connect_timeout,
                S::DEFAULT_CONNECT_TIMEOUT,
            )?,
            reply_timeout: deadline(
                "reply_timeout",
                self.reply_timeout,
                S::DEFAULT_REPLY_TIMEOUT,
            )?,
            max_in_flight,
            realms: self.realms()?,
        })
    }

    /// The realms, checked: names well formed and unique, each with at least one KDC.
    fn realms(&self) -> Result<Vec<RealmSettings>, KdcProxyError> {
        if self.realms.is_empty() {
            return Err(KdcProxyError::NoRealm);
        }
        let mut out: Vec<RealmSettings> = Vec::with_capacity(self.realms.len());
        for r in &self.realms {
            let name = &r.name;
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(KdcProxyError::RealmName(name.clone()));
            }
            if out.iter().any(|o| o.name.eq_ignore_ascii_case(name)) {
                return Err(KdcProxyError::DuplicateRealm(name.clone()));
            }
            if r.kdcs.is_empty() {
                return Err(KdcProxyError::NoKdc(name.clone()));
            }
            let kdcs = r
                .kdcs
                .iter()
                .map(|k| {
                    kdc_address(k).map_err(|why| KdcProxyError::Kdc {
                        realm: name.clone(),
                        kdc: k.clone(),
                        why,
                    })
                })
                .collect::<Result<_, _>>()?;
            out.push(RealmSettings {
                name: name.clone(),
                kdcs,
            });
        }
        Ok(out)
    }
}

/// Parses `HOST[:PORT]` (`[V6]:PORT` for IPv6); no scheme, path or user.
fn kdc_address(text: &str) -> Result<KdcAddress, &'static str> {
    if text.contains("://") || text.contains(['/', '@', ' ', '?', '#']) {
        return Err("give HOST or HOST:PORT (TCP; no scheme, path or user)");
    }
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed '['")?;
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("bad IPv6 literal");
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("junk after ']'")?),
        };
        (h, port)
    } else if text.matches(':').count() > 1 {
        return Err("write an IPv6 address in brackets: [::1]:88");
    } else {
        match text.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err("no host");
    }
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err("bad port"),
            Ok(n) => n,
        },
        None => 88,
    };
    Ok(KdcAddress {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const REALM: &str = "[[realm]]\nname = \"EXAMPLE.TEST\"\nkdcs = [\"127.0.0.1:88\"]\n";

    fn table(text: &str) -> KdcProxyTable {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_are_written_once() {
        let s = table(REALM).settings().unwrap();
        assert_eq!(s.path.as_str(), "/KdcProxy");
        assert_eq!(s.max_message_bytes, 131_072);
        assert_eq!(s.body_timeout, Duration::from_secs(10));
        assert_eq!(s.connect_timeout, Duration::from_secs(3));
        assert_eq!(s.reply_timeout, Duration::from_secs(10));
        assert_eq!(s.max_in_flight, 64);
        assert_eq!(s.realms.len(), 1);
        assert_eq!(
            s.realms[0].kdcs,
            vec![KdcAddress {
                host: "127.0.0.1".into(),
                port: 88
            }]
        );
    }

    #[test]
    fn kdc_addresses() {
        let ok = |t: &str| kdc_address(t).unwrap().to_string();
        assert_eq!(ok("kdc.example.test"), "kdc.example.test:88");
        assert_eq!(ok("10.0.0.1:750"), "10.0.0.1:750");
        assert_eq!(ok("[::1]:88"), "[::1]:88");
        assert_eq!(ok("[::1]"), "[::1]:88");
        for bad in [
            "",
            ":88",
            "kdc:0",
            "kdc:x",
            "kdc:70000",
            "::1",
            "[::1",
            "[nope]:88",
            "[::1]x",
            "tcp://kdc:88",
            "kdc/x",
            "u@kdc",
        ] {
            assert!(kdc_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bad_tables_are_typed_errors() {
        let err = |t: &str| table(t).settings().unwrap_err();
        assert_eq!(err(""), KdcProxyError::NoRealm);
        assert!(matches!(
            err(&format!("path = \"KdcProxy\"\n{REALM}")),
            KdcProxyError::Path { .. }
        ));
        assert_eq!(
            err(&format!("max_message_bytes = 10\n{REALM}")),
            KdcProxyError::MessageBytes(10)
        );
        assert_eq!(
            err(&format!("max_in_flight = 0\n{REALM}")),
            KdcProxyError::NoneInFlight
        );
        assert!(matches!(
            err(&format!("reply_timeout = 0\n{REALM}")),
            KdcProxyError::Deadline(_)
        ));
        assert_eq!(
            err("[[realm]]\nname = \"A\"\n"),
            KdcProxyError::NoKdc("A".into())
        );
        assert_eq!(
            err("[[realm]]\nname = \"A B\"\nkdcs = [\"k\"]\n"),
            KdcProxyError::RealmName("A B".into())
        );
        assert_eq!(
            err(&format!("{REALM}{}", REALM.replace("EXAMPLE", "example"))),
            KdcProxyError::DuplicateRealm("example.TEST".into())
        );
        assert!(matches!(
            err("[[realm]]\nname = \"A\"\nkdcs = [\"k:0\"]\n"),
            KdcProxyError::Kdc { .. }
        ));
        assert!(toml::from_str::<KdcProxyTable>("timeout = 3").is_err());
    }
}
