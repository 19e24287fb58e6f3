//! Any bytes as a client certificate (what a TLS peer sends): described or refused, and its
//! subject read or a typed error — never a panic. Also any text as a PEM CA bundle.
#![no_main]
use epa_hyper::client_cert::ClientCertificate;
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::CertificateDer;

fuzz_target!(|data: &[u8]| {
    let der = CertificateDer::from(data);
    if let Some(c) = ClientCertificate::from_chain(&der, &[der.clone()]) {
        assert_eq!(c.chain.len(), 2);
        assert_eq!(c.fingerprint().len(), 64);
    }
    if let Ok(subject) = epa_core::client_cert::certificate_subject(data) {
        assert!(subject.len() < data.len() && subject.first() == Some(&0x30));
    }
    if let Ok(all) = epa_core::cbt::certificates_from_pem(data) {
        assert!(!all.is_empty());
    }
});
