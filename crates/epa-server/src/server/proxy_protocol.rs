//! The PROXY protocol header an L4 balancer puts before the TLS handshake
//! (<https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>): version 1 (text, at most
//! 107 bytes, ends at CRLF) and version 2 (binary: a 16-byte fixed part announcing the length
//! of the addresses and TLVs that follow; TLVs are skipped).
//!
//! The reader takes exactly the header's bytes from the socket and nothing of the TLS stream
//! behind it: v2 by its announced length (bounded by [`V2_MAX_PAYLOAD`]), v1 by peeking for
//! the LF and reading up to it (bounded by [`V1_MAX`]). The parsing is the `ppp` crate's.
//! The deadline for the whole header is the caller's (`[listener] proxy_protocol_timeout`).

use std::future::Future;
use std::net::SocketAddr;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The longest v1 header, CRLF included (proxy-protocol.txt §2.1).
pub const V1_MAX: usize = 107;

/// The v2 signature (proxy-protocol.txt §2.2).
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The v2 fixed part: signature, version and command, family and protocol, length.
const V2_FIXED: usize = 16;

/// Bytes of addresses and TLVs a v2 header may announce at most: the addresses take at most
/// 216 (AF_UNIX), the TLVs a balancer sends (AWS NLB's VPC endpoint id, HAProxy's unique id,
/// SSL facts) fit in the rest.
pub const V2_MAX_PAYLOAD: usize = 512;

/// Bytes read before the version is known: the v2 signature's length, less than the shortest
/// v1 header (`PROXY UNKNOWN\r\n`, 15 bytes), so a valid header is never over-read.
const PREFIX: usize = 12;

/// The v1 header's start.
const V1_START: &[u8] = b"PROXY ";

/// The header's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Text.
    V1,
    /// Binary.
    V2,
}

/// What a header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    /// The balancer relays this client's TCP connection (v1 `TCP4`/`TCP6`, v2 `PROXY` over
    /// IPv4/IPv6).
    Client(SocketAddr),
    /// The balancer's own connection, e.g. a health check (v2 `LOCAL`): the TCP peer stays the
    /// peer (proxy-protocol.txt §2.2: "the receiver must ... use the real connection endpoints").
    Local,
    /// The balancer does not know (v1 `UNKNOWN`, v2 `AF_UNSPEC` or `AF_UNIX`): the TCP peer stays
    /// the peer (§2.1: "the receiver must ignore anything presented before the CRLF").
    Unknown,
}

/// A header read from a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// v1 or v2.
    pub version: Version,
    /// What it says.
    pub carried: Carried,
    /// Its length in bytes (all of it was taken from the socket, nothing more).
    pub length: usize,
}

/// A header that cannot be used; the connection is closed. Client text is escaped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProxyHeaderError {
    /// The socket ended or failed before the header was complete.
    #[error(
        "the connection ended after {read} bytes, before the PROXY header was complete: {source}"
    )]
    Truncated {
        /// Bytes read.
        read: usize,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A peer that must send a header sent something else (e.g. a TLS ClientHello).
    #[error("no PROXY header: the connection starts with \"{start}\"")]
    Missing {
        /// The first bytes, escaped.
        start: String,
    },
    /// A v1 header without its LF within 107 bytes.
    #[error("PROXY v1 header without CRLF within {V1_MAX} bytes")]
    V1TooLong,
    /// A v1 header `ppp` refuses.
    // `ppp`'s own text holds a raw CRLF: escaped too.
    #[error("malformed PROXY v1 header \"{text}\": {}", source.to_string().escape_debug())]
    V1 {
        /// The header, escaped.
        text: String,
        /// Why.
        #[source]
        source: ppp::v1::BinaryParseError,
    },
    /// A v2 header announcing more than [`V2_MAX_PAYLOAD`] bytes.
    #[error(
        "PROXY v2 header announces {length} bytes of addresses and TLVs, more than {V2_MAX_PAYLOAD}"
    )]
    V2TooLong {
        /// The announced length.
        length: usize,
    },
    /// A v2 header `ppp` refuses.
    #[error("malformed PROXY v2 header: {}", .0.to_string().escape_debug())]
    V2(#[source] ppp::v2::ParseError),
    /// A v2 `PROXY` header for a datagram (UDP) flow, on a TCP listener.
    #[error("PROXY v2 header for a datagram flow on a stream listener")]
    Datagram,
    /// The header was not complete within the deadline.
    #[error("no complete PROXY header within {0:?}")]
    Timeout(std::time::Duration),
}

