//! Client certificates end to end, with clients nobody here wrote: `openssl s_client` and curl
//! `--cert/--key`, each under TLS 1.2 and TLS 1.3, against the example server. The PKI is made
//! by `openssl ca` in the test: a client CA, certificates for alice (valid), mallory (revoked),
//! old (expired), a second CA whose CRL nobody has, and CRLs before and after the revocation.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::Server;

struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }
    fn cert(&self, who: &str) -> (String, String) {
        (
            self.path(&format!("{who}.pem")),
            self.path(&format!("{who}.key")),
        )
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const CA_CONFIG: &str = "[ca]
default_ca = ca_default
[ca_default]
dir = DIR
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.pem
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 365
default_crl_days = 30
policy = policy_any
unique_subject = no
[policy_any]
commonName = supplied
[client]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
";

/// One CA directory `name` under `root`, with `ca.pem`, `ca.key` and an `openssl ca` database.
fn make_ca(root: &Path, name: &str, cn: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("newcerts")).unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "1000\n").unwrap();
    std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
    std::fs::write(
        dir.join("ca.cnf"),
        CA_CONFIG.replace("DIR", dir.to_str().unwrap()),
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    dir
}

/// A client certificate from the CA in `ca`, written as `<root>/<who>.pem` and `.key`.
fn issue(root: &Path, ca: &Path, who: &str, dates: Option<(&str, &str)>) {
    let key = root.join(format!("{who}.key"));
    let csr = root.join(format!("{who}.csr"));
    let pem = root.join(format!("{who}.pem"));
    openssl(
        root,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            csr.to_str().unwrap(),
            "-subj",
            &format!("/CN={who}"),
        ],
    );
    let mut args = vec![
        "ca",
        "-batch",
        "-config",
        "ca.cnf",
        "-extensions",
        "client",
        "-notext",
        "-in",
        csr.to_str().unwrap(),
        "-out",
        pem.to_str().unwrap(),
    ];
    if let Some((start, end)) = dates {
        args.extend(["-startdate", start, "-enddate", end]);
    }
    openssl(ca, &args);
}

fn pki() -> &'static Pki {
    static PKI: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let root = support::workdir().join("pki");
        std::fs::create_dir_all(&root).unwrap();
        let ca = make_ca(&root, "ca", "EPA Test Client CA");
        let other = make_ca(&root, "other", "EPA Second Client CA");
        issue(&root, &ca, "alice", None);
        issue(&root, &ca, "mallory", None);
        issue(
            &root,
            &ca,
            "old",
            Some(("20010101000000Z", "20020101000000Z")),
        );
        issue(&root, &other, "bob", None);
        // The CRL before and after mallory's revocation.
        openssl(
            &ca,
            &[
                "ca",
                "-config",
                "ca.cnf",
                "-gencrl",
                "-out",
                root.join("before.crl").to_str().unwrap(),
            ],
        );
        openssl(
            &ca,
            &[
                "ca",
                "-config",
                "ca.cnf",
                "-revoke",
                root.join("mallory.pem").to_str().unwrap(),
                "-crl_reason",
                "keyCompromise",
            ],
        );
        openssl(
            &ca,
            &[
                "ca",
                "-config",
                "ca.cnf",
                "-gencrl",
                "-out",
                root.join("ca.crl").to_str().unwrap(),
            ],
        );
        let bundle = [
            std::fs::read_to_string(ca.join("ca.pem")).unwrap(),
            std::fs::read_to_string(other.join("ca.pem")).unwrap(),
        ]
        .concat();
        std::fs::write(root.join("trusted.pem"), bundle).unwrap();
        Pki { dir: root }
    })
}

#[derive(Clone, Copy, Debug)]
enum Client {
    Curl,
    OpenSsl,
}

#[derive(Clone, Copy, Debug)]
enum Tls {
    V12,
    V13,
}

