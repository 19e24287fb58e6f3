//! Assertion keys: PKCS#8 PEM files holding an EC P-256 key (ES256, RFC 7518 §3.4) or an
//! Ed25519 key (EdDSA, RFC 8037 §3.1), their public JWKs (RFC 7517 §4, RFC 7518 §6.2,
//! RFC 8037 §2) and `kid`s: the RFC 7638 thumbprint (base64url SHA-256 of the required
//! members in lexicographic order, no whitespace).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject as _;
use sha2::Digest as _;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A key file that cannot be used.
#[derive(Debug, Error)]
pub enum KeyError {
    /// The file cannot be read.
    #[error("assertion key {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No `PRIVATE KEY` PEM block (PKCS#8).
    #[error("assertion key {}: no PKCS#8 \"PRIVATE KEY\" PEM block ({source})", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// A PKCS#8 key that is neither EC P-256 nor Ed25519.
    #[error("assertion key {}: not an EC P-256 (ES256) or Ed25519 (EdDSA) key ({source})", path.display())]
    Type {
        /// The file.
        path: PathBuf,
        /// ring's reason for refusing it as Ed25519.
        #[source]
        source: ring::error::KeyRejected,
    },
    /// A previous key that is the signing key.
    #[error("assertion key {}: a previous key is the signing key (kid {kid})", path.display())]
    PreviousIsCurrent {
        /// The previous key's file.
        path: PathBuf,
        /// The common kid.
        kid: String,
    },
}

enum Pair {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// A key that signs assertions, with its public JWK.
pub struct SigningKey {
    pair: Pair,
    jwk: serde_json::Value,
    kid: String,
    rng: ring::rand::SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg())
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads a PKCS#8 PEM key file.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        // The file's text is wiped when dropped (the PEM holds the private key).
        let pem =
            zeroize::Zeroizing::new(std::fs::read(path).map_err(|source| KeyError::Read {
                path: path.to_owned(),
                source,
            })?);
        Self::from_pem(&pem, path)
    }

    /// Parses a PKCS#8 PEM key (`path` names it in errors).
    pub fn from_pem(pem: &[u8], path: &Path) -> Result<Self, KeyError> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem).map_err(|source| KeyError::Pem {
            path: path.to_owned(),
            source,
        })?;
        Self::from_pkcs8(der.secret_pkcs8_der(), path)
    }

    /// Parses a PKCS#8 DER key.
    pub fn from_pkcs8(der: &[u8], path: &Path) -> Result<Self, KeyError> {
        let rng = ring::rand::SystemRandom::new();
        let pair = match EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng) {
            Ok(p) => Pair::Es256(p),
            // OpenSSL writes Ed25519 keys as PKCS#8 v1 (no public key): "maybe unchecked".
            Err(_) => Pair::EdDsa(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(
                |source| KeyError::Type {
                    path: path.to_owned(),
                    source,
                },
            )?),
        };
        let (thumb_input, mut jwk) = match &pair {
            Pair::Es256(p) => {
                // Uncompressed point: 0x04 || X (32) || Y (32) (SEC 1 §2.3.3).
                let point = p.public_key().as_ref();
                let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
                (
                    format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#),
                    serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
                )
            }
            Pair::EdDsa(p) => {
                let x = B64.encode(p.public_key().as_ref());
                (
                    format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
                    serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
                )
            }
        };
        let kid = B64.encode(sha2::Sha256::digest(thumb_input.as_bytes()));
        let alg = match pair {
            Pair::Es256(_) => "ES256",
            Pair::EdDsa(_) => "EdDSA",
        };
        if let Some(obj) = jwk.as_object_mut() {
            obj.insert("kid".into(), kid.clone().into());
            obj.insert("alg".into(), alg.into());
            obj.insert("use".into(), "sig".into());
        }
        Ok(Self {
            pair,
            jwk,
            kid,
            rng,
        })
    }

    /// `ES256` or `EdDSA` (the JWS `alg`, RFC 7518 §3.1, RFC 8037 §3.1).
    pub fn alg(&self) -> &'static str {
        match self.pair {
            Pair::Es256(_) => "ES256",
            Pair::EdDsa(_) => "EdDSA",
        }
    }

    /// The RFC 7638 thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK (with `kid`, `alg`, `use`).
    pub fn jwk(&self) -> &serde_json::Value {
        &self.jwk
    }

    /// Signs `input` (ES256: R || S, 64 bytes, RFC 7518 §3.4; EdDSA: 64 bytes).
    pub fn sign(&self, input: &[u8]) -> Option<Vec<u8>> {
        match &self.pair {
            Pair::Es256(p) => p.sign(&self.rng, input).ok().map(|s| s.as_ref().to_vec()),
            Pair::EdDsa(p) => Some(p.sign(input).as_ref().to_vec()),
        }
    }
}

