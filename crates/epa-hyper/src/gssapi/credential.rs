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
    /// The same, with SPNEGO negotiating Kerberos only (for routes with `mechanisms =
    /// ["kerberos"]`); `None` when MIT refused `gss_set_neg_mechs` (then the decision alone
    /// refuses NTLM).
    pub(super) kerberos_only: Option<Arc<Credential>>,
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
    let kerberos_only = match Credential::acquire_kerberos_only() {
        Ok(c) => Some(Arc::new(c)),
        Err(e) => {
            tracing::warn!(target: "epa", error = %e, "SPNEGO cannot be restricted to Kerberos (gss_set_neg_mechs): Kerberos-only routes refuse NTLM after the exchange instead");
            None
        }
    };
    Ok(Acceptor {
        cred,
        kerberos_only,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 0x502 keytab with one entry per (components, realm), each with a 2-byte key.
    fn keytab(principals: &[(&[&str], &str)]) -> Vec<u8> {
        let mut out = vec![0x05, 0x02];
        for (components, realm) in principals {
            let mut e = Vec::new();
            let count = u16::try_from(components.len()).unwrap_or_default();
            e.extend_from_slice(&count.to_be_bytes());
            for part in std::iter::once(realm).chain(components.iter()) {
                let len = u16::try_from(part.len()).unwrap_or_default();
                e.extend_from_slice(&len.to_be_bytes());
                e.extend_from_slice(part.as_bytes());
            }
            e.extend_from_slice(&1u32.to_be_bytes()); // name type
            e.extend_from_slice(&0u32.to_be_bytes()); // timestamp
            e.push(2); // vno
            e.extend_from_slice(&18u16.to_be_bytes()); // enctype
            e.extend_from_slice(&2u16.to_be_bytes());
            e.extend_from_slice(&[0xaa, 0xbb]);
            let size = i32::try_from(e.len()).unwrap_or_default();
            out.extend_from_slice(&size.to_be_bytes());
            out.extend_from_slice(&e);
        }
        out
    }

    fn only(bytes: &[u8]) -> Option<String> {
        let dir = std::env::temp_dir().join(format!(
            "epa-only-principal-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).ok()?;
        let path = dir.join("test.keytab");
        std::fs::write(&path, bytes).ok()?;
        let found = only_principal(Some(&path)).map(|p| p.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        found
    }

    #[test]
    fn one_principal_is_the_target_others_ask_mit() {
        let http: &[&str] = &["HTTP", "web.example"];
        // One principal, two entries (two enctypes or kvnos): known.
        assert_eq!(
            only(&keytab(&[(http, "EXAMPLE.TEST"), (http, "EXAMPLE.TEST")])).as_deref(),
            Some("HTTP/web.example@EXAMPLE.TEST")
        );
        // Two principals (a host keytab): MIT must say which key decrypted the ticket.
        assert_eq!(
            only(&keytab(&[
                (http, "EXAMPLE.TEST"),
                (&["host", "web.example"], "EXAMPLE.TEST")
            ])),
            None
        );
        // The same components in another realm are another principal.
        assert_eq!(
            only(&keytab(&[(http, "EXAMPLE.TEST"), (http, "OTHER.TEST")])),
            None
        );
        // A name krb5_unparse_name would escape: asked of MIT.
        assert_eq!(only(&keytab(&[(&["HTTP", "a@b"], "EXAMPLE.TEST")])), None);
        assert_eq!(only(&keytab(&[(&["HTTP", "a\\b"], "EXAMPLE.TEST")])), None);
        // Empty, unreadable, missing: asked of MIT.
        assert_eq!(only(&keytab(&[])), None);
        assert_eq!(only(b"\x05\x02\x00"), None);
        assert_eq!(
            only_principal(Some(&PathBuf::from("/nonexistent/keytab"))),
            None
        );
        assert_eq!(only_principal(None), None);
    }
}
