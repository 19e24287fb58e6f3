//! Configuration reload without dropping connections: [`Swappable`] serves each request with
//! the application that is current when the request arrives; [`SwapHandle::replace`] installs
//! a new one (built from the re-read file) atomically, or keeps the running one when the new
//! file could not be built, counting `epa_config_reload_total{result="ok|rejected"}`.
//!
//! Open connections stay open: their next request simply meets the new application. A new
//! application has new [`epa_hyper::ExtendedProtectionLayer`] instances, so an identity a
//! connection authenticated under the old policy is not one under the new (the client is
//! challenged again on that connection) — a changed policy applies to every request after
//! the reload, never only to new connections.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use tower_service::Service;

/// Counter name (see [`epa_hyper::telemetry::metrics`]).
pub use epa_hyper::telemetry::metrics::CONFIG_RELOAD_TOTAL;

/// A service whose application can be replaced while serving. Cheap to clone (one `Arc`).
#[derive(Debug)]
pub struct Swappable<S> {
    current: Arc<RwLock<S>>,
}

impl<S> Clone for Swappable<S> {
    fn clone(&self) -> Self {
        Self {
            current: self.current.clone(),
        }
    }
}

/// Replaces the application of a [`Swappable`] (held by the reload task).
#[derive(Debug)]
pub struct SwapHandle<S> {
    current: Arc<RwLock<S>>,
}

impl<S: Clone> Swappable<S> {
    /// Serves `app` until it is replaced.
    pub fn new(app: S) -> Self {
        Self {
            current: Arc::new(RwLock::new(app)),
        }
    }

    /// The handle that replaces the application.
    pub fn handle(&self) -> SwapHandle<S> {
        SwapHandle {
            current: self.current.clone(),
        }
    }

    fn snapshot(&self) -> S {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<S> SwapHandle<S> {
    /// Installs `built` when it is `Ok` (result `ok`); otherwise the running application stays
    /// (result `rejected`) and the error is handed back for the log.
    pub fn replace<E>(&self, built: Result<S, E>) -> Result<(), E> {
        match built {
            Ok(app) => {
                // The old application is dropped after the lock is released.
                let old = std::mem::replace(
                    &mut *self.current.write().unwrap_or_else(PoisonError::into_inner),
                    app,
                );
                drop(old);
                metrics::counter!(CONFIG_RELOAD_TOTAL, "result" => "ok").increment(1);
                Ok(())
            }
            Err(e) => {
                metrics::counter!(CONFIG_RELOAD_TOTAL, "result" => "rejected").increment(1);
                Err(e)
            }
        }
    }

    /// Counts a reload that found nothing to change (result `ok`), keeping the running
    /// application — and with it the identities its layers authenticated.
    pub fn unchanged(&self) {
        metrics::counter!(CONFIG_RELOAD_TOTAL, "result" => "ok").increment(1);
    }
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, Req> Service<Req> for Swappable<S>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send + 'static,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        // Readiness is asked of the application the request will meet, in `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let mut app = self.snapshot();
        Box::pin(async move {
            std::future::poll_fn(|cx| app.poll_ready(cx)).await?;
            app.call(req).await
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::convert::Infallible;

    #[derive(Clone)]
    struct Answer(&'static str);

    impl Service<()> for Answer {
        type Response = &'static str;
        type Error = Infallible;
        type Future = std::future::Ready<Result<&'static str, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, (): ()) -> Self::Future {
            std::future::ready(Ok(self.0))
        }
    }

    #[tokio::test]
    async fn replaced_on_ok_kept_on_error() {
        let mut app = Swappable::new(Answer("old"));
        let mut clone = app.clone();
        let handle = app.handle();
        assert_eq!(app.call(()).await.unwrap(), "old");
        assert_eq!(handle.replace::<&str>(Err("broken")), Err("broken"));
        assert_eq!(clone.call(()).await.unwrap(), "old");
        handle.replace::<&str>(Ok(Answer("new"))).unwrap();
        // Every clone (every connection's copy) meets the new application.
        assert_eq!(clone.call(()).await.unwrap(), "new");
        assert_eq!(app.call(()).await.unwrap(), "new");
    }
}
