//! Any text as a server configuration file (`epa lint`): parsed and linted, or refused —
//! never a panic; every finding has a reason and a fix.
#![no_main]
use epa_core::client_cert::CaHintSize;
use epa_config::ServerConfig;
use epa_config::lint::{CaFiles, lint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = toml::from_str::<ServerConfig>(text) else { return };
    let size = CaFiles::Hints(CaHintSize::OverSchannelLimit { size: 20_000 });
    for ca in [None, Some(&size)] {
        for f in lint(&config, ca) {
            assert!(!f.why.is_empty() && !f.fix.is_empty() && !f.code.is_empty());
        }
    }
    let _ = config.client_certificates.requires("/cert/x");
});
