//! Any text as a decision log (`epa audit-report`): counted, never a panic; the counts hold
//! together.
#![no_main]
use epa_cli::audit_report::AuditReport;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let r = AuditReport::from_log(&text);
    assert!(r.not_json <= r.lines && r.decisions <= r.lines);
    assert!(r.would_reject <= r.audited && r.audited <= r.decisions);
    for rows in [&r.by_reason, &r.by_mechanism, &r.by_client, &r.by_user] {
        assert_eq!(rows.iter().map(|c| c.count).sum::<usize>(), r.would_reject);
    }
    for rows in [&r.ntlm_by_user_and_client, &r.ntlm_by_client] {
        assert_eq!(rows.iter().map(|c| c.count).sum::<usize>(), r.ntlm_logins);
    }
    assert!(r.ntlm_logins <= r.decisions);
});
