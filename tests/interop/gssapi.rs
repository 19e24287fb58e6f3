//! The NTLM rows of docs/interop.md through epa's GSSAPI backend (gss-ntlmssp under MIT's
//! mechglue), measured in a child run of the test binary with `NTLM_USER_FILE` set.

use super::{
    Backend, Peer, check_rows, epa_acceptor, epa_outcome, observation, rows, server_binding,
    support,
};
use epa_core::authenticator::AuthError;
use epa_core::decide::Transport;
use epa_core::policy::PolicyEnforcement;
use serde_json::Value;
use std::process::Command;

/// gss-ntlmssp through epa's GSSAPI backend (`epa_hyper::gssapi`): what the backend reports
/// and the outcome under each enforcement, on the same rows.
pub const GSSAPI_COLUMNS: &str = "| row | epa gssapi backend reports (HTTPS) | gssapi HTTPS never | gssapi HTTPS when-supported | gssapi HTTPS always | gssapi HTTP when-supported | gssapi HTTP always |";

/// What each gssapi-backend cell must be. Where it differs from the embedded backend's row the
/// difference is gss-ntlmssp's, noted in docs/interop.md.
const GSSAPI_EXPECTED: &[&str] = &[
    "| cb-right | match, name `HTTP/server.test` | accept | accept | accept | accept | accept |",
    "| cb-wrong | refused: bad bindings (mismatch), 401 | accept | 401 | 401 | accept | accept |",
    "| cb-absent | absent, name `HTTP/server.test` | accept | accept | 401 | accept | accept |",
    "| cb-zero | unbound, name `HTTP/server.test` | accept | 401 | 401 | accept | accept |",
    "| cb-right-no-mic | match, name `HTTP/server.test` | accept | accept | accept | accept | accept |",
    "| cb-absent-no-mic | absent, name `HTTP/server.test` | accept | accept | 401 | accept | accept |",
    "| mic-altered | refused: invalid token, 400 | 400 | 400 | 400 | 400 | 400 |",
    "| spn-untrusted-flag | match, name none | accept | accept | accept | accept | 401 |",
    "| spn-absent | match, name none | accept | accept | accept | accept | 401 |",
    "| spn-other | match, name `HTTP/evil.test` | accept | accept | accept | 401 | 401 |",
    "| spn-empty | match, name `` | accept | accept | accept | 401 | 401 |",
    "| ntlmv1 | refused: logon denied, 401 | 401 | 401 | 401 | 401 | 401 |",
    "| lm-only | refused: logon denied, 401 | 401 | 401 | 401 | 401 | 401 |",
    "| wrong-password | refused: logon denied, 401 | 401 | 401 | 401 | 401 | 401 |",
];

fn measure_gssapi(peer: &mut Peer, id: &str, client: &Value) -> String {
    use PolicyEnforcement::{Always, Never, WhenSupported};
    let binding = server_binding();
    let report = match epa_acceptor(peer, Backend::Gssapi, client, Some(&binding)) {
        Ok(r) => observation(Ok(r)),
        Err(e @ AuthError::BadBindings { observation, .. }) => {
            format!(
                "refused: bad bindings ({}), {}",
                observation.name(),
                e.status()
            )
        }
        Err(e @ AuthError::InvalidToken(_)) => format!("refused: invalid token, {}", e.status()),
        Err(e @ AuthError::LogonDenied(_)) => format!("refused: logon denied, {}", e.status()),
        Err(e) => format!("refused: {e}"),
    };
    let mut cells = vec![id.to_owned(), report];
    for e in [Never, WhenSupported, Always] {
        cells.push(epa_outcome(
            peer,
            Backend::Gssapi,
            client,
            e,
            Transport::Https,
        ));
    }
    for e in [WhenSupported, Always] {
        cells.push(epa_outcome(
            peer,
            Backend::Gssapi,
            client,
            e,
            Transport::Http,
        ));
    }
    format!("| {} |", cells.join(" | "))
}

/// MIT's mechglue reads `NTLM_USER_FILE` from the process environment, which a test must not
/// change (`set_var` is unsafe): the rows are measured in a child run of this test binary.
#[test]
fn gssapi_backend_rows_match_documented_expectations() {
    let dir = support::workdir().join(format!("interop-gss-{}", support::rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let users = dir.join("ntlm-users");
    std::fs::write(&users, "TESTDOM:alice:userpw\n").unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "gssapi::gssapi_backend_child",
            "--ignored",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env("NTLM_USER_FILE", &users)
        .env("EPA_INTEROP_CHILD", "1")
        .env_remove("LM_COMPAT_LEVEL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let measured: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with("| "))
        .map(str::to_owned)
        .collect();
    check_rows(GSSAPI_COLUMNS, &measured, GSSAPI_EXPECTED);
}

/// The child of [`gssapi_backend_rows_match_documented_expectations`]; does nothing elsewhere.
#[test]
#[ignore = "run by gssapi_backend_rows_match_documented_expectations, with NTLM_USER_FILE set"]
fn gssapi_backend_child() {
    if std::env::var_os("EPA_INTEROP_CHILD").is_none() {
        return;
    }
    let mut peer = Peer::start();
    // libtest has printed "test gssapi_backend_child ... " without a newline.
    println!();
    for (id, client) in rows() {
        println!("{}", measure_gssapi(&mut peer, id, &client));
    }
}
