//! End to end: the example server (`examples/server/`: the `epa_server` runtime with its own handler) run as a process, real TLS, and clients
//! nobody here wrote — Python `requests` + `requests-ntlm` (sends the channel binding) and curl
//! `--ntlm` (sends none) — plus a live relay: a TLS-terminating man in the middle with its own
//! certificate that forwards the NTLM exchange to the server.
//!
//! Needs the Python venv and curl that `./scripts/test` installs (`target/pyenv`, or
//! `EPA_TEST_PYTHON`). Every server and relay is started and stopped by the test itself, on
//! 127.0.0.1 only.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::net::SocketAddr;
use std::sync::Arc;
use support::*;

// ---------------------------------------------------------------------------------------------

#[test]
fn requests_ntlm_with_binding_gets_200_under_always() {
    let s = Server::start(&["--enforcement", "always"]);
    let (status, body) = requests_ntlm(&s.url("localhost"), "TESTDOM\\alice", "userpw", true);
    assert_eq!(status, 200, "{}", s.log());
    assert!(body.contains("hello TESTDOM\\alice"), "{body}");
    assert!(body.contains("reason: binding-verified"), "{body}");
    assert!(s.log().contains("channel_binding=\"match\""), "{}", s.log());
}

#[test]
fn requests_ntlm_without_binding_when_supported_200_always_401() {
    let ws = Server::start(&["--enforcement", "when-supported"]);
    let (status, body) = requests_ntlm(&ws.url("localhost"), "TESTDOM\\alice", "userpw", false);
    assert_eq!(status, 200, "{}", ws.log());
    assert!(body.contains("reason: binding-absent-allowed"), "{body}");
    let always = Server::start(&["--enforcement", "always"]);
    let (status, _) = requests_ntlm(&always.url("localhost"), "TESTDOM\\alice", "userpw", false);
    assert_eq!(status, 401);
    assert!(
        always.log().contains("reason=\"binding-absent\""),
        "{}",
        always.log()
    );
}

#[test]
fn curl_without_binding_when_supported_200_always_401() {
    let ws = Server::start(&["--enforcement", "when-supported"]);
    let (status, body) = curl_ntlm(&ws.url("localhost"), "TESTDOM\\alice", "userpw");
    assert_eq!(status, 200, "{}", ws.log());
    assert!(body.contains("hello TESTDOM\\alice"));
    let always = Server::start(&["--enforcement", "always"]);
    let (status, body) = curl_ntlm(&always.url("localhost"), "TESTDOM\\alice", "userpw");
    assert_eq!(status, 401);
    assert!(body.is_empty(), "a 401 has no body: {body:?}");
    assert!(always.log().contains("reason=\"binding-absent\""));
}

#[test]
fn wrong_password_is_401_and_the_password_is_never_logged() {
    let s = Server::start(&["--enforcement", "always"]);
    let (status, _) = requests_ntlm(
        &s.url("localhost"),
        "TESTDOM\\alice",
        "not-the-password",
        true,
    );
    assert_eq!(status, 401);
    let (status, _) = requests_ntlm(&s.url("localhost"), "TESTDOM\\alice", "userpw", true);
    assert_eq!(status, 200);
    let log = s.log();
    assert!(log.contains("unknown user or wrong password"));
    for secret in ["userpw", "not-the-password", "TlRMTVNTUAAB", "TlRMTVNTUAAD"] {
        assert!(!log.contains(secret), "log contains {secret}: {log}");
    }
}

// ---- the relay ------------------------------------------------------------------------------

mod relay_attack {
    use super::*;

