//! An HTTPS server with Extended Protection over the library's server: `cargo run --example server`.
//!
//! The flags map into the server configuration that `epa lint` checks (`--config FILE` reads one;
//! `--listen`, `--cert`/`--key` and the client-certificate flags then override it). Without a
//! certificate one is generated for localhost into a private directory; without `--users` a demo
//! user is printed. Routes: `/` (who you are), `/slow?ms=N` (answers after N ms), `/cert` (needs a
//! client certificate: 403.7/13/16/17 otherwise), `/metrics` (with `--metrics`, no authentication).
//! SIGTERM/SIGINT shut down gracefully; SIGHUP or a changed file rotates the certificate.

use axum::body::Body;
use clap::Parser;
use epa::config::{PolicyTable, ServerConfig};
use epa::hyper::client_cert::{ClientCertificate, RequireClientCertificateLayer};
use epa::hyper::ntlm::{NtlmAcceptor, UserDb};
use epa::hyper::server::Server;
use epa::hyper::{AuthenticatedUser, ExtendedProtectionLayer};
use http::{Request, Response, StatusCode};
use std::{convert::Infallible, net::SocketAddr, path::PathBuf};

#[derive(Parser, Debug)]
#[command(about = "HTTPS server with Extended Protection for Authentication (Negotiate/NTLM)")]
struct Args {
    /// Address to listen on ([listener] address).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// A server configuration file ([listener], [client_certificates], [policy]; `epa lint`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Enforcement when the file has no [policy]: never | when-supported | always.
    #[arg(long, default_value = "when-supported")]
    enforcement: String,
    /// Audit: also decide under this enforcement; log and count what it would refuse.
    #[arg(long)]
    target_enforcement: Option<String>,
    /// An acceptable service name (repeatable).
    #[arg(long = "service-name", value_name = "SPN")]
    service_names: Vec<String>,
    /// User file (DOMAIN:USER:PASSWORD lines); default: a printed demo user.
    #[arg(long)]
    users: Option<PathBuf>,
    /// `embedded` (NTLMv2) or `gssapi` (Kerberos/SPNEGO; `--features gssapi`, KRB5_KTNAME).
    #[arg(long, default_value = "embedded", value_parser = ["embedded", "gssapi"])]
    backend: String,
    /// gssapi backend: refuse Kerberos tickets whose service principal is not an acceptable
    /// service name (MIT and Windows accept a ticket for any keytab principal).
    #[arg(long)]
    check_ticket_target: bool,
    /// NTLM domain announced in challenges.
    #[arg(long, default_value = "EXAMPLE")]
    domain: String,
    /// Server certificate chain and key (PEM).
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    #[arg(long, requires = "cert", hide = true)]
    key: Option<PathBuf>,
    /// Plain HTTP (service-name binding only).
    #[arg(long)]
    http: bool,
    /// Client certificates: trusted CAs (PEM), CRLs, revocation mode, CA hints (all | none).
    #[arg(long)]
    client_ca: Option<PathBuf>,
    #[arg(long = "crl", hide = true)]
    crls: Vec<PathBuf>,
    #[arg(long, hide = true)]
    revocation: Option<String>,
    #[arg(long, hide = true)]
    ca_hints: Option<String>,
    /// Observe /cert's certificate requirement without enforcing it.
    #[arg(long)]
    client_cert_audit: bool,
    /// Client certificates alone, no Negotiate.
    #[arg(long)]
    no_negotiate: bool,
    /// Serve Prometheus metrics at /metrics.
    #[arg(long)]
    metrics: bool,
    /// Log format on stderr: text | json (what `epa audit-report` reads).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type App = tower::util::BoxCloneService<Request<hyper::body::Incoming>, Response<Body>, Infallible>;

/// A configuration value from its wire name (the names `epa lint` files use).
fn wire<T: serde::de::DeserializeOwned>(name: &str) -> Result<T, BoxError> {
    use serde::de::value::{Error, StrDeserializer};
    Ok(T::deserialize(StrDeserializer::<Error>::new(name))?)
}

fn config(a: &Args) -> Result<ServerConfig, BoxError> {
    let mut c: ServerConfig = match &a.config {
        Some(p) => toml::from_str(
            &std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )?,
        None => ServerConfig::default(),
    };
    c.resolve_paths(
        a.config
            .as_deref()
            .and_then(|p| p.parent())
            .unwrap_or(".".as_ref()),
    );
    let l = &mut c.listener;
    l.address = a.listen.unwrap_or(l.address);
    l.negotiate &= !a.no_negotiate;
    if a.http {
        l.transport = epa::Transport::Http;
    }
    if let (Some(cert), Some(key)) = (&a.cert, &a.key) {
        (l.certificate_file, l.key_file) = (Some(cert.clone()), Some(key.clone()));
    } else if l.certificate_file.is_none() && !a.http {
        let g = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
        // A private directory (0700, random name, created or failed: never an existing one).
        let salt = std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            std::process::id(),
        );
        let dir = std::env::temp_dir().join(format!("epa-server-{salt:016x}"));
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(&dir)?;
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, g.cert.pem())?;
        std::fs::write(&key, g.signing_key.serialize_pem())?;
        println!("generated certificate for localhost: {}", cert.display());
        (l.certificate_file, l.key_file) = (Some(cert), Some(key));
    }
    let cc = &mut c.client_certificates;
    cc.ca_files.extend(a.client_ca.clone());
    cc.crl_files.extend(a.crls.iter().cloned());
    if let Some(r) = &a.revocation {
        cc.revocation = wire(r)?;
    }
    if let Some(h) = &a.ca_hints {
        cc.hints = wire(h)?;
    }
    if a.client_ca.is_some() && cc.required_paths.is_empty() {
        cc.required_paths = vec!["/cert".into()];
    }
    cc.audit_only |= a.client_cert_audit;
    if c.policy.is_none() {
        let pe = wire(&a.enforcement)?;
        let target = a.target_enforcement.as_deref().map(wire).transpose()?;
        let names = !a.service_names.is_empty()
            && (pe != epa::PolicyEnforcement::Never || target.is_some());
        c.policy = Some(PolicyTable {
            enforcement: Some(pe),
            service_names: names.then(|| a.service_names.clone()),
            prefixes: vec![format!(
                "{}://localhost:{}/",
                if a.http { "http" } else { "https" },
                c.listener.address.port()
            )],
            target_enforcement: target,
            ..PolicyTable::default()
        });
    }
    Ok(c)
}

