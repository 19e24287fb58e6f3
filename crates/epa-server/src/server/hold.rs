//! What a connection holds while it lives — its place under `max_connections` and
//! `max_connections_per_address` — shared with the request extensions, so that a connection
//! upgraded to a splice (WebSocket) keeps counting until the splice ends, and with the shutdown
//! signal, so that a splice still open at the shutdown deadline is closed with the rest.

use super::listener::AddressSlot;
use super::shutdown::Shutdown;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;

/// A connection's places under the connection limits, in every request's extensions (cheap to
/// clone); the places are given back when the connection and every clone are gone.
#[derive(Clone)]
pub(crate) struct ConnectionHold(Arc<Held>);

struct Held {
    _permit: OwnedSemaphorePermit,
    _slot: Option<AddressSlot>,
    shutdown: Shutdown,
}

impl ConnectionHold {
    pub(super) fn new(
        permit: OwnedSemaphorePermit,
        slot: Option<AddressSlot>,
        shutdown: Shutdown,
    ) -> Self {
        Self(Arc::new(Held {
            _permit: permit,
            _slot: slot,
            shutdown,
        }))
    }
}

/// Runs `work` (a splice) holding the connection's places; ends it when the server's shutdown
/// deadline passes. Without a hold (a connection not served by [`super::Server`]), just runs it.
pub(crate) async fn hold_while(hold: Option<ConnectionHold>, work: impl Future<Output = ()>) {
    let Some(hold) = hold else {
        return work.await;
    };
    let mut shutdown = hold.0.shutdown.clone();
    tokio::select! {
        () = work => {}
        () = shutdown.wait_hard() => {
            tracing::info!(target: "epa", "shutdown deadline passed: closing a spliced connection");
        }
    }
    drop(hold);
}
