//! Extended Protection for hyper servers.
//!
//! * [`ExtendedProtectionLayer`]: the tower `Layer` that runs Negotiate/NTLM and enforces the policy
//!   through [`epa_core::decide()`];
//! * [`TlsAcceptor`]: tokio-rustls glue that records each connection's [`ChannelFacts`];
//! * [`serve_connection`] and [`WithConnection`]: one connection served with its own
//!   [`ConnectionContext`] (your own accept loop must then spawn per connection, retry accept
//!   errors rather than end, and put deadlines on the handshake and on idle connections; the
//!   `epa-server` crate's server does all of that);
//! * [`authenticator`]: the trait every backend implements;
//! * [`client_cert`]: client certificates asked for in the first handshake, required per route;
//! * [`telemetry`]: the decision event's fields and the metric names (an interface);
//! * [`ntlm`]: the embedded NTLMv2 acceptor (the default backend, no system service);
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
//!     // A bare accept loop; `epa_server::Server` adds the deadlines, limits and shutdown.
//!     let tls = std::sync::Arc::new(TlsAcceptor::new(tls_config));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//!     loop {
//!         let tcp = match listener.accept().await {
//!             Ok((tcp, _)) => tcp,
//!             // EMFILE and friends: never end the loop on an accept error; back off a moment.
//!             Err(_) => {
//!                 tokio::time::sleep(std::time::Duration::from_millis(50)).await;
//!                 continue;
//!             }
//!         };
//!         let (tls, app) = (tls.clone(), app.clone());
//!         tokio::spawn(async move {
//!             if let Ok((stream, facts)) = tls.accept(tcp).await {
//!                 let _ = epa_hyper::serve_connection(stream, facts, app).await;
//!             }
//!         });
//!     }
//! }
//! ```

#![deny(unsafe_code)]

/// The backend trait, defined in `epa-core` so that backends need nothing else.
pub use epa_core::authenticator;
pub mod authorize;
pub mod body;
pub mod client_cert;
mod connection;
#[cfg(feature = "gssapi")]
pub mod gssapi;
mod header;
pub mod layer;
/// The embedded NTLMv2 acceptor, the `epa-ntlm` crate (kept at this path for existing users).
pub use epa_ntlm as ntlm;
mod respond;
mod serve;
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
pub use serve::{WithConnection, serve_connection};
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
