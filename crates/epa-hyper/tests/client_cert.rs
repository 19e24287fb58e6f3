//! Client certificates: requested in the first handshake under TLS 1.2 and TLS 1.3, judged
//! after it (request) or in it (require), revocation modes, CRL reload, CA-hint limits, the
//! per-route 403.x layer.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use epa_core::client_cert::{
    CaHintSize, CaHints, CertificateStatus, ClientCertificateMode, RevocationMode,
};
use epa_hyper::client_cert::{
    ClientCertError, ClientCertificate, RequireClientCertificateLayer, VerifiedCertificate,
};
use epa_hyper::testing::{TestCa, Validity, insecure_client_config_with_cert};
use epa_hyper::{
    ChannelFacts, ClientCertificateSettings, ClientCertificateVerifier, ConnectionContext,
    TlsAcceptor,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt as _;

type Chain = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("epa-client-cert-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn settings(
    ca: &TestCa,
    mode: ClientCertificateMode,
    revocation: RevocationMode,
    crls: Vec<PathBuf>,
) -> ClientCertificateSettings {
    let mut s = ClientCertificateSettings::new(mode, vec![ca.der()]);
    s.revocation = revocation;
    s.crl_files = crls;
    s
}

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn status(v: &ClientCertificateVerifier, chain: &Chain) -> CertificateStatus {
    v.status_at(Some(&chain.0), UnixTime::now()).status
}

#[test]
fn statuses_under_each_revocation_mode() {
    let dir = temp_dir("modes");
    let ca = TestCa::new("Test CA").unwrap();
    let other_ca = TestCa::new("Other CA").unwrap();
    let valid = ca.issue("alice", 10, Validity::Current).unwrap();
    let revoked = ca.issue("mallory", 11, Validity::Current).unwrap();
    let expired = ca.issue("old", 12, Validity::Expired).unwrap();
    let early = ca.issue("early", 13, Validity::NotYetValid).unwrap();
    let stranger = other_ca.issue("eve", 10, Validity::Current).unwrap();
    let crl = write(&dir, "ca.crl", &ca.crl([11]).unwrap());

    use CertificateStatus::*;
    let table = [
        (
            RevocationMode::Check,
            [Valid, Revoked, Expired, NotYetValid, Untrusted],
        ),
        (
            RevocationMode::AllowUnknown,
            [Valid, Revoked, Expired, NotYetValid, Untrusted],
        ),
        (
            RevocationMode::EndEntityOnly,
            [Valid, Revoked, Expired, NotYetValid, Untrusted],
        ),
        (
            RevocationMode::Off,
            [Valid, Valid, Expired, NotYetValid, Untrusted],
        ),
    ];
    for (mode, want) in table {
        let v = settings(&ca, ClientCertificateMode::Request, mode, vec![crl.clone()])
            .build()
            .unwrap();
        let got = [&valid, &revoked, &expired, &early, &stranger].map(|c| status(&v, c));
        assert_eq!(got, want, "{mode:?}");
        assert_eq!(v.status(None).status, NotPresented);
        assert_eq!(v.status(Some(&[])).status, NotPresented);
    }
}

#[test]
fn a_crl_that_does_not_cover_the_issuer_is_unknown_status() {
    let dir = temp_dir("uncovered");
    let ca_a = TestCa::new("CA A").unwrap();
    let ca_b = TestCa::new("CA B").unwrap();
    let from_b = ca_b.issue("bob", 5, Validity::Current).unwrap();
    let crl_a = write(&dir, "a.crl", &ca_a.crl([99]).unwrap());
    let build = |mode| {
        let mut s = ClientCertificateSettings::new(
            ClientCertificateMode::Request,
            vec![ca_a.der(), ca_b.der()],
        );
        s.revocation = mode;
        s.crl_files = vec![crl_a.clone()];
        s.build().unwrap()
    };
    assert_eq!(
        status(&build(RevocationMode::Check), &from_b),
        CertificateStatus::RevocationUnknown
    );
    assert_eq!(
        status(&build(RevocationMode::EndEntityOnly), &from_b),
        CertificateStatus::RevocationUnknown
    );
    assert_eq!(
        status(&build(RevocationMode::AllowUnknown), &from_b),
        CertificateStatus::Valid
    );
    assert_eq!(
        status(&build(RevocationMode::Off), &from_b),
        CertificateStatus::Valid
    );
}

#[test]
fn crl_replaced_on_disk_takes_effect_and_a_broken_one_keeps_the_old() {
    let dir = temp_dir("reload");
    let ca = TestCa::new("Reload CA").unwrap();
    let alice = ca.issue("alice", 7, Validity::Current).unwrap();
    let crl = write(&dir, "ca.crl", &ca.crl([]).unwrap());
    let v = settings(
        &ca,
        ClientCertificateMode::Request,
        RevocationMode::Check,
        vec![crl.clone()],
    )
    .build()
    .unwrap();
    assert_eq!(status(&v, &alice), CertificateStatus::Valid);
    assert!(!v.reload_crls().unwrap(), "nothing changed");
    // A Valid verdict kept for reuse must not outlive the CRL it was made under.
    assert_eq!(v.status(Some(&alice.0)).status, CertificateStatus::Valid);

    // Replace atomically (as a CRL fetcher would): write elsewhere, rename over.
    let next = write(&dir, "ca.crl.new", &ca.crl([7]).unwrap());
    std::fs::rename(&next, &crl).unwrap();
    assert!(v.reload_crls().unwrap());
    assert_eq!(v.status(Some(&alice.0)).status, CertificateStatus::Revoked);
    assert_eq!(status(&v, &alice), CertificateStatus::Revoked);

    // A broken file: an error naming it, and the previous lists stay in force.
    std::fs::write(&crl, b"not a crl at all").unwrap();
    let err = v.reload_crls().unwrap_err();
    assert!(
        matches!(&err, ClientCertError::BadCrl { path, .. } if path == &crl),
        "{err}"
    );
    assert_eq!(status(&v, &alice), CertificateStatus::Revoked);
}

#[test]
fn crls_reload_by_themselves_after_the_interval() {
    let dir = temp_dir("interval");
    let ca = TestCa::new("Interval CA").unwrap();
    let alice = ca.issue("alice", 7, Validity::Current).unwrap();
    let crl = write(&dir, "ca.crl", &ca.crl([]).unwrap());
    let mut s = settings(
        &ca,
        ClientCertificateMode::Request,
        RevocationMode::Check,
        vec![crl.clone()],
    );
    s.reload_interval = std::time::Duration::from_millis(50);
    let v = s.build().unwrap();
    assert_eq!(status(&v, &alice), CertificateStatus::Valid);
    let next = write(&dir, "ca.crl.new", &ca.crl([7]).unwrap());
    std::fs::rename(&next, &crl).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(80));
    assert_eq!(status(&v, &alice), CertificateStatus::Revoked);
}

