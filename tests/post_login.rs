//! Logging in with a request that has a body (issue #20, items 7 and 13): `epa serve` in front
//! of the Python echo upstream, requests-ntlm POSTs (it resends the body on every leg) and a
//! raw client that writes the body after the head, under every enforcement; the drain bound;
//! and an NTLM leg that arrives after a SIGHUP reload replaced the layer.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use epa::hyper::ntlm::client::{ClientBinding, NtlmClient};
use std::collections::HashMap;
use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use support::ChildGuard;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const ENFORCEMENTS: [&str; 3] = ["never", "when-supported", "always"];

/// `epa serve` and the lines of its stderr.
struct Serve {
    _child: ChildGuard,
    pid: u32,
    addr: SocketAddr,
    err: std::sync::mpsc::Receiver<String>,
}

impl Serve {
    fn start(file: &Path) -> Self {
        let mut child = Command::new(support::epa_binary())
            .args(["serve", "--config"])
            .arg(file)
            .arg("--users")
            .arg(support::users_file())
            .args(["--domain", "TESTDOM"])
            .env("RUST_LOG", "epa=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let (tx, err) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut child = ChildGuard(child);
        let addr = support::wait_stdout_line(&mut child.0, "listening on https://")
            .parse()
            .unwrap();
        Serve {
            _child: child,
            pid,
            addr,
            err,
        }
    }

    /// Waits (at most 20 s) for a stderr line that starts with `prefix`.
    fn wait(&self, prefix: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .err
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line {prefix:?} within 20 s"));
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// `epa serve`'s file: the shared test certificate, `enforcement`, the echo upstream, `extra`.
fn serve_file(port: u16, enforcement: &str, listener: &str, extra: &str) -> std::path::PathBuf {
    let (cert, key, _) = support::cert_files();
    let text = format!(
        "[listener]\naddress = \"127.0.0.1:0\"\ncertificate_file = {cert:?}\nkey_file = {key:?}\n{listener}\n\
         [policy]\nenforcement = \"{enforcement}\"\nprefixes = [\"https://localhost/\"]\n\
         [upstream]\nurl = \"http://127.0.0.1:{port}\"\n{extra}"
    );
    let file = support::workdir().join(format!(
        "post-{}-{}.toml",
        std::process::id(),
        support::rand_suffix()
    ));
    std::fs::write(&file, text).unwrap();
    file
}

/// requests-ntlm POST of `size` bytes: (status, body).
fn requests_ntlm_post(url: &str, size: usize) -> (u16, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/ntlm_post.py");
    let out = Command::new(support::python())
        .arg(script)
        .args([url, "TESTDOM\\alice", "userpw", &size.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["status"].as_u64().unwrap() as u16,
        v["body"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn requests_ntlm_posts_of_11_bytes_100_kb_and_1_mb_log_in_under_every_enforcement() {
    let (_up, port) = support::python_upstream();
    for enforcement in ENFORCEMENTS {
        let serve = Serve::start(&serve_file(port, enforcement, "", ""));
        let url = format!("https://localhost:{}/post", serve.addr.port());
        for size in [11, 100_000, 1_000_000] {
            let start = std::time::Instant::now();
            let (status, body) = requests_ntlm_post(&url, size);
            eprintln!(
                "requests-ntlm POST {size} B under {enforcement}: {status} in {:?}",
                start.elapsed()
            );
            assert_eq!(status, 200, "{enforcement}, {size} bytes: {body}");
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(json["received"], size, "{enforcement}");
            assert_eq!(
                json["headers"]["x-remote-user"],
                serde_json::json!(["TESTDOM\\alice"])
            );
        }
    }
}

// ---- a raw client --------------------------------------------------------------------------

async fn tls(addr: SocketAddr) -> TlsStream<TcpStream> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(support::insecure_client()));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

struct Answer {
    status: u16,
    /// Lower-case names; repeated fields joined with ", ".
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// Reads one response (Content-Length bodies only) within 10 s; `None` when the server closed
/// the connection first.
async fn answer(io: &mut BufReader<TlsStream<TcpStream>>) -> Option<Answer> {
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut line = String::new();
        if io.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let status = line.split(' ').nth(1)?.parse().ok()?;
        let mut headers = HashMap::<String, String>::new();
        loop {
            line.clear();
            io.read_line(&mut line).await.ok()?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':')?;
            let e = headers.entry(k.trim().to_ascii_lowercase()).or_default();
            if !e.is_empty() {
                e.push_str(", ");
            }
            e.push_str(v.trim());
        }
        let n: usize = headers
            .get("content-length")
            .map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0; n];
        io.read_exact(&mut body).await.ok()?;
        Some(Answer {
            status,
            headers,
            body,
        })
    })
    .await
    .expect("no answer within 10 s")
}

/// A POST with `authorization` whose `body` is written `pause` after the head.
async fn post_split(
    io: &mut BufReader<TlsStream<TcpStream>>,
    authorization: &str,
    body: &[u8],
    pause: Duration,
) -> Option<Answer> {
    let head = format!(
        "POST /post HTTP/1.1\r\nHost: localhost\r\nAuthorization: {authorization}\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // A connection the server closed after the previous answer fails here: `None`.
    io.get_mut().write_all(head.as_bytes()).await.ok()?;
    io.get_mut().flush().await.ok()?;
    tokio::time::sleep(pause).await;
    // The server may have answered and closed already (a body it will not drain).
    let _ = io.get_mut().write_all(body).await;
    let _ = io.get_mut().flush().await;
    answer(io).await
}

fn served_binding() -> [u8; 16] {
    let (_, _, der) = support::cert_files();
    epa::GssChannelBindings::from(&epa::tls_server_end_point(&der).unwrap().binding)
        .md5()
        .unwrap()
        .0
}

fn challenge_of(a: &Answer) -> Vec<u8> {
    let www = a.headers.get("www-authenticate").expect("a challenge");
    let token = www
        .split(", ")
        .find_map(|v| v.strip_prefix("NTLM "))
        .expect("an NTLM challenge token");
    STANDARD.decode(token).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_client_writing_the_body_50_ms_after_the_head_logs_in_under_every_enforcement() {
    let (_up, port) = support::python_upstream();
    for enforcement in ENFORCEMENTS {
        let file = serve_file(port, enforcement, "", "");
        let serve = tokio::task::spawn_blocking(move || Serve::start(&file))
            .await
            .unwrap();
        let mut io = BufReader::new(tls(serve.addr).await);
        let mut client = NtlmClient::new("TESTDOM", "alice", "userpw")
            .binding(ClientBinding::Hash(served_binding()))
            .target_name(Some("HTTP/localhost"));
        let pause = Duration::from_millis(50);
        let negotiate = format!("NTLM {}", STANDARD.encode(client.negotiate()));
        let first = post_split(&mut io, &negotiate, b"hello world", pause)
            .await
            .expect("the challenge leg closed the connection");
        assert_eq!(first.status, 401, "{enforcement}");
        assert_ne!(
            first.headers.get("connection").map(String::as_str),
            Some("close"),
            "{enforcement}"
        );
        let auth = client.authenticate(&challenge_of(&first)).unwrap();
        let auth = format!("NTLM {}", STANDARD.encode(auth));
        let second = post_split(&mut io, &auth, b"hello world", pause)
            .await
            .expect("the connection was closed after the challenge");
        assert_eq!(
            second.status,
            200,
            "{enforcement}: {}",
            String::from_utf8_lossy(&second.body)
        );
        let json: serde_json::Value = serde_json::from_slice(&second.body).unwrap();
        assert_eq!(json["received"], 11);
        assert_eq!(json["method"], "POST");
        drop(serve);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_above_the_drain_bound_is_answered_with_connection_close() {
    let (_up, port) = support::python_upstream();
    let file = serve_file(port, "always", "max_drain_bytes = 1000", "");
    let serve = tokio::task::spawn_blocking(move || Serve::start(&file))
        .await
        .unwrap();
    let mut client = NtlmClient::new("TESTDOM", "alice", "userpw");
    let negotiate = format!("NTLM {}", STANDARD.encode(client.negotiate()));
    // Within the bound: drained, the connection stays.
    let mut io = BufReader::new(tls(serve.addr).await);
    let a = post_split(
        &mut io,
        &negotiate,
        &[b'x'; 1000],
        Duration::from_millis(50),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 401);
    assert_eq!(a.headers.get("connection"), None);
    // Above it: not read, and the answer says so; the connection then ends.
    let mut io = BufReader::new(tls(serve.addr).await);
    let a = post_split(
        &mut io,
        &negotiate,
        &[b'x'; 5000],
        Duration::from_millis(50),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 401);
    assert_eq!(
        a.headers.get("connection").map(String::as_str),
        Some("close")
    );
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), io.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "the connection stayed open after Connection: close"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ntlm_leg_after_a_sighup_reload_gets_a_fresh_challenge_not_400() {
    let (_up, port) = support::python_upstream();
    let file = serve_file(port, "always", "", "");
    let f = file.clone();
    let serve = tokio::task::spawn_blocking(move || Serve::start(&f))
        .await
        .unwrap();
    let mut io = BufReader::new(tls(serve.addr).await);
    let mut client = NtlmClient::new("TESTDOM", "alice", "userpw")
        .binding(ClientBinding::Hash(served_binding()))
        .target_name(Some("HTTP/localhost"));
    let negotiate = format!("NTLM {}", STANDARD.encode(client.negotiate()));
    let first = post_split(&mut io, &negotiate, b"", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(first.status, 401);
    // The browser computes its AUTHENTICATE; meanwhile the configuration is reloaded (a
    // changed file, so the application and its layers are replaced).
    std::fs::write(
        &file,
        std::fs::read_to_string(&file).unwrap()
            + "[[route]]\npath = \"/health\"\nanonymous = true\n",
    )
    .unwrap();
    serve.signal("HUP");
    serve.wait("epa serve: SIGHUP: configuration reloaded");
    let auth = client.authenticate(&challenge_of(&first)).unwrap();
    let auth = format!("NTLM {}", STANDARD.encode(auth));
    let lost = post_split(&mut io, &auth, b"", Duration::ZERO)
        .await
        .expect("the connection was closed");
    assert_eq!(
        lost.status, 401,
        "a lost exchange's leg must be challenged afresh"
    );
    let www = lost.headers.get("www-authenticate").unwrap();
    assert!(www.contains("NTLM") && !www.contains("NTLM "), "{www}");
    // The browser starts again on the same connection, and gets in.
    let mut client = NtlmClient::new("TESTDOM", "alice", "userpw")
        .binding(ClientBinding::Hash(served_binding()))
        .target_name(Some("HTTP/localhost"));
    let negotiate = format!("NTLM {}", STANDARD.encode(client.negotiate()));
    let again = post_split(&mut io, &negotiate, b"", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(again.status, 401);
    let auth = client.authenticate(&challenge_of(&again)).unwrap();
    let auth = format!("NTLM {}", STANDARD.encode(auth));
    let done = post_split(&mut io, &auth, b"", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(done.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_leg_is_told_to_send_its_body_and_keeps_the_connection() {
    let (_up, port) = support::python_upstream();
    let file = serve_file(port, "always", "", "");
    let serve = tokio::task::spawn_blocking(move || Serve::start(&file))
        .await
        .unwrap();
    let mut io = BufReader::new(tls(serve.addr).await);
    let mut client = NtlmClient::new("TESTDOM", "alice", "userpw")
        .binding(ClientBinding::Hash(served_binding()))
        .target_name(Some("HTTP/localhost"));
    let leg = async |io: &mut BufReader<TlsStream<TcpStream>>, token: Vec<u8>| {
        let head = format!(
            "POST /post HTTP/1.1\r\nHost: localhost\r\nAuthorization: NTLM {}\r\n\
             Expect: 100-continue\r\nContent-Length: 11\r\n\r\n",
            STANDARD.encode(token)
        );
        io.get_mut().write_all(head.as_bytes()).await.unwrap();
        // As http.sys does: 100 Continue (the drain reads the body), then the answer.
        let interim = answer(io).await.expect("closed before 100 Continue");
        assert_eq!(interim.status, 100);
        io.get_mut().write_all(b"hello world").await.unwrap();
        answer(io).await.expect("closed after the body")
    };
    let t = std::time::Instant::now();
    let first = leg(&mut io, client.negotiate()).await;
    eprintln!("100-continue: challenge leg {:?}", t.elapsed());
    assert_eq!(first.status, 401);
    let auth = client.authenticate(&challenge_of(&first)).unwrap();
    let done = leg(&mut io, auth).await;
    eprintln!("100-continue: both legs {:?}", t.elapsed());
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    let json: serde_json::Value = serde_json::from_slice(&done.body).unwrap();
    assert_eq!(json["received"], 11);
}
