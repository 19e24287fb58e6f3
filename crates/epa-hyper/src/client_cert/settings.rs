//! What a listener is configured to do about client certificates:
//! [`ClientCertificateSettings`] (built into a verifier in `verifier.rs`).

use epa_core::client_cert::{CaHints, ClientCertificateMode, RevocationMode};
use rustls::pki_types::CertificateDer;
use std::path::PathBuf;
use std::time::Duration;

/// What a listener does about client certificates. Build with [`ClientCertificateSettings::build`].
#[derive(Debug, Clone)]
pub struct ClientCertificateSettings {
    /// When to ask (always in the first handshake).
    pub mode: ClientCertificateMode,
    /// Trusted CAs (DER).
    pub roots: Vec<CertificateDer<'static>>,
    /// CRL files (PEM or DER), re-read when they change.
    pub crl_files: Vec<PathBuf>,
    /// How revocation is checked.
    pub revocation: RevocationMode,
    /// Which CA names the `CertificateRequest` carries.
    pub hints: CaHints,
    /// How often, at most, the CRL files are checked for changes (default 1 s). The check
    /// happens on the next handshake after the interval; no background task is needed.
    pub reload_interval: Duration,
}

impl ClientCertificateSettings {
    /// Settings with `mode` and these CAs; revocation `check`, all hints, 1 s reload interval.
    pub fn new(mode: ClientCertificateMode, roots: Vec<CertificateDer<'static>>) -> Self {
        Self {
            mode,
            roots,
            crl_files: Vec::new(),
            revocation: RevocationMode::Check,
            hints: CaHints::All,
            reload_interval: Duration::from_secs(1),
        }
    }
}
