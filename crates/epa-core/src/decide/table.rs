//! The exhaustive decision table: [`decide`] over every combination of the
//! axes in [`AXES`], compressed into rows where a `*` cell stands for every value of its column
//! (written only when all of them give the same outcome). docs/decision-table.csv is this
//! table, produced independently by the oracle in `crates/epa-core/tests/oracle/`; the test
//! `decision_oracle` holds the two equal. `epa policy table` prints it.

use super::{
    BindingObservation, ClientServiceName, Mechanism, Profile, RequestFacts, ServerPolicy,
    Transport, decide,
};
use crate::policy::{
    ExtendedProtectionPolicy, IisExtendedProtection, IisFlags, PolicyEnforcement, PolicyError,
    ProtectionScenario, TokenChecking,
};
use crate::spn::ServiceNameCollection;
use std::collections::BTreeMap;

/// The columns that describe a case, in CSV order, with their values.
pub const AXES: [(&str, &[&str]); 11] = [
    (
        "profile",
        &["documented", "dotnet-legacy", "dotnet8", "iis"],
    ),
    ("enforcement", &["never", "when-supported", "always"]),
    ("scenario", &["transport-selected", "trusted-proxy"]),
    ("names", &["custom", "default", "none"]),
    (
        "iis_flags",
        &["none", "no-service-name-check", "proxy-cohosting"],
    ),
    ("proxy_pin", &["no", "yes"]),
    ("server_ep", &["yes", "no"]),
    ("transport", &["https", "http"]),
    ("mechanism", &["ntlm", "kerberos", "other"]),
    (
        "binding",
        &["match", "mismatch", "absent", "unbound", "not-checked"],
    ),
    (
        "client_spn",
        &[
            "none",
            "empty",
            "listed",
            "listed-by-case",
            "http-localhost",
            "unlisted",
            "dotless",
            "with-port",
        ],
    ),
];

/// The columns that describe the outcome, in CSV order.
pub const OUTCOME_COLUMNS: [&str; 4] = ["outcome", "status", "reason", "service_name"];

/// The one name the policy lists (custom names), or the listener's default names give.
pub const LISTED: &str = "HTTP/www.contoso.com";

/// The client SPN a `client_spn` class stands for (`None` for `none`).
pub fn client_spn_text(class: &str) -> Option<&'static str> {
    Some(match class {
        "empty" => "",
        "listed" => LISTED,
        "listed-by-case" => "http/WWW.Contoso.COM",
        "http-localhost" => "http/localhost",
        "unlisted" => "HTTP/evil.example",
        "dotless" => "HTTP/www",
        "with-port" => "HTTP/www.contoso.com:443",
        _ => return None,
    })
}

/// One case: a value index per axis.
type Case = [usize; 11];

/// One cell per column: a value of [`AXES`], or `*`.
pub type Key = [&'static str; 11];

/// The outcome of one case, as the table prints it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Outcome {
    /// `accept`, `reject`, or `config-error` (the server policy cannot be built).
    pub outcome: &'static str,
    /// The status of a rejection.
    pub status: Option<u16>,
    /// The [`Reason::code`](super::Reason::code), or the configuration error's code.
    pub reason: &'static str,
    /// `client` (the decision reports the client's SPN as it came), `null` (it reports none
    /// although the client sent one), or empty for a config error.
    pub service_name: &'static str,
}

/// One row of the compressed table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The case's cells.
    pub key: Key,
    /// What every case the row stands for decides.
    pub outcome: Outcome,
}

impl Row {
    /// Whether every `(column, value)` filter matches (a `*` cell matches any value).
    pub fn matches(&self, filters: &[(usize, &str)]) -> bool {
        filters
            .iter()
            .all(|(col, v)| self.key[*col] == "*" || self.key[*col] == *v)
    }

    /// The row as one CSV line (no newline).
    pub fn csv(&self) -> String {
        let status = self
            .outcome
            .status
            .map(|s| s.to_string())
            .unwrap_or_default();
        let mut cells: Vec<&str> = self.key.to_vec();
        cells.extend([self.outcome.outcome, &status, self.outcome.reason]);
        cells.push(self.outcome.service_name);
        cells.join(",")
    }
}

/// The code of a configuration the table's axes can make unbuildable.
fn error_code(e: &PolicyError) -> &'static str {
    match e {
        PolicyError::NoServiceNames => "no-service-names",
        PolicyError::HttpSysFlagsNeedIisProfile { .. } => "http-sys-flags-need-iis-profile",
        PolicyError::ProxyCohostingWithoutProxy => "proxy-cohosting-without-proxy",
        _ => "other-config-error",
    }
}

