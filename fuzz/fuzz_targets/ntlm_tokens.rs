//! Any bytes as the two NTLM legs a client sends: never a panic, and never a "match" for a
//! binding the acceptor was not given.
#![no_main]
use epa_core::ChannelBinding;
use epa_core::decide::BindingObservation;
use epa_core::authenticator::{Authenticator, ExpectedBindings, Step};
use epa_ntlm::{NtlmAcceptor, UserDb};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len().saturating_sub(1));
    let (first, second) = data.get(1..).unwrap_or_default().split_at(split.min(data.len().saturating_sub(1)));
    let mut users = UserDb::default();
    users.add_password("D", "u", "p");
    let acceptor = NtlmAcceptor::new(users, "D", "S");
    let expected = ExpectedBindings::new(ChannelBinding::tls_server_end_point_from_hash(&[3; 32]));
    // The unauthenticated reader the GSSAPI backend uses must be total too.
    let _ = epa_ntlm::inspect_authenticate(second, Some(&expected));
    let mut ctx = acceptor.new_context();
    let _ = ctx.step(first, Some(&expected));
    if let Ok(Step::Complete(c)) = ctx.step(second, None) {
        // Nothing was expected on this leg, so nothing can match.
        assert_ne!(c.channel_binding, BindingObservation::Match);
    }
});