/// GET `path` with an optional client certificate: (status, body).
fn get(server: &Server, client: Client, tls: Tls, path: &str, cert: Option<&str>) -> (u16, String) {
    let pki = pki();
    let cert = cert.map(|who| pki.cert(who));
    match client {
        Client::Curl => {
            let mut cmd = Command::new("curl");
            cmd.args(["-sk", "-w", "\n%{http_code}"]);
            cmd.arg(match tls {
                Tls::V12 => "--tls-max",
                Tls::V13 => "--tlsv1.3",
            });
            if let Tls::V12 = tls {
                cmd.args(["1.2", "--tlsv1.2"]);
            }
            if let Some((c, k)) = &cert {
                cmd.args(["--cert", c, "--key", k]);
            }
            let out = cmd
                .arg(format!("https://localhost:{}{path}", server.addr.port()))
                .output()
                .expect("curl");
            let text = String::from_utf8(out.stdout).unwrap();
            let (body, code) = text.rsplit_once('\n').unwrap();
            (code.trim().parse().unwrap_or(0), body.to_owned())
        }
        Client::OpenSsl => {
            let out = s_client(
                server,
                tls,
                cert.as_ref().map(|(c, k)| (c.as_str(), k.as_str())),
                &["-quiet"],
                Some(path),
            );
            let status = out
                .lines()
                .find_map(|l| l.strip_prefix("HTTP/1.1 "))
                .and_then(|l| l.get(..3))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let body = out
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_owned())
                .unwrap_or_default();
            (status, body)
        }
    }
}

