//! The NTLM binding-interop matrix (docs/interop.md), measured: the same crafted NTLM exchanges
//! (binding absent / all-zero / right / wrong, MIC present / absent / altered, `MsvAvFlags` 0x4,
//! target name present / absent / other / empty, NTLMv1, LM) against three acceptors that do not
//! share code:
//!
//! * epa's embedded acceptor (`epa_hyper::ntlm::NtlmAcceptor`), then `epa_core::decide` under
//!   `never` / `when-supported` / `always`, on HTTPS (binding checked) and plain HTTP (name
//!   checked);
//! * pyspnego's NTLM acceptor (`spnego.server(protocol="ntlm")`), given the server's binding;
//! * gss-ntlmssp through MIT's mechglue (python-gssapi's acceptor), given the server's binding.
//!
//! The client is `tests/clients/ntlm_interop.py` (pyspnego's NTLM primitives, so any value can be
//! sent); the test carries every token between it and each acceptor. Each acceptor issues its own
//! challenge, so "the same message" means the same construction answering that acceptor's
//! challenge. Every measured cell is compared with a written expectation (`EXPECTED`): epa's
//! columns with the IIS/SSPI outcome of docs/windows-semantics.md, the other acceptors' with
//! their own behaviour, so a divergence from IIS is asserted, not skipped. The rendered rows must
//! appear verbatim in docs/interop.md (`EPA_INTEROP_PRINT=1` prints them).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

#[cfg(feature = "gssapi")]
#[path = "interop/gssapi.rs"]
mod gssapi;
#[cfg(feature = "gssapi")]
#[path = "interop/kerberos.rs"]
mod kerberos;

use epa_core::authenticator::{AuthError, ExpectedBindings, Scheme, Step};
use epa_core::decide::{
    BindingObservation, ClientServiceName, ExpectedBinding, Mechanism, Profile, RequestFacts,
    ServerPolicy, Transport, decide,
};
use epa_core::policy::{ExtendedProtectionPolicy, PolicyEnforcement, ProtectionScenario};
use epa_core::{ChannelBinding, ServiceNameCollection};
use epa_hyper::ntlm::client::{ClientBinding, NtlmClient};
use epa_hyper::ntlm::{NtlmAcceptor, UserDb};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

const SPN: &str = "HTTP/server.test";

/// The server's binding: `tls-server-end-point` of a certificate whose hash is 32 × 0x11.
fn server_binding() -> ExpectedBindings {
    ExpectedBindings::new(ChannelBinding::tls_server_end_point_from_hash(&[0x11; 32]))
}

/// A client leg: the NEGOTIATE (no challenge yet), or the AUTHENTICATE answering a challenge.
type ClientLeg<'a> = dyn FnMut(&mut Peer, Option<&[u8]>) -> Vec<u8> + 'a;

