//! The KDC proxy (MS-KKDCP, `[kdc_proxy]`) end to end, with clients nobody here wrote: MIT
//! `kinit` whose krb5.conf names `https://127.0.0.1:PORT/KdcProxy` as the realm's only KDC,
//! then curl `--negotiate` and requests-gssapi to the same `epa serve` (their service tickets
//! come through the proxy too); the Python `kdcproxy` (python3-kdcproxy, FreeIPA's) served
//! beside it as a second implementation given the same requests; refusals that never reach the
//! KDC; a KDC that never answers; and the same kinit against the Samba AD DC's KDC (root).

#![cfg(feature = "gssapi")]
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

#[allow(dead_code)] // not every helper of the AD tests is used here
#[path = "ad/domain.rs"]
mod domain;
mod support;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::ChildGuard;
use support::realm::Realm;

/// `epa serve` with the realm's HTTP keytab and a KDC proxy for EXAMPLE.TEST (its KDC) and
/// SILENT.TEST (a listener that accepts and never answers).
struct Epa {
    _child: ChildGuard,
    addr: SocketAddr,
    log: PathBuf,
    cert: PathBuf,
    _silent: Option<std::net::TcpListener>,
}

impl Epa {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.addr.port())
    }
}

/// The realm's KDC address, from the krb5.conf setup-kdc.sh wrote.
fn kdc_address(realm: &Realm) -> String {
    let conf = std::fs::read_to_string(realm.path("krb5.conf")).unwrap();
    let line = conf
        .lines()
        .find(|l| l.trim().starts_with("kdc ="))
        .unwrap();
    line.split('=').nth(1).unwrap().trim().to_owned()
}

/// A self-signed certificate naming `localhost`, `web.epa.test` and 127.0.0.1, in `dir`.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let certified = rcgen::generate_simple_self_signed(vec![
        "localhost".into(),
        "web.epa.test".into(),
        "127.0.0.1".into(),
    ])
    .unwrap();
    let cert = dir.join("epa.pem");
    let key = dir.join("epa.key");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// `command` (the epa binary, perhaps through nsenter) serving `body` after an https listener
