//! The acceptor against the test initiator: every binding observation, the SPN, and every
//! refusal. (The real clients — requests-ntlm and curl — are exercised in the end-to-end tests.)

use super::client::{ClientBinding, NtlmClient};
use super::*;
use epa_core::ChannelBinding;
use epa_core::authenticator::{
    AuthError, Authenticator as _, Completion, ExpectedBindings, Identity, Step,
};
use epa_core::decide::{BindingObservation, ClientServiceName, Mechanism};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

fn acceptor() -> NtlmAcceptor {
    let mut users = UserDb::default();
    users.add_password("TESTDOM", "alice", "userpw");
    NtlmAcceptor::new(users, "TESTDOM", "SRV")
}

fn expected() -> ExpectedBindings {
    ExpectedBindings::new(ChannelBinding::tls_server_end_point_from_hash(&[7; 32]))
}

fn run(
    acc: &NtlmAcceptor,
    mut client: NtlmClient,
    exp: Option<&ExpectedBindings>,
) -> Result<Completion, AuthError> {
    let mut ctx = acc.new_context();
    let Step::Continue(challenge) = ctx.step(&client.negotiate(), exp)? else {
        panic!("first leg must continue");
    };
    let auth = client.authenticate(&challenge).unwrap();
    match ctx.step(&auth, exp)? {
        Step::Complete(c) => Ok(c),
        Step::Continue(_) => panic!("second leg must complete"),
    }
}

/// Both legs on a context made for `peer`; the error of whichever leg failed.
fn run_from(
    acc: &NtlmAcceptor,
    mut client: NtlmClient,
    peer: &str,
) -> Result<Completion, AuthError> {
    let mut ctx = acc.new_context_for(peer.parse().unwrap());
    let Step::Continue(challenge) = ctx.step(&client.negotiate(), None)? else {
        panic!("first leg must continue");
    };
    let auth = client.authenticate(&challenge).unwrap();
    match ctx.step(&auth, None)? {
        Step::Complete(c) => Ok(c),
        Step::Continue(_) => panic!("second leg must complete"),
    }
}

/// An acceptor whose throttle clock is `base + offset` milliseconds.
fn clocked(acc: NtlmAcceptor) -> (NtlmAcceptor, Arc<AtomicU64>) {
    let base = std::time::Instant::now();
    let offset = Arc::new(AtomicU64::new(0));
    let o = offset.clone();
    let acc =
        acc.with_monotonic_clock(move || base + Duration::from_millis(o.load(Ordering::SeqCst)));
    (acc, offset)
}

fn alice() -> NtlmClient {
    NtlmClient::new("TESTDOM", "alice", "userpw")
}

#[test]
fn matching_binding_is_reported_as_match() {
    let e = expected();
    let c = run(
        &acceptor(),
        alice().binding(ClientBinding::Hash(e.md5().0)),
        Some(&e),
    )
    .unwrap();
    assert_eq!(c.channel_binding, BindingObservation::Match);
    assert_eq!(c.identity, Identity::ntlm("TESTDOM", "alice"));
    assert_eq!(c.identity.to_string(), "TESTDOM\\alice");
    assert_eq!(c.mechanism, Mechanism::Ntlm);
}

#[test]
fn other_binding_is_reported_as_mismatch() {
    let e = expected();
    let other = ExpectedBindings::new(ChannelBinding::tls_server_end_point_from_hash(&[8; 32]));
    let c = run(
        &acceptor(),
        alice().binding(ClientBinding::Hash(other.md5().0)),
        Some(&e),
    )
    .unwrap();
    assert_eq!(c.channel_binding, BindingObservation::Mismatch);
}

#[test]
fn no_av_pair_is_absent_and_zero_is_unbound() {
    let e = expected();
    assert_eq!(
        run(&acceptor(), alice(), Some(&e)).unwrap().channel_binding,
        BindingObservation::Absent
    );
    assert_eq!(
        run(
            &acceptor(),
            alice().binding(ClientBinding::Unbound),
            Some(&e)
        )
        .unwrap()
        .channel_binding,
        BindingObservation::Unbound
    );
    // With nothing expected, a non-zero binding cannot match.
    assert_eq!(
        run(
            &acceptor(),
            alice().binding(ClientBinding::Hash(e.md5().0)),
            None
        )
        .unwrap()
        .channel_binding,
        BindingObservation::Mismatch
    );
}

