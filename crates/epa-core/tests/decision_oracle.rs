//! `decide()` against the second oracle: docs/decision-table.csv, written by the model in
//! `tests/oracle/decision_oracle.py` from docs/windows-semantics.md alone.
//!
//! * `every_case_of_the_published_table`: every row, `*` expanded to every value of its
//!   column, is built here (policy, server, facts — not through `decide::table`) and decided;
//!   the outcome, status, reason code and reported service name must be the row's.
//! * `the_core_prints_the_published_table` (here, cheap: the row count) and epa-cli's
//!   `policy_table.rs` (byte for byte): `epa_core::decide::table` computes the committed file.
//! * `the_oracle_still_writes_the_published_table`: the model, run with target/pyenv's Python
//!   (or `python3`), prints the committed file (skipped, with a note, when neither exists).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use epa_core::decide::table::{AXES, client_spn_text};
use epa_core::decide::{BindingObservation, ClientServiceName, Mechanism, Profile, Transport};
use epa_core::policy::{IisExtendedProtection, IisFlags, TokenChecking};
use epa_core::{
    Decision, ExtendedProtectionPolicy, PolicyEnforcement as Pe, PolicyError,
    ProtectionScenario as Ps, RequestFacts, ServerPolicy, ServiceNameCollection, decide,
};
use std::collections::HashMap;
use std::path::PathBuf;

const LISTED: &str = "HTTP/www.contoso.com";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn published() -> String {
    std::fs::read_to_string(repo().join("docs/decision-table.csv")).unwrap()
}

/// The server of one expanded case, built from the column values by name.
fn server(c: &HashMap<&str, &str>) -> Result<ServerPolicy, PolicyError> {
    let profile = match c["profile"] {
        "documented" => Profile::Documented,
        "dotnet-legacy" => Profile::DotnetLegacy,
        "dotnet8" => Profile::Dotnet8,
        "iis" => Profile::Iis,
        p => panic!("profile {p}"),
    };
    let (pe, tc) = match c["enforcement"] {
        "never" => (Pe::Never, TokenChecking::None),
        "when-supported" => (Pe::WhenSupported, TokenChecking::Allow),
        "always" => (Pe::Always, TokenChecking::Require),
        e => panic!("enforcement {e}"),
    };
    let proxy = c["scenario"] == "trusted-proxy";
    let ps = if proxy {
        Ps::TrustedProxy
    } else {
        Ps::TransportSelected
    };
    let custom = c["names"] == "custom";
    let defaults = match c["names"] {
        "none" => ServiceNameCollection::default(),
        _ => ServiceNameCollection::new([LISTED]).unwrap(),
    };
    let policy = match c["iis_flags"] {
        "none" if pe == Pe::Never => ExtendedProtectionPolicy::never(),
        "none" if custom => ExtendedProtectionPolicy::with_service_names(pe, ps, [LISTED])?,
        "none" => ExtendedProtectionPolicy::new(pe, ps, None)?,
        flag => IisExtendedProtection {
            token_checking: tc,
            flags: IisFlags {
                proxy,
                no_service_name_check: flag == "no-service-name-check",
                allow_dotless_spn: false,
                proxy_cohosting: flag == "proxy-cohosting",
            },
            spns: if custom { vec![LISTED.into()] } else { vec![] },
        }
        .to_policy()?,
    };
    let s = ServerPolicy::new(policy, &defaults, profile)?;
    Ok(if c["proxy_pin"] == "yes" {
        s.with_proxy_binding_verification()
    } else {
        s
    })
}

fn facts(c: &HashMap<&str, &str>) -> RequestFacts {
    RequestFacts {
        transport: match c["transport"] {
            "https" => Transport::Https,
            _ => Transport::Http,
        },
        mechanism: match c["mechanism"] {
            "ntlm" => Mechanism::Ntlm,
            "kerberos" => Mechanism::Kerberos,
            _ => Mechanism::Other,
        },
        server_supports_ep: c["server_ep"] == "yes",
        channel_binding: match c["binding"] {
            "match" => BindingObservation::Match,
            "mismatch" => BindingObservation::Mismatch,
            "absent" => BindingObservation::Absent,
            "unbound" => BindingObservation::Unbound,
            _ => BindingObservation::NotChecked,
        },
        client_spn: ClientServiceName::from_option(client_spn_text(c["client_spn"])),
    }
}

