//! The GSSAPI backend (feature `gssapi`): MIT Kerberos through `libgssapi`, SPNEGO (Negotiate)
//! and raw Kerberos, and NTLM where gss-ntlmssp is installed (`NTLM_USER_FILE`).
//!
//! The acceptor credential comes from the keytab in `KRB5_KTNAME` (or the default keytab). It is
//! acquired once and handed to every accept; it is acquired again when that keytab file changes
//! (looked at most once a second). The expected channel binding is handed to
//! `gss_accept_sec_context` as the `application_data` of a struct with no addresses — the layout
//! Windows clients and gss-ntlmssp use — and what comes back is mapped to the decision's facts:
//!
//! | MIT result | observation |
//! |---|---|
//! | complete, `GSS_C_CHANNEL_BOUND_FLAG` (0x800) set | `Match` |
//! | `GSS_S_BAD_BINDINGS` | `Mismatch` (also for a client with `client_aware_channel_bindings`, i.e. `KERB_AP_OPTIONS_CBT`, that sent none: MIT refuses it itself) |
//! | complete without the flag, a binding was expected | `Absent` |
//! | no binding was expected (plain HTTP, trusted proxy) | `NotChecked` (Kerberos); NTLM: what its AV pairs say |
//!
//! MIT cannot tell a legacy client (no binding) from one that sent the all-zero value: in
//! Kerberos "no bindings" *is* sixteen zero bytes (RFC 4121 §4.1.1.2). The signal that a client
//! supports channel binding is `KERB_AP_OPTIONS_CBT`, and MIT refuses such a client when its
//! binding is missing. So a context that completes without the flag came from a client that did
//! not claim support — `Absent` is what it is, not a lenient guess — and `always` refuses it.
//! MIT's acceptor is itself permissive here (it behaves like `when-supported`); enforcement is
//! the decision's job.
//!
//! NTLM (gss-ntlmssp reports neither the client's binding nor its target name): the backend
//! reads the NTLMSSP AUTHENTICATE itself — raw, or inside SPNEGO (read by
//! [`epa_core::spnego`], strict DER: a SPNEGO token it cannot read is refused before GSSAPI sees
//! it, so this backend and MIT never read one token two ways). An NTLM exchange whose
//! AUTHENTICATE cannot be inspected is refused by default ([`UninspectableNtlm`]).
//!
//! MIT calls per login (issue #13; every MIT name conversion, display, release or attribute
//! read builds a krb5 context, and SPNEGO doubles the conversions): the accept itself gives the
//! source name, mechanism and flags (`ffi`, the only `unsafe` of this crate); the source name is
//! displayed once; the ticket's target is the keytab's principal when the keytab holds only one
//! (`credential`), else one `gss_inquire_context` for it alone; groups come from the ticket's
//! PAC (`pac`, [`GssapiAcceptor::pac_groups`]).
//!
//! [`SecurityContext::step`] **blocks**: it calls MIT GSSAPI, which reads the keytab and writes
//! the replay cache. Run it off the async worker threads (`spawn_blocking`); a
//! [`GssapiContext`] is `Send` so it can move there.

mod credential;
mod enctypes;
mod ffi;
mod names;
mod pac;

use crate::authenticator::{
    AuthError, Authenticator, Completion, ExpectedBindings, Scheme, SecurityContext, Step,
};
use credential::AcceptorCredential;
use epa_core::ap_req::ApReqEnctypes;
use epa_core::decide::{BindingObservation, ClientServiceName, Mechanism, Mechanisms};
use epa_core::enctype::WeakEnctypes;
use epa_core::spn::ServiceNameCollection;
use epa_core::spnego;
use libgssapi::error::MajorFlags;
use std::sync::Arc;

pub use credential::RELOAD_INTERVAL;

/// The `libgssapi` crate this backend is built on, for callers that need a GSSAPI initiator
/// (tests, load generators) without depending on it separately.
pub use libgssapi;

/// `GSS_C_CHANNEL_BOUND_FLAG` (MIT krb5 ≥ 1.19, `gssapi_ext.h`): libgssapi has no constant.
const GSS_C_CHANNEL_BOUND_FLAG: u32 = 0x800;