/// The signing key and the previous keys' public JWKs.
#[derive(Debug)]
pub struct KeySet {
    /// The key that signs.
    pub current: SigningKey,
    /// Published, never used to sign.
    pub previous: Vec<serde_json::Value>,
}

impl KeySet {
    /// Reads the key files of `[identity_assertion]`.
    pub fn from_table(table: &epa_config::IdentityAssertionTable) -> Result<Self, KeyError> {
        let current = SigningKey::from_file(&table.signing_key_file)?;
        let mut previous = Vec::with_capacity(table.previous_key_files.len());
        for path in &table.previous_key_files {
            let key = SigningKey::from_file(path)?;
            if key.kid() == current.kid() {
                return Err(KeyError::PreviousIsCurrent {
                    path: path.clone(),
                    kid: key.kid,
                });
            }
            previous.push(key.jwk);
        }
        Ok(Self { current, previous })
    }

    /// The JWK Set (RFC 7517 §5): the current key first.
    pub fn jwks(&self) -> serde_json::Value {
        let mut keys = vec![self.current.jwk.clone()];
        keys.extend(self.previous.iter().cloned());
        serde_json::json!({ "keys": keys })
    }
}

/// What `epa lint` learns from one key file.
pub fn key_file_fact(path: &Path) -> epa_config::lint::KeyFileFact {
    use epa_config::lint::KeyFileFact;
    match SigningKey::from_file(path) {
        Ok(k) => KeyFileFact::Key { kid: k.kid },
        Err(KeyError::Read { source, .. }) => KeyFileFact::Unreadable(source.to_string()),
        Err(e) => KeyFileFact::WrongType(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// RFC 8037 Appendix A.1's private key as PKCS#8 v1 (RFC 8410 §10.3 layout).
    const RFC8037_PKCS8: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";

    #[test]
    fn ed25519_jwk_and_thumbprint_match_rfc_8037() {
        let k = SigningKey::from_pem(RFC8037_PKCS8.as_bytes(), Path::new("k")).unwrap();
        assert_eq!(k.alg(), "EdDSA");
        // RFC 8037 A.2 (public key) and A.3 (thumbprint).
        assert_eq!(k.jwk()["x"], "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        assert_eq!(k.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        assert_eq!(k.jwk()["kty"], "OKP");
        assert_eq!(k.jwk()["use"], "sig");
    }

    #[test]
    fn p256_keys_and_refusals() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let k = SigningKey::from_pem(kp.serialize_pem().as_bytes(), Path::new("k")).unwrap();
        assert_eq!(k.alg(), "ES256");
        let jwk = k.jwk();
        assert_eq!(
            (jwk["kty"].as_str(), jwk["crv"].as_str()),
            (Some("EC"), Some("P-256"))
        );
        assert_eq!(B64.decode(jwk["x"].as_str().unwrap()).unwrap().len(), 32);
        assert_eq!(k.sign(b"x").unwrap().len(), 64);
        assert_eq!(k.kid().len(), 43);
        // P-384 and RSA are not accepted; neither is a certificate.
        let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        assert!(matches!(
            SigningKey::from_pem(p384.serialize_pem().as_bytes(), Path::new("k")),
            Err(KeyError::Type { .. })
        ));
        assert!(matches!(
            SigningKey::from_pem(
                b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
                Path::new("k")
            ),
            Err(KeyError::Pem { .. })
        ));
        assert!(matches!(
            SigningKey::from_file(Path::new("/nonexistent/k.pem")),
            Err(KeyError::Read { .. })
        ));
    }
}
