//! Any bytes as PEM (or auto-detected input): never a panic.
#![no_main]
use epa_core::cbt;
use epa_core::internal::pem;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(der) = pem::decode_certificate(data) {
        let _ = cbt::tls_server_end_point(&der);
    }
    if let Ok(der) = cbt::certificate_der(data) {
        // What certificate_der returns has passed the strict DER check.
        assert!(cbt::signature_algorithm(&der).is_ok());
    }
});
