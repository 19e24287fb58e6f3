//! What every enforcement × scenario × profile would decide for the observation the report
//! made: each variant is a [`ServerPolicy`] built from the route's `[policy]` table with that
//! enforcement, scenario and profile (the .NET form; http.sys flags are not carried over), and
//! [`epa_core::decide`] runs on it.
//!
//! For NTLM the client's `MsvAvChannelBindings` is compared with the binding *each variant*
//! would hand the backend (none under `never` and under `trusted-proxy` without a pinned proxy
//! certificate), as the embedded backend would; for Kerberos only the backend's own
//! observation is known (MIT reports a flag), and it is used for every row.

use super::ntlm::SentBinding;
use epa_config::PolicyTable;
use epa_core::decide::{
    BindingObservation, ExpectedBinding, Profile, RequestFacts, ServerPolicy, decide,
};
use epa_core::policy::{PolicyEnforcement, ProtectionScenario};
use epa_hyper::ChannelFacts;
use serde::Serialize;
use std::borrow::Cow;

const PROFILES: [Profile; 4] = [
    Profile::Documented,
    Profile::DotnetLegacy,
    Profile::Dotnet8,
    Profile::Iis,
];

/// One variant of the route's policy.
#[derive(Debug, Clone)]
pub struct Variant {
    enforcement: PolicyEnforcement,
    /// `None` under `never` (no scenario applies).
    scenario: Option<ProtectionScenario>,
    profile: Profile,
    policy: Result<ServerPolicy, String>,
}

/// The variants of `table`: 4 profiles × (never, and when-supported / always under both
/// scenarios) = 20.
pub fn variants(table: &PolicyTable) -> Vec<Variant> {
    let mut out = Vec::with_capacity(20);
    let cells = [(PolicyEnforcement::Never, None)].into_iter().chain(
        [PolicyEnforcement::WhenSupported, PolicyEnforcement::Always]
            .into_iter()
            .flat_map(|e| {
                [
                    ProtectionScenario::TransportSelected,
                    ProtectionScenario::TrustedProxy,
                ]
                .map(|s| (e, Some(s)))
            }),
    );
    for (enforcement, scenario) in cells {
        for profile in PROFILES {
            let t = PolicyTable {
                enforcement: Some(enforcement),
                scenario,
                service_names: scenario.and(table.service_names.clone()),
                prefixes: table.prefixes.clone(),
                profile: Some(profile),
                machine_name: table.machine_name.clone(),
                hosts: table.hosts.clone(),
                ..PolicyTable::default()
            };
            out.push(Variant {
                enforcement,
                scenario,
                profile,
                policy: t.build().map_err(|e| e.to_string()),
            });
        }
    }
    out
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Enforcement.
    pub enforcement: &'static str,
    /// Scenario (`-` under `never`).
    pub scenario: &'static str,
    /// Profile.
    pub profile: &'static str,
    /// The observation this variant decides on.
    pub observation: &'static str,
    /// Whether it would let the login in.
    pub accepted: bool,
    /// 200, or the refusal's status.
    pub status: u16,
    /// The reason code (or `configuration-error`).
    pub reason: String,
    /// Whether this row is the route's own policy.
    pub this_route: bool,
}

/// The binding observation an NTLM client's `sent` value gives against `expected`, as the
/// embedded backend reports it; `None` when the value is malformed (refused before deciding).
pub fn observe(sent: &SentBinding, expected: Option<&[u8; 16]>) -> Option<BindingObservation> {
    Some(match sent {
        SentBinding::Absent => BindingObservation::Absent,
        SentBinding::AllZero => BindingObservation::Unbound,
        // Public values: a plain comparison.
        SentBinding::Value(v) if expected == Some(v) => BindingObservation::Match,
        SentBinding::Value(_) => BindingObservation::Mismatch,
        SentBinding::Malformed => return None,
    })
}

/// The MD5 a backend would compare with under `policy` on this connection.
pub fn expected_md5(policy: &ServerPolicy, facts: &ChannelFacts) -> Option<[u8; 16]> {
    match policy.expected_binding(facts.transport) {
        ExpectedBinding::None => None,
        ExpectedBinding::Connection => facts.server_end_point.as_ref().map(|e| e.md5().0),
        ExpectedBinding::Configured(b) => epa_core::GssChannelBindings::from(b)
            .md5()
            .ok()
            .map(|h| h.0),
    }
}

