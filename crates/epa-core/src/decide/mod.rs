//! The decision function: from a server's policy and what a backend observed of one
//! authentication, to accept or reject, with a reason.
//!
//! This is the single place where outcomes are made. Backends report facts
//! ([`RequestFacts`]); they never decide. The function is pure and total: every combination of
//! facts has exactly one outcome, and none of them panics.
//!
//! # Profiles
//!
//! | [`Profile`] | reproduces |
//! |---|---|
//! | [`Profile::Documented`] (default) | the documented contract: Microsoft's "Integrated Windows Authentication with Extended Protection" (three HTTPS and four HTTP outcomes, docs/windows-semantics.md §4.8), the SSPI channel-binding table (§4.5), Kerberos skipping the SPN check, the TrustedProxy rules (§4.6 row 13); where the documentation is silent, .NET 8+ |
//! | [`Profile::DotnetLegacy`] | the code of `HttpListener.CheckSpn` in .NET Framework and .NET ≤ 7, row by row (§4.6), including the `http/localhost` exemption and the fail-open row 6 |
//! | [`Profile::Dotnet8`] | the code of .NET 8+ `HttpListener` over `NegotiateAuthentication` (§4.6) |
//! | [`Profile::Iis`] | the http.sys / IIS decision matrix (§6.2), with `NoServiceNameCheck` and `ProxyCohosting` |
//!
//! # The two layers
//!
//! 1. The channel-binding layer is what the Windows SSP does with the binding the server hands
//!    it (§4.5). On HTTPS under `TransportSelected` the server hands it the TLS binding; under
//!    `TrustedProxy` it asks only that the client's binding be present and not all-zero
//!    (`ASC_REQ_PROXY_BINDINGS`); on plain HTTP under `TransportSelected` it hands it nothing,
//!    so no binding is checked (inferred: with nothing to compare, the SSP checks nothing).
//! 2. The service-binding layer is the SPN check (`CheckSpn`), which differs per profile.

mod facts;
mod mechanisms;
mod reason;
mod server;
pub mod table;

pub use facts::{
    BindingObservation, ClientServiceName, Mechanism, Profile, RequestFacts, Transport,
};
pub use mechanisms::{Mechanisms, MechanismsError};
pub use reason::{Decision, Reason};
pub use server::{ExpectedBinding, ServerPolicy};

use crate::policy::{PolicyEnforcement, ProtectionScenario};

/// What the channel-binding layer concluded, when it let the request on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BindingPass {
    /// HTTPS/TransportSelected, binding matched.
    Verified,
    /// HTTPS/TransportSelected, legacy client, `WhenSupported`.
    AbsentAllowed,
    /// HTTPS/TransportSelected, the server had no binding to hand the package (§4.6 row 6).
    NoServerBinding,
    /// TrustedProxy, or plain HTTP: passed without a comparison.
    NotCompared,
}

