//! An HTTPS server with Extended Protection: `cargo run --example server`.
//!
//! Starts on 127.0.0.1:8443 with a certificate generated at start (or `--cert`/`--key`), the
//! embedded NTLM backend with a demo user it prints (or `--users FILE`), and enforcement
//! `when-supported`. `GET /` answers an authenticated user with 200 and a body naming the user
//! and the decision's service name. Decisions are logged to stderr (`RUST_LOG=epa=debug`).
//!
//! Client certificates (`--client-ca FILE`): asked for in the first handshake (`request` by
//! default, so `/` still serves clients without one), verified against the CA bundle and the
//! CRLs (`--crl`, re-read when they change); `/cert` requires one and answers with its subject,
//! or 403 with the IIS sub-status (403.7 none, 403.13 revoked, 403.16 untrusted, 403.17
//! expired). `--no-negotiate` serves client certificates alone; `--config FILE` reads the
//! server configuration file that `epa lint` checks.

use axum::body::Body;
use clap::Parser;
use epa::client_cert::{CaHints, ClientCertificateMode, RevocationMode};
use epa::config::PolicyTable;
use epa::config::{HintChoice, ServerConfig};
use epa::decide::Profile;
use epa::hyper::client_cert::{ClientCertificate, RequireClientCertificateLayer};
use epa::hyper::ntlm::{NtlmAcceptor, UserDb};
use epa::hyper::{
    AuthenticatedUser, ChannelFacts, ClientCertificateSettings, ClientCertificateVerifier,
    ExtendedProtectionLayer, TlsAcceptor,
};
use epa::{PolicyEnforcement, ServerPolicy};
use http::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use tokio::net::TcpListener;

#[derive(Parser, Debug)]
#[command(about = "HTTPS server with Extended Protection for Authentication (Negotiate/NTLM)")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Extended Protection enforcement (ignored with --policy).
    #[arg(long, default_value = "when-supported", value_parser = ["never", "when-supported", "always"])]
    enforcement: String,
    /// User file: DOMAIN:USER:PASSWORD lines (gss-ntlmssp format; $NT$<hex> for NT hashes).
    /// Without it a demo user with a random password is created and printed.
    #[arg(long)]
    users: Option<PathBuf>,
    /// Authentication backend: `embedded` (NTLMv2, no system service) or `gssapi` (MIT Kerberos,
    /// SPNEGO and gss-ntlmssp; keytab from KRB5_KTNAME; needs `--features gssapi`).
    #[arg(long, default_value = "embedded", value_parser = ["embedded", "gssapi"])]
    backend: String,
    /// Server certificate chain (PEM). Without --cert/--key one is generated for localhost.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// An acceptable service name (repeatable); default: the names of https://localhost:PORT/.
    #[arg(long = "service-name", value_name = "SPN")]
    service_names: Vec<String>,
    /// A TOML file whose [policy] table gives the policy (the scenario file format).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Decision profile (ignored with --policy, which names its own).
    #[arg(long, default_value = "documented", value_parser = ["documented", "dotnet-legacy", "dotnet8", "iis"])]
    profile: String,
    /// Serve plain HTTP instead of HTTPS (service-name binding only).
    #[arg(long)]
    http: bool,
    /// gssapi backend: refuse Kerberos tickets whose service principal is not an acceptable
    /// service name (MIT and Windows accept a ticket for any keytab principal).
    #[arg(long)]
    check_ticket_target: bool,
    /// Trusted proxy address (repeatable; with scenario trusted-proxy in --policy).
    #[arg(long = "trusted-proxy", value_name = "IP")]
    trusted_proxies: Vec<IpAddr>,
    /// The trusted proxy's certificate (PEM or DER): client bindings are verified against it.
    #[arg(long)]
    proxy_cert: Option<PathBuf>,
    /// NTLM domain announced in challenges.
    #[arg(long, default_value = "EXAMPLE")]
    domain: String,
    /// Trusted CAs for client certificates (PEM bundle).
    #[arg(long)]
    client_ca: Option<PathBuf>,
    /// When to ask for a client certificate, always in the first handshake (default: request
    /// with --client-ca, else ignore).
    #[arg(long, value_parser = ["ignore", "request", "require"])]
    client_cert: Option<String>,
    /// A CRL file, PEM or DER (repeatable); re-read when it changes.
    #[arg(long = "crl", value_name = "FILE")]
    crls: Vec<PathBuf>,
    /// Revocation checking of client certificates.
    #[arg(long, default_value = "check", value_parser = ["check", "allow-unknown", "end-entity-only", "off"])]
    revocation: String,
    /// Which CA names the CertificateRequest carries.
    #[arg(long, default_value = "all", value_parser = ["all", "none"])]
    ca_hints: String,
    /// Serve without Negotiate/NTLM (client certificates only).
    #[arg(long)]
    no_negotiate: bool,
    /// A server configuration file ([listener], [client_certificates], [policy]; see `epa
    /// lint`). Replaces the client-certificate flags, --policy and --no-negotiate.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Audit mode: also decide under this enforcement, log and count the requests it would
    /// refuse; responses follow --enforcement.
    #[arg(long, value_parser = ["never", "when-supported", "always"])]
    target_enforcement: Option<String>,
    /// Observe the client-certificate requirement of /cert without enforcing it.
    #[arg(long)]
    client_cert_audit: bool,
    /// Serve Prometheus metrics at /metrics (no authentication on that path).
    #[arg(long)]
    metrics: bool,
    /// Log format on stderr: `text` or `json` (one JSON object per line; what `epa
    /// audit-report` reads).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(serde::Deserialize)]
