//! Any bytes as an `Authorization` header value: never a panic; a token is only ever read from
//! one of our schemes followed by valid base64, and re-encodes to the same token.
#![no_main]
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((scheme, token)) = epa_hyper::internal::parse_authorization(data) {
        let text = std::str::from_utf8(data).expect("a token header is text");
        assert!(text.trim_start().len() >= scheme.name().len());
        let encoded = base64::engine::general_purpose::STANDARD.encode(&token);
        assert!(text.contains(&encoded) || token.is_empty());
    }
});
