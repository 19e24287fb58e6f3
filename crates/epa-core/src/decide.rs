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

use crate::cbt::ChannelBinding;
use crate::policy::{ExtendedProtectionPolicy, PolicyEnforcement, PolicyError, ProtectionScenario};
use crate::spn::ServiceNameCollection;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which implementation's outcomes to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// The documented contract (default).
    #[default]
    Documented,
    /// Legacy `HttpListener` (.NET Framework 2.0 SP2 – 4.8.x, .NET Core 1.0 – .NET 7).
    DotnetLegacy,
    /// .NET 8+ `HttpListener` over `NegotiateAuthentication`.
    Dotnet8,
    /// http.sys / IIS `<extendedProtection>`.
    Iis,
}

crate::wire::wire_names!(Profile, "profile", {
    Documented => "documented",
    DotnetLegacy => "dotnet-legacy",
    Dotnet8 => "dotnet8",
    Iis => "iis",
});

/// The transport the request arrived on, at this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TLS terminated by this process.
    Https,
    /// Plain HTTP (possibly behind a TLS-terminating proxy).
    Http,
}

crate::wire::wire_names!(Transport, "transport", {
    Https => "https",
    Http => "http",
});

/// The authentication mechanism that completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mechanism {
    /// NTLM, bare or inside SPNEGO.
    #[default]
    Ntlm,
    /// Kerberos, bare or inside SPNEGO: the ticket already names the service, so no SPN check.
    Kerberos,
    /// Another SSPI/GSS mechanism (e.g. Digest on .NET Framework): treated like NTLM.
    Other,
}

crate::wire::wire_names!(Mechanism, "mechanism", {
    Ntlm => "ntlm",
    Kerberos => "kerberos",
    Other => "other",
});

/// What the backend observed of the client's channel binding (docs/windows-semantics.md §4.5: M, X, A, Z).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindingObservation {
    /// (M) A non-zero binding equal to the server's.
    Match,
    /// (X) A non-zero binding different from the server's (or, with no server binding to
    /// compare, any non-zero binding).
    Mismatch,
    /// (A) No binding information at all: a legacy client (NTLM without
    /// `MsvAvChannelBindings`, Kerberos without `KERB_AP_OPTIONS_CBT`).
    Absent,
    /// (Z) The client claims binding support but sent the all-zero "unbound" value.
    Unbound,
    /// The backend did not, or could not, check (e.g. the server had no binding to give it).
    NotChecked,
}

crate::wire::wire_names!(BindingObservation, "channel binding observation", {
    Match => "match",
    Mismatch => "mismatch",
    Absent => "absent",
    Unbound => "unbound",
    NotChecked => "not-checked",
});

/// The client-specified service name as the security package reports it (.NET
/// `HttpListenerRequest.ServiceName`): none, empty, or a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ClientServiceName {
    /// The package reported none (`null`): typically a client without Extended Protection.
    #[default]
    Missing,
    /// The package reported `""`.
    Empty,
    /// The name the client put in its token (NTLM `MsvAvTargetName`).
    Value(String),
}

impl ClientServiceName {
    /// From an optional string: `None` → missing, `""` → empty.
    pub fn from_option(s: Option<&str>) -> Self {
        match s {
            None => Self::Missing,
            Some("") => Self::Empty,
            Some(v) => Self::Value(v.to_owned()),
        }
    }

    /// As an optional string.
    pub fn as_option(&self) -> Option<&str> {
        match self {
            Self::Missing => None,
            Self::Empty => Some(""),
            Self::Value(v) => Some(v),
        }
    }
}

impl Serialize for ClientServiceName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_option().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ClientServiceName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_option(
            Option::<String>::deserialize(d)?.as_deref(),
        ))
    }
}

