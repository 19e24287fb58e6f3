//! The embedded NTLMv2 acceptor (MS-NLMP), the default backend: no system service needed.
//!
//! What it checks, in order, on the AUTHENTICATE message:
//! * NTLMv2 only: an empty NtChallengeResponse (LM-only or anonymous) and a 24-byte one (NTLMv1)
//!   are refused (MS-NLMP §3.3.1 is never used);
//! * the client's timestamp lies within [`NtlmAcceptor::max_clock_skew`] of ours;
//! * no failure-throttling key refuses the attempt: the client's address, the address and
//!   account, or the account for unfamiliar (or familiar) addresses — smart lockout as AD FS
//!   and Entra do it ([`ThrottleSettings`]; refused without looking at the password and without
//!   asking a domain controller);
//! * `NTProofStr` against the user file's NT hash (constant-time; an unknown user is checked
//!   against a dummy hash, so it costs the same work as a wrong password);
//! * the MIC over the three messages when the client says it sent one (`MsvAvFlags` 0x2);
//! * then it reports, without judging, `MsvAvChannelBindings` (match / mismatch / absent /
//!   all-zero) and `MsvAvTargetName` (treated as absent when `MsvAvFlags` 0x4 says the SPN came
//!   from an untrusted source, as MS-NLMP §3.2.5.1.2 requires).
//!
//! The `sspi` crate's acceptor was not used: it cannot report an absent binding and verifies the
//! password only in `complete_auth_token` (see the reference file).
//!
//! Tokens are raw NTLMSSP, under the `NTLM` scheme or inside `Negotiate` (as Windows accepts).
//! SPNEGO-wrapped NTLM is refused as unsupported by this backend.

mod casing;
#[cfg(any(test, feature = "test-util"))]
pub mod client;
mod crypto;
mod familiar;
mod remote;
mod throttle;
pub mod users;
pub mod verifier;
pub(crate) mod wire;

use crate::authenticator::{
    AuthError, Authenticator, Completion, ExpectedBindings, Identity, Scheme, SecurityContext, Step,
};
use epa_core::decide::{BindingObservation, ClientServiceName, Mechanism};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use thiserror::Error;
use throttle::{Attempt, Throttle};
pub use throttle::{ThrottleRule, ThrottleSettings};
pub use users::{UserDb, UserFileError, UserFileOptions};
pub use verifier::{
    AccountRestriction, CredentialVerifier, DomainLookup, LogonError, NetworkLogon, VerifiedLogon,
};
use wire::{av, av_flags, flags};

/// The hash an unknown user's response is checked against, so that it costs the same work as a
/// wrong password. Never accepted, whatever the response.
const DUMMY_NT_HASH: [u8; 16] = [0x5a; 16];

/// Why an NTLM message was refused (reported to the layer as an [`AuthError`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NtlmError {
    /// Structurally invalid.
    #[error("malformed NTLM message: {0}")]
    Malformed(&'static str),
    /// A message of the wrong type for this point of the exchange.
    #[error("unexpected NTLM message: expected type {expected}")]
    UnexpectedMessage {
        /// The type expected.
        expected: u32,
    },
    /// LM-only or anonymous.
    #[error("LM and anonymous authentication are refused")]
    LmOrAnonymous,
    /// NTLMv1.
    #[error("NTLMv1 is refused")]
    Ntlmv1,
    /// Timestamp outside the window.
    #[error("NTLMv2 timestamp is {skew_secs} s away from the server clock (limit {limit_secs} s)")]
    Timestamp {
        /// Distance in seconds.
        skew_secs: u64,
        /// The limit.
        limit_secs: u64,
    },
    /// Unknown user or wrong password (not distinguished, on purpose).
    #[error("unknown user or wrong password for {domain}\\{user}")]
    BadCredentials {
        /// Domain as sent.
        domain: String,
        /// User as sent.
        user: String,
    },
    /// The MIC does not verify: a message was altered.
    #[error("MIC mismatch: the NTLM messages were altered")]
    MicMismatch,
    /// A failure-throttling key (the client's address, the address and account, or the
    /// account) is cooling down after repeated failed logons; the password was not checked.
    #[error("throttled ({}): too many failed logons from this address or for this account", .rule.label())]
    Throttled {
        /// The rule that refused.
        rule: ThrottleRule,
    },
    /// The domain the client typed is neither the verifier's nor trusted by it.
    #[error("logon refused for {domain}\\{user}: unknown domain")]
    UnknownDomain {
        /// Domain as sent.
        domain: String,
        /// User as sent.
        user: String,
    },
    /// The verifier (a domain controller) says the account may not log on now.
    #[error("logon refused for {domain}\\{user}: {}", .restriction.code())]
    AccountRestricted {
        /// Domain as sent.
        domain: String,
        /// User as sent.
        user: String,
        /// Why.
        restriction: AccountRestriction,
    },
    /// The verifier refused the logon for a reason it named.
    #[error("logon refused for {domain}\\{user}: {reason}")]
    Refused {
        /// Domain as sent.
        domain: String,
        /// User as sent.
        user: String,
        /// The verifier's reason.
        reason: String,
    },
    /// The verifier could not be reached or did not answer in time: the credentials were not
    /// judged (503, never 401, never an accept).
    #[error("credential verifier unavailable: {reason}")]
    VerifierUnavailable {
        /// What failed.
        reason: String,
        /// `Retry-After` seconds.
        retry_after_secs: u32,
    },
}

