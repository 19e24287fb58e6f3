//! The `[listener]` table: where and how the library server (`epa_server::server`) listens,
//! its deadlines (each next to its IIS and nginx counterpart) and its limits.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The `[listener]` table: where and how the library server (`epa_server::server`) listens.
/// Every deadline is in seconds (fractions allowed) and has the default of its IIS / nginx
/// counterpart (see docs/decisions.md, "Serving").
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTable {
    /// HTTPS (default) or HTTP.
    #[serde(default = "https")]
    pub transport: epa_core::decide::Transport,
    /// Whether Negotiate/NTLM runs (default true).
    #[serde(default = "yes")]
    pub negotiate: bool,
    /// Peers trusted as the TLS-terminating proxy.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `TrustedProxy`, beyond IIS: the front proxy's own certificate (PEM or DER). Clients
    /// bind to the certificate they saw, the proxy's; with it pinned, a binding to any other
    /// certificate (a relay's) is refused instead of only the all-zero one.
    pub proxy_certificate_file: Option<std::path::PathBuf>,
    /// The address to listen on (default 127.0.0.1:8443).
    #[serde(default = "default_address")]
    pub address: std::net::SocketAddr,
    /// The server certificate chain (PEM); re-read on SIGHUP or when it changes.
    pub certificate_file: Option<std::path::PathBuf>,
    /// The server certificate's private key (PEM).
    pub key_file: Option<std::path::PathBuf>,
    /// Seconds for the TLS handshake (default 10; nginx `ssl_handshake_timeout` 60 s).
    #[serde(default = "default_handshake")]
    pub tls_handshake_timeout: f64,
    /// Seconds for a request head (default 30; IIS `headerWaitTimeout`, nginx
    /// `client_header_timeout` 60 s).
    #[serde(default = "default_head")]
    pub request_head_timeout: f64,
    /// Seconds an idle keep-alive connection is kept (default 120; IIS `connectionTimeout`,
    /// nginx `keepalive_timeout` 75 s).
    #[serde(default = "default_idle")]
    pub keep_alive_timeout: f64,
    /// Seconds a Negotiate/NTLM exchange may wait for its next leg on an idle connection
    /// (default 60).
    #[serde(default = "default_exchange")]
    pub exchange_timeout: f64,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT (default 30); then the
    /// connections still open are closed.
    #[serde(default = "default_shutdown")]
    pub shutdown_timeout: f64,
    /// Seconds a response may wait between two successful writes to the client (default 60;
    /// nginx `send_timeout` 60 s, IIS `minBytesPerSecond` 240 B/s); then the connection is cut.
    #[serde(default = "default_send")]
    pub send_timeout: f64,
    /// Seconds a request body may pause between two reads while it is forwarded (default 60;
    /// nginx `client_body_timeout` 60 s, http.sys `EntityBody` 120 s); then the upload is cut,
    /// the client answered 408 and the upstream's connection closed, so that a client that
    /// stops sending cannot hold an upstream worker.
    #[serde(default = "default_body")]
    pub body_timeout: f64,
    /// Seconds to read and discard a request body the server answered without reading (a
    /// 401 leg), so that the connection stays open for the next leg (default 10; IIS
    /// `DrainEntityBody`, nginx `lingering_time` 30 s); past it the answer says
    /// `Connection: close`.
    #[serde(default = "default_drain")]
    pub drain_timeout: f64,
    /// Bytes of such a body drained at most (default 4 MiB); a larger body is not read, and the
    /// answer says `Connection: close`.
    #[serde(default = "default_max_drain_bytes")]
    pub max_drain_bytes: u64,
    /// Open connections at most; at the limit the server stops accepting (default 10,000).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Open connections per client address (IPv4-mapped IPv6 folded); none by default.
    pub max_connections_per_address: Option<usize>,
    /// `TCP_NODELAY` on accepted sockets (default true, as nginx `tcp_nodelay on`).
    #[serde(default = "yes")]
    pub tcp_nodelay: bool,
    /// Bytes of a request head at most (default 131,072, above the layer's 64 KiB
    /// `Authorization` limit so that an oversized token gets its 400, not a 431; at least 8,192).
    #[serde(default = "default_header_bytes")]
    pub max_header_bytes: usize,
    /// Header fields of a request at most (default 100).
    #[serde(default = "default_headers")]
    pub max_headers: usize,
    /// Peers (addresses or CIDR ranges) that put a PROXY protocol header (v1 or v2) before
    /// the TLS handshake, and must: an L4 balancer. The client address the header carries is
    /// then the peer for everything (throttle, limits, forwarding headers, metrics
    /// `allow_from`, logs). Empty (the default): off, as nginx without `listen ...
    /// proxy_protocol` and HAProxy without `accept-proxy`.
    #[serde(default)]
    pub proxy_protocol_from: Vec<crate::address_range::AddressRange>,
    /// Seconds for the whole PROXY header from a listed peer (default 5; nginx stream
    /// `proxy_protocol_timeout` 30 s, nginx http `client_header_timeout` 60 s).
    #[serde(default = "default_proxy_protocol")]
    pub proxy_protocol_timeout: f64,
}

