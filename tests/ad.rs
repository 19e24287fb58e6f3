//! Active Directory for real (issue #14): a Samba AD domain controller provisioned by the test
//! (tests/samba/dc.sh), `epa serve` with `[backend] kind = "winbind"` (NTLMv2 verified by the
//! domain controller, binding and SPN checked by epa) and `kind = "gssapi"` (the keytab the
//! directory exported), and clients nobody here wrote: requests-ntlm, curl `--ntlm` and
//! `--negotiate`, requests-gssapi. Needs root (CI runs as root) and the packages
//! ./scripts/test installs.

#![cfg(all(feature = "gssapi", feature = "winbind"))]
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

#[path = "ad/domain.rs"]
mod domain;
mod support;

use domain::{DOMAIN, Domain, PASSWORD};
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

// A child process killed (and reaped) on drop.
use support::ChildGuard as Running;

/// Reads the child's stdout until a line starting with `prefix`; returns the rest of it.
fn wait_line(child: &mut Child, prefix: &str) -> String {
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            lines.read_line(&mut line).unwrap() > 0,
            "exited before printing {prefix:?}"
        );
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            let rest = rest.to_owned();
            // Keep draining so the child never blocks on a full pipe.
            std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
            return rest;
        }
    }
}

/// The echo upstream (tests/clients/echo_upstream.py): its port.
fn echo_upstream() -> (Running, u16) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/echo_upstream.py");
    let mut up = Command::new(support::python())
        .arg(script)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let port = wait_line(&mut up, "port ").parse().unwrap();
    (Running(up), port)
}

/// `epa serve` with `body` after the listener table; `command` runs the binary (inside the
/// domain's mount namespace for winbind). Returns the process, its address and its log file.
fn serve(
    mut command: Command,
    body: &str,
    env: &[(&str, &Path)],
) -> (Running, SocketAddr, std::path::PathBuf) {
    let (cert, key, _) = support::cert_files();
    let dir = support::workdir();
    let file = dir.join(format!("ad-serve-{}.toml", support::rand_suffix()));
    let log = dir.join(format!("ad-serve-{}.log", support::rand_suffix()));
    std::fs::write(
        &file,
        format!(
            "[listener]\naddress = \"127.0.0.1:0\"\ncertificate_file = {cert:?}\nkey_file = {key:?}\n{body}"
        ),
    )
    .unwrap();
    let mut child = command
        .args(["serve", "--config"])
        .arg(&file)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "epa=debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let addr = wait_line(&mut child, "listening on https://")
        .parse()
        .unwrap();
    (Running(child), addr, log)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// curl --ntlm with the response head: (status, head).
fn curl_ntlm_head(url: &str, user: &str, password: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-sk",
            "--ntlm",
            "-u",
            &format!("{user}:{password}"),
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            url,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, code) = text.split_at(text.len() - 3);
    (code.parse().unwrap(), head.to_owned())
}

fn winbind_config(upstream: u16, web_users: &str) -> String {
    format!(
        "[backend]\nkind = \"winbind\"\ndomain = \"{DOMAIN}\"\ncomputer = \"WEB\"\n\
         dns_domain = \"epa.test\"\ndns_computer = \"web.epa.test\"\ntimeout = 5\n\
         [policy]\nenforcement = \"always\"\nprefixes = [\"https://localhost/\"]\n\
         [upstream]\nurl = \"http://127.0.0.1:{upstream}\"\n\
         [[route]]\npath = \"/web\"\nallow_groups = [\"{web_users}\"]\n"
    )
}

