//! `epa cbt --connect HOST:PORT`: the certificate a live server presents (an IIS server's, a
//! proxy's), fetched with a TLS handshake that accepts any certificate — the command only reads
//! it, to compute the `tls-server-end-point` binding a client would compute. Resolving,
//! connecting and the handshake share one deadline.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why no certificate was fetched.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// `HOST:PORT` is not that shape.
    #[error("{0:?}: expected HOST:PORT (IPv6 as [ADDR]:PORT)")]
    Target(String),
    /// The SNI name is not a DNS name or an IP address.
    #[error("{0:?} is not a server name")]
    ServerName(String),
    /// The name does not resolve.
    #[error("cannot resolve {target}: {source}")]
    Resolve {
        /// What was resolved.
        target: String,
        /// Why.
        source: std::io::Error,
    },
    /// No address accepted the connection.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// The target.
        target: String,
        /// The last error.
        source: std::io::Error,
    },
    /// The deadline passed.
    #[error("no certificate within {0:?} (resolve, connect and TLS handshake)")]
    Timeout(Duration),
    /// The handshake failed.
    #[error("TLS handshake with {peer}: {source}")]
    Tls {
        /// The address.
        peer: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server sent no certificate.
    #[error("{0} sent no certificate")]
    NoCertificate(SocketAddr),
}

/// What the handshake showed.
#[derive(Debug)]
pub struct Fetched {
    /// The address connected to.
    pub peer: SocketAddr,
    /// The name sent as SNI (`None` for an IP address: TLS sends none).
    pub sni: Option<String>,
    /// The negotiated TLS version, e.g. `TLSv1_3`.
    pub protocol: String,
    /// The chain as sent, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
}

/// Splits `HOST:PORT` (`[v6]:PORT`).
fn split(target: &str) -> Result<(&str, u16), ConnectError> {
    let bad = || ConnectError::Target(target.to_owned());
    let (host, port) = target.rsplit_once(':').ok_or_else(bad)?;
    let host = match host.strip_prefix('[') {
        Some(h) => h.strip_suffix(']').ok_or_else(bad)?,
        None if host.contains(':') => return Err(bad()),
        None => host,
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port.parse().map_err(|_| bad())?))
}

/// One deadline shared by resolving, connecting and the handshake.
struct Deadline {
    start: Instant,
    total: Duration,
}

impl Deadline {
    /// The time left, or [`ConnectError::Timeout`] when none is.
    fn left(&self) -> Result<Duration, ConnectError> {
        self.total
            .checked_sub(self.start.elapsed())
            .filter(|d| !d.is_zero())
            .ok_or(ConnectError::Timeout(self.total))
    }
}

/// Connects to `target`, completes a TLS handshake presenting `sni` (default: the host) and
/// returns the server's chain, all within `deadline`.
pub fn fetch(target: &str, sni: Option<&str>, deadline: Duration) -> Result<Fetched, ConnectError> {
    let deadline = Deadline {
        start: Instant::now(),
        total: deadline,
    };
    let (host, port) = split(target)?;
    let name = sni.unwrap_or(host);
    let server_name = ServerName::try_from(name.to_owned())
        .map_err(|_| ConnectError::ServerName(name.to_owned()))?;
    let addrs = resolve(target, host, port, &deadline)?;
    let (mut sock, peer) = connect(target, addrs, &deadline)?;
    let sent_sni = matches!(server_name, ServerName::DnsName(_)).then(|| name.to_owned());
    let mut conn = handshake(&mut sock, peer, server_name, &deadline)?;
    let chain: Vec<_> = conn
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|c| c.clone().into_owned())
        .collect();
    if chain.is_empty() {
        return Err(ConnectError::NoCertificate(peer));
    }
    let protocol = conn
        .protocol_version()
        .map_or_else(|| "unknown".to_owned(), |v| format!("{v:?}"));
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    Ok(Fetched {
        peer,
        sni: sent_sni,
        protocol,
        chain,
    })
}

/// The addresses of `host`. getaddrinfo has no deadline of its own: it is asked on a thread,
/// and the wait stops in time.
fn resolve(
    target: &str,
    host: &str,
    port: u16,
    deadline: &Deadline,
) -> Result<Vec<SocketAddr>, ConnectError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let lookup = (host.to_owned(), port);
    std::thread::spawn(move || {
        let _ = tx.send(lookup.to_socket_addrs().map(Iterator::collect::<Vec<_>>));
    });
    match rx.recv_timeout(deadline.left()?) {
        Ok(r) => r.map_err(|source| ConnectError::Resolve {
            target: target.to_owned(),
            source,
        }),
        Err(_) => Err(ConnectError::Timeout(deadline.total)),
    }
}

/// A TCP connection to the first address of `addrs` that accepts one.
fn connect(
    target: &str,
    addrs: Vec<SocketAddr>,
    deadline: &Deadline,
) -> Result<(TcpStream, SocketAddr), ConnectError> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, deadline.left()?) {
            Ok(s) => return Ok((s, addr)),
            Err(e) => last = e,
        }
    }
    if deadline.start.elapsed() >= deadline.total {
        Err(ConnectError::Timeout(deadline.total))
    } else {
        Err(ConnectError::Connect {
            target: target.to_owned(),
            source: last,
        })
    }
}

/// A completed TLS handshake over `sock` that accepts any certificate ([`AnyCertificate`]).
fn handshake(
    sock: &mut TcpStream,
    peer: SocketAddr,
    server_name: ServerName<'static>,
    deadline: &Deadline,
) -> Result<rustls::ClientConnection, ConnectError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(peer, e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), server_name).map_err(|e| tls(peer, e))?;
    while conn.is_handshaking() {
        let left = deadline.left()?;
        let timeouts = sock
            .set_read_timeout(Some(left))
            .and_then(|()| sock.set_write_timeout(Some(left)));
        let step = timeouts.and_then(|()| conn.complete_io(sock));
        match step {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ConnectError::Timeout(deadline.total));
            }
            Err(source) => return Err(ConnectError::Tls { peer, source }),
        }
    }
    Ok(conn)
}

fn tls(peer: SocketAddr, e: rustls::Error) -> ConnectError {
    ConnectError::Tls {
        peer,
        source: std::io::Error::other(e),
    }
}

/// Accepts any certificate (the command reads it, it does not trust it); handshake
/// signatures are still verified, so the server holds the key of the certificate it showed.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(split("iis.example:443").unwrap(), ("iis.example", 443));
        assert_eq!(split("[::1]:8443").unwrap(), ("::1", 8443));
        for bad in [
            "iis.example",
            "::1:443",
            ":443",
            "[::1:443",
            "h:99999",
            "h:",
        ] {
            assert!(split(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refused_and_deadline() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        assert!(matches!(
            fetch(&addr.to_string(), None, Duration::from_secs(5)),
            Err(ConnectError::Connect { .. })
        ));
        // Accepts and never answers: the deadline ends the handshake.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        let started = Instant::now();
        let r = fetch(
            &addr.to_string(),
            Some("localhost"),
            Duration::from_millis(300),
        );
        assert!(matches!(r, Err(ConnectError::Timeout(_))), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(silent);
    }
}
