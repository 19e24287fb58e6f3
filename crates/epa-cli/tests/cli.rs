//! The `epa` command's contract, run as a process: output keys, exit statuses, `error:` lines.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const VECTORS: &str = include_str!("../../../tests/data/channel-binding-vectors.json");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn epa(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_epa"))
        .args(args)
        .output()
        .expect("run epa");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("epa-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let p = scratch(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn vectors() -> Vec<Value> {
    serde_json::from_str(VECTORS).unwrap()
}

fn vector_file(v: &Value) -> PathBuf {
    let bytes = STANDARD.decode(v["input_b64"].as_str().unwrap()).unwrap();
    write(&format!("{}.bin", v["id"].as_str().unwrap()), &bytes)
}

#[track_caller]
fn assert_error_line(r: &Run, mentions: &str) {
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    assert!(r.stdout.is_empty(), "stdout must be empty: {}", r.stdout);
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert!(
        r.stderr.to_lowercase().contains(&mentions.to_lowercase()),
        "error should mention {mentions:?}: {}",
        r.stderr
    );
}

#[test]
fn cbt_json_matches_every_certificate_vector() {
    for v in vectors().iter().filter(|v| v["category"] == "certificate") {
        let id = v["id"].as_str().unwrap();
        let path = vector_file(v);
        let r = epa(&["cbt", "--json", path.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{id}: {}", r.stderr);
        let got: Value = serde_json::from_str(r.stdout.trim()).unwrap();
        assert_eq!(got["binding_type"], "tls-server-end-point", "{id}");
        assert_eq!(got["hash_algorithm"], v["cb_hash"], "{id}");
        assert_eq!(got["hash_hex"], v["cb_hash_hex"], "{id}");
        for key in [
            "application_data_hex",
            "gss_channel_bindings_hex",
            "channel_bindings_md5_hex",
        ] {
            assert_eq!(got[key], v[key], "{id}: {key}");
        }
        let basis = if v["rfc5929_defined"].as_bool().unwrap() {
            "rfc5929"
        } else {
            "not-defined-by-rfc5929"
        };
        assert!(
            got["hash_basis"].as_str().unwrap().starts_with(basis),
            "{id}: {}",
            got["hash_basis"]
        );
    }
}

#[test]
fn cbt_human_output_names_hash_and_md5() {
    let v = vectors()
        .into_iter()
        .find(|v| v["id"] == "ecdsa-p384-sha384-pem-crlf")
        .unwrap();
    let r = epa(&["cbt", vector_file(&v).to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("sha384"));
    assert!(r.stdout.contains(v["cb_hash_hex"].as_str().unwrap()));
    assert!(
        r.stdout
            .contains(v["channel_bindings_md5_hex"].as_str().unwrap())
    );
}

#[test]
fn cbt_malformed_input_is_one_error_line_and_exit_1() {
    let expected_words = [
        ("malformed-truncated", "truncated"),
        ("malformed-trailing-zeros", "trailing"),
        ("malformed-wrong-outer-tag", "wrong tag"),
        ("malformed-length-overflow-32", "overflow"),
        ("malformed-non-minimal-length", "non-minimal"),
        ("malformed-empty", "empty"),
        ("malformed-pem-bad-base64", "base64"),
    ];
    for (id, word) in expected_words {
        let v = vectors().into_iter().find(|v| v["id"] == id).unwrap();
        assert_error_line(
            &epa(&["cbt", "--json", vector_file(&v).to_str().unwrap()]),
            word,
        );
    }
}

#[test]
fn cbt_strict_refuses_ed25519_and_missing_files_are_errors() {
    let v = vectors()
        .into_iter()
        .find(|v| v["id"] == "ed25519")
        .unwrap();
    assert_error_line(
        &epa(&["cbt", "--strict", vector_file(&v).to_str().unwrap()]),
        "Ed25519",
    );
    assert_error_line(&epa(&["cbt", "/nonexistent/cert.pem"]), "cannot read");
}

#[test]
fn spn_normalize_prints_the_stored_spelling() {
    let r = epa(&[
        "spn",
        "normalize",
        "HTTP/xn--bcher-kva.example:8080/svc",
        "HTTP/Host:80",
        "HTTP/[::1]",
    ]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        "HTTP/bücher.example:8080/svc\nHTTP/Host:80\nHTTP/[::1]\n"
    );
    let r = epa(&["spn", "normalize", "--json", "HTTP/web01"]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["dotless"], true);
    assert_eq!(v[0]["host_kind"], "dns");
    let r = epa(&["spn", "normalize", ""]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with("error: "));
}

#[test]
fn spn_check_exit_status_is_membership() {
    let yes = epa(&[
        "spn",
        "check",
        "--name",
        "HTTP/www.contoso.com",
        "--name",
        "HTTP/b.example",
        "http/WWW.CONTOSO.COM",
    ]);
    assert_eq!(yes.code, 0, "{}", yes.stdout);
    let no = epa(&[
        "spn",
        "check",
        "--name",
        "HTTP/www.contoso.com",
        "HTTP/www.contoso.com:80",
    ]);
    assert_eq!(no.code, 1, "{}", no.stdout);
    let idn = epa(&[
        "spn",
        "check",
        "--name",
        "HTTP/bücher.example",
        "HTTP/xn--bcher-kva.example",
    ]);
    assert_eq!(idn.code, 0);
    let by_prefix = epa(&[
        "spn",
        "check",
        "--prefix",
        "https://www.contoso.com:8443/",
        "HTTP/www.contoso.com",
    ]);
    assert_eq!(by_prefix.code, 0);
    let bad = epa(&["spn", "check", "--name", "", "HTTP/x"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.starts_with("error: "));
    assert_eq!(epa(&["spn", "check", "HTTP/x"]).code, 2);
}

const SCENARIO: &str = r#"
[policy]
enforcement = "always"
service_names = ["HTTP/www.contoso.com"]

[[case]]
name = "EP client over HTTP names an unknown SPN"
transport = "http"
mechanism = "ntlm"
server_supports_ep = true
channel_binding = "unbound"
client_spn = "HTTP/evil.example"
expect = "reject"
expect_service_name = "HTTP/evil.example"

[[case]]
name = "legacy client"
transport = "http"
channel_binding = "absent"
expect = "reject"
expect_no_service_name = true

[[case]]
name = "empty"
transport = "http"
channel_binding = "unbound"
client_spn = ""
expect = "reject"
"#;

#[test]
fn policy_eval_json_shape() {
    let path = write("scenario.toml", SCENARIO.as_bytes());
    let r = epa(&["policy", "eval", "--json", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["name"], "EP client over HTTP names an unknown SPN");
    assert_eq!(rows[0]["decision"], "reject");
    assert_eq!(rows[0]["status"], 401);
    assert_eq!(rows[0]["service_name"], "HTTP/evil.example");
    assert_eq!(rows[0]["reason"], "service-name-not-in-list");
    assert!(
        rows[0]["message"]
            .as_str()
            .unwrap()
            .contains("HTTP/evil.example")
    );
    assert_eq!(rows[1]["service_name"], Value::Null);
    assert_eq!(rows[2]["service_name"], "");
    assert_eq!(rows[2]["reason"], "service-name-empty");
    for row in rows {
        let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 6, "{keys:?}");
    }
}

#[test]
fn policy_test_exit_status_follows_expectations() {
    let path = write("pass.toml", SCENARIO.as_bytes());
    let r = epa(&["policy", "test", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("3 passed, 0 failed"));
    let wrong = SCENARIO.replacen("expect = \"reject\"", "expect = \"accept\"", 1);
    let path = write("fail.toml", wrong.as_bytes());
    let r = epa(&["policy", "test", path.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("FAIL EP client over HTTP names an unknown SPN"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("2 passed, 1 failed"));
}

#[test]
fn invalid_policies_exit_1_with_an_error_line() {
    let cases = [
        (SCENARIO.replace("\"always\"", "\"never\""), "never"),
        (
            SCENARIO.replace("[\"HTTP/www.contoso.com\"]", "[]"),
            "empty",
        ),
        (
            SCENARIO.replace("enforcement", "enforcment"),
            "unknown field",
        ),
        (
            SCENARIO.replace("\"unbound\"", "\"zero\""),
            "unknown variant",
        ),
        (
            "[policy]\ntoken_checking = \"allow\"\nflags = [\"proxy-cohosting\"]\n".to_string(),
            "ProxyCohosting",
        ),
        ("not toml at all [".to_string(), "invalid scenario file"),
    ];
    for (i, (text, word)) in cases.iter().enumerate() {
        let path = write(&format!("bad{i}.toml"), text.as_bytes());
        assert_error_line(&epa(&["policy", "eval", path.to_str().unwrap()]), word);
        assert_error_line(&epa(&["policy", "test", path.to_str().unwrap()]), word);
    }
    let path = write("binary.toml", &[0xff, 0xfe, 0x00]);
    assert_error_line(&epa(&["policy", "eval", path.to_str().unwrap()]), "UTF-8");
}

#[test]
fn shipped_example_policies_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            seen += 1;
            let r = epa(&["policy", "test", path.to_str().unwrap()]);
            assert_eq!(r.code, 0, "{}: {}{}", path.display(), r.stdout, r.stderr);
        }
    }
    assert!(seen >= 3);
}

#[test]
fn help_explains_each_command() {
    let r = epa(&["--help"]);
    assert_eq!(r.code, 0);
    for cmd in ["cbt", "spn", "policy"] {
        assert!(r.stdout.contains(cmd));
    }
    let r = epa(&["cbt", "--help"]);
    assert!(r.stdout.contains("RFC 5929"));
}

/// #12: `epa iis --help` showed the lint text and `epa lint --help` showed none. Each command's
/// help shows its own text and not another's.
#[test]
fn iis_and_lint_help_each_show_their_own_text() {
    let lint_text = "Check a server configuration file";
    let iis_text = "IIS and http.sys configurations";
    let r = epa(&["iis", "--help"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(iis_text), "{}", r.stdout);
    assert!(!r.stdout.contains(lint_text), "{}", r.stdout);
    let r = epa(&["lint", "--help"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(lint_text), "{}", r.stdout);
    assert!(!r.stdout.contains(iis_text), "{}", r.stdout);
    // The overview lists both with their own one-line summaries.
    let r = epa(&["--help"]);
    let line = |cmd: &str| {
        r.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{cmd} ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("lint").contains(lint_text), "{}", r.stdout);
    assert!(line("iis").contains(iis_text), "{}", r.stdout);
    // Every command has a summary in the overview.
    for cmd in ["cbt", "spn", "policy", "lint", "iis", "audit-report"] {
        let l = line(cmd);
        assert!(l.len() > cmd.len() + 8, "no summary for {cmd}: {l:?}");
    }
}

/// A CA certificate (PEM) with a long subject, made by openssl.
fn long_subject_ca() -> String {
    static PEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PEM.get_or_init(|| {
        let key = scratch("lint-ca.key");
        let cert = scratch("lint-ca.pem");
        // Attribute values are limited to 64 characters (RFC 5280 upper bounds): many OUs.
        let long = "Certification Authority With A Deliberately Long Name 0123";
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "30",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .args([
                "-subj",
                &format!("/CN={long}/O={long}{}", format!("/OU={long}").repeat(4)),
            ])
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl is installed");
        assert!(status.success());
        std::fs::read_to_string(&cert).unwrap()
    })
    .clone()
}

fn lint_file(name: &str, toml: &str) -> PathBuf {
    write(name, toml.as_bytes())
}

#[test]
fn lint_reports_findings_with_fix_and_exit_status() {
    let pem = long_subject_ca();
    write("lint-one.pem", pem.as_bytes());
    write("lint-big.pem", pem.repeat(50).as_bytes());
    write("lint.crl", b"unused by lint");
    let good = "[client_certificates]\nca_files = [\"lint-one.pem\"]\ncrl_files = [\"lint.crl\"]\nrequired_paths = [\"/cert\"]\n[policy]\nenforcement = \"always\"\nservice_names = [\"HTTP/www.example.com\"]\n";
    let r = epa(&["lint", lint_file("good.toml", good).to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("0 error(s), 0 warning(s), 0 info"),
        "{}",
        r.stdout
    );

    // Over 16 KiB of CA names: a warning naming the size; exit 0 (a warning is not an error).
    let big = good.replace("lint-one.pem", "lint-big.pem");
    let r = epa(&[
        "lint",
        "--json",
        lint_file("big.toml", &big).to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["warnings"], 1);
    let f = &v["findings"][0];
    assert_eq!(f["code"], "ca-hints-over-schannel-limit");
    assert_eq!(f["severity"], "warning");
    let size: usize = f["why"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap();
    assert!(size > 16_384 && size < 65_535, "{size}");
    assert!(f["fix"].as_str().unwrap().contains("hints"));
    // The same bundle with no hints: no finding.
    let none = big.replace("required_paths", "hints = \"none\"\nrequired_paths");
    let r = epa(&["lint", lint_file("none.toml", &none).to_str().unwrap()]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("0 warning(s)"), "{}", r.stdout);
    // 200 copies: over the TLS limit, an error, exit 1.
    write("lint-huge.pem", pem.repeat(200).as_bytes());
    let r = epa(&[
        "lint",
        lint_file("huge.toml", &good.replace("lint-one.pem", "lint-huge.pem"))
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("error[ca-hints-over-tls-limit]"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("  fix: "), "{}", r.stdout);

    // Error-level findings exit 1: a trusted proxy without addresses; a missing CA file.
    let proxy = "[listener]\nnegotiate = true\n[policy]\nenforcement = \"always\"\nscenario = \"trusted-proxy\"\nservice_names = [\"HTTP/www.example.com\"]\n";
    let r = epa(&["lint", lint_file("proxy.toml", proxy).to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("error[trusted-proxy-without-addresses]"),
        "{}",
        r.stdout
    );
    let missing = good.replace("lint-one.pem", "no-such.pem");
    let r = epa(&[
        "lint",
        lint_file("missing.toml", &missing).to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("error[ca-file-unreadable]") && r.stdout.contains("no-such.pem"),
        "{}",
        r.stdout
    );
    let garbage = write(
        "lint-garbage.pem",
        b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
    );
    let r = epa(&[
        "lint",
        lint_file(
            "garbage.toml",
            &good.replace(
                "lint-one.pem",
                garbage.file_name().unwrap().to_str().unwrap(),
            ),
        )
        .to_str()
        .unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("certificate #1"), "{}", r.stdout);
}

#[test]
fn lint_refuses_unusable_files_with_exit_2() {
    for (name, text, mentions) in [
        ("typo.toml", "[listener]\nnegociate = true\n", "negociate"),
        (
            "badmode.toml",
            "[client_certificates]\nmode = \"sometimes\"\n",
            "sometimes",
        ),
        ("notoml.toml", "[listener\n", "line 1"),
    ] {
        let r = epa(&["lint", lint_file(name, text).to_str().unwrap()]);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(r.stdout.is_empty());
        assert!(
            r.stderr.starts_with("error: ") && r.stderr.contains(mentions),
            "{name}: {}",
            r.stderr
        );
    }
    let r = epa(&["lint", "/nonexistent/epa.toml"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot read"));
}

#[test]
fn the_example_configuration_lints_clean_but_for_its_absent_files() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/config/server.toml");
    let r = epa(&["lint", "--json", path.to_str().unwrap()]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let codes: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["ca-file-unreadable"], "{}", r.stdout);
}

#[test]
fn audit_report_counts_who_would_break() {
    let line = |peer: &str, user: &str, reason: &str, audit: &str| {
        format!(
            r#"{{"timestamp":"t","level":"INFO","fields":{{"message":"m","decision":"accept","reason":"x","audit":"{audit}","audit_reason":"{reason}","peer":"{peer}","principal":"{user}"}},"target":"epa"}}"#
        )
    };
    let log = [
        line(
            "10.0.0.5:1000",
            "CORP\\\\bob",
            "binding-absent",
            "would-reject",
        ),
        line(
            "10.0.0.5:1001",
            "CORP\\\\bob",
            "binding-absent",
            "would-reject",
        ),
        line(
            "10.0.0.9:1000",
            "CORP\\\\amy",
            "service-name-not-provided",
            "would-reject",
        ),
        line("10.0.0.6:1000", "CORP\\\\cy", "binding-verified", "pass"),
        "2026-11-22 some text line".to_owned(),
    ]
    .join("\n");
    let path = write("decisions.jsonl", log.as_bytes());
    let r = epa(&["audit-report", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with(
            "3 would-be rejection(s) in 4 decision(s), 4 of them audited (5 line(s), 1 not JSON)"
        ),
        "{}",
        r.stdout
    );
    let by_reason = r.stdout.split("by reason:").nth(1).unwrap();
    let first = by_reason.lines().nth(1).unwrap();
    assert!(
        first.contains('2') && first.contains("binding-absent"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("CORP\\bob") && r.stdout.contains("10.0.0.5\n"),
        "{}",
        r.stdout
    );

    let r = epa(&["audit-report", "--json", path.to_str().unwrap()]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["would_reject"], 3);
    assert_eq!(v["by_user"][0]["key"], "CORP\\bob");
    assert_eq!(v["by_user"][0]["count"], 2);
    assert_eq!(v["by_client"][1]["key"], "10.0.0.9");

    // Binary garbage is counted, not a crash; a missing file is one error line.
    let garbage = write("garbage.log", &[0xff, 0xfe, 0x00, b'\n', b'{', b'\n']);
    let r = epa(&["audit-report", garbage.to_str().unwrap()]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .starts_with("0 would-be rejection(s) in 0 decision(s)"),
        "{}",
        r.stdout
    );
    assert_error_line(&epa(&["audit-report", "/nonexistent/log"]), "cannot read");
}

#[test]
fn policy_test_checks_audit_expectations() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies/audit-rollout.toml");
    let r = epa(&["policy", "test", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("7 passed, 0 failed"), "{}", r.stdout);
    // A wrong audit expectation fails, naming it.
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "expect_would_reject = true",
        "expect_would_reject = false",
        1,
    );
    let r = epa(&[
        "policy",
        "test",
        write("audit-wrong.toml", text.as_bytes()).to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("expected would_reject false, got true"),
        "{}",
        r.stdout
    );
    // Expecting a target without one.
    let no_target = "[policy]\nenforcement = \"always\"\nservice_names = [\"HTTP/a.example\"]\n[[case]]\nname = \"c\"\ntransport = \"https\"\nchannel_binding = \"absent\"\nexpect_target = \"reject\"\n";
    let r = epa(&[
        "policy",
        "test",
        write("no-target.toml", no_target.as_bytes())
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("no target_enforcement"), "{}", r.stdout);
    // A route rule without the certificate's status: the case is refused.
    let rule = "[policy]\nenforcement = \"always\"\nservice_names = [\"HTTP/a.example\"]\n[[case]]\nname = \"rule\"\ntransport = \"https\"\nchannel_binding = \"match\"\nrequires_certificate = true\nexpect = \"reject\"\n";
    assert_error_line(
        &epa(&[
            "policy",
            "test",
            write("rule.toml", rule.as_bytes()).to_str().unwrap(),
        ]),
        "client_certificate",
    );
    let bad_status = rule.replace(
        "requires_certificate = true",
        "requires_certificate = true\nclient_certificate = \"stolen\"",
    );
    assert_error_line(
        &epa(&[
            "policy",
            "test",
            write("status.toml", bad_status.as_bytes())
                .to_str()
                .unwrap(),
        ]),
        "stolen",
    );
    // Target in the wrong form: a configuration error.
    let wrong = "[policy]\ntoken_checking = \"allow\"\ntarget_enforcement = \"always\"\nspns = [\"HTTP/a.example\"]\n";
    assert_error_line(
        &epa(&[
            "policy",
            "eval",
            write("wrong-form.toml", wrong.as_bytes()).to_str().unwrap(),
        ]),
        "target_token_checking",
    );
}

/// One MIT keytab entry (format 0x502) for `comps@realm` with a 16-byte key.
fn keytab_entry(realm: &str, comps: &[&str]) -> Vec<u8> {
    let counted = |s: &[u8]| [&(s.len() as u16).to_be_bytes()[..], s].concat();
    let mut e = (comps.len() as u16).to_be_bytes().to_vec();
    e.extend(counted(realm.as_bytes()));
    for c in comps {
        e.extend(counted(c.as_bytes()));
    }
    e.extend(1u32.to_be_bytes()); // KRB5_NT_PRINCIPAL
    e.extend(0u32.to_be_bytes()); // timestamp
    e.push(1); // vno8
    e.extend(17u16.to_be_bytes()); // aes128-cts-hmac-sha1-96
    e.extend(counted(&[7; 16]));
    [&(e.len() as i32).to_be_bytes()[..], &e].concat()
}

#[test]
fn lint_reads_a_keytab_and_warns_about_non_http_principals() {
    let config = lint_file(
        "keytab.toml",
        "[policy]\nenforcement = \"always\"\nservice_names = [\"HTTP/www.example.com\"]\n",
    );
    let mut only_http = vec![5, 2];
    only_http.extend(keytab_entry("EXAMPLE.TEST", &["HTTP", "www.example.com"]));
    let mut with_host = only_http.clone();
    with_host.extend(keytab_entry("EXAMPLE.TEST", &["host", "www.example.com"]));
    let config = config.to_str().unwrap();
    let r = epa(&[
        "lint",
        config,
        "--keytab",
        write("http.keytab", &only_http).to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("keytab-"), "{}", r.stdout);
    let r = epa(&[
        "lint",
        config,
        "--keytab",
        write("host.keytab", &with_host).to_str().unwrap(),
    ]);
    assert!(
        r.stdout.contains("keytab-non-http-principals"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert!(r.stdout.contains("host/www.example.com"), "{}", r.stdout);
    let r = epa(&[
        "lint",
        config,
        "--keytab",
        write("junk.keytab", b"\x05\x01").to_str().unwrap(),
    ]);
    assert_eq!(
        r.code, 1,
        "an unreadable keytab is an error finding: {}",
        r.stdout
    );
}

#[test]
fn lint_reads_the_keytab_the_backend_table_names() {
    let mut with_host = vec![5, 2];
    with_host.extend(keytab_entry("EXAMPLE.TEST", &["host", "www.example.com"]));
    let keytab = write("backend.keytab", &with_host);
    let config = lint_file(
        "backend-keytab.toml",
        &format!(
            "[backend]\nkind = \"gssapi\"\nkeytab = {:?}\n[policy]\nenforcement = \"always\"\nservice_names = [\"HTTP/www.example.com\"]\n",
            keytab.to_str().unwrap()
        ),
    );
    let r = epa(&["lint", config.to_str().unwrap()]);
    assert!(
        r.stdout.contains("keytab-non-http-principals"),
        "{}{}",
        r.stdout,
        r.stderr
    );
}

/// `epa serve` (hello page, no Negotiate) presenting a vector's certificate, on 127.0.0.1:0.
struct Served(std::process::Child, String);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve_vector(v: &Value) -> Served {
    use std::io::BufRead as _;
    let id = v["id"].as_str().unwrap();
    let der = STANDARD.decode(v["der_b64"].as_str().unwrap()).unwrap();
    let b64 = STANDARD.encode(&der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let cert = write(
        &format!("{id}-serve.crt"),
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
        .as_bytes(),
    );
    let key = write(
        &format!("{id}-serve.key"),
        v["private_key_pem"].as_str().unwrap().as_bytes(),
    );
    let config = write(
        &format!("{id}-serve.toml"),
        format!("[listener]\nnegotiate = false\ncertificate_file = {cert:?}\nkey_file = {key:?}\n")
            .as_bytes(),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_epa"))
        .args(["serve", "--address", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut served = Served(child, String::new());
    let mut lines = std::io::BufReader::new(stdout).lines();
    served.1 = loop {
        let line = lines.next().expect("epa serve exited").unwrap();
        if let Some(a) = line.strip_prefix("listening on https://") {
            break a.trim().to_owned();
        }
    };
    // Keep reading so that the server never writes to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    served
}

#[test]
fn cbt_connect_reads_a_live_servers_certificate() {
    let v = vectors()
        .into_iter()
        .find(|v| v["id"] == "ecdsa-p384-sha384")
        .unwrap();
    let server = serve_vector(&v);
    let r = epa(&[
        "cbt",
        "--connect",
        &server.1,
        "--sni",
        "localhost",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    // The same binding as the certificate file gives, SHA-384 (the signature's hash).
    assert_eq!(json["hash_algorithm"], "sha384");
    assert_eq!(json["hash_hex"], v["cb_hash_hex"]);
    assert_eq!(
        json["channel_bindings_md5_hex"],
        v["channel_bindings_md5_hex"]
    );
    let s = &json["server"];
    assert_eq!(s["connected_to"], server.1.as_str());
    assert_eq!(s["sni"], "localhost");
    assert_eq!(s["sha256_fingerprint_hex"], v["der_sha256_hex"]);
    assert_ne!(s["sha256_fingerprint_hex"], json["hash_hex"]);
    assert!(s["subject"].as_str().unwrap().contains("CN="), "{s}");
    assert!(s["tls_version"].as_str().unwrap().starts_with("TLSv1_"));
    // Text form: the same values, labelled.
    let r = epa(&["cbt", "--connect", &server.1]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for want in [
        v["cb_hash_hex"].as_str().unwrap(),
        v["channel_bindings_md5_hex"].as_str().unwrap(),
        v["der_sha256_hex"].as_str().unwrap(),
        "subject:",
        "issuer:",
    ] {
        assert!(r.stdout.contains(want), "{want}: {}", r.stdout);
    }
}

#[test]
fn cbt_connect_refused_silent_and_bad_targets_are_error_lines() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    assert_error_line(&epa(&["cbt", "--connect", &addr]), "cannot connect");
    // Accepts, never answers: the deadline ends it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    assert_error_line(
        &epa(&["cbt", "--connect", &addr, "--timeout", "0.5"]),
        "no certificate within",
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    drop(silent);
    assert_error_line(&epa(&["cbt", "--connect", "no-port"]), "HOST:PORT");
    // A file or --connect, not neither.
    assert_eq!(epa(&["cbt"]).code, 2);
}
