//! The `[upstream]` table: where authenticated requests go, as written, and the typed
//! [`UpstreamSettings`] the proxy is built from (every deadline a [`Duration`], every default
//! written once, here).
//!
//! ```toml
//! [upstream]
//! url = "http://127.0.0.1:8080"      # http://HOST:PORT, https://HOST:PORT or unix:/path
//! connect_timeout = 5                # seconds; connect → 504 past the deadline
//! response_timeout = 30              # request sent → response head, else 504
//! read_timeout = 60                  # between two reads of a response (its body too) → cut
//! upgrade_idle_timeout = 300         # a spliced WebSocket idle both ways this long is closed
//! pool_max_idle_per_host = 64        # idle upstream connections kept for reuse
//! pool_idle_timeout = 60             # an idle pooled connection is closed after this long
//! upgrade_protocols = ["websocket"]  # the default; h2c is refused
//! allow_underscores_in_headers = false  # the default: X_Remote_User and friends dropped
//! ```
//! The older millisecond keys (`connect_timeout_ms` …) are still read; `epa lint` warns.

use crate::duration::{DeadlineError, seconds, seconds_or_ms};
use crate::proxy_rules::{UpgradeProtocolError, check_upgrade_protocols};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use thiserror::Error;

/// The `[upstream]` table: where authenticated requests go.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTable {
    /// `http://HOST:PORT`, `https://HOST:PORT` or `unix:/path/to/socket`.
    pub url: String,
    /// Deadline for the TCP/Unix connect, seconds (default 5).
    pub connect_timeout: Option<f64>,
    /// Deadline from sending the request to the response head, seconds (default 30).
    pub response_timeout: Option<f64>,
    /// Deadline between two reads from the upstream once the response head has arrived (its
    /// body), seconds (default 60, nginx `proxy_read_timeout` 60 s); past it the response is
    /// cut and the client's connection closed.
    pub read_timeout: Option<f64>,
    /// An upgraded (WebSocket) connection with no byte either way for this long is closed,
    /// seconds (default 300; nginx's `proxy_read_timeout` is 60 s).
    pub upgrade_idle_timeout: Option<f64>,
    /// Idle upstream connections kept for reuse, per upstream host (default 64).
    pub pool_max_idle_per_host: Option<usize>,
    /// An idle pooled upstream connection is closed after this long, seconds (default 60).
    pub pool_idle_timeout: Option<f64>,
    /// `connect_timeout` in milliseconds: the older spelling (lint: `timeout-in-milliseconds`).
    pub connect_timeout_ms: Option<u64>,
    /// `response_timeout` in milliseconds: the older spelling.
    pub response_timeout_ms: Option<u64>,
    /// `read_timeout` in milliseconds: the older spelling.
    pub read_timeout_ms: Option<u64>,
    /// `upgrade_idle_timeout` in milliseconds: the older spelling.
    pub upgrade_idle_timeout_ms: Option<u64>,
    /// PEM file of the CA that issued an `https://` upstream's certificate (pinned: no system
    /// roots are used).
    pub ca_file: Option<std::path::PathBuf>,
    /// `Upgrade` protocols forwarded on authenticated requests (default `["websocket"]`;
    /// `h2c` and `h2` are refused: [`crate::proxy_rules::REFUSED_UPGRADE_PROTOCOLS`]); a
    /// route's own list replaces it.
    pub upgrade_protocols: Option<Vec<String>>,
    /// Forward request headers whose name contains `_` (default false: dropped, as nginx
    /// `underscores_in_headers off`). Spellings of reserved, forwarding and identity names
    /// (`X_Remote_User`) are dropped even when true.
    #[serde(default)]
    pub allow_underscores_in_headers: bool,
}

/// A parsed upstream address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamTarget {
    /// Plain HTTP to `host:port` (the `Host` authority as written).
    Http {
        /// The host as written (name, IPv4 or bracketed IPv6).
        host: String,
        /// The port (default 80).
        port: u16,
    },
    /// HTTPS to `host:port`.
    Https {
        /// The host as written.
        host: String,
        /// The port (default 443).
        port: u16,
    },
    /// A Unix-domain socket.
    Unix(std::path::PathBuf),
}

/// An `[upstream] url` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("upstream url {url:?}: {why}")]
pub struct UpstreamUrlError {
    /// The url as written.
    pub url: String,
    /// Why.
    pub why: &'static str,
}

