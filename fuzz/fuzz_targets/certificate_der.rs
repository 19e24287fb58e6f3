//! Any bytes as a DER certificate: never a panic; a success must be self-consistent.
#![no_main]
use epa_core::cbt::{self, HashBasis, HashRule};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let interop = cbt::tls_server_end_point_with(data, HashRule::Interoperable);
    let strict = cbt::tls_server_end_point_with(data, HashRule::Strict);
    match (&interop, &strict) {
        (Ok(a), Ok(b)) => {
            // Both rules agree wherever RFC 5929 defines the value.
            assert!(a.binding.ct_eq(&b.binding));
            assert_ne!(b.basis(), HashBasis::NotDefinedByRfc5929);
            assert_eq!(a.binding.payload(), a.hash_algorithm().digest(data).as_slice());
        }
        (Ok(a), Err(_)) => assert_eq!(a.basis(), HashBasis::NotDefinedByRfc5929),
        (Err(_), Ok(_)) => panic!("strict accepted what interoperable refused"),
        (Err(_), Err(_)) => {}
    }
    if interop.is_ok() {
        // Strict DER: the same bytes with anything appended must be refused.
        let mut longer = data.to_vec();
        longer.push(0);
        assert!(cbt::tls_server_end_point(&longer).is_err());
    }
});