/// on 127.0.0.1, its log in `dir`.
fn launch(
    mut command: Command,
    dir: &Path,
    body: &str,
    krb5_conf: &str,
) -> (ChildGuard, SocketAddr, PathBuf, PathBuf) {
    let (cert, key) = certificate(dir);
    let config = format!(
        "[listener]\naddress = \"127.0.0.1:0\"\ncertificate_file = {cert:?}\nkey_file = {key:?}\n{body}"
    );
    let file = dir.join("serve.toml");
    std::fs::write(&file, config).unwrap();
    let log = dir.join("serve.log");
    let mut child = command
        .args(["serve", "--domain", "TESTDOM", "--config"])
        .arg(&file)
        .arg("--users")
        .arg(support::users_file())
        .env("KRB5_CONFIG", krb5_conf)
        .env("KRB5RCACHEDIR", dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let line = support::wait_stdout_line(&mut child, "listening on");
    let addr = line.rsplit_once("://").unwrap().1.parse().unwrap();
    (ChildGuard(child), addr, log, cert)
}

fn start_epa(realm: &Realm) -> Epa {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let body = format!(
        "[policy]\nenforcement = \"when-supported\"\nprefixes = [\"https://localhost/\"]\n\
         [backend]\nkind = \"gssapi\"\nkeytab = {:?}\n\
         [metrics]\n\
         [kdc_proxy]\nconnect_timeout = 1\nreply_timeout = 1\n\
         [[kdc_proxy.realm]]\nname = \"EXAMPLE.TEST\"\nkdcs = [\"{}\"]\n\
         [[kdc_proxy.realm]]\nname = \"SILENT.TEST\"\nkdcs = [\"{}\"]\n",
        realm.path("http.keytab"),
        kdc_address(realm),
        silent.local_addr().unwrap(),
    );
    let (child, addr, log, cert) = launch(
        Command::new(support::epa_binary()),
        &realm.dir,
        &body,
        &realm.path("krb5.conf"),
    );
    Epa {
        _child: child,
        addr,
        log,
        cert,
        _silent: Some(silent),
    }
}

/// A krb5.conf whose only KDC for EXAMPLE.TEST is `kdc` (the proxy's URL), trusting `cert`.
fn kkdcp_conf(realm: &Realm, kdc: &str, cert: &Path) -> PathBuf {
    let path = realm.dir.join("krb5-kkdcp.conf");
    std::fs::write(
        &path,
        format!(
            "[libdefaults]\n  default_realm = EXAMPLE.TEST\n  dns_lookup_kdc = false\n  dns_lookup_realm = false\n  \
             dns_canonicalize_hostname = false\n  rdns = false\n\
             [realms]\n  EXAMPLE.TEST = {{\n    kdc = {kdc}\n    http_anchors = FILE:{}\n  }}\n\
             [domain_realm]\n  localhost = EXAMPLE.TEST\n",
            cert.display()
        ),
    )
    .unwrap();
    path
}

/// The client environment of the proxied realm: its krb5.conf and a ticket cache of its own.
fn client_env(realm: &Realm, conf: &Path) -> Vec<(String, String)> {
    vec![
        ("KRB5_CONFIG".into(), conf.display().to_string()),
        (
            "KRB5CCNAME".into(),
            format!("FILE:{}", realm.path("kkdcp-ccache")),
        ),
        ("KRB5_TRACE".into(), realm.path("kinit-trace.log")),
    ]
}

fn kinit(env: &[(String, String)]) -> std::process::Output {
    let mut child = Command::new("kinit")
        .arg("alice@EXAMPLE.TEST")
        .envs(env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"userpw\n").unwrap();
    child.wait_with_output().unwrap()
}

/// How many requests the MIT KDC has logged (one line per AS or TGS request).
fn kdc_requests(realm: &Realm) -> usize {
    std::fs::read_to_string(realm.path("kdc.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("AS_REQ") || l.contains("TGS_REQ"))
        .count()
}

#[test]
fn kinit_then_negotiate_through_the_kdc_proxy() {
    let realm = Realm::start("kdcproxy");
    let epa = start_epa(&realm);
    let conf = kkdcp_conf(&realm, &epa.url("127.0.0.1", "/KdcProxy"), &epa.cert);
    let env = client_env(&realm, &conf);
    let before = kdc_requests(&realm);
    let out = kinit(&env);
    let trace = std::fs::read_to_string(realm.path("kinit-trace.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "kinit: {}\n{trace}\n{}",
        String::from_utf8_lossy(&out.stderr),
        epa.log()
    );
    // MIT went through the proxy over TLS (its trace names it), and the KDC saw the requests.
    let via = format!("Sending HTTPS request to https {}", epa.addr);
    assert!(trace.contains(&via), "{trace}");
    assert!(trace.contains("TLS certificate name matched"), "{trace}");
    assert!(kdc_requests(&realm) > before);
    assert!(epa.log().contains("kdc_proxy=\"reply\""), "{}", epa.log());

    // curl --negotiate: its service ticket for HTTP/localhost is a TGS exchange through the
    // proxy (the krb5.conf names no other KDC).
    let out = Command::new("curl")
        .args(["-sk", "--negotiate", "-u", ":", "-w", "\n%{http_code}"])
        .arg(epa.url("localhost", "/"))
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.ends_with("\n200"), "{text}\n{}", epa.log());
    assert!(text.contains("hello alice@EXAMPLE.TEST"), "{text}");
    let klist = Command::new("klist")
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&klist.stdout).contains("HTTP/localhost@EXAMPLE.TEST"),
        "{}",
        String::from_utf8_lossy(&klist.stdout)
    );

    // requests-gssapi with the channel binding, from the same cache.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/gssapi_get.py");
    let out = Command::new(support::python())
        .arg(script)
        .arg(epa.url("localhost", "/"))
        .arg("--cbt")
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], 200, "{v}");
    assert!(v["body"].as_str().unwrap().contains("alice@EXAMPLE.TEST"));

    // The metrics count them per realm.
    let metrics = curl(&epa.url("127.0.0.1", "/metrics"), "GET", None, None);
    assert!(
        metrics.1.windows(60).any(|w| {
            String::from_utf8_lossy(w)
                .starts_with("epa_kdc_proxy_requests_total{realm=\"EXAMPLE.TEST\"")
        }),
        "{}",
        String::from_utf8_lossy(&metrics.1)
    );
}

/// curl: (status, body). `body` is sent as `application/kerberos` unless `content_type` says.
fn curl(
    url: &str,
    method: &str,
    body: Option<&[u8]>,
    content_type: Option<&str>,
) -> (u16, Vec<u8>) {
    let dir = support::workdir();
    let n = support::rand_suffix();
    let input = dir.join(format!("kkdcp-in-{n}"));
    let output = dir.join(format!("kkdcp-out-{n}"));
    let mut cmd = Command::new("curl");
    cmd.args(["-sk", "--max-time", "20", "-X", method, "-o"])
        .arg(&output)
        .args(["-w", "%{http_code}"]);
    if let Some(b) = body {
        std::fs::write(&input, b).unwrap();
        cmd.arg("--data-binary")
            .arg(format!("@{}", input.display()));
        let ct = content_type.unwrap_or("application/kerberos");
        cmd.args(["-H", &format!("Content-Type: {ct}")]);
    }
    let out = cmd.arg(url).output().unwrap();
    let status = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (status, std::fs::read(&output).unwrap_or_default())
}

