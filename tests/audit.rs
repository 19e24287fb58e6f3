//! Audit mode end to end: the example server enforcing `when-supported` while observing
//! `always`, with real clients (curl `--ntlm` sends no binding, requests-ntlm sends it, a live
//! relay sends the wrong one), its JSON decision log, its `/metrics` read by prometheus_client's
//! parser (not ours), `epa audit-report` over the log, and a search of the whole log for
//! secrets.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

use epa_cli::audit_report::AuditReport;
use serde_json::Value;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use support::{Server, relay, requests_ntlm};

const USER: &str = "TESTDOM\\alice";
const PASSWORD: &str = "userpw";

/// `/metrics`, parsed by prometheus_client: (name, labels, value) samples.
fn metrics(server: &Server) -> Vec<Value> {
    let text = Command::new("curl")
        .args([
            "-sk",
            &format!("https://localhost:{}/metrics", server.addr.port()),
        ])
        .output()
        .unwrap()
        .stdout;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/prometheus_parse.py");
    let mut child = Command::new(support::python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client could not parse /metrics: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&text)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The sum of a counter's samples whose labels include `labels`.
fn counter(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s["name"] == name)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .map(|s| s["value"].as_f64().unwrap())
        .sum()
}

/// The decision events of the JSON log.
fn decisions(server: &Server) -> Vec<Value> {
    server
        .log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["fields"]["decision"].is_string())
        .collect()
}

/// curl -v --ntlm: (status, every NTLM token that crossed the wire, both directions).
fn curl_ntlm_tokens(url: &str) -> (u16, Vec<String>) {
    let out = Command::new("curl")
        .args([
            "-skv",
            "--ntlm",
            "-u",
            &format!("{USER}:{PASSWORD}"),
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            url,
        ])
        .output()
        .unwrap();
    let trace = String::from_utf8_lossy(&out.stderr);
    let tokens = trace
        .lines()
        .filter_map(|l| l.split_once("NTLM ").map(|(_, t)| t.trim().to_owned()))
        .filter(|t| t.len() > 20)
        .collect();
    (
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
        tokens,
    )
}

