//! The server's metrics (through the [`metrics`] facade) — names are an interface:
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `epa_connections_open` | gauge | — |
//! | `epa_connections_closed_total` | counter | `reason`: `handshake-timeout`, `handshake-failed`, `head-timeout`, `keep-alive-timeout`, `exchange-timeout`, `send-timeout`, `shutdown`, `shutdown-deadline`, `ended` |
//! | `epa_connections_refused_total` | counter | `reason`: `per-address-limit` |
//! | `epa_accept_errors_total` | counter | `kind`: `too-many-open-files`, `file-table-full`, `connection-aborted`, `out-of-memory`, `other` |
//! | `epa_certificate_reloads_total` | counter | `result`: `ok`, `kept-previous` |

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
            Self::Ended => "ended",
        }
    }
}

pub(crate) fn opened() {
    metrics::gauge!("epa_connections_open").increment(1.0);
}

pub(crate) fn closed(reason: Closed) {
    metrics::gauge!("epa_connections_open").decrement(1.0);
    metrics::counter!("epa_connections_closed_total", "reason" => reason.name()).increment(1);
}

pub(crate) fn refused_per_address() {
    metrics::counter!("epa_connections_refused_total", "reason" => "per-address-limit")
        .increment(1);
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
    metrics::counter!("epa_accept_errors_total", "kind" => kind).increment(1);
}

pub(crate) fn certificate_reload(ok: bool) {
    metrics::counter!("epa_certificate_reloads_total", "result" => if ok { "ok" } else { "kept-previous" })
        .increment(1);
}