/// What to do when gss-ntlmssp completed an NTLM exchange whose AUTHENTICATE message this
/// backend cannot read (not NTLMv2, AV pairs it cannot parse): its target name and channel
/// binding are then unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UninspectableNtlm {
    /// Refuse the login (401). The default: an unknown target name must not pass as "the client
    /// named none", which `when-supported` accepts.
    #[default]
    Refuse,
    /// Report the binding as `NotChecked` (which `always` refuses) and the service name as
    /// missing (which `when-supported` accepts): what .NET does for a client without Extended
    /// Protection. Opt-in, for NTLMv1 clients behind gss-ntlmssp.
    ReportNotChecked,
}

/// A GSSAPI acceptor shared by all connections. Its credential is MIT's default acceptor
/// credential — the keytab named by `KRB5_KTNAME` (and gss-ntlmssp's `NTLM_USER_FILE`) —
/// acquired once (see the module documentation). Cloning shares the credential.
#[derive(Debug, Clone)]
pub struct GssapiAcceptor {
    credential: Arc<AcceptorCredential>,
    ticket_targets: Option<Arc<ServiceNameCollection>>,
    uninspectable_ntlm: UninspectableNtlm,
    pac_groups: bool,
    weak_enctypes: WeakEnctypes,
}

impl Default for GssapiAcceptor {
    fn default() -> Self {
        Self::new()
    }
}

impl GssapiAcceptor {
    /// The default acceptor credential.
    pub fn new() -> Self {
        Self {
            credential: Arc::new(AcceptorCredential::new()),
            ticket_targets: None,
            uninspectable_ntlm: UninspectableNtlm::default(),
            pac_groups: true,
            weak_enctypes: WeakEnctypes::default(),
        }
    }

    /// What to do with a Kerberos ticket whose session key is RC4 or DES (default: accept it
    /// and log and count it as a would-be refusal, `weak-enctype`). Windows is moving AD to
    /// AES-only defaults (CVE-2026-20833); `Refuse` answers such a ticket with 401.
    pub fn weak_enctypes(mut self, choice: WeakEnctypes) -> Self {
        self.weak_enctypes = choice;
        self
    }

    /// Opt-in: refuse a Kerberos ticket whose service principal (without realm) is not one of
    /// `names` (e.g. the policy's acceptable service names). MIT accepts a ticket for *any*
    /// principal in the keytab (`host/`, `cifs/`), and Windows does the same (the machine
    /// account holds every SPN of the host); this check is this backend's addition, off by
    /// default for Windows parity. `epa lint` reports keytabs with non-HTTP principals.
    pub fn check_ticket_target(mut self, names: ServiceNameCollection) -> Self {
        self.ticket_targets = Some(Arc::new(names));
        self
    }

    /// What to do with an NTLM AUTHENTICATE this backend cannot inspect (default: refuse).
    pub fn uninspectable_ntlm(mut self, choice: UninspectableNtlm) -> Self {
        self.uninspectable_ntlm = choice;
        self
    }

    /// Whether a Kerberos login's account SID and groups come from the ticket's PAC (default:
    /// on). MIT hands out the PAC's logon information only when its server checksum verified
    /// with the service key (the `authenticated` flag of `gss_get_name_attribute`); the groups
    /// there are the transitive set the domain controller computed, so nested groups work
    /// without winbind. A ticket without a verified PAC (an MIT KDC, a PAC this backend cannot
    /// read) reports no groups, as before. Off: one MIT call less per Kerberos login.
    pub fn pac_groups(mut self, on: bool) -> Self {
        self.pac_groups = on;
        self
    }

