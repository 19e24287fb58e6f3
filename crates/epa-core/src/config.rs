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
use crate::path::{NormalizedPath, PathError};
use crate::policy::{
    ExtendedProtectionPolicy, IisExtendedProtection, IisFlags, PolicyEnforcement, PolicyError,
    ProtectionScenario, TokenChecking,
};
use crate::prefix::{PrefixError, StaticResolver, default_service_names};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use thiserror::Error;

pub mod backend;
pub mod diagnostics;
pub mod identity_headers;
pub mod listener;
pub mod lockout;
pub mod metrics;
pub mod proxy;
pub mod proxy_rules;
pub mod request_filtering;
pub use backend::{BackendKind, BackendTable};
pub use listener::{Deadlines, ListenerError, ListenerTable};
pub use metrics::MetricsTable;
pub use proxy::{IdentityHeadersTable, RouteTable, UpstreamTable};

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
    /// Whether an authenticated connection stays authenticated without an `Authorization`
    /// header. Default: yes under `transport-selected` (IIS's connection-based
    /// authentication), no under `trusted-proxy` (a proxy pools many clients' requests on one
    /// connection, so a persisted identity would serve client A's identity to client B).
    pub persist_identity: Option<bool>,
}

impl PolicyTable {
    /// The audit target (`target_enforcement` / `target_token_checking`): the same table with
    /// the target's enforcement, built and validated the same way. `None` without audit.
    pub fn build_target(&self) -> Result<Option<ServerPolicy>, ConfigError> {
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
        if pe == PolicyEnforcement::Never && self.target_enforcement.is_some() {
            return Ok(ExtendedProtectionPolicy::never());
        }
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

/// A server configuration file: the listener, its client-certificate settings and its
/// Extended Protection policy. `epa lint` reads it; the example server runs it (`--config`).
///
/// ```toml
/// [listener]
/// transport = "https"          # https | http
/// negotiate = true             # run Negotiate/NTLM with Extended Protection
/// trusted_proxies = []         # peers allowed under trusted-proxy
/// proxy_certificate_file = "front.pem"  # trusted-proxy: the proxy's certificate, pinned
/// address = "0.0.0.0:443"
/// certificate_file = "server.pem"  # with key_file; re-read on SIGHUP or change
/// key_file = "server.key"
/// tls_handshake_timeout = 10   # seconds; request_head_timeout = 30, keep_alive_timeout = 120,
///                              # exchange_timeout = 60, shutdown_timeout = 30, send_timeout = 60,
///                              # drain_timeout = 10
/// max_drain_bytes = 4194304    # an unread body drained after a 401 (keep-alive), at most
/// max_connections = 10000      # max_connections_per_address (none by default)
/// tcp_nodelay = true           # max_header_bytes = 131072, max_headers = 100
///
/// [client_certificates]
/// mode = "request"             # ignore | request | require (default: request when ca_files is set)
/// ca_files = ["clients-ca.pem"]
/// crl_files = ["clients-ca.crl"]
/// revocation = "check"         # check | allow-unknown | end-entity-only | off
/// hints = "all"                # all | none | subset (then hint_ca_files)
/// required_paths = ["/cert"]   # routes that need a certificate (path prefixes)
/// audit_only = false           # true: log and count would-be refusals, refuse nothing
///
/// [policy]
/// enforcement = "always"
/// ```
/// Relative file names are relative to the configuration file. Unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The listener.
    #[serde(default)]
    pub listener: ListenerTable,
    /// Client certificates.
    #[serde(default)]
    pub client_certificates: ClientCertificateTable,
    /// Extended Protection (needed when the listener runs Negotiate).
    pub policy: Option<PolicyTable>,
    /// `[backend]`: who verifies credentials (`epa serve`; default: embedded with `--users`).
    pub backend: Option<BackendTable>,
    /// `[upstream]`: `epa serve` proxies to it when present.
    pub upstream: Option<UpstreamTable>,
    /// `[identity_headers]`: the names of the headers the upstream reads.
    #[serde(default)]
    pub identity_headers: IdentityHeadersTable,
    /// `[[route]]`: per-path policies (longest normalised prefix wins).
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteTable>,
    /// `[metrics]`: the Prometheus page (`epa serve`; absent: not served).
    pub metrics: Option<MetricsTable>,
    /// `[diagnostics]`: the client diagnostics page of `epa serve` (off by default).
    #[serde(default)]
    pub diagnostics: diagnostics::DiagnosticsTable,
    /// `[request_filtering]`: path spellings refused before routing (IIS request filtering).
    #[serde(default)]
    pub request_filtering: request_filtering::RequestFilteringTable,
}

/// Which CA names the `CertificateRequest` carries, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HintChoice {
    /// Every trusted CA.
    #[default]
    All,
    /// None.
    None,
    /// The CAs of `hint_ca_files`.
    Subset,
}