#[test]
fn configuration_errors_name_what_is_wrong() {
    let dir = temp_dir("errors");
    let ca = TestCa::new("Err CA").unwrap();
    let no_ca = ClientCertificateSettings::new(ClientCertificateMode::Request, vec![]).build();
    assert!(matches!(no_ca, Err(ClientCertError::NoCa { .. })));
    let ignore = settings(
        &ca,
        ClientCertificateMode::Ignore,
        RevocationMode::Off,
        vec![],
    )
    .build();
    assert!(matches!(ignore, Err(ClientCertError::NothingToVerify)));

    let no_crl = settings(
        &ca,
        ClientCertificateMode::Require,
        RevocationMode::Check,
        vec![],
    )
    .build();
    let e = no_crl.unwrap_err();
    assert!(matches!(
        e,
        ClientCertError::NoCrl {
            mode: RevocationMode::Check
        }
    ));
    assert!(e.to_string().contains("off"), "{e}");
    // Off and allow-unknown need no CRL.
    settings(
        &ca,
        ClientCertificateMode::Require,
        RevocationMode::Off,
        vec![],
    )
    .build()
    .unwrap();
    settings(
        &ca,
        ClientCertificateMode::Require,
        RevocationMode::AllowUnknown,
        vec![],
    )
    .build()
    .unwrap();

    let garbage = write(&dir, "garbage.crl", b"\x30\x03\x02\x01\x00");
    let e = settings(
        &ca,
        ClientCertificateMode::Request,
        RevocationMode::Check,
        vec![garbage.clone()],
    )
    .build()
    .unwrap_err();
    assert!(
        matches!(&e, ClientCertError::BadCrl { path, .. } if path == &garbage),
        "{e}"
    );
    let missing = dir.join("missing.crl");
    let e = settings(
        &ca,
        ClientCertificateMode::Request,
        RevocationMode::Check,
        vec![missing.clone()],
    )
    .build()
    .unwrap_err();
    assert!(
        matches!(&e, ClientCertError::Read { path, .. } if path == &missing),
        "{e}"
    );
    let bad_pem = write(
        &dir,
        "bad.pem",
        b"-----BEGIN X509 CRL-----\n!!!!\n-----END X509 CRL-----\n",
    );
    let e = settings(
        &ca,
        ClientCertificateMode::Request,
        RevocationMode::Check,
        vec![bad_pem],
    )
    .build()
    .unwrap_err();
    assert!(matches!(e, ClientCertError::Pem { .. }), "{e}");

    let mut not_a_cert = ClientCertificateSettings::new(
        ClientCertificateMode::Request,
        vec![CertificateDer::from(vec![1, 2, 3])],
    );
    not_a_cert.revocation = RevocationMode::Off;
    assert!(matches!(
        not_a_cert.build(),
        Err(ClientCertError::BadCa { index: 1, .. })
    ));

    let empty_bundle = write(&dir, "empty.pem", b"just text\n");
    assert!(matches!(
        epa_hyper::client_cert::read_ca_bundle(&empty_bundle),
        Err(ClientCertError::Pem { .. })
    ));
    let bundle = write(&dir, "bundle.pem", ca.pem().as_bytes());
    assert_eq!(
        epa_hyper::client_cert::read_ca_bundle(&bundle).unwrap(),
        vec![ca.der()]
    );

    // A subset of hints larger than TLS can carry.
    let mut s = settings(
        &ca,
        ClientCertificateMode::Request,
        RevocationMode::Off,
        vec![],
    );
    s.hints = CaHints::Subset(vec![vec![0x30; 1000]; 70]);
    assert!(matches!(s.build(), Err(ClientCertError::CaHints(_))));
}

