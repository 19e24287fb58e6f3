//! The files client certificates are configured from: CA bundles and CRL files (PEM or DER),
//! and their stamps for change detection.

use super::error::{ClientCertError, PemProblem};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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
            source: PemProblem::Malformed(e),
        })?;
    if certs.is_empty() {
        return Err(ClientCertError::Pem {
            what: path.display().to_string(),
            source: PemProblem::NoBlock("CERTIFICATE"),
        });
    }
    Ok(certs)
}

/// One CRL file: PEM (one or more `X509 CRL` blocks) or DER.
pub(super) fn read_crl_file(
    path: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, ClientCertError> {
    let bytes = std::fs::read(path).map_err(|source| ClientCertError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !bytes.starts_with(b"-----BEGIN") {
        return Ok(vec![CertificateRevocationListDer::from(bytes)]);
    }
    let found = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientCertError::Pem {
            what: path.display().to_string(),
            source: PemProblem::Malformed(e),
        })?;
    if found.is_empty() {
        return Err(ClientCertError::Pem {
            what: path.display().to_string(),
            source: PemProblem::NoBlock("X509 CRL"),
        });
    }
    Ok(found)
}

/// A file's identity for change detection: modification time and length.
pub(crate) type Stamp = Option<(SystemTime, u64)>;

/// The stamps of these files, now.
pub(crate) fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    files.iter().map(|p| stamp(p)).collect()
}

pub(crate) fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}