/// Decides every variant. `sent` is the NTLM client's binding when its AUTHENTICATE was read;
/// otherwise every row uses `facts.channel_binding`.
pub fn rows(
    variants: &[Variant],
    route: &ServerPolicy,
    channel: &ChannelFacts,
    facts: &RequestFacts,
    sent: Option<&SentBinding>,
) -> Vec<Row> {
    let route_proxy = match route.expected_binding(channel.transport) {
        ExpectedBinding::Configured(b)
            if route.policy().scenario() == ProtectionScenario::TrustedProxy =>
        {
            Some(b.clone())
        }
        _ => None,
    };
    variants
        .iter()
        .map(|v| {
            // Borrowed unless the route's pinned proxy certificate must be added.
            let policy = v.policy.as_ref().map(|p| match &route_proxy {
                Some(b) if v.scenario == Some(ProtectionScenario::TrustedProxy) => {
                    Cow::Owned(p.clone().with_proxy_binding(b.clone()))
                }
                _ => Cow::Borrowed(p),
            });
            let this_route = v.enforcement == route.policy().enforcement()
                && v.profile == route.profile()
                && v.scenario.is_none_or(|s| s == route.policy().scenario());
            let mut row = Row {
                enforcement: v.enforcement.name(),
                scenario: v.scenario.map_or("-", |s| s.name()),
                profile: v.profile.name(),
                observation: facts.channel_binding.name(),
                accepted: false,
                status: 500,
                reason: "configuration-error".into(),
                this_route,
            };
            match policy {
                Err(why) => row.reason = format!("configuration-error: {why}"),
                Ok(p) => {
                    let observation = sent
                        .and_then(|s| observe(s, expected_md5(&p, channel).as_ref()))
                        .unwrap_or(facts.channel_binding);
                    let d = decide(
                        &p,
                        &RequestFacts {
                            channel_binding: observation,
                            ..facts.clone()
                        },
                    );
                    row.observation = observation.name();
                    row.accepted = d.is_accept();
                    row.status = d.status().unwrap_or(200);
                    row.reason = d.reason().code().to_owned();
                }
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use epa_core::decide::{ClientServiceName, Mechanism, Transport};

    #[test]
    fn a_client_without_binding_is_refused_by_always_only() {
        let table: PolicyTable =
            toml::from_str("enforcement = \"always\"\nprefixes = [\"https://localhost/\"]")
                .unwrap();
        let vs = variants(&table);
        assert_eq!(vs.len(), 20);
        let route = table.build().unwrap();
        let der = rcgen::generate_simple_self_signed(vec!["localhost".into()])
            .unwrap()
            .cert
            .der()
            .to_vec();
        let channel = ChannelFacts::tls(([127, 0, 0, 1], 1).into(), &der, None).unwrap();
        let facts = RequestFacts {
            transport: Transport::Https,
            mechanism: Mechanism::Ntlm,
            server_supports_ep: true,
            channel_binding: BindingObservation::Absent,
            client_spn: ClientServiceName::Missing,
        };
        let rows = rows(&vs, &route, &channel, &facts, Some(&SentBinding::Absent));
        assert_eq!(rows.iter().filter(|r| r.this_route).count(), 1);
        for r in &rows {
            let refused = r.enforcement == "always";
            assert_eq!(!r.accepted, refused, "{r:?}");
        }
        // A matching binding: transport-selected compares it, trusted-proxy (no pinned
        // certificate) sees "present, not compared".
        let right = channel.server_end_point.as_ref().unwrap().md5().0;
        let rows = super::rows(
            &vs,
            &route,
            &channel,
            &facts,
            Some(&SentBinding::Value(right)),
        );
        assert!(rows.iter().any(|r| r.observation == "match"));
        assert!(
            rows.iter()
                .filter(|r| r.scenario == "trusted-proxy")
                .all(|r| r.observation == "mismatch")
        );
    }
}
