//! Which hash `tls-server-end-point` uses for a certificate (RFC 5929 §4.1).
//!
//! RFC 5929 §4.1: "if the certificate's signatureAlgorithm uses a single hash function and that
//! hash function is either MD5 or SHA-1, then use SHA-256; if [it] uses a single hash function
//! and that hash function neither MD5 nor SHA-1, then use the hash function associated with the
//! certificate's signatureAlgorithm; if [it] uses no hash functions or uses multiple hash
//! functions, then this channel binding type's channel bindings are undefined at this time."
//!
//! The undefined cases and what the peers do (see `tests/data/VECTORS.md`):
//!
//! | signatureAlgorithm | RFC 5929 | requests-ntlm | pyspnego tests | .NET (Unix) | [`HashRule::Interoperable`] | [`HashRule::Strict`] |
//! |---|---|---|---|---|---|---|
//! | Ed25519, Ed448 | undefined | SHA-256 | error | error | SHA-256 | error |
//! | RSASSA-PSS, hash ≠ MGF1 hash | undefined | params hash | params hash | error | params hash | error |
//! | RSASSA-PSS, hash = MGF1 hash | that hash (MD5/SHA-1 → SHA-256) | same | same | error | same | same |
//! | unknown OID | undefined | no binding | error | error | **error** | **error** |
//!
//! The default is [`HashRule::Interoperable`]: it takes the value that the one peer that computes
//! anything (requests-ntlm) computes, and reports [`HashBasis::NotDefinedByRfc5929`] so callers
//! can see it. This choice cannot cause a wrong accept: a client that hashes differently sends a
//! mismatching binding, which is refused. An unknown OID is always an error, never a guess.

use crate::der::{self, DerError, Reader, tag};
use const_oid::ObjectIdentifier;
use thiserror::Error;

/// A hash function a channel binding can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-224 (FIPS 180-4).
    Sha224,
    /// SHA-256 (FIPS 180-4).
    Sha256,
    /// SHA-384 (FIPS 180-4).
    Sha384,
    /// SHA-512 (FIPS 180-4).
    Sha512,
    /// SHA-512/224 (FIPS 180-4).
    Sha512_224,
    /// SHA-512/256 (FIPS 180-4).
    Sha512_256,
    /// SHA3-224 (FIPS 202).
    Sha3_224,
    /// SHA3-256 (FIPS 202).
    Sha3_256,
    /// SHA3-384 (FIPS 202).
    Sha3_384,
    /// SHA3-512 (FIPS 202).
    Sha3_512,
}

impl HashAlgorithm {
    /// The lower-case name used in output and in the vector file (`sha256`, `sha3-256`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha224 => "sha224",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
            Self::Sha512_224 => "sha512-224",
            Self::Sha512_256 => "sha512-256",
            Self::Sha3_224 => "sha3-224",
            Self::Sha3_256 => "sha3-256",
            Self::Sha3_384 => "sha3-384",
            Self::Sha3_512 => "sha3-512",
        }
    }

    /// The digest of `data` with this hash function.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        match self {
            Self::Sha224 => sha2::Sha224::digest(data).to_vec(),
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
            Self::Sha512_224 => sha2::Sha512_224::digest(data).to_vec(),
            Self::Sha512_256 => sha2::Sha512_256::digest(data).to_vec(),
            Self::Sha3_224 => sha3::Sha3_224::digest(data).to_vec(),
            Self::Sha3_256 => sha3::Sha3_256::digest(data).to_vec(),
            Self::Sha3_384 => sha3::Sha3_384::digest(data).to_vec(),
            Self::Sha3_512 => sha3::Sha3_512::digest(data).to_vec(),
        }
    }

    /// The digest of `data` written to the front of `out`; returns its length. No allocation.
    #[inline]
    pub(crate) fn digest_into(self, data: &[u8], out: &mut [u8; MAX_DIGEST_LEN]) -> usize {
        /// Every digest here is at most [`MAX_DIGEST_LEN`] bytes (checked at compile time).
        fn put<D: sha2::Digest>(data: &[u8], out: &mut [u8; MAX_DIGEST_LEN]) -> usize {
            use sha2::digest::{OutputSizeUser, typenum::Unsigned as _};
            const { assert!(<D as OutputSizeUser>::OutputSize::USIZE <= MAX_DIGEST_LEN) };
            let digest = D::digest(data);
            let len = digest.len();
            out[..len].copy_from_slice(&digest);
            len
        }
        match self {
            Self::Sha224 => put::<sha2::Sha224>(data, out),
            Self::Sha256 => put::<sha2::Sha256>(data, out),
            Self::Sha384 => put::<sha2::Sha384>(data, out),
            Self::Sha512 => put::<sha2::Sha512>(data, out),
            Self::Sha512_224 => put::<sha2::Sha512_224>(data, out),
            Self::Sha512_256 => put::<sha2::Sha512_256>(data, out),
            Self::Sha3_224 => put::<sha3::Sha3_224>(data, out),
            Self::Sha3_256 => put::<sha3::Sha3_256>(data, out),
            Self::Sha3_384 => put::<sha3::Sha3_384>(data, out),
            Self::Sha3_512 => put::<sha3::Sha3_512>(data, out),
        }
    }
}

