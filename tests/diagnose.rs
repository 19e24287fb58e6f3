//! `[diagnostics]` of `epa serve` end to end: the `epa` command started by each test on
//! 127.0.0.1:0 with the shared test certificate, real TLS, and clients nobody here wrote
//! (requests-ntlm sends the channel binding, curl `--ntlm` none, the TLS relay of
//! `tests/support` makes the binding a mismatch) next to our own NTLM client for what they
//! cannot do: several requests on one keep-alive connection, a chosen target name.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use epa::hyper::ntlm::client::{ClientBinding, NtlmClient};
use http::Request;
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

/// `epa serve --config FILE --users FILE`, killed on drop.
struct Serve {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Serve {
    /// Starts `epa serve` with the shared certificate, `[policy]` when-supported, and `extra`.
    fn start(extra: &str) -> Self {
        Self::start_with_env(extra, &[])
    }

    fn start_with_env(extra: &str, env: &[(String, String)]) -> Self {
        let (cert, key, _) = support::cert_files();
        let dir = support::workdir();
        let n = support::rand_suffix();
        let file = dir.join(format!("diagnose-{n}.toml"));
        std::fs::write(
            &file,
            format!(
                "[listener]\ncertificate_file = {cert:?}\nkey_file = {key:?}\n\
                 [policy]\nenforcement = \"when-supported\"\nprefixes = [\"https://localhost/\"]\n{extra}"
            ),
        )
        .unwrap();
        let log = dir.join(format!("diagnose-{n}.log"));
        let mut child = Command::new(support::epa_binary())
            .args(["serve", "--domain", "TESTDOM", "--address", "127.0.0.1:0"])
            .arg("--config")
            .arg(&file)
            .arg("--users")
            .arg(support::users_file())
            .env("RUST_LOG", "epa=info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "epa serve exited: {}",
                std::fs::read_to_string(&log).unwrap()
            );
            if let Some(a) = line.trim().strip_prefix("listening on https://") {
                break a.parse().unwrap();
            }
        };
        // Keep draining stdout so that the server never writes to a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while out.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        Self { child, addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ON: &str = "[diagnostics]\nenabled = true\n";
const PAGE: &str = "/_epa/diagnose?format=json";

/// The rows of the report's table for `enforcement`.
fn rows<'a>(report: &'a Value, enforcement: &str) -> Vec<&'a Value> {
    report["table"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["enforcement"] == enforcement)
        .collect()
}

/// The binding hash an honest client of the shared certificate sends.
fn served_binding() -> [u8; 16] {
    let (_, _, der) = support::cert_files();
    epa::GssChannelBindings::from(&epa::tls_server_end_point(&der).unwrap().binding)
        .md5()
        .unwrap()
        .0
}

