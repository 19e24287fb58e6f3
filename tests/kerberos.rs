//! Kerberos and SPNEGO through the GSSAPI backend (feature `gssapi`), end to end: a throwaway MIT
//! KDC on loopback (started and stopped by each test), the example server with
//! `--backend gssapi`, and clients nobody here wrote: Python `requests-gssapi` (with and without
//! the channel binding), curl `--negotiate` (never a binding), and `requests-ntlm` against
//! gss-ntlmssp as the NTLM acceptor.

#![cfg(feature = "gssapi")]
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

use std::path::Path;
use std::process::Command;
use support::*;

use support::realm::Realm;

impl Realm {
    /// The server's environment: its keytab and the realm's configuration.
    fn server_env(&self, keytab: &str) -> Vec<(String, String)> {
        vec![
            ("KRB5_CONFIG".into(), self.path("krb5.conf")),
            ("KRB5_KTNAME".into(), format!("FILE:{}", self.path(keytab))),
            ("KRB5RCACHEDIR".into(), self.path("")),
            ("NTLM_USER_FILE".into(), self.path("ntlm-users")),
        ]
    }

    fn server(&self, enforcement: &str, keytab: &str) -> Server {
        self.server_with(enforcement, keytab, &[])
    }

    fn server_with(&self, enforcement: &str, keytab: &str, extra: &[&str]) -> Server {
        std::fs::write(self.dir.join("ntlm-users"), "TESTDOM:alice:userpw\n").unwrap();
        Server::start_with_env(
            &[
                &["--backend", "gssapi", "--enforcement", enforcement][..],
                extra,
            ]
            .concat(),
            &self.server_env(keytab),
        )
    }
}