fn https() -> epa_core::decide::Transport {
    epa_core::decide::Transport::Https
}

fn yes() -> bool {
    true
}

fn default_address() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 8443))
}
fn default_handshake() -> f64 {
    10.0
}
fn default_head() -> f64 {
    30.0
}
fn default_idle() -> f64 {
    120.0
}
fn default_exchange() -> f64 {
    60.0
}
fn default_shutdown() -> f64 {
    30.0
}
fn default_send() -> f64 {
    60.0
}
fn default_body() -> f64 {
    60.0
}
fn default_drain() -> f64 {
    10.0
}
fn default_max_drain_bytes() -> u64 {
    4 * 1024 * 1024
}
fn default_max_connections() -> usize {
    10_000
}
fn default_header_bytes() -> usize {
    131_072
}
fn default_headers() -> usize {
    100
}
fn default_proxy_protocol() -> f64 {
    5.0
}

impl Default for ListenerTable {
    fn default() -> Self {
        Self {
            transport: https(),
            negotiate: true,
            trusted_proxies: Vec::new(),
            proxy_certificate_file: None,
            address: default_address(),
            certificate_file: None,
            key_file: None,
            tls_handshake_timeout: default_handshake(),
            request_head_timeout: default_head(),
            keep_alive_timeout: default_idle(),
            exchange_timeout: default_exchange(),
            shutdown_timeout: default_shutdown(),
            send_timeout: default_send(),
            body_timeout: default_body(),
            drain_timeout: default_drain(),
            max_drain_bytes: default_max_drain_bytes(),
            max_connections: default_max_connections(),
            max_connections_per_address: None,
            tcp_nodelay: true,
            max_header_bytes: default_header_bytes(),
            max_headers: default_headers(),
            proxy_protocol_from: Vec::new(),
            proxy_protocol_timeout: default_proxy_protocol(),
        }
    }
}

/// A `[listener]` table that cannot run.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ListenerError {
    /// A deadline is not a positive number of seconds of at most a day.
    #[error("[listener] {key} = {value}: a deadline is a number of seconds > 0 and <= 86400")]
    Deadline {
        /// The key.
        key: &'static str,
        /// The value given.
        value: f64,
    },
    /// A `trusted_proxies` address is also a PROXY protocol source. Every connection from a
    /// listed source starts with a PROXY header; the peer is then the client it names, except
    /// for `LOCAL` and `UNKNOWN` headers, where it stays the balancer — so the only connections
    /// the trust would apply to are ones whose client is unknown, and such a client would have
    /// its own `X-Forwarded-For` believed (throttle, smart lockout, forwarding headers).
    #[error(
        "[listener] {0} is in trusted_proxies and in proxy_protocol_from: a connection whose PROXY header says UNKNOWN would be trusted as the proxy itself; an L4 balancer passes TLS through, so remove it from trusted_proxies"
    )]
    ProxyProtocolSourceTrusted(std::net::IpAddr),
    /// A limit is zero.
    #[error("[listener] {key} = 0: the server could never accept a connection")]
    ZeroLimit {
        /// The key.
        key: &'static str,
    },
    /// `max_header_bytes` below hyper's minimum buffer.
    #[error("[listener] max_header_bytes = {0}: at least 8192")]
    HeaderBytes(usize),
    /// Only one of `certificate_file` and `key_file`.
    #[error("[listener] certificate_file and key_file go together")]
    CertificateWithoutKey,
}

