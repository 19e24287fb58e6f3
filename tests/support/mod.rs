//! Shared end-to-end fixtures: the example server (`examples/server/`: the `epa_server` runtime with its own handler) run as a process, real TLS, and clients
//! nobody here wrote — Python `requests` + `requests-ntlm` (sends the channel binding) and curl
//! `--ntlm` (sends none) — plus a live relay: a TLS-terminating man in the middle with its own
//! certificate that forwards the NTLM exchange to the server.
//!
//! Needs the Python venv and curl that `./scripts/test` installs (`target/pyenv`, or
//! `EPA_TEST_PYTHON`). Every server and relay is started and stopped by the test itself, on
//! 127.0.0.1 only.

#![allow(clippy::unwrap_used, dead_code)] // tests: a panic is the failure report; not every test file uses every helper

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

pub const VECTORS: &str = include_str!("../data/channel-binding-vectors.json");
pub const USERS: usize = 200;

pub fn workdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("epa-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The rsa-sha256 vector's certificate and throwaway key, as PEM files (written once: tests run
/// in parallel and must not rewrite a file a starting server is reading).
pub fn cert_files() -> (PathBuf, PathBuf, Vec<u8>) {
    static FILES: std::sync::OnceLock<(PathBuf, PathBuf, Vec<u8>)> = std::sync::OnceLock::new();
    FILES.get_or_init(write_cert_files).clone()
}

pub fn write_cert_files() -> (PathBuf, PathBuf, Vec<u8>) {
    let all: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    let v = all
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "rsa-sha256")
        .unwrap();
    let der = STANDARD.decode(v["der_b64"].as_str().unwrap()).unwrap();
    let b64 = STANDARD.encode(&der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    );
    let dir = workdir();
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    std::fs::write(&cert, pem).unwrap();
    std::fs::write(&key, v["private_key_pem"].as_str().unwrap()).unwrap();
    (cert, key, der)
}

pub fn users_file() -> PathBuf {
    static FILE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(write_users_file).clone()
}

pub fn write_users_file() -> PathBuf {
    let mut text = String::from("TESTDOM:alice:userpw\n");
    for i in 0..USERS {
        text.push_str(&format!("TESTDOM:user{i}:pw-{i}\n"));
    }
    let path = workdir().join("users");
    std::fs::write(&path, text).unwrap();
    path
}

pub fn example_binary() -> PathBuf {
    // `cargo test --test e2e` does not rebuild examples: build it (a no-op when up to date).
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let release = std::env::current_exe()
            .unwrap()
            .components()
            .any(|c| c.as_os_str() == "release");
        // Build it with the features this test binary was built with, so that test files built
        // together never overwrite each other's server binary.
        let features = if cfg!(feature = "gssapi") {
            "gssapi"
        } else {
            ""
        };
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--example",
                "server",
                "--features",
                features,
            ])
            .args(release.then_some("--release"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "building examples/server failed");
    });
    // target/<profile>/deps/e2e-HASH → target/<profile>/examples/server
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join("examples").join("server");
    assert!(
        path.exists(),
        "{} missing: cargo test builds examples",
        path.display()
    );
    path
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// What the server printed on stdout before "listening on".
    pub banner: String,
    log: PathBuf,
    http: bool,
}

impl Server {
    pub fn start(extra: &[&str]) -> Self {
        Self::start_with_env(extra, &[])
    }

    /// Starts the server with extra environment variables (a Kerberos realm's, say).
    pub fn start_with_env(extra: &[&str], env: &[(String, String)]) -> Self {
        let (cert, key, _) = cert_files();
        Self::launch(&Launch {
            extra,
            env,
            cert: Some((&cert, &key)),
            ..Launch::default()
        })
    }

