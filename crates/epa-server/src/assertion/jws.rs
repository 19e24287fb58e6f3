//! The JWS compact serialisation (RFC 7515 §7.1): `BASE64URL(header) "." BASE64URL(payload)
//! "." BASE64URL(signature)`, base64url without padding (RFC 7515 §2), the signing input the
//! first two parts with their dot (§5.1).

use super::keys::SigningKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

/// The protected header: `alg`, `kid`, `typ` (RFC 7515 §4.1; `typ` "JWT", RFC 7519 §5.1).
fn header(key: &SigningKey) -> String {
    // alg and kid are base64url and fixed names: no escaping needed, but serde does it anyway.
    serde_json::json!({"alg": key.alg(), "kid": key.kid(), "typ": "JWT"}).to_string()
}

/// Signs `payload` (a JSON text) with `key`; `None` only if the signer fails (ring's ECDSA
/// nonce source).
pub fn compact(key: &SigningKey, payload: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(64 + payload.len() * 4 / 3 + 90);
    B64.encode_string(header(key).as_bytes(), &mut out);
    out.push('.');
    B64.encode_string(payload, &mut out);
    let signature = key.sign(out.as_bytes())?;
    out.push('.');
    B64.encode_string(signature, &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ring::signature::{ED25519, UnparsedPublicKey};
    use std::path::Path;

    const RFC8037_PKCS8: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";

    #[test]
    fn compact_form_verifies_and_has_no_padding() {
        let k = SigningKey::from_pem(RFC8037_PKCS8.as_bytes(), Path::new("k")).unwrap();
        let token = compact(&k, br#"{"sub":"EPA\\alice"}"#).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert!(!token.contains('=') && !token.contains('+') && !token.contains('/'));
        let header: serde_json::Value =
            serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], k.kid());
        assert_eq!(B64.decode(parts[1]).unwrap(), br#"{"sub":"EPA\\alice"}"#);
        let public = B64.decode(k.jwk()["x"].as_str().unwrap()).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        let sig = B64.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&ED25519, &public)
            .verify(input.as_bytes(), &sig)
            .unwrap();
        // A changed payload does not verify.
        let tampered = format!("{}.{}", parts[0], B64.encode(br#"{"sub":"EPA\\admin"}"#));
        assert!(
            UnparsedPublicKey::new(&ED25519, &public)
                .verify(tampered.as_bytes(), &sig)
                .is_err()
        );
    }
}
