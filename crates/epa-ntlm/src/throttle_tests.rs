//! Each smart-lockout rule against a fake clock.

use super::*;

const MS: Duration = Duration::from_millis(1);

fn at(ip: &str, account: &str) -> Attempt {
    Attempt::new(Some(ip.parse().unwrap()), account)
}

/// Settings with every rule but the one under test off.
fn only(f: impl FnOnce(&mut ThrottleSettings)) -> ThrottleSettings {
    let mut s = ThrottleSettings {
        extranet_lockout_threshold: 0,
        familiar_lockout_threshold: 0,
        address_threshold: 0,
        address_account_threshold: 0,
        ..ThrottleSettings::default()
    };
    f(&mut s);
    s
}

#[test]
fn unfamiliar_failures_lock_the_account_for_unfamiliar_addresses_only() {
    let t0 = Instant::now();
    let mut t = Throttle::new(only(|s| s.extranet_lockout_threshold = 3));
    // Alice logs in from her office once: that address is familiar from now on.
    t.success(&at("192.0.2.10", "D\\ALICE"), t0);
    // An attacker at three addresses: three failures lock the account for unfamiliar ones.
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(t.check(&at(ip, "D\\ALICE"), t0), Ok(()));
        t.failure(&at(ip, "D\\ALICE"), t0);
    }
    assert_eq!(
        t.check(&at("198.51.100.4", "D\\ALICE"), t0),
        Err(ThrottleRule::Account)
    );
    // The office is not locked, nor is another account.
    assert_eq!(t.check(&at("192.0.2.10", "D\\ALICE"), t0), Ok(()));
    assert_eq!(t.check(&at("198.51.100.4", "D\\BOB"), t0), Ok(()));
    // Without an address the attempt is unfamiliar.
    assert!(t.check(&Attempt::new(None, "D\\ALICE"), t0).is_err());
}

#[test]
fn a_locked_account_stays_locked_for_the_observation_window_after_the_last_failure() {
    let t0 = Instant::now();
    let w = Duration::from_secs(600);
    let mut t = Throttle::new(only(|s| {
        s.extranet_lockout_threshold = 2;
        s.observation_window = w;
    }));
    let a = at("198.51.100.1", "D\\ALICE");
    t.failure(&a, t0);
    t.failure(&a, t0 + MS);
    assert!(t.check(&a, t0 + w).is_err());
    // Refusals are not failures: the lock ends one window after the last counted failure.
    assert!(t.check(&a, t0 + MS + w - MS).is_err());
    assert_eq!(t.check(&a, t0 + MS + w), Ok(()));
    // The count then starts again from zero: one failure does not lock again.
    t.failure(&a, t0 + MS + w);
    assert_eq!(t.check(&a, t0 + MS + w), Ok(()));
}

#[test]
fn at_most_the_threshold_reaches_the_directory_per_window_however_slow_the_attack() {
    let t0 = Instant::now();
    let w = Duration::from_secs(60);
    let mut t = Throttle::new(only(|s| {
        s.extranet_lockout_threshold = 2;
        s.observation_window = w;
    }));
    let a = at("198.51.100.1", "D\\ALICE");
    // One try a second for ten minutes: the attempts that pass the check are the ones a
    // directory would see. Never more than 2 within any window.
    let mut passed = Vec::new();
    for s in 0..600u64 {
        let now = t0 + Duration::from_secs(s);
        if t.check(&a, now).is_ok() {
            passed.push(now);
            t.failure(&a, now);
        }
    }
    for (i, start) in passed.iter().enumerate() {
        let within = passed[i..].iter().filter(|p| **p < *start + w).count();
        assert!(within <= 2, "{within} failures within one window");
    }
}