struct PolicyFile {
    policy: PolicyTable,
}

/// The server configuration: the file of --config, or one made from the flags.
fn server_config(args: &Args) -> Result<ServerConfig, BoxError> {
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut config: ServerConfig =
            toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
        config.resolve_paths(path.parent().unwrap_or(std::path::Path::new(".")));
        return Ok(config);
    }
    let mut config = ServerConfig::default();
    config.listener.negotiate = !args.no_negotiate;
    if args.http {
        config.listener.transport = epa::Transport::Http;
    }
    let cc = &mut config.client_certificates;
    cc.ca_files = args.client_ca.iter().cloned().collect();
    cc.mode = args.client_cert.as_deref().map(|m| match m {
        "require" => ClientCertificateMode::Require,
        "request" => ClientCertificateMode::Request,
        _ => ClientCertificateMode::Ignore,
    });
    cc.crl_files = args.crls.clone();
    cc.revocation = match args.revocation.as_str() {
        "allow-unknown" => RevocationMode::AllowUnknown,
        "end-entity-only" => RevocationMode::EndEntityOnly,
        "off" => RevocationMode::Off,
        _ => RevocationMode::Check,
    };
    cc.hints = if args.ca_hints == "none" {
        HintChoice::None
    } else {
        HintChoice::All
    };
    cc.required_paths = vec!["/cert".into()];
    cc.audit_only = args.client_cert_audit;
    Ok(config)
}

/// The client-certificate verifier the configuration asks for, if any.
fn client_certificates(
    config: &ServerConfig,
) -> Result<Option<std::sync::Arc<ClientCertificateVerifier>>, BoxError> {
    let table = &config.client_certificates;
    let mode = table.effective_mode();
    if mode == ClientCertificateMode::Ignore {
        return Ok(None);
    }
    let mut roots = Vec::new();
    for file in &table.ca_files {
        roots.extend(epa::hyper::client_cert::read_ca_bundle(file)?);
    }
    let mut settings = ClientCertificateSettings::new(mode, roots);
    settings.crl_files = table.crl_files.clone();
    settings.revocation = table.revocation;
    settings.hints = match table.hints {
        HintChoice::All => CaHints::All,
        HintChoice::None => CaHints::None,
        HintChoice::Subset => {
            let mut names = Vec::new();
            for file in &table.hint_ca_files {
                for der in epa::hyper::client_cert::read_ca_bundle(file)? {
                    names.push(epa::client_cert::certificate_subject(&der)?.to_vec());
                }
            }
            CaHints::Subset(names)
        }
    };
    let verifier = settings.build()?;
    for w in verifier.warnings() {
        println!("warning: {w}");
    }
    println!(
        "client certificates: {mode:?} (IIS sslFlags \"{}\" with Negotiate Client Certificate enabled), revocation {:?}, acceptable-CA list {} bytes",
        mode.iis_ssl_flags(),
        table.revocation,
        match verifier.hint_size() {
            epa::client_cert::CaHintSize::Fine { size }
            | epa::client_cert::CaHintSize::OverSchannelLimit { size } => size,
        }
    );
    Ok(Some(verifier))
}

/// The `[policy]` table: the configuration file's, --policy's, or one made from the flags.
fn policy_table(args: &Args, config: &ServerConfig) -> Result<PolicyTable, BoxError> {
    if let Some(table) = &config.policy {
        return Ok(table.clone());
    }
    if let Some(path) = &args.policy {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file: PolicyFile =
            toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
        return Ok(file.policy);
    }
    let pe = enforcement(&args.enforcement);
    let target = args.target_enforcement.as_deref().map(enforcement);
    let scheme = if args.http { "http" } else { "https" };
    Ok(PolicyTable {
        enforcement: Some(pe),
        service_names: (!args.service_names.is_empty()
            && (pe != PolicyEnforcement::Never || target.is_some()))
        .then(|| args.service_names.clone()),
        prefixes: vec![format!("{scheme}://localhost:{}/", args.listen.port())],
        target_enforcement: target,
        profile: Some(match args.profile.as_str() {
            "dotnet-legacy" => Profile::DotnetLegacy,
            "dotnet8" => Profile::Dotnet8,
            "iis" => Profile::Iis,
            _ => Profile::Documented,
        }),
        ..PolicyTable::default()
    })
}

