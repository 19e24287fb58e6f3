//! Client-certificate authentication the TLS 1.3 way: the certificate is asked for in the
//! *first* handshake ([`ClientCertificateMode`](epa_core::client_cert::ClientCertificateMode)), verified with rustls' `WebPkiClientVerifier`
//! against CRLs that reload when their files change, and required per route by
//! [`RequireClientCertificateLayer`] — never by renegotiation (RFC 8446 removed it; RFC 9113 §9.2.1
//! forbids it under HTTP/2).
//!
//! How a connection's certificate is judged:
//! * `require`: the handshake itself runs the WebPKI verifier; a client without a valid
//!   certificate gets a TLS alert.
//! * `request`: the handshake accepts any certificate whose `CertificateVerify` signature is
//!   valid (proof of the private key), so that a route that does not need one still works; the
//!   chain, validity period and revocation are judged right after the handshake.
//! * In both modes the status a route sees ([`PeerCertificate`]) is computed after the
//!   handshake by this module from the certificates the peer sent and the *current* trust
//!   settings, so that a configuration mistake elsewhere cannot turn into a `Valid`.
//!
//! The module, by job: `settings` (configuration and its errors), `crl` (CRL files, the
//! CRL-number rule, the verifier snapshot), `verifier` (the verifier, reloads, the cache of
//! verdicts), `certificate` (what a route sees of a certificate), `route` (the per-route
//! requirement).

mod certificate;
mod crl;
mod error;
mod files;
mod route;
mod settings;
mod verifier;

pub use certificate::{ClientCertificate, VerifiedCertificate};
pub use error::{ClientCertError, PemProblem};
pub use files::read_ca_bundle;
pub use route::{
    CertificateGateRefusal, RequireClientCertificate, RequireClientCertificateLayer,
    ResponseFuture, bad_request_path, require_certificate,
};
pub use settings::ClientCertificateSettings;
pub use verifier::{ClientCertificateVerifier, PeerCertificate};
