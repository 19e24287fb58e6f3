//! Client-certificate authentication the TLS 1.3 way: the certificate is asked for in the
//! *first* handshake ([`ClientCertificateMode`]), verified with rustls' `WebPkiClientVerifier`
//! against CRLs that reload when their files change, and required per route by
//! [`RequireClientCertificateLayer`] — never by renegotiation (RFC 8446 removed it; RFC 9113 §9.2.1
//! forbids it under HTTP/2).
//!
//! How a connection's certificate is judged:
//! * `require`: the handshake itself runs the WebPKI verifier; a client without a valid
//!   certificate gets a TLS alert.
//! * `request`: the handshake accepts any certificate whose `CertificateVerify` signature is
//!   valid (proof of the private key), so that a route that does not need one still works; the
//!   chain, validity period and revocation are judged right after the handshake.
//! * In both modes the status a route sees ([`PeerCertificate`]) is computed after the
//!   handshake by this module from the certificates the peer sent and the *current* trust
//!   settings, so that a configuration mistake elsewhere cannot turn into a `Valid`.

use crate::connection::ConnectionContext;
use epa_core::audit::route_outcome_audited;
use epa_core::client_cert::{
    CaHintError, CaHintSize, CaHints, CertificateRefusal, CertificateStatus, ClientCertificateMode,
    RevocationMode, RouteOutcome, ca_hint_size,
};
use http::{HeaderValue, Request, Response, StatusCode, header};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore};
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};
use thiserror::Error;
use tower_layer::Layer;
use tower_service::Service;

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
    Verifier(String),
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
        let current = load_crls(&roots, &provider, self.revocation, &self.crl_files)?;
        if let CaHintSize::OverSchannelLimit { size } = hint_size {
            tracing::warn!(target: "epa", size, "{}", schannel_warning(size));
        }
        Ok(Arc::new(ClientCertificateVerifier {
            algorithms: provider.signature_verification_algorithms,
            mode: self.mode,
            revocation: self.revocation,
            hints,
            hint_size,
            roots,
            provider,
            crl_files: self.crl_files,
            reload_interval: self.reload_interval,
            current: RwLock::new(current),
            last_check: Mutex::new(Instant::now()),
            recent: Mutex::new(RecentlyValid::default()),
        }))
    }
}

/// The warning for an acceptable-CA list above what Schannel clients accept.
pub fn schannel_warning(size: usize) -> String {
    format!(
        "the acceptable-CA list is {size} bytes, above the 16,384 at which Windows (Schannel) clients stop sending a client certificate; send a subset of the CAs or no hints"
    )
}

fn webpki_verifier(
    roots: &Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
    revocation: RevocationMode,
    crls: Vec<CertificateRevocationListDer<'static>>,
) -> Result<Arc<dyn ClientCertVerifier>, VerifierBuilderError> {
    let mut b = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
    if revocation != RevocationMode::Off {
        b = b.with_crls(crls);
    }
    b = match revocation {
        RevocationMode::Check | RevocationMode::Off => b,
        RevocationMode::AllowUnknown => b.allow_unknown_revocation_status(),
        RevocationMode::EndEntityOnly => b.only_check_end_entity_revocation(),
    };
    b.build()
}

/// A file's identity for change detection: modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Reads the CRL files, checks each on its own (so that an error names its file), and builds
/// the verifier over all of them, with the files' stamps.
fn load_crls(
    roots: &Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
    revocation: RevocationMode,
    files: &[PathBuf],
) -> Result<Current, ClientCertError> {
    let mut all = Vec::new();
    let mut stamps = Vec::with_capacity(files.len());
    for path in files {
        // Stamped before reading: a change in between is seen at the next check.
        stamps.push(stamp(path));
        let lists = read_crl_file(path)?;
        webpki_verifier(roots, provider, revocation, lists.clone()).map_err(|e| {
            ClientCertError::BadCrl {
                path: path.clone(),
                reason: e.to_string(),
            }
        })?;
        all.extend(lists);
    }
    let webpki = webpki_verifier(roots, provider, revocation, all)
        .map_err(|e| ClientCertError::Verifier(e.to_string()))?;
    Ok(Current { webpki, stamps })
}

