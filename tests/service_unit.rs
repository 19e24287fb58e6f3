//! `packaging/deb/epa.service`, the systemd unit the Debian package installs (issue #20 item 15,
//! #23): the Kerberos replay cache survives a restart, winbind's privileged pipe is reachable,
//! and systemd itself accepts the file. scripts/check-deb checks it again as installed.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

const UNIT: &str = include_str!("../packaging/deb/epa.service");

/// The values of `key=` in the unit's active (uncommented) lines.
fn values(key: &str) -> Vec<&'static str> {
    UNIT.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn the_replay_cache_is_kept_across_restarts() {
    // MIT's default replay-cache directory is /var/tmp, which PrivateTmp= empties on restart.
    assert_eq!(values("PrivateTmp"), ["yes"]);
    let env = values("Environment");
    let dir = env
        .iter()
        .find_map(|e| e.strip_prefix("KRB5RCACHEDIR="))
        .expect("KRB5RCACHEDIR is set");
    assert!(
        !dir.starts_with("/tmp") && !dir.starts_with("/var/tmp"),
        "{dir}"
    );
    // A directory systemd keeps for the user across restarts: state, not a cache (`systemctl
    // clean --what=cache` must not empty it).
    let name = dir.strip_prefix("/var/lib/").expect("under /var/lib");
    assert_eq!(values("StateDirectory"), [name]);
    assert!(values("CacheDirectory").is_empty());
}

#[test]
fn winbind_privileged_group_is_documented() {
    assert!(
        UNIT.lines()
            .any(|l| l.trim_start_matches('#').trim() == "SupplementaryGroups=winbindd_priv"),
        "the winbind backend needs winbindd_priv"
    );
}

#[test]
fn systemd_accepts_the_unit() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    if !analyze.exists() {
        eprintln!("systemd-analyze not installed: unit not verified by systemd");
        return;
    }
    // The unit names /usr/bin/epa, which verify wants to exist: any executable will do.
    let dir = std::env::temp_dir().join(format!("epa-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unit = dir.join("epa.service");
    let text = UNIT.replace("/usr/bin/epa", "/bin/true");
    std::fs::write(&unit, text).unwrap();
    let out = std::process::Command::new(analyze)
        .arg("verify")
        // Documentation=man:epa-serve(1) exists once the package is installed (scripts/check-deb
        // verifies the installed unit with its pages); here the source tree has none.
        .arg("--man=no")
        .arg(&unit)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Without a running systemd (a container), verify may only complain about the manager.
    let unit_problems: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("epa.service"))
        .collect();
    assert!(unit_problems.is_empty(), "{stderr}");
}
