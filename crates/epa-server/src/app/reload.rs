//! Serving a configuration file until SIGTERM/SIGINT ([`serve`]): the server
//! ([`crate::server`]) and the application ([`super::build`]) built from the file that
//! `epa lint` checks; with `[upstream]` the application is the reverse proxy (one Extended
//! Protection layer per route), otherwise the handler behind the `[policy]` layer.
//!
//! SIGHUP re-reads the file and the user file and swaps the application while open
//! connections stay open; a file that cannot be built keeps the running configuration
//! (`epa_config_reload_total{result="ok|rejected"}`). What needs a restart is decided here
//! ([`needs_restart`], the `[listener]` and `[client_certificates]` tables kept).

use super::backend::{BackendArgs, BackendError};
use super::{App, AppError, SwapHandle, Swappable, build, install_prometheus};
use crate::proxy::ProxyBody;
use crate::server::{Server, ServerError};
use epa_config::ServerConfig;
use epa_core::authenticator::Authenticator;
use epa_hyper::ntlm::UserDb;
use http::{Request, Response};
use hyper::body::Incoming;
use metrics_exporter_prometheus::PrometheusHandle;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Where the configuration comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// A file, re-read on SIGHUP (relative file names in it are relative to its directory).
    File(PathBuf),
    /// A configuration built by the caller (the demo, or a program's flags): SIGHUP re-reads
    /// only the user file and the files it names.
    Given(Box<ServerConfig>),
}

/// Why [`serve`] stopped or could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file does not parse.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (TOML, with the line).
        message: String,
    },
    /// The user file does not parse.
    #[error("the user file: {0}")]
    Users(#[from] epa_hyper::ntlm::UserFileError),
    /// The backend cannot be built.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The server cannot be built or stopped with an error.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The application cannot be built.
    #[error(transparent)]
    App(#[from] AppError),
    /// The Prometheus recorder or logger cannot be installed.
    #[error("metrics: {0}")]
    Observability(#[from] super::ObservabilityError),
    /// The SIGHUP handler cannot be installed, or the listener's address cannot be read.
    #[error("{what}: {source}")]
    Io {
        /// What failed.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A change that takes effect only after a restart (a new `[backend] keytab`).
    #[error(
        "restart needed: [backend] keytab is now {want}, but the running process reads {running} (MIT GSSAPI takes the keytab's name at start); restart epa serve to use it"
    )]
    RestartNeeded {
        /// The `KRB5_KTNAME` the file asks for.
        want: String,
        /// The one in force.
        running: String,
    },
}

/// What [`serve`] is given.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The configuration.
    pub config: ConfigSource,
    /// The embedded backend's user file (`DOMAIN:user:password` lines).
    pub users: Option<PathBuf>,
    /// The NTLM domain the server announces.
    pub domain: String,
    /// The NetBIOS computer name the server announces.
    pub computer: String,
    /// Listen here instead of `[listener] address` (the demo's 127.0.0.1:8443).
    pub address: Option<SocketAddr>,
}

/// One version of the inputs an application is built from.
struct Inputs {
    config: ServerConfig,
    /// The embedded backend's user file, as read (zeroised when dropped).
    users: Option<zeroize::Zeroizing<String>>,
    /// SHA-256 over the bytes of every file the application is built from (the configuration,
    /// the user file, and each file it names: see [`files_read`]): a SIGHUP that finds them all
    /// unchanged keeps the running application (and the identities its layers hold).
    fingerprint: [u8; 32],
}

/// Reads a configuration file: parsed, relative file names resolved against its directory.
pub fn read_config(path: &Path) -> Result<ServerConfig, ServeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServeError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_config(path, &text)
}

fn parse_config(path: &Path, text: &str) -> Result<ServerConfig, ServeError> {
    let mut config: ServerConfig = toml::from_str(text).map_err(|e| ServeError::Parse {
        path: path.to_owned(),
        message: e.message().to_owned(),
    })?;
    config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
    Ok(config)
}

impl ServeOptions {
    /// The configuration as [`serve`] will run it (`address` applied): for a caller that must
    /// look at it first (`epa serve` re-executes itself when `[backend] keytab` needs
    /// `KRB5_KTNAME`).
    pub fn load(&self) -> Result<ServerConfig, ServeError> {
        read_inputs(self).map(|i| i.config)
    }
}