/// `[outcome, status, reason, service_name]` as the CSV writes them.
fn observed(s: &Result<ServerPolicy, PolicyError>, c: &HashMap<&str, &str>) -> [String; 4] {
    let s = match s {
        Ok(s) => s,
        Err(e) => {
            let code = match *e {
                PolicyError::NoServiceNames => "no-service-names",
                PolicyError::HttpSysFlagsNeedIisProfile { .. } => "http-sys-flags-need-iis-profile",
                PolicyError::ProxyCohostingWithoutProxy => "proxy-cohosting-without-proxy",
                ref other => panic!("unexpected configuration error {other:?}"),
            };
            return [
                "config-error".into(),
                String::new(),
                code.into(),
                String::new(),
            ];
        }
    };
    let f = facts(c);
    let d = decide(s, &f);
    let (outcome, status) = match &d {
        Decision::Accept { .. } => ("accept", String::new()),
        Decision::Reject { status, .. } => ("reject", status.to_string()),
    };
    let sn = if *d.service_name() == f.client_spn {
        "client"
    } else {
        "null"
    };
    [outcome.into(), status, d.reason().code().into(), sn.into()]
}

/// Every case a row stands for: `*` expanded, as column values.
fn expand(cells: &[&'static str]) -> Vec<[&'static str; 11]> {
    let mut cases = vec![[""; 11]];
    for (i, cell) in cells.iter().enumerate() {
        let values: &[&'static str] = if *cell == "*" {
            AXES[i].1
        } else {
            let v = AXES[i].1.iter().position(|v| v == cell);
            let v = v.unwrap_or_else(|| panic!("column {}: {cell}", AXES[i].0));
            &AXES[i].1[v..=v]
        };
        cases = cases
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c;
                    c[i] = v;
                    c
                })
            })
            .collect();
    }
    cases
}

#[test]
fn every_case_of_the_published_table() {
    let text: &'static str = published().leak();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let axes: Vec<&str> = AXES.iter().map(|(n, _)| *n).collect();
    assert_eq!(&header[..AXES.len()], &axes[..], "columns");
    let total: usize = AXES.iter().map(|(_, v)| v.len()).product();
    let mut seen = std::collections::HashSet::new();
    let mut disagreements = Vec::new();
    let mut servers: HashMap<Vec<&str>, Result<ServerPolicy, PolicyError>> = HashMap::new();
    for line in lines {
        let cells: Vec<&'static str> = line.split(',').collect();
        assert_eq!(cells.len(), header.len(), "{line}");
        let (key, want) = cells.split_at(AXES.len());
        for case in expand(key) {
            assert!(seen.insert(case), "case twice: {case:?}");
            let c: HashMap<&str, &str> = axes.iter().copied().zip(case).collect();
            let s = servers
                .entry(case[..6].to_vec())
                .or_insert_with(|| server(&c));
            let got = observed(s, &c);
            if got.iter().map(String::as_str).ne(want.iter().copied()) {
                disagreements.push(format!(
                    "{}: oracle {want:?}, decide {got:?}",
                    case.join(",")
                ));
            }
        }
    }
    assert_eq!(seen.len(), total, "the table covers every combination");
    assert!(
        disagreements.is_empty(),
        "{} disagreements, first ones:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(20)].join("\n")
    );
}

#[test]
fn the_core_prints_the_published_table() {
    let rows = epa_core::decide::table::rows();
    assert_eq!(rows.len() + 1, published().lines().count());
    assert_eq!(
        epa_core::decide::table::csv_header(),
        published().lines().next().unwrap()
    );
}

#[test]
fn the_oracle_still_writes_the_published_table() {
    let venv = repo().join("target/pyenv/bin/python");
    let python = if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    };
    let script = repo().join("crates/epa-core/tests/oracle/decision_oracle.py");
    let out = match std::process::Command::new(&python).arg(&script).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("note: no Python ({e}); the oracle was not re-run");
            return;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8(out.stdout).unwrap() == published(),
        "the oracle's output differs from docs/decision-table.csv: regenerate it and resolve every difference"
    );
}
