//! One connection: the TLS handshake under its deadline, then HTTP/1.1 with the request-head
//! deadline (hyper's, with a timer), the idle keep-alive deadline and the pending-exchange
//! deadline (both watched here), and graceful shutdown.

use super::ConnectionOptions;
use super::events::{self, Closed};
use super::shutdown::Shutdown;
use crate::layer::ConnectionContext;
use crate::serve::WithConnection;
use crate::tls::{ChannelFacts, TlsAcceptor};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tower_service::Service;

/// Serves an accepted socket to its end; returns why it ended.
pub(crate) async fn run<S, B>(
    tcp: TcpStream,
    tls: Option<Arc<TlsAcceptor>>,
    app: S,
    options: Arc<ConnectionOptions>,
    shutdown: Shutdown,
) -> Closed
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if options.tcp_nodelay {
        // Best effort: a socket that refuses it still works, only slower.
        let _ = tcp.set_nodelay(true);
    }
    let Ok(peer) = tcp.peer_addr() else {
        return Closed::Ended;
    };
    match tls {
        None => serve(tcp, ChannelFacts::plain(peer), app, &options, shutdown).await,
        Some(acceptor) => {
            match tokio::time::timeout(options.deadlines.tls_handshake, acceptor.accept(tcp)).await
            {
                Err(_) => {
                    tracing::debug!(target: "epa", %peer, "TLS handshake deadline passed");
                    Closed::HandshakeTimeout
                }
                Ok(Err(e)) => {
                    tracing::debug!(target: "epa", %peer, "TLS accept failed: {e}");
                    Closed::HandshakeFailed
                }
                Ok(Ok((stream, facts))) => serve(stream, facts, app, &options, shutdown).await,
            }
        }
    }
}

/// When the connection last finished a request, and how many are in progress.
#[derive(Debug)]
struct Activity {
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
    changed: Notify,
}

async fn serve<I, S, B>(
    io: I,
    facts: ChannelFacts,
    app: S,
    options: &ConnectionOptions,
    mut shutdown: Shutdown,
) -> Closed
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let peer = facts.peer;
    let context = ConnectionContext::new(facts);
    let activity = Arc::new(Activity {
        in_flight: AtomicUsize::new(0),
        last: Mutex::new(Instant::now()),
        changed: Notify::new(),
    });
    let svc = Tracked {
        inner: WithConnection::new(app, context.clone()),
        activity: activity.clone(),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(options.deadlines.request_head)
        .max_headers(options.max_headers)
        .max_header_size(options.max_header_bytes);
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(svc));
    tokio::pin!(conn);
    let mut reason = None;
    if shutdown.is_set() {
        conn.as_mut().graceful_shutdown();
        reason = Some(Closed::Shutdown);
    }
    loop {
        let deadline = idle_deadline(&activity, &context, options);
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(target: "epa", %peer, "connection ended: {e}");
                }
                return reason.unwrap_or(Closed::Ended);
            }
            () = shutdown.wait(), if reason.is_none() => {
                conn.as_mut().graceful_shutdown();
                reason = Some(Closed::Shutdown);
            }
            () = activity.changed.notified(), if reason.is_none() => {}
            () = sleep_until(deadline), if reason.is_none() => {
                if let Some((_, why)) = deadline.filter(|(at, _)| *at <= Instant::now()) {
                    tracing::debug!(target: "epa", %peer, reason = why.name(), "closing an idle connection");
                    conn.as_mut().graceful_shutdown();
                    reason = Some(why);
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<(Instant, Closed)>) {
    match deadline {
        Some((at, _)) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The next deadline of an idle connection: keep-alive from the end of the last request, or the
/// pending exchange's, whichever comes first. `None` while a request is in progress.
fn idle_deadline(
    activity: &Activity,
    context: &ConnectionContext,
    options: &ConnectionOptions,
) -> Option<(Instant, Closed)> {
    if activity.in_flight.load(Ordering::Acquire) > 0 {
        return None;
    }
    let last = *activity.last.lock().unwrap_or_else(PoisonError::into_inner);
    let idle = (
        last + options.deadlines.keep_alive,
        Closed::KeepAliveTimeout,
    );
    let exchange = context
        .pending_exchange_since()
        .map(|since| (since + options.deadlines.exchange, Closed::ExchangeTimeout));
    Some(match exchange {
        Some(e) if e.0 < idle.0 => e,
        _ => idle,
    })
}

/// Counts requests in progress and records when the last one ended.
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S, B> Service<Request<B>> for Tracked<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.activity.in_flight.fetch_add(1, Ordering::AcqRel);
        self.activity.changed.notify_one();
        TrackedFuture {
            inner: Box::pin(self.inner.call(req)),
            _guard: InFlight(self.activity.clone()),
        }
    }
}

/// Ends the request's count when the response (or its cancellation) is done.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.last.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_one();
    }
}

/// The service's future with its in-flight guard.
pub(crate) struct TrackedFuture<F> {
    inner: Pin<Box<F>>,
    _guard: InFlight,
}

impl<F: Future> Future for TrackedFuture<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.inner.as_mut().poll(cx)
    }
}

/// Counts the connection in `epa_connections_open` while it lives.
pub(crate) struct OpenGauge;

impl OpenGauge {
    pub(crate) fn new() -> Self {
        events::opened();
        Self
    }
    pub(crate) fn close(self, reason: Closed) {
        events::closed(reason);
        std::mem::forget(self);
    }
}

impl Drop for OpenGauge {
    fn drop(&mut self) {
        events::closed(Closed::Ended);
    }
}
