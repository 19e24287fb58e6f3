//! The acceptor credential, acquired once and shared by every context (issue #13: without it
//! MIT acquires one inside every `gss_accept_sec_context`, reading the keytab each time).
//! Acquired again when the keytab file changes (modification time or length), looked at most
//! once per [`RELOAD_INTERVAL`]; a keytab that cannot be acquired keeps the previous credential.
//!
//! With it, the keytab's principal when it holds only one: MIT reports as a ticket's target the
//! principal of the keytab entry whose key decrypted it (`try_one_entry` in `rd_req_dec.c`
//! overwrites the ticket's server name with it), so with one principal the target is known
//! without asking MIT (which costs four krb5 contexts under SPNEGO).

use super::ffi::Credential;
use epa_core::keytab::{self, MAX_KEYTAB_LEN};
use libgssapi::error::Error as GssError;
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use zeroize::Zeroizing;

/// How often the keytab's metadata is looked at.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// What identifies one version of the keytab file.
type Stamp = Option<(SystemTime, u64)>;

struct State {
    acceptor: Acceptor,
    stamp: Stamp,
    checked: Instant,
}

/// What every context accepts with.
#[derive(Clone)]
pub(super) struct Acceptor {
    /// MIT's acceptor credential.
    pub(super) cred: Arc<Credential>,
    /// The keytab's principal as MIT displays it (`HTTP/web.example@REALM`), when the keytab
    /// holds exactly one principal whose name needs no escaping; `None` otherwise.
    pub(super) only_principal: Option<Arc<str>>,
}

/// The keytab's only principal (see [`Acceptor::only_principal`]). The file holds keys: its
/// bytes are zeroed when dropped, and only the names are kept.
fn only_principal(path: Option<&PathBuf>) -> Option<Arc<str>> {
    let file = std::fs::File::open(path?).ok()?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_KEYTAB_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    let entries = keytab::parse(&bytes).ok()?;
    let first = entries.first()?;
    if entries
        .iter()
        .any(|e| e.components != first.components || e.realm != first.realm)
    {
        return None;
    }
    // Characters krb5_unparse_name never escapes: the display is then the plain join.
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-$".contains(&b))
    };
    (first.components.iter().all(|c| plain(c)) && plain(&first.realm))
        .then(|| first.principal().into())
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

fn acquire(keytab: Option<&PathBuf>) -> Result<Acceptor, GssError> {
    let cred = Arc::new(Credential::acquire()?);
    Ok(Acceptor {
        cred,
        only_principal: only_principal(keytab),
    })
}

impl AcceptorCredential {
    pub(super) fn new() -> Self {
        Self {
            keytab: keytab_path(),
            state: Mutex::new(None),
        }
    }

    /// The current credential: acquired on first use, again after the keytab changed.
    pub(super) fn get(&self) -> Result<Acceptor, GssError> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        match state.as_mut() {
            Some(s) if now.duration_since(s.checked) < RELOAD_INTERVAL => Ok(s.acceptor.clone()),
            Some(s) => {
                s.checked = now;
                let current = stamp(self.keytab.as_ref());
                if current != s.stamp {
                    match acquire(self.keytab.as_ref()) {
                        Ok(acceptor) => {
                            tracing::info!(target: "epa", keytab = ?self.keytab, "keytab changed: acceptor credential acquired again");
                            s.acceptor = acceptor;
                            s.stamp = current;
                        }
                        Err(e) => {
                            tracing::warn!(target: "epa", keytab = ?self.keytab, error = %e, "keytab changed but no credential could be acquired from it: keeping the previous one");
                        }
                    }
                }
                Ok(s.acceptor.clone())
            }
            None => {
                let stamp = stamp(self.keytab.as_ref());
                let acceptor = acquire(self.keytab.as_ref())?;
                *state = Some(State {
                    acceptor: acceptor.clone(),
                    stamp,
                    checked: now,
                });
                Ok(acceptor)
            }
        }
    }
}