#[test]
fn target_name_is_the_client_spn() {
    let c = run(
        &acceptor(),
        alice().target_name(Some("HTTP/www.contoso.com")),
        None,
    )
    .unwrap();
    assert_eq!(
        c.client_spn,
        ClientServiceName::Value("HTTP/www.contoso.com".into())
    );
    let c = run(&acceptor(), alice().target_name(Some("")), None).unwrap();
    assert_eq!(c.client_spn, ClientServiceName::Empty);
    let c = run(&acceptor(), alice(), None).unwrap();
    assert_eq!(c.client_spn, ClientServiceName::Missing);
}

#[test]
fn wrong_password_and_unknown_user_are_refused_alike() {
    for client in [
        NtlmClient::new("TESTDOM", "alice", "nope"),
        NtlmClient::new("TESTDOM", "mallory", "userpw"),
    ] {
        let e = run(&acceptor(), client, None).unwrap_err();
        assert_eq!(e.status(), 401);
        assert!(
            e.to_string().contains("unknown user or wrong password"),
            "{e}"
        );
    }
}

#[test]
fn a_wildcard_account_is_reported_in_the_acceptors_domain_not_the_clients() {
    let users = UserDb::parse(":bob:bob-password").unwrap();
    let acc = NtlmAcceptor::new(users, "example", "SRV");
    let c = run(&acc, NtlmClient::new("ADMINS", "bob", "bob-password"), None).unwrap();
    assert_eq!(c.identity, Identity::ntlm("EXAMPLE", "bob"));
    assert_eq!(c.identity.to_string(), "EXAMPLE\\bob");
}

#[test]
fn names_are_matched_with_windows_upper_casing() {
    let users = UserDb::parse("EXAMPLE:straße:Pässwörd\nEXAMPLE:ﬁle:pw-ﬁ").unwrap();
    let acc = NtlmAcceptor::new(users, "EXAMPLE", "SRV");
    for user in ["straße", "STRAßE", "ﬁle", "ﬁLE"] {
        let password = if user.contains('ß') {
            "Pässwörd"
        } else {
            "pw-ﬁ"
        };
        let c = run(&acc, NtlmClient::new("example", user, password), None).unwrap();
        assert!(c.identity.user == "straße" || c.identity.user == "ﬁle");
    }
    // Full case mapping would have made these the same accounts.
    for (user, password) in [("STRASSE", "Pässwörd"), ("FILE", "pw-ﬁ")] {
        assert_eq!(
            run(&acc, NtlmClient::new("EXAMPLE", user, password), None)
                .unwrap_err()
                .status(),
            401
        );
    }
}

#[test]
fn an_unknown_user_costs_the_same_hmacs_as_a_wrong_password() {
    let count = |client: NtlmClient| {
        let acc = acceptor();
        let mut ctx = acc.new_context();
        let mut client = client;
        let Ok(Step::Continue(ch)) = ctx.step(&client.negotiate(), None) else {
            panic!()
        };
        let auth = client.authenticate(&ch).unwrap();
        let before = crypto::HMAC_CALLS.with(|c| c.get());
        let e = ctx.step(&auth, None).unwrap_err();
        (crypto::HMAC_CALLS.with(|c| c.get()) - before, e)
    };
    let (wrong_password, e1) = count(NtlmClient::new("TESTDOM", "alice", "nope"));
    let (unknown_user, e2) = count(NtlmClient::new("TESTDOM", "mallory", "nope"));
    // NTOWFv2 and NTProofStr: two HMAC-MD5 each, and the same refusal.
    assert_eq!(wrong_password, 2);
    assert_eq!(unknown_user, wrong_password);
    assert_eq!(e1.status(), e2.status());
    assert_eq!(e2.code(), "bad-credentials", "{e2}");
}

