//! Any text as a policy scenario file: parse and evaluate never panic.
#![no_main]
use epa_cli::scenario::Scenario;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(s) = Scenario::parse(text) {
        for (case, result) in s.cases.iter().zip(s.evaluate()) {
            let _ = case.failures(&result);
        }
    }
});