/// Reads the configuration and the user file; `address` overrides `[listener] address`.
fn read_inputs(args: &ServeOptions) -> Result<Inputs, ServeError> {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    let mut config = match &args.config {
        ConfigSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ServeError::Read {
                path: path.clone(),
                source,
            })?;
            hash.update((text.len() as u64).to_be_bytes());
            hash.update(text.as_bytes());
            parse_config(path, &text)?
        }
        ConfigSource::Given(config) => (**config).clone(),
    };
    if let Some(address) = args.address {
        config.listener.address = address;
    }
    // Every file the configuration names is part of the fingerprint, so a SIGHUP after one
    // changed rebuilds what reads it (an unreadable file is refused when that is built).
    for file in files_read(&config) {
        let bytes = std::fs::read(file).unwrap_or_default();
        hash.update(file.as_os_str().as_encoded_bytes());
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(&bytes);
    }
    // `[backend] users = FILE` (it wins over --users): part of the fingerprint, so a SIGHUP
    // after the file changed reloads it.
    let users_file = config
        .backend
        .as_ref()
        .and_then(|b| b.users.clone())
        .or_else(|| args.users.clone());
    let users = match &users_file {
        Some(p) => {
            let text = zeroize::Zeroizing::new(std::fs::read_to_string(p).map_err(|source| {
                ServeError::Read {
                    path: p.clone(),
                    source,
                }
            })?);
            hash.update(text.as_bytes());
            Some(text)
        }
        None => None,
    };
    Ok(Inputs {
        config,
        users,
        fingerprint: hash.finalize().into(),
    })
}

/// The files a configuration names besides itself and the user file (hashed into the reload
/// fingerprint): the pinned proxy certificate, `[upstream] ca_file`, `[backend] keytab`,
/// `[client_certificates]`' CA, CRL and hint files, and the `[identity_assertion]` keys (a key
/// rotated in place reloads on SIGHUP). The server certificate and key are not
/// here: they rotate by themselves (`crate::server::reload`).
fn files_read(config: &ServerConfig) -> Vec<&Path> {
    let cc = &config.client_certificates;
    config
        .listener
        .proxy_certificate_file
        .iter()
        .chain(config.upstream.as_ref().and_then(|u| u.ca_file.as_ref()))
        .chain(config.backend.as_ref().and_then(|b| b.keytab.as_ref()))
        .chain(&cc.ca_files)
        .chain(&cc.crl_files)
        .chain(&cc.hint_ca_files)
        .chain(config.identity_assertion.iter().flat_map(|a| a.key_files()))
        .map(PathBuf::as_path)
        .collect()
}

/// A reload that would need a restart to take effect: MIT GSSAPI reads the keytab named in
/// `KRB5_KTNAME`, which `epa serve` sets once at start (`main`), so a new `[backend] keytab`
/// would be announced as reloaded while the old keytab stays in use (after a key compromise,
/// of all times). Its contents, at the same path, are read again by MIT on each logon.
fn needs_restart(config: &ServerConfig) -> Result<(), ServeError> {
    match super::backend::required_ktname(config) {
        Some(want) => Err(ServeError::RestartNeeded {
            want,
            running: std::env::var("KRB5_KTNAME").unwrap_or_else(|_| "the default keytab".into()),
        }),
        None => Ok(()),
    }
}

/// The embedded backend's users, when a user file was given (`[backend] users` or `--users`).
fn user_db(inputs: &Inputs) -> Result<Option<UserDb>, ServeError> {
    Ok(inputs
        .users
        .as_ref()
        .map(|t| UserDb::parse(t))
        .transpose()?)
}

/// The backend for one version of the inputs (`[backend]`, or embedded with the user file).
fn backend_for(
    inputs: &Inputs,
    args: &ServeOptions,
) -> Result<Option<Arc<dyn Authenticator>>, ServeError> {
    if !inputs.config.listener.negotiate {
        return Ok(None);
    }
    let backend = super::backend::build(
        &inputs.config,
        &BackendArgs {
            users: user_db(inputs)?,
            domain: &args.domain,
            computer: &args.computer,
        },
    )?;
    Ok(Some(backend))
}

