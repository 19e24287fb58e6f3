//! [`NtlmAcceptor`]: the embedded acceptor's configuration (names, user file or verifier, clocks,
//! throttling), shared by all connections, and its [`Authenticator`] implementation.

use crate::casing;
use crate::throttle::{Throttle, ThrottleSettings};
use crate::users::UserDb;
use crate::verifier::CredentialVerifier;
use epa_core::authenticator::Scheme;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// The embedded NTLMv2 acceptor's configuration, shared by all connections.
#[derive(Clone)]
pub struct NtlmAcceptor {
    pub(crate) users: Arc<UserDb>,
    pub(crate) verifier: Option<Arc<dyn CredentialVerifier>>,
    pub(crate) netbios_domain: String,
    pub(crate) netbios_computer: String,
    pub(crate) dns_domain: String,
    pub(crate) dns_computer: String,
    pub(crate) max_clock_skew: Duration,
    pub(crate) clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
    pub(crate) monotonic: Arc<dyn Fn() -> Instant + Send + Sync>,
    throttle: Option<Arc<Mutex<Throttle>>>,
    /// Verifier calls under way per client address (folded as the throttle folds it).
    pub(crate) in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
    pub(crate) max_in_flight_per_address: usize,
    pub(crate) schemes: [Scheme; 2],
}

impl std::fmt::Debug for NtlmAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtlmAcceptor")
            .field("users", &self.users)
            .field("verifier", &self.verifier.is_some())
            .field("netbios_domain", &self.netbios_domain)
            .field("max_clock_skew", &self.max_clock_skew)
            .field("throttle", &self.throttle.is_some())
            .finish()
    }
}

impl NtlmAcceptor {
    /// An acceptor for `users`, announcing NetBIOS domain `domain` and computer `computer`.
    /// The clock-skew limit defaults to 5 minutes (Kerberos' default skew); failed logons are
    /// throttled with [`ThrottleSettings::default`].
    pub fn new(users: UserDb, domain: &str, computer: &str) -> Self {
        Self {
            users: Arc::new(users),
            verifier: None,
            netbios_domain: casing::upcase(domain),
            netbios_computer: casing::upcase(computer),
            dns_domain: domain.to_lowercase(),
            dns_computer: computer.to_lowercase(),
            max_clock_skew: Duration::from_secs(300),
            clock: Arc::new(SystemTime::now),
            monotonic: Arc::new(Instant::now),
            throttle: Some(Arc::new(Mutex::new(Throttle::new(
                ThrottleSettings::default(),
            )))),
            in_flight: Arc::new(Mutex::new(HashMap::new())),
            max_in_flight_per_address: 4,
            schemes: [Scheme::Negotiate, Scheme::Ntlm],
        }
    }

    /// An acceptor whose NTLMv2 responses are verified by `verifier` (a domain controller, for
    /// example) instead of a user file. Everything else is as [`new`](Self::new): this acceptor
    /// issues the challenge, reads the AV pairs and verifies the MIC with the session key the
    /// verifier returns.
    pub fn with_verifier(verifier: impl CredentialVerifier, domain: &str, computer: &str) -> Self {
        let mut a = Self::new(UserDb::default(), domain, computer);
        a.verifier = Some(Arc::new(verifier));
        a
    }

    /// Sets the DNS domain and computer names the CHALLENGE announces (default: the NetBIOS
    /// names in lower case).
    pub fn dns_names(mut self, domain: &str, computer: &str) -> Self {
        self.dns_domain = domain.to_ascii_lowercase();
        self.dns_computer = computer.to_ascii_lowercase();
        self
    }

    /// Verifier calls one client address may have under way at once (default 4; 0 = no
    /// limit): more are answered 503 at once, so that one client cannot hold every slot of the
    /// verifier's own `max_in_flight` while a domain controller is slow.
    pub fn max_in_flight_per_address(mut self, n: usize) -> Self {
        self.max_in_flight_per_address = n;
        self
    }

    /// Throttles failed logons (smart lockout) with `settings`.
    pub fn throttle(mut self, settings: ThrottleSettings) -> Self {
        self.throttle = Some(Arc::new(Mutex::new(Throttle::new(settings))));
        self
    }

    /// Turns failure throttling off (an explicit choice: a front end must then limit
    /// password guessing).
    pub fn without_throttle(mut self) -> Self {
        self.throttle = None;
        self
    }

    /// Runs `f` on the failure table, if throttling is on (a poisoned lock is still usable: the
    /// table holds no invariant a panic could break).
    pub(crate) fn throttled<R>(&self, f: impl FnOnce(&mut Throttle) -> R) -> Option<R> {
        let table = self.throttle.as_ref()?;
        Some(f(&mut table.lock().unwrap_or_else(PoisonError::into_inner)))
    }

    /// Replaces the monotonic clock the throttle uses (tests).
    pub fn with_monotonic_clock(
        mut self,
        clock: impl Fn() -> Instant + Send + Sync + 'static,
    ) -> Self {
        self.monotonic = Arc::new(clock);
        self
    }

    /// Sets the allowed distance between the client's NTLMv2 timestamp and our clock.
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = skew;
        self
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }
}