impl From<NtlmError> for AuthError {
    fn from(e: NtlmError) -> Self {
        match e {
            NtlmError::Malformed(_) | NtlmError::UnexpectedMessage { .. } => {
                AuthError::InvalidToken(e.to_string())
            }
            NtlmError::VerifierUnavailable {
                reason,
                retry_after_secs,
            } => AuthError::Unavailable {
                reason,
                retry_after_secs,
            },
            _ => AuthError::Refused {
                code: e.code(),
                message: e.to_string(),
            },
        }
    }
}

impl NtlmError {
    /// The stable reason code of a refusal (logged as `reason`, the `epa_decisions_total`
    /// label).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) | Self::UnexpectedMessage { .. } => "invalid-token",
            Self::LmOrAnonymous => "lm-or-anonymous-refused",
            Self::Ntlmv1 => "ntlmv1-refused",
            Self::Timestamp { .. } => "timestamp-skew",
            Self::BadCredentials { .. } => "bad-credentials",
            Self::MicMismatch => "mic-mismatch",
            Self::Throttled { .. } => "throttled",
            Self::UnknownDomain { .. } => "unknown-domain",
            Self::AccountRestricted { restriction, .. } => restriction.code(),
            Self::Refused { .. } => "logon-refused",
            Self::VerifierUnavailable { .. } => "backend-unavailable",
        }
    }
}

/// The embedded NTLMv2 acceptor's configuration, shared by all connections.
#[derive(Clone)]
pub struct NtlmAcceptor {
    users: Arc<UserDb>,
    verifier: Option<Arc<dyn CredentialVerifier>>,
    netbios_domain: String,
    netbios_computer: String,
    dns_domain: String,
    dns_computer: String,
    max_clock_skew: Duration,
    clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
    monotonic: Arc<dyn Fn() -> Instant + Send + Sync>,
    throttle: Option<Arc<Mutex<Throttle>>>,
    /// Verifier calls under way per client address (folded as the throttle folds it).
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max_in_flight_per_address: usize,
    schemes: [Scheme; 2],
}

impl std::fmt::Debug for NtlmAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtlmAcceptor")
            .field("users", &self.users)
            .field("verifier", &self.verifier.is_some())
            .field("netbios_domain", &self.netbios_domain)
            .field("max_clock_skew", &self.max_clock_skew)
            .field("throttle", &self.throttle.is_some())
            .finish()
    }
}

