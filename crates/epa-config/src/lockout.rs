//! The `[backend]` keys of failed-logon throttling and smart lockout (embedded and winbind
//! backends), as AD FS Extranet Smart Lockout and Entra smart lockout do it: an account locks
//! for *unfamiliar* client addresses after `extranet_lockout_threshold` failures from them,
//! while addresses that have logged in as that account (familiar) keep their own count
//! (`familiar_lockout_threshold`); one address is throttled per account and across accounts.
//! Once a rule refuses, nothing more is forwarded to the domain controller, so at most
//! `extranet_lockout_threshold + familiar_lockout_threshold` failures per
//! `lockout_observation_window` reach the directory for one account: keep that below the
//! directory's own lockout threshold (`directory_lockout_threshold`, which `epa lint` reads).

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Whether failed logons are throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockoutMode {
    /// Smart lockout (the default).
    #[default]
    Smart,
    /// No throttling at all: a front end must limit password guessing.
    Off,
}

/// The lockout keys of `[backend]` (one unit each: counts, or seconds).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct LockoutKeys {
    /// `smart` (default) or `off`.
    #[serde(default)]
    pub lockout: LockoutMode,
    /// Failures for one account from unfamiliar addresses before it locks for them (default 5;
    /// 0 = this rule off).
    #[serde(default = "five")]
    pub extranet_lockout_threshold: u32,
    /// Failures for one account from its familiar addresses before it locks for them (default
    /// 5; 0 = off).
    #[serde(default = "five")]
    pub familiar_lockout_threshold: u32,
    /// Seconds a locked account stays locked after its last counted failure, and the quiet
    /// time that resets its count (default 900). At least the directory's "reset account
    /// lockout counter after".
    #[serde(default = "default_observation_window")]
    pub lockout_observation_window: f64,
    /// Seconds an address stays familiar after its last successful logon (default 14 days).
    #[serde(default = "default_familiar_for")]
    pub familiar_for: f64,
    /// Failures from one address, any account, before it cools down (default 10; 0 = off).
    #[serde(default = "ten")]
    pub address_lockout_threshold: u32,
    /// Failures from one address for one account before that pair cools down (default 5).
    #[serde(default = "five")]
    pub address_account_lockout_threshold: u32,
    /// Seconds of an address key's first cool-down (default 1), doubling per further failure.
    #[serde(default = "one")]
    pub lockout_cooldown: f64,
    /// Seconds of an address key's longest cool-down (default 30).
    #[serde(default = "thirty")]
    pub lockout_max_cooldown: f64,
    /// Keys remembered at most (default 10,000, about 5 MiB in all).
    #[serde(default = "default_capacity")]
    pub lockout_capacity: usize,
    /// winbind: the directory's own account lockout threshold (0 = the directory never
    /// locks), so that `epa lint` can check the thresholds above stay below it.
    pub directory_lockout_threshold: Option<u32>,
}

fn five() -> u32 {
    5
}
fn ten() -> u32 {
    10
}
fn one() -> f64 {
    1.0
}
fn thirty() -> f64 {
    30.0
}
fn default_observation_window() -> f64 {
    900.0
}
fn default_familiar_for() -> f64 {
    14.0 * 86_400.0
}
fn default_capacity() -> usize {
    10_000
}

impl Default for LockoutKeys {
    fn default() -> Self {
        Self {
            lockout: LockoutMode::Smart,
            extranet_lockout_threshold: five(),
            familiar_lockout_threshold: five(),
            lockout_observation_window: default_observation_window(),
            familiar_for: default_familiar_for(),
            address_lockout_threshold: ten(),
            address_account_lockout_threshold: five(),
            lockout_cooldown: one(),
            lockout_max_cooldown: thirty(),
            lockout_capacity: default_capacity(),
            directory_lockout_threshold: None,
        }
    }
}

/// A lockout key out of range.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LockoutError {
    /// A duration that is not a positive number of seconds within its bound.
    #[error("{key} must be > 0 and <= {max} seconds")]
    Seconds {
        /// The key.
        key: &'static str,
        /// The bound.
        max: u32,
    },
    /// The first cool-down is longer than the longest.
    #[error("lockout_cooldown must not exceed lockout_max_cooldown")]
    Cooldowns,
    /// More keys than a bounded table should hold.
    #[error("lockout_capacity must be at most 1000000")]
    Capacity,
}

impl LockoutKeys {
    /// Whether every key has its default (the `gssapi` backend reads none of them).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Checks every key's range.
    pub fn validate(&self) -> Result<(), LockoutError> {
        let secs = |key: &'static str, v: f64, max: u32| {
            if v > 0.0 && v <= f64::from(max) {
                Ok(())
            } else {
                Err(LockoutError::Seconds { key, max })
            }
        };
        secs(
            "lockout_observation_window",
            self.lockout_observation_window,
            86_400,
        )?;
        secs("familiar_for", self.familiar_for, 366 * 86_400)?;
        secs("lockout_cooldown", self.lockout_cooldown, 3600)?;
        secs("lockout_max_cooldown", self.lockout_max_cooldown, 86_400)?;
        if self.lockout_cooldown > self.lockout_max_cooldown {
            return Err(LockoutError::Cooldowns);
        }
        if self.lockout_capacity > 1_000_000 {
            return Err(LockoutError::Capacity);
        }
        Ok(())
    }

    /// The most failures per observation window that reach the directory for one account (the
    /// two account thresholds; `None` when either rule is off, so the number is unbounded).
    pub fn failures_reaching_directory(&self) -> Option<u32> {
        if self.lockout == LockoutMode::Off
            || self.extranet_lockout_threshold == 0
            || self.familiar_lockout_threshold == 0
        {
            return None;
        }
        Some(
            self.extranet_lockout_threshold
                .saturating_add(self.familiar_lockout_threshold),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(LockoutKeys::default().validate(), Ok(()));
        let bad = |f: fn(&mut LockoutKeys)| {
            let mut k = LockoutKeys::default();
            f(&mut k);
            k.validate().is_err()
        };
        assert!(bad(|k| k.lockout_observation_window = 0.0));
        assert!(bad(|k| k.lockout_observation_window = f64::NAN));
        assert!(bad(|k| k.familiar_for = -1.0));
        assert!(bad(|k| k.lockout_cooldown = 40.0));
        assert!(bad(|k| k.lockout_capacity = 2_000_000));
    }

    #[test]
    fn what_reaches_the_directory() {
        assert_eq!(
            LockoutKeys::default().failures_reaching_directory(),
            Some(10)
        );
        let off = LockoutKeys {
            lockout: LockoutMode::Off,
            ..LockoutKeys::default()
        };
        assert_eq!(off.failures_reaching_directory(), None);
    }
}
