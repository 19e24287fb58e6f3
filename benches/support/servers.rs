//! Servers shared by the load benchmarks: the handler, a generated certificate, and the plain
//! hyper + rustls server that is each benchmark's physical limit. (`#[path]`-included.)

use http_body_util::Full;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;

/// The handler every benchmarked server runs.
pub async fn hello(
    _: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Full<bytes::Bytes>>, std::convert::Infallible> {
    Ok(http::Response::new(Full::new(bytes::Bytes::from_static(
        b"hello\n",
    ))))
}

/// A rustls configuration with a fresh self-signed certificate for localhost, and its DER.
pub fn tls_config() -> (rustls::ServerConfig, Vec<u8>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    let der = cert.cert.der().to_vec();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .expect("config");
    (config, der)
}

/// The same hyper + rustls stack without the layer: the limit the layer is measured against.
pub async fn spawn_plain(mut config: rustls::ServerConfig) -> SocketAddr {
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), hyper::service::service_fn(hello))
                        .await;
                }
            });
        }
    });
    addr
}

/// The same server with the Extended Protection layer: [`epa::hyper::TlsAcceptor`] and one
/// security context per connection.
pub async fn spawn_layered(
    config: rustls::ServerConfig,
    layer: epa::hyper::ExtendedProtectionLayer,
) -> SocketAddr {
    let app = tower_layer::Layer::layer(&layer, tower::service_fn(hello));
    let acceptor = Arc::new(epa::hyper::TlsAcceptor::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                if let Ok((tls, facts)) = acceptor.accept(tcp).await {
                    let _ = epa::hyper::serve_connection(tls, facts, app).await;
                }
            });
        }
    });
    addr
}

/// An HTTP/1.1 client connection.
pub type Sender = hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>;

/// A new TLS connection to `addr` (SNI `localhost`) with an HTTP/1.1 client on it.
pub async fn connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Sender {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").expect("name"),
            tcp,
        )
        .await
        .expect("tls");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("http1");
    tokio::spawn(conn);
    sender
}
