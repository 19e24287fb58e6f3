//! The `[metrics]` table: `epa serve` answers the Prometheus text on one path, before any
//! route or authentication, to the listed peer addresses only.
//!
//! ```toml
//! [metrics]
//! path = "/metrics"                    # default
//! allow_from = ["127.0.0.1", "::1"]    # default: loopback only; other peers get 403
//! ```
//! Without the table nothing is served there (the path goes to the routes like any other).
//! nginx's `stub_status` and IIS's performance counters are likewise not public by default.

use epa_core::path::{NormalizedPath, PathError};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use thiserror::Error;

/// `[metrics]`: where the Prometheus page is and who may read it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsTable {
    /// The path (exact match on the normalised request path; default `/metrics`).
    #[serde(default = "default_path")]
    pub path: String,
    /// Peers allowed to read it (IPv4-mapped IPv6 compared as IPv4); default loopback only.
    #[serde(default = "loopback")]
    pub allow_from: Vec<IpAddr>,
}

impl Default for MetricsTable {
    fn default() -> Self {
        Self {
            path: default_path(),
            allow_from: loopback(),
        }
    }
}

fn default_path() -> String {
    "/metrics".into()
}

fn loopback() -> Vec<IpAddr> {
    vec![
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ]
}

/// A `[metrics]` table that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The path cannot be normalised.
    #[error("[metrics] path {path:?}: {source}")]
    Path {
        /// The path as written.
        path: String,
        /// Why.
        #[source]
        source: PathError,
    },
    /// `allow_from` is empty: nobody could read the page.
    #[error("[metrics] allow_from is empty: nobody could read the page (remove the table instead)")]
    NobodyAllowed,
}

impl MetricsTable {
    /// The path, normalised (as the request path is before it is compared).
    pub fn normalized_path(&self) -> Result<NormalizedPath, MetricsError> {
        if self.allow_from.is_empty() {
            return Err(MetricsError::NobodyAllowed);
        }
        NormalizedPath::parse(&self.path).map_err(|source| MetricsError::Path {
            path: self.path.clone(),
            source,
        })
    }

    /// Whether `peer` may read the page (IPv4-mapped IPv6 folded on both sides).
    pub fn allows(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.allow_from.iter().any(|a| a.to_canonical() == peer)
    }

    /// Whether every allowed peer is a loopback address.
    pub fn loopback_only(&self) -> bool {
        self.allow_from
            .iter()
            .all(|a| a.to_canonical().is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_loopback_at_slash_metrics() {
        let t: MetricsTable = toml::from_str("").expect("empty table");
        assert_eq!(t, MetricsTable::default());
        assert_eq!(t.normalized_path().expect("path").as_str(), "/metrics");
        assert!(t.allows("127.0.0.1".parse().expect("ip")));
        assert!(t.allows("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(t.allows("::1".parse().expect("ip")));
        assert!(!t.allows("10.0.0.1".parse().expect("ip")));
        assert!(t.loopback_only());
    }

    #[test]
    fn bad_tables_are_typed_errors() {
        let t: MetricsTable = toml::from_str("allow_from = []").expect("parses");
        assert_eq!(t.normalized_path(), Err(MetricsError::NobodyAllowed));
        let t: MetricsTable = toml::from_str("path = \"metrics\"").expect("parses");
        assert!(matches!(
            t.normalized_path(),
            Err(MetricsError::Path { .. })
        ));
        assert!(toml::from_str::<MetricsTable>("allow = []").is_err());
        assert!(toml::from_str::<MetricsTable>("allow_from = [\"localhost\"]").is_err());
    }
}
