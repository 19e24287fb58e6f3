//! The example's flags: the configuration file, the overrides of it (overrides.rs), the
//! backend (`--users`, `--backend`, `--domain`) and the log. They become the configuration
//! `epa_server::serve` runs; the library has no flags of its own.

use crate::overrides::Overrides;
use epa::config::{BackendKind, BackendTable, MetricsTable, ServerConfig};
use epa::core::enctype::WeakEnctypes;
use epa::server::app::{ConfigSource, LogFormat, ServeOptions, init_logging, read_config};
use std::path::PathBuf;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The backend's kind, as a flag.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Backend {
    /// The embedded NTLMv2 acceptor over `--users` (or a printed demo user).
    Embedded,
    /// MIT GSSAPI (Kerberos/SPNEGO; `--features gssapi`, `KRB5_KTNAME`).
    Gssapi,
}

/// The log's format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Log {
    /// Text lines.
    Text,
    /// JSON lines (what `epa audit-report` reads).
    Json,
}

#[derive(clap::Parser, Debug)]
#[command(about = "HTTPS server with Extended Protection for Authentication (Negotiate/NTLM)")]
pub struct Args {
    /// A server configuration file ([listener], [client_certificates], [policy]; `epa lint`).
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
    /// User file (DOMAIN:USER:PASSWORD lines); default: a printed demo user.
    #[arg(long)]
    users: Option<PathBuf>,
    /// The backend.
    #[arg(long, value_enum, default_value = "embedded")]
    backend: Backend,
    /// gssapi backend: refuse Kerberos tickets whose service principal is not an acceptable
    /// service name (MIT and Windows accept a ticket for any keytab principal).
    #[arg(long)]
    check_ticket_target: bool,
    /// gssapi backend: RC4/DES session keys — allow, audit (default), refuse.
    #[arg(long, value_parser = weak_enctypes, default_value = "audit")]
    weak_enctypes: WeakEnctypes,
    /// NTLM domain announced in challenges.
    #[arg(long, default_value = "EXAMPLE")]
    domain: String,
    /// Serve Prometheus metrics at /metrics (to loopback peers).
    #[arg(long)]
    metrics: bool,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text")]
    log_format: Log,
}

/// `--weak-enctypes` by its wire name.
fn weak_enctypes(name: &str) -> Result<WeakEnctypes, epa::core::wire::UnknownName> {
    name.parse()
}

impl Args {
    /// Installs the logger and turns the flags into what `epa_server::serve` runs.
    pub fn options(&self) -> Result<ServeOptions, BoxError> {
        init_logging(match self.log_format {
            Log::Text => LogFormat::Text,
            Log::Json => LogFormat::Json,
        })?;
        let mut config = match &self.config {
            Some(path) => read_config(path)?,
            None => ServerConfig::default(),
        };
        self.overrides.apply(&mut config);
        generate_certificate(&mut config)?;
        if let Backend::Gssapi = self.backend {
            config.backend = Some(BackendTable {
                kind: BackendKind::Gssapi,
                check_ticket_target: self.check_ticket_target,
                weak_enctypes: self.weak_enctypes,
                ..BackendTable::embedded()
            });
        }
        if self.metrics {
            config.metrics = Some(MetricsTable::default());
        }
        let users = match (&self.users, self.backend) {
            (Some(path), _) => Some(path.clone()),
            (None, Backend::Embedded) if config.listener.negotiate => {
                Some(demo_user(&self.domain)?)
            }
            (None, _) => None,
        };
        Ok(ServeOptions {
            config: ConfigSource::Given(Box::new(config)),
            users,
            domain: self.domain.clone(),
            computer: "EPA-SERVER".into(),
            address: None,
        })
    }
}

/// A private directory (0700, random name, created or failed: never an existing one).
fn private_dir(what: &str) -> Result<PathBuf, BoxError> {
    let salt = std::hash::BuildHasher::hash_one(
        &std::collections::hash_map::RandomState::new(),
        (std::process::id(), what),
    );
    let dir = std::env::temp_dir().join(format!("epa-server-{what}-{salt:016x}"));
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700).create(&dir)?;
    Ok(dir)
}

/// A certificate for localhost when HTTPS has none.
fn generate_certificate(c: &mut ServerConfig) -> Result<(), BoxError> {
    let l = &mut c.listener;
    if l.certificate_file.is_some() || l.transport != epa::Transport::Https {
        return Ok(());
    }
    let g = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
    let dir = private_dir("cert")?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, g.cert.pem())?;
    std::fs::write(&key, g.signing_key.serialize_pem())?;
    println!("generated certificate for localhost: {}", cert.display());
    (l.certificate_file, l.key_file) = (Some(cert), Some(key));
    Ok(())
}

/// A user file with one demo user, printed.
fn demo_user(domain: &str) -> Result<PathBuf, BoxError> {
    let seed = std::hash::BuildHasher::hash_one(
        &std::collections::hash_map::RandomState::new(),
        std::process::id(),
    );
    let line = format!("{domain}:demo:demo-{seed:016x}");
    let path = private_dir("users")?.join("users");
    std::fs::write(&path, format!("{line}\n"))?;
    println!("demo user file (gss-ntlmssp format): {line}");
    Ok(path)
}
