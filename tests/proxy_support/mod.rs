//! Fixtures of the gateway-hardening tests (tests/proxy_smuggling.rs, tests/proxy_identity.rs):
//! `epa serve` as a process with its own user file, a raw HTTP/1.1 client over TLS (blocking,
//! every read under a deadline) that logs in with NTLM, and the real upstreams (wsgiref,
//! gunicorn, Hypercorn, Node) on 127.0.0.1, each killed when its guard drops.

#![allow(clippy::unwrap_used, dead_code)] // tests: a panic is the failure report

use crate::support;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use epa::hyper::ntlm::client::{ClientBinding, NtlmClient};
use std::io::{BufRead as _, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every read and every wait has this deadline: no test hangs.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A running `epa serve`.
pub struct Epa {
    _child: support::ChildGuard,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Epa {
    /// `epa serve` with `[listener] <listener>`, `[policy] always`, `[upstream] url` to
    /// `upstream_port` followed by `extra` (more `[upstream]` keys first, then tables), and the
    /// user file `users` (`DOMAIN:user:password` lines).
    pub fn start(listener: &str, upstream_port: u16, extra: &str, users: &str) -> Self {
        let (cert, key, _) = support::cert_files();
        let n = support::rand_suffix();
        let dir = support::workdir();
        let users_file = dir.join(format!("hardening-users-{n}"));
        std::fs::write(&users_file, users).unwrap();
        let file = dir.join(format!("hardening-{n}.toml"));
        std::fs::write(
            &file,
            format!(
                "[listener]\ncertificate_file = {cert:?}\nkey_file = {key:?}\n{listener}\n\
                 [policy]\nenforcement = \"always\"\nprefixes = [\"https://localhost/\"]\n\
                 [upstream]\nurl = \"http://127.0.0.1:{upstream_port}\"\n{extra}"
            ),
        )
        .unwrap();
        let mut child = Command::new(support::epa_binary())
            .args([
                "serve",
                "--domain",
                "TESTDOM",
                "--address",
                "127.0.0.1:0",
                "--config",
            ])
            .arg(&file)
            .arg("--users")
            .arg(&users_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut child = support::ChildGuard(child);
        let addr = support::wait_stdout_line(&mut child.0, "listening on https://");
        Self {
            _child: child,
            addr: addr
                .parse()
                .unwrap_or_else(|_| panic!("no address in {addr:?}")),
            stderr,
        }
    }

    /// Sends SIGHUP (reload) with kill(1).
    pub fn hangup(&self) {
        let status = Command::new("kill")
            .args(["-s", "HUP", &self._child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s HUP");
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// One response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "{} not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// A keep-alive HTTP/1.1 connection over TLS, bytes written as given.
pub struct RawConn {
    io: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl RawConn {
    pub fn open(addr: SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(DEADLINE)).unwrap();
        tcp.set_write_timeout(Some(DEADLINE)).unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn =
            rustls::ClientConnection::new(Arc::new(support::insecure_client()), name).unwrap();
        Self {
            io: rustls::StreamOwned::new(conn, tcp),
            buf: Vec::new(),
        }
    }

    /// Changes the read deadline (default [`DEADLINE`]).
    pub fn set_deadline(&mut self, d: Duration) {
        self.io.sock.set_read_timeout(Some(d)).unwrap();
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).unwrap();
        self.io.flush().unwrap();
    }

    /// Reads more bytes; false at end of stream (or a reset).
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.io.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Every byte until the server closes (or the deadline).
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let start = Instant::now();
        while start.elapsed() < DEADLINE && self.fill() {}
        std::mem::take(&mut self.buf)
    }

    /// Exactly `n` bytes (after a 101).
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill(), "closed before {n} bytes");
        }
        self.buf.drain(..n).collect()
    }

    /// The next response; status 0 when the server closed before a complete head.
    pub fn reply(&mut self, head_request: bool) -> Reply {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if !self.fill() {
                return Reply {
                    status: 0,
                    headers: Vec::new(),
                    body: std::mem::take(&mut self.buf),
                };
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        if status == 101 || status == 204 || status == 304 || head_request {
            return reply;
        }
        if (100..200).contains(&status) {
            return self.reply(head_request);
        }
        let chunked = reply
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            reply.body = self.chunked();
        } else if let Some(n) = reply.header("content-length") {
            let n: usize = n.parse().unwrap();
            reply.body = self.read_exact(n);
        } else {
            reply.body = self.read_to_close();
        }
        reply
    }

    fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return l;
            }
            assert!(self.fill(), "closed inside a chunked body");
        }
    }

    fn chunked(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let size = self.line();
            let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
            if size == 0 {
                while !self.line().is_empty() {}
                return body;
            }
            body.extend(self.read_exact(size));
            self.line();
        }
    }

    /// `METHOD target HTTP/1.1`, `Host: localhost`, `headers`, no body.
    pub fn send(&mut self, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.write(req.as_bytes());
        self.reply(method == "HEAD")
    }

    pub fn get(&mut self, target: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", target, headers)
    }

    /// NTLM login at `path` (NEGOTIATE, AUTHENTICATE with the served certificate's binding),
    /// each leg with `extra` headers; the reply to the AUTHENTICATE leg.
    pub fn login(&mut self, path: &str, user: &str, pw: &str, extra: &[(&str, &str)]) -> Reply {
        let mut client = NtlmClient::new("TESTDOM", user, pw)
            .binding(ClientBinding::Hash(served_binding()))
            .target_name(Some("HTTP/localhost"));
        let negotiate = format!("NTLM {}", STANDARD.encode(client.negotiate()));
        let mut h = extra.to_vec();
        h.push(("Authorization", &negotiate));
        let r = self.get(path, &h);
        assert_eq!(r.status, 401, "first leg at {path}");
        let challenge = r
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("www-authenticate"))
            .find_map(|(_, v)| v.strip_prefix("NTLM ").map(str::to_owned))
            .unwrap();
        let auth = client
            .authenticate(&STANDARD.decode(challenge).unwrap())
            .unwrap();
        let auth = format!("NTLM {}", STANDARD.encode(auth));
        let mut h = extra.to_vec();
        h.push(("Authorization", &auth));
        self.get(path, &h)
    }
}

