//! The `epa` server configuration file: its tables as written (serde, unknown keys refused),
//! their validation, and `epa lint`.
//!
//! * [`ServerConfig`]: the whole file — `[listener]`, `[client_certificates]`, `[policy]`,
//!   `[backend]`, `[upstream]`, `[identity_headers]`, `[[route]]`, `[metrics]`,
//!   `[diagnostics]`, `[request_filtering]`, `[kdc_proxy]`, `[identity_assertion]`.
//! * [`PolicyTable`]: the `[policy]` table (also the policy of `epa policy` scenario files): the
//!   .NET form or the IIS form, built into an [`epa_core::ServerPolicy`].
//! * [`lint`]: the configuration mistakes that cause outages or silent weakness.
//! * [`duration`]: the one unit every deadline is written in (seconds).
//!
//! The Extended Protection semantics (what a policy *means*) live in `epa-core`; this crate is
//! the file format and its checks. Pure: no I/O except what the caller passes in.

#![forbid(unsafe_code)]

pub mod address_range;
pub mod assertion;
pub mod backend;
pub mod client_certificates;
pub mod diagnostics;
pub mod duration;
mod file;
pub mod identity_headers;
pub mod kdc_proxy;
pub mod lint;
pub mod listener;
pub mod lockout;
pub mod metrics;
mod policy_table;
pub mod proxy;
pub mod proxy_rules;
pub mod request_filtering;
pub mod upstream;

pub use assertion::{AssertionError, IdentityAssertionTable};
pub use backend::{BackendKind, BackendTable};
pub use client_certificates::{ClientCertificateTable, HintChoice, RequiredPathError};
pub use file::ServerConfig;
pub use kdc_proxy::{KdcProxySettings, KdcProxyTable};
pub use listener::{Deadlines, ListenerError, ListenerTable, ProxyProtocol};
pub use metrics::MetricsTable;
pub use policy_table::{ConfigError, PolicyTable};
pub use proxy::{IdentityHeadersTable, RouteTable};
pub use upstream::{PoolSettings, UpstreamSettings, UpstreamSettingsError, UpstreamTable};
