//! What a provider's answer says about the client's channel binding: the pure half of the
//! backend, tested on every platform.
//!
//! Windows reports what it checked in a `SECBUFFER_CHANNEL_BINDINGS_RESULT` output buffer
//! (a `SEC_CHANNEL_BINDINGS_RESULT`, sspi.h / ntifs.h) — the "EPA audit" results of Windows
//! Server 2022 and 23H2 ("Supporting Extended Protection for Authentication (EPA) in a
//! service", Microsoft Learn). The binding handed in need not be an audit-only one to get the
//! results. "Any OS that supports the results will always set at least one bit out of
//! `SEC_CHANNEL_BINDINGS_RESULT_VALID` and `SEC_CHANNEL_BINDINGS_RESULT_NOTVALID`": a buffer
//! without such a bit is no result.
//!
//! A success of `AcceptSecurityContext` says nothing about the binding by itself: a provider
//! that ignores bindings (Wine, which hands MIT GSSAPI no bindings; Windows before the audit
//! results) succeeds on a matching, a mismatching and an absent binding alike. So without a
//! result the observation is `NotChecked`, never a match inferred from the request flags.

use epa_core::decide::{BindingObservation, ServerPolicy};
use epa_core::policy::{PolicyEnforcement, ProtectionScenario};
use thiserror::Error;

/// `SEC_CHANNEL_BINDINGS_RESULT_*` flags (sspi.h).
mod result {
    pub const CLIENT_SUPPORT: u32 = 0x1;
    pub const ABSENT: u32 = 0x2;
    pub const NOTVALID_MISMATCH: u32 = 0x4;
    pub const NOTVALID_MISSING: u32 = 0x8;
    pub const VALID_MATCHED: u32 = 0x10;
    pub const VALID_PROXY: u32 = 0x20;
    pub const VALID_MISSING: u32 = 0x40;
    pub const VALID: u32 = VALID_MATCHED | VALID_PROXY | VALID_MISSING;
    pub const NOTVALID: u32 = NOTVALID_MISMATCH | NOTVALID_MISSING;
}

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

    /// The observation to report after `AcceptSecurityContext` succeeded: what the provider
    /// said it verified, never more. `binding_given`: a `SECBUFFER_CHANNEL_BINDINGS` went in;
    /// `reported`: the `SECBUFFER_CHANNEL_BINDINGS_RESULT` ([`observation_from_result_flags`]).
    ///
    /// No result → `NotChecked` (which `always` refuses under `trusted-proxy` and profile
    /// `iis`; see docs/decisions.md for the other profiles). `Match` only for a binding
    /// that went in. Under the proxy flag a binding is only known to be present: that is
    /// reported as `Mismatch` (the decision's "present, not compared"), never `Match`.
    pub fn observation(
        self,
        binding_given: bool,
        reported: Option<BindingObservation>,
    ) -> BindingObservation {
        use BindingObservation::*;
        match reported {
            None => NotChecked,
            Some(Match | Mismatch) if self.proxy => Mismatch,
            Some(Match) if !binding_given => NotChecked,
            Some(r) => r,
        }
    }
}

/// `SEC_CHANNEL_BINDINGS_RESULT` flags → the decision's observation, or `None` when the flags
/// carry no verdict (buffer not filled, or filled without a `VALID`/`NOTVALID` bit). A
/// `NOTVALID` bit wins over any `VALID` one.
pub fn observation_from_result_flags(flags: u32) -> Option<BindingObservation> {
    use BindingObservation::*;
    let claims_support = flags & result::CLIENT_SUPPORT != 0;
    let missing = if claims_support { Unbound } else { Absent };
    Some(if flags & result::NOTVALID_MISMATCH != 0 {
        Mismatch
    } else if flags & result::NOTVALID_MISSING != 0 {
        missing
    } else if flags & result::VALID_MATCHED != 0 && flags & result::ABSENT == 0 {
        Match
    } else if flags & result::VALID_PROXY != 0 {
        // Any non-zero binding, not compared (the enum's "mismatch" covers that case).
        Mismatch
    } else if flags & (result::VALID | result::NOTVALID) != 0 {
        // VALID_MISSING (ALLOW_MISSING let a client without a binding in), or a match that
        // also says "absent": the weaker reading.
        missing
    } else {
        return None;
    })
}

