//! The TLS glue records the certificate the server actually presented — also when a resolver
//! picks it by SNI — the TLS version, and the RFC 9266 exporter (equal to the client's).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use epa_hyper::TlsAcceptor;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::Arc;

#[derive(Debug)]
struct BySni {
    a: Arc<CertifiedKey>,
    b: Arc<CertifiedKey>,
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match hello.server_name() {
            Some("a.test") => Some(self.a.clone()),
            Some("b.test") => Some(self.b.clone()),
            _ => None,
        }
    }
}

fn certified(name: &str) -> (Arc<CertifiedKey>, Vec<u8>) {
    let c = rcgen::generate_simple_self_signed(vec![name.into()]).unwrap();
    let der = c.cert.der().to_vec();
    let key = rustls::pki_types::PrivateKeyDer::try_from(c.signing_key.serialize_der()).unwrap();
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider.key_provider.load_private_key(key).unwrap();
    (
        Arc::new(CertifiedKey::new(vec![c.cert.der().clone()], signing)),
        der,
    )
}

async fn handshake(
    acceptor: Arc<TlsAcceptor>,
    sni: &str,
    version: &'static rustls::SupportedProtocolVersion,
) -> (epa_hyper::ChannelFacts, [u8; 32], Vec<u8>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (stream, facts) = acceptor.accept(tcp).await.unwrap();
        drop(stream);
        facts
    });
    let config = epa_hyper::testing::insecure_client_config(&[version]).unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from(sni.to_owned()).unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let conn = tls.get_ref().1;
    let mut exporter = [0u8; 32];
    conn.export_keying_material(&mut exporter, b"EXPORTER-Channel-Binding", None)
        .unwrap();
    let presented = conn.peer_certificates().unwrap()[0].to_vec();
    (server.await.unwrap(), exporter, presented)
}

#[tokio::test]
async fn facts_name_the_certificate_the_sni_resolver_chose() {
    let (a, a_der) = certified("a.test");
    let (b, b_der) = certified("b.test");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(BySni { a, b }));
    let acceptor = Arc::new(TlsAcceptor::new(config));
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        for (sni, der) in [("a.test", &a_der), ("b.test", &b_der), ("a.test", &a_der)] {
            let (facts, client_exporter, presented) =
                handshake(acceptor.clone(), sni, version).await;
            assert_eq!(
                &presented, der,
                "{sni}: the server presented the resolver's choice"
            );
            let expected = epa_core::tls_server_end_point(der).unwrap().binding;
            assert!(
                facts
                    .server_end_point
                    .as_ref()
                    .unwrap()
                    .binding()
                    .ct_eq(&expected),
                "{sni}"
            );
            assert_eq!(facts.tls_version, Some(version.version));
            assert_eq!(
                facts.exporter,
                Some(client_exporter),
                "RFC 9266 exporter equals the client's"
            );
            assert_eq!(facts.alpn.as_deref(), Some(&b"http/1.1"[..]));
        }
    }
    // Unknown SNI: the resolver has nothing, the accept fails with a typed error.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(async move {
        let config = epa_hyper::testing::insecure_client_config(rustls::DEFAULT_VERSIONS).unwrap();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(
                rustls::pki_types::ServerName::try_from("c.test").unwrap(),
                tcp,
            )
            .await;
    });
    let (tcp, _) = listener.accept().await.unwrap();
    let err = acceptor.accept(tcp).await.unwrap_err();
    assert!(
        matches!(err, epa_hyper::TlsError::NoCertificate { sni: Some(ref s) } if s == "c.test"),
        "{err}"
    );
    let _ = client.await;
}

#[test]
fn early_data_is_off_whatever_the_configuration_says() {
    let (a, _) = certified("a.test");
    let (b, _) = certified("b.test");
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(BySni { a, b }));
    config.max_early_data_size = 16 * 1024;
    config.send_half_rtt_data = true;
    let acceptor = TlsAcceptor::new(config);
    assert_eq!(acceptor.config().max_early_data_size, 0);
    assert!(!acceptor.config().send_half_rtt_data);
}
