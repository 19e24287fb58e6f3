//! A policy bound to a listener ([`ServerPolicy`]) and the binding it hands a backend.

use super::{Mechanisms, Profile, Transport};
use crate::cbt::ChannelBinding;
use crate::policy::{ExtendedProtectionPolicy, PolicyEnforcement, PolicyError, ProtectionScenario};
use crate::spn::ServiceNameCollection;

/// The binding a backend is handed, as [`ServerPolicy::expected_binding`] chooses it.
#[derive(Debug, Clone, Copy)]
pub enum ExpectedBinding<'a> {
    /// No binding: the backend reports what the client sent without comparing.
    None,
    /// The connection's own `tls-server-end-point` (the certificate this connection presented).
    Connection,
    /// A binding fixed by configuration: the policy's custom binding, or the proxy's certificate.
    Configured(&'a ChannelBinding),
}

/// A policy bound to a listener: the policy, the listener's default service names and the
/// profile, validated once and ready for [`decide`](super::decide).
#[derive(Debug, Clone)]
pub struct ServerPolicy {
    pub(super) policy: ExtendedProtectionPolicy,
    pub(super) profile: Profile,
    pub(super) verify_proxy_binding: bool,
    /// Under `TrustedProxy`: the proxy certificate's binding, when the configuration names it.
    pub(super) proxy_binding: Option<ChannelBinding>,
    /// The names the SPN check compares against (custom names, or the defaults; .NET 8+ adds
    /// `HTTP/localhost` to the defaults).
    pub(super) acceptable: ServiceNameCollection,
    /// The mechanisms accepted (default: Kerberos and NTLM).
    pub(super) mechanisms: Mechanisms,
}

impl ServerPolicy {
    /// Binds `policy` to a listener whose default names are `default_service_names` (see
    /// [`crate::prefix::default_service_names`]). Profile `iis` ignores them: http.sys uses only
    /// the policy's own names (IIS `<spn>` entries).
    ///
    /// Errors, per profile:
    /// * `dotnet-legacy`, `dotnet8`: a custom channel binding (`HttpListener` refuses it).
    /// * any profile but `iis`: http.sys flags (.NET has no such behaviour).
    /// * `documented`, `dotnet8`: enforcement other than `Never`, no custom names and no default
    ///   names (.NET 8+ throws `InvalidOperationException` on every new authentication context;
    ///   legacy throws only when the SPN check reaches the list, so that profile reports a 500
    ///   from [`decide`](super::decide) instead).
    pub fn new(
        policy: ExtendedProtectionPolicy,
        default_service_names: &ServiceNameCollection,
        profile: Profile,
    ) -> Result<Self, PolicyError> {
        if policy.custom_channel_binding().is_some()
            && matches!(profile, Profile::DotnetLegacy | Profile::Dotnet8)
        {
            return Err(PolicyError::CustomChannelBindingNotSupported {
                profile: profile.name(),
            });
        }
        if policy.http_sys_flags().any() && profile != Profile::Iis {
            return Err(PolicyError::HttpSysFlagsNeedIisProfile {
                profile: profile.name(),
            });
        }
        let acceptable = match policy.custom_service_names() {
            Some(custom) => custom.clone(),
            None => match profile {
                Profile::Documented | Profile::Dotnet8 => {
                    if policy.enforcement() != PolicyEnforcement::Never
                        && default_service_names.is_empty()
                    {
                        return Err(PolicyError::NoServiceNames);
                    }
                    // .NET 8+ `GetAuthenticationExtendedProtectionPolicy`:
                    // DefaultServiceNames.Merge("HTTP/localhost").
                    default_service_names.merge(["HTTP/localhost"])?
                }
                Profile::DotnetLegacy => default_service_names.clone(),
                // http.sys checks only the configured `<spn>` entries (HTTP_CHANNEL_BIND_INFO
                // `ServiceNames`); it derives nothing from the URL reservations. Without entries
                // the list is empty: under `Proxy` every SPN is refused, and on plain HTTP
                // without `Proxy` no check runs (docs/windows-semantics.md §6.2).
                Profile::Iis => ServiceNameCollection::default(),
            },
        };
        Ok(Self {
            policy,
            profile,
            verify_proxy_binding: false,
            proxy_binding: None,
            acceptable,
            mechanisms: Mechanisms::ALL,
        })
    }

