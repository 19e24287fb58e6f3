//! Which binding a mismatching client computed: the MD5s of the `gss_channel_bindings_struct`s
//! a client could plausibly have hashed, compared with the value it sent in
//! `MsvAvChannelBindings` (NTLM carries only that MD5, so each candidate struct is hashed).
//!
//! Candidates: this connection's `tls-server-end-point` and `tls-exporter`; the configured
//! binding (custom, or the pinned proxy certificate's); for the certificate file of the
//! listener (and the file's previous content, when it changed while the server ran) the
//! binding under the RFC 5929 §4.1 rule, with SHA-256, SHA-384 and SHA-512 whatever the
//! signature says, each also with a `tls-unique:` prefix and with no prefix; and the struct
//! with empty application data. The values are public (both peers compute them from the
//! certificate), so they are compared with `==`, not in constant time.

use epa_core::cbt::{self, ChannelBinding, HashAlgorithm};
use epa_core::{ChannelBindingsHash, GssChannelBindings};
use epa_hyper::ChannelFacts;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

/// A certificate file larger than this is not read (a chain is a few KiB).
const MAX_CERTIFICATE_FILE: u64 = 1 << 20;

/// One struct a client could have hashed.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// What it is, for people.
    pub name: String,
    /// Its MD5, hex.
    pub md5: String,
    /// Whether the client's value equals it.
    pub equals_client: bool,
}

fn md5_of_application_data(data: Vec<u8>) -> Option<ChannelBindingsHash> {
    GssChannelBindings::application_data_only(data).md5().ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The candidates of one certificate (DER), named after `what`.
fn of_certificate(der: &[u8], what: &str) -> Vec<(String, ChannelBindingsHash)> {
    let mut out = Vec::new();
    let rule = cbt::tls_server_end_point(der).ok();
    if let Some(ep) = &rule {
        let name = format!(
            "{what}: tls-server-end-point, {} (the RFC 5929 rule for its signature)",
            ep.hash_algorithm().name()
        );
        if let Some(h) = md5_of_application_data(ep.binding.application_data()) {
            out.push((name, h));
        }
    }
    for alg in [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ] {
        let hash = alg.digest(der);
        let by_rule = rule.as_ref().is_some_and(|ep| ep.hash_algorithm() == alg);
        let variants = [
            (!by_rule).then(|| {
                (
                    format!("{what}: tls-server-end-point, {}", alg.name()),
                    ChannelBinding::tls_server_end_point_from_hash(&hash).application_data(),
                )
            }),
            Some((
                format!("{what}: {} hash with a tls-unique: prefix", alg.name()),
                ChannelBinding::tls_unique(&hash).application_data(),
            )),
            Some((
                format!("{what}: {} hash with no prefix", alg.name()),
                hash.clone(),
            )),
        ];
        for (name, data) in variants.into_iter().flatten() {
            if let Some(h) = md5_of_application_data(data) {
                out.push((name, h));
            }
        }
    }
    out
}

/// What the certificate file held, for one (length, modification time).
#[derive(Debug, Clone)]
struct FileState {
    stamp: (u64, Option<SystemTime>),
    leaf: Vec<u8>,
}

#[derive(Debug, Default)]
struct Memory {
    current: Option<FileState>,
    previous: Option<FileState>,
}

/// The listener's certificate file, looked at (one `stat`) on each report and read again only
/// when its length or modification time changed; the content before the last change is kept
/// as "the previous certificate".
#[derive(Debug)]
pub struct CertificateFile {
    path: PathBuf,
    memory: Mutex<Memory>,
}

impl CertificateFile {
    /// Reads `path` now (so that a rotation after start-up has a previous certificate).
    pub fn new(path: PathBuf) -> Self {
        let file = Self {
            path,
            memory: Mutex::new(Memory::default()),
        };
        file.refresh();
        file
    }

    fn read(&self) -> Option<FileState> {
        let meta = std::fs::metadata(&self.path).ok()?;
        if meta.len() > MAX_CERTIFICATE_FILE {
            return None;
        }
        let stamp = (meta.len(), meta.modified().ok());
        let text = std::fs::read(&self.path).ok()?;
        let leaf = cbt::certificates_from_pem(&text).ok()?.into_iter().next()?;
        Some(FileState { stamp, leaf })
    }

    /// The current and previous leaf certificates (DER).
    fn refresh(&self) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let mut m = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .map(|meta| (meta.len(), meta.modified().ok()));
        if stamp.is_some()
            && m.current.as_ref().map(|c| c.stamp) != stamp
            && let Some(new) = self.read()
        {
            if m.current.as_ref().is_some_and(|c| c.leaf != new.leaf) {
                m.previous = m.current.take();
            }
            m.current = Some(new);
        }
        (
            m.current.as_ref().map(|c| c.leaf.clone()),
            m.previous.as_ref().map(|c| c.leaf.clone()),
        )
    }
}