/// Runs `openssl s_client` (sending one request when `path` is given) and returns its stdout.
fn s_client(
    server: &Server,
    tls: Tls,
    cert: Option<(&str, &str)>,
    extra: &[&str],
    path: Option<&str>,
) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{}", server.addr.port()),
        "-servername",
        "localhost",
    ]);
    cmd.arg(match tls {
        Tls::V12 => "-tls1_2",
        Tls::V13 => "-tls1_3",
    });
    if let Some((c, k)) = cert {
        cmd.args(["-cert", c, "-key", k]);
    }
    cmd.args(extra);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl");
    let request = match path {
        Some(p) => format!("GET {p} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
        None => String::new(),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cert_server(extra: &[&str]) -> Server {
    let pki = pki();
    let trusted = pki.path("trusted.pem");
    let crl = pki.path("ca.crl");
    let mut args = vec!["--no-negotiate", "--client-ca", &trusted, "--crl", &crl];
    args.extend_from_slice(extra);
    Server::start(&args)
}

const CLIENTS: [(Client, Tls); 4] = [
    (Client::Curl, Tls::V12),
    (Client::Curl, Tls::V13),
    (Client::OpenSsl, Tls::V12),
    (Client::OpenSsl, Tls::V13),
];

#[track_caller]
fn assert_refused(got: &(u16, String), substatus: u16, what: &str) {
    assert_eq!(got.0, 403, "{what}: {got:?}");
    assert!(
        got.1.contains(&format!("\"substatus\":{substatus}")),
        "{what}: {got:?}"
    );
}

#[test]
fn routes_decide_under_tls12_and_tls13_with_curl_and_openssl() {
    let server = cert_server(&[]);
    for (client, tls) in CLIENTS {
        let what = format!("{client:?} {tls:?}");
        // No certificate: / serves, /cert refuses with 403.7.
        assert_eq!(get(&server, client, tls, "/", None).0, 200, "{what}");
        let got = get(&server, client, tls, "/cert", None);
        assert_refused(&got, 7, &what);
        assert!(
            got.1.contains("client certificate required"),
            "{what}: {got:?}"
        );
        // A valid certificate: both serve, /cert names the subject.
        assert_eq!(
            get(&server, client, tls, "/", Some("alice")).0,
            200,
            "{what}"
        );
        let got = get(&server, client, tls, "/cert", Some("alice"));
        assert_eq!(got.0, 200, "{what}: {got:?}");
        assert!(got.1.contains("subject: CN=alice"), "{what}: {got:?}");
        // Revoked: 403.13; expired: 403.17; a CA no CRL covers: 403.16 under `check`.
        assert_refused(
            &get(&server, client, tls, "/cert", Some("mallory")),
            13,
            &what,
        );
        assert_refused(&get(&server, client, tls, "/cert", Some("old")), 17, &what);
        assert_refused(&get(&server, client, tls, "/cert", Some("bob")), 16, &what);
        // Routes without the requirement serve them all.
        assert_eq!(
            get(&server, client, tls, "/", Some("mallory")).0,
            200,
            "{what}"
        );
    }
    assert!(
        server.log().contains("client-certificate-revoked"),
        "{}",
        server.log()
    );
}

#[test]
fn revocation_off_and_allow_unknown() {
    let off = cert_server(&["--revocation", "off"]);
    let unknown = cert_server(&["--revocation", "allow-unknown"]);
    for (client, tls) in CLIENTS {
        let what = format!("{client:?} {tls:?}");
        assert_eq!(
            get(&off, client, tls, "/cert", Some("mallory")).0,
            200,
            "off, {what}"
        );
        assert_eq!(
            get(&unknown, client, tls, "/cert", Some("bob")).0,
            200,
            "allow-unknown, {what}"
        );
        assert_refused(
            &get(&unknown, client, tls, "/cert", Some("mallory")),
            13,
            &format!("allow-unknown, {what}"),
        );
        assert_refused(
            &get(&off, client, tls, "/cert", Some("old")),
            17,
            &format!("off, {what}"),
        );
    }
}

#[test]
fn a_crl_replaced_on_disk_takes_effect_without_restart_or_dropped_connections() {
    use std::io::Read as _;
    let pki = pki();
    let crl = support::workdir().join("live.crl");
    std::fs::copy(pki.path("before.crl"), &crl).unwrap();
    let trusted = pki.path("trusted.pem");
    let server = Server::start(&[
        "--no-negotiate",
        "--client-ca",
        &trusted,
        "--crl",
        crl.to_str().unwrap(),
    ]);
    assert_eq!(
        get(&server, Client::Curl, Tls::V13, "/cert", Some("mallory")).0,
        200
    );

    // A keep-alive connection opened before the swap (alice, s_client kept open).
    let mut keep = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-tls1_3",
            "-connect",
            &format!("127.0.0.1:{}", server.addr.port()),
        ])
        .args(["-cert", &pki.cert("alice").0, "-key", &pki.cert("alice").1])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = keep.stdin.take().unwrap();
    stdin
        .write_all(b"GET /cert HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();

    // Replace the file the way a CRL fetcher does (write, then rename over).
    let staged = support::workdir().join("live.crl.new");
    std::fs::copy(pki.path("ca.crl"), &staged).unwrap();
    std::fs::rename(&staged, &crl).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = get(&server, Client::Curl, Tls::V13, "/cert", Some("mallory"));
        if got.0 == 403 {
            assert_refused(&got, 13, "after the swap");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new CRL never took effect: {got:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The old connection still serves (a second request on it, then close).
    stdin
        .write_all(b"GET /cert HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    drop(stdin);
    let mut out = String::new();
    keep.stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let _ = keep.wait();
    assert_eq!(out.matches("HTTP/1.1 200").count(), 2, "{out}");
    assert!(server.log().contains("CRLs reloaded"), "{}", server.log());
}

/// Writes a PEM bundle of `n` generated CAs with long names plus the test CA.
fn big_bundle(n: usize) -> PathBuf {
    let path = support::workdir().join(format!("big-{n}.pem"));
    let mut pem = std::fs::read_to_string(pki().path("trusted.pem")).unwrap();
    let name =
        "Deliberately Long Certification Authority Name For The Acceptable CA List ".repeat(4);
    for i in 0..n {
        pem.push_str(
            &epa::hyper::testing::TestCa::new(&format!("{i:03} {name}"))
                .unwrap()
                .pem(),
        );
    }
    std::fs::write(&path, pem).unwrap();
    path
}

#[test]
fn ca_hints_over_16k_warn_and_none_sends_none_on_the_wire() {
    let bundle = big_bundle(60);
    let bundle = bundle.to_str().unwrap();
    let all = Server::start(&[
        "--no-negotiate",
        "--client-ca",
        bundle,
        "--revocation",
        "off",
    ]);
    let warning = all
        .banner
        .lines()
        .find(|l| l.starts_with("warning: the acceptable-CA list is"))
        .unwrap_or_else(|| panic!("{}", all.banner));
    let size: usize = warning
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap();
    assert!(size > 16 * 1024, "{warning}");
    let none = Server::start(&[
        "--no-negotiate",
        "--client-ca",
        bundle,
        "--revocation",
        "off",
        "--ca-hints",
        "none",
    ]);
    assert!(!none.banner.contains("warning:"), "{}", none.banner);
    for tls in [Tls::V12, Tls::V13] {
        // openssl prints the names the CertificateRequest carried.
        let out = s_client(&all, tls, None, &[], Some("/"));
        assert!(
            out.contains("Acceptable client certificate CA names"),
            "{tls:?}: {out}"
        );
        assert!(out.contains("CN = EPA Test Client CA"), "{tls:?}");
        assert_eq!(
            out.lines()
                .filter(|l| l.contains("Deliberately Long"))
                .count(),
            60,
            "{tls:?}"
        );
        let out = s_client(&none, tls, None, &[], Some("/"));
        assert!(
            out.contains("No client certificate CA names sent"),
            "{tls:?}: {out}"
        );
        assert!(
            !out.contains("Acceptable client certificate CA names"),
            "{tls:?}"
        );
        // -msg shows the CertificateRequest itself was sent (first handshake, no renegotiation).
        let out = s_client(&none, tls, None, &["-msg"], Some("/"));
        assert!(out.contains("CertificateRequest"), "{tls:?}: {out}");
        assert!(!out.contains("HelloRequest"), "{tls:?}");
    }
}

#[test]
fn a_route_needing_both_a_certificate_and_negotiate() {
    let pki = pki();
    let trusted = pki.path("trusted.pem");
    let crl = pki.path("ca.crl");
    let server = Server::start(&["--client-ca", &trusted, "--crl", &crl]);
    let url = |path: &str| format!("https://localhost:{}{path}", server.addr.port());
    let (cert, key) = pki.cert("alice");
    let curl = |path: &str, password: &str, with_cert: bool| {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sk",
            "--ntlm",
            "-u",
            &format!("TESTDOM\\alice:{password}"),
            "-w",
            "\n%{http_code}",
        ]);
        if with_cert {
            cmd.args(["--cert", &cert, "--key", &key]);
        }
        let text = String::from_utf8(cmd.arg(url(path)).output().unwrap().stdout).unwrap();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.trim().parse::<u16>().unwrap(), body.to_owned())
    };
    // Both: the certificate's subject and the Negotiate user, from one TLS connection.
    let (status, body) = curl("/cert", "userpw", true);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("subject: CN=alice") && body.contains("user: ") && body.contains("alice"),
        "{body}"
    );
    // A certificate does not stand in for Negotiate, nor Negotiate for a certificate.
    assert_eq!(curl("/cert", "wrong", true).0, 401);
    assert_refused(&curl("/cert", "userpw", false), 7, "no certificate");
    // Routes without the requirement: Negotiate alone (requests-ntlm sends the binding).
    let (status, body) = support::requests_ntlm(&url("/"), "TESTDOM\\alice", "userpw", true);
    assert_eq!(status, 200, "{body}");
    let (status, body) = support::requests_ntlm(&url("/cert"), "TESTDOM\\alice", "userpw", true);
    assert_eq!(status, 403, "{body}");
}

