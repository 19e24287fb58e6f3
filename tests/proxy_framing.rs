//! Request framing through `epa serve` (issue #20: the attacks the review tried that held, kept
//! tested): Content-Length / Transfer-Encoding conflicts, chunk tricks, trailers, pipelining and
//! obsolete line folding, each written byte for byte over TLS to an anonymous route whose
//! upstream is a raw socket that records every byte it receives.
//!
//! The invariant for every case: either epa refuses (400/501, or closes) and the upstream sees
//! nothing of the request, or the upstream receives exactly the requests the client framed —
//! never a second request hidden in a body (a desync), never a client header in a trailer
//! spelt as an identity header.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod proxy_support;
mod support;

use proxy_support::{DEADLINE, Epa, RawConn};
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USERS: &str = "TESTDOM:alice:userpw\n";
const ANONYMOUS: &str = "[[route]]\npath = \"/\"\nanonymous = true\n";

/// What the upstream received: one entry per request (its head, and its body as sent on the
/// wire, chunked or not).
type Seen = Arc<Mutex<Vec<String>>>;

/// Reads one request (head and body, as framed by its own headers) from `s`; `None` at end.
fn read_request(s: &mut std::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    if head.contains("transfer-encoding: chunked") {
        // Until the last chunk and the end of the trailer section.
        while !(buf.ends_with(b"\r\n0\r\n\r\n")
            || buf.windows(5).any(|w| w == b"\n0\r\n")
                && buf.ends_with(b"\r\n\r\n")
                && buf.len() > head.len() + 4)
        {
            if s.read(&mut byte).ok()? == 0 {
                break;
            }
            buf.push(byte[0]);
        }
    } else if let Some(n) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        let mut body = vec![0u8; n];
        s.read_exact(&mut body).ok()?;
        buf.extend(body);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// A keep-alive upstream that records each request and answers `200 ok`.
fn raw_upstream() -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let log = log.clone();
            std::thread::spawn(move || {
                s.set_read_timeout(Some(DEADLINE)).unwrap();
                while let Some(req) = read_request(&mut s) {
                    log.lock().unwrap().push(req);
                    if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (port, seen)
}

/// Writes `bytes` on a fresh connection and reads every response until the server closes or
/// goes quiet for a second; returns the statuses.
fn exchange(epa: &Epa, bytes: &[u8]) -> Vec<u16> {
    let mut c = RawConn::open(epa.addr);
    c.write(bytes);
    c.set_deadline(Duration::from_secs(1));
    let mut statuses = Vec::new();
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        let r = c.reply(false);
        if r.status == 0 {
            break;
        }
        statuses.push(r.status);
        if r.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            break;
        }
    }
    statuses
}

/// The requests the upstream has seen so far (waits a moment for stragglers).
fn taken(seen: &Seen) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(200));
    std::mem::take(&mut *seen.lock().unwrap())
}

/// Refused outright: a 4xx/5xx or a closed connection, and nothing reached the upstream.
fn assert_refused(name: &str, statuses: &[u16], seen: &Seen) {
    let upstream = taken(seen);
    assert!(
        statuses.iter().all(|s| *s >= 400),
        "{name}: answered {statuses:?}"
    );
    assert!(upstream.is_empty(), "{name}: upstream got {upstream:?}");
}

