//! Graceful shutdown: the signal that starts it and the flag every connection watches.

use tokio::sync::watch;

/// Set once when the server stops accepting; every connection then finishes its in-flight
/// request and closes (hyper's `graceful_shutdown`).
#[derive(Debug, Clone)]
pub(crate) struct Shutdown(watch::Receiver<bool>);

/// The sending side, held by the accept loop.
#[derive(Debug)]
pub(crate) struct Trigger(watch::Sender<bool>);

pub(crate) fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    pub(crate) fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    pub(crate) fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when shutdown begins (at once if it has).
    pub(crate) async fn wait(&mut self) {
        // An error means the trigger is gone: the server is ending anyway.
        let _ = self.0.wait_for(|set| *set).await;
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
