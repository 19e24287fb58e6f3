//! The `[diagnostics]` table: the client diagnostics page of `epa serve`.
//!
//! ```toml
//! [diagnostics]
//! enabled = true              # default false: the page exposes policy details
//! path = "/_epa/diagnose"     # where it answers (normalised as routes are, matched exactly)
//! ```
//! With it on, a login made on `path` is answered with a report of what the client sent and
//! what every enforcement and profile would decide, instead of being admitted anywhere. `epa
//! lint` warns when it is on.

use epa_core::path::NormalizedPath;
use serde::{Deserialize, Serialize};

/// The default path of the page.
pub const DEFAULT_PATH: &str = "/_epa/diagnose";

/// `[diagnostics]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DiagnosticsTable {
    /// Whether the page answers (default false).
    #[serde(default)]
    pub enabled: bool,
    /// The page's path (default [`DEFAULT_PATH`]).
    #[serde(default = "default_path")]
    pub path: String,
}

fn default_path() -> String {
    DEFAULT_PATH.to_owned()
}

impl Default for DiagnosticsTable {
    fn default() -> Self {
        Self {
            enabled: false,
            path: default_path(),
        }
    }
}

impl DiagnosticsTable {
    /// The page's path, normalised as routes are (`None` when it cannot be normalised, which
    /// `epa lint` reports and `epa serve` refuses).
    pub fn normalized_path(&self) -> Option<NormalizedPath> {
        NormalizedPath::parse(&self.path).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_with_the_default_path() {
        let t: DiagnosticsTable = toml::from_str("").unwrap();
        assert_eq!(t, DiagnosticsTable::default());
        assert!(!t.enabled);
        assert_eq!(t.path, DEFAULT_PATH);
        assert!(toml::from_str::<DiagnosticsTable>("enable = true").is_err());
        let t: DiagnosticsTable = toml::from_str("enabled = true\npath = \"/x/../diag\"").unwrap();
        assert_eq!(t.normalized_path().unwrap().as_str(), "/diag");
        let bad: DiagnosticsTable = toml::from_str("path = \"no-slash\"").unwrap();
        assert!(bad.normalized_path().is_none());
    }
}
