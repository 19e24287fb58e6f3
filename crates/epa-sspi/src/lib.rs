//! Windows SSPI backend for epa (Windows only; on other systems this crate is empty).
//!
//! `AcceptSecurityContext` on the `Negotiate` package with the expected channel binding in a
//! `SECBUFFER_CHANNEL_BINDINGS` buffer (the Windows `SEC_CHANNEL_BINDINGS` layout from
//! [`epa_core::gss`]), the request flags that `HttpListener` uses (docs/windows-semantics.md §4.4):
//! `ASC_REQ_CONNECTION`, plus `ASC_REQ_ALLOW_MISSING_BINDINGS` under `when-supported` and
//! `ASC_REQ_PROXY_BINDINGS` under `trusted-proxy`, and the client-specified SPN from
//! `SECPKG_ATTR_CLIENT_SPECIFIED_TARGET`.
//!
//! The binding observation comes from a `SECBUFFER_CHANNEL_BINDINGS_RESULT` output buffer
//! (`SEC_CHANNEL_BINDINGS_RESULT` flags) where Windows fills it; on systems that do not, from what
//! the request flags let SSPI accept: without `ALLOW_MISSING` a success means the binding was
//! present and matched; with it, a success is reported as the weaker `absent`. `SEC_E_BAD_BINDINGS`
//! is reported as a binding failure, never as a generic error.
//!
//! Status: type-checked for `x86_64-pc-windows-gnu` by `./scripts/test`; not run (no Windows host
//! in CI).

#[cfg(windows)]
mod sspi;

#[cfg(windows)]
pub use sspi::{SspiAcceptor, SspiError};

/// `SEC_CHANNEL_BINDINGS_RESULT` flags (ntifs.h) → the decision's observation, or `None` when
/// the flags say nothing (buffer not filled). Pure, so it is tested on every platform.
pub fn observation_from_result_flags(flags: u32) -> Option<epa_core::decide::BindingObservation> {
    use epa_core::decide::BindingObservation::*;
    const CLIENT_SUPPORT: u32 = 0x1;
    const ABSENT: u32 = 0x2;
    const NOTVALID_MISMATCH: u32 = 0x4;
    const NOTVALID_MISSING: u32 = 0x8;
    const VALID_MATCHED: u32 = 0x10;
    const VALID_PROXY: u32 = 0x20;
    const VALID_MISSING: u32 = 0x40;
    Some(if flags & NOTVALID_MISMATCH != 0 {
        Mismatch
    } else if flags & VALID_MATCHED != 0 {
        Match
    } else if flags & VALID_PROXY != 0 {
        // Any non-zero binding, not compared (the enum's "mismatch" covers that case).
        Mismatch
    } else if flags & (NOTVALID_MISSING | VALID_MISSING | ABSENT) != 0 {
        if flags & CLIENT_SUPPORT != 0 {
            Unbound
        } else {
            Absent
        }
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use epa_core::decide::BindingObservation::*;

    #[test]
    fn result_flags_map_to_the_four_observations() {
        // The rows of the EPA support doc's table (docs/windows-semantics.md §4.5).
        assert_eq!(observation_from_result_flags(0x10), Some(Match));
        assert_eq!(observation_from_result_flags(0x4), Some(Mismatch));
        assert_eq!(observation_from_result_flags(0x8), Some(Absent));
        assert_eq!(observation_from_result_flags(0x8 | 0x1), Some(Unbound));
        assert_eq!(observation_from_result_flags(0x40), Some(Absent));
        assert_eq!(observation_from_result_flags(0x40 | 0x2), Some(Absent));
        assert_eq!(observation_from_result_flags(0x2 | 0x1), Some(Unbound));
        assert_eq!(observation_from_result_flags(0x20), Some(Mismatch));
        assert_eq!(observation_from_result_flags(0), None);
    }
}
