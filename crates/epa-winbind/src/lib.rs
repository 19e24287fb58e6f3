//! NTLM pass-through for epa: the embedded acceptor ([`epa_ntlm::NtlmAcceptor`]) issues
//! the challenge and reads the AV pairs; an Active Directory domain controller verifies the
//! NTLMv2 response through Samba's winbind (`libwbclient`'s `wbcCtxAuthenticateUserEx` at
//! `WBC_AUTH_USER_LEVEL_RESPONSE`, a Netlogon network logon), and returns the session key (the
//! acceptor verifies the MIC with it), the canonical account name, and the user's SID and group
//! SIDs with nested membership expanded — as IIS gets them from its domain controller.
//!
//! The domain controller never compares the channel binding or the SPN (MS-NRPC leaves them to
//! the server; Samba 4.17 has no such check for NTLM): the acceptor reports them and
//! `epa_core::decide` judges them, as for every backend.
//!
//! ```no_run
//! use epa_ntlm::NtlmAcceptor;
//! use epa_winbind::{WinbindSettings, WinbindVerifier};
//! let verifier = WinbindVerifier::new(WinbindSettings::default());
//! verifier.check().expect("winbindd answers");
//! let backend = NtlmAcceptor::with_verifier(verifier, "EPA", "WEB01").dns_names("epa.test", "web01.epa.test");
//! ```
//!
//! Why libwbclient and not `ntlm_auth --helper-protocol=ntlm-server-1`: the helper runs its own
//! NTLMSSP server (it would issue the challenge and we could not read the AUTHENTICATE message
//! first) unless driven in its lower-level mode, costs a process per concurrent logon, and
//! returns neither the SIDs nor the session key in one answer. The FFI is one call, in one module
//! (`ffi`), with bindings generated from the installed header.
//!
//! Deadlines and bounds: each verification runs on its own thread and is waited for at most
//! [`WinbindSettings::timeout`]; at most [`WinbindSettings::max_in_flight`] verifications wait at
//! once (more are answered "unavailable" at once). An unanswered call keeps its thread until
//! winbindd answers or drops the connection; it is counted until then.

mod domains;
mod ffi;
mod groups;
mod status;

pub use groups::WithWinbindGroups;

use epa_core::sid::Sid;
use epa_ntlm::{CredentialVerifier, DomainLookup, LogonError, NetworkLogon, VerifiedLogon};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;
use thiserror::Error;

/// How the verifier waits for winbind.
#[derive(Debug, Clone)]
pub struct WinbindSettings {
    /// The longest wait for one verification (default 10 s; Windows' Netlogon waits up to 45 s
    /// for a domain controller, which is longer than a browser waits for a page).
    pub timeout: Duration,
    /// Verifications waiting at once, at most (default 64).
    pub max_in_flight: usize,
    /// `Retry-After` seconds when the domain controller is unavailable (default 5).
    pub retry_after_secs: u32,
    /// The domain names (NetBIOS or DNS) clients may name; `None` (the default): learnt from
    /// winbind (`wbcCtxListTrusts`) at [`check`](WinbindVerifier::check) and refreshed every 5
    /// minutes. Other domains are refused before winbind is asked.
    pub domains: Option<Vec<String>>,
}

impl Default for WinbindSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_in_flight: 64,
            retry_after_secs: 5,
            domains: None,
        }
    }
}

/// Why winbind cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WinbindError {
    /// libwbclient could not allocate a context.
    #[error("libwbclient could not create a context")]
    NoContext,
    /// winbindd does not answer on its socket (is it running, and is this process allowed to
    /// reach its privileged pipe? Challenge/response logons need root or the winbindd_priv group).
    #[error(
        "winbindd does not answer (is winbind running? challenge/response logons need access to its privileged pipe)"
    )]
    NotAvailable,
}

/// Verifies NTLMv2 responses with the domain controller winbindd is joined to (or runs on).
#[derive(Debug, Clone)]
pub struct WinbindVerifier {
    settings: WinbindSettings,
    pool: Arc<Pool>,
    in_flight: Arc<AtomicUsize>,
    domains: Arc<domains::Domains>,
}

/// Idle winbind contexts, at most `max_in_flight` kept.
#[derive(Default)]
struct Pool(Mutex<Vec<ffi::Context>>);

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pool")
    }
}

impl Pool {
    fn take(&self) -> Option<ffi::Context> {
        let idle = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop();
        idle.or_else(ffi::Context::new)
    }