/// Decides one authentication. Pure and total.
pub fn decide(server: &ServerPolicy, facts: &RequestFacts) -> Decision {
    let enforcement = server.policy.enforcement();
    let accept = |reason| Decision::Accept {
        service_name: facts.client_spn.clone(),
        reason,
    };
    let reject = |status, reason| Decision::Reject {
        status,
        reason,
        service_name: facts.client_spn.clone(),
    };

    // Before Extended Protection: a mechanism the route does not accept is refused whatever
    // the binding (IIS with `Negotiate:Kerberos` alone fails an NTLM exchange: 401).
    if !server.mechanisms.permits(facts.mechanism) {
        return reject(
            401,
            Reason::MechanismNotAllowed {
                mechanism: facts.mechanism,
            },
        );
    }

    // §4.6 row 1: Never checks nothing.
    if enforcement == PolicyEnforcement::Never {
        return accept(Reason::ExtendedProtectionDisabled);
    }

    if !facts.server_supports_ep {
        return match server.profile {
            // Documented outcome 1 (HTTPS and HTTP): 401, ServiceName null. http.sys always
            // supports EP; a backend that cannot is refused the same way (fail closed).
            Profile::Documented | Profile::Iis => Decision::Reject {
                status: 401,
                reason: Reason::ServerLacksExtendedProtection,
                service_name: ClientServiceName::Missing,
            },
            // .NET Framework's setter and .NET 8+'s NegotiateAuthentication (PR #131144) throw
            // for Always; WhenSupported is silently ignored (inferred for .NET 8+ on Unix before
            // PR #130758, where the policy was not read at all).
            Profile::DotnetLegacy | Profile::Dotnet8 => {
                if enforcement == PolicyEnforcement::Always {
                    reject(500, Reason::ExtendedProtectionUnsupported)
                } else {
                    accept(Reason::ExtendedProtectionUnavailableIgnored)
                }
            }
        };
    }

    let binding = match check_binding(server, facts) {
        Ok(pass) => pass,
        Err(reason) => return reject(401, reason),
    };
    match check_service_name(server, facts, binding) {
        Ok(reason) => accept(reason),
        Err((status, reason)) => reject(status, reason),
    }
}

/// The SSP's channel-binding outcome (docs/windows-semantics.md §4.5 table).
fn check_binding(server: &ServerPolicy, facts: &RequestFacts) -> Result<BindingPass, Reason> {
    use BindingObservation::*;
    let when_supported = server.policy.enforcement() == PolicyEnforcement::WhenSupported;
    match (server.policy.scenario(), facts.transport) {
        // ASC_REQ_PROXY_BINDINGS (+ ALLOW_MISSING under WhenSupported): any non-zero binding
        // passes; all-zero fails unless http.sys ProxyCohosting; absent fails under Always.
        (ProtectionScenario::TrustedProxy, _) => match facts.channel_binding {
            Mismatch if server.verify_proxy_binding => Err(Reason::BindingMismatch),
            Match | Mismatch => Ok(BindingPass::NotCompared),
            Unbound => {
                if server.profile == Profile::Iis && server.policy.http_sys_flags().proxy_cohosting
                {
                    Ok(BindingPass::NotCompared)
                } else {
                    Err(Reason::BindingUnbound)
                }
            }
            Absent if when_supported => Ok(BindingPass::NotCompared),
            Absent => Err(Reason::BindingAbsent),
            // Our rule (SSPI always looks): not knowing whether a binding was present counts
            // as absent — allowed under WhenSupported, refused under Always.
            NotChecked if when_supported => Ok(BindingPass::NotCompared),
            NotChecked => Err(Reason::BindingNotChecked),
        },
        // The server hands the SSP its TLS binding (no flag under Always; ALLOW_MISSING under
        // WhenSupported, which rescues only clients that sent nothing at all).
        (ProtectionScenario::TransportSelected, Transport::Https) => match facts.channel_binding {
            Match => Ok(BindingPass::Verified),
            Mismatch => Err(Reason::BindingMismatch),
            Unbound => Err(Reason::BindingUnbound),
            Absent if when_supported => Ok(BindingPass::AbsentAllowed),
            Absent => Err(Reason::BindingAbsent),
            NotChecked => match server.profile {
                // http.sys always has the TLS binding; a backend that did not check it fails.
                Profile::Iis => Err(Reason::BindingNotChecked),
                // §4.6 row 6: .NET had no binding to pass; the SPN layer decides per profile.
                _ => Ok(BindingPass::NoServerBinding),
            },
        },
        // Plain HTTP, TransportSelected: no binding, no proxy flag, nothing to compare.
        (ProtectionScenario::TransportSelected, Transport::Http) => Ok(BindingPass::NotCompared),
    }
}

type Refusal = (u16, Reason);