/// A DER TLV (short and long lengths).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn int(n: u32) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    let mut v = bytes[skip..].to_vec();
    if v[0] & 0x80 != 0 {
        v.insert(0, 0);
    }
    tlv(0x02, &v)
}

fn gs(s: &str) -> Vec<u8> {
    tlv(0x1b, s.as_bytes())
}

/// An AS-REQ (RFC 4120 §5.4.1) for `client`@EXAMPLE.TEST's TGT, no pre-authentication.
fn as_req(client: &str) -> Vec<u8> {
    let body = seq(&[
        tlv(0xa0, &tlv(0x03, &[0, 0, 0, 0, 0])),
        tlv(
            0xa1,
            &seq(&[tlv(0xa0, &int(1)), tlv(0xa1, &seq(&[gs(client)]))]),
        ),
        tlv(0xa2, &gs("EXAMPLE.TEST")),
        tlv(
            0xa3,
            &seq(&[
                tlv(0xa0, &int(2)),
                tlv(0xa1, &seq(&[gs("krbtgt"), gs("EXAMPLE.TEST")])),
            ]),
        ),
        tlv(0xa5, &tlv(0x18, b"20370913024805Z")),
        tlv(0xa7, &int(0x1234_5678)),
        tlv(0xa8, &seq(&[int(18), int(17)])),
    ]);
    tlv(
        0x6a,
        &seq(&[tlv(0xa1, &int(5)), tlv(0xa2, &int(10)), tlv(0xa4, &body)]),
    )
}

/// A KDC-PROXY-MESSAGE around `message` (framed), with `realm` as target-domain.
fn proxy_message(message: &[u8], realm: Option<&str>) -> Vec<u8> {
    let mut framed = (message.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(message);
    let mut fields = vec![tlv(0xa0, &tlv(0x04, &framed))];
    if let Some(r) = realm {
        fields.push(tlv(0xa1, &gs(r)));
    }
    seq(&fields)
}

/// Reads one TLV: (tag, content, rest).
fn read_tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, start) = if input[1] < 0x80 {
        (input[1] as usize, 2)
    } else {
        let n = (input[1] & 0x7f) as usize;
        let len = input[2..2 + n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | *b as usize);
        (len, 2 + n)
    };
    (tag, &input[start..start + len], &input[start + len..])
}

/// What a 200 carried, as structure: the Kerberos message's tag and, for a KRB-ERROR, its
/// error-code (timestamps differ between two runs; the structure must not).
fn verdict(status: u16, body: &[u8]) -> String {
    if status != 200 {
        return format!("{}xx", status / 100);
    }
    let (tag, fields, _) = read_tlv(body);
    assert_eq!(tag, 0x30);
    let (tag, octets, _) = read_tlv(fields);
    assert_eq!(tag, 0xa0);
    let (_, framed, _) = read_tlv(octets);
    let len = u32::from_be_bytes(framed[..4].try_into().unwrap()) as usize;
    assert_eq!(len, framed.len() - 4, "the reply's framing");
    let message = &framed[4..];
    if message[0] != 0x7e {
        return format!("200 message {:#04x}", message[0]);
    }
    let (_, krb_error, _) = read_tlv(message);
    let (_, mut fields, _) = read_tlv(krb_error);
    while !fields.is_empty() {
        let (tag, content, rest) = read_tlv(fields);
        if tag == 0xa6 {
            let (_, code, _) = read_tlv(content);
            return format!(
                "200 KRB-ERROR {}",
                code.iter().fold(0u32, |a, b| (a << 8) | *b as u32)
            );
        }
        fields = rest;
    }
    panic!("a KRB-ERROR without error-code")
}

/// The Python kdcproxy on 127.0.0.1 (plain HTTP), EXAMPLE.TEST's only KDC the realm's.
fn python_kdcproxy(realm: &Realm) -> (ChildGuard, u16) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/kdcproxy_server.py");
    let mut child = ChildGuard(
        Command::new("/usr/bin/python3")
            .arg(script)
            .args(["EXAMPLE.TEST", &kdc_address(realm)])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let port = support::wait_stdout_line(&mut child.0, "port ")
        .parse()
        .unwrap();
    (child, port)
}

