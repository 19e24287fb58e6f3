//! The example's flags on top of the file `epa lint` checks (`--listen`, `--cert`/`--key`,
//! `--http`, the client-certificate flags, and a `[policy]` for a file without one). Flags
//! live in the binary; the library takes the configuration.

use epa_config::{HintChoice, PolicyTable, ServerConfig};
use epa_core::client_cert::RevocationMode;
use epa_core::decide::{Mechanism, Mechanisms, Transport};
use epa_core::policy::PolicyEnforcement;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Settings that override (or, for `[policy]`, stand in for) the configuration file's.
#[derive(Debug, Clone, clap::Args)]
pub struct Overrides {
    /// Address to listen on (`[listener] address`).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Enforcement when the file has no `[policy]`: never | when-supported | always.
    #[arg(long, default_value = "when-supported", value_parser = wire::<PolicyEnforcement>)]
    pub enforcement: PolicyEnforcement,
    /// Audit: also decide under this enforcement; log and count what it would refuse.
    #[arg(long, value_parser = wire::<PolicyEnforcement>)]
    pub target_enforcement: Option<PolicyEnforcement>,
    /// Mechanisms when the file has no `[policy]` (repeatable: kerberos, ntlm; default both).
    #[arg(long = "mechanism", value_parser = listed)]
    pub mechanisms: Vec<Mechanism>,
    /// Audit: also decide as if only these mechanisms were accepted (repeatable).
    #[arg(long = "target-mechanism", value_parser = listed)]
    pub target_mechanisms: Vec<Mechanism>,
    /// An acceptable service name (repeatable).
    #[arg(long = "service-name", value_name = "SPN")]
    pub service_names: Vec<String>,
    /// Server certificate chain and key (PEM).
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// The server certificate's private key (PEM).
    #[arg(long, requires = "cert", hide = true)]
    pub key: Option<PathBuf>,
    /// Plain HTTP (service-name binding only).
    #[arg(long)]
    pub http: bool,
    /// Client certificates: trusted CAs (PEM), CRLs, revocation mode, CA hints (all | none).
    #[arg(long)]
    pub client_ca: Option<PathBuf>,
    /// A CRL file (repeatable).
    #[arg(long = "crl", hide = true)]
    pub crls: Vec<PathBuf>,
    /// The revocation mode's wire name.
    #[arg(long, hide = true, value_parser = wire::<RevocationMode>)]
    pub revocation: Option<RevocationMode>,
    /// The CA hints' wire name.
    #[arg(long, hide = true, value_parser = wire::<HintChoice>)]
    pub ca_hints: Option<HintChoice>,
    /// Observe the client-certificate requirement without enforcing it.
    #[arg(long)]
    pub client_cert_audit: bool,
    /// Client certificates alone, no Negotiate.
    #[arg(long)]
    pub no_negotiate: bool,
}

/// A `--mechanism` value: `kerberos` or `ntlm` (`other` cannot be listed).
fn listed(name: &str) -> Result<Mechanism, String> {
    let m = wire::<Mechanism>(name).map_err(|e| e.to_string())?;
    Mechanisms::from_list(&[m])
        .map(|_| m)
        .map_err(|e| e.to_string())
}

/// A repeated `--mechanism` as a set (none given: the default). Each value was checked by
/// [`listed`], so the list is never empty nor `other`.
fn mechanisms(list: &[Mechanism]) -> Option<Mechanisms> {
    Mechanisms::from_list(list).ok()
}

/// A flag's value by its wire name (the name configuration files use: `when-supported`).
fn wire<T: serde::de::DeserializeOwned>(name: &str) -> Result<T, serde::de::value::Error> {
    use serde::de::value::{Error, StrDeserializer};
    T::deserialize(StrDeserializer::<Error>::new(name))
}

impl Overrides {
    /// Applies the overrides to `config` (whose paths are already resolved). A client CA with
    /// no `required_paths` requires a certificate under `/cert`; without a `[policy]` table one
    /// is made from `enforcement`, `target_enforcement` and the service names, for the prefix
    /// `https://localhost:PORT/` (or `http://`).
    pub fn apply(&self, config: &mut ServerConfig) {
        let l = &mut config.listener;
        l.address = self.listen.unwrap_or(l.address);
        l.negotiate &= !self.no_negotiate;
        if self.http {
            l.transport = Transport::Http;
        }
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            (l.certificate_file, l.key_file) = (Some(cert.clone()), Some(key.clone()));
        }
        let cc = &mut config.client_certificates;
        cc.ca_files.extend(self.client_ca.clone());
        cc.crl_files.extend(self.crls.iter().cloned());
        if let Some(r) = self.revocation {
            cc.revocation = r;
        }
        if let Some(h) = self.ca_hints {
            cc.hints = h;
        }
        if self.client_ca.is_some() && cc.required_paths.is_empty() {
            cc.required_paths = vec!["/cert".into()];
        }
        cc.audit_only |= self.client_cert_audit;
        if config.policy.is_none() {
            let (enforcement, target) = (self.enforcement, self.target_enforcement);
            let names = !self.service_names.is_empty()
                && (enforcement != PolicyEnforcement::Never || target.is_some());
            let scheme = match config.listener.transport {
                Transport::Http => "http",
                Transport::Https => "https",
            };
            config.policy = Some(PolicyTable {
                enforcement: Some(enforcement),
                service_names: names.then(|| self.service_names.clone()),
                prefixes: vec![format!(
                    "{scheme}://localhost:{}/",
                    config.listener.address.port()
                )],
                target_enforcement: target,
                mechanisms: mechanisms(&self.mechanisms),
                target_mechanisms: mechanisms(&self.target_mechanisms),
                ..PolicyTable::default()
            });
        }
    }
}