    fn give(&self, ctx: ffi::Context, limit: usize) {
        let mut idle = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < limit {
            idle.push(ctx);
        }
    }
}

impl WinbindVerifier {
    /// A verifier with `settings` (no connection is made until [`check`](Self::check) or the
    /// first logon).
    pub fn new(settings: WinbindSettings) -> Self {
        Self {
            settings,
            pool: Arc::new(Pool::default()),
            in_flight: Arc::new(AtomicUsize::new(0)),
            domains: Arc::new(domains::Domains::default()),
        }
    }

    /// Asks winbind for the domains it knows and keeps them (see [`WinbindSettings::domains`]).
    /// Marked as asked before the call, so that concurrent logons do not all ask at once.
    fn learn_domains(&self) {
        let lock = || {
            self.domains
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        lock().asked = Some(std::time::Instant::now());
        let answer = self.run(|ctx| ctx.list_trusts());
        let mut learnt = lock();
        match answer {
            Ok(Ok(pairs)) if !pairs.is_empty() => learnt.names = Some(domains::names(&pairs)),
            Ok(Ok(_)) => {}
            Ok(Err(f)) => {
                tracing::warn!(failure = %status::describe(&f), "winbind did not list its domains")
            }
            Err(e) => tracing::warn!(error = %e, "winbind did not list its domains"),
        }
    }

    /// Whether winbindd answers now (at start-up, to fail early with a clear message).
    pub fn check(&self) -> Result<(), WinbindError> {
        let mut ctx = ffi::Context::new().ok_or(WinbindError::NoContext)?;
        if ctx.ping() {
            self.pool.give(ctx, self.settings.max_in_flight);
            if self.settings.domains.is_none() {
                self.learn_domains();
            }
            Ok(())
        } else {
            Err(WinbindError::NotAvailable)
        }
    }
}

/// Decrements the in-flight count when the worker ends, however it ends.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A logon copied for the worker thread.
struct OwnedLogon {
    domain: String,
    user: String,
    workstation: String,
    server_challenge: [u8; 8],
    nt_response: Vec<u8>,
    lm_response: Vec<u8>,
}

impl WinbindVerifier {
    /// Runs `call` on a pooled context on its own thread, waiting at most the timeout; at most
    /// `max_in_flight` calls wait at once.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce(&mut ffi::Context) -> Result<T, ffi::Failure> + Send + 'static,
    ) -> Result<Result<T, ffi::Failure>, LogonError> {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.settings.max_in_flight {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(LogonError::Unavailable(format!(
                "{} requests already wait for winbind",
                self.settings.max_in_flight
            )));
        }
        let guard = InFlight(self.in_flight.clone());
        let (tx, rx) = mpsc::sync_channel(1);
        let pool = self.pool.clone();
        let keep = self.settings.max_in_flight;
        std::thread::Builder::new()
            .name("epa-winbind".into())
            .spawn(move || {
                let _guard = guard;
                let result = match pool.take() {
                    None => Err(ffi::Failure::Winbind(ffi::wbc_err::NO_MEMORY)),
                    Some(mut ctx) => {
                        let r = call(&mut ctx);
                        // A context whose winbindd went away is dropped (the next call
                        // connects afresh).
                        if !matches!(r, Err(ffi::Failure::Winbind(_))) {
                            pool.give(ctx, keep);
                        }
                        r
                    }
                };
                // The receiver may have given up (deadline): nothing to do then.
                let _ = tx.send(result);
            })
            .map_err(|e| LogonError::Unavailable(format!("cannot start a winbind thread: {e}")))?;
        match rx.recv_timeout(self.settings.timeout) {
            Ok(answer) => Ok(answer),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(LogonError::Unavailable(format!(
                "winbind did not answer within {} ms",
                self.settings.timeout.as_millis()
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(LogonError::Unavailable("the winbind thread ended".into()))
            }
        }
    }

    /// The SID of a group or account named `DOMAIN\\name` (for `allow_groups` by name).
    pub fn lookup_name(&self, domain: &str, name: &str) -> Result<Sid, LogonError> {
        let (domain, name) = (domain.to_owned(), name.to_owned());
        let bytes = self
            .run(move |ctx| ctx.lookup_name(&domain, &name))?
            .map_err(|f| status::logon_error(&f))?;
        Sid::from_bytes(&bytes)
            .map_err(|e| LogonError::Refused(format!("winbind returned an unreadable SID: {e}")))
    }

    /// The account's SID and every group SID it has (nested membership expanded by the
    /// directory), for a principal authenticated some other way (Kerberos).
    pub fn account_groups(&self, domain: &str, user: &str) -> Result<(Sid, Vec<Sid>), LogonError> {
        let (domain, user) = (domain.to_owned(), user.to_owned());
        let sids = self
            .run(move |ctx| {
                let sid = ctx.lookup_name(&domain, &user)?;
                let mut all = vec![sid.clone()];
                all.extend(ctx.user_groups(&sid)?);
                Ok(all)
            })?
            .map_err(|f| status::logon_error(&f))?;
        let mut sids = parse_sids(&sids)?;
        let user_sid = sids.remove(0);
        let groups = dedup(sids.into_iter().filter(|s| *s != user_sid));
        Ok((user_sid, groups))
    }
}

impl CredentialVerifier for WinbindVerifier {
    fn verify(&self, logon: &NetworkLogon<'_>) -> Result<VerifiedLogon, LogonError> {
        let owned = OwnedLogon {
            domain: logon.domain.to_owned(),
            user: logon.user.to_owned(),
            workstation: logon.workstation.to_owned(),
            server_challenge: *logon.server_challenge,
            nt_response: logon.nt_response.to_vec(),
            lm_response: logon.lm_response.to_vec(),
        };
        let answer = self.run(move |ctx| {
            ctx.authenticate_response(&ffi::Request {
                domain: &owned.domain,
                user: &owned.user,
                workstation: &owned.workstation,
                server_challenge: &owned.server_challenge,
                nt_response: &owned.nt_response,
                lm_response: &owned.lm_response,
            })
        })?;
        let info = answer.map_err(|f| {
            tracing::debug!(failure = %status::describe(&f), "winbind refused a logon");
            status::logon_error(&f)
        })?;
        verified(info, logon)
    }

    fn blocking(&self) -> bool {
        true
    }

    fn retry_after_secs(&self) -> u32 {
        self.settings.retry_after_secs
    }

    fn domain(&self, domain: &str) -> DomainLookup {
        if let Some(list) = &self.settings.domains {
            return match list.iter().find(|d| d.eq_ignore_ascii_case(domain)) {
                Some(d) => DomainLookup::Known(d.to_uppercase()),
                None => DomainLookup::Untrusted,
            };
        }
        let verdict = |d: &domains::Domains| {
            d.0.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .verdict(domain, std::time::Instant::now())
        };
        let mut v = verdict(&self.domains);
        if v == domains::Verdict::Refresh {
            self.learn_domains();
            v = verdict(&self.domains);
        }
        match v {
            domains::Verdict::Known(c) => DomainLookup::Known(c),
            domains::Verdict::Untrusted => DomainLookup::Untrusted,
            domains::Verdict::Refresh | domains::Verdict::Unknown => DomainLookup::Unknown,
        }
    }
}

fn parse_sids(raw: &[Vec<u8>]) -> Result<Vec<Sid>, LogonError> {
    raw.iter()
        .map(|b| Sid::from_bytes(b))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LogonError::Refused(format!("winbind returned an unreadable SID: {e}")))
}

/// Removes repeated SIDs, keeping the first of each.
fn dedup(sids: impl IntoIterator<Item = Sid>) -> Vec<Sid> {
    let mut out: Vec<Sid> = Vec::new();
    for s in sids {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The acceptor's view of a verified logon. A SID that does not parse fails the logon: group
/// decisions must never run on a partial list.
fn verified(info: ffi::UserInfo, sent: &NetworkLogon<'_>) -> Result<VerifiedLogon, LogonError> {
    // Defence in depth: a domain controller does not report success for these, but if one did
    // the account still may not log on.
    if info.acct_flags & ffi::ACB_DISABLED != 0 {
        return Err(LogonError::Restricted(
            epa_ntlm::AccountRestriction::Disabled,
        ));
    }
    if info.acct_flags & ffi::ACB_AUTOLOCK != 0 {
        return Err(LogonError::Restricted(
            epa_ntlm::AccountRestriction::LockedOut,
        ));
    }
    let mut sids = parse_sids(&info.sids)?;
    let user_sid = (!sids.is_empty()).then(|| sids.remove(0));
    // The primary group is often also listed among the member groups.
    let groups = dedup(sids);
    Ok(VerifiedLogon {
        session_base_key: info.user_session_key,
        domain: info
            .domain_name
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| sent.domain.to_owned()),
        user: info
            .account_name
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| sent.user.to_owned()),
        user_sid,
        groups,
    })
}