/// requests-gssapi: (status, body); status 0 when the client itself failed.
fn requests_gssapi(
    realm: &Realm,
    url: &str,
    cbt: bool,
    conf: &str,
    target: Option<&str>,
) -> (u16, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/gssapi_get.py");
    let mut cmd = Command::new(python());
    cmd.arg(script).arg(url).envs(realm.client_env(conf));
    if cbt {
        cmd.arg("--cbt");
    }
    if let Some(t) = target {
        cmd.args(["--target", t]);
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

fn curl_negotiate(realm: &Realm, url: &str) -> u16 {
    let out = Command::new("curl")
        .args([
            "-sk",
            "--negotiate",
            "-u",
            ":",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            url,
        ])
        .envs(realm.client_env("krb5.conf"))
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn requests_gssapi_binding_table() {
    let realm = Realm::start("kerberos");
    let always = realm.server("always", "http.keytab");
    // requests-gssapi requires mutual authentication: this 200 carried the server's AP-REP.
    let (status, body) = requests_gssapi(&realm, &always.url("localhost"), true, "krb5.conf", None);
    assert_eq!(status, 200, "{body} {}", always.log());
    assert!(body.contains("hello alice@EXAMPLE.TEST"), "{body}");
    assert!(body.contains("mechanism: kerberos"), "{body}");
    assert!(
        body.contains("service name: \"HTTP/localhost@EXAMPLE.TEST\""),
        "{body}"
    );
    assert!(
        always.log().contains("channel_binding=\"match\""),
        "{}",
        always.log()
    );
    // No binding: refused under always...
    let (status, _) = requests_gssapi(&realm, &always.url("localhost"), false, "krb5.conf", None);
    assert_eq!(status, 401);
    assert!(
        always.log().contains("reason=\"binding-absent\""),
        "{}",
        always.log()
    );
    // ...accepted under when-supported.
    let ws = realm.server("when-supported", "http.keytab");
    let (status, _) = requests_gssapi(&realm, &ws.url("localhost"), false, "krb5.conf", None);
    assert_eq!(status, 200, "{}", ws.log());
}

#[test]
fn curl_negotiate_sends_no_binding() {
    let realm = Realm::start("kerberos");
    let ws = realm.server("when-supported", "http.keytab");
    assert_eq!(
        curl_negotiate(&realm, &ws.url("localhost")),
        200,
        "{}",
        ws.log()
    );
    let always = realm.server("always", "http.keytab");
    assert_eq!(curl_negotiate(&realm, &always.url("localhost")), 401);
    assert!(always.log().contains("reason=\"binding-absent\""));
}

#[test]
fn relayed_kerberos_is_refused_with_binding_mismatch() {
    let realm = Realm::start("kerberos");
    let never = realm.server("never", "http.keytab");
    let mitm = relay::start(never.addr);
    let (status, _) = requests_gssapi(
        &realm,
        &format!("https://localhost:{}/", mitm.port()),
        true,
        "krb5.conf",
        None,
    );
    assert_eq!(
        status,
        200,
        "under never the relayed ticket gets in: {}",
        never.log()
    );
    for enforcement in ["when-supported", "always"] {
        let s = realm.server(enforcement, "http.keytab");
        let mitm = relay::start(s.addr);
        let (status, _) = requests_gssapi(
            &realm,
            &format!("https://localhost:{}/", mitm.port()),
            true,
            "krb5.conf",
            None,
        );
        assert_eq!(status, 401, "{enforcement}");
        assert!(
            s.log().contains("reason=\"binding-mismatch\""),
            "{enforcement}: {}",
            s.log()
        );
    }
}

#[test]
fn aware_client_without_binding_is_refused_by_mit_as_a_binding_failure() {
    // client_aware_channel_bindings: the client announces binding support (KERB_AP_OPTIONS_CBT)
    // and sends none; MIT refuses with GSS_S_BAD_BINDINGS, even under when-supported.
    let realm = Realm::start("kerberos");
    let ws = realm.server("when-supported", "http.keytab");
    let (status, _) = requests_gssapi(&realm, &ws.url("localhost"), false, "krb5-aware.conf", None);
    assert_eq!(status, 401, "{}", ws.log());
    let log = ws.log();
    assert!(log.contains("reason=\"binding-mismatch\""), "{log}");
    assert!(
        !log.contains("authentication-failed"),
        "a binding failure, not a generic error: {log}"
    );
}

#[test]
fn wrong_keytab_and_ticket_for_another_service_are_401_with_a_reason() {
    let realm = Realm::start("kerberos");
    // The server holds only HTTP/other.example's key; the client's ticket is for HTTP/localhost.
    let wrong_keytab = realm.server("when-supported", "other.keytab");
    let (status, _) = requests_gssapi(
        &realm,
        &wrong_keytab.url("localhost"),
        true,
        "krb5.conf",
        None,
    );
    assert_eq!(status, 401);
    assert!(
        wrong_keytab.log().contains("GSSAPI"),
        "{}",
        wrong_keytab.log()
    );
    // The server is HTTP/localhost; the client asks for a ticket to HTTP/other.example.
    let s = realm.server("when-supported", "http.keytab");
    let (status, _) = requests_gssapi(
        &realm,
        &s.url("localhost"),
        true,
        "krb5.conf",
        Some("HTTP@other.example"),
    );
    assert_eq!(status, 401);
    assert!(
        s.log().contains("reason=\"authentication-failed\""),
        "{}",
        s.log()
    );
    // And the right ticket still works on the same server.
    assert_eq!(
        requests_gssapi(&realm, &s.url("localhost"), true, "krb5.conf", None).0,
        200
    );
}

#[test]
fn an_expired_ticket_is_401_with_a_reason() {
    let realm = Realm::start("kerberos");
    // The server tolerates 1 s of clock skew instead of 5 minutes, so a 2-second ticket expires
    // within the test.
    let conf = std::fs::read_to_string(realm.path("krb5.conf")).unwrap();
    std::fs::write(
        realm.path("krb5-skew.conf"),
        conf.replace("[libdefaults]", "[libdefaults]\n  clockskew = 1"),
    )
    .unwrap();
    let mut env = realm.server_env("http.keytab");
    env[0].1 = realm.path("krb5-skew.conf");
    std::fs::write(realm.path("ntlm-users"), "").unwrap();
    let s = Server::start_with_env(
        &["--backend", "gssapi", "--enforcement", "when-supported"],
        &env,
    );
    // A TGT and service ticket that live 2 seconds, in their own cache.
    let short = format!("FILE:{}", realm.path("short.ccache"));
    let mut kinit = Command::new("kinit")
        .args(["-l", "2s", "-c", &short, "alice@EXAMPLE.TEST"])
        .env("KRB5_CONFIG", realm.path("krb5.conf"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    kinit.stdin.take().unwrap().write_all(b"userpw\n").unwrap();
    assert!(kinit.wait().unwrap().success());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/gssapi_token.py");
    let out = Command::new(python())
        .arg(script)
        .arg("HTTP@localhost")
        .env("KRB5_CONFIG", realm.path("krb5.conf"))
        .env("KRB5CCNAME", &short)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(5));
    let out = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("Authorization: Negotiate {}", token.trim()))
        .arg(s.url("localhost"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "401", "{}", s.log());
    let log = s.log();
    assert!(log.contains("reason=\"authentication-failed\""), "{log}");
    assert!(
        log.to_lowercase().contains("expired"),
        "the reason names the expiry: {log}"
    );
}

#[test]
fn gss_ntlmssp_is_the_ntlm_acceptor_for_requests_ntlm() {
    let realm = Realm::start("kerberos");
    let always = realm.server("always", "http.keytab");
    let (status, body) = requests_ntlm(&always.url("localhost"), "TESTDOM\\alice", "userpw", true);
    assert_eq!(status, 200, "{}", always.log());
    assert!(body.contains("mechanism: ntlm"), "{body}");
    assert_eq!(
        requests_ntlm(&always.url("localhost"), "TESTDOM\\alice", "userpw", false).0,
        401
    );
    assert_eq!(
        requests_ntlm(&always.url("localhost"), "TESTDOM\\alice", "wrong", true).0,
        401
    );
    let ws = realm.server("when-supported", "http.keytab");
    assert_eq!(
        requests_ntlm(&ws.url("localhost"), "TESTDOM\\alice", "userpw", false).0,
        200
    );
    // Through the relay: gss-ntlmssp sees the attacker's binding.
    let mitm = relay::start(ws.addr);
    let (status, _) = requests_ntlm(
        &format!("https://localhost:{}/", mitm.port()),
        "TESTDOM\\alice",
        "userpw",
        true,
    );
    assert_eq!(status, 401, "{}", ws.log());
    assert!(
        ws.log().contains("reason=\"binding-mismatch\""),
        "{}",
        ws.log()
    );
}

#[test]
fn a_ticket_for_another_keytab_principal_is_accepted_by_default_and_refused_with_the_opt_in() {
    // #11 item 13. multi.keytab holds HTTP/localhost and host/localhost, as a host keytab does.
    let realm = Realm::start("kerberos");
    let default = realm.server("when-supported", "multi.keytab");
    let (status, body) = requests_gssapi(
        &realm,
        &default.url("localhost"),
        true,
        "krb5.conf",
        Some("host@localhost"),
    );
    assert_eq!(
        status,
        200,
        "MIT (and Windows) accept any keytab principal: {body} {}",
        default.log()
    );
    assert!(
        body.contains("service name: \"host/localhost@EXAMPLE.TEST\""),
        "{body}"
    );
    let checked = realm.server_with("when-supported", "multi.keytab", &["--check-ticket-target"]);
    let (status, _) = requests_gssapi(
        &realm,
        &checked.url("localhost"),
        true,
        "krb5.conf",
        Some("host@localhost"),
    );
    assert_eq!(status, 401, "{}", checked.log());
    let log = checked.log();
    assert!(log.contains("check_ticket_target"), "{log}");
    assert!(log.contains("host/localhost@EXAMPLE.TEST"), "{log}");
    // The HTTP ticket still gets in with the check on.
    let (status, body) =
        requests_gssapi(&realm, &checked.url("localhost"), true, "krb5.conf", None);
    assert_eq!(status, 200, "{body} {}", checked.log());
}

#[test]
fn lint_reads_the_realms_keytabs() {
    // The keytab reader against files MIT's kadmin wrote.
    let realm = Realm::start("kerberos");
    let read = |name: &str| std::fs::read(realm.path(name)).unwrap();
    let entries = epa::keytab::parse(&read("multi.keytab")).unwrap();
    let mut principals: Vec<String> = entries.iter().map(|e| e.principal()).collect();
    principals.dedup();
    assert_eq!(
        principals,
        ["HTTP/localhost@EXAMPLE.TEST", "host/localhost@EXAMPLE.TEST"]
    );
    assert!(epa::lint::keytab(&read("http.keytab")).is_empty());
    let findings = epa::lint::keytab(&read("multi.keytab"));
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].code, "keytab-non-http-principals");
    assert!(findings[0].why.contains("host/localhost@EXAMPLE.TEST"));
}

#[test]
fn the_acceptor_credential_follows_a_replaced_keytab() {
    // #13: the credential is acquired once, and again when the keytab file changes. The server
    // starts with HTTP/other.example's key only (a ticket for HTTP/localhost fails), then the
    // keytab file is replaced by http.keytab: within the reload interval the same server accepts.
    let realm = Realm::start("kerberos");
    std::fs::copy(realm.path("other.keytab"), realm.path("live.keytab")).unwrap();
    let s = realm.server("when-supported", "live.keytab");
    let url = s.url("localhost");
    assert_eq!(
        requests_gssapi(&realm, &url, true, "krb5.conf", None).0,
        401
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::copy(realm.path("http.keytab"), realm.path("live.keytab.new")).unwrap();
    std::fs::rename(realm.path("live.keytab.new"), realm.path("live.keytab")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (status, body) = requests_gssapi(&realm, &url, true, "krb5.conf", None);
    assert_eq!(status, 200, "{body} {}", s.log());
    // The ticket's target follows the keytab too (with one principal in it, the backend reports
    // that principal without asking MIT).
    assert!(
        body.contains("service name: \"HTTP/localhost@EXAMPLE.TEST\""),
        "{body}"
    );
}

/// pyspnego's SPNEGO offering NTLM only (tests/clients/spnego_ntlm_get.py): the status.
fn spnego_offering_ntlm_only(url: &str) -> u16 {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/spnego_ntlm_get.py");
    let out = Command::new(python())
        .arg(script)
        .args([url, "TESTDOM\\alice", "userpw", "--cbt"])
        .env("KRB5CCNAME", "FILE:/nonexistent/epa-ccache")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["status"].as_u64().unwrap() as u16
}

/// `mechanisms = ["kerberos"]` (issue #22; IIS: `Negotiate:Kerberos` as the only provider):
/// Kerberos from requests-gssapi and curl is accepted; NTLM is refused with its own reason
/// whether it comes bare (`Authorization: NTLM` from curl, raw NTLMSSP in `Negotiate` from
/// requests-ntlm) or inside SPNEGO (pyspnego) — at the first leg, before gss-ntlmssp sees a
/// password. The same server without the setting accepts every one of those NTLM clients.
#[test]
fn a_kerberos_only_route_refuses_ntlm_in_every_wrapping() {
    let realm = Realm::start("kerberos");
    // when-supported: curl --negotiate sends no binding.
    let only = realm.server_with(
        "when-supported",
        "http.keytab",
        &["--mechanism", "kerberos"],
    );
    let url = only.url("localhost");
    let (status, body) = requests_gssapi(&realm, &url, true, "krb5.conf", None);
    assert_eq!(status, 200, "{}", only.log());
    assert!(body.contains("mechanism: kerberos"), "{body}");
    assert_eq!(curl_negotiate(&realm, &url), 200, "{}", only.log());
    let refused_before = only.log().matches("mechanism-not-allowed").count();
    assert_eq!(refused_before, 0, "{}", only.log());
    assert_eq!(requests_ntlm(&url, "TESTDOM\\alice", "userpw", true).0, 401);
    assert_eq!(spnego_offering_ntlm_only(&url), 401);
    // curl --ntlm is offered only Negotiate: it sends no NTLM at all.
    assert_eq!(curl_ntlm(&url, "TESTDOM\\alice", "userpw").0, 401);
    assert_eq!(
        only.log()
            .matches("reason=\"mechanism-not-allowed\"")
            .count(),
        2,
        "{}",
        only.log()
    );
    // A client that sends `Authorization: NTLM` unasked (a NEGOTIATE_MESSAGE, MS-NLMP §2.2.1.1):
    // the GSSAPI backend offers no `NTLM` scheme, so it is a scheme this server does not speak
    // (a fresh challenge, as for Basic) — refused, and not read as an NTLM attempt.
    let out = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg("Authorization: NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==")
        .arg(&url)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
    let log = only.log();
    assert_eq!(
        log.matches("reason=\"mechanism-not-allowed\"").count(),
        2,
        "{log}"
    );
    assert!(log.contains("mechanism=\"ntlm\""), "{log}");
    assert!(
        !log.contains("accept") || !log.contains("principal=\"alice@TESTDOM"),
        "{log}"
    );

    // The control: the same clients are accepted where NTLM is.
    let both = realm.server("when-supported", "http.keytab");
    let url = both.url("localhost");
    assert_eq!(
        requests_ntlm(&url, "TESTDOM\\alice", "userpw", true).0,
        200,
        "{}",
        both.log()
    );
    assert_eq!(spnego_offering_ntlm_only(&url), 200, "{}", both.log());
}

/// `target_mechanisms = ["kerberos"]` (audit): NTLM logins still succeed, and each is logged and
/// counted as a would-be rejection with `mechanism-not-allowed` — "who still uses NTLM".
#[test]
fn auditing_for_kerberos_only_counts_every_ntlm_login() {
    let realm = Realm::start("kerberos");
    let audit = realm.server_with(
        "when-supported",
        "http.keytab",
        &["--target-mechanism", "kerberos", "--log-format", "json"],
    );
    let url = audit.url("localhost");
    assert_eq!(
        requests_ntlm(&url, "TESTDOM\\alice", "userpw", true).0,
        200,
        "{}",
        audit.log()
    );
    let (status, _) = requests_gssapi(&realm, &url, true, "krb5.conf", None);
    assert_eq!(status, 200, "{}", audit.log());
    let log = audit.log();
    assert_eq!(
        log.matches(r#""audit_reason":"mechanism-not-allowed""#)
            .count(),
        1,
        "the NTLM login only: {log}"
    );
    // `epa audit-report` on that log: who still uses NTLM, from where.
    let file = realm.dir.join("audit.log");
    std::fs::write(&file, &log).unwrap();
    let out = Command::new(epa_binary())
        .args(["audit-report", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["would_reject"], 1, "{report}");
    assert_eq!(report["by_mechanism"][0]["key"], "ntlm", "{report}");
    assert_eq!(report["ntlm_logins"], 1, "{report}");
    assert_eq!(
        report["ntlm_by_user_and_client"][0]["key"], "TESTDOM\\alice from 127.0.0.1",
        "{report}"
    );
}

/// The session key's encryption type (issue #22): reported in the decision event; an RC4 one
/// (a service whose principal has only an RC4 key and allows only RC4 session keys — MIT's
/// `session_enctypes`, AD's `msDS-SupportedEncryptionTypes` = RC4) is
/// audited by default, refused with `weak_enctypes = "refuse"` (401, `weak-enctype`), and an
/// AES one is accepted under every setting.
#[test]
fn the_session_enctype_is_reported_and_rc4_audited_or_refused() {
    let realm = Realm::start("kerberos");
    let out = Command::new("bash")
        .arg("-c")
        .arg(
            "set -e; . \"$1/env.sh\"; \
             kadmin.local -q 'addprinc -randkey -e arcfour-hmac:normal HTTP/localhost-rc4@EXAMPLE.TEST' >/dev/null; \
             kadmin.local -q 'ktadd -e arcfour-hmac:normal -k '\"$1\"'/rc4.keytab HTTP/localhost-rc4@EXAMPLE.TEST' >/dev/null; \
             kadmin.local -q 'setstr HTTP/localhost-rc4@EXAMPLE.TEST session_enctypes arcfour-hmac' >/dev/null",
        )
        .arg("sh")
        .arg(&realm.dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // `epa lint --keytab` on the files kadmin wrote: the RC4-only one is flagged.
    let lint = |name: &str| {
        let bytes = std::fs::read(realm.path(name)).unwrap();
        epa::lint::keytab(&bytes)
            .into_iter()
            .map(|f| f.code)
            .collect::<Vec<_>>()
    };
    assert_eq!(lint("rc4.keytab"), ["keytab-weak-keys-only"]);
    assert!(lint("http.keytab").is_empty());

    let aes = realm.server("when-supported", "http.keytab");
    let (status, _) = requests_gssapi(&realm, &aes.url("localhost"), true, "krb5.conf", None);
    assert_eq!(status, 200, "{}", aes.log());
    assert!(
        aes.log().contains("enctype=\"aes256-cts-hmac-sha1-96\""),
        "{}",
        aes.log()
    );
    assert!(!aes.log().contains("weak-enctype"), "{}", aes.log());

    let rc4 = |extra: &[&str]| realm.server_with("when-supported", "rc4.keytab", extra);
    let target = Some("HTTP@localhost-rc4");
    let audit = rc4(&[]);
    let (status, _) = requests_gssapi(&realm, &audit.url("localhost"), true, "krb5.conf", target);
    assert_eq!(status, 200, "{}", audit.log());
    let log = audit.log();
    assert!(log.contains("enctype=\"arcfour-hmac\""), "{log}");
    assert!(log.contains("audit_reason=\"weak-enctype\""), "{log}");

    let refuse = rc4(&["--weak-enctypes", "refuse"]);
    let (status, _) = requests_gssapi(&realm, &refuse.url("localhost"), true, "krb5.conf", target);
    assert_eq!(status, 401, "{}", refuse.log());
    assert!(
        refuse.log().contains("reason=\"weak-enctype\""),
        "{}",
        refuse.log()
    );
}

/// A SPNEGO `NegTokenInit` (RFC 4178 §4.2.1) listing NTLM first, then Kerberos, with an optimistic
/// NTLM NEGOTIATE_MESSAGE as its mechToken — the list a client makes when it prefers NTLM.
fn spnego_ntlm_first() -> Vec<u8> {
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        assert!(body.len() < 128);
        [vec![tag, body.len() as u8], body.to_vec()].concat()
    }
    // MS-NLMP §2.2.1.1, with NTLMSSP_NEGOTIATE_VERSION and its 8-byte version.
    let negotiate = b"NTLMSSP\0\x01\0\0\0\x07\x82\x08\xa2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x0a\x00\x61\x4a\x00\x00\x00\x0f";
    let list = [
        tlv(0x06, epa::spnego::NTLM_OID),
        tlv(0x06, epa::spnego::KRB5_OID),
    ]
    .concat();
    let init = tlv(
        0xa0,
        &tlv(
            0x30,
            &[
                tlv(0xa0, &tlv(0x30, &list)),
                tlv(0xa2, &tlv(0x04, negotiate)),
            ]
            .concat(),
        ),
    );
    tlv(0x60, &[tlv(0x06, epa::spnego::SPNEGO_OID), init].concat())
}

/// The mechanism MIT's SPNEGO acceptor chose in its answer to `token` (`supportedMech` of the
/// `NegTokenResp` in the 401's `WWW-Authenticate: Negotiate <token>`), via curl.
fn chosen_mechanism(url: &str, token: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(token);
    let out = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-D", "-", "-H"])
        .arg(format!("Authorization: Negotiate {b64}"))
        .arg(url)
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    let value = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        let value = value.trim().strip_prefix("Negotiate ")?;
        name.eq_ignore_ascii_case("www-authenticate")
            .then(|| value.to_owned())
    })?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    match epa::spnego::parse(&bytes).ok()? {
        epa::spnego::NegotiationToken::Resp(r) => r.supported_mech.map(<[u8]>::to_vec),
        epa::spnego::NegotiationToken::Init(_) => None,
    }
}

/// `mechanisms = ["kerberos"]` steers SPNEGO (MIT `gss_set_neg_mechs`, RFC 4178 §3.2): to a
/// client listing NTLM first and Kerberos second, the Kerberos-only route answers by choosing
/// Kerberos (asking for a Kerberos token), where the default route takes the optimistic NTLM
/// token and answers with NTLM.
#[test]
fn a_kerberos_only_route_chooses_kerberos_from_a_list_that_prefers_ntlm() {
    let realm = Realm::start("kerberos");
    let token = spnego_ntlm_first();
    let only = realm.server_with(
        "when-supported",
        "http.keytab",
        &["--mechanism", "kerberos"],
    );
    assert_eq!(
        chosen_mechanism(&only.url("localhost"), &token).as_deref(),
        Some(epa::spnego::KRB5_OID),
        "{}",
        only.log()
    );
    let both = realm.server("when-supported", "http.keytab");
    assert_eq!(
        chosen_mechanism(&both.url("localhost"), &token).as_deref(),
        Some(epa::spnego::NTLM_OID),
        "{}",
        both.log()
    );
}
