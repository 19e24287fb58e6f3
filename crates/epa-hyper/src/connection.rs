//! What one connection knows: its [`ChannelFacts`] (captured once, at the handshake) and, per
//! [`crate::ExtendedProtectionLayer`] instance, that layer's half-finished exchange and the
//! identity it authenticated.
//!
//! State belongs to the connection *and* to the layer that made it. Two layers on one
//! connection (a lax route and a strict route, or two user databases) never see each other's
//! identity or exchange: an identity authenticated under `never` is not an identity under
//! `always`, and an exchange begun by one backend is never completed by another.

use crate::authenticator::{ExpectedBindings, Scheme, SecurityContext};
use crate::client_cert::PeerCertificate;
use epa_core::Sid;
use epa_core::authenticator::Identity;
use epa_core::cbt::{self, ChannelBinding, TLS_EXPORTER_LEN};
use epa_core::decide::{ClientServiceName, Mechanism, Reason, Transport};
use rustls::ProtocolVersion;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// What a connection's transport tells Extended Protection. Built once per connection.
#[derive(Debug, Clone)]
pub struct ChannelFacts {
    /// The peer's address.
    pub peer: SocketAddr,
    /// HTTPS (TLS ends here) or HTTP.
    pub transport: Transport,
    /// The TLS version, if TLS.
    pub tls_version: Option<ProtocolVersion>,
    /// `tls-server-end-point` of the certificate this connection presented, with every form a
    /// backend compares against. `None` on an HTTPS connection is a configuration error: the
    /// layer answers 500 rather than decide without the channel.
    pub server_end_point: Option<ExpectedBindings>,
    /// The RFC 9266 `tls-exporter` value.
    pub exporter: Option<[u8; TLS_EXPORTER_LEN]>,
    /// The negotiated ALPN protocol.
    pub alpn: Option<Vec<u8>>,
    /// The client certificate's verdict, when the listener asks for one
    /// ([`crate::TlsAcceptor::with_client_certificates`]); `None` when it does not ask.
    pub client_certificate: Option<PeerCertificate>,
}

impl ChannelFacts {
    /// A plain-HTTP connection.
    pub fn plain(peer: SocketAddr) -> Self {
        Self {
            peer,
            transport: Transport::Http,
            tls_version: None,
            server_end_point: None,
            exporter: None,
            alpn: None,
            client_certificate: None,
        }
    }

    /// A TLS connection terminated by another stack: supply the server certificate's DER (as
    /// sent in the Certificate message) and, if known, the exporter value.
    pub fn tls(
        peer: SocketAddr,
        server_certificate_der: &[u8],
        exporter: Option<[u8; TLS_EXPORTER_LEN]>,
    ) -> Result<Self, cbt::CertificateError> {
        let ep = cbt::tls_server_end_point(server_certificate_der)?;
        Ok(Self {
            peer,
            transport: Transport::Https,
            tls_version: None,
            server_end_point: Some(ExpectedBindings::new(ep.binding)),
            exporter,
            alpn: None,
            client_certificate: None,
        })
    }

    /// The `tls-exporter` binding, if the exporter was recorded.
    pub fn tls_exporter_binding(&self) -> Option<ChannelBinding> {
        self.exporter.as_ref().map(ChannelBinding::tls_exporter)
    }
}

/// The authenticated caller, placed in the request extensions. A cheap handle (one `Arc`), so
/// that authenticated keep-alive requests do not copy the identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedUser(pub(crate) Arc<Authenticated>);

impl std::ops::Deref for AuthenticatedUser {
    type Target = Authenticated;
    fn deref(&self) -> &Authenticated {
        &self.0
    }
}