/// The Python peer (client and foreign acceptors), one JSON line per request.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// With extra environment (the Kerberos realm's).
    fn start_with(env: &[(String, String)]) -> Self {
        let dir = support::workdir().join(format!("interop-{}", support::rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let users = dir.join("ntlm-users");
        std::fs::write(&users, "TESTDOM:alice:userpw\n").unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/ntlm_interop.py");
        let mut child = Command::new(support::python())
            .arg(script)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("NTLM_USER_FILE", &users)
            // Defaults of both foreign acceptors are measured: no LM_COMPAT_LEVEL.
            .env_remove("LM_COMPAT_LEVEL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            stdin,
            stdout,
        }
    }

    fn rpc(&mut self, request: Value) -> Value {
        writeln!(self.stdin, "{request}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the Python peer died on {request}");
        serde_json::from_str(&line).unwrap()
    }

    fn token(&mut self, request: Value) -> Vec<u8> {
        let answer = self.rpc(request);
        let token = answer["token"].as_str();
        hex::decode(token.unwrap_or_else(|| panic!("no token: {answer}"))).unwrap()
    }

    /// A foreign acceptor's verdict on one exchange driven by `client`.
    fn foreign(&mut self, kind: &str, client: &mut ClientLeg<'_>) -> String {
        let cbt = hex::encode(server_binding().binding().application_data());
        self.rpc(json!({"op": "acceptor", "kind": kind, "cbt": cbt}));
        let negotiate = client(self, None);
        let answer = self.rpc(json!({"op": "accept", "token": hex::encode(negotiate)}));
        let Some(challenge) = answer["token"].as_str() else {
            return format!("refused at NEGOTIATE: {}", answer["error"]);
        };
        let authenticate = client(self, Some(&hex::decode(challenge).unwrap()));
        let answer = self.rpc(json!({"op": "accept", "token": hex::encode(authenticate)}));
        verdict(&answer)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `accept`, `accept (bound)` / `accept (not bound)` where the acceptor reports the GSS flag, or
/// the refusal's exception class (with gss-ntlmssp's minor text, which names the cause).
fn verdict(answer: &Value) -> String {
    if answer["ok"] == true && answer["complete"] == true {
        return match answer["channel_bound"].as_bool() {
            Some(true) => "accept (bound)".into(),
            Some(false) => "accept (not bound)".into(),
            None => "accept".into(),
        };
    }
    let error = answer["error"].as_str().unwrap_or("?");
    let message = answer["message"].as_str().unwrap_or("");
    match message.split_once("Minor (") {
        Some((_, minor)) => match minor.split_once("): ").map_or(minor, |m| m.1) {
            "Success" => error.to_owned(),
            text => format!("{error}: {text}"),
        },
        None => error.to_owned(),
    }
}

/// One crafted client, as `ntlm_interop.py` takes it.
fn case(extra: Value) -> Value {
    let mut c = json!({"user": "alice", "domain": "TESTDOM", "password": "userpw",
                       "version": "v2", "binding": null, "mic": "ok",
                       "untrusted_spn": false, "target_name": SPN});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn right() -> String {
    hex::encode(server_binding().md5().0)
}

/// The rows of docs/interop.md: id, what the client sends.
fn rows() -> Vec<(&'static str, Value)> {
    let wrong = hex::encode([0xab; 16]);
    let zero = hex::encode([0; 16]);
    vec![
        ("cb-right", case(json!({"binding": right()}))),
        ("cb-wrong", case(json!({"binding": wrong}))),
        ("cb-absent", case(json!({}))),
        ("cb-zero", case(json!({"binding": zero}))),
        (
            "cb-right-no-mic",
            case(json!({"binding": right(), "mic": "none"})),
        ),
        ("cb-absent-no-mic", case(json!({"mic": "none"}))),
        (
            "mic-altered",
            case(json!({"binding": right(), "mic": "altered"})),
        ),
        (
            "spn-untrusted-flag",
            case(json!({"binding": right(), "untrusted_spn": true})),
        ),
        (
            "spn-absent",
            case(json!({"binding": right(), "target_name": null})),
        ),
        (
            "spn-other",
            case(json!({"binding": right(), "target_name": "HTTP/evil.test"})),
        ),
        (
            "spn-empty",
            case(json!({"binding": right(), "target_name": ""})),
        ),
        ("ntlmv1", case(json!({"version": "v1"}))),
        ("lm-only", case(json!({"version": "lm"}))),
        (
            "wrong-password",
            case(json!({"binding": right(), "password": "nope"})),
        ),
    ]
}

/// Which epa backend an exchange goes to.
#[derive(Clone, Copy)]
enum Backend {
    /// `epa_hyper::ntlm::NtlmAcceptor`, raw NTLMSSP under the `NTLM` scheme.
    Embedded,
    /// `epa_hyper::gssapi::GssapiAcceptor` (gss-ntlmssp), raw NTLMSSP under `Negotiate`.
    #[cfg(feature = "gssapi")]
    Gssapi,
}

/// An epa backend on one exchange: what it reports to the decision, or its refusal.
fn epa_acceptor(
    peer: &mut Peer,
    backend: Backend,
    client: &Value,
    expected: Option<&ExpectedBindings>,
) -> Result<(BindingObservation, ClientServiceName), AuthError> {
    use epa_core::authenticator::Authenticator;
    let (authenticator, _scheme): (Box<dyn Authenticator>, Scheme) = match backend {
        Backend::Embedded => {
            let users = UserDb::parse("TESTDOM:alice:userpw\n").unwrap();
            let acceptor = NtlmAcceptor::new(users, "TESTDOM", "SERVER");
            (Box::new(acceptor), Scheme::Ntlm)
        }
        #[cfg(feature = "gssapi")]
        Backend::Gssapi => (
            Box::new(epa_hyper::gssapi::GssapiAcceptor::new()),
            Scheme::Negotiate,
        ),
    };
    let mut ctx = authenticator.new_context();
    let negotiate = peer.token(json!({"op": "client", "case": client}));
    let Step::Continue(challenge) = ctx.step(&negotiate, expected)? else {
        panic!("NEGOTIATE completed")
    };
    let authenticate =
        peer.token(json!({"op": "client_auth", "challenge": hex::encode(challenge)}));
    match ctx.step(&authenticate, expected)? {
        Step::Complete(c) => Ok((c.channel_binding, c.client_spn)),
        Step::Continue(_) => panic!("AUTHENTICATE did not complete"),
    }
}

fn server_policy(enforcement: PolicyEnforcement) -> ServerPolicy {
    let policy = match enforcement {
        PolicyEnforcement::Never => ExtendedProtectionPolicy::never(),
        e => ExtendedProtectionPolicy::with_service_names(
            e,
            ProtectionScenario::TransportSelected,
            [SPN],
        )
        .unwrap(),
    };
    let defaults = ServiceNameCollection::new([SPN]).unwrap();
    ServerPolicy::new(policy, &defaults, Profile::Documented).unwrap()
}

/// epa's outcome (`accept` or the status) for one exchange under `enforcement` on `transport`.
fn epa_outcome(
    peer: &mut Peer,
    backend: Backend,
    client: &Value,
    enforcement: PolicyEnforcement,
    transport: Transport,
) -> String {
    let server = server_policy(enforcement);
    let binding = server_binding();
    let expected = match server.expected_binding(transport) {
        ExpectedBinding::None => None,
        ExpectedBinding::Connection | ExpectedBinding::Configured(_) => Some(&binding),
    };
    match epa_acceptor(peer, backend, client, expected) {
        Err(e) => e.status().to_string(),
        Ok((channel_binding, client_spn)) => {
            let facts = RequestFacts {
                transport,
                mechanism: Mechanism::Ntlm,
                server_supports_ep: true,
                channel_binding,
                client_spn,
            };
            match decide(&server, &facts) {
                d if d.is_accept() => "accept".into(),
                d => d.status().unwrap_or(0).to_string(),
            }
        }
    }
}

fn observation(r: Result<(BindingObservation, ClientServiceName), AuthError>) -> String {
    match r {
        Ok((b, spn)) => format!(
            "{}, name {}",
            b.name(),
            spn.as_option()
                .map_or("none".to_owned(), |s| format!("`{s}`"))
        ),
        Err(AuthError::LogonDenied(m)) => format!("refused: {m}"),
        Err(AuthError::Refused { message, .. }) => format!("refused: {message}"),
        Err(e) => format!("refused: {e}"),
    }
}

const COLUMNS: &str = "| row | epa acceptor reports (HTTPS) | epa HTTPS never | epa HTTPS when-supported | epa HTTPS always | epa HTTP when-supported | epa HTTP always | pyspnego acceptor | gss-ntlmssp acceptor |";

/// One measured row of docs/interop.md.
fn measure(peer: &mut Peer, id: &str, client: &Value) -> String {
    use PolicyEnforcement::{Always, Never, WhenSupported};
    let binding = server_binding();
    let mut cells = vec![
        id.to_owned(),
        observation(epa_acceptor(
            peer,
            Backend::Embedded,
            client,
            Some(&binding),
        )),
    ];
    for e in [Never, WhenSupported, Always] {
        cells.push(epa_outcome(
            peer,
            Backend::Embedded,
            client,
            e,
            Transport::Https,
        ));
    }
    for e in [WhenSupported, Always] {
        cells.push(epa_outcome(
            peer,
            Backend::Embedded,
            client,
            e,
            Transport::Http,
        ));
    }
    for kind in ["pyspnego", "gss-ntlmssp"] {
        let mut drive = |p: &mut Peer, challenge: Option<&[u8]>| match challenge {
            None => p.token(json!({"op": "client", "case": client})),
            Some(c) => p.token(json!({"op": "client_auth", "challenge": hex::encode(c)})),
        };
        cells.push(peer.foreign(kind, &mut drive));
    }
    format!("| {} |", cells.join(" | "))
}

/// What each cell must be. epa's HTTPS/HTTP columns are the IIS/SSPI outcomes of
/// docs/windows-semantics.md §4.5 (binding) and §4.8 (documented contract, names), except where
/// a note in docs/interop.md says why not (NTLMv1/LM: epa refuses, Windows follows the domain's
/// LmCompatibilityLevel; an altered MIC: both refuse, the status Windows gives is not measured). The pyspnego and gss-ntlmssp columns are those libraries' own
/// behaviour, divergences from IIS included.
const EXPECTED: &[&str] = &[
    "| cb-right | match, name `HTTP/server.test` | accept | accept | accept | accept | accept | accept | accept (bound) |",
    "| cb-wrong | mismatch, name `HTTP/server.test` | accept | 401 | 401 | accept | accept | BadBindingsError | InvalidTokenError: Permission denied |",
    "| cb-absent | absent, name `HTTP/server.test` | accept | accept | 401 | accept | accept | BadBindingsError | accept (not bound) |",
    "| cb-zero | unbound, name `HTTP/server.test` | accept | 401 | 401 | accept | accept | accept | accept (not bound) |",
    "| cb-right-no-mic | match, name `HTTP/server.test` | accept | accept | accept | accept | accept | accept | accept (bound) |",
    "| cb-absent-no-mic | absent, name `HTTP/server.test` | accept | accept | 401 | accept | accept | BadBindingsError | accept (not bound) |",
    "| mic-altered | refused: MIC mismatch: the NTLM messages were altered | 401 | 401 | 401 | 401 | 401 | InvalidTokenError | InvalidTokenError: Permission denied |",
    "| spn-untrusted-flag | match, name none | accept | accept | accept | accept | 401 | accept | accept (bound) |",
    "| spn-absent | match, name none | accept | accept | accept | accept | 401 | accept | accept (bound) |",
    "| spn-other | match, name `HTTP/evil.test` | accept | accept | accept | 401 | 401 | accept | accept (bound) |",
    "| spn-empty | match, name `` | accept | accept | accept | 401 | 401 | accept | accept (bound) |",
    "| ntlmv1 | refused: NTLMv1 is refused | 401 | 401 | 401 | 401 | 401 | accept | GSSError: NTLM version 1 not allowed |",
    "| lm-only | refused: LM and anonymous authentication are refused | 401 | 401 | 401 | 401 | 401 | accept | GSSError: Invalid argument |",
    "| wrong-password | refused: unknown user or wrong password for TESTDOM\\alice | 401 | 401 | 401 | 401 | 401 | InvalidTokenError | GSSError: Invalid argument |",
];

/// Compares measured rows with the expectations and with docs/interop.md.
fn check_rows(header: &str, measured: &[String], expected: &[&str]) {
    if std::env::var_os("EPA_INTEROP_PRINT").is_some() {
        println!("{header}\n{}", measured.join("\n"));
    }
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/interop.md"))
            .unwrap();
    assert!(
        doc.contains(header),
        "docs/interop.md lacks the header {header}"
    );
    let mut failures = Vec::new();
    for (got, want) in measured.iter().zip(expected) {
        if got != want {
            failures.push(format!("measured {got}\nexpected {want}"));
        }
        if !doc.contains(got.as_str()) {
            failures.push(format!("docs/interop.md lacks the measured row {got}"));
        }
    }
    assert_eq!(measured.len(), expected.len(), "{measured:#?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn ntlm_binding_matrix_matches_documented_expectations() {
    let mut peer = Peer::start();
    let measured: Vec<String> = rows()
        .iter()
        .map(|(id, client)| measure(&mut peer, id, client))
        .collect();
    check_rows(COLUMNS, &measured, EXPECTED);
}

/// The other client: epa's own test client (`NtlmClient`) against the two foreign acceptors,
/// so the matrix does not rest on one crafting client. Without a MIC the verdicts are the
/// matrix's. With one they differ for pyspnego: `NtlmClient` negotiates `KEY_EXCH` without
/// `SIGN`/`SEAL`, and pyspnego's acceptor then takes the MIC key to be the KeyExchangeKey instead
/// of the exchanged random session key (spnego/_ntlm.py `_step_accept_authenticate`), so every
/// MIC fails; gss-ntlmssp and epa's acceptor use the exchanged key whenever `KEY_EXCH` is set.
#[test]
fn epa_test_client_gets_the_same_verdicts_from_foreign_acceptors() {
    let mut peer = Peer::start();
    let right = ClientBinding::Hash(server_binding().md5().0);
    let wrong = ClientBinding::Hash([0xab; 16]);
    let bad_bindings = "BadBindingsError";
    let permission = "InvalidTokenError: Permission denied";
    let cases = [
        // (binding, MIC, pyspnego, gss-ntlmssp)
        (right, false, "accept", "accept (bound)"),
        (wrong, false, bad_bindings, permission),
        (
            ClientBinding::Absent,
            false,
            bad_bindings,
            "accept (not bound)",
        ),
        (
            ClientBinding::Unbound,
            false,
            "accept",
            "accept (not bound)",
        ),
        (right, true, "InvalidTokenError", "accept (bound)"),
        (wrong, true, bad_bindings, permission),
        (
            ClientBinding::Absent,
            true,
            bad_bindings,
            "accept (not bound)",
        ),
        (
            ClientBinding::Unbound,
            true,
            "InvalidTokenError",
            "accept (not bound)",
        ),
    ];
    for (binding, mic, pyspnego, gss) in cases {
        for (kind, want) in [("pyspnego", pyspnego), ("gss-ntlmssp", gss)] {
            let mut client = NtlmClient::new("TESTDOM", "alice", "userpw")
                .binding(binding)
                .target_name(Some(SPN))
                .mic(mic);
            let mut drive = |_: &mut Peer, challenge: Option<&[u8]>| match challenge {
                None => client.negotiate(),
                Some(c) => client.authenticate(c).unwrap(),
            };
            let got = peer.foreign(kind, &mut drive);
            assert_eq!(got, want, "{kind} on {binding:?}, MIC {mic}");
        }
    }
}
