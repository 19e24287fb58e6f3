//! Server certificate rotation without a restart: a [`ResolvesServerCert`] whose certificate is
//! swapped when its files change (checked at most once per second) or on SIGHUP.
//!
//! New connections present the new certificate and get its `tls-server-end-point` (the
//! [`epa_hyper::TlsAcceptor`] caches per `CertifiedKey`, so a new key is a new cache entry); open
//! connections keep the facts of their handshake. A new certificate or key that cannot be used
//! (unreadable, malformed, key not matching the certificate, no channel binding) keeps the old
//! one, logged with the reason. IIS, by contrast, resets a binding's settings when its
//! certificate is replaced.

use super::ServerError;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

/// How often, at most, the files are checked for changes.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// What identifies one version of a file: its modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// A server certificate read from a PEM chain and a PEM key, replaceable while serving.
#[derive(Debug)]
pub struct ReloadableCertificate {
    current: RwLock<Arc<CertifiedKey>>,
    certificate_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    stamps: Mutex<(Stamp, Stamp)>,
}

impl ReloadableCertificate {
    /// Reads the chain and key; fails when they cannot serve.
    pub fn load(
        certificate_file: &Path,
        key_file: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, ServerError> {
        let stamps = (stamp(certificate_file), stamp(key_file));
        let key = read(certificate_file, key_file, &provider)?;
        Ok(Self {
            current: RwLock::new(key),
            certificate_file: certificate_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            provider,
            stamps: Mutex::new(stamps),
        })
    }

    /// The certificate new connections present.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the files now (SIGHUP). On error the current certificate stays.
    pub fn reload(&self) -> Result<(), ServerError> {
        *self.stamps.lock().unwrap_or_else(PoisonError::into_inner) =
            (stamp(&self.certificate_file), stamp(&self.key_file));
        let key = read(&self.certificate_file, &self.key_file, &self.provider)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = key;
        Ok(())
    }

    /// Re-reads the files if either changed since the last read; `Ok(false)` when unchanged.
    pub fn reload_if_changed(&self) -> Result<bool, ServerError> {
        let now = (stamp(&self.certificate_file), stamp(&self.key_file));
        if *self.stamps.lock().unwrap_or_else(PoisonError::into_inner) == now {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }

    /// Checks once per [`CHECK_INTERVAL`] and on SIGHUP (Unix) until the task is dropped;
    /// logs and counts every reload (`epa_certificate_reloads_total`).
    pub async fn watch(self: Arc<Self>) {
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let forced = match hangup.as_mut() {
                Some(h) => tokio::select! {
                    _ = h.recv() => true,
                    () = tokio::time::sleep(CHECK_INTERVAL) => false,
                },
                None => {
                    tokio::time::sleep(CHECK_INTERVAL).await;
                    false
                }
            };
            #[cfg(not(unix))]
            let forced = {
                tokio::time::sleep(CHECK_INTERVAL).await;
                false
            };
            let result = if forced {
                self.reload().map(|()| true)
            } else {
                self.reload_if_changed()
            };
            match result {
                Ok(false) => {}
                Ok(true) => {
                    super::events::certificate_reload(true);
                    tracing::info!(target: "epa", file = %self.certificate_file.display(), "server certificate reloaded: new connections present it");
                }
                Err(e) => {
                    super::events::certificate_reload(false);
                    tracing::warn!(target: "epa", file = %self.certificate_file.display(), "server certificate not reloaded, the previous one stays: {e}");
                }
            }
        }
    }
}

impl ResolvesServerCert for ReloadableCertificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Reads and checks a chain and its key: the key must match the leaf, and the leaf must give a
/// `tls-server-end-point` binding.
fn read(
    certificate_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, ServerError> {
    let pem = |path: &Path, source| ServerError::Pem {
        path: path.to_path_buf(),
        source,
    };
    let chain = CertificateDer::pem_file_iter(certificate_file)
        .map_err(|e| pem(certificate_file, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(certificate_file, e))?;
    let leaf = chain.first().ok_or_else(|| ServerError::EmptyChain {
        path: certificate_file.to_path_buf(),
    })?;
    epa_core::cbt::tls_server_end_point(leaf.as_ref())?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| pem(key_file, e))?;
    let key = CertifiedKey::from_der(chain, key, provider).map_err(ServerError::Key)?;
    Ok(Arc::new(key))
}
