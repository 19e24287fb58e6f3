//! Differential fuzzing: the same NTLM exchange, crafted by epa's test client and then mutated,
//! against epa's embedded acceptor (+ `decide` under `when-supported`, HTTPS) and the `sspi`
//! crate's NTLM acceptor (handed the same channel binding). Under `when-supported` the two agree
//! on every binding state (M accept, X refuse, A accept, Z refuse: sspi compares zeros like any
//! value), so any accept/refuse disagreement outside `documented_divergence` is a crash.
//!
//! Input: byte 0 chooses the client (bits 0-1 binding right / wrong / absent / zero, bit 2 MIC,
//! bit 3 target name, bit 4 wrong password, bit 5 truncate by byte 1 % 40); then triples
//! (offset low, offset high, xor) mutate the AUTHENTICATE message at offsets whose meaning is
//! the same in both exchanges (each acceptor issues its own challenge, so the AV pairs differ in
//! length; only the fixed header and the start of the NTLMv2 response line up).

#![no_main]

use epa_core::authenticator::{Authenticator, ExpectedBindings, Step};
use epa_core::decide::{Mechanism, Profile, RequestFacts, ServerPolicy, Transport, decide};
use epa_core::policy::{ExtendedProtectionPolicy, PolicyEnforcement, ProtectionScenario};
use epa_core::{ChannelBinding, ServiceNameCollection};
use epa_hyper::ntlm::client::{ClientBinding, NtlmClient};
use epa_hyper::ntlm::{NtlmAcceptor, UserDb};
use libfuzzer_sys::fuzz_target;
use sspi::{
    AuthIdentity, BufferType, CredentialUse, DataRepresentation, Ntlm, SecurityBuffer,
    SecurityStatus, ServerRequestFlags, Sspi, SspiImpl, Username,
};

/// Header (88) + LmChallengeResponse (24) + NTProofStr (16) + the NTLMv2 blob header (28).
const ALIGNED: usize = 156;

/// Header bytes whose value differs between the two exchanges (the NtChallengeResponse length,
/// and the offsets of the payloads after it): a mutation there means different things.
fn unaligned(offset: usize) -> bool {
    matches!(offset, 20..=23 | 24..=27 | 32..=35 | 40..=43 | 48..=51 | 56..=59)
}

struct Case {
    binding: ClientBinding,
    mic: bool,
    target_name: bool,
    password: &'static str,
    truncate: usize,
    mutations: Vec<(usize, u8)>,
}

fn case(data: &[u8], expected: &ExpectedBindings) -> Option<Case> {
    let (&head, rest) = data.split_first()?;
    let binding = match head & 3 {
        0 => ClientBinding::Hash(expected.md5().0),
        1 => ClientBinding::Hash([0xab; 16]),
        2 => ClientBinding::Absent,
        _ => ClientBinding::Unbound,
    };
    let truncate = if head & 0x20 != 0 {
        usize::from(*rest.first()?) % 40
    } else {
        0
    };
    let mutations = rest
        .chunks_exact(3)
        .map(|t| {
            (
                usize::from(u16::from_le_bytes([t[0], t[1]])) % ALIGNED,
                t[2],
            )
        })
        .filter(|(o, x)| !unaligned(*o) && *x != 0)
        .collect();
    Some(Case {
        binding,
        mic: head & 4 != 0,
        target_name: head & 8 != 0,
        password: if head & 0x10 != 0 { "wrong" } else { "userpw" },
        truncate,
        mutations,
    })
}

fn client(c: &Case) -> NtlmClient {
    NtlmClient::new("TESTDOM", "alice", c.password)
        .binding(c.binding)
        .mic(c.mic)
        .target_name(c.target_name.then_some("HTTP/server.test"))
}

fn mutate(c: &Case, mut msg: Vec<u8>) -> Vec<u8> {
    for &(o, x) in &c.mutations {
        if let Some(b) = msg.get_mut(o) {
            *b ^= x;
        }
    }
    let keep = msg.len().saturating_sub(c.truncate);
    msg.truncate(keep);
    msg
}

/// epa: the embedded acceptor, then the decision under when-supported on HTTPS.
fn epa(c: &Case, expected: &ExpectedBindings) -> (bool, String) {
    let users = UserDb::parse("TESTDOM:alice:userpw\n").expect("user file");
    let acceptor = NtlmAcceptor::new(users, "TESTDOM", "SERVER");
    let mut ctx = acceptor.new_context();
    let mut cl = client(c);
    let Ok(Step::Continue(challenge)) = ctx.step(&cl.negotiate(), Some(expected))
    else {
        return (false, "negotiate refused".into());
    };
    let Ok(auth) = cl.authenticate(&challenge) else {
        return (false, "client failed".into());
    };
    match ctx.step(&mutate(c, auth), Some(expected)) {
        Ok(Step::Complete(done)) => {
            let policy = ExtendedProtectionPolicy::new(
                PolicyEnforcement::WhenSupported,
                ProtectionScenario::TransportSelected,
                None,
            )
            .expect("policy");
            let names = ServiceNameCollection::new(["HTTP/server.test"]).expect("names");
            let server = ServerPolicy::new(policy, &names, Profile::Documented).expect("server");
            let facts = RequestFacts {
                transport: Transport::Https,
                mechanism: Mechanism::Ntlm,
                server_supports_ep: true,
                channel_binding: done.channel_binding,
                client_spn: done.client_spn,
            };
            let d = decide(&server, &facts);
            (d.is_accept(), format!("{:?}", d.reason()))
        }
        Ok(Step::Continue(_)) => (false, "continue".into()),
        Err(e) => (false, e.to_string()),
    }
}

