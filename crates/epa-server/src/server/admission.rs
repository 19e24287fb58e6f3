//! Between accept and the TLS handshake: who the peer is. A peer in `[listener]
//! proxy_protocol_from` must start with a PROXY protocol header, read under
//! `proxy_protocol_timeout`; the client address it carries is then the peer for everything
//! after (the channel facts: throttle, forwarding headers, metrics `allow_from`, logs, audit),
//! and the per-address place is taken for that client, not for the balancer (whose address
//! every client shares). A peer that is not listed and sends a header anyway is refused, said
//! as such (else it would only be a failed TLS handshake).

use super::ConnectionOptions;
use super::events::{self, Closed};
use super::hold::ConnectionHold;
use super::listener::{AddressSlot, PerAddress};
use super::proxy_protocol::{self, Carried, ProxyHeaderError};
use super::shutdown::Shutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

/// What the accept loop hands a connection: its place under `max_connections`, and its
/// per-address place — taken at accept for the TCP peer, or, for a peer that sends a PROXY
/// header, taken here for the client the header names (`per_address`).
pub(crate) struct Admission {
    pub(crate) permit: OwnedSemaphorePermit,
    pub(crate) slot: Option<AddressSlot>,
    pub(crate) per_address: Option<(Arc<PerAddress>, usize)>,
}

/// A connection let in: its peer (the client), the balancer it came through, its places.
pub(crate) struct Admitted {
    pub(crate) peer: SocketAddr,
    pub(crate) via: Option<SocketAddr>,
    pub(crate) hold: ConnectionHold,
    /// When the TLS handshake's deadline starts: after the PROXY header, or at accept.
    pub(crate) handshake_since: tokio::time::Instant,
}

/// Reads the PROXY header when `tcp_peer` must send one, checks that a peer that must not
/// does not, and takes the client's per-address place.
pub(crate) async fn admit(
    tcp: &mut TcpStream,
    tcp_peer: SocketAddr,
    options: &ConnectionOptions,
    shutdown: Shutdown,
    admission: Admission,
    tls: bool,
) -> Result<Admitted, Closed> {
    let accepted = tokio::time::Instant::now();
    let (peer, via) = if options.proxy_protocol.expects(tcp_peer.ip()) {
        let peer = header(tcp, tcp_peer, options).await?;
        (peer, Some(tcp_peer))
    } else {
        if tls {
            refuse_unlisted_header(tcp, tcp_peer, options).await?;
        }
        (tcp_peer, None)
    };
    let slot = match admission.per_address {
        None => admission.slot,
        Some((map, limit)) => match map.take(peer.ip().to_canonical(), limit) {
            Some(slot) => Some(slot),
            None => {
                events::refused_per_address();
                tracing::debug!(target: "epa", %peer, via = %tcp_peer, "per-address connection limit reached");
                return Err(Closed::PerAddressLimit);
            }
        },
    };
    Ok(Admitted {
        peer,
        via,
        hold: ConnectionHold::new(admission.permit, slot, shutdown),
        handshake_since: if via.is_some() {
            tokio::time::Instant::now()
        } else {
            accepted
        },
    })
}

/// The header of a listed peer: the client it names, or the peer itself for `LOCAL` and
/// `UNKNOWN`; logged and counted either way.
async fn header(
    tcp: &mut TcpStream,
    tcp_peer: SocketAddr,
    options: &ConnectionOptions,
) -> Result<SocketAddr, Closed> {
    let deadline = options.proxy_protocol.timeout;
    let read = tokio::time::timeout(deadline, proxy_protocol::read_header(tcp))
        .await
        .unwrap_or(Err(ProxyHeaderError::Timeout(deadline)));
    match read {
        Ok(h) => {
            let (result, peer) = match h.carried {
                Carried::Client(client) => ("proxied", client),
                Carried::Local => ("local", tcp_peer),
                Carried::Unknown => ("unknown", tcp_peer),
            };
            events::proxy_header(result);
            tracing::debug!(target: "epa", peer = %peer, via = %tcp_peer, version = ?h.version, result, "PROXY protocol header read");
            Ok(peer)
        }
        Err(e) => {
            events::proxy_header(e.reason());
            tracing::info!(target: "epa", via = %tcp_peer, reason = e.reason(), "PROXY protocol header refused from a peer in proxy_protocol_from: {e}");
            Err(Closed::ProxyHeader)
        }
    }
}

/// A peer that is not listed but starts with a PROXY header: refused, and said so.
async fn refuse_unlisted_header(
    tcp: &mut TcpStream,
    tcp_peer: SocketAddr,
    options: &ConnectionOptions,
) -> Result<(), Closed> {
    // Within the handshake's deadline, which starts at accept.
    let peeked = tokio::time::timeout(
        options.deadlines.tls_handshake,
        proxy_protocol::looks_like_header(tcp),
    )
    .await;
    match peeked {
        Err(_) => Err(Closed::HandshakeTimeout),
        // The handshake meets the same error and ends the connection.
        Ok(Err(_)) | Ok(Ok(false)) => Ok(()),
        Ok(Ok(true)) => {
            events::proxy_header("not-allowed");
            tracing::info!(target: "epa", peer = %tcp_peer, reason = "proxy-header-not-allowed", "a PROXY protocol header from a peer not in [listener] proxy_protocol_from: refused (list the balancer's address to accept its headers)");
            Err(Closed::ProxyHeader)
        }
    }
}
