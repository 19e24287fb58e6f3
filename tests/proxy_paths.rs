//! Path spellings through `epa_server::proxy::Router` (issue #20 items 12 and 13): a spelling
//! that an upstream reads as a protected route must get that route's policy or a 400, never
//! the anonymous parent route's pass to the upstream.
//!
//! The table: `/` anonymous, `/admin` protected (Always, embedded NTLM). A request that reaches
//! the upstream gets the upstream's 200 (with the path it saw); one that gets the protected
//! route's policy gets its 401 challenge; a refused spelling gets 400.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use bytes::Bytes;
use epa::config::ServerConfig;
use epa::config::proxy::UpstreamTarget;
use epa::hyper::ntlm::{NtlmAcceptor, UserDb};
use epa::hyper::{ChannelFacts, ConnectionContext, ExtendedProtectionLayer};
use epa::server::proxy::{IdentityHeaders, Proxy, Router, Upstream};
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower::ServiceExt as _;

/// An upstream that answers every request 200 with the request line it received.
async fn line_upstream() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = head
                    .split(|b| *b == b'\r')
                    .next()
                    .unwrap_or_default()
                    .to_vec();
                let mut resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    line.len()
                )
                .into_bytes();
                resp.extend_from_slice(&line);
                let _ = tcp.write_all(&resp).await;
            });
        }
    });
    addr
}

async fn router(extra: &str) -> Router {
    let upstream = line_upstream().await;
    let config: ServerConfig = toml::from_str(&format!(
        "[policy]\nenforcement = \"always\"\nprefixes = [\"https://localhost/\"]\n\
         [[route]]\npath = \"/\"\nanonymous = true\n\
         [[route]]\npath = \"/admin\"\n{extra}"
    ))
    .unwrap();
    let target = UpstreamTarget::Http {
        host: "127.0.0.1".into(),
        port: upstream.port(),
    };
    let upstream = Upstream::new(&target, Duration::from_secs(2), Duration::from_secs(5)).unwrap();
    let proxy = Proxy::new(upstream, IdentityHeaders::default());
    Router::from_config(&config, &proxy, |table| {
        Ok(ExtendedProtectionLayer::new(
            NtlmAcceptor::new(
                UserDb::parse("TESTDOM:alice:pw\n").unwrap(),
                "TESTDOM",
                "WEB01",
            ),
            table.build()?,
        ))
    })
    .unwrap()
}

/// The status and body of one GET of `target` through `router`.
async fn get(router: &Router, target: &str) -> (StatusCode, String) {
    let mut req = Request::get(target)
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let facts = ChannelFacts::plain("127.0.0.1:40000".parse().unwrap());
    req.extensions_mut().insert(ConnectionContext::new(facts));
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_table_itself() {
    let r = router("").await;
    let (status, body) = get(&r, "/public").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "GET /public HTTP/1.1");
    assert_eq!(get(&r, "/admin").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&r, "/ADMIN/x").await.0, StatusCode::UNAUTHORIZED);
}

/// Item 12: Java's `equalsIgnoreCase` and Python's `casefold()` read these as `/admin` or
/// `/status`; they used to reach the upstream through the anonymous `/`.
#[tokio::test]
async fn case_foldings_beyond_ascii_get_the_protected_route() {
    let r = router("").await;
    for spelling in ["/adm%C4%B1n", "/adm%c4%b1n/x", "/%E2%84%AAey/../admin"] {
        assert_eq!(
            get(&r, spelling).await.0,
            StatusCode::UNAUTHORIZED,
            "{spelling}"
        );
    }
    let r = router("[[route]]\npath = \"/status\"\n").await;
    assert_eq!(get(&r, "/%C5%BFtatus").await.0, StatusCode::UNAUTHORIZED);
}

/// Item 13: Windows trims trailing dots and spaces and opens `admin::$DATA` as `admin`; an
/// application that decodes twice reads `/%2561dmin` as `/admin`. Refused by default (400).
#[tokio::test]
async fn windows_aliases_and_double_escapes_are_refused() {
    let r = router("").await;
    for spelling in [
        "/admin.",
        "/admin%20",
        "/admin%2e%2e",
        "/admin::$DATA",
        "/admin::%24DATA",
        "/%2561dmin",
        "/x/%252e%252e/admin",
    ] {
        assert_eq!(
            get(&r, spelling).await.0,
            StatusCode::BAD_REQUEST,
            "{spelling}"
        );
    }
    // Ordinary paths with dots, colons and escaped percent signs still pass.
    for fine in ["/a.b/c", "/v1/items:batch", "/100%25"] {
        assert_eq!(get(&r, fine).await.0, StatusCode::OK, "{fine}");
    }
}

#[tokio::test]
async fn request_filtering_settings_let_each_spelling_through() {
    let extra = "[request_filtering]\nallow_double_escaping = true\nallow_windows_aliases = true\n";
    let r = router(extra).await;
    let (status, body) = get(&r, "/admin.").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "GET /admin. HTTP/1.1")
    );
    let (status, body) = get(&r, "/%2561dmin").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "GET /%2561dmin HTTP/1.1")
    );
}
