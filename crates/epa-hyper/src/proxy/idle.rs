//! The upstream read-idle deadline (nginx `proxy_read_timeout`): a response body from the
//! upstream that yields nothing for `[upstream] read_timeout_ms` ends with an error, so that
//! hyper cuts the client's connection instead of holding it (and the upstream's) forever.

use super::{BoxError, UPSTREAM_ERRORS_TOTAL};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use thiserror::Error;
use tokio::time::{Instant, Sleep};

/// The upstream sent nothing of the response body for the read deadline.
#[derive(Debug, Error)]
#[error("upstream sent nothing of the response body for {0:?}")]
pub struct ReadTimeout(pub Duration);

pin_project_lite::pin_project! {
    /// A response body whose frames must come no further apart than `idle`.
    pub struct ReadIdle<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: Sleep,
        idle: Duration,
        done: bool,
    }
}

impl<B> ReadIdle<B> {
    /// Wraps `inner`; the clock starts now.
    pub fn new(inner: B, idle: Duration) -> Self {
        Self {
            inner,
            sleep: tokio::time::sleep(idle),
            idle,
            done: false,
        }
    }
}

impl<B> Body for ReadIdle<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                let idle = *this.idle;
                this.sleep.as_mut().reset(Instant::now() + idle);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.poll(cx) {
                Poll::Ready(()) => {
                    *this.done = true;
                    metrics::counter!(UPSTREAM_ERRORS_TOTAL, "reason" => "read-timeout")
                        .increment(1);
                    tracing::warn!(
                        reason = "read-timeout",
                        idle_ms = this.idle.as_millis() as u64,
                        "proxy: the upstream stalled in the response body; cutting the response"
                    );
                    Poll::Ready(Some(Err(Box::new(ReadTimeout(*this.idle)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
