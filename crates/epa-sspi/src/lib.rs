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
//! present and matched; with it, a success is reported as the weaker `absent`. Under
//! `ASC_REQ_PROXY_BINDINGS` SSPI only checks that a binding is present, so `match` is never
//! reported there, and a policy that asks to verify the proxy's binding
//! ([`ServerPolicy::verifies_proxy_binding`]) is refused at construction
//! ([`SspiPolicyError::ProxyBindingNotVerifiable`]). `SEC_E_BAD_BINDINGS` is reported as a
//! binding failure, never as a generic error.
//!
//! Status: type-checked for `x86_64-pc-windows-gnu` by `./scripts/test`; not run (no Windows host
//! in CI).

#[cfg(windows)]
mod sspi;

#[cfg(windows)]
pub use sspi::{SspiAcceptor, SspiError};

use epa_core::decide::{BindingObservation, ServerPolicy};
use epa_core::policy::{PolicyEnforcement, ProtectionScenario};
use thiserror::Error;

/// A policy the SSPI backend cannot honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SspiPolicyError {
    /// The policy pins the proxy's certificate (verify the binding under `TrustedProxy`), but
    /// `ASC_REQ_PROXY_BINDINGS` makes SSPI check only that a binding is present: it never
    /// compares it, so the backend could not tell a match from a relay.
    #[error(
        "the SSPI backend cannot verify a trusted proxy's channel binding (ASC_REQ_PROXY_BINDINGS checks presence only); use the embedded or GSSAPI backend, or do not name the proxy certificate"
    )]
    ProxyBindingNotVerifiable,
}

/// What the `ASC_REQ_*` flags derived from a policy make SSPI check (as `HttpListener`'s
/// `GetContextFlags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BindingChecks {
    /// `ASC_REQ_ALLOW_MISSING_BINDINGS` (enforcement `when-supported`): a client that sent no
    /// binding is accepted.
    pub allow_missing: bool,
    /// `ASC_REQ_PROXY_BINDINGS` (scenario `trusted-proxy`): only the presence of a binding is
    /// checked, never its value.
    pub proxy: bool,
}

impl BindingChecks {
    /// The checks for `policy`, or why SSPI cannot serve it.
    pub fn for_policy(policy: &ServerPolicy) -> Result<Self, SspiPolicyError> {
        let p = policy.policy();
        if p.enforcement() == PolicyEnforcement::Never {
            return Ok(Self::default());
        }
        let proxy = p.scenario() == ProtectionScenario::TrustedProxy;
        if proxy && policy.verifies_proxy_binding() {
            return Err(SspiPolicyError::ProxyBindingNotVerifiable);
        }
        Ok(Self {
            allow_missing: p.enforcement() == PolicyEnforcement::WhenSupported,
            proxy,
        })
    }

    /// The observation to report after `AcceptSecurityContext` succeeded: what SSPI actually
    /// verified, never more. `binding_given`: a `SECBUFFER_CHANNEL_BINDINGS` went in;
    /// `reported`: what the `SECBUFFER_CHANNEL_BINDINGS_RESULT` flags said, if filled.
    ///
    /// Under the proxy flag a binding is only known to be present: that is reported as
    /// `Mismatch` (the decision's "present, not compared"), never `Match`.
    pub fn observation(
        self,
        binding_given: bool,
        reported: Option<BindingObservation>,
    ) -> BindingObservation {
        use BindingObservation::*;
        if self.proxy {
            return match reported {
                Some(Match | Mismatch) => Mismatch,
                Some(r) => r,
                // Success without ALLOW_MISSING: a non-zero binding was present.
                None if !self.allow_missing => Mismatch,
                // Success with ALLOW_MISSING: present or absent, SSPI does not say.
                None => NotChecked,
            };
        }
        match (binding_given, reported) {
            (_, Some(r)) => r,
            // SSPI compared the binding it was given and, without ALLOW_MISSING, succeeded only
            // on a match.
            (true, None) if !self.allow_missing => Match,
            (true, None) => Absent,
            (false, None) => NotChecked,
        }
    }
}

