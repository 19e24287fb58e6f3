//! `epa serve`'s SIGHUP reload and the files it reads (issue 20 item 9): a changed
//! `[upstream] ca_file` is noticed (every file the application reads is in the reload
//! fingerprint), and a new `[backend] keytab` is refused with "restart needed" instead of being
//! announced as reloaded while the old keytab stays in use.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// `epa serve --config FILE` with `env`, its stderr read line by line.
struct Serve {
    child: support::ChildGuard,
    err: Receiver<String>,
}

impl Serve {
    fn start(config: &Path, env: &[(String, String)]) -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new(support::epa_binary())
            .args(["serve", "--domain", "TESTDOM", "--address", "127.0.0.1:0"])
            .arg("--config")
            .arg(config)
            .arg("--users")
            .arg(support::users_file())
            .envs(env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, err) = channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        support::wait_stdout_line(&mut child, "listening on");
        Self {
            child: support::ChildGuard(child),
            err,
        }
    }

    fn hangup(&self) {
        let status = Command::new("kill")
            .args(["-s", "HUP", &self.child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The next `epa serve: SIGHUP: …` line (30 s at most).
    fn sighup_line(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.err.recv_timeout(left).expect("a SIGHUP line");
            if let Some(rest) = line.strip_prefix("epa serve: SIGHUP: ") {
                return rest.to_owned();
            }
        }
    }
}

fn listener() -> String {
    let (cert, key, _) = support::cert_files();
    format!(
        "[listener]\ncertificate_file = {cert:?}\nkey_file = {key:?}\n[policy]\nenforcement = \"when-supported\"\nprefixes = [\"https://localhost/\"]\n"
    )
}

#[test]
fn a_changed_upstream_ca_file_is_reloaded() {
    let dir = support::workdir().join(format!("reload-ca-{}", support::rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, _, _) = support::cert_files();
    let pem = std::fs::read_to_string(&cert).unwrap();
    let ca = dir.join("upstream-ca.pem");
    std::fs::write(&ca, &pem).unwrap();
    let file = dir.join("serve.toml");
    std::fs::write(
        &file,
        format!(
            "{}[upstream]\nurl = \"http://127.0.0.1:9\"\nca_file = {ca:?}\n",
            listener()
        ),
    )
    .unwrap();
    let serve = Serve::start(&file, &[]);
    serve.hangup();
    assert_eq!(serve.sighup_line(), "configuration unchanged");
    // The CA bundle changes (a second CA appended), the configuration file does not.
    std::fs::write(&ca, format!("{pem}{pem}")).unwrap();
    serve.hangup();
    assert_eq!(serve.sighup_line(), "configuration reloaded");
    // A bundle that no longer reads is refused, the running one stays.
    std::fs::write(&ca, "not a certificate").unwrap();
    serve.hangup();
    let line = serve.sighup_line();
    assert!(line.starts_with("reload rejected"), "{line}");
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(feature = "gssapi")]
#[test]
fn a_new_keytab_is_refused_with_restart_needed() {
    let realm = support::realm::Realm::start("reload");
    let file = realm.dir.join("serve.toml");
    let config = |keytab: &str| {
        format!(
            "{}[backend]\nkind = \"gssapi\"\nkeytab = {:?}\n",
            listener(),
            realm.path(keytab)
        )
    };
    std::fs::write(&file, config("http.keytab")).unwrap();
    let env = vec![("KRB5_CONFIG".to_string(), realm.path("krb5.conf"))];
    let serve = Serve::start(&file, &env);
    // The operator replaces a compromised keytab with a new file and sends SIGHUP.
    std::fs::copy(realm.path("http.keytab"), realm.path("new.keytab")).unwrap();
    std::fs::write(&file, config("new.keytab")).unwrap();
    serve.hangup();
    let line = serve.sighup_line();
    assert!(
        line.starts_with("reload rejected") && line.contains("restart needed"),
        "{line}"
    );
    assert!(line.contains("new.keytab"), "{line}");
    // Back to the keytab in use: nothing to refuse.
    std::fs::write(&file, config("http.keytab")).unwrap();
    serve.hangup();
    let line = serve.sighup_line();
    assert!(!line.contains("restart needed"), "{line}");
}
