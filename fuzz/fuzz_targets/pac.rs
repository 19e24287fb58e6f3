//! Any bytes as a whole PAC and as one logon-information buffer: the parser never panics, and
//! what it accepts is consistent.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for info in [
        epa_core::pac::parse_pac(data),
        epa_core::pac::parse_logon_info(data),
    ]
    .into_iter()
    .flatten()
    {
        assert!(info.user_sid.rid().is_some());
        assert!(info.groups.contains(&info.primary_group_sid));
        assert!(info.user_sid.to_string().parse::<epa_core::Sid>().is_ok());
    }
});