#[test]
fn same_requests_same_verdicts_as_python_kdcproxy() {
    let realm = Realm::start("kdcproxy-cmp");
    let epa = start_epa(&realm);
    let (_py, port) = python_kdcproxy(&realm);
    let ours = epa.url("127.0.0.1", "/KdcProxy");
    let theirs = format!("http://127.0.0.1:{port}/KdcProxy");
    let alice = proxy_message(&as_req("alice"), Some("EXAMPLE.TEST"));
    let nobody = proxy_message(&as_req("nobody"), Some("EXAMPLE.TEST"));
    let other = proxy_message(&as_req("alice"), Some("OTHER.TEST"));
    let oversize = proxy_message(&vec![0u8; 200 * 1024], Some("EXAMPLE.TEST"));
    // (what, method, body, the verdict both give)
    let same: [(&str, &str, Option<&[u8]>, &str); 5] = [
        ("AS-REQ alice", "POST", Some(&alice), "200 message 0x6b"),
        // KDC_ERR_C_PRINCIPAL_UNKNOWN (6), from the KDC, relayed as is.
        ("AS-REQ nobody", "POST", Some(&nobody), "200 KRB-ERROR 6"),
        ("realm not configured", "POST", Some(&other), "5xx"),
        ("oversize", "POST", Some(&oversize), "4xx"),
        ("wrong method", "GET", None, "4xx"),
    ];
    for (what, method, body, want) in same {
        let (s1, b1) = curl(&ours, method, body, None);
        let (s2, b2) = curl(&theirs, method, body, None);
        assert_eq!(verdict(s1, &b1), want, "epa, {what}: {}", epa.log());
        assert_eq!(verdict(s2, &b2), want, "kdcproxy, {what}");
        if want.ends_with("xx") {
            assert_eq!(s1, s2, "{what}: the same status");
        }
    }
    // Where they differ (docs/decisions.md, "KDC proxy"). Malformed DER and an empty body: 400
    // here; python3-kdcproxy 1.0.0 with Debian 12's pyasn1 raises a TypeError building its 400
    // (the pyasn1 error object is not text) and wsgiref answers 500. Neither reaches the KDC.
    for bad in [&[0x30, 0x05, 0xa0, 0x03][..], &[]] {
        assert_eq!(curl(&ours, "POST", Some(bad), None).0, 400);
        assert_eq!(curl(&theirs, "POST", Some(bad), None).0, 500);
    }
    // No target-domain is a malformed request here (400), "no KDC for realm None" there (503);
    // another media type is refused here (415), read as Kerberos there; target-domain in
    // another case is the realm here ([MS-KKDCP] §2.2.2: "not case-sensitive"), unknown there.
    let lower = proxy_message(&as_req("alice"), Some("example.test"));
    let (s1, b1) = curl(&ours, "POST", Some(&lower), None);
    assert_eq!(verdict(s1, &b1), "200 message 0x6b");
    assert_eq!(curl(&theirs, "POST", Some(&lower), None).0, 503);
    let no_realm = proxy_message(&as_req("alice"), None);
    assert_eq!(curl(&ours, "POST", Some(&no_realm), None).0, 400);
    assert_eq!(curl(&theirs, "POST", Some(&no_realm), None).0, 503);
    let (s1, _) = curl(&ours, "POST", Some(&alice), Some("text/plain"));
    let (s2, b2) = curl(&theirs, "POST", Some(&alice), Some("text/plain"));
    assert_eq!((s1, verdict(s2, &b2).as_str()), (415, "200 message 0x6b"));
}

#[test]
fn refusals_never_reach_the_kdc_and_a_silent_kdc_has_a_deadline() {
    let realm = Realm::start("kdcproxy-refuse");
    let epa = start_epa(&realm);
    let url = epa.url("127.0.0.1", "/KdcProxy");
    let before = kdc_requests(&realm);
    let mut framed_lie = proxy_message(&as_req("alice"), Some("EXAMPLE.TEST"));
    framed_lie[9] ^= 0x01; // the 4-byte length no longer matches
    let kpasswd_like = proxy_message(&[0x6e, 0x00], Some("EXAMPLE.TEST")); // an AP-REQ
    let cases: [(&[u8], u16); 6] = [
        (&[], 400),
        (&[0x30, 0x80, 0x00, 0x00], 400),
        (&framed_lie, 400),
        (&kpasswd_like, 400),
        (
            &proxy_message(&vec![0u8; 140 * 1024], Some("EXAMPLE.TEST")),
            413,
        ),
        (&proxy_message(&as_req("alice"), Some("OTHER.TEST")), 503),
    ];
    for (body, want) in cases {
        let (status, text) = curl(&url, "POST", Some(body), None);
        assert_eq!(status, want, "{}", String::from_utf8_lossy(&text));
    }
    assert_eq!(
        kdc_requests(&realm),
        before,
        "no refused request reached the KDC"
    );
    // A KDC that accepts and never answers: 504 once reply_timeout (1 s) has passed.
    let started = Instant::now();
    let (status, text) = curl(
        &url,
        "POST",
        Some(&proxy_message(&as_req("alice"), Some("SILENT.TEST"))),
        None,
    );
    let took = started.elapsed();
    assert_eq!(status, 504, "{}", String::from_utf8_lossy(&text));
    assert_eq!(text, b"kdc proxy: kdc-timeout\n");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(epa.log().contains("did not reply within"), "{}", epa.log());
}

