//! Issue #20 items 1, 10 and 15 against a real `epa serve`: h2c smuggling through `Upgrade`
//! with Hypercorn (an h2c-capable upstream) behind it, WebSocket through Hypercorn still
//! spliced, `CONNECT` and bad `Host` over raw sockets, and an upstream answering with both
//! `Transfer-Encoding` and `Content-Length` (a raw upstream socket).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod proxy_support;
mod support;

use proxy_support::{Epa, RawConn};
use std::io::{Read as _, Write as _};

const USERS: &str = "TESTDOM:alice:userpw\n";
/// `/admin` admits only the Administrator: alice is refused there.
const ADMIN_ROUTE: &str = "[[route]]\npath = \"/admin\"\nallow_users = [\"TESTDOM\\\\Administrator\"]\n\
     [[route]]\npath = \"/health\"\nanonymous = true\n";

#[test]
fn h2c_upgrade_after_login_never_opens_an_http2_channel_to_hypercorn() {
    let (_up, port) = proxy_support::hypercorn();
    let epa = Epa::start("", port, ADMIN_ROUTE, USERS);
    // Every spelling of the h2c upgrade RFC 7540 §3.2 allows, on an authenticated connection.
    for upgrade in ["h2c", "H2C", "h2c, foo", "websocket-not, h2c"] {
        let mut c = RawConn::open(epa.addr);
        let r = c.login("/", "alice", "userpw", &[]);
        assert_eq!(r.status, 200, "login");
        assert_eq!(r.json()["http_version"], "1.1");
        let r = c.get(
            "/",
            &[
                ("Connection", "Upgrade, HTTP2-Settings"),
                ("Upgrade", upgrade),
                ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"),
            ],
        );
        assert_ne!(
            r.status, 101,
            "Upgrade: {upgrade}: epa spliced an HTTP/2 channel to the upstream"
        );
        assert_eq!(r.status, 200, "Upgrade: {upgrade}");
        // Hypercorn answered it as the HTTP/1.1 request it was, without the upgrade headers.
        let seen = r.json();
        assert_eq!(seen["http_version"], "1.1");
        let names: Vec<String> = seen["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h[0].as_str().unwrap().to_ascii_lowercase())
            .collect();
        for gone in ["upgrade", "http2-settings"] {
            assert!(
                !names.contains(&gone.to_owned()),
                "{gone} forwarded: {seen}"
            );
        }
        // The connection is still epa's: alice is refused at /admin (its own layer, its own
        // login), and a forged identity changes nothing.
        assert_eq!(c.login("/admin", "alice", "userpw", &[]).status, 403);
        let r = c.get(
            "/admin",
            &[
                ("X-Remote-User", "TESTDOM\\Administrator"),
                ("X-Remote-Groups", "S-1-5-32-544"),
            ],
        );
        assert_eq!(r.status, 403, "{upgrade}: /admin");
        // An HTTP/2 preface on it is no HTTP/1.1 request: never forwarded.
        c.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00");
        let started = std::time::Instant::now();
        c.set_deadline(std::time::Duration::from_secs(5));
        let r = c.reply(false);
        eprintln!("preface: {} after {:?}", r.status, started.elapsed());
        assert!(
            r.status == 0 || r.status >= 400,
            "preface answered {}",
            r.status
        );
    }
    let seen = proxy_support::direct(port, "/_log");
    assert!(!seen.contains("admin"), "the upstream saw {seen}");
}

#[test]
fn websocket_upgrade_through_hypercorn_still_works() {
    let (_up, port) = proxy_support::hypercorn();
    let routes = format!("{ADMIN_ROUTE}[[route]]\npath = \"/plain\"\nupgrade_protocols = []\n");
    let epa = Epa::start("", port, &routes, USERS);
    let ws = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    // Not logged in: the layer's 401, nothing upgraded.
    let mut c = RawConn::open(epa.addr);
    assert_eq!(c.get("/ws", &ws).status, 401);
    // Logged in: 101 from Hypercorn (websocket), then a frame echoed.
    let mut c = RawConn::open(epa.addr);
    assert_eq!(c.login("/", "alice", "userpw", &[]).status, 200);
    let r = c.get("/ws", &ws);
    assert_eq!(r.status, 101, "{r:?}");
    assert!(
        r.header("upgrade")
            .unwrap()
            .eq_ignore_ascii_case("websocket")
    );
    assert_eq!(
        r.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    // A masked text frame "hello" (mask 0 leaves the payload as it is).
    c.write(&[0x81, 0x85, 0, 0, 0, 0, b'h', b'e', b'l', b'l', b'o']);
    assert_eq!(c.read_exact(7), [0x81, 5, b'h', b'e', b'l', b'l', b'o']);
    // A route with no upgrade protocols: the same request goes as a plain GET.
    let mut c = RawConn::open(epa.addr);
    assert_eq!(c.login("/plain", "alice", "userpw", &[]).status, 200);
    let r = c.get("/plain/ws", &ws);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["path"], "/plain/ws");
}

#[test]
fn connect_is_405_and_bad_hosts_are_400_over_raw_sockets() {
    let (_up, port) = support::python_upstream();
    let epa = Epa::start("", port, ADMIN_ROUTE, USERS);
    let raw = |bytes: &str| {
        let mut c = RawConn::open(epa.addr);
        c.write(bytes.as_bytes());
        c.reply(false)
    };
    // CONNECT with an origin-form target was routed as /health and reached the upstream as a
    // tunnel request.
    for target in ["/health", "localhost:443", "127.0.0.1:22"] {
        let r = raw(&format!(
            "CONNECT {target} HTTP/1.1\r\nHost: localhost\r\n\r\n"
        ));
        assert_eq!(r.status, 405, "CONNECT {target}");
        assert!(r.header("allow").is_some_and(|a| !a.contains("CONNECT")));
    }
    for (what, head) in [
        ("missing", "GET /health HTTP/1.1\r\n\r\n"),
        (
            "duplicate",
            "GET /health HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n",
        ),
        (
            "invalid",
            "GET /health HTTP/1.1\r\nHost: evil.example/admin\r\n\r\n",
        ),
        ("user info", "GET /health HTTP/1.1\r\nHost: a@evil\r\n\r\n"),
        ("empty", "GET /health HTTP/1.1\r\nHost: \r\n\r\n"),
        (
            "bad port",
            "GET /health HTTP/1.1\r\nHost: localhost:x\r\n\r\n",
        ),
    ] {
        assert_eq!(raw(head).status, 400, "{what} Host");
    }
    // HTTP/1.0 needs no Host.
    assert_eq!(raw("GET /health HTTP/1.0\r\n\r\n").status, 200);
    // Absolute form: Host follows the target (RFC 9112 §3.2.2).
    let r = raw(
        "GET http://other.example:8080/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let seen = r.json();
    assert_eq!(seen["path"], "/health");
    assert_eq!(
        seen["headers"]["host"],
        serde_json::json!(["other.example:8080"])
    );
    // None of the refused requests reached the upstream.
    assert_eq!(support::upstream_paths(port), ["/health", "/health"]);
}

#[test]
fn upstream_response_with_transfer_encoding_and_content_length_is_not_truncated() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = "abcdefghijklmnopqrstuvwxyz";
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            s.set_read_timeout(Some(proxy_support::DEADLINE)).unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            // One response per connection, said so: the proxy's pool must not reuse a
            // connection this upstream is about to close (a 502 race otherwise).
            let _ = s.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    let epa = Epa::start("", port, ADMIN_ROUTE, USERS);
    let mut c = RawConn::open(epa.addr);
    let r = c.get("/health", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(String::from_utf8_lossy(&r.body), body, "{:?}", r.headers);
    assert!(r.header("content-length").is_none_or(|n| n == "26"));
    // The connection is still in step: a second response parses.
    assert_eq!(c.get("/health", &[]).status, 200);
}

#[test]
fn h2c_in_upgrade_protocols_is_a_configuration_error() {
    let (cert, key, _) = support::cert_files();
    let head = format!(
        "[listener]\naddress = \"127.0.0.1:0\"\ncertificate_file = {cert:?}\nkey_file = {key:?}\n\
         [policy]\nenforcement = \"always\"\nprefixes = [\"https://localhost/\"]\n\
         [upstream]\nurl = \"http://127.0.0.1:9\"\n"
    );
    for extra in [
        "upgrade_protocols = [\"websocket\", \"h2c\"]\n",
        "[[route]]\npath = \"/grpc\"\nupgrade_protocols = [\"H2C\"]\n",
    ] {
        let err = support::epa_serve(&format!("{head}{extra}"))
            .err()
            .unwrap_or_else(|| panic!("started with {extra}"));
        assert!(err.contains("h2c") || err.contains("H2C"), "{err}");
    }
}
