//! Any string as a service name: normalisation is idempotent and a name is in its own collection.
#![no_main]
use epa_core::spn::{self, ServiceNameCollection};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let once = spn::normalize(s);
    assert_eq!(spn::normalize(&once), once, "normalisation must be idempotent");
    let _ = spn::parts(s);
    let _ = spn::host_kind(s);
    let names: Vec<&str> = s.split('\n').collect();
    if let Ok(c) = ServiceNameCollection::new(&names) {
        for n in &names {
            assert!(c.contains(n), "{n:?} not in its own collection");
        }
        assert!(c.len() <= names.len());
    }
    let _ = epa_core::prefix::default_service_names(&names, &epa_core::prefix::NoResolver);
});