/// What [`AuthenticatedUser`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// User and domain or realm.
    pub identity: Identity,
    /// NTLM or Kerberos.
    pub mechanism: Mechanism,
    /// The decision's service name (.NET `HttpListenerRequest.ServiceName`).
    pub service_name: ClientServiceName,
    /// Why the decision accepted (e.g. [`Reason::BindingVerified`]; `reason.code()` is the
    /// stable string).
    pub reason: Reason,
    /// The account's SID, when the backend learnt it.
    pub user_sid: Option<Sid>,
    /// The SIDs of the account's groups (nested membership expanded by the backend); empty when
    /// the backend does not know groups.
    pub groups: Vec<Sid>,
    /// The groups' names as `DOMAIN\Group`, when the backend resolved them; empty otherwise.
    pub group_names: Vec<String>,
}

/// Identifies one layer instance: its backend, policy and settings. Every layer built or
/// re-configured gets a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LayerId(u64);

impl LayerId {
    pub(crate) fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// One leg-by-leg exchange in progress.
pub(crate) struct Exchange {
    pub(crate) scheme: Scheme,
    pub(crate) context: Box<dyn SecurityContext>,
    pub(crate) legs: u32,
    pub(crate) started: Instant,
}

/// One layer's state on one connection.
#[derive(Default)]
pub(crate) struct LayerState {
    pub(crate) exchange: Option<Exchange>,
    pub(crate) identity: Option<AuthenticatedUser>,
}

/// Most layers whose state one connection keeps; beyond it the least recently used is dropped
/// (its client authenticates again). A bound, so that a route table cannot grow a connection.
const MAX_LAYERS_PER_CONNECTION: usize = 16;

#[derive(Default)]
struct LayerStates {
    /// Most recently used last.
    entries: Vec<(LayerId, LayerState)>,
}

impl LayerStates {
    fn get(&mut self, id: LayerId) -> &mut LayerState {
        let at = match self.entries.iter().position(|(k, _)| *k == id) {
            Some(i) => {
                let entry = self.entries.remove(i);
                self.entries.push(entry);
                self.entries.len() - 1
            }
            None => {
                if self.entries.len() >= MAX_LAYERS_PER_CONNECTION {
                    self.entries.remove(0);
                }
                self.entries.push((id, LayerState::default()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[at].1
    }
}

/// Most values derived from logins ([`ConnectionContext::login_value`]) one connection keeps:
/// one login at a time in practice, a few when a client alternates between routes.
const MAX_LOGIN_VALUES_PER_CONNECTION: usize = 4;

/// One value a component derived from one login.
struct LoginValue {
    /// The login (pointer identity: each accepted exchange makes its own).
    login: Arc<Authenticated>,
    /// The component instance that made it.
    owner: u64,
    value: Arc<dyn std::any::Any + Send + Sync>,
}

/// One connection's state: its facts and, per layer, its authentication state.
#[derive(Clone)]
pub struct ConnectionContext {
    facts: Arc<ChannelFacts>,
    layers: Arc<Mutex<LayerStates>>,
    /// Values derived from this connection's logins, most recently used last.
    login_values: Arc<Mutex<Vec<LoginValue>>>,
}

impl std::fmt::Debug for ConnectionContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionContext")
            .field("facts", &self.facts)
            .finish_non_exhaustive()
    }
}

impl ConnectionContext {
    /// A fresh context for a new connection. Create exactly one per connection.
    pub fn new(facts: ChannelFacts) -> Self {
        Self {
            facts: Arc::new(facts),
            layers: Arc::new(Mutex::new(LayerStates::default())),
            login_values: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The value `owner` (a component instance, e.g. one route's proxy settings) derived from
    /// `user`'s login on this connection: the cached one while `reuse` accepts it, else a new
    /// one from `make`, cached. Made once per login, never shared between connections; at
    /// most a few per connection (the least recently used is dropped).
    pub fn login_value<T: std::any::Any + Send + Sync>(
        &self,
        user: &AuthenticatedUser,
        owner: u64,
        reuse: impl FnOnce(&T) -> bool,
        make: impl FnOnce() -> T,
    ) -> Arc<T> {
        let mut values = self
            .login_values
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let found = values
            .iter()
            .position(|v| v.owner == owner && Arc::ptr_eq(&v.login, &user.0));
        if let Some(i) = found {
            let entry = values.remove(i);
            if let Ok(value) = Arc::downcast::<T>(entry.value.clone())
                && reuse(&value)
            {
                values.push(entry);
                return value;
            }
        }
        let value = Arc::new(make());
        if values.len() >= MAX_LOGIN_VALUES_PER_CONNECTION {
            values.remove(0);
        }
        values.push(LoginValue {
            login: user.0.clone(),
            owner,
            value: value.clone(),
        });
        value
    }

    /// The connection's facts.
    pub fn facts(&self) -> &ChannelFacts {
        &self.facts
    }

    /// When the oldest half-finished authentication exchange on this connection started, if
    /// one is pending (a server closes such a connection once its exchange deadline passes).
    pub fn pending_exchange_since(&self) -> Option<Instant> {
        self.lock()
            .entries
            .iter()
            .filter_map(|(_, s)| s.exchange.as_ref().map(|e| e.started))
            .min()
    }

    /// Runs `f` on the state of layer `id` (created empty on first use).
    pub(crate) fn with_layer<R>(&self, id: LayerId, f: impl FnOnce(&mut LayerState) -> R) -> R {
        f(self.lock().get(id))
    }

    fn lock(&self) -> MutexGuard<'_, LayerStates> {
        // A panic elsewhere while holding the lock leaves consistent data (plain fields).
        self.layers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_states_are_bounded_and_evict_the_least_recently_used() {
        let ctx = ConnectionContext::new(ChannelFacts::plain(([127, 0, 0, 1], 1).into()));
        let first = LayerId::fresh();
        ctx.with_layer(first, |s| s.identity = None);
        let ids: Vec<_> = (0..MAX_LAYERS_PER_CONNECTION * 4)
            .map(|_| LayerId::fresh())
            .collect();
        for id in &ids {
            ctx.with_layer(*id, |_| ());
        }
        assert_eq!(ctx.lock().entries.len(), MAX_LAYERS_PER_CONNECTION);
        assert!(!ctx.lock().entries.iter().any(|(k, _)| *k == first));
    }

    fn login(name: &str) -> AuthenticatedUser {
        AuthenticatedUser(Arc::new(Authenticated {
            identity: Identity::ntlm("EPA", name),
            mechanism: Mechanism::Ntlm,
            service_name: ClientServiceName::Missing,
            reason: Reason::BindingVerified,
            user_sid: None,
            groups: Vec::new(),
            group_names: Vec::new(),
        }))
    }

    #[test]
    fn login_values_are_made_once_per_login_and_owner_and_bounded() {
        let ctx = ConnectionContext::new(ChannelFacts::plain(([127, 0, 0, 1], 1).into()));
        let made = std::cell::Cell::new(0);
        let get = |u: &AuthenticatedUser, owner: u64, reuse: bool| {
            *ctx.login_value(
                u,
                owner,
                |_: &u32| reuse,
                || {
                    made.set(made.get() + 1);
                    made.get()
                },
            )
        };
        let alice = login("alice");
        assert_eq!(get(&alice, 1, true), 1);
        assert_eq!(get(&alice.clone(), 1, true), 1);
        // Another login with equal contents is another login; another owner another value.
        assert_eq!(get(&login("alice"), 1, true), 2);
        assert_eq!(get(&alice, 2, true), 3);
        assert_eq!(get(&alice, 1, false), 4);
        assert_eq!(get(&alice, 1, true), 4);
        // Another connection never sees this one's values.
        let other = ConnectionContext::new(ChannelFacts::plain(([127, 0, 0, 1], 2).into()));
        assert_eq!(*other.login_value(&alice, 1, |_: &u32| true, || 99), 99);
        for owner in 10..20 {
            get(&alice, owner, true);
        }
        let len = ctx.login_values.lock().unwrap().len();
        assert_eq!(len, MAX_LOGIN_VALUES_PER_CONNECTION);
    }
}