#[test]
fn requests_ntlm_with_the_binding_is_reported_matching_and_accepted() {
    let serve = Serve::start(ON);
    let (status, body) = support::requests_ntlm(&serve.url(PAGE), "TESTDOM\\alice", "userpw", true);
    assert_eq!(status, 200, "{body}");
    let r: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(r["admits"], "nothing");
    assert_eq!(r["mechanism"], "ntlm");
    assert_eq!(r["backend"], "completed");
    assert_eq!(r["user"], "TESTDOM\\alice");
    // Why NTLM (issue #22): the embedded backend has no Kerberos to offer.
    let notes = r["notes"].to_string();
    assert!(notes.contains("accepts NTLM only"), "{notes}");
    assert_eq!(r["ntlm"]["response"], "ntlmv2");
    assert_eq!(r["ntlm"]["channel_bindings"], "matching");
    assert_eq!(r["ntlm"]["mic_present"], true);
    // pyspnego writes the service class in lower case.
    assert!(
        r["ntlm"]["target_name"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("HTTP/localhost"),
        "{r:#}"
    );
    let equals: Vec<&str> = r["ntlm"]["equals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        equals.contains(&"this connection's tls-server-end-point (what this listener expects)"),
        "{equals:?}"
    );
    assert!(
        equals
            .iter()
            .any(|e| e.starts_with("this listener's certificate: tls-server-end-point, sha256")),
        "{equals:?}"
    );
    assert_eq!(r["outcome"]["accepted"], true);
    assert_eq!(r["outcome"]["reason"], "binding-verified");
    assert_eq!(r["route"]["enforcement"], "when-supported");
    // 20 rows, one of them this route's; a matching binding passes `always` under
    // transport-selected.
    assert_eq!(r["table"].as_array().unwrap().len(), 20);
    let this: Vec<_> = r["table"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["this_route"] == true)
        .collect();
    assert_eq!(this.len(), 1, "{this:?}");
    assert_eq!(this[0]["accepted"], true);
    assert!(
        rows(&r, "always")
            .iter()
            .filter(|row| row["scenario"] == "transport-selected")
            .all(|row| row["accepted"] == true && row["observation"] == "match"),
        "{r:#}"
    );
    // Audit-logged like any login, plus the report event.
    let log = serve.log();
    assert!(log.contains("diagnostics report"), "{log}");
    assert!(log.contains("binding-verified"), "{log}");
}

#[test]
fn curl_without_binding_is_reported_absent_and_always_would_refuse() {
    let serve = Serve::start(ON);
    let (status, body) = support::curl_ntlm(&serve.url(PAGE), "TESTDOM\\alice", "userpw");
    assert_eq!(status, 200, "{body}");
    let r: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(r["ntlm"]["channel_bindings"], "absent");
    assert!(r["ntlm"]["channel_bindings_md5"].is_null());
    assert_eq!(r["observation"], "absent");
    // This route (when-supported) accepts a legacy client; every `always` refuses it.
    assert_eq!(r["outcome"]["accepted"], true);
    let always = rows(&r, "always");
    assert_eq!(always.len(), 8);
    assert!(
        always.iter().all(|row| row["accepted"] == false),
        "{always:?}"
    );
    assert!(
        rows(&r, "never").iter().all(|row| row["accepted"] == true),
        "{r:#}"
    );
    // The readable form: a table, nothing from the client unescaped.
    let (status, html) =
        support::curl_ntlm(&serve.url("/_epa/diagnose"), "TESTDOM\\alice", "userpw");
    assert_eq!(status, 200);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("What each policy would decide"), "{html}");
}

