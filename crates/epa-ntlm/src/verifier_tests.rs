//! The acceptor with a credential verifier standing in for a domain controller: what it is
//! given, what its answers become, and that the MIC is verified with the key it returns.

use super::client::{ClientBinding, NtlmClient};
use super::*;
use epa_core::ChannelBinding;
use epa_core::authenticator::{
    AuthError, Authenticator as _, Completion, ExpectedBindings, Identity, Step,
};
use epa_core::decide::BindingObservation;
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

/// A "domain controller" that knows alice's password, records what it was asked, and can be
/// told to fail.
struct FakeDc {
    answer: StdMutex<Option<LogonError>>,
    asked: StdMutex<Vec<(String, String, String, usize)>>,
    corrupt_key: bool,
}

impl FakeDc {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            answer: StdMutex::new(None),
            asked: StdMutex::new(Vec::new()),
            corrupt_key: false,
        })
    }
}

impl CredentialVerifier for Arc<FakeDc> {
    fn verify(&self, l: &NetworkLogon<'_>) -> Result<VerifiedLogon, LogonError> {
        self.asked.lock().unwrap().push((
            l.domain.to_owned(),
            l.user.to_owned(),
            l.workstation.to_owned(),
            l.nt_response.len(),
        ));
        if let Some(e) = self.answer.lock().unwrap().clone() {
            return Err(e);
        }
        let key = crypto::ntowf_v2(&crypto::nt_hash("userpw"), l.user, l.domain);
        let (proof, blob) = l.nt_response.split_at(16);
        if !crypto::ct_eq16(proof, &crypto::nt_proof(&key, l.server_challenge, blob)) {
            return Err(LogonError::BadCredentials);
        }
        let mut session_base_key = crypto::hmac_md5(key.as_slice(), &[proof]);
        if self.corrupt_key {
            session_base_key[0] ^= 1;
        }
        Ok(VerifiedLogon {
            session_base_key,
            domain: "EPA".into(),
            user: "Alice".into(),
            user_sid: Some("S-1-5-21-1-2-3-1103".parse().unwrap()),
            groups: vec!["S-1-5-21-1-2-3-513".parse().unwrap()],
        })
    }

    fn retry_after_secs(&self) -> u32 {
        7
    }
}

fn run(acc: &NtlmAcceptor, mut client: NtlmClient) -> Result<Completion, AuthError> {
    let e = ExpectedBindings::new(ChannelBinding::tls_server_end_point_from_hash(&[7; 32]));
    let mut ctx = acc.new_context_for("192.0.2.1".parse().unwrap());
    let Step::Continue(challenge) = ctx.step(&client.negotiate(), Some(&e))? else {
        panic!("first leg must continue");
    };
    let auth = client.authenticate(&challenge).unwrap();
    match ctx.step(&auth, Some(&e))? {
        Step::Complete(c) => Ok(c),
        Step::Continue(_) => panic!("second leg must complete"),
    }
}

fn alice() -> NtlmClient {
    let e = ExpectedBindings::new(ChannelBinding::tls_server_end_point_from_hash(&[7; 32]));
    NtlmClient::new("epa", "alice", "userpw").binding(ClientBinding::Hash(e.md5().0))
}

#[test]
fn the_verifiers_names_sid_and_groups_are_the_identity_and_the_binding_is_still_ours() {
    let dc = FakeDc::new();
    let acc = NtlmAcceptor::with_verifier(dc.clone(), "EPA", "WEB");
    let c = run(&acc, alice()).unwrap();
    // The canonical names from the verifier, not the ones typed.
    assert_eq!(c.identity, Identity::ntlm("EPA", "Alice"));
    assert_eq!(c.user_sid.unwrap().to_string(), "S-1-5-21-1-2-3-1103");
    assert_eq!(c.groups.len(), 1);
    assert_eq!(c.channel_binding, BindingObservation::Match);
    let asked = dc.asked.lock().unwrap();
    assert_eq!(asked.len(), 1);
    assert_eq!((asked[0].0.as_str(), asked[0].1.as_str()), ("epa", "alice"));
    assert!(asked[0].3 > 24, "the whole NTLMv2 response is passed on");
}

#[test]
fn a_wrong_session_key_from_the_verifier_fails_the_mic() {
    let dc = Arc::new(FakeDc {
        corrupt_key: true,
        ..Arc::try_unwrap(FakeDc::new()).ok().unwrap()
    });
    let acc = NtlmAcceptor::with_verifier(dc, "EPA", "WEB");
    let e = run(&acc, alice()).unwrap_err();
    assert!(e.to_string().contains("MIC mismatch"), "{e}");
}

