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