impl UpstreamTable {
    /// The checked, lower-cased `upgrade_protocols` (the default when absent).
    pub fn upgrade_protocols(&self) -> Result<Vec<String>, UpgradeProtocolError> {
        self.upgrade_protocols.as_deref().map_or_else(
            || Ok(crate::proxy_rules::default_upgrade_protocols()),
            check_upgrade_protocols,
        )
    }

    /// Parses `url`. Paths, queries, user info and fragments are refused: the proxy forwards
    /// the client's path as it is.
    pub fn target(&self) -> Result<UpstreamTarget, UpstreamUrlError> {
        let err = |why| UpstreamUrlError {
            url: self.url.clone(),
            why,
        };
        if let Some(path) = self.url.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(err(
                    "a unix socket path must be absolute (unix:/run/app.sock)",
                ));
            }
            return Ok(UpstreamTarget::Unix(path.into()));
        }
        let (https, rest) = if let Some(r) = self.url.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = self.url.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(err("the scheme must be http://, https:// or unix:"));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(err("no host"));
        }
        if authority.contains(['/', '?', '#', '@', ' ']) {
            return Err(err(
                "give only scheme://host:port (no path, query, user or fragment)",
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| err("unclosed '['"))?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(err("bad IPv6 literal"));
            }
            (format!("[{h}]"), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(err("no host"));
        }
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| err("bad port"))?,
            None if https => 443,
            None => 80,
        };
        Ok(if https {
            UpstreamTarget::Https { host, port }
        } else {
            UpstreamTarget::Http { host, port }
        })
    }
}

impl UpstreamTarget {
    /// Whether the address is loopback (`localhost`, `127.0.0.0/8`, `::1`) or a Unix socket:
    /// the only places identity headers may travel in clear.
    pub fn is_local(&self) -> bool {
        let host = match self {
            Self::Unix(_) => return true,
            Self::Http { host, .. } | Self::Https { host, .. } => host,
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
            return ip.is_loopback();
        }
        bare.eq_ignore_ascii_case("localhost")
    }
}

/// The `[upstream]` table, checked and typed: what the proxy's pool is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamSettings {
    /// Where requests go.
    pub target: UpstreamTarget,
    /// The pinned CA bundle of an `https://` upstream.
    pub ca_file: Option<std::path::PathBuf>,
    /// Connect deadline.
    pub connect_timeout: Duration,
    /// Request sent → response head deadline.
    pub response_timeout: Duration,
    /// Deadline between two reads of a response body.
    pub read_timeout: Duration,
    /// Idle deadline of a spliced (upgraded) connection, both ways.
    pub upgrade_idle_timeout: Duration,
    /// The connection pool.
    pub pool: PoolSettings,
    /// The `Upgrade` protocols forwarded (lower-cased, checked).
    pub upgrade_protocols: Vec<String>,
    /// Whether request headers with `_` in their name are forwarded.
    pub allow_underscores_in_headers: bool,
}

/// The upstream connection pool's sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Idle connections kept per host.
    pub max_idle_per_host: usize,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
}

impl UpstreamSettings {
    /// `connect_timeout` when absent (nginx `proxy_connect_timeout` 60 s; ARR 30 s).
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// `response_timeout` when absent.
    pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
    /// `read_timeout` when absent (nginx `proxy_read_timeout` 60 s).
    pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
    /// `upgrade_idle_timeout` when absent.
    pub const DEFAULT_UPGRADE_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
}

