//! Any string as a request path: normalisation never panics, normalising twice gives the same
//! path, a path is inside itself and inside `/`, and a normalised path stays inside any of its
//! own prefixes, and its alias verdict (`NormalizedPath::alias`, Windows spellings and double
//! escapes) is the same for both spellings.
#![no_main]
use epa_core::path::NormalizedPath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(once) = NormalizedPath::parse(s) else { return };
    let twice = NormalizedPath::parse(once.as_str()).expect("a normalised path normalises");
    assert_eq!(once.as_str(), twice.as_str(), "normalisation must be idempotent");
    assert_eq!(once, twice);
    assert_eq!(once.alias(), twice.alias(), "an alias must not depend on the spelling");
    assert!(once.starts_with_segments(&once));
    let root = NormalizedPath::parse("/").expect("root");
    assert!(once.starts_with_segments(&root));
    let text = once.as_str();
    for (i, _) in text.match_indices('/').skip(1) {
        if let Ok(prefix) = NormalizedPath::parse(&text[..i]) {
            assert!(once.starts_with_segments(&prefix), "{text} not under {}", &text[..i]);
        }
    }
});
