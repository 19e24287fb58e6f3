//! The GSSAPI backend (feature `gssapi`): MIT Kerberos through `libgssapi`, SPNEGO (Negotiate)
//! and raw Kerberos, and NTLM where gss-ntlmssp is installed (`NTLM_USER_FILE`).
//!
//! The acceptor credential comes from the keytab in `KRB5_KTNAME` (or the default keytab), or
//! from [`GssapiAcceptor::with_keytab`]. The expected channel binding is handed to
//! `gss_accept_sec_context` as the `application_data` of a struct with no addresses — the layout
//! Windows clients and gss-ntlmssp use — and what comes back is mapped to the decision's facts:
//!
//! | MIT result | observation |
//! |---|---|
//! | complete, `GSS_C_CHANNEL_BOUND_FLAG` (0x800) set | `Match` |
//! | `GSS_S_BAD_BINDINGS` | `Mismatch` (also for a client with `client_aware_channel_bindings`, i.e. `KERB_AP_OPTIONS_CBT`, that sent none: MIT refuses it itself) |
//! | complete without the flag, a binding was expected | `Absent` |
//! | no binding was expected (plain HTTP, trusted proxy) | `NotChecked` |
//!
//! MIT cannot tell a legacy client (no binding) from one that sent the all-zero value: in
//! Kerberos "no bindings" *is* sixteen zero bytes (RFC 4121 §4.1.1.2). The signal that a client
//! supports channel binding is `KERB_AP_OPTIONS_CBT`, and MIT refuses such a client when its
//! binding is missing. So a context that completes without the flag came from a client that did
//! not claim support — `Absent` is what it is, not a lenient guess — and `always` refuses it.
//! MIT's acceptor is itself permissive here (it behaves like `when-supported`); enforcement is
//! the decision's job.

use crate::authenticator::{
    AuthError, Authenticator, Completion, ExpectedBindings, Identity, Scheme, SecurityContext, Step,
};
use epa_core::decide::{BindingObservation, ClientServiceName, Mechanism};
use libgssapi::context::{SecurityContext as _, ServerCtx};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::error::MajorFlags;
use libgssapi::oid::{GSS_MECH_KRB5, Oid};

/// The `libgssapi` crate this backend is built on, for callers that need a GSSAPI initiator
/// (tests, load generators) without depending on it separately.
pub use libgssapi;

/// `GSS_C_CHANNEL_BOUND_FLAG` (MIT krb5 ≥ 1.19, `gssapi_ext.h`): libgssapi has no constant.
const GSS_C_CHANNEL_BOUND_FLAG: u32 = 0x800;

/// The gss-ntlmssp mechanism OID, 1.3.6.1.4.1.311.2.2.10.
static GSS_MECH_NTLMSSP: Oid<'static> =
    Oid::from_slice(b"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a");

/// A GSSAPI acceptor shared by all connections. Its credential is MIT's default acceptor
/// credential: the keytab named by `KRB5_KTNAME` (and gss-ntlmssp's `NTLM_USER_FILE`).
#[derive(Debug, Clone, Copy, Default)]
pub struct GssapiAcceptor;

impl GssapiAcceptor {
    /// The default acceptor credential.
    pub fn new() -> Self {
        Self
    }

    /// Checks that an acceptor credential can be acquired (a missing or unreadable keytab), so
    /// a server fails at start rather than on its first client.
    pub fn check(&self) -> Result<(), AuthError> {
        Cred::acquire(None, None, CredUsage::Accept, None)
            .map(|_| ())
            .map_err(|e| {
                AuthError::LogonDenied(format!(
                    "no GSSAPI acceptor credential (is KRB5_KTNAME a readable keytab?): {e}"
                ))
            })
    }
}

impl Authenticator for GssapiAcceptor {
    fn schemes(&self) -> &[Scheme] {
        &[Scheme::Negotiate]
    }

    fn new_context(&self) -> Box<dyn SecurityContext> {
        Box::new(GssapiContext {
            ctx: ServerCtx::new(None),
        })
    }
}

/// One connection's GSSAPI context.
pub struct GssapiContext {
    ctx: ServerCtx,
}

/// The routine-error field of a GSS major status (RFC 2744 §3.9.1): the codes are numbers in
/// bits 16–23, not flags, so they are compared, not tested bit by bit.
fn routine_error(major: MajorFlags) -> u32 {
    major.bits() & 0x00ff_0000
}

fn mechanism_of(ctx: &ServerCtx) -> Mechanism {
    match ctx.mechanism() {
        Ok(m) if m == GSS_MECH_KRB5 => Mechanism::Kerberos,
        Ok(m) if m == GSS_MECH_NTLMSSP => Mechanism::Ntlm,
        _ => Mechanism::Other,
    }
}

