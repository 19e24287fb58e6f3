//! One connection: the TLS handshake under its deadline, then HTTP/1.1 with three deadlines
//! watched here, and graceful shutdown.
//!
//! * request head: from the connection's start, or from the first byte of a later request,
//!   until the head is read (hyper's own `header_read_timeout` is off: it also runs while a
//!   keep-alive connection waits for its next request, which would cap keep-alive at the head
//!   deadline); the connection is cut;
//! * idle keep-alive: from the end of the last request while nothing arrives; closed gracefully;
//! * pending exchange: a Negotiate/NTLM exchange waiting for its next leg on an idle connection;
//! * send: a write of the response that makes no progress (the client stopped reading) for
//!   `send_timeout` (nginx `send_timeout`); the connection is cut, also during shutdown;
//! * shutdown deadline: the connection is cut (hard stop), whatever it is doing.

use super::admission::{self, Admission, Admitted};
use super::events::{self, Closed};
use super::hold::ConnectionHold;
use super::shutdown::Shutdown;
use super::{ConnectionOptions, ServeService};
use epa_hyper::ConnectionContext;
use epa_hyper::WithConnection;
use epa_hyper::tls::{ChannelFacts, TlsAcceptor};
use http::Request;
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
use tracing::Instrument;

/// Serves an accepted socket to its end; returns why it ended.
pub(crate) async fn run<S>(
    mut tcp: TcpStream,
    tls: Option<Arc<TlsAcceptor>>,
    app: S,
    options: Arc<ConnectionOptions>,
    shutdown: Shutdown,
    admission: Admission,
) -> Closed
where
    S: ServeService,
{
    if options.tcp_nodelay {
        // Best effort: a socket that refuses it still works, only slower.
        let _ = tcp.set_nodelay(true);
    }
    let Ok(tcp_peer) = tcp.peer_addr() else {
        return Closed::Ended;
    };
    let mut hard = shutdown.clone();
    let admitted = admission::admit(
        &mut tcp,
        tcp_peer,
        &options,
        shutdown.clone(),
        admission,
        tls.is_some(),
    );
    let admitted = tokio::select! {
        a = admitted => a,
        () = hard.wait_hard() => return Closed::ShutdownDeadline,
    };
    let admitted = match admitted {
        Ok(a) => a,
        Err(reason) => return reason,
    };
    // Behind a balancer, every log line of the connection says which one (`via=`).
    let span = match admitted.via {
        Some(via) => tracing::info_span!(target: "epa", "proxied", %via),
        None => tracing::Span::none(),
    };
    handshake_and_serve(tcp, tls, app, &options, shutdown, admitted)
        .instrument(span)
        .await
}

/// The TLS handshake under its deadline (when TLS), then the connection's requests, with the
/// peer the admission found.
async fn handshake_and_serve<S>(
    tcp: TcpStream,
    tls: Option<Arc<TlsAcceptor>>,
    app: S,
    options: &ConnectionOptions,
    shutdown: Shutdown,
    admitted: Admitted,
) -> Closed
where
    S: ServeService,
{
    let Admitted {
        peer,
        hold,
        handshake_since,
        ..
    } = admitted;
    let Some(acceptor) = tls else {
        return serve(tcp, ChannelFacts::plain(peer), app, options, shutdown, hold).await;
    };
    let mut hard = shutdown.clone();
    let handshake = tokio::time::timeout_at(
        handshake_since + options.deadlines.tls_handshake,
        acceptor.accept(tcp),
    );
    let handshake = tokio::select! {
        done = handshake => done,
        () = hard.wait_hard() => return Closed::ShutdownDeadline,
    };
    match handshake {
        Err(_) => {
            tracing::debug!(target: "epa", %peer, "TLS handshake deadline passed");
            Closed::HandshakeTimeout
        }
        Ok(Err(e)) => {
            tracing::debug!(target: "epa", %peer, "TLS accept failed: {e}");
            Closed::HandshakeFailed
        }
        Ok(Ok((stream, mut facts))) => {
            // The client the PROXY header named (or the TCP peer): for everything downstream.
            facts.peer = peer;
            serve(stream, facts, app, options, shutdown, hold).await
        }
    }
}

/// When the connection last finished a request, and how many are in progress.
#[derive(Debug)]
struct Activity {
    in_flight: AtomicUsize,
    times: Mutex<Times>,
    changed: Notify,
}

#[derive(Debug, Clone, Copy)]
struct Times {
    /// The end of the last request (or the connection's start).
    last: Instant,
    /// When the head being read began: its first byte, or the connection's start.
    head_since: Option<Instant>,
    /// Since when a write to the client has been waiting (the client reads nothing).
    write_stalled: Option<Instant>,
}

impl Activity {
    /// A connection that has just started: its first request head is awaited.
    fn starting() -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            in_flight: AtomicUsize::new(0),
            times: Mutex::new(Times {
                last: now,
                head_since: Some(now),
                write_stalled: None,
            }),
            changed: Notify::new(),
        })
    }

    fn times(&self) -> std::sync::MutexGuard<'_, Times> {
        self.times.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The one HTTP/1.1 set-up of the server: keep-alive, the head limits; the head deadline is