fn nt_hash_hex(password: &str) -> String {
    use md4::Digest as _;
    let utf16: Vec<u8> = password.encode_utf16().flat_map(u16::to_le_bytes).collect();
    md4::Md4::digest(&utf16)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn observe_always_enforce_when_supported() {
    let server = Server::start(&[
        "--enforcement",
        "when-supported",
        "--target-enforcement",
        "always",
        "--metrics",
        "--log-format",
        "json",
    ]);
    assert!(
        server.banner.contains("audit: observing"),
        "{}",
        server.banner
    );
    let url = format!("https://localhost:{}/", server.addr.port());

    // curl --ntlm sends no binding: served (when-supported), one would-be rejection.
    let (status, tokens) = curl_ntlm_tokens(&url);
    assert_eq!(status, 200, "{}", server.log());
    assert!(
        tokens.len() >= 3,
        "negotiate, challenge, authenticate: {tokens:?}"
    );
    let m = metrics(&server);
    assert_eq!(
        counter(
            &m,
            "epa_audit_would_reject_total",
            &[("reason", "binding-absent")]
        ),
        1.0
    );
    assert_eq!(counter(&m, "epa_audit_would_reject_total", &[]), 1.0);
    assert_eq!(
        counter(
            &m,
            "epa_decisions_total",
            &[("decision", "accept"), ("channel_binding", "absent")]
        ),
        1.0
    );

    // requests-ntlm sends the binding: served, nothing more counted.
    let (status, body) = requests_ntlm(&url, USER, PASSWORD, true);
    assert_eq!(status, 200, "{body}");
    let m = metrics(&server);
    assert_eq!(counter(&m, "epa_audit_would_reject_total", &[]), 1.0);
    assert_eq!(
        counter(&m, "epa_decisions_total", &[("reason", "binding-verified")]),
        1.0
    );

    // The relay: refused under both, so not a would-be rejection.
    let mitm = relay::start(server.addr);
    let (status, _) = requests_ntlm(
        &format!("https://localhost:{}/", mitm.port()),
        USER,
        PASSWORD,
        true,
    );
    assert_eq!(status, 401);
    let m = metrics(&server);
    assert_eq!(counter(&m, "epa_audit_would_reject_total", &[]), 1.0);
    assert_eq!(
        counter(
            &m,
            "epa_decisions_total",
            &[("decision", "reject"), ("reason", "binding-mismatch")]
        ),
        1.0
    );
    // Handshake and authentication latencies are recorded as histograms.
    assert!(
        counter(&m, "epa_tls_handshake_seconds_count", &[]) >= 3.0,
        "{m:?}"
    );
    assert!(
        counter(
            &m,
            "epa_authentication_seconds_count",
            &[("mechanism", "ntlm")]
        ) >= 3.0
    );

    // The log: one event per decision, exactly one would-be rejection, with its fields.
    let events = decisions(&server);
    assert_eq!(events.len(), 3, "{events:?}");
    let would: Vec<&Value> = events
        .iter()
        .filter(|e| e["fields"]["audit"] == "would-reject")
        .collect();
    assert_eq!(would.len(), 1, "{events:?}");
    let f = &would[0]["fields"];
    assert_eq!(f["audit_reason"], "binding-absent");
    assert_eq!(f["decision"], "accept");
    assert_eq!(f["reason"], "binding-absent-allowed");
    assert_eq!(f["mechanism"], "ntlm");
    assert_eq!(f["channel_binding"], "absent");
    assert_eq!(f["principal"], USER);
    assert!(f["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    let mismatch = events
        .iter()
        .find(|e| e["fields"]["reason"] == "binding-mismatch")
        .unwrap();
    assert_eq!(mismatch["fields"]["audit"], "pass");
    assert_eq!(mismatch["fields"]["status"], 401);

    // audit-report over the same log.
    let report = AuditReport::from_log(&server.log());
    assert_eq!(
        (report.decisions, report.audited, report.would_reject),
        (3, 3, 1)
    );
    assert_eq!(report.by_reason[0].key, "binding-absent");
    assert_eq!(report.by_client[0].key, "127.0.0.1");
    assert_eq!(report.by_user[0].key, USER);

    // No secrets: not the password, not its NT hash, not any token that crossed the wire.
    let log = server.log();
    assert!(!log.contains(PASSWORD), "password in the log");
    let hash = nt_hash_hex(PASSWORD);
    assert!(!log.to_lowercase().contains(&hash), "NT hash in the log");
    for t in &tokens {
        assert!(!log.contains(&t[..20]), "token {t} in the log");
    }
}

#[test]
fn client_certificate_requirement_observed_not_enforced() {
    // A self-contained PKI from the test-util CA (the openssl-made one lives in client_cert.rs).
    let dir = support::workdir().join("audit-pki");
    std::fs::create_dir_all(&dir).unwrap();
    let ca = epa::hyper::testing::TestCa::new("Audit CA").unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    let server = Server::start(&[
        "--no-negotiate",
        "--client-ca",
        dir.join("ca.pem").to_str().unwrap(),
        "--revocation",
        "off",
        "--client-cert-audit",
        "--metrics",
        "--log-format",
        "json",
    ]);
    let out = Command::new("curl")
        .args([
            "-sk",
            "-w",
            "\n%{http_code}",
            &format!("https://localhost:{}/cert", server.addr.port()),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.ends_with("\n200"), "observed, not enforced: {text}");
    let m = metrics(&server);
    assert_eq!(
        counter(
            &m,
            "epa_audit_client_certificate_would_refuse_total",
            &[("reason", "client-certificate-required")]
        ),
        1.0
    );
    assert_eq!(
        counter(&m, "epa_client_certificate_refusals_total", &[]),
        0.0
    );
    assert!(
        counter(
            &m,
            "epa_client_certificates_total",
            &[("status", "not-presented")]
        ) >= 1.0
    );
    let report = AuditReport::from_log(&server.log());
    assert_eq!(report.would_reject, 1);
    assert_eq!(report.by_reason[0].key, "client-certificate-required");
}