impl NtlmAcceptor {
    /// An acceptor for `users`, announcing NetBIOS domain `domain` and computer `computer`.
    /// The clock-skew limit defaults to 5 minutes (Kerberos' default skew); failed logons are
    /// throttled with [`ThrottleSettings::default`].
    pub fn new(users: UserDb, domain: &str, computer: &str) -> Self {
        Self {
            users: Arc::new(users),
            verifier: None,
            netbios_domain: casing::upcase(domain),
            netbios_computer: casing::upcase(computer),
            dns_domain: domain.to_lowercase(),
            dns_computer: computer.to_lowercase(),
            max_clock_skew: Duration::from_secs(300),
            clock: Arc::new(SystemTime::now),
            monotonic: Arc::new(Instant::now),
            throttle: Some(Arc::new(Mutex::new(Throttle::new(
                ThrottleSettings::default(),
            )))),
            in_flight: Arc::new(Mutex::new(HashMap::new())),
            max_in_flight_per_address: 4,
            schemes: [Scheme::Negotiate, Scheme::Ntlm],
        }
    }

    /// An acceptor whose NTLMv2 responses are verified by `verifier` (a domain controller, for
    /// example) instead of a user file. Everything else is as [`new`](Self::new): this acceptor
    /// issues the challenge, reads the AV pairs and verifies the MIC with the session key the
    /// verifier returns.
    pub fn with_verifier(verifier: impl CredentialVerifier, domain: &str, computer: &str) -> Self {
        let mut a = Self::new(UserDb::default(), domain, computer);
        a.verifier = Some(Arc::new(verifier));
        a
    }

    /// Sets the DNS domain and computer names the CHALLENGE announces (default: the NetBIOS
    /// names in lower case).
    pub fn dns_names(mut self, domain: &str, computer: &str) -> Self {
        self.dns_domain = domain.to_ascii_lowercase();
        self.dns_computer = computer.to_ascii_lowercase();
        self
    }

    /// Verifier calls one client address may have under way at once (default 4; 0 = no
    /// limit): more are answered 503 at once, so that one client cannot hold every slot of the
    /// verifier's own `max_in_flight` while a domain controller is slow.
    pub fn max_in_flight_per_address(mut self, n: usize) -> Self {
        self.max_in_flight_per_address = n;
        self
    }

    /// Throttles failed logons (smart lockout) with `settings`.
    pub fn throttle(mut self, settings: ThrottleSettings) -> Self {
        self.throttle = Some(Arc::new(Mutex::new(Throttle::new(settings))));
        self
    }

    /// Turns failure throttling off (an explicit choice: a front end must then limit
    /// password guessing).
    pub fn without_throttle(mut self) -> Self {
        self.throttle = None;
        self
    }

    /// Runs `f` on the failure table, if throttling is on (a poisoned lock is still usable: the
    /// table holds no invariant a panic could break).
    fn throttled<R>(&self, f: impl FnOnce(&mut Throttle) -> R) -> Option<R> {
        let table = self.throttle.as_ref()?;
        Some(f(&mut table.lock().unwrap_or_else(PoisonError::into_inner)))
    }

    /// Replaces the monotonic clock the throttle uses (tests).
    pub fn with_monotonic_clock(
        mut self,
        clock: impl Fn() -> Instant + Send + Sync + 'static,
    ) -> Self {
        self.monotonic = Arc::new(clock);
        self
    }

    /// Sets the allowed distance between the client's NTLMv2 timestamp and our clock.
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = skew;
        self
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }
}

impl Authenticator for NtlmAcceptor {
    fn schemes(&self) -> &[Scheme] {
        &self.schemes
    }

    fn blocking(&self) -> bool {
        self.verifier.as_ref().is_some_and(|v| v.blocking())
    }

    fn new_context(&self) -> Box<dyn SecurityContext> {
        Box::new(NtlmContext {
            acceptor: self.clone(),
            peer: None,
            state: State::Initial,
        })
    }

    fn new_context_for(&self, peer: IpAddr) -> Box<dyn SecurityContext> {
        Box::new(NtlmContext {
            acceptor: self.clone(),
            peer: Some(peer),
            state: State::Initial,
        })
    }
}

enum State {
    Initial,
    ChallengeSent {
        negotiate: Vec<u8>,
        challenge: Vec<u8>,
        server_challenge: [u8; 8],
    },
    Done,
}

/// One connection's NTLM exchange.
pub struct NtlmContext {
    acceptor: NtlmAcceptor,
    /// The client's address, when the layer gave it (failures are throttled per address).
    peer: Option<IpAddr>,
    state: State,
}

/// A verified NTLMv2 proof, before the MIC.
struct Logon {
    verified: VerifiedLogon,
    attempt: Attempt,
}