/// One CRL file: PEM (one or more `X509 CRL` blocks) or DER.
fn read_crl_file(
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
            reason: e.to_string(),
        })?;
    if found.is_empty() {
        return Err(ClientCertError::Pem {
            what: path.display().to_string(),
            reason: "no X509 CRL block".into(),
        });
    }
    Ok(found)
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

struct Current {
    webpki: Arc<dyn ClientCertVerifier>,
    stamps: Vec<Stamp>,
}

/// The listener's client-certificate verifier: give it to rustls
/// (`ServerConfig::builder().with_client_cert_verifier(verifier.clone())`) and to
/// [`crate::TlsAcceptor::with_client_certificates`], which records each connection's
/// [`PeerCertificate`].
pub struct ClientCertificateVerifier {
    mode: ClientCertificateMode,
    revocation: RevocationMode,
    hints: Vec<DistinguishedName>,
    hint_size: CaHintSize,
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    algorithms: WebPkiSupportedAlgorithms,
    crl_files: Vec<PathBuf>,
    reload_interval: Duration,
    current: RwLock<Current>,
    last_check: Mutex<Instant>,
    recent: Mutex<RecentlyValid>,
}

/// Chains found valid in the last second, so that `require` mode — which verifies in the
/// handshake — does not verify the same chain again right after it (with a large CRL each
/// verification re-checks the CRL's signature, i.e. hashes the whole list). Only `Valid`
/// verdicts are kept; an entry is tied to the CRL generation it was made under, so a reload
/// makes every entry stale at once.
#[derive(Default)]
struct RecentlyValid {
    generation: u64,
    entries: std::collections::VecDeque<([u8; 32], Instant)>,
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
            .field("revocation", &self.revocation)
            .field("hint_size", &self.hint_size)
            .field("crl_files", &self.crl_files)
            .finish_non_exhaustive()
    }
}

impl ClientCertificateVerifier {
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
    /// reported). Returns whether anything was swapped.
    pub fn reload_crls(&self) -> Result<bool, ClientCertError> {
        let stamps: Vec<Stamp> = self.crl_files.iter().map(|p| stamp(p)).collect();
        {
            let current = self.current.read().unwrap_or_else(|e| e.into_inner());
            if current.stamps == stamps {
                return Ok(false);
            }
        }
        let loaded = load_crls(
            &self.roots,
            &self.provider,
            self.revocation,
            &self.crl_files,
        )?;
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        *current = loaded;
        drop(current);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.generation += 1;
        recent.entries.clear();
        drop(recent);
        tracing::info!(target: "epa", files = ?self.crl_files, "CRLs reloaded");
        Ok(true)
    }

    /// The current WebPKI verifier, after reloading the CRLs if the interval has passed.
    fn webpki(&self) -> Arc<dyn ClientCertVerifier> {
        if !self.crl_files.is_empty() && self.revocation != RevocationMode::Off {
            let due = {
                let mut last = self.last_check.lock().unwrap_or_else(|e| e.into_inner());
                let due = last.elapsed() >= self.reload_interval;
                if due {
                    *last = Instant::now();
                }
                due
            };
            if due && let Err(e) = self.reload_crls() {
                tracing::warn!(target: "epa", "keeping the previous CRLs: {e}");
            }
        }
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .webpki
            .clone()
    }

    /// Verifies a chain with the current WebPKI verifier at `now`; with `reuse`, a `Valid`
    /// verdict of the last second counts.
    fn verify(
        &self,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        reuse: bool,
    ) -> Result<(), rustls::Error> {
        let webpki = self.webpki();
        if !reuse {
            return webpki
                .verify_client_cert(leaf, intermediates, now)
                .map(|_| ());
        }
        let key = chain_key(leaf, intermediates);
        let generation = {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            recent.entries.retain(|(_, at)| at.elapsed() < RECENT_TTL);
            if recent.entries.iter().any(|(k, _)| k == &key) {
                return Ok(());
            }
            recent.generation
        };
        webpki.verify_client_cert(leaf, intermediates, now)?;
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        // A reload in between: the verdict was made under the old lists, do not keep it.
        if recent.generation == generation {
            if recent.entries.len() >= RECENT_CAPACITY {
                recent.entries.pop_front();
            }
            recent.entries.push_back((key, Instant::now()));
        }
        Ok(())
    }

