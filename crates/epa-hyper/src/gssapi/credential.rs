//! The acceptor credential, acquired once and shared by every context (issue #13: without it
//! MIT acquires one inside every `gss_accept_sec_context`, reading the keytab each time).
//! Acquired again when the keytab file changes (modification time or length), looked at most
//! once per [`RELOAD_INTERVAL`]; a keytab that cannot be acquired keeps the previous credential.

use super::ffi::Credential;
use libgssapi::error::Error as GssError;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How often the keytab's metadata is looked at.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// What identifies one version of the keytab file.
type Stamp = Option<(SystemTime, u64)>;

struct State {
    cred: Arc<Credential>,
    stamp: Stamp,
    checked: Instant,
}

/// The shared acceptor credential and the keytab it came from.
pub(super) struct AcceptorCredential {
    keytab: Option<PathBuf>,
    state: Mutex<Option<State>>,
}

impl std::fmt::Debug for AcceptorCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptorCredential")
            .field("keytab", &self.keytab)
            .finish_non_exhaustive()
    }
}

/// The keytab file `KRB5_KTNAME` names (`FILE:`/`WRFILE:` prefix or a bare path), for watching.
/// Other keytab types (`MEMORY:`, `KEYRING:`) and the krb5.conf default are not watched: the
/// credential is then acquired once for the process's life.
fn keytab_path() -> Option<PathBuf> {
    let name = std::env::var_os("KRB5_KTNAME")?;
    let name = name.to_str()?;
    let path = name
        .strip_prefix("FILE:")
        .or_else(|| name.strip_prefix("WRFILE:"))
        .unwrap_or(name);
    (path.starts_with('/')).then(|| PathBuf::from(path))
}

fn stamp(path: Option<&PathBuf>) -> Stamp {
    let meta = std::fs::metadata(path?).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn acquire() -> Result<Arc<Credential>, GssError> {
    Credential::acquire().map(Arc::new)
}

impl AcceptorCredential {
    pub(super) fn new() -> Self {
        Self {
            keytab: keytab_path(),
            state: Mutex::new(None),
        }
    }

    /// The current credential: acquired on first use, again after the keytab changed.
    pub(super) fn get(&self) -> Result<Arc<Credential>, GssError> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        match state.as_mut() {
            Some(s) if now.duration_since(s.checked) < RELOAD_INTERVAL => Ok(s.cred.clone()),
            Some(s) => {
                s.checked = now;
                let current = stamp(self.keytab.as_ref());
                if current != s.stamp {
                    match acquire() {
                        Ok(cred) => {
                            tracing::info!(target: "epa", keytab = ?self.keytab, "keytab changed: acceptor credential acquired again");
                            s.cred = cred;
                            s.stamp = current;
                        }
                        Err(e) => {
                            tracing::warn!(target: "epa", keytab = ?self.keytab, error = %e, "keytab changed but no credential could be acquired from it: keeping the previous one");
                        }
                    }
                }
                Ok(s.cred.clone())
            }
            None => {
                let stamp = stamp(self.keytab.as_ref());
                let cred = acquire()?;
                *state = Some(State {
                    cred: cred.clone(),
                    stamp,
                    checked: now,
                });
                Ok(cred)
            }
        }
    }
}