#[test]
fn ca_hints_all_none_and_the_schannel_warning() {
    // 45 CAs with long names: over 16 KiB of hints.
    let cas: Vec<TestCa> = (0..45)
        .map(|i| {
            TestCa::new(&format!(
                "{i:03} {}",
                "Very Long Certification Authority Name For Hint Size ".repeat(7)
            ))
            .unwrap()
        })
        .collect();
    let roots: Vec<_> = cas.iter().map(TestCa::der).collect();
    let mut s = ClientCertificateSettings::new(ClientCertificateMode::Request, roots.clone());
    s.revocation = RevocationMode::Off;
    let all = s.clone().build().unwrap();
    let CaHintSize::OverSchannelLimit { size } = all.hint_size() else {
        panic!("{:?}", all.hint_size())
    };
    assert!(size > 16 * 1024);
    assert_eq!(all.warnings().len(), 1);
    assert!(
        all.warnings()[0].contains(&size.to_string()),
        "{:?}",
        all.warnings()
    );
    use rustls::server::danger::ClientCertVerifier as _;
    assert_eq!(all.root_hint_subjects().len(), 45);

    s.hints = CaHints::None;
    let none = s.build().unwrap();
    assert_eq!(none.hint_size(), CaHintSize::Fine { size: 2 });
    assert!(none.root_hint_subjects().is_empty());
    assert!(none.warnings().is_empty());
}

