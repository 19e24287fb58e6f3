//! `epa policy table`: the exhaustive decision table, printed by the core.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::process::Command;

fn epa(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_epa"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn csv_without_filters_is_the_published_table() {
    let (code, stdout, _) = epa(&["policy", "table", "--csv"]);
    assert_eq!(code, 0);
    let published = include_str!("../../../docs/decision-table.csv");
    assert!(
        stdout == published,
        "epa policy table --csv differs from docs/decision-table.csv"
    );
}

#[test]
fn filters_keep_rows_whose_cell_is_the_value_or_a_star() {
    let (code, stdout, _) = epa(&[
        "policy",
        "table",
        "--csv",
        "profile=dotnet-legacy",
        "transport=https",
        "binding=not-checked",
        "server_ep=yes",
        "enforcement=always",
        "scenario=transport-selected",
        "iis-flags=none",
        "mechanism=ntlm",
    ]);
    assert_eq!(code, 0);
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    assert!(!rows.is_empty());
    for row in &rows {
        let cells: Vec<&str> = row.split(',').collect();
        assert!(matches!(cells[0], "dotnet-legacy" | "*"), "{row}");
        assert!(matches!(cells[7], "https" | "*"), "{row}");
    }
    // §4.6 row 6: the legacy code fails open.
    assert!(
        rows.iter()
            .any(|r| r.ends_with("accept,,binding-unavailable-fail-open,client")),
        "{stdout}"
    );
    let (code, text, _) = epa(&["policy", "table", "profile=iis", "names=none"]);
    assert_eq!(code, 0);
    assert!(text.starts_with("profile "), "{text}");
    assert!(
        text.trim_end()
            .ends_with("(a * cell stands for every value of its column)")
    );
}

#[test]
fn unknown_columns_and_values_are_refused() {
    for filter in ["colour=blue", "profile=windows", "profile"] {
        let (code, _, stderr) = epa(&["policy", "table", filter]);
        assert_eq!(code, 1, "{filter}");
        assert!(stderr.starts_with("error: filter"), "{stderr}");
    }
}
