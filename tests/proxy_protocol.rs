//! PROXY protocol v1/v2 on `epa serve`'s listener (`[listener] proxy_protocol_from`), over real
//! sockets: HAProxy (Debian's, started by the test with a private configuration) as the real
//! sender in TCP mode, `send-proxy-v2` and `send-proxy`, with an NTLM login through it whose
//! channel binding holds (TLS ends at epa) and the echo upstream seeing the client's address;
//! then hand-made headers — malformed, truncated, slow, oversized, spoofed, missing, `LOCAL`,
//! an IPv6 source — and the per-address limit and metrics `allow_from` keyed by the client the
//! header names.
//!
//! Loopback gives distinct addresses: the balancer (HAProxy, or the test's own sockets) speaks
//! from 127.0.0.5 (listed), clients from 127.0.0.1 (not listed).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The listed balancer address.
const BALANCER: &str = "127.0.0.5";

const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// `epa serve` with TLS, `proxy_protocol_from = [BALANCER]`, the echo upstream behind it (an
/// anonymous `/open` route for the hand-made clients), the metrics page, and `extra` listener
/// lines.
fn serve(extra: &str) -> (support::ChildGuard, support::ChildGuard, SocketAddr) {
    serve_with(extra, "always", "")
}

/// [`serve`] with the policy's enforcement and more tables.
fn serve_with(
    extra: &str,
    enforcement: &str,
    tables: &str,
) -> (support::ChildGuard, support::ChildGuard, SocketAddr) {
    let (upstream, port) = support::python_upstream();
    let (cert, key, _) = support::cert_files();
    let config = format!(
        "[listener]\naddress = \"127.0.0.1:0\"\ncertificate_file = {cert:?}\nkey_file = {key:?}\n\
         proxy_protocol_from = [\"{BALANCER}\"]\nproxy_protocol_timeout = 1\n{extra}\n\
         [policy]\nenforcement = \"{enforcement}\"\nprefixes = [\"https://localhost/\"]\n\
         [metrics]\n{tables}\
         [upstream]\nurl = \"http://127.0.0.1:{port}\"\n\
         [[route]]\npath = \"/open\"\nanonymous = true\n"
    );
    let (epa, addr) = support::epa_serve(&config).unwrap();
    (epa, upstream, addr)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(from.parse().unwrap(), 0))
        .unwrap();
    socket.connect(to).await.unwrap()
}

fn v2(command: u8, family: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = V2_SIGNATURE.to_vec();
    h.push(0x20 | command);
    h.push(family);
    h.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn v2_ipv4(client: [u8; 4], port: u16) -> Vec<u8> {
    let mut p = client.to_vec();
    p.extend_from_slice(&[127, 0, 0, 1]);
    p.extend_from_slice(&port.to_be_bytes());
    p.extend_from_slice(&443u16.to_be_bytes());
    v2(1, 0x11, &p)
}

/// TLS over `tcp` (after whatever was written before), then `GET path` with `Connection:
/// close`: (status, body); `None` when the server closes instead of answering.
async fn get_over(tcp: TcpStream, path: &str) -> Option<(u16, String)> {
    let config = Arc::new(support::insecure_client());
    let connector = tokio_rustls::TlsConnector::from(config);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .unwrap()
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut out))
        .await
        .unwrap()
        .ok()?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// Opens a connection from `from`, writes `header`, and GETs `path` over TLS.
async fn get(addr: SocketAddr, from: &str, header: &[u8], path: &str) -> Option<(u16, String)> {
    let mut tcp = connect_from(from, addr).await;
    tcp.write_all(header).await.unwrap();
    get_over(tcp, path).await
}