#[test]
fn the_certificate_is_described() {
    let ca = TestCa::new("Describe CA").unwrap();
    let (chain, _) = ca.issue("carol", 3, Validity::Current).unwrap();
    let c = ClientCertificate::from_chain(&chain[0], &[]).unwrap();
    assert_eq!(c.subject, "CN=carol");
    assert_eq!(c.issuer, "CN=Describe CA");
    assert_eq!(
        c.subject_alt_names,
        vec![
            "DNS:carol.example".to_owned(),
            "email:carol@example.com".to_owned()
        ]
    );
    let want = ring::digest::digest(&ring::digest::SHA256, chain[0].as_ref());
    assert_eq!(c.sha256.as_slice(), want.as_ref());
    assert_eq!(c.fingerprint().len(), 64);
    assert!(ClientCertificate::from_chain(&CertificateDer::from(vec![0x30, 0x00]), &[]).is_none());
}

/// Handshakes over TCP: the facts a connection records, per TLS version and mode.
async fn connect(
    acceptor: Arc<TlsAcceptor>,
    version: &'static rustls::SupportedProtocolVersion,
    client: Option<Chain>,
) -> Result<ChannelFacts, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        acceptor.accept(tcp).await.map_err(|e| e.to_string())
    });
    let config = insecure_client_config_with_cert(&[version], client).unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let client = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await;
    // Under TLS 1.3 the client finishes before the server judges its certificate: read to
    // see the alert.
    if let Ok(mut c) = client {
        use tokio::io::AsyncReadExt as _;
        let mut b = [0u8; 1];
        let _ = tokio::time::timeout(std::time::Duration::from_millis(200), c.read(&mut b)).await;
    }
    server.await.unwrap().map(|(_, f)| f)
}

fn acceptor(verifier: Arc<ClientCertificateVerifier>) -> Arc<TlsAcceptor> {
    let server = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = PrivateKeyDer::try_from(server.signing_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier.clone())
        .with_single_cert(vec![server.cert.der().clone()], key)
        .unwrap();
    Arc::new(TlsAcceptor::with_client_certificates(config, verifier))
}

#[tokio::test]
async fn first_handshake_request_and_require_under_tls12_and_tls13() {
    let dir = temp_dir("handshake");
    let ca = TestCa::new("Handshake CA").unwrap();
    let stranger = TestCa::new("Stranger CA").unwrap();
    let crl = write(&dir, "ca.crl", &ca.crl([66]).unwrap());
    let request = acceptor(
        settings(
            &ca,
            ClientCertificateMode::Request,
            RevocationMode::Check,
            vec![crl.clone()],
        )
        .build()
        .unwrap(),
    );
    let require = acceptor(
        settings(
            &ca,
            ClientCertificateMode::Require,
            RevocationMode::Check,
            vec![crl],
        )
        .build()
        .unwrap(),
    );
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let v = format!("{:?}", version.version);
        // request: every client gets through; the status says what it sent.
        let f = connect(request.clone(), version, None).await.unwrap();
        assert_eq!(f.tls_version, Some(version.version));
        assert_eq!(
            f.client_certificate.as_ref().unwrap().status,
            CertificateStatus::NotPresented,
            "{v}"
        );
        let f = connect(
            request.clone(),
            version,
            Some(ca.issue("alice", 1, Validity::Current).unwrap()),
        )
        .await
        .unwrap();
        let p = f.client_certificate.unwrap();
        assert_eq!(p.status, CertificateStatus::Valid, "{v}");
        assert_eq!(p.certificate.unwrap().subject, "CN=alice");
        let f = connect(
            request.clone(),
            version,
            Some(ca.issue("mallory", 66, Validity::Current).unwrap()),
        )
        .await
        .unwrap();
        assert_eq!(
            f.client_certificate.unwrap().status,
            CertificateStatus::Revoked,
            "{v}"
        );
        let f = connect(
            request.clone(),
            version,
            Some(stranger.issue("eve", 2, Validity::Current).unwrap()),
        )
        .await
        .unwrap();
        assert_eq!(
            f.client_certificate.unwrap().status,
            CertificateStatus::Untrusted,
            "{v}"
        );

        // require: the handshake itself fails without a valid certificate.
        let e = connect(require.clone(), version, None).await.unwrap_err();
        assert!(e.contains("certificate"), "{v}: {e}");
        let e = connect(
            require.clone(),
            version,
            Some(stranger.issue("eve", 2, Validity::Current).unwrap()),
        )
        .await
        .unwrap_err();
        assert!(
            e.contains("UnknownIssuer") || e.contains("issuer"),
            "{v}: {e}"
        );
        let e = connect(
            require.clone(),
            version,
            Some(ca.issue("mallory", 66, Validity::Current).unwrap()),
        )
        .await
        .unwrap_err();
        assert!(e.contains("Revoked"), "{v}: {e}");
        let f = connect(
            require.clone(),
            version,
            Some(ca.issue("alice", 1, Validity::Current).unwrap()),
        )
        .await
        .unwrap();
        assert_eq!(
            f.client_certificate.unwrap().status,
            CertificateStatus::Valid,
            "{v}"
        );
    }
}

