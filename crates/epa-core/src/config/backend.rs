//! The `[backend]` table: who verifies the client's credentials.
//!
//! ```toml
//! [backend]
//! kind = "winbind"        # embedded (user file) | gssapi (Kerberos keytab, SPNEGO) | winbind (AD)
//! domain = "EPA"          # embedded, winbind: NetBIOS domain the NTLM CHALLENGE announces
//! computer = "WEB01"      # embedded, winbind: NetBIOS computer name
//! dns_domain = "epa.test" # optional: DNS names in the CHALLENGE (default: the NetBIOS ones)
//! dns_computer = "web01.epa.test"
//! # users = "users.txt"   # embedded: DOMAIN:user:password-or-NT-hash lines
//! # keytab = "/etc/epa/http.keytab"   # gssapi: the service keytab (KRB5_KTNAME)
//! # check_ticket_target = true        # gssapi: refuse tickets for other service principals
//! # winbind_groups = true             # gssapi: the account's AD groups from winbind
//! # timeout = 10          # winbind: seconds to wait for the domain controller
//! # max_in_flight = 64    # winbind: verifications waiting at once
//! ```
//! Without a `[backend]` table `epa serve` uses the embedded backend with `--users`.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use thiserror::Error;

/// Which backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// The embedded NTLMv2 acceptor with a local user file.
    Embedded,
    /// MIT GSSAPI: Kerberos and SPNEGO with a keytab (and gss-ntlmssp for NTLM, if installed).
    Gssapi,
    /// The embedded NTLMv2 acceptor, responses verified by an AD domain controller via winbind.
    Winbind,
}

/// The `[backend]` table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackendTable {
    /// Which backend.
    pub kind: BackendKind,
    /// embedded: the user file.
    pub users: Option<PathBuf>,
    /// embedded, winbind: the NetBIOS domain announced.
    pub domain: Option<String>,
    /// embedded, winbind: the NetBIOS computer name announced.
    pub computer: Option<String>,
    /// embedded, winbind: the DNS domain announced.
    pub dns_domain: Option<String>,
    /// embedded, winbind: the DNS computer name announced.
    pub dns_computer: Option<String>,
    /// gssapi: the service keytab.
    pub keytab: Option<PathBuf>,
    /// gssapi: refuse tickets whose service principal is not one of the policy's names.
    #[serde(default)]
    pub check_ticket_target: bool,
    /// gssapi: look the principal's SID and groups up through winbind after each login.
    #[serde(default)]
    pub winbind_groups: bool,
    /// winbind: seconds to wait for one verification.
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// winbind: verifications waiting at once, at most.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
}

fn default_timeout() -> f64 {
    10.0
}

fn default_max_in_flight() -> usize {
    64
}

/// A `[backend]` table whose keys do not fit its kind.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BackendError {
    /// A key given for a kind that does not read it (a typo would otherwise be silent).
    #[error("[backend] {key} does not apply to kind = \"{kind}\"")]
    KeyNotForKind {
        /// The key.
        key: &'static str,
        /// The kind.
        kind: &'static str,
    },
    /// The embedded backend needs a user file (here or `--users`).
    #[error("[backend] kind = \"embedded\" needs users = FILE (or --users)")]
    NoUsers,
    /// A timeout that is not a positive number of seconds (at most one hour).
    #[error("[backend] timeout must be > 0 and <= 3600 seconds")]
    Timeout,
    /// `max_in_flight` must be at least 1.
    #[error("[backend] max_in_flight must be at least 1")]
    MaxInFlight,
}

impl BackendKind {
    /// The configuration spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Gssapi => "gssapi",
            Self::Winbind => "winbind",
        }
    }
}

impl BackendTable {
    /// Checks that every key given applies to the kind; `users_given` says whether `--users`
    /// was given on the command line.
    pub fn validate(&self, users_given: bool) -> Result<(), BackendError> {
        let kind = self.kind.name();
        let not = |key: &'static str| Err(BackendError::KeyNotForKind { key, kind });
        let ntlm_names = self.domain.is_some()
            || self.computer.is_some()
            || self.dns_domain.is_some()
            || self.dns_computer.is_some();
        match self.kind {
            BackendKind::Embedded | BackendKind::Winbind => {
                if self.keytab.is_some() {
                    return not("keytab");
                }
                if self.check_ticket_target {
                    return not("check_ticket_target");
                }
                if self.winbind_groups {
                    return not("winbind_groups");
                }
            }
            BackendKind::Gssapi => {
                if ntlm_names {
                    return not("domain/computer/dns_domain/dns_computer");
                }
            }
        }
        match self.kind {
            BackendKind::Embedded => {
                if self.users.is_none() && !users_given {
                    return Err(BackendError::NoUsers);
                }
            }
            BackendKind::Gssapi | BackendKind::Winbind => {
                if self.users.is_some() {
                    return not("users");
                }
            }
        }
        let uses_winbind = self.kind == BackendKind::Winbind || self.winbind_groups;
        if !uses_winbind
            && (self.timeout != default_timeout() || self.max_in_flight != default_max_in_flight())
        {
            return not("timeout/max_in_flight");
        }
        if !(self.timeout > 0.0 && self.timeout <= 3600.0) {
            return Err(BackendError::Timeout);
        }
        if self.max_in_flight == 0 {
            return Err(BackendError::MaxInFlight);
        }
        Ok(())
    }

    /// The winbind timeout as a duration (call after [`validate`](Self::validate)).
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.timeout.clamp(0.001, 3600.0))
    }

    /// Makes relative file names relative to `base`.
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        for p in self.users.iter_mut().chain(self.keytab.iter_mut()) {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> BackendTable {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn keys_must_fit_the_kind() {
        assert!(
            table("kind = \"winbind\"\ndomain = \"EPA\"")
                .validate(false)
                .is_ok()
        );
        assert_eq!(
            table("kind = \"winbind\"\nkeytab = \"k\"").validate(false),
            Err(BackendError::KeyNotForKind {
                key: "keytab",
                kind: "winbind"
            })
        );
        assert!(
            table("kind = \"gssapi\"\ndomain = \"EPA\"")
                .validate(false)
                .is_err()
        );
        assert!(
            table("kind = \"gssapi\"\ntimeout = 3")
                .validate(false)
                .is_err()
        );
        assert!(
            table("kind = \"winbind\"\nusers = \"u\"")
                .validate(false)
                .is_err()
        );
        assert_eq!(
            table("kind = \"embedded\"").validate(false),
            Err(BackendError::NoUsers)
        );
        assert!(table("kind = \"embedded\"").validate(true).is_ok());
    }

    #[test]
    fn bounds() {
        assert_eq!(
            table("kind = \"winbind\"\ntimeout = 0").validate(false),
            Err(BackendError::Timeout)
        );
        assert_eq!(
            table("kind = \"winbind\"\ntimeout = nan").validate(false),
            Err(BackendError::Timeout)
        );
        assert_eq!(
            table("kind = \"winbind\"\nmax_in_flight = 0").validate(false),
            Err(BackendError::MaxInFlight)
        );
        assert!(toml::from_str::<BackendTable>("kind = \"ldap\"").is_err());
        assert!(toml::from_str::<BackendTable>("kind = \"winbind\"\nbogus = 1").is_err());
    }
}
