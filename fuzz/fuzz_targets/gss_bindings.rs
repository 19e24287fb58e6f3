//! Any bytes as a flattened gss_channel_bindings_struct (decode never panics and round-trips)
//! and as a Windows SEC_CHANNEL_BINDINGS blob (decode never panics; re-encoding decodes back).
#![no_main]
use epa_core::gss::GssChannelBindings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = GssChannelBindings::from_bytes(data) {
        assert_eq!(s.to_bytes().expect("re-encode"), data);
        let _ = s.md5();
    }
    if let Ok(s) = GssChannelBindings::from_sec_channel_bindings(data) {
        let blob = s.to_sec_channel_bindings().expect("re-encode");
        assert_eq!(GssChannelBindings::from_sec_channel_bindings(&blob).expect("decode"), s);
    }
});
