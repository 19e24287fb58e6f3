//! [`NtlmContext`]: one connection's exchange — the CHALLENGE it sends, and the checks on the
//! AUTHENTICATE (NTLMv2 only, timestamp, throttling, `NTProofStr`, MIC) before it reports the
//! binding and the target name.

use crate::acceptor::NtlmAcceptor;
use crate::error::NtlmError;
use crate::observe::{av_flag_bits, observe};
use crate::throttle::Attempt;
use crate::verifier::VerifiedLogon;
use crate::wire::{self, av, flags};
use crate::{crypto, telemetry, users};
use epa_core::authenticator::{
    AuthError, Authenticator, Completion, ExpectedBindings, Identity, Scheme, SecurityContext, Step,
};
use epa_core::decide::Mechanism;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The hash an unknown user's response is checked against, so that it costs the same work as a
/// wrong password. Never accepted, whatever the response.
const DUMMY_NT_HASH: [u8; 16] = [0x5a; 16];

/// Where the exchange stands.
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
    pub(crate) acceptor: NtlmAcceptor,
    /// The client's address, when the layer gave it (failures are throttled per address).
    pub(crate) peer: Option<IpAddr>,
    state: State,
}

/// A verified NTLMv2 proof, before the MIC.
pub(crate) struct Logon {
    pub(crate) verified: VerifiedLogon,
    pub(crate) attempt: Attempt,
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
    /// A fresh exchange for `acceptor`, from `peer` when the layer knows it.
    pub(crate) fn new(acceptor: NtlmAcceptor, peer: Option<IpAddr>) -> Self {
        Self {
            acceptor,
            peer,
            state: State::Initial,
        }
    }

