//! `epa generate` (hidden): the manual pages and shell completions, generated from the clap
//! definition itself so that they cannot drift from the command; the Debian package
//! (scripts/package-deb) ships what this writes.

use crate::Failure;
use clap_complete::Shell;
use std::path::Path;

/// What `epa generate` writes.
#[derive(clap::Subcommand)]
pub(crate) enum GenerateCommand {
    /// Manual pages (roff): `epa.1` and one per subcommand (`epa-serve.1`, `epa-spn-check.1`, …).
    Man {
        /// The directory to write into (created when missing).
        dir: std::path::PathBuf,
    },
    /// Completion scripts for bash (`epa.bash`), zsh (`_epa`) and fish (`epa.fish`).
    Completions {
        /// The directory to write into (created when missing).
        dir: std::path::PathBuf,
    },
}

/// Writes the files `what` names for the command `cmd` and prints each path.
pub(crate) fn run(what: &GenerateCommand, mut cmd: clap::Command) -> Result<u8, Failure> {
    let dir = match what {
        GenerateCommand::Man { dir } | GenerateCommand::Completions { dir } => dir,
    };
    let failed =
        |e: std::io::Error| Failure::from(format!("cannot write to {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(failed)?;
    match what {
        GenerateCommand::Man { .. } => {
            clap_mangen::generate_to(cmd, dir).map_err(failed)?;
            list(dir, ".1").map_err(failed)?;
        }
        GenerateCommand::Completions { .. } => {
            for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
                let path =
                    clap_complete::generate_to(shell, &mut cmd, "epa", dir).map_err(failed)?;
                println!("{}", path.display());
            }
        }
    }
    Ok(0)
}

/// Prints the files in `dir` whose names end with `suffix`, sorted.
fn list(dir: &Path, suffix: &str) -> std::io::Result<()> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.to_string_lossy().ends_with(suffix) {
            names.push(path);
        }
    }
    names.sort();
    for path in names {
        println!("{}", path.display());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    /// Every visible command and subcommand has its page, the hidden `generate` none, and the
    /// pages carry the clap text (the options of `epa serve`).
    #[test]
    fn a_page_per_visible_subcommand_and_three_completions() {
        let dir = std::env::temp_dir().join(format!("epa-generate-{}", std::process::id()));
        let man = dir.join("man");
        let completions = dir.join("completions");
        assert!(matches!(
            run(
                &GenerateCommand::Man { dir: man.clone() },
                crate::Cli::command()
            ),
            Ok(0)
        ));
        let cmd = crate::Cli::command();
        let mut want = vec!["epa.1".to_owned()];
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            want.push(format!("epa-{}.1", sub.get_name()));
            for leaf in sub.get_subcommands() {
                want.push(format!("epa-{}-{}.1", sub.get_name(), leaf.get_name()));
            }
        }
        let mut have: Vec<String> = std::fs::read_dir(&man)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        want.sort();
        have.sort();
        assert_eq!(have, want);
        assert!(want.contains(&"epa-spn-check.1".to_owned()));
        assert!(!have.iter().any(|p| p.contains("generate")));
        let serve = std::fs::read_to_string(man.join("epa-serve.1")).unwrap();
        assert!(
            serve.contains("config") && serve.contains("SIGHUP"),
            "{serve}"
        );

        let generate = GenerateCommand::Completions {
            dir: completions.clone(),
        };
        assert!(matches!(run(&generate, crate::Cli::command()), Ok(0)));
        for file in ["epa.bash", "_epa", "epa.fish"] {
            let text = std::fs::read_to_string(completions.join(file)).unwrap();
            assert!(
                text.contains("audit-report") && text.contains("config"),
                "{file}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A directory that cannot be made is one `error:` line naming it, not a panic.
    #[test]
    fn an_unwritable_directory_is_a_failure() {
        let file = std::env::temp_dir().join(format!("epa-generate-file-{}", std::process::id()));
        std::fs::write(&file, "").unwrap();
        let dir = file.join("man");
        match run(&GenerateCommand::Man { dir }, crate::Cli::command()) {
            Err(f) => assert!(f.message.contains("cannot write to"), "{}", f.message),
            Ok(code) => panic!("wrote into a file's child: {code}"),
        }
        let _ = std::fs::remove_file(&file);
    }
}
