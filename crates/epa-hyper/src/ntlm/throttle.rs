//! Failed-logon throttling for the embedded NTLM acceptor, per client address and per account,
//! in a table of bounded size.
//!
//! After [`ThrottleSettings::max_failures`] wrong passwords with no quiet period of
//! [`ThrottleSettings::window`] in between, a key *cools down* for `base_cooldown × 2^(n − max)`
//! (capped at `max_cooldown`). While either the client's address or the named account cools
//! down, AUTHENTICATE is refused with 401 **without checking the password** (so a guess made
//! then teaches nothing), instead of sleeping, which would hold a worker thread. Refusals during
//! a cool-down are not counted as failures. A success clears the account's count, not the
//! address's (an attacker holding one valid account must not reset its own address).
//!
//! Memory: at most [`ThrottleSettings::capacity`] keys of fixed size (key and entry 80 bytes,
//! plus the table's overhead: about 1.3 MiB for the default 10,000). When full, quiet keys are dropped first,
//! then the least recently failed eighth (keys not cooling down before keys cooling down).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How failed logons are throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failures allowed before the first cool-down (default 5).
    pub max_failures: u32,
    /// A key with no failure for this long starts again from zero (default 60 s).
    pub window: Duration,
    /// The first cool-down (default 1 s); each further failure doubles it.
    pub base_cooldown: Duration,
    /// The longest cool-down (default 30 s).
    pub max_cooldown: Duration,
    /// Keys remembered at most (default 10,000; about 1.3 MiB).
    pub capacity: usize,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::from_secs(60),
            base_cooldown: Duration::from_secs(1),
            max_cooldown: Duration::from_secs(30),
            capacity: 10_000,
        }
    }
}

/// What failures are counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ThrottleKey {
    /// The client's address; IPv6 folded to its /64 (one host usually holds a whole /64).
    Address(IpAddr),
    /// An account: SHA-256 of `UPPER(domain)\UPPER(user)` of the matched account (the empty
    /// domain for a wildcard account, whatever domain the client typed), or of the name the
    /// client typed when no account matched. Hashed so that a key has a fixed size, however
    /// long the name a client sends (up to the 64 KiB header limit).
    Account([u8; 32]),
}

impl ThrottleKey {
    /// The key of a client address.
    pub(crate) fn address(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !u128::from(u64::MAX);
                Self::Address(IpAddr::V6(prefix.into()))
            }
            v4 => Self::Address(v4),
        }
    }

    /// The key of an account's folded name (`UPPER(domain)\UPPER(user)`).
    pub(crate) fn account(folded_name: &str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, folded_name.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        Self::Account(key)
    }
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

/// The failure table.
#[derive(Debug)]
pub(crate) struct Throttle {
    settings: ThrottleSettings,
    table: HashMap<ThrottleKey, Entry>,
}

impl Throttle {
    pub(crate) fn new(settings: ThrottleSettings) -> Self {
        Self {
            settings,
            table: HashMap::new(),
        }
    }

    /// Whether any of `keys` is cooling down at `now`.
    pub(crate) fn cooling(&self, keys: &[&ThrottleKey], now: Instant) -> bool {
        keys.iter()
            .any(|k| self.table.get(*k).is_some_and(|e| e.cooling(now)))
    }

