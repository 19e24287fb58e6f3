//! TLS channel bindings: the RFC 5056 application data for `tls-server-end-point` (RFC 5929 §4),
//! `tls-unique` (RFC 5929 §3) and `tls-exporter` (RFC 9266).
//!
//! The application data is `binding_type ":" payload` (RFC 5929 §3.1, §4.1; RFC 9266 §2). This is
//! what goes into the `application_data` of the GSS channel-bindings struct ([`crate::gss`]).

mod fast;

use crate::der::{self, Reader, Tlv, tag};
pub use crate::der::{DerError, MAX_DER_LEN};
use crate::pem;
pub use crate::pem::PemError;
use crate::signature;
pub use crate::signature::{HashAlgorithm, HashBasis, HashChoice, HashRule, SignatureError};
use subtle::ConstantTimeEq as _;
use thiserror::Error;

/// The RFC 9266 exporter label; the exporter is called with an empty context and length 32.
pub const TLS_EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";
/// The RFC 9266 exporter output length.
pub const TLS_EXPORTER_LEN: usize = 32;

/// A channel binding type registered with IANA (RFC 5056 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindingType {
    /// `tls-server-end-point`: the hash of the server certificate (RFC 5929 §4).
    TlsServerEndPoint,
    /// `tls-unique`: the first Finished message of the handshake (RFC 5929 §3); TLS ≤ 1.2 only.
    TlsUnique,
    /// `tls-exporter`: the RFC 9266 exporter value; TLS 1.3 (and 1.2 with extended master secret).
    TlsExporter,
}

impl BindingType {
    /// The registered name, as it prefixes the application data (without the colon).
    pub fn name(self) -> &'static str {
        match self {
            Self::TlsServerEndPoint => "tls-server-end-point",
            Self::TlsUnique => "tls-unique",
            Self::TlsExporter => "tls-exporter",
        }
    }
}

impl std::fmt::Display for BindingType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A channel binding: its type and its payload (the hash, Finished bytes or exporter value).
///
/// Equality is constant-time over the payload ([`ChannelBinding::ct_eq`]); there is no derived
/// `PartialEq` so that a variable-time comparison cannot be written by accident.
#[derive(Clone)]
pub struct ChannelBinding {
    binding_type: BindingType,
    payload: Payload,
}

/// The longest payload kept inline: every hash (SHA-512, SHA3-512), the exporter value and a
/// `tls-unique` Finished value (12 or 36 bytes) fit.
const INLINE: usize = signature::MAX_DIGEST_LEN;

/// A binding's payload: inline up to [`INLINE`] bytes, so computing a binding never allocates.
#[derive(Clone)]
enum Payload {
    /// `bytes[..len]`; `len <= INLINE`.
    Inline { len: u8, bytes: [u8; INLINE] },
    /// Longer payloads (only [`ChannelBinding::tls_unique`] can be handed one).
    Heap(Box<[u8]>),
}

impl Payload {
    fn from_slice(value: &[u8]) -> Self {
        match u8::try_from(value.len()) {
            Ok(len) if value.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..value.len()].copy_from_slice(value);
                Self::Inline { len, bytes }
            }
            _ => Self::Heap(value.into()),
        }
    }

    #[inline]
    fn as_slice(&self) -> &[u8] {
        match self {
            // `len <= INLINE` by construction.
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Heap(bytes) => bytes,
        }
    }
}

impl std::fmt::Debug for ChannelBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Channel bindings are not secrets (both peers compute them from public data), so the
        // debug form shows them; that is what makes a mismatch diagnosable.
        write!(
            f,
            "ChannelBinding({}:{})",
            self.binding_type,
            hex(self.payload())
        )
    }
}

impl ChannelBinding {
    /// A `tls-unique` binding from the first Finished message's `verify_data` (RFC 5929 §3.1).
    /// Undefined for TLS 1.3 (RFC 9266 §3): use [`ChannelBinding::tls_exporter`] there.
    pub fn tls_unique(finished: &[u8]) -> Self {
        Self {
            binding_type: BindingType::TlsUnique,
            payload: Payload::from_slice(finished),
        }
    }

