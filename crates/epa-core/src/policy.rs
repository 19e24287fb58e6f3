//! `ExtendedProtectionPolicy`, with the construction-time validation .NET does, and the IIS
//! `<extendedProtection>` form that converts into it.
//!
//! .NET: `System.Security.Authentication.ExtendedProtection.ExtendedProtectionPolicy`
//! (docs/windows-semantics.md §1–2). IIS: `system.webServer/security/authentication/
//! windowsAuthentication/extendedProtection` (docs/windows-semantics.md §6.1) and http.sys
//! `HTTP_CHANNEL_BIND_INFO` (§6.2).

use crate::cbt::ChannelBinding;
use crate::spn::{ServiceNameCollection, ServiceNameError};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How strictly Extended Protection is enforced (.NET `PolicyEnforcement`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyEnforcement {
    /// No channel-binding or service-name check (`Never = 0`).
    Never,
    /// Clients that send bindings are checked; legacy clients that send none get in
    /// (`WhenSupported = 1`; SSPI `ASC_REQ_ALLOW_MISSING_BINDINGS`).
    WhenSupported,
    /// Every client must send correct bindings (`Always = 2`).
    Always,
}

crate::wire::wire_names!(PolicyEnforcement, "enforcement", {
    Never => "never",
    WhenSupported => "when-supported",
    Always => "always",
});

/// Where TLS ends (.NET `ProtectionScenario`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProtectionScenario {
    /// This process terminates TLS: on HTTPS the channel binding is checked and the service name
    /// is not; on HTTP the service name is checked (`TransportSelected = 0`).
    #[default]
    TransportSelected,
    /// A trusted proxy terminates TLS: the binding must be present and non-zero but is not
    /// compared (SSPI `ASC_REQ_PROXY_BINDINGS`), and the service name is always checked
    /// (`TrustedProxy = 1`).
    TrustedProxy,
}

crate::wire::wire_names!(ProtectionScenario, "scenario", {
    TransportSelected => "transport-selected",
    TrustedProxy => "trusted-proxy",
});

/// The http.sys `HTTP_CHANNEL_BIND_INFO` flags that have no .NET counterpart (IIS `flags`).
/// They take effect only under [`crate::decide::Profile::Iis`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HttpSysFlags {
    /// `NoServiceNameCheck` (0x2): "SPN check always succeeds."
    pub no_service_name_check: bool,
    /// `AllowDotlessSpn` (0x4): dotless names may be configured (otherwise a configuration error).
    pub allow_dotless_spn: bool,
    /// `ProxyCohosting` (0x20, requires `Proxy`): the "not unbound" check is skipped, so clients
    /// that reach the server directly over HTTP (all-zero binding) also get in.
    pub proxy_cohosting: bool,
}

impl HttpSysFlags {
    /// Whether any flag is set.
    pub fn any(&self) -> bool {
        self.no_service_name_check || self.allow_dotless_spn || self.proxy_cohosting
    }
}