    /// Counts one failed logon against `key`.
    pub(crate) fn record_failure(&mut self, key: &ThrottleKey, now: Instant) {
        let s = self.settings;
        if s.capacity == 0 {
            return;
        }
        if !self.table.contains_key(key) && self.table.len() >= s.capacity {
            self.make_room(now);
        }
        let entry = self.table.entry(key.clone()).or_insert(Entry {
            failures: 0,
            last_failure: now,
            cooling_until: None,
        });
        if entry.quiet(now, s.window) {
            entry.failures = 0;
            entry.cooling_until = None;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        if entry.failures >= s.max_failures {
            let doublings = (entry.failures - s.max_failures).min(31);
            let cooldown = s
                .base_cooldown
                .saturating_mul(1u32 << doublings)
                .min(s.max_cooldown);
            entry.cooling_until = Some(now + cooldown);
        }
    }

    /// Forgets `key`'s failures (after a successful logon).
    pub(crate) fn record_success(&mut self, key: &ThrottleKey) {
        self.table.remove(key);
    }

    /// Keys held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    fn make_room(&mut self, now: Instant) {
        let window = self.settings.window;
        self.table.retain(|_, e| !e.quiet(now, window));
        let capacity = self.settings.capacity;
        if self.table.len() < capacity {
            return;
        }
        // Drop the least recently failed eighth (at least one), keys not cooling down first.
        let evict = (capacity / 8).max(1).min(self.table.len());
        let mut order: Vec<(bool, Instant, ThrottleKey)> = self
            .table
            .iter()
            .map(|(k, e)| (e.cooling(now), e.last_failure, k.clone()))
            .collect();
        order.select_nth_unstable_by(evict - 1, |a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (_, _, key) in order.into_iter().take(evict) {
            self.table.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str) -> ThrottleKey {
        ThrottleKey::account(name)
    }

    #[test]
    fn cools_down_after_max_failures_and_doubles_up_to_the_cap() {
        let t0 = Instant::now();
        let mut t = Throttle::new(ThrottleSettings::default());
        let k = account("D\\U");
        for i in 0..4 {
            t.record_failure(&k, t0 + Duration::from_millis(i));
            assert!(!t.cooling(&[&k], t0 + Duration::from_millis(i)));
        }
        t.record_failure(&k, t0);
        assert!(t.cooling(&[&k], t0 + Duration::from_millis(999)));
        assert!(!t.cooling(&[&k], t0 + Duration::from_secs(1)));
        // The sixth failure doubles; the count keeps growing until a quiet minute.
        let t1 = t0 + Duration::from_secs(2);
        t.record_failure(&k, t1);
        assert!(t.cooling(&[&k], t1 + Duration::from_millis(1999)));
        assert!(!t.cooling(&[&k], t1 + Duration::from_secs(2)));
        let mut now = t1;
        for _ in 0..20 {
            now += Duration::from_secs(31);
            t.record_failure(&k, now);
        }
        assert!(t.cooling(&[&k], now + Duration::from_secs(29)));
        assert!(!t.cooling(&[&k], now + Duration::from_secs(30)));
        // A quiet window resets the count.
        let later = now + Duration::from_secs(91);
        t.record_failure(&k, later);
        assert!(!t.cooling(&[&k], later));
    }

    #[test]
    fn ipv6_addresses_share_their_slash_64() {
        let a = ThrottleKey::address("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ThrottleKey::address("2001:db8:1:2:bbbb::2".parse().unwrap());
        let c = ThrottleKey::address("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            ThrottleKey::address("192.0.2.1".parse().unwrap()),
            ThrottleKey::Address("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn the_table_never_outgrows_its_capacity() {
        let settings = ThrottleSettings::default();
        let mut t = Throttle::new(settings);
        let now = Instant::now();
        // One key that cools down, then 100,000 others, all within one window.
        let target = account("EXAMPLE\\ALICE");
        for _ in 0..5 {
            t.record_failure(&target, now);
        }
        for i in 0..100_000u32 {
            t.record_failure(
                &ThrottleKey::address(IpAddr::from(i.to_be_bytes())),
                now + Duration::from_micros(u64::from(i)),
            );
            assert!(t.len() <= settings.capacity);
        }
        assert!(t.len() >= settings.capacity - settings.capacity / 8);
        // Keys cooling down are evicted last.
        assert!(t.cooling(&[&target], now + Duration::from_millis(500)));
        // Quiet keys are dropped before anything else.
        t.make_room(now + Duration::from_secs(3600));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn zero_capacity_remembers_nothing() {
        let mut t = Throttle::new(ThrottleSettings {
            capacity: 0,
            ..ThrottleSettings::default()
        });
        for _ in 0..10 {
            t.record_failure(&account("X"), Instant::now());
        }
        assert_eq!(t.len(), 0);
    }
}
