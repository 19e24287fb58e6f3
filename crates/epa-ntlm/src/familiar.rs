//! Familiar addresses (AD FS Extranet Smart Lockout's "familiar locations", Entra's "familiar
//! locations"): the client addresses from which an account has logged in successfully. Failures
//! from them are counted apart from failures elsewhere, so that an attacker who does not share
//! the user's address cannot lock the user out.
//!
//! Memory: at most `capacity` accounts, each with at most [`PER_ACCOUNT`] addresses (the most
//! recent successes; AD FS keeps 20); an address stays familiar for `familiar_for` after its
//! last success. When full, accounts whose addresses have all expired go first, then the eighth
//! whose last success is oldest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Addresses remembered per account, at most.
pub(crate) const PER_ACCOUNT: usize = 8;

/// The familiar addresses of every account seen.
#[derive(Debug, Default)]
pub(crate) struct Familiar {
    table: HashMap<[u8; 32], Vec<(IpAddr, Instant)>>,
}

impl Familiar {
    /// Whether `address` has logged in as `account` within `familiar_for` of `now`.
    pub(crate) fn contains(
        &self,
        account: &[u8; 32],
        address: IpAddr,
        now: Instant,
        familiar_for: Duration,
    ) -> bool {
        self.table.get(account).is_some_and(|list| {
            list.iter()
                .any(|(a, at)| *a == address && now.saturating_duration_since(*at) < familiar_for)
        })
    }

    /// Remembers a successful logon from `address` as `account`.
    pub(crate) fn remember(
        &mut self,
        account: &[u8; 32],
        address: IpAddr,
        now: Instant,
        familiar_for: Duration,
        capacity: usize,
    ) {
        if capacity == 0 {
            return;
        }
        if !self.table.contains_key(account) && self.table.len() >= capacity {
            self.make_room(now, familiar_for, capacity);
        }
        let list = self.table.entry(*account).or_default();
        list.retain(|(a, at)| *a != address && now.saturating_duration_since(*at) < familiar_for);
        if list.len() >= PER_ACCOUNT {
            // The oldest success goes (the list is kept in order of success).
            list.remove(0);
        }
        list.push((address, now));
    }

    /// Accounts held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    fn make_room(&mut self, now: Instant, familiar_for: Duration, capacity: usize) {
        self.table.retain(|_, list| {
            list.iter()
                .any(|(_, at)| now.saturating_duration_since(*at) < familiar_for)
        });
        if self.table.len() < capacity {
            return;
        }
        let evict = (capacity / 8).max(1).min(self.table.len());
        let mut order: Vec<(Instant, [u8; 32])> = self
            .table
            .iter()
            .map(|(k, list)| (list.last().map_or(now, |(_, at)| *at), *k))
            .collect();
        order.select_nth_unstable_by(evict - 1, |a, b| a.0.cmp(&b.0));
        for (_, key) in order.into_iter().take(evict) {
            self.table.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn an_address_is_familiar_after_a_success_until_it_expires() {
        let t0 = Instant::now();
        let mut f = Familiar::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(!f.contains(&[1; 32], a, t0, DAY));
        f.remember(&[1; 32], a, t0, DAY, 10);
        assert!(f.contains(&[1; 32], a, t0 + DAY / 2, DAY));
        assert!(!f.contains(&[1; 32], b, t0, DAY));
        assert!(!f.contains(&[2; 32], a, t0, DAY));
        assert!(!f.contains(&[1; 32], a, t0 + DAY, DAY));
    }

    #[test]
    fn each_account_keeps_its_most_recent_addresses_and_the_table_is_bounded() {
        let t0 = Instant::now();
        let mut f = Familiar::default();
        for i in 0..20u8 {
            let at = t0 + Duration::from_secs(u64::from(i));
            f.remember(&[1; 32], IpAddr::from([10, 0, 0, i]), at, DAY, 10);
        }
        let now = t0 + Duration::from_secs(30);
        assert!(!f.contains(&[1; 32], IpAddr::from([10, 0, 0, 0]), now, DAY));
        assert!(f.contains(&[1; 32], IpAddr::from([10, 0, 0, 19]), now, DAY));
        assert_eq!(f.table[&[1; 32]].len(), PER_ACCOUNT);
        for i in 0..1000u32 {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            f.remember(&k, IpAddr::from([10, 0, 0, 1]), now, DAY, 10);
            assert!(f.len() <= 10);
        }
        f.remember(&[9; 32], IpAddr::from([10, 0, 0, 1]), now, DAY, 0);
        assert!(f.len() <= 10);
    }

    /// When full, accounts whose addresses have all expired go first; only if that frees no
    /// room does the eighth (at least one) whose last success is oldest go. Remembering an
    /// account already held evicts nothing.
    #[test]
    fn when_full_expired_accounts_go_first_then_the_oldest_eighth() {
        let t0 = Instant::now();
        let ip = IpAddr::from([10, 0, 0, 1]);
        let other = IpAddr::from([10, 0, 0, 2]);
        let secs = |s: u64| t0 + Duration::from_secs(s);
        let mut f = Familiar::default();
        for i in 0..16u8 {
            f.remember(&[i; 32], ip, secs(u64::from(i)), DAY, 16);
        }
        assert_eq!(f.len(), 16);
        // Full, nothing expired: the two oldest (16 / 8) go.
        let now = secs(100);
        f.remember(&[100; 32], ip, now, DAY, 16);
        assert_eq!(f.len(), 15);
        assert!(!f.contains(&[0; 32], ip, now, DAY));
        assert!(!f.contains(&[1; 32], ip, now, DAY));
        assert!(f.contains(&[2; 32], ip, now, DAY));
        f.remember(&[101; 32], ip, now, DAY, 16);
        assert_eq!(f.len(), 16);
        // Full, and an account already held: nothing goes.
        f.remember(&[5; 32], other, now, DAY, 16);
        assert_eq!(f.len(), 16);
        assert!(f.contains(&[5; 32], ip, now, DAY) && f.contains(&[5; 32], other, now, DAY));
        // Full, and account 2's only success is exactly `familiar_for` old (expired): it alone
        // goes.
        let later = secs(2) + DAY;
        f.remember(&[102; 32], ip, later, DAY, 16);
        assert_eq!(f.len(), 16);
        assert!(f.contains(&[3; 32], ip, later, DAY));
        // Capacity 1: the one account held goes.
        let mut one = Familiar::default();
        one.remember(&[1; 32], ip, t0, DAY, 1);
        one.remember(&[2; 32], ip, t0, DAY, 1);
        assert_eq!(one.len(), 1);
        assert!(one.contains(&[2; 32], ip, t0, DAY));
    }

    /// A second success from the same address replaces the first (no duplicates: the eight
    /// addresses are eight different ones), and expired addresses are dropped on the way.
    #[test]
    fn a_repeated_address_is_held_once_and_expired_ones_are_dropped() {
        let t0 = Instant::now();
        let mut f = Familiar::default();
        let ip = IpAddr::from([10, 0, 0, 1]);
        for i in 0..3u64 {
            f.remember(&[1; 32], ip, t0 + Duration::from_secs(i), DAY, 10);
        }
        assert_eq!(f.table[&[1; 32]], vec![(ip, t0 + Duration::from_secs(2))]);
        let other = IpAddr::from([10, 0, 0, 2]);
        f.remember(&[1; 32], other, t0 + DAY + Duration::from_secs(2), DAY, 10);
        assert_eq!(
            f.table[&[1; 32]],
            vec![(other, t0 + DAY + Duration::from_secs(2))]
        );
    }
}
