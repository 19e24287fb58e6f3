//! `epa audit-report`: who would break under the target policy, from the JSON decision events
//! the adapter logs (`tracing-subscriber`'s JSON format, one object per line; the fields are
//! documented in `epa_hyper::telemetry`).
//!
//! Lines that are not JSON objects, or not decision events, are counted and skipped: a log file
//! holds other things too. A would-be rejection is an event whose `audit` field is
//! `would-reject`; it is counted by the target's reason (`audit_reason`), by mechanism, by
//! client address (the `peer` field without its port) and by user (`principal`). Audit events
//! that are not decisions (`weak-enctype` warnings) are counted apart, by reason.
//!
//! Apart from any audit: every accepted NTLM login, by user and by client address, and by the
//! pair — "who still uses NTLM, from where", the first step of moving to Kerberos
//! (docs/moving-to-kerberos.md).

use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// Counts, most affected first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditReport {
    /// Lines read.
    pub lines: usize,
    /// Lines that are not JSON objects.
    pub not_json: usize,
    /// Decision events (with a `decision` field).
    pub decisions: usize,
    /// Decision events made in audit mode (with an `audit` field).
    pub audited: usize,
    /// Would-be rejections.
    pub would_reject: usize,
    /// By the target's reason.
    pub by_reason: Vec<Count>,
    /// By mechanism (`ntlm`, `kerberos`, `other`; `(unknown)` where the event has none).
    pub by_mechanism: Vec<Count>,
    /// By client address.
    pub by_client: Vec<Count>,
    /// By user (`(none)` where no user was authenticated, e.g. client certificates).
    pub by_user: Vec<Count>,
    /// Audit events that are not decisions (a `weak-enctype` warning), by reason.
    pub audit_warnings: Vec<Count>,
    /// Accepted NTLM logins, audited or not.
    pub ntlm_logins: usize,
    /// Accepted NTLM logins by user and client address (`CORP\bob from 10.0.0.5`).
    pub ntlm_by_user_and_client: Vec<Count>,
    /// Accepted NTLM logins by client address.
    pub ntlm_by_client: Vec<Count>,
}

/// One row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    /// The reason, address or user.
    pub key: String,
    /// How many would-be rejections.
    pub count: usize,
}

#[derive(Default)]
struct Tally(HashMap<String, usize>);

impl Tally {
    fn add(&mut self, key: &str) {
        *self.0.entry(key.to_owned()).or_default() += 1;
    }

    /// Most first; ties by key, so the report is deterministic.
    fn sorted(self) -> Vec<Count> {
        let mut v: Vec<Count> = self
            .0
            .into_iter()
            .map(|(key, count)| Count { key, count })
            .collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        v
    }
}

/// The client's address without the port: `10.0.0.5:51234` → `10.0.0.5`,
/// `[::1]:443` → `::1`; anything else as it is.
pub fn address_of(peer: &str) -> &str {
    if let Some(rest) = peer.strip_prefix('[')
        && let Some((addr, _)) = rest.split_once(']')
    {
        return addr;
    }
    match peer.rsplit_once(':') {
        Some((addr, port)) if !addr.contains(':') && port.parse::<u16>().is_ok() => addr,
        _ => peer,
    }
}

fn field<'a>(event: &'a Value, name: &str) -> Option<&'a str> {
    // tracing-subscriber's JSON puts event fields under "fields" (or at the top level with
    // `flatten_event(true)`).
    event
        .get("fields")
        .and_then(|f| f.get(name))
        .or_else(|| event.get(name))
        .and_then(Value::as_str)
}

impl AuditReport {
    /// Reads a whole log.
    pub fn from_log(text: &str) -> Self {
        let mut by_reason = Tally::default();
        let mut by_mechanism = Tally::default();
        let mut by_client = Tally::default();
        let mut by_user = Tally::default();
        let mut warnings = Tally::default();
        let mut ntlm_pairs = Tally::default();
        let mut ntlm_clients = Tally::default();
        let mut r = Self::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            r.lines += 1;
            let Ok(event) = serde_json::from_str::<Value>(line) else {
                r.not_json += 1;
                continue;
            };
            if !event.is_object() {
                r.not_json += 1;
                continue;
            }
            let Some(decision) = field(&event, "decision") else {
                if field(&event, "audit") == Some("would-reject") {
                    warnings.add(field(&event, "audit_reason").unwrap_or("(unknown)"));
                }
                continue;
            };
            r.decisions += 1;
            let client = field(&event, "peer").map_or("(unknown)", address_of);
            if decision == "accept" && field(&event, "mechanism") == Some("ntlm") {
                r.ntlm_logins += 1;
                let user = field(&event, "principal").unwrap_or("(none)");
                ntlm_pairs.add(&format!("{user} from {client}"));
                ntlm_clients.add(client);
            }
            let Some(audit) = field(&event, "audit") else {
                continue;
            };
            r.audited += 1;
            if audit != "would-reject" {
                continue;
            }
            r.would_reject += 1;
            by_reason.add(field(&event, "audit_reason").unwrap_or("(unknown)"));
            by_mechanism.add(field(&event, "mechanism").unwrap_or("(unknown)"));
            by_client.add(client);
            by_user.add(field(&event, "principal").unwrap_or("(none)"));
        }
        r.by_reason = by_reason.sorted();
        r.by_mechanism = by_mechanism.sorted();
        r.audit_warnings = warnings.sorted();
        r.ntlm_by_user_and_client = ntlm_pairs.sorted();
        r.ntlm_by_client = ntlm_clients.sorted();
        r.by_client = by_client.sorted();
        r.by_user = by_user.sorted();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(fields: &str) -> String {
        format!(
            r#"{{"timestamp":"2026-11-22T10:00:00Z","level":"INFO","fields":{{"message":"m",{fields}}},"target":"epa"}}"#
        )
    }