/// Re-reads and rebuilds on every SIGHUP; swaps only what could be built. `[listener]` and
/// `[client_certificates]` changes (address, deadlines, limits, TLS, trusted proxies,
/// `required_paths`) need a restart: the rebuilt application keeps the running tables, so the
/// TLS settings and the rules read from them never disagree. A new `[backend] keytab` is
/// refused ("restart needed", [`needs_restart`]); a changed file the configuration names is a
/// change ([`files_read`]). The certificate files rotate by
/// themselves (`crate::server::reload`); the pinned proxy certificate's file is re-read.
async fn reload_on_hangup<H: Clone>(
    mut hangup: tokio::signal::unix::Signal,
    handle: SwapHandle<App<H>>,
    args: ServeOptions,
    running: Inputs,
    metrics: Option<PrometheusHandle>,
    handler: H,
) {
    let tables = |c: &ServerConfig| {
        (
            toml::to_string(&c.listener).unwrap_or_default(),
            toml::to_string(&c.client_certificates).unwrap_or_default(),
            c.metrics.is_some(),
        )
    };
    let started = tables(&running.config);
    let (listener, client_certificates) = (
        running.config.listener.clone(),
        running.config.client_certificates.clone(),
    );
    let mut fingerprint = running.fingerprint;
    drop(running);
    while hangup.recv().await.is_some() {
        let built = read_inputs(&args).and_then(|mut inputs| {
            if inputs.fingerprint == fingerprint {
                return Ok(None);
            }
            needs_restart(&inputs.config)?;
            let seen = tables(&inputs.config);
            inputs.config.listener = listener.clone();
            inputs.config.client_certificates = client_certificates.clone();
            let backend = backend_for(&inputs, &args)?;
            let app = build(
                &inputs.config,
                backend.as_ref(),
                metrics.as_ref(),
                handler.clone(),
            )?;
            Ok(Some((app, inputs.fingerprint, seen)))
        });
        match built {
            Ok(None) => {
                handle.unchanged();
                eprintln!("epa serve: SIGHUP: configuration unchanged");
            }
            Ok(Some((app, new, tables))) => {
                let _ = handle.replace::<ServeError>(Ok(app));
                fingerprint = new;
                eprintln!("epa serve: SIGHUP: configuration reloaded");
                if tables != started {
                    eprintln!(
                        "epa serve: SIGHUP: [listener] and [client_certificates] changes, and \
                         adding or removing [metrics], take effect at the next start \
                         (certificate files rotate by themselves)"
                    );
                }
            }
            Err(why) => {
                if let Err(why) = handle.replace(Err(why)) {
                    eprintln!(
                        "epa serve: SIGHUP: reload rejected, the running configuration stays: {why}"
                    );
                }
            }
        }
    }
}

/// Serves the configuration until SIGTERM/SIGINT (then shuts down gracefully): the server,
/// the backend and the application built from `options`, `handler` behind the `[policy]`
/// layer when there is no `[upstream]`. Prints `listening on https://ADDR` once it accepts.
/// Needs a multi-threaded tokio runtime.
pub async fn serve<H>(options: ServeOptions, handler: H) -> Result<(), ServeError>
where
    H: tower_service::Service<
            Request<Incoming>,
            Response = Response<ProxyBody>,
            Error = Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    H::Future: Send + 'static,
{
    let inputs = read_inputs(&options)?;
    let config = &inputs.config;
    let backend = backend_for(&inputs, &options)?;
    let configured = Server::from_config(config, backend.clone())?;
    for line in super::summary(&configured, config)? {
        println!("{line}");
    }
    let scheme = match config.listener.transport {
        epa_core::decide::Transport::Https => "https",
        epa_core::decide::Transport::Http => "http",
    };
    // The recorder is global: installed once, at start, when [metrics] asks for it.
    let metrics = match &config.metrics {
        Some(_) => Some(install_prometheus()?),
        None => None,
    };
    let app = Swappable::new(build(
        config,
        backend.as_ref(),
        metrics.as_ref(),
        handler.clone(),
    )?);
    // Installed before "listening on": from then on SIGHUP reloads, never terminates.
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map_err(
        |source| ServeError::Io {
            what: "cannot install the SIGHUP handler",
            source,
        },
    )?;
    let server = configured.server;
    let listener = server.bind().await?;
    let addr = listener.local_addr().map_err(|source| ServeError::Io {
        what: "the listener's address",
        source,
    })?;
    if let Some(up) = &config.upstream {
        println!("proxying to {}", up.url);
    }
    println!("listening on {scheme}://{addr}");
    let running = Inputs {
        config: config.clone(),
        users: None,
        fingerprint: inputs.fingerprint,
    };
    let reloader = tokio::spawn(reload_on_hangup(
        hangup,
        app.handle(),
        options,
        running,
        metrics,
        handler,
    ));
    let served = server
        .serve_on(listener, app, crate::server::shutdown_signal())
        .await;
    reloader.abort();
    Ok(served?)
}
