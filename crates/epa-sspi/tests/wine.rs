//! Full NTLM exchanges through the SSPI backend, with an SSPI initiator in the same process
//! (`InitializeSecurityContextW`, package `NTLM`, explicit credentials). Built for Windows;
//! `./scripts/test` runs it under Wine (issue #20 item 17), where it checks the plumbing only:
//! the legs, their statuses, the tokens, that every context is deleted, and that a provider that
//! reports no binding result is never taken for one that verified the binding. It asserts
//! nothing about what Windows does with a binding.
//!
//! The account: `EPA_SSPI_TEST_DOMAIN\EPA_SSPI_TEST_USER` with `EPA_SSPI_TEST_PASSWORD`
//! (defaults `TESTDOM\alice`, `Passw0rd!`), which the acceptor's NTLM provider must know (under
//! Wine: the gss-ntlmssp user file named by `NTLM_USER_FILE`; see docs/interop.md).
#![cfg(windows)]
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used)]

use epa_core::ChannelBinding;
use epa_core::authenticator::{AuthError, Authenticator, ExpectedBindings, Step};
use epa_core::decide::{
    BindingObservation, Decision, Profile, RequestFacts, ServerPolicy, Transport, decide,
};
use epa_core::policy::{ExtendedProtectionPolicy, PolicyEnforcement, ProtectionScenario};
use epa_core::spn::ServiceNameCollection;
use epa_sspi::{SspiAcceptor, open_contexts, open_credentials};
use std::ptr;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;
use windows_sys::Win32::Foundation::{SEC_E_OK, SEC_I_CONTINUE_NEEDED};
use windows_sys::Win32::Security::Authentication::Identity::{
    AcquireCredentialsHandleW, DeleteSecurityContext, FreeCredentialsHandle, ISC_REQ_CONNECTION,
    InitializeSecurityContextW, SECBUFFER_CHANNEL_BINDINGS, SECBUFFER_TOKEN, SECBUFFER_VERSION,
    SECPKG_CRED_OUTBOUND, SECURITY_NATIVE_DREP, SecBuffer, SecBufferDesc,
};
use windows_sys::Win32::Security::Credentials::SecHandle;
use windows_sys::Win32::System::Rpc::{SEC_WINNT_AUTH_IDENTITY_UNICODE, SEC_WINNT_AUTH_IDENTITY_W};

/// Every exchange gets this long (Wine forks helpers; a hang must fail, not block CI).
const DEADLINE: Duration = Duration::from_secs(60);

/// Every SSPI handle the backend holds is released: contexts and credentials.
fn assert_released(what: &str) {
    assert_eq!(open_contexts(), 0, "{what}: a security context leaked");
    assert_eq!(open_credentials(), 0, "{what}: a credential handle leaked");
}

/// `open_contexts` is process-wide: the tests that count run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

struct Account {
    domain: String,
    user: String,
    password: String,
}

fn account() -> Account {
    Account {
        domain: env("EPA_SSPI_TEST_DOMAIN", "TESTDOM"),
        user: env("EPA_SSPI_TEST_USER", "alice"),
        password: env("EPA_SSPI_TEST_PASSWORD", "Passw0rd!"),
    }
}

/// An SSPI NTLM initiator: one credential and one context, freed on drop.
struct Client {
    credential: SecHandle,
    context: Option<SecHandle>,
    target: Vec<u16>,
    binding: Option<Vec<u8>>,
}

