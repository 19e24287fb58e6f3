//! The certificate walk for a certificate that is well formed beyond doubt: the same checks as
//! [`super::read_algorithm`] with no error to build, so the common case costs a few header
//! reads. Anything it does not vouch for (any error, an unknown algorithm, a header outside
//! [`der::split_canonical`]) is `None`, and the strict reader then decides and names the error.
//!
//! Invariant (tested in `walk_agrees_with_the_strict_reader` on every vector and on every
//! one-byte change, truncation and extension of them): `Some(x)` only where
//! [`super::read_algorithm`] returns `Ok(x)`.

use super::SignatureAlgorithmRef;
use crate::der::{self, tag};
use crate::signature::{self, Known};

/// The outer `signatureAlgorithm` and its classification when `der` is a certificate the
/// strict reader accepts with a known algorithm; `None` when the strict reader must decide.
#[inline(always)]
pub(super) fn algorithm(der: &[u8]) -> Option<(SignatureAlgorithmRef<'_>, Known)> {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }, alone.
    let cert = sole(der, tag::SEQUENCE)?;
    let (_, tbs, rest) = expect(cert, tag::SEQUENCE)?;
    let (outer, alg, rest) = expect(rest, tag::SEQUENCE)?;
    let value = sole(rest, tag::BIT_STRING)?;
    if !bit_string(value) {
        return None;
    }
    // AlgorithmIdentifier ::= SEQUENCE { OID, parameters ANY OPTIONAL }: a known OID (well
    // formed by construction) and at most one parameter TLV.
    let (_, oid, params) = expect(alg, tag::OID)?;
    let known = signature::classify(oid)?;
    if !params.is_empty() {
        let (_, _, after) = der::split_canonical(params)?;
        if !after.is_empty() {
            return None;
        }
    }
    // TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, ... }: the
    // signature AlgorithmIdentifier must be the same bytes as the outer one (RFC 5280 §4.1.1.2).
    let fields = match tbs.first() {
        Some(&tag::CONTEXT_0) => expect(tbs, tag::CONTEXT_0)?.2,
        _ => tbs,
    };
    let (_, _, fields) = expect(fields, tag::INTEGER)?;
    let (inner, _, _) = expect(fields, tag::SEQUENCE)?;
    if !super::same_bytes(inner, outer) {
        return None;
    }
    Some((SignatureAlgorithmRef { oid, params }, known))
}

/// A DER BIT STRING's contents: an unused-bits count of 0..=7, and 0 when there are no bits
/// (X.690 §8.6.2, §11.2; what [`der::bit_string`] accepts).
#[inline(always)]
fn bit_string(value: &[u8]) -> bool {
    matches!(value, [0] | [0..=7, _, ..])
}

/// The TLV with tag `tag` at the start of `input`: `(raw, value, rest)`.
#[inline(always)]
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8], &[u8])> {
    if input.first() != Some(&tag) {
        return None;
    }
    der::split_canonical(input)
}