/// The observation carried by a refusal (`SEC_E_BAD_BINDINGS`): the result's, but never
/// `Match` or `NotChecked` — the provider said the binding was bad.
pub fn refused_observation(flags: u32) -> BindingObservation {
    use BindingObservation::*;
    match observation_from_result_flags(flags) {
        Some(r @ (Mismatch | Absent | Unbound)) => r,
        Some(Match | NotChecked) | None => Mismatch,
    }
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
        for given in [true, false] {
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
    fn transport_selected_reports_what_the_provider_reported() {
        let strict = BindingChecks::for_policy(&server(
            PolicyEnforcement::Always,
            ProtectionScenario::TransportSelected,
        ))
        .unwrap();
        assert_eq!(strict, BindingChecks::default());
        assert_eq!(strict.observation(true, Some(Match)), Match);
        assert_eq!(strict.observation(true, Some(Unbound)), Unbound);
        let lax = BindingChecks::for_policy(&server(
            PolicyEnforcement::WhenSupported,
            ProtectionScenario::TransportSelected,
        ))
        .unwrap();
        assert_eq!(lax.observation(true, Some(Absent)), Absent);
        assert_eq!(lax.observation(true, Some(Match)), Match);
    }

    /// Issue #20 item 17: under Wine (and any provider that ignores bindings) a success said
    /// nothing about the binding; it was reported as `Match` (strict), `Absent` (lax) or
    /// `Mismatch` (proxy: "present"), so `always` accepted a mismatching and an absent binding.
    #[test]
    fn a_success_without_a_provider_result_is_not_checked() {
        for (enforcement, scenario) in [
            (
                PolicyEnforcement::Always,
                ProtectionScenario::TransportSelected,
            ),
            (
                PolicyEnforcement::WhenSupported,
                ProtectionScenario::TransportSelected,
            ),
            (PolicyEnforcement::Always, ProtectionScenario::TrustedProxy),
            (
                PolicyEnforcement::WhenSupported,
                ProtectionScenario::TrustedProxy,
            ),
        ] {
            let checks = BindingChecks::for_policy(&server(enforcement, scenario)).unwrap();
            for given in [true, false] {
                assert_eq!(
                    checks.observation(given, None),
                    NotChecked,
                    "{enforcement:?} {scenario:?} binding given: {given}"
                );
                // The FFI's path: an output buffer the provider left at zero.
                assert_eq!(
                    checks.observation(given, observation_from_result_flags(0)),
                    NotChecked
                );
            }
        }
    }

    /// A match is reported only for a binding that went in: with nothing handed over there was
    /// nothing to compare.
    #[test]
    fn a_reported_match_without_a_binding_given_is_not_checked() {
        let strict = BindingChecks::for_policy(&server(
            PolicyEnforcement::Always,
            ProtectionScenario::TransportSelected,
        ))
        .unwrap();
        assert_eq!(strict.observation(true, Some(Match)), Match);
        assert_eq!(strict.observation(false, Some(Match)), NotChecked);
        assert_eq!(strict.observation(false, Some(Absent)), Absent);
    }

    #[test]
    fn result_flags_map_to_the_four_observations() {
        // The rows of the EPA support doc's table (docs/windows-semantics.md §4.5).
        assert_eq!(observation_from_result_flags(0x10), Some(Match));
        assert_eq!(observation_from_result_flags(0x10 | 0x1), Some(Match));
        assert_eq!(observation_from_result_flags(0x4), Some(Mismatch));
        assert_eq!(observation_from_result_flags(0x4 | 0x1), Some(Mismatch));
        assert_eq!(observation_from_result_flags(0x8), Some(Absent));
        assert_eq!(observation_from_result_flags(0x8 | 0x2), Some(Absent));
        assert_eq!(observation_from_result_flags(0x8 | 0x1), Some(Unbound));
        assert_eq!(observation_from_result_flags(0x40), Some(Absent));
        assert_eq!(observation_from_result_flags(0x40 | 0x2), Some(Absent));
        assert_eq!(observation_from_result_flags(0x20), Some(Mismatch));
        assert_eq!(observation_from_result_flags(0), None);
    }

    /// Only a result with a verdict bit (`SEC_CHANNEL_BINDINGS_RESULT_VALID` or `_NOTVALID`)
    /// is a result: "any OS that supports the results will always set at least one bit" of
    /// them (Microsoft, "Supporting Extended Protection for Authentication (EPA) in a service").
    #[test]
    fn result_flags_without_a_verdict_say_nothing() {
        assert_eq!(observation_from_result_flags(0x1), None);
        assert_eq!(observation_from_result_flags(0x2), None);
        assert_eq!(observation_from_result_flags(0x2 | 0x1), None);
        assert_eq!(observation_from_result_flags(0x80), None);
        assert_eq!(observation_from_result_flags(0xffff_ff80), None);
        // A verdict of both kinds is a failure.
        assert_eq!(observation_from_result_flags(0x10 | 0x4), Some(Mismatch));
        assert_eq!(observation_from_result_flags(0x10 | 0x8), Some(Absent));
        assert_eq!(
            observation_from_result_flags(0x10 | 0x8 | 0x1),
            Some(Unbound)
        );
        // "Matched" next to "absent" is not a match.
        assert_eq!(observation_from_result_flags(0x10 | 0x2), Some(Absent));
    }

    #[test]
    fn a_refusal_never_carries_a_match() {
        for flags in [0, 0x1, 0x10, 0x10 | 0x1, 0x80] {
            assert_eq!(refused_observation(flags), Mismatch, "flags {flags:#x}");
        }
        assert_eq!(refused_observation(0x4), Mismatch);
        assert_eq!(refused_observation(0x8), Absent);
        assert_eq!(refused_observation(0x8 | 0x1), Unbound);
    }

    /// What `NotChecked` becomes (epa_core::decide): under `always` it is refused under
    /// `trusted-proxy` (every profile) and under profile `iis` on HTTPS. The other profiles on
    /// HTTPS treat it as ".NET had no binding" (row 6): documented/dotnet8 run the SPN check,
    /// dotnet-legacy fails open — see docs/decisions.md, "The SSPI backend".
    #[test]
    fn not_checked_is_refused_under_always_where_the_decision_says_so() {
        use epa_core::decide::{
            ClientServiceName, Decision, Mechanism, RequestFacts, Transport, decide,
        };
        let facts = |transport| RequestFacts {
            transport,
            mechanism: Mechanism::Ntlm,
            server_supports_ep: true,
            channel_binding: NotChecked,
            client_spn: ClientServiceName::Value("HTTP/web.example".into()),
        };
        let names = ServiceNameCollection::new(["HTTP/web.example"]).unwrap();
        for profile in [
            Profile::Documented,
            Profile::DotnetLegacy,
            Profile::Dotnet8,
            Profile::Iis,
        ] {
            for scenario in [
                ProtectionScenario::TransportSelected,
                ProtectionScenario::TrustedProxy,
            ] {
                let policy = ExtendedProtectionPolicy::new(
                    PolicyEnforcement::Always,
                    scenario,
                    Some(names.clone()),
                )
                .unwrap();
                let server = ServerPolicy::new(policy, &names, profile).unwrap();
                for transport in [Transport::Https, Transport::Http] {
                    let refused = scenario == ProtectionScenario::TrustedProxy
                        || (profile == Profile::Iis && transport == Transport::Https);
                    if refused {
                        assert!(
                            matches!(
                                decide(&server, &facts(transport)),
                                Decision::Reject { status: 401, .. }
                            ),
                            "{profile:?} {scenario:?} {transport:?}"
                        );
                    }
                }
            }
        }
    }
}
