//! What a backend reports about one authentication, and which implementation to reproduce:
//! the inputs of [`decide`](super::decide).

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

#[cfg(test)]
mod tests {
    use super::*;

    /// `ServiceName` on the wire (the CLI's JSON, scenario files): `null`, `""`, or the name.
    #[test]
    fn client_service_name_round_trips_through_json() {
        for (name, json) in [
            (ClientServiceName::Missing, "null"),
            (ClientServiceName::Empty, "\"\""),
            (
                ClientServiceName::Value("HTTP/a.example".into()),
                "\"HTTP/a.example\"",
            ),
        ] {
            assert_eq!(serde_json::to_string(&name).unwrap(), json);
            assert_eq!(
                serde_json::from_str::<ClientServiceName>(json).unwrap(),
                name
            );
            assert_eq!(ClientServiceName::from_option(name.as_option()), name);
        }
    }
}
