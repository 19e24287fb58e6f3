//! Signed identity assertions (issue #23): a compact JWS (RFC 7515 §7.1) whose payload is a
//! JWT claims set (RFC 7519) naming the caller, minted once per login and sent to the upstream
//! in a header, and the key page (a JWK Set, RFC 7517 §5) the upstream verifies it with.
//!
//! * `keys`: the signing key (ES256, RFC 7518 §3.4, or EdDSA/Ed25519, RFC 8037) and the
//!   previous keys from PKCS#8 PEM files, their public JWKs and `kid`s (RFC 7638 thumbprints);
//! * `jws`: the compact serialisation (base64url without padding, RFC 7515 §2);
//! * `claims`: what the assertion says of a login;
//! * `mint`: the per-route minter ([`Minter`]) and the minted assertion ([`Minted`]);
//! * `page`: the key page (`jwks_path`), anonymous, GET/HEAD only.
//!
//! `ring` signs (it is already here for rustls); no JOSE crate: see docs/decisions.md.

mod claims;
mod jws;
mod keys;
mod mint;
mod page;

pub use claims::{Claims, binding_class};
pub use jws::compact;
pub use keys::{KeyError, KeySet, SigningKey, key_file_fact};
pub(crate) use mint::now_seconds;
pub use mint::{Minted, Minter};
pub use page::KeyPage;

use thiserror::Error;

/// Why assertions cannot be set up from a configuration.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AssertionSetupError {
    /// The table is invalid.
    #[error(transparent)]
    Table(#[from] epa_config::AssertionError),
    /// A key file.
    #[error(transparent)]
    Key(#[from] KeyError),
}
