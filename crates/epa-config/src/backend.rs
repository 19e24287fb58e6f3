//! The `[backend]` table: who verifies the client's credentials.
//!
//! ```toml
//! [backend]
//! kind = "winbind"        # embedded (user file) | gssapi (Kerberos keytab, SPNEGO) | winbind (AD)
//! # weak_enctypes = "audit" # gssapi: RC4/DES session keys: allow | audit (default) | refuse
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
//! # max_in_flight_per_address = 4     # winbind: of those, from one client address
//! # domains = ["EPA", "epa.test", "CHILD"]  # winbind: the domains clients may name (default:
//! #                       # learnt from winbind at start: ours and every trusted one)
//! # Failed logons (embedded, winbind): smart lockout, see `lockout`
//! # lockout = "smart"     # or "off"
//! # extranet_lockout_threshold = 5    # unfamiliar failures that lock an account for unfamiliar addresses
//! # familiar_lockout_threshold = 5    # failures from the account's familiar addresses
//! # lockout_observation_window = 900  # seconds an account stays locked / quiet time that resets it
//! # familiar_for = 1209600            # seconds an address stays familiar after a success (14 days)
//! # address_lockout_threshold = 10    # failures from one address, any account
//! # address_account_lockout_threshold = 5
//! # lockout_cooldown = 1  # seconds: an address key's first cool-down, doubling…
//! # lockout_max_cooldown = 30         # …up to this
//! # lockout_capacity = 10000          # keys remembered
//! # directory_lockout_threshold = 10  # winbind: the domain's own lockout threshold (0 = none), for `epa lint`
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
    /// gssapi: a ticket whose session key is RC4 or DES: `allow`, `audit` (default: accepted,
    /// logged and counted as a would-be refusal) or `refuse` (401, `weak-enctype`).
    #[serde(default)]
    pub weak_enctypes: epa_core::enctype::WeakEnctypes,
    /// gssapi: look the principal's SID and groups up through winbind after each login.
    #[serde(default)]
    pub winbind_groups: bool,
    /// winbind: seconds to wait for one verification.
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// winbind: verifications waiting at once, at most.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// winbind: verifications one client address may have waiting at once (0 = no limit).
    #[serde(default = "default_max_in_flight_per_address")]
    pub max_in_flight_per_address: usize,
    /// winbind: the domain names (NetBIOS or DNS) clients may name; others are refused before
    /// winbind is asked. Default: learnt from winbind (ours and every trusted domain).
    pub domains: Option<Vec<String>>,
    /// embedded, winbind: failed-logon throttling and smart lockout.
    #[serde(flatten)]
    pub lockout: super::lockout::LockoutKeys,
}

fn default_timeout() -> f64 {
    10.0
}

fn default_max_in_flight() -> usize {
    64
}

fn default_max_in_flight_per_address() -> usize {
    4
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
    /// A lockout key out of its range.
    #[error("[backend] {0}")]
    Lockout(#[from] super::lockout::LockoutError),
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
    /// The table in force without a `[backend]` table: the embedded backend, every default.
    pub fn embedded() -> Self {
        Self {
            kind: BackendKind::Embedded,
            users: None,
            domain: None,
            computer: None,
            dns_domain: None,
            dns_computer: None,
            keytab: None,
            check_ticket_target: false,
            weak_enctypes: epa_core::enctype::WeakEnctypes::default(),
            winbind_groups: false,
            timeout: default_timeout(),
            max_in_flight: default_max_in_flight(),
            max_in_flight_per_address: default_max_in_flight_per_address(),
            domains: None,
            lockout: super::lockout::LockoutKeys::default(),
        }
    }

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
                if self.weak_enctypes != epa_core::enctype::WeakEnctypes::default() {
                    return not("weak_enctypes");
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
        if self.kind != BackendKind::Winbind
            && (self.max_in_flight_per_address != default_max_in_flight_per_address()
                || self.domains.is_some()
                || self.lockout.directory_lockout_threshold.is_some())
        {
            return not("max_in_flight_per_address/domains/directory_lockout_threshold");
        }
        if self.kind == BackendKind::Gssapi && !self.lockout.is_default() {
            return not("lockout keys");
        }
        self.lockout.validate()?;
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
        assert!(
            table("kind = \"gssapi\"\nlockout = \"off\"")
                .validate(false)
                .is_err()
        );
        assert!(
            table("kind = \"embedded\"\ndirectory_lockout_threshold = 3")
                .validate(true)
                .is_err()
        );
        assert!(
            table("kind = \"winbind\"\nextranet_lockout_threshold = 2\nlockout_observation_window = 5\ndirectory_lockout_threshold = 3")
                .validate(false)
                .is_ok()
        );
    }
}
