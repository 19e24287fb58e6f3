//! The listener's verifier: rustls' [`ClientCertVerifier`] for the handshake, the judgement a
//! route sees ([`PeerCertificate`]), CRL reloads, and the short cache of `Valid` verdicts.

use super::certificate::ClientCertificate;
use super::crl::{self, CrlSource, Snapshot};
use super::error::ClientCertError;
use super::files::Stamp;
use super::settings::ClientCertificateSettings;
use epa_core::client_cert::{
    CaHintSize, CaHints, CertificateStatus, ClientCertificateMode, RevocationMode, ca_hint_size,
};
use rustls::RootCertStore;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName};
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The snapshot in force and the stamps of the files last looked at (which may be newer than
/// the snapshot when a reload was refused: the same files are not refused again and again).
struct Current {
    snapshot: Arc<Snapshot>,
    stamps: Vec<Stamp>,
}

/// The listener's client-certificate verifier: give it to rustls
/// (`ServerConfig::builder().with_client_cert_verifier(verifier.clone())`) and to
/// [`crate::TlsAcceptor::with_client_certificates`], which records each connection's
/// [`PeerCertificate`].
pub struct ClientCertificateVerifier {
    mode: ClientCertificateMode,
    hints: Vec<DistinguishedName>,
    hint_size: CaHintSize,
    algorithms: WebPkiSupportedAlgorithms,
    source: CrlSource,
    reload_interval: Duration,
    current: RwLock<Current>,
    last_check: Mutex<Instant>,
    recent: Mutex<RecentlyValid>,
}

/// Chains found valid in the last second, so that `require` mode — which verifies in the
/// handshake — does not verify the same chain again right after it (with a large CRL each
/// verification re-checks the CRL's signature, i.e. hashes the whole list). Only `Valid`
/// verdicts are kept, each with the generation of the [`Snapshot`] that made it; a lookup only
/// counts entries of the snapshot it would otherwise verify with.
#[derive(Default)]
struct RecentlyValid {
    entries: VecDeque<([u8; 32], u64, Instant)>,
}

/// How long a `Valid` verdict is reused: a certificate that expires meanwhile is accepted for
/// at most this long.
const RECENT_TTL: Duration = Duration::from_secs(1);
const RECENT_CAPACITY: usize = 128;

fn chain_key(leaf: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for c in std::iter::once(leaf).chain(intermediates) {
        ctx.update(&(c.as_ref().len() as u64).to_be_bytes());
        ctx.update(c.as_ref());
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

impl fmt::Debug for ClientCertificateVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificateVerifier")
            .field("mode", &self.mode)
            .field("revocation", &self.source.revocation)
            .field("hint_size", &self.hint_size)
            .field("crl_files", &self.source.files)
            .finish_non_exhaustive()
    }
}

impl ClientCertificateVerifier {
    pub(super) fn new(
        mode: ClientCertificateMode,
        hints: Vec<DistinguishedName>,
        hint_size: CaHintSize,
        source: CrlSource,
        reload_interval: Duration,
        first: (Snapshot, Vec<Stamp>),
    ) -> Self {
        Self {
            algorithms: source.provider.signature_verification_algorithms,
            mode,
            hints,
            hint_size,
            source,
            reload_interval,
            current: RwLock::new(Current {
                snapshot: Arc::new(first.0),
                stamps: first.1,
            }),
            last_check: Mutex::new(Instant::now()),
            recent: Mutex::new(RecentlyValid::default()),
        }
    }

    /// The listener's mode.
    pub fn mode(&self) -> ClientCertificateMode {
        self.mode
    }

    /// The encoded size of the acceptable-CA list, with its Schannel verdict.
    pub fn hint_size(&self) -> CaHintSize {
        self.hint_size
    }

    /// Configuration warnings (the acceptable-CA list above 16 KiB).
    pub fn warnings(&self) -> Vec<String> {
        match self.hint_size {
            CaHintSize::OverSchannelLimit { size } => vec![schannel_warning(size)],
            CaHintSize::Fine { .. } => Vec::new(),
        }
    }

    /// Re-reads the CRL files if any changed (modification time or length) and swaps the
    /// verifier. Connections already established keep the status they were given; the next
    /// handshakes use the new lists. A file that now fails to parse keeps the old lists (and is
    /// reported); so does a set of lists with a lower CRL number for an issuer than the one in
    /// force ([`ClientCertError::OlderCrlNumber`], logged at warn and counted in
    /// `epa_crl_reload_rejected_total{reason="older-crl-number"}`, once per change of the
    /// files). Returns whether anything was swapped.
    pub fn reload_crls(&self) -> Result<bool, ClientCertError> {
        let stamps = super::files::stamps(&self.source.files);
        {
            let current = self.current.read().unwrap_or_else(|e| e.into_inner());
            if current.stamps == stamps {
                return Ok(false);
            }
        }
        let loaded = crl::load(&self.source)?;
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = current.snapshot.check_newer(&loaded) {
            current.stamps = loaded.stamps;
            drop(current);
            crl::reload_rejected(&e);
            return Err(e);
        }
        let stamps = loaded.stamps.clone();
        let next = Snapshot::build(&self.source, loaded, current.snapshot.generation + 1)?;
        *current = Current {
            snapshot: Arc::new(next),
            stamps,
        };
        drop(current);
        tracing::info!(target: "epa", files = ?self.source.files, "CRLs reloaded");
        Ok(true)
    }

    /// The snapshot in force, after reloading the CRLs if the interval has passed.
    fn snapshot(&self) -> Arc<Snapshot> {
        if !self.source.files.is_empty() && self.source.revocation != RevocationMode::Off {
            let due = {
                let mut last = self.last_check.lock().unwrap_or_else(|e| e.into_inner());
                let due = last.elapsed() >= self.reload_interval;
                if due {
                    *last = Instant::now();
                }
                due
            };
            if due && let Err(e) = self.reload_crls() {
                // An older CRL number was already logged and counted by the reload.
                if !matches!(e, ClientCertError::OlderCrlNumber { .. }) {
                    tracing::warn!(target: "epa", "keeping the previous CRLs: {e}");
                }
            }
        }
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .snapshot
            .clone()
    }

    /// Verifies a chain with the current snapshot at `now`; with `reuse`, a `Valid` verdict of
    /// the last second made under the same snapshot counts.
    fn verify(
        &self,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        reuse: bool,
    ) -> Result<(), rustls::Error> {
        let snapshot = self.snapshot();
        self.verify_under(&snapshot, leaf, intermediates, now, reuse)
    }

    /// [`Self::verify`] with a given snapshot: the verdict and the cache entry it may leave
    /// carry that snapshot's generation, never the one in force at the time of caching.
    fn verify_under(
        &self,
        snapshot: &Snapshot,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        reuse: bool,
    ) -> Result<(), rustls::Error> {
        if !reuse {
            return snapshot.verify(leaf, intermediates, now);
        }
        let key = chain_key(leaf, intermediates);
        {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            recent
                .entries
                .retain(|(_, _, at)| at.elapsed() < RECENT_TTL);
            if recent
                .entries
                .iter()
                .any(|(k, g, _)| k == &key && *g == snapshot.generation)
            {
                return Ok(());
            }
        }
        snapshot.verify(leaf, intermediates, now)?;
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.entries.len() >= RECENT_CAPACITY {
            recent.entries.pop_front();
        }
        recent
            .entries
            .push_back((key, snapshot.generation, Instant::now()));
        Ok(())
    }

    /// Judges the certificates a peer sent (leaf first), at `now` (always a full verification).
    pub fn status_at(&self, peer: Option<&[CertificateDer<'_>]>, now: UnixTime) -> PeerCertificate {
        self.judge(peer, now, false)
    }

    /// Judges the certificates a peer sent, now. A chain found valid in the last second (by
    /// the handshake under `require`, or by an earlier connection) under the same CRLs is not
    /// verified again.
    pub fn status(&self, peer: Option<&[CertificateDer<'_>]>) -> PeerCertificate {
        self.judge(peer, UnixTime::now(), true)
    }

    fn judge(
        &self,
        peer: Option<&[CertificateDer<'_>]>,
        now: UnixTime,
        reuse: bool,
    ) -> PeerCertificate {
        let Some((leaf, intermediates)) = peer.and_then(<[_]>::split_first) else {
            return PeerCertificate {
                status: CertificateStatus::NotPresented,
                certificate: None,
            };
        };
        let status = match self.verify(leaf, intermediates, now, reuse) {
            Ok(()) => CertificateStatus::Valid,
            Err(rustls::Error::InvalidCertificate(e)) => status_of(&e),
            Err(_) => CertificateStatus::Untrusted,
        };
        let certificate = ClientCertificate::from_chain(leaf, intermediates);
        PeerCertificate {
            // A certificate we cannot even describe is not one a route may accept.
            status: if certificate.is_none() && status == CertificateStatus::Valid {
                CertificateStatus::Untrusted
            } else {
                status
            },
            certificate: certificate.map(Arc::new),
        }
    }
}

/// rustls' certificate error as a status.
fn status_of(e: &CertificateError) -> CertificateStatus {
    match e {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            CertificateStatus::Expired
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            CertificateStatus::NotYetValid
        }
        CertificateError::Revoked => CertificateStatus::Revoked,
        CertificateError::UnknownRevocationStatus
        | CertificateError::ExpiredRevocationList
        | CertificateError::ExpiredRevocationListContext { .. } => {
            CertificateStatus::RevocationUnknown
        }
        _ => CertificateStatus::Untrusted,
    }
}

impl ClientCertVerifier for ClientCertificateVerifier {
    fn offer_client_auth(&self) -> bool {
        self.mode != ClientCertificateMode::Ignore
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mode == ClientCertificateMode::Require
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self.mode {
            ClientCertificateMode::Require => self
                .verify(end_entity, intermediates, now, true)
                .map(|()| ClientCertVerified::assertion()),
            // Judged after the handshake (PeerCertificate), so that routes without the
            // requirement still serve this client. The CertificateVerify signature is still
            // checked below: the client proves it holds the key.
            ClientCertificateMode::Request | ClientCertificateMode::Ignore => {
                Ok(ClientCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What a connection's client certificate came to. In [`crate::ChannelFacts`].
#[derive(Debug, Clone)]
pub struct PeerCertificate {
    /// The verdict.
    pub status: CertificateStatus,
    /// The certificate, when one was sent and could be read (also when it failed verification:
    /// for logs; routes only ever hand out a `Valid` one).
    pub certificate: Option<Arc<ClientCertificate>>,
}

impl ClientCertificateSettings {
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
            roots
                .add(der.clone())
                .map_err(|source| ClientCertError::BadCa {
                    index: i + 1,
                    source,
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
pub(crate) fn schannel_warning(size: usize) -> String {
    format!(
        "the acceptable-CA list is {size} bytes, above the 16,384 at which Windows (Schannel) clients stop sending a client certificate; send a subset of the CAs or no hints"
    )
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::client_cert::ClientCertificateSettings;
    use crate::testing::{TestCa, Validity};

    /// #11 item 10: a chain judged `Valid` by the snapshot before a reload must not be reused
    /// after the reload. Before the fix, the cache entry took the generation in force when it
    /// was stored (read after the verification), so a verification that started before a
    /// reload and finished after it cached the old verdict under the new generation; this test
    /// replays that interleaving deterministically.
    #[test]
    fn a_verdict_made_before_a_reload_is_not_reused_after_it() {
        let dir = std::env::temp_dir().join(format!("epa-cc-gen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = TestCa::new("Gen CA").unwrap();
        let (chain, _) = ca.issue("gina", 7, Validity::Current).unwrap();
        let crl = dir.join("ca.crl");
        std::fs::write(&crl, ca.crl_numbered([], 1).unwrap()).unwrap();
        let mut s = ClientCertificateSettings::new(ClientCertificateMode::Request, vec![ca.der()]);
        s.crl_files = vec![crl.clone()];
        s.reload_interval = Duration::from_secs(3600);
        let v = s.build().unwrap();
        // The verification starts with the old lists...
        let old = v.snapshot();
        // ...a reload revoking the certificate lands in between...
        std::fs::write(&crl, ca.crl_numbered([7, 8, 9], 2).unwrap()).unwrap();
        assert!(v.reload_crls().unwrap());
        // ...and the old verifier's `Valid` is stored.
        assert!(
            v.verify_under(&old, &chain[0], &[], UnixTime::now(), true)
                .is_ok()
        );
        assert_eq!(v.status(Some(&chain)).status, CertificateStatus::Revoked);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
