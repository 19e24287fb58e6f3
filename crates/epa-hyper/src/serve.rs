//! Serving one connection with its own [`ConnectionContext`].

use crate::connection::{ChannelFacts, ConnectionContext};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};
use tower_service::Service;

/// Serves one connection over HTTP/1.1 with keep-alive, inserting a fresh
/// [`ConnectionContext`] built from `facts` into every request. The context — and with it the
/// security context of an NTLM or Kerberos exchange — lives exactly as long as the connection.
pub async fn serve_connection<I, S, B>(
    io: I,
    facts: ChannelFacts,
    service: S,
) -> Result<(), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let svc = WithConnection {
        inner: service,
        context: ConnectionContext::new(facts),
    };
    hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(svc))
        .await
}

/// Inserts the connection's context into each request: wrap the service of each connection in
/// it (with that connection's [`ConnectionContext`]) when you run your own hyper builder.
#[derive(Clone)]
pub struct WithConnection<S> {
    inner: S,
    context: ConnectionContext,
}

impl<S> WithConnection<S> {
    /// `inner`, served on the connection `context` belongs to.
    pub fn new(inner: S, context: ConnectionContext) -> Self {
        Self { inner, context }
    }
}

impl<S, B> Service<Request<B>> for WithConnection<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.context.clone());
        self.inner.call(req)
    }
}