/// watched by [`serve`] (hyper's own would not cover a slow first byte).
fn http1_builder(options: &ConnectionOptions) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(None)
        .max_headers(options.max_headers)
        .max_header_size(options.max_header_bytes);
    builder
}

async fn serve<I, S>(
    io: I,
    facts: ChannelFacts,
    app: S,
    options: &ConnectionOptions,
    mut shutdown: Shutdown,
    hold: ConnectionHold,
) -> Closed
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: ServeService,
{
    let peer = facts.peer;
    let context = ConnectionContext::new(facts);
    let activity = Activity::starting();
    let svc = Tracked {
        inner: WithConnection::new(app, context.clone()),
        activity: activity.clone(),
        hold,
    };
    let builder = http1_builder(options);
    let io = Watched {
        inner: io,
        activity: activity.clone(),
    };
    // With upgrades: a 101 hands the socket to the application (the proxy splices WebSocket
    // connections only for authenticated requests); the connection's task then ends here.
    let conn = builder
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(svc))
        .with_upgrades();
    tokio::pin!(conn);
    let mut reason = None;
    let mut hard = shutdown.clone();
    if shutdown.is_set() {
        conn.as_mut().graceful_shutdown();
        reason = Some(Closed::Shutdown);
    }
    loop {
        let deadline = idle_deadline(&activity, &context, options);
        let send = activity
            .times()
            .write_stalled
            .map(|since| since + options.deadlines.send);
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
            () = activity.changed.notified() => {}
            () = hard.wait_hard() => {
                tracing::debug!(target: "epa", %peer, "shutdown deadline passed: connection cut");
                return Closed::ShutdownDeadline;
            }
            () = sleep_until(send.map(|at| (at, Closed::SendTimeout))) => {
                if send.is_some_and(|at| at <= Instant::now())
                    && activity.times().write_stalled.is_some_and(|since| since + options.deadlines.send <= Instant::now())
                {
                    tracing::info!(target: "epa", %peer, reason = "send-timeout", "the client read nothing of the response for the send deadline: connection cut");
                    return Closed::SendTimeout;
                }
            }
            () = sleep_until(deadline), if reason.is_none() => {
                match deadline.filter(|(at, _)| *at <= Instant::now()) {
                    // A head that is not complete in time: cut (there is no response to finish).
                    Some((_, Closed::HeadTimeout)) => {
                        tracing::debug!(target: "epa", %peer, "request head deadline passed");
                        return Closed::HeadTimeout;
                    }
                    Some((_, why)) => {
                        tracing::debug!(target: "epa", %peer, reason = why.name(), "closing an idle connection");
                        conn.as_mut().graceful_shutdown();
                        reason = Some(why);
                    }
                    None => {}
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

/// The next deadline of a connection between requests: the head's while one is being read,
/// else keep-alive from the end of the last request or the pending exchange's, whichever comes
/// first. `None` while a request is in progress.
fn idle_deadline(
    activity: &Activity,
    context: &ConnectionContext,
    options: &ConnectionOptions,
) -> Option<(Instant, Closed)> {
    if activity.in_flight.load(Ordering::Acquire) > 0 {
        return None;
    }
    let times = *activity.times();
    if let Some(since) = times.head_since {
        return Some((since + options.deadlines.request_head, Closed::HeadTimeout));
    }
    let idle = (
        times.last + options.deadlines.keep_alive,
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

/// Counts requests in progress and records when the last one ended; gives each request the
/// connection's [`ConnectionHold`] (a splice takes it along).
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
    hold: ConnectionHold,
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

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.hold.clone());
        self.activity.in_flight.fetch_add(1, Ordering::AcqRel);
        self.activity.times().head_since = None;
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
        {
            let mut times = self.0.times();
            times.last = Instant::now();
            times.head_since = None;
        }
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

/// The connection's socket, noting when the bytes of a new request head begin to arrive.
struct Watched<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before && self.activity.in_flight.load(Ordering::Acquire) == 0 {
            let started = {
                let mut times = self.activity.times();
                times
                    .head_since
                    .is_none()
                    .then(|| times.head_since = Some(Instant::now()))
            };
            if started.is_some() {
                self.activity.changed.notify_one();
            }
        }
        polled
    }
}

impl<I> Watched<I> {
    /// Notes a write that waits (the send deadline starts) or that moved (it stops).
    fn wrote<T>(&self, polled: Poll<T>) -> Poll<T> {
        let waiting = polled.is_pending();
        let mut times = self.activity.times();
        match (waiting, times.write_stalled) {
            (true, None) => {
                times.write_stalled = Some(Instant::now());
                drop(times);
                self.activity.changed.notify_one();
            }
            (false, Some(_)) => times.write_stalled = None,
            _ => {}
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(polled)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.wrote(polled)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(polled)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
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