/// The server a case describes (axes 0–5).
fn server(case: &Case) -> Result<ServerPolicy, PolicyError> {
    let profile = [
        Profile::Documented,
        Profile::DotnetLegacy,
        Profile::Dotnet8,
        Profile::Iis,
    ][case[0]];
    let enforcement = [
        PolicyEnforcement::Never,
        PolicyEnforcement::WhenSupported,
        PolicyEnforcement::Always,
    ][case[1]];
    let trusted_proxy = case[2] == 1;
    let scenario = if trusted_proxy {
        ProtectionScenario::TrustedProxy
    } else {
        ProtectionScenario::TransportSelected
    };
    let custom = case[3] == 0;
    let defaults = if case[3] == 2 {
        ServiceNameCollection::default()
    } else {
        ServiceNameCollection::new([LISTED])?
    };
    let policy = if case[4] != 0 {
        let iis = IisExtendedProtection {
            token_checking: [
                TokenChecking::None,
                TokenChecking::Allow,
                TokenChecking::Require,
            ][case[1]],
            flags: IisFlags {
                proxy: trusted_proxy,
                no_service_name_check: case[4] == 1,
                allow_dotless_spn: false,
                proxy_cohosting: case[4] == 2,
            },
            spns: if custom {
                vec![LISTED.to_owned()]
            } else {
                vec![]
            },
        };
        iis.to_policy()?
    } else if enforcement == PolicyEnforcement::Never {
        ExtendedProtectionPolicy::never()
    } else if custom {
        ExtendedProtectionPolicy::with_service_names(enforcement, scenario, [LISTED])?
    } else {
        ExtendedProtectionPolicy::new(enforcement, scenario, None)?
    };
    let server = ServerPolicy::new(policy, &defaults, profile)?;
    Ok(if case[5] == 1 {
        server.with_proxy_binding_verification()
    } else {
        server
    })
}

/// What one authentication reports (axes 6–10).
fn facts(case: &Case) -> RequestFacts {
    RequestFacts {
        server_supports_ep: case[6] == 0,
        transport: [Transport::Https, Transport::Http][case[7]],
        mechanism: [Mechanism::Ntlm, Mechanism::Kerberos, Mechanism::Other][case[8]],
        channel_binding: [
            BindingObservation::Match,
            BindingObservation::Mismatch,
            BindingObservation::Absent,
            BindingObservation::Unbound,
            BindingObservation::NotChecked,
        ][case[9]],
        client_spn: ClientServiceName::from_option(client_spn_text(AXES[10].1[case[10]])),
    }
}

/// What `decide` makes of one authentication under a server (or the server's error).
fn outcome(server: &Result<ServerPolicy, PolicyError>, facts: &RequestFacts) -> Outcome {
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            return Outcome {
                outcome: "config-error",
                status: None,
                reason: error_code(e),
                service_name: "",
            };
        }
    };
    let d = decide(server, facts);
    Outcome {
        outcome: if d.is_accept() { "accept" } else { "reject" },
        status: d.status(),
        reason: d.reason().code(),
        service_name: if *d.service_name() == facts.client_spn {
            "client"
        } else {
            "null"
        },
    }
}

/// Every case, decided: the full table before compression, in axis order.
pub fn full() -> Vec<(Case, Outcome)> {
    let sizes: Vec<usize> = AXES.iter().map(|(_, v)| v.len()).collect();
    let mut out = Vec::new();
    let mut case: Case = [0; 11];
    loop {
        // one server (columns 0–5), built once for every request (columns 6–10)
        let s = server(&case);
        loop {
            out.push((case, outcome(&s, &facts(&case))));
            if !advance(&mut case, &sizes, 6..11) {
                break;
            }
        }
        if !advance(&mut case, &sizes, 0..6) {
            return out;
        }
    }
}

/// Advances the odometer over `cols`, last column fastest; false when it wraps to zero.
fn advance(case: &mut Case, sizes: &[usize], cols: std::ops::Range<usize>) -> bool {
    for i in cols.rev() {
        case[i] += 1;
        if case[i] < sizes[i] {
            return true;
        }
        case[i] = 0;
    }
    false
}

/// The compressed table, in the CSV's order: one column at a time, last first, a group of
/// cases that differ only in that column and agree on the outcome becomes one `*` row.
pub fn rows() -> Vec<Row> {
    const STAR: usize = usize::MAX;
    let mut rows: BTreeMap<Case, Outcome> = full().into_iter().collect();
    for col in (0..AXES.len()).rev() {
        let domain = AXES[col].1.len();
        let mut groups: BTreeMap<Case, Vec<(usize, Outcome)>> = BTreeMap::new();
        for (case, out) in rows {
            let mut rest = case;
            rest[col] = STAR;
            groups.entry(rest).or_default().push((case[col], out));
        }
        rows = BTreeMap::new();
        for (rest, members) in groups {
            let uniform = members.iter().all(|(_, o)| *o == members[0].1);
            if members.len() == domain && uniform {
                rows.insert(rest, members[0].1.clone());
            } else {
                for (v, out) in members {
                    let mut case = rest;
                    case[col] = v;
                    rows.insert(case, out);
                }
            }
        }
    }
    // BTreeMap order is the CSV's: values in axis order, `*` (usize::MAX) last.
    rows.into_iter()
        .map(|(case, outcome)| {
            let mut key: Key = ["*"; 11];
            for (i, v) in case.iter().enumerate() {
                if *v != STAR {
                    key[i] = AXES[i].1[*v];
                }
            }
            Row { key, outcome }
        })
        .collect()
}

/// The CSV header line (no newline).
pub fn csv_header() -> String {
    let mut cols: Vec<&str> = AXES.iter().map(|(n, _)| *n).collect();
    cols.extend(OUTCOME_COLUMNS);
    cols.join(",")
}

/// The whole compressed table as CSV, as docs/decision-table.csv holds it.
pub fn csv() -> String {
    let mut out = csv_header();
    out.push('\n');
    for row in rows() {
        out.push_str(&row.csv());
        out.push('\n');
    }
    out
}
