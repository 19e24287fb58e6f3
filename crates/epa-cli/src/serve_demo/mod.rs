//! `epa serve` with no configuration file: a generated certificate for localhost, a demo user
//! with a random password, `when-supported`, in a private directory removed on exit, in front of
//! a demo application ([`app`]) whose page shows what an application behind epa receives.

mod app;
mod page;
mod verify;

use epa_config::assertion::{DEFAULT_ASSERTION_HEADER, DEFAULT_JWKS_PATH, IdentityAssertionTable};
use epa_config::proxy::UpstreamTable;
use epa_config::{PolicyTable, ServerConfig};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Random hex from the kernel (demo password, directory name).
fn random_hex(bytes: usize) -> Result<String, String> {
    use std::io::Read as _;
    let mut buf = vec![0; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The demo's private directory, removed (with the generated key and the user file) when
/// `epa serve` returns: after SIGTERM or Ctrl-C (graceful shutdown) and on every error after
/// it was created. Only SIGKILL or a crash leave it behind.
#[derive(Debug)]
pub(crate) struct DemoDir(PathBuf);

impl Drop for DemoDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("demo: cannot remove {}: {e}", self.0.display());
        }
    }
}

/// What the demo runs: its configuration, its user file, and the directory they are in.
pub(crate) struct Demo {
    /// The configuration.
    pub(crate) config: ServerConfig,
    /// The user file (one demo user).
    pub(crate) users: PathBuf,
    /// Removed when dropped (held for that alone).
    #[expect(
        dead_code,
        reason = "held for its Drop: the directory is removed on exit"
    )]
    pub(crate) dir: DemoDir,
    /// The demo application's listener (loopback), the `[upstream]` of `config`.
    app: std::net::TcpListener,
    /// epa's key page as the application reads it, when the demo signs assertions.
    keys: Option<Arc<verify::KeyPage>>,
}

impl Demo {
    /// Serves the demo application on the current runtime (until the runtime stops).
    pub(crate) fn spawn_app(&mut self) -> Result<(), String> {
        let listener = self
            .app
            .try_clone()
            .map_err(|e| format!("demo application: {e}"))?;
        tokio::spawn(app::run(listener, self.keys.clone()));
        Ok(())
    }
}

/// The audience the demo's assertions are minted for (the demo application checks it).
const DEMO_AUDIENCE: &str = "epa-demo";

/// `address`, with a free port chosen now when it asks for any port (`:0`): the issuer, the
/// policy's prefix and the key page's address all name the port before epa listens on it.
fn listen_address(mut address: SocketAddr) -> Result<SocketAddr, String> {
    if address.port() == 0 {
        let probe = std::net::TcpListener::bind(address)
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot listen on {address}: {e}"))?;
        address.set_port(probe.port());
    }
    Ok(address)
}

/// The demo: a certificate for localhost and a user file with one random password, in a
/// private directory (0700, random name, created or failed), `when-supported` on the default
/// address (or `address`), in front of the demo application, with signed identity assertions
/// (a generated ES256 key) on every route. Prints where the files are and the demo credentials.
pub(crate) fn demo(domain: &str, address: Option<std::net::SocketAddr>) -> Result<Demo, String> {
    let dir = std::env::temp_dir().join(format!("epa-serve-{}", random_hex(8)?));
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let guard = DemoDir(dir.clone());
    let g = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .map_err(|e| format!("cannot generate a certificate: {e}"))?;
    let (cert, key, users) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("users"));
    let password = random_hex(12)?;
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write(&cert, &g.cert.pem())?;
    write(
        &key,
        &zeroize::Zeroizing::new(g.signing_key.serialize_pem()),
    )?;
    write(&users, &format!("{domain}:demo:{password}\n"))?;
    // The assertion key: ECDSA P-256 (ES256), PKCS#8 PEM as rcgen writes it.
    let signing = rcgen::KeyPair::generate().map_err(|e| format!("cannot generate a key: {e}"))?;
    let assertion_key = dir.join("assertion.pem");
    write(
        &assertion_key,
        &zeroize::Zeroizing::new(signing.serialize_pem()),
    )?;
    println!(
        "demo: generated certificate for localhost: {}",
        cert.display()
    );
    println!(
        "demo: user file {} — user {}\\demo, password {password}",
        users.display(),
        domain
    );
    let app = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| format!("demo application: cannot listen on loopback: {e}"))?;
    let app_addr = app
        .local_addr()
        .map_err(|e| format!("demo application: {e}"))?;
    let mut config = ServerConfig {
        upstream: Some(UpstreamTable {
            url: format!("http://{app_addr}"),
            ..UpstreamTable::default()
        }),
        ..ServerConfig::default()
    };
    config.listener.address = listen_address(address.unwrap_or(config.listener.address))?;
    let port = config.listener.address.port();
    let issuer = format!("https://localhost:{port}");
    config.identity_assertion = Some(IdentityAssertionTable {
        signing_key_file: assertion_key,
        previous_key_files: Vec::new(),
        issuer: issuer.clone(),
        audience: DEMO_AUDIENCE.into(),
        lifetime: 60,
        header: DEFAULT_ASSERTION_HEADER.into(),
        jwks_path: DEFAULT_JWKS_PATH.into(),
        default: true,
    });
    // The application reaches epa's key page on loopback when epa listens on every address.
    let mut page_addr = config.listener.address;
    if page_addr.ip().is_unspecified() {
        page_addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let keys = verify::KeyPage::new(
        page_addr,
        DEFAULT_JWKS_PATH.into(),
        g.cert.der().to_vec(),
        issuer.clone(),
        DEMO_AUDIENCE.into(),
    )?;
    println!(
        "demo: signed identity assertions (ES256, audience {DEMO_AUDIENCE}); key page {issuer}{DEFAULT_JWKS_PATH}"
    );
    config.listener.certificate_file = Some(cert);
    config.listener.key_file = Some(key);
    config.policy = Some(PolicyTable {
        enforcement: Some(epa_core::policy::PolicyEnforcement::WhenSupported),
        prefixes: vec![format!(
            "https://localhost:{}/",
            config.listener.address.port()
        )],
        ..PolicyTable::default()
    });
    Ok(Demo {
        config,
        users,
        dir: guard,
        app,
        keys: Some(Arc::new(keys)),
    })
}