    /// A `tls-exporter` binding from the 32-byte exporter value that the TLS stack computed with
    /// label [`TLS_EXPORTER_LABEL`] and an empty context (RFC 9266 §2).
    pub fn tls_exporter(exporter: &[u8; TLS_EXPORTER_LEN]) -> Self {
        Self {
            binding_type: BindingType::TlsExporter,
            payload: Payload::from_slice(exporter),
        }
    }

    /// A `tls-server-end-point` binding from an already computed certificate hash.
    pub fn tls_server_end_point_from_hash(hash: &[u8]) -> Self {
        Self {
            binding_type: BindingType::TlsServerEndPoint,
            payload: Payload::from_slice(hash),
        }
    }

    /// The binding type.
    pub fn binding_type(&self) -> BindingType {
        self.binding_type
    }

    /// The payload after the `type:` prefix.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.payload.as_slice()
    }

    /// The RFC 5056 application data: `"<type>:" || payload`.
    pub fn application_data(&self) -> Vec<u8> {
        let name = self.binding_type.name().as_bytes();
        let mut out = Vec::with_capacity(name.len() + 1 + self.payload().len());
        out.extend_from_slice(name);
        out.push(b':');
        out.extend_from_slice(self.payload());
        out
    }

    /// Constant-time equality of type and payload.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.binding_type == other.binding_type && bool::from(self.payload().ct_eq(other.payload()))
    }
}

/// A computed `tls-server-end-point` binding with the hash that was used and why.
#[derive(Debug, Clone)]
pub struct ServerEndPoint {
    /// The hash function and its basis (RFC 5929 or our rule for the undefined cases).
    pub hash: HashChoice,
    /// The binding (its payload is the certificate hash).
    pub binding: ChannelBinding,
}

impl ServerEndPoint {
    /// The hash function used.
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.hash.algorithm
    }

    /// Whether RFC 5929 defines this value or it is our choice for an undefined case.
    pub fn basis(&self) -> HashBasis {
        self.hash.basis
    }
}

/// A certificate from which no channel binding can be computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The DER is malformed.
    #[error("malformed certificate DER: {0}")]
    Der(#[from] DerError),
    /// The PEM armour is malformed.
    #[error("malformed certificate PEM: {0}")]
    Pem(#[from] PemError),
    /// The signature algorithm gives no hash.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The outer `signatureAlgorithm` differs from the TBSCertificate's `signature`
    /// (RFC 5280 §4.1.1.2: they MUST be the same): which one the hash follows would be a guess.
    #[error(
        "certificate signatureAlgorithm {outer} differs from its tbsCertificate signature {tbs} (RFC 5280 §4.1.1.2)"
    )]
    AlgorithmMismatch {
        /// The outer algorithm: dotted OID, and its parameters in hex if any.
        outer: String,
        /// The TBSCertificate's algorithm, in the same form.
        tbs: String,
    },
}

/// The outer `signatureAlgorithm` of a certificate, borrowed from its DER.
#[derive(Debug, Clone, Copy)]
pub struct SignatureAlgorithmRef<'a> {
    /// The OID's content bytes.
    pub oid: &'a [u8],
    /// The parameters as a full DER TLV, or empty when absent.
    pub params: &'a [u8],
}

impl SignatureAlgorithmRef<'_> {
    /// The OID in dotted form.
    pub fn oid_string(&self) -> String {
        signature::describe_oid(self.oid)
    }

    /// The OID in dotted form, followed by the parameters in hex when there are any.
    fn describe(&self) -> String {
        if self.params.is_empty() {
            self.oid_string()
        } else {
            format!("{} with parameters {}", self.oid_string(), hex(self.params))
        }
    }
}

