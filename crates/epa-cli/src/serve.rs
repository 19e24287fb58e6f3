//! `epa serve --config FILE`: the library server (`epa_hyper::server`) built from the file that
//! `epa lint` checks; with `[upstream]` the app is the reverse proxy (`epa_hyper::proxy`, one
//! Extended Protection layer per route), otherwise a hello page naming the caller.
//!
//! The application is built in serve_app.rs, the demo in serve_demo.rs, the backend in
//! serve_backend.rs.
//!
//! SIGHUP re-reads the file and the user file and swaps the application ([`build_app`]) while
//! open connections stay open; a file that cannot be built keeps the running configuration
//! (`epa_config_reload_total{result="ok|rejected"}`). The demo's directory is removed on exit.

use crate::serve_app::{App, build_app};
use epa_config::ServerConfig;
use epa_core::authenticator::Authenticator;
use epa_hyper::ntlm::UserDb;
use epa_hyper::proxy::{SwapHandle, Swappable};
use epa_hyper::server::{Server, install_prometheus};
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What `epa serve` was given.
#[derive(Debug, Clone)]
pub struct ServeArgs {
    /// The configuration file; `None` runs the demo (generated certificate, a demo user,
    /// the hello page, `when-supported`).
    pub config: Option<PathBuf>,
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

/// Reads the configuration file (the demo's configuration when there is none) and the user
/// file; `--address` overrides `[listener] address`.
fn read_inputs(args: &ServeArgs, demo: Option<&ServerConfig>) -> Result<Inputs, String> {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    let mut config = match (&args.config, demo) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            hash.update((text.len() as u64).to_be_bytes());
            hash.update(text.as_bytes());
            let mut config: ServerConfig = toml::from_str(&text)
                .map_err(|e| format!("{}: {}", path.display(), e.message()))?;
            config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
            config
        }
        (None, Some(demo)) => demo.clone(),
        (None, None) => return Err("no configuration file".into()),
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
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))?,
            );
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
/// fingerprint): the pinned proxy certificate, `[upstream] ca_file`, `[backend] keytab`, and
/// `[client_certificates]`' CA, CRL and hint files. The server certificate and key are not
/// here: they rotate by themselves (`epa_hyper::server::reload`).
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
        .map(PathBuf::as_path)
        .collect()
}

/// A reload that would need a restart to take effect: MIT GSSAPI reads the keytab named in
/// `KRB5_KTNAME`, which `epa serve` sets once at start (`main`), so a new `[backend] keytab`
/// would be announced as reloaded while the old keytab stays in use (after a key compromise,
/// of all times). Its contents, at the same path, are read again by MIT on each logon.
fn needs_restart(config: &ServerConfig) -> Result<(), String> {
    match crate::serve_backend::required_ktname(config) {
        Some(want) => Err(format!(
            "restart needed: [backend] keytab is now {want}, but the running process reads {} \
             (MIT GSSAPI takes the keytab's name at start); restart epa serve to use it",
            std::env::var("KRB5_KTNAME").unwrap_or_else(|_| "the default keytab".into())
        )),
        None => Ok(()),
    }
}

/// The embedded backend's users, when a user file was given (`[backend] users` or `--users`).
fn user_db(inputs: &Inputs) -> Result<Option<UserDb>, String> {
    match &inputs.users {
        Some(text) => UserDb::parse(text)
            .map(Some)
            .map_err(|e| format!("the user file: {e}")),
        None => Ok(None),
    }
}

/// The backend for one version of the inputs (`[backend]`, or embedded with the user file).
fn backend_for(
    inputs: &Inputs,
    args: &ServeArgs,
) -> Result<Option<Arc<dyn Authenticator>>, String> {
    if !inputs.config.listener.negotiate {
        return Ok(None);
    }
    crate::serve_backend::build(
        &inputs.config,
        &crate::serve_backend::BackendArgs {
            users: user_db(inputs)?,
            domain: &args.domain,
            computer: &args.computer,
        },
    )
    .map(Some)
}