    /// Judges the certificates a peer sent (leaf first), at `now` (always a full verification).
    pub fn status_at(&self, peer: Option<&[CertificateDer<'_>]>, now: UnixTime) -> PeerCertificate {
        self.judge(peer, now, false)
    }

    /// Judges the certificates a peer sent, now. A chain found valid in the last second (by
    /// the handshake under `require`, or by an earlier connection) is not verified again.
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

/// A client certificate, as routes see it. A verified one is in the request extensions of a
/// route behind [`RequireClientCertificateLayer`].
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The subject, RFC 4514 string form (e.g. `CN=alice, O=Example`).
    pub subject: String,
    /// The issuer, same form.
    pub issuer: String,
    /// Subject alternative names: `DNS:…`, `email:…`, `IP:…`, `URI:…`, `UPN:…`.
    pub subject_alt_names: Vec<String>,
    /// SHA-256 of the leaf's DER.
    pub sha256: [u8; 32],
    /// The chain as sent, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("subject_alt_names", &self.subject_alt_names)
            .field("sha256", &self.fingerprint())
            .field("chain_len", &self.chain.len())
            .finish()
    }
}

const UPN_OID: &str = "1.3.6.1.4.1.311.20.2.3";

impl ClientCertificate {
    /// Describes a chain; `None` when the leaf is not a readable X.509 certificate.
    pub fn from_chain(
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Option<Self> {
        use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};
        let (rest, cert) = X509Certificate::from_der(leaf.as_ref()).ok()?;
        if !rest.is_empty() {
            return None;
        }
        let mut sans = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                sans.push(match name {
                    GeneralName::DNSName(d) => format!("DNS:{d}"),
                    GeneralName::RFC822Name(e) => format!("email:{e}"),
                    GeneralName::URI(u) => format!("URI:{u}"),
                    GeneralName::IPAddress(ip) => match ip.len() {
                        4 => format!("IP:{}", std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])),
                        16 => {
                            let mut a = [0u8; 16];
                            a.copy_from_slice(ip);
                            format!("IP:{}", std::net::Ipv6Addr::from(a))
                        }
                        _ => "IP:<malformed>".to_owned(),
                    },
                    GeneralName::OtherName(oid, value) if oid.to_id_string() == UPN_OID => {
                        upn(value)
                            .map_or_else(|| "UPN:<malformed>".to_owned(), |u| format!("UPN:{u}"))
                    }
                    other => format!("{other}"),
                });
            }
        }
        let mut chain = Vec::with_capacity(1 + intermediates.len());
        chain.push(leaf.clone().into_owned());
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        Some(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            subject_alt_names: sans,
            sha256: ring::digest::digest(&ring::digest::SHA256, leaf.as_ref())
                .as_ref()
                .try_into()
                .ok()?,
            chain,
        })
    }

    /// The SHA-256 fingerprint, lower-case hex.
    pub fn fingerprint(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The UPN other-name value: `[0] EXPLICIT UTF8String` (x509-parser hands over either the
/// wrapper or its content).
fn upn(value: &[u8]) -> Option<String> {
    const UTF8_STRING: u8 = 0x0c;
    let (tag, content) = tlv(value)?;
    let s = match tag {
        0xa0 => match tlv(content)? {
            (UTF8_STRING, s) => s,
            _ => return None,
        },
        UTF8_STRING => content,
        _ => return None,
    };
    std::str::from_utf8(s).ok().map(str::to_owned)
}

/// One whole DER TLV (definite length up to 2 length bytes, nothing after it).
fn tlv(input: &[u8]) -> Option<(u8, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81 => (usize::from(*rest.first()?), rest.get(1..)?),
        0x82 => (
            usize::from(*rest.first()?) << 8 | usize::from(*rest.get(1)?),
            rest.get(2..)?,
        ),
        _ => return None,
    };
    (rest.len() == len).then_some((tag, rest))
}

/// Requires a valid client certificate on the routes it wraps (the per-route half of
/// `request` mode): 403 with the IIS sub-status and a JSON reason otherwise; the verified
/// certificate is put in the request extensions as `Arc<ClientCertificate>`.
///
/// [`RequireClientCertificateLayer::audit_only`] observes the requirement without enforcing it
/// (enforce "optional", observe "required"): every request passes, and each one the
/// requirement would have refused is logged (`audit = "would-reject"`) and counted
/// (`epa_audit_client_certificate_would_refuse_total`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequireClientCertificateLayer {
    audit_only: bool,
}