/// Windows FILETIME (100 ns since 1601-01-01) of a system time.
fn filetime(t: SystemTime) -> u64 {
    const EPOCH_DIFF_SECS: u64 = 11_644_473_600;
    let since_unix = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    (since_unix.as_secs() + EPOCH_DIFF_SECS) * 10_000_000
        + u64::from(since_unix.subsec_nanos() / 100)
}

fn random_challenge() -> Result<[u8; 8], AuthError> {
    use ring::rand::SecureRandom as _;
    let mut c = [0u8; 8];
    ring::rand::SystemRandom::new().fill(&mut c).map_err(|_| {
        AuthError::LogonDenied("no system randomness for the NTLM challenge".into())
    })?;
    Ok(c)
}

impl SecurityContext for NtlmContext {
    fn step(
        &mut self,
        _scheme: Scheme,
        token: &[u8],
        expected: Option<&ExpectedBindings>,
    ) -> Result<Step, AuthError> {
        if token.first() == Some(&0x60) || token.first() == Some(&0xa1) {
            return Err(AuthError::Unsupported(
                "SPNEGO-wrapped tokens need the gssapi backend; the embedded backend takes raw NTLMSSP".into(),
            ));
        }
        match std::mem::replace(&mut self.state, State::Done) {
            State::Initial => {
                let client_flags = wire::parse_negotiate(token)?;
                let server_challenge = random_challenge()?;
                let challenge = self.challenge(client_flags, &server_challenge);
                self.state = State::ChallengeSent {
                    negotiate: token.to_vec(),
                    challenge: challenge.clone(),
                    server_challenge,
                };
                Ok(Step::Continue(challenge))
            }
            State::ChallengeSent {
                negotiate,
                challenge,
                server_challenge,
            } => Ok(Step::Complete(self.verify(
                &negotiate,
                &challenge,
                &server_challenge,
                token,
                expected,
            )?)),
            State::Done => Err(NtlmError::UnexpectedMessage { expected: 1 }.into()),
        }
    }
}

impl NtlmContext {
    fn challenge(&self, client_flags: u32, server_challenge: &[u8; 8]) -> Vec<u8> {
        let a = &self.acceptor;
        let mut info = Vec::new();
        wire::push_av(
            &mut info,
            av::NB_DOMAIN_NAME,
            &wire::utf16le(&a.netbios_domain),
        );
        wire::push_av(
            &mut info,
            av::NB_COMPUTER_NAME,
            &wire::utf16le(&a.netbios_computer),
        );
        wire::push_av(
            &mut info,
            av::DNS_DOMAIN_NAME,
            &wire::utf16le(&a.dns_domain),
        );
        wire::push_av(
            &mut info,
            av::DNS_COMPUTER_NAME,
            &wire::utf16le(&a.dns_computer),
        );
        wire::push_av(
            &mut info,
            av::TIMESTAMP,
            &filetime((a.clock)()).to_le_bytes(),
        );
        wire::push_av(&mut info, av::EOL, &[]);
        let echoed = client_flags & (flags::SIGN | flags::SEAL | flags::KEY_EXCH | flags::N56);
        let ours = flags::UNICODE
            | flags::REQUEST_TARGET
            | flags::NTLM
            | flags::ALWAYS_SIGN
            | flags::TARGET_TYPE_DOMAIN
            | flags::EXTENDED_SESSIONSECURITY
            | flags::TARGET_INFO
            | flags::VERSION
            | flags::N128;
        wire::build_challenge(ours | echoed, server_challenge, &a.netbios_domain, &info)
    }