/// A policy that cannot be constructed or used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// `Never` with service names or a channel binding (.NET: `ArgumentException`
    /// "To construct a policy with PolicyEnforcement.Never, the single-parameter constructor
    /// must be used.").
    #[error(
        "enforcement 'never' takes no service names and no custom channel binding (.NET: the single-parameter constructor must be used)"
    )]
    NeverTakesNoArguments,
    /// An empty service-name list (.NET: `ArgumentException` "The ServiceNameCollection must
    /// contain at least one service name."). Omit the list instead.
    #[error(
        "the service name list is empty: it must contain at least one service name (omit it to use the default names)"
    )]
    EmptyServiceNames,
    /// A service name was rejected.
    #[error("invalid service name: {0}")]
    ServiceName(#[from] ServiceNameError),
    /// IIS `ProxyCohosting` without `Proxy`.
    #[error("IIS flag ProxyCohosting is valid only together with Proxy")]
    ProxyCohostingWithoutProxy,
    /// A dotless name without IIS `AllowDotlessSpn` (http.sys fails the configuration).
    #[error(
        "service name '{name}' is dotless (a NetBIOS-style name); http.sys refuses it unless AllowDotlessSpn is set"
    )]
    DotlessServiceName {
        /// The name.
        name: String,
    },
    /// An IIS flag value we do not know.
    #[error(
        "unknown IIS extendedProtection flag '{flag}' (expected None, Proxy, NoServiceNameCheck, AllowDotlessSpn, ProxyCohosting)"
    )]
    UnknownIisFlag {
        /// The flag as written.
        flag: String,
    },
    /// A custom channel binding under a profile that reproduces `HttpListener`, whose
    /// `ExtendedProtectionPolicy` setter refuses it.
    #[error("custom channel bindings are not supported by HttpListener (profile {profile})")]
    CustomChannelBindingNotSupported {
        /// The profile.
        profile: &'static str,
    },
    /// http.sys flags under a profile that reproduces .NET, which has no such flags.
    #[error(
        "the IIS flags NoServiceNameCheck, AllowDotlessSpn and ProxyCohosting need profile 'iis'; profile {profile} has no equivalent"
    )]
    HttpSysFlagsNeedIisProfile {
        /// The profile.
        profile: &'static str,
    },
    /// No custom names and no default names (.NET 8+: `InvalidOperationException`, thrown for
    /// every new authentication context, so we refuse the configuration up front).
    #[error(
        "no service names could be determined from the listener prefixes: add prefixes from which default service names can be derived, or list the service names explicitly"
    )]
    NoServiceNames,
}

/// .NET `ExtendedProtectionPolicy`: enforcement, scenario, optional custom service names and
/// an optional custom channel binding, validated as .NET validates them.
#[derive(Debug, Clone)]
pub struct ExtendedProtectionPolicy {
    enforcement: PolicyEnforcement,
    scenario: ProtectionScenario,
    custom_service_names: Option<ServiceNameCollection>,
    custom_channel_binding: Option<ChannelBinding>,
    http_sys: HttpSysFlags,
}

impl ExtendedProtectionPolicy {
    /// `new ExtendedProtectionPolicy(PolicyEnforcement)`: the only form that accepts `Never`.
    /// The scenario is `TransportSelected`.
    pub fn from_enforcement(enforcement: PolicyEnforcement) -> Self {
        Self {
            enforcement,
            scenario: ProtectionScenario::TransportSelected,
            custom_service_names: None,
            custom_channel_binding: None,
            http_sys: HttpSysFlags::default(),
        }
    }

    /// The disabled policy, `HttpListener`'s default.
    pub fn never() -> Self {
        Self::from_enforcement(PolicyEnforcement::Never)
    }

    /// `new ExtendedProtectionPolicy(pe, ps, ServiceNameCollection?)`: `Never` is an error;
    /// `Some(empty)` is an error; `None` means "use the listener's default names".
    pub fn new(
        enforcement: PolicyEnforcement,
        scenario: ProtectionScenario,
        custom_service_names: Option<ServiceNameCollection>,
    ) -> Result<Self, PolicyError> {
        if enforcement == PolicyEnforcement::Never {
            return Err(PolicyError::NeverTakesNoArguments);
        }
        if custom_service_names
            .as_ref()
            .is_some_and(ServiceNameCollection::is_empty)
        {
            return Err(PolicyError::EmptyServiceNames);
        }
        Ok(Self {
            enforcement,
            scenario,
            custom_service_names,
            custom_channel_binding: None,
            http_sys: HttpSysFlags::default(),
        })
    }

