//! **epa**: Microsoft-compatible Extended Protection for Authentication for Rust HTTP servers.
//!
//! This facade re-exports the workspace crates. The core ([`core`], the `epa-core` crate) is
//! pure logic: channel bindings, service names, `ExtendedProtectionPolicy` and the decision
//! function that reproduces .NET `HttpListener` and IIS outcomes. [`hyper`] (the `epa-hyper`
//! crate) is the tower layer an application embeds, with its TLS glue (`examples/axum.rs`).
//! [`server`] (the `epa-server` crate) is the runtime `epa serve` runs: serve the layer with
//! [`server::Server`] (TLS, one security context per connection, deadlines, connection limits,
//! accept errors retried, graceful shutdown), as the README's example does, or the whole gateway
//! with a handler of your own, as `examples/server/` does. [`config`] (the `epa-config` crate) is
//! the server configuration file and `epa lint`. [`ntlm`] (the `epa-ntlm` crate) is the embedded
//! NTLMv2 acceptor, also reachable as `hyper::ntlm`.

#![forbid(unsafe_code)]

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The server configuration file and `epa lint` (the `epa-config` crate).
pub use epa_config as config;
pub use epa_config::lint;
pub use epa_core as core;
pub use epa_core::*;
pub use epa_hyper as hyper;
pub use epa_ntlm as ntlm;
/// The gateway runtime: `epa serve` as a library (the `epa-server` crate).
pub use epa_server as server;

/// NTLM pass-through to an Active Directory domain controller through winbind (feature
/// `winbind`).
#[cfg(feature = "winbind")]
pub use epa_winbind as winbind;