#[test]
fn ambiguous_framing_is_refused_before_the_upstream() {
    let (port, seen) = raw_upstream();
    let epa = Epa::start("", port, ANONYMOUS, USERS);
    let cases: &[(&str, &[u8])] = &[
        (
            "two different Content-Length",
            b"POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        ),
        (
            "Content-Length list",
            b"POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5, 6\r\n\r\nhello!",
        ),
        (
            "signed Content-Length",
            b"POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: +5\r\n\r\nhello",
        ),
        (
            "space before the colon",
            b"POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "unknown transfer coding",
            b"POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "chunked not last",
            b"POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        ),
        (
            "chunk size overflow",
            b"POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000001\r\nx\r\n0\r\n\r\n",
        ),
        (
            "obsolete line folding",
            b"GET /a HTTP/1.1\r\nHost: localhost\r\nX-Remote-User: a\r\n TESTDOM\\admin\r\n\r\n",
        ),
        (
            "NUL in a header value",
            b"GET /a HTTP/1.1\r\nHost: localhost\r\nX-App: a\0b\r\n\r\n",
        ),
    ];
    for (name, bytes) in cases {
        let statuses = exchange(&epa, bytes);
        assert_refused(name, &statuses, &seen);
    }
}

#[test]
fn content_length_with_chunked_never_smuggles_a_second_request() {
    let (port, seen) = raw_upstream();
    let epa = Epa::start("", port, ANONYMOUS, USERS);
    // CL.TE: a front end that read Content-Length would forward the tail as a second request.
    let smuggled = b"POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n\
        Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let statuses = exchange(&epa, smuggled);
    let upstream = taken(&seen);
    // Either refused (RFC 9112 §6.3 allows it) or read as chunked: then `/smuggled` is a
    // request of the client's own on the same connection, framed by epa, never a body.
    let bodies_with_smuggle: Vec<&String> = upstream
        .iter()
        .filter(|r| r.starts_with("POST") && r.contains("smuggled"))
        .collect();
    assert!(bodies_with_smuggle.is_empty(), "{upstream:?}");
    for r in &upstream {
        let lower = r.to_ascii_lowercase();
        assert!(
            !(lower.contains("content-length:") && lower.contains("transfer-encoding:")),
            "forwarded with both framings: {r:?}"
        );
    }
    assert!(!statuses.is_empty(), "no answer at all");
}

/// RFC 9112 §2.2 lets a recipient read a bare LF as a line end, and hyper does; epa then writes
/// the request anew, so the upstream never sees a bare LF it might read differently.
#[test]
fn bare_lf_lines_reach_the_upstream_as_crlf() {
    let (port, seen) = raw_upstream();
    let epa = Epa::start("", port, ANONYMOUS, USERS);
    let statuses = exchange(&epa, b"GET /a HTTP/1.1\nHost: localhost\nX-App: 1\n\n");
    assert_eq!(statuses, [200]);
    let upstream = taken(&seen);
    assert_eq!(upstream.len(), 1, "{upstream:?}");
    let bytes = upstream[0].as_bytes();
    let bare = bytes
        .iter()
        .enumerate()
        .any(|(i, b)| *b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'));
    assert!(!bare, "{:?}", upstream[0]);
}

#[test]
fn pipelined_requests_reach_the_upstream_one_by_one_in_order() {
    let (port, seen) = raw_upstream();
    let epa = Epa::start("", port, ANONYMOUS, USERS);
    let statuses = exchange(
        &epa,
        b"GET /one HTTP/1.1\r\nHost: localhost\r\n\r\n\
          POST /two HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc\
          GET /three HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(statuses, [200, 200, 200]);
    let upstream = taken(&seen);
    let lines: Vec<&str> = upstream
        .iter()
        .map(|r| r.lines().next().unwrap_or_default())
        .collect();
    assert_eq!(
        lines,
        [
            "GET /one HTTP/1.1",
            "POST /two HTTP/1.1",
            "GET /three HTTP/1.1"
        ]
    );
    assert!(upstream[1].ends_with("abc"), "{:?}", upstream[1]);
}

#[test]
fn trailers_never_carry_an_identity_to_the_upstream() {
    let (port, seen) = raw_upstream();
    let epa = Epa::start("", port, ANONYMOUS, USERS);
    let statuses = exchange(
        &epa,
        b"POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTrailer: X-Remote-User\r\n\r\n\
          3\r\nabc\r\n0\r\nX-Remote-User: TESTDOM\\admin\r\nX_Remote_Groups: S-1-5-32-544\r\n\r\n",
    );
    let upstream = taken(&seen);
    for r in &upstream {
        let lower = r.to_ascii_lowercase();
        assert!(
            !lower.contains("x-remote-user") && !lower.contains("x_remote_groups"),
            "a client trailer reached the upstream: {r:?}"
        );
    }
    // Accepted (the body without its trailers) or refused: either way, nothing forged.
    assert_eq!(statuses.len(), 1, "{statuses:?}");
}

/// A client that stops sending its body mid-upload (R-U-Dead-Yet) is cut after
/// `[listener] body_timeout` with 408, and the upstream request is abandoned: the upstream
/// worker is not held until the response deadline (nginx `client_body_timeout`).
#[test]
fn a_stalled_request_body_is_cut_after_the_body_timeout() {
    let (port, seen) = raw_upstream();
    let epa = Epa::start(
        "body_timeout = 1",
        port,
        &format!("response_timeout_ms = 30000\n{ANONYMOUS}"),
        USERS,
    );
    let mut c = RawConn::open(epa.addr);
    c.write(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789");
    let start = Instant::now();
    c.set_deadline(Duration::from_secs(10));
    let r = c.reply(false);
    let waited = start.elapsed();
    assert_eq!(r.status, 408, "{:?} after {waited:?}", r.headers);
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    // The upstream never got a whole request: its connection was closed mid-body.
    assert!(taken(&seen).is_empty());
    assert!(epa.log().contains("body-timeout"), "{}", epa.log());
}
