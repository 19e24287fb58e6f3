//! `epa audit-report`: who would break under the target policy, from the JSON decision events
//! the adapter logs (`tracing-subscriber`'s JSON format, one object per line; the fields are
//! documented in `epa_hyper::telemetry`).
//!
//! Lines that are not JSON objects, or not decision events, are counted and skipped: a log file
//! holds other things too. A would-be rejection is an event whose `audit` field is
//! `would-reject`; it is counted by the target's reason (`audit_reason`), by client address
//! (the `peer` field without its port) and by user (`principal`).

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
    /// By client address.
    pub by_client: Vec<Count>,
    /// By user (`(none)` where no user was authenticated, e.g. client certificates).
    pub by_user: Vec<Count>,
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
        let mut by_client = Tally::default();
        let mut by_user = Tally::default();
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
            if field(&event, "decision").is_none() {
                continue;
            }
            r.decisions += 1;
            let Some(audit) = field(&event, "audit") else {
                continue;
            };
            r.audited += 1;
            if audit != "would-reject" {
                continue;
            }
            r.would_reject += 1;
            by_reason.add(field(&event, "audit_reason").unwrap_or("(unknown)"));
            by_client.add(field(&event, "peer").map_or("(unknown)", address_of));
            by_user.add(field(&event, "principal").unwrap_or("(none)"));
        }
        r.by_reason = by_reason.sorted();
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
}