/// The value of the TLV with tag `tag` that is the whole of `input`.
#[inline(always)]
fn sole(input: &[u8], tag: u8) -> Option<&[u8]> {
    match expect(input, tag)? {
        (_, value, []) => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbt::{CertificateError, read_algorithm};
    use base64::Engine as _;

    /// Every certificate DER in the vector file, the valid and the malformed.
    fn vectors() -> Vec<Vec<u8>> {
        let text = include_str!("../../../../tests/data/channel-binding-vectors.json");
        let mut out = Vec::new();
        // Not a JSON parser: every `"der_b64": "..."` value.
        for part in text.split("\"der_b64\"").skip(1) {
            let value = part.split('"').nth(1).unwrap_or_default();
            if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(value) {
                out.push(der);
            }
        }
        out
    }

    /// `Some` from the fast walk must be exactly the strict reader's `Ok` (with a known OID).
    fn check(der: &[u8]) -> bool {
        let strict = read_algorithm(der);
        match algorithm(der) {
            Some((alg, known)) => {
                let Ok((s, Some(k))) = strict else {
                    panic!(
                        "fast walk accepted what the strict reader refused: {strict:?} for {der:02x?}"
                    );
                };
                assert_eq!((alg.oid, alg.params, known), (s.oid, s.params, k));
                true
            }
            // Allowed anywhere: the strict reader decides (e.g. parameters with a tag outside
            // the fast headers'); the count of accepted certificates keeps this from being all.
            None => false,
        }
    }

    /// Certificate skeletons around AlgorithmIdentifiers the vectors lack: absent, NULL and
    /// other parameters, two parameter TLVs, a long-form length, an unknown OID, a mismatch.
    fn skeletons() -> Vec<Vec<u8>> {
        const OID: &[u8] = &[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
        ];
        let alg = |params: &[u8]| {
            let mut v = vec![0x30, (OID.len() + params.len()) as u8];
            v.extend_from_slice(OID);
            v.extend_from_slice(params);
            v
        };
        let mut long_form = vec![0x30, 0x81, 0x80];
        long_form.extend_from_slice(OID);
        long_form.extend_from_slice(&[0x04, 0x81, 0x80 - OID.len() as u8 - 3]);
        long_form.resize(0x83, 0);
        let algs = [
            alg(&[]),
            alg(&[0x05, 0x00]),
            alg(&[0x05, 0x00, 0x05, 0x00]),
            alg(&[0x05, 0x01, 0x00]),
            alg(&[0x30, 0x00]),
            alg(&[0x04, 0x01, 0xaa]),
            alg(&[0x05]),
            long_form,
            vec![0x30, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04],
        ];
        let mut out = Vec::new();
        for a in &algs {
            for b in &algs {
                out.push(crate::cbt::tests::skeleton_with(a, b));
            }
        }
        out
    }

    #[test]
    fn walk_agrees_with_the_strict_reader() {
        let vectors = vectors();
        assert!(vectors.len() >= 20, "{} vectors", vectors.len());
        let mut accepted = 0;
        for der in vectors.iter().chain(&skeletons()) {
            accepted += usize::from(check(der));
            // Every byte changed (a few values each), every truncation, a byte appended.
            for i in 0..der.len() {
                for v in [
                    0x00,
                    0x01,
                    0x7f,
                    0x80,
                    0x81,
                    0x82,
                    0x83,
                    0xff,
                    der[i] ^ 0x01,
                ] {
                    let mut m = der.clone();
                    m[i] = v;
                    check(&m);
                }
                check(&der[..i]);
            }
            let mut longer = der.clone();
            longer.push(0);
            assert!(!check(&longer));
        }
        // The fast walk is not vacuous: the valid vectors and skeletons of known algorithms take
        // it (and `check` panics on any disagreement).
        assert!(accepted >= 20, "{accepted} certificates took the fast walk");
    }

    #[test]
    fn bit_string_rule_is_ders() {
        for unused in 0..=255u8 {
            for bits in [&[][..], &[0x00], &[0xff, 0x00]] {
                let mut value = vec![unused];
                value.extend_from_slice(bits);
                let fast = bit_string(&value);
                let mut raw = vec![tag::BIT_STRING, value.len() as u8];
                raw.extend_from_slice(&value);
                let tlv = der::Reader::new(&raw).read("t").unwrap();
                assert_eq!(fast, der::bit_string(&tlv, "t").is_ok(), "{value:02x?}");
            }
        }
    }

    #[test]
    fn a_mismatch_is_left_to_the_strict_reader() {
        // The vectors' rsa-sha256 certificate with the outer algorithm's last OID octet changed
        // (sha256WithRSAEncryption → sha384WithRSAEncryption).
        let vectors = vectors();
        let der = vectors
            .iter()
            .find(|d| algorithm(d).is_some_and(|(a, _)| a.oid.last() == Some(&0x0b)))
            .unwrap();
        let at = der
            .windows(11)
            .rposition(|w| {
                w == [
                    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
                ]
            })
            .unwrap();
        let mut m = der.clone();
        m[at + 10] = 0x0c;
        assert!(algorithm(&m).is_none());
        assert!(matches!(
            read_algorithm(&m),
            Err(CertificateError::AlgorithmMismatch { .. })
        ));
    }
}
