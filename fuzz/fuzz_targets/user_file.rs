//! Any text as an NTLM user file: a value or a typed error naming the line.
#![no_main]
use epa_ntlm::UserDb;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match UserDb::parse(text) {
        Ok(db) => assert!(db.len() <= text.lines().count()),
        Err(e) => assert!(e.line() >= 1 && e.line() <= text.lines().count()),
    }
});