impl ProxyHeaderError {
    /// The `result` label of `epa_proxy_protocol_headers_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Truncated { .. } => "truncated",
            Self::Missing { .. } => "missing",
            Self::V1TooLong => "v1-too-long",
            Self::V1 { .. } => "v1-malformed",
            Self::V2TooLong { .. } => "v2-too-long",
            Self::V2(_) => "v2-malformed",
            Self::Datagram => "datagram",
            Self::Timeout(_) => "timeout",
        }
    }
}

/// A socket a header is read from: reads, and peeks without taking.
pub trait HeaderSource: AsyncRead + Unpin + Send {
    /// Waits for bytes and copies the first ones into `buf` without taking them; `Ok(0)` at
    /// the end of the stream.
    fn peek<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = std::io::Result<usize>> + Send + 'a;
}

impl HeaderSource for tokio::net::TcpStream {
    fn peek<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = std::io::Result<usize>> + Send + 'a {
        tokio::net::TcpStream::peek(self, buf)
    }
}

/// Reads exactly `buf`, counting what was there before (`read`) for the error.
async fn fill<S: HeaderSource>(
    source: &mut S,
    buf: &mut [u8],
    read: usize,
) -> Result<(), ProxyHeaderError> {
    source
        .read_exact(buf)
        .await
        .map(drop)
        .map_err(|source| ProxyHeaderError::Truncated { read, source })
}

/// Reads one header (v1 or v2) and nothing after it. No deadline here: the caller's.
pub async fn read_header<S: HeaderSource>(source: &mut S) -> Result<ProxyHeader, ProxyHeaderError> {
    let mut buf = [0u8; V2_FIXED + V2_MAX_PAYLOAD];
    fill(source, &mut buf[..PREFIX], 0).await?;
    if buf[..PREFIX] == V2_SIGNATURE {
        read_v2(source, &mut buf).await
    } else if buf.starts_with(V1_START) {
        read_v1(source, &mut buf[..V1_MAX]).await
    } else {
        Err(ProxyHeaderError::Missing {
            start: buf[..PREFIX].escape_ascii().to_string(),
        })
    }
}

/// The rest of a v2 header: the fixed part's last 4 bytes, then the announced length.
async fn read_v2<S: HeaderSource>(
    source: &mut S,
    buf: &mut [u8; V2_FIXED + V2_MAX_PAYLOAD],
) -> Result<ProxyHeader, ProxyHeaderError> {
    fill(source, &mut buf[PREFIX..V2_FIXED], PREFIX).await?;
    let length = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if length > V2_MAX_PAYLOAD {
        return Err(ProxyHeaderError::V2TooLong { length });
    }
    let end = V2_FIXED + length;
    fill(source, &mut buf[V2_FIXED..end], V2_FIXED).await?;
    let header = ppp::v2::Header::try_from(&buf[..end]).map_err(ProxyHeaderError::V2)?;
    let carried = match (header.command, header.addresses) {
        (ppp::v2::Command::Local, _) => Carried::Local,
        (ppp::v2::Command::Proxy, _) if header.protocol == ppp::v2::Protocol::Datagram => {
            return Err(ProxyHeaderError::Datagram);
        }
        (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv4(a)) => {
            Carried::Client(SocketAddr::from((a.source_address, a.source_port)))
        }
        (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv6(a)) => {
            Carried::Client(SocketAddr::from((a.source_address, a.source_port)))
        }
        (ppp::v2::Command::Proxy, _) => Carried::Unknown,
    };
    Ok(ProxyHeader {
        version: Version::V2,
        carried,
        length: end,
    })
}