#[test]
fn ntlm_verified_by_the_domain_controller_binding_and_groups_checked_by_epa() {
    let dc = Domain::start();
    let web_users = dc.sid("WebUsers");
    let (_up, port) = echo_upstream();
    let (_serve, addr, log) = serve(
        dc.with_winbind(&support::epa_binary()),
        &winbind_config(port, &web_users),
        &[],
    );
    let url = |path: &str| format!("https://localhost:{}{path}", addr.port());
    let user = |name: &str| format!("{DOMAIN}\\{name}");

    // The binding verified by epa, the password by the domain controller: 200, and the upstream
    // learns the canonical AD name and the groups.
    let (status, body) = support::requests_ntlm(&url("/app"), &user("alice"), PASSWORD, true);
    assert_eq!(
        status,
        200,
        "{body}\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let seen = json(&body);
    assert_eq!(
        seen["headers"]["x-remote-user"],
        serde_json::json!(["EPA\\alice"])
    );
    let alice = dc.sid("alice");
    assert_eq!(
        seen["headers"]["x-remote-user-sid"],
        serde_json::json!([alice])
    );
    let groups = seen["headers"]["x-remote-groups"][0]
        .as_str()
        .unwrap_or_default();
    assert!(groups.split(',').any(|g| g.trim() == web_users), "{groups}");

    // Wrong password, unknown user, disabled account: 401 (the disabled one says why in the log).
    assert_eq!(
        support::requests_ntlm(&url("/app"), &user("alice"), "wrong", true).0,
        401
    );
    assert_eq!(
        support::requests_ntlm(&url("/app"), &user("nobody"), PASSWORD, true).0,
        401
    );
    assert_eq!(
        support::requests_ntlm(&url("/app"), &user("dave"), PASSWORD, true).0,
        401
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("account-disabled"), "{text}");

    // Authorization by group: carol is in no group (403); alice is a member (200); bob is a
    // member of Inner, which is a member of WebUsers (nested: 200).
    assert_eq!(
        support::requests_ntlm(&url("/web"), &user("carol"), PASSWORD, true).0,
        403
    );
    assert_eq!(
        support::requests_ntlm(&url("/web"), &user("alice"), PASSWORD, true).0,
        200
    );
    assert_eq!(
        support::requests_ntlm(&url("/web"), &user("bob"), PASSWORD, true).0,
        200
    );

    // The domain controller verified a relayed login's password, but the binding is the relay's
    // certificate: refused by epa.
    let relay = support::relay::start(addr);
    let relayed = format!("https://localhost:{}/app", relay.port());
    assert_eq!(
        support::requests_ntlm(&relayed, &user("alice"), PASSWORD, true).0,
        401
    );
    // curl sends no binding: refused under `always`.
    assert_eq!(
        curl_ntlm_head(&url("/app"), &user("alice"), PASSWORD).0,
        401
    );
}

#[test]
fn domain_controller_down_is_503_with_retry_after_then_200_when_back() {
    let dc = Domain::start();
    let (_up, port) = echo_upstream();
    let (_serve, addr, log) = serve(
        dc.with_winbind(&support::epa_binary()),
        &winbind_config(port, "S-1-5-32-545"),
        &[],
    );
    let url = format!("https://localhost:{}/app", addr.port());
    let alice = format!("{DOMAIN}\\alice");
    assert_eq!(support::requests_ntlm(&url, &alice, PASSWORD, true).0, 200);

    dc.stop_dc();
    let (status, head) = curl_ntlm_head(&url, &alice, PASSWORD);
    assert_eq!(
        status,
        503,
        "{head}\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 5"),
        "{head}"
    );
    // Never a 401 (a failed logon) and never an accept while the DC is away.
    assert_eq!(support::requests_ntlm(&url, &alice, PASSWORD, true).0, 503);
    // Logged and counted as an outage, never as a failed logon (issue 20 item 5).
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("reason=\"backend-unavailable\""), "{text}");
    assert!(!text.contains("reason=\"authentication-failed\""), "{text}");
    assert!(!text.contains("reason=\"bad-credentials\""), "{text}");

    dc.start_dc();
    let (status, body) = support::requests_ntlm(&url, &alice, PASSWORD, true);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn kerberos_tickets_from_the_directory_bound_unbound_relayed() {
    let dc = Domain::start();
    let (_up, port) = echo_upstream();
    let keytab = dc.path("http.keytab");
    let krb5_conf = dc.path("krb5.conf");
    let web_users = dc.sid("WebUsers");
    let (_serve, addr, log) = serve(
        dc.with_winbind(&support::epa_binary()),
        &format!(
            "[backend]\nkind = \"gssapi\"\nkeytab = {keytab:?}\nwinbind_groups = true\n\
             [policy]\nenforcement = \"always\"\nservice_names = [\"HTTP/web.epa.test\"]\n\
             [upstream]\nurl = \"http://127.0.0.1:{port}\"\n\
             [[route]]\npath = \"/lax\"\nenforcement = \"when-supported\"\n\
             [[route]]\npath = \"/web\"\nallow_groups = [\"{web_users}\"]\n\
             [[route]]\npath = \"/alice-only\"\nallow_users = [\"EPA\\\\alice\"]\n"
        ),
        &[("KRB5_CONFIG", &krb5_conf), ("KRB5RCACHEDIR", &dc.dir)],
    );
    let cache = dc.service_ticket("alice");
    let (bob, carol) = (dc.service_ticket("bob"), dc.service_ticket("carol"));
    let gssapi_as = |cache: &Path, url: &str, cbt: bool| -> (u16, String) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/gssapi_get.py");
        let mut c = Command::new(support::python());
        c.arg(script)
            .arg(url)
            .args(["--target", "HTTP@web.epa.test"]);
        if cbt {
            c.arg("--cbt");
        }
        let out = c
            .env("KRB5CCNAME", cache)
            .env("KRB5_CONFIG", &krb5_conf)
            .output()
            .unwrap();
        let v = json(&String::from_utf8(out.stdout).unwrap());
        (
            v["status"].as_u64().unwrap() as u16,
            v["body"].as_str().unwrap().to_owned(),
        )
    };
    let gssapi = |url: &str, cbt: bool| gssapi_as(&cache, url, cbt);
    let url = |path: &str| format!("https://localhost:{}{path}", addr.port());
    // Bound: 200 as the directory's principal.
    let (status, body) = gssapi(&url("/app"), true);
    assert_eq!(
        status,
        200,
        "{body}\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let seen = json(&body);
    // One name per account (#20 item 14): the PAC's NetBIOS form, as NTLM names her.
    assert_eq!(
        seen["headers"]["x-remote-user"],
        serde_json::json!(["EPA\\alice"])
    );
    assert_eq!(
        seen["headers"]["x-remote-principal"],
        serde_json::json!(["alice@EPA.TEST"])
    );
    assert_eq!(gssapi(&url("/alice-only"), true).0, 200);
    assert_eq!(gssapi_as(&carol, &url("/alice-only"), true).0, 403);
    // Groups from the directory (a winbind lookup after the login): alice is a WebUser, carol
    // is not.
    let groups = seen["headers"]["x-remote-groups"][0]
        .as_str()
        .unwrap_or_default();
    assert!(groups.split(',').any(|g| g.trim() == web_users), "{groups}");
    assert_eq!(gssapi(&url("/web"), true).0, 200);
    assert_eq!(gssapi_as(&carol, &url("/web"), true).0, 403);
    // bob is a WebUser through Inner: the ticket's PAC carries the transitive set, so he is let
    // in. (winbind's user-SID lookup on a Samba 4.17 DC, wbcLookupUserSids, lists direct
    // memberships only: it refused bob before the PAC was read; with the PAC's groups winbind
    // is not asked.)
    let (status, body) = gssapi_as(&bob, &url("/web"), true);
    assert_eq!(status, 200, "{body}");
    // Unbound under always: 401; under when-supported: 200.
    assert_eq!(gssapi(&url("/app"), false).0, 401);
    assert_eq!(gssapi(&url("/lax"), false).0, 200);
    // Relayed: the binding is the relay's certificate.
    let relay = support::relay::start(addr);
    assert_eq!(
        gssapi(&format!("https://localhost:{}/app", relay.port()), true).0,
        401
    );
    // curl --negotiate (no binding): 200 on the lax route, 401 under always.
    let curl = |path: &str| -> u16 {
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
            ])
            .args([
                "--resolve",
                &format!("web.epa.test:{}:127.0.0.1", addr.port()),
            ])
            .arg(format!("https://web.epa.test:{}{path}", addr.port()))
            .env("KRB5CCNAME", &cache)
            .env("KRB5_CONFIG", &krb5_conf)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().parse().unwrap()
    };
    assert_eq!(curl("/lax"), 200);
    assert_eq!(curl("/app"), 401);

    // Without winbind at all (not even its socket): the groups come from the ticket's PAC alone
    // (MIT verified its server checksum with the keytab's key).
    let (_pac_serve, pac_addr, pac_log) = serve(
        Command::new(support::epa_binary()),
        &format!(
            "[backend]\nkind = \"gssapi\"\nkeytab = {keytab:?}\n\
             [policy]\nenforcement = \"always\"\nservice_names = [\"HTTP/web.epa.test\"]\n\
             [upstream]\nurl = \"http://127.0.0.1:{port}\"\n\
             [[route]]\npath = \"/web\"\nallow_groups = [\"{web_users}\"]\n"
        ),
        &[("KRB5_CONFIG", &krb5_conf), ("KRB5RCACHEDIR", &dc.dir)],
    );
    let pac_url = |path: &str| format!("https://localhost:{}{path}", pac_addr.port());
    let (status, body) = gssapi_as(&bob, &pac_url("/app"), true);
    assert_eq!(
        status,
        200,
        "{body}\n{}",
        std::fs::read_to_string(&pac_log).unwrap()
    );
    let seen = json(&body);
    assert_eq!(
        seen["headers"]["x-remote-user-sid"],
        serde_json::json!([dc.sid("bob")])
    );
    let groups = seen["headers"]["x-remote-groups"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let groups: Vec<&str> = groups.split(',').map(str::trim).collect();
    // Nested: Inner directly, WebUsers through Inner; and the domain's Domain Users.
    assert!(groups.contains(&dc.sid("Inner").as_str()), "{groups:?}");
    assert!(groups.contains(&web_users.as_str()), "{groups:?}");
    assert!(
        groups.contains(&dc.sid("Domain Users").as_str()),
        "{groups:?}"
    );
    assert_eq!(gssapi_as(&bob, &pac_url("/web"), true).0, 200);
    assert_eq!(gssapi(&pac_url("/web"), true).0, 200);
    assert_eq!(gssapi_as(&carol, &pac_url("/web"), true).0, 403);
    // The binding is still checked first: unbound under always is 401 whatever the groups.
    assert_eq!(gssapi_as(&bob, &pac_url("/web"), false).0, 401);
}