    /// Acquires the acceptor credential now, so a server fails at start (a missing or
    /// unreadable keytab) rather than on its first client.
    pub fn check(&self) -> Result<(), AuthError> {
        self.credential.get().map(|_| ()).map_err(|e| {
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

    /// MIT reads keytabs and its replay cache inside `gss_accept_sec_context`: each leg runs on
    /// a blocking-task thread, never on an async worker.
    fn blocking(&self) -> bool {
        true
    }

    fn new_context(&self) -> Box<dyn SecurityContext> {
        self.context(false)
    }

    fn new_context_restricted(
        &self,
        _peer: std::net::IpAddr,
        mechanisms: Mechanisms,
    ) -> Box<dyn SecurityContext> {
        self.context(mechanisms == Mechanisms::KERBEROS)
    }
}

impl GssapiAcceptor {
    /// A context on the shared credential (`kerberos_only`: its SPNEGO-restricted twin).
    fn context(&self, kerberos_only: bool) -> Box<dyn SecurityContext> {
        // No credential (keytab gone since start): MIT then tries its default and reports why
        // it cannot accept.
        let acceptor = self.credential.get().ok();
        let cred = acceptor.as_ref().map(|a| match &a.kerberos_only {
            Some(k) if kerberos_only => k.clone(),
            _ => a.cred.clone(),
        });
        Box::new(GssapiContext {
            ctx: ffi::Context::new(),
            only_principal: acceptor.as_ref().and_then(|a| a.only_principal.clone()),
            cred,
            state: State::Open,
            ticket_targets: self.ticket_targets.clone(),
            uninspectable_ntlm: self.uninspectable_ntlm,
            pac_groups: self.pac_groups,
            weak_enctypes: self.weak_enctypes,
            ap_req: None,
            announced_domain: None,
        })
    }
}

/// One connection's GSSAPI context. `Send`: its [`SecurityContext::step`] blocks and is meant
/// to run on a blocking thread.
pub struct GssapiContext {
    // Declared before `cred`: the context is deleted before its credential is released.
    ctx: ffi::Context,
    cred: Option<Arc<ffi::Credential>>,
    /// The keytab's only principal: the target of every ticket MIT can accept with it.
    only_principal: Option<Arc<str>>,
    state: State,
    ticket_targets: Option<Arc<ServiceNameCollection>>,
    uninspectable_ntlm: UninspectableNtlm,
    pac_groups: bool,
    weak_enctypes: WeakEnctypes,
    /// The encryption types of the AP-REQ this exchange carried (read from the client's token;
    /// MIT reports neither).
    ap_req: Option<ApReqEnctypes>,
    /// gss-ntlmssp: the NetBIOS domain this server's CHALLENGE announced, the domain of an
    /// account the client named without one (as Windows reads `alice` as `DOMAIN\alice`).
    announced_domain: Option<String>,
}

/// The NetBIOS domain in this server's own NTLM CHALLENGE (raw, or inside a SPNEGO
/// response), if the token is one.
fn announced_domain(token: &[u8]) -> Option<String> {
    let challenge = spnego::classify(token).ok()?.ntlm_message()?;
    crate::ntlm::wire::challenge_domain(challenge)
        .ok()
        .flatten()
        .filter(|d| !d.is_empty())
}

/// Where the exchange is: MIT must not be handed a context after it failed or completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Done,
}

const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<GssapiContext>();
};

/// The routine-error field of a GSS major status (RFC 2744 §3.9.1): the codes are numbers in
/// bits 16–23, not flags, so they are compared, not tested bit by bit.
fn routine_error(major: MajorFlags) -> u32 {
    major.bits() & 0x00ff_0000
}

fn gss_failure(what: &str) -> impl Fn(libgssapi::error::Error) -> AuthError + '_ {
    move |e| AuthError::LogonDenied(format!("GSSAPI {what}: {e}"))
}

