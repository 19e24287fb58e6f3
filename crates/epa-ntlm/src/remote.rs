//! Pass-through verification ([`CredentialVerifier`], a domain controller through winbind):
//! the account's throttling key for every spelling the directory reads as one account, the
//! domain check before the verifier is asked, and the per-address cap on calls under way.

use crate::context::{Logon, NtlmContext};
use crate::error::NtlmError;
use crate::throttle::{self, Attempt};
use crate::verifier::{CredentialVerifier, DomainLookup, LogonError, NetworkLogon};
use crate::{casing, telemetry, users, wire};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// A verifier call under way from one address; released on drop, however the call ends.
struct InFlightSlot {
    map: Arc<Mutex<HashMap<IpAddr, usize>>>,
    key: IpAddr,
}

impl Drop for InFlightSlot {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

impl NtlmContext {
    /// The account a pass-through logon names, as one throttling key for every spelling the
    /// domain controller reads as the same account: `user@domain` with no domain is split; the
    /// empty domain, our NetBIOS and DNS names, and whatever the verifier says is canonical
    /// for a trusted domain, all fold to one name. `Err` for a domain the verifier does not
    /// trust.
    fn remote_account(
        &self,
        verifier: &dyn CredentialVerifier,
        domain: &str,
        user: &str,
    ) -> Result<String, ()> {
        let (user, domain) = match user.rsplit_once('@') {
            Some((u, d)) if domain.is_empty() => (u, d),
            _ => (user, domain),
        };
        let a = &self.acceptor;
        let ours = domain.is_empty()
            || casing::upcase(domain) == a.netbios_domain
            || domain.eq_ignore_ascii_case(&a.dns_domain);
        let canonical = if ours {
            a.netbios_domain.clone()
        } else {
            match verifier.domain(domain) {
                DomainLookup::Known(c) => c,
                DomainLookup::Untrusted => return Err(()),
                DomainLookup::Unknown => domain.to_owned(),
            }
        };
        Ok(users::folded_name(&canonical, user))
    }

    /// Hands the response to the verifier (pass-through). Throttling still applies, before
    /// the domain controller is asked (which has its own lockout policy): once a rule refuses,
    /// nothing more reaches the directory. A domain the verifier does not trust is refused
    /// here and counted against the address; each address has at most
    /// `max_in_flight_per_address` calls under way.
    pub(crate) fn verify_remotely(
        &self,
        verifier: &dyn CredentialVerifier,
        auth: &wire::Authenticate<'_>,
        server_challenge: &[u8; 8],
    ) -> Result<Logon, NtlmError> {
        let (domain, user) = (auth.domain.clone(), auth.user.clone());
        let Ok(folded) = self.remote_account(verifier, &auth.domain, &auth.user) else {
            let now = (self.acceptor.monotonic)();
            if let Some(Err(rule)) = self.acceptor.throttled(|t| t.check_address(self.peer, now)) {
                telemetry::throttle_refusal(rule.label());
                return Err(NtlmError::Throttled { rule });
            }
            self.acceptor
                .throttled(|t| t.address_failure(self.peer, now));
            return Err(NtlmError::UnknownDomain { domain, user });
        };
        let attempt = Attempt::new(self.peer, &folded);
        self.check_throttle(&attempt)?;
        let _slot = self.in_flight_slot(verifier)?;
        let logon = NetworkLogon {
            domain: &auth.domain,
            user: &auth.user,
            workstation: &auth.workstation,
            server_challenge,
            nt_response: auth.nt_response,
            lm_response: auth.lm_response,
        };
        match verifier.verify(&logon) {
            Ok(verified) => Ok(Logon { verified, attempt }),
            Err(LogonError::BadCredentials) => {
                self.record_failure(&attempt);
                Err(NtlmError::BadCredentials { domain, user })
            }
            Err(LogonError::Restricted(restriction)) => {
                self.record_failure(&attempt);
                Err(NtlmError::AccountRestricted {
                    domain,
                    user,
                    restriction,
                })
            }
            Err(LogonError::Refused(reason)) => {
                self.record_failure(&attempt);
                Err(NtlmError::Refused {
                    domain,
                    user,
                    reason,
                })
            }
            Err(LogonError::UnknownDomain) => {
                let now = (self.acceptor.monotonic)();
                self.acceptor
                    .throttled(|t| t.address_failure(self.peer, now));
                Err(NtlmError::UnknownDomain { domain, user })
            }
            Err(LogonError::Unavailable(reason)) => Err(NtlmError::VerifierUnavailable {
                reason,
                retry_after_secs: verifier.retry_after_secs(),
            }),
        }
    }

    /// One of this address's verifier slots, or 503 when it has them all.
    fn in_flight_slot(
        &self,
        verifier: &dyn CredentialVerifier,
    ) -> Result<Option<InFlightSlot>, NtlmError> {
        let (Some(peer), max) = (self.peer, self.acceptor.max_in_flight_per_address) else {
            return Ok(None);
        };
        if max == 0 {
            return Ok(None);
        }
        let key = throttle::fold_address(peer);
        let map = self.acceptor.in_flight.clone();
        {
            let mut m = map.lock().unwrap_or_else(PoisonError::into_inner);
            let n = m.entry(key).or_insert(0);
            if *n >= max {
                return Err(NtlmError::VerifierUnavailable {
                    reason: format!("{max} logons from this address already wait for the verifier"),
                    retry_after_secs: verifier.retry_after_secs(),
                });
            }
            *n += 1;
        }
        Ok(Some(InFlightSlot { map, key }))
    }
}