/// The longest digest a binding can carry (SHA-512, SHA3-512).
pub(crate) const MAX_DIGEST_LEN: usize = 64;

impl std::fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How strictly to apply RFC 5929 §4.1 where it leaves the binding undefined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashRule {
    /// Ed25519/Ed448 use SHA-256; RSASSA-PSS with differing hash and MGF1 hash uses the
    /// parameters' hash (what requests-ntlm does). Reported as [`HashBasis::NotDefinedByRfc5929`].
    #[default]
    Interoperable,
    /// Undefined cases are a [`SignatureError::UndefinedByRfc5929`] error (what .NET does).
    Strict,
}

/// Why a hash was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashBasis {
    /// RFC 5929 §4.1 defines the hash: the signature's own hash.
    Rfc5929,
    /// RFC 5929 §4.1 defines the hash: the signature's MD5 or SHA-1 replaced by SHA-256.
    Rfc5929Upgraded,
    /// RFC 5929 leaves the binding undefined; the value is [`HashRule::Interoperable`]'s choice.
    NotDefinedByRfc5929,
}

impl HashBasis {
    /// A stable name: `rfc5929`, `rfc5929-upgraded` or `not-defined-by-rfc5929`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rfc5929 => "rfc5929",
            Self::Rfc5929Upgraded => "rfc5929-upgraded",
            Self::NotDefinedByRfc5929 => "not-defined-by-rfc5929",
        }
    }
}

/// The hash chosen for one certificate and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashChoice {
    /// The hash function applied to the certificate.
    pub algorithm: HashAlgorithm,
    /// Why.
    pub basis: HashBasis,
}

/// A signature algorithm for which no hash can be chosen.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature algorithm OID is not one we know: never guessed.
    #[error("unknown signature algorithm {oid}: RFC 5929 defines no channel binding for it")]
    UnknownAlgorithm {
        /// Dotted form of the OID (or its hex bytes if it is not a valid OID).
        oid: String,
    },
    /// A hash OID inside RSASSA-PSS parameters that we do not know.
    #[error("unknown hash algorithm {oid} in RSASSA-PSS parameters")]
    UnknownHash {
        /// Dotted form of the OID.
        oid: String,
    },
    /// RFC 5929 leaves the binding undefined and [`HashRule::Strict`] is in force.
    #[error("RFC 5929 §4.1 defines no tls-server-end-point binding for {algorithm}: {why}")]
    UndefinedByRfc5929 {
        /// The signature algorithm.
        algorithm: &'static str,
        /// Why it is undefined.
        why: &'static str,
    },
    /// Malformed AlgorithmIdentifier or RSASSA-PSS parameters.
    #[error("malformed signature algorithm: {0}")]
    Der(#[from] DerError),
}

/// A hash that a signature algorithm names: either one we can compute, or MD5/SHA-1.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum NamedHash {
    Md5,
    Sha1,
    Other(HashAlgorithm),
}

impl NamedHash {
    /// RFC 5929 §4.1: MD5 and SHA-1 become SHA-256.
    fn choose(self) -> HashChoice {
        match self {
            Self::Md5 | Self::Sha1 => HashChoice {
                algorithm: HashAlgorithm::Sha256,
                basis: HashBasis::Rfc5929Upgraded,
            },
            Self::Other(algorithm) => HashChoice {
                algorithm,
                basis: HashBasis::Rfc5929,
            },
        }
    }
}

const fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

/// Signature algorithms that use exactly one hash (RFC 3279, 4055, 5758, 8692; NIST CSOR): the
/// table [`classify`] is checked against (`classify_agrees_with_the_tables`).
#[cfg(test)]
const SINGLE_HASH_SIGNATURES: &[(ObjectIdentifier, NamedHash)] = {
    use HashAlgorithm::*;
    use NamedHash::*;
    &[
        (oid("1.2.840.113549.1.1.4"), Md5),  // md5WithRSAEncryption
        (oid("1.2.840.113549.1.1.5"), Sha1), // sha1WithRSAEncryption
        (oid("1.3.14.3.2.29"), Sha1),        // sha1WithRSA (OIW)
        (oid("1.2.840.113549.1.1.14"), Other(Sha224)), // sha224WithRSAEncryption
        (oid("1.2.840.113549.1.1.11"), Other(Sha256)), // sha256WithRSAEncryption
        (oid("1.2.840.113549.1.1.12"), Other(Sha384)), // sha384WithRSAEncryption
        (oid("1.2.840.113549.1.1.13"), Other(Sha512)), // sha512WithRSAEncryption
        (oid("1.2.840.113549.1.1.15"), Other(Sha512_224)), // sha512-224WithRSAEncryption
        (oid("1.2.840.113549.1.1.16"), Other(Sha512_256)), // sha512-256WithRSAEncryption
        (oid("2.16.840.1.101.3.4.3.13"), Other(Sha3_224)), // id-rsassa-pkcs1-v1_5-with-sha3-224
        (oid("2.16.840.1.101.3.4.3.14"), Other(Sha3_256)),
        (oid("2.16.840.1.101.3.4.3.15"), Other(Sha3_384)),
        (oid("2.16.840.1.101.3.4.3.16"), Other(Sha3_512)),
        (oid("1.2.840.10045.4.1"), Sha1), // ecdsa-with-SHA1
        (oid("1.2.840.10045.4.3.1"), Other(Sha224)), // ecdsa-with-SHA224
        (oid("1.2.840.10045.4.3.2"), Other(Sha256)),
        (oid("1.2.840.10045.4.3.3"), Other(Sha384)),
        (oid("1.2.840.10045.4.3.4"), Other(Sha512)),
        (oid("2.16.840.1.101.3.4.3.9"), Other(Sha3_224)), // id-ecdsa-with-sha3-224
        (oid("2.16.840.1.101.3.4.3.10"), Other(Sha3_256)),
        (oid("2.16.840.1.101.3.4.3.11"), Other(Sha3_384)),
        (oid("2.16.840.1.101.3.4.3.12"), Other(Sha3_512)),
        (oid("1.2.840.10040.4.3"), Sha1), // dsa-with-sha1
        (oid("2.16.840.1.101.3.4.3.1"), Other(Sha224)), // dsa-with-sha224
        (oid("2.16.840.1.101.3.4.3.2"), Other(Sha256)),
        (oid("2.16.840.1.101.3.4.3.3"), Other(Sha384)),
        (oid("2.16.840.1.101.3.4.3.4"), Other(Sha512)),
        (oid("2.16.840.1.101.3.4.3.5"), Other(Sha3_224)), // id-dsa-with-sha3-224
        (oid("2.16.840.1.101.3.4.3.6"), Other(Sha3_256)),
        (oid("2.16.840.1.101.3.4.3.7"), Other(Sha3_384)),
        (oid("2.16.840.1.101.3.4.3.8"), Other(Sha3_512)),
    ]
};

