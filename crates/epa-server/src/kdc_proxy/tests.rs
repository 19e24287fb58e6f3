//! The service in process against a fake KDC on loopback: every refusal of the module's table,
//! and that a refused request never reaches the KDC.

#![allow(clippy::unwrap_used)]
use super::*;
use http_body_util::Full;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const AS_REQ: &[u8] = &[0x6a, 0x03, 0x30, 0x01, 0x00];

/// A fake KDC answering every framed request with `reply` (framed); counts connections.
async fn fake_kdc(reply: &'static [u8]) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut len = [0u8; 4];
                if s.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut req = vec![0u8; u32::from_be_bytes(len) as usize];
                let _ = s.read_exact(&mut req).await;
                let _ = s.write_all(&message::frame(reply).unwrap()).await;
            });
        }
    });
    (addr, seen)
}

fn proxy(kdc: std::net::SocketAddr, extra: &str) -> KdcProxy {
    let table: epa_config::KdcProxyTable = toml::from_str(&format!(
        "max_message_bytes = 2048\nreply_timeout = 0.5\n{extra}\n[[realm]]\nname = \"EXAMPLE.TEST\"\nkdcs = [\"{kdc}\"]\n"
    ))
    .unwrap();
    KdcProxy::new(table.settings().unwrap())
}

fn post(body: Vec<u8>) -> Request<Full<bytes::Bytes>> {
    Request::post("/KdcProxy")
        .header(header::CONTENT_TYPE, MEDIA_TYPE)
        .body(Full::new(body.into()))
        .unwrap()
}

fn request(realm: &str) -> Vec<u8> {
    message::encode(&message::frame(AS_REQ).unwrap(), Some(realm)).unwrap()
}

async fn status_of(p: &KdcProxy, req: Request<Full<bytes::Bytes>>) -> (StatusCode, Vec<u8>) {
    let r = p.clone().answer(req).await;
    let status = r.status();
    let body = r.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, body)
}

#[tokio::test]
async fn a_request_is_relayed_and_the_reply_wrapped() {
    let (kdc, seen) = fake_kdc(&[0x7e, 0x00]).await;
    let p = proxy(kdc, "");
    assert!(p.asks(&post(vec![])));
    assert!(p.asks(&Request::get("/kdcproxy?x=1").body(()).unwrap()));
    assert!(!p.asks(&Request::get("/KdcProxy/x").body(()).unwrap()));
    let (status, body) = status_of(&p, post(request("EXAMPLE.TEST"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, message::encode(&[0, 0, 0, 2, 0x7e, 0], None).unwrap());
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    // target-domain "is not case-sensitive" ([MS-KKDCP] §2.2.2).
    let (status, _) = status_of(&p, post(request("example.test"))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn refusals_never_reach_the_kdc() {
    let (kdc, seen) = fake_kdc(&[0x7e, 0x00]).await;
    let p = proxy(kdc, "");
    let get = Request::get("/KdcProxy")
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let r = p.clone().answer(get).await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()[header::ALLOW], "POST");
    let mut text = post(request("EXAMPLE.TEST"));
    text.headers_mut()
        .insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
    assert_eq!(
        status_of(&p, text).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let cases = [
        (vec![], StatusCode::BAD_REQUEST),
        (vec![0x30, 0x03, 0x01], StatusCode::BAD_REQUEST),
        (vec![0u8; 4096], StatusCode::PAYLOAD_TOO_LARGE),
        (request("OTHER.TEST"), StatusCode::SERVICE_UNAVAILABLE),
    ];
    for (body, want) in cases {
        assert_eq!(
            status_of(&p, post(body.clone())).await.0,
            want,
            "{body:02x?}"
        );
    }
    assert_eq!(seen.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unreachable_kdc_and_a_full_proxy_are_503() {
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = gone.local_addr().unwrap();
    drop(gone);
    let p = proxy(addr, "");
    let (status, body) = status_of(&p, post(request("EXAMPLE.TEST"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, b"kdc proxy: kdc-unreachable\n");
    let (kdc, _) = fake_kdc(&[0x7e, 0x00]).await;
    let full = proxy(kdc, "max_in_flight = 1");
    let _held = Arc::clone(&full.inner.in_flight)
        .try_acquire_owned()
        .unwrap();
    let (status, body) = status_of(&full, post(request("EXAMPLE.TEST"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, b"kdc proxy: busy\n");
}

#[tokio::test]
async fn a_reply_that_is_not_kerberos_is_502() {
    let (kdc, _) = fake_kdc(b"HTTP/1.1 200 OK").await;
    let (status, _) = status_of(&proxy(kdc, ""), post(request("EXAMPLE.TEST"))).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
}
