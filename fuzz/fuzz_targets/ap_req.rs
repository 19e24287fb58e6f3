//! Any bytes as a `Negotiate` token: the AP-REQ enctype reader never panics, and returns the
//! same answer for the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let first = epa_core::ap_req::enctypes(data);
    assert_eq!(first, epa_core::ap_req::enctypes(data));
    let _ = epa_core::offer::offered(epa_core::authenticator::Scheme::Negotiate, data);
});