#[test]
fn familiar_failures_have_their_own_count_and_a_success_clears_it() {
    let t0 = Instant::now();
    let mut t = Throttle::new(only(|s| {
        s.extranet_lockout_threshold = 2;
        s.familiar_lockout_threshold = 3;
    }));
    let home = at("192.0.2.10", "D\\ALICE");
    t.success(&home, t0);
    for _ in 0..2 {
        t.failure(&home, t0);
    }
    assert_eq!(t.check(&home, t0), Ok(()), "2 < familiar threshold 3");
    // Those did not count as unfamiliar failures.
    assert_eq!(t.check(&at("198.51.100.1", "D\\ALICE"), t0), Ok(()));
    t.success(&home, t0);
    for _ in 0..2 {
        t.failure(&home, t0);
    }
    assert_eq!(
        t.check(&home, t0),
        Ok(()),
        "the success started the count again"
    );
    t.failure(&home, t0);
    assert_eq!(t.check(&home, t0), Err(ThrottleRule::Account));
}

#[test]
fn familiarity_expires() {
    let t0 = Instant::now();
    let day = Duration::from_secs(86_400);
    let mut t = Throttle::new(only(|s| {
        s.extranet_lockout_threshold = 1;
        s.familiar_for = day;
    }));
    t.success(&at("192.0.2.10", "D\\ALICE"), t0);
    t.failure(&at("198.51.100.1", "D\\ALICE"), t0 + day);
    assert!(t.check(&at("192.0.2.10", "D\\ALICE"), t0 + day).is_err());
}

#[test]
fn the_address_and_account_pair_cools_down_and_doubles_up_to_the_cap() {
    let t0 = Instant::now();
    let mut t = Throttle::new(only(|s| s.address_account_threshold = 5));
    let a = at("198.51.100.1", "D\\U");
    for i in 0..4 {
        t.failure(&a, t0 + MS * i);
        assert_eq!(t.check(&a, t0 + MS * i), Ok(()));
    }
    t.failure(&a, t0);
    assert_eq!(
        t.check(&a, t0 + MS * 999),
        Err(ThrottleRule::AddressAccount)
    );
    assert_eq!(t.check(&a, t0 + Duration::from_secs(1)), Ok(()));
    // Another address for the same account, and the same address for another, are free.
    assert_eq!(t.check(&at("198.51.100.2", "D\\U"), t0), Ok(()));
    assert_eq!(t.check(&at("198.51.100.1", "D\\V"), t0), Ok(()));
    let t1 = t0 + Duration::from_secs(2);
    t.failure(&a, t1);
    assert!(t.check(&a, t1 + MS * 1999).is_err());
    assert!(t.check(&a, t1 + Duration::from_secs(2)).is_ok());
    let mut now = t1;
    for _ in 0..20 {
        now += Duration::from_secs(31);
        t.failure(&a, now);
    }
    assert!(t.check(&a, now + Duration::from_secs(29)).is_err());
    assert!(t.check(&a, now + Duration::from_secs(30)).is_ok());
    // A quiet window resets the count.
    let later = now + Duration::from_secs(91);
    t.failure(&a, later);
    assert!(t.check(&a, later).is_ok());
}

#[test]
fn the_address_cools_down_across_accounts_and_a_success_does_not_clear_it() {
    let t0 = Instant::now();
    let mut t = Throttle::new(only(|s| s.address_threshold = 3));
    for u in ["D\\A", "D\\B"] {
        t.failure(&at("198.51.100.1", u), t0);
    }
    t.success(&at("198.51.100.1", "D\\C"), t0);
    t.failure(&at("198.51.100.1", "D\\E"), t0);
    assert_eq!(
        t.check(&at("198.51.100.1", "D\\C"), t0),
        Err(ThrottleRule::Address)
    );
    assert_eq!(t.check(&at("198.51.100.2", "D\\C"), t0), Ok(()));
    // Counted against the address alone (an untrusted domain, say).
    let mut t = Throttle::new(only(|s| s.address_threshold = 1));
    t.address_failure(Some("198.51.100.9".parse().unwrap()), t0);
    assert!(t.check(&at("198.51.100.9", "D\\X"), t0).is_err());
}

