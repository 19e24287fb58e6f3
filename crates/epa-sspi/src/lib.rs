//! Windows SSPI backend for epa (Windows only; on other systems only its pure half is built).
//!
//! `AcceptSecurityContext` on the `Negotiate` package with the expected channel binding in a
//! `SECBUFFER_CHANNEL_BINDINGS` buffer (the Windows `SEC_CHANNEL_BINDINGS` layout from
//! [`epa_core::gss`]), the request flags that `HttpListener` uses (docs/windows-semantics.md §4.4):
//! `ASC_REQ_CONNECTION`, plus `ASC_REQ_ALLOW_MISSING_BINDINGS` under `when-supported` and
//! `ASC_REQ_PROXY_BINDINGS` under `trusted-proxy`, and the client-specified SPN from
//! `SECPKG_ATTR_CLIENT_SPECIFIED_TARGET`. The output token goes into a caller-allocated buffer
//! of the package's `cbMaxToken` (`QuerySecurityPackageInfoW`), not `ASC_REQ_ALLOCATE_MEMORY`:
//! valid on Windows, and the only form Wine honours.
//!
//! The binding observation comes only from what the provider says it checked: the
//! `SECBUFFER_CHANNEL_BINDINGS_RESULT` output buffer (`SEC_CHANNEL_BINDINGS_RESULT` flags, the
//! "EPA audit" results of Windows Server 2022 / 23H2). Without one, a success is reported as
//! `NotChecked`, never as a match inferred from the request flags ([`binding`]): a provider
//! that ignores bindings (Wine) succeeds on any binding. Under `ASC_REQ_PROXY_BINDINGS` SSPI only
//! checks that a binding is present, so `match` is never reported there, and a policy that asks
//! to verify the proxy's binding ([`ServerPolicy::verifies_proxy_binding`]) is refused at
//! construction ([`SspiPolicyError::ProxyBindingNotVerifiable`]). `SEC_E_BAD_BINDINGS` is
//! reported as a binding failure, never as a generic error. A user name SSPI cannot report is
//! a refusal ([`ContextError`]), never an empty principal.
//!
//! Status: type-checked for `x86_64-pc-windows-gnu` by `./scripts/test`, and its NTLM exchanges
//! run under Wine when Wine and the mingw-w64 linker are installed (`tests/wine.rs`: plumbing
//! only — Wine does not check bindings). Not run on Windows (no Windows host in CI).
//!
//! [`ServerPolicy::verifies_proxy_binding`]: epa_core::decide::ServerPolicy::verifies_proxy_binding

pub mod binding;
pub mod context;
#[cfg(windows)]
mod sspi;

pub use binding::{
    BindingChecks, SspiPolicyError, observation_from_result_flags, refused_observation,
};
pub use context::{Attribute, ContextError, identity_from_names, output_token_len};
#[cfg(windows)]
pub use sspi::{SspiAcceptor, SspiError, open_contexts, open_credentials};
