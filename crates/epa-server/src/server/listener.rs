//! The accept loop: a connection limit that stops accepting (a permit is taken *before*
//! `accept`, so excess connections wait in the kernel's backlog instead of failing), an optional
//! per-address limit, and accept errors (EMFILE, ENFILE, ECONNABORTED, …) logged, counted and
//! retried with back-off — never the end of the server. At the shutdown deadline every
//! connection still open is closed (nginx `worker_shutdown_timeout`, IIS `shutdownTimeLimit`).

use super::admission::Admission;
use super::connection::{self, OpenGauge};
use super::events;
use super::shutdown::{Shutdown, Trigger};
use super::{ConnectionOptions, ServeService, ServerError};

use epa_hyper::tls::TlsAcceptor;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long connections get to go after the hard stop at the shutdown deadline.
const HARD_STOP: Duration = Duration::from_secs(2);

/// The first and the longest pause after an accept error.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(5), Duration::from_secs(1));

/// Open connections per client address.
#[derive(Debug, Default)]
pub(super) struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// One connection's place in [`PerAddress`], given back on drop.
pub(super) struct AddressSlot(Arc<PerAddress>, IpAddr);

impl PerAddress {
    pub(super) fn take(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<AddressSlot> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = map.entry(ip).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(AddressSlot(self.clone(), ip))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = (self.0).0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

/// After the last accept: lets in-flight requests finish within `deadline`, then cuts every
/// connection (and splice) still open and waits a moment for them to go.
async fn drain(trigger: Trigger, permits: &Semaphore, limit: usize, deadline: std::time::Duration) {
    trigger.fire();
    let in_flight = limit - permits.available_permits();
    tracing::info!(target: "epa", connections = in_flight, "shutting down: no new connections; in-flight requests may finish");
    let all = u32::try_from(limit).unwrap_or(u32::MAX);
    match tokio::time::timeout(deadline, permits.acquire_many(all)).await {
        Ok(_) => tracing::info!(target: "epa", "shutdown complete"),
        Err(_) => {
            let left = limit - permits.available_permits();
            tracing::warn!(target: "epa", connections = left, "shutdown deadline passed: closing the remaining connections");
            trigger.fire_hard();
            // Each connection and splice ends at once on the hard signal; wait for them to go.
            let gone = tokio::time::timeout(HARD_STOP, permits.acquire_many(all)).await;
            if gone.is_err() {
                let left = limit - permits.available_permits();
                tracing::error!(target: "epa", connections = left, "connections still open after the hard stop");
            }
        }
    }
}

/// Accepts until `stop` completes, then waits for the open connections (bounded by the
/// shutdown deadline).
pub(crate) async fn accept_loop<S>(
    listener: TcpListener,
    tls: Option<Arc<TlsAcceptor>>,
    app: S,
    options: Arc<ConnectionOptions>,
    stop: impl Future<Output = ()>,
) -> Result<(), ServerError>
where
    S: ServeService,
{
    let (trigger, shutdown): (Trigger, Shutdown) = super::shutdown::channel();
    let limit = options.max_connections;
    let permits = Arc::new(Semaphore::new(limit));
    let per_address = Arc::new(PerAddress::default());
    let mut backoff = BACKOFF.0;
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.map_err(|_| ServerError::Closed)?,
            () = &mut stop => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut stop => break,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => {
                backoff = BACKOFF.0;
                a
            }
            Err(e) => {
                let kind = events::accept_error_kind(&e);
                events::accept_error(kind);
                if kind == "connection-aborted" {
                    // The client gave up before accept: nothing is short, go on at once.
                    tracing::debug!(target: "epa", "accept: {e}");
                    continue;
                }
                tracing::warn!(target: "epa", kind, pause_ms = backoff.as_millis() as u64, "accept failed, retrying: {e}");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut stop => break,
                }
                backoff = (backoff * 2).min(BACKOFF.1);
                continue;
            }
        };
        // A balancer's connections take their per-address place after the PROXY header, for
        // the client it names: counted by the balancer's address, they would starve everyone.
        let proxied = options.proxy_protocol.expects(peer.ip());
        let (slot, per_address) = match options.max_connections_per_address {
            None => (None, None),
            Some(n) if proxied => (None, Some((per_address.clone(), n))),
            Some(n) => match per_address.take(peer.ip().to_canonical(), n) {
                Some(slot) => (Some(slot), None),
                None => {
                    events::refused_per_address();
                    tracing::debug!(target: "epa", %peer, "per-address connection limit reached");
                    continue;
                }
            },
        };
        let gauge = OpenGauge::new();
        let (tls, app, options, shutdown) =
            (tls.clone(), app.clone(), options.clone(), shutdown.clone());
        // The places go with the connection, and with a splice it becomes (see `hold`).
        let admission = Admission {
            permit,
            slot,
            per_address,
        };
        tokio::spawn(async move {
            let reason = connection::run(tcp, tls, app, options, shutdown, admission).await;
            gauge.close(reason);
        });
    }
    drop(listener);
    drain(trigger, &permits, limit, options.deadlines.shutdown).await;
    Ok(())
}
