//! An HTTPS server with Extended Protection over the library's server: `cargo run --example server`.
//!
//! The flags map into the server configuration that `epa lint` checks (`--config FILE` reads one;
//! `server::Overrides` applies the others). Without a certificate one is generated for localhost
//! into a private directory; without `--users` a demo user is printed. Routes: `/` (who you
//! are), `/slow?ms=N` (answers after N ms), `/cert` (needs a client certificate: 403.7/13/16/17
//! otherwise), `/metrics` (with `--metrics`, no authentication). SIGTERM/SIGINT shut down
//! gracefully; SIGHUP or a changed file rotates the certificate.

use axum::body::Body;
use clap::Parser;
use epa::config::ServerConfig;
use epa::hyper::AuthenticatedUser;
use epa::hyper::client_cert::VerifiedCertificate;
use epa::hyper::server::{BackendOptions, MetricsRoute, Observability, Overrides, Server};
use http::{Request, Response, StatusCode};
use std::{convert::Infallible, path::PathBuf, time::Duration};

#[derive(Parser, Debug)]
#[command(about = "HTTPS server with Extended Protection for Authentication (Negotiate/NTLM)")]
struct Args {
    /// A server configuration file ([listener], [client_certificates], [policy]; `epa lint`).
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
    #[command(flatten)]
    backend: BackendOptions,
    #[command(flatten)]
    observability: Observability,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The configuration file (paths resolved against its directory), the flags applied, and a
/// certificate for localhost generated when HTTPS has none.
fn config(a: &Args) -> Result<ServerConfig, BoxError> {
    let mut c: ServerConfig = match &a.config {
        Some(p) => toml::from_str(
            &std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )?,
        None => ServerConfig::default(),
    };
    let dir = a.config.as_deref().and_then(|p| p.parent());
    c.resolve_paths(dir.unwrap_or(".".as_ref()));
    a.overrides.apply(&mut c)?;
    let l = &mut c.listener;
    if l.certificate_file.is_none() && l.transport == epa::Transport::Https {
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
    Ok(c)
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
    let body = match (
        req.uri().path(),
        req.extensions().get::<VerifiedCertificate>(),
    ) {
        ("/cert", Some(c)) => {
            let user = who.map(|u| format!("user: {}\n", u.identity));
            let (subject, issuer, sha256) = (&c.subject, &c.issuer, c.fingerprint());
            let user = user.unwrap_or_default();
            format!("subject: {subject}\nissuer: {issuer}\nsha256: {sha256}\n{user}")
        }
        ("/cert", None) => {
            "no valid client certificate (requirement observed, not enforced)\n".into()
        }
        ("/slow", _) => {
            let ms = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("ms=")?.parse().ok());
            tokio::time::sleep(Duration::from_millis(ms.unwrap_or(500u64).min(60_000))).await;
            user.unwrap_or_default()
        }
        ("/", _) => user.unwrap_or_else(|| "hello (no Negotiate on this listener)\n".into()),
        _ => {
            let mut not_found = Response::new(Body::empty());
            *not_found.status_mut() = StatusCode::NOT_FOUND;
            return Ok(not_found);
        }
    };
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
    let a = Args::parse();
    let metrics = a.observability.init()?;
    let c = config(&a)?;
    // `--backend gssapi` needs `cargo run --features gssapi --example server`.
    let backend = c
        .listener
        .negotiate
        .then(|| a.backend.build(&c, "EPA-SERVER"))
        .transpose()?;
    if let Some(line) = backend.as_ref().and_then(|b| b.demo_user.as_ref()) {
        println!("demo user file (gss-ntlmssp format): {line}");
    }
    let configured = Server::from_config(&c, backend.map(|b| b.authenticator))?;
    for line in configured.summary(&c)? {
        println!("{line}");
    }
    let app = MetricsRoute::new(metrics, configured.app(tower::service_fn(hello))?);
    let server = configured.server;
    let listener = server.bind().await?;
    let scheme = if a.overrides.http { "http" } else { "https" };
    println!("listening on {scheme}://{}", listener.local_addr()?);
    server
        .serve_on(listener, app, epa::hyper::server::shutdown_signal())
        .await?;
    Ok(())
}
