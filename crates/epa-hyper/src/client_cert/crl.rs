//! CRL files: reading them (PEM or DER), what each list says about itself (issuer, CRL
//! number), the rule that a reload never goes back in time, and the WebPKI verifiers built over
//! one set of lists ([`Snapshot`]).
//!
//! Rules (docs/decisions.md, "Client certificates"):
//! * A CRL past its `nextUpdate` is not authoritative: the verifier enforces expiry, so the
//!   status is "revocation unknown" (403.16 under `check` and `end-entity-only`, as IIS answers
//!   with an expired CRL). Under `allow-unknown` the chain is judged again against the same lists
//!   without the expiry rule: a certificate an expired list names is still revoked (revocation is
//!   final), one it does not name is allowed (unknown status is what `allow-unknown` allows).
//! * A reload whose CRL number (RFC 5280 §5.2.3) for an issuer is lower than the one in force
//!   is refused: the lists in force stay, the refusal is logged at warn and counted in
//!   `epa_crl_reload_rejected_total{reason="older-crl-number"}`.

use super::error::ClientCertError;
use super::files::{Stamp, read_crl_file, stamp};
use epa_core::client_cert::RevocationMode;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls::{CertificateError, RootCertStore};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use x509_cert::certificate::Rfc5280;
use x509_cert::crl::CertificateList;
use x509_cert::der::oid::AssociatedOid as _;
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::CrlNumber;
use x509_cert::name::Name;

/// Counter name (see [`crate::telemetry::metrics`]).
use crate::telemetry::metrics::CRL_RELOAD_REJECTED_TOTAL as CRL_RELOAD_REJECTED;

/// Where the lists come from and how they are used: fixed for a verifier's life.
pub(super) struct CrlSource {
    pub(super) roots: Arc<RootCertStore>,
    pub(super) provider: Arc<CryptoProvider>,
    pub(super) revocation: RevocationMode,
    pub(super) files: Vec<PathBuf>,
}

/// The highest CRL number seen for one issuer, and the file that carried it.
#[derive(Debug, Clone)]
pub(super) struct Numbered {
    /// Unsigned big-endian, no leading zero bytes.
    number: Vec<u8>,
    path: PathBuf,
}

/// The lists read from the files at one moment.
pub(super) struct Loaded {
    lists: Vec<CertificateRevocationListDer<'static>>,
    /// Issuer (DER of the Name) → highest CRL number among its lists.
    numbers: BTreeMap<Vec<u8>, Numbered>,
    /// The files' stamps, taken before reading them.
    pub(super) stamps: Vec<Stamp>,
}

/// Reads the CRL files and checks each on its own, so that an error names its file.
pub(super) fn load(source: &CrlSource) -> Result<Loaded, ClientCertError> {
    let mut lists = Vec::new();
    let mut numbers: BTreeMap<Vec<u8>, Numbered> = BTreeMap::new();
    let mut stamps = Vec::with_capacity(source.files.len());
    for path in &source.files {
        // Stamped before reading: a change in between is seen at the next check.
        stamps.push(stamp(path));
        let found = read_crl_file(path)?;
        webpki_verifier(source, found.clone(), true).map_err(|source| ClientCertError::BadCrl {
            path: path.clone(),
            source,
        })?;
        for list in &found {
            let Some((issuer, Some(number))) = crl_identity(list.as_ref()) else {
                continue;
            };
            let higher = numbers
                .get(&issuer)
                .is_none_or(|n| compare_numbers(&number, &n.number) == Ordering::Greater);
            if higher {
                let path = path.clone();
                numbers.insert(issuer, Numbered { number, path });
            }
        }
        lists.extend(found);
    }
    Ok(Loaded {
        lists,
        numbers,
        stamps,
    })
}

/// A list's issuer (DER) and CRL number (unsigned big-endian, minimal), when it can be read.
fn crl_identity(der: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let crl = CertificateList::<Rfc5280>::from_der(der).ok()?;
    let tbs = &crl.tbs_cert_list;
    let issuer = tbs.issuer.to_der().ok()?;
    let number = tbs
        .crl_extensions
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find(|e| e.extn_id == CrlNumber::OID)
        .and_then(|e| CrlNumber::from_der(e.extn_value.as_bytes()).ok())
        .map(|n| minimal(n.0.as_bytes()).to_vec());
    Some((issuer, number))
}

