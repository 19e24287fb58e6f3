//! **epa-server**: the epa gateway's runtime — `epa serve` as a library, built from the
//! configuration file `epa lint` checks.
//!
//! * [`server`]: the listener — TLS with each connection's channel facts, one HTTP/1.1 set-up,
//!   a deadline on every wait, connection limits, accept errors survived, graceful shutdown,
//!   server-certificate rotation;
//! * [`app`]: the application a configuration serves, put together in one place
//!   ([`app::build`]: metrics page → client-certificate gate → diagnostics page → routes |
//!   handler), its backend ([`app::backend`]), SIGHUP reload ([`app::serve`]), logs and
//!   Prometheus;
//! * `kdc_proxy`: the KDC proxy (MS-KKDCP) on `[kdc_proxy]`'s path, answered before any
//!   authentication;
//! * [`proxy`]: the reverse proxy behind the per-route Extended Protection layers (identity
//!   headers set by epa alone, upgrades, the upstream pool).
//!
//! `epa serve` is [`app::serve`] with the hello page; `examples/server` is the same with its
//! own handler. An application that only wants the Extended Protection layer embeds
//! `epa-hyper` instead.

#![deny(unsafe_code)]

pub mod app;
pub mod assertion;
pub mod diagnose;
mod kdc_proxy;
pub mod proxy;
pub mod server;

pub use app::{App, ServeError, ServeOptions, serve};
pub use server::{Server, ServerError};

/// The KDC proxy's message codec, for the fuzz target; not part of the API.
#[doc(hidden)]
pub mod internal {
    pub use crate::kdc_proxy::message::{
        KdcRequestKind, MessageError, decode_request, encode, frame,
    };
}