    fn challenge(&self, client_flags: u32, server_challenge: &[u8; 8]) -> Vec<u8> {
        let a = &self.acceptor;
        let mut info = Vec::new();
        // The four names, in MS-NLMP §2.2.2.1's order, each UTF-16LE.
        for (id, name) in [
            (av::NB_DOMAIN_NAME, &a.netbios_domain),
            (av::NB_COMPUTER_NAME, &a.netbios_computer),
            (av::DNS_DOMAIN_NAME, &a.dns_domain),
            (av::DNS_COMPUTER_NAME, &a.dns_computer),
        ] {
            wire::push_av(&mut info, id, &wire::utf16le(name));
        }
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
        let (proof, blob) = split_ntlmv2_response(auth.nt_response)?;
        self.check_timestamp(&blob[8..16])?;
        let pairs = wire::AvPairs(&blob[28..]);

        let logon = match &self.acceptor.verifier {
            None => self.verify_locally(&auth, proof, server_challenge, blob)?,
            Some(v) => self.verify_remotely(&**v, &auth, server_challenge)?,
        };
        let av_flag_bits = av_flag_bits(&pairs)?;
        if av_flag_bits & wire::av_flags::MIC_PRESENT != 0 {
            check_mic(&auth, &logon, [negotiate, challenge, msg])?;
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
            session_enctype: None,
        })
    }

    /// Refuses an attempt a throttling rule refuses (`epa_throttle_refusals_total`).
    pub(crate) fn check_throttle(&self, attempt: &Attempt) -> Result<(), NtlmError> {
        let now = (self.acceptor.monotonic)();
        if let Some(Err(rule)) = self.acceptor.throttled(|t| t.check(attempt, now)) {
            telemetry::throttle_refusal(rule.label());
            return Err(NtlmError::Throttled { rule });
        }
        Ok(())
    }

    /// Counts a failed attempt.
    pub(crate) fn record_failure(&self, attempt: &Attempt) {
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

/// `NTProofStr` and the NTLMv2 blob of an NtChallengeResponse, refusing LM-only or anonymous
/// (empty) and NTLMv1 (24-byte) responses and blobs of an unknown version.
fn split_ntlmv2_response(nt_response: &[u8]) -> Result<(&[u8], &[u8]), NtlmError> {
    match nt_response.len() {
        0 => return Err(NtlmError::LmOrAnonymous),
        24 => return Err(NtlmError::Ntlmv1),
        n if n < 16 + 28 => return Err(NtlmError::Malformed("NTLMv2 response too short")),
        _ => {}
    }
    let (proof, blob) = nt_response.split_at(16);
    if blob[0] != 1 || blob[1] != 1 {
        return Err(NtlmError::Malformed(
            "NTLMv2 blob has an unknown response version",
        ));
    }
    Ok((proof, blob))
}

/// The MIC over NEGOTIATE, CHALLENGE and AUTHENTICATE (`messages`, the last with its MIC field
/// zeroed for the HMAC), keyed with the exported session key (constant-time comparison).
fn check_mic(
    auth: &wire::Authenticate<'_>,
    logon: &Logon,
    [negotiate, challenge, msg]: [&[u8]; 3],
) -> Result<(), NtlmError> {
    let session_base_key = &logon.verified.session_base_key;
    let exported = if auth.flags & flags::KEY_EXCH != 0 {
        let enc: &[u8; 16] = auth
            .encrypted_session_key
            .try_into()
            .map_err(|_| NtlmError::Malformed("EncryptedRandomSessionKey is not 16 bytes"))?;
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
    Ok(())
}

/// The acceptor hands out one context per connection's exchange (with the peer's address for
/// the throttle).
impl Authenticator for NtlmAcceptor {
    fn schemes(&self) -> &[Scheme] {
        &self.schemes
    }

    fn blocking(&self) -> bool {
        self.verifier.as_ref().is_some_and(|v| v.blocking())
    }

    fn new_context(&self) -> Box<dyn SecurityContext> {
        Box::new(NtlmContext::new(self.clone(), None))
    }

    fn new_context_for(&self, peer: IpAddr) -> Box<dyn SecurityContext> {
        Box::new(NtlmContext::new(self.clone(), Some(peer)))
    }

    /// NTLM only, bare or inside SPNEGO: a Kerberos-only route on it is a configuration error.
    fn mechanisms(&self) -> epa_core::decide::Mechanisms {
        epa_core::decide::Mechanisms::NTLM
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::UserDb;
    use std::time::Duration;
    use zeroize::Zeroizing;

    fn acceptor() -> NtlmAcceptor {
        let mut users = UserDb::default();
        users.add_password("TESTDOM", "alice", "userpw");
        NtlmAcceptor::new(users, "TESTDOM", "SRV")
    }

    /// FILETIME counts 100 ns since 1601-01-01 (MS-DTYP §2.3.3): the Unix epoch is
    /// 11,644,473,600 s later.
    #[test]
    fn filetime_counts_100_ns_since_1601() {
        const UNIX_EPOCH_FT: u64 = 116_444_736_000_000_000;
        assert_eq!(filetime(UNIX_EPOCH), UNIX_EPOCH_FT);
        let t = UNIX_EPOCH + Duration::new(1, 234_567_890);
        assert_eq!(filetime(t), UNIX_EPOCH_FT + 12_345_678);
    }

    /// Every exchange gets a fresh random server challenge (MS-NLMP §3.2.5.1.1): a fixed one
    /// would let a captured AUTHENTICATE be replayed.
    #[test]
    fn server_challenges_are_random() {
        assert_ne!(random_challenge().unwrap(), random_challenge().unwrap());
    }

    /// The CHALLENGE's flags (MS-NLMP §2.2.1.2): ours, plus only the session flags (sign, seal,
    /// key exchange, 56-bit) the client asked for.
    #[test]
    fn the_challenge_echoes_only_the_session_flags_the_client_asked_for() {
        let ctx = NtlmContext::new(acceptor(), None);
        let read = |client_flags: u32| {
            let c = ctx.challenge(client_flags, &[9; 8]);
            assert_eq!(&c[24..32], &[9; 8]);
            u32::from_le_bytes(c[20..24].try_into().unwrap())
        };
        let ours = flags::UNICODE
            | flags::REQUEST_TARGET
            | flags::NTLM
            | flags::ALWAYS_SIGN
            | flags::TARGET_TYPE_DOMAIN
            | flags::EXTENDED_SESSIONSECURITY
            | flags::TARGET_INFO
            | flags::VERSION
            | flags::N128;
        assert_eq!(read(0), ours);
        let session = flags::SIGN | flags::SEAL | flags::KEY_EXCH | flags::N56;
        assert_eq!(read(u32::MAX), ours | session);
        assert_eq!(read(flags::SEAL | 0x100), ours | flags::SEAL);
    }

    /// The client's timestamp may be `max_clock_skew` away from our clock, in whole seconds
    /// either way, and no more.
    #[test]
    fn the_timestamp_may_be_off_by_the_limit_and_no_more() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let acc = acceptor()
            .with_clock(move || now)
            .max_clock_skew(Duration::from_secs(300));
        let ctx = NtlmContext::new(acc, None);
        let ours = filetime(now);
        let sec = 10_000_000;
        for ok in [
            ours,
            ours + 300 * sec,
            ours - 300 * sec,
            ours + 301 * sec - 1,
        ] {
            assert!(ctx.check_timestamp(&ok.to_le_bytes()).is_ok(), "{ok}");
        }
        for late in [ours + 301 * sec, ours - 301 * sec, 0] {
            assert!(
                matches!(
                    ctx.check_timestamp(&late.to_le_bytes()),
                    Err(NtlmError::Timestamp { .. })
                ),
                "{late}"
            );
        }
        assert!(matches!(
            ctx.check_timestamp(&[0; 7]),
            Err(NtlmError::Malformed(_))
        ));
    }

    /// An NtChallengeResponse is NTProofStr (16 bytes) and a blob of at least 28 bytes whose
    /// versions are 1 (MS-NLMP §2.2.2.7-8); empty is LM/anonymous, 24 bytes is NTLMv1.
    #[test]
    fn only_ntlmv2_responses_of_version_1_are_split() {
        let mut r = vec![0xaa; 16];
        r.extend([1, 1]);
        r.resize(16 + 28, 0);
        let (proof, blob) = split_ntlmv2_response(&r).unwrap();
        assert_eq!(proof, &[0xaa; 16]);
        assert_eq!(blob, &r[16..]);
        assert!(matches!(
            split_ntlmv2_response(&r[..43]),
            Err(NtlmError::Malformed(_))
        ));
        assert!(matches!(
            split_ntlmv2_response(&[]),
            Err(NtlmError::LmOrAnonymous)
        ));
        assert!(matches!(
            split_ntlmv2_response(&[1; 24]),
            Err(NtlmError::Ntlmv1)
        ));
        for (hi, lo) in [(2, 1), (1, 2), (0, 0)] {
            let mut bad = r.clone();
            bad[16] = hi;
            bad[17] = lo;
            assert!(matches!(
                split_ntlmv2_response(&bad),
                Err(NtlmError::Malformed(_))
            ));
        }
    }

    /// The MIC is keyed with the exported session key: the session base key, or with
    /// `NTLMSSP_NEGOTIATE_KEY_EXCH` the key the client sent encrypted under it (MS-NLMP
    /// §3.1.5.1.2, §3.2.5.1.2).
    #[test]
    fn the_mic_key_is_the_session_base_key_unless_a_key_is_exchanged() {
        let base = [3u8; 16];
        let exported = [5u8; 16];
        let logon = Logon {
            verified: VerifiedLogon {
                session_base_key: Zeroizing::new(base),
                domain: String::new(),
                user: String::new(),
                user_sid: None,
                groups: Vec::new(),
            },
            attempt: Attempt::new(None, "x"),
        };
        let (negotiate, challenge) = (&b"negotiate"[..], &b"challenge"[..]);
        let encrypted = crypto::rc4(&base, &exported);
        for (flags, key, enc) in [
            (0, base, &[][..]),
            (flags::KEY_EXCH, exported, encrypted.as_slice()),
        ] {
            let auth = wire::Authenticate {
                lm_response: &[],
                nt_response: &[],
                domain: String::new(),
                user: String::new(),
                workstation: String::new(),
                encrypted_session_key: enc,
                flags,
            };
            let mut msg = vec![0u8; 100];
            let mic = crypto::hmac_md5(&key, &[negotiate, challenge, &msg]);
            msg[wire::MIC_OFFSET..wire::MIC_OFFSET + 16].copy_from_slice(mic.as_slice());
            assert!(check_mic(&auth, &logon, [negotiate, challenge, &msg]).is_ok());
            msg[99] ^= 1;
            assert!(matches!(
                check_mic(&auth, &logon, [negotiate, challenge, &msg]),
                Err(NtlmError::MicMismatch)
            ));
            assert!(matches!(
                check_mic(&auth, &logon, [negotiate, challenge, &msg[..80]]),
                Err(NtlmError::Malformed(_))
            ));
        }
    }

    /// A verifier that blocks (or not) and refuses everyone.
    struct Refusing(bool);

    impl crate::verifier::CredentialVerifier for Refusing {
        fn verify(
            &self,
            _: &crate::verifier::NetworkLogon<'_>,
        ) -> Result<VerifiedLogon, crate::verifier::LogonError> {
            Err(crate::verifier::LogonError::BadCredentials)
        }
        fn blocking(&self) -> bool {
            self.0
        }
    }

    /// The acceptor offers Negotiate and NTLM, and asks to run on a blocking thread only when
    /// its verifier blocks (a user file never does).
    #[test]
    fn the_acceptor_offers_negotiate_and_ntlm_and_blocks_only_with_a_blocking_verifier() {
        use epa_core::authenticator::Authenticator as _;
        let acc = acceptor();
        assert_eq!(acc.schemes(), &[Scheme::Negotiate, Scheme::Ntlm]);
        assert!(!acc.blocking());
        assert!(NtlmAcceptor::with_verifier(Refusing(true), "D", "C").blocking());
        assert!(!NtlmAcceptor::with_verifier(Refusing(false), "D", "C").blocking());
    }
}