impl SecurityContext for GssapiContext {
    /// One leg. Blocks (MIT GSSAPI: keytab, replay cache).
    fn step(
        &mut self,
        token: &[u8],
        expected: Option<&ExpectedBindings>,
    ) -> Result<Step, AuthError> {
        if self.state == State::Done {
            return Err(AuthError::InvalidToken(
                "GSSAPI: this exchange has already ended".into(),
            ));
        }
        if self.ap_req.is_none() {
            self.ap_req = epa_core::ap_req::enctypes(token);
        }
        // SPNEGO is read strictly before GSSAPI sees it: what MIT accepts, we can read.
        let ntlm_message = spnego::classify(token)
            .map_err(|e| AuthError::InvalidToken(format!("SPNEGO: {e}")))?
            .ntlm_message();
        // gss-ntlmssp reports neither the binding it saw nor the target name, and refuses a
        // mismatching binding as a defective token; the AUTHENTICATE says both, and is read
        // here (trusted only after gss-ntlmssp has verified it; on failure it only names the
        // reason of a refusal).
        let ntlm = ntlm_message.and_then(|m| crate::ntlm::inspect_authenticate(m, expected));
        let app_data = expected.map(|e| e.gss().application_data.as_slice());
        let accepted = self.ctx.accept(self.cred.as_deref(), token, app_data);
        let (response_token, source, mechanism, flags) = match accepted {
            Ok(ffi::Accepted::Continue(tok)) => {
                if self.announced_domain.is_none() {
                    self.announced_domain = announced_domain(&tok);
                }
                return if tok.is_empty() {
                    self.state = State::Done;
                    Err(AuthError::InvalidToken(
                        "GSSAPI gave neither a token nor a context".into(),
                    ))
                } else {
                    Ok(Step::Continue(tok))
                };
            }
            Ok(ffi::Accepted::Complete {
                token,
                source,
                mechanism,
                flags,
            }) => {
                self.state = State::Done;
                (token, source, mechanism, flags)
            }
            Err(e) => {
                self.state = State::Done;
                return Err(self.refusal(e, expected, ntlm));
            }
        };
        // Only what the observation needs, each name displayed once (every MIT name call
        // builds a krb5 context): the mechanism, flags and source name came with the accept.
        let completion = match mechanism {
            Mechanism::Ntlm => self.ntlm_completion(&source, ntlm)?,
            Mechanism::Kerberos | Mechanism::Other => {
                self.gss_completion(&source, mechanism, flags, expected)?
            }
        };
        Ok(Step::Complete(Completion {
            response_token,
            ..completion
        }))
    }
}

impl GssapiContext {
    /// The error for a failed accept, mapped as the decision needs it.
    fn refusal(
        &self,
        e: libgssapi::error::Error,
        expected: Option<&ExpectedBindings>,
        ntlm: Option<(BindingObservation, ClientServiceName)>,
    ) -> AuthError {
        match routine_error(e.major) {
            r if r == MajorFlags::GSS_S_BAD_BINDINGS.bits() => AuthError::BadBindings {
                mechanism: self.ctx.mechanism(),
                observation: BindingObservation::Mismatch,
            },
            _ if expected.is_some()
                && let Some((
                    observation @ (BindingObservation::Mismatch | BindingObservation::Unbound),
                    _,
                )) = ntlm =>
            {
                AuthError::BadBindings {
                    mechanism: Mechanism::Ntlm,
                    observation,
                }
            }
            r if r == MajorFlags::GSS_S_DEFECTIVE_TOKEN.bits() => {
                AuthError::InvalidToken(format!("GSSAPI: {e}"))
            }
            _ => AuthError::LogonDenied(format!("GSSAPI: {e}")),
        }
    }

    /// NTLM: the binding and target name from the AUTHENTICATE gss-ntlmssp just verified
    /// (NTProofStr covers the AV pairs); only the source name is asked of GSSAPI.
    fn ntlm_completion(
        &self,
        source: &ffi::Name,
        ntlm: Option<(BindingObservation, ClientServiceName)>,
    ) -> Result<Completion, AuthError> {
        let (channel_binding, client_spn) = match ntlm {
            Some(seen) => seen,
            None => match self.uninspectable_ntlm {
                UninspectableNtlm::Refuse => {
                    return Err(AuthError::LogonDenied(
                        "NTLM: gss-ntlmssp accepted an AUTHENTICATE this backend cannot read (not NTLMv2, or unreadable AV pairs): its target name and channel binding are unknown".into(),
                    ));
                }
                UninspectableNtlm::ReportNotChecked => {
                    (BindingObservation::NotChecked, ClientServiceName::Missing)
                }
            },
        };
        // With a binding expected, gss-ntlmssp refused a mismatch already; without one, the AV
        // pairs say what the client sent (as the embedded backend reports it), which the
        // TrustedProxy rules need (an all-zero binding is refused there).
        let source = source.display().map_err(name_failure("source name"))?;
        let mut identity = names::identity_of(&source, Mechanism::Ntlm);
        if identity.domain.is_empty()
            && let Some(domain) = &self.announced_domain
        {
            identity = crate::authenticator::Identity::ntlm(domain, &identity.user);
        }
        Ok(Completion {
            identity,
            mechanism: Mechanism::Ntlm,
            channel_binding,
            client_spn,
            supports_extended_protection: true,
            response_token: None,
            user_sid: None,
            groups: Vec::new(),
            group_names: Vec::new(),
            session_enctype: None,
        })
    }

