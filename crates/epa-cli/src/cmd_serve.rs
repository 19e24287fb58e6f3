//! `epa serve`: the arguments, the demo when no file is given, and the `KRB5_KTNAME`
//! re-execution; the gateway itself is `epa_server::serve` with the hello page.

use epa_server::app::{ConfigSource, Hello, LogFormat, ServeOptions, init_logging};
use std::net::SocketAddr;
use std::path::PathBuf;

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

/// Runs the gateway until SIGTERM/SIGINT. Logs on stderr (`RUST_LOG`, default `epa=info`;
/// `EPA_LOG_FORMAT=json` for JSON lines).
pub fn run(args: ServeArgs) -> Result<u8, String> {
    let format = match std::env::var("EPA_LOG_FORMAT").as_deref() {
        Ok("json") => LogFormat::Json,
        _ => LogFormat::Text,
    };
    init_logging(format).map_err(|e| e.to_string())?;
    // Declared first, dropped last: the demo directory outlives everything that reads it.
    let (source, users, mut demo) = match args.config {
        Some(path) => (ConfigSource::File(path), args.users, None),
        None => {
            let demo = crate::serve_demo::demo(&args.domain, args.address)?;
            (
                ConfigSource::Given(Box::new(demo.config.clone())),
                Some(demo.users.clone()),
                Some(demo),
            )
        }
    };
    // The demo chose its port already (its issuer and key page name it).
    let address = demo
        .as_ref()
        .map_or(args.address, |d| Some(d.config.listener.address));
    let options = ServeOptions {
        config: source,
        users,
        domain: args.domain,
        computer: args.computer,
        address,
    };
    let config = options.load().map_err(|e| e.to_string())?;
    if let Some(ktname) = epa_server::app::backend::required_ktname(&config) {
        return reexec_with_ktname(&ktname);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        if let Some(demo) = demo.as_mut() {
            demo.spawn_app()?;
        }
        epa_server::serve(options, Hello)
            .await
            .map_err(|e| e.to_string())
    })?;
    Ok(0)
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
