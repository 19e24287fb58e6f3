//! Group SIDs for principals authenticated by another backend (Kerberos through MIT GSSAPI):
//! looked up through winbind after the exchange completes.
//!
//! The GSSAPI backend reads the groups from a Kerberos ticket's verified PAC itself; this
//! wrapper is for the logins that bring none (a ticket without a PAC it can use, another
//! backend): it asks only when the completed exchange reports no SID and no groups. On a Samba
//! 4.17 DC the lookup lists direct memberships only (the PAC has the transitive set).

use crate::WinbindVerifier;
use epa_core::authenticator::{
    AuthError, Authenticator, ExpectedBindings, Scheme, SecurityContext, Step,
};
use epa_ntlm::{CredentialVerifier as _, LogonError};

/// Wraps a backend: every completed exchange that reports no groups gets the account's SID and
/// groups from winbind. A principal the directory does not know keeps no groups (routes with
/// `allow_groups` then refuse it); winbind unreachable is 503, never a login without its groups.
#[derive(Debug, Clone)]
pub struct WithWinbindGroups<A> {
    inner: A,
    winbind: WinbindVerifier,
}

impl<A: Authenticator> WithWinbindGroups<A> {
    /// `inner`, with groups from `winbind`.
    pub fn new(inner: A, winbind: WinbindVerifier) -> Self {
        Self { inner, winbind }
    }
}

impl<A: Authenticator> Authenticator for WithWinbindGroups<A> {
    fn schemes(&self) -> &[Scheme] {
        self.inner.schemes()
    }

    /// The lookup blocks (winbind's socket).
    fn blocking(&self) -> bool {
        true
    }

    fn new_context(&self) -> Box<dyn SecurityContext> {
        Box::new(Context {
            inner: self.inner.new_context(),
            winbind: self.winbind.clone(),
        })
    }

    fn new_context_for(&self, peer: std::net::IpAddr) -> Box<dyn SecurityContext> {
        Box::new(Context {
            inner: self.inner.new_context_for(peer),
            winbind: self.winbind.clone(),
        })
    }

    fn mechanisms(&self) -> epa_core::decide::Mechanisms {
        self.inner.mechanisms()
    }

    fn new_context_restricted(
        &self,
        peer: std::net::IpAddr,
        mechanisms: epa_core::decide::Mechanisms,
    ) -> Box<dyn SecurityContext> {
        Box::new(Context {
            inner: self.inner.new_context_restricted(peer, mechanisms),
            winbind: self.winbind.clone(),
        })
    }
}

struct Context {
    inner: Box<dyn SecurityContext>,
    winbind: WinbindVerifier,
}

impl SecurityContext for Context {
    fn step(
        &mut self,
        token: &[u8],
        expected: Option<&ExpectedBindings>,
    ) -> Result<Step, AuthError> {
        let mut done = match self.inner.step(token, expected)? {
            Step::Complete(done) if done.groups.is_empty() && done.user_sid.is_none() => done,
            other => return Ok(other),
        };
        // A Kerberos identity is user@REALM; winbind takes the realm as the domain name.
        match self
            .winbind
            .account_groups(&done.identity.domain, &done.identity.user)
        {
            Ok((sid, groups)) => {
                done.user_sid = Some(sid);
                done.groups = groups;
            }
            Err(LogonError::Unavailable(reason)) => {
                return Err(AuthError::Unavailable {
                    reason,
                    retry_after_secs: self.winbind.retry_after_secs(),
                });
            }
            Err(e) => {
                tracing::info!(
                    principal = %done.identity.principal.escape_debug(),
                    error = %e,
                    "no groups for this principal in the directory"
                );
            }
        }
        Ok(Step::Complete(done))
    }
}