    #[test]
    fn relay_succeeds_under_never_and_is_refused_with_binding_mismatch_otherwise() {
        // Under `never` the attacker's relayed credential gets in: the attack is real.
        let never = Server::start(&["--enforcement", "never"]);
        let mitm = relay::start(never.addr);
        let (status, body) = requests_ntlm(
            &format!("https://localhost:{}/", mitm.port()),
            "TESTDOM\\alice",
            "userpw",
            true,
        );
        assert_eq!(status, 200, "{}", never.log());
        assert!(body.contains("hello TESTDOM\\alice"));

        for enforcement in ["when-supported", "always"] {
            let s = Server::start(&["--enforcement", enforcement]);
            let mitm = relay::start(s.addr);
            let (status, body) = requests_ntlm(
                &format!("https://localhost:{}/", mitm.port()),
                "TESTDOM\\alice",
                "userpw",
                true,
            );
            assert_eq!(status, 401, "{enforcement}: {body}");
            let log = s.log();
            assert!(
                log.contains("reason=\"binding-mismatch\""),
                "{enforcement}: {log}"
            );
            assert!(
                log.contains("channel_binding=\"mismatch\""),
                "{enforcement}: {log}"
            );
            // The same client straight to the server gets in.
            let (status, _) = requests_ntlm(&s.url("localhost"), "TESTDOM\\alice", "userpw", true);
            assert_eq!(status, 200, "{enforcement}");
        }
    }
}

// ---- plain HTTP: the service-name binding ---------------------------------------------------

#[test]
fn plain_http_checks_the_service_name() {
    // requests-ntlm names HTTP/<host of the URL>; the server accepts HTTP/localhost.
    for enforcement in ["when-supported", "always"] {
        let s = start_http(&[
            "--enforcement",
            enforcement,
            "--service-name",
            "HTTP/localhost",
        ]);
        let (status, body) = requests_ntlm(&s.url("localhost"), "TESTDOM\\alice", "userpw", true);
        assert_eq!(status, 200, "{enforcement}: {}", s.log());
        assert!(body.contains("reason: service-name-matched"), "{body}");
        // Same server reached as 127.0.0.1: the client names HTTP/127.0.0.1, which is not listed.
        let (status, _) = requests_ntlm(&s.url("127.0.0.1"), "TESTDOM\\alice", "userpw", true);
        assert_eq!(status, 401, "{enforcement}");
        assert!(s.log().contains("reason=\"service-name-not-in-list\""));
    }
    // curl names no SPN: allowed under when-supported, refused under always.
    let ws = start_http(&[
        "--enforcement",
        "when-supported",
        "--service-name",
        "HTTP/localhost",
    ]);
    assert_eq!(
        curl_ntlm(&ws.url("localhost"), "TESTDOM\\alice", "userpw").0,
        200
    );
    let always = start_http(&[
        "--enforcement",
        "always",
        "--service-name",
        "HTTP/localhost",
    ]);
    assert_eq!(
        curl_ntlm(&always.url("localhost"), "TESTDOM\\alice", "userpw").0,
        401
    );
    assert!(
        always
            .log()
            .contains("reason=\"service-name-not-provided\"")
    );
}

// ---- HTTP/1.1 only ---------------------------------------------------------------------------

#[tokio::test]
async fn alpn_offers_only_http11() {
    let s = Server::start(&["--enforcement", "always"]);
    let mut config = insecure_client();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let tls = connector
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    // Only h2 offered: no common protocol, the handshake fails rather than falling to HTTP/2.
    let mut config = insecure_client();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    assert!(
        connector
            .connect(
                rustls::pki_types::ServerName::try_from("localhost").unwrap(),
                tcp
            )
            .await
            .is_err()
    );
}

// ---- 200 concurrent connections, 200 users --------------------------------------------------

mod concurrency {
    use super::*;
    use epa::hyper::ntlm::client::{ClientBinding, NtlmClient};
    use http_body_util::{BodyExt as _, Empty};
    use hyper::client::conn::http1;
    use hyper_util::rt::TokioIo;