/// `SEC_CHANNEL_BINDINGS_RESULT` flags (ntifs.h) → the decision's observation, or `None` when
/// the flags say nothing (buffer not filled). Pure, so it is tested on every platform.
pub fn observation_from_result_flags(flags: u32) -> Option<BindingObservation> {
    use BindingObservation::*;
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

    use epa_core::decide::Profile;
    use epa_core::policy::ExtendedProtectionPolicy;
    use epa_core::spn::ServiceNameCollection;

    fn server(enforcement: PolicyEnforcement, scenario: ProtectionScenario) -> ServerPolicy {
        let policy = if enforcement == PolicyEnforcement::Never {
            ExtendedProtectionPolicy::never()
        } else {
            ExtendedProtectionPolicy::new(enforcement, scenario, None).unwrap()
        };
        ServerPolicy::new(policy, &ServiceNameCollection::default(), Profile::Iis).unwrap()
    }

    #[test]
    fn proxy_bindings_never_report_a_match() {
        let checks = BindingChecks::for_policy(&server(
            PolicyEnforcement::Always,
            ProtectionScenario::TrustedProxy,
        ))
        .unwrap();
        assert_eq!(
            checks,
            BindingChecks {
                allow_missing: false,
                proxy: true
            }
        );
        // Before: a binding handed in + success without ALLOW_MISSING was claimed as Match.
        for given in [true, false] {
            assert_eq!(checks.observation(given, None), Mismatch);
            assert_eq!(checks.observation(given, Some(Match)), Mismatch);
            assert_eq!(checks.observation(given, Some(Mismatch)), Mismatch);
            assert_eq!(checks.observation(given, Some(Unbound)), Unbound);
            assert_eq!(checks.observation(given, Some(Absent)), Absent);
        }
        let lax = BindingChecks::for_policy(&server(
            PolicyEnforcement::WhenSupported,
            ProtectionScenario::TrustedProxy,
        ))
        .unwrap();
        assert!(lax.allow_missing && lax.proxy);
        assert_eq!(lax.observation(true, None), NotChecked);
        assert_eq!(lax.observation(false, None), NotChecked);
    }

    #[test]
    fn a_pinned_proxy_certificate_is_refused_at_construction() {
        for enforcement in [PolicyEnforcement::Always, PolicyEnforcement::WhenSupported] {
            let pinned = server(enforcement, ProtectionScenario::TrustedProxy)
                .with_proxy_binding_verification();
            assert_eq!(
                BindingChecks::for_policy(&pinned),
                Err(SspiPolicyError::ProxyBindingNotVerifiable)
            );
        }
        // `never` checks nothing, so there is nothing to refuse.
        let never = server(PolicyEnforcement::Never, ProtectionScenario::TrustedProxy)
            .with_proxy_binding_verification();
        assert_eq!(
            BindingChecks::for_policy(&never),
            Ok(BindingChecks::default())
        );
    }

    #[test]
    fn transport_selected_reports_what_sspi_compared() {
        let strict = BindingChecks::for_policy(&server(
            PolicyEnforcement::Always,
            ProtectionScenario::TransportSelected,
        ))
        .unwrap();
        assert_eq!(strict, BindingChecks::default());
        assert_eq!(strict.observation(true, None), Match);
        assert_eq!(strict.observation(false, None), NotChecked);
        assert_eq!(strict.observation(true, Some(Unbound)), Unbound);
        let lax = BindingChecks::for_policy(&server(
            PolicyEnforcement::WhenSupported,
            ProtectionScenario::TransportSelected,
        ))
        .unwrap();
        assert_eq!(lax.observation(true, None), Absent);
        assert_eq!(lax.observation(true, Some(Match)), Match);
    }

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
