//! A Samba AD domain controller for one test: provisioned once per test process into a template
//! (tests/samba/dc.sh provision), copied per test (~0.2 s), started in a network and mount
//! namespace of its own, stopped and removed on drop.

use crate::support::{rand_suffix, workdir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub const REALM: &str = "EPA.TEST";
pub const DOMAIN: &str = "EPA";
pub const PASSWORD: &str = "Secret-Pass.1";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/samba/dc.sh")
}

fn run(args: &[&str]) -> Output {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dc.sh {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The provisioned, stopped template (once per test process).
fn template() -> &'static Path {
    static T: OnceLock<PathBuf> = OnceLock::new();
    T.get_or_init(|| {
        assert_eq!(
            Command::new("id").arg("-u").output().unwrap().stdout,
            b"0\n",
            "the Active Directory tests need root (namespaces, winbind's privileged pipe); CI runs as root"
        );
        let dir = workdir().join(format!("ad-template-{}", std::process::id()));
        run(&["provision", dir.to_str().unwrap()]);
        dir
    })
}

/// A running domain controller; stopped and removed on drop.
pub struct Domain {
    pub dir: PathBuf,
    holder: u32,
}

impl Domain {
    pub fn start() -> Self {
        let tpl = template();
        let dir = workdir().join(format!("ad-{}-{}", std::process::id(), rand_suffix()));
        let status = Command::new("cp")
            .arg("-a")
            .arg(tpl)
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success());
        // The template's absolute paths, moved to the copy.
        for f in ["etc/smb.conf", "krb5.conf"] {
            let p = dir.join(f);
            let text = std::fs::read_to_string(&p).unwrap();
            std::fs::write(
                &p,
                text.replace(tpl.to_str().unwrap(), dir.to_str().unwrap()),
            )
            .unwrap();
        }
        let out = run(&["start", dir.to_str().unwrap()]);
        let holder = String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .lines()
            .last()
            .unwrap()
            .parse()
            .unwrap();
        Self { dir, holder }
    }

    /// A command inside the domain's namespaces (network and mount).
    pub fn inside(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.holder.to_string(), "-m", "-n", program]);
        c
    }

    /// A command in the domain's mount namespace only (it sees winbind's socket at the
    /// compiled-in /run/samba path, and listens on the host's loopback).
    pub fn with_winbind(&self, program: &Path) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.holder.to_string(), "-m"]).arg(program);
        c
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The SID of an account or group (`wbinfo -n`).
    pub fn sid(&self, name: &str) -> String {
        let out = self
            .inside("wbinfo")
            .args(["-n", &format!("{DOMAIN}\\{name}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "wbinfo -n {name}");
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    }

    /// Stops the domain controller (the namespace stays): winbind's socket goes away.
    pub fn stop_dc(&self) {
        run(&["stop-dc", self.dir.to_str().unwrap()]);
    }

    /// Starts it again in the same namespace.
    pub fn start_dc(&self) {
        run(&["start-dc", self.dir.to_str().unwrap()]);
    }

    /// A Kerberos ticket cache for `user` holding a service ticket for `HTTP/web.epa.test`,
    /// fetched inside the namespace (where the KDC is), usable outside (no KDC needed then).
    pub fn service_ticket(&self, user: &str) -> PathBuf {
        let cache = self.dir.join(format!("ccache-{user}-{}", rand_suffix()));
        let env = [
            ("KRB5_CONFIG", self.path("krb5.conf")),
            ("KRB5CCNAME", cache.clone()),
        ];
        let mut kinit = self
            .inside("kinit")
            .arg(format!("{user}@{REALM}"))
            .envs(env.clone())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        writeln!(kinit.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        assert!(kinit.wait().unwrap().success(), "kinit {user}");
        let out = self
            .inside("kvno")
            .arg(format!("HTTP/web.epa.test@{REALM}"))
            .envs(env)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kvno: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cache
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", self.dir.to_str().unwrap_or_default()])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
