//! `Upgrade` (WebSocket) passthrough: only after authentication (the forwarder asks
//! [`is_upgrade`] only for authenticated requests), only for the route's allowed protocols
//! ([`allowed_upgrade`]: `websocket` by default, never `h2c`), only when the 101 names a
//! protocol that was asked for ([`switched_to_requested`]); both sides upgraded by hyper, bytes copied
//! with `tokio::io::copy_bidirectional` until either side closes or no byte has moved either
//! way for the idle deadline (`[upstream] upgrade_idle_timeout`). Both upgrades must
//! complete within that deadline too.

use epa_config::proxy_rules::{REFUSED_UPGRADE_PROTOCOLS, upgrade_protocol_name};
use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use epa_hyper::telemetry::metrics::UPGRADE_IDLE_CLOSED_TOTAL;

/// Whether the request asks for a protocol switch (`Connection: upgrade` and an `Upgrade`).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// The protocols of the request's `Upgrade` that `allowed` lists (an entry without a version
/// admits every version), as the one value to forward; `None` when none is allowed. `h2c`
/// and `h2` never pass, whatever `allowed` says.
pub fn allowed_upgrade(headers: &HeaderMap, allowed: &[String]) -> Option<HeaderValue> {
    let tokens: Vec<&str> = headers
        .get_all(UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let kept: Vec<&str> = tokens
        .iter()
        .copied()
        .filter(|t| {
            let name = upgrade_protocol_name(t);
            !REFUSED_UPGRADE_PROTOCOLS.contains(&name.as_str())
                && allowed.iter().any(|a| {
                    if a.contains('/') {
                        a.eq_ignore_ascii_case(t)
                    } else {
                        *a == name
                    }
                })
        })
        .collect();
    if kept.len() != tokens.len() {
        tracing::debug!(
            reason = "upgrade-not-allowed",
            asked = %epa_hyper::telemetry::ClientText(&tokens.join(", ")),
            "proxy: Upgrade protocols not forwarded"
        );
    }
    if kept.is_empty() {
        return None;
    }
    HeaderValue::from_str(&kept.join(", ")).ok()
}

/// Whether a 101's `Upgrade` is exactly one of the protocols in `forwarded` (the value
/// [`allowed_upgrade`] gave): any other switch is the upstream's, not the client's, and is
/// never spliced.
pub fn switched_to_requested(response: &HeaderMap, forwarded: &HeaderValue) -> bool {
    let mut values = response.get_all(UPGRADE).iter();
    let (Some(only), None) = (values.next(), values.next()) else {
        return false;
    };
    let (Ok(chosen), Ok(asked)) = (only.to_str(), forwarded.to_str()) else {
        return false;
    };
    let chosen = chosen.trim();
    !chosen.contains(',')
        && asked
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case(chosen))
}

/// Waits for both upgrades and copies bytes both ways; ends when either side closes, or when
/// nothing moved for `idle` (both sockets are then closed).
pub async fn splice(client: OnUpgrade, upstream: OnUpgrade, idle: Duration) {
    let both = tokio::time::timeout(idle, async { tokio::try_join!(client, upstream) }).await;
    let (client, upstream) = match both {
        Ok(Ok(both)) => both,
        Ok(Err(e)) => {
            tracing::warn!(reason = "upgrade-failed", error = %e, "proxy: upgrade did not complete");
            return;
        }
        Err(_) => {
            tracing::warn!(
                reason = "upgrade-timeout",
                "proxy: upgrade did not complete in time"
            );
            return;
        }
    };
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let mut a = Active::new(TokioIo::new(client), start, &last);
    let mut b = Active::new(TokioIo::new(upstream), start, &last);
    let copy = tokio::io::copy_bidirectional(&mut a, &mut b);
    tokio::pin!(copy);
    loop {
        let quiet_since = start + Duration::from_millis(last.load(Ordering::Relaxed));
        tokio::select! {
            ended = &mut copy => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "proxy: upgraded connection ended");
                }
                return;
            }
            () = tokio::time::sleep_until(quiet_since + idle) => {
                let quiet_since = start + Duration::from_millis(last.load(Ordering::Relaxed));
                if Instant::now() >= quiet_since + idle {
                    metrics::counter!(UPGRADE_IDLE_CLOSED_TOTAL).increment(1);
                    tracing::info!(reason = "upgrade-idle", idle_ms = idle.as_millis() as u64, "proxy: closing an idle upgraded connection");
                    return;
                }
            }
        }
    }
}

/// An I/O object that records, in milliseconds since `start`, when bytes last moved.
struct Active<T> {
    inner: T,
    start: Instant,
    last: Arc<AtomicU64>,
}

impl<T> Active<T> {
    fn new(inner: T, start: Instant, last: &Arc<AtomicU64>) -> Self {
        Self {
            inner,
            start,
            last: last.clone(),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(ms, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Active<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Active<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn req(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(UPGRADE, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn only_allowed_protocols_are_forwarded_and_h2c_never() {
        let ws = vec!["websocket".to_owned()];
        assert_eq!(
            allowed_upgrade(&req("WebSocket"), &ws).unwrap(),
            "WebSocket"
        );
        assert!(allowed_upgrade(&req("h2c"), &ws).is_none());
        assert_eq!(
            allowed_upgrade(&req("h2c, websocket"), &ws).unwrap(),
            "websocket"
        );
        let bad = vec!["h2c".to_owned(), "websocket".to_owned()];
        assert!(allowed_upgrade(&req("H2C"), &bad).is_none());
        let versioned = vec!["foo/2".to_owned()];
        assert!(allowed_upgrade(&req("foo/1"), &versioned).is_none());
        assert_eq!(allowed_upgrade(&req("FOO/2"), &versioned).unwrap(), "FOO/2");
    }

    #[test]
    fn splice_only_on_the_protocol_asked_for() {
        let asked = HeaderValue::from_static("websocket");
        assert!(switched_to_requested(&req("WebSocket"), &asked));
        assert!(!switched_to_requested(&req("h2c"), &asked));
        assert!(!switched_to_requested(&req("websocket, h2c"), &asked));
        assert!(!switched_to_requested(&HeaderMap::new(), &asked));
    }
}