fn enforcement(name: &str) -> PolicyEnforcement {
    match name {
        "never" => PolicyEnforcement::Never,
        "always" => PolicyEnforcement::Always,
        _ => PolicyEnforcement::WhenSupported,
    }
}

fn users(args: &Args) -> Result<UserDb, BoxError> {
    if let Some(path) = &args.users {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        return Ok(UserDb::parse(&text)?);
    }
    let password: String = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(std::process::id().into());
        format!("demo-{:016x}", h.finish())
    };
    let line = format!("{}:demo:{password}", args.domain);
    println!("demo user file (gss-ntlmssp format): {line}");
    println!(
        "try: curl -k --ntlm -u '{}\\demo:{password}' https://localhost:{}/",
        args.domain,
        args.listen.port()
    );
    Ok(UserDb::parse(&line)?)
}

fn tls_config(
    args: &Args,
    client: Option<&std::sync::Arc<ClientCertificateVerifier>>,
) -> Result<rustls::ServerConfig, BoxError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (chain, key) = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| format!("{}: {e}", cert.display()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{}: {e}", cert.display()))?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
            (chain, key)
        }
        _ => {
            let generated =
                rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
            let dir = std::env::temp_dir().join(format!("epa-server-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let path = dir.join("cert.pem");
            std::fs::write(&path, generated.cert.pem())?;
            println!("generated certificate for localhost: {}", path.display());
            let key = PrivateKeyDer::try_from(generated.signing_key.serialize_der())?;
            (vec![generated.cert.der().clone()], key)
        }
    };
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?;
    let builder = match client {
        Some(verifier) => builder.with_client_cert_verifier(verifier.clone()),
        None => builder.with_no_client_auth(),
    };
    Ok(builder.with_single_cert(chain, key)?)
}

#[cfg(feature = "gssapi")]
fn gssapi_layer(
    policy: ServerPolicy,
    check_ticket_target: bool,
) -> Result<ExtendedProtectionLayer, BoxError> {
    let mut backend = epa::hyper::gssapi::GssapiAcceptor::new();
    if check_ticket_target {
        backend = backend.check_ticket_target(policy.acceptable_service_names().clone());
    }
    backend.check()?;
    println!(
        "backend: gssapi (keytab {})",
        std::env::var("KRB5_KTNAME").unwrap_or_else(|_| "default".into())
    );
    Ok(ExtendedProtectionLayer::new(backend, policy))
}

#[cfg(not(feature = "gssapi"))]
fn gssapi_layer(_: ServerPolicy, _: bool) -> Result<ExtendedProtectionLayer, BoxError> {
    Err("this server was built without the gssapi backend: cargo run --features gssapi --example server -- --backend gssapi".into())
}

/// `/`: who the caller is. `/cert` (behind the client-certificate requirement): the
/// certificate's subject, and the user when Negotiate also ran.
async fn hello(req: Request<hyper::body::Incoming>) -> Result<Response<Body>, Infallible> {
    let user = req.extensions().get::<AuthenticatedUser>();
    let certificate = req.extensions().get::<std::sync::Arc<ClientCertificate>>();
    let body = match (req.uri().path(), certificate) {
        ("/cert", Some(c)) => {
            let mut body = format!(
                "subject: {}\nissuer: {}\nsha256: {}\n",
                c.subject,
                c.issuer,
                c.fingerprint()
            );
            if let Some(user) = user {
                body.push_str(&format!("user: {}\n", user.identity));
            }
            body
        }
        // Reached without a valid certificate only when the requirement is audited.
        ("/cert", None) => {
            "no valid client certificate (requirement observed, not enforced)\n".to_owned()
        }
        ("/", _) => match user {
            Some(user) => {
                let service_name = match user.service_name.as_option() {
                    None => "none".to_owned(),
                    Some(s) => format!("{s:?}"),
                };
                format!(
                    "hello {}\nmechanism: {}\nservice name: {service_name}\nreason: {}\n",
                    user.identity,
                    user.mechanism.name(),
                    user.reason.code()
                )
            }
            None => "hello (no Negotiate on this listener)\n".to_owned(),
        },
        _ => {
            return Ok(Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body(Body::empty())
                .unwrap_or_default());
        }
    };
    Ok(Response::new(Body::from(body)))
}

type App = tower::util::BoxCloneService<Request<hyper::body::Incoming>, Response<Body>, Infallible>;