#[test]
fn ntlm_through_gss_ntlmssp_with_winbind_against_the_same_domain() {
    // The GSSAPI backend with gss-ntlmssp as the NTLM acceptor, no user file: gss-ntlmssp asks
    // winbind, so the domain controller verifies the password; gss-ntlmssp compares the binding
    // itself and epa reads the AV pairs to report it (docs/active-directory.md).
    let dc = Domain::start();
    let (_up, port) = echo_upstream();
    let keytab = dc.path("http.keytab");
    let krb5_conf = dc.path("krb5.conf");
    let (_serve, addr, log) = serve(
        dc.with_winbind(&support::epa_binary()),
        &format!(
            "[backend]\nkind = \"gssapi\"\nkeytab = {keytab:?}\n\
             [policy]\nenforcement = \"always\"\nprefixes = [\"https://localhost/\"]\n\
             [upstream]\nurl = \"http://127.0.0.1:{port}\"\n"
        ),
        &[("KRB5_CONFIG", &krb5_conf), ("KRB5RCACHEDIR", &dc.dir)],
    );
    let url = format!("https://localhost:{}/app", addr.port());
    let alice = format!("{DOMAIN}\\alice");
    let (status, body) = support::requests_ntlm(&url, &alice, PASSWORD, true);
    assert_eq!(
        status,
        200,
        "{body}\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let seen = json(&body);
    let user = seen["headers"]["x-remote-user"][0]
        .as_str()
        .unwrap_or_default();
    assert!(user.eq_ignore_ascii_case("EPA\\alice"), "{user}");
    // Named without a domain (#20 item 14): still `EPA\alice`, the domain this server's
    // CHALLENGE announced (gss-ntlmssp reported the bare `alice`).
    let (status, body) = support::requests_ntlm(&url, "alice", PASSWORD, true);
    assert_eq!(status, 200, "{body}");
    let seen = json(&body);
    let user = seen["headers"]["x-remote-user"][0]
        .as_str()
        .unwrap_or_default();
    assert!(user.eq_ignore_ascii_case("EPA\\alice"), "{user}");
    assert_eq!(support::requests_ntlm(&url, &alice, "wrong", true).0, 401);
    let relay = support::relay::start(addr);
    let relayed = format!("https://localhost:{}/app", relay.port());
    assert_eq!(
        support::requests_ntlm(&relayed, &alice, PASSWORD, true).0,
        401
    );
    assert_eq!(curl_ntlm_head(&url, &alice, PASSWORD).0, 401);
}