fn minimal(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Orders two minimal unsigned big-endian integers.
fn compare_numbers(a: &[u8], b: &[u8]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "0".into();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn issuer_name(der: &[u8]) -> String {
    Name::from_der(der).map_or_else(|_| "<unreadable>".into(), |n| n.to_string())
}

/// The WebPKI verifier over these lists; `enforce_expiry` makes a list past its `nextUpdate`
/// answer `ExpiredRevocationList` instead of being trusted.
fn webpki_verifier(
    source: &CrlSource,
    crls: Vec<CertificateRevocationListDer<'static>>,
    enforce_expiry: bool,
) -> Result<Arc<dyn ClientCertVerifier>, VerifierBuilderError> {
    let mut b =
        WebPkiClientVerifier::builder_with_provider(source.roots.clone(), source.provider.clone());
    if source.revocation != RevocationMode::Off {
        b = b.with_crls(crls);
        if enforce_expiry {
            b = b.enforce_revocation_expiration();
        }
    }
    b = match source.revocation {
        RevocationMode::Check | RevocationMode::Off => b,
        RevocationMode::AllowUnknown => b.allow_unknown_revocation_status(),
        RevocationMode::EndEntityOnly => b.only_check_end_entity_revocation(),
    };
    b.build()
}

/// One set of lists and the verifiers built over it, with the generation it is: a verdict is
/// only ever reused under the generation of the snapshot that made it.
pub(super) struct Snapshot {
    /// Counts the reloads that were taken (0: the lists read at start).
    pub(super) generation: u64,
    /// Enforces `nextUpdate`.
    webpki: Arc<dyn ClientCertVerifier>,
    /// Under `allow-unknown`: the same lists without the expiry rule (see the module rules).
    lenient: Option<Arc<dyn ClientCertVerifier>>,
    numbers: BTreeMap<Vec<u8>, Numbered>,
    /// Whether an expired list was already reported for this snapshot.
    warned_expired: AtomicBool,
}

impl Snapshot {
    /// The verifiers over `loaded`.
    pub(super) fn build(
        source: &CrlSource,
        loaded: Loaded,
        generation: u64,
    ) -> Result<Self, ClientCertError> {
        let lenient =
            if source.revocation == RevocationMode::AllowUnknown && !loaded.lists.is_empty() {
                Some(
                    webpki_verifier(source, loaded.lists.clone(), false)
                        .map_err(ClientCertError::Verifier)?,
                )
            } else {
                None
            };
        let webpki =
            webpki_verifier(source, loaded.lists, true).map_err(ClientCertError::Verifier)?;
        Ok(Self {
            generation,
            webpki,
            lenient,
            numbers: loaded.numbers,
            warned_expired: AtomicBool::new(false),
        })
    }

    /// Refuses `next` when it carries, for an issuer, a lower CRL number than this snapshot
    /// (counted and logged by the caller). An issuer that no longer has a numbered list is not
    /// a step back in time: its certificates become "revocation unknown".
    pub(super) fn check_newer(&self, next: &Loaded) -> Result<(), ClientCertError> {
        for (issuer, offered) in &next.numbers {
            if let Some(in_force) = self.numbers.get(issuer)
                && compare_numbers(&offered.number, &in_force.number) == Ordering::Less
            {
                return Err(ClientCertError::OlderCrlNumber {
                    path: offered.path.clone(),
                    issuer: issuer_name(issuer),
                    in_force: hex(&in_force.number),
                    offered: hex(&offered.number),
                });
            }
        }
        Ok(())
    }

    /// Verifies a chain at `now` with this snapshot's lists.
    pub(super) fn verify(
        &self,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let first = self.webpki.verify_client_cert(leaf, intermediates, now);
        let Err(rustls::Error::InvalidCertificate(
            CertificateError::ExpiredRevocationList
            | CertificateError::ExpiredRevocationListContext { .. },
        )) = first
        else {
            return first.map(|_| ());
        };
        if !self.warned_expired.swap(true, AtomicOrdering::Relaxed) {
            tracing::warn!(
                target: "epa",
                "a CRL is past its nextUpdate: certificates it covers have unknown revocation status until a fresh CRL is loaded"
            );
        }
        match &self.lenient {
            Some(lenient) => lenient
                .verify_client_cert(leaf, intermediates, now)
                .map(|_| ()),
            None => first.map(|_| ()),
        }
    }
}

/// Counts and logs a refused reload.
pub(super) fn reload_rejected(e: &ClientCertError) {
    metrics::counter!(CRL_RELOAD_REJECTED, "reason" => "older-crl-number").increment(1);
    tracing::warn!(target: "epa", reason = "older-crl-number", "CRL reload refused: {e}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crl_numbers_compare_as_unsigned_integers() {
        assert_eq!(compare_numbers(&[1], &[2]), Ordering::Less);
        assert_eq!(compare_numbers(&[1, 0], &[0xff]), Ordering::Greater);
        assert_eq!(compare_numbers(minimal(&[0, 0, 5]), &[5]), Ordering::Equal);
        assert_eq!(hex(&[]), "0");
        assert_eq!(hex(&[1, 0xab]), "01ab");
    }
}