/// The rest of a v1 header (its first [`PREFIX`] bytes are in `buf`): peeks for the LF and
/// takes the bytes up to it; bytes peeked without an LF are all header, so they are taken and
/// the next peek waits for more.
async fn read_v1<S: HeaderSource>(
    source: &mut S,
    buf: &mut [u8],
) -> Result<ProxyHeader, ProxyHeaderError> {
    let mut have = PREFIX;
    let end = loop {
        if let Some(i) = buf[..have].iter().position(|b| *b == b'\n') {
            break i + 1;
        }
        if have >= buf.len() {
            return Err(ProxyHeaderError::V1TooLong);
        }
        let peeked = source
            .peek(&mut buf[have..])
            .await
            .map_err(|source| ProxyHeaderError::Truncated { read: have, source })?;
        if peeked == 0 {
            return Err(ProxyHeaderError::Truncated {
                read: have,
                source: std::io::ErrorKind::UnexpectedEof.into(),
            });
        }
        let take = buf[have..have + peeked]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(peeked, |i| i + 1);
        fill(source, &mut buf[have..have + take], have).await?;
        have += take;
    };
    let text = &buf[..end];
    let header = ppp::v1::Header::try_from(text).map_err(|source| ProxyHeaderError::V1 {
        text: text.escape_ascii().to_string(),
        source,
    })?;
    // `ppp` stops at the first CR, and takes an `UNKNOWN` line ending in " \n" without one: a
    // header whose only CR is not right before the LF is refused (found by the fuzz target).
    if header.header.len() != end || !text.ends_with(b"\r\n") {
        return Err(ProxyHeaderError::V1 {
            text: text.escape_ascii().to_string(),
            source: ppp::v1::ParseError::InvalidSuffix.into(),
        });
    }
    let carried = match header.addresses {
        ppp::v1::Addresses::Tcp4(a) => {
            Carried::Client(SocketAddr::from((a.source_address, a.source_port)))
        }
        ppp::v1::Addresses::Tcp6(a) => {
            Carried::Client(SocketAddr::from((a.source_address, a.source_port)))
        }
        ppp::v1::Addresses::Unknown => Carried::Unknown,
    };
    Ok(ProxyHeader {
        version: Version::V1,
        carried,
        length: end,
    })
}

/// Whether a connection's first bytes look like a PROXY header (at least `PROXY` or the v2
/// signature's first 8 bytes, as far as they have arrived): a peer that is not listed sending
/// one is refused with that said, not only as a failed TLS handshake. One peek; `false` when
/// too few bytes are there to tell (the handshake then fails on its own).
pub async fn looks_like_header<S: HeaderSource>(source: &mut S) -> std::io::Result<bool> {
    let mut buf = [0u8; PREFIX];
    let n = source.peek(&mut buf).await?;
    let got = &buf[..n];
    Ok(
        (n >= 5 && V1_START.starts_with(&got[..n.min(V1_START.len())]))
            || (n >= 8 && V2_SIGNATURE.starts_with(got)),
    )
}

/// Bytes in memory handed out at most `chunk` at a time (as a socket hands out segments): the
/// header reader's input in tests and the fuzz target.
#[derive(Debug, Clone)]
pub struct ChunkedBytes {
    data: Vec<u8>,
    taken: usize,
    chunk: usize,
}

impl ChunkedBytes {
    /// `data`, at most `chunk` bytes (at least 1) per read or peek.
    pub fn new(data: Vec<u8>, chunk: usize) -> Self {
        Self {
            data,
            taken: 0,
            chunk: chunk.max(1),
        }
    }

    /// The bytes not taken yet (what the TLS handshake would see).
    pub fn rest(&self) -> &[u8] {
        &self.data[self.taken..]
    }

    fn next_chunk(&self, room: usize) -> &[u8] {
        let n = self.rest().len().min(self.chunk).min(room);
        &self.rest()[..n]
    }
}

impl AsyncRead for ChunkedBytes {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let chunk = self.next_chunk(buf.remaining()).to_vec();
        buf.put_slice(&chunk);
        self.taken += chunk.len();
        std::task::Poll::Ready(Ok(()))
    }
}

impl HeaderSource for ChunkedBytes {
    async fn peek<'a>(&'a mut self, buf: &'a mut [u8]) -> std::io::Result<usize> {
        let chunk = self.next_chunk(buf.len());
        buf[..chunk.len()].copy_from_slice(chunk);
        Ok(chunk.len())
    }
}

#[cfg(test)]
#[path = "proxy_protocol_tests.rs"]
mod tests;