    /// Kerberos (and other mechanisms): the flags from the accept; the ticket's target name,
    /// asked for alone, for Kerberos only: never for NTLM (gss-ntlmssp 1.2.0 crashes,
    /// strdup(NULL), when an acceptor context is asked for its target name).
    fn gss_completion(
        &self,
        source: &ffi::Name,
        mechanism: Mechanism,
        flags: u32,
        expected: Option<&ExpectedBindings>,
    ) -> Result<Completion, AuthError> {
        let channel_binding = match expected {
            None => BindingObservation::NotChecked,
            Some(_) if flags & GSS_C_CHANNEL_BOUND_FLAG != 0 => BindingObservation::Match,
            Some(_) => BindingObservation::Absent,
        };
        // For Kerberos the ticket names the service: report it as the client-specified SPN
        // (the decision does not judge it for Kerberos; it is reported to the application and
        // the upstream, and `check_ticket_target` compares it).
        let client_spn = if mechanism == Mechanism::Kerberos {
            ClientServiceName::Value(self.ticket_target()?)
        } else {
            ClientServiceName::Missing
        };
        let session_enctype = match mechanism {
            Mechanism::Kerberos => enctypes::checked(self.ap_req, self.weak_enctypes)?,
            _ => None,
        };
        let display = source.display().map_err(name_failure("source name"))?;
        let mut identity = names::identity_of(&display, mechanism);
        let (user_sid, groups) = match mechanism {
            Mechanism::Kerberos if self.pac_groups => match pac::logon_info(source, &identity) {
                Some(info) => {
                    // One name per account, whatever the mechanism: the PAC's NetBIOS domain
                    // and account name, as Windows reports a Kerberos logon (`EPA\erin`, the
                    // form NTLM gives); the principal (`erin@EPA.TEST`) stays as it is.
                    identity = names::canonical(identity, &info.domain, &info.user);
                    (Some(info.user_sid), info.groups)
                }
                None => (None, Vec::new()),
            },
            _ => (None, Vec::new()),
        };
        Ok(Completion {
            identity,
            mechanism,
            channel_binding,
            client_spn,
            supports_extended_protection: true,
            response_token: None,
            user_sid,
            groups,
            group_names: Vec::new(),
            session_enctype,
        })
    }
}

impl GssapiContext {
    /// The service principal the Kerberos ticket was for, as MIT displays it; refused here when
    /// `check_ticket_target` does not accept it.
    fn ticket_target(&self) -> Result<String, AuthError> {
        // A keytab with one principal: that is the target of every ticket it decrypts (no MIT
        // call). check_ticket_target asks MIT, which read the keytab for this very ticket.
        if self.ticket_targets.is_none()
            && let Some(only) = &self.only_principal
        {
            return Ok(only.to_string());
        }
        let target = self
            .ctx
            .target_name()
            .map_err(gss_failure("target name"))?
            .display()
            .map_err(name_failure("target name"))?;
        let target = target.trim_end_matches('\0');
        if let Some(names) = &self.ticket_targets
            && !names::ticket_target_acceptable(target, names)
        {
            return Err(AuthError::LogonDenied(format!(
                "Kerberos ticket for {}, which is not an acceptable service name (check_ticket_target)",
                target.escape_debug()
            )));
        }
        Ok(target.to_owned())
    }
}

fn name_failure(what: &str) -> impl Fn(ffi::NameError) -> AuthError + '_ {
    move |e| AuthError::LogonDenied(format!("GSSAPI {what}: {e}"))
}
