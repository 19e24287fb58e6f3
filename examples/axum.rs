//! Extended Protection in an axum application: `cargo run --example axum`.
//!
//! axum's `serve` hides connections, and Negotiate/NTLM authenticate a connection, so the router
//! (with the layer on its routes) is served by the library's server: each TLS connection gets
//! its facts and its own security context, under the server's deadlines and limits, with
//! graceful shutdown on SIGTERM/SIGINT.

use axum::{Extension, Router, routing::get};
use epa::decide::Profile;
use epa::hyper::ntlm::{NtlmAcceptor, UserDb};
use epa::hyper::{AuthenticatedUser, ExtendedProtectionLayer, TlsAcceptor};
use epa::server::Server;
use epa::{
    ExtendedProtectionPolicy, PolicyEnforcement, ProtectionScenario, ServerPolicy,
    ServiceNameCollection,
};

async fn whoami(Extension(user): Extension<AuthenticatedUser>) -> String {
    format!(
        "hello {} ({}, {})\n",
        user.identity,
        user.mechanism.name(),
        user.reason
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let users = UserDb::parse("EXAMPLE:alice:alice-password")?;
    let policy = ExtendedProtectionPolicy::with_service_names(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
        ["HTTP/localhost"],
    )?;
    let policy = ServerPolicy::new(
        policy,
        &ServiceNameCollection::default(),
        Profile::Documented,
    )?;
    let layer = ExtendedProtectionLayer::new(NtlmAcceptor::new(users, "EXAMPLE", "WEB01"), policy);
    let app = Router::new().route("/", get(whoami)).layer(layer);

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())?;
    let tls = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)?;
    let server = Server::new("127.0.0.1:8444".parse()?).tls(TlsAcceptor::new(tls));
    println!(
        "listening on https://{}  (curl -k --ntlm -u 'EXAMPLE\\alice:alice-password' https://localhost:8444/)",
        server.address()
    );
    server.serve(app).await?;
    Ok(())
}