/// Everything the decision needs to know about one completed authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFacts {
    /// HTTPS (TLS ends here) or HTTP.
    pub transport: Transport,
    /// The mechanism that completed.
    pub mechanism: Mechanism,
    /// Whether the server side can do Extended Protection at all (.NET
    /// `OSSupportsExtendedProtection`; for us: the backend can check bindings and report the
    /// client's SPN).
    pub server_supports_ep: bool,
    /// What the backend observed of the client's binding.
    pub channel_binding: BindingObservation,
    /// The client-specified SPN.
    pub client_spn: ClientServiceName,
}

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
/// profile, validated once and ready for [`decide`].
#[derive(Debug, Clone)]
pub struct ServerPolicy {
    policy: ExtendedProtectionPolicy,
    profile: Profile,
    verify_proxy_binding: bool,
    /// Under `TrustedProxy`: the proxy certificate's binding, when the configuration names it.
    proxy_binding: Option<ChannelBinding>,
    /// The names the SPN check compares against (custom names, or the defaults; .NET 8+ adds
    /// `HTTP/localhost` to the defaults).
    acceptable: ServiceNameCollection,
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
    ///   from [`decide`] instead).
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

/// Why a decision came out as it did. [`Reason::code`] is stable (an interface: logs, metrics,
/// the CLI's JSON); [`Reason::message`] is a sentence for people, modelled on .NET's trace lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    // ---- accept ----
    /// Enforcement is `Never`.
    ExtendedProtectionDisabled,
    /// The server cannot do Extended Protection and the policy is `WhenSupported`; .NET then
    /// ignores the policy.
    ExtendedProtectionUnavailableIgnored,
    /// Kerberos: the ticket already names the service.
    KerberosValidatesServiceName,
    /// HTTPS, the binding matched; no SPN check.
    BindingVerified,
    /// HTTPS, a legacy client without binding under `WhenSupported`; no SPN check.
    BindingAbsentAllowed,
    /// Legacy row 6: HTTPS, the server had no binding to check, and the SPN check is skipped
    /// anyway (fail-open).
    BindingUnavailableFailOpen,
    /// http.sys `NoServiceNameCheck`.
    ServiceNameCheckDisabled,
    /// http.sys on plain HTTP without `Proxy` and without configured names: no check (inferred).
    NoServiceNameCheckWithoutProxy,
    /// The client sent no SPN and the policy is `WhenSupported`.
    ServiceNameNotProvidedAllowed,
    /// Legacy: the client's SPN is exactly `http/localhost`.
    LocalClient,
    /// The client's SPN is in the acceptable list.
    ServiceNameMatched {
        /// The client's SPN.
        spn: String,
    },
    // ---- reject ----
    /// The client's binding is for another TLS channel (a relay, or TLS interception).
    BindingMismatch,
    /// The client claims binding support but sent the all-zero binding.
    BindingUnbound,
    /// A legacy client without binding under `Always`.
    BindingAbsent,
    /// The backend did not check the binding, and this policy needs it checked.
    BindingNotChecked,
    /// The client sent no SPN and the policy is `Always`.
    ServiceNameNotProvided,
    /// The client supports Extended Protection but sent an empty SPN (documented HTTP outcome 3).
    ServiceNameEmpty,
    /// The client's SPN is not in the acceptable list.
    ServiceNameNotInList {
        /// The client's SPN.
        spn: String,
        /// How many names the list has.
        acceptable: usize,
    },
    /// The server cannot do Extended Protection (documented outcome 1).
    ServerLacksExtendedProtection,
    /// `Always` on a server that cannot do Extended Protection (.NET:
    /// `PlatformNotSupportedException`): a server error, 500.
    ExtendedProtectionUnsupported,
    /// No names to compare with (legacy `InvalidOperationException`): a server error, 500.
    NoServiceNames,
}