#[test]
fn ipv6_addresses_share_their_slash_64_and_mapped_ipv4_is_ipv4() {
    let f = |s: &str| fold_address(s.parse().unwrap());
    assert_eq!(f("2001:db8:1:2:aaaa::1"), f("2001:db8:1:2:bbbb::2"));
    assert_ne!(f("2001:db8:1:2::1"), f("2001:db8:1:3::1"));
    assert_eq!(f("::ffff:192.0.2.1"), f("192.0.2.1"));
    assert_eq!(f("192.0.2.1"), "192.0.2.1".parse::<IpAddr>().unwrap());
}

#[test]
fn the_table_never_outgrows_its_capacity() {
    let settings = ThrottleSettings::default();
    let mut t = Throttle::new(settings);
    let now = Instant::now();
    // One account locked for unfamiliar addresses, then 100,000 addresses, all within a window.
    let target = Attempt::new(None, "EXAMPLE\\ALICE");
    for _ in 0..5 {
        t.failure(&target, now);
    }
    for i in 0..100_000u32 {
        t.address_failure(
            Some(IpAddr::from(i.to_be_bytes())),
            now + Duration::from_micros(u64::from(i)),
        );
        assert!(t.len() <= settings.capacity);
    }
    assert!(t.len() >= settings.capacity - settings.capacity / 8);
    // Keys cooling down are evicted last.
    assert!(t.check(&target, now + Duration::from_millis(500)).is_err());
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
        t.failure(&at("192.0.2.1", "X"), Instant::now());
    }
    assert_eq!(t.len(), 0);
}

/// The `key` label of `epa_throttle_refusals_total`: one per rule.
#[test]
fn each_rule_has_its_metric_label() {
    assert_eq!(ThrottleRule::Address.label(), "address");
    assert_eq!(ThrottleRule::AddressAccount.label(), "address-account");
    assert_eq!(ThrottleRule::Account.label(), "account");
}

/// When full, quiet keys go first (an account's after the observation window, an address's after
/// `window`); only if that frees no room does the least recently failed eighth (at least one)
/// go, keys cooling down last.
#[test]
fn when_full_quiet_keys_go_first_then_the_least_recently_failed_eighth() {
    let settings = ThrottleSettings {
        capacity: 16,
        ..ThrottleSettings::default()
    };
    let ip = |i: u8| IpAddr::from([10, 0, 0, i]);
    let t0 = Instant::now();
    let mut t = Throttle::new(settings);
    // One failure for an account (no address: its key alone), 15 addresses' first failures.
    t.failure(&Attempt::new(None, "D\\ALICE"), t0);
    for i in 0..15u8 {
        t.address_failure(Some(ip(i)), t0 + MS * u32::from(i));
    }
    assert_eq!(t.len(), 16);
    // Two minutes later the addresses are quiet (60 s), the account is not (15 min).
    t.address_failure(Some(ip(100)), t0 + Duration::from_secs(120));
    assert_eq!(t.len(), 2);

    // Nothing quiet: the two (16 / 8) least recently failed go, the cooling address stays.
    let mut t = Throttle::new(settings);
    for _ in 0..settings.address_threshold {
        t.address_failure(Some(ip(0)), t0);
    }
    for i in 1..16u8 {
        t.address_failure(Some(ip(i)), t0 + MS * u32::from(i));
    }
    assert_eq!(t.len(), 16);
    t.address_failure(Some(ip(100)), t0 + MS * 20);
    assert_eq!(t.len(), 15);
    assert_eq!(
        t.check_address(Some(ip(0)), t0 + MS * 20),
        Err(ThrottleRule::Address)
    );
    for (i, held) in [(1, false), (2, false), (3, true), (100, true)] {
        assert_eq!(t.table.contains_key(&Key::Address(ip(i))), held, "{i}");
    }

    // Capacity 1: the one key held goes.
    let mut t = Throttle::new(ThrottleSettings {
        capacity: 1,
        ..settings
    });
    t.address_failure(Some(ip(1)), t0);
    t.address_failure(Some(ip(2)), t0 + MS);
    assert_eq!(t.len(), 1);
    assert!(t.table.contains_key(&Key::Address(ip(2))));
}