/// The binding hash an honest client of `epa serve` (the shared test certificate) sends.
pub fn served_binding() -> [u8; 16] {
    let (_, _, der) = support::cert_files();
    epa::GssChannelBindings::from(&epa::tls_server_end_point(&der).unwrap().binding)
        .md5()
        .unwrap()
        .0
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts on `port`.
pub fn wait_port(port: u16, child: &mut support::ChildGuard) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("upstream exited: {status}");
        }
        assert!(start.elapsed() < DEADLINE, "upstream never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// `python -m <module> args...` in tests/clients, listening on a free port, once it accepts.
fn python_server(args: &[&str], port: u16) -> support::ChildGuard {
    let mut child = support::ChildGuard(
        Command::new(support::python())
            .args(args)
            .current_dir(clients_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(port, &mut child);
    child
}

/// tests/clients/identity_apps.py under Python's wsgiref.
pub fn wsgiref() -> (support::ChildGuard, u16) {
    let port = free_port();
    let p = port.to_string();
    (
        python_server(&["identity_apps.py", "wsgiref", &p], port),
        port,
    )
}

/// `identity_apps:wsgi_app` under gunicorn with `--header-map dangerous` (CGI folding: `_`
/// and `-` are one variable, as gunicorn < 22 did by default).
pub fn gunicorn() -> (support::ChildGuard, u16) {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let child = python_server(
        &[
            "-m",
            "gunicorn",
            "--header-map",
            "dangerous",
            "--workers",
            "1",
            "-b",
            &bind,
            "identity_apps:wsgi_app",
        ],
        port,
    );
    (child, port)
}

/// `identity_apps:asgi_app` under Hypercorn (h2c upgrades on by default).
pub fn hypercorn() -> (support::ChildGuard, u16) {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let child = python_server(
        &["-m", "hypercorn", "--bind", &bind, "identity_apps:asgi_app"],
        port,
    );
    (child, port)
}

/// Node's `http.createServer` answering JSON `{"user": raw X-Remote-User as Node reads it
/// (latin-1), "decoded": decodeURIComponent of it}`.
pub fn node() -> (support::ChildGuard, u16) {
    let port = free_port();
    let script = "const port = Number(process.argv[1]);\n\
        require('http').createServer((req, res) => {\n\
          const user = req.headers['x-remote-user'];\n\
          let decoded = null;\n\
          try { decoded = user === undefined ? null : decodeURIComponent(user); } catch (e) { decoded = 'URIError'; }\n\
          const body = JSON.stringify({ path: req.url, user: user === undefined ? null : user, decoded });\n\
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });\n\
          res.end(body);\n\
        }).listen(port, '127.0.0.1');";
    let mut child = support::ChildGuard(
        Command::new("node")
            .args(["-e", script, &port.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(port, &mut child);
    (child, port)
}

/// `GET http://127.0.0.1:port/path` straight to an upstream (curl, 10 s).
pub fn direct(port: u16, path: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            &format!("http://127.0.0.1:{port}{path}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