/// Reads the outer `signatureAlgorithm` of a DER certificate, strictly, and checks that the
/// TBSCertificate's `signature` field is the same AlgorithmIdentifier (RFC 5280 §4.1.1.2).
///
/// ```text
/// Certificate ::= SEQUENCE {                        -- RFC 5280 §4.1
///      tbsCertificate       TBSCertificate,         -- read up to its `signature` field
///      signatureAlgorithm   AlgorithmIdentifier,    -- SEQUENCE { OID, params ANY OPTIONAL }
///      signatureValue       BIT STRING  }
/// TBSCertificate ::= SEQUENCE {
///      version         [0]  EXPLICIT Version DEFAULT v1,   -- skipped
///      serialNumber         CertificateSerialNumber,       -- skipped
///      signature            AlgorithmIdentifier,           -- must equal signatureAlgorithm
///      ... }                                               -- not read
/// ```
/// Nothing else is decoded: the binding hashes the bytes and needs only the algorithm. Empty
/// input, a non-SEQUENCE outer tag, BER-only lengths, lengths past the input, lengths over
/// 2^24-1, and bytes after the certificate are each a distinct [`DerError`]; two different
/// algorithms are [`CertificateError::AlgorithmMismatch`]. DER has one encoding per value, so
/// "the same AlgorithmIdentifier" is byte equality (NULL parameters and absent ones differ, as
/// in OpenSSL's `X509_verify`).
pub fn signature_algorithm(der: &[u8]) -> Result<SignatureAlgorithmRef<'_>, CertificateError> {
    match fast::algorithm(der) {
        Some((alg, _)) => Ok(alg),
        None => read_algorithm(der).map(|(alg, _)| alg),
    }
}

/// [`signature_algorithm`], and what [`signature::classify`] made of its OID (`None`: unknown).
/// The strict reader, which names every error; [`fast::algorithm`] spares the common case it.
#[inline(never)]
fn read_algorithm(
    der: &[u8],
) -> Result<(SignatureAlgorithmRef<'_>, Option<signature::Known>), CertificateError> {
    if der.is_empty() {
        return Err(DerError::Empty.into());
    }
    let mut input = Reader::new(der);
    let mut cert = input.enter(tag::SEQUENCE, "Certificate")?;
    input.finish("Certificate")?;
    let tbs = cert.take(tag::SEQUENCE, "tbsCertificate")?;
    let outer = cert.take(tag::SEQUENCE, "signatureAlgorithm")?;
    let value = cert.take(tag::BIT_STRING, "signatureValue")?;
    cert.finish("Certificate")?;
    der::bit_string(&value, "signatureValue")?;
    let (alg, known) = algorithm_identifier(&outer, "signatureAlgorithm")?;

    let mut fields = tbs.contents();
    fields.optional(tag::CONTEXT_0, "tbsCertificate version")?;
    fields.take(tag::INTEGER, "tbsCertificate serialNumber")?;
    let inner = fields.take(tag::SEQUENCE, "tbsCertificate signature")?;
    if !same_bytes(inner.raw, outer.raw) {
        // Only now is the inner one decoded, to name it.
        let (tbs, _) = algorithm_identifier(&inner, "tbsCertificate signature")?;
        return Err(CertificateError::AlgorithmMismatch {
            outer: alg.describe(),
            tbs: tbs.describe(),
        });
    }
    Ok((alg, known))
}

/// `a == b`, without a call to `memcmp` for the usual 9- to 16-byte AlgorithmIdentifiers.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    /// The 8 bytes at `at` (the caller checked `at + 8 <= s.len()`).
    fn word(s: &[u8], at: usize) -> u64 {
        let mut w = [0; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_ne_bytes(w)
    }
    let len = a.len();
    if len != b.len() {
        return false;
    }
    if (8..=16).contains(&len) {
        // Two overlapping words cover every byte.
        return word(a, 0) == word(b, 0) && word(a, len - 8) == word(b, len - 8);
    }
    a == b
}

/// `AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY OPTIONAL }`
/// (RFC 5280 §4.1.1.2), borrowed.
#[inline(always)]
fn algorithm_identifier<'a>(
    tlv: &Tlv<'a>,
    what: &'static str,
) -> Result<(SignatureAlgorithmRef<'a>, Option<signature::Known>), DerError> {
    let mut alg = tlv.contents();
    let oid = alg.take(tag::OID, what)?;
    // An OID the hash rule names is well formed by construction; only others are decoded, so the
    // common case costs one match on the bytes rather than an OID decode.
    let known = signature::classify(oid.value);
    let oid = if known.is_some() {
        oid.value
    } else {
        der::oid(&oid, what)?
    };
    let params = if alg.is_empty() {
        &[][..]
    } else {
        let params = alg.read(what)?;
        alg.finish(what)?;
        params.raw
    };
    Ok((SignatureAlgorithmRef { oid, params }, known))
}

