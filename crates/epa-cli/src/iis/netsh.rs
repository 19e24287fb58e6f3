//! The text `netsh http show sslcert` prints: one block per binding, `Name : Value` lines with
//! the field names exactly as Windows prints them.
//!
//! ```text
//! SSL Certificate bindings:
//! -------------------------
//!
//!     IP:port                      : 0.0.0.0:443
//!     Certificate Hash             : 3a1e...
//!     Application ID               : {4dc3e181-e14b-4a21-b022-59fc669b0914}
//!     Certificate Store Name       : My
//!     Verify Client Certificate Revocation : Enabled
//!     Negotiate Client Certificate : Disabled
//!     Disable TLS1.3               : Not Set
//! ```
//! A binding starts with `IP:port`, `Hostname:port` or `Central Certificate Store`. The name is
//! split from the value at the first ` : ` (the name `IP:port` itself has a colon). Fields this
//! parser does not know are kept, so newer Windows output still parses.

use thiserror::Error;

/// netsh output that cannot be read, with the line (from 1).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("netsh output, line {line}: {problem}")]
pub struct NetshError {
    /// The line.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

/// How a binding is addressed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BindingKey {
    /// `IP:port`, e.g. `0.0.0.0:443` or `[::]:443`.
    IpPort(String),
    /// `Hostname:port` (SNI), e.g. `www.contoso.com:443`.
    HostnamePort(String),
    /// `Central Certificate Store`: the port.
    CentralStore(String),
}

impl BindingKey {
    /// The port.
    pub fn port(&self) -> &str {
        match self {
            Self::IpPort(s) | Self::HostnamePort(s) => s.rsplit(':').next().unwrap_or(s),
            Self::CentralStore(p) => p,
        }
    }

    /// The `netsh http update sslcert` argument naming this binding.
    pub fn netsh_argument(&self) -> String {
        match self {
            Self::IpPort(s) => format!("ipport={s}"),
            Self::HostnamePort(s) => format!("hostnameport={s}"),
            Self::CentralStore(p) => format!("ccs={p}"),
        }
    }
}

impl std::fmt::Display for BindingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::IpPort(s) => write!(f, "IP:port {s}"),
            Self::HostnamePort(s) => write!(f, "Hostname:port {s}"),
            Self::CentralStore(p) => write!(f, "Central Certificate Store {p}"),
        }
    }
}

/// One binding: its key, its fields in order, and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslBinding {
    /// How it is addressed.
    pub key: BindingKey,
    /// `(name, value)` as printed.
    pub fields: Vec<(String, String)>,
    /// Its first line (from 1).
    pub line: usize,
}

/// The settings the checks read, by their printed names.
pub mod field {
    /// `Certificate Hash`.
    pub const CERTIFICATE_HASH: &str = "Certificate Hash";
    /// `Application ID`.
    pub const APPLICATION_ID: &str = "Application ID";
    /// `Verify Client Certificate Revocation`.
    pub const VERIFY_REVOCATION: &str = "Verify Client Certificate Revocation";
    /// `Verify Revocation Using Cached Client Certificate Only`.
    pub const CACHED_REVOCATION_ONLY: &str =
        "Verify Revocation Using Cached Client Certificate Only";
    /// `Revocation Freshness Time`.
    pub const REVOCATION_FRESHNESS: &str = "Revocation Freshness Time";
    /// `URL Retrieval Timeout`.
    pub const URL_RETRIEVAL_TIMEOUT: &str = "URL Retrieval Timeout";
    /// `Ctl Identifier`.
    pub const CTL_IDENTIFIER: &str = "Ctl Identifier";
    /// `Ctl Store Name`.
    pub const CTL_STORE_NAME: &str = "Ctl Store Name";
    /// `DS Mapper Usage`.
    pub const DS_MAPPER_USAGE: &str = "DS Mapper Usage";
    /// `Negotiate Client Certificate`.
    pub const NEGOTIATE_CLIENT_CERT: &str = "Negotiate Client Certificate";
    /// `Disable TLS1.3`.
    pub const DISABLE_TLS13: &str = "Disable TLS1.3";
    /// `Disable HTTP2`.
    pub const DISABLE_HTTP2: &str = "Disable HTTP2";
    /// `Usage Check`.
    pub const USAGE_CHECK: &str = "Usage Check";
}

/// Fields whose value is a switch; any other value there is an error.
const SWITCHES: [&str; 6] = [
    field::VERIFY_REVOCATION,
    field::CACHED_REVOCATION_ONLY,
    field::DS_MAPPER_USAGE,
    field::NEGOTIATE_CLIENT_CERT,
    field::DISABLE_TLS13,
    field::DISABLE_HTTP2,
];

/// A switch's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// `Enabled` or `Set`.
    On,
    /// `Disabled`.
    Off,
    /// `Not Set` (the default applies), or the field is absent.
    NotSet,
}