impl PoolSettings {
    /// The pool when `[upstream]` says nothing: 64 idle connections per host, 60 s each
    /// (hyper-util's own default keeps an unbounded number for 90 s).
    pub const DEFAULT: Self = Self {
        max_idle_per_host: 64,
        idle_timeout: Duration::from_secs(60),
    };
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// An `[upstream]` table that cannot be used.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum UpstreamSettingsError {
    /// The url.
    #[error(transparent)]
    Url(#[from] UpstreamUrlError),
    /// A deadline (or one given both in seconds and in milliseconds).
    #[error("[upstream] {0}")]
    Deadline(#[from] DeadlineError),
    /// The upgrade list.
    #[error(transparent)]
    Upgrade(#[from] UpgradeProtocolError),
}

impl UpstreamTable {
    /// The keys given in milliseconds (the older spelling), for the lint.
    pub fn millisecond_keys(&self) -> Vec<&'static str> {
        [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("response_timeout_ms", self.response_timeout_ms),
            ("read_timeout_ms", self.read_timeout_ms),
            ("upgrade_idle_timeout_ms", self.upgrade_idle_timeout_ms),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|_| k))
        .collect()
    }

    /// Checks the table and gives the typed settings, defaults filled in.
    pub fn settings(&self) -> Result<UpstreamSettings, UpstreamSettingsError> {
        type S = UpstreamSettings;
        Ok(UpstreamSettings {
            target: self.target()?,
            ca_file: self.ca_file.clone(),
            connect_timeout: seconds_or_ms(
                "connect_timeout",
                self.connect_timeout,
                "connect_timeout_ms",
                self.connect_timeout_ms,
                S::DEFAULT_CONNECT_TIMEOUT,
            )?,
            response_timeout: seconds_or_ms(
                "response_timeout",
                self.response_timeout,
                "response_timeout_ms",
                self.response_timeout_ms,
                S::DEFAULT_RESPONSE_TIMEOUT,
            )?,
            read_timeout: seconds_or_ms(
                "read_timeout",
                self.read_timeout,
                "read_timeout_ms",
                self.read_timeout_ms,
                S::DEFAULT_READ_TIMEOUT,
            )?,
            upgrade_idle_timeout: seconds_or_ms(
                "upgrade_idle_timeout",
                self.upgrade_idle_timeout,
                "upgrade_idle_timeout_ms",
                self.upgrade_idle_timeout_ms,
                S::DEFAULT_UPGRADE_IDLE_TIMEOUT,
            )?,
            pool: PoolSettings {
                max_idle_per_host: self
                    .pool_max_idle_per_host
                    .unwrap_or(PoolSettings::DEFAULT.max_idle_per_host),
                idle_timeout: match self.pool_idle_timeout {
                    Some(s) => seconds("pool_idle_timeout", s)?,
                    None => PoolSettings::DEFAULT.idle_timeout,
                },
            },
            upgrade_protocols: self.upgrade_protocols()?,
            allow_underscores_in_headers: self.allow_underscores_in_headers,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn table(text: &str) -> UpstreamTable {
        toml::from_str(&format!("url = \"http://127.0.0.1:8080\"\n{text}")).unwrap()
    }

    #[test]
    fn defaults_are_written_once() {
        let s = table("").settings().unwrap();
        assert_eq!(s.connect_timeout, Duration::from_secs(5));
        assert_eq!(s.response_timeout, Duration::from_secs(30));
        assert_eq!(s.read_timeout, Duration::from_secs(60));
        assert_eq!(s.upgrade_idle_timeout, Duration::from_secs(300));
        assert_eq!(s.pool, PoolSettings::DEFAULT);
        assert_eq!(s.upgrade_protocols, vec!["websocket".to_owned()]);
        assert!(table("").millisecond_keys().is_empty());
    }

    #[test]
    fn seconds_and_the_millisecond_aliases() {
        let s = table("connect_timeout = 0.25\nread_timeout_ms = 1500\npool_max_idle_per_host = 0\npool_idle_timeout = 5")
            .settings()
            .unwrap();
        assert_eq!(s.connect_timeout, Duration::from_millis(250));
        assert_eq!(s.read_timeout, Duration::from_millis(1500));
        assert_eq!(s.pool.max_idle_per_host, 0);
        assert_eq!(s.pool.idle_timeout, Duration::from_secs(5));
        assert_eq!(
            table("read_timeout_ms = 1500").millisecond_keys(),
            vec!["read_timeout_ms"]
        );
        for bad in [
            "connect_timeout = 0",
            "response_timeout = -1",
            "read_timeout = 1e9",
            "upgrade_idle_timeout_ms = 0",
            "connect_timeout = 5\nconnect_timeout_ms = 5000",
            "pool_idle_timeout = 0",
        ] {
            assert!(
                matches!(
                    table(bad).settings(),
                    Err(UpstreamSettingsError::Deadline(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            table("upgrade_protocols = [\"h2c\"]").settings(),
            Err(UpstreamSettingsError::Upgrade(_))
        ));
    }
}