    /// Starts the server as `launch` says: under a wrapper (`prlimit ...`), with its own
    /// certificate, a configuration file.
    pub fn launch(launch: &Launch<'_>) -> Self {
        let log = workdir().join(format!("server-{}.log", rand_suffix()));
        let mut cmd = match launch.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(example_binary());
                c
            }
            None => Command::new(example_binary()),
        };
        cmd.args(["--listen", "127.0.0.1:0", "--users"])
            .arg(users_file())
            .args(["--domain", "TESTDOM"]);
        if let Some((cert, key)) = launch.cert {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if let Some(text) = launch.config {
            let path = workdir().join(format!("server-{}.toml", rand_suffix()));
            std::fs::write(&path, text).unwrap();
            cmd.arg("--config").arg(path);
        }
        let mut child = cmd
            .args(launch.extra)
            .env("RUST_LOG", "epa=info")
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let mut banner = String::new();
        let addr = loop {
            banner.push_str(&line);
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "server exited: {}",
                std::fs::read_to_string(&log).unwrap()
            );
            if let Some(rest) = line.trim().strip_prefix("listening on ") {
                break rest.split("://").nth(1).unwrap().parse().unwrap();
            }
        };
        Server {
            child,
            addr,
            banner,
            log,
            http: launch.extra.contains(&"--http"),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `HUP`, ...) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {name}");
    }

    /// Waits at most `within` for the process to exit.
    pub fn wait_exit(&mut self, within: std::time::Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        while start.elapsed() < within {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    /// The process's resident set size (KiB), from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    pub fn url(&self, host: &str) -> String {
        let scheme = if self.http { "http" } else { "https" };
        format!("{scheme}://{host}:{}/", self.addr.port())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How [`Server::launch`] starts the example.
#[derive(Default)]
pub struct Launch<'a> {
    /// Flags after the standard ones.
    pub extra: &'a [&'a str],
    /// Environment variables.
    pub env: &'a [(String, String)],
    /// `--cert`/`--key` (the test vector's by default in [`Server::start`]).
    pub cert: Option<(&'a Path, &'a Path)>,
    /// A configuration file's text (`--config`).
    pub config: Option<&'a str>,
    /// A wrapper program and its arguments, e.g. `["prlimit", "--nofile=64:64", "--"]`.
    pub wrapper: &'a [&'a str],
}

/// Raises this process's soft open-file limit to its hard limit (prlimit(1)); returns it.
pub fn raise_file_limit() -> u64 {
    let pid = std::process::id().to_string();
    let out = Command::new("prlimit")
        .args([
            "--pid",
            &pid,
            "--nofile",
            "--raw",
            "--noheadings",
            "--output",
            "HARD",
        ])
        .output()
        .unwrap();
    let hard = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let status = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={hard}:{hard}")])
        .status()
        .unwrap();
    assert!(status.success());
    hard.parse().unwrap_or(u64::MAX)
}

pub fn start_http(extra: &[&str]) -> Server {
    Server::start(&[&["--http"], extra].concat())
}

pub fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("EPA_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python");
    assert!(
        p.exists(),
        "{} missing: run ./scripts/test, which creates the venv with requests-ntlm",
        p.display()
    );
    p
}

/// requests-ntlm: (status, body).
pub fn requests_ntlm(url: &str, user: &str, password: &str, cbt: bool) -> (u16, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/ntlm_get.py");
    let mut cmd = Command::new(python());
    cmd.arg(script).args([url, user, password]);
    if !cbt {
        cmd.arg("--no-cbt");
    }
    let out = cmd.output().unwrap();
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

/// curl --ntlm (Debian 12's curl sends no channel binding): (status, body).
pub fn curl_ntlm(url: &str, user: &str, password: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-sk",
            "--ntlm",
            "-u",
            &format!("{user}:{password}"),
            "-w",
            "\n%{http_code}",
            url,
        ])
        .output()
        .expect("curl is installed by ./scripts/test");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_owned())
}

pub mod realm;

pub mod relay {
    use super::*;
    use tokio::io::copy_bidirectional;
    use tokio::net::{TcpListener, TcpStream};

    /// A TLS-terminating man in the middle: its own certificate towards the client, a new TLS
    /// connection to the real server for each client connection, bytes copied both ways.
    pub fn start(upstream: SocketAddr) -> SocketAddr {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
                let key =
                    rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())
                        .unwrap();
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let server = rustls::ServerConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_no_client_auth()
                    .with_single_cert(vec![cert.cert.der().clone()], key)
                    .unwrap();
                let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
                let connector = tokio_rustls::TlsConnector::from(Arc::new(insecure_client()));
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let (tcp, _) = listener.accept().await.unwrap();
                    let (acceptor, connector) = (acceptor.clone(), connector.clone());
                    tokio::spawn(async move {
                        let Ok(mut client_side) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let up = TcpStream::connect(upstream).await.unwrap();
                        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                        let mut server_side = connector.connect(name, up).await.unwrap();
                        let _ = copy_bidirectional(&mut client_side, &mut server_side).await;
                    });
                }
            });
        });
        rx.recv().unwrap()
    }
}

/// A TLS client that accepts any server certificate (the tests pin nothing; the relay is the point).
pub fn insecure_client() -> rustls::ClientConfig {
    let mut c = epa::hyper::testing::insecure_client_config(rustls::DEFAULT_VERSIONS).unwrap();
    c.alpn_protocols.clear();
    c
}