#[test]
fn wrong_password_is_a_logon_failure_and_counts_towards_throttling() {
    let dc = FakeDc::new();
    let acc = NtlmAcceptor::with_verifier(dc.clone(), "EPA", "WEB").throttle(ThrottleSettings {
        extranet_lockout_threshold: 2,
        ..ThrottleSettings::default()
    });
    let bad = || NtlmClient::new("epa", "alice", "nope");
    for _ in 0..2 {
        let e = run(&acc, bad()).unwrap_err();
        assert_eq!(e.status(), 401);
    }
    // Cooling down: the domain controller is not asked again.
    let before = dc.asked.lock().unwrap().len();
    let e = run(&acc, alice()).unwrap_err();
    assert!(e.to_string().contains("throttled"), "{e}");
    assert_eq!(dc.asked.lock().unwrap().len(), before);
}

#[test]
fn restrictions_are_refusals_with_their_reason() {
    let dc = FakeDc::new();
    *dc.answer.lock().unwrap() = Some(LogonError::Restricted(AccountRestriction::Disabled));
    let acc = NtlmAcceptor::with_verifier(dc, "EPA", "WEB");
    let e = run(&acc, alice()).unwrap_err();
    assert_eq!(e.status(), 401);
    assert!(e.to_string().contains("account-disabled"), "{e}");
    assert_eq!(e.code(), "account-disabled");
}

#[test]
fn an_unavailable_verifier_is_503_with_its_retry_after_and_never_throttles() {
    let dc = FakeDc::new();
    *dc.answer.lock().unwrap() = Some(LogonError::Unavailable("DC down".into()));
    let acc = NtlmAcceptor::with_verifier(dc.clone(), "EPA", "WEB").throttle(ThrottleSettings {
        extranet_lockout_threshold: 1,
        address_threshold: 1,
        address_account_threshold: 1,
        ..ThrottleSettings::default()
    });
    for _ in 0..3 {
        let e = run(&acc, alice()).unwrap_err();
        assert_eq!(e.status(), 503);
        assert!(
            matches!(
                e,
                AuthError::Unavailable {
                    retry_after_secs: 7,
                    ..
                }
            ),
            "{e:?}"
        );
    }
    // Back: the same account logs on at once (outages are not failed logons).
    *dc.answer.lock().unwrap() = None;
    assert!(run(&acc, alice()).is_ok());
}

#[test]
fn every_verifier_outcome_has_its_own_reason_code() {
    let cases = [
        (LogonError::BadCredentials, "bad-credentials", 401),
        (
            LogonError::Restricted(AccountRestriction::LockedOut),
            "account-locked-out",
            401,
        ),
        (
            LogonError::Restricted(AccountRestriction::PasswordExpired),
            "password-expired",
            401,
        ),
        (
            LogonError::Restricted(AccountRestriction::Expired),
            "account-expired",
            401,
        ),
        (
            LogonError::Restricted(AccountRestriction::Restricted),
            "account-restricted",
            401,
        ),
        (LogonError::Refused("x".into()), "logon-refused", 401),
        (LogonError::UnknownDomain, "unknown-domain", 401),
        (
            LogonError::Unavailable("no logon servers".into()),
            "backend-unavailable",
            503,
        ),
    ];
    for (answer, code, status) in cases {
        let dc = FakeDc::new();
        *dc.answer.lock().unwrap() = Some(answer);
        let acc = NtlmAcceptor::with_verifier(dc, "EPA", "WEB");
        let e = run(&acc, alice()).unwrap_err();
        assert_eq!((e.code(), e.status()), (code, status), "{e}");
    }
}

#[test]
fn spellings_of_one_account_share_one_lockout_count() {
    let dc = FakeDc::new();
    let acc = NtlmAcceptor::with_verifier(dc.clone(), "EPA", "WEB")
        .dns_names("epa.test", "web.epa.test")
        .throttle(ThrottleSettings {
            extranet_lockout_threshold: 4,
            address_threshold: 0,
            address_account_threshold: 0,
            ..ThrottleSettings::default()
        });
    for (domain, user) in [
        ("epa", "alice"),
        ("EPA.TEST", "ALICE"),
        ("", "alice"),
        ("", "alice@epa.test"),
    ] {
        assert!(run(&acc, NtlmClient::new(domain, user, "nope")).is_err());
    }
    let asked = dc.asked.lock().unwrap().len();
    let e = run(&acc, NtlmClient::new("", "Alice@EPA", "nope")).unwrap_err();
    assert_eq!(e.code(), "throttled", "{e}");
    assert_eq!(dc.asked.lock().unwrap().len(), asked, "not forwarded");
}

