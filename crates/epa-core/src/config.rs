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
//! # token_checking = "none|allow|require"; flags = ["proxy", "proxy-cohosting", ...]
//! machine_name = "srv01.corp.example"   # what wildcard / IP prefixes resolve to
//! [policy.hosts]                        # canonical names of dotless prefix hosts
//! web01 = "web01.corp.example"
//! ```
//! Unknown keys are errors, so a typo cannot silently change a policy.

use crate::decide::{Profile, ServerPolicy};
use crate::policy::{
    ExtendedProtectionPolicy, IisExtendedProtection, IisFlags, PolicyEnforcement, PolicyError,
    ProtectionScenario, TokenChecking,
};
use crate::prefix::{PrefixError, StaticResolver, default_service_names};
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
}

impl PolicyTable {
    /// Builds the server policy: the listener's default names from `prefixes`, the policy from
    /// the .NET or IIS form, validated as .NET and http.sys validate.
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
                (iis.to_policy()?, Profile::HttpSys)
            }
        };
        Ok(ServerPolicy::new(
            policy,
            &defaults,
            self.profile.unwrap_or(default_profile),
        )?)
    }

    /// The .NET constructors: names are validated first (as .NET builds the collection first),
    /// then `Never` must come alone.
    fn dotnet_policy(
        &self,
        pe: PolicyEnforcement,
    ) -> Result<ExtendedProtectionPolicy, PolicyError> {
        let names = match &self.service_names {
            Some(list) => Some(crate::spn::ServiceNameCollection::new(list)?),
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