/// The SPN check (docs/windows-semantics.md §4.6), after the binding layer let the request on.
fn check_service_name(
    server: &ServerPolicy,
    facts: &RequestFacts,
    binding: BindingPass,
) -> Result<Reason, Refusal> {
    let policy = &server.policy;
    let scenario = policy.scenario();
    // Why a TLS request may skip the SPN check. Only `check_binding`'s HTTPS/TransportSelected
    // arm compares a binding, so `Some` means .NET's "TLS connection and TransportSelected"
    // (legacy step 3); `None` (nothing was compared) never skips it.
    let tls_reason = match binding {
        BindingPass::Verified => Some(Reason::BindingVerified),
        BindingPass::AbsentAllowed => Some(Reason::BindingAbsentAllowed),
        BindingPass::NoServerBinding => Some(Reason::BindingUnavailableFailOpen),
        BindingPass::NotCompared => None,
    };

    // Every profile: Kerberos skips the SPN check (§4.6 row 14).
    if facts.mechanism == Mechanism::Kerberos {
        return Ok(Reason::KerberosValidatesServiceName);
    }

    match server.profile {
        Profile::DotnetLegacy => {
            // Step 3: fails open even when there was no binding (row 6).
            if let Some(reason) = tls_reason {
                return Ok(reason);
            }
        }
        Profile::Dotnet8 | Profile::Documented => {
            // `_isSecureConnection` is `Binding != null`: with no server binding the SPN check
            // runs (row 6, .NET 8+); the documentation is silent there.
            if binding != BindingPass::NoServerBinding
                && let Some(reason) = tls_reason
            {
                return Ok(reason);
            }
        }
        Profile::Iis => {
            if policy.http_sys_flags().no_service_name_check {
                return Ok(Reason::ServiceNameCheckDisabled);
            }
            if scenario == ProtectionScenario::TransportSelected {
                if let Some(reason) = tls_reason {
                    return Ok(reason);
                }
                // Inferred (§6.2): IIS documents Proxy(+ProxyCohosting) as the way to get SPN
                // checks on HTTP; without Proxy, names are checked only if configured.
                if policy.custom_service_names().is_none() {
                    return Ok(Reason::NoServiceNameCheckWithoutProxy);
                }
            }
        }
    }

    let when_supported = policy.enforcement() == PolicyEnforcement::WhenSupported;
    let spn = match &facts.client_spn {
        ClientServiceName::Missing => {
            return not_provided(when_supported);
        }
        ClientServiceName::Empty => {
            // Documented HTTP outcome 3: an EP client with an empty SPN is refused even under
            // WhenSupported; the code of every implementation treats "" like null.
            if server.profile == Profile::Documented {
                return Err((401, Reason::ServiceNameEmpty));
            }
            return not_provided(when_supported);
        }
        ClientServiceName::Value(spn) => spn,
    };

    // Legacy step 7: exact, un-normalised, case-insensitive `http/localhost`.
    if server.profile == Profile::DotnetLegacy && spn.eq_ignore_ascii_case("http/localhost") {
        return Ok(Reason::LocalClient);
    }
    // Legacy step 8: the defaults are consulted only now, and may be empty.
    if server.profile == Profile::DotnetLegacy && server.acceptable.is_empty() {
        return Err((500, Reason::NoServiceNames));
    }
    if server.acceptable.contains(spn) {
        Ok(Reason::ServiceNameMatched { spn: spn.clone() })
    } else {
        Err((
            401,
            Reason::ServiceNameNotInList {
                spn: spn.clone(),
                acceptable: server.acceptable.len(),
            },
        ))
    }
}