#[test]
fn a_client_without_the_key_is_refused_in_request_mode() {
    // The CertificateVerify signature is checked even when the chain is judged later: a
    // certificate sent with someone else's key fails the handshake.
    let ca = TestCa::new("Key CA").unwrap();
    let (chain, _) = ca.issue("alice", 1, Validity::Current).unwrap();
    let (_, other_key) = ca.issue("bob", 2, Validity::Current).unwrap();
    let verifier = settings(
        &ca,
        ClientCertificateMode::Request,
        RevocationMode::Off,
        vec![],
    )
    .build()
    .unwrap();
    let acceptor = acceptor(verifier);
    let rt = tokio::runtime::Runtime::new().unwrap();
    // rustls checks the key matches the certificate when the client config is built, so
    // build it by hand with a resolver that lies.
    #[derive(Debug)]
    struct Lying(Arc<rustls::sign::CertifiedKey>);
    impl rustls::client::ResolvesClientCert for Lying {
        fn resolve(
            &self,
            _: &[&[u8]],
            _: &[rustls::SignatureScheme],
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
        fn has_certs(&self) -> bool {
            true
        }
    }
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider.key_provider.load_private_key(other_key).unwrap();
    let lying = Arc::new(Lying(Arc::new(rustls::sign::CertifiedKey::new(
        chain, signing,
    ))));
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut config = epa_hyper::testing::insecure_client_config(&[version]).unwrap();
        config.client_auth_cert_resolver = lying.clone();
        let result = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let acceptor = acceptor.clone();
            let server = tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                acceptor
                    .accept(tcp)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let _ = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(
                    rustls::pki_types::ServerName::try_from("localhost").unwrap(),
                    tcp,
                )
                .await;
            server.await.unwrap()
        });
        let e = result.unwrap_err();
        assert!(e.contains("signature") || e.contains("Signature"), "{e}");
    }
}

async fn route(facts: ChannelFacts) -> (http::StatusCode, String) {
    let svc = tower::ServiceBuilder::new()
        .layer(RequireClientCertificateLayer::enforced())
        .service_fn(|req: http::Request<String>| async move {
            let cert = req.extensions().get::<VerifiedCertificate>().cloned();
            let body = cert.as_ref().map(|c| c.subject.clone()).unwrap_or_default();
            Ok::<_, std::convert::Infallible>(http::Response::new(body))
        });
    let mut req = http::Request::new(String::new());
    req.extensions_mut().insert(ConnectionContext::new(facts));
    let r = svc.oneshot(req).await.unwrap();
    (r.status(), r.into_body())
}