#[test]
fn a_server_refuses_to_start_on_bad_client_certificate_settings() {
    let pki = pki();
    let trusted = pki.path("trusted.pem");
    for (args, mentions) in [
        (
            vec!["--client-ca", trusted.as_str()],
            "needs at least one CRL",
        ),
        (
            vec!["--client-ca", "/nonexistent.pem", "--revocation", "off"],
            "/nonexistent.pem",
        ),
        (
            vec!["--client-ca", trusted.as_str(), "--crl", trusted.as_str()],
            "X509 CRL",
        ),
    ] {
        let out = Command::new(support::example_binary())
            .args(["--listen", "127.0.0.1:0", "--no-negotiate"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("error: ") && err.contains(mentions),
            "{args:?}: {err}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("listening on"));
    }
}

/// #11 item 9, end to end: the example server's `required_paths = ["/cert"]` covers every
/// spelling of `/cert` (sent raw by openssl, no client-side normalisation), leaves other paths
/// alone, and answers 400 to a path that cannot be normalised.
#[test]
fn every_spelling_of_a_required_path_is_required() {
    let server = cert_server(&[]);
    for spelling in [
        "//cert",
        "/%63ert",
        "/./cert",
        "/x/../cert",
        "/Cert",
        "/cert;a",
        "/x/..;/cert",
    ] {
        assert_refused(
            &get(&server, Client::OpenSsl, Tls::V13, spelling, None),
            7,
            spelling,
        );
        // With a valid certificate the same spelling is served.
        let got = get(&server, Client::OpenSsl, Tls::V13, spelling, Some("alice"));
        assert_ne!(got.0, 403, "{spelling}: {got:?}");
    }
    assert_eq!(get(&server, Client::OpenSsl, Tls::V13, "/", None).0, 200);
    for bad in ["/%zz", "/a%2Fcert", "/../cert", "/%00"] {
        let got = get(&server, Client::OpenSsl, Tls::V13, bad, None);
        assert_eq!(got.0, 400, "{bad}: {got:?}");
        assert!(got.1.contains("bad-request-path"), "{bad}: {got:?}");
    }
}
