//! The `[client_certificates]` table: which client certificates the listener asks for in the
//! first handshake, which CAs it trusts and names, revocation, and the paths that need one.

use epa_core::client_cert::ClientCertificateMode;
use epa_core::path::{NormalizedPath, PathError};
use serde::{Deserialize, Serialize};
use thiserror::Error;

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
    pub mode: Option<ClientCertificateMode>,
    /// PEM bundles of trusted CAs.
    #[serde(default)]
    pub ca_files: Vec<std::path::PathBuf>,
    /// CRL files (PEM or DER).
    #[serde(default)]
    pub crl_files: Vec<std::path::PathBuf>,
    /// Revocation mode (default `check`).
    #[serde(default)]
    pub revocation: epa_core::client_cert::RevocationMode,
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
    pub fn effective_mode(&self) -> ClientCertificateMode {
        self.mode.unwrap_or(if self.ca_files.is_empty() {
            ClientCertificateMode::Ignore
        } else {
            ClientCertificateMode::Request
        })
    }

    /// The `required_paths`, normalised ([`epa_core::path`]); an entry that cannot be
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

    /// Whether a request path needs a certificate: both sides normalised ([`epa_core::path`]:
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