    async fn leg(
        sender: &mut http1::SendRequest<Empty<bytes::Bytes>>,
        auth: Option<String>,
    ) -> (u16, Option<String>, String) {
        let mut req = http::Request::get("/").header("host", "localhost");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        sender.ready().await.unwrap();
        let resp = sender
            .send_request(req.body(Empty::new()).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let www = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = String::from_utf8(
            resp.into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
        .unwrap();
        (status, www, body)
    }

    /// One connection, one user: NEGOTIATE, AUTHENTICATE, then a second request on the same
    /// connection without Authorization (connection-based authentication).
    async fn authenticate(addr: SocketAddr, i: usize, binding: [u8; 16]) -> (String, String) {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(insecure_client()));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = connector
            .connect(
                rustls::pki_types::ServerName::try_from("localhost").unwrap(),
                tcp,
            )
            .await
            .unwrap();
        let (mut sender, conn) = http1::handshake(TokioIo::new(tls)).await.unwrap();
        tokio::spawn(conn);
        let mut client = NtlmClient::new("TESTDOM", &format!("user{i}"), &format!("pw-{i}"))
            .binding(ClientBinding::Hash(binding))
            .target_name(Some("HTTP/localhost"));
        let (status, www, _) = leg(
            &mut sender,
            Some(format!("NTLM {}", STANDARD.encode(client.negotiate()))),
        )
        .await;
        assert_eq!(status, 401);
        let challenge = STANDARD
            .decode(www.unwrap().strip_prefix("NTLM ").unwrap())
            .unwrap();
        let auth = client.authenticate(&challenge).unwrap();
        let (status, _, first) =
            leg(&mut sender, Some(format!("NTLM {}", STANDARD.encode(auth)))).await;
        assert_eq!(status, 200, "user{i}");
        let (status, _, second) = leg(&mut sender, None).await;
        assert_eq!(status, 200, "user{i} second request");
        (first, second)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_hundred_connections_each_see_only_their_own_user() {
        let s = Server::start(&["--enforcement", "always"]);
        let (_, _, der) = cert_files();
        let binding = epa::tls_server_end_point(&der).unwrap().binding;
        let md5 = epa::GssChannelBindings::from(&binding).md5().unwrap().0;
        let tasks: Vec<_> = (0..USERS)
            .map(|i| tokio::spawn(authenticate(s.addr, i, md5)))
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            let (first, second) = t.await.unwrap();
            let me = format!("hello TESTDOM\\user{i}\n");
            assert!(first.starts_with(&me), "connection {i} got {first:?}");
            assert!(
                second.starts_with(&me),
                "connection {i} second request got {second:?}"
            );
        }
        let log = s.log();
        assert_eq!(
            log.matches("reason=\"binding-verified\"").count(),
            USERS,
            "{log}"
        );
    }

    #[tokio::test]
    async fn a_new_connection_does_not_inherit_authentication() {
        let s = Server::start(&["--enforcement", "always"]);
        let (_, _, der) = cert_files();
        let md5 = epa::GssChannelBindings::from(&epa::tls_server_end_point(&der).unwrap().binding)
            .md5()
            .unwrap()
            .0;
        authenticate(s.addr, 1, md5).await;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(insecure_client()));
        let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        let tls = connector
            .connect(
                rustls::pki_types::ServerName::try_from("localhost").unwrap(),
                tcp,
            )
            .await
            .unwrap();
        let (mut sender, conn) = http1::handshake(TokioIo::new(tls)).await.unwrap();
        tokio::spawn(conn);
        let (status, www, body) = leg(&mut sender, None).await;
        assert_eq!(status, 401);
        assert_eq!(www.as_deref(), Some("Negotiate"));
        assert!(body.is_empty());
    }

    #[tokio::test]
    async fn malformed_authorization_headers() {
        let s = Server::start(&["--enforcement", "always"]);
        let connector = tokio_rustls::TlsConnector::from(Arc::new(insecure_client()));
        let cases: Vec<(String, u16)> = vec![
            ("NTLM !!!not-base64!!!".into(), 400),
            ("NTLM ".into(), 401),
            ("Basic YWxpY2U6dXNlcnB3".into(), 401),
            (
                format!("NTLM {}", STANDARD.encode(b"not an ntlm message")),
                400,
            ),
            (format!("NTLM {}", "A".repeat(70 * 1024)), 400),
            (
                format!(
                    "Negotiate {}",
                    STANDARD.encode([0x60, 0x03, 0x06, 0x01, 0x00])
                ),
                401,
            ),
        ];
        for (header, want) in cases {
            let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
            let tls = connector
                .connect(
                    rustls::pki_types::ServerName::try_from("localhost").unwrap(),
                    tcp,
                )
                .await
                .unwrap();
            let (mut sender, conn) = http1::handshake(TokioIo::new(tls)).await.unwrap();
            tokio::spawn(conn);
            let (status, _, body) = leg(&mut sender, Some(header.clone())).await;
            assert_eq!(status, want, "{}", &header[..header.len().min(40)]);
            assert!(body.is_empty());
        }
    }
}
