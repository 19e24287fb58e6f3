//! `[backend]`: keys that do not fit its kind, and failed-logon throttling against the
//! directory's own lockout (AD FS's rule that the extranet lockout threshold stay below the Active
//! Directory threshold, so that guesses are stopped by the gateway before the domain controller
//! locks the account).

use super::{Finding, Severity, finding};
use crate::lockout::LockoutMode;
use crate::{BackendKind, ServerConfig};

/// Findings for `[backend]`: the table itself, then its lockout keys.
pub(super) fn backend_findings(config: &ServerConfig, out: &mut Vec<Finding>) {
    table_findings(config, out);
    lockout_findings(config, out);
}

/// Findings for the lockout keys of `[backend]`.
fn lockout_findings(config: &ServerConfig, out: &mut Vec<Finding>) {
    use Severity::*;
    let Some(b) = &config.backend else {
        return;
    };
    let l = &b.lockout;
    if b.kind == BackendKind::Gssapi {
        return;
    }
    if l.lockout == LockoutMode::Off {
        out.push(finding(Warning, "lockout-off",
            "[backend] lockout = \"off\": nothing limits password guessing, and with winbind every guess reaches the domain controller (whose own lockout then locks the account for everyone)".into(),
            "keep lockout = \"smart\", or limit guessing in a front end"));
        return;
    }
    if b.kind != BackendKind::Winbind {
        return;
    }
    match (l.directory_lockout_threshold, l.failures_reaching_directory()) {
        (None, _) => out.push(finding(Warning, "directory-lockout-threshold-unknown",
            "[backend] directory_lockout_threshold is not set: epa cannot check that its lockout stops guesses before the domain's own lockout threshold locks the account in the directory".into(),
            "set directory_lockout_threshold to the domain's \"Account lockout threshold\" (0 when it has none), and keep lockout_observation_window at least its \"Reset account lockout counter after\"")),
        (Some(0), _) => {}
        (Some(d), _) if l.extranet_lockout_threshold == 0 || l.extranet_lockout_threshold >= d => {
            out.push(finding(Warning, "extranet-lockout-not-below-directory",
                format!("extranet_lockout_threshold = {} is not below the directory's lockout threshold {d}: failures from anywhere reach the domain controller until it locks the account for everyone", l.extranet_lockout_threshold),
                "set extranet_lockout_threshold below directory_lockout_threshold (AD FS: ExtranetLockoutThreshold < the AD threshold)"));
        }
        (Some(d), total) if total.is_none_or(|t| t >= d) => {
            out.push(finding(Warning, "lockout-sum-not-below-directory",
                format!("extranet_lockout_threshold + familiar_lockout_threshold ({}) is not below the directory's lockout threshold {d}: an attacker's failures together with the user's own mistakes can still lock the directory account", total.map_or("unbounded".to_string(), |t| t.to_string())),
                "lower familiar_lockout_threshold so that the two thresholds add up to less than directory_lockout_threshold"));
        }
        _ => {}
    }
}

/// The `[backend]` table: keys that do not fit its kind, and choices worth knowing.
fn table_findings(config: &ServerConfig, out: &mut Vec<Finding>) {
    use crate::BackendKind;
    use Severity::*;
    let Some(b) = &config.backend else { return };
    // `--users` may still give the embedded backend its file: only the table itself is judged.
    if let Err(e) = b.validate(true) {
        out.push(finding(
            Error,
            "backend-invalid",
            e.to_string(),
            "remove the key or choose the kind that reads it (see docs/active-directory.md)",
        ));
    }
    // Winbind and directory lookups report group SIDs, not names: a name in allow_groups would
    // never match (the route refuses everyone, fail-closed).
    if b.kind == BackendKind::Winbind || b.winbind_groups {
        for r in &config.routes {
            if let Some(name) = r.allow_groups.iter().find(|g| !g.starts_with("S-")) {
                out.push(finding(Warning, "group-name-without-names",
                    format!("route {:?} allows group {name:?} by name, but the {} backend reports group SIDs only: nobody matches it", r.path, b.kind.name()),
                    "list the group's SID (wbinfo -n 'DOMAIN\\Group'; Get-ADGroup in PowerShell)"));
            }
        }
    }
    match b.kind {
        BackendKind::Gssapi if b.keytab.is_none() => out.push(finding(Info, "keytab-from-environment",
            "[backend] kind = \"gssapi\" names no keytab: MIT reads KRB5_KTNAME, or /etc/krb5.keytab".into(),
            "name the service keytab with keytab = FILE so the file that is linted is the file that runs")),
        BackendKind::Embedded if b.users.is_none() => out.push(finding(Info, "users-from-command-line",
            "[backend] kind = \"embedded\" names no user file: epa serve needs --users".into(),
            "give users = FILE")),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(backend: &str) -> Vec<&'static str> {
        let text = format!("[backend]\n{backend}\n");
        let config: ServerConfig = toml::from_str(&text).expect("test configuration parses");
        let mut out = Vec::new();
        lockout_findings(&config, &mut out);
        out.iter().map(|f| f.code).collect()
    }

    #[test]
    fn the_extranet_threshold_must_stay_below_the_directorys() {
        let w = "kind = \"winbind\"\n";
        assert_eq!(codes(w), ["directory-lockout-threshold-unknown"]);
        assert_eq!(
            codes(&format!("{w}directory_lockout_threshold = 3")),
            ["extranet-lockout-not-below-directory"]
        );
        assert_eq!(
            codes(&format!(
                "{w}directory_lockout_threshold = 5\nextranet_lockout_threshold = 2"
            )),
            ["lockout-sum-not-below-directory"]
        );
        assert!(
            codes(&format!(
                "{w}directory_lockout_threshold = 10\nextranet_lockout_threshold = 3\nfamiliar_lockout_threshold = 3"
            ))
            .is_empty()
        );
        assert!(codes(&format!("{w}directory_lockout_threshold = 0")).is_empty());
        assert_eq!(codes(&format!("{w}lockout = \"off\"")), ["lockout-off"]);
        assert_eq!(
            codes("kind = \"embedded\"\nlockout = \"off\""),
            ["lockout-off"]
        );
        assert!(codes("kind = \"embedded\"").is_empty());
    }
}