#[test]
fn failures_from_one_address_cool_it_down_then_the_right_password_works_again() {
    let (acc, clock) = clocked(acceptor());
    // Ten wrong passwords, each for a different (unknown) account: only the address counts.
    for i in 0..10 {
        let e = run_from(
            &acc,
            NtlmClient::new("TESTDOM", &format!("u{i}"), "x"),
            "192.0.2.7",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("unknown user or wrong password"),
            "{e}"
        );
    }
    // The right password from that address is refused without being checked.
    let mut ctx = acc.new_context_for("192.0.2.7".parse().unwrap());
    let mut client = alice();
    let Ok(Step::Continue(ch)) = ctx.step(&client.negotiate(), None) else {
        panic!()
    };
    let auth = client.authenticate(&ch).unwrap();
    let before = crypto::HMAC_CALLS.with(|c| c.get());
    let e = ctx.step(&auth, None).unwrap_err();
    assert_eq!(crypto::HMAC_CALLS.with(|c| c.get()), before);
    assert!(e.to_string().contains("throttled (address)"), "{e}");
    assert_eq!((e.status(), e.code()), (401, "throttled"));
    // Another address is not affected.
    assert!(run_from(&acc, alice(), "192.0.2.8").is_ok());
    // After the first cool-down (1 s) the right password is accepted again.
    clock.store(999, Ordering::SeqCst);
    assert!(run_from(&acc, alice(), "192.0.2.7").is_err());
    clock.store(1_000, Ordering::SeqCst);
    assert_eq!(
        run_from(&acc, alice(), "192.0.2.7").unwrap().identity,
        Identity::ntlm("TESTDOM", "alice")
    );
}

#[test]
fn failures_for_one_account_lock_it_for_unfamiliar_addresses_only() {
    let mut users = UserDb::default();
    users.add_password("TESTDOM", "alice", "userpw");
    users.add_password("TESTDOM", "bob", "bobpw");
    let (acc, clock) = clocked(NtlmAcceptor::new(users, "TESTDOM", "SRV"));
    // Alice's laptop (any address of its /64) has logged in before.
    assert!(run_from(&acc, alice(), "2001:db8:aa::1").is_ok());
    for i in 0..5 {
        let peer = format!("2001:db8:{i}::1");
        assert!(run_from(&acc, NtlmClient::new("testdom", "ALICE", "guess"), &peer).is_err());
    }
    let e = run_from(&acc, alice(), "2001:db8:99::1").unwrap_err();
    assert!(e.to_string().contains("throttled (account)"), "{e}");
    // Without an address (new_context) the attempt is unfamiliar: refused too.
    assert_eq!(run(&acc, alice(), None).unwrap_err().code(), "throttled");
    // The familiar address logs in, whatever the attacker does.
    assert!(run_from(&acc, alice(), "2001:db8:aa::2").is_ok());
    // Other accounts are not locked.
    assert!(
        run_from(
            &acc,
            NtlmClient::new("TESTDOM", "bob", "bobpw"),
            "2001:db8:99::1"
        )
        .is_ok()
    );
    // Unfamiliar addresses wait for the observation window (15 min) after the last failure.
    clock.store(15 * 60_000 - 1, Ordering::SeqCst);
    assert!(run_from(&acc, alice(), "2001:db8:99::1").is_err());
    clock.store(15 * 60_000, Ordering::SeqCst);
    assert!(run_from(&acc, alice(), "2001:db8:99::1").is_ok());
}

#[test]
fn a_success_does_not_clear_the_addresss_count_nor_the_unfamiliar_one() {
    let (acc, _clock) = clocked(acceptor());
    let wrong = |user: &str| NtlmClient::new("TESTDOM", user, "guess");
    // The account: four unfamiliar failures, a success elsewhere, one more failure: locked.
    for peer in ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"] {
        assert!(run_from(&acc, wrong("alice"), peer).is_err());
    }
    assert!(run_from(&acc, alice(), "192.0.2.5").is_ok());
    assert!(run_from(&acc, wrong("alice"), "192.0.2.6").is_err());
    assert!(run_from(&acc, alice(), "192.0.2.7").is_err());
    assert!(run_from(&acc, alice(), "192.0.2.5").is_ok(), "familiar");
    // The address: nine failures, a success from it, one more failure: cooling.
    for i in 0..9 {
        assert!(run_from(&acc, wrong(&format!("u{i}")), "198.51.100.1").is_err());
    }
    assert!(
        run_from(&acc, alice(), "198.51.100.1").is_err(),
        "unfamiliar, locked"
    );
    assert!(run_from(&acc, wrong("u9"), "198.51.100.1").is_err());
    let e = run_from(&acc, alice(), "192.0.2.5").map(|_| ());
    assert!(e.is_ok());
    let e = run_from(&acc, wrong("u10"), "198.51.100.1").unwrap_err();
    assert!(e.to_string().contains("throttled (address)"), "{e}");
}