#[test]
fn a_relayed_login_is_a_mismatch_equal_to_nothing_the_server_knows() {
    let serve = Serve::start(ON);
    let relay = support::relay::start(serve.addr);
    let url = format!("https://localhost:{}{PAGE}", relay.port());
    let (status, body) = support::requests_ntlm(&url, "TESTDOM\\alice", "userpw", true);
    assert_eq!(status, 200, "{body}");
    let r: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(r["ntlm"]["channel_bindings"], "mismatching");
    // The relay's certificate is not known to the server: honest "none".
    assert_eq!(r["ntlm"]["equals"], Value::Array(vec![]));
    assert_eq!(r["outcome"]["accepted"], false);
    assert_eq!(r["outcome"]["reason"], "binding-mismatch");
    assert!(
        r["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("relay")),
        "{r:#}"
    );
    assert!(
        rows(&r, "when-supported")
            .iter()
            .filter(|row| row["scenario"] == "transport-selected")
            .all(|row| row["accepted"] == false),
        "{r:#}"
    );
}

#[test]
fn diagnostics_off_is_the_normal_route() {
    let serve = Serve::start("");
    let (status, body) = support::requests_ntlm(&serve.url(PAGE), "TESTDOM\\alice", "userpw", true);
    // The hello page behind the [policy] layer, as on any other path.
    assert_eq!(status, 200);
    assert_eq!(body, "hello TESTDOM\\alice\n");
    let serve = Serve::start("[diagnostics]\nenabled = false\npath = \"/d\"\n");
    let (status, body) = support::requests_ntlm(&serve.url("/d"), "TESTDOM\\alice", "userpw", true);
    assert_eq!((status, body.as_str()), (200, "hello TESTDOM\\alice\n"));
}

/// The Python echo upstream (tests/clients/echo_upstream.py), killed on drop, and its port.
struct Upstream(Child, u16);

impl Upstream {
    fn start() -> Self {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/echo_upstream.py");
        let mut child = Command::new(support::python())
            .arg(script)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = loop {
            let line = lines.next().expect("echo upstream exited").unwrap();
            if let Some(p) = line.strip_prefix("port ") {
                break p.trim().parse().unwrap();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self(child, port)
    }

    /// Every path it has been asked for.
    fn paths(&self) -> Vec<String> {
        let out = Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "10",
                &format!("http://127.0.0.1:{}/_log", self.1),
            ])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn in_front_of_the_proxy_the_page_answers_and_other_paths_are_proxied() {
    let up = Upstream::start();
    let upstream = format!("[upstream]\nurl = \"http://127.0.0.1:{}\"\n", up.1);
    let serve = Serve::start(&format!("{upstream}{ON}"));
    let (status, body) = support::requests_ntlm(&serve.url(PAGE), "TESTDOM\\alice", "userpw", true);
    assert_eq!(status, 200, "{body}");
    let r: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(r["ntlm"]["channel_bindings"], "matching");
    let (status, body) =
        support::requests_ntlm(&serve.url("/app"), "TESTDOM\\alice", "userpw", true);
    assert_eq!(status, 200, "{body}");
    assert_eq!(up.paths(), ["/app"]);
    // Off: the path is an ordinary proxied path.
    let serve = Serve::start(&upstream);
    let (status, _) = support::requests_ntlm(&serve.url(PAGE), "TESTDOM\\alice", "userpw", true);
    assert_eq!(status, 200);
    assert_eq!(up.paths(), ["/app", "/_epa/diagnose?format=json"]);
}

// ---- one keep-alive connection, our own client ---------------------------------------------

struct Conn {
    sender: http1::SendRequest<Empty<bytes::Bytes>>,
}

struct Reply {
    status: u16,
    challenge: Option<Vec<u8>>,
    body: String,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Self {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(support::insecure_client()));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        let (sender, conn) = http1::handshake(TokioIo::new(tls)).await.unwrap();
        tokio::spawn(conn);
        Conn { sender }
    }

    async fn get(&mut self, path: &str, token: Option<&[u8]>) -> Reply {
        let mut req = Request::get(path).header("host", "localhost");
        if let Some(t) = token {
            req = req.header("authorization", format!("NTLM {}", STANDARD.encode(t)));
        }
        self.sender.ready().await.unwrap();
        let resp = self
            .sender
            .send_request(req.body(Empty::new()).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let challenge = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok()?.strip_prefix("NTLM "))
            .find_map(|b64| STANDARD.decode(b64).ok());
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            challenge,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Both legs of an NTLM login on `path`: the final reply.
    async fn login(&mut self, path: &str, mut client: NtlmClient) -> Reply {
        let first = self.get(path, Some(&client.negotiate())).await;
        assert_eq!(first.status, 401);
        let challenge = first.challenge.expect("an NTLM CHALLENGE");
        let auth = client.authenticate(&challenge).unwrap();
        self.get(path, Some(&auth)).await
    }
}

fn alice() -> NtlmClient {
    NtlmClient::new("TESTDOM", "alice", "userpw")
        .binding(ClientBinding::Hash(served_binding()))
        .target_name(Some("HTTP/localhost"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diagnose_login_authenticates_nothing_on_the_connection() {
    let serve = tokio::task::spawn_blocking(|| Serve::start(ON))
        .await
        .unwrap();
    let mut c = Conn::open(serve.addr).await;
    // No header: the usual challenge, no report.
    let r = c.get(PAGE, None).await;
    assert_eq!((r.status, r.body.as_str()), (401, ""));
    // A login the route accepts: reported, and the next request elsewhere is challenged.
    let r = c.login(PAGE, alice()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let report: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(report["outcome"]["accepted"], true);
    assert_eq!(c.get("/", None).await.status, 401);
    // Nor does it authenticate the page itself for a later request without a header.
    assert_eq!(c.get(PAGE, None).await.status, 401);
    // A login the route refuses (wrong binding): reported, nothing authenticated.
    let r = c
        .login(PAGE, alice().binding(ClientBinding::Hash([7; 16])))
        .await;
    let report: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(report["outcome"]["reason"], "binding-mismatch");
    assert_eq!(report["ntlm"]["channel_bindings"], "mismatching");
    assert_eq!(c.get("/", None).await.status, 401);
    // The same connection still logs in normally on the other route.
    let r = c.login("/", alice()).await;
    assert_eq!((r.status, r.body.as_str()), (200, "hello TESTDOM\\alice\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_only_refused_by_the_backend() {
    let serve = tokio::task::spawn_blocking(|| Serve::start(ON))
        .await
        .unwrap();
    let mut c = Conn::open(serve.addr).await;
    let report = |r: Reply| -> Value { serde_json::from_str(&r.body).unwrap() };
    let wrong = report(
        c.login(PAGE, NtlmClient::new("TESTDOM", "alice", "wrong"))
            .await,
    );
    let unknown = report(
        c.login(PAGE, NtlmClient::new("TESTDOM", "nobody", "wrong"))
            .await,
    );
    for r in [&wrong, &unknown] {
        assert_eq!(r["backend"], "refused-by-the-backend");
        assert_eq!(r["outcome"]["reason"], "refused-by-the-backend");
        assert!(r["user"].is_null());
        assert_eq!(r["table"], Value::Array(vec![]));
        // Issue #20 item 15: nothing of the server for a client without a valid account —
        // not the route's policy and service names, not the bindings it compares with.
        assert!(r["route"].is_null(), "{r}");
        assert_eq!(r["ntlm"]["candidates"], Value::Array(vec![]), "{r}");
        assert_eq!(r["ntlm"]["equals"], Value::Array(vec![]), "{r}");
        let state = &r["ntlm"]["channel_bindings"];
        assert!(state != "matching" && state != "mismatching", "{r}");
    }
    // Nothing but the name typed tells the two apart.
    let strip = |mut v: Value| {
        v["ntlm"]["user_sent"] = Value::Null;
        v
    };
    assert_eq!(strip(wrong), strip(unknown));
    assert_eq!(c.get("/", None).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_text_is_escaped_in_the_page() {
    let serve = tokio::task::spawn_blocking(|| Serve::start(ON))
        .await
        .unwrap();
    let mut c = Conn::open(serve.addr).await;
    let evil = "HTTP/<script>alert(1)</script>\u{202e}";
    let r = c
        .login(
            "/_epa/diagnose",
            alice()
                .binding(ClientBinding::Absent)
                .target_name(Some(evil)),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("<script>"), "{}", r.body);
    assert!(!r.body.contains('\u{202e}'), "{}", r.body);
    assert!(
        r.body
            .contains("HTTP/&lt;script&gt;alert(1)&lt;/script&gt;\\u{202e}"),
        "{}",
        r.body
    );
    // Without a binding the SPN check runs and refuses the name (named in the message, escaped).
    assert!(r.body.contains("service-name-not-in-list"), "{}", r.body);
}

/// Kerberos through the GSSAPI backend: a throwaway MIT KDC (tests/kdc/setup-kdc.sh) and
/// requests-gssapi, which requires mutual authentication (the AP-REP on the report's 200).
#[cfg(feature = "gssapi")]
mod kerberos {
    use super::*;
    use std::path::Path;

    use support::realm::Realm;

    fn requests_gssapi(realm: &Realm, url: &str, cbt: bool) -> (u16, String) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/gssapi_get.py");
        let mut cmd = Command::new(support::python());
        cmd.arg(script)
            .arg(url)
            .env("KRB5_CONFIG", realm.path("krb5.conf"))
            .env("KRB5CCNAME", format!("FILE:{}", realm.path("ccache")));
        if cbt {
            cmd.arg("--cbt");
        }
        let out = cmd.output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["status"].as_u64().unwrap() as u16,
            v["body"].as_str().unwrap().to_owned(),
        )
    }

    #[test]
    fn kerberos_is_reported_bound_or_not_with_the_ticket_service() {
        let realm = Realm::start("diagnose");
        let env = vec![
            ("KRB5_CONFIG".to_owned(), realm.path("krb5.conf")),
            ("KRB5RCACHEDIR".to_owned(), realm.path("")),
        ];
        let backend = format!(
            "[backend]\nkind = \"gssapi\"\nkeytab = {:?}\n{ON}",
            realm.path("http.keytab")
        );
        let serve = Serve::start_with_env(&backend, &env);
        // requires mutual authentication: a 200 without the AP-REP would be status 0.
        let (status, body) = requests_gssapi(&realm, &serve.url(PAGE), true);
        assert_eq!(status, 200, "{body} {}", serve.log());
        let r: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(r["mechanism"], "kerberos");
        assert_eq!(r["kerberos"]["channel_bound"], true);
        assert_eq!(
            r["kerberos"]["ticket_service"],
            "HTTP/localhost@EXAMPLE.TEST"
        );
        assert!(r["ntlm"].is_null());
        assert_eq!(r["outcome"]["accepted"], true);
        // No binding: when-supported accepts, every `always` would refuse.
        let (status, body) = requests_gssapi(&realm, &serve.url(PAGE), false);
        assert_eq!(status, 200, "{body}");
        let r: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(r["kerberos"]["channel_bound"], false);
        assert_eq!(r["observation"], "absent");
        assert!(
            rows(&r, "always")
                .iter()
                .all(|row| row["accepted"] == false),
            "{r:#}"
        );
        assert!(
            rows(&r, "when-supported")
                .iter()
                .all(|row| row["accepted"] == true),
            "{r:#}"
        );
    }
}
