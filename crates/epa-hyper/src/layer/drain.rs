//! The unread request body of a request the layer answers itself (a 401 leg, 400, 403):
//! read and discarded, bounded in bytes and time, so that the connection stays open for the
//! exchange's next leg — NTLM needs the challenge and the AUTHENTICATE on one connection, and
//! clients such as requests-ntlm, pywinrm and impacket resend the body on every leg. IIS does
//! the same (`DrainEntityBody` on a keep-alive connection). A body above the byte bound is not
//! read at all, and a drain that passes the deadline is abandoned: the answer then says
//! `Connection: close` (RFC 9112 §9.6), so that the client knows to reconnect.

use bytes::Buf as _;
use http::{HeaderValue, Response, header};
use http_body::Body;
use http_body_util::BodyExt as _;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// How much of an unread request body the layer reads and discards before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyDrain {
    /// Bytes at most (default 4 MiB); a body declared larger is not read.
    pub max_bytes: u64,
    /// Time at most (default 10 s).
    pub timeout: Duration,
}

impl Default for BodyDrain {
    /// 4 MiB within 10 s (`[listener] max_drain_bytes`, `drain_timeout`).
    fn default() -> Self {
        Self {
            max_bytes: 4 * 1024 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Completes with whether the whole body was read within the bounds.
pub(super) type Draining = Pin<Box<dyn Future<Output = bool> + Send>>;

/// What to do with `body` before answering: nothing (`Ok(None)`: it is complete), drain it
/// (`Ok(Some(_))`), or answer at once with `Connection: close` (`Err(())`: too large, or
/// draining is off or impossible here).
pub(super) fn plan<B>(body: B, drain: Option<BodyDrain>) -> Result<Option<Draining>, ()>
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    if body.is_end_stream() {
        return Ok(None);
    }
    let Some(limit) = drain else {
        return Err(());
    };
    if body.size_hint().lower() > limit.max_bytes || tokio::runtime::Handle::try_current().is_err()
    {
        return Err(());
    }
    Ok(Some(Box::pin(read_and_discard(body, limit))))
}

async fn read_and_discard<B>(body: B, limit: BodyDrain) -> bool
where
    B: Body + Send,
    B::Data: Send,
{
    let work = async move {
        let mut body = std::pin::pin!(body);
        let mut read: u64 = 0;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return false;
            };
            if let Some(data) = frame.data_ref() {
                read = read.saturating_add(data.remaining() as u64);
                if read > limit.max_bytes {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout(limit.timeout, work)
        .await
        .unwrap_or(false)
}

/// Marks a response after which the connection closes (the body was not read).
pub(super) fn closing<ResBody>(mut response: Response<ResBody>) -> Response<ResBody> {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