/// sspi: its NTLM acceptor for alice, handed the same binding as a SEC_CHANNEL_BINDINGS blob.
fn sspi(c: &Case, expected: &ExpectedBindings) -> (bool, String) {
    let Ok(username) = Username::new("alice", Some("TESTDOM")) else {
        return (false, "username".into());
    };
    let identity = AuthIdentity {
        username,
        password: String::from("userpw").into(),
    };
    let Ok(blob) = expected.gss().to_sec_channel_bindings() else {
        return (false, "binding blob".into());
    };
    let mut ntlm = Ntlm::new();
    let Ok(mut creds) = ntlm
        .acquire_credentials_handle()
        .with_credential_use(CredentialUse::Inbound)
        .with_auth_data(&identity)
        .execute(&mut ntlm)
    else {
        return (false, "credentials".into());
    };
    let mut cl = client(c);
    let mut step = |ntlm: &mut Ntlm, token: Vec<u8>| {
        let mut input = vec![
            SecurityBuffer::new(token, BufferType::Token),
            SecurityBuffer::new(blob.clone(), BufferType::ChannelBindings),
        ];
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let builder = ntlm
            .accept_security_context()
            .with_credentials_handle(&mut creds.credentials_handle)
            .with_context_requirements(ServerRequestFlags::ALLOCATE_MEMORY)
            .with_target_data_representation(DataRepresentation::Native)
            .with_input(&mut input)
            .with_output(&mut output);
        let result = ntlm
            .accept_security_context_impl(builder)
            .and_then(|mut g| g.resolve_to_result())
            .map_err(|e| e.to_string())?;
        if matches!(
            result.status,
            SecurityStatus::CompleteNeeded | SecurityStatus::CompleteAndContinue
        ) {
            ntlm.complete_auth_token(&mut output)
                .map_err(|e| e.to_string())?;
        }
        Ok::<_, String>((result.status, output[0].buffer.clone()))
    };
    let challenge = match step(&mut ntlm, cl.negotiate()) {
        Ok((SecurityStatus::ContinueNeeded, t)) => t,
        Ok((s, _)) => return (false, format!("negotiate: {s:?}")),
        Err(e) => return (false, format!("negotiate: {e}")),
    };
    let Ok(auth) = cl.authenticate(&challenge) else {
        return (false, "client failed".into());
    };
    match step(&mut ntlm, mutate(c, auth)) {
        Ok((SecurityStatus::Ok | SecurityStatus::CompleteNeeded, _)) => (true, "ok".into()),
        Ok((s, _)) => (false, format!("{s:?}")),
        Err(e) => (false, e),
    }
}

/// Disagreements explained in docs/interop.md ("Differential fuzzing"); everything else crashes.
///
/// Found by this target: sspi 0.23.1 never compares the NTProofStr. `complete_authenticate`
/// recomputes the keys from the candidate password and checks only the MIC, so a message it
/// verifies no MIC on (no `MsvAvFlags` 0x2, or `NEGOTIATE_TARGET_INFO` cleared in the header,
/// which makes it skip reading the MIC) is accepted with any password and any NTLMv2 blob. epa
/// refuses those (wrong password, malformed blob, MIC mismatch).
///
/// And epa's: it does not read the LmChallengeResponse and Workstation fields of an NTLMv2
/// AUTHENTICATE (it uses neither), nor, without a MIC, the session key, so their descriptors
/// may point anywhere; sspi parses them and refuses. Not a security property: without a MIC
/// nothing protects those bytes.
fn documented_divergence(c: &Case, epa: &(bool, String), sspi: &(bool, String)) -> bool {
    let touched = |r: std::ops::Range<usize>| c.mutations.iter().any(|(o, _)| r.contains(o));
    let no_verified_mic = !c.mic || touched(60..64);
    let unused_field = touched(12..20) || touched(44..52);
    // Without a MIC epa never uses the session key, so neither its descriptor nor KEY_EXCH
    // matters to it; sspi refuses a key that disagrees with the flag.
    let unused_key = !c.mic && (touched(52..60) || touched(60..64));
    (sspi.0 && !epa.0 && no_verified_mic) || (epa.0 && !sspi.0 && (unused_field || unused_key))
}

fuzz_target!(|data: &[u8]| {
    let expected =
        ExpectedBindings::new(ChannelBinding::tls_server_end_point_from_hash(&[0x11; 32]));
    let Some(c) = case(data, &expected) else {
        return;
    };
    let ours = epa(&c, &expected);
    let theirs = sspi(&c, &expected);
    if ours.0 != theirs.0 && !documented_divergence(&c, &ours, &theirs) {
        panic!(
            "divergence: binding {:?}, mic {}, target {}, password {}, truncate {}, mutations {:?}: epa {:?}, sspi {:?}",
            c.binding, c.mic, c.target_name, c.password, c.truncate, c.mutations, ours, theirs
        );
    }
});