/// The `[client_certificates]` table.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertificateTable {
    /// The mode; default `request` when `ca_files` is set, else `ignore`.
    pub mode: Option<crate::client_cert::ClientCertificateMode>,
    /// PEM bundles of trusted CAs.
    #[serde(default)]
    pub ca_files: Vec<std::path::PathBuf>,
    /// CRL files (PEM or DER).
    #[serde(default)]
    pub crl_files: Vec<std::path::PathBuf>,
    /// Revocation mode (default `check`).
    #[serde(default)]
    pub revocation: crate::client_cert::RevocationMode,
    /// Which CA names to send.
    #[serde(default)]
    pub hints: HintChoice,
    /// With `hints = "subset"`: PEM files of the CAs to name.
    #[serde(default)]
    pub hint_ca_files: Vec<std::path::PathBuf>,
    /// Path prefixes that need a client certificate (403.7 without one).
    #[serde(default)]
    pub required_paths: Vec<String>,
    /// Audit: observe the requirement of `required_paths` (log and count would-be refusals)
    /// without enforcing it.
    #[serde(default)]
    pub audit_only: bool,
}

impl ClientCertificateTable {
    /// The effective mode.
    pub fn effective_mode(&self) -> crate::client_cert::ClientCertificateMode {
        self.mode.unwrap_or(if self.ca_files.is_empty() {
            crate::client_cert::ClientCertificateMode::Ignore
        } else {
            crate::client_cert::ClientCertificateMode::Request
        })
    }

    /// The `required_paths`, normalised ([`crate::path`]); an entry that cannot be
    /// normalised is an error (a server refuses to start on it).
    pub fn required_prefixes(&self) -> Result<Vec<NormalizedPath>, RequiredPathError> {
        self.required_paths
            .iter()
            .map(|p| {
                NormalizedPath::parse(p).map_err(|source| RequiredPathError {
                    path: p.clone(),
                    source,
                })
            })
            .collect()
    }

    /// Whether a request path needs a certificate: both sides normalised ([`crate::path`]:
    /// RFC 3986 §6.2.2, dot segments, repeated slashes, `;` parameters), then compared
    /// case-insensitively on whole segments, as IIS matches a URL to a configured path. Fails
    /// closed: a request path or a configured entry that cannot be normalised counts as
    /// required (the route layer answers 400 to such a request path).
    pub fn requires(&self, path: &str) -> bool {
        let Ok(path) = NormalizedPath::parse(path) else {
            return !self.required_paths.is_empty();
        };
        self.required_paths
            .iter()
            .any(|p| match NormalizedPath::parse(p) {
                Ok(p) => path.starts_with_segments(&p),
                Err(_) => true,
            })
    }
}

/// A `required_paths` entry that cannot be normalised.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("required_paths entry {path:?}: {source}")]
pub struct RequiredPathError {
    /// The entry as configured.
    pub path: String,
    /// Why it cannot be normalised.
    #[source]
    pub source: PathError,
}

impl ServerConfig {
    /// Makes relative file names relative to `base` (the configuration file's directory).
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        if let Some(b) = self.backend.as_mut() {
            b.resolve_paths(base);
        }
        if let Some(ca) = self.upstream.as_mut().and_then(|u| u.ca_file.as_mut())
            && ca.is_relative()
        {
            *ca = base.join(&*ca);
        }
        let c = &mut self.client_certificates;
        let l = &mut self.listener;
        for p in c
            .ca_files
            .iter_mut()
            .chain(c.crl_files.iter_mut())
            .chain(c.hint_ca_files.iter_mut())
            .chain(l.certificate_file.iter_mut())
            .chain(l.key_file.iter_mut())
            .chain(l.proxy_certificate_file.iter_mut())
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

#[cfg(test)]
mod server_config_tests {
    use super::*;
    use crate::client_cert::ClientCertificateMode;

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

