//! An HTTPS server with Extended Protection: `cargo run --example server`.
//!
//! Starts on 127.0.0.1:8443 with a certificate generated at start (or `--cert`/`--key`), the
//! embedded NTLM backend with a demo user it prints (or `--users FILE`), and enforcement
//! `when-supported`. `GET /` answers an authenticated user with 200 and a body naming the user
//! and the decision's service name. Decisions are logged to stderr (`RUST_LOG=epa=debug`).

use axum::body::Body;
use clap::Parser;
use epa::config::PolicyTable;
use epa::decide::Profile;
use epa::hyper::ntlm::{NtlmAcceptor, UserDb};
use epa::hyper::{AuthenticatedUser, ChannelFacts, ExtendedProtection, TlsAcceptor};
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
    /// Trusted proxy address (repeatable; with scenario trusted-proxy in --policy).
    #[arg(long = "trusted-proxy", value_name = "IP")]
    trusted_proxies: Vec<IpAddr>,
    /// The trusted proxy's certificate (PEM or DER): client bindings are verified against it.
    #[arg(long)]
    proxy_cert: Option<PathBuf>,
    /// NTLM domain announced in challenges.
    #[arg(long, default_value = "EXAMPLE")]
    domain: String,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(serde::Deserialize)]
struct PolicyFile {
    policy: PolicyTable,
}

fn policy(args: &Args) -> Result<ServerPolicy, BoxError> {
    if let Some(path) = &args.policy {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file: PolicyFile =
            toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
        return Ok(file.policy.build()?);
    }
    let enforcement = match args.enforcement.as_str() {
        "never" => PolicyEnforcement::Never,
        "always" => PolicyEnforcement::Always,
        _ => PolicyEnforcement::WhenSupported,
    };
    let scheme = if args.http { "http" } else { "https" };
    let table = PolicyTable {
        enforcement: Some(enforcement),
        service_names: (!args.service_names.is_empty() && enforcement != PolicyEnforcement::Never)
            .then(|| args.service_names.clone()),
        prefixes: vec![format!("{scheme}://localhost:{}/", args.listen.port())],
        profile: Some(match args.profile.as_str() {
            "dotnet-legacy" => Profile::DotnetLegacy,
            "dotnet8" => Profile::Dotnet8,
            "iis" => Profile::HttpSys,
            _ => Profile::Documented,
        }),
        ..PolicyTable::default()
    };
    Ok(table.build()?)
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

fn tls_config(args: &Args) -> Result<rustls::ServerConfig, BoxError> {
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
    Ok(rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?)
}

#[cfg(feature = "gssapi")]
fn gssapi_layer(policy: ServerPolicy) -> Result<ExtendedProtection, BoxError> {
    let backend = epa::hyper::gssapi::GssapiAcceptor::new();
    backend.check()?;
    println!(
        "backend: gssapi (keytab {})",
        std::env::var("KRB5_KTNAME").unwrap_or_else(|_| "default".into())
    );
    Ok(ExtendedProtection::new(backend, policy))
}

#[cfg(not(feature = "gssapi"))]
fn gssapi_layer(_: ServerPolicy) -> Result<ExtendedProtection, BoxError> {
    Err("this server was built without the gssapi backend: cargo run --features gssapi --example server -- --backend gssapi".into())
}

async fn hello(req: Request<hyper::body::Incoming>) -> Result<Response<Body>, Infallible> {
    let Some(user) = req.extensions().get::<AuthenticatedUser>() else {
        // Unreachable behind the layer, which refuses unauthenticated requests.
        return Ok(Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .body(Body::empty())
            .unwrap_or_default());
    };
    if req.uri().path() != "/" {
        return Ok(Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap_or_default());
    }
    let service_name = match user.service_name.as_option() {
        None => "none".to_owned(),
        Some(s) => format!("{s:?}"),
    };
    let body = format!(
        "hello {}\nmechanism: {}\nservice name: {service_name}\nreason: {}\n",
        user.identity,
        user.mechanism.name(),
        user.reason
    );
    Ok(Response::new(Body::from(body)))
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "epa=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let server_policy = policy(&args)?;
    println!(
        "policy: {} (profile {})",
        server_policy.policy(),
        server_policy.profile().name()
    );
    let mut layer = match args.backend.as_str() {
        "gssapi" => gssapi_layer(server_policy)?,
        _ => ExtendedProtection::new(
            NtlmAcceptor::new(users(&args)?, &args.domain, "EPA-SERVER"),
            server_policy,
        ),
    };
    if !args.trusted_proxies.is_empty() {
        layer = layer.trusted_proxies(args.trusted_proxies.clone());
    }
    if let Some(path) = &args.proxy_cert {
        let der = epa::cbt::certificate_der(&std::fs::read(path)?)?;
        layer = layer.proxy_certificate(&der)?;
    }
    let app = tower_layer::Layer::layer(&layer, tower::service_fn(hello));
    let listener = TcpListener::bind(args.listen).await?;
    let local = listener.local_addr()?;
    let acceptor = if args.http {
        None
    } else {
        Some(std::sync::Arc::new(TlsAcceptor::new(tls_config(&args)?)))
    };
    println!(
        "listening on {}://{local}",
        if args.http { "http" } else { "https" }
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
