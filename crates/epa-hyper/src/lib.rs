//! Extended Protection for hyper servers.
//!
//! * [`ExtendedProtectionLayer`]: the tower `Layer` that runs Negotiate/NTLM and enforces the policy
//!   through [`epa_core::decide()`];
//! * [`TlsAcceptor`]: tokio-rustls glue that records each connection's [`ChannelFacts`];
//! * [`server`]: the server — TLS, one security context per connection, deadlines, connection
//!   limits, graceful shutdown, certificate rotation (or [`serve_connection`] for your own loop,
//!   which must then spawn per connection, retry accept errors rather than end, and put deadlines
//!   on the handshake and on idle connections itself);
//! * [`authenticator`]: the trait every backend implements;
//! * [`client_cert`]: client certificates asked for in the first handshake, required per route;
//! * [`telemetry`]: the decision event's fields and the metric names (an interface);
//! * [`ntlm`]: the embedded NTLMv2 acceptor (the default backend, no system service);
//! * [`proxy`]: the reverse proxy behind the layer (identity headers, per-route policies);
//! * [`diagnose`]: the client diagnostics page (what a login sent, what each policy decides).
//!
//! ```no_run
//! use epa_core::{decide::Profile, ExtendedProtectionPolicy, PolicyEnforcement, ProtectionScenario};
//! use epa_core::{ServerPolicy, ServiceNameCollection};
//! use epa_hyper::{ExtendedProtectionLayer, TlsAcceptor, ntlm::{NtlmAcceptor, UserDb}};
//!
//! async fn hello(
//!     _: http::Request<hyper::body::Incoming>,
//! ) -> Result<http::Response<String>, std::convert::Infallible> {
//!     Ok(http::Response::new("hello".into()))
//! }
//!
//! async fn run(tls_config: rustls::ServerConfig) -> Result<(), Box<dyn std::error::Error>> {
//!     let users = UserDb::parse("EXAMPLE:alice:alice-password")?;
//!     let policy = ExtendedProtectionPolicy::with_service_names(
//!         PolicyEnforcement::Always, ProtectionScenario::TransportSelected, ["HTTP/www.example.com"])?;
//!     let policy = ServerPolicy::new(policy, &ServiceNameCollection::default(), Profile::Documented)?;
//!     let layer = ExtendedProtectionLayer::new(NtlmAcceptor::new(users, "EXAMPLE", "WEB01"), policy);
//!     let app = tower_layer::Layer::layer(&layer, tower::service_fn(hello));
//!     epa_hyper::server::Server::new("127.0.0.1:8443".parse()?)
//!         .tls(TlsAcceptor::new(tls_config))
//!         .serve(app)
//!         .await?;
//!     Ok(())
//! }
//! ```

#![deny(unsafe_code)]

/// The backend trait, defined in `epa-core` so that backends need nothing else.
pub use epa_core::authenticator;
pub mod authorize;
pub mod client_cert;
mod connection;
pub mod diagnose;
#[cfg(feature = "gssapi")]
pub mod gssapi;
mod header;
pub mod layer;
pub mod ntlm;
pub mod proxy;
mod respond;
mod serve;
pub mod server;
pub mod telemetry;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod tls;

pub use client_cert::{
    ClientCertificate, ClientCertificateSettings, ClientCertificateVerifier, PeerCertificate,
    RequireClientCertificateLayer,
};
pub use connection::{Authenticated, AuthenticatedUser, ChannelFacts, ConnectionContext};
pub use header::Limits;
pub use layer::{ExtendedProtection, ExtendedProtectionLayer, ResponseFuture};
pub use respond::AnswerBody;
pub use serve::serve_connection;
pub use tls::{TlsAcceptor, TlsError};

/// Entry points for the fuzz targets; not part of the API.
#[doc(hidden)]
pub mod internal {
    /// Reads `value` as an `Authorization` header under the default limits; `Some((scheme,
    /// token))` for a token of an offered scheme. Never panics.
    pub fn parse_authorization(value: &[u8]) -> Option<(crate::authenticator::Scheme, Vec<u8>)> {
        let Ok(value) = http::HeaderValue::from_bytes(value) else {
            return None;
        };
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value);
        let offered = [
            crate::authenticator::Scheme::Negotiate,
            crate::authenticator::Scheme::Ntlm,
        ];
        match crate::header::authorization(&headers, &crate::header::Limits::default(), &offered) {
            crate::header::Authorization::Token(scheme, token) => Some((scheme, token)),
            _ => None,
        }
    }
}