/// `tls-server-end-point` (RFC 5929 §4) for a DER certificate, with the default
/// [`HashRule::Interoperable`].
///
/// The hash covers the certificate "as it appears, octet for octet, in the server's Certificate
/// message" (RFC 5929 §4.1), i.e. exactly `der`.
pub fn tls_server_end_point(der: &[u8]) -> Result<ServerEndPoint, CertificateError> {
    tls_server_end_point_with(der, HashRule::default())
}

/// `tls-server-end-point` for a DER certificate under an explicit [`HashRule`].
pub fn tls_server_end_point_with(
    der: &[u8],
    rule: HashRule,
) -> Result<ServerEndPoint, CertificateError> {
    let (alg, known) = match fast::algorithm(der) {
        Some(found) => found,
        None => match read_algorithm(der)? {
            (alg, Some(known)) => (alg, known),
            (alg, None) => {
                return Err(SignatureError::UnknownAlgorithm {
                    oid: alg.oid_string(),
                }
                .into());
            }
        },
    };
    let hash = signature::choose_known(known, alg.params, rule)?;
    // Hashed straight from the input into the inline payload: no allocation.
    let mut bytes = [0; INLINE];
    let len = hash.algorithm.digest_into(der, &mut bytes);
    Ok(ServerEndPoint {
        hash,
        binding: ChannelBinding {
            binding_type: BindingType::TlsServerEndPoint,
            payload: Payload::Inline {
                // A digest is at most INLINE (64) bytes.
                len: len as u8,
                bytes,
            },
        },
    })
}

/// Decodes a certificate given as DER or PEM (detected: DER starts with a SEQUENCE tag, PEM has
/// a `-----BEGIN CERTIFICATE-----` line) into DER bytes, checking the DER strictly.
pub fn certificate_der(input: &[u8]) -> Result<Vec<u8>, CertificateError> {
    let der = if pem::looks_like_pem(input) {
        pem::decode_certificate(input)?
    } else {
        input.to_vec()
    };
    signature_algorithm(&der)?;
    Ok(der)
}

/// `tls-server-end-point` for a certificate given as DER or PEM (auto-detected).
pub fn tls_server_end_point_auto(
    input: &[u8],
    rule: HashRule,
) -> Result<(Vec<u8>, ServerEndPoint), CertificateError> {
    let der = certificate_der(input)?;
    let ep = tls_server_end_point_with(&der, rule)?;
    Ok((der, ep))
}