fn backend(
    a: &Args,
    c: &ServerConfig,
) -> Result<Box<dyn epa::authenticator::Authenticator>, BoxError> {
    #[cfg(feature = "gssapi")]
    if a.backend == "gssapi" {
        let mut backend = epa::hyper::gssapi::GssapiAcceptor::new();
        if a.check_ticket_target
            && let Some(p) = &c.policy
        {
            backend = backend.check_ticket_target(p.build()?.acceptable_service_names().clone());
        }
        backend.check()?;
        return Ok(Box::new(backend));
    }
    if a.backend == "gssapi" {
        return Err(
            "built without the gssapi backend: cargo run --features gssapi --example server".into(),
        );
    }
    let users = match &a.users {
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => {
            let line = format!(
                "{}:demo:demo-{:016x}",
                a.domain,
                std::hash::BuildHasher::hash_one(
                    &std::collections::hash_map::RandomState::new(),
                    std::process::id()
                )
            );
            println!("demo user file (gss-ntlmssp format): {line}");
            line
        }
    };
    Ok(Box::new(NtlmAcceptor::new(
        UserDb::parse(&users)?,
        &a.domain,
        "EPA-SERVER",
    )))
}

/// `/`, `/slow?ms=N`, `/cert`: who the caller is (and the client certificate on `/cert`).
async fn hello(req: Request<hyper::body::Incoming>) -> Result<Response<Body>, Infallible> {
    let who = req.extensions().get::<AuthenticatedUser>();
    let user = who.map(|u| {
        let name = u.service_name.as_option().map(|s| format!("{s:?}"));
        format!(
            "hello {}\nmechanism: {}\nservice name: {}\nreason: {}\n",
            u.identity,
            u.mechanism.name(),
            name.as_deref().unwrap_or("none"),
            u.reason.code()
        )
    });
    let cert = req.extensions().get::<std::sync::Arc<ClientCertificate>>();
    let body = match (req.uri().path(), cert) {
        ("/cert", Some(c)) => format!(
            "subject: {}\nissuer: {}\nsha256: {}\n{}",
            c.subject,
            c.issuer,
            c.fingerprint(),
            who.map(|u| format!("user: {}\n", u.identity))
                .unwrap_or_default()
        ),
        ("/cert", None) => {
            "no valid client certificate (requirement observed, not enforced)\n".into()
        }
        ("/slow", _) => {
            let ms = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("ms=")?.parse().ok())
                .unwrap_or(500u64)
                .min(60_000);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            user.unwrap_or_default()
        }
        ("/", _) => user.unwrap_or_else(|| "hello (no Negotiate on this listener)\n".into()),
        _ => {
            return Ok(Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body(Body::empty())
                .unwrap_or_default());
        }
    };
    Ok(Response::new(Body::from(body)))
}