    fn verify(
        &self,
        negotiate: &[u8],
        challenge: &[u8],
        server_challenge: &[u8; 8],
        msg: &[u8],
        expected: Option<&ExpectedBindings>,
    ) -> Result<Completion, NtlmError> {
        let auth = wire::parse_authenticate(msg)?;
        match auth.nt_response.len() {
            0 => return Err(NtlmError::LmOrAnonymous),
            24 => return Err(NtlmError::Ntlmv1),
            n if n < 16 + 28 => return Err(NtlmError::Malformed("NTLMv2 response too short")),
            _ => {}
        }
        let (proof, blob) = auth.nt_response.split_at(16);
        if blob[0] != 1 || blob[1] != 1 {
            return Err(NtlmError::Malformed(
                "NTLMv2 blob has an unknown response version",
            ));
        }
        self.check_timestamp(&blob[8..16])?;
        let pairs = wire::AvPairs(&blob[28..]);

        let logon = match &self.acceptor.verifier {
            None => self.verify_locally(&auth, proof, server_challenge, blob)?,
            Some(v) => self.verify_remotely(&**v, &auth, server_challenge)?,
        };
        let av_flag_bits = match pairs.get(av::FLAGS)? {
            Some(v) => u32::from_le_bytes(
                v.try_into()
                    .map_err(|_| NtlmError::Malformed("MsvAvFlags is not 4 bytes"))?,
            ),
            None => 0,
        };
        if av_flag_bits & av_flags::MIC_PRESENT != 0 {
            let session_base_key = &logon.verified.session_base_key;
            let exported = if auth.flags & flags::KEY_EXCH != 0 {
                let enc: &[u8; 16] = auth.encrypted_session_key.try_into().map_err(|_| {
                    NtlmError::Malformed("EncryptedRandomSessionKey is not 16 bytes")
                })?;
                crypto::rc4(session_base_key, enc)
            } else {
                session_base_key.clone()
            };
            let mic = msg
                .get(wire::MIC_OFFSET..wire::MIC_OFFSET + 16)
                .ok_or(NtlmError::Malformed("MIC announced but message too short"))?;
            let mut zeroed = msg.to_vec();
            zeroed[wire::MIC_OFFSET..wire::MIC_OFFSET + 16].fill(0);
            let computed = crypto::hmac_md5(exported.as_slice(), &[negotiate, challenge, &zeroed]);
            if !crypto::ct_eq16(mic, &computed) {
                return Err(NtlmError::MicMismatch);
            }
        }

        let (channel_binding, client_spn) = observe(&pairs, av_flag_bits, expected)?;
        // Fully verified (NTProofStr and MIC): the address becomes familiar for the account;
        // the address keeps its own count (see `throttle`).
        let now = (self.acceptor.monotonic)();
        self.acceptor.throttled(|t| t.success(&logon.attempt, now));
        let VerifiedLogon {
            domain,
            user,
            user_sid,
            groups,
            ..
        } = logon.verified;
        Ok(Completion {
            identity: Identity::ntlm(&domain, &user),
            mechanism: Mechanism::Ntlm,
            channel_binding,
            client_spn,
            supports_extended_protection: true,
            response_token: None,
            user_sid,
            groups,
            group_names: Vec::new(),
        })
    }

    /// Refuses an attempt a throttling rule refuses (`epa_throttle_refusals_total`).
    fn check_throttle(&self, attempt: &Attempt) -> Result<(), NtlmError> {
        let now = (self.acceptor.monotonic)();
        if let Some(Err(rule)) = self.acceptor.throttled(|t| t.check(attempt, now)) {
            crate::telemetry::throttle_refusal(rule.label());
            return Err(NtlmError::Throttled { rule });
        }
        Ok(())
    }

    /// Counts a failed attempt.
    fn record_failure(&self, attempt: &Attempt) {
        let now = (self.acceptor.monotonic)();
        self.acceptor.throttled(|t| t.failure(attempt, now));
    }