/// The same through the Samba AD DC (its Heimdal KDC, which wants pre-authentication: two AS
/// exchanges, then a TGS exchange for the service): epa, kinit, kvno and curl all run inside
/// the DC's network namespace (tests/samba/dc.sh), where the KDC at 127.0.0.10 is; the
/// clients' krb5.conf names only epa's path.
#[test]
fn kinit_through_the_kdc_proxy_against_the_samba_ad_dc() {
    let dc = domain::Domain::start();
    let epa = dc.inside(support::epa_binary().to_str().unwrap());
    let body = format!(
        "[policy]\nenforcement = \"when-supported\"\nservice_names = [\"HTTP/web.epa.test\"]\n\
         [backend]\nkind = \"gssapi\"\nkeytab = {:?}\n\
         [kdc_proxy]\n[[kdc_proxy.realm]]\nname = \"{}\"\nkdcs = [\"127.0.0.10:88\"]\n",
        dc.path("http.keytab"),
        domain::REALM,
    );
    let krb5 = dc.path("krb5.conf");
    let (_epa, addr, log, cert) = launch(epa, &dc.dir, &body, krb5.to_str().unwrap());
    let conf = dc.dir.join("krb5-kkdcp.conf");
    std::fs::write(
        &conf,
        format!(
            "[libdefaults]\n  default_realm = {r}\n  dns_lookup_kdc = false\n  dns_lookup_realm = false\n  \
             dns_canonicalize_hostname = false\n  rdns = false\n\
             [realms]\n  {r} = {{\n    kdc = https://127.0.0.1:{port}/KdcProxy\n    http_anchors = FILE:{cert}\n  }}\n\
             [domain_realm]\n  .epa.test = {r}\n",
            r = domain::REALM,
            port = addr.port(),
            cert = cert.display()
        ),
    )
    .unwrap();
    let cache = dc.dir.join("kkdcp-ccache");
    let env = [
        ("KRB5_CONFIG", conf.clone()),
        ("KRB5CCNAME", cache.clone()),
        ("KRB5_TRACE", dc.dir.join("kinit-trace.log")),
    ];
    let mut kinit = dc
        .inside("kinit")
        .arg(format!("alice@{}", domain::REALM))
        .envs(env.clone())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(kinit.stdin.take().unwrap(), "{}", domain::PASSWORD).unwrap();
    let out = kinit.wait_with_output().unwrap();
    let serve_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let trace = std::fs::read_to_string(dc.dir.join("kinit-trace.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "kinit: {}\n{trace}\n{}",
        String::from_utf8_lossy(&out.stderr),
        serve_log()
    );
    assert!(
        trace.contains(&format!("Sending HTTPS request to https {addr}")),
        "{trace}"
    );
    // Pre-authentication: the KDC's KRB-ERROR (25) relayed, then the AS-REP.
    assert!(
        serve_log().contains("kdc_proxy=\"krb-error\""),
        "{}",
        serve_log()
    );
    assert!(
        serve_log().contains("kdc_proxy=\"reply\""),
        "{}",
        serve_log()
    );
    // curl --negotiate inside the namespace: the TGS exchange for HTTP/web.epa.test through
    // the proxy too, then epa accepts the ticket with the directory's keytab.
    let url = format!("https://web.epa.test:{}/", addr.port());
    let out = dc
        .inside("curl")
        .args([
            "-sk",
            "--negotiate",
            "-u",
            ":",
            "-w",
            "\n%{http_code}",
            "--resolve",
        ])
        .arg(format!("web.epa.test:{}:127.0.0.1", addr.port()))
        .arg(&url)
        .envs(env)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.ends_with("\n200"), "{text}\n{}", serve_log());
    assert!(text.contains("hello") && text.contains("alice"), "{text}");
}
