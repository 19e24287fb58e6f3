//! Failed-logon throttling and smart lockout for the embedded NTLM acceptor (and the `winbind`
//! pass-through), in tables of bounded size. Modelled on AD FS Extranet Smart Lockout and Entra
//! smart lockout: failures are counted
//!
//! * per **account, from unfamiliar addresses**: at [`ThrottleSettings::extranet_lockout_threshold`]
//!   the account is locked *for unfamiliar addresses* until
//!   [`ThrottleSettings::observation_window`] has passed since the last counted failure (AD FS
//!   `ExtranetLockoutThreshold` / `ExtranetObservationWindow`);
//! * per **account, from familiar addresses** (addresses that logged in as that account, see
//!   `familiar`): [`ThrottleSettings::familiar_lockout_threshold`], the same window. A user at a
//!   familiar address is therefore never locked out by an attacker elsewhere;
//! * per **address and account**, and per **address** (any account): at their thresholds the key
//!   cools down `base_cooldown × 2^(n − threshold)` (capped at `max_cooldown`), and starts again
//!   after a quiet [`ThrottleSettings::window`].
//!
//! A locked or cooling key refuses the attempt with 401 **before the password is checked** (and
//! before a domain controller is asked), so at most `extranet_lockout_threshold +
//! familiar_lockout_threshold` failures per observation window reach the directory for one
//! account: keep that below the directory's own lockout threshold (`epa lint` warns). Refusals
//! are not counted as failures. A success clears the address-and-account key and the account's
//! familiar count and makes the address familiar; it clears neither the address's count (an
//! attacker holding one valid account must not reset its own address) nor the unfamiliar count
//! (the victim's logons must not renew an attacker's guesses).
//!
//! Memory: at most [`ThrottleSettings::capacity`] counter keys of fixed size (about 130 bytes with
//! the table's overhead: ~1.3 MiB for the default 10,000) and as many accounts' familiar
//! addresses (8 each, ~250 bytes). When full, quiet keys are dropped first, then the least
//! recently failed eighth (keys not cooling down before keys cooling down).

use crate::familiar::Familiar;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How failed logons are throttled; a threshold of 0 turns that rule off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failures for one account from unfamiliar addresses before it locks for them (default 5;
    /// AD FS `ExtranetLockoutThreshold`).
    pub extranet_lockout_threshold: u32,
    /// Failures for one account from its familiar addresses before it locks for them too
    /// (default 5).
    pub familiar_lockout_threshold: u32,
    /// How long a locked account stays locked after its last counted failure, and the quiet
    /// time after which an account's count starts again (default 15 min; AD FS
    /// `ExtranetObservationWindow`). Keep it at least the directory's "reset account lockout
    /// counter after".
    pub observation_window: Duration,
    /// How long an address stays familiar after its last successful logon (default 14 days).
    pub familiar_for: Duration,
    /// Failures from one address, any account, before the address cools down (default 10).
    pub address_threshold: u32,
    /// Failures from one address for one account before that pair cools down (default 5).
    pub address_account_threshold: u32,
    /// An address key with no failure for this long starts again from zero (default 60 s).
    pub window: Duration,
    /// The first cool-down of an address key (default 1 s); each further failure doubles it.
    pub base_cooldown: Duration,
    /// The longest cool-down of an address key (default 30 s).
    pub max_cooldown: Duration,
    /// Counter keys remembered at most, and accounts whose familiar addresses are remembered
    /// (default 10,000).
    pub capacity: usize,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            extranet_lockout_threshold: 5,
            familiar_lockout_threshold: 5,
            observation_window: Duration::from_secs(15 * 60),
            familiar_for: Duration::from_secs(14 * 86_400),
            address_threshold: 10,
            address_account_threshold: 5,
            window: Duration::from_secs(60),
            base_cooldown: Duration::from_secs(1),
            max_cooldown: Duration::from_secs(30),
            capacity: 10_000,
        }
    }
}

/// Which rule refused an attempt (the `key` label of `epa_throttle_refusals_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleRule {
    /// The client's address, whatever the account.
    Address,
    /// The client's address for this account.
    AddressAccount,
    /// The account, for the kind of address (familiar or not) the client has.
    Account,
}

impl ThrottleRule {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Address => "address",
            Self::AddressAccount => "address-account",
            Self::Account => "account",
        }
    }
}

/// One logon attempt as the throttle sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attempt {
    /// The client's address, IPv6 folded to its /64 (one host usually holds a whole /64).
    pub(crate) address: Option<IpAddr>,
    /// SHA-256 of the account's folded name (fixed size, however long the name a client sends).
    pub(crate) account: [u8; 32],
}

impl Attempt {
    /// The attempt of `peer` (when known) for the folded account name.
    pub(crate) fn new(peer: Option<IpAddr>, folded_account: &str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, folded_account.as_bytes());
        let mut account = [0u8; 32];
        account.copy_from_slice(digest.as_ref());
        Self {
            address: peer.map(fold_address),
            account,
        }
    }
}

/// IPv6 folded to its /64; IPv4-mapped IPv6 to IPv4.
pub(crate) fn fold_address(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// What failures are counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    AddressAccount(IpAddr, [u8; 32]),
    Account { familiar: bool, name: [u8; 32] },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    cooling_until: Option<Instant>,
}

impl Entry {
    fn cooling(&self, now: Instant) -> bool {
        self.cooling_until.is_some_and(|until| now < until)
    }