#[test]
fn a_wildcard_account_is_one_throttling_key_whatever_domain_is_typed() {
    let users = UserDb::parse(":bob:bob-password").unwrap();
    let (acc, _clock) = clocked(NtlmAcceptor::new(users, "EXAMPLE", "SRV"));
    for i in 0..5 {
        let _ = run(
            &acc,
            NtlmClient::new(&format!("DOM{i}"), "bob", "guess"),
            None,
        );
    }
    let e = run(&acc, NtlmClient::new("OTHER", "bob", "bob-password"), None).unwrap_err();
    assert!(e.to_string().contains("throttled"), "{e}");
}

#[test]
fn throttling_can_be_turned_off_explicitly() {
    let (acc, _clock) = clocked(acceptor().without_throttle());
    for _ in 0..20 {
        assert!(run_from(&acc, NtlmClient::new("TESTDOM", "alice", "x"), "192.0.2.7").is_err());
    }
    assert!(run_from(&acc, alice(), "192.0.2.7").is_ok());
}

#[test]
fn user_and_domain_are_case_insensitive() {
    let c = run(
        &acceptor(),
        NtlmClient::new("testdom", "ALICE", "userpw"),
        None,
    )
    .unwrap();
    assert_eq!(c.identity.user, "alice");
}

#[test]
fn altered_message_fails_the_mic() {
    let acc = acceptor();
    let mut ctx = acc.new_context();
    let mut client = alice();
    let Ok(Step::Continue(challenge)) = ctx.step(&client.negotiate(), None) else {
        panic!()
    };
    let mut auth = client.authenticate(&challenge).unwrap();
    // Clear NTLMSSP_NEGOTIATE_SIGN-class flag bits the MIC covers (NTProofStr does not).
    auth[61] ^= 0x80;
    let e = ctx.step(&auth, None).unwrap_err();
    assert!(e.to_string().contains("MIC mismatch"), "{e}");
}

#[test]
fn no_mic_is_accepted_from_clients_that_do_not_announce_one() {
    let c = run(&acceptor(), alice().mic(false), None).unwrap();
    assert_eq!(c.identity.user, "alice");
}

#[test]
fn timestamp_outside_the_window_is_refused() {
    let now = Arc::new(AtomicU64::new(1_800_000_000));
    let clock = now.clone();
    let acc = acceptor()
        .with_clock(move || UNIX_EPOCH + Duration::from_secs(clock.load(Ordering::SeqCst)));
    let mut ctx = acc.new_context();
    let mut client = alice();
    let Ok(Step::Continue(challenge)) = ctx.step(&client.negotiate(), None) else {
        panic!()
    };
    let auth = client.authenticate(&challenge).unwrap();
    now.fetch_add(301, Ordering::SeqCst);
    let e = ctx.step(&auth, None).unwrap_err();
    assert!(e.to_string().contains("timestamp"), "{e}");
    assert_eq!(e.status(), 401);
}

/// Rewrites the NtChallengeResponse field of an AUTHENTICATE message.
fn with_nt_response(auth: &[u8], nt: &[u8]) -> Vec<u8> {
    let mut m = auth.to_vec();
    let off = m.len();
    m.extend_from_slice(nt);
    m[20..22].copy_from_slice(&(nt.len() as u16).to_le_bytes());
    m[22..24].copy_from_slice(&(nt.len() as u16).to_le_bytes());
    m[24..28].copy_from_slice(&(off as u32).to_le_bytes());
    m
}

#[test]
fn ntlmv1_lm_and_anonymous_are_refused() {
    for (nt, word) in [(vec![0x11; 24], "NTLMv1"), (vec![], "LM and anonymous")] {
        let acc = acceptor();
        let mut ctx = acc.new_context();
        let mut client = alice();
        let Ok(Step::Continue(challenge)) = ctx.step(&client.negotiate(), None) else {
            panic!()
        };
        let auth = with_nt_response(&client.authenticate(&challenge).unwrap(), &nt);
        let e = ctx.step(&auth, None).unwrap_err();
        assert!(e.to_string().contains(word), "{e}");
        assert_eq!(e.status(), 401);
    }
}

