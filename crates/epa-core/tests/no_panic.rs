//! Property tests: every parser of untrusted bytes returns a value or a typed error, never a
//! panic, on arbitrary input and on mutations of a real certificate.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use epa_core::cbt::HashRule;
use epa_core::gss::GssChannelBindings;
use epa_core::internal::pem;
use epa_core::{cbt, prefix, spn};
use proptest::prelude::*;

const CERT: &[u8] = include_bytes!("../../../tests/data/rsa-sha256.der");

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn certificate_parser_total_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = cbt::tls_server_end_point_with(&bytes, HashRule::Interoperable);
        let _ = cbt::tls_server_end_point_with(&bytes, HashRule::Strict);
        let _ = cbt::certificate_der(&bytes);
    }

    #[test]
    fn mutated_certificates_never_panic_and_truncations_are_refused(
        index in 0..CERT.len(), byte in any::<u8>(), cut in 0..CERT.len()
    ) {
        let mut m = CERT.to_vec();
        m[index] = byte;
        let _ = cbt::tls_server_end_point(&m);
        // Every strict prefix of a certificate is malformed.
        prop_assert!(cbt::tls_server_end_point(&CERT[..cut]).is_err());
    }

    #[test]
    fn pem_parser_total(text in "\\PC{0,200}", body in "[A-Za-z0-9+/=!* \r\n]{0,120}") {
        let _ = pem::decode_certificate(text.as_bytes());
        let armoured = format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n");
        let _ = pem::decode_certificate(armoured.as_bytes());
        let _ = cbt::certificate_der(armoured.as_bytes());
    }

    #[test]
    fn gss_struct_decoder_total_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        if let Ok(s) = GssChannelBindings::from_bytes(&bytes) {
            prop_assert_eq!(s.to_bytes().unwrap(), bytes.clone());
        }
        if let Ok(s) = GssChannelBindings::from_sec_channel_bindings(&bytes) {
            let again = GssChannelBindings::from_sec_channel_bindings(&s.to_sec_channel_bindings().unwrap()).unwrap();
            prop_assert_eq!(again, s);
        }
    }

    #[test]
    fn service_name_functions_total(s in "\\PC{0,64}") {
        let _ = spn::parts(&s);
        let _ = spn::host_kind(&s);
        let n = spn::normalize(&s);
        prop_assert_eq!(spn::normalize(&n), n);
        let _ = prefix::default_service_names(&[s.as_str()], &prefix::NoResolver);
    }
}
