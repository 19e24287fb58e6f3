//! Any bytes as a `Negotiate` token: the strict SPNEGO reader never panics, and whatever it
//! reads as NTLM is a sub-slice of the input that starts with the NTLMSSP signature.
#![no_main]
use epa_core::spnego::{self, NTLMSSP_SIGNATURE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spnego::initial_context_token(data);
    if let Ok(token) = spnego::parse(data) {
        if let Some(inner) = token.inner_token() {
            let start = inner.as_ptr() as usize - data.as_ptr() as usize;
            assert!(start + inner.len() <= data.len());
        }
    }
    if let Ok(token) = spnego::classify(data)
        && let Some(m) = token.ntlm_message()
    {
        assert!(m.starts_with(NTLMSSP_SIGNATURE));
    }
});
