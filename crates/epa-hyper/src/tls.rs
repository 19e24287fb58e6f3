//! TLS glue around tokio-rustls that records, once per connection, the facts Extended
//! Protection needs: the leaf certificate the server actually presented (also when a resolver
//! picks it by SNI), its `tls-server-end-point` binding (cached per certificate), the TLS version,
//! the RFC 9266 exporter value and the ALPN protocol.
//!
//! rustls does not expose the certificate a server connection chose, so the acceptor reads the
//! ClientHello first ([`tokio_rustls::LazyConfigAcceptor`]), asks the configured resolver itself,
//! and completes the handshake with exactly that certificate.
//!
//! ALPN is restricted to `http/1.1`: NTLM and Negotiate authenticate a *connection*, which
//! HTTP/2 multiplexing breaks (RFC 4559 §6; Windows answers HTTP/2 with `HTTP_1_1_REQUIRED`).
//! Offering only `http/1.1` means a client never gets HTTP/2 on this listener.

use crate::authenticator::ExpectedBindings;
use crate::client_cert::ClientCertificateVerifier;
use epa_core::cbt::{self, TLS_EXPORTER_LABEL, TLS_EXPORTER_LEN};
use epa_core::decide::Transport;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::{Arc, Mutex};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

pub use crate::connection::ChannelFacts;

/// A TLS accept that failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The handshake or the socket failed.
    #[error("TLS handshake failed: {0}")]
    Io(#[from] std::io::Error),
    /// The resolver has no certificate for this ClientHello (e.g. unknown SNI).
    #[error("no server certificate for this client hello (SNI {sni:?})")]
    NoCertificate {
        /// The server name the client asked for.
        sni: Option<String>,
    },
    /// The certificate yields no channel binding.
    #[error("server certificate gives no channel binding: {0}")]
    Certificate(#[source] epa_core::cbt::CertificateError),
    /// The resolver gave a certificate chain without a certificate.
    #[error("server certificate chain is empty")]
    EmptyChain,
}

/// Always presents one already-chosen certificate.
#[derive(Debug)]
struct Chosen(Arc<CertifiedKey>);

impl ResolvesServerCert for Chosen {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

struct PerCertificate {
    key: Arc<CertifiedKey>,
    binding: ExpectedBindings,
    config: Arc<ServerConfig>,
}

/// Accepts TLS connections and records their [`ChannelFacts`].
pub struct TlsAcceptor {
    config: ServerConfig,
    resolver: Arc<dyn ResolvesServerCert>,
    client_certificates: Option<Arc<ClientCertificateVerifier>>,
    /// Per certificate: its binding (hashed once) and a configuration that presents exactly it
    /// (built once). A server has a handful of certificates.
    per_certificate: Mutex<Vec<PerCertificate>>,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor").finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// Wraps a rustls server configuration; its ALPN list is replaced by `["http/1.1"]`.
    pub fn new(mut config: ServerConfig) -> Self {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // TLS 1.3 early data is replayable and precedes the handshake's end: never accepted
        // (RFC 8446 §8), whatever the configuration handed in says.
        config.max_early_data_size = 0;
        config.send_half_rtt_data = false;
        let resolver = config.cert_resolver.clone();
        Self {
            config,
            resolver,
            client_certificates: None,
            per_certificate: Mutex::new(Vec::new()),
        }
    }

    /// Like [`Self::new`] for a listener that asks for client certificates in the first
    /// handshake. `config` must have been built with this verifier
    /// (`.with_client_cert_verifier(verifier.clone())`); every connection's
    /// [`ChannelFacts::client_certificate`] is then judged by it right after the handshake.
    pub fn with_client_certificates(
        config: ServerConfig,
        verifier: Arc<ClientCertificateVerifier>,
    ) -> Self {
        let mut acceptor = Self::new(config);
        acceptor.client_certificates = Some(verifier);
        acceptor
    }

    /// The configuration used for handshakes.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Runs the handshake and returns the stream with its facts.
    pub async fn accept(
        &self,
        tcp: TcpStream,
    ) -> Result<(TlsStream<TcpStream>, ChannelFacts), TlsError> {
        let peer = tcp.peer_addr()?;
        let began = std::time::Instant::now();
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp).await?;
        let hello = start.client_hello();
        let sni = hello.server_name().map(str::to_owned);
        let key = self
            .resolver
            .resolve(hello)
            .ok_or(TlsError::NoCertificate { sni })?;
        let (binding, config) = self.for_certificate(&key)?;
        let stream = start.into_stream(config).await?;
        let conn = stream.get_ref().1;
        let mut exporter = [0u8; TLS_EXPORTER_LEN];
        let exporter = conn
            .export_keying_material(&mut exporter, TLS_EXPORTER_LABEL, None)
            .ok()
            .copied();
        let facts = ChannelFacts {
            peer,
            transport: Transport::Https,
            tls_version: conn.protocol_version(),
            server_end_point: Some(binding),
            exporter,
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            client_certificate: self.client_certificates.as_ref().map(|v| {
                let judged = v.status(conn.peer_certificates());
                crate::telemetry::client_certificate(judged.status);
                judged
            }),
        };
        crate::telemetry::tls_handshake(facts.tls_version, began.elapsed());
        Ok((stream, facts))
    }

    fn for_certificate(
        &self,
        key: &Arc<CertifiedKey>,
    ) -> Result<(ExpectedBindings, Arc<ServerConfig>), TlsError> {
        let mut cache = self
            .per_certificate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cache.iter().find(|c| Arc::ptr_eq(&c.key, key)) {
            return Ok((c.binding.clone(), c.config.clone()));
        }
        let leaf = key.cert.first().ok_or(TlsError::EmptyChain)?;
        let ep = cbt::tls_server_end_point(leaf.as_ref()).map_err(TlsError::Certificate)?;
        let binding = ExpectedBindings::new(ep.binding);
        let mut config = self.config.clone();
        config.cert_resolver = Arc::new(Chosen(key.clone()));
        let config = Arc::new(config);
        // A resolver that mints certificates on the fly would grow this without bound; keep the
        // most recent few.
        if cache.len() >= 64 {
            cache.remove(0);
        }
        cache.push(PerCertificate {
            key: key.clone(),
            binding: binding.clone(),
            config: config.clone(),
        });
        Ok((binding, config))
    }
}