impl Reason {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ExtendedProtectionDisabled => "ep-disabled",
            Self::ExtendedProtectionUnavailableIgnored => "ep-unavailable-ignored",
            Self::KerberosValidatesServiceName => "kerberos-validates-service-name",
            Self::BindingVerified => "binding-verified",
            Self::BindingAbsentAllowed => "binding-absent-allowed",
            Self::BindingUnavailableFailOpen => "binding-unavailable-fail-open",
            Self::ServiceNameCheckDisabled => "service-name-check-disabled",
            Self::NoServiceNameCheckWithoutProxy => "no-service-name-check-without-proxy",
            Self::ServiceNameNotProvidedAllowed => "service-name-not-provided-allowed",
            Self::LocalClient => "local-client",
            Self::ServiceNameMatched { .. } => "service-name-matched",
            Self::BindingMismatch => "binding-mismatch",
            Self::BindingUnbound => "binding-unbound",
            Self::BindingAbsent => "binding-absent",
            Self::BindingNotChecked => "binding-not-checked",
            Self::ServiceNameNotProvided => "service-name-not-provided",
            Self::ServiceNameEmpty => "service-name-empty",
            Self::ServiceNameNotInList { .. } => "service-name-not-in-list",
            Self::ServerLacksExtendedProtection => "server-lacks-ep",
            Self::ExtendedProtectionUnsupported => "ep-unsupported",
            Self::NoServiceNames => "no-service-names",
        }
    }

    /// A sentence explaining the decision.
    pub fn message(&self) -> String {
        match self {
            Self::ExtendedProtectionDisabled => "No channel binding or service name check because extended protection is disabled.".into(),
            Self::ExtendedProtectionUnavailableIgnored => "No channel binding or service name check because this server cannot do extended protection and the policy is WhenSupported (.NET ignores the policy here).".into(),
            Self::KerberosValidatesServiceName => "No explicit service name check because Kerberos authentication already validates the service name.".into(),
            Self::BindingVerified => "Channel binding verified; no service name check because the channel binding was already checked.".into(),
            Self::BindingAbsentAllowed => "The client sent no channel binding (a client without extended protection) and the policy is WhenSupported; no service name check on a TLS channel.".into(),
            Self::BindingUnavailableFailOpen => "No service name check because the channel binding was already checked, although the server had no channel binding to check (legacy HttpListener fails open here).".into(),
            Self::ServiceNameCheckDisabled => "No service name check because NoServiceNameCheck is set.".into(),
            Self::NoServiceNameCheckWithoutProxy => "No service name check: plain HTTP without the Proxy flag and no service names configured (http.sys behaviour, inferred).".into(),
            Self::ServiceNameNotProvidedAllowed => "No service name check because the client did not provide a service name and the server was configured for PolicyEnforcement.WhenSupported.".into(),
            Self::LocalClient => "No service name check because the authentication was from a client on the local machine.".into(),
            Self::ServiceNameMatched { spn } => format!("Service name check succeeded: the client provided service name '{spn}', which is acceptable."),
            Self::BindingMismatch => "Channel binding check failed: the client's binding was made for a different TLS channel (an authentication relay or a TLS-intercepting proxy).".into(),
            Self::BindingUnbound => "Channel binding check failed: the client supports channel binding but sent the all-zero (unbound) binding.".into(),
            Self::BindingAbsent => "Channel binding check failed because the client did not provide a channel binding and the server was configured for PolicyEnforcement.Always.".into(),
            Self::BindingNotChecked => "Channel binding check failed: the authentication backend did not check the channel binding, and this policy requires it.".into(),
            Self::ServiceNameNotProvided => "Service name check failed because the client did not provide a service name and the server was configured for PolicyEnforcement.Always.".into(),
            Self::ServiceNameEmpty => "Service name check failed because the client supports extended protection but specified an empty service name.".into(),
            Self::ServiceNameNotInList { spn, acceptable } => format!("Service name check failed: the client provided service name '{spn}', which is not among the {acceptable} acceptable service names."),
            Self::ServerLacksExtendedProtection => "Rejected because this server cannot do extended protection and the policy requires it.".into(),
            Self::ExtendedProtectionUnsupported => "PolicyEnforcement.Always is not supported on this server: it cannot do extended protection (.NET throws PlatformNotSupportedException).".into(),
            Self::NoServiceNames => "No service names could be determined from the registered prefixes. Either add prefixes from which default service names can be derived or specify an ExtendedProtectionPolicy object which contains an explicit list of service names.".into(),
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

/// The outcome of one authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the request through.
    Accept {
        /// What .NET exposes as `HttpListenerRequest.ServiceName`: the client's SPN as the
        /// security package reported it.
        service_name: ClientServiceName,
        /// Why.
        reason: Reason,
    },
    /// Refuse it.
    Reject {
        /// 401 for a refused client; 500 for a server configuration that cannot work.
        status: u16,
        /// Why.
        reason: Reason,
        /// The `ServiceName` the documentation gives for this outcome (none when the server
        /// could not obtain it), for diagnosis; never exposed to an application.
        service_name: ClientServiceName,
    },
}

impl Decision {
    /// Whether the request is let through.
    pub fn is_accept(&self) -> bool {
        matches!(self, Self::Accept { .. })
    }

    /// The reason.
    pub fn reason(&self) -> &Reason {
        match self {
            Self::Accept { reason, .. } | Self::Reject { reason, .. } => reason,
        }
    }

    /// The service name.
    pub fn service_name(&self) -> &ClientServiceName {
        match self {
            Self::Accept { service_name, .. } | Self::Reject { service_name, .. } => service_name,
        }
    }

    /// The HTTP status of a rejection; `None` for an accept.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Accept { .. } => None,
            Self::Reject { status, .. } => Some(*status),
        }
    }
}

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
    let secure_transport_selected =
        facts.transport == Transport::Https && scenario == ProtectionScenario::TransportSelected;
    // Why a TLS request may skip the SPN check. `None` (nothing was compared) never skips it.
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
            if let (true, Some(reason)) = (secure_transport_selected, tls_reason) {
                return Ok(reason);
            }
        }
        Profile::Dotnet8 | Profile::Documented => {
            // `_isSecureConnection` is `Binding != null`: with no server binding the SPN check
            // runs (row 6, .NET 8+); the documentation is silent there.
            if binding != BindingPass::NoServerBinding
                && let (true, Some(reason)) = (secure_transport_selected, tls_reason)
            {
                return Ok(reason);
            }
        }
        Profile::Iis => {
            if policy.http_sys_flags().no_service_name_check {
                return Ok(Reason::ServiceNameCheckDisabled);
            }
            if scenario == ProtectionScenario::TransportSelected {
                if let (Transport::Https, Some(reason)) = (facts.transport, tls_reason) {
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