/// The echo upstream's view of one header (its first value).
fn seen(body: &str, name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["headers"][name][0]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// `epa_proxy_protocol_headers_total{result=...}` on the metrics page (read from 127.0.0.1,
/// not listed).
fn counted(addr: SocketAddr, result: &str) -> u64 {
    let (status, page) = runtime()
        .block_on(get(addr, "127.0.0.1", b"", "/metrics"))
        .unwrap();
    assert_eq!(status, 200, "{page}");
    let line = format!("epa_proxy_protocol_headers_total{{result=\"{result}\"}} ");
    page.lines()
        .find_map(|l| l.strip_prefix(&line))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// Whether the server closed `tcp` (EOF or reset) within `within`, and when.
async fn closed_within(tcp: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 64];
    match tokio::time::timeout(within, tcp.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => Some(start.elapsed()),
        Ok(Ok(_)) | Err(_) => None,
    }
}

fn haproxy_installed() -> bool {
    Command::new("haproxy").arg("-v").output().is_ok()
}

/// HAProxy in TCP mode on a free port, relaying to `epa` from [`BALANCER`] with `mode`
/// (`send-proxy-v2` or `send-proxy`); a child of the test, with its own configuration file.
fn haproxy(epa: SocketAddr, mode: &str) -> (support::ChildGuard, SocketAddr) {
    let front = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let config = format!(
        "global\n  maxconn 100\n\
         defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
         frontend front\n  bind {front}\n  default_backend epa\n\
         backend epa\n  server epa {epa} {mode} source {BALANCER}\n"
    );
    let file = support::workdir().join(format!("haproxy-{}.cfg", support::rand_suffix()));
    std::fs::write(&file, config).unwrap();
    let child = Command::new("haproxy")
        .arg("-f")
        .arg(&file)
        .arg("-db")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut guard = support::ChildGuard(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(front).is_err() {
        assert!(
            guard.0.try_wait().unwrap().is_none(),
            "haproxy exited: check {}",
            file.display()
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "haproxy did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (guard, front)
}

#[test]
fn haproxy_send_proxy_v2_and_v1_carry_the_client_through_an_ntlm_login_with_its_binding() {
    if !haproxy_installed() {
        eprintln!("SKIPPED: haproxy is not installed (./scripts/test installs Debian's haproxy)");
        return;
    }
    let (_epa, _upstream, addr) = serve("");
    for (mode, result) in [("send-proxy-v2", "proxied"), ("send-proxy", "proxied")] {
        let before = counted(addr, result);
        let (_haproxy, front) = haproxy(addr, mode);
        // requests-ntlm sends the tls-server-end-point binding of the certificate it saw:
        // epa's, through HAProxy's TCP relay, under enforcement = always.
        let url = format!("https://localhost:{}/", front.port());
        let (status, body) = support::requests_ntlm(&url, "TESTDOM\\alice", "userpw", true);
        assert_eq!(status, 200, "{mode}: {body}");
        // The upstream sees the client (127.0.0.1), not HAProxy's 127.0.0.5.
        assert_eq!(
            seen(&body, "x-forwarded-for"),
            "127.0.0.1",
            "{mode}: {body}"
        );
        assert_eq!(seen(&body, "x-real-ip"), "127.0.0.1", "{mode}: {body}");
        assert!(
            seen(&body, "forwarded").starts_with("for=127.0.0.1;"),
            "{body}"
        );
        assert_eq!(seen(&body, "x-remote-user"), "TESTDOM\\alice", "{body}");
        // Without the binding the same login is refused: the binding is really checked.
        let (status, _) = support::requests_ntlm(&url, "TESTDOM\\alice", "userpw", false);
        assert_eq!(status, 401, "{mode}: no channel binding under always");
        assert!(
            counted(addr, result) >= before + 2,
            "{mode}: headers counted"
        );
    }
}

#[test]
fn hand_made_headers_name_the_client_and_bad_ones_are_refused() {
    let (_epa, _upstream, addr) = serve("");
    let rt = runtime();
    // v1 and v2 from the listed balancer: the named client is the peer.
    let v1 = b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 443\r\n";
    let (status, body) = rt.block_on(get(addr, BALANCER, v1, "/open")).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(seen(&body, "x-forwarded-for"), "192.0.2.7");
    let (_, body) = rt
        .block_on(get(
            addr,
            BALANCER,
            &v2_ipv4([198, 51, 100, 9], 5555),
            "/open",
        ))
        .unwrap();
    assert_eq!(seen(&body, "x-real-ip"), "198.51.100.9");
    // An IPv6 source.
    let mut p6 = "2001:db8::7"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets()
        .to_vec();
    p6.extend_from_slice(&[0; 16]);
    p6.extend_from_slice(&[0x9c, 0x40, 0x01, 0xbb]);
    let (_, body) = rt
        .block_on(get(addr, BALANCER, &v2(1, 0x21, &p6), "/open"))
        .unwrap();
    assert_eq!(seen(&body, "x-forwarded-for"), "2001:db8::7");
    assert!(
        seen(&body, "forwarded").starts_with("for=\"[2001:db8::7]\""),
        "{body}"
    );
    // LOCAL (a health check) and v1 UNKNOWN: the balancer stays the peer.
    for header in [v2(0, 0x00, &[]), b"PROXY UNKNOWN\r\n".to_vec()] {
        let (status, body) = rt.block_on(get(addr, BALANCER, &header, "/open")).unwrap();
        assert_eq!(status, 200);
        assert_eq!(seen(&body, "x-forwarded-for"), BALANCER);
    }
    assert!(counted(addr, "local") >= 1 && counted(addr, "unknown") >= 1);

    // Malformed, oversized, a datagram flow, a missing header: the connection is closed
    // before TLS, and each is counted under its reason.
    let mut oversized = V2_SIGNATURE.to_vec();
    oversized.extend_from_slice(&[0x21, 0x11, 0x02, 0x58]); // 600 bytes announced
    oversized.extend_from_slice(&[0; 600]);
    let cases: [(&str, &[u8], &str); 5] = [
        (
            BALANCER,
            b"PROXY TCP4 192.0.2.7 nowhere 1 2\r\n",
            "v1-malformed",
        ),
        (BALANCER, &v2(2, 0x11, &[0; 12]), "v2-malformed"),
        (BALANCER, &oversized, "v2-too-long"),
        (BALANCER, &v2(1, 0x12, &[0; 12]), "datagram"),
        // A listed balancer that starts TLS at once (omits the header).
        (BALANCER, b"", "missing"),
    ];
    for (from, header, reason) in cases {
        let before = counted(addr, reason);
        assert_eq!(
            rt.block_on(get(addr, from, header, "/open")),
            None,
            "{reason}"
        );
        assert_eq!(counted(addr, reason), before + 1, "{reason}");
    }
    // Spoofed: a peer that is not listed sends a header naming someone else: refused, said
    // so, not served as that address.
    let before = counted(addr, "not-allowed");
    let spoof = v2_ipv4([127, 0, 0, 1], 1);
    assert_eq!(rt.block_on(get(addr, "127.0.0.7", &spoof, "/open")), None);
    let v1_spoof = b"PROXY TCP4 127.0.0.1 127.0.0.1 1 443\r\n";
    assert_eq!(rt.block_on(get(addr, "127.0.0.7", v1_spoof, "/open")), None);
    assert_eq!(counted(addr, "not-allowed"), before + 2);
    // An unlisted peer without a header is served as itself.
    let (_, body) = rt.block_on(get(addr, "127.0.0.7", b"", "/open")).unwrap();
    assert_eq!(seen(&body, "x-forwarded-for"), "127.0.0.7");
}

#[test]
fn truncated_and_slow_headers_meet_the_deadline_and_close() {
    let (_epa, _upstream, addr) = serve("");
    let rt = runtime();
    rt.block_on(async {
        // Truncated: half a header, then the balancer's side ends.
        let mut tcp = connect_from(BALANCER, addr).await;
        tcp.write_all(&v2_ipv4([192, 0, 2, 1], 1)[..20])
            .await
            .unwrap();
        tcp.shutdown().await.unwrap();
        assert!(
            closed_within(&mut tcp, Duration::from_secs(3))
                .await
                .is_some()
        );
        // Slow: a v1 header one byte at a time, never finished: cut at proxy_protocol_timeout
        // (1 s), not at the 10 s TLS handshake deadline.
        let mut tcp = connect_from(BALANCER, addr).await;
        for b in b"PROXY TCP4 1" {
            tcp.write_all(&[*b]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let took = closed_within(&mut tcp, Duration::from_secs(5)).await;
        let took = took.expect("closed at the header deadline");
        assert!(took < Duration::from_millis(1500), "{took:?}");
        // Silent: nothing at all.
        let mut tcp = connect_from(BALANCER, addr).await;
        let took = closed_within(&mut tcp, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(took >= Duration::from_millis(800), "{took:?}");
    });
    assert!(counted(addr, "truncated") >= 1);
    assert!(counted(addr, "timeout") >= 2);
}

#[test]
fn per_address_limit_and_metrics_access_follow_the_named_client() {
    let (_epa, _upstream, addr) = serve("max_connections_per_address = 2");
    let rt = runtime();
    rt.block_on(async {
        // Two open connections (handshake done) for client 192.0.2.1 through the balancer.
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut tcp = connect_from(BALANCER, addr).await;
            tcp.write_all(&v2_ipv4([192, 0, 2, 1], 1)).await.unwrap();
            let connector = tokio_rustls::TlsConnector::from(Arc::new(support::insecure_client()));
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            held.push(connector.connect(name, tcp).await.unwrap());
        }
        // A third for the same client is refused …
        let third = get(addr, BALANCER, &v2_ipv4([192, 0, 2, 1], 2), "/open").await;
        assert_eq!(third, None, "the third connection of 192.0.2.1");
        // … while other clients of the same balancer are served (the balancer's address is not
        // what is counted), twice over the limit.
        for client in 2..6 {
            let (status, body) = get(addr, BALANCER, &v2_ipv4([192, 0, 2, client], 3), "/open")
                .await
                .unwrap();
            assert_eq!(status, 200, "{body}");
            assert_eq!(seen(&body, "x-forwarded-for"), format!("192.0.2.{client}"));
        }
        drop(held);
        // Metrics allow_from (loopback 127.0.0.1 only): a client named 192.0.2.9 is refused,
        // one named 127.0.0.1 is let in — the header's client decides, not the balancer.
        let (status, _) = get(addr, BALANCER, &v2_ipv4([192, 0, 2, 9], 1), "/metrics")
            .await
            .unwrap();
        assert_eq!(status, 403);
        let (status, page) = get(addr, BALANCER, &v2_ipv4([127, 0, 0, 1], 1), "/metrics")
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert!(
            page.contains("epa_connections_closed_total{reason=\"per-address-limit\"} 1"),
            "{page}"
        );
    });
}

#[test]
fn smart_lockout_through_haproxy_tells_the_attacker_from_the_user() {
    if !haproxy_installed() {
        eprintln!("SKIPPED: haproxy is not installed (./scripts/test installs Debian's haproxy)");
        return;
    }
    // Two failures lock the account, for unfamiliar and for familiar addresses alike: were the
    // balancer's address the peer, the attacker's failures would count against the address
    // Alice logged in from (it would be the same one) and lock her out.
    let backend = "[backend]\nkind = \"embedded\"\nextranet_lockout_threshold = 2\n\
                   familiar_lockout_threshold = 2\n";
    let (_epa, _upstream, addr) = serve_with("", "when-supported", backend);
    let (_haproxy, front) = haproxy(addr, "send-proxy-v2");
    // curl (no channel binding: enforcement when-supported) from distinct loopback sources.
    let login = |from: &str, password: &str| {
        support::curl_ntlm_from(front.port(), from, "TESTDOM\\alice", password, 10)
    };
    assert_eq!(login("127.0.0.2", "userpw"), 200, "Alice, from her address");
    for _ in 0..3 {
        assert_eq!(login("127.0.0.3", "guess"), 401, "the attacker");
    }
    assert_eq!(
        login("127.0.0.4", "userpw"),
        401,
        "locked for unfamiliar addresses"
    );
    assert_eq!(login("127.0.0.2", "userpw"), 200, "not for Alice's own");
}