/// The listener's deadlines, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// The TLS handshake.
    pub tls_handshake: std::time::Duration,
    /// A request head, from the connection's start or the end of the previous response.
    pub request_head: std::time::Duration,
    /// An idle keep-alive connection.
    pub keep_alive: std::time::Duration,
    /// A pending authentication exchange on an idle connection.
    pub exchange: std::time::Duration,
    /// In-flight requests after a shutdown signal; then the remaining connections are closed.
    pub shutdown: std::time::Duration,
    /// Between two successful writes of a response to the client (nginx `send_timeout`).
    pub send: std::time::Duration,
    /// Reading and discarding an unread request body after a 401 (IIS `DrainEntityBody`).
    pub drain: std::time::Duration,
    /// Between two reads of a request body being forwarded (nginx `client_body_timeout`).
    pub body: std::time::Duration,
}

impl Default for Deadlines {
    /// The defaults of [`ListenerTable`].
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Deadlines {
    /// 10 s handshake, 30 s head, 120 s keep-alive, 60 s exchange, 30 s shutdown, 60 s send,
    /// 10 s drain.
    pub const DEFAULT: Self = Self {
        tls_handshake: std::time::Duration::from_secs(10),
        request_head: std::time::Duration::from_secs(30),
        keep_alive: std::time::Duration::from_secs(120),
        exchange: std::time::Duration::from_secs(60),
        shutdown: std::time::Duration::from_secs(30),
        send: std::time::Duration::from_secs(60),
        drain: std::time::Duration::from_secs(10),
        body: std::time::Duration::from_secs(60),
    };
}

/// Where PROXY protocol headers are read, validated
/// (<https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyProtocol {
    /// The peers that must send one; empty: off.
    pub from: Vec<crate::address_range::AddressRange>,
    /// The deadline for the whole header.
    pub timeout: std::time::Duration,
}

impl ProxyProtocol {
    /// Off: no peer sends a header.
    pub fn off() -> Self {
        Self {
            from: Vec::new(),
            timeout: std::time::Duration::from_secs(5),
        }
    }

    /// Whether `ip` must send a header.
    pub fn expects(&self, ip: std::net::IpAddr) -> bool {
        self.from.iter().any(|r| r.contains(ip))
    }
}

impl ListenerTable {
    /// `proxy_protocol_from` and `proxy_protocol_timeout`, validated.
    pub fn proxy_protocol(&self) -> Result<ProxyProtocol, ListenerError> {
        let timeout =
            crate::duration::seconds("proxy_protocol_timeout", self.proxy_protocol_timeout)
                .map_err(|e| ListenerError::Deadline {
                    key: e.key,
                    value: e.value,
                })?;
        if let Some(both) = self.trusted_proxies.iter().find(|p| {
            let p = p.to_canonical();
            self.proxy_protocol_from.iter().any(|r| r.contains(p))
        }) {
            return Err(ListenerError::ProxyProtocolSourceTrusted(*both));
        }
        Ok(ProxyProtocol {
            from: self.proxy_protocol_from.clone(),
            timeout,
        })
    }

    /// Validates the table: deadlines, limits, the certificate/key pair.
    pub fn validate(&self) -> Result<(), ListenerError> {
        self.deadlines()?;
        self.proxy_protocol()?;
        if self.max_connections == 0 {
            return Err(ListenerError::ZeroLimit {
                key: "max_connections",
            });
        }
        if self.max_connections_per_address == Some(0) {
            return Err(ListenerError::ZeroLimit {
                key: "max_connections_per_address",
            });
        }
        if self.max_headers == 0 {
            return Err(ListenerError::ZeroLimit { key: "max_headers" });
        }
        if self.max_header_bytes < 8192 {
            return Err(ListenerError::HeaderBytes(self.max_header_bytes));
        }
        if self.certificate_file.is_some() != self.key_file.is_some() {
            return Err(ListenerError::CertificateWithoutKey);
        }
        Ok(())
    }

    /// The deadlines as durations, each validated.
    pub fn deadlines(&self) -> Result<Deadlines, ListenerError> {
        let d = |key, value| {
            crate::duration::seconds(key, value).map_err(|e| ListenerError::Deadline {
                key: e.key,
                value: e.value,
            })
        };
        Ok(Deadlines {
            tls_handshake: d("tls_handshake_timeout", self.tls_handshake_timeout)?,
            request_head: d("request_head_timeout", self.request_head_timeout)?,
            keep_alive: d("keep_alive_timeout", self.keep_alive_timeout)?,
            exchange: d("exchange_timeout", self.exchange_timeout)?,
            shutdown: d("shutdown_timeout", self.shutdown_timeout)?,
            send: d("send_timeout", self.send_timeout)?,
            drain: d("drain_timeout", self.drain_timeout)?,
            body: d("body_timeout", self.body_timeout)?,
        })
    }
}
