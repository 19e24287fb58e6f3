//! `Upgrade` (WebSocket) passthrough: only after authentication (the forwarder asks
//! [`is_upgrade`] only for authenticated requests), both sides upgraded by hyper, bytes copied
//! with `tokio::io::copy_bidirectional` until either side closes.

use http::HeaderMap;
use http::header::{CONNECTION, UPGRADE};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

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

/// Waits for both upgrades and copies bytes both ways.
pub async fn splice(client: OnUpgrade, upstream: OnUpgrade) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(e) => {
            tracing::warn!(reason = "upgrade-failed", error = %e, "proxy: upgrade did not complete");
            return;
        }
    };
    let (mut a, mut b) = (TokioIo::new(client), TokioIo::new(upstream));
    if let Err(e) = tokio::io::copy_bidirectional(&mut a, &mut b).await {
        tracing::debug!(error = %e, "proxy: upgraded connection ended");
    }
}
