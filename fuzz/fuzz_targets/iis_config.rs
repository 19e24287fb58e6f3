//! Any text as an IIS input — `netsh http show sslcert` output or applicationHost.config /
//! web.config XML: read or refused with a line number, then checked and imported — never a
//! panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Both readers on the same text: the netsh parser directly, and the dispatcher.
    if let Err(e) = epa_cli::iis::netsh::parse(text) {
        assert!(e.line >= 1 && e.line <= text.lines().count().max(1));
    }
    let Ok(inputs) = epa_cli::iis::read(&[("input".to_owned(), text.to_owned())]) else {
        return;
    };
    for f in epa_cli::iis::check::check(&inputs.config, inputs.netsh.as_deref()) {
        assert!(!f.why.is_empty() && !f.fix.is_empty());
    }
    for location in inputs.config.locations() {
        let doc = epa_cli::iis::import::import(&inputs.config, &location);
        assert!(doc.contains("[policy]"));
    }
});