/// Re-reads and rebuilds on every SIGHUP; swaps only what could be built. `[listener]` and
/// `[client_certificates]` changes (address, deadlines, limits, TLS, trusted proxies,
/// `required_paths`) need a restart: the rebuilt application keeps the running tables, so the
/// TLS settings and the rules read from them never disagree. A new `[backend] keytab` is
/// refused ("restart needed", [`needs_restart`]); a changed file the configuration names is a
/// change ([`files_read`]). The certificate files rotate by
/// themselves (`epa_hyper::server::reload`); the pinned proxy certificate's file is re-read.
async fn reload_on_hangup(
    mut hangup: tokio::signal::unix::Signal,
    handle: SwapHandle<App>,
    args: ServeArgs,
    demo: Option<ServerConfig>,
    running: Inputs,
    metrics: Option<PrometheusHandle>,
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
        let built = read_inputs(&args, demo.as_ref()).and_then(|mut inputs| {
            if inputs.fingerprint == fingerprint {
                return Ok(None);
            }
            needs_restart(&inputs.config)?;
            let seen = tables(&inputs.config);
            inputs.config.listener = listener.clone();
            inputs.config.client_certificates = client_certificates.clone();
            let backend = backend_for(&inputs, &args)?;
            let app = build_app(&inputs.config, backend.as_ref(), metrics.as_ref())?;
            Ok(Some((app, inputs.fingerprint, seen)))
        });
        match built {
            Ok(None) => {
                handle.unchanged();
                eprintln!("epa serve: SIGHUP: configuration unchanged");
            }
            Ok(Some((app, new, tables))) => {
                let _ = handle.replace::<String>(Ok(app));
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
                let _ = handle.replace::<String>(Err(why.clone()));
                eprintln!(
                    "epa serve: SIGHUP: reload rejected, the running configuration stays: {why}"
                );
            }
        }
    }
}

/// Runs the server until SIGTERM/SIGINT. Prints `listening on https://ADDR` once it accepts.
pub fn run(args: &ServeArgs) -> Result<u8, String> {
    crate::logging::init();
    let mut args = args.clone();
    // Declared first, dropped last: the demo directory outlives everything that reads it.
    let (demo_config, _demo_dir) = match &args.config {
        Some(_) => (None, None),
        None => {
            let (config, dir) = crate::serve_demo::demo(&mut args)?;
            (Some(config), Some(dir))
        }
    };
    let inputs = read_inputs(&args, demo_config.as_ref())?;
    let config = &inputs.config;
    let args = &args;
    if let Some(ktname) = crate::serve_backend::required_ktname(config) {
        return reexec_with_ktname(&ktname);
    }
    let backend = backend_for(&inputs, args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let configured = Server::from_config(
            config,
            backend
                .clone()
                .map(|b| Box::new(b) as Box<dyn Authenticator>),
        )
        .map_err(|e| e.to_string())?;
        let scheme = match config.listener.transport {
            epa_core::decide::Transport::Https => "https",
            epa_core::decide::Transport::Http => "http",
        };
        // The recorder is global: installed once, at start, when [metrics] asks for it.
        let metrics = match &config.metrics {
            Some(_) => Some(install_prometheus().map_err(|e| format!("metrics: {e}"))?),
            None => None,
        };
        let app = Swappable::new(build_app(config, backend.as_ref(), metrics.as_ref())?);
        // Installed before "listening on": from then on SIGHUP reloads, never terminates.
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| format!("cannot install the SIGHUP handler: {e}"))?;
        let server = configured.server;
        let listener = server.bind().await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let stop = epa_hyper::server::shutdown_signal();
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
            args.clone(),
            demo_config.clone(),
            running,
            metrics,
        ));
        let served = server.serve_on(listener, app, stop).await;
        reloader.abort();
        served.map_err(|e| e.to_string())?;
        Ok(0)
    })
}

/// Runs this same command again with `KRB5_KTNAME` set (MIT GSSAPI reads the keytab from the
/// environment; changing a running process's environment is not thread-safe, so the variable is
/// set for a fresh image instead). Only returns on failure.
fn reexec_with_ktname(ktname: &str) -> Result<u8, String> {
    use std::os::unix::process::CommandExt as _;
    const GUARD: &str = "EPA_SERVE_REEXEC";
    if std::env::var_os(GUARD).is_some() {
        return Err(format!(
            "KRB5_KTNAME is still not {ktname} after re-executing"
        ));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("KRB5_KTNAME", ktname)
        .env(GUARD, "1")
        .exec();
    Err(format!(
        "cannot re-execute with KRB5_KTNAME={ktname}: {err}"
    ))
}