/// The `epa` command (crates/epa-cli), built on first use (`cargo test` of the facade does not
/// build other packages' binaries).
pub fn epa_binary() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // With the backends this test binary was built with, so that every test binary of one
        // `cargo test` run builds the same `epa` (and never overwrites another's).
        let features: Vec<&str> = [
            cfg!(feature = "gssapi").then_some("gssapi"),
            cfg!(feature = "winbind").then_some("winbind"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "epa-cli", "--bin", "epa"])
            .args(["--features", &features.join(",")])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "building the epa command failed");
    });
    // target/<profile>/deps/proxy-HASH → target/<profile>/epa
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("epa")
}

/// A child process killed (and reaped) when dropped.
#[derive(Debug)]
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the child's stdout until a line starting with `prefix`; returns the rest of it (and
/// keeps draining stdout so the child never blocks on a full pipe).
pub fn wait_stdout_line(child: &mut std::process::Child, prefix: &str) -> String {
    use std::io::BufRead as _;
    let out = child.stdout.take().expect("stdout piped");
    let mut lines = std::io::BufReader::new(out).lines();
    loop {
        let line = lines
            .next()
            .expect("process exited before printing the line")
            .unwrap();
        if let Some(rest) = line.strip_prefix(prefix) {
            std::thread::spawn(move || for _ in lines {});
            return rest.trim().to_owned();
        }
    }
}

/// `epa serve --config FILE --users <users> --domain TESTDOM` with `config` written to FILE:
/// the process and the address it printed (`listening on http(s)://ADDR`); `Err(stderr)` when
/// it exits instead.
pub fn epa_serve(config: &str) -> Result<(ChildGuard, SocketAddr), String> {
    use std::io::BufRead as _;
    let file = workdir().join(format!(
        "serve-{}-{}.toml",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::write(&file, config).unwrap();
    let mut child = Command::new(epa_binary())
        .args(["serve", "--config"])
        .arg(&file)
        .arg("--users")
        .arg(users_file())
        .args(["--domain", "TESTDOM"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = std::io::BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split_once("listening on ").map(|(_, r)| r) {
            let addr = rest.rsplit_once("://").map_or(rest, |(_, a)| a);
            std::thread::spawn(move || for _ in lines {});
            // Keep draining stderr too (the log).
            if let Some(err) = child.stderr.take() {
                std::thread::spawn(move || for _ in std::io::BufReader::new(err).lines() {});
            }
            return Ok((ChildGuard(child), addr.trim().parse().unwrap()));
        }
    }
    let out = child.wait_with_output().unwrap();
    Err(String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The Python echo upstream (tests/clients/echo_upstream.py) and its port.
pub fn python_upstream() -> (ChildGuard, u16) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/echo_upstream.py");
    let mut up = ChildGuard(
        Command::new(python())
            .arg(script)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let port = wait_stdout_line(&mut up.0, "port ").parse().unwrap();
    (up, port)
}

/// Every path the Python upstream has seen (its `/_log`, asked directly).
pub fn upstream_paths(port: u16) -> Vec<String> {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            &format!("http://127.0.0.1:{port}/_log"),
        ])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A TLS-terminating front proxy (a load balancer's TLS offload): `cert` towards the client
/// (made with `rcgen::generate_simple_self_signed`), plain TCP to `upstream`, bytes copied
/// both ways. Returns its address.
pub fn tls_front(upstream: SocketAddr, cert: rcgen::CertifiedKey<rcgen::KeyPair>) -> SocketAddr {
    use tokio::io::copy_bidirectional;
    use tokio::net::{TcpListener, TcpStream};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())
                .unwrap();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let server = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.cert.der().clone()], key)
                .unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut client_side) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut server_side) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = copy_bidirectional(&mut client_side, &mut server_side).await;
                });
            }
        });
    });
    rx.recv().unwrap()
}

/// One `curl --ntlm` login as `user` (`DOMAIN\\name`) from the local source address `from`
/// (127.0.0.x: distinct client addresses on loopback) to `https://localhost:port/`: the status
/// (0 when curl got none within `max_time` seconds).
pub fn curl_ntlm_from(port: u16, from: &str, user: &str, password: &str, max_time: u32) -> u16 {
    let out = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--max-time", &max_time.to_string()])
        .args(["--interface", from])
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .args(["--ntlm", "-u", &format!("{user}:{password}")])
        .arg(format!("https://localhost:{port}/"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}
