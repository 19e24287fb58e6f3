//! `epa lint` and the findings printer `epa iis check` shares.

use crate::Failure;
use epa_core::cbt::{self};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Prints findings as one JSON object (`findings`, `errors`, `warnings`, `infos`, and `file`
/// when given) or as their text lines and a summary; the exit status is 1 when an error-level
/// finding exists.
pub(crate) fn print_findings<T: Serialize>(
    findings: &[T],
    lines: Vec<(epa_config::lint::Severity, String)>,
    file: Option<&Path>,
    json: bool,
) -> Result<u8, Failure> {
    use epa_config::lint::Severity;
    let count = |s| lines.iter().filter(|(sev, _)| *sev == s).count();
    let (errors, warnings, infos) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
    );
    if json {
        let mut report = serde_json::json!({
            "findings": findings,
            "errors": errors,
            "warnings": warnings,
            "infos": infos,
        });
        if let Some(f) = file {
            report["file"] = serde_json::Value::String(f.display().to_string());
        }
        println!("{report}");
    } else {
        for (_, text) in &lines {
            println!("{text}");
        }
        let prefix = file
            .map(|f| format!("{}: ", f.display()))
            .unwrap_or_default();
        println!("{prefix}{errors} error(s), {warnings} warning(s), {infos} info");
    }
    Ok(u8::from(errors > 0))
}

pub(crate) fn run_lint(path: &Path, keytab: Option<&Path>, json: bool) -> Result<u8, Failure> {
    use epa_config::lint::lint;
    let unusable = |message: String| Failure { message, code: 2 };
    let text = std::fs::read_to_string(path)
        .map_err(|e| unusable(format!("cannot read {}: {e}", path.display())))?;
    let mut config: epa_config::ServerConfig = toml::from_str(&text).map_err(|e| {
        unusable(format!(
            "{}: invalid server configuration: {}",
            path.display(),
            epa_cli::scenario::located(&text, &e)
        ))
    })?;
    config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
    let ca = ca_files(&config.client_certificates);
    let mut findings = lint(&config, ca.as_ref());
    // `--keytab`, or the `[backend] keytab` the file names: the file that is linted is the
    // file that runs.
    let named = config.backend.as_ref().and_then(|b| b.keytab.clone());
    if let Some(keytab) = keytab.map(Path::to_path_buf).or(named) {
        let bytes = std::fs::read(&keytab)
            .map_err(|e| unusable(format!("cannot read {}: {e}", keytab.display())))?;
        findings.extend(epa_config::lint::keytab(&bytes));
    }
    if let Some(pinned) = &config.listener.proxy_certificate_file {
        let read =
            std::fs::read(pinned).map_err(|e| format!("cannot read {}: {e}", pinned.display()));
        findings.extend(epa_config::lint::proxy_certificate(
            read.as_deref().map_err(Clone::clone),
        ));
    }
    // `[identity_assertion]` keys: readable, ES256 or EdDSA, no previous key that is current,
    // and not readable by others.
    if let Some(table) = &config.identity_assertion {
        let facts: Vec<_> = table
            .key_files()
            .map(|p| (p.clone(), epa_server::assertion::key_file_fact(p)))
            .collect();
        findings.extend(epa_config::lint::assertion_keys(&facts));
        let modes: Vec<_> = table
            .key_files()
            .filter_map(|p| {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = std::fs::metadata(p).ok()?.permissions().mode();
                Some((p.clone(), mode))
            })
            .collect();
        findings.extend(epa_config::lint::assertion_key_modes(&modes));
        findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(b.code)));
    }
    let lines = findings.iter().map(|f| {
        (
            f.severity,
            format!(
                "{}[{}]: {}\n  fix: {}",
                f.severity.name(),
                f.code,
                f.why,
                f.fix
            ),
        )
    });
    print_findings(&findings, lines.collect(), Some(path), json)
}

/// Reads the CA files a configuration names and sizes the acceptable-CA list they make.
fn ca_files(table: &epa_config::ClientCertificateTable) -> Option<epa_config::lint::CaFiles> {
    use epa_config::HintChoice;
    use epa_config::lint::CaFiles;
    use epa_core::client_cert::{ca_hint_size, certificate_subject};
    if table.ca_files.is_empty() {
        return None;
    }
    let load = |files: &[PathBuf]| -> Result<Vec<Vec<u8>>, String> {
        let mut subjects = Vec::new();
        for file in files {
            let bytes =
                std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let certs = cbt::certificates_from_pem(&bytes)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            for (i, der) in certs.iter().enumerate() {
                let subject = certificate_subject(der)
                    .map_err(|e| format!("{}: certificate #{}: {e}", file.display(), i + 1))?;
                subjects.push(subject.to_vec());
            }
        }
        Ok(subjects)
    };
    if let Err(e) = load(&table.ca_files) {
        return Some(CaFiles::Unreadable(e));
    }
    let hinted = match table.hints {
        HintChoice::All => load(&table.ca_files),
        HintChoice::None => Ok(Vec::new()),
        HintChoice::Subset => load(&table.hint_ca_files),
    };
    Some(match hinted {
        Err(e) => CaFiles::Unreadable(e),
        Ok(subjects) => match ca_hint_size(subjects.iter().map(Vec::as_slice)) {
            Ok(size) => CaFiles::Hints(size),
            Err(e) => CaFiles::HintError(e),
        },
    })
}