    /// Beyond IIS: under `TrustedProxy`, the backend is handed the binding of the proxy's own
    /// certificate, so a client binding that does not match it is refused (`binding-mismatch`)
    /// instead of merely being checked to be non-zero. Clients that reach the proxy through
    /// another TLS terminator (a relay) are then refused too.
    pub fn with_proxy_binding_verification(mut self) -> Self {
        self.verify_proxy_binding = true;
        self
    }

    /// [`ServerPolicy::with_proxy_binding_verification`] with the binding of the proxy's own
    /// certificate, which [`ServerPolicy::expected_binding`] then hands to the backend.
    pub fn with_proxy_binding(mut self, binding: ChannelBinding) -> Self {
        self.proxy_binding = Some(binding);
        self.with_proxy_binding_verification()
    }

    /// Which channel binding the backend compares the client's with (docs/windows-semantics.md
    /// §4.3): none under `Never` and on plain HTTP; under `TrustedProxy` the proxy certificate's
    /// when it is named, else none (IIS only checks "present and not all-zero" there); otherwise
    /// the policy's custom binding, or the connection's own `tls-server-end-point`.
    pub fn expected_binding(&self, transport: Transport) -> ExpectedBinding<'_> {
        if self.policy.enforcement() == PolicyEnforcement::Never {
            return ExpectedBinding::None;
        }
        match (self.policy.scenario(), transport) {
            (ProtectionScenario::TrustedProxy, _) => match &self.proxy_binding {
                Some(b) => ExpectedBinding::Configured(b),
                None => ExpectedBinding::None,
            },
            (ProtectionScenario::TransportSelected, Transport::Https) => {
                match self.policy.custom_channel_binding() {
                    Some(custom) => ExpectedBinding::Configured(custom),
                    None => ExpectedBinding::Connection,
                }
            }
            (ProtectionScenario::TransportSelected, Transport::Http) => ExpectedBinding::None,
        }
    }

    /// Accepts only `mechanisms` (`[policy] mechanisms`; default both): an exchange completed
    /// with another is refused with `mechanism-not-allowed` before any other check.
    pub fn with_mechanisms(mut self, mechanisms: Mechanisms) -> Self {
        self.mechanisms = mechanisms;
        self
    }

    /// The mechanisms accepted.
    pub fn mechanisms(&self) -> Mechanisms {
        self.mechanisms
    }

    /// Whether [`ServerPolicy::with_proxy_binding_verification`] is on.
    pub fn verifies_proxy_binding(&self) -> bool {
        self.verify_proxy_binding
    }

    /// The policy.
    pub fn policy(&self) -> &ExtendedProtectionPolicy {
        &self.policy
    }

    /// The profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The names an SPN check compares against.
    pub fn acceptable_service_names(&self) -> &ServiceNameCollection {
        &self.acceptable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PolicyEnforcement::*;
    use ProtectionScenario::*;

    fn defaults() -> ServiceNameCollection {
        ServiceNameCollection::new(["HTTP/www.contoso.com"]).unwrap()
    }

    fn server(pe: PolicyEnforcement, ps: ProtectionScenario, profile: Profile) -> ServerPolicy {
        let policy = if pe == Never {
            ExtendedProtectionPolicy::never()
        } else {
            ExtendedProtectionPolicy::new(pe, ps, None).unwrap()
        };
        ServerPolicy::new(policy, &defaults(), profile).unwrap()
    }

    fn kind(b: ExpectedBinding<'_>) -> String {
        match b {
            ExpectedBinding::None => "none".into(),
            ExpectedBinding::Connection => "connection".into(),
            ExpectedBinding::Configured(c) => format!("configured {:?}", c.payload()),
        }
    }

    /// docs/windows-semantics.md §4.3: nothing under Never, on plain HTTP and under
    /// TrustedProxy (unless the proxy's certificate is named); the connection's own binding on
    /// HTTPS; a custom binding when the policy has one.
    #[test]
    fn expected_binding_follows_get_channel_binding() {
        for t in [Transport::Https, Transport::Http] {
            assert_eq!(
                kind(server(Never, TransportSelected, Profile::Iis).expected_binding(t)),
                "none"
            );
            assert_eq!(
                kind(server(Always, TrustedProxy, Profile::Iis).expected_binding(t)),
                "none"
            );
        }
        for pe in [WhenSupported, Always] {
            let s = server(pe, TransportSelected, Profile::Documented);
            assert_eq!(kind(s.expected_binding(Transport::Https)), "connection");
            assert_eq!(kind(s.expected_binding(Transport::Http)), "none");
        }
        let custom = ChannelBinding::tls_unique(&[7; 12]);
        let policy = ExtendedProtectionPolicy::with_channel_binding(Always, custom).unwrap();
        let s = ServerPolicy::new(policy, &defaults(), Profile::Iis).unwrap();
        assert_eq!(
            kind(s.expected_binding(Transport::Https)),
            format!("configured {:?}", [7u8; 12])
        );
        assert_eq!(kind(s.expected_binding(Transport::Http)), "none");
    }

    #[test]
    fn a_named_proxy_certificate_is_handed_over_and_verified() {
        let plain = server(WhenSupported, TrustedProxy, Profile::Iis);
        assert!(!plain.verifies_proxy_binding());
        assert!(
            plain
                .clone()
                .with_proxy_binding_verification()
                .verifies_proxy_binding()
        );
        let pinned =
            plain.with_proxy_binding(ChannelBinding::tls_server_end_point_from_hash(&[9; 32]));
        assert!(pinned.verifies_proxy_binding());
        for t in [Transport::Https, Transport::Http] {
            assert_eq!(
                kind(pinned.expected_binding(t)),
                format!("configured {:?}", [9u8; 32])
            );
        }
        // Never hands nothing over, pinned or not.
        let never = server(Never, TransportSelected, Profile::Iis)
            .with_proxy_binding(ChannelBinding::tls_server_end_point_from_hash(&[9; 32]));
        assert_eq!(kind(never.expected_binding(Transport::Https)), "none");
    }

    #[test]
    fn accessors_return_what_was_bound() {
        for profile in [
            Profile::Documented,
            Profile::DotnetLegacy,
            Profile::Dotnet8,
            Profile::Iis,
        ] {
            let s = server(Always, TrustedProxy, profile);
            assert_eq!(s.profile(), profile);
            assert_eq!(s.policy().enforcement(), Always);
            assert_eq!(s.policy().scenario(), TrustedProxy);
            assert_eq!(s.mechanisms(), Mechanisms::ALL);
            let kerberos = s.with_mechanisms(Mechanisms::KERBEROS);
            assert_eq!(kerberos.mechanisms(), Mechanisms::KERBEROS);
        }
        // .NET 8+ (and documented) merge HTTP/localhost into the defaults; legacy does not; iis
        // uses only its own names.
        let names = |p| {
            let s = server(WhenSupported, TransportSelected, p);
            s.acceptable_service_names()
                .iter()
                .map(|n| n.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(Profile::Dotnet8),
            ["HTTP/www.contoso.com", "HTTP/localhost"]
        );
        assert_eq!(
            names(Profile::Documented),
            ["HTTP/www.contoso.com", "HTTP/localhost"]
        );
        assert_eq!(names(Profile::DotnetLegacy), ["HTTP/www.contoso.com"]);
        assert!(names(Profile::Iis).is_empty());
    }
}