    #[test]
    fn counts_would_be_rejections_most_affected_first() {
        let log = [
            event(r#""decision":"accept","reason":"binding-absent-allowed","audit":"would-reject","audit_reason":"binding-absent","peer":"10.0.0.5:5000","principal":"CORP\\bob""#),
            event(r#""decision":"accept","reason":"binding-absent-allowed","audit":"would-reject","audit_reason":"binding-absent","peer":"10.0.0.5:5001","principal":"CORP\\bob""#),
            event(r#""decision":"accept","reason":"binding-absent-allowed","audit":"would-reject","audit_reason":"service-name-not-provided","peer":"[::1]:443","principal":"CORP\\amy""#),
            event(r#""decision":"accept","reason":"binding-verified","audit":"pass","audit_reason":"binding-verified","peer":"10.0.0.6:1","principal":"CORP\\cy""#),
            event(r#""decision":"reject","reason":"binding-mismatch","peer":"10.0.0.7:1""#),
            event(r#""decision":"accept","reason":"client-certificate-not-enforced","audit":"would-reject","audit_reason":"client-certificate-required","peer":"10.0.0.8:9""#),
            r#"{"fields":{"message":"listening"},"target":"epa"}"#.to_owned(),
            "not json at all".to_owned(),
            "[1,2]".to_owned(),
            String::new(),
        ]
        .join("\n");
        let r = AuditReport::from_log(&log);
        assert_eq!(
            (r.lines, r.not_json, r.decisions, r.audited, r.would_reject),
            (9, 2, 6, 5, 4)
        );
        let row = |k: &str, n| Count {
            key: k.into(),
            count: n,
        };
        assert_eq!(
            r.by_reason,
            [
                row("binding-absent", 2),
                row("client-certificate-required", 1),
                row("service-name-not-provided", 1)
            ]
        );
        assert_eq!(
            r.by_client,
            [row("10.0.0.5", 2), row("10.0.0.8", 1), row("::1", 1)]
        );
        assert_eq!(
            r.by_user,
            [row("CORP\\bob", 2), row("(none)", 1), row("CORP\\amy", 1)]
        );
    }

    #[test]
    fn addresses_lose_their_port_only() {
        assert_eq!(address_of("10.0.0.5:51234"), "10.0.0.5");
        assert_eq!(address_of("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(address_of("2001:db8::1"), "2001:db8::1");
        assert_eq!(address_of("host"), "host");
        assert_eq!(address_of("host:notaport"), "host:notaport");
        assert_eq!(address_of("[broken"), "[broken");
    }

    #[test]
    fn flattened_events_are_read_too() {
        let r = AuditReport::from_log(
            r#"{"decision":"accept","audit":"would-reject","audit_reason":"binding-absent","peer":"1.2.3.4:5"}"#,
        );
        assert_eq!(r.would_reject, 1);
        assert_eq!(r.by_client[0].key, "1.2.3.4");
    }

    /// Issue #22: "who still uses NTLM, from where" — accepted NTLM logins whether audited or
    /// not, by user and address; would-be rejections by mechanism (a `target_mechanisms =
    /// ["kerberos"]` audit); a `weak-enctype` warning counted apart from the decisions (the
    /// fuzz target holds would-be rejections to the decisions' sums).
    #[test]
    fn ntlm_logins_by_user_and_address_and_rejections_by_mechanism() {
        let log = [
            event(r#""decision":"accept","reason":"binding-verified","mechanism":"ntlm","peer":"10.0.0.5:1","principal":"CORP\\bob","audit":"would-reject","audit_reason":"mechanism-not-allowed""#),
            event(r#""decision":"accept","reason":"binding-verified","mechanism":"ntlm","peer":"10.0.0.5:2","principal":"CORP\\bob","audit":"would-reject","audit_reason":"mechanism-not-allowed""#),
            event(r#""decision":"accept","reason":"binding-verified","mechanism":"ntlm","peer":"10.0.0.9:2","principal":"CORP\\amy""#),
            event(r#""decision":"accept","reason":"kerberos-validates-service-name","mechanism":"kerberos","peer":"10.0.0.9:3","principal":"amy@CORP.TEST","audit":"pass","audit_reason":"kerberos-validates-service-name""#),
            event(r#""decision":"reject","reason":"mechanism-not-allowed","mechanism":"ntlm","peer":"10.0.0.7:1""#),
            event(r#""audit":"would-reject","audit_reason":"weak-enctype","enctype":"arcfour-hmac""#),
        ]
        .join("\n");
        let r = AuditReport::from_log(&log);
        let row = |k: &str, n| Count {
            key: k.into(),
            count: n,
        };
        assert_eq!((r.decisions, r.audited, r.would_reject), (5, 3, 2));
        assert_eq!(r.ntlm_logins, 3);
        assert_eq!(
            r.ntlm_by_user_and_client,
            [
                row("CORP\\bob from 10.0.0.5", 2),
                row("CORP\\amy from 10.0.0.9", 1)
            ]
        );
        assert_eq!(r.ntlm_by_client, [row("10.0.0.5", 2), row("10.0.0.9", 1)]);
        assert_eq!(r.by_mechanism, [row("ntlm", 2)]);
        assert_eq!(r.by_reason, [row("mechanism-not-allowed", 2)]);
        assert_eq!(r.audit_warnings, [row("weak-enctype", 1)]);
    }
}
