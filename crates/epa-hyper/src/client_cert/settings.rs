//! What a listener is configured to do about client certificates, and why a configuration
//! cannot be used: [`ClientCertificateSettings`] and [`ClientCertError`].

use super::crl::{self, CrlSource};
use super::verifier::ClientCertificateVerifier;
use epa_core::client_cert::{
    CaHintError, CaHintSize, CaHints, ClientCertificateMode, RevocationMode, ca_hint_size,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use rustls::{DistinguishedName, RootCertStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// A client-certificate configuration that cannot be used, naming the offending file or value.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientCertError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A CA bundle holds no certificate, or a PEM block is malformed.
    #[error("{what}: {reason}")]
    Pem {
        /// The file or input.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A CA certificate cannot be a trust anchor.
    #[error("CA certificate #{index} cannot be a trust anchor: {reason}")]
    BadCa {
        /// Its position in the bundle (from 1).
        index: usize,
        /// What webpki said.
        reason: String,
    },
    /// A CRL is malformed.
    #[error("{path}: not a usable CRL: {reason}")]
    BadCrl {
        /// The file.
        path: PathBuf,
        /// What webpki said.
        reason: String,
    },
    /// A reload offered a CRL whose CRL number (RFC 5280 §5.2.3) is lower than the one in
    /// force for the same issuer: an older list replayed over a newer one. The lists in force
    /// are kept.
    #[error(
        "{path}: CRL number {offered} for issuer {issuer} is lower than the {in_force} in force; keeping the current CRLs"
    )]
    OlderCrlNumber {
        /// The file holding the older list.
        path: PathBuf,
        /// The issuer (RFC 4514).
        issuer: String,
        /// The CRL number in force (hex).
        in_force: String,
        /// The CRL number offered (hex).
        offered: String,
    },
    /// `ignore` asks for nothing, so there is nothing to verify.
    #[error(
        "client certificate mode ignore needs no verifier: build the ServerConfig with with_no_client_auth() and use TlsAcceptor::new"
    )]
    NothingToVerify,
    /// `request` or `require` with no CA.
    #[error("client certificates are {mode:?} but no trusted CA is configured")]
    NoCa {
        /// The mode.
        mode: ClientCertificateMode,
    },
    /// A revocation mode that checks CRLs was given none: every certificate would fail
    /// (`check`) or pass unchecked, which is `off` under another name.
    #[error(
        "revocation mode {mode:?} needs at least one CRL file; give one, or say `off` to run without revocation checking"
    )]
    NoCrl {
        /// The mode.
        mode: RevocationMode,
    },
    /// The acceptable-CA list cannot be sent.
    #[error(transparent)]
    CaHints(#[from] CaHintError),
    /// rustls refused the verifier configuration.
    #[error("client certificate verifier: {0}")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
}

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

    /// Validates everything (CAs, CRLs, hint size) and builds the verifier.
    pub fn build(self) -> Result<Arc<ClientCertificateVerifier>, ClientCertError> {
        self.build_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
    }

    /// [`Self::build`] with a chosen crypto provider.
    pub fn build_with_provider(
        self,
        provider: Arc<CryptoProvider>,
    ) -> Result<Arc<ClientCertificateVerifier>, ClientCertError> {
        if self.mode == ClientCertificateMode::Ignore {
            return Err(ClientCertError::NothingToVerify);
        }
        if self.roots.is_empty() {
            return Err(ClientCertError::NoCa { mode: self.mode });
        }
        if self.revocation != RevocationMode::Off
            && self.revocation != RevocationMode::AllowUnknown
            && self.crl_files.is_empty()
        {
            return Err(ClientCertError::NoCrl {
                mode: self.revocation,
            });
        }
        let mut roots = RootCertStore::empty();
        for (i, der) in self.roots.iter().enumerate() {
            roots.add(der.clone()).map_err(|e| ClientCertError::BadCa {
                index: i + 1,
                reason: e.to_string(),
            })?;
        }
        let roots = Arc::new(roots);
        let hints: Vec<DistinguishedName> = match &self.hints {
            CaHints::All => roots.subjects(),
            CaHints::None => Vec::new(),
            CaHints::Subset(names) => names
                .iter()
                .map(|n| DistinguishedName::from(n.clone()))
                .collect(),
        };
        let hint_size = ca_hint_size(hints.iter().map(|h| h.as_ref()))?;
        let source = CrlSource {
            roots,
            provider,
            revocation: self.revocation,
            files: self.crl_files,
        };
        let first = crl::load(&source)?;
        let stamps = first.stamps.clone();
        let snapshot = crl::Snapshot::build(&source, first, 0)?;
        if let CaHintSize::OverSchannelLimit { size } = hint_size {
            tracing::warn!(target: "epa", size, "{}", schannel_warning(size));
        }
        Ok(Arc::new(ClientCertificateVerifier::new(
            self.mode,
            hints,
            hint_size,
            source,
            self.reload_interval,
            (snapshot, stamps),
        )))
    }
}

/// The warning for an acceptable-CA list above what Schannel clients accept.
pub fn schannel_warning(size: usize) -> String {
    format!(
        "the acceptable-CA list is {size} bytes, above the 16,384 at which Windows (Schannel) clients stop sending a client certificate; send a subset of the CAs or no hints"
    )
}

/// Reads a PEM bundle of CA certificates.
pub fn read_ca_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientCertError> {
    let bytes = std::fs::read(path).map_err(|source| ClientCertError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientCertError::Pem {
            what: path.display().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ClientCertError::Pem {
            what: path.display().to_string(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}