#[test]
fn out_of_sequence_and_garbage_are_invalid_tokens() {
    let acc = acceptor();
    // AUTHENTICATE first.
    let mut ctx = acc.new_context();
    let mut m = wire::SIGNATURE.to_vec();
    m.extend(3u32.to_le_bytes());
    m.resize(88, 0);
    assert_eq!(ctx.step(&m, None).unwrap_err().status(), 400);
    for garbage in [&b""[..], b"NTLMSSP\0", b"hello world", &[0u8; 200]] {
        let mut ctx = acc.new_context();
        assert_eq!(
            ctx.step(garbage, None).unwrap_err().status(),
            400,
            "{garbage:?}"
        );
    }
    // SPNEGO is not this backend's.
    let mut ctx = acc.new_context();
    assert!(matches!(
        ctx.step(&[0x60, 0x03, 0, 0, 0], None),
        Err(AuthError::Unsupported(_))
    ));
    // A completed context refuses more tokens.
    let mut ctx = acc.new_context();
    let mut client = alice();
    let Ok(Step::Continue(ch)) = ctx.step(&client.negotiate(), None) else {
        panic!()
    };
    let auth = client.authenticate(&ch).unwrap();
    assert!(ctx.step(&auth, None).is_ok());
    assert_eq!(ctx.step(&auth, None).unwrap_err().status(), 400);
}

#[test]
fn a_challenge_is_used_once_replay_on_a_new_context_fails() {
    let acc = acceptor();
    let mut ctx = acc.new_context();
    let mut client = alice();
    let Ok(Step::Continue(ch)) = ctx.step(&client.negotiate(), None) else {
        panic!()
    };
    let auth = client.authenticate(&ch).unwrap();
    assert!(ctx.step(&auth, None).is_ok());
    // The attacker replays the AUTHENTICATE against a fresh exchange (new random challenge).
    let mut ctx2 = acc.new_context();
    let Ok(Step::Continue(_)) = ctx2.step(&client.negotiate(), None) else {
        panic!()
    };
    assert_eq!(ctx2.step(&auth, None).unwrap_err().status(), 401);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_tokens_never_panic(first in proptest::collection::vec(any::<u8>(), 0..300),
                                        second in proptest::collection::vec(any::<u8>(), 0..300)) {
            let acc = acceptor();
            let mut ctx = acc.new_context();
            let _ = ctx.step(&first, None);
            let _ = ctx.step(&second, Some(&expected()));
        }

        #[test]
        fn mutated_authenticate_never_panics_and_never_accepts_a_wrong_binding(
            index in 0usize..400, byte in any::<u8>()
        ) {
            let acc = acceptor();
            let e = expected();
            let mut ctx = acc.new_context();
            let mut client = alice().binding(ClientBinding::Hash([9; 16]));
            let Ok(Step::Continue(ch)) = ctx.step(&client.negotiate(), Some(&e)) else { panic!() };
            let mut auth = client.authenticate(&ch).unwrap();
            let i = index % auth.len();
            auth[i] = byte;
            if let Ok(Step::Complete(c)) = ctx.step(&auth, Some(&e)) {
                prop_assert_ne!(c.channel_binding, BindingObservation::Match);
            }
        }
    }
}

#[test]
fn inspect_authenticate_reads_what_the_client_claims() {
    let e = expected();
    let acc = acceptor();
    for (binding, want) in [
        (ClientBinding::Hash(e.md5().0), BindingObservation::Match),
        (ClientBinding::Hash([5; 16]), BindingObservation::Mismatch),
        (ClientBinding::Absent, BindingObservation::Absent),
        (ClientBinding::Unbound, BindingObservation::Unbound),
    ] {
        let mut ctx = acc.new_context();
        let mut client = alice()
            .binding(binding)
            .target_name(Some("HTTP/www.contoso.com"));
        let Ok(Step::Continue(ch)) = ctx.step(&client.negotiate(), None) else {
            panic!()
        };
        let auth = client.authenticate(&ch).unwrap();
        let (observed, spn) = inspect_authenticate(&auth, Some(&e)).unwrap();
        assert_eq!(observed, want);
        assert_eq!(spn, ClientServiceName::Value("HTTP/www.contoso.com".into()));
    }
    assert!(inspect_authenticate(b"NTLMSSP\0\x01\0\0\0", Some(&e)).is_none());
    assert!(inspect_authenticate(b"", None).is_none());
}