fn switch(value: &str) -> Option<Switch> {
    match value.to_ascii_lowercase().as_str() {
        "enabled" | "set" => Some(Switch::On),
        "disabled" => Some(Switch::Off),
        "not set" => Some(Switch::NotSet),
        _ => None,
    }
}

impl SslBinding {
    /// A field's value as printed, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A switch field (absent = `NotSet`).
    pub fn switch(&self, name: &str) -> Switch {
        self.get(name).and_then(switch).unwrap_or(Switch::NotSet)
    }

    /// A value that says "none" (`(null)`, empty) as `None`.
    pub fn named(&self, name: &str) -> Option<&str> {
        self.get(name)
            .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("(null)"))
    }
}

/// Parses the whole output.
pub fn parse(text: &str) -> Result<Vec<SslBinding>, NetshError> {
    let mut out: Vec<SslBinding> = Vec::new();
    let mut current: Option<SslBinding> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            out.extend(current.take());
            continue;
        }
        // The header and its underline.
        if trimmed.eq_ignore_ascii_case("SSL Certificate bindings:")
            || trimmed.chars().all(|c| c == '-')
        {
            continue;
        }
        let Some((name, value)) = trimmed.split_once(" : ").or_else(|| {
            // `Name :` with an empty value.
            trimmed.strip_suffix(" :").map(|n| (n, ""))
        }) else {
            return Err(NetshError {
                line,
                problem: format!("expected 'Name : Value', found {trimmed:?}"),
            });
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(NetshError {
                line,
                problem: "a field without a name".into(),
            });
        }
        let key = match name.to_ascii_lowercase().as_str() {
            "ip:port" => Some(BindingKey::IpPort(value.to_owned())),
            "hostname:port" => Some(BindingKey::HostnamePort(value.to_owned())),
            "central certificate store" => Some(BindingKey::CentralStore(value.to_owned())),
            _ => None,
        };
        if let Some(key) = key {
            if value.is_empty() {
                return Err(NetshError {
                    line,
                    problem: format!("{name} without a value"),
                });
            }
            out.extend(current.take());
            current = Some(SslBinding {
                key,
                fields: Vec::new(),
                line,
            });
            continue;
        }
        let Some(binding) = current.as_mut() else {
            return Err(NetshError {
                line,
                problem: format!(
                    "field {name:?} before any binding (IP:port, Hostname:port or Central Certificate Store)"
                ),
            });
        };
        if SWITCHES.iter().any(|s| s.eq_ignore_ascii_case(name)) && switch(value).is_none() {
            return Err(NetshError {
                line,
                problem: format!("{name} is {value:?}; expected Enabled, Disabled, Set or Not Set"),
            });
        }
        binding.fields.push((name.to_owned(), value.to_owned()));
    }
    out.extend(current);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "
SSL Certificate bindings:
-------------------------

    IP:port                      : 0.0.0.0:443
    Certificate Hash             : 3a1e0f
    Application ID               : {4dc3e181-e14b-4a21-b022-59fc669b0914}
    Verify Client Certificate Revocation : Enabled
    Ctl Identifier               : (null)
    Negotiate Client Certificate : Disabled
    Disable TLS1.3               : Not Set

    Hostname:port                : www.contoso.com:443
    Negotiate Client Certificate : Enabled
    Some Future Field            : 7

    Central Certificate Store    : 8443
";

    #[test]
    fn reads_every_form() {
        let b = parse(TWO).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].key, BindingKey::IpPort("0.0.0.0:443".into()));
        assert_eq!(b[0].line, 5);
        assert_eq!(b[0].get("certificate hash"), Some("3a1e0f"));
        assert_eq!(b[0].switch(field::VERIFY_REVOCATION), Switch::On);
        assert_eq!(b[0].switch(field::NEGOTIATE_CLIENT_CERT), Switch::Off);
        assert_eq!(b[0].switch(field::DISABLE_TLS13), Switch::NotSet);
        assert_eq!(b[0].named(field::CTL_IDENTIFIER), None);
        assert_eq!(
            b[1].key,
            BindingKey::HostnamePort("www.contoso.com:443".into())
        );
        assert_eq!(b[1].get("Some Future Field"), Some("7"));
        assert_eq!(b[1].switch(field::DISABLE_HTTP2), Switch::NotSet);
        assert_eq!(b[2].key, BindingKey::CentralStore("8443".into()));
        assert_eq!(b[2].key.port(), "8443");
        assert_eq!(b[0].key.netsh_argument(), "ipport=0.0.0.0:443");
        assert_eq!(BindingKey::IpPort("[::]:443".into()).port(), "443");
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("\n    IP:port : 0.0.0.0:443\n    what is this\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("line 3"), "{e}");
        let e = parse("    Negotiate Client Certificate : Enabled\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.problem.contains("before any binding"));
        let e = parse("    IP:port : 0.0.0.0:443\n    Disable TLS1.3 : Maybe\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.problem.contains("Maybe"));
        let e = parse("    IP:port : \n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(parse("    IP:port : 0.0.0.0:443\n     : x\n").is_err());
    }
}
