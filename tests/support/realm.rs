//! A throwaway MIT realm `EXAMPLE.TEST` (tests/kdc/setup-kdc.sh: KDC on loopback, `HTTP/`
//! keytabs, alice's ticket cache), its KDC killed when dropped.

use super::{rand_suffix, workdir};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A realm with its own KDC, killed on drop.
pub struct Realm {
    /// The realm's directory: krb5.conf, keytabs, ccache, kdc.pid.
    pub dir: PathBuf,
}

impl Realm {
    /// Starts a KDC on a free port (a port in use makes krb5kdc fail and the next is tried).
    pub fn start(label: &str) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kdc/setup-kdc.sh");
        for attempt in 0..5u16 {
            let dir = workdir().join(format!("{label}-realm-{}", rand_suffix()));
            let port = 20_000
                + (std::process::id() as u16 % 20_000)
                + attempt * 97
                + (rand_suffix() as u16 % 50) * 7;
            let out = Command::new("bash")
                .arg(&script)
                .arg(&dir)
                .arg(port.to_string())
                .output()
                .unwrap();
            if out.status.success() {
                return Self { dir };
            }
            eprintln!(
                "KDC attempt {attempt} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        panic!(
            "could not start a KDC (krb5-kdc and krb5-admin-server: ./scripts/test installs them)"
        );
    }

    /// A file in the realm's directory.
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// A client's environment: alice's ticket cache and `conf` as krb5.conf.
    pub fn client_env(&self, conf: &str) -> Vec<(String, String)> {
        vec![
            ("KRB5_CONFIG".into(), self.path(conf)),
            ("KRB5CCNAME".into(), format!("FILE:{}", self.path("ccache"))),
        ]
    }
}

impl Drop for Realm {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("kdc.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}
