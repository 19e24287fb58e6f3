//! Why a client-certificate configuration cannot be used ([`ClientCertError`]), with the
//! typed causes (rustls, PEM, DER) as sources.

use epa_core::client_cert::{CaHintError, ClientCertificateMode, RevocationMode};
use epa_core::internal::der::DerError;
use std::path::PathBuf;
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
    #[error("{what}: {source}")]
    Pem {
        /// The file or input.
        what: String,
        /// What is wrong.
        source: PemProblem,
    },
    /// A CA certificate cannot be a trust anchor.
    #[error("CA certificate #{index} cannot be a trust anchor: {source}")]
    BadCa {
        /// Its position in the bundle (from 1).
        index: usize,
        /// What webpki said.
        source: rustls::Error,
    },
    /// A CRL is malformed.
    #[error("{path}: not a usable CRL: {source}")]
    BadCrl {
        /// The file.
        path: PathBuf,
        /// What webpki said.
        source: rustls::server::VerifierBuilderError,
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

/// What is wrong with a PEM input.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PemProblem {
    /// The armour is malformed.
    #[error(transparent)]
    Malformed(#[from] rustls::pki_types::pem::Error),
    /// No block of the kind looked for (`CERTIFICATE`, `X509 CRL`).
    #[error("no {0} block")]
    NoBlock(&'static str),
    /// A block that is not a readable certificate.
    #[error(transparent)]
    NotACertificate(#[from] DerError),
}