    /// `NTProofStr` against the user file's NT hash (constant-time; an unknown user runs the
    /// same HMACs against a dummy hash and fails like a wrong password, so the time taken does
    /// not tell which user names exist).
    fn verify_locally(
        &self,
        auth: &wire::Authenticate<'_>,
        proof: &[u8],
        server_challenge: &[u8; 8],
        blob: &[u8],
    ) -> Result<Logon, NtlmError> {
        let account = self.acceptor.users.find(&auth.domain, &auth.user);
        // The matched account (so a wildcard account is one key whatever domain is typed), or
        // the name typed when none matched.
        let attempt = Attempt::new(
            self.peer,
            &match account {
                Some(a) => a.folded_name(),
                None => users::folded_name(&auth.domain, &auth.user),
            },
        );
        self.check_throttle(&attempt)?;
        let nt_hash = account.map_or(&DUMMY_NT_HASH, |a| &*a.nt_hash);
        let response_key = crypto::ntowf_v2(nt_hash, &auth.user, &auth.domain);
        let expected_proof = crypto::nt_proof(&response_key, server_challenge, blob);
        let proof_ok = crypto::ct_eq16(proof, &expected_proof);
        let Some(account) = account.filter(|_| proof_ok) else {
            self.record_failure(&attempt);
            return Err(NtlmError::BadCredentials {
                domain: auth.domain.clone(),
                user: auth.user.clone(),
            });
        };
        Ok(Logon {
            verified: VerifiedLogon {
                session_base_key: crypto::hmac_md5(response_key.as_slice(), &[proof]),
                // A wildcard account (empty domain in the user file) is reported in the
                // acceptor's own domain, never in the domain the client typed.
                domain: if account.domain.is_empty() {
                    self.acceptor.netbios_domain.clone()
                } else {
                    account.domain.clone()
                },
                user: account.user.clone(),
                user_sid: None,
                groups: Vec::new(),
            },
            attempt,
        })
    }

    fn check_timestamp(&self, raw: &[u8]) -> Result<(), NtlmError> {
        let theirs = u64::from_le_bytes(
            raw.try_into()
                .map_err(|_| NtlmError::Malformed("timestamp"))?,
        );
        let ours = filetime((self.acceptor.clock)());
        let skew_secs = theirs.abs_diff(ours) / 10_000_000;
        let limit_secs = self.acceptor.max_clock_skew.as_secs();
        if skew_secs > limit_secs {
            return Err(NtlmError::Timestamp {
                skew_secs,
                limit_secs,
            });
        }
        Ok(())
    }
}

/// What an NTLMv2 AV-pair list says about the channel binding and the target name
/// (MS-NLMP §2.2.2.1; `MsvAvFlags` 0x4 makes the target name untrusted, hence absent).
fn observe(
    pairs: &wire::AvPairs<'_>,
    av_flag_bits: u32,
    expected: Option<&ExpectedBindings>,
) -> Result<(BindingObservation, ClientServiceName), NtlmError> {
    let channel_binding = match pairs.get(av::CHANNEL_BINDINGS)? {
        None => BindingObservation::Absent,
        Some(v) => {
            let hash = epa_core::ChannelBindingsHash(
                v.try_into()
                    .map_err(|_| NtlmError::Malformed("MsvAvChannelBindings is not 16 bytes"))?,
            );
            match expected {
                _ if hash.is_unbound() => BindingObservation::Unbound,
                Some(e) if hash.ct_eq(e.md5()) => BindingObservation::Match,
                _ => BindingObservation::Mismatch,
            }
        }
    };
    let client_spn = if av_flag_bits & av_flags::UNTRUSTED_SPN != 0 {
        ClientServiceName::Missing
    } else {
        match pairs.get(av::TARGET_NAME)? {
            None => ClientServiceName::Missing,
            Some(v) => ClientServiceName::from_option(Some(&wire::from_utf16le(
                v,
                "MsvAvTargetName is not UTF-16",
            )?)),
        }
    };
    Ok((channel_binding, client_spn))
}

/// Reads, without verifying anything, what a raw NTLMSSP AUTHENTICATE message claims about its
/// channel binding and target name. For backends whose NTLM acceptor does not report these
/// (gss-ntlmssp): the values may only be trusted once that acceptor has verified the message,
/// whose NTProofStr covers the AV pairs. `None` for anything that is not a well-formed
/// NTLMv2 AUTHENTICATE.
pub fn inspect_authenticate(
    token: &[u8],
    expected: Option<&ExpectedBindings>,
) -> Option<(BindingObservation, ClientServiceName)> {
    let auth = wire::parse_authenticate(token).ok()?;
    let blob = auth.nt_response.get(16..)?;
    let pairs = wire::AvPairs(blob.get(28..)?);
    let av_flag_bits = match pairs.get(av::FLAGS).ok()? {
        Some(v) => u32::from_le_bytes(v.try_into().ok()?),
        None => 0,
    };
    observe(&pairs, av_flag_bits, expected).ok()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod verifier_tests;