impl Client {
    fn new(account: &Account, password: &str, binding: Option<&ExpectedBindings>) -> Self {
        let mut user = wide(&account.user);
        let mut domain = wide(&account.domain);
        let mut pass = wide(password);
        let identity = SEC_WINNT_AUTH_IDENTITY_W {
            User: user.as_mut_ptr(),
            UserLength: (user.len() - 1) as u32,
            Domain: domain.as_mut_ptr(),
            DomainLength: (domain.len() - 1) as u32,
            Password: pass.as_mut_ptr(),
            PasswordLength: (pass.len() - 1) as u32,
            Flags: SEC_WINNT_AUTH_IDENTITY_UNICODE,
        };
        let package = wide("NTLM");
        let mut credential = SecHandle {
            dwLower: 0,
            dwUpper: 0,
        };
        let mut expiry = 0i64;
        // SAFETY: every pointer is valid for the call; the identity's strings outlive it.
        let status = unsafe {
            AcquireCredentialsHandleW(
                ptr::null(),
                package.as_ptr(),
                SECPKG_CRED_OUTBOUND,
                ptr::null(),
                (&identity as *const SEC_WINNT_AUTH_IDENTITY_W).cast(),
                None,
                ptr::null(),
                &mut credential,
                &mut expiry,
            )
        };
        assert_eq!(status, SEC_E_OK, "client AcquireCredentialsHandleW(NTLM)");
        Self {
            credential,
            context: None,
            target: wide("HTTP/localhost"),
            binding: binding.map(|b| b.gss().to_sec_channel_bindings().unwrap()),
        }
    }

    /// One initiator leg: the token to send, and whether the initiator expects another leg.
    fn step(&mut self, input: Option<&[u8]>) -> (Vec<u8>, bool) {
        let mut input_copy = input.map(<[u8]>::to_vec).unwrap_or_default();
        let mut inputs = Vec::new();
        if input.is_some() {
            inputs.push(SecBuffer {
                cbBuffer: input_copy.len() as u32,
                BufferType: SECBUFFER_TOKEN,
                pvBuffer: input_copy.as_mut_ptr().cast(),
            });
        }
        // The binding goes in with the challenge only: Wine's initiator refuses a first leg
        // whose only input buffer is the binding (SEC_E_INVALID_TOKEN).
        let mut binding = self.binding.clone().unwrap_or_default();
        if input.is_some() && !binding.is_empty() {
            inputs.push(SecBuffer {
                cbBuffer: binding.len() as u32,
                BufferType: SECBUFFER_CHANNEL_BINDINGS,
                pvBuffer: binding.as_mut_ptr().cast(),
            });
        }
        let input_desc = SecBufferDesc {
            ulVersion: SECBUFFER_VERSION,
            cBuffers: inputs.len() as u32,
            pBuffers: inputs.as_mut_ptr(),
        };
        let mut out = vec![0u8; 64 * 1024];
        let mut outputs = [SecBuffer {
            cbBuffer: out.len() as u32,
            BufferType: SECBUFFER_TOKEN,
            pvBuffer: out.as_mut_ptr().cast(),
        }];
        let mut output = SecBufferDesc {
            ulVersion: SECBUFFER_VERSION,
            cBuffers: 1,
            pBuffers: outputs.as_mut_ptr(),
        };
        let mut new_context = SecHandle {
            dwLower: 0,
            dwUpper: 0,
        };
        let (mut attrs, mut expiry) = (0u32, 0i64);
        let previous = self
            .context
            .as_ref()
            .map_or(ptr::null(), |h| h as *const SecHandle);
        // SAFETY: every buffer outlives the call; the output buffer holds `cbBuffer` bytes.
        let status = unsafe {
            InitializeSecurityContextW(
                &self.credential,
                previous,
                self.target.as_ptr(),
                ISC_REQ_CONNECTION,
                0,
                SECURITY_NATIVE_DREP,
                if inputs.is_empty() {
                    ptr::null()
                } else {
                    &input_desc
                },
                0,
                &mut new_context,
                &mut output,
                &mut attrs,
                &mut expiry,
            )
        };
        assert!(
            status == SEC_E_OK || status == SEC_I_CONTINUE_NEEDED,
            "client InitializeSecurityContextW: 0x{:08x}",
            status as u32
        );
        if self.context.is_none() {
            self.context = Some(new_context);
        }
        out.truncate(outputs[0].cbBuffer as usize);
        (out, status == SEC_I_CONTINUE_NEEDED)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(c) = &self.context {
            // SAFETY: created by InitializeSecurityContextW, deleted once.
            unsafe { DeleteSecurityContext(c) };
        }
        // SAFETY: acquired in `new`, freed once.
        unsafe { FreeCredentialsHandle(&self.credential) };
    }
}

