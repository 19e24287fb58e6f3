//! The demo's application: the upstream `epa serve` proxies to when it runs without a
//! configuration file. It listens on a loopback port of its own and answers every request with
//! a page showing what it received from epa — the identity headers, the binding verdict, the
//! signed assertion decoded and verified against epa's key page — which is exactly what an
//! application behind epa would see.

use super::page::{Received, render_html, render_text};
use super::verify::KeyPage;
use epa_hyper::body::ProxyBody;
use http::{Request, Response, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;

/// How long the application waits for a request head from epa's pooled connection.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves the demo application on `listener` until the runtime stops.
pub(crate) async fn run(listener: std::net::TcpListener, keys: Option<Arc<KeyPage>>) {
    let listener = match listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("demo: the application cannot listen: {e}");
            return;
        }
    };
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            // Out of descriptors and the like: wait a little and go on (as the gateway does).
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let keys = keys.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let keys = keys.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(req, keys.as_deref()).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

/// The page for one request: HTML for a browser, text otherwise (curl).
async fn answer<B>(req: Request<B>, keys: Option<&KeyPage>) -> Response<ProxyBody> {
    let received = Received::from_headers(req.headers());
    let verified = match (&received.assertion, keys) {
        (Some(token), Some(keys)) => Some(keys.verify(token).await),
        _ => None,
    };
    let html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let (body, kind) = if html {
        (
            render_html(&received, verified.as_ref()),
            "text/html; charset=utf-8",
        )
    } else {
        (
            render_text(&received, verified.as_ref()),
            "text/plain; charset=utf-8",
        )
    };
    let mut resp = Response::new(epa_hyper::body::full(body));
    if let Ok(v) = header::HeaderValue::from_str(kind) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}