/// A verifier that knows which domains it trusts.
struct Trusting(Arc<FakeDc>);

impl CredentialVerifier for Trusting {
    fn verify(&self, l: &NetworkLogon<'_>) -> Result<VerifiedLogon, LogonError> {
        self.0.verify(l)
    }
    fn domain(&self, domain: &str) -> DomainLookup {
        match domain.to_ascii_uppercase().as_str() {
            "CHILD" | "CHILD.EPA.TEST" => DomainLookup::Known("CHILD".into()),
            _ => DomainLookup::Untrusted,
        }
    }
}

#[test]
fn an_untrusted_domain_is_refused_before_the_verifier_and_counted_against_the_address() {
    let dc = FakeDc::new();
    let acc = NtlmAcceptor::with_verifier(Trusting(dc.clone()), "EPA", "WEB").throttle(
        ThrottleSettings {
            address_threshold: 3,
            ..ThrottleSettings::default()
        },
    );
    for i in 0..3 {
        let e = run(
            &acc,
            NtlmClient::new(&format!("NOWHERE{i}"), "alice", "userpw"),
        )
        .unwrap_err();
        assert_eq!((e.code(), e.status()), ("unknown-domain", 401), "{e}");
    }
    assert!(dc.asked.lock().unwrap().is_empty(), "winbind never asked");
    // The address now cools down, whatever it tries.
    let e = run(&acc, alice()).unwrap_err();
    assert_eq!(e.code(), "throttled", "{e}");
    // Our own and trusted domains go through.
    let acc = NtlmAcceptor::with_verifier(Trusting(dc.clone()), "EPA", "WEB");
    assert!(run(&acc, alice()).is_ok());
    assert!(run(&acc, NtlmClient::new("child.epa.test", "alice", "userpw")).is_ok());
}

#[test]
fn the_verifiers_unknown_domain_answer_is_counted_against_the_address() {
    let dc = FakeDc::new();
    *dc.answer.lock().unwrap() = Some(LogonError::UnknownDomain);
    let acc = NtlmAcceptor::with_verifier(dc.clone(), "EPA", "WEB").throttle(ThrottleSettings {
        address_threshold: 2,
        ..ThrottleSettings::default()
    });
    for i in 0..2 {
        let e = run(&acc, NtlmClient::new(&format!("X{i}"), "u", "p")).unwrap_err();
        assert_eq!(e.code(), "unknown-domain");
    }
    assert_eq!(run(&acc, alice()).unwrap_err().code(), "throttled");
}

/// A verifier that blocks until released.
struct Slow {
    started: std::sync::mpsc::SyncSender<()>,
    release: StdMutex<std::sync::mpsc::Receiver<()>>,
}

impl CredentialVerifier for Slow {
    fn verify(&self, _: &NetworkLogon<'_>) -> Result<VerifiedLogon, LogonError> {
        let _ = self.started.send(());
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10));
        Err(LogonError::Unavailable("slow".into()))
    }
}

#[test]
fn one_address_holds_at_most_its_share_of_verifier_calls() {
    let (started_tx, started) = std::sync::mpsc::sync_channel(16);
    let (release_tx, release_rx) = std::sync::mpsc::channel();
    let acc = NtlmAcceptor::with_verifier(
        Slow {
            started: started_tx,
            release: StdMutex::new(release_rx),
        },
        "EPA",
        "WEB",
    )
    .max_in_flight_per_address(2);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let acc = acc.clone();
            std::thread::spawn(move || run(&acc, alice()))
        })
        .collect();
    for _ in 0..2 {
        started.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    // A third from the same address is refused at once, without a verifier call.
    let e = run(&acc, alice()).unwrap_err();
    assert_eq!(e.status(), 503);
    assert!(e.to_string().contains("already wait"), "{e}");
    assert!(started.try_recv().is_err());
    // Another address still gets a call.
    let acc2 = acc.clone();
    let other = std::thread::spawn(move || {
        let mut client = alice();
        let mut ctx = acc2.new_context_for("198.51.100.9".parse().unwrap());
        let Ok(Step::Continue(ch)) = ctx.step(&client.negotiate(), None) else {
            panic!()
        };
        let auth = client.authenticate(&ch).unwrap();
        ctx.step(&auth, None).map(|_| ())
    });
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    for _ in 0..3 {
        release_tx.send(()).unwrap();
    }
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap_err().status(), 503);
    }
    assert_eq!(other.join().unwrap().unwrap_err().status(), 503);
    // The slots were given back.
    assert!(acc.in_flight.lock().unwrap().is_empty());
}