#[tokio::test]
async fn routes_answer_403_with_the_iis_substatus() {
    let ca = TestCa::new("Route CA").unwrap();
    let v = settings(
        &ca,
        ClientCertificateMode::Request,
        RevocationMode::Off,
        vec![],
    )
    .build()
    .unwrap();
    let peer = "127.0.0.1:1".parse().unwrap();
    let facts_with = |chain: Option<&Chain>| {
        let mut f = ChannelFacts::plain(peer);
        f.client_certificate = Some(v.status(chain.map(|c| c.0.as_slice())));
        f
    };
    let (s, body) = route(facts_with(None)).await;
    assert_eq!(s, 403);
    assert_eq!(
        body,
        "{\"status\":403,\"substatus\":7,\"reason\":\"client-certificate-required\",\"message\":\"client certificate required\"}\n"
    );
    let (s, body) = route(facts_with(Some(
        &ca.issue("old", 4, Validity::Expired).unwrap(),
    )))
    .await;
    assert_eq!(s, 403);
    assert!(body.contains("\"substatus\":17"), "{body}");
    let (s, body) = route(facts_with(Some(
        &TestCa::new("x")
            .unwrap()
            .issue("eve", 4, Validity::Current)
            .unwrap(),
    )))
    .await;
    assert_eq!(s, 403);
    assert!(body.contains("\"substatus\":16"), "{body}");
    let (s, body) = route(facts_with(Some(
        &ca.issue("alice", 4, Validity::Current).unwrap(),
    )))
    .await;
    assert_eq!((s, body.as_str()), (http::StatusCode::OK, "CN=alice"));
    // A listener that never asks: the route refuses as "required".
    let (s, body) = route(ChannelFacts::plain(peer)).await;
    assert_eq!(s, 403);
    assert!(body.contains("\"substatus\":7"), "{body}");
    // Without a ConnectionContext: 500, never a pass.
    let svc = tower::ServiceBuilder::new()
        .layer(RequireClientCertificateLayer::enforced())
        .service_fn(|_: http::Request<String>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::from("reached")))
        });
    let r = svc
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(r.into_body(), "");
}

#[test]
fn a_pem_file_may_hold_several_crls() {
    use base64::Engine as _;
    let dir = temp_dir("pem-crls");
    let (a, b) = (
        TestCa::new("PEM CA A").unwrap(),
        TestCa::new("PEM CA B").unwrap(),
    );
    let pem = |der: Vec<u8>| {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
            lines.join("\n")
        )
    };
    let both = write(
        &dir,
        "both.pem",
        format!("{}{}", pem(a.crl([1]).unwrap()), pem(b.crl([2]).unwrap())).as_bytes(),
    );
    let mut s =
        ClientCertificateSettings::new(ClientCertificateMode::Request, vec![a.der(), b.der()]);
    s.crl_files = vec![both];
    let v = s.build().unwrap();
    assert_eq!(
        status(&v, &a.issue("x", 1, Validity::Current).unwrap()),
        CertificateStatus::Revoked
    );
    assert_eq!(
        status(&v, &b.issue("y", 2, Validity::Current).unwrap()),
        CertificateStatus::Revoked
    );
    assert_eq!(
        status(&v, &b.issue("z", 3, Validity::Current).unwrap()),
        CertificateStatus::Valid
    );
}

/// A route's answer with a verifier's judgement of `chain` (or no certificate).
async fn route_with(
    v: &ClientCertificateVerifier,
    chain: Option<&Chain>,
) -> (http::StatusCode, String) {
    let mut f = ChannelFacts::plain("127.0.0.1:1".parse().unwrap());
    f.client_certificate = Some(v.status(chain.map(|c| c.0.as_slice())));
    route(f).await
}

