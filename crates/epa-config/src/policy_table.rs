//! The `[policy]` table of configuration and scenario files: a policy in the .NET form
//! (`enforcement`, `scenario`, `service_names`) or the IIS form (`token_checking`, `flags`,
//! `spns`), the listener prefixes its default names come from, and the profile.
//!
//! ```toml
//! [policy]
//! enforcement = "always"            # never | when-supported | always
//! scenario = "transport-selected"   # transport-selected | trusted-proxy
//! service_names = ["HTTP/www.contoso.com"]
//! prefixes = ["http://www.contoso.com:80/"]
//! profile = "documented"            # documented | dotnet-legacy | dotnet8 | iis
//! mechanisms = ["kerberos", "ntlm"]  # or ["kerberos"]: refuse NTLM (IIS Negotiate:Kerberos)
//! # token_checking = "none|allow|require"; flags = ["proxy", "proxy-cohosting", ...]
//! machine_name = "srv01.corp.example"   # what wildcard / IP prefixes resolve to
//! [policy.hosts]                        # canonical names of dotless prefix hosts
//! web01 = "web01.corp.example"
//! ```
//! Unknown keys are errors, so a typo cannot silently change a policy.

use epa_core::decide::{Mechanisms, Profile, ServerPolicy};

use epa_core::policy::{
    ExtendedProtectionPolicy, IisExtendedProtection, IisFlags, PolicyEnforcement, PolicyError,
    ProtectionScenario, TokenChecking,
};
use epa_core::prefix::{PrefixError, StaticResolver, default_service_names};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use thiserror::Error;

