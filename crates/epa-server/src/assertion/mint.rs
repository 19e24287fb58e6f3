//! Minting: one route's assertion settings ([`Minter`]: the keys, `iss`, lifetime and the
//! route's `aud`) and a minted assertion ([`Minted`]), which the proxy keeps per login on its
//! connection and reuses until less than a quarter of its lifetime is left.

use super::claims::Claims;
use super::jws::compact;
use super::keys::KeySet;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use epa_hyper::Authenticated;
use http::{HeaderName, HeaderValue};
use ring::rand::SecureRandom as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// What every route's minter shares: the keys and the table's settings.
#[derive(Debug)]
struct Shared {
    keys: KeySet,
    issuer: String,
    lifetime: u64,
    header: HeaderName,
    rng: ring::rand::SystemRandom,
}

/// One route's assertion settings. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Minter {
    shared: Arc<Shared>,
    audience: Arc<str>,
}

/// A minted assertion.
#[derive(Debug, Clone)]
pub struct Minted {
    /// The header value (the compact JWS).
    pub value: HeaderValue,
    /// `exp`.
    pub expires: u64,
    /// When to mint again: `iat` + 3/4 of the lifetime.
    pub renew_at: u64,
}

impl Minted {
    /// Still good to send at `now` (seconds since the epoch).
    pub fn fresh_at(&self, now: u64) -> bool {
        now < self.renew_at
    }
}

/// Seconds since the epoch.
pub(crate) fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Minter {
    /// The settings of `[identity_assertion]` with `keys` (read from its files), for the
    /// default audience.
    pub fn new(
        table: &epa_config::IdentityAssertionTable,
        keys: KeySet,
        header: HeaderName,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                keys,
                issuer: table.issuer.clone(),
                lifetime: table.lifetime,
                header,
                rng: ring::rand::SystemRandom::new(),
            }),
            audience: table.audience.as_str().into(),
        }
    }

    /// The same settings for another audience (a route's `assertion_audience`).
    #[must_use]
    pub fn for_audience(&self, audience: &str) -> Self {
        Self {
            shared: self.shared.clone(),
            audience: audience.into(),
        }
    }

    /// The header the assertion goes in.
    pub fn header(&self) -> &HeaderName {
        &self.shared.header
    }

    /// The keys (for the key page).
    pub fn keys(&self) -> &KeySet {
        &self.shared.keys
    }

    /// An assertion for `user`, issued now; `None` only if the random source or the signer
    /// fails.
    pub fn mint(&self, user: &Authenticated) -> Option<Minted> {
        self.mint_at(user, now_seconds())
    }

    /// An assertion for `user` issued at `now`.
    pub fn mint_at(&self, user: &Authenticated, now: u64) -> Option<Minted> {
        let s = &self.shared;
        let mut id = [0u8; 16];
        s.rng.fill(&mut id).ok()?;
        let claims = Claims::of(
            user,
            &s.issuer,
            &self.audience,
            now,
            s.lifetime,
            B64.encode(id),
        );
        let payload = serde_json::to_vec(&claims).ok()?;
        let token = compact(&s.keys.current, &payload)?;
        Some(Minted {
            value: HeaderValue::from_str(&token).ok()?,
            expires: claims.exp,
            renew_at: now.saturating_add(s.lifetime - s.lifetime / 4),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use epa_core::authenticator::Identity;
    use epa_core::decide::{ClientServiceName, Mechanism, Reason};

    #[test]
    fn minted_assertions_renew_before_a_quarter_of_the_lifetime_is_left() {
        let table: epa_config::IdentityAssertionTable = toml::from_str(
            "signing_key_file = \"k\"\nissuer = \"https://epa\"\naudience = \"app\"\nlifetime = 100\n",
        )
        .unwrap();
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let key = super::super::SigningKey::from_pem(
            kp.serialize_pem().as_bytes(),
            std::path::Path::new("k"),
        )
        .unwrap();
        let keys = KeySet {
            current: key,
            previous: vec![],
        };
        let m = Minter::new(&table, keys, HeaderName::from_static("x-epa-assertion"));
        let user = Authenticated {
            identity: Identity::ntlm("EPA", "alice"),
            mechanism: Mechanism::Ntlm,
            service_name: ClientServiceName::Missing,
            reason: Reason::BindingVerified,
            user_sid: None,
            groups: vec![],
            group_names: vec![],
        };
        let a = m.mint_at(&user, 1000).unwrap();
        assert_eq!((a.expires, a.renew_at), (1100, 1075));
        assert!(a.fresh_at(1074) && !a.fresh_at(1075));
        let b = m.for_audience("other").mint_at(&user, 1000).unwrap();
        let payload = |v: &HeaderValue| -> serde_json::Value {
            let p = v.to_str().unwrap().split('.').nth(1).unwrap().to_owned();
            serde_json::from_slice(&B64.decode(p).unwrap()).unwrap()
        };
        assert_eq!(payload(&a.value)["aud"], "app");
        assert_eq!(payload(&b.value)["aud"], "other");
        // Every assertion has its own jti (128 random bits).
        assert_ne!(payload(&a.value)["jti"], payload(&b.value)["jti"]);
        assert_eq!(
            B64.decode(payload(&a.value)["jti"].as_str().unwrap())
                .unwrap()
                .len(),
            16
        );
    }
}
