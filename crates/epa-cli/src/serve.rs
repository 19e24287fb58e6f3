//! `epa serve --config FILE`: the library server (`epa_hyper::server`) built from the file that
//! `epa lint` checks; with `[upstream]` the app is the reverse proxy (`epa_hyper::proxy`, one
//! Extended Protection layer per route), otherwise a hello page naming the caller.

use epa_core::authenticator::Authenticator;
use epa_core::config::{ConfigError, PolicyTable, ServerConfig};
use epa_hyper::ExtendedProtectionLayer;
use epa_hyper::proxy::{IdentityHeaders, Proxy, Router, Upstream};
use epa_hyper::server::Server;
use http::{Request, Response};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};

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
}

/// The hello page: `hello DOMAIN\user` (or `hello` on an anonymous listener).
#[derive(Clone, Debug)]
struct Hello;

impl<B> tower_service::Service<Request<B>> for Hello {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let who = req
            .extensions()
            .get::<epa_hyper::AuthenticatedUser>()
            .map(|u| format!(" {}", u.identity.principal))
            .unwrap_or_default();
        std::future::ready(Ok(Response::new(format!("hello{who}\n"))))
    }
}

/// One layer for one `[policy]` table: backend, policy, audit target, trusted proxies and
/// identity persistence, as `Server::from_config` builds the default one.
fn layer(
    config: &ServerConfig,
    backend: &Arc<dyn Authenticator>,
    exchange_timeout: std::time::Duration,
    table: &PolicyTable,
) -> Result<ExtendedProtectionLayer, ConfigError> {
    let backend = backend.clone();
    let mut layer =
        ExtendedProtectionLayer::new(backend, table.build()?).limits(epa_hyper::Limits {
            exchange_timeout,
            ..epa_hyper::Limits::default()
        });
    if !config.listener.trusted_proxies.is_empty() {
        layer = layer.trusted_proxies(config.listener.trusted_proxies.clone());
    }
    if let Some(target) = table.build_target()? {
        layer = layer.audit(target);
    }
    if let Some(persist) = table.persist_identity {
        layer = layer.persist_identity(persist);
    }
    Ok(layer)
}

fn read_config(path: &Path) -> Result<ServerConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut config: ServerConfig =
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
    config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
    Ok(config)
}

/// Random hex from the kernel (demo password, directory name).
fn random_hex(bytes: usize) -> Result<String, String> {
    use std::io::Read as _;
    let mut buf = vec![0; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The demo: a certificate for localhost and a user file with one random password, in a
/// private directory (0700, random name, created or failed), `when-supported` on the default
/// address. Prints where the files are and the demo credentials.
fn demo(args: &mut ServeArgs) -> Result<ServerConfig, String> {
    let dir = std::env::temp_dir().join(format!("epa-serve-{}", random_hex(8)?));
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let g = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .map_err(|e| format!("cannot generate a certificate: {e}"))?;
    let (cert, key, users) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("users"));
    let password = random_hex(12)?;
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write(&cert, g.cert.pem())?;
    write(&key, g.signing_key.serialize_pem())?;
    write(&users, format!("{}:demo:{password}\n", args.domain))?;
    println!(
        "demo: generated certificate for localhost: {}",
        cert.display()
    );
    println!(
        "demo: user file {} — user {}\\demo, password {password}",
        users.display(),
        args.domain
    );
    args.users = Some(users);
    let mut config = ServerConfig::default();
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
    Ok(config)
}

/// Runs the server until SIGTERM/SIGINT. Prints `listening on https://ADDR` once it accepts.
pub fn run(args: &ServeArgs) -> Result<u8, String> {
    crate::logging::init();
    let mut args = args.clone();
    let config = match &args.config {
        Some(path) => read_config(path)?,
        None => demo(&mut args)?,
    };
    let args = &args;
    if let Some(ktname) = crate::serve_backend::required_ktname(&config) {
        return reexec_with_ktname(&ktname);
    }
    let backend: Option<Arc<dyn Authenticator>> = if config.listener.negotiate {
        Some(crate::serve_backend::build(
            &config,
            &crate::serve_backend::BackendArgs {
                users: args.users.as_deref(),
                domain: &args.domain,
                computer: &args.computer,
            },
        )?)
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let configured = Server::from_config(
            &config,
            backend
                .clone()
                .map(|b| Box::new(b) as Box<dyn Authenticator>),
        )
        .map_err(|e| e.to_string())?;
        let scheme = match config.listener.transport {
            epa_core::decide::Transport::Https => "https",
            epa_core::decide::Transport::Http => "http",
        };
        let server = configured.server;
        let listener = server.bind().await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let stop = epa_hyper::server::shutdown_signal();
        match &config.upstream {
            Some(up) => {
                let upstream = Upstream::from_table(up).map_err(|e| e.to_string())?;
                let names =
                    IdentityHeaders::new(&config.identity_headers).map_err(|e| e.to_string())?;
                let proxy = Proxy::new(upstream, names);
                let exchange = config
                    .listener
                    .deadlines()
                    .map_err(|e| e.to_string())?
                    .exchange;
                let router = Router::from_config(&config, &proxy, |t| match &backend {
                    Some(b) => layer(&config, b, exchange, t),
                    None => Err(ConfigError::Form(
                        "[[route]] policies need a listener that runs Negotiate",
                    )),
                })
                .map_err(|e| e.to_string())?;
                println!("proxying to {}", up.url);
                println!("listening on {scheme}://{addr}");
                server.serve_on(listener, router, stop).await
            }
            None => {
                println!("listening on {scheme}://{addr}");
                match configured.layer {
                    Some(l) => {
                        server
                            .serve_on(listener, tower_layer::Layer::layer(&l, Hello), stop)
                            .await
                    }
                    None => server.serve_on(listener, Hello, stop).await,
                }
            }
        }
        .map_err(|e| e.to_string())?;
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