/// A `[policy]` table that does not give a usable policy.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The policy is invalid.
    #[error("invalid policy: {0}")]
    Policy(#[from] PolicyError),
    /// A listener prefix is invalid.
    #[error("invalid listener prefix: {0}")]
    Prefix(#[from] PrefixError),
    /// Both the .NET form and the IIS form, or neither.
    #[error("{0}")]
    Form(&'static str),
}

/// The `[policy]` table.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyTable {
    /// .NET form: enforcement.
    pub enforcement: Option<PolicyEnforcement>,
    /// .NET form: scenario (default transport-selected).
    pub scenario: Option<ProtectionScenario>,
    /// Custom service names (.NET `CustomServiceNames`, IIS `<spn>`).
    #[serde(alias = "spns")]
    pub service_names: Option<Vec<String>>,
    /// Listener prefixes, from which the default names are derived.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// Which implementation to reproduce.
    pub profile: Option<Profile>,
    /// IIS form: `tokenChecking`.
    pub token_checking: Option<TokenChecking>,
    /// IIS form: `flags`.
    pub flags: Option<Vec<String>>,
    /// What wildcard and IP-literal prefixes resolve to (`Dns.GetHostEntry("")`).
    pub machine_name: Option<String>,
    /// Canonical names of dotless prefix hosts.
    #[serde(default)]
    pub hosts: HashMap<String, String>,
    /// Audit mode, .NET form: the enforcement to observe while `enforcement` is enforced.
    pub target_enforcement: Option<PolicyEnforcement>,
    /// Audit mode, IIS form: the `tokenChecking` to observe.
    pub target_token_checking: Option<TokenChecking>,
    /// The mechanisms accepted (default both): `["kerberos"]` refuses NTLM, bare or inside
    /// SPNEGO, and offers only `Negotiate` (docs/moving-to-kerberos.md).
    pub mechanisms: Option<Mechanisms>,
    /// Audit mode: the mechanisms to observe while `mechanisms` is enforced (e.g.
    /// `["kerberos"]`: every NTLM login is counted and logged as a would-be rejection).
    pub target_mechanisms: Option<Mechanisms>,
    /// Whether an authenticated connection stays authenticated without an `Authorization`
    /// header. Default: yes under `transport-selected` (IIS's connection-based
    /// authentication), no under `trusted-proxy` (a proxy pools many clients' requests on one
    /// connection, so a persisted identity would serve client A's identity to client B).
    pub persist_identity: Option<bool>,
}

impl PolicyTable {
    /// The audit target (`target_enforcement` / `target_token_checking`): the same table with
    /// the target's enforcement, built and validated the same way. `None` without audit.
    /// `target_mechanisms` alone observes the current enforcement with those mechanisms.
    pub fn build_target(&self) -> Result<Option<ServerPolicy>, ConfigError> {
        let target = self.build_target_enforcement()?;
        let Some(mechanisms) = self.target_mechanisms else {
            return Ok(target);
        };
        let base = match target {
            Some(t) => t,
            None => self.build()?,
        };
        Ok(Some(base.with_mechanisms(mechanisms)))
    }

    /// The target of `target_enforcement` / `target_token_checking`.
    fn build_target_enforcement(&self) -> Result<Option<ServerPolicy>, ConfigError> {
        let iis_form = self.token_checking.is_some() || self.flags.is_some();
        match (
            self.target_enforcement,
            self.target_token_checking,
            iis_form,
        ) {
            (None, None, _) => Ok(None),
            (Some(_), Some(_), _) => Err(ConfigError::Form(
                "give target_enforcement (.NET form) or target_token_checking (IIS form), not both",
            )),
            (Some(pe), None, false) => {
                let mut t = self.clone();
                t.enforcement = Some(pe);
                t.target_enforcement = None;
                t.build().map(Some)
            }
            (None, Some(tc), true) => {
                let mut t = self.clone();
                t.token_checking = Some(tc);
                t.target_token_checking = None;
                t.build().map(Some)
            }
            (Some(_), None, true) => Err(ConfigError::Form(
                "the IIS form observes a target with target_token_checking, not target_enforcement",
            )),
            (None, Some(_), false) => Err(ConfigError::Form(
                "the .NET form observes a target with target_enforcement, not target_token_checking",
            )),
        }
    }

    /// Builds the server policy: the listener's default names from `prefixes`, the policy from
    /// the .NET or IIS form, validated as .NET and http.sys validate. In audit mode
    /// (`target_enforcement`) a current `never` ignores the names and scenario, which belong to
    /// the target (.NET's `Never` takes no arguments).
    pub fn build(&self) -> Result<ServerPolicy, ConfigError> {
        let resolver = StaticResolver {
            machine: self.machine_name.clone(),
            hosts: self
                .hosts
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
        };
        let defaults = default_service_names(&self.prefixes, &resolver)?;
        let iis_form = self.token_checking.is_some() || self.flags.is_some();
        let (policy, default_profile) = match (self.enforcement, iis_form) {
            (Some(_), true) => {
                return Err(ConfigError::Form(
                    "give either enforcement/scenario (.NET form) or token_checking/flags (IIS form), not both",
                ));
            }
            (None, false) => {
                return Err(ConfigError::Form(
                    "the [policy] table needs enforcement (never | when-supported | always) or token_checking (none | allow | require)",
                ));
            }
            (Some(pe), false) => (self.dotnet_policy(pe)?, Profile::Documented),
            (None, true) => {
                if self.scenario.is_some() {
                    return Err(ConfigError::Form(
                        "the IIS form sets the scenario with the 'proxy' flag, not with scenario",
                    ));
                }
                let mut flags = IisFlags::default();
                for f in self.flags.iter().flatten() {
                    flags.set(f)?;
                }
                let iis = IisExtendedProtection {
                    token_checking: self.token_checking.unwrap_or(TokenChecking::None),
                    flags,
                    spns: self.service_names.clone().unwrap_or_default(),
                };
                (iis.to_policy()?, Profile::Iis)
            }
        };
        Ok(
            ServerPolicy::new(policy, &defaults, self.profile.unwrap_or(default_profile))?
                .with_mechanisms(self.mechanisms.unwrap_or_default()),
        )
    }

    /// The .NET constructors: names are validated first (as .NET builds the collection first),
    /// then `Never` must come alone.
    fn dotnet_policy(
        &self,
        pe: PolicyEnforcement,
    ) -> Result<ExtendedProtectionPolicy, PolicyError> {
        if pe == PolicyEnforcement::Never && self.target_enforcement.is_some() {
            return Ok(ExtendedProtectionPolicy::never());
        }
        let names = match &self.service_names {
            Some(list) => Some(epa_core::spn::ServiceNameCollection::new(list)?),
            None => None,
        };
        if pe == PolicyEnforcement::Never {
            let single_argument = names.is_none()
                && self.scenario.unwrap_or_default() == ProtectionScenario::TransportSelected;
            return if single_argument {
                Ok(ExtendedProtectionPolicy::never())
            } else {
                Err(PolicyError::NeverTakesNoArguments)
            };
        }
        ExtendedProtectionPolicy::new(pe, self.scenario.unwrap_or_default(), names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_targets() {
        let table = |text: &str| -> PolicyTable { toml::from_str(text).unwrap() };
        let t = table(
            "enforcement = \"when-supported\"\ntarget_enforcement = \"always\"\nservice_names = [\"HTTP/a.example\"]",
        );
        assert_eq!(
            t.build().unwrap().policy().enforcement(),
            PolicyEnforcement::WhenSupported
        );
        let target = t.build_target().unwrap().unwrap();
        assert_eq!(target.policy().enforcement(), PolicyEnforcement::Always);
        // never + names is refused by .NET, but in audit the names are the target's.
        let t = table(
            "enforcement = \"never\"\ntarget_enforcement = \"always\"\nservice_names = [\"HTTP/a.example\"]",
        );
        assert_eq!(
            t.build().unwrap().policy().enforcement(),
            PolicyEnforcement::Never
        );
        assert_eq!(
            t.build_target().unwrap().unwrap().policy().enforcement(),
            PolicyEnforcement::Always
        );
        let t = table(
            "token_checking = \"allow\"\ntarget_token_checking = \"require\"\nspns = [\"HTTP/a.example\"]",
        );
        assert_eq!(
            t.build_target().unwrap().unwrap().policy().enforcement(),
            PolicyEnforcement::Always
        );
        assert!(
            table("enforcement = \"always\"")
                .build_target()
                .unwrap()
                .is_none()
        );
        for bad in [
            "enforcement = \"always\"\ntarget_token_checking = \"require\"",
            "token_checking = \"allow\"\ntarget_enforcement = \"always\"",
            "enforcement = \"always\"\ntarget_enforcement = \"always\"\ntarget_token_checking = \"allow\"",
        ] {
            assert!(
                matches!(table(bad).build_target(), Err(ConfigError::Form(_))),
                "{bad}"
            );
        }
    }

    /// `mechanisms` is the enforced set; `target_mechanisms` is observed, alone or with a
    /// target enforcement; a route's own `mechanisms` replaces the table's.
    #[test]
    fn mechanisms_and_their_audit_target() {
        let table = |text: &str| -> PolicyTable { toml::from_str(text).unwrap() };
        let t = table("enforcement = \"always\"\nservice_names = [\"HTTP/a.example\"]");
        assert_eq!(t.build().unwrap().mechanisms(), Mechanisms::ALL);
        assert!(t.build_target().unwrap().is_none());
        let t = table(
            "enforcement = \"always\"\nservice_names = [\"HTTP/a.example\"]\nmechanisms = [\"kerberos\"]",
        );
        assert_eq!(t.build().unwrap().mechanisms(), Mechanisms::KERBEROS);
        let t = table(
            "enforcement = \"when-supported\"\nservice_names = [\"HTTP/a.example\"]\ntarget_mechanisms = [\"kerberos\"]",
        );
        assert_eq!(t.build().unwrap().mechanisms(), Mechanisms::ALL);
        let target = t.build_target().unwrap().unwrap();
        assert_eq!(target.mechanisms(), Mechanisms::KERBEROS);
        assert_eq!(
            target.policy().enforcement(),
            PolicyEnforcement::WhenSupported
        );
        let t = table(
            "enforcement = \"when-supported\"\ntarget_enforcement = \"always\"\nservice_names = [\"HTTP/a.example\"]\ntarget_mechanisms = [\"kerberos\"]",
        );
        let target = t.build_target().unwrap().unwrap();
        assert_eq!(target.mechanisms(), Mechanisms::KERBEROS);
        assert_eq!(target.policy().enforcement(), PolicyEnforcement::Always);
        for bad in [
            "mechanisms = []",
            "mechanisms = [\"other\"]",
            "mechanisms = [\"basic\"]",
        ] {
            assert!(toml::from_str::<PolicyTable>(bad).is_err(), "{bad}");
        }
    }
}