/// Hash OIDs as they appear in RSASSA-PSS parameters (RFC 4055 §2.1, NIST CSOR).
const HASHES: &[(ObjectIdentifier, NamedHash)] = {
    use HashAlgorithm::*;
    use NamedHash::*;
    &[
        (oid("1.2.840.113549.2.5"), Md5),
        (oid("1.3.14.3.2.26"), Sha1),
        (oid("2.16.840.1.101.3.4.2.4"), Other(Sha224)),
        (oid("2.16.840.1.101.3.4.2.1"), Other(Sha256)),
        (oid("2.16.840.1.101.3.4.2.2"), Other(Sha384)),
        (oid("2.16.840.1.101.3.4.2.3"), Other(Sha512)),
        (oid("2.16.840.1.101.3.4.2.5"), Other(Sha512_224)),
        (oid("2.16.840.1.101.3.4.2.6"), Other(Sha512_256)),
        (oid("2.16.840.1.101.3.4.2.7"), Other(Sha3_224)),
        (oid("2.16.840.1.101.3.4.2.8"), Other(Sha3_256)),
        (oid("2.16.840.1.101.3.4.2.9"), Other(Sha3_384)),
        (oid("2.16.840.1.101.3.4.2.10"), Other(Sha3_512)),
    ]
};

#[cfg(test)]
const RSASSA_PSS: ObjectIdentifier = oid("1.2.840.113549.1.1.10");
const MGF1: ObjectIdentifier = oid("1.2.840.113549.1.1.8");
#[cfg(test)]
const ED25519: ObjectIdentifier = oid("1.3.101.112");
#[cfg(test)]
const ED448: ObjectIdentifier = oid("1.3.101.113");

fn lookup(table: &[(ObjectIdentifier, NamedHash)], oid_bytes: &[u8]) -> Option<NamedHash> {
    table
        .iter()
        // The last octet first: most of the table shares a 9-octet prefix (1.2.840.113549.1.1).
        .find(|(o, _)| o.as_bytes().last() == oid_bytes.last() && o.as_bytes() == oid_bytes)
        .map(|&(_, h)| h)
}

/// A signature algorithm [`choose_hash`] knows by its OID.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Known {
    /// One hash function (the table of RFC 3279, 4055, 5758, 8692 and NIST CSOR algorithms).
    Single(NamedHash),
    /// Ed25519 (RFC 8410): no hash function named.
    Ed25519,
    /// Ed448 (RFC 8410): no hash function named.
    Ed448,
    /// RSASSA-PSS (RFC 4055): the hashes are in the parameters.
    RsassaPss,
}

/// The algorithm whose OID content bytes are `oid`, if [`choose_hash`] knows it. A match on
/// the bytes (length and prefix first), not a table scan: this runs for every binding.
#[inline]
pub(crate) fn classify(oid: &[u8]) -> Option<Known> {
    use HashAlgorithm::*;
    use Known::*;
    use NamedHash::*;
    let single = |h| Some(Single(h));
    match *oid {
        // 1.2.840.113549.1.1.n (PKCS #1)
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, n] => match n {
            4 => single(Md5),
            5 => single(Sha1),
            10 => Some(RsassaPss),
            11 => single(Other(Sha256)),
            12 => single(Other(Sha384)),
            13 => single(Other(Sha512)),
            14 => single(Other(Sha224)),
            15 => single(Other(Sha512_224)),
            16 => single(Other(Sha512_256)),
            _ => None,
        },
        // 1.2.840.10045.4.3.n (ecdsa-with-SHA2)
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, n] => match n {
            1 => single(Other(Sha224)),
            2 => single(Other(Sha256)),
            3 => single(Other(Sha384)),
            4 => single(Other(Sha512)),
            _ => None,
        },
        // 2.16.840.1.101.3.4.3.n (NIST CSOR sigAlgs)
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, n] => match n {
            1 => single(Other(Sha224)),
            2 => single(Other(Sha256)),
            3 => single(Other(Sha384)),
            4 => single(Other(Sha512)),
            5 | 9 | 13 => single(Other(Sha3_224)),
            6 | 10 | 14 => single(Other(Sha3_256)),
            7 | 11 | 15 => single(Other(Sha3_384)),
            8 | 12 | 16 => single(Other(Sha3_512)),
            _ => None,
        },
        // 1.2.840.10045.4.1 (ecdsa-with-SHA1)
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01] => single(Sha1),
        // 1.2.840.10040.4.3 (dsa-with-sha1)
        [0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x03] => single(Sha1),
        // 1.3.14.3.2.29 (sha1WithRSA, OIW)
        [0x2b, 0x0e, 0x03, 0x02, 0x1d] => single(Sha1),
        // 1.3.101.112 / 1.3.101.113 (RFC 8410)
        [0x2b, 0x65, 0x70] => Some(Ed25519),
        [0x2b, 0x65, 0x71] => Some(Ed448),
        _ => None,
    }
}

