//! `epa serve` as a process, for what its own tables add: the metrics page (`[metrics]`), client
//! certificates per route (`[[route]] require_client_certificate`) and on
//! `[client_certificates] required_paths`, and the pinned front-proxy certificate
//! (`[listener] proxy_certificate_file`) under `trusted-proxy`. Real clients (requests-ntlm,
//! curl) over real sockets; every process is started and stopped by its test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod support;

use std::process::Command;

/// The shared test certificate as `[listener]` lines.
fn tls_listener() -> String {
    let (cert, key, _) = support::cert_files();
    format!(
        "[listener]\naddress = \"127.0.0.1:0\"\ncertificate_file = {cert:?}\nkey_file = {key:?}\n"
    )
}

/// curl, with optional NTLM credentials and client certificate: (status, headers, body).
fn curl(url: &str, ntlm: Option<&str>, cert: Option<(&str, &str)>) -> (u16, String, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sk", "-D", "-", "-w", "\n%{http_code}", "--max-time", "20"]);
    if let Some(user) = ntlm {
        cmd.args(["--ntlm", "-u", user]);
    }
    if let Some((c, k)) = cert {
        cmd.args(["--cert", c, "--key", k]);
    }
    let text = String::from_utf8(cmd.arg(url).output().unwrap().stdout).unwrap();
    let (rest, code) = text.rsplit_once('\n').unwrap();
    // The last response's head and body (NTLM makes several).
    let last = rest.rsplit("HTTP/1.1 ").next().unwrap_or_default();
    let (head, body) = last.split_once("\r\n\r\n").unwrap_or((last, ""));
    (
        code.trim().parse().unwrap(),
        head.to_owned(),
        body.to_owned(),
    )
}

#[test]
fn metrics_page_is_served_before_authentication_to_allowed_peers_only() {
    let policy =
        "[policy]\nenforcement = \"when-supported\"\nprefixes = [\"https://localhost/\"]\n";
    let (_serve, addr) =
        support::epa_serve(&format!("{}{policy}[metrics]\n", tls_listener())).unwrap();
    let url = |p: &str| format!("https://localhost:{}{p}", addr.port());
    let (status, body) = support::requests_ntlm(&url("/"), "TESTDOM\\alice", "userpw", true);
    assert_eq!(status, 200, "{body}");
    // Loopback may read it, without any Negotiate leg; the login above is counted.
    let (status, head, page) = curl(&url("/metrics"), None, None);
    assert_eq!(status, 200, "{head}{page}");
    assert!(
        !head.to_ascii_lowercase().contains("www-authenticate"),
        "{head}"
    );
    assert!(
        page.lines()
            .any(|l| l.starts_with("epa_decisions_total{") && l.contains("decision=\"accept\"")),
        "{page}"
    );
    // Another spelling of the path is the same page.
    assert_eq!(curl(&url("//Metrics"), None, None).0, 200);
    // A peer not on allow_from: 403 there, and nothing about the counters.
    let (_serve, addr) = support::epa_serve(&format!(
        "{}{policy}[metrics]\npath = \"/_epa/metrics\"\nallow_from = [\"192.0.2.7\"]\n",
        tls_listener()
    ))
    .unwrap();
    let (status, _, body) = curl(
        &format!("https://localhost:{}/_epa/metrics", addr.port()),
        None,
        None,
    );
    assert_eq!(status, 403);
    assert!(!body.contains("epa_"), "{body}");
    // Without [metrics] the path is an ordinary protected path.
    let (_serve, addr) = support::epa_serve(&format!("{}{policy}", tls_listener())).unwrap();
    let (status, head, _) = curl(
        &format!("https://localhost:{}/metrics", addr.port()),
        None,
        None,
    );
    assert_eq!(status, 401, "{head}");
    // A table nobody can read is refused at start.
    let err = support::epa_serve(&format!(
        "{}{policy}[metrics]\nallow_from = []\n",
        tls_listener()
    ))
    .unwrap_err();
    assert!(err.contains("allow_from is empty"), "{err}");
}

