//! Any bytes as a keytab: the reader and the lint never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = epa_core::keytab::parse(data) {
        for e in &entries {
            assert!(!e.components.is_empty());
        }
    }
    let _ = epa_config::lint::keytab(data);
});