/// Every candidate for this connection, compared with `client` (the MD5 the client sent).
pub fn candidates(
    client: &ChannelBindingsHash,
    facts: &ChannelFacts,
    configured: Option<&ChannelBinding>,
    file: Option<&CertificateFile>,
) -> Vec<Candidate> {
    let mut all: Vec<(String, ChannelBindingsHash)> = Vec::new();
    if let Some(ep) = &facts.server_end_point {
        all.push((
            "this connection's tls-server-end-point (what this listener expects)".into(),
            *ep.md5(),
        ));
    }
    if let Some(h) = facts
        .tls_exporter_binding()
        .and_then(|b| md5_of_application_data(b.application_data()))
    {
        all.push(("this connection's tls-exporter (RFC 9266)".into(), h));
    }
    if let Some(h) = configured.and_then(|b| md5_of_application_data(b.application_data())) {
        all.push((
            "the configured binding (custom binding or pinned proxy certificate)".into(),
            h,
        ));
    }
    if let Some(file) = file {
        let (current, previous) = file.refresh();
        if let Some(der) = current {
            let shown = facts.server_end_point.as_ref().is_some_and(|ep| {
                cbt::tls_server_end_point(&der).is_ok_and(|e| e.binding.ct_eq(ep.binding()))
            });
            let what = if shown {
                "this listener's certificate"
            } else {
                "the certificate file (not the certificate this connection was shown)"
            };
            all.extend(of_certificate(&der, what));
        }
        if let Some(der) = previous {
            all.extend(of_certificate(
                &der,
                "the previous certificate (before the file changed)",
            ));
        }
    }
    if let Some(h) = md5_of_application_data(Vec::new()) {
        all.push(("a struct with empty application data".into(), h));
    }
    all.into_iter()
        .map(|(name, h)| Candidate {
            name,
            md5: hex(h.as_bytes()),
            // Public values: a plain comparison (see the module documentation).
            equals_client: h.as_bytes() == client.as_bytes(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der() -> Vec<u8> {
        let g = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        g.cert.der().to_vec()
    }

    #[test]
    fn a_client_that_hashed_with_sha512_is_named() {
        let der = der();
        let facts = ChannelFacts::tls(([127, 0, 0, 1], 1).into(), &der, None).unwrap();
        let dir = std::env::temp_dir().join(format!("epa-diag-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cert.pem");
        let pem = |der: &[u8]| {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n")
        };
        std::fs::write(&path, pem(&der)).unwrap();
        let file = CertificateFile::new(path.clone());
        let sha512 =
            ChannelBinding::tls_server_end_point_from_hash(&HashAlgorithm::Sha512.digest(&der));
        let client = md5_of_application_data(sha512.application_data()).unwrap();
        let c = candidates(&client, &facts, None, Some(&file));
        let hits: Vec<_> = c
            .iter()
            .filter(|c| c.equals_client)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            hits,
            ["this listener's certificate: tls-server-end-point, sha512"]
        );
        // The expected value is found as the connection's and as the file's.
        let right = *facts.server_end_point.as_ref().unwrap().md5();
        let hits = candidates(&right, &facts, None, Some(&file))
            .into_iter()
            .filter(|c| c.equals_client)
            .count();
        assert_eq!(hits, 2);
        // A rotation: the old certificate becomes "previous".
        let other = self::der();
        std::fs::write(&path, format!("{}\n", pem(&other))).unwrap();
        let c = candidates(&right, &facts, None, Some(&file));
        assert!(
            c.iter()
                .any(|c| c.equals_client && c.name.starts_with("the previous certificate")),
            "{c:?}"
        );
        assert!(
            c.iter()
                .any(|c| c.name.starts_with("the certificate file (not")),
            "{c:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