    fn quiet(&self, now: Instant, window: Duration) -> bool {
        !self.cooling(now) && now.saturating_duration_since(self.last_failure) >= window
    }
}

/// The failure table and the familiar addresses.
#[derive(Debug)]
pub(crate) struct Throttle {
    settings: ThrottleSettings,
    table: HashMap<Key, Entry>,
    familiar: Familiar,
}

impl Throttle {
    pub(crate) fn new(settings: ThrottleSettings) -> Self {
        Self {
            settings,
            table: HashMap::new(),
            familiar: Familiar::default(),
        }
    }

    fn is_familiar(&self, a: &Attempt, now: Instant) -> bool {
        a.address.is_some_and(|ip| {
            self.familiar
                .contains(&a.account, ip, now, self.settings.familiar_for)
        })
    }

    fn keys(&self, a: &Attempt, now: Instant) -> impl Iterator<Item = (ThrottleRule, Key)> {
        let familiar = self.is_familiar(a, now);
        let address = a
            .address
            .map(|ip| (ThrottleRule::Address, Key::Address(ip)));
        let pair = a.address.map(|ip| {
            (
                ThrottleRule::AddressAccount,
                Key::AddressAccount(ip, a.account),
            )
        });
        let account = Key::Account {
            familiar,
            name: a.account,
        };
        address
            .into_iter()
            .chain(pair)
            .chain(std::iter::once((ThrottleRule::Account, account)))
    }

    /// The rule that refuses `attempt` at `now`, if any.
    pub(crate) fn check(&self, attempt: &Attempt, now: Instant) -> Result<(), ThrottleRule> {
        for (rule, key) in self.keys(attempt, now) {
            if self.table.get(&key).is_some_and(|e| e.cooling(now)) {
                return Err(rule);
            }
        }
        Ok(())
    }

    /// The address rule alone (for an attempt that names no real account).
    pub(crate) fn check_address(
        &self,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), ThrottleRule> {
        let cooling = address.is_some_and(|ip| {
            self.table
                .get(&Key::Address(fold_address(ip)))
                .is_some_and(|e| e.cooling(now))
        });
        if cooling {
            return Err(ThrottleRule::Address);
        }
        Ok(())
    }

    /// Counts one failed logon.
    pub(crate) fn failure(&mut self, attempt: &Attempt, now: Instant) {
        let keys: Vec<_> = self.keys(attempt, now).map(|(_, k)| k).collect();
        for key in keys {
            self.record(key, now);
        }
    }

    /// Counts a failure against the address alone (a refusal that names no real account, such
    /// as a domain nobody trusts).
    pub(crate) fn address_failure(&mut self, address: Option<IpAddr>, now: Instant) {
        if let Some(ip) = address {
            self.record(Key::Address(fold_address(ip)), now);
        }
    }

    /// A successful logon: the address becomes familiar for the account; the pair's and the
    /// familiar count start again.
    pub(crate) fn success(&mut self, attempt: &Attempt, now: Instant) {
        let s = self.settings;
        self.table.remove(&Key::Account {
            familiar: true,
            name: attempt.account,
        });
        if let Some(ip) = attempt.address {
            self.table.remove(&Key::AddressAccount(ip, attempt.account));
            self.familiar
                .remember(&attempt.account, ip, now, s.familiar_for, s.capacity);
        }
    }

    fn record(&mut self, key: Key, now: Instant) {
        let s = self.settings;
        let (threshold, quiet_after) = match key {
            Key::Address(_) => (s.address_threshold, s.window),
            Key::AddressAccount(..) => (s.address_account_threshold, s.window),
            Key::Account {
                familiar: false, ..
            } => (s.extranet_lockout_threshold, s.observation_window),
            Key::Account { familiar: true, .. } => {
                (s.familiar_lockout_threshold, s.observation_window)
            }
        };
        if s.capacity == 0 || threshold == 0 {
            return;
        }
        if !self.table.contains_key(&key) && self.table.len() >= s.capacity {
            self.make_room(now);
        }
        let entry = self.table.entry(key).or_insert(Entry {
            failures: 0,
            last_failure: now,
            cooling_until: None,
        });
        if entry.quiet(now, quiet_after) {
            entry.failures = 0;
            entry.cooling_until = None;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        if entry.failures >= threshold {
            let cooldown = match key {
                // Locked until the observation window has passed (AD FS).
                Key::Account { .. } => s.observation_window,
                _ => {
                    let doublings = (entry.failures - threshold).min(31);
                    s.base_cooldown
                        .saturating_mul(1u32 << doublings)
                        .min(s.max_cooldown)
                }
            };
            entry.cooling_until = Some(now + cooldown);
        }
    }

    /// Counter keys held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    fn make_room(&mut self, now: Instant) {
        let s = self.settings;
        self.table.retain(|k, e| {
            let quiet_after = match k {
                Key::Account { .. } => s.observation_window,
                _ => s.window,
            };
            !e.quiet(now, quiet_after)
        });
        if self.table.len() < s.capacity {
            return;
        }
        // Drop the least recently failed eighth (at least one), keys not cooling down first.
        let evict = (s.capacity / 8).max(1).min(self.table.len());
        let mut order: Vec<(bool, Instant, Key)> = self
            .table
            .iter()
            .map(|(k, e)| (e.cooling(now), e.last_failure, *k))
            .collect();
        order.select_nth_unstable_by(evict - 1, |a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (_, _, key) in order.into_iter().take(evict) {
            self.table.remove(&key);
        }
    }
}

#[cfg(test)]
#[path = "throttle_tests.rs"]
mod tests;