    /// `new ExtendedProtectionPolicy(pe, ps, ICollection)`: the collection is built first, so an
    /// invalid name is reported before the `Never` error, as in .NET.
    pub fn with_service_names<I, S>(
        enforcement: PolicyEnforcement,
        scenario: ProtectionScenario,
        names: I,
    ) -> Result<Self, PolicyError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names = ServiceNameCollection::new(names)?;
        Self::new(enforcement, scenario, Some(names))
    }

    /// `new ExtendedProtectionPolicy(pe, ChannelBinding)`: `Never` is an error; the scenario is
    /// forced to `TransportSelected`. The backend compares the client's binding with this one
    /// instead of the TLS connection's.
    pub fn with_channel_binding(
        enforcement: PolicyEnforcement,
        binding: ChannelBinding,
    ) -> Result<Self, PolicyError> {
        if enforcement == PolicyEnforcement::Never {
            return Err(PolicyError::NeverTakesNoArguments);
        }
        Ok(Self {
            custom_channel_binding: Some(binding),
            ..Self::from_enforcement(enforcement)
        })
    }

    /// The enforcement.
    pub fn enforcement(&self) -> PolicyEnforcement {
        self.enforcement
    }

    /// The scenario.
    pub fn scenario(&self) -> ProtectionScenario {
        self.scenario
    }

    /// The custom service names, if any (`None` = the listener's default names).
    pub fn custom_service_names(&self) -> Option<&ServiceNameCollection> {
        self.custom_service_names.as_ref()
    }

    /// The custom channel binding, if any.
    pub fn custom_channel_binding(&self) -> Option<&ChannelBinding> {
        self.custom_channel_binding.as_ref()
    }

    /// The http.sys flags (all off unless the policy came from the IIS form).
    pub fn http_sys_flags(&self) -> HttpSysFlags {
        self.http_sys
    }
}

impl std::fmt::Display for ExtendedProtectionPolicy {
    /// .NET `ToString()`: `ProtectionScenario=..; PolicyEnforcement=..; CustomChannelBinding=..;
    /// ServiceNames=..`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scenario = match self.scenario {
            ProtectionScenario::TransportSelected => "TransportSelected",
            ProtectionScenario::TrustedProxy => "TrustedProxy",
        };
        let enforcement = match self.enforcement {
            PolicyEnforcement::Never => "Never",
            PolicyEnforcement::WhenSupported => "WhenSupported",
            PolicyEnforcement::Always => "Always",
        };
        write!(
            f,
            "ProtectionScenario={scenario}; PolicyEnforcement={enforcement}; CustomChannelBinding="
        )?;
        match &self.custom_channel_binding {
            Some(b) => write!(f, "{}", b.binding_type())?,
            None => f.write_str("<null>")?,
        }
        f.write_str("; ServiceNames=")?;
        match &self.custom_service_names {
            Some(names) => {
                let joined: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
                f.write_str(&joined.join(", "))
            }
            None => f.write_str("<null>"),
        }
    }
}

/// IIS `tokenChecking` (http.sys hardening level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenChecking {
    /// `None` (0, the IIS default), http.sys `HttpAuthenticationHardeningLegacy`: no checks.
    #[default]
    None,
    /// `Allow` (1, UI "Accept"), `HttpAuthenticationHardeningMedium`: clients that support
    /// Extended Protection are checked, legacy clients are let in.
    Allow,
    /// `Require` (2, UI "Required"), `HttpAuthenticationHardeningStrict`: every client must
    /// send bindings.
    Require,
}

crate::wire::wire_names!(TokenChecking, "token checking", {
    None => "none",
    Allow => "allow",
    Require => "require",
});

impl TokenChecking {
    /// The .NET enforcement with the same number: `None` → `Never`, `Allow` → `WhenSupported`,
    /// `Require` → `Always` (inferred: no document states the mapping).
    pub fn enforcement(self) -> PolicyEnforcement {
        match self {
            Self::None => PolicyEnforcement::Never,
            Self::Allow => PolicyEnforcement::WhenSupported,
            Self::Require => PolicyEnforcement::Always,
        }
    }
}

