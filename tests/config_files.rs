//! Every configuration a user is shown loads: the ```toml blocks of the README and docs/, and
//! the files in examples/config/, parse as a server file and pass `epa lint` without an error
//! (issue #21: "the config files in examples/ and the README still load").

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use epa::config::ServerConfig;
use epa::config::lint::{Severity, lint};
use std::path::Path;

fn toml_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn loads(name: &str, text: &str) -> ServerConfig {
    toml::from_str(text).unwrap_or_else(|e| panic!("{name} does not load: {e}\n{text}"))
}

#[test]
fn every_toml_block_of_the_readme_and_the_docs_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut seen = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, block) in toml_blocks(&text).iter().enumerate() {
            loads(&format!("{} block {i}", file.display()), block);
            seen += 1;
        }
    }
    assert!(seen >= 4, "only {seen} toml blocks found");
}

#[test]
fn the_example_configuration_files_load_and_lint_without_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let mut config = loads(
            &path.display().to_string(),
            &std::fs::read_to_string(&path).unwrap(),
        );
        config.resolve_paths(&dir);
        let errors: Vec<_> = lint(&config, None)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
}
