//! Smart lockout through `epa serve` (embedded backend), with curl as the client and loopback
//! addresses (127.0.0.2, 127.0.0.3, …) as distinct client addresses: an attacker guessing one
//! account's password from one address no longer locks that account out for the addresses it
//! has logged in from (issue 20 item 3: 0 of 20 correct logins during a 40 s attack at 2 req/s
//! before), while the account stays locked for unfamiliar addresses, and `[backend]` tunes it
//! or turns it off.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

const POLICY: &str = "[policy]\nenforcement = \"when-supported\"\nprefixes = [\"https://localhost/\"]\n[metrics]\nallow_from = [\"127.0.0.1\"]\n";

fn config(backend: &str) -> String {
    let (cert, key, _) = support::cert_files();
    format!(
        "[listener]\naddress = \"127.0.0.1:0\"\ncertificate_file = {cert:?}\nkey_file = {key:?}\n{POLICY}{backend}"
    )
}

/// One curl NTLM login as `TESTDOM\alice` from source address `from`: the status.
fn login(port: u16, from: &str, password: &str) -> u16 {
    support::curl_ntlm_from(port, from, "TESTDOM\\alice", password, 10)
}

fn metrics(port: u16) -> String {
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "10"])
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .arg(format!("https://localhost:{port}/metrics"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_attack_from_one_address_does_not_lock_out_the_users_familiar_address() {
    // Default settings: this configuration is valid on every version.
    let (_serve, addr) = support::epa_serve(&config("")).unwrap();
    let port = addr.port();
    // Alice works from 127.0.0.2.
    assert_eq!(login(port, "127.0.0.2", "userpw"), 200);
    // An attacker at 127.0.0.3 guesses her password, ~4 tries a second, for 8 s before she
    // comes back (by then the old throttle's cool-down had doubled to 8 s)…
    let stop = Arc::new(AtomicBool::new(false));
    let tries = Arc::new(AtomicU32::new(0));
    let attacker = {
        let (stop, tries) = (stop.clone(), tries.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                assert_eq!(login(port, "127.0.0.3", "guess"), 401);
                tries.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(8));
    // …and goes on while Alice logs in every 2 s from her address for 20 s (as in the issue's
    // measurement: 20 logins, one every 2 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut ok, mut total) = (0, 0);
    while Instant::now() < deadline {
        total += 1;
        if login(port, "127.0.0.2", "userpw") == 200 {
            ok += 1;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    stop.store(true, Ordering::SeqCst);
    attacker.join().unwrap();
    let guesses = tries.load(Ordering::SeqCst);
    eprintln!("{ok} of {total} correct logins during {guesses} wrong ones");
    assert!(guesses >= 40, "the attack ran ({guesses} tries)");
    assert_eq!(ok, total, "{ok} of {total} correct logins succeeded");
    // The account is locked for unfamiliar addresses: the right password from a new one is
    // refused, unchecked, and counted.
    assert_eq!(login(port, "127.0.0.4", "userpw"), 401);
    let page = metrics(port);
    assert!(
        page.lines()
            .any(|l| l.starts_with("epa_throttle_refusals_total{key=\"account\"}")),
        "{page}"
    );
    assert!(
        page.lines()
            .any(|l| l.starts_with("epa_decisions_total") && l.contains("reason=\"throttled\"")),
        "{page}"
    );
    assert!(
        page.lines()
            .any(|l| l.starts_with("epa_decisions_total")
                && l.contains("reason=\"bad-credentials\"")),
        "{page}"
    );
}

#[test]
fn backend_keys_tune_the_lockout_or_turn_it_off() {
    // Two unfamiliar failures lock the account for 2 s after the last one.
    let (_serve, addr) = support::epa_serve(&config(
        "[backend]\nkind = \"embedded\"\nextranet_lockout_threshold = 2\nlockout_observation_window = 2\n",
    ))
    .unwrap();
    let port = addr.port();
    for _ in 0..2 {
        assert_eq!(login(port, "127.0.0.5", "guess"), 401);
    }
    assert_eq!(login(port, "127.0.0.6", "userpw"), 401, "locked");
    std::thread::sleep(Duration::from_millis(2_200));
    assert_eq!(
        login(port, "127.0.0.6", "userpw"),
        200,
        "the window has passed"
    );
    // Off: twenty wrong passwords from one address, then the right one from it.
    let (_serve, addr) = support::epa_serve(&config(
        "[backend]\nkind = \"embedded\"\nlockout = \"off\"\n",
    ))
    .unwrap();
    for _ in 0..20 {
        assert_eq!(login(addr.port(), "127.0.0.7", "guess"), 401);
    }
    assert_eq!(login(addr.port(), "127.0.0.7", "userpw"), 200);
    // A value out of range does not start.
    let err = support::epa_serve(&config(
        "[backend]\nkind = \"embedded\"\nlockout_observation_window = 0\n",
    ))
    .unwrap_err();
    assert!(err.contains("lockout_observation_window"), "{err}");
}
