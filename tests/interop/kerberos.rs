//! Kerberos rows of docs/interop.md: MIT's acceptor and the JDK's, each handed the server's
//! binding, on AP-REQs from MIT's initiator (python-gssapi) that carry the right binding, a wrong
//! one (a relay), none, and none or the right one from a client that announces binding support
//! (`client_aware_channel_bindings`, i.e. `KERB_AP_OPTIONS_CBT`). A throwaway KDC
//! (tests/kdc/setup-kdc.sh) and `tests/interop/JdkAcceptor.java` (compiled by the test) are
//! started here. epa's own outcomes on these cases are tests/kerberos.rs's.

use super::{Peer, check_rows, server_binding, verdict};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use super::support::realm::Realm;

impl Realm {
    /// The Python peer's environment: alice's ticket cache, the keytab, `conf` as krb5.conf.
    fn env(&self, conf: &str) -> Vec<(String, String)> {
        vec![
            ("KRB5_CONFIG".into(), self.path(conf)),
            ("KRB5CCNAME".into(), format!("FILE:{}", self.path("ccache"))),
            (
                "KRB5_KTNAME".into(),
                format!("FILE:{}", self.path("http.keytab")),
            ),
            ("KRB5RCACHEDIR".into(), self.path("")),
        ]
    }
}

/// `JdkAcceptor.java`, compiled into the realm's directory and run with its keytab.
struct Jdk {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Jdk {
    fn start(realm: &Realm) -> Self {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/JdkAcceptor.java");
        let classes = realm.dir.join("classes");
        let javac = Command::new("javac")
            .arg("-d")
            .arg(&classes)
            .arg(&source)
            .status()
            .unwrap_or_else(|e| panic!("javac (a JDK 17+, e.g. openjdk-17-jdk-headless): {e}"));
        assert!(javac.success(), "javac failed");
        let jaas = realm.dir.join("jaas.conf");
        std::fs::write(
            &jaas,
            format!(
                "com.sun.security.jgss.krb5.accept {{\n  com.sun.security.auth.module.Krb5LoginModule \
                 required useKeyTab=true keyTab=\"{}\" principal=\"HTTP/localhost@EXAMPLE.TEST\" \
                 storeKey=true isInitiator=false doNotPrompt=true;\n}};\n",
                realm.path("http.keytab")
            ),
        )
        .unwrap();
        let mut child = Command::new("java")
            .arg(format!(
                "-Djava.security.krb5.conf={}",
                realm.path("krb5.conf")
            ))
            .arg(format!(
                "-Djava.security.auth.login.config={}",
                jaas.display()
            ))
            .arg("-Djavax.security.auth.useSubjectCredsOnly=false")
            .args([
                "--add-exports",
                "java.security.jgss/sun.security.jgss.krb5.internal=ALL-UNNAMED",
            ])
            .arg("-cp")
            .arg(&classes)
            .arg("JdkAcceptor")
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

    /// The JDK's verdict on `token`, handed the server's binding in `form` (`public` or `tls`).
    fn accept(&mut self, form: &str, token: &str) -> String {
        let cbt = hex::encode(server_binding().binding().application_data());
        writeln!(self.stdin, "{form} {cbt} {token}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }
}

impl Drop for Jdk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const KERBEROS_COLUMNS: &str = "| Kerberos row | MIT acceptor (python-gssapi) | JDK acceptor, public `ChannelBinding` | JDK acceptor, `TlsChannelBindingImpl` |";

/// MIT follows §4.5 except that a client that claims no support passes without the bound flag
/// (the caller must look at it); the JDK's public `ChannelBinding` never matches an MIT or
/// Windows client (its null addresses are hashed as type 255, theirs as 0), and with a binding
/// set it refuses every client that sent none, even one that claims no support.
const KERBEROS_EXPECTED: &[&str] = &[
    "| krb-right | accept (bound) | GSSException: Channel binding mismatch: Bytes mismatch! | accept |",
    "| krb-wrong | BadChannelBindingsError | GSSException: Channel binding mismatch: Bytes mismatch! | GSSException: Channel binding mismatch: Bytes mismatch! |",
    "| krb-absent | accept (not bound) | GSSException: Channel binding mismatch: Token missing ChannelBinding! | GSSException: Channel binding mismatch: Token missing ChannelBinding! |",
    "| krb-aware-absent | BadChannelBindingsError | GSSException: Channel binding mismatch: Token missing ChannelBinding! | GSSException: Channel binding mismatch: Token missing ChannelBinding! |",
    "| krb-aware-right | accept (bound) | GSSException: Channel binding mismatch: Bytes mismatch! | accept |",
];

#[test]
fn kerberos_binding_rows_match_documented_expectations() {
    let realm = Realm::start("interop");
    let mut plain = Peer::start_with(&realm.env("krb5.conf"));
    let mut aware = Peer::start_with(&realm.env("krb5-aware.conf"));
    let mut jdk = Jdk::start(&realm);
    let right = hex::encode(server_binding().binding().application_data());
    let relayed = hex::encode(b"tls-server-end-point:relay's certificate hash");
    let rows = [
        ("krb-right", false, Some(right.clone())),
        ("krb-wrong", false, Some(relayed)),
        ("krb-absent", false, None),
        ("krb-aware-absent", true, None),
        ("krb-aware-right", true, Some(right)),
    ];
    let cbt = hex::encode(server_binding().binding().application_data());
    let mut measured = Vec::new();
    for (id, is_aware, client_cbt) in rows {
        let client = if is_aware { &mut aware } else { &mut plain };
        // A fresh AP-REQ per acceptor: each keeps a replay cache.
        let mut token = || {
            let answer = client
                .rpc(json!({"op": "krb_client", "target": "HTTP@localhost", "cbt": client_cbt}));
            answer["token"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: {answer}"))
                .to_owned()
        };
        let (t1, t2, t3) = (token(), token(), token());
        plain.rpc(json!({"op": "acceptor", "kind": "mit-krb5", "cbt": cbt}));
        let mit = verdict(&plain.rpc(json!({"op": "accept", "token": t1})));
        let jdk_public = jdk.accept("public", &t2);
        let jdk_tls = jdk.accept("tls", &t3);
        measured.push(format!("| {id} | {mit} | {jdk_public} | {jdk_tls} |"));
    }
    check_rows(KERBEROS_COLUMNS, &measured, KERBEROS_EXPECTED);
}