fn not_provided(when_supported: bool) -> Result<Reason, Refusal> {
    if when_supported {
        Ok(Reason::ServiceNameNotProvidedAllowed)
    } else {
        Err((401, Reason::ServiceNameNotProvided))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ExtendedProtectionPolicy;
    use crate::spn::ServiceNameCollection;

    fn trusted_proxy(pe: PolicyEnforcement, profile: Profile) -> ServerPolicy {
        let policy = ExtendedProtectionPolicy::with_service_names(
            pe,
            ProtectionScenario::TrustedProxy,
            ["HTTP/www.contoso.com"],
        )
        .unwrap();
        ServerPolicy::new(policy, &ServiceNameCollection::default(), profile).unwrap()
    }

    /// ARCHITECTURE.md "TrustedProxy with NotChecked": a backend that could not look at the
    /// binding behind a trusted proxy counts as absent — refused under Always, let on to the
    /// SPN check under WhenSupported — in every profile, pinned or not.
    #[test]
    fn trusted_proxy_not_checked_is_absent() {
        for profile in [
            Profile::Documented,
            Profile::DotnetLegacy,
            Profile::Dotnet8,
            Profile::Iis,
        ] {
            for t in [Transport::Https, Transport::Http] {
                let facts = RequestFacts {
                    transport: t,
                    mechanism: Mechanism::Ntlm,
                    server_supports_ep: true,
                    channel_binding: BindingObservation::NotChecked,
                    client_spn: ClientServiceName::Value("HTTP/www.contoso.com".into()),
                };
                for pinned in [false, true] {
                    let pin = |s: ServerPolicy| {
                        if pinned {
                            s.with_proxy_binding_verification()
                        } else {
                            s
                        }
                    };
                    let always = decide(
                        &pin(trusted_proxy(PolicyEnforcement::Always, profile)),
                        &facts,
                    );
                    assert_eq!(
                        always.reason(),
                        &Reason::BindingNotChecked,
                        "{profile:?} {t:?}"
                    );
                    assert_eq!(always.status(), Some(401));
                    let ws = decide(
                        &pin(trusted_proxy(PolicyEnforcement::WhenSupported, profile)),
                        &facts,
                    );
                    assert!(ws.is_accept(), "{profile:?} {t:?}: {ws:?}");
                    assert_eq!(ws.reason().code(), "service-name-matched");
                }
            }
        }
    }

    /// `[policy] mechanisms` (docs/moving-to-kerberos.md): a mechanism the route does not
    /// accept is refused (401, `mechanism-not-allowed`) before anything else, even under
    /// `Never` and with a verified binding; an accepted one is decided as before.
    #[test]
    fn a_mechanism_the_route_does_not_accept_is_refused_first() {
        for pe in [
            PolicyEnforcement::Never,
            PolicyEnforcement::WhenSupported,
            PolicyEnforcement::Always,
        ] {
            let policy = if pe == PolicyEnforcement::Never {
                ExtendedProtectionPolicy::never()
            } else {
                ExtendedProtectionPolicy::with_service_names(
                    pe,
                    ProtectionScenario::TransportSelected,
                    ["HTTP/www.contoso.com"],
                )
                .unwrap()
            };
            let base = ServerPolicy::new(
                policy,
                &ServiceNameCollection::default(),
                Profile::Documented,
            )
            .unwrap();
            for mechanism in Mechanism::ALL.iter().copied() {
                let facts = RequestFacts {
                    transport: Transport::Https,
                    mechanism,
                    server_supports_ep: true,
                    channel_binding: BindingObservation::Match,
                    client_spn: ClientServiceName::Value("HTTP/www.contoso.com".into()),
                };
                let all = decide(&base, &facts);
                assert!(all.is_accept(), "{pe:?} {mechanism:?}: {all:?}");
                for set in [Mechanisms::KERBEROS, Mechanisms::NTLM] {
                    let d = decide(&base.clone().with_mechanisms(set), &facts);
                    if set.permits(mechanism) {
                        assert_eq!(d, all, "{pe:?} {mechanism:?} {set}");
                    } else {
                        assert_eq!(
                            d,
                            Decision::Reject {
                                status: 401,
                                reason: Reason::MechanismNotAllowed { mechanism },
                                service_name: facts.client_spn.clone(),
                            },
                            "{pe:?} {mechanism:?} {set}"
                        );
                    }
                }
            }
        }
    }
}