/// Routes that need a client certificate go through [`RequireClientCertificateLayer`] first (403.x
/// before any Negotiate leg), then the same Negotiate-protected handler.
fn app(
    layer: Option<ExtendedProtectionLayer>,
    config: &ServerConfig,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> Result<App, BoxError> {
    use tower::ServiceExt as _;
    let inner: App = match layer {
        Some(layer) => App::new(tower_layer::Layer::layer(&layer, tower::service_fn(hello))),
        None => App::new(tower::service_fn(hello)),
    };
    let requirement = if config.client_certificates.audit_only {
        RequireClientCertificateLayer::audit_only()
    } else {
        RequireClientCertificateLayer::enforced()
    }
    // Normalised prefixes; a request path that cannot be normalised is answered 400.
    .under(config.client_certificates.required_prefixes()?);
    let with_cert: App = App::new(tower_layer::Layer::layer(&requirement, inner.clone()));
    let table = config.client_certificates.clone();
    // /metrics, when on, answers before any authentication (an operations endpoint).
    let metrics: Option<App> = metrics.map(|handle| {
        App::new(tower::service_fn(
            move |_: Request<hyper::body::Incoming>| {
                let body = handle.render();
                async move {
                    Ok(Response::builder()
                        .header("content-type", "text/plain; version=0.0.4")
                        .body(Body::from(body))
                        .unwrap_or_default())
                }
            },
        ))
    });
    Ok(App::new(tower::service_fn(
        move |req: Request<hyper::body::Incoming>| {
            let path = req.uri().path();
            let route = match &metrics {
                Some(m) if path == "/metrics" => m.clone(),
                _ if table.requires(path) => with_cert.clone(),
                _ => inner.clone(),
            };
            route.oneshot(req)
        },
    )))
}

fn negotiate_layer(
    args: &Args,
    config: &ServerConfig,
) -> Result<ExtendedProtectionLayer, BoxError> {
    let table = policy_table(args, config)?;
    let server_policy = table.build()?;
    let target = table.build_target()?;
    println!(
        "policy: {} (profile {})",
        server_policy.policy(),
        server_policy.profile().name()
    );
    if let Some(target) = &target {
        println!("audit: observing {}", target.policy());
    }
    let mut layer = match args.backend.as_str() {
        "gssapi" => gssapi_layer(server_policy, args.check_ticket_target)?,
        _ => ExtendedProtectionLayer::new(
            NtlmAcceptor::new(users(args)?, &args.domain, "EPA-SERVER"),
            server_policy,
        ),
    };
    let proxies: Vec<IpAddr> = args
        .trusted_proxies
        .iter()
        .chain(&config.listener.trusted_proxies)
        .copied()
        .collect();
    if !proxies.is_empty() {
        layer = layer.trusted_proxies(proxies);
    }
    if let Some(target) = target {
        layer = layer.audit(target);
    }
    if let Some(path) = &args.proxy_cert {
        let der = epa::cbt::certificate_der(&std::fs::read(path)?)?;
        layer = layer.proxy_certificate(&der)?;
    }
    Ok(layer)
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), BoxError> {
    let args = Args::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "epa=info".into());
    if args.log_format == "json" {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let metrics = if args.metrics {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| format!("metrics: {e}"))?;
        println!("metrics: /metrics (Prometheus text format)");
        Some(handle)
    } else {
        None
    };
    let config = server_config(&args)?;
    let layer = if config.listener.negotiate {
        Some(negotiate_layer(&args, &config)?)
    } else {
        println!("negotiate: off (client certificates only)");
        None
    };
    let client = client_certificates(&config)?;
    let app = app(layer, &config, metrics)?;
    let listener = TcpListener::bind(args.listen).await?;
    let local = listener.local_addr()?;
    let http = config.listener.transport == epa::Transport::Http;
    let acceptor = if http {
        None
    } else {
        let tls = tls_config(&args, client.as_ref())?;
        Some(std::sync::Arc::new(match client {
            Some(verifier) => TlsAcceptor::with_client_certificates(tls, verifier),
            None => TlsAcceptor::new(tls),
        }))
    };
    println!(
        "listening on {}://{local}",
        if http { "http" } else { "https" }
    );
    loop {
        let (tcp, peer) = listener.accept().await?;
        let app = app.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let served = match acceptor {
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok((tls, facts)) => epa::hyper::serve_connection(tls, facts, app).await,
                    Err(e) => {
                        tracing::debug!(target: "epa", %peer, "TLS accept failed: {e}");
                        return;
                    }
                },
                None => epa::hyper::serve_connection(tcp, ChannelFacts::plain(peer), app).await,
            };
            if let Err(e) = served {
                tracing::debug!(target: "epa", %peer, "connection ended: {e}");
            }
        });
    }
}
