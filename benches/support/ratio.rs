//! Reads criterion's estimates for this run and prints each benchmark as a ratio to its limit.
//! Shared by the bench binaries (`#[path]`-included).

use std::path::PathBuf;

fn criterion_dir() -> PathBuf {
    if let Ok(home) = std::env::var("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// Time per iteration in nanoseconds of `group/function/parameter` from this run's estimates:
/// the regression slope criterion prints as `time:`, or the median when there is no slope.
pub fn median_ns(id: &str) -> Option<f64> {
    let path = criterion_dir().join(id).join("new").join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| v["median"]["point_estimate"].as_f64())
}

/// Prints `name: a / b = ratio (goal ≤ goal)`, and whether the goal holds (no goal when it is
/// infinite: a number to report, not a limit).
pub fn report(name: &str, measured: &str, limit: &str, goal: f64) {
    match (median_ns(measured), median_ns(limit)) {
        (Some(a), Some(b)) if b > 0.0 => {
            let r = a / b;
            if goal.is_infinite() {
                println!("ratio {name}: {measured} {a:.1} ns / {limit} {b:.1} ns = {r:.3}");
                return;
            }
            let verdict = if r <= goal { "meets" } else { "MISSES" };
            println!(
                "ratio {name}: {measured} {a:.1} ns / {limit} {b:.1} ns = {r:.3} ({verdict} goal <= {goal})"
            );
        }
        _ => println!("ratio {name}: not measured in this run ({measured} vs {limit})"),
    }
}
