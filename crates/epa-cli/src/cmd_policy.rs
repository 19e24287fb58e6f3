//! `epa policy eval` and `epa policy test`: scenario files decided like .NET and IIS;
//! `epa policy table`: the exhaustive decision table.

use crate::{Failure, read};
use epa_cli::scenario::{CaseResult, Expectation, Scenario};
use epa_core::decide::table::{self, AXES, OUTCOME_COLUMNS};
use std::path::Path;

fn load(file: &Path) -> Result<Scenario, Failure> {
    let bytes = read(file)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| Failure::from(format!("{}: not UTF-8: {e}", file.display())))?;
    Scenario::parse(&text).map_err(|e| Failure::from(format!("{}: {e}", file.display())))
}

pub(crate) fn run_eval(file: &Path, json: bool) -> Result<u8, Failure> {
    let scenario = load(file)?;
    let results = scenario.evaluate();
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(0);
    }
    println!(
        "policy: {} (profile {})",
        scenario.server.policy(),
        scenario.server.profile().name()
    );
    if let Some(target) = &scenario.target {
        println!("audit target: {}", target.policy());
    }
    for r in &results {
        println!("{}", human(r));
    }
    Ok(0)
}

fn human(r: &CaseResult) -> String {
    let outcome = match (r.decision, r.status) {
        (Expectation::Accept, _) => "accept".to_owned(),
        (Expectation::Reject, Some(s)) => format!("reject {s}"),
        (Expectation::Reject, None) => "reject".to_owned(),
    };
    let name = match &r.service_name {
        None => "none".to_owned(),
        Some(s) => format!("{s:?}"),
    };
    let mut text = format!(
        "{:<10} {}\n           reason {}: {}\n           service name: {}",
        outcome, r.name, r.reason, r.message, name
    );
    if let Some(t) = &r.target {
        text.push_str(&format!(
            "\n           target: {} ({}){}",
            match t.decision {
                Expectation::Accept => "accept",
                Expectation::Reject => "reject",
            },
            t.reason,
            if t.would_reject {
                " — would-be rejection"
            } else {
                ""
            }
        ));
    }
    text
}

pub(crate) fn run_test(file: &Path) -> Result<u8, Failure> {
    let scenario = load(file)?;
    if let Some(case) = scenario.cases_without_expectation().next() {
        return Err(Failure::from(format!(
            "{}: case '{}' has no expect, expect_service_name, expect_no_service_name, expect_reason, expect_status or expect_target*",
            file.display(),
            case.name
        )));
    }
    if scenario.cases.is_empty() {
        return Err(Failure::from(format!(
            "{}: no [[case]] entries",
            file.display()
        )));
    }
    let results = scenario.evaluate();
    let mut failed = 0;
    for (case, r) in scenario.cases.iter().zip(&results) {
        let failures = case.failures(r);
        if failures.is_empty() {
            println!("ok   {}", case.name);
        } else {
            failed += 1;
            println!("FAIL {}: {}", case.name, failures.join("; "));
        }
    }
    println!("{} passed, {} failed", results.len() - failed, failed);
    Ok(if failed == 0 { 0 } else { 1 })
}

/// `COLUMN=VALUE` filters as (column index, value), refusing unknown columns and values.
fn parse_filters(filters: &[String]) -> Result<Vec<(usize, &str)>, Failure> {
    filters
        .iter()
        .map(|f| {
            let (col, value) = f
                .split_once('=')
                .ok_or_else(|| Failure::from(format!("filter '{f}': expected COLUMN=VALUE")))?;
            let i = AXES
                .iter()
                .position(|(name, _)| *name == col.replace('-', "_"))
                .ok_or_else(|| {
                    let names: Vec<&str> = AXES.iter().map(|(n, _)| *n).collect();
                    Failure::from(format!(
                        "filter '{f}': unknown column (one of {})",
                        names.join(", ")
                    ))
                })?;
            if !AXES[i].1.contains(&value) {
                return Err(Failure::from(format!(
                    "filter '{f}': unknown value (one of {})",
                    AXES[i].1.join(", ")
                )));
            }
            Ok((i, value))
        })
        .collect()
}

pub(crate) fn run_table(filters: &[String], csv: bool) -> Result<u8, Failure> {
    let filters = parse_filters(filters)?;
    let rows: Vec<table::Row> = table::rows()
        .into_iter()
        .filter(|r| r.matches(&filters))
        .collect();
    if csv {
        println!("{}", table::csv_header());
        for r in &rows {
            println!("{}", r.csv());
        }
        return Ok(0);
    }
    let header: Vec<&str> = AXES
        .iter()
        .map(|(n, _)| *n)
        .chain(OUTCOME_COLUMNS)
        .collect();
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.csv().split(',').map(str::to_owned).collect())
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].len())
                .fold(header[i].len(), usize::max)
        })
        .collect();
    let pad = |cells: Vec<&str>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join(" ").trim_end().to_owned()
    };
    println!("{}", pad(header));
    for l in &lines {
        println!("{}", pad(l.iter().map(String::as_str).collect()));
    }
    println!(
        "{} rows (a * cell stands for every value of its column)",
        rows.len()
    );
    Ok(0)
}
