//! Issue #23: signed identity assertions against a real `epa serve`, verified by libraries
//! nobody on this project wrote — PyJWT (`PyJWKClient` fetching the key page) and Node's `jose`
//! (`createRemoteJWKSet`) — for ES256 and EdDSA keys made by openssl(1): valid, expired, wrong
//! audience, wrong key, tampered; made once per login (keep-alive requests get the same one);
//! every client spelling of the header removed (anonymous routes and routes without an
//! assertion too); a SIGHUP key rotation during which an assertion minted before it still
//! verifies through the previous keys; a bad key on reload keeps the running keys.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod proxy_support;
mod support;

use proxy_support::{Epa, RawConn, Reply};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const USERS: &str = "TESTDOM:alice:userpw\n";
const ISSUER: &str = "https://epa.test";

/// Client copies of the assertion header in every spelling a server might fold into it.
const FORGED: &[(&str, &str)] = &[
    ("X-EPA-Assertion", "forged.forged.forged"),
    ("x-epa-assertion", "forged2"),
    ("X_EPA_Assertion", "forged3"),
    ("x_epa_assertion", "forged4"),
    ("X-EPA-Binding", "binding-verified"),
    ("X_EPA_Binding", "binding-verified"),
];

fn openssl_key(path: &Path, alg: &str) {
    let mut cmd = Command::new("openssl");
    cmd.arg("genpkey");
    match alg {
        "ES256" => cmd.args(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
        _ => cmd.args(["-algorithm", "ed25519"]),
    };
    let out = cmd.arg("-out").arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The headers the echo upstream received: lower-case name → values.
fn received(r: &Reply) -> serde_json::Map<String, serde_json::Value> {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["headers"].as_object().unwrap().clone()
}

/// Every value of `name` the upstream saw (also spelt with `_`).
fn values(h: &serde_json::Map<String, serde_json::Value>, name: &str) -> Vec<String> {
    let folded = name.replace('-', "_");
    h.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name) || k.eq_ignore_ascii_case(&folded))
        .flat_map(|(_, v)| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
        })
        .collect()
}

/// The one assertion the upstream received.
fn assertion(r: &Reply) -> String {
    let h = received(r);
    let list = values(&h, "x-epa-assertion");
    assert_eq!(list.len(), 1, "{h:?}");
    assert!(
        !list[0].contains("forged"),
        "a client copy reached the upstream: {h:?}"
    );
    assert_eq!(values(&h, "x-epa-binding"), ["binding-verified"], "{h:?}");
    list[0].clone()
}

/// A verdict from one of the verifiers.
fn verify(tool: &Verifier, url: &str, token: &str, aud: &str, mode: &str) -> serde_json::Value {
    let out = match tool {
        Verifier::PyJwt => Command::new(support::python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/verify_assertion.py"))
            .args([url, token, aud, ISSUER, mode])
            .output()
            .unwrap(),
        Verifier::Jose(dir) => Command::new("node")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/verify_assertion.js"))
            .args([url, token, aud, ISSUER, mode])
            .current_dir(dir)
            .env("NODE_PATH", dir.join("node_modules"))
            // The test certificate is self-signed.
            .env("NODE_TLS_REJECT_UNAUTHORIZED", "0")
            .env("NODE_NO_WARNINGS", "1")
            .output()
            .unwrap(),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim())
        .unwrap_or_else(|_| panic!("{tool:?}: {text} {}", String::from_utf8_lossy(&out.stderr)))
}

#[derive(Debug)]
enum Verifier {
    PyJwt,
    /// The directory whose node_modules holds `jose`.
    Jose(PathBuf),
}

/// `jose` from npm into target/node-jose (idempotent, as scripts/test does); `None` with a
/// message when npm is not installed.
fn jose() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/node-jose");
    if dir.join("node_modules/jose/package.json").exists() {
        return Some(dir);
    }
    if Command::new("npm").arg("--version").output().is_err() {
        eprintln!("SKIPPED: Node's jose verifier (npm is not installed)");
        return None;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let ok = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .arg("jose@5")
        .status()
        .unwrap()
        .success();
    assert!(ok, "npm install jose");
    Some(dir)
}

fn check_verdicts(tools: &[Verifier], url: &str, token: &str, aud: &str, alg: &str) {
    for tool in tools {
        let ok = verify(tool, url, token, aud, "as-is");
        assert_eq!(ok["ok"], true, "{tool:?} {alg}: {ok}");
        let c = &ok["claims"];
        assert_eq!(c["sub"], "TESTDOM\\alice", "{c}");
        assert_eq!(c["aud"], aud);
        assert_eq!(c["amr"][0], "ntlm");
        assert_eq!(c["binding"], "binding-verified");
        assert_eq!(c["binding_class"], "verified");
        assert_eq!(c["service_name"], "HTTP/localhost");
        assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 60);
        // Each refusal for its own reason: expired, wrong audience, wrong key, tampered.
        for (mode, audience, errors) in [
            ("expired", aud, ["ExpiredSignatureError", "ERR_JWT_EXPIRED"]),
            (
                "as-is",
                "someone-else",
                ["InvalidAudienceError", "ERR_JWT_CLAIM_VALIDATION_FAILED"],
            ),
            (
                "wrong-key",
                aud,
                [
                    "InvalidSignatureError",
                    "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
                ],
            ),
            (
                "tampered",
                aud,
                [
                    "InvalidSignatureError",
                    "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
                ],
            ),
        ] {
            let v = verify(tool, url, token, audience, mode);
            assert_eq!(v["ok"], false, "{tool:?} {alg} {mode} {audience}: {v}");
            assert!(
                errors.contains(&v["error"].as_str().unwrap()),
                "{tool:?} {alg} {mode}: {v}"
            );
        }
    }
}