fn policy(enforcement: PolicyEnforcement, scenario: ProtectionScenario) -> ServerPolicy {
    let policy = if enforcement == PolicyEnforcement::Never {
        ExtendedProtectionPolicy::never()
    } else {
        ExtendedProtectionPolicy::new(enforcement, scenario, None).unwrap()
    };
    ServerPolicy::new(policy, &ServiceNameCollection::default(), Profile::Iis).unwrap()
}

fn binding(byte: u8) -> ExpectedBindings {
    ExpectedBindings::new(ChannelBinding::tls_server_end_point_from_hash(&[byte; 32]))
}

/// What one exchange did: the server's leg results (`Continue` token lengths, then the end).
#[derive(Debug)]
struct Exchange {
    challenge_len: usize,
    end: Result<epa_core::authenticator::Completion, AuthError>,
}

/// NEGOTIATE → CHALLENGE → AUTHENTICATE → complete, with a deadline.
fn exchange(
    server: ServerPolicy,
    client_binding: Option<ExpectedBindings>,
    server_binding: Option<ExpectedBindings>,
    password: Option<String>,
) -> Exchange {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let account = account();
        let password = password.unwrap_or_else(|| account.password.clone());
        let acceptor = SspiAcceptor::new(&server).expect("SspiAcceptor::new");
        let mut ctx = acceptor.new_context();
        let mut client = Client::new(&account, &password, client_binding.as_ref());
        let (negotiate, more) = client.step(None);
        assert!(more, "the initiator expects a challenge");
        assert!(
            negotiate.starts_with(b"NTLMSSP\0"),
            "NEGOTIATE: {negotiate:02x?}"
        );
        let challenge = match ctx.step(&negotiate, server_binding.as_ref()) {
            Ok(Step::Continue(t)) => t,
            other => panic!("leg 1: expected a challenge, got {other:?}"),
        };
        assert!(
            challenge.starts_with(b"NTLMSSP\0"),
            "CHALLENGE: {challenge:02x?}"
        );
        let (authenticate, _) = client.step(Some(&challenge));
        assert!(!authenticate.is_empty(), "AUTHENTICATE is empty");
        let end = match ctx.step(&authenticate, server_binding.as_ref()) {
            Ok(Step::Complete(c)) => Ok(c),
            Ok(Step::Continue(t)) => panic!("leg 2: a third leg was asked for ({} bytes)", t.len()),
            Err(e) => Err(e),
        };
        drop(ctx);
        drop(acceptor);
        drop(client);
        let _ = tx.send(Exchange {
            challenge_len: challenge.len(),
            end,
        });
    });
    rx.recv_timeout(DEADLINE)
        .expect("the exchange finished within the deadline (a panic in it is reported above)")
}

/// The refusal of a context whose user SSPI cannot name (Wine 8: `SECPKG_ATTR_NAMES` is a
/// stub answering `SEC_E_UNSUPPORTED_FUNCTION`): the credentials were verified, the login is
/// refused all the same.
fn unnamed(e: &AuthError) -> bool {
    matches!(e, AuthError::LogonDenied(m) if m.contains("SECPKG_ATTR_NAMES"))
}

fn facts(completion: &epa_core::authenticator::Completion) -> RequestFacts {
    RequestFacts {
        transport: Transport::Https,
        mechanism: completion.mechanism,
        server_supports_ep: completion.supports_extended_protection,
        channel_binding: completion.channel_binding,
        client_spn: completion.client_spn.clone(),
    }
}

