//! The outcome of a decision ([`Decision`]) and why ([`Reason`]).

use super::{ClientServiceName, Mechanism};

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
    /// The exchange completed (or began) with a mechanism the route does not accept
    /// (`[policy] mechanisms`, IIS's providers list).
    MechanismNotAllowed {
        /// The mechanism the client used.
        mechanism: Mechanism,
    },
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
            Self::MechanismNotAllowed { .. } => "mechanism-not-allowed",
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
            Self::MechanismNotAllowed { mechanism } => format!("Authentication refused: the client used {}, which this route does not accept (see its mechanisms setting).", mechanism.name()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn every_reason() -> Vec<Reason> {
        vec![
            Reason::ExtendedProtectionDisabled,
            Reason::ExtendedProtectionUnavailableIgnored,
            Reason::KerberosValidatesServiceName,
            Reason::BindingVerified,
            Reason::BindingAbsentAllowed,
            Reason::BindingUnavailableFailOpen,
            Reason::ServiceNameCheckDisabled,
            Reason::NoServiceNameCheckWithoutProxy,
            Reason::ServiceNameNotProvidedAllowed,
            Reason::LocalClient,
            Reason::ServiceNameMatched {
                spn: "HTTP/a.example".into(),
            },
            Reason::MechanismNotAllowed {
                mechanism: crate::decide::Mechanism::Ntlm,
            },
            Reason::BindingMismatch,
            Reason::BindingUnbound,
            Reason::BindingAbsent,
            Reason::BindingNotChecked,
            Reason::ServiceNameNotProvided,
            Reason::ServiceNameEmpty,
            Reason::ServiceNameNotInList {
                spn: "HTTP/b.example".into(),
                acceptable: 3,
            },
            Reason::ServerLacksExtendedProtection,
            Reason::ExtendedProtectionUnsupported,
            Reason::NoServiceNames,
        ]
    }

    /// Every reason has its own code and its own sentence, and `Display` is the sentence.
    #[test]
    fn codes_and_messages_are_distinct_sentences() {
        let reasons = every_reason();
        let codes: std::collections::HashSet<_> = reasons.iter().map(Reason::code).collect();
        let messages: std::collections::HashSet<_> = reasons.iter().map(Reason::message).collect();
        assert_eq!(codes.len(), reasons.len());
        assert_eq!(messages.len(), reasons.len());
        for r in &reasons {
            let m = r.message();
            assert!(m.len() > 30 && m.ends_with('.'), "{}: {m}", r.code());
            assert_eq!(r.to_string(), m);
        }
    }

    #[test]
    fn messages_name_the_client_spn() {
        let matched = Reason::ServiceNameMatched {
            spn: "HTTP/a.example".into(),
        };
        assert!(matched.message().contains("'HTTP/a.example'"));
        let refused = Reason::ServiceNameNotInList {
            spn: "HTTP/b.example".into(),
            acceptable: 3,
        };
        assert!(refused.message().contains("'HTTP/b.example'"));
        assert!(refused.message().contains("the 3 acceptable"));
    }

    #[test]
    fn the_mechanism_refusal_names_the_mechanism() {
        let r = Reason::MechanismNotAllowed {
            mechanism: Mechanism::Ntlm,
        };
        assert_eq!(r.code(), "mechanism-not-allowed");
        assert!(r.message().contains("used ntlm,"), "{}", r.message());
    }

    #[test]
    fn decision_accessors() {
        let accept = Decision::Accept {
            service_name: ClientServiceName::Value("HTTP/a".into()),
            reason: Reason::LocalClient,
        };
        assert!(accept.is_accept());
        assert_eq!(accept.status(), None);
        assert_eq!(accept.reason(), &Reason::LocalClient);
        assert_eq!(accept.service_name().as_option(), Some("HTTP/a"));
        for status in [401, 500] {
            let reject = Decision::Reject {
                status,
                reason: Reason::BindingAbsent,
                service_name: ClientServiceName::Empty,
            };
            assert!(!reject.is_accept());
            assert_eq!(reject.status(), Some(status));
            assert_eq!(reject.reason(), &Reason::BindingAbsent);
            assert_eq!(reject.service_name(), &ClientServiceName::Empty);
        }
    }
}