/// Every `CERTIFICATE` block of a PEM bundle (a CA file, a chain) as DER, in order (RFC 7468
/// §5.1; text between blocks is ignored, as OpenSSL does); at least one must be present. The DER
/// itself is not checked here: each use reads what it needs, e.g.
/// [`crate::client_cert::certificate_subject`] or [`tls_server_end_point`].
pub fn certificates_from_pem(input: &[u8]) -> Result<Vec<Vec<u8>>, PemError> {
    pem::decode_certificates(input)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A payload longer than the inline buffer (a `tls-unique` value can be anything) and
    /// the debug form, which shows type and bytes.
    #[test]
    fn long_payloads_and_debug() {
        let long: Vec<u8> = (0..=200).collect();
        let b = ChannelBinding::tls_unique(&long);
        assert_eq!(b.payload(), long.as_slice());
        assert_eq!(
            b.application_data(),
            [b"tls-unique:".as_slice(), &long].concat()
        );
        let exact = vec![7u8; INLINE];
        assert_eq!(
            ChannelBinding::tls_unique(&exact).payload(),
            exact.as_slice()
        );
        let short = ChannelBinding::tls_unique(&[0xab, 0x01]);
        assert_eq!(format!("{short:?}"), "ChannelBinding(tls-unique:ab01)");
    }

    /// Two bindings are equal only with the same type and the same bytes.
    #[test]
    fn ct_eq_needs_type_and_payload() {
        let hash = [0x5a; 32];
        let a = ChannelBinding::tls_server_end_point_from_hash(&hash);
        assert!(a.ct_eq(&ChannelBinding::tls_server_end_point_from_hash(&hash)));
        assert!(
            !a.ct_eq(&ChannelBinding::tls_unique(&hash)),
            "same bytes, other type"
        );
        assert!(
            !a.ct_eq(&ChannelBinding::tls_exporter(&hash)),
            "same bytes, other type"
        );
        let mut other = hash;
        other[31] ^= 1;
        assert!(!a.ct_eq(&ChannelBinding::tls_server_end_point_from_hash(&other)));
        assert!(!a.ct_eq(&ChannelBinding::tls_server_end_point_from_hash(&hash[..31])));
    }

    /// A syntactically valid certificate skeleton with the given signature AlgorithmIdentifier
    /// in both places.
    fn skeleton(alg: &[u8]) -> Vec<u8> {
        skeleton_with(alg, alg)
    }

    /// A certificate skeleton: TBSCertificate { version 3, serial 1, `tbs_alg` }, `outer_alg`,
    /// an empty signature. Short-form lengths only.
    pub(super) fn skeleton_with(tbs_alg: &[u8], outer_alg: &[u8]) -> Vec<u8> {
        let mut tbs = vec![0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x01, 0x01];
        tbs.extend_from_slice(tbs_alg);
        let mut body = vec![0x30, tbs.len() as u8];
        body.extend(tbs);
        body.extend_from_slice(outer_alg);
        body.extend_from_slice(&[0x03, 0x01, 0x00]);
        let mut out = vec![0x30, body.len() as u8];
        out.extend(body);
        out
    }

    /// `same_bytes` is `==` at every length, inside and outside its two-word fast path.
    #[test]
    fn same_bytes_is_equality() {
        for len in [0usize, 1, 7, 8, 12, 16, 17, 40] {
            let a: Vec<u8> = (0..len as u8).collect();
            assert!(same_bytes(&a, &a.clone()), "len {len}");
            for i in 0..len {
                let mut b = a.clone();
                b[i] ^= 0x80;
                assert!(!same_bytes(&a, &b), "len {len}, byte {i}");
            }
            assert!(!same_bytes(&a, &[a.as_slice(), &[0]].concat()), "len {len}");
        }
    }

    /// DER passes through checked; PEM is decoded; a bundle gives every block in order.
    #[test]
    fn certificate_der_and_pem_bundles() {
        use base64::Engine as _;
        let one = skeleton(SHA256_RSA);
        let two = skeleton(&[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]);
        let pem = |der: &[u8]| {
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                base64::engine::general_purpose::STANDARD.encode(der)
            )
        };
        assert_eq!(certificate_der(&one).unwrap(), one);
        assert_eq!(certificate_der(pem(&one).as_bytes()).unwrap(), one);
        assert!(certificate_der(&one[..one.len() - 1]).is_err());
        let bundle = format!("junk\n{}between\n{}", pem(&one), pem(&two));
        assert_eq!(
            certificates_from_pem(bundle.as_bytes()).unwrap(),
            vec![one, two]
        );
        assert!(certificates_from_pem(b"no blocks").is_err());
    }

    const SHA256_RSA: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
    ];

    #[test]
    fn reads_the_outer_algorithm_and_its_params() {
        let cert = skeleton(SHA256_RSA);
        let alg = signature_algorithm(&cert).unwrap();
        assert_eq!(alg.oid_string(), "1.2.840.113549.1.1.11");
        assert_eq!(alg.params, &[0x05, 0x00]);
        let ep = tls_server_end_point(&cert).unwrap();
        assert_eq!(ep.hash_algorithm(), HashAlgorithm::Sha256);
        assert_eq!(
            ep.binding.payload(),
            HashAlgorithm::Sha256.digest(&cert).as_slice()
        );
    }

    #[test]
    fn structure_errors() {
        // Missing signatureValue.
        let mut cert = skeleton(SHA256_RSA);
        cert.truncate(cert.len() - 3);
        cert[1] -= 3;
        assert!(matches!(
            signature_algorithm(&cert),
            Err(CertificateError::Der(DerError::Truncated {
                what: "signatureValue",
                ..
            }))
        ));
        // An extra element inside the Certificate SEQUENCE.
        let mut cert = skeleton(SHA256_RSA);
        cert.extend([0x05, 0x00]);
        cert[1] += 2;
        assert!(matches!(
            signature_algorithm(&cert),
            Err(CertificateError::Der(DerError::TrailingData {
                what: "Certificate",
                count: 2
            }))
        ));
        // Two parameter TLVs.
        let mut alg = SHA256_RSA.to_vec();
        alg.extend([0x05, 0x00]);
        alg[1] += 2;
        assert!(matches!(
            signature_algorithm(&skeleton(&alg)),
            Err(CertificateError::Der(DerError::TrailingData {
                what: "signatureAlgorithm",
                ..
            }))
        ));
        // Empty OID.
        assert!(matches!(
            signature_algorithm(&skeleton(&[0x30, 0x02, 0x06, 0x00])),
            Err(CertificateError::Der(DerError::InvalidValue { .. }))
        ));
        // A signatureValue whose unused-bits count is over 7.
        let mut cert = skeleton(SHA256_RSA);
        let last = cert.len() - 1;
        cert[last] = 8;
        assert!(matches!(
            signature_algorithm(&cert),
            Err(CertificateError::Der(DerError::InvalidValue {
                what: "signatureValue",
                ..
            }))
        ));
        // A TBSCertificate that ends before its signature field.
        let mut cert = skeleton(SHA256_RSA);
        cert[3] -= SHA256_RSA.len() as u8;
        cert.drain(12..12 + SHA256_RSA.len());
        cert[1] -= SHA256_RSA.len() as u8;
        assert!(matches!(
            signature_algorithm(&cert),
            Err(CertificateError::Der(DerError::Truncated {
                what: "tbsCertificate signature",
                ..
            }))
        ));
    }

    const SHA384_RSA: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00,
    ];

    #[test]
    fn the_outer_algorithm_must_equal_the_tbs_one() {
        // RFC 5280 §4.1.1.2. Before this check the outer one decided the hash (SHA-384 here).
        let cert = skeleton_with(SHA256_RSA, SHA384_RSA);
        let err = tls_server_end_point(&cert).unwrap_err();
        assert_eq!(
            err,
            CertificateError::AlgorithmMismatch {
                outer: "1.2.840.113549.1.1.12 with parameters 0500".into(),
                tbs: "1.2.840.113549.1.1.11 with parameters 0500".into(),
            }
        );
        assert!(err.to_string().contains("RFC 5280"));
        // Same OID, NULL parameters in one place and none in the other: not the same value.
        let absent = [
            0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
        ];
        for cert in [
            skeleton_with(&absent, SHA256_RSA),
            skeleton_with(SHA256_RSA, &absent),
        ] {
            assert!(matches!(
                tls_server_end_point(&cert),
                Err(CertificateError::AlgorithmMismatch { .. })
            ));
        }
        // Without the [0] version (a v1 certificate) the serial comes first: still compared.
        let mut tbs = vec![0x02, 0x01, 0x01];
        tbs.extend_from_slice(SHA256_RSA);
        let mut body = vec![0x30, tbs.len() as u8];
        body.extend(tbs);
        body.extend_from_slice(SHA384_RSA);
        body.extend_from_slice(&[0x03, 0x01, 0x00]);
        let mut v1 = vec![0x30, body.len() as u8];
        v1.extend(body);
        assert!(matches!(
            tls_server_end_point(&v1),
            Err(CertificateError::AlgorithmMismatch { .. })
        ));
        assert!(tls_server_end_point(&skeleton(&absent)).is_ok());
    }

    #[test]
    fn application_data_and_constant_time_equality() {
        let a = ChannelBinding::tls_exporter(&[7; 32]);
        assert_eq!(&a.application_data()[..13], b"tls-exporter:");
        assert!(a.ct_eq(&ChannelBinding::tls_exporter(&[7; 32])));
        assert!(!a.ct_eq(&ChannelBinding::tls_exporter(&[8; 32])));
        // Same payload, other type: not equal.
        assert!(!ChannelBinding::tls_unique(&[7; 32]).ct_eq(&a));
        assert_eq!(
            ChannelBinding::tls_unique(&[1, 2]).application_data(),
            b"tls-unique:\x01\x02"
        );
        // Payloads of any length read back whole.
        for len in [0, 12, 64, 65, 100] {
            let value: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let b = ChannelBinding::tls_unique(&value);
            assert_eq!(b.payload(), value.as_slice());
            assert!(b.ct_eq(&ChannelBinding::tls_unique(&value)));
        }
        assert!(!ChannelBinding::tls_unique(&[1; 65]).ct_eq(&ChannelBinding::tls_unique(&[1; 64])));
    }
}