/// A client CA and a certificate it issued to alice, as PEM files: (ca, cert, key).
fn client_pki() -> (String, String, String) {
    let dir = support::workdir().join(format!("serve-pki-{}", support::rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "serve test client CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "alice");
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let leaf = leaf.signed_by(&key, &issuer).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    (
        write("ca.pem", ca.pem()),
        write("alice.pem", leaf.pem()),
        write("alice.key", key.serialize_pem()),
    )
}

#[test]
fn client_certificates_per_route_and_on_required_paths() {
    let (up, port) = support::python_upstream();
    let (ca, cert, key) = client_pki();
    let config = format!(
        "{}[client_certificates]\nmode = \"request\"\nca_files = [{ca:?}]\nrevocation = \"off\"\n\
         required_paths = [\"/legacy\"]\n\
         [policy]\nenforcement = \"when-supported\"\nprefixes = [\"https://localhost/\"]\n\
         [upstream]\nurl = \"http://127.0.0.1:{port}\"\n\
         [[route]]\npath = \"/admin\"\nrequire_client_certificate = true\n\
         [[route]]\npath = \"/legacy\"\n",
        tls_listener()
    );
    let (_serve, addr) = support::epa_serve(&config).unwrap();
    let url = |p: &str| format!("https://localhost:{}{p}", addr.port());
    let alice = Some("TESTDOM\\alice:userpw");
    // The route's requirement comes first: 403.7 without a certificate, no Negotiate leg.
    for path in ["/admin", "/Admin/x", "//admin/./y", "/%61dmin"] {
        let (status, head, body) = curl(&url(path), alice, None);
        assert_eq!(status, 403, "{path}: {head}{body}");
        assert!(body.contains("\"substatus\":7"), "{path}: {body}");
        assert!(
            !head.to_ascii_lowercase().contains("www-authenticate"),
            "{path}: {head}"
        );
    }
    // With the certificate and the login: both reach the upstream.
    let (status, _, body) = curl(&url("/admin/page"), alice, Some((&cert, &key)));
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["headers"]["x-remote-user"],
        serde_json::json!(["TESTDOM\\alice"])
    );
    let subject = json["headers"]["x-client-cert-subject"].to_string();
    assert!(subject.contains("CN=alice"), "{json}");
    // A certificate does not stand in for the login.
    assert_eq!(
        curl(
            &url("/admin/page"),
            Some("TESTDOM\\alice:wrong"),
            Some((&cert, &key))
        )
        .0,
        401
    );
    // [client_certificates] required_paths holds in epa serve too (it was ignored before).
    let (status, _, body) = curl(&url("/legacy/app"), alice, None);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("\"substatus\":7"), "{body}");
    assert_eq!(curl(&url("/legacy/app"), alice, Some((&cert, &key))).0, 200);
    // Routes with no requirement: the login alone.
    let (status, body) = support::requests_ntlm(&url("/app"), "TESTDOM\\alice", "userpw", true);
    assert_eq!(status, 200, "{body}");
    // Nothing refused above reached the upstream.
    let paths = support::upstream_paths(port);
    assert!(
        paths
            .iter()
            .all(|p| !p.starts_with("/admin") || p == "/admin/page"),
        "{paths:?}"
    );
    drop(up);
    // A route that needs a certificate the listener never asks for: refused at start.
    let never = format!(
        "{}[policy]\nenforcement = \"always\"\nprefixes = [\"https://localhost/\"]\n\
         [upstream]\nurl = \"http://127.0.0.1:9\"\n\
         [[route]]\npath = \"/admin\"\nrequire_client_certificate = true\n",
        tls_listener()
    );
    let err = support::epa_serve(&never).unwrap_err();
    assert!(err.contains("never asks for one"), "{err}");
}

#[test]
fn a_pinned_proxy_certificate_refuses_a_relay_the_trusted_proxy_scenario_lets_through() {
    let dir = support::workdir().join(format!("serve-front-{}", support::rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    // epa serve behind TLS offload (plain HTTP from the trusted front), optionally pinning the
    // front's certificate.
    let serve = |pin: Option<&std::path::Path>| {
        let pin = pin.map_or(String::new(), |p| {
            format!("proxy_certificate_file = {p:?}\n")
        });
        support::epa_serve(&format!(
            "[listener]\naddress = \"127.0.0.1:0\"\ntransport = \"http\"\n\
             trusted_proxies = [\"127.0.0.1\"]\n{pin}\
             [policy]\nenforcement = \"always\"\nscenario = \"trusted-proxy\"\n\
             service_names = [\"HTTP/localhost\"]\n"
        ))
    };
    let localhost = || rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    // The honest front's certificate, pinned as PEM; the relay: another TLS terminator with its
    // own certificate in front of the same server (a man in the middle before the proxy).
    let honest = localhost();
    let pem = dir.join("front.pem");
    std::fs::write(&pem, honest.cert.pem()).unwrap();
    let (_pinned, pinned) = serve(Some(&pem)).unwrap();
    let front = support::tls_front(pinned, honest);
    let relay = support::tls_front(pinned, localhost());
    let (_open, open) = serve(None).unwrap();
    let open_front = support::tls_front(open, localhost());
    let open_relay = support::tls_front(open, localhost());
    let url = |a: std::net::SocketAddr| format!("https://localhost:{}/", a.port());
    let login = |a, cbt| support::requests_ntlm(&url(a), "TESTDOM\\alice", "userpw", cbt).0;
    // Bound to the front it saw: accepted by both.
    assert_eq!(login(front, true), 200);
    assert_eq!(login(open_front, true), 200);
    // Bound to the relay's certificate: the pinned server refuses it; without the pin the
    // trusted-proxy rules (IIS's) cannot tell it from the front's and accept it.
    assert_eq!(login(relay, true), 401);
    assert_eq!(login(open_relay, true), 200);
    // No binding at all under always: refused by both (curl --ntlm sends none).
    assert_eq!(
        support::curl_ntlm(&url(front), "TESTDOM\\alice", "userpw").0,
        401
    );
    assert_eq!(
        support::curl_ntlm(&url(open_front), "TESTDOM\\alice", "userpw").0,
        401
    );
    // A pin is refused where it would do nothing, and an unreadable pin stops the start.
    let err = support::epa_serve(&format!(
        "{}proxy_certificate_file = {pem:?}\n[policy]\nenforcement = \"always\"\nprefixes = [\"https://localhost/\"]\n",
        tls_listener()
    ))
    .unwrap_err();
    assert!(err.contains("not trusted-proxy"), "{err}");
    std::fs::write(&pem, "not a certificate").unwrap();
    let err = serve(Some(&pem)).unwrap_err();
    assert!(err.contains("proxy_certificate_file"), "{err}");
}
