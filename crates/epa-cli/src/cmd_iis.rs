//! `epa iis import` and `epa iis check`: IIS/http.sys configurations read and judged.

use crate::Failure;
use crate::cmd_lint::print_findings;
use std::path::PathBuf;

fn read_iis(
    files: &[PathBuf],
    web_configs: &[String],
    code: u8,
) -> Result<epa_cli::iis::Inputs, Failure> {
    let fail = |message: String| Failure { message, code };
    let mut placed: Vec<(PathBuf, Option<String>)> =
        files.iter().map(|f| (f.clone(), None)).collect();
    for w in web_configs {
        let (at, file) = w.split_once('=').ok_or_else(|| {
            fail(format!(
                "--web-config {w:?}: expected LOCATION=FILE, e.g. 'Default Web Site/app=web.config'"
            ))
        })?;
        placed.push((PathBuf::from(file), Some(at.to_owned())));
    }
    let mut texts = Vec::new();
    for (f, at) in placed {
        let bytes =
            std::fs::read(&f).map_err(|e| fail(format!("cannot read {}: {e}", f.display())))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            fail(format!(
                "{}: not UTF-8 (byte {})",
                f.display(),
                e.utf8_error().valid_up_to()
            ))
        })?;
        texts.push((f.display().to_string(), text, at));
    }
    epa_cli::iis::read_at(&texts).map_err(|e| fail(e.to_string()))
}

pub(crate) fn run_iis_import(
    files: &[PathBuf],
    web_configs: &[String],
    location: Option<&str>,
) -> Result<u8, Failure> {
    let inputs = read_iis(files, web_configs, 1)?;
    let config = &inputs.config;
    let locations = config.locations();
    let chosen: Vec<String> = match location {
        Some(l) => {
            let l = l.trim_matches('/');
            if !locations.iter().any(|x| x.eq_ignore_ascii_case(l)) && config.site_of(l).is_none() {
                return Err(Failure::from(format!(
                    "no site or location {l:?} (known: {})",
                    locations.join(", ")
                )));
            }
            vec![l.to_owned()]
        }
        None => locations,
    };
    if chosen.is_empty() {
        return Err(Failure::from("no site or location in the input".to_owned()));
    }
    let docs: Vec<String> = chosen
        .iter()
        .map(|l| epa_cli::iis::import::import(config, l))
        .collect();
    print!("{}", docs.join("\n# ---\n\n"));
    Ok(0)
}

pub(crate) fn run_iis_check(
    files: &[PathBuf],
    web_configs: &[String],
    json: bool,
) -> Result<u8, Failure> {
    let inputs = read_iis(files, web_configs, 2)?;
    let findings = epa_cli::iis::check::check(&inputs.config, inputs.netsh.as_deref());
    let lines = findings.iter().map(|f| {
        let mut text = format!("{}[{}] {}: {}", f.severity.name(), f.code, f.subject, f.why);
        for fix in &f.fix {
            text.push_str(&format!("\n  fix: {fix}"));
        }
        (f.severity, text)
    });
    print_findings(&findings, lines.collect(), None, json)
}