/// Routes needing a client certificate go through the requirement first (403.x before any
/// Negotiate leg); `/metrics` answers before any authentication.
fn app(
    layer: Option<ExtendedProtectionLayer>,
    c: &ServerConfig,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> Result<App, BoxError> {
    use tower::ServiceExt as _;
    let inner = match layer {
        Some(layer) => App::new(tower_layer::Layer::layer(&layer, tower::service_fn(hello))),
        None => App::new(tower::service_fn(hello)),
    };
    let rule = if c.client_certificates.audit_only {
        RequireClientCertificateLayer::audit_only()
    } else {
        RequireClientCertificateLayer::enforced()
    }
    // Normalised prefixes; a request path that cannot be normalised is answered 400.
    .under(c.client_certificates.required_prefixes()?);
    let with_cert = App::new(tower_layer::Layer::layer(&rule, inner.clone()));
    let table = c.client_certificates.clone();
    let metrics = metrics.map(|m| {
        App::new(tower::service_fn(move |_| {
            let text = m.render();
            async move {
                Ok(Response::builder()
                    .header("content-type", "text/plain; version=0.0.4")
                    .body(Body::from(text))
                    .unwrap_or_default())
            }
        }))
    });
    Ok(App::new(tower::service_fn(
        move |req: Request<hyper::body::Incoming>| {
            let route = match &metrics {
                Some(m) if req.uri().path() == "/metrics" => m.clone(),
                _ if table.requires(req.uri().path()) => with_cert.clone(),
                _ => inner.clone(),
            };
            route.oneshot(req)
        },
    )))
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), BoxError> {
    let a = Args::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "epa=info".into());
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if a.log_format == "json" {
        log.json().init()
    } else {
        log.with_ansi(false).init()
    }
    let metrics = a
        .metrics
        .then(|| metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder())
        .transpose()?;
    let c = config(&a)?;
    let backend = if c.listener.negotiate {
        Some(backend(&a, &c)?)
    } else {
        None
    };
    let configured = Server::from_config(&c, backend)?;
    if let Some(v) = &configured.client_certificates {
        for w in v.warnings() {
            println!("warning: {w}");
        }
        let (epa::client_cert::CaHintSize::Fine { size }
        | epa::client_cert::CaHintSize::OverSchannelLimit { size }) = v.hint_size();
        let mode = c.client_certificates.effective_mode();
        println!(
            "client certificates: {mode:?} (IIS sslFlags \"{}\" with Negotiate Client Certificate enabled), revocation {:?}, acceptable-CA list {size} bytes",
            mode.iis_ssl_flags(),
            c.client_certificates.revocation
        );
    }
    if let Some(p) = &c.policy
        && c.listener.negotiate
    {
        println!(
            "policy: {} (profile {})",
            p.build()?.policy(),
            p.build()?.profile().name()
        );
        if let Some(t) = p.build_target()? {
            println!("audit: observing {}", t.policy());
        }
    }
    let server = configured.server;
    let listener = server.bind().await?;
    println!(
        "listening on {}://{}",
        if a.http { "http" } else { "https" },
        listener.local_addr()?
    );
    let app = app(configured.layer, &c, metrics)?;
    server
        .serve_on(listener, app, epa::hyper::server::shutdown_signal())
        .await?;
    Ok(())
}