/// Every policy: two legs, a challenge, a named user, every context deleted.
#[test]
fn ntlm_exchanges_complete_and_free_their_contexts() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let account = account();
    for (enforcement, scenario) in [
        (
            PolicyEnforcement::Never,
            ProtectionScenario::TransportSelected,
        ),
        (
            PolicyEnforcement::WhenSupported,
            ProtectionScenario::TransportSelected,
        ),
        (
            PolicyEnforcement::Always,
            ProtectionScenario::TransportSelected,
        ),
        (
            PolicyEnforcement::WhenSupported,
            ProtectionScenario::TrustedProxy,
        ),
        (PolicyEnforcement::Always, ProtectionScenario::TrustedProxy),
    ] {
        let expected = (enforcement != PolicyEnforcement::Never
            && scenario == ProtectionScenario::TransportSelected)
            .then(|| binding(1));
        let run = exchange(
            policy(enforcement, scenario),
            expected.clone(),
            expected,
            None,
        );
        assert!(run.challenge_len > 32, "{enforcement:?}: short challenge");
        match run.end {
            Ok(c) => {
                assert!(
                    c.identity.user.eq_ignore_ascii_case(&account.user),
                    "{enforcement:?} {scenario:?}: user {:?}",
                    c.identity
                );
                assert!(!c.identity.principal.is_empty());
                eprintln!(
                    "{enforcement:?} {scenario:?}: {} via {:?}, binding {:?}, spn {:?}",
                    c.identity, c.mechanism, c.channel_binding, c.client_spn
                );
            }
            // A provider that checks bindings may refuse one (Windows).
            Err(AuthError::BadBindings { .. }) => {}
            // The credentials passed, but the provider cannot say whose they are.
            Err(e) if unnamed(&e) => {
                eprintln!("{enforcement:?} {scenario:?}: refused: {e}");
            }
            Err(e) => panic!("{enforcement:?} {scenario:?}: {e}"),
        }
        assert_released(&format!("{enforcement:?} {scenario:?}"));
    }
}

/// A wrong password fails on the second leg, and the context is deleted all the same.
#[test]
fn a_wrong_password_is_refused_and_freed() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let run = exchange(
        policy(
            PolicyEnforcement::Always,
            ProtectionScenario::TransportSelected,
        ),
        None,
        Some(binding(1)),
        Some("not the password".into()),
    );
    match run.end {
        // The provider's own refusal of the credentials, on the second leg — not the refusal
        // of an unnamed context that follows verified credentials.
        Err(e @ AuthError::LogonDenied(_)) => assert!(!unnamed(&e), "{e}"),
        Err(AuthError::BadBindings { .. }) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_released("wrong password");
}

/// The reviewer's run (issue #20 item 17): under `always`, a mismatching and an absent
/// binding are never accepted — whether the provider refuses them itself (Windows:
/// `SEC_E_BAD_BINDINGS`) or reports nothing (Wine: `NotChecked`, which the decision refuses).
/// A binding is reported as a match only where the provider filled the result buffer.
#[test]
fn under_always_a_mismatching_or_absent_binding_is_never_accepted() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = policy(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
    );
    for (name, client) in [("mismatching", Some(binding(2))), ("absent", None)] {
        let run = exchange(server.clone(), client, Some(binding(1)), None);
        match run.end {
            Err(AuthError::BadBindings { observation, .. }) => {
                assert_ne!(observation, BindingObservation::Match, "{name}");
            }
            Ok(c) => {
                assert_ne!(c.channel_binding, BindingObservation::Match, "{name}");
                let decision = decide(&server, &facts(&c));
                assert!(
                    matches!(decision, Decision::Reject { .. }),
                    "{name}: {decision:?}"
                );
            }
            Err(e) if unnamed(&e) => {}
            Err(e) => panic!("{name}: {e}"),
        }
    }
    assert_released("always");
}