/// #11 item 4: a CRL past its nextUpdate is not authoritative. Under `check` (and
/// `end-entity-only`) the status is unknown, 403.16 as IIS answers; under `allow-unknown` the
/// certificate it does not list is allowed, and one it lists stays revoked.
#[tokio::test]
async fn an_expired_crl_is_revocation_unknown() {
    let dir = temp_dir("expired-crl");
    let ca = TestCa::new("Stale CA").unwrap();
    let alice = ca.issue("alice", 20, Validity::Current).unwrap();
    let mallory = ca.issue("mallory", 21, Validity::Current).unwrap();
    let stale = write(
        &dir,
        "stale.crl",
        &ca.crl_with([21], 5, (2019, 1, 1), (2020, 1, 1)).unwrap(),
    );
    let build = |mode| {
        settings(
            &ca,
            ClientCertificateMode::Request,
            mode,
            vec![stale.clone()],
        )
        .build()
        .unwrap()
    };
    let check = build(RevocationMode::Check);
    assert_eq!(status(&check, &alice), CertificateStatus::RevocationUnknown);
    let (s, body) = route_with(&check, Some(&alice)).await;
    assert_eq!(s, 403);
    assert!(body.contains("\"substatus\":16"), "{body}");
    assert_eq!(
        status(&build(RevocationMode::EndEntityOnly), &alice),
        CertificateStatus::RevocationUnknown
    );
    let unknown = build(RevocationMode::AllowUnknown);
    assert_eq!(status(&unknown, &alice), CertificateStatus::Valid);
    assert_eq!(
        route_with(&unknown, Some(&alice)).await,
        (http::StatusCode::OK, "CN=alice".to_owned())
    );
    assert_eq!(status(&unknown, &mallory), CertificateStatus::Revoked);
    // The same list before its nextUpdate is authoritative.
    let fresh = write(
        &dir,
        "fresh.crl",
        &ca.crl_with([21], 5, (2019, 1, 1), (2090, 1, 1)).unwrap(),
    );
    let v = settings(
        &ca,
        ClientCertificateMode::Request,
        RevocationMode::Check,
        vec![fresh],
    )
    .build()
    .unwrap();
    assert_eq!(status(&v, &alice), CertificateStatus::Valid);
    assert_eq!(status(&v, &mallory), CertificateStatus::Revoked);
}

/// #11 item 4: a reload never goes back in time. A CRL with a lower CRL number than the one in
/// force is refused (typed error, counted, logged), the newer list stays, the same files are
/// not refused again until they change, and a higher number is taken.
#[tokio::test]
async fn a_reload_with_a_lower_crl_number_keeps_the_newer_list() {
    let dir = temp_dir("older-crl");
    let ca = TestCa::new("Monotonic CA").unwrap();
    let alice = ca.issue("alice", 30, Validity::Current).unwrap();
    let mallory = ca.issue("mallory", 31, Validity::Current).unwrap();
    let crl = write(&dir, "ca.crl", &ca.crl_numbered([31], 7).unwrap());
    let v = settings(
        &ca,
        ClientCertificateMode::Request,
        RevocationMode::Check,
        vec![crl.clone()],
    )
    .build()
    .unwrap();
    assert_eq!(status(&v, &mallory), CertificateStatus::Revoked);
    // An older list (number 6) that does not yet revoke mallory, replayed over the file.
    let older = write(&dir, "ca.crl.old", &ca.crl_numbered([], 6).unwrap());
    std::fs::rename(&older, &crl).unwrap();
    let err = v.reload_crls().unwrap_err();
    assert!(
        matches!(&err, ClientCertError::OlderCrlNumber { path, in_force, offered, .. }
            if path == &crl && in_force == "07" && offered == "06"),
        "{err}"
    );
    assert!(err.to_string().contains("CN=Monotonic CA"), "{err}");
    assert_eq!(status(&v, &mallory), CertificateStatus::Revoked);
    let (s, body) = route_with(&v, Some(&mallory)).await;
    assert_eq!(s, 403);
    assert!(body.contains("\"substatus\":13"), "{body}");
    assert!(
        !v.reload_crls().unwrap(),
        "the refused files are not read again"
    );
    // A newer list is taken (equal numbers are too: a re-issue of the same list).
    let newer = write(&dir, "ca.crl.new", &ca.crl_numbered([30, 31], 8).unwrap());
    std::fs::rename(&newer, &crl).unwrap();
    assert!(v.reload_crls().unwrap());
    assert_eq!(status(&v, &alice), CertificateStatus::Revoked);
}