impl RequireClientCertificateLayer {
    /// Enforce the requirement.
    pub const fn enforced() -> Self {
        Self { audit_only: false }
    }

    /// Observe the requirement, enforce nothing.
    pub const fn audit_only() -> Self {
        Self { audit_only: true }
    }
}

impl<S> Layer<S> for RequireClientCertificateLayer {
    type Service = RequireClientCertificate<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireClientCertificate {
            inner,
            audit_only: self.audit_only,
        }
    }
}

/// The service [`RequireClientCertificateLayer`] makes.
#[derive(Debug, Clone)]
pub struct RequireClientCertificate<S> {
    inner: S,
    audit_only: bool,
}

/// The 403 body: `{"status":403,"substatus":7,"reason":"client-certificate-required",
/// "message":"client certificate required"}`.
pub fn refusal_body(refusal: CertificateRefusal) -> String {
    format!(
        "{{\"status\":403,\"substatus\":{},\"reason\":\"{}\",\"message\":\"{}\"}}\n",
        refusal.iis_substatus(),
        refusal.code(),
        refusal.message()
    )
}

impl<S, B, ResBody> Service<Request<B>> for RequireClientCertificate<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let Some(context) = req.extensions().get::<ConnectionContext>() else {
            tracing::error!(target: "epa", "no ConnectionContext in the request: serve connections with epa_hyper::serve_connection");
            let mut r = Response::new(ResBody::from(String::new()));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return Box::pin(async move { Ok(r) });
        };
        let facts = context.facts();
        let (status, certificate) = match &facts.client_certificate {
            Some(p) => (p.status, p.certificate.clone()),
            None => (CertificateStatus::NotPresented, None),
        };
        let (enforced, would_refuse) = route_outcome_audited(!self.audit_only, true, status);
        if let Some(refusal) = would_refuse {
            crate::telemetry::client_certificate_refusal(refusal, true);
            tracing::info!(
                target: "epa",
                decision = "accept",
                reason = "client-certificate-not-enforced",
                audit = "would-reject",
                audit_reason = refusal.code(),
                substatus = refusal.iis_substatus(),
                peer = %facts.peer,
                subject = certificate.as_ref().map(|c| c.subject.as_str()),
                "client certificate requirement observed, not enforced: {}",
                refusal.message()
            );
        }
        match enforced {
            RouteOutcome::Allow => {
                if let Some(c) = certificate.filter(|_| status == CertificateStatus::Valid) {
                    req.extensions_mut().insert(c);
                }
                Box::pin(self.inner.call(req))
            }
            RouteOutcome::Forbid(refusal) => {
                crate::telemetry::client_certificate_refusal(refusal, false);
                tracing::info!(
                    target: "epa",
                    decision = "reject",
                    reason = refusal.code(),
                    substatus = refusal.iis_substatus(),
                    peer = %facts.peer,
                    subject = certificate.as_ref().map(|c| c.subject.as_str()),
                    "client certificate refused: {}",
                    refusal.message()
                );
                let mut r = Response::new(ResBody::from(refusal_body(refusal)));
                *r.status_mut() = StatusCode::FORBIDDEN;
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Box::pin(async move { Ok(r) })
            }
        }
    }
}