/// Dotted form of OID content bytes, for error messages; hex if they are not a valid OID.
pub(crate) fn describe_oid(bytes: &[u8]) -> String {
    match ObjectIdentifier::from_bytes(bytes) {
        Ok(o) => o.to_string(),
        Err(_) => format!("(invalid OID bytes {})", hex_lower(bytes)),
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Chooses the hash for a certificate whose `signatureAlgorithm` has OID content bytes `oid`
/// and parameters `params` (the full DER TLV of the parameters, or empty when absent).
pub fn choose_hash(
    oid: &[u8],
    params: &[u8],
    rule: HashRule,
) -> Result<HashChoice, SignatureError> {
    match classify(oid) {
        Some(known) => choose_known(known, params, rule),
        None => Err(SignatureError::UnknownAlgorithm {
            oid: describe_oid(oid),
        }),
    }
}

/// [`choose_hash`] for an algorithm already classified.
#[inline]
pub(crate) fn choose_known(
    known: Known,
    params: &[u8],
    rule: HashRule,
) -> Result<HashChoice, SignatureError> {
    let undefined = |algorithm: &'static str, why: &'static str, fallback: HashChoice| match rule {
        HashRule::Strict => Err(SignatureError::UndefinedByRfc5929 { algorithm, why }),
        HashRule::Interoperable => Ok(HashChoice {
            basis: HashBasis::NotDefinedByRfc5929,
            ..fallback
        }),
    };
    let sha256 = HashChoice {
        algorithm: HashAlgorithm::Sha256,
        basis: HashBasis::NotDefinedByRfc5929,
    };
    match known {
        Known::Single(named) => Ok(named.choose()),
        Known::Ed25519 => undefined(
            "Ed25519",
            "the signature algorithm names no hash function",
            sha256,
        ),
        Known::Ed448 => undefined(
            "Ed448",
            "the signature algorithm names no hash function",
            sha256,
        ),
        Known::RsassaPss => {
            let pss = PssHashes::parse(params)?;
            if pss.hash == pss.mask_hash {
                return Ok(pss.hash.choose());
            }
            undefined(
                "RSASSA-PSS",
                "its message hash and MGF1 hash differ (two hash functions)",
                pss.hash.choose(),
            )
        }
    }
}

/// The two hashes of RSASSA-PSS-params (RFC 4055 §3.1); absent fields take their SHA-1 defaults.
struct PssHashes {
    hash: NamedHash,
    mask_hash: NamedHash,
}

impl PssHashes {
    /// ```text
    /// RSASSA-PSS-params ::= SEQUENCE {
    ///   hashAlgorithm      [0] HashAlgorithm    DEFAULT sha1,
    ///   maskGenAlgorithm   [1] MaskGenAlgorithm DEFAULT mgf1SHA1,
    ///   saltLength         [2] INTEGER          DEFAULT 20,
    ///   trailerField       [3] TrailerField     DEFAULT trailerFieldBC }
    /// ```
    fn parse(params: &[u8]) -> Result<Self, SignatureError> {
        let mut out = Self {
            hash: NamedHash::Sha1,
            mask_hash: NamedHash::Sha1,
        };
        // Parameters absent entirely: every default applies (RFC 4055 requires them, but a
        // certificate that omits them still names exactly SHA-1 twice).
        if params.is_empty() {
            return Ok(out);
        }
        let mut outer = Reader::new(params);
        let mut seq = outer.enter(tag::SEQUENCE, "RSASSA-PSS-params")?;
        outer.finish("RSASSA-PSS-params")?;
        if let Some(t) = seq.optional(tag::CONTEXT_0, "hashAlgorithm")? {
            out.hash = hash_of_algorithm_identifier(t.value, "hashAlgorithm")?;
        }
        if let Some(t) = seq.optional(tag::CONTEXT_1, "maskGenAlgorithm")? {
            let mut r = Reader::new(t.value);
            let mut alg = r.enter(tag::SEQUENCE, "maskGenAlgorithm")?;
            r.finish("maskGenAlgorithm")?;
            let mgf = alg.take(tag::OID, "maskGenAlgorithm OID")?;
            let mgf = der::oid(&mgf, "maskGenAlgorithm OID")?;
            if mgf != MGF1.as_bytes() {
                return Err(SignatureError::UnknownAlgorithm {
                    oid: describe_oid(mgf),
                });
            }
            let inner = alg.take(tag::SEQUENCE, "MGF1 hash")?;
            alg.finish("maskGenAlgorithm")?;
            out.mask_hash = hash_of_fields(inner.value, "MGF1 hash")?;
        }
        seq.optional(tag::CONTEXT_2, "saltLength")?;
        seq.optional(tag::CONTEXT_3, "trailerField")?;
        seq.finish("RSASSA-PSS-params")?;
        Ok(out)
    }
}

/// `[n] EXPLICIT AlgorithmIdentifier` contents → the hash it names.
fn hash_of_algorithm_identifier(
    explicit: &[u8],
    what: &'static str,
) -> Result<NamedHash, SignatureError> {
    let mut r = Reader::new(explicit);
    let alg = r.take(tag::SEQUENCE, what)?;
    r.finish(what)?;
    hash_of_fields(alg.value, what)
}

/// The fields of a hash AlgorithmIdentifier: OID, then optional NULL parameters.
fn hash_of_fields(fields: &[u8], what: &'static str) -> Result<NamedHash, SignatureError> {
    let mut r = Reader::new(fields);
    let o = r.take(tag::OID, what)?;
    let o = der::oid(&o, what)?;
    if let Some(null) = r.optional(tag::NULL, what)? {
        der::null(&null, what)?;
    }
    r.finish(what)?;
    lookup(HASHES, o).ok_or_else(|| SignatureError::UnknownHash {
        oid: describe_oid(o),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid_bytes(s: &str) -> Vec<u8> {
        oid(s).as_bytes().to_vec()
    }

    /// What the tables say about `oid`: the reference [`classify`] must agree with.
    fn from_tables(oid: &[u8]) -> Option<Known> {
        if let Some(h) = lookup(SINGLE_HASH_SIGNATURES, oid) {
            return Some(Known::Single(h));
        }
        [
            (ED25519, Known::Ed25519),
            (ED448, Known::Ed448),
            (RSASSA_PSS, Known::RsassaPss),
        ]
        .into_iter()
        .find(|(o, _)| o.as_bytes() == oid)
        .map(|(_, k)| k)
    }

    #[test]
    fn classify_agrees_with_the_tables() {
        let mut known = 0;
        let named = SINGLE_HASH_SIGNATURES
            .iter()
            .map(|(o, _)| *o)
            .chain([ED25519, ED448, RSASSA_PSS, MGF1])
            .chain(HASHES.iter().map(|(o, _)| *o));
        for o in named {
            let bytes = o.as_bytes();
            // The OID itself, every last octet, every truncation, one octet more.
            let mut cases = vec![bytes.to_vec()];
            for last in 0..=255u8 {
                let mut v = bytes.to_vec();
                *v.last_mut().unwrap() = last;
                cases.push(v.clone());
                v.push(last);
                cases.push(v);
            }
            for len in 0..bytes.len() {
                cases.push(bytes[..len].to_vec());
            }
            for case in cases {
                let expected = from_tables(&case);
                known += usize::from(expected.is_some());
                assert_eq!(classify(&case), expected, "{case:02x?}");
            }
        }
        assert!(known >= SINGLE_HASH_SIGNATURES.len() + 3);
    }

    #[test]
    fn md5_and_sha1_become_sha256() {
        for o in [
            "1.2.840.113549.1.1.4",
            "1.2.840.113549.1.1.5",
            "1.2.840.10045.4.1",
            "1.2.840.10040.4.3",
        ] {
            let c = choose_hash(&oid_bytes(o), &[], HashRule::Strict).unwrap();
            assert_eq!(c.algorithm, HashAlgorithm::Sha256, "{o}");
            assert_eq!(c.basis, HashBasis::Rfc5929Upgraded, "{o}");
        }
    }

    #[test]
    fn eddsa_is_explicit_about_being_undefined() {
        let interop = choose_hash(&oid_bytes("1.3.101.112"), &[], HashRule::Interoperable).unwrap();
        assert_eq!(interop.algorithm, HashAlgorithm::Sha256);
        assert_eq!(interop.basis, HashBasis::NotDefinedByRfc5929);
        assert!(matches!(
            choose_hash(&oid_bytes("1.3.101.113"), &[], HashRule::Strict),
            Err(SignatureError::UndefinedByRfc5929 {
                algorithm: "Ed448",
                ..
            })
        ));
    }

    #[test]
    fn unknown_oid_is_an_error_under_every_rule() {
        for rule in [HashRule::Strict, HashRule::Interoperable] {
            assert_eq!(
                choose_hash(&oid_bytes("1.2.156.10197.1.501"), &[], rule),
                Err(SignatureError::UnknownAlgorithm {
                    oid: "1.2.156.10197.1.501".into()
                })
            );
        }
    }

    fn pss(hash: Option<&str>, mgf_hash: Option<&str>) -> Vec<u8> {
        fn alg(o: &str) -> Vec<u8> {
            let ob = oid_bytes(o);
            let mut v = vec![0x06, ob.len() as u8];
            v.extend(ob);
            v.extend([0x05, 0x00]);
            wrap(0x30, v)
        }
        fn wrap(t: u8, v: Vec<u8>) -> Vec<u8> {
            let mut out = vec![t, v.len() as u8];
            out.extend(v);
            out
        }
        let mut body = vec![];
        if let Some(h) = hash {
            body.extend(wrap(0xa0, alg(h)));
        }
        if let Some(h) = mgf_hash {
            let ob = oid_bytes("1.2.840.113549.1.1.8");
            let mut mgf = vec![0x06, ob.len() as u8];
            mgf.extend(ob);
            mgf.extend(alg(h));
            body.extend(wrap(0xa1, wrap(0x30, mgf)));
        }
        body.extend(wrap(0xa2, vec![0x02, 0x01, 0x20]));
        wrap(0x30, body)
    }

    #[test]
    fn pss_takes_its_hash_from_the_parameters() {
        let pss_oid = oid_bytes("1.2.840.113549.1.1.10");
        let sha384 = "2.16.840.1.101.3.4.2.2";
        let c = choose_hash(&pss_oid, &pss(Some(sha384), Some(sha384)), HashRule::Strict).unwrap();
        assert_eq!(
            (c.algorithm, c.basis),
            (HashAlgorithm::Sha384, HashBasis::Rfc5929)
        );
        // Both defaulted: SHA-1 twice, hence SHA-256.
        let c = choose_hash(&pss_oid, &pss(None, None), HashRule::Strict).unwrap();
        assert_eq!(
            (c.algorithm, c.basis),
            (HashAlgorithm::Sha256, HashBasis::Rfc5929Upgraded)
        );
        let c = choose_hash(&pss_oid, &[], HashRule::Strict).unwrap();
        assert_eq!(c.algorithm, HashAlgorithm::Sha256);
        // Mixed hashes are undefined.
        let mixed = pss(Some(sha384), Some("2.16.840.1.101.3.4.2.1"));
        assert!(matches!(
            choose_hash(&pss_oid, &mixed, HashRule::Strict),
            Err(SignatureError::UndefinedByRfc5929 {
                algorithm: "RSASSA-PSS",
                ..
            })
        ));
        let c = choose_hash(&pss_oid, &mixed, HashRule::Interoperable).unwrap();
        assert_eq!(
            (c.algorithm, c.basis),
            (HashAlgorithm::Sha384, HashBasis::NotDefinedByRfc5929)
        );
        // Unknown hash inside the parameters.
        assert!(matches!(
            choose_hash(
                &pss_oid,
                &pss(Some("1.2.3.4"), None),
                HashRule::Interoperable
            ),
            Err(SignatureError::UnknownHash { .. })
        ));
        // Garbage parameters.
        assert!(matches!(
            choose_hash(&pss_oid, &[0x30, 0x05, 0xa0], HashRule::Interoperable),
            Err(SignatureError::Der(DerError::Truncated { .. }))
        ));
    }
}
