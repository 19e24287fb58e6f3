//! Audit mode: observe a *target* policy while enforcing the *current* one.
//!
//! Every request is decided under both, by the one decision function ([`decide`]); the response
//! follows the current decision; a request the target would have refused while the current one
//! lets it through is a *would-be rejection*, reported with the target's reason. This is the
//! rollout path from `never` to `always` that Windows Server 2019+ offers as "audit" for LDAP
//! channel binding, applied to HTTP.

use crate::client_cert::{CertificateRefusal, CertificateStatus, RouteOutcome, route_outcome};
use crate::decide::{Decision, Reason, RequestFacts, ServerPolicy, decide};

/// A decision under the current policy, and under the target when one is observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditedDecision {
    /// The decision that is enforced.
    pub enforced: Decision,
    /// The target's decision (`None` without audit).
    pub target: Option<Decision>,
}

impl AuditedDecision {
    /// The target's reason when the target refuses what the current policy accepts.
    pub fn would_reject(&self) -> Option<&Reason> {
        match &self.target {
            Some(t) if self.enforced.is_accept() && !t.is_accept() => Some(t.reason()),
            _ => None,
        }
    }
}

/// Decides under `current`, and under `target` when given.
pub fn decide_audited(
    current: &ServerPolicy,
    target: Option<&ServerPolicy>,
    facts: &RequestFacts,
) -> AuditedDecision {
    AuditedDecision {
        enforced: decide(current, facts),
        target: target.map(|t| decide(t, facts)),
    }
}

/// A route's client-certificate rule in audit form: enforce `required`, observe
/// `observe_required` (e.g. enforce optional, observe required). Returns the enforced outcome
/// and the refusal the observed rule would have made where the enforced one allows.
pub fn route_outcome_audited(
    required: bool,
    observe_required: bool,
    status: CertificateStatus,
) -> (RouteOutcome, Option<CertificateRefusal>) {
    let enforced = route_outcome(required, status);
    let observed = match (enforced, route_outcome(observe_required, status)) {
        (RouteOutcome::Allow, RouteOutcome::Forbid(r)) => Some(r),
        _ => None,
    };
    (enforced, observed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{BindingObservation, ClientServiceName, Mechanism, Profile, Transport};
    use crate::policy::{ExtendedProtectionPolicy, PolicyEnforcement, ProtectionScenario};
    use crate::spn::ServiceNameCollection;

    fn policy(pe: PolicyEnforcement) -> ServerPolicy {
        let p = if pe == PolicyEnforcement::Never {
            ExtendedProtectionPolicy::never()
        } else {
            ExtendedProtectionPolicy::with_service_names(
                pe,
                ProtectionScenario::TransportSelected,
                ["HTTP/www.example.com"],
            )
            .unwrap()
        };
        ServerPolicy::new(p, &ServiceNameCollection::default(), Profile::Documented).unwrap()
    }

    fn https(observation: BindingObservation) -> RequestFacts {
        RequestFacts {
            transport: Transport::Https,
            mechanism: Mechanism::Ntlm,
            server_supports_ep: true,
            channel_binding: observation,
            client_spn: ClientServiceName::Missing,
        }
    }

    #[test]
    fn observe_always_enforce_when_supported() {
        use BindingObservation::*;
        let current = policy(PolicyEnforcement::WhenSupported);
        let target = policy(PolicyEnforcement::Always);
        let cases = [
            // (observation, enforced accept, would-be rejection reason)
            (Match, true, None),
            (Absent, true, Some("binding-absent")),
            (Mismatch, false, None),
            (Unbound, false, None),
        ];
        for (obs, accept, would) in cases {
            let d = decide_audited(&current, Some(&target), &https(obs));
            assert_eq!(d.enforced.is_accept(), accept, "{obs:?}");
            assert_eq!(d.would_reject().map(Reason::code), would, "{obs:?}");
            // The enforced decision is exactly the current policy's.
            assert_eq!(d.enforced, decide(&current, &https(obs)));
            assert_eq!(d.target.as_ref(), Some(&decide(&target, &https(obs))));
        }
        let plain = decide_audited(&current, None, &https(Absent));
        assert_eq!(plain.target, None);
        assert_eq!(plain.would_reject(), None);
    }

    #[test]
    fn observe_always_enforce_never_counts_relays_too() {
        let d = decide_audited(
            &policy(PolicyEnforcement::Never),
            Some(&policy(PolicyEnforcement::Always)),
            &https(BindingObservation::Mismatch),
        );
        assert!(d.enforced.is_accept());
        assert_eq!(d.would_reject().map(Reason::code), Some("binding-mismatch"));
    }

    #[test]
    fn client_certificate_routes_in_audit() {
        use CertificateStatus::*;
        assert_eq!(
            route_outcome_audited(false, true, NotPresented),
            (RouteOutcome::Allow, Some(CertificateRefusal::Required))
        );
        assert_eq!(
            route_outcome_audited(false, true, Revoked),
            (RouteOutcome::Allow, Some(CertificateRefusal::Revoked))
        );
        assert_eq!(
            route_outcome_audited(false, true, Valid),
            (RouteOutcome::Allow, None)
        );
        // Enforced refusals are not "would-be": they happen.
        assert_eq!(
            route_outcome_audited(true, true, NotPresented),
            (RouteOutcome::Forbid(CertificateRefusal::Required), None)
        );
        assert_eq!(
            route_outcome_audited(false, false, Expired),
            (RouteOutcome::Allow, None)
        );
    }
}