/// Waits for `epa serve: SIGHUP: <what>` in the log (30 s at most), counting from `seen`.
fn wait_reload(epa: &Epa, seen: usize, what: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if epa.log()[seen..].contains(&format!("epa serve: SIGHUP: {what}")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no SIGHUP {what}: {}", epa.log());
}

fn jwks(epa: &Epa) -> serde_json::Value {
    let r = RawConn::open(epa.addr).get("/.well-known/epa/jwks.json", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("public, max-age=60"));
    r.json()
}

#[test]
fn assertions_verify_in_pyjwt_and_jose_rotate_on_sighup_and_are_never_forged() {
    let mut tools = vec![Verifier::PyJwt];
    tools.extend(jose().map(Verifier::Jose));
    for alg in ["ES256", "EdDSA"] {
        let (_up, port) = support::python_upstream();
        let dir = support::workdir();
        let n = support::rand_suffix();
        let (current, previous) = (
            dir.join(format!("as-{n}.pem")),
            dir.join(format!("as-old-{n}.pem")),
        );
        openssl_key(&current, alg);
        openssl_key(&previous, alg);
        let extra = format!(
            "[identity_assertion]\nsigning_key_file = {current:?}\nprevious_key_files = [{previous:?}]\n\
             issuer = \"{ISSUER}\"\naudience = \"my-app\"\ndefault = true\n\
             [[route]]\npath = \"/other\"\nassertion_audience = \"other-app\"\n\
             [[route]]\npath = \"/plain\"\nidentity_assertion = false\n\
             [[route]]\npath = \"/health\"\nanonymous = true\n"
        );
        let epa = Epa::start("", port, &extra, USERS);
        let url = format!(
            "https://localhost:{}/.well-known/epa/jwks.json",
            epa.addr.port()
        );

        // The key page: current then previous, by kid; anonymous; GET/HEAD only.
        let page = jwks(&epa);
        let keys = page["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0]["alg"], alg);
        assert_eq!(keys[0]["use"], "sig");
        let post = RawConn::open(epa.addr).send(
            "POST",
            "/.well-known/epa/jwks.json",
            &[("Content-Length", "0")],
        );
        assert_eq!(post.status, 405);
        assert_eq!(post.header("allow"), Some("GET, HEAD"));

        // A login gets one assertion, reused on the keep-alive connection.
        let mut c = RawConn::open(epa.addr);
        let first = assertion(&c.login("/app", "alice", "userpw", FORGED));
        let again = assertion(&c.get("/app/x", FORGED));
        assert_eq!(first, again, "minted once per login");
        let header: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                first.split('.').next().unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(header["kid"], keys[0]["kid"]);
        assert_eq!(header["typ"], "JWT");
        check_verdicts(&tools, &url, &first, "my-app", alg);

        // Another route, its own audience; a route without assertions and an anonymous one
        // get none, and no client copy.
        let mut c2 = RawConn::open(epa.addr);
        let other = assertion(&c2.login("/other", "alice", "userpw", FORGED));
        assert_eq!(
            verify(&tools[0], &url, &other, "other-app", "as-is")["ok"],
            true
        );
        let mut c3 = RawConn::open(epa.addr);
        let plain = received(&c3.login("/plain", "alice", "userpw", FORGED));
        assert!(values(&plain, "x-epa-assertion").is_empty(), "{plain:?}");
        assert_eq!(values(&plain, "x-epa-binding"), ["binding-verified"]);
        let anon = received(&RawConn::open(epa.addr).get("/health", FORGED));
        assert!(values(&anon, "x-epa-assertion").is_empty(), "{anon:?}");
        assert!(values(&anon, "x-epa-binding").is_empty(), "{anon:?}");

        // Rotation: the new key signs, the old one is published as previous; an assertion
        // minted before the reload still verifies, fetched from the new key page.
        let old_kid = keys[0]["kid"].clone();
        std::fs::copy(&current, &previous).unwrap();
        openssl_key(&current, alg);
        let seen = epa.log().len();
        epa.hangup();
        wait_reload(&epa, seen, "configuration reloaded");
        let page = jwks(&epa);
        assert_eq!(page["keys"][1]["kid"], old_kid, "{page}");
        assert_ne!(page["keys"][0]["kid"], old_kid);
        for tool in &tools {
            assert_eq!(
                verify(tool, &url, &first, "my-app", "as-is")["ok"],
                true,
                "{tool:?} after rotation"
            );
        }
        let mut c4 = RawConn::open(epa.addr);
        let fresh = assertion(&c4.login("/app", "alice", "userpw", &[]));
        let v = verify(&tools[0], &url, &fresh, "my-app", "as-is");
        assert_eq!(v["kid"], page["keys"][0]["kid"], "{v}");

        // A bad key on reload: refused, the running keys stay.
        std::fs::write(&current, "not a key\n").unwrap();
        let seen = epa.log().len();
        epa.hangup();
        wait_reload(&epa, seen, "reload rejected");
        assert_eq!(jwks(&epa), page);
        let mut c5 = RawConn::open(epa.addr);
        let still = assertion(&c5.login("/app", "alice", "userpw", &[]));
        assert_eq!(
            verify(&tools[0], &url, &still, "my-app", "as-is")["ok"],
            true
        );
    }
}

/// `epa lint` reads the key files: an unreadable previous key, a previous key that is the
/// signing key, a key of another type; a good file has no assertion finding.
#[test]
fn lint_reads_the_assertion_keys() {
    let dir = support::workdir();
    let n = support::rand_suffix();
    let (key, rsa) = (
        dir.join(format!("lint-{n}.pem")),
        dir.join(format!("lint-rsa-{n}.pem")),
    );
    openssl_key(&key, "EdDSA");
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&rsa)
        .output()
        .unwrap();
    assert!(out.status.success());
    let chmod = |path: &std::path::Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    chmod(&key, 0o600);
    chmod(&rsa, 0o600);
    let lint = |previous: &str| {
        let file = dir.join(format!("lint-{n}.toml"));
        std::fs::write(
            &file,
            format!(
                "[listener]\ntransport = \"http\"\nnegotiate = false\n\
                 [upstream]\nurl = \"http://127.0.0.1:1\"\n\
                 [identity_assertion]\nsigning_key_file = {key:?}\nprevious_key_files = [{previous}]\n\
                 issuer = \"i\"\naudience = \"a\"\ndefault = true\n"
            ),
        )
        .unwrap();
        let out = Command::new(support::epa_binary())
            .args(["lint", "--json"])
            .arg(&file)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stdout)));
        let mut codes: Vec<String> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_owned())
            .filter(|c| c.starts_with("assertion"))
            .collect();
        codes.sort();
        codes
    };
    assert!(lint("").is_empty(), "{:?}", lint(""));
    assert_eq!(
        lint(&format!("{key:?}, \"/nonexistent/old.pem\", {rsa:?}")),
        [
            "assertion-key-type",
            "assertion-key-unreadable",
            "assertion-previous-key-is-current"
        ]
    );
    // A private key other users can read: anyone who reads it signs any identity.
    chmod(&key, 0o644);
    assert_eq!(lint(""), ["assertion-key-readable-by-others"]);
}
