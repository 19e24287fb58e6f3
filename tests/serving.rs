//! The library server (`epa_server::server`, run by `examples/server/`) on real sockets: each
//! deadline firing, a flood of idle and abandoned connections, file-descriptor exhaustion,
//! SIGTERM during in-flight requests, and certificate rotation under load. Every server is
//! started and stopped here, on 127.0.0.1, with short configured deadlines; every loop is bounded.

#![allow(clippy::unwrap_used)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use epa::hyper::ntlm::client::{ClientBinding, NtlmClient};
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Launch, Server, insecure_client};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

type Sender = http1::SendRequest<Empty<Bytes>>;

/// A server with these `[listener]` keys, enforcement `always`, and `--metrics`.
fn server(listener: &str, cert: Option<(&Path, &Path)>, wrapper: &[&str]) -> Server {
    let (default_cert, default_key, _) = support::cert_files();
    Server::launch(&Launch {
        extra: &["--enforcement", "always", "--metrics"],
        cert: Some(cert.unwrap_or((&default_cert, &default_key))),
        config: Some(&format!("[listener]\n{listener}\n")),
        wrapper,
        ..Launch::default()
    })
}

async fn tls(addr: SocketAddr) -> TlsStream<TcpStream> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(insecure_client()));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

/// The certificate the server presented on this connection.
fn presented(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// An HTTP/1.1 connection; the handle ends when the server closes it.
async fn connect(addr: SocketAddr) -> (Sender, tokio::task::JoinHandle<()>, Vec<u8>) {
    let stream = tls(addr).await;
    let der = presented(&stream);
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    let handle = tokio::spawn(async move {
        let _ = conn.await;
    });
    (sender, handle, der)
}

async fn leg(sender: &mut Sender, path: &str, auth: Option<String>) -> (u16, Option<String>) {
    let mut req = http::Request::get(path).header("host", "localhost");
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
    resp.into_body().collect().await.unwrap();
    (status, www)
}

fn binding(der: &[u8]) -> [u8; 16] {
    epa::GssChannelBindings::from(&epa::tls_server_end_point(der).unwrap().binding)
        .md5()
        .unwrap()
        .0
}

/// NEGOTIATE leg only: the exchange is left pending.
async fn negotiate(sender: &mut Sender, client: &mut NtlmClient) -> Vec<u8> {
    let token = format!("NTLM {}", STANDARD.encode(client.negotiate()));
    let (status, www) = leg(sender, "/", Some(token)).await;
    assert_eq!(status, 401);
    STANDARD
        .decode(www.unwrap().strip_prefix("NTLM ").unwrap())
        .unwrap()
}

/// A full NTLM login of `user{i}` on this connection; returns the final status.
async fn login(sender: &mut Sender, i: usize, der: &[u8]) -> u16 {
    let mut client = NtlmClient::new("TESTDOM", &format!("user{i}"), &format!("pw-{i}"))
        .binding(ClientBinding::Hash(binding(der)))
        .target_name(Some("HTTP/localhost"));
    let challenge = negotiate(sender, &mut client).await;
    let auth = client.authenticate(&challenge).unwrap();
    leg(sender, "/", Some(format!("NTLM {}", STANDARD.encode(auth))))
        .await
        .0
}

/// Waits (bounded) for the server to close the connection; returns how long that took.
async fn closed_within(handle: tokio::task::JoinHandle<()>, at_most: Duration) -> Duration {
    let start = Instant::now();
    tokio::time::timeout(at_most, handle)
        .await
        .expect("the server kept the connection open past its deadline")
        .unwrap();
    start.elapsed()
}

fn ntlm_url(server: &Server) -> String {
    server.url("localhost")
}

// ---- each deadline -----------------------------------------------------------------------------

#[tokio::test]
async fn handshake_deadline_closes_a_silent_connection() {
    let s = server("tls_handshake_timeout = 0.5", None, &[]);
    let start = Instant::now();
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("no close within 5 s");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(450), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn request_head_deadline_closes_a_slow_head() {
    let s = server("request_head_timeout = 0.7", None, &[]);
    let mut stream = tls(s.addr).await;
    let start = Instant::now();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "no close within 5 s");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(650), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn keep_alive_deadline_closes_an_idle_connection() {
    let s = server(
        "keep_alive_timeout = 0.8\nrequest_head_timeout = 20\nexchange_timeout = 20",
        None,
        &[],
    );
    let (mut sender, handle, _) = connect(s.addr).await;
    assert_eq!(leg(&mut sender, "/", None).await.0, 401);
    let took = closed_within(handle, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(700), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn exchange_deadline_closes_an_abandoned_exchange_but_not_an_idle_connection() {
    let s = server(
        "exchange_timeout = 0.8\nkeep_alive_timeout = 20\nrequest_head_timeout = 20",
        None,
        &[],
    );
    // Control: an idle connection without a pending exchange outlives the exchange deadline.
    let (mut idle, idle_handle, _) = connect(s.addr).await;
    assert_eq!(leg(&mut idle, "/", None).await.0, 401);
    let (mut sender, handle, _) = connect(s.addr).await;
    let mut client = NtlmClient::new("TESTDOM", "alice", "userpw");
    negotiate(&mut sender, &mut client).await;
    let took = closed_within(handle, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(700), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(
        !idle_handle.is_finished(),
        "the idle connection was closed too"
    );
    assert_eq!(leg(&mut idle, "/", None).await.0, 401);
}

// ---- SIGTERM -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_200_in_flight_requests_finish_and_exits_0() {
    const N: usize = 200;
    let (_, _, der) = support::cert_files();
    let mut s = server("shutdown_timeout = 20", None, &[]);
    let addr = s.addr;
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(N);
    let mut tasks = Vec::new();
    for i in 0..N {
        let (der, ready) = (der.clone(), ready_tx.clone());
        tasks.push(tokio::spawn(async move {
            let (mut sender, _, _) = connect(addr).await;
            assert_eq!(login(&mut sender, i, &der).await, 200, "user{i}");
            ready.send(()).await.unwrap();
            let start = Instant::now();
            let (status, _) = leg(&mut sender, "/slow?ms=1500", None).await;
            (status, start.elapsed())
        }));
    }
    for _ in 0..N {
        tokio::time::timeout(Duration::from_secs(60), ready_rx.recv())
            .await
            .expect("logins took over 60 s")
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.signal("TERM");
    let signalled = Instant::now();
    for t in tasks {
        let (status, took) = t.await.expect("a request failed: reset or closed early");
        assert_eq!(status, 200);
        assert!(took >= Duration::from_millis(1400), "{took:?}");
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = s.wait_exit(Duration::from_secs(20));
        (status, s)
    })
    .await
    .unwrap();
    let (status, s) = status;
    let status = status.expect("still running 20 s after SIGTERM");
    assert!(status.success(), "{status:?}: {}", s.log());
    assert!(signalled.elapsed() < Duration::from_secs(20));
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
    assert!(s.log().contains("shutdown complete"), "{}", s.log());
}

// ---- certificate rotation ------------------------------------------------------------------

fn write_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_under_load() {
    let dir: PathBuf = support::workdir().join(format!("rotate-{}", support::rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    let (old_cert, old_key, old_der) = support::cert_files();
    std::fs::copy(old_cert, &cert).unwrap();
    std::fs::copy(old_key, &key).unwrap();
    let s = server("", Some((&cert, &key)), &[]);
    let addr = s.addr;

    // A connection authenticated before the swap.
    let (mut before, before_handle, der) = connect(addr).await;
    assert_eq!(der, old_der);
    assert_eq!(login(&mut before, 1, &old_der).await, 200);

    // Load: new connections all through the swap; none may fail.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut done = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && done < 100_000 {
                let (mut sender, _, _) = connect(addr).await;
                assert_eq!(leg(&mut sender, "/", None).await.0, 401);
                done += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            done
        })
    };

    let new = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let new_der = new.cert.der().to_vec();
    write_atomically(&key, new.signing_key.serialize_pem().as_bytes());
    write_atomically(&cert, new.cert.pem().as_bytes());
    let start = Instant::now();
    loop {
        let (_, _, der) = connect(addr).await;
        if der == new_der {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still the old certificate: {}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // New connections: bound to the new certificate.
    let (mut after, _, der) = connect(addr).await;
    assert_eq!(der, new_der);
    assert_eq!(login(&mut after, 2, &new_der).await, 200);
    let (mut stale, _, _) = connect(addr).await;
    assert_eq!(
        login(&mut stale, 3, &old_der).await,
        401,
        "old binding on a new connection"
    );
    let url = ntlm_url(&s);
    let (status, body) = tokio::task::spawn_blocking(move || {
        support::requests_ntlm(&url, "TESTDOM\\alice", "userpw", true)
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("binding-verified"), "{body}");
    // The relay is still refused.
    let relay = support::relay::start(addr);
    let relayed = format!("https://localhost:{}/", relay.port());
    let (status, _) = tokio::task::spawn_blocking(move || {
        support::requests_ntlm(&relayed, "TESTDOM\\alice", "userpw", true)
    })
    .await
    .unwrap();
    assert_eq!(status, 401, "relay accepted after rotation");
    // The connection from before the swap: still open, still authenticated.
    assert!(!before_handle.is_finished());
    assert_eq!(leg(&mut before, "/", None).await.0, 200);

    // A broken new certificate keeps the current one, and says why.
    write_atomically(
        &cert,
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (mut again, _, der) = connect(addr).await;
    assert_eq!(der, new_der);
    assert_eq!(login(&mut again, 4, &new_der).await, 200);
    assert!(
        s.log().contains("server certificate not reloaded"),
        "{}",
        s.log()
    );

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let done = load.await.expect("a connection failed during the swap");
    assert!(done > 0);
}

// ---- file descriptors ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_server_keeps_running_and_serves_after() {
    let mut s = server("", None, &["prlimit", "--nofile=64:64", "--"]);
    let mut held = Vec::new();
    for _ in 0..150 {
        held.push(TcpStream::connect(s.addr).await.unwrap());
    }
    // Give the server time to hit EMFILE and retry a few times.
    let start = Instant::now();
    while !s.log().contains("too-many-open-files") {
        assert!(start.elapsed() < Duration::from_secs(10), "{}", s.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        s.wait_exit(Duration::from_millis(10)).is_none(),
        "the server exited: {}",
        s.log()
    );
    drop(held);
    let url = ntlm_url(&s);
    let (status, body) = tokio::task::spawn_blocking(move || {
        support::requests_ntlm(&url, "TESTDOM\\alice", "userpw", true)
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(s.wait_exit(Duration::from_millis(10)).is_none());
}

// ---- flood ---------------------------------------------------------------------------------

/// Connections in `epa_connections_open`, from /metrics (the scrape's own included).
async fn open_connections(addr: SocketAddr) -> f64 {
    let (mut sender, _, _) = connect(addr).await;
    sender.ready().await.unwrap();
    let req = http::Request::get("/metrics")
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap();
    let body = sender.send_request(req).await.unwrap().into_body();
    let text = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("epa_connections_open "))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// A fresh ECDSA P-256 certificate and key as files (cheaper handshakes than the RSA vector).
fn ecdsa_files(name: &str) -> (PathBuf, PathBuf) {
    let dir = support::workdir().join(format!("{name}-{}", support::rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_of_idle_and_abandoned_connections() {
    const EACH: usize = 5_000;
    // The idle sockets must still be held at the login, half-way through the exchanges (a debug
    // build on a shared machine completes some 50 TLS + NEGOTIATE exchanges a second).
    const HANDSHAKE: Duration = Duration::from_secs(75);
    const EXCHANGE: Duration = Duration::from_secs(10);
    const BUILD: Duration = Duration::from_secs(240);
    let slack = Duration::from_secs(5);
    let limit = support::raise_file_limit();
    assert!(
        limit >= 12_000,
        "the hard file limit {limit} is too low for this test"
    );
    let (cert, key) = ecdsa_files("flood");
    let s = server(
        &format!(
            "tls_handshake_timeout = {}\nexchange_timeout = {}\nmax_connections = 15000",
            HANDSHAKE.as_secs(),
            EXCHANGE.as_secs()
        ),
        Some((&cert, &key)),
        &[],
    );
    let addr = s.addr;
    let rss_start = s.rss_kib();

    // 5,000 idle TCP connections that never send a ClientHello; each records when it closes.
    let mut idle = Vec::new();
    for _ in 0..EACH {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let since = Instant::now();
        idle.push(tokio::spawn(async move {
            let mut buf = [0u8; 1];
            let _ = tcp.read(&mut buf).await;
            since.elapsed()
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = s.rss_kib();

    // 5,000 exchanges abandoned after NEGOTIATE (TLS done, exchange pending).
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut abandoned = Vec::new();
    for _ in 0..EACH {
        let (gate, answered) = (gate.clone(), answered.clone());
        abandoned.push(tokio::spawn(async move {
            let permit = gate.acquire().await.unwrap();
            let (mut sender, handle, _) = connect(addr).await;
            let mut client = NtlmClient::new("TESTDOM", "alice", "userpw");
            negotiate(&mut sender, &mut client).await;
            let since = Instant::now();
            answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(permit);
            let _ = handle.await;
            drop(sender);
            since.elapsed()
        }));
    }
    let count = || answered.load(std::sync::atomic::Ordering::SeqCst);
    let start = Instant::now();
    let mut logged_in = false;
    while count() < EACH {
        assert!(start.elapsed() < BUILD, "building the flood took too long");
        if !logged_in && count() >= EACH / 2 {
            // A login during the flood: the idle sockets and the recent exchanges are held.
            let held = open_connections(addr).await;
            let rss = s.rss_kib();
            let pending = held - EACH as f64;
            eprintln!(
                "during the flood: {held} connections held; memory {:.1} KiB per idle TCP connection, {:.1} KiB per pending exchange (TLS + NTLM state)",
                rss_idle.saturating_sub(rss_start) as f64 / EACH as f64,
                rss.saturating_sub(rss_idle) as f64 / pending
            );
            assert!(held >= (EACH + 100) as f64, "held only {held}");
            let url = ntlm_url(&s);
            let (status, body) = tokio::task::spawn_blocking(move || {
                support::requests_ntlm(&url, "TESTDOM\\alice", "userpw", true)
            })
            .await
            .unwrap();
            assert_eq!(status, 200, "{body}");
            logged_in = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("flood built in {:?}", start.elapsed());
    assert!(logged_in);

    // Every abandoned socket is released within its deadline (plus slack for a busy machine).
    for (tasks, deadline, what) in [(idle, HANDSHAKE, "idle"), (abandoned, EXCHANGE, "exchange")] {
        let mut longest = Duration::ZERO;
        for t in tasks {
            let took = tokio::time::timeout(deadline + slack + slack, t)
                .await
                .expect("a socket outlived its deadline")
                .unwrap();
            longest = longest.max(took);
        }
        eprintln!("{what}: longest release {longest:?} (deadline {deadline:?})");
        assert!(longest <= deadline + slack, "{what}: {longest:?}");
        assert!(
            longest >= deadline - Duration::from_millis(100),
            "{what}: {longest:?}"
        );
    }
    let open = open_connections(addr).await;
    assert!(open <= 2.0, "server still holds {open} connections");
}

#[tokio::test]
async fn keep_alive_outlives_the_head_deadline_between_requests() {
    // The head deadline bounds a head being read, not the wait for the next request.
    let s = server(
        "keep_alive_timeout = 2.5\nrequest_head_timeout = 0.5\nexchange_timeout = 20",
        None,
        &[],
    );
    let (mut sender, handle, _) = connect(s.addr).await;
    assert_eq!(leg(&mut sender, "/", None).await.0, 401);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        !handle.is_finished(),
        "closed at the head deadline while idle"
    );
    assert_eq!(leg(&mut sender, "/", None).await.0, 401);
    let took = closed_within(handle, Duration::from_secs(6)).await;
    assert!(took >= Duration::from_millis(2300), "{took:?}");
}
