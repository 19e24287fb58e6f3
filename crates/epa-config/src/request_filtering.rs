//! The `[request_filtering]` table: path spellings `epa serve` refuses before routing, named
//! after IIS request filtering (`<requestFiltering allowDoubleEscaping="false">`).
//!
//! ```toml
//! [request_filtering]
//! allow_double_escaping = false   # default: `/%2561dmin` is a 400 (IIS 404.11)
//! allow_windows_aliases = false   # default: `/admin.`, `/admin%20`, `/admin::$DATA` are a 400
//! ```
//! A route table matches one spelling of a path; an upstream that decodes twice, or that runs
//! on Windows (which trims trailing dots and spaces and opens `file::$DATA` as `file`), reads
//! these spellings as another path — a protected one reached through an anonymous parent
//! route. Refusing them is the default; an application that needs them can allow them.

use epa_core::path::{NormalizedPath, PathAlias};
use serde::{Deserialize, Serialize};

/// `[request_filtering]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFilteringTable {
    /// Let a path that is percent-encoded twice through (default false, as IIS).
    #[serde(default)]
    pub allow_double_escaping: bool,
    /// Let Windows path aliases through: segments ending in `.` or a space, NTFS stream names
    /// (default false).
    #[serde(default)]
    pub allow_windows_aliases: bool,
}

impl RequestFilteringTable {
    /// Why `path` is refused under these settings, if it is.
    pub fn refuses(&self, path: &NormalizedPath) -> Option<PathAlias> {
        let alias = path.alias()?;
        let allowed = match alias {
            PathAlias::DoubleEscaped => self.allow_double_escaping,
            PathAlias::TrailingDotOrSpace | PathAlias::NtfsStream => self.allow_windows_aliases,
            // An alias this version does not know has no switch: refused (fails closed).
            _ => false,
        };
        (!allowed).then_some(alias)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p(s: &str) -> NormalizedPath {
        NormalizedPath::parse(s).unwrap()
    }

    #[test]
    fn refuses_by_default_and_each_setting_allows_its_own() {
        let t: RequestFilteringTable = toml::from_str("").unwrap();
        assert_eq!(t, RequestFilteringTable::default());
        assert_eq!(t.refuses(&p("/%2561dmin")), Some(PathAlias::DoubleEscaped));
        assert_eq!(
            t.refuses(&p("/admin.")),
            Some(PathAlias::TrailingDotOrSpace)
        );
        assert_eq!(t.refuses(&p("/admin::$DATA")), Some(PathAlias::NtfsStream));
        assert_eq!(t.refuses(&p("/admin")), None);
        let double: RequestFilteringTable = toml::from_str("allow_double_escaping = true").unwrap();
        assert_eq!(double.refuses(&p("/%2561dmin")), None);
        assert_eq!(
            double.refuses(&p("/admin.")),
            Some(PathAlias::TrailingDotOrSpace)
        );
        let windows: RequestFilteringTable =
            toml::from_str("allow_windows_aliases = true").unwrap();
        assert_eq!(windows.refuses(&p("/admin%20")), None);
        assert_eq!(windows.refuses(&p("/admin::$DATA")), None);
        assert_eq!(
            windows.refuses(&p("/%2561dmin")),
            Some(PathAlias::DoubleEscaped)
        );
        assert!(toml::from_str::<RequestFilteringTable>("allow = true").is_err());
    }
}