/// #11 item 9: the requirement scoped to `/cert` catches every spelling of `/cert`, leaves
/// other paths alone, and answers 400 to a path that cannot be normalised.
#[tokio::test]
async fn a_scoped_requirement_matches_the_normalised_path() {
    use epa_core::path::NormalizedPath;
    let call = |path: &'static str| async move {
        let svc = tower::ServiceBuilder::new()
            .layer(
                RequireClientCertificateLayer::enforced()
                    .under([NormalizedPath::parse("/cert").unwrap()]),
            )
            .service_fn(|_: http::Request<String>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(String::from("reached")))
            });
        let mut req = http::Request::builder()
            .uri(path)
            .body(String::new())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectionContext::new(ChannelFacts::plain(
                "127.0.0.1:1".parse().unwrap(),
            )));
        let r = svc.oneshot(req).await.unwrap();
        (r.status(), r.into_body())
    };
    for spelling in [
        "/cert",
        "/cert/x",
        "//cert",
        "/%63ert",
        "/./cert",
        "/x/../cert",
        "/Cert",
        "/cert;a",
        "/x/..;/cert",
        "/CERT/",
    ] {
        let (s, body) = call(spelling).await;
        assert_eq!(s, 403, "{spelling}");
        assert!(body.contains("\"substatus\":7"), "{spelling}: {body}");
    }
    for outside in ["/", "/certificate", "/x/cert", "/cert%3Ba"] {
        assert_eq!(call(outside).await.0, 200, "{outside}");
    }
    for bad in ["/%zz", "/a%2Fb", "/../cert", "/%00", "/%5Ccert", "/%FF"] {
        let (s, body) = call(bad).await;
        assert_eq!(s, 400, "{bad}");
        assert!(body.contains("bad-request-path"), "{bad}: {body}");
    }
}

/// #12: the description read with x509-cert — RFC 4514 names (most significant RDN last,
/// specials escaped), IP and URI SANs, the Microsoft UPN other-name, other other-names.
#[test]
fn names_upn_and_ip_sans_are_described() {
    let mut params = rcgen::CertificateParams::new(vec!["dave.example".to_owned()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Example, Inc.");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "dave");
    params.subject_alt_names.extend([
        rcgen::SanType::IpAddress("192.0.2.7".parse().unwrap()),
        rcgen::SanType::IpAddress("2001:db8::1".parse().unwrap()),
        rcgen::SanType::URI("https://dave.example/".try_into().unwrap()),
        rcgen::SanType::OtherName((
            vec![1, 3, 6, 1, 4, 1, 311, 20, 2, 3],
            rcgen::OtherNameValue::Utf8String("dave@corp.example".into()),
        )),
        rcgen::SanType::OtherName((
            vec![1, 2, 3, 4],
            rcgen::OtherNameValue::Utf8String("x".into()),
        )),
    ]);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let c = ClientCertificate::from_chain(cert.der(), &[]).unwrap();
    assert_eq!(c.subject, "CN=dave,O=Example\\, Inc.");
    assert_eq!(c.issuer, c.subject);
    assert_eq!(
        c.subject_alt_names,
        [
            "DNS:dave.example",
            "IP:192.0.2.7",
            "IP:2001:db8::1",
            "URI:https://dave.example/",
            "UPN:dave@corp.example",
            "OtherName(1.2.3.4, [...])",
        ]
    );
    // Trailing bytes after the certificate: not a certificate.
    let mut trailing = cert.der().to_vec();
    trailing.push(0);
    assert!(ClientCertificate::from_chain(&CertificateDer::from(trailing), &[]).is_none());
}