/// IIS `extendedProtection/@flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IisFlags {
    /// `Proxy` (1).
    pub proxy: bool,
    /// `NoServiceNameCheck` (2).
    pub no_service_name_check: bool,
    /// `AllowDotlessSpn` (4).
    pub allow_dotless_spn: bool,
    /// `ProxyCohosting` (32).
    pub proxy_cohosting: bool,
}

impl IisFlags {
    /// Parses one flag name, in IIS spelling (`ProxyCohosting`) or kebab case
    /// (`proxy-cohosting`), case-insensitively.
    pub fn set(&mut self, flag: &str) -> Result<(), PolicyError> {
        let canonical: String = flag
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        match canonical.as_str() {
            "none" => {}
            "proxy" => self.proxy = true,
            "noservicenamecheck" => self.no_service_name_check = true,
            "allowdotlessspn" => self.allow_dotless_spn = true,
            "proxycohosting" => self.proxy_cohosting = true,
            _ => {
                return Err(PolicyError::UnknownIisFlag {
                    flag: flag.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Parses an IIS attribute value such as `"Proxy, ProxyCohosting"`.
    pub fn parse(value: &str) -> Result<Self, PolicyError> {
        let mut flags = Self::default();
        for part in value.split(',').filter(|p| !p.trim().is_empty()) {
            flags.set(part)?;
        }
        Ok(flags)
    }
}

/// The IIS `<extendedProtection tokenChecking flags><spn name/>...` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IisExtendedProtection {
    /// `tokenChecking`.
    pub token_checking: TokenChecking,
    /// `flags`.
    pub flags: IisFlags,
    /// The `<spn name>` entries after `<clearSpns>`/`<removeSpn>` are applied.
    pub spns: Vec<String>,
}

impl IisExtendedProtection {
    /// Converts to a policy: `None` → `Never`, `Allow` → `WhenSupported`, `Require` → `Always`
    /// (the http.sys hardening levels with the same numbers; the mapping is inferred, no
    /// document states it); `Proxy` → `TrustedProxy`; `<spn>` entries → custom names.
    ///
    /// IIS accepts `<spn>` entries with `tokenChecking="None"`; they have no effect and are
    /// dropped here. `ProxyCohosting` without `Proxy` and dotless names without
    /// `AllowDotlessSpn` are errors, as in http.sys.
    pub fn to_policy(&self) -> Result<ExtendedProtectionPolicy, PolicyError> {
        let f = self.flags;
        if f.proxy_cohosting && !f.proxy {
            return Err(PolicyError::ProxyCohostingWithoutProxy);
        }
        let enforcement = self.token_checking.enforcement();
        if enforcement == PolicyEnforcement::Never {
            return Ok(ExtendedProtectionPolicy::never());
        }
        let scenario = if f.proxy {
            ProtectionScenario::TrustedProxy
        } else {
            ProtectionScenario::TransportSelected
        };
        let names = if self.spns.is_empty() {
            None
        } else {
            let names = ServiceNameCollection::new(&self.spns)?;
            if !f.allow_dotless_spn
                && let Some(dotless) = names.first_dotless()
            {
                return Err(PolicyError::DotlessServiceName {
                    name: dotless.as_str().to_owned(),
                });
            }
            Some(names)
        };
        let mut policy = ExtendedProtectionPolicy::new(enforcement, scenario, names)?;
        policy.http_sys = HttpSysFlags {
            no_service_name_check: f.no_service_name_check,
            allow_dotless_spn: f.allow_dotless_spn,
            proxy_cohosting: f.proxy_cohosting,
        };
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PolicyEnforcement::*;
    use ProtectionScenario::*;

    #[test]
    fn never_only_through_the_single_argument_form() {
        assert_eq!(
            ExtendedProtectionPolicy::new(Never, TransportSelected, None).unwrap_err(),
            PolicyError::NeverTakesNoArguments
        );
        assert_eq!(
            ExtendedProtectionPolicy::with_channel_binding(Never, ChannelBinding::tls_unique(&[1]))
                .unwrap_err(),
            PolicyError::NeverTakesNoArguments
        );
        assert_eq!(ExtendedProtectionPolicy::never().enforcement(), Never);
    }

    #[test]
    fn empty_name_list_is_an_error_but_none_is_allowed() {
        assert_eq!(
            ExtendedProtectionPolicy::with_service_names(Always, TrustedProxy, Vec::<&str>::new())
                .unwrap_err(),
            PolicyError::EmptyServiceNames
        );
        assert!(ExtendedProtectionPolicy::new(Always, TrustedProxy, None).is_ok());
    }

    #[test]
    fn invalid_name_reported_before_the_never_error() {
        assert_eq!(
            ExtendedProtectionPolicy::with_service_names(Never, TransportSelected, ["HTTP/a", ""])
                .unwrap_err(),
            PolicyError::ServiceName(ServiceNameError::Empty { index: 1 })
        );
    }

    #[test]
    fn channel_binding_forces_transport_selected() {
        let p = ExtendedProtectionPolicy::with_channel_binding(
            WhenSupported,
            ChannelBinding::tls_unique(&[1]),
        )
        .unwrap();
        assert_eq!(p.scenario(), TransportSelected);
        assert!(p.custom_service_names().is_none());
    }

    #[test]
    fn display_matches_dotnet_to_string() {
        let p = ExtendedProtectionPolicy::with_service_names(
            Always,
            TransportSelected,
            ["HTTP/a.example", "HTTP/b.example"],
        )
        .unwrap();
        assert_eq!(
            p.to_string(),
            "ProtectionScenario=TransportSelected; PolicyEnforcement=Always; CustomChannelBinding=<null>; ServiceNames=HTTP/a.example, HTTP/b.example"
        );
        assert_eq!(
            ExtendedProtectionPolicy::never().to_string(),
            "ProtectionScenario=TransportSelected; PolicyEnforcement=Never; CustomChannelBinding=<null>; ServiceNames=<null>"
        );
    }

    fn iis(
        tc: TokenChecking,
        flags: &str,
        spns: &[&str],
    ) -> Result<ExtendedProtectionPolicy, PolicyError> {
        IisExtendedProtection {
            token_checking: tc,
            flags: IisFlags::parse(flags)?,
            spns: spns.iter().map(|s| s.to_string()).collect(),
        }
        .to_policy()
    }

    #[test]
    fn iis_form_converts() {
        let p = iis(
            TokenChecking::Require,
            "Proxy, NoServiceNameCheck",
            &["HTTP/www.contoso.com"],
        )
        .unwrap();
        assert_eq!((p.enforcement(), p.scenario()), (Always, TrustedProxy));
        assert!(p.http_sys_flags().no_service_name_check);
        let p = iis(TokenChecking::Allow, "None", &[]).unwrap();
        assert_eq!(
            (p.enforcement(), p.scenario()),
            (WhenSupported, TransportSelected)
        );
        assert!(p.custom_service_names().is_none());
        assert_eq!(
            iis(TokenChecking::None, "", &["HTTP/x.example"])
                .unwrap()
                .enforcement(),
            Never
        );
    }

    #[test]
    fn iis_form_errors() {
        assert_eq!(
            iis(TokenChecking::Allow, "ProxyCohosting", &[]).unwrap_err(),
            PolicyError::ProxyCohostingWithoutProxy
        );
        assert_eq!(
            iis(TokenChecking::Allow, "Proxy", &["HTTP/web01"]).unwrap_err(),
            PolicyError::DotlessServiceName {
                name: "HTTP/web01".into()
            }
        );
        assert!(
            iis(
                TokenChecking::Allow,
                "Proxy,AllowDotlessSpn",
                &["HTTP/web01"]
            )
            .is_ok()
        );
        assert!(matches!(
            iis(TokenChecking::Allow, "Proxy, Bogus", &[]).unwrap_err(),
            PolicyError::UnknownIisFlag { .. }
        ));
    }
}
