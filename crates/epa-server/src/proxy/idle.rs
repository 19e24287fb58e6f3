//! Idle deadlines on the bodies the proxy streams, one wrapper for both directions:
//! * the upstream read-idle deadline (nginx `proxy_read_timeout`): a response body from the
//!   upstream that yields nothing for `[upstream] read_timeout` ends with an error, so that
//!   hyper cuts the client's connection instead of holding it (and the upstream's) forever;
//! * the client body deadline (nginx `client_body_timeout`): a request body the client stops
//!   sending for `[listener] body_timeout` ends with an error, so that the upstream request is
//!   abandoned (its connection closed) and the client answered 408, instead of an upstream
//!   worker waiting for bytes that never come.

use super::{BoxError, UPSTREAM_ERRORS_TOTAL};

use bytes::Bytes;
use epa_hyper::telemetry::metrics::CLIENT_BODY_TIMEOUTS_TOTAL;
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

/// The client sent nothing of the request body for the body deadline.
#[derive(Debug, Error)]
#[error("the client sent nothing of the request body for {0:?}")]
pub struct BodyTimeout(pub Duration);

/// Which body a [`ReadIdle`] watches: what its timeout is called and counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The upstream's response body (`read-timeout`).
    Upstream,
    /// The client's request body (`body-timeout`).
    Client,
}

pin_project_lite::pin_project! {
    /// A response body whose frames must come no further apart than `idle`.
    pub struct ReadIdle<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: Sleep,
        idle: Duration,
        side: Side,
        // Whether the clock runs: from the first poll that waits for a frame to the frame (a
        // slow client that stops hyper from asking is not the upstream's pause).
        waiting: bool,
        done: bool,
    }
}

impl<B> ReadIdle<B> {
    /// Wraps an upstream response body; the clock runs while a frame is asked for and has not
    /// come.
    pub fn new(inner: B, idle: Duration) -> Self {
        Self::watching(inner, idle, Side::Upstream)
    }

    /// Wraps `inner`, a body from `side`.
    pub fn watching(inner: B, idle: Duration, side: Side) -> Self {
        Self {
            inner,
            sleep: tokio::time::sleep(idle),
            idle,
            side,
            waiting: false,
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
                *this.waiting = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if !*this.waiting {
                    *this.waiting = true;
                    let idle = *this.idle;
                    this.sleep.as_mut().reset(Instant::now() + idle);
                }
                match this.sleep.poll(cx) {
                    Poll::Ready(()) => {
                        *this.done = true;
                        let idle_ms = this.idle.as_millis() as u64;
                        let error: BoxError = match this.side {
                            Side::Upstream => {
                                metrics::counter!(UPSTREAM_ERRORS_TOTAL, "reason" => "read-timeout")
                                    .increment(1);
                                tracing::warn!(
                                    reason = "read-timeout",
                                    idle_ms,
                                    "proxy: the upstream stalled in the response body; cutting the response"
                                );
                                Box::new(ReadTimeout(*this.idle))
                            }
                            Side::Client => {
                                metrics::counter!(CLIENT_BODY_TIMEOUTS_TOTAL).increment(1);
                                tracing::info!(
                                    reason = "body-timeout",
                                    idle_ms,
                                    "proxy: the client stalled in the request body; abandoning the upstream request"
                                );
                                Box::new(BodyTimeout(*this.idle))
                            }
                        };
                        Poll::Ready(Some(Err(error)))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http_body_util::BodyExt as _;
    use std::convert::Infallible;
    use tokio::sync::mpsc;

    /// A body fed frame by frame by the test.
    struct Fed(mpsc::Receiver<Bytes>);

    impl Body for Fed {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
        }
    }

    #[tokio::test]
    async fn a_slow_reader_is_not_an_idle_upstream_but_a_stall_is_cut() {
        let idle = Duration::from_millis(200);
        let (tx, rx) = mpsc::channel(4);
        let mut body = std::pin::pin!(ReadIdle::new(Fed(rx), idle));
        tx.send(Bytes::from_static(b"a")).await.unwrap();
        assert!(body.frame().await.unwrap().is_ok());
        // The reader pauses past the deadline; the next frame comes 50 ms after it asks again.
        tokio::time::sleep(idle * 2).await;
        let feeder = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            feeder.send(Bytes::from_static(b"b")).await.unwrap();
        });
        assert!(body.frame().await.unwrap().is_ok(), "cut a slow reader");
        // Then the upstream sends nothing: cut after `idle`, not before.
        let start = std::time::Instant::now();
        let cut = body.frame().await.unwrap();
        assert!(cut.unwrap_err().is::<ReadTimeout>());
        assert!(start.elapsed() >= idle - Duration::from_millis(20));
        assert!(body.frame().await.is_none());
        drop(tx);
    }
}