    #[test]
    fn defaults_and_paths() {
        let c = toml::from_str::<ServerConfig>("").unwrap();
        assert!(c.listener.negotiate);
        assert_eq!(c.listener.transport, crate::decide::Transport::Https);
        assert_eq!(
            c.client_certificates.effective_mode(),
            ClientCertificateMode::Ignore
        );
        let mut c = toml::from_str::<ServerConfig>(
            "[client_certificates]\nca_files = [\"ca.pem\", \"/etc/ca.pem\"]\nrequired_paths = [\"/cert\", \"/admin/\"]\n",
        )
        .unwrap();
        assert_eq!(
            c.client_certificates.effective_mode(),
            ClientCertificateMode::Request
        );
        c.resolve_paths(std::path::Path::new("/srv/epa"));
        assert_eq!(
            c.client_certificates.ca_files,
            vec![
                std::path::PathBuf::from("/srv/epa/ca.pem"),
                "/etc/ca.pem".into()
            ]
        );
        let t = &c.client_certificates;
        assert!(t.requires("/cert") && t.requires("/cert/x") && t.requires("/admin"));
        assert!(!t.requires("/certificate") && !t.requires("/") && !t.requires("/administrator"));
        // #11 item 9: every spelling of a required path is required.
        for spelling in [
            "//cert",
            "/%63ert",
            "/./cert",
            "/x/../cert",
            "/Cert",
            "/cert;a",
            "/ADMIN/x",
        ] {
            assert!(t.requires(spelling), "{spelling}");
        }
        // A path that cannot be normalised fails closed (the route layer answers 400).
        assert!(t.requires("/%zz") && t.requires("/../cert"));
        assert_eq!(t.required_prefixes().unwrap().len(), 2);
        let mut bad = t.clone();
        bad.required_paths.push("/a%2Fb".into());
        assert_eq!(
            bad.required_prefixes().unwrap_err().source,
            PathError::EncodedSlash
        );
        assert!(toml::from_str::<ServerConfig>("[listener]\nnegotiat = true\n").is_err());
        assert_eq!(c.listener.deadlines(), Ok(Deadlines::default()));

        assert!(
            toml::from_str::<ServerConfig>("[client_certificates]\nmode = \"sometimes\"\n")
                .is_err()
        );
    }

    #[test]
    fn listener_keys_are_validated() {
        let l = |text: &str| toml::from_str::<ServerConfig>(&format!("[listener]\n{text}\n"));
        let c = l("address = \"0.0.0.0:443\"\ncertificate_file = \"s.pem\"\nkey_file = \"s.key\"\ntls_handshake_timeout = 0.5\nmax_connections_per_address = 8\ntcp_nodelay = false").unwrap();
        assert_eq!(c.listener.validate(), Ok(()));
        let d = c.listener.deadlines().unwrap();
        assert_eq!(d.tls_handshake, std::time::Duration::from_millis(500));
        assert_eq!(d.keep_alive, std::time::Duration::from_secs(120));
        let mut c = c;
        c.resolve_paths(std::path::Path::new("/srv"));
        assert_eq!(c.listener.key_file, Some("/srv/s.key".into()));
        for (text, want) in [
            (
                "keep_alive_timeout = 0",
                ListenerError::Deadline {
                    key: "keep_alive_timeout",
                    value: 0.0,
                },
            ),
            (
                "exchange_timeout = -1",
                ListenerError::Deadline {
                    key: "exchange_timeout",
                    value: -1.0,
                },
            ),
            (
                "request_head_timeout = 1e9",
                ListenerError::Deadline {
                    key: "request_head_timeout",
                    value: 1e9,
                },
            ),
            (
                "max_connections = 0",
                ListenerError::ZeroLimit {
                    key: "max_connections",
                },
            ),
            (
                "max_connections_per_address = 0",
                ListenerError::ZeroLimit {
                    key: "max_connections_per_address",
                },
            ),
            ("max_header_bytes = 100", ListenerError::HeaderBytes(100)),
            (
                "certificate_file = \"a.pem\"",
                ListenerError::CertificateWithoutKey,
            ),
        ] {
            assert_eq!(l(text).unwrap().listener.validate(), Err(want), "{text}");
        }
        assert!(l("tls_handshake_timeout = \"10s\"").is_err());
        assert!(l("max_connections = -1").is_err());
    }
}