/// `alice@EXAMPLE.TEST` → Kerberos (alice, EXAMPLE.TEST); gss-ntlmssp's `DOM\alice\0` → NTLM
/// (alice, DOM).
fn identity_of(display: &str) -> Identity {
    let name = display.trim_end_matches('\0');
    if let Some((domain, user)) = name.split_once('\\') {
        return Identity::ntlm(domain, user);
    }
    match name.rsplit_once('@') {
        Some((user, realm)) => Identity::kerberos(user, realm),
        None => Identity::kerberos(name, ""),
    }
}

impl SecurityContext for GssapiContext {
    fn step(
        &mut self,
        _scheme: Scheme,
        token: &[u8],
        expected: Option<&ExpectedBindings>,
    ) -> Result<Step, AuthError> {
        let app_data = expected.map(|e| e.gss().application_data.clone());
        // gss-ntlmssp reports neither the binding it saw nor the target name, and refuses a
        // mismatching binding as a defective token; a raw NTLMSSP AUTHENTICATE says both, and is
        // read here (trusted only after gss-ntlmssp has verified it; on failure it only names
        // the reason of a refusal).
        let ntlm = crate::ntlm::inspect_authenticate(token, expected);
        let out = match self.ctx.step(token, app_data.as_deref()) {
            Ok(out) => out,
            Err(e) if routine_error(e.major) == MajorFlags::GSS_S_BAD_BINDINGS.bits() => {
                return Err(AuthError::BadBindings {
                    mechanism: mechanism_of(&self.ctx),
                    observation: BindingObservation::Mismatch,
                });
            }
            Err(_)
                if expected.is_some()
                    && let Some((
                        observation @ (BindingObservation::Mismatch | BindingObservation::Unbound),
                        _,
                    )) = ntlm =>
            {
                return Err(AuthError::BadBindings {
                    mechanism: Mechanism::Ntlm,
                    observation,
                });
            }
            Err(e) if routine_error(e.major) == MajorFlags::GSS_S_DEFECTIVE_TOKEN.bits() => {
                return Err(AuthError::InvalidToken(format!("GSSAPI: {e}")));
            }
            Err(e) => return Err(AuthError::LogonDenied(format!("GSSAPI: {e}"))),
        };
        if !self.ctx.is_complete() {
            return match out {
                Some(tok) => Ok(Step::Continue(tok.to_vec())),
                None => Err(AuthError::InvalidToken(
                    "GSSAPI gave neither a token nor a context".into(),
                )),
            };
        }
        let flags = self
            .ctx
            .flags()
            .map_err(|e| AuthError::LogonDenied(format!("GSSAPI flags: {e}")))?;
        let mechanism = mechanism_of(&self.ctx);
        let channel_binding = match (expected, &ntlm) {
            (None, _) => BindingObservation::NotChecked,
            (Some(_), _) if flags.bits() & GSS_C_CHANNEL_BOUND_FLAG != 0 => {
                BindingObservation::Match
            }
            // gss-ntlmssp completed and verified the message: its AV pairs are the client's.
            (Some(_), Some((observed, _))) if mechanism == Mechanism::Ntlm => *observed,
            (Some(_), _) => BindingObservation::Absent,
        };
        let source = self
            .ctx
            .source_name()
            .map_err(|e| AuthError::LogonDenied(format!("GSSAPI source name: {e}")))?;
        // For Kerberos the ticket names the service: report it as the client-specified SPN.
        // Only ask Kerberos: gss-ntlmssp 1.2.0 crashes (strdup(NULL)) when an acceptor context is
        // asked for its target name, so that call must never reach it.
        let client_spn = match mechanism {
            Mechanism::Kerberos => match self.ctx.target_name() {
                Ok(target) => {
                    ClientServiceName::Value(target.to_string().trim_end_matches('\0').to_owned())
                }
                Err(_) => ClientServiceName::Missing,
            },
            Mechanism::Ntlm => ntlm.map(|(_, spn)| spn).unwrap_or_default(),
            Mechanism::Other => ClientServiceName::Missing,
        };
        Ok(Step::Complete(Completion {
            identity: identity_of(&source.to_string()),
            mechanism,
            channel_binding,
            client_spn,
            supports_extended_protection: true,
            response_token: out.map(|t| t.to_vec()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_user_and_domain() {
        assert_eq!(
            identity_of("alice@EXAMPLE.TEST"),
            Identity::kerberos("alice", "EXAMPLE.TEST")
        );
        assert_eq!(
            identity_of("alice@EXAMPLE.TEST").to_string(),
            "alice@EXAMPLE.TEST"
        );
        assert_eq!(
            identity_of("TESTDOM\\alice\0"),
            Identity::ntlm("TESTDOM", "alice")
        );
        assert_eq!(identity_of("bob").to_string(), "bob");
    }
}
