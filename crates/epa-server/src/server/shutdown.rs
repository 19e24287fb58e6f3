//! Graceful shutdown: the signal that starts it, the flag every connection watches, and the
//! hard stop when the shutdown deadline has passed.

use tokio::sync::watch;

/// Running, then stopping gracefully, then stopping hard.
const GRACEFUL: u8 = 1;
const HARD: u8 = 2;

/// Set once when the server stops accepting; every connection then finishes its in-flight
/// request and closes (hyper's `graceful_shutdown`). Set again when the shutdown deadline has
/// passed: every connection still open (spliced ones too) is closed at once.
#[derive(Debug, Clone)]
pub(crate) struct Shutdown(watch::Receiver<u8>);

/// The sending side, held by the accept loop.
#[derive(Debug)]
pub(crate) struct Trigger(watch::Sender<u8>);

pub(crate) fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(0);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    /// Graceful: finish in-flight requests, accept no more.
    pub(crate) fn fire(&self) {
        self.0.send_replace(GRACEFUL);
    }

    /// Hard: the shutdown deadline has passed; close what is still open.
    pub(crate) fn fire_hard(&self) {
        self.0.send_replace(HARD);
    }
}

impl Shutdown {
    pub(crate) fn is_set(&self) -> bool {
        *self.0.borrow() >= GRACEFUL
    }

    /// Completes when shutdown begins (at once if it has).
    pub(crate) async fn wait(&mut self) {
        // An error means the trigger is gone: the server is ending anyway.
        let _ = self.0.wait_for(|phase| *phase >= GRACEFUL).await;
    }

    /// Completes when the shutdown deadline has passed (or the server is gone).
    pub(crate) async fn wait_hard(&mut self) {
        let _ = self.0.wait_for(|phase| *phase >= HARD).await;
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl-C elsewhere): what [`super::Server::serve`] waits for.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                tracing::error!(target: "epa", "cannot install SIGTERM/SIGINT handlers; graceful shutdown is off");
                std::future::pending::<()>().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
