//! The server's metrics ([`epa_hyper::telemetry::metrics`] has the names and the table).

use epa_hyper::telemetry::metrics::{
    ACCEPT_ERRORS_TOTAL, CERTIFICATE_RELOADS_TOTAL, CONNECTIONS_CLOSED_TOTAL, CONNECTIONS_OPEN,
    CONNECTIONS_REFUSED_TOTAL, PROXY_PROTOCOL_HEADERS_TOTAL,
};

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    HandshakeTimeout,
    HandshakeFailed,
    HeadTimeout,
    KeepAliveTimeout,
    ExchangeTimeout,
    /// The client took no bytes of a response for the send deadline.
    SendTimeout,
    Shutdown,
    /// Still open when the shutdown deadline passed: closed hard.
    ShutdownDeadline,
    /// A PROXY protocol header missing, bad or late from a listed peer, or sent by a peer that
    /// is not listed.
    ProxyHeader,
    /// Over `max_connections_per_address` for the client a PROXY header named.
    PerAddressLimit,
    Ended,
}

impl Closed {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::HandshakeTimeout => "handshake-timeout",
            Self::HandshakeFailed => "handshake-failed",
            Self::HeadTimeout => "head-timeout",
            Self::KeepAliveTimeout => "keep-alive-timeout",
            Self::ExchangeTimeout => "exchange-timeout",
            Self::SendTimeout => "send-timeout",
            Self::Shutdown => "shutdown",
            Self::ShutdownDeadline => "shutdown-deadline",
            Self::ProxyHeader => "proxy-header-refused",
            Self::PerAddressLimit => "per-address-limit",
            Self::Ended => "ended",
        }
    }
}

pub(crate) fn opened() {
    metrics::gauge!(CONNECTIONS_OPEN).increment(1.0);
}

pub(crate) fn closed(reason: Closed) {
    metrics::gauge!(CONNECTIONS_OPEN).decrement(1.0);
    metrics::counter!(CONNECTIONS_CLOSED_TOTAL, "reason" => reason.name()).increment(1);
}

pub(crate) fn refused_per_address() {
    metrics::counter!(CONNECTIONS_REFUSED_TOTAL, "reason" => "per-address-limit").increment(1);
}

/// One PROXY protocol header read (`proxied`, `local`, `unknown`) or refused (the error's
/// reason, or `not-allowed` from a peer that is not listed).
pub(crate) fn proxy_header(result: &'static str) {
    metrics::counter!(PROXY_PROTOCOL_HEADERS_TOTAL, "result" => result).increment(1);
}

/// The accept error's kind label.
pub(crate) fn accept_error_kind(e: &std::io::Error) -> &'static str {
    // EMFILE and ENFILE have no stable ErrorKind; their numbers are the same on Linux and the BSDs.
    match (e.kind(), e.raw_os_error()) {
        (std::io::ErrorKind::ConnectionAborted, _) => "connection-aborted",
        (std::io::ErrorKind::OutOfMemory, _) => "out-of-memory",
        (_, Some(24)) => "too-many-open-files",
        (_, Some(23)) => "file-table-full",
        _ => "other",
    }
}

pub(crate) fn accept_error(kind: &'static str) {
    metrics::counter!(ACCEPT_ERRORS_TOTAL, "kind" => kind).increment(1);
}

pub(crate) fn certificate_reload(ok: bool) {
    metrics::counter!(CERTIFICATE_RELOADS_TOTAL, "result" => if ok { "ok" } else { "kept-previous" })
        .increment(1);
}
