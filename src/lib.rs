//! **epa**: Microsoft-compatible Extended Protection for Authentication for Rust HTTP servers.
//!
//! This facade re-exports the workspace crates. The core ([`core`], the `epa-core` crate) is
//! pure logic: channel bindings, service names, `ExtendedProtectionPolicy` and the decision
//! function that reproduces .NET `HttpListener` and IIS outcomes.

#![forbid(unsafe_code)]

pub use epa_core as core;
pub use epa_core::*;
