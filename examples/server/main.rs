//! The epa gateway runtime embedded with a handler of its own: `cargo run --example server`.
//!
//! `epa_server::serve` does everything `epa serve` does (TLS, deadlines, limits, graceful
//! shutdown, certificate rotation, the backend, `[metrics]`, `[diagnostics]`, client
//! certificates, SIGHUP reload); this program only adds flags (flags.rs, overrides.rs) and its
//! own handler: `/` (who you are), `/slow?ms=N` (answers after N ms), `/cert` (needs a client
//! certificate: 403.7/13/16/17 otherwise), `/metrics` with `--metrics`.

mod flags;
mod overrides;

use clap::Parser;
use epa::hyper::client_cert::VerifiedCertificate;
use epa::hyper::{AuthenticatedUser, body::ProxyBody};
use http::{Request, Response, StatusCode};
use std::{convert::Infallible, time::Duration};

/// `/`, `/slow?ms=N`, `/cert`: who the caller is (and the client certificate on `/cert`).
async fn hello(req: Request<hyper::body::Incoming>) -> Result<Response<ProxyBody>, Infallible> {
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
    let cert = req.extensions().get::<VerifiedCertificate>();
    let body = match (req.uri().path(), cert) {
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
            let mut not_found = Response::new(epa::hyper::body::full(""));
            *not_found.status_mut() = StatusCode::NOT_FOUND;
            return Ok(not_found);
        }
    };
    Ok(Response::new(epa::hyper::body::full(body)))
}

#[tokio::main]
async fn main() {
    let args = flags::Args::parse();
    let served = match args.options() {
        Ok(options) => epa::server::serve(options, tower::service_fn(hello))
            .await
            .map_err(Into::into),
        Err(e) => Err(e),
    };
    if let Err(e) = served {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
